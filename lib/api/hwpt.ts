import type { Backend } from '../backend/contract.js';
import { ClosedError } from '../base/errors.js';
import {
  IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
  IOMMU_TEST_INVALIDATE_FLAG_ALL,
} from '../uapi/constants.js';
import { type Memory, type RangeOptions, userRange } from '../memory/memory.js';
import { describe, expectRecords, setOwner, toOptions, toU32, toU64 } from '../base/validate.js';

export interface DirtyBitmapOptions {
  /** Bytes per bit; default 4096. */
  pageSize?: bigint | number;
  /** Read without clearing (IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR). */
  noClear?: boolean;
}

/** One selftest invalidation request (struct iommu_hwpt_invalidate_selftest). */
export interface SelftestInvalidation {
  iotlbId: number;
  /** Invalidate every IOTLB entry (IOMMU_TEST_INVALIDATE_FLAG_ALL). */
  all?: boolean;
  /** Raw flags, for bad-input tests; overrides `all`. */
  flags?: number;
}

/** Raw invalidation data for any driver type. */
export interface RawInvalidation {
  dataType: number;
  entryLen: number;
  /** null: a NULL data_uptr (bad-input tests). */
  entries: Uint8Array | null;
  entryNum: number;
}

/** @internal What owns an object: its iommufd, whose close() releases everything in it. */
export interface Owner {
  readonly closed: boolean;
}

/** A hardware page table (IOMMU_HWPT_ALLOC, or the automatic one of a mock domain). */
export class Hwpt implements Disposable {
  readonly id: number;
  readonly #backend: Backend;
  readonly #owner: Owner | undefined;
  #destroyed = false;

  /** @internal */
  constructor(backend: Backend, id: number, owner?: Owner) {
    setOwner(this, backend);
    this.#backend = backend;
    this.id = id;
    this.#owner = owner;
  }

  /** destroy() ran, or the iommufd was closed. */
  get destroyed(): boolean {
    return this.#destroyed || this.#owner?.closed === true;
  }

  /** IOMMU_HWPT_SET_DIRTY_TRACKING. */
  setDirtyTracking(enable: boolean): void {
    this.#checkAlive();
    this.#backend.hwptSetDirtyTracking(this.id, enable);
  }

  /**
   * IOMMU_HWPT_GET_DIRTY_BITMAP for [iova, iova + length): bit i of the result
   * (word i / 64, bit i % 64) is page i. Clears what it reports unless noClear.
   */
  getDirtyBitmap(iova: bigint | number, length: bigint | number, options: DirtyBitmapOptions = {}): BigUint64Array {
    options = toOptions(options);
    this.#checkAlive();
    const start = toU64(iova, 'iova');
    const size = toU64(length, 'length');
    const pageSize = toU64(options.pageSize ?? 4096, 'pageSize');
    const pages = pageSize === 0n ? 0n : (size + pageSize - 1n) / pageSize;
    if (pages > 1n << 32n) throw new RangeError(`a bitmap of ${pages} pages is too large to allocate`);
    const bitmap = new BigUint64Array(Number((pages + 63n) / 64n));
    const flags = options.noClear ? IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR : 0;
    this.#backend.hwptGetDirtyBitmap(this.id, flags, start, size, pageSize, bitmap);
    return bitmap;
  }

  /**
   * IOMMU_HWPT_GET_DIRTY_BITMAP into caller memory: the bitmap starts at byte
   * `offset` of `memory`, which need not be u64 (or page) aligned, as the
   * kernel's iova_bitmap accepts any user address. Bit i is byte i / 8, bit i % 8.
   */
  readDirtyBitmap(
    iova: bigint | number,
    length: bigint | number,
    memory: Memory,
    options: DirtyBitmapOptions & { offset?: number | bigint } = {},
  ): void {
    options = toOptions(options);
    this.#checkAlive();
    const start = toU64(iova, 'iova');
    const size = toU64(length, 'length');
    const pageSize = toU64(options.pageSize ?? 4096, 'pageSize');
    const pages = pageSize === 0n ? 0n : (size + pageSize - 1n) / pageSize;
    // The kernel writes whole u64 words of the bitmap (iova_bitmap.c).
    const bytes = ((pages + 63n) / 64n) * 8n;
    if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`a bitmap of ${pages} pages is too large`);
    const range = userRange(memory, { offset: options.offset, length: Number(bytes) });
    const view = range.bytes.subarray(range.offset, range.offset + range.length);
    const flags = options.noClear ? IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR : 0;
    this.#backend.hwptGetDirtyBitmap(this.id, flags, start, size, pageSize, view);
  }

  /**
   * IOMMU_TEST_OP_MD_CHECK_MAP on this (mock) HWPT: it translates
   * [iova, iova + length) to exactly the pages of `memory` in the window.
   */
  checkMap(iova: bigint | number, memory: Memory, range: RangeOptions = {}): void {
    range = toOptions(range, 'range');
    this.#checkAlive();
    this.#backend.mdCheckMap(this.id, toU64(iova, 'iova'), userRange(memory, range));
  }

  /**
   * IOMMU_HWPT_INVALIDATE with selftest entries (or raw data for another
   * driver). Returns how many entries the kernel handled; on failure the
   * IommufdError carries that count as `handled`.
   */
  invalidate(entries: SelftestInvalidation[] | RawInvalidation): number {
    this.#checkAlive();
    if (typeof entries !== 'object' || entries === null) throw new TypeError('entries must be an array of invalidations or a RawInvalidation');
    if (!Array.isArray(entries)) {
      const { dataType, entryLen, entries: bytes, entryNum } = entries;
      return this.#backend.hwptInvalidate(this.id, toU32(dataType, 'dataType'), toU32(entryLen, 'entryLen'), bytes, toU32(entryNum, 'entryNum'));
    }
    expectRecords(entries, 'entries');
    const bytes = new Uint8Array(8 * entries.length);
    const view = new DataView(bytes.buffer);
    entries.forEach((e, i) => {
      view.setUint32(8 * i, toU32(e.flags ?? (e.all ? IOMMU_TEST_INVALIDATE_FLAG_ALL : 0), 'flags'), true);
      view.setUint32(8 * i + 4, toU32(e.iotlbId, 'iotlbId'), true);
    });
    return this.#backend.hwptInvalidate(this.id, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 8, bytes, entries.length);
  }

  /** IOMMU_TEST_OP_MD_CHECK_IOTLB: entry `iotlbId` of a nested mock HWPT holds `value`. */
  checkIotlb(iotlbId: number, value: number): void {
    this.#checkAlive();
    this.#backend.mdCheckIotlb(this.id, toU32(iotlbId, 'iotlbId'), toU32(value, 'value'));
  }

  /**
   * IOMMU_TEST_OP_DIRTY: mark dirty, in the mock domain, every page of
   * [iova, iova + length) whose bit is set in `bitmap` (bit i = page i).
   * Returns how many of them were mapped.
   */
  markDirty(iova: bigint | number, length: bigint | number, bitmap: Uint8Array, pageSize: bigint | number = 4096): bigint {
    this.#checkAlive();
    if (!(bitmap instanceof Uint8Array)) throw new TypeError(`bitmap must be a Uint8Array, got ${describe(bitmap)}`);
    return this.#backend.dirty(this.id, 0, toU64(iova, 'iova'), toU64(length, 'length'), toU64(pageSize, 'pageSize'), bitmap);
  }

  /** IOMMU_DESTROY; EBUSY while a device, nested HWPT or IOAS user still uses it. */
  destroy(): void {
    this.#checkAlive();
    this.#backend.destroy(this.id);
    this.#destroyed = true;
  }

  /**
   * destroy(), unless it is gone already (destroyed, or its iommufd closed).
   * A refusal (EBUSY: still attached) is thrown: dispose of a device before
   * the HWPT it is attached to, as `using` does when the device comes later.
   */
  [Symbol.dispose](): void {
    if (!this.destroyed) this.destroy();
  }

  #checkAlive(): void {
    if (this.destroyed) throw new ClosedError(`HWPT ${this.id} has been destroyed or its iommufd closed`);
  }
}
