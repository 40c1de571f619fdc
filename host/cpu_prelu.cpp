// host/cpu_prelu.cpp: PReLU's CPU entry point, every storage type: the loop of host/cpu_prelu.h,
// portable, or built for AVX-512 or AVX2 (host/cpu_simd_loops.h) where the CPU has them.
#include "host/cpu_prelu.h"

namespace actk {
namespace detail {

void cpu_prelu(const PreluCall& c) {
  with_storage_isa(
      c.dtype, "cpu_prelu", [&](auto s, auto isa) { cpu_prelu_simd(c, s, isa); }, [&](auto s) { cpu_prelu_typed<decltype(s), IsaPortable>(c); });
}

void cpu_prelu_portable(const PreluCall& c) {
  with_storage(c.dtype, "cpu_prelu", [&](auto s) { cpu_prelu_typed<decltype(s), IsaPortable>(c); });
}

}  // namespace detail
}  // namespace actk
