// host/cpu_prelu.h: PReLU with alpha per channel on the CPU, written once and run through an
// instruction-set policy (host/cpu.h's IsaPortable in host/cpu_prelu.cpp, IsaAvx2 in the AVX2
// files). The element math is ops::PRelu's, in double, rounded once; dalpha[c] = the sum of x*dy
// over channel c where x <= 0, accumulated in double in a fixed order (independent of the thread
// count), so it is bitwise reproducible.
#pragma once

#include <algorithm>
#include <vector>

#include "host/cpu.h"

namespace actk {
namespace detail {

template <class S, class Isa> void cpu_prelu_typed(const PreluCall& c) {
  using Cv = typename Isa::Cv;
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
  std::vector<double> ad(static_cast<std::size_t>(C));
  for (std::int64_t k = 0; k < C; ++k) ad[static_cast<std::size_t>(k)] = load(alpha[k]);

  if (c.dalpha != nullptr) {
    // Each channel's terms are added in element order whatever the layout or thread count (C = 1:
    // in fixed chunks, then the chunks in order), so dalpha has the same bits every run; the
    // loads go through Cv (vectorized conversions), channels last adds across a block of channels
    // at once (one row at a time: each channel still in row order).
    auto* dalpha = static_cast<S*>(c.dalpha);
    std::vector<double> sum(static_cast<std::size_t>(C), 0.0);
    auto term = [&](std::int64_t i) ACTK_ROW_VALUE {
      const double xv = Cv::ld(x[i]);
      return xv > 0 ? 0.0 : xv * Cv::ld(dy[i]);
    };
    if (C == 1) {
      const std::int64_t chunks = (c.n + kCpuChunk - 1) / kCpuChunk;
      std::vector<double> part(static_cast<std::size_t>(chunks), 0.0);
      parallel_chunks(c.n, [&](std::int64_t lo, std::int64_t hi) {
        Isa::run([&] {
          double s = 0;
          for (std::int64_t i = lo; i < hi; ++i) s += term(i);
          part[static_cast<std::size_t>(lo / kCpuChunk)] = s;
        });
      });
      for (double s : part) sum[0] += s;
    } else if (inner > 1) {
      const std::int64_t outer = c.n / (C * inner);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (c.n >= kCpuParallelMin)
#endif
      for (std::int64_t ch = 0; ch < C; ++ch) {
        Isa::run([&] {
          double s = 0;
          for (std::int64_t o = 0; o < outer; ++o) {
            const std::int64_t base = (o * C + ch) * inner;
            for (std::int64_t k = 0; k < inner; ++k) s += term(base + k);
          }
          sum[static_cast<std::size_t>(ch)] = s;
        });
      }
    } else {  // channels last: blocks of kBlock channels, each walking the rows
      constexpr std::int64_t kBlock = 16;
      const std::int64_t rows = c.n / C, blocks = (C + kBlock - 1) / kBlock;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (c.n >= kCpuParallelMin)
#endif
      for (std::int64_t b = 0; b < blocks; ++b) {
        Isa::run([&] {
          const std::int64_t c0 = b * kBlock, w = std::min(kBlock, C - c0);
          double acc[kBlock] = {};
          for (std::int64_t o = 0; o < rows; ++o) {
            const std::int64_t base = o * C + c0;
#pragma omp simd
            for (std::int64_t k = 0; k < w; ++k) acc[k] += term(base + k);
          }
          for (std::int64_t k = 0; k < w; ++k) sum[static_cast<std::size_t>(c0 + k)] = acc[k];
        });
      }
    }
    // dx after the sums: dx may alias x or dy
    for (std::int64_t k = 0; k < C; ++k) dalpha[k] = store<S>(sum[static_cast<std::size_t>(k)]);
  }

  // The element pass: runs of one channel through the element-wise chunk loop (C = 1, or
  // channel-major: `inner` elements per run), or, channels last (inner = 1), row pieces whose
  // alpha varies along the row. No division per element; each run vectorizes.
  const BlendOf<double> plain{1.0, 0.0};
  const double* al = ad.data();
  parallel_chunks(c.n, [&](std::int64_t lo, std::int64_t hi) {
    Isa::run([&] {
      if (inner > 1 || C == 1) {
        for (std::int64_t i = lo; i < hi;) {
          const std::int64_t block = i / inner;  // one division per run
          const std::int64_t end = C == 1 ? hi : std::min(hi, (block + 1) * inner);
          const P<double> p = P<double>::make(al[C == 1 ? 0 : block % C], 0.0);
          if (dy) chunk_body<ops::PRelu, Dir::from_input, S, Cv>(x, dy, out, i, end, p, plain);
          else chunk_body<ops::PRelu, Dir::forward, S, Cv>(x, nullptr, out, i, end, p, plain);
          i = end;
        }
        return;
      }
      for (std::int64_t i = lo; i < hi;) {
        const std::int64_t k0 = i % C;  // one division per row piece
        const std::int64_t len = std::min(C - k0, hi - i);
        const S* xr = x + i;
        const double* ar = al + k0;
        if (dy) {
          const S* gr = dy + i;
          blend_row<S, Cv>(out + i, len, plain, [&](std::int64_t j) ACTK_ROW_VALUE {
            return ops::PRelu::backward_from_input(Cv::ld(xr[j]), Cv::ld(gr[j]), P<double>{ar[j], 0.0, 0.0, 0.0});
          });
        } else {
          blend_row<S, Cv>(out + i, len, plain, [&](std::int64_t j) ACTK_ROW_VALUE {
            return ops::PRelu::forward(Cv::ld(xr[j]), P<double>{ar[j], 0.0, 0.0, 0.0});
          });
        }
        i += len;
      }
    });
  });
}

/// The same loop vectorized (host/cpu_simd_loops.h), for the storage types with such loops
/// (host/cpu.h's kHasAvx2Loops); used where cpu_use_avx2().
ACTK_SIMD_DECLARE(cpu_prelu_simd, PreluCall)
/// The portable loop whatever the CPU (tests compare the two).
void cpu_prelu_portable(const PreluCall& c);

}  // namespace detail
}  // namespace actk
