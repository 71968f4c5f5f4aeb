// The objects of one simulated iommufd (ioas.c, hw_pagetable.c, device.c) and
// the CONFIG_IOMMUFD_TEST mock (selftest.c): mock domains and devices, and
// accesses with the pins they hold and their unmap callback.

import type { SimKernel } from './kernels.js';
import { ObjType, ObjectTable, SimObject } from './objects.js';
import { isHugeBacked } from '../base/user-pages.js';
import { IoPagetable, type IoptAccess, type IoptDomain, SimErrno, ULONG_MAX, fail } from './io-pagetable.js';
import {
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING as HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT as HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID as HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_SELFTEST as HWPT_DATA_SELFTEST,
  IOMMU_HWPT_FAULT_ID_VALID as HWPT_FAULT_ID_VALID,
  MOCK_APERTURE_LAST,
  MOCK_APERTURE_START,
  MOCK_FLAGS_DEVICE_HUGE_IOVA,
  MOCK_FLAGS_DEVICE_NO_DIRTY,
  MOCK_IOMMUPT_HUGE,
  IOMMU_TEST_DEV_CACHE_DEFAULT,
  MOCK_DEV_CACHE_NUM,
} from '../uapi/constants.js';
import { type IoptPages, PAGE_SIZE, type SimDmabuf } from './pages.js';
import type { SimMapping, VdeviceObj, ViommuObj } from './viommu.js';


export const MOCK_IO_PAGE_SIZE = 2048n;

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

/** MOCK_HUGE_PAGE_SIZE: 512 * MOCK_IO_PAGE_SIZE */
export const MOCK_HUGE_PAGE_SIZE = 512n * MOCK_IO_PAGE_SIZE;
export const MOCK_NESTED_DOMAIN_IOTLB_NUM = 4;
const CPU_PAGE = 4096n;
/** The physically contiguous unit of a huge-page backed buffer (user-pages.ts). */
const HUGE_BACKING = 2n * 1024n * 1024n;
/**
 * 7.3's MOCK_IOMMUPT_DEFAULT: AMDv1 with a 2 KiB granule, starting_level 2, so
 * max_vasz_lg2 = 11 + 9 * 3 = 38 and every size from 2 KiB below 2^37
 * (pt_iommu_amdv1 get_info(): log2_mod(possible sizes, max_vasz_lg2 - 1)).
 */
const AMDV1_MOCK_PGSIZES = (1n << 37n) - MOCK_IO_PAGE_SIZE;
const AMDV1_MOCK_LAST_VA = (1n << 38n) - 1n;

/** The mock's page table: 6.12's xarray of MOCK_IO_PAGE_SIZE entries, or 7.3's generic-pt AMDv1. */
export interface MockPagetable {
  /** 7.3's generic page table (iommu_pt): leaves of any size of the bitmap. */
  readonly amdv1: boolean;
  readonly pgsizeBitmap: bigint;
  readonly apertureStart: bigint;
  readonly apertureEnd: bigint;
}

/**
 * The page table of a new mock paging domain. 6.12: mock_domain_alloc_paging()
 * (MOCK_FLAGS_DEVICE_HUGE_IOVA adds MOCK_HUGE_PAGE_SIZE); 7.3:
 * mock_domain_alloc_pgtable(), where MOCK_IOMMUPT_HUGE keeps only
 * MOCK_HUGE_PAGE_SIZE | PAGE_SIZE and the AMDv1 aperture (no mock aperture).
 */
export function mockPagetable(kernel: SimKernel, huge: boolean): MockPagetable {
  if (kernel === '6.12')
    return {
      amdv1: false,
      pgsizeBitmap: huge ? MOCK_IO_PAGE_SIZE | MOCK_HUGE_PAGE_SIZE : MOCK_IO_PAGE_SIZE,
      apertureStart: MOCK_APERTURE_START,
      apertureEnd: MOCK_APERTURE_LAST,
    };
  if (huge) return { amdv1: true, pgsizeBitmap: MOCK_HUGE_PAGE_SIZE | CPU_PAGE, apertureStart: 0n, apertureEnd: AMDV1_MOCK_LAST_VA };
  return { amdv1: true, pgsizeBitmap: AMDV1_MOCK_PGSIZES, apertureStart: MOCK_APERTURE_START, apertureEnd: MOCK_APERTURE_LAST };
}

const XARRAY_MOCK = mockPagetable('6.12', false);

/**
 * struct mock_iommu_domain (a paging domain of the mock driver). Its pfns
 * xarray is not stored: an entry exists at index i (IOVA i * MOCK_IO_PAGE_SIZE)
 * exactly while an area of the IOAS covers that IOVA and the domain is in the
 * IOAS (iopt_fill_domain / iopt_area_unfill_domain). Only the MOCK_PFN_DIRTY_IOVA
 * bits are kept, as a set of indexes; unmapping erases them with the entries.
 */
export class MockDomain implements IoptDomain {
  /** 1 << __ffs(pgsize_bitmap): also MD_CHECK_MAP's step on 7.3. */
  readonly minPageSize: bigint;
  readonly apertureStart: bigint;
  readonly apertureEnd: bigint;
  /** pgsize_bitmap */
  readonly pgsizeBitmap: bigint;
  /** 7.3's generic AMDv1 page table (leaf sizes chosen by iommu_pt's map), not 6.12's xarray. */
  readonly amdv1: boolean;
  /** 7.3's iommu_pt map_range(): WARN_ON(!(prot & (IOMMU_READ | IOMMU_WRITE))), -EINVAL; 6.12's mock maps it. */
  readonly refusesNoProt: boolean;
  /** domain->dirty_ops (IOMMU_HWPT_ALLOC_DIRTY_TRACKING) */
  readonly dirtyOps: boolean;
  /** mock->flags & MOCK_DIRTY_TRACK */
  tracking = false;
  /** pfns entries with MOCK_PFN_DIRTY_IOVA, by index (iova / MOCK_IO_PAGE_SIZE). */
  readonly dirty = new Set<number>();
  /** The io_pagetable the domain is filled from, while it is in one. */
  iopt: IoPagetable | null = null;

  constructor(pagetable: MockPagetable = XARRAY_MOCK, dirtyOps = false) {
    this.pgsizeBitmap = pagetable.pgsizeBitmap;
    this.minPageSize = pagetable.pgsizeBitmap & -pagetable.pgsizeBitmap;
    this.apertureStart = pagetable.apertureStart;
    this.apertureEnd = pagetable.apertureEnd;
    this.amdv1 = pagetable.amdv1;
    this.refusesNoProt = pagetable.amdv1;
    this.dirtyOps = dirtyOps;
  }

  /** xa_load(&mock->pfns, index) != NULL */
  hasEntry(index: number): boolean {
    const iopt = this.iopt;
    if (!iopt) return false;
    const iova = BigInt(index) * MOCK_IO_PAGE_SIZE;
    const c = iopt.areas.iterFirst(iova, iova);
    // iopt_revoke_notify() unmapped a revoked dma-buf from every domain, and
    // iopt_area_fill_domain() maps nothing of it into a later one.
    return c !== null && !c.leaf.items[c.index]!.pages.dmabufRevoked;
  }

  /** The entries of [start, last] were erased (unmap, or the domain left the IOAS). */
  unmapped(start: bigint, last: bigint): void {
    if (this.dirty.size === 0) return;
    const first = Number(start / MOCK_IO_PAGE_SIZE);
    const end = Number(last / MOCK_IO_PAGE_SIZE);
    if (end - first + 1 < this.dirty.size) {
      for (let i = first; i <= end; i++) this.dirty.delete(i);
    } else {
      for (const i of this.dirty) if (i >= first && i <= end) this.dirty.delete(i);
    }
  }

  attached(iopt: IoPagetable | null): void {
    this.iopt = iopt;
    this.dirty.clear();
  }

  /**
   * The size the entry at `index` was mapped with: MOCK_HUGE_PAGE_SIZE when it
   * carries MOCK_PFN_HUGE_IOVA, else MOCK_IO_PAGE_SIZE; 0n without an entry.
   * iommu_map() uses the huge size for a huge-aligned chunk of IOVA wholly in one
   * area whose memory is physically contiguous and equally aligned: here, memory
   * of a huge-page backed buffer whose user address is aligned like the IOVA.
   */
  entryPageSize(index: number): bigint {
    const iopt = this.iopt;
    if (!iopt) return 0n;
    const iova = BigInt(index) * MOCK_IO_PAGE_SIZE;
    const c = iopt.areas.iterFirst(iova, iova);
    if (!c) return 0n;
    // batch_to_domain(): with huge pages off, batch_iommu_map_small() maps one CPU page per iommu_map().
    if (this.amdv1) return this.#amdv1LeafSize(iova, c.leaf.items[c.index]!, iopt.disableLargePages);
    if (!(this.pgsizeBitmap & MOCK_HUGE_PAGE_SIZE) || iopt.disableLargePages) return MOCK_IO_PAGE_SIZE;
    const area = c.leaf.items[c.index]!;
    const head = iova & ~(MOCK_HUGE_PAGE_SIZE - 1n);
    if (head < area.start || head + MOCK_HUGE_PAGE_SIZE - 1n > area.last || !isHugeBacked(area.pages.buffer))
      return MOCK_IO_PAGE_SIZE;
    const uptr = BigInt(area.pages.uptr + area.startByteOf(head));
    return uptr % MOCK_HUGE_PAGE_SIZE === 0n ? MOCK_HUGE_PAGE_SIZE : MOCK_IO_PAGE_SIZE;
  }

  /**
   * The leaf of 7.3's AMDv1 mock table holding `iova` of `area`. iommufd maps
   * each physically contiguous run of a batch with one iommu_map() (batch_to_domain()),
   * and iommu_pt's map picks, at each IOVA, the largest size of pgsize_bitmap to
   * which the IOVA and the physical address are aligned and that the run holds.
   * A run is at least the backing page: a 2 MiB page of a huge-page backed buffer,
   * else a CPU page (the simulator assumes no more contiguity than that).
   */
  #amdv1LeafSize(iova: bigint, area: import('./io-pagetable.js').Area, small: boolean): bigint {
    const uptr = BigInt(area.pages.uptr + area.startByteOf(iova));
    const backing = !small && isHugeBacked(area.pages.buffer) ? HUGE_BACKING : CPU_PAGE;
    const runStart = iova - (uptr % backing) < area.start ? area.start : iova - (uptr % backing);
    const runEnd = iova + (backing - 1n - (uptr % backing)) > area.last ? area.last : iova + (backing - 1n - (uptr % backing));
    for (let size = backing; size > this.minPageSize; size >>= 1n) {
      if (!(this.pgsizeBitmap & size)) continue;
      const head = iova & ~(size - 1n);
      if (head >= runStart && head + size - 1n <= runEnd && (uptr - (iova - head)) % size === 0n) return size;
    }
    return this.minPageSize;
  }

  /**
   * mock_domain_read_and_clear_dirty() over [iova, iova + size): calls
   * `record(iova, pgsize)` for each dirty IO page (a huge one is dirty when any
   * of its entries is), clearing it unless noClear. Returns false (-EINVAL) when
   * not tracking and a bitmap is given.
   */
  readAndClearDirty(iova: bigint, size: bigint, noClear: boolean, record: ((iova: bigint, length: bigint) => void) | null): boolean {
    if (this.amdv1) {
      this.#readAndClearDirtyAmdv1(iova, size, noClear, record);
      return true;
    }
    if (!this.tracking && record) return false;
    if (this.dirty.size === 0) return true;
    if (this.pgsizeBitmap & MOCK_HUGE_PAGE_SIZE) {
      // Entry by entry, a huge IO page at a time, as the mock walks its xarray.
      const end = iova + size;
      do {
        const pgsize = this.entryPageSize(Number(iova / MOCK_IO_PAGE_SIZE));
        if (!pgsize) {
          iova += MOCK_IO_PAGE_SIZE;
          continue;
        }
        if (this.#testAndClearDirty(iova & ~(pgsize - 1n), pgsize, noClear)) record?.(iova, pgsize);
        iova += pgsize;
      } while (iova < end);
      return true;
    }
    // Only MOCK_IO_PAGE_SIZE entries: visit just the dirty ones.
    const first = Number(iova / MOCK_IO_PAGE_SIZE);
    const last = Number((iova + size - 1n) / MOCK_IO_PAGE_SIZE);
    const hits = this.#dirtyEntries(first, last);
    for (const i of hits) {
      if (!noClear) this.dirty.delete(i);
      record?.(BigInt(i) * MOCK_IO_PAGE_SIZE, MOCK_IO_PAGE_SIZE);
    }
    return true;
  }

  /** The dirty entry indexes in [first, last], ascending: a scan of the shorter of the two. */
  #dirtyEntries(first: number, last: number): number[] {
    const hits: number[] = [];
    if (last - first + 1 <= this.dirty.size) {
      for (let i = first; i <= last; i++) if (this.dirty.has(i)) hits.push(i);
    } else {
      for (const i of this.dirty) if (i >= first && i <= last) hits.push(i);
      hits.sort((a, b) => a - b);
    }
    return hits;
  }

  /**
   * 7.3: iommu_pt's read_and_clear_dirty() over [iova, iova + size), whether or not
   * tracking is on. A leaf is dirty when set_dirty() marked any entry of it
   * (amdv1pt_entry_is_write_dirty() reads the whole contiguous group), also one
   * outside the range; record_dirty() reports the leaf whole from its own start
   * and makes all its entries clean unless noClear. A leaf that starts before
   * the bitmap's first IOVA is cleared but not reported: iova_bitmap_set()
   * cannot move back to it.
   */
  #readAndClearDirtyAmdv1(iova: bigint, size: bigint, noClear: boolean, record: ((iova: bigint, length: bigint) => void) | null): void {
    if (this.dirty.size === 0) return;
    const leafAt = (at: bigint): { head: bigint; size: bigint } | null => {
      const pgsize = this.entryPageSize(Number(at / MOCK_IO_PAGE_SIZE));
      return pgsize ? { head: at & ~(pgsize - 1n), size: pgsize } : null;
    };
    const firstLeaf = leafAt(iova);
    const lastLeaf = leafAt(iova + size - 1n);
    const first = Number((firstLeaf?.head ?? iova) / MOCK_IO_PAGE_SIZE);
    const last = Number((lastLeaf ? lastLeaf.head + lastLeaf.size - 1n : iova + size - 1n) / MOCK_IO_PAGE_SIZE);
    const hits = this.#dirtyEntries(first, last);
    let done = 0n;
    for (const i of hits) {
      const at = BigInt(i) * MOCK_IO_PAGE_SIZE;
      if (at < done) continue;
      const leaf = leafAt(at);
      if (!leaf) continue;
      done = leaf.head + leaf.size;
      if (!noClear) for (let e = leaf.head; e < done; e += MOCK_IO_PAGE_SIZE) this.dirty.delete(Number(e / MOCK_IO_PAGE_SIZE));
      if (leaf.head >= iova) record?.(leaf.head, leaf.size);
    }
  }

  /** mock_test_and_clear_dirty(): whether an entry of [head, head + pgsize) is dirty; clears them unless noClear. */
  #testAndClearDirty(head: bigint, pgsize: bigint, noClear: boolean): boolean {
    const first = Number(head / MOCK_IO_PAGE_SIZE);
    const count = Number(pgsize / MOCK_IO_PAGE_SIZE);
    let dirty = false;
    for (let i = first; i < first + count; i++) {
      if (!this.dirty.has(i)) continue;
      dirty = true;
      if (!noClear) this.dirty.delete(i);
    }
    return dirty;
  }
}

/** sizeof(struct iommu_hwpt_selftest): 7.3 adds pagetable_type after iotlb. */
export function hwptSelftestSize(kernel: SimKernel): number {
  return kernel === '6.12' ? 4 : 8;
}

/**
 * 7.3's mock_domain_alloc_paging_flags() on a paging HWPT's user data: only
 * IOMMU_HWPT_DATA_SELFTEST (EOPNOTSUPP), copied with iommu_copy_struct_from_user()
 * (at least iotlb, at most the struct: EINVAL; a NULL data_uptr: EFAULT), then
 * mock_domain_alloc_pgtable() knows MOCK_IOMMUPT_DEFAULT and _HUGE (EOPNOTSUPP).
 * Returns pagetable_type (the bytes a short copy did not reach are zero).
 */
function selftestPagetableType(kernel: SimKernel, dataType: number, data: Uint8Array, nullUptr: boolean): number {
  if (dataType !== HWPT_DATA_SELFTEST) fail('EOPNOTSUPP');
  if (data.length < 4 || data.length > hwptSelftestSize(kernel)) fail('EINVAL');
  if (nullUptr) fail('EFAULT');
  let type = 0;
  for (let i = Math.min(data.length, 8) - 1; i >= 4; i--) type = type * 256 + data[i]!;
  if (type !== 0 && type !== MOCK_IOMMUPT_HUGE) fail('EOPNOTSUPP');
  return type;
}

/** The parts shared by paging and nested HWPTs (struct iommufd_hw_pagetable). */
export interface Hwpt extends SimObject {
  fault: FaultObj | null;
}

/** struct iommufd_hwpt_paging */
export class HwptPaging extends SimObject implements Hwpt {
  readonly type = ObjType.HWPT_PAGING;
  readonly domain: MockDomain;
  autoDomain = false;
  inList = false;
  nestParent = false;
  /** hwpt->pasid_compat (7.3's IOMMU_HWPT_ALLOC_PASID) */
  pasidCompat = false;
  fault: FaultObj | null = null;
  constructor(
    readonly ioas: IoasObj,
    domain: MockDomain = new MockDomain(),
  ) {
    super();
    this.domain = domain;
  }

  /** iommufd_hwpt_paging_destroy() */
  destroy(): void {
    if (this.inList) {
      this.ioas.hwpts.splice(this.ioas.hwpts.indexOf(this), 1);
      this.inList = false;
      this.ioas.iopt.removeDomain(this.domain);
      this.domain.attached(null);
    }
    if (this.fault) this.fault.users--;
    this.ioas.users--;
  }
}

/** struct iommufd_hwpt_nested with a mock_iommu_domain_nested. */
export class HwptNested extends SimObject implements Hwpt {
  readonly type = ObjType.HWPT_NESTED;
  readonly iotlb = new Uint32Array(MOCK_NESTED_DOMAIN_IOTLB_NUM);
  /** hwpt->pasid_compat (7.3's IOMMU_HWPT_ALLOC_PASID) */
  pasidCompat = false;
  fault: FaultObj | null = null;
  /** hwpt_nested->viommu: allocated on a vIOMMU (which it holds, not the parent). */
  viommu: ViommuObj | null = null;
  constructor(
    readonly parent: HwptPaging,
    iotlb: number,
  ) {
    super();
    this.iotlb.fill(iotlb);
  }

  /** iommufd_hwpt_nested_destroy() */
  destroy(): void {
    if (this.fault) this.fault.users--;
    if (this.viommu) this.viommu.users--;
    else this.parent.users--;
  }
}

export type AnyHwpt = HwptPaging | HwptNested;

/** struct iommufd_device of a mock device. */
export class Idev extends SimObject {
  readonly type = ObjType.DEVICE;
  hwpt: AnyHwpt | null = null;
  /** The iommufd_attach_handle of the current attachment (faults remember it). */
  handle: object | null = null;
  /** idev->vdev: its vDEVICE (7.3), which holds a wait_cnt, not a users, reference. */
  vdev: VdeviceObj | null = null;
  /** mdev->viommu and mdev->vdev_id: set while attached to a nested domain of a vIOMMU. */
  mockViommu: ViommuObj | null = null;
  mockVdevId = 0n;
  /** mdev->cache, which a vIOMMU invalidation clears. */
  readonly cache = new Uint32Array(MOCK_DEV_CACHE_NUM).fill(IOMMU_TEST_DEV_CACHE_DEFAULT);
  /** igroup->pasid_attach for every PASID but IOMMU_NO_PASID (device-pasid.ts; the mock device is alone in its group). */
  readonly pasidAttached = new Map<number, PasidAttach>();
  /** mdev->pasid_1024_fake_error */
  pasid1024FakeError = false;
  constructor(readonly devFlags: number) {
    super();
  }
  destroy(): void {}
}

/** One entry of igroup->pasid_attach. */
export interface PasidAttach {
  hwpt: AnyHwpt;
  /** The iommufd_attach_handle: faults remember it. */
  handle: object;
}

/**
 * iommufd_hwpt_pasid_compat() for the RID (IOMMU_NO_PASID): a HWPT without
 * IOMMU_HWPT_ALLOC_PASID cannot take the RID while any PASID is attached.
 */
function checkRidPasidCompat(idev: Idev, hwpt: AnyHwpt): void {
  if (!hwpt.pasidCompat && idev.pasidAttached.size > 0) fail('EINVAL');
}

/** struct iopf_group: one fault (the mock always reports LAST_PAGE) and where it came from. */
export interface IopfGroup {
  faults: { flags: number; pasid: number; grpid: number; perm: number; addr: bigint }[];
  idev: Idev;
  handle: object;
  cookie: number;
}

/** struct iommufd_fault: groups to deliver, and those read and awaiting a response by cookie. */
export class FaultObj extends SimObject {
  readonly type = ObjType.FAULT;
  deliver: IopfGroup[] = [];
  /** xa response (XA_FLAGS_ALLOC1). */
  readonly response = new Map<number, IopfGroup>();

  /**
   * Whether index 0 of the ALLOC1 xarray has become allocatable: xa_erase(0)
   * on a non-empty array replaces the reserved zero entry with a free slot, and
   * from then on the lowest free cookie may be 0 (the kernel's xarray does so).
   */
  #zeroFree = false;

  /** xa_alloc(&fault->response): the lowest free cookie from 1 (from 0 once freed). */
  allocCookie(group: IopfGroup): number {
    let cookie = this.#zeroFree ? 0 : 1;
    while (this.response.has(cookie)) cookie++;
    group.cookie = cookie;
    this.response.set(cookie, group);
    return cookie;
  }

  /** xa_erase(&fault->response, cookie): the group, if any. */
  eraseCookie(cookie: number): IopfGroup | undefined {
    if (cookie === 0 && this.response.size > 0) this.#zeroFree = true;
    const group = this.response.get(cookie);
    this.response.delete(cookie);
    return group;
  }

  /** iommufd_auto_response_faults(): drop what came through `handle`. */
  autoRespond(handle: object | null): void {
    this.deliver = this.deliver.filter((g) => g.handle !== handle);
    for (const [cookie, g] of this.response) if (g.handle === handle) this.response.delete(cookie);
  }

  /** iommufd_fault_destroy() */
  destroy(): void {
    this.deliver = [];
    this.response.clear();
  }
}

/** struct selftest_obj (TYPE_IDEV): what userspace destroys to remove the mock device. */
/** PAGE_SIZE * 512: the largest mock dma-buf iommufd_test_dmabuf_get() makes. */
const TEST_DMABUF_MAX = 512 * PAGE_SIZE;

/**
 * struct iommufd_test_dma_buf: the mock's dma-buf exporter, zeroed memory of
 * whole pages (iommufd_test_dmabuf_get()). It lives while its descriptor or an
 * importer (an iopt_pages) holds it.
 */
export class TestDmabuf implements SimDmabuf {
  readonly memory: ArrayBuffer;
  readonly size: number;
  revoked = false;
  readonly importers = new Set<WeakRef<IoptPages>>();

  private constructor(size: number) {
    this.size = size;
    this.memory = new ArrayBuffer(size);
  }

  /** iommufd_test_dmabuf_get(): `length` rounds up to whole pages, none or over 512 is EINVAL. */
  static get(length: number): TestDmabuf {
    const size = Math.ceil(length / PAGE_SIZE) * PAGE_SIZE;
    if (size === 0 || size > TEST_DMABUF_MAX) fail('EINVAL');
    return new TestDmabuf(size);
  }

  /**
   * iommufd_test_dmabuf_revoke(): the new state answers later attachments;
   * dma_buf_invalidate_mappings() revokes every current importer either way.
   */
  revoke(revoked: boolean): void {
    this.revoked = revoked;
    for (const ref of this.importers) {
      const pages = ref.deref();
      if (pages) pages.revokeNotify();
      else this.importers.delete(ref);
    }
  }
}

export class SelftestObj extends SimObject {
  readonly type = ObjType.SELFTEST;
  constructor(
    readonly ctx: SimContext,
    readonly idev: Idev,
  ) {
    super();
  }

  /**
   * iommufd_selftest_destroy(): detach, unbind, remove the device. Unbinding
   * first removes its vDEVICE and leaves a tombstone in its id
   * (iommufd_device_pre_destroy()).
   */
  destroy(): void {
    this.ctx.deviceDetach(this.idev);
    if (this.idev.vdev) this.ctx.tombstone(this.idev.vdev);
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
  /** The kernel whose rules this context follows (SimBackend.kernel). */
  readonly kernel: SimKernel;
  /** The file is closed; the context goes once no access holds it (iommufd_ctx_get()). */
  closed = false;
  released = false;
  #accessRefs = 0;
  vfioIoas: IoasObj | null = null;
  /** IOPT_PAGES_ACCOUNT_MM (IOMMU_OPTION_RLIMIT_MODE 1) instead of per user (0). */
  accountModeMm = false;
  /** mt_mmap: regions drivers offer to mmap() of the iommufd, by offset. */
  readonly mmaps = new Map<bigint, SimMapping>();

  /** mtree_alloc_range() from PAGE_SIZE on: the lowest free offset for `length` bytes. */
  allocMmapOffset(length: number): bigint {
    const taken = [...this.mmaps].map(([start, m]) => [start, start + BigInt(m.length)] as const).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    let offset = 4096n;
    for (const [start, end] of taken) {
      if (offset + BigInt(length) <= start) break;
      if (end > offset) offset = end;
    }
    return offset;
  }

  constructor(kernel: SimKernel = '6.12') {
    this.kernel = kernel;
  }

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

  /**
   * iommufd_object_tombstone_user(): destroy the object and keep its id
   * (XA_ZERO_ENTRY): IOMMU_DESTROY of it is ENOENT and no new object gets it.
   */
  tombstone(obj: SimObject): void {
    obj.users = 0;
    this.objects.tombstone(obj);
    obj.destroy();
  }

  /** Undo an add that never finalized (iommufd_object_abort()). */
  abort(obj: SimObject): void {
    this.objects.delete(obj);
  }

  // ---- devices and HWPTs ----------------------------------------------------

  /**
   * mock_domain_nop_attach(): a nested domain of a vIOMMU needs the device's
   * vDEVICE there (iommufd_viommu_get_vdev_id(): ENOENT), whose virtual id the
   * mock device remembers for its vEVENTs.
   */
  #mockAttach(hwpt: AnyHwpt, idev: Idev): void {
    if (hwpt instanceof HwptPaging && hwpt.domain.dirtyOps && idev.devFlags & MOCK_FLAGS_DEVICE_NO_DIRTY) fail('EINVAL');
    const viommu = hwpt instanceof HwptNested ? hwpt.viommu : null;
    const vdevId = viommu ? (viommu.vdevIdOf(idev) ?? fail('ENOENT')) : 0n;
    idev.mockViommu = viommu;
    idev.mockVdevId = vdevId;
  }

  /** iommufd_hw_pagetable_attach() for a mock device (its own group, no reserved regions). */
  hwptAttach(hwpt: AnyHwpt, idev: Idev): void {
    if (idev.hwpt !== null && idev.hwpt !== hwpt) fail('EINVAL');
    if (idev.hwpt === null) {
      // iommufd_hwpt_attach_device(): iopf enable (the mock has a queue), attach with a handle.
      checkRidPasidCompat(idev, hwpt);
      this.#mockAttach(hwpt, idev);
      idev.handle = {};
    }
    hwpt.users++;
    idev.hwpt = hwpt;
  }

  /** iommufd_hw_pagetable_put() */
  hwptPut(hwpt: AnyHwpt): void {
    if (hwpt instanceof HwptPaging && hwpt.autoDomain) this.putAndTryDestroy(hwpt);
    else hwpt.users--;
  }

  /**
   * iommufd_hwpt_paging_alloc(): a paging HWPT on `ioas` from the mock's
   * domain_alloc_user() (6.12) or domain_alloc_paging_flags() (7.3). With
   * `immediateAttach` the device is attached first. The object is left unfinalized.
   */
  hwptPagingAlloc(
    ioas: IoasObj,
    idev: Idev,
    flags: number,
    userData: Uint8Array | null,
    immediateAttach: boolean,
    dataType = 0,
    nullUptr = false,
  ): HwptPaging {
    const v612 = this.kernel === '6.12';
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
        huge = selftestPagetableType(this.kernel, dataType, userData, nullUptr) === MOCK_IOMMUPT_HUGE;
      } catch (e) {
        if (!(e instanceof SimErrno)) throw e;
        dataError = e;
      }
    }
    const domain = new MockDomain(mockPagetable(this.kernel, huge), hasDirty);
    const hwpt = new HwptPaging(ioas, domain);
    this.add(hwpt);
    ioas.users++;
    hwpt.nestParent = (flags & HWPT_ALLOC_NEST_PARENT) !== 0;
    hwpt.pasidCompat = (flags & HWPT_ALLOC_PASID) !== 0;
    const abort = (e: unknown): never => {
      this.abort(hwpt);
      hwpt.destroy();
      throw e;
    };
    if (dataError) abort(dataError);
    if (immediateAttach) {
      try {
        this.hwptAttach(hwpt, idev);
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
  hwptNestedAlloc(parent: HwptPaging, flags: number, dataType: number, data: Uint8Array | null, nullUptr = false): HwptNested {
    // 7.3's iommufd_hwpt_nested_alloc() and mock_domain_alloc_nested() also take ALLOC_PASID.
    const valid = HWPT_FAULT_ID_VALID | (this.kernel === '6.12' ? 0 : HWPT_ALLOC_PASID);
    if (flags & ~valid || !data || data.length === 0) fail('EOPNOTSUPP');
    if (parent.autoDomain || !parent.nestParent) fail('EINVAL');
    const hwpt = new HwptNested(parent, 0);
    this.add(hwpt);
    parent.users++;
    hwpt.pasidCompat = (flags & HWPT_ALLOC_PASID) !== 0;
    try {
      if (dataType !== HWPT_DATA_SELFTEST || flags & ~valid) fail('EOPNOTSUPP');
      // iommu_copy_struct_from_user(&user_cfg, user_data, IOMMU_HWPT_DATA_SELFTEST, iotlb)
      if (data.length < 4 || data.length > hwptSelftestSize(this.kernel)) fail('EINVAL');
      if (nullUptr) fail('EFAULT'); // copy_struct_from_user() from a NULL data_uptr
      hwpt.iotlb.fill(new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true));
    } catch (e) {
      this.abort(hwpt);
      hwpt.destroy();
      throw e;
    }
    return hwpt;
  }

  /**
   * iommufd_device_auto_get_domain(): reuse an automatic domain of the IOAS,
   * else make one. `replace` selects iommufd_device_do_replace(); returns the
   * HWPT now attached and the one to put (replace only).
   */
  autoGetDomain(idev: Idev, ioas: IoasObj, replace = false): { hwpt: HwptPaging; old: AnyHwpt | null } {
    for (const hwpt of ioas.hwpts) {
      if (!hwpt.autoDomain) continue;
      try {
        const old = replace ? this.doReplace(idev, hwpt) : (this.hwptAttach(hwpt, idev), null);
        return { hwpt, old };
      } catch (e) {
        if (e instanceof SimErrno && e.code === 'EINVAL') continue;
        throw e;
      }
    }
    const hwpt = this.hwptPagingAlloc(ioas, idev, 0, null, !replace);
    let old: AnyHwpt | null = null;
    if (replace) {
      try {
        old = this.doReplace(idev, hwpt);
      } catch (e) {
        this.abort(hwpt);
        hwpt.destroy();
        throw e;
      }
    }
    hwpt.autoDomain = true;
    hwpt.finalized = true;
    return { hwpt, old };
  }

  /** iommufd_device_do_replace(): returns the HWPT replaced (null if unchanged). */
  doReplace(idev: Idev, hwpt: AnyHwpt): AnyHwpt | null {
    const old = idev.hwpt;
    if (!old) fail('EINVAL');
    if (hwpt === old) return null;
    checkRidPasidCompat(idev, hwpt); // iommufd_hwpt_replace_device()
    this.#mockAttach(hwpt, idev);
    // iommufd_hwpt_replace_device(): faults of the old attachment are answered INVALID.
    if (old.fault) old.fault.autoRespond(idev.handle);
    idev.handle = {};
    idev.hwpt = hwpt;
    hwpt.users++;
    return old;
  }

  /** iommufd_device_attach(): returns the HWPT id. */
  deviceAttach(idev: Idev, ptId: number): number {
    const pt = this.get(ptId);
    let hwpt: AnyHwpt;
    if (pt instanceof HwptPaging || pt instanceof HwptNested) {
      this.hwptAttach(pt, idev);
      hwpt = pt;
    } else if (pt instanceof IoasObj) hwpt = this.autoGetDomain(idev, pt).hwpt;
    else fail('EINVAL');
    idev.users++;
    return hwpt.id;
  }

  /** iommufd_device_replace(): returns the HWPT id. */
  deviceReplace(idev: Idev, ptId: number): number {
    const pt = this.get(ptId);
    let hwpt: AnyHwpt;
    let old: AnyHwpt | null;
    if (pt instanceof HwptPaging || pt instanceof HwptNested) {
      old = this.doReplace(idev, pt);
      hwpt = pt;
    } else if (pt instanceof IoasObj) ({ hwpt, old } = this.autoGetDomain(idev, pt, true));
    else fail('EINVAL');
    if (old) this.hwptPut(old);
    return hwpt.id;
  }

  /** iommufd_device_detach() */
  deviceDetach(idev: Idev): void {
    const hwpt = idev.hwpt;
    if (!hwpt) return;
    if (hwpt.fault) hwpt.fault.autoRespond(idev.handle);
    idev.hwpt = null;
    idev.handle = null;
    // The blocking domain is no nested domain of a vIOMMU.
    idev.mockViommu = null;
    idev.mockVdevId = 0n;
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

  /** iommufd_ctx_get(): an access or a fault fd holds the context. */
  accessCreated(): void {
    this.#accessRefs++;
  }

  /** iommufd_ctx_put() */
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
