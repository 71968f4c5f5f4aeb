// The simulator backend: the 6.12 kernel's iommufd and its CONFIG_IOMMUFD_TEST
// mock in TypeScript, errno for errno, on any OS. Argument checks happen in
// the order the addon and the kernel make them: the addon's bounds checks
// (RangeError, no ioctl), then a closed fd (EBADF), then the ioctl's own.

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
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED,
  IOMMU_HW_INFO_FLAG_INPUT_TYPE as HW_INFO_FLAG_INPUT_TYPE,
  IOMMU_HW_INFO_TYPE_DEFAULT as HW_INFO_TYPE_DEFAULT,
  MOCK_PASID_WIDTH,
  IOMMU_IOAS_MAP_FIXED_IOVA as MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_WRITEABLE as MAP_WRITEABLE,
  IOMMU_IOAS_MAP_READABLE as MAP_READABLE,
  MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES as NEEDS_PIN_PAGES,
  MOCK_FLAGS_ACCESS_WRITE as ACCESS_WRITE,
  MOCK_ACCESS_RW_WRITE as RW_WRITE,
  MOCK_ACCESS_RW_SLOW_PATH as RW_SLOW_PATH,
  MOCK_FLAGS_DEVICE_NO_DIRTY,
  MOCK_FLAGS_DEVICE_HUGE_IOVA,
  MOCK_FLAGS_DEVICE_PASID,
  IOMMU_OPTION_RLIMIT_MODE as OPTION_RLIMIT_MODE,
  IOMMU_OPTION_HUGE_PAGES as OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_SET as OPTION_OP_SET,
  IOMMU_OPTION_OP_GET as OPTION_OP_GET,
  IOMMU_VFIO_IOAS_GET as VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET as VFIO_IOAS_SET,
  IOMMU_VFIO_IOAS_CLEAR as VFIO_IOAS_CLEAR,
  IOMMU_HWPT_FAULT_ID_VALID as HWPT_FAULT_ID_VALID,
  IOMMU_HWPT_DATA_NONE as HWPT_DATA_NONE,
  IOMMU_HW_INFO_TYPE_SELFTEST as HW_INFO_TYPE_SELFTEST,
  IOMMU_HW_INFO_SELFTEST_REGVAL as HW_INFO_SELFTEST_REGVAL,
  IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR as GET_DIRTY_BITMAP_NO_CLEAR,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST as INVALIDATE_DATA_SELFTEST,
  IOMMU_TEST_INVALIDATE_FLAG_ALL as INVALIDATE_FLAG_ALL,
  IOMMU_PGFAULT_FLAGS_PASID_VALID as PGFAULT_FLAGS_PASID_VALID,
  IOMMU_PGFAULT_FLAGS_LAST_PAGE as PGFAULT_FLAGS_LAST_PAGE,
  IOMMUFD_PAGE_RESP_SUCCESS as PAGE_RESP_SUCCESS,
  IOMMUFD_PAGE_RESP_INVALID as PAGE_RESP_INVALID,
  VFIO_API_VERSION,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_IOMMU_INFO_PGSIZES,
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
} from '../uapi/constants.js';
import { firstUnmapped } from '../base/user-pages.js';
import { IOMMU_READ, IOMMU_WRITE, type IoPagetable, SimErrno, ULONG_MAX, U64_MAX, fail } from './io-pagetable.js';
import { ObjType } from './objects.js';
import { IoptPages, PAGE_SIZE, type SimFile, checkedUptr, firstPinCountMismatch } from './pages.js';
import {
  AccessObj,
  FaultObj,
  HwptNested,
  HwptPaging,
  Idev,
  IoasObj,
  MOCK_IO_PAGE_SIZE,
  MOCK_NESTED_DOMAIN_IOTLB_NUM,
  SelftestObj,
  SimContext,
  TestDmabuf,
} from './selftest.js';
import { parseVfioIommuInfo } from '../backend/vfio-info.js';
import { simRawIoctl } from './raw.js';
import { DEFAULT_SIM_KERNEL, SIM_KERNELS, type SimKernel } from './kernels.js';
import {
  NO_PASID,
  pasidAttach as simPasidAttach,
  pasidCheckHwpt as simPasidCheckHwpt,
  pasidDetach as simPasidDetach,
  pasidHandle,
  pasidHwpt,
  pasidReplace as simPasidReplace,
} from './device-pasid.js';
import { checkArgumentsOf } from '../backend/args.js';
import { fstatSync, readFileSync, readSync, readlinkSync } from 'node:fs';
import {
  type SimMapping,
  type VeventqFile,
  ViommuObj,
  devCheckCache as simDevCheckCache,
  hwQueueAlloc as simHwQueueAlloc,
  triggerVevent as simTriggerVevent,
  vdeviceAlloc as simVdeviceAlloc,
  veventqAlloc as simVeventqAlloc,
  veventqRead as simVeventqRead,
  viommuAlloc as simViommuAlloc,
  viommuInvalidate,
  viommuNestedAlloc,
} from './viommu.js';

// uapi flags (include/uapi/linux/iommufd.h, iommufd_test.h)
const ACCESS_SYZ = 1 << 16;
const ACCESS_MAX = 16 * 1024 * 1024;
const INVALIDATE_ENTRY_NUM_MAX = 1 << 19;
const VFIO_DMA_CC_IOMMU = 4;
const VFIO_NOIOMMU_IOMMU = 8;
const VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL = 3;
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
// viommu.ts: 7.3's vIOMMU, vDEVICE, vEVENTQ and HW queue objects, and the mock's vIOMMU test ops.
for (const ioctl of ['IOMMU_VIOMMU_ALLOC', 'IOMMU_VDEVICE_ALLOC', 'IOMMU_VEVENTQ_ALLOC', 'IOMMU_HW_QUEUE_ALLOC']) SIMULATED_7_3_IOCTLS.add(ioctl);
for (const op of ['DEV_CHECK_CACHE', 'TRIGGER_VEVENT']) SIMULATED_7_3_TEST_OPS.add(op);
// selftest.ts TestDmabuf / pages.ts allocDmabuf(): 7.3's mock dma-buf, mapped with IOMMU_IOAS_MAP_FILE, and its revocation.
for (const op of ['DMABUF_GET', 'DMABUF_REVOKE']) SIMULATED_7_3_TEST_OPS.add(op);

// noiommu_get_pa: IOMMU_IOAS_NOIOMMU_GET_PA's checks; no area ever sits in a no-IOMMU domain here.
SIMULATED_7_3_IOCTLS.add('IOMMU_IOAS_NOIOMMU_GET_PA');

const CAP_SYS_RAWIO = 17;

/**
 * capable(cap) of the calling thread, as the kernel would answer it: the
 * effective set in /proc (setCapSysRawio() changes it). Where there is no /proc
 * (not Linux) the simulator has no privileges to model and treats the process as
 * privileged.
 */
function capable(cap: number): boolean {
  let status: string;
  try {
    status = readFileSync('/proc/thread-self/status', 'utf8');
  } catch {
    return true;
  }
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return m === null || ((BigInt(`0x${m[1]}`) >> BigInt(cap)) & 1n) === 1n;
}

// ---- process-wide state: file descriptors of accesses, the mock's globals ----

/** Access, fault queue and vEVENTQ "fds": the kernel hands out real fds; the simulator its own numbers from 3 up. */
const simFds = new Map<number, AccessObj | FaultFile | VeventqFile>();
const FIRST_FD = 3;

/** The file of a fault queue fd (iommufd_fault_fops). */
interface FaultFile {
  fault: FaultObj;
  ctx: SimContext;
}

function allocFd(file: AccessObj | FaultFile | VeventqFile): number {
  let fd = FIRST_FD;
  while (simFds.has(fd)) fd++;
  simFds.set(fd, file);
  return fd;
}

/**
 * Mock dma-buf "fds". Their numbers start far above any descriptor the process
 * can have (the kernel's default fs.nr_open is 2^20), so a real descriptor
 * given to mapFile() as a number never names a simulated dma-buf.
 */
const simDmabufs = new Map<number, TestDmabuf>();
const FIRST_DMABUF_FD = 2 ** 30;

function allocDmabufFd(dmabuf: TestDmabuf): number {
  let fd = FIRST_DMABUF_FD;
  while (simDmabufs.has(fd)) fd++;
  simDmabufs.set(fd, dmabuf);
  return fd;
}

/** Ends __iommu_read_and_clear_dirty() early; iova_bitmap_for_each()'s caller drops the error. */
const STOP = Symbol('stop');

function ctz(x: bigint): number {
  let n = 0;
  while (!(x & 1n)) {
    x >>= 1n;
    n++;
  }
  return n;
}

/** conv_iommu_prot() */
function convProt(flags: number): number {
  let prot = 0;
  if (flags & MAP_WRITEABLE) prot |= IOMMU_WRITE;
  if (flags & MAP_READABLE) prot |= IOMMU_READ;
  return prot;
}

/** iommufd_test_memory_limit: global to the kernel. */
let tempMemoryLimit = 65536;

/** The simulator's IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT value (only batch sizes; nothing visible). */
export function simTempMemoryLimit(): number {
  return tempMemoryLimit;
}


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
    this.#ctx = new SimContext(kernel);
  }

  /** Like open("/dev/iommu") on `kernel`: a new, empty iommufd. */
  static open(kernel: SimKernel = DEFAULT_SIM_KERNEL): SimBackend {
    if (!(SIM_KERNELS as readonly string[]).includes(kernel))
      throw new TypeError(`the simulator models kernels ${SIM_KERNELS.join(' and ')}, not ${String(kernel)}`);
    return new SimBackend(kernel);
  }

  #run<T>(op: string, fn: () => T): T {
    if (this.#ctx.closed) throw new IommufdError(errnoNumber('EBADF'), op);
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

  // ---- objects and IOAS ioctls ------------------------------------------------

  destroy(id: number): void {
    this.#run('IOMMU_DESTROY', () => this.#ctx.destroyId(id));
  }

  ioasAlloc(): number {
    return this.#run('IOMMU_IOAS_ALLOC', () => this.#ctx.addFinalized(new IoasObj()));
  }

  /** iommufd_ioas_map() */
  ioasMap(ioasId: number, flags: number, memory: UserRange, iova: bigint): bigint {
    const uptr = checkedUptr(memory);
    return this.#run('IOMMU_IOAS_MAP', () => {
      if (flags & ~(MAP_FIXED_IOVA | MAP_WRITEABLE | MAP_READABLE)) fail('EOPNOTSUPP');
      if (iova >= ULONG_MAX || BigInt(memory.length) >= ULONG_MAX) fail('EOVERFLOW');
      if (!(flags & (MAP_WRITEABLE | MAP_READABLE))) fail('EINVAL');
      const ioas = this.#ctx.getIoas(ioasId);
      let prot = 0;
      if (flags & MAP_WRITEABLE) prot |= IOMMU_WRITE;
      if (flags & MAP_READABLE) prot |= IOMMU_READ;
      const pages = IoptPages.alloc(memory, uptr, (prot & IOMMU_WRITE) !== 0);
      if (typeof pages === 'string') fail(pages);
      return ioas.iopt.mapPages(pages, uptr, memory.length, iova, prot, !(flags & MAP_FIXED_IOVA));
    });
  }

  /** iommufd_ioas_map_file() (7.3; 6.12's iommufd_fops_ioctl() does not know the ioctl) */
  ioasMapFile(ioasId: number, flags: number, file: FileRef, start: bigint, length: bigint, iova: bigint): bigint {
    return this.#run('IOMMU_IOAS_MAP_FILE', () => {
      if (this.kernel === '6.12') fail('ENOTTY');
      if (flags & ~(MAP_FIXED_IOVA | MAP_WRITEABLE | MAP_READABLE)) fail('EOPNOTSUPP');
      if (iova >= ULONG_MAX || length >= ULONG_MAX) fail('EOVERFLOW');
      if (!(flags & (MAP_WRITEABLE | MAP_READABLE))) fail('EINVAL');
      const ioas = this.#ctx.getIoas(ioasId);
      // dma_buf_get() first: a dma-buf is imported, any other file pinned.
      const fileOf = () => (file.bytes ? undefined : simDmabufs.get(file.fd)) ?? simFileOf(file);
      return ioas.iopt.mapFilePages(fileOf, start, length, iova, convProt(flags), !(flags & MAP_FIXED_IOVA));
    });
  }

  /**
   * iommufd_ioas_change_process() (7.3): only file mappings may move to another
   * process (a user mapping's pages belong to its mm). The simulator is one
   * process and accounts no pinned pages, so a move changes nothing it models.
   */
  ioasChangeProcess(): void {
    this.#run('IOMMU_IOAS_CHANGE_PROCESS', () => {
      if (this.kernel === '6.12') fail('ENOTTY');
      for (const obj of this.#ctx.objects) {
        if (!(obj instanceof IoasObj)) continue;
        for (const area of obj.iopt.areas) if (!area.pages.file) fail('EINVAL');
      }
    });
  }

  /**
   * iommufd_ioas_noiommu_get_pa() + iopt_get_phys() (7.3 with CONFIG_IOMMUFD_NOIOMMU,
   * which the rig's kernels have). The simulator has no no-IOMMU device, so no
   * area is ever stored in a no-IOMMU domain: a mapped IOVA answers EOPNOTSUPP,
   * as the kernel does for an IOAS no such device is attached to.
   */
  ioasNoiommuGetPa(ioasId: number, flags: number, iova: bigint, length: bigint, reserved = 0): NoiommuPa {
    return this.#run('IOMMU_IOAS_NOIOMMU_GET_PA', () => {
      if (this.kernel === '6.12') fail('ENOTTY');
      if (!capable(CAP_SYS_RAWIO)) fail('EPERM');
      if (flags || reserved) fail('EOPNOTSUPP');
      if (!length) fail('EINVAL');
      if (iova >= ULONG_MAX) fail('EOVERFLOW');
      const iopt = this.#ctx.getIoas(ioasId).iopt;
      const c = iopt.areas.iterFirst(iova, iova);
      if (!c) fail('ENOENT');
      if (c.leaf.items[c.index]!.pages.dmabufRevoked) fail('EINVAL');
      fail('EOPNOTSUPP');
    });
  }

  /** iommufd_ioas_unmap() */
  ioasUnmap(ioasId: number, iova: bigint, length: bigint): bigint {
    return this.#run('IOMMU_IOAS_UNMAP', () => {
      const ioas = this.#ctx.getIoas(ioasId);
      if (iova === 0n && length === U64_MAX) return ioas.iopt.unmapRange(0n, ULONG_MAX);
      if (iova >= ULONG_MAX || length >= ULONG_MAX) fail('EOVERFLOW');
      const unmapped = ioas.iopt.unmap(iova, length);
      if (!unmapped) fail('ENOENT');
      return unmapped;
    });
  }

  ioasIovaRanges(ioasId: number): IovaRanges {
    return this.#run('IOMMU_IOAS_IOVA_RANGES', () => {
      const iopt = this.#ctx.getIoas(ioasId).iopt;
      return { ranges: iopt.iovaRanges(), alignment: iopt.iovaAlignment };
    });
  }

  /** iommufd_ioas_iova_ranges() with the caller's array of `numIovas` ranges */
  ioasIovaRangesInto(ioasId: number, out: BigUint64Array, numIovas: number): { numIovas: number; alignment: bigint } {
    if (2 * numIovas > out.length) throw new RangeError(`${numIovas} ranges do not fit in ${out.length / 2}`);
    let count = 0;
    try {
      return this.#run('IOMMU_IOAS_IOVA_RANGES', () => {
        const iopt = this.#ctx.getIoas(ioasId).iopt;
        for (const r of iopt.iovaRanges()) {
          if (count < numIovas) {
            // copy_to_user() of the element: EFAULT where the process has no page.
            const at = out.byteOffset + 16 * count;
            if (firstUnmapped(out.buffer, at, at + 16) >= 0) fail('EFAULT');
            out[2 * count] = r.start;
            out[2 * count + 1] = r.last;
          }
          count++;
        }
        if (count > numIovas) fail('EMSGSIZE');
        return { numIovas: count, alignment: iopt.iovaAlignment };
      });
    } catch (e) {
      if (e instanceof IommufdError && count > numIovas) (e as IommufdError & { numIovas: number }).numIovas = count;
      throw e;
    }
  }

  /** iommufd_ioas_allow_iovas() */
  ioasAllowIovas(ioasId: number, ranges: IovaRange[]): void {
    this.#run('IOMMU_IOAS_ALLOW_IOVAS', () => {
      const ioas = this.#ctx.getIoas(ioasId);
      // iommufd_ioas_load_iovas(): each range well formed and not overlapping the ones before.
      // (The kernel asks its interval tree per range; sorted once, an overlap is
      // a range starting at or before the furthest end of those before it:
      // O(n log n), where comparing each range with all loaded ones was O(n^2).)
      const loaded: IovaRange[] = [];
      for (const r of ranges) {
        if (r.start >= r.last) fail('EINVAL');
        loaded.push({ start: r.start, last: r.last });
      }
      const sorted = [...loaded].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
      for (let i = 1, end = sorted[0]?.last ?? 0n; i < sorted.length; i++) {
        if (sorted[i]!.start <= end) fail('EINVAL');
        if (sorted[i]!.last > end) end = sorted[i]!.last;
      }
      ioas.iopt.setAllowed(loaded);
    });
  }

  /** iommufd_ioas_copy(): the destination areas share the source's iopt_pages. */
  ioasCopy(dstIoasId: number, srcIoasId: number, flags: number, dstIova: bigint, srcIova: bigint, length: bigint): bigint {
    return this.#run('IOMMU_IOAS_COPY', () => {
      // iommufd_test_syz_conv_iova_id(): the syzkaller flag turns src_iova into {nth area, offset}.
      if (flags & ACCESS_SYZ) {
        flags &= ~ACCESS_SYZ;
        let src: IoasObj | undefined;
        try {
          src = this.#ctx.getIoas(srcIoasId);
        } catch {
          src = undefined; // no such IOAS: the iova stays, the lookup below fails
        }
        if (src) srcIova = syzConvIopt(src.iopt.areas, srcIova);
      }
      if (flags & ~(MAP_FIXED_IOVA | MAP_WRITEABLE | MAP_READABLE)) fail('EOPNOTSUPP');
      if (length >= ULONG_MAX || srcIova >= ULONG_MAX || dstIova >= ULONG_MAX) fail('EOVERFLOW');
      if (!(flags & (MAP_WRITEABLE | MAP_READABLE))) fail('EINVAL');
      const src = this.#ctx.getIoas(srcIoasId);
      const list = src.iopt.getPages(srcIova, length);
      const dst = this.#ctx.getIoas(dstIoasId);
      return dst.iopt.mapPagesList(list, length, dstIova, convProt(flags), !(flags & MAP_FIXED_IOVA));
    });
  }

  /** iommufd_option() */
  option(optionId: number, op: number, objectId: number, val64: bigint): bigint {
    return this.#run('IOMMU_OPTION', () => {
      const ctx = this.#ctx;
      if (optionId === OPTION_RLIMIT_MODE) {
        // iommufd_option_rlimit_mode(): the simulator's caller has CAP_SYS_RESOURCE.
        if (objectId) fail('EOPNOTSUPP');
        if (op === OPTION_OP_GET) return ctx.accountModeMm ? 1n : 0n;
        if (op === OPTION_OP_SET) {
          if (ctx.objects.size > 0) fail('EBUSY');
          if (val64 === 0n) ctx.accountModeMm = false;
          else if (val64 === 1n) ctx.accountModeMm = true;
          else fail('EINVAL');
          return val64;
        }
        fail('EOPNOTSUPP');
      }
      if (optionId === OPTION_HUGE_PAGES) {
        // iommufd_ioas_option() + iommufd_ioas_option_huge_pages()
        const iopt = ctx.getIoas(objectId).iopt;
        if (op === OPTION_OP_GET) return iopt.disableLargePages ? 0n : 1n;
        if (op === OPTION_OP_SET) {
          if (val64 === 0n) iopt.disableLargePagesOption();
          else if (val64 === 1n) iopt.enableLargePages();
          else fail('EINVAL');
          return val64;
        }
        fail('EOPNOTSUPP');
      }
      fail('EOPNOTSUPP');
    });
  }

  /** iommufd_vfio_ioas() */
  vfioIoas(op: number, ioasId: number): number {
    return this.#run('IOMMU_VFIO_IOAS', () => {
      const ctx = this.#ctx;
      switch (op) {
        case VFIO_IOAS_GET:
          return this.#compatIoas().id;
        case VFIO_IOAS_SET:
          ctx.vfioIoas = ctx.getIoas(ioasId);
          return ioasId;
        case VFIO_IOAS_CLEAR:
          ctx.vfioIoas = null;
          return ioasId;
        default:
          fail('EOPNOTSUPP');
      }
    });
  }

  /** get_compat_ioas() */
  #compatIoas(): IoasObj {
    const ioas = this.#ctx.vfioIoas;
    if (!ioas || ioas.users === 0) fail('ENODEV');
    return ioas;
  }

  // ---- HWPT, hw info, dirty tracking, faults ------------------------------------

  /** iommufd_hwpt_alloc() */
  hwptAlloc(request: HwptAllocRequest): number {
    const { flags, devId, ptId, dataType, faultId } = request;
    // A NULL data_uptr with a length (bad-input tests): the driver's copy faults.
    const nullData = !request.data && (request.nullDataLen ?? 0) > 0;
    const data = nullData ? new Uint8Array(request.nullDataLen!) : request.data && request.data.length > 0 ? request.data : null;
    if (data && !nullData) checkedUptr({ bytes: data, offset: 0, length: data.length });
    const dataGone = !!data && !nullData && firstUnmapped(data.buffer, data.byteOffset, data.byteOffset + data.length) >= 0;
    return this.#run('IOMMU_HWPT_ALLOC', () => {
      const ctx = this.#ctx;
      const dataLen = data?.length ?? 0;
      if ((dataType === HWPT_DATA_NONE && dataLen) || (dataType !== HWPT_DATA_NONE && !dataLen)) fail('EINVAL');
      const idev = ctx.get<Idev>(devId, ObjType.DEVICE);
      const pt = ctx.objects.get(ptId) ?? fail('EINVAL');
      let hwpt: HwptPaging | HwptNested;
      if (pt instanceof IoasObj) hwpt = ctx.hwptPagingAlloc(pt, idev, flags, data, false, dataType, nullData);
      // The driver's copy_struct_from_user() of the data faults, as from NULL,
      // where the process has no page (the bytes are never touched here).
      else if (pt instanceof HwptPaging) hwpt = ctx.hwptNestedAlloc(pt, flags, dataType, data, nullData || dataGone);
      else if (pt instanceof ViommuObj) hwpt = viommuNestedAlloc(ctx, pt, flags, dataType, data, nullData || dataGone);
      else fail('EINVAL');
      if (flags & HWPT_FAULT_ID_VALID) {
        const fault = ctx.objects.get<FaultObj>(faultId, ObjType.FAULT);
        if (!fault) {
          // iommufd_object_abort_and_destroy()
          ctx.abort(hwpt);
          hwpt.destroy();
          fail('ENOENT');
        }
        hwpt.fault = fault;
        fault.users++;
      }
      hwpt.finalized = true;
      return hwpt.id;
    });
  }

  /** iommufd_get_hw_info() with mock_domain_hw_info() */
  getHwInfo(devId: number, data: Uint8Array, flags = 0, inDataType = 0): HwInfo {
    if (data.length > 0) checkedUptr({ bytes: data, offset: 0, length: data.length });
    return this.#run('IOMMU_GET_HW_INFO', () => {
      // 6.12 knows no flags. 7.3 takes IOMMU_HW_INFO_FLAG_INPUT_TYPE, without
      // which in_data_type (it overlays out_data_type) counts as TYPE_DEFAULT.
      if (this.kernel === '6.12' ? flags : flags & ~HW_INFO_FLAG_INPUT_TYPE) fail('EOPNOTSUPP');
      if (!(flags & HW_INFO_FLAG_INPUT_TYPE)) inDataType = HW_INFO_TYPE_DEFAULT;
      const idev = this.#ctx.get<Idev>(devId, ObjType.DEVICE);
      // 7.3's mock_domain_hw_info(): its own type or the default, nothing else.
      if (inDataType !== HW_INFO_TYPE_DEFAULT && inDataType !== HW_INFO_TYPE_SELFTEST) fail('EOPNOTSUPP');
      // struct iommu_test_hw_info { u32 flags; u32 test_reg; }
      const info = new Uint8Array(8);
      new DataView(info.buffer).setUint32(4, HW_INFO_SELFTEST_REGVAL, true);
      const copy = Math.min(data.length, info.length);
      // copy_to_user() of the driver data, then clear_user() of the rest:
      // EFAULT at the first page the process does not have, the bytes before
      // it written (touching that page here would kill the process).
      const gone = data.length ? firstUnmapped(data.buffer, data.byteOffset, data.byteOffset + data.length) : -1;
      const room = gone >= 0 ? gone - data.byteOffset : data.length;
      data.set(info.subarray(0, Math.min(copy, room)));
      if (room > copy) data.fill(0, copy, room);
      if (gone >= 0) fail('EFAULT');
      const noDirty = (idev.devFlags & MOCK_FLAGS_DEVICE_NO_DIRTY) !== 0;
      let capabilities = noDirty ? 0n : BigInt(IOMMU_HW_CAP_DIRTY_TRACKING);
      if (this.kernel === '6.12') return { dataType: HW_INFO_TYPE_SELFTEST, dataLen: info.length, maxPasidLog2: 0, capabilities };
      // 7.3's iommufd_get_hw_info(): the mock is never capable of IOMMU_CAP_PCI_ATS_SUPPORTED;
      // max_pasid_log2 is ilog2(dev->iommu->max_pasids), which only a PASID device has
      // (its pasid-num-bits, MOCK_PASID_WIDTH, as wide as the mock IOMMU's). It is no PCI
      // device, so PASID_EXEC/PRIV stay clear.
      capabilities |= BigInt(IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED);
      const maxPasidLog2 = idev.devFlags & MOCK_FLAGS_DEVICE_PASID ? MOCK_PASID_WIDTH : 0;
      return { dataType: HW_INFO_TYPE_SELFTEST, dataLen: info.length, maxPasidLog2, capabilities };
    });
  }

  /** iommufd_hwpt_set_dirty_tracking() + iopt_set_dirty_tracking() */
  hwptSetDirtyTracking(hwptId: number, enable: boolean): void {
    this.#run('IOMMU_HWPT_SET_DIRTY_TRACKING', () => {
      const hwpt = this.#ctx.get<HwptPaging>(hwptId, ObjType.HWPT_PAGING);
      const domain = hwpt.domain;
      if (!domain.dirtyOps) fail('EOPNOTSUPP');
      // iopt_clear_dirty_data(): a clean snapshot (no bitmap, so no tracking check).
      if (enable) for (const area of hwpt.ioas.iopt.areas) domain.readAndClearDirty(area.start, area.length, false, null);
      domain.tracking = enable; // mock_domain_set_dirty_tracking()
    });
  }

  /** iommufd_hwpt_get_dirty_bitmap() + iopt_read_and_clear_dirty_data() */
  hwptGetDirtyBitmap(hwptId: number, flags: number, iova: bigint, length: bigint, pageSize: bigint, bitmap: BigUint64Array | Uint8Array): void {
    // The addon: one bit per page, in whole u64 words.
    const bits = pageSize === 0n ? 0n : (length + pageSize - 1n) / pageSize;
    const bytes = ((bits + 63n) / 64n) * 8n;
    if (bytes > BigInt(bitmap.byteLength)) throw new RangeError(`bitmap holds ${bitmap.byteLength * 8} bits; the range needs ${bits}`);
    // The addon's CheckedUptr(): an empty bitmap has no memory to point at.
    checkedUptr({ bytes: new Uint8Array(bitmap.buffer, bitmap.byteOffset, bitmap.byteLength), offset: 0, length: Number(bytes) });
    this.#run('IOMMU_HWPT_GET_DIRTY_BITMAP', () => {
      if (flags & ~GET_DIRTY_BITMAP_NO_CLEAR) fail('EOPNOTSUPP');
      const hwpt = this.#ctx.get<HwptPaging>(hwptId, ObjType.HWPT_PAGING);
      const iopt = hwpt.ioas.iopt;
      // iommufd_check_iova_range()
      const pgsize = iopt.iovaAlignment;
      if (!length) fail('EINVAL');
      const last = iova + length - 1n;
      if (last > U64_MAX) fail('EOVERFLOW');
      const end = (last + 1n) & U64_MAX;
      if (iova & (pgsize - 1n) || end & (pgsize - 1n)) fail('EINVAL');
      if (!pageSize) fail('EINVAL');
      if (iova & (pageSize - 1n) || end & (pageSize - 1n)) fail('EINVAL');
      const domain = hwpt.domain;
      if (!domain.dirtyOps) fail('EOPNOTSUPP');
      // iova_bitmap_for_each() calls __iommu_read_and_clear_dirty() once. 6.12
      // returns its error (EINVAL: the mock is not tracking, or an IOVA of the
      // range is not mapped), else the first iova_bitmap_set() one (EPROTO: a
      // record outside the bitmap's range); 7.3's iommu_read_and_clear_dirty()
      // drops them all.
      const errors = this.kernel === '6.12';
      let recordError: 'EPROTO' | null = null;
      const shift = BigInt(ctz(pageSize));
      const noClear = (flags & GET_DIRTY_BITMAP_NO_CLEAR) !== 0;
      // iova_bitmap_set() pins the user pages of the bitmap as it goes: a page
      // the process does not have ends that call, and its bits are dropped.
      const holes = firstUnmapped(bitmap.buffer, bitmap.byteOffset, bitmap.byteOffset + bitmap.byteLength) >= 0;
      const unmappedByte = (bit: bigint): boolean => {
        const at = bitmap.byteOffset + Number(bit >> 3n);
        return firstUnmapped(bitmap.buffer, at, at + 1) >= 0;
      };
      const record = (at: bigint, len: bigint): void => {
        // iova_bitmap_set(bitmap, at, len)
        if (errors && (len > length || at < iova || at - iova > length - len)) {
          recordError ??= 'EPROTO';
          return;
        }
        let bit = (at - iova) >> shift;
        const lastBit = (at + len - 1n - iova) >> shift;
        for (; bit <= lastBit && bit < bits; bit++) {
          if (holes && unmappedByte(bit)) return;
          if (bitmap instanceof Uint8Array) bitmap[Number(bit >> 3n)]! |= 1 << Number(bit & 7n);
          else bitmap[Number(bit >> 6n)]! |= 1n << (bit & 63n);
        }
      };
      let done: boolean;
      try {
        done = iopt.contig(iova, last, (area, cur) => {
          const stop = last < area.last ? last : area.last;
          if (!domain.readAndClearDirty(cur, stop - cur + 1n, noClear, record)) throw STOP;
        });
      } catch (e) {
        if (e !== STOP) throw e;
        done = false;
      }
      if (errors && !done) fail('EINVAL');
      if (recordError) fail(recordError);
    });
  }

  /** iommufd_hwpt_invalidate() + mock_domain_cache_invalidate_user() */
  hwptInvalidate(hwptId: number, dataType: number, entryLen: number, entries: Uint8Array | null, entryNum: number): number {
    const total = entryLen * entryNum;
    if (entries && total > entries.length)
      throw new RangeError(`${entryNum} entries of ${entryLen} bytes exceed the ${entries.length}-byte array`);
    if (entries && total > 0) checkedUptr({ bytes: entries, offset: 0, length: total });
    // data_uptr is NULL for null entries, and (like the addon) for an empty array.
    const nullUptr = !entries || entries.length === 0;
    let handled = 0;
    try {
      return this.#run('IOMMU_HWPT_INVALIDATE', () => {
        if (entryNum && (nullUptr || !entryLen || entryLen > PAGE_SIZE || entryNum > INVALIDATE_ENTRY_NUM_MAX)) fail('EINVAL');
        // 6.12: iommufd_get_hwpt_nested() (ENOENT for any other object); 7.3's
        // iommufd_hwpt_invalidate() takes any object and refuses all but NESTED (and vIOMMU) with EINVAL.
        const obj = this.#ctx.get(hwptId, this.kernel === '6.12' ? ObjType.HWPT_NESTED : undefined);
        if (obj instanceof ViommuObj) {
          const progress = { handled: 0 };
          try {
            viommuInvalidate(obj, dataType, entryLen, entries, entryNum, progress);
          } finally {
            handled = progress.handled;
          }
          return handled;
        }
        if (!(obj instanceof HwptNested)) fail('EINVAL');
        const hwpt = obj;
        if (dataType !== INVALIDATE_DATA_SELFTEST) fail('EINVAL');
        const view = new DataView(entries!.buffer, entries!.byteOffset, entries!.byteLength);
        for (let i = 0; i < entryNum; i++) {
          // iommu_copy_struct_from_user_array(): exactly sizeof(struct iommu_hwpt_invalidate_selftest).
          if (entryLen !== 8) fail('EINVAL');
          // copy_from_user() of entry i: EFAULT where the process has no page.
          const at = entries!.byteOffset + i * entryLen;
          if (firstUnmapped(entries!.buffer, at, at + entryLen) >= 0) fail('EFAULT');
          const invFlags = view.getUint32(i * entryLen, true);
          const iotlbId = view.getUint32(i * entryLen + 4, true);
          if (invFlags & ~INVALIDATE_FLAG_ALL) fail('EOPNOTSUPP');
          if (iotlbId > MOCK_NESTED_DOMAIN_IOTLB_NUM - 1) fail('EINVAL');
          if (invFlags & INVALIDATE_FLAG_ALL) hwpt.iotlb.fill(0);
          else hwpt.iotlb[iotlbId] = 0;
          handled++;
        }
        return handled;
      });
    } catch (e) {
      if (e instanceof IommufdError) (e as IommufdError & { handled: number }).handled = handled;
      throw e;
    }
  }

  /** iommufd_fault_alloc() */
  faultQueueAlloc(): { faultId: number; faultFd: number } {
    return this.#run('IOMMU_FAULT_QUEUE_ALLOC', () => {
      const ctx = this.#ctx;
      const fault = new FaultObj();
      ctx.add(fault);
      fault.users++; // the file's reference
      ctx.accessCreated(); // iommufd_ctx_get()
      fault.finalized = true;
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

  /** iommufd_fault_fops_read(): whole groups, as many as fit in maxFaults (at least one slot). */
  faultRead(faultFd: number, maxFaults: number): Fault[] {
    const { fault } = this.#faultFile(faultFd, 'read(fault fd)');
    const count = maxFaults === 0 ? 1 : maxFaults;
    const out: Fault[] = [];
    while (fault.deliver.length > 0) {
      const group = fault.deliver[0]!;
      if (group.faults.length > count - out.length) {
        if (out.length === 0) throw new IommufdError(errnoNumber('EINVAL'), 'read(fault fd)');
        break;
      }
      fault.deliver.shift();
      const cookie = fault.allocCookie(group);
      for (const f of group.faults)
        out.push({ flags: f.flags, devId: group.idev.id, pasid: f.pasid, grpid: f.grpid, perm: f.perm, addr: f.addr, length: 0, cookie });
    }
    return out;
  }

  /** iommufd_fault_fops_write() */
  faultRespond(faultFd: number, responses: { cookie: number; code: number }[]): number {
    const { fault } = this.#faultFile(faultFd, 'write(fault fd)');
    let done = 0;
    for (const r of responses) {
      // xa_erase() of the cookie, then iopf_group_response() + iopf_free_group()
      const group = r.code === PAGE_RESP_SUCCESS || r.code === PAGE_RESP_INVALID ? fault.eraseCookie(r.cookie) : undefined;
      if (!group) {
        if (done === 0) throw new IommufdError(errnoNumber('EINVAL'), 'write(fault fd)');
        break;
      }
      done++;
    }
    return done;
  }

  /** close() of a fault fd: iommufd_fault_fops_release(). */
  closeFault(faultFd: number): void {
    const file = simFds.get(faultFd);
    if (!file) throw new IommufdError(errnoNumber('EBADF'), 'close');
    if (file instanceof AccessObj) return this.closeAccess(faultFd);
    if ('veventq' in file) return this.closeVeventq(faultFd);
    simFds.delete(faultFd);
    file.fault.users--;
    file.ctx.accessGone();
  }

  // ---- 7.3's vIOMMU objects (viommu.ts); 6.12 has none of these ioctls (ENOTTY) ----

  /** The ioctl is 7.3's: 6.12's iommufd_fops_ioctl() finds no entry for it. */
  #viommuIoctl<T>(op: string, fn: () => T): T {
    return this.#run(op, () => {
      if (this.kernel === '6.12') fail('ENOTTY');
      return fn();
    });
  }

  /**
   * iommufd_viommu_alloc_ioctl(). `nullDataLen` (raw ioctls only, lib/sim/raw.ts):
   * with `data` null, the data_len sent with a NULL data_uptr.
   */
  viommuAlloc(request: ViommuAllocRequest & { nullDataLen?: number }): number {
    const { flags, type, devId, hwptId, data } = request;
    if (data && data.length > 0) checkedUptr({ bytes: data, offset: 0, length: data.length });
    const nullDataLen = data ? 0 : (request.nullDataLen ?? 0);
    return this.#viommuIoctl('IOMMU_VIOMMU_ALLOC', () => simViommuAlloc(this.#ctx, flags, type, devId, hwptId, data, nullDataLen));
  }

  /** iommufd_vdevice_alloc_ioctl() */
  vdeviceAlloc(viommuId: number, devId: number, virtId: bigint): number {
    return this.#viommuIoctl('IOMMU_VDEVICE_ALLOC', () => simVdeviceAlloc(this.#ctx, viommuId, devId, virtId));
  }

  /** iommufd_veventq_alloc(): the fd holds the object and the context. */
  veventqAlloc(flags: number, viommuId: number, type: number, depth: number): { veventqId: number; veventqFd: number } {
    return this.#viommuIoctl('IOMMU_VEVENTQ_ALLOC', () => {
      const ctx = this.#ctx;
      const veventq = simVeventqAlloc(ctx, flags, viommuId, type, depth);
      ctx.accessCreated(); // iommufd_ctx_get()
      return { veventqId: veventq.id, veventqFd: allocFd({ veventq, ctx }) };
    });
  }

  /** iommufd_veventq_fops_read() */
  veventqRead(veventqFd: number, buffer: Uint8Array): number {
    const op = 'read(veventq fd)';
    if (buffer.length > 0) checkedUptr({ bytes: buffer, offset: 0, length: buffer.length });
    const file = simFds.get(veventqFd);
    if (!file) throw new IommufdError(errnoNumber('EBADF'), op);
    if (!('veventq' in file)) throw new IommufdError(errnoNumber('EINVAL'), op);
    try {
      return simVeventqRead(file.veventq, buffer);
    } catch (e) {
      if (e instanceof SimErrno) throw new IommufdError(errnoNumber(e.code), op);
      throw e;
    }
  }

  /** close() of a vEVENTQ fd: iommufd_eventq_fops_release(). */
  closeVeventq(veventqFd: number): void {
    const file = simFds.get(veventqFd);
    if (!file) throw new IommufdError(errnoNumber('EBADF'), 'close');
    if (!('veventq' in file)) return this.closeFault(veventqFd);
    simFds.delete(veventqFd);
    file.veventq.users--;
    file.ctx.accessGone();
  }

  /** iommufd_hw_queue_alloc_ioctl() */
  hwQueueAlloc(request: HwQueueAllocRequest): number {
    return this.#viommuIoctl('IOMMU_HW_QUEUE_ALLOC', () => simHwQueueAlloc(this.#ctx, request, (access, iova, length) => pinPages(access, iova, length, false)));
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

  /** iommufd_test_dev_check_cache() (7.3; 6.12's iommufd_test() answers EOPNOTSUPP) */
  devCheckCache(devId: number, cacheId: number, value: number): void {
    this.#run('IOMMU_TEST_OP_DEV_CHECK_CACHE', () => {
      if (this.kernel === '6.12') fail('EOPNOTSUPP');
      simDevCheckCache(this.#ctx, devId, cacheId, value);
    });
  }

  /** iommufd_test_trigger_vevent() (7.3) */
  triggerVevent(devId: number): void {
    this.#run('IOMMU_TEST_OP_TRIGGER_VEVENT', () => {
      if (this.kernel === '6.12') fail('EOPNOTSUPP');
      simTriggerVevent(this.#ctx, devId);
    });
  }

  // ---- 7.3's mock dma-buf (selftest.ts TestDmabuf) ------------------------------

  /** iommufd_test_dmabuf_get() (7.3; 6.12's iommufd_test() answers EOPNOTSUPP). Open flags change nothing modelled. */
  dmabufGet(length: number, _openFlags: number): number {
    return this.#run('IOMMU_TEST_OP_DMABUF_GET', () => {
      if (this.kernel === '6.12') fail('EOPNOTSUPP');
      return allocDmabufFd(TestDmabuf.get(length));
    });
  }

  /** iommufd_test_dmabuf_revoke() (7.3) */
  dmabufRevoke(dmabufFd: number, revoked: boolean): void {
    this.#run('IOMMU_TEST_OP_DMABUF_REVOKE', () => {
      if (this.kernel === '6.12') fail('EOPNOTSUPP');
      const dmabuf = simDmabufs.get(dmabufFd);
      // dma_buf_get(): EBADF for no file, EINVAL for a file that is not a dma-buf.
      if (!dmabuf) fail(simFds.has(dmabufFd) || isOpenDescriptor(dmabufFd) ? 'EINVAL' : 'EBADF');
      dmabuf.revoke(revoked);
    });
  }

  /** close() of a mock dma-buf's descriptor: the buffer lives on while mapped. */
  closeDmabuf(dmabufFd: number): void {
    if (!simDmabufs.delete(dmabufFd)) throw new IommufdError(errnoNumber('EBADF'), 'close');
  }

  /** A raw ioctl, decoded as the modelled kernel's driver decodes it (lib/sim/raw.ts). */
  rawIoctl(request: number, arg: Uint8Array | number | null, name: string): number {
    if (this.#ctx.closed) throw new IommufdError(errnoNumber('EBADF'), name);
    return simRawIoctl(this, request, arg, name);
  }

  // ---- VFIO compatibility (vfio_compat.c) -------------------------------------------

  vfioGetApiVersion(): number {
    return this.#run('VFIO_GET_API_VERSION', () => VFIO_API_VERSION);
  }

  /** iommufd_vfio_check_extension() */
  vfioCheckExtension(extension: number): number {
    return this.#run('VFIO_CHECK_EXTENSION', () => {
      switch (extension) {
        case VFIO_TYPE1_IOMMU:
        case VFIO_TYPE1v2_IOMMU:
        case VFIO_UNMAP_ALL:
          return 1; // !ictx->no_iommu_mode: no no-iommu device is ever bound here
        case VFIO_DMA_CC_IOMMU: {
          // iommufd_vfio_cc_iommu(): the mock does not enforce cache coherency.
          const ioas = this.#compatIoas();
          return ioas.hwpts.length > 0 ? 0 : 1;
        }
        case VFIO_NOIOMMU_IOMMU:
          return 1; // IS_ENABLED(CONFIG_VFIO_NOIOMMU): the rig's kernels have it (scripts/kernel.config)
        default:
          return 0;
      }
    });
  }

  /** iommufd_vfio_set_iommu() */
  vfioSetIommu(type: number): void {
    this.#run('VFIO_SET_IOMMU', () => {
      if (type !== VFIO_TYPE1_IOMMU && type !== VFIO_TYPE1v2_IOMMU) fail('EINVAL');
      const ioas = this.#compatIoas();
      if (type === VFIO_TYPE1_IOMMU) ioas.iopt.disableLargePagesOption();
    });
  }

  /** iommufd_vfio_iommu_get_info() with the argsz handshake the addon makes, parsed. */
  vfioIommuGetInfo(): VfioIommuInfo {
    return this.#run('VFIO_IOMMU_GET_INFO', () => {
      const ioas = this.#compatIoas();
      const iopt = ioas.iopt;
      // iommufd_get_pagesizes()
      let pgsizes = ULONG_MAX;
      for (const d of iopt.domains) pgsizes &= d.pgsizeBitmap;
      if (pgsizes & (PAGE - 1n)) pgsizes = (pgsizes & ~(PAGE - 1n) & ULONG_MAX) | PAGE;
      if (iopt.iovaAlignment > pgsizes) pgsizes = iopt.iovaAlignment;
      const ranges = iopt.iovaRanges();
      // struct vfio_iommu_type1_info (24 bytes), then the DMA_AVAIL cap (12 -> 16), then IOVA_RANGE.
      const dmaAvailAt = 24;
      const iovaAt = dmaAvailAt + 16;
      const size = iovaAt + 16 + 16 * ranges.length;
      const bytes = new Uint8Array(size);
      const view = new DataView(bytes.buffer);
      view.setUint32(0, size, true);
      view.setUint32(4, VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS, true);
      view.setBigUint64(8, pgsizes, true);
      view.setUint32(16, dmaAvailAt, true);
      view.setUint16(dmaAvailAt, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, true);
      view.setUint16(dmaAvailAt + 2, 1, true);
      view.setUint32(dmaAvailAt + 4, iovaAt, true);
      view.setUint32(dmaAvailAt + 8, 0xffffffff, true);
      view.setUint16(iovaAt, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, true);
      view.setUint16(iovaAt + 2, 1, true);
      view.setUint32(iovaAt + 8, ranges.length, true);
      ranges.forEach((r, i) => {
        view.setBigUint64(iovaAt + 16 + 16 * i, r.start, true);
        view.setBigUint64(iovaAt + 24 + 16 * i, r.last, true);
      });
      return parseVfioIommuInfo(bytes);
    });
  }

  /** iommufd_vfio_map_dma() */
  vfioMapDma(flags: number, memory: UserRange, iova: bigint): void {
    const uptr = checkedUptr(memory);
    this.#run('VFIO_IOMMU_MAP_DMA', () => {
      if (flags & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)) fail('EINVAL');
      let prot = 0;
      if (flags & VFIO_DMA_MAP_FLAG_READ) prot |= IOMMU_READ;
      if (flags & VFIO_DMA_MAP_FLAG_WRITE) prot |= IOMMU_WRITE;
      const ioas = this.#compatIoas();
      // iopt_map_user_pages(ictx, iopt, &iova, vaddr, size, prot, 0)
      const pages = IoptPages.alloc(memory, uptr, (prot & IOMMU_WRITE) !== 0);
      if (typeof pages === 'string') fail(pages);
      ioas.iopt.mapPages(pages, uptr, memory.length, iova, prot, false);
    });
  }

  /** iommufd_vfio_unmap_dma(): returns the bytes unmapped. */
  vfioUnmapDma(flags: number, iova: bigint, size: bigint): bigint {
    return this.#run('VFIO_IOMMU_UNMAP_DMA', () => {
      if (flags & ~VFIO_DMA_UNMAP_FLAG_ALL) fail('EINVAL');
      const iopt = this.#compatIoas().iopt;
      if (flags & VFIO_DMA_UNMAP_FLAG_ALL) {
        if (iova !== 0n || size !== 0n) fail('EINVAL');
        return iopt.unmapRange(0n, ULONG_MAX);
      }
      if (iopt.disableLargePages) {
        // Cut at the start and last of the range (TYPE1 may unmap inside a mapping).
        const cuts = [(iova + size - 1n) & U64_MAX];
        if (iova) cuts.push(iova - 1n);
        iopt.cutIova(cuts);
      }
      return iopt.unmap(iova, size);
    });
  }

  // ---- IOMMU_TEST_CMD ------------------------------------------------------------

  /** iommufd_test_add_reserved() */
  addReserved(ioasId: number, start: bigint, length: bigint): void {
    this.#run('IOMMU_TEST_OP_ADD_RESERVED', () => {
      if (!length) fail('EINVAL');
      const last = start + length - 1n;
      if (last > ULONG_MAX) fail('EOVERFLOW');
      this.#ctx.getIoas(ioasId).iopt.reserveIova(start, last, null);
    });
  }

  /** iommufd_test_mock_domain() */
  mockDomain(ptId: number, devFlags?: number): MockDomainIds {
    const op = devFlags === undefined ? 'IOMMU_TEST_OP_MOCK_DOMAIN' : 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS';
    return this.#run(op, () => {
      const ctx = this.#ctx;
      const idev = new Idev(devFlags ?? 0);
      const sobj = new SelftestObj(ctx, idev);
      ctx.add(sobj);
      // mock_dev_create(): 7.3 dropped HUGE_IOVA (MOCK_IOMMUPT_HUGE replaces it) and added PASID.
      const validFlags = MOCK_FLAGS_DEVICE_NO_DIRTY | (this.kernel === '6.12' ? MOCK_FLAGS_DEVICE_HUGE_IOVA : MOCK_FLAGS_DEVICE_PASID);
      if ((devFlags ?? 0) & ~validFlags) {
        ctx.abort(sobj);
        fail('EINVAL');
      }
      // iommufd_device_bind(): the driver holds a users ref until unbind.
      try {
        ctx.addFinalized(idev);
      } catch (e) {
        ctx.abort(sobj);
        throw e;
      }
      idev.users++;
      let hwptId: number;
      try {
        hwptId = ctx.deviceAttach(idev, ptId);
      } catch (e) {
        ctx.destroyUser(idev);
        ctx.abort(sobj);
        throw e;
      }
      sobj.finalized = true;
      return { stdevId: sobj.id, hwptId, idevId: idev.id };
    });
  }

  /** iommufd_test_mock_domain_replace(): returns the HWPT id now attached. */
  // ---- 7.3's PASID test ops (device-pasid.ts); pasid 0 is the RID -----------------

  /** iommufd_test_pasid_attach() */
  pasidAttach(stdevId: number, pasid: number, ptId: number): number {
    return this.#run('IOMMU_TEST_OP_PASID_ATTACH', () => {
      const idev = this.#pasidDevice(stdevId);
      if (pasid !== NO_PASID) return simPasidAttach(this.#ctx, idev, pasid, ptId);
      if (idev.hwpt) fail('EBUSY'); // iommufd_hw_pagetable_attach(): the RID is attached already
      return this.#ctx.deviceAttach(idev, ptId);
    });
  }

  /** iommufd_test_pasid_replace() */
  pasidReplace(stdevId: number, pasid: number, ptId: number): number {
    return this.#run('IOMMU_TEST_OP_PASID_REPLACE', () => {
      const idev = this.#pasidDevice(stdevId);
      if (pasid !== NO_PASID) return simPasidReplace(this.#ctx, idev, pasid, ptId);
      return this.#ctx.deviceReplace(idev, ptId);
    });
  }

  /** iommufd_test_pasid_detach() */
  pasidDetach(stdevId: number, pasid: number): void {
    this.#run('IOMMU_TEST_OP_PASID_DETACH', () => {
      const idev = this.#pasidDevice(stdevId);
      if (pasid !== NO_PASID) simPasidDetach(this.#ctx, idev, pasid);
      else this.#ctx.deviceDetach(idev);
    });
  }

  /** iommufd_test_pasid_check_hwpt() */
  pasidCheckHwpt(stdevId: number, pasid: number, hwptId: number): void {
    this.#run('IOMMU_TEST_OP_PASID_CHECK_HWPT', () => simPasidCheckHwpt(this.#ctx, this.#pasidDevice(stdevId), pasid, hwptId));
  }

  /** The op is 7.3's (6.12's iommufd_test() answers EOPNOTSUPP); then iommufd_test_get_selftest_obj(). */
  #pasidDevice(stdevId: number): Idev {
    if (this.kernel === '6.12') fail('EOPNOTSUPP');
    return this.#ctx.get<SelftestObj>(stdevId, ObjType.SELFTEST).idev;
  }

  mockDomainReplace(stdevId: number, ptId: number): number {
    return this.#run('IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', () => {
      const sobj = this.#ctx.get<SelftestObj>(stdevId, ObjType.SELFTEST);
      return this.#ctx.deviceReplace(sobj.idev, ptId);
    });
  }

  /** iommufd_test_md_check_iotlb() */
  mdCheckIotlb(hwptId: number, iotlbId: number, iotlb: number): void {
    this.#run('IOMMU_TEST_OP_MD_CHECK_IOTLB', () => {
      const hwpt = this.#ctx.get<HwptNested>(hwptId, ObjType.HWPT_NESTED);
      if (iotlbId > MOCK_NESTED_DOMAIN_IOTLB_NUM - 1 || hwpt.iotlb[iotlbId] !== iotlb >>> 0) fail('EINVAL');
    });
  }

  /**
   * iommufd_test_dirty(). Like the 6.12 mock, the entry of the IOVA at bit i is
   * looked up at index (iova + i * page_size) / page_size of the pfns xarray,
   * whose indexes are in MOCK_IO_PAGE_SIZE units: page sizes other than
   * MOCK_IO_PAGE_SIZE mark (and count) other entries, as the kernel does.
   * 7.3's mock calls iommu_pt's set_dirty() on iova + i * page_size, which marks
   * the AMDv1 entry there if one is mapped, and counts every set bit whatever
   * set_dirty() answered.
   */
  dirty(hwptId: number, flags: number, iova: bigint, length: bigint, pageSize: bigint, bitmap: Uint8Array): bigint {
    // The addon: the mock reads ceil(length / page_size / 8) bytes of bitmap.
    const bits = pageSize === 0n ? 0n : length / pageSize;
    const bytes = (bits + 7n) / 8n;
    if (bytes > BigInt(bitmap.length)) throw new RangeError(`bitmap holds ${bitmap.length * 8} bits; the range needs ${bits}`);
    const uptr = bitmap.length === 0 ? 0 : checkedUptr({ bytes: bitmap, offset: 0, length: Number(bytes) });
    void flags; // read by the kernel, used for nothing
    return this.#run('IOMMU_TEST_OP_DIRTY', () => {
      if (!pageSize || !length || iova % pageSize || length % pageSize || !uptr) fail('EINVAL');
      const max = length / pageSize;
      if (max > 16n * 1024n * 1024n * 8n) fail('EOVERFLOW');
      const hwpt = this.#ctx.get<HwptPaging>(hwptId, ObjType.HWPT_PAGING);
      const domain = hwpt.domain;
      if (!domain.tracking) fail('EINVAL');
      // copy_from_user() of the bitmap.
      if (firstUnmapped(bitmap.buffer, bitmap.byteOffset, bitmap.byteOffset + Number(bytes)) >= 0) fail('EFAULT');
      let count = 0n;
      const n = Number(max);
      for (let byte = 0; byte * 8 < n; byte++) {
        const b = bitmap[byte]!;
        if (!b) continue;
        for (let bit = 0; bit < 8; bit++) {
          const i = byte * 8 + bit;
          if (i >= n || !(b & (1 << bit))) continue;
          if (domain.amdv1) {
            const entry = Number((iova + BigInt(i) * pageSize) / MOCK_IO_PAGE_SIZE);
            if (domain.hasEntry(entry)) domain.dirty.add(entry);
            count++;
            continue;
          }
          const index = Number((iova + BigInt(i) * pageSize) / pageSize);
          if (!domain.hasEntry(index)) continue;
          domain.dirty.add(index);
          count++;
        }
      }
      return count;
    });
  }

  /** iommufd_test_trigger_iopf() + iommu_report_device_fault() */
  triggerIopf(devId: number, pasid: number, grpid: number, perm: number, addr: bigint): void {
    this.#run('IOMMU_TEST_OP_TRIGGER_IOPF', () => {
      const idev = this.#ctx.get<Idev>(devId, ObjType.DEVICE);
      let flags = PGFAULT_FLAGS_LAST_PAGE;
      if (pasid !== 0) flags |= PGFAULT_FLAGS_PASID_VALID;
      // find_fault_handler(): the PASID's own attachment (7.3), else a PASID fault goes to
      // a NESTED domain on the RID (user_pasid_table); without a handler it is dropped.
      const onPasid = pasid !== 0 ? pasidHwpt(idev, pasid) : null;
      const hwpt = onPasid ?? idev.hwpt;
      const handle = onPasid ? pasidHandle(idev, pasid) : idev.handle;
      if (!hwpt || !handle) return;
      if (pasid !== 0 && !onPasid && !(hwpt instanceof HwptNested)) return;
      if (!hwpt.fault) return;
      hwpt.fault.deliver.push({ faults: [{ flags, pasid, grpid, perm, addr }], idev, handle, cookie: 0 });
    });
  }

  /** iommufd_test_md_check_pa(): every IO page of the IOVA range maps the same byte of memory. */
  mdCheckMap(hwptId: number, iova: bigint, memory: UserRange): void {
    const uptr = checkedUptr(memory);
    this.#run('IOMMU_TEST_OP_MD_CHECK_MAP', () => {
      const length = BigInt(memory.length);
      const misaligned = (step: bigint) => iova % step || length % step || BigInt(uptr) % step;
      // 6.12 checks alignment to MOCK_IO_PAGE_SIZE before the lookup; 7.3's
      // iommufd_test_md_check_pa() looks the HWPT up first (ENOENT) and steps by
      // its smallest page size (1 << __ffs(pgsize_bitmap)).
      if (this.kernel === '6.12' && misaligned(MOCK_IO_PAGE_SIZE)) fail('EINVAL');
      const hwpt = this.#ctx.get<import('./selftest.js').HwptPaging>(hwptId, ObjType.HWPT_PAGING);
      const step = this.kernel === '6.12' ? MOCK_IO_PAGE_SIZE : hwpt.domain.minPageSize;
      if (misaligned(step)) fail('EINVAL');
      const iopt = hwpt.ioas.iopt;
      // The domain holds every area of its IOAS (iopt_fill_domain /
      // iopt_fill_domains_pages), and nothing once detached.
      const mismatch = iopt.domains.includes(hwpt.domain) ? firstUntranslated(iopt, iova, uptr, length) : 0n;
      // IO page by IO page: get_user_pages_fast() of its user page (EFAULT
      // where the process has none), then the comparison (EINVAL).
      const base = memory.bytes.byteOffset + memory.offset;
      const gone = length ? firstUnmapped(memory.bytes.buffer, base - (base % PAGE_SIZE), base + Number(length)) : -1;
      const goneAt = BigInt(Math.max(0, gone - base));
      if (gone >= 0 && (mismatch < 0n || goneAt / step <= mismatch / step)) fail('EFAULT');
      if (mismatch >= 0n) fail('EINVAL');
    });
  }

  /** iommufd_test_md_check_refs() */
  mdCheckRefs(memory: UserRange, refs: number): void {
    const uptr = checkedUptr(memory);
    this.#run('IOMMU_TEST_OP_MD_CHECK_REFS', () => {
      if (memory.length % PAGE_SIZE || uptr % PAGE_SIZE) fail('EINVAL');
      if (memory.length === 0) return;
      const first = (memory.bytes.byteOffset + memory.offset) / PAGE_SIZE;
      const last = first + memory.length / PAGE_SIZE - 1;
      // Page by page: get_user_pages_fast() (EFAULT where the process has no
      // page), then the pin count (EIO); the first page to fail decides.
      const gone = firstUnmapped(memory.bytes.buffer, first * PAGE_SIZE, (last + 1) * PAGE_SIZE);
      const wrong = firstPinCountMismatch(memory.bytes.buffer, first, last, refs);
      if (gone >= 0 && (wrong < 0 || Math.floor(gone / PAGE_SIZE) <= wrong)) fail('EFAULT');
      if (wrong >= 0) fail('EIO');
    });
  }

  /** iommufd_test_create_access() */
  createAccess(ioasId: number, flags: number): number {
    return this.#run('IOMMU_TEST_OP_CREATE_ACCESS', () => {
      if (flags & ~NEEDS_PIN_PAGES) fail('EOPNOTSUPP');
      const ctx = this.#ctx;
      // iommufd_access_create(): an object (it takes an id), held by the driver and holding the ctx.
      const access = new AccessObj(ctx, (flags & NEEDS_PIN_PAGES) !== 0);
      ctx.addFinalized(access);
      access.users++;
      ctx.accessCreated();
      try {
        ctx.accessChangeIoas(access, ctx.getIoas(ioasId));
      } catch (e) {
        ctx.destroyUser(access);
        throw e;
      }
      return allocFd(access);
    });
  }

  /** close() of the access fd: iommufd_test_staccess_release(). */
  closeAccess(fd: number): void {
    const access = simFds.get(fd);
    if (!access) throw new IommufdError(errnoNumber('EBADF'), 'close');
    if (!(access instanceof AccessObj)) return this.closeFault(fd);
    simFds.delete(fd);
    access.unmap(0n, ULONG_MAX);
    access.ctx.destroyUser(access);
  }

  /** iommufd_access_get() */
  #access(fd: number): AccessObj {
    const file = simFds.get(fd);
    return file instanceof AccessObj ? file : fail('EBADFD');
  }

  /** iommufd_test_access_pages() */
  accessPages(fd: number, flags: number, iova: bigint, length: number, verify: UserRange | null): number {
    let uptr = 0;
    if (verify) {
      const head = Number(iova % PAGE);
      const tail = (PAGE_SIZE - Number((iova + BigInt(length)) % PAGE)) % PAGE_SIZE;
      uptr = checkedUptr({ bytes: verify.bytes, offset: verify.offset, length }, head, tail);
    }
    return this.#run('IOMMU_TEST_OP_ACCESS_PAGES', () => {
      if (length > ACCESS_MAX) fail('ENOMEM');
      if (flags & ~(ACCESS_WRITE | ACCESS_SYZ)) fail('EOPNOTSUPP');
      const access = this.#access(fd);
      if (!access.needsPinPages) fail('EOPNOTSUPP');
      if (flags & ACCESS_SYZ) iova = syzConvIova(access, iova);
      const len = BigInt(length);
      const frames = pinPages(access, iova, len, (flags & ACCESS_WRITE) !== 0);
      if (uptr) {
        // iommufd_test_check_pages(): the pinned pages are the pages under uptr.
        const npages = Number((((iova + len + PAGE - 1n) & ~(PAGE - 1n)) - (iova & ~(PAGE - 1n))) / PAGE);
        const userFirst = Math.floor((uptr - Number(iova % PAGE)) / PAGE_SIZE);
        // Page by page: get_user_pages_fast() of the user page (EFAULT where
        // the process has none), then the comparison (EBADE).
        const pageBase = verify!.bytes.byteOffset + verify!.offset - Number(iova % PAGE);
        const gone = firstUnmapped(verify!.bytes.buffer, pageBase, pageBase + npages * PAGE_SIZE);
        const goneIndex = gone < 0 ? -1 : Math.floor((gone - pageBase) / PAGE_SIZE);
        for (let i = 0; i < npages; i++) {
          if (i === goneIndex) {
            access.unpinPages(iova, len);
            fail('EFAULT');
          }
          if (frames[i] !== userFirst + i) {
            access.unpinPages(iova, len);
            fail('EBADE');
          }
        }
      }
      const id = access.nextId++;
      access.items.push({ iova, length: len, id });
      return id;
    });
  }

  /** iommufd_test_access_item_destroy() */
  destroyAccessPages(fd: number, accessPagesId: number): void {
    this.#run('IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', () => {
      const access = this.#access(fd);
      const at = access.items.findIndex((item) => item.id === accessPagesId);
      if (at < 0) fail('ENOENT');
      const [item] = access.items.splice(at, 1);
      access.unpinPages(item!.iova, item!.length);
    });
  }

  /** iommufd_test_access_rw() + iommufd_access_rw() */
  accessRw(fd: number, flags: number, iova: bigint, memory: UserRange): void {
    checkedUptr(memory);
    this.#run('IOMMU_TEST_OP_ACCESS_RW', () => {
      const length = memory.length;
      if (length > ACCESS_MAX) fail('ENOMEM');
      if (flags & ~(RW_WRITE | RW_SLOW_PATH | ACCESS_SYZ)) fail('EOPNOTSUPP');
      const access = this.#access(fd);
      const write = (flags & RW_WRITE) !== 0;
      const user = memory.bytes.subarray(memory.offset, memory.offset + length);
      const tmp = new Uint8Array(length);
      // copy_from_user() / copy_to_user() of the caller's memory: EFAULT where
      // the process has no page (a read delivers the bytes before it).
      const userStart = memory.bytes.byteOffset + memory.offset;
      const gone = firstUnmapped(memory.bytes.buffer, userStart, userStart + length);
      if (write && gone >= 0) fail('EFAULT');
      if (write) tmp.set(user);
      if (flags & ACCESS_SYZ) iova = syzConvIova(access, iova);
      if (!length) fail('EINVAL');
      const last = iova + BigInt(length) - 1n;
      if (last > ULONG_MAX) fail('EOVERFLOW');
      if (!access.ioas) fail('ENOENT');
      let at = 0;
      const done = access.ioas.iopt.contig(iova, last, (area, cur) => {
        const end = last < area.last ? last : area.last;
        const bytes = Number(end - cur) + 1;
        if (area.preventAccess) fail('EINVAL');
        if (!(area.prot & (write ? IOMMU_WRITE : IOMMU_READ))) fail('EPERM');
        // iopt_pages_rw_access(): every path copies the same bytes. (Not modelled:
        // the slow path over several pages reads pinned pages through their pins,
        // so it still works after the process unmapped them; here it is EFAULT.)
        if (write && !area.pages.writable) fail('EPERM');
        if (area.pages.dmabuf) fail('EINVAL'); // no CPU access to an importer's dma-buf
        // A file's pages are always read through their pins (iopt_pages_rw_slow()).
        const pinFailure = area.pages.file ? area.pages.pinFailure(area.indexOf(cur), area.indexOf(end)) : null;
        if (pinFailure) fail(pinFailure);
        const view = area.pages.view(area.startByteOf(cur), bytes);
        if (!view) fail('EFAULT');
        if (write) view.set(tmp.subarray(at, at + bytes));
        else tmp.set(view, at);
        at += bytes;
      });
      if (!done) fail('ENOENT');
      if (!write && gone >= 0) {
        user.set(tmp.subarray(0, gone - userStart));
        fail('EFAULT');
      }
      if (!write) user.set(tmp);
    });
  }

  /** iommufd_test_access_replace_ioas() */
  accessReplaceIoas(fd: number, ioasId: number): void {
    this.#run('IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', () => {
      const access = this.#access(fd);
      if (!access.ioas) fail('ENOENT');
      access.ctx.accessChangeIoas(access, access.ctx.getIoas(ioasId));
    });
  }

  setTempMemoryLimit(bytes: number): void {
    this.#run('IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT', () => {
      // Protect _batch_init(): not less than sizeof(unsigned long) + sizeof(u32).
      if (bytes < 12) fail('EINVAL');
      tempMemoryLimit = bytes;
    });
  }
}

/** Whether `fd` is an open descriptor of this process (fstat() succeeds). */
function isOpenDescriptor(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

/**
 * The file behind `ref` (fget(): EBADF for a descriptor that is not open). A
 * MemFile's view is the file's memory itself; a bare descriptor's bytes are
 * read once, as a copy (the simulator cannot map the file), and it counts as a
 * memfd when /proc says so (memfd_pin_folios() pins nothing else).
 */
function simFileOf(ref: FileRef): SimFile {
  if (ref.bytes) return { buffer: ref.bytes.buffer, size: ref.bytes.byteLength, memfd: true };
  let size: number;
  try {
    const st = fstatSync(ref.fd);
    size = st.isFile() ? st.size : 0;
  } catch {
    fail('EBADF');
  }
  let memfd = false;
  try {
    memfd = readlinkSync(`/proc/self/fd/${ref.fd}`).startsWith('/memfd:');
  } catch {
    // no /proc (another OS): a regular file
  }
  const copy = new Uint8Array(size);
  if (size > 0) readSync(ref.fd, copy, 0, size, 0);
  return { buffer: copy.buffer, size, memfd };
}

/**
 * iommufd_access_pin_pages(): pin every page of [iova, iova + length) through
 * the contiguous areas under it. Returns the page frames, in order.
 */
function pinPages(access: AccessObj, iova: bigint, length: bigint, write: boolean): number[] {
  if (!length) fail('EINVAL');
  const last = iova + length - 1n;
  if (last > ULONG_MAX) fail('EOVERFLOW');
  if (!access.ioas) fail('ENOENT');
  const added: [import('./io-pagetable.js').Area, number, number][] = [];
  const frames: number[] = [];
  try {
    const done = access.ioas.iopt.contig(iova, last, (area, cur, isDone) => {
      const end = last < area.last ? last : area.last;
      const index = area.indexOf(cur);
      const lastIndex = area.indexOf(end);
      // iopt_area_contig_is_aligned()
      const aligned =
        area.startByteOf(cur) % PAGE_SIZE === 0 && (isDone || area.startByteOf(area.last) % PAGE_SIZE === PAGE_SIZE - 1);
      if (area.preventAccess || !aligned) fail('EINVAL');
      if (!(area.prot & (write ? IOMMU_WRITE : IOMMU_READ))) fail('EPERM');
      // iopt_area_add_access(): a dma-buf has no pages to pin.
      if (write && !area.pages.writable) fail('EPERM');
      if (area.pages.dmabuf) fail('EINVAL');
      // A new interval reads the pages nobody holds yet from the process.
      const failure = area.pages.hasExactAccess(index, lastIndex) ? null : area.pages.unpinnedPinFailure(index, lastIndex);
      if (failure) fail(failure);
      area.pages.addAccess(index, lastIndex);
      area.numAccesses++;
      added.push([area, index, lastIndex]);
      for (let i = index; i <= lastIndex; i++) frames.push(area.pages.pageFrame(i));
    });
    if (!done) fail('ENOENT');
  } catch (e) {
    for (const [area, index, lastIndex] of added) {
      area.pages.removeAccess(index, lastIndex);
      area.numAccesses--;
    }
    throw e;
  }
  return frames;
}

/**
 * The first byte (from iova) of [iova, iova + length) whose area does not map
 * the user address uptr + that offset, or -1 if all of it does.
 */
function firstUntranslated(iopt: IoPagetable, iova: bigint, uptr: number, length: bigint): bigint {
  let cur = iova;
  let user = uptr;
  let left = length;
  while (left > 0n) {
    const c = iopt.areas.iterFirst(cur, cur);
    const area = c ? c.leaf.items[c.index]! : null;
    if (!area || area.pages.uptr + area.startByteOf(cur) !== user) return cur - iova;
    const run = area.last - cur + 1n < left ? area.last - cur + 1n : left;
    cur += run;
    user += Number(run);
    left -= run;
  }
  return -1n;
}

/** __iommufd_test_syz_conv_iova() on an io_pagetable's areas: {u32 nth_area, u32 offset}. */
function syzConvIopt(areas: Iterable<{ start: bigint }>, iova: bigint): bigint {
  let nth = Number(iova & 0xffffffffn);
  const offset = (iova >> 32n) & 0xffffffffn;
  for (const area of areas) {
    if (nth === 0) return area.start + offset;
    nth--;
  }
  return 0n;
}

/** iommufd_test_syz_conv_iova(): the iova is {u32 nth_area, u32 offset}. */
function syzConvIova(access: AccessObj, iova: bigint): bigint {
  if (!access.ioas) return 0n;
  let nth = Number(iova & 0xffffffffn);
  const offset = iova >> 32n;
  for (const area of access.ioas.iopt.areas) {
    if (nth === 0) return area.start + offset;
    nth--;
  }
  return 0n;
}


// Every Backend method checks its argument types first (lib/backend/args.ts).
checkArgumentsOf(SimBackend);
