#!/usr/bin/env node
// The uAPI facts the package uses, generated per kernel version from that kernel's own headers.
//
//   node scripts/gen-uapi.mjs           write lib/uapi/layout.ts and native/uapi_layout.h
//   node scripts/gen-uapi.mjs --check   exit 1 when the committed files are not what the headers give
//   node scripts/gen-uapi.mjs --headers DIR   only write each version's headers to DIR/<version>/
//                                         (include/ and stub.h, for test/abi)
// Exit 2: a kernel tarball is missing.
//
// For each Debian source tarball (scripts/kernels.mjs) it takes include/uapi/linux/iommufd.h,
// include/uapi/linux/vfio.h, drivers/iommu/iommufd/iommufd_test.h, and main.c for the ioctl
// table's minimum sizes (IOCTL_OP's `last`), compiles a probe against them with the system
// compiler and writes the numbers it prints. Only numbers and names reach the output, so a
// user's `npm install` needs no kernel source. test/host/abi.test.ts runs --check and
// --headers. Also a module: generate(), renderTs(), renderH().
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, createReadStream } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KERNELS } from './kernels.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const OUTPUTS = { ts: join(ROOT, 'lib', 'uapi', 'layout.ts'), h: join(ROOT, 'native', 'uapi_layout.h') };
const HEADERS = {
  iommufd: 'include/uapi/linux/iommufd.h',
  vfio: 'include/uapi/linux/vfio.h',
  test: 'drivers/iommu/iommufd/iommufd_test.h',
};
const SOURCES = { main: 'drivers/iommu/iommufd/main.c', makefile: 'Makefile' };

// The structs and fields we read or write. `*` marks a user pointer (raw ioctls must leave
// it 0), a trailing `?` a field some version lacks; a struct name ending in `?` may be absent
// as a whole. Everything else must exist in every version (checked), so code that uses it
// needs no version test.
const STRUCTS = {
  iommu_destroy: 'size id',
  iommu_ioas_alloc: 'size flags out_ioas_id',
  iommu_iova_range: 'start last',
  iommu_ioas_iova_ranges: 'size ioas_id num_iovas __reserved *allowed_iovas out_iova_alignment',
  iommu_ioas_allow_iovas: 'size ioas_id num_iovas __reserved *allowed_iovas',
  iommu_ioas_copy: 'size flags dst_ioas_id src_ioas_id length dst_iova src_iova',
  iommu_ioas_map: 'size flags ioas_id __reserved *user_va length iova',
  iommu_ioas_unmap: 'size ioas_id iova length',
  iommu_option: 'size option_id op __reserved object_id val64',
  iommu_vfio_ioas: 'size ioas_id op __reserved',
  iommu_hwpt_alloc: 'size flags dev_id pt_id out_hwpt_id __reserved data_type data_len *data_uptr fault_id __reserved2',
  iommu_hw_info:
    'size flags dev_id data_len *data_uptr out_data_type in_data_type? out_max_pasid_log2 __reserved out_capabilities',
  iommu_hwpt_set_dirty_tracking: 'size flags hwpt_id __reserved',
  iommu_hwpt_get_dirty_bitmap: 'size hwpt_id flags __reserved iova length page_size *data',
  iommu_hwpt_invalidate: 'size hwpt_id *data_uptr data_type entry_len entry_num __reserved',
  iommu_fault_alloc: 'size flags out_fault_id out_fault_fd',
  iommu_hwpt_pgfault: 'flags dev_id pasid grpid perm __reserved addr length cookie',
  iommu_hwpt_page_response: 'cookie code',
  iommu_hw_info_vtd: 'flags __reserved cap_reg ecap_reg',
  'iommu_ioas_map_file?': 'size flags ioas_id fd start length iova',
  'iommu_viommu_alloc?': 'size flags type dev_id hwpt_id out_viommu_id data_len __reserved *data_uptr',
  'iommu_vdevice_alloc?': 'size viommu_id dev_id out_vdevice_id virt_id',
  'iommu_ioas_change_process?': 'size __reserved',
  'iommu_veventq_alloc?': 'size flags viommu_id type veventq_depth out_veventq_id out_veventq_fd __reserved',
  'iommu_hw_queue_alloc?': 'size flags viommu_id type index out_hw_queue_id nesting_parent_iova length',
  'iommu_ioas_noiommu_get_pa?': 'size flags ioas_id __reserved iova length out_phys',
  'iommufd_vevent_header?': 'flags sequence',
  iommu_test_hw_info: 'flags test_reg',
  iommu_hwpt_selftest: 'iotlb pagetable_type?',
  iommu_hwpt_invalidate_selftest: 'flags iotlb_id',
  'iommu_viommu_selftest?': 'in_data out_data out_mmap_offset out_mmap_length',
  'iommu_viommu_invalidate_selftest?': 'flags vdev_id cache_id',
  'iommu_viommu_event_selftest?': 'virt_id',
  iommu_test_cmd: [
    'size op id __reserved',
    'add_reserved.start add_reserved.length',
    'mock_domain.out_stdev_id mock_domain.out_hwpt_id mock_domain.out_idev_id',
    'mock_domain_flags.out_stdev_id mock_domain_flags.out_hwpt_id mock_domain_flags.out_idev_id mock_domain_flags.dev_flags',
    'mock_domain_replace.pt_id',
    'check_map.iova check_map.length *check_map.uptr',
    'check_refs.length *check_refs.uptr check_refs.refs',
    'create_access.out_access_fd create_access.flags',
    'destroy_access_pages.access_pages_id',
    'access_pages.flags access_pages.out_access_pages_id access_pages.iova access_pages.length *access_pages.uptr',
    'access_rw.iova access_rw.length *access_rw.uptr access_rw.flags',
    'memory_limit.limit access_replace_ioas.ioas_id',
    'dirty.flags dirty.iova dirty.length dirty.page_size *dirty.uptr dirty.out_nr_dirty',
    'check_iotlb.id check_iotlb.iotlb',
    'trigger_iopf.dev_id trigger_iopf.pasid trigger_iopf.grpid trigger_iopf.perm trigger_iopf.addr',
    'check_dev_cache.id? check_dev_cache.cache? trigger_vevent.dev_id?',
    'pasid_attach.pasid? pasid_attach.pt_id? pasid_replace.pasid? pasid_replace.pt_id? pasid_detach.pasid?',
    'pasid_check.pasid? pasid_check.hwpt_id? dmabuf_get.length? dmabuf_get.open_flags?',
    'dmabuf_revoke.dmabuf_fd? dmabuf_revoke.revoked?',
    'last',
  ].join(' '),
  vfio_iommu_type1_info: 'argsz flags iova_pgsizes cap_offset pad',
  vfio_info_cap_header: 'id version next',
  vfio_iommu_type1_info_cap_iova_range: 'header nr_iovas reserved iova_ranges',
  vfio_iommu_type1_info_dma_avail: 'header avail',
  vfio_iova_range: 'start end',
  vfio_iommu_type1_dma_map: 'argsz flags *vaddr iova size',
  vfio_iommu_type1_dma_unmap: 'argsz flags iova size',
  vfio_device_info: 'argsz flags num_regions num_irqs cap_offset pad',
  vfio_region_info: 'argsz flags index cap_offset size offset',
  vfio_irq_info: 'argsz flags index count',
  vfio_device_bind_iommufd: 'argsz flags iommufd out_devid *token_uuid_ptr?',
  vfio_device_attach_iommufd_pt: 'argsz flags pt_id pasid?',
  vfio_device_detach_iommufd_pt: 'argsz flags pasid?',
};

// The selftest ops that carry a user pointer, and where (a member of iommu_test_cmd).
const TEST_OP_POINTERS = {
  MD_CHECK_MAP: 'check_map.uptr',
  MD_CHECK_REFS: 'check_refs.uptr',
  ACCESS_PAGES: 'access_pages.uptr',
  ACCESS_RW: 'access_rw.uptr',
  DIRTY: 'dirty.uptr',
};

// VFIO ioctls we issue, the struct each takes, and (type1 compat) vfio_compat.c's minsz:
// offsetofend() of the last field the kernel always reads.
const VFIO_IOCTLS = {
  VFIO_GET_API_VERSION: {},
  VFIO_CHECK_EXTENSION: {},
  VFIO_SET_IOMMU: {},
  VFIO_IOMMU_GET_INFO: { struct: 'vfio_iommu_type1_info', minsz: 'iova_pgsizes' },
  VFIO_IOMMU_MAP_DMA: { struct: 'vfio_iommu_type1_dma_map', minsz: 'size' },
  VFIO_IOMMU_UNMAP_DMA: { struct: 'vfio_iommu_type1_dma_unmap', minsz: 'size' },
  VFIO_DEVICE_GET_INFO: { struct: 'vfio_device_info' },
  VFIO_DEVICE_GET_REGION_INFO: { struct: 'vfio_region_info' },
  VFIO_DEVICE_GET_IRQ_INFO: { struct: 'vfio_irq_info' },
  VFIO_DEVICE_RESET: {},
  VFIO_DEVICE_BIND_IOMMUFD: { struct: 'vfio_device_bind_iommufd' },
  VFIO_DEVICE_ATTACH_IOMMUFD_PT: { struct: 'vfio_device_attach_iommufd_pt' },
  VFIO_DEVICE_DETACH_IOMMUFD_PT: { struct: 'vfio_device_detach_iommufd_pt' },
};

// vfio.h holds far more than we use: only constants with these prefixes.
const VFIO_CONSTANTS = [
  'VFIO_API_VERSION', 'VFIO_TYPE1', 'VFIO_UNMAP_ALL', 'VFIO_UPDATE_VADDR', 'VFIO_DMA_CC_IOMMU', 'VFIO_DMA_MAP_FLAG_',
  'VFIO_DMA_UNMAP_FLAG_', 'VFIO_IOMMU_INFO_', 'VFIO_IOMMU_TYPE1_INFO_', 'VFIO_PCI_', 'VFIO_DEVICE_FLAGS_',
  'VFIO_REGION_INFO_', 'VFIO_IRQ_INFO_', 'VFIO_DEVICE_ATTACH_', 'VFIO_DEVICE_DETACH_', 'VFIO_DEVICE_BIND_',
];

function parseStructs() {
  return Object.entries(STRUCTS).map(([key, spec]) => {
    const optional = key.endsWith('?');
    const fields = spec.split(/\s+/).map((f) => {
      const pointer = f.startsWith('*');
      const opt = f.endsWith('?');
      return { name: f.replace(/^\*/, '').replace(/\?$/, ''), pointer, optional: optional || opt };
    });
    return { name: key.replace(/\?$/, ''), optional, fields };
  });
}

/** Integer constants a header defines: enumerators and object-like #defines (not ioctls). */
function constantNames(text, filter) {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const names = new Set();
  for (const [, body] of code.matchAll(/enum\s*\w*\s*\{([^}]*)\}/g))
    for (const item of body.split(','))
      if (/^\s*([A-Z][A-Za-z0-9_]*)\b/.test(item)) names.add(item.trim().match(/^[A-Z][A-Za-z0-9_]*/)[0]);
  for (const [, name, value] of code.matchAll(/^\s*#\s*define\s+([A-Z][A-Za-z0-9_]*)[ \t]+(\S[^\n]*)$/gm))
    if (!/^_IO/.test(value.trim()) && !name.endsWith('_H')) names.add(name);
  return [...names].filter(filter);
}

/** main.c's IOCTL_OP(_ioctl, _fn, _struct, _last) entries, in table order. */
function ioctlTable(mainC) {
  const table = [];
  for (const [, name, struct, last] of mainC.matchAll(/IOCTL_OP\(\s*(IOMMU_\w+)\s*,\s*\w+\s*,\s*struct\s+(\w+)\s*,\s*([\w.]+)\s*\)/g))
    table.push({ name, struct, last });
  if (table.length < 10) throw new Error('main.c: the IOCTL_OP table was not found');
  return table;
}

/**
 * Compiles one probe line per fact; a line the headers cannot compile (a field, struct or
 * constant the version lacks) is dropped and the rest compiled again.
 */
function probe(dir, facts) {
  const stub = join(dir, 'stub.h');
  let live = facts.map((f, i) => ({ ...f, i }));
  for (let round = 0; round < 8; round++) {
    const head = [
      '#include <stdio.h>',
      '#include <stddef.h>',
      '#include <linux/iommufd.h>',
      '#include <linux/vfio.h>',
      '#include "iommufd_test.h"',
      '#define END(s, f) (offsetof(struct s, f) + sizeof(((struct s *)0)->f))',
      'static const struct { int i, neg; unsigned long long v; } facts[] = {',
    ];
    const src = [...head, ...live.map((f) => `{${f.i}, (${f.expr}) < 0, (unsigned long long)(${f.expr})},`), '};',
      'int main(void) { for (unsigned k = 0; k < sizeof(facts) / sizeof(facts[0]); k++) printf(facts[k].neg ? "%d %lld\\n" : "%d %llu\\n", facts[k].i, facts[k].v); return 0; }', ''].join('\n');
    writeFileSync(join(dir, 'probe.c'), src);
    const cc = spawnSync(process.env.CC || 'cc', ['-std=gnu11', '-w', '-fmax-errors=0', '-I', join(dir, 'include'), '-include', stub, '-o', join(dir, 'probe'), join(dir, 'probe.c')], { encoding: 'utf8' });
    if (cc.error) throw new Error(`cannot run the C compiler: ${cc.error.message}`);
    if (cc.status === 0) {
      const out = execFileSync(join(dir, 'probe'), { encoding: 'utf8' });
      const values = new Map(out.trim().split('\n').map((l) => l.split(' ')).map(([i, v]) => [Number(i), BigInt(v)]));
      return facts.map((_, i) => values.get(i));
    }
    const bad = new Set();
    for (const [, file, line] of cc.stderr.matchAll(/^([^:\n]+):(\d+):\d+: error/gm)) {
      if (!file.endsWith('probe.c')) throw new Error(`the headers do not compile:\n${cc.stderr}`);
      bad.add(Number(line) - head.length - 1);
    }
    if (bad.size === 0) throw new Error(`probe failed:\n${cc.stderr}`);
    live = live.filter((_, k) => !bad.has(k));
  }
  throw new Error('probe: too many rounds');
}

function sha16(file) {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file).on('data', (d) => hash.update(d)).on('end', () => resolve(hash.digest('hex').slice(0, 16))).on('error', reject);
  });
}

/** The files of one version: build-kernel.sh's extracted tree when cached, else from the tarball. */
async function sourcesOf(version, tarball, work) {
  const wanted = [...Object.values(HEADERS), ...Object.values(SOURCES)];
  const cached = join(process.env.IOMMUFD_CACHE ?? join(homedir(), '.cache', 'iommufd'), 'src', await sha16(tarball));
  let root = cached;
  if (!wanted.every((f) => existsSync(join(cached, f)))) {
    root = join(work, `src-${version}`);
    mkdirSync(root, { recursive: true });
    // Whatever the tarball's top directory is called: one pass, only these members.
    execFileSync('tar', ['-xJf', tarball, '-C', root, '--strip-components=1', '--wildcards', '--no-wildcards-match-slash', ...wanted.map((f) => `*/${f}`)]);
    for (const f of wanted) if (!existsSync(join(root, f))) throw new Error(`${tarball} has no ${f}`);
  }
  return Object.fromEntries(Object.entries({ ...HEADERS, ...SOURCES }).map(([k, f]) => [k, readFileSync(join(root, f), 'utf8')]));
}

/** dir/include/ with the three headers as <linux/iommufd.h>, <linux/vfio.h>, "iommufd_test.h"; dir/stub.h. */
function writeIncludes(src, dir) {
  mkdirSync(join(dir, 'include', 'linux'), { recursive: true });
  writeFileSync(join(dir, 'include', 'linux', 'iommufd.h'), src.iommufd);
  writeFileSync(join(dir, 'include', 'linux', 'vfio.h'), src.vfio);
  writeFileSync(join(dir, 'include', 'iommufd_test.h'), src.test);
  // Kernel-only annotations the uapi headers use; the system <linux/stddef.h> may lack them.
  writeFileSync(join(dir, 'stub.h'), '#include <linux/stddef.h>\n#ifndef __counted_by\n#define __counted_by(m)\n#endif\n#define __user\n');
}

/** The facts of one kernel version. */
function layoutOf(version, src, dir) {
  writeIncludes(src, dir);
  const mk = (k) => src.makefile.match(new RegExp(`^${k} = (\\d+)`, 'm'))?.[1];
  const release = `${mk('VERSION')}.${mk('PATCHLEVEL')}.${mk('SUBLEVEL')}`;
  if (!release.startsWith(`${version}.`)) throw new Error(`the ${version} tarball holds Linux ${release}`);

  const facts = [];
  const fact = (key, expr) => facts.push({ key, expr });
  const structs = parseStructs();
  for (const s of structs) {
    fact(`struct ${s.name}`, `sizeof(struct ${s.name})`);
    for (const f of s.fields) fact(`field ${s.name} ${f.name}`, `offsetof(struct ${s.name}, ${f.name})`);
  }
  const table = ioctlTable(src.main);
  for (const t of table) {
    fact(`nr ${t.name}`, `_IOC_NR(${t.name})`);
    fact(`min ${t.name}`, `END(${t.struct}, ${t.last})`);
  }
  for (const [name, v] of Object.entries(VFIO_IOCTLS)) {
    fact(`request ${name}`, name);
    if (v.minsz) fact(`minsz ${name}`, `END(${v.struct}, ${v.minsz})`);
  }
  const testOps = constantNames(src.test, (n) => n.startsWith('IOMMU_TEST_OP_'));
  const constants = [
    ...constantNames(src.iommufd, () => true),
    ...constantNames(src.test, (n) => !n.startsWith('IOMMU_TEST_OP_')),
    ...constantNames(src.vfio, (n) => VFIO_CONSTANTS.some((p) => n.startsWith(p))),
  ];
  for (const n of testOps) fact(`testop ${n}`, n);
  for (const n of constants) fact(`const ${n}`, n);

  const values = probe(dir, facts);
  const got = new Map(facts.map((f, i) => [f.key, values[i]]));
  const num = (key) => {
    const v = got.get(key);
    return v === undefined ? undefined : Number(v);
  };

  const out = { release, ioctls: {}, vfioIoctls: {}, structs: {}, testOps: {}, constants: {} };
  for (const s of structs) {
    const size = num(`struct ${s.name}`);
    if (size === undefined) {
      if (!s.optional) throw new Error(`${version}: struct ${s.name} not found`);
      continue;
    }
    const offsets = {};
    const pointers = [];
    for (const f of s.fields) {
      const at = num(`field ${s.name} ${f.name}`);
      if (at === undefined) {
        if (!f.optional) throw new Error(`${version}: struct ${s.name} has no ${f.name}`);
        continue;
      }
      offsets[f.name] = at;
      if (f.pointer) pointers.push(at);
    }
    out.structs[s.name] = { size, offsets, pointers };
  }
  for (const t of table) {
    const s = out.structs[t.struct];
    if (!s) throw new Error(`${version}: ${t.name} takes struct ${t.struct}, which STRUCTS lacks`);
    out.ioctls[t.name] = { nr: num(`nr ${t.name}`), struct: t.struct, size: s.size, min: num(`min ${t.name}`) };
  }
  for (const [name, v] of Object.entries(VFIO_IOCTLS)) {
    const entry = { request: num(`request ${name}`) };
    if (v.struct) entry.struct = v.struct;
    if (v.minsz) entry.minsz = num(`minsz ${name}`);
    out.vfioIoctls[name] = entry;
  }
  const cmd = out.structs.iommu_test_cmd;
  for (const n of testOps) {
    const op = n.slice('IOMMU_TEST_OP_'.length);
    const ptr = TEST_OP_POINTERS[op];
    out.testOps[op] = { op: num(`testop ${n}`), pointers: ptr ? [cmd.offsets[ptr]] : [] };
  }
  for (const n of [...new Set(constants)].sort()) if (got.get(`const ${n}`) !== undefined) out.constants[n] = got.get(`const ${n}`);
  return out;
}

class MissingTarball extends Error {}

async function allSources(kernels, work) {
  const versions = Object.keys(kernels);
  for (const v of versions)
    if (!existsSync(kernels[v].tarball)) throw new MissingTarball(`${kernels[v].tarball} not found (${kernels[v].install})`);
  const sources = await Promise.all(versions.map((v) => sourcesOf(v, kernels[v].tarball, work)));
  return versions.map((v, i) => [v, sources[i]]);
}

/** Every version's facts: { '6.12': {...}, '7.3': {...} }. Throws if a tarball is missing. */
export async function generate(kernels = KERNELS) {
  const work = mkdtempSync(join(tmpdir(), 'iommufd-gen-uapi-'));
  try {
    const sources = await allSources(kernels, work);
    return Object.fromEntries(sources.map(([v, src]) => [v, layoutOf(v, src, join(work, `probe-${v}`))]));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Each version's headers under dir/<version>/ (see writeIncludes). */
export async function writeHeaders(dir, kernels = KERNELS) {
  const work = mkdtempSync(join(tmpdir(), 'iommufd-gen-uapi-'));
  try {
    for (const [v, src] of await allSources(kernels, work)) writeIncludes(src, join(dir, v));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// ---- output -------------------------------------------------------------------------

const BANNER = 'Generated by scripts/gen-uapi.mjs (npm run gen:uapi) from each kernel\'s uAPI headers: do not edit.';
const hex = (v) => `0x${v.toString(16)}`;

function tsValue(v, indent, key) {
  if (typeof v === 'bigint') {
    if (v < 0n) return v < -BigInt(Number.MAX_SAFE_INTEGER) ? `${v}n` : String(v);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) return `${hex(v)}n`;
    return v >= 256n ? hex(v) : String(v);
  }
  if (typeof v === 'number') return key === 'nr' || key === 'request' ? hex(v) : String(v);
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return `[${v.map((x) => tsValue(x, indent)).join(', ')}]`;
  const entries = Object.entries(v);
  if (entries.length === 0) return '{}';
  const inner = `${indent}  `;
  const flat = entries.every(([, x]) => typeof x !== 'object' || Array.isArray(x));
  const k = (name) => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : `'${name}'`);
  if (flat && entries.length <= 6) return `{ ${entries.map(([n, x]) => `${k(n)}: ${tsValue(x, inner, n)}`).join(', ')} }`;
  return `{\n${entries.map(([n, x]) => `${inner}${k(n)}: ${tsValue(x, inner, n)},`).join('\n')}\n${indent}}`;
}

export function renderTs(layouts) {
  return `// ${BANNER}
// Per kernel version (major.minor): the iommufd ioctl table of main.c (nr, struct size, the
// minimum size the kernel accepts), the VFIO requests, struct sizes and field offsets, the
// user-pointer fields, the selftest ops and the integer constants of the three headers.
export const UAPI_LAYOUTS = ${tsValue(layouts, '')} as const;

export type UapiVersion = keyof typeof UAPI_LAYOUTS;
`;
}

const camel = (s) => s.replace(/(^|_)([a-z0-9])/g, (_, __, c) => c.toUpperCase());
const member = (s) => s.replace(/\./g, '_');
const ioctlMember = (name) => name.replace(/^IOMMU_/, '').toLowerCase();

export function renderH(layouts) {
  const versions = Object.keys(layouts);
  const union = (pick) => [...new Set(versions.flatMap((v) => pick(layouts[v])))];
  const structNames = union((l) => Object.keys(l.structs));
  const ioctlNames = union((l) => Object.keys(l.ioctls));
  const testOps = union((l) => Object.keys(l.testOps));
  const sameEverywhere = (name) => {
    const values = new Set(versions.map((v) => layouts[v].constants[name]));
    if (values.size !== 1) throw new Error(`${name} differs between versions`);
    return [...values][0];
  };
  const maxSize = Math.max(...versions.flatMap((v) => Object.values(layouts[v].structs).map((s) => s.size)));
  const lines = [
    `// ${BANNER}`,
    '// Numbers only, per kernel version: what the addon needs to size and fill each command for',
    '// the running kernel (layout.cc picks the table). kAbsent marks what a version lacks.',
    '#pragma once',
    '',
    '#include <cstddef>',
    '#include <cstdint>',
    '',
    'namespace iommufd_uapi {',
    '',
    'constexpr uint32_t kAbsent = 0xffffffffu;',
    `constexpr uint32_t kMaxStructSize = ${maxSize};`,
    `constexpr uint32_t kIommufdType = ${hex(Number(sameEverywhere('IOMMUFD_TYPE')))};  // ';', shared with VFIO`,
    '',
    '// An iommufd ioctl: _IO(\';\', nr), the struct size, main.c\'s minimum size, user pointers.',
    'struct IoctlInfo {',
    '  const char* name;',
    '  uint32_t nr, size, min;',
    '  uint32_t pointers[2];  // offsets; kAbsent when unused',
    '};',
    'struct TestOpInfo {',
    '  const char* name;',
    '  uint32_t op;',
    '  uint32_t pointer;  // offset in iommu_test_cmd, or kAbsent',
    '};',
    '',
  ];
  const structFields = {};
  for (const s of structNames) {
    const fields = union((l) => Object.keys(l.structs[s]?.offsets ?? {}));
    structFields[s] = fields;
    lines.push(`struct ${camel(s)} {`, `  uint32_t sizeof_;`, ...fields.map((f) => `  uint32_t ${member(f)};`), '};');
  }
  lines.push('', 'struct Ioctls {', ...ioctlNames.map((n) => `  IoctlInfo ${ioctlMember(n)};`), '};');
  lines.push('struct VfioIoctls {', ...Object.keys(VFIO_IOCTLS).map((n) => `  uint32_t ${n.replace(/^VFIO_/, '').toLowerCase()};`));
  lines.push(...Object.entries(VFIO_IOCTLS).filter(([, v]) => v.minsz).map(([n]) => `  uint32_t ${n.replace(/^VFIO_/, '').toLowerCase()}_minsz;`), '};');
  lines.push('struct TestOps {', ...testOps.map((n) => `  TestOpInfo ${n.toLowerCase()};`), '};');
  lines.push(
    '',
    'struct Layout {',
    '  uint32_t major, minor;',
    '  Ioctls ioctl;',
    '  VfioIoctls vfio;',
    '  TestOps test_op;',
    ...structNames.map((s) => `  ${camel(s)} ${s};`),
    '};',
    '',
    '// Oldest first.',
    'constexpr Layout kLayouts[] = {',
  );
  const u = (v) => (v === undefined ? 'kAbsent' : String(v));
  for (const v of versions) {
    const l = layouts[v];
    const [major, minor] = v.split('.');
    const ioctls = ioctlNames.map((n) => {
      const io = l.ioctls[n];
      if (!io) return `{"${n}", kAbsent, kAbsent, kAbsent, {kAbsent, kAbsent}}`;
      // IOMMU_TEST_CMD's pointers are per op (TestOps).
      const p = n === 'IOMMU_TEST_CMD' ? [] : l.structs[io.struct].pointers;
      if (p.length > 2) throw new Error(`${n}: more than two pointers`);
      return `{"${n}", ${hex(io.nr)}, ${io.size}, ${io.min}, {${u(p[0])}, ${u(p[1])}}}`;
    });
    const vfio = [
      ...Object.keys(VFIO_IOCTLS).map((n) => hex(l.vfioIoctls[n].request)),
      ...Object.entries(VFIO_IOCTLS).filter(([, x]) => x.minsz).map(([n]) => String(l.vfioIoctls[n].minsz)),
    ];
    const ops = testOps.map((n) => {
      const t = l.testOps[n];
      return t ? `{"IOMMU_TEST_OP_${n}", ${t.op}, ${u(t.pointers[0])}}` : `{"IOMMU_TEST_OP_${n}", kAbsent, kAbsent}`;
    });
    const structs = structNames.map((s) => {
      const st = l.structs[s];
      return `{${[st?.size, ...structFields[s].map((f) => st?.offsets[f])].map(u).join(', ')}}`;
    });
    lines.push(
      `    {  // ${v} (Linux ${l.release})`,
      `        ${major}, ${minor},`,
      `        {${ioctls.map((x) => `\n            ${x}`).join(',')}},`,
      `        {${vfio.join(', ')}},`,
      `        {${ops.map((x) => `\n            ${x}`).join(',')}},`,
      ...structs.map((x, i) => `        ${x},  // ${structNames[i]}`),
      '    },',
    );
  }
  lines.push(
    '};',
    '',
    '// Each ioctl / test op a table has (for lookups by number).',
    'template <typename Fn>',
    'void ForEachIoctl(const Ioctls& t, Fn fn) {',
    ...ioctlNames.map((n) => `  if (t.${ioctlMember(n)}.nr != kAbsent) fn(t.${ioctlMember(n)});`),
    '}',
    'template <typename Fn>',
    'void ForEachTestOp(const TestOps& t, Fn fn) {',
    ...testOps.map((n) => `  if (t.${n.toLowerCase()}.op != kAbsent) fn(t.${n.toLowerCase()});`),
    '}',
    '',
    '}  // namespace iommufd_uapi',
    '',
  );
  return lines.join('\n');
}

async function main(argv) {
  const headers = argv.indexOf('--headers');
  if (headers >= 0) return writeHeaders(argv[headers + 1]);
  const check = argv.includes('--check');
  const layouts = await generate();
  const files = { [OUTPUTS.ts]: renderTs(layouts), [OUTPUTS.h]: renderH(layouts) };
  let stale = 0;
  for (const [file, text] of Object.entries(files)) {
    const now = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (now === text) continue;
    if (check) {
      console.error(`${file} is out of date: run npm run gen:uapi`);
      stale++;
    } else {
      writeFileSync(file, text);
      console.error(`wrote ${file}`);
    }
  }
  if (stale) process.exit(1);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`gen-uapi: ${err.message}`);
    process.exit(err instanceof MissingTarball ? 2 : 1);
  });
}
