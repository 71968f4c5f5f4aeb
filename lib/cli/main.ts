// The `iommufd` command: info | selftest | run | vm | validate | build-addon.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  type BackendName,
  CliError,
  UsageError,
  chooseBackend,
  exitAfterFlush,
  firstLine,
  nativeUnavailable,
  packageRoot,
  probeNative,
} from './common.js';
import { exitCode, formatKtap, KSFT_SKIP, totals, type CaseResult } from './ktap.js';
import { colors } from './style.js';

const CHECKOUT_NOTE = `The package ships what selftest and vm need; selftest runs the suites with
vitest, an optional peer dependency: npm install -D vitest@3 where it is missing.`;

const USAGE: Record<string, string> = {
  main: `usage: iommufd <command> [options]

Commands:
  info [--json]                       which backend would be used and why, the kernel,
                                      its capability table, the memory-lock limit
  selftest [--suite scenarios|port] [--backend native|sim] [--filter PATTERN] [--ktap]
                                      the conformance suite (test/scenarios), or the port
                                      of the kernel's iommufd selftest, as KTAP
  run FILE.ts|FILE.js [--backend native|sim] [-- ARGS...]
                                      run a scenario module with an open Iommufd
  vm [--kernel-version V | --source DIR | --kernel PATH] -- COMMAND...
                                      run COMMAND inside a VM on the iommufd test kernel
  validate --device /dev/vfio/devices/vfioN [--ktap | --json] [--no-dma]
                                      validate an IOMMU through a VFIO device bound to vfio-pci
  build-addon                         build the native addon from source (instead of the
                                      prebuilt one), e.g. for a platform without one

Options for every command: -h, --help; -v, --verbose (stack traces); --version.
'iommufd <command> --help' describes one command.

${CHECKOUT_NOTE}`,
  info: `usage: iommufd info [--json]

Which backend selftest and run would use and why (addon built? /dev/iommu
present and openable? the kernel's test mock?), the kernel version, the ioctls
and mock ops each backend supports, and RLIMIT_MEMLOCK.
  --json   the same as one JSON object`,
  selftest: `usage: iommufd selftest [--suite scenarios|port] [--backend native|sim] [--filter PATTERN] [--ktap]

Runs a test suite on one backend.
  --suite scenarios     the conformance scenarios (test/scenarios), the default
  --suite port          the kernel's tools/testing/selftests/iommu ported to
                        TypeScript (test/selftest), instances named like the
                        kernel's: "iommufd_ioas.mock_domain.area"
  --backend native|sim  default: native where /dev/iommu has the test mock
                        (CONFIG_IOMMUFD_TEST), else the simulator
  --filter PATTERN      only tests whose name, as KTAP prints it ("FILE: DESCRIBE >
                        TEST"), matches the regular expression, e.g.
                        --filter 'access: pinning' or --filter 'VFIO|dirty'
  --ktap                KTAP even on a terminal (it is the default when stdout
                        is not a terminal); otherwise live progress and a summary
Exit status as kselftest: 0 passed, 1 a test failed, 4 nothing ran (all skipped).

${CHECKOUT_NOTE}`,
  run: `usage: iommufd run FILE.ts|FILE.js [--backend native|sim] [-- ARGS...]

Imports FILE and calls its default export (or its export 'run') with an open
Iommufd and a context { backend, capabilities, args, requires(...), skip(),
log() }:
    export default async function (fd, ctx) { const ioas = fd.allocIoas(); ... }
A failing ioctl is printed as one line: the ioctl, the errno name, the backend
call and its arguments, and the line of FILE.
  --backend native|sim  default: native where /dev/iommu has the test mock, else sim
Exit status: 0 done, 1 failed, 4 skipped (ctx.requires/ctx.skip; a feature name
ctx.requires does not know is a TypeError, exit 1).`,
  vm: `usage: iommufd vm [--kernel-version 6.12|7.3 | --source DIR | --kernel PATH] [--build]
                 [--vng] [--shell] [--timeout S] [--memory MB] -- COMMAND...

Boots the iommufd test kernel (built from Debian's linux-source-<version> with
CONFIG_IOMMUFD_TEST and cached; QEMU, KVM when usable) with the host's files
read-only, and runs COMMAND there in the current directory, streaming its
output. The exit status is COMMAND's. 'iommufd' as COMMAND is this command:
    iommufd vm -- iommufd selftest
  --kernel-version V  which Debian kernel source: 6.12 (default) or 7.3
  --source DIR    build your own kernel tree with the test config fragment
                  (out of tree, incremental) and boot it
  --kernel PATH   boot this bzImage instead
  --build         build (or reuse) the test kernel; alone, print its path
  --vng           use virtme-ng (vng) instead of the built-in QEMU runner
  --shell         an interactive shell: only with --vng (the built-in runner has
                  no interactive console)
  --timeout S     give up after S seconds (default 1800)
  --memory MB     guest memory (default 4096)

${CHECKOUT_NOTE}`,
};

USAGE['build-addon'] = `usage: iommufd build-addon

Builds the native addon from native/*.cc with node-gyp into the package's
native/build/Release/, which is then loaded instead of the prebuilt
prebuilds/<platform>-<arch>/iommufd.node. Needs g++, make and python3.`;

USAGE.validate = `usage: iommufd validate --device /dev/vfio/devices/vfioN [--ktap | --json] [--no-dma]

The hardware-validation battery on one VFIO character device (bound to
vfio-pci, e.g. echo vfio-pci > /sys/bus/pci/devices/BDF/driver_override):
bind to /dev/iommu, attach/replace/detach, hardware info (VT-d registers
decoded), IOVA ranges, map/unmap across sizes, HWPT flags; and, where a DMA
engine is known for the device (QEMU's edu today), copies through the device
compared byte for byte, read-only mappings refusing device writes and unmapped
IOVAs blocked.
  --device PATH  the VFIO cdev (required)
  --ktap         KTAP (the default when stdout is not a terminal)
  --json         the structured report
  --no-dma       skip the checks that make the device do DMA
Exit status as kselftest: 0 passed, 1 a check failed, 4 nothing ran (no /dev/iommu
or no such device: a skip, as KTAP "1..0 # SKIP <reason>").`;

const COMMON = {
  help: { type: 'boolean', short: 'h' },
  verbose: { type: 'boolean', short: 'v' },
} as const satisfies ParseArgsConfig['options'];

const OPTIONS = {
  info: { ...COMMON, json: { type: 'boolean' } },
  selftest: { ...COMMON, suite: { type: 'string' }, backend: { type: 'string' }, filter: { type: 'string' }, ktap: { type: 'boolean' } },
  run: { ...COMMON, backend: { type: 'string' } },
  validate: { ...COMMON, device: { type: 'string' }, ktap: { type: 'boolean' }, json: { type: 'boolean' }, 'no-dma': { type: 'boolean' } },
  'build-addon': { ...COMMON },
  vm: {
    ...COMMON,
    kernel: { type: 'string' },
    'kernel-version': { type: 'string' },
    source: { type: 'string' },
    build: { type: 'boolean' },
    shell: { type: 'boolean' },
    vng: { type: 'boolean' },
    timeout: { type: 'string' },
    memory: { type: 'string' },
  },
} as const satisfies Record<string, ParseArgsConfig['options']>;

type Command = keyof typeof OPTIONS;

function parse<C extends Command>(command: C, argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS[command], allowPositionals: true, strict: true });
  } catch (e) {
    // node's messages: "Unknown option '--x'. To specify a positional argument, ..."
    const message = (e as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new UsageError(message.charAt(0).toLowerCase() + message.slice(1));
  }
}

function backendOption(value: string | undefined): BackendName | undefined {
  if (value === undefined || value === 'native' || value === 'sim') return value;
  throw new UsageError(`--backend must be 'native' or 'sim', not '${value}'`);
}

/** The backend to use: the one asked for (if it can work), else the best available. */
function pickBackend(asked: BackendName | undefined, what: string): BackendName | { skip: string } {
  if (asked === 'sim') return 'sim';
  const probe = probeNative();
  if (asked === undefined) return chooseBackend(probe).backend;
  if (probe.testMock) return 'native';
  const why = nativeUnavailable(probe);
  if (what === 'run' && probe.capabilities) return 'native'; // iommufd without the mock: a script may not need it
  return { skip: `native backend unavailable: ${why}` };
}

function positiveNumber(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!(n > 0)) throw new UsageError(`--${flag} expects a positive number, not '${text}'`);
  return n;
}

async function info(argv: string[]): Promise<number> {
  const { values, positionals } = parse('info', argv);
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const { gatherInfo, renderInfo } = await import('./info.js');
  const data = gatherInfo();
  process.stdout.write(values.json ? `${JSON.stringify(data, null, 2)}\n` : renderInfo(data, Boolean(process.stdout.isTTY)));
  return 0;
}

async function selftest(argv: string[]): Promise<number> {
  const { values, positionals } = parse('selftest', argv);
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (use --filter PATTERN to pick tests)`);
  const { parseFilter, runSelftest, SUITES } = await import('./selftest.js');
  const filter = parseFilter(values.filter);
  const suite = values.suite ?? 'scenarios';
  if (suite !== 'scenarios' && suite !== 'port') throw new UsageError(`--suite must be 'scenarios' or 'port', not '${suite}'`);
  const human = !values.ktap && Boolean(process.stdout.isTTY);
  const chosen = pickBackend(backendOption(values.backend), 'selftest');
  if (typeof chosen === 'object') {
    // kselftest: a test whose requirements are missing is skipped (exit 4).
    if (human) process.stdout.write(`${colors(true).yellow('skipped')}: ${chosen.skip}\n`);
    else process.stdout.write(formatKtap([], { emptyReason: chosen.skip }));
    process.stderr.write(`iommufd selftest: ${chosen.skip} — use --backend sim, or run it in the test VM: iommufd vm -- iommufd selftest\n`);
    return KSFT_SKIP;
  }
  const header = `iommufd selftest: ${SUITES[suite].dir} on the ${chosen} backend${filter ? `, --filter ${values.filter}` : ''}`;
  const progressStream = human ? process.stdout : process.stderr.isTTY ? process.stderr : undefined;
  const c = colors(Boolean(progressStream?.isTTY));
  const mark = { pass: c.green('✓'), fail: c.red('✗'), skip: c.yellow('↓') };
  if (human) process.stdout.write(`${c.bold(header)}\n`);
  const run = await runSelftest(chosen, filter, {
    onCase(result, done, total) {
      if (!progressStream) return;
      const counter = `[${done}/${total}] `;
      const room = (progressStream.columns || 80) - counter.length - 3;
      const name = result.name.length > room ? `${result.name.slice(0, room - 1)}…` : result.name;
      progressStream.write(`\r\x1b[K${counter}${mark[result.status]} ${name}`);
    },
  }, suite);
  if (progressStream) progressStream.write('\r\x1b[K');
  const code = run.cases.length === 0 ? KSFT_SKIP : exitCode(run.cases);
  const emptyReason = filter ? `no test matches --filter ${values.filter}` : 'no tests';
  if (human) process.stdout.write(summary(run.cases, run.durationMs, chosen, emptyReason));
  else process.stdout.write(formatKtap(run.cases, { header: [header], emptyReason }));
  return code;
}

/** The human ending: failures with their errors, skip reasons, coloured totals. */
function summary(cases: CaseResult[], ms: number, backend: BackendName, emptyReason: string): string {
  const c = colors(true);
  const out: string[] = [];
  for (const f of cases.filter((x) => x.status === 'fail')) {
    out.push(`${c.red('✗ FAIL')} ${c.bold(f.name)}`);
    for (const d of f.diagnostics ?? []) out.push(...d.split('\n').map((l) => `    ${l}`));
  }
  const reasons = new Map<string, number>();
  for (const s of cases.filter((x) => x.status === 'skip')) reasons.set(s.reason ?? '', (reasons.get(s.reason ?? '') ?? 0) + 1);
  for (const [reason, n] of reasons) out.push(c.yellow(`↓ ${n} skipped: ${reason}`));
  const t = totals(cases);
  const parts = [c.green(`${t.pass} passed`), t.fail ? c.red(c.bold(`${t.fail} failed`)) : `${t.fail} failed`, c.yellow(`${t.skip} skipped`)];
  if (cases.length === 0) out.push(c.yellow(`nothing ran: ${emptyReason}`));
  out.push(`${c.bold(t.fail ? c.red('FAIL') : t.pass ? c.green('PASS') : c.yellow('SKIP'))} ${parts.join(', ')} on the ${backend} backend in ${(ms / 1000).toFixed(1)} s`);
  return `${out.join('\n')}\n`;
}

async function run(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  const { values, positionals } = parse('run', dash < 0 ? argv : argv.slice(0, dash));
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'which FILE to run?' : `one FILE only (got ${positionals.join(' ')}); put its arguments after --`);
  const chosen = pickBackend(backendOption(values.backend), 'run');
  if (typeof chosen === 'object') throw new CliError(chosen.skip, 'use --backend sim, or run it in the test VM: iommufd vm -- iommufd run FILE');
  const { runScript } = await import('./run.js');
  return runScript(positionals[0]!, { backend: chosen, args: dash < 0 ? [] : argv.slice(dash + 1), verbose: Boolean(values.verbose) });
}

async function vm(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  const { values, positionals } = parse('vm', dash < 0 ? argv : argv.slice(0, dash));
  if (positionals.length > 0) throw new UsageError(`put the command after --: iommufd vm -- ${positionals.join(' ')}`);
  const command = dash < 0 ? [] : argv.slice(dash + 1);
  if (command.length === 0 && !values.build && !values.shell) throw new UsageError('no command to run: iommufd vm -- COMMAND...');
  const { vm: runVm } = await import('./vm.js');
  return runVm(
    {
      kernel: values.kernel,
      kernelVersion: values['kernel-version'],
      source: values.source,
      build: Boolean(values.build),
      shell: Boolean(values.shell),
      vng: Boolean(values.vng),
      timeout: positiveNumber('timeout', values.timeout),
      memory: positiveNumber('memory', values.memory),
    },
    command,
  );
}

async function validateCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('validate', argv);
  if (positionals.length > 0) throw new UsageError(`unexpected ${positionals.join(' ')}`);
  if (!values.device) throw new UsageError('which device? --device /dev/vfio/devices/vfioN');
  if (values.ktap && values.json) throw new UsageError('--ktap or --json, not both');
  const { validate } = await import('./validate.js');
  return validate({ device: values.device, ktap: Boolean(values.ktap), json: Boolean(values.json), dma: !values['no-dma'] });
}

/** The source build, run only when asked (the package has no install script). */
async function buildAddon(argv: string[]): Promise<number> {
  const { positionals } = parse('build-addon', argv);
  if (positionals.length > 0) throw new UsageError(`unexpected ${positionals.join(' ')}`);
  const { spawnSync } = await import('node:child_process');
  const result = spawnSync(process.execPath, [join(packageRoot, 'scripts', 'build-addon.mjs')], { stdio: 'inherit' });
  if (result.error) throw new CliError(`cannot run scripts/build-addon.mjs: ${result.error.message}`);
  return result.status ?? 1;
}

const COMMANDS: Record<Command, (argv: string[]) => Promise<number>> = {
  info,
  selftest,
  run,
  vm,
  validate: validateCommand,
  'build-addon': buildAddon,
};

function version(): string {
  return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

export async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes('--verbose') || argv.includes('-v');
  while (argv[0] === '-v' || argv[0] === '--verbose') argv = argv.slice(1); // iommufd -v run ...
  const [first, ...rest] = argv;
  const name = first && Object.hasOwn(COMMANDS, first) ? (first as Command) : undefined;
  const prefix = `iommufd${name ? ` ${name}` : ''}`;
  try {
    if (first === '--version') {
      process.stdout.write(`${version()}\n`);
      return 0;
    }
    if (first === undefined) throw new UsageError('which command?');
    if (first === '-h' || first === '--help' || first === 'help') {
      process.stdout.write(`${USAGE.main}\n`);
      return 0;
    }
    if (!name) throw new UsageError(first.startsWith('-') ? `unknown option '${first}'` : `unknown command '${first}'`);
    const dash = rest.indexOf('--');
    const own = dash < 0 ? rest : rest.slice(0, dash);
    if (own.includes('-h') || own.includes('--help')) {
      process.stdout.write(`${USAGE[name]}\n`);
      return 0;
    }
    return await COMMANDS[name](rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${prefix}: ${e.message}\n\n${USAGE[name ?? 'main']}\n`);
      return 2;
    }
    if (e instanceof CliError) {
      process.stderr.write(`${prefix}: ${e.message}${e.hint ? ` — ${e.hint}` : ''}\n`);
      if (verbose && e.stack) process.stderr.write(`${e.stack}\n`);
      return e.exitCode;
    }
    const error = e as Error;
    const text = error?.name === 'IommufdError' ? error.message : `${error?.name ?? 'Error'}: ${firstLine(String(error?.message ?? e))}`;
    process.stderr.write(`${prefix}: ${text}${verbose ? '' : ' (--verbose shows the stack)'}\n`);
    if (verbose && error?.stack) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

export function cli(): void {
  main(process.argv.slice(2)).then(exitAfterFlush, (e: unknown) => {
    process.stderr.write(`iommufd: ${String(e)}\n`);
    exitAfterFlush(1);
  });
}
