// Issue 17: inputs that used to crash the process, and the ways mapped memory
// could be freed while the kernel still maps it. Each runs on both backends.
import { readdirSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import {
  type Batch,
  ClosedError,
  DmaBuffer,
  IOMMU_HWPT_DATA_SELFTEST,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  MOCK_APERTURE_START,
  ioctlRequest,
} from '../../lib/index.js';
import { addon } from '../../lib/native/binding.js';
import { PAGE_SIZE, expectErrno, gcUntil } from '../helpers.js';
import { BACKEND, openIommufd } from '../backend.js';
import { scenarioFixture } from './fixture.js';

const AT = MOCK_APERTURE_START;

const self = scenarioFixture();

/** A two-page buffer whose second page the process unmapped. */
function halfUnmapped(): DmaBuffer {
  const buf = DmaBuffer.alloc(2 * PAGE_SIZE);
  buf.unsafeUnmap(PAGE_SIZE, PAGE_SIZE);
  return buf;
}

describe('inputs that crashed the process', () => {
  test('faultQueue.read() with a huge max is a RangeError, not an abort', () => {
    using queue = self.fd.allocFaultQueue();
    expect(() => queue.read(2 ** 31)).toThrow(RangeError);
    expect(() => queue.read(2 ** 32 - 1)).toThrow(RangeError);
    expect(queue.read(65536)).toEqual([]);
  });

  test("batch raw('rawIoctl') refuses unmapped argument bytes like fd.rawIoctl()", () => {
    using buf = halfUnmapped();
    const arg = buf.bytes.subarray(PAGE_SIZE, PAGE_SIZE + 8);
    const request = ioctlRequest('IOMMU_DESTROY');
    expect(() => self.fd.rawIoctl(request, arg)).toThrow(RangeError);
    expect(() => self.fd.batch((b) => b.raw('rawIoctl', request, arg))).toThrow(RangeError);
    // The rule's other checks apply in a batch too (a user pointer in raw bytes).
    const map = new Uint8Array(40);
    new DataView(map.buffer).setUint32(0, 40, true);
    new DataView(map.buffer).setBigUint64(16, 4096n, true);
    expect(() => self.fd.batch((b) => b.raw('rawIoctl', ioctlRequest('IOMMU_IOAS_MAP'), map))).toThrow(TypeError);
    // Readable bytes still run (IOMMU_DESTROY of id 0: ENOENT).
    const ok = new Uint8Array(8);
    new DataView(ok.buffer).setUint32(0, 8, true);
    expect(self.fd.batch((b) => b.raw('rawIoctl', request, ok)).error).toMatchObject({ code: 'ENOENT' });
  });

  test('hw info into memory the process unmapped: EFAULT, nothing touched', () => {
    using buf = halfUnmapped();
    const mock = self.fd.mockDomain(self.ioas);
    expectErrno('EFAULT', () => self.fd.hwInfo(mock, buf.bytes), 'IOMMU_GET_HW_INFO');
    expectErrno('EFAULT', () => self.fd.hwInfo(mock, buf.bytes.subarray(PAGE_SIZE)), 'IOMMU_GET_HW_INFO');
    // The driver data went into the page that is there (copy_to_user() first).
    expect(new DataView(buf.buffer).getUint32(4, true)).not.toBe(0);
    expect(self.fd.hwInfo(mock, buf.bytes.subarray(0, 8)).dataLen).toBe(8);
    mock.destroy();
  });

  test('nested HWPT data and invalidation entries the process unmapped: EFAULT', () => {
    using buf = halfUnmapped();
    const mock = self.fd.mockDomain(self.ioas);
    const parent = self.fd.allocHwpt(mock, self.ioas, { nestParent: true });
    const gone = buf.bytes.subarray(PAGE_SIZE, PAGE_SIZE + 4);
    expectErrno('EFAULT', () => self.fd.allocHwpt(mock, parent, { data: { type: IOMMU_HWPT_DATA_SELFTEST, bytes: gone } }), 'IOMMU_HWPT_ALLOC');
    const nested = self.fd.allocHwpt(mock, parent, { selftestIotlb: 0 });
    // Entry by entry: the first page holds 512 (zeroed, valid) entries, entry 512 faults.
    const err = expectErrno('EFAULT', () =>
      nested.invalidate({ dataType: IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, entryLen: 8, entries: buf.bytes, entryNum: 513 }),
    );
    expect((err as unknown as { handled: number }).handled).toBe(512);
    expect(nested.invalidate({ dataType: IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, entryLen: 8, entries: buf.bytes, entryNum: 512 })).toBe(512);
    nested.destroy();
    parent.destroy();
    mock.destroy();
  });

  test('an unmapped view in an argument error is described, not read', () => {
    using buf = halfUnmapped();
    const gone = buf.bytes.subarray(PAGE_SIZE);
    using mapped = DmaBuffer.alloc(PAGE_SIZE);
    expect(() => self.ioas.mapFixed(AT, mapped, { offset: gone as unknown as number })).toThrow(/a Uint8Array of 4096 bytes/);
    expect(() => self.ioas.mapFixed(AT, mapped, { length: gone as unknown as number })).toThrow(TypeError);
    expect(() => DmaBuffer.alloc(PAGE_SIZE, { hugePages: gone as never })).toThrow(TypeError);
  });

  test('wrong types to byte counts are TypeErrors, bad values RangeErrors', () => {
    using buf = DmaBuffer.alloc(PAGE_SIZE);
    expect(() => self.ioas.mapAnywhere(buf, { length: '4096' as unknown as number })).toThrow(TypeError);
    expect(() => self.ioas.mapAnywhere(buf, { offset: {} as unknown as number })).toThrow(TypeError);
    expect(() => DmaBuffer.alloc(null as unknown as number)).toThrow(TypeError);
    expect(() => self.ioas.mapAnywhere(buf, { length: -1 })).toThrow(RangeError);
  });

  test('access.read() above the 16 MiB limit is refused before allocating', () => {
    using access = self.fd.createAccess(self.ioas);
    expect(() => access.read(AT, 2 ** 32)).toThrow(RangeError);
    expect(() => access.read(AT, 2 ** 52)).toThrow(RangeError);
    expectErrno('ENOENT', () => access.read(AT, 16 * 1024 * 1024));
  });

  test('flags with bit 31 reach the kernel as u32, not as a negative number', () => {
    const mock = self.fd.mockDomain(self.ioas);
    expectErrno('EOPNOTSUPP', () => self.fd.allocHwpt(mock, self.ioas, { flags: 2 ** 31 }), 'IOMMU_HWPT_ALLOC');
    mock.destroy();
    expectErrno('EINVAL', () => self.fd.mockDomain(self.ioas, { flags: 2 ** 31 })); // mock_dev_create(): unknown dev_flags
  });

  test('SharedArrayBuffer memory works in a batch as in a direct call', () => {
    const shared = new Uint8Array(new SharedArrayBuffer(PAGE_SIZE));
    const direct = self.ioas.mapAnywhere(shared);
    const run = self.fd.batch((b) => b.mapAnywhere(self.ioas, shared).unmap(self.ioas, direct, PAGE_SIZE));
    expect(run.error).toBeNull();
    expect(typeof run.results[0]).toBe('bigint');
    expect(self.ioas.unmapAll()).toBe(BigInt(PAGE_SIZE));
  });
});

describe('mapped memory stays alive', () => {
  test('a view of a DmaBuffer retains it: free() refuses while mapped', () => {
    const buf = DmaBuffer.alloc(2 * PAGE_SIZE);
    self.ioas.mapFixed(AT, buf.bytes);
    self.ioas.mapFixed(AT + BigInt(2 * PAGE_SIZE), buf.bytes.subarray(PAGE_SIZE));
    expect(buf.mappings).toBe(2);
    expect(() => buf.free()).toThrow(/still mapped/);
    self.ioas.unmap(AT, 2 * PAGE_SIZE);
    expect(() => buf.free()).toThrow(/still mapped/);
    self.fd.batch((b) => b.unmap(self.ioas, AT + BigInt(2 * PAGE_SIZE), PAGE_SIZE));
    expect(buf.mappings).toBe(0);
    buf.free();
  });

  test('the per-call fast paths keep exact references: the last mapping, paired batch ops, reused batch arrays', () => {
    using a = DmaBuffer.alloc(PAGE_SIZE);
    using b = DmaBuffer.alloc(PAGE_SIZE);
    const B = AT + BigInt(PAGE_SIZE);
    // The last mapping (held outside the map of references) and an older one.
    self.ioas.mapFixed(AT, a);
    self.ioas.mapFixed(B, b);
    expect(self.ioas.unmap(AT, PAGE_SIZE)).toBe(BigInt(PAGE_SIZE));
    expect([a.mappings, b.mappings]).toEqual([0, 1]);
    self.ioas.mapFixed(AT, a);
    expect(self.ioas.unmap(AT, 2 * PAGE_SIZE)).toBe(BigInt(2 * PAGE_SIZE)); // both, by a scan
    expect([a.mappings, b.mappings]).toEqual([0, 0]);
    // A batch: a map undone by the next unmap notes nothing; one not undone (other length) is noted.
    const run = self.fd.batch((batch) =>
      batch.mapFixed(self.ioas, AT, a).unmap(self.ioas, AT, PAGE_SIZE).mapFixed(self.ioas, AT, a).mapFixed(self.ioas, B, b).unmap(self.ioas, B, 2 * PAGE_SIZE),
    );
    expect(run.error).toBeNull();
    expect(run.results).toEqual([AT, BigInt(PAGE_SIZE), AT, B, BigInt(PAGE_SIZE)]);
    expect([a.mappings, b.mappings]).toEqual([1, 0]);
    // A batch kept after it ran records into arrays of its own, not into the next batch's.
    let spent: Batch | undefined;
    self.fd.batch((batch) => (spent = batch.unmap(self.ioas, AT, PAGE_SIZE)));
    expect(a.mappings).toBe(0);
    const next = self.fd.batch((batch) => {
      batch.mapFixed(self.ioas, AT, a).mapFixed(self.ioas, B, b);
      spent!.unmap(self.ioas, AT, PAGE_SIZE); // its op 1: the slot of next's second map, were they shared
    });
    expect(next.results).toEqual([AT, B]);
    expect([a.mappings, b.mappings]).toEqual([1, 1]);
    self.ioas.unmapAll();
    expect([a.mappings, b.mappings]).toEqual([0, 0]);
  });

  test('plain and resizable ArrayBuffers cannot be mapped (they can be transferred away or shrunk)', () => {
    expect(() => self.ioas.mapAnywhere(new Uint8Array(PAGE_SIZE))).toThrow(TypeError);
    expect(() => self.ioas.mapAnywhere(Buffer.alloc(PAGE_SIZE))).toThrow(TypeError);
    const resizable = new (ArrayBuffer as unknown as new (n: number, o: object) => ArrayBuffer)(PAGE_SIZE, { maxByteLength: 2 * PAGE_SIZE });
    expect(() => self.ioas.mapAnywhere(new Uint8Array(resizable))).toThrow(TypeError);
    expect(() => self.fd.batch((b) => b.mapAnywhere(self.ioas, new Uint8Array(PAGE_SIZE)))).toThrow(TypeError);
    expect(() => self.fd.vfio.mapDma(AT, new Uint8Array(PAGE_SIZE))).toThrow(TypeError);
  });

  test('copyFrom() refuses a destroyed source; adoptIoas() of an owned id returns that Ioas', () => {
    using buf = DmaBuffer.alloc(PAGE_SIZE);
    const src = self.fd.allocIoas();
    src.mapFixed(AT, buf);
    expect(self.fd.adoptIoas(src.id)).toBe(src);
    const copied = self.ioas.copyFrom(self.fd.adoptIoas(src.id), AT, PAGE_SIZE);
    src.unmapAll();
    expect(buf.mappings).toBe(1); // the copy's reference
    src.destroy();
    const reused = self.fd.allocIoas();
    expect(() => self.ioas.copyFrom(src, AT, PAGE_SIZE)).toThrow(ClosedError);
    reused.destroy();
    self.ioas.unmap(copied, PAGE_SIZE);
    expect(buf.mappings).toBe(0);
  });

  test('copyFrom() an IOAS of another iommufd is a TypeError', () => {
    using other = openIommufd();
    const foreign = other.allocIoas();
    expect(() => self.ioas.copyFrom(foreign, AT, PAGE_SIZE)).toThrow(TypeError);
  });

  test('VFIO compat: switching the IOAS keeps the first mapping referenced', () => {
    const a = DmaBuffer.alloc(PAGE_SIZE);
    const b = DmaBuffer.alloc(PAGE_SIZE);
    const y = self.fd.allocIoas();
    self.fd.setVfioIoas(self.ioas);
    self.fd.vfio.mapDma(AT, a);
    self.fd.setVfioIoas(y);
    self.fd.vfio.mapDma(AT, b);
    expect(self.fd.vfio.unmapDma(AT, PAGE_SIZE)).toBe(BigInt(PAGE_SIZE));
    expect(a.mappings).toBe(1);
    expect(b.mappings).toBe(0);
    expect(() => a.free()).toThrow(/still mapped/);
    self.fd.setVfioIoas(self.ioas);
    self.fd.vfio.unmapAll();
    expect(a.mappings).toBe(0);
    a.free();
    b.free();
  });

  test('a raw IOMMU_IOAS_COPY keeps the source memory referenced from the destination', () => {
    const buf = DmaBuffer.alloc(PAGE_SIZE);
    self.ioas.mapFixed(AT, buf);
    const dstId = self.fd.batch((b) => b.raw('ioasAlloc')).results[0] as number;
    const copy = (dst: number): Uint8Array => {
      const arg = new Uint8Array(40);
      const v = new DataView(arg.buffer);
      v.setUint32(0, 40, true);
      v.setUint32(4, IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE, true);
      v.setUint32(8, dst, true);
      v.setUint32(12, self.ioas.id, true);
      v.setBigUint64(16, BigInt(PAGE_SIZE), true);
      v.setBigUint64(24, AT, true);
      v.setBigUint64(32, AT, true);
      return arg;
    };
    self.fd.rawIoctl(ioctlRequest('IOMMU_IOAS_COPY'), copy(dstId));
    const adopted = self.fd.allocIoas();
    expect(self.fd.batch((b) => b.raw('rawIoctl', ioctlRequest('IOMMU_IOAS_COPY'), copy(adopted.id))).error).toBeNull();
    self.ioas.unmapAll();
    expect(buf.mappings).toBe(2);
    expect(() => buf.free()).toThrow(/still mapped/);
    adopted.unmapAll();
    expect(buf.mappings).toBe(1);
    self.fd.close();
    expect(buf.mappings).toBe(0);
    buf.free();
  });

  test('fd.destroy(ioas.id) retires the Ioas and its references; a closed backend refuses', () => {
    using buf = DmaBuffer.alloc(PAGE_SIZE);
    self.ioas.mapFixed(AT, buf);
    self.ioas.unmapAll();
    const other = self.fd.allocIoas();
    other.mapFixed(AT, buf);
    self.fd.destroy(other.id);
    expect(other.destroyed).toBe(true);
    expect(buf.mappings).toBe(0);
    expect(() => other.unmapAll()).toThrow(ClosedError);
    const backend = self.fd.backend;
    const mock = self.fd.mockDomain(self.ioas);
    const hwpt = mock.hwpt;
    const vfio = self.fd.vfio;
    self.fd.close();
    using next = openIommufd(); // likely the same fd number
    next.allocIoas();
    expect(() => hwpt.setDirtyTracking(false)).toThrow(ClosedError);
    expect(() => mock.replace(1)).toThrow(ClosedError);
    expect(() => vfio.apiVersion()).toThrow(ClosedError);
    if (BACKEND === 'native') expect(() => backend.ioasAlloc()).toThrow(ClosedError);
  });

  test('an Iommufd dropped without close() is closed by GC, and only then frees its memory', async () => {
    const fds = () => (BACKEND === 'native' ? readdirSync('/proc/self/fd').length : 0);
    const openBefore = fds();
    const liveBefore = DmaBuffer.stats().liveBuffers;
    (() => {
      for (let i = 0; i < 20; i++) {
        const dropped = openIommufd();
        const buf = DmaBuffer.alloc(PAGE_SIZE);
        dropped.allocIoas().mapFixed(AT, buf);
        dropped.createAccess(dropped.allocIoas());
      }
    })();
    expect(DmaBuffer.stats().liveBuffers).toBe(liveBefore + 20);
    expect(await gcUntil(() => fds() === openBefore && DmaBuffer.stats().liveBuffers === liveBefore)).toBe(true);
  });

  test('a batch whose tuple op runs JS cannot free memory a later record maps', () => {
    const buf = DmaBuffer.alloc(PAGE_SIZE);
    const mock = self.fd.mockDomain(self.ioas);
    let refused: unknown = null;
    // getHwInfo's result object is built with Set(): this setter runs inside the batch.
    Object.defineProperty(Object.prototype, 'maxPasidLog2', {
      configurable: true,
      set(this: Record<string, unknown>, value: unknown) {
        Object.defineProperty(this, 'maxPasidLog2', { value, enumerable: true, writable: true, configurable: true });
        try {
          buf.free();
        } catch (e) {
          refused = e;
        }
      },
    });
    let run;
    try {
      run = self.fd.batch((b) => b.raw('getHwInfo', mock.idevId, new Uint8Array(8)).mapFixed(self.ioas, AT, buf));
    } finally {
      delete (Object.prototype as Record<string, unknown>).maxPasidLog2;
    }
    expect(run.error).toBeNull();
    if (BACKEND === 'native') expect(refused).toBeInstanceOf(Error);
    expect(buf.freed).toBe(false);
    expect(buf.mappings).toBe(1);
    self.ioas.unmapAll();
    mock.destroy();
    buf.free();
  });
});

describe('user addresses', () => {
  test("mapAnywhere keeps the memory's real page offset (the simulator reads it from the addon)", () => {
    // A SharedArrayBuffer lives on the heap: rarely page-aligned.
    const view = new Uint8Array(new SharedArrayBuffer(2 * PAGE_SIZE), 16, PAGE_SIZE);
    const offset = BigInt(addon().addressIn2MiB(view) % PAGE_SIZE);
    const iova = self.ioas.mapAnywhere(view);
    expect(iova % BigInt(PAGE_SIZE)).toBe(offset);
    self.ioas.unmapAll();
  });
});

describe('the simulator at scale', () => {
  test('allowIovas with 60 000 ranges', () => {
    const ranges = Array.from({ length: 60_000 }, (_, i) => ({ start: BigInt(i) * 0x10000n, last: BigInt(i) * 0x10000n + 0xfffn }));
    self.ioas.allowIovas(ranges);
    expectErrno('EINVAL', () => self.ioas.allowIovas([...ranges, { start: 0x1000n * 16n * 5n + 0x100n, last: 0x1000n * 16n * 5n + 0x200n }]));
    self.ioas.allowIovas([]);
  }, 60_000);
});

describe('found by the hostile-input fuzzer (test/hostile)', () => {
  test('a DmaBuffer has no public mapping count to lower: free() stays refused while mapped', () => {
    const buf = DmaBuffer.alloc(PAGE_SIZE);
    self.ioas.mapFixed(AT, buf);
    expect((buf as unknown as Record<string, unknown>).release).toBeUndefined();
    expect((buf as unknown as Record<string, unknown>).retain).toBeUndefined();
    const err = expectErrno('EBUSY', () => buf.free(), 'munmap');
    expect(err.message).toMatch(/still mapped by 1 IOAS mapping/);
    self.ioas.unmapAll();
    buf.free();
  });

  test("another iommufd's objects are refused, not taken for this fd's objects with the same id", () => {
    using other = openIommufd();
    const foreign = other.allocIoas(); // likely the same id as `ioas`
    const foreignMock = other.mockDomain(foreign);
    using buf = DmaBuffer.alloc(PAGE_SIZE);
    expect(() => self.fd.createAccess(foreign)).toThrow(/belongs to another iommufd/);
    expect(() => self.fd.mockDomain(foreign)).toThrow(/belongs to another iommufd/);
    expect(() => self.fd.allocHwpt(foreignMock, self.ioas)).toThrow(/belongs to another iommufd/);
    expect(() => self.fd.hwInfo(foreignMock)).toThrow(/belongs to another iommufd/);
    expect(() => self.fd.setVfioIoas(foreign)).toThrow(/belongs to another iommufd/);
    expect(() => self.fd.batch((b) => b.mapFixed(foreign, AT, buf))).toThrow(/belongs to another iommufd/);
    expect(buf.mappings).toBe(0);
    using access = self.fd.createAccess(self.ioas);
    expect(() => access.replaceIoas(foreign)).toThrow(/belongs to another iommufd/);
    const mock = self.fd.mockDomain(self.ioas);
    expect(() => mock.replace(foreign)).toThrow(/belongs to another iommufd/);
    mock.destroy();
    foreignMock.destroy();
  });

  test('missing or stand-in objects are TypeErrors that say what was expected', () => {
    const mock = self.fd.mockDomain(self.ioas);
    using mapped = DmaBuffer.alloc(PAGE_SIZE);
    const cases: [() => unknown, RegExp][] = [
      [() => self.fd.createAccess(null as never), /ioas must be an Ioas, got null/],
      [() => self.fd.createAccess({ id: self.ioas.id } as never), /ioas must be an Ioas, got an object/],
      [() => self.fd.mockDomain(undefined as never), /target must be an Ioas, a Hwpt or an id/],
      [() => self.fd.allocHwpt(null as never, self.ioas), /device must be a MockDevice or an id/],
      [() => self.fd.hwInfo({ idevId: 1 } as never), /device must be a MockDevice or an id/],
      [() => mock.replace(null as never), /target must be an Ioas, a Hwpt or an id/],
      [() => mock.triggerIopf(undefined as never), /options must be an object/],
      [() => self.ioas.allowIovas(null as never), /ranges must be an array/],
      [() => self.ioas.allowIovas([null] as never), /ranges\[0\] must be an object/],
      [() => self.fd.batch((b) => b.unmap({} as never, AT, PAGE_SIZE)), /ioas must be an Ioas/],
      [() => self.fd.batch((b) => b.accessRw(null as never, AT, new Uint8Array(8))), /access must be an Access/],
      [() => mock.hwpt.invalidate(null as never), /entries must be/],
      [() => self.ioas.mapAnywhere(mapped, null as never), /options must be an object, got null/],
      [() => self.fd.createAccess(self.ioas, 7 as never), /options must be an object, got 7/],
      [() => DmaBuffer.alloc(PAGE_SIZE, null as never), /options must be an object/],
      [() => self.fd.checkRefs(mapped, 0, null as never), /range must be an object/],
      [() => mock.hwpt.markDirty(AT, PAGE_SIZE, new DataView(new ArrayBuffer(8)) as never), /bitmap must be a Uint8Array/],
    ];
    for (const [call, message] of cases) expect(call).toThrow(message);
    using queue = self.fd.allocFaultQueue();
    expect(() => queue.respond('x' as never)).toThrow(/responses must be an array/);
    mock.destroy();
  });

  test('the Backend contract refuses wrong argument types with a TypeError on both backends', () => {
    const backend = self.fd.backend as unknown as Record<string, (...args: unknown[]) => unknown>;
    expect(() => backend.ioasUnmap!(self.ioas.id, 4096, 4096)).toThrow(TypeError); // numbers where u64 bigints go
    expect(() => backend.accessRw!(1, 0, AT, undefined)).toThrow(TypeError);
    expect(() => backend.hwptAlloc!(undefined)).toThrow(TypeError);
    expect(() => backend.destroy!(Symbol('id'))).toThrow(TypeError);
    // In a batch the op's error is the run's error (or thrown while encoding): a TypeError either way.
    let error: unknown;
    try {
      error = self.fd.batch((b) => b.raw('ioasUnmap', self.ioas.id, 1, 2)).error;
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TypeError);
  });
});
