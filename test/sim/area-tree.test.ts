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

/** The model's answer: the lowest item intersecting [start, last]. */
function modelIterFirst(items: Item[], start: bigint, last: bigint): Item | null {
  let best: Item | null = null;
  for (const it of items) if (it.start <= last && it.last >= start && (!best || it.start < best.start)) best = it;
  return best;
}

/** The model's holes of at least `length` inside [from, to], clipped to it. */
function modelHoles(items: Item[], from: bigint, to: bigint, length: bigint): [bigint, bigint][] {
  const sorted = [...items].sort((a, b) => (a.start < b.start ? -1 : 1));
  const out: [bigint, bigint][] = [];
  let pos = from;
  for (const it of sorted) {
    if (it.last < pos) continue;
    if (it.start > to) break;
    if (it.start > pos && it.start - pos >= length) out.push([pos, it.start - 1n]);
    pos = it.last + 1n;
    if (pos > to) return out;
  }
  if (pos <= to && to - pos + 1n >= length) out.push([pos, to]);
  return out;
}

test.each([
  ['near 0', 0n],
  ['across 2^53', (1n << 53n) - 3000n],
  ['at the top of the 64-bit space', (1n << 64n) - 10000n],
])('areas mapped in increasing order, then mixed changes: overlap lookups and holes match the model %s', (_name, base) => {
  // Ascending inserts take the append split (full leaves); the later random
  // inserts and removes split and merge them again.
  const tree = new AreaTree<Item>();
  const live: Item[] = [];
  for (let i = 0; i < 3000; i++) {
    const item = { start: base + BigInt(i) * 3n, last: base + BigInt(i) * 3n + 1n };
    tree.insert(item);
    live.push(item);
  }
  expect(check(tree)).toEqual([]);
  let s = 7;
  const rand = (n: number) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % n;
  };
  const problems: string[] = [];
  for (let step = 0; step < 3000; step++) {
    if (rand(2) === 0 && live.length > 0) {
      const [gone] = live.splice(rand(live.length), 1);
      tree.remove(gone!);
    } else {
      // A free slot: some multiple of 3 whose area is absent, or past the end.
      const slot = BigInt(rand(3200));
      const start = base + slot * 3n;
      if (start + 1n < base || live.some((it) => it.start === start)) continue;
      const item = { start, last: start + 1n };
      tree.insert(item);
      live.push(item);
    }
    const qs = base + BigInt(rand(9700));
    const ql = qs + BigInt(rand(4));
    if (ql < qs) continue;
    const found = tree.iterFirst(qs, ql);
    const got = found ? found.leaf.items[found.index]! : null;
    if (got !== modelIterFirst(live, qs, ql)) problems.push(`iterFirst(${qs}, ${ql}) at step ${step}`);
    if (step % 100 === 0) {
      const to = qs + 600n;
      const want = modelHoles(live, qs, to, 2n);
      const have = [...tree.holes(qs, to, 2n)];
      if (JSON.stringify(have.map(String)) !== JSON.stringify(want.map(String))) problems.push(`holes from ${qs} at step ${step}`);
    }
  }
  problems.push(...check(tree));
  expect(problems).toEqual([]);
  expect(tree.size).toBe(live.length);
});
