// host/cpu_elementwise.cpp: the element-wise ops on the CPU: the dtype dispatch, and the choice
// between the AVX2 loops and the portable ones (the loops themselves: host/cpu.h, instantiated
// per type in host/cpu_<type>.cpp and host/cpu_avx2.cpp).
#include <cstdlib>
#include <cstring>

#include "host/cpu.h"

namespace actk {
namespace detail {

bool cpu_use_avx2() {
#if defined(ACTK_CPU_AVX2)
  static const bool use = [] {
    const char* env = std::getenv("ACTK_CPU_SIMD");
    if (env != nullptr && std::strcmp(env, "0") == 0) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return use;
#else
  return false;
#endif
}

void cpu_elementwise(const ElementwiseCall& c) {
  with_storage_isa(
      c.dtype, "cpu_elementwise", [&](auto s) { cpu_elementwise_avx2(c, s); },
      [&](auto s) { cpu_elementwise_typed<decltype(s)>(c); });
}

}  // namespace detail
}  // namespace actk
