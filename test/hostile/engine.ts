// The hostile-input fuzzer's engine: random calls into the whole public API
// (typed objects, batches, fd.rawIoctl, and the Backend contract under
// fd.backend), most with arguments a caller means and some with arguments that
// break a rule. Every call must return or throw a clear, typed error; and three
// oracles watch memory:
//   - guards: each buffer the fuzzer hands out as memory is a window into a
//     DmaBuffer with a guard page on either side; nothing may write the guards;
//   - canaries: DmaBuffers and plain memory never given to the API stay unchanged;
//   - shadow: every mapping the fuzzer made is probed through an access; while
//     the IOVA still translates, it must translate to that live buffer's bytes
//     (a freed buffer still mapped is the bug of issue 17).
// A crash (a signal, an ASan report) ends the worker process: the driver counts it.
import {
  type Access,
  ClosedError,
  DmaBuffer,
  type FaultQueue,
  type Hwpt,
  type HwQueue,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
  IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
  type Ioas,
  type Iommufd,
  IommufdError,
  MOCK_APERTURE_START,
  type MockDevice,
  MockDmabuf,
  MemFile,
  type PinnedPages,
  type Vdevice,
  type Veventq,
  type Viommu,
  type ViommuMapping,
  Iommufd as IommufdClass,
  type SimKernel,
  ioctlRequest,
} from '../../lib/index.js';
import { fillPattern } from '../../lib/api/pattern.js';
import { HostileError, Rng, hostileBool, hostileCount, hostileFlags, hostileId, hostileU64, trapObject } from './values.js';

// The worker runs outside vitest: the backend comes from the same variables test/backend.ts reads.
function openIommufd(): Iommufd {
  if (process.env.IOMMUFD_TEST_BACKEND === 'sim')
    return IommufdClass.open({ backend: 'sim', kernel: process.env.IOMMUFD_SIM_KERNEL as SimKernel | undefined });
  return IommufdClass.open({ backend: 'native' });
}

const PAGE = 4096;
const GUARD = PAGE;
/** Bytes of each guarded window (the memory between the guards). */
const WINDOW = 8 * PAGE;
const GUARD_BYTE = 0xa5;

export interface Counts {
  sequences: number;
  calls: number;
  returned: number;
  /** Threw IommufdError (with code, errno, syscall), ClosedError, TypeError, RangeError, or passed a hostile getter's own error through. */
  cleanErrors: number;
  /** Threw something else: an engine message ("Cannot read properties of ..."), a plain Error, a non-Error. */
  uncleanErrors: number;
  /** A guard, canary or shadow check failed. */
  violations: number;
}

export interface Finding {
  sequence: number;
  call: number;
  op: string;
  kind: 'unclean' | 'violation';
  detail: string;
}

export const emptyCounts = (): Counts => ({ sequences: 0, calls: 0, returned: 0, cleanErrors: 0, uncleanErrors: 0, violations: 0 });

/** Messages V8 writes for a program error, not for a rule the API states. */
const ENGINE_MESSAGE =
  /Cannot (read|set) propert|Cannot convert|is not a function|is not iterable|is not a constructor|is not defined|Cannot destructure|Cannot create property|Invalid array length|Maximum call stack|Cannot mix BigInt|private member|Receiver must be an instance/;

/** Why an exception is not a clean error, or null when it is. */
export function unclean(err: unknown): string | null {
  if (err instanceof HostileError) return null;
  if (err instanceof IommufdError) {
    const e = err as IommufdError & { syscall?: unknown };
    if (typeof e.code === 'string' && typeof e.errno === 'number' && typeof e.syscall === 'string') return null;
    return `IommufdError without code/errno/syscall: ${String(err)}`;
  }
  if (err instanceof ClosedError) return null;
  if (err instanceof TypeError || err instanceof RangeError) {
    return ENGINE_MESSAGE.test(err.message) ? `engine message: ${err.name}: ${err.message}` : null;
  }
  if (err instanceof Error) return `${err.constructor.name}: ${err.message}`;
  return `non-Error thrown: ${typeof err}`;
}

/** A DmaBuffer laid out as guard | window | guard; the API only ever sees the window (or, marked, the whole). */
class Guarded {
  readonly buf = DmaBuffer.alloc(GUARD + WINDOW + GUARD);
  /** Handed to the API as a whole DmaBuffer: its guards are the API's to write. */
  exposed = false;
  /** unsafeUnmap()ed pages of the window (their bytes cannot be read back). */
  holes = false;
  constructor(seed: number) {
    this.buf.bytes.fill(GUARD_BYTE, 0, GUARD);
    this.buf.bytes.fill(GUARD_BYTE, GUARD + WINDOW);
    fillPattern(this.buf.bytes.subarray(GUARD, GUARD + WINDOW), seed);
  }
  window(offset = 0, length = WINDOW - offset): Uint8Array {
    return this.buf.bytes.subarray(GUARD + offset, GUARD + offset + length);
  }
  guardsIntact(): boolean {
    if (this.exposed || this.buf.freed) return true;
    const b = this.buf.bytes;
    for (let i = 0; i < GUARD; i++) if (b[i] !== GUARD_BYTE || b[GUARD + WINDOW + i] !== GUARD_BYTE) return false;
    return true;
  }
}

/** A mapping the fuzzer made, with the bytes it maps. */
interface Shadow {
  fd: Iommufd;
  ioas: Ioas;
  iova: bigint;
  length: number;
  mem: Guarded;
  /** Offset of the mapped bytes in mem.buf.bytes. */
  offset: number;
  /** A MemFile's mapping (mem is its view): the file is what the IOVA must read. */
  file?: MemFile;
  writeable: boolean;
}

interface State {
  rng: Rng;
  fds: Iommufd[];
  ioases: Ioas[];
  devices: MockDevice[];
  hwpts: Hwpt[];
  accesses: Access[];
  pinned: PinnedPages[];
  queues: FaultQueue[];
  // 7.3: files, dma-bufs and the vIOMMU objects (6.12: their calls fail cleanly)
  files: MemFile[];
  dmabufs: MockDmabuf[];
  viommus: Viommu[];
  vdevices: Vdevice[];
  veventqs: Veventq[];
  hwQueues: HwQueue[];
  viommuMappings: ViommuMapping[];
  mems: Guarded[];
  shadows: Shadow[];
  /** IOASes a call mapped into in a way the shadow cannot follow (a trap object, VFIO compat). */
  untracked: Set<Ioas>;
  probes: Map<Ioas, Access>;
  /** The iommufd each IOAS belongs to. */
  fdOf: Map<Ioas, Iommufd>;
}

function checksum(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i += 7) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
}

/** Memory no call is ever given: any change is a write through a stale or wrong address. */
class Canaries {
  readonly dma = [DmaBuffer.alloc(4 * PAGE), DmaBuffer.alloc(4 * PAGE)];
  readonly plain = [new Uint8Array(4 * PAGE), new Uint8Array(64 * 1024)];
  readonly #sums: number[];
  constructor() {
    const all = this.#all();
    all.forEach((b, i) => fillPattern(b, 0xc0ffee + i));
    this.#sums = all.map(checksum);
  }
  #all(): Uint8Array[] {
    return [...this.dma.map((d) => d.bytes), ...this.plain];
  }
  changed(): boolean {
    return this.#all().some((b, i) => checksum(b) !== this.#sums[i]);
  }
  free(): void {
    for (const d of this.dma) d.free();
  }
}

type Op = (s: State) => unknown;

export interface EngineOptions {
  /** Calls per sequence. */
  length?: number;
}

export class Engine {
  readonly counts = emptyCounts();
  readonly findings: Finding[] = [];
  readonly canaries = new Canaries();
  #sequence = 0;
  #call = 0;
  readonly #length: number;

  constructor(options: EngineOptions = {}) {
    this.#length = options.length ?? 40;
  }

  /** One sequence from its seed: fresh objects, `length` calls, full checks, everything released. */
  run(sequence: number, seed: number): void {
    this.#sequence = sequence;
    const rng = new Rng(seed);
    const s: State = {
      rng,
      fds: [],
      ioases: [],
      devices: [],
      hwpts: [],
      accesses: [],
      pinned: [],
      queues: [],
      files: [],
      dmabufs: [],
      viommus: [],
      vdevices: [],
      veventqs: [],
      hwQueues: [],
      viommuMappings: [],
      mems: [],
      shadows: [],
      untracked: new Set(),
      probes: new Map(),
      fdOf: new Map(),
    };
    try {
      const fd = openIommufd();
      s.fds.push(fd);
      newIoas(s, fd);
      for (let i = 0; i < 3; i++) s.mems.push(new Guarded(seed + i));
      for (let i = 0; i < this.#length; i++) {
        this.#call = i;
        const live = s.mems.filter((m) => !m.buf.freed);
        // An op on a kind of object not made yet draws again (a few times): with the 7.3
        // objects in the table, most calls would otherwise find no target.
        let name = '';
        for (let tries = 0; tries < 3; tries++) {
          const [n, op] = rng.pick(OPS);
          name = n;
          if (this.#invoke(name, () => op(s))) break;
        }
        // A buffer freed by this call: its mappings must be gone now, not only by the next check.
        const freed = live.some((m) => m.buf.freed);
        if (freed) this.#checkShadows(s, name);
        if (!s.mems.every((m) => m.guardsIntact())) this.#violation(name, 'a guard page around a window changed');
        if (this.canaries.changed()) this.#violation(name, 'a canary changed');
        if (i % 8 === 7) this.#checkShadows(s, name);
      }
      this.#checkShadows(s, 'end');
    } finally {
      this.#release(s);
      this.counts.sequences++;
    }
  }

  /** Run one call and count what it did; false when it found no target (not counted). */
  #invoke(name: string, fn: () => unknown): boolean {
    this.counts.calls++;
    const trace = process.env.HOSTILE_TRACE ? (what: string) => process.stderr.write(`[${this.#sequence}.${this.#call}] ${name}: ${what}\n`) : null;
    try {
      const result = fn();
      this.counts.returned++;
      trace?.(`returned ${typeof result === 'bigint' ? `0x${result.toString(16)}` : typeof result}`);
    } catch (err) {
      if (err instanceof NoTarget) {
        this.counts.calls--;
        return false;
      }
      trace?.(`threw ${err instanceof Error ? `${err.name}: ${err.message}` : typeof err}`);
      const why = unclean(err);
      if (why === null) this.counts.cleanErrors++;
      else {
        this.counts.uncleanErrors++;
        this.#finding(name, 'unclean', `${why}${err instanceof Error && err.stack ? `\n${err.stack.split('\n').slice(1, 4).join('\n')}` : ''}`);
      }
    }
    return true;
  }

  #violation(op: string, detail: string): void {
    this.counts.violations++;
    this.#finding(op, 'violation', detail);
  }

  #finding(op: string, kind: Finding['kind'], detail: string): void {
    if (this.findings.length < 200) this.findings.push({ sequence: this.#sequence, call: this.#call, op, kind, detail });
  }

  /** Every shadow mapping: gone (dropped), or mapping its live buffer's bytes. */
  #checkShadows(s: State, op: string): void {
    for (const sh of [...s.shadows]) {
      if (sh.fd.closed || sh.ioas.destroyed || s.untracked.has(sh.ioas)) {
        drop(s, sh);
        continue;
      }
      // A MemFile the library let go (closed, resized) while the IOAS maps it: its view is freed.
      if (sh.file && sh.file.closed && !sh.mem.buf.freed) {
        this.#violation(op, `a MemFile was closed while IOVA 0x${sh.iova.toString(16)} maps it`);
        drop(s, sh);
        continue;
      }
      const access = probeFor(s, sh);
      if (!access) continue;
      const n = Math.min(sh.length, 256);
      let seen: Uint8Array;
      try {
        seen = access.read(sh.iova, n);
      } catch (err) {
        // EFAULT: the IOVA is mapped, to memory the process no longer has.
        if (sh.mem.buf.freed && err instanceof IommufdError && err.code === 'EFAULT')
          this.#violation(op, `IOVA 0x${sh.iova.toString(16)} is still mapped (EFAULT) after its DmaBuffer was freed`);
        drop(s, sh); // otherwise: no longer mapped there
        continue;
      }
      if (sh.mem.buf.freed) {
        this.#violation(op, `IOVA 0x${sh.iova.toString(16)} still translates after its DmaBuffer was freed`);
        drop(s, sh);
        continue;
      }
      if (sh.mem.holes) continue; // the process unmapped pages of it: the kernel keeps the old ones
      const want = sh.mem.buf.bytes.subarray(sh.offset, sh.offset + n);
      if (Buffer.compare(seen, want) !== 0) {
        this.#violation(op, `IOVA 0x${sh.iova.toString(16)} reads bytes that are not its buffer's`);
        drop(s, sh);
        continue;
      }
      if (sh.writeable && s.rng.chance(0.3)) {
        const data = new Uint8Array(Math.min(n, 64));
        fillPattern(data, s.rng.int(1 << 30));
        try {
          access.write(sh.iova, data);
        } catch {
          continue;
        }
        if (Buffer.compare(sh.mem.buf.bytes.subarray(sh.offset, sh.offset + data.length), data) !== 0)
          this.#violation(op, `a write through IOVA 0x${sh.iova.toString(16)} did not land in its buffer`);
        if (this.canaries.changed()) this.#violation(op, 'a write through a mapped IOVA changed a canary');
      }
    }
  }

  #release(s: State): void {
    for (const fd of s.fds) {
      try {
        if (!fd.closed) fd.close();
      } catch (err) {
        this.#violation('close', `close() threw: ${String(err)}`);
      }
    }
    for (const m of s.mems) {
      try {
        m.buf.free();
      } catch (err) {
        this.#violation('free', `free() after close() threw: ${String(err)}`);
      }
    }
    // With every iommufd closed nothing maps a file any more: close() must succeed (no leaked hold).
    for (const f of s.files) {
      try {
        f.close();
      } catch (err) {
        this.#violation('MemFile.close', `close() after every iommufd closed threw: ${String(err)}`);
      }
    }
    for (const d of s.dmabufs) {
      try {
        if (!d.closed) d.close();
      } catch (err) {
        this.#violation('MockDmabuf.close', `close() threw: ${String(err)}`);
      }
    }
    for (const m of s.viommuMappings) {
      try {
        m.unmap();
      } catch (err) {
        this.#violation('ViommuMapping.unmap', `unmap() threw: ${String(err)}`);
      }
    }
  }

  finish(): void {
    this.canaries.free();
  }
}

function drop(s: State, sh: Shadow): void {
  s.shadows.splice(s.shadows.indexOf(sh), 1);
}

/** The fuzzer's own access for reading an IOAS (recreated when a call closed it). */
function probeFor(s: State, sh: Shadow): Access | null {
  let access = s.probes.get(sh.ioas);
  if (!access || access.closed) {
    try {
      access = sh.fd.createAccess(sh.ioas);
    } catch {
      return null;
    }
    s.probes.set(sh.ioas, access);
  }
  return access;
}

// ---- argument choosers: mostly what a caller means, sometimes a broken rule ----

const HOSTILE = 0.25;

function pickOr<T>(s: State, items: T[], hostile: () => unknown): unknown {
  if (items.length === 0 || s.rng.chance(HOSTILE)) return hostile();
  return s.rng.pick(items);
}

function fdOf(s: State): Iommufd {
  return s.rng.pick(s.fds);
}

function ioasArg(s: State): unknown {
  return pickOr(s, s.ioases, () => s.rng.pick<unknown>([null, undefined, {}, 1, hostileId(s.rng), { id: 1 }]));
}

function idArg(s: State): unknown {
  const ids = [...s.ioases.map((i) => i.id), ...s.hwpts.map((h) => h.id), ...s.devices.map((d) => d.idevId)];
  return pickOr(s, ids, () => hostileId(s.rng));
}

function iovaArg(s: State): unknown {
  if (s.rng.chance(HOSTILE)) return hostileU64(s.rng);
  const page = BigInt(s.rng.int(64) * PAGE);
  return s.rng.chance(0.5) ? MOCK_APERTURE_START + page : Number(MOCK_APERTURE_START + page);
}

function lengthArg(s: State): unknown {
  if (s.rng.chance(HOSTILE)) return hostileU64(s.rng);
  return s.rng.pick([PAGE, 2 * PAGE, 4 * PAGE, BigInt(PAGE), WINDOW]);
}

function countArg(s: State): unknown {
  if (s.rng.chance(HOSTILE)) return hostileCount(s.rng);
  return s.rng.pick([0, 1, 64, PAGE, 2 * PAGE]);
}

function flagsArg(s: State): unknown {
  return s.rng.chance(HOSTILE) ? hostileFlags(s.rng) : s.rng.pick([0, 1, 2, 4]);
}

function liveMem(s: State): Guarded {
  return s.rng.pick(s.mems);
}

/** A free() or a close() for a trap getter to run in the middle of a call. */
function sideEffect(s: State): () => void {
  const mem = liveMem(s);
  const fd = fdOf(s);
  return s.rng.pick([() => mem.buf.free(), () => fd.close(), () => s.rng.pick(s.ioases)?.destroy()]);
}

function optionsArg(s: State, keys: readonly string[], plain: () => Record<string, unknown>): { value: unknown; trap: boolean } {
  const r = s.rng.next();
  if (r < 0.52) return { value: undefined, trap: false };
  if (r < 0.55) return { value: s.rng.pick<unknown>([null, 'options', 7, []]), trap: false };
  if (r < 0.8) return { value: plain(), trap: false };
  if (r < 0.9) {
    const o: Record<string, unknown> = {};
    for (const k of keys) if (s.rng.chance(0.5)) o[k] = s.rng.pick([hostileCount(s.rng), hostileBool(s.rng), hostileU64(s.rng)]);
    return { value: o, trap: false };
  }
  return { value: trapObject(s.rng, keys, sideEffect(s)), trap: true };
}

/**
 * Memory for a call: `value`, and what the shadow needs to follow a mapping of it: the
 * buffer it is a view of with the offset in that buffer, and its length when it has one.
 */
interface MemArg {
  value: unknown;
  mem?: Guarded;
  /** Offset of value's first byte in mem.buf.bytes. */
  offset?: number;
  /** Bytes of value (a mapping's default length), when it is memory at all. */
  length?: number;
}

/** Memory to map or to copy through: a window of a live buffer, or something that breaks the rule. */
function memArg(s: State): MemArg {
  const mem = liveMem(s);
  const r = s.rng.next();
  if (r < 0.6) {
    const offset = s.rng.int(4) * PAGE;
    const length = s.rng.pick([PAGE, 2 * PAGE, 4 * PAGE]);
    return { value: mem.window(offset, length), mem, offset: GUARD + offset, length };
  }
  if (r < 0.68) {
    mem.exposed = true;
    return { value: mem.buf, mem, offset: 0, length: mem.buf.length };
  }
  const rng = s.rng;
  const hostile = rng.pick<() => unknown>([
    () => mem.window(1, PAGE), // unaligned
    () => mem.window(0, 0),
    () => mem.window(0, 1),
    () => new Uint8Array(PAGE),
    () => Buffer.alloc(PAGE),
    () => new Uint8Array(new SharedArrayBuffer(PAGE)),
    () => new Uint8Array(new (SharedArrayBuffer as unknown as new (n: number, o: object) => SharedArrayBuffer)(PAGE, { maxByteLength: 2 * PAGE })),
    () => new Uint8Array(new (ArrayBuffer as unknown as new (n: number, o: object) => ArrayBuffer)(PAGE, { maxByteLength: 2 * PAGE })),
    () => new DataView(mem.buf.buffer, GUARD, PAGE),
    () => new Float64Array(mem.buf.buffer, GUARD, PAGE / 8),
    () => new Uint16Array(mem.buf.buffer, GUARD + 2, 8),
    () => mem.buf.buffer,
    () => ({ buffer: mem.buf.buffer, byteOffset: GUARD, byteLength: WINDOW }),
    () => new Proxy(mem.window(0, PAGE), {}),
    () => stale(s),
    () => hole(s, mem),
    () => 'memory',
    () => 4096,
    () => null,
    () => undefined,
  ]);
  return viewed(s, hostile());
}

/**
 * What a rule-breaking memory value is, when the API may still map it (an unaligned
 * window, a DataView or a Float64Array over a buffer, the whole ArrayBuffer, plain
 * memory): a view of one of the fuzzer's buffers, or at least a length. A mapping of
 * it the shadow does not know of would leave a stale shadow at the same IOVA.
 */
function viewed(s: State, value: unknown): MemArg {
  let buffer: ArrayBufferLike;
  let offset = 0;
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) buffer = value;
  else if (ArrayBuffer.isView(value)) {
    buffer = value.buffer;
    offset = value.byteOffset;
  } else return { value }; // not memory (or a Proxy of some): what a call does with it is not followed
  const length = (value as { byteLength: number }).byteLength;
  const mem = s.mems.find((m) => !m.buf.freed && m.buf.buffer === buffer);
  if (!mem) return { value, length };
  // Bytes of the guards given to the API are the API's to write.
  if (offset < GUARD || offset + length > GUARD + WINDOW) mem.exposed = true;
  return { value, mem, offset, length };
}

/** A view of a buffer that has since been freed (detached). */
function stale(s: State): unknown {
  const g = new Guarded(s.rng.int(1000));
  const view = g.window(0, PAGE);
  g.buf.free();
  return view;
}

/** A window page the process unmapped (unsafeUnmap). */
function hole(s: State, mem: Guarded): unknown {
  if (!mem.holes && !mem.buf.freed && mem.buf.mappings === 0) {
    try {
      mem.buf.unsafeUnmap(GUARD + WINDOW - PAGE, PAGE);
      mem.holes = true;
    } catch {
      /* not unmappable now */
    }
  }
  return mem.window(WINDOW - PAGE, PAGE);
}

type MapOptions = { offset?: unknown; length?: unknown; writeable?: unknown };

/** The options a call that returned accepted (anything else was not an options object). */
function mapOptions(options: unknown): MapOptions {
  return typeof options === 'object' && options !== null ? (options as MapOptions) : {};
}

/**
 * A call mapped [iova, iova + length) of `target`. The kernel refuses overlapping
 * maps, so each shadow this overlaps was unmapped before it (by an unmap the shadow
 * does not follow: unmapAll, a batch, VFIO compat) and now reads the new mapping's
 * bytes: drop those. Without a length the rest of the IOAS cannot be followed.
 * False when the new mapping cannot be shadowed.
 */
function mappedOver(s: State, ioas: unknown, iova: unknown, length: number | null, trap: boolean): ioas is Ioas {
  if (typeof iova !== 'bigint' || !s.ioases.includes(ioas as Ioas)) return false;
  const target = ioas as Ioas;
  if (trap || s.untracked.has(target) || length === null || !Number.isInteger(length) || length <= 0) {
    s.untracked.add(target);
    return false;
  }
  for (const sh of [...s.shadows]) if (sh.ioas === target && sh.iova < iova + BigInt(length) && iova < sh.iova + BigInt(sh.length)) drop(s, sh);
  return true;
}

function addShadow(s: State, ioas: unknown, iova: unknown, m: MemArg, options: unknown, trap: boolean): void {
  const o = mapOptions(options);
  const extra = Number(o.offset ?? 0);
  const length = o.length !== undefined ? Number(o.length) : m.length !== undefined ? m.length - extra : null;
  if (!mappedOver(s, ioas, iova, length, trap) || !m.mem) return;
  s.shadows.push({ fd: s.fdOf.get(ioas)!, ioas, iova: iova as bigint, length: length!, mem: m.mem, offset: m.offset! + extra, writeable: o.writeable !== false });
}

/** A mapping of a MemFile: the IOVA must read the file's bytes (its view) while it translates. */
function addFileShadow(s: State, ioas: unknown, iova: unknown, file: unknown, options: unknown, trap: boolean): void {
  const o = mapOptions(options);
  const offset = Number(o.offset ?? 0);
  // Without a length option: the rest of a MemFile or a dma-buf (a descriptor needs one).
  let size: number | null = null;
  if (file instanceof MemFile || file instanceof MockDmabuf) {
    try {
      size = file.length;
    } catch {
      // closed by now (a trap getter): nothing to shadow
    }
  }
  const length = o.length !== undefined ? Number(o.length) : size === null ? null : size - offset;
  // A dma-buf's or a bare descriptor's bytes cannot be read here: only what it replaced is known.
  if (!mappedOver(s, ioas, iova, length, trap) || !(file instanceof MemFile) || size === null) return;
  if (offset + length! > size) return; // the kernel judges ranges past the end at pin time
  // The view as a Guarded without guards: only its bytes and freed state are looked at.
  const mem = { buf: file.view, exposed: true, holes: false } as unknown as Guarded;
  s.shadows.push({ fd: s.fdOf.get(ioas)!, ioas, iova: iova as bigint, length: length!, mem, offset, writeable: o.writeable !== false, file });
}

/** A call that may map into any IOAS of the sequence where the shadow cannot see (a raw or batched map or copy). */
function untrackAll(s: State): void {
  for (const io of s.ioases) s.untracked.add(io);
}

/** Backend methods that map: a raw call of one the shadow cannot follow. */
const MAP_OPS = new Set(['ioasMap', 'ioasMapFile', 'ioasCopy', 'vfioMapDma']);

/** A file for mapFile(): a MemFile or a dma-buf made here, or something that breaks the rule. */
function fileArg(s: State): unknown {
  const files: unknown[] = [...s.files, ...s.dmabufs];
  return pickOr(s, files, () =>
    s.rng.pick<() => unknown>([
      () => -1,
      () => 2 ** 31,
      () => NaN,
      () => 1.5,
      () => 0x7fffffff,
      () => hostileId(s.rng),
      () => ({ fd: 3 }), // not a FileHandle: no close()
      () => ({ fd: -1, close() {} }), // a closed FileHandle
      () => ({ fd: 2 ** 40, close() {} }),
      () => ({ get fd(): number { throw new HostileError('fd getter'); }, close() {} }),
      () => Object.create(MemFile.prototype), // a MemFile that was never constructed
      () => Object.create(MockDmabuf.prototype), // likewise a MockDmabuf
      () => null,
      () => 'file',
      () => memArg(s).value,
    ])(),
  );
}

function viommuArg(s: State): unknown {
  return pickOr<unknown>(s, s.viommus, () => s.rng.pick<unknown>([hostileId(s.rng), null, {}, s.rng.pick([...s.hwpts, null]), { id: 1 }]));
}

function deviceArg(s: State): unknown {
  return pickOr<unknown>(s, s.devices, () => hostileId(s.rng));
}

const FILE_KEYS = ['offset', 'length', 'iova', 'readable', 'writeable'] as const;

function newIoas(s: State, fd: Iommufd): Ioas {
  const ioas = fd.allocIoas();
  s.ioases.push(ioas);
  s.fdOf.set(ioas, fd);
  return ioas;
}

function keep<T>(list: T[], value: T): T {
  list.push(value);
  return value;
}

/** No object of the kind exists yet: the op does not count as a call. */
export class NoTarget extends Error {}

/** An object of the kind, live or destroyed or closed: the API's object, never a stand-in. */
function target<T>(s: State, items: T[]): T {
  if (items.length === 0) throw new NoTarget();
  return s.rng.pick(items);
}

const call = (object: unknown, method: string, ...args: unknown[]): unknown =>
  (object as Record<string, (...a: unknown[]) => unknown>)[method]!(...args);

const MAP_KEYS = ['offset', 'length', 'readable', 'writeable'] as const;
const mapPlain = (s: State) => () => s.rng.chance(0.5) ? { offset: s.rng.pick([0, PAGE]) } : { writeable: s.rng.chance(0.5) };

/** Names of Backend methods a batch or a direct call may reach with any arguments (not memory ops). */
const BACKEND_OPS = [
  'destroy', 'ioasAlloc', 'ioasUnmap', 'ioasIovaRanges', 'ioasIovaRangesInto', 'ioasAllowIovas', 'option', 'vfioIoas',
  'hwptAlloc', 'getHwInfo', 'hwptSetDirtyTracking', 'hwptGetDirtyBitmap', 'hwptInvalidate', 'faultQueueAlloc',
  'faultRead', 'faultRespond', 'vfioGetApiVersion', 'vfioCheckExtension', 'vfioSetIommu', 'vfioIommuGetInfo',
  'vfioUnmapDma', 'addReserved', 'mockDomain', 'mockDomainReplace', 'mdCheckIotlb', 'dirty', 'triggerIopf',
  'mdCheckMap', 'mdCheckRefs', 'createAccess', 'accessPages', 'destroyAccessPages', 'accessRw',
  'accessReplaceIoas', 'setTempMemoryLimit', 'capabilities', 'ioasNoiommuGetPa',
  // 7.3's entry points (never a close: a random descriptor could be the worker's own channel)
  'ioasMapFile', 'ioasChangeProcess', 'dmabufRevoke', 'viommuAlloc', 'vdeviceAlloc', 'veventqAlloc', 'hwQueueAlloc',
  'devCheckCache', 'triggerVevent', 'mmapRead32',
] as const;

/** An argument of any kind, for the untyped layers. */
function anyArg(s: State): unknown {
  return s.rng.pick<(s: State) => unknown>([idArg, iovaArg, lengthArg, countArg, flagsArg, (x) => memArg(x).value, (x) => ({ bytes: memArg(x).value, offset: countArg(x), length: countArg(x) }), (x) => [idArg(x)]])(s);
}

function anyArgs(s: State): unknown[] {
  return Array.from({ length: s.rng.int(7) }, () => anyArg(s));
}

const OPS: [string, Op][] = [
  ['allocIoas', (s) => newIoas(s, fdOf(s))],
  ['adoptIoas', (s) => { const fd = fdOf(s); const io = fd.adoptIoas(idArg(s) as number); if (!s.ioases.includes(io)) { s.ioases.push(io); s.fdOf.set(io, fd); } }],
  ['ioas.mapFixed', (s) => {
    const ioas = target(s, s.ioases); const iova = iovaArg(s); const m = memArg(s); const o = optionsArg(s, MAP_KEYS, mapPlain(s));
    const at = call(ioas, 'mapFixed', iova, m.value, o.value);
    addShadow(s, ioas, at, m, o.value, o.trap);
  }],
  ['ioas.mapAnywhere', (s) => {
    const ioas = target(s, s.ioases); const m = memArg(s); const o = optionsArg(s, MAP_KEYS, mapPlain(s));
    const at = call(ioas, 'mapAnywhere', m.value, o.value);
    addShadow(s, ioas, at, m, o.value, o.trap);
  }],
  ['ioas.unmap', (s) => call(target(s, s.ioases), 'unmap', iovaArg(s), lengthArg(s))],
  ['ioas.unmapAll', (s) => call(target(s, s.ioases), 'unmapAll')],
  ['ioas.copyFrom', (s) => {
    const dst = target(s, s.ioases);
    const o = optionsArg(s, ['dstIova', 'readable', 'writeable'], () => ({ dstIova: iovaArg(s) }));
    call(dst, 'copyFrom', ioasArg(s), iovaArg(s), lengthArg(s), o.value);
    if (s.ioases.includes(dst as Ioas)) s.untracked.add(dst as Ioas);
  }],
  ['ioas.allowIovas', (s) => call(target(s, s.ioases), 'allowIovas', s.rng.chance(0.7) ? [{ start: iovaArg(s), last: iovaArg(s) }] : s.rng.pick<unknown>([[null], [{}], 'x', null, [{ start: 1n, last: 0n }], [{ start: -1n, last: 2n ** 64n }]]))],
  ['ioas.addReserved', (s) => call(target(s, s.ioases), 'addReserved', iovaArg(s), lengthArg(s))],
  ['ioas.iovaRanges', (s) => call(target(s, s.ioases), 'iovaRanges')],
  ['ioas.noiommuGetPa', (s) => call(target(s, s.ioases), 'noiommuGetPa', iovaArg(s), lengthArg(s))],
  ['ioas.hugePages', (s) => target(s, s.ioases).hugePages],
  ['ioas.destroy', (s) => call(target(s, s.ioases), 'destroy')],
  ['fd.destroy', (s) => fdOf(s).destroy(idArg(s) as number)],
  ['fd.mockDomain', (s) => {
    const target = pickOr<unknown>(s, [...s.ioases, ...s.hwpts], () => hostileId(s.rng));
    const o = optionsArg(s, ['noDirty', 'hugeIova', 'flags'], () => ({ noDirty: s.rng.chance(0.5) }));
    keep(s.devices, fdOf(s).mockDomain(target as Ioas, o.value as never));
  }],
  ['fd.allocHwpt', (s) => {
    const dev = pickOr<unknown>(s, s.devices, () => hostileId(s.rng));
    const parent = pickOr<unknown>(s, [...s.ioases, ...s.hwpts], () => hostileId(s.rng));
    const o = optionsArg(s, ['nestParent', 'dirtyTracking', 'selftestIotlb', 'flags', 'data', 'fault', 'huge'], () => s.rng.pick([{ nestParent: true }, { dirtyTracking: true }, { selftestIotlb: s.rng.int(3) }]));
    keep(s.hwpts, fdOf(s).allocHwpt(dev as MockDevice, parent as Ioas, o.value as never));
  }],
  ['fd.hwInfo', (s) => fdOf(s).hwInfo(pickOr<unknown>(s, s.devices, () => hostileId(s.rng)) as MockDevice, s.rng.chance(0.5) ? (countArg(s) as number) : (memArg(s).value as Uint8Array), optionsArg(s, ['dataType'], () => ({ dataType: s.rng.int(3) })).value as never)],
  ['device.replace', (s) => call(target(s, s.devices), 'replace', pickOr<unknown>(s, [...s.ioases, ...s.hwpts], () => hostileId(s.rng)))],
  ['device.checkMap', (s) => call(target(s, s.devices), 'checkMap', iovaArg(s), memArg(s).value, optionsArg(s, ['offset', 'length'], () => ({ length: PAGE })).value)],
  ['device.triggerIopf', (s) => call(target(s, s.devices), 'triggerIopf', s.rng.chance(0.8) ? { addr: iovaArg(s), pasid: countArg(s), perm: flagsArg(s) } : hostileId(s.rng))],
  ['device.destroy', (s) => call(target(s, s.devices), 'destroy')],
  ['hwpt.setDirtyTracking', (s) => call(target(s, s.hwpts), 'setDirtyTracking', s.rng.chance(0.8) ? s.rng.chance(0.5) : hostileBool(s.rng))],
  ['hwpt.getDirtyBitmap', (s) => call(target(s, s.hwpts), 'getDirtyBitmap', iovaArg(s), lengthArg(s), optionsArg(s, ['pageSize', 'noClear'], () => ({ pageSize: s.rng.pick([PAGE, 2 * PAGE, 3]) })).value)],
  ['hwpt.markDirty', (s) => call(target(s, s.hwpts), 'markDirty', iovaArg(s), lengthArg(s), s.rng.chance(0.8) ? new Uint8Array(s.rng.int(16)) : memArg(s).value, s.rng.chance(0.8) ? PAGE : hostileU64(s.rng))],
  ['hwpt.invalidate', (s) => call(target(s, s.hwpts), 'invalidate', s.rng.pick<() => unknown>([
    () => [{ iotlbId: countArg(s), all: s.rng.chance(0.5) }],
    () => ({ dataType: IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, entryLen: countArg(s), entries: memArg(s).value, entryNum: countArg(s) }),
    () => ({ dataType: flagsArg(s), entryLen: 8, entries: null, entryNum: 1 }),
    () => [null],
    () => 'x',
  ])())],
  ['hwpt.checkIotlb', (s) => call(target(s, s.hwpts), 'checkIotlb', countArg(s), countArg(s))],
  ['hwpt.destroy', (s) => call(target(s, s.hwpts), 'destroy')],
  ['fd.createAccess', (s) => keep(s.accesses, fdOf(s).createAccess(ioasArg(s) as Ioas, optionsArg(s, ['needsPinPages'], () => ({ needsPinPages: s.rng.chance(0.5) })).value as never))],
  ['access.pinPages', (s) => {
    const o = optionsArg(s, ['write', 'verify'], () => ({ write: s.rng.chance(0.5), verify: s.rng.chance(0.5) ? { memory: memArg(s).value } : undefined }));
    keep(s.pinned, call(target(s, s.accesses), 'pinPages', iovaArg(s), countArg(s), o.value) as PinnedPages);
  }],
  ['pinned.unpin', (s) => call(target(s, s.pinned), 'unpin')],
  ['access.rw', (s) => call(target(s, s.accesses), 'rw', iovaArg(s), memArg(s).value, optionsArg(s, ['write', 'slowPath', 'offset', 'length'], () => ({ write: s.rng.chance(0.5), slowPath: s.rng.chance(0.5) })).value)],
  ['access.read', (s) => call(target(s, s.accesses), 'read', iovaArg(s), countArg(s))],
  ['access.write', (s) => call(target(s, s.accesses), 'write', iovaArg(s), s.rng.chance(0.7) ? new Uint8Array(s.rng.int(2 * PAGE)) : memArg(s).value)],
  ['access.replaceIoas', (s) => call(target(s, s.accesses), 'replaceIoas', ioasArg(s))],
  ['access.close', (s) => call(target(s, s.accesses), 'close')],
  ['fd.allocFaultQueue', (s) => keep(s.queues, fdOf(s).allocFaultQueue())],
  ['queue.read', (s) => call(target(s, s.queues), 'read', s.rng.chance(0.7) ? s.rng.pick([1, 64]) : hostileCount(s.rng))],
  ['queue.respond', (s) => call(target(s, s.queues), 'respond', s.rng.chance(0.7) ? [{ cookie: countArg(s), code: flagsArg(s) }] : s.rng.pick<unknown>([null, [null], 'x', [{}]]))],
  ['queue.close', (s) => call(target(s, s.queues), 'close')],
  ['fd.checkRefs', (s) => fdOf(s).checkRefs(memArg(s).value as never, countArg(s) as number, optionsArg(s, ['offset', 'length'], () => ({ length: PAGE })).value as never)],
  ['fd.setTempMemoryLimit', (s) => fdOf(s).setTempMemoryLimit((s.rng.chance(0.6) ? s.rng.pick([4096, 65536]) : hostileCount(s.rng)) as number)],
  ['fd.rlimit', (s) => (s.rng.chance(0.5) ? fdOf(s).getRlimitMode() : fdOf(s).setRlimitMode((s.rng.chance(0.7) ? s.rng.pick([0n, 1n]) : hostileU64(s.rng)) as bigint))],
  ['fd.vfio', (s) => {
    const fd = fdOf(s);
    const r = s.rng.int(6);
    if (r === 0) fd.setVfioIoas(ioasArg(s) as Ioas);
    else if (r === 1) fd.clearVfioIoas();
    else if (r === 2) {
      fd.vfio.mapDma(iovaArg(s) as bigint, memArg(s).value as never, optionsArg(s, ['offset', 'length', 'readable', 'writeable'], mapPlain(s)).value as never);
      for (const io of s.ioases) s.untracked.add(io); // which IOAS VFIO compat picks is the kernel's
    } else if (r === 3) fd.vfio.unmapDma(iovaArg(s) as bigint, lengthArg(s) as bigint, s.rng.chance(0.8) ? 0 : (hostileFlags(s.rng) as number));
    else if (r === 4) fd.vfio.unmapAll();
    else call(fd.vfio, s.rng.pick(['apiVersion', 'checkExtension', 'setIommu', 'info']), countArg(s));
  }],
  ['fd.capabilities', (s) => fdOf(s).capabilities()],
  ['fd.rawIoctl', (s) => {
    const names = ['IOMMU_DESTROY', 'IOMMU_IOAS_ALLOC', 'IOMMU_IOAS_MAP', 'IOMMU_IOAS_UNMAP', 'IOMMU_IOAS_COPY', 'IOMMU_GET_HW_INFO', 'IOMMU_HWPT_ALLOC'] as const;
    const request = s.rng.chance(0.8) ? ioctlRequest(s.rng.pick(names)) : hostileFlags(s.rng);
    const arg = s.rng.chance(0.6) ? randomBytes(s) : memArg(s).value;
    fdOf(s).rawIoctl(request as number, arg as never);
    if (request === ioctlRequest('IOMMU_IOAS_MAP') || request === ioctlRequest('IOMMU_IOAS_COPY')) untrackAll(s); // it mapped something
  }],
  ['fd.batch', (s) => {
    const fd = fdOf(s);
    const run = fd.batch((b) => {
      for (let i = s.rng.int(6); i > 0; i--) batchStep(s, b, fd);
    }, s.rng.chance(0.1) ? { failNth: s.rng.chance(0.5) ? s.rng.int(4) : (hostileCount(s.rng) as number) } : {});
    if (run.error !== null) void unclean(run.error);
  }],
  ['fd.backend', (s) => {
    const fd = fdOf(s);
    const op = s.rng.pick(BACKEND_OPS);
    call(fd.backend, op, ...anyArgs(s));
    if (MAP_OPS.has(op)) untrackAll(s); // it mapped something
  }],
  ['DmaBuffer.alloc', (s) => {
    const o = optionsArg(s, ['hugePages', 'shared'], () => ({ shared: s.rng.chance(0.5) }));
    DmaBuffer.alloc(s.rng.chance(0.5) ? PAGE : (hostileCount(s.rng) as number), o.value as never).free();
  }],
  ['buffer.free', (s) => liveMem(s).buf.free()],
  ['buffer.unsafeUnmap', (s) => { hole(s, liveMem(s)); }],
  ['newBuffer', (s) => { if (s.mems.length < 8) s.mems.push(new Guarded(s.rng.int(1 << 30))); }],
  // ---- 7.3: file mappings (MemFile, the mock's dma-buf) ----
  ['MemFile.create', (s) => {
    if (s.files.length >= 6) throw new NoTarget();
    const length = s.rng.chance(0.75) ? s.rng.pick([PAGE, 2 * PAGE, 4 * PAGE, 0]) : hostileCount(s.rng);
    keep(s.files, MemFile.create(length as number, optionsArg(s, ['hugePages'], () => ({ hugePages: s.rng.pick(['none', 'hugetlb']) })).value as never));
  }],
  ['file.resize', (s) => call(target(s, s.files), 'resize', s.rng.chance(0.7) ? s.rng.pick([0, PAGE, 3 * PAGE]) : hostileCount(s.rng))],
  ['file.close', (s) => call(target(s, s.files), 'close')],
  ['file.bytes', (s) => {
    const f = target(s, s.files);
    const r = s.rng.int(5);
    if (r === 0) return f.fd;
    if (r === 1) return f.length;
    if (r === 2) return f.view.length;
    if (r === 3) return f.mappings;
    const bytes = f.bytes;
    bytes[s.rng.int(bytes.length)] = s.rng.int(256); // the caller's to write
    return bytes.length;
  }],
  ['ioas.mapFile', (s) => {
    const ioas = target(s, s.ioases);
    const file = fileArg(s);
    const o = optionsArg(s, FILE_KEYS, () =>
      s.rng.pick<Record<string, unknown>>([{}, { offset: PAGE }, { length: PAGE }, { offset: s.rng.pick([0, PAGE, 1]), length: s.rng.pick([PAGE, 2 * PAGE, 0]) }, { iova: iovaArg(s) }, { iova: iovaArg(s), writeable: false }]),
    );
    const at = call(ioas, 'mapFile', file, o.value);
    addFileShadow(s, ioas, at, file, o.value, o.trap);
  }],
  ['fd.changeProcess', (s) => fdOf(s).changeProcess()],
  ['fd.mockDmabuf', (s) => {
    if (s.dmabufs.length >= 6) throw new NoTarget();
    keep(s.dmabufs, fdOf(s).mockDmabuf((s.rng.chance(0.75) ? s.rng.pick([PAGE, 3 * PAGE, 100]) : hostileCount(s.rng)) as number));
  }],
  ['dmabuf.revoke', (s) => call(target(s, s.dmabufs), 'revoke', ...(s.rng.chance(0.2) ? [] : [s.rng.chance(0.8) ? s.rng.chance(0.5) : hostileBool(s.rng)]))],
  ['dmabuf.fd', (s) => target(s, s.dmabufs).fd],
  ['dmabuf.close', (s) => call(target(s, s.dmabufs), 'close')],
  // ---- 7.3: vIOMMU objects ----
  ['viommuChain', (s) => {
    // What a caller means, in order, so that the objects below exist to be abused:
    // a device, a nest parent on its IOAS, a vIOMMU with driver data.
    const fd = fdOf(s);
    const ioas = s.ioases.find((i) => s.fdOf.get(i) === fd && !i.destroyed) ?? newIoas(s, fd);
    const dev = keep(s.devices, fd.mockDomain(ioas));
    const parent = keep(s.hwpts, fd.allocHwpt(dev, ioas, { nestParent: true }));
    keep(s.viommus, fd.allocViommu(dev, parent, s.rng.chance(0.7) ? { selftestData: s.rng.int(1 << 30) } : {}));
  }],
  ['fd.allocViommu', (s) => {
    const o = optionsArg(s, ['type', 'flags', 'selftestData', 'data'], () => s.rng.pick<Record<string, unknown>>([{}, { selftestData: s.rng.int(1000) }, { data: memArg(s).value }, { type: flagsArg(s) }]));
    keep(s.viommus, fdOf(s).allocViommu(deviceArg(s) as MockDevice, pickOr<unknown>(s, s.hwpts, () => hostileId(s.rng)) as Hwpt, o.value as never));
  }],
  ['fd.allocVdevice', (s) => keep(s.vdevices, fdOf(s).allocVdevice(viommuArg(s) as Viommu, deviceArg(s) as MockDevice, (s.rng.chance(0.7) ? s.rng.pick([1, 2n, 0x99]) : hostileU64(s.rng)) as bigint))],
  ['fd.allocHwpt(viommu)', (s) => keep(s.hwpts, fdOf(s).allocHwpt(deviceArg(s) as MockDevice, viommuArg(s) as Viommu, optionsArg(s, ['selftestIotlb', 'flags', 'data', 'fault'], () => ({ selftestIotlb: s.rng.int(3) })).value as never))],
  ['fd.allocVeventq', (s) => keep(s.veventqs, fdOf(s).allocVeventq(viommuArg(s) as Viommu, (s.rng.chance(0.1) ? undefined : optionsArg(s, ['depth', 'type', 'flags'], () => ({ depth: s.rng.pick([1, 2, 8]) })).value) as never))],
  ['fd.allocHwQueue', (s) => keep(s.hwQueues, fdOf(s).allocHwQueue(viommuArg(s) as Viommu, (s.rng.chance(0.1) ? undefined : optionsArg(s, ['index', 'iova', 'length', 'type', 'flags'], () => ({ index: s.rng.pick([0, 1]), iova: iovaArg(s), length: s.rng.pick([PAGE, 64, 0]) })).value) as never))],
  ['viommu.invalidate', (s) => call(target(s, s.viommus), 'invalidate', s.rng.pick<() => unknown>([
    () => [{ vdevId: countArg(s), cacheId: countArg(s), all: s.rng.chance(0.5) }],
    () => [{ vdevId: 1 }, { vdevId: 2, flags: flagsArg(s) }],
    () => ({ dataType: IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, entryLen: countArg(s), entries: memArg(s).value, entryNum: countArg(s) }),
    () => ({ dataType: flagsArg(s), entryLen: 12, entries: null, entryNum: countArg(s) }),
    () => [null],
    () => [{}],
    () => 'x',
  ])())],
  ['viommu.mmap', (s) => keep(s.viommuMappings, call(target(s, s.viommus), 'mmap', optionsArg(s, ['offset', 'length'], () => s.rng.pick<Record<string, unknown>>([{}, { offset: 0 }, { length: PAGE }, { offset: PAGE, length: 2 * PAGE }])).value) as ViommuMapping)],
  ['mapping.read32', (s) => call(target(s, s.viommuMappings), 'read32', s.rng.chance(0.7) ? s.rng.pick([0, 4, PAGE - 4, 2 * PAGE - 4, 2 * PAGE]) : hostileCount(s.rng))],
  ['mapping.unmap', (s) => call(target(s, s.viommuMappings), 'unmap')],
  ['viommu.destroy', (s) => call(target(s, s.viommus), 'destroy')],
  ['vdevice.destroy', (s) => call(target(s, s.vdevices), 'destroy')],
  ['hwQueue.destroy', (s) => call(target(s, s.hwQueues), 'destroy')],
  ['device.checkCache', (s) => call(target(s, s.devices), 'checkCache', countArg(s), s.rng.chance(0.7) ? s.rng.pick([0, 0xbaddad]) : countArg(s))],
  ['device.triggerVevent', (s) => call(target(s, s.devices), 'triggerVevent')],
  ['veventq.read', (s) => call(target(s, s.veventqs), 'read', ...(s.rng.chance(0.2) ? [] : [s.rng.chance(0.7) ? s.rng.pick([1, 64]) : hostileCount(s.rng)]), optionsArg(s, ['eventSize'], () => ({ eventSize: s.rng.pick([0, 4, 8]) })).value)],
  ['veventq.readInto', (s) => call(target(s, s.veventqs), 'readInto', s.rng.chance(0.5) ? new Uint8Array(s.rng.pick([0, 7, 8, 16, 64])) : memArg(s).value)],
  ['veventq.close', (s) => call(target(s, s.veventqs), 'close')],
  ['newFd', (s) => { if (s.fds.length < 3) { newIoas(s, keep(s.fds, openIommufd())); } }],
  ['fd.close', (s) => { if (s.rng.chance(0.3)) fdOf(s).close(); }],
];

function randomBytes(s: State): Uint8Array {
  const bytes = new Uint8Array(s.rng.pick([0, 4, 8, 24, 40, 64, 128]));
  for (let i = 0; i < bytes.length; i++) bytes[i] = s.rng.int(256);
  if (bytes.length >= 4 && s.rng.chance(0.7)) new DataView(bytes.buffer).setUint32(0, bytes.length, true);
  return bytes;
}

/** One record of a batch: typed ops with chosen arguments, or raw ops with any. */
function batchStep(s: State, b: import('../../lib/index.js').Batch, fd: Iommufd): void {
  const r = s.rng.int(7);
  if (r === 0) {
    const m = memArg(s);
    b.mapFixed(ioasArg(s) as Ioas, iovaArg(s) as bigint, m.value as never, optionsArg(s, MAP_KEYS, mapPlain(s)).value as never);
    untrackAll(s); // results come back as a batch: no shadow
  } else if (r === 1) {
    b.mapAnywhere(ioasArg(s) as Ioas, memArg(s).value as never);
    untrackAll(s);
  } else if (r === 2) b.unmap(ioasArg(s) as Ioas, iovaArg(s) as bigint, lengthArg(s) as bigint);
  else if (r === 3) {
    b.copy(ioasArg(s) as Ioas, ioasArg(s) as Ioas, iovaArg(s) as bigint, lengthArg(s) as bigint);
    untrackAll(s);
  }
  else if (r === 4) b.accessRw(pickOr<unknown>(s, s.accesses, () => null) as Access, iovaArg(s) as bigint, memArg(s).value as never, { write: s.rng.chance(0.5) });
  else if (r === 5) {
    const op = s.rng.chance(0.9) ? s.rng.pick(BACKEND_OPS) : s.rng.pick(['ioasMap', 'rawIoctl', 'close', 'runBatch', '__proto__', 'constructor', 'toString', 'nope']);
    b.raw(op, ...anyArgs(s));
    if (MAP_OPS.has(op) || op === 'rawIoctl') untrackAll(s);
  }
  else if (s.rng.chance(0.2)) fd.close(); // inside the build callback
  else b.raw('rawIoctl', ioctlRequest('IOMMU_DESTROY'), randomBytes(s));
}
