// TEST_F(iommufd_ioas, ...) of tools/testing/selftests/iommu/iommufd.c about the
// IOAS's alignment and IOVA choice: ioas_option_huge_pages, ioas_iova_alloc,
// ioas_align_change and copy_sweep, on every variant of the iommufd_ioas fixture.
import { expect } from 'vitest';
import {
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  MOCK_APERTURE_START,
} from '../../lib/index.js';
import { expectErrno } from '../helpers.js';
import { BUFFER_SIZE, MOCK_PAGE_SIZE, PAGE_SIZE, buffer } from './harness.js';
import { type IoasSelf, iommufd_ioas } from './ioas-fixture.js';

// IOMMU_OPTION(HUGE_PAGES) on the fixture's IOAS with a raw val64, as the C test
// fills struct iommu_option: the typed `ioas.hugePages` is a boolean, and this
// test checks the exact value the kernel answers and refuses values above 1.
function hugePagesOption(self: IoasSelf, op: number, val64: bigint): bigint {
  return self.fd.backend.option(IOMMU_OPTION_HUGE_PAGES, op, self.ioas.id, val64);
}

iommufd_ioas.test('ioas_option_huge_pages', (self) => {
  expect(hugePagesOption(self, IOMMU_OPTION_OP_GET, 3n)).toBe(1n);

  hugePagesOption(self, IOMMU_OPTION_OP_SET, 0n);

  expect(hugePagesOption(self, IOMMU_OPTION_OP_GET, 3n)).toBe(0n);

  expectErrno('EINVAL', () => hugePagesOption(self, IOMMU_OPTION_OP_SET, 2n), 'IOMMU_OPTION');

  hugePagesOption(self, IOMMU_OPTION_OP_SET, 1n);
});

iommufd_ioas.test('ioas_iova_alloc', (self, variant) => {
  for (let length = 1; length !== PAGE_SIZE * 2; length++) {
    if (variant.mockDomains && length % MOCK_PAGE_SIZE) {
      expectErrno('EINVAL', () => self.ioas.mapAnywhere(buffer(), { length }));
    } else {
      const iova = self.ioas.mapAnywhere(buffer(), { length });
      self.ioas.unmap(iova, length);
    }
  }
});

iommufd_ioas.test('ioas_align_change', (self, variant) => {
  // With a domain attached and a mapping present the alignment cannot be raised:
  // the test has nothing to do there.
  if (variant.mockDomains) return;

  // Aligned mappings allow raising the alignment to PAGE_SIZE (huge pages off).
  self.ioas.mapFixed(MOCK_APERTURE_START, buffer(), { length: PAGE_SIZE });
  self.ioas.hugePages = false;

  // Then a misaligned map fails ...
  expectErrno('EINVAL', () =>
    self.ioas.mapFixed(MOCK_APERTURE_START + BigInt(PAGE_SIZE), buffer(), { offset: MOCK_PAGE_SIZE, length: PAGE_SIZE }),
  );
  self.ioas.hugePages = false;

  // ... until the alignment is relaxed again.
  self.ioas.hugePages = true;

  // A misaligned mapping now present blocks raising the alignment.
  self.ioas.mapFixed(MOCK_APERTURE_START + BigInt(PAGE_SIZE), buffer(), { offset: MOCK_PAGE_SIZE, length: PAGE_SIZE });
  expectErrno('EADDRINUSE', () => (self.ioas.hugePages = false), 'IOMMU_OPTION');

  self.ioas.unmap(MOCK_APERTURE_START + BigInt(PAGE_SIZE), PAGE_SIZE);
  self.ioas.unmap(MOCK_APERTURE_START, PAGE_SIZE);
});

iommufd_ioas.test('copy_sweep', (self, variant) => {
  const dst = self.fd.allocIoas();
  // Write-only copies of one mock page to a fixed IOVA of the second IOAS.
  const copy = { dstIova: MOCK_APERTURE_START, readable: false, writeable: true };

  // Without a domain the mapping may end on an odd byte.
  const lastIova = MOCK_APERTURE_START + BigInt(BUFFER_SIZE) - (variant.mockDomains ? 1n : 2n);

  self.ioas.mapFixed(MOCK_APERTURE_START, buffer(), { length: Number(lastIova - MOCK_APERTURE_START + 1n) });

  for (let iova = MOCK_APERTURE_START - BigInt(PAGE_SIZE); iova <= lastIova; iova += 511n) {
    if (iova < MOCK_APERTURE_START || iova + BigInt(MOCK_PAGE_SIZE) - 1n > lastIova) {
      expectErrno('ENOENT', () => dst.copyFrom(self.ioas, iova, MOCK_PAGE_SIZE, copy), 'IOMMU_IOAS_COPY');
    } else {
      dst.copyFrom(self.ioas, iova, MOCK_PAGE_SIZE, copy);
      dst.unmap(copy.dstIova, MOCK_PAGE_SIZE);
    }
  }

  dst.destroy();
});
