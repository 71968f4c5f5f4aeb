#!/usr/bin/env node
// Simulator scaling: map+unmap pairs per second with N live areas, heap bytes
// per area, and the memory of a 1 TiB mapping. Run with `npm run bench`
// (builds dist/ first; needs --expose-gc for the heap figures).
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { SimBackend } from '../dist/sim/backend.js';

const PAGE = 4096n;
const RW = 6; // READABLE | WRITEABLE
const FIXED = 1 | RW;
const gc = globalThis.gc ?? (() => {});
const REPEATS = 5;

function heap() {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

// xorshift, so every run does the same work.
let seed = 12345;
function rand(n) {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
}

function setup(n) {
  const be = SimBackend.open();
  const ioas = be.ioasAlloc();
  const bytes = new Uint8Array(4096);
  const range = { bytes, offset: 0, length: 4096 };
  // Areas at odd pages, one-page holes between them.
  for (let i = 0; i < n; i++) be.ioasMap(ioas, FIXED, range, (2n * BigInt(i) + 1n) * PAGE);
  return { be, ioas, range };
}

function pairsPerSecond(n, pairs, anywhere) {
  const { be, ioas, range } = setup(n);
  const two = { bytes: new Uint8Array(8192), offset: 0, length: 8192 };
  const iovas = Array.from({ length: 1024 }, () => 2n * BigInt(rand(n) + 1) * PAGE);
  const run = (count) => {
    for (let i = 0; i < count; i++) {
      if (anywhere) {
        // 8 KiB fits no hole between the areas: the allocator must skip to the tail.
        const iova = be.ioasMap(ioas, RW, two, 0n);
        be.ioasUnmap(ioas, iova, 8192n);
      } else {
        const iova = iovas[i & 1023];
        be.ioasMap(ioas, FIXED, range, iova);
        be.ioasUnmap(ioas, iova, PAGE);
      }
    }
  };
  run(Math.min(pairs, 20000)); // warm up
  // REPEATS timed runs on the same tree: the machine is noisy, report the median and the spread.
  const rates = [];
  for (let r = 0; r < REPEATS; r++) {
    const t = process.hrtime.bigint();
    run(pairs);
    rates.push((pairs / Number(process.hrtime.bigint() - t)) * 1e9);
  }
  be.close();
  rates.sort((a, b) => a - b);
  return { median: rates[REPEATS >> 1], min: rates[0], max: rates[REPEATS - 1] };
}

function bytesPerArea(n) {
  const before = heap();
  const { be } = setup(n);
  const after = heap();
  const per = (after - before) / n;
  be.close();
  return per;
}

const fmt = (x) => Math.round(x).toLocaleString('en-US');
// Every figure printed is also written to bench/results/sim.json.
const figures = { pairsPerSecond: {}, anywherePairsPerSecond: {}, heapBytesPerArea: {}, accessRwMBps: {} };
console.log('simulator scaling (node ' + process.version + ')');
console.log(`map+unmap pairs/s with N live areas, median of ${REPEATS} runs (min-max)`);
console.log('live areas | fixed IOVA                       | anywhere (8 KiB, allocated IOVA)');
const rates = {};
const cell = (r) => `${fmt(r.median)} (${fmt(r.min)}-${fmt(r.max)})`.padEnd(32);
for (const n of [1e3, 1e4, 1e5, 1e6]) {
  const fixed = pairsPerSecond(n, 200000, false);
  const anywhere = pairsPerSecond(n, 50000, true);
  rates[n] = fixed;
  figures.pairsPerSecond[n] = fixed;
  figures.anywherePairsPerSecond[n] = anywhere;
  console.log(`${String(n).padStart(10)} | ${cell(fixed)} | ${cell(anywhere)}`);
}
// Cost is 1/rate: the ratio of the medians, and its range from the slowest and fastest runs.
figures.costRatio1e6To1e3 = rates[1e3].median / rates[1e6].median;
figures.costRatio1e6To1e3Range = [rates[1e3].min / rates[1e6].max, rates[1e3].max / rates[1e6].min];
const [lo, hi] = figures.costRatio1e6To1e3Range;
console.log(`cost at 10^6 / cost at 10^3 (fixed pairs): ${figures.costRatio1e6To1e3.toFixed(2)}x (runs span ${lo.toFixed(2)}-${hi.toFixed(2)}x)`);
for (const n of [1e5, 1e6]) {
  figures.heapBytesPerArea[n] = bytesPerArea(n);
  console.log(`heap bytes per area at ${n} areas: ${fmt(figures.heapBytesPerArea[n])}`);
}

// 1 TiB of IOVA mapped: 512 areas of one lazily allocated 2 GiB ArrayBuffer
// (V8 cannot hold 1 TiB in one buffer; untouched pages cost no RSS).
{
  const be = SimBackend.open();
  const ioas = be.ioasAlloc();
  const size = 2 ** 31;
  const big = new Uint8Array(new ArrayBuffer(size));
  const before = heap();
  for (let i = 0; i < 512; i++) be.ioasMap(ioas, FIXED, { bytes: big, offset: 0, length: size }, (1n << 40n) + BigInt(i) * BigInt(size));
  const after = heap();
  const access = be.createAccess(ioas, 1);
  be.accessPages(access, 0, (1n << 40n) + 4096n, 16 * 1024 * 1024, null); // 16 MiB (the mock's limit): one interval
  const pinned = heap();
  const t = process.hrtime.bigint();
  be.mdCheckRefs({ bytes: big, offset: 4096, length: 16 * 1024 * 1024 }, 1);
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  figures.oneTiBHeapBytes = after - before;
  console.log(`1 TiB mapped (512 x 2 GiB areas): heap +${fmt(after - before)} B total; 16 MiB pin: heap +${fmt(pinned - after)} B; MD_CHECK_REFS of 16 MiB: ${ms.toFixed(2)} ms`);
  be.closeAccess(access);
  be.close();
}

// access_rw throughput through an access, for small and large transfers,
// reading and writing the caller's real bytes across area boundaries.
{
  const be = SimBackend.open();
  const ioas = be.ioasAlloc();
  const size = 4 * 1024 * 1024;
  const mem = new Uint8Array(size);
  // Two areas so the large transfers cross an area boundary.
  be.ioasMap(ioas, FIXED, { bytes: mem, offset: 0, length: size / 2 }, 1n << 24n);
  be.ioasMap(ioas, FIXED, { bytes: mem, offset: size / 2, length: size / 2 }, (1n << 24n) + BigInt(size / 2));
  const access = be.createAccess(ioas, 0);
  for (const [label, length, count] of [
    ['64 B', 64, 200000],
    ['1 MiB', 1024 * 1024, 400],
  ]) {
    const tmp = { bytes: new Uint8Array(length), offset: 0, length };
    const span = size - length;
    const t = process.hrtime.bigint();
    for (let i = 0; i < count; i++) be.accessRw(access, i & 1, (1n << 24n) + BigInt((i * 4099) % span), tmp);
    const seconds = Number(process.hrtime.bigint() - t) / 1e9;
    figures.accessRwMBps[label] = (length * count) / seconds / 1e6;
    console.log(`access_rw ${label}: ${figures.accessRwMBps[label].toFixed(1)} MB/s (${fmt(count / seconds)} ops/s)`);
  }
  be.closeAccess(access);
  be.close();
}

mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/sim.json', import.meta.url),
  JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, figures }, null, 2),
);
console.log('wrote bench/results/sim.json');
