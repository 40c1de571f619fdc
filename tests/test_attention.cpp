// tests/test_attention.cpp: attention-style softmax (softmax(scale x + mask) over [batch, heads,
// q, k]) on the CPU reference path: an independent long-double reference over every mask kind and
// broadcast, causal offsets (top-left, bottom-right, rows fully masked), equality with
// softmax_forward where the two must agree, masked elements never read, fully masked rows under
// the flags, every dtype equal to the double result rounded once, the backward against finite
// differences and against the scaled softmax backward, in place, and validation (C++ and C ABI).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <limits>
#include <vector>

#include "actk/actk_c.h"
#include "common.h"

namespace {

using namespace actk_test;
using actk::AttentionSoftmaxOptions;
using actk::Backend;
using actk::DType;
using actk::Error;
using actk::MaskType;

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Shape {
  std::int64_t B, H, Q, K;
  std::int64_t n() const { return B * H * Q * K; }
};

/// softmax(scale x + mask) written out in long double from the definition: masked (keep mask 0,
/// or causal: j > i + offset) -> excluded; every other element e^(z - max) / sum.
std::vector<long double> naive(const std::vector<double>& x, const Shape& s, const AttentionSoftmaxOptions& o,
                               const std::vector<double>* add, const std::vector<unsigned char>* keep, bool log) {
  std::vector<long double> y(x.size());
  const std::int64_t mb = o.mask_batch == 0 ? s.B : o.mask_batch, mh = o.mask_heads == 0 ? s.H : o.mask_heads,
                     mq = o.mask_q == 0 ? s.Q : o.mask_q;
  for (std::int64_t b = 0; b < s.B; ++b)
    for (std::int64_t h = 0; h < s.H; ++h)
      for (std::int64_t i = 0; i < s.Q; ++i) {
        const std::int64_t row = ((b * s.H + h) * s.Q + i) * s.K;
        const std::int64_t mrow = (((mb == 1 ? 0 : b) * mh + (mh == 1 ? 0 : h)) * mq + (mq == 1 ? 0 : i)) * s.K;
        std::vector<long double> z(static_cast<std::size_t>(s.K));
        long double m = -INFINITY;
        for (std::int64_t j = 0; j < s.K; ++j) {
          const bool masked = (o.causal && j > i + o.causal_offset) || (keep && (*keep)[mrow + j] == 0);
          z[j] = masked ? -INFINITY : static_cast<long double>(o.scale) * x[row + j] + (add ? (*add)[mrow + j] : 0.0L);
          m = std::max(m, z[j]);
        }
        long double sum = 0;
        for (std::int64_t j = 0; j < s.K; ++j) sum += std::exp(z[j] - m);
        for (std::int64_t j = 0; j < s.K; ++j) y[row + j] = log ? z[j] - m - std::log(sum) : std::exp(z[j] - m) / sum;
      }
  return y;
}

std::vector<double> random(std::size_t n, std::uint64_t seed, double lo, double hi) {
  Rng rng(seed);
  std::vector<double> v(n);
  for (auto& e : v) e = rng.uniform(lo, hi);
  return v;
}

template <class S> std::vector<S> cast(const std::vector<double>& v) {
  std::vector<S> r(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) r[i] = to<S>(v[i]);
  return r;
}

TEST(Attention, MatchesTheDefinitionForEveryMaskAndCausalOffset) {
  const Shape s{2, 3, 5, 37};
  const auto x = random(static_cast<std::size_t>(s.n()), 1, -6, 6);
  struct Case {
    MaskType type;
    std::int64_t mb, mh, mq;
    bool causal;
    std::int64_t offset;
  };
  const Case cases[] = {
      {MaskType::none, 0, 0, 0, false, 0},      {MaskType::additive, 1, 0, 0, false, 0},  // over batch
      {MaskType::additive, 0, 0, 0, false, 0},  {MaskType::additive, 1, 1, 0, true, 0},   // [Q, K] + causal
      {MaskType::keep, 0, 1, 1, false, 0},      // key padding [B, 1, 1, K]
      {MaskType::keep, 2, 3, 5, true, 32},      {MaskType::none, 0, 0, 0, true, 0},       // top-left
      {MaskType::none, 0, 0, 0, true, 37 - 5},  // bottom-right
      {MaskType::none, 0, 0, 0, true, -3},      // rows 0..2 fully masked (flag below)
  };
  for (const Case& cs : cases)
    for (unsigned flags : {0u, unsigned(actk::softmax_log)}) {
      AttentionSoftmaxOptions o;
      o.scale = 0.37;
      o.mask_type = cs.type;
      o.mask_batch = cs.mb, o.mask_heads = cs.mh, o.mask_q = cs.mq;
      o.causal = cs.causal, o.causal_offset = cs.offset;
      o.flags = flags | actk::softmax_masked_rows_zero;
      const std::int64_t mcount = (cs.mb == 0 ? s.B : cs.mb) * (cs.mh == 0 ? s.H : cs.mh) * (cs.mq == 0 ? s.Q : cs.mq) * s.K;
      std::vector<double> add = random(static_cast<std::size_t>(mcount), 2, -3, 3);
      std::vector<unsigned char> keep(static_cast<std::size_t>(mcount));
      for (std::size_t i = 0; i < keep.size(); ++i) keep[i] = (i * 7 + 3) % 5 != 0 ? static_cast<unsigned char>(i % 3 + 1) : 0;
      for (std::size_t i = 0; i < add.size(); i += 11) add[i] = -kInf;
      if (cs.type == MaskType::additive) o.mask = add.data();
      if (cs.type == MaskType::keep) o.mask = keep.data();
      std::vector<double> y(x.size());
      actk::attention_softmax_forward(DType::float64, x.data(), y.data(), s.B, s.H, s.Q, s.K, o, Backend::cpu);
      const auto ref = naive(x, s, o, cs.type == MaskType::additive ? &add : nullptr,
                             cs.type == MaskType::keep ? &keep : nullptr, flags != 0);
      for (std::size_t i = 0; i < y.size(); ++i) {
        const long double r = ref[i];
        if (std::isnan(static_cast<double>(r))) {  // fully masked row: the flag gives 0 (log: -inf)
          ASSERT_EQ(y[i], flags ? -kInf : 0.0) << "element " << i;
          continue;
        }
        if (std::isinf(static_cast<double>(r))) {
          ASSERT_EQ(y[i], static_cast<double>(r)) << "element " << i;
          continue;
        }
        ASSERT_NEAR(y[i], static_cast<double>(r), 4e-15 * std::max(1.0, std::fabs(static_cast<double>(r))))
            << "mask " << int(cs.type) << " causal " << cs.causal << " offset " << cs.offset << " flags " << flags
            << " element " << i;
      }
    }
}

TEST(Attention, EqualsSoftmaxOfTheScaledMaskedInput) {
  // in double the z the call forms is the z a caller would form: the two calls agree bit for bit
  const Shape s{1, 2, 3, 300};
  const auto x = random(static_cast<std::size_t>(s.n()), 3, -20, 20);
  const auto mask = random(static_cast<std::size_t>(s.Q * s.K), 4, -5, 5);
  AttentionSoftmaxOptions o;
  o.scale = 0.125;
  o.mask_type = MaskType::additive;
  o.mask = mask.data();
  o.mask_batch = 1, o.mask_heads = 1;
  std::vector<double> z(x.size()), want(x.size()), got(x.size());
  for (std::int64_t r = 0; r < s.B * s.H * s.Q; ++r)
    for (std::int64_t j = 0; j < s.K; ++j) z[r * s.K + j] = 0.125 * x[r * s.K + j] + mask[(r % s.Q) * s.K + j];
  for (unsigned flags : {0u, unsigned(actk::softmax_log)}) {
    o.flags = flags;
    actk::softmax_forward(DType::float64, z.data(), want.data(), s.B * s.H * s.Q, s.K, 1, flags, Backend::cpu);
    actk::attention_softmax_forward(DType::float64, x.data(), got.data(), s.B, s.H, s.Q, s.K, o, Backend::cpu);
    ASSERT_EQ(0, std::memcmp(want.data(), got.data(), got.size() * sizeof(double))) << "flags " << flags;
  }
  // causal (the keys out of reach skipped, not summed as -inf: same bits), with a NaN in reach of
  // one row, rows fully masked (offset -1: row 0) and bottom-right alignment, float64 and float32
  o.mask_type = MaskType::none, o.mask = nullptr, o.scale = 1.0, o.causal = true;
  auto xn = x;
  xn[1 * s.K + 0] = std::numeric_limits<double>::quiet_NaN();  // row 1's first key: always in reach
  for (std::int64_t offset : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{7}, s.K - s.Q})
    for (unsigned flags : {0u, unsigned(actk::softmax_log), unsigned(actk::softmax_masked_rows_zero)}) {
      o.causal_offset = offset, o.flags = flags;
      for (std::int64_t r = 0; r < s.B * s.H * s.Q; ++r)
        for (std::int64_t j = 0; j < s.K; ++j) z[r * s.K + j] = j > r % s.Q + offset ? -kInf : xn[r * s.K + j];
      actk::softmax_forward(DType::float64, z.data(), want.data(), s.B * s.H * s.Q, s.K, 1, flags, Backend::cpu);
      actk::attention_softmax_forward(DType::float64, xn.data(), got.data(), s.B, s.H, s.Q, s.K, o, Backend::cpu);
      ASSERT_EQ(0, std::memcmp(want.data(), got.data(), got.size() * sizeof(double))) << "offset " << offset << " flags " << flags;
      const auto zf = cast<float>(z), xnf = cast<float>(xn);
      std::vector<float> wf(x.size()), gf(x.size());
      actk::softmax_forward(DType::float32, zf.data(), wf.data(), s.B * s.H * s.Q, s.K, 1, flags, Backend::cpu);
      actk::attention_softmax_forward(DType::float32, xnf.data(), gf.data(), s.B, s.H, s.Q, s.K, o, Backend::cpu);
      ASSERT_EQ(0, std::memcmp(wf.data(), gf.data(), gf.size() * sizeof(float))) << "float32 offset " << offset << " flags " << flags;
    }
  // no mask, scale 1: exactly softmax_forward, in every dtype
  const auto xf = cast<bfloat16>(x);
  std::vector<bfloat16> a(x.size()), b(x.size());
  actk::softmax_forward(DType::bfloat16, xf.data(), a.data(), s.B * s.H * s.Q, s.K, 1, 0, Backend::cpu);
  actk::attention_softmax_forward(DType::bfloat16, xf.data(), b.data(), s.B, s.H, s.Q, s.K, {}, Backend::cpu);
  ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(bfloat16)));
}

TEST(Attention, MaskedElementsAreNeverRead) {
  // NaN where causal or a zero keep byte masks: the rows stay finite (a NaN that was read would
  // poison its whole row)
  const Shape s{1, 1, 8, 8};
  std::vector<double> x = random(static_cast<std::size_t>(s.n()), 5, -2, 2);
  std::vector<unsigned char> keep(static_cast<std::size_t>(s.K), 1);
  keep[3] = 0;
  for (std::int64_t i = 0; i < s.Q; ++i) {
    x[i * s.K + 3] = std::nan("");
    for (std::int64_t j = i + 1; j < s.K; ++j) x[i * s.K + j] = std::nan("");
  }
  AttentionSoftmaxOptions o;
  o.causal = true;
  o.mask_type = MaskType::keep;
  o.mask = keep.data();
  o.mask_batch = o.mask_heads = o.mask_q = 1;
  std::vector<double> y(x.size());
  actk::attention_softmax_forward(DType::float64, x.data(), y.data(), s.B, s.H, s.Q, s.K, o, Backend::cpu);
  for (std::int64_t i = 0; i < s.Q; ++i) {
    double sum = 0;
    for (std::int64_t j = 0; j < s.K; ++j) {
      const double v = y[i * s.K + j];
      ASSERT_FALSE(std::isnan(v)) << "row " << i << " key " << j;
      if (j > i || j == 3) {
        ASSERT_EQ(v, 0.0) << "row " << i << " key " << j;
      }
      sum += v;
    }
    ASSERT_NEAR(sum, 1.0, 1e-15) << "row " << i;  // every row keeps at least key 0
  }
}

TEST(Attention, FullyMaskedRowsFollowTheFlag) {
  const Shape s{1, 1, 4, 6};
  const auto x = random(static_cast<std::size_t>(s.n()), 6, -2, 2);
  AttentionSoftmaxOptions o;
  o.causal = true;
  o.causal_offset = -2;  // rows 0 and 1 have no key j <= i - 2
  std::vector<double> y(x.size());
  actk::attention_softmax_forward(DType::float64, x.data(), y.data(), s.B, s.H, s.Q, s.K, o, Backend::cpu);
  for (std::int64_t j = 0; j < s.K; ++j) {
    EXPECT_TRUE(std::isnan(y[j])) << "row 0 unflagged is NaN (as softmax)";
    EXPECT_TRUE(std::isnan(y[s.K + j]));
  }
  EXPECT_EQ(y[2 * s.K], 1.0);  // row 2 keeps key 0 only
  o.flags = actk::softmax_masked_rows_zero | actk::softmax_log;
  actk::attention_softmax_forward(DType::float64, x.data(), y.data(), s.B, s.H, s.Q, s.K, o, Backend::cpu);
  for (std::int64_t j = 0; j < s.K; ++j) EXPECT_EQ(y[j], -kInf);
  EXPECT_EQ(y[2 * s.K], 0.0);
  // a NaN or +inf in an attended element: NaN row
  std::vector<double> x2 = x;
  x2[3 * s.K + 1] = kInf;
  o.flags = 0;
  actk::attention_softmax_forward(DType::float64, x2.data(), y.data(), s.B, s.H, s.Q, s.K, o, Backend::cpu);
  for (std::int64_t j = 0; j < s.K; ++j) EXPECT_TRUE(std::isnan(y[3 * s.K + j]));
  EXPECT_FALSE(std::isnan(y[2 * s.K]));
}

template <class S> void rounded_once_case() {
  const Shape s{2, 2, 3, 50};
  const auto xd = random(static_cast<std::size_t>(s.n()), 7, -8, 8);
  const auto x = cast<S>(xd);
  std::vector<double> xr(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) xr[i] = static_cast<double>(x[i]);
  const auto maskd = random(static_cast<std::size_t>(s.H * s.K), 8, -4, 4);
  const auto mask = cast<S>(maskd);
  std::vector<double> maskr(mask.size());
  for (std::size_t i = 0; i < mask.size(); ++i) maskr[i] = static_cast<double>(mask[i]);
  AttentionSoftmaxOptions o;
  o.scale = 0.3;
  o.mask_type = MaskType::additive;
  o.mask_batch = 1, o.mask_q = 1;
  o.causal = true, o.causal_offset = 20;
  for (unsigned flags : {0u, unsigned(actk::softmax_log)}) {
    o.flags = flags;
    std::vector<double> yd(x.size());
    std::vector<S> y(x.size());
    o.mask = maskr.data();
    actk::attention_softmax_forward(DType::float64, xr.data(), yd.data(), s.B, s.H, s.Q, s.K, o, Backend::cpu);
    o.mask = mask.data();
    actk::attention_softmax_forward(actk::dtype_of<S>::value, x.data(), y.data(), s.B, s.H, s.Q, s.K, o, Backend::cpu);
    for (std::size_t i = 0; i < y.size(); ++i) {
      const S want = to<S>(yd[i]);
      ASSERT_EQ(0, std::memcmp(&want, &y[i], sizeof(S))) << "element " << i << " flags " << flags;
    }
  }
}
TEST(Attention, EveryDtypeIsTheDoubleResultRoundedOnce) {
  rounded_once_case<float>();
  rounded_once_case<float16>();
  rounded_once_case<bfloat16>();
}

TEST(Attention, BackwardMatchesFiniteDifferences) {
  const Shape s{1, 2, 3, 9};
  const auto x = random(static_cast<std::size_t>(s.n()), 9, -2, 2);
  auto w = random(x.size(), 10, -1, 1);  // loss = sum w y over the attended elements
  for (std::size_t i = 0; i < w.size(); ++i)
    if (static_cast<std::int64_t>(i) % s.K > static_cast<std::int64_t>(i) / s.K % s.Q + 4) w[i] = 0;
  const auto mask = random(static_cast<std::size_t>(s.K), 11, -1, 1);
  for (unsigned flags : {0u, unsigned(actk::softmax_log)}) {
    AttentionSoftmaxOptions o;
    o.scale = 0.7;
    o.mask_type = MaskType::additive;
    o.mask = mask.data();
    o.mask_batch = o.mask_heads = o.mask_q = 1;
    o.causal = true, o.causal_offset = 4;
    o.flags = flags;
    std::vector<double> y(x.size()), dx(x.size());
    actk::attention_softmax_forward(DType::float64, x.data(), y.data(), s.B, s.H, s.Q, s.K, o, Backend::cpu);
    actk::attention_softmax_backward(DType::float64, y.data(), w.data(), dx.data(), s.B, s.H, s.Q, s.K, o.scale, flags,
                                     Backend::cpu);
    auto loss = [&](const std::vector<double>& xx) {
      std::vector<double> yy(xx.size());
      actk::attention_softmax_forward(DType::float64, xx.data(), yy.data(), s.B, s.H, s.Q, s.K, o, Backend::cpu);
      double l = 0;
      for (std::size_t i = 0; i < yy.size(); ++i)
        if (w[i] != 0) l += w[i] * yy[i];  // log: masked elements are -inf (and constant)
      return l;
    };
    for (std::size_t i = 0; i < x.size(); ++i) {
      const std::int64_t row = static_cast<std::int64_t>(i) / s.K, j = static_cast<std::int64_t>(i) % s.K, q = row % s.Q;
      std::vector<double> xp = x, xm = x;
      const double h = 1e-6;
      xp[i] += h, xm[i] -= h;
      const double fd = (loss(xp) - loss(xm)) / (2 * h);
      if (j > q + 4) {
        ASSERT_EQ(dx[i], 0.0) << "a causally masked element gets no gradient, element " << i;
        continue;
      }
      ASSERT_NEAR(dx[i], fd, 1e-7) << "element " << i;
    }
  }
}

TEST(Attention, BackwardIsTheScaledSoftmaxBackwardAndWorksInPlace) {
  const Shape s{2, 1, 4, 33};
  const auto yx = random(static_cast<std::size_t>(s.n()), 12, -3, 3);
  const auto dyd = random(yx.size(), 13, -1, 1);
  const auto x = cast<float>(yx);
  const auto dy = cast<float>(dyd);
  std::vector<float> y(x.size()), ref(x.size()), dx(x.size());
  AttentionSoftmaxOptions o;
  o.scale = 0.25;
  actk::attention_softmax_forward(DType::float32, x.data(), y.data(), s.B, s.H, s.Q, s.K, o, Backend::cpu);
  actk::softmax_backward(DType::float32, y.data(), dy.data(), ref.data(), s.B * s.H * s.Q, s.K, 1, 0, Backend::cpu, nullptr,
                         actk::Blend{0.25, 0.0});
  actk::attention_softmax_backward(DType::float32, y.data(), dy.data(), dx.data(), s.B, s.H, s.Q, s.K, 0.25, 0, Backend::cpu);
  ASSERT_EQ(0, std::memcmp(ref.data(), dx.data(), dx.size() * sizeof(float)));
  std::vector<float> g = dy;  // dx over dy
  actk::attention_softmax_backward(DType::float32, y.data(), g.data(), g.data(), s.B, s.H, s.Q, s.K, 0.25, 0, Backend::cpu);
  ASSERT_EQ(0, std::memcmp(ref.data(), g.data(), g.size() * sizeof(float)));
  std::vector<float> inplace = x;  // forward in place
  actk::attention_softmax_forward(DType::float32, inplace.data(), inplace.data(), s.B, s.H, s.Q, s.K, o, Backend::cpu);
  ASSERT_EQ(0, std::memcmp(y.data(), inplace.data(), y.size() * sizeof(float)));
}

TEST(Attention, RefusesBadArguments) {
  std::vector<float> x(64), y(64);
  std::vector<unsigned char> keep(64, 1);
  auto status = [&](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.status();
    }
    return actk::Status::ok;
  };
  auto fwd = [&](const AttentionSoftmaxOptions& o, std::int64_t k = 8) {
    return status([&] { actk::attention_softmax_forward(DType::float32, x.data(), y.data(), 1, 2, 4, k, o, Backend::cpu); });
  };
  const auto bad = actk::Status::invalid_argument;
  AttentionSoftmaxOptions o;
  EXPECT_EQ(fwd(o), actk::Status::ok);
  o.scale = std::nan("");
  EXPECT_EQ(fwd(o), bad);
  o = {};
  o.flags = 4;
  EXPECT_EQ(fwd(o), bad);
  o = {};
  o.mask = keep.data();  // a mask with mask_type none
  EXPECT_EQ(fwd(o), bad);
  o.mask_type = static_cast<MaskType>(7);
  EXPECT_EQ(fwd(o), bad);
  o.mask_type = MaskType::keep;
  o.mask_heads = 3;  // neither 1 nor heads = 2
  EXPECT_EQ(fwd(o), bad);
  o.mask_heads = 1;
  o.mask_batch = 1;
  EXPECT_EQ(fwd(o), actk::Status::ok);  // [1, 1, 4, 8] = 32 bytes
  o.mask = nullptr;
  EXPECT_EQ(fwd(o), bad);
  o.mask_type = MaskType::additive;
  o.mask = y.data() + 8;  // overlaps y
  EXPECT_EQ(fwd(o), bad);
  EXPECT_EQ(fwd({}, actk::attention_max_k + 1), bad);
  EXPECT_EQ(status([&] { actk::attention_softmax_forward(DType::float32, x.data(), y.data(), -1, 2, 4, 8, {}, Backend::cpu); }), bad);
  EXPECT_EQ(status([&] { actk::attention_softmax_forward(DType::float32, nullptr, y.data(), 1, 2, 4, 8, {}, Backend::cpu); }), bad);
  EXPECT_EQ(status([&] {
              actk::attention_softmax_forward(DType::float32, x.data(), y.data(), INT64_MAX / 2, 4, 4, 8, {}, Backend::cpu);
            }),
            bad);
  EXPECT_EQ(status([&] {
              actk::attention_softmax_backward(DType::float32, y.data(), x.data(), x.data(), 1, 2, 4, 8, kInf, 0, Backend::cpu);
            }),
            bad);
  EXPECT_EQ(status([&] {
              actk::attention_softmax_backward(DType::float32, y.data(), x.data(), x.data(), 1, 2, 4, 8, 1.0, 8, Backend::cpu);
            }),
            bad);
  // empty shapes do nothing
  EXPECT_EQ(status([&] { actk::attention_softmax_forward(DType::float32, nullptr, nullptr, 0, 2, 4, 8, {}, Backend::cpu); }),
            actk::Status::ok);
}

TEST(Attention, CAbi) {
  actk_attention_softmax_options d = actk_attention_softmax_default_options();
  EXPECT_EQ(d.scale, 1.0);
  EXPECT_EQ(d.mask_type, ACTK_MASK_NONE);
  EXPECT_EQ(d.mask, nullptr);
  EXPECT_EQ(d.causal, 0);
  const Shape s{1, 1, 4, 5};
  const auto xd = random(static_cast<std::size_t>(s.n()), 14, -2, 2);
  std::vector<float> x = cast<float>(xd), y(x.size()), want(x.size()), dx(x.size());
  d.causal = 1;
  d.scale = 0.5;
  ASSERT_EQ(actk_attention_softmax_forward(ACTK_FLOAT32, x.data(), y.data(), 1, 1, 4, 5, &d, ACTK_BACKEND_CPU, nullptr),
            ACTK_OK);
  AttentionSoftmaxOptions o;
  o.causal = true;
  o.scale = 0.5;
  actk::attention_softmax_forward(DType::float32, x.data(), want.data(), 1, 1, 4, 5, o, Backend::cpu);
  ASSERT_EQ(0, std::memcmp(y.data(), want.data(), y.size() * sizeof(float)));
  ASSERT_EQ(actk_attention_softmax_forward(ACTK_FLOAT32, x.data(), y.data(), 1, 1, 4, 5, nullptr, ACTK_BACKEND_CPU, nullptr),
            ACTK_OK);
  ASSERT_EQ(actk_attention_softmax_backward(ACTK_FLOAT32, y.data(), x.data(), dx.data(), 1, 1, 4, 5, 0.5, 0, ACTK_BACKEND_CPU,
                                            nullptr),
            ACTK_OK);
  d.mask_heads = 9;  // invalid with a mask
  d.mask_type = ACTK_MASK_ADDITIVE;
  d.mask = x.data();
  EXPECT_EQ(actk_attention_softmax_forward(ACTK_FLOAT32, x.data(), y.data(), 1, 1, 4, 5, &d, ACTK_BACKEND_CPU, nullptr),
            ACTK_ERROR_INVALID_ARGUMENT);
}

}  // namespace
