// Which backend the scenario tests run on: the vitest project sets
// IOMMUFD_TEST_BACKEND (`kernel` -> native inside the VM, `sim` -> simulator).
import { Iommufd } from '../lib/index.js';

export type TestBackend = 'native' | 'sim';

export const BACKEND: TestBackend = (process.env.IOMMUFD_TEST_BACKEND as TestBackend | undefined) ?? 'native';

export function openIommufd(): Iommufd {
  return Iommufd.open({ backend: BACKEND as 'native' });
}

import type { Capabilities } from '../lib/index.js';
import { logSkip } from './skip-log.js';

let probed: Capabilities | undefined;

/** What the backend under test supports, probed once per test file. */
export function capabilities(): Capabilities {
  if (!probed) {
    const fd = openIommufd();
    try {
      probed = fd.capabilities();
    } finally {
      fd.close();
    }
  }
  return probed;
}

/**
 * Skip the running test, with the reason, when the backend lacks a feature.
 * Inside the kernel project in CI a skip counts as a failure (scripts/run-vitest.mjs).
 */
export function requires(ctx: { skip: (note?: string) => void }, ...features: string[]): void {
  const caps = capabilities();
  for (const feature of features) {
    const ok = feature === 'failNth' ? caps.failNth : (caps.ioctls[feature] ?? caps.testOps[feature]);
    if (!ok) {
      const reason = `${caps.backend} backend (${caps.kernel}) lacks ${feature}`;
      logSkip(reason);
      ctx.skip(reason);
    }
  }
}
