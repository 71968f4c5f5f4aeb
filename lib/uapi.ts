// Constants of the 6.12 iommufd uAPI (include/uapi/linux/iommufd.h) and of the
// selftest mock (drivers/iommu/iommufd/iommufd_test.h). The one TypeScript
// definition of each; struct layouts live in native/uapi.h.

/** IOMMU_IOAS_MAP flags (enum iommufd_ioas_map_flags). */
export const IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0;
export const IOMMU_IOAS_MAP_WRITEABLE = 1 << 1;
export const IOMMU_IOAS_MAP_READABLE = 1 << 2;

/** IOMMU_TEST_OP_CREATE_ACCESS flags. */
export const MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES = 1 << 0;
/** IOMMU_TEST_OP_ACCESS_PAGES flags. */
export const MOCK_FLAGS_ACCESS_WRITE = 1 << 0;
/** IOMMU_TEST_OP_ACCESS_RW flags. */
export const MOCK_ACCESS_RW_WRITE = 1 << 0;
export const MOCK_ACCESS_RW_SLOW_PATH = 1 << 2;

/** The IOVA aperture of a mock domain: attaching one reserves everything outside it. */
export const MOCK_APERTURE_START = 1n << 24n;
export const MOCK_APERTURE_LAST = (1n << 31n) - 1n;

/** IOMMU_OPTION. */
export const IOMMU_OPTION_RLIMIT_MODE = 0;
export const IOMMU_OPTION_HUGE_PAGES = 1;
export const IOMMU_OPTION_OP_SET = 0;
export const IOMMU_OPTION_OP_GET = 1;

/** IOMMU_VFIO_IOAS ops. */
export const IOMMU_VFIO_IOAS_GET = 0;
export const IOMMU_VFIO_IOAS_SET = 1;
export const IOMMU_VFIO_IOAS_CLEAR = 2;

/** IOMMU_HWPT_ALLOC flags and data types. */
export const IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0;
export const IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1;
export const IOMMU_HWPT_FAULT_ID_VALID = 1 << 2;
/** IOMMU_HWPT_ALLOC_PASID of kernels newer than 6.12 (6.12: EOPNOTSUPP). */
export const IOMMU_HWPT_ALLOC_PASID = 1 << 3;
export const IOMMU_HWPT_DATA_NONE = 0;
export const IOMMU_HWPT_DATA_VTD_S1 = 1;

/** IOMMU_GET_HW_INFO. */
export const IOMMU_HW_INFO_TYPE_NONE = 0;
/** IOMMU_HW_INFO_TYPE_DEFAULT of newer kernels: no input type (the driver's own). */
export const IOMMU_HW_INFO_TYPE_DEFAULT = 0;
/** IOMMU_HW_INFO_FLAG_INPUT_TYPE of kernels newer than 6.12 (6.12 answers EOPNOTSUPP to any flag). */
export const IOMMU_HW_INFO_FLAG_INPUT_TYPE = 1 << 0;
export const IOMMU_HW_INFO_TYPE_INTEL_VTD = 1;
export const IOMMU_HW_CAP_DIRTY_TRACKING = 1 << 0;
export const IOMMU_HW_CAP_PCI_PASID_EXEC = 1 << 1;
export const IOMMU_HW_CAP_PCI_PASID_PRIV = 1 << 2;
/** 7.3: ATS is not supported or cannot be used (the mock's devices always report it; 6.12 lacks the bit). */
export const IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED = 1 << 3;

/** Dirty tracking. */
export const IOMMU_HWPT_DIRTY_TRACKING_ENABLE = 1;
export const IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR = 1;

/** Fault queues. */
export const IOMMU_PGFAULT_FLAGS_PASID_VALID = 1 << 0;
export const IOMMU_PGFAULT_FLAGS_LAST_PAGE = 1 << 1;
export const IOMMU_PGFAULT_PERM_READ = 1 << 0;
export const IOMMU_PGFAULT_PERM_WRITE = 1 << 1;
export const IOMMUFD_PAGE_RESP_SUCCESS = 0;
export const IOMMUFD_PAGE_RESP_INVALID = 1;

/** The selftest mock driver's data formats (iommufd_test.h). */
export const IOMMU_HW_INFO_TYPE_SELFTEST = 0xfeedbeef;
export const IOMMU_HW_INFO_SELFTEST_REGVAL = 0xdeadbeef;
export const IOMMU_HWPT_DATA_SELFTEST = 0xdead;
export const IOMMU_TEST_IOTLB_DEFAULT = 0xbadbeef;
export const IOMMU_HWPT_INVALIDATE_DATA_SELFTEST = 0xdeadbeef;
export const IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID = 0xdadbeef;
export const IOMMU_TEST_INVALIDATE_FLAG_ALL = 1 << 0;
export const MOCK_NESTED_DOMAIN_IOTLB_ID_MAX = 3;
export const MOCK_NESTED_DOMAIN_IOTLB_NUM = 4;
export const MOCK_FLAGS_DEVICE_NO_DIRTY = 1 << 0;
/** 6.12 only: the device's mock domains use huge IO pages (7.3: EINVAL; use MOCK_IOMMUPT_HUGE). */
export const MOCK_FLAGS_DEVICE_HUGE_IOVA = 1 << 1;
/** 7.3: the device has PASIDs (pasid-num-bits MOCK_PASID_WIDTH); 6.12: EINVAL. */
export const MOCK_FLAGS_DEVICE_PASID = 1 << 2;
/** 7.3: the PASID width of the mock IOMMU and of its PASID devices (GET_HW_INFO's out_max_pasid_log2). */
export const MOCK_PASID_WIDTH = 20;
/** struct iommu_hwpt_selftest.pagetable_type of 7.3 (a paging HWPT's data): the AMDv1 mock page table, 2 KiB granule. */
export const MOCK_IOMMUPT_DEFAULT = 0;
/** Huge IO pages only (MOCK_HUGE_PAGE_SIZE | PAGE_SIZE) and no mock aperture. */
export const MOCK_IOMMUPT_HUGE = 1;

/** The selftest ops, IOMMU_TEST_OP_* (iommufd_test.h of 6.12). */
export const IOMMU_TEST_OPS = {
  ADD_RESERVED: 1,
  MOCK_DOMAIN: 2,
  MD_CHECK_MAP: 3,
  MD_CHECK_REFS: 4,
  CREATE_ACCESS: 5,
  DESTROY_ACCESS_PAGES: 6,
  ACCESS_PAGES: 7,
  ACCESS_RW: 8,
  SET_TEMP_MEMORY_LIMIT: 9,
  MOCK_DOMAIN_REPLACE: 10,
  ACCESS_REPLACE_IOAS: 11,
  MOCK_DOMAIN_FLAGS: 12,
  DIRTY: 13,
  MD_CHECK_IOTLB: 14,
  TRIGGER_IOPF: 15,
} as const;

/** The selftest ops 7.3 adds (iommufd_test.h of 7.3); struct iommu_test_cmd keeps its 72 bytes. */
export const IOMMU_TEST_OPS_7_3 = {
  DEV_CHECK_CACHE: 16,
  TRIGGER_VEVENT: 17,
  PASID_ATTACH: 18,
  PASID_REPLACE: 19,
  PASID_DETACH: 20,
  PASID_CHECK_HWPT: 21,
  DMABUF_GET: 22,
  DMABUF_REVOKE: 23,
} as const;

/** iommufd ioctl numbers (_IOC_NR) of 6.12, IOMMUFD_CMD_*. */
export const IOMMUFD_CMDS = {
  IOMMU_DESTROY: 0x80,
  IOMMU_IOAS_ALLOC: 0x81,
  IOMMU_IOAS_ALLOW_IOVAS: 0x82,
  IOMMU_IOAS_COPY: 0x83,
  IOMMU_IOAS_IOVA_RANGES: 0x84,
  IOMMU_IOAS_MAP: 0x85,
  IOMMU_IOAS_UNMAP: 0x86,
  IOMMU_OPTION: 0x87,
  IOMMU_VFIO_IOAS: 0x88,
  IOMMU_HWPT_ALLOC: 0x89,
  IOMMU_GET_HW_INFO: 0x8a,
  IOMMU_HWPT_SET_DIRTY_TRACKING: 0x8b,
  IOMMU_HWPT_GET_DIRTY_BITMAP: 0x8c,
  IOMMU_HWPT_INVALIDATE: 0x8d,
  IOMMU_FAULT_QUEUE_ALLOC: 0x8e,
  IOMMU_TEST_CMD: 0x80 + 32,
} as const;

/**
 * The iommufd ioctls 7.3 adds (IOMMUFD_CMD_* of its iommufd.h). IOAS_NOIOMMU_GET_PA
 * is in main.c's table on every 7.3 build, though it does anything only with
 * CONFIG_IOMMUFD_NOIOMMU.
 */
export const IOMMUFD_CMDS_7_3 = {
  IOMMU_IOAS_MAP_FILE: 0x8f,
  IOMMU_VIOMMU_ALLOC: 0x90,
  IOMMU_VDEVICE_ALLOC: 0x91,
  IOMMU_IOAS_CHANGE_PROCESS: 0x92,
  IOMMU_VEVENTQ_ALLOC: 0x93,
  IOMMU_HW_QUEUE_ALLOC: 0x94,
  IOMMU_IOAS_NOIOMMU_GET_PA: 0x95,
} as const;

/** VFIO type1 compatibility (include/uapi/linux/vfio.h). */
export const VFIO_API_VERSION = 0;
export const VFIO_TYPE1_IOMMU = 1;
export const VFIO_TYPE1v2_IOMMU = 3;
export const VFIO_UNMAP_ALL = 9;
export const VFIO_UPDATE_VADDR = 10;
export const VFIO_DMA_MAP_FLAG_READ = 1 << 0;
export const VFIO_DMA_MAP_FLAG_WRITE = 1 << 1;
export const VFIO_DMA_UNMAP_FLAG_ALL = 1 << 1;
export const VFIO_IOMMU_INFO_PGSIZES = 1 << 0;
export const VFIO_IOMMU_INFO_CAPS = 1 << 1;
export const VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = 1;

export const U64_MAX = (1n << 64n) - 1n;
export const U32_MAX = 0xffff_ffff;
