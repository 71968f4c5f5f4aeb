#!/usr/bin/env node
// Build the native addon from native/*.cc with node-gyp.
//
//   node scripts/build-addon.mjs [--werror] [--prebuild]
//
// The package ships the addon prebuilt (prebuilds/<platform>-<arch>/iommufd.node) and has
// no install script, so `npm install iommufd` runs nothing. This script is the source build,
// run only when asked: by `npm install` in a checkout (the `prepare` script, with --werror),
// by `npx iommufd build-addon` in an installed package, and with --prebuild by `npm pack`
// (the `prepack` script), which copies the result to prebuilds/linux-<arch>/, and cross-builds
// linux-arm64 on an x64 machine with Debian's aarch64 compiler. Warnings are errors only
// with --werror: a user's newer compiler must not fail the build over a new warning.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
for (const a of args) {
  if (a !== '--werror' && a !== '--prebuild') {
    console.error('usage: node scripts/build-addon.mjs [--werror] [--prebuild]');
    process.exit(2);
  }
}

/** Our pinned node-gyp in a checkout; npm's own (npm sets npm_config_node_gyp) or PATH's elsewhere. */
function nodeGyp() {
  try {
    return [process.execPath, require.resolve('node-gyp/bin/node-gyp.js')];
  } catch {
    if (process.env.npm_config_node_gyp) return [process.execPath, process.env.npm_config_node_gyp];
    // npm's bundled copy, next to the npm that came with this node.
    const bundled = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (existsSync(bundled)) return [process.execPath, bundled];
    return ['node-gyp'];
  }
}

if (process.platform !== 'linux') {
  console.error(`iommufd: the native addon needs Linux (this is ${process.platform}); the simulator backend works without it.`);
  process.exit(1);
}

/** node-gyp rebuild in `dir` (holding binding.gyp); extra args and env for a cross build. */
function gyp(dir, extraArgs = [], extraEnv = {}) {
  const [cmd, ...gypArgs] = nodeGyp();
  gypArgs.push('rebuild', '--directory', dir, ...extraArgs);
  // Build against the local Node headers when they are installed: no download needed.
  if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) gypArgs.push('--nodedir=/usr');
  const env = { ...process.env, IOMMUFD_WERROR: args.includes('--werror') ? '1' : '0', ...extraEnv };
  const result = spawnSync(cmd, gypArgs, { cwd: root, stdio: 'inherit', env });
  if (result.error || result.status !== 0) {
    console.error(`iommufd: could not build the native addon (${result.error ? result.error.message : `node-gyp exited with ${result.status}`}).`);
    console.error('iommufd: it needs a C++ toolchain and Node headers: apt-get install g++ make python3 (and nodejs-dev without /usr/include/node).');
    process.exit(1);
  }
  return join(dir, 'build', 'Release', 'iommufd.node');
}

function prebuild(built, arch) {
  const dir = join(root, 'prebuilds', `linux-${arch}`);
  mkdirSync(dir, { recursive: true });
  copyFileSync(built, join(dir, 'iommufd.node'));
  console.error(`iommufd: prebuilt addon in ${join(dir, 'iommufd.node')}`);
}

// binding.gyp lives in native/: at the package root npm would run node-gyp on every install.
const built = gyp(join(root, 'native'));
if (!args.includes('--prebuild')) {
  console.error(`iommufd: built ${built}`);
  process.exit(0);
}
prebuild(built, process.arch);

// linux-arm64 too, where Debian's cross compiler is installed (g++-aarch64-linux-gnu): the
// addon uses only N-API, so Node's headers of any architecture build it. Built in a copy of
// native/, so native/build keeps the addon of this machine.
const cross = { CC: 'aarch64-linux-gnu-gcc', CXX: 'aarch64-linux-gnu-g++', LINK: 'aarch64-linux-gnu-g++', AR: 'aarch64-linux-gnu-ar' };
if (process.arch === 'x64') {
  if (spawnSync('sh', ['-c', `command -v ${cross.CXX}`], { stdio: 'ignore' }).status !== 0) {
    console.error(`iommufd: no linux-arm64 prebuilt: ${cross.CXX} is missing (apt-get install g++-aarch64-linux-gnu)`);
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'iommufd-arm64-'));
    for (const f of readdirSync(join(root, 'native'))) if (/\.(cc|h|gyp)$/.test(f)) copyFileSync(join(root, 'native', f), join(dir, f));
    // node-addon-api's headers resolve from here, as from native/.
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    prebuild(gyp(dir, ['--arch=arm64'], cross), 'arm64');
    rmSync(dir, { recursive: true, force: true });
  }
}
