// IOMMU_IOAS_NOIOMMU_GET_PA with a real no-IOMMU device: QEMU's edu with no
// IOMMU in front of it, bound to vfio-pci in VFIO's unsafe no-IOMMU mode (the
// `noiommu` VM profile). On 7.3 with CONFIG_IOMMUFD_NOIOMMU its cdev is
// noiommu-vfioN; attached to an IOAS it gets a software-only page table (the
// no-IOMMU domain), and GET_PA reads the physical addresses of what is mapped
// there. Checked against /proc/self/pagemap (root sees the PFNs), page by page,
// with the kernel's rule for the physically contiguous length. 6.12 lacks the
// ioctl: those tests skip with "kernel lacks ...".
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { DmaBuffer, EDU_DEVICE_ID, EDU_VENDOR_ID, Iommufd, VfioDevice, bindPciToVfio, listPciDevices, setCapSysRawio, type Ioas } from '../../lib/index.js';
import { addon } from '../../lib/native/binding.js';
import { capabilities, kernelVersion, requires } from '../backend.js';
import { PAGE_SIZE, expectErrno } from '../helpers.js';

const OP = 'IOMMU_IOAS_NOIOMMU_GET_PA';
const P = BigInt(PAGE_SIZE);
const PFN_MASK = (1n << 55n) - 1n;
const PRESENT = 1n << 63n;
const IOVA = 0x1000_0000n;

test('the rig: no IOMMU, the edu device, VFIO in unsafe no-IOMMU mode', () => {
  // The selftest mock registers an IOMMU of its own (iommufd_selftest_iommu.0); no hardware one.
  const iommus = existsSync('/sys/class/iommu') ? readdirSync('/sys/class/iommu') : [];
  expect(iommus.filter((name) => !name.startsWith('iommufd_selftest'))).toEqual([]);
  const edus = listPciDevices({ vendor: EDU_VENDOR_ID, device: EDU_DEVICE_ID });
  expect(edus).toHaveLength(1);
  // No IOMMU in front of edu: its device has no iommu link (dev->iommu is NULL).
  expect(existsSync(`/sys/bus/pci/devices/${edus[0]!.bdf}/iommu`)).toBe(false);
  expect(readFileSync('/sys/module/vfio/parameters/enable_unsafe_noiommu_mode', 'utf8').trim()).toBe('Y');
});

test('NOIOMMU_GET_PA is there on 7.3 (CONFIG_IOMMUFD_NOIOMMU); 6.12 answers ENOTTY', () => {
  const has = kernelVersion() === '7.3';
  expect(capabilities().ioctls[OP]).toBe(has);
  if (has) return;
  using fd = Iommufd.open({ backend: 'native' });
  expectErrno('ENOTTY', () => fd.allocIoas().noiommuGetPa(0, PAGE_SIZE), OP);
});

/** Physical addresses of `pages` pages of `buffer` from byte `offset`, from /proc/self/pagemap. */
function physPages(buffer: DmaBuffer, offset: number, pages: number): bigint[] {
  return [...addon().pagemap(buffer.bytes, offset, pages)].map((entry, i) => {
    if (!(entry & PRESENT)) throw new Error(`page ${i} of the buffer is not present`);
    const pfn = entry & PFN_MASK;
    if (pfn === 0n) throw new Error('pagemap hides PFNs: run as root (CAP_SYS_ADMIN)');
    return pfn * P;
  });
}

/**
 * What iopt_get_phys() answers for `iova` of an area mapping `buffer` whole at
 * `areaIova`: the address, and the bytes physically contiguous from there, page
 * by page until a discontiguity, the area's end or `max` bytes, capped by `max`.
 */
function expected(buffer: DmaBuffer, areaIova: bigint, iova: bigint, max: bigint): { phys: bigint; length: bigint } {
  const offset = Number(iova - areaIova);
  const areaLast = areaIova + BigInt(buffer.length) - 1n;
  const first = Math.floor(offset / PAGE_SIZE);
  const phys = physPages(buffer, first * PAGE_SIZE, buffer.length / PAGE_SIZE - first);
  const inPage = BigInt(offset % PAGE_SIZE);
  let length = P - inPage < areaLast - iova + 1n ? P - inPage : areaLast - iova + 1n;
  for (let i = 1; i < phys.length && length < max; i++) {
    if (phys[i] !== phys[i - 1]! + P) break;
    length += P;
  }
  return { phys: phys[0]! + inPage, length: length > max ? max : length };
}

describe('7.3: a no-IOMMU VFIO device', () => {
  let fd: Iommufd;
  let device: VfioDevice;
  let ioas: Ioas;
  const buffers: DmaBuffer[] = [];

  beforeEach((ctx) => {
    requires(ctx, OP);
    const [edu] = listPciDevices({ vendor: EDU_VENDOR_ID, device: EDU_DEVICE_ID });
    const cdev = bindPciToVfio(edu!.bdf);
    expect(basename(cdev)).toMatch(/^noiommu-vfio\d+$/);
    fd = Iommufd.open({ backend: 'native' });
    device = VfioDevice.open(cdev);
    device.bind(fd);
    ioas = fd.allocIoas();
    device.attach(ioas);
  });

  afterEach(() => {
    device?.close();
    fd?.close();
    for (const b of buffers.splice(0)) b.free();
  });

  function buffer(length: number, options: Parameters<typeof DmaBuffer.alloc>[1] = {}): DmaBuffer {
    const b = DmaBuffer.alloc(length, options);
    buffers.push(b);
    b.bytes.fill(0x5a); // fault every page in (the map pins them anyway)
    return b;
  }

  test('every page: the physical address pagemap shows, and the contiguous length rule', () => {
    const mem = buffer(16 * PAGE_SIZE);
    ioas.mapFixed(IOVA, mem);
    for (let page = 0; page < 16; page++) {
      for (const inPage of [0n, 1n, 0x123n, P - 1n]) {
        const iova = IOVA + BigInt(page) * P + inPage;
        for (const max of [1n, P, 3n * P + 5n, 64n * P]) {
          const got = ioas.noiommuGetPa(iova, max);
          expect([page, inPage, max, got]).toEqual([page, inPage, max, expected(mem, IOVA, iova, max)]);
        }
      }
    }
    // Numbers work as well as bigints; lengths never pass the area's end.
    const last = ioas.noiommuGetPa(Number(IOVA) + 15 * PAGE_SIZE + 16, 2 ** 40);
    expect(last.length).toBe(P - 16n);
    expect(last.phys).toBe(physPages(mem, 15 * PAGE_SIZE, 1)[0]! + 16n);
  });

  test('a transparent huge page reads as one contiguous run where the kernel granted one', () => {
    const huge = 2 * 1024 * 1024;
    const mem = buffer(huge, { hugePages: 'transparent' });
    ioas.mapFixed(IOVA, mem);
    const got = ioas.noiommuGetPa(IOVA, BigInt(huge));
    expect(got).toEqual(expected(mem, IOVA, IOVA, BigInt(huge)));
    // The same run, started half way, capped by what is asked.
    expect(ioas.noiommuGetPa(IOVA + 256n * P, 7n * P)).toEqual(expected(mem, IOVA, IOVA + 256n * P, 7n * P));
  });

  test('errors around the device: unmapped, other IOAS, no CAP_SYS_RAWIO, bad flags', () => {
    const mem = buffer(4 * PAGE_SIZE);
    ioas.mapFixed(IOVA, mem);
    expectErrno('ENOENT', () => ioas.noiommuGetPa(IOVA - 1n, P), OP);
    expectErrno('ENOENT', () => ioas.noiommuGetPa(IOVA + 4n * P, P), OP);
    expectErrno('EINVAL', () => ioas.noiommuGetPa(IOVA, 0), OP);
    expectErrno('EOPNOTSUPP', () => fd.backend.ioasNoiommuGetPa(ioas.id, 1, IOVA, P), OP);
    expectErrno('EOPNOTSUPP', () => fd.backend.ioasNoiommuGetPa(ioas.id, 0, IOVA, P, 1), OP);
    setCapSysRawio(false);
    try {
      expectErrno('EPERM', () => ioas.noiommuGetPa(IOVA, P), OP);
    } finally {
      setCapSysRawio(true);
    }
    // An IOAS the device is not attached to has no no-IOMMU domain.
    const other = fd.allocIoas();
    other.mapFixed(IOVA, mem);
    expectErrno('EOPNOTSUPP', () => other.noiommuGetPa(IOVA, P), OP);
    // Unmapped: nothing there any more; mapped again: the same pages.
    const before = ioas.noiommuGetPa(IOVA, P);
    expect(ioas.unmap(IOVA, 4n * P)).toBe(4n * P);
    expectErrno('ENOENT', () => ioas.noiommuGetPa(IOVA, P), OP);
    ioas.mapFixed(IOVA + 64n * P, mem);
    expect(ioas.noiommuGetPa(IOVA + 64n * P, P)).toEqual(before);
  });

  test('detached: the mapping stays but leaves the no-IOMMU domain (EOPNOTSUPP)', () => {
    const mem = buffer(2 * PAGE_SIZE);
    ioas.mapFixed(IOVA, mem);
    expect(ioas.noiommuGetPa(IOVA, P).phys).toBe(physPages(mem, 0, 1)[0]);
    device.detach();
    expectErrno('EOPNOTSUPP', () => ioas.noiommuGetPa(IOVA, P), OP);
    // Attached again, the area is stored in the new domain.
    device.attach(ioas);
    expect(ioas.noiommuGetPa(IOVA, 2n * P)).toEqual(expected(mem, IOVA, IOVA, 2n * P));
  });
});
