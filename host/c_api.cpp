// host/c_api.cpp: the C ABI over the C++ API. Exceptions stop here: each call returns a status
// and leaves its message in a thread-local buffer for actk_last_error().
#include <cmath>
#include <exception>
#include <limits>
#include <new>
#include <string>

#include "actk/actk.h"
#include "actk/actk_c.h"

namespace {

thread_local std::string g_last_error;

template <class F> actk_status guarded(F&& f) {
  g_last_error.clear();
  try {
    f();
    return ACTK_OK;
  } catch (const actk::Error& e) {
    g_last_error = e.what();
    return static_cast<actk_status>(e.status());
  } catch (const std::bad_alloc&) {
    g_last_error = "actk: out of host memory";
    return ACTK_ERROR_INTERNAL;
  } catch (const std::exception& e) {
    g_last_error = std::string("actk: internal error: ") + e.what();
    return ACTK_ERROR_INTERNAL;
  } catch (...) {
    g_last_error = "actk: internal error";
    return ACTK_ERROR_INTERNAL;
  }
}

actk::Params params_of(int op, const double* p) {
  actk::Params out;
  if (p == nullptr || op < 0 || op >= actk::op_count) return out;
  const int np = actk::op_table()[op].n_params;
  if (np > 0) out.a = p[0];
  if (np > 1) out.b = p[1];
  return out;
}

}  // namespace

extern "C" {

const char* actk_version(void) { return actk::version(); }
const char* actk_cpu_simd(void) { return actk::cpu_simd(); }
const char* actk_last_error(void) { return g_last_error.c_str(); }

int actk_cuda_available(void) {
  try {
    return actk::cuda_available() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

int actk_op_count(void) { return actk::op_count; }

actk_status actk_op_info_get(int op, actk_op_info* out) {
  return guarded([&] {
    if (out == nullptr) throw actk::Error(actk::Status::invalid_argument, "actk_op_info_get: argument 'out' is null");
    const actk::OpInfo& i = actk::op_info(static_cast<actk::Op>(op));
    out->name = i.name;
    out->n_params = i.n_params;
    out->param_names[0] = i.param_names[0];
    out->param_names[1] = i.param_names[1];
    out->param_defaults[0] = i.param_defaults[0];
    out->param_defaults[1] = i.param_defaults[1];
    out->has_backward_from_output = i.has_backward_from_output ? 1 : 0;
  });
}

actk_status actk_op_from_name(const char* name, int* op) {
  return guarded([&] {
    if (name == nullptr) throw actk::Error(actk::Status::invalid_argument, "actk_op_from_name: argument 'name' is null");
    if (op == nullptr) throw actk::Error(actk::Status::invalid_argument, "actk_op_from_name: argument 'op' is null");
    *op = static_cast<int>(actk::op_from_name(name));
  });
}

actk_status actk_forward(int op, const double* params, actk_dtype dtype, const void* x, void* y, int64_t n,
                         actk_backend backend, void* stream) {
  return guarded([&] {
    actk::forward(static_cast<actk::Op>(op), static_cast<actk::DType>(dtype), x, y, n, params_of(op, params),
                  static_cast<actk::Backend>(backend), stream);
  });
}

actk_status actk_backward(int op, const double* params, actk_dtype dtype, actk_from from, const void* x_or_y,
                          const void* dy, void* dx, int64_t n, actk_backend backend, void* stream) {
  return guarded([&] {
    actk::backward(static_cast<actk::Op>(op), static_cast<actk::DType>(dtype), static_cast<actk::From>(from), x_or_y, dy,
                   dx, n, params_of(op, params), static_cast<actk::Backend>(backend), stream);
  });
}

actk_status actk_prelu_forward(actk_dtype dtype, const void* x, const void* alpha, void* y, int64_t n, int64_t channels,
                               int64_t inner, actk_backend backend, void* stream) {
  return guarded([&] {
    actk::prelu_forward(static_cast<actk::DType>(dtype), x, alpha, y, n, channels, inner,
                        static_cast<actk::Backend>(backend), stream);
  });
}

actk_status actk_prelu_backward(actk_dtype dtype, const void* x, const void* dy, const void* alpha, void* dx,
                                void* dalpha, int64_t n, int64_t channels, int64_t inner, actk_backend backend,
                                void* stream, void* workspace, size_t workspace_bytes) {
  return guarded([&] {
    actk::prelu_backward(static_cast<actk::DType>(dtype), x, dy, alpha, dx, dalpha, n, channels, inner,
                         static_cast<actk::Backend>(backend), stream, workspace, workspace_bytes);
  });
}

size_t actk_prelu_backward_workspace_bytes(actk_dtype dtype, int64_t n, int64_t channels, int64_t inner) {
  return actk::prelu_backward_workspace_bytes(static_cast<actk::DType>(dtype), n, channels, inner);
}

actk_status actk_softmax_forward(actk_dtype dtype, const void* x, void* y, int64_t outer, int64_t axis, int64_t inner,
                                 unsigned flags, actk_backend backend, void* stream) {
  return guarded([&] {
    actk::softmax_forward(static_cast<actk::DType>(dtype), x, y, outer, axis, inner, flags,
                          static_cast<actk::Backend>(backend), stream);
  });
}

actk_status actk_softmax_backward(actk_dtype dtype, const void* y, const void* dy, void* dx, int64_t outer, int64_t axis,
                                  int64_t inner, unsigned flags, actk_backend backend, void* stream) {
  return guarded([&] {
    actk::softmax_backward(static_cast<actk::DType>(dtype), y, dy, dx, outer, axis, inner, flags,
                           static_cast<actk::Backend>(backend), stream);
  });
}

actk_status actk_forward_ex(int op, const double* params, actk_dtype dtype, const void* x, void* y, int64_t n,
                            actk_backend backend, void* stream, double alpha, double beta) {
  return guarded([&] {
    actk::forward(static_cast<actk::Op>(op), static_cast<actk::DType>(dtype), x, y, n, params_of(op, params),
                  static_cast<actk::Backend>(backend), stream, actk::Blend{alpha, beta});
  });
}

actk_status actk_backward_ex(int op, const double* params, actk_dtype dtype, actk_from from, const void* x_or_y,
                             const void* dy, void* dx, int64_t n, actk_backend backend, void* stream, double alpha,
                             double beta) {
  return guarded([&] {
    actk::backward(static_cast<actk::Op>(op), static_cast<actk::DType>(dtype), static_cast<actk::From>(from), x_or_y, dy,
                   dx, n, params_of(op, params), static_cast<actk::Backend>(backend), stream, actk::Blend{alpha, beta});
  });
}

actk_status actk_softmax_forward_ex(actk_dtype dtype, const void* x, void* y, int64_t outer, int64_t axis, int64_t inner,
                                    unsigned flags, actk_backend backend, void* stream, double alpha, double beta) {
  return guarded([&] {
    actk::softmax_forward(static_cast<actk::DType>(dtype), x, y, outer, axis, inner, flags,
                          static_cast<actk::Backend>(backend), stream, actk::Blend{alpha, beta});
  });
}

actk_status actk_softmax_backward_ex(actk_dtype dtype, const void* y, const void* dy, void* dx, int64_t outer, int64_t axis,
                                     int64_t inner, unsigned flags, actk_backend backend, void* stream, double alpha,
                                     double beta) {
  return guarded([&] {
    actk::softmax_backward(static_cast<actk::DType>(dtype), y, dy, dx, outer, axis, inner, flags,
                           static_cast<actk::Backend>(backend), stream, actk::Blend{alpha, beta});
  });
}

actk_status actk_bias_act_forward_ex(int op, const double* params, actk_dtype dtype, const void* x, const void* bias, void* y,
                                     int64_t rows, int64_t cols, void* pre, actk_backend backend, void* stream, double alpha,
                                     double beta) {
  return guarded([&] {
    actk::bias_act_forward(static_cast<actk::Op>(op), static_cast<actk::DType>(dtype), x, bias, y, rows, cols,
                           params_of(op, params), pre, static_cast<actk::Backend>(backend), stream, actk::Blend{alpha, beta});
  });
}

actk_status actk_bias_act_backward_ex(int op, const double* params, actk_dtype dtype, const void* x, const void* bias,
                                      const void* dy, void* dx, void* dbias, int64_t rows, int64_t cols, actk_backend backend,
                                      void* stream, double alpha, double beta, void* workspace, size_t workspace_bytes) {
  return guarded([&] {
    actk::bias_act_backward(static_cast<actk::Op>(op), static_cast<actk::DType>(dtype), x, bias, dy, dx, dbias, rows, cols,
                            params_of(op, params), static_cast<actk::Backend>(backend), stream, actk::Blend{alpha, beta},
                            workspace, workspace_bytes);
  });
}

size_t actk_bias_act_backward_workspace_bytes(actk_dtype dtype, int64_t rows, int64_t cols) {
  return actk::bias_act_backward_workspace_bytes(static_cast<actk::DType>(dtype), rows, cols);
}

actk_status actk_gated_forward_ex(int op, const double* params, actk_dtype dtype, const void* gate, const void* value,
                                  int64_t in_stride, void* y, int64_t rows, int64_t cols, actk_backend backend, void* stream,
                                  double alpha, double beta) {
  return guarded([&] {
    actk::gated_forward(static_cast<actk::Op>(op), static_cast<actk::DType>(dtype), gate, value, in_stride, y, rows, cols,
                        params_of(op, params), static_cast<actk::Backend>(backend), stream, actk::Blend{alpha, beta});
  });
}

actk_status actk_gated_backward_ex(int op, const double* params, actk_dtype dtype, const void* gate, const void* value,
                                   int64_t in_stride, const void* dy, void* dgate, void* dvalue, int64_t rows, int64_t cols,
                                   actk_backend backend, void* stream, double alpha, double beta) {
  return guarded([&] {
    actk::gated_backward(static_cast<actk::Op>(op), static_cast<actk::DType>(dtype), gate, value, in_stride, dy, dgate,
                         dvalue, rows, cols, params_of(op, params), static_cast<actk::Backend>(backend), stream,
                         actk::Blend{alpha, beta});
  });
}

// The fused symbols of actk 0.1 (alpha, beta before the backend), kept: the C ABI is a promise.
actk_status actk_bias_act_forward(int op, const double* params, actk_dtype dtype, const void* x, const void* bias, void* y,
                                  int64_t rows, int64_t cols, void* pre, double alpha, double beta, actk_backend backend,
                                  void* stream) {
  return actk_bias_act_forward_ex(op, params, dtype, x, bias, y, rows, cols, pre, backend, stream, alpha, beta);
}

actk_status actk_bias_act_backward(int op, const double* params, actk_dtype dtype, const void* x, const void* bias,
                                   const void* dy, void* dx, void* dbias, int64_t rows, int64_t cols, double alpha,
                                   double beta, actk_backend backend, void* stream, void* workspace,
                                   size_t workspace_bytes) {
  return actk_bias_act_backward_ex(op, params, dtype, x, bias, dy, dx, dbias, rows, cols, backend, stream, alpha, beta,
                                   workspace, workspace_bytes);
}

actk_status actk_gated_forward(int op, const double* params, actk_dtype dtype, const void* gate, const void* value,
                               int64_t in_stride, void* y, int64_t rows, int64_t cols, double alpha, double beta,
                               actk_backend backend, void* stream) {
  return actk_gated_forward_ex(op, params, dtype, gate, value, in_stride, y, rows, cols, backend, stream, alpha, beta);
}

actk_status actk_gated_backward(int op, const double* params, actk_dtype dtype, const void* gate, const void* value,
                                int64_t in_stride, const void* dy, void* dgate, void* dvalue, int64_t rows, int64_t cols,
                                double alpha, double beta, actk_backend backend, void* stream) {
  return actk_gated_backward_ex(op, params, dtype, gate, value, in_stride, dy, dgate, dvalue, rows, cols, backend, stream,
                                alpha, beta);
}

actk_cross_entropy_options actk_cross_entropy_default_options(void) {
  const actk::CrossEntropyOptions d;
  return actk_cross_entropy_options{static_cast<actk_reduction>(d.reduction), d.ignore_index, d.label_smoothing, d.z_loss,
                                    d.softcap, d.weight};
}

static actk::CrossEntropyOptions ce_options(const actk_cross_entropy_options* o) {
  actk::CrossEntropyOptions r;
  if (o == nullptr) return r;  // NULL: the defaults
  r.reduction = static_cast<actk::Reduction>(o->reduction);
  r.ignore_index = o->ignore_index;
  r.label_smoothing = o->label_smoothing;
  r.z_loss = o->z_loss;
  r.softcap = o->softcap;
  r.weight = o->weight;
  return r;
}

actk_status actk_cross_entropy_forward(actk_dtype dtype, const void* logits, actk_index_type target_type, const void* targets,
                                       void* loss, float* lse, int64_t rows, int64_t vocab,
                                       const actk_cross_entropy_options* options, actk_backend backend, void* stream) {
  return guarded([&] {
    actk::cross_entropy_forward(static_cast<actk::DType>(dtype), logits, static_cast<actk::IndexType>(target_type), targets, loss,
                                lse, rows, vocab, ce_options(options), static_cast<actk::Backend>(backend), stream);
  });
}

actk_status actk_cross_entropy_backward(actk_dtype dtype, const void* logits, actk_index_type target_type, const void* targets,
                                        const void* dloss, const float* lse, void* dlogits, int64_t rows, int64_t vocab,
                                        const actk_cross_entropy_options* options, actk_backend backend, void* stream) {
  return guarded([&] {
    actk::cross_entropy_backward(static_cast<actk::DType>(dtype), logits, static_cast<actk::IndexType>(target_type), targets,
                                 dloss, lse, dlogits, rows, vocab, ce_options(options), static_cast<actk::Backend>(backend),
                                 stream);
  });
}

actk_attention_softmax_options actk_attention_softmax_default_options(void) {
  const actk::AttentionSoftmaxOptions d;
  return actk_attention_softmax_options{d.scale,     static_cast<actk_mask_type>(d.mask_type), d.mask,  d.mask_batch,
                                        d.mask_heads, d.mask_q, d.causal ? 1 : 0, d.causal_offset, d.flags};
}

actk_status actk_attention_softmax_forward(actk_dtype dtype, const void* x, void* y, int64_t batch, int64_t heads, int64_t q,
                                           int64_t k, const actk_attention_softmax_options* options, actk_backend backend,
                                           void* stream) {
  return guarded([&] {
    actk::AttentionSoftmaxOptions o;
    if (options != nullptr) {
      o.scale = options->scale;
      o.mask_type = static_cast<actk::MaskType>(options->mask_type);
      o.mask = options->mask;
      o.mask_batch = options->mask_batch;
      o.mask_heads = options->mask_heads;
      o.mask_q = options->mask_q;
      o.causal = options->causal != 0;
      o.causal_offset = options->causal_offset;
      o.flags = options->flags;
    }
    actk::attention_softmax_forward(static_cast<actk::DType>(dtype), x, y, batch, heads, q, k, o,
                                    static_cast<actk::Backend>(backend), stream);
  });
}

actk_status actk_attention_softmax_backward(actk_dtype dtype, const void* y, const void* dy, void* dx, int64_t batch, int64_t heads,
                                            int64_t q, int64_t k, double scale, unsigned flags, actk_backend backend, void* stream) {
  return guarded([&] {
    actk::attention_softmax_backward(static_cast<actk::DType>(dtype), y, dy, dx, batch, heads, q, k, scale, flags,
                                     static_cast<actk::Backend>(backend), stream);
  });
}

actk_status actk_clamped_swiglu_forward(actk_dtype dtype, const void* gate, const void* value, int64_t in_stride, void* y,
                                        int64_t rows, int64_t cols, double slope, double limit, actk_backend backend, void* stream,
                                        double alpha, double beta) {
  return guarded([&] {
    actk::clamped_swiglu_forward(static_cast<actk::DType>(dtype), gate, value, in_stride, y, rows, cols, slope, limit,
                                 static_cast<actk::Backend>(backend), stream, actk::Blend{alpha, beta});
  });
}

actk_status actk_clamped_swiglu_backward(actk_dtype dtype, const void* gate, const void* value, int64_t in_stride, const void* dy,
                                         void* dgate, void* dvalue, int64_t rows, int64_t cols, double slope, double limit,
                                         actk_backend backend, void* stream, double alpha, double beta) {
  return guarded([&] {
    actk::clamped_swiglu_backward(static_cast<actk::DType>(dtype), gate, value, in_stride, dy, dgate, dvalue, rows, cols, slope,
                                  limit, static_cast<actk::Backend>(backend), stream, actk::Blend{alpha, beta});
  });
}

actk_status actk_clamped_swiglu_interleaved_forward(actk_dtype dtype, const void* in, void* y, int64_t rows, int64_t cols,
                                                    double slope, double limit, actk_backend backend, void* stream, double alpha,
                                                    double beta) {
  return guarded([&] {
    actk::clamped_swiglu_interleaved_forward(static_cast<actk::DType>(dtype), in, y, rows, cols, slope, limit,
                                             static_cast<actk::Backend>(backend), stream, actk::Blend{alpha, beta});
  });
}

actk_status actk_clamped_swiglu_interleaved_backward(actk_dtype dtype, const void* in, const void* dy, void* din, int64_t rows,
                                                     int64_t cols, double slope, double limit, actk_backend backend, void* stream,
                                                     double alpha, double beta) {
  return guarded([&] {
    actk::clamped_swiglu_interleaved_backward(static_cast<actk::DType>(dtype), in, dy, din, rows, cols, slope, limit,
                                              static_cast<actk::Backend>(backend), stream, actk::Blend{alpha, beta});
  });
}

}  // extern "C"
