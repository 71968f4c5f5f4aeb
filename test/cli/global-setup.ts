// The CLI tests run bin/iommufd.js, i.e. the compiled dist/: rebuild it when
// lib/ is newer, so the tests never exercise stale code. In the VM (read-only
// checkout) dist/ must already be current: the host tests build it first.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { root } from './cli.js';

function staleSources(): string[] {
  const stale: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
        const out = join(root, 'dist', relative(join(root, 'lib'), path)).replace(/\.ts$/, '.js');
        let outTime = 0;
        try {
          outTime = statSync(out).mtimeMs;
        } catch {
          // not built
        }
        if (outTime < statSync(path).mtimeMs) stale.push(relative(root, path));
      }
    }
  };
  walk(join(root, 'lib'));
  return stale;
}

export default function setup(): void {
  const stale = staleSources();
  if (stale.length === 0) return;
  try {
    accessSync(root, constants.W_OK);
  } catch {
    throw new Error(`dist/ is older than ${stale[0]} (and ${stale.length - 1} more), and read-only here: run \`npm run build\` on the host first`);
  }
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], {
    cwd: root,
    encoding: 'utf8',
  });
  // Type errors still emit JavaScript; the tests then show what is broken.
  if (tsc.status !== 0) console.warn(`tsc reported errors while rebuilding dist/ for the CLI tests:\n${tsc.stdout}${tsc.stderr}`);
}
