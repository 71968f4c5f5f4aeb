// Helpers of tools/testing/selftests/iommu/iommufd.c shared by the iommufd_ioas
// ports: check_access_rw() (access_rw, access_rw_unaligned, fork_gone, fork_present)
// and the huge-page buffer of access_domain_destory.
import { Access, MOCK_ACCESS_RW_SLOW_PATH, MOCK_ACCESS_RW_WRITE } from '../../lib/index.js';
import { expectBytes } from '../helpers.js';
import { BUFFER_SIZE, PAGE_SIZE, buffer } from './harness.js';
import type { IoasSelf } from './ioas-fixture.js';

// A cheap stand-in for libc rand(): xorshift32, seeded per process.
let seed = (Date.now() ^ (process.pid << 16)) >>> 0 || 1;
function rand(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed;
}

function fillRandom16(words: Uint16Array): void {
  for (let i = 0; i !== words.length; i++) words[i] = rand();
}

// The bytes are compared by hand (a few dozen at a time, thousands of times):
// only a mismatch goes through expect, which then reports where they differ.
function expectSame(actual: Uint8Array, at: number, expected: Uint8Array, length: number): void {
  for (let i = 0; i !== length; i++) {
    if (actual[at + i] !== expected[i]) {
      expectBytes(actual.subarray(at, at + length), expected.subarray(0, length));
      return;
    }
  }
}

/**
 * check_access_rw(): fill the global buffer (mapped at `iova`) with random data,
 * then through the access read and write every length of 1..63 bytes at every
 * IOVA within 50 bytes of the first page boundary, comparing with the buffer each
 * time; then read the whole buffer in one call. `defFlags` is 0 or
 * MOCK_ACCESS_RW_SLOW_PATH. `access` is an Access or a raw access id (its fd).
 */
export function checkAccessRw(self: IoasSelf, access: Access | number, iova: bigint, defFlags: number): void {
  if (defFlags & ~MOCK_ACCESS_RW_SLOW_PATH) throw new RangeError(`defFlags ${defFlags} has bits other than SLOW_PATH`);
  const rw =
    typeof access === 'number'
      ? (at: bigint, memory: Uint8Array, length: number, flags: number) =>
          self.fd.backend.accessRw(access, flags, at, { bytes: memory, offset: 0, length })
      : (at: bigint, memory: Uint8Array, length: number, flags: number) =>
          access.rw(at, memory, {
            length,
            write: (flags & MOCK_ACCESS_RW_WRITE) !== 0,
            slowPath: (flags & MOCK_ACCESS_RW_SLOW_PATH) !== 0,
          });
  const bytes = buffer().bytes;
  const tmp = new Uint16Array(32);
  const tmpBytes = new Uint8Array(tmp.buffer);

  fillRandom16(new Uint16Array(bytes.buffer, bytes.byteOffset, BUFFER_SIZE / 2));

  const first = iova + BigInt(PAGE_SIZE - 50);
  const end = iova + BigInt(PAGE_SIZE + 50);
  for (let at = first; at < end; at++) {
    const offset = Number(at - iova);
    for (let length = 1; length < tmpBytes.length; length++) {
      rw(at, tmpBytes, length, defFlags);
      expectSame(bytes, offset, tmpBytes, length);

      fillRandom16(tmp);
      rw(at, tmpBytes, length, defFlags | MOCK_ACCESS_RW_WRITE);
      expectSame(bytes, offset, tmpBytes, length);
    }
  }

  // The whole buffer in one read, across every page.
  const tmp2 = new Uint8Array(BUFFER_SIZE);
  rw(iova, tmp2, BUFFER_SIZE, defFlags);
  expectBytes(bytes, tmp2);
}
