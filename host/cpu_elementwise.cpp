// host/cpu_elementwise.cpp: the element-wise ops on the CPU: the dtype dispatch, and the choice
// between the vectorized loops (AVX-512 or AVX2) and the portable ones (the loops themselves:
// host/cpu.h, instantiated per type in host/cpu_<type>.cpp and host/cpu_avx*.cpp).
#include <cstdlib>
#include <cstring>

#include "host/cpu.h"

namespace actk {
namespace detail {

CpuSimd cpu_simd() {
#if defined(ACTK_CPU_AVX2)
  static const CpuSimd use = [] {
    const char* env = std::getenv("ACTK_CPU_SIMD");
    if (env != nullptr && std::strcmp(env, "0") == 0) return CpuSimd::portable;
    __builtin_cpu_init();  // (libgcc's feature bits count AVX-512 only where the OS saves its state)
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return CpuSimd::portable;
    if (env != nullptr && std::strcmp(env, "avx2") == 0) return CpuSimd::avx2;
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
    return avx512 ? CpuSimd::avx512 : CpuSimd::avx2;
  }();
  return use;
#else
  return CpuSimd::portable;
#endif
}

const char* cpu_simd_name() {
  switch (cpu_simd()) {
    case CpuSimd::avx512: return "AVX-512";
    case CpuSimd::avx2: return "AVX2";
    default: return "portable";
  }
}

void cpu_elementwise(const ElementwiseCall& c) {
  with_storage_isa(
      c.dtype, "cpu_elementwise", [&](auto s, auto isa) { cpu_elementwise_simd(c, s, isa); },
      [&](auto s) { cpu_elementwise_typed<decltype(s)>(c); });
}

}  // namespace detail
}  // namespace actk
