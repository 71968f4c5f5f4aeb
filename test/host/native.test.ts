// The addon on a host without /dev/iommu: DmaBuffer memory, the bounds checks
// in front of every ioctl (proven with a file that is not an iommufd, so any
// call that got through would come back as ENOTTY), and open() failures.
import { openSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { DmaBuffer, Iommufd, IommufdError, NativeBackend, addonAvailable } from '../../lib/index.js';
import { type EncodedBatch, OP_IOAS_MAP, OP_TUPLE } from '../../lib/api/batch.js';
import { PAGE_SIZE, gcUntil } from '../helpers.js';

test('the addon is built and loads', () => {
  // npm install builds it on Linux; a missing addon here is a broken install.
  expect(addonAvailable()).toBe(true);
});

describe('DmaBuffer', () => {
  test('is page aligned, zeroed, writable and freed explicitly', () => {
    const before = DmaBuffer.stats();
    const buffer = DmaBuffer.alloc(3 * PAGE_SIZE + 5);
    expect(buffer.length).toBe(3 * PAGE_SIZE + 5);
    expect(buffer.bytes.every((b) => b === 0)).toBe(true);
    buffer.bytes[buffer.length - 1] = 0xaa;
    expect(DmaBuffer.stats().liveBuffers).toBe(before.liveBuffers + 1);
    expect(DmaBuffer.stats().liveBytes).toBe(before.liveBytes + buffer.length);
    const view = buffer.bytes;
    buffer.free();
    expect(view.byteLength).toBe(0); // detached: JS can no longer reach the memory
    expect(() => buffer.bytes).toThrow(/freed/);
    expect(DmaBuffer.stats()).toEqual(before);
    buffer.free(); // idempotent
  });

  test('transparent huge pages are 2 MiB aligned', () => {
    using buffer = DmaBuffer.alloc(2 * 1024 * 1024, { hugePages: 'transparent' });
    expect(buffer.length).toBe(2 * 1024 * 1024);
    buffer.bytes.fill(7);
    expect(buffer.bytes[buffer.length - 1]).toBe(7);
  });

  test('bad sizes and modes are rejected', () => {
    expect(() => DmaBuffer.alloc(0)).toThrow(RangeError);
    expect(() => DmaBuffer.alloc(-1)).toThrow(RangeError);
    expect(() => DmaBuffer.alloc(1, { hugePages: 'giant' as 'none' })).toThrow(TypeError);
  });

  test('an unreferenced buffer is unmapped by GC', async () => {
    const before = DmaBuffer.stats().liveBuffers;
    (() => {
      DmaBuffer.alloc(PAGE_SIZE).bytes.fill(1);
    })();
    expect(DmaBuffer.stats().liveBuffers).toBe(before + 1);
    expect(await gcUntil(() => DmaBuffer.stats().liveBuffers === before)).toBe(true);
  });
});

describe('bounds checks in the addon', () => {
  // /dev/null takes any ioctl and answers ENOTTY: reaching it proves the call got through.
  const backend = new NativeBackend(openSync('/dev/null', 'r+'));

  test('in-bounds calls reach the ioctl', () => {
    using buffer = DmaBuffer.alloc(PAGE_SIZE);
    const error = (() => {
      try {
        backend.ioasMap(1, 6, { bytes: buffer.bytes, offset: 0, length: PAGE_SIZE }, 0n);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(IommufdError);
    expect(error).toMatchObject({ code: 'ENOTTY', op: 'IOMMU_IOAS_MAP', syscall: 'ioctl' });
  });

  test.each([
    ['past the end', 0, PAGE_SIZE + 1],
    ['offset past the end', PAGE_SIZE + 1, 0],
    ['wrapping', 1, Number.MAX_SAFE_INTEGER],
  ])('%s is a RangeError, not an ioctl', (_name, offset, length) => {
    using buffer = DmaBuffer.alloc(PAGE_SIZE);
    const range = { bytes: buffer.bytes, offset, length };
    expect(() => backend.ioasMap(1, 6, range, 0n)).toThrow(RangeError);
    expect(() => backend.mdCheckRefs(range, 0)).toThrow(RangeError);
    expect(() => backend.mdCheckMap(1, 0n, range)).toThrow(RangeError);
    expect(() => backend.accessRw(1, 0, 0n, range)).toThrow(RangeError);
  });

  test('a window into a larger buffer is bounded by the window, not the buffer', () => {
    const big = new Uint8Array(4 * PAGE_SIZE);
    const window = big.subarray(PAGE_SIZE, 2 * PAGE_SIZE);
    expect(() => backend.accessRw(1, 0, 0n, { bytes: window, offset: 0, length: PAGE_SIZE + 1 })).toThrow(RangeError);
  });

  test('views wider than a byte are bounded by their byte length and offset', () => {
    // The addon takes any TypedArray, DataView or ArrayBuffer as memory:
    // its bounds are bytes, whatever the element size.
    const big = new ArrayBuffer(4 * PAGE_SIZE);
    const reach = (bytes: Uint8Array, length: number) => () => backend.accessRw(1, 0, 0n, { bytes, offset: 0, length });
    const views = [
      new Uint32Array(big, PAGE_SIZE, PAGE_SIZE / 4),
      new Float64Array(big, PAGE_SIZE, PAGE_SIZE / 8),
      new BigUint64Array(big, PAGE_SIZE, PAGE_SIZE / 8),
      new Uint16Array(big, PAGE_SIZE, PAGE_SIZE / 2),
      new DataView(big, PAGE_SIZE, PAGE_SIZE),
    ] as unknown as Uint8Array[];
    for (const view of views) {
      expect(reach(view, PAGE_SIZE)).toThrow(expect.objectContaining({ code: 'ENOTTY' }));
      expect(reach(view, PAGE_SIZE + 1)).toThrow(RangeError);
    }
    expect(reach(big as unknown as Uint8Array, 4 * PAGE_SIZE)).toThrow(expect.objectContaining({ code: 'ENOTTY' }));
    expect(reach(big as unknown as Uint8Array, 4 * PAGE_SIZE + 1)).toThrow(RangeError);
  });

  test('the page-granular pin check is bounded too', () => {
    using buffer = DmaBuffer.alloc(2 * PAGE_SIZE);
    const at = (offset: number, iova: bigint, length: number) => () =>
      backend.accessPages(1, 0, iova, length, { bytes: buffer.bytes, offset, length });
    expect(at(0, 100n, 16)).toThrow(RangeError); // would read 100 bytes before the buffer
    expect(at(PAGE_SIZE + 100, 100n, PAGE_SIZE)).toThrow(RangeError); // would read past the end
    expect(at(100, 100n, 16)).toThrow(expect.objectContaining({ code: 'ENOTTY' }));
  });

  test('freed memory is refused', () => {
    const buffer = DmaBuffer.alloc(PAGE_SIZE);
    const bytes = buffer.bytes;
    buffer.free();
    expect(() => backend.accessRw(1, 0, 0n, { bytes, offset: 0, length: 0 })).toThrow(RangeError);
  });

  test('wrong argument types are TypeErrors', () => {
    expect(() => backend.ioasMap(1, 6, { bytes: 'x' as unknown as Uint8Array, offset: 0, length: 1 }, 0n)).toThrow(
      TypeError,
    );
    expect(() => backend.ioasUnmap(1, 1 as unknown as bigint, 0n)).toThrow(TypeError);
    expect(() => backend.ioasUnmap('1' as unknown as number, 1n, 0n)).toThrow(TypeError);
    expect(() => backend.ioasUnmap(1, 1n << 64n, 0n)).toThrow(RangeError);
    expect(() => backend.ioasUnmap(2 ** 32, 1n, 0n)).toThrow(RangeError);
  });
});

describe('batch encoding checks in the addon', () => {
  // The same /dev/null trick: a batch whose ops all pass the checks runs its first
  // op and stops with ENOTTY; a bad record is refused before anything runs.
  const backend = new NativeBackend(openSync('/dev/null', 'r+'));
  const map = (memoryIndex: number, offset: number, length: number): EncodedBatch => ({
    count: 1,
    code: Float64Array.of(OP_IOAS_MAP, 1, 6, memoryIndex, offset, length),
    wide: BigUint64Array.of(0n, 0n),
    memories: [new Uint8Array(PAGE_SIZE)],
    tuples: [],
    tupleCalls: [],
  });
  const run = (batch: EncodedBatch, out = new BigUint64Array(batch.count)) => backend.runBatch(batch, out, 0);

  test('a well-formed op reaches the ioctl and stops the batch there', () => {
    const outcome = run(map(0, 0, PAGE_SIZE));
    expect(outcome.done).toBe(0);
    expect(outcome.error).toMatchObject({ code: 'ENOTTY', op: 'IOMMU_IOAS_MAP' });
  });

  test.each([
    ['memory past the end', map(0, 1, PAGE_SIZE), RangeError],
    ['a memory index that does not exist', map(1, 0, PAGE_SIZE), RangeError],
    ['a fractional offset', map(0, 0.5, 1), RangeError],
    ['an unknown opcode', { ...map(0, 0, 1), code: Float64Array.of(99, 1, 0, 0, 0, 0) }, RangeError],
    ['a tuple that does not exist', { ...map(0, 0, 1), code: Float64Array.of(OP_TUPLE, 3, 0, 0, 0, 0) }, RangeError],
    ['an unknown tuple op', { ...map(0, 0, 1), code: Float64Array.of(OP_TUPLE, 0, 0, 0, 0, 0), tuples: [['nope']] }, TypeError],
    ['code and wide of different op counts', { ...map(0, 0, 1), wide: new BigUint64Array(4) }, RangeError],
  ] as [string, EncodedBatch, ErrorConstructor][])('%s is refused before any op runs', (_name, batch, type) => {
    expect(() => run(batch)).toThrow(type);
  });

  test('an out array of the wrong size is refused', () => {
    expect(() => run(map(0, 0, 1), new BigUint64Array(2))).toThrow(RangeError);
  });
});

describe('Iommufd.open', () => {
  test('a missing device explains itself', () => {
    const error = (() => {
      try {
        Iommufd.open({ path: '/nonexistent/iommu', backend: 'native' });
      } catch (e) {
        return e as IommufdError;
      }
    })();
    expect(error).toBeInstanceOf(IommufdError);
    expect(error?.code).toBe('ENOENT');
    expect(error?.syscall).toBe('open');
    expect(error?.message).toMatch(/\/nonexistent\/iommu/);
  });

  test('auto (the default) falls back to the simulator only where the device is missing', () => {
    using fd = Iommufd.open({ path: '/nonexistent/iommu' });
    expect(fd.backend.name).toBe('sim');
    // A device that exists but is no iommufd is an error, not a silent fallback.
    expect(() => Iommufd.open({ path: '/proc/version' })).toThrow(IommufdError);
  });

  test('an unknown backend is a TypeError', () => {
    expect(() => Iommufd.open({ backend: 'bogus' as 'native' })).toThrow(TypeError);
  });
});

describe('pagemap() and setCapSysRawio() (NOIOMMU_GET_PA tests)', () => {
  test('pagemap reads one entry per page of the memory and refuses pages past its end', async () => {
    const { addon } = await import('../../lib/native/binding.js');
    using buffer = DmaBuffer.alloc(3 * PAGE_SIZE);
    buffer.bytes.fill(1); // present
    const entries = addon().pagemap(buffer.bytes, PAGE_SIZE + 7, 2);
    expect(entries).toBeInstanceOf(BigUint64Array);
    expect(entries.length).toBe(2);
    for (const e of entries) expect(e >> 63n).toBe(1n);
    expect(() => addon().pagemap(buffer.bytes, 0, 4)).toThrow(RangeError);
    expect(() => addon().pagemap(buffer.bytes, 3 * PAGE_SIZE, 1)).toThrow(RangeError);
    expect(() => addon().pagemap(buffer.bytes, 0, 0)).toThrow(RangeError);
    expect(() => addon().pagemap(buffer.bytes.subarray(PAGE_SIZE, PAGE_SIZE + 10), 0, 2)).toThrow(RangeError);
  });

  test('setCapSysRawio toggles CAP_SYS_RAWIO (bit 17) in the effective set of the JS thread', async () => {
    const { readFileSync } = await import('node:fs');
    const { setCapSysRawio } = await import('../../lib/index.js');
    const effective = () => BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/thread-self/status', 'utf8'))![1]}`);
    const had = (effective() >> 17n) & 1n;
    expect(() => setCapSysRawio('no' as unknown as boolean)).toThrow(TypeError);
    setCapSysRawio(false);
    try {
      expect((effective() >> 17n) & 1n).toBe(0n);
    } finally {
      if (had) setCapSysRawio(true);
    }
    expect((effective() >> 17n) & 1n).toBe(had);
  });
});
