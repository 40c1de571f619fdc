// tests/test_accuracy.cpp: the float math (what the GPU runs for float32 and 16-bit data) against
// the double math rounded once (the CPU reference), in ulps of the output type, per op, dtype and
// direction. float16 and bfloat16: all 65,536 inputs. float32: a dense sweep over every exponent
// of both signs (subnormals and tails included). Bounds from DESIGN.md:
//   forward  float32 <= 4 ulp, 16-bit <= 1 ulp
//   backward float32 <= 8 ulp, 16-bit <= 1 ulp (dy = 1 and random dy); near a zero of f', where
//            no float formula holds a relative bound, |error| <= 2^-22 |dy| (float32) or
//            2^-10 |dy| (16-bit) instead. "Near" = where |f'| < 1/16 around a sign change of f'
//            (found by a scan in double, printed in the table).
// The measured table is printed; a run of every op also writes it to accuracy.md in the working
// directory (actk_tests --gtest_filter='*Accuracy*').
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "common.h"

namespace {

using namespace actk_test;
using actk::P;
using actk::detail::Dir;

constexpr double kFwdUlp32 = 4, kBwdUlp32 = 8, kUlp16 = 1;
const double kNear0Abs32 = std::ldexp(1.0, -22), kNear0Abs16 = std::ldexp(1.0, -10);

struct Stat {
  double max_ulp = 0, worst_x = 0;
  double max_near0 = 0;  // max |err|/|dy| inside the near-zero windows
  long count = 0, over = 0;
};

struct Cell {
  Stat f16, bf16, f32;
  std::string zeros;
};

std::mutex g_mu;
std::map<std::pair<int, std::string>, Cell> g_table;  // (op, direction) -> stats

template <class S> S round_to(double v) { return static_cast<S>(v); }
template <> float16 round_to<float16>(double v) { return float16(v); }
template <> bfloat16 round_to<bfloat16>(double v) { return bfloat16(v); }
inline double widen(float v) { return v; }
inline double widen(float16 v) { return static_cast<double>(v); }
inline double widen(bfloat16 v) { return static_cast<double>(v); }

template <class Fn, Dir D, class T> T eval(T x, T dy, P<T> p) {
  if constexpr (D == Dir::forward) return Fn::forward(x, p);
  else if constexpr (D == Dir::from_input) return Fn::backward_from_input(x, dy, p);
  else return Fn::backward_from_output(x, dy, p);
}

template <class S, class Fn, Dir D>
Stat measure(const std::vector<S>& xs, bool random_dy, const actk::Params& prm, Op op, const std::vector<Window>& near0,
             double bound_ulp, double bound_abs) {
  const P<double> pd = P<double>::make(pa(op, prm), pb(op, prm));
  const P<float> pf = P<float>::make(pa(op, prm), pb(op, prm));
  Rng rng(0x5eed + static_cast<std::uint64_t>(op));
  Stat st;
  for (const S& xs_v : xs) {
    const double xd = widen(xs_v);
    const float xf = static_cast<float>(xd);
    double dyd = 1.0;
    if (random_dy) dyd = widen(round_to<S>(rng.uniform(-4, 4)));
    const float dyf = static_cast<float>(dyd);
    const double rd = eval<Fn, D>(xd, dyd, pd);
    const S ref = round_to<S>(rd);
    const S got = round_to<S>(static_cast<double>(eval<Fn, D>(xf, dyf, pf)));
    ++st.count;
    if (D == Dir::from_input && in_windows(near0, xd) && std::isfinite(rd)) {
      const double e = std::fabs(widen(got) - rd) / std::fabs(dyd);
      if (!(e <= st.max_near0)) st.max_near0 = std::isnan(e) ? kHuge : e;
      if (!(e <= bound_abs)) ++st.over;
      continue;
    }
    const double u = ulp_dist(got, ref);
    if (u > st.max_ulp) st.max_ulp = u, st.worst_x = xd;
    if (u > bound_ulp) ++st.over;
  }
  return st;
}

std::vector<float16> all_f16() {
  std::vector<float16> v;
  for (std::uint32_t i = 0; i < 65536; ++i) v.push_back(float16::from_bits(static_cast<std::uint16_t>(i)));
  return v;
}
std::vector<bfloat16> all_bf16() {
  std::vector<bfloat16> v;
  for (std::uint32_t i = 0; i < 65536; ++i) v.push_back(bfloat16::from_bits(static_cast<std::uint16_t>(i)));
  return v;
}

class Accuracy : public ::testing::TestWithParam<Op> {};

std::string fmt_x(double x) {
  std::ostringstream o;
  o << std::setprecision(9) << x;
  return o.str();
}

TEST_P(Accuracy, FloatMathWithinUlpBounds) {
  const Op op = GetParam();
  const actk::Params prm = defaults(op);
  static const std::vector<float16> h = all_f16();
  static const std::vector<bfloat16> b = all_bf16();
  static const std::vector<float> f = float_sweep(2048);
  actk::detail::with_op(op, [&](auto tag) {
    using Tag = decltype(tag);
    using Fn = typename Tag::fn;
    const std::vector<Window> near0 = derivative_zero_windows<Fn>(P<double>::make(pa(op, prm), pb(op, prm)));
    std::string zeros;
    for (const Window& w : near0) zeros += (zeros.empty() ? "" : " ") + std::string("[") + fmt_x(w.lo) + "," + fmt_x(w.hi) + "]";
    auto run = [&](const char* dir_name, auto dir_c, bool rnd, double ulp32, double ulp16) {
      constexpr Dir D = decltype(dir_c)::value;
      Cell c;
      c.zeros = D == Dir::from_input ? zeros : "";
      c.f16 = measure<float16, Fn, D>(h, rnd, prm, op, near0, ulp16, kNear0Abs16);
      c.bf16 = measure<bfloat16, Fn, D>(b, rnd, prm, op, near0, ulp16, kNear0Abs16);
      c.f32 = measure<float, Fn, D>(f, rnd, prm, op, near0, ulp32, kNear0Abs32);
      EXPECT_EQ(c.f16.over, 0) << op_name(op) << " " << dir_name << " float16: max " << c.f16.max_ulp << " ulp at x="
                               << c.f16.worst_x << ", near-zero max " << c.f16.max_near0;
      EXPECT_EQ(c.bf16.over, 0) << op_name(op) << " " << dir_name << " bfloat16: max " << c.bf16.max_ulp
                                << " ulp at x=" << c.bf16.worst_x << ", near-zero max " << c.bf16.max_near0;
      EXPECT_EQ(c.f32.over, 0) << op_name(op) << " " << dir_name << " float32: max " << c.f32.max_ulp << " ulp at x="
                               << fmt_x(c.f32.worst_x) << ", near-zero max " << c.f32.max_near0;
      std::lock_guard<std::mutex> lock(g_mu);
      g_table[{static_cast<int>(op), dir_name}] = c;
    };
    run("forward", std::integral_constant<Dir, Dir::forward>{}, false, kFwdUlp32, kUlp16);
    run("backward(x), dy=1", std::integral_constant<Dir, Dir::from_input>{}, false, kBwdUlp32, kUlp16);
    run("backward(x), random dy", std::integral_constant<Dir, Dir::from_input>{}, true, kBwdUlp32, kUlp16);
    if constexpr (Tag::from_output)
      run("backward(y), dy=1", std::integral_constant<Dir, Dir::from_output>{}, false, kBwdUlp32, kUlp16);
  });
}

INSTANTIATE_TEST_SUITE_P(AllOps, Accuracy, ::testing::ValuesIn(all_ops()),
                         [](const ::testing::TestParamInfo<Op>& i) { return op_name(i.param); });

std::string cell(const Stat& s) {
  std::ostringstream o;
  o << s.max_ulp;
  if (s.max_near0 > 0) o << " (near0 " << std::setprecision(2) << std::scientific << s.max_near0 << ")";
  return o.str();
}

/// Prints the measured table once all tests ran (only the ops that ran are listed).
class TablePrinter : public ::testing::Environment {
 public:
  void TearDown() override {
    if (g_table.empty()) return;
    std::ostringstream o;
    o << "| op | direction | float16 max ulp | bfloat16 max ulp | float32 max ulp | float32 worst x | "
         "near-zero windows of f' |\n|---|---|---|---|---|---|---|\n";
    for (const auto& [key, c] : g_table)
      o << "| " << op_name(static_cast<Op>(key.first)) << " | " << key.second << " | " << cell(c.f16) << " | "
        << cell(c.bf16) << " | " << cell(c.f32) << " | " << fmt_x(c.f32.worst_x) << " | " << c.zeros << " |\n";
    std::cout << "\nMeasured accuracy (ulp of the output type against the double result rounded once; "
                 "near0 = max |error|/|dy| inside the windows):\n"
              << o.str();
    std::set<int> ops;
    for (const auto& kv : g_table) ops.insert(kv.first.first);
    if (static_cast<int>(ops.size()) == actk::op_count) {  // a whole run (not one ctest entry): keep the table
      std::ofstream("accuracy.md") << o.str();
      std::cout << "(written to accuracy.md)\n";
    }
  }
};
const auto* const g_printer = ::testing::AddGlobalTestEnvironment(new TablePrinter);

}  // namespace
