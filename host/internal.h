// host/internal.h: what the host dispatch hands to a backend, after validation. Not installed.
#pragma once

#include <cstdint>

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

/// Blocks per channel of the GPU's first dalpha stage: a function of the shape only, so the
/// summation order (and so the bits) is the same every run.
inline std::int64_t prelu_partials_per_channel(std::int64_t n, std::int64_t channels) {
  const std::int64_t per = channels > 0 ? n / channels : 0;
  const std::int64_t b = (per + 65535) / 65536;
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
};

// The CPU reference (host/cpu_*.cpp).
void cpu_elementwise(const ElementwiseCall& c);
void cpu_prelu(const PreluCall& c);
void cpu_softmax(const SoftmaxCall& c);

// The CUDA backend (kernels/; in a CPU-only build these throw Status::unsupported).
void cuda_elementwise(const ElementwiseCall& c);
void cuda_prelu(const PreluCall& c);
void cuda_softmax(const SoftmaxCall& c);

// CUDA runtime queries (host/cuda_runtime.cpp; trivial in a CPU-only build).
bool cuda_built() noexcept;
int cuda_device_count();  // cached; 0 when there is no usable device
enum class MemKind { host, device, managed };
MemKind classify(const void* p);  // host in a CPU-only build or with no device

}  // namespace detail
}  // namespace actk
