// The Backend over the real kernel: marshals arguments to the addon, nothing more.
import { checkArgumentsOf } from '../backend/args.js';
import { describe } from '../base/validate.js';
import { readdirSync, readlinkSync } from 'node:fs';
import { release } from 'node:os';
import type { BatchRun, EncodedBatch } from '../backend/contract.js';
import type {
  Backend,
  Capabilities,
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
import { ClosedError, IommufdError, errnoNumber } from '../base/errors.js';
import { IOMMUFD_CMDS, IOMMUFD_CMDS_7_3, IOMMU_TEST_OPS, IOMMU_TEST_OPS_7_3 } from '../uapi/constants.js';
import { UAPI_LAYOUTS, type UapiVersion } from '../uapi/layout.js';
import { parseVfioIommuInfo } from '../backend/vfio-info.js';
import { type Addon, type MmioHandle, addon } from './binding.js';

export class NativeBackend implements Backend {
  readonly name = 'native';
  readonly #addon: Addon;
  /** The table native/cmd.h picked for the running kernel (the one native/raw.cc checks by). */
  get uapiVersion(): UapiVersion {
    const v = this.#addon.uapiVersion();
    if (!Object.hasOwn(UAPI_LAYOUTS, v)) throw new Error(`the addon sizes commands by uAPI ${v}, which lib/uapi/layout.ts lacks: rebuild`);
    return v as UapiVersion;
  }
  readonly #openFd: number;
  #closed = false;

  /** Takes ownership of `fd`, an open /dev/iommu. */
  constructor(fd: number) {
    this.#addon = addon();
    this.#openFd = fd;
  }

  // Every op reads the descriptor here: once closed, its number may already
  // name another file (the next open() reuses it), so a stale backend must not
  // reach whatever the number names now.
  get #fd(): number {
    if (this.#closed) throw new ClosedError(`iommufd fd ${this.#openFd} is closed`);
    return this.#openFd;
  }

  /** Opens `path` and checks that it is an iommufd (ENOTTY from open() otherwise). */
  static open(path: string): NativeBackend {
    const backend = new NativeBackend(addon().open(path));
    // IOMMU_DESTROY with size 0 is EINVAL on an iommufd and ENOTTY on anything else.
    if (backend.probeIoctl(IOMMUFD_CMDS.IOMMU_DESTROY) === errnoNumber('ENOTTY')) {
      backend.close();
      throw new IommufdError(errnoNumber('ENOTTY'), 'open', `(${path} is not an iommufd)`);
    }
    return backend;
  }

  /**
   * Takes ownership of `fd`, an iommufd opened elsewhere (e.g. inherited from a
   * parent process), after checking that it answers like one: IOMMU_DESTROY
   * with size 0 is EINVAL on an iommufd, ENOTTY on other files. It is made
   * close-on-exec.
   */
  static adopt(fd: number): NativeBackend {
    const backend = new NativeBackend(fd);
    const errno = backend.probeIoctl(IOMMUFD_CMDS.IOMMU_DESTROY);
    if (errno === errnoNumber('EINVAL')) {
      // Ours now: it must not leak into processes this one starts.
      addon().fdSetCloexec(fd);
      return backend;
    }
    if (errno === errnoNumber('EBADF')) throw new IommufdError(errno, 'adopt', `(fd ${fd} is not open)`);
    throw new IommufdError(errnoNumber('ENOTTY'), 'adopt', `(fd ${fd} is not an iommufd)`);
  }

  get fd(): number {
    return this.#fd;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#addon.close(this.#openFd);
  }

  destroy(id: number): void {
    this.#addon.destroy(this.#fd, id);
  }

  ioasAlloc(): number {
    return this.#addon.ioasAlloc(this.#fd);
  }

  ioasMap(ioasId: number, flags: number, m: UserRange, iova: bigint): bigint {
    if (typeof m !== 'object' || m === null) badRange('ioasMap', m);
    return this.#addon.ioasMap(this.#fd, ioasId, flags, m.bytes, m.offset, m.length, iova);
  }

  ioasMapFile(ioasId: number, flags: number, file: FileRef, start: bigint, length: bigint, iova: bigint): bigint {
    return this.#addon.ioasMapFile(this.#fd, ioasId, flags, file.fd, start, length, iova);
  }

  ioasChangeProcess(): void {
    this.#addon.ioasChangeProcess(this.#fd);
  }

  ioasNoiommuGetPa(ioasId: number, flags: number, iova: bigint, length: bigint, reserved = 0): NoiommuPa {
    return this.#addon.ioasNoiommuGetPa(this.#fd, ioasId, flags, reserved, iova, length);
  }

  ioasUnmap(ioasId: number, iova: bigint, length: bigint): bigint {
    return this.#addon.ioasUnmap(this.#fd, ioasId, iova, length);
  }

  ioasIovaRanges(ioasId: number): IovaRanges {
    const { ranges, alignment } = this.#addon.ioasIovaRanges(this.#fd, ioasId);
    const out = [];
    for (let i = 0; i < ranges.length; i += 2) out.push({ start: ranges[i]!, last: ranges[i + 1]! });
    return { ranges: out, alignment };
  }

  ioasIovaRangesInto(ioasId: number, out: BigUint64Array, numIovas: number): { numIovas: number; alignment: bigint } {
    return this.#addon.ioasIovaRanges(this.#fd, ioasId, out, numIovas);
  }

  ioasAllowIovas(ioasId: number, ranges: IovaRange[]): void {
    this.#addon.ioasAllowIovas(this.#fd, ioasId, BigUint64Array.from(ranges.flatMap((r) => [r.start, r.last])));
  }

  ioasCopy(dst: number, src: number, flags: number, dstIova: bigint, srcIova: bigint, length: bigint): bigint {
    return this.#addon.ioasCopy(this.#fd, dst, src, flags, dstIova, srcIova, length);
  }

  option(optionId: number, op: number, objectId: number, val64: bigint): bigint {
    return this.#addon.option(this.#fd, optionId, op, objectId, val64);
  }

  vfioIoas(op: number, ioasId: number): number {
    return this.#addon.vfioIoas(this.#fd, op, ioasId);
  }

  hwptAlloc(r: HwptAllocRequest): number {
    return this.#addon.hwptAlloc(this.#fd, r.flags, r.devId, r.ptId, r.dataType, r.data, r.faultId, r.nullDataLen ?? 0);
  }

  getHwInfo(devId: number, data: Uint8Array, flags = 0, inDataType = 0): HwInfo {
    return this.#addon.getHwInfo(this.#fd, devId, data, flags, inDataType);
  }

  hwptSetDirtyTracking(hwptId: number, enable: boolean): void {
    this.#addon.hwptSetDirtyTracking(this.#fd, hwptId, enable ? 1 : 0);
  }

  hwptGetDirtyBitmap(hwptId: number, flags: number, iova: bigint, length: bigint, pageSize: bigint, bitmap: BigUint64Array | Uint8Array): void {
    this.#addon.hwptGetDirtyBitmap(this.#fd, hwptId, flags, iova, length, pageSize, bitmap);
  }

  hwptInvalidate(hwptId: number, dataType: number, entryLen: number, entries: Uint8Array | null, entryNum: number): number {
    return this.#addon.hwptInvalidate(this.#fd, hwptId, dataType, entryLen, entries, entryNum);
  }

  faultQueueAlloc(): { faultId: number; faultFd: number } {
    return this.#addon.faultQueueAlloc(this.#fd);
  }

  faultRead(faultFd: number, maxFaults: number): Fault[] {
    return this.#addon.faultRead(faultFd, maxFaults);
  }

  faultRespond(faultFd: number, responses: { cookie: number; code: number }[]): number {
    return this.#addon.faultRespond(
      faultFd,
      responses.map((r) => r.cookie),
      responses.map((r) => r.code),
    );
  }

  closeFault(faultFd: number): void {
    this.#addon.close(faultFd);
  }

  viommuAlloc(request: ViommuAllocRequest): number {
    const { flags, type, devId, hwptId, data } = request;
    return this.#addon.viommuAlloc(this.#fd, flags, type, devId, hwptId, data);
  }

  vdeviceAlloc(viommuId: number, devId: number, virtId: bigint): number {
    return this.#addon.vdeviceAlloc(this.#fd, viommuId, devId, virtId);
  }

  veventqAlloc(flags: number, viommuId: number, type: number, depth: number): { veventqId: number; veventqFd: number } {
    return this.#addon.veventqAlloc(this.#fd, flags, viommuId, type, depth);
  }

  veventqRead(veventqFd: number, buffer: Uint8Array): number {
    return this.#addon.veventqRead(veventqFd, buffer);
  }

  closeVeventq(veventqFd: number): void {
    this.#addon.close(veventqFd);
  }

  hwQueueAlloc(request: HwQueueAllocRequest): number {
    const { flags, viommuId, type, index, nestingParentIova, length } = request;
    return this.#addon.hwQueueAlloc(this.#fd, flags, viommuId, type, index, nestingParentIova, length);
  }

  // Mappings of the iommufd by handle: the Backend contract passes plain numbers.
  readonly #mappings = new Map<number, MmioHandle>();
  #nextMapping = 1;

  mmap(offset: bigint, length: number): number {
    const handle = this.#addon.iommufdMmap(this.#fd, offset, length);
    const id = this.#nextMapping++;
    this.#mappings.set(id, handle);
    return id;
  }

  mmapRead32(handle: number, offset: number): number {
    return this.#addon.mmioRead32(this.#mapping(handle), offset);
  }

  munmap(handle: number): void {
    this.#addon.mmioUnmap(this.#mapping(handle));
    this.#mappings.delete(handle);
  }

  #mapping(handle: number): MmioHandle {
    const mapping = this.#mappings.get(handle);
    if (!mapping) throw new RangeError(`no mapping ${handle} of this iommufd (unmapped already?)`);
    return mapping;
  }

  devCheckCache(devId: number, cacheId: number, value: number): void {
    this.#addon.testDevCheckCache(this.#fd, devId, cacheId, value);
  }

  triggerVevent(devId: number): void {
    this.#addon.testTriggerVevent(this.#fd, devId);
  }

  rawIoctl(request: number, arg: Uint8Array | number | null, name: string): number {
    return this.#addon.rawIoctl(this.#fd, request, arg, name);
  }

  vfioGetApiVersion(): number {
    return this.#addon.vfioGetApiVersion(this.#fd);
  }

  vfioCheckExtension(extension: number): number {
    return this.#addon.vfioCheckExtension(this.#fd, extension);
  }

  vfioSetIommu(type: number): void {
    this.#addon.vfioSetIommu(this.#fd, type);
  }

  vfioIommuGetInfo(): VfioIommuInfo {
    return parseVfioIommuInfo(this.#addon.vfioIommuGetInfo(this.#fd));
  }

  vfioMapDma(flags: number, m: UserRange, iova: bigint): void {
    this.#addon.vfioMapDma(this.#fd, flags, m.bytes, m.offset, m.length, iova);
  }

  vfioUnmapDma(flags: number, iova: bigint, size: bigint): bigint {
    return this.#addon.vfioUnmapDma(this.#fd, flags, iova, size);
  }

  addReserved(ioasId: number, start: bigint, length: bigint): void {
    this.#addon.testAddReserved(this.#fd, ioasId, start, length);
  }

  mockDomain(ptId: number, devFlags?: number): MockDomainIds {
    return devFlags === undefined
      ? this.#addon.testMockDomain(this.#fd, ptId)
      : this.#addon.testMockDomainFlags(this.#fd, ptId, devFlags);
  }

  mockDomainReplace(stdevId: number, ptId: number): number {
    return this.#addon.testMockDomainReplace(this.#fd, stdevId, ptId);
  }

  mdCheckIotlb(hwptId: number, iotlbId: number, iotlb: number): void {
    this.#addon.testMdCheckIotlb(this.#fd, hwptId, iotlbId, iotlb);
  }

  dirty(hwptId: number, flags: number, iova: bigint, length: bigint, pageSize: bigint, bitmap: Uint8Array): bigint {
    return this.#addon.testDirty(this.#fd, hwptId, flags, iova, length, pageSize, bitmap);
  }

  triggerIopf(devId: number, pasid: number, grpid: number, perm: number, addr: bigint): void {
    this.#addon.testTriggerIopf(this.#fd, devId, pasid, grpid, perm, addr);
  }

  pasidAttach(stdevId: number, pasid: number, ptId: number): number {
    return this.#addon.testPasidAttach(this.#fd, stdevId, pasid, ptId);
  }

  pasidReplace(stdevId: number, pasid: number, ptId: number): number {
    return this.#addon.testPasidReplace(this.#fd, stdevId, pasid, ptId);
  }

  pasidDetach(stdevId: number, pasid: number): void {
    this.#addon.testPasidDetach(this.#fd, stdevId, pasid);
  }

  pasidCheckHwpt(stdevId: number, pasid: number, hwptId: number): void {
    this.#addon.testPasidCheckHwpt(this.#fd, stdevId, pasid, hwptId);
  }

  dmabufGet(length: number, openFlags: number): number {
    const before = dmabufDescriptors();
    const fd = this.#addon.testDmabufGet(this.#fd, length, openFlags);
    if (fd > 0) return fd;
    // 7.3's iommufd_test_dmabuf_get() installs the descriptor but answers 0, not
    // its number (dma_buf_fd()'s value is dropped): the new one is the dma-buf
    // descriptor that was not there before.
    const added = [...dmabufDescriptors()].filter((n) => !before.has(n));
    if (added.length !== 1) throw new Error(`IOMMU_TEST_OP_DMABUF_GET answered ${fd} and ${added.length} new dma-buf descriptors appeared`);
    return added[0]!;
  }

  dmabufRevoke(dmabufFd: number, revoked: boolean): void {
    this.#addon.testDmabufRevoke(this.#fd, dmabufFd, revoked);
  }

  closeDmabuf(dmabufFd: number): void {
    this.#addon.close(dmabufFd);
  }

  runBatch(batch: EncodedBatch, out: BigUint64Array, failNth: number): BatchRun {
    return this.#addon.batch(this.#fd, batch.code, batch.wide, out, batch.memories, batch.tuples, failNth);
  }

  /**
   * Probe with calls that cannot change anything: an ioctl with size 0 is
   * ENOTTY only when the kernel does not know it (else EINVAL for the size);
   * a zeroed test command is EOPNOTSUPP only for an unknown op. The 7.3
   * additions are probed the same way: with id 0 and zeroes the new ops fail
   * their first lookup (ENOENT: no device, selftest object or dma-buf fd 0;
   * DMABUF_GET EINVAL for length 0) and 6.12 answers EOPNOTSUPP.
   * IOMMU_IOAS_NOIOMMU_GET_PA is in 7.3's table either way, but without
   * CONFIG_IOMMUFD_NOIOMMU its handler answers EOPNOTSUPP to everything: a
   * zeroed command (no side effect) is EPERM or EINVAL (length 0) only where it
   * is implemented.
   */
  capabilities(): Capabilities {
    const ENOTTY = errnoNumber('ENOTTY');
    const ioctls: Record<string, boolean> = {};
    for (const [name, nr] of Object.entries({ ...IOMMUFD_CMDS, ...IOMMUFD_CMDS_7_3 })) ioctls[name] = this.probeIoctl(nr) !== ENOTTY;
    const EOPNOTSUPP = errnoNumber('EOPNOTSUPP');
    if (ioctls.IOMMU_IOAS_NOIOMMU_GET_PA) ioctls.IOMMU_IOAS_NOIOMMU_GET_PA = this.probeNoiommuGetPa() !== EOPNOTSUPP;
    // iommu_test_cmd is no stable ABI: a kernel whose command is larger than
    // ours rejects our size with EINVAL before it looks at the op. Op 0 exists
    // nowhere, so EOPNOTSUPP for it proves our size gets through.
    const testCmdFits = ioctls.IOMMU_TEST_CMD === true && this.probeTestOp(0) === EOPNOTSUPP;
    const testOps: Record<string, boolean> = {};
    for (const [name, op] of Object.entries({ ...IOMMU_TEST_OPS, ...IOMMU_TEST_OPS_7_3 }))
      testOps[name] = testCmdFits && this.probeTestOp(op) !== EOPNOTSUPP;
    let vfio = true;
    try {
      this.vfioGetApiVersion();
    } catch {
      vfio = false;
    }
    for (const name of ['VFIO_GET_API_VERSION', 'VFIO_CHECK_EXTENSION', 'VFIO_SET_IOMMU', 'VFIO_IOMMU_GET_INFO', 'VFIO_IOMMU_MAP_DMA', 'VFIO_IOMMU_UNMAP_DMA'])
      ioctls[name] = vfio;
    return { backend: 'native', kernel: release(), ioctls, testOps, failNth: this.#addon.failNthSupported() };
  }

  // ---- native only ---------------------------------------------------------

  /** errno of iommufd ioctl `nr` probed with size 0 (ENOTTY: unknown to this kernel). */
  probeIoctl(nr: number): number {
    return this.#addon.probeIoctl(this.#fd, nr);
  }

  /** errno of IOMMU_IOAS_NOIOMMU_GET_PA with zeroes (EOPNOTSUPP: not built in). */
  probeNoiommuGetPa(): number {
    try {
      this.#addon.ioasNoiommuGetPa(this.#fd, 0, 0, 0, 0n, 0n);
      return 0;
    } catch (e) {
      if (e instanceof IommufdError) return e.errno;
      throw e;
    }
  }

  /** errno of test op `op` probed with a zeroed command (EOPNOTSUPP: unknown op). */
  probeTestOp(op: number): number {
    return this.#addon.probeTestOp(this.#fd, op, 0);
  }

  mdCheckMap(hwptId: number, iova: bigint, m: UserRange): void {
    this.#addon.testMdCheckMap(this.#fd, hwptId, iova, m.bytes, m.offset, m.length);
  }

  mdCheckRefs(m: UserRange, refs: number): void {
    this.#addon.testMdCheckRefs(this.#fd, m.bytes, m.offset, m.length, refs);
  }

  createAccess(ioasId: number, flags: number): number {
    return this.#addon.testCreateAccess(this.#fd, ioasId, flags);
  }

  closeAccess(access: number): void {
    this.#addon.close(access);
  }

  accessPages(access: number, flags: number, iova: bigint, length: number, verify: UserRange | null): number {
    return this.#addon.testAccessPages(this.#fd, access, flags, iova, length, verify?.bytes ?? null, verify?.offset ?? 0);
  }

  destroyAccessPages(access: number, accessPagesId: number): void {
    this.#addon.testDestroyAccessPages(this.#fd, access, accessPagesId);
  }

  accessRw(access: number, flags: number, iova: bigint, m: UserRange): void {
    if (typeof m !== 'object' || m === null) badRange('accessRw', m);
    this.#addon.testAccessRw(this.#fd, access, flags, iova, m.bytes, m.offset, m.length);
  }

  accessReplaceIoas(access: number, ioasId: number): void {
    this.#addon.testAccessReplaceIoas(this.#fd, access, ioasId);
  }

  setTempMemoryLimit(bytes: number): void {
    this.#addon.testSetTempMemoryLimit(this.#fd, bytes);
  }
}

function badRange(method: string, value: unknown): never {
  throw new TypeError(`${method}: the memory must be a UserRange { bytes, offset, length }, got ${describe(value)}`);
}

// Every Backend method checks its argument types first (lib/backend/args.ts), but
// for the per-call paths the benchmarks time: the addon checks their primitives in
// C++, and the UserRange above is the one object they read.
/** This process's dma-buf descriptors: their /proc link is the dma-buf filesystem's "/dmabuf:NAME". */
function dmabufDescriptors(): Set<number> {
  const out = new Set<number>();
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`).startsWith('/dmabuf:')) out.add(Number(name));
    } catch {
      // closed meanwhile (the directory's own descriptor)
    }
  }
  return out;
}

checkArgumentsOf(NativeBackend, ['ioasMap', 'ioasUnmap', 'accessRw', 'runBatch']);
