// The iommufd addon: one thin function per ioctl or test op. Each unpacks its
// JS arguments, fills the kernel struct, issues the ioctl and packs the result
// or throws the IommufdError built by the JS factory. Argument policy lives in
// lib/; this file only guarantees that every user pointer handed to the kernel
// lies inside the JS memory it came from.
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <sys/ioctl.h>
#include <unistd.h>
#include <vector>

#include "addon.h"
#include "uapi.h"

namespace iommufd_addon {
namespace uapi = iommufd_uapi;

// ---- errors ---------------------------------------------------------------

struct InstanceData {
  Napi::FunctionReference error_factory;
};

[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* op) {
  auto* data = env.GetInstanceData<InstanceData>();
  if (data != nullptr && !data->error_factory.IsEmpty()) {
    Napi::Value error = data->error_factory.Call(
        {Napi::Number::New(env, err), Napi::String::New(env, op)});
    throw Napi::Error(env, error);
  }
  throw Napi::Error::New(env, std::string(op) + ": " + strerror(err));
}

static Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setErrorFactory(fn)");
  auto* data = info.Env().GetInstanceData<InstanceData>();
  data->error_factory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// ---- argument unpacking ---------------------------------------------------

uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d)))
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be a u32");
  return static_cast<uint32_t>(d);
}

int ArgFd(const Napi::CallbackInfo& info, size_t i) {
  uint32_t fd = ArgU32(info, i, "fd");
  if (fd > static_cast<uint32_t>(std::numeric_limits<int>::max()))
    throw Napi::RangeError::New(info.Env(), "fd out of range");
  return static_cast<int>(fd);
}

uint64_t ArgU64(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = info[i];
  if (!v.IsBigInt()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a bigint");
  bool lossless = false;
  uint64_t value = v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) throw Napi::RangeError::New(info.Env(), std::string(name) + " must be a u64");
  return value;
}

size_t ArgSize(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<uint64_t>(d)))
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be a safe non-negative integer");
  return static_cast<size_t>(d);
}

// The bytes of an ArrayBuffer, TypedArray, DataView or Buffer.
struct JsBytes {
  uint8_t* data;
  size_t length;
};

JsBytes ArgBytes(const Napi::CallbackInfo& info, size_t i) {
  Napi::Value v = info[i];
  if (v.IsArrayBuffer()) {
    auto ab = v.As<Napi::ArrayBuffer>();
    return {static_cast<uint8_t*>(ab.Data()), ab.ByteLength()};
  }
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    auto* base = static_cast<uint8_t*>(ta.ArrayBuffer().Data());
    return {base == nullptr ? nullptr : base + ta.ByteOffset(), ta.ByteLength()};
  }
  if (v.IsDataView()) {
    auto dv = v.As<Napi::DataView>();
    auto* base = static_cast<uint8_t*>(dv.ArrayBuffer().Data());
    return {base == nullptr ? nullptr : base + dv.ByteOffset(), dv.ByteLength()};
  }
  throw Napi::TypeError::New(info.Env(), "memory must be an ArrayBuffer, TypedArray, DataView or Buffer");
}

// The user address of [offset, offset + length) in `bytes`, after checking that
// everything the kernel will touch, [offset - before, offset + length + after),
// lies inside it. A detached or freed buffer has no bytes and always fails.
uint64_t CheckedUptr(Napi::Env env, const JsBytes& bytes, size_t offset, size_t length,
                     size_t before = 0, size_t after = 0) {
  bool inside = bytes.data != nullptr && before <= offset && offset <= bytes.length &&
                length <= bytes.length - offset && after <= bytes.length - offset - length;
  if (!inside)
    throw Napi::RangeError::New(
        env, "range [" + std::to_string(offset) + ", +" + std::to_string(length) +
                 ") is outside the " + std::to_string(bytes.length) + "-byte memory it refers to");
  return reinterpret_cast<uintptr_t>(bytes.data + offset);
}

// ---- ioctl ----------------------------------------------------------------

void Ioctl(Napi::Env env, int fd, unsigned long request, void* arg, const char* op) {
  int rc;
  do {
    rc = ioctl(fd, request, arg);
  } while (rc == -1 && errno == EINTR);
  if (rc == -1) ThrowErrno(env, errno, op);
}

static uapi::TestCmd NewTestCmd(uint32_t op, uint32_t id) {
  uapi::TestCmd cmd;
  memset(&cmd, 0, sizeof(cmd));
  cmd.size = sizeof(cmd);
  cmd.op = op;
  cmd.id = id;
  return cmd;
}

// ---- file descriptors -----------------------------------------------------

static Napi::Value Open(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) throw Napi::TypeError::New(info.Env(), "path must be a string");
  std::string path = info[0].As<Napi::String>();
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) ThrowErrno(info.Env(), errno, "open");
  return Napi::Number::New(info.Env(), fd);
}

static Napi::Value Close(const Napi::CallbackInfo& info) {
  // close() releases the descriptor even when it reports an error, so never retry.
  if (close(ArgFd(info, 0)) != 0) ThrowErrno(info.Env(), errno, "close");
  return info.Env().Undefined();
}

// ---- core iommufd ioctls ----------------------------------------------------

static Napi::Value Destroy(const Napi::CallbackInfo& info) {
  uapi::Destroy cmd = {sizeof(cmd), ArgU32(info, 1, "id")};
  Ioctl(info.Env(), ArgFd(info, 0), uapi::kIommuDestroy, &cmd, "IOMMU_DESTROY");
  return info.Env().Undefined();
}

static Napi::Value IoasAlloc(const Napi::CallbackInfo& info) {
  uapi::IoasAlloc cmd = {sizeof(cmd), 0, 0};
  Ioctl(info.Env(), ArgFd(info, 0), uapi::kIommuIoasAlloc, &cmd, "IOMMU_IOAS_ALLOC");
  return Napi::Number::New(info.Env(), cmd.out_ioas_id);
}

// (fd, ioasId, flags, memory, offset, length, iova) -> iova
static Napi::Value IoasMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uapi::IoasMap cmd = {};
  cmd.size = sizeof(cmd);
  cmd.ioas_id = ArgU32(info, 1, "ioasId");
  cmd.flags = ArgU32(info, 2, "flags");
  JsBytes bytes = ArgBytes(info, 3);
  size_t length = ArgSize(info, 5, "length");
  cmd.user_va = CheckedUptr(env, bytes, ArgSize(info, 4, "offset"), length);
  cmd.length = length;
  cmd.iova = ArgU64(info, 6, "iova");
  Ioctl(env, ArgFd(info, 0), uapi::kIommuIoasMap, &cmd, "IOMMU_IOAS_MAP");
  return Napi::BigInt::New(env, static_cast<uint64_t>(cmd.iova));
}

// (fd, ioasId, iova, length) -> unmapped length
static Napi::Value IoasUnmap(const Napi::CallbackInfo& info) {
  uapi::IoasUnmap cmd = {};
  cmd.size = sizeof(cmd);
  cmd.ioas_id = ArgU32(info, 1, "ioasId");
  cmd.iova = ArgU64(info, 2, "iova");
  cmd.length = ArgU64(info, 3, "length");
  Ioctl(info.Env(), ArgFd(info, 0), uapi::kIommuIoasUnmap, &cmd, "IOMMU_IOAS_UNMAP");
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(cmd.length));
}

// (fd, ioasId) -> { ranges: BigUint64Array [start0, last0, ...], alignment }
static Napi::Value IoasIovaRanges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  std::vector<uapi::IovaRange> ranges;
  uapi::IoasIovaRanges cmd = {};
  // EMSGSIZE means the array was too small; the kernel has written the count it
  // needs into num_iovas. The count can change between calls, so loop.
  for (;;) {
    cmd.size = sizeof(cmd);
    cmd.ioas_id = ArgU32(info, 1, "ioasId");
    cmd.num_iovas = static_cast<uint32_t>(ranges.size());
    cmd.allowed_iovas = reinterpret_cast<uintptr_t>(ranges.data());
    int rc = ioctl(fd, uapi::kIommuIoasIovaRanges, &cmd);
    if (rc == 0) break;
    if (errno == EMSGSIZE && cmd.num_iovas > ranges.size()) {
      ranges.resize(cmd.num_iovas);
      continue;
    }
    if (errno == EINTR) continue;
    ThrowErrno(env, errno, "IOMMU_IOAS_IOVA_RANGES");
  }
  auto out = Napi::BigUint64Array::New(env, 2 * static_cast<size_t>(cmd.num_iovas));
  for (uint32_t i = 0; i < cmd.num_iovas; i++) {
    out[2 * i] = ranges[i].start;
    out[2 * i + 1] = ranges[i].last;
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("ranges", out);
  result.Set("alignment", Napi::BigInt::New(env, static_cast<uint64_t>(cmd.out_iova_alignment)));
  return result;
}

// ---- IOMMU_TEST_CMD ops -----------------------------------------------------

// (fd, ioasId) -> { stdevId, hwptId, idevId }
static Napi::Value TestMockDomain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto cmd = NewTestCmd(uapi::kTestOpMockDomain, ArgU32(info, 1, "ioasId"));
  Ioctl(env, ArgFd(info, 0), uapi::kIommuTestCmd, &cmd, "IOMMU_TEST_OP_MOCK_DOMAIN");
  Napi::Object result = Napi::Object::New(env);
  result.Set("stdevId", cmd.mock_domain.out_stdev_id);
  result.Set("hwptId", cmd.mock_domain.out_hwpt_id);
  result.Set("idevId", cmd.mock_domain.out_idev_id);
  return result;
}

// (fd, hwptId, iova, memory, offset, length)
static Napi::Value TestMdCheckMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto cmd = NewTestCmd(uapi::kTestOpMdCheckMap, ArgU32(info, 1, "hwptId"));
  cmd.check_map.iova = ArgU64(info, 2, "iova");
  JsBytes bytes = ArgBytes(info, 3);
  size_t length = ArgSize(info, 5, "length");
  cmd.check_map.uptr = CheckedUptr(env, bytes, ArgSize(info, 4, "offset"), length);
  cmd.check_map.length = length;
  Ioctl(env, ArgFd(info, 0), uapi::kIommuTestCmd, &cmd, "IOMMU_TEST_OP_MD_CHECK_MAP");
  return env.Undefined();
}

// (fd, memory, offset, length, refs)
static Napi::Value TestMdCheckRefs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto cmd = NewTestCmd(uapi::kTestOpMdCheckRefs, 0);
  JsBytes bytes = ArgBytes(info, 1);
  size_t length = ArgSize(info, 3, "length");
  cmd.check_refs.uptr = CheckedUptr(env, bytes, ArgSize(info, 2, "offset"), length);
  cmd.check_refs.length = length;
  cmd.check_refs.refs = ArgU32(info, 4, "refs");
  Ioctl(env, ArgFd(info, 0), uapi::kIommuTestCmd, &cmd, "IOMMU_TEST_OP_MD_CHECK_REFS");
  return env.Undefined();
}

// (fd, ioasId, flags) -> access fd
static Napi::Value TestCreateAccess(const Napi::CallbackInfo& info) {
  auto cmd = NewTestCmd(uapi::kTestOpCreateAccess, ArgU32(info, 1, "ioasId"));
  cmd.create_access.flags = ArgU32(info, 2, "flags");
  Ioctl(info.Env(), ArgFd(info, 0), uapi::kIommuTestCmd, &cmd, "IOMMU_TEST_OP_CREATE_ACCESS");
  return Napi::Number::New(info.Env(), cmd.create_access.out_access_fd);
}

// (fd, accessFd, flags, iova, length, memory | null, offset) -> access pages id
static Napi::Value TestAccessPages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto cmd = NewTestCmd(uapi::kTestOpAccessPages, ArgU32(info, 1, "accessFd"));
  cmd.access_pages.flags = ArgU32(info, 2, "flags");
  uint64_t iova = ArgU64(info, 3, "iova");
  size_t length = ArgSize(info, 4, "length");
  cmd.access_pages.iova = iova;
  cmd.access_pages.length = length;
  if (!info[5].IsNull() && !info[5].IsUndefined()) {
    // The mock compares whole pages: from uptr minus the IOVA's offset in its
    // page up to the end of the last page (iommufd_test_access_pages()).
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_t head = iova % page;
    size_t tail = (page - (iova + length) % page) % page;
    cmd.access_pages.uptr =
        CheckedUptr(env, ArgBytes(info, 5), ArgSize(info, 6, "offset"), length, head, tail);
  }
  Ioctl(env, ArgFd(info, 0), uapi::kIommuTestCmd, &cmd, "IOMMU_TEST_OP_ACCESS_PAGES");
  return Napi::Number::New(env, cmd.access_pages.out_access_pages_id);
}

// (fd, accessFd, accessPagesId)
static Napi::Value TestDestroyAccessPages(const Napi::CallbackInfo& info) {
  auto cmd = NewTestCmd(uapi::kTestOpDestroyAccessPages, ArgU32(info, 1, "accessFd"));
  cmd.destroy_access_pages.access_pages_id = ArgU32(info, 2, "accessPagesId");
  Ioctl(info.Env(), ArgFd(info, 0), uapi::kIommuTestCmd, &cmd,
        "IOMMU_TEST_OP_DESTROY_ACCESS_PAGES");
  return info.Env().Undefined();
}

// (fd, accessFd, flags, iova, memory, offset, length)
static Napi::Value TestAccessRw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto cmd = NewTestCmd(uapi::kTestOpAccessRw, ArgU32(info, 1, "accessFd"));
  cmd.access_rw.flags = ArgU32(info, 2, "flags");
  cmd.access_rw.iova = ArgU64(info, 3, "iova");
  JsBytes bytes = ArgBytes(info, 4);
  size_t length = ArgSize(info, 6, "length");
  cmd.access_rw.uptr = CheckedUptr(env, bytes, ArgSize(info, 5, "offset"), length);
  cmd.access_rw.length = length;
  Ioctl(env, ArgFd(info, 0), uapi::kIommuTestCmd, &cmd, "IOMMU_TEST_OP_ACCESS_RW");
  return env.Undefined();
}

// (fd, accessFd, ioasId)
static Napi::Value TestAccessReplaceIoas(const Napi::CallbackInfo& info) {
  auto cmd = NewTestCmd(uapi::kTestOpAccessReplaceIoas, ArgU32(info, 1, "accessFd"));
  cmd.access_replace_ioas.ioas_id = ArgU32(info, 2, "ioasId");
  Ioctl(info.Env(), ArgFd(info, 0), uapi::kIommuTestCmd, &cmd,
        "IOMMU_TEST_OP_ACCESS_REPLACE_IOAS");
  return info.Env().Undefined();
}

// (fd, limitPages)
static Napi::Value TestSetTempMemoryLimit(const Napi::CallbackInfo& info) {
  auto cmd = NewTestCmd(uapi::kTestOpSetTempMemoryLimit, 0);
  cmd.memory_limit.limit = ArgU32(info, 1, "limit");
  Ioctl(info.Env(), ArgFd(info, 0), uapi::kIommuTestCmd, &cmd,
        "IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT");
  return info.Env().Undefined();
}

static Napi::Value PageSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(sysconf(_SC_PAGESIZE)));
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new InstanceData());
  exports.Set("setErrorFactory", Napi::Function::New(env, SetErrorFactory));
  exports.Set("pageSize", Napi::Function::New(env, PageSize));
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("destroy", Napi::Function::New(env, Destroy));
  exports.Set("ioasAlloc", Napi::Function::New(env, IoasAlloc));
  exports.Set("ioasMap", Napi::Function::New(env, IoasMap));
  exports.Set("ioasUnmap", Napi::Function::New(env, IoasUnmap));
  exports.Set("ioasIovaRanges", Napi::Function::New(env, IoasIovaRanges));
  exports.Set("testMockDomain", Napi::Function::New(env, TestMockDomain));
  exports.Set("testMdCheckMap", Napi::Function::New(env, TestMdCheckMap));
  exports.Set("testMdCheckRefs", Napi::Function::New(env, TestMdCheckRefs));
  exports.Set("testCreateAccess", Napi::Function::New(env, TestCreateAccess));
  exports.Set("testAccessPages", Napi::Function::New(env, TestAccessPages));
  exports.Set("testDestroyAccessPages", Napi::Function::New(env, TestDestroyAccessPages));
  exports.Set("testAccessRw", Napi::Function::New(env, TestAccessRw));
  exports.Set("testAccessReplaceIoas", Napi::Function::New(env, TestAccessReplaceIoas));
  exports.Set("testSetTempMemoryLimit", Napi::Function::New(env, TestSetTempMemoryLimit));
  InitDmaBuffer(env, exports);
  return exports;
}

}  // namespace iommufd_addon

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  return iommufd_addon::Init(env, exports);
}

NODE_API_MODULE(iommufd, InitAddon)
