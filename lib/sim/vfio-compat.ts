// vfio_compat.c in the simulator: IOMMU_VFIO_IOAS and the VFIO type1 container
// ioctls on the compat IOAS (VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU,
// VFIO_IOMMU_GET_INFO, VFIO_IOMMU_MAP_DMA, VFIO_IOMMU_UNMAP_DMA).

import type { UserRange, VfioIommuInfo } from '../backend/contract.js';
import {
  IOMMU_VFIO_IOAS_CLEAR as VFIO_IOAS_CLEAR,
  IOMMU_VFIO_IOAS_GET as VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET as VFIO_IOAS_SET,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_INFO_PGSIZES,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
} from '../uapi/constants.js';
import { parseVfioIommuInfo } from '../backend/vfio-info.js';
import { IOMMU_READ, IOMMU_WRITE, U64_MAX, ULONG_MAX, fail } from './io-pagetable.js';
import type { IoasObj, SimContext } from './objects.js';
import { IoptPages, PAGE_SIZE } from './pages.js';

const VFIO_DMA_CC_IOMMU = 4;
const VFIO_NOIOMMU_IOMMU = 8;
const VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL = 3;
const PAGE = BigInt(PAGE_SIZE);

/** get_compat_ioas() */
function compatIoas(ctx: SimContext): IoasObj {
  const ioas = ctx.vfioIoas;
  if (!ioas || ioas.users === 0) fail('ENODEV');
  return ioas;
}

/** iommufd_vfio_ioas() */
export function vfioIoas(ctx: SimContext, op: number, ioasId: number): number {
  switch (op) {
    case VFIO_IOAS_GET:
      return compatIoas(ctx).id;
    case VFIO_IOAS_SET:
      ctx.vfioIoas = ctx.getIoas(ioasId);
      return ioasId;
    case VFIO_IOAS_CLEAR:
      ctx.vfioIoas = null;
      return ioasId;
    default:
      fail('EOPNOTSUPP');
  }
}

/** iommufd_vfio_check_extension() */
export function vfioCheckExtension(ctx: SimContext, extension: number): number {
  switch (extension) {
    case VFIO_TYPE1_IOMMU:
    case VFIO_TYPE1v2_IOMMU:
    case VFIO_UNMAP_ALL:
      return 1; // !ictx->no_iommu_mode: no no-iommu device is ever bound here
    case VFIO_DMA_CC_IOMMU: {
      // iommufd_vfio_cc_iommu(): the mock does not enforce cache coherency.
      const ioas = compatIoas(ctx);
      return ioas.hwpts.length > 0 ? 0 : 1;
    }
    case VFIO_NOIOMMU_IOMMU:
      return 1; // IS_ENABLED(CONFIG_VFIO_NOIOMMU): the rig's kernels have it (scripts/kernel.config)
    default:
      return 0;
  }
}

/** iommufd_vfio_set_iommu() */
export function vfioSetIommu(ctx: SimContext, type: number): void {
  if (type !== VFIO_TYPE1_IOMMU && type !== VFIO_TYPE1v2_IOMMU) fail('EINVAL');
  const ioas = compatIoas(ctx);
  if (type === VFIO_TYPE1_IOMMU) ioas.iopt.disableLargePagesOption();
}

/** iommufd_vfio_iommu_get_info() with the argsz handshake the addon makes, parsed. */
export function vfioIommuGetInfo(ctx: SimContext): VfioIommuInfo {
  const ioas = compatIoas(ctx);
  const iopt = ioas.iopt;
  // iommufd_get_pagesizes()
  let pgsizes = ULONG_MAX;
  for (const d of iopt.domains) pgsizes &= d.pgsizeBitmap;
  if (pgsizes & (PAGE - 1n)) pgsizes = (pgsizes & ~(PAGE - 1n) & ULONG_MAX) | PAGE;
  if (iopt.iovaAlignment > pgsizes) pgsizes = iopt.iovaAlignment;
  const ranges = iopt.iovaRanges();
  // struct vfio_iommu_type1_info (24 bytes), then the DMA_AVAIL cap (12 -> 16), then IOVA_RANGE.
  const dmaAvailAt = 24;
  const iovaAt = dmaAvailAt + 16;
  const size = iovaAt + 16 + 16 * ranges.length;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, size, true);
  view.setUint32(4, VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS, true);
  view.setBigUint64(8, pgsizes, true);
  view.setUint32(16, dmaAvailAt, true);
  view.setUint16(dmaAvailAt, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, true);
  view.setUint16(dmaAvailAt + 2, 1, true);
  view.setUint32(dmaAvailAt + 4, iovaAt, true);
  view.setUint32(dmaAvailAt + 8, 0xffffffff, true);
  view.setUint16(iovaAt, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, true);
  view.setUint16(iovaAt + 2, 1, true);
  view.setUint32(iovaAt + 8, ranges.length, true);
  ranges.forEach((r, i) => {
    view.setBigUint64(iovaAt + 16 + 16 * i, r.start, true);
    view.setBigUint64(iovaAt + 24 + 16 * i, r.last, true);
  });
  return parseVfioIommuInfo(bytes);
}

/** iommufd_vfio_map_dma() */
export function vfioMapDma(ctx: SimContext, flags: number, memory: UserRange, uptr: number, iova: bigint): void {
  if (flags & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)) fail('EINVAL');
  let prot = 0;
  if (flags & VFIO_DMA_MAP_FLAG_READ) prot |= IOMMU_READ;
  if (flags & VFIO_DMA_MAP_FLAG_WRITE) prot |= IOMMU_WRITE;
  const ioas = compatIoas(ctx);
  // iopt_map_user_pages(ictx, iopt, &iova, vaddr, size, prot, 0)
  const pages = IoptPages.alloc(memory, uptr, (prot & IOMMU_WRITE) !== 0);
  if (typeof pages === 'string') fail(pages);
  ioas.iopt.mapPages(pages, uptr, memory.length, iova, prot, false);
}

/** iommufd_vfio_unmap_dma(): returns the bytes unmapped. */
export function vfioUnmapDma(ctx: SimContext, flags: number, iova: bigint, size: bigint): bigint {
  if (flags & ~VFIO_DMA_UNMAP_FLAG_ALL) fail('EINVAL');
  const iopt = compatIoas(ctx).iopt;
  if (flags & VFIO_DMA_UNMAP_FLAG_ALL) {
    if (iova !== 0n || size !== 0n) fail('EINVAL');
    return iopt.unmapRange(0n, ULONG_MAX);
  }
  if (iopt.disableLargePages) {
    // Cut at the start and last of the range (TYPE1 may unmap inside a mapping).
    const cuts = [(iova + size - 1n) & U64_MAX];
    if (iova) cuts.push(iova - 1n);
    iopt.cutIova(cuts);
  }
  return iopt.unmap(iova, size);
}
