// The kselftest harness of tools/testing/selftests/iommu/iommufd.c in vitest terms:
// FIXTURE + FIXTURE_VARIANT_ADD + TEST_F become `fixture(name, variants, setup,
// teardown).test(name, body)`, and every (variant, test) pair is one vitest test
// named like the kernel's instance: "iommufd_ioas.mock_domain.area".
//
// Each instance runs on the backend of the vitest project (selftest-kernel in the
// VM, selftest-sim on the host). The 6.12 tree's selftest is newer than its driver
// in a few places; those parts call `kernelLacks()` after probing the running
// kernel, which skips the instance with the reason "kernel lacks X".
import { test as vitestTest } from 'vitest';
import { DmaBuffer, type DmaBufferOptions, type Iommufd, MemFile } from '../../lib/index.js';
import { BACKEND, openIommufd } from '../backend.js';
import { logSkip } from '../skip-log.js';

export const PAGE_SIZE = 4096;
/** The mock domain's IO page size (MOCK_IO_PAGE_SIZE in the kernel's selftest.c). */
export const MOCK_PAGE_SIZE = PAGE_SIZE / 2;
export const MOCK_HUGE_PAGE_SIZE = 512 * MOCK_PAGE_SIZE;
/** hpage_pmd_size on x86-64 (the selftest reads it from sysfs, falling back to 2 MiB). */
export const HUGEPAGE_SIZE = 2 * 1024 * 1024;
/** The selftest's global `buffer`: 16 pages, MAP_SHARED, huge-page aligned. */
export const BUFFER_SIZE = 16 * PAGE_SIZE;

let sharedBuffer: DmaBuffer | undefined;

/**
 * The selftest's global `buffer` (one per vitest worker, which runs several files
 * without isolation, like the one a selftest process makes before its tests):
 * MAP_SHARED anonymous memory, so a forked child writes the parent's pages. Not a
 * huge page: MD_CHECK_REFS skips compound pages, which would make refs checks vacuous.
 */
export function buffer(): DmaBuffer {
  sharedBuffer ??= DmaBuffer.alloc(BUFFER_SIZE, { shared: true });
  return sharedBuffer;
}

let sharedMemFile: MemFile | undefined;

/**
 * The selftest's global `mfd` and `mfd_buffer` (7.3): a memfd of BUFFER_SIZE
 * bytes and its MAP_SHARED view (`.view`), made once per worker like buffer().
 */
export function memFile(): MemFile {
  sharedMemFile ??= MemFile.create(BUFFER_SIZE);
  return sharedMemFile;
}

/**
 * MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB memory, as the selftest maps for its
 * huge-page cases; the VM reserves the hugetlb pool (scripts/vm-init.sh). A host
 * running the simulator usually has an empty pool, so there it is private
 * THP-advised memory, which the simulator also takes as 2 MiB pages.
 */
export function hugetlbShared(): DmaBufferOptions {
  return BACKEND === 'sim' ? { hugePages: 'transparent' } : { shared: true, hugePages: 'hugetlb' };
}

export type Ctx = { skip: (note?: string) => void };
type Body<S, V> = (self: S, variant: V, ctx: Ctx) => void | Promise<void>;

export interface Fixture<S, V> {
  /** TEST_F(fixture, name): one vitest test per variant. */
  test(name: string, body: Body<S, V>, options?: { timeout?: number }): void;
}

/**
 * FIXTURE(name) with its variants (FIXTURE_VARIANT_ADD; pass `{ '': {} }` for a
 * fixture without variants), FIXTURE_SETUP and FIXTURE_TEARDOWN. Teardown runs
 * whether the body passed, failed or skipped, and also when setup fails part way
 * (as kselftest's harness runs FIXTURE_TEARDOWN after a failed ASSERT in setup):
 * a setup that fills the `self` it is given as it goes (and returns it) gets
 * teardown for whatever it made, so a teardown must accept a partial `self`.
 */
export function fixture<S, V>(
  name: string,
  variants: Record<string, V>,
  setup: (variant: V, ctx: Ctx, self: Partial<S>) => S,
  teardown: (self: S, variant: V) => void,
): Fixture<S, V> {
  return {
    test(testName, body, options) {
      for (const [variantName, variant] of Object.entries(variants)) {
        const full = [name, variantName, testName].filter(Boolean).join('.');
        vitestTest(full, options ?? {}, async (ctx) => {
          const partial: Partial<S> = {};
          let self: S;
          try {
            self = setup(variant, ctx, partial);
          } catch (setupError) {
            // Nothing recorded: the setup made nothing, or keeps it to itself.
            if (Object.keys(partial).length === 0) throw setupError;
            try {
              teardown(partial as S, variant);
            } catch (teardownError) {
              throw new AggregateError([setupError, teardownError], `${full}: setup failed, and so did teardown`);
            }
            throw setupError;
          }
          try {
            await body(self, variant, ctx);
          } finally {
            teardown(self, variant);
          }
        });
      }
    },
  };
}

/**
 * teardown_iommufd(): close the fd, then on a fresh fd check that no page of the
 * global buffer is still pinned (everything the fd held was released).
 */
export function teardownIommufd(fd: Iommufd): void {
  if (!fd.closed) fd.close();
  const check = openIommufd();
  try {
    check.checkRefs(buffer(), 0);
  } finally {
    check.close();
  }
}

/** How a skip the kernel's own selftest makes is logged: CI accepts these by name. */
export const SELFTEST_SKIPS = 'selftest skips: ';

/**
 * Skip the running instance where the kernel's C selftest itself SKIPs it (a variant
 * the test does not apply to, e.g. iommufd_viommu's no_viommu). Not a missing
 * feature and not a pass: it counts as a skip, listed with the C test's reason.
 */
export function selftestSkips(ctx: Ctx, reason: string): never {
  logSkip(`${SELFTEST_SKIPS}${reason}`);
  ctx.skip(`${SELFTEST_SKIPS}${reason}`);
  throw new Error('unreachable: ctx.skip() returned');
}

/**
 * Skip the running instance because the kernel (or the simulator, which models the
 * 6.12 driver) lacks a feature the shipped selftest uses. Call it only after probing:
 * the reason is logged for the end-of-run summary, and CI accepts only these skips.
 */
export function kernelLacks(ctx: Ctx, feature: string): never {
  logSkip(`kernel lacks ${feature}`);
  ctx.skip(`kernel lacks ${feature}`);
  throw new Error('unreachable: ctx.skip() returned');
}
