// What keeps mapped memory alive: every mapping made through the typed API
// holds strong references to the memory behind it until it is unmapped, so GC
// can never free memory the kernel maps. A DmaBuffer also counts its mappings
// so that free() can refuse while one exists, whether the mapping was given the
// DmaBuffer or a view of its bytes (buf.bytes, buf.bytes.subarray(...)).
import { DmaBuffer, releaseBuffer, retainBuffer } from './dma-buffer.js';
import type { Memory } from './memory.js';

interface Entry {
  memories: Memory[];
  length: bigint;
}

export class MappingRefs {
  // IOVA of each mapping -> the memory behind it.
  readonly #entries = new Map<bigint, Entry>();

  add(iova: bigint, length: bigint, memories: Memory[]): void {
    // An entry already at this IOVA is one a failed unmap left behind: the
    // kernel just mapped a new area there, so that area is gone.
    const stale = this.#entries.get(iova);
    if (stale !== undefined) this.#drop(iova, stale);
    this.#entries.set(iova, { memories, length });
    for (const m of memories) retainOwner(m);
  }

  /** The memory behind any mapping that overlaps [start, start + length). */
  overlapping(start: bigint, length: bigint): Memory[] {
    const last = start + length - 1n;
    const out: Memory[] = [];
    for (const [iova, e] of this.#entries) if (iova <= last && iova + e.length - 1n >= start) out.push(...e.memories);
    return out;
  }

  // After a successful unmap the kernel has removed every area fully inside
  // the range (iopt_unmap_iova_range()); drop exactly those references. A
  // failed unmap may have removed some areas before failing; their references
  // stay until the owner goes, which wastes memory but never frees mapped memory.
  forgetInside(start: bigint, length: bigint): void {
    // Mappings never overlap, so one that is exactly the range is all there is
    // inside it: the usual unmap costs one lookup, not a scan of every mapping.
    const exact = this.#entries.get(start);
    if (exact !== undefined && exact.length === length) {
      this.#drop(start, exact);
      return;
    }
    const last = start + length - 1n;
    for (const [iova, e] of this.#entries) if (iova >= start && iova + e.length - 1n <= last) this.#drop(iova, e);
  }

  forgetAll(): void {
    for (const [iova, e] of this.#entries) this.#drop(iova, e);
  }

  #drop(iova: bigint, e: Entry): void {
    this.#entries.delete(iova);
    for (const m of e.memories) releaseOwner(m);
  }
}

function retainOwner(memory: Memory): void {
  const owner = ownerOf(memory);
  if (owner) retainBuffer(owner);
}

function releaseOwner(memory: Memory): void {
  const owner = ownerOf(memory);
  if (owner) releaseBuffer(owner);
}

function ownerOf(memory: Memory): DmaBuffer | undefined {
  return memory instanceof DmaBuffer ? memory : DmaBuffer.ownerOf(memory.buffer);
}
