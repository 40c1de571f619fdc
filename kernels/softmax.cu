// kernels/softmax.cu: the GPU softmax's entry point: picks the path for the call's shape (the
// paths and the files holding them: kernels/softmax.cuh).
#include "kernels/softmax.cuh"

namespace actk {
namespace detail {

namespace {

template <class S> void softmax_typed(const SoftmaxCall& c) {
  cudaStream_t s = static_cast<cudaStream_t>(c.stream);
  const char* call = c.backward ? "softmax_backward" : "softmax_forward";
  if (c.inner > 1) return softmax_axis<S>(c, s, call);
  if (c.axis <= 1024) return softmax_short_rows<S>(c, s, call);
  const int dev = current_device(), sms = device_attr<cudaDevAttrMultiProcessorCount>(dev);  // once per call
  if (softmax_slice_rows<S>(c, s, call, dev, sms)) return;
  softmax_axis<S>(c, s, call);
}

}  // namespace

void cuda_softmax(const SoftmaxCall& c) {
  with_storage(c.dtype, "cuda_softmax", [&](auto s) { softmax_typed<decltype(s)>(c); });
}

}  // namespace detail
}  // namespace actk
