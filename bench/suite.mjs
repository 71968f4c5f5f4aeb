#!/usr/bin/env node
// `npm run bench:suite`: what the test rig costs — the scenario suite and the
// port of the kernel's selftest on the simulator (host) vs on the kernel (inside
// the VM), a bare VM boot, the kernel build (cached; cold with --cold, which
// builds into a fresh cache), and per kernel version the kernel's own C selftest
// (iommufd, iommufd_fail_nth; bench/cselftest.mjs builds it) against our port of
// it, both timed in the same VM (bench/suite-in-vm.sh).
//
// --c-vs-port: only the C selftest vs the port (no host suites, boot or build figures).
// --icount: only the C selftest vs the port too, in VMs run with `-icount shift=0,sleep=off`
// (scripts/vm.mjs): the guest `date` the timings come from then counts guest
// instructions, so the figures are exact and repeatable however loaded the host is.
// (The guest's two vCPUs then share one instruction stream: time counts the work of
// both, parallel or not.) IOMMUFD_KERNEL_VERSIONS=7.3 limits either mode to one kernel.
// Writes bench/results/suite.json, keeping the figures of the other mode and kernels. Not a test.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { testedKernels } from '../scripts/kernels.mjs';
import { runInVm } from '../scripts/vm.mjs';
import { buildCSelftest } from './cselftest.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cold = process.argv.includes('--cold');
const icount = process.argv.includes('--icount');
const cVsPortOnly = icount || process.argv.includes('--c-vs-port');
const resultFile = join(root, 'bench', 'results', 'suite.json');
const previous = existsSync(resultFile) ? JSON.parse(readFileSync(resultFile, 'utf8')) : {};
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

let figures = previous.figures;
if (!cVsPortOnly) {
  figures = {};
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
}

/** bench/suite-in-vm.sh in one VM of `version`: { name: { rc, seconds, summary } }. */
async function cSelftestVsPort(version, cDir) {
  let out = '';
  const collect = new Writable({ write: (chunk, _e, done) => ((out += chunk), done()) });
  // Under icount one host thread runs both vCPUs: on a shared host the run takes well over
  // the default 30 min (the 7.3 one timed out at it with other VMs running).
  const timeout = icount ? 4 * 3600 : undefined;
  const code = await runInVm(['bench/suite-in-vm.sh', cDir], { cwd: root, stdout: collect, kernelVersion: version, icount, timeout });
  if (code !== 0) throw new Error(`bench/suite-in-vm.sh on ${version} exited with ${code}`);
  const runs = {};
  for (const m of out.matchAll(/^@@bench (\S+) rc=(\d+) ms=(\d+) ?(.*)$/gm))
    runs[m[1]] = { rc: Number(m[2]), seconds: Number(m[3]) / 1000, summary: m[4].trim() };
  // Vitest's own split of the port's time (summed over workers), e.g. "transform 1.2s, collect 3.4s, tests 20.1s".
  for (const m of out.matchAll(/^@@phases (\S+) (.*)$/gm)) if (runs[m[1]]) runs[m[1]].vitestPhases = m[2].replace(/\x1b\[[0-9;]*m/g, '').trim();
  for (const name of ['warm-cache', 'c-iommufd', 'c-fail-nth', 'port-iommufd', 'port-fail-nth'])
    if (!runs[name]) throw new Error(`bench/suite-in-vm.sh on ${version} printed no figure for ${name}`);
  // The port must pass; the C selftest's own failures (rc 1) are reported, not fatal.
  for (const name of ['port-iommufd', 'port-fail-nth'])
    if (runs[name].rc !== 0) throw new Error(`${name} failed on ${version}: ${runs[name].summary}`);
  return runs;
}

const key = icount ? 'selftestVsCIcount' : 'selftestVsC';
const selftestVsC = { ...previous[key] };
for (const version of testedKernels()) {
  const { dir, patch } = buildCSelftest(version);
  const runs = await cSelftestVsPort(version, dir);
  const ratio = (port, c) => runs[port].seconds / runs[c].seconds;
  selftestVsC[version] = {
    cPatched: patch !== null,
    runs,
    portOverC: ratio('port-iommufd', 'c-iommufd'),
    failNthPortOverC: ratio('port-fail-nth', 'c-fail-nth'),
  };
  console.log(`${version}${icount ? ' (icount)' : ''}: C selftest ${runs['c-iommufd'].seconds.toFixed(1)} s (${runs['c-iommufd'].summary}${patch ? '; patched to compile' : ''})`);
  console.log(`${version}: port       ${runs['port-iommufd'].seconds.toFixed(1)} s (${runs['port-iommufd'].summary}), ${selftestVsC[version].portOverC.toFixed(1)}× C`);
  console.log(`${version}: C fail_nth ${runs['c-fail-nth'].seconds.toFixed(1)} s (${runs['c-fail-nth'].summary})`);
  console.log(`${version}: port       ${runs['port-fail-nth'].seconds.toFixed(1)} s (${runs['port-fail-nth'].summary}), ${selftestVsC[version].failNthPortOverC.toFixed(1)}× C`);
}

mkdirSync(join(root, 'bench', 'results'), { recursive: true });
const units = {
  selftestVsC: 'seconds of wall time (guest clock; tcg unless KVM works)',
  selftestVsCIcount: 'seconds of guest time under -icount shift=0,sleep=off: guest instructions / 1e9',
};
writeFileSync(
  resultFile,
  JSON.stringify({ ...previous, date: new Date().toISOString(), node: process.version, figures, [key]: selftestVsC, units }, null, 2) + '\n',
);
console.log('wrote bench/results/suite.json');
