// The simulator's B+tree of areas against the obvious model: ordering, floor
// lookups and size through splits and merges, including keys near 2^53 and
// 2^64 where the tree's number shadow keys collide and must fall back to bigints.
import { expect, test } from 'vitest';
import { AreaTree } from '../../lib/sim/area-tree.js';

interface Item {
  start: bigint;
  last: bigint;
}

function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function check(tree: AreaTree<Item>): string[] {
  const problems: string[] = [];
  const all = [...tree];
  if (all.length !== tree.size) problems.push(`size ${tree.size} vs ${all.length} iterated`);
  for (let i = 1; i < all.length; i++) if (all[i - 1]!.start >= all[i]!.start) problems.push(`order at ${i}`);
  for (const item of all) {
    for (const probe of [item.start, item.last + 1n]) {
      const found = tree.floor(probe);
      if (found?.leaf.items[found.index] !== item) problems.push(`floor(${probe})`);
    }
  }
  return problems;
}

test.each([
  ['near 0', 0n],
  ['across 2^53', (1n << 53n) - 30000n],
  ['at the top of the 64-bit space', (1n << 64n) - 100000n],
])('insert and remove 20 000 areas %s in random order', (_name, base) => {
  const tree = new AreaTree<Item>();
  const items = Array.from({ length: 20000 }, (_, i) => ({ start: base + BigInt(i) * 3n, last: base + BigInt(i) * 3n + 1n }));
  const problems: string[] = [];
  shuffled(items, 11).forEach((item, k) => {
    tree.insert(item);
    if (k % 4999 === 0) problems.push(...check(tree));
  });
  problems.push(...check(tree));
  expect(tree.size).toBe(items.length);
  shuffled(items, 23).forEach((item, k) => {
    tree.remove(item);
    if (k % 2999 === 0) problems.push(...check(tree));
  });
  expect(problems).toEqual([]);
  expect(tree.size).toBe(0);
});
