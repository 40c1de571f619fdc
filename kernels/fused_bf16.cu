// kernels/fused_bf16.cu: every fused op for bfloat16 storage (one file per type keeps each nvcc run
// small enough for a 2-core build).
#include "kernels/fused.cuh"

namespace actk {
namespace detail {
template void fused_dtype<bfloat16>(const FusedCall&);
}  // namespace detail
}  // namespace actk
