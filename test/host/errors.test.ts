import { describe, expect, test } from 'vitest';
import { ClosedError, Iommufd, IommufdError, errnoName, errnoNumber } from '../../lib/index.js';
import { iommufdOpenError } from '../../lib/base/errors.js';

test('errno names round-trip through the platform table', () => {
  for (const code of ['EINVAL', 'ENOENT', 'EBUSY', 'ENOMEM', 'EOPNOTSUPP', 'EFAULT']) {
    expect(errnoName(errnoNumber(code))).toBe(code);
  }
  expect(errnoNumber('ENOENT')).toBe(2);
  expect(() => errnoNumber('ENOTANERRNO')).toThrow(RangeError);
  expect(() => errnoNumber('toString')).toThrow(RangeError);
});

test("7.3's EFTYPE (134) has its name, though the 6.12 headers lack it", () => {
  expect(errnoName(134)).toBe('EFTYPE');
  expect(errnoNumber('EFTYPE')).toBe(134);
  const error = new IommufdError(134, 'IOMMU_IOAS_MAP');
  expect(error.code).toBe('EFTYPE');
  expect(error.message).toMatch(/^IOMMU_IOAS_MAP failed: EFTYPE/);
});

test('an IommufdError names the ioctl, the errno and what it usually means', () => {
  const error = new IommufdError(16, 'IOMMU_DESTROY');
  expect(error).toBeInstanceOf(Error);
  expect(error.name).toBe('IommufdError');
  expect(error.code).toBe('EBUSY');
  expect(error.errno).toBe(16);
  expect(error.syscall).toBe('ioctl');
  expect(error.op).toBe('IOMMU_DESTROY');
  expect(error.message).toMatch(/^IOMMU_DESTROY failed: EBUSY \(.+\) — the object is still in use/);
});

test('errors of other system calls name that call', () => {
  expect(new IommufdError(12, 'mmap(MAP_HUGETLB)').syscall).toBe('mmap');
  expect(new IommufdError(2, 'open', '(no such device)').message).toContain('(no such device)');
});

test('only ioctls get the table of what iommufd means by an errno', () => {
  expect(new IommufdError(2, 'IOMMU_DESTROY').message).toMatch(/— no object with that id/);
  for (const op of ['open', 'mmap', 'close', 'read(fault fd)']) expect(new IommufdError(2, op).message).not.toMatch(/ — /);
  expect(new IommufdError(2, 'IOMMU_DESTROY', undefined, 'a hint of its own').message).toMatch(/ — a hint of its own$/);
});

describe('a failed open() of /dev/iommu says what that errno means for the device', () => {
  const ioctlHints = /no object with that id|check alignment|IOMMU_TEST_CMD needs|not of the kind this op needs/;

  test.for([
    ['ENOENT', /\/dev\/iommu (does not exist: the kernel lacks CONFIG_IOMMUFD, or the module is not loaded \(modprobe iommufd\)|is missing although the kernel has iommufd)/],
    ['EACCES', /no permission to open \/dev\/iommu read-write: run as root, or give your user the device/],
    ['EPERM', /opening \/dev\/iommu is not permitted: run as root, or check what denies it/],
    ['ENODEV', /no driver behind \/dev\/iommu: load iommufd/],
    ['ENXIO', /no driver behind \/dev\/iommu/],
    ['ENOTTY', /\/dev\/iommu is not an iommufd/],
    ['EMFILE', /no file descriptor left .*ulimit -n/],
    ['EIO', /cannot open \/dev\/iommu$/],
  ] as const)('%s', ([code, advice]) => {
    const error = iommufdOpenError(errnoNumber(code), '/dev/iommu');
    expect(error).toMatchObject({ name: 'IommufdError', code, syscall: 'open', op: 'open' });
    expect(error.message).toMatch(new RegExp(`^open failed: ${code} \\(.+\\) — `));
    expect(error.message).toMatch(advice);
    expect(error.message).not.toMatch(ioctlHints);
  });

  test('from Iommufd.open() itself', () => {
    const missing = (() => {
      try {
        Iommufd.open({ backend: 'native', path: '/nonexistent/iommu' });
      } catch (e) {
        return e as IommufdError;
      }
    })();
    expect(missing).toMatchObject({ name: 'IommufdError', code: 'ENOENT', syscall: 'open' });
    expect(missing!.message).toMatch(/\/nonexistent\/iommu (does not exist|is missing)/);
    expect(missing!.message).not.toMatch(ioctlHints);
    // Opens fine, answers no iommufd ioctl.
    expect(() => Iommufd.open({ backend: 'native', path: '/dev/null' })).toThrow(/^open failed: ENOTTY \(.+\) — \/dev\/null is not an iommufd \(it does not answer iommufd ioctls\)$/);
  });
});

test('a use after close is a ClosedError with a code, not an IommufdError', () => {
  const error = new ClosedError('IOAS 1 has been destroyed or its iommufd closed');
  expect(error).toBeInstanceOf(Error);
  expect(error).not.toBeInstanceOf(IommufdError);
  expect(error).toMatchObject({ name: 'ClosedError', code: 'ERR_IOMMUFD_CLOSED', message: 'IOAS 1 has been destroyed or its iommufd closed' });
  expect('errno' in error || 'syscall' in error).toBe(false);
  using fd = Iommufd.open({ backend: 'sim' });
  fd.close();
  expect(() => fd.allocIoas()).toThrow(ClosedError);
});
