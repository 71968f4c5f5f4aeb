// The hostile-input fuzzer's driver: runs sequences in worker processes
// (test/hostile/worker.ts), restarting after a crash, and adds up the counts.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type Counts, type Finding, emptyCounts } from './engine.js';

export interface HostileOptions {
  /** First sequence (to replay one: from = N, count = N + 1). */
  from?: number;
  count: number;
  seed: number;
  /** Calls per sequence. */
  length?: number;
  /** Extra environment for the workers (e.g. LD_PRELOAD of ASan with an ASan addon). */
  env?: Record<string, string>;
  log?: (line: string) => void;
}

export interface Crash {
  sequence: number;
  /** Exit code or signal, and the end of the worker's stderr (an ASan report, say). */
  exit: string;
  stderr: string;
}

export interface HostileReport {
  counts: Counts;
  crashes: Crash[];
  findings: Finding[];
}

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

/** Runs sequences [from, count) in one worker; resolves with where it stopped. */
function runWorker(from: number, options: HostileOptions, report: HostileReport): Promise<number> {
  return new Promise((resolve) => {
    const child = fork(WORKER, [String(from), String(options.count), String(options.seed), String(options.length ?? 40)], {
      execArgv: ['--import', 'tsx', '--expose-gc'],
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-8000);
      if (process.env.HOSTILE_TRACE) process.stderr.write(chunk);
    });
    let current = from;
    let next = from;
    let ended = false;
    child.on('message', (m: { type: string; sequence: number; counts: Counts; findings: Finding[] }) => {
      if (m.type === 'start') current = m.sequence;
      else if (m.type === 'done') {
        next = m.sequence + 1;
        for (const k of Object.keys(m.counts) as (keyof Counts)[]) report.counts[k] += m.counts[k];
        report.findings.push(...m.findings);
        if (m.sequence % 50 === 49) options.log?.(`hostile: ${m.sequence + 1}/${options.count} sequences`);
      } else if (m.type === 'end') ended = true;
    });
    child.on('exit', (code, signal) => {
      if (ended && code === 0) return resolve(options.count);
      // Died inside `current`: a crash; go on after it.
      report.crashes.push({ sequence: current, exit: signal ?? `exit ${code}`, stderr: stderr.trim() });
      options.log?.(`hostile: sequence ${current} crashed the worker (${signal ?? `exit ${code}`})`);
      resolve(Math.max(next, current + 1));
    });
  });
}

export async function hostile(options: HostileOptions): Promise<HostileReport> {
  const report: HostileReport = { counts: emptyCounts(), crashes: [], findings: [] };
  let from = options.from ?? 0;
  while (from < options.count) from = await runWorker(from, options, report);
  return report;
}

/** The closing line npm test collects: "hostile: N sequences, N calls, ...". */
export function summary(r: HostileReport): string {
  const c = r.counts;
  return (
    `hostile: ${c.sequences} sequences, ${c.calls} calls, ${c.returned} returned, ${c.cleanErrors} clean errors, ` +
    `${c.uncleanErrors} unclean errors, ${r.crashes.length} crashes, ${c.violations} memory-safety violations`
  );
}
