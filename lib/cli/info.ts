// `iommufd info`: which backend would be used and why, the kernel, what it
// supports, and the memory-lock limit pinned pages count against.
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import type { Capabilities } from '../backend/contract.js';
import { type BackendName, type NativeProbe, chooseBackend, probeNative, simCapabilities } from './common.js';
import { colors } from './style.js';

export type Limit = number | 'unlimited';

export interface Info {
  /** What `selftest` and `run` use without --backend. */
  backend: BackendName;
  reason: string;
  kernel: { release: string };
  addon: NativeProbe['addon'];
  device: NativeProbe['device'];
  testMock: boolean | null;
  /** RLIMIT_MEMLOCK in bytes, from /proc/self/limits; null where there is none. */
  memlock: { soft: Limit; hard: Limit } | null;
  capabilities: { native: Capabilities | null; sim: Capabilities };
}

export function gatherInfo(): Info {
  const probe = probeNative();
  const { backend, reason } = chooseBackend(probe);
  return {
    backend,
    reason,
    kernel: { release: release() },
    addon: probe.addon,
    device: probe.device,
    testMock: probe.testMock,
    memlock: memlock(),
    capabilities: { native: probe.capabilities, sim: simCapabilities() },
  };
}

function memlock(): Info['memlock'] {
  let text: string;
  try {
    text = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return null;
  }
  const m = /^Max locked memory\s+(\S+)\s+(\S+)/m.exec(text);
  if (!m) return null;
  const value = (v: string): Limit => (v === 'unlimited' ? v : Number(v));
  return { soft: value(m[1]!), hard: value(m[2]!) };
}

function bytes(v: Limit): string {
  if (v === 'unlimited') return v;
  for (const [unit, size] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const)
    if (v >= size && v % size === 0) return `${v / size} ${unit}`;
  return `${v} bytes`;
}

export function renderInfo(info: Info, useColor: boolean): string {
  const c = colors(useColor);
  const yes = (v: boolean | null | undefined) => (v === true ? c.green('yes') : v === false ? c.red('no') : c.dim('-'));
  const { addon, device } = info;
  const row = (k: string, v: string) => `  ${k.padEnd(12)}${v}`;
  const out = [
    c.bold('iommufd info'),
    row('backend', `${c.bold(info.backend)} ${c.dim(`(${info.reason})`)}`),
    row('addon', addon.available ? c.green('loads') : `${c.red('unavailable')}: ${addon.error}`),
    row(
      device.path,
      !device.present ? c.red('missing') : device.openable ? c.green('present, opens') : `${c.yellow('present')}, cannot open: ${device.error}`,
    ),
    row('test mock', info.testMock === null ? c.dim('unknown (the device did not open)') : yes(info.testMock)),
    row('kernel', info.kernel.release),
    row(
      'memlock',
      info.memlock
        ? `${bytes(info.memlock.soft)} (hard ${bytes(info.memlock.hard)}) ${c.dim('RLIMIT_MEMLOCK: pinned pages count against it')}`
        : c.dim('unknown'),
    ),
    '',
  ];
  const { native, sim } = info.capabilities;
  const columns: [string, Capabilities][] = native ? [['native', native], ['sim', sim]] : [['sim', sim]];
  const names = (pick: (c: Capabilities) => Record<string, boolean>) => [...new Set(columns.flatMap(([, caps]) => Object.keys(pick(caps))))];
  const labels = [...names((caps) => caps.ioctls), ...names((caps) => caps.testOps).map((n) => `IOMMU_TEST_OP_${n}`)];
  const width = Math.max(...labels.map((n) => n.length)) + 2;
  out.push(`  ${c.bold('capability'.padEnd(width))}${columns.map(([name, caps]) => c.bold(`${name} (${caps.kernel})`.padEnd(18))).join('')}`);
  const line = (label: string, get: (caps: Capabilities) => boolean | undefined) =>
    `  ${label.padEnd(width)}${columns.map(([, caps]) => pad(yes(get(caps)), 18)).join('')}`;
  for (const name of names((caps) => caps.ioctls)) out.push(line(name, (caps) => caps.ioctls[name]));
  for (const name of names((caps) => caps.testOps)) out.push(line(`IOMMU_TEST_OP_${name}`, (caps) => caps.testOps[name]));
  out.push(line('fail-nth fault injection', (caps) => caps.failNth));
  if (!native) out.push('', c.dim(`  native: not probed (${info.reason})`));
  return `${out.join('\n')}\n`;
}

/** Pad a string that may hold colour escapes. */
function pad(text: string, width: number): string {
  // eslint-disable-next-line no-control-regex
  const visible = text.replace(/\x1b\[[0-9;]*m/g, '').length;
  return text + ' '.repeat(Math.max(0, width - visible));
}
