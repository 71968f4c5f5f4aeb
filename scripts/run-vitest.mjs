#!/usr/bin/env node
// Run one vitest project and end with a plain closing line:
//   "<project>: N passed, N failed, N skipped"
// Used for the host project directly and for the kernel project inside the VM.
// In CI (CI or IOMMUFD_REQUIRE_KERNEL set) a skipped kernel test is a failure.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { staleLibSources } from './stale-dist.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [project, ...extra] = process.argv.slice(2);
if (!project) {
  console.error('usage: node scripts/run-vitest.mjs PROJECT [vitest args...]');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'iommufd-vitest-'));
// Inside the VM the repo is read-only: vite may neither bundle the config into
// node_modules/.vite-temp nor keep its cache there.
const readOnly = !writable(join(root, 'node_modules'));
const loader = readOnly ? ['--configLoader', 'runner'] : [];
if (readOnly) process.env.IOMMUFD_VITE_CACHE = join(dir, 'vite-cache');
// The VM runs the kernel projects under TCG, where start-up dominates (bench:suite):
// there they import lib as tsc's dist/ (vitest.config.ts) if it is up to date, and
// run in one worker: a second one evaluates the whole module graph again and, with
// two vCPUs shared by vitest's main process and the kernel, gains no test time.
const VM_FAST = ['kernel', 'selftest-kernel'];
const fast = readOnly && VM_FAST.includes(project);
if (fast) {
  const [stale] = staleLibSources(root);
  if (stale) console.error(`run-vitest: dist/ is older than ${stale} (run \`npm run build:ts\`): transforming lib/ instead`);
  else process.env.IOMMUFD_TEST_LIB = 'dist';
}
const workers = fast ? ['--maxWorkers=1', '--minWorkers=1'] : [];
// Tests that skip append {test, reason} lines here (test/selftest/harness.ts logSkip).
const skipLog = join(dir, 'skips.jsonl');
process.env.IOMMUFD_SKIP_LOG = skipLog;
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');

// Under TCG, importing lib and the harness again for every test file costs more than
// many files' tests (the 7.3 selftest port: 55 s -> 30 s without it), so these
// projects run one module graph per worker instead of one per file. Every test sets
// up and tears down what it uses; the files listed measure process-wide state (GC
// of unreferenced objects, open fds, live buffers) and keep a
// process of their own, in a second run. (Vitest takes isolation from the root
// config or the command line only, not per project.)
const SHARED_WORKERS = {
  'selftest-kernel': [],
  'selftest-sim': [],
  kernel: ['test/kernel/gc.test.ts', 'test/scenarios/memory-safety.test.ts'],
};
// A caller naming files or options gets one plain run.
const runs =
  Object.hasOwn(SHARED_WORKERS, project) && extra.length === 0
    ? [['--no-isolate', ...SHARED_WORKERS[project].flatMap((f) => ['--exclude', f])], ...(SHARED_WORKERS[project].length ? [SHARED_WORKERS[project]] : [])]
    : [extra];

let status = 0;
let counts = { passed: 0, failed: 0, skipped: 0 };
for (const [i, args] of runs.entries()) {
  const report = join(dir, `report-${i}.json`);
  const result = spawnSync(
    process.execPath,
    [vitest, 'run', ...loader, '--project', project, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...workers, ...args],
    { cwd: root, stdio: 'inherit' },
  );
  status ||= result.status ?? 1;
  const c = readCounts(report, result.status);
  if (!c) {
    counts = null;
    console.error(`vitest produced no report (exit ${result.status ?? result.signal})`);
    break;
  }
  for (const k of Object.keys(counts)) counts[k] += c[k];
}
const skips = readSkips(skipLog);
rmSync(dir, { recursive: true, force: true });

if (!counts) {
  console.log(`${project}: 0 passed, 1 failed, 0 skipped`);
  process.exit(1);
}
console.log(`${project}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);

for (const [reason, tests] of skips) console.log(`${project}: skipped ${tests.length}: ${reason}`);

// In CI every kernel test must run. The only accepted skips are parts of the shipped
// selftest that are newer than the driver, found missing by probing ("kernel lacks X"),
// and the instances the kernel's C selftest SKIPs itself ("selftest skips: ...",
// test/selftest/harness.ts selftestSkips()).
const strict = Boolean(process.env.CI) || process.env.IOMMUFD_REQUIRE_KERNEL === '1';
const ACCEPTED_SKIPS = ['kernel lacks ', 'selftest skips: '];
const accepted = [...skips].filter(([reason]) => ACCEPTED_SKIPS.some((p) => reason.startsWith(p))).reduce((n, [, t]) => n + t.length, 0);
if (['kernel', 'selftest-kernel', 'noiommu'].includes(project) && strict && counts.skipped > accepted) {
  console.error(`${counts.skipped - accepted} ${project} test(s) skipped for another reason than a missing kernel feature or the C selftest's own SKIP: in CI every kernel test must run`);
  process.exit(1);
}
if (counts.passed === 0 && counts.failed === 0) {
  console.error(`no ${project} tests ran`);
  process.exit(1);
}
process.exit(status === 0 && counts.failed === 0 ? 0 : 1);

/** passed/failed/skipped of one vitest JSON report, or null if there is none. */
function readCounts(report, exitStatus) {
  try {
    const json = JSON.parse(readFileSync(report, 'utf8'));
    return {
      passed: json.numPassedTests,
      // A file that failed to load has no failed tests; count it as one failure.
      failed: json.numFailedTests || (exitStatus === 0 ? 0 : 1),
      skipped: json.numPendingTests + json.numTodoTests,
    };
  } catch {
    return null;
  }
}

/** Skip reasons logged by the tests, grouped: reason -> test names. */
function readSkips(path) {
  const byReason = new Map();
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return byReason;
  }
  for (const line of text.split('\n').filter(Boolean)) {
    const { test, reason } = JSON.parse(line);
    byReason.set(reason, [...(byReason.get(reason) ?? []), test]);
  }
  return byReason;
}

function writable(path) {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
