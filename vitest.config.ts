import { defineConfig } from 'vitest/config';

// Two projects: `host` runs anywhere; `kernel` needs a real /dev/iommu with
// CONFIG_IOMMUFD_TEST and runs inside the QEMU rig (scripts/vm.mjs).
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
          include: ['test/kernel/**/*.test.ts'],
          setupFiles: ['test/kernel/require-kernel.ts'],
          // The VM runs under TCG emulation on CI machines: ioctl loops are slow.
          testTimeout: 120_000,
        },
      },
    ],
  },
});
