// The rest of the 6.12 uAPI beyond the foundation: every ioctl and mock op,
// in the manner of tools/testing/selftests/iommu/iommufd.c.
import { beforeEach, describe, expect, test } from 'vitest';
import {
  Batch,
  DmaBuffer,
  IOMMU_HW_INFO_SELFTEST_REGVAL,
  IOMMU_HW_INFO_TYPE_SELFTEST,
  IOMMU_HWPT_DATA_SELFTEST,
  IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_PGFAULT_PERM_READ,
  IOMMU_PGFAULT_PERM_WRITE,
  IOMMU_TEST_IOTLB_DEFAULT,
  IOMMUFD_CMDS,
  IOMMUFD_CMDS_7_3,
  IOMMU_TEST_OPS,
  IOMMU_TEST_OPS_7_3,
  IommufdError,
  MOCK_APERTURE_LAST,
  MOCK_APERTURE_START,
  MOCK_FLAGS_DEVICE_HUGE_IOVA,
  MOCK_FLAGS_DEVICE_PASID,
  MOCK_IOMMUPT_HUGE,
  MOCK_NESTED_DOMAIN_IOTLB_ID_MAX,
  MockDevice,
  VFIO_API_VERSION,
  VFIO_IOMMU_INFO_CAPS,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
} from '../../lib/index.js';
import { BACKEND, byKernel, capabilities, kernelVersion, lacksReason, openIommufd, requires } from '../backend.js';
import { PAGE_SIZE, errno, expectBytes, expectErrno, patternedBuffer } from '../helpers.js';
import { scenarioFixture } from './fixture.js';

const BUFFER_SIZE = 16 * PAGE_SIZE;
const self = scenarioFixture({ extra: () => ({ buffer: patternedBuffer(BUFFER_SIZE) }), release: ({ buffer }) => buffer.free() });

/** The 7.3 additions the simulator models (lib/sim/backend.ts SIMULATED_7_3_*). */
const SIM_7_3_MODELLED = new Set<string>([
  // lib/sim/device-pasid.ts
  'PASID_ATTACH',
  'PASID_REPLACE',
  'PASID_DETACH',
  'PASID_CHECK_HWPT',
  // lib/sim/io-pagetable.ts mapFilePages(), lib/sim/ioas.ts ioasChangeProcess()
  'IOMMU_IOAS_MAP_FILE',
  'IOMMU_IOAS_CHANGE_PROCESS',
  // lib/sim/mock-domain.ts TestDmabuf, lib/sim/pages.ts allocDmabuf()
  'DMABUF_GET',
  'DMABUF_REVOKE',
  // lib/sim/ioas.ts ioasNoiommuGetPa(): its checks (no no-IOMMU device is ever attached)
  'IOMMU_IOAS_NOIOMMU_GET_PA',
  // lib/sim/viommu.ts
  'IOMMU_VIOMMU_ALLOC',
  'IOMMU_VDEVICE_ALLOC',
  'IOMMU_VEVENTQ_ALLOC',
  'IOMMU_HW_QUEUE_ALLOC',
  'DEV_CHECK_CACHE',
  'TRIGGER_VEVENT',
]);

test('the capability probe finds the whole 6.12 uAPI on both kernels and the 7.3 additions exactly on 7.3', () => {
  const caps = capabilities();
  expect(caps.backend).toBe(BACKEND);
  const on73 = kernelVersion() === '7.3';
  expect(caps.kernel).toMatch(BACKEND === 'sim' ? `sim-${kernelVersion()}` : on73 ? /^7\.3\./ : /^6\.12\./);
  for (const name of Object.keys(IOMMUFD_CMDS)) expect([name, caps.ioctls[name]]).toEqual([name, true]);
  for (const name of Object.keys(IOMMU_TEST_OPS)) expect([name, caps.testOps[name]]).toEqual([name, true]);
  expect(caps.ioctls.VFIO_IOMMU_MAP_DMA).toBe(true);
  // The kernel has the additions from 7.3 on; the simulator claims only what it
  // implements (SIM_7_3_MODELLED), on 7.3 only. Either lists every name.
  const additions = (name: string) => on73 && (BACKEND === 'native' || SIM_7_3_MODELLED.has(name));
  for (const name of Object.keys(IOMMUFD_CMDS_7_3)) expect([name, caps.ioctls[name]]).toEqual([name, additions(name)]);
  for (const name of Object.keys(IOMMU_TEST_OPS_7_3)) expect([name, caps.testOps[name]]).toEqual([name, additions(name)]);
  expect(caps.failNth).toBe(BACKEND === 'native');
});

test('requires() of a 7.3 addition the backend lacks skips, naming it', () => {
  const notes: string[] = [];
  const ctx = { skip: (note?: string) => void notes.push(note ?? '') };
  // Not a real skip (in CI a kernel test may skip only for "kernel lacks X"), nor logged as one.
  const log = process.env.IOMMUFD_SKIP_LOG;
  delete process.env.IOMMUFD_SKIP_LOG;
  try {
    requires(ctx, 'IOMMU_VIOMMU_ALLOC', 'PASID_ATTACH', 'IOMMU_IOAS_MAP');
  } finally {
    if (log !== undefined) process.env.IOMMUFD_SKIP_LOG = log;
  }
  const caps = capabilities();
  const lacked = ['IOMMU_VIOMMU_ALLOC', 'PASID_ATTACH'].filter((name) => kernelVersion() === '6.12' || (BACKEND === 'sim' && !SIM_7_3_MODELLED.has(name)));
  expect(notes).toEqual(lacked.map((name) => lacksReason(caps, name)));
  if (BACKEND === 'native') for (const note of notes) expect(note).toMatch(/^kernel lacks [A-Z_]+ \(\d+\.\d+/);
});

test('requires() of an unknown feature is a TypeError naming it, not a skip', () => {
  const ctx = { skip: (note?: string) => expect.fail(`skipped: ${note}`) };
  expect(() => requires(ctx, 'IOMMU_IOAS_MAP', 'TYPO')).toThrow(TypeError);
  expect(() => requires(ctx, 'TYPO')).toThrow(/unknown feature 'TYPO'.*ioctl names \(IOMMU_DESTROY, /);
  expect(() => requires(ctx, 'IOMMU_TEST_OP_DIRTY')).toThrow(/'IOMMU_TEST_OP_DIRTY' \(did you mean 'DIRTY'\?\)/);
  expect(() => requires(ctx, 'IOMMU_IOAS_MAPP')).toThrow(/did you mean 'IOMMU_IOAS_MAP'/);
  requires(ctx, 'IOMMU_IOAS_MAP', 'MOCK_DOMAIN'); // both backends have these
});

describe('IOMMU_IOAS_ALLOW_IOVAS', () => {
  test('kernel-allocated IOVAs stay inside the allowed ranges', (ctx) => {
    requires(ctx, 'IOMMU_IOAS_ALLOW_IOVAS');
    const start = 1n << 32n;
    self.ioas.allowIovas([{ start, last: start + 0xfffffn }]);
    // IOVA_RANGES reports what is not reserved; the allowed list only steers allocation.
    expect(self.ioas.iovaRanges().ranges).toEqual([{ start: 0n, last: (1n << 64n) - 1n }]);
    const iova = self.ioas.mapAnywhere(self.buffer);
    expect(iova >= start && iova + BigInt(BUFFER_SIZE) - 1n <= start + 0xfffffn).toBe(true);
    self.ioas.unmapAll();
    self.ioas.allowIovas([]); // empty: everything allowed again
    expect(self.ioas.mapAnywhere(self.buffer) < start).toBe(true);
  });

  test('a range whose start is after its last is EINVAL', (ctx) => {
    requires(ctx, 'IOMMU_IOAS_ALLOW_IOVAS');
    expectErrno('EINVAL', () => self.ioas.allowIovas([{ start: 2n * 4096n, last: 4096n }]), 'IOMMU_IOAS_ALLOW_IOVAS');
  });

  test('an allowed range that is reserved is EADDRINUSE', (ctx) => {
    requires(ctx, 'IOMMU_IOAS_ALLOW_IOVAS', 'ADD_RESERVED');
    self.ioas.addReserved(MOCK_APERTURE_START, PAGE_SIZE);
    expectErrno('EADDRINUSE', () => self.ioas.allowIovas([{ start: MOCK_APERTURE_START, last: MOCK_APERTURE_START + 0xffffn }]));
  });
});

describe('IOMMU_TEST_OP_ADD_RESERVED', () => {
  test('a reserved range refuses fixed maps and is left out of IOVA_RANGES', (ctx) => {
    requires(ctx, 'ADD_RESERVED');
    self.ioas.addReserved(MOCK_APERTURE_START, BUFFER_SIZE);
    expectErrno('EINVAL', () => self.ioas.mapFixed(MOCK_APERTURE_START, self.buffer), 'IOMMU_IOAS_MAP');
    const { ranges } = self.ioas.iovaRanges();
    expect(ranges).toEqual([
      { start: 0n, last: MOCK_APERTURE_START - 1n },
      { start: MOCK_APERTURE_START + BigInt(BUFFER_SIZE), last: (1n << 64n) - 1n },
    ]);
  });
});

describe('IOMMU_IOAS_COPY', () => {
  test('copies share the source pages and keep them after the source is unmapped', (ctx) => {
    requires(ctx, 'IOMMU_IOAS_COPY');
    const dst = self.fd.allocIoas();
    const mock = self.fd.mockDomain(dst);
    const srcIova = self.ioas.mapFixed(MOCK_APERTURE_START, self.buffer);
    const dstIova = dst.copyFrom(self.ioas, srcIova, BUFFER_SIZE);
    mock.checkMap(dstIova, self.buffer);
    self.fd.checkRefs(self.buffer, 1);
    expect(self.buffer.mappings).toBe(2); // the copy holds the memory too
    self.ioas.unmap(srcIova, BUFFER_SIZE);
    mock.checkMap(dstIova, self.buffer);
    using access = self.fd.createAccess(dst);
    expectBytes(access.read(dstIova + 100n, 300), self.buffer.bytes.subarray(100, 400));
  });

  test('copying an unmapped range is ENOENT; a fixed destination is honoured', (ctx) => {
    requires(ctx, 'IOMMU_IOAS_COPY');
    const dst = self.fd.allocIoas();
    expectErrno('ENOENT', () => dst.copyFrom(self.ioas, MOCK_APERTURE_START, PAGE_SIZE), 'IOMMU_IOAS_COPY');
    self.ioas.mapFixed(MOCK_APERTURE_START, self.buffer);
    const at = MOCK_APERTURE_START * 4n;
    expect(dst.copyFrom(self.ioas, MOCK_APERTURE_START, BUFFER_SIZE, { dstIova: at })).toBe(at);
    expectErrno('EEXIST', () => dst.copyFrom(self.ioas, MOCK_APERTURE_START, BUFFER_SIZE, { dstIova: at }));
  });
});

describe('IOMMU_OPTION', () => {
  test('HUGE_PAGES is per IOAS, on by default, and can be turned off', (ctx) => {
    requires(ctx, 'IOMMU_OPTION');
    expect(self.ioas.hugePages).toBe(true);
    self.ioas.hugePages = false;
    expect(self.ioas.hugePages).toBe(false);
    expect(self.fd.allocIoas().hugePages).toBe(true);
  });

  test('RLIMIT_MODE reads 0 (per user) by default', (ctx) => {
    requires(ctx, 'IOMMU_OPTION');
    expect(self.fd.getRlimitMode()).toBe(0n);
  });

  test('unknown options, ops and objects are refused', (ctx) => {
    requires(ctx, 'IOMMU_OPTION');
    expectErrno('EOPNOTSUPP', () => self.fd.backend.option(99, 1, 0, 0n), 'IOMMU_OPTION');
    expectErrno('EOPNOTSUPP', () => self.fd.backend.option(1, 99, self.ioas.id, 0n), 'IOMMU_OPTION');
    expectErrno('ENOENT', () => self.fd.backend.option(1, 1, 0xffff, 0n), 'IOMMU_OPTION');
    expectErrno('EINVAL', () => self.fd.backend.option(1, 0, self.ioas.id, 2n), 'IOMMU_OPTION');
  });
});

describe('IOMMU_VFIO_IOAS', () => {
  test('get before set is ENODEV; set, get and clear work', (ctx) => {
    requires(ctx, 'IOMMU_VFIO_IOAS');
    expectErrno('ENODEV', () => self.fd.getVfioIoas(), 'IOMMU_VFIO_IOAS');
    self.fd.setVfioIoas(self.ioas);
    expect(self.fd.getVfioIoas()).toBe(self.ioas.id);
    self.fd.clearVfioIoas();
    expectErrno('ENODEV', () => self.fd.getVfioIoas());
    expectErrno('EOPNOTSUPP', () => self.fd.backend.vfioIoas(3, 0), 'IOMMU_VFIO_IOAS');
  });
});

describe('HWPT allocation, hardware info and nesting', () => {
  let mock: MockDevice;
  beforeEach(() => {
    mock = self.fd.mockDomain(self.ioas);
  });

  test('GET_HW_INFO returns the selftest data, short and long buffers alike', (ctx) => {
    requires(ctx, 'IOMMU_GET_HW_INFO');
    const info = self.fd.hwInfo(mock, 8);
    expect(info.dataType).toBe(IOMMU_HW_INFO_TYPE_SELFTEST);
    expect(info.dataLen).toBe(8);
    const view = new DataView(info.data.buffer, info.data.byteOffset, info.data.byteLength);
    expect(view.getUint32(4, true)).toBe(IOMMU_HW_INFO_SELFTEST_REGVAL);
    // A short buffer gets a prefix; a long one gets zeroes after the data.
    expect(self.fd.hwInfo(mock, 4).data.length).toBe(4);
    const long = new Uint8Array(32).fill(0xff);
    const res = self.fd.backend.getHwInfo(mock.idevId, long);
    expect(res.dataLen).toBe(8);
    expect([...long.subarray(8)].every((b) => b === 0)).toBe(true);
    expect(self.fd.hwInfo(mock, 0).dataType).toBe(IOMMU_HW_INFO_TYPE_SELFTEST);
    expectErrno('ENOENT', () => self.fd.hwInfo(0xffff), 'IOMMU_GET_HW_INFO');
  });

  test('negative HWPT allocations fail as the selftest expects', (ctx) => {
    requires(ctx, 'IOMMU_HWPT_ALLOC');
    expectErrno('ENOENT', () => self.fd.backend.hwptAlloc({ flags: 0, devId: self.ioas.id, ptId: mock.idevId, dataType: 0, data: null, faultId: 0 }));
    expectErrno('EINVAL', () => self.fd.backend.hwptAlloc({ flags: 0, devId: mock.idevId, ptId: mock.idevId, dataType: 0, data: null, faultId: 0 }));
    expectErrno('EOPNOTSUPP', () => self.fd.allocHwpt(mock, self.ioas, { nestParent: true, flags: 1 << 2 }), 'IOMMU_HWPT_ALLOC');
  });

  test('nested selftest HWPTs start with the default IOTLB and obey invalidations', (ctx) => {
    requires(ctx, 'IOMMU_HWPT_ALLOC', 'IOMMU_HWPT_INVALIDATE', 'MD_CHECK_IOTLB');
    const parent = self.fd.allocHwpt(mock, self.ioas, { nestParent: true });
    const plain = self.fd.allocHwpt(mock, self.ioas);
    expectErrno('EINVAL', () => self.fd.allocHwpt(mock, plain, { selftestIotlb: IOMMU_TEST_IOTLB_DEFAULT }));
    expectErrno('EOPNOTSUPP', () => self.fd.allocHwpt(mock, parent, { data: { type: IOMMU_HWPT_DATA_SELFTEST + 1, bytes: new Uint8Array(4) } }));
    const nested = self.fd.allocHwpt(mock, parent, { selftestIotlb: IOMMU_TEST_IOTLB_DEFAULT });
    for (let i = 0; i <= MOCK_NESTED_DOMAIN_IOTLB_ID_MAX; i++) nested.checkIotlb(i, IOMMU_TEST_IOTLB_DEFAULT);
    expectErrno('EINVAL', () => nested.checkIotlb(0, 1));

    expect(nested.invalidate([{ iotlbId: 1 }])).toBe(1);
    nested.checkIotlb(1, 0);
    nested.checkIotlb(0, IOMMU_TEST_IOTLB_DEFAULT);
    expect(nested.invalidate([{ iotlbId: 0, all: true }])).toBe(1);
    for (let i = 0; i <= MOCK_NESTED_DOMAIN_IOTLB_ID_MAX; i++) nested.checkIotlb(i, 0);

    // A bad entry stops the kernel there and it reports how many it handled.
    const error = expectErrno('EINVAL', () => nested.invalidate([{ iotlbId: 0 }, { iotlbId: MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1 }]));
    expect((error as IommufdError & { handled: number }).handled).toBe(1);
    const unsupported = expectErrno('EOPNOTSUPP', () => nested.invalidate([{ iotlbId: 0, flags: 1 << 5 }]));
    expect((unsupported as IommufdError & { handled: number }).handled).toBe(0);
    expect(nested.invalidate([])).toBe(0);

    // Attach the device to the nested HWPT and back.
    expect(mock.replace(nested)).toBe(nested.id);
    expectErrno('EBUSY', () => nested.destroy(), 'IOMMU_DESTROY');
    mock.replace(self.ioas);
    nested.destroy();
    parent.destroy();
    plain.destroy();
  });
});

describe('dirty tracking', () => {
  test('DIRTY marks pages the bitmap then reports, cleared unless NO_CLEAR', (ctx) => {
    requires(ctx, 'IOMMU_HWPT_SET_DIRTY_TRACKING', 'IOMMU_HWPT_GET_DIRTY_BITMAP', 'DIRTY');
    const mock = self.fd.mockDomain(self.ioas);
    const hwpt = self.fd.allocHwpt(mock, self.ioas, { dirtyTracking: true });
    mock.replace(hwpt);
    // Bits are per MOCK_IO_PAGE_SIZE (half a CPU page), as in the selftest. Without
    // huge pages iommufd maps CPU page by CPU page (batch_iommu_map_small()): 7.3's
    // AMDv1 mock would otherwise join physically contiguous pages into larger leaves.
    self.ioas.hugePages = false;
    const MOCK_PAGE = 2048;
    const pages = 256;
    using big = DmaBuffer.alloc(pages * MOCK_PAGE);
    const iova = self.ioas.mapFixed(MOCK_APERTURE_START, big);
    hwpt.setDirtyTracking(true);

    const marks = new Uint8Array(pages / 8);
    for (let i = 0; i < pages; i += 3) marks[i >> 3]! |= 1 << (i & 7);
    expect(hwpt.markDirty(iova, pages * MOCK_PAGE, marks, MOCK_PAGE)).toBe(BigInt(Math.ceil(pages / 3)));

    // 6.12's xarray has an entry per MOCK_IO_PAGE_SIZE; 7.3's leaf is the CPU page,
    // dirty as a whole when either half was marked.
    const perLeaf = byKernel({ '6.12': 1, '7.3': PAGE_SIZE / MOCK_PAGE });
    const expected = new BigUint64Array(pages / 64);
    for (let i = 0; i < pages; i += 3)
      for (let j = i - (i % perLeaf); j < i - (i % perLeaf) + perLeaf; j++) expected[j >> 6]! |= 1n << BigInt(j & 63);
    const read = (noClear: boolean) => hwpt.getDirtyBitmap(iova, pages * MOCK_PAGE, { pageSize: MOCK_PAGE, noClear });
    expect(read(true)).toEqual(expected);
    expect(read(false)).toEqual(expected); // reads, then clears
    expect(read(false)).toEqual(new BigUint64Array(pages / 64));

    // 6.12's mock refuses a read while not tracking (EINVAL); 7.3's page table
    // keeps its dirty bits and reports them.
    expect(hwpt.markDirty(iova, pages * MOCK_PAGE, marks, MOCK_PAGE)).toBe(BigInt(Math.ceil(pages / 3)));
    hwpt.setDirtyTracking(false);
    if (kernelVersion() === '6.12') expectErrno('EINVAL', () => read(true), 'IOMMU_HWPT_GET_DIRTY_BITMAP');
    else expect(read(true)).toEqual(expected);
    mock.replace(self.ioas);
  });

  test('DIRTY counts the mapped pages it marks (6.12) or every bit set (7.3)', (ctx) => {
    requires(ctx, 'IOMMU_HWPT_SET_DIRTY_TRACKING', 'DIRTY');
    const mock = self.fd.mockDomain(self.ioas);
    const hwpt = self.fd.allocHwpt(mock, self.ioas, { dirtyTracking: true });
    mock.replace(hwpt);
    const MOCK_PAGE = 2048;
    // 16 mock pages mapped, then 16 unmapped ones, all marked.
    const iova = self.ioas.mapFixed(MOCK_APERTURE_START, self.buffer, { length: 16 * MOCK_PAGE });
    hwpt.setDirtyTracking(true);
    const marks = new Uint8Array(4).fill(0xff);
    expect(hwpt.markDirty(iova, 32 * MOCK_PAGE, marks, MOCK_PAGE)).toBe(byKernel({ '6.12': 16n, '7.3': 32n }));
    expect(hwpt.getDirtyBitmap(iova, 16 * MOCK_PAGE, { pageSize: MOCK_PAGE })).toEqual(new BigUint64Array([0xffffn]));
    // A read past the mapping: 6.12 answers EINVAL (the areas are not contiguous), 7.3 drops that error.
    const past = () => hwpt.getDirtyBitmap(iova, 32 * MOCK_PAGE, { pageSize: MOCK_PAGE });
    if (kernelVersion() === '6.12') expectErrno('EINVAL', past, 'IOMMU_HWPT_GET_DIRTY_BITMAP');
    else expect(past()).toEqual(new BigUint64Array(1));
    hwpt.setDirtyTracking(false);
    mock.replace(self.ioas);
  });

  test('a NO_DIRTY device refuses a dirty-tracking HWPT; DIRTY needs tracking', (ctx) => {
    requires(ctx, 'MOCK_DOMAIN_FLAGS', 'IOMMU_HWPT_ALLOC', 'DIRTY');
    const noDirty = self.fd.mockDomain(self.ioas, { noDirty: true });
    expectErrno('EOPNOTSUPP', () => self.fd.allocHwpt(noDirty, self.ioas, { dirtyTracking: true }), 'IOMMU_HWPT_ALLOC');
    expectErrno('EINVAL', () => noDirty.hwpt.markDirty(MOCK_APERTURE_START, PAGE_SIZE, new Uint8Array(1)));
  });

  test('the bitmap must hold the range', (ctx) => {
    requires(ctx, 'IOMMU_HWPT_GET_DIRTY_BITMAP');
    const mock = self.fd.mockDomain(self.ioas);
    expect(() => self.fd.backend.hwptGetDirtyBitmap(mock.hwptId, 0, 0n, 128n * 4096n, 4096n, new BigUint64Array(1))).toThrow(RangeError);
  });
});

describe('mock domains', () => {
  test('HUGE_IOVA domains and replace between IOASes', (ctx) => {
    requires(ctx, 'MOCK_DOMAIN_FLAGS', 'MOCK_DOMAIN_REPLACE');
    const huge = self.fd.mockDomain(self.ioas, { hugeIova: true });
    const iova = self.ioas.mapAnywhere(self.buffer);
    huge.checkMap(iova, self.buffer);
    const other = self.fd.allocIoas();
    const oldHwpt = huge.hwptId;
    const newHwpt = huge.replace(other);
    expect(newHwpt).not.toBe(oldHwpt);
    expectErrno('EINVAL', () => huge.checkMap(iova, self.buffer)); // nothing mapped in the new IOAS
    expectErrno('ENOENT', () => huge.replace(0xffff), 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE');
  });

  test('device flags: HUGE_IOVA is 6.12 only, PASID 7.3 only (mock_dev_create)', (ctx) => {
    requires(ctx, 'MOCK_DOMAIN_FLAGS');
    const accepts = (flags: number) => errno(() => self.fd.mockDomain(self.ioas, { flags }).destroy());
    expect(accepts(MOCK_FLAGS_DEVICE_HUGE_IOVA)).toBe(byKernel({ '6.12': 'OK', '7.3': 'EINVAL' }));
    expect(accepts(MOCK_FLAGS_DEVICE_PASID)).toBe(byKernel({ '6.12': 'EINVAL', '7.3': 'OK' }));
    expect(accepts(1 << 3)).toBe('EINVAL');
  });

  test('hugeIova: 1 MiB IO pages on either kernel, by device flag (6.12) or MOCK_IOMMUPT_HUGE (7.3)', (ctx) => {
    requires(ctx, 'MOCK_DOMAIN_FLAGS', 'MOCK_DOMAIN_REPLACE', 'IOMMU_HWPT_ALLOC', 'VFIO_IOMMU_GET_INFO');
    const huge = self.fd.mockDomain(self.ioas, { hugeIova: true });
    expect(huge.hugeIova).toBe(true);
    self.fd.setVfioIoas(self.ioas);
    // 6.12: MOCK_IO_PAGE_SIZE | MOCK_HUGE_PAGE_SIZE; 7.3: PAGE_SIZE | MOCK_HUGE_PAGE_SIZE. VFIO reports both as 4 KiB | 1 MiB.
    expect(self.fd.vfio.info().iovaPgsizes).toBe((1n << 20n) | 4096n);
    // The IOAS's alignment is the smallest IO page, and 7.3's huge table keeps the AMDv1 aperture.
    const ranges = self.ioas.iovaRanges();
    expect(ranges.alignment).toBe(byKernel({ '6.12': 2048n, '7.3': 4096n }));
    expect(ranges.ranges).toEqual(
      byKernel({ '6.12': [{ start: MOCK_APERTURE_START, last: MOCK_APERTURE_LAST }], '7.3': [{ start: 0n, last: (1n << 38n) - 1n }] }),
    );
    // MD_CHECK_MAP steps by MOCK_IO_PAGE_SIZE on 6.12, by the smallest IO page (PAGE_SIZE here) on 7.3.
    const iova = self.ioas.mapFixed(MOCK_APERTURE_START, self.buffer);
    huge.checkMap(iova, self.buffer);
    const halfPageIn = () => huge.checkMap(iova + 2048n, self.buffer, { offset: 2048, length: PAGE_SIZE });
    if (byKernel({ '6.12': true, '7.3': false })) halfPageIn();
    else expectErrno('EINVAL', halfPageIn, 'IOMMU_TEST_OP_MD_CHECK_MAP');
    // A HWPT allocated for the device on an IOAS has huge IO pages too.
    const other = self.fd.allocIoas();
    const hwpt = self.fd.allocHwpt(huge, other);
    const plain = self.fd.mockDomain(hwpt);
    self.fd.setVfioIoas(other);
    expect(self.fd.vfio.info().iovaPgsizes).toBe((1n << 20n) | 4096n);
    plain.destroy();
    hwpt.destroy();
    // Destroying the device takes its huge domain along (6.12: the automatic domain; 7.3: the device's own HWPT).
    const hugeHwpt = huge.hwptId;
    huge.destroy();
    expectErrno('ENOENT', () => self.fd.destroy(hugeHwpt), 'IOMMU_DESTROY');
  });

  test('VFIO iova_pgsizes of a plain mock domain: 2 KiB pages (6.12), AMDv1 2 KiB..64 GiB (7.3)', (ctx) => {
    requires(ctx, 'VFIO_IOMMU_GET_INFO');
    self.fd.mockDomain(self.ioas);
    self.fd.setVfioIoas(self.ioas);
    // iommufd_get_pagesizes() turns sub-PAGE_SIZE bits into PAGE_SIZE.
    expect(self.fd.vfio.info().iovaPgsizes).toBe(byKernel({ '6.12': 0x1000n, '7.3': 0x1ffffff000n }));
    // A mapping with neither READ nor WRITE: 6.12's mock maps it; 7.3's iommu_pt map_range() refuses it (EINVAL, with a WARN).
    const none = () => self.fd.backend.vfioMapDma(0, { bytes: self.buffer.bytes, offset: 0, length: PAGE_SIZE }, MOCK_APERTURE_START);
    if (byKernel({ '6.12': true, '7.3': false })) none();
    else expectErrno('EINVAL', none, 'VFIO_IOMMU_MAP_DMA');
  });

  test('paging HWPTs take selftest data and a fault queue on 7.3 only; nested data grew to 8 bytes', (ctx) => {
    requires(ctx, 'IOMMU_HWPT_ALLOC', 'IOMMU_FAULT_QUEUE_ALLOC');
    const mock = self.fd.mockDomain(self.ioas);
    const selftest = (words: number[]) => ({ data: { type: IOMMU_HWPT_DATA_SELFTEST, bytes: new Uint8Array(new Uint32Array(words).buffer) } });
    const result = (fn: () => { destroy(): void }) => errno(() => fn().destroy());
    // struct iommu_hwpt_selftest { iotlb; pagetable_type (7.3) }
    expect(result(() => self.fd.allocHwpt(mock, self.ioas, selftest([0])))).toBe(byKernel({ '6.12': 'EOPNOTSUPP', '7.3': 'OK' }));
    expect(result(() => self.fd.allocHwpt(mock, self.ioas, selftest([0, MOCK_IOMMUPT_HUGE])))).toBe(byKernel({ '6.12': 'EOPNOTSUPP', '7.3': 'OK' }));
    expect(result(() => self.fd.allocHwpt(mock, self.ioas, selftest([0, 2])))).toBe('EOPNOTSUPP');
    expect(result(() => self.fd.allocHwpt(mock, self.ioas, selftest([0, 0, 0])))).toBe(byKernel({ '6.12': 'EOPNOTSUPP', '7.3': 'EINVAL' }));
    expect(result(() => self.fd.allocHwpt(mock, self.ioas, { data: { type: IOMMU_HWPT_DATA_SELFTEST, bytes: new Uint8Array(3) } }))).toBe(
      byKernel({ '6.12': 'EOPNOTSUPP', '7.3': 'EINVAL' }),
    );
    using queue = self.fd.allocFaultQueue();
    expect(result(() => self.fd.allocHwpt(mock, self.ioas, { fault: queue }))).toBe(byKernel({ '6.12': 'EOPNOTSUPP', '7.3': 'OK' }));
    expectErrno(byKernel({ '6.12': 'EOPNOTSUPP', '7.3': 'ENOENT' }), () => self.fd.allocHwpt(mock, self.ioas, { flags: IOMMU_HWPT_FAULT_ID_VALID, fault: 0xffff }));
    expectErrno('EOPNOTSUPP', () => self.fd.allocHwpt(mock, self.ioas, { nestParent: true, fault: queue }));
    // Nested data: exactly the struct on 6.12 (4 bytes), iotlb up to the struct on 7.3 (8 bytes).
    const parent = self.fd.allocHwpt(mock, self.ioas, { nestParent: true });
    expect(result(() => self.fd.allocHwpt(mock, parent, selftest([IOMMU_TEST_IOTLB_DEFAULT, 0])))).toBe(byKernel({ '6.12': 'EINVAL', '7.3': 'OK' }));
    expect(result(() => self.fd.allocHwpt(mock, parent, selftest([IOMMU_TEST_IOTLB_DEFAULT, 0, 0])))).toBe('EINVAL');
  });

  test('MD_CHECK_MAP of a bad HWPT at a misaligned IOVA: EINVAL first on 6.12, ENOENT first on 7.3', (ctx) => {
    requires(ctx, 'MD_CHECK_MAP');
    const memory = { bytes: self.buffer.bytes, offset: 0, length: PAGE_SIZE };
    expectErrno(byKernel({ '6.12': 'EINVAL', '7.3': 'ENOENT' }), () => self.fd.backend.mdCheckMap(0xffff, MOCK_APERTURE_START + 1n, memory));
    const mock = self.fd.mockDomain(self.ioas);
    expectErrno('EINVAL', () => mock.checkMap(MOCK_APERTURE_START + 1n, self.buffer, { length: PAGE_SIZE }), 'IOMMU_TEST_OP_MD_CHECK_MAP');
  });
});

describe('fault queues and I/O page faults', () => {
  test('a fault triggered on an IOPF-capable HWPT is read and answered', (ctx) => {
    requires(ctx, 'IOMMU_FAULT_QUEUE_ALLOC', 'TRIGGER_IOPF');
    const mock = self.fd.mockDomain(self.ioas);
    const parent = self.fd.allocHwpt(mock, self.ioas, { nestParent: true });
    using queue = self.fd.allocFaultQueue();
    expectErrno('ENOENT', () => self.fd.backend.hwptAlloc({ flags: 1 << 2, devId: mock.idevId, ptId: parent.id, dataType: IOMMU_HWPT_DATA_SELFTEST, data: new Uint8Array(4), faultId: 0xffffffff }));
    const iopf = self.fd.allocHwpt(mock, parent, { selftestIotlb: IOMMU_TEST_IOTLB_DEFAULT, fault: queue });
    mock.replace(iopf);
    expect(queue.read()).toEqual([]);

    mock.triggerIopf({ pasid: 1, grpid: 2, perm: IOMMU_PGFAULT_PERM_READ | IOMMU_PGFAULT_PERM_WRITE, addr: 0xdeadbeafn });
    const faults = queue.read();
    expect(faults).toHaveLength(1);
    expect(faults[0]).toMatchObject({ devId: mock.idevId, pasid: 1, grpid: 2, addr: 0xdeadbeafn, perm: 3 });
    expect(queue.respond([{ cookie: faults[0]!.cookie }])).toBe(1);
    expectErrno('EINVAL', () => queue.respond([{ cookie: faults[0]!.cookie }])); // answered already
    mock.replace(self.ioas);
  });
});

describe('VFIO type1 compatibility', () => {
  test.for([
    ['type1v2', VFIO_TYPE1v2_IOMMU],
    ['type1', VFIO_TYPE1_IOMMU],
  ] as const)('%s: extensions, info with the IOVA range chain, map and unmap', ([, type], ctx) => {
    requires(ctx, 'VFIO_SET_IOMMU');
    const vfio = self.fd.vfio;
    expect(vfio.apiVersion()).toBe(VFIO_API_VERSION);
    expect(vfio.checkExtension(VFIO_TYPE1v2_IOMMU)).toBe(1);
    expect(vfio.checkExtension(VFIO_UNMAP_ALL)).toBe(1);
    expect(vfio.checkExtension(0x7777)).toBe(0);
    // VFIO_NOIOMMU_IOMMU: IS_ENABLED(CONFIG_VFIO_NOIOMMU), on in the rig's kernels.
    expect(vfio.checkExtension(8)).toBe(1);
    self.fd.mockDomain(self.ioas);
    self.fd.setVfioIoas(self.ioas);
    vfio.setIommu(type);
    const info = vfio.info();
    expect(info.flags & VFIO_IOMMU_INFO_CAPS).toBeTruthy();
    expect(info.iovaPgsizes).not.toBe(0n);
    expect(info.iovaRanges).toEqual([{ start: MOCK_APERTURE_START, last: (1n << 31n) - 1n }]);

    vfio.mapDma(MOCK_APERTURE_START, self.buffer);
    using access = self.fd.createAccess(self.ioas);
    expectBytes(access.read(MOCK_APERTURE_START, 64), self.buffer.bytes.subarray(0, 64));
    expect(self.buffer.mappings).toBe(1);
    expect(vfio.unmapDma(MOCK_APERTURE_START, BUFFER_SIZE)).toBe(BigInt(BUFFER_SIZE));
    expect(self.buffer.mappings).toBe(0);
    vfio.mapDma(MOCK_APERTURE_START, self.buffer, { length: PAGE_SIZE });
    vfio.mapDma(MOCK_APERTURE_START + BigInt(PAGE_SIZE), self.buffer, { offset: PAGE_SIZE, length: PAGE_SIZE });
    expect(vfio.unmapAll()).toBe(BigInt(2 * PAGE_SIZE));
  });

  test('SET_IOMMU with an unknown type is refused', (ctx) => {
    requires(ctx, 'VFIO_SET_IOMMU');
    self.fd.setVfioIoas(self.ioas);
    expect(() => self.fd.vfio.setIommu(0x77)).toThrow(IommufdError);
  });
});

describe('batches', () => {
  test('a thousand map/unmap pairs in one call, with every result', () => {
    using small = DmaBuffer.alloc(PAGE_SIZE);
    const result = self.fd.batch((b) => {
      for (let i = 0; i < 1000; i++) b.mapFixed(self.ioas, MOCK_APERTURE_START, small).unmap(self.ioas, MOCK_APERTURE_START, PAGE_SIZE);
    });
    expect(result.error).toBeNull();
    expect(result.errorIndex).toBe(-1);
    expect(result.results).toHaveLength(2000);
    expect(result.results[0]).toBe(MOCK_APERTURE_START);
    expect(result.results[1]).toBe(BigInt(PAGE_SIZE));
    expect(small.mappings).toBe(0);
  });

  test('memory references after a batch: a map undone by the next op is forgotten, anything else is noted', () => {
    using kept = DmaBuffer.alloc(PAGE_SIZE);
    using undone = DmaBuffer.alloc(PAGE_SIZE);
    using neighbour = DmaBuffer.alloc(PAGE_SIZE);
    const next = MOCK_APERTURE_START + BigInt(PAGE_SIZE);
    self.ioas.mapFixed(next + BigInt(PAGE_SIZE), neighbour);
    const result = self.fd.batch((b) =>
      b
        .mapFixed(self.ioas, MOCK_APERTURE_START, kept)
        .mapFixed(self.ioas, next, undone)
        .unmap(self.ioas, next, PAGE_SIZE)
        // an unmap wider than the map before it also takes the neighbour's area
        .mapFixed(self.ioas, next, undone)
        .unmap(self.ioas, next, 2 * PAGE_SIZE),
    );
    expect(result.error).toBeNull();
    expect(result.results).toEqual([MOCK_APERTURE_START, next, BigInt(PAGE_SIZE), next, BigInt(2 * PAGE_SIZE)]);
    expect([kept.mappings, undone.mappings, neighbour.mappings]).toEqual([1, 0, 0]);
    self.ioas.unmapAll();
    expect(kept.mappings).toBe(0);
  });

  test('a batch keeps one memory entry per memory object, whatever kind of view, and reads land in it', () => {
    using mem = DmaBuffer.alloc(PAGE_SIZE);
    mem.bytes.fill(7);
    self.ioas.mapFixed(MOCK_APERTURE_START, mem);
    using access = self.fd.createAccess(self.ioas);
    const bytes = new Uint8Array(64);
    const words = new Uint32Array(16);
    const record = (b: Batch) => {
      for (let i = 0; i < 10; i++)
        b.accessRw(access, MOCK_APERTURE_START + BigInt(i), bytes).accessRw(access, MOCK_APERTURE_START, words);
    };
    const encoding = new Batch(self.fd.backend, () => undefined);
    record(encoding);
    expect(encoding.encoded().memories).toHaveLength(2);
    const result = self.fd.batch(record);
    expect(result.error).toBeNull();
    expect(Array.from(bytes)).toEqual(new Array(64).fill(7));
    expect(Array.from(words)).toEqual(new Array(16).fill(0x07070707));
    self.ioas.unmapAll();
  });

  test('a batch stops at the first error and reports its index and errno', () => {
    using small = DmaBuffer.alloc(PAGE_SIZE);
    const result = self.fd.batch((b) =>
      b.mapFixed(self.ioas, MOCK_APERTURE_START, small).mapFixed(self.ioas, MOCK_APERTURE_START, small).unmap(self.ioas, MOCK_APERTURE_START, PAGE_SIZE),
    );
    expect(result.errorIndex).toBe(1);
    expect(result.error).toBeInstanceOf(IommufdError);
    expect((result.error as IommufdError).code).toBe('EEXIST');
    expect(result.results).toHaveLength(1);
    expect(small.mappings).toBe(1); // the first map succeeded and holds the memory
    self.ioas.unmapAll();
  });

  test('mapAnywhere and copy in a batch, into an IOAS the batch allocated (adoptIoas), hold the memory until unmapped', () => {
    using small = DmaBuffer.alloc(2 * PAGE_SIZE);
    const result = self.fd.batch((b) => b.raw('ioasAlloc').mapAnywhere(self.ioas, small));
    expect(result.error).toBeNull();
    const other = self.fd.adoptIoas(result.results[0] as number);
    const iova = result.results[1] as bigint;
    const copied = self.fd.batch((b) => b.copy(other, self.ioas, iova + BigInt(PAGE_SIZE), PAGE_SIZE));
    expect(copied.error).toBeNull();
    expect(small.mappings).toBe(2);
    expect(self.ioas.unmap(iova, 2 * PAGE_SIZE)).toBe(BigInt(2 * PAGE_SIZE));
    expect(small.mappings).toBe(1); // the copy still maps it
    expect(other.unmapAll()).toBe(BigInt(PAGE_SIZE));
    expect(small.mappings).toBe(0);
    other.destroy();
  });
});

describe('fault injection (fail-nth)', () => {
  test('every injected failure of a map-and-pin body is a clean IommufdError, and nothing leaks', (ctx) => {
    requires(ctx, 'failNth');
    const failures: IommufdError[] = [];
    let iterations = 0;
    for (let nth = 1; nth < 400; nth++) {
      iterations = nth;
      using sweepFd = openIommufd();
      const sweepIoas = sweepFd.allocIoas();
      const mock = sweepFd.mockDomain(sweepIoas);
      const result = sweepFd.batch((b) => b.mapFixed(sweepIoas, MOCK_APERTURE_START, self.buffer).unmap(sweepIoas, MOCK_APERTURE_START, BUFFER_SIZE), { failNth: nth });
      if (result.error) {
        expect(result.error).toBeInstanceOf(IommufdError);
        failures.push(result.error as IommufdError);
      }
      // Whatever failed, no page stays pinned and everything can be torn down.
      sweepIoas.unmapAll();
      self.fd.checkRefs(self.buffer, 0);
      mock.destroy();
      sweepIoas.destroy();
      if (!result.injected) {
        expect(result.error).toBeNull();
        break;
      }
    }
    expect(iterations).toBeGreaterThan(1);
    expect(failures.length).toBeGreaterThan(0);
    for (const f of failures) expect(['ENOMEM', 'EFAULT', 'EINVAL', 'ENOENT']).toContain(f.code);
  });
});

describe('bad input reaches each new ioctl as a clean errno', () => {
  test('wrong id types, bad flags, misalignment and overflow', (ctx) => {
    requires(ctx, 'IOMMU_HWPT_SET_DIRTY_TRACKING', 'IOMMU_HWPT_GET_DIRTY_BITMAP', 'IOMMU_IOAS_COPY', 'VFIO_IOMMU_MAP_DMA');
    const mock = self.fd.mockDomain(self.ioas);
    const b = self.fd.backend;
    // An IOAS id where a HWPT id is expected.
    expectErrno('ENOENT', () => b.hwptSetDirtyTracking(self.ioas.id, true), 'IOMMU_HWPT_SET_DIRTY_TRACKING');
    // A domain without dirty tracking refuses to start it.
    expectErrno('EOPNOTSUPP', () => b.hwptSetDirtyTracking(mock.hwptId, true), 'IOMMU_HWPT_SET_DIRTY_TRACKING');
    // A bitmap read at an IOVA not aligned to the page size.
    expectErrno('EINVAL', () => b.hwptGetDirtyBitmap(mock.hwptId, 0, MOCK_APERTURE_START + 1n, 4096n, 4096n, new BigUint64Array(1)));
    // iova + length wrapping past 2^64 in a copy's destination.
    self.ioas.mapFixed(MOCK_APERTURE_START, self.buffer);
    expectErrno('EOVERFLOW', () => b.ioasCopy(self.ioas.id, self.ioas.id, 0b11 /* FIXED_IOVA | WRITEABLE */, (1n << 64n) - 4096n, MOCK_APERTURE_START, 8192n));
    // A zero-size VFIO map.
    self.fd.setVfioIoas(self.ioas);
    self.fd.vfio.setIommu(VFIO_TYPE1v2_IOMMU);
    expectErrno('EINVAL', () => self.fd.vfio.mapDma(MOCK_APERTURE_START, self.buffer, { length: 0 }), 'VFIO_IOMMU_MAP_DMA');
  });
});
