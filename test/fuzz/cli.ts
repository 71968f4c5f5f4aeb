// `npm run fuzz -- --count N --seed S [--length L] [--index I]` ends up here
// (through scripts/fuzz.mjs, with tsx): the differential fuzzer without vitest.
import { fuzz, summary } from './main.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

const count = Number(arg('count') ?? process.env.FUZZ_COUNT ?? 200);
const seed = Number(arg('seed') ?? process.env.FUZZ_SEED ?? 1);
const length = arg('length') ?? process.env.FUZZ_LENGTH;
const index = arg('index');
const report = await fuzz({ count, seed, length: length ? Number(length) : undefined, index: index === undefined ? undefined : Number(index), stats: process.argv.includes('--stats') });
console.log(summary(report));
process.exitCode = report.divergences ? 1 : 0;
