// `npm run fuzz:hostile -- [--count N] [--seed S] [--length L] [--from I]` (count sequences from I): the hostile-input
// fuzzer by hand, on the backend IOMMUFD_TEST_BACKEND names (sim on a host without /dev/iommu).
import { existsSync } from 'node:fs';
import { hostile, summary } from './main.js';

process.env.IOMMUFD_TEST_BACKEND ??= existsSync('/dev/iommu') ? 'native' : 'sim';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const from = arg('from', 0);
const report = await hostile({ from, count: from + arg('count', 100), seed: arg('seed', 1), length: arg('length', 40), log: console.log });
for (const f of report.findings) console.log(`sequence ${f.sequence} call ${f.call} ${f.op}: ${f.kind}: ${f.detail}`);
for (const c of report.crashes) console.log(`crash in sequence ${c.sequence} (${c.exit}):\n${c.stderr}`);
console.log(summary(report));
process.exit(report.findings.length + report.crashes.length === 0 ? 0 : 1);
