// `iommufd vm`: build (or reuse) the test kernel and run a command inside a
// QEMU VM on it, through the project's runner (scripts/vm.mjs) or virtme-ng.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CliError, binPath, packageRoot, requireCheckout } from './common.js';

export interface VmOptions {
  kernel?: string;
  /** A first-class Debian kernel source (scripts/kernels.mjs), e.g. '7.3'. */
  kernelVersion?: string;
  /** A developer's kernel tree, built with scripts/kernel.config. */
  source?: string;
  build: boolean;
  shell: boolean;
  vng: boolean;
  timeout?: number;
  memory?: number;
}

type RunInVm = (command: string[], options: Record<string, unknown>) => Promise<number>;

type Kernels = {
  KERNELS: Record<string, unknown>;
  buildKernel(options: { version?: string; source?: string }): Promise<string>;
};

const kernelsModule = async () => (await import(pathToFileURL(join(packageRoot, 'scripts/kernels.mjs')).href)) as Kernels;

/** scripts/kernels.mjs: progress on stderr, resolves to the bzImage path. */
async function buildKernel(options: VmOptions): Promise<string> {
  const kernels = await kernelsModule();
  try {
    return await kernels.buildKernel({ version: options.kernelVersion, source: options.source });
  } catch (e) {
    throw new CliError(`building the test kernel failed: ${(e as Error).message}`, 'see the [kernel] lines above; the full log is in the build directory they name');
  }
}

async function checkKernelVersion(version: string | undefined): Promise<void> {
  if (version === undefined) return;
  const { KERNELS } = await kernelsModule();
  if (!Object.hasOwn(KERNELS, version))
    throw new CliError(`unknown kernel version ${version}`, `the test rig builds ${Object.keys(KERNELS).join(' and ')}; use --source DIR for another tree`, 2);
}

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

const shellQuote = (args: string[]) => args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');

/** Resolves to the exit code of the command in the VM (or of the build). */
export async function vm(options: VmOptions, command: string[]): Promise<number> {
  requireCheckout('vm', ['scripts/vm.mjs', 'scripts/kernels.mjs', 'scripts/build-kernel.sh', 'scripts/kernel.config', 'scripts/vm-init.sh']);
  if (options.shell && !options.vng)
    throw new CliError(
      '--shell is not supported by the built-in QEMU runner: it runs one command over the serial console, without an interactive terminal',
      'install virtme-ng and use --vng --shell, or pass the command to run: iommufd vm -- COMMAND',
      2,
    );
  if (options.vng && !hasCommand('vng'))
    throw new CliError('vng (virtme-ng) is not installed', 'install it (pip install virtme-ng), or drop --vng to use the built-in QEMU runner');
  if (options.kernel && options.build) throw new CliError('--build and --kernel exclude each other', 'use --kernel PATH for your own bzImage, or --build for the test kernel', 2);
  const chosen = [options.kernel && '--kernel', options.kernelVersion && '--kernel-version', options.source && '--source'].filter(Boolean);
  if (chosen.length > 1) throw new CliError(`${chosen.join(' and ')} exclude each other`, 'name one kernel: a bzImage, a Debian version or a source tree', 2);
  await checkKernelVersion(options.kernelVersion);

  // `iommufd ...` in the VM means this very command (the guest sees the host's files).
  if (command[0] === 'iommufd') command = [process.execPath, binPath, ...command.slice(1)];

  let kernel = options.kernel;
  // Built here, before the VM's own timeout starts.
  if (!kernel) kernel = await buildKernel(options);
  if (command.length === 0 && !options.shell) {
    process.stdout.write(`${kernel}\n`); // --build alone: where the kernel is
    return 0;
  }

  if (options.vng) {
    // virtme-ng boots the kernel with the host's root as a copy-on-write snapshot.
    const args = ['--run', kernel!, '--force-9p', '--cwd', process.cwd()];
    if (options.memory) args.push('--memory', `${options.memory}M`);
    if (command.length > 0) args.push('--exec', shellQuote(command));
    const result = spawnSync('vng', args, { stdio: 'inherit' });
    if (result.error) throw new CliError(`cannot run vng: ${result.error.message}`);
    return result.status ?? 1;
  }

  const { runInVm } = (await import(pathToFileURL(join(packageRoot, 'scripts/vm.mjs')).href)) as { runInVm: RunInVm };
  return runInVm(command, {
    kernel,
    cwd: process.cwd(),
    ...(options.timeout ? { timeout: options.timeout } : {}),
    ...(options.memory ? { memory: options.memory } : {}),
  });
}
