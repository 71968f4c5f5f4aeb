import { getSystemErrorMap } from 'node:util';
import { LINUX_ERRNO } from './errno.js';

const names = new Map<number, string>(Object.entries(LINUX_ERRNO).map(([name, errno]) => [errno, name]));

// errno number -> [name, description] from libuv, for the human-readable part.
const systemErrors = getSystemErrorMap();

/** The kernel's name for a Linux errno, e.g. 95 -> 'EOPNOTSUPP'. */
export function errnoName(errno: number): string {
  return names.get(errno) ?? `E${errno}`;
}

/** The Linux errno number of a name, e.g. 'EBUSY' -> 16. */
export function errnoNumber(code: string): number {
  const errno = (LINUX_ERRNO as Record<string, number>)[code];
  if (errno === undefined) throw new RangeError(`unknown errno name ${code}`);
  return errno;
}

function errnoDescription(errno: number): string {
  return systemErrors.get(-errno)?.[1] ?? errnoName(errno);
}

// What the kernel's iommufd usually means by an errno, to point a person at the fix.
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

  constructor(errno: number, op: string, detail?: string) {
    const code = errnoName(errno);
    const hint = hints[code];
    super(
      `${op} failed: ${code} (${errnoDescription(errno)})` +
        (detail ? ` ${detail}` : '') +
        (hint ? ` — ${hint}` : ''),
    );
    this.code = code;
    this.errno = errno;
    this.op = op;
    this.syscall = /^(IOMMU|VFIO)_/.test(op) ? 'ioctl' : op.replace(/\(.*$/, '');
  }
}
