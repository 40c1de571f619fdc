// kernels/launch.cu: the CUDA backend's entry points: dtype dispatch for the element-wise ops,
// PReLU (forward element-wise; backward dx element-wise plus dalpha reduced per channel by one
// block in a fixed order, so it is bitwise reproducible without float atomics), and the cached
// launch geometry.
#include <cub/block/block_reduce.cuh>

#include <mutex>
#include <vector>

#include "kernels/elementwise.cuh"

namespace actk {
namespace detail {

int sm_count() {
  static std::mutex mu;
  static std::vector<int> sms;  // per device ordinal, 0 = not asked yet
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) check_launch("cudaGetDevice");
  std::lock_guard<std::mutex> lock(mu);
  if (static_cast<int>(sms.size()) <= dev) sms.resize(static_cast<std::size_t>(dev) + 1, 0);
  int& v = sms[static_cast<std::size_t>(dev)];
  if (v == 0) {
    if (cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) check_launch("cudaDeviceGetAttribute");
    if (v <= 0) v = 1;
  }
  return v;
}

void check_launch(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw Error(Status::cuda_error, std::string("actk: ") + what + " failed: " + cudaGetErrorName(e) + ": " +
                                        cudaGetErrorString(e));
}

void cuda_elementwise(const ElementwiseCall& c) {
  switch (c.dtype) {
    case DType::float32: return launch_elementwise_typed<float>(c);
    case DType::float64: return launch_elementwise_typed<double>(c);
    case DType::float16: return launch_elementwise_typed<float16>(c);
    case DType::bfloat16: return launch_elementwise_typed<bfloat16>(c);
  }
  throw Error(Status::internal, "cuda_elementwise: bad dtype");
}

namespace {

template <class S>
__global__ void prelu_kernel(const S* __restrict__ x, const S* __restrict__ alpha, const S* __restrict__ dy, S* out,
                             std::int64_t n, std::int64_t channels, std::int64_t inner) {
  using T = typename Compute<S>::type;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const P<T> p = P<T>::make(static_cast<double>(dload(alpha[(i / inner) % channels])), 0.0);
    const T xv = dload(x[i]);
    out[i] = dstore<S>(dy ? ops::PRelu::backward_from_input(xv, dload(dy[i]), p) : ops::PRelu::forward(xv, p));
  }
}

// dalpha[c]: block c walks its channel's elements in a fixed order; the block reduction has a
// fixed shape, so the sum is the same bits every run.
template <class S>
__global__ void prelu_dalpha_kernel(const S* __restrict__ x, const S* __restrict__ dy, S* dalpha, std::int64_t outer,
                                    std::int64_t channels, std::int64_t inner) {
  using T = typename Compute<S>::type;
  using Acc = double;
  const std::int64_t ch = blockIdx.x;
  const std::int64_t per = outer * inner;
  Acc s = 0;
  for (std::int64_t k = threadIdx.x; k < per; k += blockDim.x) {
    const std::int64_t i = ((k / inner) * channels + ch) * inner + k % inner;
    const T xv = dload(x[i]);
    s += xv > T(0) ? Acc(0) : static_cast<Acc>(xv) * static_cast<Acc>(dload(dy[i]));
  }
  using Reduce = cub::BlockReduce<Acc, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  const Acc total = Reduce(tmp).Sum(s);
  if (threadIdx.x == 0) dalpha[ch] = dstore<S>(static_cast<T>(total));
}

template <class S> void prelu_typed(const PreluCall& c) {
  const auto* x = static_cast<const S*>(c.x);
  const auto* alpha = static_cast<const S*>(c.alpha);
  const auto* dy = static_cast<const S*>(c.dy);
  auto* out = static_cast<S*>(c.out);
  cudaStream_t s = static_cast<cudaStream_t>(c.stream);
  const std::int64_t inner = c.channels == 1 ? c.n : c.inner;
  if (c.dalpha != nullptr) {  // before dx: dx may alias x or dy
    const std::int64_t outer = c.channels == 1 ? 1 : c.n / (c.channels * inner);
    prelu_dalpha_kernel<S><<<static_cast<unsigned>(c.channels), kThreads, 0, s>>>(x, dy, static_cast<S*>(c.dalpha), outer,
                                                                                   c.channels, inner);
    check_launch("prelu dalpha kernel");
  }
  if (c.n > 0) {
    prelu_kernel<S><<<grid_for(c.n), kThreads, 0, s>>>(x, alpha, dy, out, c.n, c.channels, inner > 0 ? inner : 1);
    check_launch("prelu kernel");
  }
}

}  // namespace

void cuda_prelu(const PreluCall& c) {
  switch (c.dtype) {
    case DType::float32: return prelu_typed<float>(c);
    case DType::float64: return prelu_typed<double>(c);
    case DType::float16: return prelu_typed<float16>(c);
    case DType::bfloat16: return prelu_typed<bfloat16>(c);
  }
  throw Error(Status::internal, "cuda_prelu: bad dtype");
}

}  // namespace detail
}  // namespace actk
