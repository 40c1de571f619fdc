// host/fused.h: the fused families (ops that fuse an activation with what training code does
// around it). Each family is named once in ACTK_FUSED_FAMILIES and has its own validated call
// struct with named fields; the list declares each family's CPU and CUDA entry points, which the
// host dispatch (host/api_fused.cpp) reaches by overload on the call type. The CPU row loops are
// in host/cpu_fused.h, the kernels in kernels/fused.cuh; the list also generates the per-dtype
// instantiations (host/cpu_fused.cpp, host/cpu_avx2.cpp, kernels/fused_<type>.cu) and the stubs
// of a CPU-only build (host/cuda_stub.cpp).
//
// Adding a family: its public function (include/actk/actk.h) and C ABI (actk_c.h, host/c_api.cpp),
// a call struct and a line of the list here, its entry point and validation (host/api_fused.cpp),
// a `cpu_rows` overload (host/cpu_fused.h), a `launch_fused` overload (kernels/fused.cuh), tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "actk/detail/gated_clamp.h"
#include "host/calls.h"

namespace actk {
namespace detail {

/// What every fused call has: the op with its parameters (defaults filled in), the output blend,
/// the [rows, cols] shape, the stream, and the public call's name for messages.
struct FusedCommon {
  Op op;
  DType dtype;
  double a, b;         // the op's parameters
  double alpha, beta;  // blending: out = alpha * r + beta * out
  std::int64_t rows, cols;
  Stream stream;
  const char* call;
};

/// y = f(x + bias[col]) (bias may be null); pre, when not null, receives x + bias.
struct BiasActForwardCall : FusedCommon {
  const void* x;
  const void* bias;
  void* y;
  void* pre;
};

/// dx = f'(x + bias[col]) dy; dbias (may be null) = alpha * the column sums of the same terms.
/// workspace: the GPU's dbias partial sums (null: from the stream-ordered pool).
struct BiasActBackwardCall : FusedCommon {
  const void* x;
  const void* bias;
  const void* dy;
  void* dx;
  void* dbias;
  void* workspace;
  std::size_t workspace_bytes;
};

/// y = f(gate) value; gate and value rows are in_stride elements apart, y is [rows, cols].
struct GatedForwardCall : FusedCommon {
  const void* gate;
  const void* value;
  std::int64_t in_stride;
  void* y;
  double clamp_limit = 0;  // > 0: GPT-OSS's clamped SwiGLU clamps (actk/detail/gated_clamp.h); 0: none
  std::int64_t col_step = 1;  // elements between a row's columns: 1, or 2 for gate and value interleaved
};

/// dgate = dy value f'(gate), dvalue = dy f(gate), written with the inputs' layout (in_stride).
struct GatedBackwardCall : FusedCommon {
  const void* gate;
  const void* value;
  std::int64_t in_stride;
  const void* dy;
  void* dgate;
  void* dvalue;
  double clamp_limit = 0;  // as GatedForwardCall's
  std::int64_t col_step = 1;  // as GatedForwardCall's (dgate and dvalue interleaved like gate and value)
};

/// The clamps a gated call applies, in the compute type T (identity steps when clamp_limit = 0).
template <class T, class Call> GatedClamp<T> gated_clamp(const Call& c) {
  if (c.clamp_limit > 0) return GatedClamp<T>{static_cast<T>(c.clamp_limit), T(1)};
  return GatedClamp<T>{std::numeric_limits<T>::infinity(), -T(0)};
}

/// Every fused family, once: X(Name) for a call struct NameCall.
#define ACTK_FUSED_FAMILIES(X) X(BiasActForward) X(BiasActBackward) X(GatedForward) X(GatedBackward)

#define ACTK_FUSED_DECLARE(F)     \
  void cpu_fused(const F##Call& c); \
  void cuda_fused(const F##Call& c);
ACTK_FUSED_FAMILIES(ACTK_FUSED_DECLARE)
#undef ACTK_FUSED_DECLARE

/// The shape of the GPU's dbias reduction, a function of (rows, cols) only, so that dbias has the
/// same bits every run, on every device, and whichever kernel (vectorized or scalar) ran. A block
/// of 256 threads gives each column `lanes` row lanes (256 / the power of two >= cols, at least 1):
/// lane l sums rows l, l + lanes, ... of its chunk in order, then the lanes are added in order.
inline int dbias_row_lanes(std::int64_t cols) {
  std::int64_t p = 1;
  while (p < cols && p < 256) p *= 2;
  return static_cast<int>(256 / p);
}
/// The rows are cut into this many consecutive chunks (one partial sum per chunk and column): enough
/// for ~2048 blocks of 256 threads (a wave and more on a 132-SM GPU) where the rows allow at least
/// 4 rows per lane, at most 4096; at least 1.
inline std::int64_t dbias_row_chunks(std::int64_t rows, std::int64_t cols) {
  const std::int64_t per_block = 256 / dbias_row_lanes(cols);                  // columns of one block (scalar kernel)
  const std::int64_t tiles = cols / per_block + (cols % per_block > 0);         // ceil without overflow
  const std::int64_t want = tiles >= 2048 ? 1 : 2048 / (tiles < 1 ? 1 : tiles);
  const std::int64_t rows_per_chunk = 4 * static_cast<std::int64_t>(dbias_row_lanes(cols));
  const std::int64_t most = rows / rows_per_chunk + (rows % rows_per_chunk > 0);
  const std::int64_t c = want < most ? want : most;
  return c < 1 ? 1 : (c > 4096 ? 4096 : c);
}

}  // namespace detail
}  // namespace actk
