// actk/math.h: the elementary functions the op functors are written with, for float and double,
// on host and device, plus the few error-compensation helpers that keep the float formulas
// within a few ulp in the tails (where an inexact argument to exp would otherwise be amplified).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "actk/config.h"

namespace actk {
namespace math {

/// A float or double from its bits (the same on host and device).
ACTK_HD float f32_from_bits(unsigned u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
#endif
}
ACTK_HD double f64_from_bits(unsigned long long u) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(u));
#else
  double d;
  __builtin_memcpy(&d, &u, 8);
  return d;
#endif
}
/// 2^k as a float for k in [-126, 127] (built from its bits: the same on host and device).
ACTK_HD float pow2f(int k) { return f32_from_bits(static_cast<unsigned>(k + 127) << 23); }

/// +inf and the quiet NaN of T.
template <class T> ACTK_HD T inf_of();
template <> ACTK_HD float inf_of<float>() { return f32_from_bits(0x7f800000u); }
template <> ACTK_HD double inf_of<double>() { return f64_from_bits(0x7ff0000000000000ull); }
template <class T> ACTK_HD T nan_of();
template <> ACTK_HD float nan_of<float>() { return f32_from_bits(0x7fc00000u); }
template <> ACTK_HD double nan_of<double>() { return f64_from_bits(0x7ff8000000000000ull); }

/// e^x in float to within 0.62 ulp everywhere, subnormal results included. The device's
/// expf is documented at 2 ulp, and where an op multiplies e^x by other terms (every tail of
/// x sigmoid(x), gelu's Gaussian formed as h*h) that error shows in the result: this one keeps
/// those ops within their 4-ulp float32 bound. Method (Cody & Waite 1980; Muller, "Elementary
/// Functions", ch. 11): x = k ln2 + r0 - c with ln2 in two parts (ln2_hi has 16 significant
/// bits, so r0 = x - k ln2_hi is exact, and c = k ln2_lo is tiny); e^(r0 - c) =
/// e^r0 (1 - c (1 - c/2)), e^r0 = 1 + r0 + r0^2 q(r0), q from the Taylor series to degree 8 (truncation
/// below 2^-32 on |r0| <= 0.35), where 1 + r0 is split exactly into s + e1 (Fast2Sum) so only the
/// final addition rounds at full weight; 2^k applied in two steps where 2^k is not a normal
/// float, so a subnormal result rounds once. Against double exp over all 2^32 inputs: at most
/// 0.617 ulp, 0.1% not correctly rounded (tests/test_math.cpp checks a sample in CI). About 20
/// float operations.
ACTK_HD float exp_accurate(float x) {
  if (x != x) return x + x;
  if (x > 88.8f) return pow2f(127) * 2.0f;  // e^88.73 > FLT_MAX: +inf
  if (x < -104.0f) return 0.0f;             // below half the least subnormal: +0
#if defined(__CUDA_ARCH__)
  const float k = rintf(x * 1.44269502f);
#else
  const float k = __builtin_rintf(x * 1.44269502f);
#endif
  const float r = ::fmaf(k, -0.693145751953125f, x);  // exact
  const float c = k * 1.42860677e-06f;                // k (ln2 - ln2_hi)
  const float s = 1.0f + r, e1 = (1.0f - s) + r;       // 1 + r = s + e1 exactly
  float q = 2.48015876e-05f;                   // 1/8!
  q = ::fmaf(q, r, 1.98412701e-04f);           // 1/7!
  q = ::fmaf(q, r, 1.38888892e-03f);           // 1/6!
  q = ::fmaf(q, r, 8.33333377e-03f);           // 1/5!
  q = ::fmaf(q, r, 4.16666679e-02f);           // 1/4!
  q = ::fmaf(q, r, 1.66666672e-01f);           // 1/3!
  q = ::fmaf(q, r, 0.5f);
  const float t = ::fmaf(q, r * r, e1);  // e^r = s + t
  const float p = s + (t - c * ((s + t) * (1.0f - 0.5f * c)));  // e^r e^-c, e^-c = 1 - c (1 - c/2)
  const int ki = static_cast<int>(k);
  if (ki >= -126 && ki <= 127) return p * pow2f(ki);
  const int k1 = ki / 2;
  return (p * pow2f(k1)) * pow2f(ki - k1);
}

#define ACTK_MATH_1(name, fname)                                   \
  ACTK_HD float name(float x) { return ::fname(x); }               \
  ACTK_HD double name(double x) { return ::name(x); }
/// e^x. Float on the device is exp_accurate (expf's 2 ulp is too coarse for float32 results in
/// the tails), except in translation units that define ACTK_DEVICE_FAST_EXP: the 16-bit kernels
/// (kernels/*_bf16.cu, *_f16.cu), whose results round to 8 or 11 bits, where expf's 2 float ulp
/// cannot move a result by more than the 1-ulp bound and exp_accurate made the exp-heavy ops up
/// to 1.8x slower (H200, 2026-11-26). (Without -rdc every .cu is its own device program, so the
/// choice is per file.) On the host glibc's expf, within 0.502 ulp since glibc 2.28;
/// ACTK_EMULATE_DEVICE_EXP makes the host use exp_accurate too (tests/test_device_math.cpp).
ACTK_HD float exp(float x) {
#if defined(__CUDA_ARCH__) && defined(ACTK_DEVICE_FAST_EXP)
  return ::expf(x);
#elif defined(__CUDA_ARCH__) || defined(ACTK_EMULATE_DEVICE_EXP)
  return exp_accurate(x);
#else
  return ::expf(x);
#endif
}
ACTK_HD double exp(double x) { return ::exp(x); }
/// e^x with the platform's expf (2 ulp on the device) whatever the translation unit: for sums of
/// many terms, such as softmax's denominators, where each term's error is averaged out and the
/// float sum's own rounding dominates. Double: exp.
ACTK_HD float exp_sum_term(float x) { return ::expf(x); }
ACTK_HD double exp_sum_term(double x) { return ::exp(x); }
ACTK_MATH_1(expm1, expm1f)
ACTK_MATH_1(log, logf)
ACTK_MATH_1(log1p, log1pf)
ACTK_MATH_1(tanh, tanhf)
ACTK_MATH_1(erfc, erfcf)
ACTK_MATH_1(sqrt, sqrtf)
ACTK_MATH_1(sin, sinf)
ACTK_MATH_1(cos, cosf)
ACTK_MATH_1(fabs, fabsf)
#undef ACTK_MATH_1

ACTK_HD float fma(float a, float b, float c) { return ::fmaf(a, b, c); }
ACTK_HD double fma(double a, double b, double c) { return ::fma(a, b, c); }
ACTK_HD float hypot(float a, float b) { return ::hypotf(a, b); }
ACTK_HD double hypot(double a, double b) { return ::hypot(a, b); }
ACTK_HD float copysign(float a, float b) { return ::copysignf(a, b); }
ACTK_HD double copysign(double a, double b) { return ::copysign(a, b); }

template <class T> ACTK_HD bool is_nan(T x) { return x != x; }
template <class T> ACTK_HD bool is_inf(T x) { return x == x && x - x != x - x; }
/// x when x is NaN, else v: how a piecewise-constant branch keeps NaN flowing.
template <class T> ACTK_HD T nan_or(T x, T v) { return x != x ? x : v; }

/// x * g for a factor g that tends to 0 as |x| grows: the limit, not inf * 0 = NaN, when g
/// has underflowed to 0 (a NaN x makes g NaN, so NaN still propagates).
template <class T> ACTK_HD T xmul(T x, T g) { return g == T(0) ? copysign(T(0), x) * g : x * g; }

/// a * b rounded on its own, for a product whose rounding error is recovered next (fma(a, b, -p))
/// or whose exact rounding a test relies on. The device compiler contracts a product into a
/// neighbouring add or subtract by default (nvcc -fmad=true), and does it even where the product
/// has other uses: p - t became fma(a, b, -t), counting p's error twice in a float-float sum
/// (gelu_tanh float32 up to 67 ulp, measured on an H100, 2026-11-27). __fmul_rn / __dmul_rn are
/// never contracted. The host build has contraction off (-ffp-contract=off), so the two agree.
ACTK_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
ACTK_HD double mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

/// A constant c = hi + lo held to twice the working precision. `make` takes c's double value
/// and the residual c - double(c) (computed once with mpmath), so float and double both get it.
template <class T> struct Split {
  T hi, lo;
  ACTK_HD_CONST static Split make(double d, double d_lo) {
    return Split{static_cast<T>(d), static_cast<T>((d - static_cast<double>(static_cast<T>(d))) + d_lo)};
  }
};

/// A number held as an unevaluated sum hi + lo with |lo| <= ulp(hi).
template <class T> struct Two { T hi, lo; };

/// x * c to about twice the working precision (the rounding error of the product recovered
/// with an fma). Infinite or NaN products get lo = 0 so they flow through unchanged.
template <class T> ACTK_HD Two<T> mul2(T x, Split<T> c) {
  const T p = mul_rn(x, c.hi);
  T e = fma(x, c.hi, -p) + x * c.lo;
  if (!(p - p == T(0))) e = T(0);
  return Two<T>{p, e};
}

/// exp(z.hi + z.lo) = exp(hi) * (1 + lo), accurate while |lo| is tiny.
template <class T> ACTK_HD T exp2t(Two<T> z) {
  const T e = exp(z.hi);
  return z.lo == T(0) ? e : fma(e, z.lo, e);
}

/// Below exp_arg, exp(x) is (nearly) subnormal in T; above big_arg it overflows. Products with
/// such an exp are formed in halves there, k * e^(m/2) * e^(m/2), so they round once at the end.
template <class T> struct Tiny;
template <> struct Tiny<float> {
  static constexpr float exp_arg = -86.0f;
  static constexpr float big_arg = 88.0f;
};
template <> struct Tiny<double> {
  static constexpr double exp_arg = -706.0;
  static constexpr double big_arg = 709.0;
};

/// m / 2 where `halve` (then |m| is large, or infinite: one less in the exponent is exact, and
/// infinity becomes the largest power of two, whose exp is what inf's is), else m. Formed on the
/// bits so that a vectorized loop takes one exp of the result: GCC turns exp(c ? a : b) into
/// c ? exp(a) : exp(b), two exps per element, and a plain choice here cost the CPU loops that (#18).
template <class T> ACTK_HD T halve_if(T m, bool halve) {
  using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  U u;
  memcpy(&u, &m, sizeof u);
  u -= halve ? U(1) << (sizeof(T) == 4 ? 23 : 52) : U(0);
  T r;
  memcpy(&r, &u, sizeof r);
  return r;
}

/// k * e^m, rounding once even where e^m is subnormal or overflows but the product does not.
template <class T> ACTK_HD T mul_exp(T k, T m) {
  if (m < Tiny<T>::exp_arg || m > Tiny<T>::big_arg) {
    const T h = exp(T(0.5) * m);
    return (k * h) * h;
  }
  return k * exp(m);
}

/// x * sigmoid(z), sigmoid(z) and 1 - sigmoid(z) at once, each accurate to a few ulp in both
/// tails: exp is only ever taken of -|z| (never overflows), and where exp(-|z|) would be
/// subnormal the product with x is formed from two halves exp(-|z|/2) so that it rounds once.
/// s = sh * h exactly as formed (h = 1 unless s is tiny): a product k * s that must round once
/// is (k * sh) * h.
template <class T> struct SigmoidX {
  T xs, s, c, sh, h;
  T e, r;    // e = exp(-|z|), r = 1/(1 + e) (normal branch)
  bool pos;  // z >= 0
  ACTK_HD T times_s(T k) const { return (k * sh) * h; }
};
template <class T> ACTK_HD SigmoidX<T> x_sigmoid(T x, Two<T> z) {
  const bool pos = z.hi >= T(0);  // NaN: false, and NaN flows through exp
  const Two<T> m = pos ? Two<T>{-z.hi, -z.lo} : z;  // -|z|
  // one exp and one division for both branches: w = e^m, or in the tail h = e^(m/2) (halve_if)
  const bool tail = m.hi < Tiny<T>::exp_arg;
  const T w = exp2t(Two<T>{halve_if(m.hi, tail), m.lo * (tail ? T(0.5) : T(1))});
  const T e = tail ? w * w : w;
  const T r = T(1) / (T(1) + e);
  SigmoidX<T> out;
  out.pos = pos;
  out.s = pos ? r : e * r;
  out.c = pos ? e * r : r;
  if (tail) {
    const T h = w;
    out.e = out.r = T(0);
    out.xs = pos ? x * r : xmul(xmul(x, h) * r, h);
    out.sh = pos ? r : h * r;
    out.h = pos ? T(1) : h;
  } else {
    out.e = e;
    out.r = r;
    out.xs = pos ? x * r : xmul(x, out.s);
    out.sh = out.s;
    out.h = T(1);
  }
  return out;
}


}  // namespace math
}  // namespace actk
