// Raw ioctls on the simulator (Iommufd.rawIoctl): the argument bytes are
// decoded the way the 6.12 driver decodes them, then handed to the same
// SimBackend methods the typed API uses.
//
//  * iommufd_fops_ioctl(): an _IOC_NR inside the command table reads the u32
//    size first (NULL: EFAULT), an empty slot is ENOTTY, size < the command's
//    minimum is EINVAL, and copy_struct_from_user() zero-extends a short struct
//    and refuses non-zero bytes past the kernel's struct (E2BIG). Commands that
//    answer (iommufd_ucmd_respond) write min(size, sizeof) bytes back.
//  * any other number goes to iommufd_vfio_ioctl() (vfio_compat.c): the six
//    container ioctls with their argsz/minsz rules, ENOTTY for the rest.
//
// Raw bytes never carry user pointers (lib/raw-ioctl.ts): a command that would
// reach user memory through one meets NULL. Where the kernel copies through
// it, the simulator answers EFAULT at that point. Not modelled: IOAS_MAP and
// VFIO_IOMMU_MAP_DMA of user address 0 with a nonzero length (the kernel pins
// lazily and accepts them while no domain or access needs the pages; the
// simulator answers EFAULT), IOMMU_HWPT_GET_DIRTY_BITMAP past its flag checks,
// and the IOMMU_TEST_CMD ops that take a user pointer or return an fd: those
// throw an Error saying so.
import { IommufdError, errnoNumber } from '../errors.js';
import { VFIO_REQUESTS, iommufdIoctl } from '../raw-ioctl.js';
import { IOMMUFD_CMDS, IOMMU_TEST_OPS } from '../uapi.js';
import { UAPI_LAYOUTS } from '../uapi-layout.js';
import type { SimBackend } from './backend.js';

const ULONG_MAX = (1n << 64n) - 1n;

class RawErrno extends IommufdError {}

function fail(code: string, name: string): never {
  throw new RawErrno(errnoNumber(code), name);
}

function notModelled(what: string): never {
  throw new Error(`the simulator does not model a raw ${what}; use the typed API`);
}

// The 6.12 command table: the simulator's raw decoding follows the 6.12 driver (on
// either kernel; the commands 7.3 adds are ENOTTY here).
const L = UAPI_LAYOUTS['6.12'];
/** struct sizes and offsetofend(last) of the commands (iommufd_ioctl_ops[]). */
const OPS = new Map<number, { size: number; min: number }>(Object.values(L.ioctls).map((io) => [io.nr, { size: io.size, min: io.min }]));
/** ARRAY_SIZE(iommufd_ioctl_ops): designated up to the highest command. */
const TABLE_END = Math.max(...OPS.keys()) + 1;

/** A kernel-side copy of the command (struct iommu_*), little endian. */
class Cmd {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
  u16(at: number): number {
    return this.view.getUint16(at, true);
  }
  u32(at: number): number {
    return this.view.getUint32(at, true);
  }
  u64(at: number): bigint {
    return this.view.getBigUint64(at, true);
  }
  set32(at: number, v: number): void {
    this.view.setUint32(at, v, true);
  }
  set64(at: number, v: bigint): void {
    this.view.setBigUint64(at, v, true);
  }
}

/** The body of SimBackend.rawIoctl(); `arg` was checked by checkRawIoctl(). */
export function simRawIoctl(b: SimBackend, request: number, arg: Uint8Array | number | null, name: string): number {
  const nr = request & 0xff;
  if (nr >= IOMMUFD_CMDS.IOMMU_DESTROY && nr < TABLE_END) return iommufdCmd(b, nr, request, arg, name);
  return vfioIoctl(b, request, arg, name);
}

function iommufdCmd(b: SimBackend, nr: number, request: number, arg: Uint8Array | number | null, name: string): number {
  // get_user(ucmd.user_size, ...)
  if (!(arg instanceof Uint8Array)) fail('EFAULT', name);
  const user = new DataView(arg.buffer, arg.byteOffset, arg.byteLength);
  const usize = user.getUint32(0, true);
  const op = OPS.get(nr);
  if (!op || request !== iommufdIoctl(nr)) fail('ENOTTY', name);
  if (usize < op.min) fail('EINVAL', name);
  // copy_struct_from_user()
  const cmd = new Cmd(op.size);
  cmd.bytes.set(arg.subarray(0, Math.min(usize, op.size)));
  for (let i = op.size; i < usize; i++) if (arg[i] !== 0) fail('E2BIG', name);
  // iommufd_ucmd_respond()
  const respond = () => arg.set(cmd.bytes.subarray(0, Math.min(usize, op.size)));
  execute(b, nr, cmd, respond, name);
  return 0;
}

function execute(b: SimBackend, nr: number, cmd: Cmd, respond: () => void, name: string): void {
  switch (nr) {
    case IOMMUFD_CMDS.IOMMU_DESTROY:
      b.destroy(cmd.u32(4));
      return;
    case IOMMUFD_CMDS.IOMMU_IOAS_ALLOC:
      if (cmd.u32(4)) fail('EOPNOTSUPP', name);
      cmd.set32(8, b.ioasAlloc());
      respond();
      return;
    case IOMMUFD_CMDS.IOMMU_IOAS_ALLOW_IOVAS: {
      if (cmd.u32(12)) fail('EOPNOTSUPP', name);
      const ioasId = cmd.u32(4);
      b.ioasIovaRanges(ioasId); // the IOAS lookup (ENOENT)
      if (cmd.u32(8)) fail('EFAULT', name); // copying the ranges from NULL
      b.ioasAllowIovas(ioasId, []);
      return;
    }
    case IOMMUFD_CMDS.IOMMU_IOAS_COPY:
      cmd.set64(24, b.ioasCopy(cmd.u32(8), cmd.u32(12), cmd.u32(4), cmd.u64(24), cmd.u64(32), cmd.u64(16)));
      respond();
      return;
    case IOMMUFD_CMDS.IOMMU_IOAS_IOVA_RANGES: {
      if (cmd.u32(12)) fail('EOPNOTSUPP', name);
      const max = cmd.u32(8);
      const { ranges, alignment } = b.ioasIovaRanges(cmd.u32(4));
      if (max > 0 && ranges.length > 0) fail('EFAULT', name); // the first range written to NULL
      cmd.set32(8, ranges.length);
      cmd.set64(24, alignment);
      respond();
      if (ranges.length > max) fail('EMSGSIZE', name);
      return;
    }
    case IOMMUFD_CMDS.IOMMU_IOAS_MAP: {
      const flags = cmd.u32(4);
      if (flags & ~0x7 || cmd.u32(12)) fail('EOPNOTSUPP', name);
      const length = cmd.u64(24);
      if (cmd.u64(32) >= ULONG_MAX || length >= ULONG_MAX) fail('EOVERFLOW', name);
      if (!(flags & 0x6)) fail('EINVAL', name);
      b.ioasIovaRanges(cmd.u32(8)); // the IOAS lookup (ENOENT)
      if (length === 0n) fail('EINVAL', name); // iopt_alloc_pages()
      fail('EFAULT', name); // pinning user address 0 (see the note at the top)
    }
    // falls through: unreachable
    case IOMMUFD_CMDS.IOMMU_IOAS_UNMAP:
      cmd.set64(16, b.ioasUnmap(cmd.u32(4), cmd.u64(8), cmd.u64(16)));
      respond();
      return;
    case IOMMUFD_CMDS.IOMMU_OPTION: {
      if (cmd.u16(10)) fail('EOPNOTSUPP', name);
      const op = cmd.u16(8);
      const val = b.option(cmd.u32(4), op, cmd.u32(12), cmd.u64(16));
      if (op !== 1) return; // IOMMU_OPTION_OP_GET answers
      cmd.set64(16, val);
      respond();
      return;
    }
    case IOMMUFD_CMDS.IOMMU_VFIO_IOAS: {
      if (cmd.u16(10)) fail('EOPNOTSUPP', name);
      const op = cmd.u16(8);
      const id = b.vfioIoas(op, cmd.u32(4));
      if (op !== 0) return; // IOMMU_VFIO_IOAS_GET answers
      cmd.set32(4, id);
      respond();
      return;
    }
    case IOMMUFD_CMDS.IOMMU_HWPT_ALLOC: {
      if (cmd.u32(20) || cmd.u32(44)) fail('EOPNOTSUPP', name);
      const dataLen = cmd.u32(28);
      const id = b.hwptAlloc({
        flags: cmd.u32(4),
        devId: cmd.u32(8),
        ptId: cmd.u32(12),
        dataType: cmd.u32(24),
        data: null,
        nullDataLen: dataLen,
        faultId: cmd.u32(40),
      });
      cmd.set32(16, id);
      respond();
      return;
    }
    case IOMMUFD_CMDS.IOMMU_GET_HW_INFO: {
      // Flags (7.3's INPUT_TYPE, in_data_type at 24) are getHwInfo()'s to judge.
      if (cmd.bytes[29] || cmd.bytes[30] || cmd.bytes[31]) fail('EOPNOTSUPP', name);
      const info = b.getHwInfo(cmd.u32(8), new Uint8Array(0), cmd.u32(4), cmd.u32(24));
      if (cmd.u32(12)) fail('EFAULT', name); // the driver data copied to NULL
      cmd.set32(12, info.dataLen);
      cmd.set32(24, info.dataType);
      cmd.bytes[28] = info.maxPasidLog2;
      cmd.set64(32, info.capabilities);
      respond();
      return;
    }
    case IOMMUFD_CMDS.IOMMU_HWPT_SET_DIRTY_TRACKING: {
      const flags = cmd.u32(4);
      if (flags & ~1 || cmd.u32(12)) fail('EOPNOTSUPP', name);
      b.hwptSetDirtyTracking(cmd.u32(8), (flags & 1) !== 0);
      return;
    }
    case IOMMUFD_CMDS.IOMMU_HWPT_GET_DIRTY_BITMAP:
      if (cmd.u32(8) & ~1 || cmd.u32(12)) fail('EOPNOTSUPP', name);
      notModelled('IOMMU_HWPT_GET_DIRTY_BITMAP into a NULL bitmap');
    // falls through: unreachable
    case IOMMUFD_CMDS.IOMMU_HWPT_INVALIDATE: {
      let handled = 0;
      try {
        if (cmd.u32(28)) fail('EOPNOTSUPP', name);
        // data_uptr is NULL: any entries are EINVAL before the HWPT lookup.
        handled = b.hwptInvalidate(cmd.u32(4), cmd.u32(16), cmd.u32(20), null, cmd.u32(24));
      } catch (e) {
        handled = (e as { handled?: number }).handled ?? 0;
        cmd.set32(24, handled);
        respond();
        throw e;
      }
      cmd.set32(24, handled);
      respond();
      return;
    }
    case IOMMUFD_CMDS.IOMMU_FAULT_QUEUE_ALLOC: {
      if (cmd.u32(4)) fail('EOPNOTSUPP', name);
      const { faultId, faultFd } = b.faultQueueAlloc();
      cmd.set32(8, faultId);
      cmd.set32(12, faultFd);
      respond();
      return;
    }
    case IOMMUFD_CMDS.IOMMU_TEST_CMD:
      testCmd(b, cmd, respond, name);
      return;
  }
}

/** iommufd_test() for the ops without user pointers or fds. */
function testCmd(b: SimBackend, cmd: Cmd, respond: () => void, name: string): void {
  const op = cmd.u32(4);
  const id = cmd.u32(8);
  switch (op) {
    case IOMMU_TEST_OPS.ADD_RESERVED:
      b.addReserved(id, cmd.u64(16), cmd.u64(24));
      return;
    case IOMMU_TEST_OPS.MOCK_DOMAIN:
    case IOMMU_TEST_OPS.MOCK_DOMAIN_FLAGS: {
      const ids = b.mockDomain(id, op === IOMMU_TEST_OPS.MOCK_DOMAIN_FLAGS ? cmd.u32(28) : undefined);
      cmd.set32(16, ids.stdevId);
      cmd.set32(20, ids.hwptId);
      cmd.set32(24, ids.idevId);
      respond();
      return;
    }
    case IOMMU_TEST_OPS.MOCK_DOMAIN_REPLACE:
      cmd.set32(16, b.mockDomainReplace(id, cmd.u32(16)));
      respond();
      return;
    case IOMMU_TEST_OPS.SET_TEMP_MEMORY_LIMIT:
      b.setTempMemoryLimit(cmd.u32(16));
      return;
    case IOMMU_TEST_OPS.MD_CHECK_IOTLB:
      b.mdCheckIotlb(id, cmd.u32(16), cmd.u32(20));
      return;
    case IOMMU_TEST_OPS.TRIGGER_IOPF:
      b.triggerIopf(cmd.u32(16), cmd.u32(20), cmd.u32(24), cmd.u32(28), cmd.u64(32));
      return;
  }
  if (Object.values(IOMMU_TEST_OPS).includes(op as never)) notModelled(`IOMMU_TEST_CMD op ${op}`);
  fail('EOPNOTSUPP', name);
}

// ---- iommufd_vfio_ioctl() ---------------------------------------------------

function vfioIoctl(b: SimBackend, request: number, arg: Uint8Array | number | null, name: string): number {
  const bytes = arg instanceof Uint8Array ? arg : null;
  const view = bytes ? new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength) : null;
  const integer = typeof arg === 'number' ? arg : 0;
  switch (request) {
    case VFIO_REQUESTS.VFIO_GET_API_VERSION:
      return b.vfioGetApiVersion();
    case VFIO_REQUESTS.VFIO_SET_IOMMU:
      b.vfioSetIommu(integer);
      return 0;
    case VFIO_REQUESTS.VFIO_CHECK_EXTENSION:
      return b.vfioCheckExtension(integer);
    case VFIO_REQUESTS.VFIO_IOMMU_GET_INFO:
      if (!bytes || !view) fail('EFAULT', name);
      getInfo(b, bytes, view, name);
      return 0;
    case VFIO_REQUESTS.VFIO_IOMMU_MAP_DMA: {
      if (!view) fail('EFAULT', name);
      if (view.getUint32(0, true) < 32 || view.getUint32(4, true) & ~3) fail('EINVAL', name);
      compatIoas(b, name);
      if (view.getBigUint64(24, true) === 0n) fail('EINVAL', name); // iopt_alloc_pages()
      fail('EFAULT', name); // pinning user address 0 (see the note at the top)
    }
    // falls through: unreachable
    case VFIO_REQUESTS.VFIO_IOMMU_UNMAP_DMA: {
      if (!view) fail('EFAULT', name);
      const flags = view.getUint32(4, true);
      if (view.getUint32(0, true) < 24 || flags & ~2) fail('EINVAL', name);
      compatIoas(b, name);
      const iova = view.getBigUint64(8, true);
      const size = view.getBigUint64(16, true);
      if (flags & 2 && (iova !== 0n || size !== 0n)) fail('EINVAL', name);
      let unmapped = 0n;
      try {
        unmapped = b.vfioUnmapDma(flags, iova, size);
      } finally {
        // The size unmapped is written back whether or not the unmap succeeded.
        view.setBigUint64(16, unmapped, true);
      }
      return 0;
    }
  }
  fail('ENOTTY', name);
}

/** get_compat_ioas(): ENODEV without one (VFIO_DMA_CC_IOMMU asks it and changes nothing). */
function compatIoas(b: SimBackend, name: string): void {
  try {
    b.vfioCheckExtension(4);
  } catch (e) {
    if (e instanceof IommufdError) throw new RawErrno(e.errno, name);
    throw e;
  }
}

/** iommufd_vfio_iommu_get_info() writing into the caller's argsz bytes. */
function getInfo(b: SimBackend, bytes: Uint8Array, view: DataView, name: string): void {
  const argsz = view.getUint32(0, true);
  if (argsz < 16) fail('EINVAL', name);
  const minsz = Math.min(argsz, 24);
  let info;
  try {
    info = b.vfioIommuGetInfo();
  } catch (e) {
    if (e instanceof IommufdError) throw new RawErrno(e.errno, name);
    throw e;
  }
  const ranges = info.iovaRanges ?? [];
  // The capabilities in the driver's order, each written only if it fits.
  const fills: ((at: number, avail: number) => number)[] = [
    (at, avail) => {
      // VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL { header, u32 avail = U32_MAX }
      if (avail >= 12) {
        view.setUint16(at, 3, true);
        view.setUint16(at + 2, 1, true);
        view.setUint32(at + 4, 0, true);
        view.setUint32(at + 8, 0xffffffff, true);
      }
      return 12;
    },
    (at, avail) => {
      // VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE { header, nr_iovas, reserved, ranges[] }
      ranges.forEach((r, i) => {
        if (avail >= 16 + 16 * (i + 1)) {
          view.setBigUint64(at + 16 + 16 * i, r.start, true);
          view.setBigUint64(at + 24 + 16 * i, r.last, true);
        }
      });
      if (avail >= 16 + 16 * ranges.length) {
        view.setUint16(at, 1, true);
        view.setUint16(at + 2, 1, true);
        view.setUint32(at + 4, 0, true);
        view.setUint32(at + 8, ranges.length, true);
        view.setUint32(at + 12, 0, true);
      }
      return 16 + 16 * ranges.length;
    },
  ];
  let total = 24;
  let lastCap = -1;
  for (const fill of fills) {
    const capSize = argsz > total ? fill(total, argsz - total) : fill(-1, 0);
    if (lastCap >= 0 && argsz >= total) view.setUint32(lastCap + 4, total, true);
    lastCap = total;
    total += Math.ceil(capSize / 8) * 8;
  }
  const out = new Cmd(24);
  out.set32(0, total);
  out.set32(4, info.flags);
  out.set64(8, info.iovaPgsizes);
  out.set32(16, argsz >= total ? 24 : 0);
  bytes.set(out.bytes.subarray(0, minsz));
}
