import type { Backend } from '../backend/contract.js';
import { ClosedError, IommufdError } from '../base/errors.js';
import { Ioas } from './ioas.js';
import { type Memory, type RangeOptions, memoryBytes, userRange } from '../memory/memory.js';
import { MOCK_ACCESS_RW_SLOW_PATH, MOCK_ACCESS_RW_WRITE, MOCK_FLAGS_ACCESS_WRITE } from '../uapi/constants.js';
import { expectInstance, setOwner, toByteCount, toOptions, toU64 } from '../base/validate.js';

export interface PinOptions {
  /** Pin for device writes (MOCK_FLAGS_ACCESS_WRITE). */
  write?: boolean;
  /** Have the mock check that the pinned pages are this memory at this offset. */
  verify?: { memory: Memory; offset?: number | bigint };
}

export interface RwOptions extends RangeOptions {
  /** Copy from memory into the IOAS (MOCK_ACCESS_RW_WRITE); default is a read. */
  write?: boolean;
  /** Use the slow path of iommufd_access_rw() (MOCK_ACCESS_RW_SLOW_PATH). */
  slowPath?: boolean;
}

/** The most bytes one IOMMU_TEST_OP_ACCESS_RW moves (iommufd_test_access_rw()). */
const ACCESS_RW_MAX = 16 * 1024 * 1024;

/** Pages pinned through an access (IOMMU_TEST_OP_ACCESS_PAGES). */
export class PinnedPages implements Disposable {
  readonly id: number;
  readonly iova: bigint;
  readonly length: number;
  readonly #unpin: (id: number) => void;
  #unpinned = false;

  /** @internal */
  constructor(id: number, iova: bigint, length: number, unpin: (id: number) => void) {
    this.id = id;
    this.iova = iova;
    this.length = length;
    this.#unpin = unpin;
  }

  /**
   * IOMMU_TEST_OP_DESTROY_ACCESS_PAGES. ENOENT if the kernel already dropped
   * the pin because userspace unmapped the IOVA (the access's unmap callback).
   */
  unpin(): void {
    if (this.#unpinned) throw new ClosedError(`pinned pages ${this.id} have been unpinned`);
    this.#unpin(this.id);
    this.#unpinned = true;
  }

  /**
   * unpin(), unless the pin is gone already: unpinned, its access closed
   * (which unpins everything), or dropped by the kernel when userspace
   * unmapped the IOVA (ENOENT: the mock's pin ids are never reused, so that
   * ENOENT can only mean this pin). Any other failure is thrown.
   */
  [Symbol.dispose](): void {
    if (this.#unpinned) return;
    try {
      this.unpin();
    } catch (e) {
      if (!(e instanceof ClosedError || (e instanceof IommufdError && e.code === 'ENOENT'))) throw e;
      this.#unpinned = true;
    }
  }
}

/**
 * An in-kernel access to an IOAS, as an external driver (e.g. a mediated
 * device) would hold one: created by IOMMU_TEST_OP_CREATE_ACCESS, it owns an fd.
 */
export class Access implements Disposable {
  readonly fd: number;
  readonly #backend: Backend;
  readonly #onClose: (access: Access) => void;
  #closed = false;

  /** @internal Created by Iommufd.createAccess(). */
  constructor(backend: Backend, fd: number, onClose: (access: Access) => void) {
    setOwner(this, backend);
    this.#backend = backend;
    this.fd = fd;
    this.#onClose = onClose;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Pin [iova, iova + length) (needs an access created with needsPinPages). */
  pinPages(iova: bigint | number, length: number | bigint, options: PinOptions = {}): PinnedPages {
    options = toOptions(options);
    this.#checkOpen();
    const start = toU64(iova, 'iova');
    const size = toByteCount(length, 'length');
    const verify = options.verify ? userRange(options.verify.memory, { offset: options.verify.offset, length: size }) : null;
    const flags = options.write ? MOCK_FLAGS_ACCESS_WRITE : 0;
    const id = this.#backend.accessPages(this.fd, flags, start, size, verify);
    return new PinnedPages(id, start, size, (pagesId) => {
      this.#checkOpen();
      this.#backend.destroyAccessPages(this.fd, pagesId);
    });
  }

  /**
   * IOMMU_TEST_OP_ACCESS_RW: copy between the IOAS at `iova` and `memory`
   * (a window of it, by offset/length). Reads unless `write` is set.
   */
  rw(iova: bigint | number, memory: Memory, options: RwOptions = {}): void {
    options = toOptions(options);
    this.#checkOpen();
    const start = toU64(iova, 'iova');
    const range = userRange(memory, options);
    let flags = options.write ? MOCK_ACCESS_RW_WRITE : 0;
    if (options.slowPath) flags |= MOCK_ACCESS_RW_SLOW_PATH;
    this.#backend.accessRw(this.fd, flags, start, range);
  }

  /** Read `length` bytes at `iova` into a new Uint8Array. */
  read(iova: bigint | number, length: number, options: { slowPath?: boolean } = {}): Uint8Array {
    options = toOptions(options);
    this.#checkOpen();
    const size = toByteCount(length, 'length');
    // Checked before allocating the result: iommufd_test_access_rw() refuses
    // more than 16 MiB (ENOMEM), so a larger buffer could never be filled.
    if (size > ACCESS_RW_MAX)
      throw new RangeError(`length ${size} is above the mock's ${ACCESS_RW_MAX}-byte limit for one access_rw`);
    const out = new Uint8Array(size);
    this.rw(iova, out, { slowPath: options.slowPath });
    return out;
  }

  /** Write `data` at `iova`. */
  write(iova: bigint | number, data: ArrayBufferView, options: { slowPath?: boolean } = {}): void {
    options = toOptions(options);
    this.rw(iova, memoryBytes(data), { write: true, slowPath: options.slowPath });
  }

  /** @internal For Batch: the backend to run on. */
  backendForBatch(): Backend {
    this.#checkOpen();
    return this.#backend;
  }

  /** IOMMU_TEST_OP_ACCESS_REPLACE_IOAS: move the access to another IOAS. */
  replaceIoas(ioas: Ioas): void {
    this.#checkOpen();
    this.#backend.accessReplaceIoas(this.fd, expectInstance(ioas, [Ioas], 'ioas', 'an Ioas', this.#backend).id);
  }

  /** Close the access fd: the kernel unpins everything and detaches it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose(this);
    this.#backend.closeAccess(this.fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError(`access fd ${this.fd} is closed`);
  }
}
