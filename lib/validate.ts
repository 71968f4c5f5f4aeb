// Argument checks shared by the typed API: bad input from JS becomes a
// TypeError or RangeError here, before any system call.
import { U32_MAX, U64_MAX } from './uapi.js';

/** A u64 as bigint. Numbers are accepted only while exact (<= 2^53 - 1). */
export function toU64(value: bigint | number, name: string): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n || value > U64_MAX) throw new RangeError(`${name} must fit in a u64, got ${value}`);
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0)
      throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
    if (!Number.isSafeInteger(value))
      throw new RangeError(`${name} = ${value} is above 2^53 and may have lost precision; pass a bigint`);
    return BigInt(value);
  }
  throw new TypeError(`${name} must be a bigint or number, got ${typeof value}`);
}

export function toU32(value: number, name: string): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${typeof value}`);
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX)
    throw new RangeError(`${name} must be a u32, got ${value}`);
  return value;
}

/** A byte offset or length inside JS memory: a safe non-negative integer. */
export function toByteCount(value: bigint | number, name: string): number {
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || BigInt(n) !== BigInt(value))
    throw new RangeError(`${name} must be a non-negative safe integer, got ${value}`);
  return n;
}
