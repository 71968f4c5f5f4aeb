// The contract between the typed API and a backend (the native addon today,
// the simulator later): one method per ioctl or test op, plain data in and
// out, u64 values as bigint, failures thrown as IommufdError.
import type { UapiVersion } from '../uapi/layout.js';

/** A byte range of JS memory the kernel will read or write. */
export interface UserRange {
  /** The whole memory object (DmaBuffer bytes or a caller's typed array). */
  readonly bytes: Uint8Array;
  readonly offset: number;
  readonly length: number;
}

/** A file to map (IOMMU_IOAS_MAP_FILE). */
export interface FileRef {
  /** Its descriptor; the kernel takes its own reference to the file (fget()). */
  readonly fd: number;
  /**
   * The whole file as this process maps it MAP_SHARED (a MemFile's view): the
   * simulator's file pages are these bytes. Null for a descriptor alone.
   */
  readonly bytes: Uint8Array | null;
}

export interface IovaRange {
  start: bigint;
  last: bigint;
}

export interface IovaRanges {
  ranges: IovaRange[];
  /** out_iova_alignment: the minimum IOVA alignment of the IOAS. */
  alignment: bigint;
}

/** IOMMU_IOAS_NOIOMMU_GET_PA's answer. */
export interface NoiommuPa {
  /** out_phys: the physical address the IOVA maps to. */
  phys: bigint;
  /** Bytes physically contiguous from `phys`, capped by the length asked for. */
  length: bigint;
}

export interface MockDomainIds {
  stdevId: number;
  hwptId: number;
  idevId: number;
}

export interface HwInfo {
  /** out_data_type: IOMMU_HW_INFO_TYPE_* (0xfeedbeef for the selftest mock). */
  dataType: number;
  /** How many bytes of driver data the kernel has (written up to the buffer's size). */
  dataLen: number;
  maxPasidLog2: number;
  /** IOMMU_HW_CAP_* bits. */
  capabilities: bigint;
}

export interface HwptAllocRequest {
  flags: number;
  /** Device (idev) id the page table is for. */
  devId: number;
  /** Parent: an IOAS id, or a nesting-parent HWPT id for a nested one. */
  ptId: number;
  dataType: number;
  data: Uint8Array | null;
  /** Bad-input tests only: with `data` null, send a NULL data_uptr with this data_len. */
  nullDataLen?: number;
  /** A fault queue id; only read when IOMMU_HWPT_FAULT_ID_VALID is in flags. */
  faultId: number;
}

/** One struct iommu_hwpt_pgfault read from a fault queue. */
export interface Fault {
  flags: number;
  devId: number;
  pasid: number;
  grpid: number;
  perm: number;
  addr: bigint;
  length: number;
  cookie: number;
}

/** IOMMU_VIOMMU_ALLOC's arguments. */
export interface ViommuAllocRequest {
  flags: number;
  /** IOMMU_VIOMMU_TYPE_* (IOMMU_VIOMMU_TYPE_SELFTEST for the mock). */
  type: number;
  /** The device (idev) whose physical IOMMU the vIOMMU stands for. */
  devId: number;
  /** A nesting-parent paging HWPT: the stage-2 the vIOMMU nests on. */
  hwptId: number;
  /** Driver data the kernel reads and writes back (struct iommu_viommu_selftest), or null. */
  data: Uint8Array | null;
}

/** IOMMU_HW_QUEUE_ALLOC's arguments. */
export interface HwQueueAllocRequest {
  flags: number;
  viommuId: number;
  /** IOMMU_HW_QUEUE_TYPE_* */
  type: number;
  index: number;
  /** Guest queue memory: an IOVA of the vIOMMU's nesting-parent IOAS, pinned for the queue's life. */
  nestingParentIova: bigint;
  length: bigint;
}

export interface VfioIommuInfo {
  flags: number;
  iovaPgsizes: bigint;
  /** The VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE capability, when present. */
  iovaRanges: IovaRange[] | null;
}

/** What the running kernel (or the simulator) supports. */
export interface Capabilities {
  backend: 'native' | 'sim';
  /** `uname -r` of the kernel, or the simulator's model version. */
  kernel: string;
  /**
   * iommufd ioctls by name (IOMMU_IOAS_MAP, ...: those of 6.12, then those 7.3
   * added, IOMMUFD_CMDS_7_3) and the VFIO compat ioctls. Every name is listed,
   * supported or not.
   */
  ioctls: Record<string, boolean>;
  /** IOMMU_TEST_OP_* names without the prefix (MOCK_DOMAIN, ...; 7.3's in IOMMU_TEST_OPS_7_3). */
  testOps: Record<string, boolean>;
  /** Whether fault injection (fail-nth) can be armed around a batch. */
  failNth: boolean;
}

export interface Backend {
  readonly name: 'native' | 'sim';
  /**
   * The uAPI table (lib/uapi/layout.ts) of the kernel answering: the addon's
   * pick by uname on the native backend, the modelled kernel on the simulator.
   * rawIoctl() knows that table's commands.
   */
  readonly uapiVersion: UapiVersion;
  /** Release the iommufd and everything the kernel holds for it. */
  close(): void;
  capabilities(): Capabilities;
  /**
   * Run the ops in order, stopping at the first error; failNth > 0 arms fault
   * injection around them. Map and unmap results go to `out` (one u64 per op).
   */
  runBatch(batch: EncodedBatch, out: BigUint64Array, failNth: number): BatchRun;

  destroy(id: number): void;
  ioasAlloc(): number;
  /** Returns the IOVA used (the kernel's choice unless FIXED_IOVA). */
  ioasMap(ioasId: number, flags: number, memory: UserRange, iova: bigint): bigint;
  /**
   * IOMMU_IOAS_MAP_FILE (7.3; 6.12 answers ENOTTY): bytes [start, start + length)
   * of `file`. Returns the IOVA used (the kernel's choice unless FIXED_IOVA).
   */
  ioasMapFile(ioasId: number, flags: number, file: FileRef, start: bigint, length: bigint, iova: bigint): bigint;
  /**
   * IOMMU_IOAS_CHANGE_PROCESS (7.3; 6.12 answers ENOTTY): charge the pinned pages
   * of every mapping to the calling process; EINVAL while any mapping is of user
   * memory rather than a file.
   */
  ioasChangeProcess(): void;
  /**
   * IOMMU_IOAS_NOIOMMU_GET_PA (7.3 with CONFIG_IOMMUFD_NOIOMMU; 6.12 answers
   * ENOTTY): the physical address `iova` maps to and how many bytes from there
   * are physically contiguous, at most `length`. Needs CAP_SYS_RAWIO (EPERM);
   * only an area stored in a no-IOMMU device's domain has an answer (EOPNOTSUPP
   * otherwise). `reserved` is the uAPI's __reserved (default 0; bad-input tests).
   */
  ioasNoiommuGetPa(ioasId: number, flags: number, iova: bigint, length: bigint, reserved?: number): NoiommuPa;
  /** Returns the number of bytes unmapped. */
  ioasUnmap(ioasId: number, iova: bigint, length: bigint): bigint;
  ioasIovaRanges(ioasId: number): IovaRanges;
  /**
   * One IOMMU_IOAS_IOVA_RANGES with room for `numIovas` ranges, written into `out`
   * as [start, last] pairs. Returns the count the kernel reported; EMSGSIZE (too
   * small) carries it as `numIovas` on the error.
   */
  ioasIovaRangesInto(ioasId: number, out: BigUint64Array, numIovas: number): { numIovas: number; alignment: bigint };
  ioasAllowIovas(ioasId: number, ranges: IovaRange[]): void;
  /** Returns the destination IOVA (the kernel's choice unless FIXED_IOVA). */
  ioasCopy(dstIoasId: number, srcIoasId: number, flags: number, dstIova: bigint, srcIova: bigint, length: bigint): bigint;
  /** IOMMU_OPTION; returns val64 (the current value for OP_GET). */
  option(optionId: number, op: number, objectId: number, val64: bigint): bigint;
  /** IOMMU_VFIO_IOAS; returns the IOAS id (meaningful for GET). */
  vfioIoas(op: number, ioasId: number): number;

  hwptAlloc(request: HwptAllocRequest): number;
  /**
   * Driver data is written into `data` (up to its length). `flags` and `inDataType`
   * (IOMMU_HW_INFO_FLAG_INPUT_TYPE of kernels newer than 6.12) default to 0.
   */
  getHwInfo(devId: number, data: Uint8Array, flags?: number, inDataType?: number): HwInfo;
  hwptSetDirtyTracking(hwptId: number, enable: boolean): void;
  /**
   * Fills `bitmap`, one bit per page_size page of [iova, iova + length): u64
   * words, or bytes at any address (bit i in byte i / 8, as little-endian words).
   */
  hwptGetDirtyBitmap(hwptId: number, flags: number, iova: bigint, length: bigint, pageSize: bigint, bitmap: BigUint64Array | Uint8Array): void;
  /**
   * Returns how many entries the kernel handled; a failure carries `handled` too.
   * `entries` null sends a NULL data_uptr (bad-input tests).
   */
  hwptInvalidate(hwptId: number, dataType: number, entryLen: number, entries: Uint8Array | null, entryNum: number): number;
  faultQueueAlloc(): { faultId: number; faultFd: number };
  /** Never blocks: [] when nothing is queued. */
  faultRead(faultFd: number, maxFaults: number): Fault[];
  faultRespond(faultFd: number, responses: { cookie: number; code: number }[]): number;
  closeFault(faultFd: number): void;

  // vIOMMU objects of kernels newer than 6.12 (viommu.c, eventq.c); 6.12 answers ENOTTY.
  /** IOMMU_VIOMMU_ALLOC; returns the vIOMMU id. `data` is written back by the driver. */
  viommuAlloc(request: ViommuAllocRequest): number;
  /** IOMMU_VDEVICE_ALLOC: the device is `virtId` behind the vIOMMU; returns the vDEVICE id. */
  vdeviceAlloc(viommuId: number, devId: number, virtId: bigint): number;
  /** IOMMU_VEVENTQ_ALLOC; the fd holds a reference on the object until closeVeventq(). */
  veventqAlloc(flags: number, viommuId: number, type: number, depth: number): { veventqId: number; veventqFd: number };
  /**
   * One read() of the vEVENTQ fd into `buffer` (its whole length is the count):
   * struct iommufd_vevent_header + payload per event. Returns the bytes read, 0
   * when nothing is queued (never blocks).
   */
  veventqRead(veventqFd: number, buffer: Uint8Array): number;
  closeVeventq(veventqFd: number): void;
  /** IOMMU_HW_QUEUE_ALLOC; returns the HW queue id. */
  hwQueueAlloc(request: HwQueueAllocRequest): number;
  /**
   * mmap() of `length` bytes of the iommufd at `offset` (a region a driver
   * offered, e.g. out_mmap_offset of the selftest vIOMMU), shared, read/write.
   * Returns a handle for mmapRead32() and munmap().
   */
  mmap(offset: bigint, length: number): number;
  /** A u32 load at `offset` of a mapping from mmap(). */
  mmapRead32(handle: number, offset: number): number;
  munmap(handle: number): void;

  vfioGetApiVersion(): number;
  vfioCheckExtension(extension: number): number;
  vfioSetIommu(type: number): void;
  vfioIommuGetInfo(): VfioIommuInfo;
  vfioMapDma(flags: number, memory: UserRange, iova: bigint): void;
  /** Returns the bytes unmapped. */
  vfioUnmapDma(flags: number, iova: bigint, size: bigint): bigint;

  // IOMMU_TEST_CMD ops of the CONFIG_IOMMUFD_TEST mock.
  addReserved(ioasId: number, start: bigint, length: bigint): void;
  /** MOCK_DOMAIN, or MOCK_DOMAIN_FLAGS when devFlags is given. */
  mockDomain(ptId: number, devFlags?: number): MockDomainIds;
  /** Returns the HWPT id now attached (automatic for an IOAS). */
  mockDomainReplace(stdevId: number, ptId: number): number;
  mdCheckIotlb(hwptId: number, iotlbId: number, iotlb: number): void;
  /** Marks the pages whose bits are set dirty in the mock; returns how many were mapped. */
  dirty(hwptId: number, flags: number, iova: bigint, length: bigint, pageSize: bigint, bitmap: Uint8Array): bigint;
  triggerIopf(devId: number, pasid: number, grpid: number, perm: number, addr: bigint): void;
  mdCheckMap(hwptId: number, iova: bigint, memory: UserRange): void;
  mdCheckRefs(memory: UserRange, refs: number): void;
  /** Returns a handle (the access fd on the kernel) for the access ops below. */
  createAccess(ioasId: number, flags: number): number;
  closeAccess(access: number): void;
  /** `verify` is the memory the pinned pages must be (the mock's uptr check), or null. */
  accessPages(access: number, flags: number, iova: bigint, length: number, verify: UserRange | null): number;
  destroyAccessPages(access: number, accessPagesId: number): void;
  accessRw(access: number, flags: number, iova: bigint, memory: UserRange): void;
  accessReplaceIoas(access: number, ioasId: number): void;
  /** Bytes of scratch memory for page batches (global to the kernel). */
  setTempMemoryLimit(bytes: number): void;

  // PASID test ops of 7.3's mock (a MOCK_FLAGS_DEVICE_PASID device); 6.12 answers EOPNOTSUPP.
  /** IOMMU_TEST_OP_PASID_ATTACH; returns the HWPT id attached (automatic for an IOAS). */
  pasidAttach(stdevId: number, pasid: number, ptId: number): number;
  /** IOMMU_TEST_OP_PASID_REPLACE; returns the HWPT id now attached. */
  pasidReplace(stdevId: number, pasid: number, ptId: number): number;
  /** IOMMU_TEST_OP_PASID_DETACH: never fails for a PASID that is not attached. */
  pasidDetach(stdevId: number, pasid: number): void;
  /** IOMMU_TEST_OP_PASID_CHECK_HWPT: EINVAL unless `pasid` is attached to `hwptId` (0: to nothing). */
  pasidCheckHwpt(stdevId: number, pasid: number, hwptId: number): void;

  // dma-buf test ops of 7.3's mock (the exporter IOMMU_IOAS_MAP_FILE imports); 6.12 answers EOPNOTSUPP.
  /**
   * IOMMU_TEST_OP_DMABUF_GET: a new mock dma-buf of `length` bytes (rounded up to
   * whole pages) opened with `openFlags` (O_CLOEXEC, ...). Returns its descriptor,
   * owned by the caller (closeDmabuf()); the buffer lives while it or a mapping holds it.
   */
  dmabufGet(length: number, openFlags: number): number;
  /**
   * IOMMU_TEST_OP_DMABUF_REVOKE: set the mock dma-buf's revoked state, then tell
   * every importer its mappings are invalid (dma_buf_invalidate_mappings()).
   */
  dmabufRevoke(dmabufFd: number, revoked: boolean): void;
  /** close() of a descriptor from dmabufGet(). */
  closeDmabuf(dmabufFd: number): void;

  // vIOMMU test ops of 7.3's mock; 6.12 answers EOPNOTSUPP.
  /** IOMMU_TEST_OP_DEV_CHECK_CACHE: EINVAL unless cache entry `cacheId` of the device holds `value`. */
  devCheckCache(devId: number, cacheId: number, value: number): void;
  /** IOMMU_TEST_OP_TRIGGER_VEVENT: the device reports a vEVENT (ENOENT unless it sits behind a vIOMMU with its vDEVICE). */
  triggerVevent(devId: number): void;

  /**
   * One ioctl with caller-built argument bytes (lib/api/raw-ioctl.ts has the rule,
   * already checked by the caller); the kernel's results are written back into
   * `arg`. Returns the ioctl's non-negative value; errors are named `name`.
   */
  rawIoctl(request: number, arg: Uint8Array | number | null, name: string): number;
}

/**
 * A batch as backends run it (Backend.runBatch), encoded by lib/api/batch.ts (the
 * layout native/batch.cc reads). Public in the declarations, though only
 * backends need it.
 */
export interface EncodedBatch {
  count: number;
  code: Float64Array;
  wide: BigUint64Array;
  /** The memory objects map and access_rw ops refer to by index. */
  memories: Uint8Array[];
  tuples: [string, ...unknown[]][];
  /** The same tuple ops as calls on the backend (for backends without the addon). */
  tupleCalls: (() => unknown)[];
}

/** What a backend reports after running a batch (Backend.runBatch). */
export interface BatchRun {
  /** How many ops succeeded (the index of the failed op, if one failed). */
  done: number;
  /** The result of tuple op k, for those that ran. */
  tupleResults: unknown[];
  error: Error | null;
  injected: boolean;
}
