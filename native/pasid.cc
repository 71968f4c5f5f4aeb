// IOMMU_TEST_CMD's PASID ops of 7.3's mock (PASID_ATTACH / REPLACE / DETACH /
// CHECK_HWPT): attach a mock device's PASID to a HWPT through iommufd_device_attach().
// A kernel without them (6.12) answers EOPNOTSUPP; the layout marks their fields absent.
#include "addon.h"
#include "cmd.h"

namespace iommufd_addon {
namespace {

const uapi::IommuTestCmd& T() { return Uapi().iommu_test_cmd; }

Cmd NewPasidCmd(uint32_t op, const Args& args) {
  Cmd cmd(T().sizeof_);
  cmd.Set32(T().op, op);
  cmd.Set32(T().id, ArgU32(args, 1, "stdevId"));
  return cmd;
}

void TestIoctl(const Args& args, Cmd& cmd, const char* op) {
  CmdIoctl(args.Env(), ArgFd(args, 0), Uapi().ioctl.test_cmd, cmd, op);
}

// (fd, stdevId, pasid, ptId) -> the HWPT id now attached (an IOAS gets an automatic one)
Napi::Value PasidAttach(const Args& args) {
  auto cmd = NewPasidCmd(Uapi().test_op.pasid_attach.op, args);
  cmd.Set32(T().pasid_attach_pasid, ArgU32(args, 2, "pasid"));
  cmd.Set32(T().pasid_attach_pt_id, ArgU32(args, 3, "ptId"));
  TestIoctl(args, cmd, "IOMMU_TEST_OP_PASID_ATTACH");
  return Napi::Number::New(args.Env(), cmd.Get32(T().pasid_attach_pt_id));
}

// (fd, stdevId, pasid, ptId) -> the HWPT id now attached
Napi::Value PasidReplace(const Args& args) {
  auto cmd = NewPasidCmd(Uapi().test_op.pasid_replace.op, args);
  cmd.Set32(T().pasid_replace_pasid, ArgU32(args, 2, "pasid"));
  cmd.Set32(T().pasid_replace_pt_id, ArgU32(args, 3, "ptId"));
  TestIoctl(args, cmd, "IOMMU_TEST_OP_PASID_REPLACE");
  return Napi::Number::New(args.Env(), cmd.Get32(T().pasid_replace_pt_id));
}

// (fd, stdevId, pasid)
Napi::Value PasidDetach(const Args& args) {
  auto cmd = NewPasidCmd(Uapi().test_op.pasid_detach.op, args);
  cmd.Set32(T().pasid_detach_pasid, ArgU32(args, 2, "pasid"));
  TestIoctl(args, cmd, "IOMMU_TEST_OP_PASID_DETACH");
  return args.Env().Undefined();
}

// (fd, stdevId, pasid, hwptId): EINVAL unless the PASID is attached to hwptId (0: to nothing)
Napi::Value PasidCheckHwpt(const Args& args) {
  auto cmd = NewPasidCmd(Uapi().test_op.pasid_check_hwpt.op, args);
  cmd.Set32(T().pasid_check_pasid, ArgU32(args, 2, "pasid"));
  cmd.Set32(T().pasid_check_hwpt_id, ArgU32(args, 3, "hwptId"));
  TestIoctl(args, cmd, "IOMMU_TEST_OP_PASID_CHECK_HWPT");
  return args.Env().Undefined();
}

}  // namespace

const std::vector<OpEntry> kPasidOps = {
    {"testPasidAttach", PasidAttach},
    {"testPasidReplace", PasidReplace},
    {"testPasidDetach", PasidDetach},
    {"testPasidCheckHwpt", PasidCheckHwpt},
};

}  // namespace iommufd_addon
