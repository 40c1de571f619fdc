// kernels/softmax_long.cu: the softmax over an axis that is not cached on chip: rows too long for
// the block and cluster kernels (inner = 1), and a middle axis ([outer, axis, inner], inner > 1).
// One kernel family for both, cut by axis_split (kernels/axis_split.h): a block is w columns by
// `lanes` lanes along the axis (neighbouring threads read neighbouring addresses: coalesced for
// any inner), and when there are too few (outer, tile) pairs to fill the GPU, the axis is split
// across blocks: a first kernel stores each segment's statistics (forward: the online (max, sum);
// backward: sum(dy y) or sum(dy), and the count of unmasked outputs), a second one merges a
// column's segments in a fixed order and writes its segment. Without a split one kernel reduces
// and writes (the segment is read twice; the second read mostly from L2).
// Before: one 256-thread block per row ([1, 2^20] float32 ran on one SM of 132) and one thread per
// (outer, inner) column, serial over the axis ([1, 32768, 8] ran on 8 threads).
#include "kernels/axis_split.h"
#include "kernels/softmax.cuh"

namespace actk {
namespace detail {

namespace {

/// What a backward segment sums: sum(dy y) (softmax) or sum(dy) (log-softmax), and the unmasked
/// outputs (a row with none is a fully masked row).
template <class T> struct GradStats {
  T s;
  int unmasked;
};

/// The per-direction statistics: forward, the online (max, sum); backward, GradStats.
template <class S, bool kBwd> struct AxisStats {
  using T = typename Compute<S>::type;
  using type = Stats<T>;
  static __device__ __forceinline__ type empty() { return empty_stats<T>(); }
  static __device__ __forceinline__ void add(type& a, const S* x, const S*, std::int64_t e, bool) { push(a, dload(x[e])); }
  static __device__ __forceinline__ type merge(const type& a, const type& b) { return MergeStats{}(a, b); }
};
template <class S> struct AxisStats<S, true> {
  using T = typename Compute<S>::type;
  using type = GradStats<T>;
  static __device__ __forceinline__ type empty() { return type{T(0), 0}; }
  static __device__ __forceinline__ void add(type& a, const S* y, const S* dy, std::int64_t e, bool log) {
    const T yv = dload(y[e]), g = dload(dy[e]);
    a.s += log ? g : g * yv;
    a.unmasked += !is_masked_elem(log, yv);
  }
  static __device__ __forceinline__ type merge(type a, type b) { return type{a.s + b.s, a.unmasked + b.unmasked}; }
};

/// The three kernels' roles: reduce and write (no split); reduce a segment and store its statistics;
/// merge a column's stored statistics and write a segment.
enum class AxisPass : int { whole, partial, finish };

/// A column's statistics reduced over the block's lanes (a fixed tree: the same bits every run);
/// every thread gets its column's. `red` holds kThreads entries.
template <class A, class Merge>
__device__ __forceinline__ A lanes_reduce(A mine, A* red, int w, int lanes, int lane, int tx, Merge merge) {
  red[threadIdx.x] = mine;
  __syncthreads();
  int h = 1;
  while (h < lanes) h *= 2;
  for (h /= 2; h >= 1; h /= 2) {
    if (lane < h && lane + h < lanes) red[lane * w + tx] = merge(red[lane * w + tx], red[(lane + h) * w + tx]);
    __syncthreads();
  }
  const A r = red[tx];
  __syncthreads();  // red is reused by the block's next item
  return r;
}

template <class S, bool kBwd>
__global__ void __launch_bounds__(kThreads)
    softmax_axis_kernel(const S* in, const S* dy, S* out, typename AxisStats<S, kBwd>::type* partial, std::int64_t outer,
                        std::int64_t axis, std::int64_t inner, AxisSplit cut, AxisPass pass, bool log, bool masked_zero,
                        BlendT<typename Compute<S>::type> bl) {
  using St = AxisStats<S, kBwd>;
  using A = typename St::type;
  using T = typename Compute<S>::type;
  constexpr int U = kSliceUnroll;  // independent statistics (and loads in flight) per thread
  __shared__ A red[kThreads];
  const int tx = static_cast<int>(threadIdx.x) % cut.w, lane = static_cast<int>(threadIdx.x) / cut.w;
  const std::int64_t items = outer * cut.tiles * cut.splits;
  for (std::int64_t b = blockIdx.x; b < items; b += gridDim.x) {
    std::int64_t o, tile, sp;
    cut.item(b, o, tile, sp);
    const std::int64_t col = tile * cut.w + tx;
    const bool active = lane < cut.lanes && col < inner;
    const std::int64_t k0 = sp * cut.seg, k1 = k0 + cut.seg < axis ? k0 + cut.seg : axis;
    const std::int64_t base = o * axis * inner + col;  // element (o, k, col) is base + k * inner
    A st;
    if (pass != AxisPass::finish) {
      A acc[U];
#pragma unroll
      for (int u = 0; u < U; ++u) acc[u] = St::empty();
      if (active) {
        for (std::int64_t k = k0 + lane; k < k1; k += static_cast<std::int64_t>(cut.lanes) * U) {
#pragma unroll
          for (int u = 0; u < U; ++u) {
            const std::int64_t kk = k + static_cast<std::int64_t>(u) * cut.lanes;
            if (kk < k1) St::add(acc[u], in, dy, base + kk * inner, log);
          }
        }
      }
#pragma unroll
      for (int u = 1; u < U; ++u) acc[0] = St::merge(acc[0], acc[u]);
      st = lanes_reduce(acc[0], red, cut.w, cut.lanes, lane, tx, [](A x, A y) { return St::merge(x, y); });
      if (pass == AxisPass::partial) {
        if (lane == 0 && col < inner) partial[sp * outer * inner + o * inner + col] = st;  // [segment][column]: coalesced
        continue;
      }
    } else {
      A acc = St::empty();
      if (active)
        for (std::int64_t k = lane; k < cut.splits; k += cut.lanes) acc = St::merge(acc, partial[k * outer * inner + o * inner + col]);
      st = lanes_reduce(acc, red, cut.w, cut.lanes, lane, tx, [](A x, A y) { return St::merge(x, y); });
    }
    if (!active) continue;
    if constexpr (kBwd) {
      const bool masked = masked_zero && st.unmasked == 0;
      for (std::int64_t k = k0 + lane; k < k1; k += cut.lanes) {
        const std::int64_t e = base + k * inner;
        out[e] = grad_value<S>(log, masked, dload(in[e]), dload(dy[e]), st.s, bl, out + e);
      }
    } else {
      const int state = row_state(st.m);
      const T scale = row_scale(log, st);
      for (std::int64_t k = k0 + lane; k < k1; k += cut.lanes) {
        const std::int64_t e = base + k * inner;
        out[e] = out_value<S>(state, log, masked_zero, dload(in[e]), st.m, scale, bl, out + e);
      }
    }
  }
}

template <class S, bool kBwd> void softmax_axis_dir(const SoftmaxCall& c, cudaStream_t s, const char* call) {
  using A = typename AxisStats<S, kBwd>::type;
  const auto [in, dy, out, bl] = softmax_args<S>(c);
  const AxisSplit cut = axis_split(c.outer, c.axis, c.inner, kThreads);
  const std::int64_t items = c.outer * cut.tiles * cut.splits;
  const int grid = grid_for<softmax_axis_kernel<S, kBwd>>(items * kThreads);  // one wave at most; a grid-stride loop over the items
  if (cut.splits == 1) {
    softmax_axis_kernel<S, kBwd><<<grid, kThreads, 0, s>>>(in, dy, out, nullptr, c.outer, c.axis, c.inner, cut, AxisPass::whole, c.log, c.masked_zero, bl);
    check_launch("softmax kernel (axis, one pass per block)", call);
    return;
  }
  // splits > 1 only when outer * tiles < kAxisTargetBlocks: outer * inner < 2^15 columns
  Scratch scratch(nullptr, static_cast<std::size_t>(c.outer * c.inner * cut.splits) * sizeof(A), s, call);
  auto* partial = static_cast<A*>(scratch.ptr);
  softmax_axis_kernel<S, kBwd><<<grid, kThreads, 0, s>>>(in, dy, out, partial, c.outer, c.axis, c.inner, cut, AxisPass::partial, c.log, c.masked_zero, bl);
  softmax_axis_kernel<S, kBwd><<<grid, kThreads, 0, s>>>(in, dy, out, partial, c.outer, c.axis, c.inner, cut, AxisPass::finish, c.log, c.masked_zero, bl);
  check_launch("softmax kernels (axis split across blocks)", call);
}

}  // namespace

template <class S> void softmax_axis(const SoftmaxCall& c, cudaStream_t s, const char* call) {
  if (c.backward) softmax_axis_dir<S, true>(c, s, call);
  else softmax_axis_dir<S, false>(c, s, call);
}

template void softmax_axis<float>(const SoftmaxCall&, cudaStream_t, const char*);
template void softmax_axis<double>(const SoftmaxCall&, cudaStream_t, const char*);
template void softmax_axis<float16>(const SoftmaxCall&, cudaStream_t, const char*);
template void softmax_axis<bfloat16>(const SoftmaxCall&, cudaStream_t, const char*);

}  // namespace detail
}  // namespace actk
