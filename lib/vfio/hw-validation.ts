// The hardware-validation battery for one VFIO device on iommufd: everything
// that needs no device-specific knowledge (bind, attach, hw info, IOVA ranges,
// map/unmap across sizes, HWPT flags, replace, detach, close), plus, when a
// DMA engine is known for the device (lib/dma-engine), checks where the device
// itself proves the translations: copies compared byte for byte, read-only
// mappings refusing device writes, unmapped IOVAs blocked, replace switching
// translations. Returns structured results; the CLI formats them.
import { DmaBuffer } from '../memory/dma-buffer.js';
import { type DmaEngine, openDmaEngine } from './dma-engine/index.js';
import { IommufdError } from '../base/errors.js';
import { fillPattern } from '../api/pattern.js';
import type { Hwpt } from '../api/hwpt.js';
import type { Ioas } from '../api/ioas.js';
import { Iommufd } from '../api/iommufd.js';
import { VfioDevice } from './device.js';
import { type DecodedHwInfo, decodeHwInfo } from './vtd.js';

export type CheckStatus = 'pass' | 'fail' | 'skip';

export interface CheckResult {
  /** Stable identifier, e.g. 'dma-read-only'. */
  id: string;
  /** One line a person understands. */
  name: string;
  status: CheckStatus;
  /** Why it failed or was skipped, or what was found. */
  detail?: string;
  /** The error behind a failure. */
  error?: { name: string; message: string; code?: string; op?: string };
  /** Measured values worth reporting. */
  data?: Record<string, unknown>;
  durationMs: number;
}

export interface ValidationReport {
  device: string;
  pciIds?: { vendor: number; device: number };
  hwInfo?: DecodedHwInfo;
  /** The DMA engine used for the DMA checks, or null when none is known for this device. */
  dmaEngine: string | null;
  checks: CheckResult[];
  passed: number;
  failed: number;
  skipped: number;
  /**
   * Set when the battery could not run at all because this machine lacks the
   * hardware (no /dev/iommu, no such VFIO device): a skip, as kselftest's
   * ksft_exit_skip(), not a failure. `checks` is empty then.
   */
  skipReason?: string;
  /** The battery ran and no check failed. */
  ok: boolean;
}

export interface ValidationOptions {
  /** The iommufd node; default /dev/iommu. */
  iommufdPath?: string;
  /** Run the DMA checks when an engine is known (default true). */
  dma?: boolean;
  /** Byte counts copied through the device, each also at an unaligned offset. */
  dmaSizes?: number[];
  /** Also map and DMA through a 2 MiB transparent-huge-page buffer (default true). */
  hugePages?: boolean;
  /** Called after each check, for progress output. */
  onCheck?: (check: CheckResult) => void;
}

const MiB = 1024 * 1024;
const PAGE = 4096;
/** x86 interrupt (MSI) window: the IOMMU must never let a device DMA there. */
export const X86_MSI_WINDOW = { start: 0xfee00000n, last: 0xfeefffffn };

class Skip extends Error {}

/** open() found nothing there: the same answers Iommufd.open('auto') takes for "no iommufd here". */
function absent(e: unknown): e is IommufdError {
  return e instanceof IommufdError && e.op === 'open' && ['ENOENT', 'ENODEV', 'ENXIO'].includes(e.code);
}

function describe(e: unknown): CheckResult['error'] {
  if (e instanceof IommufdError) return { name: e.name, message: e.message, code: e.code, op: e.op };
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  if (Buffer.from(a.buffer, a.byteOffset, n).equals(Buffer.from(b.buffer, b.byteOffset, n))) return a.length === b.length ? -1 : n;
  let i = 0;
  while (a[i] === b[i]) i++;
  return i;
}

/**
 * An IOVA allocator over the IOAS's allowed ranges, below `limit`, so fixed
 * mappings land where the device can reach and the IOMMU allows.
 */
class IovaPlan {
  #next: bigint;
  readonly #ranges: { start: bigint; last: bigint }[];
  readonly #limit: bigint;

  constructor(ranges: { start: bigint; last: bigint }[], limit: bigint) {
    this.#ranges = ranges;
    this.#limit = limit;
    // Stay clear of IOVA 0 (a classic "NULL" DMA bug shows up there).
    this.#next = 2n * BigInt(MiB);
  }

  take(size: number, align = 2 * MiB): bigint {
    const a = BigInt(align);
    for (const r of this.#ranges) {
      let at = this.#next > r.start ? this.#next : r.start;
      at = ((at + a - 1n) / a) * a;
      const last = at + BigInt(size) - 1n;
      if (last <= r.last && last <= this.#limit) {
        this.#next = last + 1n;
        return at;
      }
    }
    throw new Error(`no allowed IOVA range has ${size} free bytes below ${this.#limit.toString(16)}`);
  }
}

/**
 * What the checks share. A check reads what an earlier check made through a
 * getter that names that check; `needs` keeps a check from running when its
 * provider failed, so the getters only throw on a wrongly ordered CHECKS.
 */
class Session {
  fd?: Iommufd;
  device?: VfioDevice;
  /** Why open() failed when the hardware is there: the 'open' check reports it. */
  openError: unknown;
  devId = 0;
  #ioas?: Ioas;
  /** The HWPT the device is attached to automatically (attach-ioas, detach, dma-replace). */
  autoHwpt = 0;
  #plan?: IovaPlan;
  engine: DmaEngine | null = null;
  /** Everything made here, released by close() whatever failed. */
  readonly ioases: Ioas[] = [];
  readonly hwpts: Hwpt[] = [];
  readonly buffers: DmaBuffer[] = [];

  constructor(
    readonly options: ValidationOptions,
    readonly report: ValidationReport,
  ) {}

  get iommufd(): Iommufd {
    return provided(this.fd, 'open');
  }
  get vfio(): VfioDevice {
    return provided(this.device, 'open');
  }
  get ioas(): Ioas {
    return provided(this.#ioas, 'attach-ioas');
  }
  set ioas(ioas: Ioas) {
    this.#ioas = ioas;
    this.ioases.push(ioas);
  }
  get plan(): IovaPlan {
    return provided(this.#plan, 'iova-ranges');
  }
  set plan(plan: IovaPlan) {
    this.#plan = plan;
  }

  buffer(size: number, huge = false): DmaBuffer {
    const b = DmaBuffer.alloc(size, huge ? { hugePages: 'transparent' } : {});
    this.buffers.push(b);
    return b;
  }

  /** A fresh one-page buffer mapped at the next page-aligned IOVA of the plan. */
  mappedPage(options: { writeable?: boolean } = {}): { buffer: DmaBuffer; iova: bigint } {
    const buffer = this.buffer(PAGE);
    const iova = this.plan.take(PAGE, PAGE);
    this.ioas.mapFixed(iova, buffer, options);
    return { buffer, iova };
  }

  hwpt(hwpt: Hwpt): Hwpt {
    this.hwpts.push(hwpt);
    return hwpt;
  }

  needEngine(): DmaEngine {
    if (!this.engine) throw new Skip(this.options.dma === false ? 'DMA checks disabled' : 'no DMA engine is known for this device');
    return this.engine;
  }

  /** Release everything, in the order the kernel needs (device, HWPTs, IOASes, fd, memory). */
  close(): void {
    this.engine?.close();
    this.device?.close();
    for (const h of this.hwpts) {
      try {
        h.destroy();
      } catch {
        // already gone with its device
      }
    }
    for (const i of this.ioases) {
      try {
        if (!i.destroyed) {
          i.unmapAll();
          i.destroy();
        }
      } catch {
        // the fd close below releases it
      }
    }
    this.fd?.close();
    for (const b of this.buffers) {
      try {
        b.free();
      } catch {
        // still mapped by an IOAS the fd close released: GC frees it
      }
    }
  }
}

function provided<T>(value: T | undefined, check: string): T {
  if (value === undefined) throw new Error(`internal: a check ran before '${check}', which provides what it uses`);
  return value;
}

/** One check of the battery: what it proves, which checks must have passed, and its body. */
interface Check {
  id: string;
  name: string;
  needs: readonly string[];
  /** Returns a detail line, or data (with an optional `detail`) for the report; throws Skip or a failure. */
  run(s: Session): unknown;
}

/** A step between checks that reports nothing. */
interface Setup {
  setup(s: Session): void;
}

/** The DMA checks use the device's engine, and a DMA mask limits the IOVAs they may use. */
const DMA_NEEDS = ['attach-ioas', 'iova-ranges'];

const STEPS: readonly (Check | Setup)[] = [
  {
    id: 'open',
    name: 'open the iommufd and the device',
    needs: [],
    run: (s) => {
      if (s.openError !== undefined) throw s.openError;
    },
  },
  {
    id: 'bind',
    name: 'VFIO_DEVICE_BIND_IOMMUFD gives a device id',
    needs: ['open'],
    run: (s) => {
      s.devId = s.vfio.bind(s.iommufd);
      return { devId: s.devId };
    },
  },
  {
    id: 'device-info',
    name: 'device, region and IRQ info',
    needs: ['bind'],
    run: (s) => {
      const device = s.vfio;
      const info = device.info();
      const regions = [];
      for (let i = 0; i < info.numRegions; i++) {
        try {
          const r = device.regionInfo(i);
          if (r.size > 0n) regions.push({ index: i, size: r.size, flags: r.flags });
        } catch (e) {
          if (!(e instanceof IommufdError && e.code === 'EINVAL')) throw e; // an index the device does not implement
        }
      }
      const irqs = [];
      for (let i = 0; i < info.numIrqs; i++) {
        try {
          const q = device.irqInfo(i);
          if (q.count > 0) irqs.push({ index: i, count: q.count, flags: q.flags });
        } catch (e) {
          if (!(e instanceof IommufdError && e.code === 'EINVAL')) throw e;
        }
      }
      if (info.pci) s.report.pciIds = device.pciIds();
      return { pci: info.pci, reset: info.reset, regions, irqs };
    },
  },
  {
    id: 'hw-info',
    name: 'IOMMU_GET_HW_INFO for the device, decoded',
    needs: ['bind'],
    run: (s) => {
      const decoded = decodeHwInfo(s.iommufd.hwInfo(s.devId, 256));
      s.report.hwInfo = decoded;
      const detail =
        decoded.type === 'intel-vtd'
          ? `Intel VT-d: ${decoded.cap.maxGuestAddressWidth}-bit MGAW, address widths ${decoded.cap.supportedAddressWidths.join('/')}, ` +
            `large pages ${decoded.cap.secondStageLargePages.join('/') || 'none'}, caching mode ${decoded.cap.cachingMode}, ` +
            `scalable mode ${decoded.ecap.scalableMode}, nesting ${decoded.ecap.nested}, dirty tracking ${decoded.capabilities.dirtyTracking}`
          : `type ${decoded.type} (${decoded.typeNumber}), dirty tracking ${decoded.capabilities.dirtyTracking}`;
      return { detail, type: decoded.type, typeNumber: decoded.typeNumber };
    },
  },
  {
    id: 'attach-ioas',
    name: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT to an IOAS gives an automatic HWPT',
    needs: ['bind'],
    run: (s) => {
      s.ioas = s.iommufd.allocIoas();
      s.autoHwpt = s.vfio.attach(s.ioas);
      if (s.autoHwpt === s.ioas.id) throw new Error(`attach returned the IOAS id ${s.ioas.id}, not an HWPT id`);
      return { ioasId: s.ioas.id, hwptId: s.autoHwpt };
    },
  },
  {
    // Before the IOVA plan: the engine's DMA mask limits the IOVAs every later check uses.
    setup: (s) => {
      const device = s.device;
      if (s.options.dma === false || !device || device.closed || device.devId === undefined) return;
      try {
        if (device.info().pci) s.engine = openDmaEngine(device);
      } catch {
        s.engine = null;
      }
      s.report.dmaEngine = s.engine?.name ?? null;
    },
  },
  {
    id: 'iova-ranges',
    name: 'IOVA ranges: allowed, aligned, excluding the MSI window',
    needs: ['attach-ioas'],
    run: (s) => {
      const { ranges, alignment } = s.ioas.iovaRanges();
      if (ranges.length === 0) throw new Error('no IOVA is allowed');
      if (alignment === 0n || (alignment & (alignment - 1n)) !== 0n) throw new Error(`alignment ${alignment} is not a power of two`);
      const x86 = process.arch === 'x64' || process.arch === 'ia32';
      const msiAllowed = ranges.some((r) => r.start <= X86_MSI_WINDOW.last && r.last >= X86_MSI_WINDOW.start);
      if (x86 && msiAllowed) throw new Error('the MSI window 0xfee00000-0xfeefffff is inside an allowed range: interrupts could be forged by DMA');
      s.plan = new IovaPlan(ranges, s.engine?.maxIova ?? 0xffffffffffffffffn);
      const shown = ranges.map((r) => `[0x${r.start.toString(16)}, 0x${r.last.toString(16)}]`).join(' ');
      return { detail: `${shown}, alignment ${alignment}`, ranges: ranges.length, alignment };
    },
  },
  {
    id: 'map-unmap',
    name: 'map and unmap across sizes (4 KiB to 2 MiB, THP)',
    needs: ['iova-ranges'],
    run: (s) => {
      const done: string[] = [];
      for (const size of [PAGE, 16 * PAGE, 2 * MiB]) {
        const huge = size >= 2 * MiB && s.options.hugePages !== false;
        const mem = s.buffer(size, huge);
        const at = s.plan.take(size);
        if (s.ioas.mapFixed(at, mem) !== at) throw new Error(`mapFixed did not map at 0x${at.toString(16)}`);
        const unmapped = s.ioas.unmap(at, size);
        if (unmapped !== BigInt(size)) throw new Error(`unmap of ${size} bytes reported ${unmapped}`);
        const anywhere = s.ioas.mapAnywhere(mem);
        if (anywhere % BigInt(PAGE) !== 0n) throw new Error(`the kernel chose an unaligned IOVA 0x${anywhere.toString(16)}`);
        s.ioas.unmap(anywhere, size);
        done.push(`${size / 1024} KiB${huge ? ' (THP)' : ''}`);
      }
      return done.join(', ');
    },
  },
  {
    id: 'hwpt-alloc',
    name: 'IOMMU_HWPT_ALLOC for the device, and replace onto it',
    needs: ['attach-ioas'],
    run: (s) => {
      const hwpt = s.hwpt(s.iommufd.allocHwpt(s.devId, s.ioas));
      const attached = s.vfio.attach(hwpt);
      if (attached !== hwpt.id) throw new Error(`attach to HWPT ${hwpt.id} returned ${attached}`);
      return { hwptId: hwpt.id };
    },
  },
  {
    id: 'hwpt-dirty-tracking',
    name: 'dirty tracking: allocated when the IOMMU has it, EOPNOTSUPP otherwise',
    needs: ['attach-ioas'],
    run: (s) => {
      const supported = s.report.hwInfo?.capabilities.dirtyTracking ?? false;
      try {
        const dirty = s.hwpt(s.iommufd.allocHwpt(s.devId, s.ioas, { dirtyTracking: true }));
        if (!supported) throw new Error('HWPT with dirty tracking allocated although hw info does not report IOMMU_HW_CAP_DIRTY_TRACKING');
        dirty.setDirtyTracking(true);
        dirty.setDirtyTracking(false);
        return 'supported: allocated, tracking switched on and off';
      } catch (e) {
        if (!supported && e instanceof IommufdError && e.code === 'EOPNOTSUPP') return 'not supported by this IOMMU (EOPNOTSUPP, as hw info says)';
        throw e;
      }
    },
  },
  {
    id: 'hwpt-nest-parent',
    name: 'nest-parent HWPT: allocated when the IOMMU nests, EOPNOTSUPP otherwise',
    needs: ['attach-ioas'],
    run: (s) => {
      const info = s.report.hwInfo;
      const expected = info?.type === 'intel-vtd' ? info.ecap.nested : undefined;
      try {
        s.hwpt(s.iommufd.allocHwpt(s.devId, s.ioas, { nestParent: true }));
        if (expected === false) throw new Error('nest-parent HWPT allocated although ECAP.NEST is clear');
        return 'supported';
      } catch (e) {
        if (expected !== true && e instanceof IommufdError && e.code === 'EOPNOTSUPP') return 'not supported by this IOMMU (EOPNOTSUPP)';
        throw e;
      }
    },
  },
  {
    id: 'detach',
    name: 'detach, then attach again',
    needs: ['attach-ioas'],
    run: (s) => {
      s.vfio.detach();
      s.autoHwpt = s.vfio.attach(s.ioas);
      return { hwptId: s.autoHwpt };
    },
  },
  // ---- DMA through the device ------------------------------------------
  {
    id: 'dma-copy',
    name: 'DMA copies through the device match byte for byte',
    needs: DMA_NEEDS,
    run: async (s) => {
      const e = s.needEngine();
      const sizes = s.options.dmaSizes ?? [1, 64, 4000, 4096 + 123];
      const span = Math.ceil((2 * PAGE + Math.max(...sizes)) / PAGE) * PAGE;
      const src = s.buffer(span);
      const dst = s.buffer(span);
      const srcIova = s.plan.take(span);
      const dstIova = s.plan.take(span);
      s.ioas.mapFixed(srcIova, src);
      s.ioas.mapFixed(dstIova, dst);
      let copies = 0;
      let elapsed = 0;
      try {
        for (const size of sizes) {
          for (const [so, dof] of [
            [0, 0],
            [PAGE - 3, 5],
          ] as const) {
            fillPattern(src.bytes, size * 31 + so);
            dst.bytes.fill(0);
            const r = await e.copy(srcIova + BigInt(so), dstIova + BigInt(dof), size);
            elapsed += r.elapsedMs;
            copies++;
            const at = firstDifference(dst.bytes.subarray(dof, dof + size), src.bytes.subarray(so, so + size));
            if (at >= 0) throw new Error(`${size}-byte copy (src +${so}, dst +${dof}) differs at byte ${at}`);
            if (dst.bytes.subarray(0, dof).some((b) => b !== 0) || dst.bytes.subarray(dof + size).some((b) => b !== 0))
              throw new Error(`${size}-byte copy wrote outside its destination`);
          }
        }
      } finally {
        s.ioas.unmap(srcIova, span);
        s.ioas.unmap(dstIova, span);
      }
      return { detail: `${copies} copies (${sizes.join(', ')} bytes, aligned and unaligned)`, copies, msPerCopy: Math.round(elapsed / copies) };
    },
  },
  {
    id: 'dma-huge-pages',
    name: 'DMA into a transparent-huge-page buffer mapped at a 2 MiB IOVA',
    needs: DMA_NEEDS,
    run: async (s) => {
      const e = s.needEngine();
      if (s.options.hugePages === false) throw new Skip('huge pages disabled');
      const huge = s.buffer(2 * MiB, true);
      const src = s.buffer(PAGE);
      const hugeIova = s.plan.take(2 * MiB, 2 * MiB);
      const srcIova = s.plan.take(PAGE, PAGE);
      s.ioas.mapFixed(hugeIova, huge);
      s.ioas.mapFixed(srcIova, src);
      try {
        for (const offset of [0, MiB - 7, 2 * MiB - 1000]) {
          fillPattern(src.bytes, offset + 1);
          await e.copy(srcIova, hugeIova + BigInt(offset), 1000);
          const at = firstDifference(huge.bytes.subarray(offset, offset + 1000), src.bytes.subarray(0, 1000));
          if (at >= 0) throw new Error(`copy into the huge buffer at +${offset} differs at byte ${at}`);
        }
      } finally {
        s.ioas.unmap(hugeIova, 2 * MiB);
        s.ioas.unmap(srcIova, PAGE);
      }
      return 'three copies across the 2 MiB page compared';
    },
  },
  {
    id: 'dma-read-only',
    name: 'a read-only mapping refuses device writes',
    needs: DMA_NEEDS,
    run: async (s) => {
      const e = s.needEngine();
      const { buffer: src, iova: srcIova } = s.mappedPage({ writeable: false });
      const { buffer: dst, iova: dstIova } = s.mappedPage({ writeable: false });
      fillPattern(src.bytes, 7);
      dst.bytes.fill(0x5a);
      try {
        await e.copy(srcIova, dstIova, 512);
        if (dst.bytes.some((b) => b !== 0x5a)) throw new Error('the device wrote through a read-only mapping');
      } finally {
        s.ioas.unmap(srcIova, PAGE);
        s.ioas.unmap(dstIova, PAGE);
      }
      return 'device read the read-only source; its write was blocked, the buffer is untouched';
    },
  },
  {
    id: 'dma-unmapped',
    name: 'DMA to and from unmapped IOVAs is blocked',
    needs: DMA_NEEDS,
    run: async (s) => {
      const e = s.needEngine();
      const ioas = s.ioas;
      const { buffer: src, iova: srcIova } = s.mappedPage();
      const { buffer: dst, iova: dstIova } = s.mappedPage();
      fillPattern(src.bytes, 11);
      await e.copy(srcIova, dstIova, 256);
      if (firstDifference(dst.bytes.subarray(0, 256), src.bytes.subarray(0, 256)) >= 0) throw new Error('the mapped copy before unmapping failed');
      // Destination unmapped: the write must not reach the buffer.
      ioas.unmap(dstIova, PAGE);
      dst.bytes.fill(0xa5);
      fillPattern(src.bytes, 12);
      await e.copy(srcIova, dstIova, 256);
      if (dst.bytes.some((b) => b !== 0xa5)) throw new Error('the device wrote to memory after its IOVA was unmapped');
      // Source unmapped: the device must not read the buffer.
      ioas.mapFixed(dstIova, dst);
      ioas.unmap(srcIova, PAGE);
      fillPattern(src.bytes, 13);
      dst.bytes.fill(0);
      await e.copy(srcIova, dstIova, 256);
      ioas.unmap(dstIova, PAGE);
      if (firstDifference(dst.bytes.subarray(0, 256), src.bytes.subarray(0, 256)) < 0)
        throw new Error('the device read memory after its IOVA was unmapped');
      return 'writes and reads through unmapped IOVAs were blocked; buffers untouched';
    },
  },
  {
    id: 'dma-replace',
    name: 'replace switches the translation the device uses',
    needs: DMA_NEEDS,
    run: async (s) => {
      const e = s.needEngine();
      const ioas = s.ioas;
      const other = s.iommufd.allocIoas();
      s.ioases.push(other);
      const a = s.buffer(PAGE);
      const b = s.buffer(PAGE);
      const out = s.buffer(PAGE);
      fillPattern(a.bytes, 21);
      fillPattern(b.bytes, 22);
      const inIova = s.plan.take(PAGE, PAGE);
      const outIova = s.plan.take(PAGE, PAGE);
      ioas.mapFixed(inIova, a);
      ioas.mapFixed(outIova, out);
      other.mapFixed(inIova, b);
      other.mapFixed(outIova, out);
      try {
        await e.copy(inIova, outIova, 300);
        if (firstDifference(out.bytes.subarray(0, 300), a.bytes.subarray(0, 300)) >= 0) throw new Error('DMA through the first IOAS did not read its buffer');
        const replaced = s.vfio.attach(other);
        await e.copy(inIova, outIova, 300);
        if (firstDifference(out.bytes.subarray(0, 300), b.bytes.subarray(0, 300)) >= 0) throw new Error('after replace the device still used the old translation');
        s.autoHwpt = s.vfio.attach(ioas);
        return { detail: 'same IOVA, two IOASes: the device followed the replace', replacedHwpt: replaced };
      } finally {
        ioas.unmap(inIova, PAGE);
        ioas.unmap(outIova, PAGE);
        other.unmapAll();
      }
    },
  },
  {
    // The engine holds the device's BAR mappings: release them before the device goes.
    setup: (s) => {
      s.engine?.close();
      s.engine = null;
    },
  },
  {
    id: 'close-cleanup',
    name: 'closing the device without detaching releases the IOAS',
    needs: ['attach-ioas'],
    run: (s) => {
      const hwptId = s.autoHwpt;
      for (const h of s.hwpts.splice(0)) h.destroy();
      s.vfio.close();
      try {
        s.iommufd.destroy(hwptId);
        throw new Error(`the automatic HWPT ${hwptId} outlived the device`);
      } catch (e) {
        if (!(e instanceof IommufdError && e.code === 'ENOENT')) throw e;
      }
      s.ioas.destroy(); // EBUSY if the device were still attached
      s.ioases.splice(s.ioases.indexOf(s.ioas), 1);
      return 'automatic HWPT gone, IOAS destroyable';
    },
  },
];

/** Run one check: skipped when a check it needs did not pass, its outcome recorded in the report. */
async function runCheck(check: Check, s: Session, failedIds: Set<string>): Promise<void> {
  const started = performance.now();
  const result: CheckResult = { id: check.id, name: check.name, status: 'pass', durationMs: 0 };
  const missing = check.needs.filter((n) => failedIds.has(n));
  if (missing.length > 0) {
    result.status = 'skip';
    result.detail = `needs ${missing.join(', ')}`;
    failedIds.add(check.id);
  } else {
    try {
      const out = await check.run(s);
      if (typeof out === 'string') result.detail = out;
      else if (out && typeof out === 'object') {
        const { detail, ...data } = out as { detail?: string } & Record<string, unknown>;
        if (detail) result.detail = detail;
        if (Object.keys(data).length > 0) result.data = data;
      }
    } catch (e) {
      failedIds.add(check.id);
      if (e instanceof Skip) {
        result.status = 'skip';
        result.detail = e.message;
      } else {
        result.status = 'fail';
        result.detail = e instanceof Error ? e.message : String(e);
        result.error = describe(e);
      }
    }
  }
  result.durationMs = performance.now() - started;
  s.report.checks.push(result);
  s.report[result.status === 'pass' ? 'passed' : result.status === 'fail' ? 'failed' : 'skipped']++;
  s.options.onCheck?.(result);
}

/**
 * Run the validation battery on the VFIO device cdev at `devicePath` (bound to
 * vfio-pci; see bindPciToVfio). Nothing is left behind: every object it creates
 * is destroyed and the device is closed, even when a check fails.
 */
export async function runValidation(devicePath: string, options: ValidationOptions = {}): Promise<ValidationReport> {
  const report: ValidationReport = { device: devicePath, dmaEngine: null, checks: [], passed: 0, failed: 0, skipped: 0, ok: false };
  const s = new Session(options, report);
  try {
    try {
      s.fd = Iommufd.open({ path: options.iommufdPath ?? '/dev/iommu', backend: 'native' });
      s.device = VfioDevice.open(devicePath);
    } catch (e) {
      if (absent(e)) {
        report.skipReason = e.message;
        return report; // ok stays false: nothing was validated
      }
      s.openError = e;
    }
    const failedIds = new Set<string>();
    for (const step of STEPS) {
      if ('setup' in step) step.setup(s);
      else await runCheck(step, s, failedIds);
    }
  } finally {
    s.close();
  }
  report.ok = report.failed === 0;
  return report;
}
