// actk/math.h: the elementary functions the op functors are written with, for float and double,
// on host and device, plus the few error-compensation helpers that keep the float formulas
// within a few ulp in the tails (where an inexact argument to exp would otherwise be amplified).
#pragma once

#include <cmath>

#include "actk/config.h"

namespace actk {
namespace math {

#define ACTK_MATH_1(name, fname)                                   \
  ACTK_HD float name(float x) { return ::fname(x); }               \
  ACTK_HD double name(double x) { return ::name(x); }
ACTK_MATH_1(exp, expf)
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
  const T p = x * c.hi;
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
  SigmoidX<T> out;
  out.pos = pos;
  out.e = out.r = T(0);
  if (m.hi < Tiny<T>::exp_arg) {
    const T h = exp2t(Two<T>{m.hi * T(0.5), m.lo * T(0.5)});
    const T e = h * h;
    const T r = T(1) / (T(1) + e);
    out.s = pos ? r : e * r;
    out.c = pos ? e * r : r;
    out.xs = pos ? x * r : xmul(xmul(x, h) * r, h);
    out.sh = pos ? r : h * r;
    out.h = pos ? T(1) : h;
  } else {
    const T e = exp2t(m);
    const T r = T(1) / (T(1) + e);
    out.e = e;
    out.r = r;
    out.s = pos ? r : e * r;
    out.c = pos ? e * r : r;
    out.xs = pos ? x * r : xmul(x, out.s);
    out.sh = out.s;
    out.h = T(1);
  }
  return out;
}


}  // namespace math
}  // namespace actk
