// Batched calls: a list of operations run in order by one native call (the
// fast path for loops of thousands of ioctls, and the body of a fail-nth
// sweep). Other backends run the same list one call at a time.
import type { Access } from './access.js';
import { type CopyOptions, type Ioas, type MapOptions, mapFlags } from './ioas.js';
import { type Memory, type RangeOptions, userRange } from './memory.js';
import { IOMMU_IOAS_MAP_FIXED_IOVA, MOCK_ACCESS_RW_SLOW_PATH, MOCK_ACCESS_RW_WRITE } from './uapi.js';
import { toU32, toU64 } from './validate.js';

export interface BatchResult {
  /** The result of every op that ran, in order. */
  results: unknown[];
  /** Index of the op that failed, or -1. */
  errorIndex: number;
  /** That op's IommufdError (or argument error), or null. */
  error: Error | null;
  /** With failNth: whether the injected failure fired inside the batch. */
  injected: boolean;
}

/** @internal One recorded op: the addon's tuple and the same call on any backend. */
export interface BatchOp {
  tuple: [string, ...unknown[]];
  call: () => unknown;
  /** Bookkeeping after the op succeeded (references to mapped memory). */
  after?: (result: unknown) => void;
}

// Ops whose memory must stay referenced: only the typed methods may issue them.
const MEMORY_OPS = new Set(['ioasMap', 'ioasCopy', 'vfioMapDma']);

export class Batch {
  /** @internal */
  readonly ops: BatchOp[] = [];
  readonly #rawCall: (name: string, args: unknown[]) => unknown;

  /** @internal Created by Iommufd.batch(). */
  constructor(rawCall: (name: string, args: unknown[]) => unknown) {
    this.#rawCall = rawCall;
  }

  /** IOMMU_IOAS_MAP at a fixed IOVA (the mapping keeps `memory` alive once it succeeds). */
  mapFixed(ioas: Ioas, iova: bigint | number, memory: Memory, options: MapOptions = {}): this {
    const at = toU64(iova, 'iova');
    const range = userRange(memory, options);
    const flags = mapFlags(IOMMU_IOAS_MAP_FIXED_IOVA, options);
    const backend = ioas.backendForBatch();
    this.ops.push({
      tuple: ['ioasMap', ioas.id, flags, range.bytes, range.offset, range.length, at],
      call: () => backend.ioasMap(ioas.id, flags, range, at),
      after: (mapped) => ioas.noteMapped(mapped as bigint, BigInt(range.length), memory),
    });
    return this;
  }

  /** IOMMU_IOAS_MAP at an IOVA the kernel allocates (the op's result is that IOVA). */
  mapAnywhere(ioas: Ioas, memory: Memory, options: MapOptions = {}): this {
    const range = userRange(memory, options);
    const flags = mapFlags(0, options);
    const backend = ioas.backendForBatch();
    this.ops.push({
      tuple: ['ioasMap', ioas.id, flags, range.bytes, range.offset, range.length, 0n],
      call: () => backend.ioasMap(ioas.id, flags, range, 0n),
      after: (mapped) => ioas.noteMapped(mapped as bigint, BigInt(range.length), memory),
    });
    return this;
  }

  /**
   * IOMMU_IOAS_COPY of `src`'s [srcIova, srcIova + length) into `dst` (the
   * op's result is the IOVA used in `dst`); the copy keeps the source's memory alive.
   */
  copy(dst: Ioas, src: Ioas, srcIova: bigint | number, length: bigint | number, options: CopyOptions = {}): this {
    const from = toU64(srcIova, 'srcIova');
    const size = toU64(length, 'length');
    const flags = mapFlags(options.dstIova === undefined ? 0 : IOMMU_IOAS_MAP_FIXED_IOVA, options);
    const to = options.dstIova === undefined ? 0n : toU64(options.dstIova, 'dstIova');
    const backend = dst.backendForBatch();
    src.backendForBatch();
    this.ops.push({
      tuple: ['ioasCopy', dst.id, src.id, flags, to, from, size],
      call: () => backend.ioasCopy(dst.id, src.id, flags, to, from, size),
      after: (copied) => dst.noteCopied(copied as bigint, size, src, from),
    });
    return this;
  }

  /** IOMMU_IOAS_UNMAP. */
  unmap(ioas: Ioas, iova: bigint | number, length: bigint | number): this {
    const at = toU64(iova, 'iova');
    const size = toU64(length, 'length');
    const backend = ioas.backendForBatch();
    this.ops.push({
      tuple: ['ioasUnmap', ioas.id, at, size],
      call: () => backend.ioasUnmap(ioas.id, at, size),
      after: () => ioas.noteUnmapped(at, size),
    });
    return this;
  }

  /** IOMMU_TEST_OP_ACCESS_RW. */
  accessRw(access: Access, iova: bigint | number, memory: Memory, options: RangeOptions & { write?: boolean; slowPath?: boolean } = {}): this {
    const at = toU64(iova, 'iova');
    const range = userRange(memory, options);
    let flags = options.write ? MOCK_ACCESS_RW_WRITE : 0;
    if (options.slowPath) flags |= MOCK_ACCESS_RW_SLOW_PATH;
    const backend = access.backendForBatch();
    this.ops.push({
      tuple: ['testAccessRw', access.fd, flags, at, range.bytes, range.offset, range.length],
      call: () => backend.accessRw(access.fd, flags, at, range),
    });
    return this;
  }

  /**
   * Any other addon op by name with its arguments after the fd (see
   * lib/native/binding.ts), e.g. raw('ioasAlloc') or raw('destroy', id).
   * Objects it creates are not tracked by the typed API.
   */
  raw(name: string, ...args: unknown[]): this {
    if (MEMORY_OPS.has(name)) throw new TypeError(`${name} in a batch must go through its typed method`);
    this.ops.push({ tuple: [name, ...args], call: () => this.#rawCall(name, args) });
    return this;
  }

  /** Number of ops recorded. */
  get length(): number {
    return this.ops.length;
  }
}

export function checkFailNth(failNth: number | undefined): number {
  return failNth === undefined ? 0 : toU32(failNth, 'failNth');
}
