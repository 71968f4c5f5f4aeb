// Loads the C++ addon once, and explains in one message what to do when it
// cannot be loaded.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Fault } from '../backend/contract.js';
import { IommufdError } from '../base/errors.js';

type Bytes = ArrayBufferView | ArrayBuffer;
type Ids = { stdevId: number; hwptId: number; idevId: number };
/** An mmap()ed VFIO region, opaque to JS (a napi external). */
export type MmioHandle = { readonly __mmio: unique symbol };

/** The addon's exports (native/*.cc). Every op takes the iommufd (or access/fault) fd first. */
export interface Addon {
  setErrorFactory(factory: (errno: number, op: string) => Error): void;
  pageSize(): number;
  /** The uAPI table (native/uapi_layout.h) the addon sizes commands by: "major.minor". */
  uapiVersion(): string;
  open(path: string): number;
  close(fd: number): void;
  /** native/batch.cc: the encoding of lib/backend/batch-encoding.ts; u64 results of map/unmap go to `out`. */
  batch(
    fd: number,
    code: Float64Array,
    wide: BigUint64Array,
    out: BigUint64Array,
    memories: Uint8Array[],
    tuples: unknown[][],
    failNth: number,
  ): { done: number; tupleResults: unknown[]; error: Error | null; injected: boolean };
  failNthSupported(): boolean;
  /** Does nothing, called like every op (the floor of one addon call, for bench/kernel). */
  noop(): void;
  probeIoctl(fd: number, nr: number): number;
  probeTestOp(fd: number, op: number, id: number): number;
  // ioas.cc
  destroy(fd: number, id: number): void;
  ioasAlloc(fd: number): number;
  ioasMap(fd: number, ioasId: number, flags: number, memory: Bytes, offset: number, length: number, iova: bigint): bigint;
  // 7.3 (ENOTTY where the running kernel lacks them)
  ioasMapFile(fd: number, ioasId: number, flags: number, fileFd: number, start: bigint, length: bigint, iova: bigint): bigint;
  ioasChangeProcess(fd: number): void;
  ioasNoiommuGetPa(fd: number, ioasId: number, flags: number, reserved: number, iova: bigint, length: bigint): { phys: bigint; length: bigint };
  ioasUnmap(fd: number, ioasId: number, iova: bigint, length: bigint): bigint;
  ioasCopy(fd: number, dst: number, src: number, flags: number, dstIova: bigint, srcIova: bigint, length: bigint): bigint;
  ioasIovaRanges(fd: number, ioasId: number): { ranges: BigUint64Array; alignment: bigint };
  /** With `out`: one ioctl with room for numIovas ranges written into out; EMSGSIZE carries `numIovas`. */
  ioasIovaRanges(fd: number, ioasId: number, out: BigUint64Array, numIovas: number): { numIovas: number; alignment: bigint };
  ioasAllowIovas(fd: number, ioasId: number, ranges: BigUint64Array): void;
  option(fd: number, optionId: number, op: number, objectId: number, val64: bigint): bigint;
  vfioIoas(fd: number, op: number, ioasId: number): number;
  // hwpt.cc
  /** nullDataLen: with data null, a NULL data_uptr with this data_len (bad-input tests). */
  hwptAlloc(fd: number, flags: number, devId: number, ptId: number, dataType: number, data: Bytes | null, faultId: number, nullDataLen: number): number;
  getHwInfo(fd: number, devId: number, data: Bytes, flags: number, inDataType: number): { dataType: number; dataLen: number; maxPasidLog2: number; capabilities: bigint };
  hwptSetDirtyTracking(fd: number, hwptId: number, flags: number): void;
  hwptGetDirtyBitmap(fd: number, hwptId: number, flags: number, iova: bigint, length: bigint, pageSize: bigint, bitmap: BigUint64Array | Uint8Array): void;
  /** entries null: a NULL data_uptr (bad-input tests). */
  hwptInvalidate(fd: number, hwptId: number, dataType: number, entryLen: number, entries: Bytes | null, entryNum: number): number;
  faultQueueAlloc(fd: number): { faultId: number; faultFd: number };
  faultRead(faultFd: number, maxFaults: number): Fault[];
  faultRespond(faultFd: number, cookies: number[], codes: number[]): number;
  // selftest.cc
  testAddReserved(fd: number, ioasId: number, start: bigint, length: bigint): void;
  testMockDomain(fd: number, ptId: number): Ids;
  testMockDomainFlags(fd: number, ptId: number, devFlags: number): Ids;
  testMockDomainReplace(fd: number, stdevId: number, ptId: number): number;
  testMdCheckMap(fd: number, hwptId: number, iova: bigint, memory: Bytes, offset: number, length: number): void;
  testMdCheckRefs(fd: number, memory: Bytes, offset: number, length: number, refs: number): void;
  testMdCheckIotlb(fd: number, hwptId: number, iotlbId: number, iotlb: number): void;
  testCreateAccess(fd: number, ioasId: number, flags: number): number;
  testAccessPages(fd: number, accessFd: number, flags: number, iova: bigint, length: number, memory: Bytes | null, offset: number): number;
  testDestroyAccessPages(fd: number, accessFd: number, accessPagesId: number): void;
  testAccessRw(fd: number, accessFd: number, flags: number, iova: bigint, memory: Bytes, offset: number, length: number): void;
  testAccessReplaceIoas(fd: number, accessFd: number, ioasId: number): void;
  testSetTempMemoryLimit(fd: number, limit: number): void;
  testDirty(fd: number, hwptId: number, flags: number, iova: bigint, length: bigint, pageSize: bigint, bitmap: Bytes): bigint;
  testTriggerIopf(fd: number, devId: number, pasid: number, grpid: number, perm: number, addr: bigint): void;
  // dmabuf.cc (7.3)
  testDmabufGet(fd: number, length: number, openFlags: number): number;
  testDmabufRevoke(fd: number, dmabufFd: number, revoked: boolean): void;
  // pasid.cc (7.3)
  testPasidAttach(fd: number, stdevId: number, pasid: number, ptId: number): number;
  testPasidReplace(fd: number, stdevId: number, pasid: number, ptId: number): number;
  testPasidDetach(fd: number, stdevId: number, pasid: number): void;
  testPasidCheckHwpt(fd: number, stdevId: number, pasid: number, hwptId: number): void;
  // viommu.cc (7.3)
  viommuAlloc(fd: number, flags: number, type: number, devId: number, hwptId: number, data: Bytes | null): number;
  vdeviceAlloc(fd: number, viommuId: number, devId: number, virtId: bigint): number;
  veventqAlloc(fd: number, flags: number, viommuId: number, type: number, depth: number): { veventqId: number; veventqFd: number };
  veventqRead(veventqFd: number, buffer: Bytes): number;
  hwQueueAlloc(fd: number, flags: number, viommuId: number, type: number, index: number, nestingParentIova: bigint, length: bigint): number;
  testDevCheckCache(fd: number, devId: number, cacheId: number, value: number): void;
  testTriggerVevent(fd: number, devId: number): void;
  // vfio_compat.cc
  vfioGetApiVersion(fd: number): number;
  vfioCheckExtension(fd: number, extension: number): number;
  vfioSetIommu(fd: number, type: number): void;
  vfioIommuGetInfo(fd: number): Uint8Array;
  vfioMapDma(fd: number, flags: number, memory: Bytes, offset: number, size: number, iova: bigint): void;
  vfioUnmapDma(fd: number, flags: number, iova: bigint, size: bigint): bigint;
  // vfio_device.cc: fd is the VFIO device cdev; an MMIO handle is opaque
  vfioDeviceBindIommufd(fd: number, iommufd: number): number;
  vfioDeviceAttachPt(fd: number, ptId: number): number;
  vfioDeviceDetachPt(fd: number): void;
  vfioDeviceGetInfo(fd: number): { flags: number; numRegions: number; numIrqs: number; argsz: number };
  vfioDeviceGetRegionInfo(fd: number, index: number): { flags: number; index: number; size: bigint; offset: bigint; capOffset: number; info: Uint8Array };
  vfioDeviceGetIrqInfo(fd: number, index: number): { flags: number; index: number; count: number };
  vfioDeviceReset(fd: number): void;
  vfioDevicePread(fd: number, memory: Bytes, offset: number, length: number, fileOffset: bigint): number;
  vfioDevicePwrite(fd: number, memory: Bytes, offset: number, length: number, fileOffset: bigint): number;
  vfioRegionMmap(fd: number, fileOffset: bigint, length: number, writable: boolean): MmioHandle;
  /** mmap() of a region an iommufd driver offers (vfio_device.cc shares the MMIO accessors). */
  iommufdMmap(fd: number, offset: bigint, length: number): MmioHandle;
  mmioUnmap(handle: MmioHandle): boolean;
  mmioRead8(handle: MmioHandle, offset: number): number;
  mmioRead16(handle: MmioHandle, offset: number): number;
  mmioRead32(handle: MmioHandle, offset: number): number;
  mmioRead64(handle: MmioHandle, offset: number): bigint;
  mmioWrite8(handle: MmioHandle, offset: number, value: number): void;
  mmioWrite16(handle: MmioHandle, offset: number, value: number): void;
  mmioWrite32(handle: MmioHandle, offset: number, value: number): void;
  mmioWrite64(handle: MmioHandle, offset: number, value: bigint): void;
  // dma_buffer.cc
  dmaAlloc(length: number, huge: string, shared: boolean): ArrayBuffer;
  dmaFree(buffer: ArrayBuffer): boolean;
  dmaStats(): { liveBuffers: number; liveBytes: number };
  dmaFd(buffer: ArrayBuffer): number;
  dmaMapFd(fd: number, length: number): ArrayBuffer;
  // raw.cc
  rawIoctl(fd: number, request: number, arg: Bytes | number | null, name: string): number;
  /** FD_CLOEXEC on a descriptor this process inherited, so its own children do not. */
  fdSetCloexec(fd: number): void;
  /** CAP_IPC_LOCK in the calling thread's effective capability set (on or off). */
  setCapIpcLockEffective(enabled: boolean): void;
  /** CAP_SYS_RAWIO in the calling thread's effective capability set (on or off). */
  setCapSysRawioEffective(enabled: boolean): void;
  /** A MAP_PRIVATE mapping of a file's first `length` bytes. */
  dmaMapFile(path: string, length: number): ArrayBuffer;
  /** A close-on-exec memfd of `length` bytes (MFD_HUGETLB with hugetlb), owned by the caller. */
  memfdCreate(length: number, hugetlb: boolean): number;
  /** ftruncate() of a memfd. */
  memfdResize(fd: number, length: number): void;
  /** Make whole pages of a dmaAlloc()/dmaMapFile() buffer inaccessible. */
  dmaUnmapRange(buffer: ArrayBuffer, offset: number, length: number): void;
  /** The address of the memory's first byte modulo 2 MiB (its alignment, for the simulator). */
  addressIn2MiB(memory: Bytes): number;
  /** /proc/self/pagemap entries of `pages` pages of `memory` from the one holding byte `offset` (tests of physical addresses). */
  pagemap(memory: Bytes, offset: number, pages: number): BigUint64Array;
}

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

let cached: { addon: Addon } | { error: Error } | undefined;

/**
 * Where the addon may be, in order: an explicit path, a source build (made only when
 * asked: `npm install` in a checkout, `npx iommufd build-addon`), then the one the
 * package ships for this platform (`npm pack` puts it in prebuilds/).
 */
function candidates(): string[] {
  const fromEnv = process.env.IOMMUFD_ADDON;
  if (fromEnv) return [fromEnv]; // exactly this one: a test of a given build must not fall back
  return [
    join(packageRoot, 'native', 'build', 'Release', 'iommufd.node'),
    join(packageRoot, 'native', 'build', 'Debug', 'iommufd.node'),
    join(packageRoot, 'build-cmake', 'Release', 'iommufd.node'),
    join(packageRoot, 'build-cmake', 'Debug', 'iommufd.node'),
    join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`, 'iommufd.node'),
  ];
}

function load(): { addon: Addon } | { error: Error } {
  const require = createRequire(import.meta.url);
  const tried: string[] = [];
  for (const path of candidates()) {
    if (!existsSync(path)) {
      tried.push(`${path}: not built`);
      continue;
    }
    try {
      const addon = require(path) as Addon;
      addon.setErrorFactory((errno, op) => new IommufdError(errno, op));
      loadedPath = path;
      return { addon };
    } catch (e) {
      tried.push(`${path}: ${(e as Error).message}`);
    }
  }
  const why =
    process.platform !== 'linux'
      ? `the native addon only exists on Linux (this is ${process.platform})`
      : `the native addon does not load: none is prebuilt for linux-${process.arch} or built from source`;
  return {
    error: new Error(
      `iommufd: ${why}. Tried:\n  ${tried.join('\n  ')}\n` +
        'Build it from source with `npx iommufd build-addon` (needs g++, make, python3), ' +
        "or use the simulator: Iommufd.open({ backend: 'sim' }).",
    ),
  };
}

/** The addon, or a thrown Error saying what was tried and how to fix it. */
export function addon(): Addon {
  cached ??= load();
  if ('error' in cached) throw cached.error;
  return cached.addon;
}

let loadedPath: string | undefined;

/** The file the addon was loaded from (for a child process: IOMMUFD_ADDON), if it loads. */
export function addonPath(): string | undefined {
  return addonAvailable() ? loadedPath : undefined;
}

/** Whether the addon loads, without throwing. */
export function addonAvailable(): boolean {
  cached ??= load();
  return 'addon' in cached;
}
