// tests/common.h: helpers shared by the test suites: ulp distances, op iteration, value sweeps.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "actk/actk.h"
#include "actk/detail/op_switch.h"

namespace actk_test {

using actk::bfloat16;
using actk::float16;
using actk::Op;

inline std::vector<Op> all_ops() {
  std::vector<Op> v;
  for (int i = 0; i < actk::op_count; ++i) v.push_back(static_cast<Op>(i));
  return v;
}

inline std::vector<Op> from_output_ops() {
  std::vector<Op> v;
  for (Op op : all_ops())
    if (actk::op_info(op).has_backward_from_output) v.push_back(op);
  return v;
}

inline std::string op_name(Op op) { return actk::op_info(op).name; }

/// A double in storage type S (float16 and bfloat16 round to nearest through their constructors):
/// the one conversion helper of every suite, CPU and GPU.
template <class S> S to(double v) {
  if constexpr (std::is_same_v<S, float16> || std::is_same_v<S, bfloat16>) return S(v);
  else return static_cast<S>(v);
}

/// Params with every parameter at its default, as explicit numbers.
// ---- directions ---------------------------------------------------------------------------------

/// forward, backward from the input, backward from the output (actk's own, include/actk/detail).
using actk::detail::Dir;
inline constexpr Dir kAllDirs[] = {Dir::forward, Dir::from_input, Dir::from_output};

inline const char* dir_name(Dir d) {
  switch (d) {
    case Dir::forward: return "forward";
    case Dir::from_input: return "backward from the input";
    case Dir::from_output: return "backward from the output";
  }
  return "?";
}
/// The public API's From for a backward direction.
inline actk::From from_of(Dir d) { return d == Dir::from_output ? actk::From::output : actk::From::input; }

inline actk::Params defaults(Op op) {
  const actk::OpInfo& i = actk::op_info(op);
  actk::Params p;
  if (i.n_params > 0) p.a = i.param_defaults[0];
  if (i.n_params > 1) p.b = i.param_defaults[1];
  return p;
}
inline double pa(Op op, const actk::Params& p) { return actk::op_info(op).n_params > 0 ? p.a : 0.0; }
inline double pb(Op op, const actk::Params& p) { return actk::op_info(op).n_params > 1 ? p.b : 0.0; }

inline std::uint32_t bits(float f) { std::uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float from_bits(std::uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

/// Position of a value on the ordered line of representable values (sign-magnitude -> integer).
inline std::int64_t ordinal32(float f) {
  const std::uint32_t u = bits(f);
  return (u & 0x80000000u) ? -static_cast<std::int64_t>(u & 0x7fffffffu) : static_cast<std::int64_t>(u);
}
inline std::int64_t ordinal16(std::uint16_t u) {
  return (u & 0x8000u) ? -static_cast<std::int64_t>(u & 0x7fffu) : static_cast<std::int64_t>(u);
}

constexpr double kHuge = 1e300;  // the distance reported when NaN-ness differs

/// Distance in ulps between a computed and a reference value (0 = identical; +-0 are equal;
/// two NaNs are equal; NaN against a number is kHuge).
inline double ulp_dist(float got, float ref) {
  if (std::isnan(got) || std::isnan(ref)) return std::isnan(got) && std::isnan(ref) ? 0 : kHuge;
  return static_cast<double>(std::llabs(ordinal32(got) - ordinal32(ref)));
}
inline double ulp_dist(float16 got, float16 ref) {
  const bool gn = std::isnan(static_cast<double>(got)), rn = std::isnan(static_cast<double>(ref));
  if (gn || rn) return gn && rn ? 0 : kHuge;
  return static_cast<double>(std::llabs(ordinal16(got.bits) - ordinal16(ref.bits)));
}
inline double ulp_dist(bfloat16 got, bfloat16 ref) {
  const bool gn = std::isnan(static_cast<double>(got)), rn = std::isnan(static_cast<double>(ref));
  if (gn || rn) return gn && rn ? 0 : kHuge;
  return static_cast<double>(std::llabs(ordinal16(got.bits) - ordinal16(ref.bits)));
}

/// A dense float32 sweep: for both signs and every exponent (subnormals included), `per`
/// significands spread evenly over the binade, plus +-0, +-inf, NaN and the extremes.
inline std::vector<float> float_sweep(int per) {
  std::vector<float> v;
  for (std::uint32_t sign = 0; sign < 2; ++sign)
    for (std::uint32_t e = 0; e < 255; ++e)
      for (int k = 0; k < per; ++k) {
        const std::uint32_t m = static_cast<std::uint32_t>((static_cast<std::uint64_t>(k) * 0x7fffffu) / (per - 1));
        v.push_back(from_bits((sign << 31) | (e << 23) | m));
      }
  v.push_back(std::numeric_limits<float>::infinity());
  v.push_back(-std::numeric_limits<float>::infinity());
  v.push_back(std::numeric_limits<float>::quiet_NaN());
  return v;
}

/// Deterministic pseudo-random numbers (splitmix64) for dy and test data.
struct Rng {
  std::uint64_t s;
  explicit Rng(std::uint64_t seed) : s(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform(double lo, double hi) { return lo + (hi - lo) * static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

struct Window { double lo, hi; };

/// Zeros of f' (sign changes of the double derivative on [-40, 40]) widened to where |f'| < 1/16.
template <class Fn> std::vector<Window> derivative_zero_windows(actk::P<double> p) {
  auto d = [&](double x) { return Fn::backward_from_input(x, 1.0, p); };
  std::vector<Window> w;
  const double step = 1.0 / 256;
  double prev = d(-40);
  for (double x = -40 + step; x <= 40; x += step) {
    const double cur = d(x);
    if (std::isfinite(prev) && std::isfinite(cur) && ((prev < 0 && cur > 0) || (prev > 0 && cur < 0)) &&
        std::fabs(prev) < 0.25 && std::fabs(cur) < 0.25) {
      double lo = x - step, hi = x;
      while (std::fabs(d(lo)) < 1.0 / 16 && lo > x - 8) lo -= 1.0 / 1024;
      while (std::fabs(d(hi)) < 1.0 / 16 && hi < x + 8) hi += 1.0 / 1024;
      w.push_back({lo, hi});
    }
    prev = cur;
  }
  return w;
}

inline bool in_windows(const std::vector<Window>& w, double x) {
  for (const Window& k : w)
    if (x >= k.lo && x <= k.hi) return true;
  return false;
}

}  // namespace actk_test
