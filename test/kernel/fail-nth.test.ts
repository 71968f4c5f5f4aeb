// Fault injection on the real kernel: debugfs set-up and arming a batch. The
// sweeps themselves are the ported iommufd_fail_nth.c (fail-nth-selftest.test.ts).
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { Iommufd, setupFailslab } from '../../lib/index.js';

test('setupFailslab lets every allocation be failed, as the kernel harness does', () => {
  expect(setupFailslab()).toBe(true);
  expect(readFileSync('/sys/kernel/debug/failslab/ignore-gfp-wait', 'utf8').trim()).toBe('N');
  expect(readFileSync('/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait', 'utf8').trim()).toBe('N');
  expect(readFileSync('/sys/kernel/debug/failslab/verbose', 'utf8').trim()).toBe('0');
  expect(setupFailslab('/nonexistent')).toBe(false);
});

test('an armed injection that never fires is reported as not injected', () => {
  using fd = Iommufd.open({ backend: 'native' });
  const result = fd.batch((b) => b.raw('ioasAlloc'), { failNth: 1000 });
  expect(result.error).toBeNull();
  expect(result.injected).toBe(false);
  expect(typeof result.results[0]).toBe('number');
});

test('a worker thread arms its own fail-nth, not the thread that armed one first', async () => {
  // The main thread opens its /proc/thread-self/fail-nth first.
  using fd = Iommufd.open({ backend: 'native' });
  expect(fd.batch((b) => b.raw('ioasAlloc'), { failNth: 1000 }).injected).toBe(false);
  const { Worker } = await import('node:worker_threads');
  const dist = new URL('../../dist/index.js', import.meta.url).href;
  // The first allocation of IOMMU_IOAS_ALLOC fails only if the worker's own thread is armed.
  const code = `
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(dist)}).then(({ Iommufd }) => {
      const fd = Iommufd.open({ backend: 'native' });
      const run = fd.batch((b) => b.raw('ioasAlloc'), { failNth: 1 });
      parentPort.postMessage({ injected: run.injected, code: run.error && run.error.code });
      fd.close();
    });`;
  const worker = new Worker(code, { eval: true });
  const reply = await new Promise<{ injected: boolean; code: string | null }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  expect(reply).toEqual({ injected: true, code: 'ENOMEM' });
  // And the main thread was never armed by it: its own calls still succeed.
  expect(fd.allocIoas().id).toBeGreaterThan(0);
});
