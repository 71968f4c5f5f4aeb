// Fault injection on the real kernel: debugfs set-up and the nth-failure sweep.
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { DmaBuffer, Iommufd, IommufdError, MOCK_APERTURE_START, failNthSweep, setupFailslab } from '../../lib/index.js';
import { PAGE_SIZE } from '../helpers.js';

test('setupFailslab lets every allocation be failed, as the kernel harness does', () => {
  expect(setupFailslab()).toBe(true);
  expect(readFileSync('/sys/kernel/debug/failslab/ignore-gfp-wait', 'utf8').trim()).toBe('N');
  expect(readFileSync('/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait', 'utf8').trim()).toBe('N');
  expect(readFileSync('/sys/kernel/debug/failslab/verbose', 'utf8').trim()).toBe('0');
  expect(setupFailslab('/nonexistent')).toBe(false);
});

test('failNthSweep fails each allocation of mock domain + map in turn, and nothing leaks', () => {
  setupFailslab();
  using buffer = DmaBuffer.alloc(32 * PAGE_SIZE);
  using checker = Iommufd.open({ backend: 'native' });
  const sweep = failNthSweep((nth) => {
    using fd = Iommufd.open({ backend: 'native' });
    const ioas = fd.allocIoas();
    const result = fd.batch((b) => b.raw('testMockDomain', ioas.id).mapFixed(ioas, MOCK_APERTURE_START, buffer), {
      failNth: nth,
    });
    return result; // closing fd tears down whatever the run created
  });
  // Every run after the fd closed must have released its pins.
  checker.checkRefs(buffer, 0);
  expect(buffer.mappings).toBe(0);
  expect(sweep.iterations).toBeGreaterThan(5);
  expect(sweep.failures.length).toBeGreaterThan(0);
  for (const failure of sweep.failures) {
    expect(failure).toBeInstanceOf(IommufdError);
    expect((failure as IommufdError).syscall).toBe('ioctl');
  }
});

test('an armed injection that never fires is reported as not injected', () => {
  using fd = Iommufd.open({ backend: 'native' });
  const result = fd.batch((b) => b.raw('ioasAlloc'), { failNth: 1000 });
  expect(result.error).toBeNull();
  expect(result.injected).toBe(false);
  expect(typeof result.results[0]).toBe('number');
});
