// Shared pieces of the `iommufd` command: errors, where the package lives, and
// which backend to use.
import { closeSync, existsSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Capabilities } from '../backend/contract.js';
import { IommufdError } from '../base/errors.js';
import { Iommufd } from '../api/iommufd.js';
import { addon } from '../native/binding.js';
import { SimBackend } from '../sim/backend.js';

/** A failure the CLI explains in one line: what failed, why, what to do. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Bad command-line usage: the message, then the subcommand's usage text. Exit 2. */
export class UsageError extends Error {}

/** The package root (dist/cli/ or lib/cli/ is two levels below it). */
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const binPath = join(packageRoot, 'bin', 'iommufd.js');

/** selftest and vm use the suites and scripts the package ships (and a checkout has). */
export function requireCheckout(what: string, files: string[]): void {
  // `what` is the subcommand: 'selftest' or 'vm'.
  const missing = files.filter((f) => !existsSync(join(packageRoot, f)));
  if (missing.length > 0)
    throw new CliError(
      `${what} needs files missing from ${packageRoot} (${missing.join(', ')})`,
      'reinstall the package (npm install iommufd), or run it from a checkout of the repository',
    );
}

export type BackendName = 'native' | 'sim';

export const DEVICE = '/dev/iommu';

/** What the native side of this machine offers, probed without side effects. */
export interface NativeProbe {
  addon: { available: boolean; error?: string };
  device: { path: string; present: boolean; openable: boolean; error?: string };
  /** The kernel has the selftest mock (CONFIG_IOMMUFD_TEST); null when the device did not open. */
  testMock: boolean | null;
  capabilities: Capabilities | null;
}

export function probeNative(path = DEVICE): NativeProbe {
  const probe: NativeProbe = {
    addon: { available: true },
    device: { path, present: existsSync(path), openable: false },
    testMock: null,
    capabilities: null,
  };
  try {
    addon();
  } catch (e) {
    probe.addon = { available: false, error: firstLine((e as Error).message).replace(/^iommufd: /, '').replace(/\. Tried:.*$/, '') };
  }
  if (probe.device.present) {
    try {
      closeSync(openSync(path, 'r+'));
      probe.device.openable = true;
    } catch (e) {
      probe.device.error = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    }
  }
  if (probe.addon.available && probe.device.openable) {
    try {
      using fd = Iommufd.open({ backend: 'native', path });
      probe.capabilities = fd.capabilities();
      probe.testMock = probe.capabilities.testOps.MOCK_DOMAIN === true;
    } catch (e) {
      probe.device.openable = false;
      probe.device.error = e instanceof IommufdError ? e.code : firstLine((e as Error).message);
    }
  }
  return probe;
}

/**
 * The default backend of selftest and run: native where /dev/iommu opens and
 * the kernel has the test mock, else the simulator; with the reason.
 */
export function chooseBackend(probe: NativeProbe): { backend: BackendName; reason: string } {
  if (probe.testMock) return { backend: 'native', reason: `${probe.device.path} opens and the kernel has the test mock (CONFIG_IOMMUFD_TEST)` };
  return { backend: 'sim', reason: nativeUnavailable(probe) };
}

/** Why the native backend cannot run the mock-based suite, for messages. */
export function nativeUnavailable(probe: NativeProbe): string {
  const { device } = probe;
  if (!probe.addon.available) return probe.addon.error ?? 'the native addon does not load';
  if (!device.present) return `${device.path} does not exist (the kernel lacks CONFIG_IOMMUFD, or this is not the test VM)`;
  if (!device.openable) return `${device.path} cannot be opened (${device.error ?? 'unknown error'})`;
  if (!probe.testMock) return 'the kernel has iommufd but not the test mock (CONFIG_IOMMUFD_TEST)';
  return 'available';
}

export function simCapabilities(): Capabilities {
  const sim = SimBackend.open();
  try {
    return sim.capabilities();
  } finally {
    sim.close();
  }
}

export function firstLine(text: string): string {
  return text.split('\n')[0]!.trim();
}

/** Write everything, then exit (process.exit may cut off piped output). */
export function exitAfterFlush(code: number): void {
  process.exitCode = code;
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}
