import { existsSync } from 'node:fs';
import { getSystemErrorMap } from 'node:util';
import { LINUX_ERRNO, LINUX_ERRNO_7_3 } from '../uapi/errno.js';

/** Every errno either kernel has (7.3's are a superset of 6.12's). */
const ALL_ERRNOS: Record<string, number> = { ...LINUX_ERRNO, ...LINUX_ERRNO_7_3 };
const names = new Map<number, string>(Object.entries(ALL_ERRNOS).map(([name, errno]) => [errno, name]));

// errno number -> [name, description] from libuv, for the human-readable part.
const systemErrors = getSystemErrorMap();

/** The kernel's name for a Linux errno, e.g. 95 -> 'EOPNOTSUPP'. */
export function errnoName(errno: number): string {
  return names.get(errno) ?? `E${errno}`;
}

/** The Linux errno number of a name, e.g. 'EBUSY' -> 16. */
export function errnoNumber(code: string): number {
  const errno = Object.hasOwn(ALL_ERRNOS, code) ? ALL_ERRNOS[code] : undefined;
  if (errno === undefined) throw new RangeError(`unknown errno name ${code}`);
  return errno;
}

function errnoDescription(errno: number): string {
  return systemErrors.get(-errno)?.[1] ?? errnoName(errno);
}

// What the kernel's iommufd ioctls usually mean by an errno, to point a person
// at the fix. Only for ioctls: open() or mmap() mean other things by ENOENT or ENOMEM.
const hints: Record<string, string> = {
  ENOENT: 'no object with that id or type, or nothing mapped there',
  EBUSY: 'the object is still in use (attached device, access or mapping)',
  EINVAL: 'an argument is malformed: check alignment, flags and ranges',
  EEXIST: 'the IOVA range is already mapped',
  ENOSPC: 'no free IOVA range of that size is allowed',
  ENOMEM: 'out of memory or over the pinned-memory limit',
  EOPNOTSUPP: 'the kernel or this object does not support the request',
  ENOTTY: 'the file is not /dev/iommu or the kernel lacks this ioctl (IOMMU_TEST_CMD needs CONFIG_IOMMUFD_TEST)',
  EOVERFLOW: 'IOVA + length wraps past 2^64',
  EFAULT: 'the kernel could not access the user memory',
  EBADFD: 'the fd is not of the kind this op needs (e.g. not an access fd)',
};

/** A failed system call on /dev/iommu (or on memory the package manages). */
export class IommufdError extends Error {
  override readonly name = 'IommufdError';
  /** errno name, e.g. 'EINVAL'. */
  readonly code: string;
  readonly errno: number;
  /** The system call that failed: 'ioctl', 'open', 'mmap', ... */
  readonly syscall: string;
  /** The ioctl or test op, e.g. 'IOMMU_IOAS_MAP' or 'IOMMU_TEST_OP_ACCESS_PAGES'. */
  readonly op: string;

  /** `hint` replaces the table's meaning of the errno (which only ioctls get). */
  constructor(errno: number, op: string, detail?: string, hint?: string) {
    const code = errnoName(errno);
    const syscall = /^(IOMMU|VFIO)_/.test(op) ? 'ioctl' : op.replace(/\(.*$/, '');
    hint ??= syscall === 'ioctl' ? hints[code] : undefined;
    super(
      `${op} failed: ${code} (${errnoDescription(errno)})` +
        (detail ? ` ${detail}` : '') +
        (hint ? ` — ${hint}` : ''),
    );
    this.code = code;
    this.errno = errno;
    this.op = op;
    this.syscall = syscall;
  }
}

/**
 * open() of an iommufd node failed: what that errno means for /dev/iommu and
 * what to do about it (the ioctl table would say "no object with that id").
 */
export function iommufdOpenError(errno: number, path: string): IommufdError {
  const code = errnoName(errno);
  let advice: string;
  if (code === 'ENOENT')
    advice = existsSync('/sys/class/misc/iommu')
      ? `${path} is missing although the kernel has iommufd: is devtmpfs mounted on /dev?`
      : `${path} does not exist: the kernel lacks CONFIG_IOMMUFD, or the module is not loaded (modprobe iommufd)`;
  else if (code === 'ENODEV' || code === 'ENXIO')
    advice = `no driver behind ${path}: load iommufd (modprobe iommufd) or check that the node is the iommu misc device`;
  else if (code === 'ENOTTY') advice = `${path} is not an iommufd (it does not answer iommufd ioctls)`;
  else if (code === 'EACCES')
    advice = `no permission to open ${path} read-write: run as root, or give your user the device (its group and mode, e.g. a udev rule)`;
  else if (code === 'EPERM')
    advice = `opening ${path} is not permitted: run as root, or check what denies it (a security module, a container's device cgroup)`;
  else if (code === 'EMFILE' || code === 'ENFILE') advice = `no file descriptor left to open ${path}: close some, or raise the limit (ulimit -n)`;
  else advice = `cannot open ${path}`;
  return new IommufdError(errno, 'open', undefined, advice);
}

/**
 * A call on an object after it was closed, destroyed, freed or unpinned, or
 * after its iommufd was closed. It is refused in JS before any system call
 * (the fd number or object id may already belong to something else), so it is
 * no IommufdError: no syscall failed, and a use-after-close must not pass for
 * the kernel's EBADF or ENOENT. `code` follows Node's ERR_* convention.
 */
export class ClosedError extends Error {
  override readonly name = 'ClosedError';
  readonly code = 'ERR_IOMMUFD_CLOSED';
}
