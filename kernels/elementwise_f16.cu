// kernels/elementwise_f16.cu: every op and direction for float16 storage (one file per type keeps
// each nvcc run small enough for a 2-core build).
#include "kernels/elementwise.cuh"

namespace actk {
namespace detail {
template void launch_elementwise_typed<float16>(const ElementwiseCall&);
}  // namespace detail
}  // namespace actk
