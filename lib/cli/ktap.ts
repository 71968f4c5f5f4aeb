// KTAP output for `iommufd selftest` and a parser for it
// (Documentation/dev-tools/ktap.rst, version 1), plus kselftest's exit codes.

export type CaseStatus = 'pass' | 'fail' | 'skip';

/** One test case of a run, whatever produced it. */
export interface CaseResult {
  name: string;
  status: CaseStatus;
  /** Why it was skipped (the SKIP directive's text). */
  reason?: string;
  /** Error messages, console output: printed as `# ` lines before the result line. */
  diagnostics?: string[];
}

/** kselftest.h: KSFT_PASS, KSFT_FAIL, KSFT_SKIP. */
export const KSFT_PASS = 0;
export const KSFT_FAIL = 1;
export const KSFT_SKIP = 4;

export interface Totals {
  pass: number;
  fail: number;
  skip: number;
}

export function totals(cases: readonly CaseResult[]): Totals {
  const t = { pass: 0, fail: 0, skip: 0 };
  for (const c of cases) t[c.status]++;
  return t;
}

/** Any failure fails the run; nothing run at all (no tests, or every one skipped) is a skip. */
export function exitCode(cases: readonly CaseResult[]): number {
  const t = totals(cases);
  if (t.fail > 0) return KSFT_FAIL;
  return t.pass === 0 ? KSFT_SKIP : KSFT_PASS;
}

/** A description may hold any character but '#' and newlines. */
export function ktapDescription(name: string): string {
  return name.replace(/#/g, 'no.').replace(/\s+/g, ' ').trim();
}

const diagnostic = (text: string): string[] =>
  text.split('\n').map((line) => (line.trim() === '' ? '#' : `# ${line.replace(/\s+$/, '')}`));

/**
 * A flat KTAP document: version, plan, one result line per case (its
 * diagnostics just before it), and kselftest's totals line. With no cases the
 * plan is `1..0 # SKIP <emptyReason>`.
 */
export function formatKtap(cases: readonly CaseResult[], options: { header?: string[]; emptyReason?: string } = {}): string {
  const lines = ['KTAP version 1'];
  lines.push(cases.length === 0 ? `1..0 # SKIP ${ktapDescription(options.emptyReason ?? 'no tests')}` : `1..${cases.length}`);
  for (const h of options.header ?? []) lines.push(...diagnostic(h));
  cases.forEach((c, i) => {
    for (const d of c.diagnostics ?? []) lines.push(...diagnostic(d));
    const n = i + 1;
    const name = ktapDescription(c.name);
    if (c.status === 'pass') lines.push(`ok ${n} ${name}`);
    else if (c.status === 'fail') lines.push(`not ok ${n} ${name}`);
    else lines.push(`ok ${n} ${name} # SKIP${c.reason ? ` ${ktapDescription(c.reason)}` : ''}`);
  });
  const t = totals(cases);
  lines.push(`# Totals: pass:${t.pass} fail:${t.fail} xfail:0 xpass:0 skip:${t.skip} error:0`);
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------
// Parser

export interface KtapTest {
  number: number;
  ok: boolean;
  description: string;
  /** SKIP, TODO, XFAIL, TIMEOUT, ERROR, when the result line has one. */
  directive?: string;
  /** The text after '#' (after the directive, if any). */
  data?: string;
  /** Diagnostic lines directly before the result line, without '# '. */
  diagnostics: string[];
  /** The nested KTAP document, if the test has subtests. */
  subtests?: KtapDocument;
}

export interface KtapDocument {
  version: string;
  plan?: { count: number; directive?: string; data?: string };
  tests: KtapTest[];
  /** Diagnostic lines after the last result line (totals, summaries). */
  trailing: string[];
  /** Parsed from kselftest's `# Totals: pass:N fail:N xfail:N xpass:N skip:N error:N`. */
  totals?: Record<string, number>;
}

export interface KtapParseResult {
  document?: KtapDocument;
  /** Everything that makes the text invalid KTAP, with line numbers; empty when valid. */
  errors: string[];
}

const VERSION = /^(KTAP version 1|TAP version 1[34])$/;
const PLAN = /^1\.\.(\d+)(?:\s*#\s*(\w+)?\s*(.*))?$/;
const RESULT = /^(ok|not ok) (\d+)(?: ([^#]*?))?\s*(?:#\s*(.*))?$/;
const DIRECTIVES = ['SKIP', 'TODO', 'XFAIL', 'TIMEOUT', 'ERROR'];

interface Line {
  no: number;
  indent: number;
  text: string;
}

/** Parse (and validate) KTAP text: the structure, numbering, plans and totals. */
export function parseKtap(text: string): KtapParseResult {
  const lines: Line[] = text
    .replace(/\n$/, '')
    .split('\n')
    .map((raw, i) => {
      const line = raw.replace(/\r$/, '');
      const indent = line.length - line.trimStart().length;
      return { no: i + 1, indent, text: line.trim() };
    });
  const errors: string[] = [];
  let pos = 0;
  while (pos < lines.length && !VERSION.test(lines[pos]!.text)) pos++; // leading unknown lines
  if (pos === lines.length) return { errors: ['no version line (KTAP version 1)'] };
  const parser = new Parser(lines, errors);
  parser.pos = pos;
  const document = parser.block(lines[pos]!.indent);
  for (; parser.pos < lines.length; parser.pos++) {
    const line = lines[parser.pos]!;
    if (RESULT.test(line.text) || PLAN.test(line.text) || VERSION.test(line.text))
      errors.push(`line ${line.no}: unexpected after the end of the document: ${line.text}`);
  }
  return { document, errors };
}

class Parser {
  pos = 0;
  constructor(
    readonly lines: Line[],
    readonly errors: string[],
  ) {}

  /** A document starting at the version line under `pos`, indented by `indent`. */
  block(indent: number): KtapDocument {
    const start = this.lines[this.pos]!;
    const doc: KtapDocument = { version: start.text, tests: [], trailing: [] };
    this.pos++;
    let pending: string[] = [];
    let nested: KtapDocument | undefined;
    let planSeen = false;
    for (; this.pos < this.lines.length; this.pos++) {
      const line = this.lines[this.pos]!;
      const { text } = line;
      const isDiag = text.startsWith('#');
      const known = isDiag || VERSION.test(text) || PLAN.test(text) || RESULT.test(text);
      if (!known) continue; // unknown lines are allowed anywhere and ignored
      if (line.indent < indent) break; // the parent's line: this document ends
      if (line.indent > indent && VERSION.test(text)) {
        if (nested) this.errors.push(`line ${line.no}: a subtest document without its result line`);
        nested = this.block(line.indent);
        this.pos--; // the loop's ++ revisits the line that ended the subtest
        continue;
      }
      if (isDiag) {
        pending.push(text.replace(/^#\s?/, ''));
        continue;
      }
      if (line.indent > indent) {
        this.errors.push(`line ${line.no}: indented by ${line.indent} inside a document indented by ${indent}: ${text}`);
        continue;
      }
      const plan = PLAN.exec(text);
      if (plan) {
        if (planSeen || doc.tests.length > 0) this.errors.push(`line ${line.no}: the plan must directly follow the version line`);
        planSeen = true;
        doc.plan = { count: Number(plan[1]) };
        if (plan[2]) doc.plan.directive = plan[2];
        if (plan[3]) doc.plan.data = plan[3];
        continue;
      }
      if (VERSION.test(text)) {
        this.errors.push(`line ${line.no}: a version line inside a document must be indented`);
        continue;
      }
      const result = RESULT.exec(text)!;
      const test: KtapTest = {
        number: Number(result[2]),
        ok: result[1] === 'ok',
        description: (result[3] ?? '').trim(),
        diagnostics: pending,
      };
      pending = [];
      if (result[4] !== undefined) {
        const [word = '', ...rest] = result[4].split(/\s+/);
        if (DIRECTIVES.includes(word.toUpperCase())) {
          test.directive = word.toUpperCase();
          if (rest.join(' ')) test.data = rest.join(' ');
        } else test.data = result[4];
      }
      if (nested) {
        test.subtests = nested;
        nested = undefined;
      }
      const expected = doc.tests.length + 1;
      if (test.number !== expected) this.errors.push(`line ${line.no}: test number ${test.number}, expected ${expected}`);
      if (test.ok && (test.directive === 'TIMEOUT' || test.directive === 'ERROR'))
        this.errors.push(`line ${line.no}: ${test.directive} must be 'not ok'`);
      doc.tests.push(test);
    }
    if (nested) this.errors.push(`line ${start.no}: a subtest document without its result line`);
    doc.trailing = pending;
    if (doc.plan && doc.plan.count !== doc.tests.length)
      this.errors.push(`line ${start.no}: the plan says ${doc.plan.count} tests, the document has ${doc.tests.length}`);
    const totalsLine = pending.map((p) => /^Totals: (.*)$/.exec(p)).find(Boolean);
    if (totalsLine) {
      doc.totals = Object.fromEntries(
        totalsLine[1]!.split(/\s+/).map((kv) => {
          const [k, v] = kv.split(':');
          return [k!, Number(v)];
        }),
      );
      const skip = doc.tests.filter((t) => t.directive === 'SKIP').length;
      const fail = doc.tests.filter((t) => !t.ok && t.directive !== 'SKIP').length;
      const pass = doc.tests.length - skip - fail;
      const t = doc.totals;
      if (t.pass !== pass || t.fail !== fail || t.skip !== skip)
        this.errors.push(`the totals (pass:${t.pass} fail:${t.fail} skip:${t.skip}) do not match the results (pass:${pass} fail:${fail} skip:${skip})`);
    }
    return doc;
  }
}
