// tests/test_golden.cpp: the math itself, against values computed at high precision by
// tests/golden/gen_golden.py (mpmath). Each row goes through the public API on the CPU path in
// float64, so defaults and parameter passing are checked too. Tolerance: 2^-40 relative (far
// inside a float32 ulp, so the float reference rounds right), plus 2^-50 |dy| absolute for
// backward rows (a zero of f' cannot hold a relative bound), plus a few double subnormal steps.
#include <gtest/gtest.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common.h"

namespace {

using namespace actk_test;

struct Row {
  std::string op, dir;
  double a, b, x, dy, expected;
  int line;
};

double parse(const std::string& s) {
  if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (s == "inf") return std::numeric_limits<double>::infinity();
  if (s == "-inf") return -std::numeric_limits<double>::infinity();
  return std::strtod(s.c_str(), nullptr);  // correctly rounded; values past the double range become +-inf/0
}

std::vector<Row> load_rows() {
  std::ifstream f(ACTK_GOLDEN_CSV);
  std::vector<Row> rows;
  std::string line;
  int no = 0;
  while (std::getline(f, line)) {
    ++no;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fld;
    std::stringstream ss(line);
    std::string t;
    while (std::getline(ss, t, ',')) fld.push_back(t);
    if (fld.size() != 7) throw std::runtime_error("golden.csv line " + std::to_string(no) + ": expected 7 fields");
    rows.push_back(Row{fld[0], fld[1], parse(fld[2]), parse(fld[3]), parse(fld[4]), parse(fld[5]), parse(fld[6]), no});
  }
  return rows;
}

const std::vector<Row>& rows() {
  static const std::vector<Row> r = load_rows();
  return r;
}

TEST(Golden, FileCoversEveryOpAndDirection) {
  ASSERT_GT(rows().size(), 1000u) << "golden file " << ACTK_GOLDEN_CSV << " missing or short";
  std::map<std::string, std::map<std::string, int>> seen;
  for (const Row& r : rows()) seen[r.op][r.dir]++;
  for (Op op : all_ops()) {
    const std::string n = op_name(op);
    EXPECT_GE(seen[n]["fwd"], 20) << n;
    EXPECT_GE(seen[n]["bwd_in"], 20) << n;
    if (actk::op_info(op).has_backward_from_output) EXPECT_GE(seen[n]["bwd_out"], 5) << n;
    else EXPECT_EQ(seen[n]["bwd_out"], 0) << n;
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(actk::op_count)) << "rows name an op that is not in the list";
}

class GoldenOp : public ::testing::TestWithParam<Op> {};

TEST_P(GoldenOp, MatchesHighPrecisionValues) {
  const Op op = GetParam();
  const std::string name = op_name(op);
  int checked = 0, failed = 0;
  for (const Row& r : rows()) {
    if (r.op != name) continue;
    actk::Params p;
    if (actk::op_info(op).n_params > 0) p.a = r.a;
    if (actk::op_info(op).n_params > 1) p.b = r.b;
    double got = std::numeric_limits<double>::quiet_NaN();
    if (r.dir == "fwd") actk::forward(op, &r.x, &got, 1, p, actk::Backend::cpu);
    else
      actk::backward(op, r.dir == "bwd_in" ? actk::From::input : actk::From::output, &r.x, &r.dy, &got, 1, p,
                     actk::Backend::cpu);
    ++checked;
    bool ok;
    if (std::isnan(r.expected)) ok = std::isnan(got);
    else if (std::isinf(r.expected)) ok = got == r.expected;
    else {
      double tol = std::ldexp(std::fabs(r.expected), -40) + 4 * std::numeric_limits<double>::denorm_min();
      if (r.dir != "fwd") tol = std::max(tol, std::ldexp(std::fabs(r.dy), -50));
      ok = std::fabs(got - r.expected) <= tol;
      // the sign of a zero result matters where the file gives a signed zero at a finite input
      if (ok && r.expected == 0 && got == 0 && std::isfinite(r.x) && r.dir == "fwd")
        ok = std::signbit(got) == std::signbit(r.expected) || r.x != 0;
    }
    if (!ok && ++failed <= 15)
      ADD_FAILURE() << name << " " << r.dir << " (golden.csv line " << r.line << ") a=" << r.a << " b=" << r.b
                    << " x=" << r.x << " dy=" << r.dy << ": got " << std::setprecision(17) << got << ", expected "
                    << r.expected << " (rel err " << std::fabs(got - r.expected) / std::fabs(r.expected) << ")";
  }
  EXPECT_GT(checked, 40) << name;
  EXPECT_EQ(failed, 0) << name << ": " << failed << " of " << checked << " rows off";
}

INSTANTIATE_TEST_SUITE_P(AllOps, GoldenOp, ::testing::ValuesIn(all_ops()),
                         [](const ::testing::TestParamInfo<Op>& i) { return op_name(i.param); });

}  // namespace
