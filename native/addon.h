// Helpers shared by the addon's translation units: argument unpacking, the
// bounds check in front of every user pointer, the ioctl wrapper, and the op
// registry that both the exported functions and batch() dispatch through.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace iommufd_addon {

// The arguments of one op: a call's CallbackInfo, or one entry of a batch.
class Args {
 public:
  explicit Args(const Napi::CallbackInfo& info) : env_(info.Env()) {
    for (size_t i = 0; i < info.Length(); i++) values_.push_back(info[i]);
  }
  Args(Napi::Env env, const Napi::Array& array, uint32_t first) : env_(env) {
    for (uint32_t i = first; i < array.Length(); i++) values_.push_back(array.Get(i));
  }
  Napi::Env Env() const { return env_; }
  Napi::Value operator[](size_t i) const { return i < values_.size() ? values_[i] : env_.Undefined(); }

 private:
  Napi::Env env_;
  std::vector<Napi::Value> values_;
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

// ioctl() with EINTR retried; throws the IommufdError for `op` on failure.
void Ioctl(Napi::Env env, int fd, unsigned long request, void* arg, const char* op);
// ioctl() with EINTR retried; returns 0 or errno.
int IoctlErrno(int fd, unsigned long request, void* arg);

Napi::Object NewObject(Napi::Env env);

// Op tables of each translation unit, registered by Init().
extern const std::vector<OpEntry> kIoasOps;
extern const std::vector<OpEntry> kHwptOps;
extern const std::vector<OpEntry> kSelftestOps;
extern const std::vector<OpEntry> kVfioCompatOps;

void InitDmaBuffer(Napi::Env env, Napi::Object exports);
void InitFailNth(Napi::Env env, Napi::Object exports);

// Fault injection around a batch (fail_nth.cc).
int ArmFailNth(uint32_t nth);          // 0 or errno
int DisarmFailNth(bool* injected);     // 0 or errno

}  // namespace iommufd_addon
