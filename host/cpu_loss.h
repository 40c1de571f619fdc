// host/cpu_loss.h: cross-entropy on the CPU, every storage type: the reference the GPU is checked
// against. Each row is computed in double (the cap, logsumexp, the smoothing sum, the gradient)
// and rounded once; rows are spread over threads; the sum and mean add the rows' losses in row
// order. The formulas are actk.h's (cross_entropy_forward / _backward). Written once and run
// through an instruction-set policy (host/cpu.h's IsaPortable in host/cpu_loss.cpp, the vectorized
// ones of host/cpu_simd_loops.h): the row's sums are softmax's 8 interleaved lanes (lane_sum,
// lane_sum2) and its exponentials keep off libmvec's scalar lanes (exp_masked), as in
// host/cpu_softmax.h.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "host/cpu.h"
#include "host/cpu_softmax.h"

namespace actk {
namespace detail {

inline std::int64_t ce_target_at(const CrossEntropyCall& c, std::int64_t i) {
  return c.targets64 ? static_cast<const std::int64_t*>(c.targets)[i] : static_cast<const std::int32_t*>(c.targets)[i];
}

/// One row's math for storage S through conversions Cv; Cap: whether the logits are soft-capped
/// (two instantiations, so the uncapped loops carry no tanh).
template <class S, class Cv, bool Cap> struct CeRow {
  const CrossEntropyCall& c;
  const S* w;  // null: all 1
  double weight(std::int64_t j) const { return w ? Cv::ld(w[j]) : 1.0; }
  [[gnu::always_inline]] double z(S v) const {
    const double x = Cv::ld(v);
    if constexpr (Cap) return c.softcap * std::tanh(x / c.softcap);
    else return x;
  }
  /// The row's logsumexp as m + ls: m the max of the (capped) logits, ls = log(sum_j e^(z_j - m))
  /// = log1p((count of z_j == m) - 1 + the others' sum), so that lse - z_t = (m - z_t) + ls keeps
  /// its relative accuracy when the target dominates (log1p(99 e^-60), not 30 + tiny - 30 = 0).
  /// A NaN or +inf logit: NaN (as softmax and PyTorch's log_softmax); all -inf: m = -inf, ls = 0.
  struct Lse {
    double m, ls;
    double lo;  // the least (capped) logit, where m and ls are finite (exp_exact_needed's bound)
    double value() const { return m + ls; }
  };
  [[gnu::always_inline]] Lse lse(const S* x) const {
    constexpr double kInf = std::numeric_limits<double>::infinity();
    const std::int64_t V = c.vocab;
    double m = -kInf, lo = kInf;
    int nan = 0;
#pragma omp simd reduction(max : m) reduction(min : lo) reduction(| : nan)
    for (std::int64_t j = 0; j < V; ++j) {
      const double v = z(x[j]);
      nan |= v != v;
      m = v > m ? v : m;
      lo = v < lo ? v : lo;
    }
    if (nan || m == kInf) return {std::numeric_limits<double>::quiet_NaN(), 0.0, -kInf};
    if (m == -kInf) return {m, 0.0, -kInf};
    const bool exact = exp_exact_needed<Cv>(V, [&](std::int64_t j) ACTK_ROW_VALUE { return z(x[j]) - m; }, lo - m);
    const Sum2 co = with_exp(exact, [&](auto ex) ACTK_ROW_VALUE {
      return lane_sum2(V, [&](std::int64_t j) ACTK_ROW_VALUE {
        const double v = z(x[j]);
        const bool top = v == m;
        return Sum2{top ? 1.0 : 0.0, top ? 0.0 : ex(v - m)};
      });
    });
    return {m, std::log1p((co.a - 1) + co.b), lo};
  }
  /// A counted row's loss: (1 - eps) w_t (lse - z_t) + (eps / V) sum_j w_j (lse - z_j) + z_loss lse^2.
  [[gnu::always_inline]] double loss(const S* x, std::int64_t t, const Lse& l) const {
    double r = (1.0 - c.smoothing) * weight(t) * ((l.m - z(x[t])) + l.ls);
    if (c.smoothing > 0) {
      const double s = lane_sum(c.vocab, [&](std::int64_t j) ACTK_ROW_VALUE { return weight(j) * ((l.m - z(x[j])) + l.ls); });
      r += c.smoothing / static_cast<double>(c.vocab) * s;
    }
    if (c.z_loss > 0) r += c.z_loss * l.value() * l.value();
    return r;
  }
  /// A counted row's gradient, times g, into dr (after x[j] was read: dlogits may be logits).
  [[gnu::always_inline]] void grad(const S* x, std::int64_t t, const Lse& l, double g, double W, S* dr) const {
    const std::int64_t V = c.vocab;
    const double wt = weight(t), e = c.smoothing, ev = c.smoothing / static_cast<double>(V), zl = c.z_loss, lv = l.value();
    const bool exact = exp_exact_needed<Cv>(V, [&](std::int64_t j) ACTK_ROW_VALUE { return (z(x[j]) - l.m) - l.ls; },
                                            (l.lo - l.m) - l.ls);
    with_exp(exact, [&](auto ex) ACTK_ROW_VALUE {
      // element j's gradient from its logit; hot = 1 at the target. The target is done apart, so
      // the two loops around it carry no compare of j (GCC does not vectorize one on int64_t)
      // (without smoothing or z-loss, a loop of its own: their terms' branches and the optional
      // weight read keep GCC from vectorizing)
      const bool plain = !(e > 0) && !(zl > 0);
      auto d_of = [&](std::int64_t j, double zj, double hot, auto plain_c) ACTK_ROW_VALUE {
        const double p = ex((zj - l.m) - l.ls);
        double d = (1.0 - e) * wt * (p - hot);
        if constexpr (!decltype(plain_c)::value) {
          if (e > 0) d += ev * (W * p - weight(j));
          if (zl > 0) d += 2.0 * zl * lv * p;
        }
        if constexpr (Cap) d *= 1.0 - (zj / c.softcap) * (zj / c.softcap);
        return Cv::template st<S>(g * d);
      };
      const double zt = z(x[t]);  // read before any write: dlogits may be the logits
      auto around_t = [&](auto plain_c) ACTK_ROW_VALUE {
#pragma omp simd
        for (std::int64_t j = 0; j < t; ++j) dr[j] = d_of(j, z(x[j]), 0.0, plain_c);
#pragma omp simd
        for (std::int64_t j = t + 1; j < V; ++j) dr[j] = d_of(j, z(x[j]), 0.0, plain_c);
      };
      if (plain) around_t(std::true_type{});
      else around_t(std::false_type{});
      dr[t] = d_of(t, zt, 1.0, std::false_type{});
      return 0;
    });
  }
};

/// body(i) for every row i, inside Isa::run, on every core where parallel (rows of very different
/// cost: ignored rows, so dynamic).
template <class Isa, class Body> void ce_each_row(std::int64_t rows, bool parallel, Body&& body) {
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
#endif
  for (std::int64_t i = 0; i < rows; ++i) Isa::run([&] { body(i); });
}

template <class S, class Isa, bool Cap> void cpu_cross_entropy_rows(const CrossEntropyCall& c) {
  using Cv = typename Isa::Cv;
  const char* call = c.backward ? "cross_entropy_backward" : "cross_entropy_forward";
  // refuse out-of-range targets before anything is written (a refused call changes nothing)
  for (std::int64_t i = 0; i < c.rows; ++i) {
    const std::int64_t t = ce_target_at(c, i);
    if (t != c.ignore_index && (t < 0 || t >= c.vocab))
      throw Error(Status::invalid_argument, std::string("actk::") + call + ": targets[" + std::to_string(i) + "] = " +
                                                std::to_string(t) + " is outside [0, vocab = " + std::to_string(c.vocab) +
                                                ") and is not ignore_index = " + std::to_string(c.ignore_index));
  }
  const auto* x = static_cast<const S*>(c.logits);
  const CeRow<S, Cv, Cap> row{c, static_cast<const S*>(c.weight)};
  double W = 0, D = 0;  // sum of the weights; the mean's denominator (fixed order)
  for (std::int64_t j = 0; j < c.vocab; ++j) W += row.weight(j);
  for (std::int64_t i = 0; i < c.rows; ++i) {
    const std::int64_t t = ce_target_at(c, i);
    if (t != c.ignore_index) D += row.weight(t);
  }
  const std::int64_t V = c.vocab;
  const bool parallel = c.rows > 1 && c.rows * V >= kCpuParallelMin;
  if (!c.backward) {
    std::vector<double> losses(static_cast<std::size_t>(c.rows));
    ce_each_row<Isa>(c.rows, parallel, [&](std::int64_t i) {
      const S* xr = x + i * V;
      const auto l = row.lse(xr);
      const std::int64_t t = ce_target_at(c, i);
      losses[static_cast<std::size_t>(i)] = t == c.ignore_index ? 0.0 : row.loss(xr, t, l);
      if (c.lse) c.lse[i] = static_cast<float>(l.value());
    });
    auto* loss = static_cast<S*>(c.loss);
    if (c.reduction == 0) {
      for (std::int64_t i = 0; i < c.rows; ++i) loss[i] = store<S>(losses[static_cast<std::size_t>(i)]);
    } else {
      double total = 0;
      for (double v : losses) total += v;
      loss[0] = store<S>(c.reduction == 2 ? total / D : total);  // all ignored (D = 0): 0 / 0 = NaN, as PyTorch
    }
    return;
  }
  const auto* dloss = static_cast<const S*>(c.dloss);
  auto* dx = static_cast<S*>(c.dlogits);
  const double scale = c.reduction == 0 ? 1.0 : (c.reduction == 1 ? load(dloss[0]) : load(dloss[0]) / D);
  ce_each_row<Isa>(c.rows, parallel, [&](std::int64_t i) {
    const S* xr = x + i * V;
    S* dr = dx + i * V;
    const std::int64_t t = ce_target_at(c, i);
    if (t == c.ignore_index) {
      for (std::int64_t j = 0; j < V; ++j) dr[j] = store<S>(0.0);
      return;
    }
    const double g = c.reduction == 0 ? load(dloss[i]) : scale;
    const auto l = row.lse(xr);  // recomputed in double: the CPU path is the reference (lse_in is not read)
    row.grad(xr, t, l, g, W, dr);
  });
}

/// Cross-entropy for storage S through policy Isa.
template <class S, class Isa> void cpu_cross_entropy_typed(const CrossEntropyCall& c) {
  if (c.softcap > 0) cpu_cross_entropy_rows<S, Isa, true>(c);
  else cpu_cross_entropy_rows<S, Isa, false>(c);
}

/// The same vectorized (host/cpu_simd_loops.h), for float, bfloat16 and float16.
ACTK_SIMD_DECLARE(cpu_cross_entropy_simd, CrossEntropyCall)
/// The portable loops whatever the CPU (tests compare the two).
void cpu_cross_entropy_portable(const CrossEntropyCall& c);

}  // namespace detail
}  // namespace actk
