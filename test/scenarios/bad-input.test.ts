// Bad input gets a clear error and never a crash: JS-side mistakes are rejected
// before the ioctl, kernel-side ones come back as IommufdError.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { DmaBuffer, Ioas, Iommufd, IommufdError, MOCK_APERTURE_START } from '../../lib/index.js';
import { PAGE_SIZE, expectErrno } from '../helpers.js';
import { openIommufd } from '../backend.js';

let fd: Iommufd;
let ioas: Ioas;
let buffer: DmaBuffer;

beforeEach(() => {
  fd = openIommufd();
  ioas = fd.allocIoas();
  buffer = DmaBuffer.alloc(4 * PAGE_SIZE);
});

afterEach(() => {
  fd.close();
  buffer.free();
});

describe('errors from the kernel', () => {
  test('a length that is not a multiple of the domain page size is EINVAL', () => {
    fd.mockDomain(ioas);
    const error = expectErrno('EINVAL', () => ioas.mapAnywhere(buffer, { length: PAGE_SIZE + 1 }), 'IOMMU_IOAS_MAP');
    expect(error.errno).toBe(22);
    expect(error).toBeInstanceOf(Error);
  });

  test('a zero length is EINVAL', () => {
    expectErrno('EINVAL', () => ioas.mapAnywhere(buffer, { length: 0 }), 'IOMMU_IOAS_MAP');
  });

  test('a fixed IOVA not aligned to the domain is EINVAL', () => {
    fd.mockDomain(ioas);
    expectErrno('EINVAL', () => ioas.mapFixed(MOCK_APERTURE_START + 1n, buffer), 'IOMMU_IOAS_MAP');
  });

  test('an unknown IOAS id is ENOENT for every IOAS ioctl', () => {
    const ghost = fd.allocIoas();
    ghost.destroy();
    const backend = fd.backend;
    const range = { bytes: buffer.bytes, offset: 0, length: PAGE_SIZE };
    expectErrno('ENOENT', () => backend.ioasMap(ghost.id, 6, range, 0n), 'IOMMU_IOAS_MAP');
    expectErrno('ENOENT', () => backend.ioasUnmap(ghost.id, 0n, BigInt(PAGE_SIZE)), 'IOMMU_IOAS_UNMAP');
    expectErrno('ENOENT', () => backend.mockDomain(ghost.id), 'IOMMU_TEST_OP_MOCK_DOMAIN');
    expectErrno('ENOENT', () => backend.createAccess(ghost.id, 0), 'IOMMU_TEST_OP_CREATE_ACCESS');
  });

  test('an id of the wrong type is ENOENT', () => {
    const mock = fd.mockDomain(ioas);
    expectErrno('ENOENT', () => fd.backend.ioasIovaRanges(mock.hwptId), 'IOMMU_IOAS_IOVA_RANGES');
  });

  test('an fd that is not an access is rejected by the access ops', () => {
    // iommufd_access_get(): an fd that is not a selftest access file.
    expectErrno('EBADFD', () => fd.backend.accessRw(0, 0, 0n, { bytes: buffer.bytes, offset: 0, length: 8 }));
  });
});

describe('errors caught before the ioctl', () => {
  test('a length past the end of the buffer is a RangeError', () => {
    expect(() => ioas.mapAnywhere(buffer, { length: 5 * PAGE_SIZE })).toThrow(RangeError);
    expect(() => ioas.mapAnywhere(buffer, { offset: PAGE_SIZE, length: 4 * PAGE_SIZE })).toThrow(RangeError);
    expect(buffer.mappings).toBe(0);
    expect(ioas.unmapAll()).toBe(0n); // nothing reached the kernel
  });

  test('the backend itself refuses ranges outside the memory, whatever the caller', () => {
    // Straight at the backend, past the typed API's checks: its own bounds
    // check (the addon's, on native) is the last line of defence and must
    // throw, not hand the kernel a bad pointer.
    const backend = fd.backend;
    const bad = { bytes: buffer.bytes, offset: 3 * PAGE_SIZE, length: 2 * PAGE_SIZE };
    expect(() => backend.ioasMap(ioas.id, 6, bad, 0n)).toThrow(RangeError);
    const access = fd.createAccess(ioas);
    ioas.mapFixed(MOCK_APERTURE_START, buffer);
    const small = new Uint8Array(16);
    expect(() => backend.accessRw(access.fd, 0, MOCK_APERTURE_START, { bytes: small, offset: 8, length: 16 })).toThrow(
      RangeError,
    );
    // The pin check reads whole pages around uptr: a window at the start of the
    // memory with an IOVA in the middle of a page would read before it.
    const pinner = fd.createAccess(ioas, { needsPinPages: true });
    expect(() =>
      backend.accessPages(pinner.fd, 0, MOCK_APERTURE_START + 100n, 16, { bytes: buffer.bytes, offset: 0, length: 16 }),
    ).toThrow(RangeError);
    fd.checkRefs(buffer, 0);
  });

  test('a number IOVA above 2^53 is a RangeError; bigint works', () => {
    expect(() => ioas.mapFixed(2 ** 53 + 2, buffer)).toThrow(RangeError);
    expect(() => ioas.mapFixed(-4096, buffer)).toThrow(RangeError);
    expect(() => ioas.mapFixed(4096.5, buffer)).toThrow(RangeError);
    expect(() => ioas.unmap(1n << 64n, 4096)).toThrow(RangeError);
    expect(() => ioas.mapFixed('4096' as unknown as number, buffer)).toThrow(TypeError);
    expect(ioas.mapFixed((1n << 53n) + 4096n, buffer)).toBe((1n << 53n) + 4096n);
  });

  test('a freed buffer cannot be mapped, and a mapped one cannot be freed', () => {
    const other = DmaBuffer.alloc(PAGE_SIZE);
    const iova = ioas.mapAnywhere(other);
    expect(() => other.free()).toThrow(/still mapped/);
    ioas.unmap(iova, PAGE_SIZE);
    other.free();
    expect(() => ioas.mapAnywhere(other)).toThrow(/freed/);
  });

  test('using a closed iommufd throws instead of reaching a stale fd', () => {
    const second = openIommufd();
    const secondIoas = second.allocIoas();
    second.close();
    expect(() => second.allocIoas()).toThrow(/closed/);
    expect(() => secondIoas.iovaRanges()).toThrow(/destroyed or its iommufd closed/);
  });

  test('IommufdError carries the fields a caller needs', () => {
    try {
      fd.destroy(0xfffff);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(IommufdError);
      const error = e as IommufdError;
      expect({ code: error.code, errno: error.errno, syscall: error.syscall, op: error.op }).toEqual({
        code: 'ENOENT',
        errno: 2,
        syscall: 'ioctl',
        op: 'IOMMU_DESTROY',
      });
    }
  });
});
