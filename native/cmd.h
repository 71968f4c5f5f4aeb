// A command's bytes, sized and filled by the running kernel's layout
// (uapi_layout.h, generated from each version's headers), so one body of code
// serves every kernel version and sends exactly the struct that kernel knows.
#pragma once

#include <sys/ioctl.h>

#include <cstdint>
#include <cstring>

#include "addon.h"
#include "uapi_layout.h"

namespace iommufd_addon {
namespace uapi = iommufd_uapi;

// The table of the running kernel: its release's major.minor, else the newest
// table older than it (the oldest for anything older). layout.cc.
const uapi::Layout& Uapi();

// _IO(';', nr): how every iommufd (and VFIO container) ioctl is encoded.
constexpr unsigned long IommufdRequest(uint32_t nr) { return _IO(uapi::kIommufdType, nr); }

class Cmd {
 public:
  // `size` zeroed bytes whose leading u32 (size, or VFIO's argsz) says `size`.
  explicit Cmd(uint32_t size) : size_(size <= uapi::kMaxStructSize ? size : uapi::kMaxStructSize) {
    Set32(0, size_);
  }
  void* data() { return bytes_; }
  uint32_t size() const { return size_; }

  // Fields a version lacks (kAbsent) or past `size` are neither written nor read (0).
  void Set8(uint32_t at, uint8_t v) { Put(at, v); }
  void Set16(uint32_t at, uint16_t v) { Put(at, v); }
  void Set32(uint32_t at, uint32_t v) { Put(at, v); }
  void Set64(uint32_t at, uint64_t v) { Put(at, v); }
  uint8_t Get8(uint32_t at) const { return Load<uint8_t>(at); }
  uint16_t Get16(uint32_t at) const { return Load<uint16_t>(at); }
  uint32_t Get32(uint32_t at) const { return Load<uint32_t>(at); }
  uint64_t Get64(uint32_t at) const { return Load<uint64_t>(at); }

 private:
  bool Fits(uint32_t at, size_t n) const { return at != uapi::kAbsent && at + n <= size_; }
  template <typename T>
  void Put(uint32_t at, T v) {
    if (Fits(at, sizeof(T))) std::memcpy(bytes_ + at, &v, sizeof(T));
  }
  template <typename T>
  T Load(uint32_t at) const {
    T v = 0;
    if (Fits(at, sizeof(T))) std::memcpy(&v, bytes_ + at, sizeof(T));
    return v;
  }

  alignas(8) uint8_t bytes_[uapi::kMaxStructSize] = {};
  uint32_t size_;
};

// ioctl() of the iommufd command `io` with `cmd`; throws the IommufdError for `op`.
inline void CmdIoctl(Napi::Env env, int fd, const uapi::IoctlInfo& io, Cmd& cmd, const char* op) {
  Ioctl(env, fd, IommufdRequest(io.nr), cmd.data(), op);
}

}  // namespace iommufd_addon
