// VFIO type1 container ioctls answered by iommufd on /dev/iommu (vfio_compat.c).
#include <sys/ioctl.h>

#include <cstring>
#include <vector>

#include "addon.h"
#include "cmd.h"

namespace iommufd_addon {
namespace {

// The container ioctls that return a value do so as ioctl()'s return value.
int ValueIoctl(const Args& args, unsigned long request, unsigned long arg, const char* op) {
  int fd = ArgFd(args, 0);
  int rc = RetryOnEintr([&] { return ioctl(fd, request, arg); });
  if (rc == -1) ThrowErrno(args.Env(), errno, op);
  return rc;
}

// (fd) -> VFIO_API_VERSION
Napi::Value GetApiVersion(const Args& args) {
  return Napi::Number::New(args.Env(), ValueIoctl(args, Uapi().vfio.get_api_version, 0, "VFIO_GET_API_VERSION"));
}

// (fd, extension) -> 1 when supported, 0 when not
Napi::Value CheckExtension(const Args& args) {
  uint32_t ext = ArgU32(args, 1, "extension");
  return Napi::Number::New(args.Env(), ValueIoctl(args, Uapi().vfio.check_extension, ext, "VFIO_CHECK_EXTENSION"));
}

// (fd, type)
Napi::Value SetIommu(const Args& args) {
  ValueIoctl(args, Uapi().vfio.set_iommu, ArgU32(args, 1, "type"), "VFIO_SET_IOMMU");
  return args.Env().Undefined();
}

// (fd) -> Uint8Array: the whole vfio_iommu_type1_info with its capability
// chain, fetched with the argsz handshake. lib/ parses the chain.
Napi::Value IommuGetInfo(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  int fd = ArgFd(args, 0);
  std::vector<uint8_t> buffer(L.vfio_iommu_type1_info.sizeof_);
  for (;;) {
    // argsz is the leading u32 (offset 0, test/abi).
    uint32_t argsz = static_cast<uint32_t>(buffer.size());
    std::memcpy(buffer.data() + L.vfio_iommu_type1_info.argsz, &argsz, 4);
    int err = IoctlErrno(fd, L.vfio.iommu_get_info, buffer.data());
    if (err != 0) ThrowErrno(env, err, "VFIO_IOMMU_GET_INFO");
    std::memcpy(&argsz, buffer.data() + L.vfio_iommu_type1_info.argsz, 4);
    // A larger argsz back means the capabilities did not fit: ask again.
    if (argsz <= buffer.size()) break;
    buffer.resize(argsz);
  }
  auto out = Napi::Uint8Array::New(env, buffer.size());
  std::copy(buffer.begin(), buffer.end(), out.Data());
  return out;
}

// (fd, flags, memory, offset, size, iova)
Napi::Value MapDma(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  const auto& f = L.vfio_iommu_type1_dma_map;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.flags, ArgU32(args, 1, "flags"));
  JsBytes bytes = ArgBytes(args, 2);
  size_t size = ArgSize(args, 4, "size");
  cmd.Set64(f.vaddr, CheckedUptr(env, bytes, ArgSize(args, 3, "offset"), size));
  cmd.Set64(f.size, size);
  cmd.Set64(f.iova, ArgU64(args, 5, "iova"));
  Ioctl(env, ArgFd(args, 0), L.vfio.iommu_map_dma, cmd.data(), "VFIO_IOMMU_MAP_DMA");
  return env.Undefined();
}

// (fd, flags, iova, size) -> bytes unmapped
Napi::Value UnmapDma(const Args& args) {
  const auto& L = Uapi();
  const auto& f = L.vfio_iommu_type1_dma_unmap;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.flags, ArgU32(args, 1, "flags"));
  cmd.Set64(f.iova, ArgU64(args, 2, "iova"));
  cmd.Set64(f.size, ArgU64(args, 3, "size"));
  Ioctl(args.Env(), ArgFd(args, 0), L.vfio.iommu_unmap_dma, cmd.data(), "VFIO_IOMMU_UNMAP_DMA");
  return Napi::BigInt::New(args.Env(), cmd.Get64(f.size));
}

}  // namespace

const std::vector<OpEntry> kVfioCompatOps = {
    {"vfioGetApiVersion", GetApiVersion},
    {"vfioCheckExtension", CheckExtension},
    {"vfioSetIommu", SetIommu},
    {"vfioIommuGetInfo", IommuGetInfo},
    {"vfioMapDma", MapDma},
    {"vfioUnmapDma", UnmapDma},
};

}  // namespace iommufd_addon
