// io_pagetable.c in the simulator: the IOVA space of one IOAS. Areas (each a
// slice of an iopt_pages) in an AreaTree, allowed and reserved ranges, the
// domains filled with every area, the accesses attached, and the IOVA
// alignment they impose. Every rule and errno follows the 6.12 source; the
// function names say which kernel function each block mirrors.

import { AreaTree, type Interval } from './area-tree.js';
import { IoptPages, PAGE_SIZE, type PageSpan, type SimDmabuf, type SimFile, isDmabuf } from './pages.js';

export const U64_MAX = (1n << 64n) - 1n;
/** ULONG_MAX on the 64-bit kernels iommufd runs on. */
export const ULONG_MAX = U64_MAX;
const PAGE = BigInt(PAGE_SIZE);
/** HPAGE_SIZE with CONFIG_TRANSPARENT_HUGEPAGE (x86-64). */
const HPAGE = 2n * 1024n * 1024n;

export const IOMMU_READ = 1;
export const IOMMU_WRITE = 2;

/** A failure the backend turns into IommufdError(errno, op). */
export class SimErrno extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

export function fail(code: string): never {
  throw new SimErrno(code);
}

/** struct iommu_domain, as far as the io_pagetable cares. */
export interface IoptDomain {
  /** 1 << __ffs(pgsize_bitmap) */
  readonly minPageSize: bigint;
  readonly apertureStart: bigint;
  readonly apertureEnd: bigint;
  /** pgsize_bitmap (VFIO_IOMMU_GET_INFO) */
  readonly pgsizeBitmap: bigint;
  /** Its map refuses an IOVA with neither IOMMU_READ nor IOMMU_WRITE (EINVAL), as 7.3's iommu_pt map_range() does. */
  readonly refusesNoProt?: boolean;
  /** The domain's entries of [start, last] are unmapped (the mock drops its dirty bits). */
  unmapped?(start: bigint, last: bigint): void;
}

/** struct iopt_pages_list: a slice of an iopt_pages to map (iopt_get_pages(), iopt_map_pages()). */
export interface PagesSlice {
  pages: IoptPages;
  startByte: number;
  length: bigint;
}

/** struct iommufd_access, as far as the io_pagetable cares. */
export interface IoptAccess {
  readonly iovaAlignment: bigint;
  /** ops->unmap: drop every pin intersecting [iova, iova + length). */
  unmap(iova: bigint, length: bigint): void;
}

/** struct iopt_area. */
export class Area implements Interval {
  start: bigint;
  last: bigint;
  readonly pages: IoptPages;
  /** iopt_area_start_byte(area, start): page_offset + pages_node.start * PAGE_SIZE. */
  readonly startByte: number;
  readonly prot: number;
  numAccesses = 0;
  /** num_locks: internal accesses (HW queues) that forbid unmapping the area. */
  numLocks = 0;
  preventAccess = false;
  /** pages_node while the area is in pages->domains_itree (a domain stores its PFNs). */
  domainSpan: PageSpan | null = null;

  constructor(start: bigint, last: bigint, pages: IoptPages, startByte: number, prot: number) {
    this.start = start;
    this.last = last;
    this.pages = pages;
    this.startByte = startByte;
    this.prot = prot;
  }

  get length(): bigint {
    return this.last - this.start + 1n;
  }

  get pageOffset(): number {
    return this.startByte % PAGE_SIZE;
  }

  /** iopt_area_start_byte() */
  startByteOf(iova: bigint): number {
    return Number(iova - this.start) + this.startByte;
  }

  /** iopt_area_iova_to_index() */
  indexOf(iova: bigint): number {
    return Math.floor(this.startByteOf(iova) / PAGE_SIZE);
  }

  get firstIndex(): number {
    return Math.floor(this.startByte / PAGE_SIZE);
  }

  get lastIndex(): number {
    return Math.floor((this.startByte + Number(this.last - this.start)) / PAGE_SIZE);
  }
}

interface Reserved extends Interval {
  owner: unknown;
}

/** Merged, sorted spans of possibly overlapping or adjacent intervals (interval_tree_span_iter's "used" spans). */
function mergeSpans(intervals: readonly Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: Interval[] = [];
  for (const r of sorted) {
    const top = out[out.length - 1];
    if (top && (top.last === U64_MAX || r.start <= top.last + 1n)) {
      if (r.last > top.last) top.last = r.last;
    } else out.push({ start: r.start, last: r.last });
  }
  return out;
}

/** The first span index whose last >= q (spans sorted and disjoint). */
function spanFrom(spans: readonly Interval[], q: bigint): number {
  let lo = 0;
  let hi = spans.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (spans[mid]!.last < q) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function roundupPowOfTwo(x: bigint): bigint {
  let p = 1n;
  while (p < x) p <<= 1n;
  return p;
}

export class IoPagetable {
  readonly areas = new AreaTree<Area>();
  readonly #reserved: Reserved[] = [];
  #reservedSpans: Interval[] = [];
  #allowed: Interval[] = [];
  #allowedSpans: Interval[] = [];
  readonly domains: IoptDomain[] = [];
  readonly accesses = new Set<IoptAccess>();
  iovaAlignment = 1n;
  disableLargePages = false;

  // ---- queries -------------------------------------------------------------

  #reservedIntersects(start: bigint, last: bigint): boolean {
    const spans = this.#reservedSpans;
    if (spans.length === 0) return false;
    const at = spanFrom(spans, start);
    return at < spans.length && spans[at]!.start <= last;
  }

  #allowedIntersects(start: bigint, last: bigint): boolean {
    const spans = this.#allowedSpans;
    const at = spanFrom(spans, start);
    return at < spans.length && spans[at]!.start <= last;
  }

  /** IOMMU_IOAS_IOVA_RANGES: the holes of the reserved ranges (allowed ranges play no part). */
  iovaRanges(): Interval[] {
    const out: Interval[] = [];
    let pos = 0n;
    for (const span of this.#reservedSpans) {
      if (span.start > pos) out.push({ start: pos, last: span.start - 1n });
      if (span.last === U64_MAX) return out;
      pos = span.last + 1n;
    }
    out.push({ start: pos, last: U64_MAX });
    return out;
  }

  /**
   * iopt_area_contig_init/next: call `fn` for each area of the contiguous run
   * covering [iova, last] from iova; true if the run reaches `last`
   * (iopt_area_contig_done()).
   */
  contig(iova: bigint, last: bigint, fn: (area: Area, cur: bigint, done: boolean) => void): boolean {
    let c = this.areas.iterFirst(iova, iova);
    let cur = iova;
    while (c) {
      const area = c.leaf.items[c.index]!;
      const done = last <= area.last;
      fn(area, cur, done);
      if (done) return true;
      cur = area.last + 1n;
      c = this.areas.next(c);
      if (!c || c.leaf.items[c.index]!.start !== cur) return false;
    }
    return false;
  }

  // ---- IOVA allocation --------------------------------------------------------

  /** iopt_alloc_iova() */
  allocIova(uptr: number, length: bigint): bigint {
    const pageOffset = BigInt(uptr % PAGE_SIZE);
    if (length === 0n || length >= ULONG_MAX / 2n) fail('EOVERFLOW');
    let alignment: bigint;
    if (!uptr) alignment = roundupPowOfTwo(length);
    else {
      const u = BigInt(uptr);
      const low = u & -u;
      const natural = roundupPowOfTwo(length);
      alignment = natural < low ? natural : low;
    }
    if (alignment >= HPAGE) alignment = HPAGE;
    if (alignment < this.iovaAlignment) fail('EINVAL');

    const checkRange = (start: bigint, last: bigint): bigint | null => {
      const up = start + alignment - 1n;
      if (up > ULONG_MAX) return null;
      const aligned = (up & ~(alignment - 1n)) | pageOffset;
      if (aligned >= last || last - aligned < length - 1n) return null;
      return aligned;
    };

    const lo = PAGE;
    const hi = ULONG_MAX - PAGE;
    const allowed =
      this.#allowedSpans.length === 0
        ? [{ start: lo, last: hi }]
        : this.#allowedSpans
            .filter((s) => s.last >= lo && s.start <= hi)
            .map((s) => ({ start: s.start > lo ? s.start : lo, last: s.last < hi ? s.last : hi }));
    for (const span of allowed) {
      const from = checkRange(span.start, span.last);
      if (from === null) continue;
      // interval_tree_for_each_double_span(reserved, areas) over [from, span.last]: its holes.
      for (const [hs, he] of this.areas.holes(from, span.last, length)) {
        for (const [ps, pe] of this.#minusReserved(hs, he)) {
          if (pe - ps + 1n < length) continue;
          const iova = checkRange(ps, pe);
          if (iova !== null) return iova;
        }
      }
    }
    fail('ENOSPC');
  }

  /** [start, last] minus the reserved spans, as holes in order. */
  *#minusReserved(start: bigint, last: bigint): Generator<[bigint, bigint]> {
    const spans = this.#reservedSpans;
    let cur = start;
    for (let i = spanFrom(spans, start); i < spans.length; i++) {
      const span = spans[i]!;
      if (span.start > last) break;
      if (span.start > cur) yield [cur, span.start - 1n];
      if (span.last >= last) return;
      cur = span.last + 1n;
    }
    yield [cur, last];
  }

  /** iopt_check_iova() */
  checkIova(iova: bigint, length: bigint): void {
    if (iova & (this.iovaAlignment - 1n)) fail('EINVAL');
    const last = iova + length - 1n;
    if (last > ULONG_MAX) fail('EOVERFLOW');
    if (this.#reservedIntersects(iova, last)) fail('EINVAL');
    if (this.areas.iterFirst(iova, last)) fail('EEXIST');
  }

  // ---- map / unmap ------------------------------------------------------------

  /**
   * iopt_map_user_pages() for `pages` (from iopt_alloc_pages()) whose caller's
   * uptr is `uptr`: returns the IOVA used.
   */
  mapPages(pages: IoptPages, uptr: number, length: number, iova: bigint, prot: number, allocIova: boolean): bigint {
    // The one-slice case of mapPagesList(), without its lists (the hot path of IOMMU_IOAS_MAP).
    const len = BigInt(length);
    const mask = this.iovaAlignment - 1n;
    if (len & mask || !length) fail('EINVAL');
    if (allocIova) iova = this.allocIova(uptr, len);
    else this.checkIova(iova, len);
    if (prot & IOMMU_WRITE && !pages.writable) fail('EPERM');
    const startByte = uptr - pages.uptr;
    if (mask && BigInt(startByte % PAGE_SIZE) & mask) fail('EINVAL');
    const area = new Area(iova, iova + len - 1n, pages, startByte, prot);
    // iopt_fill_domains_pages() pins the pages: a hole in the user memory is EFAULT.
    const failure = this.domains.length > 0 ? pages.pinFailure(area.firstIndex, area.lastIndex) : null;
    if (failure) fail(failure);
    this.#checkDomainsMap(this.domains, prot);
    this.areas.insert(area);
    if (this.domains.length > 0) this.#store(area);
    return iova;
  }

  /**
   * iopt_map_file_pages(): [start, start + length) of the dma-buf or the file
   * `fileOf()` opens (dma_buf_get(), else fget(): EBADF), mapped like user
   * pages. Returns the IOVA used.
   */
  mapFilePages(fileOf: () => SimFile | SimDmabuf, start: bigint, length: bigint, iova: bigint, prot: number, allocIova: boolean): bigint {
    if (!length) fail('EINVAL');
    if (start + length - 1n > U64_MAX) fail('EOVERFLOW'); // check_add_overflow()
    const startByte = Number(start % PAGE);
    const file = fileOf();
    const writable = (prot & IOMMU_WRITE) !== 0;
    const pages = isDmabuf(file)
      ? IoptPages.allocDmabuf(file, startByte, start, length, writable)
      : IoptPages.allocFile(file, startByte, start, length, writable);
    if (typeof pages === 'string') fail(pages);
    return this.mapPagesList([{ pages, startByte, length }], length, iova, prot, allocIova);
  }

  /** iopt_map_pages(): iopt_alloc_area_pages() then iopt_fill_domains_pages(). Returns the IOVA used. */
  mapPagesList(list: PagesSlice[], len: bigint, iova: bigint, prot: number, allocIova: boolean): bigint {
    // iopt_alloc_area_pages()
    if (len & (this.iovaAlignment - 1n) || !len) fail('EINVAL');
    if (allocIova) iova = this.allocIova(list[0]!.pages.alignmentBase + list[0]!.startByte, len);
    else this.checkIova(iova, len);
    const areas: Area[] = [];
    try {
      let at = iova;
      for (const elm of list) {
        // iopt_insert_area()
        if (prot & IOMMU_WRITE && !elm.pages.writable) fail('EPERM');
        if (BigInt(elm.startByte % PAGE_SIZE) & (this.iovaAlignment - 1n)) fail('EINVAL');
        if (at + elm.length - 1n > ULONG_MAX) fail('EOVERFLOW');
        const area = new Area(at, at + elm.length - 1n, elm.pages, elm.startByte, prot);
        this.areas.insert(area);
        areas.push(area);
        at += elm.length;
      }
    } catch (e) {
      for (const area of areas) this.areas.remove(area); // iopt_abort_area()
      throw e;
    }
    // iopt_fill_domains_pages(): every domain maps the area; one pin per page of
    // the pages, read from the process where nothing holds them yet.
    if (this.domains.length > 0) {
      const failure = areas.map((area) => area.pages.unpinnedPinFailure(area.firstIndex, area.lastIndex)).find((f) => f !== null);
      if (failure) {
        for (const area of areas) this.areas.remove(area);
        fail(failure);
      }
      try {
        this.#checkDomainsMap(this.domains, prot);
      } catch (e) {
        for (const area of areas) this.areas.remove(area);
        throw e;
      }
      for (const area of areas) this.#store(area);
    }
    return iova;
  }

  /** iommu_map() of an area with `prot` into each of `domains` (batch_to_domain()). */
  #checkDomainsMap(domains: readonly IoptDomain[], prot: number): void {
    if (!(prot & (IOMMU_READ | IOMMU_WRITE)) && domains.some((d) => d.refusesNoProt)) fail('EINVAL');
  }

  /** iopt_get_pages(): the slices of the contiguous areas under [iova, iova + length). */
  getPages(iova: bigint, length: bigint): PagesSlice[] {
    if (!length) fail('EINVAL');
    const last = iova + length - 1n;
    if (last > ULONG_MAX) fail('EOVERFLOW');
    const list: PagesSlice[] = [];
    const done = this.contig(iova, last, (area, cur) => {
      const end = last < area.last ? last : area.last;
      list.push({ pages: area.pages, startByte: area.startByteOf(cur), length: end - cur + 1n });
    });
    if (!done) fail('ENOENT');
    return list;
  }

  /** iopt_area_split(): `iova` becomes the last IOVA of a new area. */
  #split(area: Area, iova: bigint): void {
    const alignment = this.iovaAlignment;
    if (iova === area.start || iova === area.last) return;
    if (area.preventAccess) fail('EBUSY');
    // iopt_area_split(): a dma-buf tracks its domains per area (pages->dmabuf.tracker).
    if (area.pages.dmabuf) fail('EOPNOTSUPP');
    const newStart = iova + 1n;
    if (newStart & (alignment - 1n) || BigInt(area.startByteOf(newStart)) & (alignment - 1n)) fail('EINVAL');
    if (area.numAccesses) fail('EINVAL');
    if (area.domainSpan && !this.disableLargePages) fail('EINVAL');
    const lhs = new Area(area.start, iova, area.pages, area.startByte, area.prot);
    const rhs = new Area(newStart, area.last, area.pages, area.startByteOf(newStart), area.prot);
    this.areas.remove(area);
    this.areas.insert(lhs);
    this.areas.insert(rhs);
    if (area.domainSpan) {
      this.#unstore(area);
      this.#store(lhs);
      this.#store(rhs);
    }
  }

  /** iopt_cut_iova() */
  cutIova(iovas: bigint[]): void {
    for (const iova of iovas) {
      const c = this.areas.iterFirst(iova, iova);
      if (c) this.#split(c.leaf.items[c.index]!, iova);
    }
  }

  /** iopt_disable_large_pages() */
  disableLargePagesOption(): void {
    if (this.disableLargePages) return;
    if (this.domains.length > 0 && this.areas.iterFirst(0n, ULONG_MAX)) fail('EINVAL');
    this.disableLargePages = true;
    try {
      this.#calculateIovaAlignment();
    } catch (e) {
      this.disableLargePages = false;
      throw e;
    }
  }

  /** iopt_enable_large_pages() */
  enableLargePages(): void {
    this.disableLargePages = false;
    try {
      this.#calculateIovaAlignment();
    } catch {
      // WARN_ON()
    }
  }

  #store(area: Area): void {
    area.domainSpan = { start: area.firstIndex, last: area.lastIndex };
    area.pages.addDomainSpan(area.domainSpan);
  }

  #unstore(area: Area): void {
    if (!area.domainSpan) return;
    area.pages.removeDomainSpan(area.domainSpan);
    area.domainSpan = null;
  }

  /** iopt_unmap_iova_range(): bytes unmapped, or throws (areas removed before the failure stay removed). */
  unmapRange(start: bigint, last: bigint): bigint {
    let unmapped = 0n;
    let tries = 0;
    for (;;) {
      const c = this.areas.iterFirst(start, last);
      if (!c) break;
      const area = c.leaf.items[c.index]!;
      // Pinned by an internal access (a HW queue's memory) until that object goes.
      if (area.numLocks) fail('EBUSY');
      if (area.start < start || area.last > last) fail('ENOENT');
      if (area.start !== start) tries = 0;
      if (area.numAccesses) {
        start = area.start;
        area.preventAccess = true;
        this.#notifyUnmap(area.start, area.length);
        if (++tries > 100) fail('EDEADLK');
        continue;
      }
      this.#unstore(area);
      this.areas.remove(area);
      for (const d of this.domains) d.unmapped?.(area.start, area.last);
      unmapped += area.length;
      if (area.last >= last) break;
      start = area.last + 1n;
    }
    return unmapped;
  }

  /** iopt_unmap_iova() */
  unmap(iova: bigint, length: bigint): bigint {
    if (!length) fail('EINVAL');
    const last = iova + length - 1n;
    if (last > ULONG_MAX) fail('EOVERFLOW');
    return this.unmapRange(iova, last);
  }

  /** iommufd_access_notify_unmap() */
  #notifyUnmap(iova: bigint, length: bigint): void {
    for (const access of [...this.accesses]) access.unmap(iova, length);
  }

  // ---- allowed and reserved ranges ------------------------------------------

  /** iopt_reserve_iova() */
  reserveIova(start: bigint, last: bigint, owner: unknown): void {
    if (this.areas.iterFirst(start, last) || this.#allowedIntersects(start, last)) fail('EADDRINUSE');
    this.#reserved.push({ start, last, owner });
    this.#reservedSpans = mergeSpans(this.#reserved);
  }

  /** iopt_remove_reserved_iova() */
  removeReserved(owner: unknown): void {
    for (let i = this.#reserved.length - 1; i >= 0; i--) if (this.#reserved[i]!.owner === owner) this.#reserved.splice(i, 1);
    this.#reservedSpans = mergeSpans(this.#reserved);
  }

  /** iopt_set_allow_iova(): replace the allowed ranges (already checked by the caller). */
  setAllowed(ranges: Interval[]): void {
    const spans = mergeSpans(ranges);
    for (const r of ranges) if (this.#reservedIntersects(r.start, r.last)) fail('EADDRINUSE');
    this.#allowed = ranges.map((r) => ({ start: r.start, last: r.last }));
    this.#allowedSpans = spans;
  }

  get allowed(): readonly Interval[] {
    return this.#allowed;
  }

  // ---- alignment, domains, accesses -------------------------------------------

  /** iopt_check_iova_alignment() */
  #checkIovaAlignment(alignment: bigint): void {
    const mask = alignment - 1n;
    for (const area of this.areas)
      if (area.start & mask || area.length & mask || BigInt(area.pageOffset) & mask) fail('EADDRINUSE');
    for (const access of this.accesses) if (access.iovaAlignment > alignment) fail('EADDRINUSE');
  }

  /** iopt_calculate_iova_alignment() */
  #calculateIovaAlignment(): void {
    let alignment = this.disableLargePages ? PAGE : 1n;
    for (const d of this.domains) if (d.minPageSize > alignment) alignment = d.minPageSize;
    for (const a of this.accesses) if (a.iovaAlignment > alignment) alignment = a.iovaAlignment;
    if (alignment > this.iovaAlignment) this.#checkIovaAlignment(alignment);
    this.iovaAlignment = alignment;
  }

  /** iopt_table_add_domain() */
  addDomain(domain: IoptDomain): void {
    if (this.domains.includes(domain)) fail('EEXIST');
    const alignment = domain.minPageSize > this.iovaAlignment ? domain.minPageSize : this.iovaAlignment;
    if (alignment > PAGE) fail('EINVAL');
    if (alignment !== this.iovaAlignment) this.#checkIovaAlignment(alignment);
    try {
      if (domain.apertureStart !== 0n) this.reserveIova(0n, domain.apertureStart - 1n, domain);
      if (domain.apertureEnd !== ULONG_MAX) this.reserveIova(domain.apertureEnd + 1n, ULONG_MAX, domain);
    } catch (e) {
      this.removeReserved(domain);
      throw e;
    }
    // iopt_fill_domain() maps every area into the new domain.
    try {
      for (const area of this.areas) this.#checkDomainsMap([domain], area.prot);
    } catch (e) {
      this.removeReserved(domain);
      throw e;
    }
    // iopt_fill_domain(): the first domain becomes the storage of every area,
    // its pages read from the process unless an access holds them already.
    if (this.domains.length === 0) {
      for (const area of this.areas) {
        const failure = area.pages.unpinnedPinFailure(area.firstIndex, area.lastIndex);
        if (failure) {
          this.removeReserved(domain);
          fail(failure);
        }
      }
      for (const area of this.areas) this.#store(area);
    }
    this.iovaAlignment = alignment;
    this.domains.push(domain);
  }

  /** iopt_table_remove_domain() */
  removeDomain(domain: IoptDomain): void {
    const at = this.domains.indexOf(domain);
    if (at < 0) return;
    this.domains.splice(at, 1);
    // iopt_unfill_domain(): another domain keeps the PFNs, else they are unpinned.
    if (this.domains.length === 0) for (const area of this.areas) this.#unstore(area);
    this.removeReserved(domain);
    try {
      this.#calculateIovaAlignment();
    } catch {
      // WARN_ON() in the kernel; the alignment stays.
    }
  }

  /** iopt_add_access() */
  addAccess(access: IoptAccess): void {
    if (this.accesses.size >= 0xffff) fail('EBUSY'); // xa_limit_16b
    this.accesses.add(access);
    try {
      this.#calculateIovaAlignment();
    } catch (e) {
      this.accesses.delete(access);
      throw e;
    }
  }

  /** iopt_remove_access() */
  removeAccess(access: IoptAccess): void {
    this.accesses.delete(access);
    try {
      this.#calculateIovaAlignment();
    } catch {
      // WARN_ON()
    }
  }

  /** iopt_destroy_table() after iopt_unmap_all(): drop everything. */
  destroy(): void {
    try {
      this.unmapRange(0n, ULONG_MAX);
    } catch {
      // WARN_ON(rc && rc != -ENOENT)
    }
    this.removeReserved(null);
  }
}
