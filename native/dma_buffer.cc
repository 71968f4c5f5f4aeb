// DmaBuffer memory: page-aligned anonymous mmap()s exposed to JS as external
// ArrayBuffers. The mapping is released exactly once: by dmaFree() (which first
// detaches the ArrayBuffer so JS can no longer reach it) or by the GC finalizer.
#include <napi.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <unordered_map>

#include "addon.h"

namespace iommufd_addon {

namespace {

constexpr size_t kHugePageSize = 2 * 1024 * 1024;

struct Mapping {
  void* addr;       // what JS sees
  size_t length;    // what JS sees
  void* map_addr;   // what to munmap
  size_t map_length;
};

// Explicit frees find their mapping by address; finalizers may run on any
// thread that owns an env, so guard the table.
std::mutex g_lock;
std::unordered_map<void*, Mapping*> g_live;
std::atomic<int64_t> g_live_buffers{0};
std::atomic<int64_t> g_live_bytes{0};

void Release(Mapping* m) {
  munmap(m->map_addr, m->map_length);
  g_live_buffers--;
  g_live_bytes -= static_cast<int64_t>(m->length);
  m->map_addr = nullptr;
}

void Finalize(Napi::Env, void*, Mapping* m) {
  {
    std::lock_guard<std::mutex> guard(g_lock);
    if (m->map_addr != nullptr) {
      g_live.erase(m->addr);
      Release(m);
    }
  }
  delete m;
}

size_t RoundUp(size_t value, size_t to) { return (value + to - 1) / to * to; }

// (length, mode: "none" | "transparent" | "hugetlb", shared: boolean) -> ArrayBuffer
Napi::Value DmaAlloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t length = ArgSize(Args(info), 0, "length");
  std::string mode = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "none";
  bool shared = info[2].ToBoolean();
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (length == 0) throw Napi::RangeError::New(env, "length must be > 0");

  int flags = (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS;
  Mapping m = {};
  if (mode == "hugetlb") {
    m.map_length = RoundUp(length, kHugePageSize);
    m.map_addr = mmap(nullptr, m.map_length, PROT_READ | PROT_WRITE, flags | MAP_HUGETLB, -1, 0);
    if (m.map_addr == MAP_FAILED) ThrowErrno(env, errno, "mmap(MAP_HUGETLB)");
    m.addr = m.map_addr;
  } else if (mode == "transparent") {
    // Over-allocate so a 2 MiB aligned window exists, then trim both ends;
    // THP can only back aligned 2 MiB ranges.
    size_t want = RoundUp(length, kHugePageSize);
    size_t span = want + kHugePageSize;
    void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (raw == MAP_FAILED) ThrowErrno(env, errno, "mmap");
    uintptr_t start = RoundUp(reinterpret_cast<uintptr_t>(raw), kHugePageSize);
    size_t head = start - reinterpret_cast<uintptr_t>(raw);
    if (head != 0) munmap(raw, head);
    if (span - head - want != 0) munmap(reinterpret_cast<void*>(start + want), span - head - want);
    m.map_addr = reinterpret_cast<void*>(start);
    m.map_length = want;
    m.addr = m.map_addr;
    if (madvise(m.map_addr, m.map_length, MADV_HUGEPAGE) != 0) {
      int err = errno;
      munmap(m.map_addr, m.map_length);
      ThrowErrno(env, err, "madvise(MADV_HUGEPAGE)");
    }
  } else if (mode == "none") {
    m.map_length = RoundUp(length, page);
    m.map_addr = mmap(nullptr, m.map_length, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (m.map_addr == MAP_FAILED) ThrowErrno(env, errno, "mmap");
    m.addr = m.map_addr;
  } else {
    throw Napi::TypeError::New(env, "huge page mode must be none, transparent or hugetlb");
  }
  m.length = length;

  auto* owned = new Mapping(m);
  {
    std::lock_guard<std::mutex> guard(g_lock);
    g_live[owned->addr] = owned;
    g_live_buffers++;
    g_live_bytes += static_cast<int64_t>(length);
  }
  return Napi::ArrayBuffer::New(env, owned->addr, owned->length, Finalize, owned);
}

// (arrayBuffer) -> true if this call released the mapping
Napi::Value DmaFree(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) throw Napi::TypeError::New(env, "dmaFree(arrayBuffer)");
  auto ab = info[0].As<Napi::ArrayBuffer>();
  void* addr = ab.Data();
  std::lock_guard<std::mutex> guard(g_lock);
  auto it = g_live.find(addr);
  if (addr == nullptr || it == g_live.end()) return Napi::Boolean::New(env, false);
  ab.Detach();
  Release(it->second);
  g_live.erase(it);
  return Napi::Boolean::New(env, true);
}

Napi::Value DmaStats(const Napi::CallbackInfo& info) {
  Napi::Object stats = Napi::Object::New(info.Env());
  stats.Set("liveBuffers", Napi::Number::New(info.Env(), static_cast<double>(g_live_buffers.load())));
  stats.Set("liveBytes", Napi::Number::New(info.Env(), static_cast<double>(g_live_bytes.load())));
  return stats;
}

}  // namespace

void InitDmaBuffer(Napi::Env env, Napi::Object exports) {
  exports.Set("dmaAlloc", Napi::Function::New(env, DmaAlloc));
  exports.Set("dmaFree", Napi::Function::New(env, DmaFree));
  exports.Set("dmaStats", Napi::Function::New(env, DmaStats));
}

}  // namespace iommufd_addon
