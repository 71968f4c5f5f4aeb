// selftest.c's mock IOMMU driver, the part no iommufd object is needed for: its
// paging domains (6.12's xarray of MOCK_IO_PAGE_SIZE entries, 7.3's generic-pt
// AMDv1) with their dirty bits, the HWPT user data it takes, and its dma-buf
// exporter. A leaf under objects.ts: a HWPT holds a MockDomain.

import type { SimKernel } from './kernels.js';
import { isHugeBacked } from '../base/user-pages.js';
import { type Area, type IoPagetable, type IoptDomain, fail } from './io-pagetable.js';
import {
  IOMMU_HWPT_DATA_SELFTEST as HWPT_DATA_SELFTEST,
  MOCK_APERTURE_LAST,
  MOCK_APERTURE_START,
  MOCK_IOMMUPT_HUGE,
} from '../uapi/constants.js';
import { type IoptPages, PAGE_SIZE, type SimDmabuf } from './pages.js';

export const MOCK_IO_PAGE_SIZE = 2048n;

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
  #amdv1LeafSize(iova: bigint, area: Area, small: boolean): bigint {
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
export function selftestPagetableType(kernel: SimKernel, dataType: number, data: Uint8Array, nullUptr: boolean): number {
  if (dataType !== HWPT_DATA_SELFTEST) fail('EOPNOTSUPP');
  if (data.length < 4 || data.length > hwptSelftestSize(kernel)) fail('EINVAL');
  if (nullUptr) fail('EFAULT');
  let type = 0;
  for (let i = Math.min(data.length, 8) - 1; i >= 4; i--) type = type * 256 + data[i]!;
  if (type !== 0 && type !== MOCK_IOMMUPT_HUGE) fail('EOPNOTSUPP');
  return type;
}

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
