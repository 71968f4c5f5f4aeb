// The published package as a consumer gets it: `npm pack`, then `npm install` of the tarball
// into an empty folder with npm 11's --strict-allow-scripts, which refuses any dependency
// with an install script. The package has none: its addon is prebuilt, loaded from
// prebuilds/<platform>-<arch>/, and the CLI's selftest and vm find what they need in it.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { exec, lines, root } from './cli.js';

const work = mkdtempSync(join(tmpdir(), 'iommufd-consumer-'));
const consumer = join(work, 'app');
const installed = join(consumer, 'node_modules', 'iommufd');
afterAll(() => rmSync(work, { recursive: true, force: true }));

function npm(args: string[], cwd: string) {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const npmMajor = Number(npm(['--version'], root).out.trim().split('.')[0]);

beforeAll(() => {
  // `npm pack` runs prepack (tsc + a fresh addon build into prebuilds/). Here the addon of
  // this checkout is copied there instead: a rebuild would replace the file that the other
  // CLI tests load while they run. .ci/run packs once with prepack to prove that path.
  const addon = join(root, 'native', 'build', 'Release', 'iommufd.node');
  expect(existsSync(addon), 'the addon is built (npm run build)').toBe(true);
  const prebuilt = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  mkdirSync(prebuilt, { recursive: true });
  copyFileSync(addon, join(prebuilt, 'iommufd.node'));
  const pack = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], root);
  expect(pack.code, pack.out).toBe(0);
  const tarball = join(work, (JSON.parse(pack.out.slice(pack.out.indexOf('['))) as { filename: string }[])[0]!.filename);
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module', private: true }));
  const install = npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--strict-allow-scripts=true', tarball], consumer);
  expect(install.code, install.out).toBe(0);
}, 240_000);

const cli = (args: string[]) => exec(process.execPath, [join(installed, 'bin', 'iommufd.js'), ...args], { cwd: consumer });

describe('the packed package, installed with --strict-allow-scripts', () => {
  test('has no install scripts and no binding.gyp at its root (npm would run node-gyp on install)', () => {
    const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { scripts?: Record<string, string>; gypfile?: boolean };
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) expect(pkg.scripts?.[hook], hook).toBeUndefined();
    expect(existsSync(join(installed, 'binding.gyp'))).toBe(false);
    expect(existsSync(join(installed, 'native', 'build'))).toBe(false); // nothing was compiled
    expect(npmMajor, 'npm 11 or later, which has --strict-allow-scripts').toBeGreaterThanOrEqual(11);
  });

  test('imports, loads the prebuilt addon and opens the simulator where there is no /dev/iommu', async () => {
    writeFileSync(
      join(consumer, 'use.mjs'),
      [
        "import { Iommufd, DmaBuffer } from 'iommufd';",
        "const fd = Iommufd.open({ backend: 'sim' });",
        'const ioas = fd.allocIoas();',
        'const buffer = DmaBuffer.alloc(4096);', // an mmap by the addon
        "console.log(JSON.stringify({ backend: fd.backend.name, iova: String(ioas.mapAnywhere(buffer)) }));",
      ].join('\n'),
    );
    const r = await exec(process.execPath, ['use.mjs'], { cwd: consumer });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ backend: 'sim' });
    const info = JSON.parse((await cli(['info', '--json'])).stdout);
    expect(info.addon).toEqual({ available: true });
  });

  test('require() from CommonJS works on the Node versions engines names (require(esm), 20.19+)', async () => {
    const engines = (JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    expect(engines).toBe('>=20.19.0');
    writeFileSync(join(consumer, 'use.cjs'), "const { Iommufd } = require('iommufd'); console.log(Iommufd.open({ backend: 'sim' }).backend.name);\n");
    const r = await exec(process.execPath, ['use.cjs'], { cwd: consumer });
    expect([r.code, r.stdout], r.stderr).toEqual([0, 'sim\n']);
  });

  test("'auto' where a device exists but no addon loads is an error naming both ways out, never the simulator", async () => {
    writeFileSync(join(consumer, 'auto.mjs'), "import { Iommufd } from 'iommufd'; Iommufd.open({ path: '/dev/null' });\n");
    // /dev/null stands in for a /dev/iommu that exists; IOMMUFD_ADDON names an addon that is not there.
    const r = await exec(process.execPath, ['auto.mjs'], { cwd: consumer, env: { IOMMUFD_ADDON: join(work, 'missing.node') } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\/dev\/null exists but the native addon does not load/);
    expect(r.stderr).toMatch(/backend: 'sim'/);
  });

  test('run: a .js scenario runs; a .ts one without tsx on a Node that cannot strip types says what to install', async () => {
    writeFileSync(join(consumer, 'scenario.js'), 'export default function (fd) { console.log(fd.allocIoas().id > 0); }\n');
    const js = await cli(['run', 'scenario.js', '--backend', 'sim']);
    expect([js.code, js.stdout], js.stderr).toEqual([0, 'true\n']);
    const ts = await cli(['run', join(installed, 'examples', 'access.ts'), '--backend', 'sim']);
    if ((process.features as { typescript?: unknown }).typescript) expect(ts.code, ts.stderr).toBe(0);
    else {
      expect(ts.code).toBe(1);
      expect(lines(ts.stderr)).toEqual([expect.stringMatching(/is TypeScript, which Node .* cannot run by itself — npm install tsx/)]);
    }
  });

  test('selftest names its missing peer (vitest); vm finds its scripts and checks its arguments', async () => {
    const selftest = await cli(['selftest', '--backend', 'sim']);
    expect(selftest.code).toBe(1);
    expect(lines(selftest.stderr)).toEqual([expect.stringMatching(/vitest, which is not installed here — npm install -D vitest@3/)]);
    const vm = await cli(['vm', '--kernel-version', '9.9', '--', 'true']);
    expect(vm.code).toBe(2);
    expect(vm.stderr).toMatch(/unknown kernel version 9\.9 — the test rig builds 6\.12 and 7\.3/);
    for (const f of ['vm.mjs', 'kernels.mjs', 'build-kernel.sh', 'kernel.config', 'vm-init.sh']) expect(existsSync(join(installed, 'scripts', f)), f).toBe(true);
  });

  test('selftest with vitest installed runs the shipped suites on the simulator, as KTAP', async () => {
    // esbuild (under vitest) has a postinstall that only checks its binary: --ignore-scripts
    // keeps the strict install; this is the command README gives.
    const version = (JSON.parse(readFileSync(join(root, 'node_modules', 'vitest', 'package.json'), 'utf8')) as { version: string }).version;
    const add = npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '-D', `vitest@${version}`], consumer);
    expect(add.code, add.out).toBe(0);
    const r = await cli(['selftest', '--backend', 'sim', '--ktap', '--filter', '^ioas: ']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^KTAP version 1\n1\.\.\d+\n/);
    expect(r.stdout).toMatch(/^# Totals: pass:[1-9]\d* fail:0 /m);
  }, 120_000);
});
