#!/usr/bin/env node
// `npm test`: build (or reuse) the test kernels first, as a step of their own, then the
// host and simulator tests, then the kernel tests inside a QEMU VM booted on each kernel
// of the matrix (scripts/kernels.mjs: Debian's linux-source per version, cached).
// Without qemu or the kernel source the VM part is skipped with a loud notice,
// except in CI (CI or IOMMUFD_REQUIRE_KERNEL=1 set), where that is a failure.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { buildKernel, missingToBuild, testedKernels } from './kernels.mjs';
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
  // and the fuzz projects print "fuzz: N sequences, ..." and "hostile: N sequences, ...".
  const notes = text.split('\n').filter((l) => l.startsWith(`${match[1]}: skipped `) || /^(fuzz|hostile): \d+ sequences,/.test(l));
  return { passed: +match[2], failed: +match[3], skipped: +match[4], notes };
}

async function runOnHost(project, env = {}) {
  const out = tee();
  const child = spawn(process.execPath, [join(root, 'scripts/run-vitest.mjs'), project], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout.pipe(out.stream);
  const code = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  return { code, counts: counts(out.text()) };
}

const has = (tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;

function missingForKernel(versions) {
  const missing = [];
  if (!has('qemu-system-x86_64')) missing.push('qemu-system-x86_64 (apt-get install qemu-system-x86)');
  if (!process.env.IOMMUFD_KERNEL) for (const v of versions) missing.push(...missingToBuild(v, has));
  if (!existsSync(join(root, 'native/build/Release/iommufd.node'))) missing.push('the native addon (npm run build:native)');
  return [...new Set(missing)];
}

function banner(lines) {
  const width = Math.max(...lines.map((l) => l.length)) + 4;
  const bar = '!'.repeat(width);
  console.error(['', bar, ...lines.map((l) => `! ${l.padEnd(width - 4)} !`), bar, ''].join('\n'));
}

// The hostile-input fuzzer's workers in the VM load an ASan+UBSan build of the addon.
const ASAN_ADDON = join(root, 'build-asan', 'Release', 'iommufd.node');
const ASAN_RUNTIME = '/usr/lib/gcc/x86_64-linux-gnu/12/libasan.so';

function buildAsanAddon() {
  const sources = Math.max(nativeSourcesTime(), newest(join(root, 'CMakeLists.txt')));
  if (existsSync(ASAN_ADDON) && newest(ASAN_ADDON) >= sources && instrumented(ASAN_ADDON)) return true;
  console.log('=== the ASan + UBSan addon for the hostile-input fuzzer (build-asan/) ===');
  const cmakeJs = join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
  const built = spawnSync(process.execPath, [cmakeJs, 'rebuild', '--out', 'build-asan', '--CDIOMMUFD_SANITIZE=address,undefined'], { cwd: root, stdio: 'inherit' }).status === 0;
  if (built && !instrumented(ASAN_ADDON)) console.error(`${ASAN_ADDON} was built without ASan instrumentation`);
  return built && instrumented(ASAN_ADDON);
}

/** Whether an addon was compiled with ASan and UBSan (it calls into both runtimes), not only run with libasan preloaded. */
function instrumented(path) {
  const image = readFileSync(path);
  return image.includes('__asan_init') && image.includes('__ubsan_handle_');
}

async function runKernel(kernel, project = 'kernel', profile = 'default') {
  const out = tee();
  const env = { IOMMUFD_REQUIRE_KERNEL: strict ? '1' : '0' };
  if (project === 'hostile-kernel') Object.assign(env, { IOMMUFD_ASAN_ADDON: ASAN_ADDON, IOMMUFD_ASAN_RUNTIME: ASAN_RUNTIME });
  if (process.env.CI) env.CI = process.env.CI;
  const code = await runInVm(['node', 'scripts/run-vitest.mjs', project], {
    cwd: root,
    env,
    kernel,
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

/** Newest modification time of the addon's sources (native/, but its build output). */
function nativeSourcesTime() {
  return Math.max(...readdirSync(join(root, 'native')).filter((f) => f !== 'build').map((f) => newest(join(root, 'native', f))));
}

/** Newest modification time under `path` (a file or a directory tree). */
function newest(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(st.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))));
}

// The package has no install scripts (a strict `npm install` refuses them), so the
// first step here compiles what the tests load: dist/ (tsc) and the addon, if stale.
function build() {
  console.log('=== build: lib/ -> dist/ (tsc), native/ -> native/build/Release/iommufd.node ===');
  const step = (args) => spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' }).status === 0;
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!step([tsc, '-p', 'tsconfig.json'])) return false;
  const addon = join(root, 'native', 'build', 'Release', 'iommufd.node');
  const sources = nativeSourcesTime();
  if (existsSync(addon) && newest(addon) >= sources) return true;
  return step([join(root, 'scripts', 'build-addon.mjs'), '--werror']);
}

const results = [];
if (!build()) results.push(['build', { code: 1, counts: null }]);
const versions = testedKernels();
const missing = missingForKernel(versions);
// The kernels first, each a step of its own with progress, so no test times a build.
const kernels = new Map(); // version -> bzImage
if (missing.length === 0) {
  for (const version of process.env.IOMMUFD_KERNEL ? [] : versions) {
    console.log(`\n=== the ${version} test kernel (built once, then cached) ===`);
    try {
      kernels.set(version, await buildKernel({ version }));
    } catch (err) {
      console.error(err.message);
      results.push([`kernel build ${version}`, { code: 1, counts: null }]);
    }
  }
  if (process.env.IOMMUFD_KERNEL) kernels.set(versions[0], process.env.IOMMUFD_KERNEL);
}
// With one kernel the project names stay as they were; with several each gets @version.
const named = (project, version) => (versions.length > 1 ? `${project}@${version}` : project);
// The `cli` project boots a VM too (`iommufd vm`): it gets the first kernel, built above.
const firstKernel = [...kernels.values()][0];
results.push(['host', await runOnHost('host')]);
// The simulator's suites once per kernel it models (IOMMUFD_SIM_KERNEL, test/backend.ts).
for (const version of versions)
  for (const project of ['sim', 'selftest-sim', 'hostile-sim']) results.push([named(project, version), await runOnHost(project, { IOMMUFD_SIM_KERNEL: version })]);
// cli runs bin/iommufd.js as a process (and rebuilds dist/ if stale, which cli-kernel in the VM relies on).
results.push(['cli', await runOnHost('cli', firstKernel ? { IOMMUFD_KERNEL: firstKernel } : {})]);
const VM_PROJECTS = [
  ['kernel', 'kernel tests', 'default'],
  ['selftest-kernel', 'the kernel selftest port', 'default'],
  ['fuzz', 'differential fuzzing: the kernel and the simulator, step by step', 'default'],
  ['hostile-kernel', 'hostile-input fuzzing on the kernel (ASan + UBSan addon)', 'default'],
  ['cli-kernel', 'the iommufd command on the kernel', 'default'],
  // q35 + emulated Intel VT-d + QEMU's edu device: VFIO cdev, real device DMA.
  ['vfio', 'VFIO device tests (vtd profile: emulated VT-d + edu)', 'vtd'],
  // q35 + edu without an IOMMU, VFIO's unsafe no-IOMMU mode: NOIOMMU_GET_PA (7.3; 6.12 skips "kernel lacks").
  ['noiommu', 'no-IOMMU VFIO device and NOIOMMU_GET_PA (noiommu profile: edu, no IOMMU)', 'noiommu'],
];
if (missing.length > 0) {
  banner([
    'The kernel tests did NOT run: they need a VM with a real iommufd kernel.',
    'Missing:',
    ...missing.map((m) => `  - ${m}`),
    strict ? 'CI requires the kernel run: failing.' : 'Install these and run `npm test` again.',
  ]);
  if (strict) for (const v of versions) for (const [project] of VM_PROJECTS) results.push([named(project, v), { code: 1, counts: null }]);
} else {
  if (!buildAsanAddon()) results.push(['build-asan', { code: 1, counts: null }]);
  for (const [version, kernel] of kernels) {
    for (const [project, title, profile] of VM_PROJECTS) {
      console.log(`\n=== ${title} (inside the QEMU VM, Linux ${version}) ===`);
      results.push([named(project, version), await runKernel(kernel, project, profile)]);
    }
  }
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
  for (const note of c.notes) console.log(`  ${note.replace(/^[\w-]+: /, '')}`);
  total.passed += c.passed;
  total.failed += c.failed;
  total.skipped += c.skipped;
}
if (!ok && total.failed === 0) total.failed = 1; // a run that broke without counting a failure
console.log(`\ntotal: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(ok ? 0 : 1);
