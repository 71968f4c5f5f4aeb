// Helpers shared by the ports of FIXTURE(iommufd_mock_domain) and FIXTURE(iommufd_dirty_tracking).
import type { DmaBufferOptions } from '../../lib/index.js';
import { BACKEND } from '../backend.js';

/**
 * MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB memory, as the selftest maps for its
 * hugepage variants; the VM reserves the hugetlb pool (scripts/vm-init.sh). A
 * host running the simulator usually has an empty pool, so there it is private
 * THP-advised memory instead, which the simulator also takes as 2 MiB pages
 * (these tests never share it with another process).
 */
export function hugetlbShared(): DmaBufferOptions {
  return BACKEND === 'sim' ? { hugePages: 'transparent' } : { shared: true, hugePages: 'hugetlb' };
}
