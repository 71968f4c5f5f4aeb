// FIXTURE(iommufd_viommu) of 7.3's tools/testing/selftests/iommu/iommufd.c: a mock
// device, a nest-parent HWPT, a selftest vIOMMU on it and a nested HWPT on the
// vIOMMU (variant mock_viommu), or none of these (no_viommu: every id 0). 6.12
// has no vIOMMU ioctls nor test ops: "kernel lacks".
import { expect } from 'vitest';
import {
  IOMMU_HW_QUEUE_TYPE_DEFAULT,
  IOMMU_HW_QUEUE_TYPE_SELFTEST,
  IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_PGFAULT_PERM_READ,
  IOMMU_PGFAULT_PERM_WRITE,
  IOMMU_TEST_DEV_CACHE_DEFAULT,
  IOMMU_TEST_HW_QUEUE_MAX,
  IOMMU_TEST_IOTLB_DEFAULT,
  IOMMU_VEVENTQ_TYPE_SELFTEST,
  IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
  IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID,
  IOMMU_VIOMMU_TYPE_SELFTEST,
  MOCK_APERTURE_START,
  MOCK_DEV_CACHE_ID_MAX,
  MOCK_DEV_CACHE_NUM,
  SIZEOF_IOMMUFD_VEVENT_HEADER,
  SIZEOF_IOMMU_VIOMMU_INVALIDATE_SELFTEST,
  U64_MAX,
  type FaultQueue,
  type Hwpt,
  type Ioas,
  type Iommufd,
  type MockDevice,
  type Veventq,
  type Viommu,
} from '../../lib/index.js';
import { capabilities, openIommufd } from '../backend.js';
import { expectErrno } from '../helpers.js';
import { type Ctx, PAGE_SIZE, buffer, fixture, kernelLacks, selftestSkips, teardownIommufd } from './harness.js';
import { DEFAULT_MEMORY_LIMIT } from './ioas-fixture.js';

interface Self {
  fd: Iommufd;
  ioas: Ioas;
  /** mock_viommu only (the C fixture's ids are 0 on no_viommu). */
  dev: MockDevice | null;
  /** The nest-parent HWPT (hwpt_id). */
  hwpt: Hwpt | null;
  viommu: Viommu | null;
  nestedHwpt: Hwpt | null;
}

interface Variant {
  viommu: boolean;
}

/** What the fixture's tests use, each of 7.3's uAPI. */
const VIOMMU_FEATURES = ['IOMMU_VIOMMU_ALLOC', 'IOMMU_VDEVICE_ALLOC', 'IOMMU_VEVENTQ_ALLOC', 'IOMMU_HW_QUEUE_ALLOC', 'DEV_CHECK_CACHE', 'TRIGGER_VEVENT'];

const iommufd_viommu = fixture<Self, Variant>(
  'iommufd_viommu',
  { no_viommu: { viommu: false }, mock_viommu: { viommu: true } },
  (variant, ctx, self) => {
    const caps = capabilities();
    const lacking = VIOMMU_FEATURES.filter((name) => !(caps.ioctls[name] ?? caps.testOps[name]));
    if (lacking.length) kernelLacks(ctx, lacking.join(', '));
    self.fd = openIommufd();
    self.ioas = self.fd.allocIoas();
    self.fd.setTempMemoryLimit(DEFAULT_MEMORY_LIMIT);
    self.dev = self.hwpt = self.viommu = self.nestedHwpt = null;
    if (variant.viommu) {
      self.dev = self.fd.mockDomain(self.ioas);
      // A nesting parent HWPT, which the vIOMMU holds.
      self.hwpt = self.fd.allocHwpt(self.dev, self.ioas, { nestParent: true });
      self.viommu = self.fd.allocViommu(self.dev, self.hwpt, { type: IOMMU_VIOMMU_TYPE_SELFTEST });
      // A regular nested HWPT on the vIOMMU.
      self.nestedHwpt = self.fd.allocHwpt(self.dev, self.viommu, { selftestIotlb: IOMMU_TEST_IOTLB_DEFAULT });
    }
    return self as Self;
  },
  (self) => {
    if (self.fd) teardownIommufd(self.fd);
  },
);

/** The C tests SKIP the no_viommu variant where they need the vIOMMU; so do these. */
function skipWithoutViommu(self: Self, ctx: Ctx): void {
  if (!self.viommu) selftestSkips(ctx, 'Skipping test for variant no_viommu');
}

/** The C fixture's ids: 0 where the variant has no object. */
const idOf = (obj: { id: number } | null): number => obj?.id ?? 0;
const devIdOf = (dev: MockDevice | null): number => dev?.idevId ?? 0;

/** _test_cmd_read_vevents(): read `count` vEVENTs; a lost-events header or a gap is EOVERFLOW, another device EINVAL. */
function readVevents(queue: Veventq, count: number, virtId: number, seq: { prev: number }): string | null {
  const events = queue.read(count);
  expect(events.length).toBeGreaterThan(0);
  for (const event of events) {
    if (event.lostEvents || event.sequence - seq.prev > 1) {
      seq.prev = event.sequence;
      return 'EOVERFLOW';
    }
    seq.prev = event.sequence;
    if (event.virtId !== virtId) return 'EINVAL';
  }
  expect(events.length).toBe(count);
  return null;
}

/** _test_cmd_trigger_iopf() on PASID 0x1: fault, read it from the queue, answer it. */
function triggerIopf(dev: MockDevice, fault: FaultQueue): void {
  dev.triggerIopf({ pasid: 0x1, grpid: 0x2, perm: IOMMU_PGFAULT_PERM_READ | IOMMU_PGFAULT_PERM_WRITE, addr: 0xdeadbeafn });
  const faults = fault.read(1);
  expect(faults.length).toBe(1);
  expect(fault.respond([{ cookie: faults[0]!.cookie, success: true }])).toBeGreaterThan(0);
}

/** struct iommu_viommu_invalidate_selftest[count], zeroed: the raw form for entry_len tests. */
function rawInvalidation(count: number, entryLen: number, entryNum: number, dataType = IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST) {
  return { dataType, entryLen, entries: new Uint8Array(count * SIZEOF_IOMMU_VIOMMU_INVALIDATE_SELFTEST), entryNum };
}

function checkCacheAll(dev: MockDevice, value: number): void {
  for (let i = 0; i < MOCK_DEV_CACHE_NUM; i++) dev.checkCache(i, value);
}

iommufd_viommu.test('viommu_auto_destroy', () => {});

iommufd_viommu.test('viommu_negative_tests', (self) => {
  const { fd, ioas, dev } = self;
  const allocErr = (code: string, device: MockDevice | number, parent: Hwpt | number, type: number) =>
    expectErrno(code, () => fd.allocViommu(device, parent, { type }), 'IOMMU_VIOMMU_ALLOC');
  if (dev) {
    // An invalid HWPT (id 0).
    allocErr('ENOENT', dev, 0, IOMMU_VIOMMU_TYPE_SELFTEST);
    // Not a nesting parent.
    const hwpt = fd.allocHwpt(dev, ioas);
    allocErr('EINVAL', dev, hwpt, IOMMU_VIOMMU_TYPE_SELFTEST);
    hwpt.destroy();
    // An unsupported vIOMMU type.
    allocErr('EOPNOTSUPP', dev, self.hwpt!, 0xdead);
    expectErrno('EBUSY', () => self.hwpt!.destroy(), 'IOMMU_DESTROY');
    expectErrno('EBUSY', () => self.viommu!.destroy(), 'IOMMU_DESTROY');
  } else {
    allocErr('ENOENT', devIdOf(dev), idOf(self.hwpt), IOMMU_VIOMMU_TYPE_SELFTEST);
  }
});

iommufd_viommu.test('viommu_alloc_nested_iopf', (self, _variant, ctx) => {
  skipWithoutViommu(self, ctx);
  const { fd } = self;
  const dev = self.dev!;
  const viommu = self.viommu!;
  const nested = { selftestIotlb: IOMMU_TEST_IOTLB_DEFAULT };
  const fault = fd.allocFaultQueue();
  expectErrno('ENOENT', () => fd.allocHwpt(dev, viommu, { ...nested, fault: 0xffff_ffff }), 'IOMMU_HWPT_ALLOC');
  expectErrno('EOPNOTSUPP', () => fd.allocHwpt(dev, viommu, { ...nested, fault, flags: (IOMMU_HWPT_FAULT_ID_VALID | (1 << 31)) >>> 0 }), 'IOMMU_HWPT_ALLOC');
  const iopfHwpt = fd.allocHwpt(dev, viommu, { ...nested, fault });

  // A vDEVICE must exist before the device attaches to a nested HWPT of the vIOMMU.
  expectErrno('ENOENT', () => dev.replace(iopfHwpt), 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE');
  fd.allocVdevice(viommu, dev, 0x99);
  dev.replace(iopfHwpt);
  expectErrno('EBUSY', () => iopfHwpt.destroy(), 'IOMMU_DESTROY');
  triggerIopf(dev, fault);

  dev.replace(self.ioas);
  iopfHwpt.destroy();
  fault.close();
  fd.destroy(fault.id);
});

iommufd_viommu.test('viommu_alloc_with_data', (self, _variant, ctx) => {
  skipWithoutViommu(self, ctx);
  const { fd } = self;
  const dev = self.dev!;
  const viommu = fd.allocViommu(dev, self.hwpt!, { type: IOMMU_VIOMMU_TYPE_SELFTEST, selftestData: 0xbeef });
  self.viommu = viommu;
  const data = viommu.selftestData!;
  expect(data.outData).toBe(data.inData);

  // Negative mmap tests: the offset and length cannot change.
  const mmapErr = (length: bigint, offset: bigint) => expectErrno('ENXIO', () => viommu.mmap({ offset, length }), 'mmap(iommufd)');
  const page = BigInt(PAGE_SIZE);
  mmapErr(data.mmapLength, data.mmapOffset + page);
  mmapErr(data.mmapLength, data.mmapOffset + 2n * page);
  mmapErr(data.mmapLength / 2n, data.mmapOffset);
  mmapErr(data.mmapLength * 2n, data.mmapOffset);

  // A correct mmap for a loopback test.
  const mapping = viommu.mmap();
  expect(mapping.read32(0)).toBe(data.inData);
  // The owner of the mmap region is blocked.
  expectErrno('EBUSY', () => viommu.destroy(), 'IOMMU_DESTROY');
  mapping.unmap();
});

iommufd_viommu.test('vdevice_alloc', (self) => {
  const { fd, dev, viommu } = self;
  if (!dev || !viommu) {
    expectErrno('ENOENT', () => fd.allocVdevice(idOf(viommu), devIdOf(dev), 0x99), 'IOMMU_VDEVICE_ALLOC');
    return;
  }
  const nested = self.nestedHwpt!;
  // A vDEVICE must exist before the device attaches to a nested HWPT of the vIOMMU.
  expectErrno('ENOENT', () => dev.replace(nested), 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE');

  // The depth's bounds (eventq.c's VEVENTQ_MAX_DEPTH).
  const VEVENTQ_MAX_DEPTH = 1 << 19;
  const veventqErr = (code: string, depth: number) =>
    expectErrno(code, () => fd.allocVeventq(viommu, { type: IOMMU_VEVENTQ_TYPE_SELFTEST, depth }), 'IOMMU_VEVENTQ_ALLOC');
  veventqErr('EINVAL', 0);
  veventqErr('EINVAL', VEVENTQ_MAX_DEPTH + 1);
  fd.allocVeventq(viommu, { type: IOMMU_VEVENTQ_TYPE_SELFTEST, depth: VEVENTQ_MAX_DEPTH }).close();

  // A vEVENTQ of depth 2; one per type.
  const veventq = fd.allocVeventq(viommu, { type: IOMMU_VEVENTQ_TYPE_SELFTEST, depth: 2 });
  veventqErr('EEXIST', 2);

  // Invalid read counts on an empty vEVENTQ.
  const readErr = (count: number) => expectErrno('EINVAL', () => veventq.readInto(new Uint8Array(count)), 'read(veventq fd)');
  readErr(0);
  readErr(SIZEOF_IOMMUFD_VEVENT_HEADER - 1);

  // vdev_id 0x99, unset it, then 0x88.
  const seq = { prev: -1 };
  let vdev = fd.allocVdevice(viommu, dev, 0x99);
  dev.replace(nested);
  dev.triggerVevent();

  // Invalid read counts on a non-empty vEVENTQ: the header fits but the payload does not.
  readErr(0);
  readErr(SIZEOF_IOMMUFD_VEVENT_HEADER);

  expect(readVevents(veventq, 1, 0x99, seq)).toBeNull();
  expectErrno('EEXIST', () => fd.allocVdevice(viommu, dev, 0x99), 'IOMMU_VDEVICE_ALLOC');
  dev.replace(self.ioas);
  vdev.destroy();

  // Again with 0x88, overflowing the queue with three events.
  vdev = fd.allocVdevice(viommu, dev, 0x88);
  dev.replace(nested);
  for (let i = 0; i < 3; i++) dev.triggerVevent();
  expect(readVevents(veventq, 3, 0x88, seq)).toBe('EOVERFLOW');
  // The overflow is gone after those reads.
  dev.triggerVevent();
  expect(readVevents(veventq, 1, 0x88, seq)).toBeNull();
  veventq.close();
  dev.replace(self.ioas);
  vdev.destroy();
});

iommufd_viommu.test('vdevice_cache', (self, _variant, ctx) => {
  skipWithoutViommu(self, ctx);
  const { fd } = self;
  const dev = self.dev!;
  const viommu = self.viommu!;
  const size = SIZEOF_IOMMU_VIOMMU_INVALIDATE_SELFTEST;
  const vdev = fd.allocVdevice(viommu, dev, 0x99);
  checkCacheAll(dev, IOMMU_TEST_DEV_CACHE_DEFAULT);

  /** test_err_viommu_invalidate(): the errno, and how many entries were handled. */
  const invalidateErr = (code: string, entries: Parameters<Viommu['invalidate']>[0], handled: number) =>
    expect((expectErrno(code, () => viommu.invalidate(entries), 'IOMMU_HWPT_INVALIDATE') as { handled?: number }).handled).toBe(handled);

  // A zero-length array checks data_type.
  expect(viommu.invalidate(rawInvalidation(2, size, 0))).toBe(0);
  // An invalid data_type.
  invalidateErr('EINVAL', rawInvalidation(2, size, 1, IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID), 0);
  // Structure size sanity (the zeroed entry names no vDEVICE either way).
  invalidateErr('EINVAL', rawInvalidation(2, size + 1, 1), 0);
  invalidateErr('EINVAL', rawInvalidation(2, 1, 1), 0);
  // An invalid flag.
  invalidateErr('EOPNOTSUPP', [{ flags: 0xffff_ffff, vdevId: 0x99 }], 0);
  // A NULL data_uptr with a non-empty array.
  invalidateErr('EINVAL', { dataType: IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, entryLen: size, entries: null, entryNum: 1 }, 0);
  // entry_len 0 with a non-empty array.
  invalidateErr('EINVAL', rawInvalidation(2, 0, 1), 0);
  // An invalid cache_id.
  invalidateErr('EINVAL', [{ vdevId: 0x99, cacheId: MOCK_DEV_CACHE_ID_MAX + 1 }], 0);
  // An invalid vdev_id.
  invalidateErr('EINVAL', [{ vdevId: 0x9, cacheId: 0 }], 0);

  // The 1st entry is invalidated, the 2nd request fails on its flags.
  invalidateErr('EOPNOTSUPP', [{ vdevId: 0x99, cacheId: 0 }, { flags: 0xffff_ffff, vdevId: 0x99, cacheId: 1 }], 1);
  dev.checkCache(0, 0);
  for (const i of [1, 2, 3]) dev.checkCache(i, IOMMU_TEST_DEV_CACHE_DEFAULT);

  // The 1st entry is invalidated, the 2nd request fails on its cache_id.
  invalidateErr('EINVAL', [{ vdevId: 0x99, cacheId: 0 }, { vdevId: 0x99, cacheId: MOCK_DEV_CACHE_ID_MAX + 1 }], 1);
  dev.checkCache(0, 0);
  for (const i of [1, 2, 3]) dev.checkCache(i, IOMMU_TEST_DEV_CACHE_DEFAULT);

  // The 2nd entry.
  expect(viommu.invalidate([{ vdevId: 0x99, cacheId: 1 }])).toBe(1);
  dev.checkCache(0, 0);
  dev.checkCache(1, 0);
  for (const i of [2, 3]) dev.checkCache(i, IOMMU_TEST_DEV_CACHE_DEFAULT);

  // The 3rd and 4th.
  expect(viommu.invalidate([{ vdevId: 0x99, cacheId: 2 }, { vdevId: 0x99, cacheId: 3 }])).toBe(2);
  checkCacheAll(dev, 0);

  // Every entry of the device.
  expect(viommu.invalidate([{ vdevId: 0x99, all: true }])).toBe(1);
  checkCacheAll(dev, 0);
  vdev.destroy();
});

iommufd_viommu.test('hw_queue', (self, _variant, ctx) => {
  skipWithoutViommu(self, ctx);
  const { fd, ioas } = self;
  const viommu = self.viommu!;
  const queueErr = (code: string, type: number, index: number, iova: bigint, length: number) =>
    expectErrno(code, () => fd.allocHwQueue(viommu, { type, index, iova, length }), 'IOMMU_HW_QUEUE_ALLOC');
  let iova = MOCK_APERTURE_START;
  const SELFTEST = IOMMU_HW_QUEUE_TYPE_SELFTEST;

  // IOMMU_HW_QUEUE_TYPE_DEFAULT fails.
  queueErr('EOPNOTSUPP', IOMMU_HW_QUEUE_TYPE_DEFAULT, 0, iova, PAGE_SIZE);
  // The queue's address and length.
  queueErr('EINVAL', SELFTEST, 0, iova, 0);
  queueErr('EOVERFLOW', SELFTEST, 0, U64_MAX, PAGE_SIZE);
  // An IOVA not mapped.
  queueErr('ENOENT', SELFTEST, 0, iova, PAGE_SIZE);

  iova = ioas.mapAnywhere(buffer(), { length: PAGE_SIZE });
  const iova2 = ioas.mapAnywhere(buffer(), { offset: PAGE_SIZE, length: PAGE_SIZE });

  // Index 1 and IOMMU_TEST_HW_QUEUE_MAX fail: indexes start from 0.
  queueErr('EIO', SELFTEST, 1, iova, PAGE_SIZE);
  queueErr('EINVAL', SELFTEST, IOMMU_TEST_HW_QUEUE_MAX, iova, PAGE_SIZE);

  // Index 0 owns the IOVA now.
  const queue0 = fd.allocHwQueue(viommu, { type: SELFTEST, index: 0, iova, length: PAGE_SIZE });
  // A duplicate index.
  queueErr('EEXIST', SELFTEST, 0, iova, PAGE_SIZE);
  // The queue's page cannot be unmapped; the 2nd page, not pinned, can.
  expectErrno('EBUSY', () => ioas.unmap(iova, PAGE_SIZE), 'IOMMU_IOAS_UNMAP');
  ioas.unmap(iova2, PAGE_SIZE);

  // Index 1, unaligned.
  const queue1 = fd.allocHwQueue(viommu, { type: SELFTEST, index: 1, iova: iova + BigInt(PAGE_SIZE / 2), length: PAGE_SIZE / 2 });
  // Index 0 cannot go first: index 1 depends on it.
  expectErrno('EBUSY', () => queue0.destroy(), 'IOMMU_DESTROY');

  // Descending order.
  queue1.destroy();
  queue0.destroy();
  // Now the first page unmaps.
  ioas.unmap(iova, PAGE_SIZE);
});

iommufd_viommu.test('vdevice_tombstone', (self, _variant, ctx) => {
  skipWithoutViommu(self, ctx);
  const { fd } = self;
  const dev = self.dev!;
  const viommu = self.viommu!;
  const vdev = fd.allocVdevice(viommu, dev, 0x99);
  dev.destroy();
  expectErrno('ENOENT', () => vdev.destroy(), 'IOMMU_DESTROY');
});

