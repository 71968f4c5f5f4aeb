// Parses the struct vfio_iommu_type1_info returned by VFIO_IOMMU_GET_INFO,
// following its capability chain (cap_offset, then each header's `next`).
import type { IovaRange, VfioIommuInfo } from './contract.js';
import { VFIO_IOMMU_INFO_CAPS, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE } from '../uapi/constants.js';

const INFO_SIZE = 24; // argsz, flags, iova_pgsizes, cap_offset, pad
const CAP_HEADER_SIZE = 8; // id: u16, version: u16, next: u32

export function parseVfioIommuInfo(bytes: Uint8Array): VfioIommuInfo {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flags = view.getUint32(4, true);
  const info: VfioIommuInfo = { flags, iovaPgsizes: view.getBigUint64(8, true), iovaRanges: null };
  if (!(flags & VFIO_IOMMU_INFO_CAPS)) return info;
  const seen = new Set<number>();
  for (let at = view.getUint32(16, true); at !== 0; at = view.getUint32(at + 4, true)) {
    // A malformed chain (a loop, an offset past the end) must not hang or throw oddly.
    if (seen.has(at) || at < INFO_SIZE || at + CAP_HEADER_SIZE > bytes.byteLength)
      throw new RangeError(`VFIO_IOMMU_GET_INFO: bad capability offset ${at}`);
    seen.add(at);
    if (view.getUint16(at, true) !== VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) continue;
    const count = view.getUint32(at + 8, true);
    const ranges: IovaRange[] = [];
    for (let i = 0; i < count; i++) {
      const entry = at + 16 + 16 * i;
      if (entry + 16 > bytes.byteLength) throw new RangeError('VFIO_IOMMU_GET_INFO: truncated IOVA ranges');
      ranges.push({ start: view.getBigUint64(entry, true), last: view.getBigUint64(entry + 8, true) });
    }
    info.iovaRanges = ranges;
  }
  return info;
}
