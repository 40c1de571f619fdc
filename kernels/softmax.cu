// kernels/softmax.cu: softmax and log-softmax on the GPU, forward and backward, every dtype, over
// the last axis ([rows, cols]) or a middle axis ([outer, axis, inner]).
//
// What and why: softmax is memory-bound too; the aim is to read each row from memory once where
// it fits on chip. Paths, picked by row length (cols) on the host:
//   inner == 1, cols <= 1024   a warp per row, the row in registers (ELEMS values per lane);
//                              cub::WarpReduce for max and sum; reads x once, writes y once
//   inner == 1, cols fits      a block per row, the row cached in shared memory (the dynamic
//   in shared memory           limit raised once per kernel); cub::BlockReduce; one read
//   inner == 1, longer rows    a block per row, online (max, sum) in one pass (Milakov &
//                              Gimelshein 2018), then a write pass: two reads
//   inner > 1                  a thread per (outer, inner) column, online pass + write pass;
//                              neighbouring threads read neighbouring addresses (coalesced)
// Backward: dx = y (dy - sum(dy y)); log: dx = dy - exp(y) sum(dy): warp per row (registers),
// else two passes (reduce, then write), block per row or thread per column.
// Accumulation in float (double for float64). NaN or +inf in a row gives NaN; an all -inf row
// gives NaN, or zeros (log: -inf) and a zero gradient with the masked-rows flag; as the CPU.
// Not yet here: the sm_90 thread-block-cluster path (distributed shared memory) for rows beyond
// one SM's shared memory, and vectorized (16-byte) row loads.
#include <cub/block/block_reduce.cuh>
#include <cub/warp/warp_reduce.cuh>

#include <atomic>

#include "kernels/elementwise.cuh"

namespace actk {
namespace detail {

namespace {

template <class T> __device__ __forceinline__ T inf_of();
template <> __device__ __forceinline__ float inf_of<float>() { return __int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double inf_of<double>() { return __longlong_as_double(0x7ff0000000000000ll); }
template <class T> __device__ __forceinline__ T nan_of();
template <> __device__ __forceinline__ float nan_of<float>() { return __int_as_float(0x7fc00000); }
template <> __device__ __forceinline__ double nan_of<double>() { return __longlong_as_double(0x7ff8000000000000ll); }
__device__ __forceinline__ float dexp(float v) { return expf(v); }
__device__ __forceinline__ double dexp(double v) { return exp(v); }
__device__ __forceinline__ float dlog(float v) { return logf(v); }
__device__ __forceinline__ double dlog(double v) { return log(v); }

/// max that keeps NaN (fmax would drop it): a row holding NaN must come out NaN.
struct MaxNan {
  template <class T> __device__ __forceinline__ T operator()(T a, T b) const {
    return a != a ? a : (b != b ? b : (a > b ? a : b));
  }
};
struct Sum {
  template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};

/// Online softmax state (Milakov & Gimelshein 2018): m = running max, d = sum of e^(x - m).
template <class T> struct MD {
  T m, d;
};
struct MergeMD {
  template <class T> __device__ __forceinline__ MD<T> operator()(MD<T> a, MD<T> b) const {
    const T m = MaxNan{}(a.m, b.m);
    if (m != m) return MD<T>{m, m};
    if (m == -inf_of<T>()) return MD<T>{m, T(0)};  // nothing seen but -inf (or nothing)
    const T da = a.m == -inf_of<T>() ? T(0) : a.d * dexp(a.m - m);  // inf - inf would be NaN
    const T db = b.m == -inf_of<T>() ? T(0) : b.d * dexp(b.m - m);
    return MD<T>{m, da + db};
  }
};
template <class T> __device__ __forceinline__ MD<T> md_push(MD<T> s, T v) { return MergeMD{}(s, MD<T>{v, T(1)}); }

/// What a row's max says about the row: 0 normal, 1 NaN row, 2 fully masked row.
template <class T> __device__ __forceinline__ int row_state(T m) {
  if (m != m || m == inf_of<T>()) return 1;
  if (m == -inf_of<T>()) return 2;
  return 0;
}

template <class S, class T>
__device__ __forceinline__ S out_value(int state, bool log, bool masked_zero, T v, T m, T scale, const BlendT<T>& bl,
                                       const S* old) {
  // scale = 1/sum (softmax) or log(sum) (log-softmax); a NaN row is NaN whatever the blend
  if (state == 1 || (state == 2 && !masked_zero)) return dstore<S>(nan_of<T>());
  if (state == 2) return finish<S>(log ? -inf_of<T>() : T(0), bl, old);
  return finish<S>(log ? (v - m) - scale : dexp(v - m) * scale, bl, old);
}

// ---- forward ---------------------------------------------------------------------------------

constexpr int kWarpsPerBlock = kThreads / 32;

template <class S, int ELEMS>
__global__ void __launch_bounds__(kThreads)
    softmax_warp_fwd(const S* x, S* y, std::int64_t rows, int cols, bool log, bool masked_zero,
                     BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  using WarpReduce = cub::WarpReduce<T>;
  __shared__ typename WarpReduce::TempStorage tmp[kWarpsPerBlock];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * kWarpsPerBlock + warp; r < rows;
       r += static_cast<std::int64_t>(gridDim.x) * kWarpsPerBlock) {
    const S* xr = x + r * cols;
    T v[ELEMS];
    T m = -inf_of<T>();
#pragma unroll
    for (int e = 0; e < ELEMS; ++e) {
      const int c = lane + 32 * e;
      v[e] = c < cols ? dload(xr[c]) : -inf_of<T>();
      m = MaxNan{}(m, v[e]);
    }
    m = WarpReduce(tmp[warp]).Reduce(m, MaxNan{});
    m = __shfl_sync(0xffffffffu, m, 0);
    T s = 0;
#pragma unroll
    for (int e = 0; e < ELEMS; ++e) s += lane + 32 * e < cols ? dexp(v[e] - m) : T(0);
    __syncwarp();
    s = WarpReduce(tmp[warp]).Sum(s);
    s = __shfl_sync(0xffffffffu, s, 0);
    const int state = row_state(m);
    const T scale = log ? dlog(s) : T(1) / s;
    S* yr = y + r * cols;
#pragma unroll
    for (int e = 0; e < ELEMS; ++e) {
      const int c = lane + 32 * e;
      if (c < cols) yr[c] = out_value<S>(state, log, masked_zero, v[e], m, scale, bl, yr + c);
    }
    __syncwarp();
  }
}

/// m and scale of a row, block-wide (every thread gets them).
template <class T> struct RowStats {
  T m, scale;
  int state;
};

template <class S>
__global__ void __launch_bounds__(kThreads)
    softmax_block_smem_fwd(const S* x, S* y, std::int64_t rows, std::int64_t cols, bool log, bool masked_zero,
                           BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* row = reinterpret_cast<T*>(smem_raw);
  using BlockReduce = cub::BlockReduce<T, kThreads>;
  __shared__ typename BlockReduce::TempStorage tmp;
  __shared__ T bcast;
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const S* xr = x + r * cols;
    T m = -inf_of<T>();
    for (std::int64_t c = threadIdx.x; c < cols; c += kThreads) {
      const T v = dload(xr[c]);
      row[c] = v;
      m = MaxNan{}(m, v);
    }
    m = BlockReduce(tmp).Reduce(m, MaxNan{});
    if (threadIdx.x == 0) bcast = m;
    __syncthreads();
    m = bcast;
    T s = 0;
    for (std::int64_t c = threadIdx.x; c < cols; c += kThreads) s += dexp(row[c] - m);
    s = BlockReduce(tmp).Sum(s);
    __syncthreads();  // everyone has read bcast (m) before it is overwritten
    if (threadIdx.x == 0) bcast = s;
    __syncthreads();
    s = bcast;
    const int state = row_state(m);
    const T scale = log ? dlog(s) : T(1) / s;
    S* yr = y + r * cols;
    for (std::int64_t c = threadIdx.x; c < cols; c += kThreads)
      yr[c] = out_value<S>(state, log, masked_zero, row[c], m, scale, bl, yr + c);
    __syncthreads();  // the row cache and bcast are reused by the next row
  }
}

template <class S>
__global__ void __launch_bounds__(kThreads)
    softmax_block_online_fwd(const S* x, S* y, std::int64_t rows, std::int64_t cols, bool log, bool masked_zero,
                             BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  using BlockReduce = cub::BlockReduce<MD<T>, kThreads>;
  __shared__ typename BlockReduce::TempStorage tmp;
  __shared__ MD<T> bcast;
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const S* xr = x + r * cols;
    MD<T> st{-inf_of<T>(), T(0)};
    for (std::int64_t c = threadIdx.x; c < cols; c += kThreads) st = md_push(st, dload(xr[c]));
    st = BlockReduce(tmp).Reduce(st, MergeMD{});
    if (threadIdx.x == 0) bcast = st;
    __syncthreads();
    st = bcast;
    const int state = row_state(st.m);
    const T scale = log ? dlog(st.d) : T(1) / st.d;
    S* yr = y + r * cols;
    for (std::int64_t c = threadIdx.x; c < cols; c += kThreads)
      yr[c] = out_value<S>(state, log, masked_zero, dload(xr[c]), st.m, scale, bl, yr + c);
    __syncthreads();
  }
}

/// [outer, axis, inner] with inner > 1: a thread per (outer, inner) column.
template <class S>
__global__ void __launch_bounds__(kThreads)
    softmax_strided_fwd(const S* x, S* y, std::int64_t outer, std::int64_t axis, std::int64_t inner, bool log,
                        bool masked_zero, BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  const std::int64_t cols_total = outer * inner;
  for (std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; t < cols_total;
       t += static_cast<std::int64_t>(gridDim.x) * kThreads) {
    const std::int64_t o = t / inner, j = t % inner;
    const S* xc = x + o * axis * inner + j;
    MD<T> st{-inf_of<T>(), T(0)};
    for (std::int64_t k = 0; k < axis; ++k) st = md_push(st, dload(xc[k * inner]));
    const int state = row_state(st.m);
    const T scale = log ? dlog(st.d) : T(1) / st.d;
    S* yc = y + o * axis * inner + j;
    for (std::int64_t k = 0; k < axis; ++k)
      yc[k * inner] = out_value<S>(state, log, masked_zero, dload(xc[k * inner]), st.m, scale, bl, yc + k * inner);
  }
}

// ---- backward --------------------------------------------------------------------------------

/// One element of the backward: r = dy - exp(y) s (log) or y (dy - s); 0 in a flagged masked row.
template <class S, class T>
__device__ __forceinline__ S grad_value(bool log, bool masked, T yv, T g, T s, const BlendT<T>& bl, const S* old) {
  if (masked) return finish<S>(T(0), bl, old);
  return finish<S>(log ? g - dexp(yv) * s : yv * (g - s), bl, old);
}
template <class T> __device__ __forceinline__ int is_masked_elem(bool log, T yv) { return log ? yv == -inf_of<T>() : yv == T(0); }

template <class S, int ELEMS>
__global__ void __launch_bounds__(kThreads)
    softmax_warp_bwd(const S* y, const S* dy, S* dx, std::int64_t rows, int cols, bool log, bool masked_zero,
                     BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  using WarpReduce = cub::WarpReduce<T>;
  using WarpReduceI = cub::WarpReduce<int>;
  __shared__ typename WarpReduce::TempStorage tmp[kWarpsPerBlock];
  __shared__ typename WarpReduceI::TempStorage tmpi[kWarpsPerBlock];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * kWarpsPerBlock + warp; r < rows;
       r += static_cast<std::int64_t>(gridDim.x) * kWarpsPerBlock) {
    T yv[ELEMS], g[ELEMS];
    T s = 0;
    int unmasked = 0;
#pragma unroll
    for (int e = 0; e < ELEMS; ++e) {
      const int c = lane + 32 * e;
      yv[e] = c < cols ? dload(y[r * cols + c]) : T(0);
      g[e] = c < cols ? dload(dy[r * cols + c]) : T(0);
      if (c < cols) {
        s += log ? g[e] : g[e] * yv[e];
        unmasked += !is_masked_elem(log, yv[e]);
      }
    }
    s = WarpReduce(tmp[warp]).Sum(s);
    s = __shfl_sync(0xffffffffu, s, 0);
    unmasked = WarpReduceI(tmpi[warp]).Sum(unmasked);
    unmasked = __shfl_sync(0xffffffffu, unmasked, 0);
    const bool masked = masked_zero && unmasked == 0;
#pragma unroll
    for (int e = 0; e < ELEMS; ++e) {
      const int c = lane + 32 * e;
      if (c < cols) dx[r * cols + c] = grad_value<S>(log, masked, yv[e], g[e], s, bl, dx + r * cols + c);
    }
    __syncwarp();
  }
}

template <class S>
__global__ void __launch_bounds__(kThreads)
    softmax_block_bwd(const S* y, const S* dy, S* dx, std::int64_t rows, std::int64_t cols, bool log, bool masked_zero,
                      BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  using BlockReduce = cub::BlockReduce<T, kThreads>;
  using BlockReduceI = cub::BlockReduce<int, kThreads>;
  __shared__ typename BlockReduce::TempStorage tmp;
  __shared__ typename BlockReduceI::TempStorage tmpi;
  __shared__ T bs;
  __shared__ int bu;
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const S* yr = y + r * cols;
    const S* gr = dy + r * cols;
    T s = 0;
    int unmasked = 0;
    for (std::int64_t c = threadIdx.x; c < cols; c += kThreads) {
      const T yv = dload(yr[c]), g = dload(gr[c]);
      s += log ? g : g * yv;
      unmasked += !is_masked_elem(log, yv);
    }
    s = BlockReduce(tmp).Sum(s);
    unmasked = BlockReduceI(tmpi).Sum(unmasked);
    if (threadIdx.x == 0) bs = s, bu = unmasked;
    __syncthreads();
    s = bs;
    const bool masked = masked_zero && bu == 0;
    S* dr = dx + r * cols;
    for (std::int64_t c = threadIdx.x; c < cols; c += kThreads)
      dr[c] = grad_value<S>(log, masked, dload(yr[c]), dload(gr[c]), s, bl, dr + c);
    __syncthreads();
  }
}

template <class S>
__global__ void __launch_bounds__(kThreads)
    softmax_strided_bwd(const S* y, const S* dy, S* dx, std::int64_t outer, std::int64_t axis, std::int64_t inner, bool log,
                        bool masked_zero, BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  const std::int64_t cols_total = outer * inner;
  for (std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; t < cols_total;
       t += static_cast<std::int64_t>(gridDim.x) * kThreads) {
    const std::int64_t base = (t / inner) * axis * inner + t % inner;
    T s = 0;
    int unmasked = 0;
    for (std::int64_t k = 0; k < axis; ++k) {
      const T yv = dload(y[base + k * inner]), g = dload(dy[base + k * inner]);
      s += log ? g : g * yv;
      unmasked += !is_masked_elem(log, yv);
    }
    const bool masked = masked_zero && unmasked == 0;
    for (std::int64_t k = 0; k < axis; ++k)
      dx[base + k * inner] =
          grad_value<S>(log, masked, dload(y[base + k * inner]), dload(dy[base + k * inner]), s, bl, dx + base + k * inner);
  }
}

// ---- dispatch --------------------------------------------------------------------------------

/// The opt-in shared memory per block of the current device (asked once per device).
int smem_optin() {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> cache[kMaxDevices];
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) check_launch("cudaGetDevice");
  if (dev < 0 || dev >= kMaxDevices) dev = 0;
  int v = cache[dev].load(std::memory_order_relaxed);
  if (v == 0) {
    if (cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess) check_launch("cudaDeviceGetAttribute");
    cache[dev].store(v > 0 ? v : 48 * 1024, std::memory_order_relaxed);
    v = cache[dev].load(std::memory_order_relaxed);
  }
  return v;
}

template <class S, int ELEMS> void launch_warp(const SoftmaxCall& c, cudaStream_t s) {
  using T = typename Compute<S>::type;
  const BlendT<T> bl{static_cast<T>(c.alpha), static_cast<T>(c.beta)};
  const S* in = static_cast<const S*>(c.in);
  S* out = static_cast<S*>(c.out);
  const int grid = grid_for((c.outer + kWarpsPerBlock - 1) / kWarpsPerBlock * kThreads);
  const int cols = static_cast<int>(c.axis);
  if (c.backward)
    softmax_warp_bwd<S, ELEMS><<<grid, kThreads, 0, s>>>(in, static_cast<const S*>(c.dy), out, c.outer, cols, c.log, c.masked_zero, bl);
  else softmax_warp_fwd<S, ELEMS><<<grid, kThreads, 0, s>>>(in, out, c.outer, cols, c.log, c.masked_zero, bl);
}

template <class S> void softmax_typed(const SoftmaxCall& c) {
  using T = typename Compute<S>::type;
  cudaStream_t s = static_cast<cudaStream_t>(c.stream);
  const S* in = static_cast<const S*>(c.in);
  const S* dy = static_cast<const S*>(c.dy);
  S* out = static_cast<S*>(c.out);
  const char* call = c.backward ? "softmax_backward" : "softmax_forward";
  const BlendT<T> bl{static_cast<T>(c.alpha), static_cast<T>(c.beta)};
  if (c.inner > 1) {
    const int grid = grid_for(c.outer * c.inner);
    if (c.backward) softmax_strided_bwd<S><<<grid, kThreads, 0, s>>>(in, dy, out, c.outer, c.axis, c.inner, c.log, c.masked_zero, bl);
    else softmax_strided_fwd<S><<<grid, kThreads, 0, s>>>(in, out, c.outer, c.axis, c.inner, c.log, c.masked_zero, bl);
    check_launch("softmax kernel (strided axis)", call);
    return;
  }
  const std::int64_t cols = c.axis;
  if (cols <= 1024) {
    if (cols <= 32) launch_warp<S, 1>(c, s);
    else if (cols <= 64) launch_warp<S, 2>(c, s);
    else if (cols <= 128) launch_warp<S, 4>(c, s);
    else if (cols <= 256) launch_warp<S, 8>(c, s);
    else if (cols <= 512) launch_warp<S, 16>(c, s);
    else launch_warp<S, 32>(c, s);
    check_launch("softmax kernel (warp per row)", call);
    return;
  }
  const int grid = grid_for(c.outer * kThreads);
  if (c.backward) {
    softmax_block_bwd<S><<<grid, kThreads, 0, s>>>(in, dy, out, c.outer, cols, c.log, c.masked_zero, bl);
    check_launch("softmax kernel (block per row)", call);
    return;
  }
  const std::int64_t smem = cols * static_cast<std::int64_t>(sizeof(T));
  const int limit = smem_optin() - 2048;  // room for the reductions' static shared memory
  if (smem <= limit) {
    static std::atomic<bool> raised[64];  // per instantiation and device: raise the dynamic limit once
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) dev = 0;
    if (!raised[dev].load(std::memory_order_acquire)) {
      const cudaError_t e = cudaFuncSetAttribute(softmax_block_smem_fwd<S>, cudaFuncAttributeMaxDynamicSharedMemorySize, limit);
      if (e != cudaSuccess) check_launch("cudaFuncSetAttribute", call);
      raised[dev].store(true, std::memory_order_release);
    }
    softmax_block_smem_fwd<S><<<grid, kThreads, static_cast<std::size_t>(smem), s>>>(in, out, c.outer, cols, c.log, c.masked_zero, bl);
    check_launch("softmax kernel (block per row, shared memory)", call);
    return;
  }
  softmax_block_online_fwd<S><<<grid, kThreads, 0, s>>>(in, out, c.outer, cols, c.log, c.masked_zero, bl);
  check_launch("softmax kernel (block per row, online)", call);
}

}  // namespace

void cuda_softmax(const SoftmaxCall& c) {
  with_storage(c.dtype, "cuda_softmax", [&](auto s) { softmax_typed<decltype(s)>(c); });
}

}  // namespace detail
}  // namespace actk
