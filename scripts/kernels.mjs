#!/usr/bin/env node
// The kernels the test rig boots, and building them as a step of their own.
//
//   node scripts/kernels.mjs [--kernel-version V]...   build (or reuse) each, print "V PATH"
//
// `npm test` and .ci/run build every kernel they will boot before any test starts, so no
// test's timeout ever covers a kernel build (a cold build takes 4-6 minutes on 2 cores).
// Also usable as a module: `import { buildKernel, testedKernels } from './kernels.mjs'`.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const BUILD_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'build-kernel.sh');

/** First-class kernels: Debian's source package per version, and how to install it. */
export const KERNELS = {
  '6.12': { tarball: '/usr/src/linux-source-6.12.tar.xz', install: 'apt-get install linux-source-6.12' },
  '7.3': {
    tarball: '/usr/src/linux-source-7.3.tar.xz',
    install: 'apt-get install -t trixie-backports linux-source-7.3 (after adding the suite, see README "Kernels")',
  },
};

/**
 * The kernel versions `npm test` boots: $IOMMUFD_KERNEL_VERSIONS (comma-separated) or the
 * default matrix. Only versions whose whole kernel suite passes belong in the default.
 */
export function testedKernels() {
  const list = (process.env.IOMMUFD_KERNEL_VERSIONS || '6.12,7.3').split(',').map((v) => v.trim()).filter(Boolean);
  for (const v of list) if (!Object.hasOwn(KERNELS, v)) throw new Error(`unknown kernel version ${v} (${Object.keys(KERNELS).join(', ')})`);
  return list;
}

/** What is missing to build `version` here, as install hints (empty: buildable). */
export function missingToBuild(version, has) {
  const missing = [];
  if (!existsSync(KERNELS[version].tarball)) missing.push(`the ${version} kernel source (${KERNELS[version].install})`);
  for (const tool of ['make', 'gcc', 'flex', 'bison', 'bc'])
    if (!has(tool)) missing.push(`${tool} (apt-get install build-essential flex bison bc libelf-dev libssl-dev)`);
  return missing;
}

/**
 * Build (or reuse from the cache) the test kernel; resolves to the bzImage path.
 * `source`: a developer's kernel tree instead of Debian's tarball. Progress goes to stderr.
 */
export function buildKernel({ version, source } = {}) {
  const args = [BUILD_SCRIPT];
  if (version) args.push('--kernel-version', version);
  if (source) args.push('--source', resolve(source));
  return new Promise((resolvePath, reject) => {
    // Own process group, so a signal can stop make and its compilers too.
    const child = spawn('bash', args, { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    const stop = () => {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    };
    process.once('SIGINT', stop).once('SIGTERM', stop);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', (err) => reject(new Error(`cannot run ${BUILD_SCRIPT}: ${err.message}`)));
    child.on('close', (code) => {
      process.off('SIGINT', stop).off('SIGTERM', stop);
      const bzImage = out.trim().split('\n').pop();
      if (code === 0 && bzImage) resolvePath(bzImage);
      else reject(new Error(`scripts/build-kernel.sh${version ? ` --kernel-version ${version}` : ''}${source ? ` --source ${source}` : ''} failed (exit ${code})`));
    });
  });
}

async function main(argv) {
  const versions = [];
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s);
    if (flag !== '--kernel-version') {
      console.error(`usage: node scripts/kernels.mjs [--kernel-version ${Object.keys(KERNELS).join('|')}]...`);
      return 2;
    }
    versions.push(inline ?? argv[++i]);
  }
  for (const version of versions.length ? versions : testedKernels()) {
    const started = Date.now();
    const path = await buildKernel({ version });
    console.error(`[kernel] ${version}: ready after ${((Date.now() - started) / 1000).toFixed(0)} s`);
    console.log(`${version} ${path}`);
  }
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2)).catch((err) => {
    console.error(`kernels.mjs: ${err.message}`);
    return 1;
  });
}
