// viommu.c in the simulator (7.3): IOMMU_VIOMMU_ALLOC, IOMMU_VDEVICE_ALLOC and
// IOMMU_HW_QUEUE_ALLOC with the mock driver's parts of them (selftest.c's
// mock_viommu_init(), mock_hw_queue_init_phys()), and the objects' destroy ops.
// A vIOMMU's nested HWPTs and its invalidation are hw-pagetable.ts's, its
// vEVENTQs eventq.ts's.

import {
  IOMMU_HW_QUEUE_TYPE_DEFAULT as HW_QUEUE_TYPE_DEFAULT,
  IOMMU_HW_QUEUE_TYPE_SELFTEST as HW_QUEUE_TYPE_SELFTEST,
  IOMMU_TEST_HW_QUEUE_MAX as HW_QUEUE_MAX,
  IOMMU_VIOMMU_TYPE_DEFAULT as VIOMMU_TYPE_DEFAULT,
  IOMMU_VIOMMU_TYPE_SELFTEST as VIOMMU_TYPE_SELFTEST,
} from '../uapi/constants.js';
import { UAPI_LAYOUTS } from '../uapi/layout.js';
import { firstUnmapped, isHugeBacked } from '../base/user-pages.js';
import { accessChangeIoas, accessPinPages } from './device.js';
import { SimErrno, U64_MAX, ULONG_MAX, fail } from './io-pagetable.js';
import {
  AccessObj,
  HwQueueObj,
  type HwptPaging,
  type Idev,
  ObjType,
  type QueueMemory,
  type SimContext,
  VdeviceObj,
  ViommuObj,
} from './objects.js';
import { PAGE_SIZE } from './pages.js';

const PAGE = BigInt(PAGE_SIZE);
/** CPU pages per 2 MiB huge page. */
const HUGE_PAGES = (2 * 1024 * 1024) / PAGE_SIZE;
const S73 = UAPI_LAYOUTS['7.3'].structs;
const VIOMMU_SELFTEST_SIZE = S73.iommu_viommu_selftest.size;
/** iommu_copy_struct_from_user(..., out_data): the data must reach offsetofend(struct iommu_viommu_selftest, out_data). */
const VIOMMU_SELFTEST_MIN = S73.iommu_viommu_selftest.offsets.out_data + 4;

/** iommufd_viommu_destroy() + mock_viommu_destroy() */
export function viommuDestroy(viommu: ViommuObj): void {
  if (viommu.mmapOffset !== null) viommu.ctx.mmaps.delete(viommu.mmapOffset);
  viommu.hwpt.users--;
  viommu.vdevs.clear();
}

/** iommufd_vdevice_destroy() */
export function vdeviceDestroy(vdev: VdeviceObj): void {
  if (vdev.viommu.vdevs.get(vdev.virtId) === vdev) vdev.viommu.vdevs.delete(vdev.virtId);
  vdev.viommu.users--;
  vdev.idev.vdev = null;
}

/** iommufd_hw_queue_destroy() + mock_hw_queue_destroy() */
export function hwQueueDestroy(hwQueue: HwQueueObj): void {
  if (hwQueue.index >= 0) {
    hwQueue.viommu.hwQueues[hwQueue.index] = null;
    if (hwQueue.prev) hwQueue.prev.users--; // iommufd_hw_queue_undepend()
  }
  if (hwQueue.memory) releaseQueueMemory(hwQueue.memory);
  if (hwQueue.viommuHeld) hwQueue.viommu.users--;
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
    ctx.abortAndDestroy(hwQueue);
    throw e;
  };
  const aligned = iova & ~(PAGE - 1n);
  const offset = iova - aligned;
  if (offset + length + PAGE - 1n > U64_MAX) abort(new SimErrno('ERANGE'));
  const npages = (offset + length + PAGE - 1n) / PAGE;
  const pinned = { iova: aligned, length: npages * PAGE };
  // iommufd_access_create_internal(): an ACCESS object of its own id, which the
  // driver holds (IOMMU_DESTROY of it is EBUSY) until the queue goes.
  const access = new AccessObj(ctx, true, true);
  try {
    ctx.addFinalized(access);
  } catch (e) {
    abort(e);
  }
  access.users++;
  let frames: number[] = [];
  try {
    accessChangeIoas(access, viommu.hwpt.ioas);
    frames = accessPinPages(access, pinned.iova, pinned.length, false);
  } catch (e) {
    if (access.ioas) accessChangeIoas(access, null);
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

/** iommufd_hw_queue_destroy_access(): unpin, unlock, detach, destroy the access. */
function releaseQueueMemory({ access, iova, length }: QueueMemory): void {
  const iopt = access.ioas?.iopt;
  if (iopt) {
    iopt.contig(iova, iova + length - 1n, (area) => {
      area.numLocks--;
    });
  }
  access.unpinPages(iova, length);
  accessChangeIoas(access, null);
  access.ctx.destroyUser(access);
}
