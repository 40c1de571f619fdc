// actk/functors.h: the math of every activation, written once.
//
// Each op is a struct of static host/device members, templated on the compute type T (float or
// double; 16-bit data is computed in float):
//   forward(x, p)                   y = f(x)
//   backward_from_input(x, dy, p)   dx = dy * f'(x)
//   backward_from_output(y, dy, p)  dx = dy * f'(x) written as a function of y = f(x)
//                                   (only ops whose list entry says so)
//   check(a, b)                     host-side parameter validation, every form: nullptr or a message
//   check_from_output(a, b)         what the backward from the output needs beyond check()
// The CPU reference, the GPU kernels and users' own kernels all call these. Semantics (pinned by
// the tests): NaN in x or dy gives NaN; +-inf give the limit; derivatives at kinks follow
// PyTorch; dx is always the IEEE product dy * f'(x).
//
// Accuracy notes: an inexact argument of exp (beta*x, 1.702*x, x/sqrt2, ...) is carried as
// hi + lo (math::mul2) because exp amplifies its argument's relative error by |arg|, up to 88x
// in float; only exp(-|z|) is ever taken, so nothing overflows on the way to a finite result.
#pragma once

#include "actk/config.h"
#include "actk/math.h"

namespace actk {

/// An op's parameters in the compute type: a and b, each as hi + lo so that a parameter given
/// in double (0.01, 1.702) keeps its full value when the math runs in float.
template <class T> struct P {
  T a, a_lo, b, b_lo;
  ACTK_HD static P make(double a, double b) {
    const T ah = static_cast<T>(a), bh = static_cast<T>(b);
    return P{ah, static_cast<T>(a - static_cast<double>(ah)), bh, static_cast<T>(b - static_cast<double>(bh))};
  }
  ACTK_HD math::Split<T> sa() const { return math::Split<T>{a, a_lo}; }
  ACTK_HD math::Split<T> sb() const { return math::Split<T>{b, b_lo}; }
};

namespace ops {

using namespace actk::math;

/// x * c for a split constant or parameter, rounded once (up to the fma's own rounding).
/// Zero, infinite and NaN products are the plain product (keeps -0 and avoids inf*0).
template <class T> ACTK_HD T mulc(T x, Split<T> c) {
  const T p = mul_rn(x, c.hi);
  if (c.lo == T(0) || p == T(0) || !(p - p == T(0))) return p;
  return fma(x, c.hi, x * c.lo);
}

/// dy * s * (1 + (1-s) X), the x*sigmoid family's derivative (X = x * dz/dx for x*sigmoid(z),
/// given as hi + lo). Where 1-s is 0 (right tail, +inf) it is dy * s; where s is tiny the product
/// is formed so that it rounds once (X may be infinite where s is 0). For z < 0 the factor
/// 1 + (1-s) X = ((1 + X) + e) / (1 + e) with e = e^z: f' has a zero there, and this form
/// leaves only e's rounding error in the cancellation (1 + X is exact for X in [-2, -1/2]).
template <class T> ACTK_HD T sig_deriv(const SigmoidX<T>& r, Two<T> X, T dy) {
  if (r.c == T(0)) return dy * r.s;
  if (r.h != T(1)) return r.h == T(0) ? dy * T(0) : r.times_s(dy * fma(r.c, X.hi, T(1)));
  if (!r.pos) return dy * ((r.s * r.r) * (((T(1) + X.hi) + X.lo) + r.e));
  return dy * fma(X.hi * r.s, r.c, r.s);
}

// Constants as (double value, residual to the exact value), residuals from mpmath at 50 digits.
template <class T> struct K {
  static ACTK_HD_CONST Split<T> rsqrt2() { return Split<T>::make(0.7071067811865476, -4.833646656726457e-17); }
  static ACTK_HD_CONST Split<T> two_rsqrtpi() { return Split<T>::make(1.1283791670955126, 1.533545961316588e-17); }
  static ACTK_HD_CONST Split<T> rsqrt2pi() { return Split<T>::make(0.3989422804014327, -2.4923272022777433e-17); }
  static ACTK_HD_CONST Split<T> c1702() { return Split<T>::make(1.702, 4.263256414560601e-17); }
  // SELU (Klambauer et al. 2017, PyTorch's constants): scale and scale*alpha
  static ACTK_HD_CONST Split<T> selu_scale() { return Split<T>::make(1.0507009873554805, 3.9874847667154144e-17); }
  static ACTK_HD_CONST Split<T> selu_sa() { return Split<T>::make(1.7580993408473768, 1.41535193800845e-17); }
};

struct OpBase {
  static const char* check(double, double) { return nullptr; }
  // what the backward from the output needs beyond check() (both are asked, check() first); a
  // static call here could only ever reach OpBase::check, never the op's own
  static const char* check_from_output(double, double) { return nullptr; }
};

// identity: f = x
struct Identity : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T>) { return x; }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) { return dy * nan_or(x, T(1)); }
  template <class T> ACTK_HD static T backward_from_output(T y, T dy, P<T>) { return dy * nan_or(y, T(1)); }
};

// linear: f = a*x
struct Linear : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T> p) { return mulc(x, p.sa()); }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T> p) { return nan_or(x, mulc(dy, p.sa())); }
  template <class T> ACTK_HD static T backward_from_output(T y, T dy, P<T> p) { return nan_or(y, mulc(dy, p.sa())); }
};

// binary_step: f = 1 for x >= 0, else 0; f' = 0
struct BinaryStep : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T>) { return x >= T(0) ? T(1) : nan_or(x, T(0)); }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) { return dy * nan_or(x, T(0)); }
  template <class T> ACTK_HD static T backward_from_output(T y, T dy, P<T>) { return dy * nan_or(y, T(0)); }
};

// sigmoid: 1/(1+e^-x); f' = e/(1+e)^2 with e = e^-|x| (exact in both tails)
struct Sigmoid : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T>) {
    const T e = exp(-fabs(x)), r = T(1) / (T(1) + e);
    return x >= T(0) ? r : e * r;
  }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) {
    // deep in the tail (1 + e == 1) dy e^m in halves, as mul_exp; one exp for both (halve_if)
    const T m = -fabs(x);
    const bool deep = m < Tiny<T>::exp_arg;
    const T e = exp(halve_if(m, deep)), r = T(1) / (T(1) + e);
    return deep ? (dy * e) * e : dy * (e * r * r);
  }
  template <class T> ACTK_HD static T backward_from_output(T y, T dy, P<T>) { return dy * (y * (T(1) - y)); }
};

// tanh; f' = 1 - tanh^2 = 4e/(1+e)^2 with e = e^-2|x|
struct Tanh : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T>) { return tanh(x); }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) {
    const T m = T(-2) * fabs(x);
    const bool deep = m < Tiny<T>::exp_arg;  // 1 + e == 1: 4 dy e^m in halves (as Sigmoid's)
    const T e = exp(halve_if(m, deep)), r = T(1) / (T(1) + e);
    return deep ? ((T(4) * dy) * e) * e : dy * ((T(4) * e) * r * r);
  }
  template <class T> ACTK_HD static T backward_from_output(T y, T dy, P<T>) { return dy * ((T(1) - y) * (T(1) + y)); }
};

// relu: max(x, 0); relu'(0) = 0
struct Relu : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T>) { return x > T(0) ? x : nan_or(x, T(0)); }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) { return dy * (x > T(0) ? T(1) : nan_or(x, T(0))); }
  template <class T> ACTK_HD static T backward_from_output(T y, T dy, P<T> p) { return backward_from_input(y, dy, p); }
};

// relu6: min(max(x, 0), 6); derivative 0 at both bounds
struct Relu6 : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T>) { return x > T(0) ? (x < T(6) ? x : T(6)) : nan_or(x, T(0)); }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) {
    return dy * ((x > T(0) && x < T(6)) ? T(1) : nan_or(x, T(0)));
  }
  template <class T> ACTK_HD static T backward_from_output(T y, T dy, P<T> p) { return backward_from_input(y, dy, p); }
};

// leaky_relu (a = negative slope): x > 0 ? x : a*x; f'(0) = a
struct LeakyRelu : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T> p) { return x > T(0) ? x : mulc(x, p.sa()); }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T> p) {
    return x > T(0) ? dy * T(1) : nan_or(x, mulc(dy, p.sa()));
  }
  template <class T> ACTK_HD static T backward_from_output(T y, T dy, P<T> p) { return backward_from_input(y, dy, p); }
  static const char* check_from_output(double a, double) {
    return a >= 0 ? nullptr : "backward from the output needs negative_slope >= 0 (the sign of y must tell the branch)";
  }
};

// prelu with one alpha (per-channel alpha: actk::prelu_forward/backward): as leaky_relu
struct PRelu : LeakyRelu {};

// elu (a = alpha): x > 0 ? x : a*(e^x - 1); f'(0) = a (negative branch, as PyTorch)
struct Elu : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T> p) { return x > T(0) ? x : mulc(expm1(x), p.sa()); }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T> p) {
    return x > T(0) ? dy * T(1) : mul_exp(mulc(dy, p.sa()), x);
  }
  // f' = y + a on the negative branch
  template <class T> ACTK_HD static T backward_from_output(T y, T dy, P<T> p) {
    return dy * (y > T(0) ? T(1) : (y + p.a) + p.a_lo);
  }
  static const char* check_from_output(double a, double) {
    return a >= 0 ? nullptr : "backward from the output needs alpha >= 0 (the sign of y must tell the branch)";
  }
};

// selu: scale * (x > 0 ? x : alpha*(e^x - 1)), Klambauer et al. 2017
struct Selu : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T>) {
    return x > T(0) ? mulc(x, K<T>::selu_scale()) : mulc(expm1(x), K<T>::selu_sa());
  }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) {
    return x > T(0) ? mulc(dy, K<T>::selu_scale()) : mul_exp(mulc(dy, K<T>::selu_sa()), x);
  }
  template <class T> ACTK_HD static T backward_from_output(T y, T dy, P<T>) {
    const Split<T> sa = K<T>::selu_sa();
    return y > T(0) ? mulc(dy, K<T>::selu_scale()) : dy * ((y + sa.hi) + sa.lo);
  }
};

// celu (a = alpha > 0): x > 0 ? x : a*(e^(x/a) - 1); f'(0) = 1 (e^0, as PyTorch)
struct Celu : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T> p) { return x > T(0) ? x : mulc(expm1(x / p.a), p.sa()); }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T> p) {
    // e^(x/a) with the rounding error of x/a (and a's own lo part) carried into the exp, or deep
    // in the tail (the division's error no longer shows) dy e^q in halves as mul_exp. One exp, of
    // q or q/2, picked first: the CPU's vectorized loop computes every side of a choice, and the
    // two exps it took before cost it 1.5x (issue #18); each side's value is as before.
    const T q = x / p.a;
    const bool deep = q < Tiny<T>::exp_arg;
    // (-|q|: q where it is used, and no overflow where x > 0 needs no exp; not a constant there:
    // GCC turns exp of a choice with a constant side into a choice of two exps, the cost this saves)
    const T w = exp(deep ? T(0.5) * q : -fabs(q));
    T lo = (fma(-q, p.a, x) - q * p.a_lo) / p.a;
    if (!(q - q == T(0))) lo = T(0);
    const T e = lo == T(0) ? w : fma(w, lo, w);  // exp2t's step
    return x > T(0) ? dy * T(1) : (deep ? (dy * w) * w : dy * e);
  }
  // f' = y/a + 1 = (y + a)/a on the negative branch
  template <class T> ACTK_HD static T backward_from_output(T y, T dy, P<T> p) {
    return dy * (y > T(0) ? T(1) : ((y + p.a) + p.a_lo) / p.a);
  }
  static const char* check(double a, double) { return a > 0 ? nullptr : "alpha must be > 0"; }
};

// gelu (exact): x*Phi(x) = x/2 * erfc(-x/sqrt2)  (erfc, not 1+erf: no cancellation for x < 0)
// f' = Phi(x) + x*phi(x)
struct Gelu : OpBase {
  // erfc(z) for z = -x/sqrt2 carried as hi + lo: erfc(hi) - 2/sqrt(pi) e^(-hi^2) lo
  template <class T> ACTK_HD static T erfc_arg(T x) {
    const Two<T> z = mul2(-x, K<T>::rsqrt2());
    const T c = erfc(z.hi);
    if (z.lo == T(0)) return c;
    return fma(-K<T>::two_rsqrtpi().hi * exp(-z.hi * z.hi), z.lo, c);
  }
  // Far left tail (erfc or phi near the subnormal range): with e^(-x^2/2) = h*h,
  // gelu = -h*h*S/sqrt(2 pi) and gelu' = (x - S/x) h*h/sqrt(2 pi), where
  // S = sum_k (-1)^k (2k-1)!!/x^(2k) is erfc's asymptotic series (Abramowitz & Stegun 7.1.23);
  // h is applied last so the result rounds once even when it is subnormal.
  template <class T> ACTK_HD static bool in_tail(T x) { return x < (sizeof(T) == 4 ? T(-13) : T(-37)); }
  template <class T> ACTK_HD static T tail_series(T x) {
    const T r = T(1) / (x * x);
    T c = T(2027025);
    c = fma(c, r, T(-135135));
    c = fma(c, r, T(10395));
    c = fma(c, r, T(-945));
    c = fma(c, r, T(105));
    c = fma(c, r, T(-15));
    c = fma(c, r, T(3));
    c = fma(c, r, T(-1));
    return fma(c, r, T(1));
  }
  // e^(-x^2/4), with x^2 carried as hi + lo
  template <class T> ACTK_HD static T quarter_gauss(T x) {
    const T s = mul_rn(x, x);
    T slo = fma(x, x, -s);
    if (!(s - s == T(0))) slo = T(0);
    return exp2t(Two<T>{T(-0.25) * s, T(-0.25) * slo});
  }
  // float, x < 0: gelu = x Phi(x) = -phi(x) g, g = t Phi(-t) / phi(t) at t = -x (t times the
  // Mills ratio h(t) = Phi(-t) / phi(t): 0 at t = 0, 0.913 at t = 3, 1 at t = inf). Below -3 g is a
  // degree-8 polynomial in w = 1/x^2 on [0, 1/9]; on [-3, 0) g = t h(t), h a degree-11 polynomial
  // in t - 2.25 on [1.5, 3] and in t - 0.75 on [0, 1.5] (the coefficients picked by a select, so a
  // warp takes one path). All least-squares fits at Chebyshev nodes against mpmath, under one ulp
  // with float coefficients. phi is one exp of -x^2/2 carried as hi + lo, and the products are
  // formed with their rounding errors (fma), so the result rounds about twice. The device's erfcf
  // (4 ulp) gave up to 6 ulp below -3 (H200, 2026-11-26) and 5 ulp on [-3, -1.45] (H100,
  // 2026-11-27: the exhaustive sweep's most negative 5-ulp input was -1.45 once [-3, -1.5) took
  // this form), over the 4-ulp bound; tests/test_device_math.cpp checks this form on the CPU.
  ACTK_HD static float left_float(float x) {
    const float s = mul_rn(x, x);
    float slo = fma(x, x, -s);
    if (!(s - s == 0.0f)) slo = 0.0f;  // x = -inf: e^(-inf) = 0, no NaN from inf - inf
    float g;
    if (x < -3.0f) {
      const float w = 1.0f / s;
      g = 2.190554102e+04f;
      g = fma(g, w, -1.308052344e+04f);
      g = fma(g, w, 3.613188477e+03f);
      g = fma(g, w, -6.505657349e+02f);
      g = fma(g, w, 9.620555115e+01f);
      g = fma(g, w, -1.483900166e+01f);
      g = fma(g, w, 2.998446703e+00f);
      g = fma(g, w, -9.999940395e-01f);
      g = fma(g, w, 1.0f);
    } else {
      const float t = -x;
      const bool far = t >= 1.5f;
      const float u = t - (far ? 2.25f : 0.75f);  // exact for t in [0.375, 3]
      float h = far ? -1.481545979e-07f : -9.266221241e-06f;
      h = fma(h, u, far ? 7.122942520e-07f : 3.662150630e-05f);
      h = fma(h, u, far ? -3.027476851e-06f : -1.192558411e-04f);
      h = fma(h, u, far ? 1.340367635e-05f : 4.143823462e-04f);
      h = fma(h, u, far ? -5.750676792e-05f : -1.387065277e-03f);
      h = fma(h, u, far ? 2.368873829e-04f : 4.375976510e-03f);
      h = fma(h, u, far ? -9.355227230e-04f : -1.299155969e-02f);
      h = fma(h, u, far ? 3.526192158e-03f : 3.599509224e-02f);
      h = fma(h, u, far ? -1.261154748e-02f : -9.195397794e-02f);
      h = fma(h, u, far ? 4.248075560e-02f : 2.129462361e-01f);
      h = fma(h, u, far ? -1.334163398e-01f : -4.355716109e-01f);
      h = fma(h, u, far ? 3.851482868e-01f : 7.525711656e-01f);
      g = t * h;
    }
    const Two<float> gc = mul2(g, K<float>::rsqrt2pi());  // g / sqrt(2 pi) as hi + lo
    const float e = exp(-0.5f * s);                      // phi's e^(-x^2/2) = e (1 - slo/2)
    const float p = mul_rn(gc.hi, e), pe = fma(gc.hi, e, -p);
    return -(p + (pe + fma(gc.lo, e, p * (-0.5f * slo))));
  }
  template <class T> ACTK_HD static T forward(T x, P<T>) {
    if constexpr (sizeof(T) == 4) {
      if (x < T(0)) return left_float(x);
    }
    if (in_tail(x)) {
      const T h = quarter_gauss(x);
      return -((tail_series(x) * K<T>::rsqrt2pi().hi) * h) * h;
    }
    return xmul(T(0.5) * x, erfc_arg(x));
  }
  // Around gelu''s zero x0 = -0.75179152469... (float only): its Taylor series in t = x - x0
  // (coefficients from mpmath, degree 14: relative error < 2e-10 on [-1.25, -0.375]), so f' keeps
  // its relative accuracy where Phi(x) + x phi(x) cancels. x - x0.hi is exact there (Sterbenz).
  ACTK_HD static float near_zero(float x) {
    const float t = (x - -0.7517915368080139f) - 1.211444945855772e-08f;
    float c = 4.3284506257392275468e-7f;
    c = fma(c, t, -7.7484613070037191253e-6f);
    c = fma(c, t, -0.000011214380188426641375f);
    c = fma(c, t, 0.000086159478611165716278f);
    c = fma(c, t, 0.0001863397462323351328f);
    c = fma(c, t, -0.00074482683867468162427f);
    c = fma(c, t, -0.0022395380680734971513f);
    c = fma(c, t, 0.0045392283791254155736f);
    c = fma(c, t, 0.019421679838189065889f);
    c = fma(c, t, -0.014771522148244337718f);
    c = fma(c, t, -0.11400823329722170855f);
    c = fma(c, t, -0.018199676398671087101f);
    c = fma(c, t, 0.38828498299055199786f);
    c = fma(c, t, 0.43149399231404691979f);
    return c * t;
  }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) {
    if constexpr (sizeof(T) == 4) {
      if (x >= T(-1.25) && x <= T(-0.375)) return dy * near_zero(x);
    }
    if (in_tail(x)) {
      const T h = quarter_gauss(x);
      if (h == T(0)) return dy * T(0);
      return dy * ((((x - tail_series(x) / x) * K<T>::rsqrt2pi().hi) * h) * h);
    }
    // phi(x) = e^(-x^2/2) / sqrt(2 pi), x^2 carried as hi + lo
    const T s = mul_rn(x, x);
    T slo = fma(x, x, -s);
    if (!(s - s == T(0))) slo = T(0);
    const T e = exp2t(Two<T>{T(-0.5) * s, T(-0.5) * slo});
    if (e == T(0)) return dy * T(0.5) * erfc_arg(x);  // |x| huge: x phi(x) is 0 (and x may be inf)
    return dy * fma(x * K<T>::rsqrt2pi().hi, e, T(0.5) * erfc_arg(x));
  }
};

// gelu_tanh (Hendrycks & Gimpel 2016): x/2 (1 + tanh(u)), u = sqrt(2/pi)(x + 0.044715 x^3)
// = x * sigmoid(2u). 2u is carried as hi + lo so the tail stays exact (exp amplifies its argument's
// error by up to |2u|, about 88 in float): in double for double, and for float in float-float
// arithmetic (the GPU's FP64 rate would otherwise cap the float kernels).
struct GeluTanh : OpBase {
  /// c x (1 + k x^2) as hi + lo: exact products and sums (Dekker/Knuth) in T, so about twice T's
  /// precision; an infinite or NaN result gets lo = 0. For float only (double uses double math).
  template <class T> ACTK_HD static Two<T> cubic2(T x, T k_hi, T k_lo, T c_hi, T c_lo) {
    const T sh = mul_rn(x, x), sl = fma(x, x, -sh);        // x^2
    const T qh = mul_rn(k_hi, sh), ql = fma(k_hi, sh, -qh) + fma(k_hi, sl, k_lo * sh);  // k x^2
    const T wh = T(1) + qh, t = wh - T(1);                  // 1 + k x^2 (TwoSum: qh may exceed 1)
    const T wl = ((T(1) - (wh - t)) + (qh - t)) + ql;
    const T vh = mul_rn(x, wh), vl = fma(x, wh, -vh) + x * wl;  // x (1 + k x^2)
    const T uh = mul_rn(c_hi, vh);
    if (!(uh - uh == T(0))) return Two<T>{uh, T(0)};
    const T ul = fma(c_hi, vh, -uh) + fma(c_hi, vl, c_lo * vh);
    const T hi = uh + ul;
    return Two<T>{hi, ul - (hi - uh)};
  }
  // the double literals the double formula uses, as float hi + lo
  static constexpr double kC = 1.5957691216057308, kK = 0.044715, kK3 = 0.134145;  // 2 sqrt(2/pi), 3 kK
  template <class T> ACTK_HD static Two<T> twice_u(T x) {
    if constexpr (sizeof(T) == 4) {
      constexpr T kh = T(kK), kl = T(kK - double(kh)), ch = T(kC), cl = T(kC - double(ch));
      return cubic2(x, kh, kl, ch, cl);
    } else {
      const double xd = static_cast<double>(x);
      const double u2 = kC * (xd + kK * xd * xd * xd);
      const T hi = static_cast<T>(u2);
      T lo = static_cast<T>(u2 - static_cast<double>(hi));
      if (!(hi - hi == T(0))) lo = T(0);
      return Two<T>{hi, lo};
    }
  }
  template <class T> ACTK_HD static T forward(T x, P<T>) { return x_sigmoid(x, twice_u(x)).xs; }
  // f' = s + x s (1-s) * 2u'(x), 2u' = 2 sqrt(2/pi)(1 + 3*0.044715 x^2)
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) {
    const SigmoidX<T> r = x_sigmoid(x, twice_u(x));
    if (r.c == T(0)) return dy * r.s;
    // X = x * 2u'(x) = 2 sqrt(2/pi) (x + 3*0.044715 x^3), formed like 2u
    if constexpr (sizeof(T) == 4) {
      constexpr T kh = T(kK3), kl = T(kK3 - double(kh)), ch = T(kC), cl = T(kC - double(ch));
      return sig_deriv(r, cubic2(x, kh, kl, ch, cl), dy);
    } else {
      const double xd = static_cast<double>(x);
      const double X = kC * (xd + kK3 * xd * xd * xd);
      const T hi = static_cast<T>(X);
      return sig_deriv(r, Two<T>{hi, is_inf(hi) ? T(0) : static_cast<T>(X - static_cast<double>(hi))}, dy);
    }
  }
};

// quick_gelu: x*sigmoid(1.702 x)
struct QuickGelu : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T>) { return x_sigmoid(x, mul2(x, K<T>::c1702())).xs; }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) {
    const Two<T> z = mul2(x, K<T>::c1702());
    const SigmoidX<T> r = x_sigmoid(x, z);
    return sig_deriv(r, z, dy);  // s + 1.702x s(1-s)
  }
};

// swish (a = beta): x*sigmoid(beta x); silu is swish with beta = 1
struct Swish : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T> p) { return x_sigmoid(x, mul2(x, p.sa())).xs; }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T> p) {
    const Two<T> z = mul2(x, p.sa());
    const SigmoidX<T> r = x_sigmoid(x, z);
    return sig_deriv(r, z, dy);  // s + beta x s(1-s)
  }
  static const char* check(double a, double) { return a > 0 ? nullptr : "beta must be > 0"; }
};

// silu: x*sigmoid(x)
struct Silu : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T>) { return x_sigmoid(x, Two<T>{x, T(0)}).xs; }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) {
    const SigmoidX<T> r = x_sigmoid(x, Two<T>{x, T(0)});
    return sig_deriv(r, Two<T>{x, T(0)}, dy);
  }
};

// mish (Misra 2019): x tanh(softplus(x)). With e = e^x, tanh(ln(1+e)) = n/(n+2), n = e(e+2),
// which has no cancellation; e = h*h with h = e^(x/2) so products with tiny e round once.
struct Mish : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T>) {
    if (x >= T(22)) return x;  // tanh(softplus(x)) == 1 to double precision
    if (x < Tiny<T>::exp_arg) {
      const T h = exp(T(0.5) * x), e = h * h, q = fma(e, e + T(2), T(2));
      return xmul(xmul(x, h) * ((e + T(2)) / q), h);
    }
    const T e = exp(x);
    if constexpr (sizeof(T) == 4) {
      if (x < T(-2)) {
        // float, e < 0.14: x e R with R = (e+2)/(n+2) = 1 - e(e+1)/(e^2+2e+2) (the small part's
        // error barely shows) and x*e carried with its rounding error, so the result rounds once
        // more rather than four times (5 ulp at x = -6.88 before, measured on an H200)
        const T r = T(1) - fma(e, e, e) / fma(e, e + T(2), T(2));
        const T p = mul_rn(x, e);
        return fma(p, r, fma(x, e, -p) * r);
      }
    }
    const T n = e * (e + T(2));
    return x * (n / (n + T(2)));
  }
  // f' = t + x sigmoid(x)(1 - t^2) = e[(e+2)(n+2) + 4x(1+e)] / (n+2)^2
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) {
    if (x >= T(22)) return dy * T(1);
    if (x < Tiny<T>::exp_arg) {  // f' = e (1 + x) to working precision; e^x formed in halves
      const T h = exp(T(0.5) * x);
      if (h == T(0)) return dy * T(0);  // x below the range where f' is representable (or -inf)
      return ((dy * (T(1) + x)) * h) * h;
    }
    // b = (e+2) q + 4x(1+e) = e^3 + 4e^2 + (6+4x) e + 4(1+x): near the zero of f' (x = -1.19)
    // 6+4x and 1+x are exact and the terms are small, so mostly e's own rounding remains
    const T e = exp(x), q = fma(e, e + T(2), T(2));
    const T b = fma(fma(e + T(4), e, fma(T(4), x, T(6))), e, T(4) * (T(1) + x));
    return dy * (e * (b / (q * q)));
  }
};

// softplus (a = beta > 0, b = threshold): x when beta x > threshold, else ln(1 + e^(beta x))/beta
struct Softplus : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T> p) {
    const Two<T> z = mul2(x, p.sa());
    if (z.hi > p.b) return x;
    T v;
    if (z.hi <= T(0)) v = log1p(exp2t(z));
    else v = z.hi + (z.lo + log1p(exp(-z.hi)));
    return v / p.a;
  }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T> p) {
    const Two<T> z = mul2(x, p.sa());
    // both, then the choice: an early return here kept GCC from vectorizing the CPU loop
    const T s = x_sigmoid(x, z).times_s(dy);
    return z.hi > p.b ? dy * T(1) : s;
  }
  // f' = 1 - e^(-beta y)
  template <class T> ACTK_HD static T backward_from_output(T y, T dy, P<T> p) {
    const T w = mulc(y, p.sa());
    if (w > p.b) return dy * T(1);
    return dy * -expm1(-w);
  }
  static const char* check(double a, double) { return a > 0 ? nullptr : "beta must be > 0"; }
};

// softsign: x/(1+|x|); f' = 1/(1+|x|)^2 = (1-|y|)^2
struct Softsign : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T>) { return is_inf(x) ? copysign(T(1), x) : x / (T(1) + fabs(x)); }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) {
    const T t = T(1) / (T(1) + fabs(x));
    return dy * (t * t);
  }
  template <class T> ACTK_HD static T backward_from_output(T y, T dy, P<T>) {
    const T t = T(1) - fabs(y);
    return dy * (t * t);
  }
};

// exponential: e^x
struct Exponential : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T>) { return exp(x); }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) { return mul_exp(dy, x); }
  template <class T> ACTK_HD static T backward_from_output(T y, T dy, P<T>) { return dy * y; }
};

// log_sigmoid: ln sigmoid(x) = min(x, 0) - ln(1 + e^-|x|); f' = sigmoid(-x) = 1 - e^y
struct LogSigmoid : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T>) { return (x < T(0) ? x : T(0)) - log1p(exp(-fabs(x))); }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) {
    const T m = -fabs(x);
    if (x >= T(0) && m < Tiny<T>::exp_arg) return mul_exp(dy, m);
    const T e = exp(m), r = T(1) / (T(1) + e);
    return dy * (x >= T(0) ? e * r : r);
  }
  template <class T> ACTK_HD static T backward_from_output(T y, T dy, P<T>) { return dy * -expm1(y); }
};

// hardtanh (a = min_val, b = max_val): clamp(x, a, b); derivative 0 at both bounds
struct Hardtanh : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T> p) { return x < p.a ? p.a : (x > p.b ? p.b : x); }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T> p) {
    return dy * ((x > p.a && x < p.b) ? T(1) : nan_or(x, T(0)));
  }
  template <class T> ACTK_HD static T backward_from_output(T y, T dy, P<T> p) { return backward_from_input(y, dy, p); }
  static const char* check(double a, double b) { return a <= b ? nullptr : "min_val must be <= max_val"; }
};

// hardsigmoid: relu6(x + 3)/6; f' = 1/6 on the open (-3, 3)
struct Hardsigmoid : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T>) {
    return x <= T(-3) ? T(0) : (x >= T(3) ? T(1) : (x + T(3)) / T(6));
  }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) {
    return (x > T(-3) && x < T(3)) ? dy / T(6) : dy * nan_or(x, T(0));
  }
  template <class T> ACTK_HD static T backward_from_output(T y, T dy, P<T>) {
    return (y > T(0) && y < T(1)) ? dy / T(6) : dy * nan_or(y, T(0));
  }
};

// hardswish (Howard et al. 2019): x relu6(x + 3)/6; f' = (2x + 3)/6 on the closed [-3, 3] (PyTorch)
struct Hardswish : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T>) {
    return x <= T(-3) ? T(0) : (x >= T(3) ? x : x * (x + T(3)) / T(6));
  }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) {
    return x > T(3) ? dy * T(1) : (x >= T(-3) ? dy * ((T(2) * x + T(3)) / T(6)) : dy * nan_or(x, T(0)));
  }
};

// softshrink (a = lambda >= 0): x - a for x > a, x + a for x < -a, else 0
struct Softshrink : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T> p) {
    return x > p.a ? (x - p.a) - p.a_lo : (x < -p.a ? (x + p.a) + p.a_lo : nan_or(x, T(0)));
  }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T> p) {
    return dy * ((x > p.a || x < -p.a) ? T(1) : nan_or(x, T(0)));
  }
  template <class T> ACTK_HD static T backward_from_output(T y, T dy, P<T>) {
    return dy * ((y > T(0) || y < T(0)) ? T(1) : nan_or(y, T(0)));
  }
  static const char* check(double a, double) { return a >= 0 ? nullptr : "lambda must be >= 0"; }
};

// hardshrink (a = lambda >= 0): x for |x| > a, else 0
struct Hardshrink : Softshrink {
  template <class T> ACTK_HD static T forward(T x, P<T> p) { return (x > p.a || x < -p.a) ? x : nan_or(x, T(0)); }
};

// tanhshrink: x - tanh x. Double: Taylor series below |x| = 0.1 (cancellation), x - tanh x above.
// Float (no double math on the GPU): below |x| = 2, Lambert's continued fraction for tanh cut
// after the term 13 + x^2/15 (relative truncation error below 2e-10 there, checked with mpmath)
// gives x - tanh x = x s B(s) / D(s), s = x^2, with B and D of positive integer coefficients
// (no cancellation), x^3 and B/D each carried as hi + lo; above, x - tanh x = (|x| - 1) + 2 e/(1 + e), e = e^(-2|x|), two positive
// terms of which the exact |x| - 1 dominates.
struct Tanhshrink : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T>) {
    if constexpr (sizeof(T) == 4) {
      const T a = fabs(x);
      if (a < T(2)) {
        if (x == T(0)) return x;  // keeps -0
        const T s = mul_rn(x, x), sl = fma(x, x, -s);
        const T c = mul_rn(x, s), cl = fma(x, s, -c) + x * sl;  // x^3 = c + cl
        const T b = fma(fma(s + T(594), s, T(45045)), s, T(675675));
        const T d = fma(fma(fma(s + T(630), s, T(51975)), s, T(945945)), s, T(2027025));
        const T rd = T(1) / d, q = b * rd, ql = fma(-q, d, b) * rd;  // b/d = q + ql
        return fma(c, q, fma(cl, q, c * ql));  // (c + cl)(q + ql): at most 3 ulp on [-2, 2]
      }
      const T e = exp(T(-2) * a);  // NaN: NaN; inf: 0
      return copysign((a - T(1)) + T(2) * e / (T(1) + e), x);
    }
    if (fabs(x) < T(0.1)) {
      // x - tanh x = x^3/3 - 2x^5/15 + 17x^7/315 - ... (coefficients from mpmath's taylor)
      const T s = x * x;
      T c = T(0.001455834387051318268249485);
      c = fma(c, s, T(-0.003592128036572481016925461));
      c = fma(c, s, T(0.008863235529902196568863236));
      c = fma(c, s, T(-0.02186948853615520282186949));
      c = fma(c, s, T(0.05396825396825396825396825));
      c = fma(c, s, T(-0.1333333333333333333333333));
      c = fma(c, s, T(0.3333333333333333333333333));
      return (x * s) * c;
    }
    const double xd = static_cast<double>(x);
    return static_cast<T>(xd - ::tanh(xd));
  }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) {
    const T t = tanh(x);
    return dy * (t * t);
  }
};

// threshold (a = threshold, b = value): x > a ? x : b
struct Threshold : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T> p) { return x > p.a ? x : nan_or(x, p.b); }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T> p) { return dy * (x > p.a ? T(1) : nan_or(x, T(0))); }
};

// squareplus (Barron 2021, a = b > 0): (x + sqrt(x^2 + b))/2; for x < 0 the form b/(2(s - x))
struct Squareplus : OpBase {
  // s = sqrt(x^2 + b). float (the GPU's float kernels): hypotf, since x^2 overflows float above
  // 1.8e19. double: from x^2 + b (one rounding: x^2 is exact for every float, bfloat16 and float16
  // input) where neither can overflow, else the same sum scaled by m = max(|x|, sqrt(b)); both are
  // formed and one is picked, so the CPU's loops vectorize (glibc's hypot has no vector form and
  // kept squareplus the one scalar CPU loop, 0.04x PyTorch in bfloat16).
  template <class T> ACTK_HD static T root(T x, P<T> p) {
    if constexpr (sizeof(T) == 4) {
      return hypot(x, sqrt(p.a));
    } else {
      const T ax = fabs(x), rb = sqrt(p.a);
      const T m = ax > rb ? ax : rb, u = ax / m, v = rb / m;
      const T scaled = m * sqrt(fma(u, u, v * v));
      const T plain = sqrt(fma(x, x, p.a));
      const bool small = ax < T(0x1p500) && p.a < T(0x1p1000);
      return small ? plain : (is_inf(ax) || is_inf(rb) ? ax + rb : scaled);  // NaN x: NaN either way
    }
  }
  template <class T> ACTK_HD static T forward(T x, P<T> p) {
    const T s = root(x, p);
    return x >= T(0) ? fma(T(0.5), x, T(0.5) * s) : (T(0.25) * p.a) / fma(T(0.5), s, T(-0.5) * x);  // halves: no overflow
  }
  // f' = (1 + x/s)/2, = b / (2 s (s - x)) for x < 0
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T> p) {
    const T s = root(x, p);
    return dy * (x >= T(0) ? (is_inf(x) ? T(1) : fma(T(0.5), x / s, T(0.5))) : ((T(0.25) * p.a) / s) / fma(T(0.5), s, T(-0.5) * x));
  }
  static const char* check(double a, double) { return a > 0 ? nullptr : "b must be > 0"; }
};

// squared_relu (So et al. 2021, Primer): relu(x)^2; f' = 2 relu(x) = 2 sqrt(y)
struct SquaredRelu : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T>) { return x > T(0) ? x * x : nan_or(x, T(0)); }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) { return x > T(0) ? (T(2) * dy) * x : dy * nan_or(x, T(0)); }
  template <class T> ACTK_HD static T backward_from_output(T y, T dy, P<T>) { return y > T(0) ? (T(2) * dy) * sqrt(y) : dy * nan_or(y, T(0)); }
};

// sparse_plus (JAX/Keras): 0 for x <= -1, x for x >= 1, (x + 1)^2/4 between
struct SparsePlus : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T>) {
    if (x <= T(-1)) return T(0);
    if (x >= T(1)) return x;
    const T u = x + T(1);
    return u * u * T(0.25);
  }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) {
    return dy * (x <= T(-1) ? T(0) : (x >= T(1) ? T(1) : (x + T(1)) * T(0.5)));
  }
};

// sine: sin x; f' = cos x
struct Sine : OpBase {
  template <class T> ACTK_HD static T forward(T x, P<T>) { return sin(x); }
  template <class T> ACTK_HD static T backward_from_input(T x, T dy, P<T>) { return dy * cos(x); }
};

}  // namespace ops
}  // namespace actk
