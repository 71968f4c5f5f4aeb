// Compiled (syntax only) by test/host/abi.test.ts once per kernel version, against that
// version's own uapi headers: the generated tables of native/uapi_layout.h and
// lib/uapi/layout.ts must say what sizeof, offsetof and the headers' macros say.
#include <cstddef>
#include <linux/iommufd.h>
#include <linux/vfio.h>
#include "iommufd_test.h"
#include "../../native/uapi_layout.h"

namespace u = iommufd_uapi;

#define SAME(ours, theirs) \
  static_assert(static_cast<unsigned long long>(ours) == static_cast<unsigned long long>(theirs), #ours " == " #theirs)

constexpr const u::Layout& L = u::kLayouts[LAYOUT_INDEX];
static_assert(L.major == LAYOUT_MAJOR && L.minor == LAYOUT_MINOR, "kLayouts order");
static_assert(sizeof(struct iommu_test_cmd) <= u::kMaxStructSize, "kMaxStructSize");

// One assertion per fact of this version's tables, written by the test from lib/uapi/layout.ts.
#include "checks.h"
