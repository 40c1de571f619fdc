// tests/test_device_math.cpp: the float formulas the GPU kernels run, checked on the CPU (CI has no
// GPU). The device's float functions that are plain IEEE arithmetic -- every functor's +, *, /, fma
// and actk::math::exp_accurate, the device's e^x -- give the same results here, so for the ops
// whose float math uses nothing else (no erfcf/tanhf/log1pf/expm1f, whose device versions differ
// from glibc's) this is the GPU's float32 accuracy: forward within 4 ulp and backward (dy = 1)
// within 8 ulp of the double functor rounded once, or 2^-22 absolute inside the near-zero windows
// of f', as tests/test_exhaustive.cu asserts over all 2^32 inputs on a GPU. Here: every 4099th
// float, plus every float of the stretches where the tails' roundings pile up.
// This file is its own executable: ACTK_EMULATE_DEVICE_EXP changes actk::math::exp(float), which
// must not differ between translation units of one program.
#define ACTK_EMULATE_DEVICE_EXP 1
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common.h"

namespace {

using namespace actk_test;
using actk::P;
using actk::detail::Dir;

template <class Fn, Dir D, class T> T apply_fn(T x, T dy, const P<T>& p) {
  if constexpr (D == Dir::forward) return Fn::forward(x, p);
  else return Fn::backward_from_input(x, dy, p);
}

struct Worst {
  double ulp = 0;
  float x = 0;
  long over = 0;
};

template <class Fn, Dir D> void check(Worst& w, float x, double bound, const std::vector<Window>& near0, P<float> pf,
                                      P<double> pd) {
  const float got = apply_fn<Fn, D>(x, 1.0f, pf);
  const double refd = apply_fn<Fn, D>(static_cast<double>(x), 1.0, pd);
  const float ref = static_cast<float>(refd);
  if (D == Dir::from_input && in_windows(near0, static_cast<double>(x)) && std::isfinite(refd)) {
    if (!(std::fabs(static_cast<double>(got) - refd) <= 0x1p-22)) ++w.over;
    return;
  }
  const double u = ulp_dist(got, ref);
  if (u > w.ulp) w.ulp = u, w.x = x;
  if (u > bound) ++w.over;
}

template <class Fn> void sweep_op(const char* name, std::vector<std::pair<float, float>> dense) {
  const Op op = [&] {
    for (Op o : all_ops())
      if (op_name(o) == std::string(name)) return o;
    return all_ops()[0];
  }();
  ASSERT_EQ(op_name(op), std::string(name));
  const actk::Params prm = defaults(op);
  const P<float> pf = P<float>::make(pa(op, prm), pb(op, prm));
  const P<double> pd = P<double>::make(pa(op, prm), pb(op, prm));
  const std::vector<Window> near0 = derivative_zero_windows<Fn>(pd);
  Worst fwd, bwd;
  auto both = [&](float x) {
    check<Fn, Dir::forward>(fwd, x, 4, near0, pf, pd);
    check<Fn, Dir::from_input>(bwd, x, 8, near0, pf, pd);
  };
  for (std::uint64_t b = 0; b < (std::uint64_t{1} << 32); b += 4099) both(from_bits(static_cast<std::uint32_t>(b)));
  for (auto [lo, hi] : dense)
    for (float x = lo; x < hi; x = std::nextafter(x, hi)) both(x);
  EXPECT_EQ(fwd.over, 0) << name << " forward: max " << fwd.ulp << " ulp at x = " << fwd.x;
  EXPECT_EQ(bwd.over, 0) << name << " backward: max " << bwd.ulp << " ulp at x = " << bwd.x;
  std::printf("%-11s forward max %.0f ulp (x = %.9g), backward max %.0f ulp (x = %.9g)\n", name, fwd.ulp,
              static_cast<double>(fwd.x), bwd.ulp, static_cast<double>(bwd.x));
}

// the stretches where the H200's sweep found the worst tails (2026-11-26) and their neighbours
TEST(DeviceFloatMath, SigmoidFamilyWithinBounds) {
  sweep_op<actk::ops::Sigmoid>("sigmoid", {{-7.0f, -3.0f}, {-92.0f, -85.0f}});
  sweep_op<actk::ops::Silu>("silu", {{-14.0f, -11.0f}, {-92.0f, -85.0f}});
  sweep_op<actk::ops::Swish>("swish", {{-6.0f, -4.0f}});
  sweep_op<actk::ops::QuickGelu>("quick_gelu", {{-55.0f, -50.0f}, {-9.0f, -8.0f}});
  sweep_op<actk::ops::GeluTanh>("gelu_tanh", {{-11.0f, -9.5f}, {-5.0f, -4.0f}});
}
TEST(DeviceFloatMath, MishAndExponentialWithinBounds) {
  sweep_op<actk::ops::Mish>("mish", {{-8.0f, -6.0f}, {-14.0f, -13.0f}, {-90.0f, -85.0f}});
  sweep_op<actk::ops::Exponential>("exponential", {{-90.0f, -85.0f}, {85.0f, 89.0f}});
}
// tanhshrink forward (exp and arithmetic only; its backward takes tanhf): every float in [2^-12, 4],
// where the continued fraction and the exp form meet at 2, and every 4099th float elsewhere
TEST(DeviceFloatMath, TanhshrinkForwardWithinBounds) {
  const P<float> pf = P<float>::make(0, 0);
  const P<double> pd = P<double>::make(0, 0);
  Worst w;
  for (std::uint64_t b = 0; b < (std::uint64_t{1} << 32); b += 4099)
    check<actk::ops::Tanhshrink, Dir::forward>(w, from_bits(static_cast<std::uint32_t>(b)), 4, {}, pf, pd);
  for (float x = 0x1p-12f; x < 4.0f; x = std::nextafter(x, 4.0f)) {
    check<actk::ops::Tanhshrink, Dir::forward>(w, x, 4, {}, pf, pd);
    check<actk::ops::Tanhshrink, Dir::forward>(w, -x, 4, {}, pf, pd);
  }
  EXPECT_EQ(w.over, 0) << "tanhshrink forward: max " << w.ulp << " ulp at x = " << w.x;
  std::printf("tanhshrink  forward max %.0f ulp (x = %.9g)\n", w.ulp, static_cast<double>(w.x));
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(actk::ops::Tanhshrink::forward(inf, pf), inf);
  EXPECT_EQ(actk::ops::Tanhshrink::forward(-inf, pf), -inf);
  EXPECT_TRUE(std::isnan(actk::ops::Tanhshrink::forward(std::numeric_limits<float>::quiet_NaN(), pf)));
  EXPECT_TRUE(std::signbit(actk::ops::Tanhshrink::forward(-0.0f, pf)));
}
// gelu below 0, where its float path is exp and arithmetic only (at and above 0 it takes erfcf,
// whose result is in [1, 2) there): every float of [-16, -0.25], every 61st between -0.25 and 0
// (subnormals included)
TEST(DeviceFloatMath, GeluNegativeWithinBounds) {
  const P<float> pf = P<float>::make(0, 0);
  const P<double> pd = P<double>::make(0, 0);
  Worst w;
  for (std::uint32_t b = 0x3e800000u; b <= 0x41800000u; ++b)  // |x| in [0.25, 16]
    check<actk::ops::Gelu, Dir::forward>(w, -from_bits(b), 4, {}, pf, pd);
  for (std::uint32_t b = 1; b < 0x3e800000u; b += 61) check<actk::ops::Gelu, Dir::forward>(w, -from_bits(b), 4, {}, pf, pd);
  EXPECT_EQ(w.over, 0) << "gelu forward: max " << w.ulp << " ulp at x = " << w.x;
  std::printf("gelu        forward max %.0f ulp below 0 (x = %.9g)\n", w.ulp, static_cast<double>(w.x));
  EXPECT_EQ(actk::ops::Gelu::forward(-std::numeric_limits<float>::infinity(), pf), 0.0f);
  EXPECT_TRUE(std::signbit(actk::ops::Gelu::forward(-std::numeric_limits<float>::infinity(), pf)));
}

}  // namespace
