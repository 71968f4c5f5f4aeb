// The simulator backend: the 6.12 and 7.3 kernels' iommufd and its
// CONFIG_IOMMUFD_TEST mock in TypeScript, errno for errno, on any OS. Like
// main.c's ioctl table, SimBackend only dispatches: each call goes to the file
// of its kernel .c file (ioas.ts, hw-pagetable.ts, device.ts, device-pasid.ts,
// eventq.ts, viommu.ts, vfio-compat.ts, selftest.ts; the objects are declared in
// objects.ts). Argument checks happen in the order the addon and the kernel make
// them: the addon's bounds checks (RangeError, no ioctl, here), then a closed fd
// (EBADF, #run), then the ioctl's own.

import type {
  Backend,
  BatchRun,
  Capabilities,
  EncodedBatch,
  Fault,
  FileRef,
  HwInfo,
  HwQueueAllocRequest,
  HwptAllocRequest,
  IovaRange,
  IovaRanges,
  MockDomainIds,
  NoiommuPa,
  UserRange,
  VfioIommuInfo,
  ViommuAllocRequest,
} from '../backend/contract.js';
import { runBatchByCalls } from '../backend/batch-encoding.js';
import { IommufdError, errnoNumber } from '../base/errors.js';
import {
  IOMMUFD_CMDS,
  IOMMUFD_CMDS_7_3,
  IOMMU_TEST_OPS,
  IOMMU_TEST_OPS_7_3,
  IOMMU_OPTION_HUGE_PAGES as OPTION_HUGE_PAGES,
  IOMMU_OPTION_RLIMIT_MODE as OPTION_RLIMIT_MODE,
  VFIO_API_VERSION,
} from '../uapi/constants.js';
import { firstUnmapped } from '../base/user-pages.js';
import { checkArgumentsOf } from '../backend/args.js';
import { accessDestroy, getHwInfo, idevDestroy } from './device.js';
import { eventqRelease, faultAlloc, faultDestroy, faultRead, faultRespond, veventqAlloc, veventqDestroy, veventqRead } from './eventq.js';
import { type FaultFile, allocFd, simDmabufs, simFds } from './files.js';
import {
  hwptAlloc,
  hwptGetDirtyBitmap,
  hwptInvalidate,
  hwptNestedDestroy,
  hwptPagingDestroy,
  hwptSetDirtyTracking,
} from './hw-pagetable.js';
import { SimErrno, fail } from './io-pagetable.js';
import {
  ioasAlloc,
  ioasAllowIovas,
  ioasChangeProcess,
  ioasCopy,
  ioasDestroy,
  ioasIovaRanges,
  ioasIovaRangesInto,
  ioasMap,
  ioasMapFile,
  ioasNoiommuGetPa,
  ioasOption,
  ioasUnmap,
  optionRlimitMode,
} from './ioas.js';
import { DEFAULT_SIM_KERNEL, SIM_KERNELS, type SimKernel } from './kernels.js';
import { AccessObj, type ObjectOps, ObjType, type SimMapping, SimContext } from './objects.js';
import { PAGE_SIZE, checkedUptr } from './pages.js';
import { simRawIoctl } from './raw.js';
import {
  selftestDestroy,
  testAccessPages,
  testAccessReplaceIoas,
  testAccessRw,
  testAddReserved,
  testCreateAccess,
  testDestroyAccessPages,
  testDevCheckCache,
  testDirty,
  testDmabufGet,
  testDmabufRevoke,
  testMdCheckIotlb,
  testMdCheckMap,
  testMdCheckRefs,
  testMockDomain,
  testMockDomainReplace,
  testPasidAttach,
  testPasidCheckHwpt,
  testPasidDetach,
  testPasidReplace,
  testSetTempMemoryLimit,
  testStaccessRelease,
  testTriggerIopf,
  testTriggerVevent,
} from './selftest.js';
import { vfioCheckExtension, vfioIoas, vfioIommuGetInfo, vfioMapDma, vfioSetIommu, vfioUnmapDma } from './vfio-compat.js';
import { hwQueueAlloc, hwQueueDestroy, vdeviceAlloc, vdeviceDestroy, viommuAlloc, viommuDestroy } from './viommu.js';

const PAGE = BigInt(PAGE_SIZE);

/** What the simulator models: the rest answers like a kernel without it. */
const SIMULATED_IOCTLS = new Set([
  ...Object.keys(IOMMUFD_CMDS),
  'VFIO_GET_API_VERSION',
  'VFIO_CHECK_EXTENSION',
  'VFIO_SET_IOMMU',
  'VFIO_IOMMU_GET_INFO',
  'VFIO_IOMMU_MAP_DMA',
  'VFIO_IOMMU_UNMAP_DMA',
]);
const SIMULATED_TEST_OPS = new Set(Object.keys(IOMMU_TEST_OPS));
/**
 * What the 7.3 model implements of 7.3's new ioctls and test ops: none yet.
 * capabilities() lists them all (false), so requires() of one skips with the reason.
 */
const SIMULATED_7_3_IOCTLS = new Set<string>();
const SIMULATED_7_3_TEST_OPS = new Set<string>();
// io-pagetable.ts mapFilePages() / pages.ts SimFile: 7.3's file mappings, and moving them to another process.
for (const ioctl of ['IOMMU_IOAS_MAP_FILE', 'IOMMU_IOAS_CHANGE_PROCESS']) SIMULATED_7_3_IOCTLS.add(ioctl);
// device-pasid.ts: 7.3's PASID attach/replace/detach/check on a mock device.
for (const op of ['PASID_ATTACH', 'PASID_REPLACE', 'PASID_DETACH', 'PASID_CHECK_HWPT']) SIMULATED_7_3_TEST_OPS.add(op);
// viommu.ts, eventq.ts, selftest.ts: 7.3's vIOMMU, vDEVICE, vEVENTQ and HW queue objects, and the mock's vIOMMU test ops.
for (const ioctl of ['IOMMU_VIOMMU_ALLOC', 'IOMMU_VDEVICE_ALLOC', 'IOMMU_VEVENTQ_ALLOC', 'IOMMU_HW_QUEUE_ALLOC']) SIMULATED_7_3_IOCTLS.add(ioctl);
for (const op of ['DEV_CHECK_CACHE', 'TRIGGER_VEVENT']) SIMULATED_7_3_TEST_OPS.add(op);
// mock-domain.ts TestDmabuf / pages.ts allocDmabuf(): 7.3's mock dma-buf, mapped with IOMMU_IOAS_MAP_FILE, and its revocation.
for (const op of ['DMABUF_GET', 'DMABUF_REVOKE']) SIMULATED_7_3_TEST_OPS.add(op);

// noiommu_get_pa: IOMMU_IOAS_NOIOMMU_GET_PA's checks; no area ever sits in a no-IOMMU domain here.
SIMULATED_7_3_IOCTLS.add('IOMMU_IOAS_NOIOMMU_GET_PA');

/**
 * main.c's iommufd_object_ops[]: each object type's destroy, from the file of
 * its kernel .c file.
 */
const OBJECT_OPS: ObjectOps = {
  [ObjType.DEVICE]: idevDestroy,
  [ObjType.HWPT_PAGING]: hwptPagingDestroy,
  [ObjType.HWPT_NESTED]: hwptNestedDestroy,
  [ObjType.IOAS]: ioasDestroy,
  [ObjType.ACCESS]: accessDestroy,
  [ObjType.FAULT]: faultDestroy,
  [ObjType.SELFTEST]: selftestDestroy,
  [ObjType.VIOMMU]: viommuDestroy,
  [ObjType.VDEVICE]: vdeviceDestroy,
  [ObjType.VEVENTQ]: veventqDestroy,
  [ObjType.HW_QUEUE]: hwQueueDestroy,
};

export class SimBackend implements Backend {
  readonly name = 'sim';
  readonly #ctx: SimContext;
  /** The kernel whose semantics this instance follows, errno for errno. */
  readonly kernel: SimKernel;
  /** The uAPI of the modelled kernel (rawIoctl() decodes its commands). */
  get uapiVersion(): SimKernel {
    return this.kernel;
  }

  private constructor(kernel: SimKernel) {
    this.kernel = kernel;
    this.#ctx = new SimContext(kernel, OBJECT_OPS);
  }

  /** Like open("/dev/iommu") on `kernel`: a new, empty iommufd. */
  static open(kernel: SimKernel = DEFAULT_SIM_KERNEL): SimBackend {
    if (!(SIM_KERNELS as readonly string[]).includes(kernel))
      throw new TypeError(`the simulator models kernels ${SIM_KERNELS.join(' and ')}, not ${String(kernel)}`);
    return new SimBackend(kernel);
  }

  /** An ioctl of this iommufd: EBADF once closed, else its errors (#fileOp). */
  #run<T>(op: string, fn: () => T): T {
    if (this.#ctx.closed) throw new IommufdError(errnoNumber('EBADF'), op);
    return this.#fileOp(op, fn);
  }

  /** A call whose SimErrno failures become IommufdErrors of `op` (no closed-iommufd check: read() and write() of other fds). */
  #fileOp<T>(op: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof SimErrno) throw new IommufdError(errnoNumber(e.code), op);
      throw e;
    }
  }

  /** @internal For tests: live objects in the table. */
  get objectCount(): number {
    return this.#ctx.objects.size;
  }

  close(): void {
    if (this.#ctx.closed) throw new IommufdError(errnoNumber('EBADF'), 'close');
    this.#ctx.close();
  }

  capabilities(): Capabilities {
    if (this.#ctx.closed) throw new IommufdError(errnoNumber('EBADF'), 'IOMMU_TEST_CMD');
    const ioctls: Record<string, boolean> = {};
    for (const name of Object.keys(IOMMUFD_CMDS)) ioctls[name] = SIMULATED_IOCTLS.has(name);
    for (const name of Object.keys(IOMMUFD_CMDS_7_3)) ioctls[name] = this.kernel !== '6.12' && SIMULATED_7_3_IOCTLS.has(name);
    for (const name of ['VFIO_GET_API_VERSION', 'VFIO_CHECK_EXTENSION', 'VFIO_SET_IOMMU', 'VFIO_IOMMU_GET_INFO', 'VFIO_IOMMU_MAP_DMA', 'VFIO_IOMMU_UNMAP_DMA'])
      ioctls[name] = SIMULATED_IOCTLS.has(name);
    const testOps: Record<string, boolean> = {};
    for (const name of Object.keys(IOMMU_TEST_OPS)) testOps[name] = SIMULATED_TEST_OPS.has(name);
    for (const name of Object.keys(IOMMU_TEST_OPS_7_3)) testOps[name] = this.kernel !== '6.12' && SIMULATED_7_3_TEST_OPS.has(name);
    return { backend: 'sim', kernel: `sim-${this.kernel}`, ioctls, testOps, failNth: false };
  }

  runBatch(batch: EncodedBatch, out: BigUint64Array, failNth: number): BatchRun {
    // No fault injection in the simulator (capabilities().failNth is false).
    if (failNth > 0) throw new IommufdError(errnoNumber('EOPNOTSUPP'), 'fail-nth', '(the simulator has no fault injection)');
    return runBatchByCalls(this, batch, out);
  }

  // ---- objects and IOAS ioctls (ioas.ts) --------------------------------------

  destroy(id: number): void {
    this.#run('IOMMU_DESTROY', () => this.#ctx.destroyId(id));
  }

  ioasAlloc(): number {
    return this.#run('IOMMU_IOAS_ALLOC', () => ioasAlloc(this.#ctx));
  }

  ioasMap(ioasId: number, flags: number, memory: UserRange, iova: bigint): bigint {
    const uptr = checkedUptr(memory);
    return this.#run('IOMMU_IOAS_MAP', () => ioasMap(this.#ctx, ioasId, flags, memory, uptr, iova));
  }

  ioasMapFile(ioasId: number, flags: number, file: FileRef, start: bigint, length: bigint, iova: bigint): bigint {
    return this.#run('IOMMU_IOAS_MAP_FILE', () => ioasMapFile(this.#ctx, ioasId, flags, file, start, length, iova));
  }

  ioasChangeProcess(): void {
    this.#run('IOMMU_IOAS_CHANGE_PROCESS', () => ioasChangeProcess(this.#ctx));
  }

  ioasNoiommuGetPa(ioasId: number, flags: number, iova: bigint, length: bigint, reserved = 0): NoiommuPa {
    return this.#run('IOMMU_IOAS_NOIOMMU_GET_PA', () => ioasNoiommuGetPa(this.#ctx, ioasId, flags, iova, length, reserved));
  }

  ioasUnmap(ioasId: number, iova: bigint, length: bigint): bigint {
    return this.#run('IOMMU_IOAS_UNMAP', () => ioasUnmap(this.#ctx, ioasId, iova, length));
  }

  ioasIovaRanges(ioasId: number): IovaRanges {
    return this.#run('IOMMU_IOAS_IOVA_RANGES', () => ioasIovaRanges(this.#ctx, ioasId));
  }

  /** The caller's array of `numIovas` ranges; EMSGSIZE carries the number of ranges. */
  ioasIovaRangesInto(ioasId: number, out: BigUint64Array, numIovas: number): { numIovas: number; alignment: bigint } {
    if (2 * numIovas > out.length) throw new RangeError(`${numIovas} ranges do not fit in ${out.length / 2}`);
    const counted = { count: 0 };
    try {
      return this.#run('IOMMU_IOAS_IOVA_RANGES', () => ioasIovaRangesInto(this.#ctx, ioasId, out, numIovas, counted));
    } catch (e) {
      if (e instanceof IommufdError && counted.count > numIovas) (e as IommufdError & { numIovas: number }).numIovas = counted.count;
      throw e;
    }
  }

  ioasAllowIovas(ioasId: number, ranges: IovaRange[]): void {
    this.#run('IOMMU_IOAS_ALLOW_IOVAS', () => ioasAllowIovas(this.#ctx, ioasId, ranges));
  }

  ioasCopy(dstIoasId: number, srcIoasId: number, flags: number, dstIova: bigint, srcIova: bigint, length: bigint): bigint {
    return this.#run('IOMMU_IOAS_COPY', () => ioasCopy(this.#ctx, dstIoasId, srcIoasId, flags, dstIova, srcIova, length));
  }

  /** iommufd_option(): each option is ioas.c's. */
  option(optionId: number, op: number, objectId: number, val64: bigint): bigint {
    return this.#run('IOMMU_OPTION', () => {
      if (optionId === OPTION_RLIMIT_MODE) return optionRlimitMode(this.#ctx, op, objectId, val64);
      if (optionId === OPTION_HUGE_PAGES) return ioasOption(this.#ctx, op, objectId, val64);
      fail('EOPNOTSUPP');
    });
  }

  // ---- HWPT, hw info, dirty tracking (hw-pagetable.ts, device.ts) ---------------

  hwptAlloc(request: HwptAllocRequest): number {
    // A NULL data_uptr with a length (bad-input tests): the driver's copy faults.
    const nullData = !request.data && (request.nullDataLen ?? 0) > 0;
    const data = nullData ? new Uint8Array(request.nullDataLen!) : request.data && request.data.length > 0 ? request.data : null;
    if (data && !nullData) checkedUptr({ bytes: data, offset: 0, length: data.length });
    const dataGone = !!data && !nullData && firstUnmapped(data.buffer, data.byteOffset, data.byteOffset + data.length) >= 0;
    return this.#run('IOMMU_HWPT_ALLOC', () => hwptAlloc(this.#ctx, request, data, nullData, dataGone));
  }

  getHwInfo(devId: number, data: Uint8Array, flags = 0, inDataType = 0): HwInfo {
    if (data.length > 0) checkedUptr({ bytes: data, offset: 0, length: data.length });
    return this.#run('IOMMU_GET_HW_INFO', () => getHwInfo(this.#ctx, devId, data, flags, inDataType));
  }

  hwptSetDirtyTracking(hwptId: number, enable: boolean): void {
    this.#run('IOMMU_HWPT_SET_DIRTY_TRACKING', () => hwptSetDirtyTracking(this.#ctx, hwptId, enable));
  }

  hwptGetDirtyBitmap(hwptId: number, flags: number, iova: bigint, length: bigint, pageSize: bigint, bitmap: BigUint64Array | Uint8Array): void {
    // The addon: one bit per page, in whole u64 words.
    const bits = pageSize === 0n ? 0n : (length + pageSize - 1n) / pageSize;
    const bytes = ((bits + 63n) / 64n) * 8n;
    if (bytes > BigInt(bitmap.byteLength)) throw new RangeError(`bitmap holds ${bitmap.byteLength * 8} bits; the range needs ${bits}`);
    // The addon's CheckedUptr(): an empty bitmap has no memory to point at.
    checkedUptr({ bytes: new Uint8Array(bitmap.buffer, bitmap.byteOffset, bitmap.byteLength), offset: 0, length: Number(bytes) });
    this.#run('IOMMU_HWPT_GET_DIRTY_BITMAP', () => hwptGetDirtyBitmap(this.#ctx, hwptId, flags, iova, length, pageSize, bitmap, bits));
  }

  /** A failure carries the entries handled before it. */
  hwptInvalidate(hwptId: number, dataType: number, entryLen: number, entries: Uint8Array | null, entryNum: number): number {
    const total = entryLen * entryNum;
    if (entries && total > entries.length)
      throw new RangeError(`${entryNum} entries of ${entryLen} bytes exceed the ${entries.length}-byte array`);
    if (entries && total > 0) checkedUptr({ bytes: entries, offset: 0, length: total });
    // data_uptr is NULL for null entries, and (like the addon) for an empty array.
    const nullUptr = !entries || entries.length === 0;
    const progress = { handled: 0 };
    try {
      return this.#run('IOMMU_HWPT_INVALIDATE', () => hwptInvalidate(this.#ctx, hwptId, dataType, entryLen, entries, entryNum, nullUptr, progress));
    } catch (e) {
      if (e instanceof IommufdError) (e as IommufdError & { handled: number }).handled = progress.handled;
      throw e;
    }
  }

  // ---- fault queues and vEVENTQs (eventq.ts) and their fds ------------------------

  faultQueueAlloc(): { faultId: number; faultFd: number } {
    return this.#run('IOMMU_FAULT_QUEUE_ALLOC', () => {
      const ctx = this.#ctx;
      const fault = faultAlloc(ctx);
      return { faultId: fault.id, faultFd: allocFd({ fault, ctx }) };
    });
  }

  #faultFile(fd: number, op: string): FaultFile {
    const file = simFds.get(fd);
    if (!file) throw new IommufdError(errnoNumber('EBADF'), op);
    // An access fd has no read/write file operations; a vEVENTQ's are not these.
    if (file instanceof AccessObj || 'veventq' in file) throw new IommufdError(errnoNumber('EINVAL'), op);
    return file;
  }

  faultRead(faultFd: number, maxFaults: number): Fault[] {
    const op = 'read(fault fd)';
    const { fault } = this.#faultFile(faultFd, op);
    return this.#fileOp(op, () => faultRead(fault, maxFaults));
  }

  faultRespond(faultFd: number, responses: { cookie: number; code: number }[]): number {
    const op = 'write(fault fd)';
    const { fault } = this.#faultFile(faultFd, op);
    return this.#fileOp(op, () => faultRespond(fault, responses));
  }

  /** close() of a fault fd: iommufd_fault_fops_release(). */
  closeFault(faultFd: number): void {
    const file = simFds.get(faultFd);
    if (!file) throw new IommufdError(errnoNumber('EBADF'), 'close');
    if (file instanceof AccessObj) return this.closeAccess(faultFd);
    if ('veventq' in file) return this.closeVeventq(faultFd);
    simFds.delete(faultFd);
    eventqRelease(file.ctx, file.fault);
  }

  /** The ioctl is 7.3's: 6.12's iommufd_fops_ioctl() finds no entry for it. */
  #viommuIoctl<T>(op: string, fn: () => T): T {
    return this.#run(op, () => {
      if (this.kernel === '6.12') fail('ENOTTY');
      return fn();
    });
  }

  /** iommufd_veventq_alloc(): the fd holds the object and the context. */
  veventqAlloc(flags: number, viommuId: number, type: number, depth: number): { veventqId: number; veventqFd: number } {
    return this.#viommuIoctl('IOMMU_VEVENTQ_ALLOC', () => {
      const ctx = this.#ctx;
      const veventq = veventqAlloc(ctx, flags, viommuId, type, depth);
      ctx.accessCreated(); // iommufd_ctx_get()
      return { veventqId: veventq.id, veventqFd: allocFd({ veventq, ctx }) };
    });
  }

  veventqRead(veventqFd: number, buffer: Uint8Array): number {
    const op = 'read(veventq fd)';
    if (buffer.length > 0) checkedUptr({ bytes: buffer, offset: 0, length: buffer.length });
    const file = simFds.get(veventqFd);
    if (!file) throw new IommufdError(errnoNumber('EBADF'), op);
    if (!('veventq' in file)) throw new IommufdError(errnoNumber('EINVAL'), op);
    return this.#fileOp(op, () => veventqRead(file.veventq, buffer));
  }

  /** close() of a vEVENTQ fd: iommufd_eventq_fops_release(). */
  closeVeventq(veventqFd: number): void {
    const file = simFds.get(veventqFd);
    if (!file) throw new IommufdError(errnoNumber('EBADF'), 'close');
    if (!('veventq' in file)) return this.closeFault(veventqFd);
    simFds.delete(veventqFd);
    eventqRelease(file.ctx, file.veventq);
  }

  // ---- 7.3's vIOMMU objects (viommu.ts); 6.12 has none of these ioctls (ENOTTY) ----

  /**
   * iommufd_viommu_alloc_ioctl(). `nullDataLen` (raw ioctls only, lib/sim/raw.ts):
   * with `data` null, the data_len sent with a NULL data_uptr.
   */
  viommuAlloc(request: ViommuAllocRequest & { nullDataLen?: number }): number {
    const { flags, type, devId, hwptId, data } = request;
    if (data && data.length > 0) checkedUptr({ bytes: data, offset: 0, length: data.length });
    const nullDataLen = data ? 0 : (request.nullDataLen ?? 0);
    return this.#viommuIoctl('IOMMU_VIOMMU_ALLOC', () => viommuAlloc(this.#ctx, flags, type, devId, hwptId, data, nullDataLen));
  }

  vdeviceAlloc(viommuId: number, devId: number, virtId: bigint): number {
    return this.#viommuIoctl('IOMMU_VDEVICE_ALLOC', () => vdeviceAlloc(this.#ctx, viommuId, devId, virtId));
  }

  hwQueueAlloc(request: HwQueueAllocRequest): number {
    return this.#viommuIoctl('IOMMU_HW_QUEUE_ALLOC', () => hwQueueAlloc(this.#ctx, request));
  }

  // Mappings of the iommufd by handle, each holding its owner (iommufd_fops_vma_open()).
  readonly #mappings = new Map<number, SimMapping>();
  #nextMapping = 1;

  /** iommufd_fops_mmap(): only a whole region a driver offered, at its offset (ENXIO otherwise). */
  mmap(offset: bigint, length: number): number {
    const op = 'mmap(iommufd)';
    // The addon: a page-aligned offset and a length, or no mmap() at all.
    if (length === 0 || offset % PAGE !== 0n) throw new RangeError('an MMIO mapping needs a page-aligned file offset and a non-zero length');
    if (this.#ctx.closed) throw new IommufdError(errnoNumber('EBADF'), op);
    // mmap(2) maps whole pages.
    const pages = Math.ceil(length / PAGE_SIZE) * PAGE_SIZE;
    const region = this.#ctx.mmaps.get(offset);
    if (!region || region.length !== pages) throw new IommufdError(errnoNumber('ENXIO'), op);
    region.owner.users++;
    const handle = this.#nextMapping++;
    this.#mappings.set(handle, { owner: region.owner, length: pages });
    return handle;
  }

  /** A u32 of the mock vIOMMU's page: in_data first, zeros after. */
  mmapRead32(handle: number, offset: number): number {
    const mapping = this.#mappings.get(handle);
    if (!mapping) throw new RangeError(`no mapping ${handle} of this iommufd (unmapped already?)`);
    if (offset % 4 !== 0 || offset + 4 > mapping.length)
      throw new RangeError(`MMIO access [${offset}, +4) is outside the ${mapping.length}-byte mapping or unaligned`);
    return offset === 0 ? mapping.owner.pageValue : 0;
  }

  /** munmap(): iommufd_fops_vma_close(). */
  munmap(handle: number): void {
    const mapping = this.#mappings.get(handle);
    if (!mapping) throw new RangeError(`no mapping ${handle} of this iommufd (unmapped already?)`);
    this.#mappings.delete(handle);
    mapping.owner.users--;
  }

  // ---- raw ioctls (raw.ts) --------------------------------------------------------

  /** A raw ioctl, decoded as the modelled kernel's driver decodes it (lib/sim/raw.ts). */
  rawIoctl(request: number, arg: Uint8Array | number | null, name: string): number {
    if (this.#ctx.closed) throw new IommufdError(errnoNumber('EBADF'), name);
    return simRawIoctl(this, request, arg, name);
  }

  // ---- VFIO compatibility (vfio-compat.ts) ------------------------------------------

  vfioIoas(op: number, ioasId: number): number {
    return this.#run('IOMMU_VFIO_IOAS', () => vfioIoas(this.#ctx, op, ioasId));
  }

  vfioGetApiVersion(): number {
    return this.#run('VFIO_GET_API_VERSION', () => VFIO_API_VERSION);
  }

  vfioCheckExtension(extension: number): number {
    return this.#run('VFIO_CHECK_EXTENSION', () => vfioCheckExtension(this.#ctx, extension));
  }

  vfioSetIommu(type: number): void {
    this.#run('VFIO_SET_IOMMU', () => vfioSetIommu(this.#ctx, type));
  }

  /** iommufd_vfio_iommu_get_info() with the argsz handshake the addon makes, parsed. */
  vfioIommuGetInfo(): VfioIommuInfo {
    return this.#run('VFIO_IOMMU_GET_INFO', () => vfioIommuGetInfo(this.#ctx));
  }

  vfioMapDma(flags: number, memory: UserRange, iova: bigint): void {
    const uptr = checkedUptr(memory);
    this.#run('VFIO_IOMMU_MAP_DMA', () => vfioMapDma(this.#ctx, flags, memory, uptr, iova));
  }

  vfioUnmapDma(flags: number, iova: bigint, size: bigint): bigint {
    return this.#run('VFIO_IOMMU_UNMAP_DMA', () => vfioUnmapDma(this.#ctx, flags, iova, size));
  }

  // ---- IOMMU_TEST_CMD (selftest.ts) ----------------------------------------------

  addReserved(ioasId: number, start: bigint, length: bigint): void {
    this.#run('IOMMU_TEST_OP_ADD_RESERVED', () => testAddReserved(this.#ctx, ioasId, start, length));
  }

  mockDomain(ptId: number, devFlags?: number): MockDomainIds {
    const op = devFlags === undefined ? 'IOMMU_TEST_OP_MOCK_DOMAIN' : 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS';
    return this.#run(op, () => testMockDomain(this.#ctx, ptId, devFlags));
  }

  mockDomainReplace(stdevId: number, ptId: number): number {
    return this.#run('IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', () => testMockDomainReplace(this.#ctx, stdevId, ptId));
  }

  pasidAttach(stdevId: number, pasid: number, ptId: number): number {
    return this.#run('IOMMU_TEST_OP_PASID_ATTACH', () => testPasidAttach(this.#ctx, stdevId, pasid, ptId));
  }

  pasidReplace(stdevId: number, pasid: number, ptId: number): number {
    return this.#run('IOMMU_TEST_OP_PASID_REPLACE', () => testPasidReplace(this.#ctx, stdevId, pasid, ptId));
  }

  pasidDetach(stdevId: number, pasid: number): void {
    this.#run('IOMMU_TEST_OP_PASID_DETACH', () => testPasidDetach(this.#ctx, stdevId, pasid));
  }

  pasidCheckHwpt(stdevId: number, pasid: number, hwptId: number): void {
    this.#run('IOMMU_TEST_OP_PASID_CHECK_HWPT', () => testPasidCheckHwpt(this.#ctx, stdevId, pasid, hwptId));
  }

  mdCheckIotlb(hwptId: number, iotlbId: number, iotlb: number): void {
    this.#run('IOMMU_TEST_OP_MD_CHECK_IOTLB', () => testMdCheckIotlb(this.#ctx, hwptId, iotlbId, iotlb));
  }

  dirty(hwptId: number, flags: number, iova: bigint, length: bigint, pageSize: bigint, bitmap: Uint8Array): bigint {
    // The addon: the mock reads ceil(length / page_size / 8) bytes of bitmap.
    const bits = pageSize === 0n ? 0n : length / pageSize;
    const bytes = (bits + 7n) / 8n;
    if (bytes > BigInt(bitmap.length)) throw new RangeError(`bitmap holds ${bitmap.length * 8} bits; the range needs ${bits}`);
    const uptr = bitmap.length === 0 ? 0 : checkedUptr({ bytes: bitmap, offset: 0, length: Number(bytes) });
    void flags; // read by the kernel, used for nothing
    return this.#run('IOMMU_TEST_OP_DIRTY', () => testDirty(this.#ctx, hwptId, iova, length, pageSize, bitmap, bytes, uptr));
  }

  triggerIopf(devId: number, pasid: number, grpid: number, perm: number, addr: bigint): void {
    this.#run('IOMMU_TEST_OP_TRIGGER_IOPF', () => testTriggerIopf(this.#ctx, devId, pasid, grpid, perm, addr));
  }

  mdCheckMap(hwptId: number, iova: bigint, memory: UserRange): void {
    const uptr = checkedUptr(memory);
    this.#run('IOMMU_TEST_OP_MD_CHECK_MAP', () => testMdCheckMap(this.#ctx, hwptId, iova, memory, uptr));
  }

  mdCheckRefs(memory: UserRange, refs: number): void {
    const uptr = checkedUptr(memory);
    this.#run('IOMMU_TEST_OP_MD_CHECK_REFS', () => testMdCheckRefs(memory, uptr, refs));
  }

  createAccess(ioasId: number, flags: number): number {
    return this.#run('IOMMU_TEST_OP_CREATE_ACCESS', () => testCreateAccess(this.#ctx, ioasId, flags));
  }

  /** close() of the access fd: iommufd_test_staccess_release(). */
  closeAccess(fd: number): void {
    const access = simFds.get(fd);
    if (!access) throw new IommufdError(errnoNumber('EBADF'), 'close');
    if (!(access instanceof AccessObj)) return this.closeFault(fd);
    simFds.delete(fd);
    testStaccessRelease(access);
  }

  accessPages(fd: number, flags: number, iova: bigint, length: number, verify: UserRange | null): number {
    let uptr = 0;
    if (verify) {
      const head = Number(iova % PAGE);
      const tail = (PAGE_SIZE - Number((iova + BigInt(length)) % PAGE)) % PAGE_SIZE;
      uptr = checkedUptr({ bytes: verify.bytes, offset: verify.offset, length }, head, tail);
    }
    return this.#run('IOMMU_TEST_OP_ACCESS_PAGES', () => testAccessPages(fd, flags, iova, length, verify, uptr));
  }

  destroyAccessPages(fd: number, accessPagesId: number): void {
    this.#run('IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', () => testDestroyAccessPages(fd, accessPagesId));
  }

  accessRw(fd: number, flags: number, iova: bigint, memory: UserRange): void {
    checkedUptr(memory);
    this.#run('IOMMU_TEST_OP_ACCESS_RW', () => testAccessRw(fd, flags, iova, memory));
  }

  accessReplaceIoas(fd: number, ioasId: number): void {
    this.#run('IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', () => testAccessReplaceIoas(fd, ioasId));
  }

  setTempMemoryLimit(bytes: number): void {
    this.#run('IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT', () => testSetTempMemoryLimit(bytes));
  }

  devCheckCache(devId: number, cacheId: number, value: number): void {
    this.#run('IOMMU_TEST_OP_DEV_CHECK_CACHE', () => testDevCheckCache(this.#ctx, devId, cacheId, value));
  }

  triggerVevent(devId: number): void {
    this.#run('IOMMU_TEST_OP_TRIGGER_VEVENT', () => testTriggerVevent(this.#ctx, devId));
  }

  /** Open flags change nothing modelled. */
  dmabufGet(length: number, _openFlags: number): number {
    return this.#run('IOMMU_TEST_OP_DMABUF_GET', () => testDmabufGet(this.#ctx, length));
  }

  dmabufRevoke(dmabufFd: number, revoked: boolean): void {
    this.#run('IOMMU_TEST_OP_DMABUF_REVOKE', () => testDmabufRevoke(this.#ctx, dmabufFd, revoked));
  }

  /** close() of a mock dma-buf's descriptor: the buffer lives on while mapped. */
  closeDmabuf(dmabufFd: number): void {
    if (!simDmabufs.delete(dmabufFd)) throw new IommufdError(errnoNumber('EBADF'), 'close');
  }
}

// Every Backend method checks its argument types first (lib/backend-args.ts).
checkArgumentsOf(SimBackend);
