// host/cpu_fused.cpp: the fused ops on the CPU, every dtype: bias + activation (forward, and
// backward with dbias summed in double in row order) and gated activations (forward, and both
// halves' gradients in one pass), with cuDNN-style output blending. The element math is the op
// list's functors in double, rounded once, as for the plain ops. The loops are in
// host/cpu_fused.h (row at a time); float32/bfloat16 on AVX2 CPUs take host/cpu_avx2.cpp's build.
#include <type_traits>

#include "host/cpu_fused.h"

namespace actk {
namespace detail {

void cpu_fused(const FusedCall& c) {
  with_storage(c.dtype, "cpu_fused", [&](auto s) {
    using S = decltype(s);
#if defined(ACTK_CPU_AVX2)
    if constexpr (std::is_same_v<S, float> || std::is_same_v<S, bfloat16>) {  // as the element-wise path
      if (cpu_use_avx2()) return cpu_fused_avx2<S>(c);
    }
#endif
    cpu_fused_typed<S>(c);
  });
}

}  // namespace detail
}  // namespace actk
