// Skip reasons, collected for the end-of-run summary: scripts/run-vitest.mjs sets
// IOMMUFD_SKIP_LOG, prints the reasons and, in CI, accepts only "kernel lacks X".
import { appendFileSync } from 'node:fs';
import { expect } from 'vitest';

/** Record why the running test skips (call it right before ctx.skip(reason)). */
export function logSkip(reason: string): void {
  const log = process.env.IOMMUFD_SKIP_LOG;
  const test = expect.getState().currentTestName ?? '?';
  if (log) appendFileSync(log, `${JSON.stringify({ test, reason })}\n`);
}
