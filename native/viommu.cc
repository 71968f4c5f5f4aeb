// The vIOMMU objects of kernels newer than 6.12 (viommu.c, eventq.c):
// IOMMU_VIOMMU_ALLOC, IOMMU_VDEVICE_ALLOC, IOMMU_VEVENTQ_ALLOC and read() on its
// fd, IOMMU_HW_QUEUE_ALLOC, and the mock's vIOMMU test ops (DEV_CHECK_CACHE,
// TRIGGER_VEVENT). A kernel without them (6.12) answers ENOTTY / EOPNOTSUPP;
// the layout marks their structs absent.
#include <unistd.h>

#include <cerrno>
#include <string>

#include "addon.h"
#include "cmd.h"

namespace iommufd_addon {
namespace {

// (fd, flags, type, devId, hwptId, data | null) -> viommu id
// The driver writes its answer back into data (iommu_copy_struct_to_user()).
Napi::Value ViommuAlloc(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  const auto& f = L.iommu_viommu_alloc;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.flags, ArgU32(args, 1, "flags"));
  cmd.Set32(f.type, ArgU32(args, 2, "type"));
  cmd.Set32(f.dev_id, ArgU32(args, 3, "devId"));
  cmd.Set32(f.hwpt_id, ArgU32(args, 4, "hwptId"));
  if (!args[5].IsNull() && !args[5].IsUndefined()) {
    JsBytes data = ArgBytes(args, 5);
    if (data.length > UINT32_MAX) throw Napi::RangeError::New(env, "data is too large");
    cmd.Set32(f.data_len, static_cast<uint32_t>(data.length));
    cmd.Set64(f.data_uptr, data.length == 0 ? 0 : CheckedUptr(env, data, 0, data.length));
  }
  CmdIoctl(env, ArgFd(args, 0), L.ioctl.viommu_alloc, cmd, "IOMMU_VIOMMU_ALLOC");
  return Napi::Number::New(env, cmd.Get32(f.out_viommu_id));
}

// (fd, viommuId, devId, virtId: bigint) -> vdevice id
Napi::Value VdeviceAlloc(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  const auto& f = L.iommu_vdevice_alloc;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.viommu_id, ArgU32(args, 1, "viommuId"));
  cmd.Set32(f.dev_id, ArgU32(args, 2, "devId"));
  cmd.Set64(f.virt_id, ArgU64(args, 3, "virtId"));
  CmdIoctl(env, ArgFd(args, 0), L.ioctl.vdevice_alloc, cmd, "IOMMU_VDEVICE_ALLOC");
  return Napi::Number::New(env, cmd.Get32(f.out_vdevice_id));
}

// (fd, flags, viommuId, type, depth) -> { veventqId, veventqFd }
Napi::Value VeventqAlloc(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  const auto& f = L.iommu_veventq_alloc;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.flags, ArgU32(args, 1, "flags"));
  cmd.Set32(f.viommu_id, ArgU32(args, 2, "viommuId"));
  cmd.Set32(f.type, ArgU32(args, 3, "type"));
  cmd.Set32(f.veventq_depth, ArgU32(args, 4, "depth"));
  CmdIoctl(env, ArgFd(args, 0), L.ioctl.veventq_alloc, cmd, "IOMMU_VEVENTQ_ALLOC");
  Napi::Object out = NewObject(env);
  out.Set("veventqId", Napi::Number::New(env, cmd.Get32(f.out_veventq_id)));
  out.Set("veventqFd", Napi::Number::New(env, cmd.Get32(f.out_veventq_fd)));
  return out;
}

// (veventqFd, buffer) -> bytes read. The read count is the buffer's whole length:
// the kernel's answer depends on it (EINVAL below one header or one event).
Napi::Value VeventqRead(const Args& args) {
  Napi::Env env = args.Env();
  int fd = ArgFd(args, 0);
  JsBytes buffer = ArgBytes(args, 1);
  // A zero-length read still needs an address; the kernel refuses it before any copy.
  uint8_t scratch = 0;
  void* at = buffer.length == 0 ? &scratch : reinterpret_cast<void*>(CheckedUptr(env, buffer, 0, buffer.length));
  ssize_t n = RetryOnEintr([&] { return read(fd, at, buffer.length); });
  if (n < 0) ThrowErrno(env, errno, "read(veventq fd)");
  return Napi::Number::New(env, static_cast<double>(n));
}

// (fd, flags, viommuId, type, index, nestingParentIova, length) -> hw queue id
Napi::Value HwQueueAlloc(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  const auto& f = L.iommu_hw_queue_alloc;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.flags, ArgU32(args, 1, "flags"));
  cmd.Set32(f.viommu_id, ArgU32(args, 2, "viommuId"));
  cmd.Set32(f.type, ArgU32(args, 3, "type"));
  cmd.Set32(f.index, ArgU32(args, 4, "index"));
  cmd.Set64(f.nesting_parent_iova, ArgU64(args, 5, "nestingParentIova"));
  cmd.Set64(f.length, ArgU64(args, 6, "length"));
  CmdIoctl(env, ArgFd(args, 0), L.ioctl.hw_queue_alloc, cmd, "IOMMU_HW_QUEUE_ALLOC");
  return Napi::Number::New(env, cmd.Get32(f.out_hw_queue_id));
}

const uapi::IommuTestCmd& T() { return Uapi().iommu_test_cmd; }

// (fd, devId, cacheId, value): EINVAL unless the mock device's cache entry holds value
Napi::Value DevCheckCache(const Args& args) {
  Cmd cmd(T().sizeof_);
  cmd.Set32(T().op, Uapi().test_op.dev_check_cache.op);
  cmd.Set32(T().id, ArgU32(args, 1, "devId"));
  cmd.Set32(T().check_dev_cache_id, ArgU32(args, 2, "cacheId"));
  cmd.Set32(T().check_dev_cache_cache, ArgU32(args, 3, "value"));
  CmdIoctl(args.Env(), ArgFd(args, 0), Uapi().ioctl.test_cmd, cmd, "IOMMU_TEST_OP_DEV_CHECK_CACHE");
  return args.Env().Undefined();
}

// (fd, devId)
Napi::Value TriggerVevent(const Args& args) {
  Cmd cmd(T().sizeof_);
  cmd.Set32(T().op, Uapi().test_op.trigger_vevent.op);
  cmd.Set32(T().trigger_vevent_dev_id, ArgU32(args, 1, "devId"));
  CmdIoctl(args.Env(), ArgFd(args, 0), Uapi().ioctl.test_cmd, cmd, "IOMMU_TEST_OP_TRIGGER_VEVENT");
  return args.Env().Undefined();
}

}  // namespace

const std::vector<OpEntry> kViommuOps = {
    {"viommuAlloc", ViommuAlloc},
    {"vdeviceAlloc", VdeviceAlloc},
    {"veventqAlloc", VeventqAlloc},
    {"veventqRead", VeventqRead},
    {"hwQueueAlloc", HwQueueAlloc},
    {"testDevCheckCache", DevCheckCache},
    {"testTriggerVevent", TriggerVevent},
};

}  // namespace iommufd_addon
