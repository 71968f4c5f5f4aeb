// Raw ioctls and iommufd sharing, on a host without /dev/iommu: the rule of
// lib/api/raw-ioctl.ts in TypeScript, the same rule again in the addon (called
// directly on /dev/null, which answers every ioctl that gets through with
// ENOTTY), adopting descriptors, and shared DmaBuffers mapped from their memfd.
import { closeSync, openSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import {
  DmaBuffer,
  IOMMUFD_CMDS,
  IOMMUFD_CMDS_7_3,
  IOMMU_TEST_OPS,
  IOMMU_TEST_OPS_7_3,
  Iommufd,
  IommufdError,
  VFIO_REQUESTS,
  checkRawIoctl,
  iommufdIoctl,
  ioctlRequest,
} from '../../lib/index.js';
import { addon } from '../../lib/native/binding.js';
import { PAGE_SIZE } from '../helpers.js';

/** `length` bytes with the u32 size (or argsz) at 0 and u64 `value` at `at`. */
function cmd(length: number, size: number, at = -1, value = 0n): Uint8Array {
  const bytes = new Uint8Array(length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, size, true);
  if (at >= 0) view.setBigUint64(at, value, true);
  return bytes;
}

/** Test cmd bytes (72) with `op` and u64 `value` at `at`. */
function testCmd(op: number, at = -1, value = 0n): Uint8Array {
  const bytes = cmd(72, 72, at, value);
  new DataView(bytes.buffer).setUint32(4, op, true);
  return bytes;
}

const MAP = ioctlRequest('IOMMU_IOAS_MAP');
const TEST = iommufdIoctl(IOMMUFD_CMDS.IOMMU_TEST_CMD);

// Each case: [what, request, arg, the error a bad one is].
const refused: [string, number, () => Uint8Array | number | null, typeof RangeError | typeof TypeError][] = [
  ['a request with size bits', (2 << 30) | (8 << 16) | MAP, () => cmd(40, 40), RangeError],
  ['a request of another type', 0x5401, () => null, RangeError],
  ['an integer for an iommufd command', MAP, () => 1, TypeError],
  ['bytes for VFIO_CHECK_EXTENSION', VFIO_REQUESTS.VFIO_CHECK_EXTENSION, () => cmd(8, 8), TypeError],
  ['fewer than 4 bytes', MAP, () => new Uint8Array(3), RangeError],
  ['a size larger than the bytes', MAP, () => cmd(40, 41), RangeError],
  ['an IOAS_MAP user_va', MAP, () => cmd(40, 40, 16, 0x1000n), TypeError],
  ['an IOAS_MAP user_va partly inside size', MAP, () => cmd(40, 20, 16, 0x1n), TypeError],
  ['an IOVA_RANGES pointer', ioctlRequest('IOMMU_IOAS_IOVA_RANGES'), () => cmd(32, 32, 16, 8n), TypeError],
  ['a GET_HW_INFO pointer', ioctlRequest('IOMMU_GET_HW_INFO'), () => cmd(40, 40, 16, 8n), TypeError],
  ['an HWPT_INVALIDATE pointer', ioctlRequest('IOMMU_HWPT_INVALIDATE'), () => cmd(32, 32, 8, 8n), TypeError],
  ['an MD_CHECK_REFS uptr', TEST, () => testCmd(IOMMU_TEST_OPS.MD_CHECK_REFS, 24, 8n), TypeError],
  ['an ACCESS_RW uptr', TEST, () => testCmd(IOMMU_TEST_OPS.ACCESS_RW, 32, 8n), TypeError],
  ['data in an unknown test op', TEST, () => testCmd(99, 16, 1n), TypeError],
  ['data in an unknown ioctl', iommufdIoctl(0x8f), () => cmd(16, 16, 8, 1n), TypeError],
  ['VFIO_IOMMU_MAP_DMA shorter than its fixed part', VFIO_REQUESTS.VFIO_IOMMU_MAP_DMA, () => cmd(31, 1), RangeError],
  ['an argsz larger than the bytes', VFIO_REQUESTS.VFIO_IOMMU_GET_INFO, () => cmd(24, 25), RangeError],
  ['a VFIO_IOMMU_MAP_DMA vaddr', VFIO_REQUESTS.VFIO_IOMMU_MAP_DMA, () => cmd(32, 32, 8, 0x1000n), TypeError],
];

// Accepted: they reach the ioctl.
const accepted: [string, number, () => Uint8Array | number | null][] = [
  ['NULL', ioctlRequest('IOMMU_DESTROY'), () => null],
  ['a short command', ioctlRequest('IOMMU_DESTROY'), () => cmd(12, 7)],
  ['bytes past the 6.12 struct', ioctlRequest('IOMMU_DESTROY'), () => cmd(16, 16, 8, 1n)],
  ['an HWPT_ALLOC pointer beyond size', ioctlRequest('IOMMU_HWPT_ALLOC'), () => cmd(48, 24, 32, 8n)],
  ['a zero pointer', MAP, () => cmd(40, 40, 24, 4096n)],
  ['a test op without pointers', TEST, () => testCmd(IOMMU_TEST_OPS.MOCK_DOMAIN, 16, 5n)],
  ['an unknown ioctl with zero data', iommufdIoctl(0x7f), () => cmd(8, 8)],
  ['an integer argument', VFIO_REQUESTS.VFIO_SET_IOMMU, () => 3],
  ['argsz below the fixed part', VFIO_REQUESTS.VFIO_IOMMU_UNMAP_DMA, () => cmd(24, 1)],
];

describe('checkRawIoctl (TypeScript)', () => {
  test.each(refused)('refuses %s', (_what, request, arg, kind) => {
    expect(() => checkRawIoctl(request, arg())).toThrow(kind);
  });

  test.each(accepted)('accepts %s', (_what, request, arg) => {
    expect(() => checkRawIoctl(request, arg())).not.toThrow();
  });
});

describe("checkRawIoctl knows the commands of the kernel's uAPI table", () => {
  const VIOMMU = ioctlRequest('IOMMU_VIOMMU_ALLOC');
  const MAP_FILE = ioctlRequest('IOMMU_IOAS_MAP_FILE');

  test("7.3's pointer fields must be 0 (vIOMMU driver data)", () => {
    expect(() => checkRawIoctl(VIOMMU, cmd(40, 40, 32, 0x1000n), '7.3')).toThrow(TypeError);
    expect(() => checkRawIoctl(VIOMMU, cmd(40, 40, 32, 0x1000n), '7.3')).toThrow(/IOMMU_VIOMMU_ALLOC: the user-pointer field at offset 32/);
    // past `size`, the kernel does not read it
    expect(() => checkRawIoctl(VIOMMU, cmd(40, 32, 32, 0x1000n), '7.3')).not.toThrow();
    // partly inside size
    expect(() => checkRawIoctl(VIOMMU, cmd(40, 33, 32, 0x1n), '7.3')).toThrow(TypeError);
  });

  test("7.3's other fields pass there; on 6.12 the same bytes are an unknown command's", () => {
    const mapFile = cmd(40, 40, 8, 3n << 32n); // fd 3 (a descriptor, no pointer)
    expect(checkRawIoctl(MAP_FILE, mapFile, '7.3')).toBe(mapFile);
    expect(() => checkRawIoctl(MAP_FILE, mapFile, '6.12')).toThrow(/is unknown: its bytes after the size field must be 0/);
    expect(() => checkRawIoctl(MAP_FILE, mapFile)).toThrow(TypeError); // the oldest table by default
    const hwQueue = cmd(40, 40, 24, 0x1000_0000n); // nesting_parent_iova: an IOVA
    expect(() => checkRawIoctl(ioctlRequest('IOMMU_HW_QUEUE_ALLOC'), hwQueue, '7.3')).not.toThrow();
    expect(() => checkRawIoctl(ioctlRequest('IOMMU_HW_QUEUE_ALLOC'), hwQueue, '6.12')).toThrow(TypeError);
  });

  test("7.3's test ops: DMABUF_REVOKE's descriptor passes, 6.12 does not know the op", () => {
    const revoke = testCmd(IOMMU_TEST_OPS_7_3.DMABUF_REVOKE, 16, 5n);
    expect(() => checkRawIoctl(TEST, revoke, '7.3')).not.toThrow();
    expect(() => checkRawIoctl(TEST, revoke, '6.12')).toThrow(/op 23 is unknown/);
    // 6.12's pointer-carrying ops keep their rule on 7.3
    expect(() => checkRawIoctl(TEST, testCmd(IOMMU_TEST_OPS.ACCESS_RW, 32, 8n), '7.3')).toThrow(TypeError);
  });

  test('lengths are checked the same for every command; an unknown table is a TypeError', () => {
    expect(() => checkRawIoctl(VIOMMU, cmd(24, 25), '7.3')).toThrow(RangeError);
    expect(() => checkRawIoctl(VIOMMU, new Uint8Array(2), '7.3')).toThrow(RangeError);
    expect(() => checkRawIoctl(VIOMMU, cmd(8, 8), '9.9' as never)).toThrow(TypeError);
  });

  test('ioctlRequest names the 7.3 commands, and errors carry their names', () => {
    expect(VIOMMU).toBe(iommufdIoctl(IOMMUFD_CMDS_7_3.IOMMU_VIOMMU_ALLOC));
    expect(() => ioctlRequest('IOMMU_NOPE' as never)).toThrow(TypeError);
    using fd = Iommufd.open({ backend: 'sim', kernel: '6.12' });
    expect(() => fd.rawIoctl(VIOMMU, cmd(40, 40))).toThrow(expect.objectContaining({ code: 'ENOTTY', op: 'IOMMU_VIOMMU_ALLOC' }));
  });
});

describe('rawIoctl in the addon, without the TypeScript check', () => {
  const fd = openSync('/dev/null', 'r+');

  test.each(refused)('refuses %s', (_what, request, arg, kind) => {
    expect(() => addon().rawIoctl(fd, request, arg(), 'raw')).toThrow(kind);
  });

  test.each(accepted)('lets %s reach the ioctl', (_what, request, arg) => {
    expect(() => addon().rawIoctl(fd, request, arg(), 'raw')).toThrow(expect.objectContaining({ code: 'ENOTTY' }));
  });

  test('a window is bounded by the window, not its buffer', () => {
    const big = new Uint8Array(128);
    new DataView(big.buffer).setUint32(16, 40, true);
    expect(() => addon().rawIoctl(fd, MAP, big.subarray(16, 48), 'raw')).toThrow(RangeError);
    expect(() => addon().rawIoctl(fd, MAP, big.subarray(16, 56), 'raw')).toThrow(expect.objectContaining({ code: 'ENOTTY' }));
  });

  test('freed memory is refused', () => {
    const buffer = DmaBuffer.alloc(PAGE_SIZE);
    const bytes = buffer.bytes;
    buffer.free();
    expect(() => addon().rawIoctl(fd, MAP, bytes, 'raw')).toThrow(RangeError);
  });
});

describe('Iommufd.rawIoctl on the simulator', () => {
  test("checks by the modelled kernel's table and decodes its commands", () => {
    using fd73 = Iommufd.open({ backend: 'sim', kernel: '7.3' });
    using fd612 = Iommufd.open({ backend: 'sim', kernel: '6.12' });
    const MAP_FILE = ioctlRequest('IOMMU_IOAS_MAP_FILE');
    // flags 0 (neither READABLE nor WRITEABLE): iommufd_ioas_map_file() says EINVAL
    expect(() => fd73.rawIoctl(MAP_FILE, cmd(40, 40, 8, 3n << 32n))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => fd612.rawIoctl(MAP_FILE, cmd(40, 40, 8, 3n << 32n))).toThrow(TypeError);
    expect(() => fd612.rawIoctl(MAP_FILE, cmd(40, 40))).toThrow(expect.objectContaining({ code: 'ENOTTY' }));
    expect(() => fd73.rawIoctl(MAP_FILE, cmd(48, 39))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => fd73.rawIoctl(MAP_FILE, cmd(48, 48, 40, 1n))).toThrow(expect.objectContaining({ code: 'E2BIG' }));
    // a test op that returns a descriptor is not decoded raw: said so, not guessed
    expect(() => fd73.rawIoctl(TEST, testCmd(IOMMU_TEST_OPS_7_3.DMABUF_GET, 16, 4096n))).toThrow(/does not model a raw IOMMU_TEST_CMD op 22/);
  });


  test('decodes like the kernel and writes the answer back', () => {
    using fd = Iommufd.open({ backend: 'sim' });
    const alloc = cmd(12, 12);
    expect(fd.rawIoctl(ioctlRequest('IOMMU_IOAS_ALLOC'), alloc)).toBe(0);
    const id = new DataView(alloc.buffer).getUint32(8, true);
    expect(id).toBeGreaterThan(0);
    const error = (() => {
      try {
        fd.rawIoctl(ioctlRequest('IOMMU_DESTROY'), cmd(8, 4));
      } catch (e) {
        return e as IommufdError;
      }
    })();
    expect(error).toMatchObject({ code: 'EINVAL', op: 'IOMMU_DESTROY', syscall: 'ioctl' });
    expect(() => fd.rawIoctl(MAP, cmd(40, 40, 16, 0x1000n))).toThrow(TypeError);
  });
});

describe('sharing an iommufd', () => {
  test('adopting a descriptor checks that it is an iommufd', () => {
    const fd = openSync('/dev/null', 'r+');
    try {
      expect(() => Iommufd.open({ fd })).toThrow(expect.objectContaining({ code: 'ENOTTY', op: 'adopt' }));
    } finally {
      closeSync(fd);
    }
    expect(() => Iommufd.open({ fd: 1_000_000 })).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(() => Iommufd.open({ fd: 3, backend: 'sim' })).toThrow(TypeError);
    using sim = Iommufd.open({ backend: 'sim' });
    expect(() => sim.fileDescriptor).toThrow(TypeError);
  });

  test('a shared DmaBuffer can be mapped again from its memfd', () => {
    using shared = DmaBuffer.alloc(2 * PAGE_SIZE, { shared: true });
    using priv = DmaBuffer.alloc(PAGE_SIZE);
    expect(priv.memfd).toBeNull();
    const memfd = shared.memfd;
    expect(memfd).not.toBeNull();
    using again = DmaBuffer.fromFd(memfd!, 2 * PAGE_SIZE);
    shared.bytes[PAGE_SIZE + 7] = 0x5a;
    expect(again.bytes[PAGE_SIZE + 7]).toBe(0x5a);
    again.bytes[0] = 0xa5;
    expect(shared.bytes[0]).toBe(0xa5);
    expect(() => DmaBuffer.fromFd(memfd!, 3 * PAGE_SIZE)).toThrow(RangeError);
    const devNull = openSync('/dev/null', 'r');
    try {
      expect(() => DmaBuffer.fromFd(devNull, PAGE_SIZE)).toThrow(TypeError);
    } finally {
      closeSync(devNull);
    }
  });

  test('shared transparent-huge-page buffers have a memfd too', () => {
    using shared = DmaBuffer.alloc(2 * 1024 * 1024, { shared: true, hugePages: 'transparent' });
    expect(shared.memfd).not.toBeNull();
    shared.bytes.fill(3);
    using again = DmaBuffer.fromFd(shared.memfd!, 2 * 1024 * 1024);
    expect(again.bytes[2 * 1024 * 1024 - 1]).toBe(3);
  });
});

describe('DmaBuffer file mappings and unmapped ranges (addon)', () => {
  test('mapFile maps a file privately: writes never reach it', () => {
    using exe = DmaBuffer.mapFile('/proc/self/exe', PAGE_SIZE);
    expect([...exe.bytes.subarray(0, 4)]).toEqual([0x7f, 0x45, 0x4c, 0x46]); // ELF
    exe.bytes[0] = 0;
    using again = DmaBuffer.mapFile('/proc/self/exe', PAGE_SIZE);
    expect(again.bytes[0]).toBe(0x7f);
    expect(() => DmaBuffer.mapFile('/proc/version', PAGE_SIZE)).toThrow(RangeError); // size 0: would SIGBUS
    expect(() => addon().dmaMapFile!('/nonexistent', PAGE_SIZE)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  test('dmaUnmapRange takes whole pages inside the buffer only', () => {
    const buffer = DmaBuffer.alloc(4 * PAGE_SIZE);
    const native = addon();
    expect(() => native.dmaUnmapRange!(buffer.buffer, 1, PAGE_SIZE)).toThrow(RangeError);
    expect(() => native.dmaUnmapRange!(buffer.buffer, 0, 5 * PAGE_SIZE)).toThrow(RangeError);
    expect(() => native.dmaUnmapRange!(buffer.buffer, 4 * PAGE_SIZE, PAGE_SIZE)).toThrow(RangeError);
    expect(() => native.dmaUnmapRange!(new ArrayBuffer(PAGE_SIZE), 0, PAGE_SIZE)).toThrow(RangeError);
    buffer.unsafeUnmap(2 * PAGE_SIZE, 2 * PAGE_SIZE);
    expect(buffer.bytes[PAGE_SIZE]).toBe(0); // the rest stays mapped
    buffer.free();
  });
});
