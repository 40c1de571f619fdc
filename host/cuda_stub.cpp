// host/cuda_stub.cpp: the CUDA entry points of a CPU-only build. The dispatch never reaches them
// (backend cuda is refused earlier with Status::unsupported); they throw rather than do nothing.
#include "host/calls.h"
#include "host/fused.h"

namespace actk {
namespace detail {

void cuda_elementwise(const ElementwiseCall&) {
  throw Error(Status::unsupported, "actk: this build has no CUDA kernels (ACTK_ENABLE_CUDA=OFF or no toolkit)");
}
void cuda_cross_entropy(const CrossEntropyCall&) {
  throw Error(Status::unsupported, "actk: this build has no CUDA kernels (ACTK_ENABLE_CUDA=OFF or no toolkit)");
}
void cuda_softmax(const SoftmaxCall&) {
  throw Error(Status::unsupported, "actk: this build has no CUDA kernels (ACTK_ENABLE_CUDA=OFF or no toolkit)");
}
void cuda_attention_softmax(const AttentionSoftmaxCall&) {
  throw Error(Status::unsupported, "actk: this build has no CUDA kernels (ACTK_ENABLE_CUDA=OFF or no toolkit)");
}
#define ACTK_FUSED_STUB(F)                                                                                \
  void cuda_fused(const F##Call&) {                                                                       \
    throw Error(Status::unsupported, "actk: this build has no CUDA kernels (ACTK_ENABLE_CUDA=OFF or no toolkit)"); \
  }
ACTK_FUSED_FAMILIES(ACTK_FUSED_STUB)
#undef ACTK_FUSED_STUB
void cuda_prelu(const PreluCall&) {
  throw Error(Status::unsupported, "actk: this build has no CUDA kernels (ACTK_ENABLE_CUDA=OFF or no toolkit)");
}

}  // namespace detail
}  // namespace actk
