// fd.rawIoctl() of the commands 7.3 adds, on both backends: the running kernel's
// uAPI table decides which commands rawIoctl knows (lib/api/raw-ioctl.ts, again in
// native/raw.cc). On 6.12 they are unknown (ENOTTY from the kernel; non-zero
// bytes refused before it); on 7.3 they are decoded with the driver's rules
// (main.c's size checks, then each handler's own), their pointer fields must
// be 0 and their answers are written back.
import { closeSync } from 'node:fs';
import { beforeEach, describe, expect, test } from 'vitest';
import {
  IOMMUFD_CMDS,
  IOMMUFD_CMDS_7_3,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_TEST_OPS,
  IOMMU_TEST_OPS_7_3,
  IOMMU_VEVENTQ_TYPE_SELFTEST,
  IOMMU_VIOMMU_TYPE_SELFTEST,
  MemFile,
  iommufdIoctl,
  ioctlRequest,
} from '../../lib/index.js';
import { addon } from '../../lib/native/binding.js';
import { UAPI_LAYOUTS } from '../../lib/uapi/layout.js';
import { BACKEND, kernelVersion, requires } from '../backend.js';
import { expectErrno } from '../helpers.js';
import { Cmd } from '../selftest/raw-cmd.js';
import { scenarioFixture } from './fixture.js';

const S = UAPI_LAYOUTS['7.3'].structs;
const PAGE_SIZE = 4096;
const PASID_ATTACH_ERRNO = 'EINVAL';

/** A command of `size` bytes (the u32 size at 0 says so) in a buffer of `length`. */
function cmd(size: number, length = size): Cmd {
  const c = new Cmd(length);
  c.u32(0, size);
  return c;
}

const self = scenarioFixture({ ioas: false });

// Each block is registered only for its kernel (no skips to explain in CI).
const ON_6_12 = kernelVersion() === '6.12';

if (ON_6_12) describe('on 6.12', () => {

  test('every command 7.3 adds is ENOTTY, its bytes after size must be zero', () => {
    for (const [name, nr] of Object.entries(IOMMUFD_CMDS_7_3)) {
      expectErrno('ENOTTY', () => self.fd.rawIoctl(iommufdIoctl(nr), cmd(64).bytes), name);
      const c = cmd(64);
      c.u32(8, 1);
      expect(() => self.fd.rawIoctl(iommufdIoctl(nr), c.bytes)).toThrow(TypeError);
    }
  });

  test('the test ops 7.3 adds are EOPNOTSUPP', () => {
    for (const op of Object.values(IOMMU_TEST_OPS_7_3)) {
      const c = cmd(72);
      c.u32(4, op);
      expectErrno('EOPNOTSUPP', () => self.fd.rawIoctl(iommufdIoctl(IOMMUFD_CMDS.IOMMU_TEST_CMD), c.bytes), 'IOMMU_TEST_CMD');
    }
  });
});

if (!ON_6_12) describe('on 7.3', () => {
  beforeEach((ctx) => {
    requires(ctx, 'IOMMU_IOAS_MAP_FILE', 'IOMMU_IOAS_CHANGE_PROCESS', 'IOMMU_VIOMMU_ALLOC', 'IOMMU_VDEVICE_ALLOC', 'IOMMU_VEVENTQ_ALLOC', 'IOMMU_HW_QUEUE_ALLOC');
  });

  test('main.c framing: short is EINVAL, non-zero bytes past the struct E2BIG, zero ones ignored', () => {
    for (const [name, nr] of Object.entries(IOMMUFD_CMDS_7_3)) {
      const io = UAPI_LAYOUTS['7.3'].ioctls[name as keyof typeof IOMMUFD_CMDS_7_3];
      const request = iommufdIoctl(nr);
      expectErrno('EINVAL', () => self.fd.rawIoctl(request, cmd(io.min - 1, io.size + 8).bytes), name);
      const long = cmd(io.size + 8);
      long.bytes[io.size + 3] = 1;
      expectErrno('E2BIG', () => self.fd.rawIoctl(request, long.bytes), name);
    }
    // NULL: get_user() of the size faults first.
    expectErrno('EFAULT', () => self.fd.rawIoctl(ioctlRequest('IOMMU_VIOMMU_ALLOC'), null), 'IOMMU_VIOMMU_ALLOC');
  });

  test('pointer fields must be 0; descriptors and IOVAs are not pointers', () => {
    const f = S.iommu_viommu_alloc.offsets;
    const viommu = cmd(S.iommu_viommu_alloc.size);
    viommu.u64(f.data_uptr, 0x1000n);
    expect(() => self.fd.rawIoctl(ioctlRequest('IOMMU_VIOMMU_ALLOC'), viommu.bytes)).toThrow(TypeError);
    // A data_uptr past `size` is not read by the kernel: the bytes pass, and the
    // kernel answers for the zero-extended struct (type 0 is the default: EOPNOTSUPP).
    viommu.u32(0, f.data_uptr);
    expectErrno('EOPNOTSUPP', () => self.fd.rawIoctl(ioctlRequest('IOMMU_VIOMMU_ALLOC'), viommu.bytes), 'IOMMU_VIOMMU_ALLOC');
    // A hostile test op of 7.3 with data where it has none is refused too.
    const unknownOp = cmd(72);
    unknownOp.u32(4, 0x7fff);
    unknownOp.u32(16, 1);
    expect(() => self.fd.rawIoctl(iommufdIoctl(IOMMUFD_CMDS.IOMMU_TEST_CMD), unknownOp.bytes)).toThrow(TypeError);
    // An unknown number with data is refused; with zero data the kernel says ENOTTY.
    const unknown = cmd(16);
    unknown.u32(8, 1);
    expect(() => self.fd.rawIoctl(iommufdIoctl(0x9f), unknown.bytes)).toThrow(TypeError);
    expectErrno('ENOTTY', () => self.fd.rawIoctl(iommufdIoctl(0x9f), cmd(16).bytes));
  });

  test('IOAS_MAP_FILE, IOAS_UNMAP and IOAS_CHANGE_PROCESS of a memfd, raw', () => {
    using file = MemFile.create(4 * PAGE_SIZE);
    if (file.fd === null) throw new Error('a memfd is needed');
    const alloc = cmd(12);
    self.fd.rawIoctl(ioctlRequest('IOMMU_IOAS_ALLOC'), alloc.bytes);
    const ioasId = alloc.u32(8);
    const f = S.iommu_ioas_map_file.offsets;
    const map = cmd(S.iommu_ioas_map_file.size);
    map.u32(f.flags, IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE);
    map.u32(f.ioas_id, ioasId);
    map.u32(f.fd, file.fd);
    map.u64(f.start, BigInt(PAGE_SIZE));
    map.u64(f.length, BigInt(2 * PAGE_SIZE));
    expect(self.fd.rawIoctl(ioctlRequest('IOMMU_IOAS_MAP_FILE'), map.bytes)).toBe(0);
    const iova = map.u64(f.iova);
    expect(iova % BigInt(PAGE_SIZE)).toBe(0n);
    // Only file mappings: the move succeeds; a reserved bit is EOPNOTSUPP.
    const change = cmd(S.iommu_ioas_change_process.size);
    expect(self.fd.rawIoctl(ioctlRequest('IOMMU_IOAS_CHANGE_PROCESS'), change.bytes)).toBe(0);
    change.u32(S.iommu_ioas_change_process.offsets.__reserved, 1);
    expectErrno('EOPNOTSUPP', () => self.fd.rawIoctl(ioctlRequest('IOMMU_IOAS_CHANGE_PROCESS'), change.bytes));
    // The same file again at a fixed IOVA taken already: EEXIST.
    map.u32(f.flags, IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_FIXED_IOVA);
    expectErrno('EEXIST', () => self.fd.rawIoctl(ioctlRequest('IOMMU_IOAS_MAP_FILE'), map.bytes), 'IOMMU_IOAS_MAP_FILE');
    // A descriptor that is no file: EBADF.
    map.u32(f.flags, IOMMU_IOAS_MAP_READABLE);
    map.u32(f.fd, 0x7fff_fff0);
    expectErrno('EBADF', () => self.fd.rawIoctl(ioctlRequest('IOMMU_IOAS_MAP_FILE'), map.bytes), 'IOMMU_IOAS_MAP_FILE');
    const unmap = cmd(24);
    unmap.u32(4, ioasId);
    unmap.u64(8, iova);
    unmap.u64(16, BigInt(2 * PAGE_SIZE));
    expect(self.fd.rawIoctl(ioctlRequest('IOMMU_IOAS_UNMAP'), unmap.bytes)).toBe(0);
    expect(unmap.u64(16)).toBe(BigInt(2 * PAGE_SIZE));
    const destroy = cmd(8);
    destroy.u32(4, ioasId);
    expect(self.fd.rawIoctl(ioctlRequest('IOMMU_DESTROY'), destroy.bytes)).toBe(0);
  });

  test('VIOMMU_ALLOC, VDEVICE_ALLOC, VEVENTQ_ALLOC and HW_QUEUE_ALLOC, raw', () => {
    const ioas = self.fd.allocIoas();
    const dev = self.fd.mockDomain(ioas);
    const parent = self.fd.allocHwpt(dev, ioas, { nestParent: true });
    const v = S.iommu_viommu_alloc.offsets;
    const viommu = cmd(S.iommu_viommu_alloc.size);
    viommu.u32(v.type, IOMMU_VIOMMU_TYPE_SELFTEST);
    viommu.u32(v.dev_id, dev.idevId);
    viommu.u32(v.hwpt_id, parent.id);
    // Driver data from NULL: a length the mock refuses is EINVAL, one it copies faults.
    viommu.u32(v.data_len, 2);
    expectErrno('EINVAL', () => self.fd.rawIoctl(ioctlRequest('IOMMU_VIOMMU_ALLOC'), viommu.bytes), 'IOMMU_VIOMMU_ALLOC');
    viommu.u32(v.data_len, S.iommu_viommu_selftest.size);
    expectErrno('EFAULT', () => self.fd.rawIoctl(ioctlRequest('IOMMU_VIOMMU_ALLOC'), viommu.bytes), 'IOMMU_VIOMMU_ALLOC');
    viommu.u32(v.data_len, 0);
    viommu.u32(v.hwpt_id, ioas.id);
    expectErrno('ENOENT', () => self.fd.rawIoctl(ioctlRequest('IOMMU_VIOMMU_ALLOC'), viommu.bytes), 'IOMMU_VIOMMU_ALLOC');
    viommu.u32(v.hwpt_id, parent.id);
    expect(self.fd.rawIoctl(ioctlRequest('IOMMU_VIOMMU_ALLOC'), viommu.bytes)).toBe(0);
    const viommuId = viommu.u32(v.out_viommu_id);
    expect(viommuId).toBeGreaterThan(0);

    const d = S.iommu_vdevice_alloc.offsets;
    const vdev = cmd(S.iommu_vdevice_alloc.size);
    vdev.u32(d.viommu_id, viommuId);
    vdev.u32(d.dev_id, dev.idevId);
    vdev.u64(d.virt_id, 1n << 32n);
    expect(self.fd.rawIoctl(ioctlRequest('IOMMU_VDEVICE_ALLOC'), vdev.bytes)).toBe(0);
    const vdevId = vdev.u32(d.out_vdevice_id);
    expect(vdevId).toBeGreaterThan(0);
    expectErrno('EEXIST', () => self.fd.rawIoctl(ioctlRequest('IOMMU_VDEVICE_ALLOC'), vdev.bytes), 'IOMMU_VDEVICE_ALLOC');

    // A raw TRIGGER_VEVENT of the device (it has its vDEVICE now), and of no device.
    const trigger = cmd(72);
    trigger.u32(4, IOMMU_TEST_OPS_7_3.TRIGGER_VEVENT);
    trigger.u32(S.iommu_test_cmd.offsets['trigger_vevent.dev_id'], 0);
    expectErrno('ENOENT', () => self.fd.rawIoctl(iommufdIoctl(IOMMUFD_CMDS.IOMMU_TEST_CMD), trigger.bytes));

    const q = S.iommu_veventq_alloc.offsets;
    const veventq = cmd(S.iommu_veventq_alloc.size);
    veventq.u32(q.viommu_id, viommuId);
    veventq.u32(q.type, IOMMU_VEVENTQ_TYPE_SELFTEST);
    expectErrno('EINVAL', () => self.fd.rawIoctl(ioctlRequest('IOMMU_VEVENTQ_ALLOC'), veventq.bytes), 'IOMMU_VEVENTQ_ALLOC'); // depth 0
    veventq.u32(q.veventq_depth, 2);
    veventq.u32(q.__reserved, 1);
    expectErrno('EOPNOTSUPP', () => self.fd.rawIoctl(ioctlRequest('IOMMU_VEVENTQ_ALLOC'), veventq.bytes), 'IOMMU_VEVENTQ_ALLOC');
    veventq.u32(q.__reserved, 0);
    const made = [vdevId, viommuId];
    if (BACKEND === 'native') {
      // The kernel installs a descriptor the caller owns; the simulator's are its own numbers.
      expect(self.fd.rawIoctl(ioctlRequest('IOMMU_VEVENTQ_ALLOC'), veventq.bytes)).toBe(0);
      const veventqId = veventq.u32(q.out_veventq_id);
      expect(veventqId).toBeGreaterThan(0);
      expectErrno('EEXIST', () => self.fd.rawIoctl(ioctlRequest('IOMMU_VEVENTQ_ALLOC'), veventq.bytes), 'IOMMU_VEVENTQ_ALLOC');
      closeSync(veventq.u32(q.out_veventq_fd));
      made.unshift(veventqId);
    }

    const h = S.iommu_hw_queue_alloc.offsets;
    const queue = cmd(S.iommu_hw_queue_alloc.size);
    queue.u32(h.viommu_id, viommuId);
    queue.u32(h.type, 1);
    expectErrno('EINVAL', () => self.fd.rawIoctl(ioctlRequest('IOMMU_HW_QUEUE_ALLOC'), queue.bytes), 'IOMMU_HW_QUEUE_ALLOC'); // length 0
    queue.u64(h.nesting_parent_iova, 1n << 63n);
    queue.u64(h.length, (1n << 63n) + 1n);
    expectErrno('EOVERFLOW', () => self.fd.rawIoctl(ioctlRequest('IOMMU_HW_QUEUE_ALLOC'), queue.bytes), 'IOMMU_HW_QUEUE_ALLOC');
    queue.u32(h.flags, 1);
    expectErrno('EOPNOTSUPP', () => self.fd.rawIoctl(ioctlRequest('IOMMU_HW_QUEUE_ALLOC'), queue.bytes), 'IOMMU_HW_QUEUE_ALLOC');

    // Raw destroys, newest first.
    for (const id of made) {
      const destroy = cmd(8);
      destroy.u32(4, id);
      expect(self.fd.rawIoctl(ioctlRequest('IOMMU_DESTROY'), destroy.bytes)).toBe(0);
    }
  });

  test('IOAS_NOIOMMU_GET_PA, raw: flags, length, then the IOAS and the IOVA, in the driver order', (ctx) => {
    requires(ctx, 'IOMMU_IOAS_NOIOMMU_GET_PA');
    const f = S.iommu_ioas_noiommu_get_pa.offsets;
    const getPa = () => self.fd.rawIoctl(ioctlRequest('IOMMU_IOAS_NOIOMMU_GET_PA'), c.bytes);
    const c = cmd(S.iommu_ioas_noiommu_get_pa.size);
    c.u32(f.flags, 1);
    expectErrno('EOPNOTSUPP', getPa, 'IOMMU_IOAS_NOIOMMU_GET_PA');
    c.u32(f.flags, 0);
    expectErrno('EINVAL', getPa, 'IOMMU_IOAS_NOIOMMU_GET_PA'); // length 0
    c.u64(f.length, BigInt(PAGE_SIZE));
    expectErrno('ENOENT', getPa, 'IOMMU_IOAS_NOIOMMU_GET_PA'); // no object 0
    const ioas = self.fd.allocIoas();
    c.u32(f.ioas_id, ioas.id);
    expectErrno('ENOENT', getPa, 'IOMMU_IOAS_NOIOMMU_GET_PA'); // nothing mapped at IOVA 0
    ioas.destroy();
  });

  test('the PASID test ops, raw', (ctx) => {
    requires(ctx, 'PASID_ATTACH', 'PASID_REPLACE', 'PASID_DETACH', 'PASID_CHECK_HWPT');
    const t = S.iommu_test_cmd.offsets;
    const ioas = self.fd.allocIoas();
    const dev = self.fd.mockDomain(ioas);
    const test = (op: number, fill: (c: Cmd) => void) => {
      const c = cmd(72);
      c.u32(4, op);
      c.u32(8, dev.stdevId);
      fill(c);
      return c;
    };
    // The mock device was made without MOCK_FLAGS_DEVICE_PASID: a PASID attach is refused.
    const attach = test(IOMMU_TEST_OPS_7_3.PASID_ATTACH, (c) => {
      c.u32(t['pasid_attach.pasid'], 1);
      c.u32(t['pasid_attach.pt_id'], ioas.id);
    });
    expectErrno(PASID_ATTACH_ERRNO, () => self.fd.rawIoctl(iommufdIoctl(IOMMUFD_CMDS.IOMMU_TEST_CMD), attach.bytes));
    // Nothing attached at PASID 1: checking for no HWPT passes.
    const check = test(IOMMU_TEST_OPS_7_3.PASID_CHECK_HWPT, (c) => c.u32(t['pasid_check.pasid'], 1));
    expect(self.fd.rawIoctl(iommufdIoctl(IOMMUFD_CMDS.IOMMU_TEST_CMD), check.bytes)).toBe(0);
    // A raw op of 6.12 still works on 7.3.
    const limit = test(IOMMU_TEST_OPS.SET_TEMP_MEMORY_LIMIT, (c) => c.u32(t['memory_limit.limit'], 4));
    expectErrno('EINVAL', () => self.fd.rawIoctl(iommufdIoctl(IOMMUFD_CMDS.IOMMU_TEST_CMD), limit.bytes));
  });

  if (BACKEND === 'native') test('the addon checks 7.3 pointer fields itself (without the TypeScript check)', () => {
    const v = S.iommu_viommu_alloc.offsets;
    const viommu = cmd(S.iommu_viommu_alloc.size);
    viommu.u64(v.data_uptr, 0x1000n);
    expect(() => addon().rawIoctl(self.fd.fileDescriptor, ioctlRequest('IOMMU_VIOMMU_ALLOC'), viommu.bytes, 'raw')).toThrow(TypeError);
    const map = cmd(S.iommu_ioas_map_file.size);
    map.u32(S.iommu_ioas_map_file.offsets.fd, 3);
    // Known to the addon on 7.3: a descriptor is no pointer, the kernel answers (no R/W flag).
    expect(() => addon().rawIoctl(self.fd.fileDescriptor, ioctlRequest('IOMMU_IOAS_MAP_FILE'), map.bytes, 'raw')).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
    expect(() => addon().rawIoctl(self.fd.fileDescriptor, ioctlRequest('IOMMU_VIOMMU_ALLOC'), new Uint8Array(3), 'raw')).toThrow(RangeError);
    expect(() => addon().rawIoctl(self.fd.fileDescriptor, ioctlRequest('IOMMU_VIOMMU_ALLOC'), cmd(41, 40).bytes, 'raw')).toThrow(RangeError);
    expect(addon().uapiVersion()).toBe('7.3');
  });
});
