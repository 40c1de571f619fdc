// host/cpu_avx2.cpp: the CPU loops compiled for AVX2 + FMA with libmvec's 4-wide double math
// (host/simd_math.h): the element-wise and every fused family's loops, for float and bfloat16
// storage. The same functors, in double, rounded once.
// Only IsaAvx2::run is built for AVX2 (a target attribute, not a file-wide -mavx2), so no AVX2
// code can leak into shared inline functions; cpu_use_avx2() picks these loops at run time.
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
  static float ldf(float v) { return v; }
  static float ldf(bfloat16 v) { return bits_float(static_cast<std::uint32_t>(v.bits) << 16); }
  /// kExactInFloat results: exact in S, so bfloat16 is the float's high half (NaN: half.h's quiet NaN).
  template <class S> static S stf(float f) {
    if constexpr (std::is_same_v<S, bfloat16>) {
      const std::uint32_t u = float_bits(f);
      const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
      return bfloat16::from_bits(static_cast<std::uint16_t>(nan ? ((u >> 16) & 0x8000u) | 0x7fc0u : u >> 16));
    } else {
      return f;
    }
  }
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

/// host/cpu.h's instruction-set policy for AVX2 + FMA: run() is built for AVX2 and inlines f with
/// everything it calls (flatten), so the loop inside f is vectorized here against libmvec.
struct IsaAvx2 {
  using Cv = ConvertAvx2;
  template <class F> [[gnu::target("avx2,fma"), gnu::flatten]] static void run(F&& f) { f(); }
};

}  // namespace

void cpu_elementwise_avx2(const ElementwiseCall& c, float) { cpu_elementwise_typed<float, IsaAvx2>(c); }
void cpu_elementwise_avx2(const ElementwiseCall& c, bfloat16) { cpu_elementwise_typed<bfloat16, IsaAvx2>(c); }

#define ACTK_FUSED_AVX2(F)                                                                      \
  void cpu_fused_avx2(const F##Call& c, float) { cpu_fused_typed<float, IsaAvx2>(c); }          \
  void cpu_fused_avx2(const F##Call& c, bfloat16) { cpu_fused_typed<bfloat16, IsaAvx2>(c); }
ACTK_FUSED_FAMILIES(ACTK_FUSED_AVX2)
#undef ACTK_FUSED_AVX2

}  // namespace detail
}  // namespace actk
