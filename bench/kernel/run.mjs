#!/usr/bin/env node
// `npm run bench:kernel [-- --icount] [--kernel-version 6.12|7.3]`: per-call
// cost of TypeScript vs C on the same kernel, measured in one VM run
// (bench/kernel/inside.mjs), reported per call with spread and TS/C ratios;
// writes bench/results/kernel[-icount][-VERSION].json. Not a test.
//
// --icount boots the VM with `-icount shift=0,sleep=off` (TCG, never KVM): guest
// time then counts guest instructions, 1 ns each, so every figure is an exact,
// repeatable instruction count per call rather than noisy wall time.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runInVm } from '../../scripts/vm.mjs';

const USAGE = 'usage: npm run bench:kernel [-- --icount] [--kernel-version 6.12|7.3]';
let icount = false;
let kernelVersion;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i];
  if (arg === '--icount') icount = true;
  else if (arg === '--kernel-version' && i + 1 < argv.length) kernelVersion = argv[++i];
  else if (arg.startsWith('--kernel-version=')) kernelVersion = arg.slice('--kernel-version='.length);
  else {
    console.error(`bench:kernel: unknown argument ${arg}\n${USAGE}`);
    process.exit(2);
  }
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let text = '';
const capture = new Writable({
  write(chunk, _enc, done) {
    text += chunk;
    done();
  },
});
const started = Date.now();
const repeats = process.env.BENCH_REPEATS ?? '5';
// V8 takes a few rounds to settle (optimize, deoptimize where a first-time path
// runs, optimize again); only steady state is reported.
const warmup = process.env.BENCH_WARMUP ?? '4';
const code = await runInVm(['node', 'bench/kernel/inside.mjs'], {
  cwd: root,
  stdout: capture,
  icount,
  kernelVersion,
  env: { BENCH_REPEATS: repeats, BENCH_WARMUP: warmup },
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
// One unit per call: instructions under icount (1 ns of guest time each), else microseconds.
const unit = icount ? 'instr' : 'us';
const perCallOf = (seconds, ops) => (seconds / ops) * (icount ? 1e9 : 1e6);
const fmt = (x) => (icount ? String(Math.round(x)) : x.toFixed(2));
for (const [key, { label, ops, noBatch }] of Object.entries(workloads)) {
  const m = {};
  // Workloads without a batch form: the batched runs time the same per-call code, left out here.
  const modes = noBatch ? ['c', 'ts'] : ['c', 'ts', 'tsBatch'];
  for (const mode of modes) {
    const times = data.runs[mode].map((run) => run[key]);
    m[mode] = {
      medianSeconds: median(times),
      spread: spread(times),
      opsPerSecond: ops / median(times),
      perCall: perCallOf(median(times), ops),
    };
  }
  figures[key] = { ...m, ratioTsToC: m.ts.medianSeconds / m.c.medianSeconds };
  if (m.tsBatch) figures[key].ratioBatchToC = m.tsBatch.medianSeconds / m.c.medianSeconds;
  rows.push([
    label,
    fmt(m.c.perCall),
    fmt(m.ts.perCall),
    m.tsBatch ? fmt(m.tsBatch.perCall) : '-',
    figures[key].ratioTsToC.toFixed(2),
    m.tsBatch ? figures[key].ratioBatchToC.toFixed(2) : '-',
    `${(100 * Math.max(...modes.map((mode) => m[mode].spread))).toFixed(icount ? 2 : 0)}%`,
  ]);
}
// Where TS's time per call of (a) goes: the floor of any addon call (an op that
// does nothing), the addon's argument conversion (the addon called directly,
// minus C and that floor), and the typed API above it.
const perCall = (key, mode) => perCallOf(figures[key][mode].medianSeconds, workloads[key].ops);
const medianOf = (mode, key) => median(data.runs[mode].map((run) => run[key]));
const addonOnly = perCallOf(medianOf('addonOnly', 'map4k'), workloads.map4k.ops);
const noop = perCallOf(medianOf('addonOnly', 'noop'), 20000);
const b = {
  unit,
  c: perCall('map4k', 'c'),
  emptyAddonCall: noop,
  argumentConversion: addonOnly - perCall('map4k', 'c') - noop,
  addonOnly,
  typedApi: perCall('map4k', 'ts') - addonOnly,
  ts: perCall('map4k', 'ts'),
  batchedOverC: perCall('map4k', 'tsBatch') - perCall('map4k', 'c'),
  // (d): a refused ioctl through the backend, over the same ioctl in C.
  refusedIoctlOverC: perCall('nullIoctl', 'ts') - perCall('nullIoctl', 'c'),
};
figures.map4kBreakdownPerCall = b;

const header = ['workload', `C ${unit}/call`, `TS ${unit}/call`, `TS batch ${unit}/call`, 'TS/C', 'batch/C', 'max spread'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join('  ');
console.log(line(header));
for (const row of rows) console.log(line(row));
console.log(
  `(median of ${data.repeats} interleaved repeats inside one VM after ${data.warmup} warm-up rounds of the TS side, ` +
    `kernel ${data.kernel}${icount ? ', icount: guest instructions per call' : ', wall time'}; ratio > 1 means TS is slower)`,
);
const u = (x) => `${fmt(x)} ${unit}`;
console.log(
  `(a) per call: C ${u(b.c)}; TS ${u(b.ts)} = C + empty addon call ${u(b.emptyAddonCall)}` +
    ` + argument conversion ${u(b.argumentConversion)} (the addon called directly: ${u(b.addonOnly)})` +
    ` + typed API ${u(b.typedApi)}; batched: C + ${u(b.batchedOverC)} per op` +
    ` ((d) a refused ioctl costs C + ${u(b.refusedIoctlOverC)})`,
);

let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
} catch {
  // not a checkout
}
const resultName = `kernel${icount ? '-icount' : ''}${kernelVersion ? `-${kernelVersion}` : ''}.json`;
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(
  join(root, 'bench', 'results', resultName),
  JSON.stringify(
    {
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        memoryBytes: totalmem(),
        accel: icount ? 'tcg, -icount shift=0,sleep=off' : 'see [vm] line (tcg unless KVM works)',
      },
      mode: icount ? 'icount' : 'wall',
      unit: icount ? 'guest instructions (1 ns of guest time each)' : 'seconds of wall time',
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
console.log(`wrote bench/results/${resultName}`);
