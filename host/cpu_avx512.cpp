// host/cpu_avx512.cpp: every CPU loop for float32 storage compiled for AVX-512 with libmvec's
// 8-wide double math (host/cpu_simd_loops.h; one type per file keeps each translation unit small
// for a 2-core build).
#include "host/cpu_simd_loops.h"

namespace actk {
namespace detail {

using avx2::IsaAvx512;
#define ACTK_SIMD_ISA IsaAvx512
#define ACTK_SIMD_S float
ACTK_SIMD_LOOPS(IsaAvx512, float)

}  // namespace detail
}  // namespace actk
