// uapiVersion(): which table of uapi_layout.h the addon sizes commands by (cmd.h picks it).
#include <string>

#include "addon.h"

namespace iommufd_addon {

// () -> "major.minor" of the table in use (for tests).
Napi::Value UapiVersion(const Napi::CallbackInfo& info) {
  const uapi::Layout& l = Uapi();
  return Napi::String::New(info.Env(), std::to_string(l.major) + "." + std::to_string(l.minor));
}

}  // namespace iommufd_addon
