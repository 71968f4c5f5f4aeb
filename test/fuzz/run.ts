// Execute a sequence on one backend (Executor), or on the kernel and the
// simulator side by side, step by step (runPair), comparing every outcome.
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { type Backend, DmaBuffer, IommufdError, Iommufd, SIM_KERNELS, type SimKernel, type UserRange } from '../../lib/index.js';
import { MappingRefs } from '../../lib/memory/mapping-refs.js';
import { MemFile } from '../../lib/memory/mem-file.js';
import { DMABUF_OPEN_FLAGS } from '../../lib/api/mock-dmabuf.js';
import { fillPattern } from '../../lib/api/pattern.js';
import { setCapSysRawio } from '../../lib/api/process-caps.js';
import { IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_SET } from '../../lib/uapi/constants.js';
// Not ../backend.js: that one imports vitest, and `npm run fuzz` runs without it.
import { versionOf } from '../kernel-version.js';
import { BUF_SIZE, PAGE, SCRATCH_SIZE } from './generate.js';
import type { IovaExpr, Outcome, Ref, Step } from './steps.js';

const DEFAULT_TEMP_MEMORY_LIMIT = 65536;

/** The memory one backend maps and copies through; the same contents on both sides. */
export class Memory {
  readonly main: Uint8Array;
  readonly scratch = new Uint8Array(SCRATCH_SIZE);
  /** Keeps the native DmaBuffer alive for as long as the kernel may map it. */
  readonly #keep: DmaBuffer | undefined;

  constructor() {
    // 2 MiB aligned on both sides: the IOVA allocator keeps uptr alignment, and the
    // simulator sees the real alignment of the memory too.
    this.#keep = DmaBuffer.alloc(BUF_SIZE, { hugePages: 'transparent' });
    this.main = this.#keep.bytes;
    this.reset();
  }

  reset(): void {
    this.main.set(PRISTINE.main);
    this.scratch.set(PRISTINE.scratch);
  }

  resetScratch(): void {
    this.scratch.set(PRISTINE.scratch);
  }

  free(): void {
    this.#keep?.free();
  }
}

const PRISTINE = { main: new Uint8Array(BUF_SIZE), scratch: new Uint8Array(SCRATCH_SIZE) };
fillPattern(PRISTINE.main, 0x10f00d);
fillPattern(PRISTINE.scratch, 0x5c7a7c);

type Slot =
  | { kind: 'ioas'; id: number; refs: MappingRefs }
  | { kind: 'dev'; stdev: number; hwpt: number; idev: number }
  | { kind: 'hwpt'; id: number }
  | { kind: 'access'; handle: number; open: boolean }
  | { kind: 'fault'; id: number; handle: number; open: boolean }
  | { kind: 'veventq'; id: number; handle: number; open: boolean }
  | { kind: 'object'; id: number }
  | { kind: 'pages'; id: number }
  | { kind: 'iova'; iova: bigint }
  | { kind: 'file'; file: MemFile }
  | { kind: 'dmabuf'; fd: number; open: boolean };

class Skip extends Error {}

/** A short hash of a byte window: enough to tell two reads apart. */
function digest(bytes: Uint8Array): string {
  return `${bytes.length}:${createHash('sha1').update(bytes).digest('hex').slice(0, 16)}`;
}

/** Make a result JSON-comparable: bigints become strings, typed arrays arrays. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value === undefined) return null;
  if (value instanceof BigUint64Array) return Array.from(value, (v) => v.toString(16));
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

/** Runs steps, one at a time, on one backend. */
export class Executor {
  readonly fd: Iommufd;
  readonly backend: Backend;
  readonly memory: Memory;
  readonly #slots = new Map<number, Slot>();
  /** Whether a step wrote into the mapped memory (compare it at the end). */
  wrote = false;
  /**
   * The PASIDs (not the RID) attached, by selftest object id. A mock device destroyed with
   * PASIDs attached trips the kernel (iommufd_selftest_destroy() detaches only the RID, then
   * the idev cannot go: WARN, and the mock device is freed under it), so such a destroy is a
   * skip, and finish() detaches them before the fd closes.
   */
  readonly #pasids = new Map<number, Set<number>>();
  /** A step took CAP_SYS_RAWIO away: finish() gives it back. */
  #rawioChanged = false;
  /**
   * 7.3's mock is the generic AMDv1 page table: it joins physically contiguous pages into
   * larger IO pages, and dirty bits and MD_CHECK_MAP then follow where the kernel happened
   * to place the pages, which the simulator cannot know. With IOMMU_OPTION_HUGE_PAGES off
   * every IO page is one CPU page (7.3's own selftest does the same for dirty tracking).
   */
  readonly #cpuPagesOnly: boolean;

  constructor(fd: Iommufd, memory: Memory) {
    this.fd = fd;
    this.backend = fd.backend;
    this.memory = memory;
    this.#cpuPagesOnly = /^(sim-)?7\.3(\.|$)/.test(fd.capabilities().kernel);
  }

  #slot(s: number, kind: Slot['kind']): Slot {
    const slot = this.#slots.get(s);
    if (!slot || slot.kind !== kind) throw new Skip();
    return slot;
  }

  /** The id a reference names: any object kind, raw ids as given. */
  id(ref: Ref): number {
    if ('raw' in ref) return ref.raw;
    const slot = this.#slots.get(ref.s);
    if (!slot) throw new Skip();
    switch (slot.kind) {
      case 'ioas':
      case 'hwpt':
      case 'pages':
      case 'fault':
      case 'veventq':
      case 'object':
        return slot.id;
      case 'dev':
        return slot[ref.w ?? 'hwpt'];
      default:
        throw new Skip();
    }
  }

  iova(e: IovaExpr): bigint {
    if (typeof e === 'string') return BigInt(e);
    const slot = this.#slot(e.m, 'iova') as Extract<Slot, { kind: 'iova' }>;
    return BigInt.asUintN(64, slot.iova + BigInt(e.d));
  }

  access(s: number): number {
    const slot = this.#slot(s, 'access') as Extract<Slot, { kind: 'access' }>;
    // A closed access fd number may belong to something else by now: never reuse it.
    if (!slot.open) throw new Skip();
    return slot.handle;
  }

  fault(s: number): number {
    const slot = this.#slot(s, 'fault') as Extract<Slot, { kind: 'fault' }>;
    if (!slot.open) throw new Skip();
    return slot.handle;
  }

  veventq(s: number): number {
    const slot = this.#slot(s, 'veventq') as Extract<Slot, { kind: 'veventq' }>;
    if (!slot.open) throw new Skip();
    return slot.handle;
  }

  /**
   * The MemFiles an IOAS maps, as the typed API counts them (lib/memory/mapping-refs.ts): while
   * counted, MemFile.close()/resize() refuse (EBUSY) on both sides alike. Only file mappings
   * are counted (the main buffer is never freed during a run).
   */
  refs(ref: Ref): MappingRefs | undefined {
    if ('raw' in ref) return undefined;
    const slot = this.#slots.get(ref.s);
    return slot?.kind === 'ioas' ? slot.refs : undefined;
  }

  file(s: number): MemFile {
    return (this.#slot(s, 'file') as Extract<Slot, { kind: 'file' }>).file;
  }

  dmabuf(s: number): number {
    const slot = this.#slot(s, 'dmabuf') as Extract<Slot, { kind: 'dmabuf' }>;
    // A closed descriptor's number may belong to something else by now: never reuse it.
    if (!slot.open) throw new Skip();
    return slot.fd;
  }

  main(off: number, len: number): UserRange {
    return { bytes: this.memory.main, offset: off, length: len };
  }

  /** Run one step and say what it did. */
  run(step: Step): Outcome {
    try {
      return { ok: plain(this.#exec(step)) };
    } catch (e) {
      if (e instanceof Skip) return 'skip';
      if (e instanceof IommufdError) return { errno: e.code };
      return { throw: e instanceof Error ? e.name : String(e) };
    }
  }

  #exec(step: Step): unknown {
    const b = this.backend;
    switch (step.op) {
      case 'ioasAlloc': {
        const id = b.ioasAlloc();
        if (this.#cpuPagesOnly) b.option(IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_SET, id, 0n);
        this.#slots.set(step.s, { kind: 'ioas', id, refs: new MappingRefs() });
        return id;
      }
      case 'destroy': {
        const id = this.id(step.target);
        if (this.#pasids.get(id)?.size) throw new Skip();
        b.destroy(id);
        // An IOAS destroyed (by its step or a raw id): its mappings are gone.
        for (const slot of this.#slots.values()) if (slot.kind === 'ioas' && slot.id === id) slot.refs.forgetAll();
        return null;
      }
      case 'map': {
        const ioas = this.id(step.ioas);
        const iova = this.iova(step.iova);
        const got = b.ioasMap(ioas, step.flags, this.main(step.off, step.len), iova);
        this.#slots.set(step.s, { kind: 'iova', iova: got });
        return got;
      }
      case 'unmap': {
        const iova = this.iova(step.iova);
        const got = b.ioasUnmap(this.id(step.ioas), iova, BigInt(step.len));
        const refs = this.refs(step.ioas);
        if (BigInt(step.len) === (1n << 64n) - 1n && iova === 0n) refs?.forgetAll();
        else refs?.forgetInside(iova, BigInt(step.len));
        return got;
      }
      case 'copy': {
        const srcIova = this.iova(step.srcIova);
        const got = b.ioasCopy(this.id(step.dst), this.id(step.src), step.flags, this.iova(step.dstIova), srcIova, BigInt(step.len));
        this.#slots.set(step.s, { kind: 'iova', iova: got });
        // A copy of a file mapping holds the file too (as Ioas.copyFrom() counts it).
        const files = this.refs(step.src)?.overlapping(srcIova, BigInt(step.len)) ?? [];
        if (files.length) this.refs(step.dst)?.add(got, BigInt(step.len), files);
        return got;
      }
      case 'allowIovas':
        return b.ioasAllowIovas(this.id(step.ioas), step.ranges.map(([start, last]) => ({ start: BigInt(start), last: BigInt(last) })));
      case 'addReserved':
        return b.addReserved(this.id(step.ioas), BigInt(step.start), BigInt(step.len));
      case 'iovaRanges':
        return b.ioasIovaRanges(this.id(step.ioas));
      case 'mockDomain': {
        const ids = b.mockDomain(this.id(step.target), step.flags);
        this.#slots.set(step.s, { kind: 'dev', stdev: ids.stdevId, hwpt: ids.hwptId, idev: ids.idevId });
        return ids;
      }
      case 'replace': {
        const stdev = this.id(step.dev);
        const hwpt = b.mockDomainReplace(stdev, this.id(step.target));
        if (!('raw' in step.dev)) {
          const dev = this.#slots.get(step.dev.s);
          if (dev?.kind === 'dev') dev.hwpt = hwpt;
        }
        return hwpt;
      }
      case 'hwptAlloc': {
        let data: Uint8Array | null = null;
        if (step.iotlb !== undefined) {
          data = new Uint8Array(4);
          new DataView(data.buffer).setUint32(0, step.iotlb, true);
        }
        const fault = step.fault === undefined ? undefined : (this.#slot(step.fault, 'fault') as Extract<Slot, { kind: 'fault' }>);
        const id = b.hwptAlloc({
          flags: (step.flags | (fault ? 4 : 0)) >>> 0,
          devId: this.id(step.dev),
          ptId: this.id(step.parent),
          dataType: step.iotlb === undefined ? 0 : 0xdead,
          data,
          faultId: fault?.id ?? 0,
        });
        this.#slots.set(step.s, { kind: 'hwpt', id });
        return id;
      }
      case 'hwInfo': {
        const data = new Uint8Array(step.dataLen);
        const info = b.getHwInfo(this.id(step.dev), data);
        return { ...info, data };
      }
      case 'createAccess': {
        const handle = b.createAccess(this.id(step.ioas), step.flags);
        this.#slots.set(step.s, { kind: 'access', handle, open: true });
        return 'access'; // the handle is an fd number on the kernel: not comparable
      }
      case 'closeAccess': {
        const handle = this.access(step.access);
        (this.#slots.get(step.access) as Extract<Slot, { kind: 'access' }>).open = false;
        return b.closeAccess(handle);
      }
      case 'pin': {
        const access = this.access(step.access);
        const verify = step.verify === undefined ? null : this.main(step.verify, step.len);
        const id = b.accessPages(access, step.flags, this.iova(step.iova), step.len, verify);
        this.#slots.set(step.s, { kind: 'pages', id });
        return id;
      }
      case 'unpin':
        return b.destroyAccessPages(this.access(step.access), this.id(step.pages));
      case 'rw': {
        const access = this.access(step.access);
        const window = { bytes: this.memory.scratch, offset: step.off, length: step.len };
        if (step.flags & 1) this.wrote = true;
        b.accessRw(access, step.flags, this.iova(step.iova), window);
        return digest(this.memory.scratch.subarray(step.off, step.off + step.len));
      }
      case 'accessReplace':
        return b.accessReplaceIoas(this.access(step.access), this.id(step.ioas));
      case 'option':
        // Huge pages back on would bring physical contiguity into the answers (see #cpuPagesOnly).
        if (this.#cpuPagesOnly && step.option === IOMMU_OPTION_HUGE_PAGES && step.opOp === IOMMU_OPTION_OP_SET && BigInt(step.val) !== 0n) throw new Skip();
        return b.option(step.option, step.opOp, this.id(step.obj), BigInt(step.val));
      case 'setDirty':
        return b.hwptSetDirtyTracking(this.id(step.hwpt), step.enable);
      case 'getDirty': {
        const len = BigInt(step.len);
        const pageSize = BigInt(step.pageSize);
        const pages = pageSize === 0n ? 0n : (len + pageSize - 1n) / pageSize;
        // Past 2^20 pages, a one-word bitmap: the bounds check refuses it on both sides.
        const words = pages > 1n << 20n ? 1 : Number((pages + 63n) / 64n);
        const bitmap = new BigUint64Array(words);
        b.hwptGetDirtyBitmap(this.id(step.hwpt), step.flags, this.iova(step.iova), len, pageSize, bitmap);
        return bitmap;
      }
      case 'markDirty': {
        const len = BigInt(step.len);
        const pageSize = BigInt(step.pageSize);
        const pages = pageSize === 0n ? 0n : (len + pageSize - 1n) / pageSize;
        const bytes = pages > 1n << 20n ? 8 : Number((pages + 63n) / 64n) * 8;
        const bitmap = new Uint8Array(bytes);
        fillPattern(bitmap, step.bits);
        return b.dirty(this.id(step.hwpt), 0, this.iova(step.iova), len, pageSize, bitmap);
      }
      case 'checkMap':
        return b.mdCheckMap(this.id(step.hwpt), this.iova(step.iova), this.main(step.off, step.len));
      case 'checkRefs':
        return b.mdCheckRefs(this.main(step.off, step.len), step.refs);
      case 'checkIotlb':
        return b.mdCheckIotlb(this.id(step.hwpt), step.iotlbId, step.value);
      case 'invalidate': {
        const bytes = new Uint8Array(8 * step.entries.length);
        const view = new DataView(bytes.buffer);
        step.entries.forEach(([flags, id], i) => {
          view.setUint32(8 * i, flags, true);
          view.setUint32(8 * i + 4, id, true);
        });
        return b.hwptInvalidate(this.id(step.hwpt), 0xdeadbeef, 8, bytes, step.entries.length);
      }
      case 'tempLimit':
        return b.setTempMemoryLimit(step.bytes);
      case 'vfioIoas':
        return b.vfioIoas(step.vop, this.id(step.ioas));
      case 'faultAlloc': {
        const { faultId, faultFd } = b.faultQueueAlloc();
        this.#slots.set(step.s, { kind: 'fault', id: faultId, handle: faultFd, open: true });
        return faultId;
      }
      case 'iopf':
        return b.triggerIopf(this.id(step.dev), step.pasid, step.grpid, step.perm, BigInt(step.addr));
      case 'faultRead':
        return b.faultRead(this.fault(step.fault), step.max);
      case 'faultRespond':
        return b.faultRespond(this.fault(step.fault), step.responses.map(([cookie, code]) => ({ cookie, code })));
      case 'closeFault': {
        const handle = this.fault(step.fault);
        (this.#slots.get(step.fault) as Extract<Slot, { kind: 'fault' }>).open = false;
        return b.closeFault(handle);
      }
      case 'vfioExt':
        return b.vfioCheckExtension(step.ext);
      case 'vfioSetIommu':
        return b.vfioSetIommu(step.type);
      case 'vfioInfo':
        return b.vfioIommuGetInfo();
      case 'vfioMap': {
        const iova = this.iova(step.iova);
        b.vfioMapDma(step.flags, this.main(step.off, step.len), iova);
        this.#slots.set(step.s, { kind: 'iova', iova });
        return null;
      }
      case 'vfioUnmap':
        return b.vfioUnmapDma(step.flags, this.iova(step.iova), BigInt(step.len));
      case 'viommuAlloc': {
        let data: Uint8Array | null = null;
        if (step.inData !== undefined) {
          data = new Uint8Array(24); // struct iommu_viommu_selftest
          new DataView(data.buffer).setUint32(0, step.inData, true);
        }
        const id = b.viommuAlloc({ flags: 0, type: step.type, devId: this.id(step.dev), hwptId: this.id(step.hwpt), data });
        this.#slots.set(step.s, { kind: 'object', id });
        return { id, data };
      }
      case 'vdeviceAlloc': {
        const id = b.vdeviceAlloc(this.id(step.viommu), this.id(step.dev), BigInt(step.virtId));
        this.#slots.set(step.s, { kind: 'object', id });
        return id;
      }
      case 'viommuInvalidate': {
        const bytes = new Uint8Array(12 * step.entries.length);
        const view = new DataView(bytes.buffer);
        step.entries.forEach(([flags, vdevId, cacheId], i) => {
          view.setUint32(12 * i, flags, true);
          view.setUint32(12 * i + 4, vdevId, true);
          view.setUint32(12 * i + 8, cacheId, true);
        });
        return b.hwptInvalidate(this.id(step.viommu), 0xdeadbeef, 12, bytes, step.entries.length);
      }
      case 'checkCache':
        return b.devCheckCache(this.id(step.dev), step.cacheId, step.value);
      case 'veventqAlloc': {
        const { veventqId, veventqFd } = b.veventqAlloc(0, this.id(step.viommu), 0xbeefbeef, step.depth);
        this.#slots.set(step.s, { kind: 'veventq', id: veventqId, handle: veventqFd, open: true });
        return veventqId; // the fd number is not comparable
      }
      case 'triggerVevent':
        return b.triggerVevent(this.id(step.dev));
      case 'veventqRead': {
        const bytes = new Uint8Array(step.len);
        const done = b.veventqRead(this.veventq(step.veventq), bytes);
        return bytes.subarray(0, done);
      }
      case 'closeVeventq': {
        const handle = this.veventq(step.veventq);
        (this.#slots.get(step.veventq) as Extract<Slot, { kind: 'veventq' }>).open = false;
        return b.closeVeventq(handle);
      }
      case 'hwQueueAlloc': {
        const id = b.hwQueueAlloc({ flags: 0, viommuId: this.id(step.viommu), type: 0xdeadbeef, index: step.index, nestingParentIova: this.iova(step.iova), length: BigInt(step.len) });
        this.#slots.set(step.s, { kind: 'object', id });
        return id;
      }
      case 'memFile': {
        // A real memfd on both sides: the kernel pins its pages, the simulator reads its view.
        const file = MemFile.create(PAGE * step.pages);
        if (step.pages) fillPattern(file.bytes, 0xf11e0000 + step.s);
        this.#slots.set(step.s, { kind: 'file', file });
        return file.length;
      }
      case 'fileResize': {
        const file = this.file(step.file);
        file.resize(PAGE * step.pages); // EBUSY while an IOAS maps it
        return file.length;
      }
      case 'fileClose':
        this.file(step.file).close(); // EBUSY while an IOAS maps it
        return null;
      case 'fileDigest':
        // What the device wrote through a file mapping is in the file's pages.
        return digest(this.file(step.file).bytes);
      case 'mapFile': {
        const ioas = this.id(step.ioas);
        const iova = this.iova(step.iova);
        let ref: { fd: number; bytes: Uint8Array | null };
        let file: MemFile | undefined;
        // A descriptor number that is no open file (valid as a number: the Backend contract
        // leaves negative ones to the typed API's argument checks).
        if (step.file < 0) ref = { fd: 0x7ffffff0, bytes: null };
        else if (this.#slots.get(step.file)?.kind === 'dmabuf') ref = { fd: this.dmabuf(step.file), bytes: null };
        else {
          file = this.file(step.file);
          // As Ioas.mapFile() passes them: an empty file has no view.
          ref = { fd: file.fd ?? -1, bytes: file.length === 0 ? new Uint8Array(0) : file.bytes };
        }
        const got = b.ioasMapFile(ioas, step.flags, ref, BigInt(step.start), BigInt(step.len), iova);
        this.#slots.set(step.s, { kind: 'iova', iova: got });
        if (file) this.refs(step.ioas)?.add(got, BigInt(step.len), file);
        return got;
      }
      case 'checkMapFile': {
        const file = this.file(step.file);
        return b.mdCheckMap(this.id(step.hwpt), this.iova(step.iova), { bytes: file.bytes, offset: step.off, length: step.len });
      }
      case 'changeProcess':
        return b.ioasChangeProcess();
      case 'dmabufGet': {
        const fd = b.dmabufGet(step.len, DMABUF_OPEN_FLAGS);
        this.#slots.set(step.s, { kind: 'dmabuf', fd, open: true });
        return 'dmabuf'; // the descriptor number is not comparable
      }
      case 'dmabufRevoke':
        return b.dmabufRevoke(this.dmabuf(step.dmabuf), step.revoked);
      case 'dmabufClose': {
        const fd = this.dmabuf(step.dmabuf);
        (this.#slots.get(step.dmabuf) as Extract<Slot, { kind: 'dmabuf' }>).open = false;
        return b.closeDmabuf(fd);
      }
      case 'pasidAttach': {
        const stdev = this.id(step.dev);
        const id = b.pasidAttach(stdev, step.pasid, this.id(step.pt));
        if (step.pasid !== 0) this.#pasids.set(stdev, (this.#pasids.get(stdev) ?? new Set()).add(step.pasid));
        return id;
      }
      case 'pasidReplace':
        return b.pasidReplace(this.id(step.dev), step.pasid, this.id(step.pt));
      case 'pasidDetach': {
        const stdev = this.id(step.dev);
        b.pasidDetach(stdev, step.pasid);
        this.#pasids.get(stdev)?.delete(step.pasid);
        return null;
      }
      case 'pasidCheck':
        return b.pasidCheckHwpt(this.id(step.dev), step.pasid, this.id(step.hwpt));
      case 'noiommuGetPa':
        return b.ioasNoiommuGetPa(this.id(step.ioas), step.flags ?? 0, this.iova(step.iova), BigInt(step.len), step.reserved ?? 0);
      case 'capRawio':
        this.#rawioChanged = true;
        setCapSysRawio(step.on);
        return null;
    }
  }

  /** Detach the PASIDs, give CAP_SYS_RAWIO back, close every open access, then the fd; put the global temp memory limit back. */
  finish(): void {
    for (const [stdev, pasids] of this.#pasids) {
      for (const pasid of pasids) {
        try {
          this.backend.pasidDetach(stdev, pasid);
        } catch {
          // best effort, like the rest of the cleanup
        }
      }
    }
    this.#pasids.clear();
    if (this.#rawioChanged) {
      this.#rawioChanged = false;
      try {
        setCapSysRawio(true);
      } catch {
        // no addon (the sequence's own capRawio steps failed alike)
      }
    }
    for (const slot of this.#slots.values()) {
      if ((slot.kind !== 'access' && slot.kind !== 'fault' && slot.kind !== 'veventq') || !slot.open) continue;
      slot.open = false;
      try {
        if (slot.kind === 'access') this.backend.closeAccess(slot.handle);
        else if (slot.kind === 'veventq') this.backend.closeVeventq(slot.handle);
        else this.backend.closeFault(slot.handle);
      } catch {
        // already gone with its IOAS? closing is best effort
      }
    }
    try {
      this.backend.setTempMemoryLimit(DEFAULT_TEMP_MEMORY_LIMIT);
    } catch {
      // the fd may be unusable after a divergence; the next sequence resets again
    }
    this.fd.close();
    // Nothing maps the files now: release them, then close them and the dma-bufs.
    for (const slot of this.#slots.values()) if (slot.kind === 'ioas') slot.refs.forgetAll();
    for (const slot of this.#slots.values()) {
      try {
        if (slot.kind === 'file') slot.file.close();
        else if (slot.kind === 'dmabuf' && slot.open) {
          slot.open = false;
          this.backend.closeDmabuf(slot.fd);
        }
      } catch {
        // best effort, like the rest of the cleanup
      }
    }
  }
}

/** Replay `steps` on `fd` (one backend) and return every outcome; the last entry digests the memory. */
export function replay(fd: Iommufd, steps: Step[], memory = new Memory()): Outcome[] {
  const exec = new Executor(fd, memory);
  const outcomes = steps.map((step) => exec.run(step));
  exec.finish();
  outcomes.push({ ok: { main: digest(memory.main), scratch: digest(memory.scratch) } });
  memory.reset();
  return outcomes;
}

export interface Divergence {
  /** Index into `steps` (steps.length: the memory compared after the last step). */
  index: number;
  step: Step | { op: 'memory' };
  native: Outcome;
  sim: Outcome;
}

export interface PairResult {
  /** Steps run on both (up to and including a divergence). */
  steps: number;
  divergence: Divergence | null;
  /** Both outcome lists, as far as they ran. */
  outcomes: { native: Outcome[]; sim: Outcome[] };
}

/** Shared memory for a run of many sequences (allocating 4 MiB per sequence is slow under TCG). */
export interface PairMemory {
  native: Memory;
  sim: Memory;
}

export function pairMemory(): PairMemory {
  return { native: new Memory(), sim: new Memory() };
}

/** The simulator's model of a running kernel's release ('7.3.4' -> '7.3'). */
export function simKernelFor(release: string): SimKernel {
  const version = versionOf(release);
  if (!(SIM_KERNELS as readonly string[]).includes(version))
    throw new Error(`the simulator has no model of kernel ${release} (it models ${SIM_KERNELS.join(', ')})`);
  return version as SimKernel;
}

const same = (a: Outcome, b: Outcome): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Run `steps` on the kernel and the simulator in lockstep; stop at the first difference. */
export function runPair(steps: Step[], memory: PairMemory): PairResult {
  const nativeFd = Iommufd.open({ backend: 'native' });
  const native = new Executor(nativeFd, memory.native);
  // The simulator answers like the kernel it is compared with.
  const sim = new Executor(Iommufd.open({ backend: 'sim', kernel: simKernelFor(nativeFd.capabilities().kernel) }), memory.sim);
  const outcomes = { native: [] as Outcome[], sim: [] as Outcome[] };
  let divergence: Divergence | null = null;
  let ran = 0;
  try {
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      const a = native.run(step);
      const b = sim.run(step);
      outcomes.native.push(a);
      outcomes.sim.push(b);
      ran++;
      if (!same(a, b)) {
        divergence = { index: i, step, native: a, sim: b };
        break;
      }
    }
  } finally {
    native.finish();
    sim.finish();
  }
  if (!divergence && (native.wrote || sim.wrote)) {
    // After the fd closed nothing maps the memory: what the device wrote must be equal.
    if (Buffer.compare(memory.native.main, memory.sim.main) !== 0) {
      const at = memory.native.main.findIndex((v, i) => v !== memory.sim.main[i]);
      divergence = {
        index: steps.length,
        step: { op: 'memory' },
        native: { ok: { firstDifference: at, byte: memory.native.main[at] } },
        sim: { ok: { firstDifference: at, byte: memory.sim.main[at] } },
      };
    }
  }
  if (native.wrote || sim.wrote || divergence) {
    memory.native.reset();
    memory.sim.reset();
  } else {
    // rw reads only touched the scratch buffers
    memory.native.resetScratch();
    memory.sim.resetScratch();
  }
  return { steps: ran, divergence, outcomes };
}
