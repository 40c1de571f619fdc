// host/cpu_avx2_f16.cpp: every CPU loop for float16 storage compiled for AVX2 + FMA with libmvec's
// 4-wide double math (host/cpu_simd_loops.h; one type per file keeps each translation unit small
// for a 2-core build).
#include "host/cpu_simd_loops.h"

namespace actk {
namespace detail {

using avx2::IsaAvx2;
#define ACTK_SIMD_ISA IsaAvx2
#define ACTK_SIMD_S float16
ACTK_SIMD_LOOPS(IsaAvx2, float16)

}  // namespace detail
}  // namespace actk
