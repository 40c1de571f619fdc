// host/cpu_softmax.cpp: softmax, log-softmax and attention-style softmax on the CPU, every storage
// type: the reference the GPU is checked against. The row loops (host/cpu_softmax.h) compute each
// row in double, max-subtracted, and round once; rows are spread over threads in chunks. float,
// bfloat16 and float16 take the loops built for AVX2 where the CPU has it (as the element-wise path).
#include "host/cpu_softmax.h"

namespace actk {
namespace detail {

void cpu_softmax(const SoftmaxCall& c) {
  with_storage(c.dtype, "cpu_softmax", [&](auto s) {
    using S = decltype(s);
#if defined(ACTK_CPU_AVX2)
    if constexpr (kHasAvx2Loops<S>) {
      if (cpu_use_avx2()) return cpu_softmax_avx2(c, S{});
    }
#endif
    cpu_softmax_rows<S, IsaPortable>(c);
  });
}

void cpu_attention_softmax(const AttentionSoftmaxCall& c) {
  with_storage(c.dtype, "cpu_attention_softmax", [&](auto s) {
    using S = decltype(s);
#if defined(ACTK_CPU_AVX2)
    if constexpr (kHasAvx2Loops<S>) {
      if (cpu_use_avx2()) return cpu_attention_avx2(c, S{});
    }
#endif
    cpu_attention_rows<S, IsaPortable>(c);
  });
}

}  // namespace detail
}  // namespace actk
