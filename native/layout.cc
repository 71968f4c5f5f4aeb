// Picks the uAPI table (uapi_layout.h) for the running kernel, once.
#include <sys/utsname.h>

#include <cstdio>

#include "addon.h"
#include "cmd.h"

namespace iommufd_addon {

const uapi::Layout& Uapi() {
  static const uapi::Layout* const layout = [] {
    unsigned major = 0, minor = 0;
    struct utsname u;
    if (uname(&u) == 0 && std::sscanf(u.release, "%u.%u", &major, &minor) != 2) major = minor = 0;
    const uapi::Layout* pick = &uapi::kLayouts[0];
    for (const uapi::Layout& l : uapi::kLayouts)
      if (l.major < major || (l.major == major && l.minor <= minor)) pick = &l;
    return pick;
  }();
  return *layout;
}

// () -> "major.minor" of the table in use (for tests and `iommufd info`).
Napi::Value UapiVersion(const Napi::CallbackInfo& info) {
  const uapi::Layout& l = Uapi();
  return Napi::String::New(info.Env(), std::to_string(l.major) + "." + std::to_string(l.minor));
}

}  // namespace iommufd_addon
