// Our own definitions of the iommufd uAPI structures used by the addon.
// Facts (numbers, layouts) follow include/uapi/linux/iommufd.h and
// drivers/iommu/iommufd/iommufd_test.h of Linux 6.12; the static_asserts pin
// every size and offset so a mistake fails the build, and test/abi compiles
// the same assertions against the kernel's own headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <sys/ioctl.h>

namespace iommufd_uapi {

constexpr unsigned kType = ';';
constexpr unsigned kCmdBase = 0x80;

// The kernel encodes these as _IO(';', nr): no size or direction bits.
constexpr unsigned long Ioctl(unsigned nr) { return _IO(kType, nr); }

constexpr unsigned long kIommuDestroy = Ioctl(kCmdBase + 0x00);
constexpr unsigned long kIommuIoasAlloc = Ioctl(kCmdBase + 0x01);
constexpr unsigned long kIommuIoasAllowIovas = Ioctl(kCmdBase + 0x02);
constexpr unsigned long kIommuIoasCopy = Ioctl(kCmdBase + 0x03);
constexpr unsigned long kIommuIoasIovaRanges = Ioctl(kCmdBase + 0x04);
constexpr unsigned long kIommuIoasMap = Ioctl(kCmdBase + 0x05);
constexpr unsigned long kIommuIoasUnmap = Ioctl(kCmdBase + 0x06);
constexpr unsigned long kIommuOption = Ioctl(kCmdBase + 0x07);
constexpr unsigned long kIommuVfioIoas = Ioctl(kCmdBase + 0x08);
constexpr unsigned long kIommuHwptAlloc = Ioctl(kCmdBase + 0x09);
constexpr unsigned long kIommuGetHwInfo = Ioctl(kCmdBase + 0x0a);
constexpr unsigned long kIommuHwptSetDirtyTracking = Ioctl(kCmdBase + 0x0b);
constexpr unsigned long kIommuHwptGetDirtyBitmap = Ioctl(kCmdBase + 0x0c);
constexpr unsigned long kIommuHwptInvalidate = Ioctl(kCmdBase + 0x0d);
constexpr unsigned long kIommuFaultQueueAlloc = Ioctl(kCmdBase + 0x0e);
constexpr unsigned long kIommuTestCmd = Ioctl(kCmdBase + 32);

// VFIO type1 compatibility ioctls, served by iommufd on /dev/iommu (vfio.h).
constexpr unsigned kVfioBase = 100;
constexpr unsigned long kVfioGetApiVersion = _IO(kType, kVfioBase + 0);
constexpr unsigned long kVfioCheckExtension = _IO(kType, kVfioBase + 1);
constexpr unsigned long kVfioSetIommu = _IO(kType, kVfioBase + 2);
constexpr unsigned long kVfioIommuGetInfo = _IO(kType, kVfioBase + 12);
constexpr unsigned long kVfioIommuMapDma = _IO(kType, kVfioBase + 13);
constexpr unsigned long kVfioIommuUnmapDma = _IO(kType, kVfioBase + 14);

struct Destroy {
  uint32_t size;
  uint32_t id;
};
static_assert(sizeof(Destroy) == 8);
static_assert(offsetof(Destroy, id) == 4);

struct IoasAlloc {
  uint32_t size;
  uint32_t flags;
  uint32_t out_ioas_id;
};
static_assert(sizeof(IoasAlloc) == 12);
static_assert(offsetof(IoasAlloc, out_ioas_id) == 8);

struct IovaRange {
  alignas(8) uint64_t start;
  alignas(8) uint64_t last;
};
static_assert(sizeof(IovaRange) == 16);

struct IoasIovaRanges {
  uint32_t size;
  uint32_t ioas_id;
  uint32_t num_iovas;
  uint32_t reserved;
  alignas(8) uint64_t allowed_iovas;  // user pointer to IovaRange[num_iovas]
  alignas(8) uint64_t out_iova_alignment;
};
static_assert(sizeof(IoasIovaRanges) == 32);
static_assert(offsetof(IoasIovaRanges, num_iovas) == 8);
static_assert(offsetof(IoasIovaRanges, allowed_iovas) == 16);
static_assert(offsetof(IoasIovaRanges, out_iova_alignment) == 24);

struct IoasMap {
  uint32_t size;
  uint32_t flags;
  uint32_t ioas_id;
  uint32_t reserved;
  alignas(8) uint64_t user_va;
  alignas(8) uint64_t length;
  alignas(8) uint64_t iova;
};
static_assert(sizeof(IoasMap) == 40);
static_assert(offsetof(IoasMap, ioas_id) == 8);
static_assert(offsetof(IoasMap, user_va) == 16);
static_assert(offsetof(IoasMap, length) == 24);
static_assert(offsetof(IoasMap, iova) == 32);

struct IoasUnmap {
  uint32_t size;
  uint32_t ioas_id;
  alignas(8) uint64_t iova;
  alignas(8) uint64_t length;
};
static_assert(sizeof(IoasUnmap) == 24);
static_assert(offsetof(IoasUnmap, iova) == 8);
static_assert(offsetof(IoasUnmap, length) == 16);

struct IoasAllowIovas {
  uint32_t size;
  uint32_t ioas_id;
  uint32_t num_iovas;
  uint32_t reserved;
  alignas(8) uint64_t allowed_iovas;  // user pointer to IovaRange[num_iovas]
};
static_assert(sizeof(IoasAllowIovas) == 24);
static_assert(offsetof(IoasAllowIovas, allowed_iovas) == 16);

struct IoasCopy {
  uint32_t size;
  uint32_t flags;
  uint32_t dst_ioas_id;
  uint32_t src_ioas_id;
  alignas(8) uint64_t length;
  alignas(8) uint64_t dst_iova;
  alignas(8) uint64_t src_iova;
};
static_assert(sizeof(IoasCopy) == 40);
static_assert(offsetof(IoasCopy, length) == 16);
static_assert(offsetof(IoasCopy, src_iova) == 32);

struct Option {
  uint32_t size;
  uint32_t option_id;
  uint16_t op;
  uint16_t reserved;
  uint32_t object_id;
  alignas(8) uint64_t val64;
};
static_assert(sizeof(Option) == 24);
static_assert(offsetof(Option, op) == 8);
static_assert(offsetof(Option, object_id) == 12);
static_assert(offsetof(Option, val64) == 16);

struct VfioIoas {
  uint32_t size;
  uint32_t ioas_id;
  uint16_t op;
  uint16_t reserved;
};
static_assert(sizeof(VfioIoas) == 12);
static_assert(offsetof(VfioIoas, op) == 8);

struct HwptAlloc {
  uint32_t size;
  uint32_t flags;
  uint32_t dev_id;
  uint32_t pt_id;
  uint32_t out_hwpt_id;
  uint32_t reserved;
  uint32_t data_type;
  uint32_t data_len;
  alignas(8) uint64_t data_uptr;
  uint32_t fault_id;
  uint32_t reserved2;
};
static_assert(sizeof(HwptAlloc) == 48);
static_assert(offsetof(HwptAlloc, out_hwpt_id) == 16);
static_assert(offsetof(HwptAlloc, data_uptr) == 32);
static_assert(offsetof(HwptAlloc, fault_id) == 40);

struct HwInfo {
  uint32_t size;
  uint32_t flags;
  uint32_t dev_id;
  uint32_t data_len;
  alignas(8) uint64_t data_uptr;
  uint32_t out_data_type;
  uint8_t out_max_pasid_log2;
  uint8_t reserved[3];
  alignas(8) uint64_t out_capabilities;
};
static_assert(sizeof(HwInfo) == 40);
static_assert(offsetof(HwInfo, data_uptr) == 16);
static_assert(offsetof(HwInfo, out_data_type) == 24);
static_assert(offsetof(HwInfo, out_max_pasid_log2) == 28);
static_assert(offsetof(HwInfo, out_capabilities) == 32);

struct HwptSetDirtyTracking {
  uint32_t size;
  uint32_t flags;
  uint32_t hwpt_id;
  uint32_t reserved;
};
static_assert(sizeof(HwptSetDirtyTracking) == 16);

struct HwptGetDirtyBitmap {
  uint32_t size;
  uint32_t hwpt_id;
  uint32_t flags;
  uint32_t reserved;
  alignas(8) uint64_t iova;
  alignas(8) uint64_t length;
  alignas(8) uint64_t page_size;
  alignas(8) uint64_t data;  // user pointer to the u64 bitmap
};
static_assert(sizeof(HwptGetDirtyBitmap) == 48);
static_assert(offsetof(HwptGetDirtyBitmap, iova) == 16);
static_assert(offsetof(HwptGetDirtyBitmap, data) == 40);

struct HwptInvalidate {
  uint32_t size;
  uint32_t hwpt_id;
  alignas(8) uint64_t data_uptr;
  uint32_t data_type;
  uint32_t entry_len;
  uint32_t entry_num;
  uint32_t reserved;
};
static_assert(sizeof(HwptInvalidate) == 32);
static_assert(offsetof(HwptInvalidate, data_uptr) == 8);
static_assert(offsetof(HwptInvalidate, entry_num) == 24);

struct FaultAlloc {
  uint32_t size;
  uint32_t flags;
  uint32_t out_fault_id;
  uint32_t out_fault_fd;
};
static_assert(sizeof(FaultAlloc) == 16);

// read() from a fault fd yields these; write() takes PageResponse.
struct HwptPgfault {
  uint32_t flags;
  uint32_t dev_id;
  uint32_t pasid;
  uint32_t grpid;
  uint32_t perm;
  uint32_t reserved;
  alignas(8) uint64_t addr;
  uint32_t length;
  uint32_t cookie;
};
static_assert(sizeof(HwptPgfault) == 40);
static_assert(offsetof(HwptPgfault, addr) == 24);
static_assert(offsetof(HwptPgfault, cookie) == 36);

struct HwptPageResponse {
  uint32_t cookie;
  uint32_t code;
};
static_assert(sizeof(HwptPageResponse) == 8);

// The selftest driver's data for IOMMU_GET_HW_INFO / HWPT_ALLOC / HWPT_INVALIDATE.
constexpr uint32_t kHwInfoTypeSelftest = 0xfeedbeef;
constexpr uint32_t kHwptDataSelftest = 0xdead;
constexpr uint32_t kHwptInvalidateDataSelftest = 0xdeadbeef;

struct TestHwInfo {
  uint32_t flags;
  uint32_t test_reg;
};
static_assert(sizeof(TestHwInfo) == 8);

struct HwptSelftest {
  uint32_t iotlb;
};
static_assert(sizeof(HwptSelftest) == 4);

struct HwptInvalidateSelftest {
  uint32_t flags;
  uint32_t iotlb_id;
};
static_assert(sizeof(HwptInvalidateSelftest) == 8);

// VFIO type1 structs (argsz-first, unlike iommufd's size-first).
struct VfioIommuType1Info {
  uint32_t argsz;
  uint32_t flags;
  alignas(8) uint64_t iova_pgsizes;
  uint32_t cap_offset;
  uint32_t pad;
};
static_assert(sizeof(VfioIommuType1Info) == 24);
static_assert(offsetof(VfioIommuType1Info, cap_offset) == 16);

struct VfioInfoCapHeader {
  uint16_t id;
  uint16_t version;
  uint32_t next;
};
static_assert(sizeof(VfioInfoCapHeader) == 8);

struct VfioIovaRangeCap {
  VfioInfoCapHeader header;
  uint32_t nr_iovas;
  uint32_t reserved;
  // followed by IovaRange[nr_iovas] ({start, end} in vfio's words)
};
static_assert(sizeof(VfioIovaRangeCap) == 16);

struct VfioDmaMap {
  uint32_t argsz;
  uint32_t flags;
  uint64_t vaddr;
  uint64_t iova;
  uint64_t size;
};
static_assert(sizeof(VfioDmaMap) == 32);
static_assert(offsetof(VfioDmaMap, vaddr) == 8);

struct VfioDmaUnmap {
  uint32_t argsz;
  uint32_t flags;
  uint64_t iova;
  uint64_t size;
};
static_assert(sizeof(VfioDmaUnmap) == 24);

// IOMMU_TEST_CMD: op numbers of the 6.12 iommufd_test.h enum.
enum TestOp : uint32_t {
  kTestOpAddReserved = 1,
  kTestOpMockDomain = 2,
  kTestOpMdCheckMap = 3,
  kTestOpMdCheckRefs = 4,
  kTestOpCreateAccess = 5,
  kTestOpDestroyAccessPages = 6,
  kTestOpAccessPages = 7,
  kTestOpAccessRw = 8,
  kTestOpSetTempMemoryLimit = 9,
  kTestOpMockDomainReplace = 10,
  kTestOpAccessReplaceIoas = 11,
  kTestOpMockDomainFlags = 12,
  kTestOpDirty = 13,
  kTestOpMdCheckIotlb = 14,
  kTestOpTriggerIopf = 15,
};

struct TestCmd {
  uint32_t size;
  uint32_t op;
  uint32_t id;
  uint32_t reserved;
  union {
    struct {
      alignas(8) uint64_t start;
      alignas(8) uint64_t length;
    } add_reserved;
    struct {
      uint32_t out_stdev_id;
      uint32_t out_hwpt_id;
      uint32_t out_idev_id;
    } mock_domain;
    struct {
      uint32_t out_stdev_id;
      uint32_t out_hwpt_id;
      uint32_t out_idev_id;
      uint32_t dev_flags;
    } mock_domain_flags;
    struct {
      uint32_t pt_id;
    } mock_domain_replace;
    struct {
      alignas(8) uint64_t iova;
      alignas(8) uint64_t length;
      alignas(8) uint64_t uptr;
    } check_map;
    struct {
      alignas(8) uint64_t length;
      alignas(8) uint64_t uptr;
      uint32_t refs;
    } check_refs;
    struct {
      uint32_t out_access_fd;
      uint32_t flags;
    } create_access;
    struct {
      uint32_t access_pages_id;
    } destroy_access_pages;
    struct {
      uint32_t flags;
      uint32_t out_access_pages_id;
      alignas(8) uint64_t iova;
      alignas(8) uint64_t length;
      alignas(8) uint64_t uptr;
    } access_pages;
    struct {
      alignas(8) uint64_t iova;
      alignas(8) uint64_t length;
      alignas(8) uint64_t uptr;
      uint32_t flags;
    } access_rw;
    struct {
      uint32_t limit;
    } memory_limit;
    struct {
      uint32_t ioas_id;
    } access_replace_ioas;
    // The largest member in 6.12 (IOMMU_TEST_OP_DIRTY); it fixes the union size.
    struct {
      uint32_t flags;
      alignas(8) uint64_t iova;
      alignas(8) uint64_t length;
      alignas(8) uint64_t page_size;
      alignas(8) uint64_t uptr;
      alignas(8) uint64_t out_nr_dirty;
    } dirty;
    struct {
      uint32_t id;
      uint32_t iotlb;
    } check_iotlb;
    struct {
      uint32_t dev_id;
      uint32_t pasid;
      uint32_t grpid;
      uint32_t perm;
      uint64_t addr;
    } trigger_iopf;
  };
  uint32_t last;
};
static_assert(offsetof(TestCmd, add_reserved) == 16);
static_assert(offsetof(TestCmd, check_map.uptr) == 32);
static_assert(offsetof(TestCmd, check_refs.refs) == 32);
static_assert(offsetof(TestCmd, access_pages.out_access_pages_id) == 20);
static_assert(offsetof(TestCmd, access_pages.uptr) == 40);
static_assert(offsetof(TestCmd, access_rw.flags) == 40);
static_assert(offsetof(TestCmd, dirty.out_nr_dirty) == 56);
static_assert(offsetof(TestCmd, mock_domain_flags.dev_flags) == 28);
static_assert(offsetof(TestCmd, check_iotlb.iotlb) == 20);
static_assert(offsetof(TestCmd, trigger_iopf.addr) == 32);
static_assert(offsetof(TestCmd, last) == 64);
static_assert(sizeof(TestCmd) == 72);

// VFIO device (cdev) ioctls on /dev/vfio/devices/vfioN (vfio.h), and the
// VT-d driver data of IOMMU_GET_HW_INFO (iommufd.h).
constexpr unsigned long kVfioDeviceGetInfo = _IO(kType, kVfioBase + 7);
constexpr unsigned long kVfioDeviceGetRegionInfo = _IO(kType, kVfioBase + 8);
constexpr unsigned long kVfioDeviceGetIrqInfo = _IO(kType, kVfioBase + 9);
constexpr unsigned long kVfioDeviceReset = _IO(kType, kVfioBase + 11);
constexpr unsigned long kVfioDeviceBindIommufd = _IO(kType, kVfioBase + 18);
constexpr unsigned long kVfioDeviceAttachIommufdPt = _IO(kType, kVfioBase + 19);
constexpr unsigned long kVfioDeviceDetachIommufdPt = _IO(kType, kVfioBase + 20);

struct VfioDeviceInfo {
  uint32_t argsz;
  uint32_t flags;
  uint32_t num_regions;
  uint32_t num_irqs;
  uint32_t cap_offset;
  uint32_t pad;
};
static_assert(sizeof(VfioDeviceInfo) == 24);
static_assert(offsetof(VfioDeviceInfo, num_regions) == 8);
static_assert(offsetof(VfioDeviceInfo, cap_offset) == 16);

struct VfioRegionInfo {
  uint32_t argsz;
  uint32_t flags;
  uint32_t index;
  uint32_t cap_offset;
  alignas(8) uint64_t size;
  alignas(8) uint64_t offset;
};
static_assert(sizeof(VfioRegionInfo) == 32);
static_assert(offsetof(VfioRegionInfo, index) == 8);
static_assert(offsetof(VfioRegionInfo, cap_offset) == 12);
static_assert(offsetof(VfioRegionInfo, size) == 16);
static_assert(offsetof(VfioRegionInfo, offset) == 24);

struct VfioIrqInfo {
  uint32_t argsz;
  uint32_t flags;
  uint32_t index;
  uint32_t count;
};
static_assert(sizeof(VfioIrqInfo) == 16);
static_assert(offsetof(VfioIrqInfo, count) == 12);

struct VfioDeviceBindIommufd {
  uint32_t argsz;
  uint32_t flags;
  int32_t iommufd;
  uint32_t out_devid;
};
static_assert(sizeof(VfioDeviceBindIommufd) == 16);
static_assert(offsetof(VfioDeviceBindIommufd, iommufd) == 8);
static_assert(offsetof(VfioDeviceBindIommufd, out_devid) == 12);

struct VfioDeviceAttachIommufdPt {
  uint32_t argsz;
  uint32_t flags;
  uint32_t pt_id;
};
static_assert(sizeof(VfioDeviceAttachIommufdPt) == 12);
static_assert(offsetof(VfioDeviceAttachIommufdPt, pt_id) == 8);

struct VfioDeviceDetachIommufdPt {
  uint32_t argsz;
  uint32_t flags;
};
static_assert(sizeof(VfioDeviceDetachIommufdPt) == 8);

// IOMMU_HW_INFO_TYPE_INTEL_VTD data: the VT-d CAP_REG and ECAP_REG.
struct HwInfoVtd {
  uint32_t flags;
  uint32_t reserved;
  alignas(8) uint64_t cap_reg;
  alignas(8) uint64_t ecap_reg;
};
static_assert(sizeof(HwInfoVtd) == 24);
static_assert(offsetof(HwInfoVtd, cap_reg) == 8);
static_assert(offsetof(HwInfoVtd, ecap_reg) == 16);

}  // namespace iommufd_uapi
