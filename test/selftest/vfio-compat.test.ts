// FIXTURE(vfio_compat_mock_domain) of tools/testing/selftests/iommu/iommufd.c:
// an IOAS with a mock domain (what VFIO would call a group) behind the VFIO
// type1 container ioctls of /dev/iommu, in type1v2 and type1 mode.
import { expect } from 'vitest';
import {
  DmaBuffer,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  MOCK_APERTURE_LAST,
  MOCK_APERTURE_START,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_INFO_PGSIZES,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  type Ioas,
  type Iommufd,
  ioctlRequest,
} from '../../lib/index.js';
import { openIommufd } from '../backend.js';
import { expectErrno } from '../helpers.js';
import { BUFFER_SIZE, HUGEPAGE_SIZE, PAGE_SIZE, buffer, fixture, hugetlbShared, teardownIommufd } from './harness.js';
import { Cmd } from './raw-cmd.js';

/** VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL (include/uapi/linux/vfio.h). */
const VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL = 3;
/** sizeof(struct vfio_iommu_type1_info) and of struct vfio_info_cap_header. */
const SIZEOF_INFO = 24;
const SIZEOF_CAP_HEADER = 8;
/** sizeof(struct vfio_iommu_type1_info_dma_avail). */
const SIZEOF_DMA_AVAIL = 12;

interface Self {
  fd: Iommufd;
  ioas: Ioas;
}

const vfioCompatMockDomain = fixture<Self, { version: number }>(
  'vfio_compat_mock_domain',
  {
    Ver1v2: { version: VFIO_TYPE1v2_IOMMU },
    Ver1v0: { version: VFIO_TYPE1_IOMMU },
  },
  (variant) => {
    const fd = openIommufd();
    // the IOAS with a mock device is what VFIO would consider a group
    const ioas = fd.allocIoas();
    fd.mockDomain(ioas);
    // make it the container's IOAS
    fd.setVfioIoas(ioas);
    fd.vfio.setIommu(variant.version);
    return { fd, ioas };
  },
  (self) => teardownIommufd(self.fd),
);

/** The C test's shuffle_array(): rand() % (n - i) as the partner of slot i. */
function shuffleArray<T>(array: T[]): void {
  for (let i = 0; i !== array.length; i++) {
    const other = Math.floor(Math.random() * (array.length - i));
    [array[i], array[other]] = [array[other]!, array[i]!];
  }
}

/**
 * ioctl_check_buf(): run the ioctl on the global buffer (its first u32 is the
 * command's length) and check that nothing past that length was written.
 */
function ioctlCheckBuf(fd: Iommufd, request: number): void {
  const bytes = buffer().bytes;
  const cmdLen = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
  bytes.fill(0xaa, cmdLen, BUFFER_SIZE);
  expect(fd.rawIoctl(request, bytes)).toBe(0);
  expect(bytes.subarray(cmdLen, BUFFER_SIZE).every((b) => b === 0xaa)).toBe(true);
}

/** struct vfio_iommu_type1_info over the global buffer. */
function infoCmd(): Cmd {
  return new Cmd(buffer().bytes);
}

/** Reset the info header to { argsz } (the rest of the 24 bytes zero). */
function resetInfo(info: Cmd, argsz: number): void {
  info.bytes.fill(0, 0, SIZEOF_INFO);
  info.u32(0, argsz);
}

/** check_vfio_info_cap_chain(): walk the chain the kernel wrote, checking every capability. */
function checkVfioInfoCapChain(info: Cmd): void {
  const argsz = info.u32(0);
  const capOffset = info.u32(16);
  expect(argsz).toBeGreaterThanOrEqual(capOffset + SIZEOF_CAP_HEADER);
  let cap = capOffset;
  for (;;) {
    const id = info.u16(cap);
    const version = info.u16(cap + 2);
    const next = info.u32(cap + 4);
    const capSize = next ? next - cap : argsz - cap;

    switch (id) {
      case VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE:
        expect(version).toBe(1);
        expect(info.u32(cap + 8)).toBe(1); // nr_iovas
        expect(info.u64(cap + 16)).toBe(MOCK_APERTURE_START);
        expect(info.u64(cap + 24)).toBe(MOCK_APERTURE_LAST);
        break;
      case VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL:
        expect(version).toBe(1);
        expect(capSize).toBe(SIZEOF_DMA_AVAIL);
        break;
      default:
        expect.fail(`unknown capability id ${id} at offset ${cap}`);
    }
    if (!next) break;

    expect(argsz).toBeGreaterThanOrEqual(next + SIZEOF_CAP_HEADER);
    expect(next).toBeGreaterThanOrEqual(cap);
    cap = next;
  }
}

vfioCompatMockDomain.test('simple_close', () => {
  // Only the fixture.
});

vfioCompatMockDomain.test('option_huge_pages', ({ fd, ioas }, variant) => {
  // struct iommu_option { size, option_id, op, __reserved, object_id, val64 = 3 }
  const cmd = new Cmd(24);
  cmd.u32(0, 24);
  cmd.u32(4, IOMMU_OPTION_HUGE_PAGES);
  cmd.u16(8, IOMMU_OPTION_OP_GET);
  cmd.u64(16, 3n);
  cmd.u32(12, ioas.id);

  expect(fd.rawIoctl(ioctlRequest('IOMMU_OPTION'), cmd.bytes)).toBe(0);
  // type1 disables huge IO pages so that any range can be unmapped
  if (variant.version === VFIO_TYPE1_IOMMU) expect(cmd.u64(16)).toBe(0n);
  else expect(cmd.u64(16)).toBe(1n);
});

vfioCompatMockDomain.test('get_info', ({ fd }) => {
  const getInfo = ioctlRequest('VFIO_IOMMU_GET_INFO');
  const info = infoCmd();

  // the ABI from before capabilities: argsz ends before cap_offset
  resetInfo(info, 16);
  ioctlCheckBuf(fd, getInfo);
  expect(info.u64(8)).not.toBe(0n);
  expect(info.u32(4)).toBe(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);

  // the whole struct: argsz comes back as the size with every capability
  resetInfo(info, SIZEOF_INFO);
  ioctlCheckBuf(fd, getInfo);
  expect(info.u64(8)).not.toBe(0n);
  expect(info.u32(4)).toBe(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
  expect(info.u32(16)).toBe(0);
  expect(info.u32(0)).toBeGreaterThan(SIZEOF_INFO);

  // every argsz up to that: whatever fits must be a well-formed chain
  const caplen = info.u32(0);
  for (let i = SIZEOF_INFO; i < caplen; i++) {
    resetInfo(info, i);
    ioctlCheckBuf(fd, getInfo);
    expect(info.u32(4)).toBe(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
    if (!info.u32(16)) continue;
    checkVfioInfoCapChain(info);
  }
});

vfioCompatMockDomain.test('map', ({ fd }) => {
  const buf = buffer();
  const pagesIova: bigint[] = [];

  // map and unmap the whole buffer
  fd.vfio.mapDma(MOCK_APERTURE_START, buf);
  expect(fd.vfio.unmapDma(MOCK_APERTURE_START, BUFFER_SIZE)).toBe(BigInt(BUFFER_SIZE));
  // unmapping nothing succeeds
  fd.vfio.unmapDma(MOCK_APERTURE_START, BUFFER_SIZE);

  // UNMAP_FLAG_ALL wants iova and size 0
  fd.vfio.mapDma(MOCK_APERTURE_START, buf);
  expectErrno('EINVAL', () => fd.vfio.unmapDma(MOCK_APERTURE_START, BUFFER_SIZE, VFIO_DMA_UNMAP_FLAG_ALL));

  expect(fd.vfio.unmapDma(0, 0, VFIO_DMA_UNMAP_FLAG_ALL)).toBe(BigInt(BUFFER_SIZE));

  // one page at a time, unmapped in random order
  for (let i = 0; i !== BUFFER_SIZE / PAGE_SIZE; i++) {
    pagesIova[i] = MOCK_APERTURE_START + BigInt(i * PAGE_SIZE);
    fd.vfio.mapDma(pagesIova[i]!, buf, { offset: i * PAGE_SIZE, length: PAGE_SIZE });
  }
  shuffleArray(pagesIova);

  for (const iova of pagesIova) fd.vfio.unmapDma(iova, PAGE_SIZE);
});

vfioCompatMockDomain.test('huge_map', ({ fd }, variant) => {
  const bufSize = HUGEPAGE_SIZE * 2;
  const pagesIova: bigint[] = [];

  // hugetlb pages, then unmaps that split them
  const buf = DmaBuffer.alloc(bufSize, hugetlbShared());
  fd.vfio.mapDma(MOCK_APERTURE_START, buf);

  const size = bufSize / 16;
  for (let i = 0; i !== 16; i++) pagesIova[i] = MOCK_APERTURE_START + BigInt(i * size);
  shuffleArray(pagesIova);

  // type1 may cut a mapping anywhere; type1v2 refuses to unmap part of one
  for (const iova of pagesIova) {
    if (variant.version === VFIO_TYPE1_IOMMU) fd.vfio.unmapDma(iova, size);
    else expectErrno('ENOENT', () => fd.vfio.unmapDma(iova, size));
  }
});
