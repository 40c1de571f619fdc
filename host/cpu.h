// host/cpu.h: the CPU reference loops. Every element is computed by the op's functor in double
// and rounded once to the storage type, so this path is the accuracy oracle the GPU is checked
// against. Large inputs are split over threads (OpenMP when available) in fixed chunks.
#pragma once

#include <cstdint>

#include "actk/half.h"
#include "host/internal.h"

namespace actk {
namespace detail {

inline double load(float v) { return static_cast<double>(v); }
inline double load(double v) { return v; }
inline double load(float16 v) { return static_cast<double>(v); }
inline double load(bfloat16 v) { return static_cast<double>(v); }

template <class S> inline S store(double v) { return static_cast<S>(v); }
template <> inline float16 store<float16>(double v) { return float16(v); }
template <> inline bfloat16 store<bfloat16>(double v) { return bfloat16(v); }

constexpr std::int64_t kCpuChunk = std::int64_t{1} << 14;  // elements per task
constexpr std::int64_t kCpuParallelMin = std::int64_t{1} << 15;

/// Runs body(lo, hi) over [0, n) in chunks of kCpuChunk, on all cores for large n.
template <class Body> void parallel_chunks(std::int64_t n, Body&& body) {
  const std::int64_t chunks = (n + kCpuChunk - 1) / kCpuChunk;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (n >= kCpuParallelMin)
#endif
  for (std::int64_t c = 0; c < chunks; ++c) {
    const std::int64_t lo = c * kCpuChunk;
    const std::int64_t hi = lo + kCpuChunk < n ? lo + kCpuChunk : n;
    body(lo, hi);
  }
}

/// out = alpha * r + beta * out (cuDNN's blending); beta = 0 never reads out.
template <class S> inline double blend(double r, double alpha, double beta, const S* out) {
  if (alpha != 1.0) r *= alpha;
  if (beta != 0.0) r += beta * load(*out);
  return r;
}

template <class Fn, Dir D, class S>
void cpu_loop(const S* in, const S* dy, S* out, std::int64_t n, P<double> p, double alpha, double beta) {
  parallel_chunks(n, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) {
      const double x = load(in[i]);
      double r;
      if constexpr (D == Dir::forward) r = Fn::forward(x, p);
      else if constexpr (D == Dir::from_input) r = Fn::backward_from_input(x, load(dy[i]), p);
      else r = Fn::backward_from_output(x, load(dy[i]), p);
      out[i] = store<S>(blend(r, alpha, beta, out + i));
    }
  });
}

/// The element-wise CPU path for one storage type (instantiated in host/cpu_<type>.cpp).
template <class S> void cpu_elementwise_typed(const ElementwiseCall& c) {
  const auto* in = static_cast<const S*>(c.in);
  const auto* dy = static_cast<const S*>(c.dy);
  auto* out = static_cast<S*>(c.out);
  const P<double> p = P<double>::make(c.a, c.b);
  with_op(c.op, [&](auto tag) {
    using Tag = decltype(tag);
    using Fn = typename Tag::fn;
    switch (c.dir) {
      case Dir::forward: cpu_loop<Fn, Dir::forward>(in, dy, out, c.n, p, c.alpha, c.beta); break;
      case Dir::from_input: cpu_loop<Fn, Dir::from_input>(in, dy, out, c.n, p, c.alpha, c.beta); break;
      case Dir::from_output:
        if constexpr (Tag::from_output) cpu_loop<Fn, Dir::from_output>(in, dy, out, c.n, p, c.alpha, c.beta);
        break;
    }
  });
}

// Instantiated once each, in host/cpu_<type>.cpp.
extern template void cpu_elementwise_typed<float>(const ElementwiseCall&);
extern template void cpu_elementwise_typed<double>(const ElementwiseCall&);
extern template void cpu_elementwise_typed<float16>(const ElementwiseCall&);
extern template void cpu_elementwise_typed<bfloat16>(const ElementwiseCall&);

}  // namespace detail
}  // namespace actk
