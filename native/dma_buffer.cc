// DmaBuffer memory: page-aligned anonymous mmap()s exposed to JS as external
// ArrayBuffers. Shared buffers (not hugetlb) are a memfd mapped MAP_SHARED:
// shmem like MAP_SHARED|MAP_ANONYMOUS, with a descriptor another process can
// map (dmaFd / dmaMapFd), as a forked child would share the pages. The mapping is released exactly once: by dmaFree() (which first
// detaches the ArrayBuffer so JS can no longer reach it) or by the GC finalizer.
#include <napi.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <string>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
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
  int fd;           // the memfd of a shared buffer, owned; -1 if none
};

// Explicit frees find their mapping by address; finalizers may run on any
// thread that owns an env, so guard the table.
std::mutex g_lock;
std::unordered_map<void*, Mapping*> g_live;
std::atomic<int64_t> g_live_buffers{0};
std::atomic<int64_t> g_live_bytes{0};

void Release(Mapping* m) {
  munmap(m->map_addr, m->map_length);
  if (m->fd >= 0) close(m->fd);
  m->fd = -1;
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

// A memfd of `length` bytes (memfd_create() flags `extra` besides MFD_CLOEXEC), or throws.
int NewMemfd(Napi::Env env, size_t length, unsigned extra = 0) {
  int fd = memfd_create("iommufd-dma", MFD_CLOEXEC | extra);
  if (fd < 0) ThrowErrno(env, errno, "memfd_create");
  if (ftruncate(fd, static_cast<off_t>(length)) != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "ftruncate");
  }
  return fd;
}

Napi::Value Register(Napi::Env env, const Mapping& m) {
  auto* owned = new Mapping(m);
  {
    std::lock_guard<std::mutex> guard(g_lock);
    g_live[owned->addr] = owned;
    g_live_buffers++;
    g_live_bytes += static_cast<int64_t>(owned->length);
  }
  return Napi::ArrayBuffer::New(env, owned->addr, owned->length, Finalize, owned);
}

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
  m.fd = -1;
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
    void* raw = mmap(nullptr, span, shared ? PROT_NONE : PROT_READ | PROT_WRITE,
                     shared ? MAP_PRIVATE | MAP_ANONYMOUS : flags, -1, 0);
    if (raw == MAP_FAILED) ThrowErrno(env, errno, "mmap");
    uintptr_t start = RoundUp(reinterpret_cast<uintptr_t>(raw), kHugePageSize);
    size_t head = start - reinterpret_cast<uintptr_t>(raw);
    if (head != 0) munmap(raw, head);
    if (span - head - want != 0) munmap(reinterpret_cast<void*>(start + want), span - head - want);
    if (shared) {
      // Replace the aligned reservation with the memfd.
      int fd;
      try {
        fd = NewMemfd(env, want);
      } catch (...) {
        munmap(reinterpret_cast<void*>(start), want);
        throw;
      }
      void* at = mmap(reinterpret_cast<void*>(start), want, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
      if (at == MAP_FAILED) {
        int err = errno;
        close(fd);
        munmap(reinterpret_cast<void*>(start), want);
        ThrowErrno(env, err, "mmap");
      }
      m.fd = fd;
    }
    m.map_addr = reinterpret_cast<void*>(start);
    m.map_length = want;
    m.addr = m.map_addr;
    if (madvise(m.map_addr, m.map_length, MADV_HUGEPAGE) != 0) {
      int err = errno;
      munmap(m.map_addr, m.map_length);
      if (m.fd >= 0) close(m.fd);
      ThrowErrno(env, err, "madvise(MADV_HUGEPAGE)");
    }
  } else if (mode == "none") {
    m.map_length = RoundUp(length, page);
    if (shared) m.fd = NewMemfd(env, m.map_length);
    m.map_addr = shared ? mmap(nullptr, m.map_length, PROT_READ | PROT_WRITE, MAP_SHARED, m.fd, 0)
                        : mmap(nullptr, m.map_length, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (m.map_addr == MAP_FAILED) {
      int err = errno;
      if (m.fd >= 0) close(m.fd);
      ThrowErrno(env, err, "mmap");
    }
    m.addr = m.map_addr;
  } else {
    throw Napi::TypeError::New(env, "huge page mode must be none, transparent or hugetlb");
  }
  m.length = length;
  return Register(env, m);
}

// (arrayBuffer) -> the memfd of a shared buffer, or -1
Napi::Value DmaFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) throw Napi::TypeError::New(env, "dmaFd(arrayBuffer)");
  void* addr = info[0].As<Napi::ArrayBuffer>().Data();
  std::lock_guard<std::mutex> guard(g_lock);
  auto it = g_live.find(addr);
  if (addr == nullptr || it == g_live.end()) return Napi::Number::New(env, -1);
  return Napi::Number::New(env, it->second->fd);
}

// (fd, length) -> ArrayBuffer: `length` bytes of the shared memory file `fd`
// (another process's shared DmaBuffer) mapped MAP_SHARED here. The mapping
// keeps its own duplicate of the descriptor.
Napi::Value DmaMapFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(info);
  int fd = ArgFd(args, 0);
  size_t length = ArgSize(args, 1, "length");
  if (length == 0) throw Napi::RangeError::New(env, "length must be > 0");
  struct stat st;
  if (fstat(fd, &st) != 0) ThrowErrno(env, errno, "fstat");
  if (!S_ISREG(st.st_mode))
    throw Napi::TypeError::New(env, "fd " + std::to_string(fd) + " is not a shared memory file (memfd)");
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  Mapping m = {};
  m.map_length = RoundUp(length, page);
  if (static_cast<uint64_t>(st.st_size) < m.map_length)
    throw Napi::RangeError::New(env, "fd " + std::to_string(fd) + " holds " + std::to_string(st.st_size) +
                                         " bytes, fewer than the " + std::to_string(length) + " asked for");
  m.fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (m.fd < 0) ThrowErrno(env, errno, "fcntl(F_DUPFD_CLOEXEC)");
  m.map_addr = mmap(nullptr, m.map_length, PROT_READ | PROT_WRITE, MAP_SHARED, m.fd, 0);
  if (m.map_addr == MAP_FAILED) {
    int err = errno;
    close(m.fd);
    ThrowErrno(env, err, "mmap");
  }
  m.addr = m.map_addr;
  m.length = length;
  return Register(env, m);
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

// (path, length) -> ArrayBuffer: the file's first `length` bytes mapped
// MAP_PRIVATE, readable and writable (writes make private copies; the file never
// changes). The file must hold them all: a page past its end would SIGBUS.
Napi::Value DmaMapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  size_t length = ArgSize(Args(info), 1, "length");
  if (length == 0) throw Napi::RangeError::New(env, "length must be > 0");
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) ThrowErrno(env, errno, "open");
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "fstat");
  }
  if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) < length) {
    close(fd);
    throw Napi::RangeError::New(env, path + " is not a regular file of at least " + std::to_string(length) + " bytes");
  }
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  Mapping m = {};
  m.fd = -1;
  m.map_length = RoundUp(length, page);
  m.map_addr = mmap(nullptr, m.map_length, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  int err = errno;
  close(fd);
  if (m.map_addr == MAP_FAILED) ThrowErrno(env, err, "mmap");
  m.addr = m.map_addr;
  m.length = length;
  return Register(env, m);
}

// (arrayBuffer, offset, length): UNSAFE, for EFAULT tests. The whole pages of
// [offset, offset + length) of a live addon buffer become an inaccessible
// (PROT_NONE) reservation, as if munmap()ed, until the buffer is freed. JS must
// not touch those bytes afterwards.
Napi::Value DmaUnmapRange(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) throw Napi::TypeError::New(env, "dmaUnmapRange(arrayBuffer, offset, length)");
  Args args(info);
  size_t offset = ArgSize(args, 1, "offset");
  size_t length = ArgSize(args, 2, "length");
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* addr = info[0].As<Napi::ArrayBuffer>().Data();
  std::lock_guard<std::mutex> guard(g_lock);
  auto it = g_live.find(addr);
  if (addr == nullptr || it == g_live.end()) throw Napi::RangeError::New(env, "not a live DmaBuffer");
  Mapping* m = it->second;
  uintptr_t start = reinterpret_cast<uintptr_t>(m->addr) + offset;
  uintptr_t map_start = reinterpret_cast<uintptr_t>(m->map_addr);
  if (length == 0 || offset % page != 0 || length % page != 0 || start % page != 0 ||
      start < map_start || length > m->map_length || start - map_start > m->map_length - length)
    throw Napi::RangeError::New(env, "the range must be whole pages inside the buffer's mapping");
  void* at = mmap(reinterpret_cast<void*>(start), length, PROT_NONE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  if (at == MAP_FAILED) ThrowErrno(env, errno, "mmap(PROT_NONE)");
  return env.Undefined();
}

// (length, hugetlb: boolean) -> fd: a close-on-exec memfd of `length` bytes
// (MFD_HUGETLB: of hugetlbfs pages, `length` a multiple of their size), owned
// by the caller (MemFile), which maps it with dmaMapFd().
Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t length = ArgSize(Args(info), 0, "length");
  return Napi::Number::New(env, NewMemfd(env, length, info[1].ToBoolean() ? MFD_HUGETLB : 0));
}

// (fd, length): ftruncate() a memfd the caller owns
Napi::Value MemfdResize(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = ArgFd(args, 0);
  size_t length = ArgSize(args, 1, "length");
  if (RetryOnEintr([&] { return ftruncate(fd, static_cast<off_t>(length)); }) != 0)
    ThrowErrno(info.Env(), errno, "ftruncate");
  return info.Env().Undefined();
}

// Where `bytes` starts inside its 2 MiB-aligned block of the address space: the
// simulator gives memory the real alignment, which drives the IOVA allocator.
Napi::Value AddressIn2MiB(const Napi::CallbackInfo& info) {
  Args args(info);
  JsBytes bytes = ArgBytes(args, 0);
  constexpr uintptr_t k2MiB = uintptr_t{2} << 20;
  return Napi::Number::New(info.Env(), static_cast<double>(reinterpret_cast<uintptr_t>(bytes.data) % k2MiB));
}

// (memory, offset, pages) -> BigUint64Array: the /proc/self/pagemap entries of
// `pages` pages of `memory` from the page holding byte `offset` (present bit 63,
// PFN in bits 0-54, which only CAP_SYS_ADMIN sees). The address stays here: JS
// gets what the kernel says about it, to check the physical addresses
// IOMMU_IOAS_NOIOMMU_GET_PA reports. Bounds-checked like every user range.
Napi::Value Pagemap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(info);
  JsBytes bytes = ArgBytes(args, 0);
  size_t offset = ArgSize(args, 1, "offset");
  size_t pages = ArgSize(args, 2, "pages");
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (pages == 0 || pages > (size_t{1} << 24)) throw Napi::RangeError::New(env, "pages must be 1 to 2^24");
  if (offset >= bytes.length) throw Napi::RangeError::New(env, "offset is past the end of the memory");
  const uintptr_t first = (reinterpret_cast<uintptr_t>(bytes.data) + offset) / page;
  const uintptr_t end = reinterpret_cast<uintptr_t>(bytes.data) + bytes.length;
  if ((first + pages - 1) * page >= end) throw Napi::RangeError::New(env, "the pages run past the end of the memory");
  Napi::ArrayBuffer out = Napi::ArrayBuffer::New(env, pages * 8);
  int fd = RetryOnEintr([] { return open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC); });
  if (fd < 0) ThrowErrno(env, errno, "open(/proc/self/pagemap)");
  ssize_t got = RetryOnEintr([&] { return pread(fd, out.Data(), pages * 8, static_cast<off_t>(first * 8)); });
  int err = errno;
  close(fd);
  if (got < 0) ThrowErrno(env, err, "pread(/proc/self/pagemap)");
  if (static_cast<size_t>(got) != pages * 8) throw Napi::Error::New(env, "short read of /proc/self/pagemap");
  napi_value array;
  if (napi_create_typedarray(env, napi_biguint64_array, pages, out, 0, &array) != napi_ok)
    throw Napi::Error::New(env, "cannot create a BigUint64Array");
  return Napi::Value(env, array);
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
  exports.Set("dmaFd", Napi::Function::New(env, DmaFd));
  exports.Set("dmaMapFd", Napi::Function::New(env, DmaMapFd));
  exports.Set("dmaMapFile", Napi::Function::New(env, DmaMapFile));
  exports.Set("memfdCreate", Napi::Function::New(env, MemfdCreate));
  exports.Set("memfdResize", Napi::Function::New(env, MemfdResize));
  exports.Set("dmaUnmapRange", Napi::Function::New(env, DmaUnmapRange));
  exports.Set("addressIn2MiB", Napi::Function::New(env, AddressIn2MiB));
  exports.Set("pagemap", Napi::Function::New(env, Pagemap));
}

}  // namespace iommufd_addon
