/**
 * Fill `bytes` with a seeded xorshift byte pattern: recognisable, different
 * per seed, and the same on every run, so copies and reads can be compared.
 */
export function fillPattern(bytes: Uint8Array, seed: number): void {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
}
