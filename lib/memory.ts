// Memory the kernel may read or write: a DmaBuffer or any ArrayBufferView.
import type { UserRange } from './backend.js';
import { DmaBuffer } from './dma-buffer.js';
import { toByteCount } from './validate.js';

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

/** Validates the window against the memory's bounds; a RangeError names both. */
export function userRange(memory: Memory, { offset = 0, length }: RangeOptions = {}): UserRange {
  const bytes = memoryBytes(memory);
  const start = toByteCount(offset, 'offset');
  const size = length === undefined ? bytes.byteLength - Math.min(start, bytes.byteLength) : toByteCount(length, 'length');
  if (start + size > bytes.byteLength)
    throw new RangeError(
      `range [${start}, ${start + size}) runs past the end of the ${bytes.byteLength}-byte memory`,
    );
  return { bytes, offset: start, length: size };
}
