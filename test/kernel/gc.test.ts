// Memory the kernel maps must outlive every JS reference to it.
import { expect, test } from 'vitest';
import { DmaBuffer, Iommufd, MOCK_APERTURE_START } from '../../lib/index.js';
import { PAGE_SIZE, expectBytes, fillPattern, gcUntil } from '../helpers.js';

test('a mapped DmaBuffer survives GC without references and is freed after unmap', async () => {
  using fd = Iommufd.open({ backend: 'native' });
  const ioas = fd.allocIoas();
  const length = 64 * PAGE_SIZE;
  const expected = new Uint8Array(length);
  fillPattern(expected, 5);
  const before = DmaBuffer.stats().liveBuffers;

  (() => {
    const buffer = DmaBuffer.alloc(length);
    buffer.bytes.set(expected);
    ioas.mapFixed(MOCK_APERTURE_START, buffer);
  })();
  expect(DmaBuffer.stats().liveBuffers).toBe(before + 1);

  // No JS reference is left but the IOAS's: GC must not free the memory.
  expect(await gcUntil(() => DmaBuffer.stats().liveBuffers === before, 10)).toBe(false);
  expect(DmaBuffer.stats().liveBuffers).toBe(before + 1);

  // The kernel still reads the original bytes, through pages pinned now.
  using access = fd.createAccess(ioas, { needsPinPages: true });
  access.pinPages(MOCK_APERTURE_START, length).unpin();
  expectBytes(access.read(MOCK_APERTURE_START, length), expected);

  ioas.unmap(MOCK_APERTURE_START, length);
  expect(await gcUntil(() => DmaBuffer.stats().liveBuffers === before)).toBe(true);
});
