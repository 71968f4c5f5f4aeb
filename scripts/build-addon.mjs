#!/usr/bin/env node
// Build the native addon from native/*.cc with node-gyp.
//
//   node scripts/build-addon.mjs [--werror] [--prebuild]
//
// The package ships the addon prebuilt (prebuilds/<platform>-<arch>/iommufd.node) and has
// no install script, so `npm install iommufd` runs nothing. This script is the source build,
// run only when asked: by `npm install` in a checkout (the `prepare` script, with --werror),
// by `npx iommufd build-addon` in an installed package, and with --prebuild by `npm pack`
// (the `prepack` script), which copies the result to prebuilds/. Warnings are errors only
// with --werror: a user's newer compiler must not fail the build over a new warning.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
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
const [cmd, ...gypArgs] = nodeGyp();
// binding.gyp lives in native/: at the package root npm would run node-gyp on every install.
gypArgs.push('rebuild', '--directory', join(root, 'native'));
// Build against the local Node headers when they are installed: no download needed.
if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) gypArgs.push('--nodedir=/usr');
const env = { ...process.env, IOMMUFD_WERROR: args.includes('--werror') ? '1' : '0' };
const result = spawnSync(cmd, gypArgs, { cwd: root, stdio: 'inherit', env });
if (result.error || result.status !== 0) {
  console.error(`iommufd: could not build the native addon (${result.error ? result.error.message : `node-gyp exited with ${result.status}`}).`);
  console.error('iommufd: it needs a C++ toolchain and Node headers: apt-get install g++ make python3 (and nodejs-dev without /usr/include/node).');
  process.exit(1);
}
const built = join(root, 'native', 'build', 'Release', 'iommufd.node');
if (args.includes('--prebuild')) {
  const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  mkdirSync(dir, { recursive: true });
  copyFileSync(built, join(dir, 'iommufd.node'));
  console.error(`iommufd: prebuilt addon in ${join(dir, 'iommufd.node')}`);
} else {
  console.error(`iommufd: built ${built}`);
}
