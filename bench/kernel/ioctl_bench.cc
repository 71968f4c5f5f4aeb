// The C side of the TS-vs-C benchmark: the same three workloads as
// bench/kernel/inside.mjs, straight ioctls on /dev/iommu, using the project's
// own layouts for the running kernel (native/cmd.h, as the addon). Prints one JSON object.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <initializer_list>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../native/cmd.h"

using iommufd_addon::Cmd;
using iommufd_addon::IommufdRequest;
static const iommufd_uapi::Layout& L = iommufd_addon::Uapi();

static int fd;

static double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void Check(int rc, const char* what) {
  if (rc != 0) {
    perror(what);
    exit(1);
  }
}

static uint32_t IoasAlloc() {
  Cmd cmd(L.iommu_ioas_alloc.sizeof_);
  Check(ioctl(fd, IommufdRequest(L.ioctl.ioas_alloc.nr), cmd.data()), "IOAS_ALLOC");
  return cmd.Get32(L.iommu_ioas_alloc.out_ioas_id);
}

static void Map(uint32_t ioas, void* va, uint64_t length, uint64_t iova) {
  const auto& f = L.iommu_ioas_map;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.flags, 7);  // FIXED_IOVA | WRITEABLE | READABLE
  cmd.Set32(f.ioas_id, ioas);
  cmd.Set64(f.user_va, reinterpret_cast<uintptr_t>(va));
  cmd.Set64(f.length, length);
  cmd.Set64(f.iova, iova);
  Check(ioctl(fd, IommufdRequest(L.ioctl.ioas_map.nr), cmd.data()), "IOAS_MAP");
}

static void Unmap(uint32_t ioas, uint64_t iova, uint64_t length) {
  const auto& f = L.iommu_ioas_unmap;
  Cmd cmd(f.sizeof_);
  cmd.Set32(f.ioas_id, ioas);
  cmd.Set64(f.iova, iova);
  cmd.Set64(f.length, length);
  Check(ioctl(fd, IommufdRequest(L.ioctl.ioas_unmap.nr), cmd.data()), "IOAS_UNMAP");
}

static Cmd TestCmd(uint32_t op, uint32_t id) {
  Cmd cmd(L.iommu_test_cmd.sizeof_);
  cmd.Set32(L.iommu_test_cmd.op, op);
  cmd.Set32(L.iommu_test_cmd.id, id);
  return cmd;
}

static const unsigned long kTestCmd = IommufdRequest(L.ioctl.test_cmd.nr);

int main() {
  const uint64_t kIova = 1ull << 24;
  fd = open("/dev/iommu", O_RDWR);
  if (fd < 0) return perror("/dev/iommu"), 1;
  const size_t two_mib = 2 << 20;
  auto* buffer = static_cast<uint8_t*>(
      mmap(nullptr, two_mib, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  memset(buffer, 0x5a, two_mib);

  // (a) 10 000 x map + unmap of 4 KiB at a fixed IOVA, no domain.
  uint32_t ioas = IoasAlloc();
  double t0 = Now();
  for (int i = 0; i < 10000; i++) {
    Map(ioas, buffer, 4096, kIova);
    Unmap(ioas, kIova, 4096);
  }
  double map4k = Now() - t0;

  // (b) the selftest's access_rw sweep: IOVAs +-50 around a page boundary x lengths 1..63, read then write.
  Map(ioas, buffer, 4 * 4096, kIova);
  auto create = TestCmd(L.test_op.create_access.op, ioas);
  Check(ioctl(fd, kTestCmd, create.data()), "CREATE_ACCESS");
  int access = static_cast<int>(create.Get32(L.iommu_test_cmd.create_access_out_access_fd));
  uint8_t tmp[64];
  int rw_ops = 0;
  t0 = Now();
  for (uint64_t iova = kIova + 4096 - 50; iova < kIova + 4096 + 50; iova++) {
    for (uint64_t length = 1; length < sizeof(tmp); length++) {
      for (uint32_t flags : {0u, 1u}) {  // read, then MOCK_ACCESS_RW_WRITE
        auto cmd = TestCmd(L.test_op.access_rw.op, static_cast<uint32_t>(access));
        cmd.Set64(L.iommu_test_cmd.access_rw_iova, iova);
        cmd.Set64(L.iommu_test_cmd.access_rw_length, length);
        cmd.Set64(L.iommu_test_cmd.access_rw_uptr, reinterpret_cast<uintptr_t>(tmp));
        cmd.Set32(L.iommu_test_cmd.access_rw_flags, flags);
        Check(ioctl(fd, kTestCmd, cmd.data()), "ACCESS_RW");
        rw_ops++;
      }
    }
  }
  double rw = Now() - t0;
  close(access);
  Unmap(ioas, kIova, 4 * 4096);

  // (c) 1 000 x map + unmap of 2 MiB with a mock domain attached.
  auto mock = TestCmd(L.test_op.mock_domain.op, ioas);
  Check(ioctl(fd, kTestCmd, mock.data()), "MOCK_DOMAIN");
  t0 = Now();
  for (int i = 0; i < 1000; i++) {
    Map(ioas, buffer, two_mib, kIova);
    Unmap(ioas, kIova, two_mib);
  }
  double map2m = Now() - t0;

  // (d) 20 000 x an ioctl the kernel refuses at once (IOMMU_DESTROY with size 0:
  // EINVAL): the floor of any call, which TS pays on top of its N-API crossing.
  alignas(8) uint8_t zeroes[64] = {};
  t0 = Now();
  for (int i = 0; i < 20000; i++) {
    if (ioctl(fd, IommufdRequest(L.ioctl.destroy.nr), zeroes) != -1 || errno != EINVAL) return perror("IOMMU_DESTROY size 0"), 1;
  }
  double nullIoctl = Now() - t0;

  printf("{\"map4k\": %.9f, \"accessRw\": %.9f, \"accessRwOps\": %d, \"map2mDomain\": %.9f, \"nullIoctl\": %.9f}\n", map4k, rw,
         rw_ops, map2m, nullIoctl);
  return 0;
}
