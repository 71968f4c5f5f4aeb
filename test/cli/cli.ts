// Runs the `iommufd` command as a child process, the way a user or CI does.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const bin = join(root, 'bin', 'iommufd.js');

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function iommufd(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Result> {
  return exec(process.execPath, [bin, ...args], options);
}

export function exec(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...options.env };
    // The child decides for itself whether its output is a terminal.
    delete env.FORCE_COLOR;
    // A `selftest` it runs has its own skips: keep them out of this run's skip log.
    delete env.IOMMUFD_SKIP_LOG;
    const child = spawn(file, args, { cwd: options.cwd ?? root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The lines of a stream, without the final empty one. */
export const lines = (text: string): string[] => text.replace(/\n$/, '').split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);
