// The published declarations (dist/*.d.ts): @internal members are stripped
// (tsconfig stripInternal), and what is left still type-checks on its own, so
// no public type refers to a stripped one.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
let out: string;

function run(args: string[]): string {
  const r = spawnSync(process.execPath, [tsc, ...args], { cwd: root, encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.trim();
}

function declarations(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.d.ts'));
}

beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'iommufd-dts-'));
  expect(run(['-p', 'tsconfig.json', '--emitDeclarationOnly', '--declarationMap', 'false', '--outDir', out])).toBe('');
}, 120_000);

afterAll(() => rmSync(out, { recursive: true, force: true }));

test('no @internal member is left in the declarations', () => {
  const files = declarations(out);
  expect(files).toContain('index.d.ts');
  const leftovers = files.filter((f) => readFileSync(join(out, f), 'utf8').includes('@internal'));
  expect(leftovers).toEqual([]);
  // Spot checks: internal plumbing gone, the public API there.
  const ioas = readFileSync(join(out, 'api', 'ioas.d.ts'), 'utf8');
  expect(ioas).not.toMatch(/backendForBatch|noteMapped|gone\(/);
  expect(ioas).toMatch(/\[Symbol\.dispose\]\(\): void;/);
  expect(readFileSync(join(out, 'api', 'iommufd.d.ts'), 'utf8')).not.toMatch(/holdContext/);
});

test('the declarations type-check by themselves (a consumer without skipLibCheck)', () => {
  const config = join(out, 'tsconfig.check.json');
  writeFileSync(
    config,
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2023', 'ESNext.Disposable'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
        typeRoots: [join(root, 'node_modules', '@types')],
      },
      files: [join(out, 'index.d.ts')],
    }),
  );
  expect(run(['-p', config])).toBe('');
}, 120_000);
