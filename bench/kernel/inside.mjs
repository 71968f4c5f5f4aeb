// Runs inside the test VM (see bench/kernel/run.mjs): the three workloads in C
// (compiled here), in TypeScript one call per op, and in TypeScript batched,
// each repeated; prints one JSON document between markers.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DmaBuffer, IOMMUFD_CMDS, Iommufd, errnoNumber } from '../../dist/index.js';
import { addon } from '../../dist/native/binding.js';

const here = dirname(fileURLToPath(import.meta.url));
const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
const IOVA = 1n << 24n;
const TWO_MIB = 2 * 1024 * 1024;

const binary = join(mkdtempSync(join(tmpdir(), 'bench-')), 'ioctl_bench');
execFileSync('g++', ['-O2', '-std=c++17', '-o', binary, join(here, 'ioctl_bench.cc')], { stdio: 'inherit' });

function timeIt(fn) {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** fd.batch() that must run every op: a batch stopping early would time nothing. */
function batchAll(fd, build) {
  const result = fd.batch(build);
  if (result.error) throw result.error;
}

/** `fn` with a fresh iommufd and a 2 MiB buffer, both released afterwards. */
function withFd(fn) {
  const fd = Iommufd.open();
  const buffer = DmaBuffer.alloc(TWO_MIB);
  try {
    return fn(fd, buffer);
  } finally {
    fd.close();
    buffer.free();
  }
}

function runTs(batched) {
  return withFd((fd, buffer) => workloads(fd, buffer, batched));
}

function workloads(fd, buffer, batched) {
  buffer.bytes.fill(0x5a);
  const ioas = fd.allocIoas();
  const out = {};

  out.map4k = timeIt(() => {
    if (batched) {
      batchAll(fd, (b) => {
        for (let i = 0; i < 10000; i++) b.mapFixed(ioas, IOVA, buffer, { length: 4096 }).unmap(ioas, IOVA, 4096);
      });
    } else {
      for (let i = 0; i < 10000; i++) {
        ioas.mapFixed(IOVA, buffer, { length: 4096 });
        ioas.unmap(IOVA, 4096);
      }
    }
  });

  ioas.mapFixed(IOVA, buffer, { length: 4 * 4096 });
  const access = fd.createAccess(ioas);
  const tmp = new Uint8Array(64);
  let ops = 0;
  out.accessRw = timeIt(() => {
    const sweep = (rw) => {
      for (let iova = IOVA + 4096n - 50n; iova < IOVA + 4096n + 50n; iova++)
        for (let length = 1; length < 64; length++) {
          rw(iova, length, false);
          rw(iova, length, true);
          ops += 2;
        }
    };
    if (batched) batchAll(fd, (b) => sweep((iova, length, write) => b.accessRw(access, iova, tmp, { length, write })));
    else sweep((iova, length, write) => access.rw(iova, tmp, { length, write }));
  });
  out.accessRwOps = ops;
  access.close();
  ioas.unmap(IOVA, 4 * 4096);

  fd.mockDomain(ioas);
  out.map2mDomain = timeIt(() => {
    if (batched) {
      batchAll(fd, (b) => {
        for (let i = 0; i < 1000; i++) b.mapFixed(ioas, IOVA, buffer).unmap(ioas, IOVA, TWO_MIB);
      });
    } else {
      for (let i = 0; i < 1000; i++) {
        ioas.mapFixed(IOVA, buffer);
        ioas.unmap(IOVA, TWO_MIB);
      }
    }
  });

  // (d) the floor of a call: an ioctl the kernel refuses at once (IOMMU_DESTROY
  // with size 0 is EINVAL), one N-API crossing each. There is no batch form: a
  // batch only runs ops that succeed.
  const EINVAL = errnoNumber('EINVAL');
  out.nullIoctl = timeIt(() => {
    for (let i = 0; i < 20000; i++) {
      if (fd.backend.probeIoctl(IOMMUFD_CMDS.IOMMU_DESTROY) !== EINVAL) throw new Error('IOMMU_DESTROY size 0: expected EINVAL');
    }
  });
  return out;
}

/**
 * Workload (a) through the addon's functions directly, skipping the typed API
 * (argument checks, memory references): splits TS's cost into the addon call
 * and the layer above it.
 */
function runAddonOnly() {
  return withFd((fd, buffer) => {
    const ioasId = fd.allocIoas().id;
    const raw = fd.backend.fd;
    const native = addon();
    const map4k = timeIt(() => {
      for (let i = 0; i < 10000; i++) {
        native.ioasMap(raw, ioasId, 7, buffer.bytes, 0, 4096, IOVA); // FIXED_IOVA | WRITEABLE | READABLE
        native.ioasUnmap(raw, ioasId, IOVA, 4096n);
      }
    });
    // The floor of any addon call: an op that does nothing, called as every op is.
    const noop = timeIt(() => {
      for (let i = 0; i < 20000; i++) native.noop();
    });
    return { map4k, noop };
  });
}

// Warm-up rounds first, not recorded: under TCG V8 takes a few rounds to
// optimize the TypeScript side, and the figures are meant for steady state.
const WARMUP = Number(process.env.BENCH_WARMUP ?? 4);
for (let r = 0; r < WARMUP; r++) {
  runTs(false);
  runTs(true);
  runAddonOnly();
}

const runs = { c: [], ts: [], tsBatch: [], addonOnly: [] };
for (let r = 0; r < REPEATS; r++) {
  // Interleave them so drift on the noisy host hits them alike.
  runs.c.push(JSON.parse(execFileSync(binary, { encoding: 'utf8' })));
  runs.ts.push(runTs(false));
  runs.tsBatch.push(runTs(true));
  runs.addonOnly.push(runAddonOnly());
}
console.log('@@BENCH-JSON@@');
console.log(JSON.stringify({ repeats: REPEATS, warmup: WARMUP, kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(), runs }));
console.log('@@BENCH-END@@');
