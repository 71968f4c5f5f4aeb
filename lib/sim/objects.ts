// iommufd_private.h and main.c's object table in the simulator. Every object's
// struct is declared here, so the files holding the objects' behaviour (one per
// kernel .c file) depend on this one and not on each other. main.c's part: the
// per-iommufd object table (an xarray with XA_FLAGS_ALLOC1: the lowest free id
// from 1), typed lookup that answers ENOENT for a missing id or one of another
// type, the `users` refcount that makes IOMMU_DESTROY answer EBUSY while anything
// else holds the object, and struct iommufd_ctx's object lifecycle. Each type's
// destroy lives with its kernel file; backend.ts hands the table of them
// (iommufd_object_ops[]) to the context.

import type { SimKernel } from './kernels.js';
import { IoPagetable, type IoptAccess, fail } from './io-pagetable.js';
import {
  IOMMU_TEST_DEV_CACHE_DEFAULT,
  IOMMU_TEST_HW_QUEUE_MAX as HW_QUEUE_MAX,
  IOMMU_VEVENTQ_FLAG_LOST_EVENTS as VEVENTQ_FLAG_LOST_EVENTS,
  MOCK_DEV_CACHE_NUM,
} from '../uapi/constants.js';
import { MOCK_NESTED_DOMAIN_IOTLB_NUM, MockDomain } from './mock-domain.js';


export const enum ObjType {
  DEVICE = 'DEVICE',
  HWPT_PAGING = 'HWPT_PAGING',
  HWPT_NESTED = 'HWPT_NESTED',
  IOAS = 'IOAS',
  ACCESS = 'ACCESS',
  FAULT = 'FAULT',
  SELFTEST = 'SELFTEST',
  VIOMMU = 'VIOMMU',
  VDEVICE = 'VDEVICE',
  VEVENTQ = 'VEVENTQ',
  HW_QUEUE = 'HW_QUEUE',
}

export abstract class SimObject {
  abstract readonly type: ObjType;
  id = 0;
  /** refcount users: 1 for the table, plus one per holder. */
  users = 1;
  /** iommufd_object_finalize() done: until then the id is reserved but lookups miss it. */
  finalized = false;
}

/**
 * main.c's iommufd_object_ops[]: each type's destroy (release what the object
 * holds), called with an object of that type.
 */
export type ObjectOps = Readonly<Record<ObjType, (obj: never) => void>>;

/** xa_limit_31b */
const ID_LIMIT = 2 ** 31 - 1;

export class ObjectTable {
  readonly #objects: (SimObject | undefined)[] = [undefined];
  // Freed ids below #objects.length, as a binary min-heap: xa_alloc() takes the lowest free index.
  readonly #free: number[] = [];
  #count = 0;

  get size(): number {
    return this.#count;
  }

  /** iommufd_object_alloc(): reserve the lowest free id. Returns it, or null when full. */
  add(obj: SimObject): number | null {
    let id: number;
    if (this.#free.length > 0) id = heapPop(this.#free);
    else {
      id = this.#objects.length;
      if (id > ID_LIMIT) return null;
      this.#objects.push(undefined);
    }
    this.#objects[id] = obj;
    obj.id = id;
    this.#count++;
    return id;
  }

  /** iommufd_get_object(): the object, or null for ENOENT (missing, or not `type`). */
  get<T extends SimObject>(id: number, type?: ObjType): T | null {
    const obj = id > 0 ? this.#objects[id] : undefined;
    if (!obj || !obj.finalized || (type !== undefined && obj.type !== type)) return null;
    return obj as T;
  }

  /** Take the object out of the table (the caller destroys it). */
  delete(obj: SimObject): void {
    if (this.#objects[obj.id] !== obj) throw new Error(`sim: object ${obj.id} is not in the table`);
    this.#objects[obj.id] = undefined;
    this.#count--;
    heapPush(this.#free, obj.id);
  }

  /** Take the object out of the table and keep its id from reuse (a tombstone). */
  tombstone(obj: SimObject): void {
    if (this.#objects[obj.id] !== obj) throw new Error(`sim: object ${obj.id} is not in the table`);
    this.#objects[obj.id] = undefined;
    this.#count--;
  }

  /** Live objects in id order. */
  *[Symbol.iterator](): IterableIterator<SimObject> {
    for (const obj of this.#objects) if (obj) yield obj;
  }
}

function heapPush(heap: number[], value: number): void {
  let i = heap.push(value) - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent]! <= value) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = value;
}

function heapPop(heap: number[]): number {
  const top = heap[0]!;
  const last = heap.pop()!;
  if (heap.length > 0) {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) break;
      const r = l + 1;
      const c = r < heap.length && heap[r]! < heap[l]! ? r : l;
      if (heap[c]! >= last) break;
      heap[i] = heap[c]!;
      i = c;
    }
    heap[i] = last;
  }
  return top;
}

// ---- the objects (iommufd_private.h; the mock's parts from selftest.c) ----------

/** struct iommufd_ioas */
export class IoasObj extends SimObject {
  readonly type = ObjType.IOAS;
  readonly iopt = new IoPagetable();
  /** hwpt_list */
  readonly hwpts: HwptPaging[] = [];
}

/** The parts shared by paging and nested HWPTs (struct iommufd_hw_pagetable). */
export interface Hwpt extends SimObject {
  fault: FaultObj | null;
}

/** struct iommufd_hwpt_paging */
export class HwptPaging extends SimObject implements Hwpt {
  readonly type = ObjType.HWPT_PAGING;
  readonly domain: MockDomain;
  autoDomain = false;
  inList = false;
  nestParent = false;
  /** hwpt->pasid_compat (7.3's IOMMU_HWPT_ALLOC_PASID) */
  pasidCompat = false;
  fault: FaultObj | null = null;
  constructor(
    readonly ioas: IoasObj,
    domain: MockDomain = new MockDomain(),
  ) {
    super();
    this.domain = domain;
  }
}

/** struct iommufd_hwpt_nested with a mock_iommu_domain_nested. */
export class HwptNested extends SimObject implements Hwpt {
  readonly type = ObjType.HWPT_NESTED;
  readonly iotlb = new Uint32Array(MOCK_NESTED_DOMAIN_IOTLB_NUM);
  /** hwpt->pasid_compat (7.3's IOMMU_HWPT_ALLOC_PASID) */
  pasidCompat = false;
  fault: FaultObj | null = null;
  /** hwpt_nested->viommu: allocated on a vIOMMU (which it holds, not the parent). */
  viommu: ViommuObj | null = null;
  constructor(
    readonly parent: HwptPaging,
    iotlb: number,
  ) {
    super();
    this.iotlb.fill(iotlb);
  }
}

export type AnyHwpt = HwptPaging | HwptNested;

/** struct iommufd_device of a mock device. */
export class Idev extends SimObject {
  readonly type = ObjType.DEVICE;
  hwpt: AnyHwpt | null = null;
  /** The iommufd_attach_handle of the current attachment (faults remember it). */
  handle: object | null = null;
  /** idev->vdev: its vDEVICE (7.3), which holds a wait_cnt, not a users, reference. */
  vdev: VdeviceObj | null = null;
  /** mdev->viommu and mdev->vdev_id: set while attached to a nested domain of a vIOMMU. */
  mockViommu: ViommuObj | null = null;
  mockVdevId = 0n;
  /** mdev->cache, which a vIOMMU invalidation clears. */
  readonly cache = new Uint32Array(MOCK_DEV_CACHE_NUM).fill(IOMMU_TEST_DEV_CACHE_DEFAULT);
  /** igroup->pasid_attach for every PASID but IOMMU_NO_PASID (device-pasid.ts; the mock device is alone in its group). */
  readonly pasidAttached = new Map<number, PasidAttach>();
  /** mdev->pasid_1024_fake_error */
  pasid1024FakeError = false;
  constructor(readonly devFlags: number) {
    super();
  }
}

/** One entry of igroup->pasid_attach. */
export interface PasidAttach {
  hwpt: AnyHwpt;
  /** The iommufd_attach_handle: faults remember it. */
  handle: object;
}

/** struct iopf_group: one fault (the mock always reports LAST_PAGE) and where it came from. */
export interface IopfGroup {
  faults: { flags: number; pasid: number; grpid: number; perm: number; addr: bigint }[];
  idev: Idev;
  handle: object;
  cookie: number;
}

/** struct iommufd_fault: groups to deliver, and those read and awaiting a response by cookie. */
export class FaultObj extends SimObject {
  readonly type = ObjType.FAULT;
  deliver: IopfGroup[] = [];
  /** xa response (XA_FLAGS_ALLOC1). */
  readonly response = new Map<number, IopfGroup>();

  /**
   * Whether index 0 of the ALLOC1 xarray has become allocatable: xa_erase(0)
   * on a non-empty array replaces the reserved zero entry with a free slot, and
   * from then on the lowest free cookie may be 0 (the kernel's xarray does so).
   */
  #zeroFree = false;

  /** xa_alloc(&fault->response): the lowest free cookie from 1 (from 0 once freed). */
  allocCookie(group: IopfGroup): number {
    let cookie = this.#zeroFree ? 0 : 1;
    while (this.response.has(cookie)) cookie++;
    group.cookie = cookie;
    this.response.set(cookie, group);
    return cookie;
  }

  /** xa_erase(&fault->response, cookie): the group, if any. */
  eraseCookie(cookie: number): IopfGroup | undefined {
    if (cookie === 0 && this.response.size > 0) this.#zeroFree = true;
    const group = this.response.get(cookie);
    this.response.delete(cookie);
    return group;
  }

  /** iommufd_auto_response_faults(): drop what came through `handle`. */
  autoRespond(handle: object | null): void {
    this.deliver = this.deliver.filter((g) => g.handle !== handle);
    for (const [cookie, g] of this.response) if (g.handle === handle) this.response.delete(cookie);
  }
}

/** struct selftest_obj (TYPE_IDEV): what userspace destroys to remove the mock device. */
export class SelftestObj extends SimObject {
  readonly type = ObjType.SELFTEST;
  constructor(
    readonly ctx: SimContext,
    readonly idev: Idev,
  ) {
    super();
  }
}

/** A pinned range of a selftest access (struct selftest_access_item). */
export interface AccessItem {
  iova: bigint;
  length: bigint;
  id: number;
}

/**
 * struct iommufd_access, with the selftest driver's data (struct selftest_access).
 * Its unmap() is the ops->unmap the io_pagetable calls (IoptAccess).
 */
export class AccessObj extends SimObject implements IoptAccess {
  readonly type = ObjType.ACCESS;
  readonly iovaAlignment: bigint;
  ioas: IoasObj | null = null;
  ioasUnpin: IoasObj | null = null;
  readonly items: AccessItem[] = [];
  nextId = 0;
  constructor(
    readonly ctx: SimContext,
    readonly needsPinPages: boolean,
    /**
     * iommufd_access_create_internal(): an ACCESS object in the table, with no fd
     * and no reference on the context (a HW queue's, viommu.ts).
     */
    readonly internal = false,
  ) {
    super();
    this.iovaAlignment = needsPinPages ? 4096n : 1n;
  }

  /** iommufd_test_access_unmap(): the ops->unmap callback. */
  unmap(iova: bigint, length: bigint): void {
    const last = iova + length - 1n;
    for (let i = 0; i < this.items.length; ) {
      const item = this.items[i]!;
      if (iova > item.iova + item.length - 1n || last < item.iova) {
        i++;
        continue;
      }
      this.items.splice(i, 1);
      this.unpinPages(item.iova, item.length);
    }
  }

  /** iommufd_access_unpin_pages() */
  unpinPages(iova: bigint, length: bigint): void {
    const iopt = this.ioasUnpin?.iopt;
    if (!iopt || !length) return;
    const last = iova + length - 1n;
    iopt.contig(iova, last, (area, cur) => {
      const end = last < area.last ? last : area.last;
      area.pages.removeAccess(area.indexOf(cur), area.indexOf(end));
      area.numAccesses--;
    });
  }
}

/** struct iommufd_viommu with the mock's struct mock_viommu. */
export class ViommuObj extends SimObject {
  readonly type = ObjType.VIOMMU;
  /** vdevs: virt_id -> vDEVICE. */
  readonly vdevs = new Map<bigint, VdeviceObj>();
  /** veventqs: at most one per type. */
  readonly veventqs: VeventqObj[] = [];
  /** mock_viommu->hw_queue[] */
  readonly hwQueues: (HwQueueObj | null)[] = new Array<HwQueueObj | null>(HW_QUEUE_MAX).fill(null);
  /** mmap_offset of the page iommufd_viommu_alloc_mmap() offered, or null without driver data. */
  mmapOffset: bigint | null = null;
  constructor(
    readonly ctx: SimContext,
    readonly hwpt: HwptPaging,
    /** in_data, which the mock writes into its mmap page (a loopback test). */
    readonly pageValue: number,
  ) {
    super();
  }

  /** iommufd_viommu_get_vdev_id(): the virtual id of `idev` here, or null (ENOENT). */
  vdevIdOf(idev: Idev): bigint | null {
    for (const [virtId, vdev] of this.vdevs) if (vdev.idev === idev) return virtId;
    return null;
  }
}

/** struct iommufd_vdevice */
export class VdeviceObj extends SimObject {
  readonly type = ObjType.VDEVICE;
  constructor(
    readonly viommu: ViommuObj,
    readonly idev: Idev,
    readonly virtId: bigint,
  ) {
    super();
  }
}

/** struct iommufd_vevent: a header and its payload (none for the lost-events header). */
export interface Vevent {
  flags: number;
  sequence: number;
  data: Uint8Array;
}

/** struct iommufd_veventq */
export class VeventqObj extends SimObject {
  readonly type = ObjType.VEVENTQ;
  readonly deliver: Vevent[] = [];
  numEvents = 0;
  sequence = 0;
  /** The one lost_events_header, queued (last) while events were dropped. */
  readonly lostEventsHeader: Vevent = { flags: VEVENTQ_FLAG_LOST_EVENTS, sequence: 0, data: new Uint8Array(0) };
  constructor(
    readonly viommu: ViommuObj,
    readonly eventType: number,
    readonly depth: number,
  ) {
    super();
  }
}

/** struct iommufd_hw_queue with the mock's struct mock_hw_queue. */
export class HwQueueObj extends SimObject {
  readonly type = ObjType.HW_QUEUE;
  prev: HwQueueObj | null = null;
  index = -1;
  /** hw_queue->access and the (page-aligned) range it pinned; null until pinned. */
  memory: QueueMemory | null = null;
  /** hw_queue->viommu: its users reference is taken once the memory is pinned. */
  viommuHeld = false;
  constructor(readonly viommu: ViommuObj) {
    super();
  }
}

/** A HW queue's memory: the internal access pinning it, and the page-aligned range. */
export interface QueueMemory {
  access: AccessObj;
  iova: bigint;
  length: bigint;
}

/** A mapping of the iommufd (iommufd_fops_mmap()) holds its owner's users. */
export interface SimMapping {
  owner: ViommuObj;
  length: number;
}

/** struct iommufd_ctx: the object table of one open iommufd. */
export class SimContext {
  readonly objects = new ObjectTable();
  /** The kernel whose rules this context follows (SimBackend.kernel). */
  readonly kernel: SimKernel;
  /** The file is closed; the context goes once no access holds it (iommufd_ctx_get()). */
  closed = false;
  released = false;
  #accessRefs = 0;
  vfioIoas: IoasObj | null = null;
  /** IOPT_PAGES_ACCOUNT_MM (IOMMU_OPTION_RLIMIT_MODE 1) instead of per user (0). */
  accountModeMm = false;
  /** mt_mmap: regions drivers offer to mmap() of the iommufd, by offset. */
  readonly mmaps = new Map<bigint, SimMapping>();

  /** mtree_alloc_range() from PAGE_SIZE on: the lowest free offset for `length` bytes. */
  allocMmapOffset(length: number): bigint {
    const taken = [...this.mmaps].map(([start, m]) => [start, start + BigInt(m.length)] as const).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    let offset = 4096n;
    for (const [start, end] of taken) {
      if (offset + BigInt(length) <= start) break;
      if (end > offset) offset = end;
    }
    return offset;
  }

  /** main.c's iommufd_object_ops[]: each type's destroy. */
  readonly #ops: ObjectOps;

  constructor(kernel: SimKernel, ops: ObjectOps) {
    this.kernel = kernel;
    this.#ops = ops;
  }

  /** iommufd_get_object() */
  get<T extends SimObject>(id: number, type?: ObjType): T {
    return this.objects.get<T>(id, type) ?? fail('ENOENT');
  }

  getIoas(id: number): IoasObj {
    return this.get<IoasObj>(id, ObjType.IOAS);
  }

  /** iommufd_object_alloc(): the id is reserved; finalize() publishes the object. */
  add(obj: SimObject): number {
    return this.objects.add(obj) ?? fail('EBUSY');
  }

  /** iommufd_object_alloc() + iommufd_object_finalize() */
  addFinalized(obj: SimObject): number {
    const id = this.add(obj);
    obj.finalized = true;
    return id;
  }

  /** IOMMU_DESTROY: iommufd_object_remove(ictx, NULL, id, 0). */
  destroyId(id: number): void {
    const obj = this.objects.get(id);
    if (!obj) fail('ENOENT');
    if (obj.users !== 1) fail('EBUSY');
    this.#remove(obj);
  }

  #remove(obj: SimObject): void {
    obj.users = 0;
    if (this.vfioIoas === obj) this.vfioIoas = null;
    this.objects.delete(obj);
    this.#destroy(obj);
  }

  /** ops->destroy of the object's type. */
  #destroy(obj: SimObject): void {
    (this.#ops[obj.type] as (obj: SimObject) => void)(obj);
  }

  /** iommufd_object_destroy_user(): drop the caller's users ref and remove. */
  destroyUser(obj: SimObject): void {
    obj.users--;
    if (obj.users === 1) this.#remove(obj);
  }

  /** iommufd_object_put_and_try_destroy() */
  putAndTryDestroy(obj: SimObject): void {
    obj.users--;
    if (obj.users === 1) this.#remove(obj);
  }

  /**
   * iommufd_object_tombstone_user(): destroy the object and keep its id
   * (XA_ZERO_ENTRY): IOMMU_DESTROY of it is ENOENT and no new object gets it.
   */
  tombstone(obj: SimObject): void {
    obj.users = 0;
    this.objects.tombstone(obj);
    this.#destroy(obj);
  }

  /** Undo an add that never finalized (iommufd_object_abort()). */
  abort(obj: SimObject): void {
    this.objects.delete(obj);
  }

  /** iommufd_object_abort_and_destroy(): undo the add, release what the object holds. */
  abortAndDestroy(obj: SimObject): void {
    this.abort(obj);
    this.#destroy(obj);
  }

  /** iommufd_ctx_get(): an access or a fault fd holds the context. */
  accessCreated(): void {
    this.#accessRefs++;
  }

  /** iommufd_ctx_put() */
  accessGone(): void {
    this.#accessRefs--;
    if (this.closed && this.#accessRefs === 0) this.release();
  }

  /** iommufd_fops_release(): destroy leaf objects until none is left. */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (;;) {
      let destroyed = 0;
      for (const obj of [...this.objects]) {
        if (this.objects.get(obj.id) !== obj || obj.users !== 1) continue;
        this.#remove(obj);
        destroyed++;
      }
      if (destroyed === 0) break;
    }
  }

  /** close() of the iommufd: the context lives on while accesses hold it. */
  close(): void {
    this.closed = true;
    if (this.#accessRefs === 0) this.release();
  }
}
