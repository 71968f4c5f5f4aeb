// The PASID half of 7.3's device.c (iommufd_device_attach/replace/detach with a
// pasid other than IOMMU_NO_PASID) for a mock device, with the iommu core's
// iommu_attach/replace_device_pasid() and the mock's set_dev_pasid op, and
// iommufd_test_pasid_check_hwpt(). selftest.ts's PASID test ops drive them.
import { MOCK_PASID_WIDTH, MOCK_FLAGS_DEVICE_PASID } from '../uapi/constants.js';
import { hwptPut } from './hw-pagetable.js';
import { fail } from './io-pagetable.js';
import { type AnyHwpt, HwptNested, HwptPaging, type Idev, IoasObj, type SimContext } from './objects.js';

/** IOMMU_NO_PASID: pasid 0 is the RID, which the RID paths of device.ts handle. */
export const NO_PASID = 0;
/** The mock's "special pasid replace test" (IOMMU_TEST_PASID_RESERVED). */
const FAKE_ERROR_PASID = 1024;

/**
 * dev->iommu->max_pasids, dev_iommu_get_max_pasids(): 1 << the "pasid-num-bits" property,
 * which mock_dev_create() sets to MOCK_PASID_WIDTH for a PASID device and to 0 otherwise,
 * so a device without PASIDs has 1 (pasid 0 only: every PASID attach is EINVAL).
 */
function maxPasids(idev: Idev): number {
  return idev.devFlags & MOCK_FLAGS_DEVICE_PASID ? 2 ** MOCK_PASID_WIDTH : 1;
}

/** The HWPT attached to `pasid` (not the RID), if any. */
export function pasidHwpt(idev: Idev, pasid: number): AnyHwpt | null {
  return idev.pasidAttached.get(pasid)?.hwpt ?? null;
}

/** The attach handle of `pasid`, for find_fault_handler(). */
export function pasidHandle(idev: Idev, pasid: number): object | null {
  return idev.pasidAttached.get(pasid)?.handle ?? null;
}

/** iommufd_hwpt_pasid_compat() for a PASID. */
function checkPasidCompat(idev: Idev, hwpt: AnyHwpt): void {
  if (!hwpt.pasidCompat) fail('EINVAL');
  if (idev.hwpt && !idev.hwpt.pasidCompat) fail('EINVAL');
}

/**
 * mock_domain_set_dev_pasid_nop() (__iommu_set_group_pasid() calls it, every mock
 * device having max_pasids): pasid 1024's first attach arms a fake ENOMEM for
 * the next one (a replace); the blocked domain (detach) disarms it.
 */
function setDevPasid(idev: Idev, pasid: number, blocked: boolean): void {
  if (pasid !== FAKE_ERROR_PASID) return;
  if (blocked) idev.pasid1024FakeError = false;
  else if (idev.pasid1024FakeError) {
    idev.pasid1024FakeError = false;
    fail('ENOMEM');
  } else idev.pasid1024FakeError = true;
}

/** What a pt_id names (iommufd_device_change_pt()): a HWPT, or an IOAS; anything else is EINVAL. */
function pasidTarget(ctx: SimContext, ptId: number): AnyHwpt | IoasObj {
  const pt = ctx.get(ptId);
  if (pt instanceof HwptPaging || pt instanceof HwptNested || pt instanceof IoasObj) return pt;
  fail('EINVAL');
}

/** iommufd_device_attach(idev, pasid, &pt_id) for pasid != IOMMU_NO_PASID. Returns the HWPT id. */
export function pasidAttach(ctx: SimContext, idev: Idev, pasid: number, ptId: number): number {
  const hwpt = pasidTarget(ctx, ptId);
  // iommufd_hw_pagetable_attach(): the device is in this PASID's device_array already
  // (an IOAS gets there too, through an automatic domain).
  if (idev.pasidAttached.has(pasid)) fail('EBUSY');
  // iommufd_device_auto_get_domain(): automatic domains are never pasid_compat, so every
  // existing one answers EINVAL and so does the new one, which is then aborted.
  if (hwpt instanceof IoasObj) fail('EINVAL');
  // iommufd_hwpt_attach_device()
  checkPasidCompat(idev, hwpt);
  // iommu_attach_device_pasid(): a PASID past the device's width.
  if (pasid >= maxPasids(idev)) fail('EINVAL');
  setDevPasid(idev, pasid, false);
  idev.pasidAttached.set(pasid, { hwpt, handle: {} });
  hwpt.users++;
  idev.users++;
  return hwpt.id;
}

/** iommufd_device_replace(idev, pasid, &pt_id) for pasid != IOMMU_NO_PASID. Returns the HWPT id. */
export function pasidReplace(ctx: SimContext, idev: Idev, pasid: number, ptId: number): number {
  const hwpt = pasidTarget(ctx, ptId);
  const cur = idev.pasidAttached.get(pasid);
  // iommufd_device_do_replace(): nothing attached to this PASID; an IOAS's automatic
  // domains are not pasid_compat.
  if (!cur || hwpt instanceof IoasObj) fail('EINVAL');
  if (cur.hwpt === hwpt) return hwpt.id;
  // iommufd_hwpt_replace_device() + iommu_replace_device_pasid()
  checkPasidCompat(idev, hwpt);
  setDevPasid(idev, pasid, false);
  const old = cur.hwpt;
  if (old.fault) old.fault.autoRespond(cur.handle);
  cur.hwpt = hwpt;
  cur.handle = {};
  hwpt.users++;
  hwptPut(ctx, old);
  return hwpt.id;
}

/** iommufd_device_detach(idev, pasid): nothing happens for a PASID never attached. */
export function pasidDetach(ctx: SimContext, idev: Idev, pasid: number): void {
  const cur = idev.pasidAttached.get(pasid);
  if (!cur) return;
  // iommu_detach_device_pasid(): the blocked domain's set_dev_pasid.
  setDevPasid(idev, pasid, true);
  if (cur.hwpt.fault) cur.hwpt.fault.autoRespond(cur.handle);
  idev.pasidAttached.delete(pasid);
  hwptPut(ctx, cur.hwpt);
  idev.users--;
}

/** iommufd_test_pasid_check_hwpt(): EINVAL unless `pasid` is on `hwptId` (0: on nothing). */
export function pasidCheckHwpt(ctx: SimContext, idev: Idev, pasid: number, hwptId: number): void {
  const attached = pasid === NO_PASID ? idev.hwpt : pasidHwpt(idev, pasid);
  if (hwptId === 0) {
    if (attached) fail('EINVAL');
    return;
  }
  const pt = ctx.get(hwptId);
  if (!(pt instanceof HwptPaging || pt instanceof HwptNested)) fail('EINVAL');
  if (attached !== pt) fail('EINVAL');
}
