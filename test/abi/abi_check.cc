// Compiled (syntax only) by test/host/abi.test.ts against the uapi headers of
// Debian's linux-source-6.12: every layout and ioctl number in native/uapi.h
// must equal the kernel's own.
#include <cstddef>
#include <linux/iommufd.h>
#include "iommufd_test.h"
#include "../../native/uapi.h"

namespace u = iommufd_uapi;

#define SAME_VALUE(ours, theirs) \
  static_assert(static_cast<unsigned long long>(ours) == static_cast<unsigned long long>(theirs), #ours)
#define SAME_SIZE(ours, theirs) static_assert(sizeof(u::ours) == sizeof(struct theirs), #ours " size")
#define SAME_OFFSET(ours, theirs, field, kfield) \
  static_assert(offsetof(u::ours, field) == offsetof(struct theirs, kfield), #ours "." #field)

SAME_VALUE(u::kIommuDestroy, IOMMU_DESTROY);
SAME_VALUE(u::kIommuIoasAlloc, IOMMU_IOAS_ALLOC);
SAME_VALUE(u::kIommuIoasIovaRanges, IOMMU_IOAS_IOVA_RANGES);
SAME_VALUE(u::kIommuIoasMap, IOMMU_IOAS_MAP);
SAME_VALUE(u::kIommuIoasUnmap, IOMMU_IOAS_UNMAP);
SAME_VALUE(u::kIommuTestCmd, IOMMU_TEST_CMD);

SAME_SIZE(Destroy, iommu_destroy);
SAME_OFFSET(Destroy, iommu_destroy, id, id);
SAME_SIZE(IoasAlloc, iommu_ioas_alloc);
SAME_OFFSET(IoasAlloc, iommu_ioas_alloc, out_ioas_id, out_ioas_id);
SAME_SIZE(IovaRange, iommu_iova_range);
SAME_OFFSET(IovaRange, iommu_iova_range, last, last);
SAME_SIZE(IoasIovaRanges, iommu_ioas_iova_ranges);
SAME_OFFSET(IoasIovaRanges, iommu_ioas_iova_ranges, num_iovas, num_iovas);
SAME_OFFSET(IoasIovaRanges, iommu_ioas_iova_ranges, allowed_iovas, allowed_iovas);
SAME_OFFSET(IoasIovaRanges, iommu_ioas_iova_ranges, out_iova_alignment, out_iova_alignment);
SAME_SIZE(IoasMap, iommu_ioas_map);
SAME_OFFSET(IoasMap, iommu_ioas_map, flags, flags);
SAME_OFFSET(IoasMap, iommu_ioas_map, ioas_id, ioas_id);
SAME_OFFSET(IoasMap, iommu_ioas_map, user_va, user_va);
SAME_OFFSET(IoasMap, iommu_ioas_map, length, length);
SAME_OFFSET(IoasMap, iommu_ioas_map, iova, iova);
SAME_SIZE(IoasUnmap, iommu_ioas_unmap);
SAME_OFFSET(IoasUnmap, iommu_ioas_unmap, iova, iova);
SAME_OFFSET(IoasUnmap, iommu_ioas_unmap, length, length);

SAME_SIZE(TestCmd, iommu_test_cmd);
SAME_OFFSET(TestCmd, iommu_test_cmd, op, op);
SAME_OFFSET(TestCmd, iommu_test_cmd, id, id);
SAME_OFFSET(TestCmd, iommu_test_cmd, last, last);
SAME_OFFSET(TestCmd, iommu_test_cmd, add_reserved.length, add_reserved.length);
SAME_OFFSET(TestCmd, iommu_test_cmd, mock_domain.out_idev_id, mock_domain.out_idev_id);
SAME_OFFSET(TestCmd, iommu_test_cmd, check_map.iova, check_map.iova);
SAME_OFFSET(TestCmd, iommu_test_cmd, check_map.uptr, check_map.uptr);
SAME_OFFSET(TestCmd, iommu_test_cmd, check_refs.uptr, check_refs.uptr);
SAME_OFFSET(TestCmd, iommu_test_cmd, check_refs.refs, check_refs.refs);
SAME_OFFSET(TestCmd, iommu_test_cmd, create_access.out_access_fd, create_access.out_access_fd);
SAME_OFFSET(TestCmd, iommu_test_cmd, create_access.flags, create_access.flags);
SAME_OFFSET(TestCmd, iommu_test_cmd, destroy_access_pages.access_pages_id, destroy_access_pages.access_pages_id);
SAME_OFFSET(TestCmd, iommu_test_cmd, access_pages.out_access_pages_id, access_pages.out_access_pages_id);
SAME_OFFSET(TestCmd, iommu_test_cmd, access_pages.iova, access_pages.iova);
SAME_OFFSET(TestCmd, iommu_test_cmd, access_pages.uptr, access_pages.uptr);
SAME_OFFSET(TestCmd, iommu_test_cmd, access_rw.length, access_rw.length);
SAME_OFFSET(TestCmd, iommu_test_cmd, access_rw.flags, access_rw.flags);
SAME_OFFSET(TestCmd, iommu_test_cmd, memory_limit.limit, memory_limit.limit);
SAME_OFFSET(TestCmd, iommu_test_cmd, access_replace_ioas.ioas_id, access_replace_ioas.ioas_id);

SAME_VALUE(u::kTestOpAddReserved, IOMMU_TEST_OP_ADD_RESERVED);
SAME_VALUE(u::kTestOpMockDomain, IOMMU_TEST_OP_MOCK_DOMAIN);
SAME_VALUE(u::kTestOpMdCheckMap, IOMMU_TEST_OP_MD_CHECK_MAP);
SAME_VALUE(u::kTestOpMdCheckRefs, IOMMU_TEST_OP_MD_CHECK_REFS);
SAME_VALUE(u::kTestOpCreateAccess, IOMMU_TEST_OP_CREATE_ACCESS);
SAME_VALUE(u::kTestOpDestroyAccessPages, IOMMU_TEST_OP_DESTROY_ACCESS_PAGES);
SAME_VALUE(u::kTestOpAccessPages, IOMMU_TEST_OP_ACCESS_PAGES);
SAME_VALUE(u::kTestOpAccessRw, IOMMU_TEST_OP_ACCESS_RW);
SAME_VALUE(u::kTestOpSetTempMemoryLimit, IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT);
SAME_VALUE(u::kTestOpMockDomainReplace, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE);
SAME_VALUE(u::kTestOpAccessReplaceIoas, IOMMU_TEST_OP_ACCESS_REPLACE_IOAS);
SAME_VALUE(u::kTestOpMockDomainFlags, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS);
SAME_VALUE(u::kTestOpDirty, IOMMU_TEST_OP_DIRTY);
SAME_VALUE(u::kTestOpMdCheckIotlb, IOMMU_TEST_OP_MD_CHECK_IOTLB);
SAME_VALUE(u::kTestOpTriggerIopf, IOMMU_TEST_OP_TRIGGER_IOPF);

// The TypeScript constants of lib/uapi.ts, written out by the test.
#include "ts_constants.h"
SAME_VALUE(ts::IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_FIXED_IOVA);
SAME_VALUE(ts::IOMMU_IOAS_MAP_WRITEABLE, IOMMU_IOAS_MAP_WRITEABLE);
SAME_VALUE(ts::IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_READABLE);
SAME_VALUE(ts::MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
SAME_VALUE(ts::MOCK_FLAGS_ACCESS_WRITE, MOCK_FLAGS_ACCESS_WRITE);
SAME_VALUE(ts::MOCK_ACCESS_RW_WRITE, MOCK_ACCESS_RW_WRITE);
SAME_VALUE(ts::MOCK_ACCESS_RW_SLOW_PATH, MOCK_ACCESS_RW_SLOW_PATH);
SAME_VALUE(ts::MOCK_APERTURE_START, MOCK_APERTURE_START);
SAME_VALUE(ts::MOCK_APERTURE_LAST, MOCK_APERTURE_LAST);
