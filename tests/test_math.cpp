// tests/test_math.cpp: the functor math beyond the golden rows: every backward against a central
// finite difference of its forward (double, away from kinks), backward-from-output against
// backward-from-input, and the 16-bit storage types' rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "common.h"

namespace {

using namespace actk_test;
using actk::P;

/// A non-default parameter set per parametrized op, so the parameters' own math is checked too.
std::vector<actk::Params> param_sets(Op op) {
  static const std::map<std::string, actk::Params> alt = {
      {"linear", {-3, NAN}},   {"leaky_relu", {0.2, NAN}}, {"prelu", {-0.1, NAN}},     {"elu", {0.5, NAN}},
      {"celu", {2, NAN}},      {"swish", {0.5, NAN}},      {"softplus", {2, 10}},      {"hardtanh", {-2, 3}},
      {"softshrink", {1, NAN}}, {"hardshrink", {1, NAN}},  {"threshold", {1, -2}},     {"squareplus", {1, NAN}}};
  std::vector<actk::Params> v{defaults(op)};
  auto it = alt.find(op_name(op));
  if (it != alt.end()) v.push_back(it->second);
  return v;
}

std::vector<double> fd_points() {
  std::vector<double> v;
  for (double x = -12.05; x <= 12.1; x += 0.173) v.push_back(x);
  for (double x : {-60.0, -30.0, -20.5, -1e-3, 1e-3, 20.5, 30.0, 60.0}) v.push_back(x);
  return v;
}

class MathOp : public ::testing::TestWithParam<Op> {};

TEST_P(MathOp, BackwardMatchesFiniteDifference) {
  const Op op = GetParam();
  for (const actk::Params& prm : param_sets(op)) {
    const P<double> p = P<double>::make(pa(op, prm), pb(op, prm));
    actk::detail::with_op(op, [&](auto tag) {
      using Fn = typename decltype(tag)::fn;
      int checked = 0, skipped = 0;
      for (double x : fd_points()) {
        const double h = 1e-5 * std::max(1.0, std::fabs(x));
        auto fd = [&](double hh) { return (Fn::forward(x + hh, p) - Fn::forward(x - hh, p)) / (2 * hh); };
        const double f1 = fd(h), f2 = fd(h / 2);
        if (!(std::fabs(f1 - f2) <= 1e-6 * (1 + std::fabs(f2)))) {  // a kink within reach: skip
          ++skipped;
          continue;
        }
        ++checked;
        const double d = Fn::backward_from_input(x, 1.0, p);
        EXPECT_NEAR(d, f2, 1e-6 * (1 + std::fabs(d))) << op_name(op) << " a=" << p.a << " b=" << p.b << " x=" << x;
        // dy scales the result exactly as a product
        EXPECT_DOUBLE_EQ(Fn::backward_from_input(x, -2.5, p), -2.5 * d) << op_name(op) << " x=" << x;
      }
      EXPECT_GE(checked, 120) << op_name(op);
      EXPECT_LE(skipped, 6) << op_name(op) << ": too many points look like kinks";
    });
  }
}

class FromOutputOp : public ::testing::TestWithParam<Op> {};

TEST_P(FromOutputOp, BackwardFromOutputMatchesBackwardFromInput) {
  const Op op = GetParam();
  ASSERT_TRUE(actk::op_info(op).has_backward_from_output);
  for (const actk::Params& prm : param_sets(op)) {
    const P<double> p = P<double>::make(pa(op, prm), pb(op, prm));
    actk::detail::with_op(op, [&](auto tag) {
      using Tag = decltype(tag);
      using Fn = typename Tag::fn;
      if constexpr (Tag::from_output) {
        if (Fn::check_from_output(p.a, p.b) != nullptr) return;  // e.g. linear with a negative slope is fine, prelu not
        for (double x : fd_points()) {
          const double y = Fn::forward(x, p);
          const double di = Fn::backward_from_input(x, 1.0, p), dout = Fn::backward_from_output(y, 1.0, p);
          EXPECT_NEAR(dout, di, 1e-9 * (1 + std::fabs(di))) << op_name(op) << " a=" << p.a << " x=" << x << " y=" << y;
        }
      }
    });
  }
}

INSTANTIATE_TEST_SUITE_P(AllOps, MathOp, ::testing::ValuesIn(all_ops()),
                         [](const ::testing::TestParamInfo<Op>& i) { return op_name(i.param); });
INSTANTIATE_TEST_SUITE_P(FromOutputOps, FromOutputOp, ::testing::ValuesIn(from_output_ops()),
                         [](const ::testing::TestParamInfo<Op>& i) { return op_name(i.param); });

// ---- 16-bit storage types -------------------------------------------------------------------------

TEST(Float16, EveryValueRoundTripsThroughDouble) {
  for (std::uint32_t i = 0; i < 65536; ++i) {
    const float16 h = float16::from_bits(static_cast<std::uint16_t>(i));
    const double d = static_cast<double>(h);
    if (std::isnan(d)) {
      EXPECT_EQ(i & 0x7c00u, 0x7c00u);
      EXPECT_TRUE(std::isnan(static_cast<double>(float16(d))));
      continue;
    }
    EXPECT_EQ(float16(d).bits, h.bits) << std::hex << i;
    EXPECT_EQ(float16(static_cast<float>(d)).bits, h.bits) << std::hex << i;
  }
  EXPECT_EQ(static_cast<double>(float16::from_bits(0x3c00)), 1.0);
  EXPECT_EQ(static_cast<double>(float16::from_bits(0x7bff)), 65504.0);
  EXPECT_EQ(static_cast<double>(float16::from_bits(0x0001)), std::ldexp(1.0, -24));
}

TEST(BFloat16, EveryValueRoundTripsThroughDouble) {
  for (std::uint32_t i = 0; i < 65536; ++i) {
    const bfloat16 h = bfloat16::from_bits(static_cast<std::uint16_t>(i));
    const double d = static_cast<double>(h);
    if (std::isnan(d)) continue;
    EXPECT_EQ(bfloat16(d).bits, h.bits) << std::hex << i;
    EXPECT_EQ(bits(static_cast<float>(d)) >> 16, i) << "bfloat16 is the top half of a float";
  }
}

#if defined(__FLT16_MAX__)
// GCC's _Float16 conversions (libgcc soft-float) are an independent round-to-nearest-even oracle.
TEST(Float16, RoundsLikeTheCompilersFloat16) {
  Rng rng(42);
  for (int i = 0; i < 2000000; ++i) {
    const float f = from_bits(static_cast<std::uint32_t>(rng.next()));
    const double d = std::ldexp(rng.uniform(-2, 2), static_cast<int>(rng.uniform(-30, 18)));
    const _Float16 hf = static_cast<_Float16>(f), hd = static_cast<_Float16>(d);
    std::uint16_t bf, bd;
    std::memcpy(&bf, &hf, 2);
    std::memcpy(&bd, &hd, 2);
    if (std::isnan(f)) ASSERT_TRUE(std::isnan(static_cast<double>(float16(f))));
    else ASSERT_EQ(float16(f).bits, bf) << f;
    ASSERT_EQ(float16(d).bits, bd) << d;
  }
}
#endif

TEST(BFloat16, RoundsToNearestEvenFromFloat) {
  Rng rng(7);
  for (int i = 0; i < 2000000; ++i) {
    const std::uint32_t u = static_cast<std::uint32_t>(rng.next());
    const float f = from_bits(u);
    if (std::isnan(f)) continue;
    const std::uint32_t expect = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;  // RNE on the bit pattern
    ASSERT_EQ(bfloat16(f).bits, expect) << std::hex << u;
  }
}

TEST(BFloat16, RoundsOnceFromDouble) {
  // 1 + 2^-8 is the midpoint between bfloat16's 1 and 1 + 2^-7: ties to even gives 1; a hair
  // above must give 1 + 2^-7 even though rounding through float first would land on the tie.
  EXPECT_EQ(bfloat16(1.0 + 0x1p-8).bits, 0x3f80);
  EXPECT_EQ(bfloat16(1.0 + 0x1p-8 + 0x1p-40).bits, 0x3f81);
  EXPECT_EQ(float16(1.0 + 0x1p-11 + 0x1p-40).bits, 0x3c01);
  EXPECT_EQ(float16(65520.0).bits, 0x7c00) << "65520 rounds up to inf";
  EXPECT_EQ(float16(65519.99).bits, 0x7bff);
  EXPECT_EQ(float16(std::ldexp(1.0, -25)).bits, 0x0000) << "half the smallest subnormal ties to 0";
  EXPECT_EQ(float16(std::ldexp(1.0, -25) * 1.0000001).bits, 0x0001);
  EXPECT_EQ(float16(-0.0).bits, 0x8000);
  EXPECT_EQ(bfloat16(-std::numeric_limits<double>::infinity()).bits, 0xff80);
}

}  // namespace

namespace {
using actk_test::from_bits;
using actk_test::ulp_dist;

// The device's float exp (actk::math::exp_accurate, used by every functor in GPU kernels) is
// plain float arithmetic, so the host runs the very same operations: every 2^8-th float input
// (all exponents, both signs, subnormal results and the overflow edge included) within 1 ulp of
// the correctly rounded e^x, and the specials.
TEST(DeviceExp, WithinOneUlpOfTheRoundedResult) {
  double worst = 0;
  float worst_x = 0;
  for (std::uint64_t b = 0; b < (std::uint64_t{1} << 32); b += 251) {
    const float x = from_bits(static_cast<std::uint32_t>(b));
    if (std::isnan(x)) continue;
    const float got = actk::math::exp_accurate(x);
    const float ref = static_cast<float>(std::exp(static_cast<double>(x)));
    const double d = ulp_dist(got, ref);
    if (d > worst) worst = d, worst_x = x;
  }
  EXPECT_LE(worst, 1.0) << "at x = " << worst_x;
  // the overflow and underflow edges, exhaustively
  for (float x = 88.0f; x <= 89.0f; x = std::nextafter(x, 100.0f))
    ASSERT_LE(ulp_dist(actk::math::exp_accurate(x), static_cast<float>(std::exp(static_cast<double>(x)))), 1.0) << x;
  for (float x = -105.0f; x <= -86.0f; x = std::nextafter(x, 0.0f))
    ASSERT_LE(ulp_dist(actk::math::exp_accurate(x), static_cast<float>(std::exp(static_cast<double>(x)))), 1.0) << x;
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(actk::math::exp_accurate(inf), inf);
  EXPECT_EQ(actk::math::exp_accurate(-inf), 0.0f);
  EXPECT_TRUE(std::isnan(actk::math::exp_accurate(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(actk::math::exp_accurate(0.0f), 1.0f);
  EXPECT_EQ(actk::math::exp_accurate(-0.0f), 1.0f);
}

}  // namespace
