// The Backend contract's argument types, checked on entry to either backend.
// The typed API validates before it calls a backend, but fd.backend and
// batch.raw(name, ...args) reach it with whatever a caller passes: this makes
// a wrong type a TypeError naming the method and the argument, instead of an
// engine message from deep inside the simulator or the addon's marshalling.
import { describe } from '../base/validate.js';

type Kind = 'u32' | 'u64' | 'count' | 'bool' | 'bytes' | 'words' | 'u64s' | 'range' | 'ranges' | 'responses' | 'hwpt' | 'file' | 'viommu' | 'hwQueue' | 'object' | 'string' | 'raw';
/** A kind, '?' for may be undefined, '|null' for may be null. */
type Param = Kind | `${Kind}?` | `${Kind}|null`;

const U64_MAX = (1n << 64n) - 1n;
const U32_MAX = 2 ** 32 - 1;

/** Backend method -> its parameters (lib/backend/contract.ts). */
export const BACKEND_PARAMS: Record<string, Param[]> = {
  runBatch: ['object', 'u64s', 'count'],
  destroy: ['u32'],
  ioasAlloc: [],
  ioasMap: ['u32', 'u32', 'range', 'u64'],
  ioasMapFile: ['u32', 'u32', 'file', 'u64', 'u64', 'u64'],
  ioasChangeProcess: [],
  ioasNoiommuGetPa: ['u32', 'u32', 'u64', 'u64', 'u32?'],
  ioasUnmap: ['u32', 'u64', 'u64'],
  ioasIovaRanges: ['u32'],
  ioasIovaRangesInto: ['u32', 'u64s', 'count'],
  ioasAllowIovas: ['u32', 'ranges'],
  ioasCopy: ['u32', 'u32', 'u32', 'u64', 'u64', 'u64'],
  option: ['u32', 'u32', 'u32', 'u64'],
  vfioIoas: ['u32', 'u32'],
  hwptAlloc: ['hwpt'],
  getHwInfo: ['u32', 'bytes', 'u32?', 'u32?'],
  hwptSetDirtyTracking: ['u32', 'bool'],
  hwptGetDirtyBitmap: ['u32', 'u32', 'u64', 'u64', 'u64', 'words'],
  hwptInvalidate: ['u32', 'u32', 'count', 'bytes|null', 'count'],
  faultQueueAlloc: [],
  faultRead: ['u32', 'count'],
  faultRespond: ['u32', 'responses'],
  closeFault: ['u32'],
  viommuAlloc: ['viommu'],
  vdeviceAlloc: ['u32', 'u32', 'u64'],
  veventqAlloc: ['u32', 'u32', 'u32', 'u32'],
  veventqRead: ['u32', 'bytes'],
  closeVeventq: ['u32'],
  hwQueueAlloc: ['hwQueue'],
  mmap: ['u64', 'count'],
  mmapRead32: ['u32', 'count'],
  munmap: ['u32'],
  vfioGetApiVersion: [],
  vfioCheckExtension: ['u32'],
  vfioSetIommu: ['u32'],
  vfioIommuGetInfo: [],
  vfioMapDma: ['u32', 'range', 'u64'],
  vfioUnmapDma: ['u32', 'u64', 'u64'],
  addReserved: ['u32', 'u64', 'u64'],
  mockDomain: ['u32', 'u32?'],
  mockDomainReplace: ['u32', 'u32'],
  mdCheckIotlb: ['u32', 'u32', 'u32'],
  dirty: ['u32', 'u32', 'u64', 'u64', 'u64', 'bytes'],
  triggerIopf: ['u32', 'u32', 'u32', 'u32', 'u64'],
  pasidAttach: ['u32', 'u32', 'u32'],
  pasidReplace: ['u32', 'u32', 'u32'],
  pasidDetach: ['u32', 'u32'],
  pasidCheckHwpt: ['u32', 'u32', 'u32'],
  dmabufGet: ['u32', 'u32'],
  dmabufRevoke: ['u32', 'bool'],
  closeDmabuf: ['u32'],
  devCheckCache: ['u32', 'u32', 'u32'],
  triggerVevent: ['u32'],
  mdCheckMap: ['u32', 'u64', 'range'],
  mdCheckRefs: ['range', 'u32'],
  createAccess: ['u32', 'u32'],
  closeAccess: ['u32'],
  accessPages: ['u32', 'u32', 'u64', 'count', 'range|null'],
  destroyAccessPages: ['u32', 'u32'],
  accessRw: ['u32', 'u32', 'u64', 'range'],
  accessReplaceIoas: ['u32', 'u32'],
  setTempMemoryLimit: ['count'],
  rawIoctl: ['u32', 'raw', 'string'],
};

const isCount = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isU64 = (v: unknown): boolean => typeof v === 'bigint' && v >= 0n && v <= U64_MAX;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

const isU32 = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= U32_MAX;
const isMemory = (v: unknown): boolean => ArrayBuffer.isView(v) || v instanceof ArrayBuffer;

/** The type's check; a value of the right primitive type out of range is a RangeError instead. */
const CHECKS: Record<Kind, [(v: unknown) => boolean, string, string?]> = {
  u32: [isU32, 'a u32 number', 'number'],
  u64: [isU64, 'a u64 bigint', 'bigint'],
  count: [isCount, 'a non-negative safe integer', 'number'],
  bool: [(v) => typeof v === 'boolean', 'a boolean'],
  bytes: [(v) => v instanceof Uint8Array, 'a Uint8Array'],
  words: [(v) => v instanceof Uint8Array || v instanceof BigUint64Array, 'a Uint8Array or BigUint64Array'],
  u64s: [(v) => v instanceof BigUint64Array, 'a BigUint64Array'],
  range: [(v) => isObject(v) && isMemory(v.bytes) && isCount(v.offset) && isCount(v.length), 'a UserRange { bytes, offset, length }'],
  ranges: [(v) => Array.isArray(v) && v.every((r) => isObject(r) && isU64(r.start) && isU64(r.last)), 'an array of { start, last } u64 bigints'],
  responses: [
    (v) => Array.isArray(v) && v.every((r) => isObject(r) && isU32(r.cookie) && isU32(r.code)),
    'an array of { cookie, code } u32 numbers',
  ],
  hwpt: [
    (v) =>
      isObject(v) &&
      ['flags', 'devId', 'ptId', 'dataType', 'faultId'].every((k) => isU32(v[k])) &&
      (v.data === null || isMemory(v.data)) &&
      (v.nullDataLen === undefined || isU32(v.nullDataLen)),
    'a HwptAllocRequest',
  ],
  // fd -1: a MemFile made without the addon (simulator only), which has its bytes and no descriptor.
  file: [
    (v) => isObject(v) && Number.isInteger(v.fd) && (v.fd as number) >= -1 && (v.fd as number) <= 0x7fffffff && (v.bytes === null || v.bytes instanceof Uint8Array),
    'a FileRef { fd, bytes }',
  ],
  viommu: [
    (v) => isObject(v) && ['flags', 'type', 'devId', 'hwptId'].every((k) => isU32(v[k])) && (v.data === null || v.data instanceof Uint8Array),
    'a ViommuAllocRequest',
  ],
  hwQueue: [
    (v) => isObject(v) && ['flags', 'viommuId', 'type', 'index'].every((k) => isU32(v[k])) && isU64(v.nestingParentIova) && isU64(v.length),
    'a HwQueueAllocRequest',
  ],
  object: [isObject, 'an object'],
  string: [(v) => typeof v === 'string', 'a string'],
  raw: [(v) => v === null || isMemory(v) || typeof v === 'number', 'bytes, a number or null'],
};

interface Check {
  ok: (v: unknown) => boolean;
  what: string;
  /** typeof of a value of the right type that is out of range (a RangeError). */
  primitive: string | undefined;
  optional: boolean;
  nullable: boolean;
}

/** Parsed once: each call then costs a few typeof checks. */
const PARSED: Record<string, Check[]> = Object.fromEntries(
  Object.entries(BACKEND_PARAMS).map(([method, params]) => [
    method,
    params.map((param) => {
      const [kind, extra] = param.split(/(?=[?|])/) as [Kind, string | undefined];
      const [ok, what, primitive] = CHECKS[kind];
      return { ok, what: extra === '|null' ? `${what} or null` : what, primitive, optional: extra === '?', nullable: extra === '|null' };
    }),
  ]),
);

/** Throws a TypeError naming the method and the argument when `args` break its parameter types. */
export function checkBackendArgs(method: string, args: readonly unknown[]): void {
  const checks = PARSED[method];
  if (!checks) return;
  for (let i = 0; i < checks.length; i++) {
    const c = checks[i]!;
    const value = args[i];
    if ((c.optional && value === undefined) || (c.nullable && value === null) || c.ok(value)) continue;
    const message = `${method}: argument ${i + 1} must be ${c.what}, got ${describe(value)}`;
    throw typeof value === c.primitive ? new RangeError(message) : new TypeError(message);
  }
}

const originals = new WeakMap<object, (...args: unknown[]) => unknown>();

/** The method a checking wrapper calls (its source names the parameters, for error reports). */
export function uncheckedMethod<F extends (...args: never[]) => unknown>(fn: F): F {
  return (originals.get(fn) as F | undefined) ?? fn;
}

/** Makes every Backend method of a backend class (but `except`) check its arguments first. */
export function checkArgumentsOf(backendClass: { prototype: object }, except: readonly string[] = []): void {
  const proto = backendClass.prototype as Record<string, (...args: unknown[]) => unknown>;
  for (const method of Object.keys(BACKEND_PARAMS)) {
    if (except.includes(method)) continue;
    const op = proto[method];
    if (typeof op !== 'function') throw new Error(`${method} is not a Backend method`);
    const checked = function (this: unknown, ...args: unknown[]) {
      checkBackendArgs(method, args);
      return op.apply(this, args);
    };
    originals.set(checked, op);
    proto[method] = checked;
  }
}
