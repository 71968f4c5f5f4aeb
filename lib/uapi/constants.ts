// The uAPI constants the package names, each taken from the generated tables of
// lib/uapi/layout.ts (scripts/gen-uapi.mjs reads them from each kernel's headers):
// the 6.12 value, or the 7.3 one for what only newer kernels have.
import { UAPI_LAYOUTS } from './layout.js';

const L612 = UAPI_LAYOUTS['6.12'];
const L73 = UAPI_LAYOUTS['7.3'];
const K = L612.constants;
const K73 = L73.constants;

type Ops<T> = { readonly [N in keyof T]: T[N] extends { readonly op: infer V } ? V : never };
type Nrs<T> = { readonly [N in keyof T]: T[N] extends { readonly nr: infer V } ? V : never };

/** A table's `field` per name, in ascending order of value (the kernel's enum order). */
function column<T extends Record<string, Record<F, number>>, F extends string>(table: T, field: F): Record<string, number> {
  return Object.fromEntries(Object.entries(table).map(([n, e]) => [n, e[field]] as const).sort((a, b) => a[1] - b[1]));
}

/** The entries of `newer` that `older` lacks. */
function added<T extends Record<string, number>>(newer: T, older: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(newer).filter(([n]) => !(n in older)));
}

/** IOMMU_IOAS_MAP flags (enum iommufd_ioas_map_flags). */
export const IOMMU_IOAS_MAP_FIXED_IOVA: number = K.IOMMU_IOAS_MAP_FIXED_IOVA;
export const IOMMU_IOAS_MAP_WRITEABLE: number = K.IOMMU_IOAS_MAP_WRITEABLE;
export const IOMMU_IOAS_MAP_READABLE: number = K.IOMMU_IOAS_MAP_READABLE;

/** IOMMU_TEST_OP_CREATE_ACCESS flags. */
export const MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES: number = K.MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES;
/** IOMMU_TEST_OP_ACCESS_PAGES flags. */
export const MOCK_FLAGS_ACCESS_WRITE: number = K.MOCK_FLAGS_ACCESS_WRITE;
/** IOMMU_TEST_OP_ACCESS_RW flags. */
export const MOCK_ACCESS_RW_WRITE: number = K.MOCK_ACCESS_RW_WRITE;
export const MOCK_ACCESS_RW_SLOW_PATH: number = K.MOCK_ACCESS_RW_SLOW_PATH;

/** The IOVA aperture of a mock domain: attaching one reserves everything outside it. */
export const MOCK_APERTURE_START = BigInt(K.MOCK_APERTURE_START);
export const MOCK_APERTURE_LAST = BigInt(K.MOCK_APERTURE_LAST);

/** IOMMU_OPTION. */
export const IOMMU_OPTION_RLIMIT_MODE: number = K.IOMMU_OPTION_RLIMIT_MODE;
export const IOMMU_OPTION_HUGE_PAGES: number = K.IOMMU_OPTION_HUGE_PAGES;
export const IOMMU_OPTION_OP_SET: number = K.IOMMU_OPTION_OP_SET;
export const IOMMU_OPTION_OP_GET: number = K.IOMMU_OPTION_OP_GET;

/** IOMMU_VFIO_IOAS ops. */
export const IOMMU_VFIO_IOAS_GET: number = K.IOMMU_VFIO_IOAS_GET;
export const IOMMU_VFIO_IOAS_SET: number = K.IOMMU_VFIO_IOAS_SET;
export const IOMMU_VFIO_IOAS_CLEAR: number = K.IOMMU_VFIO_IOAS_CLEAR;

/** IOMMU_HWPT_ALLOC flags and data types. */
export const IOMMU_HWPT_ALLOC_NEST_PARENT: number = K.IOMMU_HWPT_ALLOC_NEST_PARENT;
export const IOMMU_HWPT_ALLOC_DIRTY_TRACKING: number = K.IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
export const IOMMU_HWPT_FAULT_ID_VALID: number = K.IOMMU_HWPT_FAULT_ID_VALID;
/** IOMMU_HWPT_ALLOC_PASID of kernels newer than 6.12 (6.12: EOPNOTSUPP). */
export const IOMMU_HWPT_ALLOC_PASID: number = K73.IOMMU_HWPT_ALLOC_PASID;
export const IOMMU_HWPT_DATA_NONE: number = K.IOMMU_HWPT_DATA_NONE;
export const IOMMU_HWPT_DATA_VTD_S1: number = K.IOMMU_HWPT_DATA_VTD_S1;

/** IOMMU_GET_HW_INFO. */
export const IOMMU_HW_INFO_TYPE_NONE: number = K.IOMMU_HW_INFO_TYPE_NONE;
/** IOMMU_HW_INFO_TYPE_DEFAULT of newer kernels: no input type (the driver's own). */
export const IOMMU_HW_INFO_TYPE_DEFAULT: number = K73.IOMMU_HW_INFO_TYPE_DEFAULT;
/** IOMMU_HW_INFO_FLAG_INPUT_TYPE of kernels newer than 6.12 (6.12 answers EOPNOTSUPP to any flag). */
export const IOMMU_HW_INFO_FLAG_INPUT_TYPE: number = K73.IOMMU_HW_INFO_FLAG_INPUT_TYPE;
export const IOMMU_HW_INFO_TYPE_INTEL_VTD: number = K.IOMMU_HW_INFO_TYPE_INTEL_VTD;
export const IOMMU_HW_CAP_DIRTY_TRACKING: number = K.IOMMU_HW_CAP_DIRTY_TRACKING;
export const IOMMU_HW_CAP_PCI_PASID_EXEC: number = K.IOMMU_HW_CAP_PCI_PASID_EXEC;
export const IOMMU_HW_CAP_PCI_PASID_PRIV: number = K.IOMMU_HW_CAP_PCI_PASID_PRIV;
/** 7.3: ATS is not supported or cannot be used (the mock's devices always report it; 6.12 lacks the bit). */
export const IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED: number = K73.IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED;

/** Dirty tracking. */
export const IOMMU_HWPT_DIRTY_TRACKING_ENABLE: number = K.IOMMU_HWPT_DIRTY_TRACKING_ENABLE;
export const IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR: number = K.IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR;

/** Fault queues. */
export const IOMMU_PGFAULT_FLAGS_PASID_VALID: number = K.IOMMU_PGFAULT_FLAGS_PASID_VALID;
export const IOMMU_PGFAULT_FLAGS_LAST_PAGE: number = K.IOMMU_PGFAULT_FLAGS_LAST_PAGE;
export const IOMMU_PGFAULT_PERM_READ: number = K.IOMMU_PGFAULT_PERM_READ;
export const IOMMU_PGFAULT_PERM_WRITE: number = K.IOMMU_PGFAULT_PERM_WRITE;
export const IOMMUFD_PAGE_RESP_SUCCESS: number = K.IOMMUFD_PAGE_RESP_SUCCESS;
export const IOMMUFD_PAGE_RESP_INVALID: number = K.IOMMUFD_PAGE_RESP_INVALID;

/** The selftest mock driver's data formats (iommufd_test.h). */
export const IOMMU_HW_INFO_TYPE_SELFTEST: number = K.IOMMU_HW_INFO_TYPE_SELFTEST;
export const IOMMU_HW_INFO_SELFTEST_REGVAL: number = K.IOMMU_HW_INFO_SELFTEST_REGVAL;
export const IOMMU_HWPT_DATA_SELFTEST: number = K.IOMMU_HWPT_DATA_SELFTEST;
export const IOMMU_TEST_IOTLB_DEFAULT: number = K.IOMMU_TEST_IOTLB_DEFAULT;
export const IOMMU_HWPT_INVALIDATE_DATA_SELFTEST: number = K.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST;
export const IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID: number = K.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID;
export const IOMMU_TEST_INVALIDATE_FLAG_ALL: number = K.IOMMU_TEST_INVALIDATE_FLAG_ALL;
export const MOCK_NESTED_DOMAIN_IOTLB_ID_MAX: number = K.MOCK_NESTED_DOMAIN_IOTLB_ID_MAX;
export const MOCK_NESTED_DOMAIN_IOTLB_NUM: number = K.MOCK_NESTED_DOMAIN_IOTLB_NUM;
export const MOCK_FLAGS_DEVICE_NO_DIRTY: number = K.MOCK_FLAGS_DEVICE_NO_DIRTY;
/** 6.12 only: the device's mock domains use huge IO pages (7.3: EINVAL; use MOCK_IOMMUPT_HUGE). */
export const MOCK_FLAGS_DEVICE_HUGE_IOVA: number = K.MOCK_FLAGS_DEVICE_HUGE_IOVA;
/** 7.3: the device has PASIDs (pasid-num-bits MOCK_PASID_WIDTH); 6.12: EINVAL. */
export const MOCK_FLAGS_DEVICE_PASID: number = K73.MOCK_FLAGS_DEVICE_PASID;
/** 7.3: the PASID width of the mock IOMMU and of its PASID devices (GET_HW_INFO's out_max_pasid_log2). */
export const MOCK_PASID_WIDTH: number = K73.MOCK_PASID_WIDTH;
/** struct iommu_hwpt_selftest.pagetable_type of 7.3 (a paging HWPT's data): the AMDv1 mock page table, 2 KiB granule. */
export const MOCK_IOMMUPT_DEFAULT: number = K73.MOCK_IOMMUPT_DEFAULT;
/** Huge IO pages only (MOCK_HUGE_PAGE_SIZE | PAGE_SIZE) and no mock aperture. */
export const MOCK_IOMMUPT_HUGE: number = K73.MOCK_IOMMUPT_HUGE;

/** vIOMMU objects of kernels newer than 6.12 (IOMMU_VIOMMU_ALLOC, IOMMU_VEVENTQ_ALLOC, IOMMU_HW_QUEUE_ALLOC). */
export const IOMMU_VIOMMU_TYPE_DEFAULT: number = K73.IOMMU_VIOMMU_TYPE_DEFAULT;
export const IOMMU_VIOMMU_TYPE_ARM_SMMUV3: number = K73.IOMMU_VIOMMU_TYPE_ARM_SMMUV3;
export const IOMMU_VEVENTQ_TYPE_DEFAULT: number = K73.IOMMU_VEVENTQ_TYPE_DEFAULT;
/** struct iommufd_vevent_header.flags: events were lost here (the queue was full); no payload follows. */
export const IOMMU_VEVENTQ_FLAG_LOST_EVENTS: number = K73.IOMMU_VEVENTQ_FLAG_LOST_EVENTS;
export const IOMMU_HW_QUEUE_TYPE_DEFAULT: number = K73.IOMMU_HW_QUEUE_TYPE_DEFAULT;
/** The selftest mock's vIOMMU formats (iommufd_test.h of 7.3). */
export const IOMMU_VIOMMU_TYPE_SELFTEST: number = K73.IOMMU_VIOMMU_TYPE_SELFTEST;
export const IOMMU_VEVENTQ_TYPE_SELFTEST: number = K73.IOMMU_VEVENTQ_TYPE_SELFTEST;
export const IOMMU_HW_QUEUE_TYPE_SELFTEST: number = K73.IOMMU_HW_QUEUE_TYPE_SELFTEST;
export const IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST: number = K73.IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST;
export const IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID: number = K73.IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID;
/** What every cache entry of a new mock device holds (IOMMU_TEST_OP_DEV_CHECK_CACHE). */
export const IOMMU_TEST_DEV_CACHE_DEFAULT: number = K73.IOMMU_TEST_DEV_CACHE_DEFAULT;
export const MOCK_DEV_CACHE_ID_MAX: number = K73.MOCK_DEV_CACHE_ID_MAX;
export const MOCK_DEV_CACHE_NUM: number = K73.MOCK_DEV_CACHE_NUM;
/** How many HW queues a selftest vIOMMU has (index 0 .. max - 1, each after the one before). */
export const IOMMU_TEST_HW_QUEUE_MAX: number = K73.IOMMU_TEST_HW_QUEUE_MAX;

/** The selftest ops, IOMMU_TEST_OP_* (iommufd_test.h of 6.12). */
export const IOMMU_TEST_OPS = column(L612.testOps, 'op') as Ops<typeof L612.testOps>;

/** The selftest ops 7.3 adds (iommufd_test.h of 7.3). */
export const IOMMU_TEST_OPS_7_3 = added(column(L73.testOps, 'op'), IOMMU_TEST_OPS) as Omit<Ops<typeof L73.testOps>, keyof typeof IOMMU_TEST_OPS>;

/** iommufd ioctl numbers (_IOC_NR) of 6.12, IOMMUFD_CMD_*. */
export const IOMMUFD_CMDS = column(L612.ioctls, 'nr') as Nrs<typeof L612.ioctls>;

/**
 * The iommufd ioctls 7.3 adds (IOMMUFD_CMD_* of its iommufd.h). IOAS_NOIOMMU_GET_PA
 * is in main.c's table on every 7.3 build, though it does anything only with
 * CONFIG_IOMMUFD_NOIOMMU.
 */
export const IOMMUFD_CMDS_7_3 = added(column(L73.ioctls, 'nr'), IOMMUFD_CMDS) as Omit<Nrs<typeof L73.ioctls>, keyof typeof IOMMUFD_CMDS>;

/** VFIO type1 compatibility (include/uapi/linux/vfio.h). */
export const VFIO_API_VERSION: number = K.VFIO_API_VERSION;
export const VFIO_TYPE1_IOMMU: number = K.VFIO_TYPE1_IOMMU;
export const VFIO_TYPE1v2_IOMMU: number = K.VFIO_TYPE1v2_IOMMU;
export const VFIO_UNMAP_ALL: number = K.VFIO_UNMAP_ALL;
export const VFIO_UPDATE_VADDR: number = K.VFIO_UPDATE_VADDR;
export const VFIO_DMA_MAP_FLAG_READ: number = K.VFIO_DMA_MAP_FLAG_READ;
export const VFIO_DMA_MAP_FLAG_WRITE: number = K.VFIO_DMA_MAP_FLAG_WRITE;
export const VFIO_DMA_UNMAP_FLAG_ALL: number = K.VFIO_DMA_UNMAP_FLAG_ALL;
export const VFIO_IOMMU_INFO_PGSIZES: number = K.VFIO_IOMMU_INFO_PGSIZES;
export const VFIO_IOMMU_INFO_CAPS: number = K.VFIO_IOMMU_INFO_CAPS;
export const VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE: number = K.VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE;

export const U64_MAX = (1n << 64n) - 1n;
export const U32_MAX = 0xffff_ffff;
