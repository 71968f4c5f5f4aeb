export { Access, PinnedPages, type PinOptions, type RwOptions } from './access.js';
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
} from './backend.js';
export { Batch, type BatchResult } from './batch.js';
export { DmaBuffer, type DmaBufferOptions, type HugePages } from './dma-buffer.js';
export type { RunContext, Scenario } from './cli/context.js';
export { LINUX_ERRNO, LINUX_ERRNO_7_3, type ErrnoName } from './errno.js';
export { ClosedError, IommufdError, errnoName, errnoNumber } from './errors.js';
export { failNthSweep, setupFailslab, type SweepResult } from './fail-nth.js';
export { FaultQueue } from './fault-queue.js';
export { Hwpt, type DirtyBitmapOptions, type RawInvalidation, type SelftestInvalidation } from './hwpt.js';
export { Ioas, type CopyOptions, type MapFileOptions, type MapOptions, type MappableFile } from './ioas.js';
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
} from './iommufd.js';
export { MemFile, type MemFileOptions } from './mem-file.js';
export type { Memory, RangeOptions } from './memory.js';
export { MockDevice, type IopfOptions } from './mock-device.js';
export { MockDmabuf } from './mock-dmabuf.js';
export { NativeBackend } from './native/backend.js';
export { setCapIpcLock, setCapSysRawio } from './process-caps.js';
export { VFIO_REQUESTS, checkRawIoctl, iommufdIoctl, ioctlRequest, type RawArg } from './raw-ioctl.js';
export { addonAvailable } from './native/binding.js';
export { SimBackend } from './sim/backend.js';
export { DEFAULT_SIM_KERNEL, SIM_KERNELS, type SimKernel } from './sim/kernels.js';
export * from './uapi.js';
export { VfioCompat, type VfioMapOptions } from './vfio-compat.js';
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
} from './viommu.js';
export * from './vfio-device.js';
export * from './vtd.js';
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
} from './dma-engine/index.js';
export {
  X86_MSI_WINDOW,
  runValidation,
  type CheckResult,
  type CheckStatus,
  type ValidationOptions,
  type ValidationReport,
} from './hw-validation.js';
