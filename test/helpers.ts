// Small helpers in the spirit of the kernel's iommufd_utils.h: each test body
// reads as one line per kernel interaction, with the expected errno in the name.
import { expect } from 'vitest';
import { DmaBuffer, IommufdError } from '../lib/index.js';
import { fillPattern } from '../lib/api/pattern.js';

export { fillPattern };

export const PAGE_SIZE = 4096;
export const MiB = 1024 * 1024;

/** Run `fn` and assert it fails with IommufdError `code` from `op` (when given). */
export function expectErrno(code: string, fn: () => unknown, op?: string): IommufdError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  // The expected outcome returns without expect(): sweeps call this thousands
  // of times, and each expect() is slow under TCG. Anything else is reported below.
  if (
    thrown instanceof IommufdError &&
    thrown.code === code &&
    (!/^(IOMMU|VFIO)_/.test(thrown.op) || thrown.syscall === 'ioctl') &&
    (op === undefined || thrown.op === op)
  )
    return thrown;
  expect(thrown, `expected ${code}, but the call succeeded`).toBeInstanceOf(IommufdError);
  const error = thrown as IommufdError;
  expect(error.code).toBe(code);
  if (/^(IOMMU|VFIO)_/.test(error.op)) expect(error.syscall).toBe('ioctl');
  if (op !== undefined) expect(error.op).toBe(op);
  return error;
}

/**
 * The IommufdError code `fn` fails with, or 'OK' when it returns: for tables of
 * outcomes (`expect(errno(() => ...)).toBe(byKernel(...))`). Anything else it
 * throws is rethrown.
 */
export function errno(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof IommufdError) return e.code;
    throw e;
  }
  return 'OK';
}

/** A DmaBuffer filled with a recognisable byte pattern (seeded, so runs compare). */
export function patternedBuffer(length: number, seed = 1): DmaBuffer {
  const buffer = DmaBuffer.alloc(length);
  fillPattern(buffer.bytes, seed);
  return buffer;
}


/** Collect garbage until `done()` holds (finalizers of external memory run asynchronously). */
export async function gcUntil(done: () => boolean, rounds = 50): Promise<boolean> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  for (let i = 0; i < rounds; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    if (done()) return true;
  }
  return false;
}

/**
 * Byte-for-byte equality that stays fast for large buffers (toEqual compares
 * element by element, which is slow under TCG); on mismatch it reports the
 * first differing offset with some context.
 */
export function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const b = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  if (a.equals(b)) return;
  let at = 0;
  while (at < Math.min(a.length, b.length) && a[at] === b[at]) at++;
  expect({ length: a.length, at, bytes: [...a.subarray(at, at + 16)] }).toEqual({
    length: b.length,
    at,
    bytes: [...b.subarray(at, at + 16)],
  });
}

/**
 * 2 MiB-aligned bytes (a DmaBuffer's), for backend-level tests whose IOVAs follow
 * the uptr's alignment: the simulator gives memory its real address offset, as the
 * kernel sees it, and a plain ArrayBuffer's heap address is rarely even page-aligned.
 * Untouched pages cost nothing; GC frees the buffer with the bytes.
 */
export function hugeAligned(length: number): Uint8Array {
  return DmaBuffer.alloc(length, { hugePages: 'transparent' }).bytes;
}
