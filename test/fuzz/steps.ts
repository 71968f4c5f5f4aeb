// The fuzzer's operation language: plain JSON, so a sequence (or a minimized
// one) can be printed, pasted into a regression test and replayed.
//
// Objects are named by the step that created them (`s`, the step's own `s`
// number), never by index into a list: dropping steps while minimizing leaves
// every other reference meaning the same thing. A reference to a step that is
// gone (or whose creation failed) makes the referring step a "skip".
//
// u64 values are decimal strings (JSON has no bigint).

/** A u64 as a decimal string; may be "-1"-style relative deltas only in IovaExpr.d. */
export type U64 = string;

/** An object: the one created by step `s` (`w` picks a mock domain's part), or a raw id. */
export type Ref = { s: number; w?: 'stdev' | 'hwpt' | 'idev' } | { raw: number };

/** An IOVA: absolute, or the IOVA step `m` (a map or copy) returned plus `d` (may be negative). */
export type IovaExpr = U64 | { m: number; d: string };

export type StepBody =
  | { op: 'ioasAlloc' }
  | { op: 'destroy'; target: Ref }
  | { op: 'map'; ioas: Ref; flags: number; iova: IovaExpr; off: number; len: number }
  | { op: 'unmap'; ioas: Ref; iova: IovaExpr; len: U64 }
  | { op: 'copy'; dst: Ref; src: Ref; flags: number; dstIova: IovaExpr; srcIova: IovaExpr; len: U64 }
  | { op: 'allowIovas'; ioas: Ref; ranges: [U64, U64][] }
  | { op: 'addReserved'; ioas: Ref; start: U64; len: U64 }
  | { op: 'iovaRanges'; ioas: Ref }
  | { op: 'mockDomain'; target: Ref; flags?: number }
  | { op: 'replace'; dev: Ref; target: Ref }
  | { op: 'hwptAlloc'; dev: Ref; parent: Ref; flags: number; iotlb?: number; fault?: number }
  | { op: 'hwInfo'; dev: Ref; dataLen: number }
  | { op: 'createAccess'; ioas: Ref; flags: number }
  | { op: 'closeAccess'; access: number }
  | { op: 'pin'; access: number; iova: IovaExpr; len: number; flags: number; verify?: number }
  | { op: 'unpin'; access: number; pages: Ref }
  | { op: 'rw'; access: number; iova: IovaExpr; off: number; len: number; flags: number }
  | { op: 'accessReplace'; access: number; ioas: Ref }
  | { op: 'option'; option: number; opOp: number; obj: Ref; val: U64 }
  | { op: 'setDirty'; hwpt: Ref; enable: boolean }
  | { op: 'getDirty'; hwpt: Ref; flags: number; iova: IovaExpr; len: U64; pageSize: U64 }
  | { op: 'markDirty'; hwpt: Ref; iova: IovaExpr; len: U64; pageSize: U64; bits: number }
  | { op: 'checkMap'; hwpt: Ref; iova: IovaExpr; off: number; len: number }
  | { op: 'checkRefs'; off: number; len: number; refs: number }
  | { op: 'checkIotlb'; hwpt: Ref; iotlbId: number; value: number }
  | { op: 'invalidate'; hwpt: Ref; entries: [number, number][] }
  | { op: 'tempLimit'; bytes: number }
  | { op: 'vfioIoas'; vop: number; ioas: Ref }
  | { op: 'faultAlloc' }
  | { op: 'iopf'; dev: Ref; pasid: number; grpid: number; perm: number; addr: U64 }
  | { op: 'faultRead'; fault: number; max: number }
  | { op: 'faultRespond'; fault: number; responses: [number, number][] }
  | { op: 'closeFault'; fault: number }
  | { op: 'vfioExt'; ext: number }
  | { op: 'vfioSetIommu'; type: number }
  | { op: 'vfioInfo' }
  | { op: 'vfioMap'; flags: number; iova: IovaExpr; off: number; len: number }
  | { op: 'vfioUnmap'; flags: number; iova: IovaExpr; len: U64 }
  // 7.3's vIOMMU objects (6.12: ENOTTY / EOPNOTSUPP on both sides)
  | { op: 'viommuAlloc'; dev: Ref; hwpt: Ref; type: number; inData?: number }
  | { op: 'vdeviceAlloc'; viommu: Ref; dev: Ref; virtId: U64 }
  | { op: 'viommuInvalidate'; viommu: Ref; entries: [number, number, number][] }
  | { op: 'checkCache'; dev: Ref; cacheId: number; value: number }
  | { op: 'veventqAlloc'; viommu: Ref; depth: number }
  | { op: 'triggerVevent'; dev: Ref }
  | { op: 'veventqRead'; veventq: number; len: number }
  | { op: 'closeVeventq'; veventq: number }
  | { op: 'hwQueueAlloc'; viommu: Ref; index: number; iova: IovaExpr; len: U64 }
  // 7.3's IOMMU_IOAS_MAP_FILE of a MemFile (a memfd, lib/memory/mem-file.ts) or of the mock's dma-buf,
  // generated only where the kernel under test has them. `file` is the step that made the
  // MemFile or the dma-buf (-1: a descriptor number that is not open).
  | { op: 'memFile'; pages: number }
  | { op: 'fileResize'; file: number; pages: number }
  | { op: 'fileClose'; file: number }
  | { op: 'fileDigest'; file: number }
  | { op: 'mapFile'; ioas: Ref; flags: number; file: number; start: U64; len: U64; iova: IovaExpr }
  | { op: 'checkMapFile'; hwpt: Ref; iova: IovaExpr; file: number; off: number; len: number }
  | { op: 'changeProcess' }
  | { op: 'dmabufGet'; len: number }
  | { op: 'dmabufRevoke'; dmabuf: number; revoked: boolean }
  | { op: 'dmabufClose'; dmabuf: number }
  // 7.3's PASID test ops on a mock device (`dev` names its selftest object; pasid 0 is the RID),
  // generated only where the kernel under test has them.
  | { op: 'pasidAttach'; dev: Ref; pasid: number; pt: Ref }
  | { op: 'pasidReplace'; dev: Ref; pasid: number; pt: Ref }
  | { op: 'pasidDetach'; dev: Ref; pasid: number }
  | { op: 'pasidCheck'; dev: Ref; pasid: number; hwpt: Ref }
  // 7.3's IOMMU_IOAS_NOIOMMU_GET_PA (the mock has no no-IOMMU device: only its errors), and
  // CAP_SYS_RAWIO off and on in the thread's effective set (back on after every sequence).
  | { op: 'noiommuGetPa'; ioas: Ref; iova: IovaExpr; len: U64; flags?: number; reserved?: number }
  | { op: 'capRawio'; on: boolean };

export type Step = { s: number } & StepBody;

export type Op = Step['op'];

/**
 * What a step did: its result, the errno it failed with, another exception's
 * class (a RangeError from an argument check before the ioctl), or "skip"
 * (it referred to an object that does not exist in this run).
 */
export type Outcome = { ok: unknown } | { errno: string } | { throw: string } | 'skip';

// ---- deterministic PRNG ---------------------------------------------------------

/** sfc32, seeded through splitmix32: fast, 32-bit state words, identical on every platform. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 2 ** 32) * n);
  }

  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** Pick by weight: [weight, value] pairs. */
  weighted<T>(table: readonly (readonly [number, T])[]): T {
    const total = table.reduce((n, [w]) => n + w, 0);
    let r = this.u32() / 2 ** 32 * total;
    for (const [w, v] of table) {
      if (r < w) return v;
      r -= w;
    }
    return table[table.length - 1]![1];
  }
}

/** The seed of sequence `index` of a run seeded with `seed`. */
export function sequenceSeed(seed: number, index: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77)) >>> 0;
}
