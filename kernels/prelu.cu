// kernels/prelu.cu: PReLU with alpha per channel on the GPU: forward element-wise; backward dx
// element-wise plus dalpha reduced per channel in two fixed-order stages (bitwise reproducible
// without float atomics).
#include <cub/block/block_reduce.cuh>

#include <type_traits>

#include "kernels/elementwise.cuh"
#include "kernels/index_math.h"

namespace actk {
namespace detail {

namespace {

// PReLU's element: y = x > 0 ? x : alpha x, or dx. The slope is built in T directly: alpha's value
// is exact in T, so this is P<T>::make(alpha) without the double arithmetic.
template <bool kBackward, class T> __device__ __forceinline__ T prelu_one(T xv, T a, T g) {
  const P<T> p{a, T(0), T(0), T(0)};
  if constexpr (kBackward) return ops::PRelu::backward_from_input(xv, g, p);
  else return ops::PRelu::forward(xv, p);
}

// y or dx, any alignment: element i of channel (i / inner) % channels (inner == n when channels == 1).
template <class S, bool kBackward>
__global__ void __launch_bounds__(kThreads)
    prelu_kernel(const S* x, const S* alpha, const S* dy, S* out, std::int64_t n,  // out may alias x or dy
                 std::int64_t channels, std::int64_t inner) {
  using T = typename Compute<S>::type;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const T a0 = dload(alpha[0]);
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const T a = channels == 1 ? a0 : dload(alpha[(i / inner) % channels]);
    out[i] = dstore<S>(prelu_one<kBackward>(dload(x[i]), a, kBackward ? dload(dy[i]) : T(0)));
  }
}

// y or dx, every pointer 16-byte aligned: vectors [0, nvec), then the scalar tail [nvec N, n) by the
// first threads. A thread finds its first vector's channel with one division pair (32-bit where the
// tensor has fewer than 2^32 elements), then advances that walk by the grid's stride and steps
// through each vector's elements without dividing (a division pair per vector made ptxas spill
// 24 bytes in the float64 backward, found when this file joined tests/check_kernels.py). Slopes
// are read per element from alpha (C values: they stay in L1/L2).
template <class S, bool kBackward>
__global__ void __launch_bounds__(kThreads)
    prelu_vec_kernel(const S* x, const S* alpha, const S* dy, S* out, std::int64_t n, std::int64_t channels, std::int64_t inner,
                     bool small) {
  using T = typename Compute<S>::type;
  constexpr int N = Vec<S>::N;
  const std::int64_t tid = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const T a0 = dload(alpha[0]);
  const std::int64_t nvec = n / N;
  const auto* vx = reinterpret_cast<const Vec<S>*>(x);
  const auto* vdy = reinterpret_cast<const Vec<S>*>(dy);
  auto* vout = reinterpret_cast<Vec<S>*>(out);
  // the channel walk of this thread's first vector, advanced by the grid's stride: the divisions
  // happen once per thread, not once per vector
  ChannelWalk first(tid * N, channels, inner, small);
  const ChannelWalk step(stride * N, channels, inner, small);
  for (std::int64_t i = tid; i < nvec; i += stride, first.advance(step)) {
    const Vec<S> a = vx[i];
    Vec<S> g;
    if constexpr (kBackward) g = vdy[i];
    ChannelWalk w = first;
    Vec<S> o;
#pragma unroll
    for (int k = 0; k < N; ++k) {
      const T al = channels == 1 ? a0 : dload(alpha[w.c]);
      o.v[k] = dstore<S>(prelu_one<kBackward>(dload(a.v[k]), al, kBackward ? dload(g.v[k]) : T(0)));
      w.step();
    }
    vout[i] = o;
  }
  const std::int64_t t = nvec * N + tid;
  if (t < n) {
    const T al = channels == 1 ? a0 : dload(alpha[ChannelWalk(t, channels, inner, small).c]);
    out[t] = dstore<S>(prelu_one<kBackward>(dload(x[t]), al, kBackward ? dload(dy[t]) : T(0)));
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
    constexpr int N = Vec<S>::N;
    const bool vec = misalign(x) == 0 && misalign(out) == 0 && (dy == nullptr || misalign(dy) == 0);
    const bool small = c.n < (std::int64_t{1} << 32);
    auto run = [&](auto bwd) {
      constexpr bool B = decltype(bwd)::value;
      if (vec) {
        const std::int64_t work = c.n / N > N ? c.n / N : N;  // the tail's threads too
        prelu_vec_kernel<S, B><<<grid_for<prelu_vec_kernel<S, B>>(work), kThreads, 0, s>>>(x, alpha, dy, out, c.n, C, inner, small);
      } else {
        prelu_kernel<S, B><<<grid_for<prelu_kernel<S, B>>(c.n), kThreads, 0, s>>>(x, alpha, dy, out, c.n, C, inner);
      }
    };
    if (dy != nullptr) run(std::true_type{});
    else run(std::false_type{});
    check_launch("prelu kernel", c.dalpha ? "prelu_backward" : "prelu_forward");
  }
}

}  // namespace

void cuda_prelu(const PreluCall& c) {
  with_storage(c.dtype, "cuda_prelu", [&](auto s) { prelu_typed<decltype(s)>(c); });
}

}  // namespace detail
}  // namespace actk
