// host/cpu_softmax.cpp: softmax and log-softmax on the CPU, every storage type: the reference
// the GPU is checked against. Each row (the axis at one (outer, inner) position, stride inner) is
// computed in double, max-subtracted, and rounded once; rows are spread over threads.
#include <cmath>
#include <limits>

#include "host/cpu.h"

namespace actk {
namespace detail {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

template <class S>
void forward_row(const S* x, S* y, std::int64_t len, std::int64_t stride, bool log, bool masked_zero, const BlendOf<double>& bl) {
  double m = -kInf;
  bool nan = false;
  for (std::int64_t k = 0; k < len; ++k) {
    const double v = load(x[k * stride]);
    if (v != v) nan = true;
    else if (v > m) m = v;
  }
  if (nan || m == kInf || (m == -kInf && !masked_zero)) {  // NaN, +inf, or (unflagged) all -inf: NaN row
    for (std::int64_t k = 0; k < len; ++k) y[k * stride] = store<S>(kNaN);
    return;
  }
  if (m == -kInf) {  // fully masked, flagged: zeros (log: -inf)
    for (std::int64_t k = 0; k < len; ++k) y[k * stride] = store<S>(blend(log ? -kInf : 0.0, bl, y + k * stride));
    return;
  }
  // sum of e^(x - m) = (count of x == m) + (sum over the others); log-softmax subtracts
  // log1p(count - 1 + others), so outputs near 0 (a dominant logit) keep their relative accuracy
  double count = 0, others = 0;
  for (std::int64_t k = 0; k < len; ++k) {
    const double v = load(x[k * stride]);
    if (v == m) count += 1;
    else others += std::exp(v - m);
  }
  const double ls = std::log1p((count - 1) + others), inv = 1.0 / (count + others);
  for (std::int64_t k = 0; k < len; ++k) {
    const double d = load(x[k * stride]) - m;
    y[k * stride] = store<S>(blend(log ? d - ls : std::exp(d) * inv, bl, y + k * stride));
  }
}

template <class S>
void backward_row(const S* y, const S* dy, S* dx, std::int64_t len, std::int64_t stride, bool log, bool masked_zero,
                  const BlendOf<double>& bl) {
  double s = 0;
  bool masked = masked_zero;
  for (std::int64_t k = 0; k < len; ++k) {
    const double yv = load(y[k * stride]), g = load(dy[k * stride]);
    s += log ? g : g * yv;
    if (!(log ? yv == -kInf : yv == 0.0)) masked = false;
  }
  for (std::int64_t k = 0; k < len; ++k) {
    const double yv = load(y[k * stride]), g = load(dy[k * stride]);
    double r;
    if (masked) r = 0.0;  // a fully masked row (flagged): nothing flows back
    else r = log ? g - std::exp(yv) * s : yv * (g - s);
    dx[k * stride] = store<S>(blend(r, bl, dx + k * stride));
  }
}

template <class S> void softmax_typed(const SoftmaxCall& c) {
  const auto* in = static_cast<const S*>(c.in);
  const auto* dy = static_cast<const S*>(c.dy);
  auto* out = static_cast<S*>(c.out);
  const std::int64_t rows = c.outer * c.inner;
  const std::int64_t per_row = c.axis > 0 ? c.axis : 1;
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 1) if (rows * per_row >= kCpuParallelMin && rows > 1)
#endif
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t o = r / c.inner, j = r % c.inner;
    const std::int64_t base = o * c.axis * c.inner + j;
    if (c.backward) backward_row(in + base, dy + base, out + base, c.axis, c.inner, c.log, c.masked_zero, BlendOf<double>{c.alpha, c.beta});
    else forward_row(in + base, out + base, c.axis, c.inner, c.log, c.masked_zero, BlendOf<double>{c.alpha, c.beta});
  }
}

}  // namespace

void cpu_softmax(const SoftmaxCall& c) {
  with_storage(c.dtype, "cpu_softmax", [&](auto s) { softmax_typed<decltype(s)>(c); });
}

}  // namespace detail
}  // namespace actk
