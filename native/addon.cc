// The iommufd addon: one thin function per ioctl or test op. Each unpacks its
// JS arguments, fills the kernel struct, issues the ioctl and packs the result
// or throws the IommufdError built by the JS factory. Argument policy lives in
// lib/; this file only guarantees that every user pointer handed to the kernel
// lies inside the JS memory it came from, and runs batches of ops.
#include "addon.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/capability.h>
#include <limits>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unordered_map>

namespace iommufd_addon {

// ---- errors ---------------------------------------------------------------

struct InstanceData {
  Napi::FunctionReference error_factory;
  std::unordered_map<std::string, OpFn> ops;
};

Napi::Error ErrnoError(Napi::Env env, int err, const char* op) {
  auto* data = env.GetInstanceData<InstanceData>();
  if (data != nullptr && !data->error_factory.IsEmpty()) {
    Napi::Value error = data->error_factory.Call(
        {Napi::Number::New(env, err), Napi::String::New(env, op)});
    return Napi::Error(env, error);
  }
  return Napi::Error::New(env, std::string(op) + ": " + strerror(err));
}

[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* op) { throw ErrnoError(env, err, op); }

static Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setErrorFactory(fn)");
  auto* data = info.Env().GetInstanceData<InstanceData>();
  data->error_factory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// ---- argument unpacking ---------------------------------------------------

// Each reads its argument with one N-API call, which also checks the type (a
// wrong type is a status, not a pending exception): every call is a crossing
// into the engine, and a map or unmap unpacks several arguments.

uint32_t ArgU32(const Args& args, size_t i, const char* name) {
  double d;
  if (napi_get_value_double(args.Env(), args[i], &d) != napi_ok)
    throw Napi::TypeError::New(args.Env(), std::string(name) + " must be a number");
  if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d)))
    throw Napi::RangeError::New(args.Env(), std::string(name) + " must be a u32");
  return static_cast<uint32_t>(d);
}

int ArgFd(const Args& args, size_t i) {
  uint32_t fd = ArgU32(args, i, "fd");
  if (fd > static_cast<uint32_t>(std::numeric_limits<int>::max()))
    throw Napi::RangeError::New(args.Env(), "fd out of range");
  return static_cast<int>(fd);
}

uint64_t ArgU64(const Args& args, size_t i, const char* name) {
  uint64_t value;
  bool lossless = false;
  if (napi_get_value_bigint_uint64(args.Env(), args[i], &value, &lossless) != napi_ok)
    throw Napi::TypeError::New(args.Env(), std::string(name) + " must be a bigint");
  if (!lossless) throw Napi::RangeError::New(args.Env(), std::string(name) + " must be a u64");
  return value;
}

size_t ArgSize(const Args& args, size_t i, const char* name) {
  double d;
  if (napi_get_value_double(args.Env(), args[i], &d) != napi_ok)
    throw Napi::TypeError::New(args.Env(), std::string(name) + " must be a number");
  if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<uint64_t>(d)))
    throw Napi::RangeError::New(args.Env(), std::string(name) + " must be a safe non-negative integer");
  return static_cast<size_t>(d);
}

static size_t ElementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array:
      return 1;
    case napi_int16_array:
    case napi_uint16_array:
      return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    default:  // float64, bigint64, biguint64
      return 8;
  }
}

JsBytes ArgBytes(const Args& args, size_t i) {
  Napi::Value v = args[i];
  // A TypedArray (Buffer, Uint8Array, a DmaBuffer's bytes) in one call: `data`
  // already points at its first byte (null when detached or empty).
  napi_typedarray_type type;
  size_t count;
  void* data;
  if (napi_get_typedarray_info(args.Env(), v, &type, &count, &data, nullptr, nullptr) == napi_ok)
    return {static_cast<uint8_t*>(data), count * ElementSize(type)};
  if (v.IsArrayBuffer()) {
    auto ab = v.As<Napi::ArrayBuffer>();
    return {static_cast<uint8_t*>(ab.Data()), ab.ByteLength()};
  }
  if (v.IsDataView()) {
    auto dv = v.As<Napi::DataView>();
    auto* base = static_cast<uint8_t*>(dv.ArrayBuffer().Data());
    return {base == nullptr ? nullptr : base + dv.ByteOffset(), dv.ByteLength()};
  }
  throw Napi::TypeError::New(args.Env(), "memory must be an ArrayBuffer, TypedArray, DataView or Buffer");
}

uint64_t CheckedUptr(Napi::Env env, const JsBytes& bytes, size_t offset, size_t length,
                     size_t before, size_t after) {
  bool inside = bytes.data != nullptr && before <= offset && offset <= bytes.length &&
                length <= bytes.length - offset && after <= bytes.length - offset - length;
  if (!inside)
    throw Napi::RangeError::New(
        env, "range [" + std::to_string(offset) + ", +" + std::to_string(length) +
                 ") is outside the " + std::to_string(bytes.length) + "-byte memory it refers to");
  return reinterpret_cast<uintptr_t>(bytes.data + offset);
}

int IoctlErrno(int fd, unsigned long request, void* arg) {
  return RetryOnEintr([&] { return ioctl(fd, request, arg); }) == -1 ? errno : 0;
}

void Ioctl(Napi::Env env, int fd, unsigned long request, void* arg, const char* op) {
  int err = IoctlErrno(fd, request, arg);
  if (err != 0) ThrowErrno(env, err, op);
}

Napi::Object NewObject(Napi::Env env) { return Napi::Object::New(env); }

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
  if (close(ArgFd(Args(info), 0)) != 0) ThrowErrno(info.Env(), errno, "close");
  return info.Env().Undefined();
}

// (fd): set FD_CLOEXEC, e.g. on a descriptor inherited from a parent, so that
// children of this process (a transpiler's helper, say) do not keep it open.
static Napi::Value FdSetCloexec(const Napi::CallbackInfo& info) {
  int fd = ArgFd(Args(info), 0);
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0) ThrowErrno(info.Env(), errno, "fcntl(F_SETFD)");
  return info.Env().Undefined();
}

// `cap` on or off in the calling thread's effective set (the JS thread issues
// every ioctl). Raising it again needs it in the permitted set, which clearing
// the effective bit keeps.
static void SetCapEffective(Napi::Env env, int cap, bool enabled) {
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) != 0) ThrowErrno(env, errno, "capget");
  const uint32_t bit = 1u << (cap % 32);
  auto& effective = data[cap / 32].effective;
  effective = enabled ? effective | bit : effective & ~bit;
  if (syscall(SYS_capset, &header, data) != 0) ThrowErrno(env, errno, "capset");
}

// (enabled): CAP_IPC_LOCK. Without it, iopt_alloc_pages() accounts pinned pages
// to the process (VmPin); the selftest's drop_cap_ipc_lock().
static Napi::Value SetCapIpcLockEffective(const Napi::CallbackInfo& info) {
  SetCapEffective(info.Env(), CAP_IPC_LOCK, info[0].ToBoolean());
  return info.Env().Undefined();
}

// (enabled): CAP_SYS_RAWIO, which 7.3's IOMMU_IOAS_NOIOMMU_GET_PA requires (EPERM).
static Napi::Value SetCapSysRawioEffective(const Napi::CallbackInfo& info) {
  SetCapEffective(info.Env(), CAP_SYS_RAWIO, info[0].ToBoolean());
  return info.Env().Undefined();
}

static Napi::Value PageSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(sysconf(_SC_PAGESIZE)));
}

// ---- the op table ---------------------------------------------------------

// () -> undefined: an op that does nothing, called the way every op is (the
// benchmark's floor of one addon call: bench/kernel).
static Napi::Value Noop(const Args& args) { return args.Env().Undefined(); }
static const std::vector<OpEntry> kAddonOps = {{"noop", Noop}};

OpFn FindOp(Napi::Env env, const std::string& name) {
  auto* data = env.GetInstanceData<InstanceData>();
  auto it = data->ops.find(name);
  return it == data->ops.end() ? nullptr : it->second;
}

// ---- module ---------------------------------------------------------------

// Every exported op: a plain N-API callback whose data is its OpEntry. The
// per-call cost of the addon's floor is here, so it reads the arguments with
// one N-API call and allocates nothing (see Args).
static napi_value CallOp(napi_env raw_env, napi_callback_info info) {
  Napi::Env env(raw_env);
  try {
    void* data = nullptr;
    Args args(raw_env, info, &data);
    OpFn fn = static_cast<const OpEntry*>(data)->fn;
    return GuardOutOfMemory(env, [&] { return fn(args); });
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
    return nullptr;
  }
}

static void Register(Napi::Env env, Napi::Object exports, const std::vector<OpEntry>& table) {
  auto* data = env.GetInstanceData<InstanceData>();
  for (const OpEntry& op : table) {
    data->ops[op.name] = op.fn;
    napi_value fn;
    // The tables are static: &op outlives the function.
    if (napi_create_function(env, op.name, NAPI_AUTO_LENGTH, CallOp, const_cast<OpEntry*>(&op), &fn) != napi_ok)
      throw Napi::Error::New(env, std::string("cannot export ") + op.name);
    exports.Set(op.name, Napi::Value(env, fn));
  }
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new InstanceData());
  exports.Set("setErrorFactory", Napi::Function::New(env, SetErrorFactory));
  exports.Set("pageSize", Napi::Function::New(env, PageSize));
  exports.Set("uapiVersion", Napi::Function::New(env, UapiVersion));
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("fdSetCloexec", Napi::Function::New(env, FdSetCloexec));
  exports.Set("setCapIpcLockEffective", Napi::Function::New(env, SetCapIpcLockEffective));
  exports.Set("setCapSysRawioEffective", Napi::Function::New(env, SetCapSysRawioEffective));
  exports.Set("batch", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                 return GuardOutOfMemory(info.Env(), [&] { return Batch(info); });
               }));
  Register(env, exports, kAddonOps);
  Register(env, exports, kIoasOps);
  Register(env, exports, kHwptOps);
  Register(env, exports, kSelftestOps);
  Register(env, exports, kPasidOps);
  Register(env, exports, kDmabufOps);
  Register(env, exports, kViommuOps);
  Register(env, exports, kVfioCompatOps);
  Register(env, exports, kVfioDeviceOps);
  Register(env, exports, kRawOps);
  InitDmaBuffer(env, exports);
  InitFailNth(env, exports);
  return exports;
}

}  // namespace iommufd_addon

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  return iommufd_addon::Init(env, exports);
}

NODE_API_MODULE(iommufd, InitAddon)
