// The CLI tests run bin/iommufd.js, i.e. the compiled dist/: rebuild it when
// lib/ is newer, so the tests never exercise stale code. In the VM (read-only
// checkout) dist/ must already be current: the host tests build it first.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { staleLibSources } from '../../scripts/stale-dist.mjs';
import { root } from './cli.js';

export default function setup(): void {
  const stale = staleLibSources(root);
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
