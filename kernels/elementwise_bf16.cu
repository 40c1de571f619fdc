// kernels/elementwise_bf16.cu: every op and direction for bfloat16 storage (one file per type keeps
// each nvcc run small enough for a 2-core build).
// 16-bit results: the device's expf is accurate enough and much cheaper (actk/math.h)
#define ACTK_DEVICE_FAST_EXP 1
#include "kernels/elementwise.cuh"

namespace actk {
namespace detail {
template void launch_elementwise_typed<bfloat16>(const ElementwiseCall&);
}  // namespace detail
}  // namespace actk
