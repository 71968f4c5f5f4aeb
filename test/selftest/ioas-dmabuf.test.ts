// TEST_F(iommufd_ioas, dmabuf_simple) and TEST_F(iommufd_ioas, dmabuf_revoke) of
// tools/testing/selftests/iommu/iommufd.c (7.3): IOMMU_IOAS_MAP_FILE of the mock's
// dma-buf (IOMMU_TEST_OP_DMABUF_GET), and its revocation, on every variant of
// the iommufd_ioas fixture. Kernels without the ops (6.12) skip as lacking them.
import { capabilities } from '../backend.js';
import { expectErrno } from '../helpers.js';
import { PAGE_SIZE, kernelLacks } from './harness.js';
import { iommufd_ioas } from './ioas-fixture.js';

type Ctx = { skip: (note?: string) => void };

function requireDmabuf(ctx: Ctx): void {
  const caps = capabilities();
  const lacking = ['IOMMU_IOAS_MAP_FILE', 'IOMMU_TEST_OP_DMABUF_GET', 'IOMMU_TEST_OP_DMABUF_REVOKE'].filter((name) =>
    name.startsWith('IOMMU_TEST_OP_') ? !caps.testOps[name.slice('IOMMU_TEST_OP_'.length)] : !caps.ioctls[name],
  );
  if (lacking.length) kernelLacks(ctx, lacking.join(', '));
}

iommufd_ioas.test('dmabuf_simple', (self, _variant, ctx) => {
  requireDmabuf(ctx);
  const bufSize = PAGE_SIZE * 4;

  using dmabuf = self.fd.mockDmabuf(bufSize);
  expectErrno('EINVAL', () => self.ioas.mapFile(dmabuf, { offset: 0, length: 0 }), 'IOMMU_IOAS_MAP_FILE');
  expectErrno('EINVAL', () => self.ioas.mapFile(dmabuf, { offset: bufSize, length: bufSize }), 'IOMMU_IOAS_MAP_FILE');
  expectErrno('EINVAL', () => self.ioas.mapFile(dmabuf, { offset: 0, length: bufSize + 1 }), 'IOMMU_IOAS_MAP_FILE');
  self.ioas.mapFile(dmabuf, { offset: 0, length: bufSize });
});

iommufd_ioas.test('dmabuf_revoke', (self, variant, ctx) => {
  requireDmabuf(ctx);
  const bufSize = PAGE_SIZE * 4;

  using dmabuf = self.fd.mockDmabuf(bufSize);
  const iova = self.ioas.mapFile(dmabuf, { offset: 0, length: bufSize });
  dmabuf.revoke(true);

  // A domain attached after the revoke maps nothing of the revoked buffer.
  if (variant.mockDomains) self.fd.allocHwpt(self.deviceId, self.ioas);

  expectErrno('ENODEV', () => self.ioas.mapFile(dmabuf, { offset: 0, length: bufSize }), 'IOMMU_IOAS_MAP_FILE');

  dmabuf.revoke(false);
  self.ioas.mapFile(dmabuf, { offset: 0, length: bufSize });

  // Restore the iova back
  self.ioas.unmap(iova, bufSize);
  self.ioas.mapFile(dmabuf, { offset: 0, length: bufSize, iova });
});
