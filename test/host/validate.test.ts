import { describe, expect, test } from 'vitest';
import { U64_MAX } from '../../lib/index.js';
import { toByteCount, toU32, toU64 } from '../../lib/base/validate.js';

describe('toU64', () => {
  test('bigints in range pass through exactly', () => {
    for (const v of [0n, 1n, (1n << 53n) + 1n, U64_MAX]) expect(toU64(v, 'iova')).toBe(v);
  });

  test('safe numbers become bigints', () => {
    expect(toU64(4096, 'iova')).toBe(4096n);
    expect(toU64(Number.MAX_SAFE_INTEGER, 'iova')).toBe(BigInt(Number.MAX_SAFE_INTEGER));
  });

  test('lossy, negative, fractional or out-of-range values are RangeErrors', () => {
    expect(() => toU64(2 ** 53, 'iova')).toThrow(/above 2\^53.*bigint/);
    expect(() => toU64(-1, 'iova')).toThrow(RangeError);
    expect(() => toU64(1.5, 'iova')).toThrow(RangeError);
    expect(() => toU64(Number.NaN, 'iova')).toThrow(RangeError);
    expect(() => toU64(-1n, 'iova')).toThrow(RangeError);
    expect(() => toU64(U64_MAX + 1n, 'iova')).toThrow(/iova must fit in a u64/);
  });

  test('other types are TypeErrors', () => {
    expect(() => toU64('1' as unknown as number, 'iova')).toThrow(TypeError);
    expect(() => toU64(undefined as unknown as number, 'iova')).toThrow(TypeError);
  });
});

test('toU32 accepts 0..2^32-1 only', () => {
  expect(toU32(0xffff_ffff, 'id')).toBe(0xffff_ffff);
  expect(() => toU32(2 ** 32, 'id')).toThrow(RangeError);
  expect(() => toU32(-1, 'id')).toThrow(RangeError);
  expect(() => toU32(1n as unknown as number, 'id')).toThrow(TypeError);
});

test('toByteCount accepts safe integers as number or bigint', () => {
  expect(toByteCount(10n, 'length')).toBe(10);
  expect(() => toByteCount(1n << 60n, 'length')).toThrow(RangeError);
  expect(() => toByteCount(-5, 'length')).toThrow(RangeError);
});
