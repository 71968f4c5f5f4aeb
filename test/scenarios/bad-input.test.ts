// Bad input gets a clear error and never a crash: JS-side mistakes are rejected
// before the ioctl, kernel-side ones come back as IommufdError.
import { describe, expect, test } from 'vitest';
import { DmaBuffer, Iommufd, IommufdError, MOCK_APERTURE_START, ioctlRequest } from '../../lib/index.js';
import { PAGE_SIZE, expectErrno } from '../helpers.js';
import { openIommufd } from '../backend.js';
import { scenarioFixture } from './fixture.js';

const self = scenarioFixture({ extra: () => ({ buffer: DmaBuffer.alloc(4 * PAGE_SIZE) }), release: ({ buffer }) => buffer.free() });

describe('errors from the kernel', () => {
  test('a length that is not a multiple of the domain page size is EINVAL', () => {
    self.fd.mockDomain(self.ioas);
    const error = expectErrno('EINVAL', () => self.ioas.mapAnywhere(self.buffer, { length: PAGE_SIZE + 1 }), 'IOMMU_IOAS_MAP');
    expect(error.errno).toBe(22);
    expect(error).toBeInstanceOf(Error);
  });

  test('a zero length is EINVAL', () => {
    expectErrno('EINVAL', () => self.ioas.mapAnywhere(self.buffer, { length: 0 }), 'IOMMU_IOAS_MAP');
  });

  test('a fixed IOVA not aligned to the domain is EINVAL', () => {
    self.fd.mockDomain(self.ioas);
    expectErrno('EINVAL', () => self.ioas.mapFixed(MOCK_APERTURE_START + 1n, self.buffer), 'IOMMU_IOAS_MAP');
  });

  test('an unknown IOAS id is ENOENT for every IOAS ioctl', () => {
    const ghost = self.fd.allocIoas();
    ghost.destroy();
    const backend = self.fd.backend;
    const range = { bytes: self.buffer.bytes, offset: 0, length: PAGE_SIZE };
    expectErrno('ENOENT', () => backend.ioasMap(ghost.id, 6, range, 0n), 'IOMMU_IOAS_MAP');
    expectErrno('ENOENT', () => backend.ioasUnmap(ghost.id, 0n, BigInt(PAGE_SIZE)), 'IOMMU_IOAS_UNMAP');
    expectErrno('ENOENT', () => backend.mockDomain(ghost.id), 'IOMMU_TEST_OP_MOCK_DOMAIN');
    expectErrno('ENOENT', () => backend.createAccess(ghost.id, 0), 'IOMMU_TEST_OP_CREATE_ACCESS');
  });

  test('an id of the wrong type is ENOENT', () => {
    const mock = self.fd.mockDomain(self.ioas);
    expectErrno('ENOENT', () => self.fd.backend.ioasIovaRanges(mock.hwptId), 'IOMMU_IOAS_IOVA_RANGES');
  });

  test('an fd that is not an access is rejected by the access ops', () => {
    // iommufd_access_get(): an fd that is not a selftest access file.
    expectErrno('EBADFD', () => self.fd.backend.accessRw(0, 0, 0n, { bytes: self.buffer.bytes, offset: 0, length: 8 }));
  });
});

describe('errors caught before the ioctl', () => {
  test('a length past the end of the buffer is a RangeError', () => {
    expect(() => self.ioas.mapAnywhere(self.buffer, { length: 5 * PAGE_SIZE })).toThrow(RangeError);
    expect(() => self.ioas.mapAnywhere(self.buffer, { offset: PAGE_SIZE, length: 4 * PAGE_SIZE })).toThrow(RangeError);
    expect(self.buffer.mappings).toBe(0);
    expect(self.ioas.unmapAll()).toBe(0n); // nothing reached the kernel
  });

  test('the backend itself refuses ranges outside the memory, whatever the caller', () => {
    // Straight at the backend, past the typed API's checks: its own bounds
    // check (the addon's, on native) is the last line of defence and must
    // throw, not hand the kernel a bad pointer.
    const backend = self.fd.backend;
    const bad = { bytes: self.buffer.bytes, offset: 3 * PAGE_SIZE, length: 2 * PAGE_SIZE };
    expect(() => backend.ioasMap(self.ioas.id, 6, bad, 0n)).toThrow(RangeError);
    const access = self.fd.createAccess(self.ioas);
    self.ioas.mapFixed(MOCK_APERTURE_START, self.buffer);
    const small = new Uint8Array(16);
    expect(() => backend.accessRw(access.fd, 0, MOCK_APERTURE_START, { bytes: small, offset: 8, length: 16 })).toThrow(
      RangeError,
    );
    // The pin check reads whole pages around uptr: a window at the start of the
    // memory with an IOVA in the middle of a page would read before it.
    const pinner = self.fd.createAccess(self.ioas, { needsPinPages: true });
    expect(() =>
      backend.accessPages(pinner.fd, 0, MOCK_APERTURE_START + 100n, 16, { bytes: self.buffer.bytes, offset: 0, length: 16 }),
    ).toThrow(RangeError);
    self.fd.checkRefs(self.buffer, 0);
  });

  test('a number IOVA above 2^53 is a RangeError; bigint works', () => {
    expect(() => self.ioas.mapFixed(2 ** 53 + 2, self.buffer)).toThrow(RangeError);
    expect(() => self.ioas.mapFixed(-4096, self.buffer)).toThrow(RangeError);
    expect(() => self.ioas.mapFixed(4096.5, self.buffer)).toThrow(RangeError);
    expect(() => self.ioas.unmap(1n << 64n, 4096)).toThrow(RangeError);
    expect(() => self.ioas.mapFixed('4096' as unknown as number, self.buffer)).toThrow(TypeError);
    expect(self.ioas.mapFixed((1n << 53n) + 4096n, self.buffer)).toBe((1n << 53n) + 4096n);
  });

  test('a freed buffer cannot be mapped, and a mapped one cannot be freed', () => {
    const other = DmaBuffer.alloc(PAGE_SIZE);
    const iova = self.ioas.mapAnywhere(other);
    expect(() => other.free()).toThrow(/still mapped/);
    self.ioas.unmap(iova, PAGE_SIZE);
    other.free();
    expect(() => self.ioas.mapAnywhere(other)).toThrow(/freed/);
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
      self.fd.destroy(0xfffff);
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

// The entry points the kernel selftest port added: each refuses a bad argument
// with a TypeError or RangeError before any ioctl, on the kernel and the simulator,
// and the iommufd stays usable afterwards.
describe('bad input to the newer entry points', () => {
  const MAP = ioctlRequest('IOMMU_IOAS_MAP');
  /** struct iommu_ioas_map (40 bytes) with `size`, and user_va at offset 16. */
  const mapCmd = (size: number, userVa = 0n, length = 40) => {
    const bytes = new Uint8Array(length);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, size, true);
    view.setBigUint64(16, userVa, true);
    return bytes;
  };

  test('rawIoctl: a user pointer, a size past the bytes, a foreign request, an integer for a struct', () => {
    expect(() => self.fd.rawIoctl(MAP, mapCmd(40, 0x1000n))).toThrow(TypeError);
    expect(() => self.fd.rawIoctl(MAP, mapCmd(41))).toThrow(RangeError);
    expect(() => self.fd.rawIoctl(MAP, new Uint8Array(3))).toThrow(RangeError);
    expect(() => self.fd.rawIoctl(0x5401, null)).toThrow(RangeError); // TCGETS: not an iommufd ioctl
    expect(() => self.fd.rawIoctl(MAP, 1)).toThrow(TypeError);
    // A well-formed command still reaches the kernel: zero length is EINVAL there.
    expectErrno('EINVAL', () => self.fd.rawIoctl(MAP, mapCmd(40)), 'IOMMU_IOAS_MAP');
  });

  test('adoptIoas, hwInfo and mockDomain flags: ids and flags must be u32', () => {
    expect(() => self.fd.adoptIoas(-1)).toThrow(RangeError);
    expect(() => self.fd.hwInfo(-1)).toThrow(RangeError);
    expect(() => self.fd.hwInfo(1, 1.5)).toThrow(RangeError);
    expect(() => self.fd.hwInfo(1, 'x' as unknown as number)).toThrow(TypeError);
    expect(() => self.fd.hwInfo(1, 8, { dataType: 2 ** 32 })).toThrow(RangeError);
    expect(() => self.fd.mockDomain(self.ioas, { flags: -1 })).toThrow(RangeError);
  });

  test('iovaRangesInto: room past the array, and the wrong array type', () => {
    expect(() => self.ioas.iovaRangesInto(new BigUint64Array(2), 2)).toThrow(RangeError);
    expect(() => self.ioas.iovaRangesInto(new Uint32Array(4) as unknown as BigUint64Array)).toThrow(TypeError);
    expect(self.ioas.iovaRangesInto(new BigUint64Array(2)).numIovas).toBe(1);
  });

  test('readDirtyBitmap and checkMap: memory too small for what the kernel would touch', () => {
    const mock = self.fd.mockDomain(self.ioas);
    const hwpt = mock.hwpt;
    // 64 pages need one u64 of bitmap: 7 bytes, or 8 bytes at offset 1 of 8, are too few.
    expect(() => hwpt.readDirtyBitmap(MOCK_APERTURE_START, 64 * PAGE_SIZE, new Uint8Array(7))).toThrow(RangeError);
    expect(() => hwpt.readDirtyBitmap(MOCK_APERTURE_START, 64 * PAGE_SIZE, new Uint8Array(8), { offset: 1 })).toThrow(RangeError);
    expect(() => hwpt.checkMap(MOCK_APERTURE_START, self.buffer, { offset: PAGE_SIZE, length: 4 * PAGE_SIZE })).toThrow(RangeError);
  });

  test('Batch.mapAnywhere and copy: a bad range or length is refused while recording, nothing runs', () => {
    expect(() => self.fd.batch((b) => b.mapAnywhere(self.ioas, self.buffer, { length: 5 * PAGE_SIZE }))).toThrow(RangeError);
    expect(() => self.fd.batch((b) => b.mapFixed(self.ioas, MOCK_APERTURE_START, self.buffer).copy(self.ioas, self.ioas, 0n, -1))).toThrow(RangeError);
    expect(self.buffer.mappings).toBe(0);
    expect(self.ioas.iovaRanges().ranges.length).toBeGreaterThan(0); // the IOAS still answers
  });
});

describe('Iommufd.open({ kernel }) names a simulator model', () => {
  test('an unknown model, or a kernel for a backend that is not the simulator, is a TypeError before anything opens', () => {
    expect(() => Iommufd.open({ backend: 'sim', kernel: '9.9' as '7.3' })).toThrow(/the simulator models kernels 6\.12 and 7\.3, not 9\.9/);
    expect(() => Iommufd.open({ backend: 'sim', kernel: '9.9' as '7.3' })).toThrow(TypeError);
    for (const backend of ['native', 'auto'] as const)
      expect(() => Iommufd.open({ backend, kernel: '7.3' })).toThrow(/picks the simulator's kernel model: use it with backend: 'sim'/);
    using fd = Iommufd.open({ backend: 'sim', kernel: '7.3' });
    expect(fd.capabilities().kernel).toBe('sim-7.3');
  });
});
