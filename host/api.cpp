// host/api.cpp: the public C++ API of the element-wise ops, PReLU, softmax and the op table: each
// entry point validates its arguments (host/validate.h), builds its call struct (host/calls.h),
// and hands it to the backend the pointers choose: the CPU reference or the CUDA launcher. The
// fused families' entry points are in host/api_fused.cpp. Nothing here allocates or queries the
// device on the hot path beyond the pointer classification the automatic backend needs.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <utility>

#include "actk/actk.h"
#include "host/calls.h"
#include "host/validate.h"

namespace actk {

using namespace detail;  // the checks of host/validate.h

namespace {

const OpInfo kOps[] = {
#define ACTK_X(id, fn, fo, np, n0, d0, n1, d1) {Op::id, #id, np, {n0, n1}, {d0, d1}, (fo) != 0},
    ACTK_OP_LIST(ACTK_X)
#undef ACTK_X
};
static_assert(sizeof(kOps) / sizeof(kOps[0]) == static_cast<std::size_t>(op_count), "op table size");

bool op_valid(Op op) { return static_cast<int>(op) >= 0 && static_cast<int>(op) < op_count; }

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

const char* cpu_simd() noexcept { return detail::cpu_simd_name(); }

bool cuda_available() { return detail::cuda_built() && detail::cuda_device_count() > 0; }

const char* version() noexcept {
#define ACTK_STR2(x) #x
#define ACTK_STR(x) ACTK_STR2(x)
  return ACTK_STR(ACTK_VERSION_MAJOR) "." ACTK_STR(ACTK_VERSION_MINOR) "." ACTK_STR(ACTK_VERSION_PATCH);
}

namespace {

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
  if (bwd) {  // dalpha is written before dx is computed from x, dy and alpha
    const Buf inputs[3] = {bufs[0], bufs[1], bufs[3]};
    check_disjoint(call, bufs[4], inputs, 3, elem, "dalpha may not alias x, dy or alpha");
  }
  const Backend be = choose_backend(call, backend, bufs, nb);
  if (be == Backend::cuda)
    check_workspace(call, workspace, workspace_bytes, prelu_backward_workspace_bytes(dtype, n, channels, inner),
                    "prelu_backward_workspace_bytes");
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

/// The size of one mask dimension: 0 or the x's size: full (stride `full_stride` rows of the mask
/// per index); 1: broadcast (stride 0). Anything else is refused.
std::int64_t mask_dim(const char* call, const char* name, std::int64_t given, std::int64_t full, std::int64_t& count) {
  if (given == 0) given = full;
  if (given != 1 && given != full)
    fail(Status::invalid_argument, call, std::string("option '") + name + "' = " + std::to_string(given) +
                                             " is neither 1 (broadcast) nor the x's size " + std::to_string(full) + " (or 0)");
  count *= given;
  return given;
}

}  // namespace

void attention_softmax_forward(DType dtype, const void* x, void* y, std::int64_t batch, std::int64_t heads, std::int64_t q,
                               std::int64_t k, const AttentionSoftmaxOptions& o, Backend backend, Stream stream) {
  const char* call = "attention_softmax_forward";
  check_enums(call, Op::identity, dtype, backend);
  if (o.flags & ~static_cast<unsigned>(softmax_log | softmax_masked_rows_zero))
    fail(Status::invalid_argument, call, "option 'flags' = " + std::to_string(o.flags) + " has unknown bits");
  if (!std::isfinite(o.scale)) fail(Status::invalid_argument, call, "option 'scale' = " + num(o.scale) + " is not finite");
  const int mt = static_cast<int>(o.mask_type);
  if (mt < 0 || mt > 2)
    fail(Status::invalid_argument, call, "option 'mask_type' = " + std::to_string(mt) + " is not none (0), additive (1) or keep (2)");
  if (mt == 0 && o.mask != nullptr)
    fail(Status::invalid_argument, call, "option 'mask' is given but 'mask_type' is none: say additive or keep");
  const std::pair<const char*, std::int64_t> dims[4] = {{"batch", batch}, {"heads", heads}, {"q", q}, {"k", k}};
  for (const auto& d : dims)
    if (d.second < 0) fail(Status::invalid_argument, call, std::string("argument '") + d.first + "' = " + std::to_string(d.second) + " is negative");
  if (k > attention_max_k)
    fail(Status::invalid_argument, call, "argument 'k' = " + std::to_string(k) + " is longer than the " +
                                             std::to_string(attention_max_k) + " keys a row may have (softmax_forward takes any length)");
  std::int64_t rows = 0, n = 0;
  if (batch > 0 && heads > 0 && q > 0) {
    if (batch > INT64_MAX / heads || batch * heads > INT64_MAX / q) fail(Status::invalid_argument, call, "batch * heads * q overflows a 64-bit count");
    rows = batch * heads * q;
    if (k > 0 && rows > INT64_MAX / k) fail(Status::invalid_argument, call, "batch * heads * q * k overflows a 64-bit count");
    n = rows * k;
  }
  const std::size_t elem = dtype_size(dtype);
  check_size(call, "batch * heads * q * k", n, elem);
  std::int64_t mcount = k;
  const std::int64_t mq = mask_dim(call, "mask_q", o.mask_q, q, mcount), mh = mask_dim(call, "mask_heads", o.mask_heads, heads, mcount),
                     mb = mask_dim(call, "mask_batch", o.mask_batch, batch, mcount);
  if (mt != 0 && n > 0) check_size(call, "the mask's element count", mcount, mt == 2 ? 1 : elem);
  if (n == 0) {
    const Buf none[1] = {{"x", x, 0, false}};
    (void)choose_backend(call, backend, none, 1);
    return;
  }
  const Buf bufs[3] = {{"x", x, n, false}, {"y", y, n, true}, {"options.mask", o.mask, mt != 0 ? mcount : 0, false, mt == 2 ? 1u : 0u}};
  check_buffers(call, bufs, 3, elem);
  check_disjoint(call, bufs[1], bufs + 2, 1, elem, "y may be x (in place) but may not overlap the mask");
  const Backend be = choose_backend(call, backend, bufs, 3);
  // mask row strides (in rows of k): query, then heads, then batch, each 0 where broadcast
  const std::int64_t sq = mq == 1 ? 0 : 1, sh = mh == 1 ? 0 : mq, sb = mb == 1 ? 0 : mq * mh;
  const detail::AttentionSoftmaxCall c{dtype, x, y, mt != 0 ? o.mask : nullptr, mt, rows, heads, q, k, sb, sh, sq, o.causal,
                                       o.causal_offset, o.scale, (o.flags & softmax_log) != 0,
                                       (o.flags & softmax_masked_rows_zero) != 0, stream};
  if (be == Backend::cpu) detail::cpu_attention_softmax(c);
  else detail::cuda_attention_softmax(c);
}

void attention_softmax_backward(DType dtype, const void* y, const void* dy, void* dx, std::int64_t batch, std::int64_t heads,
                                std::int64_t q, std::int64_t k, double scale, unsigned flags, Backend backend, Stream stream) {
  const char* call = "attention_softmax_backward";
  if (!std::isfinite(scale)) fail(Status::invalid_argument, call, "argument 'scale' = " + num(scale) + " is not finite");
  const std::pair<const char*, std::int64_t> dims[4] = {{"batch", batch}, {"heads", heads}, {"q", q}, {"k", k}};
  for (const auto& d : dims)
    if (d.second < 0) fail(Status::invalid_argument, call, std::string("argument '") + d.first + "' = " + std::to_string(d.second) + " is negative");
  if (k > attention_max_k)
    fail(Status::invalid_argument, call, "argument 'k' = " + std::to_string(k) + " is longer than the " +
                                             std::to_string(attention_max_k) + " keys a row may have");
  std::int64_t rows = 0;
  if (batch > 0 && heads > 0 && q > 0) {
    if (batch > INT64_MAX / heads || batch * heads > INT64_MAX / q) fail(Status::invalid_argument, call, "batch * heads * q overflows a 64-bit count");
    rows = batch * heads * q;
  }
  // the softmax backward scaled by the blend: d/dx = scale d/dz
  run_softmax(call, true, dtype, y, dy, dx, rows, k, 1, flags, backend, stream, Blend{scale, 0.0});
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
