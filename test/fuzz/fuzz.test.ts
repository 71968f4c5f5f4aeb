// The differential fuzzer as a test (vitest project `fuzz`, in the VM): random
// sequences on the kernel and the simulator side by side must agree, step for
// step. FUZZ_COUNT / FUZZ_SEED / FUZZ_LENGTH override the defaults.
import { expect, test } from 'vitest';
import { fuzz, summary } from './main.js';

const count = Number(process.env.FUZZ_COUNT ?? 2000);
const seed = Number(process.env.FUZZ_SEED ?? 20261123);
const length = process.env.FUZZ_LENGTH ? Number(process.env.FUZZ_LENGTH) : undefined;

test(`kernel and simulator agree on ${count} random sequences (seed ${seed})`, async () => {
  const report = await fuzz({ count, seed, length, log: (line) => process.stdout.write(`${line}\n`) });
  process.stdout.write(`${summary(report)}\n`);
  expect(report.sequences).toBe(count);
  expect(report.found.map((f) => `sequence ${f.index} step ${f.divergence.index} (${f.divergence.step.op})`)).toEqual([]);
});
