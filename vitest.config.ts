import { defineConfig } from 'vitest/config';

// Projects:
//   host    test/host: anywhere (argument checks, errors, the addon, the ABI check)
//   kernel  test/scenarios + test/kernel on the native backend: needs a real
//           /dev/iommu with CONFIG_IOMMUFD_TEST, so it runs inside the QEMU rig
//   sim     test/scenarios on the simulator backend: anywhere
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
        test: {
          name: 'kernel',
          include: ['test/scenarios/**/*.test.ts', 'test/kernel/**/*.test.ts'],
          env: { IOMMUFD_TEST_BACKEND: 'native' },
          setupFiles: ['test/kernel/require-kernel.ts'],
          // The VM runs under TCG emulation on CI machines: ioctl loops are slow.
          testTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'sim',
          include: ['test/scenarios/**/*.test.ts', 'test/sim/**/*.test.ts'],
          env: { IOMMUFD_TEST_BACKEND: 'sim' },
        },
      },
    ],
  },
});
