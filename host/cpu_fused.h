// host/cpu_fused.h: the fused families' CPU loops: per family, a row body (always inlined, so it is
// compiled for the instruction set of the policy that runs it: host/cpu.h's IsaPortable, or
// host/cpu_avx2.cpp's IsaAvx2) and a `cpu_rows` overload on the family's call struct that walks the
// rows. Each element is read before it is written, so the in-place layouts the API allows are safe.
// The element math is the op's functor in double, blended and rounded once, as for the plain ops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "host/cpu.h"
#include "host/fused.h"

namespace actk {
namespace detail {

/// Rows in parallel (OpenMP) when the tensor is large.
template <class Body> void parallel_rows(std::int64_t rows, std::int64_t n, Body&& body) {
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (n >= kCpuParallelMin && rows > 1)
#endif
  for (std::int64_t r = 0; r < rows; ++r) body(r);
}

// ---- bias + activation, forward ---------------------------------------------------------------

/// y = f(x + b) over one row (pre = x + b rounded, when asked).
template <class Fn, class S, class Cv>
[[gnu::always_inline]] inline void bias_fwd_row(const S* x, const S* b, S* y, S* pre, std::int64_t cols, const P<double>& p,
                                                const BlendOf<double>& bl) {
  // (no bias: x + 0, as the GPU kernels; the test for b is hoisted out of the loops, which a
  // conditional load inside would keep from vectorizing)
  if (pre) {  // one pass: y or pre may be x itself (in place), so x[j] is read before either is written
#pragma omp simd
    for (std::int64_t j = 0; j < cols; ++j) {
      const double z = Cv::ld(x[j]) + (b ? Cv::ld(b[j]) : 0.0), r = Fn::forward(z, lo_free(p));
      const double o = bl.reads_old() ? bl.with_old(r, Cv::ld(y[j])) : bl.scaled(r);
      pre[j] = Cv::template st<S>(z);
      y[j] = Cv::template st<S>(o);
    }
    return;
  }
  if (b) blend_row<S, Cv>(y, cols, bl, [&](std::int64_t j) ACTK_ROW_VALUE { return Fn::forward(Cv::ld(x[j]) + Cv::ld(b[j]), lo_free(p)); });
  else blend_row<S, Cv>(y, cols, bl, [&](std::int64_t j) ACTK_ROW_VALUE { return Fn::forward(Cv::ld(x[j]) + 0.0, lo_free(p)); });
}

template <class Fn, class S, class Isa> void cpu_rows(const BiasActForwardCall& c) {
  const P<double> p = P<double>::make(c.a, c.b);
  const BlendOf<double> bl{c.alpha, c.beta};
  const auto* x = static_cast<const S*>(c.x);
  const auto* b = static_cast<const S*>(c.bias);
  auto* y = static_cast<S*>(c.y);
  auto* pre = static_cast<S*>(c.pre);
  const std::int64_t cols = c.cols;
  parallel_rows(c.rows, c.rows * cols, [&](std::int64_t r) {
    Isa::run([&] { bias_fwd_row<Fn, S, typename Isa::Cv>(x + r * cols, b, y + r * cols, pre ? pre + r * cols : nullptr, cols, p, bl); });
  });
}

// ---- bias + activation, backward --------------------------------------------------------------

/// dx = f'(x + b) dy over one row.
template <class Fn, class S, class Cv>
[[gnu::always_inline]] inline void bias_bwd_row(const S* x, const S* b, const S* dy, S* dx, std::int64_t cols, const P<double>& p,
                                                const BlendOf<double>& bl) {
  if (b)
    blend_row<S, Cv>(dx, cols, bl, [&](std::int64_t j) ACTK_ROW_VALUE {
      return Fn::backward_from_input(Cv::ld(x[j]) + Cv::ld(b[j]), Cv::ld(dy[j]), lo_free(p));
    });
  else
    blend_row<S, Cv>(dx, cols, bl, [&](std::int64_t j) ACTK_ROW_VALUE {
      return Fn::backward_from_input(Cv::ld(x[j]) + 0.0, Cv::ld(dy[j]), lo_free(p));
    });
}

/// sum[j] += f'(x + b) dy over columns [0, n) of one row (rows are added in order: the sum's
/// order is the rows', whatever the thread count).
template <class Fn, class S, class Cv>
[[gnu::always_inline]] inline void dbias_row(const S* x, const S* b, const S* dy, double* sum, std::int64_t n, const P<double>& p) {
  if (b) {
#pragma omp simd
    for (std::int64_t j = 0; j < n; ++j) sum[j] += Fn::backward_from_input(Cv::ld(x[j]) + Cv::ld(b[j]), Cv::ld(dy[j]), lo_free(p));
  } else {
#pragma omp simd
    for (std::int64_t j = 0; j < n; ++j) sum[j] += Fn::backward_from_input(Cv::ld(x[j]) + 0.0, Cv::ld(dy[j]), lo_free(p));
  }
}

template <class Fn, class S, class Isa> void cpu_rows(const BiasActBackwardCall& c) {
  using Cv = typename Isa::Cv;
  const P<double> p = P<double>::make(c.a, c.b);
  const BlendOf<double> bl{c.alpha, c.beta};
  const auto* x = static_cast<const S*>(c.x);
  const auto* b = static_cast<const S*>(c.bias);
  const auto* dy = static_cast<const S*>(c.dy);
  auto* dx = static_cast<S*>(c.dx);
  const std::int64_t rows = c.rows, cols = c.cols, n = rows * cols;
  if (c.dbias) {  // dbias first (dx may alias x or dy): each thread owns a column range, rows in order
    auto* dbias = static_cast<S*>(c.dbias);
    std::vector<double> sum(static_cast<std::size_t>(cols), 0.0);
    constexpr std::int64_t kCols = 256;  // columns per task
    const std::int64_t blocks = (cols + kCols - 1) / kCols;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (n >= kCpuParallelMin && blocks > 1)
#endif
    for (std::int64_t cb = 0; cb < blocks; ++cb) {
      const std::int64_t c0 = cb * kCols, w = c0 + kCols < cols ? kCols : cols - c0;
      Isa::run([&] {
        for (std::int64_t r = 0; r < rows; ++r)
          dbias_row<Fn, S, Cv>(x + r * cols + c0, b ? b + c0 : nullptr, dy + r * cols + c0, sum.data() + c0, w, p);
      });
    }
    for (std::int64_t col = 0; col < cols; ++col) dbias[col] = store<S>(c.alpha * sum[static_cast<std::size_t>(col)]);
  }
  parallel_rows(rows, n, [&](std::int64_t r) {
    Isa::run([&] { bias_bwd_row<Fn, S, Cv>(x + r * cols, b, dy + r * cols, dx + r * cols, cols, p, bl); });
  });
}

// ---- gated activations ------------------------------------------------------------------------

/// A per-thread row buffer of n storage values for the interleaved layout (grown, never shrunk).
template <class S> S* interleave_buffer(std::int64_t n) {
  thread_local std::vector<S> buf;
  if (static_cast<std::int64_t>(buf.size()) < n) buf.resize(static_cast<std::size_t>(n));
  return buf.data();
}
/// Gathers one interleaved row: a[j] = first[j * step], b[j] = first[j * step + to_b] (to_b: the
/// offset of the second stream, in elements).
template <class S> void deinterleave(const S* first, S* b, S* a, std::int64_t cols, std::int64_t step, std::ptrdiff_t to_b) {
  for (std::int64_t j = 0; j < cols; ++j) {
    a[j] = first[j * step];
    b[j] = first[j * step + to_b];
  }
}

/// y = f(gate) value over one row (with the clamped SwiGLU's clamps: identity steps otherwise).
template <class Fn, class S, class Cv>
[[gnu::always_inline]] inline void gated_fwd_row(const S* g, const S* v, S* y, std::int64_t cols, const P<double>& p,
                                                 const BlendOf<double>& bl, const GatedClamp<double>& cl) {
  blend_row<S, Cv>(y, cols, bl, [&](std::int64_t j) ACTK_ROW_VALUE {
    return Fn::forward(cl.gate(Cv::ld(g[j])), lo_free(p)) * cl.value(Cv::ld(v[j]));
  });
}

template <class Fn, class S, class Isa> void cpu_rows(const GatedForwardCall& c) {
  const P<double> p = P<double>::make(c.a, c.b);
  const BlendOf<double> bl{c.alpha, c.beta};
  const GatedClamp<double> cl = gated_clamp<double>(c);
  const auto* g = static_cast<const S*>(c.gate);
  const auto* v = static_cast<const S*>(c.value);
  auto* y = static_cast<S*>(c.y);
  const std::int64_t cols = c.cols, st = c.in_stride;
  if (c.col_step != 1) {  // interleaved: each row's gate and value gathered into contiguous rows first
    parallel_rows(c.rows, c.rows * cols, [&](std::int64_t r) {
      S* gr = interleave_buffer<S>(2 * cols);
      S* vr = gr + cols;
      deinterleave(g + r * st, vr, gr, cols, c.col_step, v - g);
      Isa::run([&] { gated_fwd_row<Fn, S, typename Isa::Cv>(gr, vr, y + r * cols, cols, p, bl, cl); });
    });
    return;
  }
  parallel_rows(c.rows, c.rows * cols, [&](std::int64_t r) {
    Isa::run([&] { gated_fwd_row<Fn, S, typename Isa::Cv>(g + r * st, v + r * st, y + r * cols, cols, p, bl, cl); });
  });
}

/// dgate = dy value f'(gate), dvalue = dy f(gate) over one row (clamped: of the clamped gate and
/// value, times the pass masks); both read before either is written.
template <class Fn, class S, class Cv>
[[gnu::always_inline]] inline void gated_bwd_row(const S* g, const S* v, const S* dy, S* dg, S* dv, std::int64_t cols,
                                                 const P<double>& p, const BlendOf<double>& bl, const GatedClamp<double>& cl) {
#pragma omp simd
  for (std::int64_t j = 0; j < cols; ++j) {
    const double gj = Cv::ld(g[j]), vj = Cv::ld(v[j]), d = Cv::ld(dy[j]);
    const double gc = cl.gate(gj), vc = cl.value(vj);
    const double a = Fn::backward_from_input(gc, d * vc, lo_free(p)) * cl.gate_pass(gj), e = d * Fn::forward(gc, lo_free(p)) * cl.value_pass(vj);
    const double oa = bl.reads_old() ? bl.with_old(a, Cv::ld(dg[j])) : bl.scaled(a);
    const double oe = bl.reads_old() ? bl.with_old(e, Cv::ld(dv[j])) : bl.scaled(e);
    dg[j] = Cv::template st<S>(oa);
    dv[j] = Cv::template st<S>(oe);
  }
}

template <class Fn, class S, class Isa> void cpu_rows(const GatedBackwardCall& c) {
  const P<double> p = P<double>::make(c.a, c.b);
  const BlendOf<double> bl{c.alpha, c.beta};
  const GatedClamp<double> cl = gated_clamp<double>(c);
  const auto* g = static_cast<const S*>(c.gate);
  const auto* v = static_cast<const S*>(c.value);
  const auto* dy = static_cast<const S*>(c.dy);
  auto* dg = static_cast<S*>(c.dgate);
  auto* dv = static_cast<S*>(c.dvalue);
  const std::int64_t cols = c.cols, st = c.in_stride;
  if (c.col_step != 1) {  // interleaved: gathered rows in, gathered gradients (with the old values to blend) out
    parallel_rows(c.rows, c.rows * cols, [&](std::int64_t r) {
      S* gr = interleave_buffer<S>(4 * cols);
      S *vr = gr + cols, *dgr = gr + 2 * cols, *dvr = gr + 3 * cols;
      deinterleave(g + r * st, vr, gr, cols, c.col_step, v - g);
      if (bl.reads_old()) deinterleave(dg + r * st, dvr, dgr, cols, c.col_step, dv - dg);
      Isa::run([&] { gated_bwd_row<Fn, S, typename Isa::Cv>(gr, vr, dy + r * cols, dgr, dvr, cols, p, bl, cl); });
      for (std::int64_t j = 0; j < cols; ++j) {  // after every read of the row: din may be the input
        dg[r * st + j * c.col_step] = dgr[j];
        dv[r * st + j * c.col_step] = dvr[j];
      }
    });
    return;
  }
  parallel_rows(c.rows, c.rows * cols, [&](std::int64_t r) {
    Isa::run([&] { gated_bwd_row<Fn, S, typename Isa::Cv>(g + r * st, v + r * st, dy + r * cols, dg + r * st, dv + r * st, cols, p, bl, cl); });
  });
}

// ---- dispatch ---------------------------------------------------------------------------------

/// A fused call of any family, storage type S, instruction set Isa: the op's functor picked once.
template <class S, class Isa, class Call> void cpu_fused_typed(const Call& c) {
  with_op(c.op, [&](auto tag) { cpu_rows<typename decltype(tag)::fn, S, Isa>(c); });
}

/// Every family through the portable loops whatever the CPU (host/cpu_fused.cpp).
#define ACTK_FUSED_PORTABLE_DECLARE(F) void cpu_fused_portable(const F##Call& c);
ACTK_FUSED_FAMILIES(ACTK_FUSED_PORTABLE_DECLARE)
#undef ACTK_FUSED_PORTABLE_DECLARE

/// Every family through the vectorized loops (host/cpu_simd_loops.h; host/cpu.h's SimdAvx2 and
/// SimdAvx512), float, bfloat16 and float16 storage (the second argument's type); used where
/// cpu_use_avx2().
#define ACTK_FUSED_SIMD_DECLARE(F) ACTK_SIMD_DECLARE(cpu_fused_simd, F##Call)
ACTK_FUSED_FAMILIES(ACTK_FUSED_SIMD_DECLARE)
#undef ACTK_FUSED_SIMD_DECLARE

}  // namespace detail
}  // namespace actk
