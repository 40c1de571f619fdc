// host/cpu_isa_avx2.h: the AVX2 + FMA instruction-set policy of the CPU loops (host/cpu.h's
// IsaPortable's counterpart): conversions that vectorize with the same results, and a run() built
// for AVX2 that inlines the loop it is given. Include only from the AVX2 translation units
// (host/cpu_avx2.cpp, host/cpu_softmax_avx2.cpp), after host/simd_math.h.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "host/cpu.h"

namespace actk {
namespace detail {
namespace avx2 {

inline std::uint32_t float_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// Conversions that vectorize (branch-free integer and float steps, no table, no F16C), with the
/// same results as load/store (half.h's round_to_16 / widen_16):
/// - bfloat16 and float16 -> double are exact through float.
/// - double -> bfloat16 / float16 rounds to float with round-to-odd (the float's last bit records
///   inexactness), then to the 16-bit type to nearest even: with 13 or more spare bits that is one
///   correct rounding (Boldo & Melquiond, "When double rounding is odd", 2005), subnormals,
///   overflow and signed zeros included; NaN becomes the quiet NaN half.h makes (sign kept).
struct ConvertAvx2 {
  /// The float nearest d, rounded to odd: RNE's result, moved one step toward zero and made odd
  /// where it was inexact (finite, so an overflow to inf comes back as FLT_MAX).
  static std::uint32_t odd_float_bits(double d) {
    const float f = static_cast<float>(d);
    const std::uint32_t u = float_bits(f);
    const bool inexact = static_cast<double>(f) != d && d == d;
    const bool above = std::fabs(static_cast<double>(f)) > std::fabs(d);  // rounded away from zero
    return inexact ? ((above ? u - 1u : u) | 1u) : u;
  }
  /// float bits -> bfloat16 bits, to nearest even (NaN: half.h's quiet NaN).
  static std::uint16_t bf16_bits(std::uint32_t u) {
    const std::uint32_t rne = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
    return static_cast<std::uint16_t>(nan ? ((u >> 16) & 0x8000u) | 0x7fc0u : rne);
  }
  /// float bits -> float16 bits, to nearest even. From 2^-14 up, integer rounding of the float's
  /// bits re-biased from 127 to 15 (a carry into the exponent is the right answer, up to inf,
  /// which the min catches along with every larger value); below, the magnitude in units of the
  /// smallest subnormal (2^-24: an exact scaling, under 2^10) rounded to an integer by the float
  /// adder at 2^23, where the float spacing is 1; NaN -> half.h's quiet NaN.
  static std::uint16_t f16_bits(std::uint32_t u) {
    const std::uint32_t sign = (u >> 16) & 0x8000u;
    const std::uint32_t a = u & 0x7fffffffu;
    std::uint32_t norm = (a + 0xfffu + ((a >> 13) & 1u) - 0x38000000u) >> 13;
    norm = norm < 0x7c00u ? norm : 0x7c00u;
    const std::uint32_t sub = float_bits(bits_float(a) * 0x1p24f + 0x1p23f) - 0x4b000000u;
    const std::uint32_t mag = a > 0x7f800000u ? 0x7e00u : a < 0x38800000u ? sub : norm;
    return static_cast<std::uint16_t>(sign | mag);
  }

  static float ldf(float v) { return v; }
  static float ldf(bfloat16 v) { return bits_float(static_cast<std::uint32_t>(v.bits) << 16); }
  /// float16 -> float, exact: normal numbers re-biased (15 -> 127), subnormals as an integer times
  /// 2^-24 (exact in float), inf and NaN with the exponent all ones (NaN quieted, as widen_16).
  static float ldf(float16 v) {
    const std::uint32_t h = v.bits;
    const std::uint32_t em = h & 0x7fffu;
    const std::uint32_t norm = (em << 13) + 0x38000000u;
    const std::uint32_t special = (em << 13) | 0x7f800000u | (em > 0x7c00u ? 0x00400000u : 0u);
    const std::uint32_t sub = float_bits(static_cast<float>(static_cast<std::int32_t>(em)) * 0x1p-24f);
    const std::uint32_t mag = em >= 0x7c00u ? special : em < 0x0400u ? sub : norm;
    return bits_float(((h & 0x8000u) << 16) | mag);
  }
  /// kExactInFloat results: exact in S (or NaN), so converting rounds nothing.
  template <class S> static S stf(float f) {
    if constexpr (std::is_same_v<S, bfloat16>) return bfloat16::from_bits(bf16_bits(float_bits(f)));
    else if constexpr (std::is_same_v<S, float16>) return float16::from_bits(f16_bits(float_bits(f)));
    else return f;
  }
  static double ld(float v) { return v; }
  static double ld(bfloat16 v) { return static_cast<double>(ldf(v)); }
  static double ld(float16 v) { return static_cast<double>(ldf(v)); }
  template <class S> static S st(double d) {
    if constexpr (std::is_same_v<S, bfloat16>) return bfloat16::from_bits(bf16_bits(odd_float_bits(d)));
    else if constexpr (std::is_same_v<S, float16>) return float16::from_bits(f16_bits(odd_float_bits(d)));
    else return static_cast<S>(d);
  }
};

/// host/cpu.h's instruction-set policy for AVX2 + FMA: run() is built for AVX2 and inlines f with
/// everything it calls (flatten), so the loop inside f is vectorized here against libmvec.
struct IsaAvx2 {
  using Cv = ConvertAvx2;
  template <class F> [[gnu::target("avx2,fma"), gnu::flatten]] static void run(F&& f) { f(); }
};

}  // namespace avx2
}  // namespace detail
}  // namespace actk
