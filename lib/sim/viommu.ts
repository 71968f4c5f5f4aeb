// 7.3's vIOMMU objects in the simulator, side by side with the kernel's files:
// viommu.c (IOMMU_VIOMMU_ALLOC, IOMMU_VDEVICE_ALLOC, IOMMU_HW_QUEUE_ALLOC),
// eventq.c and driver.c (IOMMU_VEVENTQ_ALLOC, read() of its fd,
// iommufd_viommu_report_event()), and the mock vIOMMU of selftest.c
// (mock_viommu_init(), mock_viommu_cache_invalidate(), mock_hw_queue_init_phys(),
// iommufd_test_dev_check_cache(), iommufd_test_trigger_vevent()).

import {
  IOMMU_HW_QUEUE_TYPE_DEFAULT as HW_QUEUE_TYPE_DEFAULT,
  IOMMU_HW_QUEUE_TYPE_SELFTEST as HW_QUEUE_TYPE_SELFTEST,
  IOMMU_HWPT_ALLOC_PASID as HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_SELFTEST as HWPT_DATA_SELFTEST,
  IOMMU_HWPT_FAULT_ID_VALID as HWPT_FAULT_ID_VALID,
  IOMMU_TEST_HW_QUEUE_MAX as HW_QUEUE_MAX,
  IOMMU_TEST_INVALIDATE_FLAG_ALL as INVALIDATE_FLAG_ALL,
  IOMMU_VEVENTQ_FLAG_LOST_EVENTS as VEVENTQ_FLAG_LOST_EVENTS,
  IOMMU_VEVENTQ_TYPE_DEFAULT as VEVENTQ_TYPE_DEFAULT,
  IOMMU_VEVENTQ_TYPE_SELFTEST as VEVENTQ_TYPE_SELFTEST,
  IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST as VIOMMU_INVALIDATE_DATA_SELFTEST,
  IOMMU_VIOMMU_TYPE_DEFAULT as VIOMMU_TYPE_DEFAULT,
  IOMMU_VIOMMU_TYPE_SELFTEST as VIOMMU_TYPE_SELFTEST,
  MOCK_DEV_CACHE_ID_MAX,
} from '../uapi/constants.js';
import { UAPI_LAYOUTS } from '../uapi/layout.js';
import { firstUnmapped, isHugeBacked } from '../base/user-pages.js';
import { SimErrno, U64_MAX, ULONG_MAX, fail } from './io-pagetable.js';
import { ObjType, SimObject } from './objects.js';
import { PAGE_SIZE } from './pages.js';
import { AccessObj, HwptNested, type HwptPaging, type Idev, type SimContext, hwptSelftestSize } from './selftest.js';

const PAGE = BigInt(PAGE_SIZE);
/** CPU pages per 2 MiB huge page. */
const HUGE_PAGES = (2 * 1024 * 1024) / PAGE_SIZE;
const S73 = UAPI_LAYOUTS['7.3'].structs;
const VEVENT_HEADER_SIZE = S73.iommufd_vevent_header.size;
const INVALIDATE_SELFTEST_SIZE = S73.iommu_viommu_invalidate_selftest.size;
const VIOMMU_SELFTEST_SIZE = S73.iommu_viommu_selftest.size;
/** eventq.c's VEVENTQ_MAX_DEPTH: a kernel-private bound, in no uapi header. */
export const VEVENTQ_MAX_DEPTH = 1 << 19;
/** iommu_copy_struct_from_user(..., out_data): the data must reach offsetofend(struct iommu_viommu_selftest, out_data). */
const VIOMMU_SELFTEST_MIN = S73.iommu_viommu_selftest.offsets.out_data + 4;
/** INT_MAX: the vEVENT sequence wraps there (iommufd_vevent_handler()). */
const INT_MAX = 0x7fff_ffff;

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

  /** iommufd_viommu_destroy() + mock_viommu_destroy() */
  destroy(): void {
    if (this.mmapOffset !== null) this.ctx.mmaps.delete(this.mmapOffset);
    this.hwpt.users--;
    this.vdevs.clear();
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

  /** iommufd_vdevice_destroy() */
  destroy(): void {
    if (this.viommu.vdevs.get(this.virtId) === this) this.viommu.vdevs.delete(this.virtId);
    this.viommu.users--;
    this.idev.vdev = null;
  }
}

/** struct iommufd_vevent: a header and its payload (none for the lost-events header). */
interface Vevent {
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

  /** iommufd_veventq_destroy() */
  destroy(): void {
    this.deliver.length = 0;
    this.viommu.users--;
    this.viommu.veventqs.splice(this.viommu.veventqs.indexOf(this), 1);
  }
}

/** The file of a vEVENTQ fd (iommufd_veventq_fops). */
export interface VeventqFile {
  veventq: VeventqObj;
  ctx: SimContext;
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

  /** iommufd_hw_queue_destroy() + mock_hw_queue_destroy() */
  destroy(): void {
    if (this.index >= 0) {
      this.viommu.hwQueues[this.index] = null;
      if (this.prev) this.prev.users--; // iommufd_hw_queue_undepend()
    }
    if (this.memory) releaseQueueMemory(this.memory);
    if (this.viommuHeld) this.viommu.users--;
  }
}

/** A HW queue's memory: the internal access pinning it, and the page-aligned range. */
interface QueueMemory {
  access: AccessObj;
  iova: bigint;
  length: bigint;
}

/** A mapping of the iommufd (iommufd_fops_mmap()) holds its owner's users. */
export interface SimMapping {
  owner: ViommuObj;
  length: number;
}

/**
 * iommufd_viommu_alloc_ioctl() + mock_get_viommu_size() + mock_viommu_init().
 * With driver data the mock offers a two-page region to mmap() (whose first
 * u32 is in_data) and writes out_data, out_mmap_offset and out_mmap_length back.
 */
/** `nullDataLen`: with `data` null, a data_len sent with a NULL data_uptr (a raw ioctl's). */
export function viommuAlloc(ctx: SimContext, flags: number, type: number, devId: number, hwptId: number, data: Uint8Array | null, nullDataLen = 0): number {
  if (flags || type === VIOMMU_TYPE_DEFAULT) fail('EOPNOTSUPP');
  ctx.get<Idev>(devId, ObjType.DEVICE);
  if (type !== VIOMMU_TYPE_SELFTEST) fail('EOPNOTSUPP');
  const hwpt = ctx.get<HwptPaging>(hwptId, ObjType.HWPT_PAGING);
  if (!hwpt.nestParent) fail('EINVAL');
  // mock_viommu_init(): iommu_copy_struct_from_user(&data, user_data, TYPE_SELFTEST, out_data).
  let inData = 0;
  if (!data && nullDataLen > 0) {
    // The object was allocated (and is aborted: no id stays taken); the copy from NULL faults.
    if (nullDataLen < VIOMMU_SELFTEST_MIN || nullDataLen > VIOMMU_SELFTEST_SIZE) fail('EINVAL');
    fail('EFAULT');
  }
  if (data && data.length > 0) {
    copyStructFromUser(data, VIOMMU_SELFTEST_MIN, VIOMMU_SELFTEST_SIZE);
    inData = new DataView(data.buffer, data.byteOffset, data.length).getUint32(0, true);
  }
  const viommu = new ViommuObj(ctx, hwpt, inData);
  ctx.add(viommu);
  hwpt.users++;
  if (data && data.length > 0) {
    const offset = ctx.allocMmapOffset(2 * PAGE_SIZE);
    viommu.mmapOffset = offset;
    ctx.mmaps.set(offset, { owner: viommu, length: 2 * PAGE_SIZE });
    // iommu_copy_struct_to_user(): out_data, out_mmap_offset, out_mmap_length, as far as data reaches.
    const out = new Uint8Array(VIOMMU_SELFTEST_SIZE);
    const view = new DataView(out.buffer);
    view.setUint32(0, inData, true);
    view.setUint32(4, inData, true);
    view.setBigUint64(8, offset, true);
    view.setBigUint64(16, BigInt(2 * PAGE_SIZE), true);
    data.set(out.subarray(4, Math.min(data.length, VIOMMU_SELFTEST_SIZE)), 4);
  }
  viommu.finalized = true;
  return viommu.id;
}

/**
 * __iommu_copy_struct_from_user() of driver data: from `min` bytes (the struct's
 * first version) up to the kernel's `size` (EINVAL either side), and the process
 * must have the pages (EFAULT).
 */
function copyStructFromUser(data: Uint8Array, min: number, size: number): void {
  if (data.length < min || data.length > size) fail('EINVAL');
  if (firstUnmapped(data.buffer, data.byteOffset, data.byteOffset + data.length) >= 0) fail('EFAULT');
}

/** iommufd_vdevice_alloc_ioctl() */
export function vdeviceAlloc(ctx: SimContext, viommuId: number, devId: number, virtId: bigint): number {
  if (virtId > ULONG_MAX) fail('EINVAL');
  const viommu = ctx.get<ViommuObj>(viommuId, ObjType.VIOMMU);
  const idev = ctx.get<Idev>(devId, ObjType.DEVICE);
  // Every mock device sits behind the one mock IOMMU, so the vIOMMU's iommu_dev matches.
  if (idev.vdev) fail('EEXIST');
  if (viommu.vdevs.has(virtId)) fail('EEXIST'); // xa_insert(): EBUSY, answered as EEXIST
  const vdev = new VdeviceObj(viommu, idev, virtId);
  ctx.add(vdev);
  viommu.users++;
  idev.vdev = vdev;
  viommu.vdevs.set(virtId, vdev);
  vdev.finalized = true;
  return vdev.id;
}

/** iommufd_veventq_alloc(); the caller makes the fd (iommufd_eventq_init()). */
export function veventqAlloc(ctx: SimContext, flags: number, viommuId: number, type: number, depth: number): VeventqObj {
  if (flags || type === VEVENTQ_TYPE_DEFAULT) fail('EOPNOTSUPP');
  if (!depth || depth > VEVENTQ_MAX_DEPTH) fail('EINVAL');
  const viommu = ctx.get<ViommuObj>(viommuId, ObjType.VIOMMU);
  if (viommu.veventqs.some((q) => q.eventType === type)) fail('EEXIST');
  const veventq = new VeventqObj(viommu, type, depth);
  ctx.add(veventq);
  viommu.users++;
  viommu.veventqs.push(veventq);
  veventq.users++; // the file's reference
  veventq.finalized = true;
  return veventq;
}

/**
 * iommufd_veventq_fops_read(): whole vEVENTs (header and payload) while they
 * fit in `buffer`; EINVAL for a buffer below one header, or when the first
 * event does not fit. Returns the bytes written.
 */
export function veventqRead(veventq: VeventqObj, buffer: Uint8Array): number {
  const count = buffer.length;
  if (count < VEVENT_HEADER_SIZE) fail('EINVAL');
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let done = 0;
  while (veventq.deliver.length > 0) {
    const cur = veventq.deliver[0]!;
    if (done >= count || VEVENT_HEADER_SIZE > count - done) break;
    const lost = cur === veventq.lostEventsHeader;
    if (!lost && VEVENT_HEADER_SIZE + cur.data.length > count - done) {
      if (done === 0) fail('EINVAL');
      break;
    }
    // copy_to_user(): EFAULT where the process has no page (nothing consumed).
    const at = buffer.byteOffset + done;
    if (firstUnmapped(buffer.buffer, at, at + VEVENT_HEADER_SIZE + cur.data.length) >= 0) {
      if (done === 0) fail('EFAULT');
      break;
    }
    view.setUint32(done, cur.flags, true);
    view.setUint32(done + 4, cur.sequence, true);
    buffer.set(cur.data, done + VEVENT_HEADER_SIZE);
    veventq.deliver.shift();
    if (!lost) veventq.numEvents--;
    done += VEVENT_HEADER_SIZE + cur.data.length;
  }
  return done;
}

/** iommufd_viommu_report_event() + iommufd_vevent_handler() */
function reportEvent(viommu: ViommuObj, type: number, data: Uint8Array): void {
  const veventq = viommu.veventqs.find((q) => q.eventType === type) ?? fail('EOPNOTSUPP');
  let vevent: Vevent;
  if (veventq.numEvents === veventq.depth) vevent = veventq.lostEventsHeader;
  else {
    vevent = { flags: 0, sequence: 0, data };
    veventq.numEvents++;
  }
  // The lost-events header, queued last, makes way for what comes next (itself again, renumbered).
  const list = veventq.deliver;
  if (list[list.length - 1] === veventq.lostEventsHeader) list.pop();
  list.push(vevent);
  vevent.sequence = veventq.sequence;
  veventq.sequence = (veventq.sequence + 1) & INT_MAX;
}

/** iommufd_test_trigger_vevent(): a struct iommu_viommu_event_selftest { virt_id }. */
export function triggerVevent(ctx: SimContext, devId: number): void {
  const idev = ctx.get<Idev>(devId, ObjType.DEVICE);
  if (!idev.mockViommu || !idev.mockVdevId) fail('ENOENT');
  const event = new Uint8Array(4);
  new DataView(event.buffer).setUint32(0, Number(idev.mockVdevId & 0xffff_ffffn), true);
  reportEvent(idev.mockViommu, VEVENTQ_TYPE_SELFTEST, event);
}

/** iommufd_test_dev_check_cache() */
export function devCheckCache(ctx: SimContext, devId: number, cacheId: number, value: number): void {
  const idev = ctx.get<Idev>(devId, ObjType.DEVICE);
  if (cacheId > MOCK_DEV_CACHE_ID_MAX || idev.cache[cacheId] !== value >>> 0) fail('EINVAL');
}

/** iommufd_viommu_alloc_hwpt_nested() + mock_viommu_alloc_domain_nested(). Unfinalized. */
export function viommuNestedAlloc(
  ctx: SimContext,
  viommu: ViommuObj,
  flags: number,
  dataType: number,
  data: Uint8Array | null,
  nullUptr: boolean,
): HwptNested {
  if (flags & ~(HWPT_FAULT_ID_VALID | HWPT_ALLOC_PASID) || !data || data.length === 0) fail('EOPNOTSUPP');
  const hwpt = new HwptNested(viommu.hwpt, 0);
  ctx.add(hwpt);
  hwpt.viommu = viommu;
  viommu.users++;
  hwpt.pasidCompat = (flags & HWPT_ALLOC_PASID) !== 0;
  try {
    // __mock_domain_alloc_nested(): selftest data, copied from iotlb on.
    if (dataType !== HWPT_DATA_SELFTEST) fail('EOPNOTSUPP');
    if (data.length < 4 || data.length > hwptSelftestSize(ctx.kernel)) fail('EINVAL');
    if (nullUptr) fail('EFAULT');
    hwpt.iotlb.fill(new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true));
  } catch (e) {
    ctx.abort(hwpt);
    hwpt.destroy();
    throw e;
  }
  return hwpt;
}

/**
 * mock_viommu_cache_invalidate() under IOMMU_HWPT_INVALIDATE (the core's checks
 * already made): the whole array is copied first (iommu_copy_struct_from_full_user_array()),
 * then each entry clears cache entries of the device its vdev_id names. Returns
 * the entries handled; a failure carries that count through `progress`.
 */
export function viommuInvalidate(viommu: ViommuObj, dataType: number, entryLen: number, entries: Uint8Array | null, entryNum: number, progress: { handled: number }): void {
  // A zero-length array of the right type validates the type.
  if (entryNum === 0 && dataType === VIOMMU_INVALIDATE_DATA_SELFTEST) return;
  if (dataType !== VIOMMU_INVALIDATE_DATA_SELFTEST || entryNum === 0) fail('EINVAL');
  const cmds: DataView[] = [];
  for (let i = 0; i < entryNum; i++) {
    const at = entries!.byteOffset + i * entryLen;
    const entry = new Uint8Array(entries!.buffer, at, entryLen);
    if (firstUnmapped(entries!.buffer, at, at + entryLen) >= 0) fail('EFAULT');
    // copy_struct_from_user(): a shorter entry is zero-extended, a longer one must end in zeros.
    for (let b = INVALIDATE_SELFTEST_SIZE; b < entryLen; b++) if (entry[b]) fail('E2BIG');
    const cmd = new Uint8Array(INVALIDATE_SELFTEST_SIZE);
    cmd.set(entry.subarray(0, Math.min(entryLen, INVALIDATE_SELFTEST_SIZE)));
    cmds.push(new DataView(cmd.buffer));
  }
  for (const cmd of cmds) {
    const flags = cmd.getUint32(0, true);
    const vdevId = BigInt(cmd.getUint32(4, true));
    const cacheId = cmd.getUint32(8, true);
    if (flags & ~INVALIDATE_FLAG_ALL) fail('EOPNOTSUPP');
    if (cacheId > MOCK_DEV_CACHE_ID_MAX) fail('EINVAL');
    const vdev = viommu.vdevs.get(vdevId) ?? fail('EINVAL');
    if (flags & INVALIDATE_FLAG_ALL) vdev.idev.cache.fill(0);
    else vdev.idev.cache[cacheId] = 0;
    progress.handled++;
  }
}

/**
 * iommufd_hw_queue_alloc_ioctl() + iommufd_hw_queue_alloc_phys() +
 * mock_hw_queue_init_phys(). The queue memory is pinned through an internal
 * access, which locks its areas against unmap (EBUSY) until the queue goes.
 * Its pages must be physically contiguous (EFAULT otherwise): the simulator
 * takes that to hold only inside one huge page of huge-backed memory.
 */
export function hwQueueAlloc(
  ctx: SimContext,
  request: { flags: number; viommuId: number; type: number; index: number; nestingParentIova: bigint; length: bigint },
  pin: (access: AccessObj, iova: bigint, length: bigint) => number[],
): number {
  const { flags, viommuId, type, index, nestingParentIova: iova, length } = request;
  if (flags || type === HW_QUEUE_TYPE_DEFAULT) fail('EOPNOTSUPP');
  if (!length) fail('EINVAL');
  if (iova + length - 1n > U64_MAX) fail('EOVERFLOW');
  const viommu = ctx.get<ViommuObj>(viommuId, ObjType.VIOMMU);
  if (type !== HW_QUEUE_TYPE_SELFTEST) fail('EOPNOTSUPP');
  // The object first (its id), then iommufd_hw_queue_alloc_phys(): whole pages around the queue.
  const hwQueue = new HwQueueObj(viommu);
  ctx.add(hwQueue);
  const abort = (e: unknown): never => {
    ctx.abort(hwQueue);
    hwQueue.destroy();
    throw e;
  };
  const aligned = iova & ~(PAGE - 1n);
  const offset = iova - aligned;
  if (offset + length + PAGE - 1n > U64_MAX) abort(new SimErrno('ERANGE'));
  const npages = (offset + length + PAGE - 1n) / PAGE;
  const pinned = { iova: aligned, length: npages * PAGE };
  // iommufd_access_create_internal(): an ACCESS object of its own id, which the
  // driver holds (IOMMU_DESTROY of it is EBUSY) until the queue goes.
  const access = new InternalAccessObj(ctx);
  try {
    ctx.addFinalized(access);
  } catch (e) {
    abort(e);
  }
  access.users++;
  let frames: number[] = [];
  try {
    ctx.accessChangeIoas(access, viommu.hwpt.ioas);
    frames = pin(access, pinned.iova, pinned.length);
  } catch (e) {
    if (access.ioas) ctx.accessChangeIoas(access, null);
    ctx.destroyUser(access);
    abort(e);
  }
  // iopt_area_add_access(..., lock_area): an internal access locks what it pins.
  let hugeBacked = true;
  viommu.hwpt.ioas.iopt.contig(pinned.iova, pinned.iova + pinned.length - 1n, (area) => {
    area.numLocks++;
    hugeBacked &&= isHugeBacked(area.pages.buffer);
  });
  hwQueue.memory = { access, ...pinned };
  hwQueue.viommuHeld = true;
  viommu.users++;
  const contiguous = frames.length <= 1 || (hugeBacked && frames.every((f, i) => f === frames[0]! + i && Math.floor(f / HUGE_PAGES) === Math.floor(frames[0]! / HUGE_PAGES)));
  try {
    if (!contiguous) fail('EFAULT');
    // mock_hw_queue_init_phys(): indexes in order, each depending on the one before.
    if (index >= HW_QUEUE_MAX) fail('EINVAL');
    if (viommu.hwQueues[index]) fail('EEXIST');
    const prev = index ? (viommu.hwQueues[index - 1] ?? fail('EIO')) : null;
    if (prev) prev.users++; // iommufd_hw_queue_depend()
    hwQueue.prev = prev;
    hwQueue.index = index;
    viommu.hwQueues[index] = hwQueue;
  } catch (e) {
    abort(e);
  }
  hwQueue.finalized = true;
  return hwQueue.id;
}

/**
 * An internal access (iommufd_access_create_internal()): an ACCESS object in the
 * table, with no fd and no reference on the context.
 */
class InternalAccessObj extends AccessObj {
  constructor(ctx: SimContext) {
    super(ctx, true);
  }

  /** iommufd_access_destroy_object() of an internal access. */
  override destroy(): void {
    if (this.ioas) this.ctx.accessChangeIoas(this, null);
  }
}

/** iommufd_hw_queue_destroy_access(): unpin, unlock, detach, destroy the access. */
function releaseQueueMemory({ access, iova, length }: QueueMemory): void {
  const iopt = access.ioas?.iopt;
  if (iopt) {
    iopt.contig(iova, iova + length - 1n, (area) => {
      area.numLocks--;
    });
  }
  access.unpinPages(iova, length);
  access.ctx.accessChangeIoas(access, null);
  access.ctx.destroyUser(access);
}
