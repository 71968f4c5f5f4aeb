// Hardware page tables, hardware info, dirty tracking, invalidation and fault
// queues: HWPT_ALLOC, GET_HW_INFO, HWPT_SET_DIRTY_TRACKING,
// HWPT_GET_DIRTY_BITMAP, HWPT_INVALIDATE, FAULT_QUEUE_ALLOC, and read()/write()
// on a fault fd.
#include <cerrno>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

#include "addon.h"
#include "cmd.h"

namespace iommufd_addon {
namespace {

constexpr uint32_t kMaxFaultsPerRead = 65536;

// (fd, flags, devId, ptId, dataType, data | null, faultId[, nullDataLen]) -> hwpt id
// nullDataLen (bad-input tests): with data null, data_uptr NULL and this data_len.
Napi::Value HwptAlloc(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  const auto& f = L.iommu_hwpt_alloc;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.flags, ArgU32(args, 1, "flags"));
  cmd.Set32(f.dev_id, ArgU32(args, 2, "devId"));
  cmd.Set32(f.pt_id, ArgU32(args, 3, "ptId"));
  cmd.Set32(f.data_type, ArgU32(args, 4, "dataType"));
  if (!args[5].IsNull() && !args[5].IsUndefined()) {
    JsBytes data = ArgBytes(args, 5);
    if (data.length > UINT32_MAX) throw Napi::RangeError::New(env, "data is too large");
    cmd.Set32(f.data_len, static_cast<uint32_t>(data.length));
    cmd.Set64(f.data_uptr, data.length == 0 ? 0 : CheckedUptr(env, data, 0, data.length));
  } else if (!args[7].IsUndefined()) {
    cmd.Set32(f.data_len, ArgU32(args, 7, "nullDataLen"));
  }
  cmd.Set32(f.fault_id, ArgU32(args, 6, "faultId"));
  CmdIoctl(env, ArgFd(args, 0), L.ioctl.hwpt_alloc, cmd, "IOMMU_HWPT_ALLOC");
  return Napi::Number::New(env, cmd.Get32(f.out_hwpt_id));
}

// (fd, devId, data: memory the driver data is written to, may be empty[, flags,
//  inDataType]) -> { dataType, dataLen, maxPasidLog2, capabilities }
// inDataType (kernels newer than 6.12) shares its slot with out_data_type.
Napi::Value GetHwInfo(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  const auto& f = L.iommu_hw_info;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.dev_id, ArgU32(args, 1, "devId"));
  JsBytes data = ArgBytes(args, 2);
  if (data.length > UINT32_MAX) throw Napi::RangeError::New(env, "data is too large");
  cmd.Set32(f.data_len, static_cast<uint32_t>(data.length));
  cmd.Set64(f.data_uptr, data.length == 0 ? 0 : CheckedUptr(env, data, 0, data.length));
  if (!args[3].IsUndefined()) cmd.Set32(f.flags, ArgU32(args, 3, "flags"));
  // 6.12 has no in_data_type: the bad-input tests send it there anyway (EOPNOTSUPP).
  if (!args[4].IsUndefined()) cmd.Set32(f.out_data_type, ArgU32(args, 4, "inDataType"));
  CmdIoctl(env, ArgFd(args, 0), L.ioctl.get_hw_info, cmd, "IOMMU_GET_HW_INFO");
  Napi::Object out = NewObject(env);
  out.Set("dataType", Napi::Number::New(env, cmd.Get32(f.out_data_type)));
  out.Set("dataLen", Napi::Number::New(env, cmd.Get32(f.data_len)));
  out.Set("maxPasidLog2", Napi::Number::New(env, cmd.Get8(f.out_max_pasid_log2)));
  out.Set("capabilities", Napi::BigInt::New(env, cmd.Get64(f.out_capabilities)));
  return out;
}

// (fd, hwptId, flags)
Napi::Value HwptSetDirtyTracking(const Args& args) {
  const auto& L = Uapi();
  const auto& f = L.iommu_hwpt_set_dirty_tracking;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.hwpt_id, ArgU32(args, 1, "hwptId"));
  cmd.Set32(f.flags, ArgU32(args, 2, "flags"));
  CmdIoctl(args.Env(), ArgFd(args, 0), L.ioctl.hwpt_set_dirty_tracking, cmd, "IOMMU_HWPT_SET_DIRTY_TRACKING");
  return args.Env().Undefined();
}

// (fd, hwptId, flags, iova, length, pageSize, bitmap: a typed array)
Napi::Value HwptGetDirtyBitmap(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  const auto& f = L.iommu_hwpt_get_dirty_bitmap;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.hwpt_id, ArgU32(args, 1, "hwptId"));
  cmd.Set32(f.flags, ArgU32(args, 2, "flags"));
  cmd.Set64(f.iova, ArgU64(args, 3, "iova"));
  uint64_t length = ArgU64(args, 4, "length");
  uint64_t page_size = ArgU64(args, 5, "pageSize");
  cmd.Set64(f.length, length);
  cmd.Set64(f.page_size, page_size);
  // Any typed array: the kernel's iova_bitmap takes a bitmap at any user address.
  if (!args[6].IsTypedArray())
    throw Napi::TypeError::New(env, "bitmap must be a typed array (BigUint64Array or Uint8Array)");
  // The kernel writes one bit per page, in whole u64 words (iova_bitmap.c).
  uint64_t bits = page_size == 0 ? 0 : length / page_size + (length % page_size != 0);
  uint64_t bytes = (bits / 64 + (bits % 64 != 0)) * 8;
  JsBytes bitmap = ArgBytes(args, 6);
  if (bytes > bitmap.length)
    throw Napi::RangeError::New(env, "bitmap holds " + std::to_string(bitmap.length * 8) +
                                         " bits; the range needs " + std::to_string(bits));
  cmd.Set64(f.data, CheckedUptr(env, bitmap, 0, static_cast<size_t>(bytes)));
  CmdIoctl(env, ArgFd(args, 0), L.ioctl.hwpt_get_dirty_bitmap, cmd, "IOMMU_HWPT_GET_DIRTY_BITMAP");
  return env.Undefined();
}

// (fd, hwptId, dataType, entryLen, entries: memory | null, entryNum) -> entries handled.
// entries null (bad-input tests): data_uptr NULL.
// On failure the error carries `handled`: the kernel reports progress either way.
Napi::Value HwptInvalidate(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  const auto& f = L.iommu_hwpt_invalidate;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.hwpt_id, ArgU32(args, 1, "hwptId"));
  cmd.Set32(f.data_type, ArgU32(args, 2, "dataType"));
  uint32_t entry_len = ArgU32(args, 3, "entryLen");
  cmd.Set32(f.entry_len, entry_len);
  bool null_entries = args[4].IsNull();
  JsBytes entries = null_entries ? JsBytes{} : ArgBytes(args, 4);
  uint32_t entry_num = ArgU32(args, 5, "entryNum");
  cmd.Set32(f.entry_num, entry_num);
  uint64_t total = static_cast<uint64_t>(entry_len) * entry_num;
  if (!null_entries && total > entries.length)
    throw Napi::RangeError::New(env, std::to_string(entry_num) + " entries of " +
                                         std::to_string(entry_len) + " bytes exceed the " +
                                         std::to_string(entries.length) + "-byte array");
  // The array's address whenever there is one (the kernel reads at most total bytes).
  cmd.Set64(f.data_uptr, entries.length == 0 ? 0 : CheckedUptr(env, entries, 0, entries.length));
  int err = IoctlErrno(ArgFd(args, 0), IommufdRequest(L.ioctl.hwpt_invalidate.nr), cmd.data());
  if (err != 0) {
    Napi::Error error = ErrnoError(env, err, "IOMMU_HWPT_INVALIDATE");
    error.Set("handled", Napi::Number::New(env, cmd.Get32(f.entry_num)));
    throw error;
  }
  return Napi::Number::New(env, cmd.Get32(f.entry_num));
}

// (fd) -> { faultId, faultFd }
Napi::Value FaultQueueAlloc(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  const auto& f = L.iommu_fault_alloc;
  Cmd cmd(f.sizeof_);
  CmdIoctl(env, ArgFd(args, 0), L.ioctl.fault_queue_alloc, cmd, "IOMMU_FAULT_QUEUE_ALLOC");
  Napi::Object out = NewObject(env);
  out.Set("faultId", Napi::Number::New(env, cmd.Get32(f.out_fault_id)));
  out.Set("faultFd", Napi::Number::New(env, cmd.Get32(f.out_fault_fd)));
  return out;
}

template <typename T>
T LoadAt(const uint8_t* base, uint32_t at) {
  T v;
  std::memcpy(&v, base + at, sizeof(T));
  return v;
}

// (faultFd, maxFaults) -> [{ flags, devId, pasid, grpid, perm, addr, length, cookie }]
// read() never blocks: with nothing queued it returns 0 and so do we ([]).
Napi::Value FaultRead(const Args& args) {
  Napi::Env env = args.Env();
  const auto& f = Uapi().iommu_hwpt_pgfault;
  int fd = ArgFd(args, 0);
  uint32_t max = ArgU32(args, 1, "maxFaults");
  // The buffer is max entries: bound it (lib/api/fault-queue.ts has the same limit).
  if (max > kMaxFaultsPerRead)
    throw Napi::RangeError::New(env, "maxFaults must be at most " + std::to_string(kMaxFaultsPerRead));
  size_t each = f.sizeof_;
  std::vector<uint64_t> storage(((max == 0 ? 1 : max) * each + 7) / 8);
  const uint8_t* base = reinterpret_cast<const uint8_t*>(storage.data());
  ssize_t n = RetryOnEintr([&] { return read(fd, storage.data(), (max == 0 ? 1 : max) * each); });
  if (n < 0) ThrowErrno(env, errno, "read(fault fd)");
  auto out = Napi::Array::New(env);
  for (size_t i = 0; i < static_cast<size_t>(n) / each; i++) {
    const uint8_t* e = base + i * each;
    Napi::Object o = NewObject(env);
    o.Set("flags", Napi::Number::New(env, LoadAt<uint32_t>(e, f.flags)));
    o.Set("devId", Napi::Number::New(env, LoadAt<uint32_t>(e, f.dev_id)));
    o.Set("pasid", Napi::Number::New(env, LoadAt<uint32_t>(e, f.pasid)));
    o.Set("grpid", Napi::Number::New(env, LoadAt<uint32_t>(e, f.grpid)));
    o.Set("perm", Napi::Number::New(env, LoadAt<uint32_t>(e, f.perm)));
    o.Set("addr", Napi::BigInt::New(env, LoadAt<uint64_t>(e, f.addr)));
    o.Set("length", Napi::Number::New(env, LoadAt<uint32_t>(e, f.length)));
    o.Set("cookie", Napi::Number::New(env, LoadAt<uint32_t>(e, f.cookie)));
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

// (faultFd, cookies: number[], codes: number[]) -> responses written
Napi::Value FaultRespond(const Args& args) {
  Napi::Env env = args.Env();
  const auto& f = Uapi().iommu_hwpt_page_response;
  int fd = ArgFd(args, 0);
  if (!args[1].IsArray() || !args[2].IsArray())
    throw Napi::TypeError::New(env, "faultRespond(fd, cookies[], codes[])");
  auto cookies = args[1].As<Napi::Array>();
  auto codes = args[2].As<Napi::Array>();
  if (cookies.Length() != codes.Length()) throw Napi::RangeError::New(env, "one code per cookie");
  std::vector<uint8_t> responses(static_cast<size_t>(cookies.Length()) * f.sizeof_);
  for (uint32_t i = 0; i < cookies.Length(); i++) {
    Napi::Value c = cookies.Get(i), k = codes.Get(i);
    if (!c.IsNumber() || !k.IsNumber()) throw Napi::TypeError::New(env, "cookies and codes are numbers");
    uint32_t cookie = c.As<Napi::Number>().Uint32Value(), code = k.As<Napi::Number>().Uint32Value();
    std::memcpy(responses.data() + i * f.sizeof_ + f.cookie, &cookie, 4);
    std::memcpy(responses.data() + i * f.sizeof_ + f.code, &code, 4);
  }
  ssize_t n = RetryOnEintr([&] { return write(fd, responses.data(), responses.size()); });
  if (n < 0) ThrowErrno(env, errno, "write(fault fd)");
  return Napi::Number::New(env, static_cast<double>(static_cast<size_t>(n) / f.sizeof_));
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
