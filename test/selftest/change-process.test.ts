// FIXTURE(change_process) of 7.3's tools/testing/selftests/iommu/iommufd.c: an
// IOAS with a mock domain, in a process without CAP_IPC_LOCK so that pinned
// pages are accounted (per user, or with IOMMU_OPTION_RLIMIT_MODE per mm), and
// IOMMU_IOAS_CHANGE_PROCESS moving that charge to another process.
//
// The C test forks a child that shares the iommufd; we spawn one
// (fixtures/change-process-child.ts, see child-process.ts), which checks
// /proc/PID/status of both processes around its own CHANGE_PROCESS. On the
// simulator the part before the child runs, then the instance is skipped: its
// iommufd lives inside this process. 6.12 lacks CHANGE_PROCESS: "kernel lacks".
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { type Iommufd, type Ioas, setCapIpcLock } from '../../lib/index.js';
import { BACKEND, capabilities, openIommufd } from '../backend.js';
import { expectErrno } from '../helpers.js';
import { skipOnSimulator, spawnChild, waitChild } from './child-process.js';
import { PAGE_SIZE, buffer, fixture, kernelLacks, memFile, teardownIommufd } from './harness.js';

const CHILD = fileURLToPath(new URL('./fixtures/change-process-child.ts', import.meta.url));

interface Self {
  fd: Iommufd;
  ioas: Ioas;
  /** drop_cap_ipc_lock() happened: teardown raises it again for the tests after. */
  droppedCap: boolean;
}

interface Variant {
  /** IOPT_PAGES_ACCOUNT_*: 'none' leaves the rlimit mode alone (per user, as 'user' sets it). */
  accounting: 'none' | 'user' | 'mm';
}

const change_process = fixture<Self, Variant>(
  'change_process',
  { account_none: { accounting: 'none' }, account_user: { accounting: 'user' }, account_mm: { accounting: 'mm' } },
  (variant, ctx, self) => {
    if (!capabilities().ioctls.IOMMU_IOAS_CHANGE_PROCESS) kernelLacks(ctx, 'IOMMU_IOAS_CHANGE_PROCESS');
    self.fd = openIommufd();
    // drop_cap_ipc_lock(): the simulator accounts nothing either way.
    if (BACKEND === 'native') {
      setCapIpcLock(false);
      self.droppedCap = true;
    }
    if (variant.accounting !== 'none') self.fd.setRlimitMode(variant.accounting === 'mm' ? 1 : 0);
    self.ioas = self.fd.allocIoas();
    self.fd.mockDomain(self.ioas);
    return self as Self;
  },
  (self) => {
    try {
      if (self.fd) teardownIommufd(self.fd);
    } finally {
      if (self.droppedCap) setCapIpcLock(true);
    }
  },
);

change_process.test('basic', async (self, variant, ctx) => {
  // Refused while a mapping of user memory (not a file) exists.
  let iova = self.ioas.mapAnywhere(buffer(), { length: PAGE_SIZE });
  expectErrno('EINVAL', () => self.fd.changeProcess());
  self.ioas.unmap(iova, PAGE_SIZE);

  // Works in the current process.
  iova = self.ioas.mapFile(memFile(), { length: PAGE_SIZE });
  self.fd.changeProcess();

  // Works in another process.
  skipOnSimulator(ctx);
  const child = spawnChild(CHILD, [String(process.pid), variant.accounting], [self.fd.fileDescriptor]);
  expect(await waitChild(child)).toBe(0);
});
