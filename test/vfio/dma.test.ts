// Real device DMA through iommufd mappings: the edu device copies memory
// (RAM -> its buffer -> RAM) through the emulated VT-d, so every byte it moves
// went through the translation our IOAS set up. Compared byte for byte.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { DmaBuffer } from '../../lib/index.js';
import { EDU_MAX_TRANSFER, type EduDmaEngine } from '../../lib/vfio/dma-engine/index.js';
import { expectBytes, fillPattern } from '../helpers.js';
import { KernelLog, type Rig, eventually, missing, openEdu, openRig } from './helpers.js';

const PAGE = 4096;
const MiB = 1024 * 1024;
// Well below the edu's 28-bit DMA mask, away from IOVA 0.
const SRC = 0x1000000n;
const DST = 0x2000000n;

describe.skipIf(missing())('device DMA through iommufd mappings (edu behind emulated VT-d)', () => {
  let rig: Rig;
  let edu: EduDmaEngine;
  const log = new KernelLog();

  beforeAll(() => {
    rig = openRig();
    edu = openEdu(rig);
  });
  afterAll(() => {
    edu?.close();
    rig?.[Symbol.dispose]();
  });
  beforeEach(() => {
    rig.ioas.unmapAll();
    if (rig.device.attachedPtId === undefined) rig.device.attach(rig.ioas);
  });

  /** DMAR fault records the guest kernel logged since mark() for this IOVA's page. */
  const dmarFaultFor = async (iova: bigint, kind: 'Read' | 'Write'): Promise<string | undefined> => {
    const page = (iova & ~0xfffn).toString(16);
    const re = new RegExp(`DMA ${kind}.*fault addr 0x${page}\\b`);
    let found: string | undefined;
    await eventually(() => (found = log.since().find((l) => re.test(l))) !== undefined);
    return found;
  };

  test('copies of many sizes and alignments match byte for byte', async () => {
    const src = DmaBuffer.alloc(16 * PAGE);
    const dst = DmaBuffer.alloc(16 * PAGE);
    rig.ioas.mapFixed(SRC, src);
    rig.ioas.mapFixed(DST, dst);
    const cases: [size: number, srcOffset: number, dstOffset: number][] = [
      [1, 0, 0],
      [3, PAGE - 1, PAGE - 2], // both sides cross a page boundary
      [64, 64, 128],
      [1000, 5, PAGE * 3 - 7],
      [4000, 0, 0],
      [EDU_MAX_TRANSFER, 1, PAGE + 1], // the largest single transfer
      [PAGE, 0, 0], // two transfers
      [3 * PAGE + 123, 17, 2 * PAGE - 9], // four transfers across five pages
    ];
    for (const [size, so, dof] of cases) {
      fillPattern(src.bytes, size + so);
      dst.bytes.fill(0xee);
      const result = await edu.copy(SRC + BigInt(so), DST + BigInt(dof), size);
      expect(result.transfers).toBe(2 * Math.ceil(size / EDU_MAX_TRANSFER));
      expectBytes(dst.bytes.subarray(dof, dof + size), src.bytes.subarray(so, so + size));
      // Nothing outside the destination window changed.
      expect(dst.bytes.subarray(0, dof).every((b) => b === 0xee)).toBe(true);
      expect(dst.bytes.subarray(dof + size).every((b) => b === 0xee)).toBe(true);
    }
    rig.ioas.unmapAll();
  });

  test('mappings made before the attach are translated too (domain fill path)', async () => {
    const { fd, device } = rig;
    const ioas = fd.allocIoas();
    const src = DmaBuffer.alloc(PAGE);
    const dst = DmaBuffer.alloc(PAGE);
    fillPattern(src.bytes, 99);
    ioas.mapFixed(SRC, src);
    ioas.mapFixed(DST, dst);
    device.attach(ioas); // replace onto an IOAS whose areas already exist
    await edu.copy(SRC, DST, 2000);
    expectBytes(dst.bytes.subarray(0, 2000), src.bytes.subarray(0, 2000));
    device.attach(rig.ioas);
    ioas.unmapAll();
    ioas.destroy();
  });

  test('a transparent-huge-page DmaBuffer mapped at 2 MiB-aligned IOVAs', async () => {
    const anonHuge = () => Number(/AnonHugePages:\s+(\d+) kB/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1] ?? 0);
    const before = anonHuge();
    const huge = DmaBuffer.alloc(4 * MiB, { hugePages: 'transparent' });
    huge.bytes.fill(0x11); // fault it in (as huge pages, madvise'd)
    expect(anonHuge() - before, 'the buffer is backed by transparent huge pages').toBeGreaterThanOrEqual(2048);
    const src = DmaBuffer.alloc(PAGE);
    const hugeIova = 0x4000000n; // 64 MiB: 2 MiB aligned
    rig.ioas.mapFixed(hugeIova, huge);
    rig.ioas.mapFixed(SRC, src);
    for (const offset of [0, 2 * MiB - 100, 4 * MiB - 3000]) {
      fillPattern(src.bytes, offset + 3);
      await edu.copy(SRC, hugeIova + BigInt(offset), 3000);
      expectBytes(huge.bytes.subarray(offset, offset + 3000), src.bytes.subarray(0, 3000));
    }
    // And out of it: device reads from the huge mapping.
    const dst = DmaBuffer.alloc(PAGE);
    rig.ioas.mapFixed(DST, dst);
    await edu.copy(hugeIova + BigInt(2 * MiB - 100), DST, 3000);
    expectBytes(dst.bytes.subarray(0, 3000), huge.bytes.subarray(2 * MiB - 100, 2 * MiB + 2900));
    rig.ioas.unmapAll();
  });

  test('a read-only mapping: the device reads it, its writes are refused and faulted', async () => {
    const src = DmaBuffer.alloc(PAGE);
    const dst = DmaBuffer.alloc(PAGE);
    const out = DmaBuffer.alloc(PAGE);
    fillPattern(src.bytes, 5);
    rig.ioas.mapFixed(SRC, src, { writeable: false });
    rig.ioas.mapFixed(DST, dst, { writeable: false });
    rig.ioas.mapFixed(DST + 0x100000n, out);

    await edu.copy(SRC, DST + 0x100000n, 1024); // reading a read-only mapping works
    expectBytes(out.bytes.subarray(0, 1024), src.bytes.subarray(0, 1024));

    dst.bytes.fill(0x5a);
    log.mark();
    await edu.copy(SRC, DST, 1024);
    expect(dst.bytes.every((b) => b === 0x5a), 'the device wrote through a read-only mapping').toBe(true);
    expect(await dmarFaultFor(DST, 'Write'), 'the IOMMU reported the write fault').toMatch(/Write access is not set/);
    rig.ioas.unmapAll();
  });

  test('after unmap, DMA is blocked and the buffer stays untouched', async () => {
    const src = DmaBuffer.alloc(PAGE);
    const dst = DmaBuffer.alloc(PAGE);
    rig.ioas.mapFixed(SRC, src);
    rig.ioas.mapFixed(DST, dst);
    fillPattern(src.bytes, 1);
    await edu.copy(SRC, DST, 512);
    expectBytes(dst.bytes.subarray(0, 512), src.bytes.subarray(0, 512));

    // Destination gone: the device's write must not land.
    expect(rig.ioas.unmap(DST, PAGE)).toBe(BigInt(PAGE));
    dst.bytes.fill(0xa5);
    fillPattern(src.bytes, 2);
    log.mark();
    await edu.copy(SRC, DST, 512);
    expect(dst.bytes.every((b) => b === 0xa5), 'DMA reached memory after unmap').toBe(true);
    expect(await dmarFaultFor(DST, 'Write'), 'the IOMMU reported the blocked write').toBeDefined();

    // Source gone: the device must not read it.
    rig.ioas.mapFixed(DST, dst);
    rig.ioas.unmap(SRC, PAGE);
    fillPattern(src.bytes, 3);
    dst.bytes.fill(0);
    log.mark();
    await edu.copy(SRC, DST, 512);
    expect(Buffer.from(dst.bytes.subarray(0, 512)).equals(Buffer.from(src.bytes.subarray(0, 512))), 'DMA read memory after unmap').toBe(false);
    expect(await dmarFaultFor(SRC, 'Read'), 'the IOMMU reported the blocked read').toBeDefined();
    rig.ioas.unmapAll();
  });

  test('replace switches the translation the device uses', async () => {
    const { fd, device } = rig;
    const other = fd.allocIoas();
    const a = DmaBuffer.alloc(PAGE);
    const b = DmaBuffer.alloc(PAGE);
    const out = DmaBuffer.alloc(PAGE);
    fillPattern(a.bytes, 10);
    fillPattern(b.bytes, 20);
    rig.ioas.mapFixed(SRC, a);
    rig.ioas.mapFixed(DST, out);
    other.mapFixed(SRC, b); // same IOVA, other memory
    other.mapFixed(DST, out);

    await edu.copy(SRC, DST, 700);
    expectBytes(out.bytes.subarray(0, 700), a.bytes.subarray(0, 700));
    device.attach(other);
    await edu.copy(SRC, DST, 700);
    expectBytes(out.bytes.subarray(0, 700), b.bytes.subarray(0, 700));
    device.attach(rig.ioas);
    await edu.copy(SRC, DST, 700);
    expectBytes(out.bytes.subarray(0, 700), a.bytes.subarray(0, 700));
    other.unmapAll();
    other.destroy();
    rig.ioas.unmapAll();
  });

  test('a detached device is blocked from all DMA', async () => {
    const src = DmaBuffer.alloc(PAGE);
    const dst = DmaBuffer.alloc(PAGE);
    fillPattern(src.bytes, 30);
    rig.ioas.mapFixed(SRC, src);
    rig.ioas.mapFixed(DST, dst);
    rig.device.detach();
    dst.bytes.fill(0x77);
    await edu.copy(SRC, DST, 256);
    expect(dst.bytes.every((b) => b === 0x77), 'a detached device reached memory').toBe(true);
    rig.device.attach(rig.ioas);
    await edu.copy(SRC, DST, 256);
    expectBytes(dst.bytes.subarray(0, 256), src.bytes.subarray(0, 256));
    rig.ioas.unmapAll();
  });

  test('without bus mastering the device cannot DMA (and the IOMMU sees nothing)', async () => {
    const src = DmaBuffer.alloc(PAGE);
    const dst = DmaBuffer.alloc(PAGE);
    fillPattern(src.bytes, 40);
    rig.ioas.mapFixed(SRC, src);
    rig.ioas.mapFixed(DST, dst);
    rig.device.setBusMaster(false);
    try {
      dst.bytes.fill(0x33);
      log.mark();
      await edu.copy(SRC, DST, 256);
      expect(dst.bytes.every((b) => b === 0x33)).toBe(true);
      // The device never issued the requests, so there is nothing to fault.
      await new Promise((r) => setTimeout(r, 300));
      expect(log.since().filter((l) => /DMAR: \[DMA/.test(l))).toEqual([]);
    } finally {
      rig.device.setBusMaster(true);
    }
    await edu.copy(SRC, DST, 256);
    expectBytes(dst.bytes.subarray(0, 256), src.bytes.subarray(0, 256));
    rig.ioas.unmapAll();
  });

  test('the engine refuses what the edu cannot do before the device sees it', async () => {
    expect(() => edu.copy(1n << 28n, DST, 16)).toThrow(/28-bit DMA mask/);
    expect(() => edu.copy(SRC, (1n << 28n) - 8n, 16)).toThrow(/28-bit DMA mask/);
    expect(() => edu.copy(SRC, DST, 0)).toThrow(RangeError);
    // QEMU 7.2 aborts the whole VM on a transfer reaching the buffer's last byte.
    expect(() => edu.toDevice(SRC, 0, 4096)).toThrow(/end by byte 4095/);
    expect(() => edu.fromDevice(4000, DST, 96)).toThrow(/end by byte 4095/);
  });

  test('concurrent copies are serialised and all land', async () => {
    const src = DmaBuffer.alloc(4 * PAGE);
    const dst = DmaBuffer.alloc(4 * PAGE);
    fillPattern(src.bytes, 50);
    rig.ioas.mapFixed(SRC, src);
    rig.ioas.mapFixed(DST, dst);
    await Promise.all([0, 1, 2, 3].map((i) => edu.copy(SRC + BigInt(i * PAGE), DST + BigInt(i * PAGE), 1500)));
    for (let i = 0; i < 4; i++) expectBytes(dst.bytes.subarray(i * PAGE, i * PAGE + 1500), src.bytes.subarray(i * PAGE, i * PAGE + 1500));
    rig.ioas.unmapAll();
  });
});
