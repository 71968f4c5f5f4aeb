// The scenario files' one fixture, in the manner of a kselftest FIXTURE: before
// each test an open Iommufd (and, unless asked not to, one IOAS in it) plus
// whatever `extra` makes from it; after each test the Iommufd closed first, then
// `release` of the extras (a DmaBuffer an IOAS still maps cannot be freed).
// Tests read them as self.fd, self.ioas, self.<extra>, like the kernel's self->.
import { afterEach, beforeEach } from 'vitest';
import type { Ioas, Iommufd } from '../../lib/index.js';
import { openIommufd } from '../backend.js';

export interface FixtureOptions<E> {
  /** Allocate self.ioas (default true). */
  ioas?: boolean;
  /** More per-test objects, made after the IOAS. */
  extra?: (fd: Iommufd) => E;
  /** Releases what `extra` made, after the Iommufd is closed. */
  release?: (extra: E) => void;
}

export function scenarioFixture<E extends object = object>(options: FixtureOptions<E> = {}): { fd: Iommufd; ioas: Ioas } & E {
  const self = {} as { fd: Iommufd; ioas: Ioas } & E;
  let made: E | undefined;
  beforeEach(() => {
    self.fd = openIommufd();
    if (options.ioas ?? true) self.ioas = self.fd.allocIoas();
    if (options.extra) Object.assign(self, (made = options.extra(self.fd)));
  });
  afterEach(() => {
    if (!self.fd.closed) self.fd.close();
    if (made !== undefined) options.release?.(made);
    made = undefined;
  });
  return self;
}
