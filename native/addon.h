// Helpers shared by the addon's translation units.
#pragma once

#include <napi.h>

namespace iommufd_addon {

[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* op);
size_t ArgSize(const Napi::CallbackInfo& info, size_t i, const char* name);
void InitDmaBuffer(Napi::Env env, Napi::Object exports);

}  // namespace iommufd_addon
