import type { Backend, FileRef, IovaRanges, NoiommuPa } from '../backend/contract.js';
import { ClosedError } from '../base/errors.js';
import { MappingRefs } from '../memory/mapping-refs.js';
import { MemFile } from '../memory/mem-file.js';
import { MockDmabuf } from './mock-dmabuf.js';
import { type Memory, type RangeOptions, mappableRange } from '../memory/memory.js';
import {
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  U64_MAX,
} from '../uapi/constants.js';
import { describe, expectInstance, expectRecords, setOwner, toOptions, toU32, toU64 } from '../base/validate.js';

export interface MapOptions extends RangeOptions {
  /** Default true. */
  readable?: boolean;
  /** Default true. */
  writeable?: boolean;
}

/** IOMMU_IOAS_MAP / IOAS_COPY flags for `options` (both default to true) on top of `flags`. */
export function mapFlags(flags: number, options: { readable?: boolean; writeable?: boolean }): number {
  if (options.readable ?? true) flags |= IOMMU_IOAS_MAP_READABLE;
  if (options.writeable ?? true) flags |= IOMMU_IOAS_MAP_WRITEABLE;
  return flags;
}

/**
 * A file for mapFile(): a MemFile (its bytes readable in this process), a
 * MockDmabuf (the mock's dma-buf, 7.3), or a descriptor this process opened
 * itself, as a number (fs.openSync()) or a FileHandle (fs.promises.open()).
 */
export type MappableFile = MemFile | MockDmabuf | number | { readonly fd: number };

export interface MapFileOptions {
  /** Byte offset in the file where the mapping starts (the uAPI's `start`). Default 0. */
  offset?: bigint | number;
  /** Bytes to map. Default: a MemFile's or MockDmabuf's length from `offset`; required for a descriptor. */
  length?: bigint | number;
  /** IOMMU_IOAS_MAP_FIXED_IOVA at this IOVA. Default: an IOVA the kernel allocates. */
  iova?: bigint | number;
  /** Default true. */
  readable?: boolean;
  /** Default true. */
  writeable?: boolean;
}

export interface CopyOptions {
  /** Where in this IOAS; default: an IOVA the kernel allocates. */
  dstIova?: bigint | number;
  /** Default true. */
  readable?: boolean;
  /** Default true. */
  writeable?: boolean;
}

/**
 * An I/O address space (IOMMU_IOAS_ALLOC). Every mapping keeps a strong
 * reference to its memory until it is unmapped, so GC cannot free memory the
 * kernel still maps.
 */
export class Ioas implements Disposable {
  readonly id: number;
  readonly #backend: Backend;
  readonly #onGone: (ioas: Ioas) => void;
  readonly #mappings = new MappingRefs();
  #destroyed = false;

  /** @internal Created by Iommufd.allocIoas(). */
  constructor(backend: Backend, id: number, onGone: (ioas: Ioas) => void) {
    setOwner(this, backend);
    this.#backend = backend;
    this.id = id;
    this.#onGone = onGone;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Map memory at a caller-chosen IOVA (IOMMU_IOAS_MAP_FIXED_IOVA). Returns the IOVA. */
  mapFixed(iova: bigint | number, memory: Memory, options: MapOptions = {}): bigint {
    options = toOptions(options);
    return this.#map(IOMMU_IOAS_MAP_FIXED_IOVA, toU64(iova, 'iova'), memory, options);
  }

  /** Map memory at an IOVA the kernel allocates. Returns that IOVA. */
  mapAnywhere(memory: Memory, options: MapOptions = {}): bigint {
    options = toOptions(options);
    return this.#map(0, 0n, memory, options);
  }

  #map(flags: number, iova: bigint, memory: Memory, options: MapOptions): bigint {
    this.#checkAlive();
    const range = mappableRange(memory, options);
    const mapped = this.#backend.ioasMap(this.id, mapFlags(flags, options), range, iova);
    this.#mappings.add(mapped, range.length, memory);
    return mapped;
  }

  /**
   * IOMMU_IOAS_MAP_FILE (7.3): map bytes [offset, offset + length) of a file.
   * Returns the IOVA used. The kernel holds the file itself (its pages are pinned
   * from the file, not from this process's mappings); a MemFile is also kept
   * alive, and its close()/resize() refused, until the mapping is unmapped.
   * Ranges past the file's end are the kernel's to judge: EINVAL when it pins
   * them (at once with a domain attached).
   */
  mapFile(file: MappableFile, options: MapFileOptions = {}): bigint {
    options = toOptions(options);
    this.#checkAlive();
    const start = toU64(options.offset ?? 0, 'offset');
    let ref: FileRef;
    let length: bigint;
    if (file instanceof MemFile || file instanceof MockDmabuf) {
      // An object that only inherits the prototype has none of the fields behind the getters.
      const kind = file instanceof MemFile ? 'MemFile' : 'MockDmabuf';
      if (!MemFile.isMemFile(file) && !MockDmabuf.isMockDmabuf(file))
        throw new TypeError(`file must be a MemFile from MemFile.create() or a MockDmabuf from fd.mockDmabuf(), got an object that only inherits ${kind}.prototype`);
      const fd = file.fd; // ClosedError once closed
      const size = file.length;
      if (options.length === undefined && start > BigInt(size))
        throw new RangeError(`offset ${start} is past the end of the ${size}-byte ${file.constructor.name}`);
      length = options.length === undefined ? BigInt(size) - start : toU64(options.length, 'length');
      // The kernel holds a dma-buf itself while mapped (dma_buf_get()): no bytes of this process to pass.
      if (file instanceof MockDmabuf) ref = { fd: fd ?? -1, bytes: null };
      else ref = { fd: fd ?? -1, bytes: size === 0 ? new Uint8Array(0) : file.bytes };
    } else {
      if (options.length === undefined) throw new TypeError('length is required to map a file descriptor');
      length = toU64(options.length, 'length');
      ref = { fd: descriptorOf(file), bytes: null };
    }
    const fixed = options.iova !== undefined;
    const flags = mapFlags(fixed ? IOMMU_IOAS_MAP_FIXED_IOVA : 0, options);
    const mapped = this.#backend.ioasMapFile(this.id, flags, ref, start, length, fixed ? toU64(options.iova!, 'iova') : 0n);
    if (file instanceof MemFile) this.#mappings.add(mapped, length, file);
    return mapped;
  }

  /**
   * IOMMU_IOAS_COPY: map into this IOAS the pages `src` maps at
   * [srcIova, srcIova + length), sharing their pins. Returns the IOVA used.
   */
  copyFrom(src: Ioas, srcIova: bigint | number, length: bigint | number, options: CopyOptions = {}): bigint {
    options = toOptions(options);
    this.#checkAlive();
    this.#checkSource(src);
    const from = toU64(srcIova, 'srcIova');
    const size = toU64(length, 'length');
    const flags = mapFlags(options.dstIova === undefined ? 0 : IOMMU_IOAS_MAP_FIXED_IOVA, options);
    const dst = options.dstIova === undefined ? 0n : toU64(options.dstIova, 'dstIova');
    const copied = this.#backend.ioasCopy(this.id, src.id, flags, dst, from, size);
    this.#mappings.add(copied, size, src.#mappings.overlapping(from, size));
    return copied;
  }

  /** IOMMU_IOAS_ALLOW_IOVAS: only these ranges may be mapped (an empty list allows all). */
  allowIovas(ranges: { start: bigint | number; last: bigint | number }[]): void {
    this.#checkAlive();
    this.#backend.ioasAllowIovas(
      this.id,
      expectRecords<{ start: bigint | number; last: bigint | number }>(ranges, 'ranges').map((r) => ({ start: toU64(r.start, 'start'), last: toU64(r.last, 'last') })),
    );
  }

  /**
   * IOMMU_IOAS_NOIOMMU_GET_PA (7.3 with CONFIG_IOMMUFD_NOIOMMU): the physical
   * address `iova` maps to, and how many bytes from there are physically
   * contiguous within the mapping, at most `length` (not 0: the kernel's EINVAL).
   * For no-IOMMU devices doing DMA to physical addresses: only a mapping stored
   * in such a device's domain has an answer (EOPNOTSUPP otherwise; ENOENT where
   * nothing is mapped). Needs CAP_SYS_RAWIO (EPERM); 6.12 answers ENOTTY.
   */
  noiommuGetPa(iova: bigint | number, length: bigint | number): NoiommuPa {
    this.#checkAlive();
    return this.#backend.ioasNoiommuGetPa(this.id, 0, toU64(iova, 'iova'), toU64(length, 'length'));
  }

  /** IOMMU_TEST_OP_ADD_RESERVED (mock): reserve [start, start + length). */
  addReserved(start: bigint | number, length: bigint | number): void {
    this.#checkAlive();
    this.#backend.addReserved(this.id, toU64(start, 'start'), toU64(length, 'length'));
  }

  /** IOMMU_OPTION_HUGE_PAGES of this IOAS (whether mappings may use huge pages). */
  get hugePages(): boolean {
    this.#checkAlive();
    return this.#backend.option(IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET, this.id, 0n) !== 0n;
  }

  set hugePages(enabled: boolean) {
    this.#checkAlive();
    this.#backend.option(IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_SET, this.id, enabled ? 1n : 0n);
  }

  /** Unmap every area inside [iova, iova + length). Returns the bytes unmapped. */
  unmap(iova: bigint | number, length: bigint | number): bigint {
    this.#checkAlive();
    const start = toU64(iova, 'iova');
    const size = toU64(length, 'length');
    const unmapped = this.#backend.ioasUnmap(this.id, start, size);
    this.#mappings.forgetInside(start, size);
    return unmapped;
  }

  /** Unmap everything (iova 0, length U64_MAX). Returns the bytes unmapped. */
  unmapAll(): bigint {
    this.#checkAlive();
    const unmapped = this.#backend.ioasUnmap(this.id, 0n, U64_MAX);
    this.#mappings.forgetAll();
    return unmapped;
  }

  iovaRanges(): IovaRanges {
    this.#checkAlive();
    return this.#backend.ioasIovaRanges(this.id);
  }

  /**
   * IOMMU_IOAS_IOVA_RANGES into the caller's array, as the kernel sees it: room
   * for `numIovas` ranges (default: all `out` holds), written as [start, last]
   * pairs. Returns the number of ranges the IOAS has; when that exceeds the room,
   * EMSGSIZE with the count as `numIovas` on the error (what fitted is written).
   */
  iovaRangesInto(out: BigUint64Array, numIovas: number = out.length >>> 1): { numIovas: number; alignment: bigint } {
    this.#checkAlive();
    if (!(out instanceof BigUint64Array)) throw new TypeError('out must be a BigUint64Array');
    const room = toU32(numIovas, 'numIovas');
    if (2 * room > out.length) throw new RangeError(`room for ${room} ranges exceeds the ${out.length / 2} out holds`);
    return this.#backend.ioasIovaRangesInto(this.id, out, room);
  }

  /** IOMMU_DESTROY; EBUSY while a device, HWPT or access still uses it. */
  destroy(): void {
    this.#checkAlive();
    this.#backend.destroy(this.id);
    this.#gone();
  }

  /**
   * destroy(), unless it is gone already (destroyed, or its iommufd closed).
   * A refusal (EBUSY: a device, HWPT or access still uses it) is thrown: with
   * `using`, declare the IOAS before its users so they are disposed first.
   */
  [Symbol.dispose](): void {
    if (!this.#destroyed) this.destroy();
  }

  /** @internal For Iommufd: this IOAS's mapping references (raw copies, the finalizer). */
  mappingRefs(): MappingRefs {
    return this.#mappings;
  }

  /** @internal For Batch: the backend to run on. */
  backendForBatch(): Backend {
    this.#checkAlive();
    return this.#backend;
  }

  /** @internal For Batch: a map it ran succeeded. */
  noteMapped(iova: bigint, length: number, memory: Memory): void {
    this.#mappings.add(iova, length, memory);
  }

  /** @internal For Batch: a copy it ran from `src` succeeded. */
  noteCopied(iova: bigint, length: bigint, src: Ioas, srcIova: bigint): void {
    this.#mappings.add(iova, length, src.#mappings.overlapping(srcIova, length));
  }

  /** @internal For Batch: an unmap it ran succeeded. */
  noteUnmapped(iova: bigint, length: bigint): void {
    this.#mappings.forgetInside(iova, length);
  }

  /**
   * @internal The iommufd was closed. When something (a bound VFIO device)
   * still holds the kernel context, its mappings live on: the references are
   * handed back to the caller instead of being dropped.
   */
  gone(keepRefs = false): MappingRefs | undefined {
    if (this.#destroyed) return undefined;
    this.#destroyed = true;
    this.#onGone(this);
    if (keepRefs) return this.#mappings;
    this.#mappings.forgetAll();
    return undefined;
  }

  #gone(): void {
    this.#destroyed = true;
    this.#mappings.forgetAll();
    this.#onGone(this);
  }

  /**
   * The copy's references come from `src`'s own list: a destroyed source (its
   * id maybe reused) or one of another iommufd (the id names some other IOAS
   * here) would map pages that no reference keeps alive.
   */
  #checkSource(src: Ioas): void {
    expectInstance(src, [Ioas], 'src', 'an Ioas', this.#backend).#checkAlive();
  }

  /** @internal For Batch: the checks of copyFrom() on its source. */
  checkCopySource(src: Ioas): void {
    this.#checkSource(src);
  }

  #checkAlive(): void {
    if (this.#destroyed) throw new ClosedError(`IOAS ${this.id} has been destroyed or its iommufd closed`);
  }
}

/** The descriptor of a number or a FileHandle given to mapFile(), checked. */
function descriptorOf(file: number | { readonly fd: number }): number {
  if (typeof file === 'number') {
    if (!Number.isInteger(file) || file < 0 || file > 0x7fffffff) throw new RangeError(`fd must be a file descriptor number, got ${file}`);
    return file;
  }
  if (typeof file !== 'object' || file === null || typeof file.fd !== 'number' || typeof (file as { close?: unknown }).close !== 'function')
    throw new TypeError(`file must be a MemFile, a file descriptor number or a FileHandle, got ${describe(file)}`);
  // A closed FileHandle's fd is -1.
  if (file.fd < 0) throw new RangeError('the FileHandle is closed');
  return descriptorOf(file.fd);
}
