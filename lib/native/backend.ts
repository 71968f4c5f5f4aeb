// The Backend over the real kernel: marshals arguments to the addon, nothing more.
import type { Backend, IovaRanges, MockDomainIds, UserRange } from '../backend.js';
import { type Addon, addon } from './binding.js';

export class NativeBackend implements Backend {
  readonly name = 'native';
  readonly #addon: Addon;
  readonly #fd: number;

  /** Takes ownership of `fd`, an open /dev/iommu. */
  constructor(fd: number) {
    this.#addon = addon();
    this.#fd = fd;
  }

  static open(path: string): NativeBackend {
    return new NativeBackend(addon().open(path));
  }

  get fd(): number {
    return this.#fd;
  }

  close(): void {
    this.#addon.close(this.#fd);
  }

  destroy(id: number): void {
    this.#addon.destroy(this.#fd, id);
  }

  ioasAlloc(): number {
    return this.#addon.ioasAlloc(this.#fd);
  }

  ioasMap(ioasId: number, flags: number, m: UserRange, iova: bigint): bigint {
    return this.#addon.ioasMap(this.#fd, ioasId, flags, m.bytes, m.offset, m.length, iova);
  }

  ioasUnmap(ioasId: number, iova: bigint, length: bigint): bigint {
    return this.#addon.ioasUnmap(this.#fd, ioasId, iova, length);
  }

  ioasIovaRanges(ioasId: number): IovaRanges {
    const { ranges, alignment } = this.#addon.ioasIovaRanges(this.#fd, ioasId);
    const out = [];
    for (let i = 0; i < ranges.length; i += 2) out.push({ start: ranges[i]!, last: ranges[i + 1]! });
    return { ranges: out, alignment };
  }

  mockDomain(ioasId: number): MockDomainIds {
    return this.#addon.testMockDomain(this.#fd, ioasId);
  }

  mdCheckMap(hwptId: number, iova: bigint, m: UserRange): void {
    this.#addon.testMdCheckMap(this.#fd, hwptId, iova, m.bytes, m.offset, m.length);
  }

  mdCheckRefs(m: UserRange, refs: number): void {
    this.#addon.testMdCheckRefs(this.#fd, m.bytes, m.offset, m.length, refs);
  }

  createAccess(ioasId: number, flags: number): number {
    return this.#addon.testCreateAccess(this.#fd, ioasId, flags);
  }

  closeAccess(access: number): void {
    this.#addon.close(access);
  }

  accessPages(access: number, flags: number, iova: bigint, length: number, verify: UserRange | null): number {
    return this.#addon.testAccessPages(this.#fd, access, flags, iova, length, verify?.bytes ?? null, verify?.offset ?? 0);
  }

  destroyAccessPages(access: number, accessPagesId: number): void {
    this.#addon.testDestroyAccessPages(this.#fd, access, accessPagesId);
  }

  accessRw(access: number, flags: number, iova: bigint, m: UserRange): void {
    this.#addon.testAccessRw(this.#fd, access, flags, iova, m.bytes, m.offset, m.length);
  }

  accessReplaceIoas(access: number, ioasId: number): void {
    this.#addon.testAccessReplaceIoas(this.#fd, access, ioasId);
  }

  setTempMemoryLimit(bytes: number): void {
    this.#addon.testSetTempMemoryLimit(this.#fd, bytes);
  }
}
