// 7.3's PASID test ops on a MOCK_FLAGS_DEVICE_PASID mock device: what attaches
// where, replace and detach, and bad input (the kernel's errno, the simulator
// agreeing; JS mistakes rejected before the ioctl). 6.12 lacks them: EOPNOTSUPP.
import { beforeEach, describe, expect, test } from 'vitest';
import {
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_TEST_IOTLB_DEFAULT,
  MOCK_FLAGS_DEVICE_PASID,
  MOCK_PASID_WIDTH,
  type Hwpt,
  type MockDevice,
} from '../../lib/index.js';
import { capabilities, kernelVersion, openIommufd, requires } from '../backend.js';
import { expectErrno } from '../helpers.js';
import { scenarioFixture } from './fixture.js';

const PASID_OPS = ['PASID_ATTACH', 'PASID_REPLACE', 'PASID_DETACH', 'PASID_CHECK_HWPT'];

const self = scenarioFixture();

test('capabilities report the PASID ops on 7.3; 6.12 answers them EOPNOTSUPP', () => {
  const caps = capabilities();
  const has = kernelVersion() !== '6.12';
  for (const op of PASID_OPS) expect(caps.testOps[op], op).toBe(has);
  if (has) return;
  const mock = self.fd.mockDomain(self.ioas);
  expectErrno('EOPNOTSUPP', () => self.fd.backend.pasidAttach(mock.stdevId, 100, self.ioas.id), 'IOMMU_TEST_OP_PASID_ATTACH');
  expectErrno('EOPNOTSUPP', () => self.fd.backend.pasidReplace(mock.stdevId, 100, self.ioas.id), 'IOMMU_TEST_OP_PASID_REPLACE');
  expectErrno('EOPNOTSUPP', () => self.fd.backend.pasidDetach(mock.stdevId, 100), 'IOMMU_TEST_OP_PASID_DETACH');
  expectErrno('EOPNOTSUPP', () => self.fd.backend.pasidCheckHwpt(mock.stdevId, 100, 0), 'IOMMU_TEST_OP_PASID_CHECK_HWPT');
  expectErrno('EINVAL', () => self.fd.mockDomain(self.ioas, { flags: MOCK_FLAGS_DEVICE_PASID }), 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS');
});

describe('7.3 PASID attachments', () => {
  let dev: MockDevice;
  let s2: Hwpt;

  beforeEach((ctx) => {
    requires(ctx, ...PASID_OPS);
    dev = self.fd.mockDomain(self.ioas, { flags: MOCK_FLAGS_DEVICE_PASID });
    s2 = self.fd.allocHwpt(dev, self.ioas, { flags: IOMMU_HWPT_ALLOC_PASID });
    // The RID on a PASID-compatible HWPT, so PASIDs may attach.
    dev.replace(s2);
  });

  test('hw info reports max_pasid_log2 for a PASID device only', () => {
    expect(self.fd.hwInfo(dev, 0).maxPasidLog2).toBe(MOCK_PASID_WIDTH);
    const plain = self.fd.mockDomain(self.ioas, { flags: 0 });
    expect(self.fd.hwInfo(plain, 0).maxPasidLog2).toBe(0);
  });

  test('attach, check, replace and detach', () => {
    const parent = self.fd.allocHwpt(dev, self.ioas, { nestParent: true });
    const nested = self.fd.allocHwpt(dev, parent, { flags: IOMMU_HWPT_ALLOC_PASID, selftestIotlb: IOMMU_TEST_IOTLB_DEFAULT });
    expect(dev.attachPasid(7, s2)).toBe(s2.id);
    dev.checkPasidHwpt(7, s2);
    dev.checkPasidHwpt(7, s2.id);
    // The HWPT is in use while a PASID holds it.
    expectErrno('EBUSY', () => s2.destroy(), 'IOMMU_DESTROY');
    expect(dev.replacePasid(7, nested)).toBe(nested.id);
    dev.checkPasidHwpt(7, nested);
    expectErrno('EINVAL', () => dev.checkPasidHwpt(7, s2), 'IOMMU_TEST_OP_PASID_CHECK_HWPT');
    // Replacing with the HWPT already there changes nothing.
    expect(dev.replacePasid(7, nested)).toBe(nested.id);
    // Nothing else may take the RID while the PASID is attached unless PASID-compatible.
    expectErrno('EINVAL', () => dev.replace(parent), 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE');
    dev.detachPasid(7);
    dev.checkPasidHwpt(7, null);
    // Detaching again is no error; the RID may now go anywhere.
    dev.detachPasid(7);
    dev.replace(parent);
    nested.destroy();
  });

  test('the highest PASID attaches; one past the device width is EINVAL', () => {
    const last = 2 ** MOCK_PASID_WIDTH - 1;
    dev.attachPasid(last, s2);
    dev.checkPasidHwpt(last, s2);
    dev.detachPasid(last);
    expectErrno('EINVAL', () => dev.attachPasid(last + 1, s2), 'IOMMU_TEST_OP_PASID_ATTACH');
    dev.checkPasidHwpt(last + 1, null);
  });

  test('wrong ids and wrong object types are the kernel errno', () => {
    // A stdev id that is no object, or another type of object: ENOENT.
    for (const stdev of [0xffff, self.ioas.id, s2.id]) {
      expectErrno('ENOENT', () => self.fd.backend.pasidAttach(stdev, 1, s2.id), 'IOMMU_TEST_OP_PASID_ATTACH');
      expectErrno('ENOENT', () => self.fd.backend.pasidReplace(stdev, 1, s2.id), 'IOMMU_TEST_OP_PASID_REPLACE');
      expectErrno('ENOENT', () => self.fd.backend.pasidDetach(stdev, 1), 'IOMMU_TEST_OP_PASID_DETACH');
      expectErrno('ENOENT', () => self.fd.backend.pasidCheckHwpt(stdev, 1, 0), 'IOMMU_TEST_OP_PASID_CHECK_HWPT');
    }
    // A pt id that is nothing: ENOENT; a device, or an IOAS: EINVAL.
    expectErrno('ENOENT', () => dev.attachPasid(1, 0xffff), 'IOMMU_TEST_OP_PASID_ATTACH');
    expectErrno('EINVAL', () => dev.attachPasid(1, dev.idevId), 'IOMMU_TEST_OP_PASID_ATTACH');
    expectErrno('EINVAL', () => dev.attachPasid(1, self.ioas), 'IOMMU_TEST_OP_PASID_ATTACH');
    expectErrno('ENOENT', () => dev.checkPasidHwpt(1, 0xffff), 'IOMMU_TEST_OP_PASID_CHECK_HWPT');
    expectErrno('EINVAL', () => dev.checkPasidHwpt(1, self.ioas.id), 'IOMMU_TEST_OP_PASID_CHECK_HWPT');
    dev.attachPasid(1, s2);
    expectErrno('EBUSY', () => dev.attachPasid(1, self.ioas), 'IOMMU_TEST_OP_PASID_ATTACH');
    expectErrno('EINVAL', () => dev.replacePasid(1, self.ioas), 'IOMMU_TEST_OP_PASID_REPLACE');
    expectErrno('ENOENT', () => dev.replacePasid(1, 0xffff), 'IOMMU_TEST_OP_PASID_REPLACE');
    dev.checkPasidHwpt(1, s2);
    dev.detachPasid(1);
  });

  test('pasid 0 is the RID (IOMMU_NO_PASID) through the raw backend', () => {
    // Attached already (by replace()): the attach is EBUSY, the check sees the RID's HWPT.
    expectErrno('EBUSY', () => self.fd.backend.pasidAttach(dev.stdevId, 0, s2.id), 'IOMMU_TEST_OP_PASID_ATTACH');
    self.fd.backend.pasidCheckHwpt(dev.stdevId, 0, s2.id);
  });

  test('bad input from JS is rejected before the ioctl', () => {
    expect(() => dev.attachPasid(0, s2)).toThrow(RangeError);
    expect(() => dev.attachPasid(-1, s2)).toThrow(RangeError);
    expect(() => dev.attachPasid(2 ** 32, s2)).toThrow(RangeError);
    expect(() => dev.attachPasid(1.5, s2)).toThrow(RangeError);
    expect(() => dev.attachPasid('1' as unknown as number, s2)).toThrow(TypeError);
    expect(() => dev.replacePasid(1, {} as unknown as Hwpt)).toThrow(TypeError);
    expect(() => dev.checkPasidHwpt(1, {} as unknown as Hwpt)).toThrow(TypeError);
    expect(() => dev.detachPasid(0)).toThrow(RangeError);
    // Another iommufd's HWPT is not this one's.
    const other = openIommufd();
    try {
      const otherIoas = other.allocIoas();
      const otherDev = other.mockDomain(otherIoas, { flags: MOCK_FLAGS_DEVICE_PASID });
      const foreign = other.allocHwpt(otherDev, otherIoas, { flags: IOMMU_HWPT_ALLOC_PASID });
      expect(() => dev.attachPasid(1, foreign)).toThrow(TypeError);
    } finally {
      other.close();
    }
    dev.checkPasidHwpt(1, null);
    // A destroyed device is closed.
    const gone = self.fd.mockDomain(self.ioas, { flags: MOCK_FLAGS_DEVICE_PASID });
    gone.destroy();
    expect(() => gone.attachPasid(1, s2)).toThrow(/destroyed/);
  });
});
