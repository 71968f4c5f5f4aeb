// Setup of the vfio project (test/vfio), which runs inside the `vtd` VM profile
// (q35 + emulated VT-d + QEMU's edu device): it needs /dev/iommu, a real IOMMU
// and the edu device bound to vfio-pci. In CI (CI or IOMMUFD_REQUIRE_KERNEL=1)
// anything missing is a failure; elsewhere the tests skip with the reason.
import { existsSync } from 'node:fs';
import { STRICT, eduDevice } from './helpers.js';

if (!existsSync('/dev/iommu'))
  throw new Error('/dev/iommu is missing: the vfio tests run inside the QEMU rig (npm test, or node scripts/vm.mjs --profile vtd -- node scripts/run-vitest.mjs vfio)');
const edu = eduDevice();
if (STRICT && 'missing' in edu) throw new Error(`vfio tests cannot run (CI requires them): ${edu.missing}`);
