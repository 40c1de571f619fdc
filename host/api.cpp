// host/api.cpp: the public C++ API. Validation (every argument, with messages that name the call
// and the argument), parameter defaults, backend choice, then the CPU reference or the CUDA
// launcher. Nothing here allocates or queries the device on the hot path beyond the pointer
// classification the automatic backend needs.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <utility>

#include "actk/actk.h"
#include "host/internal.h"

namespace actk {

namespace {

const OpInfo kOps[] = {
#define ACTK_X(id, fn, fo, np, n0, d0, n1, d1) {Op::id, #id, np, {n0, n1}, {d0, d1}, (fo) != 0},
    ACTK_OP_LIST(ACTK_X)
#undef ACTK_X
};
static_assert(sizeof(kOps) / sizeof(kOps[0]) == static_cast<std::size_t>(op_count), "op table size");

bool op_valid(Op op) { return static_cast<int>(op) >= 0 && static_cast<int>(op) < op_count; }

[[noreturn]] void fail(Status s, const char* call, const std::string& msg) {
  throw Error(s, std::string("actk::") + call + ": " + msg);
}

std::string num(double v) {
  std::ostringstream o;
  o.precision(17);
  o << v;
  return o.str();
}

const char* kind_name(detail::MemKind k) {
  switch (k) {
    case detail::MemKind::host: return "host";
    case detail::MemKind::device: return "device";
    case detail::MemKind::managed: return "managed";
  }
  return "?";
}

void check_enums(const char* call, Op op, DType dtype, Backend backend) {
  if (!op_valid(op))
    fail(Status::unknown_op, call, "argument 'op' = " + std::to_string(static_cast<int>(op)) + " is not an op (0.." +
                                        std::to_string(op_count - 1) + ")");
  if (dtype_size(dtype) == 0)
    fail(Status::invalid_argument, call, "argument 'dtype' = " + std::to_string(static_cast<int>(dtype)) + " is not a dtype");
  const int b = static_cast<int>(backend);
  if (b < 0 || b > 2)
    fail(Status::invalid_argument, call, "argument 'backend' = " + std::to_string(b) + " is not a backend");
  // before any early return for an empty call: the answer must not depend on n
  if (backend == Backend::cuda && !detail::cuda_built())
    fail(Status::unsupported, call, "backend cuda requested, but actk was built without CUDA (ACTK_ENABLE_CUDA=OFF or no toolkit)");
  if (backend == Backend::cuda && detail::cuda_device_count() == 0)
    fail(Status::unsupported, call, "backend cuda requested, but no CUDA device is available");
}

/// Fills defaults, checks finiteness and the op's own constraints. Returns {a, b}.
void resolve_params(const char* call, Op op, const Params& given, bool from_output, double& a, double& b) {
  const OpInfo& info = op_info(op);
  const double in[2] = {given.a, given.b};
  double out[2] = {0.0, 0.0};
  for (int i = 0; i < 2; ++i) {
    if (i >= info.n_params) {
      if (!std::isnan(in[i]))
        fail(Status::invalid_argument, call, std::string("op '") + info.name + "' takes " + std::to_string(info.n_params) +
                                                 " parameter(s), but params." + (i ? "b" : "a") + " = " + num(in[i]) +
                                                 " was given");
      continue;
    }
    out[i] = std::isnan(in[i]) ? info.param_defaults[i] : in[i];
    if (!std::isfinite(out[i]))
      fail(Status::invalid_argument, call, std::string("op '") + info.name + "': parameter '" + info.param_names[i] +
                                               "' = " + num(out[i]) + " must be finite");
  }
  const char* msg = nullptr;
  detail::with_op(op, [&](auto tag) {
    using Fn = typename decltype(tag)::fn;
    // every form checks the op's own constraints; the backward from the output adds its own
    msg = Fn::check(out[0], out[1]);
    if (msg == nullptr && from_output) msg = Fn::check_from_output(out[0], out[1]);
  });
  if (msg) {
    std::string vals;
    for (int i = 0; i < info.n_params; ++i) vals += std::string(i ? ", " : "") + info.param_names[i] + " = " + num(out[i]);
    fail(Status::invalid_argument, call, std::string("op '") + info.name + "': " + msg + " (got " + vals + ")");
  }
  a = out[0];
  b = out[1];
}

struct Buf {
  const char* name;
  const void* p;
  std::int64_t count;  // elements
  bool written;
};

void check_size(const char* call, const char* what, std::int64_t n, std::size_t elem) {
  if (n < 0) fail(Status::invalid_argument, call, std::string("argument '") + what + "' = " + std::to_string(n) + " is negative");
  if (static_cast<std::uint64_t>(n) > static_cast<std::uint64_t>(INT64_MAX) / elem)
    fail(Status::invalid_argument, call, std::string("argument '") + what + "' = " + std::to_string(n) +
                                             " elements overflows a 64-bit byte count");
}

/// Null checks, alignment to the element size, address-range wrap, partial overlap between a
/// written buffer and any other.
void check_buffers(const char* call, const Buf* bufs, int nb, std::size_t elem) {
  for (int i = 0; i < nb; ++i) {
    if (bufs[i].count > 0 && reinterpret_cast<std::uintptr_t>(bufs[i].p) % elem != 0)
      fail(Status::invalid_argument, call, std::string("argument '") + bufs[i].name + "' is not aligned to its " +
                                               std::to_string(elem) + "-byte element size");
    if (bufs[i].count > 0 && bufs[i].p == nullptr)
      fail(Status::invalid_argument, call, std::string("argument '") + bufs[i].name + "' is null but " +
                                               std::to_string(bufs[i].count) + " element(s) are to be " +
                                               (bufs[i].written ? "written" : "read"));
    const std::uint64_t start = reinterpret_cast<std::uintptr_t>(bufs[i].p);
    const std::uint64_t bytes = static_cast<std::uint64_t>(bufs[i].count) * elem;
    if (start + bytes < start)
      fail(Status::invalid_argument, call, std::string("argument '") + bufs[i].name + "': the buffer wraps the address space");
  }
  for (int i = 0; i < nb; ++i) {
    if (!bufs[i].written || bufs[i].count == 0) continue;
    const std::uint64_t s0 = reinterpret_cast<std::uintptr_t>(bufs[i].p), e0 = s0 + bufs[i].count * elem;
    for (int j = 0; j < nb; ++j) {
      if (j == i || bufs[j].count == 0) continue;
      const std::uint64_t s1 = reinterpret_cast<std::uintptr_t>(bufs[j].p), e1 = s1 + bufs[j].count * elem;
      const bool overlap = s0 < e1 && s1 < e0;
      const bool same = s0 == s1 && bufs[i].count == bufs[j].count;
      if (overlap && !(same && !bufs[j].written))
        fail(Status::invalid_argument, call, std::string("arguments '") + bufs[i].name + "' and '" + bufs[j].name +
                                                 "' overlap" + (same ? " (two outputs in one buffer)" : " partially") +
                                                 "; only an output equal to an input (in place) is allowed");
    }
  }
}

/// Whether two [rows, cols] views with the same row stride (elements), starting at a and b (both
/// aligned to elem), share an element: b - a = k * stride + (c2 - c1) with |k| < rows, |c2 - c1| < cols.
bool views_collide(const void* a, const void* b, std::int64_t rows, std::int64_t cols, std::int64_t stride, std::size_t elem) {
  if (rows <= 0 || cols <= 0) return false;
  const std::uint64_t ua = reinterpret_cast<std::uintptr_t>(a), ub = reinterpret_cast<std::uintptr_t>(b);
  const std::uint64_t gap = (ua < ub ? ub - ua : ua - ub) / elem;  // elements apart (symmetric)
  const std::uint64_t k = gap / static_cast<std::uint64_t>(stride);  // rows apart, then the remainder
  const std::uint64_t rem = gap - k * static_cast<std::uint64_t>(stride);
  const std::uint64_t r = static_cast<std::uint64_t>(rows), c = static_cast<std::uint64_t>(cols);
  return (k < r && rem < c) || (k + 1 < r && static_cast<std::uint64_t>(stride) - rem < c);
}

/// Gated ops' aliasing: an output may be an input of the same layout (in place: each element is
/// read and written by one thread), nothing else may share an element with an output. gate,
/// value, dgate and dvalue are [rows, cols] views with row stride in_stride; y and dy have stride cols.
struct View {
  const char* name;
  const void* p;
  std::int64_t stride;
  bool written;
};
void check_gated_aliasing(const char* call, const View* v, int nv, std::int64_t rows, std::int64_t cols, std::size_t elem) {
  for (int i = 0; i < nv; ++i) {
    if (!v[i].written) continue;
    for (int j = 0; j < nv; ++j) {
      if (j == i) continue;
      bool collide;
      if (v[i].stride == v[j].stride) {
        collide = views_collide(v[i].p, v[j].p, rows, cols, v[i].stride, elem);
      } else {  // different layouts: their extents must not overlap
        const std::uint64_t s0 = reinterpret_cast<std::uintptr_t>(v[i].p), s1 = reinterpret_cast<std::uintptr_t>(v[j].p);
        const std::uint64_t e0 = s0 + static_cast<std::uint64_t>((rows - 1) * v[i].stride + cols) * elem;
        const std::uint64_t e1 = s1 + static_cast<std::uint64_t>((rows - 1) * v[j].stride + cols) * elem;
        collide = s0 < e1 && s1 < e0;
      }
      const bool in_place = v[i].p == v[j].p && v[i].stride == v[j].stride && !v[j].written;
      if (collide && !in_place)
        fail(Status::invalid_argument, call, std::string("arguments '") + v[i].name + "' and '" + v[j].name +
                                                 "' share elements; an output may only be an input of the same layout (in place)");
    }
  }
}

/// classify(), with a refusal (a device pointer on another GPU) naming the call and the argument.
detail::MemKind classify_arg(const char* call, const Buf& b) {
  try {
    return detail::classify(b.p);
  } catch (const Error& e) {
    if (e.status() != Status::invalid_argument) throw;
    const std::string what = e.what();
    fail(Status::invalid_argument, call, std::string("argument '") + b.name + "' is " +
                                             (what.rfind("actk: ", 0) == 0 ? what.substr(6) : what));
  }
}

/// Picks the backend from the pointers (automatic) or checks the requested one against them.
Backend choose_backend(const char* call, Backend requested, const Buf* bufs, int nb) {
  // (backend cuda without CUDA or a device was refused by check_enums)
  if (requested != Backend::automatic && (requested == Backend::cpu || !detail::cuda_built())) {
    if (requested == Backend::cpu && detail::cuda_built() && detail::cuda_device_count() > 0) {
      for (int i = 0; i < nb; ++i)
        if (bufs[i].count > 0 && classify_arg(call, bufs[i]) == detail::MemKind::device)
          fail(Status::invalid_argument, call, std::string("backend cpu requested, but argument '") + bufs[i].name +
                                                   "' is a device pointer");
    }
    return requested;
  }
  if (!detail::cuda_built() || detail::cuda_device_count() == 0) return Backend::cpu;
  // automatic or cuda, with a device: classify every pointer
  int host = -1, dev = -1;
  for (int i = 0; i < nb; ++i) {
    if (bufs[i].count == 0) continue;
    const detail::MemKind k = classify_arg(call, bufs[i]);
    if (k == detail::MemKind::host) host = host < 0 ? i : host;
    else if (k == detail::MemKind::device) dev = dev < 0 ? i : dev;
  }
  if (requested == Backend::cuda) {
    if (host >= 0)
      fail(Status::invalid_argument, call, std::string("backend cuda requested, but argument '") + bufs[host].name +
                                               "' is a host pointer (not device-accessible)");
    return Backend::cuda;
  }
  if (host >= 0 && dev >= 0)
    fail(Status::invalid_argument, call, std::string("mixed host and device pointers: '") + bufs[host].name + "' is " +
                                             kind_name(detail::MemKind::host) + ", '" + bufs[dev].name + "' is " +
                                             kind_name(detail::MemKind::device));
  return host >= 0 ? Backend::cpu : Backend::cuda;  // all managed: the GPU
}

}  // namespace

const OpInfo* op_table() noexcept { return kOps; }

const OpInfo& op_info(Op op) {
  if (!op_valid(op))
    throw Error(Status::unknown_op, "actk::op_info: " + std::to_string(static_cast<int>(op)) + " is not an op (0.." +
                                        std::to_string(op_count - 1) + ")");
  return kOps[static_cast<int>(op)];
}

Op op_from_name(std::string_view name) {
  for (const OpInfo& o : kOps)
    if (name == o.name) return o.op;
  // suggest the name sharing the longest prefix
  const OpInfo* best = nullptr;
  std::size_t best_len = 0;
  for (const OpInfo& o : kOps) {
    std::size_t k = 0;
    while (k < name.size() && o.name[k] && o.name[k] == name[k]) ++k;
    if (k > best_len) best_len = k, best = &o;
  }
  std::string msg = "actk::op_from_name: no op named '" + std::string(name) + "'";
  if (best) msg += " (did you mean '" + std::string(best->name) + "'?)";
  throw Error(Status::unknown_op, msg);
}

const char* dtype_name(DType d) noexcept {
  switch (d) {
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::float16: return "float16";
    case DType::bfloat16: return "bfloat16";
  }
  return "invalid";
}

std::size_t dtype_size(DType d) noexcept {
  switch (d) {
    case DType::float32: return 4;
    case DType::float64: return 8;
    case DType::float16: return 2;
    case DType::bfloat16: return 2;
  }
  return 0;
}

bool cuda_available() { return detail::cuda_built() && detail::cuda_device_count() > 0; }

const char* version() noexcept {
#define ACTK_STR2(x) #x
#define ACTK_STR(x) ACTK_STR2(x)
  return ACTK_STR(ACTK_VERSION_MAJOR) "." ACTK_STR(ACTK_VERSION_MINOR) "." ACTK_STR(ACTK_VERSION_PATCH);
}

namespace {

/// count * per * sizeof(double), or SIZE_MAX where that overflows (a call of that shape is refused
/// anyway); at least one double.
std::size_t doubles_bytes(std::int64_t count, std::int64_t per) {
  if (count <= 0 || per <= 0) return sizeof(double);
  const std::size_t c = static_cast<std::size_t>(count), p = static_cast<std::size_t>(per);
  if (c > SIZE_MAX / sizeof(double) / p) return SIZE_MAX;
  return c * p * sizeof(double);
}

void check_blend(const char* call, Blend blend) {
  if (!std::isfinite(blend.alpha) || !std::isfinite(blend.beta))
    fail(Status::invalid_argument, call, "blend alpha = " + num(blend.alpha) + ", beta = " + num(blend.beta) + " must be finite");
}

void run_elementwise(const char* call, Op op, DType dtype, detail::Dir dir, const void* in, const void* dy, void* out,
                     std::int64_t n, const Params& params, Backend backend, Stream stream, Blend blend) {
  check_enums(call, op, dtype, backend);
  check_blend(call, blend);
  if (dir == detail::Dir::from_output && !op_info(op).has_backward_from_output)
    fail(Status::invalid_argument, call, std::string("op '") + op_info(op).name +
                                             "' has no backward from the output (its derivative is not a function of "
                                             "y); use From::input");
  double a, b;
  resolve_params(call, op, params, dir == detail::Dir::from_output, a, b);
  const std::size_t elem = dtype_size(dtype);
  check_size(call, "n", n, elem);
  if (n == 0) return;
  const char* in_name = dir == detail::Dir::forward ? "x" : (dir == detail::Dir::from_input ? "x" : "y");
  Buf bufs[3] = {{in_name, in, n, false},
                 {dir == detail::Dir::forward ? "y" : "dx", out, n, true},
                 {"dy", dy, dir == detail::Dir::forward ? 0 : n, false}};
  const int nb = dir == detail::Dir::forward ? 2 : 3;
  check_buffers(call, bufs, nb, elem);
  const Backend be = choose_backend(call, backend, bufs, nb);
  const detail::ElementwiseCall c{op, dir, dtype, a, b, in, dy, out, n, stream, call, blend.alpha, blend.beta};
  if (be == Backend::cpu) detail::cpu_elementwise(c);
  else detail::cuda_elementwise(c);
}

void run_prelu(const char* call, bool bwd, DType dtype, const void* x, const void* alpha, const void* dy, void* out, void* dalpha,
               std::int64_t n, std::int64_t channels, std::int64_t inner, Backend backend, Stream stream,
               void* workspace = nullptr, std::size_t workspace_bytes = 0) {
  check_enums(call, Op::prelu, dtype, backend);
  const std::size_t elem = dtype_size(dtype);
  check_size(call, "n", n, elem);
  if (channels < 1) fail(Status::invalid_argument, call, "argument 'channels' = " + std::to_string(channels) + " must be >= 1");
  if (inner < 1) fail(Status::invalid_argument, call, "argument 'inner' = " + std::to_string(inner) + " must be >= 1");
  if (channels > INT32_MAX)
    fail(Status::invalid_argument, call, "argument 'channels' = " + std::to_string(channels) + " is above 2^31 - 1");
  if (channels > 1) {
    if (channels > INT64_MAX / inner)
      fail(Status::invalid_argument, call, "channels * inner overflows a 64-bit count");
    if (n % (channels * inner) != 0)
      fail(Status::invalid_argument, call, "argument 'n' = " + std::to_string(n) + " is not a multiple of channels * inner = " +
                                               std::to_string(channels * inner) + " (layout [outer, channels, inner])");
  }
  Buf bufs[5] = {{"x", x, n, false},
                 {"alpha", alpha, n > 0 ? channels : 0, false},
                 {bwd ? "dx" : "y", out, n, true},
                 {"dy", dy, n, false},
                 {"dalpha", dalpha, channels, true}};
  const int nb = bwd ? 5 : 3;
  if (n == 0 && !bwd) return;
  check_buffers(call, bufs, nb, elem);
  if (bwd) {  // dalpha is written before dx is computed from x, dy and alpha: it may alias none of them
    const std::uint64_t d0 = reinterpret_cast<std::uintptr_t>(dalpha), d1 = d0 + static_cast<std::uint64_t>(channels) * elem;
    for (int i : {0, 1, 3}) {
      if (bufs[i].count == 0) continue;
      const std::uint64_t s0 = reinterpret_cast<std::uintptr_t>(bufs[i].p), s1 = s0 + static_cast<std::uint64_t>(bufs[i].count) * elem;
      if (d0 < s1 && s0 < d1)
        fail(Status::invalid_argument, call, std::string("arguments 'dalpha' and '") + bufs[i].name +
                                                 "' overlap; dalpha may not alias x, dy or alpha");
    }
  }
  const Backend be = choose_backend(call, backend, bufs, nb);
  if (be == Backend::cuda && workspace != nullptr && reinterpret_cast<std::uintptr_t>(workspace) % 8 != 0)
    fail(Status::invalid_argument, call, "argument 'workspace' must be 8-byte aligned");
  if (be == Backend::cuda && workspace != nullptr && workspace_bytes < prelu_backward_workspace_bytes(dtype, n, channels, inner))
    fail(Status::invalid_argument, call, "argument 'workspace_bytes' = " + std::to_string(workspace_bytes) + " is less than the " +
                                             std::to_string(prelu_backward_workspace_bytes(dtype, n, channels, inner)) +
                                             " bytes prelu_backward_workspace_bytes() asks for");
  const detail::PreluCall c{dtype, x, alpha, bwd ? dy : nullptr, out, bwd ? dalpha : nullptr, n, channels, inner, stream,
                            workspace, workspace_bytes};
  if (be == Backend::cpu) detail::cpu_prelu(c);
  else detail::cuda_prelu(c);
}

void run_softmax(const char* call, bool bwd, DType dtype, const void* in, const void* dy, void* out, std::int64_t outer,
                 std::int64_t axis, std::int64_t inner, unsigned flags, Backend backend, Stream stream, Blend blend) {
  check_enums(call, Op::identity, dtype, backend);
  check_blend(call, blend);
  if (flags & ~static_cast<unsigned>(softmax_log | softmax_masked_rows_zero))
    fail(Status::invalid_argument, call, "argument 'flags' = " + std::to_string(flags) + " has unknown bits");
  const std::size_t elem = dtype_size(dtype);
  const std::pair<const char*, std::int64_t> dims[3] = {{"outer", outer}, {"axis", axis}, {"inner", inner}};
  for (const auto& d : dims)
    if (d.second < 0) fail(Status::invalid_argument, call, std::string("argument '") + d.first + "' = " + std::to_string(d.second) + " is negative");
  std::int64_t n = 0;
  if (outer > 0 && axis > 0 && inner > 0) {
    if (outer > INT64_MAX / axis || outer * axis > INT64_MAX / inner)
      fail(Status::invalid_argument, call, "outer * axis * inner overflows a 64-bit count");
    n = outer * axis * inner;
  }
  check_size(call, "outer * axis * inner", n, elem);
  if (n == 0) return;
  Buf bufs[3] = {{bwd ? "y" : "x", in, n, false}, {bwd ? "dx" : "y", out, n, true}, {"dy", dy, bwd ? n : 0, false}};
  const int nb = bwd ? 3 : 2;
  check_buffers(call, bufs, nb, elem);
  const Backend be = choose_backend(call, backend, bufs, nb);
  const detail::SoftmaxCall c{dtype, bwd, (flags & softmax_log) != 0, (flags & softmax_masked_rows_zero) != 0, in, dy, out,
                              outer, axis, inner, stream, blend.alpha, blend.beta};
  if (be == Backend::cpu) detail::cpu_softmax(c);
  else detail::cuda_softmax(c);
}

void run_fused(const char* call, detail::FusedKind kind, Op op, DType dtype, const void* x, const void* aux, const void* dy,
               void* out, void* out2, std::int64_t rows, std::int64_t cols, std::int64_t in_stride, const Params& params,
               Blend blend, Backend backend, Stream stream, void* workspace = nullptr, std::size_t workspace_bytes = 0) {
  check_enums(call, op, dtype, backend);
  double a, b;
  resolve_params(call, op, params, false, a, b);
  check_blend(call, blend);
  const std::size_t elem = dtype_size(dtype);
  if (rows < 0) fail(Status::invalid_argument, call, "argument 'rows' = " + std::to_string(rows) + " is negative");
  if (cols < 0) fail(Status::invalid_argument, call, "argument 'cols' = " + std::to_string(cols) + " is negative");
  if (cols > 0 && rows > INT64_MAX / cols) fail(Status::invalid_argument, call, "rows * cols overflows a 64-bit count");
  const std::int64_t n = rows * cols;
  check_size(call, "rows * cols", n, elem);
  // cols alone sizes bias and dbias (and dbias's double sums), even when rows = 0
  check_size(call, "cols", cols, kind == detail::FusedKind::bias_bwd ? sizeof(double) : elem);
  const bool gated = kind == detail::FusedKind::gated_fwd || kind == detail::FusedKind::gated_bwd;
  std::int64_t span = n;  // elements a strided gate/value buffer covers
  if (gated) {
    if (in_stride < cols)
      fail(Status::invalid_argument, call, "argument 'in_stride' = " + std::to_string(in_stride) + " is less than cols = " + std::to_string(cols));
    if (n > 0) {
      if (rows - 1 > (INT64_MAX - cols) / in_stride) fail(Status::invalid_argument, call, "the strided input's extent overflows");
      span = (rows - 1) * in_stride + cols;
      check_size(call, "the strided input's extent", span, elem);
    }
  }
  if (n == 0 && !(kind == detail::FusedKind::bias_bwd && out2 != nullptr && cols > 0)) return;
  using K = detail::FusedKind;
  Buf bufs[6];
  int nb = 0;
  switch (kind) {
    case K::bias_fwd:
      bufs[nb++] = {"x", x, n, false};
      bufs[nb++] = {"bias", aux, aux ? cols : 0, false};
      bufs[nb++] = {"y", out, n, true};
      bufs[nb++] = {"pre", out2, out2 ? n : 0, true};
      break;
    case K::bias_bwd:
      bufs[nb++] = {"x", x, n, false};
      bufs[nb++] = {"bias", aux, aux && n > 0 ? cols : 0, false};
      bufs[nb++] = {"dy", dy, n, false};
      bufs[nb++] = {"dx", out, n, true};
      bufs[nb++] = {"dbias", out2, out2 ? cols : 0, true};
      break;
    case K::gated_fwd:  // strided buffers interleave: null/alignment/extent checks here, aliasing below
      bufs[nb++] = {"gate", x, span, false};
      bufs[nb++] = {"value", aux, span, false};
      bufs[nb++] = {"y", out, n, false};
      break;
    case K::gated_bwd:
      bufs[nb++] = {"gate", x, span, false};
      bufs[nb++] = {"value", aux, span, false};
      bufs[nb++] = {"dy", dy, n, false};
      bufs[nb++] = {"dgate", out, span, false};
      bufs[nb++] = {"dvalue", out2, span, false};
      break;
  }
  check_buffers(call, bufs, nb, elem);
  if (kind == K::gated_fwd) {
    const View v[] = {{"gate", x, in_stride, false}, {"value", aux, in_stride, false}, {"y", out, cols, true}};
    check_gated_aliasing(call, v, 3, rows, cols, elem);
  } else if (kind == K::gated_bwd) {
    const View v[] = {{"gate", x, in_stride, false}, {"value", aux, in_stride, false}, {"dy", dy, cols, false},
                      {"dgate", out, in_stride, true}, {"dvalue", out2, in_stride, true}};
    check_gated_aliasing(call, v, 5, rows, cols, elem);
  }
  if (kind == K::bias_bwd && out2 != nullptr) {  // dbias is written first: it may alias no input
    const std::uint64_t d0 = reinterpret_cast<std::uintptr_t>(out2), d1 = d0 + static_cast<std::uint64_t>(cols) * elem;
    for (int i : {0, 1, 2}) {
      if (bufs[i].count == 0) continue;
      const std::uint64_t s0 = reinterpret_cast<std::uintptr_t>(bufs[i].p), s1 = s0 + static_cast<std::uint64_t>(bufs[i].count) * elem;
      if (d0 < s1 && s0 < d1)
        fail(Status::invalid_argument, call, std::string("arguments 'dbias' and '") + bufs[i].name + "' overlap; dbias may not alias an input");
    }
  }
  const Backend be = choose_backend(call, backend, bufs, nb);
  if (be == Backend::cuda && workspace != nullptr &&
      (reinterpret_cast<std::uintptr_t>(workspace) % 8 != 0 || workspace_bytes < bias_act_backward_workspace_bytes(dtype, rows, cols)))
    fail(Status::invalid_argument, call, "argument 'workspace' must be 8-byte aligned and hold bias_act_backward_workspace_bytes() = " +
                                             std::to_string(bias_act_backward_workspace_bytes(dtype, rows, cols)) + " bytes");
  const detail::FusedCall c{kind, op, dtype, a, b, blend.alpha, blend.beta, x, aux, dy, out, out2, rows, cols,
                            gated ? in_stride : cols, stream, workspace, workspace_bytes};
  if (be == Backend::cpu) detail::cpu_fused(c);
  else detail::cuda_fused(c);
}

}  // namespace

std::size_t bias_act_backward_workspace_bytes(DType, std::int64_t rows, std::int64_t cols) {
  return doubles_bytes(cols, detail::dbias_row_chunks(rows, cols));
}

void bias_act_forward(Op op, DType dtype, const void* x, const void* bias, void* y, std::int64_t rows, std::int64_t cols,
                      const Params& params, void* pre, Blend blend, Backend backend, Stream stream) {
  run_fused("bias_act_forward", detail::FusedKind::bias_fwd, op, dtype, x, bias, nullptr, y, pre, rows, cols, cols, params,
            blend, backend, stream);
}

void bias_act_backward(Op op, DType dtype, const void* x, const void* bias, const void* dy, void* dx, void* dbias,
                       std::int64_t rows, std::int64_t cols, const Params& params, Blend blend, Backend backend,
                       Stream stream, void* workspace, std::size_t workspace_bytes) {
  run_fused("bias_act_backward", detail::FusedKind::bias_bwd, op, dtype, x, bias, dy, dx, dbias, rows, cols, cols, params,
            blend, backend, stream, workspace, workspace_bytes);
}

void gated_forward(Op op, DType dtype, const void* gate, const void* value, std::int64_t in_stride, void* y,
                   std::int64_t rows, std::int64_t cols, const Params& params, Blend blend, Backend backend, Stream stream) {
  run_fused("gated_forward", detail::FusedKind::gated_fwd, op, dtype, gate, value, nullptr, y, nullptr, rows, cols,
            in_stride, params, blend, backend, stream);
}

void gated_backward(Op op, DType dtype, const void* gate, const void* value, std::int64_t in_stride, const void* dy,
                    void* dgate, void* dvalue, std::int64_t rows, std::int64_t cols, const Params& params, Blend blend,
                    Backend backend, Stream stream) {
  run_fused("gated_backward", detail::FusedKind::gated_bwd, op, dtype, gate, value, dy, dgate, dvalue, rows, cols,
            in_stride, params, blend, backend, stream);
}

void softmax_forward(DType dtype, const void* x, void* y, std::int64_t outer, std::int64_t axis, std::int64_t inner,
                     unsigned flags, Backend backend, Stream stream, Blend blend) {
  run_softmax("softmax_forward", false, dtype, x, nullptr, y, outer, axis, inner, flags, backend, stream, blend);
}

void softmax_backward(DType dtype, const void* y, const void* dy, void* dx, std::int64_t outer, std::int64_t axis,
                      std::int64_t inner, unsigned flags, Backend backend, Stream stream, Blend blend) {
  run_softmax("softmax_backward", true, dtype, y, dy, dx, outer, axis, inner, flags, backend, stream, blend);
}

void forward(Op op, DType dtype, const void* x, void* y, std::int64_t n, const Params& params, Backend backend,
             Stream stream, Blend blend) {
  run_elementwise("forward", op, dtype, detail::Dir::forward, x, nullptr, y, n, params, backend, stream, blend);
}

void backward(Op op, DType dtype, From from, const void* x_or_y, const void* dy, void* dx, std::int64_t n,
              const Params& params, Backend backend, Stream stream, Blend blend) {
  const int f = static_cast<int>(from);
  if (f != 0 && f != 1)
    fail(Status::invalid_argument, "backward", "argument 'from' = " + std::to_string(f) + " is not input or output");
  run_elementwise("backward", op, dtype, from == From::input ? detail::Dir::from_input : detail::Dir::from_output, x_or_y,
                  dy, dx, n, params, backend, stream, blend);
}

void prelu_forward(DType dtype, const void* x, const void* alpha, void* y, std::int64_t n, std::int64_t channels,
                   std::int64_t inner, Backend backend, Stream stream) {
  run_prelu("prelu_forward", false, dtype, x, alpha, nullptr, y, nullptr, n, channels, inner, backend, stream);
}

std::size_t prelu_backward_workspace_bytes(DType, std::int64_t n, std::int64_t channels, std::int64_t) {
  return doubles_bytes(channels, detail::prelu_partials_per_channel(n, channels));
}

void prelu_backward(DType dtype, const void* x, const void* dy, const void* alpha, void* dx, void* dalpha, std::int64_t n,
                    std::int64_t channels, std::int64_t inner, Backend backend, Stream stream, void* workspace,
                    std::size_t workspace_bytes) {
  if (dalpha == nullptr)
    fail(Status::invalid_argument, "prelu_backward", "argument 'dalpha' is null (it receives channels values)");
  if (n > 0 && dy == nullptr)
    fail(Status::invalid_argument, "prelu_backward", "argument 'dy' is null but " + std::to_string(n) + " element(s) are to be read");
  run_prelu("prelu_backward", true, dtype, x, alpha, dy, dx, dalpha, n, channels, inner, backend, stream, workspace,
            workspace_bytes);
}

}  // namespace actk
