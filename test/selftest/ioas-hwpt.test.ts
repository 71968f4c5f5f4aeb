// TEST_F(iommufd_ioas, ...) of tools/testing/selftests/iommu/iommufd.c (6.12)
// about hardware page tables and hardware info: nested HWPTs with the mock's
// IOTLB and invalidation, fault-capable HWPTs, attaching a device to a HWPT, and
// IOMMU_GET_HW_INFO, each on the four variants of the fixture.
import { expect } from 'vitest';
import {
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_DATA_SELFTEST,
  IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID,
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_HW_INFO_TYPE_SELFTEST,
  IOMMU_TEST_INVALIDATE_FLAG_ALL,
  IOMMU_TEST_IOTLB_DEFAULT,
  IommufdError,
  MOCK_NESTED_DOMAIN_IOTLB_ID_MAX,
  U32_MAX,
  type Hwpt,
  type SelftestInvalidation,
} from '../../lib/index.js';
import { byKernel } from '../backend.js';
import { expectErrno } from '../helpers.js';
import { iommufd_ioas, MOCK_PASID_WIDTH, requirePasidDevice } from './ioas-fixture.js';
import { Lacking, TEST_HW_INFO_SIZE, checkIotlbAll, checkIotlbs, getHwInfo, selfMock, triggerIopf } from './hwpt-utils.js';

/** struct iommu_hwpt_selftest { u32 iotlb; }: the nested HWPT's driver data. */
const SELFTEST_DATA_SIZE = 4;
/** sizeof(struct iommu_hwpt_invalidate_selftest): u32 flags, u32 iotlb_id. */
const INV_SIZE = 8;

/** The IommufdError's entry count (the kernel writes entry_num back on failure too). */
function handled(err: IommufdError): number | undefined {
  return (err as IommufdError & { handled?: number }).handled;
}

/** inv_reqs[2] of the C test as raw bytes, for invalidations with a bad shape. */
function rawRequests(reqs: SelftestInvalidation[]): Uint8Array {
  const bytes = new Uint8Array(2 * INV_SIZE);
  const view = new DataView(bytes.buffer);
  reqs.forEach((r, i) => {
    view.setUint32(INV_SIZE * i, r.flags ?? 0, true);
    view.setUint32(INV_SIZE * i + 4, r.iotlbId, true);
  });
  return bytes;
}

iommufd_ioas.test('alloc_hwpt_nested', (self) => {
  const { fd, ioas } = self;
  const data = new Uint8Array(SELFTEST_DATA_SIZE);
  new DataView(data.buffer).setUint32(0, IOMMU_TEST_IOTLB_DEFAULT, true);
  const selftestData = { type: IOMMU_HWPT_DATA_SELFTEST, bytes: data };
  const nested: Hwpt[] = [];
  const inv: SelftestInvalidation[] = [
    { iotlbId: 0, flags: 0 },
    { iotlbId: 0, flags: 0 },
  ];

  if (self.deviceId) {
    // Bad device, bad parent, flags a paging HWPT without fault support rejects.
    expectErrno('ENOENT', () => fd.allocHwpt(ioas.id, self.deviceId), 'IOMMU_HWPT_ALLOC');
    expectErrno('EINVAL', () => fd.allocHwpt(self.deviceId, self.deviceId), 'IOMMU_HWPT_ALLOC');
    expectErrno(
      'EOPNOTSUPP',
      () => fd.allocHwpt(self.deviceId, ioas, { flags: IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_FAULT_ID_VALID }),
      'IOMMU_HWPT_ALLOC',
    );

    const parent = fd.allocHwpt(self.deviceId, ioas, { nestParent: true });
    const parentNotWork = fd.allocHwpt(self.deviceId, ioas);

    // Nested allocations with bad data, type, length, pointer, flags or parent.
    expectErrno('EINVAL', () => fd.allocHwpt(self.deviceId, parent, { data: { type: IOMMU_HWPT_DATA_NONE, bytes: data } }), 'IOMMU_HWPT_ALLOC');
    expectErrno('EOPNOTSUPP', () => fd.allocHwpt(self.deviceId, parent, { data: { type: IOMMU_HWPT_DATA_SELFTEST + 1, bytes: data } }), 'IOMMU_HWPT_ALLOC');
    expectErrno(
      'EINVAL',
      () => fd.allocHwpt(self.deviceId, parent, { data: { type: IOMMU_HWPT_DATA_SELFTEST, bytes: data.subarray(0, SELFTEST_DATA_SIZE - 1) } }),
      'IOMMU_HWPT_ALLOC',
    );
    expectErrno(
      'EFAULT',
      () => fd.allocHwpt(self.deviceId, parent, { unsafeNullData: { type: IOMMU_HWPT_DATA_SELFTEST, length: SELFTEST_DATA_SIZE } }),
      'IOMMU_HWPT_ALLOC',
    );
    expectErrno('EOPNOTSUPP', () => fd.allocHwpt(self.deviceId, parent, { nestParent: true, data: selftestData }), 'IOMMU_HWPT_ALLOC');
    expectErrno('EINVAL', () => fd.allocHwpt(self.deviceId, parentNotWork, { data: selftestData }), 'IOMMU_HWPT_ALLOC');

    // Two nested HWPTs on one parent, and one that reports faults.
    const fault = fd.allocFaultQueue();
    expect(fault.id).not.toBe(0);
    expect(fault.fd).not.toBe(0);
    nested[0] = fd.allocHwpt(self.deviceId, parent, { data: selftestData });
    nested[1] = fd.allocHwpt(self.deviceId, parent, { data: selftestData });
    expectErrno('ENOENT', () => fd.allocHwpt(self.deviceId, parent, { fault: U32_MAX, data: selftestData }), 'IOMMU_HWPT_ALLOC');
    const iopf = fd.allocHwpt(self.deviceId, parent, { fault, data: selftestData });
    checkIotlbAll(nested[0], IOMMU_TEST_IOTLB_DEFAULT);
    checkIotlbAll(nested[1], IOMMU_TEST_IOTLB_DEFAULT);

    // A nested HWPT cannot be a parent; the parent is now in use.
    expectErrno('EINVAL', () => fd.allocHwpt(self.deviceId, nested[0]!, { data: selftestData }), 'IOMMU_HWPT_ALLOC');
    expectErrno('EBUSY', () => fd.destroy(parent.id), 'IOMMU_DESTROY');

    // Only a nested (user-managed) HWPT takes invalidations: 6.12 looks up a
    // nested HWPT (ENOENT), 7.3 any object and refuses a paging one (EINVAL).
    let err = expectErrno(byKernel({ '6.12': 'ENOENT', '7.3': 'EINVAL' }), () => parent.invalidate(inv.slice(0, 1)), 'IOMMU_HWPT_INVALIDATE');
    expect(handled(err)).toBe(0);

    // No entries: only the data type is checked.
    expect(nested[0].invalidate([])).toBe(0);

    // Data type the mock does not know.
    err = expectErrno(
      'EINVAL',
      () => nested[0]!.invalidate({ dataType: IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID, entryLen: INV_SIZE, entries: rawRequests(inv), entryNum: 1 }),
      'IOMMU_HWPT_INVALIDATE',
    );
    expect(handled(err)).toBe(0);

    // Entry sizes other than the structure's.
    err = expectErrno(
      'EINVAL',
      () => nested[0]!.invalidate({ dataType: IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, entryLen: INV_SIZE + 1, entries: rawRequests(inv), entryNum: 1 }),
      'IOMMU_HWPT_INVALIDATE',
    );
    expect(handled(err)).toBe(0);
    err = expectErrno(
      'EINVAL',
      () => nested[0]!.invalidate({ dataType: IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, entryLen: 1, entries: rawRequests(inv), entryNum: 1 }),
      'IOMMU_HWPT_INVALIDATE',
    );
    expect(handled(err)).toBe(0);

    // Unknown flags.
    inv[0]!.flags = 0xffffffff;
    err = expectErrno('EOPNOTSUPP', () => nested[0]!.invalidate(inv.slice(0, 1)), 'IOMMU_HWPT_INVALIDATE');
    expect(handled(err)).toBe(0);

    // Entries at a NULL address.
    inv[0]!.flags = 0;
    err = expectErrno(
      'EINVAL',
      () => nested[0]!.invalidate({ dataType: IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, entryLen: INV_SIZE, entries: null, entryNum: 1 }),
      'IOMMU_HWPT_INVALIDATE',
    );
    expect(handled(err)).toBe(0);

    // Entries of length 0.
    inv[0]!.flags = 0;
    err = expectErrno(
      'EINVAL',
      () => nested[0]!.invalidate({ dataType: IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, entryLen: 0, entries: rawRequests(inv), entryNum: 1 }),
      'IOMMU_HWPT_INVALIDATE',
    );
    expect(handled(err)).toBe(0);

    // An IOTLB id past the last one.
    inv[0]!.flags = 0;
    inv[0]!.iotlbId = MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1;
    err = expectErrno('EINVAL', () => nested[0]!.invalidate(inv.slice(0, 1)), 'IOMMU_HWPT_INVALIDATE');
    expect(handled(err)).toBe(0);

    // The first entry is done, the second has bad flags: one handled.
    inv[0]!.flags = 0;
    inv[0]!.iotlbId = 0;
    inv[1]!.flags = 0xffffffff;
    inv[1]!.iotlbId = 1;
    err = expectErrno('EOPNOTSUPP', () => nested[0]!.invalidate(inv), 'IOMMU_HWPT_INVALIDATE');
    expect(handled(err)).toBe(1);
    checkIotlbs(nested[0], [0, IOMMU_TEST_IOTLB_DEFAULT, IOMMU_TEST_IOTLB_DEFAULT, IOMMU_TEST_IOTLB_DEFAULT]);

    // The first entry is done, the second has a bad IOTLB id: one handled.
    inv[0]!.flags = 0;
    inv[0]!.iotlbId = 0;
    inv[1]!.flags = 0;
    inv[1]!.iotlbId = MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1;
    err = expectErrno('EINVAL', () => nested[0]!.invalidate(inv), 'IOMMU_HWPT_INVALIDATE');
    expect(handled(err)).toBe(1);
    checkIotlbs(nested[0], [0, IOMMU_TEST_IOTLB_DEFAULT, IOMMU_TEST_IOTLB_DEFAULT, IOMMU_TEST_IOTLB_DEFAULT]);

    // Entry 1 alone.
    inv[0]!.flags = 0;
    inv[0]!.iotlbId = 1;
    expect(nested[0].invalidate(inv.slice(0, 1))).toBe(1);
    checkIotlbs(nested[0], [0, 0, IOMMU_TEST_IOTLB_DEFAULT, IOMMU_TEST_IOTLB_DEFAULT]);

    // Entries 2 and 3 together.
    inv[0]!.flags = 0;
    inv[0]!.iotlbId = 2;
    inv[1]!.flags = 0;
    inv[1]!.iotlbId = 3;
    expect(nested[0].invalidate(inv)).toBe(2);
    checkIotlbAll(nested[0], 0);

    // Everything of the second nested HWPT with one entry.
    inv[0]!.flags = IOMMU_TEST_INVALIDATE_FLAG_ALL;
    expect(nested[1].invalidate(inv.slice(0, 1))).toBe(1);
    checkIotlbAll(nested[1], 0);

    // An attached nested HWPT is busy.
    const mock = selfMock(self);
    mock.replace(nested[0]);
    expectErrno('EBUSY', () => fd.destroy(nested[0]!.id), 'IOMMU_DESTROY');

    // Moving to the second one frees the first.
    mock.replace(nested[1]);
    expectErrno('EBUSY', () => fd.destroy(nested[1]!.id), 'IOMMU_DESTROY');
    nested[0].destroy();

    // On to the fault-capable one, which then reports a fault.
    mock.replace(iopf);
    expectErrno('EBUSY', () => fd.destroy(iopf.id), 'IOMMU_DESTROY');
    triggerIopf(mock, fault);

    // Back to the parent; the nested ones can go.
    mock.replace(parent);
    nested[1].destroy();
    iopf.destroy();

    // Back to the IOAS; the parents can go, and the fault queue.
    mock.replace(ioas);
    parent.destroy();
    parentNotWork.destroy();
    fault.close();
    fd.destroy(fault.id);
  } else {
    // Without a device every allocation and replace finds nothing (ids 0).
    expectErrno('ENOENT', () => fd.allocHwpt(self.deviceId, ioas), 'IOMMU_HWPT_ALLOC');
    const parentId = 0;
    const nestedIds = [0, 0];
    expectErrno('ENOENT', () => fd.allocHwpt(self.deviceId, parentId, { data: selftestData }), 'IOMMU_HWPT_ALLOC');
    expectErrno('ENOENT', () => fd.allocHwpt(self.deviceId, parentId, { data: selftestData }), 'IOMMU_HWPT_ALLOC');
    const mock = selfMock(self);
    expectErrno('ENOENT', () => mock.replace(nestedIds[0]!), 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE');
    expectErrno('ENOENT', () => mock.replace(nestedIds[1]!), 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE');
  }
});

iommufd_ioas.test('hwpt_attach', (self) => {
  // A device attached straight to the mock domain's HWPT.
  if (self.stdevId) {
    self.fd.mockDomain(self.hwptId);
  } else {
    expectErrno('ENOENT', () => self.fd.mockDomain(self.hwptId), 'IOMMU_TEST_OP_MOCK_DOMAIN');
  }
});

iommufd_ioas.test('get_hw_info', (self, variant, ctx) => {
  const lacking = new Lacking(ctx);
  // struct iommu_test_hw_info, and one with 8 trailing bytes.
  const bufferExact = new Uint8Array(TEST_HW_INFO_SIZE);
  const bufferLarger = new Uint8Array(TEST_HW_INFO_SIZE + 8);

  if (self.deviceId) {
    let maxPasid = 0;

    // No buffer at all, then one of the exact size.
    getHwInfo(self, self.deviceId, null, { dataType: IOMMU_HW_INFO_TYPE_DEFAULT });
    getHwInfo(self, self.deviceId, bufferExact, { dataType: IOMMU_HW_INFO_TYPE_DEFAULT });

    // A type the device does not have, then its own, asked for by type.
    expectErrno('EOPNOTSUPP', () => self.fd.hwInfo(self.deviceId, bufferExact, { dataType: IOMMU_HW_INFO_TYPE_SELFTEST + 1 }), 'IOMMU_GET_HW_INFO');
    try {
      getHwInfo(self, self.deviceId, bufferExact, { dataType: IOMMU_HW_INFO_TYPE_SELFTEST });
    } catch (e) {
      // 6.12 has no in_data_type: any flag is EOPNOTSUPP, a valid type included.
      if (!(e instanceof IommufdError && e.code === 'EOPNOTSUPP')) throw e;
      lacking.note('IOMMU_HW_INFO_FLAG_INPUT_TYPE');
    }

    // A larger buffer: the kernel zeroes what the driver data leaves.
    getHwInfo(self, self.deviceId, bufferLarger, { dataType: IOMMU_HW_INFO_TYPE_DEFAULT });
    // A smaller one: what fits is still written.
    getHwInfo(self, self.deviceId, bufferExact.subarray(0, 4), { dataType: IOMMU_HW_INFO_TYPE_DEFAULT });

    // A device without PASID reports a width of 0; the PASID-capable one, the mock's.
    maxPasid = getHwInfo(self, self.deviceId, null);
    expect(maxPasid).toBe(0);
    if (variant.pasidCapable) {
      if (self.devicePasidId === null) lacking.note('MOCK_FLAGS_DEVICE_PASID');
      else {
        maxPasid = getHwInfo(self, requirePasidDevice(self, ctx), null);
        expect(maxPasid).toBe(MOCK_PASID_WIDTH);
      }
    }
  } else {
    expectErrno('ENOENT', () => self.fd.hwInfo(self.deviceId, bufferExact, { dataType: IOMMU_HW_INFO_TYPE_DEFAULT }), 'IOMMU_GET_HW_INFO');
    expectErrno('ENOENT', () => self.fd.hwInfo(self.deviceId, bufferLarger, { dataType: IOMMU_HW_INFO_TYPE_DEFAULT }), 'IOMMU_GET_HW_INFO');
  }
  lacking.finish();
});
