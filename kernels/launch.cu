// kernels/launch.cu: the CUDA backend's entry points: dtype dispatch for the element-wise and fused ops,
// PReLU (forward element-wise; backward dx element-wise plus dalpha reduced per channel by one
// block in a fixed order, so it is bitwise reproducible without float atomics), and the cached
// launch geometry.
#include <cub/block/block_reduce.cuh>

#include <atomic>
#include <type_traits>

#include "kernels/elementwise.cuh"
#include "kernels/fused.cuh"

namespace actk {
namespace detail {

int current_device() {
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) check_launch("cudaGetDevice");
  return dev >= 0 && dev < kMaxDevices ? dev : 0;
}

void check_launch(const char* what, const char* call) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw Error(Status::cuda_error, std::string(call ? "actk::" : "actk: ") + (call ? call : "") + (call ? ": " : "") + what +
                                        " failed: " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
}

void cuda_elementwise(const ElementwiseCall& c) {
  with_storage(c.dtype, "cuda_elementwise", [&](auto s) { launch_elementwise_typed<decltype(s)>(c); });
}

void cuda_fused(const FusedCall& c) {
  with_storage(c.dtype, "cuda_fused", [&](auto s) { fused_dtype<decltype(s)>(c); });
}

namespace {

// y or dx: element i of channel (i / inner) % channels (inner == n when channels == 1).
template <class S>
__global__ void __launch_bounds__(kThreads)
    prelu_kernel(const S* x, const S* alpha, const S* dy, S* out, std::int64_t n,  // out may alias x or dy
                 std::int64_t channels, std::int64_t inner) {
  using T = typename Compute<S>::type;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const P<T> shared = P<T>::make(static_cast<double>(dload(alpha[0])), 0.0);
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const P<T> p = channels == 1 ? shared : P<T>::make(static_cast<double>(dload(alpha[(i / inner) % channels])), 0.0);
    const T xv = dload(x[i]);
    out[i] = dstore<S>(dy ? ops::PRelu::backward_from_input(xv, dload(dy[i]), p) : ops::PRelu::forward(xv, p));
  }
}

// dalpha, stage 1: block (c, b) sums x*dy over x <= 0 for its fixed slice [b*chunk, (b+1)*chunk)
// of channel c's elements, in double; the block reduction has a fixed shape, so the partial is
// the same bits every run.
template <class S>
__global__ void __launch_bounds__(kThreads)
    prelu_dalpha_partial(const S* __restrict__ x, const S* __restrict__ dy, double* partial, std::int64_t per,
                         std::int64_t channels, std::int64_t inner, std::int64_t blocks_per_channel) {
  using T = typename Compute<S>::type;
  const std::int64_t c = blockIdx.x / blocks_per_channel, b = blockIdx.x % blocks_per_channel;
  const std::int64_t chunk = (per + blocks_per_channel - 1) / blocks_per_channel;
  const std::int64_t lo = b * chunk, hi = lo + chunk < per ? lo + chunk : per;
  double s = 0;
  for (std::int64_t k = lo + threadIdx.x; k < hi; k += blockDim.x) {
    const std::int64_t i = channels == 1 ? k : ((k / inner) * channels + c) * inner + k % inner;
    const T xv = dload(x[i]);
    s += xv > T(0) ? 0.0 : static_cast<double>(xv) * static_cast<double>(dload(dy[i]));  // NaN x: NaN
  }
  using Reduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  const double total = Reduce(tmp).Sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

// dalpha, stage 2: block c sums its channel's partials in a fixed order and rounds once.
template <class S>
__global__ void __launch_bounds__(kThreads)
    prelu_dalpha_final(const double* __restrict__ partial, S* dalpha, std::int64_t blocks_per_channel) {
  double s = 0;
  for (std::int64_t b = threadIdx.x; b < blocks_per_channel; b += blockDim.x) s += partial[blockIdx.x * blocks_per_channel + b];
  using Reduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  const double total = Reduce(tmp).Sum(s);
  if (threadIdx.x == 0) {
    if constexpr (std::is_same_v<S, double>) dalpha[blockIdx.x] = total;
    else if constexpr (std::is_same_v<S, float>) dalpha[blockIdx.x] = static_cast<float>(total);
    else dalpha[blockIdx.x] = S(total);  // actk's 16-bit types round a double once, as the CPU does
  }
}

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    (void)cudaGetLastError();  // leave no stale error for the next call to report as its own
    throw Error(Status::cuda_error, std::string("actk::prelu_backward: ") + what + " failed: " + cudaGetErrorName(e) + ": " +
                                        cudaGetErrorString(e));
  }
}

template <class S> void prelu_typed(const PreluCall& c) {
  const auto* x = static_cast<const S*>(c.x);
  const auto* alpha = static_cast<const S*>(c.alpha);
  const auto* dy = static_cast<const S*>(c.dy);
  auto* out = static_cast<S*>(c.out);
  cudaStream_t s = static_cast<cudaStream_t>(c.stream);
  const std::int64_t C = c.channels;
  const std::int64_t inner = C == 1 ? (c.n > 0 ? c.n : 1) : c.inner;
  if (c.dalpha != nullptr && c.n == 0) {  // empty sums: +0, all-zero bits in every dtype
    check_cuda(cudaMemsetAsync(c.dalpha, 0, static_cast<std::size_t>(C) * sizeof(S), s), "cudaMemsetAsync");
  } else if (c.dalpha != nullptr) {  // before dx: dx may alias x or dy
    const std::int64_t per = c.n / C;
    const std::int64_t B = prelu_partials_per_channel(c.n, C);
    const std::size_t bytes = static_cast<std::size_t>(C * B) * sizeof(double);
    Scratch scratch(c.workspace, bytes, s, "prelu_backward");
    void* ws = scratch.ptr;
    prelu_dalpha_partial<S><<<static_cast<unsigned>(C * B), kThreads, 0, s>>>(x, dy, static_cast<double*>(ws), per, C, inner, B);
    prelu_dalpha_final<S><<<static_cast<unsigned>(C), kThreads, 0, s>>>(static_cast<const double*>(ws), static_cast<S*>(c.dalpha), B);
    check_cuda(cudaGetLastError(), "the dalpha kernels");
  }
  if (c.n > 0) {
    prelu_kernel<S><<<grid_for(c.n), kThreads, 0, s>>>(x, alpha, dy, out, c.n, C, inner);
    check_launch("prelu kernel", c.dalpha ? "prelu_backward" : "prelu_forward");
  }
}

}  // namespace

Scratch::Scratch(void* given, std::size_t bytes, cudaStream_t s, const char* call) : ptr(given), stream(s) {
  if (ptr != nullptr) return;
  int dev = 0, pools = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, dev) != cudaSuccess)
    pools = 0;
  (void)cudaGetLastError();
  pooled = pools != 0;
  const cudaError_t e = pooled ? cudaMallocAsync(&ptr, bytes, s) : cudaMalloc(&ptr, bytes);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    throw Error(Status::cuda_error, std::string("actk::") + call + ": allocating " + std::to_string(bytes) +
                                        " bytes of scratch failed: " + cudaGetErrorName(e));
  }
  owned = true;
}

Scratch::~Scratch() {
  if (owned) {  // stream-ordered: freed after the kernels that use it
    if (pooled) (void)cudaFreeAsync(ptr, stream);
    else (void)cudaFree(ptr);
  }
}

void cuda_prelu(const PreluCall& c) {
  with_storage(c.dtype, "cuda_prelu", [&](auto s) { prelu_typed<decltype(s)>(c); });
}

}  // namespace detail
}  // namespace actk
