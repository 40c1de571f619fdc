// host/cpu_avx2.cpp: every CPU loop for float32 storage compiled for AVX2 + FMA with libmvec's
// 4-wide double math (host/cpu_simd_loops.h; one type per file keeps each translation unit small
// for a 2-core build).
#include "host/cpu_simd_loops.h"

namespace actk {
namespace detail {

using avx2::IsaAvx2;
#define ACTK_SIMD_ISA IsaAvx2
#define ACTK_SIMD_S float
ACTK_SIMD_LOOPS(IsaAvx2, float)

}  // namespace detail
}  // namespace actk
