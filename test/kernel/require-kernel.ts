// The kernel project exists to prove behaviour on a real iommufd: it must fail,
// not skip, where there is none.
import { existsSync } from 'node:fs';

if (!existsSync('/dev/iommu'))
  throw new Error(
    '/dev/iommu is missing: the kernel tests run inside the QEMU rig (npm test, or npm run test:kernel)',
  );
