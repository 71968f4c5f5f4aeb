// scripts/check-imports.mjs, which `npm run typecheck` runs over lib/: it must
// see type-only imports and re-exports, pass a tree without cycles, and hold
// lib/'s folders to their layer order.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';

const script = new URL('../../scripts/check-imports.mjs', import.meta.url).pathname;
let dir = '';

afterEach(() => rmSync(dir, { recursive: true, force: true }));

function check(files: Record<string, string>, extra: string[] = []): { status: number | null; stderr: string } {
  dir = mkdtempSync(join(tmpdir(), 'cycles-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  const r = spawnSync(process.execPath, [script, dir, ...extra], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

test('a type-only cycle through a subfolder fails and names its files', () => {
  const r = check({
    'a.ts': "import type { B } from './sub/b.js';\nexport interface A { b: B }\n",
    'sub/b.ts': "export type { A as B } from '../a.js';\n",
    'c.ts': "import { x } from './d.js';\nexport const c = x;\n",
    'd.ts': 'export const x = 1;\n',
  });
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/import cycle of 2 files/);
  expect(r.stderr).toMatch(/a\.ts -> .*sub\/b\.ts/);
  expect(r.stderr).not.toMatch(/[cd]\.ts ->/);
});

test('a dynamic import closes a cycle too', () => {
  const r = check({ 'a.ts': "import { b } from './b.js';\nexport const a = b;\n", 'b.ts': "export const b = () => import('./a.js');\n" });
  expect(r.status).toBe(1);
});

test('a tree without cycles passes, and so does lib/', () => {
  expect(check({ 'a.ts': "import { b } from './b.js';\nexport const a = b;\n", 'b.ts': 'export const b = 1;\n' }).status).toBe(0);
  expect(spawnSync(process.execPath, [script], { encoding: 'utf8' }).status).toBe(0);
});

test('a lower layer importing a higher one fails, naming both; downward imports pass', () => {
  const files = {
    'low/a.ts': "export const a = 1;\n",
    'high/b.ts': "import { a } from '../low/a.js';\nexport const b = a;\n",
  };
  expect(check(files, ['--layers', 'low,high']).status).toBe(0);
  const r = check({ ...files, 'low/c.ts': "import type { b } from '../high/b.js';\nexport type C = typeof b;\n" }, ['--layers', 'low,high']);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/low\/c\.ts \(low\) imports .*high\/b\.ts of the higher layer high/);
});

test('a folder that is no layer fails', () => {
  const r = check({ 'low/a.ts': 'export const a = 1;\n', 'other/b.ts': 'export const b = 2;\n' }, ['--layers', 'low']);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/other\/b\.ts is in no layer/);
});
