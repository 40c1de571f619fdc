// host/cpu_lut.h: 16-bit forwards by table. A bfloat16 or float16 input has 65,536 possible values,
// so an element-wise forward with a plain blend (out = f(x)) is a function of the input's 16 bits
// alone: the CPU path runs the op's own loop (same functor, same instruction set, same
// conversions) once over all 65,536 inputs, keeps the results, and then answers each element with
// one table read. For the ops whose double math costs most (gelu: erfc and exp per element) that is
// 10x and more; for cheap ops whose cost is the 16-bit rounding from double (linear, leaky_relu)
// about 1.4x (issue #18, bench/NOTES.md).
//
// The bits: the table holds what the loop gives the 65,536 inputs in one call, in order (four full
// chunks, so its vector loop's body). A direct call's last few elements (its loop's scalar tail)
// take glibc's scalar math instead of libmvec's, which in gelu, mish, tanhshrink, sine and tanh
// sits one output ulp away for a handful of inputs (the gap tests/test_cpu_loops.cpp pins between
// the vectorized and the portable loops); with the table, an input's result no longer depends on
// its position.
//
// Every call of at least kLutMin elements (a plain blend, tables on) takes a table, building it
// first if it is not cached: one threshold, so whether a call reads a table never depends on what
// ran before it (building one costs 65,536 elements of the direct loop). The cache holds 16
// tables, keyed by op, dtype, instruction set and the parameters' bits; a rebuilt table has the
// same bits. ACTK_CPU_LUT=0 in the environment (or set_cpu_lut_enabled(false)) turns tables off.
// The floating-point environment is not part of the key: like the OpenMP workers of the direct
// loops, tables assume the default rounding mode.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace actk {
namespace detail {

constexpr std::int64_t kLutMin = std::int64_t{1} << 17;
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
/// How many calls have read a table (counted by forward_by_table; tests check which calls do).
std::uint64_t lut_reads();
void lut_count_read();

}  // namespace detail
}  // namespace actk
