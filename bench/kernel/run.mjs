#!/usr/bin/env node
// `npm run bench:kernel`: per-call cost of TypeScript vs C on the same kernel,
// measured in one VM run (bench/kernel/inside.mjs), reported as medians with
// spread and TS/C ratios; writes bench/results/kernel.json. Not a test.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runInVm } from '../../scripts/vm.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let text = '';
const capture = new Writable({
  write(chunk, _enc, done) {
    text += chunk;
    done();
  },
});
const started = Date.now();
const code = await runInVm(['node', 'bench/kernel/inside.mjs'], {
  cwd: root,
  stdout: capture,
  env: { BENCH_REPEATS: process.env.BENCH_REPEATS ?? '5', BENCH_WARMUP: process.env.BENCH_WARMUP ?? '2' },
});
const match = /@@BENCH-JSON@@\n(.*)\n@@BENCH-END@@/s.exec(text);
if (code !== 0 || !match) {
  process.stderr.write(text);
  console.error(`bench:kernel failed (exit ${code})`);
  process.exit(1);
}
const data = JSON.parse(match[1]);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const spread = (xs) => (Math.max(...xs) - Math.min(...xs)) / median(xs);
const workloads = {
  map4k: { label: '(a) 10 000 x map+unmap 4 KiB', ops: 20000 },
  accessRw: { label: '(b) access_rw sweep (12 600 rw)', ops: 12600 },
  map2mDomain: { label: '(c) 1 000 x map+unmap 2 MiB, mock domain', ops: 2000 },
  nullIoctl: { label: '(d) 20 000 x refused ioctl (call floor)', ops: 20000, noBatch: true },
};
const rows = [];
const figures = {};
for (const [key, { label, ops, noBatch }] of Object.entries(workloads)) {
  const m = {};
  // Workloads without a batch form: the batched runs time the same per-call code, left out here.
  const modes = noBatch ? ['c', 'ts'] : ['c', 'ts', 'tsBatch'];
  for (const mode of modes) {
    const times = data.runs[mode].map((run) => run[key]);
    m[mode] = { medianSeconds: median(times), spread: spread(times), opsPerSecond: ops / median(times) };
  }
  figures[key] = { ...m, ratioTsToC: m.ts.medianSeconds / m.c.medianSeconds };
  if (m.tsBatch) figures[key].ratioBatchToC = m.tsBatch.medianSeconds / m.c.medianSeconds;
  rows.push([
    label,
    Math.round(m.c.opsPerSecond),
    Math.round(m.ts.opsPerSecond),
    m.tsBatch ? Math.round(m.tsBatch.opsPerSecond) : '-',
    figures[key].ratioTsToC.toFixed(2),
    m.tsBatch ? figures[key].ratioBatchToC.toFixed(2) : '-',
    `${(100 * Math.max(...modes.map((mode) => m[mode].spread))).toFixed(0)}%`,
  ]);
}
// Where TS's time per call of (a) goes: the N-API crossing (what a refused
// ioctl costs over C), the addon's argument conversion, and the typed API above.
const perCall = (key, mode) => (figures[key][mode].medianSeconds / workloads[key].ops) * 1e6;
const addonOnly = (median(data.runs.addonOnly.map((run) => run.map4k)) / workloads.map4k.ops) * 1e6;
figures.map4kBreakdownMicrosecondsPerCall = {
  c: perCall('map4k', 'c'),
  crossing: perCall('nullIoctl', 'ts') - perCall('nullIoctl', 'c'),
  addonOnly,
  typedApi: perCall('map4k', 'ts'),
};

const header = ['workload', 'C ops/s', 'TS ops/s', 'TS batch ops/s', 'TS/C', 'batch/C', 'max spread'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join('  ');
console.log(line(header));
for (const row of rows) console.log(line(row));
console.log(
  `(median of ${data.repeats} interleaved repeats inside one VM after ${data.warmup} warm-up rounds of the TS side, ` +
    `kernel ${data.kernel}; times are time per workload, ratio > 1 means TS is slower)`,
);
const b = figures.map4kBreakdownMicrosecondsPerCall;
const us = (x) => `${x.toFixed(2)} us`;
console.log(
  `(a) per call: C ${us(b.c)}; TS ${us(b.typedApi)} = C + N-API crossing ${us(b.crossing)} (from (d))` +
    ` + argument conversion ${us(b.addonOnly - b.c - b.crossing)} (the addon called directly: ${us(b.addonOnly)})` +
    ` + typed API ${us(b.typedApi - b.addonOnly)}`,
);

let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
} catch {
  // not a checkout
}
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(
  join(root, 'bench', 'results', 'kernel.json'),
  JSON.stringify(
    {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryBytes: totalmem(), accel: 'see [vm] line (tcg unless KVM works)' },
      node: process.version,
      kernel: data.kernel,
      commit,
      wallSeconds: (Date.now() - started) / 1000,
      figures,
      raw: data.runs,
    },
    null,
    2,
  ),
);
console.log('wrote bench/results/kernel.json');
