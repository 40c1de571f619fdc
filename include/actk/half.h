// actk/half.h: actk's own 16-bit storage types, float16 (IEEE binary16) and bfloat16.
//
// They are plain 16-bit payloads, layout-compatible with CUDA's __half and __nv_bfloat16
// (same size, alignment and bit pattern), so device buffers of either can be passed to actk,
// and the CPU-only build needs no CUDA header. Conversions round to nearest, ties to even,
// keep subnormals, infinities and NaN (a NaN stays a quiet NaN of the same sign).
// Converting from double rounds once, so the CPU reference rounds its double result directly
// to the 16-bit type (no double rounding through float).
#pragma once

#include <cstdint>
#include <cstring>

#include "actk/config.h"

namespace actk {

namespace detail {

ACTK_HD std::uint64_t bits_of(double d) {
#if defined(__CUDA_ARCH__)
  return static_cast<std::uint64_t>(__double_as_longlong(d));
#else
  std::uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
#endif
}

ACTK_HD double double_of(std::uint64_t u) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(u));
#else
  double d;
  std::memcpy(&d, &u, sizeof d);
  return d;
#endif
}

// Round a double to a binary format with `mant` stored mantissa bits and exponent bias `bias`
// (max biased exponent 2*bias+1 is inf/NaN). Round to nearest even, subnormals kept.
ACTK_HD std::uint16_t round_to_16(double d, int mant, int bias) {
  const std::uint64_t u = bits_of(d);
  const std::uint16_t sign = static_cast<std::uint16_t>((u >> 48) & 0x8000u);
  const int exp_all_ones = (1 << (15 - mant)) - 1;
  const std::uint64_t abs = u & 0x7fffffffffffffffull;
  if (abs >= 0x7ff0000000000000ull) {  // inf or NaN
    if (abs == 0x7ff0000000000000ull) return static_cast<std::uint16_t>(sign | (exp_all_ones << mant));
    return static_cast<std::uint16_t>(sign | (exp_all_ones << mant) | (1u << (mant - 1)));  // quiet NaN
  }
  const int e = static_cast<int>(abs >> 52) - 1023;  // unbiased exponent (subnormal doubles: tiny, go to 0)
  // The value is m * 2^(e-52) with m = 1.f (53 bits). Target spacing at this magnitude:
  const int min_exp = 1 - bias;  // smallest normal exponent of the target
  int shift;                     // how many low bits of the 53-bit significand are dropped
  if (e >= min_exp) shift = 52 - mant;
  else shift = 52 - mant + (min_exp - e);
  if (shift > 60) return sign;  // far below half the smallest subnormal: rounds to zero
  std::uint64_t m = (abs & 0x000fffffffffffffull) | 0x0010000000000000ull;
  if ((abs >> 52) == 0) return sign;  // double subnormal: far below any 16-bit value
  std::uint64_t q = m >> shift;
  const std::uint64_t rem = m & ((std::uint64_t{1} << shift) - 1);
  const std::uint64_t half = std::uint64_t{1} << (shift - 1);
  if (rem > half || (rem == half && (q & 1))) ++q;
  // q is now the significand on the target grid; rebuild the bits.
  std::uint64_t out;
  if (e >= min_exp) {
    // q in [2^mant, 2^(mant+1)]; a carry to 2^(mant+1) bumps the exponent.
    int be = e + bias;
    if (q >> (mant + 1)) { q >>= 1; ++be; }
    if (be >= exp_all_ones) return static_cast<std::uint16_t>(sign | (exp_all_ones << mant));  // overflow
    out = (static_cast<std::uint64_t>(be) << mant) | (q & ((std::uint64_t{1} << mant) - 1));
  } else {
    out = q;  // subnormal; q == 2^mant means it rounded up into the smallest normal, which encodes the same way
  }
  return static_cast<std::uint16_t>(sign | out);
}

ACTK_HD double widen_16(std::uint16_t h, int mant, int bias) {
  const int exp_all_ones = (1 << (15 - mant)) - 1;
  const std::uint64_t sign = static_cast<std::uint64_t>(h & 0x8000u) << 48;
  const int be = (h >> mant) & exp_all_ones;
  std::uint64_t f = h & ((1u << mant) - 1);
  if (be == exp_all_ones) {
    return double_of(sign | 0x7ff0000000000000ull | (f << (52 - mant)) | (f ? 0x0008000000000000ull : 0));
  }
  if (be == 0) {
    if (f == 0) return double_of(sign);
    // subnormal: value f * 2^(1 - bias - mant), exact in double
    const double unit = double_of(static_cast<std::uint64_t>(1023 + 1 - bias - mant) << 52);  // 2^(1-bias-mant)
    const double v = static_cast<double>(f) * unit;
    return sign ? -v : v;
  }
  const std::uint64_t de = static_cast<std::uint64_t>(be - bias + 1023);
  return double_of(sign | (de << 52) | (f << (52 - mant)));
}

}  // namespace detail

/// IEEE 754 binary16 storage. Layout-compatible with CUDA's __half.
struct alignas(2) float16 {
  std::uint16_t bits;
  float16() = default;
  ACTK_HD explicit float16(double d) : bits(detail::round_to_16(d, 10, 15)) {}
  ACTK_HD explicit float16(float f) : bits(detail::round_to_16(static_cast<double>(f), 10, 15)) {}
  ACTK_HD static float16 from_bits(std::uint16_t b) { float16 h; h.bits = b; return h; }
  ACTK_HD explicit operator double() const { return detail::widen_16(bits, 10, 15); }
  ACTK_HD explicit operator float() const { return static_cast<float>(detail::widen_16(bits, 10, 15)); }
};

/// bfloat16 storage (the high half of a float32). Layout-compatible with CUDA's __nv_bfloat16.
struct alignas(2) bfloat16 {
  std::uint16_t bits;
  bfloat16() = default;
  ACTK_HD explicit bfloat16(double d) : bits(detail::round_to_16(d, 7, 127)) {}
  ACTK_HD explicit bfloat16(float f) : bits(detail::round_to_16(static_cast<double>(f), 7, 127)) {}
  ACTK_HD static bfloat16 from_bits(std::uint16_t b) { bfloat16 h; h.bits = b; return h; }
  ACTK_HD explicit operator double() const { return detail::widen_16(bits, 7, 127); }
  ACTK_HD explicit operator float() const { return static_cast<float>(detail::widen_16(bits, 7, 127)); }
};

static_assert(sizeof(float16) == 2 && alignof(float16) == 2, "float16 must be 2 bytes");
static_assert(sizeof(bfloat16) == 2 && alignof(bfloat16) == 2, "bfloat16 must be 2 bytes");

}  // namespace actk
