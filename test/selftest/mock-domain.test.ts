// FIXTURE(iommufd_mock_domain) of tools/testing/selftests/iommu/iommufd.c: an
// IOAS with one or two mock domains, and user memory of normal or hugetlb pages
// to map into it, or (7.3's file variants) a memfd mapped with IOMMU_IOAS_MAP_FILE.
// On a kernel without MAP_FILE the file variants' tests that map a file skip
// with "kernel lacks"; the others run as on the memory variants.
import {
  DmaBuffer,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  MemFile,
  MOCK_APERTURE_START,
  type DmaBufferOptions,
  type Hwpt,
  type Iommufd,
  type Ioas,
  type Memory,
  type MockDevice,
} from '../../lib/index.js';
import { capabilities, openIommufd } from '../backend.js';
import { expectErrno } from '../helpers.js';
import {
  BUFFER_SIZE,
  HUGEPAGE_SIZE,
  MOCK_PAGE_SIZE,
  PAGE_SIZE,
  buffer,
  fixture,
  hugetlbShared,
  kernelLacks,
  memFile,
  teardownIommufd,
} from './harness.js';

interface MockDomainVariant {
  mockDomains: number;
  hugepages: boolean;
  /** Map memfds (IOMMU_IOAS_MAP_FILE) instead of memory. */
  file: boolean;
}

type Ctx = { skip: (note?: string) => void };

interface MockDomainSelf {
  fd: Iommufd;
  ioas: Ioas;
  /** hwpt_ids[]: the HWPT of each mock device; slot 1 is swapped by all_aligns_copy. */
  hwpts: (Hwpt | undefined)[];
  /** stdev_ids[] / idev_ids[]: the mock devices. */
  mocks: MockDevice[];
  /** mmap_flags: MAP_SHARED | MAP_ANONYMOUS, plus MAP_HUGETLB for the hugepage variants. */
  mmapOptions: DmaBufferOptions;
  mmapBufSize: number;
}

const iommufd_mock_domain = fixture<MockDomainSelf, MockDomainVariant>(
  'iommufd_mock_domain',
  {
    one_domain: { mockDomains: 1, hugepages: false, file: false },
    two_domains: { mockDomains: 2, hugepages: false, file: false },
    one_domain_hugepage: { mockDomains: 1, hugepages: true, file: false },
    two_domains_hugepage: { mockDomains: 2, hugepages: true, file: false },
    one_domain_file: { mockDomains: 1, hugepages: false, file: true },
    one_domain_file_hugepage: { mockDomains: 1, hugepages: true, file: true },
  },
  (variant) => {
    const fd = openIommufd();
    const self: MockDomainSelf = {
      fd,
      ioas: fd.allocIoas(),
      hwpts: [],
      mocks: [],
      mmapOptions: { shared: true },
      mmapBufSize: PAGE_SIZE * 8,
    };
    for (let i = 0; i !== variant.mockDomains; i++) {
      const mock = fd.mockDomain(self.ioas);
      self.mocks.push(mock);
      self.hwpts.push(mock.hwpt);
    }
    if (variant.hugepages) {
      self.mmapOptions = hugetlbShared();
      self.mmapBufSize = HUGEPAGE_SIZE * 2;
    }
    return self;
  },
  (self) => teardownIommufd(self.fd),
);

/** check_mock_iova(): every mock domain of the fixture maps `iova` to memory[offset, offset + length). */
function checkMockIova(self: MockDomainSelf, memory: Memory, offset: number, iova: bigint, length: number): void {
  self.hwpts[0]!.checkMap(iova, memory, { offset, length });
  if (self.hwpts[1]) self.hwpts[1].checkMap(iova, memory, { offset, length });
}

/** The whole pages under [start, end): check_refs()'s window in all_aligns*. */
function pageWindow(start: number, end: number): { offset: number; length: number } {
  const first = Math.floor(start / PAGE_SIZE) * PAGE_SIZE;
  return { offset: first, length: Math.floor(end / PAGE_SIZE) * PAGE_SIZE - first };
}

/** A file variant's test maps files: only on a kernel with IOMMU_IOAS_MAP_FILE (7.3). */
function checkMapFile(variant: MockDomainVariant, ctx: Ctx): void {
  if (variant.file && !capabilities().ioctls.IOMMU_IOAS_MAP_FILE) kernelLacks(ctx, 'IOMMU_IOAS_MAP_FILE');
}

/** test_basic_file() */
function basicFile(self: MockDomainSelf): void {
  const bufSize = self.mmapBufSize;

  // One page of the global memfd.
  const iova = self.ioas.mapFile(memFile(), { length: PAGE_SIZE });
  checkMockIova(self, memFile().view, 0, iova, PAGE_SIZE);

  const tmp = MemFile.create(bufSize);
  // A length that is no whole number of IO pages.
  expectErrno('EINVAL', () => self.ioas.mapFile(tmp, { length: bufSize + 1 }));

  // An empty file: memfd_pin_folios() finds nothing to pin.
  tmp.resize(0);
  expectErrno('EINVAL', () => self.ioas.mapFile(tmp, { length: bufSize }));
  tmp.close();
}

iommufd_mock_domain.test('basic', (self, variant, ctx) => {
  checkMapFile(variant, ctx);
  if (variant.file) return basicFile(self);
  const bufSize = self.mmapBufSize;

  // One page of the global buffer.
  const iova = self.ioas.mapAnywhere(buffer(), { length: PAGE_SIZE });
  checkMockIova(self, buffer(), 0, iova, PAGE_SIZE);

  const buf = DmaBuffer.alloc(bufSize, self.mmapOptions);

  // The second half is gone: pinning fails part way through.
  buf.unsafeUnmap(bufSize / 2, bufSize / 2);
  expectErrno('EFAULT', () => self.ioas.mapAnywhere(buf, { length: bufSize }));

  // Nothing left: pinning fails on the first page.
  buf.unsafeUnmap(0, bufSize / 2);
  expectErrno('EFAULT', () => self.ioas.mapAnywhere(buf, { length: bufSize }));
  buf.free();
});

iommufd_mock_domain.test('ro_unshare', (self) => {
  // A private file mapping: its page is the page cache's until written.
  const buf = DmaBuffer.mapFile('/proc/self/exe', PAGE_SIZE);

  // A read-only long-term pin of a private mapping must take the process's own
  // copy up front (GUP unshare), so the later write keeps the PFN the domain has.
  const iova = self.ioas.mapAnywhere(buf, { length: PAGE_SIZE, writeable: false });
  checkMockIova(self, buf, 0, iova, PAGE_SIZE);
  buf.bytes.fill(1, 0, PAGE_SIZE);
  checkMockIova(self, buf, 0, iova, PAGE_SIZE);
  // The C test munmap()s here; a DmaBuffer is released with the IOAS at teardown.
});

/**
 * all_aligns and all_aligns_copy: every start and length at mock page
 * granularity is mapped, handed to `check` while it exists, and unmapped. The
 * hugepage variants step the start coarsely, and their end begins at bufSize,
 * so the inner loop never runs.
 */
function allAligns(
  self: MockDomainSelf,
  variant: MockDomainVariant,
  check: (buf: DmaBuffer, start: number, end: number, iova: bigint) => void,
): void {
  const testStep = variant.hugepages ? self.mmapBufSize / 16 : MOCK_PAGE_SIZE;
  const bufSize = self.mmapBufSize;

  // The file variants map [start, end) of a memfd; `buf` is its view.
  const file = variant.file ? MemFile.create(bufSize) : null;
  const buf = file ? file.view : DmaBuffer.alloc(bufSize, self.mmapOptions);
  self.fd.checkRefs(buf, 0);

  for (let start = 0; start < bufSize; start += testStep) {
    let end = variant.hugepages ? bufSize : start + MOCK_PAGE_SIZE;
    for (; end < bufSize; end += MOCK_PAGE_SIZE) {
      const length = end - start;
      const iova = file ? self.ioas.mapFile(file, { offset: start, length }) : self.ioas.mapAnywhere(buf, { offset: start, length });
      check(buf, start, end, iova);
      self.ioas.unmap(iova, length);
    }
  }
  self.fd.checkRefs(buf, 0);
  if (file) file.close();
  else buf.free();
}

iommufd_mock_domain.test('all_aligns', (self, variant, ctx) => {
  checkMapFile(variant, ctx);
  allAligns(self, variant, (buf, start, end, iova) => {
    checkMockIova(self, buf, start, iova, end - start);
    self.fd.checkRefs(buf, 1, pageWindow(start, end));
  });
});

iommufd_mock_domain.test('all_aligns_copy', (self, variant, ctx) => {
  checkMapFile(variant, ctx);
  // As all_aligns, with a mock domain attached and destroyed while each area exists.
  allAligns(self, variant, (buf, start, end, iova) => {
    const old = self.hwpts[1];
    const mock = self.fd.mockDomain(self.ioas);
    self.hwpts[1] = mock.hwpt;

    checkMockIova(self, buf, start, iova, end - start);
    self.fd.checkRefs(buf, 1, pageWindow(start, end));

    mock.destroy();
    self.hwpts[1] = old;
  });
});

iommufd_mock_domain.test('user_copy', (self, variant, ctx) => {
  checkMapFile(variant, ctx);
  const copy = { dstIova: MOCK_APERTURE_START, readable: false, writeable: true };
  // The global buffer, or the global memfd's view for the file variants.
  const buf = variant.file ? memFile().view : buffer();
  const mapWhole = (ioas: Ioas) =>
    variant.file ? ioas.mapFile(memFile(), { length: BUFFER_SIZE }) : ioas.mapAnywhere(buf, { length: BUFFER_SIZE });

  // Pages pinned through an access on an IOAS without domains, copied into the fixture's IOAS.
  const ioas = self.fd.allocIoas();
  let srcIova = mapWhole(ioas);

  const access = self.fd.createAccess(ioas, { needsPinPages: true });

  access.pinPages(srcIova, BUFFER_SIZE, { verify: { memory: buf } });
  self.ioas.copyFrom(ioas, srcIova, BUFFER_SIZE, copy);
  checkMockIova(self, buf, 0, MOCK_APERTURE_START, BUFFER_SIZE);

  // Move the access to a new IOAS.
  const newIoas = self.fd.allocIoas();
  srcIova = mapWhole(newIoas);
  access.replaceIoas(newIoas);

  // Drop the copy and the old IOAS.
  self.ioas.unmap(MOCK_APERTURE_START, BUFFER_SIZE);
  ioas.destroy();

  // The same again from the new IOAS.
  const pinned = access.pinPages(srcIova, BUFFER_SIZE, { verify: { memory: buf } });
  self.ioas.copyFrom(newIoas, srcIova, BUFFER_SIZE, copy);
  checkMockIova(self, buf, 0, MOCK_APERTURE_START, BUFFER_SIZE);

  pinned.unpin();
  access.close();

  newIoas.destroy();
});

iommufd_mock_domain.test('replace', (self, variant) => {
  const ioas = self.fd.allocIoas();

  self.mocks[0]!.replace(ioas);

  // With one device, leaving the fixture's IOAS freed its automatic HWPT.
  if (variant.mockDomains === 1) expectErrno('ENOENT', () => self.mocks[0]!.replace(self.hwpts[0]!));

  self.mocks[0]!.replace(ioas);
  if (variant.mockDomains >= 2) {
    self.mocks[0]!.replace(self.hwpts[1]!);
    self.mocks[0]!.replace(self.hwpts[1]!);
    self.mocks[0]!.replace(self.hwpts[0]!);
  }

  self.mocks[0]!.replace(self.ioas);
  ioas.destroy();
});

iommufd_mock_domain.test('alloc_hwpt', (self, variant) => {
  for (let i = 0; i !== variant.mockDomains; i++) {
    const mock = self.mocks[i]!;

    expectErrno('EOPNOTSUPP', () =>
      self.fd.allocHwpt(mock.idevId, self.ioas, { flags: ~IOMMU_HWPT_ALLOC_NEST_PARENT >>> 0 }),
    );
    const hwpt0 = self.fd.allocHwpt(mock.idevId, self.ioas);
    const hwpt1 = self.fd.allocHwpt(mock.idevId, self.ioas, { nestParent: true });

    // Rotate the device through both HWPTs: each is busy while attached.
    mock.replace(hwpt0);
    expectErrno('EBUSY', () => hwpt0.destroy());
    mock.replace(hwpt1);
    expectErrno('EBUSY', () => hwpt1.destroy());
    mock.replace(self.ioas);
    hwpt1.destroy();

    const stddev = self.fd.mockDomain(hwpt0);
    stddev.destroy();
    hwpt0.destroy();
  }
});
