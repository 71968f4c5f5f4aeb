// The simulator backend: the 6.12 kernel's iommufd and its CONFIG_IOMMUFD_TEST
// mock in TypeScript, errno for errno, on any OS. Argument checks happen in
// the order the addon and the kernel make them: the addon's bounds checks
// (RangeError, no ioctl), then a closed fd (EBADF), then the ioctl's own.

import type {
  Backend,
  BatchOutcome,
  BatchStep,
  Capabilities,
  Fault,
  HwInfo,
  HwptAllocRequest,
  IovaRange,
  IovaRanges,
  MockDomainIds,
  UserRange,
  VfioIommuInfo,
} from '../backend.js';
import { IommufdError, errnoNumber } from '../errors.js';
import { IOMMUFD_CMDS, IOMMU_TEST_OPS } from '../uapi.js';
import { IOMMU_READ, IOMMU_WRITE, SimErrno, ULONG_MAX, U64_MAX, fail } from './io-pagetable.js';
import { ObjType } from './objects.js';
import { IoptPages, PAGE_SIZE, checkedUptr, pinCountsEqual } from './pages.js';
import { AccessObj, Idev, IoasObj, MOCK_IO_PAGE_SIZE, SelftestObj, SimContext } from './selftest.js';

// uapi flags (include/uapi/linux/iommufd.h, iommufd_test.h)
const MAP_FIXED_IOVA = 1 << 0;
const MAP_WRITEABLE = 1 << 1;
const MAP_READABLE = 1 << 2;
const NEEDS_PIN_PAGES = 1 << 0;
const ACCESS_WRITE = 1 << 0;
const ACCESS_SYZ = 1 << 16;
const RW_WRITE = 1 << 0;
const RW_SLOW_PATH = 1 << 2;
const MOCK_FLAGS_DEVICE_NO_DIRTY = 1 << 0;
const MOCK_FLAGS_DEVICE_HUGE_IOVA = 1 << 1;
const ACCESS_MAX = 16 * 1024 * 1024;
const PAGE = BigInt(PAGE_SIZE);

/** What the simulator models: the rest answers like a kernel without it. */
const SIMULATED_IOCTLS = new Set([
  'IOMMU_DESTROY',
  'IOMMU_IOAS_ALLOC',
  'IOMMU_IOAS_ALLOW_IOVAS',
  'IOMMU_IOAS_IOVA_RANGES',
  'IOMMU_IOAS_MAP',
  'IOMMU_IOAS_UNMAP',
  'IOMMU_TEST_CMD',
]);
const SIMULATED_TEST_OPS = new Set([
  'ADD_RESERVED',
  'MOCK_DOMAIN',
  'MOCK_DOMAIN_FLAGS',
  'MD_CHECK_MAP',
  'MD_CHECK_REFS',
  'CREATE_ACCESS',
  'DESTROY_ACCESS_PAGES',
  'ACCESS_PAGES',
  'ACCESS_RW',
  'SET_TEMP_MEMORY_LIMIT',
  'ACCESS_REPLACE_IOAS',
]);

// ---- process-wide state: file descriptors of accesses, the mock's globals ----

/** Access "fds": the kernel hands out real fds; the simulator its own numbers from 3 up. */
const accessFds = new Map<number, AccessObj>();
const FIRST_FD = 3;

function allocFd(access: AccessObj): number {
  let fd = FIRST_FD;
  while (accessFds.has(fd)) fd++;
  accessFds.set(fd, access);
  return fd;
}

/** iommufd_test_memory_limit: global to the kernel. */
let tempMemoryLimit = 65536;

/** The simulator's IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT value (only batch sizes; nothing visible). */
export function simTempMemoryLimit(): number {
  return tempMemoryLimit;
}

export class SimBackend implements Backend {
  readonly name = 'sim';
  readonly #ctx = new SimContext();

  /** Like open("/dev/iommu"): a new, empty iommufd. */
  static open(): SimBackend {
    return new SimBackend();
  }

  #run<T>(op: string, fn: () => T): T {
    if (this.#ctx.closed) throw new IommufdError(errnoNumber('EBADF'), op);
    try {
      return fn();
    } catch (e) {
      if (e instanceof SimErrno) throw new IommufdError(errnoNumber(e.code), op);
      throw e;
    }
  }

  /** @internal For tests: live objects in the table. */
  get objectCount(): number {
    return this.#ctx.objects.size;
  }

  close(): void {
    if (this.#ctx.closed) throw new IommufdError(errnoNumber('EBADF'), 'close');
    this.#ctx.close();
  }

  capabilities(): Capabilities {
    if (this.#ctx.closed) throw new IommufdError(errnoNumber('EBADF'), 'IOMMU_TEST_CMD');
    const ioctls: Record<string, boolean> = {};
    for (const name of Object.keys(IOMMUFD_CMDS)) ioctls[name] = SIMULATED_IOCTLS.has(name);
    for (const name of ['VFIO_GET_API_VERSION', 'VFIO_CHECK_EXTENSION', 'VFIO_SET_IOMMU', 'VFIO_IOMMU_GET_INFO', 'VFIO_IOMMU_MAP_DMA', 'VFIO_IOMMU_UNMAP_DMA'])
      ioctls[name] = false;
    const testOps: Record<string, boolean> = {};
    for (const name of Object.keys(IOMMU_TEST_OPS)) testOps[name] = SIMULATED_TEST_OPS.has(name);
    return { backend: 'sim', kernel: 'sim-6.12', ioctls, testOps, failNth: false };
  }

  runBatch(steps: BatchStep[], failNth: number): BatchOutcome {
    // No fault injection in the simulator (capabilities().failNth is false).
    if (failNth > 0) throw new IommufdError(errnoNumber('EOPNOTSUPP'), 'fail-nth', '(the simulator has no fault injection)');
    const results: unknown[] = [];
    for (let i = 0; i < steps.length; i++) {
      try {
        results.push(steps[i]!.call());
      } catch (error) {
        return { results, errorIndex: i, error: error as Error, injected: false };
      }
    }
    return { results, errorIndex: -1, error: null, injected: false };
  }

  // ---- objects and IOAS ioctls ------------------------------------------------

  destroy(id: number): void {
    this.#run('IOMMU_DESTROY', () => this.#ctx.destroyId(id));
  }

  ioasAlloc(): number {
    return this.#run('IOMMU_IOAS_ALLOC', () => this.#ctx.addFinalized(new IoasObj()));
  }

  /** iommufd_ioas_map() */
  ioasMap(ioasId: number, flags: number, memory: UserRange, iova: bigint): bigint {
    const uptr = checkedUptr(memory);
    return this.#run('IOMMU_IOAS_MAP', () => {
      if (flags & ~(MAP_FIXED_IOVA | MAP_WRITEABLE | MAP_READABLE)) fail('EOPNOTSUPP');
      if (iova >= ULONG_MAX || BigInt(memory.length) >= ULONG_MAX) fail('EOVERFLOW');
      if (!(flags & (MAP_WRITEABLE | MAP_READABLE))) fail('EINVAL');
      const ioas = this.#ctx.getIoas(ioasId);
      let prot = 0;
      if (flags & MAP_WRITEABLE) prot |= IOMMU_WRITE;
      if (flags & MAP_READABLE) prot |= IOMMU_READ;
      const pages = IoptPages.alloc(memory, uptr, (prot & IOMMU_WRITE) !== 0);
      if (typeof pages === 'string') fail(pages);
      return ioas.iopt.mapPages(pages, uptr, memory.length, iova, prot, !(flags & MAP_FIXED_IOVA));
    });
  }

  /** iommufd_ioas_unmap() */
  ioasUnmap(ioasId: number, iova: bigint, length: bigint): bigint {
    return this.#run('IOMMU_IOAS_UNMAP', () => {
      const ioas = this.#ctx.getIoas(ioasId);
      if (iova === 0n && length === U64_MAX) return ioas.iopt.unmapRange(0n, ULONG_MAX);
      if (iova >= ULONG_MAX || length >= ULONG_MAX) fail('EOVERFLOW');
      const unmapped = ioas.iopt.unmap(iova, length);
      if (!unmapped) fail('ENOENT');
      return unmapped;
    });
  }

  ioasIovaRanges(ioasId: number): IovaRanges {
    return this.#run('IOMMU_IOAS_IOVA_RANGES', () => {
      const iopt = this.#ctx.getIoas(ioasId).iopt;
      return { ranges: iopt.iovaRanges(), alignment: iopt.iovaAlignment };
    });
  }

  /** iommufd_ioas_allow_iovas() */
  ioasAllowIovas(ioasId: number, ranges: IovaRange[]): void {
    this.#run('IOMMU_IOAS_ALLOW_IOVAS', () => {
      const ioas = this.#ctx.getIoas(ioasId);
      // iommufd_ioas_load_iovas(): each range well formed and not overlapping the ones before.
      const loaded: IovaRange[] = [];
      for (const r of ranges) {
        if (r.start >= r.last) fail('EINVAL');
        if (loaded.some((l) => l.start <= r.last && r.start <= l.last)) fail('EINVAL');
        loaded.push({ start: r.start, last: r.last });
      }
      ioas.iopt.setAllowed(loaded);
    });
  }

  ioasCopy(): bigint {
    // not simulated yet
    throw new IommufdError(errnoNumber('ENOTTY'), 'IOMMU_IOAS_COPY');
  }

  option(): bigint {
    // not simulated yet
    throw new IommufdError(errnoNumber('ENOTTY'), 'IOMMU_OPTION');
  }

  vfioIoas(): number {
    // not simulated yet
    throw new IommufdError(errnoNumber('ENOTTY'), 'IOMMU_VFIO_IOAS');
  }

  // ---- HWPT, hw info, dirty tracking, faults: not simulated yet --------------

  hwptAlloc(_request: HwptAllocRequest): number {
    // not simulated yet
    throw new IommufdError(errnoNumber('ENOTTY'), 'IOMMU_HWPT_ALLOC');
  }

  getHwInfo(_devId: number, _data: Uint8Array): HwInfo {
    // not simulated yet
    throw new IommufdError(errnoNumber('ENOTTY'), 'IOMMU_GET_HW_INFO');
  }

  hwptSetDirtyTracking(): void {
    // not simulated yet
    throw new IommufdError(errnoNumber('ENOTTY'), 'IOMMU_HWPT_SET_DIRTY_TRACKING');
  }

  hwptGetDirtyBitmap(): void {
    // not simulated yet
    throw new IommufdError(errnoNumber('ENOTTY'), 'IOMMU_HWPT_GET_DIRTY_BITMAP');
  }

  hwptInvalidate(): number {
    // not simulated yet
    throw new IommufdError(errnoNumber('ENOTTY'), 'IOMMU_HWPT_INVALIDATE');
  }

  faultQueueAlloc(): { faultId: number; faultFd: number } {
    // not simulated yet
    throw new IommufdError(errnoNumber('ENOTTY'), 'IOMMU_FAULT_QUEUE_ALLOC');
  }

  faultRead(): Fault[] {
    // not simulated yet: no fault queue fd can exist
    throw new IommufdError(errnoNumber('EBADF'), 'read');
  }

  faultRespond(): number {
    // not simulated yet: no fault queue fd can exist
    throw new IommufdError(errnoNumber('EBADF'), 'write');
  }

  closeFault(): void {
    // not simulated yet: no fault queue fd can exist
    throw new IommufdError(errnoNumber('EBADF'), 'close');
  }

  // ---- VFIO compatibility: not simulated yet -----------------------------------

  vfioGetApiVersion(): number {
    // not simulated yet
    throw new IommufdError(errnoNumber('ENOTTY'), 'VFIO_GET_API_VERSION');
  }

  vfioCheckExtension(): number {
    // not simulated yet
    throw new IommufdError(errnoNumber('ENOTTY'), 'VFIO_CHECK_EXTENSION');
  }

  vfioSetIommu(): void {
    // not simulated yet
    throw new IommufdError(errnoNumber('ENOTTY'), 'VFIO_SET_IOMMU');
  }

  vfioIommuGetInfo(): VfioIommuInfo {
    // not simulated yet
    throw new IommufdError(errnoNumber('ENOTTY'), 'VFIO_IOMMU_GET_INFO');
  }

  vfioMapDma(): void {
    // not simulated yet
    throw new IommufdError(errnoNumber('ENOTTY'), 'VFIO_IOMMU_MAP_DMA');
  }

  vfioUnmapDma(): bigint {
    // not simulated yet
    throw new IommufdError(errnoNumber('ENOTTY'), 'VFIO_IOMMU_UNMAP_DMA');
  }

  // ---- IOMMU_TEST_CMD ------------------------------------------------------------

  /** iommufd_test_add_reserved() */
  addReserved(ioasId: number, start: bigint, length: bigint): void {
    this.#run('IOMMU_TEST_OP_ADD_RESERVED', () => {
      if (!length) fail('EINVAL');
      const last = start + length - 1n;
      if (last > ULONG_MAX) fail('EOVERFLOW');
      this.#ctx.getIoas(ioasId).iopt.reserveIova(start, last, null);
    });
  }

  /** iommufd_test_mock_domain() */
  mockDomain(ptId: number, devFlags?: number): MockDomainIds {
    const op = devFlags === undefined ? 'IOMMU_TEST_OP_MOCK_DOMAIN' : 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS';
    return this.#run(op, () => {
      const ctx = this.#ctx;
      const idev = new Idev(devFlags ?? 0);
      const sobj = new SelftestObj(ctx, idev);
      ctx.add(sobj);
      // mock_dev_create()
      if ((devFlags ?? 0) & ~(MOCK_FLAGS_DEVICE_NO_DIRTY | MOCK_FLAGS_DEVICE_HUGE_IOVA)) {
        ctx.abort(sobj);
        fail('EINVAL');
      }
      // iommufd_device_bind(): the driver holds a users ref until unbind.
      try {
        ctx.addFinalized(idev);
      } catch (e) {
        ctx.abort(sobj);
        throw e;
      }
      idev.users++;
      let hwptId: number;
      try {
        hwptId = ctx.deviceAttach(idev, ptId);
      } catch (e) {
        ctx.destroyUser(idev);
        ctx.abort(sobj);
        throw e;
      }
      sobj.finalized = true;
      return { stdevId: sobj.id, hwptId, idevId: idev.id };
    });
  }

  mockDomainReplace(): number {
    // not simulated yet
    throw new IommufdError(errnoNumber('EOPNOTSUPP'), 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE');
  }

  mdCheckIotlb(): void {
    // not simulated yet
    throw new IommufdError(errnoNumber('EOPNOTSUPP'), 'IOMMU_TEST_OP_MD_CHECK_IOTLB');
  }

  dirty(): bigint {
    // not simulated yet
    throw new IommufdError(errnoNumber('EOPNOTSUPP'), 'IOMMU_TEST_OP_DIRTY');
  }

  triggerIopf(): void {
    // not simulated yet
    throw new IommufdError(errnoNumber('EOPNOTSUPP'), 'IOMMU_TEST_OP_TRIGGER_IOPF');
  }

  /** iommufd_test_md_check_pa(): every MOCK_IO_PAGE_SIZE of the IOVA range maps the same byte of memory. */
  mdCheckMap(hwptId: number, iova: bigint, memory: UserRange): void {
    const uptr = checkedUptr(memory);
    this.#run('IOMMU_TEST_OP_MD_CHECK_MAP', () => {
      const length = BigInt(memory.length);
      if (iova % MOCK_IO_PAGE_SIZE || length % MOCK_IO_PAGE_SIZE || BigInt(uptr) % MOCK_IO_PAGE_SIZE) fail('EINVAL');
      const hwpt = this.#ctx.get<import('./selftest.js').HwptPaging>(hwptId, ObjType.HWPT_PAGING);
      const iopt = hwpt.ioas.iopt;
      // The domain holds every area of its IOAS (iopt_fill_domain / iopt_fill_domains_pages).
      if (!iopt.domains.includes(hwpt.domain)) fail('EINVAL');
      let cur = iova;
      let user = uptr;
      let left = length;
      while (left > 0n) {
        const c = iopt.areas.iterFirst(cur, cur);
        if (!c) fail('EINVAL');
        const area = c.leaf.items[c.index]!;
        const mapped = area.pages.uptr + area.startByteOf(cur);
        if (mapped !== user) fail('EINVAL');
        const run = area.last - cur + 1n < left ? area.last - cur + 1n : left;
        cur += run;
        user += Number(run);
        left -= run;
      }
    });
  }

  /** iommufd_test_md_check_refs() */
  mdCheckRefs(memory: UserRange, refs: number): void {
    const uptr = checkedUptr(memory);
    this.#run('IOMMU_TEST_OP_MD_CHECK_REFS', () => {
      if (memory.length % PAGE_SIZE || uptr % PAGE_SIZE) fail('EINVAL');
      if (memory.length === 0) return;
      const first = (memory.bytes.byteOffset + memory.offset) / PAGE_SIZE;
      const last = first + memory.length / PAGE_SIZE - 1;
      if (!pinCountsEqual(memory.bytes.buffer, first, last, refs)) fail('EIO');
    });
  }

  /** iommufd_test_create_access() */
  createAccess(ioasId: number, flags: number): number {
    return this.#run('IOMMU_TEST_OP_CREATE_ACCESS', () => {
      if (flags & ~NEEDS_PIN_PAGES) fail('EOPNOTSUPP');
      const ctx = this.#ctx;
      // iommufd_access_create(): an object (it takes an id), held by the driver and holding the ctx.
      const access = new AccessObj(ctx, (flags & NEEDS_PIN_PAGES) !== 0);
      ctx.addFinalized(access);
      access.users++;
      ctx.accessCreated();
      try {
        ctx.accessChangeIoas(access, ctx.getIoas(ioasId));
      } catch (e) {
        ctx.destroyUser(access);
        throw e;
      }
      return allocFd(access);
    });
  }

  /** close() of the access fd: iommufd_test_staccess_release(). */
  closeAccess(fd: number): void {
    const access = accessFds.get(fd);
    if (!access) throw new IommufdError(errnoNumber('EBADF'), 'close');
    accessFds.delete(fd);
    access.unmap(0n, ULONG_MAX);
    access.ctx.destroyUser(access);
  }

  /** iommufd_access_get() */
  #access(fd: number): AccessObj {
    return accessFds.get(fd) ?? fail('EBADFD');
  }

  /** iommufd_test_access_pages() */
  accessPages(fd: number, flags: number, iova: bigint, length: number, verify: UserRange | null): number {
    let uptr = 0;
    if (verify) {
      const head = Number(iova % PAGE);
      const tail = (PAGE_SIZE - Number((iova + BigInt(length)) % PAGE)) % PAGE_SIZE;
      uptr = checkedUptr({ bytes: verify.bytes, offset: verify.offset, length }, head, tail);
    }
    return this.#run('IOMMU_TEST_OP_ACCESS_PAGES', () => {
      if (length > ACCESS_MAX) fail('ENOMEM');
      if (flags & ~(ACCESS_WRITE | ACCESS_SYZ)) fail('EOPNOTSUPP');
      const access = this.#access(fd);
      if (!access.needsPinPages) fail('EOPNOTSUPP');
      if (flags & ACCESS_SYZ) iova = syzConvIova(access, iova);
      const len = BigInt(length);
      const frames = pinPages(access, iova, len, (flags & ACCESS_WRITE) !== 0);
      if (uptr) {
        // iommufd_test_check_pages(): the pinned pages are the pages under uptr.
        const npages = Number((((iova + len + PAGE - 1n) & ~(PAGE - 1n)) - (iova & ~(PAGE - 1n))) / PAGE);
        const userFirst = Math.floor((uptr - Number(iova % PAGE)) / PAGE_SIZE);
        for (let i = 0; i < npages; i++) {
          if (frames[i] !== userFirst + i) {
            access.unpinPages(iova, len);
            fail('EBADE');
          }
        }
      }
      const id = access.nextId++;
      access.items.push({ iova, length: len, id });
      return id;
    });
  }

  /** iommufd_test_access_item_destroy() */
  destroyAccessPages(fd: number, accessPagesId: number): void {
    this.#run('IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', () => {
      const access = this.#access(fd);
      const at = access.items.findIndex((item) => item.id === accessPagesId);
      if (at < 0) fail('ENOENT');
      const [item] = access.items.splice(at, 1);
      access.unpinPages(item!.iova, item!.length);
    });
  }

  /** iommufd_test_access_rw() + iommufd_access_rw() */
  accessRw(fd: number, flags: number, iova: bigint, memory: UserRange): void {
    checkedUptr(memory);
    this.#run('IOMMU_TEST_OP_ACCESS_RW', () => {
      const length = memory.length;
      if (length > ACCESS_MAX) fail('ENOMEM');
      if (flags & ~(RW_WRITE | RW_SLOW_PATH | ACCESS_SYZ)) fail('EOPNOTSUPP');
      const access = this.#access(fd);
      const write = (flags & RW_WRITE) !== 0;
      const user = memory.bytes.subarray(memory.offset, memory.offset + length);
      const tmp = new Uint8Array(length);
      if (write) tmp.set(user);
      if (flags & ACCESS_SYZ) iova = syzConvIova(access, iova);
      if (!length) fail('EINVAL');
      const last = iova + BigInt(length) - 1n;
      if (last > ULONG_MAX) fail('EOVERFLOW');
      if (!access.ioas) fail('ENOENT');
      let at = 0;
      const done = access.ioas.iopt.contig(iova, last, (area, cur) => {
        const end = last < area.last ? last : area.last;
        const bytes = Number(end - cur) + 1;
        if (area.preventAccess) fail('EINVAL');
        if (!(area.prot & (write ? IOMMU_WRITE : IOMMU_READ))) fail('EPERM');
        // iopt_pages_rw_access(): every path copies the same bytes.
        if (write && !area.pages.writable) fail('EPERM');
        const view = area.pages.view(area.startByteOf(cur), bytes);
        if (!view) fail('EFAULT');
        if (write) view.set(tmp.subarray(at, at + bytes));
        else tmp.set(view, at);
        at += bytes;
      });
      if (!done) fail('ENOENT');
      if (!write) user.set(tmp);
    });
  }

  /** iommufd_test_access_replace_ioas() */
  accessReplaceIoas(fd: number, ioasId: number): void {
    this.#run('IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', () => {
      const access = this.#access(fd);
      if (!access.ioas) fail('ENOENT');
      access.ctx.accessChangeIoas(access, access.ctx.getIoas(ioasId));
    });
  }

  setTempMemoryLimit(bytes: number): void {
    this.#run('IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT', () => {
      // Protect _batch_init(): not less than sizeof(unsigned long) + sizeof(u32).
      if (bytes < 12) fail('EINVAL');
      tempMemoryLimit = bytes;
    });
  }
}

/**
 * iommufd_access_pin_pages(): pin every page of [iova, iova + length) through
 * the contiguous areas under it. Returns the page frames, in order.
 */
function pinPages(access: AccessObj, iova: bigint, length: bigint, write: boolean): number[] {
  if (!length) fail('EINVAL');
  const last = iova + length - 1n;
  if (last > ULONG_MAX) fail('EOVERFLOW');
  if (!access.ioas) fail('ENOENT');
  const added: [import('./io-pagetable.js').Area, number, number][] = [];
  const frames: number[] = [];
  try {
    const done = access.ioas.iopt.contig(iova, last, (area, cur, isDone) => {
      const end = last < area.last ? last : area.last;
      const index = area.indexOf(cur);
      const lastIndex = area.indexOf(end);
      // iopt_area_contig_is_aligned()
      const aligned =
        area.startByteOf(cur) % PAGE_SIZE === 0 && (isDone || area.startByteOf(area.last) % PAGE_SIZE === PAGE_SIZE - 1);
      if (area.preventAccess || !aligned) fail('EINVAL');
      if (!(area.prot & (write ? IOMMU_WRITE : IOMMU_READ))) fail('EPERM');
      // iopt_area_add_access()
      if (write && !area.pages.writable) fail('EPERM');
      area.pages.addAccess(index, lastIndex);
      area.numAccesses++;
      added.push([area, index, lastIndex]);
      for (let i = index; i <= lastIndex; i++) frames.push(area.pages.pageFrame(i));
    });
    if (!done) fail('ENOENT');
  } catch (e) {
    for (const [area, index, lastIndex] of added) {
      area.pages.removeAccess(index, lastIndex);
      area.numAccesses--;
    }
    throw e;
  }
  return frames;
}

/** iommufd_test_syz_conv_iova(): the iova is {u32 nth_area, u32 offset}. */
function syzConvIova(access: AccessObj, iova: bigint): bigint {
  if (!access.ioas) return 0n;
  let nth = Number(iova & 0xffffffffn);
  const offset = iova >> 32n;
  for (const area of access.ioas.iopt.areas) {
    if (nth === 0) return area.start + offset;
    nth--;
  }
  return 0n;
}
