// The README.md code blocks marked `<!-- readme-test: vfio: REASON -->`: they need
// an IOMMU and a device that does DMA, i.e. the vtd VM profile (emulated VT-d and
// QEMU's edu device), where this project runs. Run as a user would run them, like
// the rest of README's blocks (test/scenarios/readme.test.ts and readme-blocks.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { readmeBlocks, runBlock } from '../scenarios/readme-blocks.js';

const blocks = readmeBlocks().filter((b) => b.projects.includes('vfio'));
// Made when the first block runs (a filtered run creates nothing).
let dir: string | undefined;
const tempDir = () => (dir ??= mkdtempSync(join(tmpdir(), 'iommufd-readme-')));
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('README.md code blocks (vfio)', () => {
  test('README has blocks for this project', () => {
    expect(blocks.length).toBeGreaterThan(0);
  });

  for (const block of blocks) {
    test(block.name, async () => {
      await runBlock(tempDir(), block);
    });
  }
});
