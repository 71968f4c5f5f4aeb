// TEST_F(iommufd_ioas, access_*) of tools/testing/selftests/iommu/iommufd.c: the
// access kAPI (pin and rw through IOMMU_TEST_OP_ACCESS_*) on every variant of the
// iommufd_ioas fixture.
import { DmaBuffer, MOCK_ACCESS_RW_SLOW_PATH, MOCK_APERTURE_START } from '../../lib/index.js';
import { expectErrno } from '../helpers.js';
import { BUFFER_SIZE, HUGEPAGE_SIZE, MOCK_PAGE_SIZE, PAGE_SIZE, buffer, hugetlbShared } from './harness.js';
import { iommufd_ioas } from './ioas-fixture.js';
import { checkAccessRw } from './access-rw.js';

iommufd_ioas.test('access_domain_destory', (self) => {
  const bufSize = 2 * HUGEPAGE_SIZE;
  // The C test munmaps the buffer while the IOAS still maps it; here the IOAS
  // holds it until the fd closes, and `using` leaves it to GC after that.
  using buf = DmaBuffer.alloc(bufSize, hugetlbShared());
  self.ioas.mapFixed(self.baseIova, buf);

  const access = self.fd.createAccess(self.ioas, { needsPinPages: true });
  const pages = access.pinPages(self.baseIova + BigInt(PAGE_SIZE), PAGE_SIZE, {
    verify: { memory: buf, offset: PAGE_SIZE },
  });

  // Removing the domain unpins from it while the access pin sits inside a huge page.
  if (self.stdevId) self.fd.destroy(self.stdevId);

  pages.unpin();
  access.close();
});

iommufd_ioas.test('access_pin', (self) => {
  const access = self.fd.createAccess(self.ioas, { needsPinPages: true });
  const verify = { memory: buffer() };

  for (let npages = 1; npages < BUFFER_SIZE / PAGE_SIZE; npages++) {
    const length = npages * PAGE_SIZE;

    // One pin, one unpin.
    self.ioas.mapFixed(MOCK_APERTURE_START, buffer(), { length: BUFFER_SIZE });
    access.pinPages(MOCK_APERTURE_START, length, { verify }).unpin();

    // Two pins of the same range.
    const first = access.pinPages(MOCK_APERTURE_START, length, { verify });
    const second = access.pinPages(MOCK_APERTURE_START, length, { verify });
    second.unpin();
    first.unpin();

    // A domain comes and goes while a pin is held: it must map the same pages.
    const pinned = access.pinPages(MOCK_APERTURE_START, length, { verify });
    const mock = self.fd.mockDomain(self.ioas);
    mock.checkMap(MOCK_APERTURE_START, buffer(), { length: BUFFER_SIZE });

    self.fd.destroy(mock.stdevId);
    pinned.unpin();

    self.ioas.unmap(MOCK_APERTURE_START, BUFFER_SIZE);
  }
  access.close();
});

iommufd_ioas.test('access_pin_unmap', (self) => {
  const access = self.fd.createAccess(self.ioas, { needsPinPages: true });
  self.ioas.mapFixed(MOCK_APERTURE_START, buffer(), { length: BUFFER_SIZE });
  const pages = access.pinPages(MOCK_APERTURE_START, BUFFER_SIZE, { verify: { memory: buffer() } });

  // Unmapping under the pin calls the access's unmap op ...
  self.ioas.unmap(MOCK_APERTURE_START, BUFFER_SIZE);

  // ... which dropped the pin: it is gone already.
  expectErrno('ENOENT', () => pages.unpin(), 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES');
});

iommufd_ioas.test('access_rw', (self) => {
  const access = self.fd.createAccess(self.ioas);
  const iova = self.ioas.mapAnywhere(buffer(), { length: BUFFER_SIZE });
  checkAccessRw(self, access, iova, 0);
  checkAccessRw(self, access, iova, MOCK_ACCESS_RW_SLOW_PATH);
  self.ioas.unmap(iova, BUFFER_SIZE);
  access.close();
});

iommufd_ioas.test('access_rw_unaligned', (self) => {
  const access = self.fd.createAccess(self.ioas);

  // The buffer's pages start half a CPU page into the IOVA space.
  const iova = self.baseIova + BigInt(MOCK_PAGE_SIZE);
  self.ioas.mapFixed(iova, buffer(), { length: BUFFER_SIZE });
  checkAccessRw(self, access, iova, 0);
  self.ioas.unmap(iova, BUFFER_SIZE);
  access.close();
});
