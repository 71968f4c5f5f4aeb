// The calling process's own privileges, as the kernel's selftests adjust them.
import { addon } from '../native/binding.js';

/**
 * CAP_IPC_LOCK in the effective set of the JS thread (which issues the ioctls),
 * on or off; native backend only. Without it, pages an IOAS pins are accounted
 * to this process (VmPin, and with the mm rlimit mode VmLck) instead of not at
 * all: the selftest's drop_cap_ipc_lock(). Turning it back on works while it is
 * in the permitted set, which turning it off keeps.
 */
export function setCapIpcLock(enabled: boolean): void {
  if (typeof enabled !== 'boolean') throw new TypeError('enabled must be a boolean');
  addon().setCapIpcLockEffective(enabled);
}

/**
 * CAP_SYS_RAWIO in the effective set of the JS thread, on or off (needs the
 * addon; the simulator reads the same thread's capabilities). 7.3's
 * IOMMU_IOAS_NOIOMMU_GET_PA (`ioas.noiommuGetPa()`) is EPERM without it.
 * Turning it back on works while it is in the permitted set.
 */
export function setCapSysRawio(enabled: boolean): void {
  if (typeof enabled !== 'boolean') throw new TypeError('enabled must be a boolean');
  addon().setCapSysRawioEffective(enabled);
}
