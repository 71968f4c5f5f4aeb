import { addon } from './native/binding.js';
import { toByteCount } from './validate.js';

export type HugePages = 'none' | 'transparent' | 'hugetlb';

export interface DmaBufferOptions {
  /** 'transparent': 2 MiB aligned + MADV_HUGEPAGE; 'hugetlb': MAP_HUGETLB (needs reserved pages). */
  hugePages?: HugePages;
  /** MAP_SHARED instead of MAP_PRIVATE (shared with children across fork). */
  shared?: boolean;
}

/**
 * Page-aligned memory mmap'd by the addon, for mapping into an IOAS. The
 * mapping is released by free() or by GC; while an IOAS maps it, the IOAS holds
 * a strong reference and free() refuses, so the kernel never sees freed memory.
 */
export class DmaBuffer implements Disposable {
  readonly length: number;
  #buffer: ArrayBuffer | undefined;
  #bytes: Uint8Array | undefined;
  #mappedBy = 0;

  private constructor(buffer: ArrayBuffer) {
    this.#buffer = buffer;
    this.#bytes = new Uint8Array(buffer);
    this.length = buffer.byteLength;
  }

  static alloc(length: number, options: DmaBufferOptions = {}): DmaBuffer {
    const size = toByteCount(length, 'length');
    if (size === 0) throw new RangeError('length must be > 0');
    const huge = options.hugePages ?? 'none';
    if (!['none', 'transparent', 'hugetlb'].includes(huge))
      throw new TypeError(`hugePages must be 'none', 'transparent' or 'hugetlb', got ${String(huge)}`);
    return new DmaBuffer(addon().dmaAlloc(size, huge, options.shared ?? false));
  }

  /** Live DmaBuffer mappings in this process (freed by free() or GC). */
  static stats(): { liveBuffers: number; liveBytes: number } {
    return addon().dmaStats();
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
    addon().dmaFree(this.#buffer);
    this.#buffer = undefined;
    this.#bytes = undefined;
  }

  [Symbol.dispose](): void {
    if (this.#mappedBy === 0) this.free();
  }
}
