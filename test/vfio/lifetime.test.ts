// A bound device keeps the iommufd context, and so its mappings, alive in the
// kernel after the iommufd is closed: their memory must stay alive in JS too.
import { describe, expect, test } from 'vitest';
import { DmaBuffer, EduDmaEngine, Iommufd } from '../../lib/index.js';
import { VfioDevice } from '../../lib/vfio/device.js';
import { fillPattern, gcUntil } from '../helpers.js';
import { eduCdev, missing } from './helpers.js';

const SRC = 0x100000n;
const DST = 0x200000n;

describe.skipIf(missing())('mapped memory outlives a closed iommufd while a device is bound', () => {
  test('the device still DMAs through the mappings; they are freed when the device closes', async () => {
    await gcUntil(() => false, 5); // let earlier tests' garbage buffers go first
    const before = DmaBuffer.stats().liveBuffers;
    const expected = new Uint8Array(1000);
    fillPattern(expected, 9);
    const fd = Iommufd.open({ backend: 'native' });
    const device = VfioDevice.open(eduCdev());
    device.bind(fd);
    const ioas = fd.allocIoas();
    device.attach(ioas);
    // Buffers reachable only through the IOAS's references (dstView keeps the
    // destination's memory alive for the comparison, nothing keeps the source's).
    let dstView: Uint8Array | undefined;
    (() => {
      const src = DmaBuffer.alloc(4096);
      src.bytes.set(expected);
      const dst = DmaBuffer.alloc(4096);
      dstView = dst.bytes;
      ioas.mapFixed(SRC, src);
      ioas.mapFixed(DST, dst);
    })();
    fd.close();

    // GC must not free them: the kernel still maps them for the device.
    expect(await gcUntil(() => DmaBuffer.stats().liveBuffers < before + 2, 10)).toBe(false);
    const edu = EduDmaEngine.open(device);
    await edu.copy(SRC, DST, expected.length);
    expect(Buffer.from(dstView!.subarray(0, expected.length)).equals(Buffer.from(expected))).toBe(true);
    edu.close();

    dstView = undefined;
    device.close(); // the kernel drops the context and its mappings now
    expect(await gcUntil(() => DmaBuffer.stats().liveBuffers <= before)).toBe(true);
  });
});
