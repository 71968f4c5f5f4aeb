// Every ```ts code block of README.md, run as a test on the backend of this
// project (sim on the host, kernel inside the VM), exactly as a user would run
// it: `from 'iommufd'` is this checkout's lib/index.ts and `Iommufd.open()`
// chooses the backend itself. The blocks are read from README.md at test time.
//
// The convention (parsed and explained in ./readme-blocks.ts, and in README's
// "How the tests prove it on a real kernel"): an HTML comment just above a block,
//   <!-- readme-test: continues -->             runs it after the blocks before it, in one module
//   <!-- readme-test: kernel-only: REASON -->   runs it in the kernel project only
//   <!-- readme-test: vfio: REASON -->          runs it in test/vfio/readme.test.ts (vtd VM) instead
//   <!-- readme-test: excerpt FILE... -->       checks it is copied from FILEs (which run elsewhere)
// A block with no marker runs in both projects. Nothing is skipped: a block that
// throws fails its test, and a block's documented failures are node:assert
// checks in the block itself.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { Iommufd } from '../../lib/index.js';
import { BACKEND } from '../backend.js';
import { missingExcerptPieces, readmeBlocks, runBlock, type BlockOptions, type Project } from './readme-blocks.js';

const PROJECT: Project = BACKEND === 'native' ? 'kernel' : 'sim';
const blocks = readmeBlocks();
// The repo is read-only inside the VM: the blocks' modules go to the temp dir.
// Made when the first block runs (a filtered run creates nothing).
let dir: string | undefined;
const tempDir = () => (dir ??= mkdtempSync(join(tmpdir(), 'iommufd-readme-')));
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// What the blocks' own `Iommufd.open()` ('auto') gives on this machine.
function autoBackend(): string {
  try {
    using fd = Iommufd.open();
    return fd.backend.name;
  } catch (e) {
    return `an error: ${(e as Error).message}`;
  }
}
const auto = autoBackend();
// On the sim project's machines (CI hosts, laptops) 'auto' is the simulator and the
// blocks run unchanged. Only where that is not what this run is about does the sim
// project ask for it: on a host with a real /dev/iommu, or when the run models
// another kernel (IOMMUFD_SIM_KERNEL), `Iommufd.open()` becomes
// `Iommufd.open({ backend: 'sim', kernel })`. The kernel project never rewrites.
const simKernel = process.env.IOMMUFD_SIM_KERNEL || undefined;
const options: BlockOptions =
  PROJECT === 'sim' && (auto !== 'sim' || simKernel) ? { backend: 'sim', kernel: simKernel } : {};

describe('README.md code blocks', () => {
  test(`Iommufd.open() with no options, as in the blocks, opens the ${BACKEND} backend`, () => {
    // In the kernel project (inside the VM) the blocks must reach the kernel as a
    // user's script would, or they would prove nothing about it.
    if (PROJECT === 'kernel') expect(auto).toBe('native');
    else expect(['sim', 'native'], `Iommufd.open() gave ${auto}`).toContain(auto);
  });

  test('every ts block has a place to run', () => {
    expect(blocks.length, "ts blocks found in README.md").toBeGreaterThan(0);
    for (const b of blocks) expect(b.projects.length + b.excerptOf.length, b.name).toBeGreaterThan(0);
    expect(blocks.filter((b) => b.projects.includes(PROJECT)).length).toBeGreaterThan(0);
  });

  for (const block of blocks) {
    if (block.projects.includes(PROJECT)) {
      test(block.name, async () => {
        await runBlock(tempDir(), block, options);
      });
    } else if (block.excerptOf.length > 0) {
      test(`${block.name} (excerpt of ${block.excerptOf.join(', ')})`, () => {
        expect(missingExcerptPieces(block), 'pieces of the block not found in its files').toEqual([]);
      });
    }
    // Otherwise the block runs in another project: kernel-only ones in `kernel`,
    // vfio ones in test/vfio/readme.test.ts.
  }
});
