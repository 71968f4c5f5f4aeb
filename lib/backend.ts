// The contract between the typed API and a backend (the native addon today,
// the simulator later): one method per ioctl or test op, plain data in and
// out, u64 values as bigint, failures thrown as IommufdError.

/** A byte range of JS memory the kernel will read or write. */
export interface UserRange {
  /** The whole memory object (DmaBuffer bytes or a caller's typed array). */
  readonly bytes: Uint8Array;
  readonly offset: number;
  readonly length: number;
}

export interface IovaRange {
  start: bigint;
  last: bigint;
}

export interface IovaRanges {
  ranges: IovaRange[];
  /** out_iova_alignment: the minimum IOVA alignment of the IOAS. */
  alignment: bigint;
}

export interface MockDomainIds {
  stdevId: number;
  hwptId: number;
  idevId: number;
}

export interface Backend {
  readonly name: 'native' | 'sim';
  /** Release the iommufd and everything the kernel holds for it. */
  close(): void;

  destroy(id: number): void;
  ioasAlloc(): number;
  /** Returns the IOVA used (the kernel's choice unless FIXED_IOVA). */
  ioasMap(ioasId: number, flags: number, memory: UserRange, iova: bigint): bigint;
  /** Returns the number of bytes unmapped. */
  ioasUnmap(ioasId: number, iova: bigint, length: bigint): bigint;
  ioasIovaRanges(ioasId: number): IovaRanges;

  // IOMMU_TEST_CMD ops of the CONFIG_IOMMUFD_TEST mock.
  mockDomain(ioasId: number): MockDomainIds;
  mdCheckMap(hwptId: number, iova: bigint, memory: UserRange): void;
  mdCheckRefs(memory: UserRange, refs: number): void;
  /** Returns a handle (the access fd on the kernel) for the access ops below. */
  createAccess(ioasId: number, flags: number): number;
  closeAccess(access: number): void;
  /** `verify` is the memory the pinned pages must be (the mock's uptr check), or null. */
  accessPages(access: number, flags: number, iova: bigint, length: number, verify: UserRange | null): number;
  destroyAccessPages(access: number, accessPagesId: number): void;
  accessRw(access: number, flags: number, iova: bigint, memory: UserRange): void;
  accessReplaceIoas(access: number, ioasId: number): void;
  /** Bytes of scratch memory for page batches (global to the kernel). */
  setTempMemoryLimit(bytes: number): void;
}
