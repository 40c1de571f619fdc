// host/cpu_avx2.cpp: the CPU loops compiled for AVX2 + FMA with libmvec's 4-wide double math
// (host/simd_math.h): the element-wise and every fused family's loops, for float and bfloat16
// storage (float16's: host/cpu_avx2_f16.cpp, to keep each translation unit small). The same functors, in double, rounded once.
// Only IsaAvx2::run is built for AVX2 (a target attribute, not a file-wide -mavx2), so no AVX2
// code can leak into shared inline functions; cpu_use_avx2() picks these loops at run time.
#include "host/simd_math.h"  // first: the vector declarations must precede every use

#include "host/cpu.h"
#include "host/cpu_fused.h"
#include "host/cpu_isa_avx2.h"
#include "host/cpu_prelu.h"

namespace actk {
namespace detail {

using avx2::IsaAvx2;

void cpu_elementwise_avx2(const ElementwiseCall& c, float) { cpu_elementwise_typed<float, IsaAvx2>(c); }
void cpu_elementwise_avx2(const ElementwiseCall& c, bfloat16) { cpu_elementwise_typed<bfloat16, IsaAvx2>(c); }

#define ACTK_FUSED_AVX2(F)                                                                      \
  void cpu_fused_avx2(const F##Call& c, float) { cpu_fused_typed<float, IsaAvx2>(c); }          \
  void cpu_fused_avx2(const F##Call& c, bfloat16) { cpu_fused_typed<bfloat16, IsaAvx2>(c); }
ACTK_FUSED_FAMILIES(ACTK_FUSED_AVX2)
#undef ACTK_FUSED_AVX2

void cpu_prelu_avx2(const PreluCall& c, float) { cpu_prelu_typed<float, IsaAvx2>(c); }
void cpu_prelu_avx2(const PreluCall& c, bfloat16) { cpu_prelu_typed<bfloat16, IsaAvx2>(c); }

}  // namespace detail
}  // namespace actk
