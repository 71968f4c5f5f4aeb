// Hardware page tables, hardware info, dirty tracking, invalidation and fault
// queues: HWPT_ALLOC, GET_HW_INFO, HWPT_SET_DIRTY_TRACKING,
// HWPT_GET_DIRTY_BITMAP, HWPT_INVALIDATE, FAULT_QUEUE_ALLOC, and read()/write()
// on a fault fd.
#include <cerrno>
#include <string>
#include <unistd.h>
#include <vector>

#include "addon.h"
#include "uapi.h"

namespace iommufd_addon {
namespace uapi = iommufd_uapi;
namespace {

constexpr uint32_t kMaxFaultsPerRead = 65536;

// (fd, flags, devId, ptId, dataType, data | null, faultId[, nullDataLen]) -> hwpt id
// nullDataLen (bad-input tests): with data null, data_uptr NULL and this data_len.
Napi::Value HwptAlloc(const Args& args) {
  Napi::Env env = args.Env();
  uapi::HwptAlloc cmd = {};
  cmd.size = sizeof(cmd);
  cmd.flags = ArgU32(args, 1, "flags");
  cmd.dev_id = ArgU32(args, 2, "devId");
  cmd.pt_id = ArgU32(args, 3, "ptId");
  cmd.data_type = ArgU32(args, 4, "dataType");
  if (!args[5].IsNull() && !args[5].IsUndefined()) {
    JsBytes data = ArgBytes(args, 5);
    if (data.length > UINT32_MAX) throw Napi::RangeError::New(env, "data is too large");
    cmd.data_len = static_cast<uint32_t>(data.length);
    cmd.data_uptr = data.length == 0 ? 0 : CheckedUptr(env, data, 0, data.length);
  } else if (!args[7].IsUndefined()) {
    cmd.data_len = ArgU32(args, 7, "nullDataLen");
  }
  cmd.fault_id = ArgU32(args, 6, "faultId");
  Ioctl(env, ArgFd(args, 0), uapi::kIommuHwptAlloc, &cmd, "IOMMU_HWPT_ALLOC");
  return Napi::Number::New(env, cmd.out_hwpt_id);
}

// (fd, devId, data: memory the driver data is written to, may be empty[, flags,
//  inDataType]) -> { dataType, dataLen, maxPasidLog2, capabilities }
// inDataType (kernels newer than 6.12) shares its slot with out_data_type.
Napi::Value GetHwInfo(const Args& args) {
  Napi::Env env = args.Env();
  uapi::HwInfo cmd = {};
  cmd.size = sizeof(cmd);
  cmd.dev_id = ArgU32(args, 1, "devId");
  JsBytes data = ArgBytes(args, 2);
  if (data.length > UINT32_MAX) throw Napi::RangeError::New(env, "data is too large");
  cmd.data_len = static_cast<uint32_t>(data.length);
  cmd.data_uptr = data.length == 0 ? 0 : CheckedUptr(env, data, 0, data.length);
  if (!args[3].IsUndefined()) cmd.flags = ArgU32(args, 3, "flags");
  if (!args[4].IsUndefined()) cmd.out_data_type = ArgU32(args, 4, "inDataType");
  Ioctl(env, ArgFd(args, 0), uapi::kIommuGetHwInfo, &cmd, "IOMMU_GET_HW_INFO");
  Napi::Object out = NewObject(env);
  out.Set("dataType", Napi::Number::New(env, cmd.out_data_type));
  out.Set("dataLen", Napi::Number::New(env, cmd.data_len));
  out.Set("maxPasidLog2", Napi::Number::New(env, cmd.out_max_pasid_log2));
  out.Set("capabilities", Napi::BigInt::New(env, static_cast<uint64_t>(cmd.out_capabilities)));
  return out;
}

// (fd, hwptId, flags)
Napi::Value HwptSetDirtyTracking(const Args& args) {
  uapi::HwptSetDirtyTracking cmd = {};
  cmd.size = sizeof(cmd);
  cmd.hwpt_id = ArgU32(args, 1, "hwptId");
  cmd.flags = ArgU32(args, 2, "flags");
  Ioctl(args.Env(), ArgFd(args, 0), uapi::kIommuHwptSetDirtyTracking, &cmd,
        "IOMMU_HWPT_SET_DIRTY_TRACKING");
  return args.Env().Undefined();
}

// (fd, hwptId, flags, iova, length, pageSize, bitmap: a typed array)
Napi::Value HwptGetDirtyBitmap(const Args& args) {
  Napi::Env env = args.Env();
  uapi::HwptGetDirtyBitmap cmd = {};
  cmd.size = sizeof(cmd);
  cmd.hwpt_id = ArgU32(args, 1, "hwptId");
  cmd.flags = ArgU32(args, 2, "flags");
  cmd.iova = ArgU64(args, 3, "iova");
  cmd.length = ArgU64(args, 4, "length");
  cmd.page_size = ArgU64(args, 5, "pageSize");
  // Any typed array: the kernel's iova_bitmap takes a bitmap at any user address.
  if (!args[6].IsTypedArray())
    throw Napi::TypeError::New(env, "bitmap must be a typed array (BigUint64Array or Uint8Array)");
  // The kernel writes one bit per page, in whole u64 words (iova_bitmap.c).
  uint64_t bits = cmd.page_size == 0 ? 0 : cmd.length / cmd.page_size + (cmd.length % cmd.page_size != 0);
  uint64_t bytes = (bits / 64 + (bits % 64 != 0)) * 8;
  JsBytes bitmap = ArgBytes(args, 6);
  if (bytes > bitmap.length)
    throw Napi::RangeError::New(env, "bitmap holds " + std::to_string(bitmap.length * 8) +
                                         " bits; the range needs " + std::to_string(bits));
  cmd.data = CheckedUptr(env, bitmap, 0, static_cast<size_t>(bytes));
  Ioctl(env, ArgFd(args, 0), uapi::kIommuHwptGetDirtyBitmap, &cmd, "IOMMU_HWPT_GET_DIRTY_BITMAP");
  return env.Undefined();
}

// (fd, hwptId, dataType, entryLen, entries: memory | null, entryNum) -> entries handled.
// entries null (bad-input tests): data_uptr NULL.
// On failure the error carries `handled`: the kernel reports progress either way.
Napi::Value HwptInvalidate(const Args& args) {
  Napi::Env env = args.Env();
  uapi::HwptInvalidate cmd = {};
  cmd.size = sizeof(cmd);
  cmd.hwpt_id = ArgU32(args, 1, "hwptId");
  cmd.data_type = ArgU32(args, 2, "dataType");
  cmd.entry_len = ArgU32(args, 3, "entryLen");
  bool null_entries = args[4].IsNull();
  JsBytes entries = null_entries ? JsBytes{} : ArgBytes(args, 4);
  cmd.entry_num = ArgU32(args, 5, "entryNum");
  uint64_t total = static_cast<uint64_t>(cmd.entry_len) * cmd.entry_num;
  if (!null_entries && total > entries.length)
    throw Napi::RangeError::New(env, std::to_string(cmd.entry_num) + " entries of " +
                                         std::to_string(cmd.entry_len) + " bytes exceed the " +
                                         std::to_string(entries.length) + "-byte array");
  // The array's address whenever there is one (the kernel reads at most total bytes).
  cmd.data_uptr = entries.length == 0 ? 0 : CheckedUptr(env, entries, 0, entries.length);
  int err = IoctlErrno(ArgFd(args, 0), uapi::kIommuHwptInvalidate, &cmd);
  if (err != 0) {
    Napi::Error error = ErrnoError(env, err, "IOMMU_HWPT_INVALIDATE");
    error.Set("handled", Napi::Number::New(env, cmd.entry_num));
    throw error;
  }
  return Napi::Number::New(env, cmd.entry_num);
}

// (fd) -> { faultId, faultFd }
Napi::Value FaultQueueAlloc(const Args& args) {
  Napi::Env env = args.Env();
  uapi::FaultAlloc cmd = {};
  cmd.size = sizeof(cmd);
  Ioctl(env, ArgFd(args, 0), uapi::kIommuFaultQueueAlloc, &cmd, "IOMMU_FAULT_QUEUE_ALLOC");
  Napi::Object out = NewObject(env);
  out.Set("faultId", Napi::Number::New(env, cmd.out_fault_id));
  out.Set("faultFd", Napi::Number::New(env, cmd.out_fault_fd));
  return out;
}

// (faultFd, maxFaults) -> [{ flags, devId, pasid, grpid, perm, addr, length, cookie }]
// read() never blocks: with nothing queued it returns 0 and so do we ([]).
Napi::Value FaultRead(const Args& args) {
  Napi::Env env = args.Env();
  int fd = ArgFd(args, 0);
  uint32_t max = ArgU32(args, 1, "maxFaults");
  // The buffer is max entries: bound it (lib/fault-queue.ts has the same limit).
  if (max > kMaxFaultsPerRead)
    throw Napi::RangeError::New(env, "maxFaults must be at most " + std::to_string(kMaxFaultsPerRead));
  std::vector<uapi::HwptPgfault> faults(max == 0 ? 1 : max);
  ssize_t n = RetryOnEintr([&] { return read(fd, faults.data(), faults.size() * sizeof(uapi::HwptPgfault)); });
  if (n < 0) ThrowErrno(env, errno, "read(fault fd)");
  auto out = Napi::Array::New(env);
  for (size_t i = 0; i < static_cast<size_t>(n) / sizeof(uapi::HwptPgfault); i++) {
    const auto& f = faults[i];
    Napi::Object o = NewObject(env);
    o.Set("flags", Napi::Number::New(env, f.flags));
    o.Set("devId", Napi::Number::New(env, f.dev_id));
    o.Set("pasid", Napi::Number::New(env, f.pasid));
    o.Set("grpid", Napi::Number::New(env, f.grpid));
    o.Set("perm", Napi::Number::New(env, f.perm));
    o.Set("addr", Napi::BigInt::New(env, static_cast<uint64_t>(f.addr)));
    o.Set("length", Napi::Number::New(env, f.length));
    o.Set("cookie", Napi::Number::New(env, f.cookie));
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

// (faultFd, cookies: number[], codes: number[]) -> responses written
Napi::Value FaultRespond(const Args& args) {
  Napi::Env env = args.Env();
  int fd = ArgFd(args, 0);
  if (!args[1].IsArray() || !args[2].IsArray())
    throw Napi::TypeError::New(env, "faultRespond(fd, cookies[], codes[])");
  auto cookies = args[1].As<Napi::Array>();
  auto codes = args[2].As<Napi::Array>();
  if (cookies.Length() != codes.Length()) throw Napi::RangeError::New(env, "one code per cookie");
  std::vector<uapi::HwptPageResponse> responses;
  for (uint32_t i = 0; i < cookies.Length(); i++) {
    Napi::Value c = cookies.Get(i), k = codes.Get(i);
    if (!c.IsNumber() || !k.IsNumber()) throw Napi::TypeError::New(env, "cookies and codes are numbers");
    responses.push_back({c.As<Napi::Number>().Uint32Value(), k.As<Napi::Number>().Uint32Value()});
  }
  ssize_t n = RetryOnEintr([&] { return write(fd, responses.data(), responses.size() * sizeof(uapi::HwptPageResponse)); });
  if (n < 0) ThrowErrno(env, errno, "write(fault fd)");
  return Napi::Number::New(env, static_cast<double>(n / sizeof(uapi::HwptPageResponse)));
}

}  // namespace

const std::vector<OpEntry> kHwptOps = {
    {"hwptAlloc", HwptAlloc},
    {"getHwInfo", GetHwInfo},
    {"hwptSetDirtyTracking", HwptSetDirtyTracking},
    {"hwptGetDirtyBitmap", HwptGetDirtyBitmap},
    {"hwptInvalidate", HwptInvalidate},
    {"faultQueueAlloc", FaultQueueAlloc},
    {"faultRead", FaultRead},
    {"faultRespond", FaultRespond},
};

}  // namespace iommufd_addon
