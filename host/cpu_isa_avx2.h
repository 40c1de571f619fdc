// host/cpu_isa_avx2.h: the x86 instruction-set policies of the CPU loops (host/cpu.h's
// IsaPortable's counterparts), AVX2 + FMA and AVX-512: conversions that vectorize with the same
// results, and a run() built for the set that inlines the loop it is given. Include only from the
// vectorized translation units (host/cpu_simd_loops.h), after host/simd_math.h.
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
/// - double -> bfloat16 / float16 is one rounding to nearest even on the double's bits
///   (round_double), subnormals, overflow and signed zeros included; NaN becomes the quiet NaN
///   half.h makes (sign kept). (An earlier form rounded to float with round-to-odd first, then to
///   16 bits: also one correct rounding, but its double compares feeding 32-bit integer lanes cost
///   the vectorized loop a chain of shuffles: 1.7x slower in a bfloat16 hardshrink, in cache.)
/// - float -> 16 bits (stf: results exact in float) rounds the float's bits to nearest even.
struct ConvertAvx2 {
  static constexpr bool kVectorMath = true;  // (host/cpu.h's ConvertBase)
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
  /// float -> S, one rounding to nearest even (kExactInFloat results: host/cpu.h).
  template <class S> static S stf(float f) {
    if constexpr (std::is_same_v<S, bfloat16>) return bfloat16::from_bits(bf16_bits(float_bits(f)));
    else if constexpr (std::is_same_v<S, float16>) return float16::from_bits(f16_bits(float_bits(f)));
    else return f;
  }
  static double ld(float v) { return v; }
  static double ld(bfloat16 v) { return static_cast<double>(ldf(v)); }
  static double ld(float16 v) { return static_cast<double>(ldf(v)); }
  /// The 16-bit formats for round_double: stored mantissa bits, exponent bias, the smallest normal's
  /// bits as a double, 2^(bias - 1 + mant) (|d| in units of the smallest subnormal), the 16-bit
  /// infinity and half.h's quiet NaN.
  struct Bf16Format {
    static constexpr int mant = 7, bias = 127;
    static constexpr std::int64_t min_normal = 0x3810000000000000, inf = 0x7f80, qnan = 0x7fc0;
    static constexpr double to_units = 0x1p133;
  };
  struct F16Format {
    static constexpr int mant = 10, bias = 15;
    static constexpr std::int64_t min_normal = 0x3f10000000000000, inf = 0x7c00, qnan = 0x7e00;
    static constexpr double to_units = 0x1p24;
  };
  /// double -> 16-bit bits in one rounding, to nearest even, on the double's bits alone (every step
  /// in 64-bit lanes, so the vectorized loop needs no shuffles between lane widths). From the smallest normal up,
  /// integer rounding of the bits (a carry into the exponent is the right answer), re-biased, and
  /// every value past the largest finite clamped to INF; below, |d| in units of the smallest
  /// subnormal (an exact power-of-two scaling, under 2^MANT) rounded to an integer by the double
  /// adder at 2^52, where the double spacing is 1.
  template <class F> static std::uint16_t round_double(double d) {
    // shifts on unsigned values (AVX2 has no 64-bit arithmetic shift), compares on signed ones
    // (it has only the signed 64-bit compare); every value compared is below 2^63
    constexpr int kDrop = 52 - F::mant;
    constexpr std::int64_t kRebias = static_cast<std::int64_t>(1023 - F::bias) << F::mant;
    std::uint64_t u;
    std::memcpy(&u, &d, 8);
    const std::uint64_t ua = u & 0x7fffffffffffffffu;
    const auto a = static_cast<std::int64_t>(ua);
    std::int64_t norm =
        static_cast<std::int64_t>((ua + ((std::uint64_t{1} << (kDrop - 1)) - 1) + ((ua >> kDrop) & 1u)) >> kDrop) - kRebias;
    norm = norm < F::inf ? norm : F::inf;
    double ad;
    std::memcpy(&ad, &ua, 8);
    const double units = ad * F::to_units + 0x1p52;
    std::int64_t sub;
    std::memcpy(&sub, &units, 8);
    sub -= 0x4330000000000000;  // the bits of 2^52
    const std::int64_t mag = a > 0x7ff0000000000000 ? F::qnan : a < F::min_normal ? sub : norm;
    // to 16 bits through the double 2^52 + bits and float: the vectorizer narrows 4 doubles to 4
    // floats in one instruction, where 64-bit integer lanes would take a chain of shuffles
    const std::uint64_t v = 0x4330000000000000u | ((u >> 48) & 0x8000u) | static_cast<std::uint64_t>(mag);
    double vd;
    std::memcpy(&vd, &v, 8);
    return static_cast<std::uint16_t>(static_cast<std::int32_t>(static_cast<float>(vd - 0x1p52)));
  }
  template <class S> static S st(double d) {
    if constexpr (std::is_same_v<S, bfloat16>)
      return bfloat16::from_bits(round_double<Bf16Format>(d));
    else if constexpr (std::is_same_v<S, float16>)
      return float16::from_bits(round_double<F16Format>(d));
    else return static_cast<S>(d);
  }
};

/// host/cpu.h's instruction-set policy for AVX2 + FMA: run() is built for AVX2 and inlines f with
/// everything it calls (flatten), so the loop inside f is vectorized here against libmvec.
struct IsaAvx2 {
  using Cv = ConvertAvx2;
  using Tag = SimdAvx2;
  static constexpr int kLutId = 1;
  template <class F> [[gnu::target("avx2,fma"), gnu::flatten]] static void run(F&& f) { f(); }
};

/// The same for AVX-512 (F, VL, BW, DQ; with AVX2 and FMA): the same C++ and conversions, which the
/// compiler vectorizes with mask registers (no shuffling of compare masks between the double lanes
/// and the 32-bit ones) and libmvec's 8-wide functions.
struct IsaAvx512 {
  using Cv = ConvertAvx2;
  using Tag = SimdAvx512;
  static constexpr int kLutId = 2;
  template <class F> [[gnu::target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"), gnu::flatten]] static void run(F&& f) { f(); }
};

}  // namespace avx2
}  // namespace detail
}  // namespace actk
