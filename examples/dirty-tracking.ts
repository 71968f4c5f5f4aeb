// Dirty tracking on a mock device, as a live-migration driver would use it:
// a dirty-tracking HWPT, the mock marks pages dirty (as DMA would), and the
// bitmap reads them back, clearing them unless NO_CLEAR.
//
//   iommufd run examples/dirty-tracking.ts [--backend sim|native]
import { DmaBuffer, MOCK_APERTURE_START, type Iommufd, type RunContext } from 'iommufd';

// The mock's IO pages are MOCK_IO_PAGE_SIZE, half a CPU page; the bitmap is
// read per CPU page, as a migration driver would, which reads the same on every
// kernel (7.3's mock reports dirt per CPU page, whichever half was written).
const MOCK_PAGE = 2048;
const CPU_PAGE = 4096;
const PAGES = 256;

function sameBits(a: BigUint64Array, b: BigUint64Array): boolean {
  return a.length === b.length && a.every((word, i) => word === b[i]);
}

export default function dirtyTracking(fd: Iommufd, ctx: RunContext): void {
  ctx.requires('IOMMU_HWPT_ALLOC', 'IOMMU_HWPT_SET_DIRTY_TRACKING', 'IOMMU_HWPT_GET_DIRTY_BITMAP', 'MOCK_DOMAIN_REPLACE', 'DIRTY');

  const ioas = fd.allocIoas();
  // Map CPU page by CPU page: 7.3's mock would join physically contiguous pages into larger IO pages, dirty as a whole.
  ioas.hugePages = false;
  const mock = fd.mockDomain(ioas); // a mock device on an automatic domain
  const hwpt = fd.allocHwpt(mock, ioas, { dirtyTracking: true }); // IOMMU_HWPT_ALLOC_DIRTY_TRACKING
  mock.replace(hwpt); // TEST_OP_MOCK_DOMAIN_REPLACE: the device now uses the tracking HWPT
  using memory = DmaBuffer.alloc(PAGES * MOCK_PAGE);
  const iova = ioas.mapFixed(MOCK_APERTURE_START, memory);
  hwpt.setDirtyTracking(true); // IOMMU_HWPT_SET_DIRTY_TRACKING
  ctx.log(`HWPT ${hwpt.id}: tracking ${PAGES} pages of ${MOCK_PAGE} bytes at IOVA 0x${iova.toString(16)}`);

  // The device "writes" every third page (TEST_OP_DIRTY).
  const marks = new Uint8Array(PAGES / 8);
  for (let i = 0; i < PAGES; i += 3) marks[i >> 3]! |= 1 << (i & 7);
  const marked = hwpt.markDirty(iova, PAGES * MOCK_PAGE, marks, MOCK_PAGE);
  ctx.log(`the mock marked ${marked} pages dirty`);

  // A CPU page is dirty when either of its halves is.
  const cpuPages = (PAGES * MOCK_PAGE) / CPU_PAGE;
  const expected = new BigUint64Array(cpuPages / 64);
  for (let i = 0; i < PAGES; i += 3) {
    const page = Math.floor((i * MOCK_PAGE) / CPU_PAGE);
    expected[page >> 6]! |= 1n << BigInt(page & 63);
  }
  const read = (noClear: boolean) => hwpt.getDirtyBitmap(iova, PAGES * MOCK_PAGE, { pageSize: CPU_PAGE, noClear });
  if (!sameBits(read(true), expected)) throw new Error('NO_CLEAR read: wrong dirty bitmap');
  if (!sameBits(read(false), expected)) throw new Error('the bitmap changed after a NO_CLEAR read');
  if (!sameBits(read(false), new BigUint64Array(cpuPages / 64))) throw new Error('a clearing read left dirty bits behind');
  ctx.log('IOMMU_HWPT_GET_DIRTY_BITMAP: read with NO_CLEAR, read and clear, then clean');

  hwpt.setDirtyTracking(false);
  mock.replace(ioas);
  ioas.unmap(iova, PAGES * MOCK_PAGE);
}
