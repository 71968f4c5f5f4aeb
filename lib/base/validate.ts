// Argument checks shared by the typed API: bad input from JS becomes a
// TypeError or RangeError here, before any system call.
import { U32_MAX, U64_MAX } from '../uapi/constants.js';

let lastNumber = 0;
let lastBigint = 0n;

/**
 * BigInt(value) for a safe integer, memoized for the last value: BigInt() of a
 * number is a runtime call and an allocation, and loops pass the same length
 * over and over (bigints are immutable, so sharing one is safe).
 */
export function bigintOf(value: number): bigint {
  if (value !== lastNumber) {
    lastBigint = BigInt(value);
    lastNumber = value;
  }
  return lastBigint;
}

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
    return bigintOf(value);
  }
  throw new TypeError(`${name} must be a bigint or number, got ${typeof value}`);
}

export function toU32(value: number, name: string): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${describe(value)}`);
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX)
    throw new RangeError(`${name} must be a u32, got ${value}`);
  return value;
}

/** A byte offset or length inside JS memory: a safe non-negative integer. */
export function toByteCount(value: bigint | number, name: string): number {
  // Numbers first, with no bigint made on the way: the usual case, once per call.
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value;
  } else if (typeof value === 'bigint') {
    if (value >= 0n && value <= MAX_SAFE_BIGINT) return Number(value);
  } else throw new TypeError(`${name} must be a number or bigint, got ${describe(value)}`);
  throw new RangeError(`${name} must be a non-negative safe integer, got ${value}`);
}

const MAX_SAFE_BIGINT = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A value as error messages show it, without reading its contents: a view of
 * memory the process unmapped (DmaBuffer.unsafeUnmap) would kill the process
 * if stringified, and a caller's toString() or Proxy should not run either.
 */
export function describe(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'symbol' || typeof value === 'function') return typeof value;
  if (ArrayBuffer.isView(value)) return `a ${Object.prototype.toString.call(value).slice(8, -1)} of ${value.byteLength} bytes`;
  if (value instanceof ArrayBuffer) return `an ArrayBuffer of ${value.byteLength} bytes`;
  return 'an object';
}

// Which iommufd (its backend) each Ioas, Hwpt, MockDevice and Access belongs to:
// its id means another object, or nothing, on any other fd.
const owners = new WeakMap<object, object>();

export function setOwner(object: object, backend: object): void {
  owners.set(object, backend);
}

/**
 * `value` must be one of this API's objects (an instance of `types`), not a stand-in,
 * and, given `backend`, one of that iommufd's: a TypeError naming it otherwise.
 */
export function expectInstance<T extends object>(
  value: unknown,
  types: readonly (abstract new (...args: never[]) => T)[],
  name: string,
  what: string,
  backend?: object,
): T {
  if (!types.some((type) => value instanceof type)) throw new TypeError(`${name} must be ${what}, got ${describe(value)}`);
  if (backend !== undefined && owners.get(value as T) !== backend) throw new TypeError(`${name} belongs to another iommufd`);
  return value as T;
}

/** An options argument that must be an object. */
export function expectRecord<T extends object>(value: unknown, name: string): T {
  if (typeof value !== 'object' || value === null) throw new TypeError(`${name} must be an object, got ${describe(value)}`);
  return value as T;
}

/** An array argument, each element an object: a TypeError naming the first that is not. */
export function expectRecords<T extends object>(value: unknown, name: string): T[] {
  if (!Array.isArray(value)) throw new TypeError(`${name} must be an array, got ${describe(value)}`);
  value.forEach((v, i) => {
    if (typeof v !== 'object' || v === null) throw new TypeError(`${name}[${i}] must be an object, got ${describe(v)}`);
  });
  return value as T[];
}

/** An optional options argument: undefined reads as {}, anything but an object is a TypeError. */
export function toOptions<T extends object>(value: T | undefined, name = 'options'): T {
  if (value === undefined) return {} as T;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError(`${name} must be an object, got ${describe(value)}`);
  return value;
}
