// The objects of one simulated iommufd (ioas.c, hw_pagetable.c, device.c) and
// the CONFIG_IOMMUFD_TEST mock (selftest.c): mock domains and devices, and
// accesses with the pins they hold and their unmap callback.

import { ObjType, ObjectTable, SimObject } from './objects.js';
import { IoPagetable, type IoptAccess, type IoptDomain, ULONG_MAX, fail } from './io-pagetable.js';

export const MOCK_IO_PAGE_SIZE = 2048n;
export const MOCK_APERTURE_START = 1n << 24n;
export const MOCK_APERTURE_LAST = (1n << 31n) - 1n;

/** struct iommufd_ioas */
export class IoasObj extends SimObject {
  readonly type = ObjType.IOAS;
  readonly iopt = new IoPagetable();
  /** hwpt_list */
  readonly hwpts: HwptPaging[] = [];

  destroy(): void {
    this.iopt.destroy();
  }
}

/** struct mock_iommu_domain (a paging domain of the mock driver). */
export class MockDomain implements IoptDomain {
  readonly minPageSize = MOCK_IO_PAGE_SIZE;
  readonly apertureStart = MOCK_APERTURE_START;
  readonly apertureEnd = MOCK_APERTURE_LAST;
}

/** struct iommufd_hwpt_paging */
export class HwptPaging extends SimObject {
  readonly type = ObjType.HWPT_PAGING;
  readonly domain = new MockDomain();
  autoDomain = false;
  inList = false;
  constructor(readonly ioas: IoasObj) {
    super();
  }

  /** iommufd_hwpt_paging_destroy() */
  destroy(): void {
    if (this.inList) {
      this.ioas.hwpts.splice(this.ioas.hwpts.indexOf(this), 1);
      this.inList = false;
      this.ioas.iopt.removeDomain(this.domain);
    }
    this.ioas.users--;
  }
}

/** struct iommufd_device of a mock device. */
export class Idev extends SimObject {
  readonly type = ObjType.DEVICE;
  hwpt: HwptPaging | null = null;
  constructor(readonly devFlags: number) {
    super();
  }
  destroy(): void {}
}

/** struct selftest_obj (TYPE_IDEV): what userspace destroys to remove the mock device. */
export class SelftestObj extends SimObject {
  readonly type = ObjType.SELFTEST;
  constructor(
    readonly ctx: SimContext,
    readonly idev: Idev,
  ) {
    super();
  }

  /** iommufd_selftest_destroy(): detach, unbind, remove the device. */
  destroy(): void {
    this.ctx.deviceDetach(this.idev);
    this.ctx.destroyUser(this.idev);
  }
}

/** A pinned range of a selftest access (struct selftest_access_item). */
interface AccessItem {
  iova: bigint;
  length: bigint;
  id: number;
}

/** struct iommufd_access, with the selftest driver's data (struct selftest_access). */
export class AccessObj extends SimObject implements IoptAccess {
  readonly type = ObjType.ACCESS;
  readonly iovaAlignment: bigint;
  ioas: IoasObj | null = null;
  ioasUnpin: IoasObj | null = null;
  readonly items: AccessItem[] = [];
  nextId = 0;
  constructor(
    readonly ctx: SimContext,
    readonly needsPinPages: boolean,
  ) {
    super();
    this.iovaAlignment = needsPinPages ? 4096n : 1n;
  }

  /** iommufd_test_access_unmap(): the ops->unmap callback. */
  unmap(iova: bigint, length: bigint): void {
    const last = iova + length - 1n;
    for (let i = 0; i < this.items.length; ) {
      const item = this.items[i]!;
      if (iova > item.iova + item.length - 1n || last < item.iova) {
        i++;
        continue;
      }
      this.items.splice(i, 1);
      this.unpinPages(item.iova, item.length);
    }
  }

  /** iommufd_access_unpin_pages() */
  unpinPages(iova: bigint, length: bigint): void {
    const iopt = this.ioasUnpin?.iopt;
    if (!iopt || !length) return;
    const last = iova + length - 1n;
    iopt.contig(iova, last, (area, cur) => {
      const end = last < area.last ? last : area.last;
      area.pages.removeAccess(area.indexOf(cur), area.indexOf(end));
      area.numAccesses--;
    });
  }

  /** iommufd_access_destroy_object() */
  destroy(): void {
    if (this.ioas) this.ctx.accessChangeIoas(this, null);
    this.ctx.accessGone();
  }
}

/** struct iommufd_ctx: the object table of one open iommufd. */
export class SimContext {
  readonly objects = new ObjectTable();
  /** The file is closed; the context goes once no access holds it (iommufd_ctx_get()). */
  closed = false;
  released = false;
  #accessRefs = 0;
  vfioIoas: IoasObj | null = null;

  /** iommufd_get_object() */
  get<T extends SimObject>(id: number, type?: ObjType): T {
    return this.objects.get<T>(id, type) ?? fail('ENOENT');
  }

  getIoas(id: number): IoasObj {
    return this.get<IoasObj>(id, ObjType.IOAS);
  }

  /** iommufd_object_alloc(): the id is reserved; finalize() publishes the object. */
  add(obj: SimObject): number {
    return this.objects.add(obj) ?? fail('EBUSY');
  }

  /** iommufd_object_alloc() + iommufd_object_finalize() */
  addFinalized(obj: SimObject): number {
    const id = this.add(obj);
    obj.finalized = true;
    return id;
  }

  /** IOMMU_DESTROY: iommufd_object_remove(ictx, NULL, id, 0). */
  destroyId(id: number): void {
    const obj = this.objects.get(id);
    if (!obj) fail('ENOENT');
    if (obj.users !== 1) fail('EBUSY');
    this.#remove(obj);
  }

  #remove(obj: SimObject): void {
    obj.users = 0;
    if (this.vfioIoas === obj) this.vfioIoas = null;
    this.objects.delete(obj);
    obj.destroy();
  }

  /** iommufd_object_destroy_user(): drop the caller's users ref and remove. */
  destroyUser(obj: SimObject): void {
    obj.users--;
    if (obj.users === 1) this.#remove(obj);
  }

  /** iommufd_object_put_and_try_destroy() */
  putAndTryDestroy(obj: SimObject): void {
    obj.users--;
    if (obj.users === 1) this.#remove(obj);
  }

  /** Undo an add that never finalized (iommufd_object_abort()). */
  abort(obj: SimObject): void {
    this.objects.delete(obj);
  }

  // ---- devices and HWPTs ----------------------------------------------------

  /** iommufd_hw_pagetable_attach() for a mock device (its own group, no reserved regions). */
  hwptAttach(hwpt: HwptPaging, idev: Idev): void {
    if (idev.hwpt !== null && idev.hwpt !== hwpt) fail('EINVAL');
    hwpt.users++;
    idev.hwpt = hwpt;
  }

  /** iommufd_hw_pagetable_put() */
  hwptPut(hwpt: HwptPaging): void {
    if (hwpt.autoDomain) this.putAndTryDestroy(hwpt);
    else hwpt.users--;
  }

  /** iommufd_device_auto_get_domain(): reuse an automatic domain of the IOAS, else make one. */
  autoGetDomain(idev: Idev, ioas: IoasObj): HwptPaging {
    for (const hwpt of ioas.hwpts) {
      if (!hwpt.autoDomain) continue;
      this.hwptAttach(hwpt, idev); // the mock attaches any of its domains
      return hwpt;
    }
    const hwpt = new HwptPaging(ioas);
    this.add(hwpt);
    ioas.users++;
    try {
      this.hwptAttach(hwpt, idev);
    } catch (e) {
      hwpt.destroy();
      this.abort(hwpt);
      throw e;
    }
    try {
      ioas.iopt.addDomain(hwpt.domain);
    } catch (e) {
      hwpt.users--;
      idev.hwpt = null;
      hwpt.destroy();
      this.abort(hwpt);
      throw e;
    }
    ioas.hwpts.push(hwpt);
    hwpt.inList = true;
    hwpt.autoDomain = true;
    hwpt.finalized = true;
    return hwpt;
  }

  /** iommufd_device_attach(): returns the HWPT id. */
  deviceAttach(idev: Idev, ptId: number): number {
    const pt = this.get(ptId);
    let hwpt: HwptPaging;
    if (pt instanceof HwptPaging) {
      this.hwptAttach(pt, idev);
      hwpt = pt;
    } else if (pt instanceof IoasObj) hwpt = this.autoGetDomain(idev, pt);
    else fail('EINVAL');
    idev.users++;
    return hwpt.id;
  }

  /** iommufd_device_detach() */
  deviceDetach(idev: Idev): void {
    const hwpt = idev.hwpt;
    if (!hwpt) return;
    idev.hwpt = null;
    this.hwptPut(hwpt);
    idev.users--;
  }

  // ---- accesses ----------------------------------------------------------------

  /** iommufd_access_change_ioas() */
  accessChangeIoas(access: AccessObj, ioas: IoasObj | null): void {
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

  accessCreated(): void {
    this.#accessRefs++;
  }

  accessGone(): void {
    this.#accessRefs--;
    if (this.closed && this.#accessRefs === 0) this.release();
  }

  /** iommufd_fops_release(): destroy leaf objects until none is left. */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (;;) {
      let destroyed = 0;
      for (const obj of [...this.objects]) {
        if (this.objects.get(obj.id) !== obj || obj.users !== 1) continue;
        this.#remove(obj);
        destroyed++;
      }
      if (destroyed === 0) break;
    }
  }

  /** close() of the iommufd: the context lives on while accesses hold it. */
  close(): void {
    this.closed = true;
    if (this.#accessRefs === 0) this.release();
  }
}
