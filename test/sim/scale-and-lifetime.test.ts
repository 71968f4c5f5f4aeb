// Scale (10^5 and 10^6 areas, 1 TiB of IOVA in O(1) memory per area), pins as
// intervals, the unmap callback across areas, and what close() releases.
import { describe, expect, test } from 'vitest';
import { IommufdError, Iommufd, SimBackend, type UserRange } from '../../lib/index.js';
import { MOCK_APERTURE_START } from '../../lib/uapi/constants.js';
import { errno, hugeAligned } from '../helpers.js';

const PAGE = 4096;
const FIXED = 7;

function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc!;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

// These check exactness and memory, not speed: a generous timeout, so a loaded CI machine
// (several VMs under TCG on 2 cores) cannot turn them into timing assertions.
describe('scale', { timeout: 120_000 }, () => {
  test('10^5 areas: lookups, random unmaps, IOVA allocation and unmap-all stay exact', () => {
    const be = SimBackend.open();
    const ioas = be.ioasAlloc();
    const range: UserRange = { bytes: hugeAligned(PAGE), offset: 0, length: PAGE };
    const n = 100_000;
    for (let i = 0; i < n; i++) be.ioasMap(ioas, FIXED, range, BigInt(2 * i + 1) * 4096n);
    expect(errno(() => be.ioasMap(ioas, FIXED, range, 4096n * 777n))).toBe('EEXIST');
    // Every one-page hole is taken first-fit, lowest first: the hole at 2 pages.
    expect(be.ioasMap(ioas, 6, range, 0n)).toBe(2n * 4096n);
    // Two pages fit no hole below the last area: the allocator skips to the end.
    const two: UserRange = { bytes: hugeAligned(2 * PAGE), offset: 0, length: 2 * PAGE };
    expect(be.ioasMap(ioas, 6, two, 0n)).toBe(BigInt(2 * n) * 4096n);
    for (let i = 1; i < n; i += 7) expect(be.ioasUnmap(ioas, BigInt(2 * i + 1) * 4096n, 4096n)).toBe(4096n);
    // Removing area i (page 2i + 1) opens pages [2i, 2i + 2]. For i = 1 page 2 is taken and
    // 8 KiB alignment leaves one page; i = 8 gives [16, 18]: 16 pages is 8 KiB aligned.
    expect(be.ioasMap(ioas, 6, two, 0n)).toBe(16n * 4096n);
    const left = n - Math.ceil((n - 1) / 7) + 3;
    expect(be.ioasUnmap(ioas, 0n, (1n << 64n) - 1n)).toBe(BigInt(left * PAGE + 2 * PAGE));
  });

  test('10^6 areas: exact lookups and allocation over the whole tree, a few hundred bytes each', () => {
    const be = SimBackend.open();
    const ioas = be.ioasAlloc();
    const range: UserRange = { bytes: hugeAligned(PAGE), offset: 0, length: PAGE };
    const n = 1_000_000;
    // One-page areas with one-page holes, at increasing IOVAs far above 2^32.
    const base = 1n << 44n;
    const area = (i: number) => base + BigInt(2 * i) * 4096n;
    const before = heapUsed();
    for (let i = 0; i < n; i++) be.ioasMap(ioas, FIXED, range, area(i));
    // Memory, not time: ~240 B per area measured; a per-page or boxed layout would be several times that.
    expect((heapUsed() - before) / n).toBeLessThan(320);
    for (const i of [0, 1, 262_143, 500_000, n - 1]) {
      expect(errno(() => be.ioasMap(ioas, FIXED, range, area(i)))).toBe('EEXIST');
      expect(errno(() => be.ioasMap(ioas, FIXED, range, area(i) + 4096n))).toBe('OK'); // the hole after it
      expect(be.ioasUnmap(ioas, area(i), 2n * 4096n)).toBe(2n * 4096n);
      expect(errno(() => be.ioasUnmap(ioas, area(i), 4096n))).toBe('ENOENT');
      be.ioasMap(ioas, FIXED, range, area(i));
    }
    // The allocator inside the dense region: one page takes the first hole,
    // two pages fit none of the 10^6 holes and go past the last area.
    be.ioasAllowIovas(ioas, [{ start: base, last: (1n << 64n) - 1n }]);
    expect(be.ioasMap(ioas, 6, range, 0n)).toBe(area(0) + 4096n);
    const two: UserRange = { bytes: hugeAligned(2 * PAGE), offset: 0, length: 2 * PAGE };
    expect(be.ioasMap(ioas, 6, two, 0n)).toBe(area(n));
    be.ioasAllowIovas(ioas, []);
    expect(be.ioasUnmap(ioas, 0n, (1n << 64n) - 1n)).toBe(BigInt((n + 3) * PAGE));
    be.close();
  });

  test('1 TiB of IOVA over one lazily allocated buffer costs a few hundred bytes per area', () => {
    const be = SimBackend.open();
    const ioas = be.ioasAlloc();
    const size = 2 ** 31; // 512 x 2 GiB = 1 TiB; untouched pages cost no RSS
    const big = hugeAligned(size);
    const mapAll = (target: SimBackend, id: number) => {
      for (let i = 0; i < 512; i++) target.ioasMap(id, FIXED, { bytes: big, offset: 0, length: size }, (1n << 40n) + BigInt(i) * BigInt(size));
    };
    // heapUsed() after a GC still moves by a few hundred KB from run to run (code,
    // feedback): the least growth of three fresh IOASes is the cost of the areas.
    const growth = [0, 1, 2].map(() => {
      const other = SimBackend.open();
      const id = other.ioasAlloc();
      const before = heapUsed();
      mapAll(other, id);
      const grew = heapUsed() - before;
      other.close();
      return grew;
    });
    expect(Math.min(...growth)).toBeLessThan(512 * 1024);
    mapAll(be, ioas);
    // Pin 16 MiB (the mock's limit) in the middle of it: one interval, not 4096 entries.
    // The least growth of three pins, as above (the first call also compiles code).
    const access = be.createAccess(ioas, 1);
    const pinAt = (1n << 40n) + 3n * BigInt(size) + 4096n;
    const pinGrowth = [0, 1, 2].map(() => {
      const before = heapUsed();
      const id = be.accessPages(access, 0, pinAt, 16 * 1024 * 1024, null);
      const grew = heapUsed() - before;
      be.destroyAccessPages(access, id);
      return grew;
    });
    expect(Math.min(...pinGrowth)).toBeLessThan(64 * 1024);
    be.accessPages(access, 0, pinAt, 16 * 1024 * 1024, null);
    const firstPinned = { bytes: big, offset: 4096, length: 16 * 1024 * 1024 };
    be.mdCheckRefs(firstPinned, 1);
    expect(errno(() => be.mdCheckRefs({ bytes: big, offset: 0, length: size }, 0))).toBe('EIO');
    be.closeAccess(access);
    be.mdCheckRefs({ bytes: big, offset: 0, length: size }, 0);
    expect(be.ioasUnmap(ioas, 0n, (1n << 64n) - 1n)).toBe(1n << 40n);
  });
});

describe('pins and the unmap callback', () => {
  test('a pin spanning two areas is dropped whole when one of them is unmapped', () => {
    using fd = Iommufd.open({ backend: 'sim' });
    const ioas = fd.allocIoas();
    const bytes = hugeAligned(8 * PAGE);
    ioas.mapFixed(MOCK_APERTURE_START, bytes, { length: 4 * PAGE });
    ioas.mapFixed(MOCK_APERTURE_START + BigInt(4 * PAGE), bytes, { offset: 4 * PAGE, length: 4 * PAGE });
    using access = fd.createAccess(ioas, { needsPinPages: true });
    const pin = access.pinPages(MOCK_APERTURE_START + BigInt(2 * PAGE), 4 * PAGE, { verify: { memory: bytes, offset: 2 * PAGE } });
    fd.checkRefs(bytes, 0, { length: 2 * PAGE });
    fd.checkRefs(bytes, 1, { offset: 2 * PAGE, length: 4 * PAGE });
    ioas.unmap(MOCK_APERTURE_START, 4 * PAGE);
    fd.checkRefs(bytes, 0); // the second area's pages were unpinned too
    expect(errno(() => pin.unpin())).toBe('ENOENT');
  });

  test('the same memory mapped twice is pinned once per mapping under a domain', () => {
    using fd = Iommufd.open({ backend: 'sim' });
    const ioas = fd.allocIoas();
    const mock = fd.mockDomain(ioas);
    const bytes = hugeAligned(4 * PAGE);
    const a = ioas.mapAnywhere(bytes);
    const b = ioas.mapAnywhere(bytes, { length: 2 * PAGE });
    fd.checkRefs(bytes, 2, { length: 2 * PAGE });
    fd.checkRefs(bytes, 1, { offset: 2 * PAGE });
    expect(errno(() => fd.checkRefs(bytes, 1, { offset: 100, length: PAGE }))).toBe('EINVAL'); // unaligned uptr
    mock.checkMap(b, bytes, { length: 2 * PAGE });
    ioas.unmap(a, 4 * PAGE);
    fd.checkRefs(bytes, 1, { length: 2 * PAGE });
    mock.destroy();
    fd.checkRefs(bytes, 0);
  });
});

describe('close()', () => {
  test('closing the iommufd releases every object and pin; an open access keeps it alive until closed', () => {
    const be = SimBackend.open();
    const ioas = be.ioasAlloc();
    be.mockDomain(ioas);
    const memory: UserRange = { bytes: hugeAligned(8 * PAGE), offset: 0, length: 8 * PAGE };
    be.ioasMap(ioas, FIXED, memory, MOCK_APERTURE_START);
    const access = be.createAccess(ioas, 1);
    be.accessPages(access, 0, MOCK_APERTURE_START, PAGE, null);
    const other = SimBackend.open(); // checkRefs is process-wide, like page refcounts
    other.mdCheckRefs(memory, 1);
    be.close();
    expect(errno(() => be.ioasAlloc())).toBe('EBADF');
    expect(errno(() => be.close())).toBe('EBADF');
    other.mdCheckRefs(memory, 1); // the access holds the context (iommufd_ctx_get())
    // The closed iommufd answers EBADF, but the access still works through another one
    // (iommufd_access_get() looks the access up by its fd alone).
    expect(errno(() => be.accessRw(access, 0, MOCK_APERTURE_START, { bytes: new Uint8Array(8), offset: 0, length: 8 }))).toBe('EBADF');
    other.accessRw(access, 0, MOCK_APERTURE_START, { bytes: new Uint8Array(8), offset: 0, length: 8 });
    be.closeAccess(access);
    other.mdCheckRefs(memory, 0);
    expect(be.objectCount).toBe(0);
    expect(errno(() => other.accessRw(access, 0, 0n, { bytes: new Uint8Array(8), offset: 0, length: 8 }))).toBe('EBADFD');
    other.close();
  });

  test('access handles are small numbers from 3 up; 0 to 2 are never accesses', () => {
    const be = SimBackend.open();
    const ioas = be.ioasAlloc();
    const fds = [be.createAccess(ioas, 0), be.createAccess(ioas, 0)];
    expect(fds.every((f) => f >= 3)).toBe(true);
    for (const bad of [0, 1, 2]) expect(errno(() => be.destroyAccessPages(bad, 0))).toBe('EBADFD');
    for (const f of fds) be.closeAccess(f);
    be.close();
  });
});
