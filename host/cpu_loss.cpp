// host/cpu_loss.cpp: cross-entropy's CPU entry point, every storage type: the row loops of
// host/cpu_loss.h, portable, or vectorized (host/cpu_simd_loops.h) where the CPU has AVX-512 or
// AVX2.
#include "host/cpu_loss.h"

namespace actk {
namespace detail {

void cpu_cross_entropy(const CrossEntropyCall& c) {
  with_storage_isa(
      c.dtype, "cpu_cross_entropy", [&](auto s, auto isa) { cpu_cross_entropy_simd(c, s, isa); },
      [&](auto s) { cpu_cross_entropy_typed<decltype(s), IsaPortable>(c); });
}

void cpu_cross_entropy_portable(const CrossEntropyCall& c) {
  with_storage(c.dtype, "cpu_cross_entropy", [&](auto s) { cpu_cross_entropy_typed<decltype(s), IsaPortable>(c); });
}

}  // namespace detail
}  // namespace actk
