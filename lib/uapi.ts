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

export const U64_MAX = (1n << 64n) - 1n;
export const U32_MAX = 0xffff_ffff;
