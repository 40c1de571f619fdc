// host/cpu_avx2_f16.cpp: host/cpu_avx2.cpp's loops for float16 storage (the element-wise and every
// fused family's), with host/cpu_isa_avx2.h's branch-free float16 conversions. A file of its own
// so that neither AVX2 translation unit grows past what a 2-core build compiles comfortably.
#include "host/simd_math.h"  // first: the vector declarations must precede every use

#include "host/cpu.h"
#include "host/cpu_fused.h"
#include "host/cpu_isa_avx2.h"
#include "host/cpu_prelu.h"

namespace actk {
namespace detail {

using avx2::IsaAvx2;

void cpu_elementwise_avx2(const ElementwiseCall& c, float16) { cpu_elementwise_typed<float16, IsaAvx2>(c); }

#define ACTK_FUSED_AVX2_F16(F) \
  void cpu_fused_avx2(const F##Call& c, float16) { cpu_fused_typed<float16, IsaAvx2>(c); }
ACTK_FUSED_FAMILIES(ACTK_FUSED_AVX2_F16)
#undef ACTK_FUSED_AVX2_F16

void cpu_prelu_avx2(const PreluCall& c, float16) { cpu_prelu_typed<float16, IsaAvx2>(c); }

}  // namespace detail
}  // namespace actk
