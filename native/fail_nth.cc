// Fault injection through /proc/thread-self/fail-nth (Documentation/
// fault-injection): writing N makes the N-th fault-injectable call of this
// thread fail; reading back 0 means that failure was injected. batch() arms it
// right before its first op and disarms it right after its last.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <string>
#include <unistd.h>

#include "addon.h"

namespace iommufd_addon {
namespace {

constexpr const char* kFailNthPath = "/proc/thread-self/fail-nth";

int WriteValue(int fd, uint32_t value) {
  std::string text = std::to_string(value);
  ssize_t n = pwrite(fd, text.data(), text.size(), 0);
  return n == static_cast<ssize_t>(text.size()) ? 0 : (n < 0 ? errno : EIO);
}

// The fd stays open between arming and disarming so that disarming needs no
// open() (which could itself consume the injected failure). One per thread:
// /proc/thread-self resolves when it is opened, so a worker thread sharing the
// first opener's fd would arm that thread, not itself. Closed at thread exit.
struct ThreadFailNthFd {
  int fd = -1;
  ~ThreadFailNthFd() {
    if (fd >= 0) close(fd);
  }
};
thread_local ThreadFailNthFd g_fail_nth;

Napi::Value FailNthSupported(const Napi::CallbackInfo& info) {
  int fd = open(kFailNthPath, O_RDWR | O_CLOEXEC);
  if (fd >= 0) close(fd);
  return Napi::Boolean::New(info.Env(), fd >= 0);
}

}  // namespace

int ArmFailNth(uint32_t nth) {
  if (g_fail_nth.fd < 0) g_fail_nth.fd = open(kFailNthPath, O_RDWR | O_CLOEXEC);
  if (g_fail_nth.fd < 0) return errno;
  return WriteValue(g_fail_nth.fd, nth);
}

int DisarmFailNth(bool* injected) {
  char text[32] = {};
  ssize_t n = pread(g_fail_nth.fd, text, sizeof(text) - 1, 0);
  if (n < 0) return errno;
  *injected = strtoul(text, nullptr, 10) == 0;
  // Writing 0 disarms; the kernel's harness notes this write can itself be
  // failed by a still-armed injection, so retry a few times.
  int err = 0;
  for (int tries = 0; tries < 8; tries++) {
    err = WriteValue(g_fail_nth.fd, 0);
    if (err == 0) break;
  }
  return err;
}

void InitFailNth(Napi::Env env, Napi::Object exports) {
  exports.Set("failNthSupported", Napi::Function::New(env, FailNthSupported));
}

}  // namespace iommufd_addon
