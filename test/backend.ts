// Which backend the scenario tests run on: the vitest project sets
// IOMMUFD_TEST_BACKEND (`kernel` -> native inside the VM, `sim` -> simulator).
import { DEFAULT_SIM_KERNEL, Iommufd, type SimKernel } from '../lib/index.js';
import { versionOf } from './kernel-version.js';

export type TestBackend = 'native' | 'sim';

export const BACKEND: TestBackend = (process.env.IOMMUFD_TEST_BACKEND as TestBackend | undefined) ?? 'native';

/** The kernel the simulator models in this run: IOMMUFD_SIM_KERNEL (scripts/test.mjs runs each). */
export const SIM_KERNEL = (process.env.IOMMUFD_SIM_KERNEL as SimKernel | undefined) ?? DEFAULT_SIM_KERNEL;

export function openIommufd(): Iommufd {
  return BACKEND === 'sim' ? Iommufd.open({ backend: 'sim', kernel: SIM_KERNEL }) : Iommufd.open({ backend: 'native' });
}

/**
 * The kernel under test as "major.minor" ('6.12', '7.3'): the VM's running kernel on the
 * native backend, the modelled one on the simulator. For expectations that differ by
 * version as the driver does (the library itself probes features instead).
 */
export function kernelVersion(): string {
  return BACKEND === 'sim' ? SIM_KERNEL : versionOf(capabilities().kernel);
}

export { versionOf };

/** The value for the kernel under test: `byKernel({ '6.12': 1, '7.3': 9 })`. */
export function byKernel<T>(values: Record<SimKernel, T>): T {
  const v = kernelVersion();
  if (!Object.hasOwn(values, v)) throw new Error(`no expectation for kernel ${v}`);
  return values[v as SimKernel];
}

import { missingFeatures } from '../lib/backend/capabilities.js';
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
 * An unknown feature name is a TypeError, not a skip.
 * Inside the kernel project in CI a skip counts as a failure (scripts/run-vitest.mjs),
 * except one that starts "kernel lacks ": a feature the running kernel does not have.
 */
export function requires(ctx: { skip: (note?: string) => void }, ...features: string[]): void {
  const caps = capabilities();
  for (const feature of missingFeatures(caps, features)) {
    const reason = lacksReason(caps, feature);
    logSkip(reason);
    ctx.skip(reason);
  }
}

/**
 * Why a test skips for a missing feature. On the native backend it is the kernel's:
 * "kernel lacks X (6.12.118)", the one skip CI accepts there. On the simulator it is
 * the model's, which may lack what its kernel has (fail_nth).
 */
export function lacksReason(caps: Capabilities, feature: string): string {
  return caps.backend === 'native' ? `kernel lacks ${feature} (${caps.kernel})` : `${caps.backend} backend (${caps.kernel}) lacks ${feature}`;
}
