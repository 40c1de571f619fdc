// tests/test_cross_entropy.cpp: cross-entropy on the CPU reference path: closed forms (uniform
// logits, a huge margin, label smoothing's optimum), an independent long-double reference of
// PyTorch's definition (weights, smoothing, ignore_index, every reduction), z-loss and the soft
// cap, the backward against finite differences in double, in place, the 16-bit dtypes (the double
// result rounded once), non-finite logits, and the API's validation through C++ and the C ABI.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "actk/actk_c.h"
#include "common.h"

namespace {

using namespace actk_test;
using actk::Backend;
using actk::CrossEntropyOptions;
using actk::DType;
using actk::Error;
using actk::IndexType;
using actk::Reduction;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// PyTorch's definition, written out independently in long double: per row
///   (1 - eps) w_t (-log p_t) + (eps / V) sum_j w_j (-log p_j) + z lse^2, with the cap first;
/// mean divides by sum of w_t over the counted rows.
std::vector<long double> naive(const std::vector<double>& x, const std::vector<std::int64_t>& t, std::int64_t V,
                               const CrossEntropyOptions& o, const std::vector<double>* w) {
  const std::int64_t rows = static_cast<std::int64_t>(t.size());
  std::vector<long double> per(static_cast<std::size_t>(rows), 0.0L);
  long double D = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    if (t[r] == o.ignore_index) continue;
    std::vector<long double> z(static_cast<std::size_t>(V));
    long double m = -INFINITY;
    for (std::int64_t j = 0; j < V; ++j) {
      const long double v = x[static_cast<std::size_t>(r * V + j)];
      z[j] = o.softcap > 0 ? o.softcap * std::tanh(v / o.softcap) : v;
      m = std::max(m, z[j]);
    }
    long double s = 0;
    for (std::int64_t j = 0; j < V; ++j) s += std::exp(z[j] - m);
    const long double lse = m + std::log(s);
    auto wt = [&](std::int64_t j) -> long double { return w ? (*w)[static_cast<std::size_t>(j)] : 1.0L; };
    long double smooth = 0;
    for (std::int64_t j = 0; j < V; ++j) smooth += wt(j) * (lse - z[j]);
    per[r] = (1 - o.label_smoothing) * wt(t[r]) * (lse - z[t[r]]) + o.label_smoothing / static_cast<long double>(V) * smooth + o.z_loss * lse * lse;
    D += wt(t[r]);
  }
  if (o.reduction == Reduction::none) return per;
  long double total = 0;
  for (long double v : per) total += v;
  return {o.reduction == Reduction::mean ? total / D : total};
}

std::vector<double> forward64(const std::vector<double>& x, const std::vector<std::int64_t>& t, std::int64_t V,
                              const CrossEntropyOptions& o, std::vector<float>* lse = nullptr) {
  const std::int64_t rows = static_cast<std::int64_t>(t.size());
  std::vector<double> loss(o.reduction == Reduction::none ? t.size() : 1, -1.0);
  if (lse) lse->assign(t.size(), 0.f);
  actk::cross_entropy_forward(DType::float64, x.data(), IndexType::int64, t.data(), loss.data(), lse ? lse->data() : nullptr, rows,
                              V, o, Backend::cpu);
  return loss;
}

std::vector<double> random_logits(std::size_t n, std::uint64_t seed, double lo = -6, double hi = 6) {
  Rng rng(seed);
  std::vector<double> x(n);
  for (auto& v : x) v = rng.uniform(lo, hi);
  return x;
}

TEST(CrossEntropy, UniformLogitsGiveLogV) {
  for (std::int64_t V : {1, 2, 31, 1000}) {
    const std::vector<double> x(static_cast<std::size_t>(3 * V), 2.5);
    const std::vector<std::int64_t> t = {0, V - 1, V / 2};
    for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
      CrossEntropyOptions o;
      o.reduction = r;
      const auto loss = forward64(x, t, V, o);
      const double per = std::log(static_cast<double>(V));
      if (r == Reduction::none)
        for (double v : loss) EXPECT_NEAR(v, per, 1e-14) << V;
      else EXPECT_NEAR(loss[0], r == Reduction::sum ? 3 * per : per, 1e-13) << V;
    }
  }
}

TEST(CrossEntropy, HugeMarginGivesAlmostZero) {
  const std::int64_t V = 100;
  std::vector<double> x(static_cast<std::size_t>(V), -30.0);
  x[7] = 30.0;
  CrossEntropyOptions o;
  const double loss = forward64(x, {7}, V, o)[0];
  EXPECT_NEAR(loss, 99 * std::exp(-60.0), 1e-30);  // log(1 + 99 e^-60)
  EXPECT_GT(loss, 0.0);
  // the wrong class: the margin itself
  EXPECT_NEAR(forward64(x, {3}, V, o)[0], 60.0, 1e-12);
}

// With smoothing eps the loss is minimised where softmax = q (q_t = 1 - eps + eps/V, else eps/V):
// the loss there is the entropy of q and the gradient vanishes.
TEST(CrossEntropy, LabelSmoothingOptimum) {
  for (std::int64_t V : {2, 5, 1000})
    for (double eps : {0.1, 0.5, 1.0}) {
      const std::int64_t t = V - 1;
      std::vector<double> x(static_cast<std::size_t>(V));
      double H = 0;
      for (std::int64_t j = 0; j < V; ++j) {
        const double q = (j == t ? 1 - eps : 0.0) + eps / static_cast<double>(V);
        x[j] = std::log(q) + 0.75;  // any shift
        H -= q * std::log(q);
      }
      CrossEntropyOptions o;
      o.label_smoothing = eps;
      EXPECT_NEAR(forward64(x, {t}, V, o)[0], H, 1e-12 * (1 + H)) << "V " << V << " eps " << eps;
      std::vector<double> g(static_cast<std::size_t>(V));
      const double one = 1.0;
      actk::cross_entropy_backward(DType::float64, x.data(), IndexType::int64, &t, &one, nullptr, g.data(), 1, V, o, Backend::cpu);
      for (double v : g) EXPECT_NEAR(v, 0.0, 1e-14) << "V " << V << " eps " << eps;
    }
}

TEST(CrossEntropy, MatchesPyTorchsDefinition) {
  const std::int64_t V = 37, rows = 9;
  const auto x = random_logits(static_cast<std::size_t>(rows * V), 11);
  const std::vector<std::int64_t> t = {0, 36, -100, 5, 5, 17, -100, 2, 30};
  Rng rng(3);
  std::vector<double> w(static_cast<std::size_t>(V));
  for (auto& v : w) v = rng.uniform(0.1, 2.0);
  for (bool weighted : {false, true})
    for (double eps : {0.0, 0.2})
      for (double zl : {0.0, 1e-3})
        for (double cap : {0.0, 4.0})
          for (Reduction r : {Reduction::none, Reduction::sum, Reduction::mean}) {
            CrossEntropyOptions o;
            o.reduction = r;
            o.label_smoothing = eps;
            o.z_loss = zl;
            o.softcap = cap;
            o.weight = weighted ? w.data() : nullptr;
            const auto got = forward64(x, t, V, o);
            const auto ref = naive(x, t, V, o, weighted ? &w : nullptr);
            ASSERT_EQ(got.size(), ref.size());
            for (std::size_t i = 0; i < got.size(); ++i)
              EXPECT_NEAR(got[i], static_cast<double>(ref[i]), 1e-13 * (1 + std::fabs(static_cast<double>(ref[i]))))
                  << "weighted " << weighted << " eps " << eps << " z " << zl << " cap " << cap << " reduction "
                  << static_cast<int>(r) << " i " << i;
            if (r == Reduction::none) {
              EXPECT_EQ(got[2], 0.0);  // ignored rows: 0
              EXPECT_EQ(got[6], 0.0);
            }
          }
}

// The backward against central differences of the forward's scalar (sum of dloss_i * loss_i), in
// double, with every option on.
TEST(CrossEntropy, BackwardMatchesFiniteDifferences) {
  const std::int64_t V = 13, rows = 4;
  const auto x = random_logits(static_cast<std::size_t>(rows * V), 21, -3, 3);
  const std::vector<std::int64_t> t = {3, -1, 12, 0};
  Rng rng(8);
  std::vector<double> w(static_cast<std::size_t>(V));
  for (auto& v : w) v = rng.uniform(0.5, 1.5);
  for (Reduction r : {Reduction::none, Reduction::sum, Reduction::mean})
    for (bool all : {false, true}) {
      CrossEntropyOptions o;
      o.reduction = r;
      o.ignore_index = -1;
      if (all) o.label_smoothing = 0.3, o.z_loss = 0.01, o.softcap = 5.0, o.weight = w.data();
      const std::vector<double> dloss = r == Reduction::none ? std::vector<double>{0.5, -2.0, 1.5, 0.25} : std::vector<double>{1.7};
      auto objective = [&](const std::vector<double>& xs) {
        const auto l = forward64(xs, t, V, o);
        double s = 0;
        for (std::size_t i = 0; i < l.size(); ++i) s += l[i] * dloss[i];
        return s;
      };
      std::vector<double> g(x.size());
      actk::cross_entropy_backward(DType::float64, x.data(), IndexType::int64, t.data(), dloss.data(), nullptr, g.data(), rows, V, o,
                                   Backend::cpu);
      for (std::size_t k = 0; k < x.size(); ++k) {
        std::vector<double> xp = x, xm = x;
        const double h = 1e-5;
        xp[k] += h;
        xm[k] -= h;
        const double fd = (objective(xp) - objective(xm)) / (2 * h);
        EXPECT_NEAR(g[k], fd, 1e-7 * (1 + std::fabs(fd))) << "reduction " << static_cast<int>(r) << " all " << all << " k " << k;
      }
      for (std::int64_t j = 0; j < V; ++j) EXPECT_EQ(g[static_cast<std::size_t>(V + j)], 0.0) << "the ignored row";
    }
}

TEST(CrossEntropy, IgnoredRowsAndEmptyCalls) {
  const std::int64_t V = 4;
  const std::vector<double> x = random_logits(8, 2);
  CrossEntropyOptions o;
  EXPECT_TRUE(std::isnan(forward64(x, {-100, -100}, V, o)[0])) << "mean over no row: NaN, as PyTorch";
  o.reduction = Reduction::sum;
  EXPECT_EQ(forward64(x, {-100, -100}, V, o)[0], 0.0);
  // rows = 0: sum 0, mean NaN, written; none writes nothing (null pointers allowed)
  double out = -1;
  actk::cross_entropy_forward(DType::float64, nullptr, IndexType::int32, nullptr, &out, nullptr, 0, V, o, Backend::cpu);
  EXPECT_EQ(out, 0.0);
  o.reduction = Reduction::mean;
  actk::cross_entropy_forward(DType::float64, nullptr, IndexType::int32, nullptr, &out, nullptr, 0, V, o, Backend::cpu);
  EXPECT_TRUE(std::isnan(out));
  o.reduction = Reduction::none;
  EXPECT_NO_THROW(actk::cross_entropy_forward(DType::float64, nullptr, IndexType::int32, nullptr, nullptr, nullptr, 0, V, o, Backend::cpu));
  EXPECT_NO_THROW(
      actk::cross_entropy_backward(DType::float64, nullptr, IndexType::int32, nullptr, nullptr, nullptr, nullptr, 0, V, o, Backend::cpu));
}

TEST(CrossEntropy, NonFiniteLogits) {
  const std::int64_t V = 3;
  CrossEntropyOptions o;
  o.reduction = Reduction::none;
  const auto l = forward64({0.0, kNaN, 1.0, /**/ 0.0, -kInf, 1.0, /**/ -kInf, 0.0, 1.0, /**/ 0.0, kInf, 1.0}, {0, 0, 0, 0}, V, o);
  EXPECT_TRUE(std::isnan(l[0])) << "a NaN logit: NaN";
  EXPECT_NEAR(l[1], std::log(1 + std::exp(1.0)), 1e-15) << "a -inf logit elsewhere counts for nothing";
  EXPECT_EQ(l[2], kInf) << "the target at -inf";
  EXPECT_TRUE(std::isnan(l[3])) << "+inf: NaN, as log_softmax";
  o.label_smoothing = 0.1;  // a -inf logit in the smoothing sum: +inf, as PyTorch
  EXPECT_EQ(forward64({0.0, -kInf, 1.0}, {0}, V, o)[0], kInf);
}

TEST(CrossEntropy, InPlaceAnd32BitTargetsGiveTheSameBits) {
  const std::int64_t V = 50, rows = 6;
  const auto x = random_logits(static_cast<std::size_t>(rows * V), 5);
  const std::vector<std::int64_t> t64 = {1, 49, 0, -100, 25, 7};
  const std::vector<std::int32_t> t32(t64.begin(), t64.end());
  CrossEntropyOptions o;
  o.label_smoothing = 0.1;
  const double dl = 1.0;
  std::vector<double> g(x.size()), inplace = x;
  actk::cross_entropy_backward(DType::float64, x.data(), IndexType::int64, t64.data(), &dl, nullptr, g.data(), rows, V, o,
                               Backend::cpu);
  actk::cross_entropy_backward(DType::float64, inplace.data(), IndexType::int32, t32.data(), &dl, nullptr, inplace.data(), rows, V,
                               o, Backend::cpu);
  EXPECT_EQ(std::memcmp(g.data(), inplace.data(), g.size() * sizeof(double)), 0);
  double a = 0, b = 0;
  actk::cross_entropy_forward(DType::float64, x.data(), IndexType::int64, t64.data(), &a, nullptr, rows, V, o, Backend::cpu);
  actk::cross_entropy_forward(DType::float64, x.data(), IndexType::int32, t32.data(), &b, nullptr, rows, V, o, Backend::cpu);
  EXPECT_EQ(a, b);
}

// The 16-bit dtypes and float32 compute in double and round once: the float64 result of the same
// (representable) logits, rounded.
template <class S> void rounded_once() {
  const DType dt = actk::dtype_of<S>::value;
  const std::int64_t V = 300, rows = 5;
  const auto x64 = random_logits(static_cast<std::size_t>(rows * V), 9);
  std::vector<S> x(x64.size());
  std::vector<double> xr(x64.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = to<S>(x64[i]), xr[i] = static_cast<double>(x[i]);
  const std::vector<std::int64_t> t = {0, 299, 150, -100, 3};
  CrossEntropyOptions o;
  o.reduction = Reduction::none;
  o.label_smoothing = 0.05;
  std::vector<S> loss(t.size());
  std::vector<float> lse(t.size()), lse_ref;
  actk::cross_entropy_forward(dt, x.data(), IndexType::int64, t.data(), loss.data(), lse.data(), rows, V, o, Backend::cpu);
  const auto ref = forward64(xr, t, V, o, &lse_ref);
  for (std::size_t i = 0; i < t.size(); ++i) {
    const S want = to<S>(ref[i]);
    EXPECT_EQ(std::memcmp(&loss[i], &want, sizeof(S)), 0) << actk::dtype_name(dt) << " row " << i;
    EXPECT_EQ(lse[i], lse_ref[i]);
  }
  const std::vector<S> dl(t.size(), to<S>(0.5));
  std::vector<S> g(x.size());
  std::vector<double> g64(x.size());
  const std::vector<double> dl64(t.size(), 0.5);
  actk::cross_entropy_backward(dt, x.data(), IndexType::int64, t.data(), dl.data(), nullptr, g.data(), rows, V, o, Backend::cpu);
  actk::cross_entropy_backward(DType::float64, xr.data(), IndexType::int64, t.data(), dl64.data(), nullptr, g64.data(), rows, V, o,
                               Backend::cpu);
  for (std::size_t i = 0; i < g.size(); ++i) {
    const S want = to<S>(g64[i]);
    ASSERT_EQ(std::memcmp(&g[i], &want, sizeof(S)), 0) << actk::dtype_name(dt) << " i " << i;
  }
}
TEST(CrossEntropy, EveryDtypeRoundsTheDoubleResultOnce) {
  rounded_once<float>();
  rounded_once<actk::bfloat16>();
  rounded_once<actk::float16>();
}

TEST(CrossEntropy, RefusesBadArguments) {
  constexpr std::int64_t V = 4;
  std::vector<double> x(8, 0.5), g(8);
  std::vector<std::int64_t> t = {1, 2};
  double loss = -7;
  float lse[2];
  CrossEntropyOptions o;
  auto fwd = [&](const CrossEntropyOptions& oo, std::int64_t rows = 2, std::int64_t vocab = 4) {
    actk::cross_entropy_forward(DType::float64, x.data(), IndexType::int64, t.data(), &loss, nullptr, rows, vocab, oo, Backend::cpu);
  };
  auto expect_refused = [&](auto&& f, const char* what) {
    try {
      f();
      ADD_FAILURE() << "accepted: " << what;
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), actk::Status::invalid_argument) << what;
      EXPECT_NE(std::string(e.what()).find("cross_entropy"), std::string::npos) << e.what();
    }
  };
  t = {1, 4};
  expect_refused([&] { fwd(o); }, "a target = vocab");
  EXPECT_EQ(loss, -7) << "a refused call writes nothing";
  t = {-2, 0};
  expect_refused([&] { fwd(o); }, "a negative target other than ignore_index");
  t = {1, 2};
  expect_refused([&] { fwd(o, 2, 0); }, "vocab 0");
  expect_refused([&] { fwd(o, -1); }, "negative rows");
  CrossEntropyOptions bad = o;
  bad.label_smoothing = 1.5;
  expect_refused([&] { fwd(bad); }, "label_smoothing > 1");
  bad = o;
  bad.z_loss = -1;
  expect_refused([&] { fwd(bad); }, "negative z_loss");
  bad = o;
  bad.softcap = kNaN;
  expect_refused([&] { fwd(bad); }, "NaN softcap");
  bad = o;
  bad.reduction = static_cast<Reduction>(7);
  expect_refused([&] { fwd(bad); }, "unknown reduction");
  expect_refused([&] { actk::cross_entropy_forward(DType::float64, x.data(), static_cast<IndexType>(3), t.data(), &loss, nullptr, 2, V, o, Backend::cpu); },
                 "unknown target type");
  expect_refused([&] { actk::cross_entropy_forward(DType::float64, x.data(), IndexType::int64, t.data(), nullptr, nullptr, 2, V, o, Backend::cpu); },
                 "null loss");
  expect_refused([&] { actk::cross_entropy_forward(DType::float64, x.data(), IndexType::int64, t.data(), &loss, reinterpret_cast<float*>(x.data()), 2, V, o, Backend::cpu); },
                 "lse over the logits");
  expect_refused([&] { actk::cross_entropy_forward(DType::float64, x.data(), IndexType::int64, t.data(), x.data() + 1, lse, 2, V, o, Backend::cpu); },
                 "the loss over the logits");
  const double dl = 1;
  expect_refused([&] { actk::cross_entropy_backward(DType::float64, x.data(), IndexType::int64, t.data(), &dl, nullptr, x.data() + 1, 2, V, o, Backend::cpu); },
                 "dlogits partly over the logits");
  expect_refused([&] { actk::cross_entropy_backward(DType::float64, x.data(), IndexType::int64, t.data(), nullptr, nullptr, g.data(), 2, V, o, Backend::cpu); },
                 "null dloss");
  {  // dlogits may be the logits, but not another input of the same length (one row: the weights)
    std::vector<double> w(4, 1.0);
    CrossEntropyOptions ow = o;
    ow.weight = w.data();
    expect_refused([&] { actk::cross_entropy_backward(DType::float64, x.data(), IndexType::int64, t.data(), &dl, nullptr, w.data(), 1, V, ow, Backend::cpu); },
                   "dlogits over the weights");
    EXPECT_EQ(w[0], 1.0);
  }
}

TEST(CrossEntropy, TheCAbi) {
  const actk_cross_entropy_options d = actk_cross_entropy_default_options();
  EXPECT_EQ(d.reduction, ACTK_REDUCTION_MEAN);
  EXPECT_EQ(d.ignore_index, -100);
  EXPECT_EQ(d.label_smoothing, 0.0);
  EXPECT_EQ(d.weight, nullptr);
  const std::vector<float> x = {1, 2, 3, 4, 0, 0, 0, 0};
  const std::int32_t t[2] = {3, 0};
  float loss = 0, loss_null = 0;
  ASSERT_EQ(actk_cross_entropy_forward(ACTK_FLOAT32, x.data(), ACTK_INT32, t, &loss, nullptr, 2, 4, &d, ACTK_BACKEND_CPU, nullptr), ACTK_OK);
  ASSERT_EQ(actk_cross_entropy_forward(ACTK_FLOAT32, x.data(), ACTK_INT32, t, &loss_null, nullptr, 2, 4, nullptr, ACTK_BACKEND_CPU, nullptr),
            ACTK_OK);
  const double l0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0) + std::exp(4.0)) - 4.0, l1 = std::log(4.0);
  EXPECT_FLOAT_EQ(loss, static_cast<float>((l0 + l1) / 2));
  EXPECT_EQ(loss, loss_null);
  const std::int32_t bad[2] = {4, 0};
  EXPECT_EQ(actk_cross_entropy_forward(ACTK_FLOAT32, x.data(), ACTK_INT32, bad, &loss, nullptr, 2, 4, &d, ACTK_BACKEND_CPU, nullptr),
            ACTK_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(actk_last_error()).find("targets[0] = 4"), std::string::npos) << actk_last_error();
  std::vector<float> g(8);
  const float dl = 1;
  ASSERT_EQ(actk_cross_entropy_backward(ACTK_FLOAT32, x.data(), ACTK_INT32, t, &dl, nullptr, g.data(), 2, 4, nullptr, ACTK_BACKEND_CPU,
                                        nullptr),
            ACTK_OK);
  EXPECT_NEAR(g[4], 0.5 * (0.25 - 1.0), 1e-7);  // mean over 2 rows: (p - 1) / 2 at the target
}

}  // namespace
