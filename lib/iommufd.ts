import { existsSync } from 'node:fs';
import { Access } from './access.js';
import type { Backend } from './backend.js';
import { IommufdError } from './errors.js';
import { Ioas } from './ioas.js';
import { type Memory, type RangeOptions, userRange } from './memory.js';
import { MockDevice } from './mock-device.js';
import { NativeBackend } from './native/backend.js';
import { MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES } from './uapi.js';
import { toU32 } from './validate.js';

export interface OpenOptions {
  /** Character device to open; default /dev/iommu. */
  path?: string;
  /** Which backend; only 'native' exists so far. */
  backend?: 'native';
}

export interface AccessOptions {
  /** The access pins pages (MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES); otherwise rw only. */
  needsPinPages?: boolean;
}

/**
 * An open iommufd. Owns every IOAS and access created through it: close()
 * (or `using`) releases them all, as closing the fd does in the kernel.
 */
export class Iommufd implements Disposable {
  readonly backend: Backend;
  readonly #ioases = new Set<Ioas>();
  readonly #accesses = new Set<Access>();
  #closed = false;

  constructor(backend: Backend) {
    this.backend = backend;
  }

  /** Open /dev/iommu (or `options.path`) with the native backend. */
  static open(options: OpenOptions = {}): Iommufd {
    const path = options.path ?? '/dev/iommu';
    if (options.backend !== undefined && options.backend !== 'native')
      throw new TypeError(`unknown backend ${String(options.backend)}; only 'native' is available`);
    try {
      return new Iommufd(NativeBackend.open(path));
    } catch (e) {
      if (e instanceof IommufdError && e.op === 'open') throw explainOpenFailure(e, path);
      throw e;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  allocIoas(): Ioas {
    this.#checkOpen();
    const ioas = new Ioas(this.backend, this.backend.ioasAlloc(), (gone) => this.#ioases.delete(gone));
    this.#ioases.add(ioas);
    return ioas;
  }

  /** IOMMU_TEST_OP_MOCK_DOMAIN: a mock device attached to a new mock domain on `ioas`. */
  mockDomain(ioas: Ioas): MockDevice {
    this.#checkOpen();
    return new MockDevice(this.backend, this.backend.mockDomain(ioas.id));
  }

  /** IOMMU_TEST_OP_CREATE_ACCESS: an in-kernel access to `ioas`. */
  createAccess(ioas: Ioas, options: AccessOptions = {}): Access {
    this.#checkOpen();
    const flags = options.needsPinPages ? MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES : 0;
    const access = new Access(this.backend, this.backend.createAccess(ioas.id, flags), (closed) =>
      this.#accesses.delete(closed),
    );
    this.#accesses.add(access);
    return access;
  }

  /**
   * IOMMU_TEST_OP_MD_CHECK_REFS: every page of the window is pinned exactly
   * `refs` times (counted in GUP_PIN_COUNTING_BIAS units). Throws EIO otherwise.
   */
  checkRefs(memory: Memory, refs: number, range: RangeOptions = {}): void {
    this.#checkOpen();
    this.backend.mdCheckRefs(userRange(memory, range), toU32(refs, 'refs'));
  }

  /**
   * IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT: cap, in bytes, the scratch memory the
   * kernel uses for page batches (default 65536), to exercise its small-batch
   * paths. Global to the kernel and in force until the next call; < 12 is EINVAL.
   */
  setTempMemoryLimit(bytes: number): void {
    this.#checkOpen();
    this.backend.setTempMemoryLimit(toU32(bytes, 'bytes'));
  }

  /** IOMMU_DESTROY of any object id. Prefer the objects' own destroy(). */
  destroy(id: number): void {
    this.#checkOpen();
    this.backend.destroy(toU32(id, 'id'));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const access of [...this.#accesses]) access.close();
    for (const ioas of [...this.#ioases]) ioas.gone();
    this.backend.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error('iommufd is closed');
  }
}

// One message that says what is wrong and what to do about it.
function explainOpenFailure(e: IommufdError, path: string): IommufdError {
  let detail: string;
  if (e.code === 'ENOENT')
    detail = existsSync('/sys/class/misc/iommu')
      ? `${path} is missing although the kernel has iommufd: is devtmpfs mounted?`
      : `${path} does not exist: the kernel lacks CONFIG_IOMMUFD (or the module is not loaded: modprobe iommufd)`;
  else if (e.code === 'EACCES' || e.code === 'EPERM')
    detail = `no permission to open ${path}: run as root or grant access to the device node`;
  else detail = `cannot open ${path}`;
  return new IommufdError(e.errno, 'open', `(${detail})`);
}
