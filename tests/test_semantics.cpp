// tests/test_semantics.cpp: the behaviour DESIGN.md pins, through the public API in every dtype:
// NaN propagation (forward, and NaN in x or dy for both backward forms), the derivatives at kinks
// (PyTorch's conventions), binary_step(0) = 1, and limits at +-inf.
#include <gtest/gtest.h>

#include <cmath>

#include "common.h"

namespace {

using namespace actk_test;
using actk::DType;
using actk::From;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

/// Converts to and from any storage type through the double-typed C++ API by value.
template <class S> S to(double v) {
  if constexpr (std::is_same_v<S, float16> || std::is_same_v<S, bfloat16>) return S(v);
  else return static_cast<S>(v);
}
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

}  // namespace
