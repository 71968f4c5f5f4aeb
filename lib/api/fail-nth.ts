// Fault-injection helpers in the manner of the kernel's iommufd_fail_nth.c.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BatchResult } from './batch.js';

const DEBUGFS = '/sys/kernel/debug';

/**
 * Let failslab and fail_page_alloc fail any allocation (ignore-gfp-wait=N) and
 * quiet every fail* injector's log, as the kernel harness does. Needs root and
 * debugfs; returns false when the injectors are not there.
 */
export function setupFailslab(debugfs = DEBUGFS): boolean {
  try {
    writeFileSync(join(debugfs, 'failslab/ignore-gfp-wait'), 'N');
  } catch {
    return false;
  }
  for (const file of ['fail_page_alloc/ignore-gfp-wait', 'fail_page_alloc/ignore-gfp-highmem']) {
    try {
      writeFileSync(join(debugfs, file), 'N');
    } catch {
      // fail_page_alloc is optional
    }
  }
  for (const entry of readdirSync(debugfs)) {
    if (!entry.startsWith('fail')) continue;
    try {
      writeFileSync(join(debugfs, entry, 'verbose'), '0');
    } catch {
      // not every fail* entry has a verbose knob
    }
  }
  return true;
}

export interface SweepResult {
  /** How many runs it took, the last (clean) one included. */
  iterations: number;
  /** The error of every run in which the injected failure fired, in order. */
  failures: Error[];
}

/**
 * Run `body(nth)` for nth = 1, 2, … with the nth fault-injectable call failing,
 * until a run completes without the injection firing. `body` runs one batch
 * with that failNth and returns its result; it must clean up whatever the run
 * created, so the next iteration starts from the same state.
 */
export function failNthSweep(body: (nth: number) => BatchResult, maxIterations = 400): SweepResult {
  const failures: Error[] = [];
  for (let nth = 1; nth <= maxIterations; nth++) {
    const result = body(nth);
    if (!result.injected) {
      if (result.error) throw result.error; // a failure that was not injected is a real one
      return { iterations: nth, failures };
    }
    if (result.error) failures.push(result.error);
  }
  throw new Error(`fail-nth sweep did not finish in ${maxIterations} iterations`);
}
