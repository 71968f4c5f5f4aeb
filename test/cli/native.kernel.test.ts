// The `iommufd` command on the real kernel, inside the QEMU VM (vitest project
// cli-kernel, run by scripts/test.mjs): info finds the mock, selftest picks
// the native backend by itself and prints valid KTAP, the examples pass, and a
// failing ioctl is reported in one line.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseKtap } from '../../lib/cli/ktap.js';
import { IOMMUFD_CMDS_7_3, IOMMU_TEST_OPS_7_3 } from '../../lib/uapi/constants.js';
import { exec, iommufd, lines, root } from './cli.js';

describe('native', () => {
  test('info --json: native backend, test mock, the capability table of its kernel', async () => {
    const r = await iommufd(['info', '--json']);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info).toMatchObject({ backend: 'native', testMock: true, device: { present: true, openable: true }, addon: { available: true } });
    expect(info.reason).toMatch(/test mock/);
    const native = info.capabilities.native;
    expect(native.kernel).toBe(info.kernel.release);
    expect(native.kernel).toMatch(/^(6\.12|7\.3)\./);
    // Everything of 6.12; what 7.3 added, exactly on 7.3.
    const on73 = native.kernel.startsWith('7.3.');
    const added = new Set([...Object.keys(IOMMUFD_CMDS_7_3), ...Object.keys(IOMMU_TEST_OPS_7_3)]);
    for (const [name, has] of [...Object.entries(native.ioctls), ...Object.entries(native.testOps)]) expect([name, has]).toEqual([name, added.has(name) ? on73 : true]);
  });

  test('npx iommufd in the checkout runs this command, with no lifecycle script and no write to the read-only root', async () => {
    // npm links the checkout into its npx cache and chmods the bin: scripts/vm-init.sh
    // makes that one file writable; npm_config_ignore_scripts keeps npm from building.
    const r = await exec('npx', ['iommufd', '--version']);
    expect([r.code, r.stdout], r.stderr).toEqual([0, `${(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version}\n`]);
  });

  test('selftest defaults to the native backend and prints valid KTAP', async () => {
    // A slice of the suite: the whole of it already runs in the kernel project.
    const r = await iommufd(['selftest', '--filter', 'access: pinning|dirty tracking|VFIO type1']);
    const { document, errors } = parseKtap(r.stdout);
    expect(errors).toEqual([]);
    expect(r.stdout).toMatch(/^# iommufd selftest: test\/scenarios on the native backend/m);
    expect(document!.tests.length).toBeGreaterThanOrEqual(8);
    expect(document!.tests.filter((t) => !t.ok || t.directive), r.stdout).toEqual([]); // nothing fails or skips on the kernel
    expect(r.code).toBe(0);
  });

  test('selftest --suite port: the kernel selftest port as KTAP, the skips named "kernel lacks"', async () => {
    // The iommufd fixture and get_hw_info: the whole port already runs in selftest-kernel.
    const r = await iommufd(['selftest', '--suite', 'port', '--ktap', '--filter', '^iommufd: |get_hw_info$']);
    const { document, errors } = parseKtap(r.stdout);
    expect(errors).toEqual([]);
    expect(r.stdout).toMatch(/^# iommufd selftest: test\/selftest on the native backend/m);
    const names = document!.tests.map((t) => t.description.replace(/^[\w-]+: /, ''));
    expect(names).toContain('iommufd.cmd_length');
    expect(names).toContain('iommufd_ioas.mock_domain.get_hw_info');
    expect(document!.tests.filter((t) => !t.ok), r.stdout).toEqual([]);
    for (const t of document!.tests.filter((x) => x.directive === 'SKIP')) expect(t.data).toMatch(/^kernel lacks /);
    expect(r.code).toBe(0);
  });

  test.for(['access', 'dirty-tracking', 'vfio-compat'])('examples/%s.ts passes on the kernel', async (name) => {
    const r = await iommufd(['run', `examples/${name}.ts`, '--backend', 'native']);
    expect(r.stderr).toMatch(new RegExp(`^iommufd run: examples/${name}\\.ts passed on the native backend \\((6\\.12|7\\.3)\\.`));
    expect(r.code).toBe(0);
  });

  test('a failing ioctl on the kernel: one line with the ioctl, errno and arguments', async () => {
    const r = await iommufd(['run', 'test/cli/fixtures/fails.ts']);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^iommufd run: test\/cli\/fixtures\/fails\.ts:8:8: IOMMU_IOAS_MAP failed: EEXIST .* in ioasMap\(ioasId=\d+, flags=0x7, \w+=<16384 bytes at offset 0 of 16384>, iova=0x1000000\)/);
  });
});
