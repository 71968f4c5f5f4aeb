// TEST_F(iommufd_device_pasid, ...) of 7.3's tools/testing/selftests/iommu/iommufd.c:
// attaching, replacing and detaching PASIDs of a MOCK_FLAGS_DEVICE_PASID mock
// device (IOMMU_TEST_OP_PASID_*), on the variants no_pasid (a second, PASID-less
// device too) and has_pasid. 6.12 has neither the flag nor the ops: "kernel lacks".
import { expect } from 'vitest';
import {
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_PGFAULT_PERM_READ,
  IOMMU_PGFAULT_PERM_WRITE,
  IOMMU_TEST_IOTLB_DEFAULT,
  MOCK_FLAGS_DEVICE_PASID,
  type FaultQueue,
  type Hwpt,
  type Ioas,
  type Iommufd,
  type MockDevice,
} from '../../lib/index.js';
import { capabilities, openIommufd } from '../backend.js';
import { expectErrno } from '../helpers.js';
import { fixture, kernelLacks, teardownIommufd } from './harness.js';

interface Self {
  fd: Iommufd;
  ioas: Ioas;
  /** The PASID-capable device (stdev_id, device_id, hwpt_id of the C fixture). */
  dev: MockDevice;
  /** no_pasid only: a device without PASIDs. */
  noPasidDev: MockDevice | null;
}

interface Variant {
  pasidCapable: boolean;
}

const PASID_OPS = ['PASID_ATTACH', 'PASID_REPLACE', 'PASID_DETACH', 'PASID_CHECK_HWPT'] as const;

const iommufd_device_pasid = fixture<Self, Variant>(
  'iommufd_device_pasid',
  { no_pasid: { pasidCapable: false }, has_pasid: { pasidCapable: true } },
  (variant, ctx, self) => {
    const lacking = PASID_OPS.filter((op) => !capabilities().testOps[op]);
    if (lacking.length) kernelLacks(ctx, lacking.map((op) => `IOMMU_TEST_OP_${op}`).join(', '));
    self.fd = openIommufd();
    self.ioas = self.fd.allocIoas();
    self.dev = self.fd.mockDomain(self.ioas, { flags: MOCK_FLAGS_DEVICE_PASID });
    self.noPasidDev = variant.pasidCapable ? null : self.fd.mockDomain(self.ioas, { flags: 0 });
    return self as Self;
  },
  (self) => {
    if (self.fd) teardownIommufd(self.fd);
  },
);

/** _test_cmd_trigger_iopf(): fault on `pasid`, read it from the queue, answer it. */
function triggerIopfPasid(dev: MockDevice, pasid: number, fault: FaultQueue): void {
  dev.triggerIopf({ pasid, grpid: 0x2, perm: IOMMU_PGFAULT_PERM_READ | IOMMU_PGFAULT_PERM_WRITE, addr: 0xdeadbeafn });
  const faults = fault.read(1);
  expect(faults.length).toBe(1);
  expect(faults[0]!.pasid).toBe(pasid);
  expect(fault.respond([{ cookie: faults[0]!.cookie, success: true }])).toBeGreaterThan(0);
}

iommufd_device_pasid.test('pasid_attach', (self, variant) => {
  const { fd, ioas, dev } = self;
  const nested = { selftestIotlb: IOMMU_TEST_IOTLB_DEFAULT, flags: IOMMU_HWPT_ALLOC_PASID };
  const attachErr = (code: string, pasid: number, pt: Hwpt | Ioas) => expectErrno(code, () => dev.attachPasid(pasid, pt), 'IOMMU_TEST_OP_PASID_ATTACH');
  const replaceErr = (code: string, pasid: number, pt: Hwpt | Ioas) => expectErrno(code, () => dev.replacePasid(pasid, pt), 'IOMMU_TEST_OP_PASID_REPLACE');
  let pasid = 100;

  // Detaching a PASID never attached is no failure.
  dev.detachPasid(pasid);

  // Two nested HWPTs sharing one parent, a fault-capable nested one, and a PASID-capable paging one.
  const parent = fd.allocHwpt(dev, ioas, { nestParent: true });
  const nestedHwpt = [fd.allocHwpt(dev, parent, nested), fd.allocHwpt(dev, parent, nested)];
  const fault = fd.allocFaultQueue();
  const iopfHwpt = fd.allocHwpt(dev, parent, { ...nested, fault });
  // (The C test also allocates nested_hwpt_id[2] on a vIOMMU, which it never uses: that
  // part belongs to the vIOMMU API of the viommu branch.)
  const s2 = fd.allocHwpt(dev, ioas, { flags: IOMMU_HWPT_ALLOC_PASID });

  // The RID on a non-PASID-compatible domain: attaching a PASID fails.
  dev.replace(parent);
  attachErr('EINVAL', pasid, s2);
  // The RID on a PASID-compatible one: the PASID attaches, and the RID cannot go back.
  dev.replace(s2);
  dev.attachPasid(pasid, nestedHwpt[0]!);
  expectErrno('EINVAL', () => dev.replace(parent), 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE');
  dev.detachPasid(pasid);
  dev.checkPasidHwpt(pasid, null);

  if (!variant.pasidCapable) {
    const other = self.noPasidDev!;
    // A PASID-compatible domain serves a device without PASIDs too.
    other.replace(nestedHwpt[0]!);
    other.replace(ioas);
    // A PASID of it fails, PASID-compatible HWPT or not: its RID is on the IOAS's
    // automatic domain, which is not PASID-compatible (iommufd_hwpt_pasid_compat()).
    expectErrno('EINVAL', () => other.attachPasid(pasid, parent), 'IOMMU_TEST_OP_PASID_ATTACH');
    expectErrno('EINVAL', () => other.attachPasid(pasid, s2), 'IOMMU_TEST_OP_PASID_ATTACH');
  }

  // A non-PASID-compatible HWPT on a PASID fails, and leaves no domain.
  attachErr('EINVAL', pasid, parent);
  dev.checkPasidHwpt(pasid, null);
  // So does an IOAS.
  attachErr('EINVAL', pasid, ioas);
  dev.checkPasidHwpt(pasid, null);

  // The s2 HWPT attaches; attach does not overwrite (EBUSY: use replace).
  expect(dev.attachPasid(pasid, s2)).toBe(s2.id);
  dev.checkPasidHwpt(pasid, s2);
  expectErrno('EINVAL', () => dev.checkPasidHwpt(pasid, null), 'IOMMU_TEST_OP_PASID_CHECK_HWPT');
  attachErr('EBUSY', pasid, nestedHwpt[0]!);
  dev.detachPasid(pasid);
  dev.checkPasidHwpt(pasid, null);

  // A nested HWPT attaches; attaching again is EBUSY.
  dev.attachPasid(pasid, nestedHwpt[0]!);
  dev.checkPasidHwpt(pasid, nestedHwpt[0]!);
  attachErr('EBUSY', pasid, nestedHwpt[0]!);
  dev.detachPasid(pasid);

  // Replace: not attached is EINVAL; an IOAS is EINVAL and keeps the old domain.
  pasid = 200;
  replaceErr('EINVAL', pasid, s2);
  dev.attachPasid(pasid, s2);
  dev.checkPasidHwpt(pasid, s2);
  replaceErr('EINVAL', pasid, ioas);
  dev.checkPasidHwpt(pasid, s2);
  expect(dev.replacePasid(pasid, nestedHwpt[0]!)).toBe(nestedHwpt[0]!.id);
  dev.checkPasidHwpt(pasid, nestedHwpt[0]!);
  dev.replacePasid(pasid, nestedHwpt[1]!);
  dev.checkPasidHwpt(pasid, nestedHwpt[1]!);
  dev.detachPasid(pasid);

  // PASID 1024 (IOMMU_TEST_PASID_RESERVED): the mock fails the replace after the first
  // attach with ENOMEM, and the old domain stays.
  pasid = 1024;
  dev.attachPasid(pasid, s2);
  dev.checkPasidHwpt(pasid, s2);
  replaceErr('ENOMEM', pasid, nestedHwpt[0]!);
  dev.checkPasidHwpt(pasid, s2);
  dev.detachPasid(pasid);

  // A fault-capable HWPT on PASID 2048 gets the PASID's faults; then replace to s2.
  pasid = 2048;
  dev.attachPasid(pasid, iopfHwpt);
  dev.checkPasidHwpt(pasid, iopfHwpt);
  triggerIopfPasid(dev, pasid, fault);
  dev.replacePasid(pasid, s2);
  dev.checkPasidHwpt(pasid, s2);
  dev.detachPasid(pasid);

  iopfHwpt.destroy();
  fault.close();
  // The RID back to the IOAS.
  dev.replace(ioas);
});
