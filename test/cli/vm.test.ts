// `iommufd vm` boots the test kernel and runs a command inside: here the
// command itself, so this also checks what `info` finds on the real kernel.
// The kernel is built before any test (scripts/test.mjs, .ci/run) and named by
// IOMMUFD_KERNEL: a test's timeout must never cover a kernel build.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect, test } from 'vitest';
import { iommufd } from './cli.js';

const strict = Boolean(process.env.CI) || process.env.IOMMUFD_REQUIRE_KERNEL === '1';
const kernel = process.env.IOMMUFD_KERNEL;
const missing = [
  ...(spawnSync('sh', ['-c', 'command -v qemu-system-x86_64'], { stdio: 'ignore' }).status === 0 ? [] : ['qemu-system-x86_64']),
  ...(kernel ? [] : ['a built test kernel in IOMMUFD_KERNEL (`npm test` builds one first; or `npx iommufd vm --build`)']),
];

test('vm -- iommufd info --json: the command runs in the VM on the native backend with the test mock', { timeout: 600_000 }, async (ctx) => {
  if (missing.length > 0) {
    if (strict) throw new Error(`the VM test needs ${missing.join(', ')}`);
    ctx.skip(`needs ${missing.join(', ')}`);
  }
  const r = await iommufd(['vm', '--kernel', kernel!, '--', 'iommufd', 'info', '--json']); // 'iommufd' in the VM is this command
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/\[vm\] guest up/); // progress while booting
  const info = JSON.parse(r.stdout); // the command's output only, streamed back
  expect(info).toMatchObject({ backend: 'native', testMock: true, device: { present: true, openable: true }, addon: { available: true } });
  // build-kernel.sh records the version it built next to a cached bzImage.
  const recorded = join(dirname(kernel!), 'release');
  const release = existsSync(recorded) ? readFileSync(recorded, 'utf8').trim() : '6.12.';
  expect(info.kernel.release.startsWith(release), `${info.kernel.release} is not ${release}`).toBe(true);
  expect(info.capabilities.native).toMatchObject({ backend: 'native', failNth: true });
});
