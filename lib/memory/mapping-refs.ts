// What keeps mapped memory alive: every mapping made through the typed API
// holds strong references to the memory behind it until it is unmapped, so GC
// can never free memory the kernel maps. A DmaBuffer also counts its mappings
// so that free() can refuse while one exists, whether the mapping was given the
// DmaBuffer or a view of its bytes (buf.bytes, buf.bytes.subarray(...)).
import { DmaBuffer, releaseBuffer, retainBuffer } from './dma-buffer.js';
import { MemFile, releaseMemFile, retainMemFile } from './mem-file.js';
import type { Memory } from './memory.js';

/** What a mapping maps: memory of this process, or a file (IOMMU_IOAS_MAP_FILE). */
export type Mapped = Memory | MemFile;
import { bigintOf } from '../base/validate.js';

interface Entry {
  /** One Memory (a map: no array per call) or several (a copy). */
  memories: Mapped | Mapped[];
  /**
   * A map's length stays the number it was given (no bigint per call); a
   * copy's is a bigint. Either is exact: a number length is a safe integer.
   */
  length: number | bigint;
}

/** `length` (number or bigint) equals bigint `size`. */
function sameLength(length: number | bigint, size: bigint): boolean {
  return (typeof length === 'number' ? bigintOf(length) : length) === size;
}

const big = (length: number | bigint): bigint => (typeof length === 'number' ? bigintOf(length) : length);

export class MappingRefs {
  // IOVA of each mapping -> the memory behind it. The mapping added last is
  // held in #lastIova/#last instead (never in both places): the usual loop,
  // map then unmap the same range, then costs no Map operation at all.
  readonly #entries = new Map<bigint, Entry>();
  #lastIova: bigint | null = null;
  #last: Entry | null = null;

  /** `length` as a number must be a safe integer (a JS memory's byte count). */
  add(iova: bigint, length: number | bigint, memories: Mapped | Mapped[]): void {
    const last = this.#last;
    if (last !== null) {
      const lastIova = this.#lastIova!;
      this.#lastIova = null;
      this.#last = null;
      // An entry already at this IOVA is one a failed unmap left behind: the
      // kernel just mapped a new area there, so that area is gone.
      if (lastIova === iova) this.#release(last);
      else this.#entries.set(lastIova, last);
    }
    if (this.#entries.size !== 0) {
      const stale = this.#entries.get(iova);
      if (stale !== undefined) this.#drop(iova, stale);
    }
    this.#lastIova = iova;
    this.#last = { memories, length };
    if (Array.isArray(memories)) for (const m of memories) retainOwner(m);
    else retainOwner(memories);
  }

  /** The memory behind any mapping that overlaps [start, start + length). */
  overlapping(start: bigint, length: bigint): Mapped[] {
    const last = start + length - 1n;
    const out: Mapped[] = [];
    for (const [iova, e] of this.#all())
      if (iova <= last && iova + big(e.length) - 1n >= start) {
        if (Array.isArray(e.memories)) out.push(...e.memories);
        else out.push(e.memories);
      }
    return out;
  }

  // After a successful unmap the kernel has removed every area fully inside
  // the range (iopt_unmap_iova_range()); drop exactly those references. A
  // failed unmap may have removed some areas before failing; their references
  // stay until the owner goes, which wastes memory but never frees mapped memory.
  forgetInside(start: bigint, length: bigint): void {
    // Mappings never overlap, so one that is exactly the range is all there is
    // inside it: the usual unmap costs one comparison (or lookup), not a scan.
    const last = this.#last;
    if (last !== null && this.#lastIova === start && sameLength(last.length, length)) {
      this.#lastIova = null;
      this.#last = null;
      this.#release(last);
      return;
    }
    const exact = this.#entries.get(start);
    if (exact !== undefined && sameLength(exact.length, length)) {
      this.#drop(start, exact);
      return;
    }
    const end = start + length - 1n;
    for (const [iova, e] of this.#all()) if (iova >= start && iova + big(e.length) - 1n <= end) this.#forget(iova, e);
  }

  forgetAll(): void {
    for (const [iova, e] of this.#all()) this.#forget(iova, e);
  }

  /** Every mapping, as a list (safe to forget entries while walking it). */
  #all(): [bigint, Entry][] {
    const all = [...this.#entries];
    if (this.#last !== null) all.push([this.#lastIova!, this.#last]);
    return all;
  }

  #forget(iova: bigint, e: Entry): void {
    if (e === this.#last) {
      this.#lastIova = null;
      this.#last = null;
      this.#release(e);
    } else this.#drop(iova, e);
  }

  #drop(iova: bigint, e: Entry): void {
    this.#entries.delete(iova);
    this.#release(e);
  }

  #release(e: Entry): void {
    const memories = e.memories;
    if (Array.isArray(memories)) for (const m of memories) releaseOwner(m);
    else releaseOwner(memories);
  }
}

function retainOwner(memory: Mapped): void {
  if (memory instanceof MemFile) return retainMemFile(memory);
  const owner = ownerOf(memory);
  if (owner) retainBuffer(owner);
}

function releaseOwner(memory: Mapped): void {
  if (memory instanceof MemFile) return releaseMemFile(memory);
  const owner = ownerOf(memory);
  if (owner) releaseBuffer(owner);
}

function ownerOf(memory: Memory): DmaBuffer | undefined {
  return memory instanceof DmaBuffer ? memory : DmaBuffer.ownerOf(memory.buffer);
}
