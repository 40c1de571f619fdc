// host/cpu_softmax.h: the CPU softmax / log-softmax row loops (the reference the GPU is checked
// against), written once and run through an instruction-set policy (host/cpu.h's IsaPortable, or
// the vectorized policies of host/cpu_simd_loops.h for float, bfloat16 and float16 rows).
//
// A row is computed in double and rounded once: its values are loaded (or, for attention, formed
// as scale x + mask) into a per-thread double buffer; pass 1 finds the max (and NaN); pass 2 sums
// e^(z - max) over the elements below the max and counts those equal to it, in 8 interleaved
// partial sums (element k into sum k mod 8) added in a fixed order at the end, so the portable
// and the vectorized loops add the same terms in the same order; the exponentials stay in the
// buffer, and pass 3 writes e * (1 / sum) (log-softmax: z - max - log1p(count - 1 + others); its
// contiguous rows take their log1p a chunk of rows at a time, so the vectorized loops use
// libmvec's).
// The backward sums dy y (log: dy) the same way. Vectorized loops differ from the portable ones
// only by libmvec's exp and (log-softmax's contiguous rows) log1p (a few double ulps; see
// host/simd_math.h).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "host/cpu.h"

namespace actk {
namespace detail {

constexpr int kSumLanes = 8;

/// The row buffer of the calling thread (grown, never shrunk: no allocation per row).
inline double* softmax_row_buffer(std::int64_t n) {
  thread_local std::vector<double> buf;
  if (static_cast<std::int64_t>(buf.size()) < n) buf.resize(static_cast<std::size_t>(n));
  return buf.data();
}

/// sum over k of term(k), as kSumLanes interleaved partial sums added pairwise at the end.
template <class Term> [[gnu::always_inline]] inline double lane_sum(std::int64_t n, Term&& term) {
  double acc[kSumLanes] = {};
  std::int64_t k = 0;
  for (; k + kSumLanes <= n; k += kSumLanes) {
#pragma omp simd
    for (int l = 0; l < kSumLanes; ++l) acc[l] += term(k + l);
  }
  for (int l = 0; k + l < n; ++l) acc[l] += term(k + l);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/// libmvec's vector exp takes arguments from kExpFast up on its fast path and finishes every lane
/// below (a masked key's z - max: -inf, or a -1e9 mask) with a scalar call: 10-25 ns a value
/// against about 1 (measured on this project's 2-core box, 2026-11-27; a float32 softmax row
/// half of -inf ran 3x slower than a finite one, causal attention rows 20x). Below kExpZero, e^d <
/// 2^-1075 rounds to 0. So the row loops take e^d as exp_masked(d), the vector exp of
/// max(d, kExpFast) times 0 below it: exactly std::exp(d) except for d in [kExpZero, kExpFast)
/// (a subnormal e^d), which a row is first checked for (exp_exact_needed); such a row takes
/// std::exp as before.
constexpr double kExpFast = -708.0, kExpZero = -746.0;

/// max(d, c) for a negative c and any d but NaN, as an unsigned min on the bits (for negative
/// doubles the larger magnitude has the larger bits; zeros and positive d have smaller bits than
/// c): a choice written as `d < c ? c : d` the compiler turns into exp(c) (folded) or exp(d) on
/// every lane, which is what this avoids.
[[gnu::always_inline]] inline double clamp_below(double d, double c) {
  std::uint64_t u, v;
  std::memcpy(&u, &d, 8);
  std::memcpy(&v, &c, 8);
  const std::uint64_t w = u < v ? u : v;
  double r;
  std::memcpy(&r, &w, 8);
  return r;
}
[[gnu::always_inline]] inline double exp_masked(double d) {
  return std::exp(clamp_below(d, kExpFast)) * (d < kExpFast ? 0.0 : 1.0);
}
/// Whether some arg(k), k in [0, n), is in [kExpZero, kExpFast) (NaN args: no); always, for loops
/// on glibc's scalar math (Cv::kVectorMath false: no slow lanes there, so no pass to spend).
/// lowest: a lower bound of the args, where the caller has one from a pass it makes anyway (a row
/// without masked keys then spends no pass here).
template <class Cv, class Arg>
[[gnu::always_inline]] inline bool exp_exact_needed(std::int64_t n, Arg&& arg, double lowest = -std::numeric_limits<double>::infinity()) {
  if constexpr (!Cv::kVectorMath) return true;
  if (lowest >= kExpFast) return false;
  int any = 0;
#pragma omp simd reduction(| : any)
  for (std::int64_t k = 0; k < n; ++k) {
    const double d = arg(k);
    any |= d >= kExpZero && d < kExpFast;
  }
  return any != 0;
}
/// f(ex) with ex = exp_masked, or std::exp where exact (two instantiations of f's loops).
template <class F> [[gnu::always_inline]] inline auto with_exp(bool exact, F&& f) {
  return exact ? f([](double d) ACTK_ROW_VALUE { return std::exp(d); }) : f([](double d) ACTK_ROW_VALUE { return exp_masked(d); });
}

/// Two sums in one pass (term(k) returns both terms): each as lane_sum would add it, same bits.
struct Sum2 {
  double a, b;
};
template <class Term> [[gnu::always_inline]] inline Sum2 lane_sum2(std::int64_t n, Term&& term) {
  double a[kSumLanes] = {}, b[kSumLanes] = {};
  std::int64_t k = 0;
  for (; k + kSumLanes <= n; k += kSumLanes) {
#pragma omp simd
    for (int l = 0; l < kSumLanes; ++l) {
      const Sum2 t = term(k + l);
      a[l] += t.a;
      b[l] += t.b;
    }
  }
  for (int l = 0; k + l < n; ++l) {
    const Sum2 t = term(k + l);
    a[l] += t.a;
    b[l] += t.b;
  }
  return {((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])),
          ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]))};
}

/// y[k * ys] (ys = 1 unless kStrided) = v blended as bl says, rounded once.
template <class S, class Cv, bool kStrided>
[[gnu::always_inline]] inline void put_blended(S* y, std::int64_t ys, std::int64_t k, double v, const BlendOf<double>& bl) {
  S* o = y + (kStrided ? k * ys : k);
  *o = Cv::template st<S>(bl.reads_old() ? bl.with_old(v, Cv::ld(*o)) : bl.scaled(v));
}

/// A forward row's first pass over its values z[0, n): the max m and the lowest value lo, or, for
/// a row whose outputs need no sums (NaN or +inf in it, or every value -inf), those outputs
/// written to y (stride ys) and `done` set.
struct RowMax {
  double m, lo;
  bool done;
};
template <class S, class Cv, bool kStrided>
[[gnu::always_inline]] inline RowMax row_max(const double* z, std::int64_t n, S* y, std::int64_t ys, bool log, bool masked_zero,
                                             const BlendOf<double>& bl) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  double m = -kInf, lo = kInf;
  int nan = 0;
#pragma omp simd reduction(max : m) reduction(min : lo) reduction(| : nan)
  for (std::int64_t k = 0; k < n; ++k) {
    nan |= z[k] != z[k];
    m = z[k] > m ? z[k] : m;
    lo = z[k] < lo ? z[k] : lo;
  }
  if (nan || m == kInf || (m == -kInf && !masked_zero)) {  // NaN, +inf, or (unflagged) all -inf: a NaN row
    for (std::int64_t k = 0; k < n; ++k) {
      S* o = y + (kStrided ? k * ys : k);
      *o = Cv::template st<S>(std::numeric_limits<double>::quiet_NaN());
    }
    return {m, lo, true};
  }
  if (m == -kInf) {  // fully masked, flagged: zeros (log: -inf)
    for (std::int64_t k = 0; k < n; ++k) put_blended<S, Cv, kStrided>(y, ys, k, log ? -kInf : 0.0, bl);
    return {m, lo, true};
  }
  return {m, lo, false};
}

/// log-softmax's sum term: the sum of e^(z - m) = (count of z == m) + (sum over the others), less
/// 1, so that log1p of it (the row's log-sum) keeps outputs near 0 (a dominant logit) accurate
/// (count and others in one pass: the same terms in the same lanes as two lane_sums, same bits).
template <class Cv>
[[gnu::always_inline]] inline double log_sum_term(const double* z, std::int64_t n, double m, double lo) {
  const bool exact = exp_exact_needed<Cv>(n, [&](std::int64_t k) ACTK_ROW_VALUE { return z[k] - m; }, lo - m);
  const Sum2 co = with_exp(exact, [&](auto ex) ACTK_ROW_VALUE {
    return lane_sum2(n, [&](std::int64_t k) ACTK_ROW_VALUE {
      const bool top = z[k] == m;
      return Sum2{top ? 1.0 : 0.0, top ? 0.0 : ex(z[k] - m)};
    });
  });
  return (co.a - 1) + co.b;
}

/// log-softmax's outputs (zv(k) - m) - ls, blended, rounded once (stride ys where kStrided).
template <class S, class Cv, bool kStrided, class Z>
[[gnu::always_inline]] inline void log_row_write(std::int64_t n, S* y, std::int64_t ys, double m, double ls, const BlendOf<double>& bl,
                                                 Z&& zv) {
  if (!kStrided && !bl.reads_old()) {
#pragma omp simd
    for (std::int64_t k = 0; k < n; ++k) y[k] = Cv::template st<S>(bl.scaled((zv(k) - m) - ls));
  } else {
    for (std::int64_t k = 0; k < n; ++k) put_blended<S, Cv, kStrided>(y, ys, k, (zv(k) - m) - ls, bl);
  }
}

/// One row from its values z[0, n) (overwritten): y[k * ys] = softmax / log-softmax, blended,
/// rounded once. kStrided: ys is the output's element stride (a middle axis), else 1.
template <class S, class Cv, bool kStrided>
[[gnu::always_inline]] inline void softmax_row_from(double* z, std::int64_t n, S* y, std::int64_t ys, bool log, bool masked_zero,
                                                    const BlendOf<double>& bl) {
  const RowMax rm = row_max<S, Cv, kStrided>(z, n, y, ys, log, masked_zero, bl);
  if (rm.done) return;
  const double m = rm.m;
  if (log) {
    const double ls = std::log1p(log_sum_term<Cv>(z, n, m, rm.lo));
    log_row_write<S, Cv, kStrided>(n, y, ys, m, ls, bl, [&](std::int64_t k) ACTK_ROW_VALUE { return z[k]; });
    return;
  }
  // e^(z - m) kept in z for the write pass; -1 marks the elements equal to the max (e^0 = 1, but
  // counted apart: an element just below the max whose e^(z - m) rounds to 1 is an "other")
  // (one pass: the exponentials, their sum and the count)
  const bool exact = exp_exact_needed<Cv>(n, [&](std::int64_t k) ACTK_ROW_VALUE { return z[k] - m; }, rm.lo - m);
  const Sum2 co = with_exp(exact, [&](auto ex) ACTK_ROW_VALUE {
    return lane_sum2(n, [&](std::int64_t k) ACTK_ROW_VALUE {
      const bool top = z[k] == m;
      const double e = ex(z[k] - m);
      z[k] = top ? -1.0 : e;
      return Sum2{top ? 1.0 : 0.0, top ? 0.0 : e};
    });
  });
  const double inv = 1.0 / (co.a + co.b);
  if (!kStrided && !bl.reads_old()) {
#pragma omp simd
    for (std::int64_t k = 0; k < n; ++k) y[k] = Cv::template st<S>(bl.scaled((z[k] < 0.0 ? 1.0 : z[k]) * inv));
  } else {
    for (std::int64_t k = 0; k < n; ++k) put_blended<S, Cv, kStrided>(y, ys, k, (z[k] < 0.0 ? 1.0 : z[k]) * inv, bl);
  }
}

/// A backward row's sum (sum dy y; log: sum dy) and whether it is fully masked (flagged, and every
/// y 0; log: -inf), from its values yv(k), gv(k).
struct BackwardRow {
  double s;
  bool masked;
};
template <class Y, class G>
[[gnu::always_inline]] inline BackwardRow backward_row(std::int64_t n, bool log, bool masked_zero, Y&& yv, G&& gv) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const double s = log ? lane_sum(n, [&](std::int64_t k) ACTK_ROW_VALUE { return gv(k); })
                       : lane_sum(n, [&](std::int64_t k) ACTK_ROW_VALUE { return gv(k) * yv(k); });
  bool masked = masked_zero;
  for (std::int64_t k = 0; k < n && masked; ++k)
    if (!(log ? yv(k) == -kInf : yv(k) == 0.0)) masked = false;
  return {s, masked};
}

/// A contiguous backward row from its values yv(k), gv(k) (softmax_row_backward below).
template <class S, class Cv, class Y, class G>
[[gnu::always_inline]] inline void softmax_row_backward_terms(std::int64_t n, bool log, bool masked_zero, const BlendOf<double>& bl, S* dx,
                                                              Y&& yv, G&& gv) {
  const BackwardRow r = backward_row(n, log, masked_zero, yv, gv);
  const double s = r.s;  // (a plain variable: lambdas below use it)
  if (r.masked) {  // a fully masked row (flagged): nothing flows back
    blend_row<S, Cv>(dx, n, bl, [&](std::int64_t) ACTK_ROW_VALUE { return 0.0; });
    return;
  }
  if (log) {
    with_exp(exp_exact_needed<Cv>(n, yv), [&](auto ex) ACTK_ROW_VALUE {
      blend_row<S, Cv>(dx, n, bl, [&](std::int64_t k) ACTK_ROW_VALUE { return gv(k) - ex(yv(k)) * s; });
      return 0;
    });
  } else {
    blend_row<S, Cv>(dx, n, bl, [&](std::int64_t k) ACTK_ROW_VALUE { return yv(k) * (gv(k) - s); });
  }
}

/// One row of the backward: dx = y (dy - sum(dy y)) (log: dy - e^y sum(dy)); a fully masked row
/// (flagged) gets 0. 16-bit and strided rows are first loaded into the double buffers yb and gb
/// (which keeps the 16-bit loops vectorized). kStrided: every pointer steps by `st` (a middle
/// axis), else 1.
template <class S, class Cv, bool kStrided>
[[gnu::always_inline]] inline void softmax_row_backward(const S* y, const S* dy, S* dx, std::int64_t n, std::int64_t st, bool log,
                                                        bool masked_zero, const BlendOf<double>& bl, double* yb, double* gb) {
  if constexpr (!kStrided && (std::is_same_v<S, float> || std::is_same_v<S, double>)) {
    // 32- and 64-bit rows: straight from y and dy (their widening vectorizes in the loops
    // themselves), two passes fewer; the same values in the same order, same bits
    (void)yb, (void)gb;
    softmax_row_backward_terms<S, Cv>(n, log, masked_zero, bl, dx, [&](std::int64_t k) ACTK_ROW_VALUE { return Cv::ld(y[k]); },
                                      [&](std::int64_t k) ACTK_ROW_VALUE { return Cv::ld(dy[k]); });
    return;
  }
  if constexpr (!kStrided) {
#pragma omp simd
    for (std::int64_t k = 0; k < n; ++k) yb[k] = Cv::ld(y[k]);
#pragma omp simd
    for (std::int64_t k = 0; k < n; ++k) gb[k] = Cv::ld(dy[k]);
    softmax_row_backward_terms<S, Cv>(n, log, masked_zero, bl, dx, [&](std::int64_t k) ACTK_ROW_VALUE { return yb[k]; },
                                      [&](std::int64_t k) ACTK_ROW_VALUE { return gb[k]; });
  } else {
    for (std::int64_t k = 0; k < n; ++k) yb[k] = Cv::ld(y[k * st]), gb[k] = Cv::ld(dy[k * st]);
    const BackwardRow r = backward_row(n, log, masked_zero, [&](std::int64_t k) ACTK_ROW_VALUE { return yb[k]; },
                                       [&](std::int64_t k) ACTK_ROW_VALUE { return gb[k]; });
    const double s = r.s;
    const bool masked = r.masked;
    for (std::int64_t k = 0; k < n; ++k) {
      S* o = dx + k * st;
      const double v = masked ? 0.0 : log ? gb[k] - std::exp(yb[k]) * s : yb[k] * (gb[k] - s);
      *o = Cv::template st<S>(bl.reads_old() ? bl.with_old(v, Cv::ld(*o)) : bl.scaled(v));
    }
  }
}

/// Runs body(r0, r1) over the rows [0, rows) in chunks of about kCpuChunk elements, on all cores
/// for large calls.
template <class Body> void row_chunks(std::int64_t rows, std::int64_t per_row, Body&& body) {
  const std::int64_t rows_per = per_row >= kCpuChunk ? 1 : kCpuChunk / (per_row > 0 ? per_row : 1);
  const std::int64_t chunks = (rows + rows_per - 1) / rows_per;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (rows * per_row >= kCpuParallelMin && chunks > 1)
#endif
  for (std::int64_t ch = 0; ch < chunks; ++ch) {
    const std::int64_t r0 = ch * rows_per, r1 = r0 + rows_per < rows ? r0 + rows_per : rows;
    body(r0, r1);
  }
}

/// Softmax / log-softmax, forward or backward, for storage S through instruction-set policy Isa.
template <class S, class Isa> void cpu_softmax_rows(const SoftmaxCall& c) {
  using Cv = typename Isa::Cv;
  const auto* in = static_cast<const S*>(c.in);
  const auto* dy = static_cast<const S*>(c.dy);
  auto* out = static_cast<S*>(c.out);
  const std::int64_t rows = c.outer * c.inner, len = c.axis, inner = c.inner;
  const BlendOf<double> bl{c.alpha, c.beta};
  row_chunks(rows, len, [&](std::int64_t r0, std::int64_t r1) {
    if (!c.backward && c.log && inner == 1) {
      // log-softmax rows in batches: each row's max and sum term, then every row's log1p in one
      // loop (vectorized: libmvec's log1p, where glibc's scalar one took 24 ns a row, a third of
      // a float32 row of 32), then the writes (from x again: z is the next row's by then)
      // (the log1p loop runs in fixed blocks of 8 over a count padded to 8, so every row takes the
      // vector log1p: no row's bits depend on where it falls in the batch)
      const std::int64_t nb = r1 - r0, nbp = (nb + 7) / 8 * 8;
      double* z = softmax_row_buffer(len + 3 * nbp);
      double *bm = z + len, *bt = bm + nbp, *bd = bt + nbp;
      Isa::run([&] {
        for (std::int64_t i = 0; i < nb; ++i) {
          const std::int64_t base = (r0 + i) * len;
          const S* x = in + base;
#pragma omp simd
          for (std::int64_t k = 0; k < len; ++k) z[k] = Cv::ld(x[k]);
          const RowMax rm = row_max<S, Cv, false>(z, len, out + base, 1, true, c.masked_zero, bl);
          bd[i] = rm.done ? 1.0 : 0.0;
          bm[i] = rm.m;
          bt[i] = rm.done ? 0.0 : log_sum_term<Cv>(z, len, rm.m, rm.lo);
        }
        for (std::int64_t i = nb; i < nbp; ++i) bt[i] = 0.0;
        for (std::int64_t i = 0; i < nbp; i += 8) {
#pragma omp simd
          for (int l = 0; l < 8; ++l) bt[i + l] = std::log1p(bt[i + l]);
        }
        for (std::int64_t i = 0; i < nb; ++i) {
          if (bd[i] != 0.0) continue;
          const std::int64_t base = (r0 + i) * len;
          const S* x = in + base;  // (in place: each element read before it is written)
          log_row_write<S, Cv, false>(len, out + base, 1, bm[i], bt[i], bl, [&](std::int64_t k) ACTK_ROW_VALUE { return Cv::ld(x[k]); });
        }
      });
      return;
    }
    double* z = softmax_row_buffer(c.backward ? 2 * len : len);
    Isa::run([&] {
      for (std::int64_t r = r0; r < r1; ++r) {
        const std::int64_t base = (r / inner) * len * inner + r % inner;
        if (c.backward) {
          if (inner == 1)
            softmax_row_backward<S, Cv, false>(in + base, dy + base, out + base, len, 1, c.log, c.masked_zero, bl, z, z + len);
          else
            softmax_row_backward<S, Cv, true>(in + base, dy + base, out + base, len, inner, c.log, c.masked_zero, bl, z, z + len);
          continue;
        }
        if (inner == 1) {
          const S* x = in + base;
#pragma omp simd
          for (std::int64_t k = 0; k < len; ++k) z[k] = Cv::ld(x[k]);
          softmax_row_from<S, Cv, false>(z, len, out + base, 1, c.log, c.masked_zero, bl);
        } else {
          for (std::int64_t k = 0; k < len; ++k) z[k] = Cv::ld(in[base + k * inner]);
          softmax_row_from<S, Cv, true>(z, len, out + base, inner, c.log, c.masked_zero, bl);
        }
      }
    });
  });
}

/// Attention-style softmax rows: z = scale x + mask, or -inf where a keep mask is zero (x's value
/// ignored) or causal masks (x not read), then the row as softmax_row_from.
template <class S, class Isa> void cpu_attention_rows(const AttentionSoftmaxCall& c) {
  using Cv = typename Isa::Cv;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const std::int64_t K = c.k;
  const BlendOf<double> bl{1.0, 0.0};
  row_chunks(c.rows, K, [&](std::int64_t r0, std::int64_t r1) {
    double* z = softmax_row_buffer(K);
    Isa::run([&] {
      for (std::int64_t r = r0; r < r1; ++r) {
        const std::int64_t i = r % c.q, bh = r / c.q, h = bh % c.heads, b = bh / c.heads;
        const S* x = static_cast<const S*>(c.x) + r * K;
        const std::int64_t mrow = (b * c.mb + h * c.mh + i * c.mq) * K;
        // keys [0, lim) are in reach of the causal limit (j <= i + offset), the rest masked
        std::int64_t lim = K;
        if (c.causal) lim = c.causal_offset >= K - i ? K : (c.causal_offset < -i ? 0 : i + c.causal_offset + 1);
        const double scale = c.scale;
        if (c.mask_type == 1) {
          const S* m = static_cast<const S*>(c.mask) + mrow;
#pragma omp simd
          for (std::int64_t j = 0; j < lim; ++j) z[j] = scale * Cv::ld(x[j]) + Cv::ld(m[j]);
        } else if (c.mask_type == 2) {
          const unsigned char* m = static_cast<const unsigned char*>(c.mask) + mrow;
#pragma omp simd
          for (std::int64_t j = 0; j < lim; ++j) z[j] = m[j] == 0 ? -kInf : scale * Cv::ld(x[j]);
        } else {
#pragma omp simd
          for (std::int64_t j = 0; j < lim; ++j) z[j] = scale * Cv::ld(x[j]);
        }
        S* y = static_cast<S*>(c.y) + r * K;
        if (lim == 0) {  // nothing in reach: the row of -inf, as its flags say (NaN, or 0 / -inf)
          for (std::int64_t j = 0; j < K; ++j) z[j] = -kInf;
          softmax_row_from<S, Cv, false>(z, K, y, 1, c.log, c.masked_zero, bl);
          continue;
        }
        // the keys in reach alone: the causally masked ones (-inf) would add only zeros to the
        // sums, in lanes after every key in reach (same bits), and each gets what the row's
        // -inf entries get: 0 (log: -inf), or NaN in a NaN row (NaN or +inf in reach, or a
        // fully masked row unflagged; the keys in reach are NaN then too)
        softmax_row_from<S, Cv, false>(z, lim, y, 1, c.log, c.masked_zero, bl);
        const double y0 = Cv::ld(y[0]);
        const double rest = y0 != y0 ? std::numeric_limits<double>::quiet_NaN() : c.log ? -kInf : 0.0;
        for (std::int64_t j = lim; j < K; ++j) y[j] = Cv::template st<S>(rest);
      }
    });
  });
}

/// The same loops vectorized (host/cpu_simd_loops.h), for float, bfloat16 and float16.
ACTK_SIMD_DECLARE(cpu_softmax_simd, SoftmaxCall)
ACTK_SIMD_DECLARE(cpu_attention_simd, AttentionSoftmaxCall)

}  // namespace detail
}  // namespace actk
