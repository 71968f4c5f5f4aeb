// DmaBuffer without the addon: a plain ArrayBuffer the simulator can map,
// counted by stats() and released by free() or GC.
import { expect, test, vi } from 'vitest';

vi.mock('../../lib/native/binding.js', () => ({
  addonAvailable: () => false,
  addon: () => {
    throw new Error('iommufd: the native addon is not built (mocked away)');
  },
}));

const { DmaBuffer, Iommufd, MOCK_APERTURE_START } = await import('../../lib/index.js');
const { gcUntil } = await import('../helpers.js');

test('fallback buffers map, count, detach on free, and are collected by GC', async () => {
  const before = DmaBuffer.stats();
  const buffer = DmaBuffer.alloc(3 * 4096 + 5);
  expect(buffer.length).toBe(3 * 4096 + 5);
  expect(DmaBuffer.stats()).toEqual({ liveBuffers: before.liveBuffers + 1, liveBytes: before.liveBytes + buffer.length });
  {
    using fd = Iommufd.open({ backend: 'auto' });
    expect(fd.backend.name).toBe('sim');
    const ioas = fd.allocIoas();
    buffer.bytes[100] = 42;
    ioas.mapFixed(MOCK_APERTURE_START, buffer, { length: 3 * 4096 });
    using access = fd.createAccess(ioas);
    expect(access.read(MOCK_APERTURE_START + 100n, 1)[0]).toBe(42);
    expect(() => buffer.free()).toThrow(/still mapped/);
  }
  const view = buffer.bytes;
  buffer.free();
  expect(view.byteLength).toBe(0);
  expect(DmaBuffer.stats()).toEqual(before);

  (() => {
    DmaBuffer.alloc(4096).bytes.fill(1);
  })();
  expect(DmaBuffer.stats().liveBuffers).toBe(before.liveBuffers + 1);
  expect(await gcUntil(() => DmaBuffer.stats().liveBuffers === before.liveBuffers)).toBe(true);
});
