// selftest.c's IOMMU_TEST_CMD ops in the simulator (iommufd_test()): the mock
// device and its domain, the checks of mappings, pins, IOTLBs and caches, dirty
// bits, faults and vEVENTs, accesses with the pins they hold and their unmap
// callback, the PASID ops, and the mock dma-buf. The mock driver's domains are
// mock-domain.ts; the ops of 7.3 answer EOPNOTSUPP on 6.12, whose iommufd_test()
// does not know them.

import type { MockDomainIds, UserRange } from '../backend/contract.js';
import {
  MOCK_ACCESS_RW_SLOW_PATH as RW_SLOW_PATH,
  MOCK_ACCESS_RW_WRITE as RW_WRITE,
  MOCK_DEV_CACHE_ID_MAX,
  MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES as NEEDS_PIN_PAGES,
  MOCK_FLAGS_ACCESS_WRITE as ACCESS_WRITE,
  MOCK_FLAGS_DEVICE_HUGE_IOVA,
  MOCK_FLAGS_DEVICE_NO_DIRTY,
  MOCK_FLAGS_DEVICE_PASID,
  IOMMU_PGFAULT_FLAGS_LAST_PAGE as PGFAULT_FLAGS_LAST_PAGE,
  IOMMU_PGFAULT_FLAGS_PASID_VALID as PGFAULT_FLAGS_PASID_VALID,
  IOMMU_VEVENTQ_TYPE_SELFTEST as VEVENTQ_TYPE_SELFTEST,
} from '../uapi/constants.js';
import { firstUnmapped } from '../base/user-pages.js';
import { accessChangeIoas, accessPinPages, accessRw, deviceAttach, deviceDetach, deviceReplace } from './device.js';
import { NO_PASID, pasidAttach, pasidCheckHwpt, pasidDetach, pasidHandle, pasidHwpt, pasidReplace } from './device-pasid.js';
import { reportEvent } from './eventq.js';
import { allocDmabufFd, allocFd, isOpenDescriptor, simDmabufs, simFds } from './files.js';
import { type IoPagetable, ULONG_MAX, fail } from './io-pagetable.js';
import { MOCK_IO_PAGE_SIZE, MOCK_NESTED_DOMAIN_IOTLB_NUM, TestDmabuf } from './mock-domain.js';
import { AccessObj, HwptNested, type HwptPaging, Idev, ObjType, SelftestObj, type SimContext } from './objects.js';
import { PAGE_SIZE, firstPinCountMismatch } from './pages.js';

/** MOCK_FLAGS_ACCESS_SYZ: the iova is {u32 nth_area, u32 offset} (syzkaller's). */
export const ACCESS_SYZ = 1 << 16;
const ACCESS_MAX = 16 * 1024 * 1024;
const PAGE = BigInt(PAGE_SIZE);

/** iommufd_test_memory_limit: global to the kernel. */
let tempMemoryLimit = 65536;

/** The simulator's IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT value (only batch sizes; nothing visible). */
export function simTempMemoryLimit(): number {
  return tempMemoryLimit;
}

/**
 * iommufd_selftest_destroy(): detach, unbind, remove the device. Unbinding
 * first removes its vDEVICE and leaves a tombstone in its id
 * (iommufd_device_pre_destroy()).
 */
export function selftestDestroy(sobj: SelftestObj): void {
  deviceDetach(sobj.ctx, sobj.idev);
  if (sobj.idev.vdev) sobj.ctx.tombstone(sobj.idev.vdev);
  sobj.ctx.destroyUser(sobj.idev);
}

/** iommufd_test_add_reserved() */
export function testAddReserved(ctx: SimContext, ioasId: number, start: bigint, length: bigint): void {
  if (!length) fail('EINVAL');
  const last = start + length - 1n;
  if (last > ULONG_MAX) fail('EOVERFLOW');
  ctx.getIoas(ioasId).iopt.reserveIova(start, last, null);
}

/** iommufd_test_mock_domain() */
export function testMockDomain(ctx: SimContext, ptId: number, devFlags?: number): MockDomainIds {
  const idev = new Idev(devFlags ?? 0);
  const sobj = new SelftestObj(ctx, idev);
  ctx.add(sobj);
  // mock_dev_create(): 7.3 dropped HUGE_IOVA (MOCK_IOMMUPT_HUGE replaces it) and added PASID.
  const validFlags = MOCK_FLAGS_DEVICE_NO_DIRTY | (ctx.kernel === '6.12' ? MOCK_FLAGS_DEVICE_HUGE_IOVA : MOCK_FLAGS_DEVICE_PASID);
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
    hwptId = deviceAttach(ctx, idev, ptId);
  } catch (e) {
    ctx.destroyUser(idev);
    ctx.abort(sobj);
    throw e;
  }
  sobj.finalized = true;
  return { stdevId: sobj.id, hwptId, idevId: idev.id };
}

/** iommufd_test_mock_domain_replace(): returns the HWPT id now attached. */
export function testMockDomainReplace(ctx: SimContext, stdevId: number, ptId: number): number {
  const sobj = ctx.get<SelftestObj>(stdevId, ObjType.SELFTEST);
  return deviceReplace(ctx, sobj.idev, ptId);
}

// ---- 7.3's PASID test ops (device-pasid.ts); pasid 0 is the RID -----------------

/** The op is 7.3's (6.12's iommufd_test() answers EOPNOTSUPP); then iommufd_test_get_selftest_obj(). */
function pasidDevice(ctx: SimContext, stdevId: number): Idev {
  if (ctx.kernel === '6.12') fail('EOPNOTSUPP');
  return ctx.get<SelftestObj>(stdevId, ObjType.SELFTEST).idev;
}

/** iommufd_test_pasid_attach() */
export function testPasidAttach(ctx: SimContext, stdevId: number, pasid: number, ptId: number): number {
  const idev = pasidDevice(ctx, stdevId);
  if (pasid !== NO_PASID) return pasidAttach(ctx, idev, pasid, ptId);
  if (idev.hwpt) fail('EBUSY'); // iommufd_hw_pagetable_attach(): the RID is attached already
  return deviceAttach(ctx, idev, ptId);
}

/** iommufd_test_pasid_replace() */
export function testPasidReplace(ctx: SimContext, stdevId: number, pasid: number, ptId: number): number {
  const idev = pasidDevice(ctx, stdevId);
  if (pasid !== NO_PASID) return pasidReplace(ctx, idev, pasid, ptId);
  return deviceReplace(ctx, idev, ptId);
}

/** iommufd_test_pasid_detach() */
export function testPasidDetach(ctx: SimContext, stdevId: number, pasid: number): void {
  const idev = pasidDevice(ctx, stdevId);
  if (pasid !== NO_PASID) pasidDetach(ctx, idev, pasid);
  else deviceDetach(ctx, idev);
}

/** iommufd_test_pasid_check_hwpt() */
export function testPasidCheckHwpt(ctx: SimContext, stdevId: number, pasid: number, hwptId: number): void {
  pasidCheckHwpt(ctx, pasidDevice(ctx, stdevId), pasid, hwptId);
}

/** iommufd_test_md_check_iotlb() */
export function testMdCheckIotlb(ctx: SimContext, hwptId: number, iotlbId: number, iotlb: number): void {
  const hwpt = ctx.get<HwptNested>(hwptId, ObjType.HWPT_NESTED);
  if (iotlbId > MOCK_NESTED_DOMAIN_IOTLB_NUM - 1 || hwpt.iotlb[iotlbId] !== iotlb >>> 0) fail('EINVAL');
}

/**
 * iommufd_test_dirty(). Like the 6.12 mock, the entry of the IOVA at bit i is
 * looked up at index (iova + i * page_size) / page_size of the pfns xarray,
 * whose indexes are in MOCK_IO_PAGE_SIZE units: page sizes other than
 * MOCK_IO_PAGE_SIZE mark (and count) other entries, as the kernel does.
 * 7.3's mock calls iommu_pt's set_dirty() on iova + i * page_size, which marks
 * the AMDv1 entry there if one is mapped, and counts every set bit whatever
 * set_dirty() answered.
 * `uptr`: the bitmap's address (0 for none); its first `bytes` bytes are read.
 */
export function testDirty(ctx: SimContext, hwptId: number, iova: bigint, length: bigint, pageSize: bigint, bitmap: Uint8Array, bytes: bigint, uptr: number): bigint {
  if (!pageSize || !length || iova % pageSize || length % pageSize || !uptr) fail('EINVAL');
  const max = length / pageSize;
  if (max > 16n * 1024n * 1024n * 8n) fail('EOVERFLOW');
  const hwpt = ctx.get<HwptPaging>(hwptId, ObjType.HWPT_PAGING);
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
}

/** iommufd_test_trigger_iopf() + iommu_report_device_fault() */
export function testTriggerIopf(ctx: SimContext, devId: number, pasid: number, grpid: number, perm: number, addr: bigint): void {
  const idev = ctx.get<Idev>(devId, ObjType.DEVICE);
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
}

/** iommufd_test_md_check_pa(): every IO page of the IOVA range maps the same byte of memory. */
export function testMdCheckMap(ctx: SimContext, hwptId: number, iova: bigint, memory: UserRange, uptr: number): void {
  const length = BigInt(memory.length);
  const misaligned = (step: bigint) => iova % step || length % step || BigInt(uptr) % step;
  // 6.12 checks alignment to MOCK_IO_PAGE_SIZE before the lookup; 7.3's
  // iommufd_test_md_check_pa() looks the HWPT up first (ENOENT) and steps by
  // its smallest page size (1 << __ffs(pgsize_bitmap)).
  if (ctx.kernel === '6.12' && misaligned(MOCK_IO_PAGE_SIZE)) fail('EINVAL');
  const hwpt = ctx.get<HwptPaging>(hwptId, ObjType.HWPT_PAGING);
  const step = ctx.kernel === '6.12' ? MOCK_IO_PAGE_SIZE : hwpt.domain.minPageSize;
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
}

/** iommufd_test_md_check_refs() */
export function testMdCheckRefs(memory: UserRange, uptr: number, refs: number): void {
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
}

/** iommufd_test_create_access(): returns the access fd. */
export function testCreateAccess(ctx: SimContext, ioasId: number, flags: number): number {
  if (flags & ~NEEDS_PIN_PAGES) fail('EOPNOTSUPP');
  // iommufd_access_create(): an object (it takes an id), held by the driver and holding the ctx.
  const access = new AccessObj(ctx, (flags & NEEDS_PIN_PAGES) !== 0);
  ctx.addFinalized(access);
  access.users++;
  ctx.accessCreated();
  try {
    accessChangeIoas(access, ctx.getIoas(ioasId));
  } catch (e) {
    ctx.destroyUser(access);
    throw e;
  }
  return allocFd(access);
}

/** close() of the access fd: iommufd_test_staccess_release(). */
export function testStaccessRelease(access: AccessObj): void {
  access.unmap(0n, ULONG_MAX);
  access.ctx.destroyUser(access);
}

/** iommufd_access_get() */
function accessOfFd(fd: number): AccessObj {
  const file = simFds.get(fd);
  return file instanceof AccessObj ? file : fail('EBADFD');
}

/** iommufd_test_access_pages(); `uptr` (0 for none): the user memory `verify` the pages must be. */
export function testAccessPages(fd: number, flags: number, iova: bigint, length: number, verify: UserRange | null, uptr: number): number {
  if (length > ACCESS_MAX) fail('ENOMEM');
  if (flags & ~(ACCESS_WRITE | ACCESS_SYZ)) fail('EOPNOTSUPP');
  const access = accessOfFd(fd);
  if (!access.needsPinPages) fail('EOPNOTSUPP');
  if (flags & ACCESS_SYZ) iova = syzConvIova(access, iova);
  const len = BigInt(length);
  const frames = accessPinPages(access, iova, len, (flags & ACCESS_WRITE) !== 0);
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
}

/** iommufd_test_access_item_destroy() */
export function testDestroyAccessPages(fd: number, accessPagesId: number): void {
  const access = accessOfFd(fd);
  const at = access.items.findIndex((item) => item.id === accessPagesId);
  if (at < 0) fail('ENOENT');
  const [item] = access.items.splice(at, 1);
  access.unpinPages(item!.iova, item!.length);
}

/** iommufd_test_access_rw() + iommufd_access_rw() */
export function testAccessRw(fd: number, flags: number, iova: bigint, memory: UserRange): void {
  const length = memory.length;
  if (length > ACCESS_MAX) fail('ENOMEM');
  if (flags & ~(RW_WRITE | RW_SLOW_PATH | ACCESS_SYZ)) fail('EOPNOTSUPP');
  const access = accessOfFd(fd);
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
  accessRw(access, iova, tmp, write);
  if (!write && gone >= 0) {
    user.set(tmp.subarray(0, gone - userStart));
    fail('EFAULT');
  }
  if (!write) user.set(tmp);
}

/** iommufd_test_access_replace_ioas() */
export function testAccessReplaceIoas(fd: number, ioasId: number): void {
  const access = accessOfFd(fd);
  if (!access.ioas) fail('ENOENT');
  accessChangeIoas(access, access.ctx.getIoas(ioasId));
}

/** iommufd_test_set_temp_memory_limit() */
export function testSetTempMemoryLimit(bytes: number): void {
  // Protect _batch_init(): not less than sizeof(unsigned long) + sizeof(u32).
  if (bytes < 12) fail('EINVAL');
  tempMemoryLimit = bytes;
}

// ---- 7.3's vIOMMU test ops ---------------------------------------------------

/** iommufd_test_dev_check_cache() (7.3; 6.12's iommufd_test() answers EOPNOTSUPP) */
export function testDevCheckCache(ctx: SimContext, devId: number, cacheId: number, value: number): void {
  if (ctx.kernel === '6.12') fail('EOPNOTSUPP');
  const idev = ctx.get<Idev>(devId, ObjType.DEVICE);
  if (cacheId > MOCK_DEV_CACHE_ID_MAX || idev.cache[cacheId] !== value >>> 0) fail('EINVAL');
}

/** iommufd_test_trigger_vevent() (7.3): a struct iommu_viommu_event_selftest { virt_id }. */
export function testTriggerVevent(ctx: SimContext, devId: number): void {
  if (ctx.kernel === '6.12') fail('EOPNOTSUPP');
  const idev = ctx.get<Idev>(devId, ObjType.DEVICE);
  if (!idev.mockViommu || !idev.mockVdevId) fail('ENOENT');
  const event = new Uint8Array(4);
  new DataView(event.buffer).setUint32(0, Number(idev.mockVdevId & 0xffff_ffffn), true);
  reportEvent(idev.mockViommu, VEVENTQ_TYPE_SELFTEST, event);
}

// ---- 7.3's mock dma-buf (mock-domain.ts TestDmabuf) ------------------------------

/** iommufd_test_dmabuf_get() (7.3; 6.12's iommufd_test() answers EOPNOTSUPP). Open flags change nothing modelled. */
export function testDmabufGet(ctx: SimContext, length: number): number {
  if (ctx.kernel === '6.12') fail('EOPNOTSUPP');
  return allocDmabufFd(TestDmabuf.get(length));
}

/** iommufd_test_dmabuf_revoke() (7.3) */
export function testDmabufRevoke(ctx: SimContext, dmabufFd: number, revoked: boolean): void {
  if (ctx.kernel === '6.12') fail('EOPNOTSUPP');
  const dmabuf = simDmabufs.get(dmabufFd);
  // dma_buf_get(): EBADF for no file, EINVAL for a file that is not a dma-buf.
  if (!dmabuf) fail(simFds.has(dmabufFd) || isOpenDescriptor(dmabufFd) ? 'EINVAL' : 'EBADF');
  dmabuf.revoke(revoked);
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
export function syzConvIopt(areas: Iterable<{ start: bigint }>, iova: bigint): bigint {
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


