// kernels/softmax_rows.cu: softmax rows of the last axis with <= 1024 columns (kernels/softmax.cuh):
// <= 32 columns as groups of W lanes (several rows per warp), else a warp per row with the row in
// registers. One read, one write.
#include "kernels/softmax.cuh"

namespace actk {
namespace detail {

namespace {

// ---- several rows per warp (cols <= 32) ---------------------------------------------------------

/// Reduces v with op over the W lanes of each aligned group (W a power of two, 1..32): a
/// butterfly, every lane of the group ends with the result.
template <class T, class Op> __device__ __forceinline__ T group_reduce(T v, int W, Op op) {
  for (int o = W / 2; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/// This thread's place in the rows-per-warp layout: lane group `lane / W` takes row base + group,
/// column j = lane % W; base steps by (warps in the grid) x (rows per warp), warp-uniform.
struct RowGroups {
  int j, group, per_warp;
  std::int64_t first, step;
  __device__ explicit RowGroups(int W) {
    const int lane = threadIdx.x % 32;
    j = lane % W, group = lane / W, per_warp = 32 / W;
    first = (static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x) / 32 * per_warp;
    step = static_cast<std::int64_t>(gridDim.x) * (kThreads / 32) * per_warp;
  }
};

/// Rows of at most 32 columns: a group of W lanes per row (W: the power of two >= cols), so a warp
/// does 32 / W rows at once and every lane of a 1-column row is busy (a whole warp per row kept
/// 31 of 32 lanes idle at cols = 1). One element per lane; max, then (count of the max, sum of
/// e^(x - max)) by butterfly shuffles within the group. The loop bound is warp-uniform, so every
/// lane takes part in every shuffle; lanes past the last row or column only carry neutral values.
template <class S>
__global__ void __launch_bounds__(kThreads)
    softmax_rows_fwd(const S* x, S* y, std::int64_t rows, int cols, int W, bool log, bool masked_zero,
                     BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  const RowGroups g(W);
  for (std::int64_t base = g.first; base < rows; base += g.step) {
    const std::int64_t r = base + g.group;
    const bool ok = r < rows && g.j < cols;
    const std::int64_t i = r * cols + g.j;
    const T v = ok ? dload(x[i]) : -inf_of<T>();
    const T m = group_reduce(v, W, MaxNan{});
    const Stats<T> st{m, group_reduce(ok && v == m ? T(1) : T(0), W, Sum{}),
                      group_reduce(ok && !(v == m) ? exp_sum_term(v - m) : T(0), W, Sum{})};
    if (ok) y[i] = out_value<S>(row_state(m), log, masked_zero, v, m, row_scale(log, st), bl, y + i);
  }
}

template <class S>
__global__ void __launch_bounds__(kThreads)
    softmax_rows_bwd(const S* y, const S* dy, S* dx, std::int64_t rows, int cols, int W, bool log, bool masked_zero,
                     BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  const RowGroups rg(W);
  for (std::int64_t base = rg.first; base < rows; base += rg.step) {
    const std::int64_t r = base + rg.group;
    const bool ok = r < rows && rg.j < cols;
    const std::int64_t i = r * cols + rg.j;
    const T yv = ok ? dload(y[i]) : T(0), g = ok ? dload(dy[i]) : T(0);
    const T s = group_reduce(ok ? (log ? g : g * yv) : T(0), W, Sum{});
    const int unmasked = group_reduce(ok && !is_masked_elem(log, yv) ? 1 : 0, W, Sum{});
    if (ok) dx[i] = grad_value<S>(log, masked_zero && unmasked == 0, yv, g, s, bl, dx + i);
  }
}

// ---- warp per row (cols <= 1024) ---------------------------------------------------------------

constexpr int kWarpsPerBlock = kThreads / 32;

template <class S, int ELEMS>
__global__ void __launch_bounds__(kThreads)
    softmax_warp_fwd(const S* x, S* y, std::int64_t rows, int cols, bool log, bool masked_zero,
                     BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  using WarpReduce = cub::WarpReduce<T>;
  using WarpReduceS = cub::WarpReduce<Stats<T>>;
  __shared__ typename WarpReduce::TempStorage tmp[kWarpsPerBlock];
  __shared__ typename WarpReduceS::TempStorage tmps[kWarpsPerBlock];
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
    Stats<T> st{m, T(0), T(0)};
#pragma unroll
    for (int e = 0; e < ELEMS; ++e) {
      if (lane + 32 * e >= cols) continue;
      if (v[e] == m) st.k += T(1);
      else st.r += exp_sum_term(v[e] - m);
    }
    st = WarpReduceS(tmps[warp]).Reduce(st, MergeStats{});
    st.k = __shfl_sync(0xffffffffu, st.k, 0);
    st.r = __shfl_sync(0xffffffffu, st.r, 0);
    const int state = row_state(m);
    const T scale = row_scale(log, st);
    S* yr = y + r * cols;
#pragma unroll
    for (int e = 0; e < ELEMS; ++e) {
      const int c = lane + 32 * e;
      if (c < cols) yr[c] = out_value<S>(state, log, masked_zero, v[e], m, scale, bl, yr + c);
    }
    __syncwarp();
  }
}

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


template <class S, int ELEMS> void launch_warp(const SoftmaxCall& c, cudaStream_t s) {
  const auto [in, dy, out, bl] = softmax_args<S>(c);
  const std::int64_t work = (c.outer + kWarpsPerBlock - 1) / kWarpsPerBlock * kThreads;
  const int cols = static_cast<int>(c.axis);
  if (c.backward)
    softmax_warp_bwd<S, ELEMS><<<grid_for<softmax_warp_bwd<S, ELEMS>>(work), kThreads, 0, s>>>(in, dy, out, c.outer,
                                                                                             cols, c.log, c.masked_zero, bl);
  else softmax_warp_fwd<S, ELEMS><<<grid_for<softmax_warp_fwd<S, ELEMS>>(work), kThreads, 0, s>>>(in, out, c.outer, cols, c.log, c.masked_zero, bl);
}

}  // namespace

template <class S> void softmax_short_rows(const SoftmaxCall& c, cudaStream_t s, const char* call) {
  const auto [in, dy, out, bl] = softmax_args<S>(c);
  const std::int64_t cols = c.axis;
  if (cols <= 32) {
    int W = 1;
    while (W < cols) W *= 2;
    const std::int64_t work = (c.outer + 32 / W - 1) / (32 / W) * 32;  // one lane-thread per (row group, lane)
    if (c.backward)
      softmax_rows_bwd<S><<<grid_for<softmax_rows_bwd<S>>(work), kThreads, 0, s>>>(in, dy, out, c.outer, static_cast<int>(cols), W,
                                                                                c.log, c.masked_zero, bl);
    else
      softmax_rows_fwd<S><<<grid_for<softmax_rows_fwd<S>>(work), kThreads, 0, s>>>(in, out, c.outer, static_cast<int>(cols), W, c.log,
                                                                                c.masked_zero, bl);
    check_launch("softmax kernel (rows of <= 32 columns, several per warp)", call);
    return;
  }
  if (cols <= 64) launch_warp<S, 2>(c, s);  // cols <= 1024
  else if (cols <= 128) launch_warp<S, 4>(c, s);
  else if (cols <= 256) launch_warp<S, 8>(c, s);
  else if (cols <= 512) launch_warp<S, 16>(c, s);
  else launch_warp<S, 32>(c, s);
  check_launch("softmax kernel (warp per row)", call);
}

template void softmax_short_rows<float>(const SoftmaxCall&, cudaStream_t, const char*);
template void softmax_short_rows<double>(const SoftmaxCall&, cudaStream_t, const char*);
template void softmax_short_rows<float16>(const SoftmaxCall&, cudaStream_t, const char*);
template void softmax_short_rows<bfloat16>(const SoftmaxCall&, cudaStream_t, const char*);

}  // namespace detail
}  // namespace actk
