#!/usr/bin/env node
// `npm run fuzz -- [--count N] [--seed S] [--length L] [--index I]`: the
// kernel-vs-simulator differential fuzzer (test/fuzz). Runs right here where
// /dev/iommu exists, otherwise inside the QEMU VM (scripts/vm.mjs), through
// tsx (the TypeScript runs as is; the repo may be read-only).
// Ends with "fuzz: N sequences, N steps, N divergences"; exit 1 on a divergence.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInVm } from './vm.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log('usage: npm run fuzz -- [--count N (200)] [--seed S (1)] [--length STEPS (32)] [--index I (replay one sequence)]');
  process.exit(0);
}
const command = [process.execPath, '--import', 'tsx', join(root, 'test/fuzz/cli.ts'), ...args];

if (existsSync('/dev/iommu')) {
  const result = spawnSync(command[0], command.slice(1), { cwd: root, stdio: 'inherit' });
  process.exit(result.status ?? 1);
} else {
  console.error('[fuzz] no /dev/iommu here: running inside the VM (scripts/vm.mjs)');
  const code = await runInVm(['node', ...command.slice(1)], { cwd: root, memory: 2048, kernel: process.env.IOMMUFD_KERNEL || undefined });
  process.exit(code);
}
