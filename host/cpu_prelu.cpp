// host/cpu_prelu.cpp: PReLU with alpha per channel on the CPU, every storage type. The element
// math is ops::PRelu's; dalpha[c] = sum of x*dy over channel c where x <= 0, accumulated in
// double in a fixed order (independent of the thread count), so it is bitwise reproducible.
#include <vector>

#include "host/cpu.h"

namespace actk {
namespace detail {

template <class S> void cpu_prelu_typed(const PreluCall& c) {
  const auto* x = static_cast<const S*>(c.x);
  const auto* alpha = static_cast<const S*>(c.alpha);
  const auto* dy = static_cast<const S*>(c.dy);
  auto* out = static_cast<S*>(c.out);
  const std::int64_t C = c.channels, inner = c.channels == 1 ? 1 : c.inner;

  if (c.n == 0) {  // nothing to read (alpha may be null): dalpha holds empty sums, +0
    if (c.dalpha != nullptr)
      for (std::int64_t k = 0; k < C; ++k) static_cast<S*>(c.dalpha)[k] = store<S>(0.0);
    return;
  }
  // alpha values read before any write (dalpha may not alias alpha, but dx may alias x or dy)
  std::vector<P<double>> pa(static_cast<std::size_t>(C));
  for (std::int64_t k = 0; k < C; ++k) pa[static_cast<std::size_t>(k)] = P<double>::make(load(alpha[k]), 0.0);

  if (c.dalpha != nullptr) {
    auto* dalpha = static_cast<S*>(c.dalpha);
    std::vector<double> sum(static_cast<std::size_t>(C), 0.0);
    auto term = [&](std::int64_t i) {
      const double xv = load(x[i]);
      return xv > 0 ? 0.0 : xv * load(dy[i]);
    };
    if (C == 1) {
      const std::int64_t chunks = (c.n + kCpuChunk - 1) / kCpuChunk;
      std::vector<double> part(static_cast<std::size_t>(chunks), 0.0);
      parallel_chunks(c.n, [&](std::int64_t lo, std::int64_t hi) {
        double s = 0;
        for (std::int64_t i = lo; i < hi; ++i) s += term(i);
        part[static_cast<std::size_t>(lo / kCpuChunk)] = s;
      });
      for (double s : part) sum[0] += s;
    } else {
      const std::int64_t outer = c.n / (C * inner);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (c.n >= kCpuParallelMin)
#endif
      for (std::int64_t ch = 0; ch < C; ++ch) {
        double s = 0;
        for (std::int64_t o = 0; o < outer; ++o) {
          const std::int64_t base = (o * C + ch) * inner;
          for (std::int64_t k = 0; k < inner; ++k) s += term(base + k);
        }
        sum[static_cast<std::size_t>(ch)] = s;
      }
    }
    // dx after the sums: dx may alias x or dy
    for (std::int64_t k = 0; k < C; ++k) dalpha[k] = store<S>(sum[static_cast<std::size_t>(k)]);
  }

  parallel_chunks(c.n, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) {
      const P<double>& p = pa[static_cast<std::size_t>((i / inner) % C)];
      const double xv = load(x[i]);
      out[i] = store<S>(dy ? ops::PRelu::backward_from_input(xv, load(dy[i]), p) : ops::PRelu::forward(xv, p));
    }
  });
}

void cpu_prelu(const PreluCall& c) {
  with_storage(c.dtype, "cpu_prelu", [&](auto s) { cpu_prelu_typed<decltype(s)>(c); });
}

}  // namespace detail
}  // namespace actk
