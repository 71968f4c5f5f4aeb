import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Plugin, defineConfig } from 'vitest/config';

const root = dirname(fileURLToPath(import.meta.url));
const libDir = join(root, 'lib') + sep;
const distDir = join(root, 'dist') + sep;

// In the VM, scripts/run-vitest.mjs sets IOMMUFD_TEST_LIB=dist when dist/ (tsc's
// output of lib/) is up to date: the tests then import lib as that plain JS, loaded
// by Node itself, instead of having vite transform and evaluate ~100 lib modules,
// which under TCG cost more than many test files' tests. Same code, same tests.
const libFromDist = process.env.IOMMUFD_TEST_LIB === 'dist';
const distPlugins: Plugin[] = [
  {
    name: 'iommufd-lib-from-dist',
    enforce: 'pre',
    resolveId(source, importer) {
      if (!libFromDist || !importer || !source.startsWith('.') || !source.endsWith('.js')) return null;
      const path = resolve(dirname(importer.split('?')[0]!), source);
      return path.startsWith(libDir) ? distDir + path.slice(libDir.length) : null;
    },
  },
];
// Node, not vite, loads dist/ (vite-node externalizes what matches here).
const distServer = { deps: { external: libFromDist ? [new RegExp(`^${distDir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`)] : [] } };

// Projects:
//   host    test/host: anywhere (argument checks, errors, the addon, the ABI check)
//   kernel  test/scenarios + test/kernel on the native backend: needs a real
//           /dev/iommu with CONFIG_IOMMUFD_TEST, so it runs inside the QEMU rig
//   sim     test/scenarios on the simulator backend: anywhere
//   selftest-kernel / selftest-sim
//           test/selftest: the kernel's tools/testing/selftests/iommu ported,
//           instance for instance, on the kernel (in the VM) and on the simulator
//   hostile-sim / hostile-kernel
//           test/hostile: the hostile-input fuzzer on the simulator / the kernel
//   vfio    test/vfio: a VFIO device (QEMU's edu) behind an emulated VT-d,
//           with real DMA; runs in the `vtd` VM profile (scripts/vm.mjs)
//   noiommu test/noiommu: edu without an IOMMU in VFIO's no-IOMMU mode, for
//           IOMMU_IOAS_NOIOMMU_GET_PA; runs in the `noiommu` VM profile
export default defineConfig({
  // scripts/run-vitest.mjs points this at a tmpfs when the repo is read-only (in the VM).
  cacheDir: process.env.IOMMUFD_VITE_CACHE ?? 'node_modules/.vite',
  test: {
    pool: 'forks',
    // GC tests force collections to prove pinned memory is never freed.
    poolOptions: { forks: { execArgv: ['--expose-gc'] } },
    projects: [
      { test: { name: 'host', include: ['test/host/**/*.test.ts'] } },
      {
        plugins: distPlugins,
        test: {
          name: 'kernel',
          server: distServer,
          include: ['test/scenarios/**/*.test.ts', 'test/kernel/**/*.test.ts'],
          env: { IOMMUFD_TEST_BACKEND: 'native' },
          setupFiles: ['test/kernel/require-kernel.ts'],
          // The VM runs under TCG emulation on CI machines: ioctl loops are slow.
          testTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'vfio',
          include: ['test/vfio/**/*.test.ts'],
          env: { IOMMUFD_TEST_BACKEND: 'native' },
          setupFiles: ['test/vfio/require-vfio.ts'],
          // Real device DMA under TCG: each edu transfer waits ~100 ms of virtual time.
          testTimeout: 120_000,
          // One edu device: a VFIO cdev binds once at a time, so files run one after another.
          poolOptions: { forks: { singleFork: true } },
        },
      },
      {
        test: {
          name: 'noiommu',
          include: ['test/noiommu/**/*.test.ts'],
          env: { IOMMUFD_TEST_BACKEND: 'native' },
          setupFiles: ['test/kernel/require-kernel.ts'],
          testTimeout: 120_000,
        },
      },
      {
        plugins: distPlugins,
        test: {
          name: 'selftest-kernel',
          server: distServer,
          include: ['test/selftest/**/*.test.ts'],
          env: { IOMMUFD_TEST_BACKEND: 'native' },
          setupFiles: ['test/kernel/require-kernel.ts'],
          testTimeout: 300_000,
          // scripts/run-vitest.mjs runs this project without isolation (see there).
        },
      },
      {
        test: {
          name: 'selftest-sim',
          include: ['test/selftest/**/*.test.ts'],
          env: { IOMMUFD_TEST_BACKEND: 'sim' },
          testTimeout: 120_000,
          // Without isolation too, as selftest-kernel.
        },
      },
      {
        test: {
          name: 'sim',
          include: ['test/scenarios/**/*.test.ts', 'test/sim/**/*.test.ts'],
          env: { IOMMUFD_TEST_BACKEND: 'sim' },
        },
      },
      // Differential fuzzing: random operation sequences on the kernel and the
      // simulator side by side, compared step by step (needs /dev/iommu: in the VM).
      {
        test: {
          name: 'fuzz',
          include: ['test/fuzz/**/*.test.ts'],
          setupFiles: ['test/kernel/require-kernel.ts'],
          testTimeout: 900_000,
        },
      },
      // Hostile-input fuzzing: random calls with rule-breaking arguments must end in
      // typed errors, never a crash or a stray write (test/hostile). The simulator on
      // the host; the kernel in the VM, where the workers load the ASan addon.
      {
        test: {
          name: 'hostile-sim',
          include: ['test/hostile/**/*.test.ts'],
          env: { IOMMUFD_TEST_BACKEND: 'sim' },
          testTimeout: 1_800_000,
        },
      },
      {
        test: {
          name: 'hostile-kernel',
          include: ['test/hostile/**/*.test.ts'],
          env: { IOMMUFD_TEST_BACKEND: 'native' },
          setupFiles: ['test/kernel/require-kernel.ts'],
          testTimeout: 1_800_000,
        },
      },
      // The `iommufd` command run as a process (test/cli): on the host against
      // the simulator (cli), and inside the VM against the kernel (cli-kernel).
      // Both run bin/iommufd.js, i.e. dist/: the global setup rebuilds it if stale.
      {
        test: {
          name: 'cli',
          include: ['test/cli/**/*.test.ts'],
          exclude: ['test/cli/**/*.kernel.test.ts'],
          globalSetup: ['test/cli/global-setup.ts'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'cli-kernel',
          include: ['test/cli/**/*.kernel.test.ts'],
          globalSetup: ['test/cli/global-setup.ts'],
          setupFiles: ['test/kernel/require-kernel.ts'],
          // `iommufd selftest` of the whole port in one test: about 190 s under TCG alone, more
          // on a loaded machine.
          testTimeout: 900_000,
        },
      },
    ],
  },
});
