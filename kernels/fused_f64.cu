// kernels/fused_f64.cu: every fused op for double storage (one file per type keeps each nvcc run
// small enough for a 2-core build).
#include "kernels/fused.cuh"

namespace actk {
namespace detail {
template void fused_dtype<double>(const FusedCall&);
}  // namespace detail
}  // namespace actk
