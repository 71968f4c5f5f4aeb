// An ordered set of disjoint IOVA intervals (the io_pagetable's area_itree),
// as a B+tree keyed by start with O(log n) insert, remove and overlap lookup,
// plus a per-node "largest hole in front of an item" so the IOVA allocator can
// skip whole subtrees that cannot hold the requested length.
//
// The kernel's area_itree is an augmented rbtree (interval_tree.c); areas in
// one io_pagetable never overlap, so ordering by start is enough to answer
// "first area intersecting [start, last]" the way interval_tree_iter_first()
// does. Hole sizes are kept as doubles (approximate; a slack covers rounding)
// and recomputed lazily, so map/unmap never do bigint arithmetic on them.
// Lookups compare unboxed doubles (Number(start) and Number(last) per item in
// each leaf, Number(key) in inner nodes; exact below 2^53, the bigint breaks
// ties above), so an overlap check touches the leaf's arrays and no Area or
// BigInt: with 10^6 areas those pointer chases are cache and TLB misses.

export interface Interval {
  start: bigint;
  last: bigint;
}

const MAX_ITEMS = 64;
const MIN_ITEMS = 16;
const DIRTY = -1;
const EXACT = 2 ** 53;

/**
 * An upper bound of the hole in front of an item starting at `s` after one
 * ending at `prevLast` (-1 for none; both Number() of the bigints): exact below 2^53, else padded for the
 * rounding of Number().
 */
function gapUpper(s: number, prevLast: number): number {
  const g = s - prevLast - 1;
  return s >= EXACT ? g + s * 2 ** -50 : g;
}

/** A lower bound of `length` as a double. */
function lengthLower(length: bigint): number {
  const l = Number(length);
  return l >= EXACT ? l - l * 2 ** -50 : l;
}

class Leaf<T extends Interval> {
  items: T[] = [];
  /** Number(items[i].start), unboxed: the searches touch only this array (exact below 2^53). */
  starts: number[] = [];
  /** Number(items[i].last): overlap checks read these instead of the items (items never change in the tree). */
  lasts: number[] = [];
  parent: Inner<T> | null = null;
  prev: Leaf<T> | null = null;
  next: Leaf<T> | null = null;
  /** Approximate max over items of the hole in front of the item; DIRTY if unknown. */
  gap = DIRTY;
}

class Inner<T extends Interval> {
  children: Node<T>[] = [];
  /** keys[i] <= every start in children[i], and > every start in children[i - 1]. */
  keys: bigint[] = [];
  /** Number(keys[i]). */
  nkeys: number[] = [];
  parent: Inner<T> | null = null;
  gap = DIRTY;
}

type Node<T extends Interval> = Leaf<T> | Inner<T>;

/** A position in the tree: the item at leaf.items[index]. */
export interface Cursor<T extends Interval> {
  leaf: Leaf<T>;
  index: number;
}

export class AreaTree<T extends Interval> {
  #root: Node<T> = new Leaf<T>();
  #size = 0;
  /**
   * The leaf of the last lookup or insert: a map then unmap of one IOVA looks
   * up the same leaf four times, and floor() checks it before descending.
   */
  #finger: Leaf<T> | null = null;

  get size(): number {
    return this.#size;
  }

  // ---- lookups ---------------------------------------------------------------

  /** The leaf whose key range holds `q`. */
  #leafFor(q: bigint, qn: number): Leaf<T> {
    let node = this.#root;
    while (node instanceof Inner) {
      const nkeys = node.nkeys;
      let lo = 1;
      let hi = nkeys.length - 1;
      let at = 0;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const k = nkeys[mid]!;
        if (k < qn || (k === qn && (qn < EXACT || node.keys[mid]! <= q))) {
          at = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      node = node.children[at]!;
    }
    return node;
  }

  /** Cursor at the item with the largest start <= q, or null if there is none. */
  floor(q: bigint): Cursor<T> | null {
    const qn = Number(q);
    let leaf = this.#finger;
    if (leaf === null || !covers(leaf, q, qn)) this.#finger = leaf = this.#leafFor(q, qn);
    const starts = leaf.starts;
    let lo = 0;
    let hi = starts.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const k = starts[mid]!;
      if (k < qn || (k === qn && (qn < EXACT || leaf.items[mid]!.start <= q))) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (at >= 0) return { leaf, index: at };
    // Keys may be stale-low after removals: the floor is then the previous leaf's last item.
    const prev = leaf.prev;
    return prev ? { leaf: prev, index: prev.items.length - 1 } : null;
  }

  first(): Cursor<T> | null {
    let node = this.#root;
    while (node instanceof Inner) node = node.children[0]!;
    return node.items.length ? { leaf: node, index: 0 } : null;
  }

  last(): T | null {
    let node = this.#root;
    while (node instanceof Inner) node = node.children[node.children.length - 1]!;
    return node.items[node.items.length - 1] ?? null;
  }

  /** The cursor after `c`, or null at the end. */
  next(c: Cursor<T>): Cursor<T> | null {
    if (c.index + 1 < c.leaf.items.length) return { leaf: c.leaf, index: c.index + 1 };
    const next = c.leaf.next;
    return next ? { leaf: next, index: 0 } : null;
  }

  /** interval_tree_iter_first(): the lowest item intersecting [start, last]. */
  iterFirst(start: bigint, last: bigint): Cursor<T> | null {
    const f = this.floor(start);
    if (f && lastGeq(f.leaf, f.index, start, Number(start))) return f;
    const n = f ? this.next(f) : this.first();
    return n && startLeq(n.leaf, n.index, last, Number(last)) ? n : null;
  }

  /** The item after `item` (which must be in the tree), for interval iteration. */
  after(item: T): T | null {
    const c = this.#find(item);
    const n = this.next(c);
    return n ? n.leaf.items[n.index]! : null;
  }

  #find(item: T): Cursor<T> {
    const c = this.floor(item.start);
    if (!c || c.leaf.items[c.index] !== item) throw new Error('sim: area not in tree');
    return c;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let c = this.first(); c; c = this.next(c)) yield c.leaf.items[c.index]!;
  }

  // ---- insert / remove -------------------------------------------------------

  /** Insert an item that overlaps none present (the caller checked). */
  insert(item: T): void {
    const q = item.start;
    const qn = Number(q);
    // The finger (usually the leaf the caller's overlap check just searched)
    // will do when q falls strictly inside its items: the inner keys then
    // place q there too.
    const finger = this.#finger;
    const leaf =
      finger !== null && finger.starts.length > 1 && startLeq(finger, 0, q, qn) && !startLeq(finger, finger.starts.length - 1, q, qn)
        ? finger
        : this.#leafFor(q, qn);
    const items = leaf.items;
    const starts = leaf.starts;
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const k = starts[mid]!;
      if (k < qn || (k === qn && qn >= EXACT && items[mid]!.start < q)) lo = mid + 1;
      else hi = mid;
    }
    leafInsert(leaf, lo, item, qn, Number(item.last));
    this.#finger = leaf;
    this.#size++;
    markDirty(leaf);
    if (leaf.next) markDirty(leaf.next);
    if (items.length > MAX_ITEMS) this.#splitLeaf(leaf, leaf.next === null && lo === items.length - 1);
  }

  remove(item: T): void {
    const c = this.#find(item);
    const leaf = c.leaf;
    leafRemove(leaf, c.index);
    this.#size--;
    markDirty(leaf);
    if (leaf.next) markDirty(leaf.next);
    if (leaf.items.length === 0) this.#removeEmptyLeaf(leaf);
    else if (leaf.items.length < MIN_ITEMS) this.#mergeLeaf(leaf);
  }

  clear(): void {
    this.#finger = null;
    this.#root = new Leaf<T>();
    this.#size = 0;
  }

  /**
   * Split an overfull leaf in halves, or, when `append` (the item just went
   * past the last one in the tree, as when IOVAs are mapped in increasing
   * order), leave the new item alone on the right so the left stays full.
   */
  #splitLeaf(leaf: Leaf<T>, append: boolean): void {
    const right = new Leaf<T>();
    const half = append ? leaf.items.length - 1 : leaf.items.length >> 1;
    // slice(), not splice(): both halves get exact-size backing stores (no slack kept).
    right.items = leaf.items.slice(half);
    right.starts = leaf.starts.slice(half);
    right.lasts = leaf.lasts.slice(half);
    leaf.items = leaf.items.slice(0, half);
    leaf.starts = leaf.starts.slice(0, half);
    leaf.lasts = leaf.lasts.slice(0, half);
    right.prev = leaf;
    right.next = leaf.next;
    if (leaf.next) leaf.next.prev = right;
    leaf.next = right;
    markDirty(leaf);
    this.#insertSibling(leaf, right, right.items[0]!.start, append);
  }

  #insertSibling(node: Node<T>, sibling: Node<T>, key: bigint, append: boolean): void {
    let parent = node.parent;
    if (!parent) {
      parent = new Inner<T>();
      parent.children = [node];
      parent.keys = [0n];
      parent.nkeys = [0];
      node.parent = parent;
      this.#root = parent;
    }
    const at = parent.children.indexOf(node) + 1;
    parent.children.splice(at, 0, sibling);
    parent.keys.splice(at, 0, key);
    parent.nkeys.splice(at, 0, Number(key));
    sibling.parent = parent;
    markDirty(parent);
    if (parent.children.length > MAX_ITEMS) this.#splitInner(parent, append && at === parent.children.length - 1);
  }

  #splitInner(node: Inner<T>, append: boolean): void {
    const right = new Inner<T>();
    const half = append ? node.children.length - 1 : node.children.length >> 1;
    right.children = node.children.splice(half);
    right.keys = node.keys.splice(half);
    right.nkeys = node.nkeys.splice(half);
    for (const child of right.children) child.parent = right;
    markDirty(node);
    this.#insertSibling(node, right, right.keys[0]!, append);
  }

  #unlinkLeaf(leaf: Leaf<T>): void {
    if (leaf.prev) leaf.prev.next = leaf.next;
    if (leaf.next) {
      leaf.next.prev = leaf.prev;
      markDirty(leaf.next);
    }
  }

  #removeEmptyLeaf(leaf: Leaf<T>): void {
    if (!leaf.parent) return; // the root leaf may be empty
    this.#unlinkLeaf(leaf);
    this.#removeChild(leaf.parent, leaf);
  }

  #removeChild(parent: Inner<T>, child: Node<T>): void {
    const at = parent.children.indexOf(child);
    parent.children.splice(at, 1);
    parent.keys.splice(at, 1);
    parent.nkeys.splice(at, 1);
    markDirty(parent);
    if (parent.children.length === 0) {
      if (parent.parent) this.#removeChild(parent.parent, parent);
      else this.#root = new Leaf<T>();
      return;
    }
    if (parent === this.#root) {
      this.#collapseRoot();
      return;
    }
    if (parent.children.length < MIN_ITEMS) this.#mergeInner(parent);
  }

  #collapseRoot(): void {
    while (this.#root instanceof Inner && this.#root.children.length === 1) {
      const only: Node<T> = this.#root.children[0]!;
      only.parent = null;
      this.#root = only;
    }
  }

  // Merge a small leaf into its left or right sibling (same parent) when they fit in one.
  #mergeLeaf(leaf: Leaf<T>): void {
    const parent = leaf.parent;
    if (!parent) return;
    const at = parent.children.indexOf(leaf);
    const left = at > 0 ? (parent.children[at - 1] as Leaf<T>) : null;
    const right = at + 1 < parent.children.length ? (parent.children[at + 1] as Leaf<T>) : null;
    if (left && left.items.length + leaf.items.length <= MAX_ITEMS) {
      for (const item of leaf.items) left.items.push(item);
      for (const n of leaf.starts) left.starts.push(n);
      for (const n of leaf.lasts) left.lasts.push(n);
      leaf.items = [];
      leaf.starts = [];
      leaf.lasts = [];
      markDirty(left);
      this.#unlinkLeaf(leaf);
      this.#removeChild(parent, leaf);
    } else if (right && right.items.length + leaf.items.length <= MAX_ITEMS) {
      for (const item of right.items) leaf.items.push(item);
      for (const n of right.starts) leaf.starts.push(n);
      for (const n of right.lasts) leaf.lasts.push(n);
      right.items = [];
      right.starts = [];
      right.lasts = [];
      markDirty(leaf);
      this.#unlinkLeaf(right);
      this.#removeChild(parent, right);
    }
  }

  #mergeInner(node: Inner<T>): void {
    const parent = node.parent;
    if (!parent) return;
    const at = parent.children.indexOf(node);
    const left = at > 0 ? (parent.children[at - 1] as Inner<T>) : null;
    const right = at + 1 < parent.children.length ? (parent.children[at + 1] as Inner<T>) : null;
    let into: Inner<T>;
    let from: Inner<T>;
    let fromKey: bigint;
    if (left && left.children.length + node.children.length <= MAX_ITEMS) {
      into = left;
      from = node;
      fromKey = parent.keys[at]!;
    } else if (right && right.children.length + node.children.length <= MAX_ITEMS) {
      into = node;
      from = right;
      fromKey = parent.keys[at + 1]!;
    } else return;
    from.keys[0] = fromKey;
    from.nkeys[0] = Number(fromKey);
    for (let i = 0; i < from.children.length; i++) {
      from.children[i]!.parent = into;
      into.children.push(from.children[i]!);
      into.keys.push(from.keys[i]!);
      into.nkeys.push(from.nkeys[i]!);
    }
    from.children = [];
    from.keys = [];
    from.nkeys = [];
    markDirty(into);
    this.#removeChild(parent, from);
  }

  // ---- holes -----------------------------------------------------------------

  /**
   * The holes between items inside [from, to], in increasing order, each at
   * least `length` long (after clipping to [from, to]). Items that cannot be
   * in front of such a hole are skipped a subtree at a time.
   */
  *holes(from: bigint, to: bigint, length: bigint): Generator<[bigint, bigint]> {
    if (from > to) return;
    const lengthNum = lengthLower(length);
    const f = this.floor(from);
    let pos = from;
    if (f) {
      const fl = f.leaf.items[f.index]!.last;
      if (fl >= from) {
        if (fl >= to) return;
        pos = fl + 1n;
      }
    }
    const n = f ? this.next(f) : this.first();
    if (!n) {
      if (to - pos + 1n >= length) yield [pos, to];
      return;
    }
    const nStart = n.leaf.items[n.index]!.start;
    if (nStart > pos) {
      const end = nStart - 1n < to ? nStart - 1n : to;
      if (end - pos + 1n >= length) yield [pos, end];
    }
    if (nStart > to) return;
    // Holes in front of items after n, found through the gap summaries.
    let c: Cursor<T> | null = n;
    for (;;) {
      c = this.#nextWithGap(c, length, lengthNum);
      if (!c) break;
      const item = c.leaf.items[c.index]!;
      const prevLast = this.#prevLast(c)!;
      const hs = prevLast + 1n;
      if (hs > to) return;
      const he = item.start - 1n < to ? item.start - 1n : to;
      if (he - hs + 1n >= length) yield [hs, he];
      if (item.start > to) return;
    }
    const tail = this.last()!;
    if (tail.last >= to) return;
    const hs = tail.last + 1n;
    if (hs >= pos && to - hs + 1n >= length) yield [hs, to];
  }

  #prevLast(c: Cursor<T>): bigint | null {
    if (c.index > 0) return c.leaf.items[c.index - 1]!.last;
    const prev = c.leaf.prev;
    return prev ? prev.items[prev.items.length - 1]!.last : null;
  }

  /** The first cursor after `c` whose item has a hole of at least `length` in front of it. */
  #nextWithGap(c: Cursor<T>, length: bigint, lengthNum: number): Cursor<T> | null {
    const found = scanLeaf(c.leaf, c.index + 1, length, lengthNum);
    if (found >= 0) return { leaf: c.leaf, index: found };
    let node: Node<T> = c.leaf;
    while (node.parent) {
      const parent: Inner<T> = node.parent;
      for (let i = parent.children.indexOf(node) + 1; i < parent.children.length; i++) {
        const child = parent.children[i]!;
        if (gapOf(child) < lengthNum) continue;
        const r = descend(child, length, lengthNum);
        if (r) return r;
      }
      node = parent;
    }
    return null;
  }
}

/** starts[i] <= q, for the item at starts' index i. */
function startLeq<T extends Interval>(leaf: Leaf<T>, i: number, q: bigint, qn: number): boolean {
  const k = leaf.starts[i]!;
  return k < qn || (k === qn && (qn < EXACT || leaf.items[i]!.start <= q));
}

/** items[i].last >= q, for the item at lasts' index i. */
function lastGeq<T extends Interval>(leaf: Leaf<T>, i: number, q: bigint, qn: number): boolean {
  const k = leaf.lasts[i]!;
  return k > qn || (k === qn && (qn < EXACT || leaf.items[i]!.last >= q));
}

/**
 * The floor of q is inside `leaf`: its first start <= q < the next leaf's
 * first start. False for a leaf emptied by a merge or removal (no items), so
 * a stale finger is never used.
 */
function covers<T extends Interval>(leaf: Leaf<T>, q: bigint, qn: number): boolean {
  if (leaf.starts.length === 0 || !startLeq(leaf, 0, q, qn)) return false;
  const next = leaf.next;
  return next === null || (next.starts.length > 0 && !startLeq(next, 0, q, qn));
}

// The leaf's three parallel arrays are shifted by code that touches each of
// them at its own sites. A helper shared by items and numbers would see object
// and double arrays at one site, and V8 then turns the double arrays into
// arrays of boxed numbers (3x the memory, and a pointer chase per compare).

/** splice(at, 0, ...) on the leaf's arrays, without splice's result arrays. */
function leafInsert<T extends Interval>(leaf: Leaf<T>, at: number, item: T, start: number, last: number): void {
  const { items, starts, lasts } = leaf;
  let i = items.length;
  items.push(item);
  starts.push(start);
  lasts.push(last);
  for (; i > at; i--) {
    items[i] = items[i - 1]!;
    starts[i] = starts[i - 1]!;
    lasts[i] = lasts[i - 1]!;
  }
  items[at] = item;
  starts[at] = start;
  lasts[at] = last;
}

/** splice(at, 1) on the leaf's arrays. */
function leafRemove<T extends Interval>(leaf: Leaf<T>, at: number): void {
  const { items, starts, lasts } = leaf;
  const n = items.length - 1;
  for (let i = at; i < n; i++) {
    items[i] = items[i + 1]!;
    starts[i] = starts[i + 1]!;
    lasts[i] = lasts[i + 1]!;
  }
  items.pop();
  starts.pop();
  lasts.pop();
}

function markDirty<T extends Interval>(node: Node<T> | null): void {
  while (node && node.gap !== DIRTY) {
    node.gap = DIRTY;
    node = node.parent;
  }
}

function gapOf<T extends Interval>(node: Node<T>): number {
  if (node.gap !== DIRTY) return node.gap;
  let gap = 0;
  if (node instanceof Leaf) {
    const { starts, lasts } = node;
    let prev = node.prev ? node.prev.lasts[node.prev.lasts.length - 1]! : -1;
    for (let i = 0; i < starts.length; i++) {
      const g = gapUpper(starts[i]!, prev);
      if (g > gap) gap = g;
      prev = lasts[i]!;
    }
  } else {
    for (const child of node.children) {
      const g = gapOf(child);
      if (g > gap) gap = g;
    }
  }
  node.gap = gap;
  return gap;
}

function scanLeaf<T extends Interval>(leaf: Leaf<T>, from: number, length: bigint, lengthNum: number): number {
  const { items, starts, lasts } = leaf;
  const prev = leaf.prev;
  for (let i = from; i < starts.length; i++) {
    if (i === 0 && prev === null) {
      if (items[0]!.start >= length) return 0;
      continue;
    }
    const prevLast = i > 0 ? lasts[i - 1]! : prev!.lasts[prev!.lasts.length - 1]!;
    if (gapUpper(starts[i]!, prevLast) < lengthNum) continue;
    // Close enough to need the exact bigints.
    const prevItem = i > 0 ? items[i - 1]! : prev!.items[prev!.items.length - 1]!;
    if (items[i]!.start - prevItem.last - 1n >= length) return i;
  }
  return -1;
}

function descend<T extends Interval>(node: Node<T>, length: bigint, lengthNum: number): Cursor<T> | null {
  if (node instanceof Leaf) {
    const at = scanLeaf(node, 0, length, lengthNum);
    return at >= 0 ? { leaf: node, index: at } : null;
  }
  for (const child of node.children) {
    if (gapOf(child) < lengthNum) continue;
    const r = descend(child, length, lengthNum);
    if (r) return r;
  }
  return null;
}
