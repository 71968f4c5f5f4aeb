import { addon, addonAvailable } from './native/binding.js';
import { toByteCount } from './validate.js';

export type HugePages = 'none' | 'transparent' | 'hugetlb';

export interface DmaBufferOptions {
  /** 'transparent': 2 MiB aligned + MADV_HUGEPAGE; 'hugetlb': MAP_HUGETLB (needs reserved pages). */
  hugePages?: HugePages;
  /** MAP_SHARED instead of MAP_PRIVATE (shared with children across fork). */
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
  }

  static alloc(length: number, options: DmaBufferOptions = {}): DmaBuffer {
    const size = toByteCount(length, 'length');
    if (size === 0) throw new RangeError('length must be > 0');
    const huge = options.hugePages ?? 'none';
    if (!['none', 'transparent', 'hugetlb'].includes(huge))
      throw new TypeError(`hugePages must be 'none', 'transparent' or 'hugetlb', got ${String(huge)}`);
    if (!addonAvailable()) return new DmaBuffer(fallbackAlloc(size), true);
    return new DmaBuffer(addon().dmaAlloc(size, huge, options.shared ?? false));
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
    if (this.#bytes === undefined) throw new Error('DmaBuffer has been freed');
    return this.#bytes;
  }

  get buffer(): ArrayBuffer {
    if (this.#buffer === undefined) throw new Error('DmaBuffer has been freed');
    return this.#buffer;
  }

  get freed(): boolean {
    return this.#buffer === undefined;
  }

  /** How many IOAS mappings currently use this buffer. */
  get mappings(): number {
    return this.#mappedBy;
  }

  /** @internal Called by Ioas while a mapping uses this buffer. */
  retain(): void {
    this.#mappedBy++;
  }

  /** @internal */
  release(): void {
    this.#mappedBy--;
  }

  /** Unmap the memory now. Refused while an IOAS still maps it. */
  free(): void {
    if (this.#buffer === undefined) return;
    if (this.#mappedBy > 0)
      throw new Error(`DmaBuffer is still mapped by ${this.#mappedBy} IOAS mapping(s); unmap it first`);
    if (this.#fallback) fallbackFree(this.#buffer);
    else addon().dmaFree(this.#buffer);
    this.#buffer = undefined;
    this.#bytes = undefined;
  }

  [Symbol.dispose](): void {
    if (this.#mappedBy === 0) this.free();
  }
}
