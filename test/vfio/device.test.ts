// A real VFIO device (QEMU's edu) behind a real (emulated) Intel VT-d, driven
// through its cdev on iommufd: bind, attach, replace, detach, close; regions,
// config space, MMIO, IRQs; hw info; IOVA ranges; bad input.
import { openSync, closeSync } from 'node:fs';
import { afterEach, describe, expect, test } from 'vitest';
import { DmaBuffer, Iommufd, IommufdError } from '../../lib/index.js';
import {
  PCI_COMMAND,
  PCI_COMMAND_MASTER,
  VFIO_PCI_BAR0_REGION_INDEX,
  VFIO_PCI_CONFIG_REGION_INDEX,
  VFIO_PCI_INTX_IRQ_INDEX,
  VFIO_PCI_MSIX_IRQ_INDEX,
  VFIO_PCI_MSI_IRQ_INDEX,
  VfioDevice,
  listPciDevices,
} from '../../lib/vfio/device.js';
import { decodeHwInfo, decodeVtdCap, decodeVtdEcap } from '../../lib/vfio/vtd.js';
import { expectErrno } from '../helpers.js';
import { KernelLog, type Rig, eduCdev, eduDevice, missing, openRig } from './helpers.js';

const MSI_START = 0xfee00000n;
const MSI_LAST = 0xfeefffffn;

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanup.splice(0).reverse()) fn();
});

function rig(): Rig {
  const r = openRig();
  cleanup.push(() => r[Symbol.dispose]());
  return r;
}

describe.skipIf(missing())('VFIO cdev device on iommufd (edu behind emulated VT-d)', () => {
  test('the edu is bound to vfio-pci and has a VFIO cdev', () => {
    const found = eduDevice() as { bdf: string; cdev: string };
    const [pci] = listPciDevices({ vendor: 0x1234, device: 0x11e8 });
    expect(pci).toMatchObject({ bdf: found.bdf, driver: 'vfio-pci', vfioCdev: found.cdev });
    expect(pci!.iommuGroup).not.toBeNull();
    expect(found.cdev).toMatch(/^\/dev\/vfio\/devices\/vfio\d+$/);
  });

  test('bind gives a device id; device, region and IRQ info', () => {
    const { device, devId } = rig();
    expect(devId).toBeGreaterThan(0);
    expect(device.devId).toBe(devId);
    const info = device.info();
    expect(info).toMatchObject({ pci: true, numRegions: 9, numIrqs: 5 });

    const bar0 = device.regionInfo(VFIO_PCI_BAR0_REGION_INDEX);
    expect(bar0).toMatchObject({ size: 1024n * 1024n, readable: true, writeable: true, mmap: true });
    const config = device.regionInfo(VFIO_PCI_CONFIG_REGION_INDEX);
    expect(config).toMatchObject({ size: 256n, readable: true, writeable: true, mmap: false });
    expect(config.offset).not.toBe(bar0.offset);
    expect(device.regionInfo(1).size).toBe(0n); // BAR1 unimplemented
    expectErrno('EINVAL', () => device.regionInfo(8), 'VFIO_DEVICE_GET_REGION_INFO'); // no VGA region

    expect(device.irqInfo(VFIO_PCI_INTX_IRQ_INDEX)).toMatchObject({ count: 1, eventfd: true, maskable: true, automasked: true });
    expect(device.irqInfo(VFIO_PCI_MSI_IRQ_INDEX)).toMatchObject({ count: 1, eventfd: true, noresize: true });
    expect(device.irqInfo(VFIO_PCI_MSIX_IRQ_INDEX).count).toBe(0);
  });

  test('config space through the config region, bounds-checked', () => {
    const { device } = rig();
    expect(device.pciIds()).toEqual({ vendor: 0x1234, device: 0x11e8 });
    expect(device.readConfig(0, 4)).toEqual(new Uint8Array([0x34, 0x12, 0xe8, 0x11]));
    expect(device.readConfig32(0)).toBe(0x11e81234);
    device.setBusMaster(true);
    expect(device.readConfig16(PCI_COMMAND) & PCI_COMMAND_MASTER).toBe(PCI_COMMAND_MASTER);
    device.setBusMaster(false);
    expect(device.readConfig16(PCI_COMMAND) & PCI_COMMAND_MASTER).toBe(0);
    expect(() => device.readConfig(250, 10)).toThrow(RangeError);
    expect(() => device.writeConfig(255, new Uint8Array(2))).toThrow(RangeError);
    expect(() => device.readConfig(-1, 1)).toThrow(RangeError);
    expect(() => device.writeConfig16(PCI_COMMAND, 0x10000)).toThrow(RangeError);
  });

  test('MMIO on BAR0 through explicitly sized volatile accessors', () => {
    const { device } = rig();
    using bar = device.mapRegion(VFIO_PCI_BAR0_REGION_INDEX);
    expect(bar.length).toBe(1024 * 1024);
    expect(bar.read32(0x00) & 0xff).toBe(0xed); // edu id 0xRRrr00ed
    expect(bar.read32(0x00) >>> 24).toBeGreaterThanOrEqual(1);
    bar.write32(0x04, 0x12345678); // liveness: reads back inverted
    expect(bar.read32(0x04)).toBe(~0x12345678 >>> 0);
    bar.write64(0x80, 0x0123456789abcdefn); // DMA source: a 64-bit register
    expect(bar.read64(0x80)).toBe(0x0123456789abcdefn);
    expect(bar.read32(0x80)).toBe(0x89abcdef);
    bar.write64(0x80, 0);

    // Width, alignment and bounds are enforced before any access.
    expect(() => bar.read32(2)).toThrow(/not aligned to the 4-byte access/);
    expect(() => bar.read64(0x84)).toThrow(/not aligned to the 8-byte access/);
    expect(() => bar.read32(1024 * 1024)).toThrow(/outside the 1048576-byte mapping/);
    expect(() => bar.read64(1024 * 1024 - 4)).toThrow(RangeError);
    expect(() => bar.write32(0x04, 2 ** 32)).toThrow(RangeError);
    expect(() => bar.write8(0x04, 256)).toThrow(RangeError);
    expect(() => bar.read32(-4)).toThrow(RangeError);
    expect((bar as unknown as { buffer?: unknown }).buffer).toBeUndefined(); // no typed-array view of MMIO

    bar.unmap();
    expect(() => bar.read32(0)).toThrow(/unmapped/);
    expect(() => device.mapRegion(VFIO_PCI_CONFIG_REGION_INDEX)).toThrow(/cannot be mmap\(\)ed/);
    expect(() => device.mapRegion(VFIO_PCI_BAR0_REGION_INDEX, { offset: 100 })).toThrow(/page aligned/);
    expect(() => device.mapRegion(VFIO_PCI_BAR0_REGION_INDEX, { length: 2 * 1024 * 1024 })).toThrow(/past the end/);
  });

  test('a BAR mapping forbids clearing Memory Space Enable (the next access would SIGBUS)', () => {
    const { device } = rig();
    using bar = device.mapRegion(VFIO_PCI_BAR0_REGION_INDEX, { length: 4096 });
    expect(() => device.writeConfig16(PCI_COMMAND, 0)).toThrow(/Memory Space Enable/);
    expect(bar.read32(0) & 0xff).toBe(0xed);
  });

  test('hw info: Intel VT-d, with cap/ecap decoded and equal to what the kernel logged at boot', () => {
    const { fd, devId } = rig();
    const hw = decodeHwInfo(fd.hwInfo(devId));
    expect(hw.type).toBe('intel-vtd');
    expect(hw.typeNumber).toBe(1);
    if (hw.type !== 'intel-vtd') return;
    // QEMU: caching-mode=on, intremap=on, 39-bit (3-level) address width by default.
    expect(hw.cap.cachingMode).toBe(true);
    expect(hw.cap.maxGuestAddressWidth).toBe(39);
    expect(hw.cap.supportedAddressWidths).toContain(39);
    expect(hw.cap.secondStageLargePages).toContain('2M');
    expect(hw.ecap.interruptRemapping).toBe(true);
    expect(hw.ecap.queuedInvalidation).toBe(true);
    expect(hw.ecap.passThrough).toBe(true);
    // Neither scalable mode nor nesting in QEMU's default VT-d: no dirty tracking.
    expect(hw.ecap.scalableMode).toBe(false);
    expect(hw.ecap.nested).toBe(false);
    expect(hw.capabilities.dirtyTracking).toBe(false);
    expect(hw.errata772415).toBe(true); // the driver always sets it (read-only nest-parent mappings)

    // "DMAR: dmar0: reg_base_addr fed90000 ver 1:0 cap d2008c22260286 ecap f00f4a"
    const log = new KernelLog();
    const line = log.since().find((l) => /dmar\d+: reg_base_addr .* cap [0-9a-f]+ ecap [0-9a-f]+/.test(l));
    expect(line, 'the boot log has the DMAR registers').toBeDefined();
    const [, cap, ecap] = /cap ([0-9a-f]+) ecap ([0-9a-f]+)/.exec(line!)!;
    expect(hw.capReg).toBe(BigInt(`0x${cap}`));
    expect(hw.ecapReg).toBe(BigInt(`0x${ecap}`));
    expect(decodeVtdCap(hw.capReg)).toEqual(hw.cap);
    expect(decodeVtdEcap(hw.ecapReg)).toEqual(hw.ecap);
  });

  test('attach to an IOAS makes an automatic HWPT; attach again replaces; detach', () => {
    const { fd, device, devId, ioas, hwptId: auto } = rig();
    expect(auto).not.toBe(ioas.id);
    expect(device.attachedPtId).toBe(auto);
    expectErrno('EBUSY', () => ioas.destroy(), 'IOMMU_DESTROY'); // the device's HWPT holds it

    // Replace: onto an explicitly allocated HWPT of the same IOAS.
    const hwpt = fd.allocHwpt(devId, ioas);
    expect(device.attach(hwpt)).toBe(hwpt.id);
    expectErrno('ENOENT', () => fd.destroy(auto)); // the automatic HWPT went with the replace
    expectErrno('EBUSY', () => hwpt.destroy());

    // Replace again: onto another IOAS (a new automatic HWPT).
    const other = fd.allocIoas();
    const auto2 = device.attach(other);
    expect(auto2).not.toBe(other.id);
    hwpt.destroy();

    device.detach();
    expect(device.attachedPtId).toBeUndefined();
    expectErrno('ENOENT', () => fd.destroy(auto2));
    other.destroy();
    expect(device.attach(ioas)).toBeGreaterThan(0); // attach again after detach
    device.detach();
    ioas.destroy();
  });

  test('IOVA ranges exclude the MSI window once the device is attached', () => {
    const fd = Iommufd.open({ backend: 'native' });
    cleanup.push(() => fd.close());
    const ioas = fd.allocIoas();
    expect(ioas.iovaRanges().ranges).toEqual([{ start: 0n, last: 0xffffffffffffffffn }]);

    const { ioas: attached } = rig();
    const { ranges, alignment } = attached.iovaRanges();
    expect(alignment).toBe(4096n);
    for (const r of ranges) expect(r.last < MSI_START || r.start > MSI_LAST, `range ${r.start}-${r.last}`).toBe(true);
    // Exactly the window is cut out of the 39-bit aperture.
    expect(ranges).toEqual([
      { start: 0n, last: MSI_START - 1n },
      { start: MSI_LAST + 1n, last: (1n << 39n) - 1n },
    ]);
    using buffer = DmaBuffer.alloc(4096);
    expectErrno('EINVAL', () => attached.mapFixed(MSI_START, buffer), 'IOMMU_IOAS_MAP');
    expectErrno('EINVAL', () => attached.mapFixed(1n << 39n, buffer), 'IOMMU_IOAS_MAP'); // beyond the aperture
    const at = attached.mapFixed(MSI_START - 4096n, buffer); // right below is fine
    attached.unmap(at, 4096);
  });

  test('an IOAS that already maps the MSI window cannot take the device (EADDRINUSE)', () => {
    const fd = Iommufd.open({ backend: 'native' });
    const device = VfioDevice.open(eduCdev());
    cleanup.push(() => {
      device.close();
      fd.close();
    });
    device.bind(fd);
    const ioas = fd.allocIoas();
    using buffer = DmaBuffer.alloc(4096);
    ioas.mapFixed(MSI_START, buffer);
    expectErrno('EADDRINUSE', () => device.attach(ioas), 'VFIO_DEVICE_ATTACH_IOMMUFD_PT');
    ioas.unmapAll();
    expect(device.attach(ioas)).toBeGreaterThan(0);
  });

  test('HWPT flags the emulated IOMMU lacks are refused cleanly (EOPNOTSUPP)', () => {
    const { fd, devId, ioas } = rig();
    const err = expectErrno('EOPNOTSUPP', () => fd.allocHwpt(devId, ioas, { dirtyTracking: true }), 'IOMMU_HWPT_ALLOC');
    expect(err.message).toMatch(/does not support/);
    expectErrno('EOPNOTSUPP', () => fd.allocHwpt(devId, ioas, { nestParent: true }), 'IOMMU_HWPT_ALLOC');
    const plain = fd.allocHwpt(devId, ioas);
    plain.destroy();
  });

  test('reset: the edu has no reset method, and says so', () => {
    const { device } = rig();
    expect(device.info().reset).toBe(false);
    const err = expectErrno('EINVAL', () => device.reset(), 'VFIO_DEVICE_RESET');
    expect(err.message).toMatch(/no reset method/);
  });

  test('close without detach releases the HWPT and the IOAS; the device can be bound again', () => {
    const fd = Iommufd.open({ backend: 'native' });
    cleanup.push(() => fd.close());
    const device = VfioDevice.open(eduCdev());
    device.bind(fd);
    const ioas = fd.allocIoas();
    const hwptId = device.attach(ioas);
    using buffer = DmaBuffer.alloc(8192);
    ioas.mapFixed(0x100000, buffer);
    const bar = device.mapRegion(VFIO_PCI_BAR0_REGION_INDEX, { length: 4096 });
    device.close(); // no detach, a live BAR mapping
    expect(device.closed).toBe(true);
    expect(bar.unmapped).toBe(true); // close() unmapped it, so the device file really closed
    expectErrno('ENOENT', () => fd.destroy(hwptId));
    ioas.unmapAll();
    ioas.destroy();

    const again = VfioDevice.open(eduCdev());
    cleanup.push(() => again.close());
    expect(again.bind(fd)).toBeGreaterThan(0);
    expect(again.attach(fd.allocIoas())).toBeGreaterThan(0);
  });

  describe('bad input gives clear errors', () => {
    test('binding to something that is not an iommufd', () => {
      const device = VfioDevice.open(eduCdev());
      cleanup.push(() => device.close());
      const devNull = openSync('/dev/null', 'r');
      cleanup.push(() => closeSync(devNull));
      const err = expectErrno('EBADFD', () => device.bind(devNull), 'VFIO_DEVICE_BIND_IOMMUFD');
      expect(err.message).toMatch(/is not an iommufd/);
      expectErrno('EBADF', () => device.bind(65535), 'VFIO_DEVICE_BIND_IOMMUFD');
      expect(() => device.bind(-1)).toThrow(RangeError);
      expect(device.devId).toBeUndefined();
      const fd = Iommufd.open({ backend: 'native' });
      cleanup.push(() => fd.close());
      expect(device.bind(fd)).toBeGreaterThan(0); // still bindable after the failures
    });

    test('double bind, and a second open of a bound device', () => {
      const { fd, device, devId } = rig();
      const err = expectErrno('EINVAL', () => device.bind(fd), 'VFIO_DEVICE_BIND_IOMMUFD');
      expect(err.message).toMatch(`already bound (device id ${devId})`);
      const second = VfioDevice.open(eduCdev());
      cleanup.push(() => second.close());
      const other = Iommufd.open({ backend: 'native' });
      cleanup.push(() => other.close());
      expect(expectErrno('EINVAL', () => second.bind(other)).message).toMatch(/another open file/);
    });

    test('attach to a destroyed IOAS, to an unknown id, and before bind', () => {
      const { fd, device } = rig();
      const ioas = fd.allocIoas();
      const id = ioas.id;
      ioas.destroy();
      expect(() => device.attach(ioas)).toThrow(/destroyed/); // the object knows
      const err = expectErrno('ENOENT', () => device.attach(id), 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'); // the kernel agrees
      expect(err.message).toMatch(`no IOAS or HWPT with id ${id}`);
      expectErrno('ENOENT', () => device.attach(100000), 'VFIO_DEVICE_ATTACH_IOMMUFD_PT');
      expect(device.attachedPtId).toBeGreaterThan(0); // still attached to the rig's IOAS

      const unbound = VfioDevice.open(eduCdev());
      cleanup.push(() => unbound.close());
      expect(() => unbound.attach(fd.allocIoas())).toThrow(/not bound to an iommufd/);
      expect(() => unbound.info()).toThrow(/call bind\(\) first/);
    });

    test('an IOAS of another iommufd is refused before the kernel sees it', () => {
      const { device } = rig();
      const other = Iommufd.open({ backend: 'native' });
      cleanup.push(() => other.close());
      expect(() => device.attach(other.allocIoas())).toThrow(/another iommufd/);
    });

    test('hw info and HWPT alloc for a device id that does not exist', () => {
      const { fd, ioas } = rig();
      expectErrno('ENOENT', () => fd.hwInfo(100000), 'IOMMU_GET_HW_INFO');
      expectErrno('ENOENT', () => fd.allocHwpt(100000, ioas), 'IOMMU_HWPT_ALLOC');
    });

    test('opening what is not a VFIO device cdev', () => {
      expect(() => VfioDevice.open('/dev/iommu')).toThrow(/not a VFIO device cdev/);
      expect(() => VfioDevice.open('/dev/null')).toThrow(/not a VFIO device cdev/);
      const err = expectErrno('ENOENT', () => VfioDevice.open('/dev/vfio/devices/vfio999'), 'open');
      expect(err.message).toMatch(/bind the device to vfio-pci/);
      expect(() => VfioDevice.open(42 as unknown as string)).toThrow(TypeError);
    });

    test('a closed device refuses everything', () => {
      const device = VfioDevice.open(eduCdev());
      device.close();
      device.close(); // idempotent
      expect(() => device.bind(0)).toThrow(/closed/);
      expect(() => device.info()).toThrow(/closed/);
    });

    test('errors are IommufdErrors with errno, syscall and op', () => {
      const { device } = rig();
      try {
        device.regionInfo(8);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(IommufdError);
        expect(e).toMatchObject({ code: 'EINVAL', errno: 22, syscall: 'ioctl', op: 'VFIO_DEVICE_GET_REGION_INFO' });
      }
    });
  });
});
