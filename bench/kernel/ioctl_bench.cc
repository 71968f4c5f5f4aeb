// The C side of the TS-vs-C benchmark: the same three workloads as
// bench/kernel/inside.mjs, straight ioctls on /dev/iommu, using the project's
// own struct definitions (native/uapi.h). Prints one JSON object.
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

#include "../../native/uapi.h"

namespace u = iommufd_uapi;

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
  u::IoasAlloc cmd = {sizeof(cmd), 0, 0};
  Check(ioctl(fd, u::kIommuIoasAlloc, &cmd), "IOAS_ALLOC");
  return cmd.out_ioas_id;
}

static void Map(uint32_t ioas, void* va, uint64_t length, uint64_t iova) {
  u::IoasMap cmd = {};
  cmd.size = sizeof(cmd);
  cmd.flags = 7;  // FIXED_IOVA | WRITEABLE | READABLE
  cmd.ioas_id = ioas;
  cmd.user_va = reinterpret_cast<uintptr_t>(va);
  cmd.length = length;
  cmd.iova = iova;
  Check(ioctl(fd, u::kIommuIoasMap, &cmd), "IOAS_MAP");
}

static void Unmap(uint32_t ioas, uint64_t iova, uint64_t length) {
  u::IoasUnmap cmd = {};
  cmd.size = sizeof(cmd);
  cmd.ioas_id = ioas;
  cmd.iova = iova;
  cmd.length = length;
  Check(ioctl(fd, u::kIommuIoasUnmap, &cmd), "IOAS_UNMAP");
}

static u::TestCmd TestCmd(uint32_t op, uint32_t id) {
  u::TestCmd cmd;
  memset(&cmd, 0, sizeof(cmd));
  cmd.size = sizeof(cmd);
  cmd.op = op;
  cmd.id = id;
  return cmd;
}

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
  auto create = TestCmd(u::kTestOpCreateAccess, ioas);
  Check(ioctl(fd, u::kIommuTestCmd, &create), "CREATE_ACCESS");
  int access = static_cast<int>(create.create_access.out_access_fd);
  uint8_t tmp[64];
  int rw_ops = 0;
  t0 = Now();
  for (uint64_t iova = kIova + 4096 - 50; iova < kIova + 4096 + 50; iova++) {
    for (uint64_t length = 1; length < sizeof(tmp); length++) {
      for (uint32_t flags : {0u, 1u}) {  // read, then MOCK_ACCESS_RW_WRITE
        auto cmd = TestCmd(u::kTestOpAccessRw, static_cast<uint32_t>(access));
        cmd.access_rw.iova = iova;
        cmd.access_rw.length = length;
        cmd.access_rw.uptr = reinterpret_cast<uintptr_t>(tmp);
        cmd.access_rw.flags = flags;
        Check(ioctl(fd, u::kIommuTestCmd, &cmd), "ACCESS_RW");
        rw_ops++;
      }
    }
  }
  double rw = Now() - t0;
  close(access);
  Unmap(ioas, kIova, 4 * 4096);

  // (c) 1 000 x map + unmap of 2 MiB with a mock domain attached.
  auto mock = TestCmd(u::kTestOpMockDomain, ioas);
  Check(ioctl(fd, u::kIommuTestCmd, &mock), "MOCK_DOMAIN");
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
    if (ioctl(fd, u::kIommuDestroy, zeroes) != -1 || errno != EINVAL) return perror("IOMMU_DESTROY size 0"), 1;
  }
  double nullIoctl = Now() - t0;

  printf("{\"map4k\": %.9f, \"accessRw\": %.9f, \"accessRwOps\": %d, \"map2mDomain\": %.9f, \"nullIoctl\": %.9f}\n", map4k, rw,
         rw_ops, map2m, nullIoctl);
  return 0;
}
