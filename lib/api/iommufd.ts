import { existsSync } from 'node:fs';
import { Access } from './access.js';
import type { Backend, Capabilities } from '../backend/contract.js';
import { Batch, type BatchResult, checkFailNth } from './batch.js';
import { FaultQueue } from './fault-queue.js';
import { Hwpt } from './hwpt.js';
import { ClosedError, IommufdError, iommufdOpenError } from '../base/errors.js';
import { Ioas } from './ioas.js';
import { MappingRefs } from '../memory/mapping-refs.js';
import { type Memory, type RangeOptions, userRange } from '../memory/memory.js';
import { MockDevice } from './mock-device.js';
import { DMABUF_OPEN_FLAGS, MockDmabuf } from './mock-dmabuf.js';
import { NativeBackend } from '../native/backend.js';
import { addon, addonAvailable } from '../native/binding.js';
import { SimBackend } from '../sim/backend.js';
import type { SimKernel } from '../sim/kernels.js';
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
  IOMMU_HW_QUEUE_TYPE_SELFTEST,
  IOMMU_VEVENTQ_TYPE_SELFTEST,
  IOMMU_VIOMMU_TYPE_SELFTEST,
  MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
  MOCK_FLAGS_DEVICE_HUGE_IOVA,
  MOCK_FLAGS_DEVICE_NO_DIRTY,
  MOCK_IOMMUPT_HUGE,
} from '../uapi/constants.js';
import { type RawArg, checkRawIoctl, ioctlRequest, rawIoctlName } from '../backend/raw-ioctl.js';
import { describe, expectInstance, toOptions, toU32, toU64 } from '../base/validate.js';
import { VfioCompat } from './vfio-compat.js';
import { HwQueue, SIZEOF_IOMMU_VIOMMU_SELFTEST, Vdevice, Veventq, Viommu, type ViommuMapping, type ViommuOwner, type ViommuSelftestData } from './viommu.js';

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
  /**
   * Huge IO pages (MOCK_HUGE_PAGE_SIZE) in the device's mock domain, on any kernel.
   * Where the kernel has MOCK_FLAGS_DEVICE_HUGE_IOVA (6.12) that flag; where it
   * has not (7.3: huge pages are iommu_hwpt_selftest.pagetable_type), `target`
   * must be an IOAS and the device is attached to a new MOCK_IOMMUPT_HUGE HWPT
   * on it, which goes when the device leaves it. Either way allocHwpt() for this
   * device on an IOAS gives huge IO pages too. Which way is probed, once per fd.
   */
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
  /**
   * Huge IO pages in a paging HWPT (`parent` an IOAS): 7.3's MOCK_IOMMUPT_HUGE
   * (selftest data, with selftestIotlb if given); on 6.12 only a device created
   * with `hugeIova` has them (its flag decides). Default: the device's `hugeIova`
   * when `parent` is an Ioas and no raw data is given.
   */
  hugeIova?: boolean;
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

export interface ViommuOptions {
  /** IOMMU_VIOMMU_TYPE_*; default IOMMU_VIOMMU_TYPE_SELFTEST (the mock's). */
  type?: number;
  /**
   * The selftest vIOMMU's driver data: in_data of struct iommu_viommu_selftest.
   * The mock echoes it (Viommu.selftestData) and offers a region to mmap().
   */
  selftestData?: number;
  /** Raw driver data of any length (bad-input tests), written back by the driver. */
  data?: Uint8Array;
  /** Raw flags, for bad-input tests (the kernel knows none). */
  flags?: number;
}

export interface VeventqOptions {
  /** IOMMU_VEVENTQ_TYPE_*; default IOMMU_VEVENTQ_TYPE_SELFTEST. One queue per type and vIOMMU. */
  type?: number;
  /** How many events it holds before it reports lost events (1 to 2^19 on 7.3). */
  depth: number;
  /** Raw flags, for bad-input tests. */
  flags?: number;
}

export interface HwQueueOptions {
  /** IOMMU_HW_QUEUE_TYPE_*; default IOMMU_HW_QUEUE_TYPE_SELFTEST. */
  type?: number;
  /** The queue's index; the selftest vIOMMU takes 0 first, then each index after the one before. */
  index: number;
  /** Where the guest queue is: an IOVA of the vIOMMU's nesting-parent IOAS, mapped. */
  iova: bigint | number;
  length: bigint | number;
  /** Raw flags, for bad-input tests. */
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
  readonly #veventqs = new Set<Veventq>();
  readonly #mappings = new Set<ViommuMapping>();
  /** What vIOMMU objects see of this fd: whether it is closed, and where mappings are kept. */
  readonly #viommuOwner: ViommuOwner;
  // Objects that keep the kernel context alive after close() (bound VFIO
  // devices), and the mapping references kept for them meanwhile.
  readonly #contextHolders = new Set<object>();
  // What must outlive this object if it is dropped without close(), for the
  // finalizer (see Remains): everything here, none of it referring back to `this`.
  readonly #remains: Remains;
  #vfio: VfioCompat | undefined;
  #closed = false;
  /** Whether the kernel has MOCK_FLAGS_DEVICE_HUGE_IOVA (probed on first use). */
  #hugeIovaFlag: boolean | undefined;

  constructor(backend: Backend) {
    this.backend = backend;
    const mappings = this.#mappings;
    const fd = this;
    this.#viommuOwner = {
      get closed() {
        return fd.closed;
      },
      trackMapping: (m) => mappings.add(m),
      untrackMapping: (m) => mappings.delete(m),
    };
    this.#remains = {
      backend,
      refs: new Set(),
      rawCopyRefs: new Map(),
      heldRefs: [],
      accessFds: new Set(),
      faultFds: new Set(),
      contextHolders: this.#contextHolders,
      vfio: undefined,
    };
    dropped.register(this, this.#remains, this.#remains);
  }

  /** Open /dev/iommu (or `options.path`) with the native backend, or the simulator. */
  static open(options: OpenOptions = {}): Iommufd {
    options = toOptions(options);
    const path = options.path ?? '/dev/iommu';
    const kind = options.backend ?? 'auto';
    if (kind !== 'native' && kind !== 'sim' && kind !== 'auto')
      throw new TypeError(`unknown backend ${describe(kind)}; use 'native', 'sim' or 'auto'`);
    if (options.fd !== undefined) {
      if (kind === 'sim') throw new TypeError('the simulator cannot adopt a file descriptor: its state lives in this process');
      if (options.path !== undefined) throw new TypeError('pass either path or fd, not both');
      if (!addonAvailable()) throw new Error('adopting an iommufd needs the native addon');
      return new Iommufd(NativeBackend.adopt(toU32(options.fd, 'fd')));
    }
    if (options.kernel !== undefined && kind !== 'sim')
      throw new TypeError(`kernel: ${describe(options.kernel)} picks the simulator's kernel model: use it with backend: 'sim'`);
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
   * throw IommufdError. The commands known are those of the running kernel's
   * uAPI table (the backend's uapiVersion: 7.3's commands on 7.3). Raw bytes
   * may not carry user pointers (those fields must be 0) and every length the
   * kernel will use must fit in `arg`: lib/api/raw-ioctl.ts has the exact rule,
   * which the addon checks again.
   */
  rawIoctl(request: number, arg: RawArg): number {
    this.#checkOpen();
    const checked = checkRawIoctl(request, arg, this.backend.uapiVersion);
    const rc = this.backend.rawIoctl(request, checked, rawIoctlName(request));
    this.#noteRaw(request, checked);
    return rc;
  }

  /**
   * A raw IOMMU_IOAS_COPY that succeeded mapped, in the destination IOAS, pages
   * the source maps: the destination must keep that memory alive like a typed
   * copy (with no wrapper for it, until close()).
   */
  #noteRaw(request: number, arg: Uint8Array | number | null): void {
    if (request !== ioctlRequest('IOMMU_IOAS_COPY') || !(arg instanceof Uint8Array) || arg.length < 40) return;
    const view = new DataView(arg.buffer, arg.byteOffset, arg.byteLength);
    if (view.getUint32(0, true) < 40) return;
    const dstId = view.getUint32(8, true);
    const srcId = view.getUint32(12, true);
    const length = view.getBigUint64(16, true);
    const dstIova = view.getBigUint64(24, true);
    const srcIova = view.getBigUint64(32, true);
    const memories = this.#refsOfIoas(srcId).flatMap((refs) => refs.overlapping(srcIova, length));
    let dst: MappingRefs | undefined;
    for (const ioas of this.#ioases) if (ioas.id === dstId) dst = ioas.mappingRefs();
    if (!dst) {
      dst = this.#remains.rawCopyRefs.get(dstId) ?? new MappingRefs();
      this.#remains.rawCopyRefs.set(dstId, dst);
    }
    dst.add(dstIova, length, memories);
  }

  /** Every list of references to memory that IOAS `id` maps. */
  #refsOfIoas(id: number): MappingRefs[] {
    const out: MappingRefs[] = [];
    for (const ioas of this.#ioases) if (ioas.id === id) out.push(ioas.mappingRefs());
    const compat = this.#vfio?.refsOf(id);
    if (compat) out.push(compat);
    const raw = this.#remains.rawCopyRefs.get(id);
    if (raw) out.push(raw);
    return out;
  }

  allocIoas(): Ioas {
    this.#checkOpen();
    return this.#own(new Ioas(this.backend, this.backend.ioasAlloc(), (gone) => this.#disown(gone)));
  }

  /**
   * IOMMU_IOAS_CHANGE_PROCESS (7.3): charge the pinned pages of every mapping
   * of this iommufd to the calling process (e.g. a child that took the iommufd
   * over). Only file mappings (Ioas.mapFile()) can move: EINVAL while any IOAS
   * maps user memory.
   */
  changeProcess(): void {
    this.#checkOpen();
    this.backend.ioasChangeProcess();
  }

  #own(ioas: Ioas): Ioas {
    this.#ioases.add(ioas);
    this.#remains.refs.add(ioas.mappingRefs());
    return ioas;
  }

  #disown(ioas: Ioas): void {
    this.#ioases.delete(ioas);
    this.#remains.refs.delete(ioas.mappingRefs());
  }

  /**
   * Own the IOAS with this id, allocated by a raw op (e.g. `raw('ioasAlloc')` in
   * a batch), so typed calls and batch ops can use it and close() releases it.
   * The id is not checked: calls on an id that names no IOAS fail in the kernel.
   * An id this iommufd already owns returns that Ioas.
   */
  adoptIoas(id: number): Ioas {
    this.#checkOpen();
    const ioasId = toU32(id, 'id');
    // One wrapper per IOAS: a second one would hold none of the first's mapping
    // references, so a copy from it would map memory nothing keeps alive.
    for (const owned of this.#ioases) if (owned.id === ioasId) return owned;
    return this.#own(new Ioas(this.backend, ioasId, (gone) => this.#disown(gone)));
  }

  /**
   * IOMMU_TEST_OP_MOCK_DOMAIN: a mock device attached to `target` (an IOAS gets
   * a new automatic mock domain). With options, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS.
   */
  mockDomain(target: Ioas | Hwpt | number, options?: MockDomainOptions): MockDevice {
    this.#checkOpen();
    if (options !== undefined) toOptions(options);
    const huge = options?.hugeIova === true;
    const byFlag = huge && this.#hasHugeIovaFlag();
    const flags =
      options === undefined
        ? undefined
        : toU32(options.flags ?? 0, 'flags') |
          (options.noDirty ? MOCK_FLAGS_DEVICE_NO_DIRTY : 0) |
          (byFlag ? MOCK_FLAGS_DEVICE_HUGE_IOVA : 0);
    const ptId = typeof target === 'number' ? toU32(target, 'target') : expectInstance<Ioas | Hwpt>(target, [Ioas, Hwpt], 'target', 'an Ioas, a Hwpt or an id', this.backend).id;
    if (huge && !byFlag) return this.#hugeMockDomain(target, ptId, flags! >>> 0);
    const ids = this.backend.mockDomain(ptId, flags === undefined ? undefined : flags >>> 0);
    return new MockDevice(this.backend, ids, this, huge ? {} : undefined);
  }

  /**
   * Whether MOCK_FLAGS_DEVICE_HUGE_IOVA exists (6.12) or huge IO pages are a
   * paging HWPT's MOCK_IOMMUPT_HUGE (7.3, which refuses the flag). mock_dev_create()
   * checks the flags before the device is bound or attached, so MOCK_DOMAIN_FLAGS
   * with the flag on id 0 (never an object) answers ENOENT where the flag exists
   * and EINVAL where it does not, and leaves nothing behind.
   */
  #hasHugeIovaFlag(): boolean {
    if (this.#hugeIovaFlag === undefined) {
      try {
        const ids = this.backend.mockDomain(0, MOCK_FLAGS_DEVICE_HUGE_IOVA);
        this.backend.destroy(ids.stdevId);
        this.#hugeIovaFlag = true;
      } catch (e) {
        if (!(e instanceof IommufdError) || (e.code !== 'ENOENT' && e.code !== 'EINVAL')) throw e;
        this.#hugeIovaFlag = e.code === 'ENOENT';
      }
    }
    return this.#hugeIovaFlag;
  }

  /** The selftest HWPT data asking for huge IO pages: struct iommu_hwpt_selftest { iotlb, pagetable_type } of 7.3. */
  static #hugeSelftestData(iotlb: number): Uint8Array {
    const data = new Uint8Array(8);
    const view = new DataView(data.buffer);
    view.setUint32(0, iotlb, true);
    view.setUint32(4, MOCK_IOMMUPT_HUGE, true);
    return data;
  }

  /**
   * hugeIova without the device flag: a mock device on the IOAS (through an
   * automatic domain), a MOCK_IOMMUPT_HUGE HWPT allocated for it there, and the
   * device replaced onto it (which frees the automatic domain).
   */
  #hugeMockDomain(target: Ioas | Hwpt | number, ioasId: number, flags: number): MockDevice {
    const isIoas = target instanceof Ioas || (typeof target === 'number' && [...this.#ioases].some((i) => i.id === target));
    if (!isIoas)
      throw new TypeError(
        'hugeIova on this kernel (no MOCK_FLAGS_DEVICE_HUGE_IOVA) needs an IOAS of this fd as target: huge IO pages are a paging HWPT made there with MOCK_IOMMUPT_HUGE (or use allocHwpt(device, ioas, { hugeIova: true }))',
      );
    const ids = this.backend.mockDomain(ioasId, flags);
    let hwptId: number | undefined;
    try {
      const data = Iommufd.#hugeSelftestData(0);
      hwptId = this.backend.hwptAlloc({ flags: 0, devId: ids.idevId, ptId: ioasId, dataType: IOMMU_HWPT_DATA_SELFTEST, data, faultId: 0 });
      const attached = this.backend.mockDomainReplace(ids.stdevId, hwptId);
      return new MockDevice(this.backend, { ...ids, hwptId: attached }, this, { ownedHwptId: hwptId });
    } catch (e) {
      this.backend.destroy(ids.stdevId);
      if (hwptId !== undefined) this.backend.destroy(hwptId);
      throw e;
    }
  }

  /**
   * IOMMU_HWPT_ALLOC for `device` on `parent`: an IOAS (a paging HWPT), a
   * nest-parent HWPT or a vIOMMU (a nested one; selftestIotlb gives its data),
   * or a raw id.
   */
  allocHwpt(device: MockDevice | number, parent: Ioas | Hwpt | Viommu | number, options: HwptOptions = {}): Hwpt {
    options = toOptions(options);
    this.#checkOpen();
    let flags = toU32(options.flags ?? 0, 'flags');
    if (options.nestParent) flags |= IOMMU_HWPT_ALLOC_NEST_PARENT;
    if (options.dirtyTracking) flags |= IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
    if (options.fault) flags |= IOMMU_HWPT_FAULT_ID_VALID;
    let dataType = IOMMU_HWPT_DATA_NONE;
    let data: Uint8Array | null = null;
    let nullDataLen = 0;
    const raw = options.data !== undefined || options.unsafeNullData !== undefined;
    const huge = options.hugeIova ?? (device instanceof MockDevice && device.hugeIova && parent instanceof Ioas && !raw);
    if (huge && raw) throw new TypeError('hugeIova is selftest data of its own: do not combine it with data or unsafeNullData');
    if (options.hugeIova !== undefined && (parent instanceof Hwpt || parent instanceof Viommu))
      throw new TypeError('hugeIova is a property of a paging HWPT: its parent is an IOAS, not a HWPT or vIOMMU');
    if (options.hugeIova !== undefined && this.#hasHugeIovaFlag()) {
      // 6.12: the device's MOCK_FLAGS_DEVICE_HUGE_IOVA decides, nothing in the HWPT data can.
      const deviceHuge = device instanceof MockDevice && device.hugeIova;
      if (huge !== deviceHuge)
        throw new TypeError(`this kernel gives huge IO pages by device: hugeIova: ${String(huge)} needs a MockDevice created ${huge ? 'with' : 'without'} hugeIova`);
    } else if (huge && !this.#hasHugeIovaFlag()) {
      dataType = IOMMU_HWPT_DATA_SELFTEST;
      data = Iommufd.#hugeSelftestData(toU32(options.selftestIotlb ?? 0, 'selftestIotlb'));
    }
    // (With the huge data above, none of the raw options is given.)
    if (data === null && options.selftestIotlb !== undefined) {
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
    const devId = typeof device === 'number' ? toU32(device, 'device') : expectInstance(device, [MockDevice], 'device', 'a MockDevice or an id', this.backend).idevId;
    const ptId =
      typeof parent === 'number'
        ? toU32(parent, 'parent')
        : expectInstance<Ioas | Hwpt | Viommu>(parent, [Ioas, Hwpt, Viommu], 'parent', 'an Ioas, a Hwpt, a Viommu or an id', this.backend).id;
    const faultId = typeof options.fault === 'number' ? toU32(options.fault, 'fault') : (options.fault?.id ?? 0);
    // `|` yields an int32: bit 31 would turn the flags negative (and a u32 check refuse them).
    const request = { flags: flags >>> 0, devId, ptId, dataType, data, faultId, ...(nullDataLen ? { nullDataLen } : {}) };
    const id = this.backend.hwptAlloc(request);
    return new Hwpt(this.backend, id, this);
  }

  /**
   * IOMMU_GET_HW_INFO for a device; `data` is how many bytes of buffer to offer
   * for the driver data, or the buffer itself (the kernel writes it, zeroing
   * what the driver data does not fill).
   */
  hwInfo(device: MockDevice | number, data: number | Uint8Array = 64, options: HwInfoOptions = {}): HwInfoResult {
    options = toOptions(options);
    this.#checkOpen();
    if (typeof data === 'number') data = new Uint8Array(toU32(data, 'dataLength'));
    else if (!(data instanceof Uint8Array)) throw new TypeError('data must be a byte count or a Uint8Array');
    const devId = typeof device === 'number' ? toU32(device, 'device') : expectInstance(device, [MockDevice], 'device', 'a MockDevice or an id', this.backend).idevId;
    const inDataType = toU32(options.dataType ?? IOMMU_HW_INFO_TYPE_DEFAULT, 'dataType');
    const flags = inDataType !== IOMMU_HW_INFO_TYPE_DEFAULT ? IOMMU_HW_INFO_FLAG_INPUT_TYPE : 0;
    const info = this.backend.getHwInfo(devId, data, flags, inDataType);
    return { ...info, data: data.subarray(0, Math.min(info.dataLen, data.length)) };
  }

  /**
   * IOMMU_VIOMMU_ALLOC: a vIOMMU for `device`'s IOMMU nesting on `parent`, a
   * nest-parent HWPT (EINVAL otherwise), which it holds (EBUSY) until destroyed.
   */
  allocViommu(device: MockDevice | number, parent: Hwpt | number, options: ViommuOptions = {}): Viommu {
    options = toOptions(options);
    this.#checkOpen();
    const type = toU32(options.type ?? IOMMU_VIOMMU_TYPE_SELFTEST, 'type');
    const flags = toU32(options.flags ?? 0, 'flags');
    if (options.selftestData !== undefined && options.data !== undefined) throw new TypeError('pass selftestData or data, not both');
    let data: Uint8Array | null = null;
    if (options.selftestData !== undefined) {
      data = new Uint8Array(SIZEOF_IOMMU_VIOMMU_SELFTEST);
      new DataView(data.buffer).setUint32(0, toU32(options.selftestData, 'selftestData'), true);
    } else if (options.data !== undefined) {
      if (!(options.data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
      data = options.data;
    }
    const devId = typeof device === 'number' ? toU32(device, 'device') : expectInstance(device, [MockDevice], 'device', 'a MockDevice or an id', this.backend).idevId;
    const hwptId = typeof parent === 'number' ? toU32(parent, 'parent') : expectInstance(parent, [Hwpt], 'parent', 'a Hwpt or an id', this.backend).id;
    const id = this.backend.viommuAlloc({ flags, type, devId, hwptId, data });
    let answer: ViommuSelftestData | null = null;
    if (options.selftestData !== undefined && data) {
      const view = new DataView(data.buffer);
      answer = { inData: view.getUint32(0, true), outData: view.getUint32(4, true), mmapOffset: view.getBigUint64(8, true), mmapLength: view.getBigUint64(16, true) };
    }
    return new Viommu(this.backend, id, type, answer, this.#viommuOwner);
  }

  /**
   * IOMMU_VDEVICE_ALLOC: `device` is `virtId` behind `viommu` (one vDEVICE per
   * device, one device per virtual id: EEXIST). A nested HWPT of the vIOMMU
   * accepts the device only once this exists.
   */
  allocVdevice(viommu: Viommu | number, device: MockDevice | number, virtId: bigint | number): Vdevice {
    this.#checkOpen();
    const viommuId = typeof viommu === 'number' ? toU32(viommu, 'viommu') : expectInstance(viommu, [Viommu], 'viommu', 'a Viommu or an id', this.backend).id;
    const devId = typeof device === 'number' ? toU32(device, 'device') : expectInstance(device, [MockDevice], 'device', 'a MockDevice or an id', this.backend).idevId;
    const id64 = toU64(virtId, 'virtId');
    return new Vdevice(this.backend, this.backend.vdeviceAlloc(viommuId, devId, id64), id64, this.#viommuOwner);
  }

  /** IOMMU_VEVENTQ_ALLOC: a queue of `viommu`'s events of one type, read through its fd. */
  allocVeventq(viommu: Viommu | number, options: VeventqOptions): Veventq {
    options = toOptions(options);
    this.#checkOpen();
    const viommuId = typeof viommu === 'number' ? toU32(viommu, 'viommu') : expectInstance(viommu, [Viommu], 'viommu', 'a Viommu or an id', this.backend).id;
    const type = toU32(options.type ?? IOMMU_VEVENTQ_TYPE_SELFTEST, 'type');
    const ids = this.backend.veventqAlloc(toU32(options.flags ?? 0, 'flags'), viommuId, type, toU32(options.depth, 'depth'));
    const queue = new Veventq(this.backend, ids, type, this.#viommuOwner, (closed) => {
      this.#veventqs.delete(closed);
      this.#remains.faultFds.delete(closed.fd);
    });
    this.#veventqs.add(queue);
    this.#remains.faultFds.add(queue.fd);
    return queue;
  }

  /**
   * IOMMU_HW_QUEUE_ALLOC: the guest queue at `iova` of the vIOMMU's nesting-parent
   * IOAS goes to the hardware; its pages stay pinned, and their mapping cannot be
   * unmapped (EBUSY), until the queue is destroyed.
   */
  allocHwQueue(viommu: Viommu | number, options: HwQueueOptions): HwQueue {
    options = toOptions(options);
    this.#checkOpen();
    const viommuId = typeof viommu === 'number' ? toU32(viommu, 'viommu') : expectInstance(viommu, [Viommu], 'viommu', 'a Viommu or an id', this.backend).id;
    const index = toU32(options.index, 'index');
    const id = this.backend.hwQueueAlloc({
      flags: toU32(options.flags ?? 0, 'flags'),
      viommuId,
      type: toU32(options.type ?? IOMMU_HW_QUEUE_TYPE_SELFTEST, 'type'),
      index,
      nestingParentIova: toU64(options.iova, 'iova'),
      length: toU64(options.length, 'length'),
    });
    return new HwQueue(this.backend, id, index, this.#viommuOwner);
  }

  /** IOMMU_FAULT_QUEUE_ALLOC. */
  allocFaultQueue(): FaultQueue {
    this.#checkOpen();
    const queue = new FaultQueue(this.backend, this.backend.faultQueueAlloc(), (closed) => {
      this.#faultQueues.delete(closed);
      this.#remains.faultFds.delete(closed.fd);
    });
    this.#faultQueues.add(queue);
    this.#remains.faultFds.add(queue.fd);
    return queue;
  }

  /** The VFIO type1 compatibility ioctls on this fd. */
  get vfio(): VfioCompat {
    this.#checkOpen();
    this.#vfio ??= this.#remains.vfio = new VfioCompat(this.backend);
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
    this.backend.vfioIoas(IOMMU_VFIO_IOAS_SET, expectInstance(ioas, [Ioas], 'ioas', 'an Ioas', this.backend).id);
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
    options = toOptions(options);
    this.#checkOpen();
    const batch = new Batch(this.backend, (name, args) => {
      const fn = (this.backend as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
      if (typeof fn !== 'function') throw new TypeError(`unknown op ${name}`);
      return fn.apply(this.backend, args);
    }, (request, arg) => this.#noteRaw(request, arg));
    build(batch);
    const out = new BigUint64Array(batch.length);
    const failNth = checkFailNth(options.failNth);
    const release = batch.holdMemory();
    try {
      return batch.settle(this.backend.runBatch(batch.encoded(), out, failNth), out);
    } finally {
      release();
    }
  }

  /**
   * IOMMU_TEST_OP_DMABUF_GET (7.3): a mock dma-buf of `length` bytes (rounded
   * up to whole pages; the mock refuses 0 and more than 512 pages, EINVAL), for
   * `ioas.mapFile()`. Its descriptor outlives this iommufd; revoke() needs it open.
   */
  mockDmabuf(length: number): MockDmabuf {
    this.#checkOpen();
    const size = toU32(length, 'length');
    const fd = this.backend.dmabufGet(size, DMABUF_OPEN_FLAGS);
    return new MockDmabuf(this.backend, fd, size, () => this.#checkOpen());
  }

  /** IOMMU_TEST_OP_CREATE_ACCESS: an in-kernel access to `ioas`. */
  createAccess(ioas: Ioas, options: AccessOptions = {}): Access {
    options = toOptions(options);
    this.#checkOpen();
    const flags = options.needsPinPages ? MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES : 0;
    const access = new Access(this.backend, this.backend.createAccess(expectInstance(ioas, [Ioas], 'ioas', 'an Ioas', this.backend).id, flags), (closed) => {
      this.#accesses.delete(closed);
      this.#remains.accessFds.delete(closed.fd);
    });
    this.#accesses.add(access);
    this.#remains.accessFds.add(access.fd);
    return access;
  }

  /**
   * IOMMU_TEST_OP_MD_CHECK_REFS: every page of the window is pinned exactly
   * `refs` times (counted in GUP_PIN_COUNTING_BIAS units). Throws EIO otherwise.
   */
  checkRefs(memory: Memory, refs: number, range: RangeOptions = {}): void {
    range = toOptions(range, 'range');
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
    const objectId = toU32(id, 'id');
    this.backend.destroy(objectId);
    // The kernel destroyed an IOAS with every area in it: its wrapper must not
    // keep references (nor act on the next IOAS that gets the id).
    for (const ioas of [...this.#ioases]) if (ioas.id === objectId) ioas.gone();
  }

  /**
   * Close every access and fault queue, then the fd. Each step runs even when
   * an earlier one throws (the first error is rethrown at the end), and the
   * mapping references go only after the fd is closed, when the kernel has
   * dropped the mappings.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    dropped.unregister(this.#remains);
    const errors: unknown[] = [];
    const attempt = (step: () => void): void => {
      try {
        step();
      } catch (e) {
        errors.push(e);
      }
    };
    for (const access of [...this.#accesses]) attempt(() => access.close());
    for (const queue of [...this.#faultQueues]) attempt(() => queue.close());
    for (const queue of [...this.#veventqs]) attempt(() => queue.close());
    // A mapping holds the file: the context would outlive close().
    for (const mapping of [...this.#mappings]) attempt(() => mapping.unmap());
    attempt(() => this.backend.close());
    // A bound VFIO device keeps the context, and so every mapping, alive in the
    // kernel after this fd closes: keep their memory referenced until it goes.
    const keep = this.#contextHolders.size > 0;
    const remains = this.#remains;
    for (const ioas of [...this.#ioases]) {
      const refs = ioas.gone(keep);
      if (refs) remains.heldRefs.push(refs);
    }
    if (this.#vfio) remains.heldRefs.push(...this.#vfio.gone(keep));
    if (keep) remains.heldRefs.push(...remains.rawCopyRefs.values());
    else for (const refs of remains.rawCopyRefs.values()) refs.forgetAll();
    remains.rawCopyRefs.clear();
    if (errors.length > 0) throw errors[0];
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
        for (const refs of this.#remains.heldRefs) refs.forgetAll();
        this.#remains.heldRefs = [];
      }
    };
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError('iommufd is closed');
  }
}

/**
 * What an Iommufd leaves behind when it is dropped without close(): the
 * backend (the open fd), the fds of its accesses and fault queues, and every
 * list of references to memory it maps. While the fd is open the kernel keeps
 * mapping that memory, so these references must live exactly as long: the
 * FinalizationRegistry holds them strongly until the finalizer has closed the
 * fds. Accesses and fault queues are closed first: each holds the context (and
 * so the mappings) alive in the kernel on its own. A bound VFIO device does
 * too, and can outlive this process's view of it: then the references are kept
 * for good, a leak that never frees mapped memory.
 */
interface Remains {
  backend: Backend;
  refs: Set<MappingRefs>;
  rawCopyRefs: Map<number, MappingRefs>;
  heldRefs: MappingRefs[];
  accessFds: Set<number>;
  faultFds: Set<number>;
  contextHolders: Set<object>;
  vfio: VfioCompat | undefined;
}

const keptForever = new Set<Remains>();

function finalizeDropped(remains: Remains): void {
  const { backend } = remains;
  const attempt = (step: () => void): void => {
    try {
      step();
    } catch {
      // A finalizer has no caller to tell; the next step must still run.
    }
  };
  for (const fd of remains.accessFds) attempt(() => backend.closeAccess(fd));
  for (const fd of remains.faultFds) attempt(() => backend.closeFault(fd));
  if (remains.contextHolders.size > 0) {
    keptForever.add(remains);
    return;
  }
  attempt(() => backend.close());
  for (const refs of remains.refs) refs.forgetAll();
  for (const refs of remains.rawCopyRefs.values()) refs.forgetAll();
  for (const refs of remains.heldRefs) refs.forgetAll();
  if (remains.vfio) remains.vfio.gone(false);
}

const dropped = new FinalizationRegistry<Remains>(finalizeDropped);

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
