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
constexpr unsigned long kIommuIoasIovaRanges = Ioctl(kCmdBase + 0x04);
constexpr unsigned long kIommuIoasMap = Ioctl(kCmdBase + 0x05);
constexpr unsigned long kIommuIoasUnmap = Ioctl(kCmdBase + 0x06);
constexpr unsigned long kIommuTestCmd = Ioctl(kCmdBase + 32);

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
static_assert(offsetof(TestCmd, last) == 64);
static_assert(sizeof(TestCmd) == 72);

}  // namespace iommufd_uapi
