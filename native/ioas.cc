// IOAS and object ioctls: DESTROY, IOAS_{ALLOC,MAP,UNMAP,COPY,IOVA_RANGES,
// ALLOW_IOVAS}, OPTION, VFIO_IOAS, and 7.3's IOAS_MAP_FILE, IOAS_CHANGE_PROCESS
// and IOAS_NOIOMMU_GET_PA.
#include <cerrno>
#include <cstring>
#include <vector>

#include "addon.h"
#include "cmd.h"

namespace iommufd_addon {
namespace {

// (fd, id)
Napi::Value Destroy(const Args& args) {
  const auto& L = Uapi();
  Cmd cmd(L.iommu_destroy.sizeof_);
  cmd.Set32(L.iommu_destroy.id, ArgU32(args, 1, "id"));
  CmdIoctl(args.Env(), ArgFd(args, 0), L.ioctl.destroy, cmd, "IOMMU_DESTROY");
  return args.Env().Undefined();
}

// (fd) -> ioas id
Napi::Value IoasAlloc(const Args& args) {
  const auto& L = Uapi();
  Cmd cmd(L.iommu_ioas_alloc.sizeof_);
  CmdIoctl(args.Env(), ArgFd(args, 0), L.ioctl.ioas_alloc, cmd, "IOMMU_IOAS_ALLOC");
  return Napi::Number::New(args.Env(), cmd.Get32(L.iommu_ioas_alloc.out_ioas_id));
}

// (fd, ioasId, flags, memory, offset, length, iova) -> iova
Napi::Value IoasMap(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  const auto& f = L.iommu_ioas_map;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.ioas_id, ArgU32(args, 1, "ioasId"));
  cmd.Set32(f.flags, ArgU32(args, 2, "flags"));
  JsBytes bytes = ArgBytes(args, 3);
  size_t length = ArgSize(args, 5, "length");
  cmd.Set64(f.user_va, CheckedUptr(env, bytes, ArgSize(args, 4, "offset"), length));
  cmd.Set64(f.length, length);
  const uint64_t iova = ArgU64(args, 6, "iova");
  cmd.Set64(f.iova, iova);
  CmdIoctl(env, ArgFd(args, 0), L.ioctl.ioas_map, cmd, "IOMMU_IOAS_MAP");
  // A fixed map answers the IOVA it was given: return that bigint, not a new equal one.
  if (cmd.Get64(f.iova) == iova) return args[6];
  return Napi::BigInt::New(env, cmd.Get64(f.iova));
}

// (fd, ioasId, flags, fileFd, start, length, iova) -> iova. The file is the
// kernel's from here on (iopt_alloc_file_pages() takes its own reference), so
// only the descriptor number crosses: no user memory to bounds-check.
Napi::Value IoasMapFile(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  const auto& f = L.iommu_ioas_map_file;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.ioas_id, ArgU32(args, 1, "ioasId"));
  cmd.Set32(f.flags, ArgU32(args, 2, "flags"));
  cmd.Set32(f.fd, static_cast<uint32_t>(ArgFd(args, 3)));
  cmd.Set64(f.start, ArgU64(args, 4, "start"));
  cmd.Set64(f.length, ArgU64(args, 5, "length"));
  const uint64_t iova = ArgU64(args, 6, "iova");
  cmd.Set64(f.iova, iova);
  CmdIoctl(env, ArgFd(args, 0), L.ioctl.ioas_map_file, cmd, "IOMMU_IOAS_MAP_FILE");
  if (cmd.Get64(f.iova) == iova) return args[6];
  return Napi::BigInt::New(env, cmd.Get64(f.iova));
}

// (fd): charge the pinned pages of every (file) mapping to the calling process
Napi::Value IoasChangeProcess(const Args& args) {
  const auto& L = Uapi();
  Cmd cmd(L.iommu_ioas_change_process.sizeof_);
  CmdIoctl(args.Env(), ArgFd(args, 0), L.ioctl.ioas_change_process, cmd, "IOMMU_IOAS_CHANGE_PROCESS");
  return args.Env().Undefined();
}

// (fd, ioasId, flags, reserved, iova, length) -> { phys, length }: the physical
// address behind iova and how many bytes from there are physically contiguous
// (at most `length`). 7.3 with CONFIG_IOMMUFD_NOIOMMU; `reserved` is the
// uAPI's __reserved, passed through so the kernel judges it (bad-input tests).
Napi::Value IoasNoiommuGetPa(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  const auto& f = L.iommu_ioas_noiommu_get_pa;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.ioas_id, ArgU32(args, 1, "ioasId"));
  cmd.Set32(f.flags, ArgU32(args, 2, "flags"));
  cmd.Set32(f.__reserved, ArgU32(args, 3, "reserved"));
  cmd.Set64(f.iova, ArgU64(args, 4, "iova"));
  cmd.Set64(f.length, ArgU64(args, 5, "length"));
  CmdIoctl(env, ArgFd(args, 0), L.ioctl.ioas_noiommu_get_pa, cmd, "IOMMU_IOAS_NOIOMMU_GET_PA");
  Napi::Object result = NewObject(env);
  result.Set("phys", Napi::BigInt::New(env, cmd.Get64(f.out_phys)));
  result.Set("length", Napi::BigInt::New(env, cmd.Get64(f.length)));
  return result;
}

// (fd, ioasId, iova, length) -> unmapped length
Napi::Value IoasUnmap(const Args& args) {
  const auto& L = Uapi();
  const auto& f = L.iommu_ioas_unmap;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.ioas_id, ArgU32(args, 1, "ioasId"));
  cmd.Set64(f.iova, ArgU64(args, 2, "iova"));
  const uint64_t length = ArgU64(args, 3, "length");
  cmd.Set64(f.length, length);
  CmdIoctl(args.Env(), ArgFd(args, 0), L.ioctl.ioas_unmap, cmd, "IOMMU_IOAS_UNMAP");
  // Unmapping exactly one area answers the length asked for: return that bigint.
  if (cmd.Get64(f.length) == length) return args[3];
  return Napi::BigInt::New(args.Env(), cmd.Get64(f.length));
}

// (fd, dstIoasId, srcIoasId, flags, dstIova, srcIova, length) -> dst iova
Napi::Value IoasCopy(const Args& args) {
  const auto& L = Uapi();
  const auto& f = L.iommu_ioas_copy;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.dst_ioas_id, ArgU32(args, 1, "dstIoasId"));
  cmd.Set32(f.src_ioas_id, ArgU32(args, 2, "srcIoasId"));
  cmd.Set32(f.flags, ArgU32(args, 3, "flags"));
  cmd.Set64(f.dst_iova, ArgU64(args, 4, "dstIova"));
  cmd.Set64(f.src_iova, ArgU64(args, 5, "srcIova"));
  cmd.Set64(f.length, ArgU64(args, 6, "length"));
  CmdIoctl(args.Env(), ArgFd(args, 0), L.ioctl.ioas_copy, cmd, "IOMMU_IOAS_COPY");
  return Napi::BigInt::New(args.Env(), cmd.Get64(f.dst_iova));
}

// (fd, ioasId) -> { ranges: BigUint64Array [start0, last0, ...], alignment }
// (fd, ioasId, out: BigUint64Array, numIovas) -> { numIovas, alignment }: one
//   ioctl with room for numIovas ranges in out; a failure (EMSGSIZE: too small)
//   carries the count the kernel reported as `numIovas`.
Napi::Value IoasIovaRanges(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  const auto& f = L.iommu_ioas_iova_ranges;
  const auto& r = L.iommu_iova_range;
  int fd = ArgFd(args, 0);
  uint32_t ioas_id = ArgU32(args, 1, "ioasId");
  if (!args[2].IsUndefined()) {
    if (!args[2].IsTypedArray() ||
        args[2].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array)
      throw Napi::TypeError::New(env, "out must be a BigUint64Array of [start, last] pairs");
    JsBytes out = ArgBytes(args, 2);
    Cmd one(f.sizeof_);
    one.Set32(f.ioas_id, ioas_id);
    uint32_t num = ArgU32(args, 3, "numIovas");
    one.Set32(f.num_iovas, num);
    uint64_t bytes = static_cast<uint64_t>(num) * r.sizeof_;
    if (bytes > out.length)
      throw Napi::RangeError::New(env, "room for " + std::to_string(num) + " ranges exceeds out");
    one.Set64(f.allowed_iovas, bytes == 0 ? 0 : CheckedUptr(env, out, 0, static_cast<size_t>(bytes)));
    int err = IoctlErrno(fd, IommufdRequest(L.ioctl.ioas_iova_ranges.nr), one.data());
    if (err != 0) {
      Napi::Error error = ErrnoError(env, err, "IOMMU_IOAS_IOVA_RANGES");
      error.Set("numIovas", Napi::Number::New(env, one.Get32(f.num_iovas)));
      throw error;
    }
    Napi::Object result = NewObject(env);
    result.Set("numIovas", Napi::Number::New(env, one.Get32(f.num_iovas)));
    result.Set("alignment", Napi::BigInt::New(env, one.Get64(f.out_iova_alignment)));
    return result;
  }
  // The kernel's iommu_iova_range array, as u64s (start and last at their offsets).
  std::vector<uint64_t> ranges;
  uint32_t count = 0;
  Cmd cmd(f.sizeof_);
  // EMSGSIZE means the array was too small; the kernel has written the count it
  // needs into num_iovas. The count can change between calls, so loop.
  for (;;) {
    cmd = Cmd(f.sizeof_);
    cmd.Set32(f.ioas_id, ioas_id);
    cmd.Set32(f.num_iovas, count);
    cmd.Set64(f.allowed_iovas, reinterpret_cast<uintptr_t>(ranges.data()));
    int err = IoctlErrno(fd, IommufdRequest(L.ioctl.ioas_iova_ranges.nr), cmd.data());
    if (err == 0) break;
    if (err == EMSGSIZE && cmd.Get32(f.num_iovas) > count) {
      count = cmd.Get32(f.num_iovas);
      ranges.assign((static_cast<size_t>(count) * r.sizeof_ + 7) / 8, 0);
      continue;
    }
    ThrowErrno(env, err, "IOMMU_IOAS_IOVA_RANGES");
  }
  uint32_t n = cmd.Get32(f.num_iovas);
  auto out = Napi::BigUint64Array::New(env, 2 * static_cast<size_t>(n));
  const uint8_t* base = reinterpret_cast<const uint8_t*>(ranges.data());
  for (uint32_t i = 0; i < n; i++) {
    uint64_t start, last;
    std::memcpy(&start, base + i * r.sizeof_ + r.start, 8);
    std::memcpy(&last, base + i * r.sizeof_ + r.last, 8);
    out[2 * i] = start;
    out[2 * i + 1] = last;
  }
  Napi::Object result = NewObject(env);
  result.Set("ranges", out);
  result.Set("alignment", Napi::BigInt::New(env, cmd.Get64(f.out_iova_alignment)));
  return result;
}

// (fd, ioasId, ranges: BigUint64Array [start0, last0, ...])
Napi::Value IoasAllowIovas(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  const auto& f = L.iommu_ioas_allow_iovas;
  // The pairs go to the kernel as they are: iommu_iova_range is {start, last} (test/abi).
  if (!args[2].IsTypedArray() ||
      args[2].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array)
    throw Napi::TypeError::New(env, "ranges must be a BigUint64Array of [start, last] pairs");
  JsBytes bytes = ArgBytes(args, 2);
  if (bytes.length % L.iommu_iova_range.sizeof_ != 0)
    throw Napi::RangeError::New(env, "ranges must hold [start, last] pairs");
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.ioas_id, ArgU32(args, 1, "ioasId"));
  cmd.Set32(f.num_iovas, static_cast<uint32_t>(bytes.length / L.iommu_iova_range.sizeof_));
  cmd.Set64(f.allowed_iovas, bytes.length == 0 ? 0 : CheckedUptr(env, bytes, 0, bytes.length));
  CmdIoctl(env, ArgFd(args, 0), L.ioctl.ioas_allow_iovas, cmd, "IOMMU_IOAS_ALLOW_IOVAS");
  return env.Undefined();
}

// (fd, optionId, op, objectId, val64) -> val64 (the value read back on GET)
Napi::Value Option(const Args& args) {
  const auto& L = Uapi();
  const auto& f = L.iommu_option;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.option_id, ArgU32(args, 1, "optionId"));
  uint32_t op = ArgU32(args, 2, "op");
  if (op > 0xffff) throw Napi::RangeError::New(args.Env(), "op must be a u16");
  cmd.Set16(f.op, static_cast<uint16_t>(op));
  cmd.Set32(f.object_id, ArgU32(args, 3, "objectId"));
  cmd.Set64(f.val64, ArgU64(args, 4, "val64"));
  CmdIoctl(args.Env(), ArgFd(args, 0), L.ioctl.option, cmd, "IOMMU_OPTION");
  return Napi::BigInt::New(args.Env(), cmd.Get64(f.val64));
}

// (fd, op, ioasId) -> ioas id (GET fills it in)
Napi::Value VfioIoas(const Args& args) {
  const auto& L = Uapi();
  const auto& f = L.iommu_vfio_ioas;
  Cmd cmd(f.sizeof_);
  uint32_t op = ArgU32(args, 1, "op");
  if (op > 0xffff) throw Napi::RangeError::New(args.Env(), "op must be a u16");
  cmd.Set16(f.op, static_cast<uint16_t>(op));
  cmd.Set32(f.ioas_id, ArgU32(args, 2, "ioasId"));
  CmdIoctl(args.Env(), ArgFd(args, 0), L.ioctl.vfio_ioas, cmd, "IOMMU_VFIO_IOAS");
  return Napi::Number::New(args.Env(), cmd.Get32(f.ioas_id));
}

// (fd, nr) -> errno of iommufd ioctl `nr` called with size 0, 0 on success.
// Only for the capability probe: main.c answers ENOTTY for an ioctl it does not
// know and EINVAL for a size below the struct's minimum.
Napi::Value ProbeIoctl(const Args& args) {
  uint32_t nr = ArgU32(args, 1, "nr");
  if (nr > 0xff) throw Napi::RangeError::New(args.Env(), "nr must be a u8");
  alignas(8) uint8_t zeroes[64] = {};
  return Napi::Number::New(args.Env(), IoctlErrno(ArgFd(args, 0), IommufdRequest(nr), zeroes));
}

}  // namespace

const std::vector<OpEntry> kIoasOps = {
    {"probeIoctl", ProbeIoctl},
    {"destroy", Destroy},
    {"ioasAlloc", IoasAlloc},
    {"ioasMap", IoasMap},
    {"ioasMapFile", IoasMapFile},
    {"ioasChangeProcess", IoasChangeProcess},
    {"ioasNoiommuGetPa", IoasNoiommuGetPa},
    {"ioasUnmap", IoasUnmap},
    {"ioasCopy", IoasCopy},
    {"ioasIovaRanges", IoasIovaRanges},
    {"ioasAllowIovas", IoasAllowIovas},
    {"option", Option},
    {"vfioIoas", VfioIoas},
};

}  // namespace iommufd_addon
