// host/cpu_avx2.cpp: the CPU loops compiled for AVX2 + FMA with libmvec's 4-wide double math
// (host/simd_math.h): the element-wise and fused loops for float and bfloat16 storage. The same
// functors, in double, rounded once.
// Only this chunk function is built for AVX2 (a target attribute, not a file-wide -mavx2), so no
// AVX2 code can leak into shared inline functions; cpu_use_avx2() picks it at run time.
#include "host/simd_math.h"  // first: the vector declarations must precede every use

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "host/cpu.h"
#include "host/cpu_fused.h"

namespace actk {
namespace detail {
namespace {

std::uint32_t float_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float bits_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// Conversions that vectorize, with the same results as load/store (half.h's round_to_16):
/// bfloat16 -> double is exact through float; double -> bfloat16 rounds to float with round-to-odd
/// (the float's last bit records inexactness), then to bfloat16 to nearest even: with 16 spare
/// bits that is one correct rounding (Boldo & Melquiond, "When double rounding is odd", 2005),
/// subnormals, overflow and signed zeros included; NaN becomes the quiet NaN half.h makes.
struct ConvertAvx2 {
  static double ld(float v) { return v; }
  static double ld(bfloat16 v) { return static_cast<double>(bits_float(static_cast<std::uint32_t>(v.bits) << 16)); }
  template <class S> static S st(double d) {
    if constexpr (std::is_same_v<S, bfloat16>) {
      const float f = static_cast<float>(d);
      std::uint32_t u = float_bits(f);
      const bool inexact = static_cast<double>(f) != d && d == d;
      const bool above = std::fabs(static_cast<double>(f)) > std::fabs(d);  // rounded away from zero
      u = inexact ? ((above ? u - 1u : u) | 1u) : u;                          // now rounded to odd
      const std::uint32_t rne = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
      const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
      return bfloat16::from_bits(static_cast<std::uint16_t>(nan ? ((u >> 16) & 0x8000u) | 0x7fc0u : rne));
    } else {
      return static_cast<S>(d);
    }
  }
};

struct ChunkAvx2 {
  template <class Fn, Dir D, class S>
  [[gnu::target("avx2,fma"), gnu::flatten]] static void run(const S* in, const S* dy, S* out, std::int64_t lo, std::int64_t hi,
                                              const P<double>& p, double alpha, double beta) {
    chunk_body<Fn, D, S, ConvertAvx2>(in, dy, out, lo, hi, p, alpha, beta);
  }
};
#define ACTK_AVX2 [[gnu::target("avx2,fma"), gnu::flatten]]
struct FusedRowsAvx2 {
  template <class Fn, class S>
  ACTK_AVX2 static void bias_fwd(const S* x, const S* b, S* y, S* pre, std::int64_t cols, const P<double>& p, double alpha,
                                 double beta) {
    bias_fwd_row<Fn, S, ConvertAvx2>(x, b, y, pre, cols, p, alpha, beta);
  }
  template <class Fn, class S>
  ACTK_AVX2 static void bias_bwd(const S* x, const S* b, const S* dy, S* dx, std::int64_t cols, const P<double>& p, double alpha,
                                 double beta) {
    bias_bwd_row<Fn, S, ConvertAvx2>(x, b, dy, dx, cols, p, alpha, beta);
  }
  template <class Fn, class S>
  ACTK_AVX2 static void dbias(const S* x, const S* b, const S* dy, double* sum, std::int64_t n, const P<double>& p) {
    dbias_row<Fn, S, ConvertAvx2>(x, b, dy, sum, n, p);
  }
  template <class Fn, class S>
  ACTK_AVX2 static void gated_fwd(const S* g, const S* v, S* y, std::int64_t cols, const P<double>& p, double alpha, double beta) {
    gated_fwd_row<Fn, S, ConvertAvx2>(g, v, y, cols, p, alpha, beta);
  }
  template <class Fn, class S>
  ACTK_AVX2 static void gated_bwd(const S* g, const S* v, const S* dy, S* dg, S* dv, std::int64_t cols, const P<double>& p,
                                  double alpha, double beta) {
    gated_bwd_row<Fn, S, ConvertAvx2>(g, v, dy, dg, dv, cols, p, alpha, beta);
  }
};
#undef ACTK_AVX2
}  // namespace

template <> void cpu_elementwise_avx2<float>(const ElementwiseCall& c) { cpu_elementwise_typed<float, ChunkAvx2>(c); }
template <> void cpu_elementwise_avx2<bfloat16>(const ElementwiseCall& c) { cpu_elementwise_typed<bfloat16, ChunkAvx2>(c); }
template <> void cpu_fused_avx2<float>(const FusedCall& c) { cpu_fused_typed<float, FusedRowsAvx2>(c); }
template <> void cpu_fused_avx2<bfloat16>(const FusedCall& c) { cpu_fused_typed<bfloat16, FusedRowsAvx2>(c); }
}  // namespace detail
}  // namespace actk
