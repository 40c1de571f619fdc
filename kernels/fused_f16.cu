// kernels/fused_f16.cu: every fused op for float16 storage (one file per type keeps each nvcc run
// small enough for a 2-core build).
// 16-bit results: the device's expf is accurate enough and much cheaper (actk/math.h)
#define ACTK_DEVICE_FAST_EXP 1
#include "kernels/fused.cuh"

namespace actk {
namespace detail {
template void fused_dtype<float16>(const FusedCall&);
}  // namespace detail
}  // namespace actk
