import { expect, test } from 'vitest';
import { IommufdError, errnoName, errnoNumber } from '../../lib/index.js';

test('errno names round-trip through the platform table', () => {
  for (const code of ['EINVAL', 'ENOENT', 'EBUSY', 'ENOMEM', 'EOPNOTSUPP', 'EFAULT']) {
    expect(errnoName(errnoNumber(code))).toBe(code);
  }
  expect(errnoNumber('ENOENT')).toBe(2);
  expect(() => errnoNumber('ENOTANERRNO')).toThrow(RangeError);
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
