// host/cpu_fused.cpp: the fused ops on the CPU, every dtype: bias + activation (forward, and
// backward with dbias summed in double in row order) and gated activations (forward, and both
// halves' gradients in one pass), with cuDNN-style output blending. The element math is the op
// list's functors in double, rounded once, as for the plain ops.
#include <vector>

#include "host/cpu.h"

namespace actk {
namespace detail {

namespace {

template <class S> double blended(double r, const FusedCall& c, const S* out, std::int64_t i) {
  return blend(r, c.alpha, c.beta, out + i);
}

template <class Fn, class S> void fused_typed(const FusedCall& c) {
  const P<double> p = P<double>::make(c.a, c.b);
  const auto* x = static_cast<const S*>(c.x);
  const auto* aux = static_cast<const S*>(c.aux);
  const auto* dy = static_cast<const S*>(c.dy);
  auto* out = static_cast<S*>(c.out);
  auto* out2 = static_cast<S*>(c.out2);
  const std::int64_t rows = c.rows, cols = c.cols, n = rows * cols;
  switch (c.kind) {
    case FusedKind::bias_fwd:
      parallel_chunks(n, [&](std::int64_t lo, std::int64_t hi) {
        for (std::int64_t i = lo; i < hi; ++i) {
          const double z = load(x[i]) + (aux ? load(aux[i % cols]) : 0.0);
          const double r = blended(Fn::forward(z, p), c, out, i);
          if (out2) out2[i] = store<S>(z);
          out[i] = store<S>(r);
        }
      });
      break;
    case FusedKind::bias_bwd: {
      if (out2) {  // dbias first: dx may alias x or dy
        std::vector<double> sum(static_cast<std::size_t>(cols), 0.0);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (n >= kCpuParallelMin)
#endif
        for (std::int64_t col = 0; col < cols; ++col) {
          double s = 0;
          const double b = aux ? load(aux[col]) : 0.0;
          for (std::int64_t r = 0; r < rows; ++r) {
            const std::int64_t i = r * cols + col;
            s += Fn::backward_from_input(load(x[i]) + b, load(dy[i]), p);
          }
          sum[static_cast<std::size_t>(col)] = s;
        }
        for (std::int64_t col = 0; col < cols; ++col) out2[col] = store<S>(c.alpha * sum[static_cast<std::size_t>(col)]);
      }
      parallel_chunks(n, [&](std::int64_t lo, std::int64_t hi) {
        for (std::int64_t i = lo; i < hi; ++i) {
          const double z = load(x[i]) + (aux ? load(aux[i % cols]) : 0.0);
          out[i] = store<S>(blended(Fn::backward_from_input(z, load(dy[i]), p), c, out, i));
        }
      });
      break;
    }
    case FusedKind::gated_fwd:
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (n >= kCpuParallelMin)
#endif
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t col = 0; col < cols; ++col) {
          const std::int64_t i = r * c.in_stride + col, o = r * cols + col;
          out[o] = store<S>(blended(Fn::forward(load(x[i]), p) * load(aux[i]), c, out, o));
        }
      break;
    case FusedKind::gated_bwd:
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (n >= kCpuParallelMin)
#endif
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t col = 0; col < cols; ++col) {
          const std::int64_t i = r * c.in_stride + col, o = r * cols + col;
          const double g = load(x[i]), v = load(aux[i]), d = load(dy[o]);
          const double dg = blended(Fn::backward_from_input(g, d * v, p), c, out, i);
          const double dv = blended(d * Fn::forward(g, p), c, out2, i);
          out[i] = store<S>(dg);
          out2[i] = store<S>(dv);
        }
      break;
  }
}

template <class S> void fused_dtype(const FusedCall& c) {
  with_op(c.op, [&](auto tag) { fused_typed<typename decltype(tag)::fn, S>(c); });
}

}  // namespace

void cpu_fused(const FusedCall& c) {
  with_storage(c.dtype, "cpu_fused", [&](auto s) { fused_dtype<decltype(s)>(c); });
}

}  // namespace detail
}  // namespace actk
