// kernels/prelu.cu: PReLU with alpha per channel on the GPU: forward element-wise; backward dx
// element-wise plus dalpha reduced per channel in two fixed-order stages (bitwise reproducible
// without float atomics): channel-major blocks, or column tiles when channels are last (inner = 1).
#include <cub/block/block_reduce.cuh>

#include <type_traits>

#include "host/fused.h"  // dbias_row_lanes: the column-tile shape the channels-last dalpha shares
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

// dalpha, stage 1, channels last (inner = 1, channels > 1): the tensor is [per, channels] and
// channel c is column c; the channel-major kernel above would read it with a stride of `channels`
// elements between neighbouring threads. Here block (tile, chunk) covers a tile of columns
// (neighbouring threads, neighbouring columns: coalesced) and chunk `chunk` of the rows; a thread
// owns one column and one of `lanes` row lanes (lane l: rows l, l + lanes, ... of the chunk, in
// order; dbias_row_lanes's shape); the lanes are added in order: partial[chunk * channels + c].
template <class S>
__global__ void __launch_bounds__(kThreads)
    prelu_dalpha_partial_last(const S* __restrict__ x, const S* __restrict__ dy, double* partial, std::int64_t per,
                              std::int64_t channels, std::int64_t chunks, int lanes) {
  using T = typename Compute<S>::type;
  const int col_lanes = kThreads / lanes;
  const std::int64_t tiles = (channels + col_lanes - 1) / col_lanes;
  const std::int64_t tile = blockIdx.x % tiles, chunk = blockIdx.x / tiles;
  const int cl = static_cast<int>(threadIdx.x) % col_lanes, rl = static_cast<int>(threadIdx.x) / col_lanes;
  const std::int64_t c = tile * col_lanes + cl;
  const std::int64_t rows_per = (per + chunks - 1) / chunks, r0 = chunk * rows_per, r1 = r0 + rows_per < per ? r0 + rows_per : per;
  double s = 0;
  if (c < channels) {
#pragma unroll 4
    for (std::int64_t r = r0 + rl; r < r1; r += lanes) {
      const std::int64_t i = r * channels + c;
      const T xv = dload(x[i]);
      s += xv > T(0) ? 0.0 : static_cast<double>(xv) * static_cast<double>(dload(dy[i]));  // NaN x: NaN
    }
  }
  __shared__ double red[kThreads];
  red[threadIdx.x] = s;
  __syncthreads();
  if (rl == 0 && c < channels) {
    double t = 0;
    for (int l = 0; l < lanes; ++l) t += red[l * col_lanes + cl];
    partial[chunk * channels + c] = t;
  }
}

// dalpha, stage 2: block c sums its channel's `count` partials (partial[c * cstride + k * kstride])
// in a fixed order and rounds once.
template <class S>
__global__ void __launch_bounds__(kThreads)
    prelu_dalpha_final(const double* __restrict__ partial, S* dalpha, std::int64_t count, std::int64_t cstride,
                       std::int64_t kstride) {
  double s = 0;
  for (std::int64_t b = threadIdx.x; b < count; b += blockDim.x) s += partial[blockIdx.x * cstride + b * kstride];
  using Reduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  const double total = Reduce(tmp).Sum(s);
  if (threadIdx.x == 0) {
    if constexpr (std::is_same_v<S, double>) dalpha[blockIdx.x] = total;
    else if constexpr (std::is_same_v<S, float>) dalpha[blockIdx.x] = static_cast<float>(total);
    else dalpha[blockIdx.x] = S(total);  // actk's 16-bit types round a double once, as the CPU does
  }
}

/// Slices per channel of the channel-major dalpha stage (a function of the shape only; at most B,
/// the workspace's partials per channel): about 1,024 blocks in all where the channels allow,
/// slices of 4,096 to 16,384 elements (the workspace's one partial per 512 elements suits the
/// column tiles of channels-last, whose blocks cover many channels at once).
std::int64_t channel_major_partials(std::int64_t per, std::int64_t C, std::int64_t B) {
  const std::int64_t big = per / 16384 + (per % 16384 > 0);
  const std::int64_t fill_blocks = 1024 / C + (1024 % C > 0), fill_len = per / 4096 + (per % 4096 > 0);
  const std::int64_t fill = fill_blocks < fill_len ? fill_blocks : fill_len;
  std::int64_t b = big > fill ? big : fill;
  if (b > B) b = B;
  return b < 1 ? 1 : b;
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
    auto* partial = static_cast<double*>(ws);
    if (inner == 1 && C > 1) {  // channels last: coalesced column tiles
      const int lanes = dbias_row_lanes(C);
      const std::int64_t tiles = (C + kThreads / lanes - 1) / (kThreads / lanes);
      prelu_dalpha_partial_last<S><<<static_cast<unsigned>(tiles * B), kThreads, 0, s>>>(x, dy, partial, per, C, B, lanes);
      prelu_dalpha_final<S><<<static_cast<unsigned>(C), kThreads, 0, s>>>(partial, static_cast<S*>(c.dalpha), B, 1, C);
    } else {  // channel-major: fewer, longer slices than the workspace allows (a block's slice >= 4096 elements)
      const std::int64_t Bc = channel_major_partials(per, C, B);
      prelu_dalpha_partial<S><<<static_cast<unsigned>(C * Bc), kThreads, 0, s>>>(x, dy, partial, per, C, inner, Bc);
      prelu_dalpha_final<S><<<static_cast<unsigned>(C), kThreads, 0, s>>>(partial, static_cast<S*>(c.dalpha), Bc, Bc, 1);
    }
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
