// Which lib/ sources are newer than tsc's output in dist/ (or have none): the one
// check behind "never test stale compiled code", used by scripts/run-vitest.mjs
// (the VM's kernel projects load dist/ only when this is empty) and by the CLI
// tests' global setup (which rebuilds dist/ when it is not).
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Paths (relative to `root`) of the lib/ sources dist/ is older than. */
export function staleLibSources(root) {
  const stale = [];
  const walk = (dir) => {
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
