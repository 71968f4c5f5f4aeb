// VFIO type1 compatibility: an unmodified VFIO user (QEMU, DPDK) talks to
// /dev/iommu as if it were a VFIO container. The container's IOAS is chosen
// with IOMMU_VFIO_IOAS; VFIO_IOMMU_MAP_DMA/UNMAP_DMA then map into it.
//
//   iommufd run examples/vfio-compat.ts [--backend sim|native]
import { DmaBuffer, MOCK_APERTURE_START, VFIO_TYPE1v2_IOMMU, VFIO_UNMAP_ALL, type Iommufd, type RunContext } from 'iommufd';

const PAGE = 4096;

export default function vfioCompat(fd: Iommufd, ctx: RunContext): void {
  ctx.requires('IOMMU_VFIO_IOAS', 'VFIO_GET_API_VERSION', 'VFIO_CHECK_EXTENSION', 'VFIO_SET_IOMMU', 'VFIO_IOMMU_GET_INFO');
  ctx.requires('VFIO_IOMMU_MAP_DMA', 'VFIO_IOMMU_UNMAP_DMA', 'CREATE_ACCESS', 'ACCESS_RW');

  const vfio = fd.vfio;
  ctx.log(`VFIO API version ${vfio.apiVersion()}, type1v2: ${vfio.checkExtension(VFIO_TYPE1v2_IOMMU)}, unmap-all: ${vfio.checkExtension(VFIO_UNMAP_ALL)}`);

  const ioas = fd.allocIoas();
  fd.mockDomain(ioas); // a device, so the IOAS has an aperture
  fd.setVfioIoas(ioas); // IOMMU_VFIO_IOAS: the compat container's IOAS
  vfio.setIommu(VFIO_TYPE1v2_IOMMU);
  const info = vfio.info(); // VFIO_IOMMU_GET_INFO with its capability chain
  ctx.log(`VFIO_IOMMU_GET_INFO: page sizes 0x${info.iovaPgsizes.toString(16)}, IOVA ranges ${(info.iovaRanges ?? []).map((r) => `0x${r.start.toString(16)}-0x${r.last.toString(16)}`).join(', ')}`);

  using buffer = DmaBuffer.alloc(16 * PAGE);
  buffer.bytes.fill(0x5a);
  vfio.mapDma(MOCK_APERTURE_START, buffer); // VFIO_IOMMU_MAP_DMA
  using access = fd.createAccess(ioas); // look through the IOAS: the VFIO mapping is there
  const seen = access.read(MOCK_APERTURE_START, 64);
  if (!seen.every((b) => b === 0x5a)) throw new Error('the VFIO mapping does not show the buffer');
  ctx.log(`VFIO_IOMMU_MAP_DMA: ${buffer.length} bytes at IOVA 0x${MOCK_APERTURE_START.toString(16)}, visible in the IOAS`);

  const unmapped = vfio.unmapDma(MOCK_APERTURE_START, buffer.length); // VFIO_IOMMU_UNMAP_DMA
  if (unmapped !== BigInt(buffer.length)) throw new Error(`unmapped ${unmapped} bytes, expected ${buffer.length}`);
  vfio.mapDma(MOCK_APERTURE_START, buffer, { length: PAGE });
  vfio.mapDma(MOCK_APERTURE_START + BigInt(PAGE), buffer, { offset: PAGE, length: PAGE });
  ctx.log(`VFIO_IOMMU_UNMAP_DMA: ${unmapped} bytes; then two pages mapped and dropped at once with VFIO_DMA_UNMAP_FLAG_ALL: ${vfio.unmapAll()} bytes`);
}
