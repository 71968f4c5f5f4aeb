// Feature names for requires(): what `iommufd run` scripts and the scenario
// tests may ask a backend for.
import type { Capabilities } from './contract.js';

/**
 * The features of `features` that `caps` lacks. A feature is an ioctl name
 * (IOMMU_IOAS_MAP, VFIO_SET_IOMMU, ...), a test op without its prefix (DIRTY,
 * ...) or 'failNth'. A name that is none of these is a TypeError: a typo must
 * not turn into a skip that looks like a missing kernel feature.
 */
export function missingFeatures(caps: Capabilities, features: readonly string[]): string[] {
  // Both backends list every name they know, supported or not.
  const known = new Map<string, boolean>([...Object.entries(caps.ioctls), ...Object.entries(caps.testOps), ['failNth', caps.failNth]]);
  const unknown = features.filter((f) => !known.has(f));
  if (unknown.length > 0) {
    const hints = unknown.map((f) => {
      const close = suggest(f, [...known.keys()]);
      return close ? `'${f}' (did you mean '${close}'?)` : `'${f}'`;
    });
    throw new TypeError(
      `requires(): unknown feature ${hints.join(', ')}; features are ioctl names (${Object.keys(caps.ioctls).join(', ')}), ` +
        `test ops without IOMMU_TEST_OP_ (${Object.keys(caps.testOps).join(', ')}) or 'failNth'`,
    );
  }
  return features.filter((f) => !known.get(f));
}

/** The known name `name` most likely meant: same letters up to case and the test-op prefix, or one or two edits away. */
function suggest(name: string, known: string[]): string | undefined {
  const plain = (s: string) => s.toUpperCase().replace(/^IOMMU_TEST_OP_/, '');
  const exact = known.find((k) => plain(k) === plain(name));
  if (exact) return exact;
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(plain(name), plain(k));
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}
