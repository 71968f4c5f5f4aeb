#!/usr/bin/env node
// The `iommufd` command (lib/cli/, compiled to dist/cli/ by `npm run build`).
import { existsSync } from 'node:fs';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('iommufd: dist/cli/main.js is missing: the TypeScript is not compiled — run `npm run build` (npm install does it)\n');
  process.exit(1);
}
const { cli } = await import(main.href);
cli();
