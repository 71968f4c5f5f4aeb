// ioas.c in the simulator: the IOAS ioctls (IOMMU_IOAS_ALLOC, _MAP, _MAP_FILE,
// _CHANGE_PROCESS, _NOIOMMU_GET_PA, _UNMAP, _IOVA_RANGES, _ALLOW_IOVAS, _COPY),
// the options ioas.c answers for main.c's IOMMU_OPTION (RLIMIT_MODE and
// HUGE_PAGES), and the IOAS destroy op. The io_pagetable itself is io-pagetable.ts.

import type { FileRef, IovaRange, IovaRanges, NoiommuPa, UserRange } from '../backend/contract.js';
import {
  IOMMU_IOAS_MAP_FIXED_IOVA as MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE as MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE as MAP_WRITEABLE,
  IOMMU_OPTION_OP_GET as OPTION_OP_GET,
  IOMMU_OPTION_OP_SET as OPTION_OP_SET,
} from '../uapi/constants.js';
import { firstUnmapped } from '../base/user-pages.js';
import { fstatSync, readFileSync, readSync, readlinkSync } from 'node:fs';
import { simDmabufs } from './files.js';
import { IOMMU_READ, IOMMU_WRITE, U64_MAX, ULONG_MAX, fail } from './io-pagetable.js';
import { IoasObj, type SimContext } from './objects.js';
import { IoptPages, type SimFile } from './pages.js';
import { ACCESS_SYZ, syzConvIopt } from './selftest.js';

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

/** conv_iommu_prot() */
function convProt(flags: number): number {
  let prot = 0;
  if (flags & MAP_WRITEABLE) prot |= IOMMU_WRITE;
  if (flags & MAP_READABLE) prot |= IOMMU_READ;
  return prot;
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

/** iommufd_ioas_destroy() */
export function ioasDestroy(ioas: IoasObj): void {
  ioas.iopt.destroy();
}

/** iommufd_ioas_alloc_ioctl() */
export function ioasAlloc(ctx: SimContext): number {
  return ctx.addFinalized(new IoasObj());
}

/** iommufd_ioas_map() */
export function ioasMap(ctx: SimContext, ioasId: number, flags: number, memory: UserRange, uptr: number, iova: bigint): bigint {
  if (flags & ~(MAP_FIXED_IOVA | MAP_WRITEABLE | MAP_READABLE)) fail('EOPNOTSUPP');
  if (iova >= ULONG_MAX || BigInt(memory.length) >= ULONG_MAX) fail('EOVERFLOW');
  if (!(flags & (MAP_WRITEABLE | MAP_READABLE))) fail('EINVAL');
  const ioas = ctx.getIoas(ioasId);
  const prot = convProt(flags);
  const pages = IoptPages.alloc(memory, uptr, (prot & IOMMU_WRITE) !== 0);
  if (typeof pages === 'string') fail(pages);
  return ioas.iopt.mapPages(pages, uptr, memory.length, iova, prot, !(flags & MAP_FIXED_IOVA));
}

/** iommufd_ioas_map_file() (7.3; 6.12's iommufd_fops_ioctl() does not know the ioctl) */
export function ioasMapFile(ctx: SimContext, ioasId: number, flags: number, file: FileRef, start: bigint, length: bigint, iova: bigint): bigint {
  if (ctx.kernel === '6.12') fail('ENOTTY');
  if (flags & ~(MAP_FIXED_IOVA | MAP_WRITEABLE | MAP_READABLE)) fail('EOPNOTSUPP');
  if (iova >= ULONG_MAX || length >= ULONG_MAX) fail('EOVERFLOW');
  if (!(flags & (MAP_WRITEABLE | MAP_READABLE))) fail('EINVAL');
  const ioas = ctx.getIoas(ioasId);
  // dma_buf_get() first: a dma-buf is imported, any other file pinned.
  const fileOf = () => (file.bytes ? undefined : simDmabufs.get(file.fd)) ?? simFileOf(file);
  return ioas.iopt.mapFilePages(fileOf, start, length, iova, convProt(flags), !(flags & MAP_FIXED_IOVA));
}

/**
 * iommufd_ioas_change_process() (7.3): only file mappings may move to another
 * process (a user mapping's pages belong to its mm). The simulator is one
 * process and accounts no pinned pages, so a move changes nothing it models.
 */
export function ioasChangeProcess(ctx: SimContext): void {
  if (ctx.kernel === '6.12') fail('ENOTTY');
  for (const obj of ctx.objects) {
    if (!(obj instanceof IoasObj)) continue;
    for (const area of obj.iopt.areas) if (!area.pages.file) fail('EINVAL');
  }
}

/**
 * iommufd_ioas_noiommu_get_pa() + iopt_get_phys() (7.3 with CONFIG_IOMMUFD_NOIOMMU,
 * which the rig's kernels have). The simulator has no no-IOMMU device, so no
 * area is ever stored in a no-IOMMU domain: a mapped IOVA answers EOPNOTSUPP,
 * as the kernel does for an IOAS no such device is attached to.
 */
export function ioasNoiommuGetPa(ctx: SimContext, ioasId: number, flags: number, iova: bigint, length: bigint, reserved: number): NoiommuPa {
  if (ctx.kernel === '6.12') fail('ENOTTY');
  if (!capable(CAP_SYS_RAWIO)) fail('EPERM');
  if (flags || reserved) fail('EOPNOTSUPP');
  if (!length) fail('EINVAL');
  if (iova >= ULONG_MAX) fail('EOVERFLOW');
  const iopt = ctx.getIoas(ioasId).iopt;
  const c = iopt.areas.iterFirst(iova, iova);
  if (!c) fail('ENOENT');
  if (c.leaf.items[c.index]!.pages.dmabufRevoked) fail('EINVAL');
  fail('EOPNOTSUPP');
}

/** iommufd_ioas_unmap() */
export function ioasUnmap(ctx: SimContext, ioasId: number, iova: bigint, length: bigint): bigint {
  const ioas = ctx.getIoas(ioasId);
  if (iova === 0n && length === U64_MAX) return ioas.iopt.unmapRange(0n, ULONG_MAX);
  if (iova >= ULONG_MAX || length >= ULONG_MAX) fail('EOVERFLOW');
  const unmapped = ioas.iopt.unmap(iova, length);
  if (!unmapped) fail('ENOENT');
  return unmapped;
}

/** iommufd_ioas_iova_ranges() */
export function ioasIovaRanges(ctx: SimContext, ioasId: number): IovaRanges {
  const iopt = ctx.getIoas(ioasId).iopt;
  return { ranges: iopt.iovaRanges(), alignment: iopt.iovaAlignment };
}

/**
 * iommufd_ioas_iova_ranges() with the caller's array of `numIovas` ranges;
 * `counted` holds the number of ranges, also when EMSGSIZE says they did not fit.
 */
export function ioasIovaRangesInto(ctx: SimContext, ioasId: number, out: BigUint64Array, numIovas: number, counted: { count: number }): { numIovas: number; alignment: bigint } {
  const iopt = ctx.getIoas(ioasId).iopt;
  for (const r of iopt.iovaRanges()) {
    if (counted.count < numIovas) {
      // copy_to_user() of the element: EFAULT where the process has no page.
      const at = out.byteOffset + 16 * counted.count;
      if (firstUnmapped(out.buffer, at, at + 16) >= 0) fail('EFAULT');
      out[2 * counted.count] = r.start;
      out[2 * counted.count + 1] = r.last;
    }
    counted.count++;
  }
  if (counted.count > numIovas) fail('EMSGSIZE');
  return { numIovas: counted.count, alignment: iopt.iovaAlignment };
}

/** iommufd_ioas_allow_iovas() */
export function ioasAllowIovas(ctx: SimContext, ioasId: number, ranges: IovaRange[]): void {
  const ioas = ctx.getIoas(ioasId);
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
}

/** iommufd_ioas_copy(): the destination areas share the source's iopt_pages. */
export function ioasCopy(ctx: SimContext, dstIoasId: number, srcIoasId: number, flags: number, dstIova: bigint, srcIova: bigint, length: bigint): bigint {
  // iommufd_test_syz_conv_iova_id(): the syzkaller flag turns src_iova into {nth area, offset}.
  if (flags & ACCESS_SYZ) {
    flags &= ~ACCESS_SYZ;
    let src: IoasObj | undefined;
    try {
      src = ctx.getIoas(srcIoasId);
    } catch {
      src = undefined; // no such IOAS: the iova stays, the lookup below fails
    }
    if (src) srcIova = syzConvIopt(src.iopt.areas, srcIova);
  }
  if (flags & ~(MAP_FIXED_IOVA | MAP_WRITEABLE | MAP_READABLE)) fail('EOPNOTSUPP');
  if (length >= ULONG_MAX || srcIova >= ULONG_MAX || dstIova >= ULONG_MAX) fail('EOVERFLOW');
  if (!(flags & (MAP_WRITEABLE | MAP_READABLE))) fail('EINVAL');
  const src = ctx.getIoas(srcIoasId);
  const list = src.iopt.getPages(srcIova, length);
  const dst = ctx.getIoas(dstIoasId);
  return dst.iopt.mapPagesList(list, length, dstIova, convProt(flags), !(flags & MAP_FIXED_IOVA));
}

/** iommufd_option_rlimit_mode(): the simulator's caller has CAP_SYS_RESOURCE. */
export function optionRlimitMode(ctx: SimContext, op: number, objectId: number, val64: bigint): bigint {
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

/** iommufd_ioas_option() + iommufd_ioas_option_huge_pages() */
export function ioasOption(ctx: SimContext, op: number, objectId: number, val64: bigint): bigint {
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
