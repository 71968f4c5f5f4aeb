// pages.c in the simulator: iopt_pages (a page-aligned slice of user memory
// that areas map), its pins (the domains_itree and access_itree of page
// indexes), and the user address space those pages live in.
//
// Page identity is (ArrayBuffer, page index from its start). Every
// ArrayBuffer the simulator sees gets a user address of its own, with the real
// memory's offset inside a 2 MiB block when the addon can read it (so uptr
// alignment, which drives the IOVA allocator, is the kernel's), else 2 MiB
// aligned as mmap'd memory would be. Pins are interval data: pinning 1 TiB costs the same
// few objects as pinning one page.

import type { UserRange } from '../backend/contract.js';
import { addon, addonAvailable } from '../native/binding.js';
import { overlapsUnmapped } from '../base/user-pages.js';

export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;
const HPAGE_SIZE = 2 * 1024 * 1024;

type AnyBuffer = ArrayBufferLike;

// ---- user addresses ----------------------------------------------------------

const bases = new WeakMap<AnyBuffer, number>();
// Start well above 0 and keep every buffer 2 MiB aligned with a 2 MiB guard gap.
let nextBase = 2 ** 32;

/** The simulated user address of byte 0 of `buffer` (stable for the buffer's lifetime). */
export function bufferBase(buffer: AnyBuffer): number {
  let base = bases.get(buffer);
  if (base === undefined) {
    base = nextBase + realOffsetIn2MiB(buffer);
    nextBase = Math.ceil((base + Math.max(buffer.byteLength, 1)) / HPAGE_SIZE) * HPAGE_SIZE + HPAGE_SIZE;
    bases.set(buffer, base);
  }
  return base;
}

function realOffsetIn2MiB(buffer: AnyBuffer): number {
  if (buffer.byteLength === 0 || !addonAvailable()) return 0;
  return addon().addressIn2MiB(new Uint8Array(buffer, 0, 1));
}

/**
 * The addon's CheckedUptr(): [offset - before, offset + length + after) must
 * lie inside `bytes`, else a RangeError (the ioctl is never issued). Returns
 * the user address of bytes[offset].
 */
export function checkedUptr(range: UserRange, before = 0, after = 0): number {
  const { bytes, offset, length } = range;
  const size = bytes.byteLength;
  const inside =
    bytes.buffer.byteLength > 0 &&
    before <= offset &&
    offset <= size &&
    length <= size - offset &&
    after <= size - offset - length;
  if (!inside)
    throw new RangeError(`range [${offset}, +${length}) is outside the ${size}-byte memory it refers to`);
  return bufferBase(bytes.buffer) + bytes.byteOffset + offset;
}

// ---- files (7.3's IOMMU_IOAS_MAP_FILE) -------------------------------------------

/**
 * A file whose pages an IOAS maps: its bytes, which are the memory the process
 * sees through its MAP_SHARED view (a MemFile's), so page identity stays
 * (ArrayBuffer, page index) with the file offset equal to the byte offset.
 */
export interface SimFile {
  readonly buffer: AnyBuffer;
  /** i_size */
  readonly size: number;
  /** shmem or hugetlbfs (a memfd): the only files memfd_pin_folios() pins. */
  readonly memfd: boolean;
}

// ---- dma-bufs (7.3's IOPT_ADDRESS_DMABUF) ----------------------------------------

/**
 * A dma-buf as its importer sees it (the mock's struct iommufd_test_dma_buf,
 * mock-domain.ts): exporter memory no process maps, which an iopt_pages reaches
 * by its physical address, never by pinning pages.
 */
export interface SimDmabuf {
  readonly memory: ArrayBuffer;
  /** dmabuf->size: whole pages. */
  readonly size: number;
  /** What the exporter answers a new attachment (iommufd_test_dma_buf_iommufd_map(): ENODEV). */
  readonly revoked: boolean;
  /** The iopt_pages attached to it (dma_buf_dynamic_attach()); dropped ones are collected. */
  readonly importers: Set<WeakRef<IoptPages>>;
}

export function isDmabuf(file: SimFile | SimDmabuf): file is SimDmabuf {
  return 'importers' in file;
}

// ---- pins --------------------------------------------------------------------

/** An interval of page indexes in an iopt_pages. */
export interface PageSpan {
  start: number;
  last: number;
}

interface AccessSpan extends PageSpan {
  users: number;
}

/** What pins an iopt_pages' pages. */
interface Pins {
  /** domains_itree: page spans of areas stored in a domain. */
  domain: PageSpan[];
  /** access_itree: page spans pinned by accesses, with users. */
  access: AccessSpan[];
}

// IoptPages flags.
const WRITABLE = 1;
const REGISTERED = 2;
/** iopt_dmabuf_revoked(): pages->dmabuf.phys.len == 0 */
const DMABUF_REVOKED = 4;

// The pinned iopt_pages of each buffer, for MD_CHECK_REFS. Only pages with at
// least one pin are listed.
const pinnedByBuffer = new WeakMap<AnyBuffer, Set<IoptPages>>();

/**
 * struct iopt_pages: `npages` pages of `buffer` from byte `pageBase` (page
 * aligned, relative to the buffer), pinned once per page while any domain or
 * access interval covers it, however many users there are.
 */
export class IoptPages {
  readonly buffer: AnyBuffer;
  /** Byte offset of page 0 inside `buffer` (page aligned; may precede the caller's view). */
  readonly pageBase: number;
  readonly npages: number;
  /**
   * Null while nothing is pinned. One field for both trees, and #flags for two
   * booleans, as there is one iopt_pages per map (heap per area).
   */
  #pins: Pins | null = null;
  /** WRITABLE | REGISTERED | DMABUF_REVOKED */
  #flags: number;
  /** IOPT_ADDRESS_FILE: the file, whose offset of page 0 is pageBase (pages->start); null for user memory. */
  readonly file: SimFile | null;
  /** IOPT_ADDRESS_DMABUF: the dma-buf, whose offset of page 0 is pageBase (pages->dmabuf.start); null otherwise. */
  readonly dmabuf: SimDmabuf | null;

  private constructor(buffer: AnyBuffer, pageBase: number, npages: number, writable: boolean, file: SimFile | null = null, dmabuf: SimDmabuf | null = null) {
    this.buffer = buffer;
    this.dmabuf = dmabuf;
    this.pageBase = pageBase;
    this.npages = npages;
    this.#flags = writable ? WRITABLE : 0;
    this.file = file;
  }

  get writable(): boolean {
    return (this.#flags & WRITABLE) !== 0;
  }

  /** iopt_alloc_pages(); `uptr` from checkedUptr(range). Returns an errno name on failure. */
  static alloc(range: UserRange, uptr: number, writable: boolean): IoptPages | 'EINVAL' | 'EOVERFLOW' {
    const length = range.length;
    if (length === 0 || length > 2 ** 64 - 1 - PAGE_SIZE) return 'EINVAL';
    // uptr + length cannot overflow 2^64 for memory that exists.
    const head = uptr % PAGE_SIZE;
    const pageBase = range.bytes.byteOffset + range.offset - head;
    const npages = Math.ceil((length + head) / PAGE_SIZE);
    return new IoptPages(range.bytes.buffer, pageBase, npages, writable);
  }

  /**
   * iopt_alloc_file_pages(): `length` bytes of `file` from byte `start`
   * (startByte = start % PAGE_SIZE). Nothing is read from the file until pinned.
   */
  static allocFile(file: SimFile, startByte: number, start: bigint, length: bigint, writable: boolean): IoptPages | 'EINVAL' {
    // iopt_alloc_pages(): the iommu API's size_t, and DIV_ROUND_UP's overflow.
    if (length === 0n || length > 2n ** 64n - 1n - BigInt(PAGE_SIZE)) return 'EINVAL';
    const npages = Number((length + BigInt(startByte) + BigInt(PAGE_SIZE) - 1n) / BigInt(PAGE_SIZE));
    return new IoptPages(file.buffer, Number(start) - startByte, npages, writable, file);
  }

  /**
   * iopt_alloc_dmabuf_pages(): `length` bytes of `dmabuf` from byte `start`,
   * attached to it (EINVAL past its end; ENODEV while the exporter has it revoked).
   */
  static allocDmabuf(dmabuf: SimDmabuf, startByte: number, start: bigint, length: bigint, writable: boolean): IoptPages | 'EINVAL' | 'ENODEV' {
    if (BigInt(dmabuf.size) <= start + length - 1n) return 'EINVAL';
    const npages = Math.ceil((Number(length) + startByte) / PAGE_SIZE);
    // iopt_map_dmabuf(): the exporter gives no physical range for a revoked buffer.
    if (dmabuf.revoked) return 'ENODEV';
    const pages = new IoptPages(dmabuf.memory, Number(start) - startByte, npages, writable, null, dmabuf);
    for (const ref of dmabuf.importers) if (!ref.deref()) dmabuf.importers.delete(ref);
    dmabuf.importers.add(new WeakRef(pages));
    return pages;
  }

  /**
   * iopt_revoke_notify(): the exporter invalidated its mappings; every domain
   * loses this dma-buf's entries, and the pages stay revoked (phys.len = 0) for
   * good: a domain attached later maps nothing of them, whatever the exporter
   * says next. Only a new IOMMU_IOAS_MAP_FILE attaches afresh.
   */
  revokeNotify(): void {
    if (this.dmabuf) this.#flags |= DMABUF_REVOKED;
  }

  /** iopt_dmabuf_revoked() */
  get dmabufRevoked(): boolean {
    return (this.#flags & DMABUF_REVOKED) !== 0;
  }

  /** The user address of page 0 (of a file: of page 0 in the process's view of it). */
  get uptr(): number {
    return bufferBase(this.buffer) + this.pageBase;
  }

  /**
   * iopt_alloc_area_pages()'s guess at the ideal IOVA alignment reads this plus
   * the start byte: the user address of page 0, or for a file or a dma-buf its
   * offset (pages->start, pages->dmabuf.start).
   */
  get alignmentBase(): number {
    return this.file || this.dmabuf ? this.pageBase : this.uptr;
  }

  /** A page's identity across the process: its fake user page frame number. */
  pageFrame(index: number): number {
    return (bufferBase(this.buffer) + this.pageBase) / PAGE_SIZE + index;
  }

  /** Bytes [startByte, startByte + length) of the pages, for copying. */
  view(startByte: number, length: number): Uint8Array | null {
    const at = this.pageBase + startByte;
    if (at < 0 || at + length > this.buffer.byteLength) return null; // not JS memory: EFAULT
    if (overlapsUnmapped(this.buffer, at, at + length)) return null;
    return new Uint8Array(this.buffer, at, length);
  }

  /**
   * Why pinning pages [first, last] fails, or null. User memory: a page that is
   * not the process's (GUP: EFAULT). A file: memfd_pin_folios() pins only a
   * memfd's pages, and none at or past i_size (EINVAL); the process's view of
   * the file plays no part.
   */
  pinFailure(first: number, last: number): 'EFAULT' | 'EINVAL' | null {
    const start = this.pageBase + first * PAGE_SIZE;
    const end = this.pageBase + (last + 1) * PAGE_SIZE;
    if (this.file) return !this.file.memfd || end - 1 >= this.file.size ? 'EINVAL' : null;
    // pfn_reader_fill_dmabuf(): read from the exporter's physical range, which
    // allocDmabuf() checked; a revoked one is skipped (iopt_area_fill_domain()).
    if (this.dmabuf) return null;
    const outside = start < 0 || end > Math.ceil(this.buffer.byteLength / PAGE_SIZE) * PAGE_SIZE;
    return outside || overlapsUnmapped(this.buffer, start, end) ? 'EFAULT' : null;
  }

  /**
   * iopt_pages_fill_xarray()'s and pfn_reader's holes: why pinning the pages of
   * [first, last] that no access or domain already holds fails (pinFailure()),
   * or null. Held pages come from the xarray or a domain, not from the process.
   */
  unpinnedPinFailure(first: number, last: number): 'EFAULT' | 'EINVAL' | null {
    const held = this.#heldSpans();
    let at = first;
    for (const span of held) {
      if (span.last < at) continue;
      if (span.start > last) break;
      const failure = span.start > at ? this.pinFailure(at, span.start - 1) : null;
      if (failure) return failure;
      at = span.last + 1;
      if (at > last) return null;
    }
    return this.pinFailure(at, last);
  }

  /** Every span a domain or an access holds, by start (they may overlap). */
  #heldSpans(): PageSpan[] {
    return [...(this.#pins?.domain ?? []), ...(this.#pins?.access ?? [])].sort((a, b) => a.start - b.start);
  }

  /** iopt_pages_get_exact_access(): an access interval of exactly [start, last] exists. */
  hasExactAccess(start: number, last: number): boolean {
    return this.#pins?.access.some((s) => s.start === start && s.last === last) ?? false;
  }

  get pinned(): boolean {
    return this.#pins !== null;
  }

  addDomainSpan(span: PageSpan): void {
    (this.#pins ??= { domain: [], access: [] }).domain.push(span);
    this.#update();
  }

  removeDomainSpan(span: PageSpan): void {
    const at = this.#pins ? this.#pins.domain.indexOf(span) : -1;
    if (at < 0) throw new Error('sim: domain span not found');
    this.#pins!.domain.splice(at, 1);
    this.#update();
  }

  /** iopt_pages_get_exact_access() + users++ or a new interval. */
  addAccess(start: number, last: number): void {
    const spans = (this.#pins ??= { domain: [], access: [] }).access;
    const found = spans.find((s) => s.start === start && s.last === last);
    if (found) found.users++;
    else spans.push({ start, last, users: 1 });
    this.#update();
  }

  /** iopt_area_remove_access(). */
  removeAccess(start: number, last: number): void {
    const spans = this.#pins?.access;
    const at = spans ? spans.findIndex((s) => s.start === start && s.last === last) : -1;
    if (at < 0) throw new Error('sim: WARN_ON(!access) in iopt_area_remove_access');
    const span = spans![at]!;
    if (--span.users > 0) return;
    spans!.splice(at, 1);
    this.#update();
  }

  /** Drops #pins once empty, and keeps pinnedByBuffer in step with it. */
  #update(): void {
    if (this.#pins && this.#pins.domain.length === 0 && this.#pins.access.length === 0) this.#pins = null;
    const pinned = this.pinned;
    if (pinned === ((this.#flags & REGISTERED) !== 0)) return;
    let set = pinnedByBuffer.get(this.buffer);
    if (pinned) {
      if (!set) pinnedByBuffer.set(this.buffer, (set = new Set()));
      set.add(this);
    } else {
      set?.delete(this);
      if (set && set.size === 0) pinnedByBuffer.delete(this.buffer);
    }
    this.#flags = pinned ? this.#flags | REGISTERED : this.#flags & ~REGISTERED;
  }

  /** The pinned page spans (merged), in page indexes relative to the buffer. */
  pinnedBufferSpans(): PageSpan[] {
    const all = this.#heldSpans();
    const out: PageSpan[] = [];
    const first = this.pageBase / PAGE_SIZE;
    for (const s of all) {
      const top = out[out.length - 1];
      if (top && s.start + first <= top.last + 1) top.last = Math.max(top.last, s.last + first);
      else out.push({ start: s.start + first, last: s.last + first });
    }
    return out;
  }
}

/**
 * The first page of [firstPage, lastPage] of `buffer` whose pin count is not
 * `refs` (what page_ref_count() / GUP_PIN_COUNTING_BIAS shows: one pin per
 * iopt_pages that has the page pinned), or -1 if every page has `refs`.
 */
export function firstPinCountMismatch(buffer: AnyBuffer, firstPage: number, lastPage: number, refs: number): number {
  const events = new Map<number, number>();
  for (const pages of pinnedByBuffer.get(buffer) ?? []) {
    for (const span of pages.pinnedBufferSpans()) {
      const s = Math.max(span.start, firstPage);
      const l = Math.min(span.last, lastPage);
      if (s > l) continue;
      events.set(s, (events.get(s) ?? 0) + 1);
      events.set(l + 1, (events.get(l + 1) ?? 0) - 1);
    }
  }
  const points = [...events.keys()].sort((a, b) => a - b);
  let count = 0;
  let at = firstPage;
  for (const p of points) {
    if (p > at && count !== refs) return at; // [at, p - 1] has `count` pins
    count += events.get(p)!;
    at = Math.max(at, p);
  }
  return at > lastPage || count === refs ? -1 : at;
}
