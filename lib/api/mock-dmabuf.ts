// The mock's dma-buf (7.3's IOMMU_TEST_OP_DMABUF_GET / DMABUF_REVOKE): a buffer
// the selftest driver exports and ioas.mapFile() imports, as IOMMU_IOAS_MAP_FILE
// imports a device's dma-buf (VFIO's), and which a test can revoke the way the
// exporter revokes on a device reset.
import type { Backend } from '../backend/contract.js';
import { ClosedError } from '../base/errors.js';
import { setOwner } from '../base/validate.js';

/**
 * O_CLOEXEC of Linux's fcntl.h on the architectures the addon builds for
 * (x86-64, arm64: asm-generic): the descriptor must not leak into child processes.
 */
export const DMABUF_OPEN_FLAGS = 0o2000000;

const PAGE_SIZE = 4096;

// A MockDmabuf that is never closed gives its descriptor back when collected;
// the kernel keeps the buffer for any mapping of it.
const descriptors = new FinalizationRegistry<{ backend: Backend; fd: number }>(({ backend, fd }) => {
  try {
    backend.closeDmabuf(fd);
  } catch {
    // already gone: nothing to release
  }
});

/**
 * A mock dma-buf of `length` bytes (whole pages, zeroed), from
 * `Iommufd.mockDmabuf()`. Map it with `ioas.mapFile()`. The kernel holds the
 * buffer while an IOAS maps it, so close() is safe at any time: the mappings
 * stay, and only this descriptor goes.
 */
export class MockDmabuf implements Disposable {
  /** Bytes: the requested length rounded up to whole pages, as the mock allocates. */
  readonly length: number;
  readonly #backend: Backend;
  /** The iommufd that revoke() goes through: ClosedError once it is closed. */
  readonly #checkIommufdOpen: () => void;
  #fd: number | null;

  /** @internal Created by Iommufd.mockDmabuf(). */
  constructor(backend: Backend, fd: number, length: number, checkIommufdOpen: () => void) {
    setOwner(this, backend);
    this.#backend = backend;
    this.#fd = fd;
    this.length = Math.ceil(length / PAGE_SIZE) * PAGE_SIZE;
    this.#checkIommufdOpen = checkIommufdOpen;
    descriptors.register(this, { backend, fd }, this);
  }

  /** Whether `value` is a MockDmabuf Iommufd.mockDmabuf() made (not an object that only inherits its prototype). */
  static isMockDmabuf(value: unknown): value is MockDmabuf {
    return typeof value === 'object' && value !== null && #fd in value;
  }

  /** The dma-buf's descriptor, owned by this object until close(). */
  get fd(): number {
    if (this.#fd === null) throw new ClosedError('the MockDmabuf is closed');
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd === null;
  }

  /**
   * IOMMU_TEST_OP_DMABUF_REVOKE: set whether the exporter refuses new mappings
   * (ENODEV). Either way every current mapping of the buffer is revoked for
   * good: each domain drops it, and a domain attached later maps nothing of it.
   * Revoking with `false` lets a new mapFile() succeed again.
   */
  revoke(revoked = true): void {
    if (typeof revoked !== 'boolean') throw new TypeError(`revoked must be a boolean, got ${typeof revoked}`);
    const fd = this.fd;
    this.#checkIommufdOpen();
    this.#backend.dmabufRevoke(fd, revoked);
  }

  /** Close the descriptor; the kernel keeps the buffer while an IOAS maps it. */
  close(): void {
    const fd = this.fd;
    this.#fd = null;
    descriptors.unregister(this);
    this.#backend.closeDmabuf(fd);
  }

  [Symbol.dispose](): void {
    if (this.#fd !== null) this.close();
  }
}
