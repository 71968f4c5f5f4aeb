// The access kAPI through the mock (IOMMU_TEST_OP_CREATE_ACCESS and friends),
// on a real kernel.
import { afterEach, describe, expect, test } from 'vitest';
import { DmaBuffer, MOCK_APERTURE_START } from '../../lib/index.js';
import { PAGE_SIZE, expectBytes, expectErrno, fillPattern, patternedBuffer } from '../helpers.js';
import { scenarioFixture } from './fixture.js';

const BUFFER_SIZE = 16 * PAGE_SIZE;

const self = scenarioFixture({ extra: () => ({ buffer: patternedBuffer(BUFFER_SIZE) }), release: ({ buffer }) => buffer.free() });

describe('pinning through an access', () => {
  test('an unmap under a pin makes the access drop it (the unmap callback)', () => {
    const iova = self.ioas.mapFixed(MOCK_APERTURE_START, self.buffer);
    expect(iova).toBe(MOCK_APERTURE_START);
    self.fd.checkRefs(self.buffer, 0); // no domain: mapping alone pins nothing

    using access = self.fd.createAccess(self.ioas, { needsPinPages: true });
    const pinned = access.pinPages(iova, BUFFER_SIZE, { verify: { memory: self.buffer } });
    self.fd.checkRefs(self.buffer, 1);

    expect(self.ioas.unmap(iova, BUFFER_SIZE)).toBe(BigInt(BUFFER_SIZE));
    self.fd.checkRefs(self.buffer, 0);
    expectErrno('ENOENT', () => pinned.unpin(), 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES');
  });

  test('pins of every length are counted once per page and released by unpin', () => {
    const iova = self.ioas.mapFixed(MOCK_APERTURE_START, self.buffer);
    using access = self.fd.createAccess(self.ioas, { needsPinPages: true });
    for (let npages = 1; npages < BUFFER_SIZE / PAGE_SIZE; npages++) {
      const length = npages * PAGE_SIZE;
      const first = access.pinPages(iova, length, { verify: { memory: self.buffer } });
      const second = access.pinPages(iova, length, { write: true, verify: { memory: self.buffer } });
      expect(second.id).not.toBe(first.id);
      self.fd.checkRefs(self.buffer, 1, { length });
      self.fd.checkRefs(self.buffer, 0, { offset: length });
      second.unpin();
      self.fd.checkRefs(self.buffer, 1, { length });
      first.unpin();
      self.fd.checkRefs(self.buffer, 0);
    }
  });

  test('a pin survives attaching and removing a mock domain', () => {
    const iova = self.ioas.mapFixed(MOCK_APERTURE_START, self.buffer);
    using access = self.fd.createAccess(self.ioas, { needsPinPages: true });
    const pinned = access.pinPages(iova, BUFFER_SIZE, { verify: { memory: self.buffer } });
    const mock = self.fd.mockDomain(self.ioas);
    mock.checkMap(iova, self.buffer);
    self.fd.checkRefs(self.buffer, 1);
    mock.destroy();
    self.fd.checkRefs(self.buffer, 1);
    pinned.unpin();
    self.fd.checkRefs(self.buffer, 0);
  });

  test('verify catches pinned pages that are not the given memory', () => {
    const iova = self.ioas.mapFixed(MOCK_APERTURE_START, self.buffer);
    using other = DmaBuffer.alloc(BUFFER_SIZE);
    other.bytes.fill(1); // fault the pages in so the mock has something to compare
    using access = self.fd.createAccess(self.ioas, { needsPinPages: true });
    // iommufd_test_check_pages() answers EBADE for pages that are not the expected ones.
    expectErrno('EBADE', () => access.pinPages(iova, PAGE_SIZE, { verify: { memory: other } }));
    self.fd.checkRefs(self.buffer, 0); // the failed pin left nothing behind
  });

  test('an access without NEEDS_PIN_PAGES cannot pin', () => {
    const iova = self.ioas.mapFixed(MOCK_APERTURE_START, self.buffer);
    using access = self.fd.createAccess(self.ioas);
    expectErrno('EOPNOTSUPP', () => access.pinPages(iova, PAGE_SIZE));
  });

  test('pinning an unmapped IOVA fails', () => {
    using access = self.fd.createAccess(self.ioas, { needsPinPages: true });
    expectErrno('ENOENT', () => access.pinPages(MOCK_APERTURE_START, PAGE_SIZE));
  });

  test('closing the access releases its pins', () => {
    const iova = self.ioas.mapFixed(MOCK_APERTURE_START, self.buffer);
    const access = self.fd.createAccess(self.ioas, { needsPinPages: true });
    access.pinPages(iova, BUFFER_SIZE);
    self.fd.checkRefs(self.buffer, 1);
    access.close();
    self.fd.checkRefs(self.buffer, 0);
    expect(() => access.pinPages(iova, PAGE_SIZE)).toThrow(/closed/);
  });
});

describe('access_rw', () => {
  // The selftest's sweep: IOVAs within 50 bytes of a page boundary, lengths 1..63,
  // a read then a write at each. Mismatches are collected, not asserted one by
  // one: 12 600 expect() calls cost more than the ioctls under TCG.
  function sweep(slowPath: boolean): void {
    const base = self.ioas.mapFixed(MOCK_APERTURE_START, self.buffer);
    using access = self.fd.createAccess(self.ioas);
    const tmp = Buffer.alloc(64);
    const mapped = Buffer.from(self.buffer.buffer);
    const mismatches: string[] = [];
    let seed = 7;
    for (let offset = PAGE_SIZE - 50; offset < PAGE_SIZE + 50; offset++) {
      for (let length = 1; length < tmp.length; length++) {
        access.rw(base + BigInt(offset), tmp, { length, slowPath });
        if (tmp.compare(mapped, offset, offset + length, 0, length) !== 0) mismatches.push(`read ${offset}+${length}`);

        fillPattern(tmp, seed++);
        access.rw(base + BigInt(offset), tmp, { length, slowPath, write: true });
        if (tmp.compare(mapped, offset, offset + length, 0, length) !== 0) mismatches.push(`write ${offset}+${length}`);
      }
    }
    expect(mismatches).toEqual([]);
  }

  test('reads and writes around a page boundary', () => sweep(false));
  test('reads and writes around a page boundary on the slow path', () => sweep(true));

  test.each([false, true])('multi-page transfers, slowPath=%s', (slowPath) => {
    const base = self.ioas.mapFixed(MOCK_APERTURE_START, self.buffer);
    using access = self.fd.createAccess(self.ioas);
    const offset = 123;
    const length = BUFFER_SIZE - 2 * offset;
    expectBytes(access.read(base + BigInt(offset), length, { slowPath }), self.buffer.bytes.subarray(offset, offset + length));
    const data = new Uint8Array(length);
    fillPattern(data, 99);
    access.write(base + BigInt(offset), data, { slowPath });
    expectBytes(self.buffer.bytes.subarray(offset, offset + length), data);
  });

  test('spans two separately mapped areas', () => {
    const half = BUFFER_SIZE / 2;
    self.ioas.mapFixed(MOCK_APERTURE_START, self.buffer, { length: half });
    self.ioas.mapFixed(MOCK_APERTURE_START + BigInt(half), self.buffer, { offset: half, length: half });
    using access = self.fd.createAccess(self.ioas);
    const start = MOCK_APERTURE_START + BigInt(half - 100);
    expectBytes(access.read(start, 200), self.buffer.bytes.subarray(half - 100, half + 100));
  });

  test('a read-only mapping refuses writes through the access', () => {
    const base = self.ioas.mapFixed(MOCK_APERTURE_START, self.buffer, { writeable: false });
    using access = self.fd.createAccess(self.ioas);
    expectBytes(access.read(base, 16), self.buffer.bytes.subarray(0, 16));
    expectErrno('EPERM', () => access.write(base, new Uint8Array(16)));
  });

  test('reading an unmapped IOVA fails with ENOENT', () => {
    using access = self.fd.createAccess(self.ioas);
    expectErrno('ENOENT', () => access.read(MOCK_APERTURE_START, 16));
  });
});

describe('replacing the IOAS of an access', () => {
  test('the access follows the new IOAS', () => {
    const other = self.fd.allocIoas();
    using second = patternedBuffer(PAGE_SIZE, 42);
    self.ioas.mapFixed(MOCK_APERTURE_START, self.buffer);
    other.mapFixed(MOCK_APERTURE_START, second);
    using access = self.fd.createAccess(self.ioas);
    expectBytes(access.read(MOCK_APERTURE_START, 32), self.buffer.bytes.subarray(0, 32));
    access.replaceIoas(other);
    expectBytes(access.read(MOCK_APERTURE_START, 32), second.bytes.subarray(0, 32));
    expectErrno('EBUSY', () => other.destroy());
    access.close();
    other.unmapAll();
    other.destroy();
  });

  test('replacing with an unknown IOAS id fails with ENOENT and keeps the old one', () => {
    self.ioas.mapFixed(MOCK_APERTURE_START, self.buffer);
    using access = self.fd.createAccess(self.ioas);
    const ghost = self.fd.allocIoas();
    ghost.destroy();
    expectErrno('ENOENT', () => access.replaceIoas(ghost));
    expectBytes(access.read(MOCK_APERTURE_START, 8), self.buffer.bytes.subarray(0, 8));
  });
});

describe('temporary memory limit', () => {
  // The limit caps the scratch memory pages.c uses for page batches (bytes);
  // the selftest's mock_domain_limit variant runs everything with 16.
  afterEach(() => self.fd.setTempMemoryLimit(65536)); // the mock's default

  test('below the size of one batch element it is EINVAL', () => {
    expectErrno('EINVAL', () => self.fd.setTempMemoryLimit(11), 'IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT');
  });

  test('tiny batches still pin, map and copy correctly', () => {
    self.fd.setTempMemoryLimit(16);
    const iova = self.ioas.mapFixed(MOCK_APERTURE_START, self.buffer);
    const mock = self.fd.mockDomain(self.ioas);
    mock.checkMap(iova, self.buffer);
    using access = self.fd.createAccess(self.ioas, { needsPinPages: true });
    const pinned = access.pinPages(iova, BUFFER_SIZE, { verify: { memory: self.buffer } });
    self.fd.checkRefs(self.buffer, 1);
    expectBytes(access.read(iova + 4000n, 200), self.buffer.bytes.subarray(4000, 4200));
    pinned.unpin();
    mock.destroy();
  });
});
