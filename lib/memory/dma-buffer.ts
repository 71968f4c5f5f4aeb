import { closeSync, openSync, readSync } from 'node:fs';
import { ClosedError, IommufdError, errnoNumber } from '../base/errors.js';
import { addon, addonAvailable } from '../native/binding.js';
import { addUnmapped, markHugeBacked } from '../base/user-pages.js';
import { describe, toByteCount, toOptions } from '../base/validate.js';

const PAGE_SIZE = 4096;

export type HugePages = 'none' | 'transparent' | 'hugetlb';

export interface DmaBufferOptions {
  /** 'transparent': 2 MiB aligned + MADV_HUGEPAGE; 'hugetlb': MAP_HUGETLB (needs reserved pages). */
  hugePages?: HugePages;
  /**
   * MAP_SHARED instead of MAP_PRIVATE (shared with children across fork). Except
   * with hugetlb, the memory is a memfd (shmem, like MAP_SHARED|MAP_ANONYMOUS)
   * whose descriptor, `memfd`, lets another process map the same pages.
   */
  shared?: boolean;
}

// Without the addon (another OS, or not built) a DmaBuffer is a plain
// ArrayBuffer, for the simulator backend, which gives every buffer a page
// aligned (2 MiB aligned) fake user address. These are counted here, and
// released by free() or GC like the addon's mappings.
const fallbackStats = { liveBuffers: 0, liveBytes: 0 };
const fallbackRegistry = new FinalizationRegistry<number>((bytes) => {
  fallbackStats.liveBuffers--;
  fallbackStats.liveBytes -= bytes;
});

function fallbackAlloc(size: number): ArrayBuffer {
  const buffer = new ArrayBuffer(size);
  fallbackStats.liveBuffers++;
  fallbackStats.liveBytes += size;
  fallbackRegistry.register(buffer, size, buffer);
  return buffer;
}

function fallbackFree(buffer: ArrayBuffer): void {
  if (!fallbackRegistry.unregister(buffer)) return;
  fallbackStats.liveBuffers--;
  fallbackStats.liveBytes -= buffer.byteLength;
  // Detach it, as munmap does for the addon's: every view now has length 0.
  structuredClone(buffer, { transfer: [buffer] });
}

// The DmaBuffer behind each ArrayBuffer it owns, so that a mapping given a view
// of its bytes counts against free() like one given the DmaBuffer.
const owners = new WeakMap<ArrayBufferLike, DmaBuffer>();

let countMapping: (buffer: DmaBuffer, delta: 1 | -1) => void;
/** A mapping (or a running batch) uses this buffer: free() refuses until the matching release. */
export const retainBuffer = (buffer: DmaBuffer): void => countMapping(buffer, 1);
export const releaseBuffer = (buffer: DmaBuffer): void => countMapping(buffer, -1);

/**
 * Page-aligned memory mmap'd by the addon (or, without the addon, a plain
 * ArrayBuffer for the simulator), for mapping into an IOAS. The
 * mapping is released by free() or by GC; while an IOAS maps it, the IOAS holds
 * a strong reference and free() refuses, so the kernel never sees freed memory.
 */
export class DmaBuffer implements Disposable {
  readonly length: number;
  #buffer: ArrayBuffer | undefined;
  #bytes: Uint8Array | undefined;
  #mappedBy = 0;
  readonly #fallback: boolean;

  private constructor(buffer: ArrayBuffer, fallback = false) {
    this.#buffer = buffer;
    this.#fallback = fallback;
    this.#bytes = new Uint8Array(buffer);
    this.length = buffer.byteLength;
    owners.set(buffer, this);
  }

  /** @internal The DmaBuffer whose memory `buffer` is, if any (for mapping references). */
  static ownerOf(buffer: ArrayBufferLike): DmaBuffer | undefined {
    return owners.get(buffer);
  }

  static alloc(length: number, options: DmaBufferOptions = {}): DmaBuffer {
    options = toOptions(options);
    const size = toByteCount(length, 'length');
    if (size === 0) throw new RangeError('length must be > 0');
    const huge = options.hugePages ?? 'none';
    if (!['none', 'transparent', 'hugetlb'].includes(huge))
      throw new TypeError(`hugePages must be 'none', 'transparent' or 'hugetlb', got ${describe(huge)}`);
    const buffer = addonAvailable() ? addon().dmaAlloc(size, huge, options.shared ?? false) : fallbackAlloc(size);
    // For the simulator, which has no page tables to find the huge pages in: THP
    // advice is assumed granted for private memory (shmem THP is off by default).
    if (huge === 'hugetlb' || (huge === 'transparent' && !options.shared)) markHugeBacked(buffer);
    return new DmaBuffer(buffer, !addonAvailable());
  }

  /**
   * The first `length` bytes of a file, mapped MAP_PRIVATE and writable: reads
   * see the file's page cache pages until a write gives the process its own
   * copy (the file itself never changes). Without the addon, a copy of the bytes.
   */
  static mapFile(path: string, length: number): DmaBuffer {
    if (typeof path !== 'string') throw new TypeError('path must be a string');
    const size = toByteCount(length, 'length');
    if (size === 0) throw new RangeError('length must be > 0');
    if (!addonAvailable()) {
      const buffer = fallbackAlloc(size);
      const fd = openSync(path, 'r');
      try {
        readSync(fd, new Uint8Array(buffer), 0, size, 0);
      } finally {
        closeSync(fd);
      }
      return new DmaBuffer(buffer, true);
    }
    return new DmaBuffer(addon().dmaMapFile(path, size));
  }

  /**
   * Map `length` bytes of another process's shared DmaBuffer, given its `memfd`
   * (e.g. passed to this process as an extra stdio descriptor): the same pages,
   * mapped MAP_SHARED at an address of this process.
   */
  static fromFd(fd: number, length: number): DmaBuffer {
    const size = toByteCount(length, 'length');
    if (size === 0) throw new RangeError('length must be > 0');
    if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw new RangeError('fd must be a file descriptor number');
    return new DmaBuffer(addon().dmaMapFd(fd, size));
  }

  /**
   * The memfd backing a shared buffer (`shared: true`, not hugetlb), to pass to
   * another process, which maps it with DmaBuffer.fromFd(); null otherwise.
   * It stays open, and owned by the buffer, until the buffer is freed.
   */
  get memfd(): number | null {
    if (this.#fallback || this.#buffer === undefined) return null;
    const fd = addon().dmaFd(this.#buffer);
    return fd < 0 ? null : fd;
  }

  /** Live DmaBuffer mappings in this process (freed by free() or GC), the addon's and the fallback's. */
  static stats(): { liveBuffers: number; liveBytes: number } {
    if (!addonAvailable()) return { ...fallbackStats };
    const native = addon().dmaStats();
    return {
      liveBuffers: native.liveBuffers + fallbackStats.liveBuffers,
      liveBytes: native.liveBytes + fallbackStats.liveBytes,
    };
  }

  /** The whole buffer as bytes. Throws once freed. */
  get bytes(): Uint8Array {
    if (this.#bytes === undefined) throw new ClosedError('DmaBuffer has been freed');
    return this.#bytes;
  }

  get buffer(): ArrayBuffer {
    if (this.#buffer === undefined) throw new ClosedError('DmaBuffer has been freed');
    return this.#buffer;
  }

  get freed(): boolean {
    return this.#buffer === undefined;
  }

  /** How many IOAS mappings currently use this buffer. */
  get mappings(): number {
    return this.#mappedBy;
  }

  static {
    // Module-private: a public release() would let a caller free() memory an IOAS maps.
    countMapping = (buffer, delta) => {
      buffer.#mappedBy += delta;
    };
  }

  /**
   * UNSAFE, for tests that need a bad user address (EFAULT): make the whole
   * pages of [offset, offset + length) inaccessible, as munmap() would, while
   * keeping the addresses reserved until the buffer is freed. Touching those
   * bytes from JS afterwards crashes the process (SIGSEGV).
   */
  unsafeUnmap(offset: number, length: number): void {
    const start = toByteCount(offset, 'offset');
    const size = toByteCount(length, 'length');
    const buffer = this.buffer;
    if (start % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0 || size === 0 || start + size > Math.ceil(this.length / PAGE_SIZE) * PAGE_SIZE)
      throw new RangeError(`[${start}, +${size}) must be whole pages inside the ${this.length}-byte buffer`);
    if (!this.#fallback) addon().dmaUnmapRange(buffer, start, size);
    addUnmapped(buffer, start, start + size);
  }

  /** Unmap the memory now. Refused while an IOAS still maps it. */
  free(): void {
    if (this.#buffer === undefined) return;
    if (this.#mappedBy > 0)
      throw new IommufdError(errnoNumber('EBUSY'), 'munmap', `(the DmaBuffer is still mapped by ${this.#mappedBy} IOAS mapping(s); unmap it first)`);
    if (this.#fallback) fallbackFree(this.#buffer);
    else addon().dmaFree(this.#buffer);
    this.#buffer = undefined;
    this.#bytes = undefined;
  }

  [Symbol.dispose](): void {
    if (this.#mappedBy === 0) this.free();
  }
}
