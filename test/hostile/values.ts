// Argument values for the hostile-input fuzzer: for each kind of parameter, the
// values a caller means (drawn from the live objects) and the ones that break
// rules (wrong types, out of range, u64 edges, freed or unmapped memory,
// objects whose getters throw or free memory while the call reads them).

/** An exception a hostile getter throws: the caller's own error, passed through. */
export class HostileError extends Error {
  constructor(what: string) {
    super(`hostile value: ${what}`);
  }
}

/** mulberry32: small, fast, and the same sequence from the same seed everywhere. */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

const u64Edges = [0n, 1n, -1n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n, 2n ** 64n + 4096n, -(2n ** 64n)];
const numberEdges = [0, -0, -1, 0.5, 4095, 4097, 2 ** 31, 2 ** 32, 2 ** 32 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), NaN, Infinity, -Infinity];
const wrongTypes = (): unknown[] => [
  undefined,
  null,
  '4096',
  '',
  true,
  Symbol('hostile'),
  {},
  [],
  [4096],
  () => 4096,
  new Date(0),
  { valueOf: () => 4096 },
  {
    valueOf() {
      throw new HostileError('valueOf');
    },
  },
];

/** A value that breaks the rule for an id (u32). */
export function hostileId(rng: Rng): unknown {
  return rng.pick<unknown>([...numberEdges, 2 ** 31 - 1, 0xffffffff, 1n, 2n ** 32n, ...wrongTypes()]);
}

/** A value that breaks the rule for a u64 (an IOVA or a length). */
export function hostileU64(rng: Rng): unknown {
  return rng.pick<unknown>([...u64Edges, ...numberEdges, Number.MAX_SAFE_INTEGER, ...wrongTypes()]);
}

/** A value that breaks the rule for a byte count that is a JS number. */
export function hostileCount(rng: Rng): unknown {
  return rng.pick<unknown>([...numberEdges, 2 ** 24 + 1, 2 ** 30, 1n, 4096n, 2n ** 64n, ...wrongTypes()]);
}

/** Flags: unknown bits, bit 31, above 32 bits, negative, wrong types. */
export function hostileFlags(rng: Rng): unknown {
  return rng.pick<unknown>([1 << 30, 2 ** 31, 2 ** 32, 0xffffffff, -1, 0.5, NaN, 3n, ...wrongTypes()]);
}

/** Something that is not a boolean but may be read as one. */
export function hostileBool(rng: Rng): unknown {
  return rng.pick<unknown>([0, 1, 'false', null, {}, Symbol('b'), 1n]);
}

/** A callback the option reader will run: it throws, or runs `sideEffect` (a free(), a close()). */
export function trapObject(rng: Rng, keys: readonly string[], sideEffect: () => void): object {
  const key = rng.pick(keys);
  if (rng.chance(0.5)) {
    return new Proxy(
      {},
      {
        get(_t, prop) {
          if (prop === key) throw new HostileError(`get ${String(prop)}`);
          return undefined;
        },
        has: () => true,
        ownKeys: () => [key],
        getOwnPropertyDescriptor: () => ({ configurable: true, enumerable: true, value: undefined }),
      },
    );
  }
  const obj: Record<string, unknown> = {};
  Object.defineProperty(obj, key, {
    enumerable: true,
    get() {
      try {
        sideEffect();
      } catch {
        /* refused: what the side effect tried is the point, not its outcome */
      }
      return undefined;
    },
  });
  return obj;
}
