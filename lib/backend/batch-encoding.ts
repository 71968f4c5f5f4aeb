// How a batch travels to a backend: the fixed records of the hot ops (shared
// with native/batch.cc) and the tuple calls of every other op, and the way a
// backend without a native runner (the simulator) runs them: one call per op.
import type { Backend, BatchRun, EncodedBatch } from './contract.js';

// The encoding shared with native/batch.cc. The hot ops are fixed records, so
// the addon runs them without reading a single JS value per op:
//   code: BATCH_STRIDE numbers per op, [opcode, a, b, c, d, e]
//   wide: 2 u64 per op (IOVAs and lengths)
// Every other op is a tuple ([addon op name, ...args]): [OP_TUPLE, tuple index].
export const BATCH_STRIDE = 6;
export const OP_TUPLE = 0;
/** a: ioasId, b: flags, c: memory index, d: offset, e: length; wide[0]: iova. Result: the IOVA. */
export const OP_IOAS_MAP = 1;
/**
 * a: ioasId; wide[0]: iova, wide[1]: length. Result: the bytes unmapped.
 * b: UNMAP_UNDOES_MAP when it unmaps exactly what the fixed map recorded just
 * before it mapped, in the same IOAS (bookkeeping for settle(); backends ignore b).
 */
export const OP_IOAS_UNMAP = 2;
export const UNMAP_UNDOES_MAP = 1;
/** a: access fd, b: flags, c: memory index, d: offset, e: length; wide[0]: iova. */
export const OP_ACCESS_RW = 3;


/**
 * Run an encoded batch one backend call per op (the simulator's way; the
 * addon runs the same encoding natively). Results of map/unmap go to `out`.
 */
export function runBatchByCalls(backend: Backend, batch: EncodedBatch, out: BigUint64Array): BatchRun {
  const { code, wide, memories } = batch;
  const tupleResults: unknown[] = [];
  for (let i = 0; i < batch.count; i++) {
    const r = i * BATCH_STRIDE;
    const op = code[r];
    try {
      if (op === OP_IOAS_MAP)
        out[i] = backend.ioasMap(code[r + 1]!, code[r + 2]!, { bytes: memories[code[r + 3]!]!, offset: code[r + 4]!, length: code[r + 5]! }, wide[i * 2]!);
      else if (op === OP_IOAS_UNMAP) out[i] = backend.ioasUnmap(code[r + 1]!, wide[i * 2]!, wide[i * 2 + 1]!);
      else if (op === OP_ACCESS_RW)
        backend.accessRw(code[r + 1]!, code[r + 2]!, wide[i * 2]!, { bytes: memories[code[r + 3]!]!, offset: code[r + 4]!, length: code[r + 5]! });
      else tupleResults[code[r + 1]!] = batch.tupleCalls[code[r + 1]!]!();
    } catch (error) {
      return { done: i, tupleResults, error: error as Error, injected: false };
    }
  }
  return { done: batch.count, tupleResults, error: null, injected: false };
}
