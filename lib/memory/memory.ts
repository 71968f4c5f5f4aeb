// Memory the kernel may read or write: a DmaBuffer or any ArrayBufferView.
import type { UserRange } from '../backend/contract.js';
import { DmaBuffer } from './dma-buffer.js';
import { toByteCount, toOptions } from '../base/validate.js';

export type Memory = DmaBuffer | ArrayBufferView;

/** A byte window of a Memory: [offset, offset + length), length defaults to the rest. */
export interface RangeOptions {
  offset?: number | bigint;
  length?: number | bigint;
}

export function memoryBytes(memory: Memory): Uint8Array {
  if (memory instanceof DmaBuffer) return memory.bytes;
  // A Uint8Array (or Buffer) is its own bytes: no wrapper per call, and the same
  // object each time (a Batch shares one memory entry between its ops).
  if (memory instanceof Uint8Array) return memory;
  if (ArrayBuffer.isView(memory)) return new Uint8Array(memory.buffer, memory.byteOffset, memory.byteLength);
  throw new TypeError('memory must be a DmaBuffer or an ArrayBufferView (Buffer, TypedArray, DataView)');
}

/**
 * userRange() for memory the kernel keeps using after the call returns (an
 * IOAS or VFIO mapping). A mapping's reference keeps its JS object alive, which
 * is enough only where the object owns its bytes for good: a DmaBuffer (the
 * addon's mmap, which Node copies rather than transfers) or a fixed-length
 * SharedArrayBuffer (never detached). A plain ArrayBuffer can be transferred
 * away (structuredClone(..., { transfer })) and its bytes freed with the new
 * owner, and a resizable one shrunk: either would leave the kernel mapping
 * memory the process reuses, and N-API gives no way to hold the bytes
 * themselves, so those are refused.
 */
export function mappableRange(memory: Memory, options: RangeOptions = {}): UserRange {
  options = toOptions(options);
  const range = userRange(memory, options);
  // A DmaBuffer's memory is its own mmap (never resizable, never transferred).
  if (memory instanceof DmaBuffer) return range;
  const buffer = range.bytes.buffer as ArrayBuffer & { resizable?: boolean; growable?: boolean };
  if (buffer.resizable === true || buffer.growable === true)
    throw new TypeError('a resizable ArrayBuffer cannot be mapped: shrinking it would free mapped memory; use a DmaBuffer');
  if (!(buffer instanceof SharedArrayBuffer) && DmaBuffer.ownerOf(buffer) === undefined)
    throw new TypeError(
      'memory to map must be a DmaBuffer (or a view of one) or a SharedArrayBuffer view: a plain ArrayBuffer ' +
        'can be transferred away and freed while the kernel still maps it',
    );
  return range;
}

/** Validates the window against the memory's bounds; a RangeError names both. */
export function userRange(memory: Memory, range: RangeOptions = {}): UserRange {
  const { offset = 0, length } = toOptions(range, 'range');
  const bytes = memoryBytes(memory);
  const start = toByteCount(offset, 'offset');
  const size = length === undefined ? bytes.byteLength - Math.min(start, bytes.byteLength) : toByteCount(length, 'length');
  if (start + size > bytes.byteLength)
    throw new RangeError(
      `range [${start}, ${start + size}) runs past the end of the ${bytes.byteLength}-byte memory`,
    );
  return { bytes, offset: start, length: size };
}
