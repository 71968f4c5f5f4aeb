// IOMMU_TEST_CMD: the 15 ops of the CONFIG_IOMMUFD_TEST mock (iommufd_test.h).
#include <cstring>
#include <unistd.h>

#include "addon.h"
#include "cmd.h"

namespace iommufd_addon {
namespace {

// struct iommu_test_cmd of the running kernel (its size grows with the ops a version adds).
const uapi::IommuTestCmd& T() { return Uapi().iommu_test_cmd; }

Cmd NewTestCmd(uint32_t op, uint32_t id) {
  Cmd cmd(T().sizeof_);
  cmd.Set32(T().op, op);
  cmd.Set32(T().id, id);
  return cmd;
}

void TestIoctl(const Args& args, Cmd& cmd, const char* op) {
  CmdIoctl(args.Env(), ArgFd(args, 0), Uapi().ioctl.test_cmd, cmd, op);
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
  auto cmd = NewTestCmd(Uapi().test_op.add_reserved.op, ArgU32(args, 1, "ioasId"));
  cmd.Set64(T().add_reserved_start, ArgU64(args, 2, "start"));
  cmd.Set64(T().add_reserved_length, ArgU64(args, 3, "length"));
  TestIoctl(args, cmd, "IOMMU_TEST_OP_ADD_RESERVED");
  return args.Env().Undefined();
}

// (fd, ptId) -> { stdevId, hwptId, idevId }
Napi::Value MockDomain(const Args& args) {
  auto cmd = NewTestCmd(Uapi().test_op.mock_domain.op, ArgU32(args, 1, "ptId"));
  TestIoctl(args, cmd, "IOMMU_TEST_OP_MOCK_DOMAIN");
  return Ids(args.Env(), cmd.Get32(T().mock_domain_out_stdev_id), cmd.Get32(T().mock_domain_out_hwpt_id),
             cmd.Get32(T().mock_domain_out_idev_id));
}

// (fd, ptId, devFlags) -> { stdevId, hwptId, idevId }
Napi::Value MockDomainFlags(const Args& args) {
  auto cmd = NewTestCmd(Uapi().test_op.mock_domain_flags.op, ArgU32(args, 1, "ptId"));
  cmd.Set32(T().mock_domain_flags_dev_flags, ArgU32(args, 2, "devFlags"));
  TestIoctl(args, cmd, "IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS");
  return Ids(args.Env(), cmd.Get32(T().mock_domain_flags_out_stdev_id), cmd.Get32(T().mock_domain_flags_out_hwpt_id),
             cmd.Get32(T().mock_domain_flags_out_idev_id));
}

// (fd, stdevId, ptId) -> the hwpt id now attached (an IOAS gets an automatic one)
Napi::Value MockDomainReplace(const Args& args) {
  auto cmd = NewTestCmd(Uapi().test_op.mock_domain_replace.op, ArgU32(args, 1, "stdevId"));
  cmd.Set32(T().mock_domain_replace_pt_id, ArgU32(args, 2, "ptId"));
  TestIoctl(args, cmd, "IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE");
  return Napi::Number::New(args.Env(), cmd.Get32(T().mock_domain_replace_pt_id));
}

// (fd, hwptId, iova, memory, offset, length)
Napi::Value MdCheckMap(const Args& args) {
  auto cmd = NewTestCmd(Uapi().test_op.md_check_map.op, ArgU32(args, 1, "hwptId"));
  cmd.Set64(T().check_map_iova, ArgU64(args, 2, "iova"));
  JsBytes bytes = ArgBytes(args, 3);
  size_t length = ArgSize(args, 5, "length");
  cmd.Set64(T().check_map_uptr, CheckedUptr(args.Env(), bytes, ArgSize(args, 4, "offset"), length));
  cmd.Set64(T().check_map_length, length);
  TestIoctl(args, cmd, "IOMMU_TEST_OP_MD_CHECK_MAP");
  return args.Env().Undefined();
}

// (fd, memory, offset, length, refs)
Napi::Value MdCheckRefs(const Args& args) {
  auto cmd = NewTestCmd(Uapi().test_op.md_check_refs.op, 0);
  JsBytes bytes = ArgBytes(args, 1);
  size_t length = ArgSize(args, 3, "length");
  cmd.Set64(T().check_refs_uptr, CheckedUptr(args.Env(), bytes, ArgSize(args, 2, "offset"), length));
  cmd.Set64(T().check_refs_length, length);
  cmd.Set32(T().check_refs_refs, ArgU32(args, 4, "refs"));
  TestIoctl(args, cmd, "IOMMU_TEST_OP_MD_CHECK_REFS");
  return args.Env().Undefined();
}

// (fd, hwptId, iotlbId, iotlb)
Napi::Value MdCheckIotlb(const Args& args) {
  auto cmd = NewTestCmd(Uapi().test_op.md_check_iotlb.op, ArgU32(args, 1, "hwptId"));
  cmd.Set32(T().check_iotlb_id, ArgU32(args, 2, "iotlbId"));
  cmd.Set32(T().check_iotlb_iotlb, ArgU32(args, 3, "iotlb"));
  TestIoctl(args, cmd, "IOMMU_TEST_OP_MD_CHECK_IOTLB");
  return args.Env().Undefined();
}

// (fd, ioasId, flags) -> access fd
Napi::Value CreateAccess(const Args& args) {
  auto cmd = NewTestCmd(Uapi().test_op.create_access.op, ArgU32(args, 1, "ioasId"));
  cmd.Set32(T().create_access_flags, ArgU32(args, 2, "flags"));
  TestIoctl(args, cmd, "IOMMU_TEST_OP_CREATE_ACCESS");
  return Napi::Number::New(args.Env(), cmd.Get32(T().create_access_out_access_fd));
}

// (fd, accessFd, flags, iova, length, memory | null, offset) -> access pages id
Napi::Value AccessPages(const Args& args) {
  Napi::Env env = args.Env();
  auto cmd = NewTestCmd(Uapi().test_op.access_pages.op, ArgU32(args, 1, "accessFd"));
  cmd.Set32(T().access_pages_flags, ArgU32(args, 2, "flags"));
  uint64_t iova = ArgU64(args, 3, "iova");
  size_t length = ArgSize(args, 4, "length");
  cmd.Set64(T().access_pages_iova, iova);
  cmd.Set64(T().access_pages_length, length);
  if (!args[5].IsNull() && !args[5].IsUndefined()) {
    // The mock compares whole pages: from uptr minus the IOVA's offset in its
    // page up to the end of the last page (iommufd_test_access_pages()).
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_t head = iova % page;
    size_t tail = (page - (iova + length) % page) % page;
    cmd.Set64(T().access_pages_uptr,
              CheckedUptr(env, ArgBytes(args, 5), ArgSize(args, 6, "offset"), length, head, tail));
  }
  TestIoctl(args, cmd, "IOMMU_TEST_OP_ACCESS_PAGES");
  return Napi::Number::New(env, cmd.Get32(T().access_pages_out_access_pages_id));
}

// (fd, accessFd, accessPagesId)
Napi::Value DestroyAccessPages(const Args& args) {
  auto cmd = NewTestCmd(Uapi().test_op.destroy_access_pages.op, ArgU32(args, 1, "accessFd"));
  cmd.Set32(T().destroy_access_pages_access_pages_id, ArgU32(args, 2, "accessPagesId"));
  TestIoctl(args, cmd, "IOMMU_TEST_OP_DESTROY_ACCESS_PAGES");
  return args.Env().Undefined();
}

// (fd, accessFd, flags, iova, memory, offset, length)
Napi::Value AccessRw(const Args& args) {
  auto cmd = NewTestCmd(Uapi().test_op.access_rw.op, ArgU32(args, 1, "accessFd"));
  cmd.Set32(T().access_rw_flags, ArgU32(args, 2, "flags"));
  cmd.Set64(T().access_rw_iova, ArgU64(args, 3, "iova"));
  JsBytes bytes = ArgBytes(args, 4);
  size_t length = ArgSize(args, 6, "length");
  cmd.Set64(T().access_rw_uptr, CheckedUptr(args.Env(), bytes, ArgSize(args, 5, "offset"), length));
  cmd.Set64(T().access_rw_length, length);
  TestIoctl(args, cmd, "IOMMU_TEST_OP_ACCESS_RW");
  return args.Env().Undefined();
}

// (fd, accessFd, ioasId)
Napi::Value AccessReplaceIoas(const Args& args) {
  auto cmd = NewTestCmd(Uapi().test_op.access_replace_ioas.op, ArgU32(args, 1, "accessFd"));
  cmd.Set32(T().access_replace_ioas_ioas_id, ArgU32(args, 2, "ioasId"));
  TestIoctl(args, cmd, "IOMMU_TEST_OP_ACCESS_REPLACE_IOAS");
  return args.Env().Undefined();
}

// (fd, limitBytes)
Napi::Value SetTempMemoryLimit(const Args& args) {
  auto cmd = NewTestCmd(Uapi().test_op.set_temp_memory_limit.op, 0);
  cmd.Set32(T().memory_limit_limit, ArgU32(args, 1, "limit"));
  TestIoctl(args, cmd, "IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT");
  return args.Env().Undefined();
}

// (fd, hwptId, flags, iova, length, pageSize, bitmap) -> pages marked dirty
Napi::Value Dirty(const Args& args) {
  Napi::Env env = args.Env();
  auto cmd = NewTestCmd(Uapi().test_op.dirty.op, ArgU32(args, 1, "hwptId"));
  cmd.Set32(T().dirty_flags, ArgU32(args, 2, "flags"));
  cmd.Set64(T().dirty_iova, ArgU64(args, 3, "iova"));
  cmd.Set64(T().dirty_length, ArgU64(args, 4, "length"));
  cmd.Set64(T().dirty_page_size, ArgU64(args, 5, "pageSize"));
  // The mock reads ceil(length / page_size / 8) bytes of bitmap (iommufd_test_dirty()).
  uint64_t ps = cmd.Get64(T().dirty_page_size), len = cmd.Get64(T().dirty_length);
  uint64_t bits = ps == 0 ? 0 : len / ps;
  uint64_t bytes = bits / 8 + (bits % 8 != 0);
  JsBytes bitmap = ArgBytes(args, 6);
  if (bytes > bitmap.length)
    throw Napi::RangeError::New(env, "bitmap holds " + std::to_string(bitmap.length * 8) +
                                         " bits; the range needs " + std::to_string(bits));
  // Never hand the mock a NULL bitmap: it answers EINVAL for that on its own.
  cmd.Set64(T().dirty_uptr, bitmap.length == 0 ? 0 : CheckedUptr(env, bitmap, 0, static_cast<size_t>(bytes)));
  TestIoctl(args, cmd, "IOMMU_TEST_OP_DIRTY");
  return Napi::BigInt::New(env, cmd.Get64(T().dirty_out_nr_dirty));
}

// (fd, devId, pasid, grpid, perm, addr)
Napi::Value TriggerIopf(const Args& args) {
  auto cmd = NewTestCmd(Uapi().test_op.trigger_iopf.op, 0);
  cmd.Set32(T().trigger_iopf_dev_id, ArgU32(args, 1, "devId"));
  cmd.Set32(T().trigger_iopf_pasid, ArgU32(args, 2, "pasid"));
  cmd.Set32(T().trigger_iopf_grpid, ArgU32(args, 3, "grpid"));
  cmd.Set32(T().trigger_iopf_perm, ArgU32(args, 4, "perm"));
  cmd.Set64(T().trigger_iopf_addr, ArgU64(args, 5, "addr"));
  TestIoctl(args, cmd, "IOMMU_TEST_OP_TRIGGER_IOPF");
  return args.Env().Undefined();
}

// (fd, op, id) -> errno of a raw test op with an otherwise zeroed command, 0 on
// success. Only for the capability probe: tells an unknown op (EOPNOTSUPP)
// from one that exists and rejected its arguments.
Napi::Value ProbeTestOp(const Args& args) {
  auto cmd = NewTestCmd(ArgU32(args, 1, "op"), ArgU32(args, 2, "id"));
  return Napi::Number::New(args.Env(), IoctlErrno(ArgFd(args, 0), IommufdRequest(Uapi().ioctl.test_cmd.nr), cmd.data()));
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
