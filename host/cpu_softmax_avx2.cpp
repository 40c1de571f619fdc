// host/cpu_softmax_avx2.cpp: the softmax and attention-softmax row loops (host/cpu_softmax.h)
// compiled for AVX2 + FMA with libmvec's 4-wide exp, for float, bfloat16 and float16 storage; picked at run
// time as the element-wise loops are (cpu_use_avx2()).
#include "host/simd_math.h"  // first: the vector declarations must precede every use

#include "host/cpu_isa_avx2.h"
#include "host/cpu_softmax.h"

namespace actk {
namespace detail {

using avx2::IsaAvx2;

void cpu_softmax_avx2(const SoftmaxCall& c, float) { cpu_softmax_rows<float, IsaAvx2>(c); }
void cpu_softmax_avx2(const SoftmaxCall& c, bfloat16) { cpu_softmax_rows<bfloat16, IsaAvx2>(c); }
void cpu_softmax_avx2(const SoftmaxCall& c, float16) { cpu_softmax_rows<float16, IsaAvx2>(c); }
void cpu_attention_avx2(const AttentionSoftmaxCall& c, float) { cpu_attention_rows<float, IsaAvx2>(c); }
void cpu_attention_avx2(const AttentionSoftmaxCall& c, bfloat16) { cpu_attention_rows<bfloat16, IsaAvx2>(c); }
void cpu_attention_avx2(const AttentionSoftmaxCall& c, float16) { cpu_attention_rows<float16, IsaAvx2>(c); }

}  // namespace detail
}  // namespace actk
