// A static index of the test names in a suite directory, read from the sources
// without importing them, so that `iommufd selftest --filter` imports (and, in the
// VM under TCG, compiles) only the files that can hold a matching test.
//
// The index is conservative: a file gets a list of names only when every test it
// registers is a plain call the scanner understands —
//   test('name', ...), it('name', ...), test.skip/only/todo/fails/concurrent/sequential('name', ...)
//   describe('name', () => { ... })        (nesting: "outer > inner > test")
//   FIXTURE.test('name', ...)              (test/selftest/harness.ts: one test per
//                                           variant, "fixture.variant.name")
// at the top level of the file or directly inside such a describe. Anything else
// (test.each/for, a template or computed name, a test inside a loop, a helper
// function or a condition's braces, vitest imported under another name, a fixture
// whose variants are not an object literal) makes the file unknown (null), and an
// unknown file is always imported. Files the index names are a superset of what
// the test files register on any backend (a test registered conditionally still
// counts), so leaving out a file whose names all miss the filter leaves out no
// matching test. test/cli/commands.test.ts checks the index against vitest's own
// collection of both suites.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

type Token = { t: 'id' | 'str' | 'tmpl' | 'p' | 'num' | 'other'; v: string };

const REGEX_PREV = new Set(['(', ',', '=', ':', '[', '!', '&', '|', '?', '{', '}', ';', '+', '-', '*', '%', '<', '>', '~', '^', '=>', '&&', '||', '??']);
const REGEX_KEYWORDS = new Set(['return', 'typeof', 'case', 'do', 'else', 'in', 'of', 'new', 'delete', 'void', 'throw', 'instanceof', 'yield', 'await']);

/** JavaScript/TypeScript tokens: enough to follow calls, brackets and string literals. Throws on what it cannot follow. */
export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = src.length;
  const prevAllowsRegex = () => {
    const prev = out[out.length - 1];
    if (!prev) return true;
    if (prev.t === 'p') return REGEX_PREV.has(prev.v);
    return prev.t === 'id' && REGEX_KEYWORDS.has(prev.v);
  };
  /** Skip a string literal opened at src[i]; return its value (escapes kept raw except \' \" \\). */
  const readString = (quote: string): string => {
    let value = '';
    i++;
    while (i < n && src[i] !== quote) {
      if (src[i] === '\n') throw new Error('unterminated string');
      if (src[i] === '\\') {
        const next = src[i + 1];
        if (next === quote || next === '\\') value += next;
        else throw new Error('escape sequence in a string'); // unknown: never guess a name
        i += 2;
        continue;
      }
      value += src[i++];
    }
    if (i >= n) throw new Error('unterminated string');
    i++;
    return value;
  };
  /** Skip a template literal opened at src[i]; return whether it has substitutions. */
  const skipTemplate = (): { value: string; expr: boolean } => {
    let value = '';
    let expr = false;
    i++;
    while (i < n && src[i] !== '`') {
      if (src[i] === '\\') {
        value += src.slice(i, i + 2);
        i += 2;
      } else if (src[i] === '$' && src[i + 1] === '{') {
        expr = true;
        i += 2;
        let depth = 1;
        while (i < n && depth > 0) {
          const c = src[i];
          if (c === '{') depth++;
          else if (c === '}') depth--;
          else if (c === "'" || c === '"') {
            readStringLoose(c);
            continue;
          } else if (c === '`') {
            skipTemplate();
            continue;
          }
          i++;
        }
      } else value += src[i++];
    }
    if (i >= n) throw new Error('unterminated template');
    i++;
    return { value, expr };
  };
  const readStringLoose = (quote: string) => {
    i++;
    while (i < n && src[i] !== quote) i += src[i] === '\\' ? 2 : 1;
    i++;
  };
  while (i < n) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '/' && src[i + 1] === '/') {
      while (i < n && src[i] !== '\n') i++;
    } else if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) throw new Error('unterminated comment');
      i = end + 2;
    } else if (c === "'" || c === '"') {
      const start = i;
      try {
        out.push({ t: 'str', v: readString(c) });
      } catch {
        // A string the index will not use as a name: skip it, mark it unusable.
        i = start;
        readStringLoose(c);
        out.push({ t: 'other', v: 'string' });
      }
    } else if (c === '`') {
      const { value, expr } = skipTemplate();
      out.push(expr || value.includes('\\') ? { t: 'other', v: 'template' } : { t: 'tmpl', v: value });
    } else if (c === '/' && prevAllowsRegex()) {
      // A regular expression literal.
      i++;
      let inClass = false;
      while (i < n && (inClass || src[i] !== '/')) {
        if (src[i] === '\n') throw new Error('unterminated regular expression');
        if (src[i] === '\\') i++;
        else if (src[i] === '[') inClass = true;
        else if (src[i] === ']') inClass = false;
        i++;
      }
      i++;
      while (i < n && /[a-z]/i.test(src[i]!)) i++;
      out.push({ t: 'other', v: 'regex' });
    } else if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z0-9_$]+/.exec(src.slice(i, i + 200))!;
      out.push({ t: 'id', v: m[0] });
      i += m[0].length;
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9A-Za-z_.]+/.exec(src.slice(i, i + 100))!;
      out.push({ t: 'num', v: m[0] });
      i += m[0].length;
    } else {
      const three = src.slice(i, i + 3);
      const two = src.slice(i, i + 2);
      if (three === '...' || three === '===' || three === '!==' || three === '??=') {
        out.push({ t: 'p', v: three });
        i += 3;
      } else if (['=>', '&&', '||', '??', '?.', '==', '!=', '<=', '>=', '++', '--', '+=', '-='].includes(two)) {
        out.push({ t: 'p', v: two });
        i += 2;
      } else {
        out.push({ t: 'p', v: c });
        i++;
      }
    }
  }
  return out;
}

const TEST_FNS = new Set(['test', 'it']);
const NAME_MODIFIERS = new Set(['skip', 'only', 'todo', 'fails', 'concurrent', 'sequential']);
const VITEST_APIS = new Set(['test', 'it', 'describe', 'suite', 'bench']);

interface FixtureDef {
  name: string;
  variants: string[];
}

/** The keys of the object literal whose '{' is tokens[at], or null if any is not a plain key. */
function objectKeys(tokens: Token[], at: number): string[] | null {
  if (tokens[at]?.v !== '{') return null;
  const keys: string[] = [];
  let depth = 0;
  for (let k = at; k < tokens.length; k++) {
    const tok = tokens[k]!;
    if (tok.t === 'p' && '{(['.includes(tok.v)) depth++;
    else if (tok.t === 'p' && '})]'.includes(tok.v)) {
      depth--;
      if (depth === 0) return keys;
    } else if (depth === 1 && (tokens[k - 1]?.v === '{' || tokens[k - 1]?.v === ',') && tokens[k - 1]?.t === 'p') {
      if ((tok.t === 'id' || tok.t === 'str') && tokens[k + 1]?.v === ':') keys.push(tok.v);
      else return null; // a spread, a computed or shorthand key, a method
    }
  }
  return null;
}

/** `const X = fixture<...>('name', VARIANTS, ...)` definitions of one file. */
function fixtureDefs(tokens: Token[]): Map<string, FixtureDef | null> {
  const defs = new Map<string, FixtureDef | null>();
  for (let k = 0; k + 4 < tokens.length; k++) {
    if (!(tokens[k]!.v === 'const' && tokens[k + 1]!.t === 'id' && tokens[k + 2]!.v === '=' && tokens[k + 3]!.v === 'fixture')) continue;
    const varName = tokens[k + 1]!.v;
    let j = k + 4;
    if (tokens[j]?.v === '<') {
      let angle = 0;
      for (; j < tokens.length; j++) {
        if (tokens[j]!.v === '<') angle++;
        else if (tokens[j]!.v === '>') angle--;
        if (angle === 0) break;
      }
      j++;
    }
    let def: FixtureDef | null = null;
    if (tokens[j]?.v === '(' && tokens[j + 1]?.t === 'str' && tokens[j + 2]?.v === ',') {
      const name = tokens[j + 1]!.v;
      const v = j + 3;
      let variants: string[] | null = null;
      if (tokens[v]?.v === '{') variants = objectKeys(tokens, v);
      else if (tokens[v]?.t === 'id' && tokens[v + 1]?.v === ',') {
        // A const of this file holding the object literal.
        for (let m = 0; m + 3 < tokens.length; m++) {
          if (tokens[m]!.v !== 'const' || tokens[m + 1]!.v !== tokens[v]!.v) continue;
          let e = m + 2;
          if (tokens[e]?.v === ':') while (e < tokens.length && tokens[e]!.v !== '=') e++;
          if (tokens[e]?.v === '=') variants = objectKeys(tokens, e + 1);
          break;
        }
      }
      if (variants) def = { name, variants };
    }
    defs.set(varName, defs.has(varName) ? null : def);
  }
  return defs;
}

/** The names one test file registers (each as its describe names then its own), or null if unknown. */
export function scanTestNames(tokens: Token[], fixtures: Map<string, FixtureDef | null>): string[][] | null {
  // vitest's registration functions must be imported under their own names.
  for (let k = 0; k < tokens.length; k++) {
    if (tokens[k]!.v !== 'import') continue;
    let e = k + 1;
    while (e < tokens.length && tokens[e]!.v !== 'from' && tokens[e]!.v !== ';') e++;
    if (tokens[e]?.v !== 'from' || tokens[e + 1]?.v !== 'vitest') continue;
    for (let m = k + 1; m < e; m++) if (tokens[m]!.v === 'as' || tokens[m]!.v === '*') return null;
  }
  const names: string[][] = [];
  const scopes: { name: string; paren: number }[] = [];
  let paren = 0;
  let brace = 0;
  /** A test or describe registered here is at the top level or directly in a describe callback. */
  const plainPlace = () => paren === scopes.length && brace === scopes.length;
  for (let k = 0; k < tokens.length; k++) {
    const tok = tokens[k]!;
    if (tok.t === 'p') {
      if (tok.v === '(' || tok.v === '[') paren++;
      else if (tok.v === ')' || tok.v === ']') {
        paren--;
        if (scopes.length && paren < scopes[scopes.length - 1]!.paren) scopes.pop();
      } else if (tok.v === '{') brace++;
      else if (tok.v === '}') brace--;
      continue;
    }
    if (tok.t !== 'id') continue;
    const prev = tokens[k - 1];
    const member = prev?.t === 'p' && (prev.v === '.' || prev.v === '?.');
    const next = tokens[k + 1];
    if (member) {
      // FIXTURE.test('name', ...)
      if (tok.v === 'test' && next?.v === '(') {
        const owner = tokens[k - 2];
        if (owner?.t === 'id' && fixtures.has(owner.v) && prev.v === '.') {
          const def = fixtures.get(owner.v);
          const arg = tokens[k + 2];
          if (!def || arg?.t !== 'str' || !plainPlace() || scopes.length > 0) return null;
          for (const variant of def.variants) names.push([[def.name, variant, arg.v].filter(Boolean).join('.')]);
        } else if (owner?.t === 'id' && !TEST_FNS.has(owner.v)) return null; // an object's .test() the index does not know
      }
      continue;
    }
    if (tokens[k - 1]?.v === 'function' || (prev?.t === 'id' && ['const', 'let', 'var', 'class'].includes(prev.v))) {
      if (VITEST_APIS.has(tok.v)) return null; // a local of that name
      continue;
    }
    if (!VITEST_APIS.has(tok.v)) continue;
    if (next?.v !== '(' && next?.v !== '.') continue; // e.g. in the import list
    let j = k + 1;
    while (tokens[j]?.v === '.' && tokens[j + 1]?.t === 'id') {
      if (!NAME_MODIFIERS.has(tokens[j + 1]!.v)) return null; // each, for, skipIf, runIf, extend...
      j += 2;
    }
    if (tokens[j]?.v !== '(') return null;
    if (tok.v === 'suite' || tok.v === 'bench') return null;
    const arg = tokens[j + 1];
    if (!(arg?.t === 'str' || arg?.t === 'tmpl') || !plainPlace()) return null;
    if (tok.v === 'describe') {
      // The callback's braces and this call's paren open the scope.
      scopes.push({ name: arg.v, paren: paren + 1 });
    } else {
      names.push([...scopes.map((s) => s.name), arg.v]);
    }
    // Continue at the '(' so that paren counting sees it.
    k = j - 1;
  }
  if (paren !== 0 || brace !== 0) return null;
  return names;
}

/**
 * The tests each *.test.ts file of `dir` registers, each as its describe names then
 * its own (vitest's full name joins them with " > "), keyed by absolute path; null
 * for a file the index cannot vouch for.
 */
export function staticTestIndex(dir: string): Map<string, string[][] | null> {
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
  const tokensOf = new Map<string, Token[] | null>();
  const fixtures = new Map<string, FixtureDef | null>();
  for (const file of files) {
    let tokens: Token[] | null = null;
    try {
      tokens = tokenize(readFileSync(join(dir, file), 'utf8'));
    } catch {
      tokens = null;
    }
    tokensOf.set(file, tokens);
    if (tokens) for (const [name, def] of fixtureDefs(tokens)) fixtures.set(name, fixtures.has(name) ? null : def);
  }
  const index = new Map<string, string[][] | null>();
  for (const file of files.filter((f) => /\.test\.[cm]?ts$/.test(f)).sort()) {
    const tokens = tokensOf.get(file);
    index.set(join(dir, file), tokens ? scanTestNames(tokens, fixtures) : null);
  }
  return index;
}
