// tests/fuzz/fuzz_c_abi.cpp: libFuzzer over every entry point of the C ABI, as Python, Rust or
// Julia code would call it: bytes decode into a sequence of calls with arbitrary op ids and
// parameters (NaN, +-inf, negative, huge), dtypes, backends and `from` values (invalid ones too),
// sizes (0, negative, overflowing, up to a few thousand), buffers allocated exactly as large as the
// call is told (so AddressSanitizer sees any access past them), null pointers, exact in-place and
// partially overlapping outputs. It aborts when
//   - a call the header says must be refused returns ACTK_OK (bad enum, negative or overflowing
//     size, null buffer with elements, partial overlap, unknown op),
//   - any call returns ACTK_ERROR_INTERNAL,
//   - a failed call leaves actk_last_error() empty.
// Built with Clang (-fsanitize=fuzzer,address,undefined; the library with fuzzer-no-link); CI runs
// it for a bounded time over tests/fuzz/corpus. See tests/fuzz/CMakeLists.txt.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "actk/actk_c.h"

namespace {

/// Reads fixed-size values off the input; zeros once it runs out.
struct Reader {
  const std::uint8_t* p;
  std::size_t left;
  template <class T> T get() {
    T v{};
    const std::size_t k = left < sizeof(T) ? left : sizeof(T);
    std::memcpy(&v, p, k);
    p += k;
    left -= k;
    return v;
  }
  std::uint8_t byte() { return get<std::uint8_t>(); }
  template <class T> T pick(const T* table, std::size_t count) { return table[byte() % count]; }
};

const double kParams[] = {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                          -std::numeric_limits<double>::infinity(), 0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, 20.0,
                          1e300, -1e300, 1e-300, 6.0, -3.0};
const int kDtypes[] = {ACTK_FLOAT32, ACTK_FLOAT64, ACTK_FLOAT16, ACTK_BFLOAT16, ACTK_FLOAT32, ACTK_BFLOAT16, 4, 7, -1,
                       std::numeric_limits<int>::max()};
const int kBackends[] = {ACTK_BACKEND_AUTO, ACTK_BACKEND_CPU, ACTK_BACKEND_CPU, ACTK_BACKEND_CUDA, 3, -1, 9};
const int kFroms[] = {ACTK_FROM_INPUT, ACTK_FROM_OUTPUT, ACTK_FROM_INPUT, 2, -1, 5};
const std::int64_t kSizes[] = {0, 1, 2, 3, 7, 8, 9, 16, 31, 33, 64, 255, 1000, 4097, -1, -7,
                               std::int64_t{1} << 62, std::numeric_limits<std::int64_t>::max(),
                               std::numeric_limits<std::int64_t>::min(), std::int64_t{1} << 31};
constexpr std::int64_t kMaxAlloc = 1 << 14;  // elements: larger sizes get no buffer (null)

bool valid_dtype(int d) { return d >= 0 && d <= 3; }
std::size_t elem_size(int d) { return d == ACTK_FLOAT64 ? 8 : (d == ACTK_FLOAT32 ? 4 : 2); }

char g_call[512];  // the call being made, for the report

[[noreturn]] void die(const char* what, int entry, actk_status s) {
  std::fprintf(stderr, "fuzz_c_abi: entry %d: %s (status %d, last error '%s')\n  call: %s\n", entry, what,
               static_cast<int>(s), actk_last_error(), g_call);
  std::abort();
}

/// Buffers of exactly `count` elements (ASan's redzones start right after each), filled from the
/// input; null when count <= 0, count is too large to allocate, or the input asks for null.
struct Arena {
  std::vector<void*> blocks;
  ~Arena() {
    for (void* b : blocks) std::free(b);
  }
  void* make(Reader& r, std::int64_t count, std::size_t elem, bool allow_null = true) {
    if (allow_null && r.byte() % 16 == 0) return nullptr;
    if (count <= 0 || count > kMaxAlloc) return nullptr;
    const std::size_t bytes = static_cast<std::size_t>(count) * elem;
    void* b = std::malloc(bytes);
    blocks.push_back(b);
    auto* u = static_cast<std::uint8_t*>(b);
    for (std::size_t i = 0; i < bytes; ++i) u[i] = r.left ? r.byte() : static_cast<std::uint8_t>(i * 37);
    return b;
  }
};

/// An output: its own buffer, or (exact in place) the input itself, or (partial overlap) the
/// input shifted by one element when it has room.
void* output(Reader& r, Arena& a, void* in, std::int64_t count, std::size_t elem, bool* overlap) {
  const std::uint8_t how = r.byte() % 8;
  if (how == 0 && in != nullptr) return in;  // in place
  if (how == 1 && in != nullptr && count > 1) {
    *overlap = true;
    return static_cast<std::uint8_t*>(in) + elem;  // partial overlap: one element past, count - 1 left
  }
  return a.make(r, count, elem);
}

void check(int entry, actk_status s, bool must_fail) {
  if (s == ACTK_ERROR_INTERNAL) die("returned ACTK_ERROR_INTERNAL", entry, s);
  if (s != ACTK_OK && actk_last_error()[0] == '\0') die("failed with an empty actk_last_error()", entry, s);
  if (s == ACTK_OK && must_fail) die("accepted a call the header says must be refused", entry, s);
}

void one_call(Reader& r) {
  const int entry = r.byte() % 16;
  const int nops = actk_op_count();
  int op = r.byte() % (nops + 2);
  if (op == nops) op = r.get<int>();  // anything
  const bool op_bad = op < 0 || op >= nops;
  double params[2] = {r.pick(kParams, 16), r.pick(kParams, 16)};
  const double* pp = r.byte() % 4 == 0 ? nullptr : params;
  const int dtype = r.pick(kDtypes, 10), backend = r.pick(kBackends, 7), from = r.pick(kFroms, 6);
  const bool enums_bad = !valid_dtype(dtype) || backend < 0 || backend > 2;
  const std::size_t es = valid_dtype(dtype) ? elem_size(dtype) : 4;
  const std::int64_t n = r.pick(kSizes, 20), n2 = r.pick(kSizes, 20), n3 = r.pick(kSizes, 20);
  const double alpha = r.pick(kParams, 16), beta = r.byte() % 2 ? 0.0 : r.pick(kParams, 16);
  Arena a;
  bool overlap = false;
  const auto dt = static_cast<actk_dtype>(dtype);
  const auto be = static_cast<actk_backend>(backend);
  const bool neg = n < 0 || n2 < 0 || n3 < 0;
  actk_status s = ACTK_OK;
  std::snprintf(g_call, sizeof g_call, "op %d params %s%g,%g dtype %d backend %d from %d n %lld n2 %lld n3 %lld alpha %g beta %g",
                op, pp ? "" : "(null) ", params[0], params[1], dtype, backend, from, static_cast<long long>(n),
                static_cast<long long>(n2), static_cast<long long>(n3), alpha, beta);
  switch (entry) {
    case 0:
    case 1: {  // forward / forward_ex
      void* x = a.make(r, n, es);
      void* y = output(r, a, x, n, es, &overlap);
      const bool must = op_bad || enums_bad || n < 0 || (n > 0 && (x == nullptr || y == nullptr)) || overlap;
      s = entry == 0 ? actk_forward(op, pp, dt, x, y, n, be, nullptr)
                     : actk_forward_ex(op, pp, dt, x, y, n, be, nullptr, alpha, beta);
      check(entry, s, must);
      break;
    }
    case 2:
    case 3: {  // backward / backward_ex
      void* x = a.make(r, n, es);
      void* dy = a.make(r, n, es);
      void* dx = output(r, a, r.byte() % 2 ? x : dy, n, es, &overlap);
      const bool must = op_bad || enums_bad || (from != 0 && from != 1) || n < 0 ||
                        (n > 0 && (x == nullptr || dy == nullptr || dx == nullptr)) || overlap;
      const auto f = static_cast<actk_from>(from);
      s = entry == 2 ? actk_backward(op, pp, dt, f, x, dy, dx, n, be, nullptr)
                     : actk_backward_ex(op, pp, dt, f, x, dy, dx, n, be, nullptr, alpha, beta);
      check(entry, s, must);
      break;
    }
    case 4:
    case 5: {  // softmax forward / backward (outer n, axis n2, inner n3 or 1)
      const std::int64_t outer = n > 64 ? 3 : n, axis = n2, inner = r.byte() % 3 == 0 ? n3 : 1;
      const bool sizes_bad = outer < 0 || axis < 0 || inner < 0;
      std::int64_t total = 0;
      if (!sizes_bad && outer > 0 && axis > 0 && inner > 0 && axis <= kMaxAlloc && inner <= kMaxAlloc &&
          outer * axis <= kMaxAlloc && outer * axis * inner <= kMaxAlloc)
        total = outer * axis * inner;
      const bool huge = !sizes_bad && outer > 0 && axis > 0 && inner > 0 && total == 0;
      void* in = a.make(r, total, es);
      void* dy = a.make(r, total, es);
      void* out = output(r, a, in, total, es, &overlap);
      const unsigned flags = r.byte() % 5;  // 4: an unknown bit
      const bool must = enums_bad || sizes_bad || flags > 3 || overlap || huge ||
                        (total > 0 && (in == nullptr || out == nullptr || (entry == 5 && dy == nullptr)));
      s = entry == 4 ? actk_softmax_forward_ex(dt, in, out, outer, axis, inner, flags, be, nullptr, alpha, beta)
                     : actk_softmax_backward_ex(dt, in, dy, out, outer, axis, inner, flags, be, nullptr, alpha, beta);
      check(entry, s, must);
      break;
    }
    case 6:
    case 7: {  // prelu forward / backward: n elements, channels n2 (small), inner 1 or 4
      const std::int64_t channels = n2 > 64 ? 5 : n2, inner = r.byte() % 2 ? 1 : 4;
      void* x = a.make(r, n, es);
      void* al = a.make(r, channels, es);
      void* dy = a.make(r, n, es);
      void* out = output(r, a, x, n, es, &overlap);
      void* dal = a.make(r, channels, es);
      const bool must = enums_bad || n < 0 || channels < 1 || overlap ||
                        (n > 0 && (x == nullptr || al == nullptr || out == nullptr || (entry == 7 && dy == nullptr))) ||
                        (entry == 7 && dal == nullptr);
      s = entry == 6 ? actk_prelu_forward(dt, x, al, out, n, channels, inner, be, nullptr)
                     : actk_prelu_backward(dt, x, dy, al, out, dal, n, channels, inner, be, nullptr, nullptr, 0);
      check(entry, s, must);
      break;
    }
    case 8:
    case 9: {  // bias + activation: rows n (small), cols n2
      const std::int64_t rows = n > 64 ? 2 : n, cols = n2;
      const std::int64_t total = rows >= 0 && cols >= 0 && cols <= kMaxAlloc && rows * cols <= kMaxAlloc ? rows * cols : -1;
      void* x = a.make(r, total, es);
      void* bias = a.make(r, cols, es);
      void* dy = a.make(r, total, es);
      void* out = output(r, a, x, total, es, &overlap);
      void* out2 = r.byte() % 2 ? a.make(r, entry == 8 ? total : cols, es) : nullptr;  // pre or dbias
      // (bias and pre/dbias are optional: null means none)
      const bool must = op_bad || enums_bad || rows < 0 || cols < 0 || overlap ||
                        (total > 0 && (x == nullptr || out == nullptr || (entry == 9 && dy == nullptr)));
      s = entry == 8 ? actk_bias_act_forward(op, pp, dt, x, bias, out, rows, cols, out2, alpha, beta, be, nullptr)
                     : actk_bias_act_backward(op, pp, dt, x, bias, dy, out, out2, rows, cols, alpha, beta, be, nullptr, nullptr, 0);
      check(entry, s, must);
      break;
    }
    case 10:
    case 11: {  // gated: one [rows, 2 cols] tensor, gate first
      const std::int64_t rows = n > 64 ? 2 : n, cols = n2;
      const bool ok_sizes = rows >= 0 && cols >= 0 && cols <= kMaxAlloc / 2 && rows * 2 * cols <= kMaxAlloc;
      const std::int64_t total = ok_sizes ? rows * cols : -1;
      void* cat = a.make(r, ok_sizes ? 2 * total : -1, es);
      void* dy = a.make(r, total, es);
      void* y = a.make(r, total, es);
      void* value = cat != nullptr ? static_cast<std::uint8_t*>(cat) + static_cast<std::size_t>(cols) * es : nullptr;
      const std::int64_t stride = ok_sizes ? 2 * cols : cols;  // (2 * a huge cols would overflow here)
      const bool must = op_bad || enums_bad || rows < 0 || cols < 0 ||
                        (total > 0 && (cat == nullptr || (entry == 10 ? y == nullptr : dy == nullptr)));
      s = entry == 10 ? actk_gated_forward(op, pp, dt, cat, value, stride, y, rows, cols, alpha, beta, be, nullptr)
                      : actk_gated_backward(op, pp, dt, cat, value, stride, dy, cat, value, rows, cols, alpha, beta, be,
                                            nullptr);
      check(entry, s, must);
      break;
    }
    case 12: {
      actk_op_info info;
      s = actk_op_info_get(op, r.byte() % 8 ? &info : nullptr);
      check(entry, s, op_bad);
      break;
    }
    case 13: {
      char name[16];
      for (char& c : name) c = static_cast<char>('a' + r.byte() % 27);
      name[r.byte() % 16] = '\0';
      int id = -1;
      s = actk_op_from_name(name, &id);
      check(entry, s, false);
      if (s == ACTK_OK && (id < 0 || id >= nops)) die("actk_op_from_name returned an id out of range", entry, s);
      break;
    }
    default:  // the workspace queries never fail; they must not crash on any input
      (void)actk_prelu_backward_workspace_bytes(dt, n, n2, n3);
      (void)actk_bias_act_backward_workspace_bytes(dt, n, n2);
      (void)neg;
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Reader r{data, size};
  for (int k = 0; k < 4 && r.left > 0; ++k) one_call(r);
  return 0;
}
