// Simulator-only checks of 6.12 rules the scenario tests do not pin down:
// each cites the kernel function it follows (drivers/iommu/iommufd/).
import { describe, expect, test } from 'vitest';
import { IommufdError, SimBackend, type UserRange } from '../../lib/index.js';
import { MOCK_APERTURE_START } from '../../lib/uapi/constants.js';
import { errno, hugeAligned } from '../helpers.js';

const PAGE = 4096;
const RW = 6;
const FIXED = 1 | RW;
const SELFTEST = 0xdead;
const INV_SELFTEST = 0xdeadbeef;

function mem(length: number): UserRange {
  return { bytes: hugeAligned(length), offset: 0, length };
}

function u32(value: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value, true);
  return b;
}

function inv(entries: [flags: number, id: number][], entryLen = 8): Uint8Array {
  const b = new Uint8Array(entryLen * entries.length);
  const v = new DataView(b.buffer);
  entries.forEach(([flags, id], i) => {
    v.setUint32(i * entryLen, flags, true);
    v.setUint32(i * entryLen + 4, id, true);
  });
  return b;
}

function setup() {
  const be = SimBackend.open('6.12'); // the 6.12 rules this file pins down
  const ioas = be.ioasAlloc();
  const dev = be.mockDomain(ioas);
  return { be, ioas, dev };
}

describe('IOMMU_HWPT_ALLOC (iommufd_hwpt_alloc, mock_domain_alloc_user)', () => {
  test('data type and length must agree; paging HWPTs take no data and no fault', () => {
    const { be, ioas, dev } = setup();
    const req = { flags: 0, devId: dev.idevId, ptId: ioas, dataType: 0, data: null as Uint8Array | null, faultId: 0 };
    expect(errno(() => be.hwptAlloc({ ...req, data: u32(1) }))).toBe('EINVAL');
    expect(errno(() => be.hwptAlloc({ ...req, dataType: SELFTEST }))).toBe('EINVAL');
    expect(errno(() => be.hwptAlloc({ ...req, dataType: SELFTEST, data: u32(1) }))).toBe('EOPNOTSUPP');
    expect(errno(() => be.hwptAlloc({ ...req, flags: 1 << 2 }))).toBe('EOPNOTSUPP');
    expect(errno(() => be.hwptAlloc({ ...req, flags: 1 << 3 }))).toBe('EOPNOTSUPP');
    expect(errno(() => be.hwptAlloc({ ...req, ptId: 999 }))).toBe('EINVAL'); // any missing pt is EINVAL
    const parent = be.hwptAlloc({ ...req, flags: 1 });
    // Nested: exactly sizeof(struct iommu_hwpt_selftest); no flags but FAULT_ID_VALID.
    const nested = { ...req, ptId: parent, dataType: SELFTEST };
    expect(errno(() => be.hwptAlloc({ ...nested, data: new Uint8Array(8) }))).toBe('EINVAL');
    expect(errno(() => be.hwptAlloc({ ...nested, data: new Uint8Array(2) }))).toBe('EINVAL');
    expect(errno(() => be.hwptAlloc({ ...nested, flags: 1, data: u32(7) }))).toBe('EOPNOTSUPP');
    // An automatic domain is never a nesting parent.
    expect(errno(() => be.hwptAlloc({ ...nested, ptId: dev.hwptId, data: u32(7) }))).toBe('EINVAL');
    const id = be.hwptAlloc({ ...nested, data: u32(7) });
    be.mdCheckIotlb(id, 3, 7);
    expect(errno(() => be.mdCheckIotlb(id, 4, 7))).toBe('EINVAL');
    expect(errno(() => be.mdCheckIotlb(parent, 0, 7))).toBe('ENOENT'); // not a nested HWPT
    expect(errno(() => be.destroy(parent))).toBe('EBUSY'); // the nested one holds it
    be.destroy(id);
    be.destroy(parent);
  });

  test('a NO_DIRTY device cannot be attached to a dirty-tracking HWPT', () => {
    const { be, ioas, dev } = setup();
    const dirtyHwpt = be.hwptAlloc({ flags: 2, devId: dev.idevId, ptId: ioas, dataType: 0, data: null, faultId: 0 });
    const noDirty = be.mockDomain(ioas, 1);
    expect(errno(() => be.mockDomainReplace(noDirty.stdevId, dirtyHwpt))).toBe('EINVAL'); // mock_domain_nop_attach()
    expect(errno(() => be.mockDomain(dirtyHwpt, 1))).toBe('EINVAL');
    expect(be.mockDomainReplace(dev.stdevId, dirtyHwpt)).toBe(dirtyHwpt);
    // The old automatic domain stays while the NO_DIRTY device uses it.
    expect(be.mockDomainReplace(dev.stdevId, ioas)).toBe(noDirty.hwptId);
  });

  test('GET_HW_INFO reports dirty tracking unless the device is NO_DIRTY', () => {
    const { be, ioas, dev } = setup();
    expect(be.getHwInfo(dev.idevId, new Uint8Array(0)).capabilities).toBe(1n);
    expect(be.getHwInfo(be.mockDomain(ioas, 1).idevId, new Uint8Array(0)).capabilities).toBe(0n);
    expect(errno(() => be.getHwInfo(ioas, new Uint8Array(8)))).toBe('ENOENT');
  });
});

describe('IOMMU_HWPT_INVALIDATE (mock_domain_cache_invalidate_user)', () => {
  test('entry length, data type and hwpt type each refuse with handled = 0', () => {
    const { be, ioas, dev } = setup();
    const parent = be.hwptAlloc({ flags: 1, devId: dev.idevId, ptId: ioas, dataType: 0, data: null, faultId: 0 });
    const nested = be.hwptAlloc({ flags: 0, devId: dev.idevId, ptId: parent, dataType: SELFTEST, data: u32(5), faultId: 0 });
    const handled = (fn: () => unknown): [string, number] => {
      try {
        fn();
      } catch (e) {
        return [(e as IommufdError).code, (e as IommufdError & { handled: number }).handled];
      }
      return ['OK', -1];
    };
    expect(handled(() => be.hwptInvalidate(nested, INV_SELFTEST, 16, inv([[0, 0]], 16), 1))).toEqual(['EINVAL', 0]);
    expect(handled(() => be.hwptInvalidate(nested, INV_SELFTEST + 1, 8, inv([[0, 0]]), 1))).toEqual(['EINVAL', 0]);
    expect(handled(() => be.hwptInvalidate(parent, INV_SELFTEST, 8, inv([[0, 0]]), 1))).toEqual(['ENOENT', 0]);
    expect(handled(() => be.hwptInvalidate(nested, INV_SELFTEST, 0, new Uint8Array(8), 1))).toEqual(['EINVAL', 0]);
    expect(handled(() => be.hwptInvalidate(nested, INV_SELFTEST, 8, inv([[0, 1], [0, 2], [2, 3]]), 3))).toEqual(['EOPNOTSUPP', 2]);
    be.mdCheckIotlb(nested, 0, 5);
    be.mdCheckIotlb(nested, 1, 0);
    be.mdCheckIotlb(nested, 2, 0);
    be.mdCheckIotlb(nested, 3, 5);
    expect(() => be.hwptInvalidate(nested, INV_SELFTEST, 8, new Uint8Array(8), 2)).toThrow(RangeError);
  });
});

describe('dirty tracking in the mock domain', () => {
  function dirtySetup() {
    const { be, ioas, dev } = setup();
    const hwpt = be.hwptAlloc({ flags: 2, devId: dev.idevId, ptId: ioas, dataType: 0, data: null, faultId: 0 });
    be.mockDomainReplace(dev.stdevId, hwpt);
    const m = mem(64 * PAGE);
    be.ioasMap(ioas, FIXED, m, MOCK_APERTURE_START);
    return { be, ioas, hwpt, m };
  }

  test('DIRTY looks entries up at iova / page_size, in MOCK_IO_PAGE_SIZE units (as 6.12 does)', () => {
    const { be, hwpt } = dirtySetup();
    be.hwptSetDirtyTracking(hwpt, true);
    // page_size 4096: index 2^24 / 4096 = 4096 is IOVA 8 MiB, outside the mapping: nothing counted.
    expect(be.dirty(hwpt, 0, MOCK_APERTURE_START, 4096n, 4096n, new Uint8Array([1]))).toBe(0n);
    // page_size 2048 finds the entry.
    expect(be.dirty(hwpt, 0, MOCK_APERTURE_START, 2048n, 2048n, new Uint8Array([1]))).toBe(1n);
    const bitmap = new BigUint64Array(1);
    be.hwptGetDirtyBitmap(hwpt, 0, MOCK_APERTURE_START, 64n * 4096n, 4096n, bitmap);
    expect(bitmap[0]).toBe(1n); // one 2 KiB entry dirties the whole 4 KiB bit
  });

  test('argument checks: EINVAL, EOVERFLOW, and no tracking means EINVAL', () => {
    const { be, hwpt } = dirtySetup();
    expect(errno(() => be.dirty(hwpt, 0, MOCK_APERTURE_START, 4096n, 4096n, new Uint8Array([1])))).toBe('EINVAL');
    be.hwptSetDirtyTracking(hwpt, true);
    expect(() => be.dirty(hwpt, 0, MOCK_APERTURE_START, 4096n, 4096n, new Uint8Array(0))).toThrow(RangeError); // the addon's check
    expect(errno(() => be.dirty(hwpt, 0, MOCK_APERTURE_START + 1n, 4096n, 4096n, new Uint8Array(1)))).toBe('EINVAL');
    expect(errno(() => be.dirty(hwpt, 0, 0n, (1n << 27n) + 1n, 1n, new Uint8Array((1 << 24) + 1)))).toBe('EOVERFLOW');
  });

  test('unmapping drops dirty bits; a bitmap read without tracking, or over a hole, is EINVAL (6.12)', () => {
    const { be, ioas, hwpt, m } = dirtySetup();
    be.hwptSetDirtyTracking(hwpt, true);
    const all = new Uint8Array(16).fill(0xff);
    expect(be.dirty(hwpt, 0, MOCK_APERTURE_START, 128n * 2048n, 2048n, all)).toBe(128n);
    be.ioasUnmap(ioas, MOCK_APERTURE_START, BigInt(64 * PAGE));
    be.ioasMap(ioas, FIXED, m, MOCK_APERTURE_START);
    const bitmap = new BigUint64Array(1);
    be.hwptGetDirtyBitmap(hwpt, 0, MOCK_APERTURE_START, 64n * 4096n, 4096n, bitmap);
    expect(bitmap[0]).toBe(0n);
    expect(be.dirty(hwpt, 0, MOCK_APERTURE_START, 2048n, 2048n, new Uint8Array([1]))).toBe(1n);
    be.hwptSetDirtyTracking(hwpt, false);
    // The mock's -EINVAL comes back through 6.12's iova_bitmap_for_each().
    expect(errno(() => be.hwptGetDirtyBitmap(hwpt, 0, MOCK_APERTURE_START, 64n * 4096n, 4096n, bitmap))).toBe('EINVAL');
    expect(bitmap[0]).toBe(0n);
    be.hwptSetDirtyTracking(hwpt, true); // clears on enable
    be.hwptGetDirtyBitmap(hwpt, 0, MOCK_APERTURE_START, 64n * 4096n, 4096n, bitmap);
    expect(bitmap[0]).toBe(0n);
    // Past the mapping: __iommu_read_and_clear_dirty() finds the areas not contiguous.
    expect(errno(() => be.hwptGetDirtyBitmap(hwpt, 0, MOCK_APERTURE_START, 128n * 4096n, 4096n, new BigUint64Array(2)))).toBe('EINVAL');
    expect(errno(() => be.hwptGetDirtyBitmap(hwpt, 2, MOCK_APERTURE_START, 4096n, 4096n, bitmap))).toBe('EOPNOTSUPP');
    expect(errno(() => be.hwptGetDirtyBitmap(hwpt, 0, MOCK_APERTURE_START, 0n, 4096n, bitmap))).toBe('EINVAL');
    expect(errno(() => be.hwptGetDirtyBitmap(hwpt, 0, MOCK_APERTURE_START, 4096n, 0n, bitmap))).toBe('EINVAL');
  });
});

describe('fault queues (fault.c)', () => {
  function iopfSetup() {
    const { be, ioas, dev } = setup();
    const parent = be.hwptAlloc({ flags: 1, devId: dev.idevId, ptId: ioas, dataType: 0, data: null, faultId: 0 });
    const q = be.faultQueueAlloc();
    const iopf = be.hwptAlloc({ flags: 1 << 2, devId: dev.idevId, ptId: parent, dataType: SELFTEST, data: u32(0), faultId: q.faultId });
    return { be, ioas, dev, parent, q, iopf };
  }

  test('cookies are the lowest free from 1; a bad code or cookie stops the write', () => {
    const { be, dev, q, iopf } = iopfSetup();
    be.mockDomainReplace(dev.stdevId, iopf);
    for (let i = 0; i < 3; i++) be.triggerIopf(dev.idevId, 0, i, 1, BigInt(i) * 4096n);
    const read = be.faultRead(q.faultFd, 2);
    expect(read.map((f) => [f.grpid, f.cookie, f.flags])).toEqual([
      [0, 1, 2],
      [1, 2, 2],
    ]);
    expect(be.faultRespond(q.faultFd, [{ cookie: 1, code: 0 }, { cookie: 9, code: 0 }])).toBe(1);
    expect(errno(() => be.faultRespond(q.faultFd, [{ cookie: 2, code: 7 }]))).toBe('EINVAL');
    expect(be.faultRead(q.faultFd, 8).map((f) => f.cookie)).toEqual([1]); // cookie 1 is free again
    expect(be.faultRespond(q.faultFd, [])).toBe(0);
  });

  test('PASID faults reach only a nested domain; replacing the domain answers what is pending', () => {
    const { be, ioas, dev, parent, q, iopf } = iopfSetup();
    be.mockDomainReplace(dev.stdevId, iopf);
    be.triggerIopf(dev.idevId, 5, 1, 0, 0n);
    expect(be.faultRead(q.faultFd, 1)[0]!.flags).toBe(3); // LAST_PAGE | PASID_VALID
    be.triggerIopf(dev.idevId, 0, 2, 0, 0n);
    be.mockDomainReplace(dev.stdevId, parent); // iommufd_auto_response_faults()
    expect(be.faultRead(q.faultFd, 4)).toEqual([]);
    be.triggerIopf(dev.idevId, 0, 3, 0, 0n); // no fault handler on the parent: dropped
    expect(be.faultRead(q.faultFd, 4)).toEqual([]);
    expect(errno(() => be.triggerIopf(ioas, 0, 0, 0, 0n))).toBe('ENOENT');
  });

  test('the fault object is busy while its fd or a HWPT holds it; the fd keeps the context', () => {
    const { be, dev, q, iopf, parent } = iopfSetup();
    expect(errno(() => be.destroy(q.faultId))).toBe('EBUSY');
    be.destroy(iopf);
    expect(errno(() => be.destroy(q.faultId))).toBe('EBUSY');
    be.close();
    // The fd still works after the iommufd is closed.
    expect(be.faultRead(q.faultFd, 1)).toEqual([]);
    be.closeFault(q.faultFd);
    expect(errno(() => be.faultRead(q.faultFd, 1))).toBe('EBADF');
    void dev;
    void parent;
  });
});

describe('IOMMU_IOAS_COPY and IOMMU_OPTION', () => {
  test('a copy shares the iopt_pages: one pin per page however many domains map it', () => {
    const be = SimBackend.open('6.12');
    const a = be.ioasAlloc();
    const b = be.ioasAlloc();
    be.mockDomain(a);
    be.mockDomain(b);
    const m = mem(8 * PAGE);
    be.ioasMap(a, FIXED, m, MOCK_APERTURE_START);
    const at = be.ioasCopy(b, a, RW, 0n, MOCK_APERTURE_START + BigInt(PAGE), BigInt(2 * PAGE));
    be.mdCheckRefs(m, 1);
    be.ioasUnmap(a, 0n, (1n << 64n) - 1n);
    be.mdCheckRefs({ ...m, offset: PAGE, length: 2 * PAGE }, 1);
    be.mdCheckRefs({ ...m, offset: 0, length: PAGE }, 0);
    expect(be.ioasUnmap(b, at, BigInt(2 * PAGE))).toBe(BigInt(2 * PAGE));
    expect(errno(() => be.ioasCopy(b, a, 0, 0n, MOCK_APERTURE_START, 4096n))).toBe('EINVAL');
    expect(errno(() => be.ioasCopy(b, a, 8 | RW, 0n, MOCK_APERTURE_START, 4096n))).toBe('EOPNOTSUPP');
  });

  test('RLIMIT_MODE can be set only on an empty context; HUGE_PAGES off needs no mapped domain', () => {
    const be = SimBackend.open('6.12');
    be.option(0, 0, 0, 1n);
    expect(be.option(0, 1, 0, 0n)).toBe(1n);
    expect(errno(() => be.option(0, 0, 0, 2n))).toBe('EINVAL');
    expect(errno(() => be.option(0, 1, 1, 0n))).toBe('EOPNOTSUPP');
    const ioas = be.ioasAlloc();
    expect(errno(() => be.option(0, 0, 0, 0n))).toBe('EBUSY');
    be.mockDomain(ioas);
    be.ioasMap(ioas, FIXED, mem(PAGE), MOCK_APERTURE_START);
    expect(errno(() => be.option(1, 0, ioas, 0n))).toBe('EINVAL');
    be.ioasUnmap(ioas, MOCK_APERTURE_START, BigInt(PAGE));
    be.option(1, 0, ioas, 0n);
    expect(be.ioasIovaRanges(ioas).alignment).toBe(BigInt(PAGE)); // disable_large_pages: PAGE_SIZE alignment
    be.option(1, 0, ioas, 1n);
    expect(be.ioasIovaRanges(ioas).alignment).toBe(2048n);
  });
});

describe('VFIO type1 compatibility (vfio_compat.c)', () => {
  test('without a compat IOAS every container op but the version and plain extensions is ENODEV', () => {
    const be = SimBackend.open('6.12');
    expect(be.vfioGetApiVersion()).toBe(0);
    expect(be.vfioCheckExtension(3)).toBe(1);
    expect(errno(() => be.vfioCheckExtension(4))).toBe('ENODEV'); // VFIO_DMA_CC_IOMMU
    expect(errno(() => be.vfioSetIommu(3))).toBe('ENODEV');
    expect(errno(() => be.vfioIommuGetInfo())).toBe('ENODEV');
    expect(errno(() => be.vfioMapDma(3, mem(PAGE), MOCK_APERTURE_START))).toBe('ENODEV');
    expect(errno(() => be.vfioUnmapDma(0, 0n, 4096n))).toBe('ENODEV');
    const ioas = be.ioasAlloc();
    be.vfioIoas(1, ioas);
    expect(be.vfioCheckExtension(4)).toBe(1); // no HWPT that fails to enforce coherency yet
    be.mockDomain(ioas);
    expect(be.vfioCheckExtension(4)).toBe(0);
  });

  test('type1 cuts areas so an unmap inside a mapping works; type1v2 refuses it', () => {
    for (const [type, inner] of [
      [1, 'OK'],
      [3, 'ENOENT'],
    ] as const) {
      const be = SimBackend.open('6.12');
      const ioas = be.ioasAlloc();
      be.vfioIoas(1, ioas);
      be.vfioSetIommu(type);
      const m = mem(4 * PAGE);
      be.vfioMapDma(3, m, MOCK_APERTURE_START);
      expect(errno(() => be.vfioUnmapDma(0, MOCK_APERTURE_START + BigInt(PAGE), BigInt(PAGE)))).toBe(inner);
      // Unmapping nothing is not an error here (unlike IOMMU_IOAS_UNMAP).
      expect(be.vfioUnmapDma(0, 1n << 40n, BigInt(PAGE))).toBe(0n);
      expect(errno(() => be.vfioUnmapDma(2, 1n, 0n))).toBe('EINVAL');
      expect(be.vfioUnmapDma(2, 0n, 0n)).toBe(BigInt(type === 1 ? 3 * PAGE : 4 * PAGE));
      be.mdCheckRefs(m, 0);
    }
  });

  test('GET_INFO: page sizes from the domains and the IOVA holes of the reserved ranges', () => {
    const be = SimBackend.open('6.12');
    const ioas = be.ioasAlloc();
    be.vfioIoas(1, ioas);
    expect(be.vfioIommuGetInfo()).toEqual({ flags: 3, iovaPgsizes: 0xfffffffffffff000n, iovaRanges: [{ start: 0n, last: (1n << 64n) - 1n }] });
    be.mockDomain(ioas, 2); // HUGE_IOVA: 2 KiB | 1 MiB pages
    expect(be.vfioIommuGetInfo().iovaPgsizes).toBe((1n << 20n) | 4096n);
  });
});
