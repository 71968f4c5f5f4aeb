// A seeded generator of random operation sequences over the whole iommufd
// surface the simulator models: IOAS map/unmap/copy (fixed and automatic IOVAs,
// odd lengths and alignments, values near and past 2^64), allowed and reserved
// ranges, mock domains (with flags) and replace, HWPT allocation (nest parent,
// dirty tracking, nested selftest HWPTs), accesses (pin/rw/unpin/replace),
// IOMMU_OPTION, dirty tracking, the mock's checks, destroy of random ids, and
// bad arguments on purpose; where the kernel has them (7.3), file mappings, the
// mock's dma-buf, the PASID test ops and IOMMU_IOAS_NOIOMMU_GET_PA. The generator
// keeps a rough model of what exists (assuming every step succeeds) only to make
// references likely to hit.
import { type IovaExpr, type Ref, Rng, type Step, type StepBody, type U64 } from './steps.js';

export const PAGE = 4096;
export const HPAGE = 2 * 1024 * 1024;
/** The mapped user memory, one per backend (2 MiB aligned on both). */
export const BUF_SIZE = 4 * 1024 * 1024;
/** The memory access rw copies to and from. */
export const SCRATCH_SIZE = 64 * 1024;

const U64_MAX = (1n << 64n) - 1n;
const APERTURE_START = 1n << 24n;
const APERTURE_LAST = (1n << 31n) - 1n;

export interface GenerateOptions {
  /** Steps per sequence (before the forced first IOAS); default 32. */
  length?: number;
  /** Leave out IOMMU_TEST_OP_MD_CHECK_REFS (when THP cannot be turned off on the kernel side). */
  noCheckRefs?: boolean;
  /**
   * What the kernel under test has beyond 6.12 (fd.capabilities()): IOMMU_IOAS_MAP_FILE
   * (MemFile mappings, CHANGE_PROCESS) and the mock's dma-buf (DMABUF_GET/REVOKE). Steps for
   * them are generated only when set; without them the sequences are what they were before
   * (the choices that would pick them have weight 0 and draw nothing).
   */
  mapFile?: boolean;
  dmabuf?: boolean;
  /** 7.3's PASID test ops (PASID_ATTACH/REPLACE/DETACH/CHECK_HWPT). */
  pasid?: boolean;
  /** IOMMU_IOAS_NOIOMMU_GET_PA. */
  noiommu?: boolean;
  /** CAP_SYS_RAWIO toggles (the process has it, and can take it back). */
  rawio?: boolean;
}

interface Model {
  ioas: number[];
  devs: number[];
  hwpts: number[];
  nestParents: number[];
  nested: number[];
  accesses: number[];
  accessIoas: Map<number, string>;
  pins: { s: number; access: number }[];
  maps: { s: number; len: number; ioas: string; off: number }[];
  /** MemFile steps, with their size in pages as generated (before any resize). */
  files: { s: number; pages: number }[];
  /** dma-buf steps, with their size in bytes (whole pages, as the mock rounds). */
  dmabufs: { s: number; len: number }[];
  /** mapFile steps of a MemFile: which file, from where, how long. */
  fileMaps: { s: number; file: number; start: number; len: number }[];
  /** PASIDs the PASID steps used so far (to attach, replace, detach the same ones again). */
  pasids: number[];
}

const u = (v: bigint | number): U64 => BigInt(v).toString();

/** One random sequence, reproducible from `seed`. */
export function generate(seed: number, options: GenerateOptions = {}): Step[] {
  const rng = new Rng(seed);
  const length = options.length ?? 32;
  const m: Model = { ioas: [], devs: [], hwpts: [], nestParents: [], nested: [], accesses: [], accessIoas: new Map(), pins: [], maps: [], files: [], dmabufs: [], fileMaps: [], pasids: [] };
  const steps: Step[] = [];
  const push = (step: StepBody): number => {
    const s = steps.length;
    steps.push({ s, ...step } as Step);
    return s;
  };

  // ---- value choices ---------------------------------------------------------------

  const rawId = (): Ref => ({ raw: rng.weighted([[8, rng.int(24)], [1, 0xffffffff], [1, 1 << rng.int(31)]]) });
  const ref = (list: number[], w?: 'stdev' | 'hwpt' | 'idev'): Ref => {
    if (list.length === 0 || rng.chance(0.06)) return rawId();
    const s = rng.chance(0.6) ? list[list.length - 1]! : rng.pick(list);
    return w ? { s, w } : { s };
  };
  const ioasRef = () => ref(m.ioas);
  const idevRef = () => ref(m.devs, 'idev');
  /** A HWPT: an allocated one or a mock device's current one. */
  const hwptRef = (): Ref => {
    if (m.hwpts.length && (m.devs.length === 0 || rng.chance(0.5))) return ref(m.hwpts);
    return ref(m.devs, 'hwpt');
  };
  const pageCount = (): number => rng.weighted([[6, 1 + rng.int(4)], [3, 1 + rng.int(32)], [1, 1 + rng.int(1024)]]);
  const hugeValue = (): bigint =>
    rng.pick([U64_MAX, U64_MAX - BigInt(PAGE) + 1n, U64_MAX - 1n, 1n << 63n, (1n << 63n) - 1n, 1n << 62n, 1n << 48n, 1n << 32n, U64_MAX - BigInt(HPAGE) + 1n]);

  const iova = (): IovaExpr => {
    const kind = rng.weighted<string>([
      [30, 'aperture'],
      [m.maps.length ? 25 : 0, 'relative'],
      [10, 'low'],
      [8, 'hpage'],
      [8, 'unaligned'],
      [6, 'huge'],
      [m.maps.length ? 5 : 0, 'relativeOdd'],
      [3, 'apertureEnd'],
      [2, 'random'],
    ]);
    switch (kind) {
      case 'aperture':
        return u(APERTURE_START + BigInt(PAGE * rng.int(64)));
      case 'relative': {
        const map = rng.chance(0.6) ? m.maps[m.maps.length - 1]! : rng.pick(m.maps);
        const pages = Math.max(1, Math.ceil(map.len / PAGE));
        return { m: map.s, d: String(PAGE * (rng.int(pages + 3) - 1)) };
      }
      case 'low':
        return u(PAGE * rng.int(16));
      case 'hpage':
        return u(BigInt(HPAGE) * BigInt(rng.int(1024)));
      case 'unaligned':
        return u(APERTURE_START + BigInt(PAGE * rng.int(16)) + BigInt(rng.pick([1, 0x800, PAGE - 1, 512])));
      case 'huge':
        return u(hugeValue());
      case 'relativeOdd':
        return { m: rng.pick(m.maps).s, d: String(rng.pick([1, -1, 0x800, -PAGE, PAGE - 1])) };
      case 'random':
        return u((BigInt(rng.u32()) << 32n) | BigInt(rng.u32()));
      default:
        return u(APERTURE_LAST + 1n - BigInt(PAGE * rng.int(4)));
    }
  };
  const len64 = (): U64 =>
    u(
      rng.weighted<bigint>([
        [50, BigInt(PAGE * pageCount())],
        [8, BigInt(rng.pick([HPAGE, 2 * HPAGE]))],
        [10, BigInt(rng.pick([0, 1, PAGE - 1, PAGE + 1]))],
        [8, hugeValue()],
        [2, (BigInt(rng.u32() >>> rng.int(32)) << 32n) | BigInt(rng.u32())],
      ]),
    );
  /** A window [off, off + len) of the mapped buffer. */
  const window = (aligned = false): { off: number; len: number } => {
    const off = rng.weighted<number>([
      [30, 0],
      [55, PAGE * rng.int(BUF_SIZE / PAGE)],
      [aligned ? 0 : 15, PAGE * rng.int(64) + rng.pick([1, 100, 0x800, PAGE - 1])],
    ]);
    let len = rng.weighted<number>([
      [60, PAGE * pageCount()],
      [12, HPAGE],
      [aligned ? 2 : 6, 0],
      [aligned ? 0 : 12, PAGE * rng.int(8) + rng.pick([1, 0x800, PAGE - 1])],
    ]);
    // Mostly inside the buffer; sometimes past its end on purpose (refused before the ioctl).
    if (off + len > BUF_SIZE && !rng.chance(0.03)) len = Math.max(0, BUF_SIZE - off);
    return { off, len };
  };
  const mapFlags = (fixed: boolean): number =>
    rng.weighted<number>([
      [90, (fixed ? 1 : 0) | 2 | 4],
      [3, (fixed ? 1 : 0) | 4],
      [2, (fixed ? 1 : 0) | 2],
      [2, fixed ? 1 : 0],
      [3, ((fixed ? 1 : 0) | 6 | (1 << (3 + rng.int(28)))) >>> 0],
    ]);
  /** Mostly an IOVA inside a mapping of the access's IOAS with room for `len` bytes. */
  const inside = (a: number, len: number): IovaExpr => {
    const maps = m.maps.filter((x) => x.ioas === m.accessIoas.get(a));
    if (!maps.length || rng.chance(0.2)) return iova();
    const map = rng.pick(maps);
    const room = Math.max(0, map.len - len);
    const d = rng.chance(0.5) ? 0 : rng.chance(0.7) ? PAGE * rng.int(Math.floor(room / PAGE) + 1) : rng.int(room + 1);
    return { m: map.s, d: String(d) };
  };
  const access = (): number | undefined => (m.accesses.length ? rng.pick(m.accesses) : undefined);
  /**
   * A PASID: mostly a small one (often one used before), sometimes 1024 (the mock fakes
   * ENOMEM on every second set_dev_pasid of it), the width's edge (2^20), past it, or the RID.
   */
  const pasidValue = (): number => {
    if (m.pasids.length && rng.chance(0.6)) return rng.pick(m.pasids);
    const pasid = rng.weighted<number>([[12, 1 + rng.int(4)], [2, 1024], [1, rng.pick([2 ** 20 - 1, 2 ** 20, 0xffffffff])], [1, 0]]);
    if (!m.pasids.includes(pasid)) m.pasids.push(pasid);
    return pasid;
  };
  /** One PASID op on `dev` (a selftest object), against `pt()` targets. */
  const pasidStep = (dev: Ref, pt: () => Ref): void => {
    const pasid = pasidValue();
    switch (rng.weighted<string>([[4, 'attach'], [3, 'replace'], [2, 'detach'], [4, 'check']])) {
      case 'attach':
        push({ op: 'pasidAttach', dev, pasid, pt: pt() });
        break;
      case 'replace':
        push({ op: 'pasidReplace', dev, pasid, pt: pt() });
        break;
      case 'detach':
        push({ op: 'pasidDetach', dev, pasid });
        break;
      default:
        push({ op: 'pasidCheck', dev, pasid, hwpt: rng.chance(0.2) ? { raw: 0 } : pt() });
    }
  };
  /** NOIOMMU_GET_PA: mostly at or near a mapping, of odd lengths, sometimes bad flags. */
  const noiommuStep = (ioas: Ref): void => {
    const map = m.maps.length && rng.chance(0.6) ? rng.pick(m.maps) : undefined;
    const at: IovaExpr = map ? { m: map.s, d: String(rng.pick([0, 0, PAGE, 1, map.len, -PAGE])) } : iova();
    const len = rng.weighted<U64>([[6, u(PAGE * pageCount())], [2, u(rng.pick([1, PAGE - 1, 0]))], [1, u(hugeValue())]]);
    const bad = rng.weighted<{ flags?: number; reserved?: number }>([[18, {}], [1, { flags: 1 << rng.int(32) }], [1, { reserved: 1 + rng.int(0xffff) }]]);
    push({ op: 'noiommuGetPa', ioas, iova: at, len, ...bad });
  };

  // ---- the sequence ----------------------------------------------------------------

  // The rlimit mode can only change while the context holds no objects: sometimes first.
  if (rng.chance(0.1)) push({ op: 'option', option: 0, opOp: 0, obj: { raw: 0 }, val: u(rng.weighted<number>([[4, 1], [2, 0], [1, 2]])) });
  m.ioas.push(push({ op: 'ioasAlloc' }));
  // Often a mock domain right away: later automatic IOVAs then land in its aperture.
  if (rng.chance(0.5)) m.devs.push(push({ op: 'mockDomain', target: { s: m.ioas[0]! } }));
  // ---- files and dma-bufs (7.3) ---------------------------------------------------

  const newFile = (pages: number): number => {
    const s = push({ op: 'memFile', pages });
    m.files.push({ s, pages });
    return s;
  };
  const newDmabuf = (): { s: number; len: number } => {
    // The mock takes 1 to 512 pages (the length rounded up), else EINVAL.
    const len = rng.weighted<number>([[8, PAGE * (1 + rng.int(8))], [2, PAGE * rng.int(4) + rng.pick([1, 100, PAGE - 1])], [1, rng.pick([0, 512 * PAGE, 512 * PAGE + 1, 2 ** 31])]]);
    const s = push({ op: 'dmabufGet', len });
    const d = { s, len: Math.ceil(len / PAGE) * PAGE };
    m.dmabufs.push(d);
    return d;
  };
  /** Offset and length in a file of `size` bytes: mostly whole pages inside it, sometimes not. */
  const fileRange = (size: number, good: boolean): { start: bigint; len: bigint } => {
    const pages = Math.floor(size / PAGE);
    if (good && pages > 0) {
      const first = rng.int(pages);
      return { start: BigInt(PAGE * first), len: BigInt(PAGE * (1 + rng.int(pages - first))) };
    }
    return rng.weighted<{ start: bigint; len: bigint }>([
      [4, { start: 0n, len: BigInt(size + PAGE * (1 + rng.int(4))) }], // past the end
      [3, { start: BigInt(PAGE * (pages + rng.int(3))), len: BigInt(PAGE) }], // starts at or past the end
      [3, { start: BigInt(rng.pick([1, 0x800, PAGE - 1, PAGE + 512])), len: BigInt(PAGE * (1 + rng.int(2))) }], // unaligned start
      [2, { start: 0n, len: BigInt(rng.pick([0, 1, PAGE - 1, PAGE + 1])) }], // odd lengths
      [2, { start: 0n, len: hugeValue() }],
      [1, { start: hugeValue(), len: BigInt(PAGE) }],
    ]);
  };
  /** mapFile of MemFile `file` (`pages` at creation) into `ioas`: fixed or automatic IOVA. */
  const mapFileStep = (ioas: Ref, file: number, pages: number, good: boolean): { s: number; len: number } => {
    const { start, len } = fileRange(PAGE * pages, good || rng.chance(0.8));
    const fixed = rng.chance(0.5);
    const at: IovaExpr = fixed ? (rng.chance(0.9) ? u(APERTURE_START + BigInt(PAGE * rng.int(512)) + (start % BigInt(PAGE))) : iova()) : '0';
    const s = push({ op: 'mapFile', ioas, flags: rng.chance(0.9) ? mapFlags(fixed) : rng.pick([fixed ? 1 : 0, (fixed ? 1 : 0) | 2, (fixed ? 1 : 0) | 4, (6 | (1 << (3 + rng.int(28)))) >>> 0]), file, start: u(start), len: u(len), iova: at });
    const n = len > BigInt(BUF_SIZE) ? BUF_SIZE : Number(len);
    m.maps.push({ s, len: n, ioas: JSON.stringify(ioas), off: -1 });
    if (start < BigInt(PAGE * 1024)) m.fileMaps.push({ s, file, start: Number(start), len: n });
    return { s, len: n };
  };
  /** mapFile of dma-buf `d` into `ioas`: all of it from offset 0 mostly, else a part or too much. */
  const mapDmabufStep = (ioas: Ref, d: { s: number; len: number }): number => {
    const { start, len } = rng.chance(0.7) ? { start: 0n, len: BigInt(d.len) } : fileRange(d.len, rng.chance(0.5));
    const fixed = rng.chance(0.5);
    const s = push({ op: 'mapFile', ioas, flags: mapFlags(fixed), file: d.s, start: u(start), len: u(len), iova: fixed ? u(APERTURE_START + BigInt(PAGE * rng.int(512))) : '0' });
    m.maps.push({ s, len: len > BigInt(BUF_SIZE) ? BUF_SIZE : Number(len), ioas: JSON.stringify(ioas), off: -1 });
    return s;
  };
  /** MD_CHECK_MAP of a window of a file mapping against the file's own bytes. */
  const checkFileStep = (hwpt: Ref, map: { s: number }): void => {
    const fm = m.fileMaps.find((x) => x.s === map.s) ?? (m.fileMaps.length ? rng.pick(m.fileMaps) : undefined);
    if (!fm) return;
    const d = PAGE * rng.int(Math.max(1, Math.floor(fm.len / PAGE)));
    const len = Math.max(0, Math.min(fm.len - d, PAGE * (1 + rng.int(4))));
    push({ op: 'checkMapFile', hwpt, iova: { m: fm.s, d: String(d) }, file: fm.file, off: fm.start + d, len });
  };

  /** Coherent chains of steps that random single steps rarely line up. */
  const macro = (): void => {
    const ioas = ioasRef();
    const ioasKey = JSON.stringify(ioas);
    const mapHere = (pages: number): number => {
      const off = PAGE * rng.int(BUF_SIZE / PAGE - pages);
      const len = PAGE * pages;
      const fixed = rng.chance(0.5);
      const s = push({ op: 'map', ioas, flags: fixed ? 7 : 6, iova: fixed ? u(APERTURE_START + BigInt(PAGE * rng.int(512))) : '0', off, len });
      m.maps.push({ s, len, ioas: ioasKey, off });
      return s;
    };
    switch (rng.weighted<string>([[3, 'dirty'], [2, 'nested'], [3, 'access'], [1, 'copy'], [2, 'vfio'], [2, 'fault'], [2, 'viommu'], [options.mapFile ? 3 : 0, 'file'], [options.dmabuf ? 3 : 0, 'dmabuf'], [options.pasid ? 3 : 0, 'pasid'], [options.noiommu ? 1 : 0, 'noiommu']])) {
      case 'pasid': {
        // A PASID-capable mock device (sometimes not), HWPTs with and without
        // IOMMU_HWPT_ALLOC_PASID (paging, nest parents, nested), the RID moved onto one (on
        // its automatic domain, which is never PASID-compatible, every PASID attach is
        // EINVAL), then PASIDs attached, replaced, checked and detached, with the failures on
        // the way: attached twice, an IOAS, a HWPT without the flag, the RID moved off a
        // compatible HWPT while PASIDs are attached, a HWPT destroyed while in use.
        const dev = push({ op: 'mockDomain', target: ioas, flags: rng.chance(0.85) ? 4 : rng.pick([0, 5]) });
        m.devs.push(dev);
        const idev: Ref = { s: dev, w: 'idev' };
        const stdev: Ref = { s: dev, w: 'stdev' };
        const targets: Ref[] = [];
        for (let k = 1 + rng.int(3); k > 0; k--) {
          const flags = rng.weighted<number>([[6, 8], [2, 0], [1, 9], [1, 10]]);
          const s = push({ op: 'hwptAlloc', dev: idev, parent: ioas, flags });
          m.hwpts.push(s);
          targets.push({ s });
          if (flags & 1) {
            m.nestParents.push(s);
            if (rng.chance(0.6)) {
              const n = push({ op: 'hwptAlloc', dev: idev, parent: { s }, flags: rng.chance(0.8) ? 8 : 0, iotlb: 0 });
              m.hwpts.push(n);
              m.nested.push(n);
              targets.push({ s: n });
            }
          }
        }
        if (rng.chance(0.7)) push({ op: 'replace', dev: stdev, target: rng.pick(targets) });
        const pt = (): Ref => rng.weighted<Ref>([[10, rng.pick(targets)], [1, ioas], [1, { s: dev, w: 'hwpt' }], [0.5, rawId()]]);
        for (let k = 2 + rng.int(7); k > 0; k--) {
          const what = rng.weighted<string>([[12, 'op'], [1, 'rid'], [1, 'destroy'], [1, 'iopf']]);
          if (what === 'rid') push({ op: 'replace', dev: stdev, target: rng.chance(0.8) ? rng.pick(targets) : ioas });
          else if (what === 'destroy') push({ op: 'destroy', target: rng.pick(targets) });
          else if (what === 'iopf') push({ op: 'iopf', dev: idev, pasid: pasidValue(), grpid: rng.int(4), perm: rng.int(4), addr: u(APERTURE_START) });
          else pasidStep(stdev, pt);
        }
        // Mostly detached again at the end (the executor never destroys a device with
        // PASIDs attached, and detaches them before the fd closes).
        if (rng.chance(0.7)) for (const pasid of m.pasids) push({ op: 'pasidDetach', dev: stdev, pasid });
        break;
      }
      case 'noiommu': {
        // NOIOMMU_GET_PA of a mapping in an IOAS with or without a mock domain (EOPNOTSUPP:
        // no no-IOMMU device), past it (ENOENT), of bad lengths and IOVAs; maybe without
        // CAP_SYS_RAWIO (EPERM), which comes back.
        if (rng.chance(0.5)) m.devs.push(push({ op: 'mockDomain', target: ioas }));
        const pages = 1 + rng.int(8);
        const map = mapHere(pages);
        const off = options.rawio && rng.chance(0.3);
        if (off) push({ op: 'capRawio', on: false });
        push({ op: 'noiommuGetPa', ioas, iova: { m: map, d: String(PAGE * rng.int(pages)) }, len: u(PAGE * (1 + rng.int(pages))) });
        if (off) push({ op: 'capRawio', on: true });
        for (let k = rng.int(3); k > 0; k--) noiommuStep(ioas);
        if (rng.chance(0.3)) push({ op: 'unmap', ioas, iova: { m: map, d: '0' }, len: u(PAGE * pages) });
        if (rng.chance(0.5)) push({ op: 'noiommuGetPa', ioas, iova: { m: map, d: '0' }, len: u(PAGE) });
        break;
      }
      case 'file': {
        // A MemFile mapped (maybe at once into a mock domain, which pins it), read and
        // written through an access, checked in the domain, closed/resized while mapped
        // (EBUSY), unmapped, then resized and mapped again past its new end.
        const pages = rng.weighted<number>([[6, 1 + rng.int(8)], [1, 0], [1, 16 + rng.int(48)]]);
        const file = newFile(pages);
        let dev: number | undefined;
        if (rng.chance(0.5)) m.devs.push((dev = push({ op: 'mockDomain', target: ioas })));
        const map = mapFileStep(ioas, file, pages, true);
        if (rng.chance(0.5)) {
          const a = push({ op: 'createAccess', ioas, flags: rng.chance(0.5) ? 1 : 0 });
          m.accesses.push(a);
          m.accessIoas.set(a, ioasKey);
          if (rng.chance(0.5)) {
            const pin = push({ op: 'pin', access: a, iova: { m: map.s, d: String(PAGE * rng.int(Math.max(1, map.len / PAGE))) }, len: PAGE * (1 + rng.int(2)), flags: rng.chance(0.5) ? 1 : 0 });
            m.pins.push({ s: pin, access: a });
          }
          push({ op: 'rw', access: a, iova: { m: map.s, d: String(rng.int(Math.max(1, map.len))) }, off: rng.int(1024), len: 1 + rng.int(2 * PAGE), flags: rng.pick([0, 1, 1, 4, 5]) });
        }
        if (dev !== undefined) checkFileStep({ s: dev, w: 'hwpt' }, map);
        if (rng.chance(0.4)) push({ op: 'fileClose', file });
        if (rng.chance(0.4)) push({ op: 'fileResize', file, pages: rng.int(8) });
        if (rng.chance(0.2)) push({ op: 'changeProcess' });
        if (rng.chance(0.6)) {
          push({ op: 'unmap', ioas, iova: { m: map.s, d: '0' }, len: u(map.len) });
          const now = rng.int(pages + 2);
          push({ op: 'fileResize', file, pages: now });
          if (rng.chance(0.6)) mapFileStep(ioas, file, pages, rng.chance(0.5));
        }
        push({ op: 'fileDigest', file });
        if (rng.chance(0.3)) push({ op: 'fileClose', file });
        break;
      }
      case 'dmabuf': {
        // A mock dma-buf mapped (maybe into a domain), seen through an access (EINVAL) and
        // MD_CHECK_MAP, revoked, mapped again (ENODEV while revoked), a domain attached after
        // the revoke, unmapped after it.
        const d = newDmabuf();
        let dev: number | undefined;
        if (rng.chance(0.5)) m.devs.push((dev = push({ op: 'mockDomain', target: ioas })));
        const map = mapDmabufStep(ioas, d);
        if (rng.chance(0.4)) {
          const a = push({ op: 'createAccess', ioas, flags: rng.chance(0.5) ? 1 : 0 });
          m.accesses.push(a);
          m.accessIoas.set(a, ioasKey);
          if (rng.chance(0.5)) m.pins.push({ s: push({ op: 'pin', access: a, iova: { m: map, d: '0' }, len: PAGE, flags: 0 }), access: a });
          else push({ op: 'rw', access: a, iova: { m: map, d: String(rng.int(PAGE)) }, off: 0, len: 1 + rng.int(PAGE), flags: rng.pick([0, 1, 4]) });
        }
        if (dev !== undefined) push({ op: 'checkMap', hwpt: { s: dev, w: 'hwpt' }, iova: { m: map, d: '0' }, off: 0, len: PAGE });
        if (rng.chance(0.8)) push({ op: 'dmabufRevoke', dmabuf: d.s, revoked: rng.chance(0.7) });
        if (rng.chance(0.2)) push({ op: 'dmabufClose', dmabuf: d.s });
        if (rng.chance(0.5)) mapDmabufStep(ioas, d);
        if (rng.chance(0.4)) {
          const late = push({ op: 'mockDomain', target: ioas });
          m.devs.push(late);
          push({ op: 'checkMap', hwpt: { s: late, w: 'hwpt' }, iova: { m: map, d: '0' }, off: 0, len: PAGE });
        }
        if (rng.chance(0.3)) push({ op: 'changeProcess' });
        if (rng.chance(0.3)) push({ op: 'dmabufRevoke', dmabuf: d.s, revoked: false });
        if (rng.chance(0.7)) push({ op: 'unmap', ioas, iova: { m: map, d: '0' }, len: u(d.len) });
        if (rng.chance(0.3)) mapDmabufStep(ioas, d);
        break;
      }
      case 'viommu': {
        // A vIOMMU on a nest parent, a vDEVICE, a nested HWPT on the vIOMMU, vEVENTs, cache
        // invalidation, a HW queue on a mapped page (one CPU page: physical contiguity is the
        // kernel's secret), then maybe destroys.
        const dev = push({ op: 'mockDomain', target: ioas });
        m.devs.push(dev);
        const idev: Ref = { s: dev, w: 'idev' };
        const parent = push({ op: 'hwptAlloc', dev: idev, parent: ioas, flags: rng.chance(0.9) ? 1 : 0 });
        m.hwpts.push(parent);
        const type = rng.weighted<number>([[9, 0xdeadbeef], [1, rng.pick([0, 0xdead])]]);
        const viommu: Ref = { s: push({ op: 'viommuAlloc', dev: idev, hwpt: { s: parent }, type, ...(rng.chance(0.3) ? { inData: rng.u32() } : {}) }) };
        const virtId = rng.weighted<number>([[6, 1 + rng.int(4)], [1, 0], [1, 0x99]]);
        push({ op: 'vdeviceAlloc', viommu, dev: idev, virtId: u(virtId) });
        const nested = push({ op: 'hwptAlloc', dev: idev, parent: viommu, flags: 0, iotlb: 0 });
        m.hwpts.push(nested);
        const q = rng.chance(0.7) ? push({ op: 'veventqAlloc', viommu, depth: rng.pick([0, 1, 2, 4]) }) : undefined;
        push({ op: 'replace', dev: { s: dev, w: 'stdev' }, target: { s: nested } });
        for (let k = rng.int(4); k > 0; k--) push({ op: 'triggerVevent', dev: idev });
        if (q !== undefined) push({ op: 'veventqRead', veventq: q, len: rng.pick([0, 7, 8, 12, 20, 24, 64]) });
        const entries: [number, number, number][] = [];
        for (let k = rng.int(3); k >= 0; k--) entries.push([rng.weighted<number>([[6, 0], [2, 1], [1, 2]]), rng.chance(0.8) ? virtId : rng.int(8), rng.int(5)]);
        push({ op: 'viommuInvalidate', viommu, entries });
        push({ op: 'checkCache', dev: idev, cacheId: rng.int(5), value: rng.pick([0, 0xbaddad]) });
        if (rng.chance(0.6)) {
          const map = mapHere(1);
          const off = rng.chance(0.7) ? 0 : 8 * rng.int(PAGE / 8);
          push({ op: 'hwQueueAlloc', viommu, index: rng.pick([0, 0, 1, 2]), iova: { m: map, d: String(off) }, len: u(rng.chance(0.9) ? 1 + rng.int(PAGE - off) : 0) });
          if (rng.chance(0.5)) push({ op: 'unmap', ioas, iova: { m: map, d: '0' }, len: u(PAGE) });
        }
        if (q !== undefined && rng.chance(0.5)) push({ op: 'closeVeventq', veventq: q });
        if (rng.chance(0.3)) push({ op: 'destroy', target: viommu });
        break;
      }
      case 'fault': {
        // A fault queue on a HWPT (nested or paging), device faults, reads and responses.
        const q = push({ op: 'faultAlloc' });
        const dev = push({ op: 'mockDomain', target: ioas });
        m.devs.push(dev);
        let parent: Ref = ioas;
        let iotlb: number | undefined;
        if (rng.chance(0.6)) {
          parent = { s: push({ op: 'hwptAlloc', dev: { s: dev, w: 'idev' }, parent: ioas, flags: 1 }) };
          m.hwpts.push(parent.s);
          m.nestParents.push(parent.s);
          iotlb = 0;
        }
        const hwpt = push({ op: 'hwptAlloc', dev: { s: dev, w: 'idev' }, parent, flags: rng.chance(0.9) ? 0 : 2, ...(iotlb === undefined ? {} : { iotlb }), fault: q });
        m.hwpts.push(hwpt);
        if (iotlb !== undefined) m.nested.push(hwpt);
        push({ op: 'replace', dev: { s: dev, w: 'stdev' }, target: { s: hwpt } });
        for (let k = rng.int(3); k >= 0; k--)
          push({ op: 'iopf', dev: { s: dev, w: 'idev' }, pasid: rng.chance(0.8) ? 0 : 1 + rng.int(4), grpid: rng.int(4), perm: rng.int(4), addr: u(APERTURE_START + BigInt(PAGE * rng.int(64))) });
        push({ op: 'faultRead', fault: q, max: rng.pick([0, 1, 2, 8]) });
        const responses: [number, number][] = [];
        for (let k = rng.int(3); k >= 0; k--) responses.push([rng.int(4), rng.weighted<number>([[6, 0], [3, 1], [1, 2]])]);
        push({ op: 'faultRespond', fault: q, responses });
        if (rng.chance(0.3)) push({ op: 'faultRead', fault: q, max: 8 });
        if (rng.chance(0.3)) push({ op: 'closeFault', fault: q });
        break;
      }
      case 'vfio': {
        // The VFIO type1 compat ioctls on an IOAS made the compat one.
        push({ op: 'vfioIoas', vop: 1, ioas });
        if (rng.chance(0.8)) push({ op: 'vfioSetIommu', type: rng.chance(0.7) ? 3 : 1 });
        for (let k = rng.int(3); k >= 0; k--) {
          const { off, len } = window(true);
          const fixed = u(APERTURE_START + BigInt(PAGE * rng.int(512)));
          const s = push({ op: 'vfioMap', flags: 3, iova: fixed, off, len });
          m.maps.push({ s, len, ioas: 'vfio', off });
        }
        push({ op: 'vfioInfo' });
        const x = m.maps.filter((y) => y.ioas === 'vfio');
        if (x.length) {
          const y = rng.pick(x);
          push({ op: 'vfioUnmap', flags: 0, iova: { m: y.s, d: rng.chance(0.8) ? '0' : String(PAGE) }, len: u(rng.chance(0.7) ? y.len : PAGE) });
        }
        break;
      }
      case 'dirty': {
        // A dirty-tracking HWPT, a device on it, marks and reads of the bitmap.
        const dev = push({ op: 'mockDomain', target: ioas, ...(rng.chance(0.2) ? { flags: rng.pick([1, 2]) } : {}) });
        m.devs.push(dev);
        const hwpt = push({ op: 'hwptAlloc', dev: { s: dev, w: 'idev' }, parent: ioas, flags: rng.chance(0.8) ? 2 : 0 });
        m.hwpts.push(hwpt);
        push({ op: 'replace', dev: { s: dev, w: 'stdev' }, target: { s: hwpt } });
        const pages = 1 + rng.int(64);
        const map = mapHere(pages);
        if (rng.chance(0.8)) push({ op: 'setDirty', hwpt: { s: hwpt }, enable: true });
        for (let k = rng.int(3); k >= 0; k--) {
          const d = String(PAGE * rng.int(pages));
          push({ op: 'markDirty', hwpt: { s: hwpt }, iova: { m: map, d }, len: u(PAGE * (1 + rng.int(pages))), pageSize: u(PAGE), bits: rng.u32() });
          push({ op: 'getDirty', hwpt: { s: hwpt }, flags: rng.chance(0.3) ? 1 : 0, iova: { m: map, d: '0' }, len: u(PAGE * pages), pageSize: u(rng.chance(0.8) ? PAGE : 2 * PAGE) });
        }
        if (rng.chance(0.5)) push({ op: 'setDirty', hwpt: { s: hwpt }, enable: false });
        break;
      }
      case 'nested': {
        const dev = push({ op: 'mockDomain', target: ioas });
        m.devs.push(dev);
        const parent = push({ op: 'hwptAlloc', dev: { s: dev, w: 'idev' }, parent: ioas, flags: 1 });
        m.hwpts.push(parent);
        m.nestParents.push(parent);
        const nested = push({ op: 'hwptAlloc', dev: { s: dev, w: 'idev' }, parent: { s: parent }, flags: 0, iotlb: rng.pick([0, 0x1234]) });
        m.hwpts.push(nested);
        m.nested.push(nested);
        if (rng.chance(0.6)) push({ op: 'replace', dev: { s: dev, w: 'stdev' }, target: { s: nested } });
        else m.devs.push(push({ op: 'mockDomain', target: { s: nested } }));
        push({ op: 'checkIotlb', hwpt: { s: nested }, iotlbId: rng.int(4), value: rng.pick([0, 0x1234]) });
        const entries: [number, number][] = [];
        for (let k = rng.int(3); k >= 0; k--) entries.push([rng.chance(0.3) ? 1 : 0, rng.int(4)]);
        push({ op: 'invalidate', hwpt: { s: nested }, entries });
        push({ op: 'checkIotlb', hwpt: { s: nested }, iotlbId: rng.int(4), value: 0 });
        break;
      }
      case 'access': {
        const pages = 1 + rng.int(16);
        const map = mapHere(pages);
        const a = push({ op: 'createAccess', ioas, flags: 1 });
        m.accesses.push(a);
        m.accessIoas.set(a, ioasKey);
        const pinPages = 1 + rng.int(pages);
        const pin = push({ op: 'pin', access: a, iova: { m: map, d: String(PAGE * rng.int(pages - pinPages + 1)) }, len: PAGE * pinPages, flags: rng.chance(0.5) ? 1 : 0 });
        m.pins.push({ s: pin, access: a });
        push({ op: 'rw', access: a, iova: { m: map, d: String(rng.int(PAGE * pages)) }, off: rng.int(1024), len: 1 + rng.int(2 * PAGE), flags: rng.pick([0, 1, 4, 5]) });
        if (rng.chance(0.3)) push({ op: 'unmap', ioas, iova: { m: map, d: '0' }, len: u(PAGE * pages) });
        if (rng.chance(0.7)) push({ op: 'unpin', access: a, pages: { s: pin } });
        break;
      }
      default: {
        const map = mapHere(1 + rng.int(16));
        const dst = rng.chance(0.5) ? ioas : ioasRef();
        const s = push({ op: 'copy', dst, src: ioas, flags: rng.pick([6, 7]), dstIova: u(APERTURE_START + BigInt(PAGE * rng.int(512))), srcIova: { m: map, d: '0' }, len: u(PAGE) });
        m.maps.push({ s, len: PAGE, ioas: JSON.stringify(dst), off: -1 });
      }
    }
  };

  for (let i = 0; i < length; i++) {
    if (rng.chance(0.08)) {
      macro();
      continue;
    }
    const op = rng.weighted<string>([
      [m.ioas.length < 4 ? 6 : 2, 'ioasAlloc'],
      [22, 'map'],
      [10, 'unmap'],
      [5, 'copy'],
      [3, 'allowIovas'],
      [3, 'addReserved'],
      [3, 'iovaRanges'],
      [m.devs.length < 3 ? 7 : 2, 'mockDomain'],
      [m.devs.length ? 3 : 0, 'replace'],
      [m.devs.length ? 4 : 0, 'hwptAlloc'],
      [1, 'hwInfo'],
      [m.accesses.length < 3 ? 4 : 1, 'createAccess'],
      [m.accesses.length ? 1 : 0, 'closeAccess'],
      [m.accesses.length ? 6 : 0, 'pin'],
      [m.pins.length ? 3 : 0, 'unpin'],
      [m.accesses.length ? 6 : 0, 'rw'],
      [m.accesses.length ? 1 : 0, 'accessReplace'],
      [2, 'option'],
      [m.devs.length + m.hwpts.length ? 2 : 0, 'setDirty'],
      [m.devs.length + m.hwpts.length ? 2 : 0, 'getDirty'],
      [m.devs.length + m.hwpts.length ? 2 : 0, 'markDirty'],
      [m.devs.length ? 5 : 0, 'checkMap'],
      [options.noCheckRefs ? 0 : 3, 'checkRefs'],
      [m.nested.length ? 2 : 0, 'checkIotlb'],
      [m.nested.length ? 2 : 0, 'invalidate'],
      [1, 'tempLimit'],
      [1, 'vfioIoas'],
      [0.5, 'vfioExt'],
      [1, 'vfioSetIommu'],
      [0.5, 'vfioInfo'],
      [3, 'vfioMap'],
      [2, 'vfioUnmap'],
      [4, 'destroy'],
      [options.mapFile ? 2 : 0, 'memFile'],
      [options.mapFile && m.files.length + m.dmabufs.length ? 6 : 0, 'mapFile'],
      [options.mapFile && m.files.length ? 1 : 0, 'fileResize'],
      [options.mapFile && m.files.length ? 1 : 0, 'fileClose'],
      [options.mapFile && m.fileMaps.length && m.devs.length + m.hwpts.length ? 2 : 0, 'checkMapFile'],
      [options.mapFile ? 0.5 : 0, 'changeProcess'],
      [options.dmabuf ? 1 : 0, 'dmabufGet'],
      [options.dmabuf && m.dmabufs.length ? 1 : 0, 'dmabufRevoke'],
      [options.dmabuf && m.dmabufs.length ? 0.3 : 0, 'dmabufClose'],
      [options.pasid && m.devs.length ? 2 : 0, 'pasid'],
      [options.noiommu ? 1.5 : 0, 'noiommuGetPa'],
      [options.rawio ? 0.3 : 0, 'capRawio'],
    ]);
    switch (op) {
      case 'ioasAlloc':
        m.ioas.push(push({ op }));
        break;
      case 'memFile':
        newFile(rng.weighted<number>([[6, 1 + rng.int(8)], [1, 0], [1, 16 + rng.int(48)]]));
        break;
      case 'mapFile': {
        const ioas = ioasRef();
        const which = rng.weighted<string>([[m.files.length ? 6 : 0, 'file'], [m.dmabufs.length ? 3 : 0, 'dmabuf'], [0.3, 'badFd']]);
        if (which === 'dmabuf') mapDmabufStep(ioas, rng.pick(m.dmabufs));
        else if (which === 'file') {
          const f = rng.pick(m.files);
          mapFileStep(ioas, f.s, f.pages, rng.chance(0.7));
        } else push({ op, ioas, flags: 6, file: -1, start: '0', len: u(PAGE), iova: '0' });
        break;
      }
      case 'fileResize':
        push({ op, file: rng.pick(m.files).s, pages: rng.int(9) });
        break;
      case 'fileClose':
        push({ op, file: rng.pick(m.files).s });
        break;
      case 'checkMapFile':
        checkFileStep(hwptRef(), rng.pick(m.fileMaps));
        break;
      case 'changeProcess':
        push({ op });
        break;
      case 'dmabufGet':
        newDmabuf();
        break;
      case 'dmabufRevoke':
        push({ op, dmabuf: rng.pick(m.dmabufs).s, revoked: rng.chance(0.6) });
        break;
      case 'dmabufClose':
        push({ op, dmabuf: rng.pick(m.dmabufs).s });
        break;
      case 'pasid':
        pasidStep(ref(m.devs, 'stdev'), () => (rng.chance(0.1) ? ioasRef() : hwptRef()));
        break;
      case 'noiommuGetPa':
        noiommuStep(ioasRef());
        break;
      case 'capRawio':
        push({ op, on: rng.chance(0.5) });
        break;
      case 'map': {
        const fixed = rng.chance(0.55);
        const { off, len } = window();
        const ioas = ioasRef();
        const s = push({ op, ioas, flags: mapFlags(fixed), iova: fixed ? iova() : rng.chance(0.95) ? '0' : iova(), off, len });
        m.maps.push({ s, len, ioas: JSON.stringify(ioas), off });
        break;
      }
      case 'unmap':
        if (rng.chance(0.08)) push({ op, ioas: ioasRef(), iova: '0', len: u(U64_MAX) });
        else if (m.maps.length && rng.chance(0.5)) {
          const map = rng.pick(m.maps);
          push({ op, ioas: ioasRef(), iova: { m: map.s, d: rng.chance(0.8) ? '0' : String(PAGE * (rng.int(3) - 1)) }, len: rng.chance(0.7) ? u(map.len) : len64() });
        } else push({ op, ioas: ioasRef(), iova: iova(), len: len64() });
        break;
      case 'copy': {
        const fixed = rng.chance(0.4);
        const ioasMaps = m.maps.filter((x) => x.ioas !== 'vfio');
        const map = ioasMaps.length ? rng.pick(ioasMaps) : undefined;
        const srcIova: IovaExpr = map && rng.chance(0.8) ? { m: map.s, d: rng.chance(0.7) ? '0' : String(PAGE * rng.int(4)) } : iova();
        const len = map && rng.chance(0.6) ? u(Math.max(PAGE, map.len - (rng.chance(0.5) ? 0 : PAGE))) : len64();
        const dst = ioasRef();
        const s = push({ op, dst, src: map && rng.chance(0.8) ? JSON.parse(map.ioas) : ioasRef(), flags: mapFlags(fixed), dstIova: fixed ? iova() : '0', srcIova, len });
        m.maps.push({ s, len: Number(BigInt(len) > BigInt(BUF_SIZE) ? BigInt(BUF_SIZE) : BigInt(len)), ioas: JSON.stringify(dst), off: -1 });
        break;
      }
      case 'allowIovas': {
        const n = rng.weighted([[2, 0], [6, 1], [3, 2], [1, 3]]);
        const ranges: [U64, U64][] = [];
        for (let k = 0; k < n; k++) {
          const start = rng.chance(0.6) ? APERTURE_START + BigInt(PAGE * rng.int(256)) : BigInt(rng.chance(0.8) ? PAGE * rng.int(64) : rng.int(1 << 20));
          const last = rng.chance(0.85) ? start + BigInt(PAGE * (1 + rng.int(4096))) - 1n : rng.pick([start, start - 1n < 0n ? 0n : start - 1n, U64_MAX, APERTURE_LAST]);
          ranges.push([u(start), u(last)]);
        }
        push({ op, ioas: ioasRef(), ranges });
        break;
      }
      case 'addReserved': {
        const e = iova();
        push({ op, ioas: ioasRef(), start: typeof e === 'string' ? e : u(APERTURE_START + BigInt(PAGE * rng.int(64))), len: len64() });
        break;
      }
      case 'iovaRanges':
        push({ op, ioas: ioasRef() });
        break;
      case 'mockDomain': {
        const target = m.hwpts.length && rng.chance(0.2) ? ref(m.hwpts) : ioasRef();
        const flags = rng.weighted<number | undefined>([[6, undefined], [1, 0], [2, 1], [2, 2], [1, 3], [1, 1 << (2 + rng.int(30))]]);
        m.devs.push(push(flags === undefined ? { op, target } : { op, target, flags: flags >>> 0 }));
        break;
      }
      case 'replace': {
        const target = rng.weighted<Ref>([[5, ioasRef()], [m.hwpts.length ? 4 : 0, ref(m.hwpts)], [1, rawId()], [m.devs.length ? 1 : 0, ref(m.devs, 'hwpt')]]);
        push({ op, dev: ref(m.devs, 'stdev'), target });
        break;
      }
      case 'hwptAlloc': {
        const nested = m.nestParents.length > 0 && rng.chance(0.3);
        if (nested) {
          const s = push({ op, dev: idevRef(), parent: ref(m.nestParents), flags: rng.chance(0.9) ? 0 : rng.pick([1, 2, 1 << 9]), iotlb: rng.pick([0, 0x1234, 0xdeadbeef]) });
          m.nested.push(s);
          m.hwpts.push(s);
        } else {
          const flags = rng.weighted<number>([[4, 0], [3, 1], [3, 2], [1, 3], [1, 4], [1, 1 << (3 + rng.int(29))]]) >>> 0;
          const parent = m.nestParents.length && rng.chance(0.1) ? ref(m.nestParents) : ioasRef();
          const s = push({ op, dev: idevRef(), parent, flags });
          m.hwpts.push(s);
          if (flags & 1) m.nestParents.push(s);
        }
        break;
      }
      case 'hwInfo':
        push({ op, dev: idevRef(), dataLen: rng.pick([0, 4, 8, 64]) });
        break;
      case 'createAccess': {
        const ioas = ioasRef();
        const s = push({ op, ioas, flags: rng.weighted<number>([[6, 1], [3, 0], [1, 2]]) });
        m.accesses.push(s);
        m.accessIoas.set(s, JSON.stringify(ioas));
        break;
      }
      case 'closeAccess': {
        const a = access()!;
        push({ op, access: a });
        m.accesses = m.accesses.filter((x) => x !== a);
        break;
      }
      case 'pin': {
        const a = access()!;
        const len = rng.weighted<number>([[8, PAGE * pageCount()], [1, rng.pick([0, 1, PAGE + 1])], [1, rng.pick([2 ** 32, 2 ** 40])]]);
        const verify = rng.chance(0.3) ? PAGE * rng.int(32) : undefined;
        const flags = rng.weighted<number>([[5, 0], [4, 1], [1, 1 << 16], [1, 2]]);
        const at = inside(a, len);
        const s = push(verify === undefined ? { op, access: a, iova: at, len, flags } : { op, access: a, iova: at, len, flags, verify });
        m.pins.push({ s, access: a });
        break;
      }
      case 'unpin': {
        const pin = rng.pick(m.pins);
        push({ op, access: rng.chance(0.9) ? pin.access : access()!, pages: rng.chance(0.95) ? { s: pin.s } : rawId() });
        break;
      }
      case 'rw': {
        const off = rng.chance(0.7) ? 0 : rng.int(SCRATCH_SIZE / 2);
        let len = rng.weighted<number>([[6, 1 + rng.int(64)], [6, PAGE * (1 + rng.int(4))], [3, 1 + rng.int(SCRATCH_SIZE / 2)], [1, 0]]);
        if (off + len > SCRATCH_SIZE) len = SCRATCH_SIZE - off;
        const flags = rng.weighted<number>([[5, 0], [5, 1], [2, 4], [2, 5], [1, 2], [1, 1 << 8]]);
        const a = access()!;
        push({ op, access: a, iova: inside(a, len), off, len, flags });
        break;
      }
      case 'accessReplace': {
        const a = access()!;
        const ioas = ioasRef();
        push({ op, access: a, ioas });
        m.accessIoas.set(a, JSON.stringify(ioas));
        break;
      }
      case 'option': {
        const option = rng.weighted<number>([[5, 1], [3, 0], [1, 2]]);
        const opOp = rng.weighted<number>([[5, 0], [4, 1], [1, 2]]);
        const obj = option === 0 ? (rng.chance(0.9) ? { raw: 0 } : ioasRef()) : ioasRef();
        push({ op, option, opOp, obj, val: u(rng.weighted<number>([[4, 0], [4, 1], [1, 2]])) });
        break;
      }
      case 'setDirty':
        push({ op, hwpt: hwptRef(), enable: rng.chance(0.7) });
        break;
      case 'getDirty': {
        const pageSize = rng.weighted<number>([[8, PAGE], [1, 2 * PAGE], [1, rng.pick([0, 1, PAGE + 1, HPAGE])]]);
        const len = rng.weighted<U64>([[8, u(PAGE * pageCount())], [1, u(rng.pick([0, 1, PAGE - 1]))], [1, u(hugeValue())]]);
        push({ op, hwpt: hwptRef(), flags: rng.weighted<number>([[6, 0], [3, 1], [1, 2]]), iova: iova(), len, pageSize: u(pageSize) });
        break;
      }
      case 'markDirty': {
        const pageSize = rng.weighted<number>([[8, PAGE], [1, 2 * PAGE], [1, rng.pick([0, 1, PAGE + 1])]]);
        const len = rng.weighted<U64>([[8, u(PAGE * (1 + rng.int(32)))], [1, u(rng.pick([0, 1, PAGE - 1]))], [1, u(hugeValue())]]);
        push({ op, hwpt: hwptRef(), iova: iova(), len, pageSize: u(pageSize), bits: rng.u32() });
        break;
      }
      case 'checkMap': {
        const maps = m.maps.filter((x) => x.off >= 0 && x.len > 0);
        if (maps.length && rng.chance(0.7)) {
          // A window of what some map mapped, at the matching IOVA (or a page off).
          const map = rng.pick(maps);
          const d = PAGE * rng.int(Math.floor(map.len / PAGE) + 1) - (rng.chance(0.1) ? PAGE : 0);
          const len = Math.max(0, Math.min(map.len - Math.max(d, 0), PAGE * (1 + rng.int(8))));
          push({ op, hwpt: hwptRef(), iova: { m: map.s, d: String(d) }, off: Math.max(0, map.off + d), len });
          break;
        }
        const { off, len } = window(rng.chance(0.8));
        push({ op, hwpt: hwptRef(), iova: iova(), off, len });
        break;
      }
      case 'checkRefs': {
        const { off, len } = window(rng.chance(0.9));
        push({ op, off, len, refs: rng.weighted<number>([[5, 0], [5, 1], [1, 2]]) });
        break;
      }
      case 'checkIotlb':
        push({ op, hwpt: ref(m.nested), iotlbId: rng.int(5), value: rng.pick([0, 0x1234, 0xdeadbeef]) });
        break;
      case 'invalidate': {
        const entries: [number, number][] = [];
        for (let k = rng.int(4); k > 0; k--) entries.push([rng.weighted<number>([[4, 0], [4, 1], [1, 2]]), rng.int(5)]);
        push({ op, hwpt: rng.chance(0.9) ? ref(m.nested) : hwptRef(), entries });
        break;
      }
      case 'tempLimit':
        push({ op, bytes: rng.pick([0, 11, 12, 16, 100, 4096, 65536]) });
        break;
      case 'vfioIoas':
        push({ op, vop: rng.weighted<number>([[3, 0], [3, 1], [2, 2], [1, 3]]), ioas: ioasRef() });
        break;
      case 'vfioExt':
        push({ op, ext: rng.pick([0, 1, 2, 3, 4, 8, 9, 1000]) });
        break;
      case 'vfioSetIommu':
        push({ op, type: rng.weighted<number>([[3, 3], [2, 1], [1, 8], [1, 0]]) });
        break;
      case 'vfioInfo':
        push({ op });
        break;
      case 'vfioMap': {
        const { off, len } = window();
        const s = push({ op, flags: rng.weighted<number>([[8, 3], [1, 1], [1, 2], [1, 0], [1, 7]]), iova: iova(), off, len });
        m.maps.push({ s, len, ioas: 'vfio', off });
        break;
      }
      case 'vfioUnmap': {
        const map = m.maps.filter((x) => x.ioas === 'vfio');
        const all = rng.chance(0.1);
        if (map.length && rng.chance(0.7)) {
          const x = rng.pick(map);
          push({ op, flags: all ? 2 : rng.chance(0.95) ? 0 : 4, iova: { m: x.s, d: '0' }, len: u(rng.chance(0.8) ? x.len : PAGE) });
        } else push({ op, flags: all ? 2 : 0, iova: all && rng.chance(0.7) ? '0' : iova(), len: all && rng.chance(0.7) ? '0' : len64() });
        break;
      }
      default: {
        // destroy: anything made so far, or a raw id
        const kinds: [number, Ref][] = [
          [m.ioas.length ? 4 : 0, ref(m.ioas)],
          [m.devs.length ? 3 : 0, ref(m.devs, 'stdev')],
          [m.devs.length ? 1 : 0, ref(m.devs, rng.pick(['hwpt', 'idev'] as const))],
          [m.hwpts.length ? 3 : 0, ref(m.hwpts)],
          [2, rawId()],
        ];
        push({ op: 'destroy', target: rng.weighted(kinds) });
      }
    }
  }
  return steps;
}
