// 7.3's IOMMU_IOAS_NOIOMMU_GET_PA (CONFIG_IOMMUFD_NOIOMMU): the physical address
// behind an IOVA, for no-IOMMU devices. Here every error path, in the kernel's
// order, with the kernel's errno on both backends: the IOASes of these tests
// have no no-IOMMU device, so a mapped IOVA is EOPNOTSUPP on the kernel too
// (real physical addresses: test/vfio/noiommu.test.ts). JS mistakes are
// TypeErrors and RangeErrors before the ioctl. 6.12 lacks it: ENOTTY.
import { beforeEach, describe, expect, test } from 'vitest';
import { ClosedError, DmaBuffer, IommufdError, MemFile, U64_MAX, setCapSysRawio } from '../../lib/index.js';
import { capabilities, kernelVersion, openIommufd, requires } from '../backend.js';
import { PAGE_SIZE, expectErrno } from '../helpers.js';
import { scenarioFixture } from './fixture.js';

const OP = 'IOMMU_IOAS_NOIOMMU_GET_PA';
const P = BigInt(PAGE_SIZE);
/** A high IOVA: an area there proves all 64 bits reach the lookup. */
const HIGH_IOVA = 0xffff_f000_0000_0000n;

const self = scenarioFixture({ extra: () => ({ buffer: DmaBuffer.alloc(4 * PAGE_SIZE) }), release: ({ buffer }) => buffer.free() });

test('capabilities report NOIOMMU_GET_PA on 7.3; 6.12 answers it ENOTTY', () => {
  const has = kernelVersion() !== '6.12';
  expect(capabilities().ioctls[OP]).toBe(has);
  if (has) return;
  expectErrno('ENOTTY', () => self.ioas.noiommuGetPa(0, PAGE_SIZE), OP);
  expectErrno('ENOTTY', () => self.fd.backend.ioasNoiommuGetPa(self.ioas.id, 1, 0n, 0n), OP);
});

test('JS mistakes are TypeErrors and RangeErrors, before the ioctl', () => {
  expect(() => self.ioas.noiommuGetPa('0' as unknown as number, PAGE_SIZE)).toThrow(TypeError);
  expect(() => self.ioas.noiommuGetPa(0, null as unknown as number)).toThrow(TypeError);
  expect(() => self.ioas.noiommuGetPa(-1, PAGE_SIZE)).toThrow(RangeError);
  expect(() => self.ioas.noiommuGetPa(1.5, PAGE_SIZE)).toThrow(RangeError);
  expect(() => self.ioas.noiommuGetPa(2 ** 60, PAGE_SIZE)).toThrow(RangeError); // not exact as a number
  expect(() => self.ioas.noiommuGetPa(1n << 64n, PAGE_SIZE)).toThrow(RangeError);
  expect(() => self.ioas.noiommuGetPa(0, -1n)).toThrow(RangeError);
  expect(() => self.ioas.noiommuGetPa(0, U64_MAX + 1n)).toThrow(RangeError);
  // The Backend contract: u32 ids, flags and reserved, u64 bigints.
  expect(() => self.fd.backend.ioasNoiommuGetPa(self.ioas.id, 0, 0 as unknown as bigint, P)).toThrow(TypeError);
  expect(() => self.fd.backend.ioasNoiommuGetPa(-1, 0, 0n, P)).toThrow(RangeError);
  expect(() => self.fd.backend.ioasNoiommuGetPa(self.ioas.id, 2 ** 32, 0n, P)).toThrow(RangeError);
  expect(() => self.fd.backend.ioasNoiommuGetPa(self.ioas.id, 0, 0n, P, -1)).toThrow(RangeError);
  expect(() => setCapSysRawio(1 as unknown as boolean)).toThrow(TypeError);
  // A destroyed IOAS, a closed iommufd: refused before any syscall.
  self.ioas.destroy();
  expect(() => self.ioas.noiommuGetPa(0, PAGE_SIZE)).toThrow(ClosedError);
  const other = self.fd.allocIoas();
  self.fd.close();
  expect(() => other.noiommuGetPa(0, PAGE_SIZE)).toThrow(ClosedError);
});

describe('7.3 NOIOMMU_GET_PA', () => {
  beforeEach((ctx) => {
    requires(ctx, OP);
  });

  test("the kernel's errnos, in the kernel's order", () => {
    const bad = self.ioas.id + 100;
    // CAP_SYS_RAWIO first: EPERM whatever else is wrong.
    setCapSysRawio(false);
    try {
      const e = expectErrno('EPERM', () => self.fd.backend.ioasNoiommuGetPa(bad, 1, U64_MAX, 0n, 1), OP);
      expect(e).toMatchObject({ name: 'IommufdError', errno: 1, syscall: 'ioctl', op: OP });
      expectErrno('EPERM', () => self.ioas.noiommuGetPa(0, PAGE_SIZE), OP);
      // The capability probe has no side effect and still finds the ioctl.
      using again = openIommufd();
      expect(again.capabilities().ioctls[OP]).toBe(true);
    } finally {
      setCapSysRawio(true);
    }
    // Then flags or __reserved (EOPNOTSUPP), before the length.
    expectErrno('EOPNOTSUPP', () => self.fd.backend.ioasNoiommuGetPa(bad, 1, U64_MAX, 0n), OP);
    expectErrno('EOPNOTSUPP', () => self.fd.backend.ioasNoiommuGetPa(bad, 0x8000_0000, 0n, P), OP);
    expectErrno('EOPNOTSUPP', () => self.fd.backend.ioasNoiommuGetPa(bad, 0, U64_MAX, 0n, 1), OP);
    expectErrno('EOPNOTSUPP', () => self.fd.backend.ioasNoiommuGetPa(self.ioas.id, 0, 0n, P, 0xffff_ffff), OP);
    // A zero length (EINVAL), before the IOVA.
    expectErrno('EINVAL', () => self.fd.backend.ioasNoiommuGetPa(bad, 0, U64_MAX, 0n), OP);
    expectErrno('EINVAL', () => self.ioas.noiommuGetPa(0, 0), OP);
    // iova >= ULONG_MAX (EOVERFLOW), before the IOAS lookup.
    expectErrno('EOVERFLOW', () => self.fd.backend.ioasNoiommuGetPa(bad, 0, U64_MAX, P), OP);
    expectErrno('EOVERFLOW', () => self.ioas.noiommuGetPa(U64_MAX, 1), OP);
    // No such IOAS, or an object of another type (ENOENT).
    expectErrno('ENOENT', () => self.fd.backend.ioasNoiommuGetPa(bad, 0, 0n, P), OP);
    expectErrno('ENOENT', () => self.fd.backend.ioasNoiommuGetPa(0, 0, 0n, P), OP);
    const mock = self.fd.mockDomain(self.fd.allocIoas());
    expectErrno('ENOENT', () => self.fd.backend.ioasNoiommuGetPa(mock.hwptId, 0, 0n, P), OP);
    expectErrno('ENOENT', () => self.fd.backend.ioasNoiommuGetPa(mock.stdevId, 0, 0n, P), OP);
    // Nothing mapped at the IOVA (ENOENT).
    expectErrno('ENOENT', () => self.ioas.noiommuGetPa(0, PAGE_SIZE), OP);
    expectErrno('ENOENT', () => self.ioas.noiommuGetPa(U64_MAX - 1n, 1), OP);
  });

  test('a mapped IOVA without a no-IOMMU domain is EOPNOTSUPP; only the start must be mapped', () => {
    const iova = self.ioas.mapFixed(HIGH_IOVA, self.buffer);
    const last = iova + 4n * P - 1n;
    for (const at of [iova, iova + 1n, iova + 2n * P + 7n, last])
      for (const length of [1n, P, 100n * P, U64_MAX]) expectErrno('EOPNOTSUPP', () => self.ioas.noiommuGetPa(at, length), OP);
    // Numbers and bigints alike; the 64 bits arrive whole: one below or past the area is nothing.
    expectErrno('EOPNOTSUPP', () => self.ioas.noiommuGetPa(iova, PAGE_SIZE), OP);
    expectErrno('ENOENT', () => self.ioas.noiommuGetPa(iova - 1n, P), OP);
    expectErrno('ENOENT', () => self.ioas.noiommuGetPa(last + 1n, P), OP);
    expectErrno('ENOENT', () => self.ioas.noiommuGetPa(iova & 0xffff_ffffn, P), OP);
    // A mock domain's storage is no no-IOMMU domain either.
    const low = DmaBuffer.alloc(PAGE_SIZE);
    try {
      const space = self.fd.allocIoas();
      const mock = self.fd.mockDomain(space);
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
    const at = self.ioas.mapFile(file);
    expectErrno('EOPNOTSUPP', () => self.ioas.noiommuGetPa(at + P, P), OP);
    self.ioas.unmap(at, 2n * P);
    requires(ctx, 'DMABUF_GET', 'DMABUF_REVOKE');
    using dmabuf = self.fd.mockDmabuf(2 * PAGE_SIZE);
    const iova = self.ioas.mapFile(dmabuf);
    expectErrno('EOPNOTSUPP', () => self.ioas.noiommuGetPa(iova, P), OP);
    dmabuf.revoke(true);
    expectErrno('EINVAL', () => self.ioas.noiommuGetPa(iova + P, P), OP);
    // Revoked for good, even once the exporter takes it back.
    dmabuf.revoke(false);
    expectErrno('EINVAL', () => self.ioas.noiommuGetPa(iova, P), OP);
    expect(self.ioas.unmap(iova, 2n * P)).toBe(2n * P);
    expectErrno('ENOENT', () => self.ioas.noiommuGetPa(iova, P), OP);
  });

  test('failures leave nothing behind: the IOAS maps, unmaps and is destroyed as before', () => {
    const iova = self.ioas.mapFixed(HIGH_IOVA, self.buffer);
    for (let i = 0; i < 50; i++) {
      expectErrno('EOPNOTSUPP', () => self.ioas.noiommuGetPa(iova + BigInt(i) * 64n, P), OP);
      expectErrno('ENOENT', () => self.ioas.noiommuGetPa(BigInt(i) * P, P), OP);
      expectErrno('EOPNOTSUPP', () => self.fd.backend.ioasNoiommuGetPa(self.ioas.id, 1, iova, P), OP);
    }
    // No reference was taken on the IOAS or the pages.
    self.fd.checkRefs(self.buffer, 0);
    expect(self.ioas.unmapAll()).toBe(4n * P);
    self.ioas.destroy();
    expect(() => self.fd.destroy(self.ioas.id)).toThrow(IommufdError);
    expect(self.fd.allocIoas().id).toBe(self.ioas.id);
  });
});
