export { Access, PinnedPages, type PinOptions, type RwOptions } from './access.js';
export type {
  Backend,
  BatchOutcome,
  BatchStep,
  Capabilities,
  Fault,
  HwInfo,
  HwptAllocRequest,
  IovaRange,
  IovaRanges,
  MockDomainIds,
  UserRange,
  VfioIommuInfo,
} from './backend.js';
export { Batch, type BatchResult } from './batch.js';
export { DmaBuffer, type DmaBufferOptions, type HugePages } from './dma-buffer.js';
export { LINUX_ERRNO, type ErrnoName } from './errno.js';
export { IommufdError, errnoName, errnoNumber } from './errors.js';
export { failNthSweep, setupFailslab, type SweepResult } from './fail-nth.js';
export { FaultQueue } from './fault-queue.js';
export { Hwpt, type DirtyBitmapOptions, type RawInvalidation, type SelftestInvalidation } from './hwpt.js';
export { Ioas, type CopyOptions, type MapOptions } from './ioas.js';
export {
  Iommufd,
  type AccessOptions,
  type HwInfoResult,
  type HwptOptions,
  type MockDomainOptions,
  type OpenOptions,
} from './iommufd.js';
export type { Memory, RangeOptions } from './memory.js';
export { MockDevice, type IopfOptions } from './mock-device.js';
export { NativeBackend } from './native/backend.js';
export { addonAvailable } from './native/binding.js';
export { SimBackend } from './sim/backend.js';
export * from './uapi.js';
export { VfioCompat, type VfioMapOptions } from './vfio-compat.js';
