// 7.3's IOMMU_IOAS_NOIOMMU_GET_PA (CONFIG_IOMMUFD_NOIOMMU): the physical address
// behind an IOVA, for no-IOMMU devices. Here every error path, in the kernel's
// order, with the kernel's errno on both backends: the IOASes of these tests
// have no no-IOMMU device, so a mapped IOVA is EOPNOTSUPP on the kernel too
// (real physical addresses: test/vfio/noiommu.test.ts). JS mistakes are
// TypeErrors and RangeErrors before the ioctl. 6.12 lacks it: ENOTTY.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { ClosedError, DmaBuffer, Iommufd, IommufdError, MemFile, U64_MAX, setCapSysRawio, type Ioas } from '../../lib/index.js';
import { capabilities, kernelVersion, openIommufd, requires } from '../backend.js';
import { PAGE_SIZE, expectErrno } from '../helpers.js';

const OP = 'IOMMU_IOAS_NOIOMMU_GET_PA';
const P = BigInt(PAGE_SIZE);
/** A high IOVA: an area there proves all 64 bits reach the lookup. */
const HIGH_IOVA = 0xffff_f000_0000_0000n;

let fd: Iommufd;
let ioas: Ioas;
let buffer: DmaBuffer;

beforeEach(() => {
  fd = openIommufd();
  ioas = fd.allocIoas();
  buffer = DmaBuffer.alloc(4 * PAGE_SIZE);
});

afterEach(() => {
  if (!fd.closed) fd.close();
  buffer.free();
});

test('capabilities report NOIOMMU_GET_PA on 7.3; 6.12 answers it ENOTTY', () => {
  const has = kernelVersion() !== '6.12';
  expect(capabilities().ioctls[OP]).toBe(has);
  if (has) return;
  expectErrno('ENOTTY', () => ioas.noiommuGetPa(0, PAGE_SIZE), OP);
  expectErrno('ENOTTY', () => fd.backend.ioasNoiommuGetPa(ioas.id, 1, 0n, 0n), OP);
});

test('JS mistakes are TypeErrors and RangeErrors, before the ioctl', () => {
  expect(() => ioas.noiommuGetPa('0' as unknown as number, PAGE_SIZE)).toThrow(TypeError);
  expect(() => ioas.noiommuGetPa(0, null as unknown as number)).toThrow(TypeError);
  expect(() => ioas.noiommuGetPa(-1, PAGE_SIZE)).toThrow(RangeError);
  expect(() => ioas.noiommuGetPa(1.5, PAGE_SIZE)).toThrow(RangeError);
  expect(() => ioas.noiommuGetPa(2 ** 60, PAGE_SIZE)).toThrow(RangeError); // not exact as a number
  expect(() => ioas.noiommuGetPa(1n << 64n, PAGE_SIZE)).toThrow(RangeError);
  expect(() => ioas.noiommuGetPa(0, -1n)).toThrow(RangeError);
  expect(() => ioas.noiommuGetPa(0, U64_MAX + 1n)).toThrow(RangeError);
  // The Backend contract: u32 ids, flags and reserved, u64 bigints.
  expect(() => fd.backend.ioasNoiommuGetPa(ioas.id, 0, 0 as unknown as bigint, P)).toThrow(TypeError);
  expect(() => fd.backend.ioasNoiommuGetPa(-1, 0, 0n, P)).toThrow(RangeError);
  expect(() => fd.backend.ioasNoiommuGetPa(ioas.id, 2 ** 32, 0n, P)).toThrow(RangeError);
  expect(() => fd.backend.ioasNoiommuGetPa(ioas.id, 0, 0n, P, -1)).toThrow(RangeError);
  expect(() => setCapSysRawio(1 as unknown as boolean)).toThrow(TypeError);
  // A destroyed IOAS, a closed iommufd: refused before any syscall.
  ioas.destroy();
  expect(() => ioas.noiommuGetPa(0, PAGE_SIZE)).toThrow(ClosedError);
  const other = fd.allocIoas();
  fd.close();
  expect(() => other.noiommuGetPa(0, PAGE_SIZE)).toThrow(ClosedError);
});

describe('7.3 NOIOMMU_GET_PA', () => {
  beforeEach((ctx) => {
    requires(ctx, OP);
  });

  test("the kernel's errnos, in the kernel's order", () => {
    const bad = ioas.id + 100;
    // CAP_SYS_RAWIO first: EPERM whatever else is wrong.
    setCapSysRawio(false);
    try {
      const e = expectErrno('EPERM', () => fd.backend.ioasNoiommuGetPa(bad, 1, U64_MAX, 0n, 1), OP);
      expect(e).toMatchObject({ name: 'IommufdError', errno: 1, syscall: 'ioctl', op: OP });
      expectErrno('EPERM', () => ioas.noiommuGetPa(0, PAGE_SIZE), OP);
      // The capability probe has no side effect and still finds the ioctl.
      using again = openIommufd();
      expect(again.capabilities().ioctls[OP]).toBe(true);
    } finally {
      setCapSysRawio(true);
    }
    // Then flags or __reserved (EOPNOTSUPP), before the length.
    expectErrno('EOPNOTSUPP', () => fd.backend.ioasNoiommuGetPa(bad, 1, U64_MAX, 0n), OP);
    expectErrno('EOPNOTSUPP', () => fd.backend.ioasNoiommuGetPa(bad, 0x8000_0000, 0n, P), OP);
    expectErrno('EOPNOTSUPP', () => fd.backend.ioasNoiommuGetPa(bad, 0, U64_MAX, 0n, 1), OP);
    expectErrno('EOPNOTSUPP', () => fd.backend.ioasNoiommuGetPa(ioas.id, 0, 0n, P, 0xffff_ffff), OP);
    // A zero length (EINVAL), before the IOVA.
    expectErrno('EINVAL', () => fd.backend.ioasNoiommuGetPa(bad, 0, U64_MAX, 0n), OP);
    expectErrno('EINVAL', () => ioas.noiommuGetPa(0, 0), OP);
    // iova >= ULONG_MAX (EOVERFLOW), before the IOAS lookup.
    expectErrno('EOVERFLOW', () => fd.backend.ioasNoiommuGetPa(bad, 0, U64_MAX, P), OP);
    expectErrno('EOVERFLOW', () => ioas.noiommuGetPa(U64_MAX, 1), OP);
    // No such IOAS, or an object of another type (ENOENT).
    expectErrno('ENOENT', () => fd.backend.ioasNoiommuGetPa(bad, 0, 0n, P), OP);
    expectErrno('ENOENT', () => fd.backend.ioasNoiommuGetPa(0, 0, 0n, P), OP);
    const mock = fd.mockDomain(fd.allocIoas());
    expectErrno('ENOENT', () => fd.backend.ioasNoiommuGetPa(mock.hwptId, 0, 0n, P), OP);
    expectErrno('ENOENT', () => fd.backend.ioasNoiommuGetPa(mock.stdevId, 0, 0n, P), OP);
    // Nothing mapped at the IOVA (ENOENT).
    expectErrno('ENOENT', () => ioas.noiommuGetPa(0, PAGE_SIZE), OP);
    expectErrno('ENOENT', () => ioas.noiommuGetPa(U64_MAX - 1n, 1), OP);
  });

  test('a mapped IOVA without a no-IOMMU domain is EOPNOTSUPP; only the start must be mapped', () => {
    const iova = ioas.mapFixed(HIGH_IOVA, buffer);
    const last = iova + 4n * P - 1n;
    for (const at of [iova, iova + 1n, iova + 2n * P + 7n, last])
      for (const length of [1n, P, 100n * P, U64_MAX]) expectErrno('EOPNOTSUPP', () => ioas.noiommuGetPa(at, length), OP);
    // Numbers and bigints alike; the 64 bits arrive whole: one below or past the area is nothing.
    expectErrno('EOPNOTSUPP', () => ioas.noiommuGetPa(iova, PAGE_SIZE), OP);
    expectErrno('ENOENT', () => ioas.noiommuGetPa(iova - 1n, P), OP);
    expectErrno('ENOENT', () => ioas.noiommuGetPa(last + 1n, P), OP);
    expectErrno('ENOENT', () => ioas.noiommuGetPa(iova & 0xffff_ffffn, P), OP);
    // A mock domain's storage is no no-IOMMU domain either.
    const low = DmaBuffer.alloc(PAGE_SIZE);
    try {
      const space = fd.allocIoas();
      const mock = fd.mockDomain(space);
      const at = space.mapAnywhere(low);
      expectErrno('EOPNOTSUPP', () => space.noiommuGetPa(at, P), OP);
      space.unmap(at, P);
      expectErrno('ENOENT', () => space.noiommuGetPa(at, P), OP);
      mock.destroy();
      space.destroy();
    } finally {
      low.free();
    }
  });

  test('file and dma-buf mappings: EOPNOTSUPP, and a revoked dma-buf is EINVAL first', (ctx) => {
    using file = MemFile.create(2 * PAGE_SIZE);
    const at = ioas.mapFile(file);
    expectErrno('EOPNOTSUPP', () => ioas.noiommuGetPa(at + P, P), OP);
    ioas.unmap(at, 2n * P);
    requires(ctx, 'DMABUF_GET', 'DMABUF_REVOKE');
    using dmabuf = fd.mockDmabuf(2 * PAGE_SIZE);
    const iova = ioas.mapFile(dmabuf);
    expectErrno('EOPNOTSUPP', () => ioas.noiommuGetPa(iova, P), OP);
    dmabuf.revoke(true);
    expectErrno('EINVAL', () => ioas.noiommuGetPa(iova + P, P), OP);
    // Revoked for good, even once the exporter takes it back.
    dmabuf.revoke(false);
    expectErrno('EINVAL', () => ioas.noiommuGetPa(iova, P), OP);
    expect(ioas.unmap(iova, 2n * P)).toBe(2n * P);
    expectErrno('ENOENT', () => ioas.noiommuGetPa(iova, P), OP);
  });

  test('failures leave nothing behind: the IOAS maps, unmaps and is destroyed as before', () => {
    const iova = ioas.mapFixed(HIGH_IOVA, buffer);
    for (let i = 0; i < 50; i++) {
      expectErrno('EOPNOTSUPP', () => ioas.noiommuGetPa(iova + BigInt(i) * 64n, P), OP);
      expectErrno('ENOENT', () => ioas.noiommuGetPa(BigInt(i) * P, P), OP);
      expectErrno('EOPNOTSUPP', () => fd.backend.ioasNoiommuGetPa(ioas.id, 1, iova, P), OP);
    }
    // No reference was taken on the IOAS or the pages.
    fd.checkRefs(buffer, 0);
    expect(ioas.unmapAll()).toBe(4n * P);
    ioas.destroy();
    expect(() => fd.destroy(ioas.id)).toThrow(IommufdError);
    expect(fd.allocIoas().id).toBe(ioas.id);
  });
});
