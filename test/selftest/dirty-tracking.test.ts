// FIXTURE(iommufd_dirty_tracking) of tools/testing/selftests/iommu/iommufd.c: a
// mock device (with huge IO pages for the *_huge variants) on an IOAS, a buffer
// of the variant's size to map, and a bitmap with a spare page for unaligned use.
import { expect } from 'vitest';
import {
  DmaBuffer,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HW_CAP_DIRTY_TRACKING,
  MOCK_FLAGS_DEVICE_PASID,
  MOCK_APERTURE_START,
  type Hwpt,
  type Iommufd,
  type Ioas,
  type MockDevice,
} from '../../lib/index.js';
import { capabilities, kernelVersion, openIommufd } from '../backend.js';
import { expectErrno } from '../helpers.js';
import { HUGEPAGE_SIZE, MOCK_HUGE_PAGE_SIZE, MOCK_PAGE_SIZE, PAGE_SIZE, fixture, hugetlbShared, kernelLacks, teardownIommufd } from './harness.js';

interface DirtyVariant {
  bufferSize: number;
  hugepages: boolean;
}

interface DirtySelf {
  fd: Iommufd;
  ioas: Ioas;
  /** stdev_id / hwpt_id / idev_id of the fixture's mock device. */
  mock: MockDevice;
  pageSize: number;
  /** Bits in the bitmap: one per MOCK_PAGE_SIZE of the buffer. */
  bitmapSize: number;
  bitmap: DmaBuffer;
  buffer: DmaBuffer;
}

const KiB = 1024;
const MiB = 1024 * KiB;

const iommufd_dirty_tracking = fixture<DirtySelf, DirtyVariant>(
  'iommufd_dirty_tracking',
  {
    // Half of one byte of bitmap.
    domain_dirty8k: { bufferSize: 8 * KiB, hugepages: false },
    // One byte.
    domain_dirty16k: { bufferSize: 16 * KiB, hugepages: false },
    // One u32.
    domain_dirty64k: { bufferSize: 64 * KiB, hugepages: false },
    // One u64.
    domain_dirty128k: { bufferSize: 128 * KiB, hugepages: false },
    // Two u64 and a partial one.
    domain_dirty320k: { bufferSize: 320 * KiB, hugepages: false },
    // 4 KiB of bitmap for 64 MiB of IOVA.
    domain_dirty64M: { bufferSize: 64 * MiB, hugepages: false },
    domain_dirty64M_huge: { bufferSize: 64 * MiB, hugepages: true },
    // 8 KiB of bitmap for 128 MiB of IOVA.
    domain_dirty128M: { bufferSize: 128 * MiB, hugepages: false },
    domain_dirty128M_huge: { bufferSize: 128 * MiB, hugepages: true },
  },
  (variant, _ctx, made) => {
    // The C setup skips buffers smaller than MOCK_PAGE_SIZE; no variant has one.
    // What is made goes into `made` at once: teardown releases it if a later step fails.
    const fd = (made.fd = openIommufd());

    // MAP_SHARED | MAP_ANONYMOUS, with hugetlb pages (at least one) for the huge variants.
    let mmapBufferSize = variant.bufferSize;
    if (variant.hugepages && mmapBufferSize < HUGEPAGE_SIZE) mmapBufferSize = HUGEPAGE_SIZE;
    const buffer = (made.buffer = DmaBuffer.alloc(mmapBufferSize, variant.hugepages ? hugetlbShared() : { shared: true }));

    const pageSize = MOCK_PAGE_SIZE;
    const bitmapSize = variant.bufferSize / pageSize;
    // A page more than the bits need, for the unaligned bitmaps.
    const bitmap = (made.bitmap = DmaBuffer.alloc(Math.ceil(bitmapSize / 8) + PAGE_SIZE));

    const ioas = fd.allocIoas();
    // 7.3: without huge pages iommufd maps CPU page by CPU page, so each leaf of
    // the AMDv1 mock spans two MOCK_PAGE_SIZE entries and is reported dirty whole.
    if (kernelVersion() !== '6.12' && !variant.hugepages) ioas.hugePages = false;
    // 1 MiB IO pages in the mock domain for the huge variants (7.3: MOCK_IOMMUPT_HUGE HWPTs).
    const mock = variant.hugepages ? fd.mockDomain(ioas, { hugeIova: true }) : fd.mockDomain(ioas);
    return Object.assign(made, { fd, ioas, mock, pageSize, bitmapSize, bitmap, buffer });
  },
  (self) => {
    // Close first: a DmaBuffer cannot be freed while the fd's IOASes map it.
    // (After a failed setup only some of these exist.)
    self.fd?.close();
    self.buffer?.free();
    self.bitmap?.free();
    if (self.fd) teardownIommufd(self.fd);
  },
);

function testBit(bytes: Uint8Array, i: number): boolean {
  return ((bytes[i >> 3]! >> (i & 7)) & 1) === 1;
}

/** One ASSERT_EQ(expected, test_bit(i)) of the selftest, cheap when it holds. */
function expectBit(bytes: Uint8Array, i: number, expected: boolean): void {
  const actual = testBit(bytes, i);
  if (actual !== expected) expect(actual, `bit ${i} of the dirty bitmap`).toBe(expected);
}

/**
 * test_mock_dirty_bitmaps(): have the mock mark the first IO page of every
 * other PTE dirty, read the bitmap (at `offset` bytes into `bitmap`) and find
 * exactly those PTEs' bits set, then read it again and find them clear (or
 * still set with noClear).
 */
function testMockDirtyBitmaps(
  hwpt: Hwpt,
  length: number,
  iova: bigint,
  pageSize: number,
  ptePageSize: number,
  bitmap: DmaBuffer,
  offset: number,
  nbits: number,
  noClear: boolean,
): void {
  const npte = ptePageSize / pageSize;
  const pteset = 2 * npte;
  const nr = Math.floor(nbits / pteset) || 1;
  const bitmapSize = Math.ceil(nbits / 8);
  const bytes = bitmap.bytes.subarray(offset);

  // Every other PTE dirty in the mock domain.
  bytes.fill(0, 0, bitmapSize);
  for (let i = 0; i < nbits; i += pteset) bytes[i >> 3]! |= 1 << (i & 7);
  const outDirty = hwpt.markDirty(iova, length, bytes.subarray(0, bitmapSize), pageSize);
  expect(outDirty).toBe(BigInt(nr));

  // Each dirty PTE shows as its npte IO pages.
  bytes.fill(0, 0, bitmapSize);
  hwpt.readDirtyBitmap(iova, length, bitmap, { offset, pageSize, noClear });
  for (let i = 0; i < nbits; i += pteset) {
    for (let j = 0; j < pteset; j++) expectBit(bytes, i + j, j < npte);
    expectBit(bytes, i, i % pteset === 0);
  }

  bytes.fill(0, 0, bitmapSize);
  hwpt.readDirtyBitmap(iova, length, bitmap, { offset, pageSize, noClear });

  // Read (and cleared) already: nothing, unless the reads left the bits set.
  for (let i = 0; i < nbits; i += pteset) {
    for (let j = 0; j < pteset; j++) expectBit(bytes, i + j, j < npte && noClear);
  }
}

iommufd_dirty_tracking.test('enforce_dirty', (self) => {
  // A device that cannot track dirty pages may not join a dirty-tracking HWPT.
  const hwpt = self.fd.allocHwpt(self.mock, self.ioas, { dirtyTracking: true });
  const stddev = self.fd.mockDomain(hwpt);
  expectErrno('EINVAL', () => self.fd.mockDomain(hwpt, { noDirty: true }));
  stddev.destroy();
  hwpt.destroy();

  // Nor may one allocate a dirty-tracking HWPT for such a device.
  const ioas = self.fd.allocIoas();
  const noDirty = self.fd.mockDomain(ioas, { noDirty: true });
  expectErrno('EOPNOTSUPP', () => self.fd.allocHwpt(noDirty, ioas, { dirtyTracking: true }));
  noDirty.destroy();
});

iommufd_dirty_tracking.test('set_dirty_tracking', (self) => {
  const hwpt = self.fd.allocHwpt(self.mock, self.ioas, { dirtyTracking: true });
  const stddev = self.fd.mockDomain(hwpt);
  hwpt.setDirtyTracking(true);
  hwpt.setDirtyTracking(false);

  stddev.destroy();
  hwpt.destroy();
});

// 7.3: a PASID of a MOCK_FLAGS_DEVICE_PASID device on a PASID-capable dirty-tracking HWPT.
iommufd_dirty_tracking.test('pasid_set_dirty_tracking', (self, _variant, ctx) => {
  if (!capabilities().testOps.PASID_ATTACH) kernelLacks(ctx, 'IOMMU_TEST_OP_PASID_ATTACH');
  const pasid = 100;
  const hwpt = self.fd.allocHwpt(self.mock, self.ioas, { flags: IOMMU_HWPT_ALLOC_PASID, dirtyTracking: true });
  let stddev = self.fd.mockDomain(hwpt, { flags: MOCK_FLAGS_DEVICE_PASID });
  stddev.attachPasid(pasid, hwpt);
  hwpt.setDirtyTracking(true);
  hwpt.setDirtyTracking(false);
  stddev.detachPasid(pasid);
  stddev.destroy();

  // A device that cannot track dirty pages, its RID on an IOAS's automatic domain.
  const ioas = self.fd.allocIoas();
  stddev = self.fd.mockDomain(ioas, { flags: MOCK_FLAGS_DEVICE_PASID, noDirty: true });
  expectErrno('EINVAL', () => stddev.attachPasid(pasid, hwpt), 'IOMMU_TEST_OP_PASID_ATTACH');
  stddev.destroy();
  hwpt.destroy();
});

iommufd_dirty_tracking.test('device_dirty_capability', (self) => {
  const hwpt = self.fd.allocHwpt(self.mock, self.ioas);
  const stddev = self.fd.mockDomain(hwpt);
  const caps = self.fd.hwInfo(self.mock, 0).capabilities;
  expect(caps & BigInt(IOMMU_HW_CAP_DIRTY_TRACKING)).toBe(BigInt(IOMMU_HW_CAP_DIRTY_TRACKING));

  stddev.destroy();
  hwpt.destroy();
});

// get_dirty_bitmap and get_dirty_bitmap_no_clear: the same walk, with and without clearing.
function getDirtyBitmapAtOffsets(self: DirtySelf, variant: DirtyVariant, noClear: boolean): void {
  // The PTE: 6.12's MOCK_PAGE_SIZE entry; 7.3's leaf, a CPU page (huge pages off).
  const on612 = kernelVersion() === '6.12';
  const pageSize = variant.hugepages ? MOCK_HUGE_PAGE_SIZE : on612 ? MOCK_PAGE_SIZE : PAGE_SIZE;
  const { bufferSize } = variant;

  // 6.12 maps into an IOAS of its own, 7.3 into the fixture's.
  const ioas = on612 ? self.fd.allocIoas() : self.ioas;
  ioas.mapFixed(MOCK_APERTURE_START, self.buffer, { length: bufferSize });

  const hwpt = self.fd.allocHwpt(self.mock, ioas, { dirtyTracking: true });

  hwpt.setDirtyTracking(true);

  // At the bitmap's start, at an offset that is not a page boundary, nor a u64 one.
  for (const offset of [0, MOCK_PAGE_SIZE, 0xff1])
    testMockDirtyBitmaps(hwpt, bufferSize, MOCK_APERTURE_START, self.pageSize, pageSize, self.bitmap, offset, self.bitmapSize, noClear);

  hwpt.destroy();
}

iommufd_dirty_tracking.test('get_dirty_bitmap', (self, variant) => getDirtyBitmapAtOffsets(self, variant, false));

iommufd_dirty_tracking.test('get_dirty_bitmap_no_clear', (self, variant) => getDirtyBitmapAtOffsets(self, variant, true));
