// host/cpu_avx2_f32.cpp: the element-wise and fused CPU loops for float storage compiled for AVX2 + FMA, with
// libmvec's 4-wide double math (host/simd_math.h): the same functors, in double, rounded once.
// Only this chunk function is built for AVX2 (a target attribute, not a file-wide -mavx2), so no
// AVX2 code can leak into shared inline functions; cpu_use_avx2() picks it at run time.
#include "host/simd_math.h"  // first: the vector declarations must precede every use

#include "host/cpu.h"
#include "host/cpu_fused.h"

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
#define ACTK_AVX2 [[gnu::target("avx2,fma")]]
struct FusedRowsAvx2 {
  template <class Fn, class S>
  ACTK_AVX2 static void bias_fwd(const S* x, const S* b, S* y, S* pre, std::int64_t cols, const P<double>& p, double alpha,
                                 double beta) {
    bias_fwd_row<Fn, S>(x, b, y, pre, cols, p, alpha, beta);
  }
  template <class Fn, class S>
  ACTK_AVX2 static void bias_bwd(const S* x, const S* b, const S* dy, S* dx, std::int64_t cols, const P<double>& p, double alpha,
                                 double beta) {
    bias_bwd_row<Fn, S>(x, b, dy, dx, cols, p, alpha, beta);
  }
  template <class Fn, class S>
  ACTK_AVX2 static void dbias(const S* x, const S* b, const S* dy, double* sum, std::int64_t n, const P<double>& p) {
    dbias_row<Fn, S>(x, b, dy, sum, n, p);
  }
  template <class Fn, class S>
  ACTK_AVX2 static void gated_fwd(const S* g, const S* v, S* y, std::int64_t cols, const P<double>& p, double alpha, double beta) {
    gated_fwd_row<Fn, S>(g, v, y, cols, p, alpha, beta);
  }
  template <class Fn, class S>
  ACTK_AVX2 static void gated_bwd(const S* g, const S* v, const S* dy, S* dg, S* dv, std::int64_t cols, const P<double>& p,
                                  double alpha, double beta) {
    gated_bwd_row<Fn, S>(g, v, dy, dg, dv, cols, p, alpha, beta);
  }
};
#undef ACTK_AVX2
}  // namespace

template <> void cpu_elementwise_avx2<float>(const ElementwiseCall& c) { cpu_elementwise_typed<float, ChunkAvx2>(c); }
template <> void cpu_fused_avx2<float>(const FusedCall& c) { cpu_fused_typed<float, FusedRowsAvx2>(c); }
}  // namespace detail
}  // namespace actk
