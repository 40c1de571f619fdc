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

}  // namespace avx2
}  // namespace detail
}  // namespace actk
