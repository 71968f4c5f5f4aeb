#!/usr/bin/env node
// Fails when lib/ has an import cycle, type-only imports included: a cycle
// means no file of it can be read (or loaded) on its own. Prints each cycle.
// Also fails when a file imports from a higher layer (LAYERS below): lib/'s
// folders are layers, each built only on the ones before it.
// Usage: node scripts/check-imports.mjs [dir] [--layers a,b,c]
//   (default: lib with LAYERS; another dir has no layers unless given)
//
// KNOWN lists cycles tolerated for now, each as its files: none since lib/sim/
// is split the way the kernel splits iommufd (objects.ts declares every object,
// like iommufd_private.h; each other file holds one kernel file's behaviour). A
// cycle not listed fails; so does a listed one that is gone, so the list only
// shrinks. (Only for lib/: another directory is checked with no known cycles.)
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const layersAt = args.indexOf('--layers');
const layersArg = layersAt >= 0 ? args.splice(layersAt, 2)[1] : undefined;
const dir = resolve(root, args[0] ?? 'lib');

// lib/'s layers, lowest first: the uAPI facts; the leaves every layer uses
// (typed errors, argument checks, the user pages the process unmapped); the
// Backend contract; the addon and its backend; memory the kernel reads and
// writes; the simulator; the typed API; VFIO devices and hardware validation;
// the command; and the package entry (lib/index.ts, '.').
const LAYERS = ['uapi', 'base', 'backend', 'native', 'memory', 'sim', 'api', 'vfio', 'cli', '.'];
const layers = layersArg !== undefined ? layersArg.split(',') : args[0] === undefined ? LAYERS : [];

function sources(d) {
  return readdirSync(d).flatMap((name) => {
    const p = join(d, name);
    if (statSync(p).isDirectory()) return sources(p);
    return /\.ts$/.test(name) && !/\.d\.ts$/.test(name) ? [p] : [];
  });
}

// Static imports and re-exports (`import type` too) and dynamic import('...').
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.[^'"]+)['"]/gm;

function importsOf(file) {
  const text = readFileSync(file, 'utf8');
  const out = new Set();
  for (const m of text.matchAll(SPECIFIER)) {
    const target = resolve(dirname(file), m[1].replace(/\.js$/, '.ts'));
    if (target.startsWith(dir)) out.add(target);
  }
  return [...out];
}

const KNOWN = args[0] !== undefined ? [] : [
  // ['lib/x.ts', 'lib/y.ts'], with a comment saying why it is still there
];

const files = sources(dir);
const graph = new Map(files.map((f) => [f, importsOf(f).filter((t) => files.includes(t))]));

// A file's layer is the first folder under dir ('.' for a file directly in it).
function layerOf(f) {
  const first = relative(dir, f).split('/');
  return first.length > 1 ? first[0] : '.';
}
const upward = [];
if (layers.length > 0) {
  for (const f of files) {
    const from = layers.indexOf(layerOf(f));
    if (from < 0) upward.push(`${relative(root, f)} is in no layer: add its folder to LAYERS`);
    for (const t of graph.get(f)) {
      const to = layers.indexOf(layerOf(t));
      if (from >= 0 && to > from) upward.push(`${relative(root, f)} (${layerOf(f)}) imports ${relative(root, t)} of the higher layer ${layerOf(t)}`);
    }
  }
}
for (const u of upward) console.error(u);
if (upward.length > 0) process.exitCode = 1;

// Tarjan's strongly connected components: each one with more than one file
// (or a file importing itself) is a cycle.
let index = 0;
const stack = [];
const info = new Map();
const cycles = [];
function visit(v) {
  info.set(v, { index, low: index, onStack: true });
  index++;
  stack.push(v);
  for (const w of graph.get(v)) {
    if (!info.has(w)) {
      visit(w);
      info.get(v).low = Math.min(info.get(v).low, info.get(w).low);
    } else if (info.get(w).onStack) info.get(v).low = Math.min(info.get(v).low, info.get(w).index);
  }
  if (info.get(v).low === info.get(v).index) {
    const component = [];
    let w;
    do {
      w = stack.pop();
      info.get(w).onStack = false;
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v).includes(v)) cycles.push(component);
  }
}
for (const f of files) if (!info.has(f)) visit(f);

const name = (f) => relative(root, f);
const key = (names) => [...names].sort().join(' ');
const known = new Set(KNOWN.map(key));
const found = new Set(cycles.map((c) => key(c.map(name))));
const fresh = cycles.filter((c) => !known.has(key(c.map(name))));
const gone = KNOWN.filter((k) => !found.has(key(k)));
for (const k of gone) console.error(`a known cycle is gone, take it off KNOWN in scripts/check-imports.mjs: ${k.join(' <-> ')}`);
if (fresh.length === 0 && gone.length === 0) {
  console.log(`no new import cycles in ${name(dir)}/ (${files.length} files; ${KNOWN.length} known, see KNOWN)${layers.length ? `; ${upward.length ? 'but layers broken' : 'layers kept'}` : ''}`);
} else {
  for (const c of fresh) {
    const members = new Set(c);
    console.error(`import cycle of ${c.length} files:`);
    for (const f of c.sort()) console.error(`  ${name(f)} -> ${graph.get(f).filter((t) => members.has(t)).map(name).join(', ')}`);
  }
  process.exitCode = 1;
}
