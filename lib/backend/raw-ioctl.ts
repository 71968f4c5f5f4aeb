// The rule for raw ioctls (Iommufd.rawIoctl), checked here before any backend
// sees the call and again in C++ (native/raw.cc) before the kernel does:
//
//  * `request` is _IO(';', nr): the iommufd/VFIO type, no size or direction bits
//    (anything else: RangeError).
//  * `arg` null passes NULL. A number is accepted only by VFIO_GET_API_VERSION,
//    VFIO_CHECK_EXTENSION and VFIO_SET_IOMMU (integer argument, u32).
//  * `arg` bytes:
//    - VFIO_IOMMU_GET_INFO / MAP_DMA / UNMAP_DMA: at least the fixed part the
//      kernel always reads (16 / 32 / 24 bytes) and at least argsz (u32 at 0),
//      as far as the kernel may write; MAP_DMA's vaddr must be 0.
//    - everything else, the iommufd layout: at least 4 bytes and at least
//      `size` (u32 at 0), what the kernel reads and writes back. The commands
//      known are those of the running kernel's uAPI table (lib/uapi/layout.ts,
//      the same table the addon picks by uname: 6.12's commands on 6.12, 7.3's
//      on 7.3). Their user-pointer fields (and those of each IOMMU_TEST_CMD
//      op) must be 0 where `size` covers them; an unknown test op must have
//      only zero bytes after its 16-byte header, an unknown ioctl number only
//      zero bytes after `size`. Bytes past a known struct pass through (the
//      kernel answers E2BIG when they are not zero). File descriptors
//      (IOMMU_IOAS_MAP_FILE's fd, IOMMU_TEST_OP_DMABUF_REVOKE's dmabuf_fd) and
//      IOVAs are not pointers: they pass.
//    Lengths are RangeErrors, pointer fields TypeErrors. Raw bytes can thus
//    never make the kernel touch process memory other than the bytes given (a
//    NULL pointer only faults): memory reaches the kernel through the typed API.
import { firstUnmapped } from '../base/user-pages.js';
import { IOMMUFD_CMDS, IOMMUFD_CMDS_7_3 } from '../uapi/constants.js';
import { UAPI_LAYOUTS, type UapiVersion } from '../uapi/layout.js';

export type RawArg = Uint8Array | ArrayBuffer | DataView | number | null;

// The VFIO requests and the ioctl type are the same in every table.
const L = UAPI_LAYOUTS['6.12'];
/** The table checkRawIoctl() uses when no kernel is named: the oldest. */
const OLDEST: UapiVersion = '6.12';
const IOC_TYPE = L.constants.IOMMUFD_TYPE; // ';'
const V = L.vfioIoctls;
export const VFIO_REQUESTS = {
  VFIO_GET_API_VERSION: V.VFIO_GET_API_VERSION.request,
  VFIO_CHECK_EXTENSION: V.VFIO_CHECK_EXTENSION.request,
  VFIO_SET_IOMMU: V.VFIO_SET_IOMMU.request,
  VFIO_IOMMU_GET_INFO: V.VFIO_IOMMU_GET_INFO.request,
  VFIO_IOMMU_MAP_DMA: V.VFIO_IOMMU_MAP_DMA.request,
  VFIO_IOMMU_UNMAP_DMA: V.VFIO_IOMMU_UNMAP_DMA.request,
} as const;

/** _IO(';', nr): how every iommufd and VFIO container ioctl is encoded. */
export function iommufdIoctl(nr: number): number {
  return (IOC_TYPE << 8) | nr;
}

/** Every iommufd command of every table, by name. */
const ALL_CMDS: Record<string, number> = { ...IOMMUFD_CMDS, ...IOMMUFD_CMDS_7_3 };

/**
 * The ioctl request of an iommufd command, e.g. ioctlRequest('IOMMU_DESTROY') or
 * ioctlRequest('IOMMU_VIOMMU_ALLOC') (a 7.3 command; 6.12 answers ENOTTY).
 */
export function ioctlRequest(name: keyof typeof IOMMUFD_CMDS | keyof typeof IOMMUFD_CMDS_7_3 | keyof typeof VFIO_REQUESTS): number {
  if (name in VFIO_REQUESTS) return VFIO_REQUESTS[name as keyof typeof VFIO_REQUESTS];
  const nr = ALL_CMDS[name];
  if (nr === undefined) throw new TypeError(`${String(name)} is no iommufd command of any known uAPI`);
  return iommufdIoctl(nr);
}

/** One kernel's known commands: the u64 user-pointer offsets by nr, and by IOMMU_TEST_CMD op. */
interface RawTable {
  pointers: Map<number, number[]>;
  testOpPointers: Map<number, number[]>;
}

function rawTable(version: UapiVersion): RawTable {
  const t = UAPI_LAYOUTS[version];
  const structs = t.structs as Record<string, { pointers: readonly number[] }>;
  return {
    pointers: new Map(
      Object.entries(t.ioctls)
        .filter(([name]) => name !== 'IOMMU_TEST_CMD')
        .map(([, io]) => [io.nr, [...structs[io.struct]!.pointers]] as [number, number[]]),
    ),
    testOpPointers: new Map(Object.values(t.testOps).map((op) => [op.op, [...op.pointers]] as [number, number[]])),
  };
}

const TABLES = new Map<UapiVersion, RawTable>((Object.keys(UAPI_LAYOUTS) as UapiVersion[]).map((v) => [v, rawTable(v)]));

const VFIO_MINSZ = new Map<number, number>([
  [V.VFIO_IOMMU_GET_INFO.request, V.VFIO_IOMMU_GET_INFO.minsz],
  [V.VFIO_IOMMU_MAP_DMA.request, V.VFIO_IOMMU_MAP_DMA.minsz],
  [V.VFIO_IOMMU_UNMAP_DMA.request, V.VFIO_IOMMU_UNMAP_DMA.minsz],
]);
const VFIO_MAP_DMA_VADDR = L.structs.vfio_iommu_type1_dma_map.offsets.vaddr;

const INTEGER_ARG = new Set<number>([
  VFIO_REQUESTS.VFIO_GET_API_VERSION,
  VFIO_REQUESTS.VFIO_CHECK_EXTENSION,
  VFIO_REQUESTS.VFIO_SET_IOMMU,
]);

const NAMES = new Map<number, string>([
  ...Object.entries(ALL_CMDS).map(([name, nr]) => [iommufdIoctl(nr), name] as [number, string]),
  ...Object.entries(VFIO_REQUESTS).map(([name, request]) => [request, name] as [number, string]),
]);

/** The name errors carry for a raw request: the ioctl's, or ioctl(0x3b7f). */
export function rawIoctlName(request: number): string {
  return NAMES.get(request) ?? `ioctl(0x${request.toString(16)})`;
}

/** The bytes of an argument as a Uint8Array view (no copy). */
export function rawBytes(arg: Uint8Array | ArrayBuffer | DataView): Uint8Array {
  if (arg instanceof Uint8Array) return arg;
  if (arg instanceof ArrayBuffer) return new Uint8Array(arg);
  return new Uint8Array(arg.buffer, arg.byteOffset, arg.byteLength);
}

function zero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < Math.min(to, bytes.length); i++) if (bytes[i] !== 0) return false;
  return true;
}

function checkPointers(bytes: Uint8Array, limit: number, pointers: number[], what: string): void {
  for (const at of pointers)
    if (!zero(bytes, at, Math.min(at + 8, limit)))
      throw new TypeError(
        `${what}: the user-pointer field at offset ${at} must be 0 in a raw ioctl ` +
          '(raw bytes may not name other memory; use the typed API)',
      );
}

/**
 * Validate a raw ioctl by the rule above for the commands of `kernel`'s uAPI
 * (Iommufd.rawIoctl passes its backend's; the oldest table when not named).
 * Returns the bytes view (or the integer/null).
 */
export function checkRawIoctl(request: number, arg: RawArg, kernel: UapiVersion = OLDEST): Uint8Array | number | null {
  const table = TABLES.get(kernel);
  if (!table) throw new TypeError(`no uAPI table for kernel ${String(kernel)} (known: ${[...TABLES.keys()].join(', ')})`);
  if (!Number.isInteger(request) || request < 0 || request > 0xffffffff)
    throw new RangeError('request must be a u32');
  if ((request & ~0xff) >>> 0 !== IOC_TYPE << 8)
    throw new RangeError("raw ioctl: request must be _IO(';', nr) (the iommufd/VFIO type, no size or direction bits)");
  const name = rawIoctlName(request);
  if (arg === null || arg === undefined) return null;
  if (typeof arg === 'number') {
    if (!INTEGER_ARG.has(request))
      throw new TypeError(`${name}: only VFIO_GET_API_VERSION, VFIO_CHECK_EXTENSION and VFIO_SET_IOMMU take an integer argument`);
    if (!Number.isInteger(arg) || arg < 0 || arg > 0xffffffff) throw new RangeError(`${name}: the integer argument must be a u32`);
    return arg;
  }
  if (!(arg instanceof Uint8Array || arg instanceof ArrayBuffer || arg instanceof DataView))
    throw new TypeError(`${name}: arg must be a Uint8Array, ArrayBuffer, DataView, an integer or null`);
  if (INTEGER_ARG.has(request)) throw new TypeError(`${name}: takes an integer argument, not bytes`);
  const bytes = rawBytes(arg);
  // The checks below (and the addon) read the bytes: touching memory the
  // process unmapped would kill it, where the kernel would answer EFAULT.
  if (firstUnmapped(bytes.buffer, bytes.byteOffset, bytes.byteOffset + bytes.byteLength) >= 0)
    throw new RangeError(`${name}: the argument's memory was unmapped (DmaBuffer.unsafeUnmap); it cannot be read`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const minsz = VFIO_MINSZ.get(request);
  if (minsz !== undefined) {
    if (bytes.length < minsz) throw new RangeError(`${name}: the argument needs at least ${minsz} bytes (the kernel always reads them)`);
    const argsz = view.getUint32(0, true);
    if (argsz > bytes.length) throw new RangeError(`${name}: argsz ${argsz} is larger than the ${bytes.length}-byte argument`);
    if (request === VFIO_REQUESTS.VFIO_IOMMU_MAP_DMA) checkPointers(bytes, minsz, [VFIO_MAP_DMA_VADDR], name);
    return bytes;
  }
  if (bytes.length < 4) throw new RangeError(`${name}: the argument needs at least the 4-byte size field`);
  const size = view.getUint32(0, true);
  if (size > bytes.length)
    throw new RangeError(`${name}: size ${size} is larger than the ${bytes.length}-byte argument (the kernel would read and write past it)`);
  const nr = request & 0xff;
  if (nr === IOMMUFD_CMDS.IOMMU_TEST_CMD) {
    const op = size >= 8 ? view.getUint32(4, true) : 0;
    const pointers = table.testOpPointers.get(op);
    if (pointers) checkPointers(bytes, size, pointers, `IOMMU_TEST_CMD op ${op}`);
    else if (!zero(bytes, 16, size))
      throw new TypeError(`IOMMU_TEST_CMD op ${op} is unknown: its bytes after the 16-byte header must be 0`);
    return bytes;
  }
  const pointers = table.pointers.get(nr);
  if (pointers) checkPointers(bytes, size, pointers, name);
  else if (!zero(bytes, 4, size)) throw new TypeError(`${name} is unknown: its bytes after the size field must be 0`);
  return bytes;
}
