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

/// How a chunk loop converts storage <-> double: load/store above (the portable loops); the AVX2
/// loops swap in conversions that vectorize and give the same bits.
struct ConvertBase {
  template <class S> static double ld(S v) { return load(v); }
  template <class S> static S st(double v) { return store<S>(v); }
};

/// One element through the op, in double.
template <class Fn, Dir D, class S, class Cv>
[[gnu::always_inline]] inline double elem(const S* in, const S* dy, std::int64_t i, const P<double>& p) {
  const double x = Cv::ld(in[i]);
  if constexpr (D == Dir::forward) return Fn::forward(x, p);
  else if constexpr (D == Dir::from_input) return Fn::backward_from_input(x, Cv::ld(dy[i]), p);
  else return Fn::backward_from_output(x, Cv::ld(dy[i]), p);
}

/// OUT[j] = st(blend(VALUE)) for j in [0, N), VALUE an expression of j (the element-wise chunks and
/// the fused rows); alpha, beta, S and the conversion Cv come from the caller. Two loops, so the
/// vectorizer never has to speculate the blend's read of OUT.
#define ACTK_BLEND_ROW(N, OUT, VALUE)                                                                \
  if (beta == 0.0) {                                                                                 \
    _Pragma("omp simd") for (std::int64_t j = 0; j < (N); ++j) {                                     \
      const double r_ = (VALUE);                                                                     \
      (OUT)[j] = Cv::template st<S>(alpha == 1.0 ? r_ : r_ * alpha);                                 \
    }                                                                                                \
  } else {                                                                                           \
    _Pragma("omp simd") for (std::int64_t j = 0; j < (N); ++j) {                                     \
      const double r_ = (VALUE);                                                                     \
      (OUT)[j] = Cv::template st<S>((alpha == 1.0 ? r_ : r_ * alpha) + beta * Cv::ld((OUT)[j]));     \
    }                                                                                                \
  }

/// Elements [lo, hi): the op in double, blended (as blend()), rounded once. Always inlined, so
/// each chunk variant compiles it for its own instruction set; `omp simd` lets the compiler
/// vectorize it where the functor's math has vector variants (host/simd_math.h). Each element is
/// read before it is written (in place is fine).
template <class Fn, Dir D, class S, class Cv = ConvertBase>
[[gnu::always_inline]] inline void chunk_body(const S* in, const S* dy, S* out, std::int64_t lo, std::int64_t hi,
                                              const P<double>& p, double alpha, double beta) {
  const S* x = in + lo;
  const S* g = D == Dir::forward ? dy : dy + lo;  // dy is null for the forward
  S* o = out + lo;
  ACTK_BLEND_ROW(hi - lo, o, (elem<Fn, D, S, Cv>(x, g, j, p)))
}

/// The portable chunk loop (the baseline instruction set, scalar glibc math).
struct ChunkBase {
  template <class Fn, Dir D, class S>
  static void run(const S* in, const S* dy, S* out, std::int64_t lo, std::int64_t hi, const P<double>& p, double alpha,
                  double beta) {
    chunk_body<Fn, D, S>(in, dy, out, lo, hi, p, alpha, beta);
  }
};

template <class Fn, Dir D, class S, class Chunk>
void cpu_loop(const S* in, const S* dy, S* out, std::int64_t n, P<double> p, double alpha, double beta) {
  parallel_chunks(n, [&](std::int64_t lo, std::int64_t hi) { Chunk::template run<Fn, D, S>(in, dy, out, lo, hi, p, alpha, beta); });
}

/// The element-wise CPU path for one storage type (instantiated in host/cpu_<type>.cpp with the
/// portable chunk loop, and for float and bfloat16 in host/cpu_avx2.cpp with the AVX2 one).
template <class S, class Chunk = ChunkBase> void cpu_elementwise_typed(const ElementwiseCall& c) {
  const auto* in = static_cast<const S*>(c.in);
  const auto* dy = static_cast<const S*>(c.dy);
  auto* out = static_cast<S*>(c.out);
  const P<double> p = P<double>::make(c.a, c.b);
  with_op(c.op, [&](auto tag) {
    using Tag = decltype(tag);
    using Fn = typename Tag::fn;
    switch (c.dir) {
      case Dir::forward: cpu_loop<Fn, Dir::forward, S, Chunk>(in, dy, out, c.n, p, c.alpha, c.beta); break;
      case Dir::from_input: cpu_loop<Fn, Dir::from_input, S, Chunk>(in, dy, out, c.n, p, c.alpha, c.beta); break;
      case Dir::from_output:
        if constexpr (Tag::from_output) cpu_loop<Fn, Dir::from_output, S, Chunk>(in, dy, out, c.n, p, c.alpha, c.beta);
        break;
    }
  });
}

// Instantiated once each, in host/cpu_<type>.cpp.
extern template void cpu_elementwise_typed<float>(const ElementwiseCall&);
extern template void cpu_elementwise_typed<double>(const ElementwiseCall&);
extern template void cpu_elementwise_typed<float16>(const ElementwiseCall&);
extern template void cpu_elementwise_typed<bfloat16>(const ElementwiseCall&);

/// The same loops compiled for AVX2 + FMA with libmvec's vector math (host/cpu_avx2.cpp;
/// built where ACTK_CPU_AVX2 is defined, run where the CPU has both). float32 and bfloat16 (its
/// rounding rewritten to vectorize); float16's conversions do not vectorize (no AVX2 loops: no
/// gain), float64 keeps glibc's scalar math.
template <class S> void cpu_elementwise_avx2(const ElementwiseCall& c);
template <> void cpu_elementwise_avx2<float>(const ElementwiseCall& c);
template <> void cpu_elementwise_avx2<bfloat16>(const ElementwiseCall& c);
/// Whether the element-wise CPU path takes the AVX2 loops: built with them, the CPU has AVX2 and
/// FMA, and the environment does not say ACTK_CPU_SIMD=0 (read once).
bool cpu_use_avx2();

}  // namespace detail
}  // namespace actk
