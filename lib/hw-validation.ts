// The hardware-validation battery for one VFIO device on iommufd: everything
// that needs no device-specific knowledge (bind, attach, hw info, IOVA ranges,
// map/unmap across sizes, HWPT flags, replace, detach, close), plus, when a
// DMA engine is known for the device (lib/dma-engine), checks where the device
// itself proves the translations: copies compared byte for byte, read-only
// mappings refusing device writes, unmapped IOVAs blocked, replace switching
// translations. Returns structured results; the CLI formats them.
import { DmaBuffer } from './dma-buffer.js';
import { type DmaEngine, openDmaEngine } from './dma-engine/index.js';
import { IommufdError } from './errors.js';
import { fillPattern } from './pattern.js';
import type { Hwpt } from './hwpt.js';
import type { Ioas } from './ioas.js';
import { Iommufd } from './iommufd.js';
import { VfioDevice } from './vfio-device.js';
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
 * Run the validation battery on the VFIO device cdev at `devicePath` (bound to
 * vfio-pci; see bindPciToVfio). Nothing is left behind: every object it creates
 * is destroyed and the device is closed, even when a check fails.
 */
export async function runValidation(devicePath: string, options: ValidationOptions = {}): Promise<ValidationReport> {
  const report: ValidationReport = { device: devicePath, dmaEngine: null, checks: [], passed: 0, failed: 0, skipped: 0, ok: false };
  const failedIds = new Set<string>();

  const check = async (id: string, name: string, needs: string[], body: () => unknown): Promise<void> => {
    const started = performance.now();
    const result: CheckResult = { id, name, status: 'pass', durationMs: 0 };
    const missing = needs.filter((n) => failedIds.has(n));
    if (missing.length > 0) {
      result.status = 'skip';
      result.detail = `needs ${missing.join(', ')}`;
      failedIds.add(id);
    } else {
      try {
        const out = await body();
        if (typeof out === 'string') result.detail = out;
        else if (out && typeof out === 'object') {
          const { detail, ...data } = out as { detail?: string } & Record<string, unknown>;
          if (detail) result.detail = detail;
          if (Object.keys(data).length > 0) result.data = data;
        }
      } catch (e) {
        failedIds.add(id);
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
    report.checks.push(result);
    report[result.status === 'pass' ? 'passed' : result.status === 'fail' ? 'failed' : 'skipped']++;
    options.onCheck?.(result);
  };

  let fd: Iommufd | undefined;
  let device: VfioDevice | undefined;
  let engine: DmaEngine | null = null;
  const ioases: Ioas[] = [];
  const hwpts: Hwpt[] = [];
  const buffers: DmaBuffer[] = [];
  let devId = 0;
  let ioas: Ioas | undefined;
  let autoHwpt = 0;
  let plan: IovaPlan | undefined;
  const buffer = (size: number, huge = false): DmaBuffer => {
    const b = DmaBuffer.alloc(size, huge ? { hugePages: 'transparent' } : {});
    buffers.push(b);
    return b;
  };

  try {
    let openError: unknown;
    try {
      fd = Iommufd.open({ path: options.iommufdPath ?? '/dev/iommu', backend: 'native' });
      device = VfioDevice.open(devicePath);
    } catch (e) {
      if (absent(e)) {
        report.skipReason = e.message;
        return report; // ok stays false: nothing was validated
      }
      openError = e;
    }
    await check('open', 'open the iommufd and the device', [], () => {
      if (openError !== undefined) throw openError;
    });

    await check('bind', 'VFIO_DEVICE_BIND_IOMMUFD gives a device id', ['open'], () => {
      devId = device!.bind(fd!);
      return { devId };
    });

    await check('device-info', 'device, region and IRQ info', ['bind'], () => {
      const info = device!.info();
      const regions = [];
      for (let i = 0; i < info.numRegions; i++) {
        try {
          const r = device!.regionInfo(i);
          if (r.size > 0n) regions.push({ index: i, size: r.size, flags: r.flags });
        } catch (e) {
          if (!(e instanceof IommufdError && e.code === 'EINVAL')) throw e; // an index the device does not implement
        }
      }
      const irqs = [];
      for (let i = 0; i < info.numIrqs; i++) {
        try {
          const q = device!.irqInfo(i);
          if (q.count > 0) irqs.push({ index: i, count: q.count, flags: q.flags });
        } catch (e) {
          if (!(e instanceof IommufdError && e.code === 'EINVAL')) throw e;
        }
      }
      if (info.pci) report.pciIds = device!.pciIds();
      return { pci: info.pci, reset: info.reset, regions, irqs };
    });

    await check('hw-info', 'IOMMU_GET_HW_INFO for the device, decoded', ['bind'], () => {
      const decoded = decodeHwInfo(fd!.hwInfo(devId, 256));
      report.hwInfo = decoded;
      const detail =
        decoded.type === 'intel-vtd'
          ? `Intel VT-d: ${decoded.cap.maxGuestAddressWidth}-bit MGAW, address widths ${decoded.cap.supportedAddressWidths.join('/')}, ` +
            `large pages ${decoded.cap.secondStageLargePages.join('/') || 'none'}, caching mode ${decoded.cap.cachingMode}, ` +
            `scalable mode ${decoded.ecap.scalableMode}, nesting ${decoded.ecap.nested}, dirty tracking ${decoded.capabilities.dirtyTracking}`
          : `type ${decoded.type} (${decoded.typeNumber}), dirty tracking ${decoded.capabilities.dirtyTracking}`;
      return { detail, type: decoded.type, typeNumber: decoded.typeNumber };
    });

    await check('attach-ioas', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT to an IOAS gives an automatic HWPT', ['bind'], () => {
      ioas = fd!.allocIoas();
      ioases.push(ioas);
      autoHwpt = device!.attach(ioas);
      if (autoHwpt === ioas.id) throw new Error(`attach returned the IOAS id ${ioas.id}, not an HWPT id`);
      return { ioasId: ioas.id, hwptId: autoHwpt };
    });

    await check('iova-ranges', 'IOVA ranges: allowed, aligned, excluding the MSI window', ['attach-ioas'], () => {
      const { ranges, alignment } = ioas!.iovaRanges();
      if (ranges.length === 0) throw new Error('no IOVA is allowed');
      if (alignment === 0n || (alignment & (alignment - 1n)) !== 0n) throw new Error(`alignment ${alignment} is not a power of two`);
      const x86 = process.arch === 'x64' || process.arch === 'ia32';
      const msiAllowed = ranges.some((r) => r.start <= X86_MSI_WINDOW.last && r.last >= X86_MSI_WINDOW.start);
      if (x86 && msiAllowed) throw new Error('the MSI window 0xfee00000-0xfeefffff is inside an allowed range: interrupts could be forged by DMA');
      plan = new IovaPlan(ranges, engine?.maxIova ?? 0xffffffffffffffffn);
      const shown = ranges.map((r) => `[0x${r.start.toString(16)}, 0x${r.last.toString(16)}]`).join(' ');
      return { detail: `${shown}, alignment ${alignment}`, ranges: ranges.length, alignment };
    });

    // The engine's DMA mask limits the IOVAs every later check uses.
    if (options.dma !== false && device && !device.closed && device.devId !== undefined) {
      try {
        if (device.info().pci) engine = openDmaEngine(device);
      } catch {
        engine = null;
      }
      report.dmaEngine = engine?.name ?? null;
      if (engine && ioas) plan = new IovaPlan(ioas.iovaRanges().ranges, engine.maxIova);
    }

    await check('map-unmap', 'map and unmap across sizes (4 KiB to 2 MiB, THP)', ['iova-ranges'], () => {
      const sizes = [PAGE, 16 * PAGE, 2 * MiB];
      const done: string[] = [];
      for (const size of sizes) {
        const huge = size >= 2 * MiB && options.hugePages !== false;
        const mem = buffer(size, huge);
        const at = plan!.take(size);
        if (ioas!.mapFixed(at, mem) !== at) throw new Error(`mapFixed did not map at 0x${at.toString(16)}`);
        const unmapped = ioas!.unmap(at, size);
        if (unmapped !== BigInt(size)) throw new Error(`unmap of ${size} bytes reported ${unmapped}`);
        const anywhere = ioas!.mapAnywhere(mem);
        if (anywhere % BigInt(PAGE) !== 0n) throw new Error(`the kernel chose an unaligned IOVA 0x${anywhere.toString(16)}`);
        ioas!.unmap(anywhere, size);
        done.push(`${size / 1024} KiB${huge ? ' (THP)' : ''}`);
      }
      return done.join(', ');
    });

    let hwpt: Hwpt | undefined;
    await check('hwpt-alloc', 'IOMMU_HWPT_ALLOC for the device, and replace onto it', ['attach-ioas'], () => {
      hwpt = fd!.allocHwpt(devId, ioas!);
      hwpts.push(hwpt);
      const attached = device!.attach(hwpt);
      if (attached !== hwpt.id) throw new Error(`attach to HWPT ${hwpt.id} returned ${attached}`);
      return { hwptId: hwpt.id };
    });

    await check('hwpt-dirty-tracking', 'dirty tracking: allocated when the IOMMU has it, EOPNOTSUPP otherwise', ['attach-ioas'], () => {
      const supported = report.hwInfo?.capabilities.dirtyTracking ?? false;
      try {
        const dirty = fd!.allocHwpt(devId, ioas!, { dirtyTracking: true });
        hwpts.push(dirty);
        if (!supported) throw new Error('HWPT with dirty tracking allocated although hw info does not report IOMMU_HW_CAP_DIRTY_TRACKING');
        dirty.setDirtyTracking(true);
        dirty.setDirtyTracking(false);
        return 'supported: allocated, tracking switched on and off';
      } catch (e) {
        if (!supported && e instanceof IommufdError && e.code === 'EOPNOTSUPP') return 'not supported by this IOMMU (EOPNOTSUPP, as hw info says)';
        throw e;
      }
    });

    await check('hwpt-nest-parent', 'nest-parent HWPT: allocated when the IOMMU nests, EOPNOTSUPP otherwise', ['attach-ioas'], () => {
      const info = report.hwInfo;
      const expected = info?.type === 'intel-vtd' ? info.ecap.nested : undefined;
      try {
        const parent = fd!.allocHwpt(devId, ioas!, { nestParent: true });
        hwpts.push(parent);
        if (expected === false) throw new Error('nest-parent HWPT allocated although ECAP.NEST is clear');
        return 'supported';
      } catch (e) {
        if (expected !== true && e instanceof IommufdError && e.code === 'EOPNOTSUPP') return 'not supported by this IOMMU (EOPNOTSUPP)';
        throw e;
      }
    });

    await check('detach', 'detach, then attach again', ['attach-ioas'], () => {
      device!.detach();
      autoHwpt = device!.attach(ioas!);
      return { hwptId: autoHwpt };
    });

    // ---- DMA through the device ------------------------------------------
    const dmaNeeds = ['attach-ioas', 'iova-ranges'];
    const needEngine = (): DmaEngine => {
      if (!engine) throw new Skip(options.dma === false ? 'DMA checks disabled' : 'no DMA engine is known for this device');
      return engine;
    };

    await check('dma-copy', 'DMA copies through the device match byte for byte', dmaNeeds, async () => {
      const e = needEngine();
      const sizes = options.dmaSizes ?? [1, 64, 4000, 4096 + 123];
      const span = Math.ceil((2 * PAGE + Math.max(...sizes)) / PAGE) * PAGE;
      const src = buffer(span);
      const dst = buffer(span);
      const srcIova = plan!.take(span);
      const dstIova = plan!.take(span);
      ioas!.mapFixed(srcIova, src);
      ioas!.mapFixed(dstIova, dst);
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
        ioas!.unmap(srcIova, span);
        ioas!.unmap(dstIova, span);
      }
      return { detail: `${copies} copies (${sizes.join(', ')} bytes, aligned and unaligned)`, copies, msPerCopy: Math.round(elapsed / copies) };
    });

    await check('dma-huge-pages', 'DMA into a transparent-huge-page buffer mapped at a 2 MiB IOVA', dmaNeeds, async () => {
      const e = needEngine();
      if (options.hugePages === false) throw new Skip('huge pages disabled');
      const huge = buffer(2 * MiB, true);
      const src = buffer(PAGE);
      const hugeIova = plan!.take(2 * MiB, 2 * MiB);
      const srcIova = plan!.take(PAGE, PAGE);
      ioas!.mapFixed(hugeIova, huge);
      ioas!.mapFixed(srcIova, src);
      try {
        for (const offset of [0, MiB - 7, 2 * MiB - 1000]) {
          fillPattern(src.bytes, offset + 1);
          await e.copy(srcIova, hugeIova + BigInt(offset), 1000);
          const at = firstDifference(huge.bytes.subarray(offset, offset + 1000), src.bytes.subarray(0, 1000));
          if (at >= 0) throw new Error(`copy into the huge buffer at +${offset} differs at byte ${at}`);
        }
      } finally {
        ioas!.unmap(hugeIova, 2 * MiB);
        ioas!.unmap(srcIova, PAGE);
      }
      return 'three copies across the 2 MiB page compared';
    });

    await check('dma-read-only', 'a read-only mapping refuses device writes', dmaNeeds, async () => {
      const e = needEngine();
      const src = buffer(PAGE);
      const dst = buffer(PAGE);
      fillPattern(src.bytes, 7);
      dst.bytes.fill(0x5a);
      const srcIova = plan!.take(PAGE, PAGE);
      const dstIova = plan!.take(PAGE, PAGE);
      ioas!.mapFixed(srcIova, src, { writeable: false });
      ioas!.mapFixed(dstIova, dst, { writeable: false });
      try {
        await e.copy(srcIova, dstIova, 512);
        if (dst.bytes.some((b) => b !== 0x5a)) throw new Error('the device wrote through a read-only mapping');
      } finally {
        ioas!.unmap(srcIova, PAGE);
        ioas!.unmap(dstIova, PAGE);
      }
      return 'device read the read-only source; its write was blocked, the buffer is untouched';
    });

    await check('dma-unmapped', 'DMA to and from unmapped IOVAs is blocked', dmaNeeds, async () => {
      const e = needEngine();
      const src = buffer(PAGE);
      const dst = buffer(PAGE);
      const srcIova = plan!.take(PAGE, PAGE);
      const dstIova = plan!.take(PAGE, PAGE);
      ioas!.mapFixed(srcIova, src);
      ioas!.mapFixed(dstIova, dst);
      fillPattern(src.bytes, 11);
      await e.copy(srcIova, dstIova, 256);
      if (firstDifference(dst.bytes.subarray(0, 256), src.bytes.subarray(0, 256)) >= 0) throw new Error('the mapped copy before unmapping failed');
      // Destination unmapped: the write must not reach the buffer.
      ioas!.unmap(dstIova, PAGE);
      dst.bytes.fill(0xa5);
      fillPattern(src.bytes, 12);
      await e.copy(srcIova, dstIova, 256);
      if (dst.bytes.some((b) => b !== 0xa5)) throw new Error('the device wrote to memory after its IOVA was unmapped');
      // Source unmapped: the device must not read the buffer.
      ioas!.mapFixed(dstIova, dst);
      ioas!.unmap(srcIova, PAGE);
      fillPattern(src.bytes, 13);
      dst.bytes.fill(0);
      await e.copy(srcIova, dstIova, 256);
      ioas!.unmap(dstIova, PAGE);
      if (firstDifference(dst.bytes.subarray(0, 256), src.bytes.subarray(0, 256)) < 0)
        throw new Error('the device read memory after its IOVA was unmapped');
      return 'writes and reads through unmapped IOVAs were blocked; buffers untouched';
    });

    await check('dma-replace', 'replace switches the translation the device uses', dmaNeeds, async () => {
      const e = needEngine();
      const other = fd!.allocIoas();
      ioases.push(other);
      const a = buffer(PAGE);
      const b = buffer(PAGE);
      const out = buffer(PAGE);
      fillPattern(a.bytes, 21);
      fillPattern(b.bytes, 22);
      const inIova = plan!.take(PAGE, PAGE);
      const outIova = plan!.take(PAGE, PAGE);
      ioas!.mapFixed(inIova, a);
      ioas!.mapFixed(outIova, out);
      other.mapFixed(inIova, b);
      other.mapFixed(outIova, out);
      try {
        await e.copy(inIova, outIova, 300);
        if (firstDifference(out.bytes.subarray(0, 300), a.bytes.subarray(0, 300)) >= 0) throw new Error('DMA through the first IOAS did not read its buffer');
        const replaced = device!.attach(other);
        await e.copy(inIova, outIova, 300);
        if (firstDifference(out.bytes.subarray(0, 300), b.bytes.subarray(0, 300)) >= 0) throw new Error('after replace the device still used the old translation');
        autoHwpt = device!.attach(ioas!);
        return { detail: 'same IOVA, two IOASes: the device followed the replace', replacedHwpt: replaced };
      } finally {
        ioas!.unmap(inIova, PAGE);
        ioas!.unmap(outIova, PAGE);
        other.unmapAll();
      }
    });

    engine?.close();
    engine = null;

    await check('close-cleanup', 'closing the device without detaching releases the IOAS', ['attach-ioas'], () => {
      const hwptId = autoHwpt;
      for (const h of hwpts.splice(0)) h.destroy();
      device!.close();
      try {
        fd!.destroy(hwptId);
        throw new Error(`the automatic HWPT ${hwptId} outlived the device`);
      } catch (e) {
        if (!(e instanceof IommufdError && e.code === 'ENOENT')) throw e;
      }
      ioas!.destroy(); // EBUSY if the device were still attached
      ioases.splice(ioases.indexOf(ioas!), 1);
      return 'automatic HWPT gone, IOAS destroyable';
    });
  } finally {
    engine?.close();
    device?.close();
    for (const h of hwpts) {
      try {
        h.destroy();
      } catch {
        // already gone with its device
      }
    }
    for (const i of ioases) {
      try {
        if (!i.destroyed) {
          i.unmapAll();
          i.destroy();
        }
      } catch {
        // the fd close below releases it
      }
    }
    fd?.close();
    for (const b of buffers) {
      try {
        b.free();
      } catch {
        // still mapped by an IOAS the fd close released: GC frees it
      }
    }
  }
  report.ok = report.failed === 0;
  return report;
}
