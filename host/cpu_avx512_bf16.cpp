// host/cpu_avx512_bf16.cpp: every CPU loop for bfloat16 storage compiled for AVX-512 with libmvec's
// 8-wide double math (host/cpu_simd_loops.h; one type per file keeps each translation unit small
// for a 2-core build).
#include "host/cpu_simd_loops.h"

namespace actk {
namespace detail {

using avx2::IsaAvx512;
#define ACTK_SIMD_ISA IsaAvx512
#define ACTK_SIMD_S bfloat16
ACTK_SIMD_LOOPS(IsaAvx512, bfloat16)

}  // namespace detail
}  // namespace actk
