// tests/test_fused.cpp: the fused ops on the CPU reference path against the composition of the
// unfused reference ops: bias + activation (forward, pre-activation, backward, dbias), gated
// activations (both layouts, both gradients), output blending, in place, odd shapes, every
// dtype, finite differences of dbias, and validation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "actk/actk_c.h"
#include "common.h"

namespace {

using namespace actk_test;
using actk::Blend;
using actk::DType;
using actk::Error;
using actk::From;

template <class S> bool same_bits(S a, S b) { return std::memcmp(&a, &b, sizeof(S)) == 0; }

template <class S> std::vector<S> rnd(std::size_t n, std::uint64_t seed, double lo = -4, double hi = 4) {
  Rng r(seed);
  std::vector<S> v(n);
  for (auto& e : v) e = to<S>(r.uniform(lo, hi));
  return v;
}

/// The double math of one element, through the public API in float64 (the unfused reference).
double f_of(Op op, double z) {
  double y;
  actk::forward(op, &z, &y, 1);
  return y;
}
double df_of(Op op, double z, double dy) {
  double dx;
  actk::backward(op, From::input, &z, &dy, &dx, 1);
  return dx;
}

template <class S> void bias_act_case(Op op, std::int64_t rows, std::int64_t cols) {
  const std::int64_t n = rows * cols;
  const auto x = rnd<S>(n, 1), b = rnd<S>(cols, 2, -1, 1), dy = rnd<S>(n, 3, -2, 2);
  std::vector<S> y(n), pre(n), dx(n), db(cols);
  const DType dt = actk::dtype_of<S>::value;
  actk::bias_act_forward(op, dt, x.data(), b.data(), y.data(), rows, cols, {}, pre.data());
  actk::bias_act_backward(op, dt, x.data(), b.data(), dy.data(), dx.data(), db.data(), rows, cols);
  std::vector<double> sum(cols, 0.0);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) {
      const std::int64_t i = r * cols + c;
      const double z = static_cast<double>(x[i]) + static_cast<double>(b[c]);  // exact for these dtypes
      ASSERT_TRUE(same_bits(y[i], to<S>(f_of(op, z)))) << op_name(op) << " y " << i;
      ASSERT_TRUE(same_bits(pre[i], to<S>(z))) << op_name(op) << " pre " << i;
      const double g = df_of(op, z, static_cast<double>(dy[i]));
      ASSERT_TRUE(same_bits(dx[i], to<S>(g))) << op_name(op) << " dx " << i;
      sum[c] += g;
    }
  for (std::int64_t c = 0; c < cols; ++c) ASSERT_TRUE(same_bits(db[c], to<S>(sum[c]))) << op_name(op) << " dbias " << c;
}

TEST(Fused, BiasActEqualsTheCompositionEveryOp) {
  for (Op op : all_ops()) {
    bias_act_case<double>(op, 5, 7);
    bias_act_case<float>(op, 3, 33);
  }
}

TEST(Fused, BiasActOddShapesAndDtypes) {
  for (std::int64_t cols : {1, 3, 1023, 4097}) {
    bias_act_case<float>(Op::gelu, 5, cols);
    bias_act_case<bfloat16>(Op::gelu, 3, cols);
    bias_act_case<float16>(Op::silu, 2, cols);
  }
  bias_act_case<float>(Op::gelu, 300, 257);  // past the threaded threshold
}

TEST(Fused, DbiasMatchesFiniteDifferences) {
  const std::int64_t rows = 6, cols = 4;
  const auto x = rnd<double>(rows * cols, 7), dy = rnd<double>(rows * cols, 8);
  std::vector<double> b = {0.3, -0.2, 1.1, -2.0}, dx(rows * cols), db(cols), y(rows * cols);
  actk::bias_act_backward(Op::mish, DType::float64, x.data(), b.data(), dy.data(), dx.data(), db.data(), rows, cols);
  auto loss = [&](const std::vector<double>& bb) {
    actk::bias_act_forward(Op::mish, DType::float64, x.data(), bb.data(), y.data(), rows, cols);
    double s = 0;
    for (std::int64_t i = 0; i < rows * cols; ++i) s += dy[i] * y[i];
    return s;
  };
  for (std::int64_t c = 0; c < cols; ++c) {
    auto p = b, m = b;
    p[c] += 1e-6;
    m[c] -= 1e-6;
    EXPECT_NEAR(db[c], (loss(p) - loss(m)) / 2e-6, 1e-7) << c;
  }
}

TEST(Fused, BlendingAndNoBias) {
  const std::int64_t rows = 4, cols = 9, n = rows * cols;
  const auto x = rnd<double>(n, 11), dy = rnd<double>(n, 12);
  std::vector<double> y0 = rnd<double>(n, 13), y = y0, dx0 = rnd<double>(n, 14), dx = dx0, db(cols);
  actk::bias_act_forward(Op::tanh, DType::float64, x.data(), nullptr, y.data(), rows, cols, {}, nullptr, actk::Backend::automatic, nullptr,
                         Blend{0.5, 2.0});
  actk::bias_act_backward(Op::tanh, DType::float64, x.data(), nullptr, dy.data(), dx.data(), db.data(), rows, cols, {},
                          actk::Backend::automatic, nullptr, Blend{0.5, 1.0});  // gradient accumulation
  for (std::int64_t i = 0; i < n; ++i) {
    EXPECT_DOUBLE_EQ(y[i], 0.5 * std::tanh(x[i]) + 2.0 * y0[i]);
    EXPECT_DOUBLE_EQ(dx[i], 0.5 * df_of(Op::tanh, x[i], dy[i]) + dx0[i]);
  }
  // beta = 0 never reads the output: NaN garbage there does not leak
  std::vector<double> garbage(n, std::numeric_limits<double>::quiet_NaN());
  actk::bias_act_forward(Op::relu, DType::float64, x.data(), nullptr, garbage.data(), rows, cols);
  for (double v : garbage) EXPECT_FALSE(std::isnan(v));
}

template <class S> void gated_case(Op op, std::int64_t rows, std::int64_t cols) {
  const std::int64_t n = rows * cols;
  const auto cat = rnd<S>(2 * n, 21);  // [rows, 2*cols], gate first
  const auto dy = rnd<S>(n, 22, -2, 2);
  std::vector<S> gate(n), value(n);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) gate[r * cols + c] = cat[r * 2 * cols + c], value[r * cols + c] = cat[r * 2 * cols + cols + c];
  const DType dt = actk::dtype_of<S>::value;
  std::vector<S> y1(n), y2(n), dcat(2 * n), dg(n), dv(n);
  actk::gated_forward(op, dt, cat.data(), cat.data() + cols, 2 * cols, y1.data(), rows, cols);
  actk::gated_forward(op, dt, gate.data(), value.data(), cols, y2.data(), rows, cols);
  actk::gated_backward(op, dt, cat.data(), cat.data() + cols, 2 * cols, dy.data(), dcat.data(), dcat.data() + cols, rows, cols);
  actk::gated_backward(op, dt, gate.data(), value.data(), cols, dy.data(), dg.data(), dv.data(), rows, cols);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) {
      const std::int64_t i = r * cols + c;
      const double g = static_cast<double>(gate[i]), v = static_cast<double>(value[i]), d = static_cast<double>(dy[i]);
      ASSERT_TRUE(same_bits(y1[i], to<S>(f_of(op, g) * v))) << op_name(op) << " y " << i;
      ASSERT_TRUE(same_bits(y2[i], y1[i]));
      ASSERT_TRUE(same_bits(dg[i], to<S>(df_of(op, g, d * v)))) << op_name(op) << " dgate " << i;
      ASSERT_TRUE(same_bits(dv[i], to<S>(d * f_of(op, g)))) << op_name(op) << " dvalue " << i;
      ASSERT_TRUE(same_bits(dcat[r * 2 * cols + c], dg[i]));
      ASSERT_TRUE(same_bits(dcat[r * 2 * cols + cols + c], dv[i]));
    }
  // in place: the gradients over the inputs
  std::vector<S> g2 = gate, v2 = value;
  actk::gated_backward(op, dt, g2.data(), v2.data(), cols, dy.data(), g2.data(), v2.data(), rows, cols);
  ASSERT_EQ(std::memcmp(g2.data(), dg.data(), n * sizeof(S)), 0);
  ASSERT_EQ(std::memcmp(v2.data(), dv.data(), n * sizeof(S)), 0);
}

TEST(Fused, GatedVariantsEqualTheComposition) {
  // glu, reglu, geglu (erf and tanh), swiglu, qgeglu, sreglu
  for (Op op : {Op::sigmoid, Op::relu, Op::gelu, Op::gelu_tanh, Op::silu, Op::quick_gelu, Op::squared_relu}) {
    gated_case<double>(op, 3, 5);
    gated_case<float>(op, 2, 1023);
  }
  for (std::int64_t cols : {1, 3, 4097}) {
    gated_case<bfloat16>(Op::silu, 3, cols);
    gated_case<float16>(Op::gelu, 2, cols);
  }
}

TEST(Blend, PlainActivationsAndSoftmax) {
  const std::int64_t n = 64;
  const auto x = rnd<double>(n, 31), dy = rnd<double>(n, 32), y0 = rnd<double>(n, 33);
  for (Op op : {Op::gelu, Op::relu, Op::sigmoid, Op::elu}) {
    std::vector<double> y = y0, dx = y0;
    actk::forward(op, x.data(), y.data(), n, {}, actk::Backend::automatic, nullptr, Blend{0.5, 2.0});
    actk::backward(op, From::input, x.data(), dy.data(), dx.data(), n, {}, actk::Backend::automatic, nullptr, Blend{1.0, 1.0});
    for (std::int64_t i = 0; i < n; ++i) {
      EXPECT_DOUBLE_EQ(y[i], 0.5 * f_of(op, x[i]) + 2.0 * y0[i]) << op_name(op);
      EXPECT_DOUBLE_EQ(dx[i], df_of(op, x[i], dy[i]) + y0[i]) << op_name(op) << " accumulate";
    }
  }
  // float32: the blend is applied in double and rounded once
  const auto xf = rnd<float>(n, 34), yf0 = rnd<float>(n, 35);
  std::vector<float> yf = yf0;
  actk::forward(Op::silu, xf.data(), yf.data(), n, {}, actk::Backend::cpu, nullptr, Blend{-1.5, 0.25});
  for (std::int64_t i = 0; i < n; ++i)
    EXPECT_EQ(yf[i], static_cast<float>(-1.5 * f_of(Op::silu, xf[i]) + 0.25 * static_cast<double>(yf0[i])));
  // softmax forward and backward, blended; beta = 0 ignores NaN garbage in the output
  const std::int64_t rows = 4, cols = 16;
  std::vector<double> sx = rnd<double>(rows * cols, 36), plain(rows * cols), blended = y0, garbage(rows * cols, NAN), g = rnd<double>(rows * cols, 37);
  actk::softmax_forward(DType::float64, sx.data(), plain.data(), rows, cols);
  actk::softmax_forward(DType::float64, sx.data(), blended.data(), rows, cols, 1, 0, actk::Backend::cpu, nullptr, Blend{3.0, -1.0});
  actk::softmax_forward(DType::float64, sx.data(), garbage.data(), rows, cols, 1, 0, actk::Backend::cpu, nullptr, Blend{1.0, 0.0});
  for (std::int64_t i = 0; i < rows * cols; ++i) {
    EXPECT_DOUBLE_EQ(blended[i], 3.0 * plain[i] - y0[i]);
    EXPECT_EQ(garbage[i], plain[i]);
  }
  // log-softmax the same (its rows take their log1p in batches, then write: host/cpu_softmax.h),
  // float32 too, and in place
  std::vector<double> lplain(rows * cols), lblended = y0, lgarbage(rows * cols, NAN);
  actk::softmax_forward(DType::float64, sx.data(), lplain.data(), rows, cols, 1, ACTK_SOFTMAX_LOG);
  actk::softmax_forward(DType::float64, sx.data(), lblended.data(), rows, cols, 1, ACTK_SOFTMAX_LOG, actk::Backend::cpu, nullptr,
                        Blend{3.0, -1.0});
  actk::softmax_forward(DType::float64, sx.data(), lgarbage.data(), rows, cols, 1, ACTK_SOFTMAX_LOG, actk::Backend::cpu, nullptr,
                        Blend{1.0, 0.0});
  std::vector<float> fx(sx.begin(), sx.end()), fold(y0.begin(), y0.begin() + rows * cols), fplain(rows * cols), fblended = fold,
      finplace = fx;
  actk::softmax_forward(DType::float32, fx.data(), fplain.data(), rows, cols, 1, ACTK_SOFTMAX_LOG);
  actk::softmax_forward(DType::float32, fx.data(), fblended.data(), rows, cols, 1, ACTK_SOFTMAX_LOG, actk::Backend::cpu, nullptr,
                        Blend{3.0, -1.0});
  actk::softmax_forward(DType::float32, finplace.data(), finplace.data(), rows, cols, 1, ACTK_SOFTMAX_LOG);
  for (std::int64_t i = 0; i < rows * cols; ++i) {
    const std::int64_t r = i / cols;
    double m = -INFINITY, sum = 0;
    for (std::int64_t k = 0; k < cols; ++k) m = std::max(m, sx[r * cols + k]);
    for (std::int64_t k = 0; k < cols; ++k) sum += std::exp(sx[r * cols + k] - m);
    EXPECT_NEAR(lplain[i], (sx[i] - m) - std::log(sum), 1e-13);
    EXPECT_DOUBLE_EQ(lblended[i], 3.0 * lplain[i] - y0[i]);
    EXPECT_EQ(lgarbage[i], lplain[i]);
    // float32: from double values of the float inputs, blended in double, rounded once
    double fm = -INFINITY, fsum = 0;
    for (std::int64_t k = 0; k < cols; ++k) fm = std::max(fm, static_cast<double>(fx[r * cols + k]));
    for (std::int64_t k = 0; k < cols; ++k) fsum += std::exp(fx[r * cols + k] - fm);
    const double fl = (fx[i] - fm) - std::log(fsum);
    EXPECT_NEAR(fplain[i], fl, 1e-6 * std::max(1.0, std::fabs(fl)));
    const double fb = 3.0 * fl - static_cast<double>(fold[i]);  // (fl is this test's double math: within rounding)
    EXPECT_NEAR(fblended[i], fb, 4e-7 * std::max(1.0, std::fabs(fb))) << "float32 log-softmax blended, " << i;
    EXPECT_EQ(finplace[i], fplain[i]) << "float32 log-softmax in place, " << i;
  }
  std::vector<double> dplain(rows * cols), dacc = y0;
  actk::softmax_backward(DType::float64, plain.data(), g.data(), dplain.data(), rows, cols);
  actk::softmax_backward(DType::float64, plain.data(), g.data(), dacc.data(), rows, cols, 1, 0, actk::Backend::cpu, nullptr,
                         Blend{1.0, 1.0});
  for (std::int64_t i = 0; i < rows * cols; ++i) EXPECT_DOUBLE_EQ(dacc[i], dplain[i] + y0[i]);
  // the C ABI's _ex entry points
  std::vector<double> cy = y0;
  ASSERT_EQ(actk_forward_ex(static_cast<int>(Op::tanh), nullptr, ACTK_FLOAT64, x.data(), cy.data(), n, ACTK_BACKEND_CPU,
                            nullptr, 2.0, 1.0),
            ACTK_OK);
  EXPECT_DOUBLE_EQ(cy[3], 2.0 * std::tanh(x[3]) + y0[3]);
  EXPECT_EQ(actk_softmax_forward_ex(ACTK_FLOAT64, sx.data(), cy.data(), rows, cols, 1, 0, ACTK_BACKEND_CPU, nullptr, NAN, 0.0),
            ACTK_ERROR_INVALID_ARGUMENT);
}

// bias + activation in place (y = x, pre = x, dx = x, dx = dy) gives the out-of-place bits; the
// blend (beta != 0) reads the output's old contents, so each reference starts from a copy of them.
template <class S> void bias_in_place_case(std::int64_t rows, std::int64_t cols) {
  const DType dt = actk::dtype_of<S>::value;
  const std::size_t n = static_cast<std::size_t>(rows * cols);
  std::vector<S> x(n), b(static_cast<std::size_t>(cols)), dy(n);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = S(0.37 * static_cast<double>(i % 23) - 4.0);
    dy[i] = S(0.11 * static_cast<double>(i % 7) - 0.3);
  }
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = S(0.05 * static_cast<double>(i) - 1.0);
  const actk::Blend bl{0.5, 0.25};
  auto same = [](const std::vector<S>& u, const std::vector<S>& v) { return std::memcmp(u.data(), v.data(), u.size() * sizeof(S)) == 0; };
  // y = x
  std::vector<S> y_ref = x, xy = x;
  actk::bias_act_forward(Op::gelu, dt, x.data(), b.data(), y_ref.data(), rows, cols, {}, nullptr, actk::Backend::automatic, nullptr, bl);
  actk::bias_act_forward(Op::gelu, dt, xy.data(), b.data(), xy.data(), rows, cols, {}, nullptr, actk::Backend::automatic, nullptr, bl);
  EXPECT_TRUE(same(xy, y_ref)) << "y = x, cols " << cols;
  // pre = x
  std::vector<S> y1(n, S(1.0)), pre(n), y2(n, S(1.0)), xp = x;
  actk::bias_act_forward(Op::gelu, dt, x.data(), b.data(), y1.data(), rows, cols, {}, pre.data(), actk::Backend::automatic, nullptr, bl);
  actk::bias_act_forward(Op::gelu, dt, xp.data(), b.data(), y2.data(), rows, cols, {}, xp.data(), actk::Backend::automatic, nullptr, bl);
  EXPECT_TRUE(same(xp, pre) && same(y2, y1)) << "pre = x, cols " << cols;
  // dx = x and dx = dy
  std::vector<S> ref_x = x, ref_dy = dy, dx_x = x, dx_dy = dy;
  actk::bias_act_backward(Op::gelu, dt, x.data(), b.data(), dy.data(), ref_x.data(), nullptr, rows, cols, {}, actk::Backend::automatic, nullptr, bl);
  actk::bias_act_backward(Op::gelu, dt, x.data(), b.data(), dy.data(), ref_dy.data(), nullptr, rows, cols, {}, actk::Backend::automatic, nullptr, bl);
  actk::bias_act_backward(Op::gelu, dt, dx_x.data(), b.data(), dy.data(), dx_x.data(), nullptr, rows, cols, {}, actk::Backend::automatic, nullptr, bl);
  actk::bias_act_backward(Op::gelu, dt, x.data(), b.data(), dx_dy.data(), dx_dy.data(), nullptr, rows, cols, {}, actk::Backend::automatic, nullptr, bl);
  EXPECT_TRUE(same(dx_x, ref_x)) << "dx = x, cols " << cols;
  EXPECT_TRUE(same(dx_dy, ref_dy)) << "dx = dy, cols " << cols;
}

TEST(Fused, BiasActInPlace) {
  for (std::int64_t cols : {std::int64_t{1}, std::int64_t{37}, std::int64_t{64}}) {
    bias_in_place_case<float>(3, cols);
    bias_in_place_case<double>(3, cols);
    bias_in_place_case<bfloat16>(3, cols);
    bias_in_place_case<float16>(2, cols);
  }
}

// Gated ops: an output may be an input of the same layout (in place), nothing else may share an
// element with an output; refused calls write nothing.
TEST(Fused, GatedAliasingRules) {
  const std::int64_t rows = 3, cols = 4;
  std::vector<float> cat(2 * rows * cols, 0.25f), dy(rows * cols, 1.0f), y(rows * cols, -9.0f), big(64, 0.5f);
  float* g = cat.data();
  float* v = cat.data() + cols;
  // allowed: the concatenated layout in place (dgate = gate, dvalue = value), interleaved halves
  EXPECT_NO_THROW(actk::gated_backward(Op::silu, DType::float32, g, v, 2 * cols, dy.data(), g, v, rows, cols));
  // allowed: two-tensor layout, y in place over the gate (same stride)
  std::vector<float> gate(rows * cols, 0.5f), value(rows * cols, 2.0f);
  EXPECT_NO_THROW(actk::gated_forward(Op::silu, DType::float32, gate.data(), value.data(), cols, gate.data(), rows, cols));
  // refused: y (stride cols) over a gate of stride 2 cols: other threads still read it
  const std::vector<float> before = cat;
  EXPECT_THROW(actk::gated_forward(Op::silu, DType::float32, g, v, 2 * cols, g, rows, cols), Error);
  // refused: dgate shifted by one element from gate, dvalue over dgate, dgate over dy
  EXPECT_THROW(actk::gated_backward(Op::silu, DType::float32, g, v, 2 * cols, dy.data(), g + 1, v, rows, cols), Error);
  EXPECT_THROW(actk::gated_backward(Op::silu, DType::float32, g, v, 2 * cols, dy.data(), g, g, rows, cols), Error);
  EXPECT_THROW(actk::gated_backward(Op::silu, DType::float32, gate.data(), value.data(), cols, dy.data(), dy.data() + 1,
                                    value.data(), rows, cols),
               Error);
  // refused: dvalue's rows land on the gate's rows one row further down (offset = in_stride)
  EXPECT_THROW(actk::gated_backward(Op::silu, DType::float32, g, v, 2 * cols, dy.data(), g, g + 2 * cols, rows, cols), Error);
  EXPECT_EQ(cat, before) << "a refused call wrote";
  // allowed: dgate over dy when both have stride cols (the element is read and written by one thread)
  std::vector<float> dy2 = dy;
  EXPECT_NO_THROW(actk::gated_backward(Op::silu, DType::float32, gate.data(), value.data(), cols, dy2.data(), dy2.data(),
                                       value.data(), rows, cols));
  // allowed: outputs in a disjoint buffer; and offsets that only look close (beyond the last row)
  EXPECT_NO_THROW(actk::gated_backward(Op::silu, DType::float32, g, v, 2 * cols, dy.data(), big.data(), big.data() + cols, rows,
                                       cols));
  std::vector<float> tall(static_cast<std::size_t>(4 * 2 * cols * rows), 0.5f);
  EXPECT_NO_THROW(actk::gated_backward(Op::silu, DType::float32, tall.data(), tall.data() + cols, 2 * cols, dy.data(),
                                       tall.data() + rows * 2 * cols, tall.data() + rows * 2 * cols + cols, rows, cols));
}

TEST(Fused, ValidationAndTheCAbi) {
  std::vector<float> x(12, 0.5f), y(12, -9.0f), b(4, 0.0f), dy(12, 1.0f), dx(12);
  EXPECT_THROW(actk::gated_forward(Op::silu, DType::float32, x.data(), x.data() + 2, 3, y.data(), 3, 4), Error);  // stride < cols
  EXPECT_THROW(actk::bias_act_forward(Op::gelu, DType::float32, x.data(), b.data(), y.data(), 3, 4, {}, nullptr,
                                      actk::Backend::automatic, nullptr, Blend{std::numeric_limits<double>::quiet_NaN(), 0}),
               Error);
  EXPECT_THROW(actk::bias_act_backward(Op::gelu, DType::float32, x.data(), b.data(), dy.data(), dx.data(), dy.data(), 3, 4),
               Error);  // dbias over dy
  EXPECT_THROW(actk::bias_act_forward(Op::softshrink, DType::float32, x.data(), b.data(), y.data(), 3, 4, {-1.0}), Error);
  EXPECT_THROW(actk::bias_act_forward(Op::gelu, DType::float32, x.data(), b.data(), y.data(), -3, 4), Error);
  for (float v : y) EXPECT_EQ(v, -9.0f);
  std::vector<float> db(4, 7.0f);
  actk::bias_act_backward(Op::gelu, DType::float32, nullptr, nullptr, nullptr, nullptr, db.data(), 0, 4);
  for (float v : db) EXPECT_EQ(v, 0.0f) << "an empty column sum is 0";
  int op = -1;
  ASSERT_EQ(actk_op_from_name("silu", &op), ACTK_OK);
  EXPECT_EQ(actk_gated_forward(op, nullptr, ACTK_FLOAT32, x.data(), x.data() + 4, 8, y.data(), 1, 4, 1.0, 0.0,
                               ACTK_BACKEND_CPU, nullptr),
            ACTK_OK);
  EXPECT_FLOAT_EQ(y[0], 0.5f * 0.5f / (1.0f + std::exp(-0.5f)));
  EXPECT_EQ(actk_bias_act_backward(op, nullptr, ACTK_FLOAT32, x.data(), b.data(), dy.data(), dx.data(), db.data(), 3, 4, 1.0,
                                   0.0, ACTK_BACKEND_CPU, nullptr, nullptr, 0),
            ACTK_OK);
  EXPECT_GT(actk_bias_act_backward_workspace_bytes(ACTK_FLOAT32, 1 << 20, 4096), 0u);
}

}  // namespace

namespace {

// The fused calls' old argument order (blend before the backend) still works: the C ABI's actk 0.1
// symbols and the C++ [[deprecated]] overloads give the same bits as the current forms.
TEST(Fused, TheOldArgumentOrderStillWorks) {
  const std::int64_t rows = 5, cols = 12, n = rows * cols;
  const auto x = rnd<float>(n, 31), b = rnd<float>(cols, 32), dy = rnd<float>(n, 33), gv = rnd<float>(2 * n, 34);
  const auto y0 = rnd<float>(n, 35), g0 = rnd<float>(2 * n, 36);
  const int gelu = static_cast<int>(Op::gelu), silu = static_cast<int>(Op::silu);
  auto same = [](const std::vector<float>& a, const std::vector<float>& c) {
    return a.size() == c.size() && std::memcmp(a.data(), c.data(), a.size() * sizeof(float)) == 0;
  };
  {  // bias + act forward (with pre) and backward (with dbias), blended
    std::vector<float> y1 = y0, y2 = y0, y3 = y0, pre1(n), pre2(n), pre3(n);
    ASSERT_EQ(actk_bias_act_forward_ex(gelu, nullptr, ACTK_FLOAT32, x.data(), b.data(), y1.data(), rows, cols, pre1.data(),
                                       ACTK_BACKEND_CPU, nullptr, 0.5, 1.5), ACTK_OK);
    ASSERT_EQ(actk_bias_act_forward(gelu, nullptr, ACTK_FLOAT32, x.data(), b.data(), y2.data(), rows, cols, pre2.data(), 0.5, 1.5,
                                    ACTK_BACKEND_CPU, nullptr), ACTK_OK);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    actk::bias_act_forward(Op::gelu, DType::float32, x.data(), b.data(), y3.data(), rows, cols, {}, pre3.data(), Blend{0.5, 1.5},
                           actk::Backend::cpu);
#pragma GCC diagnostic pop
    EXPECT_TRUE(same(y1, y2) && same(y1, y3) && same(pre1, pre2) && same(pre1, pre3));
    EXPECT_FALSE(same(y1, y0));
    std::vector<float> dx1 = y0, dx2 = y0, dx3 = y0, db1(cols), db2(cols), db3(cols);
    ASSERT_EQ(actk_bias_act_backward_ex(gelu, nullptr, ACTK_FLOAT32, x.data(), b.data(), dy.data(), dx1.data(), db1.data(), rows,
                                        cols, ACTK_BACKEND_CPU, nullptr, 0.5, 1.0, nullptr, 0), ACTK_OK);
    ASSERT_EQ(actk_bias_act_backward(gelu, nullptr, ACTK_FLOAT32, x.data(), b.data(), dy.data(), dx2.data(), db2.data(), rows,
                                     cols, 0.5, 1.0, ACTK_BACKEND_CPU, nullptr, nullptr, 0), ACTK_OK);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    actk::bias_act_backward(Op::gelu, DType::float32, x.data(), b.data(), dy.data(), dx3.data(), db3.data(), rows, cols, {},
                            Blend{0.5, 1.0}, actk::Backend::cpu);
#pragma GCC diagnostic pop
    EXPECT_TRUE(same(dx1, dx2) && same(dx1, dx3) && same(db1, db2) && same(db1, db3));
  }
  {  // gated forward and backward, one [rows, 2 cols] input, blended
    std::vector<float> y1 = y0, y2 = y0, y3 = y0;
    ASSERT_EQ(actk_gated_forward_ex(silu, nullptr, ACTK_FLOAT32, gv.data(), gv.data() + cols, 2 * cols, y1.data(), rows, cols,
                                    ACTK_BACKEND_CPU, nullptr, 2.0, -1.0), ACTK_OK);
    ASSERT_EQ(actk_gated_forward(silu, nullptr, ACTK_FLOAT32, gv.data(), gv.data() + cols, 2 * cols, y2.data(), rows, cols, 2.0,
                                 -1.0, ACTK_BACKEND_CPU, nullptr), ACTK_OK);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    actk::gated_forward(Op::silu, DType::float32, gv.data(), gv.data() + cols, 2 * cols, y3.data(), rows, cols, {},
                        Blend{2.0, -1.0}, actk::Backend::cpu);
#pragma GCC diagnostic pop
    EXPECT_TRUE(same(y1, y2) && same(y1, y3));
    std::vector<float> d1 = g0, d2 = g0, d3 = g0;
    ASSERT_EQ(actk_gated_backward_ex(silu, nullptr, ACTK_FLOAT32, gv.data(), gv.data() + cols, 2 * cols, dy.data(), d1.data(),
                                     d1.data() + cols, rows, cols, ACTK_BACKEND_CPU, nullptr, 0.25, 1.0), ACTK_OK);
    ASSERT_EQ(actk_gated_backward(silu, nullptr, ACTK_FLOAT32, gv.data(), gv.data() + cols, 2 * cols, dy.data(), d2.data(),
                                  d2.data() + cols, rows, cols, 0.25, 1.0, ACTK_BACKEND_CPU, nullptr), ACTK_OK);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    actk::gated_backward(Op::silu, DType::float32, gv.data(), gv.data() + cols, 2 * cols, dy.data(), d3.data(), d3.data() + cols,
                         rows, cols, {}, Blend{0.25, 1.0}, actk::Backend::cpu);
#pragma GCC diagnostic pop
    EXPECT_TRUE(same(d1, d2) && same(d1, d3));
    EXPECT_FALSE(same(d1, g0));
  }
}

}  // namespace

// ---- clamped SwiGLU (GPT-OSS) ------------------------------------------------------------------

namespace {

double sig(double z) { return 1.0 / (1.0 + std::exp(-z)); }
/// GPT-OSS's formula in double: g = min(gate, L), v = clamp(value, -L, L), g sigmoid(a g) (v + 1).
double clamped_ref(double gate, double value, double a, double L) {
  const double g = std::min(gate, L), v = std::max(-L, std::min(value, L));
  return g * sig(a * g) * (v + 1);
}

}  // namespace

TEST(ClampedSwiglu, ForwardMatchesGptOssFormula) {
  const std::int64_t rows = 5, cols = 41;
  Rng rng(12);
  std::vector<double> cat(static_cast<std::size_t>(rows * 2 * cols));
  for (auto& v : cat) v = rng.uniform(-12, 12);  // both clamps saturate somewhere
  for (double a : {1.702, 0.5})
    for (double L : {7.0, 2.5}) {
      std::vector<double> y(static_cast<std::size_t>(rows * cols));
      actk::clamped_swiglu_forward(DType::float64, cat.data(), cat.data() + cols, 2 * cols, y.data(), rows, cols, a, L,
                                   actk::Backend::cpu);
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c) {
          const double ref = clamped_ref(cat[r * 2 * cols + c], cat[r * 2 * cols + cols + c], a, L);
          EXPECT_NEAR(y[r * cols + c], ref, 1e-14 * (1 + std::fabs(ref))) << "alpha " << a << " limit " << L << " (" << r << "," << c << ")";
        }
    }
  // defaults: alpha 1.702, limit 7; two separate tensors (in_stride = cols) give the same bits
  const std::vector<double> gate = {8.0, -3.0, 0.5, 7.0}, value = {-9.0, 2.0, 7.5, 0.0};
  std::vector<double> y(4), y2(4);
  actk::clamped_swiglu_forward(DType::float64, gate.data(), value.data(), 4, y.data(), 1, 4);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(y[i], clamped_ref(gate[i], value[i], 1.702, 7.0), 1e-15) << i;
  EXPECT_NEAR(y[0], 7.0 * sig(1.702 * 7.0) * (-7.0 + 1), 1e-14) << "both clamps";
  actk_clamped_swiglu_forward(ACTK_FLOAT64, gate.data(), value.data(), 4, y2.data(), 1, 4, 1.702, 7.0, ACTK_BACKEND_CPU, nullptr, 1.0, 0.0);
  EXPECT_EQ(std::memcmp(y.data(), y2.data(), sizeof(double) * 4), 0) << "the C ABI";
}

TEST(ClampedSwiglu, BackwardMatchesFiniteDifferencesAndStopsAtTheClamps) {
  const std::int64_t cols = 64;
  Rng rng(4);
  std::vector<double> gate(cols), value(cols), dy(cols);
  for (std::int64_t c = 0; c < cols; ++c) {
    gate[c] = rng.uniform(-10, 10), value[c] = rng.uniform(-10, 10), dy[c] = rng.uniform(-1, 1);
    // keep finite differences away from the kinks at +-limit
    if (std::fabs(std::fabs(gate[c]) - 7.0) < 0.01) gate[c] += 0.1;
    if (std::fabs(std::fabs(value[c]) - 7.0) < 0.01) value[c] += 0.1;
  }
  std::vector<double> dg(cols), dv(cols);
  actk::clamped_swiglu_backward(DType::float64, gate.data(), value.data(), cols, dy.data(), dg.data(), dv.data(), 1, cols);
  for (std::int64_t c = 0; c < cols; ++c) {
    const double h = 1e-6;
    const double fg = (clamped_ref(gate[c] + h, value[c], 1.702, 7) - clamped_ref(gate[c] - h, value[c], 1.702, 7)) / (2 * h);
    const double fv = (clamped_ref(gate[c], value[c] + h, 1.702, 7) - clamped_ref(gate[c], value[c] - h, 1.702, 7)) / (2 * h);
    EXPECT_NEAR(dg[c], dy[c] * fg, 1e-7 * (1 + std::fabs(dy[c] * fg))) << c << " gate " << gate[c];
    EXPECT_NEAR(dv[c], dy[c] * fv, 1e-7 * (1 + std::fabs(dy[c] * fv))) << c << " value " << value[c];
    if (gate[c] > 7) {
      EXPECT_EQ(dg[c], 0.0) << "the gate clamp saturates";
    }
    if (std::fabs(value[c]) > 7) {
      EXPECT_EQ(dv[c], 0.0) << "the value clamp saturates";
    }
  }
  // at the limit itself the gradient passes (PyTorch's clamp backward: min <= x <= max)
  const double g7 = 7.0, v7 = -7.0, one = 1.0;
  double a = 0, b = 0;
  actk::clamped_swiglu_backward(DType::float64, &g7, &v7, 1, &one, &a, &b, 1, 1);
  EXPECT_NE(a, 0.0);
  EXPECT_NE(b, 0.0);
}

TEST(ClampedSwiglu, EveryDtypeAndInPlaceAndValidation) {
  const std::int64_t rows = 3, cols = 17;
  Rng rng(6);
  std::vector<double> cat64(static_cast<std::size_t>(rows * 2 * cols));
  for (auto& v : cat64) v = rng.uniform(-9, 9);
  std::vector<actk::bfloat16> cat(cat64.size());
  for (std::size_t i = 0; i < cat.size(); ++i) cat[i] = to<actk::bfloat16>(cat64[i]), cat64[i] = static_cast<double>(cat[i]);
  std::vector<actk::bfloat16> y(static_cast<std::size_t>(rows * cols));
  std::vector<double> y64(y.size());
  actk::clamped_swiglu_forward(DType::bfloat16, cat.data(), cat.data() + cols, 2 * cols, y.data(), rows, cols);
  actk::clamped_swiglu_forward(DType::float64, cat64.data(), cat64.data() + cols, 2 * cols, y64.data(), rows, cols);
  for (std::size_t i = 0; i < y.size(); ++i) {
    const actk::bfloat16 want = to<actk::bfloat16>(y64[i]);
    EXPECT_EQ(y[i].bits, want.bits) << "bfloat16: the double result rounded once, " << i;
  }
  // backward in place over the input (dgate = gate, dvalue = value)
  std::vector<double> dy(y.size(), 0.5), ref_g(cat64.size()), inplace = cat64;
  actk::clamped_swiglu_backward(DType::float64, cat64.data(), cat64.data() + cols, 2 * cols, dy.data(), ref_g.data(),
                                ref_g.data() + cols, rows, cols);
  actk::clamped_swiglu_backward(DType::float64, inplace.data(), inplace.data() + cols, 2 * cols, dy.data(), inplace.data(),
                                inplace.data() + cols, rows, cols);
  EXPECT_EQ(std::memcmp(ref_g.data(), inplace.data(), sizeof(double) * inplace.size()), 0);
  // the plain gated op keeps no clamp: swish(1.702) gated is g sigmoid(1.702 g) v on the same (saturating) data
  std::vector<double> plain(y.size());
  actk::gated_forward(Op::swish, DType::float64, cat64.data(), cat64.data() + cols, 2 * cols, plain.data(), rows, cols, {1.702});
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) {
      const double g = cat64[r * 2 * cols + c], v = cat64[r * 2 * cols + cols + c];
      EXPECT_NEAR(plain[r * cols + c], g * sig(1.702 * g) * v, 1e-13 * (1 + std::fabs(g * v)));
    }
  for (double bad : {0.0, -1.0, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()})
    EXPECT_THROW(actk::clamped_swiglu_forward(DType::float64, cat64.data(), cat64.data() + cols, 2 * cols, y64.data(), rows, cols,
                                              1.702, bad),
                 Error)
        << "limit " << bad;
  EXPECT_THROW(actk::clamped_swiglu_forward(DType::float64, cat64.data(), cat64.data() + cols, 2 * cols, y64.data(), rows, cols,
                                            std::numeric_limits<double>::quiet_NaN(), 7.0),
               Error);
  EXPECT_EQ(actk_clamped_swiglu_forward(ACTK_FLOAT64, cat64.data(), cat64.data() + cols, 2 * cols, y64.data(), rows, cols, 1.702, -3,
                                        ACTK_BACKEND_CPU, nullptr, 1.0, 0.0),
            ACTK_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(actk_last_error()).find("clamped_swiglu_forward"), std::string::npos) << actk_last_error();
}

/// The interleaved layout: the same bits as the two-tensor form on the gathered halves, forward
/// (plain and blended) and backward (separate and in place), every dtype; validation.
template <class S> void interleaved_case() {
  const std::int64_t rows = 6, cols = 37;
  const std::size_t un = static_cast<std::size_t>(rows * cols);
  Rng rng(13);
  std::vector<S> in(2 * un), gate(un), value(un), dy(un), y0(un);
  for (std::size_t i = 0; i < un; ++i) {
    gate[i] = to<S>(rng.uniform(-10, 10)), value[i] = to<S>(rng.uniform(-10, 10));
    in[2 * i] = gate[i], in[2 * i + 1] = value[i];
    dy[i] = to<S>(rng.uniform(-1, 1)), y0[i] = to<S>(rng.uniform(-1, 1));
  }
  const DType dt = actk::dtype_of<S>::value;
  for (const actk::Blend bl : {actk::Blend{1.0, 0.0}, actk::Blend{0.5, 1.0}}) {
    std::vector<S> want = y0, got = y0;
    actk::clamped_swiglu_forward(dt, gate.data(), value.data(), cols, want.data(), rows, cols, 1.702, 7.0, actk::Backend::cpu, nullptr,
                                 bl);
    actk::clamped_swiglu_interleaved_forward(dt, in.data(), got.data(), rows, cols, 1.702, 7.0, actk::Backend::cpu, nullptr, bl);
    ASSERT_EQ(0, std::memcmp(want.data(), got.data(), un * sizeof(S))) << "forward, blend " << bl.alpha;
    std::vector<S> dg(un, to<S>(0.25)), dv(un, to<S>(-0.5)), din(2 * un);
    for (std::size_t i = 0; i < un; ++i) din[2 * i] = dg[i], din[2 * i + 1] = dv[i];  // the old values a blend reads
    actk::clamped_swiglu_backward(dt, gate.data(), value.data(), cols, dy.data(), dg.data(), dv.data(), rows, cols, 1.702, 7.0,
                                  actk::Backend::cpu, nullptr, bl);
    actk::clamped_swiglu_interleaved_backward(dt, in.data(), dy.data(), din.data(), rows, cols, 1.702, 7.0, actk::Backend::cpu,
                                              nullptr, bl);
    for (std::size_t i = 0; i < un; ++i) {
      ASSERT_EQ(0, std::memcmp(&din[2 * i], &dg[i], sizeof(S))) << "dgate " << i << ", blend " << bl.alpha;
      ASSERT_EQ(0, std::memcmp(&din[2 * i + 1], &dv[i], sizeof(S))) << "dvalue " << i << ", blend " << bl.alpha;
    }
    if (bl.beta == 0.0) {  // in place over the input
      std::vector<S> io = in;
      actk::clamped_swiglu_interleaved_backward(dt, io.data(), dy.data(), io.data(), rows, cols, 1.702, 7.0, actk::Backend::cpu);
      ASSERT_EQ(0, std::memcmp(io.data(), din.data(), 2 * un * sizeof(S))) << "in place";
    }
  }
}

TEST(ClampedSwiglu, InterleavedLayoutEqualsTheTwoTensorForm) {
  interleaved_case<double>();
  interleaved_case<float>();
  interleaved_case<float16>();
  interleaved_case<bfloat16>();
}

TEST(ClampedSwiglu, InterleavedValidation) {
  std::vector<float> in(64), y(32), dy(16);
  auto status = [&](auto&& f) {
    try {
      f();
    } catch (const actk::Error& e) {
      return e.status();
    }
    return actk::Status::ok;
  };
  const auto bad = actk::Status::invalid_argument;
  EXPECT_EQ(status([&] { actk::clamped_swiglu_interleaved_forward(DType::float32, in.data(), y.data(), 2, 8); }), actk::Status::ok);
  EXPECT_EQ(status([&] { actk::clamped_swiglu_interleaved_forward(DType::float32, in.data(), in.data() + 31, 2, 8); }), bad)
      << "y overlapping the input";
  EXPECT_EQ(status([&] { actk::clamped_swiglu_interleaved_forward(DType::float32, nullptr, y.data(), 2, 8); }), bad);
  EXPECT_EQ(status([&] { actk::clamped_swiglu_interleaved_forward(DType::float32, in.data(), y.data(), 2, 8, 1.702, -1.0); }), bad);
  EXPECT_EQ(status([&] { actk::clamped_swiglu_interleaved_backward(DType::float32, in.data(), dy.data(), in.data(), 2, 8); }),
            actk::Status::ok)
      << "in place";
  EXPECT_EQ(status([&] { actk::clamped_swiglu_interleaved_backward(DType::float32, in.data(), dy.data(), in.data() + 1, 2, 8); }), bad)
      << "din shifted over the input";
  EXPECT_EQ(status([&] { actk::clamped_swiglu_interleaved_backward(DType::float32, in.data(), y.data(), y.data(), 1, 8); }), bad)
      << "din overlapping dy";
  EXPECT_EQ(actk_clamped_swiglu_interleaved_forward(ACTK_FLOAT32, in.data(), y.data(), 2, 8, 1.702, 7.0, ACTK_BACKEND_CPU, nullptr, 1.0,
                                                    0.0),
            ACTK_OK);
  EXPECT_EQ(actk_clamped_swiglu_interleaved_backward(ACTK_FLOAT32, in.data(), dy.data(), nullptr, 2, 8, 1.702, 7.0, ACTK_BACKEND_CPU,
                                                     nullptr, 1.0, 0.0),
            ACTK_ERROR_INVALID_ARGUMENT);
}
