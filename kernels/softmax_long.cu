// kernels/softmax_long.cu: softmax rows too long for shared memory, in two passes (forward: the
// online (max, sum) pass, then the write pass), and a middle axis ([outer, axis, inner]) with a
// thread per (outer, inner) column (kernels/softmax.cuh).
#include "kernels/softmax.cuh"

namespace actk {
namespace detail {

namespace {

// ---- rows too long for shared memory: two passes ----------------------------------------------

template <class S>
__global__ void __launch_bounds__(kThreads)
    softmax_block_online_fwd(const S* x, S* y, std::int64_t rows, std::int64_t cols, bool log, bool masked_zero,
                             BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  using BlockReduce = cub::BlockReduce<Stats<T>, kThreads>;
  __shared__ typename BlockReduce::TempStorage tmp;
  __shared__ Stats<T> bcast;
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const S* xr = x + r * cols;
    // kSliceUnroll independent running statistics per thread: loads in flight, and shorter sums
    Stats<T> acc[kSliceUnroll];
#pragma unroll
    for (int u = 0; u < kSliceUnroll; ++u) acc[u] = empty_stats<T>();
    for (std::int64_t c = threadIdx.x; c < cols; c += kThreads * kSliceUnroll) {
      S a[kSliceUnroll];
#pragma unroll
      for (int u = 0; u < kSliceUnroll; ++u)
        if (c + u * kThreads < cols) a[u] = xr[c + u * kThreads];
#pragma unroll
      for (int u = 0; u < kSliceUnroll; ++u)
        if (c + u * kThreads < cols) push(acc[u], dload(a[u]));
    }
    Stats<T> st = acc[0];
#pragma unroll
    for (int u = 1; u < kSliceUnroll; ++u) st = MergeStats{}(st, acc[u]);
    st = BlockReduce(tmp).Reduce(st, MergeStats{});
    if (threadIdx.x == 0) bcast = st;
    __syncthreads();
    st = bcast;
    const int state = row_state(st.m);
    const T scale = row_scale(log, st);
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
    Stats<T> st = empty_stats<T>();
    for (std::int64_t k = 0; k < axis; ++k) push(st, dload(xc[k * inner]));
    const int state = row_state(st.m);
    const T scale = row_scale(log, st);
    S* yc = y + o * axis * inner + j;
    for (std::int64_t k = 0; k < axis; ++k)
      yc[k * inner] = out_value<S>(state, log, masked_zero, dload(xc[k * inner]), st.m, scale, bl, yc + k * inner);
  }
}

// ---- backward of rows too long for shared memory, and of a middle axis -------------------------

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

}  // namespace

template <class S> void softmax_long_rows(const SoftmaxCall& c, cudaStream_t s, const char* call) {
  const auto [in, dy, out, bl] = softmax_args<S>(c);
  const std::int64_t cols = c.axis;
  const std::int64_t work = c.outer * kThreads;
  if (c.backward)
    softmax_block_bwd<S><<<grid_for<softmax_block_bwd<S>>(work), kThreads, 0, s>>>(in, dy, out, c.outer, cols, c.log, c.masked_zero, bl);
  else
    softmax_block_online_fwd<S><<<grid_for<softmax_block_online_fwd<S>>(work), kThreads, 0, s>>>(in, out, c.outer, cols, c.log,
                                                                                                c.masked_zero, bl);
  check_launch(c.backward ? "softmax kernel (block per row, two passes)" : "softmax kernel (block per row, online)", call);
}

template <class S> void softmax_strided(const SoftmaxCall& c, cudaStream_t s, const char* call) {
  const auto [in, dy, out, bl] = softmax_args<S>(c);
  const std::int64_t work = c.outer * c.inner;
  if (c.backward)
    softmax_strided_bwd<S><<<grid_for<softmax_strided_bwd<S>>(work), kThreads, 0, s>>>(in, dy, out, c.outer, c.axis, c.inner, c.log,
                                                                                     c.masked_zero, bl);
  else
    softmax_strided_fwd<S><<<grid_for<softmax_strided_fwd<S>>(work), kThreads, 0, s>>>(in, out, c.outer, c.axis, c.inner, c.log,
                                                                                     c.masked_zero, bl);
  check_launch("softmax kernel (strided axis)", call);
}

template void softmax_long_rows<float>(const SoftmaxCall&, cudaStream_t, const char*);
template void softmax_long_rows<double>(const SoftmaxCall&, cudaStream_t, const char*);
template void softmax_long_rows<float16>(const SoftmaxCall&, cudaStream_t, const char*);
template void softmax_long_rows<bfloat16>(const SoftmaxCall&, cudaStream_t, const char*);
template void softmax_strided<float>(const SoftmaxCall&, cudaStream_t, const char*);
template void softmax_strided<double>(const SoftmaxCall&, cudaStream_t, const char*);
template void softmax_strided<float16>(const SoftmaxCall&, cudaStream_t, const char*);
template void softmax_strided<bfloat16>(const SoftmaxCall&, cudaStream_t, const char*);

}  // namespace detail
}  // namespace actk
