// User memory that is gone (DmaBuffer.unsafeUnmap). The kernel reads a page from
// the process only when nothing holds it yet: pages an access pinned come from
// its xarray, pages a domain stores from that domain (iopt_pages_fill_xarray(),
// pfn_reader). So EFAULT comes from pins and domain fills over pages no one holds.
import { describe, expect, test } from 'vitest';
import { DmaBuffer, IOMMUFD_CMDS, Iommufd, MOCK_APERTURE_START, iommufdIoctl } from '../../lib/index.js';
import { PAGE_SIZE, expectErrno } from '../helpers.js';
import { BACKEND, requires } from '../backend.js';
import { logSkip } from '../skip-log.js';
import { scenarioFixture } from './fixture.js';

const AT = MOCK_APERTURE_START;
const page = (n: number) => AT + BigInt(n * PAGE_SIZE);

const self = scenarioFixture();

describe('missing user pages', () => {
  test('an access pin reads them from the process: EFAULT, and nothing stays pinned', () => {
    using buf = DmaBuffer.alloc(4 * PAGE_SIZE);
    self.ioas.mapFixed(AT, buf);
    buf.unsafeUnmap(PAGE_SIZE, PAGE_SIZE);
    using access = self.fd.createAccess(self.ioas, { needsPinPages: true });
    expectErrno('EFAULT', () => access.pinPages(AT, 4 * PAGE_SIZE), 'IOMMU_TEST_OP_ACCESS_PAGES');
    expectErrno('EFAULT', () => access.pinPages(page(1), PAGE_SIZE), 'IOMMU_TEST_OP_ACCESS_PAGES');
    self.fd.checkRefs(buf, 0, { length: PAGE_SIZE });
    const first = access.pinPages(AT, PAGE_SIZE); // page 0 is still there
    self.fd.checkRefs(buf, 1, { length: PAGE_SIZE });
    first.unpin();
    self.fd.checkRefs(buf, 0, { length: PAGE_SIZE });
    expect(self.ioas.unmap(AT, 4 * PAGE_SIZE)).toBe(BigInt(4 * PAGE_SIZE));
  });

  test('pages an access holds are not read again, by another pin or by a domain', () => {
    using buf = DmaBuffer.alloc(4 * PAGE_SIZE);
    self.ioas.mapFixed(AT, buf, { length: 2 * PAGE_SIZE }); // pages 0-1
    self.ioas.mapFixed(page(2), buf, { offset: 2 * PAGE_SIZE, length: 2 * PAGE_SIZE }); // pages 2-3
    using holder = self.fd.createAccess(self.ioas, { needsPinPages: true });
    holder.pinPages(AT, 2 * PAGE_SIZE);
    holder.pinPages(page(2), PAGE_SIZE);
    buf.unsafeUnmap(0, 4 * PAGE_SIZE);

    using other = self.fd.createAccess(self.ioas, { needsPinPages: true });
    other.pinPages(page(1), PAGE_SIZE); // held by `holder`
    other.pinPages(page(2), PAGE_SIZE); // the same interval: shared
    expectErrno('EFAULT', () => other.pinPages(page(2), 2 * PAGE_SIZE)); // page 3 comes from the process

    // The first domain fills every area: pages 0-2 from the accesses, page 3 from the process.
    expectErrno('EFAULT', () => self.fd.mockDomain(self.ioas), 'IOMMU_TEST_OP_MOCK_DOMAIN');
    expect(self.ioas.unmap(page(2), 2 * PAGE_SIZE)).toBe(BigInt(2 * PAGE_SIZE)); // the unmap callback drops those pins
    const mock = self.fd.mockDomain(self.ioas); // pages 0-1: all held
    mock.destroy();
    expect(self.ioas.unmapAll()).toBe(BigInt(2 * PAGE_SIZE));
  });

  // iopt_pages_rw_access(): copy_to/from_user() on the fast path; with the
  // mock's SLOW_PATH flag, iopt_pages_rw_page() (GUP of the one page) or, over
  // several pages, iopt_pages_rw_slow() (pfn_reader: the pins, GUP for the rest).
  function pinnedThenGone(): { buf: DmaBuffer; access: ReturnType<Iommufd['createAccess']> } {
    const buf = DmaBuffer.alloc(4 * PAGE_SIZE);
    buf.bytes.fill(1);
    self.ioas.mapFixed(AT, buf);
    const access = self.fd.createAccess(self.ioas, { needsPinPages: true });
    access.pinPages(AT, 2 * PAGE_SIZE);
    buf.unsafeUnmap(0, 4 * PAGE_SIZE);
    return { buf, access };
  }

  test('access_rw on the fast path, or the slow path of one page, reads the process: EFAULT even where pinned', () => {
    const { buf, access } = pinnedThenGone();
    const out = new Uint8Array(16);
    expectErrno('EFAULT', () => access.rw(page(1) - 8n, out), 'IOMMU_TEST_OP_ACCESS_RW');
    expectErrno('EFAULT', () => access.rw(AT, out, { slowPath: true }), 'IOMMU_TEST_OP_ACCESS_RW');
    // Over pages 1 and 2: page 2 is not pinned, so pfn_reader asks the process for it.
    expectErrno('EFAULT', () => access.rw(page(2) - 8n, out, { slowPath: true }), 'IOMMU_TEST_OP_ACCESS_RW');
    expect(self.ioas.unmapAll()).toBe(BigInt(4 * PAGE_SIZE));
    access.close();
    buf.free();
  });

  test('access_rw on the slow path over several pinned pages reads them through the pins', (ctx) => {
    if (BACKEND === 'sim') {
      // The pinned pages' bytes are this process's memory, which is gone: the
      // simulator has nothing to read them from (it answers EFAULT).
      const reason = 'simulator lacks pinned pages the process unmapped (their bytes went with the memory)';
      logSkip(reason);
      ctx.skip(reason);
    }
    const { buf, access } = pinnedThenGone();
    const across = page(1) - 8n; // 16 bytes over the boundary of pages 0 and 1
    const out = new Uint8Array(16);
    access.rw(across, out, { slowPath: true });
    expect(Array.from(out)).toEqual(new Array(16).fill(1));
    access.rw(across, new Uint8Array(16).fill(9), { slowPath: true, write: true });
    access.rw(across, out, { slowPath: true });
    expect(Array.from(out)).toEqual(new Array(16).fill(9));
    expect(self.ioas.unmapAll()).toBe(BigInt(4 * PAGE_SIZE));
    access.close();
    buf.free();
  });

  test('a failed domain fill leaves the IOAS and the object ids as they were', () => {
    const empty = self.fd.allocIoas();
    const probe = self.fd.mockDomain(empty);
    const ids = [probe.stdevId, probe.hwptId, probe.idevId];
    probe.destroy();

    using buf = DmaBuffer.alloc(2 * PAGE_SIZE);
    self.ioas.mapFixed(AT, buf);
    buf.unsafeUnmap(PAGE_SIZE, PAGE_SIZE);
    expectErrno('EFAULT', () => self.fd.mockDomain(self.ioas), 'IOMMU_TEST_OP_MOCK_DOMAIN');
    // No aperture was left reserved: an IOVA outside the mock's aperture still maps.
    using low = DmaBuffer.alloc(PAGE_SIZE);
    expect(self.ioas.mapFixed(0n, low)).toBe(0n);
    const again = self.fd.mockDomain(empty);
    expect([again.stdevId, again.hwptId, again.idevId]).toEqual(ids);
    // Mapping missing pages into an IOAS that has a domain is EFAULT too, and
    // so is copying them there from an IOAS without one.
    expectErrno('EFAULT', () => empty.mapFixed(AT, buf), 'IOMMU_IOAS_MAP');
    expectErrno('EFAULT', () => empty.copyFrom(self.ioas, AT, 2 * PAGE_SIZE, { dstIova: AT }), 'IOMMU_IOAS_COPY');
    expectErrno('ENOENT', () => empty.unmap(AT, 2 * PAGE_SIZE), 'IOMMU_IOAS_UNMAP'); // nothing was left behind
    again.destroy();
    self.ioas.unmapAll();
  });
});

// The caller's own memory that is gone: the kernel copies from and to it with
// copy_from/to_user() and looks its pages up with get_user_pages_fast(), page by
// page, so the first page that fails decides between EFAULT and the op's own error.
describe("the caller's memory missing", () => {
  test('access_rw: a write from it is EFAULT, a read into it EFAULT after the bytes before the hole', () => {
    using mem = DmaBuffer.alloc(PAGE_SIZE);
    mem.bytes.fill(5);
    self.ioas.mapFixed(AT, mem);
    using access = self.fd.createAccess(self.ioas);
    using user = DmaBuffer.alloc(2 * PAGE_SIZE);
    user.bytes.fill(7);
    user.unsafeUnmap(PAGE_SIZE, PAGE_SIZE);
    const across = { offset: PAGE_SIZE - 8, length: 16 };
    expectErrno('EFAULT', () => access.rw(AT, user, { ...across, write: true }), 'IOMMU_TEST_OP_ACCESS_RW');
    expect(Array.from(access.read(AT, 16))).toEqual(new Array(16).fill(5)); // nothing written
    expectErrno('EFAULT', () => access.rw(AT, user, across), 'IOMMU_TEST_OP_ACCESS_RW');
    expect(Array.from(user.bytes.subarray(PAGE_SIZE - 8, PAGE_SIZE))).toEqual(new Array(8).fill(5));
    access.rw(AT, user, { offset: PAGE_SIZE - 8, length: 8, write: true }); // the part still there works
    self.ioas.unmapAll();
  });

  test('MD_CHECK_REFS and MD_CHECK_MAP: EFAULT at the first missing page, unless an earlier page already failed', () => {
    const mock = self.fd.mockDomain(self.ioas);
    using buf = DmaBuffer.alloc(2 * PAGE_SIZE);
    self.ioas.mapFixed(AT, buf);
    buf.unsafeUnmap(PAGE_SIZE, PAGE_SIZE); // the domain still holds both pages
    self.fd.checkRefs(buf, 1, { length: PAGE_SIZE });
    expectErrno('EFAULT', () => self.fd.checkRefs(buf, 1), 'IOMMU_TEST_OP_MD_CHECK_REFS');
    expectErrno('EIO', () => self.fd.checkRefs(buf, 2), 'IOMMU_TEST_OP_MD_CHECK_REFS'); // page 0 fails first
    mock.hwpt.checkMap(AT, buf, { length: PAGE_SIZE });
    expectErrno('EFAULT', () => mock.hwpt.checkMap(AT, buf), 'IOMMU_TEST_OP_MD_CHECK_MAP');
    expectErrno('EINVAL', () => mock.hwpt.checkMap(page(4), buf), 'IOMMU_TEST_OP_MD_CHECK_MAP'); // nothing mapped there
    self.ioas.unmapAll();
    mock.destroy();
  });

  test('ACCESS_PAGES with a verify buffer: EFAULT at its first missing page, EBADE at an earlier mismatch; the pin is undone', () => {
    using buf = DmaBuffer.alloc(2 * PAGE_SIZE);
    self.ioas.mapFixed(AT, buf);
    using access = self.fd.createAccess(self.ioas, { needsPinPages: true });
    using firstGone = DmaBuffer.alloc(2 * PAGE_SIZE);
    firstGone.unsafeUnmap(0, PAGE_SIZE);
    using secondGone = DmaBuffer.alloc(2 * PAGE_SIZE);
    secondGone.unsafeUnmap(PAGE_SIZE, PAGE_SIZE);
    expectErrno('EFAULT', () => access.pinPages(AT, 2 * PAGE_SIZE, { verify: { memory: firstGone } }), 'IOMMU_TEST_OP_ACCESS_PAGES');
    expectErrno('EBADE', () => access.pinPages(AT, 2 * PAGE_SIZE, { verify: { memory: secondGone } }), 'IOMMU_TEST_OP_ACCESS_PAGES');
    self.fd.checkRefs(buf, 0);
    access.pinPages(AT, 2 * PAGE_SIZE, { verify: { memory: buf } }).unpin();
    self.ioas.unmapAll();
  });

  test('dirty bitmaps: DIRTY reading a missing bitmap is EFAULT; GET_DIRTY_BITMAP drops the bits of missing pages', (ctx) => {
    requires(ctx, 'IOMMU_HWPT_SET_DIRTY_TRACKING', 'IOMMU_HWPT_GET_DIRTY_BITMAP', 'DIRTY');
    const mock = self.fd.mockDomain(self.ioas);
    const hwpt = self.fd.allocHwpt(mock, self.ioas, { dirtyTracking: true });
    mock.replace(hwpt);
    const MOCK_PAGE = 2048; // the mock tracks dirt per MOCK_IO_PAGE_SIZE
    const pages = 128;
    using mem = DmaBuffer.alloc(pages * MOCK_PAGE);
    self.ioas.mapFixed(AT, mem);
    hwpt.setDirtyTracking(true);
    using bits = DmaBuffer.alloc(2 * PAGE_SIZE);
    bits.bytes.fill(0xff, 0, PAGE_SIZE);
    bits.unsafeUnmap(PAGE_SIZE, PAGE_SIZE);
    // The last 8 bytes of the first page, then 8 of the missing one.
    const marks = bits.bytes.subarray(PAGE_SIZE - 8, PAGE_SIZE + 8);
    expectErrno('EFAULT', () => hwpt.markDirty(AT, pages * MOCK_PAGE, marks, MOCK_PAGE), 'IOMMU_TEST_OP_DIRTY');
    expect(hwpt.markDirty(AT, 64 * MOCK_PAGE, marks.subarray(0, 8), MOCK_PAGE)).toBe(64n); // all there
    expect(hwpt.markDirty(AT + BigInt(64 * MOCK_PAGE), 64 * MOCK_PAGE, new Uint8Array(8).fill(0xff), MOCK_PAGE)).toBe(64n);
    bits.bytes.fill(0, 0, PAGE_SIZE);
    // 128 bits from the last word of the first page: 64 land there, 64 would land in the missing page.
    hwpt.readDirtyBitmap(AT, pages * MOCK_PAGE, bits, { offset: PAGE_SIZE - 8, pageSize: MOCK_PAGE, noClear: true });
    expect(Array.from(bits.bytes.subarray(0, PAGE_SIZE - 8)).every((b) => b === 0)).toBe(true);
    expect(Array.from(bits.bytes.subarray(PAGE_SIZE - 8, PAGE_SIZE))).toEqual(new Array(8).fill(0xff));
    const all = 2n ** 64n - 1n;
    expect(hwpt.getDirtyBitmap(AT, pages * MOCK_PAGE, { pageSize: MOCK_PAGE })).toEqual(new BigUint64Array([all, all]));
    hwpt.setDirtyTracking(false);
    mock.replace(self.ioas);
    self.ioas.unmapAll();
  });

  test('IOAS_IOVA_RANGES into missing memory: EFAULT at the first range that lands there', () => {
    using buf = DmaBuffer.alloc(2 * PAGE_SIZE);
    buf.unsafeUnmap(PAGE_SIZE, PAGE_SIZE);
    // A reserved page splits the IOVA space in two ranges (16 bytes each):
    // the first lands in the page that is there, the second in the missing one.
    self.ioas.addReserved(AT, PAGE_SIZE);
    const out = new BigUint64Array(buf.bytes.buffer, buf.bytes.byteOffset + PAGE_SIZE - 16, 4);
    expectErrno('EFAULT', () => self.ioas.iovaRangesInto(out), 'IOMMU_IOAS_IOVA_RANGES');
    expect([out[0], out[1]]).toEqual([0n, AT - 1n]);
  });

  test('rawIoctl refuses an argument in missing memory before reading it', () => {
    using buf = DmaBuffer.alloc(PAGE_SIZE);
    buf.unsafeUnmap(0, PAGE_SIZE);
    expect(() => self.fd.rawIoctl(iommufdIoctl(IOMMUFD_CMDS.IOMMU_IOAS_ALLOC), buf.bytes.subarray(0, 12))).toThrow(RangeError);
    expect(self.fd.allocIoas().id).toBeGreaterThan(self.ioas.id); // and the fd works on
  });
});
