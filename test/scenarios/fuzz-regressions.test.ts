// Divergences between the kernel and the simulator that the differential
// fuzzer (test/fuzz, `npm run fuzz`) found, each kept as a test that runs on
// both backends (the kernel and sim projects). The comment on each names the
// seed and sequence it came from.
import { describe, expect, test } from 'vitest';
import { IOMMU_HWPT_ALLOC_PASID, MOCK_APERTURE_START, MOCK_FLAGS_DEVICE_PASID, MOCK_PASID_WIDTH } from '../../lib/index.js';
import { PAGE_SIZE, expectErrno, patternedBuffer } from '../helpers.js';
import { requires } from '../backend.js';
import { scenarioFixture } from './fixture.js';

// uapi bits the typed API does not expose: they are the point of these tests.
const MAP_FIXED_IOVA = 1 << 0;
const MAP_RW = (1 << 1) | (1 << 2);
const MOCK_FLAGS_ACCESS_SYZ = 1 << 16;

const self = scenarioFixture({ ioas: false, extra: () => ({ buffer: patternedBuffer(8 * PAGE_SIZE) }), release: ({ buffer }) => buffer.free() });

describe('IOMMU_IOAS_COPY', () => {
  // seed 7 sequence 1608: the mock's syzkaller flag is taken off before the
  // flags are checked, and turns src_iova into {nth area, offset}.
  test('the syzkaller flag names the source by area index and offset', () => {
    const src = self.fd.allocIoas();
    const dst = self.fd.allocIoas();
    const mock = self.fd.mockDomain(dst);
    const iova = src.mapFixed(MOCK_APERTURE_START + BigInt(4 * PAGE_SIZE), self.buffer);
    // Area 0 at offset one page: the last 7 pages of the mapping.
    const syzIova = (1n << 32n) * BigInt(PAGE_SIZE) + 0n;
    const copied = self.fd.backend.ioasCopy(dst.id, src.id, MAP_RW | MOCK_FLAGS_ACCESS_SYZ, 0n, syzIova, BigInt(7 * PAGE_SIZE));
    mock.checkMap(copied, self.buffer, { offset: PAGE_SIZE, length: 7 * PAGE_SIZE });
    expect(src.unmap(iova, 8 * PAGE_SIZE)).toBe(BigInt(8 * PAGE_SIZE));
    // Without the flag the same value is an IOVA, where nothing is mapped.
    expectErrno('ENOENT', () => self.fd.backend.ioasCopy(dst.id, src.id, MAP_RW, 0n, syzIova, BigInt(PAGE_SIZE)));
  });

  test('with the syzkaller flag a missing destination is ENOENT, not EOPNOTSUPP', () => {
    const src = self.fd.allocIoas();
    src.mapFixed(MOCK_APERTURE_START, self.buffer);
    const flags = MAP_FIXED_IOVA | MAP_RW | MOCK_FLAGS_ACCESS_SYZ;
    expectErrno('ENOENT', () => self.fd.backend.ioasCopy(12, src.id, flags, MOCK_APERTURE_START, 0n, BigInt(PAGE_SIZE)), 'IOMMU_IOAS_COPY');
  });
});

describe('IOMMU_HWPT_GET_DIRTY_BITMAP', () => {
  // seed 7 sequence 54: a zero-length range needs a bitmap of no words, and
  // an empty bitmap has no memory to hand the kernel: refused before the ioctl.
  test('a zero-length range is refused before the ioctl (no bitmap memory)', () => {
    const ioas = self.fd.allocIoas();
    const mock = self.fd.mockDomain(ioas);
    const iova = ioas.mapAnywhere(self.buffer);
    expect(() => mock.hwpt.getDirtyBitmap(iova, 0)).toThrow(RangeError);
    expect(() => self.fd.backend.hwptGetDirtyBitmap(mock.hwptId, 0, iova, 0n, 0n, new BigUint64Array(0))).toThrow(RangeError);
    // A one-word bitmap for the same zero length reaches the kernel, which refuses the length.
    expectErrno('EINVAL', () => self.fd.backend.hwptGetDirtyBitmap(mock.hwptId, 0, iova, 0n, BigInt(PAGE_SIZE), new BigUint64Array(1)));
  });
});

describe('fault queue cookies', () => {
  /** A mock device attached to a nested HWPT that reports its faults to a new queue. */
  function faultingDevice() {
    const ioas = self.fd.allocIoas();
    const queue = self.fd.allocFaultQueue();
    const mock = self.fd.mockDomain(ioas);
    const parent = self.fd.allocHwpt(mock, ioas, { nestParent: true });
    mock.replace(self.fd.allocHwpt(mock, parent, { selftestIotlb: 0, fault: queue }));
    return { queue, mock };
  }

  // seed 9 sequence 1: the response cookies live in an xarray that allocates
  // from 1; answering cookie 0 while groups are outstanding erases its reserved
  // slot, and from then on cookie 0 is handed out like any other.
  test('answering cookie 0 frees it: the next group read gets cookie 0', () => {
    const { queue, mock } = faultingDevice();
    mock.triggerIopf({ grpid: 3, perm: 1, addr: MOCK_APERTURE_START });
    mock.triggerIopf({ grpid: 3, perm: 1, addr: MOCK_APERTURE_START + BigInt(PAGE_SIZE) });
    expect(queue.read(1).map((f) => f.cookie)).toEqual([1]);
    expectErrno('EINVAL', () => queue.respond([{ cookie: 0, success: false }]), 'write(fault fd)');
    expect(queue.read(8).map((f) => f.cookie)).toEqual([0]);
    expect(queue.respond([{ cookie: 0 }, { cookie: 1 }])).toBe(2);
    // Cookie 0 stays allocatable: two new groups get 0 and 1.
    mock.triggerIopf({ grpid: 1, perm: 1, addr: MOCK_APERTURE_START });
    mock.triggerIopf({ grpid: 2, perm: 1, addr: MOCK_APERTURE_START });
    expect(queue.read(8).map((f) => f.cookie)).toEqual([0, 1]);
    queue.close();
  });

  test('answering cookie 0 with nothing outstanding changes nothing', () => {
    const { queue, mock } = faultingDevice();
    expectErrno('EINVAL', () => queue.respond([{ cookie: 0 }]), 'write(fault fd)');
    mock.triggerIopf({ grpid: 0, perm: 1, addr: MOCK_APERTURE_START });
    expect(queue.read(8).map((f) => f.cookie)).toEqual([1]);
    queue.close();
  });
});

describe('IOMMU_HW_QUEUE_ALLOC', () => {
  // seed 20261123 sequence 266 (7.3): the queue's memory is pinned through an
  // internal access, which is an ACCESS object with an id of its own, right after
  // the queue's, held by the driver until the queue goes.
  test("the queue's internal access takes the next object id, busy until the queue goes", (ctx) => {
    requires(ctx, 'IOMMU_VIOMMU_ALLOC', 'IOMMU_HW_QUEUE_ALLOC');
    const ioas = self.fd.allocIoas();
    const dev = self.fd.mockDomain(ioas);
    const viommu = self.fd.allocViommu(dev, self.fd.allocHwpt(dev, ioas, { nestParent: true }));
    const iova = ioas.mapAnywhere(self.buffer, { length: PAGE_SIZE });
    const queue = self.fd.allocHwQueue(viommu, { index: 0, iova, length: 3873 });
    expectErrno('EBUSY', () => self.fd.destroy(queue.id + 1), 'IOMMU_DESTROY');
    expect(self.fd.allocHwpt(dev, ioas, { nestParent: true }).id).toBe(queue.id + 2);
    queue.destroy();
    // Both ids are free again: the lowest is the queue's.
    expect(self.fd.allocIoas().id).toBe(queue.id);
    expect(self.fd.allocIoas().id).toBe(queue.id + 1);
  });
});

describe('IOMMU_TEST_OP_PASID_ATTACH', () => {
  // seed 20261123 sequence 28 (7.3): a mock device made without MOCK_FLAGS_DEVICE_PASID
  // has "pasid-num-bits" 0, so its max_pasids is 1 << 0 = 1 (not 0, which would skip the
  // check): every PASID is past its width, even on a PASID-compatible HWPT.
  test('a device without PASIDs takes none, even with its RID on a PASID-compatible HWPT', (ctx) => {
    requires(ctx, 'PASID_ATTACH', 'PASID_DETACH', 'PASID_CHECK_HWPT');
    const ioas = self.fd.allocIoas();
    const dev = self.fd.mockDomain(ioas, { flags: 0 });
    const hwpt = self.fd.allocHwpt(dev, ioas, { flags: IOMMU_HWPT_ALLOC_PASID });
    dev.replace(hwpt);
    for (const pasid of [1, 1024, 2 ** MOCK_PASID_WIDTH - 1])
      expectErrno('EINVAL', () => dev.attachPasid(pasid, hwpt), 'IOMMU_TEST_OP_PASID_ATTACH');
    dev.checkPasidHwpt(1, null);
    // The same HWPT takes a PASID of a device that has them.
    const pasidDev = self.fd.mockDomain(ioas, { flags: MOCK_FLAGS_DEVICE_PASID });
    pasidDev.replace(hwpt);
    expect(pasidDev.attachPasid(1, hwpt)).toBe(hwpt.id);
    pasidDev.checkPasidHwpt(1, hwpt);
    pasidDev.detachPasid(1);
  });
});
