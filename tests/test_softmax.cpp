// tests/test_softmax.cpp: softmax and log-softmax on the CPU reference path: closed forms,
// invariances, extreme logits, masks, the NaN/-inf semantics, both layouts, every dtype, the
// backward against finite differences in double, and the API's validation.
#include <gtest/gtest.h>

#include <cmath>

#include "actk/actk_c.h"
#include "common.h"

namespace {

using namespace actk_test;
using actk::Backend;
using actk::DType;
using actk::Error;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> sm(const std::vector<double>& x, bool log = false, unsigned extra = 0) {
  std::vector<double> y(x.size());
  actk::softmax_forward(DType::float64, x.data(), y.data(), 1, static_cast<std::int64_t>(x.size()), 1,
                        (log ? actk::softmax_log : 0u) | extra);
  return y;
}

TEST(Softmax, ClosedForms) {
  // uniform rows
  for (int n : {1, 2, 7, 1000}) {
    const std::vector<double> y = sm(std::vector<double>(n, 3.25)), ly = sm(std::vector<double>(n, -7.0), true);
    for (int i = 0; i < n; ++i) {
      EXPECT_NEAR(y[i], 1.0 / n, 1e-16) << n;
      EXPECT_NEAR(ly[i], -std::log(static_cast<double>(n)), 1e-14) << n;
    }
  }
  // rows of length 1 give 1 (log: 0) whatever the finite value
  for (double v : {-1e300, -3.0, 0.0, 5e200}) {
    EXPECT_EQ(sm({v})[0], 1.0);
    EXPECT_EQ(sm({v}, true)[0], 0.0);
  }
  // two elements: sigmoid of the difference
  for (double a : {-30.0, -2.0, 0.5, 17.0}) {
    const std::vector<double> y = sm({a, 0.25});
    EXPECT_NEAR(y[0], 1.0 / (1.0 + std::exp(0.25 - a)), 1e-16);
    EXPECT_NEAR(y[1], 1.0 / (1.0 + std::exp(a - 0.25)), 1e-16);
  }
  // one-hot-ish: a large logit takes everything, the rest are e^-L
  const std::vector<double> y = sm({40.0, 0.0, 0.0});
  EXPECT_NEAR(y[1], std::exp(-40.0), 1e-30);
  EXPECT_NEAR(y[0], 1.0, 1e-16);
}

TEST(Softmax, LogSoftmaxNearZeroKeepsRelativeAccuracy) {
  // a dominant logit: log-softmax of it is -log1p(sum of the others' e^(x - m)), about -2e-13 here;
  // log of a double sum ~ 1 + 2e-13 would be off by ~1e-16 absolute, 5e-4 relative
  for (int others : {1, 2, 999}) {
    std::vector<double> x(static_cast<std::size_t>(others) + 1, -30.0);
    x[0] = 0.0;
    const std::vector<double> ly = sm(x, true);
    const double rel = (others + 3) * 0x1p-53;  // a sum of `others` rounded terms, then log1p
    const long double rest = static_cast<long double>(others) * std::exp(-30.0L);
    const double want0 = static_cast<double>(-std::log1p(rest));
    EXPECT_NEAR(ly[0], want0, rel * std::fabs(want0)) << others;
    const double want1 = static_cast<double>(-30.0L - std::log1p(rest));
    EXPECT_NEAR(ly[1], want1, rel * std::fabs(want1)) << others;
    // float32 and bfloat16 outputs: the double result rounded once (exactly the rounded reference)
    std::vector<float> xf(x.begin(), x.end()), yf(x.size());
    actk::softmax_forward(DType::float32, xf.data(), yf.data(), 1, static_cast<std::int64_t>(x.size()), 1, actk::softmax_log);
    EXPECT_EQ(yf[0], static_cast<float>(want0)) << others;
    // ties at the max: two dominant logits give log(2) - tiny
    x[1] = 0.0;
    const std::vector<double> lt = sm(x, true);
    const double want_tie = static_cast<double>(-std::log1p(1.0L + static_cast<long double>(others - 1) * std::exp(-30.0L)));
    EXPECT_NEAR(lt[0], want_tie, rel * std::fabs(want_tie)) << others;
    EXPECT_EQ(lt[0], lt[1]);
  }
}

TEST(Softmax, ShiftInvarianceAndSumToOne) {
  Rng rng(1);
  std::vector<float> x(4097), xs(4097), y(4097), ys(4097);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<float>(std::round(rng.uniform(-20, 20) * 64) / 64);  // exact after the shift below
    xs[i] = x[i] + 1024.0f;
  }
  actk::softmax_forward(DType::float32, x.data(), y.data(), 1, 4097);
  actk::softmax_forward(DType::float32, xs.data(), ys.data(), 1, 4097);
  EXPECT_EQ(y, ys);
  double s = 0;
  for (float v : y) s += v;
  EXPECT_NEAR(s, 1.0, 4097 * 0x1p-24);
}

TEST(Softmax, ExtremeLogitsMasksAndNanRows) {
  EXPECT_EQ(sm({3e38, -3e38})[0], 1.0);
  EXPECT_EQ(sm({3e38, -3e38})[1], 0.0);
  EXPECT_EQ(sm({1e30, 1e30})[0], 0.5);
  EXPECT_EQ(sm({-1e30, -1e30, -1e30})[2], 1.0 / 3);
  EXPECT_EQ(sm({-1e308, 1e308}, true)[0], -kInf);  // log-softmax: -1e308 - 1e308 overflows to -inf
  // -inf entries are masked out
  std::vector<double> y = sm({-kInf, 1.0, -kInf, 1.0});
  EXPECT_EQ(y[0], 0.0);
  EXPECT_EQ(y[1], 0.5);
  y = sm({-kInf, 1.0, 1.0}, true);
  EXPECT_EQ(y[0], -kInf);
  EXPECT_NEAR(y[1], -std::log(2.0), 1e-16);
  // far below the max: e^(z - max) subnormal (-720, -745) or 0 (-746, -1e9, -inf), each exactly
  y = sm({0.0, -720.0, -745.0, -746.0, -1e9, -kInf});
  EXPECT_EQ(y[0], 1.0);
  EXPECT_EQ(y[1], std::exp(-720.0));
  EXPECT_GT(y[1], 0.0);
  EXPECT_EQ(y[2], std::exp(-745.0));
  EXPECT_EQ(y[3], 0.0);
  EXPECT_EQ(y[4], 0.0);
  EXPECT_EQ(y[5], 0.0);
  y = sm({0.0, -1e9, -kInf, -746.0}, true);  // log: others sum to 0, the max is exactly 0
  EXPECT_EQ(y[0], 0.0);
  EXPECT_EQ(y[1], -1e9);
  EXPECT_EQ(y[2], -kInf);
  EXPECT_EQ(y[3], -746.0);
  // all -inf: NaN (PyTorch), or zeros / -inf with the flag
  for (double v : sm({-kInf, -kInf})) EXPECT_TRUE(std::isnan(v));
  for (double v : sm({-kInf, -kInf}, false, actk::softmax_masked_rows_zero)) EXPECT_EQ(v, 0.0);
  for (double v : sm({-kInf, -kInf}, true, actk::softmax_masked_rows_zero)) EXPECT_EQ(v, -kInf);
  // +inf or NaN anywhere: the whole row is NaN
  for (double v : sm({1.0, kInf, 2.0})) EXPECT_TRUE(std::isnan(v));
  for (double v : sm({1.0, kNaN, 2.0}, true)) EXPECT_TRUE(std::isnan(v));
  for (double v : sm({-kInf, kNaN}, false, actk::softmax_masked_rows_zero)) EXPECT_TRUE(std::isnan(v));
}

TEST(Softmax, MaskedRowsHaveZeroGradientWithTheFlag) {
  for (bool log : {false, true}) {
    const unsigned f = (log ? actk::softmax_log : 0u) | actk::softmax_masked_rows_zero;
    const std::vector<double> x = {-kInf, -kInf, -kInf, 1.0, 2.0, -kInf};  // row 0 masked, row 1 not
    std::vector<double> y(6), dy = {1, 2, 3, 4, 5, 6}, dx(6);
    actk::softmax_forward(DType::float64, x.data(), y.data(), 2, 3, 1, f);
    actk::softmax_backward(DType::float64, y.data(), dy.data(), dx.data(), 2, 3, 1, f);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(dx[i], 0.0) << log;
    EXPECT_TRUE(std::isfinite(dx[3]) && dx[3] != 0.0) << log;
  }
}

/// g(x) = sum_k w_k * softmax(x)_k (or log-softmax): its gradient is the backward with dy = w.
TEST(Softmax, BackwardMatchesFiniteDifferences) {
  Rng rng(7);
  for (bool log : {false, true})
    for (int n : {1, 2, 5, 33}) {
      std::vector<double> x(n), w(n), y(n), dx(n);
      for (int i = 0; i < n; ++i) x[i] = rng.uniform(-3, 3), w[i] = rng.uniform(-1, 1);
      const unsigned f = log ? actk::softmax_log : 0u;
      actk::softmax_forward(DType::float64, x.data(), y.data(), 1, n, 1, f);
      actk::softmax_backward(DType::float64, y.data(), w.data(), dx.data(), 1, n, 1, f);
      auto g = [&](std::vector<double> v) {
        std::vector<double> o(n);
        actk::softmax_forward(DType::float64, v.data(), o.data(), 1, n, 1, f);
        double s = 0;
        for (int i = 0; i < n; ++i) s += w[i] * o[i];
        return s;
      };
      for (int i = 0; i < n; ++i) {
        std::vector<double> a = x, b = x;
        a[i] += 1e-6;
        b[i] -= 1e-6;
        EXPECT_NEAR(dx[i], (g(a) - g(b)) / 2e-6, 1e-8) << "log " << log << " n " << n << " i " << i;
      }
    }
}

/// The middle-axis layout [outer, axis, inner] equals the last-axis layout on transposed data.
TEST(Softmax, MiddleAxisEqualsLastAxisOfTheTranspose) {
  const std::int64_t O = 3, A = 37, I = 5;
  Rng rng(3);
  std::vector<float> x(O * A * I), xt(O * A * I), y(O * A * I), yt(O * A * I), dy(O * A * I), dyt(O * A * I), dx(O * A * I),
      dxt(O * A * I);
  for (std::int64_t o = 0; o < O; ++o)
    for (std::int64_t a = 0; a < A; ++a)
      for (std::int64_t i = 0; i < I; ++i) {
        const float v = static_cast<float>(rng.uniform(-5, 5)), g = static_cast<float>(rng.uniform(-1, 1));
        x[(o * A + a) * I + i] = v, xt[(o * I + i) * A + a] = v;
        dy[(o * A + a) * I + i] = g, dyt[(o * I + i) * A + a] = g;
      }
  for (unsigned f : {0u, static_cast<unsigned>(actk::softmax_log)}) {
    actk::softmax_forward(DType::float32, x.data(), y.data(), O, A, I, f);
    actk::softmax_forward(DType::float32, xt.data(), yt.data(), O * I, A, 1, f);
    actk::softmax_backward(DType::float32, y.data(), dy.data(), dx.data(), O, A, I, f);
    actk::softmax_backward(DType::float32, yt.data(), dyt.data(), dxt.data(), O * I, A, 1, f);
    for (std::int64_t o = 0; o < O; ++o)
      for (std::int64_t a = 0; a < A; ++a)
        for (std::int64_t i = 0; i < I; ++i) {
          ASSERT_EQ(y[(o * A + a) * I + i], yt[(o * I + i) * A + a]);
          ASSERT_EQ(dx[(o * A + a) * I + i], dxt[(o * I + i) * A + a]);
        }
  }
}

/// Every dtype is the double result rounded once; in place equals out of place.
template <class S> void dtype_case() {
  const std::int64_t rows = 7, cols = 1000;
  Rng rng(11);
  std::vector<S> x(rows * cols), y(rows * cols), dy(rows * cols), dx(rows * cols);
  std::vector<double> xd(rows * cols), yd(rows * cols), dyd(rows * cols), dxd(rows * cols);
  for (std::size_t i = 0; i < x.size(); ++i) {
    if constexpr (std::is_same_v<S, float16> || std::is_same_v<S, bfloat16>) x[i] = S(rng.uniform(-8, 8)), dy[i] = S(rng.uniform(-1, 1));
    else x[i] = static_cast<S>(rng.uniform(-8, 8)), dy[i] = static_cast<S>(rng.uniform(-1, 1));
    xd[i] = static_cast<double>(x[i]);
    dyd[i] = static_cast<double>(dy[i]);
  }
  for (unsigned f : {0u, static_cast<unsigned>(actk::softmax_log)}) {
    const DType dt = actk::dtype_of<S>::value;
    actk::softmax_forward(dt, x.data(), y.data(), rows, cols, 1, f);
    actk::softmax_forward(DType::float64, xd.data(), yd.data(), rows, cols, 1, f);
    for (std::size_t i = 0; i < y.size(); ++i) {
      S r;
      if constexpr (std::is_same_v<S, float16> || std::is_same_v<S, bfloat16>) r = S(yd[i]);
      else r = static_cast<S>(yd[i]);
      ASSERT_EQ(std::memcmp(&r, &y[i], sizeof(S)), 0) << i;
    }
    // backward from the rounded y: compare with double math on the same (widened) y
    std::vector<double> yw(y.size());
    for (std::size_t i = 0; i < y.size(); ++i) yw[i] = static_cast<double>(y[i]);
    actk::softmax_backward(dt, y.data(), dy.data(), dx.data(), rows, cols, 1, f);
    actk::softmax_backward(DType::float64, yw.data(), dyd.data(), dxd.data(), rows, cols, 1, f);
    for (std::size_t i = 0; i < dx.size(); ++i) {
      S r;
      if constexpr (std::is_same_v<S, float16> || std::is_same_v<S, bfloat16>) r = S(dxd[i]);
      else r = static_cast<S>(dxd[i]);
      ASSERT_EQ(std::memcmp(&r, &dx[i], sizeof(S)), 0) << i;
    }
    std::vector<S> inplace = x;
    actk::softmax_forward(dt, inplace.data(), inplace.data(), rows, cols, 1, f);
    ASSERT_EQ(std::memcmp(inplace.data(), y.data(), y.size() * sizeof(S)), 0);
    std::vector<S> g = dy;
    actk::softmax_backward(dt, y.data(), g.data(), g.data(), rows, cols, 1, f);
    ASSERT_EQ(std::memcmp(g.data(), dx.data(), dx.size() * sizeof(S)), 0);
  }
}
TEST(Softmax, EveryDtypeRoundsTheDoubleResultOnce) {
  dtype_case<float>();
  dtype_case<float16>();
  dtype_case<bfloat16>();
}

TEST(Softmax, ValidationAndTheCAbi) {
  std::vector<float> x(12, 1.0f), y(12, -5.0f);
  EXPECT_THROW(actk::softmax_forward(DType::float32, x.data(), y.data(), -1, 3), Error);
  EXPECT_THROW(actk::softmax_forward(DType::float32, nullptr, y.data(), 4, 3), Error);
  EXPECT_THROW(actk::softmax_forward(DType::float32, x.data(), y.data(), 4, 3, 1, 8u), Error);  // unknown flag
  EXPECT_THROW(actk::softmax_forward(DType::float32, x.data(), x.data() + 1, 2, 3), Error);    // partial overlap
  EXPECT_THROW(actk::softmax_forward(DType::float32, x.data(), y.data(), INT64_MAX / 2, 3), Error);
  EXPECT_NO_THROW(actk::softmax_forward(DType::float32, nullptr, nullptr, 0, 3));  // empty: no-op
  EXPECT_NO_THROW(actk::softmax_forward(DType::float32, nullptr, nullptr, 5, 0));
  for (float v : y) EXPECT_EQ(v, -5.0f) << "an erroring call wrote its output";
  EXPECT_EQ(actk_softmax_forward(ACTK_FLOAT32, x.data(), y.data(), 4, 3, 1, ACTK_SOFTMAX_LOG, ACTK_BACKEND_CPU, nullptr), ACTK_OK);
  EXPECT_NEAR(y[0], -std::log(3.0), 1e-6);
  EXPECT_EQ(actk_softmax_backward(ACTK_FLOAT32, y.data(), x.data(), y.data(), 4, 3, 1, 0, ACTK_BACKEND_CUDA, nullptr),
            actk::cuda_available() ? ACTK_ERROR_INVALID_ARGUMENT : ACTK_ERROR_UNSUPPORTED);
  EXPECT_NE(std::string(actk_last_error()).find("softmax_backward"), std::string::npos);
}

}  // namespace
