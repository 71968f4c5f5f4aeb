// The one parser of a kernel release, for the tests and for the fuzzer's command line
// (which runs without vitest: nothing here may import it).

/** "major.minor" of a kernel release ('7.3.4' -> '7.3'). */
export function versionOf(release: string): string {
  const m = /^(\d+\.\d+)/.exec(release);
  if (!m) throw new Error(`cannot read a version from kernel release ${release}`);
  return m[1]!;
}
