// The fail-nth harness of tools/testing/selftests/iommu/iommufd_fail_nth.c on
// top of Iommufd.batch(): a scenario runs once clean (the C harness's
// iteration 0), then once per nth = 1, 2, … with the nth fault-injectable call
// of its armed part failing, until a run no longer reaches the nth call.
//
// The armed part is one native batch, so nothing but its ops can consume the
// injection. A batch cannot feed one op's result (an object id, an IOVA, an
// access fd) to a later op, so the scenario names its ops and each op may read
// the results of earlier ones: the clean run executes the ops one at a time and
// records their real results; the armed runs build the whole batch from those
// recorded values and check that every recorded value a later op used (an id
// out of a mock domain, not its whole result) came out the same again, so the
// ops ran with the right values. Other parts of a result may differ: e.g. an
// absorbed injected failure makes a mock device attach to a new automatic
// domain instead of sharing the existing one.
import { performance } from 'node:perf_hooks';
import { expect } from 'vitest';
import {
  type Batch,
  type BatchResult,
  type DmaBuffer,
  type ErrnoName,
  Iommufd,
  IommufdError,
  failNthSweep,
} from '../../lib/index.js';
import { capabilities } from '../backend.js';

/** Results of the ops that ran, by step name (`undefined` for ops that did not succeed). */
export type Results = Record<string, any>;
/** Adds exactly one op to the batch; `r` holds the results of the steps before it. */
export type Step = (b: Batch, r: Results) => void;

/**
 * What an injected failure may come out as: ENOMEM from a failed allocation,
 * EFAULT from a user copy whose page could not be faulted in, and ENOENT,
 * EINVAL, EFAULT or ENOMEM from the iommufd test build's own injection points
 * (iommufd_should_fail(): an object lookup, the pages and IOVA code).
 */
export const INJECTED_ERRNOS: readonly ErrnoName[] = ['ENOMEM', 'EFAULT', 'ENOENT', 'EINVAL'];

/**
 * With CONFIG_IOMMUFD_NOIOMMU (the rig's 7.3, which therefore has
 * IOAS_NOIOMMU_GET_PA), a mock device whose IOMMU probe an injected failure
 * stopped has no dev->iommu, and iommufd_device_is_noiommu() takes it for a
 * no-IOMMU device: the bind succeeds and the device fails later as one. Seen in
 * the sweeps: IOMMU_GET_HW_INFO of it is EOPNOTSUPP (iommufd_get_hw_info()), and
 * a second mock domain on an IOAS that already maps memory is EADDRINUSE.
 */
const NOIOMMU_MOCK_ERRNOS: readonly ErrnoName[] = ['EOPNOTSUPP', 'EADDRINUSE'];

function injectedErrnos(): readonly ErrnoName[] {
  return capabilities().ioctls.IOMMU_IOAS_NOIOMMU_GET_PA ? [...INJECTED_ERRNOS, ...NOIOMMU_MOCK_ERRNOS] : INJECTED_ERRNOS;
}

export interface ArmedScenario {
  /** The ops of the armed part, in order. */
  steps: Record<string, Step>;
  /**
   * After a run: destroy everything the scenario created, the prefix included
   * (`got` holds the results of the armed ops that succeeded, `ran(name)` says
   * whether that op succeeded). Every call must succeed: a failed run must
   * leave nothing that is busy or missing.
   */
  teardown(got: Results, ran: (step: string) => boolean): void;
}

export interface FailNthOptions {
  /** The last step fails with this errno in every run (a failure path the C test calls on purpose). */
  lastFailsWith?: ErrnoName;
  /** The C harness's limit on iterations. */
  maxIterations?: number;
}

export interface FailNthReport {
  /** nth values tried, the last (clean) one included. */
  iterations: number;
  /** Errors of the runs in which the injected failure made an op fail. */
  failures: IommufdError[];
  /** How often each errno came out of an injected failure, by the step that failed ("step ENOMEM" -> count). */
  codes: Record<string, number>;
  /** Wall time of the whole sweep, clean run included. */
  ms: number;
}

interface Run {
  result: BatchResult;
  got: Results;
  /** The step names, in order. */
  names: string[];
}

// Run the steps: one by one, unarmed, when there is no reference yet; else as
// one batch armed with nth, built from the reference results.
function runSteps(fd: Iommufd, steps: Record<string, Step>, nth: number, reference: Results | undefined): Run {
  const names = Object.keys(steps);
  const got: Results = {};
  if (reference === undefined) {
    const results: unknown[] = [];
    for (const [i, name] of names.entries()) {
      const one = fd.batch((b) => {
        steps[name]!(b, got);
        expect(b.length, `step ${name} adds one op`).toBe(1);
      });
      if (one.error) return { result: { results, errorIndex: i, error: one.error, injected: false }, got, names };
      got[name] = one.results[0];
      results.push(one.results[0]);
    }
    return { result: { results, errorIndex: -1, error: null, injected: false }, got, names };
  }
  const used: string[][] = [];
  const recorded = recordReads(reference, [], used);
  const result = fd.batch(
    (b) => {
      for (const name of names) {
        const before = b.length;
        steps[name]!(b, recorded);
        expect(b.length - before, `step ${name} adds one op`).toBe(1);
      }
    },
    { failNth: nth },
  );
  result.results.forEach((value, i) => {
    got[names[i]!] = value;
  });
  for (const path of used) {
    if (!Object.hasOwn(got, path[0]!)) continue;
    expect(valueAt(got, path), `${path.join('.')} in run nth=${nth} is what the clean run returned`).toEqual(valueAt(reference, path));
  }
  return { result, got, names };
}

// A view of `results` that notes the path of every leaf value read through it.
function recordReads(results: object, path: string[], used: string[][]): Results {
  return new Proxy(results, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof key !== 'string') return value;
      if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype)
        return recordReads(value, [...path, key], used);
      used.push([...path, key]);
      return value;
    },
  }) as Results;
}

function valueAt(results: Results, path: string[]): unknown {
  return path.reduce<unknown>((at, key) => (at as Results | undefined)?.[key], results);
}

// A failure the scenario expects of its last step is no failure.
function acceptLastFailure(result: BatchResult, count: number, code: ErrnoName | undefined): BatchResult {
  if (code === undefined || result.errorIndex !== count - 1) return result;
  if (!(result.error instanceof IommufdError) || result.error.code !== code) return result;
  return { ...result, errorIndex: -1, error: null };
}

/**
 * One run in the manner of the C harness: open the iommufd, run the scenario
 * (its unarmed prefix, then its armed steps), tear it down, and check that
 * nothing is left: the next object id is 1 again, no page of `buffer` is
 * pinned, and after close a fresh iommufd sees no pin either.
 */
function runOnce(
  buffer: DmaBuffer,
  body: (fd: Iommufd) => ArmedScenario,
  nth: number,
  reference: Results | undefined,
  options: FailNthOptions,
): Run {
  let outcome: Run;
  {
    using fd = Iommufd.open({ backend: 'native' });
    const scenario = body(fd);
    const run = runSteps(fd, scenario.steps, nth, reference);
    outcome = { ...run, result: acceptLastFailure(run.result, run.names.length, options.lastFailsWith) };
    scenario.teardown(run.got, (step) => Object.hasOwn(run.got, step));
    const probe = fd.allocIoas();
    expect(probe.id, `nth=${nth}: an object id is still taken after teardown`).toBe(1);
    probe.destroy();
    fd.checkRefs(buffer, 0);
  }
  using checker = Iommufd.open({ backend: 'native' });
  checker.checkRefs(buffer, 0);
  return outcome;
}

/**
 * The TEST_FAIL_NTH loop: a clean run, then nth = 1, 2, … until the injection
 * no longer fires. Every injected failure must come out as an IommufdError of
 * an ioctl.
 */
export function sweepFailNth(buffer: DmaBuffer, body: (fd: Iommufd) => ArmedScenario, options: FailNthOptions = {}): FailNthReport {
  const start = performance.now();
  const clean = runOnce(buffer, body, 0, undefined, options);
  if (clean.result.error) throw clean.result.error;
  const failedSteps: string[] = [];
  const sweep = failNthSweep((nth) => {
    const run = runOnce(buffer, body, nth, clean.got, options);
    if (run.result.injected && run.result.error) failedSteps.push(run.names[run.result.errorIndex] ?? '?');
    return run.result;
  }, options.maxIterations ?? 400);
  const codes: Record<string, number> = {};
  const failures: IommufdError[] = [];
  const allowed = injectedErrnos();
  for (const [i, failure] of sweep.failures.entries()) {
    expect(failure).toBeInstanceOf(IommufdError);
    const error = failure as IommufdError;
    expect(error.syscall).toBe('ioctl');
    expect(allowed, `injected failure at step ${failedSteps[i]}`).toContain(error.code);
    const key = `${failedSteps[i]} ${error.code}`;
    codes[key] = (codes[key] ?? 0) + 1;
    failures.push(error);
  }
  return { iterations: sweep.iterations, failures, codes, ms: Math.round(performance.now() - start) };
}
