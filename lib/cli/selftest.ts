// `iommufd selftest`: a test suite on one backend — the scenarios (test/scenarios)
// or the port of the kernel's own selftest (test/selftest) — driven through
// vitest's Node API with a reporter that collects each test's outcome for KTAP or
// the human summary.
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import type { BackendName } from './common.js';
import { CliError, packageRoot, requireCheckout } from './common.js';
import type { CaseResult } from './ktap.js';
import { staticTestIndex } from './test-index.js';

export type SuiteName = 'scenarios' | 'port';

/** Each suite's directory and its vitest project per backend (vitest.config.ts). */
export const SUITES: Record<SuiteName, { dir: string; project: Record<BackendName, string> }> = {
  scenarios: { dir: 'test/scenarios', project: { native: 'kernel', sim: 'sim' } },
  port: { dir: 'test/selftest', project: { native: 'selftest-kernel', sim: 'selftest-sim' } },
};

export interface SelftestRun {
  cases: CaseResult[];
  durationMs: number;
}

export interface Progress {
  /** A test finished; `total` grows as test files are collected. */
  onCase(result: CaseResult, done: number, total: number): void;
}

// Just the parts of vitest's reporter API used here (vitest is a devDependency).
interface TaskLike {
  name: string;
  suite?: TaskLike;
}
interface TestCaseLike {
  id: string;
  fullName: string;
  task: TaskLike;
  module: { moduleId: string };
  options: { mode: string };
  result(): { state: string; note?: string; errors?: ReadonlyArray<ErrorLike> };
}
interface ErrorLike {
  message?: string;
  name?: string;
  stacks?: { file: string; line: number; column: number }[];
}
interface Vitest {
  getRelevantTestSpecifications(filters: string[]): Promise<{ moduleId: string }[]>;
  collectTests(specs: { moduleId: string }[]): Promise<{ testModules: TestModuleLike[] }>;
  setGlobalTestNamePattern(pattern: RegExp): void;
  runTestSpecifications(specs: { moduleId: string }[], allTestsRun: boolean): Promise<unknown>;
  close(): Promise<void>;
}
interface TestModuleLike {
  moduleId: string;
  errors(): ReadonlyArray<ErrorLike>;
  children: { allTests(): Iterable<TestCaseLike> };
}

/** vitest's own test-name matching (getTaskFullName in @vitest/runner), to leave out filtered tests. */
function taskFullName(task: TaskLike): string {
  return `${task.suite ? `${taskFullName(task.suite)} ` : ''}${task.name}`;
}

function errorText(error: ErrorLike): string {
  const where = error.stacks?.find((s) => !s.file.includes('/node_modules/'));
  const message = `${error.name && error.name !== 'Error' && error.name !== 'AssertionError' ? `${error.name}: ` : ''}${error.message ?? String(error)}`;
  return where ? `${message}\n  at ${relative(packageRoot, where.file)}:${where.line}:${where.column}` : message;
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** vitest runs the suites; a consumer of the package installs it (an optional peer dependency). */
function requireVitest(): void {
  try {
    import.meta.resolve('vitest/node');
  } catch {
    throw new CliError('selftest runs its suites with vitest, which is not installed here', 'npm install -D vitest@3 (an optional peer dependency of iommufd)');
  }
}

export function parseFilter(filter: string | undefined): RegExp | undefined {
  if (filter === undefined) return undefined;
  try {
    return new RegExp(filter);
  } catch (e) {
    throw new CliError(`bad --filter: ${(e as Error).message}`, 'PATTERN is a JavaScript regular expression matched against the KTAP test names ("FILE: DESCRIBE > TEST")', 2);
  }
}

export async function runSelftest(
  backend: BackendName,
  filter: RegExp | undefined,
  progress?: Progress,
  suite: SuiteName = 'scenarios',
): Promise<SelftestRun> {
  const { dir, project } = SUITES[suite];
  requireCheckout('selftest', [dir, 'vitest.config.ts']);
  requireVitest();
  let scratch: string | undefined;
  const options: Record<string, unknown> = {};
  // Inside the test VM the checkout is read-only: vite may neither bundle the
  // config into node_modules/.vite-temp nor keep its cache there.
  if (!writable(join(packageRoot, 'node_modules'))) {
    scratch = mkdtempSync(join(tmpdir(), 'iommufd-selftest-'));
    process.env.IOMMUFD_VITE_CACHE = join(scratch, 'vite-cache');
    options.configLoader = 'runner';
  }
  const byModule = new Map<string, CaseResult[]>();
  const logs = new Map<string, string[]>();
  const errorsOf = new Map<string, string[]>();
  let done = 0;
  let total = 0;
  let unhandled: string[] = [];
  let collecting = false;
  const fileName = (moduleId: string) => basename(moduleId).replace(/\.test\.[cm]?[jt]s$/, '');
  /** The KTAP name, which --filter matches: "FILE: DESCRIBE > TEST". */
  const nameOf = (t: TestCaseLike) => `${fileName(t.module.moduleId)}: ${t.fullName}`;
  const selected = (t: TestCaseLike) => !filter || filter.test(nameOf(t));

  const toCase = (t: TestCaseLike): CaseResult => {
    const result = t.result();
    const name = nameOf(t);
    const diagnostics = [...(logs.get(t.id) ?? [])];
    switch (result.state) {
      case 'passed':
        return { name, status: 'pass', diagnostics };
      case 'skipped':
        return { name, status: 'skip', reason: result.note ?? (t.options.mode === 'todo' ? 'todo' : 'skipped in the test file'), diagnostics };
      case 'failed':
        return { name, status: 'fail', diagnostics: [...diagnostics, ...(result.errors ?? []).map(errorText)] };
      default:
        return { name, status: 'fail', diagnostics: [...diagnostics, 'did not run'] };
    }
  };

  const reporter = {
    onTestModuleCollected(module: TestModuleLike) {
      if (collecting) return;
      for (const t of module.children.allTests()) if (selected(t)) total++;
    },
    onTestCaseResult(t: TestCaseLike) {
      if (collecting || !selected(t)) return;
      const result = toCase(t);
      done++;
      progress?.onCase(result, done, Math.max(done, total));
    },
    onUserConsoleLog(log: { content: string; taskId?: string }) {
      if (collecting) return;
      const key = log.taskId ?? '';
      logs.set(key, [...(logs.get(key) ?? []), log.content.replace(/\n$/, '')]);
    },
    onTestRunEnd(modules: ReadonlyArray<TestModuleLike>, errors: ReadonlyArray<ErrorLike>) {
      if (collecting) return;
      for (const module of modules) {
        const cases = [...module.children.allTests()].filter(selected).map(toCase);
        byModule.set(module.moduleId, cases);
        errorsOf.set(module.moduleId, module.errors().map(errorText));
      }
      unhandled = errors.map(errorText);
    },
  };

  const started = performance.now();
  const { createVitest } = (await import('vitest/node')) as unknown as { createVitest: (mode: string, options: object) => Promise<Vitest> };
  const vitest = await createVitest('test', {
    root: packageRoot,
    project: [project[backend]],
    run: true,
    watch: false,
    reporters: [reporter],
    passWithNoTests: true,
    ...options,
  });
  try {
    let specs = await vitest.getRelevantTestSpecifications([join(packageRoot, dir)]);
    if (filter) {
      // Importing a test file is what costs (in the VM under TCG, seconds a file):
      // leave out the files whose every test name the static index knows and none
      // matches (lib/cli/test-index.ts). The rest, files the index cannot vouch
      // for included, are collected as before.
      const index = staticTestIndex(join(packageRoot, dir));
      const matches = (moduleId: string, parts: string[]) => filter.test(`${fileName(moduleId)}: ${parts.join(' > ')}`);
      specs = specs.filter((s) => {
        const names = index.get(s.moduleId);
        return !names || names.some((n) => matches(s.moduleId, n));
      });
      // vitest's own name filter cannot see the file: the tests to run are named by
      // their full name (vitest joins the parts with spaces), from the index where it
      // knows the file, else by collecting the file first (files that fail to load
      // are kept, to be reported).
      const unknown = specs.filter((s) => !index.get(s.moduleId));
      const names = specs.flatMap((s) => (index.get(s.moduleId) ?? []).filter((n) => matches(s.moduleId, n)).map((n) => n.join(' ')));
      if (unknown.length > 0) {
        collecting = true;
        const { testModules } = await vitest.collectTests(unknown);
        collecting = false;
        const matching = testModules.flatMap((m) => [...m.children.allTests()]).filter(selected);
        const keep = new Set([...matching.map((t) => t.module.moduleId), ...testModules.filter((m) => m.errors().length > 0).map((m) => m.moduleId)]);
        specs = specs.filter((s) => index.get(s.moduleId) || keep.has(s.moduleId));
        names.push(...matching.map((t) => taskFullName(t.task)));
      }
      const escaped = [...new Set(names)].map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
      vitest.setGlobalTestNamePattern(new RegExp(`^(?:${escaped.join('|')})$`));
    }
    if (specs.length > 0) await vitest.runTestSpecifications(specs, !filter);
  } finally {
    await vitest.close();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }

  const cases: CaseResult[] = [];
  for (const moduleId of [...byModule.keys()].sort()) {
    cases.push(...byModule.get(moduleId)!);
    const errors = errorsOf.get(moduleId) ?? [];
    // A file that failed to load, or a failing beforeAll/afterAll hook.
    if (errors.length > 0) cases.push({ name: `${fileName(moduleId)}: (file)`, status: 'fail', diagnostics: errors });
  }
  if (unhandled.length > 0) cases.push({ name: 'unhandled errors', status: 'fail', diagnostics: unhandled });
  if (byModule.size === 0 && unhandled.length === 0 && !filter)
    cases.push({ name: 'test files', status: 'fail', diagnostics: [`vitest ran no test file from ${dir}`] });
  return { cases, durationMs: performance.now() - started };
}
