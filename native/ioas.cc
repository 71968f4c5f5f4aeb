// IOAS and object ioctls: DESTROY, IOAS_{ALLOC,MAP,UNMAP,COPY,IOVA_RANGES,
// ALLOW_IOVAS}, OPTION, VFIO_IOAS.
#include <cerrno>
#include <vector>

#include "addon.h"
#include "uapi.h"

namespace iommufd_addon {
namespace uapi = iommufd_uapi;
namespace {

// (fd, id)
Napi::Value Destroy(const Args& args) {
  uapi::Destroy cmd = {sizeof(cmd), ArgU32(args, 1, "id")};
  Ioctl(args.Env(), ArgFd(args, 0), uapi::kIommuDestroy, &cmd, "IOMMU_DESTROY");
  return args.Env().Undefined();
}

// (fd) -> ioas id
Napi::Value IoasAlloc(const Args& args) {
  uapi::IoasAlloc cmd = {sizeof(cmd), 0, 0};
  Ioctl(args.Env(), ArgFd(args, 0), uapi::kIommuIoasAlloc, &cmd, "IOMMU_IOAS_ALLOC");
  return Napi::Number::New(args.Env(), cmd.out_ioas_id);
}

// (fd, ioasId, flags, memory, offset, length, iova) -> iova
Napi::Value IoasMap(const Args& args) {
  Napi::Env env = args.Env();
  uapi::IoasMap cmd = {};
  cmd.size = sizeof(cmd);
  cmd.ioas_id = ArgU32(args, 1, "ioasId");
  cmd.flags = ArgU32(args, 2, "flags");
  JsBytes bytes = ArgBytes(args, 3);
  size_t length = ArgSize(args, 5, "length");
  cmd.user_va = CheckedUptr(env, bytes, ArgSize(args, 4, "offset"), length);
  cmd.length = length;
  const uint64_t iova = ArgU64(args, 6, "iova");
  cmd.iova = iova;
  Ioctl(env, ArgFd(args, 0), uapi::kIommuIoasMap, &cmd, "IOMMU_IOAS_MAP");
  // A fixed map answers the IOVA it was given: return that bigint, not a new equal one.
  if (cmd.iova == iova) return args[6];
  return Napi::BigInt::New(env, static_cast<uint64_t>(cmd.iova));
}

// (fd, ioasId, iova, length) -> unmapped length
Napi::Value IoasUnmap(const Args& args) {
  uapi::IoasUnmap cmd = {};
  cmd.size = sizeof(cmd);
  cmd.ioas_id = ArgU32(args, 1, "ioasId");
  cmd.iova = ArgU64(args, 2, "iova");
  const uint64_t length = ArgU64(args, 3, "length");
  cmd.length = length;
  Ioctl(args.Env(), ArgFd(args, 0), uapi::kIommuIoasUnmap, &cmd, "IOMMU_IOAS_UNMAP");
  // Unmapping exactly one area answers the length asked for: return that bigint.
  if (cmd.length == length) return args[3];
  return Napi::BigInt::New(args.Env(), static_cast<uint64_t>(cmd.length));
}

// (fd, dstIoasId, srcIoasId, flags, dstIova, srcIova, length) -> dst iova
Napi::Value IoasCopy(const Args& args) {
  uapi::IoasCopy cmd = {};
  cmd.size = sizeof(cmd);
  cmd.dst_ioas_id = ArgU32(args, 1, "dstIoasId");
  cmd.src_ioas_id = ArgU32(args, 2, "srcIoasId");
  cmd.flags = ArgU32(args, 3, "flags");
  cmd.dst_iova = ArgU64(args, 4, "dstIova");
  cmd.src_iova = ArgU64(args, 5, "srcIova");
  cmd.length = ArgU64(args, 6, "length");
  Ioctl(args.Env(), ArgFd(args, 0), uapi::kIommuIoasCopy, &cmd, "IOMMU_IOAS_COPY");
  return Napi::BigInt::New(args.Env(), static_cast<uint64_t>(cmd.dst_iova));
}

// (fd, ioasId) -> { ranges: BigUint64Array [start0, last0, ...], alignment }
// (fd, ioasId, out: BigUint64Array, numIovas) -> { numIovas, alignment }: one
//   ioctl with room for numIovas ranges in out; a failure (EMSGSIZE: too small)
//   carries the count the kernel reported as `numIovas`.
Napi::Value IoasIovaRanges(const Args& args) {
  Napi::Env env = args.Env();
  int fd = ArgFd(args, 0);
  uint32_t ioas_id = ArgU32(args, 1, "ioasId");
  if (!args[2].IsUndefined()) {
    if (!args[2].IsTypedArray() ||
        args[2].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array)
      throw Napi::TypeError::New(env, "out must be a BigUint64Array of [start, last] pairs");
    JsBytes out = ArgBytes(args, 2);
    uapi::IoasIovaRanges one = {};
    one.size = sizeof(one);
    one.ioas_id = ioas_id;
    one.num_iovas = ArgU32(args, 3, "numIovas");
    uint64_t bytes = static_cast<uint64_t>(one.num_iovas) * sizeof(uapi::IovaRange);
    if (bytes > out.length)
      throw Napi::RangeError::New(env, "room for " + std::to_string(one.num_iovas) + " ranges exceeds out");
    one.allowed_iovas = bytes == 0 ? 0 : CheckedUptr(env, out, 0, static_cast<size_t>(bytes));
    int err = IoctlErrno(fd, uapi::kIommuIoasIovaRanges, &one);
    if (err != 0) {
      Napi::Error error = ErrnoError(env, err, "IOMMU_IOAS_IOVA_RANGES");
      error.Set("numIovas", Napi::Number::New(env, one.num_iovas));
      throw error;
    }
    Napi::Object result = NewObject(env);
    result.Set("numIovas", Napi::Number::New(env, one.num_iovas));
    result.Set("alignment", Napi::BigInt::New(env, static_cast<uint64_t>(one.out_iova_alignment)));
    return result;
  }
  std::vector<uapi::IovaRange> ranges;
  uapi::IoasIovaRanges cmd = {};
  // EMSGSIZE means the array was too small; the kernel has written the count it
  // needs into num_iovas. The count can change between calls, so loop.
  for (;;) {
    cmd.size = sizeof(cmd);
    cmd.ioas_id = ioas_id;
    cmd.num_iovas = static_cast<uint32_t>(ranges.size());
    cmd.allowed_iovas = reinterpret_cast<uintptr_t>(ranges.data());
    int err = IoctlErrno(fd, uapi::kIommuIoasIovaRanges, &cmd);
    if (err == 0) break;
    if (err == EMSGSIZE && cmd.num_iovas > ranges.size()) {
      ranges.resize(cmd.num_iovas);
      continue;
    }
    ThrowErrno(env, err, "IOMMU_IOAS_IOVA_RANGES");
  }
  auto out = Napi::BigUint64Array::New(env, 2 * static_cast<size_t>(cmd.num_iovas));
  for (uint32_t i = 0; i < cmd.num_iovas; i++) {
    out[2 * i] = ranges[i].start;
    out[2 * i + 1] = ranges[i].last;
  }
  Napi::Object result = NewObject(env);
  result.Set("ranges", out);
  result.Set("alignment", Napi::BigInt::New(env, static_cast<uint64_t>(cmd.out_iova_alignment)));
  return result;
}

// (fd, ioasId, ranges: BigUint64Array [start0, last0, ...])
Napi::Value IoasAllowIovas(const Args& args) {
  Napi::Env env = args.Env();
  if (!args[2].IsTypedArray() ||
      args[2].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array)
    throw Napi::TypeError::New(env, "ranges must be a BigUint64Array of [start, last] pairs");
  JsBytes bytes = ArgBytes(args, 2);
  if (bytes.length % sizeof(uapi::IovaRange) != 0)
    throw Napi::RangeError::New(env, "ranges must hold [start, last] pairs");
  uapi::IoasAllowIovas cmd = {};
  cmd.size = sizeof(cmd);
  cmd.ioas_id = ArgU32(args, 1, "ioasId");
  cmd.num_iovas = static_cast<uint32_t>(bytes.length / sizeof(uapi::IovaRange));
  cmd.allowed_iovas = bytes.length == 0 ? 0 : CheckedUptr(env, bytes, 0, bytes.length);
  Ioctl(env, ArgFd(args, 0), uapi::kIommuIoasAllowIovas, &cmd, "IOMMU_IOAS_ALLOW_IOVAS");
  return env.Undefined();
}

// (fd, optionId, op, objectId, val64) -> val64 (the value read back on GET)
Napi::Value Option(const Args& args) {
  uapi::Option cmd = {};
  cmd.size = sizeof(cmd);
  cmd.option_id = ArgU32(args, 1, "optionId");
  uint32_t op = ArgU32(args, 2, "op");
  if (op > 0xffff) throw Napi::RangeError::New(args.Env(), "op must be a u16");
  cmd.op = static_cast<uint16_t>(op);
  cmd.object_id = ArgU32(args, 3, "objectId");
  cmd.val64 = ArgU64(args, 4, "val64");
  Ioctl(args.Env(), ArgFd(args, 0), uapi::kIommuOption, &cmd, "IOMMU_OPTION");
  return Napi::BigInt::New(args.Env(), static_cast<uint64_t>(cmd.val64));
}

// (fd, op, ioasId) -> ioas id (GET fills it in)
Napi::Value VfioIoas(const Args& args) {
  uapi::VfioIoas cmd = {};
  cmd.size = sizeof(cmd);
  uint32_t op = ArgU32(args, 1, "op");
  if (op > 0xffff) throw Napi::RangeError::New(args.Env(), "op must be a u16");
  cmd.op = static_cast<uint16_t>(op);
  cmd.ioas_id = ArgU32(args, 2, "ioasId");
  Ioctl(args.Env(), ArgFd(args, 0), uapi::kIommuVfioIoas, &cmd, "IOMMU_VFIO_IOAS");
  return Napi::Number::New(args.Env(), cmd.ioas_id);
}

// (fd, nr) -> errno of iommufd ioctl `nr` called with size 0, 0 on success.
// Only for the capability probe: main.c answers ENOTTY for an ioctl it does not
// know and EINVAL for a size below the struct's minimum.
Napi::Value ProbeIoctl(const Args& args) {
  uint32_t nr = ArgU32(args, 1, "nr");
  if (nr > 0xff) throw Napi::RangeError::New(args.Env(), "nr must be a u8");
  alignas(8) uint8_t zeroes[64] = {};
  return Napi::Number::New(args.Env(), IoctlErrno(ArgFd(args, 0), uapi::Ioctl(nr), zeroes));
}

}  // namespace

const std::vector<OpEntry> kIoasOps = {
    {"probeIoctl", ProbeIoctl},
    {"destroy", Destroy},
    {"ioasAlloc", IoasAlloc},
    {"ioasMap", IoasMap},
    {"ioasUnmap", IoasUnmap},
    {"ioasCopy", IoasCopy},
    {"ioasIovaRanges", IoasIovaRanges},
    {"ioasAllowIovas", IoasAllowIovas},
    {"option", Option},
    {"vfioIoas", VfioIoas},
};

}  // namespace iommufd_addon
