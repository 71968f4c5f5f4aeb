// `iommufd vm`: build (or reuse) the test kernel and run a command inside a
// QEMU VM on it, through the project's runner (scripts/vm.mjs) or virtme-ng.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CliError, binPath, packageRoot, requireCheckout } from './common.js';

export interface VmOptions {
  kernel?: string;
  build: boolean;
  shell: boolean;
  vng: boolean;
  timeout?: number;
  memory?: number;
}

type RunInVm = (command: string[], options: Record<string, unknown>) => Promise<number>;

/** scripts/build-kernel.sh: progress on stderr, the bzImage path on stdout. */
function buildKernel(): Promise<string> {
  return new Promise((resolvePath, reject) => {
    const child = spawn('bash', [join(packageRoot, 'scripts/build-kernel.sh')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.on('error', (e) => reject(new CliError(`cannot run scripts/build-kernel.sh: ${e.message}`)));
    child.on('close', (code) => {
      const path = out.trim().split('\n').pop();
      if (code === 0 && path) resolvePath(path);
      else reject(new CliError(`building the test kernel failed (exit ${code})`, 'see the [kernel] lines above; the full log is in the build directory they name'));
    });
  });
}

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

const shellQuote = (args: string[]) => args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');

/** Resolves to the exit code of the command in the VM (or of the build). */
export async function vm(options: VmOptions, command: string[]): Promise<number> {
  requireCheckout('vm', ['scripts/vm.mjs', 'scripts/build-kernel.sh']);
  if (options.shell && !options.vng)
    throw new CliError(
      '--shell is not supported by the built-in QEMU runner: it runs one command over the serial console, without an interactive terminal',
      'install virtme-ng and use --vng --shell, or pass the command to run: iommufd vm -- COMMAND',
      2,
    );
  if (options.vng && !hasCommand('vng'))
    throw new CliError('vng (virtme-ng) is not installed', 'install it (pip install virtme-ng), or drop --vng to use the built-in QEMU runner');
  if (options.kernel && options.build) throw new CliError('--build and --kernel exclude each other', 'use --kernel PATH for your own bzImage, or --build for the test kernel', 2);

  // `iommufd ...` in the VM means this very command (the guest sees the host's files).
  if (command[0] === 'iommufd') command = [process.execPath, binPath, ...command.slice(1)];

  let kernel = options.kernel;
  if (options.build || (options.vng && !kernel)) kernel = await buildKernel();
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
