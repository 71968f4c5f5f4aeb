#!/usr/bin/env node
// `npm test`: the host and simulator tests, then the kernel tests inside a QEMU VM booted on
// the iommufd test kernel (built from Debian's linux-source-6.12 and cached).
// Without qemu or the kernel source the VM part is skipped with a loud notice,
// except in CI (CI or IOMMUFD_REQUIRE_KERNEL=1 set), where that is a failure.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runInVm } from './vm.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const strict = Boolean(process.env.CI) || process.env.IOMMUFD_REQUIRE_KERNEL === '1';
const SUMMARY = /^([\w-]+): (\d+) passed, (\d+) failed, (\d+) skipped$/m;

/** Passes text through to stdout and keeps it, to read the closing line. */
function tee() {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += chunk;
      process.stdout.write(chunk, done);
    },
  });
  return { stream, text: () => text };
}

function counts(text) {
  const match = SUMMARY.exec(text);
  if (!match) return null;
  // run-vitest.mjs follows its closing line with "<project>: skipped N: reason" lines,
  // and the fuzz project prints "fuzz: N sequences, N steps, N divergences".
  const notes = text.split('\n').filter((l) => l.startsWith(`${match[1]}: skipped `) || /^fuzz: \d+ sequences/.test(l));
  return { passed: +match[2], failed: +match[3], skipped: +match[4], notes };
}

async function runOnHost(project) {
  const out = tee();
  const child = spawn(process.execPath, [join(root, 'scripts/run-vitest.mjs'), project], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout.pipe(out.stream);
  const code = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  return { code, counts: counts(out.text()) };
}

function missingForKernel() {
  const missing = [];
  const has = (tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
  if (!has('qemu-system-x86_64')) missing.push('qemu-system-x86_64 (apt-get install qemu-system-x86)');
  if (!process.env.IOMMUFD_KERNEL) {
    if (!existsSync('/usr/src/linux-source-6.12.tar.xz')) missing.push('the kernel source (apt-get install linux-source-6.12)');
    for (const tool of ['make', 'gcc', 'flex', 'bison', 'bc'])
      if (!has(tool)) missing.push(`${tool} (apt-get install build-essential flex bison bc libelf-dev libssl-dev)`);
  }
  if (!existsSync(join(root, 'build/Release/iommufd.node'))) missing.push('the native addon (npm rebuild)');
  return missing;
}

function banner(lines) {
  const width = Math.max(...lines.map((l) => l.length)) + 4;
  const bar = '!'.repeat(width);
  console.error(['', bar, ...lines.map((l) => `! ${l.padEnd(width - 4)} !`), bar, ''].join('\n'));
}

async function runKernel(project = 'kernel', profile = 'default') {
  const out = tee();
  const env = { IOMMUFD_REQUIRE_KERNEL: strict ? '1' : '0' };
  if (process.env.CI) env.CI = process.env.CI;
  const code = await runInVm(['node', 'scripts/run-vitest.mjs', project], {
    cwd: root,
    env,
    kernel: process.env.IOMMUFD_KERNEL || undefined,
    profile,
    stdout: out.stream,
  });
  const c = counts(out.text());
  // In CI every VFIO test must run: a skip is a failure (run-vitest.mjs does this for `kernel`).
  if (project === 'vfio' && strict && c && c.skipped > 0) {
    console.error(`${project}: ${c.skipped} test(s) skipped inside the VM: in CI every one must run`);
    return { code: code || 1, counts: c };
  }
  return { code, counts: c };
}

const results = [];
// cli runs bin/iommufd.js as a process (and rebuilds dist/ if stale, which cli-kernel in the VM relies on).
for (const project of ['host', 'sim', 'selftest-sim', 'cli']) results.push([project, await runOnHost(project)]);
const missing = missingForKernel();
if (missing.length > 0) {
  banner([
    'The kernel tests did NOT run: they need a VM with a real iommufd kernel.',
    'Missing:',
    ...missing.map((m) => `  - ${m}`),
    strict ? 'CI requires the kernel run: failing.' : 'Install these and run `npm test` again.',
  ]);
  if (strict)
    for (const project of ['kernel', 'selftest-kernel', 'fuzz', 'cli-kernel', 'vfio']) results.push([project, { code: 1, counts: null }]);
} else {
  console.log('\n=== kernel tests (inside the QEMU VM) ===');
  results.push(['kernel', await runKernel()]);
  console.log('\n=== the kernel selftest port (inside the QEMU VM) ===');
  results.push(['selftest-kernel', await runKernel('selftest-kernel')]);
  console.log('\n=== differential fuzzing: the kernel and the simulator, step by step (inside the QEMU VM) ===');
  results.push(['fuzz', await runKernel('fuzz')]);
  console.log('\n=== the iommufd command on the kernel (inside the QEMU VM) ===');
  results.push(['cli-kernel', await runKernel('cli-kernel')]);
  // q35 + emulated Intel VT-d + QEMU's edu device: VFIO cdev, real device DMA.
  console.log('\n=== VFIO device tests (inside the QEMU VM, vtd profile: emulated VT-d + edu) ===');
  results.push(['vfio', await runKernel('vfio', 'vtd')]);
}

console.log('\n=== summary ===');
const total = { passed: 0, failed: 0, skipped: 0 };
let ok = true;
for (const [name, { code, counts: c }] of results) {
  if (code !== 0 || !c) ok = false;
  if (!c) {
    console.log(`${name}: no results (exit ${code})`);
    total.failed++;
    continue;
  }
  console.log(`${name}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped${code !== 0 ? ` (exit ${code})` : ''}`);
  for (const note of c.notes) console.log(`  ${note.slice(name.length + 2)}`);
  total.passed += c.passed;
  total.failed += c.failed;
  total.skipped += c.skipped;
}
if (!ok && total.failed === 0) total.failed = 1; // a run that broke without counting a failure
console.log(`\ntotal: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(ok ? 0 : 1);
