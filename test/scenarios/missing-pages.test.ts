// User memory that is gone (DmaBuffer.unsafeUnmap). The kernel reads a page from
// the process only when nothing holds it yet: pages an access pinned come from
// its xarray, pages a domain stores from that domain (iopt_pages_fill_xarray(),
// pfn_reader). So EFAULT comes from pins and domain fills over pages no one holds.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { DmaBuffer, Ioas, Iommufd, MOCK_APERTURE_START } from '../../lib/index.js';
import { PAGE_SIZE, expectErrno } from '../helpers.js';
import { BACKEND, openIommufd } from '../backend.js';
import { logSkip } from '../skip-log.js';

const AT = MOCK_APERTURE_START;
const page = (n: number) => AT + BigInt(n * PAGE_SIZE);

let fd: Iommufd;
let ioas: Ioas;

beforeEach(() => {
  fd = openIommufd();
  ioas = fd.allocIoas();
});

afterEach(() => fd.close());

describe('missing user pages', () => {
  test('an access pin reads them from the process: EFAULT, and nothing stays pinned', () => {
    using buf = DmaBuffer.alloc(4 * PAGE_SIZE);
    ioas.mapFixed(AT, buf);
    buf.unsafeUnmap(PAGE_SIZE, PAGE_SIZE);
    using access = fd.createAccess(ioas, { needsPinPages: true });
    expectErrno('EFAULT', () => access.pinPages(AT, 4 * PAGE_SIZE), 'IOMMU_TEST_OP_ACCESS_PAGES');
    expectErrno('EFAULT', () => access.pinPages(page(1), PAGE_SIZE), 'IOMMU_TEST_OP_ACCESS_PAGES');
    fd.checkRefs(buf, 0, { length: PAGE_SIZE });
    const first = access.pinPages(AT, PAGE_SIZE); // page 0 is still there
    fd.checkRefs(buf, 1, { length: PAGE_SIZE });
    first.unpin();
    fd.checkRefs(buf, 0, { length: PAGE_SIZE });
    expect(ioas.unmap(AT, 4 * PAGE_SIZE)).toBe(BigInt(4 * PAGE_SIZE));
  });

  test('pages an access holds are not read again, by another pin or by a domain', () => {
    using buf = DmaBuffer.alloc(4 * PAGE_SIZE);
    ioas.mapFixed(AT, buf, { length: 2 * PAGE_SIZE }); // pages 0-1
    ioas.mapFixed(page(2), buf, { offset: 2 * PAGE_SIZE, length: 2 * PAGE_SIZE }); // pages 2-3
    using holder = fd.createAccess(ioas, { needsPinPages: true });
    holder.pinPages(AT, 2 * PAGE_SIZE);
    holder.pinPages(page(2), PAGE_SIZE);
    buf.unsafeUnmap(0, 4 * PAGE_SIZE);

    using other = fd.createAccess(ioas, { needsPinPages: true });
    other.pinPages(page(1), PAGE_SIZE); // held by `holder`
    other.pinPages(page(2), PAGE_SIZE); // the same interval: shared
    expectErrno('EFAULT', () => other.pinPages(page(2), 2 * PAGE_SIZE)); // page 3 comes from the process

    // The first domain fills every area: pages 0-2 from the accesses, page 3 from the process.
    expectErrno('EFAULT', () => fd.mockDomain(ioas), 'IOMMU_TEST_OP_MOCK_DOMAIN');
    expect(ioas.unmap(page(2), 2 * PAGE_SIZE)).toBe(BigInt(2 * PAGE_SIZE)); // the unmap callback drops those pins
    const mock = fd.mockDomain(ioas); // pages 0-1: all held
    mock.destroy();
    expect(ioas.unmapAll()).toBe(BigInt(2 * PAGE_SIZE));
  });

  // iopt_pages_rw_access(): copy_to/from_user() on the fast path; with the
  // mock's SLOW_PATH flag, iopt_pages_rw_page() (GUP of the one page) or, over
  // several pages, iopt_pages_rw_slow() (pfn_reader: the pins, GUP for the rest).
  function pinnedThenGone(): { buf: DmaBuffer; access: ReturnType<Iommufd['createAccess']> } {
    const buf = DmaBuffer.alloc(4 * PAGE_SIZE);
    buf.bytes.fill(1);
    ioas.mapFixed(AT, buf);
    const access = fd.createAccess(ioas, { needsPinPages: true });
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
    expect(ioas.unmapAll()).toBe(BigInt(4 * PAGE_SIZE));
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
    expect(ioas.unmapAll()).toBe(BigInt(4 * PAGE_SIZE));
    access.close();
    buf.free();
  });

  test('a failed domain fill leaves the IOAS and the object ids as they were', () => {
    const empty = fd.allocIoas();
    const probe = fd.mockDomain(empty);
    const ids = [probe.stdevId, probe.hwptId, probe.idevId];
    probe.destroy();

    using buf = DmaBuffer.alloc(2 * PAGE_SIZE);
    ioas.mapFixed(AT, buf);
    buf.unsafeUnmap(PAGE_SIZE, PAGE_SIZE);
    expectErrno('EFAULT', () => fd.mockDomain(ioas), 'IOMMU_TEST_OP_MOCK_DOMAIN');
    // No aperture was left reserved: an IOVA outside the mock's aperture still maps.
    using low = DmaBuffer.alloc(PAGE_SIZE);
    expect(ioas.mapFixed(0n, low)).toBe(0n);
    const again = fd.mockDomain(empty);
    expect([again.stdevId, again.hwptId, again.idevId]).toEqual(ids);
    // Mapping missing pages into an IOAS that has a domain is EFAULT too, and
    // so is copying them there from an IOAS without one.
    expectErrno('EFAULT', () => empty.mapFixed(AT, buf), 'IOMMU_IOAS_MAP');
    expectErrno('EFAULT', () => empty.copyFrom(ioas, AT, 2 * PAGE_SIZE, { dstIova: AT }), 'IOMMU_IOAS_COPY');
    expectErrno('ENOENT', () => empty.unmap(AT, 2 * PAGE_SIZE), 'IOMMU_IOAS_UNMAP'); // nothing was left behind
    again.destroy();
    ioas.unmapAll();
  });
});
