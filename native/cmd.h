// A command's bytes, sized and filled by the running kernel's layout
// (uapi_layout.h, generated from each version's headers), so one body of code
// serves every kernel version and sends exactly the struct that kernel knows.
// No N-API here: bench/kernel/ioctl_bench.cc uses it too.
#pragma once

#include <sys/ioctl.h>
#include <sys/utsname.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "uapi_layout.h"

namespace iommufd_addon {
namespace uapi = iommufd_uapi;

// The table for kernel major.minor: its own, else the newest older one (the
// oldest for anything older).
inline const uapi::Layout& LayoutFor(unsigned major, unsigned minor) {
  const uapi::Layout* pick = &uapi::kLayouts[0];
  for (const uapi::Layout& l : uapi::kLayouts)
    if (l.major < major || (l.major == major && l.minor <= minor)) pick = &l;
  return *pick;
}

// The table of the running kernel (by uname), picked once.
inline const uapi::Layout& Uapi() {
  static const uapi::Layout& layout = [] () -> const uapi::Layout& {
    unsigned major = 0, minor = 0;
    struct utsname u;
    if (uname(&u) != 0 || std::sscanf(u.release, "%u.%u", &major, &minor) != 2) major = minor = 0;
    return LayoutFor(major, minor);
  }();
  return layout;
}

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

}  // namespace iommufd_addon
