// The generated uAPI tables (scripts/gen-uapi.mjs: lib/uapi/layout.ts, native/uapi_layout.h)
// against the kernel's own headers of each version, and lib/uapi/errno.ts against its errno headers.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { LINUX_ERRNO, LINUX_ERRNO_7_3 } from '../../lib/uapi/errno.js';
import { UAPI_LAYOUTS, type UapiVersion } from '../../lib/uapi/layout.js';
import * as uapi from '../../lib/uapi/constants.js';
import { logSkip } from '../skip-log.js';

const ROOT = join(import.meta.dirname, '..', '..');
const VERSIONS = Object.keys(UAPI_LAYOUTS) as UapiVersion[];
const tarballOf = (v: string) => `/usr/src/linux-source-${v}.tar.xz`;
const missing = VERSIONS.map(tarballOf).filter((t) => !existsSync(t));

/** A literal C++ can compare (bigints past 2^53 as ULL). */
const cxx = (v: number | bigint) => (typeof v === 'bigint' ? `${v}ULL` : `${v}LL`);

/**
 * One static_assert per fact of `version`'s table: the TypeScript table and the C++ one
 * (the same names gen-uapi.mjs gives its members) against sizeof/offsetof/the macros.
 */
function checksOf(version: UapiVersion): string {
  const l = UAPI_LAYOUTS[version];
  const out: string[] = [];
  const same = (ours: string, theirs: string) => out.push(`SAME(${ours}, ${theirs});`);
  const all = (pick: (v: (typeof UAPI_LAYOUTS)[UapiVersion]) => object) => [...new Set(VERSIONS.flatMap((v) => Object.keys(pick(UAPI_LAYOUTS[v]))))];
  const structs = l.structs as unknown as Record<string, { size: number; offsets: Record<string, number>; pointers: readonly number[] }>;
  for (const name of all((v) => v.structs)) {
    const s = structs[name];
    const fields = [...new Set(VERSIONS.flatMap((v) => Object.keys((UAPI_LAYOUTS[v].structs as unknown as typeof structs)[name]?.offsets ?? {})))];
    if (!s) {
      same(`L.${name}.sizeof_`, 'u::kAbsent');
      continue;
    }
    same(`sizeof(struct ${name})`, cxx(s.size));
    same(`L.${name}.sizeof_`, `sizeof(struct ${name})`);
    for (const f of fields) {
      const at = s.offsets[f];
      if (at === undefined) same(`L.${name}.${f.replace(/\./g, '_')}`, 'u::kAbsent');
      else same(`offsetof(struct ${name}, ${f})`, cxx(at)), same(`L.${name}.${f.replace(/\./g, '_')}`, `offsetof(struct ${name}, ${f})`);
    }
    for (const p of s.pointers) {
      const f = Object.keys(s.offsets).find((k) => s.offsets[k] === p && !k.startsWith('__'));
      expect(f, `${version} ${name}: pointer at ${p}`).toBeDefined();
      same(`sizeof(((struct ${name} *)0)->${f})`, '8');
    }
  }
  for (const [name, io] of Object.entries(l.ioctls)) {
    const m = `L.ioctl.${name.replace(/^IOMMU_/, '').toLowerCase()}`;
    same(`_IO(IOMMUFD_TYPE, ${io.nr})`, name);
    same(`${m}.nr`, cxx(io.nr));
    same(`${m}.size`, `sizeof(struct ${io.struct})`);
    same(`${m}.min`, cxx(io.min));
    out.push(`static_assert(${io.min} <= sizeof(struct ${io.struct}) && ${io.min} >= 4, "${name} min");`);
    const p = name === 'IOMMU_TEST_CMD' ? [] : structs[io.struct]!.pointers;
    same(`${m}.pointers[0]`, p[0] === undefined ? 'u::kAbsent' : cxx(p[0]));
    same(`${m}.pointers[1]`, p[1] === undefined ? 'u::kAbsent' : cxx(p[1]));
  }
  for (const name of all((v) => v.ioctls)) if (!(name in l.ioctls)) same(`L.ioctl.${name.replace(/^IOMMU_/, '').toLowerCase()}.nr`, 'u::kAbsent');
  for (const [name, v] of Object.entries(l.vfioIoctls) as [string, { request: number; minsz?: number }][]) {
    const m = `L.vfio.${name.replace(/^VFIO_/, '').toLowerCase()}`;
    same(name, cxx(v.request));
    same(m, name);
    if (v.minsz !== undefined) same(`${m}_minsz`, cxx(v.minsz));
  }
  for (const [name, t] of Object.entries(l.testOps)) {
    same(`IOMMU_TEST_OP_${name}`, cxx(t.op));
    same(`L.test_op.${name.toLowerCase()}.op`, `IOMMU_TEST_OP_${name}`);
    same(`L.test_op.${name.toLowerCase()}.pointer`, t.pointers[0] === undefined ? 'u::kAbsent' : cxx(t.pointers[0]));
  }
  for (const name of all((v) => v.testOps)) if (!(name in l.testOps)) same(`L.test_op.${name.toLowerCase()}.op`, 'u::kAbsent');
  for (const [name, value] of Object.entries(l.constants)) same(name, cxx(value));
  return `${out.join('\n')}\n`;
}

const strict = Boolean(process.env.CI) || process.env.IOMMUFD_REQUIRE_KERNEL === '1';
const work = mkdtempSync(join(tmpdir(), 'iommufd-abi-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

test('the committed uAPI tables are what scripts/gen-uapi.mjs makes of the kernel headers', { timeout: 180_000 }, (ctx) => {
  if (missing.length > 0 && !strict) {
    const reason = `kernel sources not installed: ${missing.join(', ')}`;
    logSkip(reason);
    ctx.skip(reason);
  }
  const gen = spawnSync(process.execPath, [join(ROOT, 'scripts', 'gen-uapi.mjs'), '--check'], { encoding: 'utf8' });
  expect(gen.stderr).toBe('');
  expect(gen.status).toBe(0);
});

let headers: string | null = null;
function headersDir(): string {
  if (headers) return headers;
  const dir = join(work, 'headers');
  const gen = spawnSync(process.execPath, [join(ROOT, 'scripts', 'gen-uapi.mjs'), '--headers', dir], { encoding: 'utf8' });
  expect(gen.stderr).toBe('');
  expect(gen.status).toBe(0);
  return (headers = dir);
}

for (const version of VERSIONS)
test(`native/uapi_layout.h and lib/uapi/layout.ts of ${version} match its uapi headers`, { timeout: 180_000 }, (ctx) => {
  if (missing.length > 0 && !strict) {
    const reason = `kernel sources not installed: ${missing.join(', ')}`;
    logSkip(reason);
    ctx.skip(reason);
  }
  const dir = join(headersDir(), version);
  writeFileSync(join(dir, 'include', 'checks.h'), checksOf(version));
  const [major, minor] = version.split('.');
  const source = join(import.meta.dirname, '..', 'abi', 'abi_check.cc');
  const args = ['-std=c++17', '-fsyntax-only', '-Wall', '-Werror', '-I', join(dir, 'include'), '-include', join(dir, 'stub.h')];
  const defs = [`-DLAYOUT_INDEX=${VERSIONS.indexOf(version)}`, `-DLAYOUT_MAJOR=${major}`, `-DLAYOUT_MINOR=${minor}`];
  const run = spawnSync('g++', [...args, ...defs, source], { encoding: 'utf8' });
  expect(run.error).toBeUndefined();
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
});

test('lib/uapi/constants.ts takes each constant from the generated tables', () => {
  // Newer-only names come from 7.3; everything else must be 6.12's value.
  for (const [name, value] of Object.entries(uapi)) {
    if (typeof value !== 'number' || name === 'U32_MAX') continue;
    const k612 = UAPI_LAYOUTS['6.12'].constants as Record<string, number | bigint>;
    const k73 = UAPI_LAYOUTS['7.3'].constants as Record<string, number | bigint>;
    expect([name, value]).toEqual([name, name in k612 ? k612[name] : k73[name]]);
  }
  expect(uapi.IOMMUFD_CMDS.IOMMU_TEST_CMD).toBe(UAPI_LAYOUTS['6.12'].ioctls.IOMMU_TEST_CMD.nr);
  expect(Object.keys(uapi.IOMMUFD_CMDS_7_3)).toEqual(['IOMMU_IOAS_MAP_FILE', 'IOMMU_VIOMMU_ALLOC', 'IOMMU_VDEVICE_ALLOC', 'IOMMU_IOAS_CHANGE_PROCESS', 'IOMMU_VEVENTQ_ALLOC', 'IOMMU_HW_QUEUE_ALLOC', 'IOMMU_IOAS_NOIOMMU_GET_PA']);
});

const TARBALL = '/usr/src/linux-source-6.12.tar.xz';
const HEADERS = [
  'include/uapi/linux/iommufd.h',
  'drivers/iommu/iommufd/iommufd_test.h',
  'include/uapi/linux/vfio.h',
  'include/uapi/asm-generic/errno-base.h',
  'include/uapi/asm-generic/errno.h',
];

// A kernel tree of `version` with the headers: IOMMUFD_KERNEL_SRC, the tree
// build-kernel.sh extracted, or the files pulled from Debian's tarball.
function kernelTree(version: '6.12' | '7.3' = '6.12'): string | null {
  const cacheSrc = join(process.env.IOMMUFD_CACHE ?? join(homedir(), '.cache', 'iommufd'), 'src');
  const trees = [
    ...(process.env.IOMMUFD_KERNEL_SRC ? [process.env.IOMMUFD_KERNEL_SRC] : []),
    ...(existsSync(cacheSrc) ? readdirSync(cacheSrc).map((v) => join(cacheSrc, v)) : []),
  ];
  // The cache holds one tree per kernel version: pick the one of `version`.
  const [major, minor] = version.split('.');
  const isVersion = (tree: string) => new RegExp(`^VERSION = ${major}\nPATCHLEVEL = ${minor}\n`, 'm').test(readFileSync(join(tree, 'Makefile'), 'utf8'));
  const found = trees.find((tree) => HEADERS.every((h) => existsSync(join(tree, h))) && existsSync(join(tree, 'Makefile')) && isVersion(tree));
  if (found) return found;
  const tarball = version === '6.12' ? TARBALL : `/usr/src/linux-source-${version}.tar.xz`;
  if (!existsSync(tarball)) return null;
  const members = HEADERS.map((h) => `linux-source-${version}/${h}`);
  const tar = spawnSync('tar', ['-xJf', tarball, '-C', work, ...members]);
  return tar.status === 0 ? join(work, `linux-source-${version}`) : null;
}

const tree = kernelTree();

test.skipIf(!tree && !strict)('lib/uapi/errno.ts has every errno of the kernel headers, with the same number', () => {
  expect(tree).not.toBeNull();
  const fromHeaders: Record<string, number> = {};
  for (const header of HEADERS.slice(3)) {
    for (const match of readFileSync(join(tree!, header), 'utf8').matchAll(/^#define\s+(E\w+)\s+(\d+)\b/gm))
      fromHeaders[match[1]!] = Number(match[2]);
  }
  expect(Object.keys(fromHeaders).length).toBeGreaterThan(120);
  expect(LINUX_ERRNO).toEqual(fromHeaders);
});

/** The numeric errno #defines of a tree's headers (aliases like EFSBADCRC name another errno, not a number). */
function errnosOf(root: string): Record<string, number> {
  const found: Record<string, number> = {};
  for (const header of HEADERS.slice(3))
    for (const match of readFileSync(join(root, header), 'utf8').matchAll(/^#define\s+(E\w+)\s+(\d+)\b/gm)) found[match[1]!] = Number(match[2]);
  return found;
}

const tree73 = kernelTree('7.3');

test.skipIf(!tree73 && !strict)("lib/uapi/errno.ts with LINUX_ERRNO_7_3 has every errno of 7.3's headers, and LINUX_ERRNO_7_3 only those 6.12 lacks", () => {
  expect(tree73, 'kernel headers not found (install linux-source-7.3)').not.toBeNull();
  expect({ ...LINUX_ERRNO, ...LINUX_ERRNO_7_3 }).toEqual(errnosOf(tree73!));
  for (const name of Object.keys(LINUX_ERRNO_7_3)) expect(LINUX_ERRNO).not.toHaveProperty(name);
});
