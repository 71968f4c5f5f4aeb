// 7.3's file mappings: IOMMU_IOAS_MAP_FILE of a MemFile (a memfd) or of a
// descriptor the caller opened, and IOMMU_IOAS_CHANGE_PROCESS. Bad input: the
// kernel's errno, the simulator agreeing; JS mistakes rejected before the ioctl.
// The memory a mapping uses stays alive while mapped. 6.12 lacks both: ENOTTY.
import { closeSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { beforeEach, describe, expect, test } from 'vitest';
import { ClosedError, DmaBuffer, MOCK_APERTURE_START, MemFile, MockDmabuf, U64_MAX } from '../../lib/index.js';
import { capabilities, kernelVersion, openIommufd, requires } from '../backend.js';
import { PAGE_SIZE, expectErrno } from '../helpers.js';
import { scenarioFixture } from './fixture.js';

/** A regular file that is no memfd (on 9p in the VM, never tmpfs). */
const REGULAR_FILE = fileURLToPath(new URL('../../package.json', import.meta.url));
const RW = 1 | 2; // IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE

const self = scenarioFixture({ extra: () => ({ file: MemFile.create(4 * PAGE_SIZE) }), release: ({ file }) => file.close() });

/** A descriptor number that names no open file. */
function closedDescriptor(): number {
  const n = openSync(REGULAR_FILE, 'r');
  closeSync(n);
  return n;
}

test('capabilities report MAP_FILE and CHANGE_PROCESS on 7.3; 6.12 answers them ENOTTY', () => {
  const caps = capabilities();
  const has = kernelVersion() !== '6.12';
  expect(caps.ioctls.IOMMU_IOAS_MAP_FILE).toBe(has);
  expect(caps.ioctls.IOMMU_IOAS_CHANGE_PROCESS).toBe(has);
  if (has) return;
  expectErrno('ENOTTY', () => self.ioas.mapFile(self.file), 'IOMMU_IOAS_MAP_FILE');
  expectErrno('ENOTTY', () => self.fd.changeProcess(), 'IOMMU_IOAS_CHANGE_PROCESS');
  expect(self.file.mappings).toBe(0);
});

test('MemFile: JS mistakes are TypeErrors and RangeErrors', () => {
  expect(() => MemFile.create(PAGE_SIZE + 1)).toThrow(RangeError);
  expect(() => MemFile.create(-PAGE_SIZE)).toThrow(RangeError);
  expect(() => MemFile.create(PAGE_SIZE, { hugePages: 'transparent' as 'hugetlb' })).toThrow(TypeError);
  expect(() => MemFile.create(PAGE_SIZE, { hugePages: 'hugetlb' })).toThrow(RangeError);
  expect(() => self.file.resize(100)).toThrow(RangeError);
  const empty = MemFile.create(0);
  expect(empty.length).toBe(0);
  expect(() => empty.view).toThrow(RangeError);
  empty.close();
  expect(() => empty.length).toThrow(ClosedError);
  // The view is the file: its bytes survive a resize that keeps them.
  self.file.bytes[5] = 0x5a;
  self.file.resize(8 * PAGE_SIZE);
  expect(self.file.bytes.length).toBe(8 * PAGE_SIZE);
  expect(self.file.bytes[5]).toBe(0x5a);
});

test('mapFile: an object that only inherits MemFile or MockDmabuf is a TypeError, not an engine error (hostile fuzzer)', () => {
  for (const forged of [Object.create(MemFile.prototype), Object.create(MockDmabuf.prototype)])
    expect(() => self.ioas.mapFile(forged)).toThrow(/must be a MemFile from MemFile.create\(\) or a MockDmabuf/);
  expect(MemFile.isMemFile(self.file)).toBe(true);
  expect(MockDmabuf.isMockDmabuf(self.file)).toBe(false);
});

describe('7.3 file mappings', () => {
  beforeEach((ctx) => {
    requires(ctx, 'IOMMU_IOAS_MAP_FILE', 'IOMMU_IOAS_CHANGE_PROCESS');
  });

  test('JS mistakes are rejected before the ioctl', () => {
    expect(() => self.ioas.mapFile('3' as unknown as number, { length: PAGE_SIZE })).toThrow(TypeError);
    expect(() => self.ioas.mapFile({} as unknown as number, { length: PAGE_SIZE })).toThrow(TypeError);
    expect(() => self.ioas.mapFile(-1, { length: PAGE_SIZE })).toThrow(RangeError);
    expect(() => self.ioas.mapFile(1.5, { length: PAGE_SIZE })).toThrow(RangeError);
    expect(() => self.ioas.mapFile(2 ** 31, { length: PAGE_SIZE })).toThrow(RangeError);
    // A descriptor alone says nothing of the file's size.
    expect(() => self.ioas.mapFile(3)).toThrow(TypeError);
    expect(() => self.ioas.mapFile(self.file, { offset: -1 })).toThrow(RangeError);
    expect(() => self.ioas.mapFile(self.file, { length: 1n << 64n })).toThrow(RangeError);
    expect(() => self.ioas.mapFile(self.file, { iova: 'x' as unknown as number })).toThrow(TypeError);
    expect(() => self.ioas.mapFile(self.file, 4 as never)).toThrow(TypeError);
    // A default length needs an offset inside the file.
    expect(() => self.ioas.mapFile(self.file, { offset: 5 * PAGE_SIZE })).toThrow(RangeError);
    // Backend contract: the FileRef's shape.
    expect(() => self.fd.backend.ioasMapFile(self.ioas.id, RW, { fd: -2, bytes: null }, 0n, 4096n, 0n)).toThrow(TypeError);
    expect(() => self.fd.backend.ioasMapFile(self.ioas.id, RW, null as never, 0n, 4096n, 0n)).toThrow(TypeError);
    expect(self.file.mappings).toBe(0);
  });

  test('a closed FileHandle or MemFile is refused', async () => {
    const handle = await open(REGULAR_FILE, 'r');
    await handle.close();
    expect(() => self.ioas.mapFile(handle, { length: PAGE_SIZE })).toThrow(RangeError);
    const gone = MemFile.create(PAGE_SIZE);
    gone.close();
    expect(() => self.ioas.mapFile(gone)).toThrow(ClosedError);
  });

  test("the kernel's errnos, in the kernel's order", () => {
    // Flags: unknown (EOPNOTSUPP), then neither readable nor writeable (EINVAL).
    expectErrno('EOPNOTSUPP', () => self.fd.backend.ioasMapFile(self.ioas.id, 1 << 5, { fd: closedDescriptor(), bytes: null }, 0n, 4096n, 0n));
    expectErrno('EINVAL', () => self.ioas.mapFile(self.file, { readable: false, writeable: false }), 'IOMMU_IOAS_MAP_FILE');
    // ULONG_MAX IOVA or length, then start + length wrapping (check_add_overflow()).
    expectErrno('EOVERFLOW', () => self.ioas.mapFile(self.file, { iova: U64_MAX }));
    expectErrno('EOVERFLOW', () => self.ioas.mapFile(self.file, { length: U64_MAX }));
    expectErrno('EOVERFLOW', () => self.ioas.mapFile(self.file, { offset: U64_MAX - 4095n, length: 2 * PAGE_SIZE }));
    // The IOAS lookup comes before the file's (ENOENT, not EBADF).
    expectErrno('ENOENT', () => self.fd.backend.ioasMapFile(self.ioas.id + 100, RW, { fd: closedDescriptor(), bytes: null }, 0n, 4096n, 0n));
    // Nothing to map, then no file behind the descriptor.
    expectErrno('EINVAL', () => self.ioas.mapFile(self.file, { length: 0 }));
    expectErrno('EBADF', () => self.ioas.mapFile(closedDescriptor(), { length: PAGE_SIZE }));
    // A length the IOAS cannot map in whole IO pages once a mock domain sets the alignment.
    self.fd.mockDomain(self.ioas);
    expectErrno('EINVAL', () => self.ioas.mapFile(self.file, { length: PAGE_SIZE + 1 }));
    // Fixed IOVAs: misaligned (EINVAL), taken (EEXIST).
    expectErrno('EINVAL', () => self.ioas.mapFile(self.file, { length: PAGE_SIZE, iova: MOCK_APERTURE_START + 1n }));
    self.ioas.mapFile(self.file, { length: PAGE_SIZE, iova: MOCK_APERTURE_START });
    expectErrno('EEXIST', () => self.ioas.mapFile(self.file, { length: PAGE_SIZE, iova: MOCK_APERTURE_START }));
    expect(self.file.mappings).toBe(1);
  });

  test('pinning a range past the end of the file, or a file that is no memfd, is EINVAL', () => {
    // Without a domain nothing is pinned: the kernel accepts the range (inside
    // the mock domain's aperture, or attaching it would be EADDRINUSE)...
    const iova = self.ioas.mapFile(self.file, { length: 8 * PAGE_SIZE, iova: MOCK_APERTURE_START });
    // ...until a domain pins it (memfd_pin_folios(): at or past i_size).
    expectErrno('EINVAL', () => self.fd.mockDomain(self.ioas), 'IOMMU_TEST_OP_MOCK_DOMAIN');
    self.ioas.unmap(iova, 8 * PAGE_SIZE);
    const regular = openSync(REGULAR_FILE, 'r');
    try {
      const at = self.ioas.mapFile(regular, { length: PAGE_SIZE, writeable: false, iova: MOCK_APERTURE_START });
      expectErrno('EINVAL', () => self.fd.mockDomain(self.ioas), 'IOMMU_TEST_OP_MOCK_DOMAIN');
      self.ioas.unmap(at, PAGE_SIZE);
      self.fd.mockDomain(self.ioas);
      expectErrno('EINVAL', () => self.ioas.mapFile(regular, { length: PAGE_SIZE, writeable: false }));
      expectErrno('EINVAL', () => self.ioas.mapFile(self.file, { offset: PAGE_SIZE, length: 4 * PAGE_SIZE }));
      // An access reads a file through pins too (in an IOAS with no domain to pin it first).
      const lazy = self.fd.allocIoas();
      const access = self.fd.createAccess(lazy);
      const past = lazy.mapFile(self.file, { offset: 2 * PAGE_SIZE, length: 4 * PAGE_SIZE });
      expectErrno('EINVAL', () => access.read(past + BigInt(3 * PAGE_SIZE), 16), 'IOMMU_TEST_OP_ACCESS_RW');
      expect(access.read(past, 16).length).toBe(16);
      access.close();
      // An empty file has nothing to pin.
      const empty = MemFile.create(0);
      expectErrno('EINVAL', () => self.ioas.mapFile(empty, { length: PAGE_SIZE }));
      empty.close();
    } finally {
      closeSync(regular);
    }
  });

  test("the IOAS maps the file's bytes: what the process writes there", () => {
    self.file.bytes.fill(0xa5, PAGE_SIZE, 2 * PAGE_SIZE);
    const iova = self.ioas.mapFile(self.file, { offset: PAGE_SIZE, length: PAGE_SIZE, iova: MOCK_APERTURE_START });
    const access = self.fd.createAccess(self.ioas);
    expect(access.read(iova, 16)).toEqual(new Uint8Array(16).fill(0xa5));
    // A write through the access lands in the file, seen through the view.
    access.write(iova + 8n, Uint8Array.of(1, 2, 3));
    expect([...self.file.bytes.subarray(PAGE_SIZE + 8, PAGE_SIZE + 11)]).toEqual([1, 2, 3]);
    const mock = self.fd.mockDomain(self.ioas);
    mock.hwpt.checkMap(iova, self.file.view, { offset: PAGE_SIZE, length: PAGE_SIZE });
    self.fd.checkRefs(self.file.view, 1, { offset: PAGE_SIZE, length: PAGE_SIZE });
    self.fd.checkRefs(self.file.view, 0, { offset: 0, length: PAGE_SIZE });
    access.close();
  });

  test('a descriptor the caller opened maps too: a MemFile number and a FileHandle', async () => {
    const numbered = self.ioas.mapFile(self.file.fd!, { length: PAGE_SIZE });
    // The typed API keeps no reference for a bare descriptor: the kernel holds the file.
    expect(self.file.mappings).toBe(0);
    const handle = await open(REGULAR_FILE, 'r');
    try {
      const handled = self.ioas.mapFile(handle, { length: PAGE_SIZE, writeable: false });
      expect(self.ioas.unmap(handled, PAGE_SIZE)).toBe(BigInt(PAGE_SIZE));
    } finally {
      await handle.close();
    }
    expect(self.ioas.unmap(numbered, PAGE_SIZE)).toBe(BigInt(PAGE_SIZE));
  });

  test('a mapped MemFile stays alive: close(), resize() and its view refuse until unmapped', () => {
    const iova = self.ioas.mapFile(self.file);
    expect(self.file.mappings).toBe(1);
    expectErrno('EBUSY', () => self.file.close());
    expectErrno('EBUSY', () => self.file.resize(0));
    expectErrno('EBUSY', () => self.file.view.free());
    // A copy holds it too, after the source is unmapped.
    const other = self.fd.allocIoas();
    const copied = other.copyFrom(self.ioas, iova, 4 * PAGE_SIZE);
    self.ioas.unmapAll();
    expect(self.file.mappings).toBe(1);
    other.unmap(copied, 4 * PAGE_SIZE);
    expect(self.file.mappings).toBe(0);
    // Closing the iommufd releases whatever it still mapped.
    self.ioas.mapFile(self.file);
    self.fd.close();
    expect(self.file.mappings).toBe(0);
    self.file.resize(PAGE_SIZE);
    self.fd = openIommufd();
  });

  test('CHANGE_PROCESS: EINVAL while user memory is mapped, fine with only files', () => {
    self.fd.changeProcess();
    self.fd.mockDomain(self.ioas);
    const buffer = DmaBuffer.alloc(PAGE_SIZE);
    const user = self.ioas.mapAnywhere(buffer);
    self.ioas.mapFile(self.file);
    // Any IOAS of the iommufd counts.
    const other = self.fd.allocIoas();
    other.mapFile(self.file);
    expectErrno('EINVAL', () => self.fd.changeProcess(), 'IOMMU_IOAS_CHANGE_PROCESS');
    self.ioas.unmap(user, PAGE_SIZE);
    self.fd.changeProcess();
    self.fd.checkRefs(self.file.view, 1);
    self.ioas.unmapAll();
    other.unmapAll();
    buffer.free();
  });
});
