/* actk/actk_c.h: the C ABI. Plain C (C89 types plus stdint), so Python (ctypes), Rust or Julia
 * can call actk without C++. Every call returns an actk_status; on failure actk_last_error()
 * gives the message for the calling thread (valid until that thread's next actk call).
 * Ops are ints in list order (actk_op_count, actk_op_info, actk_op_from_name).
 * Threads, streams, empty calls and errors behave as actk.h's opening comment says: every call
 * is reentrant; a GPU call only enqueues on its stream; n = 0 touches no element but checks every
 * other argument, and still writes dalpha / dbias (zeros); a refused call changes nothing.
 * Invalid enum values (a dtype of 7, say) are refused with ACTK_ERROR_INVALID_ARGUMENT. */
#ifndef ACTK_ACTK_C_H
#define ACTK_ACTK_C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define ACTK_API __declspec(dllexport)
#elif defined(__GNUC__)
#define ACTK_API __attribute__((visibility("default")))
#else
#define ACTK_API
#endif

/* In C++ the enums have int as their fixed underlying type, so that any int a C caller passes
 * (7 as a dtype, say) is a valid value of the parameter's type until actk refuses it; C is
 * unchanged (an enum is an int there). */
#ifdef __cplusplus
#define ACTK_ENUM(name) enum name : int
#else
#define ACTK_ENUM(name) enum name
#endif

typedef ACTK_ENUM(actk_status) {
  ACTK_OK = 0,
  ACTK_ERROR_INVALID_ARGUMENT = 1, /* null pointer, bad size, bad parameter, bad enum value */
  ACTK_ERROR_UNKNOWN_OP = 2,       /* op id or name not in the list */
  ACTK_ERROR_UNSUPPORTED = 3,      /* e.g. backend cuda in a CPU-only build or with no GPU */
  ACTK_ERROR_CUDA = 4,             /* a CUDA runtime call failed */
  ACTK_ERROR_INTERNAL = 5
} actk_status;

typedef ACTK_ENUM(actk_dtype) { ACTK_FLOAT32 = 0, ACTK_FLOAT64 = 1, ACTK_FLOAT16 = 2, ACTK_BFLOAT16 = 3 } actk_dtype;
typedef ACTK_ENUM(actk_backend) { ACTK_BACKEND_AUTO = 0, ACTK_BACKEND_CPU = 1, ACTK_BACKEND_CUDA = 2 } actk_backend;
typedef ACTK_ENUM(actk_from) { ACTK_FROM_INPUT = 0, ACTK_FROM_OUTPUT = 1 } actk_from;

typedef struct actk_op_info {
  const char* name;               /* public name, e.g. "gelu_tanh" */
  int n_params;                   /* 0, 1 or 2 */
  const char* param_names[2];     /* "" where unused */
  double param_defaults[2];       /* 0 where unused */
  int has_backward_from_output;   /* 1 if actk_backward accepts ACTK_FROM_OUTPUT */
} actk_op_info;

/* The library's version, "major.minor.patch". */
ACTK_API const char* actk_version(void);
/* The CPU path's loops in this process: "AVX-512", "AVX2" or "portable" (actk::cpu_simd). */
ACTK_API const char* actk_cpu_simd(void);
/* Message of the last failed call on this thread ("" if none). */
ACTK_API const char* actk_last_error(void);
/* 1 if built with CUDA and at least one CUDA device is usable, else 0. */
ACTK_API int actk_cuda_available(void);

ACTK_API int actk_op_count(void);
ACTK_API actk_status actk_op_info_get(int op, actk_op_info* out);
ACTK_API actk_status actk_op_from_name(const char* name, int* op);

/* params: NULL for the defaults, else the op's n_params values (NaN = that parameter's default).
 * stream: a cudaStream_t (NULL = default stream); ignored on the CPU.
 * y may equal x; dx may equal dy or x_or_y. */
ACTK_API actk_status actk_forward(int op, const double* params, actk_dtype dtype, const void* x, void* y,
                                  int64_t n, actk_backend backend, void* stream);
ACTK_API actk_status actk_backward(int op, const double* params, actk_dtype dtype, actk_from from,
                                   const void* x_or_y, const void* dy, void* dx, int64_t n,
                                   actk_backend backend, void* stream);

/* PReLU with alpha per channel: alpha holds `channels` values (1 = shared); element i belongs to
 * channel (i / inner) % channels. The backward writes dx and dalpha[c] = sum over channel c of
 * x*dy where x <= 0 (overwritten, not accumulated; summed in double, deterministic). */
ACTK_API actk_status actk_prelu_forward(actk_dtype dtype, const void* x, const void* alpha, void* y, int64_t n,
                                        int64_t channels, int64_t inner, actk_backend backend, void* stream);
/* workspace: device scratch for the GPU's two-stage dalpha reduction, of
 * actk_prelu_backward_workspace_bytes(...) bytes; NULL = taken from the stream-ordered pool. */
ACTK_API actk_status actk_prelu_backward(actk_dtype dtype, const void* x, const void* dy, const void* alpha,
                                         void* dx, void* dalpha, int64_t n, int64_t channels, int64_t inner,
                                         actk_backend backend, void* stream, void* workspace, size_t workspace_bytes);
ACTK_API size_t actk_prelu_backward_workspace_bytes(actk_dtype dtype, int64_t n, int64_t channels, int64_t inner);

/* Softmax over the middle axis of a tensor laid out [outer, axis, inner] (the last axis of a
 * [rows, cols] tensor: outer = rows, axis = cols, inner = 1), numerically stable (max-subtracted).
 * Forward: y = exp(x - max) / sum, or with ACTK_SOFTMAX_LOG y = x - max - log(sum).
 * Backward (from y and dy): dx = y (dy - sum(dy y)), or for log: dx = dy - exp(y) sum(dy).
 * A row (the axis at fixed outer, inner) holding NaN or +inf gives NaN; a row that is entirely
 * -inf gives NaN, or with ACTK_SOFTMAX_MASKED_ROWS_ZERO zeros (log: -inf) and a zero gradient.
 * y may equal x; dx may equal dy or y. */
#define ACTK_SOFTMAX_LOG 1u
#define ACTK_SOFTMAX_MASKED_ROWS_ZERO 2u
ACTK_API actk_status actk_softmax_forward(actk_dtype dtype, const void* x, void* y, int64_t outer, int64_t axis,
                                          int64_t inner, unsigned flags, actk_backend backend, void* stream);
ACTK_API actk_status actk_softmax_backward(actk_dtype dtype, const void* y, const void* dy, void* dx, int64_t outer,
                                           int64_t axis, int64_t inner, unsigned flags, actk_backend backend,
                                           void* stream);

/* As actk_forward / actk_backward / actk_softmax_*, with output blending as in cuDNN:
 * out = alpha * result + beta * out (beta = 0 never reads out; beta = 1 accumulates). */
ACTK_API actk_status actk_forward_ex(int op, const double* params, actk_dtype dtype, const void* x, void* y, int64_t n,
                                     actk_backend backend, void* stream, double alpha, double beta);
ACTK_API actk_status actk_backward_ex(int op, const double* params, actk_dtype dtype, actk_from from,
                                      const void* x_or_y, const void* dy, void* dx, int64_t n, actk_backend backend,
                                      void* stream, double alpha, double beta);
ACTK_API actk_status actk_softmax_forward_ex(actk_dtype dtype, const void* x, void* y, int64_t outer, int64_t axis,
                                             int64_t inner, unsigned flags, actk_backend backend, void* stream,
                                             double alpha, double beta);
ACTK_API actk_status actk_softmax_backward_ex(actk_dtype dtype, const void* y, const void* dy, void* dx, int64_t outer,
                                              int64_t axis, int64_t inner, unsigned flags, actk_backend backend,
                                              void* stream, double alpha, double beta);

/* Fused ops (see actk.h for the semantics). params as for actk_forward; the optional arguments come
 * in the order every call uses: backend, stream, then alpha/beta blending the output
 * (out = alpha * result + beta * out; beta = 0 never reads it), then the workspace. */
ACTK_API actk_status actk_bias_act_forward_ex(int op, const double* params, actk_dtype dtype, const void* x,
                                              const void* bias, void* y, int64_t rows, int64_t cols, void* pre,
                                              actk_backend backend, void* stream, double alpha, double beta);
ACTK_API actk_status actk_bias_act_backward_ex(int op, const double* params, actk_dtype dtype, const void* x,
                                               const void* bias, const void* dy, void* dx, void* dbias, int64_t rows,
                                               int64_t cols, actk_backend backend, void* stream, double alpha,
                                               double beta, void* workspace, size_t workspace_bytes);
ACTK_API size_t actk_bias_act_backward_workspace_bytes(actk_dtype dtype, int64_t rows, int64_t cols);
ACTK_API actk_status actk_gated_forward_ex(int op, const double* params, actk_dtype dtype, const void* gate,
                                           const void* value, int64_t in_stride, void* y, int64_t rows, int64_t cols,
                                           actk_backend backend, void* stream, double alpha, double beta);
ACTK_API actk_status actk_gated_backward_ex(int op, const double* params, actk_dtype dtype, const void* gate,
                                            const void* value, int64_t in_stride, const void* dy, void* dgate,
                                            void* dvalue, int64_t rows, int64_t cols, actk_backend backend,
                                            void* stream, double alpha, double beta);

/* Cross-entropy over logits [rows, vocab] with class-index targets, as PyTorch's F.cross_entropy
 * (see actk.h's cross_entropy_forward for the full semantics). Targets are int32 or int64;
 * weight (optional, NULL = all 1) holds vocab values of the logits' dtype; lse (optional) is the
 * per-row logsumexp, float32, written by the forward and read by the backward (NULL there:
 * recomputed). loss / dloss: rows values (ACTK_REDUCTION_NONE) or one. dlogits may equal logits.
 * options: NULL for the defaults (actk_cross_entropy_default_options()). */
typedef ACTK_ENUM(actk_index_type) { ACTK_INT32 = 0, ACTK_INT64 = 1 } actk_index_type;
typedef ACTK_ENUM(actk_reduction) { ACTK_REDUCTION_NONE = 0, ACTK_REDUCTION_SUM = 1, ACTK_REDUCTION_MEAN = 2 } actk_reduction;
typedef struct actk_cross_entropy_options {
  actk_reduction reduction; /* PyTorch's default: ACTK_REDUCTION_MEAN */
  int64_t ignore_index;     /* PyTorch's default: -100 */
  double label_smoothing;   /* epsilon in [0, 1]; 0 = none */
  double z_loss;            /* lambda >= 0: adds lambda * lse^2 per row; 0 = none */
  double softcap;           /* c > 0: logits -> c * tanh(logits / c) first; 0 = none */
  const void* weight;       /* per-class weights, vocab values of the logits' dtype; NULL = none */
} actk_cross_entropy_options;
/* The defaults above (mean, -100, no smoothing, no z-loss, no cap, no weights). */
ACTK_API actk_cross_entropy_options actk_cross_entropy_default_options(void);
ACTK_API actk_status actk_cross_entropy_forward(actk_dtype dtype, const void* logits, actk_index_type target_type,
                                                const void* targets, void* loss, float* lse, int64_t rows, int64_t vocab,
                                                const actk_cross_entropy_options* options, actk_backend backend,
                                                void* stream);
ACTK_API actk_status actk_cross_entropy_backward(actk_dtype dtype, const void* logits, actk_index_type target_type,
                                                 const void* targets, const void* dloss, const float* lse, void* dlogits,
                                                 int64_t rows, int64_t vocab, const actk_cross_entropy_options* options,
                                                 actk_backend backend, void* stream);

/* Attention-style softmax over the last axis of x [batch, heads, q, k] (see actk.h's
 * attention_softmax_forward): y = softmax(scale * x + mask), with an optional additive mask (the
 * x's dtype) or keep mask (one byte per element: nonzero = attend, zero = masked out, as PyTorch's
 * boolean attn_mask) of shape [mask_batch, mask_heads, mask_q, k] (each dimension 1: broadcast, or
 * 0 / the x's size: one per index), and a causal option (key j masked when j > i + causal_offset;
 * reads no mask). flags: ACTK_SOFTMAX_LOG, ACTK_SOFTMAX_MASKED_ROWS_ZERO. k <= 16384.
 * options: NULL for the defaults (actk_attention_softmax_default_options()). */
typedef ACTK_ENUM(actk_mask_type) { ACTK_MASK_NONE = 0, ACTK_MASK_ADDITIVE = 1, ACTK_MASK_KEEP = 2 } actk_mask_type;
#define ACTK_ATTENTION_MAX_K 16384
typedef struct actk_attention_softmax_options {
  double scale;             /* 1 by default */
  actk_mask_type mask_type; /* ACTK_MASK_NONE by default */
  const void* mask;         /* NULL unless mask_type says a mask */
  int64_t mask_batch, mask_heads, mask_q; /* 1 = broadcast; 0 (the default) or the x's size = full */
  int causal;               /* nonzero: key j masked when j > i + causal_offset */
  int64_t causal_offset;    /* 0 = PyTorch's is_causal (top-left); k - q = bottom-right */
  unsigned flags;           /* ACTK_SOFTMAX_* */
} actk_attention_softmax_options;
ACTK_API actk_attention_softmax_options actk_attention_softmax_default_options(void);
ACTK_API actk_status actk_attention_softmax_forward(actk_dtype dtype, const void* x, void* y, int64_t batch, int64_t heads,
                                                    int64_t q, int64_t k, const actk_attention_softmax_options* options,
                                                    actk_backend backend, void* stream);
/* dx = scale * softmax_backward(y, dy): needs only the forward's y and dy; dx may equal y or dy. */
ACTK_API actk_status actk_attention_softmax_backward(actk_dtype dtype, const void* y, const void* dy, void* dx, int64_t batch,
                                                     int64_t heads, int64_t q, int64_t k, double scale, unsigned flags,
                                                     actk_backend backend, void* stream);

/* Clamped SwiGLU (GPT-OSS; see actk.h): y = g sigmoid(slope g) (v + 1) with g = min(gate, limit),
 * v = clamp(value, -limit, limit); GPT-OSS uses slope = 1.702, limit = 7. Layouts as actk_gated_*;
 * alpha/beta blend the output. */
ACTK_API actk_status actk_clamped_swiglu_forward(actk_dtype dtype, const void* gate, const void* value, int64_t in_stride,
                                                 void* y, int64_t rows, int64_t cols, double slope, double limit,
                                                 actk_backend backend, void* stream, double alpha, double beta);
ACTK_API actk_status actk_clamped_swiglu_backward(actk_dtype dtype, const void* gate, const void* value, int64_t in_stride,
                                                  const void* dy, void* dgate, void* dvalue, int64_t rows, int64_t cols,
                                                  double slope, double limit, actk_backend backend, void* stream, double alpha,
                                                  double beta);

/* Clamped SwiGLU over gate and value interleaved in one [rows, 2*cols] tensor (gate at 2c, value at
 * 2c + 1; see actk.h); the backward writes din in that layout (din may equal in). */
ACTK_API actk_status actk_clamped_swiglu_interleaved_forward(actk_dtype dtype, const void* in, void* y, int64_t rows, int64_t cols,
                                                             double slope, double limit, actk_backend backend, void* stream,
                                                             double alpha, double beta);
ACTK_API actk_status actk_clamped_swiglu_interleaved_backward(actk_dtype dtype, const void* in, const void* dy, void* din,
                                                              int64_t rows, int64_t cols, double slope, double limit,
                                                              actk_backend backend, void* stream, double alpha, double beta);

/* The fused calls of actk 0.1, with alpha/beta before the backend: kept (same behaviour as the _ex
 * forms above); new code should call the _ex forms. */
ACTK_API actk_status actk_bias_act_forward(int op, const double* params, actk_dtype dtype, const void* x,
                                           const void* bias, void* y, int64_t rows, int64_t cols, void* pre,
                                           double alpha, double beta, actk_backend backend, void* stream);
ACTK_API actk_status actk_bias_act_backward(int op, const double* params, actk_dtype dtype, const void* x,
                                            const void* bias, const void* dy, void* dx, void* dbias, int64_t rows,
                                            int64_t cols, double alpha, double beta, actk_backend backend,
                                            void* stream, void* workspace, size_t workspace_bytes);
ACTK_API actk_status actk_gated_forward(int op, const double* params, actk_dtype dtype, const void* gate,
                                        const void* value, int64_t in_stride, void* y, int64_t rows, int64_t cols,
                                        double alpha, double beta, actk_backend backend, void* stream);
ACTK_API actk_status actk_gated_backward(int op, const double* params, actk_dtype dtype, const void* gate,
                                         const void* value, int64_t in_stride, const void* dy, void* dgate,
                                         void* dvalue, int64_t rows, int64_t cols, double alpha, double beta,
                                         actk_backend backend, void* stream);

#ifdef __cplusplus
}
#endif

#endif /* ACTK_ACTK_C_H */
