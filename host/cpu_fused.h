// host/cpu_fused.h: the fused ops' CPU loops, one row (or a column range of one row) at a time,
// so no element needs a division to find its column. The row bodies are always inlined into a
// "rows" policy: FusedRowsBase here (the portable build) and an AVX2 one in host/cpu_avx2.cpp
// (vectorized against libmvec), exactly as the element-wise chunks (host/cpu.h). Each element is
// read before it is written, so the in-place layouts the API allows are safe.
#pragma once

#include <vector>

#include "host/cpu.h"

namespace actk {
namespace detail {

/// y = f(x + b) over one row (pre = x + b rounded, when asked).
template <class Fn, class S, class Cv = ConvertBase>
[[gnu::always_inline]] inline void bias_fwd_row(const S* x, const S* b, S* y, S* pre, std::int64_t cols, const P<double>& p,
                                                double alpha, double beta) {
  // (no bias: x + 0, as the GPU kernels; the test for b is hoisted out of the loops, which a
  // conditional load inside would keep from vectorizing)
  if (pre) {  // one pass: y or pre may be x itself (in place), so x[j] is read before either is written
#pragma omp simd
    for (std::int64_t j = 0; j < cols; ++j) {
      const double z = Cv::ld(x[j]) + (b ? Cv::ld(b[j]) : 0.0), r = Fn::forward(z, p);
      double o = alpha == 1.0 ? r : r * alpha;
      if (beta != 0.0) o += beta * Cv::ld(y[j]);
      pre[j] = Cv::template st<S>(z);
      y[j] = Cv::template st<S>(o);
    }
    return;
  }
  if (b) {
    ACTK_BLEND_ROW(cols, y, Fn::forward(Cv::ld(x[j]) + Cv::ld(b[j]), p))
  } else {
    ACTK_BLEND_ROW(cols, y, Fn::forward(Cv::ld(x[j]) + 0.0, p))
  }
}

/// dx = f'(x + b) dy over one row.
template <class Fn, class S, class Cv = ConvertBase>
[[gnu::always_inline]] inline void bias_bwd_row(const S* x, const S* b, const S* dy, S* dx, std::int64_t cols, const P<double>& p,
                                                double alpha, double beta) {
  if (b) {
    ACTK_BLEND_ROW(cols, dx, Fn::backward_from_input(Cv::ld(x[j]) + Cv::ld(b[j]), Cv::ld(dy[j]), p))
  } else {
    ACTK_BLEND_ROW(cols, dx, Fn::backward_from_input(Cv::ld(x[j]) + 0.0, Cv::ld(dy[j]), p))
  }
}

/// sum[j] += f'(x + b) dy over columns [0, n) of one row (rows are added in order: the sum's
/// order is the rows', whatever the thread count).
template <class Fn, class S, class Cv = ConvertBase>
[[gnu::always_inline]] inline void dbias_row(const S* x, const S* b, const S* dy, double* sum, std::int64_t n, const P<double>& p) {
  if (b) {
#pragma omp simd
    for (std::int64_t j = 0; j < n; ++j) sum[j] += Fn::backward_from_input(Cv::ld(x[j]) + Cv::ld(b[j]), Cv::ld(dy[j]), p);
  } else {
#pragma omp simd
    for (std::int64_t j = 0; j < n; ++j) sum[j] += Fn::backward_from_input(Cv::ld(x[j]) + 0.0, Cv::ld(dy[j]), p);
  }
}

/// y = f(gate) value over one row.
template <class Fn, class S, class Cv = ConvertBase>
[[gnu::always_inline]] inline void gated_fwd_row(const S* g, const S* v, S* y, std::int64_t cols, const P<double>& p, double alpha,
                                                 double beta) {
  ACTK_BLEND_ROW(cols, y, Fn::forward(Cv::ld(g[j]), p) * Cv::ld(v[j]))
}

/// dgate = dy value f'(gate), dvalue = dy f(gate) over one row; both read before either is written.
template <class Fn, class S, class Cv = ConvertBase>
[[gnu::always_inline]] inline void gated_bwd_row(const S* g, const S* v, const S* dy, S* dg, S* dv, std::int64_t cols,
                                                 const P<double>& p, double alpha, double beta) {
#pragma omp simd
  for (std::int64_t j = 0; j < cols; ++j) {
    const double gj = Cv::ld(g[j]), vj = Cv::ld(v[j]), d = Cv::ld(dy[j]);
    double a = Fn::backward_from_input(gj, d * vj, p), c = d * Fn::forward(gj, p);
    if (alpha != 1.0) a *= alpha, c *= alpha;
    if (beta != 0.0) a += beta * Cv::ld(dg[j]), c += beta * Cv::ld(dv[j]);
    dg[j] = Cv::template st<S>(a);
    dv[j] = Cv::template st<S>(c);
  }
}

struct FusedRowsBase {
  template <class Fn, class S>
  static void bias_fwd(const S* x, const S* b, S* y, S* pre, std::int64_t cols, const P<double>& p, double alpha, double beta) {
    bias_fwd_row<Fn, S>(x, b, y, pre, cols, p, alpha, beta);
  }
  template <class Fn, class S>
  static void bias_bwd(const S* x, const S* b, const S* dy, S* dx, std::int64_t cols, const P<double>& p, double alpha, double beta) {
    bias_bwd_row<Fn, S>(x, b, dy, dx, cols, p, alpha, beta);
  }
  template <class Fn, class S>
  static void dbias(const S* x, const S* b, const S* dy, double* sum, std::int64_t n, const P<double>& p) {
    dbias_row<Fn, S>(x, b, dy, sum, n, p);
  }
  template <class Fn, class S>
  static void gated_fwd(const S* g, const S* v, S* y, std::int64_t cols, const P<double>& p, double alpha, double beta) {
    gated_fwd_row<Fn, S>(g, v, y, cols, p, alpha, beta);
  }
  template <class Fn, class S>
  static void gated_bwd(const S* g, const S* v, const S* dy, S* dg, S* dv, std::int64_t cols, const P<double>& p, double alpha,
                        double beta) {
    gated_bwd_row<Fn, S>(g, v, dy, dg, dv, cols, p, alpha, beta);
  }
};

/// Rows in parallel (OpenMP) when the tensor is large.
template <class Body> void parallel_rows(std::int64_t rows, std::int64_t n, Body&& body) {
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (n >= kCpuParallelMin && rows > 1)
#endif
  for (std::int64_t r = 0; r < rows; ++r) body(r);
}

template <class Fn, class S, class Rows> void cpu_fused_op(const FusedCall& c) {
  const P<double> p = P<double>::make(c.a, c.b);
  const auto* x = static_cast<const S*>(c.x);
  const auto* aux = static_cast<const S*>(c.aux);
  const auto* dy = static_cast<const S*>(c.dy);
  auto* out = static_cast<S*>(c.out);
  auto* out2 = static_cast<S*>(c.out2);
  const std::int64_t rows = c.rows, cols = c.cols, n = rows * cols, st = c.in_stride;
  const double alpha = c.alpha, beta = c.beta;
  switch (c.kind) {
    case FusedKind::bias_fwd:
      parallel_rows(rows, n, [&](std::int64_t r) {
        Rows::template bias_fwd<Fn, S>(x + r * cols, aux, out + r * cols, out2 ? out2 + r * cols : nullptr, cols, p, alpha, beta);
      });
      break;
    case FusedKind::bias_bwd:
      if (out2) {  // dbias first (dx may alias x or dy): each thread owns a column range, rows in order
        std::vector<double> sum(static_cast<std::size_t>(cols), 0.0);
        constexpr std::int64_t kCols = 256;  // columns per task
        const std::int64_t blocks = (cols + kCols - 1) / kCols;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (n >= kCpuParallelMin && blocks > 1)
#endif
        for (std::int64_t cb = 0; cb < blocks; ++cb) {
          const std::int64_t c0 = cb * kCols, w = c0 + kCols < cols ? kCols : cols - c0;
          for (std::int64_t r = 0; r < rows; ++r)
            Rows::template dbias<Fn, S>(x + r * cols + c0, aux ? aux + c0 : nullptr, dy + r * cols + c0, sum.data() + c0, w, p);
        }
        for (std::int64_t col = 0; col < cols; ++col) out2[col] = store<S>(alpha * sum[static_cast<std::size_t>(col)]);
      }
      parallel_rows(rows, n, [&](std::int64_t r) {
        Rows::template bias_bwd<Fn, S>(x + r * cols, aux, dy + r * cols, out + r * cols, cols, p, alpha, beta);
      });
      break;
    case FusedKind::gated_fwd:
      parallel_rows(rows, n, [&](std::int64_t r) { Rows::template gated_fwd<Fn, S>(x + r * st, aux + r * st, out + r * cols, cols, p, alpha, beta); });
      break;
    case FusedKind::gated_bwd:
      parallel_rows(rows, n, [&](std::int64_t r) {
        Rows::template gated_bwd<Fn, S>(x + r * st, aux + r * st, dy + r * cols, out + r * st, out2 + r * st, cols, p, alpha, beta);
      });
      break;
  }
}

/// Every fused op for storage type S with the given rows policy.
template <class S, class Rows = FusedRowsBase> void cpu_fused_typed(const FusedCall& c) {
  with_op(c.op, [&](auto tag) { cpu_fused_op<typename decltype(tag)::fn, S, Rows>(c); });
}

/// The AVX2 rows (host/cpu_avx2.cpp), float and bfloat16; used where cpu_use_avx2().
template <class S> void cpu_fused_avx2(const FusedCall& c);
template <> void cpu_fused_avx2<float>(const FusedCall& c);
template <> void cpu_fused_avx2<bfloat16>(const FusedCall& c);

}  // namespace detail
}  // namespace actk
