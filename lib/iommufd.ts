import { existsSync } from 'node:fs';
import { Access } from './access.js';
import type { Backend, Capabilities } from './backend.js';
import { Batch, type BatchResult, checkFailNth } from './batch.js';
import { FaultQueue } from './fault-queue.js';
import { Hwpt } from './hwpt.js';
import { ClosedError, IommufdError, iommufdOpenError } from './errors.js';
import { Ioas } from './ioas.js';
import type { MappingRefs } from './mapping-refs.js';
import { type Memory, type RangeOptions, userRange } from './memory.js';
import { MockDevice } from './mock-device.js';
import { NativeBackend } from './native/backend.js';
import { addon, addonAvailable } from './native/binding.js';
import { SimBackend, type SimKernel } from './sim/backend.js';
import {
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_DATA_SELFTEST,
  IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_HW_INFO_FLAG_INPUT_TYPE,
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  IOMMU_OPTION_RLIMIT_MODE,
  IOMMU_VFIO_IOAS_CLEAR,
  IOMMU_VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET,
  MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
  MOCK_FLAGS_DEVICE_HUGE_IOVA,
  MOCK_FLAGS_DEVICE_NO_DIRTY,
} from './uapi.js';
import { type RawArg, checkRawIoctl, rawIoctlName } from './raw-ioctl.js';
import { toU32, toU64 } from './validate.js';
import { VfioCompat } from './vfio-compat.js';

export interface OpenOptions {
  /** Character device to open; default /dev/iommu. */
  path?: string;
  /**
   * Which backend: 'native' opens the device through the addon; 'sim' is the
   * pure-TypeScript simulator of the 6.12 kernel and its test mock (any OS);
   * 'auto' (the default) is native where the device exists and the addon
   * loads, else the simulator. A device that exists but cannot be opened
   * (permissions) is an error, never a silent switch to the simulator.
   * `fd.backend.name` tells which one you got.
   */
  backend?: 'native' | 'sim' | 'auto';
  /**
   * Which kernel the simulator answers like: '6.12' (the LTS) or '7.3'; default
   * '6.12'. Only for the simulator (the native backend is whatever kernel runs).
   */
  kernel?: SimKernel;
  /**
   * Adopt this already open iommufd instead of opening `path` (native only),
   * e.g. one a parent process passed down (`spawn` stdio); it is checked to
   * answer like an iommufd, and is closed by close().
   */
  fd?: number;
}

export interface MockDomainOptions {
  /** MOCK_FLAGS_DEVICE_NO_DIRTY: the device refuses dirty-tracking domains. */
  noDirty?: boolean;
  /** MOCK_FLAGS_DEVICE_HUGE_IOVA: the domain uses huge IO pages. */
  hugeIova?: boolean;
  /** Raw MOCK_FLAGS_DEVICE_* bits, or'ed with the above (to probe flags newer kernels define). */
  flags?: number;
}

export interface HwptOptions {
  /** IOMMU_HWPT_ALLOC_NEST_PARENT. */
  nestParent?: boolean;
  /** IOMMU_HWPT_ALLOC_DIRTY_TRACKING. */
  dirtyTracking?: boolean;
  /** A nested selftest HWPT (IOMMU_HWPT_DATA_SELFTEST) with this initial IOTLB value. */
  selftestIotlb?: number;
  /** Driver data of another type, raw. */
  data?: { type: number; bytes: Uint8Array };
  /**
   * Unsafe, for bad-input tests: driver data of this type and length at a NULL
   * data_uptr (the kernel's copy faults: EFAULT). Never reads or writes JS memory.
   */
  unsafeNullData?: { type: number; length: number };
  /** Deliver I/O page faults to this queue (IOMMU_HWPT_FAULT_ID_VALID); a raw id for bad-input tests. */
  fault?: FaultQueue | number;
  /** Extra raw flags, for bad-input tests. */
  flags?: number;
}

export interface HwInfoResult {
  dataType: number;
  /** The length of the driver data the kernel has. */
  dataLen: number;
  /** The driver data, as much as fitted in the buffer. */
  data: Uint8Array;
  maxPasidLog2: number;
  capabilities: bigint;
}

export interface HwInfoOptions {
  /**
   * in_data_type of kernels newer than 6.12: ask for this IOMMU_HW_INFO_TYPE_*
   * (sets IOMMU_HW_INFO_FLAG_INPUT_TYPE unless it is IOMMU_HW_INFO_TYPE_DEFAULT).
   */
  dataType?: number;
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
  readonly #faultQueues = new Set<FaultQueue>();
  // Objects that keep the kernel context alive after close() (bound VFIO
  // devices), and the mapping references kept for them meanwhile.
  readonly #contextHolders = new Set<object>();
  #heldRefs: MappingRefs[] = [];
  #vfio: VfioCompat | undefined;
  #closed = false;

  constructor(backend: Backend) {
    this.backend = backend;
  }

  /** Open /dev/iommu (or `options.path`) with the native backend, or the simulator. */
  static open(options: OpenOptions = {}): Iommufd {
    const path = options.path ?? '/dev/iommu';
    const kind = options.backend ?? 'auto';
    if (kind !== 'native' && kind !== 'sim' && kind !== 'auto')
      throw new TypeError(`unknown backend ${String(kind)}; use 'native', 'sim' or 'auto'`);
    if (options.fd !== undefined) {
      if (kind === 'sim') throw new TypeError('the simulator cannot adopt a file descriptor: its state lives in this process');
      if (options.path !== undefined) throw new TypeError('pass either path or fd, not both');
      if (!addonAvailable()) throw new Error('adopting an iommufd needs the native addon');
      return new Iommufd(NativeBackend.adopt(toU32(options.fd, 'fd')));
    }
    if (options.kernel !== undefined && kind !== 'sim')
      throw new TypeError(`kernel: '${String(options.kernel)}' picks the simulator's kernel model: use it with backend: 'sim'`);
    if (kind === 'sim') return new Iommufd(SimBackend.open(options.kernel));
    if (kind === 'auto') {
      if (!addonAvailable()) {
        // A real iommufd is here and only our addon is missing: simulating it instead
        // would pass off the simulator's answers as this kernel's.
        if (existsSync(path)) throw noAddonForDevice(path);
        return new Iommufd(SimBackend.open());
      }
      try {
        return new Iommufd(NativeBackend.open(path));
      } catch (e) {
        // Only a missing device means "no iommufd here"; anything else is a real problem.
        if (e instanceof IommufdError && e.op === 'open' && ['ENOENT', 'ENODEV', 'ENXIO'].includes(e.code))
          return new Iommufd(SimBackend.open());
        if (e instanceof IommufdError && e.op === 'open') throw explainOpenFailure(e, path);
        throw e;
      }
    }
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

  /**
   * The open /dev/iommu descriptor (native backend), e.g. to hand to a child
   * process, which adopts it with `Iommufd.open({ fd })`. The simulator has none.
   */
  get fileDescriptor(): number {
    this.#checkOpen();
    if (!(this.backend instanceof NativeBackend)) throw new TypeError('the simulator backend has no file descriptor');
    return this.backend.fd;
  }

  /**
   * One raw ioctl on this iommufd with caller-built argument bytes, for tests
   * that must send what the typed API never would (short or over-long structs,
   * bad argsz, unknown numbers, NULL). `request` is _IO(';', nr) (see
   * ioctlRequest()); `arg` is the argument bytes (the kernel's answer is
   * written back into them), an integer for the VFIO ioctls that take one, or
   * null for a NULL pointer. Returns the ioctl's non-negative value; failures
   * throw IommufdError. Raw bytes may not carry user pointers (those fields
   * must be 0) and every length the kernel will use must fit in `arg`:
   * lib/raw-ioctl.ts has the exact rule, which the addon checks again.
   */
  rawIoctl(request: number, arg: RawArg): number {
    this.#checkOpen();
    const checked = checkRawIoctl(request, arg);
    return this.backend.rawIoctl(request, checked, rawIoctlName(request));
  }

  allocIoas(): Ioas {
    this.#checkOpen();
    const ioas = new Ioas(this.backend, this.backend.ioasAlloc(), (gone) => this.#ioases.delete(gone));
    this.#ioases.add(ioas);
    return ioas;
  }

  /**
   * Own the IOAS with this id, allocated by a raw op (e.g. `raw('ioasAlloc')` in
   * a batch), so typed calls and batch ops can use it and close() releases it.
   * The id is not checked: calls on an id that names no IOAS fail in the kernel.
   */
  adoptIoas(id: number): Ioas {
    this.#checkOpen();
    const ioas = new Ioas(this.backend, toU32(id, 'id'), (gone) => this.#ioases.delete(gone));
    this.#ioases.add(ioas);
    return ioas;
  }

  /**
   * IOMMU_TEST_OP_MOCK_DOMAIN: a mock device attached to `target` (an IOAS gets
   * a new automatic mock domain). With options, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS.
   */
  mockDomain(target: Ioas | Hwpt | number, options?: MockDomainOptions): MockDevice {
    this.#checkOpen();
    const flags =
      options === undefined
        ? undefined
        : toU32(options.flags ?? 0, 'flags') |
          (options.noDirty ? MOCK_FLAGS_DEVICE_NO_DIRTY : 0) |
          (options.hugeIova ? MOCK_FLAGS_DEVICE_HUGE_IOVA : 0);
    const ptId = typeof target === 'number' ? toU32(target, 'target') : target.id;
    return new MockDevice(this.backend, this.backend.mockDomain(ptId, flags), this);
  }

  /** IOMMU_HWPT_ALLOC for `device` on `parent` (an IOAS, or a nest-parent HWPT, or a raw id). */
  allocHwpt(device: MockDevice | number, parent: Ioas | Hwpt | number, options: HwptOptions = {}): Hwpt {
    this.#checkOpen();
    let flags = toU32(options.flags ?? 0, 'flags');
    if (options.nestParent) flags |= IOMMU_HWPT_ALLOC_NEST_PARENT;
    if (options.dirtyTracking) flags |= IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
    if (options.fault) flags |= IOMMU_HWPT_FAULT_ID_VALID;
    let dataType = IOMMU_HWPT_DATA_NONE;
    let data: Uint8Array | null = null;
    let nullDataLen = 0;
    if (options.selftestIotlb !== undefined) {
      dataType = IOMMU_HWPT_DATA_SELFTEST;
      data = new Uint8Array(4);
      new DataView(data.buffer).setUint32(0, toU32(options.selftestIotlb, 'selftestIotlb'), true);
    } else if (options.data) {
      dataType = toU32(options.data.type, 'data.type');
      data = options.data.bytes;
    } else if (options.unsafeNullData) {
      dataType = toU32(options.unsafeNullData.type, 'unsafeNullData.type');
      nullDataLen = toU32(options.unsafeNullData.length, 'unsafeNullData.length');
    }
    const devId = typeof device === 'number' ? toU32(device, 'device') : device.idevId;
    const ptId = typeof parent === 'number' ? toU32(parent, 'parent') : parent.id;
    const faultId = typeof options.fault === 'number' ? toU32(options.fault, 'fault') : (options.fault?.id ?? 0);
    const request = { flags, devId, ptId, dataType, data, faultId, ...(nullDataLen ? { nullDataLen } : {}) };
    const id = this.backend.hwptAlloc(request);
    return new Hwpt(this.backend, id, this);
  }

  /**
   * IOMMU_GET_HW_INFO for a device; `data` is how many bytes of buffer to offer
   * for the driver data, or the buffer itself (the kernel writes it, zeroing
   * what the driver data does not fill).
   */
  hwInfo(device: MockDevice | number, data: number | Uint8Array = 64, options: HwInfoOptions = {}): HwInfoResult {
    this.#checkOpen();
    if (typeof data === 'number') data = new Uint8Array(toU32(data, 'dataLength'));
    else if (!(data instanceof Uint8Array)) throw new TypeError('data must be a byte count or a Uint8Array');
    const devId = typeof device === 'number' ? toU32(device, 'device') : device.idevId;
    const inDataType = toU32(options.dataType ?? IOMMU_HW_INFO_TYPE_DEFAULT, 'dataType');
    const flags = inDataType !== IOMMU_HW_INFO_TYPE_DEFAULT ? IOMMU_HW_INFO_FLAG_INPUT_TYPE : 0;
    const info = this.backend.getHwInfo(devId, data, flags, inDataType);
    return { ...info, data: data.subarray(0, Math.min(info.dataLen, data.length)) };
  }

  /** IOMMU_FAULT_QUEUE_ALLOC. */
  allocFaultQueue(): FaultQueue {
    this.#checkOpen();
    const queue = new FaultQueue(this.backend, this.backend.faultQueueAlloc(), (closed) => this.#faultQueues.delete(closed));
    this.#faultQueues.add(queue);
    return queue;
  }

  /** The VFIO type1 compatibility ioctls on this fd. */
  get vfio(): VfioCompat {
    this.#checkOpen();
    this.#vfio ??= new VfioCompat(this.backend);
    return this.#vfio;
  }

  /** IOMMU_VFIO_IOAS GET: the IOAS the VFIO compat ioctls use (ENOENT if none yet). */
  getVfioIoas(): number {
    this.#checkOpen();
    return this.backend.vfioIoas(IOMMU_VFIO_IOAS_GET, 0);
  }

  /** IOMMU_VFIO_IOAS SET. */
  setVfioIoas(ioas: Ioas): void {
    this.#checkOpen();
    this.backend.vfioIoas(IOMMU_VFIO_IOAS_SET, ioas.id);
  }

  /** IOMMU_VFIO_IOAS CLEAR. */
  clearVfioIoas(): void {
    this.#checkOpen();
    this.backend.vfioIoas(IOMMU_VFIO_IOAS_CLEAR, 0);
  }

  /** IOMMU_OPTION_RLIMIT_MODE (global): 0 accounts pinned pages per user, 1 per mm. */
  getRlimitMode(): bigint {
    this.#checkOpen();
    return this.backend.option(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_GET, 0, 0n);
  }

  /** Setting the rlimit mode needs CAP_SYS_RESOURCE and no pinned pages in this context. */
  setRlimitMode(mode: bigint | number): void {
    this.#checkOpen();
    this.backend.option(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_SET, 0, toU64(mode, 'mode'));
  }

  /** Which ioctls and mock ops the kernel (or simulator) supports, probed harmlessly. */
  capabilities(): Capabilities {
    this.#checkOpen();
    return this.backend.capabilities();
  }

  /**
   * Record ops with `build` and run them in one native call, in order, stopping
   * at the first error. `failNth` arms fault injection right around the batch.
   */
  batch(build: (batch: Batch) => void, options: { failNth?: number } = {}): BatchResult {
    this.#checkOpen();
    const batch = new Batch((name, args) => {
      const fn = (this.backend as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
      if (typeof fn !== 'function') throw new TypeError(`unknown op ${name}`);
      return fn.apply(this.backend, args);
    });
    build(batch);
    const out = new BigUint64Array(batch.length);
    return batch.settle(this.backend.runBatch(batch.encoded(), out, checkFailNth(options.failNth)), out);
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
    for (const queue of [...this.#faultQueues]) queue.close();
    // A bound VFIO device keeps the context, and so every mapping, alive in the
    // kernel after this fd closes: keep their memory referenced until it goes.
    const keep = this.#contextHolders.size > 0;
    for (const ioas of [...this.#ioases]) {
      const refs = ioas.gone(keep);
      if (refs) this.#heldRefs.push(refs);
    }
    const vfioRefs = this.#vfio?.gone(keep);
    if (vfioRefs) this.#heldRefs.push(vfioRefs);
    this.backend.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * @internal For VfioDevice.bind(): `holder` keeps the kernel context alive
   * until the returned release function is called (the device closed).
   */
  holdContext(holder: object): () => void {
    this.#contextHolders.add(holder);
    return () => {
      this.#contextHolders.delete(holder);
      if (this.#closed && this.#contextHolders.size === 0) {
        for (const refs of this.#heldRefs) refs.forgetAll();
        this.#heldRefs = [];
      }
    };
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError('iommufd is closed');
  }
}

// One message that says what is wrong and what to do about it.
function explainOpenFailure(e: IommufdError, path: string): IommufdError {
  return iommufdOpenError(e.errno, path);
}

/** 'auto' found a device but cannot drive it: say so, with both ways out. */
function noAddonForDevice(path: string): Error {
  let why = 'the native addon does not load';
  try {
    addon();
  } catch (e) {
    why = (e as Error).message.replace(/^iommufd: /, '');
  }
  return new Error(
    `iommufd: ${path} exists but ${why}\n` +
      `Fix the addon to use this kernel, or ask for the simulator explicitly: Iommufd.open({ backend: 'sim' }).`,
  );
}
