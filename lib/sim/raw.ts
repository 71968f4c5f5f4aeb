// Raw ioctls on the simulator (Iommufd.rawIoctl): the argument bytes are
// decoded the way the modelled kernel's driver decodes them (6.12's command
// table on 6.12, 7.3's on 7.3), then handed to the same SimBackend methods the
// typed API uses.
//
//  * iommufd_fops_ioctl(): an _IOC_NR inside the command table reads the u32
//    size first (NULL: EFAULT), an empty slot is ENOTTY (on 6.12 that is every
//    command 7.3 adds), size < the command's minimum is EINVAL, and
//    copy_struct_from_user() zero-extends a short struct and refuses non-zero
//    bytes past the kernel's struct (E2BIG). Commands that answer
//    (iommufd_ucmd_respond) write min(size, sizeof) bytes back.
//  * any other number goes to iommufd_vfio_ioctl() (vfio_compat.c): the six
//    container ioctls with their argsz/minsz rules, ENOTTY for the rest.
//
// Raw bytes never carry user pointers (lib/api/raw-ioctl.ts): a command that would
// reach user memory through one meets NULL. Where the kernel copies through
// it, the simulator answers EFAULT at that point. A file descriptor
// (IOMMU_IOAS_MAP_FILE's fd, DMABUF_REVOKE's dmabuf_fd) is the process's own,
// or one of the simulator's mock dma-buf descriptors. Not modelled: IOAS_MAP
// and VFIO_IOMMU_MAP_DMA of user address 0 with a nonzero length (the kernel
// pins lazily and accepts them while no domain or access needs the pages; the
// simulator answers EFAULT), IOMMU_HWPT_GET_DIRTY_BITMAP past its flag checks,
// and the IOMMU_TEST_CMD ops that take a user pointer or return an fd
// (CREATE_ACCESS, DMABUF_GET): those throw an Error saying so.
import { IommufdError, errnoNumber } from '../base/errors.js';
import { VFIO_REQUESTS, iommufdIoctl } from '../backend/raw-ioctl.js';
import { IOMMUFD_CMDS, IOMMUFD_CMDS_7_3, IOMMU_TEST_OPS, IOMMU_TEST_OPS_7_3 } from '../uapi/constants.js';
import { UAPI_LAYOUTS } from '../uapi/layout.js';
// Decoded commands reach the simulator through the Backend contract only.
import type { Backend, ViommuAllocRequest } from '../backend/contract.js';
import type { SimKernel } from './kernels.js';

/**
 * What raw decoding drives: the Backend contract, the kernel modelled (whose
 * table decides which commands exist), and VIOMMU_ALLOC's NULL data_uptr with a
 * data_len, which only raw bytes can send.
 */
type RawTarget = Omit<Backend, 'viommuAlloc'> & {
  readonly kernel: SimKernel;
  viommuAlloc(request: ViommuAllocRequest & { nullDataLen?: number }): number;
};

const ULONG_MAX = (1n << 64n) - 1n;

class RawErrno extends IommufdError {}

function fail(code: string, name: string): never {
  throw new RawErrno(errnoNumber(code), name);
}

function notModelled(what: string): never {
  throw new Error(`the simulator does not model a raw ${what}; use the typed API`);
}

// The structs of the commands both kernels have are laid out alike (the
// generated tables agree), so their fields are read by 6.12's offsets; the
// commands 7.3 adds by 7.3's. Which commands exist is the modelled kernel's.
const L = UAPI_LAYOUTS['6.12'];
const L73 = UAPI_LAYOUTS['7.3'];

interface CmdTable {
  /** struct sizes and offsetofend(last) of the commands (iommufd_ioctl_ops[]). */
  ops: Map<number, { size: number; min: number }>;
  /** ARRAY_SIZE(iommufd_ioctl_ops): designated up to the highest command. */
  end: number;
}
const TABLES = new Map<string, CmdTable>(
  Object.entries(UAPI_LAYOUTS).map(([version, layout]) => {
    const ops = new Map<number, { size: number; min: number }>(Object.values(layout.ioctls).map((io) => [io.nr, { size: io.size, min: io.min }]));
    return [version, { ops, end: Math.max(...ops.keys()) + 1 }];
  }),
);

function cmdTable(b: RawTarget): CmdTable {
  const table = TABLES.get(b.kernel);
  if (!table) throw new Error(`no uAPI table for the simulated kernel ${b.kernel}`);
  return table;
}

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
export function simRawIoctl(b: RawTarget, request: number, arg: Uint8Array | number | null, name: string): number {
  const nr = request & 0xff;
  const table = cmdTable(b);
  if (nr >= IOMMUFD_CMDS.IOMMU_DESTROY && nr < table.end) return iommufdCmd(b, table, nr, request, arg, name);
  return vfioIoctl(b, request, arg, name);
}

function iommufdCmd(b: RawTarget, table: CmdTable, nr: number, request: number, arg: Uint8Array | number | null, name: string): number {
  // get_user(ucmd.user_size, ...)
  if (!(arg instanceof Uint8Array)) fail('EFAULT', name);
  const user = new DataView(arg.buffer, arg.byteOffset, arg.byteLength);
  const usize = user.getUint32(0, true);
  const op = table.ops.get(nr);
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

const S = L.structs;
const S73 = L73.structs;
const K73 = L73.constants;

function execute(b: RawTarget, nr: number, cmd: Cmd, respond: () => void, name: string): void {
  switch (nr) {
    case IOMMUFD_CMDS.IOMMU_DESTROY:
      b.destroy(cmd.u32(S.iommu_destroy.offsets.id));
      return;
    case IOMMUFD_CMDS.IOMMU_IOAS_ALLOC: {
      const f = S.iommu_ioas_alloc.offsets;
      if (cmd.u32(f.flags)) fail('EOPNOTSUPP', name);
      cmd.set32(f.out_ioas_id, b.ioasAlloc());
      respond();
      return;
    }
    case IOMMUFD_CMDS.IOMMU_IOAS_ALLOW_IOVAS: {
      const f = S.iommu_ioas_allow_iovas.offsets;
      if (cmd.u32(f.__reserved)) fail('EOPNOTSUPP', name);
      const ioasId = cmd.u32(f.ioas_id);
      b.ioasIovaRanges(ioasId); // the IOAS lookup (ENOENT)
      if (cmd.u32(f.num_iovas)) fail('EFAULT', name); // copying the ranges from NULL
      b.ioasAllowIovas(ioasId, []);
      return;
    }
    case IOMMUFD_CMDS.IOMMU_IOAS_COPY: {
      const f = S.iommu_ioas_copy.offsets;
      cmd.set64(
        f.dst_iova,
        b.ioasCopy(cmd.u32(f.dst_ioas_id), cmd.u32(f.src_ioas_id), cmd.u32(f.flags), cmd.u64(f.dst_iova), cmd.u64(f.src_iova), cmd.u64(f.length)),
      );
      respond();
      return;
    }
    case IOMMUFD_CMDS.IOMMU_IOAS_IOVA_RANGES: {
      const f = S.iommu_ioas_iova_ranges.offsets;
      if (cmd.u32(f.__reserved)) fail('EOPNOTSUPP', name);
      const max = cmd.u32(f.num_iovas);
      const { ranges, alignment } = b.ioasIovaRanges(cmd.u32(f.ioas_id));
      if (max > 0 && ranges.length > 0) fail('EFAULT', name); // the first range written to NULL
      cmd.set32(f.num_iovas, ranges.length);
      cmd.set64(f.out_iova_alignment, alignment);
      respond();
      if (ranges.length > max) fail('EMSGSIZE', name);
      return;
    }
    case IOMMUFD_CMDS.IOMMU_IOAS_MAP: {
      const f = S.iommu_ioas_map.offsets;
      const K = L.constants;
      const flags = cmd.u32(f.flags);
      const known = K.IOMMU_IOAS_MAP_FIXED_IOVA | K.IOMMU_IOAS_MAP_WRITEABLE | K.IOMMU_IOAS_MAP_READABLE;
      if (flags & ~known || cmd.u32(f.__reserved)) fail('EOPNOTSUPP', name);
      const length = cmd.u64(f.length);
      if (cmd.u64(f.iova) >= ULONG_MAX || length >= ULONG_MAX) fail('EOVERFLOW', name);
      if (!(flags & (K.IOMMU_IOAS_MAP_WRITEABLE | K.IOMMU_IOAS_MAP_READABLE))) fail('EINVAL', name);
      b.ioasIovaRanges(cmd.u32(f.ioas_id)); // the IOAS lookup (ENOENT)
      if (length === 0n) fail('EINVAL', name); // iopt_alloc_pages()
      fail('EFAULT', name); // pinning user address 0 (see the note at the top)
    }
    // falls through: unreachable
    case IOMMUFD_CMDS.IOMMU_IOAS_UNMAP: {
      const f = S.iommu_ioas_unmap.offsets;
      cmd.set64(f.length, b.ioasUnmap(cmd.u32(f.ioas_id), cmd.u64(f.iova), cmd.u64(f.length)));
      respond();
      return;
    }
    case IOMMUFD_CMDS.IOMMU_OPTION: {
      const f = S.iommu_option.offsets;
      if (cmd.u16(f.__reserved)) fail('EOPNOTSUPP', name);
      const op = cmd.u16(f.op);
      const val = b.option(cmd.u32(f.option_id), op, cmd.u32(f.object_id), cmd.u64(f.val64));
      if (op !== L.constants.IOMMU_OPTION_OP_GET) return; // GET answers
      cmd.set64(f.val64, val);
      respond();
      return;
    }
    case IOMMUFD_CMDS.IOMMU_VFIO_IOAS: {
      const f = S.iommu_vfio_ioas.offsets;
      if (cmd.u16(f.__reserved)) fail('EOPNOTSUPP', name);
      const op = cmd.u16(f.op);
      const id = b.vfioIoas(op, cmd.u32(f.ioas_id));
      if (op !== L.constants.IOMMU_VFIO_IOAS_GET) return; // GET answers
      cmd.set32(f.ioas_id, id);
      respond();
      return;
    }
    case IOMMUFD_CMDS.IOMMU_HWPT_ALLOC: {
      const f = S.iommu_hwpt_alloc.offsets;
      if (cmd.u32(f.__reserved) || cmd.u32(f.__reserved2)) fail('EOPNOTSUPP', name);
      const dataLen = cmd.u32(f.data_len);
      const id = b.hwptAlloc({
        flags: cmd.u32(f.flags),
        devId: cmd.u32(f.dev_id),
        ptId: cmd.u32(f.pt_id),
        dataType: cmd.u32(f.data_type),
        data: null,
        nullDataLen: dataLen,
        faultId: cmd.u32(f.fault_id),
      });
      cmd.set32(f.out_hwpt_id, id);
      respond();
      return;
    }
    case IOMMUFD_CMDS.IOMMU_GET_HW_INFO: {
      const f = S.iommu_hw_info.offsets;
      // Flags (7.3's INPUT_TYPE, in_data_type where out_data_type is) are getHwInfo()'s to judge.
      for (let i = f.__reserved; i < f.out_capabilities; i++) if (cmd.bytes[i]) fail('EOPNOTSUPP', name);
      const info = b.getHwInfo(cmd.u32(f.dev_id), new Uint8Array(0), cmd.u32(f.flags), cmd.u32(f.out_data_type));
      if (cmd.u32(f.data_len)) fail('EFAULT', name); // the driver data copied to NULL
      cmd.set32(f.data_len, info.dataLen);
      cmd.set32(f.out_data_type, info.dataType);
      cmd.bytes[f.out_max_pasid_log2] = info.maxPasidLog2;
      cmd.set64(f.out_capabilities, info.capabilities);
      respond();
      return;
    }
    case IOMMUFD_CMDS.IOMMU_HWPT_SET_DIRTY_TRACKING: {
      const f = S.iommu_hwpt_set_dirty_tracking.offsets;
      const enable = L.constants.IOMMU_HWPT_DIRTY_TRACKING_ENABLE;
      const flags = cmd.u32(f.flags);
      if (flags & ~enable || cmd.u32(f.__reserved)) fail('EOPNOTSUPP', name);
      b.hwptSetDirtyTracking(cmd.u32(f.hwpt_id), (flags & enable) !== 0);
      return;
    }
    case IOMMUFD_CMDS.IOMMU_HWPT_GET_DIRTY_BITMAP: {
      const f = S.iommu_hwpt_get_dirty_bitmap.offsets;
      if (cmd.u32(f.flags) & ~L.constants.IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR || cmd.u32(f.__reserved)) fail('EOPNOTSUPP', name);
      notModelled('IOMMU_HWPT_GET_DIRTY_BITMAP into a NULL bitmap');
    }
    // falls through: unreachable
    case IOMMUFD_CMDS.IOMMU_HWPT_INVALIDATE: {
      const f = S.iommu_hwpt_invalidate.offsets;
      let handled = 0;
      try {
        if (cmd.u32(f.__reserved)) fail('EOPNOTSUPP', name);
        // data_uptr is NULL: any entries are EINVAL before the HWPT lookup.
        handled = b.hwptInvalidate(cmd.u32(f.hwpt_id), cmd.u32(f.data_type), cmd.u32(f.entry_len), null, cmd.u32(f.entry_num));
      } catch (e) {
        handled = (e as { handled?: number }).handled ?? 0;
        cmd.set32(f.entry_num, handled);
        respond();
        throw e;
      }
      cmd.set32(f.entry_num, handled);
      respond();
      return;
    }
    case IOMMUFD_CMDS.IOMMU_FAULT_QUEUE_ALLOC: {
      const f = S.iommu_fault_alloc.offsets;
      if (cmd.u32(f.flags)) fail('EOPNOTSUPP', name);
      const { faultId, faultFd } = b.faultQueueAlloc();
      cmd.set32(f.out_fault_id, faultId);
      cmd.set32(f.out_fault_fd, faultFd);
      respond();
      return;
    }
    case IOMMUFD_CMDS.IOMMU_TEST_CMD:
      testCmd(b, cmd, respond, name);
      return;
  }
  execute73(b, nr, cmd, respond, name);
}

/** The commands 7.3 adds (reached only when the modelled kernel's table has them). */
function execute73(b: RawTarget, nr: number, cmd: Cmd, respond: () => void, name: string): void {
  switch (nr) {
    case IOMMUFD_CMDS_7_3.IOMMU_IOAS_MAP_FILE: {
      // iommufd_ioas_map_file(): the fd is the process's (or a mock dma-buf's).
      const f = S73.iommu_ioas_map_file.offsets;
      const file = { fd: cmd.u32(f.fd) | 0, bytes: null };
      const iova = b.ioasMapFile(cmd.u32(f.ioas_id), cmd.u32(f.flags), file, cmd.u64(f.start), cmd.u64(f.length), cmd.u64(f.iova));
      cmd.set64(f.iova, iova);
      respond();
      return;
    }
    case IOMMUFD_CMDS_7_3.IOMMU_IOAS_CHANGE_PROCESS: {
      if (cmd.u32(S73.iommu_ioas_change_process.offsets.__reserved)) fail('EOPNOTSUPP', name);
      b.ioasChangeProcess();
      return;
    }
    case IOMMUFD_CMDS_7_3.IOMMU_IOAS_NOIOMMU_GET_PA: {
      // The test kernel has CONFIG_IOMMUFD_NOIOMMU (VFIO_NOIOMMU selects it).
      const f = S73.iommu_ioas_noiommu_get_pa.offsets;
      const pa = b.ioasNoiommuGetPa(cmd.u32(f.ioas_id), cmd.u32(f.flags), cmd.u64(f.iova), cmd.u64(f.length), cmd.u32(f.__reserved));
      cmd.set64(f.length, pa.length);
      cmd.set64(f.out_phys, pa.phys);
      respond();
      return;
    }
    case IOMMUFD_CMDS_7_3.IOMMU_VIOMMU_ALLOC: {
      const f = S73.iommu_viommu_alloc.offsets;
      // data_uptr is NULL: a data_len the driver copies from faults there.
      const id = b.viommuAlloc({
        flags: cmd.u32(f.flags),
        type: cmd.u32(f.type),
        devId: cmd.u32(f.dev_id),
        hwptId: cmd.u32(f.hwpt_id),
        data: null,
        nullDataLen: cmd.u32(f.data_len),
      });
      cmd.set32(f.out_viommu_id, id);
      respond();
      return;
    }
    case IOMMUFD_CMDS_7_3.IOMMU_VDEVICE_ALLOC: {
      const f = S73.iommu_vdevice_alloc.offsets;
      cmd.set32(f.out_vdevice_id, b.vdeviceAlloc(cmd.u32(f.viommu_id), cmd.u32(f.dev_id), cmd.u64(f.virt_id)));
      respond();
      return;
    }
    case IOMMUFD_CMDS_7_3.IOMMU_VEVENTQ_ALLOC: {
      const f = S73.iommu_veventq_alloc.offsets;
      // iommufd_veventq_alloc() refuses flags, __reserved and the default type together.
      if (cmd.u32(f.__reserved)) fail('EOPNOTSUPP', name);
      const { veventqId, veventqFd } = b.veventqAlloc(cmd.u32(f.flags), cmd.u32(f.viommu_id), cmd.u32(f.type), cmd.u32(f.veventq_depth));
      cmd.set32(f.out_veventq_id, veventqId);
      cmd.set32(f.out_veventq_fd, veventqFd);
      respond();
      return;
    }
    case IOMMUFD_CMDS_7_3.IOMMU_HW_QUEUE_ALLOC: {
      const f = S73.iommu_hw_queue_alloc.offsets;
      const id = b.hwQueueAlloc({
        flags: cmd.u32(f.flags),
        viommuId: cmd.u32(f.viommu_id),
        type: cmd.u32(f.type),
        index: cmd.u32(f.index),
        nestingParentIova: cmd.u64(f.nesting_parent_iova),
        length: cmd.u64(f.length),
      });
      cmd.set32(f.out_hw_queue_id, id);
      respond();
      return;
    }
  }
  throw new Error(`the simulator's raw decoding lacks command nr 0x${nr.toString(16)} of its kernel's table`);
}

/** iommufd_test() for the ops without user pointers or fds. */
function testCmd(b: RawTarget, cmd: Cmd, respond: () => void, name: string): void {
  const t = S.iommu_test_cmd.offsets;
  const op = cmd.u32(t.op);
  const id = cmd.u32(t.id);
  switch (op) {
    case IOMMU_TEST_OPS.ADD_RESERVED:
      b.addReserved(id, cmd.u64(t['add_reserved.start']), cmd.u64(t['add_reserved.length']));
      return;
    case IOMMU_TEST_OPS.MOCK_DOMAIN:
    case IOMMU_TEST_OPS.MOCK_DOMAIN_FLAGS: {
      const ids = b.mockDomain(id, op === IOMMU_TEST_OPS.MOCK_DOMAIN_FLAGS ? cmd.u32(t['mock_domain_flags.dev_flags']) : undefined);
      cmd.set32(t['mock_domain.out_stdev_id'], ids.stdevId);
      cmd.set32(t['mock_domain.out_hwpt_id'], ids.hwptId);
      cmd.set32(t['mock_domain.out_idev_id'], ids.idevId);
      respond();
      return;
    }
    case IOMMU_TEST_OPS.MOCK_DOMAIN_REPLACE:
      cmd.set32(t['mock_domain_replace.pt_id'], b.mockDomainReplace(id, cmd.u32(t['mock_domain_replace.pt_id'])));
      respond();
      return;
    case IOMMU_TEST_OPS.SET_TEMP_MEMORY_LIMIT:
      b.setTempMemoryLimit(cmd.u32(t['memory_limit.limit']));
      return;
    case IOMMU_TEST_OPS.MD_CHECK_IOTLB:
      b.mdCheckIotlb(id, cmd.u32(t['check_iotlb.id']), cmd.u32(t['check_iotlb.iotlb']));
      return;
    case IOMMU_TEST_OPS.TRIGGER_IOPF:
      b.triggerIopf(
        cmd.u32(t['trigger_iopf.dev_id']),
        cmd.u32(t['trigger_iopf.pasid']),
        cmd.u32(t['trigger_iopf.grpid']),
        cmd.u32(t['trigger_iopf.perm']),
        cmd.u64(t['trigger_iopf.addr']),
      );
      return;
  }
  if (b.kernel !== '6.12') {
    const t73 = S73.iommu_test_cmd.offsets;
    switch (op) {
      case IOMMU_TEST_OPS_7_3.DEV_CHECK_CACHE:
        b.devCheckCache(id, cmd.u32(t73['check_dev_cache.id']), cmd.u32(t73['check_dev_cache.cache']));
        return;
      case IOMMU_TEST_OPS_7_3.TRIGGER_VEVENT:
        b.triggerVevent(cmd.u32(t73['trigger_vevent.dev_id']));
        return;
      case IOMMU_TEST_OPS_7_3.PASID_ATTACH:
      case IOMMU_TEST_OPS_7_3.PASID_REPLACE: {
        // Both read and answer pasid_attach's fields (pasid_replace's are the same bytes).
        const pasid = cmd.u32(t73['pasid_attach.pasid']);
        const ptId = cmd.u32(t73['pasid_attach.pt_id']);
        const attached = op === IOMMU_TEST_OPS_7_3.PASID_ATTACH ? b.pasidAttach(id, pasid, ptId) : b.pasidReplace(id, pasid, ptId);
        cmd.set32(t73['pasid_attach.pt_id'], attached);
        respond();
        return;
      }
      case IOMMU_TEST_OPS_7_3.PASID_DETACH:
        b.pasidDetach(id, cmd.u32(t73['pasid_detach.pasid']));
        return;
      case IOMMU_TEST_OPS_7_3.PASID_CHECK_HWPT:
        b.pasidCheckHwpt(id, cmd.u32(t73['pasid_check.pasid']), cmd.u32(t73['pasid_check.hwpt_id']));
        return;
      case IOMMU_TEST_OPS_7_3.DMABUF_REVOKE:
        b.dmabufRevoke(cmd.u32(t73['dmabuf_revoke.dmabuf_fd']) | 0, cmd.u32(t73['dmabuf_revoke.revoked']) !== 0);
        return;
    }
    if (Object.values(IOMMU_TEST_OPS_7_3).includes(op as never)) notModelled(`IOMMU_TEST_CMD op ${op}`);
  }
  if (Object.values(IOMMU_TEST_OPS).includes(op as never)) notModelled(`IOMMU_TEST_CMD op ${op}`);
  fail('EOPNOTSUPP', name);
}

// ---- iommufd_vfio_ioctl() ---------------------------------------------------

const V = L.vfioIoctls;

function vfioIoctl(b: RawTarget, request: number, arg: Uint8Array | number | null, name: string): number {
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
      const f = S.vfio_iommu_type1_dma_map.offsets;
      const rw = L.constants.VFIO_DMA_MAP_FLAG_READ | L.constants.VFIO_DMA_MAP_FLAG_WRITE;
      if (view.getUint32(f.argsz, true) < V.VFIO_IOMMU_MAP_DMA.minsz || view.getUint32(f.flags, true) & ~rw) fail('EINVAL', name);
      compatIoas(b, name);
      if (view.getBigUint64(f.size, true) === 0n) fail('EINVAL', name); // iopt_alloc_pages()
      fail('EFAULT', name); // pinning user address 0 (see the note at the top)
    }
    // falls through: unreachable
    case VFIO_REQUESTS.VFIO_IOMMU_UNMAP_DMA: {
      if (!view) fail('EFAULT', name);
      const f = S.vfio_iommu_type1_dma_unmap.offsets;
      const all = L.constants.VFIO_DMA_UNMAP_FLAG_ALL;
      const flags = view.getUint32(f.flags, true);
      if (view.getUint32(f.argsz, true) < V.VFIO_IOMMU_UNMAP_DMA.minsz || flags & ~all) fail('EINVAL', name);
      compatIoas(b, name);
      const iova = view.getBigUint64(f.iova, true);
      const size = view.getBigUint64(f.size, true);
      if (flags & all && (iova !== 0n || size !== 0n)) fail('EINVAL', name);
      let unmapped = 0n;
      try {
        unmapped = b.vfioUnmapDma(flags, iova, size);
      } finally {
        // The size unmapped is written back whether or not the unmap succeeded.
        view.setBigUint64(f.size, unmapped, true);
      }
      return 0;
    }
  }
  fail('ENOTTY', name);
}

/** get_compat_ioas(): ENODEV without one (VFIO_DMA_CC_IOMMU asks it and changes nothing). */
function compatIoas(b: RawTarget, name: string): void {
  try {
    b.vfioCheckExtension(L.constants.VFIO_DMA_CC_IOMMU);
  } catch (e) {
    if (e instanceof IommufdError) throw new RawErrno(e.errno, name);
    throw e;
  }
}

/** iommufd_vfio_iommu_get_info() writing into the caller's argsz bytes. */
function getInfo(b: RawTarget, bytes: Uint8Array, view: DataView, name: string): void {
  const I = S.vfio_iommu_type1_info;
  const H = S.vfio_info_cap_header.offsets;
  const avail = S.vfio_iommu_type1_info_dma_avail;
  const cap = S.vfio_iommu_type1_info_cap_iova_range;
  const range = S.vfio_iova_range;
  const argsz = view.getUint32(I.offsets.argsz, true);
  if (argsz < V.VFIO_IOMMU_GET_INFO.minsz) fail('EINVAL', name);
  const minsz = Math.min(argsz, I.size);
  let info;
  try {
    info = b.vfioIommuGetInfo();
  } catch (e) {
    if (e instanceof IommufdError) throw new RawErrno(e.errno, name);
    throw e;
  }
  const ranges = info.iovaRanges ?? [];
  const header = (at: number, id: number) => {
    view.setUint16(at + H.id, id, true);
    view.setUint16(at + H.version, 1, true);
    view.setUint32(at + H.next, 0, true);
  };
  // The capabilities in the driver's order, each written only if it fits.
  const fills: ((at: number, room: number) => number)[] = [
    (at, room) => {
      // VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL { header, u32 avail = U32_MAX }
      if (room >= avail.size) {
        header(at, L.constants.VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL);
        view.setUint32(at + avail.offsets.avail, 0xffffffff, true);
      }
      return avail.size;
    },
    (at, room) => {
      // VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE { header, nr_iovas, reserved, ranges[] }
      const first = cap.offsets.iova_ranges;
      ranges.forEach((r, i) => {
        if (room >= first + range.size * (i + 1)) {
          view.setBigUint64(at + first + range.size * i + range.offsets.start, r.start, true);
          view.setBigUint64(at + first + range.size * i + range.offsets.end, r.last, true);
        }
      });
      if (room >= first + range.size * ranges.length) {
        header(at, L.constants.VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE);
        view.setUint32(at + cap.offsets.nr_iovas, ranges.length, true);
        view.setUint32(at + cap.offsets.reserved, 0, true);
      }
      return first + range.size * ranges.length;
    },
  ];
  let total = I.size;
  let lastCap = -1;
  for (const fill of fills) {
    const capSize = argsz > total ? fill(total, argsz - total) : fill(-1, 0);
    if (lastCap >= 0 && argsz >= total) view.setUint32(lastCap + H.next, total, true);
    lastCap = total;
    total += Math.ceil(capSize / 8) * 8;
  }
  const out = new Cmd(I.size);
  out.set32(I.offsets.argsz, total);
  out.set32(I.offsets.flags, info.flags);
  out.set64(I.offsets.iova_pgsizes, info.iovaPgsizes);
  out.set32(I.offsets.cap_offset, argsz >= total ? I.size : 0);
  bytes.set(out.bytes.subarray(0, minsz));
}
