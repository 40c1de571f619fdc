// actk/actk.h: the C++ API. One call for the forward or the backward pass of every activation,
// on the GPU (device pointers) or the CPU reference path (host pointers).
//
//   actk::forward(actk::Op::gelu, actk::DType::float32, x, y, n);            // defaults
//   actk::backward(actk::Op::elu, actk::DType::bfloat16, actk::From::output, y, dy, dx, n, {0.5});
//
// Errors throw actk::Error, whose message names the call and the argument. Backend::automatic
// runs on the GPU when every pointer is a device (or managed) pointer and on the CPU when every
// pointer is a host pointer; a mix is an error. Device memory must be on the current device (the
// kernels run there, on the given stream): a pointer on another GPU is refused, naming both
// devices (call cudaSetDevice first); managed memory is accepted from any device. In-place
// (y == x, dx == dy) works; partially overlapping buffers are refused.
//
// What every call promises (the C ABI too):
//   - Threads: every call is reentrant and may run from any number of host threads at once on
//     different buffers. Cached per process: the device count; per device: its SM count and
//     attributes, the softmax kernels' shared-memory limits (first use writes them, racing
//     first calls store the same values). Nothing else is shared; the C ABI's error message is
//     per thread.
//   - Streams: a GPU call only enqueues work on the given stream (null = the default stream),
//     ordered after what is already there; no call synchronizes the host or the device. Scratch
//     that a call takes itself is stream-ordered (cudaMallocAsync) and released in order.
//   - Empty calls: n == 0 (rows == 0, outer * axis * inner == 0) reads and writes no element and
//     the pointers it would have used may be null; everything else is still checked, the
//     backend too (backend cuda without a GPU is refused whatever n is). Outputs that do not
//     scale with n are still written: prelu_backward's dalpha and bias_act_backward's dbias
//     receive their empty sums, +0.
//   - Errors are not sticky: a refused call changes nothing and the next call starts afresh. A
//     CUDA error that the runtime keeps sticky (a kernel fault) is reported by the next call that
//     meets it, as Status::cuda_error.
#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

#include "actk/actk_c.h"
#include "actk/half.h"
#include "actk/ops.h"

namespace actk {

enum class DType : int { float32 = ACTK_FLOAT32, float64 = ACTK_FLOAT64, float16 = ACTK_FLOAT16, bfloat16 = ACTK_BFLOAT16 };
enum class Backend : int { automatic = ACTK_BACKEND_AUTO, cpu = ACTK_BACKEND_CPU, cuda = ACTK_BACKEND_CUDA };
/// Which tensor a backward reads besides dy: the forward's input x, or its output y.
enum class From : int { input = ACTK_FROM_INPUT, output = ACTK_FROM_OUTPUT };
enum class Status : int {
  ok = ACTK_OK,
  invalid_argument = ACTK_ERROR_INVALID_ARGUMENT,
  unknown_op = ACTK_ERROR_UNKNOWN_OP,
  unsupported = ACTK_ERROR_UNSUPPORTED,
  cuda_error = ACTK_ERROR_CUDA,
  internal = ACTK_ERROR_INTERNAL
};

/// A cudaStream_t, as an opaque pointer so this header needs no CUDA include. nullptr = default.
using Stream = void*;

/// An op's parameters in list order (see op_info). NaN means "the op's default".
struct Params {
  double a = std::numeric_limits<double>::quiet_NaN();
  double b = std::numeric_limits<double>::quiet_NaN();
};

class ACTK_API Error : public std::runtime_error {
 public:
  Error(Status status, const std::string& what) : std::runtime_error(what), status_(status) {}
  Status status() const noexcept { return status_; }

 private:
  Status status_;
};

/// Output blending as in cuDNN: out = alpha * result + beta * out. beta = 0 never reads out;
/// beta = 1 accumulates (gradient accumulation).
struct Blend {
  double alpha = 1.0;
  double beta = 0.0;
};

struct OpInfo {
  Op op;
  const char* name;
  int n_params;
  const char* param_names[2];
  double param_defaults[2];
  bool has_backward_from_output;
};

/// The table of every op, in list order (op_count entries).
ACTK_API const OpInfo* op_table() noexcept;
ACTK_API const OpInfo& op_info(Op op);  // throws Error(unknown_op) for a value outside the list
/// Lookup by public name ("gelu_tanh"); throws Error(unknown_op) naming the closest match.
ACTK_API Op op_from_name(std::string_view name);
ACTK_API const char* dtype_name(DType dtype) noexcept;
ACTK_API std::size_t dtype_size(DType dtype) noexcept;  // 0 for an invalid value

/// True when actk was built with CUDA and a CUDA device is usable now.
ACTK_API bool cuda_available();
ACTK_API const char* version() noexcept;
/// The instruction set of the CPU path's loops in this process: "AVX-512" or "AVX2" (vectorized,
/// libmvec's double math; picked at first use from the CPU and the environment's ACTK_CPU_SIMD:
/// 0 = portable, avx2 = at most AVX2) or "portable". Results are the same in each (README).
ACTK_API const char* cpu_simd() noexcept;

/// y = f(x); with a blend, y = alpha * f(x) + beta * y.
ACTK_API void forward(Op op, DType dtype, const void* x, void* y, std::int64_t n, const Params& params = {},
             Backend backend = Backend::automatic, Stream stream = nullptr, Blend blend = {});
/// dx = dy * f'(x); with a blend, dx = alpha * dy * f'(x) + beta * dx (beta = 1: accumulate).
ACTK_API void backward(Op op, DType dtype, From from, const void* x_or_y, const void* dy, void* dx, std::int64_t n,
              const Params& params = {}, Backend backend = Backend::automatic, Stream stream = nullptr,
              Blend blend = {});

/// PReLU with alpha per channel (see actk_c.h for the layout); dalpha is overwritten and may not
/// alias alpha. On the GPU dalpha is reduced in two fixed-order stages (bitwise reproducible, no
/// float atomics) through device scratch of prelu_backward_workspace_bytes(...) bytes: pass it as
/// `workspace`, or pass none and actk takes it from the stream-ordered pool (cudaMallocAsync /
/// cudaFreeAsync on `stream`). The CPU path needs none.
ACTK_API void prelu_forward(DType dtype, const void* x, const void* alpha, void* y, std::int64_t n, std::int64_t channels,
                   std::int64_t inner, Backend backend = Backend::automatic, Stream stream = nullptr);
ACTK_API void prelu_backward(DType dtype, const void* x, const void* dy, const void* alpha, void* dx, void* dalpha,
                    std::int64_t n, std::int64_t channels, std::int64_t inner,
                    Backend backend = Backend::automatic, Stream stream = nullptr, void* workspace = nullptr,
                    std::size_t workspace_bytes = 0);
ACTK_API std::size_t prelu_backward_workspace_bytes(DType dtype, std::int64_t n, std::int64_t channels, std::int64_t inner);

/// Cross-entropy targets' integer type, and the loss's reduction (as PyTorch's).
enum class IndexType : int { int32 = ACTK_INT32, int64 = ACTK_INT64 };
enum class Reduction : int { none = ACTK_REDUCTION_NONE, sum = ACTK_REDUCTION_SUM, mean = ACTK_REDUCTION_MEAN };
struct CrossEntropyOptions {
  Reduction reduction = Reduction::mean;
  std::int64_t ignore_index = -100;
  double label_smoothing = 0.0;  ///< epsilon in [0, 1]
  double z_loss = 0.0;           ///< lambda >= 0: lambda * lse^2 added to each counted row's loss (PaLM)
  double softcap = 0.0;          ///< c > 0: logits -> c * tanh(logits / c) first (Gemma 2); 0 = none
  const void* weight = nullptr;  ///< per-class weights, vocab values of the logits' dtype; null = all 1
};

/// Cross-entropy of logits [rows, vocab] against class-index targets [rows] (int32 or int64), as
/// PyTorch's F.cross_entropy(logits, targets, weight, ignore_index, reduction, label_smoothing):
/// with z = logits (capped: c tanh(logits / c)), lse = log sum_j e^z_j, w = weight (or 1),
/// W = sum_j w_j, t = the row's target and eps = label_smoothing, a counted row's loss is
///   (1 - eps) w_t (lse - z_t) + (eps / vocab) (W lse - sum_j w_j z_j) + z_loss lse^2;
/// a row whose target is ignore_index gives 0 and is not counted. reduction none writes rows
/// losses; sum their sum; mean their sum over D = sum of w_t over the counted rows (the count
/// without weights; all rows ignored: NaN, as PyTorch). loss has the logits' dtype. lse (optional,
/// float32 [rows]) receives each row's logsumexp for the backward. A target outside [0, vocab)
/// other than ignore_index is refused on the CPU (it reads the targets); the GPU cannot refuse
/// without a synchronization, so there that row's loss (and the mean or sum) is NaN, no element
/// outside the logits is read, and the backward writes NaN over that row (over every row with the
/// mean, whose denominator is then NaN). Accumulation in double
/// on the CPU, float on the GPU (double for float64). A row holding NaN or +inf gives NaN (as
/// softmax); an all -inf row NaN. The GPU takes rows (+ 2) doubles of scratch
/// from the stream-ordered pool for the sum and mean.
ACTK_API void cross_entropy_forward(DType dtype, const void* logits, IndexType target_type, const void* targets, void* loss,
                                    float* lse, std::int64_t rows, std::int64_t vocab, const CrossEntropyOptions& options = {},
                                    Backend backend = Backend::automatic, Stream stream = nullptr);
/// dlogits = dloss x d(loss)/d(logits): for a counted row with g = dloss[row] (none), dloss[0]
/// (sum) or dloss[0] / D (mean) and p = softmax(z),
///   g ((1 - eps) w_t (p_j - [j = t]) + (eps / vocab) (W p_j - w_j) + 2 z_loss lse p_j)
/// (times 1 - (z_j / c)^2 with a cap); ignored rows get 0. dloss has the logits' dtype (rows values
/// for none, else one). lse: the forward's (null: recomputed from the logits). dlogits may be
/// logits itself (the gradient written over the logits: no [rows, vocab] temporary), and may alias
/// no other input. The CPU path (the reference, in double) and float64 on the GPU recompute lse
/// and do not read `lse`.
ACTK_API void cross_entropy_backward(DType dtype, const void* logits, IndexType target_type, const void* targets,
                                     const void* dloss, const float* lse, void* dlogits, std::int64_t rows, std::int64_t vocab,
                                     const CrossEntropyOptions& options = {}, Backend backend = Backend::automatic,
                                     Stream stream = nullptr);

/// Softmax options (bit flags, as the C ABI's ACTK_SOFTMAX_*).
enum SoftmaxFlags : unsigned {
  softmax_plain = 0,
  softmax_log = ACTK_SOFTMAX_LOG,                          ///< log-softmax
  softmax_masked_rows_zero = ACTK_SOFTMAX_MASKED_ROWS_ZERO  ///< all -inf row -> 0 (log: -inf), not NaN
};

/// Softmax / log-softmax over the middle axis of [outer, axis, inner] (see actk_c.h for the
/// semantics); the last axis of [rows, cols] is outer = rows, axis = cols, inner = 1.
/// On the GPU, a middle axis or a row too long to cache on chip that is split across blocks takes
/// its segment statistics (at most about 1.5 MB) from the stream-ordered pool (cudaMallocAsync;
/// cudaMalloc where the device has no pools); every other softmax call allocates nothing.
ACTK_API void softmax_forward(DType dtype, const void* x, void* y, std::int64_t outer, std::int64_t axis,
                              std::int64_t inner = 1, unsigned flags = softmax_plain,
                              Backend backend = Backend::automatic, Stream stream = nullptr, Blend blend = {});
/// Backward from the forward's output y: dx = y (dy - sum(dy y)); log: dx = dy - exp(y) sum(dy).
ACTK_API void softmax_backward(DType dtype, const void* y, const void* dy, void* dx, std::int64_t outer,
                               std::int64_t axis, std::int64_t inner = 1, unsigned flags = softmax_plain,
                               Backend backend = Backend::automatic, Stream stream = nullptr, Blend blend = {});

/// Attention-style softmax's mask kind (AttentionSoftmaxOptions::mask_type).
enum class MaskType : int {
  none = ACTK_MASK_NONE,
  additive = ACTK_MASK_ADDITIVE,  ///< values of the x's dtype added after the scale (-inf: masked out)
  keep = ACTK_MASK_KEEP           ///< one byte per element: nonzero = attend, zero = masked out (PyTorch's bool mask)
};
/// The longest row (k) attention_softmax_* takes.
constexpr std::int64_t attention_max_k = ACTK_ATTENTION_MAX_K;
struct AttentionSoftmaxOptions {
  double scale = 1.0;               ///< finite; typically 1 / sqrt(head_dim)
  MaskType mask_type = MaskType::none;
  const void* mask = nullptr;       ///< [mask_batch, mask_heads, mask_q, k], contiguous
  std::int64_t mask_batch = 0;      ///< 1: broadcast over batch; 0 or batch: one per batch index
  std::int64_t mask_heads = 0;      ///< 1: broadcast over heads; 0 or heads
  std::int64_t mask_q = 0;          ///< 1: one row for every query (a key-padding mask); 0 or q
  bool causal = false;              ///< key j masked when j > i + causal_offset (no mask read for it)
  std::int64_t causal_offset = 0;   ///< 0: PyTorch's is_causal (top-left); k - q: bottom-right (FlashAttention)
  unsigned flags = 0;               ///< softmax_log, softmax_masked_rows_zero
};

/// Attention-style softmax over the last axis of x [batch, heads, q, k] (rows of k <= 16384):
///   z = scale * x + mask (additive), or scale * x where the keep mask is nonzero and -inf where it
///   is zero; z = -inf where causal masks (x there is not read); y = softmax(z) (log-softmax with
///   softmax_log). A fully masked row (every z -inf) is NaN, or zeros (log: -inf) with
///   softmax_masked_rows_zero, as softmax_forward. NaN or +inf in an attended z gives a NaN row.
/// Computed in double on the CPU (rounded once); on the GPU z is formed in float (double for
/// float64) and the row is cached in shared memory: one read of x (none past the causal limit), one
/// write of y. y may be x (in place) but may not overlap the mask.
ACTK_API void attention_softmax_forward(DType dtype, const void* x, void* y, std::int64_t batch, std::int64_t heads,
                                        std::int64_t q, std::int64_t k, const AttentionSoftmaxOptions& options = {},
                                        Backend backend = Backend::automatic, Stream stream = nullptr);
/// Backward from the forward's output only: dx = scale * y (dy - sum(dy y)) (log: scale * (dy - exp(y)
/// sum(dy))); masked elements (y = 0) get 0. The mask needs no gradient and is not read.
ACTK_API void attention_softmax_backward(DType dtype, const void* y, const void* dy, void* dx, std::int64_t batch,
                                         std::int64_t heads, std::int64_t q, std::int64_t k, double scale = 1.0,
                                         unsigned flags = softmax_plain, Backend backend = Backend::automatic,
                                         Stream stream = nullptr);

/// Bias + activation over [rows, cols]: y = f(x + bias[col]) (bias may be null: no bias), one pass.
/// `pre`, if not null, receives x + bias (rounded to the dtype) for callers that keep it.
ACTK_API void bias_act_forward(Op op, DType dtype, const void* x, const void* bias, void* y, std::int64_t rows,
                               std::int64_t cols, const Params& params = {}, void* pre = nullptr,
                               Backend backend = Backend::automatic, Stream stream = nullptr, Blend blend = {});
/// Backward from the input: z = x + bias; dx = alpha * dy * f'(z) + beta * dx, and, if dbias is not
/// null, dbias[c] = alpha * sum over rows of dy * f'(z) (overwritten; summed in double in a fixed
/// order: bitwise reproducible, no float atomics). dx may alias x or dy. On the GPU dbias needs
/// bias_act_backward_workspace_bytes(...) bytes of device scratch: pass it, or actk takes it from
/// the stream-ordered pool.
ACTK_API void bias_act_backward(Op op, DType dtype, const void* x, const void* bias, const void* dy, void* dx, void* dbias,
                                std::int64_t rows, std::int64_t cols, const Params& params = {},
                                Backend backend = Backend::automatic, Stream stream = nullptr, Blend blend = {},
                                void* workspace = nullptr, std::size_t workspace_bytes = 0);
ACTK_API std::size_t bias_act_backward_workspace_bytes(DType dtype, std::int64_t rows, std::int64_t cols);

/// Gated activation over [rows, cols]: y = f(gate) * value, f any op of the list (glu = sigmoid,
/// reglu = relu, geglu = gelu, geglu_tanh = gelu_tanh, swiglu = silu, qgeglu = quick_gelu,
/// sreglu = squared_relu). gate and value rows are `in_stride` elements apart: two tensors
/// [rows, cols] have in_stride = cols; one [rows, 2*cols] tensor with the gate first (Transformer
/// Engine's order) is gate = in, value = in + cols, in_stride = 2*cols (PyTorch's F.glu puts the
/// value first: swap the two pointers). y is [rows, cols], contiguous; it may be the gate or the
/// value itself only when in_stride == cols, and may share no other element with them.
ACTK_API void gated_forward(Op op, DType dtype, const void* gate, const void* value, std::int64_t in_stride, void* y,
                            std::int64_t rows, std::int64_t cols, const Params& params = {},
                            Backend backend = Backend::automatic, Stream stream = nullptr, Blend blend = {});
/// Both halves' gradients in one pass: dgate = dy * value * f'(gate), dvalue = dy * f(gate) (each
/// blended), written with the input's layout (in_stride); dy is [rows, cols]. dgate/dvalue may be
/// gate/value themselves (in place; or dy, when in_stride == cols); any other shared element
/// between an output and another buffer is refused (Status::invalid_argument), as are
/// dgate == dvalue.
ACTK_API void gated_backward(Op op, DType dtype, const void* gate, const void* value, std::int64_t in_stride,
                             const void* dy, void* dgate, void* dvalue, std::int64_t rows, std::int64_t cols,
                             const Params& params = {}, Backend backend = Backend::automatic,
                             Stream stream = nullptr, Blend blend = {});

/// Clamped SwiGLU (GPT-OSS): g = min(gate, limit), v = clamp(value, -limit, limit),
/// y = g * sigmoid(alpha * g) * (v + 1); defaults alpha = 1.702, limit = 7. The layouts and aliasing
/// rules are gated_forward's (two tensors, or one [rows, 2*cols] tensor, gate first). The
/// backward's gradients are zero where a clamp saturates (gate > limit; |value| > limit), as
/// PyTorch's clamp: dgate = dy (v + 1) swish'(g) [gate <= limit], dvalue = dy swish(g) [|value| <=
/// limit]. The interleaved layout: clamped_swiglu_interleaved_*.
ACTK_API void clamped_swiglu_forward(DType dtype, const void* gate, const void* value, std::int64_t in_stride, void* y,
                                     std::int64_t rows, std::int64_t cols, double alpha = 1.702, double limit = 7.0,
                                     Backend backend = Backend::automatic, Stream stream = nullptr, Blend blend = {});
ACTK_API void clamped_swiglu_backward(DType dtype, const void* gate, const void* value, std::int64_t in_stride, const void* dy,
                                      void* dgate, void* dvalue, std::int64_t rows, std::int64_t cols, double alpha = 1.702,
                                      double limit = 7.0, Backend backend = Backend::automatic, Stream stream = nullptr,
                                      Blend blend = {});

/// Clamped SwiGLU over the interleaved layout some checkpoints use (GPT-OSS's): `in` is
/// [rows, 2*cols] with gate and value alternating (gate at 2c, value at 2c + 1); y is [rows, cols]
/// and may not overlap `in`. The backward writes din [rows, 2*cols] in the same layout (dgate at 2c,
/// dvalue at 2c + 1); din may be `in` itself (in place) and may not overlap dy.
ACTK_API void clamped_swiglu_interleaved_forward(DType dtype, const void* in, void* y, std::int64_t rows, std::int64_t cols,
                                                 double alpha = 1.702, double limit = 7.0, Backend backend = Backend::automatic,
                                                 Stream stream = nullptr, Blend blend = {});
ACTK_API void clamped_swiglu_interleaved_backward(DType dtype, const void* in, const void* dy, void* din, std::int64_t rows,
                                                  std::int64_t cols, double alpha = 1.702, double limit = 7.0,
                                                  Backend backend = Backend::automatic, Stream stream = nullptr, Blend blend = {});

/// The fused calls' earlier argument order (blend before the backend), kept so code written for it
/// still compiles; every call now takes backend, stream, blend in that order (then the workspace).
[[deprecated("pass backend, stream, blend in that order")]] inline void bias_act_forward(
    Op op, DType dtype, const void* x, const void* bias, void* y, std::int64_t rows, std::int64_t cols, const Params& params,
    void* pre, Blend blend, Backend backend = Backend::automatic, Stream stream = nullptr) {
  bias_act_forward(op, dtype, x, bias, y, rows, cols, params, pre, backend, stream, blend);
}
[[deprecated("pass backend, stream, blend in that order")]] inline void bias_act_backward(
    Op op, DType dtype, const void* x, const void* bias, const void* dy, void* dx, void* dbias, std::int64_t rows,
    std::int64_t cols, const Params& params, Blend blend, Backend backend = Backend::automatic, Stream stream = nullptr,
    void* workspace = nullptr, std::size_t workspace_bytes = 0) {
  bias_act_backward(op, dtype, x, bias, dy, dx, dbias, rows, cols, params, backend, stream, blend, workspace, workspace_bytes);
}
[[deprecated("pass backend, stream, blend in that order")]] inline void gated_forward(
    Op op, DType dtype, const void* gate, const void* value, std::int64_t in_stride, void* y, std::int64_t rows,
    std::int64_t cols, const Params& params, Blend blend, Backend backend = Backend::automatic, Stream stream = nullptr) {
  gated_forward(op, dtype, gate, value, in_stride, y, rows, cols, params, backend, stream, blend);
}
[[deprecated("pass backend, stream, blend in that order")]] inline void gated_backward(
    Op op, DType dtype, const void* gate, const void* value, std::int64_t in_stride, const void* dy, void* dgate,
    void* dvalue, std::int64_t rows, std::int64_t cols, const Params& params, Blend blend,
    Backend backend = Backend::automatic, Stream stream = nullptr) {
  gated_backward(op, dtype, gate, value, in_stride, dy, dgate, dvalue, rows, cols, params, backend, stream, blend);
}

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::float64; };
template <> struct dtype_of<float16> { static constexpr DType value = DType::float16; };
template <> struct dtype_of<bfloat16> { static constexpr DType value = DType::bfloat16; };

/// Typed conveniences: the dtype follows from the pointer type.
template <class T>
void forward(Op op, const T* x, T* y, std::int64_t n, const Params& params = {}, Backend backend = Backend::automatic,
             Stream stream = nullptr, Blend blend = {}) {
  forward(op, dtype_of<T>::value, x, y, n, params, backend, stream, blend);
}
template <class T>
void backward(Op op, From from, const T* x_or_y, const T* dy, T* dx, std::int64_t n, const Params& params = {},
              Backend backend = Backend::automatic, Stream stream = nullptr, Blend blend = {}) {
  backward(op, dtype_of<T>::value, from, x_or_y, dy, dx, n, params, backend, stream, blend);
}

}  // namespace actk
