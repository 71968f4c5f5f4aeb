// The ```ts code blocks of README.md, parsed at test time and run as tests
// (test/scenarios/readme.test.ts on the sim and kernel projects,
// test/vfio/readme.test.ts in the vtd VM). It lives in test/scenarios (not a
// .test.ts file) because the published package ships that folder for
// `iommufd selftest`.
//
// A block runs as a user would run it: as an ES module of its own, with
// `from 'iommufd'` pointing at this checkout's lib/index.ts, and `Iommufd.open()`
// choosing its backend itself ('auto': the simulator on a host without
// /dev/iommu, the kernel inside the VM). The test fails when the module throws,
// so a block states what it expects with node:assert (`assert.throws(...)`).
//
// The convention: an HTML comment on the line just above the opening fence
// (blank lines between are allowed), directives separated by ';':
//
//   <!-- readme-test: continues -->
//       run after the blocks before it, as one module: it uses their `fd`,
//       `ioas`, ... (imports merged, `using` disposed at the very end). Chains
//       of continuing blocks run whole: block 3 continuing 2 continuing 1 runs
//       1 + 2 + 3.
//   <!-- readme-test: kernel-only: REASON -->
//       run in the kernel project only (the simulator cannot do it, e.g. fault
//       injection); in CI the kernel project always runs, so nothing is skipped.
//   <!-- readme-test: vfio: REASON -->
//       run in the vfio project (test/vfio, the vtd VM profile with an IOMMU and
//       the edu device) instead of the scenario projects.
//   <!-- readme-test: excerpt FILE [FILE...] -->
//       not a program but code copied from test files that run in their own
//       projects: every piece of it between comment lines and blank lines must
//       appear, whitespace aside and in order, in those files.
//
// A block without a marker runs in both scenario projects (sim and kernel).
// Anything else after `readme-test:` is an error, so a typo cannot hide a block.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const README = join(ROOT, 'README.md');
const LIB_INDEX = join(ROOT, 'lib', 'index.ts');

export type Project = 'sim' | 'kernel' | 'vfio';

export interface ReadmeBlock {
  /** "Section heading #n" (n counts the section's ts blocks from 1). */
  name: string;
  heading: string;
  /** 1-based line of the opening fence in README.md. */
  line: number;
  code: string;
  continues: boolean;
  /** Where it runs; empty for an excerpt. */
  projects: Project[];
  /** For `excerpt`: the files (relative to the repo) it is copied from. */
  excerptOf: string[];
  /** The blocks, this one last, that make up its module. */
  chain: ReadmeBlock[];
}

const MARKER = /^<!--\s*readme-test:\s*(.*?)\s*-->$/;

export function readmeBlocks(path = README): ReadmeBlock[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  const blocks: ReadmeBlock[] = [];
  let heading = '(top)';
  let perSection = 0;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!;
    const fence = /^(`{3,}|~{3,})\s*(\S*)/.exec(text);
    if (!fence) {
      const h = /^#{1,6}\s+(.*)$/.exec(text);
      if (h) {
        heading = h[1]!.replace(/`/g, '').trim();
        perSection = 0;
      }
      continue;
    }
    // A fenced block: find its end (the same fence), so headings inside are ignored.
    let end = i + 1;
    while (end < lines.length && !lines[end]!.startsWith(fence[1]!)) end++;
    if (end >= lines.length) throw new Error(`README.md:${i + 1}: unterminated code block`);
    if (fence[2] === 'ts' || fence[2] === 'typescript') {
      perSection++;
      const block = parseBlock(lines, i, end, heading, perSection, blocks);
      blocks.push(block);
    } else if (markerAbove(lines, i) !== null) {
      throw new Error(`README.md:${i + 1}: a readme-test marker above a non-ts block`);
    }
    i = end;
  }
  return blocks;
}

function markerAbove(lines: string[], fenceIndex: number): string | null {
  let j = fenceIndex - 1;
  while (j >= 0 && lines[j]!.trim() === '') j--;
  const m = j >= 0 ? MARKER.exec(lines[j]!.trim()) : null;
  return m ? m[1]! : null;
}

function parseBlock(lines: string[], start: number, end: number, heading: string, n: number, before: ReadmeBlock[]): ReadmeBlock {
  const where = `README.md:${start + 1}`;
  const block: ReadmeBlock = {
    name: `${heading} #${n}`,
    heading,
    line: start + 1,
    code: lines.slice(start + 1, end).join('\n'),
    continues: false,
    projects: ['sim', 'kernel'],
    excerptOf: [],
    chain: [],
  };
  const marker = markerAbove(lines, start);
  if (marker !== null) {
    for (const directive of marker.split(';').map((d) => d.trim())) {
      const [word, ...rest] = directive.split(/[\s:]+/);
      const reason = directive.slice(word!.length).replace(/^\s*:?\s*/, '');
      if (word === 'continues' && rest.length === 0) block.continues = true;
      else if (word === 'kernel-only' && reason) block.projects = block.projects.filter((p) => p === 'kernel');
      else if (word === 'vfio' && reason) block.projects = ['vfio'];
      else if (word === 'excerpt' && rest.length > 0) {
        block.projects = [];
        block.excerptOf = rest;
      } else
        throw new Error(
          `${where}: unknown readme-test directive '${directive}' ` +
            '(continues | kernel-only: REASON | vfio: REASON | excerpt FILE...; see test/scenarios/readme-blocks.ts)',
        );
    }
  }
  if (block.continues) {
    const previous = before[before.length - 1];
    if (!previous) throw new Error(`${where}: 'continues' but there is no block before it`);
    if (previous.excerptOf.length > 0) throw new Error(`${where}: a block cannot continue an excerpt`);
    // It runs with its whole chain, so only where every block of the chain can run.
    const missing = block.projects.filter((p) => !previous.projects.includes(p));
    if (missing.length > 0) throw new Error(`${where}: continues ${previous.name}, which does not run in ${missing.join(', ')}`);
    block.chain = [...previous.chain, block];
  } else {
    block.chain = [block];
  }
  if (block.excerptOf.length > 0 && block.continues) throw new Error(`${where}: an excerpt cannot continue a block`);
  return block;
}

export interface BlockOptions {
  /**
   * Rewrite `Iommufd.open()` to `Iommufd.open({ backend })`. Only where 'auto'
   * would not give what the project runs on: the sim project on a host with a
   * real /dev/iommu, or modelling another kernel than the default
   * (IOMMUFD_SIM_KERNEL). Otherwise the blocks run unchanged.
   */
  backend?: 'native' | 'sim';
  /** With backend 'sim': the kernel the simulator models (`Iommufd.open({ backend: 'sim', kernel })`). */
  kernel?: string;
}

const IMPORT = /^import\s+(type\s+)?([\s\S]*?)\s+from\s+(['"])([^'"]+)\3;?[ \t]*$/gm;

/**
 * The module that runs `block` (with the blocks it continues): imports moved to
 * the top and merged per module, `'iommufd'` rewritten to lib/index.ts, then
 * every block's statements in README order, each under a comment naming its
 * README line.
 */
export function blockModule(block: ReadmeBlock, options: BlockOptions = {}): string {
  const named = new Map<string, Set<string>>();
  const other = new Set<string>();
  const bodies: string[] = [];
  for (const b of block.chain) {
    const body = b.code.replace(IMPORT, (_all, type: string | undefined, clause: string, _q, from: string) => {
      const spec = JSON.stringify(from === 'iommufd' ? LIB_INDEX : from);
      const braces = /^\{([\s\S]*)\}$/.exec(clause.trim());
      if (braces && !type) {
        const set = named.get(spec) ?? new Set<string>();
        for (const name of braces[1]!.split(',').map((s) => s.trim()).filter(Boolean)) set.add(name);
        named.set(spec, set);
      } else {
        other.add(`import ${type ?? ''}${clause} from ${spec};`);
      }
      return '';
    });
    const open = options.kernel ? { backend: options.backend, kernel: options.kernel } : { backend: options.backend };
    const opened = options.backend ? body.replace(/\bIommufd\.open\(\)/g, `Iommufd.open(${JSON.stringify(open)})`) : body;
    bodies.push(`// ---- README.md:${b.line} (${b.name})\n${opened}`);
  }
  const imports = [...other, ...[...named].map(([spec, names]) => `import { ${[...names].join(', ')} } from ${spec};`)];
  return `${imports.join('\n')}\n${bodies.join('\n')}\nexport {};\n`;
}

/** Write the block's module into `dir` and return its path (a .ts file vitest transforms). */
export function writeBlockModule(dir: string, block: ReadmeBlock, options: BlockOptions = {}): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `readme-${block.line}.ts`);
  writeFileSync(file, blockModule(block, options));
  return file;
}

/**
 * Run the block's module. An error thrown by it is rethrown naming the README
 * block, with the original as cause (its stack points into the module file,
 * whose `// ---- README.md:LINE` comments map back to README).
 */
export async function runBlock(dir: string, block: ReadmeBlock, options: BlockOptions = {}): Promise<void> {
  const file = writeBlockModule(dir, block, options);
  try {
    await import(/* @vite-ignore */ file);
  } catch (e) {
    const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    throw new Error(`README.md:${block.line} (${block.name}) threw ${message}\n  module: ${file}`, { cause: e });
  }
}

/**
 * For an `excerpt` block: the pieces of the block (split at comment-only and
 * blank lines) that are not found, whitespace collapsed and in order, in its files.
 */
export function missingExcerptPieces(block: ReadmeBlock): string[] {
  const collapse = (s: string) => s.replace(/\s+/g, ' ').trim();
  const source = collapse(block.excerptOf.map((f) => readFileSync(join(ROOT, f), 'utf8')).join('\n'));
  const pieces: string[] = [];
  let current: string[] = [];
  for (const line of [...block.code.split('\n'), '']) {
    const t = line.trim();
    if (t === '' || t.startsWith('//')) {
      if (current.length) pieces.push(collapse(current.join(' ')));
      current = [];
    } else current.push(t);
  }
  const missing: string[] = [];
  let at = 0;
  for (const piece of pieces) {
    const found = source.indexOf(piece, at);
    if (found < 0) missing.push(piece);
    else at = found + piece.length;
  }
  return missing;
}
