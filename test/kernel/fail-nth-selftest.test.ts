// tools/testing/selftests/iommu/iommufd_fail_nth.c (6.12, and 7.3's
// map_file_domain): every scenario of the basic_fail_nth fixture swept with
// fail-nth on the real kernel. Each run
// must fail cleanly (an IommufdError out of the ioctl) and leave nothing
// behind (see fail-nth-utils.ts for the harness and its checks).
//
// Where the port differs from the C file, because a batch runs ioctls on an
// open iommufd only:
// - basic: open("/dev/iommu") comes before the armed part, not inside it;
// - access_*: closing the access fd (destroying the access) comes after the
//   armed part, in the teardown; in access_pin_domain that puts the armed
//   destroy of the mock device before it (the access holds no pins by then).
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  DmaBuffer,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  type Ioas,
  MOCK_ACCESS_RW_SLOW_PATH,
  MOCK_ACCESS_RW_WRITE,
  MOCK_APERTURE_START,
  MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
  Iommufd,
  MemFile,
  setupFailslab,
} from '../../lib/index.js';
import { capabilities } from '../backend.js';
import { kernelLacks } from '../selftest/harness.js';
import { type FailNthReport, type Step, sweepFailNth } from './fail-nth-utils.js';

const PAGE_SIZE = 4096;
// The C file's global buffer: 2 MiB, MAP_SHARED | MAP_ANONYMOUS.
const BUFFER_SIZE = 2 * 1024 * 1024;
// sizeof(struct iommu_iova_range[10]) in basic.
const RANGES_SIZE = 10 * 16;
// The default of IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, put back afterwards: the
// limit is global to the kernel and other test files share the VM.
const DEFAULT_TEMP_MEMORY_LIMIT = 65536;

let buffer: DmaBuffer;
// The C file's global mfd / mfd_buffer (7.3): a memfd of BUFFER_SIZE.
let mfd: MemFile;
let haveFaultInjection = false;

beforeAll(() => {
  buffer = DmaBuffer.alloc(BUFFER_SIZE, { shared: true });
  mfd = MemFile.create(BUFFER_SIZE);
  haveFaultInjection = setupFailslab();
});

afterAll(() => {
  using fd = Iommufd.open({ backend: 'native' });
  fd.setTempMemoryLimit(DEFAULT_TEMP_MEMORY_LIMIT);
  expect(buffer.mappings).toBe(0);
  buffer.free();
  mfd.close();
});

function report(name: string, result: FailNthReport): void {
  console.log(
    `basic_fail_nth.${name}: ${result.iterations} nth iterations, ${result.failures.length} injected failures ` +
      `(${Object.entries(result.codes)
        .map(([code, n]) => `${code} x${n}`)
        .join(', ')}), ${result.ms} ms`,
  );
  expect(result.iterations).toBeGreaterThan(1);
}

// TEST_FAIL_NTH: skipped only where the kernel has no fault injection (or lacks the ioctl `needs`).
function failNthTest(name: string, body: () => FailNthReport, needs?: 'IOMMU_IOAS_MAP_FILE'): void {
  test(`basic_fail_nth.${name}`, (ctx) => {
    if (needs && !capabilities().ioctls[needs]) kernelLacks(ctx, needs);
    if (!haveFaultInjection) kernelLacks(ctx, 'fault injection');
    report(name, body());
  }, 600_000);
}

// Covers ioas.c.
failNthTest('basic', () =>
  sweepFailNth(
    buffer,
    (fd) => {
      let ioas: Ioas | undefined;
      const adopted = (id: number): Ioas => (ioas ??= fd.adoptIoas(id));
      return {
        steps: {
          ioas: (b) => b.raw('ioasAlloc'),
          ranges: (b, r) => b.raw('ioasIovaRanges', r.ioas),
          allow: (b, r) => b.raw('ioasAllowIovas', r.ioas, BigUint64Array.of(16n * 1024n, BigInt(BUFFER_SIZE + 16 * 1024 * 600 - 1))),
          iova: (b, r) => b.mapAnywhere(adopted(r.ioas), buffer),
          copy: (b, r) => b.copy(adopted(r.ioas), adopted(r.ioas), r.iova, RANGES_SIZE),
          unmap: (b, r) => b.unmap(adopted(r.ioas), r.iova, BUFFER_SIZE),
          // Unmapping what is gone already: the no-IOVA failure path, always ENOENT.
          unmapAgain: (b, r) => b.unmap(adopted(r.ioas), r.iova, BUFFER_SIZE),
        },
        teardown(got, ran) {
          if (!ran('ioas')) return;
          const mapped = (ran('iova') ? BUFFER_SIZE : 0) + (ran('copy') ? RANGES_SIZE : 0) - (ran('unmap') ? BUFFER_SIZE : 0);
          expect(adopted(got.ioas).unmapAll()).toBe(BigInt(mapped));
          adopted(got.ioas).destroy();
        },
      };
    },
    { lastFailsWith: 'ENOENT' },
  ),
);

/**
 * map_domain and map_file_domain: iopt_area_fill_domains() and
 * iopt_area_fill_domain() around the area `map` adds (of `memory`, whose pages
 * must end every run unpinned).
 */
function sweepMapDomain(memory: DmaBuffer, map: (ioas: Ioas) => Step): FailNthReport {
  return sweepFailNth(memory, (fd) => {
    const ioas = fd.allocIoas();
    fd.setTempMemoryLimit(32);
    return {
      steps: {
        domain: (b) => b.raw('testMockDomain', ioas.id),
        iova: map(ioas),
        destroyDomain: (b, r) => b.raw('destroy', r.domain.stdevId),
        domain2: (b) => b.raw('testMockDomain', ioas.id),
      },
      teardown(got, ran) {
        if (ran('domain2')) fd.destroy(got.domain2.stdevId);
        if (ran('domain') && !ran('destroyDomain')) fd.destroy(got.domain.stdevId);
        expect(ioas.unmapAll()).toBe(ran('iova') ? 262144n : 0n);
        ioas.destroy();
      },
    };
  });
}

failNthTest('map_domain', () => sweepMapDomain(buffer, (ioas) => (b) => b.mapAnywhere(ioas, buffer, { length: 262144 })));

// The same with the pages of a file (7.3's IOMMU_IOAS_MAP_FILE).
failNthTest(
  'map_file_domain',
  () =>
    sweepMapDomain(mfd.view, (ioas) => (b) =>
      b.raw('ioasMapFile', ioas.id, IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE, mfd.fd, 0n, 262144n, 0n),
    ),
  'IOMMU_IOAS_MAP_FILE',
);

failNthTest('map_two_domains', () =>
  sweepFailNth(buffer, (fd) => {
    const ioas = fd.allocIoas();
    fd.setTempMemoryLimit(32);
    const device = fd.mockDomain(ioas);
    return {
      steps: {
        domain2: (b) => b.raw('testMockDomain', ioas.id),
        iova: (b) => b.mapAnywhere(ioas, buffer, { length: 262144 }),
        destroyDomain: (b) => b.raw('destroy', device.stdevId),
        destroyDomain2: (b, r) => b.raw('destroy', r.domain2.stdevId),
        domain3: (b) => b.raw('testMockDomain', ioas.id),
        domain4: (b) => b.raw('testMockDomain', ioas.id),
      },
      teardown(got, ran) {
        if (ran('domain4')) fd.destroy(got.domain4.stdevId);
        if (ran('domain3')) fd.destroy(got.domain3.stdevId);
        if (ran('domain2') && !ran('destroyDomain2')) fd.destroy(got.domain2.stdevId);
        if (!ran('destroyDomain')) fd.destroy(device.stdevId);
        expect(ioas.unmapAll()).toBe(ran('iova') ? 262144n : 0n);
        ioas.destroy();
      },
    };
  }),
);

failNthTest('access_rw', () =>
  sweepFailNth(buffer, (fd) => {
    const tmp = new Uint16Array(32);
    const tmpBig = new BigUint64Array(4096);
    const ioas = fd.allocIoas();
    fd.setTempMemoryLimit(32);
    const iova = ioas.mapAnywhere(buffer, { length: 262144 });
    return {
      steps: {
        access: (b) => b.raw('testCreateAccess', ioas.id, 0),
        read: (b, r) => b.raw('testAccessRw', r.access, 0, iova, tmp, 0, tmp.byteLength),
        write: (b, r) => b.raw('testAccessRw', r.access, MOCK_ACCESS_RW_WRITE, iova, tmp, 0, tmp.byteLength),
        readSlow: (b, r) => b.raw('testAccessRw', r.access, MOCK_ACCESS_RW_SLOW_PATH, iova, tmp, 0, tmp.byteLength),
        writeSlow: (b, r) =>
          b.raw('testAccessRw', r.access, MOCK_ACCESS_RW_SLOW_PATH | MOCK_ACCESS_RW_WRITE, iova, tmp, 0, tmp.byteLength),
        readBig: (b, r) => b.raw('testAccessRw', r.access, MOCK_ACCESS_RW_SLOW_PATH, iova, tmpBig, 0, tmpBig.byteLength),
      },
      teardown(got, ran) {
        if (ran('access')) fd.backend.closeAccess(got.access);
        expect(ioas.unmapAll()).toBe(262144n);
        ioas.destroy();
      },
    };
  }),
);

/**
 * access_pin (pages.c access functions) and access_pin_domain
 * (iopt_pages_fill_xarray() from a domain): pin and unpin through an access,
 * the second with a mock domain holding the pages, destroyed last.
 */
function sweepAccessPin(withDomain: boolean): FailNthReport {
  return sweepFailNth(buffer, (fd) => {
    const ioas = fd.allocIoas();
    fd.setTempMemoryLimit(32);
    const device = withDomain ? fd.mockDomain(ioas) : null;
    const iova = ioas.mapAnywhere(buffer);
    const access = fd.createAccess(ioas, { needsPinPages: true });
    return {
      steps: {
        pages: (b) => b.raw('testAccessPages', access.fd, 0, iova, BUFFER_SIZE, buffer.bytes, 0),
        unpin: (b, r) => b.raw('testDestroyAccessPages', access.fd, r.pages),
        ...(device ? { destroyDomain: ((b) => b.raw('destroy', device.stdevId)) as Step } : {}),
      },
      teardown(got, ran) {
        if (ran('pages') && !ran('unpin')) fd.backend.destroyAccessPages(access.fd, got.pages);
        access.close();
        if (device && !ran('destroyDomain')) fd.destroy(device.stdevId);
        expect(ioas.unmapAll()).toBe(BigInt(BUFFER_SIZE));
        ioas.destroy();
      },
    };
  });
}

failNthTest('access_pin', () => sweepAccessPin(false));

failNthTest('access_pin_domain', () => sweepAccessPin(true));

// device.c.
failNthTest('device', () =>
  sweepFailNth(buffer, (fd) => {
    // struct iommu_test_hw_info: flags and test_reg, two u32.
    const info = new Uint8Array(8);
    const ioas = fd.allocIoas();
    const ioas2 = fd.allocIoas();
    ioas.mapFixed(MOCK_APERTURE_START, buffer, { length: PAGE_SIZE });
    ioas2.mapFixed(MOCK_APERTURE_START, buffer, { length: PAGE_SIZE });
    return {
      steps: {
        domain: (b) => b.raw('testMockDomain', ioas.id),
        info: (b, r) => b.raw('getHwInfo', r.domain.idevId, info),
        hwpt: (b, r) => b.raw('hwptAlloc', 0, r.domain.idevId, ioas.id, IOMMU_HWPT_DATA_NONE, null, 0),
        replace: (b, r) => b.raw('testMockDomainReplace', r.domain.stdevId, ioas2.id),
        replace2: (b, r) => b.raw('testMockDomainReplace', r.domain.stdevId, r.hwpt),
      },
      teardown(got, ran) {
        if (ran('domain')) fd.destroy(got.domain.stdevId);
        if (ran('hwpt')) fd.destroy(got.hwpt);
        expect(ioas.unmapAll()).toBe(BigInt(PAGE_SIZE));
        expect(ioas2.unmapAll()).toBe(BigInt(PAGE_SIZE));
        ioas.destroy();
        ioas2.destroy();
      },
    };
  }),
);
