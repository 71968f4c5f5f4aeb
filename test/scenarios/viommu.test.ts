// 7.3's vIOMMU objects on both backends: bad input (JS mistakes rejected before the
// ioctl; the kernel's errno, the simulator agreeing), lifetimes (what keeps a vIOMMU
// busy, closing order, closing the iommufd with everything alive), and u64 fields
// as bigint. 6.12 has none of these ioctls (ENOTTY) nor test ops (EOPNOTSUPP).
import { beforeEach, describe, expect, test } from 'vitest';
import {
  DmaBuffer,
  IOMMU_HW_QUEUE_TYPE_DEFAULT,
  IOMMU_TEST_DEV_CACHE_DEFAULT,
  IOMMU_TEST_IOTLB_DEFAULT,
  IOMMU_VEVENTQ_TYPE_DEFAULT,
  IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
  IOMMU_VIOMMU_TYPE_DEFAULT,
  SIZEOF_IOMMU_VIOMMU_SELFTEST,
  U64_MAX,
  Iommufd,
  type Hwpt,
  type MockDevice,
  type Viommu,
} from '../../lib/index.js';
import { capabilities, kernelVersion, openIommufd, requires } from '../backend.js';
import { expectErrno } from '../helpers.js';
import { scenarioFixture } from './fixture.js';

const VIOMMU_IOCTLS = ['IOMMU_VIOMMU_ALLOC', 'IOMMU_VDEVICE_ALLOC', 'IOMMU_VEVENTQ_ALLOC', 'IOMMU_HW_QUEUE_ALLOC'];
const VIOMMU_TEST_OPS = ['DEV_CHECK_CACHE', 'TRIGGER_VEVENT'];
const PAGE_SIZE = 4096;

const self = scenarioFixture();

test('capabilities report the vIOMMU ioctls and test ops on 7.3; 6.12 answers them ENOTTY / EOPNOTSUPP', () => {
  const caps = capabilities();
  const has = kernelVersion() !== '6.12';
  for (const name of VIOMMU_IOCTLS) expect([name, caps.ioctls[name]]).toEqual([name, has]);
  for (const name of VIOMMU_TEST_OPS) expect([name, caps.testOps[name]]).toEqual([name, has]);
  if (has) return;
  const dev = self.fd.mockDomain(self.ioas);
  const parent = self.fd.allocHwpt(dev, self.ioas, { nestParent: true });
  expectErrno('ENOTTY', () => self.fd.allocViommu(dev, parent), 'IOMMU_VIOMMU_ALLOC');
  expectErrno('ENOTTY', () => self.fd.allocVdevice(1, dev, 1), 'IOMMU_VDEVICE_ALLOC');
  expectErrno('ENOTTY', () => self.fd.allocVeventq(1, { depth: 1 }), 'IOMMU_VEVENTQ_ALLOC');
  expectErrno('ENOTTY', () => self.fd.allocHwQueue(1, { index: 0, iova: 0, length: PAGE_SIZE }), 'IOMMU_HW_QUEUE_ALLOC');
  expectErrno('EOPNOTSUPP', () => dev.checkCache(0, IOMMU_TEST_DEV_CACHE_DEFAULT), 'IOMMU_TEST_OP_DEV_CHECK_CACHE');
  expectErrno('EOPNOTSUPP', () => dev.triggerVevent(), 'IOMMU_TEST_OP_TRIGGER_VEVENT');
});

describe('7.3 vIOMMU objects', () => {
  let dev: MockDevice;
  let parent: Hwpt;
  let viommu: Viommu;

  beforeEach((ctx) => {
    requires(ctx, ...VIOMMU_IOCTLS, ...VIOMMU_TEST_OPS);
    dev = self.fd.mockDomain(self.ioas);
    parent = self.fd.allocHwpt(dev, self.ioas, { nestParent: true });
    viommu = self.fd.allocViommu(dev, parent);
  });

  test('bad input from JS is rejected before the ioctl', () => {
    expect(() => self.fd.allocViommu('1' as unknown as number, parent)).toThrow(TypeError);
    expect(() => self.fd.allocViommu(dev, self.ioas as unknown as Hwpt)).toThrow(TypeError);
    expect(() => self.fd.allocViommu(dev, parent, { type: -1 })).toThrow(RangeError);
    expect(() => self.fd.allocViommu(dev, parent, { selftestData: 1, data: new Uint8Array(24) })).toThrow(TypeError);
    expect(() => self.fd.allocViommu(dev, parent, { data: [1, 2] as unknown as Uint8Array })).toThrow(TypeError);
    expect(() => self.fd.allocVdevice(viommu, dev, -1)).toThrow(RangeError);
    expect(() => self.fd.allocVdevice(viommu, dev, 1n << 64n)).toThrow(RangeError);
    expect(() => self.fd.allocVdevice(viommu, dev, 1.5)).toThrow(RangeError);
    expect(() => self.fd.allocVdevice(parent as unknown as Viommu, dev, 1)).toThrow(TypeError);
    expect(() => self.fd.allocVeventq(viommu, { depth: -1 })).toThrow(RangeError);
    expect(() => self.fd.allocVeventq(viommu, undefined as unknown as { depth: number })).toThrow(TypeError);
    expect(() => self.fd.allocHwQueue(viommu, { index: 0, iova: 'a' as unknown as number, length: PAGE_SIZE })).toThrow(TypeError);
    expect(() => self.fd.allocHwQueue(viommu, { index: 0, iova: 0, length: -1 })).toThrow(RangeError);
    expect(() => viommu.invalidate(null as unknown as [])).toThrow(TypeError);
    expect(() => viommu.invalidate([{ vdevId: -1 }])).toThrow(RangeError);
    // More entries than the array holds: the addon's bounds check, before the ioctl.
    const entries = new Uint8Array(12);
    expect(() => viommu.invalidate({ dataType: IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, entryLen: 12, entries, entryNum: 2 })).toThrow(RangeError);
    expect(() => viommu.mmap()).toThrow(/no selftest driver data/);
    // Another iommufd's vIOMMU is not this one's.
    const other = openIommufd();
    try {
      const otherIoas = other.allocIoas();
      const otherDev = other.mockDomain(otherIoas);
      const foreign = other.allocViommu(otherDev, other.allocHwpt(otherDev, otherIoas, { nestParent: true }));
      expect(() => self.fd.allocVdevice(foreign, dev, 1)).toThrow(TypeError);
      expect(() => self.fd.allocHwpt(dev, foreign, { selftestIotlb: 0 })).toThrow(TypeError);
    } finally {
      other.close();
    }
  });

  test('IOMMU_VIOMMU_ALLOC errnos', () => {
    const alloc = (code: string, options: Parameters<Iommufd['allocViommu']>[2], pt: Hwpt | number = parent) =>
      expectErrno(code, () => self.fd.allocViommu(dev, pt, options), 'IOMMU_VIOMMU_ALLOC');
    alloc('EOPNOTSUPP', { flags: 1 });
    alloc('EOPNOTSUPP', { type: IOMMU_VIOMMU_TYPE_DEFAULT });
    alloc('ENOENT', {}, 0xffff);
    // The IOAS is no HWPT; a paging HWPT without NEST_PARENT is no nesting parent.
    alloc('ENOENT', {}, self.ioas.id);
    alloc('EINVAL', {}, self.fd.allocHwpt(dev, self.ioas));
    // Driver data: at least up to out_data, at most the kernel's struct, zeros past it or not.
    alloc('EINVAL', { data: new Uint8Array(4) });
    alloc('EINVAL', { data: new Uint8Array(SIZEOF_IOMMU_VIOMMU_SELFTEST + 8) });
    expectErrno('ENOENT', () => self.fd.allocViommu(0xffff, parent), 'IOMMU_VIOMMU_ALLOC');
  });

  test('the selftest driver data round-trips, with u64 mmap offset and length as bigint', () => {
    const withData = self.fd.allocViommu(dev, parent, { selftestData: 0xfeedf00d });
    const data = withData.selftestData!;
    expect(data.inData).toBe(0xfeedf00d);
    expect(data.outData).toBe(0xfeedf00d);
    expect(typeof data.mmapOffset).toBe('bigint');
    expect(data.mmapLength).toBe(2n * BigInt(PAGE_SIZE));
    expect(data.mmapOffset % BigInt(PAGE_SIZE)).toBe(0n);
    {
      using mapping = withData.mmap();
      expect(mapping.read32(0)).toBe(0xfeedf00d);
      expect(() => mapping.read32(2)).toThrow(RangeError);
      expect(() => mapping.read32(mapping.length)).toThrow(RangeError);
      expectErrno('EBUSY', () => withData.destroy(), 'IOMMU_DESTROY');
    }
    withData.destroy();
  });

  test('IOMMU_VDEVICE_ALLOC errnos, and a u64 virtual id as bigint', () => {
    expectErrno('ENOENT', () => self.fd.allocVdevice(0xffff, dev, 1), 'IOMMU_VDEVICE_ALLOC');
    expectErrno('ENOENT', () => self.fd.allocVdevice(viommu, 0xffff, 1), 'IOMMU_VDEVICE_ALLOC');
    const top = U64_MAX;
    const vdev = self.fd.allocVdevice(viommu, dev, top);
    expect(vdev.virtId).toBe(top);
    // One vDEVICE per device, one device per virtual id.
    expectErrno('EEXIST', () => self.fd.allocVdevice(viommu, dev, 2), 'IOMMU_VDEVICE_ALLOC');
    const dev2 = self.fd.mockDomain(self.ioas);
    expectErrno('EEXIST', () => self.fd.allocVdevice(viommu, dev2, top), 'IOMMU_VDEVICE_ALLOC');
    // Longer entries are read with copy_struct_from_user(): zeros past the struct or E2BIG.
    const long = new Uint8Array(16);
    new DataView(long.buffer).setUint32(4, 0xffff_ffff, true);
    const invalidateLong = () => viommu.invalidate({ dataType: IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, entryLen: 16, entries: long, entryNum: 1 });
    expectErrno('EINVAL', invalidateLong, 'IOMMU_HWPT_INVALIDATE'); // (vdev_id 0xffffffff names no vDEVICE)
    long[12] = 1;
    expectErrno('E2BIG', invalidateLong, 'IOMMU_HWPT_INVALIDATE');
    // The invalidation format has a u32 vdev_id: it reaches no u64 id past it.
    expectErrno('EINVAL', () => viommu.invalidate([{ vdevId: 0xffff_ffff }]), 'IOMMU_HWPT_INVALIDATE');
    vdev.destroy();
    const low = self.fd.allocVdevice(viommu, dev2, 0x1_0000_0001n);
    expectErrno('EINVAL', () => viommu.invalidate([{ vdevId: 1 }]), 'IOMMU_HWPT_INVALIDATE');
    low.destroy();
  });

  test('vEVENTQ: errnos, empty reads, events with the device virtual id, lost events', () => {
    const alloc = (code: string, options: Parameters<Iommufd['allocVeventq']>[1], id: Viommu | number = viommu) =>
      expectErrno(code, () => self.fd.allocVeventq(id, options), 'IOMMU_VEVENTQ_ALLOC');
    alloc('EOPNOTSUPP', { depth: 1, flags: 1 });
    alloc('EOPNOTSUPP', { depth: 1, type: IOMMU_VEVENTQ_TYPE_DEFAULT });
    alloc('EINVAL', { depth: 0 });
    alloc('ENOENT', { depth: 1 }, 0xffff);
    // Not attached to a nested HWPT of a vIOMMU: no event.
    expectErrno('ENOENT', () => dev.triggerVevent(), 'IOMMU_TEST_OP_TRIGGER_VEVENT');
    const nested = self.fd.allocHwpt(dev, viommu, { selftestIotlb: IOMMU_TEST_IOTLB_DEFAULT });
    self.fd.allocVdevice(viommu, dev, 0x42);
    dev.replace(nested);
    // No queue for the events: EOPNOTSUPP.
    expectErrno('EOPNOTSUPP', () => dev.triggerVevent(), 'IOMMU_TEST_OP_TRIGGER_VEVENT');
    using queue = self.fd.allocVeventq(viommu, { depth: 1 });
    expect(queue.read()).toEqual([]);
    dev.triggerVevent();
    dev.triggerVevent();
    const events = queue.read();
    expect(events.map((e) => [e.lostEvents, e.virtId ?? null])).toEqual([
      [false, 0x42],
      [true, null],
    ]);
    expect(events[1]!.sequence).toBe(events[0]!.sequence + 1);
    expect(queue.read()).toEqual([]);
    // The fd holds the object: IOMMU_DESTROY of it is EBUSY until close().
    expectErrno('EBUSY', () => self.fd.destroy(queue.id), 'IOMMU_DESTROY');
    dev.replace(self.ioas);
  });

  test('IOMMU_HW_QUEUE_ALLOC errnos, and the queue memory is locked until the queue goes', () => {
    using mem = DmaBuffer.alloc(2 * PAGE_SIZE);
    const iova = self.ioas.mapAnywhere(mem);
    const alloc = (code: string, options: Parameters<Iommufd['allocHwQueue']>[1], id: Viommu | number = viommu) =>
      expectErrno(code, () => self.fd.allocHwQueue(id, options), 'IOMMU_HW_QUEUE_ALLOC');
    alloc('EOPNOTSUPP', { index: 0, iova, length: PAGE_SIZE, flags: 1 });
    alloc('EOPNOTSUPP', { index: 0, iova, length: PAGE_SIZE, type: IOMMU_HW_QUEUE_TYPE_DEFAULT });
    alloc('EINVAL', { index: 0, iova, length: 0 });
    alloc('EOVERFLOW', { index: 0, iova: U64_MAX, length: 2 });
    alloc('ENOENT', { index: 0, iova, length: PAGE_SIZE }, 0xffff);
    alloc('EIO', { index: 1, iova, length: PAGE_SIZE });
    const queue = self.fd.allocHwQueue(viommu, { index: 0, iova, length: PAGE_SIZE });
    expect(queue.index).toBe(0);
    expectErrno('EBUSY', () => self.ioas.unmap(iova, 2 * PAGE_SIZE), 'IOMMU_IOAS_UNMAP');
    expectErrno('EBUSY', () => viommu.destroy(), 'IOMMU_DESTROY');
    queue.destroy();
    expect(self.ioas.unmap(iova, 2 * PAGE_SIZE)).toBe(BigInt(2 * PAGE_SIZE));
  });

  test('lifetimes: EBUSY while a vDEVICE, nested HWPT or vEVENTQ uses the vIOMMU; the parent while the vIOMMU lives', () => {
    expectErrno('EBUSY', () => parent.destroy(), 'IOMMU_DESTROY');
    const vdev = self.fd.allocVdevice(viommu, dev, 7);
    expectErrno('EBUSY', () => viommu.destroy(), 'IOMMU_DESTROY');
    vdev.destroy();
    const nested = self.fd.allocHwpt(dev, viommu, { selftestIotlb: 0 });
    expectErrno('EBUSY', () => viommu.destroy(), 'IOMMU_DESTROY');
    nested.destroy();
    const queue = self.fd.allocVeventq(viommu, { depth: 4 });
    expectErrno('EBUSY', () => viommu.destroy(), 'IOMMU_DESTROY');
    queue.close();
    expect(queue.closed).toBe(true);
    viommu.destroy();
    expect(viommu.destroyed).toBe(true);
    expect(() => viommu.invalidate([])).toThrow(/destroyed/);
    parent.destroy();
  });

  test('using: users are disposed of before the vIOMMU, in reverse order', () => {
    {
      using v = self.fd.allocViommu(dev, parent, { selftestData: 1 });
      using vdev = self.fd.allocVdevice(v, dev, 9);
      using nested = self.fd.allocHwpt(dev, v, { selftestIotlb: 0 });
      using queue = self.fd.allocVeventq(v, { depth: 2 });
      using mapping = v.mmap();
      dev.replace(nested);
      dev.triggerVevent();
      expect(queue.read(1)[0]!.virtId).toBe(9);
      dev.replace(self.ioas);
      void vdev;
      void mapping;
    }
    dev.checkCache(0, IOMMU_TEST_DEV_CACHE_DEFAULT);
  });

  test('destroying the device removes its vDEVICE and leaves a tombstone', () => {
    const dev2 = self.fd.mockDomain(self.ioas);
    const vdev = self.fd.allocVdevice(viommu, dev2, 3);
    dev2.destroy();
    expectErrno('ENOENT', () => vdev.destroy(), 'IOMMU_DESTROY');
    // The vIOMMU is free again.
    viommu.destroy();
  });

  test('closing the iommufd with everything alive releases it all', () => {
    const mem = DmaBuffer.alloc(PAGE_SIZE);
    const iova = self.ioas.mapAnywhere(mem);
    const withData = self.fd.allocViommu(dev, parent, { selftestData: 5 });
    withData.mmap();
    self.fd.allocVdevice(viommu, dev, 1);
    const nested = self.fd.allocHwpt(dev, viommu, { selftestIotlb: 0 });
    dev.replace(nested);
    const queue = self.fd.allocVeventq(viommu, { depth: 2 });
    self.fd.allocHwQueue(viommu, { index: 0, iova, length: PAGE_SIZE });
    self.fd.close();
    expect(queue.closed).toBe(true);
    expect(viommu.destroyed).toBe(true);
    const check = openIommufd();
    try {
      check.checkRefs(mem, 0);
    } finally {
      check.close();
    }
    mem.free();
  });
});
