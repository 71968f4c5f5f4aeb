// Batched calls: a list of operations run in order by one native call (the
// fast path for loops of thousands of ioctls, and the body of a fail-nth
// sweep). Other backends run the same list one call at a time.
import { Access } from './access.js';
import { type CopyOptions, Ioas, type MapOptions, mapFlags } from './ioas.js';
import { DmaBuffer, releaseBuffer, retainBuffer } from '../memory/dma-buffer.js';
import { type Memory, type RangeOptions, mappableRange, userRange } from '../memory/memory.js';
import { IOMMU_IOAS_MAP_FIXED_IOVA, MOCK_ACCESS_RW_SLOW_PATH, MOCK_ACCESS_RW_WRITE } from '../uapi/constants.js';
import { bigintOf, expectInstance, toOptions, toU32, toU64 } from '../base/validate.js';
import type { Backend, BatchRun, EncodedBatch } from '../backend/contract.js';
import { type RawArg, checkRawIoctl, rawIoctlName } from '../backend/raw-ioctl.js';

export interface BatchResult {
  /** The result of every op that ran, in order (built on first read). */
  results: unknown[];
  /** Index of the op that failed, or -1. */
  errorIndex: number;
  /** That op's IommufdError (or argument error), or null. */
  error: Error | null;
  /** With failNth: whether the injected failure fired inside the batch. */
  injected: boolean;
}

// The record encoding and the one-call-per-op runner live with the Backend
// contract (backend/batch-encoding.ts), which the simulator runs too.
import { BATCH_STRIDE, OP_ACCESS_RW, OP_IOAS_MAP, OP_IOAS_UNMAP, OP_TUPLE, UNMAP_UNDOES_MAP } from '../backend/batch-encoding.js';
export { BATCH_STRIDE, OP_ACCESS_RW, OP_IOAS_MAP, OP_IOAS_UNMAP, OP_TUPLE, UNMAP_UNDOES_MAP };
export type { BatchRun, EncodedBatch } from '../backend/contract.js';

// Ops whose memory must stay referenced: only the typed methods may issue them.
const MEMORY_OPS = new Set(['ioasMap', 'ioasCopy', 'vfioMapDma']);

/**
 * The record arrays of the last batch that ran, reused by the next one (up to
 * POOL_MAX_OPS ops: 4 MiB, so a huge batch does not keep its memory for good).
 */
let pool: { code: Float64Array; wide: BigUint64Array } | null = null;
const POOL_MAX_OPS = 65536;

export class Batch {
  #count = 0;
  #code: Float64Array;
  #wide: BigUint64Array;
  /** Tuple and access_rw ops recorded: their results are not in `out` (see settle()). */
  #otherOps = 0;
  readonly #memories: Uint8Array[] = [];
  /** The caller's Memory behind each entry of #memories (what a mapping keeps alive). */
  readonly #memoryObjects: Memory[] = [];
  /** By the caller's Memory object: other views get a new Uint8Array wrapper per op. */
  readonly #memoryIndex = new Map<Memory, number>();
  #lastMemory: Memory | null = null;
  #lastMemoryIndex = -1;
  readonly #tuples: [string, ...unknown[]][] = [];
  readonly #tupleCalls: (() => unknown)[] = [];
  /** Per tuple op: bookkeeping once it succeeded (references to mapped memory). */
  readonly #tupleAfter: (((result: unknown) => void) | undefined)[] = [];
  /**
   * The Ioas of each id the map and unmap records name, for the memory
   * references afterwards (the records need no per-op array of objects).
   */
  readonly #ioases = new Map<number, Ioas>();
  #lastIoas: Ioas | null = null;
  /** The iommufd the batch runs on: every object in it must be that fd's. */
  readonly #backend: Backend;
  /** The IOVA of the op just recorded when it is a fixed map, else null (see UNMAP_UNDOES_MAP). */
  #fixedMapIova: bigint | null = null;
  readonly #rawCall: (name: string, args: unknown[]) => unknown;
  readonly #noteRaw: ((request: number, arg: Uint8Array | number | null) => void) | undefined;

  /** @internal Created by Iommufd.batch(); `noteRaw` sees each raw ioctl that succeeded. */
  constructor(
    backend: Backend,
    rawCall: (name: string, args: unknown[]) => unknown,
    noteRaw?: (request: number, arg: Uint8Array | number | null) => void,
  ) {
    this.#backend = backend;
    this.#rawCall = rawCall;
    this.#noteRaw = noteRaw;
    const pooled = pool;
    pool = null;
    this.#code = pooled?.code ?? new Float64Array(BATCH_STRIDE * 16);
    this.#wide = pooled?.wide ?? new BigUint64Array(2 * 16);
  }

  /** IOMMU_IOAS_MAP at a fixed IOVA (the mapping keeps `memory` alive once it succeeds). */
  mapFixed(ioas: Ioas, iova: bigint | number, memory: Memory, options: MapOptions = {}): this {
    options = toOptions(options);
    return this.#map(ioas, toU64(iova, 'iova'), memory, options, IOMMU_IOAS_MAP_FIXED_IOVA);
  }

  /** IOMMU_IOAS_MAP at an IOVA the kernel allocates (the op's result is that IOVA). */
  mapAnywhere(ioas: Ioas, memory: Memory, options: MapOptions = {}): this {
    options = toOptions(options);
    return this.#map(ioas, 0n, memory, options, 0);
  }

  #map(ioas: Ioas, iova: bigint, memory: Memory, options: MapOptions, fixed: number): this {
    const range = mappableRange(memory, options);
    this.#record(OP_IOAS_MAP, this.#ioas(ioas), mapFlags(fixed, options), this.#memory(memory, range.bytes), range.offset, range.length, iova, 0n);
    if (fixed !== 0) this.#fixedMapIova = iova;
    return this;
  }

  /**
   * IOMMU_IOAS_COPY of `src`'s [srcIova, srcIova + length) into `dst` (the
   * op's result is the IOVA used in `dst`); the copy keeps the source's memory alive.
   */
  copy(dst: Ioas, src: Ioas, srcIova: bigint | number, length: bigint | number, options: CopyOptions = {}): this {
    options = toOptions(options);
    const from = toU64(srcIova, 'srcIova');
    const size = toU64(length, 'length');
    const flags = mapFlags(options.dstIova === undefined ? 0 : IOMMU_IOAS_MAP_FIXED_IOVA, options);
    const to = options.dstIova === undefined ? 0n : toU64(options.dstIova, 'dstIova');
    const backend = expectInstance(dst, [Ioas], 'dst', 'an Ioas', this.#backend).backendForBatch();
    dst.checkCopySource(src);
    return this.#tuple(
      ['ioasCopy', dst.id, src.id, flags, to, from, size],
      () => backend.ioasCopy(dst.id, src.id, flags, to, from, size),
      (copied) => dst.noteCopied(copied as bigint, size, src, from),
    );
  }

  /** IOMMU_IOAS_UNMAP. */
  unmap(ioas: Ioas, iova: bigint | number, length: bigint | number): this {
    const at = toU64(iova, 'iova');
    const size = toU64(length, 'length');
    const id = this.#ioas(ioas);
    // Undoes the fixed map just before it (same IOAS, IOVA and length)? A
    // fixed map's IOVA is the one asked for, so this is known now, and
    // settle() need not compare u64s per op.
    const prev = (this.#count - 1) * BATCH_STRIDE;
    const undoes =
      this.#fixedMapIova !== null &&
      this.#fixedMapIova === at &&
      this.#code[prev + 1] === id &&
      bigintOf(this.#code[prev + 5]!) === size;
    this.#record(OP_IOAS_UNMAP, id, undoes ? UNMAP_UNDOES_MAP : 0, 0, 0, 0, at, size);
    return this;
  }

  /** IOMMU_TEST_OP_ACCESS_RW. */
  accessRw(access: Access, iova: bigint | number, memory: Memory, options: RangeOptions & { write?: boolean; slowPath?: boolean } = {}): this {
    options = toOptions(options);
    const at = toU64(iova, 'iova');
    const range = userRange(memory, options);
    let flags = options.write ? MOCK_ACCESS_RW_WRITE : 0;
    if (options.slowPath) flags |= MOCK_ACCESS_RW_SLOW_PATH;
    expectInstance(access, [Access], 'access', 'an Access', this.#backend).backendForBatch();
    this.#otherOps++;
    this.#record(OP_ACCESS_RW, access.fd, flags, this.#memory(memory, range.bytes), range.offset, range.length, at, 0n);
    return this;
  }

  /**
   * Any other addon op by name with its arguments after the fd (see
   * lib/native/binding.ts), e.g. raw('ioasAlloc') or raw('destroy', id).
   * Objects it creates are not tracked by the typed API.
   */
  raw(name: string, ...args: unknown[]): this {
    if (MEMORY_OPS.has(name)) throw new TypeError(`${name} in a batch must go through its typed method`);
    if (name === 'rawIoctl') {
      // The same rule as Iommufd.rawIoctl() (which the addon checks again): the
      // check reads the bytes, and refuses memory the process unmapped first.
      const [request, arg] = args as [number, RawArg];
      const checked = checkRawIoctl(request, arg, this.#backend.uapiVersion);
      const call = [request, checked, typeof args[2] === 'string' ? args[2] : rawIoctlName(request)];
      return this.#tuple(['rawIoctl', ...call], () => this.#rawCall(name, call), () => this.#noteRaw?.(request, checked));
    }
    return this.#tuple([name, ...args], () => this.#rawCall(name, args));
  }

  /**
   * @internal While the batch runs, JS can run too (a setter on the objects a
   * tuple op builds): a DmaBuffer a record maps must not be freed before the
   * mapping's reference is noted. Retains each; returns the release.
   */
  holdMemory(): () => void {
    const held = this.#memoryObjects.map((m) => (m instanceof DmaBuffer ? m : DmaBuffer.ownerOf(m.buffer)));
    for (const owner of held) if (owner) retainBuffer(owner);
    return () => {
      for (const owner of held) if (owner) releaseBuffer(owner);
    };
  }

  /** Number of ops recorded. */
  get length(): number {
    return this.#count;
  }

  /** @internal The ops, encoded for Backend.runBatch(). */
  encoded(): EncodedBatch {
    return {
      count: this.#count,
      code: this.#code.subarray(0, this.#count * BATCH_STRIDE),
      wide: this.#wide.subarray(0, this.#count * 2),
      memories: this.#memories,
      tuples: this.#tuples,
      tupleCalls: this.#tupleCalls,
    };
  }

  /**
   * @internal After a run: note the memory references of the ops that succeeded
   * and build the BatchResult (its `results` array only when read).
   */
  settle(run: BatchRun, out: BigUint64Array): BatchResult {
    const code = this.#code;
    const wide = this.#wide;
    const done = run.done;
    for (let i = 0; i < done; i++) {
      const r = i * BATCH_STRIDE;
      const op = code[r];
      // A map undone by the unmap after it (both done): the kernel held nothing
      // there before the map, so noting both would change nothing (at most it
      // would drop references left by an earlier partial unmap, which are only
      // kept longer).
      if (op === OP_IOAS_MAP && i + 1 < done && code[r + BATCH_STRIDE + 2] === UNMAP_UNDOES_MAP && code[r + BATCH_STRIDE] === OP_IOAS_UNMAP)
        i++;
      else if (op === OP_IOAS_MAP)
        this.#ioases.get(code[r + 1]!)!.noteMapped(out[i]!, code[r + 5]!, this.#memoryObjects[code[r + 3]!]!);
      else if (op === OP_IOAS_UNMAP) this.#ioases.get(code[r + 1]!)!.noteUnmapped(wide[i * 2]!, wide[i * 2 + 1]!);
      else if (op === OP_TUPLE) {
        const k = code[i * BATCH_STRIDE + 1]!;
        this.#tupleAfter[k]?.(run.tupleResults[k]);
      }
    }
    let results: unknown[] | undefined;
    if (this.#otherOps === 0) {
      // Every result is in `out`: the records are not needed any more, and
      // their arrays go to the next batch (large typed arrays are costly to
      // allocate: fresh pages, and external memory that brings GC forward).
      this.#release();
      return {
        get results() {
          results ??= Array.from({ length: done }, (_, i) => out[i]);
          return results;
        },
        errorIndex: run.error ? done : -1,
        error: run.error,
        injected: run.injected,
      };
    }
    const resultOf = (i: number): unknown => {
      const op = code[i * BATCH_STRIDE];
      if (op === OP_TUPLE) return run.tupleResults[code[i * BATCH_STRIDE + 1]!];
      return op === OP_ACCESS_RW ? undefined : out[i];
    };
    return {
      get results() {
        results ??= Array.from({ length: run.done }, (_, i) => resultOf(i));
        return results;
      },
      errorIndex: run.error ? run.done : -1,
      error: run.error,
      injected: run.injected,
    };
  }

  #memory(memory: Memory, bytes: Uint8Array): number {
    // Loops map the same memory over and over: skip the lookup for a repeat.
    return memory === this.#lastMemory ? this.#lastMemoryIndex : this.#otherMemory(memory, bytes);
  }

  // The first op of each batch takes this path: kept out of #memory() so that
  // optimized recording code does not depend on it.
  #otherMemory(memory: Memory, bytes: Uint8Array): number {
    let index = this.#memoryIndex.get(memory);
    if (index === undefined) {
      index = this.#memories.push(bytes) - 1;
      this.#memoryObjects.push(memory);
      this.#memoryIndex.set(memory, index);
    }
    this.#lastMemory = memory;
    this.#lastMemoryIndex = index;
    return index;
  }

  /**
   * The record's id for `ioas` (which must be alive), remembering the object.
   * Should the build destroy an IOAS and allocate another that gets its id,
   * the records of both run on the new one in the kernel, and are noted there.
   */
  #ioas(ioas: Ioas): number {
    expectInstance(ioas, [Ioas], 'ioas', 'an Ioas', this.#backend).backendForBatch();
    if (ioas !== this.#lastIoas) this.#otherIoas(ioas);
    return ioas.id;
  }

  #otherIoas(ioas: Ioas): void {
    this.#ioases.set(ioas.id, ioas);
    this.#lastIoas = ioas;
  }

  #tuple(tuple: [string, ...unknown[]], call: () => unknown, after?: (result: unknown) => void): this {
    this.#otherOps++;
    const k = this.#tuples.push(tuple) - 1;
    this.#tupleCalls.push(call);
    this.#tupleAfter.push(after);
    this.#record(OP_TUPLE, k, 0, 0, 0, 0, 0n, 0n);
    return this;
  }

  #record(op: number, a: number, b: number, c: number, d: number, e: number, w0: bigint, w1: bigint): void {
    const i = this.#count++;
    this.#fixedMapIova = null;
    if ((i + 1) * BATCH_STRIDE > this.#code.length) this.#grow();
    const r = i * BATCH_STRIDE;
    const code = this.#code;
    code[r] = op;
    code[r + 1] = a;
    code[r + 2] = b;
    code[r + 3] = c;
    code[r + 4] = d;
    code[r + 5] = e;
    this.#wide[i * 2] = w0;
    this.#wide[i * 2 + 1] = w1;
  }

  #grow(): void {
    const ops = Math.max(16, 2 * (this.#code.length / BATCH_STRIDE), this.#count);
    const code = new Float64Array(ops * BATCH_STRIDE);
    code.set(this.#code);
    this.#code = code;
    const wide = new BigUint64Array(ops * 2);
    wide.set(this.#wide);
    this.#wide = wide;
  }

  /** Hand the record arrays to the next batch; this one keeps none (it is spent). */
  #release(): void {
    const ops = this.#code.length / BATCH_STRIDE;
    if (ops <= POOL_MAX_OPS && (pool === null || pool.code.length < this.#code.length)) pool = { code: this.#code, wide: this.#wide };
    // Ops recorded on a spent batch (it never runs again) must not write into the pooled arrays.
    this.#code = new Float64Array(0);
    this.#wide = new BigUint64Array(0);
  }
}

export function checkFailNth(failNth: number | undefined): number {
  return failNth === undefined ? 0 : toU32(failNth, 'failNth');
}
