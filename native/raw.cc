// rawIoctl(): one ioctl on /dev/iommu with caller-built argument bytes, for
// tests that must send what the typed API never would (short or over-long
// structs, bad argsz, unknown ioctl numbers, a NULL argument).
//
// The addon never lets the kernel read or write outside the bytes it is given,
// and never lets raw bytes name other user memory. The rule, checked here in
// C++ (lib/api/raw-ioctl.ts checks the same in TypeScript first):
//
//  * `request` must be _IO(';', nr): the iommufd type (';', shared with VFIO),
//    no direction or size bits. Anything else is a RangeError.
//  * `arg` null/undefined passes NULL (the kernel answers EFAULT where it reads).
//  * `arg` a number is allowed only for VFIO_GET_API_VERSION,
//    VFIO_CHECK_EXTENSION and VFIO_SET_IOMMU, whose argument is an integer (u32).
//  * `arg` bytes (ArrayBuffer, TypedArray, DataView, Buffer) are copied into
//    a private buffer, checked, handed to the kernel, and copied back:
//    - VFIO_IOMMU_GET_INFO / MAP_DMA / UNMAP_DMA: the kernel always reads the
//      fixed part (minsz: 16 / 32 / 24 bytes) and may write up to argsz (the
//      u32 at offset 0), so the bytes must hold max(minsz, argsz). MAP_DMA's
//      vaddr must be 0.
//    - everything else uses the iommufd layout: the kernel reads the u32
//      `size` at offset 0, then `size` bytes, and writes back at most `size`
//      bytes, so the bytes must hold max(4, size). For the commands of the
//      running kernel's table of uapi_layout.h (Uapi(), picked by uname: 6.12's
//      commands on 6.12, 7.3's on 7.3; lib/api/raw-ioctl.ts checks by the same
//      table, the backend's uapiVersion), every user-pointer field inside
//      `size` must be 0 (the kernel can then only fault on NULL); for
//      IOMMU_TEST_CMD that is per op, and an op the table does not know must
//      have only zero bytes after its 16-byte header. An ioctl number the table
//      does not know must have only zero bytes after `size`. Bytes past a known
//      struct are passed through (the kernel requires them to be zero: E2BIG).
//      File descriptors and IOVAs are not user pointers and pass.
//    Violations are a RangeError (lengths) or a TypeError (pointer fields).
//  * The ioctl's non-negative return value is returned; -1 throws the
//    IommufdError for errno, named `opName`.
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "addon.h"
#include "cmd.h"

namespace iommufd_addon {
namespace {

// The commands whose user pointers are known: those of the running kernel's table.
const uapi::Layout& Table() { return Uapi(); }

// Copies n bytes between JS memory and the private copy through the kernel
// (process_vm_readv/writev on this process), so a page the process unmapped
// (DmaBuffer.unsafeUnmap) is an error here, never a SIGSEGV: lib/api/raw-ioctl.ts
// refuses such memory first, but a batch or a direct addon call may not have.
// Where the system calls are refused (seccomp), plain memcpy.
bool CopyChecked(void* to, const void* from, size_t n, bool into_js) {
  if (n == 0) return true;
  struct iovec local = {into_js ? const_cast<void*>(from) : to, n};
  struct iovec remote = {into_js ? to : const_cast<void*>(from), n};
  ssize_t done = into_js ? process_vm_writev(getpid(), &local, 1, &remote, 1, 0)
                         : process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
  if (done == static_cast<ssize_t>(n)) return true;
  if (done < 0 && (errno == ENOSYS || errno == EPERM)) {
    std::memcpy(to, from, n);
    return true;
  }
  return false;
}

uint32_t LoadU32(const std::vector<uint8_t>& bytes, size_t at) {
  uint32_t v;
  std::memcpy(&v, bytes.data() + at, sizeof(v));
  return v;
}

bool ZeroRange(const std::vector<uint8_t>& bytes, size_t from, size_t to) {
  for (size_t i = from; i < to && i < bytes.size(); i++)
    if (bytes[i] != 0) return false;
  return true;
}

// Every user-pointer field, as far as the kernel reads it (`limit` bytes), is 0.
void CheckPointers(Napi::Env env, const std::vector<uint8_t>& bytes, size_t limit,
                   const std::vector<size_t>& pointers, const std::string& what) {
  for (size_t at : pointers) {
    if (!ZeroRange(bytes, at, std::min(at + 8, limit)))
      throw Napi::TypeError::New(
          env, what + ": the user-pointer field at offset " + std::to_string(at) +
                   " must be 0 in a raw ioctl (raw bytes may not name other memory; use the typed API)");
  }
}

void CheckIommufdLayout(Napi::Env env, unsigned nr, const std::vector<uint8_t>& bytes) {
  if (bytes.size() < 4) throw Napi::RangeError::New(env, "raw iommufd ioctl: the argument needs at least the 4-byte size field");
  uint32_t size = LoadU32(bytes, 0);
  if (size > bytes.size())
    throw Napi::RangeError::New(env, "raw iommufd ioctl: size " + std::to_string(size) +
                                         " is larger than the " + std::to_string(bytes.size()) +
                                         "-byte argument (the kernel would read and write past it)");
  if (nr == Table().ioctl.test_cmd.nr) {
    uint32_t op = size >= 8 ? LoadU32(bytes, 4) : 0;
    const uapi::TestOpInfo* found = nullptr;
    uapi::ForEachTestOp(Table().test_op, [&](const uapi::TestOpInfo& t) {
      if (t.op == op) found = &t;
    });
    if (found) {
      std::vector<size_t> pointers;
      if (found->pointer != uapi::kAbsent) pointers.push_back(found->pointer);
      return CheckPointers(env, bytes, size, pointers, "IOMMU_TEST_CMD op " + std::to_string(op));
    }
    if (!ZeroRange(bytes, 16, size))
      throw Napi::TypeError::New(env, "IOMMU_TEST_CMD op " + std::to_string(op) +
                                          " is unknown to the addon: its bytes after the 16-byte header must be 0");
    return;
  }
  const uapi::IoctlInfo* found = nullptr;
  uapi::ForEachIoctl(Table().ioctl, [&](const uapi::IoctlInfo& io) {
    if (io.nr == nr) found = &io;
  });
  if (found) {
    std::vector<size_t> pointers;
    for (uint32_t at : found->pointers)
      if (at != uapi::kAbsent) pointers.push_back(at);
    return CheckPointers(env, bytes, size, pointers, found->name);
  }
  if (!ZeroRange(bytes, 4, size))
    throw Napi::TypeError::New(env, "ioctl nr 0x" + [&] {
      char buf[8];
      snprintf(buf, sizeof(buf), "%x", nr);
      return std::string(buf);
    }() + " is unknown to the addon: its bytes after the size field must be 0");
}

void CheckVfioLayout(Napi::Env env, unsigned long request, const std::vector<uint8_t>& bytes) {
  const auto& v = Table().vfio;
  // argsz up to the last field the kernel reads: vfio_compat.c's minsz (offsetofend()).
  size_t minsz = request == v.iommu_get_info  ? v.iommu_get_info_minsz
                 : request == v.iommu_map_dma ? v.iommu_map_dma_minsz
                                              : v.iommu_unmap_dma_minsz;
  const char* name = request == v.iommu_get_info  ? "VFIO_IOMMU_GET_INFO"
                     : request == v.iommu_map_dma ? "VFIO_IOMMU_MAP_DMA"
                                                  : "VFIO_IOMMU_UNMAP_DMA";
  if (bytes.size() < minsz)
    throw Napi::RangeError::New(env, std::string(name) + ": the argument needs at least " + std::to_string(minsz) +
                                         " bytes (the kernel always reads them)");
  uint32_t argsz = LoadU32(bytes, 0);
  if (argsz > bytes.size())
    throw Napi::RangeError::New(env, std::string(name) + ": argsz " + std::to_string(argsz) + " is larger than the " +
                                         std::to_string(bytes.size()) + "-byte argument");
  if (request == v.iommu_map_dma) CheckPointers(env, bytes, minsz, {Table().vfio_iommu_type1_dma_map.vaddr}, name);
}

// (fd, request, arg: bytes | number | null, opName?) -> the ioctl's return value
Napi::Value RawIoctl(const Args& args) {
  Napi::Env env = args.Env();
  int fd = ArgFd(args, 0);
  uint32_t request = ArgU32(args, 1, "request");
  std::string op = args[3].IsString() ? args[3].As<Napi::String>().Utf8Value() : "ioctl";
  if ((request & ~0xffu) != (uapi::kIommufdType << 8))
    throw Napi::RangeError::New(env, "raw ioctl: request must be _IO(';', nr) (the iommufd/VFIO type, no size or direction bits)");
  unsigned nr = request & 0xff;
  const auto& v = Table().vfio;
  bool integer_arg = request == v.get_api_version || request == v.check_extension || request == v.set_iommu;
  bool vfio_struct = request == v.iommu_get_info || request == v.iommu_map_dma || request == v.iommu_unmap_dma;

  Napi::Value arg = args[2];
  unsigned long value = 0;
  std::vector<uint8_t> copy;
  JsBytes bytes = {nullptr, 0};
  bool has_bytes = false;
  if (arg.IsNull() || arg.IsUndefined()) {
    value = 0;
  } else if (arg.IsNumber()) {
    if (!integer_arg)
      throw Napi::TypeError::New(env, op + ": only VFIO_GET_API_VERSION, VFIO_CHECK_EXTENSION and VFIO_SET_IOMMU take an integer argument");
    value = ArgU32(args, 2, "arg");
  } else {
    if (integer_arg) throw Napi::TypeError::New(env, op + ": takes an integer argument, not bytes");
    bytes = ArgBytes(args, 2);
    if (bytes.data == nullptr) throw Napi::RangeError::New(env, op + ": the argument memory is detached or freed");
    copy.resize(bytes.length);
    if (!CopyChecked(copy.data(), bytes.data, bytes.length, false))
      throw Napi::RangeError::New(env, op + ": the argument's memory cannot be read (unmapped by the process)");
    if (vfio_struct)
      CheckVfioLayout(env, request, copy);
    else
      CheckIommufdLayout(env, nr, copy);
    has_bytes = true;
    value = reinterpret_cast<unsigned long>(copy.data());
  }

  int rc = RetryOnEintr([&] { return ioctl(fd, request, value); });
  int err = errno;
  // The kernel may have written results (or partial ones) before failing.
  if (has_bytes && !CopyChecked(bytes.data, copy.data(), copy.size(), true) && rc != -1)
    throw Napi::RangeError::New(env, op + ": the argument's memory cannot be written back (unmapped by the process)");
  if (rc == -1) ThrowErrno(env, err, op.c_str());
  return Napi::Number::New(env, rc);
}

}  // namespace

const std::vector<OpEntry> kRawOps = {
    {"rawIoctl", RawIoctl},
};

}  // namespace iommufd_addon
