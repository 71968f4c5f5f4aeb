// batch(): a list of ops run by one native call, stopping at the first error.
//
// lib/api/batch.ts encodes the hot ops (IOAS map/unmap, the mock's access_rw) as
// fixed records in typed arrays, so running them reads no JS values at all:
//   code:  Float64Array, kStride numbers per op: [opcode, a, b, c, d, e]
//   wide:  BigUint64Array, 2 per op: u64 arguments
//   out:   BigUint64Array, 1 per op: u64 results
// Any other op is a tuple ([name, ...args]) dispatched through the op table;
// its record is [kOpTuple, index into tuples]. lib/backend/batch-encoding.ts has the same constants.
#include <cstring>
#include <string>
#include <vector>

#include "addon.h"
#include "cmd.h"

namespace iommufd_addon {

namespace {

constexpr size_t kStride = 6;

enum Opcode : uint32_t {
  kOpTuple = 0,      // a: tuple index
  kOpIoasMap = 1,    // a: ioasId, b: flags, c: memory index, d: offset, e: length; wide[0]: iova in/out
  kOpIoasUnmap = 2,  // a: ioasId; wide[0]: iova, wide[1]: length in, unmapped out
  kOpAccessRw = 3,   // a: accessFd, b: flags, c: memory index, d: offset, e: length; wide[0]: iova
};

[[noreturn]] __attribute__((noinline)) void BadField(Napi::Env env, size_t op, size_t slot) {
  throw Napi::RangeError::New(env, "batch op " + std::to_string(op) + ": field " + std::to_string(slot) +
                                       " is not an integer in range");
}

// A record's number at `slot`, which must be an integer in [0, max] (max <=
// 2^53, so the truncation is exact for integers and only for them). Read for
// every op of a batch: inline, with the throw out of line.
inline uint64_t Field(Napi::Env env, const double* record, size_t op, size_t slot, double max) {
  double d = record[slot];
  if (!(d >= 0 && d <= max) || static_cast<double>(static_cast<uint64_t>(d)) != d) BadField(env, op, slot);
  return static_cast<uint64_t>(d);
}

constexpr double kU32Max = 4294967295.0;
constexpr double kSafeMax = 9007199254740991.0;

// One decoded record, checked before anything runs.
struct Step {
  uint32_t opcode;
  uint32_t id;     // ioasId, accessFd or tuple index
  uint32_t flags;
  uint64_t uptr;   // checked user address (map, access_rw)
  uint64_t length;
  uint32_t memory; // memory index and offset, to check the address again
  uint64_t offset;
  OpFn fn;         // tuple ops
};

// The data of a typed array in one N-API call, which (unlike ArrayBuffer().Data())
// also works on a SharedArrayBuffer; null when detached or empty.
template <typename T>
T* TypedData(Napi::Env env, const Napi::Value& v, napi_typedarray_type type, size_t* count, const char* what) {
  napi_typedarray_type got;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, v, &got, count, &data, nullptr, nullptr) != napi_ok || got != type)
    throw Napi::TypeError::New(env, std::string("batch: ") + what + " has the wrong type");
  return static_cast<T*>(data);
}

// Memory entry m as the kernel will see it now: a Uint8Array, maybe of a
// SharedArrayBuffer; detached memory has no bytes (every use fails).
JsBytes MemoryAt(Napi::Env env, const Napi::Array& memories, uint32_t m) {
  napi_typedarray_type type;
  size_t count = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, memories.Get(m), &type, &count, &data, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array)
    throw Napi::TypeError::New(env, "batch: memories must be Uint8Arrays");
  return {static_cast<uint8_t*>(data), count};
}

}  // namespace

// batch(fd, code, wide, out, memories, tuples, failNth) -> { done, tupleResults, error, injected }
//   done: how many ops succeeded; out[i]: the u64 result of map/unmap op i;
//   tupleResults[k]: the result of tuple k (when it ran).
// With failNth > 0, /proc/thread-self/fail-nth is armed right before the first
// op and read back right after the last, so nothing else in this thread can
// consume the injected failure; `injected` says whether it fired.
Napi::Value Batch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args call(info);
  int fd = ArgFd(call, 0);
  size_t code_len = 0;
  size_t wide_len = 0;
  const double* code = TypedData<double>(env, info[1], napi_float64_array, &code_len, "code");
  size_t out_len = 0;
  const uint64_t* wide = TypedData<uint64_t>(env, info[2], napi_biguint64_array, &wide_len, "wide");
  uint64_t* out = TypedData<uint64_t>(env, info[3], napi_biguint64_array, &out_len, "out");
  if (!info[4].IsArray() || !info[5].IsArray())
    throw Napi::TypeError::New(env, "batch(fd, code, wide, out, memories, tuples, failNth)");
  auto memories = info[4].As<Napi::Array>();
  auto tuples = info[5].As<Napi::Array>();
  uint32_t fail_nth = info[6].IsUndefined() ? 0 : ArgU32(call, 6, "failNth");
  if (code_len % kStride != 0 || wide_len != code_len / kStride * 2 || out_len != code_len / kStride)
    throw Napi::RangeError::New(env, "batch: code, wide and out do not describe the same number of ops");
  size_t count = code_len / kStride;

  // Decode and check every op first: a bad op must not leave a half-run batch behind.
  std::vector<JsBytes> memory(memories.Length());
  for (uint32_t m = 0; m < memories.Length(); m++) memory[m] = MemoryAt(env, memories, m);
  std::vector<Napi::Array> tuple_args(tuples.Length());
  std::vector<Step> steps(count);
  for (size_t i = 0; i < count; i++) {
    const double* r = code + i * kStride;
    Step& s = steps[i];
    s.opcode = static_cast<uint32_t>(Field(env, r, i, 0, kOpAccessRw));
    s.id = static_cast<uint32_t>(Field(env, r, i, 1, kU32Max));
    if (s.opcode == kOpTuple) {
      if (s.id >= tuples.Length()) throw Napi::RangeError::New(env, "batch op " + std::to_string(i) + ": no such tuple");
      Napi::Value entry = tuples.Get(s.id);
      if (!entry.IsArray()) throw Napi::TypeError::New(env, "batch op " + std::to_string(i) + " must be [name, ...args]");
      tuple_args[s.id] = entry.As<Napi::Array>();
      Napi::Value name = tuple_args[s.id].Get(0u);
      if (!name.IsString()) throw Napi::TypeError::New(env, "batch op " + std::to_string(i) + " must start with its name");
      s.fn = FindOp(env, name.As<Napi::String>().Utf8Value());
      if (s.fn == nullptr) throw Napi::TypeError::New(env, "unknown batch op " + name.As<Napi::String>().Utf8Value());
      continue;
    }
    if (s.opcode == kOpIoasUnmap) continue;
    s.flags = static_cast<uint32_t>(Field(env, r, i, 2, kU32Max));
    size_t m = Field(env, r, i, 3, kU32Max);
    if (m >= memory.size()) throw Napi::RangeError::New(env, "batch op " + std::to_string(i) + ": no such memory");
    s.length = Field(env, r, i, 5, kSafeMax);
    s.memory = static_cast<uint32_t>(m);
    s.offset = Field(env, r, i, 4, kSafeMax);
    s.uptr = CheckedUptr(env, memory[m], s.offset, s.length);
  }

  // Tuple results are kept here and stored into the array after the last op:
  // storing runs JS (a setter on Array.prototype), and JS may free memory.
  std::vector<napi_value> tuple_results(tuples.Length(), nullptr);
  // A tuple op may run JS (a setter or getter on the objects it builds or
  // reads), which may free, detach or shrink memory a later record names:
  // those records check their address again, against the memory as it is then.
  bool js_ran = false;
  Napi::Value error = env.Null();  // a tuple op's exception
  bool tuple_threw = false;        // (a flag: testing `error` per op would cost an N-API call)
  int failed_errno = 0;            // or an encoded op's errno, made an error after disarming
  const char* failed_op = nullptr;
  size_t done = 0;
  if (fail_nth > 0) {
    int err = ArmFailNth(fail_nth);
    if (err != 0) ThrowErrno(env, err, "write(/proc/thread-self/fail-nth)");
  }
  const uapi::Layout& L = Uapi();
  for (; done < count; done++) {
    Step& s = steps[done];
    const uint64_t* w = wide + done * 2;
    int err = 0;
    const char* op = nullptr;
    if (js_ran && (s.opcode == kOpIoasMap || s.opcode == kOpAccessRw)) {
      try {
        s.uptr = CheckedUptr(env, MemoryAt(env, memories, s.memory), static_cast<size_t>(s.offset),
                             static_cast<size_t>(s.length));
      } catch (const Napi::Error& e) {
        error = e.Value();
        tuple_threw = true;
        break;
      }
    }
    switch (s.opcode) {
      case kOpIoasMap: {
        const auto& f = L.iommu_ioas_map;
        Cmd cmd(f.sizeof_);
        cmd.Set32(f.flags, s.flags);
        cmd.Set32(f.ioas_id, s.id);
        cmd.Set64(f.user_va, s.uptr);
        cmd.Set64(f.length, s.length);
        cmd.Set64(f.iova, w[0]);
        err = IoctlErrno(fd, IommufdRequest(L.ioctl.ioas_map.nr), cmd.data());
        op = "IOMMU_IOAS_MAP";
        if (err == 0) out[done] = cmd.Get64(f.iova);
        break;
      }
      case kOpIoasUnmap: {
        const auto& f = L.iommu_ioas_unmap;
        Cmd cmd(f.sizeof_);
        cmd.Set32(f.ioas_id, s.id);
        cmd.Set64(f.iova, w[0]);
        cmd.Set64(f.length, w[1]);
        err = IoctlErrno(fd, IommufdRequest(L.ioctl.ioas_unmap.nr), cmd.data());
        op = "IOMMU_IOAS_UNMAP";
        if (err == 0) out[done] = cmd.Get64(f.length);
        break;
      }
      case kOpAccessRw: {
        const auto& t = L.iommu_test_cmd;
        Cmd cmd(t.sizeof_);
        cmd.Set32(t.op, L.test_op.access_rw.op);
        cmd.Set32(t.id, s.id);
        cmd.Set32(t.access_rw_flags, s.flags);
        cmd.Set64(t.access_rw_iova, w[0]);
        cmd.Set64(t.access_rw_uptr, s.uptr);
        cmd.Set64(t.access_rw_length, s.length);
        err = IoctlErrno(fd, IommufdRequest(L.ioctl.test_cmd.nr), cmd.data());
        op = "IOMMU_TEST_OP_ACCESS_RW";
        break;
      }
      default:  // kOpTuple
        js_ran = true;
        try {
          tuple_results[s.id] = GuardOutOfMemory(env, [&] { return s.fn(Args(env, info[0], tuple_args[s.id])); });
        } catch (const Napi::Error& e) {
          error = e.Value();
          tuple_threw = true;
        }
        break;
    }
    if (err != 0) {
      failed_errno = err;
      failed_op = op;
    }
    if (err != 0 || tuple_threw) break;
  }
  bool injected = false;
  if (fail_nth > 0) {
    int err = DisarmFailNth(&injected);
    if (err != 0) ThrowErrno(env, err, "read(/proc/thread-self/fail-nth)");
  }
  if (failed_errno != 0) error = ErrnoError(env, failed_errno, failed_op).Value();
  auto results = Napi::Array::New(env, tuples.Length());
  for (uint32_t k = 0; k < tuple_results.size(); k++)
    if (tuple_results[k] != nullptr) results.Set(k, Napi::Value(env, tuple_results[k]));

  Napi::Object outcome = NewObject(env);
  outcome.Set("done", Napi::Number::New(env, static_cast<double>(done)));
  outcome.Set("tupleResults", results);
  outcome.Set("error", error);
  outcome.Set("injected", Napi::Boolean::New(env, injected));
  return outcome;
}

}  // namespace iommufd_addon
