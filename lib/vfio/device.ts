// A VFIO device through its character device (/dev/vfio/devices/vfioN), bound
// to an iommufd: the hardware-validation half of the package. The device fd
// is owned here; DMA reaches memory only through the IOAS / HWPT it is
// attached to, and device registers only through MMIO accessors of an
// explicit width (MmioRegion), never through a typed-array view.
import { existsSync, fstatSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ClosedError, IommufdError } from '../base/errors.js';
import { Hwpt } from '../api/hwpt.js';
import { Ioas } from '../api/ioas.js';
import { Iommufd } from '../api/iommufd.js';
import { type MmioHandle, addon } from '../native/binding.js';
import { NativeBackend } from '../native/backend.js';
import { UAPI_LAYOUTS } from '../uapi/layout.js';
import { toByteCount, toU32, toU64 } from '../base/validate.js';

// vfio.h, from the generated table (lib/uapi/layout.ts).
const K = UAPI_LAYOUTS['6.12'].constants;
export const VFIO_DEVICE_FLAGS_RESET: number = K.VFIO_DEVICE_FLAGS_RESET;
export const VFIO_DEVICE_FLAGS_PCI: number = K.VFIO_DEVICE_FLAGS_PCI;
export const VFIO_DEVICE_FLAGS_CAPS: number = K.VFIO_DEVICE_FLAGS_CAPS;
export const VFIO_REGION_INFO_FLAG_READ: number = K.VFIO_REGION_INFO_FLAG_READ;
export const VFIO_REGION_INFO_FLAG_WRITE: number = K.VFIO_REGION_INFO_FLAG_WRITE;
export const VFIO_REGION_INFO_FLAG_MMAP: number = K.VFIO_REGION_INFO_FLAG_MMAP;
export const VFIO_REGION_INFO_FLAG_CAPS: number = K.VFIO_REGION_INFO_FLAG_CAPS;
export const VFIO_REGION_INFO_CAP_SPARSE_MMAP: number = K.VFIO_REGION_INFO_CAP_SPARSE_MMAP;
export const VFIO_REGION_INFO_CAP_TYPE: number = K.VFIO_REGION_INFO_CAP_TYPE;
export const VFIO_IRQ_INFO_EVENTFD: number = K.VFIO_IRQ_INFO_EVENTFD;
export const VFIO_IRQ_INFO_MASKABLE: number = K.VFIO_IRQ_INFO_MASKABLE;
export const VFIO_IRQ_INFO_AUTOMASKED: number = K.VFIO_IRQ_INFO_AUTOMASKED;
export const VFIO_IRQ_INFO_NORESIZE: number = K.VFIO_IRQ_INFO_NORESIZE;
/** vfio-pci region indexes. */
export const VFIO_PCI_BAR0_REGION_INDEX: number = K.VFIO_PCI_BAR0_REGION_INDEX;
export const VFIO_PCI_ROM_REGION_INDEX: number = K.VFIO_PCI_ROM_REGION_INDEX;
export const VFIO_PCI_CONFIG_REGION_INDEX: number = K.VFIO_PCI_CONFIG_REGION_INDEX;
export const VFIO_PCI_NUM_REGIONS: number = K.VFIO_PCI_NUM_REGIONS;
/** vfio-pci IRQ indexes. */
export const VFIO_PCI_INTX_IRQ_INDEX: number = K.VFIO_PCI_INTX_IRQ_INDEX;
export const VFIO_PCI_MSI_IRQ_INDEX: number = K.VFIO_PCI_MSI_IRQ_INDEX;
export const VFIO_PCI_MSIX_IRQ_INDEX: number = K.VFIO_PCI_MSIX_IRQ_INDEX;
export const VFIO_PCI_ERR_IRQ_INDEX: number = K.VFIO_PCI_ERR_IRQ_INDEX;
export const VFIO_PCI_REQ_IRQ_INDEX: number = K.VFIO_PCI_REQ_IRQ_INDEX;
export const VFIO_PCI_NUM_IRQS: number = K.VFIO_PCI_NUM_IRQS;
/** PCI config space. */
export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_COMMAND_MEMORY = 0x2;
export const PCI_COMMAND_MASTER = 0x4;

export interface VfioDeviceInfo {
  flags: number;
  numRegions: number;
  numIrqs: number;
  /** VFIO_DEVICE_FLAGS_RESET: VFIO_DEVICE_RESET works. */
  reset: boolean;
  /** VFIO_DEVICE_FLAGS_PCI: a vfio-pci device (config space at region 7). */
  pci: boolean;
}

export interface SparseMmapArea {
  offset: bigint;
  size: bigint;
}

export interface VfioRegionInfo {
  index: number;
  flags: number;
  /** Region size in bytes (0: not implemented, e.g. an unused BAR). */
  size: bigint;
  /** Where the region starts in the device fd (for pread/pwrite/mmap). */
  offset: bigint;
  readable: boolean;
  writeable: boolean;
  mmap: boolean;
  /** VFIO_REGION_INFO_CAP_SPARSE_MMAP: only these parts may be mmap()ed. */
  sparseMmap?: SparseMmapArea[];
  /** VFIO_REGION_INFO_CAP_TYPE. */
  type?: { type: number; subtype: number };
  /** Other capabilities, raw: id, version and the bytes after the header. */
  otherCaps: { id: number; version: number; data: Uint8Array }[];
}

export interface VfioIrqInfo {
  index: number;
  flags: number;
  count: number;
  eventfd: boolean;
  maskable: boolean;
  automasked: boolean;
  noresize: boolean;
}

export interface MapRegionOptions {
  /** Byte offset inside the region (page aligned); default 0. */
  offset?: number | bigint;
  /** Default: the rest of the region. */
  length?: number | bigint;
  /** PROT_WRITE too; default true when the region is writeable. */
  writable?: boolean;
}

const PAGE_SIZE = 4096;

function decorate(e: unknown, details: Partial<Record<string, string>>): unknown {
  if (!(e instanceof IommufdError)) return e;
  const detail = details[e.code];
  return detail === undefined ? e : new IommufdError(e.errno, e.op, `(${detail})`);
}

/**
 * A VFIO device cdev. Lifecycle, as the kernel sees it: open -> bind(iommufd)
 * -> attach(IOAS | HWPT) (again to replace) -> detach() -> close(). Closing
 * without detaching is fine: the kernel detaches, destroys the automatic HWPT
 * and unbinds, as when a process dies.
 */
export class VfioDevice implements Disposable {
  readonly path: string;
  #fd: number | undefined;
  #iommufd: Iommufd | undefined;
  #releaseContext: (() => void) | undefined;
  #devId: number | undefined;
  #attachedTo: { target: Ioas | Hwpt | number; ptId: number } | undefined;
  readonly #regions = new Set<MmioRegion>();

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /** Open a VFIO device cdev, e.g. /dev/vfio/devices/vfio0 (see bindPciToVfio). */
  static open(path: string): VfioDevice {
    if (typeof path !== 'string') throw new TypeError('path must be a string');
    const native = addon();
    let fd: number;
    try {
      fd = native.open(path);
    } catch (e) {
      throw decorate(e, {
        ENOENT: `${path} does not exist: bind the device to vfio-pci and use its /dev/vfio/devices/vfioN (kernel needs CONFIG_VFIO_DEVICE_CDEV)`,
        EACCES: `no permission to open ${path}`,
        EBUSY: `${path} is in use (its VFIO group is open, or another process holds it)`,
      });
    }
    try {
      const st = fstatSync(fd);
      if (!st.isCharacterDevice()) throw new TypeError(`${path} is not a character device`);
      const subsystem = join('/sys/dev/char', `${Math.floor(st.rdev / 256) & 0xfff}:${(st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00)}`, 'subsystem');
      if (existsSync(subsystem) && basename(readlinkSync(subsystem)) !== 'vfio-dev')
        throw new TypeError(`${path} is not a VFIO device cdev (expected /dev/vfio/devices/vfioN)`);
    } catch (e) {
      native.close(fd);
      throw e;
    }
    return new VfioDevice(path, fd);
  }

  get closed(): boolean {
    return this.#fd === undefined;
  }

  /** The iommufd device id from bind(), or undefined before. */
  get devId(): number | undefined {
    return this.#devId;
  }

  /** What the device is attached to (the id attach() returned: an HWPT id), or undefined. */
  get attachedPtId(): number | undefined {
    return this.#attachedTo?.ptId;
  }

  /**
   * VFIO_DEVICE_BIND_IOMMUFD: returns the device id for iommufd commands
   * (fd.hwInfo(devId), fd.allocHwpt(devId, ...)). A device file binds once.
   * A raw fd number is accepted for tests of bad input.
   */
  bind(iommufd: Iommufd | number): number {
    const fd = this.#checkOpen();
    let iommuFd: number;
    if (iommufd instanceof Iommufd) {
      if (iommufd.closed) throw new ClosedError('the iommufd is closed');
      if (!(iommufd.backend instanceof NativeBackend))
        throw new TypeError('VFIO devices need an iommufd on the native backend (a real /dev/iommu)');
      iommuFd = iommufd.backend.fd;
    } else {
      iommuFd = toU32(iommufd, 'iommufd');
    }
    try {
      this.#devId = addon().vfioDeviceBindIommufd(fd, iommuFd);
    } catch (e) {
      throw decorate(e, {
        EINVAL:
          this.#devId !== undefined
            ? `this device file is already bound (device id ${this.#devId}); a device binds once per open`
            : 'the device is already bound through another open file, or was opened through its VFIO group',
        EBADFD: `fd ${iommuFd} is not an iommufd (/dev/iommu)`,
        EBADF: `fd ${iommuFd} is not an open file descriptor`,
        ENOTTY: `${this.path} is not a VFIO device cdev`,
        EBUSY: 'the VFIO group of this device is in use through the legacy group interface',
      });
    }
    if (iommufd instanceof Iommufd) {
      this.#iommufd = iommufd;
      // Bound, the device keeps the iommufd context alive even after it closes.
      this.#releaseContext = iommufd.holdContext(this);
    }
    return this.#devId;
  }

  /**
   * VFIO_DEVICE_ATTACH_IOMMUFD_PT: attach to an IOAS (the kernel finds or
   * creates an automatic HWPT and returns its id) or to an HWPT (returns its
   * id). Attaching again while attached replaces the translation atomically.
   */
  attach(target: Ioas | Hwpt | number): number {
    const fd = this.#checkBound();
    let ptId: number;
    if (target instanceof Ioas) {
      const backend = target.backendForBatch(); // throws if the IOAS is destroyed
      if (this.#iommufd && backend !== this.#iommufd.backend)
        throw new Error(`IOAS ${target.id} belongs to another iommufd than the one this device is bound to`);
      ptId = target.id;
    } else if (target instanceof Hwpt) {
      ptId = target.id;
    } else {
      ptId = toU32(target, 'ptId');
    }
    let attached: number;
    try {
      attached = addon().vfioDeviceAttachPt(fd, ptId);
    } catch (e) {
      throw decorate(e, {
        ENOENT: `no IOAS or HWPT with id ${ptId} in the bound iommufd (destroyed?)`,
        EINVAL: `id ${ptId} is not an IOAS or a paging HWPT this device can use`,
        EBUSY: 'the device cannot change domains now (another device of its group is attached elsewhere?)',
      });
    }
    this.#attachedTo = { target, ptId: attached };
    return attached;
  }

  /** VFIO_DEVICE_DETACH_IOMMUFD_PT: the device is left blocking all DMA. */
  detach(): void {
    const fd = this.#checkBound();
    addon().vfioDeviceDetachPt(fd);
    this.#attachedTo = undefined;
  }

  /** VFIO_DEVICE_GET_INFO. */
  info(): VfioDeviceInfo {
    const r = addon().vfioDeviceGetInfo(this.#checkBound());
    return {
      flags: r.flags,
      numRegions: r.numRegions,
      numIrqs: r.numIrqs,
      reset: (r.flags & VFIO_DEVICE_FLAGS_RESET) !== 0,
      pci: (r.flags & VFIO_DEVICE_FLAGS_PCI) !== 0,
    };
  }

  /** VFIO_DEVICE_GET_REGION_INFO, with its capability chain parsed. */
  regionInfo(index: number): VfioRegionInfo {
    const fd = this.#checkBound();
    const r = addon().vfioDeviceGetRegionInfo(fd, toU32(index, 'index'));
    const info: VfioRegionInfo = {
      index: r.index,
      flags: r.flags,
      size: r.size,
      offset: r.offset,
      readable: (r.flags & VFIO_REGION_INFO_FLAG_READ) !== 0,
      writeable: (r.flags & VFIO_REGION_INFO_FLAG_WRITE) !== 0,
      mmap: (r.flags & VFIO_REGION_INFO_FLAG_MMAP) !== 0,
      otherCaps: [],
    };
    const bytes = r.info;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const seen = new Set<number>();
    for (let at = r.capOffset; at !== 0 && at + 8 <= bytes.byteLength && !seen.has(at); ) {
      seen.add(at);
      const id = view.getUint16(at, true);
      const version = view.getUint16(at + 2, true);
      const next = view.getUint32(at + 4, true);
      const end = next > at && next <= bytes.byteLength ? next : bytes.byteLength;
      if (id === VFIO_REGION_INFO_CAP_SPARSE_MMAP && at + 16 <= end) {
        const count = view.getUint32(at + 8, true);
        info.sparseMmap = [];
        for (let i = 0; i < count && at + 16 + 16 * (i + 1) <= bytes.byteLength; i++)
          info.sparseMmap.push({ offset: view.getBigUint64(at + 16 + 16 * i, true), size: view.getBigUint64(at + 24 + 16 * i, true) });
      } else if (id === VFIO_REGION_INFO_CAP_TYPE && at + 16 <= end) {
        info.type = { type: view.getUint32(at + 8, true), subtype: view.getUint32(at + 12, true) };
      } else {
        info.otherCaps.push({ id, version, data: bytes.slice(at + 8, end) });
      }
      at = next;
    }
    return info;
  }

  /** VFIO_DEVICE_GET_IRQ_INFO. */
  irqInfo(index: number): VfioIrqInfo {
    const r = addon().vfioDeviceGetIrqInfo(this.#checkBound(), toU32(index, 'index'));
    return {
      index: r.index,
      flags: r.flags,
      count: r.count,
      eventfd: (r.flags & VFIO_IRQ_INFO_EVENTFD) !== 0,
      maskable: (r.flags & VFIO_IRQ_INFO_MASKABLE) !== 0,
      automasked: (r.flags & VFIO_IRQ_INFO_AUTOMASKED) !== 0,
      noresize: (r.flags & VFIO_IRQ_INFO_NORESIZE) !== 0,
    };
  }

  /** VFIO_DEVICE_RESET. EINVAL when the device has no reset method (info().reset is false). */
  reset(): void {
    const fd = this.#checkBound();
    try {
      addon().vfioDeviceReset(fd);
    } catch (e) {
      throw decorate(e, { EINVAL: 'the device has no reset method (VFIO_DEVICE_FLAGS_RESET is clear)' });
    }
  }

  /** pread() of `length` bytes at `offset` inside region `index`. */
  readRegion(index: number, offset: number | bigint, length: number): Uint8Array {
    const { fileOffset, size } = this.#regionWindow(index, offset, length, 'read');
    const out = new Uint8Array(size);
    if (size === 0) return out;
    const n = addon().vfioDevicePread(this.#checkBound(), out, 0, size, fileOffset);
    if (n !== size) throw new Error(`short read from region ${index}: ${n} of ${size} bytes`);
    return out;
  }

  /** pwrite() of `data` at `offset` inside region `index`. */
  writeRegion(index: number, offset: number | bigint, data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
    const { fileOffset, size } = this.#regionWindow(index, offset, data.byteLength, 'write');
    if (size === 0) return;
    const n = addon().vfioDevicePwrite(this.#checkBound(), data, 0, size, fileOffset);
    if (n !== size) throw new Error(`short write to region ${index}: ${n} of ${size} bytes`);
  }

  /** PCI config space (vfio-pci region 7), bounds-checked against its size. */
  readConfig(offset: number, length: number): Uint8Array {
    return this.readRegion(VFIO_PCI_CONFIG_REGION_INDEX, offset, length);
  }

  writeConfig(offset: number, data: Uint8Array): void {
    this.#guardCommandWrite(offset, data);
    this.writeRegion(VFIO_PCI_CONFIG_REGION_INDEX, offset, data);
  }

  readConfig8(offset: number): number {
    return this.readConfig(offset, 1)[0]!;
  }

  readConfig16(offset: number): number {
    const b = this.readConfig(offset, 2);
    return new DataView(b.buffer).getUint16(0, true);
  }

  readConfig32(offset: number): number {
    const b = this.readConfig(offset, 4);
    return new DataView(b.buffer).getUint32(0, true);
  }

  writeConfig16(offset: number, value: number): void {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, checkWidth(value, 16), true);
    this.writeConfig(offset, b);
  }

  writeConfig32(offset: number, value: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, checkWidth(value, 32), true);
    this.writeConfig(offset, b);
  }

  /** PCI vendor and device id from config space. */
  pciIds(): { vendor: number; device: number } {
    return { vendor: this.readConfig16(PCI_VENDOR_ID), device: this.readConfig16(PCI_DEVICE_ID) };
  }

  /** Set or clear Bus Master Enable in the PCI command register: without it the device cannot DMA. */
  setBusMaster(enable: boolean): void {
    const command = this.readConfig16(PCI_COMMAND);
    this.writeConfig16(PCI_COMMAND, enable ? command | PCI_COMMAND_MASTER : command & ~PCI_COMMAND_MASTER);
  }

  /**
   * mmap() (part of) a region, typically a BAR, for MMIO through explicitly
   * sized accessors. The mapping is released by unmap(), by close() of the
   * device, or by GC.
   */
  mapRegion(index: number, options: MapRegionOptions = {}): MmioRegion {
    const fd = this.#checkBound();
    const info = this.regionInfo(index);
    if (!info.mmap) throw new Error(`region ${index} cannot be mmap()ed (VFIO_REGION_INFO_FLAG_MMAP is clear)`);
    const start = toU64(options.offset ?? 0, 'offset');
    if (start % BigInt(PAGE_SIZE) !== 0n) throw new RangeError(`offset ${start} is not page aligned`);
    if (start > info.size) throw new RangeError(`offset ${start} is past the end of the ${info.size}-byte region`);
    const length = toU64(options.length ?? info.size - start, 'length');
    if (length === 0n) throw new RangeError('length must be > 0');
    if (start + length > info.size)
      throw new RangeError(`[${start}, ${start + length}) runs past the end of the ${info.size}-byte region ${index}`);
    if (info.sparseMmap && !info.sparseMmap.some((a) => a.offset <= start && start + length <= a.offset + a.size))
      throw new RangeError(`[${start}, ${start + length}) is not inside one mmap()able area of region ${index}`);
    const writable = options.writable ?? info.writeable;
    if (writable && !info.writeable) throw new Error(`region ${index} is not writeable`);
    const size = toByteCount(length, 'length');
    const handle = addon().vfioRegionMmap(fd, info.offset + start, size, writable);
    const region = new MmioRegion(handle, index, start, size, writable, (r) => this.#regions.delete(r));
    this.#regions.add(region);
    return region;
  }

  /**
   * Close the device fd. The kernel detaches it and unbinds it from the
   * iommufd (destroying an automatic HWPT). MMIO mappings are unmapped first:
   * a live mapping would keep the device file open.
   */
  close(): void {
    if (this.#fd === undefined) return;
    for (const region of [...this.#regions]) region.unmap();
    const fd = this.#fd;
    this.#fd = undefined;
    this.#devId = undefined;
    this.#attachedTo = undefined;
    this.#iommufd = undefined;
    addon().close(fd);
    // Now the kernel has unbound the device: mappings it kept alive may go.
    this.#releaseContext?.();
    this.#releaseContext = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #checkOpen(): number {
    if (this.#fd === undefined) throw new ClosedError(`VFIO device ${this.path} is closed`);
    return this.#fd;
  }

  #checkBound(): number {
    const fd = this.#checkOpen();
    if (this.#devId === undefined)
      throw new Error(`VFIO device ${this.path} is not bound to an iommufd: call bind() first (the kernel refuses everything else until then)`);
    return fd;
  }

  #regionWindow(index: number, offset: number | bigint, length: number, what: 'read' | 'write'): { fileOffset: bigint; size: number } {
    this.#checkBound();
    const info = this.regionInfo(index);
    if (what === 'read' ? !info.readable : !info.writeable) throw new Error(`region ${index} is not ${what === 'read' ? 'readable' : 'writeable'}`);
    const start = toU64(offset, 'offset');
    const size = toByteCount(length, 'length');
    if (start + BigInt(size) > info.size)
      throw new RangeError(`[${start}, ${start + BigInt(size)}) runs past the end of the ${info.size}-byte region ${index}`);
    return { fileOffset: info.offset + start, size };
  }

  // Clearing Memory Space Enable while a BAR is mmap()ed would make the next
  // MMIO access a SIGBUS (vfio-pci refuses faults on disabled memory): refuse.
  #guardCommandWrite(offset: number, data: Uint8Array): void {
    if (this.#regions.size === 0 || offset > PCI_COMMAND || offset + data.byteLength <= PCI_COMMAND) return;
    if ((data[PCI_COMMAND - offset]! & PCI_COMMAND_MEMORY) === 0)
      throw new Error('clearing Memory Space Enable while a BAR is mapped would fault the next MMIO access: unmap the regions first');
  }
}

function checkWidth(value: number, bits: number): number {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits) throw new RangeError(`value must be a u${bits}, got ${value}`);
  return value;
}

/**
 * An mmap()ed part of a VFIO region. Each access is one volatile load or
 * store of exactly the named width, bounds- and alignment-checked in the
 * addon; `offset` is relative to the start of this mapping.
 */
export class MmioRegion implements Disposable {
  readonly index: number;
  /** Where this mapping starts inside the region. */
  readonly regionOffset: bigint;
  readonly length: number;
  readonly writable: boolean;
  #handle: MmioHandle | undefined;
  readonly #onUnmap: (r: MmioRegion) => void;

  /** @internal Created by VfioDevice.mapRegion(). */
  constructor(handle: MmioHandle, index: number, regionOffset: bigint, length: number, writable: boolean, onUnmap: (r: MmioRegion) => void) {
    this.#handle = handle;
    this.index = index;
    this.regionOffset = regionOffset;
    this.length = length;
    this.writable = writable;
    this.#onUnmap = onUnmap;
  }

  get unmapped(): boolean {
    return this.#handle === undefined;
  }

  read8(offset: number): number {
    return addon().mmioRead8(this.#live(), toByteCount(offset, 'offset'));
  }

  read16(offset: number): number {
    return addon().mmioRead16(this.#live(), toByteCount(offset, 'offset'));
  }

  read32(offset: number): number {
    return addon().mmioRead32(this.#live(), toByteCount(offset, 'offset'));
  }

  read64(offset: number): bigint {
    return addon().mmioRead64(this.#live(), toByteCount(offset, 'offset'));
  }

  write8(offset: number, value: number): void {
    addon().mmioWrite8(this.#live(), toByteCount(offset, 'offset'), checkWidth(value, 8));
  }

  write16(offset: number, value: number): void {
    addon().mmioWrite16(this.#live(), toByteCount(offset, 'offset'), checkWidth(value, 16));
  }

  write32(offset: number, value: number): void {
    addon().mmioWrite32(this.#live(), toByteCount(offset, 'offset'), checkWidth(value, 32));
  }

  write64(offset: number, value: bigint | number): void {
    addon().mmioWrite64(this.#live(), toByteCount(offset, 'offset'), toU64(value, 'value'));
  }

  unmap(): void {
    if (this.#handle === undefined) return;
    addon().mmioUnmap(this.#handle);
    this.#handle = undefined;
    this.#onUnmap(this);
  }

  [Symbol.dispose](): void {
    this.unmap();
  }

  #live(): MmioHandle {
    if (this.#handle === undefined) throw new ClosedError(`MMIO mapping of region ${this.index} has been unmapped`);
    return this.#handle;
  }
}

// ---- sysfs: finding devices and binding them to vfio-pci -------------------

const PCI_DEVICES = '/sys/bus/pci/devices';
const BDF = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;

export interface PciDevice {
  /** Domain:bus:device.function, e.g. 0000:00:01.0. */
  bdf: string;
  vendor: number;
  device: number;
  class: number;
  /** The bound driver's name, or null. */
  driver: string | null;
  iommuGroup: number | null;
  /** /dev/vfio/devices/vfioN when bound to a VFIO driver with cdev support. */
  vfioCdev: string | null;
}

function readHex(path: string): number {
  return Number.parseInt(readFileSync(path, 'utf8').trim(), 16);
}

function linkName(path: string): string | null {
  try {
    return basename(readlinkSync(path));
  } catch {
    return null;
  }
}

/** The cdev of a PCI device bound to vfio-pci, from sysfs (null if none). */
export function vfioCdevPath(bdf: string): string | null {
  const dir = join(PCI_DEVICES, checkBdf(bdf), 'vfio-dev');
  if (!existsSync(dir)) return null;
  // noiommu-vfioN: a device without an IOMMU in unsafe no-IOMMU mode (7.3, CONFIG_IOMMUFD_NOIOMMU).
  const name = readdirSync(dir).find((n) => /^(noiommu-)?vfio\d+$/.test(n));
  return name ? `/dev/vfio/devices/${name}` : null;
}

function checkBdf(bdf: string): string {
  if (typeof bdf !== 'string' || !BDF.test(bdf)) throw new TypeError(`not a PCI address (dddd:bb:dd.f): ${String(bdf)}`);
  return bdf;
}

/** PCI devices from sysfs, optionally only those with this vendor / device id. */
export function listPciDevices(filter: { vendor?: number; device?: number } = {}): PciDevice[] {
  if (!existsSync(PCI_DEVICES)) return [];
  return readdirSync(PCI_DEVICES)
    .filter((bdf) => BDF.test(bdf))
    .sort()
    .map((bdf) => {
      const dir = join(PCI_DEVICES, bdf);
      const group = linkName(join(dir, 'iommu_group'));
      return {
        bdf,
        vendor: readHex(join(dir, 'vendor')),
        device: readHex(join(dir, 'device')),
        class: readHex(join(dir, 'class')),
        driver: linkName(join(dir, 'driver')),
        iommuGroup: group === null ? null : Number(group),
        vfioCdev: vfioCdevPath(bdf),
      };
    })
    .filter((d) => (filter.vendor === undefined || d.vendor === filter.vendor) && (filter.device === undefined || d.device === filter.device));
}

/**
 * Bind a PCI device to vfio-pci through sysfs (driver_override, unbind from its
 * current driver, drivers_probe) and return its cdev path. Needs root and a
 * kernel with CONFIG_VFIO_PCI and CONFIG_VFIO_DEVICE_CDEV. Idempotent.
 */
export function bindPciToVfio(bdf: string, options: { timeoutMs?: number } = {}): string {
  const dir = join(PCI_DEVICES, checkBdf(bdf));
  if (!existsSync(dir)) throw new Error(`no PCI device ${bdf}`);
  const ready = (): string | null => {
    const cdev = vfioCdevPath(bdf);
    return cdev !== null && existsSync(cdev) ? cdev : null;
  };
  if (linkName(join(dir, 'driver')) === 'vfio-pci' && ready()) return ready()!;
  if (!existsSync('/sys/bus/pci/drivers/vfio-pci'))
    throw new Error('the vfio-pci driver is not available (CONFIG_VFIO_PCI, or modprobe vfio-pci)');
  writeFileSync(join(dir, 'driver_override'), 'vfio-pci');
  if (linkName(join(dir, 'driver')) !== null) writeFileSync(join(dir, 'driver', 'unbind'), bdf);
  writeFileSync('/sys/bus/pci/drivers_probe', bdf);
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  for (;;) {
    const cdev = ready();
    if (cdev) return cdev;
    if (Date.now() > deadline) {
      const driver = linkName(join(dir, 'driver'));
      throw new Error(
        driver === 'vfio-pci'
          ? `${bdf} is bound to vfio-pci but has no VFIO cdev (CONFIG_VFIO_DEVICE_CDEV?)`
          : `${bdf} did not bind to vfio-pci (driver: ${driver ?? 'none'}; is it behind an IOMMU? see dmesg)`,
      );
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
}
