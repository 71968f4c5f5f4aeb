// The validation battery (what `iommufd validate` will run on real hardware)
// against the emulated VT-d and the edu device: every check must pass, none skip.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseKtap } from '../../lib/cli/ktap.js';
import { type CheckResult, runValidation } from '../../lib/vfio/hw-validation.js';
import { DmaBuffer } from '../../lib/index.js';
import { eduCdev, missing } from './helpers.js';

describe.skipIf(missing())('runValidation on the edu device', () => {
  test('every check passes, with real DMA, and nothing is left behind', async () => {
    const liveBefore = DmaBuffer.stats().liveBuffers;
    const seen: CheckResult[] = [];
    const report = await runValidation(eduCdev(), { onCheck: (c) => seen.push(c) });
    const failures = report.checks.filter((c) => c.status !== 'pass').map((c) => `${c.id}: ${c.status} ${c.detail ?? ''}`);
    expect(failures).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.dmaEngine).toBe('edu');
    expect(report.pciIds).toEqual({ vendor: 0x1234, device: 0x11e8 });
    expect(report.hwInfo?.type).toBe('intel-vtd');
    expect(report.checks.map((c) => c.id)).toEqual([
      'open',
      'bind',
      'device-info',
      'hw-info',
      'attach-ioas',
      'iova-ranges',
      'map-unmap',
      'hwpt-alloc',
      'hwpt-dirty-tracking',
      'hwpt-nest-parent',
      'detach',
      'dma-copy',
      'dma-huge-pages',
      'dma-read-only',
      'dma-unmapped',
      'dma-replace',
      'close-cleanup',
    ]);
    expect(seen).toEqual(report.checks);
    expect(report.passed).toBe(report.checks.length);
    expect(report.checks.find((c) => c.id === 'hwpt-dirty-tracking')?.detail).toMatch(/not supported/);
    // Every buffer it made is freed (GC may also free earlier tests' garbage meanwhile).
    expect(DmaBuffer.stats().liveBuffers).toBeLessThanOrEqual(liveBefore);
    // The device is free again: a second run passes too (no leaked bind).
    const again = await runValidation(eduCdev(), { dma: false });
    expect(again.failed).toBe(0);
    expect(again.checks.filter((c) => c.status === 'skip').map((c) => c.id)).toEqual([
      'dma-copy',
      'dma-huge-pages',
      'dma-read-only',
      'dma-unmapped',
      'dma-replace',
    ]);
  });

  test('a device path that is not there skips the whole battery, saying why (kselftest: no hardware is a skip)', async () => {
    const report = await runValidation('/dev/vfio/devices/vfio999');
    expect(report).toMatchObject({ ok: false, checks: [], failed: 0 });
    expect(report.skipReason).toMatch(/^open failed: ENOENT .*\/dev\/vfio\/devices\/vfio999 does not exist: bind the device to vfio-pci/);
  });
});

describe.skipIf(missing())('iommufd validate (the command)', () => {
  const bin = join(import.meta.dirname, '..', '..', 'bin', 'iommufd.js');

  test('prints KTAP with every check passing and exits 0', () => {
    const run = spawnSync(process.execPath, [bin, 'validate', '--device', eduCdev(), '--ktap'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const parsed = parseKtap(run.stdout);
    expect(parsed.errors).toEqual([]);
    const tests = parsed.document!.tests;
    expect(tests.length).toBe(17);
    expect(tests.filter((t) => !t.ok || t.directive).map((t) => t.description)).toEqual([]);
    expect(tests.some((t) => t.description.startsWith('dma-read-only: '))).toBe(true);
    expect(parsed.document!.totals).toMatchObject({ pass: 17, fail: 0 });
  });

  test('a missing device is a KTAP skip (exit 4); no --device is usage (exit 2)', () => {
    const run = spawnSync(process.execPath, [bin, 'validate', '--device', '/dev/vfio/devices/vfio999', '--ktap'], { encoding: 'utf8' });
    expect(run.status).toBe(4);
    expect(run.stdout).toMatch(/^1\.\.0 # SKIP open failed: ENOENT .*vfio999 does not exist/m);
    expect(run.stdout).not.toMatch(/^not ok/m);
    const usage = spawnSync(process.execPath, [bin, 'validate'], { encoding: 'utf8' });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/which device\?/);
  });
});
