// A memfd this process owns: the file IOMMU_IOAS_MAP_FILE (7.3) maps, and a
// MAP_SHARED view of the same pages (a DmaBuffer) to read and write its bytes.
// The selftest's memfd_mmap() in iommufd_utils.h, as an object: the descriptor
// never has to travel through JS as a bare number of unknown origin.
import { ClosedError, IommufdError, errnoNumber } from '../base/errors.js';
import { DmaBuffer, releaseBuffer, retainBuffer } from './dma-buffer.js';
import { addon, addonAvailable } from '../native/binding.js';
import { markHugeBacked } from '../base/user-pages.js';
import { describe, toByteCount, toOptions } from '../base/validate.js';

const PAGE_SIZE = 4096;
/** hugetlbfs pages on x86-64: a hugetlb memfd's size must be a multiple of it. */
const HUGETLB_PAGE_SIZE = 2 * 1024 * 1024;

export interface MemFileOptions {
  /** 'hugetlb': MFD_HUGETLB (needs reserved huge pages; the length a multiple of 2 MiB). Default 'none'. */
  hugePages?: 'none' | 'hugetlb';
}

// A MemFile that is never closed gives its descriptor back when collected (its
// view is the DmaBuffer's own mapping, released by that buffer's finalizer).
const descriptors = new FinalizationRegistry<number>((fd) => {
  try {
    addon().close(fd);
  } catch {
    // already gone: nothing to release
  }
});

let countMapping: (file: MemFile, delta: 1 | -1) => void;
/** An IOAS mapping uses this file: close() and resize() refuse until the matching release. */
export const retainMemFile = (file: MemFile): void => countMapping(file, 1);
export const releaseMemFile = (file: MemFile): void => countMapping(file, -1);

/**
 * A memfd (memfd_create(), close-on-exec) of `length` bytes (whole pages), for
 * `ioas.mapFile()`. `bytes` is a MAP_SHARED view of the file: the same pages the
 * kernel pins, so what a test writes there is what the IOAS maps. While an IOAS
 * maps the file it holds a strong reference, and close()/resize() refuse (EBUSY).
 * Without the addon (the simulator on another OS) it is plain memory with no
 * descriptor (`fd` null), which only the simulator can map.
 */
export class MemFile implements Disposable {
  readonly hugePages: 'none' | 'hugetlb';
  #fd: number | null;
  #length: number;
  #view: DmaBuffer | undefined;
  #mappedBy = 0;
  #closed = false;

  private constructor(fd: number | null, length: number, hugePages: 'none' | 'hugetlb') {
    this.#fd = fd;
    this.#length = length;
    this.hugePages = hugePages;
    if (fd !== null) descriptors.register(this, fd, this);
    this.#view = this.#newView();
  }

  /** Whether `value` is a MemFile this module made (not an object that only inherits its prototype). */
  static isMemFile(value: unknown): value is MemFile {
    return typeof value === 'object' && value !== null && #fd in value;
  }

  static create(length: number, options: MemFileOptions = {}): MemFile {
    options = toOptions(options);
    const size = toByteCount(length, 'length');
    const huge = options.hugePages ?? 'none';
    if (huge !== 'none' && huge !== 'hugetlb') throw new TypeError(`hugePages must be 'none' or 'hugetlb', got ${describe(huge)}`);
    checkLength(huge, size);
    const fd = addonAvailable() ? addon().memfdCreate(size, huge === 'hugetlb') : null;
    return new MemFile(fd, size, huge);
  }

  /** The memfd (owned by this object until close()); null without the addon. */
  get fd(): number | null {
    this.#checkOpen();
    return this.#fd;
  }

  /** The file's size in bytes. */
  get length(): number {
    this.#checkOpen();
    return this.#length;
  }

  /** The MAP_SHARED view of the whole file. A RangeError for an empty file, which has none. */
  get view(): DmaBuffer {
    this.#checkOpen();
    if (this.#view === undefined) throw new RangeError('an empty MemFile has no bytes to view');
    return this.#view;
  }

  /** The file's bytes (the view's). */
  get bytes(): Uint8Array {
    return this.view.bytes;
  }

  /** How many IOAS mappings currently use this file. */
  get mappings(): number {
    return this.#mappedBy;
  }

  get closed(): boolean {
    return this.#closed;
  }

  static {
    // Module-private: a public release() would let a caller resize a file an IOAS maps.
    countMapping = (file, delta) => {
      file.#mappedBy += delta;
      // The view must outlive the mapping too: its free() refuses while counted.
      if (file.#view) (delta > 0 ? retainBuffer : releaseBuffer)(file.#view);
    };
  }

  /**
   * ftruncate() the file to `length` bytes (0 empties it, as the selftest does to
   * make pinning fail), with a new view. Refused while an IOAS maps it: the
   * kernel's pins and the old view would no longer match the file.
   */
  resize(length: number): void {
    this.#checkOpen();
    const size = toByteCount(length, 'length');
    checkLength(this.hugePages, size);
    this.#checkUnmapped('resize');
    this.#view?.free();
    this.#view = undefined;
    if (this.#fd !== null) addon().memfdResize(this.#fd, size);
    this.#length = size;
    this.#view = this.#newView();
  }

  /** Unmap the view and close the descriptor. Refused while an IOAS maps the file. */
  close(): void {
    if (this.#closed) return;
    this.#checkUnmapped('close');
    this.#view?.free();
    this.#view = undefined;
    if (this.#fd !== null) {
      descriptors.unregister(this);
      addon().close(this.#fd);
    }
    this.#closed = true;
  }

  [Symbol.dispose](): void {
    if (this.#mappedBy === 0) this.close();
  }

  #newView(): DmaBuffer | undefined {
    if (this.#length === 0) return undefined;
    const view = this.#fd !== null ? DmaBuffer.fromFd(this.#fd, this.#length) : DmaBuffer.alloc(this.#length);
    // For the simulator, which has no page tables to find the huge pages in.
    if (this.hugePages === 'hugetlb') markHugeBacked(view.buffer);
    return view;
  }

  #checkUnmapped(what: string): void {
    if (this.#mappedBy > 0)
      throw new IommufdError(errnoNumber('EBUSY'), what, `(the MemFile is still mapped by ${this.#mappedBy} IOAS mapping(s); unmap it first)`);
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError('MemFile has been closed');
  }
}

/** Whole pages (of its kind), so that the view covers exactly the file. */
function checkLength(huge: 'none' | 'hugetlb', size: number): void {
  const unit = huge === 'hugetlb' ? HUGETLB_PAGE_SIZE : PAGE_SIZE;
  if (size % unit !== 0) throw new RangeError(`a MemFile's length must be a multiple of ${unit} bytes${huge === 'hugetlb' ? ' (hugetlb)' : ''}, got ${size}`);
}
