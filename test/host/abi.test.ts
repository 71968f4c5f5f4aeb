// Our struct layouts (native/uapi.h) and constants (lib/uapi.ts) against the
// kernel's own uapi headers from Debian's linux-source-6.12.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { LINUX_ERRNO, LINUX_ERRNO_7_3 } from '../../lib/errno.js';
import { RAW_LAYOUT, VFIO_REQUESTS } from '../../lib/raw-ioctl.js';
import * as uapi from '../../lib/uapi.js';

/**
 * The rawIoctl() layout tables as constants: per command (and test op) the
 * number of user-pointer fields and the offset of the first, per VFIO request
 * its minsz.
 */
function rawLayoutConstants(): (readonly [string, number])[] {
  const out: (readonly [string, number])[] = [];
  const pointers = (prefix: string, list: number[] | undefined) => {
    out.push([`${prefix}_POINTERS`, list?.length ?? -1], [`${prefix}_POINTER`, list?.[0] ?? 0]);
  };
  for (const [name, nr] of Object.entries(uapi.IOMMUFD_CMDS))
    if (name !== 'IOMMU_TEST_CMD') pointers(`RAW_${name}`, RAW_LAYOUT.pointers.get(nr));
  for (const [name, op] of Object.entries(uapi.IOMMU_TEST_OPS)) pointers(`RAW_TEST_${name}`, RAW_LAYOUT.testOpPointers.get(op));
  for (const [name, request] of Object.entries(VFIO_REQUESTS)) {
    const minsz = RAW_LAYOUT.vfioMinsz.get(request);
    if (minsz !== undefined) out.push([`RAW_${name}_MINSZ`, minsz]);
  }
  out.push(['RAW_VFIO_IOMMU_MAP_DMA_VADDR', RAW_LAYOUT.vfioMapDmaVaddr]);
  return out;
}

const TARBALL = '/usr/src/linux-source-6.12.tar.xz';
const HEADERS = [
  'include/uapi/linux/iommufd.h',
  'drivers/iommu/iommufd/iommufd_test.h',
  'include/uapi/linux/vfio.h',
  'include/uapi/asm-generic/errno-base.h',
  'include/uapi/asm-generic/errno.h',
];
const strict = Boolean(process.env.CI) || process.env.IOMMUFD_REQUIRE_KERNEL === '1';
const work = mkdtempSync(join(tmpdir(), 'iommufd-abi-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

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

test.skipIf(!tree && !strict)('native/uapi.h and lib/uapi.ts match the 6.12 uapi headers', () => {
  expect(tree, `kernel headers not found (install linux-source-6.12)`).not.toBeNull();
  const include = join(work, 'include');
  mkdirSync(join(include, 'linux'), { recursive: true });
  // Only these two come from the tree; <linux/types.h> & co. from the system.
  copyFileSync(join(tree!, HEADERS[0]!), join(include, 'linux', 'iommufd.h'));
  copyFileSync(join(tree!, HEADERS[1]!), join(include, 'iommufd_test.h'));
  copyFileSync(join(tree!, HEADERS[2]!), join(include, 'linux', 'vfio.h'));
  // Scalars as they are; tables (IOMMU_TEST_OPS, IOMMUFD_CMDS) as TABLE_KEY.
  const scalars = Object.entries(uapi).flatMap(([name, value]) =>
    typeof value === 'object' ? Object.entries(value).map(([key, v]) => [`${name}_${key}`, v] as const) : [[name, value] as const],
  );
  // Prefixed: the kernel headers #define the same names.
  const constants = [
    ...scalars.map(([name, value]) => `constexpr unsigned long long TS_${name} = ${value}ULL;`),
    ...rawLayoutConstants().map(([name, value]) => `constexpr long long TS_${name} = ${value};`),
  ].join('\n');
  writeFileSync(join(include, 'ts_constants.h'), `namespace ts {\n${constants}\n}\n`);

  const source = join(import.meta.dirname, '..', 'abi', 'abi_check.cc');
  const cxx = spawnSync('g++', ['-std=c++17', '-fsyntax-only', '-Wall', '-Werror', '-I', include, source], {
    encoding: 'utf8',
  });
  expect(cxx.error).toBeUndefined();
  expect(cxx.stderr).toBe('');
  expect(cxx.status).toBe(0);
});

test.skipIf(!tree && !strict)('lib/errno.ts has every errno of the kernel headers, with the same number', () => {
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

test.skipIf(!tree73 && !strict)("lib/errno.ts with LINUX_ERRNO_7_3 has every errno of 7.3's headers, and LINUX_ERRNO_7_3 only those 6.12 lacks", () => {
  expect(tree73, 'kernel headers not found (install linux-source-7.3)').not.toBeNull();
  expect({ ...LINUX_ERRNO, ...LINUX_ERRNO_7_3 }).toEqual(errnosOf(tree73!));
  for (const name of Object.keys(LINUX_ERRNO_7_3)) expect(LINUX_ERRNO).not.toHaveProperty(name);
});
