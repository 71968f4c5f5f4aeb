// `iommufd validate --device /dev/vfio/devices/vfioN`: the hardware validation
// battery (lib/vfio/hw-validation.ts) as a readable report or KTAP.
import { type CheckResult, runValidation } from '../vfio/hw-validation.js';
import { type CaseResult, exitCode, formatKtap, totals } from './ktap.js';
import { colors } from './style.js';

export interface ValidateOptions {
  device: string;
  ktap: boolean;
  json: boolean;
  dma: boolean;
}

function toCase(check: CheckResult): CaseResult {
  return {
    name: `${check.id}: ${check.name}`,
    status: check.status,
    reason: check.status === 'skip' ? check.detail : undefined,
    diagnostics: check.status === 'fail' ? [check.error?.message ?? check.detail ?? 'failed'] : undefined,
  };
}

export async function validate(options: ValidateOptions): Promise<number> {
  const human = !options.ktap && !options.json && Boolean(process.stdout.isTTY);
  const c = colors(human);
  const mark = { pass: c.green('✓'), fail: c.red('✗'), skip: c.yellow('↓') };
  const report = await runValidation(options.device, {
    dma: options.dma,
    onCheck: human
      ? (check) => process.stdout.write(`${mark[check.status]} ${check.name}${check.detail ? c.dim(` — ${check.detail}`) : ''}\n`)
      : undefined,
  });
  const cases = report.checks.map(toCase);
  if (report.skipReason !== undefined && human) process.stdout.write(`${c.bold(c.yellow('SKIP'))} ${report.skipReason}\n`);
  else if (options.json) process.stdout.write(`${JSON.stringify(report, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v), 2)}\n`);
  else if (human) {
    const t = totals(cases);
    process.stdout.write(
      `${c.bold(report.ok ? c.green('PASS') : c.red('FAIL'))} ${t.pass} passed, ${t.fail} failed, ${t.skip} skipped` +
        ` on ${report.device}${report.dmaEngine ? ` (DMA through ${report.dmaEngine})` : ' (no DMA engine known for this device)'}\n`,
    );
  } else {
    const header = `iommufd validate ${report.device}${report.dmaEngine ? ` with DMA engine ${report.dmaEngine}` : ''}`;
    // No hardware is kselftest's whole-run skip: "1..0 # SKIP <reason>", exit 4.
    process.stdout.write(formatKtap(cases, { header: [header], emptyReason: report.skipReason ?? 'no checks ran' }));
  }
  return cases.length === 0 ? 4 : exitCode(cases);
}
