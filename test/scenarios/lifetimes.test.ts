// Object lifetimes: `using` (Symbol.dispose) releases each object once and
// tolerates one that is gone already, and a call on a closed or destroyed
// object is a ClosedError, refused before any syscall (the fd number or id may
// belong to something else by then), never the kernel's EBADF or ENOENT.
import { describe, expect, test } from 'vitest';
import { ClosedError, DmaBuffer, IommufdError, MOCK_APERTURE_START } from '../../lib/index.js';
import { PAGE_SIZE, expectErrno, patternedBuffer } from '../helpers.js';
import { openIommufd, requires } from '../backend.js';
import { scenarioFixture } from './fixture.js';

const BUFFER_SIZE = 4 * PAGE_SIZE;

const self = scenarioFixture({ ioas: false, extra: () => ({ buffer: patternedBuffer(BUFFER_SIZE) }), release: ({ buffer }) => buffer.free() });

function expectClosed(fn: () => unknown, message: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(ClosedError);
  expect(thrown).not.toBeInstanceOf(IommufdError);
  expect(thrown).toMatchObject({ name: 'ClosedError', code: 'ERR_IOMMUFD_CLOSED', message: expect.stringMatching(message) });
}

describe('using', () => {
  test('disposes HWPT, mock device and IOAS in reverse order, each destroyed in the kernel', (ctx) => {
    requires(ctx, 'MOCK_DOMAIN', 'IOMMU_HWPT_ALLOC');
    let ids: number[];
    {
      using ioas = self.fd.allocIoas();
      using mock = self.fd.mockDomain(ioas);
      using hwpt = self.fd.allocHwpt(mock, ioas);
      ioas.mapFixed(MOCK_APERTURE_START, self.buffer);
      ids = [hwpt.id, mock.stdevId, ioas.id];
    }
    for (const id of ids) expectErrno('ENOENT', () => self.fd.destroy(id), 'IOMMU_DESTROY');
    expect(self.buffer.mappings).toBe(0);
  });

  test('an object destroyed already, or whose iommufd is closed, disposes quietly', (ctx) => {
    requires(ctx, 'MOCK_DOMAIN', 'IOMMU_HWPT_ALLOC');
    {
      using ioas = self.fd.allocIoas();
      using mock = self.fd.mockDomain(ioas);
      using hwpt = self.fd.allocHwpt(mock, ioas);
      hwpt.destroy();
      mock.destroy();
      ioas.destroy();
    }
    using other = openIommufd();
    {
      using ioas = other.allocIoas();
      using mock = other.mockDomain(ioas);
      using hwpt = other.allocHwpt(mock, ioas);
      other.close();
      expect([ioas.destroyed, mock.destroyed, hwpt.destroyed]).toEqual([true, true, true]);
    }
  });

  test('a refusal is not swallowed: disposing an IOAS a device still uses is EBUSY', (ctx) => {
    requires(ctx, 'MOCK_DOMAIN');
    const ioas = self.fd.allocIoas();
    const mock = self.fd.mockDomain(ioas);
    expectErrno('EBUSY', () => ioas[Symbol.dispose](), 'IOMMU_DESTROY');
    expect(ioas.destroyed).toBe(false);
    mock.destroy();
    ioas[Symbol.dispose]();
    expect(ioas.destroyed).toBe(true);
  });

  describe('pinned pages', () => {
    test('are unpinned at the end of the scope', (ctx) => {
      requires(ctx, 'CREATE_ACCESS', 'ACCESS_PAGES', 'DESTROY_ACCESS_PAGES', 'MD_CHECK_REFS');
      const ioas = self.fd.allocIoas();
      const iova = ioas.mapFixed(MOCK_APERTURE_START, self.buffer);
      using access = self.fd.createAccess(ioas, { needsPinPages: true });
      {
        using pinned = access.pinPages(iova, BUFFER_SIZE);
        self.fd.checkRefs(self.buffer, 1);
        expect(pinned.length).toBe(BUFFER_SIZE);
      }
      self.fd.checkRefs(self.buffer, 0);
    });

    test('dropped by the kernel (unmap callback), unpinned, or under a closed access: disposed quietly', (ctx) => {
      requires(ctx, 'CREATE_ACCESS', 'ACCESS_PAGES', 'DESTROY_ACCESS_PAGES', 'MD_CHECK_REFS');
      const ioas = self.fd.allocIoas();
      const iova = ioas.mapFixed(MOCK_APERTURE_START, self.buffer);
      using access = self.fd.createAccess(ioas, { needsPinPages: true });
      {
        using unpinned = access.pinPages(iova, PAGE_SIZE);
        unpinned.unpin();
      }
      {
        using closedWithAccess = self.fd.createAccess(ioas, { needsPinPages: true });
        using pinned = closedWithAccess.pinPages(iova, PAGE_SIZE);
        self.fd.checkRefs(self.buffer, 1, { length: PAGE_SIZE });
        closedWithAccess.close(); // the kernel unpins everything of a closed access
        expect(pinned.length).toBe(PAGE_SIZE);
      }
      self.fd.checkRefs(self.buffer, 0);
      {
        using dropped = access.pinPages(iova, BUFFER_SIZE);
        ioas.unmap(iova, BUFFER_SIZE); // the mock's unmap callback drops the pin: ENOENT for it now
        self.fd.checkRefs(self.buffer, 0);
        expectErrno('ENOENT', () => dropped.unpin(), 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES');
      }
    });
  });
});

describe('a call on a closed or destroyed object is a ClosedError', () => {
  test('the iommufd, and the IOAS and access it owned', (ctx) => {
    requires(ctx, 'CREATE_ACCESS', 'ACCESS_RW');
    const ioas = self.fd.allocIoas();
    const access = self.fd.createAccess(ioas);
    self.fd.close();
    expectClosed(() => self.fd.allocIoas(), /iommufd is closed/);
    expectClosed(() => ioas.iovaRanges(), /IOAS \d+ has been destroyed or its iommufd closed/);
    expectClosed(() => access.read(MOCK_APERTURE_START, 1), /access fd \d+ is closed/);
  });

  test('a destroyed IOAS, HWPT and mock device', (ctx) => {
    requires(ctx, 'MOCK_DOMAIN', 'IOMMU_HWPT_ALLOC');
    const ioas = self.fd.allocIoas();
    const mock = self.fd.mockDomain(ioas);
    const hwpt = self.fd.allocHwpt(mock, ioas);
    hwpt.destroy();
    // The id may name another object by the next call: it must not reach the kernel.
    expectClosed(() => hwpt.checkMap(MOCK_APERTURE_START, self.buffer), /HWPT \d+ has been destroyed/);
    expectClosed(() => hwpt.destroy(), /HWPT \d+ has been destroyed/);
    mock.destroy();
    expectClosed(() => mock.checkMap(MOCK_APERTURE_START, self.buffer), /mock device \d+ has been destroyed/);
    expectClosed(() => mock.hwpt, /mock device \d+ has been destroyed/);
    ioas.destroy();
    expectClosed(() => ioas.destroy(), /IOAS \d+ has been destroyed/);
  });

  test('an HWPT and a mock device whose iommufd is closed', (ctx) => {
    requires(ctx, 'MOCK_DOMAIN', 'IOMMU_HWPT_ALLOC');
    const ioas = self.fd.allocIoas();
    const mock = self.fd.mockDomain(ioas);
    const hwpt = self.fd.allocHwpt(mock, ioas);
    const auto = mock.hwpt;
    self.fd.close();
    expectClosed(() => hwpt.checkMap(MOCK_APERTURE_START, self.buffer), /HWPT \d+ has been destroyed or its iommufd closed/);
    expectClosed(() => auto.checkMap(MOCK_APERTURE_START, self.buffer), /HWPT \d+ has been destroyed or its iommufd closed/);
    expectClosed(() => mock.replace(ioas), /mock device \d+ has been destroyed or its iommufd closed/);
  });

  test('unpinned pages', (ctx) => {
    requires(ctx, 'CREATE_ACCESS', 'ACCESS_PAGES', 'DESTROY_ACCESS_PAGES');
    const ioas = self.fd.allocIoas();
    const iova = ioas.mapFixed(MOCK_APERTURE_START, self.buffer);
    using access = self.fd.createAccess(ioas, { needsPinPages: true });
    const pinned = access.pinPages(iova, PAGE_SIZE);
    pinned.unpin();
    expectClosed(() => pinned.unpin(), /pinned pages \d+ have been unpinned/);
    const underClosed = access.pinPages(iova, PAGE_SIZE);
    access.close();
    expectClosed(() => underClosed.unpin(), /access fd \d+ is closed/);
  });

  test('a fault queue', (ctx) => {
    requires(ctx, 'IOMMU_FAULT_QUEUE_ALLOC');
    const queue = self.fd.allocFaultQueue();
    queue.close();
    expectClosed(() => queue.read(), /fault queue fd \d+ is closed/);
  });

  test('the VFIO compat ioctls of a closed iommufd', (ctx) => {
    requires(ctx, 'VFIO_GET_API_VERSION');
    const vfio = self.fd.vfio;
    expect(vfio.apiVersion()).toBe(0);
    self.fd.close();
    expectClosed(() => vfio.apiVersion(), /VFIO compat ioctls is closed/);
  });

  test('a freed DmaBuffer', () => {
    const freed = DmaBuffer.alloc(PAGE_SIZE);
    freed.free();
    expectClosed(() => freed.bytes, /DmaBuffer has been freed/);
  });
});
