// Shared by the vfio tests: find QEMU's edu device, bind it to vfio-pci, open
// it on an iommufd and attach it to an IOAS; read the kernel log.
import { closeSync, constants, existsSync, openSync, readSync, readdirSync } from 'node:fs';
import { Iommufd, type Ioas } from '../../lib/index.js';
import { EDU_DEVICE_ID, EDU_VENDOR_ID, EduDmaEngine } from '../../lib/vfio/dma-engine/index.js';
import { VfioDevice, bindPciToVfio, listPciDevices } from '../../lib/vfio/device.js';

export const STRICT = Boolean(process.env.CI) || process.env.IOMMUFD_REQUIRE_KERNEL === '1';

type Found = { bdf: string; cdev: string } | { missing: string };
let cached: Found | undefined;

/** The edu device, bound to vfio-pci, or why it is not there. */
export function eduDevice(): Found {
  cached ??= find();
  return cached;
}

function find(): Found {
  const iommus = existsSync('/sys/class/iommu') ? readdirSync('/sys/class/iommu') : [];
  if (!iommus.some((n) => n.startsWith('dmar')))
    return { missing: 'no Intel VT-d IOMMU (/sys/class/iommu/dmar*): run in the vtd VM profile (node scripts/vm.mjs --profile vtd)' };
  const [edu] = listPciDevices({ vendor: EDU_VENDOR_ID, device: EDU_DEVICE_ID });
  if (!edu) return { missing: 'no edu PCI device (1234:11e8): QEMU needs -device edu' };
  try {
    return { bdf: edu.bdf, cdev: bindPciToVfio(edu.bdf) };
  } catch (e) {
    return { missing: `cannot bind ${edu.bdf} to vfio-pci: ${(e as Error).message}` };
  }
}

/** false when the edu device is there; otherwise the reason (for describe.skipIf / ctx.skip). */
export function missing(): string | false {
  const found = eduDevice();
  return 'missing' in found ? found.missing : false;
}

/** The cdev path; only call inside tests that skip when missing(). */
export function eduCdev(): string {
  const found = eduDevice();
  if ('missing' in found) throw new Error(found.missing);
  return found.cdev;
}

/** A bound device on a fresh iommufd, attached to a fresh IOAS. */
export interface Rig extends Disposable {
  fd: Iommufd;
  device: VfioDevice;
  devId: number;
  ioas: Ioas;
  hwptId: number;
}

export function openRig(): Rig {
  const fd = Iommufd.open({ backend: 'native' });
  const device = VfioDevice.open(eduCdev());
  try {
    const devId = device.bind(fd);
    const ioas = fd.allocIoas();
    const hwptId = device.attach(ioas);
    return {
      fd,
      device,
      devId,
      ioas,
      hwptId,
      [Symbol.dispose]() {
        device.close();
        fd.close();
      },
    };
  } catch (e) {
    device.close();
    fd.close();
    throw e;
  }
}

export function openEdu(rig: Rig): EduDmaEngine {
  return EduDmaEngine.open(rig.device);
}

/** Kernel log records (/dev/kmsg, root) printed after mark(). */
export class KernelLog {
  #mark = -1;

  mark(): void {
    const records = KernelLog.#read();
    this.#mark = records.length > 0 ? records[records.length - 1]!.seq : -1;
  }

  since(): string[] {
    return KernelLog.#read()
      .filter((r) => r.seq > this.#mark)
      .map((r) => r.text);
  }

  static #read(): { seq: number; text: string }[] {
    const fd = openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
    const out: { seq: number; text: string }[] = [];
    const buf = Buffer.alloc(8192);
    try {
      for (;;) {
        let n: number;
        try {
          n = readSync(fd, buf, 0, buf.length, null);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'EAGAIN') break;
          if (code === 'EPIPE') continue; // records overwritten while reading
          throw e;
        }
        const record = buf.toString('utf8', 0, n);
        const semi = record.indexOf(';');
        const seq = Number(record.slice(0, semi).split(',')[1]);
        out.push({ seq, text: record.slice(semi + 1).split('\n')[0]! });
      }
    } finally {
      closeSync(fd);
    }
    return out;
  }
}

/** Wait (polling) until `fn` holds or `ms` pass. */
export async function eventually(fn: () => boolean, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (fn()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return fn();
}
