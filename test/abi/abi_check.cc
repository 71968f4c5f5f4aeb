// Compiled (syntax only) by test/host/abi.test.ts against the uapi headers of
// Debian's linux-source-6.12: every layout and ioctl number in native/uapi.h
// must equal the kernel's own.
#include <cstddef>
#include <linux/iommufd.h>
// vfio.h uses the kernel-only __user annotation in one struct.
#define __user
#include <linux/vfio.h>
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

SAME_VALUE(u::kIommuIoasAllowIovas, IOMMU_IOAS_ALLOW_IOVAS);
SAME_VALUE(u::kIommuIoasCopy, IOMMU_IOAS_COPY);
SAME_VALUE(u::kIommuOption, IOMMU_OPTION);
SAME_VALUE(u::kIommuVfioIoas, IOMMU_VFIO_IOAS);
SAME_VALUE(u::kIommuHwptAlloc, IOMMU_HWPT_ALLOC);
SAME_VALUE(u::kIommuGetHwInfo, IOMMU_GET_HW_INFO);
SAME_VALUE(u::kIommuHwptSetDirtyTracking, IOMMU_HWPT_SET_DIRTY_TRACKING);
SAME_VALUE(u::kIommuHwptGetDirtyBitmap, IOMMU_HWPT_GET_DIRTY_BITMAP);
SAME_VALUE(u::kIommuHwptInvalidate, IOMMU_HWPT_INVALIDATE);
SAME_VALUE(u::kIommuFaultQueueAlloc, IOMMU_FAULT_QUEUE_ALLOC);
SAME_VALUE(u::kVfioGetApiVersion, VFIO_GET_API_VERSION);
SAME_VALUE(u::kVfioCheckExtension, VFIO_CHECK_EXTENSION);
SAME_VALUE(u::kVfioSetIommu, VFIO_SET_IOMMU);
SAME_VALUE(u::kVfioIommuGetInfo, VFIO_IOMMU_GET_INFO);
SAME_VALUE(u::kVfioIommuMapDma, VFIO_IOMMU_MAP_DMA);
SAME_VALUE(u::kVfioIommuUnmapDma, VFIO_IOMMU_UNMAP_DMA);

SAME_SIZE(IoasAllowIovas, iommu_ioas_allow_iovas);
SAME_OFFSET(IoasAllowIovas, iommu_ioas_allow_iovas, num_iovas, num_iovas);
SAME_OFFSET(IoasAllowIovas, iommu_ioas_allow_iovas, allowed_iovas, allowed_iovas);
SAME_SIZE(IoasCopy, iommu_ioas_copy);
SAME_OFFSET(IoasCopy, iommu_ioas_copy, dst_ioas_id, dst_ioas_id);
SAME_OFFSET(IoasCopy, iommu_ioas_copy, src_ioas_id, src_ioas_id);
SAME_OFFSET(IoasCopy, iommu_ioas_copy, length, length);
SAME_OFFSET(IoasCopy, iommu_ioas_copy, dst_iova, dst_iova);
SAME_OFFSET(IoasCopy, iommu_ioas_copy, src_iova, src_iova);
SAME_SIZE(Option, iommu_option);
SAME_OFFSET(Option, iommu_option, op, op);
SAME_OFFSET(Option, iommu_option, object_id, object_id);
SAME_OFFSET(Option, iommu_option, val64, val64);
SAME_SIZE(VfioIoas, iommu_vfio_ioas);
SAME_OFFSET(VfioIoas, iommu_vfio_ioas, ioas_id, ioas_id);
SAME_OFFSET(VfioIoas, iommu_vfio_ioas, op, op);
SAME_SIZE(HwptAlloc, iommu_hwpt_alloc);
SAME_OFFSET(HwptAlloc, iommu_hwpt_alloc, dev_id, dev_id);
SAME_OFFSET(HwptAlloc, iommu_hwpt_alloc, pt_id, pt_id);
SAME_OFFSET(HwptAlloc, iommu_hwpt_alloc, out_hwpt_id, out_hwpt_id);
SAME_OFFSET(HwptAlloc, iommu_hwpt_alloc, data_type, data_type);
SAME_OFFSET(HwptAlloc, iommu_hwpt_alloc, data_len, data_len);
SAME_OFFSET(HwptAlloc, iommu_hwpt_alloc, data_uptr, data_uptr);
SAME_OFFSET(HwptAlloc, iommu_hwpt_alloc, fault_id, fault_id);
SAME_SIZE(HwInfo, iommu_hw_info);
SAME_OFFSET(HwInfo, iommu_hw_info, dev_id, dev_id);
SAME_OFFSET(HwInfo, iommu_hw_info, data_len, data_len);
SAME_OFFSET(HwInfo, iommu_hw_info, data_uptr, data_uptr);
SAME_OFFSET(HwInfo, iommu_hw_info, out_data_type, out_data_type);
SAME_OFFSET(HwInfo, iommu_hw_info, out_max_pasid_log2, out_max_pasid_log2);
SAME_OFFSET(HwInfo, iommu_hw_info, out_capabilities, out_capabilities);
SAME_SIZE(HwptSetDirtyTracking, iommu_hwpt_set_dirty_tracking);
SAME_OFFSET(HwptSetDirtyTracking, iommu_hwpt_set_dirty_tracking, hwpt_id, hwpt_id);
SAME_SIZE(HwptGetDirtyBitmap, iommu_hwpt_get_dirty_bitmap);
SAME_OFFSET(HwptGetDirtyBitmap, iommu_hwpt_get_dirty_bitmap, flags, flags);
SAME_OFFSET(HwptGetDirtyBitmap, iommu_hwpt_get_dirty_bitmap, iova, iova);
SAME_OFFSET(HwptGetDirtyBitmap, iommu_hwpt_get_dirty_bitmap, page_size, page_size);
SAME_OFFSET(HwptGetDirtyBitmap, iommu_hwpt_get_dirty_bitmap, data, data);
SAME_SIZE(HwptInvalidate, iommu_hwpt_invalidate);
SAME_OFFSET(HwptInvalidate, iommu_hwpt_invalidate, data_uptr, data_uptr);
SAME_OFFSET(HwptInvalidate, iommu_hwpt_invalidate, data_type, data_type);
SAME_OFFSET(HwptInvalidate, iommu_hwpt_invalidate, entry_len, entry_len);
SAME_OFFSET(HwptInvalidate, iommu_hwpt_invalidate, entry_num, entry_num);
SAME_SIZE(FaultAlloc, iommu_fault_alloc);
SAME_OFFSET(FaultAlloc, iommu_fault_alloc, out_fault_id, out_fault_id);
SAME_OFFSET(FaultAlloc, iommu_fault_alloc, out_fault_fd, out_fault_fd);
SAME_SIZE(HwptPgfault, iommu_hwpt_pgfault);
SAME_OFFSET(HwptPgfault, iommu_hwpt_pgfault, perm, perm);
SAME_OFFSET(HwptPgfault, iommu_hwpt_pgfault, addr, addr);
SAME_OFFSET(HwptPgfault, iommu_hwpt_pgfault, length, length);
SAME_OFFSET(HwptPgfault, iommu_hwpt_pgfault, cookie, cookie);
SAME_SIZE(HwptPageResponse, iommu_hwpt_page_response);
SAME_OFFSET(HwptPageResponse, iommu_hwpt_page_response, code, code);
SAME_SIZE(TestHwInfo, iommu_test_hw_info);
SAME_SIZE(HwptSelftest, iommu_hwpt_selftest);
SAME_SIZE(HwptInvalidateSelftest, iommu_hwpt_invalidate_selftest);
SAME_OFFSET(HwptInvalidateSelftest, iommu_hwpt_invalidate_selftest, iotlb_id, iotlb_id);
SAME_VALUE(u::kHwInfoTypeSelftest, IOMMU_HW_INFO_TYPE_SELFTEST);
SAME_VALUE(u::kHwptDataSelftest, IOMMU_HWPT_DATA_SELFTEST);
SAME_VALUE(u::kHwptInvalidateDataSelftest, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST);
SAME_SIZE(VfioIommuType1Info, vfio_iommu_type1_info);
SAME_OFFSET(VfioIommuType1Info, vfio_iommu_type1_info, iova_pgsizes, iova_pgsizes);
SAME_OFFSET(VfioIommuType1Info, vfio_iommu_type1_info, cap_offset, cap_offset);
SAME_SIZE(VfioInfoCapHeader, vfio_info_cap_header);
SAME_SIZE(VfioIovaRangeCap, vfio_iommu_type1_info_cap_iova_range);
SAME_OFFSET(VfioIovaRangeCap, vfio_iommu_type1_info_cap_iova_range, nr_iovas, nr_iovas);
SAME_SIZE(VfioDmaMap, vfio_iommu_type1_dma_map);
SAME_OFFSET(VfioDmaMap, vfio_iommu_type1_dma_map, vaddr, vaddr);
SAME_OFFSET(VfioDmaMap, vfio_iommu_type1_dma_map, iova, iova);
SAME_OFFSET(VfioDmaMap, vfio_iommu_type1_dma_map, size, size);
SAME_SIZE(VfioDmaUnmap, vfio_iommu_type1_dma_unmap);
SAME_OFFSET(VfioDmaUnmap, vfio_iommu_type1_dma_unmap, iova, iova);
SAME_OFFSET(VfioDmaUnmap, vfio_iommu_type1_dma_unmap, size, size);

SAME_SIZE(TestCmd, iommu_test_cmd);
SAME_OFFSET(TestCmd, iommu_test_cmd, mock_domain_flags.dev_flags, mock_domain_flags.dev_flags);
SAME_OFFSET(TestCmd, iommu_test_cmd, mock_domain_replace.pt_id, mock_domain_replace.pt_id);
SAME_OFFSET(TestCmd, iommu_test_cmd, dirty.page_size, dirty.page_size);
SAME_OFFSET(TestCmd, iommu_test_cmd, dirty.uptr, dirty.uptr);
SAME_OFFSET(TestCmd, iommu_test_cmd, dirty.out_nr_dirty, dirty.out_nr_dirty);
SAME_OFFSET(TestCmd, iommu_test_cmd, check_iotlb.iotlb, check_iotlb.iotlb);
SAME_OFFSET(TestCmd, iommu_test_cmd, trigger_iopf.perm, trigger_iopf.perm);
SAME_OFFSET(TestCmd, iommu_test_cmd, trigger_iopf.addr, trigger_iopf.addr);
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
SAME_OFFSET(TestCmd, iommu_test_cmd, access_rw.uptr, access_rw.uptr);
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
SAME_VALUE(ts::TS_IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_FIXED_IOVA);
SAME_VALUE(ts::TS_IOMMU_IOAS_MAP_WRITEABLE, IOMMU_IOAS_MAP_WRITEABLE);
SAME_VALUE(ts::TS_IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_READABLE);
SAME_VALUE(ts::TS_MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
SAME_VALUE(ts::TS_MOCK_FLAGS_ACCESS_WRITE, MOCK_FLAGS_ACCESS_WRITE);
SAME_VALUE(ts::TS_MOCK_ACCESS_RW_WRITE, MOCK_ACCESS_RW_WRITE);
SAME_VALUE(ts::TS_MOCK_ACCESS_RW_SLOW_PATH, MOCK_ACCESS_RW_SLOW_PATH);
SAME_VALUE(ts::TS_MOCK_APERTURE_START, MOCK_APERTURE_START);
SAME_VALUE(ts::TS_MOCK_APERTURE_LAST, MOCK_APERTURE_LAST);
SAME_VALUE(ts::TS_IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_RLIMIT_MODE);
SAME_VALUE(ts::TS_IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_HUGE_PAGES);
SAME_VALUE(ts::TS_IOMMU_OPTION_OP_GET, IOMMU_OPTION_OP_GET);
SAME_VALUE(ts::TS_IOMMU_VFIO_IOAS_GET, IOMMU_VFIO_IOAS_GET);
SAME_VALUE(ts::TS_IOMMU_VFIO_IOAS_SET, IOMMU_VFIO_IOAS_SET);
SAME_VALUE(ts::TS_IOMMU_VFIO_IOAS_CLEAR, IOMMU_VFIO_IOAS_CLEAR);
SAME_VALUE(ts::TS_IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_NEST_PARENT);
SAME_VALUE(ts::TS_IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
SAME_VALUE(ts::TS_IOMMU_HWPT_FAULT_ID_VALID, IOMMU_HWPT_FAULT_ID_VALID);
SAME_VALUE(ts::TS_IOMMU_HWPT_DATA_VTD_S1, IOMMU_HWPT_DATA_VTD_S1);
SAME_VALUE(ts::TS_IOMMU_HW_INFO_TYPE_INTEL_VTD, IOMMU_HW_INFO_TYPE_INTEL_VTD);
SAME_VALUE(ts::TS_IOMMU_HW_CAP_DIRTY_TRACKING, IOMMU_HW_CAP_DIRTY_TRACKING);
SAME_VALUE(ts::TS_IOMMU_HWPT_DIRTY_TRACKING_ENABLE, IOMMU_HWPT_DIRTY_TRACKING_ENABLE);
SAME_VALUE(ts::TS_IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR, IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR);
SAME_VALUE(ts::TS_IOMMU_PGFAULT_PERM_WRITE, IOMMU_PGFAULT_PERM_WRITE);
SAME_VALUE(ts::TS_IOMMUFD_PAGE_RESP_INVALID, IOMMUFD_PAGE_RESP_INVALID);
SAME_VALUE(ts::TS_IOMMU_HW_INFO_TYPE_SELFTEST, IOMMU_HW_INFO_TYPE_SELFTEST);
SAME_VALUE(ts::TS_IOMMU_HW_INFO_SELFTEST_REGVAL, IOMMU_HW_INFO_SELFTEST_REGVAL);
SAME_VALUE(ts::TS_IOMMU_HWPT_DATA_SELFTEST, IOMMU_HWPT_DATA_SELFTEST);
SAME_VALUE(ts::TS_IOMMU_TEST_IOTLB_DEFAULT, IOMMU_TEST_IOTLB_DEFAULT);
SAME_VALUE(ts::TS_IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST);
SAME_VALUE(ts::TS_IOMMU_TEST_INVALIDATE_FLAG_ALL, IOMMU_TEST_INVALIDATE_FLAG_ALL);
SAME_VALUE(ts::TS_MOCK_NESTED_DOMAIN_IOTLB_ID_MAX, MOCK_NESTED_DOMAIN_IOTLB_ID_MAX);
SAME_VALUE(ts::TS_MOCK_FLAGS_DEVICE_NO_DIRTY, MOCK_FLAGS_DEVICE_NO_DIRTY);
SAME_VALUE(ts::TS_MOCK_FLAGS_DEVICE_HUGE_IOVA, MOCK_FLAGS_DEVICE_HUGE_IOVA);
SAME_VALUE(ts::TS_VFIO_API_VERSION, VFIO_API_VERSION);
SAME_VALUE(ts::TS_VFIO_TYPE1_IOMMU, VFIO_TYPE1_IOMMU);
SAME_VALUE(ts::TS_VFIO_TYPE1v2_IOMMU, VFIO_TYPE1v2_IOMMU);
SAME_VALUE(ts::TS_VFIO_UNMAP_ALL, VFIO_UNMAP_ALL);
SAME_VALUE(ts::TS_VFIO_DMA_MAP_FLAG_WRITE, VFIO_DMA_MAP_FLAG_WRITE);
SAME_VALUE(ts::TS_VFIO_DMA_UNMAP_FLAG_ALL, VFIO_DMA_UNMAP_FLAG_ALL);
SAME_VALUE(ts::TS_VFIO_IOMMU_INFO_CAPS, VFIO_IOMMU_INFO_CAPS);
SAME_VALUE(ts::TS_VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE);
SAME_VALUE(ts::TS_IOMMU_TEST_OPS_TRIGGER_IOPF, IOMMU_TEST_OP_TRIGGER_IOPF);
SAME_VALUE(ts::TS_IOMMU_TEST_OPS_MD_CHECK_IOTLB, IOMMU_TEST_OP_MD_CHECK_IOTLB);
SAME_VALUE(ts::TS_IOMMU_TEST_OPS_ADD_RESERVED, IOMMU_TEST_OP_ADD_RESERVED);
SAME_VALUE(ts::TS_IOMMUFD_CMDS_IOMMU_FAULT_QUEUE_ALLOC, IOMMUFD_CMD_FAULT_QUEUE_ALLOC);
SAME_VALUE(ts::TS_IOMMUFD_CMDS_IOMMU_DESTROY, IOMMUFD_CMD_DESTROY);
SAME_VALUE(ts::TS_IOMMUFD_CMDS_IOMMU_TEST_CMD, IOMMUFD_CMD_BASE + 32);

// VFIO device cdev ioctls (native/vfio_device.cc) and the VT-d hw info data.
SAME_VALUE(u::kVfioDeviceGetInfo, VFIO_DEVICE_GET_INFO);
SAME_VALUE(u::kVfioDeviceGetRegionInfo, VFIO_DEVICE_GET_REGION_INFO);
SAME_VALUE(u::kVfioDeviceGetIrqInfo, VFIO_DEVICE_GET_IRQ_INFO);
SAME_VALUE(u::kVfioDeviceReset, VFIO_DEVICE_RESET);
SAME_VALUE(u::kVfioDeviceBindIommufd, VFIO_DEVICE_BIND_IOMMUFD);
SAME_VALUE(u::kVfioDeviceAttachIommufdPt, VFIO_DEVICE_ATTACH_IOMMUFD_PT);
SAME_VALUE(u::kVfioDeviceDetachIommufdPt, VFIO_DEVICE_DETACH_IOMMUFD_PT);
SAME_SIZE(VfioDeviceInfo, vfio_device_info);
SAME_OFFSET(VfioDeviceInfo, vfio_device_info, flags, flags);
SAME_OFFSET(VfioDeviceInfo, vfio_device_info, num_regions, num_regions);
SAME_OFFSET(VfioDeviceInfo, vfio_device_info, num_irqs, num_irqs);
SAME_OFFSET(VfioDeviceInfo, vfio_device_info, cap_offset, cap_offset);
SAME_SIZE(VfioRegionInfo, vfio_region_info);
SAME_OFFSET(VfioRegionInfo, vfio_region_info, flags, flags);
SAME_OFFSET(VfioRegionInfo, vfio_region_info, index, index);
SAME_OFFSET(VfioRegionInfo, vfio_region_info, cap_offset, cap_offset);
SAME_OFFSET(VfioRegionInfo, vfio_region_info, size, size);
SAME_OFFSET(VfioRegionInfo, vfio_region_info, offset, offset);
SAME_SIZE(VfioIrqInfo, vfio_irq_info);
SAME_OFFSET(VfioIrqInfo, vfio_irq_info, flags, flags);
SAME_OFFSET(VfioIrqInfo, vfio_irq_info, index, index);
SAME_OFFSET(VfioIrqInfo, vfio_irq_info, count, count);
SAME_SIZE(VfioDeviceBindIommufd, vfio_device_bind_iommufd);
SAME_OFFSET(VfioDeviceBindIommufd, vfio_device_bind_iommufd, flags, flags);
SAME_OFFSET(VfioDeviceBindIommufd, vfio_device_bind_iommufd, iommufd, iommufd);
SAME_OFFSET(VfioDeviceBindIommufd, vfio_device_bind_iommufd, out_devid, out_devid);
SAME_SIZE(VfioDeviceAttachIommufdPt, vfio_device_attach_iommufd_pt);
SAME_OFFSET(VfioDeviceAttachIommufdPt, vfio_device_attach_iommufd_pt, pt_id, pt_id);
SAME_SIZE(VfioDeviceDetachIommufdPt, vfio_device_detach_iommufd_pt);
SAME_OFFSET(VfioDeviceDetachIommufdPt, vfio_device_detach_iommufd_pt, flags, flags);
SAME_SIZE(HwInfoVtd, iommu_hw_info_vtd);
SAME_OFFSET(HwInfoVtd, iommu_hw_info_vtd, flags, flags);
SAME_OFFSET(HwInfoVtd, iommu_hw_info_vtd, cap_reg, cap_reg);
SAME_OFFSET(HwInfoVtd, iommu_hw_info_vtd, ecap_reg, ecap_reg);
// Constants lib/vfio-device.ts and lib/vtd.ts spell as numbers.
SAME_VALUE(7, VFIO_PCI_CONFIG_REGION_INDEX);
SAME_VALUE(0, VFIO_PCI_BAR0_REGION_INDEX);
SAME_VALUE(6, VFIO_PCI_ROM_REGION_INDEX);
SAME_VALUE(9, VFIO_PCI_NUM_REGIONS);
SAME_VALUE(0, VFIO_PCI_INTX_IRQ_INDEX);
SAME_VALUE(1, VFIO_PCI_MSI_IRQ_INDEX);
SAME_VALUE(2, VFIO_PCI_MSIX_IRQ_INDEX);
SAME_VALUE(3, VFIO_PCI_ERR_IRQ_INDEX);
SAME_VALUE(4, VFIO_PCI_REQ_IRQ_INDEX);
SAME_VALUE(5, VFIO_PCI_NUM_IRQS);
SAME_VALUE(1 << 0, VFIO_DEVICE_FLAGS_RESET);
SAME_VALUE(1 << 1, VFIO_DEVICE_FLAGS_PCI);
SAME_VALUE(1 << 7, VFIO_DEVICE_FLAGS_CAPS);
SAME_VALUE(1 << 0, VFIO_REGION_INFO_FLAG_READ);
SAME_VALUE(1 << 1, VFIO_REGION_INFO_FLAG_WRITE);
SAME_VALUE(1 << 2, VFIO_REGION_INFO_FLAG_MMAP);
SAME_VALUE(1 << 3, VFIO_REGION_INFO_FLAG_CAPS);
SAME_VALUE(1, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
SAME_VALUE(2, VFIO_REGION_INFO_CAP_TYPE);
SAME_VALUE(1 << 0, VFIO_IRQ_INFO_EVENTFD);
SAME_VALUE(1 << 1, VFIO_IRQ_INFO_MASKABLE);
SAME_VALUE(1 << 2, VFIO_IRQ_INFO_AUTOMASKED);
SAME_VALUE(1 << 3, VFIO_IRQ_INFO_NORESIZE);
SAME_VALUE(1, IOMMU_HW_INFO_TYPE_INTEL_VTD);
SAME_VALUE(1 << 0, IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17);
SAME_VALUE(1 << 0, IOMMU_HW_CAP_DIRTY_TRACKING);

// rawIoctl()'s table in lib/raw-ioctl.ts (the addon's native/raw.cc takes its
// offsets from native/uapi.h, checked above): where the user pointers are.
#define RAW_POINTER(name, kstruct, kfield)  \
  SAME_VALUE(ts::TS_RAW_##name##_POINTERS, 1); \
  SAME_VALUE(ts::TS_RAW_##name##_POINTER, offsetof(struct kstruct, kfield))
#define RAW_NO_POINTER(name) SAME_VALUE(ts::TS_RAW_##name##_POINTERS, 0)
#define OFFSETOFEND(kstruct, kfield) (offsetof(struct kstruct, kfield) + sizeof(((struct kstruct*)0)->kfield))

RAW_NO_POINTER(IOMMU_DESTROY);
RAW_NO_POINTER(IOMMU_IOAS_ALLOC);
RAW_POINTER(IOMMU_IOAS_ALLOW_IOVAS, iommu_ioas_allow_iovas, allowed_iovas);
RAW_NO_POINTER(IOMMU_IOAS_COPY);
RAW_POINTER(IOMMU_IOAS_IOVA_RANGES, iommu_ioas_iova_ranges, allowed_iovas);
RAW_POINTER(IOMMU_IOAS_MAP, iommu_ioas_map, user_va);
RAW_NO_POINTER(IOMMU_IOAS_UNMAP);
RAW_NO_POINTER(IOMMU_OPTION);
RAW_NO_POINTER(IOMMU_VFIO_IOAS);
RAW_POINTER(IOMMU_HWPT_ALLOC, iommu_hwpt_alloc, data_uptr);
RAW_POINTER(IOMMU_GET_HW_INFO, iommu_hw_info, data_uptr);
RAW_NO_POINTER(IOMMU_HWPT_SET_DIRTY_TRACKING);
RAW_POINTER(IOMMU_HWPT_GET_DIRTY_BITMAP, iommu_hwpt_get_dirty_bitmap, data);
RAW_POINTER(IOMMU_HWPT_INVALIDATE, iommu_hwpt_invalidate, data_uptr);
RAW_NO_POINTER(IOMMU_FAULT_QUEUE_ALLOC);

RAW_NO_POINTER(TEST_ADD_RESERVED);
RAW_NO_POINTER(TEST_MOCK_DOMAIN);
RAW_POINTER(TEST_MD_CHECK_MAP, iommu_test_cmd, check_map.uptr);
RAW_POINTER(TEST_MD_CHECK_REFS, iommu_test_cmd, check_refs.uptr);
RAW_NO_POINTER(TEST_CREATE_ACCESS);
RAW_NO_POINTER(TEST_DESTROY_ACCESS_PAGES);
RAW_POINTER(TEST_ACCESS_PAGES, iommu_test_cmd, access_pages.uptr);
RAW_POINTER(TEST_ACCESS_RW, iommu_test_cmd, access_rw.uptr);
RAW_NO_POINTER(TEST_SET_TEMP_MEMORY_LIMIT);
RAW_NO_POINTER(TEST_MOCK_DOMAIN_REPLACE);
RAW_NO_POINTER(TEST_ACCESS_REPLACE_IOAS);
RAW_NO_POINTER(TEST_MOCK_DOMAIN_FLAGS);
RAW_POINTER(TEST_DIRTY, iommu_test_cmd, dirty.uptr);
RAW_NO_POINTER(TEST_MD_CHECK_IOTLB);
RAW_NO_POINTER(TEST_TRIGGER_IOPF);

// The VFIO driver's minsz: offsetofend() of the last field it reads.
SAME_VALUE(ts::TS_RAW_VFIO_IOMMU_GET_INFO_MINSZ, OFFSETOFEND(vfio_iommu_type1_info, iova_pgsizes));
SAME_VALUE(ts::TS_RAW_VFIO_IOMMU_MAP_DMA_MINSZ, OFFSETOFEND(vfio_iommu_type1_dma_map, size));
SAME_VALUE(ts::TS_RAW_VFIO_IOMMU_UNMAP_DMA_MINSZ, OFFSETOFEND(vfio_iommu_type1_dma_unmap, size));
SAME_VALUE(ts::TS_RAW_VFIO_IOMMU_MAP_DMA_VADDR, offsetof(struct vfio_iommu_type1_dma_map, vaddr));
