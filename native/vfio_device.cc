// VFIO devices through their character device (/dev/vfio/devices/vfioN) on
// iommufd: BIND_IOMMUFD, ATTACH/DETACH_IOMMUFD_PT, GET_INFO,
// GET_REGION_INFO, GET_IRQ_INFO, RESET, pread()/pwrite() of a region, and
// mmap() of a region with explicitly sized volatile MMIO accessors.
//
// A region mapping reaches JS only as an opaque external handle: every access
// names a width and an offset that is checked here against the mapping's
// length and natural alignment, so JS can never touch MMIO with an access of
// the wrong size or outside the BAR (no typed-array view of device memory).
#include <cerrno>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

#include "addon.h"
#include "cmd.h"

namespace iommufd_addon {
namespace {

// (devFd, iommufd) -> devId
Napi::Value BindIommufd(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  const auto& f = L.vfio_device_bind_iommufd;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.iommufd, static_cast<uint32_t>(ArgFd(args, 1)));
  Ioctl(env, ArgFd(args, 0), L.vfio.device_bind_iommufd, cmd.data(), "VFIO_DEVICE_BIND_IOMMUFD");
  return Napi::Number::New(env, cmd.Get32(f.out_devid));
}

// (devFd, ptId) -> the attached id (the automatic HWPT when ptId is an IOAS)
Napi::Value AttachPt(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  const auto& f = L.vfio_device_attach_iommufd_pt;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.pt_id, ArgU32(args, 1, "ptId"));
  Ioctl(env, ArgFd(args, 0), L.vfio.device_attach_iommufd_pt, cmd.data(), "VFIO_DEVICE_ATTACH_IOMMUFD_PT");
  return Napi::Number::New(env, cmd.Get32(f.pt_id));
}

// (devFd)
Napi::Value DetachPt(const Args& args) {
  const auto& L = Uapi();
  Cmd cmd(L.vfio_device_detach_iommufd_pt.sizeof_);
  Ioctl(args.Env(), ArgFd(args, 0), L.vfio.device_detach_iommufd_pt, cmd.data(), "VFIO_DEVICE_DETACH_IOMMUFD_PT");
  return args.Env().Undefined();
}

// (devFd) -> { flags, numRegions, numIrqs, argsz }
Napi::Value GetInfo(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  const auto& f = L.vfio_device_info;
  Cmd cmd(f.sizeof_);
  Ioctl(env, ArgFd(args, 0), L.vfio.device_get_info, cmd.data(), "VFIO_DEVICE_GET_INFO");
  Napi::Object out = NewObject(env);
  out.Set("flags", Napi::Number::New(env, cmd.Get32(f.flags)));
  out.Set("numRegions", Napi::Number::New(env, cmd.Get32(f.num_regions)));
  out.Set("numIrqs", Napi::Number::New(env, cmd.Get32(f.num_irqs)));
  // With capabilities the kernel asks for more room in argsz (and leaves capOffset 0).
  out.Set("argsz", Napi::Number::New(env, cmd.Get32(f.argsz)));
  return out;
}

template <typename T>
T LoadAt(const void* base, uint32_t at) {
  T v;
  std::memcpy(&v, static_cast<const uint8_t*>(base) + at, sizeof(T));
  return v;
}
void StoreU32(void* base, uint32_t at, uint32_t v) { std::memcpy(static_cast<uint8_t*>(base) + at, &v, 4); }

// (devFd, index) -> { flags, index, size, offset, capOffset, info }
// `info` is the whole answer (struct plus capability chain) as bytes: the
// kernel says in argsz how much room the chain needs, so ask twice when it has one.
Napi::Value GetRegionInfo(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  const auto& f = L.vfio_region_info;
  int fd = ArgFd(args, 0);
  uint32_t index = ArgU32(args, 1, "index");
  std::vector<uint64_t> storage((f.sizeof_ + 7) / 8);
  StoreU32(storage.data(), f.argsz, f.sizeof_);
  StoreU32(storage.data(), f.index, index);
  Ioctl(env, fd, L.vfio.device_get_region_info, storage.data(), "VFIO_DEVICE_GET_REGION_INFO");
  uint32_t argsz = LoadAt<uint32_t>(storage.data(), f.argsz);
  if (argsz > f.sizeof_) {
    uint32_t want = argsz;
    if (want > 1u << 20) throw Napi::RangeError::New(env, "region info capability chain is implausibly large");
    storage.assign((want + 7) / 8, 0);
    StoreU32(storage.data(), f.argsz, want);
    StoreU32(storage.data(), f.index, index);
    Ioctl(env, fd, L.vfio.device_get_region_info, storage.data(), "VFIO_DEVICE_GET_REGION_INFO");
    argsz = LoadAt<uint32_t>(storage.data(), f.argsz);
    if (argsz > want) argsz = want;  // grew in between: keep what we have
  }
  size_t length = argsz < f.sizeof_ ? f.sizeof_ : argsz;
  const void* info = storage.data();
  Napi::Object out = NewObject(env);
  out.Set("flags", Napi::Number::New(env, LoadAt<uint32_t>(info, f.flags)));
  out.Set("index", Napi::Number::New(env, LoadAt<uint32_t>(info, f.index)));
  out.Set("size", Napi::BigInt::New(env, LoadAt<uint64_t>(info, f.size)));
  out.Set("offset", Napi::BigInt::New(env, LoadAt<uint64_t>(info, f.offset)));
  out.Set("capOffset", Napi::Number::New(env, length > f.sizeof_ ? LoadAt<uint32_t>(info, f.cap_offset) : 0));
  out.Set("info", Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<uint8_t*>(storage.data()), length));
  return out;
}

// (devFd, index) -> { flags, index, count }
Napi::Value GetIrqInfo(const Args& args) {
  Napi::Env env = args.Env();
  const auto& L = Uapi();
  const auto& f = L.vfio_irq_info;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.index, ArgU32(args, 1, "index"));
  Ioctl(env, ArgFd(args, 0), L.vfio.device_get_irq_info, cmd.data(), "VFIO_DEVICE_GET_IRQ_INFO");
  Napi::Object out = NewObject(env);
  out.Set("flags", Napi::Number::New(env, cmd.Get32(f.flags)));
  out.Set("index", Napi::Number::New(env, cmd.Get32(f.index)));
  out.Set("count", Napi::Number::New(env, cmd.Get32(f.count)));
  return out;
}

// (devFd)
Napi::Value Reset(const Args& args) {
  Ioctl(args.Env(), ArgFd(args, 0), Uapi().vfio.device_reset, nullptr, "VFIO_DEVICE_RESET");
  return args.Env().Undefined();
}

// (devFd, memory, offset, length, fileOffset: bigint) -> bytes transferred
template <bool kWrite>
Napi::Value Rw(const Args& args) {
  Napi::Env env = args.Env();
  int fd = ArgFd(args, 0);
  JsBytes bytes = ArgBytes(args, 1);
  size_t offset = ArgSize(args, 2, "offset");
  size_t length = ArgSize(args, 3, "length");
  uint64_t position = ArgU64(args, 4, "fileOffset");
  if (position > static_cast<uint64_t>(INT64_MAX) || length > static_cast<uint64_t>(INT64_MAX) - position)
    throw Napi::RangeError::New(env, "fileOffset + length does not fit in off_t");
  auto* data = reinterpret_cast<uint8_t*>(static_cast<uintptr_t>(CheckedUptr(env, bytes, offset, length)));
  ssize_t n = RetryOnEintr([&] {
    return kWrite ? pwrite(fd, data, length, static_cast<off_t>(position))
                  : pread(fd, data, length, static_cast<off_t>(position));
  });
  if (n < 0) ThrowErrno(env, errno, kWrite ? "pwrite(vfio region)" : "pread(vfio region)");
  return Napi::Number::New(env, static_cast<double>(n));
}

// ---- MMIO -----------------------------------------------------------------

struct MmioMapping {
  volatile uint8_t* base;  // nullptr once unmapped
  size_t length;
  bool writable;
};

void FinalizeMmio(Napi::Env, MmioMapping* m) {
  if (m->base != nullptr) munmap(const_cast<uint8_t*>(m->base), m->length);
  delete m;
}

// A MAP_SHARED mapping of `length` bytes of fd at `position`, as an MMIO handle.
Napi::Value MapShared(const Args& args, int fd, uint64_t position, size_t length, bool writable, const char* op) {
  Napi::Env env = args.Env();
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (length == 0 || position % page != 0 || position > static_cast<uint64_t>(INT64_MAX))
    throw Napi::RangeError::New(env, "an MMIO mapping needs a page-aligned file offset and a non-zero length");
  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  void* addr = mmap(nullptr, length, prot, MAP_SHARED, fd, static_cast<off_t>(position));
  if (addr == MAP_FAILED) ThrowErrno(env, errno, op);
  auto* m = new MmioMapping{static_cast<volatile uint8_t*>(addr), length, writable};
  return Napi::External<MmioMapping>::New(env, m, FinalizeMmio);
}

// (devFd, fileOffset: bigint, length, writable) -> handle
Napi::Value RegionMmap(const Args& args) {
  return MapShared(args, ArgFd(args, 0), ArgU64(args, 1, "fileOffset"), ArgSize(args, 2, "length"),
                   args[3].ToBoolean(), "mmap(vfio region)");
}

// (iommufd, offset: bigint, length) -> handle: a region an iommufd driver offers
// (iommufd_viommu_alloc_mmap(), e.g. the selftest vIOMMU's page), read through the
// same sized accessors as a BAR.
Napi::Value IommufdMmap(const Args& args) {
  return MapShared(args, ArgFd(args, 0), ArgU64(args, 1, "offset"), ArgSize(args, 2, "length"), true,
                   "mmap(iommufd)");
}

MmioMapping* ArgMapping(const Args& args, size_t i) {
  if (!args[i].IsExternal()) throw Napi::TypeError::New(args.Env(), "not an MMIO mapping handle");
  MmioMapping* m = args[i].As<Napi::External<MmioMapping>>().Data();
  if (m == nullptr || m->base == nullptr) throw Napi::Error::New(args.Env(), "the MMIO mapping has been unmapped");
  return m;
}

// The address of a `width`-byte access at args[1]; checked for bounds and alignment.
volatile uint8_t* Checked(const Args& args, MmioMapping* m, size_t width, bool write) {
  size_t offset = ArgSize(args, 1, "offset");
  if (offset % width != 0)
    throw Napi::RangeError::New(args.Env(), "MMIO offset " + std::to_string(offset) + " is not aligned to the " +
                                                std::to_string(width) + "-byte access");
  if (offset > m->length || width > m->length - offset)
    throw Napi::RangeError::New(args.Env(), "MMIO access [" + std::to_string(offset) + ", +" + std::to_string(width) +
                                                ") is outside the " + std::to_string(m->length) + "-byte mapping");
  if (write && !m->writable) throw Napi::Error::New(args.Env(), "the MMIO mapping is read-only");
  return m->base + offset;
}

template <typename T>
Napi::Value MmioRead(const Args& args) {
  MmioMapping* m = ArgMapping(args, 0);
  volatile T* p = reinterpret_cast<volatile T*>(Checked(args, m, sizeof(T), false));
  T value = *p;  // one access of exactly sizeof(T) bytes
  if constexpr (sizeof(T) == 8) return Napi::BigInt::New(args.Env(), static_cast<uint64_t>(value));
  else return Napi::Number::New(args.Env(), value);
}

template <typename T>
Napi::Value MmioWrite(const Args& args) {
  MmioMapping* m = ArgMapping(args, 0);
  volatile T* p = reinterpret_cast<volatile T*>(Checked(args, m, sizeof(T), true));
  T value;
  if constexpr (sizeof(T) == 8) {
    value = ArgU64(args, 2, "value");
  } else {
    uint32_t v = ArgU32(args, 2, "value");
    if constexpr (sizeof(T) < 4) {
      if (v >> (sizeof(T) * 8) != 0)
        throw Napi::RangeError::New(args.Env(), "value does not fit in " + std::to_string(sizeof(T) * 8) + " bits");
    }
    value = static_cast<T>(v);
  }
  *p = value;
  return args.Env().Undefined();
}

// (handle) -> true if this call unmapped it
Napi::Value MmioUnmap(const Args& args) {
  if (!args[0].IsExternal()) throw Napi::TypeError::New(args.Env(), "not an MMIO mapping handle");
  MmioMapping* m = args[0].As<Napi::External<MmioMapping>>().Data();
  if (m == nullptr || m->base == nullptr) return Napi::Boolean::New(args.Env(), false);
  munmap(const_cast<uint8_t*>(m->base), m->length);
  m->base = nullptr;
  return Napi::Boolean::New(args.Env(), true);
}

}  // namespace

const std::vector<OpEntry> kVfioDeviceOps = {
    {"vfioDeviceBindIommufd", BindIommufd},
    {"vfioDeviceAttachPt", AttachPt},
    {"vfioDeviceDetachPt", DetachPt},
    {"vfioDeviceGetInfo", GetInfo},
    {"vfioDeviceGetRegionInfo", GetRegionInfo},
    {"vfioDeviceGetIrqInfo", GetIrqInfo},
    {"vfioDeviceReset", Reset},
    {"vfioDevicePread", Rw<false>},
    {"vfioDevicePwrite", Rw<true>},
    {"vfioRegionMmap", RegionMmap},
    {"iommufdMmap", IommufdMmap},
    {"mmioUnmap", MmioUnmap},
    {"mmioRead8", MmioRead<uint8_t>},
    {"mmioRead16", MmioRead<uint16_t>},
    {"mmioRead32", MmioRead<uint32_t>},
    {"mmioRead64", MmioRead<uint64_t>},
    {"mmioWrite8", MmioWrite<uint8_t>},
    {"mmioWrite16", MmioWrite<uint16_t>},
    {"mmioWrite32", MmioWrite<uint32_t>},
    {"mmioWrite64", MmioWrite<uint64_t>},
};

}  // namespace iommufd_addon
