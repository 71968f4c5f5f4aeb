// What `iommufd run FILE` hands to a scenario module.
import type { Capabilities } from '../backend/contract.js';
import type { Iommufd } from '../api/iommufd.js';

export interface RunContext {
  /** The backend the script runs on. */
  backend: 'native' | 'sim';
  /** What it supports (fd.capabilities()). */
  capabilities: Capabilities;
  /** Arguments after `--` on the command line. */
  args: string[];
  /**
   * Stop with "skipped: backend lacks X" (exit 4) unless every feature is
   * supported: ioctl names (IOMMU_HWPT_ALLOC, VFIO_SET_IOMMU, ...), test op
   * names without the prefix (DIRTY, ...) or 'failNth'. Any other name is a
   * TypeError (a typo must fail, not skip).
   */
  requires(...features: string[]): void;
  /** Stop here as skipped (exit 4), with the reason. */
  skip(reason: string): never;
  /** console.log, for the script's own output. */
  log(...args: unknown[]): void;
}

/**
 * A module run by `iommufd run` exports this as its default (or as `run`).
 * The fd is closed after it returns.
 */
export type Scenario = (fd: Iommufd, ctx: RunContext) => unknown;
