// Loads the C++ addon once, and explains in one message what to do when it
// cannot be loaded.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IommufdError } from '../errors.js';

/** The addon's exports (native/addon.cc, native/dma_buffer.cc). */
export interface Addon {
  setErrorFactory(factory: (errno: number, op: string) => Error): void;
  pageSize(): number;
  open(path: string): number;
  close(fd: number): void;
  destroy(fd: number, id: number): void;
  ioasAlloc(fd: number): number;
  ioasMap(fd: number, ioasId: number, flags: number, memory: Uint8Array, offset: number, length: number, iova: bigint): bigint;
  ioasUnmap(fd: number, ioasId: number, iova: bigint, length: bigint): bigint;
  ioasIovaRanges(fd: number, ioasId: number): { ranges: BigUint64Array; alignment: bigint };
  testMockDomain(fd: number, ioasId: number): { stdevId: number; hwptId: number; idevId: number };
  testMdCheckMap(fd: number, hwptId: number, iova: bigint, memory: Uint8Array, offset: number, length: number): void;
  testMdCheckRefs(fd: number, memory: Uint8Array, offset: number, length: number, refs: number): void;
  testCreateAccess(fd: number, ioasId: number, flags: number): number;
  testAccessPages(fd: number, accessFd: number, flags: number, iova: bigint, length: number, memory: Uint8Array | null, offset: number): number;
  testDestroyAccessPages(fd: number, accessFd: number, accessPagesId: number): void;
  testAccessRw(fd: number, accessFd: number, flags: number, iova: bigint, memory: Uint8Array, offset: number, length: number): void;
  testAccessReplaceIoas(fd: number, accessFd: number, ioasId: number): void;
  testSetTempMemoryLimit(fd: number, limit: number): void;
  dmaAlloc(length: number, huge: string, shared: boolean): ArrayBuffer;
  dmaFree(buffer: ArrayBuffer): boolean;
  dmaStats(): { liveBuffers: number; liveBytes: number };
}

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

let cached: { addon: Addon } | { error: Error } | undefined;

function candidates(): string[] {
  const fromEnv = process.env.IOMMUFD_ADDON;
  return [
    ...(fromEnv ? [fromEnv] : []),
    join(packageRoot, 'build', 'Release', 'iommufd.node'),
    join(packageRoot, 'build', 'Debug', 'iommufd.node'),
    join(packageRoot, 'build-cmake', 'Release', 'iommufd.node'),
    join(packageRoot, 'build-cmake', 'Debug', 'iommufd.node'),
  ];
}

function load(): { addon: Addon } | { error: Error } {
  const require = createRequire(import.meta.url);
  const tried: string[] = [];
  for (const path of candidates()) {
    if (!existsSync(path)) {
      tried.push(`${path}: not built`);
      continue;
    }
    try {
      const addon = require(path) as Addon;
      addon.setErrorFactory((errno, op) => new IommufdError(errno, op));
      return { addon };
    } catch (e) {
      tried.push(`${path}: ${(e as Error).message}`);
    }
  }
  const why =
    process.platform !== 'linux'
      ? `the native addon only exists on Linux (this is ${process.platform})`
      : 'the native addon is not built';
  return {
    error: new Error(
      `iommufd: ${why}. Tried:\n  ${tried.join('\n  ')}\n` +
        'Build it with `npm rebuild iommufd` (needs g++, make, python3).',
    ),
  };
}

/** The addon, or a thrown Error saying what was tried and how to fix it. */
export function addon(): Addon {
  cached ??= load();
  if ('error' in cached) throw cached.error;
  return cached.addon;
}

/** Whether the addon loads, without throwing. */
export function addonAvailable(): boolean {
  cached ??= load();
  return 'addon' in cached;
}
