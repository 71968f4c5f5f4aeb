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
