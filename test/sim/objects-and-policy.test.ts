// Simulator-only checks of rules the VM cannot exercise cheaply: object ids
// and refcounts, the exact IOVA allocation policy, scale, and close().
import { describe, expect, test } from 'vitest';
import { IommufdError, SimBackend, type UserRange } from '../../lib/index.js';
import { MOCK_APERTURE_LAST, MOCK_APERTURE_START, U64_MAX } from '../../lib/uapi/constants.js';
import { errno, hugeAligned } from '../helpers.js';

const PAGE = 4096;
const RW = 6;
const FIXED = 1 | RW;

/** A fresh ArrayBuffer: the simulator gives each one a 2 MiB aligned user address. */
function mem(length: number, offset = 0, viewLength = length - offset): UserRange {
  return { bytes: hugeAligned(length), offset, length: viewLength };
}

describe('object table (xarray ALLOC1, users refcount)', () => {
  test('ids start at 1 and the lowest free id is reused', () => {
    const be = SimBackend.open();
    const ids = [be.ioasAlloc(), be.ioasAlloc(), be.ioasAlloc(), be.ioasAlloc()];
    expect(ids).toEqual([1, 2, 3, 4]);
    be.destroy(3);
    be.destroy(2);
    expect(be.ioasAlloc()).toBe(2);
    expect(be.ioasAlloc()).toBe(3);
    expect(be.ioasAlloc()).toBe(5);
    expect(errno(() => be.destroy(0))).toBe('ENOENT');
    expect(errno(() => be.destroy(99))).toBe('ENOENT');
  });

  test('MOCK_DOMAIN allocates stdev, idev, then hwpt; a second one reuses the automatic hwpt', () => {
    const be = SimBackend.open();
    const ioas = be.ioasAlloc(); // 1
    const a = be.mockDomain(ioas);
    expect(a).toEqual({ stdevId: 2, idevId: 3, hwptId: 4 });
    const b = be.mockDomain(ioas);
    expect(b).toEqual({ stdevId: 5, idevId: 6, hwptId: 4 }); // iommufd_device_auto_get_domain()
    // Everything in use is EBUSY; the selftest object is what userspace destroys.
    for (const id of [ioas, a.idevId, a.hwptId]) expect(errno(() => be.destroy(id))).toBe('EBUSY');
    be.destroy(a.stdevId);
    expect(errno(() => be.destroy(a.idevId))).toBe('ENOENT'); // unbound with it
    expect(errno(() => be.destroy(a.hwptId))).toBe('EBUSY'); // b still attached
    be.destroy(b.stdevId);
    expect(errno(() => be.destroy(b.hwptId))).toBe('ENOENT'); // the automatic domain went with the last device
    be.destroy(ioas);
    expect(be.objectCount).toBe(0);
  });

  test('a failed MOCK_DOMAIN leaves no ids behind; a reserved id is not found while being created', () => {
    const be = SimBackend.open();
    const ioas = be.ioasAlloc();
    be.ioasMap(ioas, FIXED, mem(PAGE), 0x1000n); // outside the mock aperture
    expect(errno(() => be.mockDomain(ioas))).toBe('EADDRINUSE'); // iopt_reserve_iova() over an area
    expect(errno(() => be.mockDomain(2))).toBe('ENOENT'); // 2 is the selftest object's own, unfinalized id
    expect(be.objectCount).toBe(1);
    expect(be.ioasAlloc()).toBe(2);
  });

  test('an access is an object too: it takes an id, holds its IOAS, and is EBUSY to IOMMU_DESTROY', () => {
    const be = SimBackend.open();
    const ioas = be.ioasAlloc();
    const fd = be.createAccess(ioas, 0);
    expect(fd).toBeGreaterThanOrEqual(3);
    expect(errno(() => be.destroy(2))).toBe('EBUSY');
    expect(errno(() => be.destroy(ioas))).toBe('EBUSY');
    be.closeAccess(fd);
    expect(errno(() => be.destroy(2))).toBe('ENOENT');
    be.destroy(ioas);
    expect(errno(() => be.closeAccess(fd))).toBe('EBADF');
  });
});

describe('iopt_alloc_iova()', () => {
  test('the same history gives the addresses the kernel algorithm gives', () => {
    const be = SimBackend.open();
    const ioas = be.ioasAlloc();
    const at = (length: number, offset = 0) => be.ioasMap(ioas, RW, mem(offset + length + PAGE, offset, length), 0n);
    // alignment = min(roundup_pow_of_two(length), lowest bit of uptr (2 MiB here), HPAGE_SIZE);
    // the search starts at PAGE_SIZE and takes the first hole that fits.
    expect(at(PAGE)).toBe(0x1000n);
    expect(at(PAGE)).toBe(0x2000n);
    expect(at(16 * PAGE)).toBe(0x10000n); // 64 KiB aligned
    expect(at(PAGE)).toBe(0x3000n);
    expect(at(3 * PAGE)).toBe(0x4000n); // 16 KiB aligned, fits in [0x4000, 0xffff]
    // uptr % 4096 == 100: alignment drops to 4 and the page offset is OR-ed in.
    expect(at(PAGE, 100)).toBe(0x7000n | 100n);
    expect(at(4 * 1024 * 1024)).toBe(0x200000n); // capped at 2 MiB alignment
    expect(errno(() => be.ioasMap(ioas, RW, mem(PAGE), U64_MAX - 1n))).toBe('OK'); // unused iova without FIXED
  });

  test('a mock domain limits allocation to its aperture and its 2 KiB alignment', () => {
    const be = SimBackend.open();
    const ioas = be.ioasAlloc();
    be.mockDomain(ioas);
    const map = (length: number, offset = 0) => be.ioasMap(ioas, RW, mem(offset + length + PAGE, offset, length), 0n);
    expect(map(PAGE)).toBe(MOCK_APERTURE_START);
    expect(map(2048)).toBe(MOCK_APERTURE_START + 0x1000n);
    expect(map(2048, 2048)).toBe(MOCK_APERTURE_START + 0x1800n); // page_offset 2048 kept
    expect(errno(() => map(PAGE, 100))).toBe('EINVAL'); // alignment 4 < iova_alignment 2048
    expect(errno(() => map(2 ** 31))).toBe('ENOSPC'); // larger than the aperture
    const { ranges, alignment } = be.ioasIovaRanges(ioas);
    expect(ranges).toEqual([{ start: MOCK_APERTURE_START, last: MOCK_APERTURE_LAST }]);
    expect(alignment).toBe(2048n);
  });

  test('a pinning access raises the IOAS alignment to PAGE_SIZE while it is attached', () => {
    const be = SimBackend.open();
    const ioas = be.ioasAlloc();
    be.mockDomain(ioas);
    const fd = be.createAccess(ioas, 1);
    expect(be.ioasIovaRanges(ioas).alignment).toBe(4096n);
    be.closeAccess(fd);
    expect(be.ioasIovaRanges(ioas).alignment).toBe(2048n);
    be.ioasMap(ioas, FIXED, mem(2 * PAGE, 0, 2048), MOCK_APERTURE_START);
    // iopt_check_iova_alignment(): an existing 2 KiB area refuses the access.
    expect(errno(() => be.createAccess(ioas, 1))).toBe('EADDRINUSE');
  });

  test('matches a linear-scan model of the kernel over a random history', () => {
    const be = SimBackend.open();
    const ioas = be.ioasAlloc();
    const model: { start: bigint; last: bigint }[] = [];
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const modelAlloc = (length: bigint): bigint => {
      let align = 1n;
      while (align < length) align <<= 1n;
      if (align > 2n * 1024n * 1024n) align = 2n * 1024n * 1024n;
      let pos = 4096n;
      for (const a of [...model].sort((x, y) => (x.start < y.start ? -1 : 1))) {
        const aligned = (pos + align - 1n) & ~(align - 1n);
        if (aligned < a.start && a.start - 1n - aligned >= length - 1n) return aligned;
        if (a.last + 1n > pos) pos = a.last + 1n;
      }
      return (pos + align - 1n) & ~(align - 1n);
    };
    for (let step = 0; step < 3000; step++) {
      if (model.length > 0 && rand(3) === 0) {
        const [victim] = model.splice(rand(model.length), 1);
        expect(be.ioasUnmap(ioas, victim!.start, victim!.last - victim!.start + 1n)).toBe(victim!.last - victim!.start + 1n);
      } else {
        const length = BigInt((1 + rand(40)) * PAGE);
        const iova = be.ioasMap(ioas, RW, mem(Number(length)), 0n);
        expect(iova).toBe(modelAlloc(length));
        model.push({ start: iova, last: iova + length - 1n });
      }
    }
  });
});

describe('iopt_check_iova() and unmap rules', () => {
  test('errno order: alignment, overflow, reserved, existing', () => {
    const be = SimBackend.open();
    const ioas = be.ioasAlloc();
    be.mockDomain(ioas);
    const m = mem(PAGE);
    expect(errno(() => be.ioasMap(ioas, FIXED, m, MOCK_APERTURE_START + 1n))).toBe('EINVAL');
    expect(errno(() => be.ioasMap(ioas, FIXED, m, U64_MAX - 2047n))).toBe('EOVERFLOW');
    expect(errno(() => be.ioasMap(ioas, FIXED, m, 0n))).toBe('EINVAL');
    be.ioasMap(ioas, FIXED, m, MOCK_APERTURE_START);
    expect(errno(() => be.ioasMap(ioas, FIXED, m, MOCK_APERTURE_START))).toBe('EEXIST');
    expect(errno(() => be.ioasMap(ioas, 1, m, MOCK_APERTURE_START))).toBe('EINVAL'); // neither R nor W
    expect(errno(() => be.ioasMap(ioas, FIXED | 8, m, MOCK_APERTURE_START))).toBe('EOPNOTSUPP');
  });

  test('unmap removes whole areas only; a failure keeps the areas before it unmapped', () => {
    const be = SimBackend.open();
    const ioas = be.ioasAlloc();
    for (let i = 0n; i < 4n; i++) be.ioasMap(ioas, FIXED, mem(2 * PAGE), 0x100000n + i * 0x2000n);
    expect(errno(() => be.ioasUnmap(ioas, 0x100000n, 0x5000n))).toBe('ENOENT'); // cuts the third area
    expect(errno(() => be.ioasUnmap(ioas, 0x100000n, 0x4000n))).toBe('ENOENT'); // the first two went already
    expect(be.ioasUnmap(ioas, 0x104000n, 0x4000n)).toBe(0x4000n);
    expect(errno(() => be.ioasUnmap(ioas, 0x104000n, 0n))).toBe('EINVAL');
    expect(errno(() => be.ioasUnmap(ioas, U64_MAX, 1n))).toBe('EOVERFLOW');
    expect(be.ioasUnmap(ioas, 0n, U64_MAX)).toBe(0n); // unmap-all of nothing succeeds
  });
});
