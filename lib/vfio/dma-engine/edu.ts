// QEMU's educational PCI device ("edu", vendor 0x1234 device 0x11e8) as a DMA
// engine. Register layout from QEMU's docs/specs/edu.txt / hw/misc/edu.c:
//   0x00 id (0xRRrr00ed)   0x04 liveness (reads back inverted)
//   0x80 DMA source        0x88 DMA destination     0x90 DMA count
//   0x98 DMA command: bit0 start (reads 1 while busy), bit1 direction
//        (0: RAM -> device, 1: device -> RAM), bit2 raise an interrupt
// The device's own memory is a 4 KiB buffer at 0x40000 of its address space.
// A transfer starts ~100 ms (QEMU virtual time) after the command.
import type { MmioRegion, VfioDevice } from '../device.js';
import { VFIO_PCI_BAR0_REGION_INDEX } from '../device.js';
import { toByteCount, toU64 } from '../../base/validate.js';
import { type DmaCopyOptions, type DmaCopyResult, type DmaEngine, DmaTimeoutError } from './types.js';

export const EDU_VENDOR_ID = 0x1234;
export const EDU_DEVICE_ID = 0x11e8;
const REG_ID = 0x00;
const REG_LIVENESS = 0x04;
const REG_DMA_SRC = 0x80;
const REG_DMA_DST = 0x88;
const REG_DMA_COUNT = 0x90;
const REG_DMA_CMD = 0x98;
const DMA_CMD_RUN = 0x1;
const DMA_CMD_TO_RAM = 0x2;
/** The device buffer in the edu's DMA address space, and its size. */
export const EDU_DMA_BUFFER = 0x40000n;
export const EDU_DMA_BUFFER_SIZE = 4096;
/**
 * Largest single transfer. QEMU up to 7.2 checks the buffer range with a strict
 * `end < 0x41000` and aborts the whole VM (hw_error) otherwise, so a transfer
 * must end before the last byte of the buffer: offset + count <= 4095.
 */
export const EDU_MAX_TRANSFER = EDU_DMA_BUFFER_SIZE - 1;
/** The edu's default DMA mask is 28 bits: QEMU silently truncates higher addresses. */
export const EDU_DMA_MASK = (1n << 28n) - 1n;

export interface EduOptions {
  /** Per-transfer timeout; default 10 s (TCG on a busy host can be slow). */
  timeoutMs?: number;
  /** How often to read the busy bit; default 2 ms. */
  pollMs?: number;
  /** Bytes per device transfer, 1..EDU_MAX_TRANSFER; default EDU_MAX_TRANSFER. */
  chunk?: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class EduDmaEngine implements DmaEngine {
  readonly name = 'edu';
  readonly maxIova = EDU_DMA_MASK;
  readonly device: VfioDevice;
  /** Major / minor version from the id register. */
  readonly version: { major: number; minor: number };
  readonly #bar: MmioRegion;
  readonly #timeoutMs: number;
  readonly #pollMs: number;
  readonly #chunk: number;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(device: VfioDevice, bar: MmioRegion, version: { major: number; minor: number }, options: EduOptions) {
    this.device = device;
    this.#bar = bar;
    this.version = version;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#pollMs = options.pollMs ?? 2;
    this.#chunk = options.chunk ?? EDU_MAX_TRANSFER;
    if (!Number.isInteger(this.#chunk) || this.#chunk < 1 || this.#chunk > EDU_MAX_TRANSFER)
      throw new RangeError(`chunk must be 1..${EDU_MAX_TRANSFER}`);
  }

  static matches(ids: { vendor: number; device: number }): boolean {
    return ids.vendor === EDU_VENDOR_ID && ids.device === EDU_DEVICE_ID;
  }

  /**
   * Take over a bound edu device: check its ids and registers, map BAR0 and
   * enable bus mastering. Attach the device to an IOAS/HWPT before copying.
   */
  static open(device: VfioDevice, options: EduOptions = {}): EduDmaEngine {
    const ids = device.pciIds();
    if (!EduDmaEngine.matches(ids))
      throw new Error(`not an edu device: ${hex(ids.vendor, 4)}:${hex(ids.device, 4)} (want 1234:11e8)`);
    const bar = device.mapRegion(VFIO_PCI_BAR0_REGION_INDEX, { length: 4096 });
    try {
      const id = bar.read32(REG_ID);
      if ((id & 0xff) !== 0xed) throw new Error(`edu id register reads ${hex(id, 8)}, not 0x....00ed`);
      const probe = 0x5a5a0f0f;
      bar.write32(REG_LIVENESS, probe);
      const back = bar.read32(REG_LIVENESS);
      if (back !== ~probe >>> 0) throw new Error(`edu liveness check failed: wrote ${hex(probe, 8)}, read ${hex(back, 8)}`);
      device.setBusMaster(true);
      return new EduDmaEngine(device, bar, { major: id >>> 24, minor: (id >>> 16) & 0xff }, options);
    } catch (e) {
      bar.unmap();
      throw e;
    }
  }

  /** The MMIO registers (for tests and diagnostics). */
  get registers(): MmioRegion {
    return this.#bar;
  }

  copy(srcIova: bigint | number, dstIova: bigint | number, length: number, options: DmaCopyOptions = {}): Promise<DmaCopyResult> {
    const src = toU64(srcIova, 'srcIova');
    const dst = toU64(dstIova, 'dstIova');
    const size = toByteCount(length, 'length');
    if (size === 0) throw new RangeError('length must be > 0');
    this.#checkIova('source', src, size);
    this.#checkIova('destination', dst, size);
    return this.#serialise(async () => {
      const started = performance.now();
      let transfers = 0;
      for (let done = 0; done < size; done += this.#chunk) {
        const n = Math.min(this.#chunk, size - done);
        await this.#transfer(src + BigInt(done), EDU_DMA_BUFFER, n, 0, options);
        await this.#transfer(EDU_DMA_BUFFER, dst + BigInt(done), n, DMA_CMD_TO_RAM, options);
        transfers += 2;
      }
      return { transfers, elapsedMs: performance.now() - started };
    });
  }

  /** One transfer RAM -> device buffer: `length` bytes from `iova` to buffer offset `bufferOffset`. */
  toDevice(iova: bigint | number, bufferOffset: number, length: number, options: DmaCopyOptions = {}): Promise<void> {
    const at = this.#bufferAddress(bufferOffset, length);
    const from = this.#checkIova('source', toU64(iova, 'iova'), length);
    return this.#serialise(() => this.#transfer(from, at, length, 0, options));
  }

  /** One transfer device buffer -> RAM. */
  fromDevice(bufferOffset: number, iova: bigint | number, length: number, options: DmaCopyOptions = {}): Promise<void> {
    const at = this.#bufferAddress(bufferOffset, length);
    const to = this.#checkIova('destination', toU64(iova, 'iova'), length);
    return this.#serialise(() => this.#transfer(at, to, length, DMA_CMD_TO_RAM, options));
  }

  close(): void {
    this.#bar.unmap();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #checkIova(name: string, iova: bigint, length: number): bigint {
    if (iova + BigInt(length) - 1n > this.maxIova)
      throw new RangeError(
        `${name} [${hex(iova)}, +${length}) is beyond the edu's 28-bit DMA mask (the device would silently truncate it): keep IOVAs below 0x10000000`,
      );
    return iova;
  }

  #bufferAddress(offset: number, length: number): bigint {
    const o = toByteCount(offset, 'bufferOffset');
    const n = toByteCount(length, 'length');
    if (n === 0 || o + n > EDU_MAX_TRANSFER)
      throw new RangeError(`buffer window [${o}, +${n}) must be non-empty and end by byte ${EDU_MAX_TRANSFER} (QEMU's range check)`);
    return EDU_DMA_BUFFER + BigInt(o);
  }

  #serialise<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #transfer(src: bigint, dst: bigint, count: number, direction: number, options: DmaCopyOptions): Promise<void> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    await this.#waitIdle(timeoutMs, 'a previous transfer');
    const bar = this.#bar;
    bar.write64(REG_DMA_SRC, src);
    bar.write64(REG_DMA_DST, dst);
    bar.write64(REG_DMA_COUNT, BigInt(count));
    // The device ignores these writes while busy: make sure they landed.
    if (bar.read64(REG_DMA_SRC) !== src || bar.read64(REG_DMA_DST) !== dst || bar.read64(REG_DMA_COUNT) !== BigInt(count))
      throw new Error('edu DMA registers did not take the written values');
    bar.write32(REG_DMA_CMD, DMA_CMD_RUN | direction);
    await this.#waitIdle(timeoutMs, `the ${direction ? 'device -> RAM' : 'RAM -> device'} transfer of ${count} bytes`);
  }

  async #waitIdle(timeoutMs: number, what: string): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.#bar.read32(REG_DMA_CMD) & DMA_CMD_RUN) {
      if (performance.now() > deadline) throw new DmaTimeoutError(`edu: ${what} did not finish within ${timeoutMs} ms`);
      await sleep(this.#pollMs);
    }
  }
}

function hex(value: number | bigint, digits = 0): string {
  return `0x${value.toString(16).padStart(digits, '0')}`;
}
