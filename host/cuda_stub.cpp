// host/cuda_stub.cpp: the CUDA entry points of a CPU-only build. The dispatch never reaches them
// (backend cuda is refused earlier with Status::unsupported); they throw rather than do nothing.
#include "host/internal.h"

namespace actk {
namespace detail {

void cuda_elementwise(const ElementwiseCall&) {
  throw Error(Status::unsupported, "actk: this build has no CUDA kernels (ACTK_ENABLE_CUDA=OFF or no toolkit)");
}
void cuda_softmax(const SoftmaxCall&) {
  throw Error(Status::unsupported, "actk: this build has no CUDA kernels (ACTK_ENABLE_CUDA=OFF or no toolkit)");
}
void cuda_fused(const FusedCall&) {
  throw Error(Status::unsupported, "actk: this build has no CUDA kernels (ACTK_ENABLE_CUDA=OFF or no toolkit)");
}
void cuda_prelu(const PreluCall&) {
  throw Error(Status::unsupported, "actk: this build has no CUDA kernels (ACTK_ENABLE_CUDA=OFF or no toolkit)");
}

}  // namespace detail
}  // namespace actk
