// kernels/fused_f16.cu: every fused family and op for float16 storage (one file per type keeps each nvcc run
// small enough for a 2-core build).
// 16-bit results: the device's expf is accurate enough and much cheaper (actk/math.h)
#define ACTK_DEVICE_FAST_EXP 1
#include "kernels/fused.cuh"

namespace actk {
namespace detail {
#define ACTK_FUSED_INSTANTIATE(F) template void launch_fused_typed<float16, F##Call>(const F##Call&);
ACTK_FUSED_FAMILIES(ACTK_FUSED_INSTANTIATE)
#undef ACTK_FUSED_INSTANTIATE
}  // namespace detail
}  // namespace actk
