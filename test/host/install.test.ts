// `npm install` must succeed, and say why, where the addon cannot be built.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
// A copy of what the install hook needs, so a failed rebuild cannot touch our build/.
const copy = mkdtempSync(join(tmpdir(), 'iommufd-install-'));
afterAll(() => rmSync(copy, { recursive: true, force: true }));

test('without a toolchain the install hook exits 0 and explains', () => {
  cpSync(join(root, 'binding.gyp'), join(copy, 'binding.gyp'));
  cpSync(join(root, 'native'), join(copy, 'native'), { recursive: true });
  cpSync(join(root, 'scripts', 'install.mjs'), join(copy, 'scripts', 'install.mjs'));
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
  const result = spawnSync(process.execPath, ['scripts/install.mjs'], {
    cwd: copy,
    // No make, no g++, no python on PATH: node-gyp cannot build.
    env: { PATH: '/nonexistent', HOME: copy },
    encoding: 'utf8',
  });
  expect(result.status).toBe(0);
  expect(result.stderr).toMatch(/iommufd: could not build the native addon/);
  expect(result.stderr).toMatch(/npm rebuild iommufd/);
  expect(existsSync(join(copy, 'build', 'Release', 'iommufd.node'))).toBe(false);
});

test('IOMMUFD_SKIP_NATIVE=1 skips the build and says so', () => {
  const result = spawnSync(process.execPath, [join(root, 'scripts', 'install.mjs')], {
    cwd: copy,
    env: { PATH: process.env.PATH, IOMMUFD_SKIP_NATIVE: '1' },
    encoding: 'utf8',
  });
  expect(result.status).toBe(0);
  expect(result.stderr).toMatch(/IOMMUFD_SKIP_NATIVE=1/);
});
