// kernels/elementwise_f64.cu: every op and direction for double storage (one file per type keeps
// each nvcc run small enough for a 2-core build).
#include "kernels/elementwise.cuh"

namespace actk {
namespace detail {
template void launch_elementwise_typed<double>(const ElementwiseCall&);
}  // namespace detail
}  // namespace actk
