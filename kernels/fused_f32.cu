// kernels/fused_f32.cu: every fused family and op for float storage (one file per type keeps each nvcc run
// small enough for a 2-core build).
#include "kernels/fused.cuh"

namespace actk {
namespace detail {
#define ACTK_FUSED_INSTANTIATE(F) template void launch_fused_typed<float, F##Call>(const F##Call&);
ACTK_FUSED_FAMILIES(ACTK_FUSED_INSTANTIATE)
#undef ACTK_FUSED_INSTANTIATE
}  // namespace detail
}  // namespace actk
