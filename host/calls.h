// host/calls.h: what the host dispatch hands to a backend, after validation: the call structs of the
// element-wise ops, PReLU and softmax (the fused families have theirs in host/fused.h), the backend
// entry points and the CUDA runtime queries. Not installed.
#pragma once

#include <cstdint>
#include <string>

#include "actk/actk.h"
#include "actk/detail/op_switch.h"

namespace actk {
namespace detail {

/// One validated element-wise call: out[i] = op(in[i]) or op'(in[i], dy[i]).
struct ElementwiseCall {
  Op op;
  Dir dir;
  DType dtype;
  double a, b;  // parameters with defaults filled in
  const void* in;
  const void* dy;  // null for forward
  void* out;
  std::int64_t n;
  Stream stream;
  const char* call;  // "forward" or "backward", for error messages
  double alpha = 1.0, beta = 0.0;  // output blending
};

/// One validated PReLU call (dy, dx, dalpha null for forward; out is y or dx).
struct PreluCall {
  DType dtype;
  const void* x;
  const void* alpha;
  const void* dy;
  void* out;
  void* dalpha;
  std::int64_t n, channels, inner;
  Stream stream;
  void* workspace;  // GPU dalpha scratch (null: take it from the stream-ordered pool)
  std::size_t workspace_bytes;
};

/// Partial sums per channel of the GPU's first dalpha stage (the workspace holds channels x this
/// many doubles): a function of the shape only, so the summation order (and so the bits) is the
/// same every run. One partial per 512 of a channel's elements, at most 1024: enough blocks to fill
/// an H100 for every channel count (channels-first: channels x partials blocks; channels-last:
/// column tiles x partials blocks, see kernels/prelu.cu).
inline std::int64_t prelu_partials_per_channel(std::int64_t n, std::int64_t channels) {
  const std::int64_t per = channels > 0 ? n / channels : 0;
  const std::int64_t b = per / 512 + (per % 512 > 0);  // ceil without per + 511 (overflows near INT64_MAX)
  return b < 1 ? 1 : (b > 1024 ? 1024 : b);
}

/// One validated softmax call: forward reads x (in) and writes y (out); backward reads y (in) and
/// dy and writes dx (out).
struct SoftmaxCall {
  DType dtype;
  bool backward, log, masked_zero;
  const void* in;
  const void* dy;
  void* out;
  std::int64_t outer, axis, inner;
  Stream stream;
  double alpha = 1.0, beta = 0.0;  // output blending
};

/// One validated attention-softmax forward (the backward is a SoftmaxCall with alpha = scale).
/// Row r of [batch, heads, q, k] is (b, h, i) = (r / (heads q), r / q % heads, r % q); its mask row
/// is b mb + h mh + i mq (each stride 0 where the mask broadcasts), k elements each.
struct AttentionSoftmaxCall {
  DType dtype;
  const void* x;
  void* y;
  const void* mask;  // null: none
  int mask_type;     // 0 none, 1 additive (x's dtype), 2 keep (bytes)
  std::int64_t rows, heads, q, k;
  std::int64_t mb, mh, mq;  // mask row strides per batch, head, query index (in rows of k)
  bool causal;
  std::int64_t causal_offset;
  double scale;
  bool log, masked_zero;
  Stream stream;
};

/// One validated cross-entropy call (forward: loss and lse written; backward: dlogits written).
struct CrossEntropyCall {
  DType dtype;
  bool backward;
  const void* logits;
  bool targets64;
  const void* targets;
  const void* weight;  // null: all 1
  void* loss;          // forward: rows values (none) or one
  const void* dloss;   // backward: rows values (none) or one
  float* lse;          // forward: written if not null
  const float* lse_in; // backward: read if not null
  void* dlogits;
  std::int64_t rows, vocab;
  int reduction;  // 0 none, 1 sum, 2 mean (Reduction)
  std::int64_t ignore_index;
  double smoothing, z_loss, softcap;
  Stream stream;
};

/// Calls f(S{}) with S the storage type of `dtype` (float, double, float16, bfloat16): the one
/// dtype switch every backend entry point goes through.
template <class F> void with_storage(DType dtype, const char* who, F&& f) {
  switch (dtype) {
    case DType::float32: return f(float{});
    case DType::float64: return f(double{});
    case DType::float16: return f(float16{});
    case DType::bfloat16: return f(bfloat16{});
  }
  throw Error(Status::internal, std::string(who) + ": bad dtype " + std::to_string(static_cast<int>(dtype)));
}

// The CPU reference (host/cpu_*.cpp; the fused families: host/fused.h).
void cpu_elementwise(const ElementwiseCall& c);
/// The CPU loops' instruction set in use: "AVX-512", "AVX2" or "portable" (host/cpu_elementwise.cpp).
const char* cpu_simd_name();
void cpu_prelu(const PreluCall& c);
void cpu_softmax(const SoftmaxCall& c);
void cpu_attention_softmax(const AttentionSoftmaxCall& c);
void cpu_cross_entropy(const CrossEntropyCall& c);

// The CUDA backend (kernels/; in a CPU-only build these throw Status::unsupported).
void cuda_elementwise(const ElementwiseCall& c);
void cuda_prelu(const PreluCall& c);
void cuda_softmax(const SoftmaxCall& c);
void cuda_attention_softmax(const AttentionSoftmaxCall& c);
void cuda_cross_entropy(const CrossEntropyCall& c);

// CUDA runtime queries (host/cuda_runtime.cpp; trivial in a CPU-only build).
bool cuda_built() noexcept;
int cuda_device_count();  // cached; 0 when there is no usable device
enum class MemKind { host, device, managed };
/// Where p lives (host in a CPU-only build or with no device). Device memory must be on the
/// current device: actk launches on the current device, where another GPU's memory is an illegal
/// address (or, with peer access, slow remote reads), so classify refuses it
/// (Status::invalid_argument, naming both devices). Managed memory is accepted from any device.
MemKind classify(const void* p);
/// The rule classify applies to device pointers: empty when the pointer's device is the
/// current one, else the message (inline, so the tests can check it without two GPUs).
inline std::string other_device_message(int pointer_device, int current_device) {
  if (pointer_device == current_device) return std::string();
  return "a device pointer on GPU " + std::to_string(pointer_device) + ", but the current device is GPU " +
         std::to_string(current_device) + ": actk runs on the current device; call cudaSetDevice(" +
         std::to_string(pointer_device) + ") first";
}

}  // namespace detail
}  // namespace actk
