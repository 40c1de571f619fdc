// host/cpu_avx2_f32.cpp: the element-wise CPU loops for float storage compiled for AVX2 + FMA, with
// libmvec's 4-wide double math (host/simd_math.h): the same functors, in double, rounded once.
// Only this chunk function is built for AVX2 (a target attribute, not a file-wide -mavx2), so no
// AVX2 code can leak into shared inline functions; cpu_use_avx2() picks it at run time.
#include "host/simd_math.h"  // first: the vector declarations must precede every use

#include "host/cpu.h"

namespace actk {
namespace detail {
namespace {
struct ChunkAvx2 {
  template <class Fn, Dir D, class S>
  [[gnu::target("avx2,fma")]] static void run(const S* in, const S* dy, S* out, std::int64_t lo, std::int64_t hi,
                                              const P<double>& p, double alpha, double beta) {
    chunk_body<Fn, D, S>(in, dy, out, lo, hi, p, alpha, beta);
  }
};
}  // namespace

template <> void cpu_elementwise_avx2<float>(const ElementwiseCall& c) { cpu_elementwise_typed<float, ChunkAvx2>(c); }
}  // namespace detail
}  // namespace actk
