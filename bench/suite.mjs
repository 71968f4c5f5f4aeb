#!/usr/bin/env node
// `npm run bench:suite`: what the test rig costs — the scenario suite and the
// port of the kernel's selftest (190 instances) on the simulator (host) vs on
// the kernel (inside the VM), a bare VM boot, and the kernel build (cached;
// cold with --cold, which builds into a fresh cache).
// Writes bench/results/suite.json. Not a test.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runInVm } from '../scripts/vm.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cold = process.argv.includes('--cold');
const quiet = new Writable({ write: (_c, _e, done) => done() });

async function seconds(fn) {
  const start = Date.now();
  const ok = await fn();
  if (ok === false) throw new Error('a measured step failed');
  return (Date.now() - start) / 1000;
}

function buildKernel(env = process.env) {
  const r = spawnSync('bash', [join(root, 'scripts/build-kernel.sh')], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  return r.status === 0;
}

const figures = {};
figures.kernelBuildCachedSeconds = await seconds(() => buildKernel());
if (cold) {
  const cache = mkdtempSync(join(tmpdir(), 'iommufd-cold-'));
  figures.kernelBuildColdSeconds = await seconds(() => buildKernel({ ...process.env, IOMMUFD_CACHE: cache }));
  rmSync(cache, { recursive: true, force: true });
}
figures.vmBootAndExitSeconds = await seconds(async () => (await runInVm(['true'], { cwd: root, stdout: quiet })) === 0);
figures.simSuiteSeconds = await seconds(
  () => spawnSync(process.execPath, ['scripts/run-vitest.mjs', 'sim'], { cwd: root, stdio: 'ignore' }).status === 0,
);
figures.kernelSuiteInVmSeconds = await seconds(
  async () => (await runInVm(['node', 'scripts/run-vitest.mjs', 'kernel'], { cwd: root, stdout: quiet })) === 0,
);
figures.kernelOverSim = figures.kernelSuiteInVmSeconds / figures.simSuiteSeconds;
figures.selftestPortSimSeconds = await seconds(
  () => spawnSync(process.execPath, ['scripts/run-vitest.mjs', 'selftest-sim'], { cwd: root, stdio: 'ignore' }).status === 0,
);
figures.selftestPortKernelInVmSeconds = await seconds(
  async () => (await runInVm(['node', 'scripts/run-vitest.mjs', 'selftest-kernel'], { cwd: root, stdout: quiet })) === 0,
);
figures.selftestPortKernelOverSim = figures.selftestPortKernelInVmSeconds / figures.selftestPortSimSeconds;

for (const [name, value] of Object.entries(figures)) console.log(`${name.padEnd(28)} ${value.toFixed(1)}`);
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'suite.json'), JSON.stringify({ date: new Date().toISOString(), node: process.version, figures }, null, 2));
console.log('wrote bench/results/suite.json');
