// kernels/dispatch.cu: the CUDA backend's entry points for the element-wise ops and every fused
// family (host/fused.h's list): the dtype switch, to the launchers instantiated per storage type
// in kernels/elementwise_<type>.cu and kernels/fused_<type>.cu.
#include "kernels/elementwise.cuh"
#include "kernels/fused.cuh"

namespace actk {
namespace detail {

void cuda_elementwise(const ElementwiseCall& c) {
  with_storage(c.dtype, c.call, [&](auto s) { launch_elementwise_typed<decltype(s)>(c); });
}

#define ACTK_FUSED_CUDA(F) \
  void cuda_fused(const F##Call& c) { with_storage(c.dtype, c.call, [&](auto s) { launch_fused_typed<decltype(s)>(c); }); }
ACTK_FUSED_FAMILIES(ACTK_FUSED_CUDA)
#undef ACTK_FUSED_CUDA

}  // namespace detail
}  // namespace actk
