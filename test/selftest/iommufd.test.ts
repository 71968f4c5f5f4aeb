// FIXTURE(iommufd) of tools/testing/selftests/iommu/iommufd.c: a bare fd, and the
// ioctl framing itself (struct size rules, unknown numbers, NULL) plus the VFIO
// compat ioctls before any IOAS exists. Malformed commands go through
// fd.rawIoctl(), which sends caller-built bytes (never user pointers).
import { expect } from 'vitest';
import {
  IOMMUFD_CMDS,
  IOMMUFD_CMDS_7_3,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  IOMMU_OPTION_RLIMIT_MODE,
  IOMMU_VFIO_IOAS_CLEAR,
  IOMMU_VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET,
  MOCK_APERTURE_START,
  VFIO_API_VERSION,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  IommufdError,
  type Iommufd,
  iommufdIoctl,
  ioctlRequest,
} from '../../lib/index.js';
import { UAPI_LAYOUTS, type UapiVersion } from '../../lib/uapi/layout.js';
import { kernelVersion, openIommufd } from '../backend.js';
import { expectErrno } from '../helpers.js';
import { PAGE_SIZE, fixture, teardownIommufd } from './harness.js';
import { Cmd } from './raw-cmd.js';

const iommufd = fixture<{ fd: Iommufd }, object>(
  'iommufd',
  { '': {} },
  () => ({ fd: openIommufd() }),
  (self) => teardownIommufd(self.fd),
);

iommufd.test('simple_close', () => {
  // Only the fixture: open, then close and check nothing stayed pinned.
});

iommufd.test('cmd_fail', ({ fd }) => {
  // struct iommu_destroy { size, id = 0 }
  const cmd = new Cmd(8);
  cmd.u32(0, 8);

  // id 0 names no object
  expectErrno('ENOENT', () => fd.destroy(0));
  // a NULL argument
  expectErrno('EFAULT', () => fd.rawIoctl(ioctlRequest('IOMMU_DESTROY'), null));
  // the number just below the iommufd commands
  expectErrno('ENOTTY', () => fd.rawIoctl(iommufdIoctl(IOMMUFD_CMDS.IOMMU_DESTROY - 1), cmd.bytes));
});

iommufd.test('cmd_length', ({ fd }) => {
  // TEST_LENGTH(): the struct followed by one extra byte (0xff) the kernel must
  // refuse (E2BIG) once `size` covers it, and accept as zero.
  // sizeof(struct) is the running kernel's (the C test is compiled against its headers).
  const layout = UAPI_LAYOUTS[kernelVersion() as UapiVersion];
  const testLength = (name: keyof typeof IOMMUFD_CMDS | keyof typeof IOMMUFD_CMDS_7_3, minSize: number) => {
    const io = (layout.ioctls as Record<string, { size: number } | undefined>)[name];
    if (!io) throw new Error(`kernel ${kernelVersion()}'s uAPI has no ${name}`);
    const sizeofStruct = io.size;
    const request = ioctlRequest(name);
    const cmd = new Cmd(sizeofStruct + 8);
    cmd.u32(0, minSize - 1);
    cmd.bytes[sizeofStruct] = 0xff;

    expectErrno('EINVAL', () => fd.rawIoctl(request, cmd.bytes));
    cmd.u32(0, sizeofStruct + 1);
    expectErrno('E2BIG', () => fd.rawIoctl(request, cmd.bytes));
    cmd.u32(0, sizeofStruct);
    let oldErrno: string | null = null;
    try {
      fd.rawIoctl(request, cmd.bytes);
    } catch (e) {
      if (!(e instanceof IommufdError)) throw e;
      oldErrno = e.code;
    }
    cmd.u32(0, sizeofStruct + 1);
    cmd.bytes[sizeofStruct] = 0;
    if (oldErrno !== null) expectErrno(oldErrno, () => fd.rawIoctl(request, cmd.bytes));
    else expect(fd.rawIoctl(request, cmd.bytes)).toBe(0);
  };

  // (the command, offsetofend of the field TEST_LENGTH names) as in 6.12's test
  testLength('IOMMU_DESTROY', 8); // id
  testLength('IOMMU_GET_HW_INFO', 32); // __reserved
  testLength('IOMMU_HWPT_ALLOC', 24); // __reserved
  testLength('IOMMU_HWPT_INVALIDATE', 32); // __reserved
  testLength('IOMMU_IOAS_ALLOC', 12); // out_ioas_id
  testLength('IOMMU_IOAS_IOVA_RANGES', 32); // out_iova_alignment
  testLength('IOMMU_IOAS_ALLOW_IOVAS', 24); // allowed_iovas
  testLength('IOMMU_IOAS_MAP', 40); // iova
  testLength('IOMMU_IOAS_COPY', 40); // src_iova
  testLength('IOMMU_IOAS_UNMAP', 24); // length
  testLength('IOMMU_OPTION', 24); // val64
  testLength('IOMMU_VFIO_IOAS', 12); // __reserved
  // The lines 7.3's test adds (6.12's has none of these commands: ENOTTY there).
  if (kernelVersion() === '6.12') return;
  testLength('IOMMU_IOAS_MAP_FILE', 40); // iova
  testLength('IOMMU_VIOMMU_ALLOC', 24); // out_viommu_id
  testLength('IOMMU_VDEVICE_ALLOC', 24); // virt_id
  testLength('IOMMU_IOAS_CHANGE_PROCESS', 8); // __reserved
});

iommufd.test('cmd_ex_fail', ({ fd }) => {
  // struct iommu_destroy followed by a u64 from a "future" uAPI
  const cmd = new Cmd(16);
  cmd.u32(0, 16);
  const destroy = ioctlRequest('IOMMU_DESTROY');

  // a longer command whose extra bytes are zero: only the id is wrong
  expectErrno('ENOENT', () => fd.rawIoctl(destroy, cmd.bytes));
  // the future field is set
  cmd.u64(8, 1n);
  expectErrno('E2BIG', () => fd.rawIoctl(destroy, cmd.bytes));
  // the 6.12 size ignores the tail
  cmd.u32(0, 8);
  expectErrno('ENOENT', () => fd.rawIoctl(destroy, cmd.bytes));
  // one byte short
  cmd.u32(0, 7);
  expectErrno('EINVAL', () => fd.rawIoctl(destroy, cmd.bytes));
});

iommufd.test('global_options', ({ fd }) => {
  // struct iommu_option { size, option_id, op (u16), __reserved, object_id, val64 }
  const cmd = new Cmd(24);
  const option = ioctlRequest('IOMMU_OPTION');
  cmd.u32(0, 24);
  cmd.u32(4, IOMMU_OPTION_RLIMIT_MODE);
  cmd.u16(8, IOMMU_OPTION_OP_GET);
  cmd.u64(16, 1n);

  cmd.u32(4, IOMMU_OPTION_RLIMIT_MODE);
  expect(fd.rawIoctl(option, cmd.bytes)).toBe(0);
  expect(cmd.u64(16)).toBe(0n);

  // setting it needs CAP_SYS_RESOURCE (the tests run as root)
  cmd.u16(8, IOMMU_OPTION_OP_SET);
  cmd.u64(16, 1n);
  expect(fd.rawIoctl(option, cmd.bytes)).toBe(0);
  cmd.u64(16, 2n);
  expectErrno('EINVAL', () => fd.rawIoctl(option, cmd.bytes));

  cmd.u16(8, IOMMU_OPTION_OP_GET);
  expect(fd.rawIoctl(option, cmd.bytes)).toBe(0);
  expect(cmd.u64(16)).toBe(1n);

  cmd.u16(8, IOMMU_OPTION_OP_SET);
  cmd.u64(16, 0n);
  expect(fd.rawIoctl(option, cmd.bytes)).toBe(0);

  // huge pages is a per-IOAS option: object 0 is no IOAS
  cmd.u16(8, IOMMU_OPTION_OP_GET);
  cmd.u32(4, IOMMU_OPTION_HUGE_PAGES);
  expectErrno('ENOENT', () => fd.rawIoctl(option, cmd.bytes));
  cmd.u16(8, IOMMU_OPTION_OP_SET);
  expectErrno('ENOENT', () => fd.rawIoctl(option, cmd.bytes));
});

// ---- VFIO compatibility ioctls -------------------------------------------------

iommufd.test('simple_ioctls', ({ fd }) => {
  expect(fd.vfio.apiVersion()).toBe(VFIO_API_VERSION);
  expect(fd.vfio.checkExtension(VFIO_TYPE1v2_IOMMU)).toBe(1);
});

iommufd.test('unmap_cmd', ({ fd }) => {
  // struct vfio_iommu_type1_dma_unmap { argsz, flags, iova, size }
  const unmapCmd = new Cmd(24);
  const unmap = ioctlRequest('VFIO_IOMMU_UNMAP_DMA');
  unmapCmd.u64(8, MOCK_APERTURE_START);
  unmapCmd.u64(16, BigInt(PAGE_SIZE));

  unmapCmd.u32(0, 1);
  expectErrno('EINVAL', () => fd.rawIoctl(unmap, unmapCmd.bytes));

  unmapCmd.u32(0, 24);
  unmapCmd.u32(4, 2 ** 31);
  expectErrno('EINVAL', () => fd.rawIoctl(unmap, unmapCmd.bytes));

  unmapCmd.u32(4, 0);
  expectErrno('ENODEV', () => fd.rawIoctl(unmap, unmapCmd.bytes));
});

iommufd.test('map_cmd', ({ fd }) => {
  // struct vfio_iommu_type1_dma_map { argsz, flags, vaddr, iova, size }. The
  // selftest puts its buffer's address in vaddr; raw bytes carry no pointers,
  // so vaddr stays 0. Every call below fails before the kernel reads vaddr.
  const mapCmd = new Cmd(32);
  const map = ioctlRequest('VFIO_IOMMU_MAP_DMA');
  mapCmd.u64(16, MOCK_APERTURE_START);
  mapCmd.u64(24, BigInt(PAGE_SIZE));

  mapCmd.u32(0, 1);
  expectErrno('EINVAL', () => fd.rawIoctl(map, mapCmd.bytes));

  mapCmd.u32(0, 32);
  mapCmd.u32(4, 2 ** 31);
  expectErrno('EINVAL', () => fd.rawIoctl(map, mapCmd.bytes));

  // there is no IOAS behind the container yet
  mapCmd.u32(4, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
  expectErrno('ENODEV', () => fd.rawIoctl(map, mapCmd.bytes));
});

iommufd.test('info_cmd', ({ fd }) => {
  // struct vfio_iommu_type1_info { argsz, flags, iova_pgsizes, cap_offset, pad }
  const infoCmd = new Cmd(24);
  const getInfo = ioctlRequest('VFIO_IOMMU_GET_INFO');

  // argsz below the fixed part
  infoCmd.u32(0, 1);
  expectErrno('EINVAL', () => fd.rawIoctl(getInfo, infoCmd.bytes));

  infoCmd.u32(0, 24);
  expectErrno('ENODEV', () => fd.rawIoctl(getInfo, infoCmd.bytes));
});

iommufd.test('set_iommu_cmd', ({ fd }) => {
  // both types need an IOAS behind the container
  expectErrno('ENODEV', () => fd.vfio.setIommu(VFIO_TYPE1v2_IOMMU));
  expectErrno('ENODEV', () => fd.vfio.setIommu(VFIO_TYPE1_IOMMU));
});

iommufd.test('vfio_ioas', ({ fd }) => {
  // struct iommu_vfio_ioas { size, ioas_id, op (u16), __reserved }
  const vfioIoasCmd = new Cmd(12);
  const vfioIoas = ioctlRequest('IOMMU_VFIO_IOAS');
  vfioIoasCmd.u32(0, 12);
  vfioIoasCmd.u16(8, IOMMU_VFIO_IOAS_GET);

  // no compat IOAS yet
  expectErrno('ENODEV', () => fd.rawIoctl(vfioIoas, vfioIoasCmd.bytes));

  // SET of id 0
  vfioIoasCmd.u16(8, IOMMU_VFIO_IOAS_SET);
  expectErrno('ENOENT', () => fd.rawIoctl(vfioIoas, vfioIoasCmd.bytes));

  // SET of a real IOAS
  const ioasId = fd.allocIoas().id;
  vfioIoasCmd.u32(4, ioasId);
  expect(fd.rawIoctl(vfioIoas, vfioIoasCmd.bytes)).toBe(0);

  // GET answers with it
  vfioIoasCmd.u16(8, IOMMU_VFIO_IOAS_GET);
  expect(fd.rawIoctl(vfioIoas, vfioIoasCmd.bytes)).toBe(0);
  expect(vfioIoasCmd.u32(4)).toBe(ioasId);

  // CLEAR, then GET has nothing again
  vfioIoasCmd.u16(8, IOMMU_VFIO_IOAS_CLEAR);
  expect(fd.rawIoctl(vfioIoas, vfioIoasCmd.bytes)).toBe(0);
  vfioIoasCmd.u16(8, IOMMU_VFIO_IOAS_GET);
  expectErrno('ENODEV', () => fd.rawIoctl(vfioIoas, vfioIoasCmd.bytes));
});
