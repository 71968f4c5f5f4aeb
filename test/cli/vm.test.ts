// `iommufd vm` boots the test kernel and runs a command inside: here the
// command itself, so this also checks what `info` finds on the real kernel.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { expect, test } from 'vitest';
import { iommufd } from './cli.js';

const strict = Boolean(process.env.CI) || process.env.IOMMUFD_REQUIRE_KERNEL === '1';
const missing = [
  ...(spawnSync('sh', ['-c', 'command -v qemu-system-x86_64'], { stdio: 'ignore' }).status === 0 ? [] : ['qemu-system-x86_64']),
  ...(process.env.IOMMUFD_KERNEL || existsSync('/usr/src/linux-source-6.12.tar.xz') ? [] : ['linux-source-6.12']),
];

test('vm -- iommufd info --json: the command runs in the VM on the native backend with the test mock', { timeout: 600_000 }, async (ctx) => {
  if (missing.length > 0) {
    if (strict) throw new Error(`the VM test needs ${missing.join(', ')}`);
    ctx.skip(`needs ${missing.join(', ')}`);
  }
  const r = await iommufd(['vm', '--', 'iommufd', 'info', '--json']); // 'iommufd' in the VM is this command
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/\[vm\] guest up/); // progress while booting
  const info = JSON.parse(r.stdout); // the command's output only, streamed back
  expect(info).toMatchObject({ backend: 'native', testMock: true, device: { present: true, openable: true }, addon: { available: true } });
  expect(info.kernel.release).toMatch(/^6\.12\./);
  expect(info.capabilities.native).toMatchObject({ backend: 'native', failNth: true });
});
