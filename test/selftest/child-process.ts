// The selftests' fork(), for a Node process, which cannot fork: a child Node
// process started from a script in fixtures/, handed the descriptors it shares
// with the parent (the iommufd first, as fd 3). The script is bundled into one
// plain JS file on first use (esbuild): a child that transpiled itself (tsx)
// took ~3 s to start under TCG. It runs with the addon this process loaded.
import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { afterAll } from 'vitest';
import { addonPath } from '../../lib/native/binding.js';
import { BACKEND } from '../backend.js';
import { logSkip } from '../skip-log.js';

const bundled = new Map<string, string>();
let dir: string | undefined;

/** `entry` and the lib modules it imports, as one .mjs (built once per run). */
function childScript(entry: string): string {
  let script = bundled.get(entry);
  if (!script) {
    dir ??= mkdtempSync(join(tmpdir(), 'iommufd-child-'));
    script = join(dir, `child-${bundled.size}.mjs`);
    buildSync({ entryPoints: [entry], outfile: script, bundle: true, platform: 'node', format: 'esm', logLevel: 'error' });
    bundled.set(entry, script);
  }
  return script;
}
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Start `entry` with `args`; `fds` become its fd 3, 4, ...; stdin and stdout are pipes. */
export function spawnChild(entry: string, args: string[], fds: number[]): ChildProcess {
  const stdio: StdioOptions = ['pipe', 'pipe', 'inherit', ...fds];
  return spawn(process.execPath, [childScript(entry), ...args], { stdio, env: { ...process.env, IOMMUFD_ADDON: addonPath() } });
}

/** waitpid(): the child's exit status. */
export async function waitChild(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

/** On the simulator the test cannot go on: its iommufd state lives inside this process. */
export function skipOnSimulator(ctx: { skip: (note?: string) => void }): void {
  if (BACKEND !== 'sim') return;
  const reason = 'simulator: its iommufd lives in this process, a child process cannot share it';
  logSkip(reason);
  ctx.skip(reason);
}
