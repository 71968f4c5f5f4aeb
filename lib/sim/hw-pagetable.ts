// hw_pagetable.c in the simulator: paging and nested HWPTs (IOMMU_HWPT_ALLOC,
// also on a vIOMMU), dirty tracking (IOMMU_HWPT_SET_DIRTY_TRACKING,
// IOMMU_HWPT_GET_DIRTY_BITMAP), IOMMU_HWPT_INVALIDATE with the mock driver's
// cache_invalidate ops for nested domains and vIOMMUs (selftest.c), and the
// HWPT destroy ops. iommufd_hw_pagetable_attach() is device.c's, but it is
// here: iommufd_hwpt_paging_alloc()'s immediate attach calls it, and device.ts
// calls the allocation (its automatic domains).

import type { HwptAllocRequest } from '../backend/contract.js';
import { firstUnmapped } from '../base/user-pages.js';
import {
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING as HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT as HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID as HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_NONE as HWPT_DATA_NONE,
  IOMMU_HWPT_DATA_SELFTEST as HWPT_DATA_SELFTEST,
  IOMMU_HWPT_FAULT_ID_VALID as HWPT_FAULT_ID_VALID,
  IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR as GET_DIRTY_BITMAP_NO_CLEAR,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST as INVALIDATE_DATA_SELFTEST,
  IOMMU_TEST_INVALIDATE_FLAG_ALL as INVALIDATE_FLAG_ALL,
  IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST as VIOMMU_INVALIDATE_DATA_SELFTEST,
  MOCK_DEV_CACHE_ID_MAX,
  MOCK_FLAGS_DEVICE_HUGE_IOVA,
  MOCK_FLAGS_DEVICE_NO_DIRTY,
  MOCK_IOMMUPT_HUGE,
} from '../uapi/constants.js';
import { UAPI_LAYOUTS } from '../uapi/layout.js';
import { SimErrno, U64_MAX, fail } from './io-pagetable.js';
import { MOCK_NESTED_DOMAIN_IOTLB_NUM, MockDomain, hwptSelftestSize, mockPagetable, selftestPagetableType } from './mock-domain.js';
import { type AnyHwpt, type FaultObj, HwptNested, HwptPaging, type Idev, IoasObj, ObjType, type SimContext, ViommuObj } from './objects.js';
import { PAGE_SIZE } from './pages.js';

const INVALIDATE_ENTRY_NUM_MAX = 1 << 19;
const INVALIDATE_SELFTEST_SIZE = UAPI_LAYOUTS['7.3'].structs.iommu_viommu_invalidate_selftest.size;

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

/** iommufd_hwpt_paging_destroy() */
export function hwptPagingDestroy(hwpt: HwptPaging): void {
  if (hwpt.inList) {
    hwpt.ioas.hwpts.splice(hwpt.ioas.hwpts.indexOf(hwpt), 1);
    hwpt.inList = false;
    hwpt.ioas.iopt.removeDomain(hwpt.domain);
    hwpt.domain.attached(null);
  }
  if (hwpt.fault) hwpt.fault.users--;
  hwpt.ioas.users--;
}

/** iommufd_hwpt_nested_destroy() */
export function hwptNestedDestroy(hwpt: HwptNested): void {
  if (hwpt.fault) hwpt.fault.users--;
  if (hwpt.viommu) hwpt.viommu.users--;
  else hwpt.parent.users--;
}

/** iommufd_hw_pagetable_put() */
export function hwptPut(ctx: SimContext, hwpt: AnyHwpt): void {
  if (hwpt instanceof HwptPaging && hwpt.autoDomain) ctx.putAndTryDestroy(hwpt);
  else hwpt.users--;
}

/**
 * iommufd_hwpt_pasid_compat() for the RID (IOMMU_NO_PASID): a HWPT without
 * IOMMU_HWPT_ALLOC_PASID cannot take the RID while any PASID is attached.
 */
export function checkRidPasidCompat(idev: Idev, hwpt: AnyHwpt): void {
  if (!hwpt.pasidCompat && idev.pasidAttached.size > 0) fail('EINVAL');
}

/**
 * mock_domain_nop_attach(): a nested domain of a vIOMMU needs the device's
 * vDEVICE there (iommufd_viommu_get_vdev_id(): ENOENT), whose virtual id the
 * mock device remembers for its vEVENTs.
 */
export function mockAttach(hwpt: AnyHwpt, idev: Idev): void {
  if (hwpt instanceof HwptPaging && hwpt.domain.dirtyOps && idev.devFlags & MOCK_FLAGS_DEVICE_NO_DIRTY) fail('EINVAL');
  const viommu = hwpt instanceof HwptNested ? hwpt.viommu : null;
  const vdevId = viommu ? (viommu.vdevIdOf(idev) ?? fail('ENOENT')) : 0n;
  idev.mockViommu = viommu;
  idev.mockVdevId = vdevId;
}

/** iommufd_hw_pagetable_attach() for a mock device (its own group, no reserved regions). */
export function hwptAttach(hwpt: AnyHwpt, idev: Idev): void {
  if (idev.hwpt !== null && idev.hwpt !== hwpt) fail('EINVAL');
  if (idev.hwpt === null) {
    // iommufd_hwpt_attach_device(): iopf enable (the mock has a queue), attach with a handle.
    checkRidPasidCompat(idev, hwpt);
    mockAttach(hwpt, idev);
    idev.handle = {};
  }
  hwpt.users++;
  idev.hwpt = hwpt;
}

/**
 * iommufd_hwpt_paging_alloc(): a paging HWPT on `ioas` from the mock's
 * domain_alloc_user() (6.12) or domain_alloc_paging_flags() (7.3). With
 * `immediateAttach` the device is attached first. The object is left unfinalized.
 */
export function hwptPagingAlloc(
  ctx: SimContext,
  ioas: IoasObj,
  idev: Idev,
  flags: number,
  userData: Uint8Array | null,
  immediateAttach: boolean,
  dataType = 0,
  nullUptr = false,
): HwptPaging {
  const v612 = ctx.kernel === '6.12';
  // 7.3's iommufd_hwpt_paging_alloc() also takes FAULT_ID_VALID (not with NEST_PARENT) and ALLOC_PASID.
  const valid = HWPT_ALLOC_NEST_PARENT | HWPT_ALLOC_DIRTY_TRACKING | (v612 ? 0 : HWPT_FAULT_ID_VALID | HWPT_ALLOC_PASID);
  if (flags & ~valid) fail('EOPNOTSUPP');
  const noDirty = (idev.devFlags & MOCK_FLAGS_DEVICE_NO_DIRTY) !== 0;
  if (flags & HWPT_ALLOC_DIRTY_TRACKING && noDirty) fail('EOPNOTSUPP'); // device_iommu_capable()
  if (!v612 && flags & HWPT_FAULT_ID_VALID && flags & HWPT_ALLOC_NEST_PARENT) fail('EOPNOTSUPP');
  const hasDirty = (flags & HWPT_ALLOC_DIRTY_TRACKING) !== 0;
  // The driver's answer to the user data, given after the object is allocated.
  let dataError: SimErrno | null = null;
  let huge = false;
  if (v612) {
    // mock_domain_alloc_user(dev, flags, NULL, user_data): no data for a paging domain.
    huge = (idev.devFlags & MOCK_FLAGS_DEVICE_HUGE_IOVA) !== 0;
    if (userData || (hasDirty && noDirty)) dataError = new SimErrno('EOPNOTSUPP');
  } else if (userData) {
    try {
      huge = selftestPagetableType(ctx.kernel, dataType, userData, nullUptr) === MOCK_IOMMUPT_HUGE;
    } catch (e) {
      if (!(e instanceof SimErrno)) throw e;
      dataError = e;
    }
  }
  const domain = new MockDomain(mockPagetable(ctx.kernel, huge), hasDirty);
  const hwpt = new HwptPaging(ioas, domain);
  ctx.add(hwpt);
  ioas.users++;
  hwpt.nestParent = (flags & HWPT_ALLOC_NEST_PARENT) !== 0;
  hwpt.pasidCompat = (flags & HWPT_ALLOC_PASID) !== 0;
  const abort = (e: unknown): never => {
    ctx.abortAndDestroy(hwpt);
    throw e;
  };
  if (dataError) abort(dataError);
  if (immediateAttach) {
    try {
      hwptAttach(hwpt, idev);
    } catch (e) {
      abort(e);
    }
  }
  try {
    ioas.iopt.addDomain(domain);
  } catch (e) {
    if (immediateAttach) {
      hwpt.users--;
      idev.hwpt = null;
      idev.handle = null;
    }
    abort(e);
  }
  domain.attached(ioas.iopt);
  ioas.hwpts.push(hwpt);
  hwpt.inList = true;
  return hwpt;
}

/** iommufd_hwpt_nested_alloc() + mock_domain_alloc_user() for a nested domain. Unfinalized. */
export function hwptNestedAlloc(ctx: SimContext, parent: HwptPaging, flags: number, dataType: number, data: Uint8Array | null, nullUptr = false): HwptNested {
  // 7.3's iommufd_hwpt_nested_alloc() and mock_domain_alloc_nested() also take ALLOC_PASID.
  const valid = HWPT_FAULT_ID_VALID | (ctx.kernel === '6.12' ? 0 : HWPT_ALLOC_PASID);
  if (flags & ~valid || !data || data.length === 0) fail('EOPNOTSUPP');
  if (parent.autoDomain || !parent.nestParent) fail('EINVAL');
  const hwpt = new HwptNested(parent, 0);
  ctx.add(hwpt);
  parent.users++;
  hwpt.pasidCompat = (flags & HWPT_ALLOC_PASID) !== 0;
  try {
    if (dataType !== HWPT_DATA_SELFTEST || flags & ~valid) fail('EOPNOTSUPP');
    // iommu_copy_struct_from_user(&user_cfg, user_data, IOMMU_HWPT_DATA_SELFTEST, iotlb)
    if (data.length < 4 || data.length > hwptSelftestSize(ctx.kernel)) fail('EINVAL');
    if (nullUptr) fail('EFAULT'); // copy_struct_from_user() from a NULL data_uptr
    hwpt.iotlb.fill(new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true));
  } catch (e) {
    ctx.abortAndDestroy(hwpt);
    throw e;
  }
  return hwpt;
}

/** iommufd_viommu_alloc_hwpt_nested() + mock_viommu_alloc_domain_nested(). Unfinalized. */
export function viommuNestedAlloc(
  ctx: SimContext,
  viommu: ViommuObj,
  flags: number,
  dataType: number,
  data: Uint8Array | null,
  nullUptr: boolean,
): HwptNested {
  if (flags & ~(HWPT_FAULT_ID_VALID | HWPT_ALLOC_PASID) || !data || data.length === 0) fail('EOPNOTSUPP');
  const hwpt = new HwptNested(viommu.hwpt, 0);
  ctx.add(hwpt);
  hwpt.viommu = viommu;
  viommu.users++;
  hwpt.pasidCompat = (flags & HWPT_ALLOC_PASID) !== 0;
  try {
    // __mock_domain_alloc_nested(): selftest data, copied from iotlb on.
    if (dataType !== HWPT_DATA_SELFTEST) fail('EOPNOTSUPP');
    if (data.length < 4 || data.length > hwptSelftestSize(ctx.kernel)) fail('EINVAL');
    if (nullUptr) fail('EFAULT');
    hwpt.iotlb.fill(new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true));
  } catch (e) {
    ctx.abortAndDestroy(hwpt);
    throw e;
  }
  return hwpt;
}

/**
 * iommufd_hwpt_alloc(). `data` is the user data (null for none); `nullData`: it
 * stands for a NULL data_uptr with a length; `dataGone`: the process has no page
 * under some of it.
 */
export function hwptAlloc(ctx: SimContext, request: HwptAllocRequest, data: Uint8Array | null, nullData: boolean, dataGone: boolean): number {
  const { flags, devId, ptId, dataType, faultId } = request;
  const dataLen = data?.length ?? 0;
  if ((dataType === HWPT_DATA_NONE && dataLen) || (dataType !== HWPT_DATA_NONE && !dataLen)) fail('EINVAL');
  const idev = ctx.get<Idev>(devId, ObjType.DEVICE);
  const pt = ctx.objects.get(ptId) ?? fail('EINVAL');
  let hwpt: HwptPaging | HwptNested;
  if (pt instanceof IoasObj) hwpt = hwptPagingAlloc(ctx, pt, idev, flags, data, false, dataType, nullData);
  // The driver's copy_struct_from_user() of the data faults, as from NULL,
  // where the process has no page (the bytes are never touched here).
  else if (pt instanceof HwptPaging) hwpt = hwptNestedAlloc(ctx, pt, flags, dataType, data, nullData || dataGone);
  else if (pt instanceof ViommuObj) hwpt = viommuNestedAlloc(ctx, pt, flags, dataType, data, nullData || dataGone);
  else fail('EINVAL');
  if (flags & HWPT_FAULT_ID_VALID) {
    const fault = ctx.objects.get<FaultObj>(faultId, ObjType.FAULT);
    if (!fault) {
      ctx.abortAndDestroy(hwpt);
      fail('ENOENT');
    }
    hwpt.fault = fault;
    fault.users++;
  }
  hwpt.finalized = true;
  return hwpt.id;
}

/** iommufd_hwpt_set_dirty_tracking() + iopt_set_dirty_tracking() */
export function hwptSetDirtyTracking(ctx: SimContext, hwptId: number, enable: boolean): void {
  const hwpt = ctx.get<HwptPaging>(hwptId, ObjType.HWPT_PAGING);
  const domain = hwpt.domain;
  if (!domain.dirtyOps) fail('EOPNOTSUPP');
  // iopt_clear_dirty_data(): a clean snapshot (no bitmap, so no tracking check).
  if (enable) for (const area of hwpt.ioas.iopt.areas) domain.readAndClearDirty(area.start, area.length, false, null);
  domain.tracking = enable; // mock_domain_set_dirty_tracking()
}

/**
 * iommufd_hwpt_get_dirty_bitmap() + iopt_read_and_clear_dirty_data(): `bits`
 * bits of `bitmap` (whose size the caller checked) cover the range.
 */
export function hwptGetDirtyBitmap(
  ctx: SimContext,
  hwptId: number,
  flags: number,
  iova: bigint,
  length: bigint,
  pageSize: bigint,
  bitmap: BigUint64Array | Uint8Array,
  bits: bigint,
): void {
  if (flags & ~GET_DIRTY_BITMAP_NO_CLEAR) fail('EOPNOTSUPP');
  const hwpt = ctx.get<HwptPaging>(hwptId, ObjType.HWPT_PAGING);
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
  const errors = ctx.kernel === '6.12';
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
}

/**
 * iommufd_hwpt_invalidate() + mock_domain_cache_invalidate_user(), or the
 * vIOMMU's (viommuInvalidate()). `nullUptr`: data_uptr is NULL. Returns the
 * entries handled; a failure carries that count through `progress`.
 */
export function hwptInvalidate(
  ctx: SimContext,
  hwptId: number,
  dataType: number,
  entryLen: number,
  entries: Uint8Array | null,
  entryNum: number,
  nullUptr: boolean,
  progress: { handled: number },
): number {
  if (entryNum && (nullUptr || !entryLen || entryLen > PAGE_SIZE || entryNum > INVALIDATE_ENTRY_NUM_MAX)) fail('EINVAL');
  // 6.12: iommufd_get_hwpt_nested() (ENOENT for any other object); 7.3's
  // iommufd_hwpt_invalidate() takes any object and refuses all but NESTED (and vIOMMU) with EINVAL.
  const obj = ctx.get(hwptId, ctx.kernel === '6.12' ? ObjType.HWPT_NESTED : undefined);
  if (obj instanceof ViommuObj) {
    viommuInvalidate(obj, dataType, entryLen, entries, entryNum, progress);
    return progress.handled;
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
    progress.handled++;
  }
  return progress.handled;
}

/**
 * mock_viommu_cache_invalidate() under IOMMU_HWPT_INVALIDATE (the core's checks
 * already made): the whole array is copied first (iommu_copy_struct_from_full_user_array()),
 * then each entry clears cache entries of the device its vdev_id names. Returns
 * the entries handled; a failure carries that count through `progress`.
 */
function viommuInvalidate(viommu: ViommuObj, dataType: number, entryLen: number, entries: Uint8Array | null, entryNum: number, progress: { handled: number }): void {
  // A zero-length array of the right type validates the type.
  if (entryNum === 0 && dataType === VIOMMU_INVALIDATE_DATA_SELFTEST) return;
  if (dataType !== VIOMMU_INVALIDATE_DATA_SELFTEST || entryNum === 0) fail('EINVAL');
  const cmds: DataView[] = [];
  for (let i = 0; i < entryNum; i++) {
    const at = entries!.byteOffset + i * entryLen;
    const entry = new Uint8Array(entries!.buffer, at, entryLen);
    if (firstUnmapped(entries!.buffer, at, at + entryLen) >= 0) fail('EFAULT');
    // copy_struct_from_user(): a shorter entry is zero-extended, a longer one must end in zeros.
    for (let b = INVALIDATE_SELFTEST_SIZE; b < entryLen; b++) if (entry[b]) fail('E2BIG');
    const cmd = new Uint8Array(INVALIDATE_SELFTEST_SIZE);
    cmd.set(entry.subarray(0, Math.min(entryLen, INVALIDATE_SELFTEST_SIZE)));
    cmds.push(new DataView(cmd.buffer));
  }
  for (const cmd of cmds) {
    const flags = cmd.getUint32(0, true);
    const vdevId = BigInt(cmd.getUint32(4, true));
    const cacheId = cmd.getUint32(8, true);
    if (flags & ~INVALIDATE_FLAG_ALL) fail('EOPNOTSUPP');
    if (cacheId > MOCK_DEV_CACHE_ID_MAX) fail('EINVAL');
    const vdev = viommu.vdevs.get(vdevId) ?? fail('EINVAL');
    if (flags & INVALIDATE_FLAG_ALL) vdev.idev.cache.fill(0);
    else vdev.idev.cache[cacheId] = 0;
    progress.handled++;
  }
}

