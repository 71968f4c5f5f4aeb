// The `iommufd` command run as a process on the host, against the simulator
// (no /dev/iommu here): info, selftest (KTAP checked by the parser), run,
// the examples, usage errors and exit codes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseKtap } from '../../lib/cli/ktap.js';
import { SUITES } from '../../lib/cli/selftest.js';
import { staticTestIndex } from '../../lib/cli/test-index.js';
import { exec, iommufd, lines, root } from './cli.js';

const hasDevice = (() => {
  try {
    readFileSync('/dev/iommu');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ENOENT';
  }
  return true;
})();

describe('info', () => {
  test('--json: the backend with its reason, the probe, memlock and both capability tables', async () => {
    const r = await iommufd(['info', '--json']);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(Object.keys(info).sort()).toEqual(['addon', 'backend', 'capabilities', 'device', 'kernel', 'memlock', 'reason', 'testMock'].sort());
    expect(info.kernel.release).toMatch(/^\d+\.\d+/);
    expect(info.device).toMatchObject({ path: '/dev/iommu', present: hasDevice });
    expect(typeof info.addon.available).toBe('boolean');
    expect(info.memlock.soft === 'unlimited' || Number.isInteger(info.memlock.soft)).toBe(true);
    const { sim, native } = info.capabilities;
    expect(sim).toMatchObject({ backend: 'sim', failNth: expect.any(Boolean) });
    expect(sim.ioctls.IOMMU_IOAS_MAP).toBe(true);
    expect(sim.testOps.MOCK_DOMAIN).toBe(true);
    if (!hasDevice) {
      expect(info).toMatchObject({ backend: 'sim', testMock: null });
      expect(native).toBeNull();
      expect(info.reason).toMatch(/\/dev\/iommu does not exist/);
    }
  });

  test('human: the same facts as a table', async () => {
    const r = await iommufd(['info']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}backend {5}(sim|native) \(/m);
    expect(r.stdout).toMatch(/^ {2}memlock {5}/m);
    expect(r.stdout).toMatch(/^ {2}IOMMU_TEST_OP_MOCK_DOMAIN +yes/m);
    expect(r.stdout).not.toMatch(/\x1b\[/); // no colours into a pipe
  });
});

describe('selftest', () => {
  test('--ktap on the simulator: valid KTAP, every scenario, exit code as kselftest', async () => {
    const r = await iommufd(['selftest', '--backend', 'sim', '--ktap']);
    const { document, errors } = parseKtap(r.stdout);
    expect(errors).toEqual([]);
    const tests = document!.tests;
    expect(document!.plan!.count).toBe(tests.length);
    expect(tests.length).toBeGreaterThan(50);
    // One result per scenario test, named after its file.
    for (const file of ['access', 'bad-input', 'ioas', 'uapi']) expect(tests.some((t) => t.description.startsWith(`${file}: `))).toBe(true);
    const failed = tests.filter((t) => !t.ok).length;
    const passed = tests.filter((t) => t.ok && t.directive !== 'SKIP').length;
    expect(document!.totals).toMatchObject({ pass: passed, fail: failed });
    // Every skip says why.
    for (const t of tests.filter((x) => x.directive === 'SKIP')) expect(t.data).toMatch(/lacks/);
    expect(r.code).toBe(failed > 0 ? 1 : passed > 0 ? 0 : 4);
  });

  test.for(['scenarios', 'port'] as const)(
    '--filter imports only the files that can match: the static name index of the %s suite is what vitest collects',
    { timeout: 600_000 },
    async (suite) => {
      // lib/cli/test-index.ts reads the names without importing the files; a file it
      // names must register exactly those tests: vitest's own list (which imports
      // every file, on the simulator) says what they are.
      const dir = mkdtempSync(join(tmpdir(), 'iommufd-index-'));
      try {
        const out = join(dir, 'list.json');
        const r = await exec(process.execPath, [join(root, 'node_modules/vitest/vitest.mjs'), 'list', '--project', SUITES[suite].project.sim, `--json=${out}`], { cwd: root });
        expect(r.code, r.stderr).toBe(0);
        const collected = new Map<string, string[]>();
        for (const { name, file } of JSON.parse(readFileSync(out, 'utf8')) as { name: string; file: string }[]) collected.set(file, [...(collected.get(file) ?? []), name]);
        const index = staticTestIndex(join(root, SUITES[suite].dir));
        expect([...index.keys()].sort()).toEqual([...collected.keys()].filter((f) => f.startsWith(join(root, SUITES[suite].dir, '/'))).sort());
        const known = [...index].filter(([, names]) => names !== null);
        // Most files are plain enough for the index: otherwise it saves nothing.
        expect(known.length).toBeGreaterThan(index.size / 2);
        for (const [path, names] of known) expect([path, names!.map((n) => n.join(' > ')).sort()]).toEqual([path, [...collected.get(path)!].sort()]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  test('--filter matches the KTAP names ("FILE: DESCRIBE > TEST"); matching nothing is a skip (4)', async () => {
    const one = await iommufd(['selftest', '--backend', 'sim', '--filter', '^access: pinning .*> an unmap under a pin']);
    expect(one.code, one.stdout + one.stderr).toBe(0);
    const { document, errors } = parseKtap(one.stdout);
    expect(errors).toEqual([]);
    expect(document!.tests.map((t) => [t.ok, t.description])).toEqual([
      [true, 'access: pinning through an access > an unmap under a pin makes the access drop it (the unmap callback)'],
    ]);

    const none = await iommufd(['selftest', '--backend', 'sim', '--filter', 'no such test']);
    expect(none.code).toBe(4);
    expect(lines(none.stdout).slice(0, 2)).toEqual(['KTAP version 1', '1..0 # SKIP no test matches --filter no such test']);
  });

  test('--suite port: the kernel selftest port, instances named like the kernel\'s', async () => {
    const r = await iommufd(['selftest', '--suite', 'port', '--backend', 'sim', '--ktap', '--filter', 'iommufd_ioas\\.(no_domain|mock_domain)\\.ioas_destroy$']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const { document, errors } = parseKtap(r.stdout);
    expect(errors).toEqual([]);
    expect(r.stdout).toMatch(/^# iommufd selftest: test\/selftest on the sim backend/m);
    expect(document!.tests.map((t) => [t.ok, t.description.replace(/^[\w-]+: /, '')])).toEqual([
      [true, 'iommufd_ioas.no_domain.ioas_destroy'],
      [true, 'iommufd_ioas.mock_domain.ioas_destroy'],
    ]);
  });

  test.skipIf(hasDevice)('--backend native without /dev/iommu skips (4) and says where it would run', async () => {
    const r = await iommufd(['selftest', '--backend', 'native']);
    expect(r.code).toBe(4);
    expect(parseKtap(r.stdout).document!.plan).toMatchObject({ count: 0, directive: 'SKIP' });
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/\/dev\/iommu does not exist .* iommufd vm -- iommufd selftest/);
  });

  test('on a terminal: live progress and a coloured summary', async (ctx) => {
    if (spawnSync('sh', ['-c', 'command -v script'], { stdio: 'ignore' }).status !== 0) ctx.skip('needs script(1) from util-linux for a pty');
    const cmd = `${process.execPath} bin/iommufd.js selftest --backend sim --filter 'unmap under a pin'`;
    const r = await exec('script', ['-qec', cmd, '/dev/null'], { env: { TERM: 'xterm', NO_COLOR: '' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('\r\x1b[K[1/1]'); // the progress line, redrawn in place
    expect(r.stdout).toMatch(/\x1b\[\d+mPASS/); // coloured
    expect(r.stdout).toMatch(/1 passed.*0 failed.*0 skipped.* on the sim backend/);
    expect(r.stdout).not.toContain('KTAP version 1');
  });

  test('npm start runs it on the best available backend', async () => {
    const r = await exec('npm', ['start', '--silent', '--', '--filter', 'unmap under a pin']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(parseKtap(r.stdout).document!.tests).toHaveLength(1);
    expect(r.stdout).toMatch(`on the ${hasDevice ? 'native' : 'sim'} backend`);
  });
});

describe('run', () => {
  test('a failing ioctl is one line: where, the ioctl, the errno, the call and its arguments', async () => {
    const r = await iommufd(['run', 'test/cli/fixtures/fails.ts', '--backend', 'sim']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toEqual([
      'iommufd run: test/cli/fixtures/fails.ts:8:8: IOMMU_IOAS_MAP failed: EEXIST (file already exists) ' +
        'in ioasMap(ioasId=1, flags=0x7, memory=<16384 bytes at offset 0 of 16384>, iova=0x1000000) — the IOVA range is already mapped',
    ]);
    const verbose = await iommufd(['run', 'test/cli/fixtures/fails.ts', '--backend', 'sim', '--verbose']);
    expect(verbose.stderr).toMatch(/\n {4}at .*fails\.ts:8:8/); // the stack only with --verbose
  });

  test('other failures are one line too', async () => {
    const r = await iommufd(['run', 'test/cli/fixtures/throws.ts', '--backend', 'sim']);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual(['iommufd run: test/cli/fixtures/throws.ts:4:9: RangeError: the scenario gave up']);
    const missing = await iommufd(['run', 'nowhere.ts']);
    expect(missing.code).toBe(1);
    expect(lines(missing.stderr)).toEqual(['iommufd run: cannot run nowhere.ts: no such file — check the path']);
  });

  test('ctx.requires() of an unknown feature fails (1) with a TypeError naming it, rather than skipping', async () => {
    const r = await iommufd(['run', 'test/cli/fixtures/requires-typo.ts', '--backend', 'sim']);
    expect(lines(r.stderr)).toEqual([
      expect.stringMatching(
        /^iommufd run: test\/cli\/fixtures\/requires-typo\.ts:5:7: TypeError: requires\(\): unknown feature 'IOMMU_IOAS_MAPP' \(did you mean 'IOMMU_IOAS_MAP'\?\); features are ioctl names \(IOMMU_DESTROY, .*\) or 'failNth'$/,
      ),
    ]);
    expect(r.code).toBe(1);
  });

  test('a .js module exporting run, with arguments after --', async () => {
    const r = await iommufd(['run', 'test/cli/fixtures/plain.js', '--backend', 'sim', '--', 'a', '--b']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('ioas 1 on sim; args ["a","--b"]\n');
    expect(r.stderr).toMatch(/^iommufd run: test\/cli\/fixtures\/plain\.js passed on the sim backend \(sim-7\.3\) in \d+ ms\n$/);
  });
});

test('a .ts script outside any package imports this package as iommufd', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'iommufd-cli-'));
  try {
    writeFileSync(
      join(dir, 'outside.ts'),
      "import { DmaBuffer, MOCK_APERTURE_START, type Iommufd } from 'iommufd';\n" +
        'export default function (fd: Iommufd): void {\n' +
        '  using buffer = DmaBuffer.alloc(4096);\n' +
        '  console.log(fd.allocIoas().mapFixed(MOCK_APERTURE_START, buffer) === MOCK_APERTURE_START);\n' +
        '}\n',
    );
    const r = await iommufd(['run', 'outside.ts', '--backend', 'sim'], { cwd: dir });
    expect(r.stderr).toMatch(/^iommufd run: outside\.ts passed/);
    expect([r.code, r.stdout]).toEqual([0, 'true\n']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('examples on the simulator', () => {
  const sim = (async () => JSON.parse((await iommufd(['info', '--json'])).stdout).capabilities.sim)();

  test.for(['access', 'dirty-tracking', 'vfio-compat'])('%s: passes, or is skipped only for what the simulator lacks', async (name) => {
    const r = await iommufd(['run', `examples/${name}.ts`, '--backend', 'sim']);
    if (r.code === 4) {
      const m = /^iommufd run: examples\/[\w-]+\.ts skipped: backend lacks (.*) \(sim, sim-6\.12\)\n$/.exec(r.stderr);
      expect(m, r.stderr).not.toBeNull();
      const caps = await sim;
      for (const feature of m![1]!.split(', ')) expect([feature, caps.ioctls[feature] ?? caps.testOps[feature]]).toEqual([feature, false]);
      return;
    }
    expect(r.stderr).toMatch(/passed on the sim backend/);
    expect(r.code).toBe(0);
  });

  test('the access walk-through runs on the simulator and sees the pin dropped', async () => {
    const r = await iommufd(['run', 'examples/access.ts', '--backend', 'sim']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/releasing it again is ENOENT/);
  });
});

describe('validate', () => {
  // No such device here (nor in the VM): kselftest's whole-run skip, not a failure.
  const device = '/dev/vfio/devices/vfio-absent';

  test('without the device: KTAP "1..0 # SKIP <reason>", exit 4', async () => {
    const r = await iommufd(['validate', '--device', device, '--ktap']);
    const { document, errors } = parseKtap(r.stdout);
    expect(errors).toEqual([]);
    expect(document!.plan).toMatchObject({ count: 0 });
    expect(lines(r.stdout)[1]).toMatch(/^1\.\.0 # SKIP open failed: ENOENT \(.+\) .*(\/dev\/iommu|vfio-absent)/);
    expect(r.stdout).not.toMatch(/^not ok/m);
    expect(r.code).toBe(4);
  });

  test('--json says why it skipped, with no checks; exit 4', async () => {
    const r = await iommufd(['validate', '--device', device, '--json']);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ device, checks: [], failed: 0, ok: false, skipReason: expect.stringMatching(/^open failed: ENOENT/) });
    expect(r.code).toBe(4);
  });
});

describe('usage', () => {
  test.for([
    [['--bogus'], "iommufd: unknown option '--bogus'", 'usage: iommufd <command>'],
    [['frobnicate'], "iommufd: unknown command 'frobnicate'", 'usage: iommufd <command>'],
    [[], 'iommufd: which command?', 'usage: iommufd <command>'],
    [['selftest', '--nope'], "iommufd selftest: unknown option '--nope'", 'usage: iommufd selftest'],
    [['selftest', '--backend', 'qemu'], "iommufd selftest: --backend must be 'native' or 'sim', not 'qemu'", 'usage: iommufd selftest'],
    [['selftest', '--suite', 'all'], "iommufd selftest: --suite must be 'scenarios' or 'port', not 'all'", 'usage: iommufd selftest'],
    [['info', '--json', 'extra'], "iommufd info: unexpected argument 'extra'", 'usage: iommufd info'],
    [['run'], 'iommufd run: which FILE to run?', 'usage: iommufd run'],
    [['vm'], 'iommufd vm: no command to run: iommufd vm -- COMMAND...', 'usage: iommufd vm'],
    [['vm', 'uname'], 'iommufd vm: put the command after --: iommufd vm -- uname', 'usage: iommufd vm'],
    [['vm', '--memory', 'lots', '--', 'true'], "iommufd vm: --memory expects a positive number, not 'lots'", 'usage: iommufd vm'],
  ] as const)('%j: one line saying what is wrong, then the usage; exit 2', async ([args, message, usage]) => {
    const r = await iommufd([...args]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const [first, blank, third] = lines(r.stderr);
    expect([first, blank, third]).toEqual([message, '', usage + third!.slice(usage.length)]);
    expect(third!.startsWith(usage)).toBe(true);
  });

  test('a bad --filter is one line', async () => {
    const r = await iommufd(['selftest', '--filter', '(']);
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^iommufd selftest: bad --filter: Invalid regular expression/);
  });

  test('--help for the command and each subcommand; --version', async () => {
    const main = await iommufd(['--help']);
    expect(main.code).toBe(0);
    for (const command of ['info', 'selftest', 'run', 'vm']) expect(main.stdout).toMatch(new RegExp(`^ {2}${command} `, 'm'));
    expect(main.stdout).toMatch(/^ {2}build-addon /m);
    for (const command of ['info', 'selftest', 'run', 'vm']) {
      const r = await iommufd([command, '--help']);
      expect([command, r.code, r.stdout.split('\n')[0]]).toEqual([command, 0, expect.stringMatching(`^usage: iommufd ${command}`)]);
    }
    const version = await iommufd(['--version']);
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(`${root}/package.json`, 'utf8')).version);
  });

  test('vm --shell without vng says it is unsupported, rather than pretending', async () => {
    const r = await iommufd(['vm', '--shell']);
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toEqual([
      'iommufd vm: --shell is not supported by the built-in QEMU runner: it runs one command over the serial console, without an interactive terminal — install virtme-ng and use --vng --shell, or pass the command to run: iommufd vm -- COMMAND',
    ]);
  });
});
