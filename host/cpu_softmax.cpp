// host/cpu_softmax.cpp: softmax, log-softmax and attention-style softmax on the CPU, every storage
// type: the reference the GPU is checked against. The row loops (host/cpu_softmax.h) compute each
// row in double, max-subtracted, and round once; rows are spread over threads in chunks. float,
// bfloat16 and float16 take the loops built for AVX-512 or AVX2 where the CPU has them (as the
// element-wise path).
#include "host/cpu_softmax.h"

namespace actk {
namespace detail {

void cpu_softmax(const SoftmaxCall& c) {
  with_storage_isa(
      c.dtype, "cpu_softmax", [&](auto s, auto isa) { cpu_softmax_simd(c, s, isa); },
      [&](auto s) { cpu_softmax_rows<decltype(s), IsaPortable>(c); });
}

void cpu_attention_softmax(const AttentionSoftmaxCall& c) {
  with_storage_isa(
      c.dtype, "cpu_attention_softmax", [&](auto s, auto isa) { cpu_attention_simd(c, s, isa); },
      [&](auto s) { cpu_attention_rows<decltype(s), IsaPortable>(c); });
}

}  // namespace detail
}  // namespace actk
