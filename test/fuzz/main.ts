// The fuzz loop: generate sequence after sequence from one seed, run each on
// the kernel and the simulator, report divergences minimized.
import { readFileSync, writeFileSync } from 'node:fs';
import { Iommufd } from '../../lib/index.js';
import { generate } from './generate.js';
import { formatRepro, minimize } from './minimize.js';
import { type Divergence, pairMemory, runPair } from './run.js';
import { sequenceSeed } from './steps.js';

export interface FuzzOptions {
  count: number;
  seed: number;
  /** Steps per sequence. */
  length?: number;
  /** Run only this sequence index (replay a reported one). */
  index?: number;
  /** Minimize at most this many divergences (each op kind once); default 3. */
  minimizeMax?: number;
  /** Print how often each op succeeded or failed with which errno (on the kernel). */
  stats?: boolean;
  log?: (line: string) => void;
}

export interface FuzzReport {
  sequences: number;
  steps: number;
  divergences: number;
  /** One entry per divergence: where, and (for the first few) the minimized repro. */
  found: { index: number; divergence: Divergence; repro?: string }[];
  notes: string[];
  ms: number;
}

const THP = '/sys/kernel/mm/transparent_hugepage/enabled';

/**
 * Transparent huge pages off for the run (restored after): MD_CHECK_REFS does
 * not look at huge (compound) pages, and the simulator does not model them.
 * Returns the restore function, or null when THP cannot be switched off.
 */
function thpOff(): (() => void) | null {
  let before: string;
  try {
    before = /\[(\w+)\]/.exec(readFileSync(THP, 'utf8'))?.[1] ?? 'never';
  } catch {
    return () => {}; // no THP at all: nothing to do
  }
  if (before === 'never') return () => {};
  try {
    writeFileSync(THP, 'never');
  } catch {
    return null;
  }
  return () => {
    try {
      writeFileSync(THP, before);
    } catch {
      // best effort
    }
  };
}

/** CAP_SYS_RAWIO (bit 17) in this thread's effective set now (false where there is no /proc). */
function hasRawio(): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/thread-self/status', 'utf8'));
    return m !== null && ((BigInt(`0x${m[1]}`) >> 17n) & 1n) === 1n;
  } catch {
    return false;
  }
}

/** What the kernel has that the generator may use (fd.capabilities(), probed once). */
export function kernelFeatures(): { mapFile: boolean; dmabuf: boolean; pasid: boolean; noiommu: boolean; rawio: boolean } {
  const fd = Iommufd.open({ backend: 'native' });
  try {
    const caps = fd.capabilities();
    const noiommu = !!caps.ioctls.IOMMU_IOAS_NOIOMMU_GET_PA;
    return {
      mapFile: !!caps.ioctls.IOMMU_IOAS_MAP_FILE,
      dmabuf: !!caps.ioctls.IOMMU_IOAS_MAP_FILE && !!caps.testOps.DMABUF_GET && !!caps.testOps.DMABUF_REVOKE,
      pasid: (['PASID_ATTACH', 'PASID_REPLACE', 'PASID_DETACH', 'PASID_CHECK_HWPT'] as const).every((op) => !!caps.testOps[op]),
      noiommu,
      // Toggled only where the process has it to give back (the executor restores it).
      rawio: noiommu && hasRawio(),
    };
  } finally {
    fd.close();
  }
}

export async function fuzz(options: FuzzOptions): Promise<FuzzReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const started = Date.now();
  const report: FuzzReport = { sequences: 0, steps: 0, divergences: 0, found: [], notes: [], ms: 0 };
  const restore = thpOff();
  if (!restore) report.notes.push(`cannot turn transparent huge pages off (${THP}): MD_CHECK_REFS left out`);
  const memory = pairMemory();
  const minimizeMax = options.minimizeMax ?? 3;
  const minimizedOps = new Set<string>();
  const stats = new Map<string, number>();
  // Steps for what the kernel under test has beyond 6.12 (file mappings, the mock's dma-buf,
  // the PASID ops, NOIOMMU_GET_PA).
  const features = kernelFeatures();
  try {
    const first = options.index ?? 0;
    const last = options.index ?? options.count - 1;
    for (let index = first; index <= last; index++) {
      // Let the event loop breathe (vitest's worker talks to its parent meanwhile).
      if (index % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
      const steps = generate(sequenceSeed(options.seed, index), { length: options.length, noCheckRefs: !restore, ...features });
      const result = runPair(steps, memory);
      report.sequences++;
      report.steps += result.steps;
      if (options.stats)
        result.outcomes.native.forEach((o, k) => {
          const key = `${steps[k]!.op} ${o === 'skip' ? 'skip' : 'ok' in o ? 'ok' : 'errno' in o ? o.errno : `throw ${o.throw}`}`;
          stats.set(key, (stats.get(key) ?? 0) + 1);
        });
      const d = result.divergence;
      if (!d) continue;
      report.divergences++;
      const entry: FuzzReport['found'][number] = { index, divergence: d };
      report.found.push(entry);
      log(
        `DIVERGENCE seed ${options.seed} sequence ${index} step ${d.index} (${d.step.op}): ` +
          `kernel ${JSON.stringify(d.native)} simulator ${JSON.stringify(d.sim)}`,
      );
      if (minimizedOps.size < minimizeMax && !minimizedOps.has(d.step.op)) {
        minimizedOps.add(d.step.op);
        const min = minimize(steps, d, memory);
        entry.repro = formatRepro(`seed ${options.seed} sequence ${index}`, min);
        log(entry.repro);
        log(`replay: npm run fuzz -- --seed ${options.seed} --index ${index}`);
      }
    }
  } finally {
    memory.native.free();
    restore?.();
  }
  report.ms = Date.now() - started;
  if (options.stats) log([...stats].sort().map(([k, n]) => `  ${k}: ${n}`).join('\n'));
  for (const note of report.notes) log(`note: ${note}`);
  return report;
}

/** The closing line scripts/test.mjs looks for. */
export function summary(report: FuzzReport): string {
  return `fuzz: ${report.sequences} sequences, ${report.steps} steps, ${report.divergences} divergences (${(report.ms / 1000).toFixed(1)} s)`;
}
