// The vIOMMU objects of kernels newer than 6.12: a Viommu (IOMMU_VIOMMU_ALLOC) stands
// for one physical IOMMU inside a VM, nesting on a nest-parent HWPT; a Vdevice
// (IOMMU_VDEVICE_ALLOC) is a device's virtual id behind it; a Veventq
// (IOMMU_VEVENTQ_ALLOC) delivers the vIOMMU's events through an fd; a HwQueue
// (IOMMU_HW_QUEUE_ALLOC) hands guest queue memory to the hardware. 6.12 has none
// of these ioctls (ENOTTY).
import type { Backend } from '../backend/contract.js';
import { ClosedError } from '../base/errors.js';
import type { Owner, RawInvalidation } from './hwpt.js';
import {
  IOMMU_TEST_INVALIDATE_FLAG_ALL,
  IOMMU_VEVENTQ_FLAG_LOST_EVENTS,
  IOMMU_VEVENTQ_TYPE_SELFTEST,
  IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
} from '../uapi/constants.js';
import { UAPI_LAYOUTS } from '../uapi/layout.js';
import { expectRecords, setOwner, toByteCount, toOptions, toU32, toU64 } from '../base/validate.js';

const S73 = UAPI_LAYOUTS['7.3'].structs;
/** sizeof(struct iommufd_vevent_header): what precedes each vEVENT's payload in a read(). */
export const SIZEOF_IOMMUFD_VEVENT_HEADER: number = S73.iommufd_vevent_header.size;
/** sizeof(struct iommu_viommu_selftest): the selftest vIOMMU's driver data. */
export const SIZEOF_IOMMU_VIOMMU_SELFTEST: number = S73.iommu_viommu_selftest.size;
/** sizeof(struct iommu_viommu_invalidate_selftest): one entry of Viommu.invalidate(). */
export const SIZEOF_IOMMU_VIOMMU_INVALIDATE_SELFTEST: number = S73.iommu_viommu_invalidate_selftest.size;
/** sizeof(struct iommu_viommu_event_selftest): the mock's vEVENT payload. */
export const SIZEOF_IOMMU_VIOMMU_EVENT_SELFTEST: number = S73.iommu_viommu_event_selftest.size;

/** The selftest vIOMMU's answer to its driver data (struct iommu_viommu_selftest). */
export interface ViommuSelftestData {
  inData: number;
  /** The mock echoes in_data here. */
  outData: number;
  /** Where its two-page region is in the iommufd, for Viommu.mmap(). */
  mmapOffset: bigint;
  mmapLength: bigint;
}

/** One selftest vIOMMU invalidation (struct iommu_viommu_invalidate_selftest). */
export interface ViommuInvalidation {
  /** The virtual id of the vDEVICE whose cache to clear (a u32 in this format). */
  vdevId: number;
  cacheId?: number;
  /** Every cache entry of the device (IOMMU_TEST_INVALIDATE_FLAG_ALL); cacheId is ignored. */
  all?: boolean;
  /** Raw flags, for bad-input tests; overrides `all`. */
  flags?: number;
}

/** One vEVENT read from a Veventq. */
export interface Vevent {
  /** struct iommufd_vevent_header.flags */
  flags: number;
  /** Increments by one per event (wrapping at INT_MAX); a gap means events were lost. */
  sequence: number;
  /** IOMMU_VEVENTQ_FLAG_LOST_EVENTS: the queue overflowed here; no payload. */
  lostEvents: boolean;
  /** The driver's payload (struct iommu_viommu_event_selftest for the mock). */
  data: Uint8Array;
  /** The mock's payload: the virtual id of the device that reported it (selftest queues only). */
  virtId?: number;
}

/** @internal What a Viommu needs from its iommufd for the objects it makes. */
export interface ViommuOwner extends Owner {
  trackMapping(mapping: ViommuMapping): void;
  untrackMapping(mapping: ViommuMapping): void;
}

/**
 * What the vIOMMU objects share: an object id of this iommufd, IOMMU_DESTROY
 * (EBUSY while another object uses it), and `using`.
 */
abstract class ViommuFamilyObject implements Disposable {
  readonly id: number;
  protected readonly backend: Backend;
  readonly #owner: Owner;
  #destroyed = false;

  /** @internal */
  constructor(backend: Backend, id: number, owner: Owner) {
    setOwner(this, backend);
    this.backend = backend;
    this.id = id;
    this.#owner = owner;
  }

  /** What the object is, for messages ("vIOMMU 5"). */
  protected abstract readonly kind: string;

  /** destroy() ran, or the iommufd was closed. */
  get destroyed(): boolean {
    return this.#destroyed || this.#owner.closed;
  }

  /** IOMMU_DESTROY; EBUSY while another object uses this one. */
  destroy(): void {
    this.checkAlive();
    this.backend.destroy(this.id);
    this.#destroyed = true;
  }

  /** destroy() unless gone already; a refusal (EBUSY) is thrown: dispose of the users first. */
  [Symbol.dispose](): void {
    if (!this.destroyed) this.destroy();
  }

  protected checkAlive(): void {
    if (this.destroyed) throw new ClosedError(`${this.kind} ${this.id} has been destroyed or its iommufd closed`);
  }
}

/**
 * A vIOMMU (IOMMU_VIOMMU_ALLOC): made by Iommufd.allocViommu(). destroy() is
 * EBUSY while a vDEVICE, nested HWPT, vEVENTQ, HW queue or mapping uses it.
 */
export class Viommu extends ViommuFamilyObject {
  protected readonly kind = 'vIOMMU';
  readonly type: number;
  /** The selftest vIOMMU's answer when it was given driver data; null otherwise. */
  readonly selftestData: ViommuSelftestData | null;
  readonly #owner: ViommuOwner;

  /** @internal */
  constructor(backend: Backend, id: number, type: number, selftestData: ViommuSelftestData | null, owner: ViommuOwner) {
    super(backend, id, owner);
    this.type = type;
    this.selftestData = selftestData;
    this.#owner = owner;
  }

  /**
   * IOMMU_HWPT_INVALIDATE on the vIOMMU with selftest entries (or raw data):
   * each clears cache entries of the device behind the vDEVICE it names
   * (IOMMU_TEST_OP_DEV_CHECK_CACHE shows them). Returns how many entries the
   * kernel handled; on failure the IommufdError carries that count as `handled`.
   */
  invalidate(entries: ViommuInvalidation[] | RawInvalidation): number {
    this.checkAlive();
    if (typeof entries !== 'object' || entries === null) throw new TypeError('entries must be an array of invalidations or a RawInvalidation');
    if (!Array.isArray(entries)) {
      const { dataType, entryLen, entries: bytes, entryNum } = entries;
      if (bytes !== null && !(bytes instanceof Uint8Array)) throw new TypeError('entries.entries must be a Uint8Array or null');
      return this.backend.hwptInvalidate(this.id, toU32(dataType, 'dataType'), toU32(entryLen, 'entryLen'), bytes, toU32(entryNum, 'entryNum'));
    }
    expectRecords(entries, 'entries');
    const size = SIZEOF_IOMMU_VIOMMU_INVALIDATE_SELFTEST;
    const bytes = new Uint8Array(size * entries.length);
    const view = new DataView(bytes.buffer);
    entries.forEach((e, i) => {
      view.setUint32(size * i, toU32(e.flags ?? (e.all ? IOMMU_TEST_INVALIDATE_FLAG_ALL : 0), 'flags'), true);
      view.setUint32(size * i + 4, toU32(e.vdevId, 'vdevId'), true);
      view.setUint32(size * i + 8, toU32(e.cacheId ?? 0, 'cacheId'), true);
    });
    return this.backend.hwptInvalidate(this.id, IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, size, bytes, entries.length);
  }

  /**
   * mmap() of the region the vIOMMU's driver offered (the selftest vIOMMU's two
   * pages by default): the kernel maps only that exact offset and length (ENXIO
   * otherwise). While mapped, the vIOMMU cannot be destroyed (EBUSY).
   */
  mmap(options: { offset?: bigint | number; length?: bigint | number } = {}): ViommuMapping {
    options = toOptions(options);
    this.checkAlive();
    const offset = toU64(options.offset ?? this.selftestData?.mmapOffset ?? missing('offset'), 'offset');
    const length = toByteCount(options.length ?? this.selftestData?.mmapLength ?? missing('length'), 'length');
    if (length === 0) throw new RangeError('length must be > 0');
    if (offset % 4096n !== 0n) throw new RangeError(`offset ${offset} is not page aligned (mmap() takes page offsets)`);
    const mapping = new ViommuMapping(this.backend, this.backend.mmap(offset, length), length, (m) => this.#owner.untrackMapping(m));
    this.#owner.trackMapping(mapping);
    return mapping;
  }
}

function missing(name: string): never {
  throw new TypeError(`${name} is needed: this vIOMMU offered no region (no selftest driver data)`);
}

/** A mapping of a vIOMMU's region (Viommu.mmap()): sized reads, then unmap(). */
export class ViommuMapping implements Disposable {
  readonly length: number;
  readonly #backend: Backend;
  readonly #handle: number;
  readonly #onUnmap: (mapping: ViommuMapping) => void;
  #unmapped = false;

  /** @internal */
  constructor(backend: Backend, handle: number, length: number, onUnmap: (mapping: ViommuMapping) => void) {
    this.#backend = backend;
    this.#handle = handle;
    this.length = length;
    this.#onUnmap = onUnmap;
  }

  get unmapped(): boolean {
    return this.#unmapped;
  }

  /** One aligned u32 load at `offset` (the selftest vIOMMU's page holds in_data at 0). */
  read32(offset: number): number {
    if (this.#unmapped) throw new ClosedError('the vIOMMU mapping has been unmapped');
    const at = toByteCount(offset, 'offset');
    if (at % 4 !== 0 || at + 4 > this.length) throw new RangeError(`a u32 at ${at} is unaligned or outside the ${this.length}-byte mapping`);
    return this.#backend.mmapRead32(this.#handle, at);
  }

  unmap(): void {
    if (this.#unmapped) return;
    this.#unmapped = true;
    this.#onUnmap(this);
    this.#backend.munmap(this.#handle);
  }

  [Symbol.dispose](): void {
    this.unmap();
  }
}

/**
 * A vDEVICE (IOMMU_VDEVICE_ALLOC): a device's virtual id behind a vIOMMU.
 * Destroying the device first removes the vDEVICE and leaves its id a
 * tombstone: then destroy() is ENOENT.
 */
export class Vdevice extends ViommuFamilyObject {
  protected readonly kind = 'vDEVICE';
  /** The device's id in the VM (e.g. a virtual Stream ID), a u64. */
  readonly virtId: bigint;

  /** @internal */
  constructor(backend: Backend, id: number, virtId: bigint, owner: Owner) {
    super(backend, id, owner);
    this.virtId = virtId;
  }
}

/**
 * A HW queue (IOMMU_HW_QUEUE_ALLOC): guest queue memory pinned (and locked
 * against unmap) for the hardware. destroy() is EBUSY while the queue of the
 * next index depends on it: destroy in descending order.
 */
export class HwQueue extends ViommuFamilyObject {
  protected readonly kind = 'HW queue';
  readonly index: number;

  /** @internal */
  constructor(backend: Backend, id: number, index: number, owner: Owner) {
    super(backend, id, owner);
    this.index = index;
  }
}

/** The most vEVENTs one Veventq.read() asks for. */
export const MAX_VEVENTS_PER_READ = 65536;

/**
 * A vEVENTQ (IOMMU_VEVENTQ_ALLOC): an object id plus an fd to read the vIOMMU's
 * events of one type from. close() closes the fd and destroys the object.
 */
export class Veventq implements Disposable {
  readonly id: number;
  readonly fd: number;
  readonly type: number;
  readonly #backend: Backend;
  readonly #owner: Owner;
  readonly #onClose: (queue: Veventq) => void;
  #closed = false;

  /** @internal */
  constructor(backend: Backend, ids: { veventqId: number; veventqFd: number }, type: number, owner: Owner, onClose: (queue: Veventq) => void) {
    this.#backend = backend;
    this.id = ids.veventqId;
    this.fd = ids.veventqFd;
    this.type = type;
    this.#owner = owner;
    this.#onClose = onClose;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Read queued vEVENTs, at most `maxEvents` of `eventSize` payload bytes each
   * (known for the selftest type), never blocking: [] when none. A lost-events
   * header (the queue overflowed) comes back as an event with `lostEvents`.
   */
  read(maxEvents = 64, options: { eventSize?: number } = {}): Vevent[] {
    options = toOptions(options);
    this.#checkOpen();
    const count = toU32(maxEvents, 'maxEvents');
    if (count === 0 || count > MAX_VEVENTS_PER_READ) throw new RangeError(`maxEvents must be 1 to ${MAX_VEVENTS_PER_READ}, got ${count}`);
    const selftest = this.type === IOMMU_VEVENTQ_TYPE_SELFTEST;
    const eventSize = options.eventSize !== undefined ? toU32(options.eventSize, 'eventSize') : selftest ? SIZEOF_IOMMU_VIOMMU_EVENT_SELFTEST : undefined;
    if (eventSize === undefined) throw new TypeError(`eventSize is needed for vEVENTQ type ${this.type} (its payload size)`);
    const buffer = new Uint8Array(count * (SIZEOF_IOMMUFD_VEVENT_HEADER + eventSize));
    const done = this.#backend.veventqRead(this.fd, buffer);
    const view = new DataView(buffer.buffer);
    const events: Vevent[] = [];
    for (let at = 0; at + SIZEOF_IOMMUFD_VEVENT_HEADER <= done; ) {
      const flags = view.getUint32(at, true);
      const sequence = view.getUint32(at + 4, true);
      at += SIZEOF_IOMMUFD_VEVENT_HEADER;
      const lostEvents = (flags & IOMMU_VEVENTQ_FLAG_LOST_EVENTS) !== 0;
      const data = lostEvents ? new Uint8Array(0) : buffer.slice(at, at + eventSize);
      if (!lostEvents) at += eventSize;
      const event: Vevent = { flags, sequence, lostEvents, data };
      if (selftest && !lostEvents && data.length >= 4) event.virtId = new DataView(data.buffer).getUint32(0, true);
      events.push(event);
    }
    return events;
  }

  /**
   * One read() of the fd into `buffer` with its whole length as the count, for
   * tests of the read rules (EINVAL below one header, or when the first event
   * does not fit). Returns the bytes read.
   */
  readInto(buffer: Uint8Array): number {
    this.#checkOpen();
    if (!(buffer instanceof Uint8Array)) throw new TypeError('buffer must be a Uint8Array');
    return this.#backend.veventqRead(this.fd, buffer);
  }

  /**
   * Close the fd (which holds the object), then IOMMU_DESTROY the object, unless
   * the iommufd is closing, which destroys it anyway.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose(this);
    this.#backend.closeVeventq(this.fd);
    if (!this.#owner.closed) this.#backend.destroy(this.id);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError(`vEVENTQ fd ${this.fd} is closed`);
  }
}
