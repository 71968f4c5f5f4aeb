// Helpers shared by the addon's translation units: argument unpacking, the
// bounds check in front of every user pointer, the ioctl wrapper, and the op
// registry that both the exported functions and batch() dispatch through.
#pragma once

#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "cmd.h"

namespace iommufd_addon {

// The arguments of one op: a call's CallbackInfo, or one entry of a batch
// ([name, ...args]) with the batch's fd in front. Fixed capacity, no
// allocation: batches run thousands of these.
class Args {
 public:
  static constexpr size_t kMax = 16;
  explicit Args(const Napi::CallbackInfo& info) : env_(info.Env()) {
    for (size_t i = 0; i < info.Length() && count_ < kMax; i++) values_[count_++] = info[i];
  }
  // A call's arguments read straight in by one napi_get_cb_info() (no
  // Napi::CallbackInfo, which copies them again and allocates past 6);
  // `data` receives the function's data pointer.
  Args(napi_env env, napi_callback_info info, void** data) : env_(env) {
    size_t argc = kMax;
    if (napi_get_cb_info(env, info, &argc, values_, nullptr, data) != napi_ok)
      throw Napi::Error::New(env_, "cannot read the arguments of this call");
    count_ = argc < kMax ? argc : kMax;
  }
  Args(Napi::Env env, napi_value fd, const Napi::Array& entry) : env_(env) {
    values_[count_++] = fd;
    for (uint32_t i = 1; i < entry.Length() && count_ < kMax; i++) values_[count_++] = entry.Get(i);
  }
  Napi::Env Env() const { return env_; }
  Napi::Value operator[](size_t i) const {
    return i < count_ ? Napi::Value(env_, values_[i]) : env_.Undefined();
  }

 private:
  Napi::Env env_;
  napi_value values_[kMax] = {};
  size_t count_ = 0;
};

// An op takes (fd, ...args) and returns its result; errors are thrown.
using OpFn = Napi::Value (*)(const Args&);
struct OpEntry {
  const char* name;
  OpFn fn;
};

// The IommufdError for errno `err` from `op` (built by the JS factory).
Napi::Error ErrnoError(Napi::Env env, int err, const char* op);
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* op);

uint32_t ArgU32(const Args& args, size_t i, const char* name);
uint64_t ArgU64(const Args& args, size_t i, const char* name);
size_t ArgSize(const Args& args, size_t i, const char* name);
int ArgFd(const Args& args, size_t i);

// The bytes of an ArrayBuffer, TypedArray, DataView or Buffer.
struct JsBytes {
  uint8_t* data;
  size_t length;
};
JsBytes ArgBytes(const Args& args, size_t i);

// The user address of [offset, offset + length) in `bytes`, after checking that
// everything the kernel will touch, [offset - before, offset + length + after),
// lies inside it. Detached or freed memory has no bytes and always fails.
uint64_t CheckedUptr(Napi::Env env, const JsBytes& bytes, size_t offset, size_t length,
                     size_t before = 0, size_t after = 0);

// A system call, repeated while a signal interrupts it (-1 with EINTR).
template <typename Call>
auto RetryOnEintr(Call call) -> decltype(call()) {
  decltype(call()) rc;
  do {
    rc = call();
  } while (rc == -1 && errno == EINTR);
  return rc;
}

// ioctl() with EINTR retried; throws the IommufdError for `op` on failure.
void Ioctl(Napi::Env env, int fd, unsigned long request, void* arg, const char* op);
// ioctl() with EINTR retried; returns 0 or errno.
int IoctlErrno(int fd, unsigned long request, void* arg);
// Ioctl() of the iommufd command `io` with `cmd`.
inline void CmdIoctl(Napi::Env env, int fd, const uapi::IoctlInfo& io, Cmd& cmd, const char* op) {
  // An ioctl the running kernel's uAPI lacks (7.3's on 6.12) has no number to
  // send: answer what that kernel's iommufd_fops_ioctl() answers for it.
  if (io.nr == uapi::kAbsent) ThrowErrno(env, ENOTTY, op);
  Ioctl(env, fd, IommufdRequest(io.nr), cmd.data(), op);
}

Napi::Object NewObject(Napi::Env env);

// Runs an op, turning an allocation failure (std::bad_alloc from a vector sized
// by a JS argument) into a JS RangeError: N-API only catches Napi::Error, and
// any other C++ exception escaping to the engine aborts the process.
template <typename Op>
Napi::Value GuardOutOfMemory(Napi::Env env, Op op) {
  try {
    return op();
  } catch (const std::bad_alloc&) {
    throw Napi::RangeError::New(env, "out of memory for the arguments of this call (is a count or length too large?)");
  } catch (const std::length_error&) {
    throw Napi::RangeError::New(env, "a count or length is too large for this call");
  }
}

// Op tables of each translation unit, registered by Init().
extern const std::vector<OpEntry> kIoasOps;
extern const std::vector<OpEntry> kHwptOps;
extern const std::vector<OpEntry> kSelftestOps;
extern const std::vector<OpEntry> kPasidOps;  // pasid.cc (7.3)
extern const std::vector<OpEntry> kDmabufOps;  // dmabuf.cc (7.3)
extern const std::vector<OpEntry> kViommuOps;  // viommu.cc (7.3)
extern const std::vector<OpEntry> kVfioCompatOps;
extern const std::vector<OpEntry> kVfioDeviceOps;
extern const std::vector<OpEntry> kRawOps;

void InitDmaBuffer(Napi::Env env, Napi::Object exports);
// uapiVersion(): the uAPI table in use (layout.cc).
Napi::Value UapiVersion(const Napi::CallbackInfo& info);
void InitFailNth(Napi::Env env, Napi::Object exports);

// The op registered under `name` (for batch tuples), or nullptr.
OpFn FindOp(Napi::Env env, const std::string& name);
// batch(fd, code, wide, out, memories, tuples, failNth): batch.cc.
Napi::Value Batch(const Napi::CallbackInfo& info);

// Fault injection around a batch (fail_nth.cc).
int ArmFailNth(uint32_t nth);          // 0 or errno
int DisarmFailNth(bool* injected);     // 0 or errno

}  // namespace iommufd_addon
