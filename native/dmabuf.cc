// IOMMU_TEST_CMD's dma-buf ops of 7.3's mock (DMABUF_GET / DMABUF_REVOKE): the
// exporter whose buffers IOMMU_IOAS_MAP_FILE imports. A kernel without them
// (6.12) answers EOPNOTSUPP; the layout marks their fields absent.
#include <sys/ioctl.h>

#include "addon.h"
#include "cmd.h"

namespace iommufd_addon {
namespace {

const uapi::IommuTestCmd& T() { return Uapi().iommu_test_cmd; }

Cmd NewDmabufCmd(uint32_t op) {
  Cmd cmd(T().sizeof_);
  cmd.Set32(T().op, op);
  return cmd;
}

// (fd, length, openFlags) -> the new dma-buf's descriptor, which the caller owns.
// The op returns it as the ioctl's value (dma_buf_fd()), not in the command.
Napi::Value DmabufGet(const Args& args) {
  Napi::Env env = args.Env();
  int fd = ArgFd(args, 0);
  auto cmd = NewDmabufCmd(Uapi().test_op.dmabuf_get.op);
  cmd.Set32(T().dmabuf_get_length, ArgU32(args, 1, "length"));
  cmd.Set32(T().dmabuf_get_open_flags, ArgU32(args, 2, "openFlags"));
  const auto& io = Uapi().ioctl.test_cmd;
  int rc = RetryOnEintr([&] { return ioctl(fd, IommufdRequest(io.nr), cmd.data()); });
  if (rc < 0) ThrowErrno(env, errno, "IOMMU_TEST_OP_DMABUF_GET");
  return Napi::Number::New(env, rc);
}

// (fd, dmabufFd, revoked)
Napi::Value DmabufRevoke(const Args& args) {
  auto cmd = NewDmabufCmd(Uapi().test_op.dmabuf_revoke.op);
  cmd.Set32(T().dmabuf_revoke_dmabuf_fd, ArgU32(args, 1, "dmabufFd"));
  cmd.Set32(T().dmabuf_revoke_revoked, args[2].ToBoolean() ? 1 : 0);
  CmdIoctl(args.Env(), ArgFd(args, 0), Uapi().ioctl.test_cmd, cmd, "IOMMU_TEST_OP_DMABUF_REVOKE");
  return args.Env().Undefined();
}

}  // namespace

const std::vector<OpEntry> kDmabufOps = {
    {"testDmabufGet", DmabufGet},
    {"testDmabufRevoke", DmabufRevoke},
};

}  // namespace iommufd_addon
