// What the simulator needs to know about the pages behind a buffer, which the
// kernel would learn from the page tables: byte ranges DmaBuffer.unsafeUnmap()
// made inaccessible (get_user_pages() fails with EFAULT there), and buffers
// backed by 2 MiB pages (physically contiguous per 2 MiB, so a domain with huge
// IO pages maps them with those).
const holes = new WeakMap<ArrayBufferLike, { start: number; end: number }[]>();
const hugeBacked = new WeakSet<ArrayBufferLike>();

export function addUnmapped(buffer: ArrayBufferLike, start: number, end: number): void {
  let list = holes.get(buffer);
  if (!list) holes.set(buffer, (list = []));
  list.push({ start, end });
}

/** Whether any byte of [start, end) of `buffer` was unmapped. */
export function overlapsUnmapped(buffer: ArrayBufferLike, start: number, end: number): boolean {
  return firstUnmapped(buffer, start, end) >= 0;
}

/** The lowest byte of [start, end) of `buffer` that was unmapped, or -1. */
export function firstUnmapped(buffer: ArrayBufferLike, start: number, end: number): number {
  let first = -1;
  for (const h of holes.get(buffer) ?? []) {
    if (h.start >= end || h.end <= start) continue;
    const at = Math.max(h.start, start);
    if (first < 0 || at < first) first = at;
  }
  return first;
}

/** `buffer` was allocated with huge pages (hugetlb, or THP-advised and assumed granted). */
export function markHugeBacked(buffer: ArrayBufferLike): void {
  hugeBacked.add(buffer);
}

export function isHugeBacked(buffer: ArrayBufferLike): boolean {
  return hugeBacked.has(buffer);
}
