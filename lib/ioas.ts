import type { Backend, IovaRanges } from './backend.js';
import { DmaBuffer } from './dma-buffer.js';
import { type Memory, type RangeOptions, userRange } from './memory.js';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE, U64_MAX } from './uapi.js';
import { toU64 } from './validate.js';

export interface MapOptions extends RangeOptions {
  /** Default true. */
  readable?: boolean;
  /** Default true. */
  writeable?: boolean;
}

interface Mapping {
  memory: Memory;
  length: bigint;
}

/**
 * An I/O address space (IOMMU_IOAS_ALLOC). Every mapping keeps a strong
 * reference to its memory until it is unmapped, so GC cannot free memory the
 * kernel still maps.
 */
export class Ioas {
  readonly id: number;
  readonly #backend: Backend;
  readonly #onGone: (ioas: Ioas) => void;
  // IOVA of each mapping made through this object -> what keeps its memory alive.
  readonly #mappings = new Map<bigint, Mapping>();
  #destroyed = false;

  /** @internal Created by Iommufd.allocIoas(). */
  constructor(backend: Backend, id: number, onGone: (ioas: Ioas) => void) {
    this.#backend = backend;
    this.id = id;
    this.#onGone = onGone;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Map memory at a caller-chosen IOVA (IOMMU_IOAS_MAP_FIXED_IOVA). Returns the IOVA. */
  mapFixed(iova: bigint | number, memory: Memory, options: MapOptions = {}): bigint {
    return this.#map(IOMMU_IOAS_MAP_FIXED_IOVA, toU64(iova, 'iova'), memory, options);
  }

  /** Map memory at an IOVA the kernel allocates. Returns that IOVA. */
  mapAnywhere(memory: Memory, options: MapOptions = {}): bigint {
    return this.#map(0, 0n, memory, options);
  }

  #map(flags: number, iova: bigint, memory: Memory, options: MapOptions): bigint {
    this.#checkAlive();
    const range = userRange(memory, options);
    if (options.readable ?? true) flags |= IOMMU_IOAS_MAP_READABLE;
    if (options.writeable ?? true) flags |= IOMMU_IOAS_MAP_WRITEABLE;
    const mapped = this.#backend.ioasMap(this.id, flags, range, iova);
    this.#mappings.set(mapped, { memory, length: BigInt(range.length) });
    if (memory instanceof DmaBuffer) memory.retain();
    return mapped;
  }

  /** Unmap every area inside [iova, iova + length). Returns the bytes unmapped. */
  unmap(iova: bigint | number, length: bigint | number): bigint {
    this.#checkAlive();
    const start = toU64(iova, 'iova');
    const size = toU64(length, 'length');
    const unmapped = this.#backend.ioasUnmap(this.id, start, size);
    this.#forget(start, size);
    return unmapped;
  }

  /** Unmap everything (iova 0, length U64_MAX). Returns the bytes unmapped. */
  unmapAll(): bigint {
    this.#checkAlive();
    const unmapped = this.#backend.ioasUnmap(this.id, 0n, U64_MAX);
    this.#forgetAll();
    return unmapped;
  }

  iovaRanges(): IovaRanges {
    this.#checkAlive();
    return this.#backend.ioasIovaRanges(this.id);
  }

  /** IOMMU_DESTROY; EBUSY while a device, HWPT or access still uses it. */
  destroy(): void {
    this.#checkAlive();
    this.#backend.destroy(this.id);
    this.#gone();
  }

  /** @internal The iommufd was closed: the kernel dropped everything. */
  gone(): void {
    if (!this.#destroyed) this.#gone();
  }

  #gone(): void {
    this.#destroyed = true;
    this.#forgetAll();
    this.#onGone(this);
  }

  // After a successful unmap the kernel has removed every area fully inside
  // the range (iopt_unmap_iova_range()); drop exactly those references. A
  // failed unmap may have removed some areas before failing; their references
  // stay until the IOAS goes, which wastes memory but never frees mapped memory.
  #forget(start: bigint, length: bigint): void {
    const last = start + length - 1n;
    for (const [iova, mapping] of this.#mappings) {
      if (iova >= start && iova + mapping.length - 1n <= last) this.#drop(iova, mapping);
    }
  }

  #forgetAll(): void {
    for (const [iova, mapping] of this.#mappings) this.#drop(iova, mapping);
  }

  #drop(iova: bigint, mapping: Mapping): void {
    this.#mappings.delete(iova);
    if (mapping.memory instanceof DmaBuffer) mapping.memory.release();
  }

  #checkAlive(): void {
    if (this.#destroyed) throw new Error(`IOAS ${this.id} has been destroyed or its iommufd closed`);
  }
}
