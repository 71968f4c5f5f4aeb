// IOMMU_TEST_CMD: the 15 ops of the CONFIG_IOMMUFD_TEST mock (iommufd_test.h).
#include <cstring>
#include <unistd.h>

#include "addon.h"
#include "uapi.h"

namespace iommufd_addon {
namespace uapi = iommufd_uapi;
namespace {

uapi::TestCmd NewTestCmd(uint32_t op, uint32_t id) {
  uapi::TestCmd cmd;
  memset(&cmd, 0, sizeof(cmd));
  cmd.size = sizeof(cmd);
  cmd.op = op;
  cmd.id = id;
  return cmd;
}

void TestIoctl(const Args& args, uapi::TestCmd& cmd, const char* op) {
  Ioctl(args.Env(), ArgFd(args, 0), uapi::kIommuTestCmd, &cmd, op);
}

Napi::Object Ids(Napi::Env env, uint32_t stdev, uint32_t hwpt, uint32_t idev) {
  Napi::Object out = NewObject(env);
  out.Set("stdevId", Napi::Number::New(env, stdev));
  out.Set("hwptId", Napi::Number::New(env, hwpt));
  out.Set("idevId", Napi::Number::New(env, idev));
  return out;
}

// (fd, ioasId, start, length)
Napi::Value AddReserved(const Args& args) {
  auto cmd = NewTestCmd(uapi::kTestOpAddReserved, ArgU32(args, 1, "ioasId"));
  cmd.add_reserved.start = ArgU64(args, 2, "start");
  cmd.add_reserved.length = ArgU64(args, 3, "length");
  TestIoctl(args, cmd, "IOMMU_TEST_OP_ADD_RESERVED");
  return args.Env().Undefined();
}

// (fd, ptId) -> { stdevId, hwptId, idevId }
Napi::Value MockDomain(const Args& args) {
  auto cmd = NewTestCmd(uapi::kTestOpMockDomain, ArgU32(args, 1, "ptId"));
  TestIoctl(args, cmd, "IOMMU_TEST_OP_MOCK_DOMAIN");
  auto& r = cmd.mock_domain;
  return Ids(args.Env(), r.out_stdev_id, r.out_hwpt_id, r.out_idev_id);
}

// (fd, ptId, devFlags) -> { stdevId, hwptId, idevId }
Napi::Value MockDomainFlags(const Args& args) {
  auto cmd = NewTestCmd(uapi::kTestOpMockDomainFlags, ArgU32(args, 1, "ptId"));
  cmd.mock_domain_flags.dev_flags = ArgU32(args, 2, "devFlags");
  TestIoctl(args, cmd, "IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS");
  auto& r = cmd.mock_domain_flags;
  return Ids(args.Env(), r.out_stdev_id, r.out_hwpt_id, r.out_idev_id);
}

// (fd, stdevId, ptId) -> the hwpt id now attached (an IOAS gets an automatic one)
Napi::Value MockDomainReplace(const Args& args) {
  auto cmd = NewTestCmd(uapi::kTestOpMockDomainReplace, ArgU32(args, 1, "stdevId"));
  cmd.mock_domain_replace.pt_id = ArgU32(args, 2, "ptId");
  TestIoctl(args, cmd, "IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE");
  return Napi::Number::New(args.Env(), cmd.mock_domain_replace.pt_id);
}

// (fd, hwptId, iova, memory, offset, length)
Napi::Value MdCheckMap(const Args& args) {
  auto cmd = NewTestCmd(uapi::kTestOpMdCheckMap, ArgU32(args, 1, "hwptId"));
  cmd.check_map.iova = ArgU64(args, 2, "iova");
  JsBytes bytes = ArgBytes(args, 3);
  size_t length = ArgSize(args, 5, "length");
  cmd.check_map.uptr = CheckedUptr(args.Env(), bytes, ArgSize(args, 4, "offset"), length);
  cmd.check_map.length = length;
  TestIoctl(args, cmd, "IOMMU_TEST_OP_MD_CHECK_MAP");
  return args.Env().Undefined();
}

// (fd, memory, offset, length, refs)
Napi::Value MdCheckRefs(const Args& args) {
  auto cmd = NewTestCmd(uapi::kTestOpMdCheckRefs, 0);
  JsBytes bytes = ArgBytes(args, 1);
  size_t length = ArgSize(args, 3, "length");
  cmd.check_refs.uptr = CheckedUptr(args.Env(), bytes, ArgSize(args, 2, "offset"), length);
  cmd.check_refs.length = length;
  cmd.check_refs.refs = ArgU32(args, 4, "refs");
  TestIoctl(args, cmd, "IOMMU_TEST_OP_MD_CHECK_REFS");
  return args.Env().Undefined();
}

// (fd, hwptId, iotlbId, iotlb)
Napi::Value MdCheckIotlb(const Args& args) {
  auto cmd = NewTestCmd(uapi::kTestOpMdCheckIotlb, ArgU32(args, 1, "hwptId"));
  cmd.check_iotlb.id = ArgU32(args, 2, "iotlbId");
  cmd.check_iotlb.iotlb = ArgU32(args, 3, "iotlb");
  TestIoctl(args, cmd, "IOMMU_TEST_OP_MD_CHECK_IOTLB");
  return args.Env().Undefined();
}

// (fd, ioasId, flags) -> access fd
Napi::Value CreateAccess(const Args& args) {
  auto cmd = NewTestCmd(uapi::kTestOpCreateAccess, ArgU32(args, 1, "ioasId"));
  cmd.create_access.flags = ArgU32(args, 2, "flags");
  TestIoctl(args, cmd, "IOMMU_TEST_OP_CREATE_ACCESS");
  return Napi::Number::New(args.Env(), cmd.create_access.out_access_fd);
}

// (fd, accessFd, flags, iova, length, memory | null, offset) -> access pages id
Napi::Value AccessPages(const Args& args) {
  Napi::Env env = args.Env();
  auto cmd = NewTestCmd(uapi::kTestOpAccessPages, ArgU32(args, 1, "accessFd"));
  cmd.access_pages.flags = ArgU32(args, 2, "flags");
  uint64_t iova = ArgU64(args, 3, "iova");
  size_t length = ArgSize(args, 4, "length");
  cmd.access_pages.iova = iova;
  cmd.access_pages.length = length;
  if (!args[5].IsNull() && !args[5].IsUndefined()) {
    // The mock compares whole pages: from uptr minus the IOVA's offset in its
    // page up to the end of the last page (iommufd_test_access_pages()).
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_t head = iova % page;
    size_t tail = (page - (iova + length) % page) % page;
    cmd.access_pages.uptr =
        CheckedUptr(env, ArgBytes(args, 5), ArgSize(args, 6, "offset"), length, head, tail);
  }
  TestIoctl(args, cmd, "IOMMU_TEST_OP_ACCESS_PAGES");
  return Napi::Number::New(env, cmd.access_pages.out_access_pages_id);
}

// (fd, accessFd, accessPagesId)
Napi::Value DestroyAccessPages(const Args& args) {
  auto cmd = NewTestCmd(uapi::kTestOpDestroyAccessPages, ArgU32(args, 1, "accessFd"));
  cmd.destroy_access_pages.access_pages_id = ArgU32(args, 2, "accessPagesId");
  TestIoctl(args, cmd, "IOMMU_TEST_OP_DESTROY_ACCESS_PAGES");
  return args.Env().Undefined();
}

// (fd, accessFd, flags, iova, memory, offset, length)
Napi::Value AccessRw(const Args& args) {
  auto cmd = NewTestCmd(uapi::kTestOpAccessRw, ArgU32(args, 1, "accessFd"));
  cmd.access_rw.flags = ArgU32(args, 2, "flags");
  cmd.access_rw.iova = ArgU64(args, 3, "iova");
  JsBytes bytes = ArgBytes(args, 4);
  size_t length = ArgSize(args, 6, "length");
  cmd.access_rw.uptr = CheckedUptr(args.Env(), bytes, ArgSize(args, 5, "offset"), length);
  cmd.access_rw.length = length;
  TestIoctl(args, cmd, "IOMMU_TEST_OP_ACCESS_RW");
  return args.Env().Undefined();
}

// (fd, accessFd, ioasId)
Napi::Value AccessReplaceIoas(const Args& args) {
  auto cmd = NewTestCmd(uapi::kTestOpAccessReplaceIoas, ArgU32(args, 1, "accessFd"));
  cmd.access_replace_ioas.ioas_id = ArgU32(args, 2, "ioasId");
  TestIoctl(args, cmd, "IOMMU_TEST_OP_ACCESS_REPLACE_IOAS");
  return args.Env().Undefined();
}

// (fd, limitBytes)
Napi::Value SetTempMemoryLimit(const Args& args) {
  auto cmd = NewTestCmd(uapi::kTestOpSetTempMemoryLimit, 0);
  cmd.memory_limit.limit = ArgU32(args, 1, "limit");
  TestIoctl(args, cmd, "IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT");
  return args.Env().Undefined();
}

// (fd, hwptId, flags, iova, length, pageSize, bitmap) -> pages marked dirty
Napi::Value Dirty(const Args& args) {
  Napi::Env env = args.Env();
  auto cmd = NewTestCmd(uapi::kTestOpDirty, ArgU32(args, 1, "hwptId"));
  cmd.dirty.flags = ArgU32(args, 2, "flags");
  cmd.dirty.iova = ArgU64(args, 3, "iova");
  cmd.dirty.length = ArgU64(args, 4, "length");
  cmd.dirty.page_size = ArgU64(args, 5, "pageSize");
  // The mock reads ceil(length / page_size / 8) bytes of bitmap (iommufd_test_dirty()).
  uint64_t ps = cmd.dirty.page_size, len = cmd.dirty.length;
  uint64_t bits = ps == 0 ? 0 : len / ps;
  uint64_t bytes = bits / 8 + (bits % 8 != 0);
  JsBytes bitmap = ArgBytes(args, 6);
  if (bytes > bitmap.length)
    throw Napi::RangeError::New(env, "bitmap holds " + std::to_string(bitmap.length * 8) +
                                         " bits; the range needs " + std::to_string(bits));
  // Never hand the mock a NULL bitmap: it answers EINVAL for that on its own.
  cmd.dirty.uptr = bitmap.length == 0 ? 0 : CheckedUptr(env, bitmap, 0, static_cast<size_t>(bytes));
  TestIoctl(args, cmd, "IOMMU_TEST_OP_DIRTY");
  return Napi::BigInt::New(env, static_cast<uint64_t>(cmd.dirty.out_nr_dirty));
}

// (fd, devId, pasid, grpid, perm, addr)
Napi::Value TriggerIopf(const Args& args) {
  auto cmd = NewTestCmd(uapi::kTestOpTriggerIopf, 0);
  cmd.trigger_iopf.dev_id = ArgU32(args, 1, "devId");
  cmd.trigger_iopf.pasid = ArgU32(args, 2, "pasid");
  cmd.trigger_iopf.grpid = ArgU32(args, 3, "grpid");
  cmd.trigger_iopf.perm = ArgU32(args, 4, "perm");
  cmd.trigger_iopf.addr = ArgU64(args, 5, "addr");
  TestIoctl(args, cmd, "IOMMU_TEST_OP_TRIGGER_IOPF");
  return args.Env().Undefined();
}

// (fd, op, id) -> errno of a raw test op with an otherwise zeroed command, 0 on
// success. Only for the capability probe: tells an unknown op (EOPNOTSUPP)
// from one that exists and rejected its arguments.
Napi::Value ProbeTestOp(const Args& args) {
  auto cmd = NewTestCmd(ArgU32(args, 1, "op"), ArgU32(args, 2, "id"));
  return Napi::Number::New(args.Env(), IoctlErrno(ArgFd(args, 0), uapi::kIommuTestCmd, &cmd));
}

}  // namespace

const std::vector<OpEntry> kSelftestOps = {
    {"testAddReserved", AddReserved},
    {"testMockDomain", MockDomain},
    {"testMockDomainFlags", MockDomainFlags},
    {"testMockDomainReplace", MockDomainReplace},
    {"testMdCheckMap", MdCheckMap},
    {"testMdCheckRefs", MdCheckRefs},
    {"testMdCheckIotlb", MdCheckIotlb},
    {"testCreateAccess", CreateAccess},
    {"testAccessPages", AccessPages},
    {"testDestroyAccessPages", DestroyAccessPages},
    {"testAccessRw", AccessRw},
    {"testAccessReplaceIoas", AccessReplaceIoas},
    {"testSetTempMemoryLimit", SetTempMemoryLimit},
    {"testDirty", Dirty},
    {"testTriggerIopf", TriggerIopf},
    {"probeTestOp", ProbeTestOp},
};

}  // namespace iommufd_addon
