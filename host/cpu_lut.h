// host/cpu_lut.h: 16-bit forwards by table. A bfloat16 or float16 input has 65,536 possible values,
// so an element-wise forward with a plain blend (out = f(x)) is a function of the input's 16 bits
// alone: the CPU path computes f once for every one of them, with the very loop a direct call runs
// (same functor, same instruction set, same conversions: the same bits by construction), keeps the
// 65,536 results, and then answers each element with one table read. For the ops whose double math
// costs most (gelu: erfc and exp per element) that is 10x and more; for cheap ops whose cost is the
// 16-bit rounding from double (linear, leaky_relu) about 1.5x (issue #18, bench/NOTES.md).
//
// Tables are built for calls of at least kLutBuildMin elements (building one is 65,536 elements of
// the direct loop) and kept in a small process-wide cache keyed by op, dtype, instruction set and
// the parameters' bits; a cached table serves any call of at least kLutUseMin elements.
// ACTK_CPU_LUT=0 in the environment (or set_cpu_lut_enabled(false)) turns the tables off.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace actk {
namespace detail {

constexpr std::int64_t kLutBuildMin = std::int64_t{1} << 17;
constexpr std::int64_t kLutUseMin = std::int64_t{1} << 13;
constexpr std::size_t kLutEntries = 65536;

/// What a table's results depend on: the op, the storage type, the loops' instruction set (the
/// vectorized math may sit one ulp from the portable math near a tie) and the parameters' bits.
struct LutKey {
  int op, dtype, isa;
  std::uint64_t a, b;
  bool operator==(const LutKey& o) const { return op == o.op && dtype == o.dtype && isa == o.isa && a == o.a && b == o.b; }
};
using Lut = std::shared_ptr<const std::vector<std::uint16_t>>;

/// The cached table for key, or null (host/cpu_lut.cpp; thread-safe).
Lut lut_find(const LutKey& key);
/// Stores table under key (the least recently used of the cache's 16 tables makes room) and
/// returns the table the cache holds for key: table, or one another thread stored first.
Lut lut_insert(const LutKey& key, std::vector<std::uint16_t>&& table);
/// Whether calls may use tables (ACTK_CPU_LUT=0 says no; tests compare both ways).
bool cpu_lut_enabled();
void set_cpu_lut_enabled(bool on);
/// Drops every cached table.
void lut_clear();

}  // namespace detail
}  // namespace actk
