export { Access, PinnedPages, type PinOptions, type RwOptions } from './api/access.js';
export type {
  Backend,
  Capabilities,
  Fault,
  FileRef,
  HwInfo,
  HwQueueAllocRequest,
  HwptAllocRequest,
  IovaRange,
  IovaRanges,
  MockDomainIds,
  NoiommuPa,
  UserRange,
  VfioIommuInfo,
  ViommuAllocRequest,
} from './backend/contract.js';
export { Batch, type BatchResult } from './api/batch.js';
export { DmaBuffer, type DmaBufferOptions, type HugePages } from './memory/dma-buffer.js';
export type { RunContext, Scenario } from './cli/context.js';
export { LINUX_ERRNO, LINUX_ERRNO_7_3, type ErrnoName } from './uapi/errno.js';
export { ClosedError, IommufdError, errnoName, errnoNumber } from './base/errors.js';
export { failNthSweep, setupFailslab, type SweepResult } from './api/fail-nth.js';
export { FaultQueue } from './api/fault-queue.js';
export { Hwpt, type DirtyBitmapOptions, type RawInvalidation, type SelftestInvalidation } from './api/hwpt.js';
export { Ioas, type CopyOptions, type MapFileOptions, type MapOptions, type MappableFile } from './api/ioas.js';
export {
  Iommufd,
  type AccessOptions,
  type HwInfoOptions,
  type HwInfoResult,
  type HwQueueOptions,
  type HwptOptions,
  type MockDomainOptions,
  type VeventqOptions,
  type ViommuOptions,
  type OpenOptions,
} from './api/iommufd.js';
export { MemFile, type MemFileOptions } from './memory/mem-file.js';
export type { Memory, RangeOptions } from './memory/memory.js';
export { MockDevice, type IopfOptions } from './api/mock-device.js';
export { MockDmabuf } from './api/mock-dmabuf.js';
export { NativeBackend } from './native/backend.js';
export { setCapIpcLock, setCapSysRawio } from './api/process-caps.js';
export { VFIO_REQUESTS, checkRawIoctl, iommufdIoctl, ioctlRequest, type RawArg } from './backend/raw-ioctl.js';
export { addonAvailable } from './native/binding.js';
export { SimBackend } from './sim/backend.js';
export { DEFAULT_SIM_KERNEL, SIM_KERNELS, type SimKernel } from './sim/kernels.js';
export * from './uapi/constants.js';
export { VfioCompat, type VfioMapOptions } from './api/vfio-compat.js';
export {
  HwQueue,
  MAX_VEVENTS_PER_READ,
  SIZEOF_IOMMUFD_VEVENT_HEADER,
  SIZEOF_IOMMU_VIOMMU_EVENT_SELFTEST,
  SIZEOF_IOMMU_VIOMMU_INVALIDATE_SELFTEST,
  SIZEOF_IOMMU_VIOMMU_SELFTEST,
  Vdevice,
  Veventq,
  Viommu,
  ViommuMapping,
  type Vevent,
  type ViommuInvalidation,
  type ViommuSelftestData,
} from './api/viommu.js';
export * from './vfio/device.js';
export * from './vfio/vtd.js';
export {
  DmaTimeoutError,
  EDU_DEVICE_ID,
  EDU_DMA_MASK,
  EDU_MAX_TRANSFER,
  EDU_VENDOR_ID,
  EduDmaEngine,
  openDmaEngine,
  type DmaCopyOptions,
  type DmaCopyResult,
  type DmaEngine,
  type EduOptions,
} from './vfio/dma-engine/index.js';
export {
  X86_MSI_WINDOW,
  runValidation,
  type CheckResult,
  type CheckStatus,
  type ValidationOptions,
  type ValidationReport,
} from './vfio/hw-validation.js';
