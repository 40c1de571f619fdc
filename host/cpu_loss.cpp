// host/cpu_loss.cpp: cross-entropy on the CPU, every storage type: the reference the GPU is
// checked against. Each row is computed in double (the cap, logsumexp, the smoothing sum, the
// gradient) and rounded once; rows are spread over threads; the sum and mean add the rows' losses
// in row order. The formulas are actk.h's (cross_entropy_forward / _backward).
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "host/cpu.h"

namespace actk {
namespace detail {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::int64_t target_at(const CrossEntropyCall& c, std::int64_t i) {
  return c.targets64 ? static_cast<const std::int64_t*>(c.targets)[i] : static_cast<const std::int32_t*>(c.targets)[i];
}

template <class S> struct Row {
  const CrossEntropyCall& c;
  const S* w;  // null: all 1
  double weight(std::int64_t j) const { return w ? load(w[j]) : 1.0; }
  double z(double v) const { return c.softcap > 0 ? c.softcap * std::tanh(v / c.softcap) : v; }
  /// The row's logsumexp as m + ls: m the max of the (capped) logits, ls = log(sum_j e^(z_j - m))
  /// = log1p((count of z_j == m) - 1 + the others' sum), so that lse - z_t = (m - z_t) + ls keeps
  /// its relative accuracy when the target dominates (log1p(99 e^-60), not 30 + tiny - 30 = 0).
  /// A NaN or +inf logit: NaN (as softmax and PyTorch's log_softmax); all -inf: m = -inf, ls = 0.
  struct Lse {
    double m, ls;
    double value() const { return m + ls; }
  };
  Lse lse(const S* x) const {
    double m = -kInf;
    bool nan = false;
    for (std::int64_t j = 0; j < c.vocab; ++j) {
      const double v = z(load(x[j]));
      if (v != v) nan = true;
      else if (v > m) m = v;
    }
    if (nan || m == kInf) return {kNaN, 0.0};
    if (m == -kInf) return {m, 0.0};
    double count = 0, others = 0;
    for (std::int64_t j = 0; j < c.vocab; ++j) {
      const double v = z(load(x[j]));
      if (v == m) count += 1;
      else others += std::exp(v - m);
    }
    return {m, std::log1p((count - 1) + others)};
  }
  /// A counted row's loss: (1 - eps) w_t (lse - z_t) + (eps / V) sum_j w_j (lse - z_j) + z_loss lse^2.
  double loss(const S* x, std::int64_t t, const Lse& l) const {
    double r = (1.0 - c.smoothing) * weight(t) * ((l.m - z(load(x[t]))) + l.ls);
    if (c.smoothing > 0) {
      double s = 0;
      for (std::int64_t j = 0; j < c.vocab; ++j) s += weight(j) * ((l.m - z(load(x[j]))) + l.ls);
      r += c.smoothing / static_cast<double>(c.vocab) * s;
    }
    if (c.z_loss > 0) r += c.z_loss * l.value() * l.value();
    return r;
  }
};

template <class S> void cross_entropy_typed(const CrossEntropyCall& c) {
  const char* call = c.backward ? "cross_entropy_backward" : "cross_entropy_forward";
  // refuse out-of-range targets before anything is written (a refused call changes nothing)
  for (std::int64_t i = 0; i < c.rows; ++i) {
    const std::int64_t t = target_at(c, i);
    if (t != c.ignore_index && (t < 0 || t >= c.vocab))
      throw Error(Status::invalid_argument, std::string("actk::") + call + ": targets[" + std::to_string(i) + "] = " +
                                                std::to_string(t) + " is outside [0, vocab = " + std::to_string(c.vocab) +
                                                ") and is not ignore_index = " + std::to_string(c.ignore_index));
  }
  const auto* x = static_cast<const S*>(c.logits);
  const Row<S> row{c, static_cast<const S*>(c.weight)};
  double W = 0, D = 0;  // sum of the weights; the mean's denominator (fixed order)
  for (std::int64_t j = 0; j < c.vocab; ++j) W += row.weight(j);
  for (std::int64_t i = 0; i < c.rows; ++i) {
    const std::int64_t t = target_at(c, i);
    if (t != c.ignore_index) D += row.weight(t);
  }
  const std::int64_t V = c.vocab;
  const bool parallel = c.rows > 1 && c.rows * V >= kCpuParallelMin;
  if (!c.backward) {
    std::vector<double> losses(static_cast<std::size_t>(c.rows));
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
#endif
    for (std::int64_t i = 0; i < c.rows; ++i) {
      const S* xr = x + i * V;
      const auto l = row.lse(xr);
      const std::int64_t t = target_at(c, i);
      losses[static_cast<std::size_t>(i)] = t == c.ignore_index ? 0.0 : row.loss(xr, t, l);
      if (c.lse) c.lse[i] = static_cast<float>(l.value());
    }
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
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
#endif
  for (std::int64_t i = 0; i < c.rows; ++i) {
    const S* xr = x + i * V;
    S* dr = dx + i * V;
    const std::int64_t t = target_at(c, i);
    if (t == c.ignore_index) {
      for (std::int64_t j = 0; j < V; ++j) dr[j] = store<S>(0.0);
      continue;
    }
    const double g = c.reduction == 0 ? load(dloss[i]) : scale;
    const auto l = row.lse(xr);  // recomputed in double: the CPU path is the reference (lse_in is not read)
    const double wt = row.weight(t), e = c.smoothing, ev = c.smoothing / static_cast<double>(V);
    for (std::int64_t j = 0; j < V; ++j) {
      const double z = row.z(load(xr[j]));
      const double p = std::exp((z - l.m) - l.ls);
      double d = (1.0 - e) * wt * (p - (j == t ? 1.0 : 0.0));
      if (e > 0) d += ev * (W * p - row.weight(j));
      if (c.z_loss > 0) d += 2.0 * c.z_loss * l.value() * p;
      if (c.softcap > 0) d *= 1.0 - (z / c.softcap) * (z / c.softcap);
      dr[j] = store<S>(g * d);  // after x[j] was read: dlogits may be logits
    }
  }
}

}  // namespace

void cpu_cross_entropy(const CrossEntropyCall& c) {
  with_storage(c.dtype, "cpu_cross_entropy", [&](auto s) { cross_entropy_typed<decltype(s)>(c); });
}

}  // namespace detail
}  // namespace actk
