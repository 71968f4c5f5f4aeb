// The KTAP writer and parser (lib/cli/ktap.ts) against the examples of
// Documentation/dev-tools/ktap.rst and against each other.
import { describe, expect, test } from 'vitest';
import { type CaseResult, exitCode, formatKtap, parseKtap } from '../../lib/cli/ktap.js';

const SPEC_EXAMPLE = `KTAP version 1
1..1
  KTAP version 1
  1..3
    KTAP version 1
    1..1
    # test_1: initializing test_1
    ok 1 test_1
  ok 1 example_test_1
    KTAP version 1
    1..2
    ok 1 test_1 # SKIP test_1 skipped
    ok 2 test_2
  ok 2 example_test_2
    KTAP version 1
    1..3
    ok 1 test_1
    # test_2: FAIL
    not ok 2 test_2
    ok 3 test_3 # SKIP test_3 skipped
  not ok 3 example_test_3
not ok 1 main_test
`;

describe('parseKtap', () => {
  test('the nested example of the KTAP specification', () => {
    const { document, errors } = parseKtap(SPEC_EXAMPLE);
    expect(errors).toEqual([]);
    expect(document!.plan).toEqual({ count: 1 });
    const main = document!.tests[0]!;
    expect(main).toMatchObject({ number: 1, ok: false, description: 'main_test' });
    const [first, second, third] = main.subtests!.tests;
    expect(first!.subtests!.tests[0]).toMatchObject({ ok: true, description: 'test_1', diagnostics: ['test_1: initializing test_1'] });
    expect(second!.subtests!.tests[0]).toMatchObject({ ok: true, directive: 'SKIP', data: 'test_1 skipped' });
    expect(third).toMatchObject({ ok: false, description: 'example_test_3' });
    expect(third!.subtests!.tests[1]).toMatchObject({ ok: false, description: 'test_2', diagnostics: ['test_2: FAIL'] });
  });

  test('a diagnostic at the parent level closes the subtest and belongs to the parent result', () => {
    const { document, errors } = parseKtap('KTAP version 1\n1..1\n  KTAP version 1\n  1..2\n  ok 1 test_1\n  not ok 2 test_2\n# example failed\nnot ok 1 example\n');
    expect(errors).toEqual([]);
    expect(document!.tests[0]).toMatchObject({ description: 'example', diagnostics: ['example failed'] });
    expect(document!.tests[0]!.subtests!.tests).toHaveLength(2);
  });

  test('unknown lines (kernel messages) are ignored, anywhere', () => {
    const { document, errors } = parseKtap('[   1.234] booting\nKTAP version 1\n1..1\nrandom kernel noise\nok 1 works\n');
    expect(errors).toEqual([]);
    expect(document!.tests).toHaveLength(1);
  });

  test('directives, a skip-all plan, TAP 13 and kselftest totals', () => {
    const ok = parseKtap('TAP version 13\n1..3\nok 1 a # SKIP no mock\nnot ok 2 b # TIMEOUT 30 seconds\nok 3 c # rcode=0\n# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:1 error:0\n');
    expect(ok.errors).toEqual([]);
    expect(ok.document!.tests.map((t) => [t.directive, t.data])).toEqual([['SKIP', 'no mock'], ['TIMEOUT', '30 seconds'], [undefined, 'rcode=0']]);
    expect(ok.document!.totals).toMatchObject({ pass: 1, fail: 1, skip: 1 });
    expect(parseKtap('KTAP version 1\n1..0 # SKIP no /dev/iommu\n').document!.plan).toEqual({ count: 0, directive: 'SKIP', data: 'no /dev/iommu' });
  });

  test.for([
    ['no version line', '1..1\nok 1 a\n', /no version line/],
    ['a numbering gap', 'KTAP version 1\n1..2\nok 1 a\nok 3 b\n', /test number 3, expected 2/],
    ['a plan that does not match', 'KTAP version 1\n1..3\nok 1 a\nok 2 b\n', /plan says 3 tests, the document has 2/],
    ['a plan after results', 'KTAP version 1\nok 1 a\n1..1\n', /plan must directly follow/],
    ['wrong totals', 'KTAP version 1\n1..1\nnot ok 1 a\n# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0\n', /totals .* do not match/],
    ['ok with ERROR', 'KTAP version 1\n1..1\nok 1 a # ERROR boom\n', /ERROR must be 'not ok'/],
    ['a subtest without its result', 'KTAP version 1\n1..1\n  KTAP version 1\n  1..1\n  ok 1 a\n', /subtest document without its result line/],
  ] as const)('rejects %s', ([, text, message]) => {
    expect(parseKtap(text).errors.join('\n')).toMatch(message);
  });
});

describe('formatKtap', () => {
  const cases: CaseResult[] = [
    { name: 'access: pin # 1', status: 'pass' },
    { name: 'uapi: dirty\ntracking', status: 'skip', reason: 'sim backend lacks DIRTY' },
    { name: 'ioas: map', status: 'fail', diagnostics: ['expected EEXIST\n  at test/scenarios/ioas.test.ts:3:4'] },
  ];

  test('writes what the parser reads back, totals included', () => {
    const text = formatKtap(cases, { header: ['iommufd selftest on sim'] });
    expect(text.split('\n').slice(0, 2)).toEqual(['KTAP version 1', '1..3']);
    const { document, errors } = parseKtap(text);
    expect(errors).toEqual([]);
    expect(document!.tests.map((t) => [t.ok, t.description, t.directive, t.data])).toEqual([
      [true, 'access: pin no. 1', undefined, undefined], // '#' may not appear in a description
      [true, 'uapi: dirty tracking', 'SKIP', 'sim backend lacks DIRTY'],
      [false, 'ioas: map', undefined, undefined],
    ]);
    expect(document!.tests[2]!.diagnostics).toEqual(['expected EEXIST', '  at test/scenarios/ioas.test.ts:3:4']);
    expect(document!.totals).toEqual({ pass: 1, fail: 1, xfail: 0, xpass: 0, skip: 1, error: 0 });
  });

  test('no cases: a skip-all plan', () => {
    const text = formatKtap([], { emptyReason: 'no test matches --filter x#y' });
    expect(text).toMatch(/^KTAP version 1\n1\.\.0 # SKIP no test matches --filter xno\.y\n/);
    expect(parseKtap(text).errors).toEqual([]);
  });

  test('exit codes follow kselftest: 0 pass, 1 any failure, 4 nothing passed', () => {
    expect(exitCode(cases)).toBe(1);
    expect(exitCode(cases.filter((c) => c.status !== 'fail'))).toBe(0);
    expect(exitCode(cases.filter((c) => c.status === 'skip'))).toBe(4);
    expect(exitCode([])).toBe(4);
  });
});
