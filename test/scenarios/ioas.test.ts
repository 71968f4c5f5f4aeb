// IOAS ioctls (alloc, map, unmap, iova ranges, destroy) and mock domains on a real kernel.
import { describe, expect, test } from 'vitest';
import { DmaBuffer, MOCK_APERTURE_LAST, MOCK_APERTURE_START, U64_MAX } from '../../lib/index.js';
import { MiB, PAGE_SIZE, expectErrno, patternedBuffer } from '../helpers.js';
import { scenarioFixture } from './fixture.js';

const self = scenarioFixture();

function inside(iova: bigint, length: bigint, ranges: { start: bigint; last: bigint }[]): boolean {
  return ranges.some((r) => iova >= r.start && iova + length - 1n <= r.last);
}

describe('IOMMU_IOAS_ALLOC / IOMMU_DESTROY', () => {
  test('ids are distinct, destroy frees them, and a second destroy is ENOENT', () => {
    const other = self.fd.allocIoas();
    expect(other.id).not.toBe(self.ioas.id);
    other.destroy();
    expectErrno('ENOENT', () => self.fd.destroy(other.id), 'IOMMU_DESTROY');
  });

  test('an unknown object id is ENOENT', () => {
    expectErrno('ENOENT', () => self.fd.destroy(0xffff), 'IOMMU_DESTROY');
  });

  test('destroying an IOAS that a mock domain uses is EBUSY', () => {
    const mock = self.fd.mockDomain(self.ioas);
    expectErrno('EBUSY', () => self.ioas.destroy(), 'IOMMU_DESTROY');
    mock.destroy();
    self.ioas.destroy();
    expect(self.ioas.destroyed).toBe(true);
  });

  test('an IOAS with mappings is destroyed with them', () => {
    using buffer = DmaBuffer.alloc(PAGE_SIZE);
    for (let i = 0n; i < 10n; i++) self.ioas.mapFixed(MOCK_APERTURE_START + i * BigInt(PAGE_SIZE), buffer);
    expect(buffer.mappings).toBe(10);
    self.ioas.destroy();
    expect(buffer.mappings).toBe(0);
  });
});

describe('IOMMU_IOAS_IOVA_RANGES', () => {
  test('without a domain the whole 64-bit space is allowed', () => {
    const { ranges, alignment } = self.ioas.iovaRanges();
    expect(ranges).toEqual([{ start: 0n, last: U64_MAX }]);
    expect(alignment).toBe(1n);
  });

  test('a mock domain limits it to the mock aperture', () => {
    self.fd.mockDomain(self.ioas);
    const { ranges, alignment } = self.ioas.iovaRanges();
    expect(ranges).toEqual([{ start: MOCK_APERTURE_START, last: MOCK_APERTURE_LAST }]);
    expect(alignment).toBe(BigInt(PAGE_SIZE / 2)); // MOCK_IO_PAGE_SIZE
  });

  test('an unknown IOAS id is ENOENT', () => {
    const ghost = self.fd.allocIoas();
    ghost.destroy();
    expectErrno('ENOENT', () => self.fd.backend.ioasIovaRanges(ghost.id), 'IOMMU_IOAS_IOVA_RANGES');
  });
});

describe('IOMMU_IOAS_MAP and IOMMU_IOAS_UNMAP', () => {
  test('kernel-allocated IOVAs are aligned and inside the allowed ranges', () => {
    using buffer = DmaBuffer.alloc(4 * MiB, { hugePages: 'transparent' }); // 2 MiB aligned uptr
    for (const domain of [false, true]) {
      if (domain) self.fd.mockDomain(self.ioas);
      const { ranges, alignment } = self.ioas.iovaRanges();
      for (const length of [PAGE_SIZE, 3 * PAGE_SIZE, 64 * 1024, 2 * MiB, 4 * MiB]) {
        const iova = self.ioas.mapAnywhere(buffer, { length });
        // iopt_alloc_iova(): aligned to min(roundup_pow_of_two(length), 2 MiB) here.
        let natural = 1n;
        while (natural < BigInt(length)) natural <<= 1n;
        const expected = natural < 2n * BigInt(MiB) ? natural : 2n * BigInt(MiB);
        expect(iova % expected).toBe(0n);
        expect(iova % alignment).toBe(0n);
        expect(iova).not.toBe(0n);
        expect(inside(iova, BigInt(length), ranges)).toBe(true);
      }
      self.ioas.unmapAll();
    }
  });

  test('distinct kernel-allocated IOVAs do not overlap', () => {
    using buffer = DmaBuffer.alloc(PAGE_SIZE);
    const iovas = Array.from({ length: 8 }, () => self.ioas.mapAnywhere(buffer));
    const sorted = [...iovas].sort((a, b) => (a < b ? -1 : 1));
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]! - sorted[i - 1]!).toBeGreaterThanOrEqual(BigInt(PAGE_SIZE));
    expect(buffer.mappings).toBe(8);
    expect(self.ioas.unmapAll()).toBe(BigInt(8 * PAGE_SIZE));
    expect(buffer.mappings).toBe(0);
  });

  test('fixed IOVAs above 2^53 round-trip exactly', () => {
    using buffer = DmaBuffer.alloc(2 * PAGE_SIZE);
    const high = (1n << 60n) + (1n << 53n) + BigInt(PAGE_SIZE); // not representable as a double
    expect(Number(high)).not.toBe(high);
    expect(self.ioas.mapFixed(high, buffer)).toBe(high);
    expectErrno('EEXIST', () => self.ioas.mapFixed(high + BigInt(PAGE_SIZE), buffer));
    using access = self.fd.createAccess(self.ioas);
    buffer.bytes.set([1, 2, 3, 4], PAGE_SIZE);
    expect([...access.read(high + BigInt(PAGE_SIZE), 4)]).toEqual([1, 2, 3, 4]);
    expect(self.ioas.unmap(high, 2 * PAGE_SIZE)).toBe(BigInt(2 * PAGE_SIZE));
    // The top page of the address space, where iova + length would wrap past 2^64.
    const top = U64_MAX - BigInt(PAGE_SIZE) + 1n;
    expect(self.ioas.mapFixed(top, buffer, { length: PAGE_SIZE })).toBe(top);
    expect(self.ioas.unmap(top, PAGE_SIZE)).toBe(BigInt(PAGE_SIZE));
  });

  test('a fixed map outside the mock aperture hits a reserved range: EINVAL', () => {
    using buffer = DmaBuffer.alloc(PAGE_SIZE);
    self.fd.mockDomain(self.ioas);
    const error = expectErrno('EINVAL', () => self.ioas.mapFixed(MOCK_APERTURE_LAST + 1n, buffer), 'IOMMU_IOAS_MAP');
    expect(error.message).toMatch(/^IOMMU_IOAS_MAP failed: EINVAL/);
    expect(buffer.mappings).toBe(0); // a failed map holds no reference
  });

  test('the mock domain maps exactly the given memory', () => {
    using buffer = patternedBuffer(8 * PAGE_SIZE);
    const mock = self.fd.mockDomain(self.ioas);
    const iova = self.ioas.mapAnywhere(buffer);
    mock.checkMap(iova, buffer);
    self.fd.checkRefs(buffer, 1); // a domain pins what it maps
    expectErrno('EINVAL', () => mock.checkMap(iova + BigInt(PAGE_SIZE), buffer, { length: PAGE_SIZE }));
    self.ioas.unmap(iova, 8 * PAGE_SIZE);
    self.fd.checkRefs(buffer, 0);
    expectErrno('EINVAL', () => mock.checkMap(iova, buffer, { length: PAGE_SIZE }));
  });

  test('unmap of an empty range or of a range cutting an area is ENOENT', () => {
    // iommufd_ioas_unmap(): nothing unmapped -> ENOENT; iopt_unmap_iova_range():
    // an area sticking out of the range -> ENOENT too.
    using buffer = DmaBuffer.alloc(4 * PAGE_SIZE);
    expectErrno('ENOENT', () => self.ioas.unmap(MOCK_APERTURE_START, PAGE_SIZE), 'IOMMU_IOAS_UNMAP');
    self.ioas.mapFixed(MOCK_APERTURE_START, buffer);
    expectErrno('ENOENT', () => self.ioas.unmap(MOCK_APERTURE_START, PAGE_SIZE), 'IOMMU_IOAS_UNMAP');
    expectErrno('ENOENT', () => self.ioas.unmap(MOCK_APERTURE_START + BigInt(PAGE_SIZE), 4 * PAGE_SIZE));
    expect(buffer.mappings).toBe(1); // the failed unmap did not drop the reference
    expect(self.ioas.unmap(MOCK_APERTURE_START, 4 * PAGE_SIZE)).toBe(BigInt(4 * PAGE_SIZE));
    expect(buffer.mappings).toBe(0);
  });

  test('an area a failed unmap removed keeps its memory referenced until its IOVA is mapped again', () => {
    // iopt_unmap_iova_range() removes the areas in front of one that sticks out
    // of the range, then fails: the first mapping is gone from the kernel but
    // its reference stays (never frees mapped memory) until a new mapping at
    // that IOVA proves the old one gone.
    using first = DmaBuffer.alloc(PAGE_SIZE);
    using second = DmaBuffer.alloc(2 * PAGE_SIZE);
    self.ioas.mapFixed(MOCK_APERTURE_START, first);
    self.ioas.mapFixed(MOCK_APERTURE_START + BigInt(PAGE_SIZE), second);
    expectErrno('ENOENT', () => self.ioas.unmap(MOCK_APERTURE_START, 2 * PAGE_SIZE), 'IOMMU_IOAS_UNMAP');
    expectErrno('ENOENT', () => self.ioas.unmap(MOCK_APERTURE_START, PAGE_SIZE), 'IOMMU_IOAS_UNMAP'); // removed
    expect(first.mappings).toBe(1);
    self.ioas.mapFixed(MOCK_APERTURE_START, first);
    expect(first.mappings).toBe(1);
    expect(self.ioas.unmap(MOCK_APERTURE_START, PAGE_SIZE)).toBe(BigInt(PAGE_SIZE));
    expect(first.mappings).toBe(0);
    expect(second.mappings).toBe(1);
    expect(self.ioas.unmapAll()).toBe(BigInt(2 * PAGE_SIZE));
    expect(second.mappings).toBe(0);
  });

  test('unmapAll on an empty IOAS unmaps nothing; a zero length is EINVAL', () => {
    expect(self.ioas.unmapAll()).toBe(0n);
    expectErrno('EINVAL', () => self.ioas.unmap(MOCK_APERTURE_START, 0), 'IOMMU_IOAS_UNMAP');
  });

  test('IOVAs or lengths of 2^64 - 1 outside unmap-all are EOVERFLOW', () => {
    using buffer = DmaBuffer.alloc(PAGE_SIZE);
    expectErrno('EOVERFLOW', () => self.ioas.mapFixed(U64_MAX, buffer), 'IOMMU_IOAS_MAP');
    expectErrno('EOVERFLOW', () => self.ioas.unmap(PAGE_SIZE, U64_MAX), 'IOMMU_IOAS_UNMAP');
  });

  test('read-only and write-only flags are accepted, neither is EINVAL', () => {
    using buffer = DmaBuffer.alloc(PAGE_SIZE);
    self.ioas.unmap(self.ioas.mapAnywhere(buffer, { writeable: false }), PAGE_SIZE);
    self.ioas.unmap(self.ioas.mapAnywhere(buffer, { readable: false }), PAGE_SIZE);
    expectErrno('EINVAL', () => self.ioas.mapAnywhere(buffer, { readable: false, writeable: false }));
  });
});
