// The hostile-input fuzzer as a test (vitest projects hostile-sim on the host,
// hostile-kernel in the VM with the ASan addon): random calls with arguments
// that break the API's rules must all end in a clear, typed error, never a
// crash, and never a write or a mapping outside the memory a call was given.
// HOSTILE_COUNT / HOSTILE_SEED / HOSTILE_LENGTH override the defaults.
import { expect, test } from 'vitest';
import { hostile, summary } from './main.js';

// The kernel run is under TCG with ASan (about 1 s a sequence): fewer there.
const count = Number(process.env.HOSTILE_COUNT ?? (process.env.IOMMUFD_TEST_BACKEND === 'sim' ? 1000 : 150));
const seed = Number(process.env.HOSTILE_SEED ?? 20261202);
const length = Number(process.env.HOSTILE_LENGTH ?? 40);
// In the VM, the workers load the ASan build of the addon (scripts/test.mjs sets these).
const env: Record<string, string> = {};
if (process.env.IOMMUFD_ASAN_ADDON) {
  env.IOMMUFD_ADDON = process.env.IOMMUFD_ASAN_ADDON;
  env.LD_PRELOAD = process.env.IOMMUFD_ASAN_RUNTIME ?? '';
  // An allocation ASan cannot make (a hostile length reaching new Uint8Array()) returns NULL as libc's
  // does, so V8 throws its RangeError as it does without ASan, instead of ASan aborting with "out-of-memory".
  env.ASAN_OPTIONS = 'detect_leaks=0:abort_on_error=1:allocator_may_return_null=1';
  env.UBSAN_OPTIONS = 'halt_on_error=1:print_stacktrace=1';
}

test(`${count} hostile sequences of ${length} calls (seed ${seed}): clean errors only, no crash, memory safe`, async () => {
  const report = await hostile({ count, seed, length, env, log: (line) => process.stdout.write(`${line}\n`) });
  process.stdout.write(`${summary(report)}\n`);
  for (const f of report.findings.slice(0, 20)) process.stdout.write(`  sequence ${f.sequence} call ${f.call} ${f.op}: ${f.kind}: ${f.detail}\n`);
  for (const c of report.crashes.slice(0, 5)) process.stdout.write(`  crash in sequence ${c.sequence} (${c.exit}):\n${c.stderr.split('\n').slice(-30).join('\n')}\n`);
  expect(report.counts.sequences + report.crashes.length).toBe(count);
  expect(report.counts.calls).toBeGreaterThan(count * length * 0.5) // ops on kinds of objects not made yet do not count;
  expect(report.crashes.map((c) => `sequence ${c.sequence}: ${c.exit}`)).toEqual([]);
  expect(report.findings.map((f) => `sequence ${f.sequence} call ${f.call} ${f.op}: ${f.kind}: ${f.detail.split('\n')[0]}`)).toEqual([]);
}, 1_800_000);
