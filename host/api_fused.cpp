// host/api_fused.cpp: the fused families' public entry points (host/fused.h lists the families).
// Each validates what is common to every fused call (fused_common), then its own buffers and
// aliasing rules, and hands its call struct to the backend the pointers choose; overload
// resolution on the call type picks the family's CPU loop or kernel launcher.
#include <cmath>
#include <cstdint>
#include <string>

#include "actk/actk.h"
#include "host/fused.h"
#include "host/validate.h"

namespace actk {

using namespace detail;  // the checks of host/validate.h

namespace {

/// The op, its parameters, the blend and the [rows, cols] shape (cols alone sizes bias and dbias,
/// counted in `col_elem` bytes, even when rows = 0). Returns rows * cols.
std::int64_t fused_common(FusedCommon& c, const char* call, Op op, DType dtype, std::int64_t rows, std::int64_t cols,
                          const Params& params, Backend backend, Stream stream, Blend blend, std::size_t col_elem) {
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
  check_size(call, "cols", cols, col_elem);
  c = FusedCommon{op, dtype, a, b, blend.alpha, blend.beta, rows, cols, stream, call};
  return n;
}

/// The elements a [rows, cols] view with row stride in_stride spans (>= cols, checked).
std::int64_t strided_span(const char* call, std::int64_t rows, std::int64_t cols, std::int64_t in_stride, std::size_t elem) {
  if (in_stride < cols)
    fail(Status::invalid_argument, call, "argument 'in_stride' = " + std::to_string(in_stride) + " is less than cols = " + std::to_string(cols));
  if (rows == 0 || cols == 0) return 0;
  if (rows - 1 > (INT64_MAX - cols) / in_stride) fail(Status::invalid_argument, call, "the strided input's extent overflows");
  const std::int64_t span = (rows - 1) * in_stride + cols;
  check_size(call, "the strided input's extent", span, elem);
  return span;
}

/// The family's backend: the CPU loop or the kernel launcher (overloads on the call type).
template <class Call> void run(const Call& c, Backend be) {
  if (be == Backend::cpu) cpu_fused(c);
  else cuda_fused(c);
}

}  // namespace

void bias_act_forward(Op op, DType dtype, const void* x, const void* bias, void* y, std::int64_t rows, std::int64_t cols,
                      const Params& params, void* pre, Backend backend, Stream stream, Blend blend) {
  const char* call = "bias_act_forward";
  BiasActForwardCall c;
  const std::size_t elem = dtype_size(dtype);
  const std::int64_t n = fused_common(c, call, op, dtype, rows, cols, params, backend, stream, blend, elem);
  if (n == 0) return;
  c.x = x, c.bias = bias, c.y = y, c.pre = pre;
  const Buf bufs[] = {{"x", x, n, false}, {"bias", bias, bias ? cols : 0, false}, {"y", y, n, true}, {"pre", pre, pre ? n : 0, true}};
  check_buffers(call, bufs, 4, elem);
  run(c, choose_backend(call, backend, bufs, 4));
}

std::size_t bias_act_backward_workspace_bytes(DType, std::int64_t rows, std::int64_t cols) {
  return doubles_bytes(cols, dbias_row_chunks(rows, cols));
}

void bias_act_backward(Op op, DType dtype, const void* x, const void* bias, const void* dy, void* dx, void* dbias,
                       std::int64_t rows, std::int64_t cols, const Params& params, Backend backend, Stream stream,
                       Blend blend, void* workspace, std::size_t workspace_bytes) {
  const char* call = "bias_act_backward";
  BiasActBackwardCall c;
  const std::size_t elem = dtype_size(dtype);
  const std::int64_t n = fused_common(c, call, op, dtype, rows, cols, params, backend, stream, blend, sizeof(double));
  if (n == 0 && !(dbias != nullptr && cols > 0)) return;  // rows = 0 with dbias: dbias = 0
  c.x = x, c.bias = bias, c.dy = dy, c.dx = dx, c.dbias = dbias, c.workspace = workspace, c.workspace_bytes = workspace_bytes;
  const Buf bufs[] = {{"x", x, n, false},
                      {"bias", bias, bias && n > 0 ? cols : 0, false},
                      {"dy", dy, n, false},
                      {"dx", dx, n, true},
                      {"dbias", dbias, dbias ? cols : 0, true}};
  check_buffers(call, bufs, 5, elem);
  check_disjoint(call, bufs[4], bufs, 3, elem, "dbias may not alias an input");  // dbias is written first
  const Backend be = choose_backend(call, backend, bufs, 5);
  if (be == Backend::cuda)
    check_workspace(call, workspace, workspace_bytes, bias_act_backward_workspace_bytes(dtype, rows, cols),
                    "bias_act_backward_workspace_bytes");
  run(c, be);
}

namespace {

/// The gated forward / backward entry points, plain (clamp_limit = 0) or clamped SwiGLU.
void run_gated_forward(const char* call, Op op, DType dtype, const void* gate, const void* value, std::int64_t in_stride, void* y,
                       std::int64_t rows, std::int64_t cols, const Params& params, Backend backend, Stream stream, Blend blend,
                       double clamp_limit) {
  GatedForwardCall c;
  const std::size_t elem = dtype_size(dtype);
  const std::int64_t n = fused_common(c, call, op, dtype, rows, cols, params, backend, stream, blend, elem);
  const std::int64_t span = strided_span(call, rows, cols, in_stride, elem);
  if (n == 0) return;
  c.gate = gate, c.value = value, c.in_stride = in_stride, c.y = y, c.clamp_limit = clamp_limit;
  // strided buffers interleave: null/alignment/extent checks here, aliasing by views
  const Buf bufs[] = {{"gate", gate, span, false}, {"value", value, span, false}, {"y", y, n, false}};
  check_buffers(call, bufs, 3, elem);
  const View v[] = {{"gate", gate, in_stride, false}, {"value", value, in_stride, false}, {"y", y, cols, true}};
  check_view_aliasing(call, v, 3, rows, cols, elem);
  run(c, choose_backend(call, backend, bufs, 3));
}

void run_gated_backward(const char* call, Op op, DType dtype, const void* gate, const void* value, std::int64_t in_stride,
                        const void* dy, void* dgate, void* dvalue, std::int64_t rows, std::int64_t cols, const Params& params,
                        Backend backend, Stream stream, Blend blend, double clamp_limit) {
  GatedBackwardCall c;
  const std::size_t elem = dtype_size(dtype);
  const std::int64_t n = fused_common(c, call, op, dtype, rows, cols, params, backend, stream, blend, elem);
  const std::int64_t span = strided_span(call, rows, cols, in_stride, elem);
  if (n == 0) return;
  c.gate = gate, c.value = value, c.in_stride = in_stride, c.dy = dy, c.dgate = dgate, c.dvalue = dvalue;
  c.clamp_limit = clamp_limit;
  const Buf bufs[] = {{"gate", gate, span, false}, {"value", value, span, false}, {"dy", dy, n, false},
                      {"dgate", dgate, span, false}, {"dvalue", dvalue, span, false}};
  check_buffers(call, bufs, 5, elem);
  const View v[] = {{"gate", gate, in_stride, false}, {"value", value, in_stride, false}, {"dy", dy, cols, false},
                    {"dgate", dgate, in_stride, true}, {"dvalue", dvalue, in_stride, true}};
  check_view_aliasing(call, v, 5, rows, cols, elem);
  run(c, choose_backend(call, backend, bufs, 5));
}

/// Clamped SwiGLU's own arguments: the swish slope alpha (the op swish's beta) and the limit.
Params clamped_params(const char* call, double alpha, double limit) {
  if (!std::isfinite(alpha)) fail(Status::invalid_argument, call, "argument 'alpha' = " + num(alpha) + " is not finite");
  if (!(limit > 0) || !std::isfinite(limit))
    fail(Status::invalid_argument, call, "argument 'limit' = " + num(limit) + " is not a finite value > 0");
  Params p;
  p.a = alpha;
  return p;
}

/// The interleaved clamped SwiGLU's shared checks (as fused_common, plus the [rows, 2 cols]
/// input's size); returns rows * cols (0: nothing to do).
template <class Call>
std::int64_t interleaved_common(Call& c, const char* call, DType dtype, std::int64_t rows, std::int64_t cols, double alpha,
                                double limit, Backend backend, Stream stream, Blend blend, std::size_t elem) {
  const Params params = clamped_params(call, alpha, limit);
  const std::int64_t n = fused_common(c, call, Op::swish, dtype, rows, cols, params, backend, stream, blend, elem);
  if (n == 0) return 0;
  if (n > INT64_MAX / 2) fail(Status::invalid_argument, call, "rows * 2 * cols overflows a 64-bit count");
  check_size(call, "rows * 2 * cols", 2 * n, elem);
  return n;
}

}  // namespace

void gated_forward(Op op, DType dtype, const void* gate, const void* value, std::int64_t in_stride, void* y,
                   std::int64_t rows, std::int64_t cols, const Params& params, Backend backend, Stream stream, Blend blend) {
  run_gated_forward("gated_forward", op, dtype, gate, value, in_stride, y, rows, cols, params, backend, stream, blend, 0.0);
}

void gated_backward(Op op, DType dtype, const void* gate, const void* value, std::int64_t in_stride, const void* dy,
                    void* dgate, void* dvalue, std::int64_t rows, std::int64_t cols, const Params& params, Backend backend,
                    Stream stream, Blend blend) {
  run_gated_backward("gated_backward", op, dtype, gate, value, in_stride, dy, dgate, dvalue, rows, cols, params, backend, stream,
                     blend, 0.0);
}

void clamped_swiglu_forward(DType dtype, const void* gate, const void* value, std::int64_t in_stride, void* y, std::int64_t rows,
                            std::int64_t cols, double alpha, double limit, Backend backend, Stream stream, Blend blend) {
  const char* call = "clamped_swiglu_forward";
  run_gated_forward(call, Op::swish, dtype, gate, value, in_stride, y, rows, cols, clamped_params(call, alpha, limit), backend,
                    stream, blend, limit);
}

void clamped_swiglu_backward(DType dtype, const void* gate, const void* value, std::int64_t in_stride, const void* dy, void* dgate,
                             void* dvalue, std::int64_t rows, std::int64_t cols, double alpha, double limit, Backend backend,
                             Stream stream, Blend blend) {
  const char* call = "clamped_swiglu_backward";
  run_gated_backward(call, Op::swish, dtype, gate, value, in_stride, dy, dgate, dvalue, rows, cols,
                     clamped_params(call, alpha, limit), backend, stream, blend, limit);
}

void clamped_swiglu_interleaved_forward(DType dtype, const void* in, void* y, std::int64_t rows, std::int64_t cols, double alpha,
                                        double limit, Backend backend, Stream stream, Blend blend) {
  const char* call = "clamped_swiglu_interleaved_forward";
  GatedForwardCall c;
  const std::size_t elem = dtype_size(dtype);
  const std::int64_t n = interleaved_common(c, call, dtype, rows, cols, alpha, limit, backend, stream, blend, elem);
  if (n == 0) return;
  const Buf bufs[] = {{"in", in, 2 * n, false}, {"y", y, n, true}};
  check_buffers(call, bufs, 2, elem);
  check_disjoint(call, bufs[1], bufs, 1, elem, "y may not overlap the input");
  c.gate = in, c.value = static_cast<const unsigned char*>(in) + elem, c.in_stride = 2 * cols, c.y = y;
  c.clamp_limit = limit, c.col_step = 2;
  run(c, choose_backend(call, backend, bufs, 2));
}

void clamped_swiglu_interleaved_backward(DType dtype, const void* in, const void* dy, void* din, std::int64_t rows,
                                         std::int64_t cols, double alpha, double limit, Backend backend, Stream stream,
                                         Blend blend) {
  const char* call = "clamped_swiglu_interleaved_backward";
  GatedBackwardCall c;
  const std::size_t elem = dtype_size(dtype);
  const std::int64_t n = interleaved_common(c, call, dtype, rows, cols, alpha, limit, backend, stream, blend, elem);
  if (n == 0) return;
  const Buf bufs[] = {{"in", in, 2 * n, false}, {"dy", dy, n, false}, {"din", din, 2 * n, true}};
  check_buffers(call, bufs, 3, elem);  // din may be `in` itself (in place), and nothing else
  check_disjoint(call, bufs[2], bufs + 1, 1, elem, "din may be the input (in place) but may not overlap dy");
  const auto* g = static_cast<const unsigned char*>(in);
  auto* dg = static_cast<unsigned char*>(din);
  c.gate = g, c.value = g + elem, c.in_stride = 2 * cols, c.dy = dy, c.dgate = dg, c.dvalue = dg + elem;
  c.clamp_limit = limit, c.col_step = 2;
  run(c, choose_backend(call, backend, bufs, 3));
}

}  // namespace actk
