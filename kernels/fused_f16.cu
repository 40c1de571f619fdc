// kernels/fused_f16.cu: every fused op for float16 storage (one file per type keeps each nvcc run
// small enough for a 2-core build).
#include "kernels/fused.cuh"

namespace actk {
namespace detail {
template void fused_dtype<float16>(const FusedCall&);
}  // namespace detail
}  // namespace actk
