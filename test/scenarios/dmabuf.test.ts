// 7.3's mock dma-buf (IOMMU_TEST_OP_DMABUF_GET / DMABUF_REVOKE) mapped with
// IOMMU_IOAS_MAP_FILE. Bad input: the kernel's errno, the simulator agreeing; JS
// mistakes rejected before the ioctl. Lifetimes: the kernel holds a mapped
// dma-buf, so its descriptor may close first; it outlives the iommufd. 6.12
// lacks the ops (EOPNOTSUPP).
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeEach, describe, expect, test } from 'vitest';
import { ClosedError, MOCK_APERTURE_START, MockDmabuf } from '../../lib/index.js';
import { capabilities, kernelVersion, openIommufd, requires } from '../backend.js';
import { PAGE_SIZE, expectErrno } from '../helpers.js';
import { scenarioFixture } from './fixture.js';

/** A regular file: open, and no dma-buf. */
const REGULAR_FILE = fileURLToPath(new URL('../../package.json', import.meta.url));
/** PAGE_SIZE * 512: the largest buffer the mock exports. */
const MAX_DMABUF = 512 * PAGE_SIZE;
const BUF_SIZE = 4 * PAGE_SIZE;

const self = scenarioFixture({
  extra: () => ({ dmabufs: [] as MockDmabuf[] }),
  release: ({ dmabufs }) => dmabufs.forEach((dmabuf) => dmabuf[Symbol.dispose]()),
});

function mockDmabuf(length: number): MockDmabuf {
  const dmabuf = self.fd.mockDmabuf(length);
  self.dmabufs.push(dmabuf);
  return dmabuf;
}

test('capabilities report the dma-buf ops on 7.3; 6.12 answers them EOPNOTSUPP', () => {
  const caps = capabilities();
  const has = kernelVersion() !== '6.12';
  expect(caps.testOps.DMABUF_GET).toBe(has);
  expect(caps.testOps.DMABUF_REVOKE).toBe(has);
  if (!has) expectErrno('EOPNOTSUPP', () => self.fd.mockDmabuf(BUF_SIZE), 'IOMMU_TEST_OP_DMABUF_GET');
});

test('mockDmabuf(): JS mistakes are TypeErrors and RangeErrors, before the ioctl', () => {
  expect(() => self.fd.mockDmabuf('4096' as unknown as number)).toThrow(TypeError);
  expect(() => self.fd.mockDmabuf(4096n as unknown as number)).toThrow(TypeError);
  expect(() => self.fd.mockDmabuf(-PAGE_SIZE)).toThrow(RangeError);
  expect(() => self.fd.mockDmabuf(1.5)).toThrow(RangeError);
  // The uAPI's length is a __u32.
  expect(() => self.fd.mockDmabuf(2 ** 32)).toThrow(RangeError);
  self.fd.close();
  expect(() => self.fd.mockDmabuf(BUF_SIZE)).toThrow(ClosedError);
});

describe('7.3 mock dma-bufs', () => {
  beforeEach((ctx) => {
    requires(ctx, 'DMABUF_GET', 'DMABUF_REVOKE', 'IOMMU_IOAS_MAP_FILE');
  });

  test('JS mistakes are rejected before the ioctl', () => {
    const dmabuf = mockDmabuf(BUF_SIZE);
    expect(() => dmabuf.revoke('yes' as unknown as boolean)).toThrow(TypeError);
    // A default length needs an offset inside the buffer.
    expect(() => self.ioas.mapFile(dmabuf, { offset: BUF_SIZE + 1 })).toThrow(RangeError);
    expect(() => self.ioas.mapFile(dmabuf, { offset: -1 })).toThrow(RangeError);
    expect(() => self.ioas.mapFile(dmabuf, { length: 1n << 64n })).toThrow(RangeError);
    // Backend contract: the descriptor and the state.
    expect(() => self.fd.backend.dmabufRevoke(-1, true)).toThrow(RangeError);
    expect(() => self.fd.backend.dmabufRevoke(dmabuf.fd, 1 as unknown as boolean)).toThrow(TypeError);
    expect(() => self.fd.backend.dmabufGet(-1, 0)).toThrow(RangeError);
  });

  test("the mock's length rules: whole pages, 1 to 512 of them", () => {
    expectErrno('EINVAL', () => self.fd.mockDmabuf(0), 'IOMMU_TEST_OP_DMABUF_GET');
    expectErrno('EINVAL', () => self.fd.mockDmabuf(MAX_DMABUF + 1), 'IOMMU_TEST_OP_DMABUF_GET');
    expectErrno('EINVAL', () => self.fd.mockDmabuf(2 ** 32 - 1), 'IOMMU_TEST_OP_DMABUF_GET');
    expect(mockDmabuf(MAX_DMABUF).length).toBe(MAX_DMABUF);
    const small = mockDmabuf(1);
    expect(small.length).toBe(PAGE_SIZE);
    // The whole rounded-up page maps, and not a byte more (iopt_alloc_dmabuf_pages()).
    expect(typeof self.ioas.mapFile(small)).toBe('bigint');
    expectErrno('EINVAL', () => self.ioas.mapFile(small, { length: PAGE_SIZE + 1 }), 'IOMMU_IOAS_MAP_FILE');
    expectErrno('EINVAL', () => self.ioas.mapFile(small, { offset: PAGE_SIZE - 1, length: 2 }), 'IOMMU_IOAS_MAP_FILE');
  });

  test('revoking what is no dma-buf: EINVAL for an open file, EBADF for no file', () => {
    const regular = openSync(REGULAR_FILE, 'r');
    try {
      expectErrno('EINVAL', () => self.fd.backend.dmabufRevoke(regular, true), 'IOMMU_TEST_OP_DMABUF_REVOKE');
    } finally {
      closeSync(regular);
    }
    expectErrno('EBADF', () => self.fd.backend.dmabufRevoke(regular, true), 'IOMMU_TEST_OP_DMABUF_REVOKE');
  });

  test('a revoked buffer maps ENODEV until un-revoked; its mappings stay until unmapped', () => {
    const dmabuf = mockDmabuf(BUF_SIZE);
    // Inside the mock's aperture, where the domains attached below can map.
    const iova = self.ioas.mapFile(dmabuf, { iova: MOCK_APERTURE_START });
    dmabuf.revoke();
    expectErrno('ENODEV', () => self.ioas.mapFile(dmabuf), 'IOMMU_IOAS_MAP_FILE');
    // Revoking twice is no error; the length checks come before the exporter's.
    dmabuf.revoke(true);
    expectErrno('EINVAL', () => self.ioas.mapFile(dmabuf, { length: BUF_SIZE + 1 }), 'IOMMU_IOAS_MAP_FILE');
    // Domains attached now map nothing of the revoked area, and attach fine.
    self.fd.mockDomain(self.ioas);
    self.fd.allocHwpt(self.fd.mockDomain(self.ioas).idevId, self.ioas);
    dmabuf.revoke(false);
    const again = self.ioas.mapFile(dmabuf);
    expect(again).not.toBe(iova);
    self.ioas.unmap(again, BUF_SIZE);
    // The revoked mapping still holds its IOVA until unmapped.
    expectErrno('EEXIST', () => self.ioas.mapFile(dmabuf, { iova }), 'IOMMU_IOAS_MAP_FILE');
    expect(self.ioas.unmap(iova, BUF_SIZE)).toBe(BigInt(BUF_SIZE));
    expect(self.ioas.mapFile(dmabuf, { iova })).toBe(iova);
    // Un-revoking an unrevoked buffer still invalidates its mappings; new ones map.
    dmabuf.revoke(false);
    self.ioas.unmap(iova, BUF_SIZE);
    expect(self.ioas.mapFile(dmabuf, { iova })).toBe(iova);
  });

  test("a revoke unmaps the buffer from every domain; a domain attached later maps none of it (the mock's dirty bits show what is mapped)", (ctx) => {
    requires(ctx, 'IOMMU_HWPT_SET_DIRTY_TRACKING', 'IOMMU_HWPT_GET_DIRTY_BITMAP', 'DIRTY');
    const mock = self.fd.mockDomain(self.ioas);
    const first = self.fd.allocHwpt(mock, self.ioas, { dirtyTracking: true });
    first.setDirtyTracking(true);
    // Which pages of the buffer's 4 at `iova` a domain maps: the mock sets dirty
    // bits only where it has an entry.
    const mapped = (hwpt: typeof first, iova: bigint): bigint => {
      hwpt.markDirty(iova, BUF_SIZE, new Uint8Array([0x0f]), PAGE_SIZE);
      return hwpt.getDirtyBitmap(iova, BUF_SIZE, { pageSize: PAGE_SIZE })[0]!;
    };
    const dmabuf = mockDmabuf(BUF_SIZE);
    const a = self.ioas.mapFile(dmabuf, { iova: MOCK_APERTURE_START });
    expect(mapped(first, a)).toBe(0xfn);
    dmabuf.revoke(true);
    expect(mapped(first, a)).toBe(0n);
    dmabuf.revoke(false);
    const b = self.ioas.mapFile(dmabuf, { iova: a + BigInt(BUF_SIZE) });
    expect(mapped(first, b)).toBe(0xfn);
    expect(mapped(first, a)).toBe(0n); // revoked for good
    const later = self.fd.allocHwpt(mock, self.ioas, { dirtyTracking: true });
    later.setDirtyTracking(true);
    expect(mapped(later, a)).toBe(0n);
    expect(mapped(later, b)).toBe(0xfn);
    // Un-revoking invalidates the current mappings too.
    dmabuf.revoke(false);
    expect(mapped(first, b)).toBe(0n);
    expect(mapped(later, b)).toBe(0n);
  });

  test('a mapped dma-buf has no pages to pin or copy: accesses get EINVAL; CHANGE_PROCESS refuses it', () => {
    const dmabuf = mockDmabuf(BUF_SIZE);
    const iova = self.ioas.mapFile(dmabuf, { iova: MOCK_APERTURE_START });
    using access = self.fd.createAccess(self.ioas, { needsPinPages: true });
    expectErrno('EINVAL', () => access.pinPages(iova, PAGE_SIZE), 'IOMMU_TEST_OP_ACCESS_PAGES');
    expectErrno('EINVAL', () => access.rw(iova, new Uint8Array(16)), 'IOMMU_TEST_OP_ACCESS_RW');
    expectErrno('EINVAL', () => access.rw(iova, new Uint8Array(16), { write: true }), 'IOMMU_TEST_OP_ACCESS_RW');
    expectErrno('EINVAL', () => self.fd.changeProcess(), 'IOMMU_IOAS_CHANGE_PROCESS');
  });

  test('the kernel keeps a mapped dma-buf: its descriptor may close first', () => {
    const dmabuf = mockDmabuf(BUF_SIZE);
    const iova = self.ioas.mapFile(dmabuf, { iova: MOCK_APERTURE_START });
    dmabuf.close();
    expect(dmabuf.closed).toBe(true);
    expect(() => dmabuf.fd).toThrow(ClosedError);
    expect(() => dmabuf.revoke()).toThrow(ClosedError);
    expect(() => self.ioas.mapFile(dmabuf)).toThrow(ClosedError);
    expect(() => dmabuf.close()).toThrow(ClosedError);
    dmabuf[Symbol.dispose](); // disposing a closed one is no error
    // A domain attached now still fills from the buffer, and it unmaps whole.
    self.fd.mockDomain(self.ioas);
    expect(self.ioas.unmap(iova, BUF_SIZE)).toBe(BigInt(BUF_SIZE));
  });

  test('the dma-buf outlives its iommufd; revoke() then needs one and is a ClosedError', () => {
    using dmabuf = self.fd.mockDmabuf(BUF_SIZE);
    self.ioas.mapFile(dmabuf);
    self.fd.close();
    expect(() => dmabuf.revoke()).toThrow(ClosedError);
    // Another iommufd imports the same buffer, and revokes it.
    const other = openIommufd();
    try {
      const otherIoas = other.allocIoas();
      otherIoas.mapFile(dmabuf);
      other.backend.dmabufRevoke(dmabuf.fd, true);
      expectErrno('ENODEV', () => otherIoas.mapFile(dmabuf), 'IOMMU_IOAS_MAP_FILE');
    } finally {
      other.close();
    }
    expect(dmabuf.closed).toBe(false);
  });

  test('using closes the descriptor at the end of the scope, mapped or not', () => {
    let kept: MockDmabuf;
    {
      using dmabuf = self.fd.mockDmabuf(BUF_SIZE);
      kept = dmabuf;
      self.ioas.mapFile(dmabuf);
    }
    expect(kept.closed).toBe(true);
    self.ioas.destroy();
  });
});
