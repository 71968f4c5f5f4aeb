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
  env: { BENCH_REPEATS: process.env.BENCH_REPEATS ?? '5' },
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
};
const rows = [];
const figures = {};
for (const [key, { label, ops }] of Object.entries(workloads)) {
  const m = {};
  for (const mode of ['c', 'ts', 'tsBatch']) {
    const times = data.runs[mode].map((run) => run[key]);
    m[mode] = { medianSeconds: median(times), spread: spread(times), opsPerSecond: ops / median(times) };
  }
  figures[key] = { ...m, ratioTsToC: m.ts.medianSeconds / m.c.medianSeconds, ratioBatchToC: m.tsBatch.medianSeconds / m.c.medianSeconds };
  rows.push([
    label,
    Math.round(m.c.opsPerSecond),
    Math.round(m.ts.opsPerSecond),
    Math.round(m.tsBatch.opsPerSecond),
    figures[key].ratioTsToC.toFixed(2),
    figures[key].ratioBatchToC.toFixed(2),
    `${(100 * Math.max(m.c.spread, m.ts.spread, m.tsBatch.spread)).toFixed(0)}%`,
  ]);
}

const header = ['workload', 'C ops/s', 'TS ops/s', 'TS batch ops/s', 'TS/C', 'batch/C', 'max spread'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join('  ');
console.log(line(header));
for (const row of rows) console.log(line(row));
console.log(`(median of ${data.repeats} interleaved repeats inside one VM, kernel ${data.kernel}; times are time per workload, ratio > 1 means TS is slower)`);

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
