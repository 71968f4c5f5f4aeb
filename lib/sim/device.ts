// device.c in the simulator, for mock devices: attaching, replacing and
// detaching the RID's HWPT (with automatic domains on an IOAS), IOMMU_GET_HW_INFO
// with the mock's hw_info, and iommufd_access: changing its IOAS, pinning pages
// through it, reading and writing through it, and its destroy op. The PASID half
// of device.c is device-pasid.ts.

import type { HwInfo } from '../backend/contract.js';
import {
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED,
  IOMMU_HW_INFO_FLAG_INPUT_TYPE as HW_INFO_FLAG_INPUT_TYPE,
  IOMMU_HW_INFO_SELFTEST_REGVAL as HW_INFO_SELFTEST_REGVAL,
  IOMMU_HW_INFO_TYPE_DEFAULT as HW_INFO_TYPE_DEFAULT,
  IOMMU_HW_INFO_TYPE_SELFTEST as HW_INFO_TYPE_SELFTEST,
  MOCK_FLAGS_DEVICE_NO_DIRTY,
  MOCK_FLAGS_DEVICE_PASID,
  MOCK_PASID_WIDTH,
} from '../uapi/constants.js';
import { firstUnmapped } from '../base/user-pages.js';
import { type Area, IOMMU_READ, IOMMU_WRITE, SimErrno, ULONG_MAX, fail } from './io-pagetable.js';
import { checkRidPasidCompat, hwptAttach, hwptPagingAlloc, hwptPut, mockAttach } from './hw-pagetable.js';
import { type AccessObj, type AnyHwpt, HwptNested, HwptPaging, type Idev, IoasObj, ObjType, type SimContext } from './objects.js';
import { PAGE_SIZE } from './pages.js';

/** iommufd_device_destroy(): a mock device holds nothing the simulator models. */
export function idevDestroy(_idev: Idev): void {}

/**
 * iommufd_device_auto_get_domain(): reuse an automatic domain of the IOAS,
 * else make one. `replace` selects iommufd_device_do_replace(); returns the
 * HWPT now attached and the one to put (replace only).
 */
export function autoGetDomain(ctx: SimContext, idev: Idev, ioas: IoasObj, replace = false): { hwpt: HwptPaging; old: AnyHwpt | null } {
  for (const hwpt of ioas.hwpts) {
    if (!hwpt.autoDomain) continue;
    try {
      const old = replace ? doReplace(idev, hwpt) : (hwptAttach(hwpt, idev), null);
      return { hwpt, old };
    } catch (e) {
      if (e instanceof SimErrno && e.code === 'EINVAL') continue;
      throw e;
    }
  }
  const hwpt = hwptPagingAlloc(ctx, ioas, idev, 0, null, !replace);
  let old: AnyHwpt | null = null;
  if (replace) {
    try {
      old = doReplace(idev, hwpt);
    } catch (e) {
      ctx.abortAndDestroy(hwpt);
      throw e;
    }
  }
  hwpt.autoDomain = true;
  hwpt.finalized = true;
  return { hwpt, old };
}

/** iommufd_device_do_replace(): returns the HWPT replaced (null if unchanged). */
export function doReplace(idev: Idev, hwpt: AnyHwpt): AnyHwpt | null {
  const old = idev.hwpt;
  if (!old) fail('EINVAL');
  if (hwpt === old) return null;
  checkRidPasidCompat(idev, hwpt); // iommufd_hwpt_replace_device()
  mockAttach(hwpt, idev);
  // iommufd_hwpt_replace_device(): faults of the old attachment are answered INVALID.
  if (old.fault) old.fault.autoRespond(idev.handle);
  idev.handle = {};
  idev.hwpt = hwpt;
  hwpt.users++;
  return old;
}

/** iommufd_device_attach(): returns the HWPT id. */
export function deviceAttach(ctx: SimContext, idev: Idev, ptId: number): number {
  const pt = ctx.get(ptId);
  let hwpt: AnyHwpt;
  if (pt instanceof HwptPaging || pt instanceof HwptNested) {
    hwptAttach(pt, idev);
    hwpt = pt;
  } else if (pt instanceof IoasObj) hwpt = autoGetDomain(ctx, idev, pt).hwpt;
  else fail('EINVAL');
  idev.users++;
  return hwpt.id;
}

/** iommufd_device_replace(): returns the HWPT id. */
export function deviceReplace(ctx: SimContext, idev: Idev, ptId: number): number {
  const pt = ctx.get(ptId);
  let hwpt: AnyHwpt;
  let old: AnyHwpt | null;
  if (pt instanceof HwptPaging || pt instanceof HwptNested) {
    old = doReplace(idev, pt);
    hwpt = pt;
  } else if (pt instanceof IoasObj) ({ hwpt, old } = autoGetDomain(ctx, idev, pt, true));
  else fail('EINVAL');
  if (old) hwptPut(ctx, old);
  return hwpt.id;
}

/** iommufd_device_detach() */
export function deviceDetach(ctx: SimContext, idev: Idev): void {
  const hwpt = idev.hwpt;
  if (!hwpt) return;
  if (hwpt.fault) hwpt.fault.autoRespond(idev.handle);
  idev.hwpt = null;
  idev.handle = null;
  // The blocking domain is no nested domain of a vIOMMU.
  idev.mockViommu = null;
  idev.mockVdevId = 0n;
  hwptPut(ctx, hwpt);
  idev.users--;
}

/** iommufd_get_hw_info() with mock_domain_hw_info() */
export function getHwInfo(ctx: SimContext, devId: number, data: Uint8Array, flags: number, inDataType: number): HwInfo {
  // 6.12 knows no flags. 7.3 takes IOMMU_HW_INFO_FLAG_INPUT_TYPE, without
  // which in_data_type (it overlays out_data_type) counts as TYPE_DEFAULT.
  if (ctx.kernel === '6.12' ? flags : flags & ~HW_INFO_FLAG_INPUT_TYPE) fail('EOPNOTSUPP');
  if (!(flags & HW_INFO_FLAG_INPUT_TYPE)) inDataType = HW_INFO_TYPE_DEFAULT;
  const idev = ctx.get<Idev>(devId, ObjType.DEVICE);
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
  if (ctx.kernel === '6.12') return { dataType: HW_INFO_TYPE_SELFTEST, dataLen: info.length, maxPasidLog2: 0, capabilities };
  // 7.3's iommufd_get_hw_info(): the mock is never capable of IOMMU_CAP_PCI_ATS_SUPPORTED;
  // max_pasid_log2 is ilog2(dev->iommu->max_pasids), which only a PASID device has
  // (its pasid-num-bits, MOCK_PASID_WIDTH, as wide as the mock IOMMU's). It is no PCI
  // device, so PASID_EXEC/PRIV stay clear.
  capabilities |= BigInt(IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED);
  const maxPasidLog2 = idev.devFlags & MOCK_FLAGS_DEVICE_PASID ? MOCK_PASID_WIDTH : 0;
  return { dataType: HW_INFO_TYPE_SELFTEST, dataLen: info.length, maxPasidLog2, capabilities };
}

// ---- accesses ----------------------------------------------------------------

/** iommufd_access_change_ioas() */
export function accessChangeIoas(access: AccessObj, ioas: IoasObj | null): void {
  const cur = access.ioas;
  if (cur !== access.ioasUnpin) fail('EBUSY');
  if (cur === ioas) return;
  access.ioas = null;
  if (ioas) {
    try {
      ioas.iopt.addAccess(access);
    } catch (e) {
      access.ioas = cur;
      throw e;
    }
    ioas.users++;
  }
  if (cur) {
    access.unmap(0n, ULONG_MAX);
    cur.iopt.removeAccess(access);
    cur.users--;
  }
  access.ioas = ioas;
  access.ioasUnpin = ioas;
}

/** iommufd_access_destroy_object(): an internal access holds no reference on the context. */
export function accessDestroy(access: AccessObj): void {
  if (access.ioas) accessChangeIoas(access, null);
  if (!access.internal) access.ctx.accessGone();
}

/**
 * iommufd_access_pin_pages(): pin every page of [iova, iova + length) through
 * the contiguous areas under it. Returns the page frames, in order.
 */
export function accessPinPages(access: AccessObj, iova: bigint, length: bigint, write: boolean): number[] {
  if (!length) fail('EINVAL');
  const last = iova + length - 1n;
  if (last > ULONG_MAX) fail('EOVERFLOW');
  if (!access.ioas) fail('ENOENT');
  const added: [Area, number, number][] = [];
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
 * iommufd_access_rw(): copy `data` to [iova, iova + data.length) through the
 * access (`write`), or from there into `data`.
 */
export function accessRw(access: AccessObj, iova: bigint, data: Uint8Array, write: boolean): void {
  const length = data.length;
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
    if (write) view.set(data.subarray(at, at + bytes));
    else data.set(view, at);
    at += bytes;
  });
  if (!done) fail('ENOENT');
}
