// tests/test_semantics.cpp: the behaviour DESIGN.md pins, through the public API in every dtype:
// NaN propagation (forward, and NaN in x or dy for both backward forms), the derivatives at kinks
// (PyTorch's conventions), binary_step(0) = 1, and limits at +-inf.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "actk/functors.h"
#include "common.h"

namespace {

using namespace actk_test;
using actk::DType;
using actk::From;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

/// Converts from any storage type to double (to<S>, the other way, is common.h's).
template <class S> double from(S v) { return static_cast<double>(v); }

template <class S> double fwd(Op op, double x, actk::Params p = {}) {
  const S xs = to<S>(x);
  S y = to<S>(-777.0);
  actk::forward(op, &xs, &y, 1, p);
  return from(y);
}
template <class S> double bwd(Op op, From f, double x, double dy, actk::Params p = {}) {
  const S xs = to<S>(x), dys = to<S>(dy);
  S dx = to<S>(-777.0);
  actk::backward(op, f, &xs, &dys, &dx, 1, p);
  return from(dx);
}

template <class S> void nan_propagates() {
  for (Op op : all_ops()) {
    const std::string n = op_name(op);
    EXPECT_TRUE(std::isnan(fwd<S>(op, kNaN))) << n << " f(NaN)";
    EXPECT_TRUE(std::isnan(bwd<S>(op, From::input, kNaN, 1.0))) << n << " f'(NaN)";
    for (double x : {-2.0, -0.0, 0.0, 0.5, 3.0})
      EXPECT_TRUE(std::isnan(bwd<S>(op, From::input, x, kNaN))) << n << " dy = NaN at x = " << x;
    if (actk::op_info(op).has_backward_from_output) {
      EXPECT_TRUE(std::isnan(bwd<S>(op, From::output, kNaN, 1.0))) << n << " from y = NaN";
      for (double y : {-0.5, 0.0, 0.5, 2.0})
        EXPECT_TRUE(std::isnan(bwd<S>(op, From::output, y, kNaN))) << n << " from y, dy = NaN at y = " << y;
    }
  }
}

TEST(Semantics, NanPropagatesFloat32) { nan_propagates<float>(); }
TEST(Semantics, NanPropagatesFloat64) { nan_propagates<double>(); }
TEST(Semantics, NanPropagatesFloat16) { nan_propagates<float16>(); }
TEST(Semantics, NanPropagatesBFloat16) { nan_propagates<bfloat16>(); }

template <class S> void kinks_follow_pytorch() {
  auto d = [](Op op, double x, actk::Params p = {}) { return bwd<S>(op, From::input, x, 1.0, p); };
  EXPECT_EQ(d(Op::relu, 0.0), 0.0);
  EXPECT_EQ(d(Op::relu, -0.0), 0.0);
  EXPECT_EQ(d(Op::leaky_relu, 0.0), from(to<S>(0.01)));
  EXPECT_EQ(d(Op::prelu, 0.0), 0.25);
  EXPECT_EQ(d(Op::elu, 0.0), 1.0);            // alpha * e^0: the negative branch
  EXPECT_EQ(d(Op::elu, 0.0, {0.5}), 0.5);
  EXPECT_EQ(d(Op::celu, 0.0, {2.0}), 1.0);    // e^(0/alpha)
  EXPECT_EQ(d(Op::hardtanh, -1.0), 0.0);
  EXPECT_EQ(d(Op::hardtanh, 1.0), 0.0);
  EXPECT_EQ(d(Op::hardtanh, 0.5), 1.0);
  EXPECT_EQ(d(Op::relu6, 0.0), 0.0);
  EXPECT_EQ(d(Op::relu6, 6.0), 0.0);
  EXPECT_EQ(d(Op::relu6, 3.0), 1.0);
  EXPECT_EQ(d(Op::hardsigmoid, -3.0), 0.0);
  EXPECT_EQ(d(Op::hardsigmoid, 3.0), 0.0);
  EXPECT_EQ(d(Op::hardsigmoid, 0.0), from(to<S>(1.0 / 6)));
  EXPECT_EQ(d(Op::hardswish, 3.0), 1.5);      // closed interval, as PyTorch
  EXPECT_EQ(d(Op::hardswish, -3.0), -0.5);
  EXPECT_EQ(d(Op::hardswish, -3.5), 0.0);
  for (Op op : {Op::softshrink, Op::hardshrink}) {
    EXPECT_EQ(d(op, 0.5), 0.0) << op_name(op);
    EXPECT_EQ(d(op, -0.5), 0.0) << op_name(op);
    EXPECT_EQ(d(op, 0.0), 0.0) << op_name(op);
    EXPECT_EQ(d(op, 0.75), 1.0) << op_name(op);
  }
  for (double x : {-1.0, -0.0, 0.0, 1.0}) EXPECT_EQ(d(Op::binary_step, x), 0.0);
  EXPECT_EQ(fwd<S>(Op::binary_step, 0.0), 1.0);
  EXPECT_EQ(fwd<S>(Op::binary_step, -0.0), 1.0);
  EXPECT_EQ(fwd<S>(Op::binary_step, -1e-3), 0.0);
  EXPECT_EQ(fwd<S>(Op::threshold, 1.0, {1.0, -2.0}), -2.0);  // x > threshold keeps x; equal gives value
  EXPECT_EQ(fwd<S>(Op::threshold, 1.5, {1.0, -2.0}), 1.5);
  // from the output: the same conventions, told by y
  auto g = [](Op op, double y, actk::Params p = {}) { return bwd<S>(op, From::output, y, 1.0, p); };
  EXPECT_EQ(g(Op::relu, 0.0), 0.0);
  EXPECT_EQ(g(Op::leaky_relu, 0.0), from(to<S>(0.01)));
  EXPECT_EQ(g(Op::elu, 0.0), 1.0);
  EXPECT_EQ(g(Op::relu6, 6.0), 0.0);
  EXPECT_EQ(g(Op::hardtanh, 1.0), 0.0);
  EXPECT_EQ(g(Op::hardsigmoid, 1.0), 0.0);
  EXPECT_EQ(g(Op::hardsigmoid, 0.5), from(to<S>(1.0 / 6)));
}

TEST(Semantics, KinksFloat32) { kinks_follow_pytorch<float>(); }
TEST(Semantics, KinksFloat64) { kinks_follow_pytorch<double>(); }
TEST(Semantics, KinksFloat16) { kinks_follow_pytorch<float16>(); }
TEST(Semantics, KinksBFloat16) { kinks_follow_pytorch<bfloat16>(); }

template <class S> void limits_at_infinity() {
  struct L { Op op; double at_minus, at_plus; };
  const L table[] = {{Op::sigmoid, 0, 1},       {Op::tanh, -1, 1},          {Op::relu, 0, kInf},
                     {Op::elu, -1, kInf},       {Op::gelu, 0, kInf},        {Op::gelu_tanh, 0, kInf},
                     {Op::silu, 0, kInf},       {Op::mish, 0, kInf},        {Op::softplus, 0, kInf},
                     {Op::softsign, -1, 1},     {Op::exponential, 0, kInf}, {Op::log_sigmoid, -kInf, 0},
                     {Op::hardswish, 0, kInf},  {Op::squareplus, 0, kInf},  {Op::quick_gelu, 0, kInf},
                     {Op::tanhshrink, -kInf, kInf}, {Op::sparse_plus, 0, kInf}, {Op::hardsigmoid, 0, 1}};
  for (const L& l : table) {
    EXPECT_EQ(fwd<S>(l.op, -kInf), l.at_minus) << op_name(l.op) << "(-inf)";
    EXPECT_EQ(fwd<S>(l.op, kInf), l.at_plus) << op_name(l.op) << "(+inf)";
  }
  // derivatives: the limits, never inf * 0 = NaN
  for (Op op : all_ops()) {
    if (op == Op::sine) continue;  // sin and cos have no limit at infinity
    for (double x : {-kInf, kInf}) {
      const double v = bwd<S>(op, From::input, x, 1.0);
      EXPECT_FALSE(std::isnan(v)) << op_name(op) << "'(" << x << ")";
    }
  }
  EXPECT_EQ(bwd<S>(Op::sigmoid, From::input, kInf, 1.0), 0.0);
  EXPECT_EQ(bwd<S>(Op::silu, From::input, kInf, 1.0), 1.0);
  EXPECT_EQ(bwd<S>(Op::gelu, From::input, -kInf, 1.0), 0.0);
  EXPECT_EQ(bwd<S>(Op::mish, From::input, -kInf, 1.0), 0.0);
  EXPECT_EQ(bwd<S>(Op::squareplus, From::input, kInf, 1.0), 1.0);
}

TEST(Semantics, LimitsAtInfinityFloat32) { limits_at_infinity<float>(); }
TEST(Semantics, LimitsAtInfinityFloat64) { limits_at_infinity<double>(); }
TEST(Semantics, LimitsAtInfinityBFloat16) { limits_at_infinity<bfloat16>(); }

TEST(Semantics, GeluIsNotFlushedInItsTail) {
  // PyTorch's float gelu is -0 below x = -5.5; the true value is a normal float down to about -13
  for (double x : {-5.5, -8.0, -10.0, -12.5}) {
    const double y = fwd<float>(Op::gelu, x);
    const double want = 0.5 * x * std::erfc(-x / std::sqrt(2.0));
    EXPECT_LT(y, 0.0) << x;
    EXPECT_NEAR(y, want, std::fabs(want) * 1e-6) << x;
  }
}

// Double rounding traps: y = slope * x lands a hair above or below a 16-bit midpoint, closer than a
// float ulp, so rounding through float first (float, then to nearest even) would pick the wrong
// neighbour. 64 copies per call, so vectorized loops run them; every result must be the double
// product rounded once (normal and subnormal ranges, both signs, both sides of the midpoint).
template <class S> void no_double_rounding(int mant, int min_exp) {
  std::vector<std::pair<double, double>> cases;  // (x, slope), x a power of two: the product is exact
  for (int e : {0, 5, -3, min_exp}) {
    for (double side : {1.0, -1.0}) {
      const double ulp = std::ldexp(1.0, -mant);     // the 16-bit spacing on [1, 2)
      const double mid = 1.0 + 5.5 * ulp;            // a midpoint
      const double slope = mid + side * std::ldexp(1.0, -40);  // far below a float ulp away from it
      cases.push_back({std::ldexp(1.0, e), slope});
      cases.push_back({-std::ldexp(1.0, e), slope});
    }
  }
  // subnormal results: x = the smallest subnormal, slope = k + 1/2 +- tiny
  const double tiny = std::ldexp(1.0, min_exp - mant);
  for (double side : {1.0, -1.0}) cases.push_back({tiny, 5.5 + side * std::ldexp(1.0, -30)});
  for (const auto& [xv, slope] : cases) {
    const std::vector<S> x(64, S(xv));
    std::vector<S> y(64);
    actk::forward(Op::linear, x.data(), y.data(), 64, {slope});
    const S want = S(static_cast<double>(x[0]) * slope);
    for (const S& v : y) ASSERT_EQ(v.bits, want.bits) << "x " << xv << " slope " << slope << ": " << static_cast<double>(v) << " vs " << static_cast<double>(want);
  }
}
TEST(Semantics, NoDoubleRoundingBFloat16) { no_double_rounding<bfloat16>(7, -126); }
TEST(Semantics, NoDoubleRoundingFloat16) { no_double_rounding<float16>(10, -14); }

// Every bfloat16 input through exponential and softsign (and their backward with dy = 1/3) in
// one call, so the vectorized CPU loops (where the CPU has AVX2) run it: each result must be the
// double result rounded once by half.h's reference rounding (overflow to inf, underflow through
// the subnormals to zero, NaN), whatever loop computed it.
TEST(Semantics, BFloat16RoundsOnceOnEveryLoop) {
  std::vector<bfloat16> x(65536), dy(65536, bfloat16(1.0 / 3.0)), y(65536), dx(65536);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = bfloat16::from_bits(static_cast<std::uint16_t>(i));
  const double g = static_cast<double>(bfloat16(1.0 / 3.0));
  for (Op op : {Op::exponential, Op::softsign}) {
    actk::forward(op, x.data(), y.data(), static_cast<std::int64_t>(x.size()));
    actk::backward(op, From::input, x.data(), dy.data(), dx.data(), static_cast<std::int64_t>(x.size()));
    int bad = 0;
    for (std::size_t i = 0; i < x.size() && bad < 5; ++i) {
      const double v = static_cast<double>(x[i]);
      const actk::P<double> p = actk::P<double>::make(0.0, 0.0);  // the functors in double, as the CPU loops
      const double f = op == Op::exponential ? actk::ops::Exponential::forward(v, p) : actk::ops::Softsign::forward(v, p);
      const double d = op == Op::exponential ? actk::ops::Exponential::backward_from_input(v, g, p)
                                             : actk::ops::Softsign::backward_from_input(v, g, p);
      const bfloat16 want_y = bfloat16(f), want_dx = bfloat16(d);
      const bool y_ok = (std::isnan(f) && std::isnan(static_cast<double>(y[i]))) || y[i].bits == want_y.bits;
      const bool dx_ok = (std::isnan(d) && std::isnan(static_cast<double>(dx[i]))) || dx[i].bits == want_dx.bits;
      if (!y_ok || !dx_ok)
        ADD_FAILURE() << op_name(op) << " x bits 0x" << std::hex << i << std::dec << " (" << v << "): y " << static_cast<double>(y[i])
                      << " want " << static_cast<double>(want_y) << ", dx " << static_cast<double>(dx[i]) << " want "
                      << static_cast<double>(want_dx),
            ++bad;
    }
  }
}

// identity, binary_step, relu, relu6, hardtanh, hardshrink, threshold (and softshrink's backward)
// give results exact in float when their parameters are floats, so the CPU loops compute them in
// float when the blend is plain (host/cpu.h's kExactInFloat: the 16-bit forms vectorize then).
// Their results must be the double path's, bit for bit: every 16-bit input (and a float32 sample)
// against the float64 call on the widened inputs, rounded once; every direction; default
// parameters, other float ones (hardtanh's 0.1 is not exact in bfloat16: its float rounds once),
// and ones that are not floats (those take the double path).
template <class S> void exact_ops_match_double(std::size_t count, bool every_pattern) {
  const DType dt = actk::dtype_of<S>::value;
  std::vector<S> x(count), dy(count);
  Rng rng(77);
  for (std::size_t i = 0; i < count; ++i) {
    if constexpr (sizeof(S) == 2) {
      x[i] = S::from_bits(static_cast<std::uint16_t>(every_pattern ? i : rng.next()));
    } else {
      const auto u = static_cast<std::uint32_t>(rng.next());
      std::memcpy(&x[i], &u, 4);
    }
    dy[i] = to<S>(rng.uniform(-3, 3));
  }
  x[0] = to<S>(-0.0);
  std::vector<double> x64(count), dy64(count), r64(count);
  for (std::size_t i = 0; i < count; ++i) x64[i] = static_cast<double>(x[i]), dy64[i] = static_cast<double>(dy[i]);
  const auto n = static_cast<std::int64_t>(count);
  const double not_float = 0.1;  // 0.1 is no float: those calls take the double path
  const std::vector<std::pair<Op, actk::Params>> cases = {
      {Op::identity, {}}, {Op::binary_step, {}}, {Op::relu, {}}, {Op::relu6, {}},
      {Op::hardtanh, {}}, {Op::hardtanh, {-0.5, 2.25}}, {Op::hardtanh, {0.1f, 0.3f}}, {Op::hardtanh, {-not_float, 1.0}},
      {Op::hardshrink, {}}, {Op::hardshrink, {1.75}}, {Op::hardshrink, {not_float}},
      {Op::threshold, {}}, {Op::threshold, {1.5, -2.25}}, {Op::threshold, {0.5, 0.1f}}, {Op::threshold, {0.5, not_float}},
      {Op::softshrink, {}}, {Op::softshrink, {0.25}}, {Op::softshrink, {not_float}}};
  for (const auto& [op, params] : cases)
    for (int dir = 0; dir < 3; ++dir) {
      if (dir == 2 && !actk::op_info(op).has_backward_from_output) continue;
      std::vector<S> got(count);
      if (dir == 0) {
        actk::forward(op, dt, x.data(), got.data(), n, params);
        actk::forward(op, DType::float64, x64.data(), r64.data(), n, params);
      } else {
        const From from = dir == 1 ? From::input : From::output;
        actk::backward(op, dt, from, x.data(), dy.data(), got.data(), n, params);
        actk::backward(op, DType::float64, from, x64.data(), dy64.data(), r64.data(), n, params);
      }
      int bad = 0;
      for (std::size_t i = 0; i < count && bad < 5; ++i) {
        const S want = to<S>(r64[i]);
        if (std::isnan(r64[i]) && std::isnan(static_cast<double>(got[i]))) continue;  // NaN payloads aside
        if (std::memcmp(&got[i], &want, sizeof(S)) != 0)
          ADD_FAILURE() << actk::op_info(op).name << " (" << params.a << ", " << params.b << ") " << actk::dtype_name(dt)
                        << " direction " << dir << " x " << static_cast<double>(x[i])
                        << ": " << static_cast<double>(got[i]) << " vs " << r64[i],
              ++bad;
      }
    }
}
TEST(Semantics, ExactOpsInFloatMatchTheDoublePathBitForBit) {
  exact_ops_match_double<bfloat16>(65536, true);
  exact_ops_match_double<float16>(65536, true);
  exact_ops_match_double<float>(1 << 16, false);
}

}  // namespace
