// kernels/softmax.cuh: softmax and log-softmax on the GPU, forward and backward, every dtype, over
// the last axis ([rows, cols]) or a middle axis ([outer, axis, inner]).
//
// What and why: softmax is memory-bound too; the aim is to read each row from memory once where
// it fits on chip. Paths, picked by row length (cols) on the host (softmax_typed, at the end):
//   inner == 1, cols <= 32     a group of W lanes per row (W = the power of two >= cols), 32/W
//                              rows per warp; butterfly shuffles; one read, one write
//   inner == 1, cols <= 1024   warp per row, the row in registers (ELEMS values per lane);
//                              cub::WarpReduce; reads the row once, writes it once
//   inner == 1, the row (fwd)  "slice" kernel, block per row: the row cached in shared memory in
//   or y and dy (bwd) fit in   its storage type (so 16-bit rows twice as long fit), the dynamic
//   half of one block's     limit raised once; 16-byte loads/stores when every row is 16-byte
//   shared memory              aligned; cub::BlockReduce; one read
//   sm_90, longer rows         the same slice kernel over a thread-block cluster of 2, 4 or 8
//   (up to 8 blocks' worth)    blocks: each block caches its slice of the row in its own shared
//                              memory, and the blocks exchange their slice statistics through
//                              distributed shared memory (cluster.map_shared_rank); one read
//   below sm_90: rows that fit in one block's whole shared memory take the slice kernel alone
//   beyond that, and          blocks of w columns x lanes along the axis (coalesced for any
//   inner > 1 (middle axis)    inner); forward: online (max, sum) (Milakov & Gimelshein 2018),
//                              then a write pass: two reads; backward: a sum pass and a write
//                              pass. Too few (outer, column tile) pairs to fill the GPU (one
//                              long row, [1, 32768, 8]): the axis is split across blocks, each
//                              segment's statistics stored, then merged in a fixed order
//                              (kernels/axis_split.h: a function of the shape only)
// Backward: dx = y (dy - sum(dy y)); log: dx = dy - exp(y) sum(dy).
// Row statistics are (m, k, r): the max, how many elements equal it, and the sum of e^(x - m)
// over the others; the softmax denominator is k + r, and log-softmax subtracts log1p((k-1) + r),
// which keeps outputs near 0 (a dominant logit) accurate to a few ulp instead of carrying the
// float sum's ~2^-24 absolute rounding.
// Accumulation in float (double for float64). NaN or +inf in a row gives NaN; an all -inf row
// (fully masked) gives NaN, or zeros (log-softmax: -inf) with the masked-rows flag.
//
// Files: this header (the row statistics and reductions every path shares, and the path
// launchers' declarations), kernels/softmax_rows.cu (rows of <= 1024 columns: lane groups and a
// warp per row), kernels/softmax_slice.cu (a block or a cluster per row, the row in shared
// memory), kernels/softmax_long.cu (longer rows and middle axes, split across blocks),
// kernels/softmax.cu (the choice of path).
#pragma once

#include <cooperative_groups.h>
#include <cub/block/block_reduce.cuh>
#include <cub/warp/warp_reduce.cuh>

#include "kernels/elementwise.cuh"

namespace actk {
namespace detail {

namespace cg = cooperative_groups;

using math::inf_of;
using math::nan_of;
// e^x for the row sums and the outputs: the device's expf (softmax's bounds allow its 2 ulp; see
// actk/math.h).
using math::exp_sum_term;
using math::log1p;

/// max that keeps NaN (fmax would drop it): a row holding NaN must come out NaN.
struct MaxNan {
  template <class T> __device__ __forceinline__ T operator()(T a, T b) const {
    return a != a ? a : (b != b ? b : (a > b ? a : b));
  }
};
struct Sum {
  template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};

/// Row (or slice) statistics: m = max, k = count of elements equal to m, r = sum of e^(x - m)
/// over the other elements. Sum of e^(x - m) over the row = k + r.
template <class T> struct Stats {
  T m, k, r;
};
/// Merges two statistics (associative in exact arithmetic; in float the fixed shape of every
/// reduction here is what makes the result the same bits every run).
struct MergeStats {
  template <class T> __device__ __forceinline__ Stats<T> operator()(const Stats<T>& a, const Stats<T>& b) const {
    const T m = MaxNan{}(a.m, b.m);
    if (m != m || m == -inf_of<T>()) return Stats<T>{m, T(0), T(0)};  // NaN row, or nothing but -inf
    Stats<T> s{m, T(0), T(0)};
    if (a.m == m) s.k += a.k, s.r += a.r;
    else if (a.m != -inf_of<T>()) s.r += (a.k + a.r) * exp_sum_term(a.m - m);  // -inf - m would be fine, -inf - inf not
    if (b.m == m) s.k += b.k, s.r += b.r;
    else if (b.m != -inf_of<T>()) s.r += (b.k + b.r) * exp_sum_term(b.m - m);
    return s;
  }
};
/// One element into running statistics (the online pass): one exp per element.
template <class T> __device__ __forceinline__ void push(Stats<T>& s, T v) {
  if (v > s.m) {
    s.r = s.m == -inf_of<T>() ? T(0) : (s.k + s.r) * exp_sum_term(s.m - v);
    s.k = T(1);
    s.m = v;
  } else if (v == s.m) {
    s.k += T(1);
  } else if (v != v) {
    s.m = v;  // NaN sticks: nothing compares greater or equal to it afterwards
  } else {
    s.r += exp_sum_term(v - s.m);
  }
}
template <class T> __device__ __forceinline__ Stats<T> empty_stats() { return Stats<T>{-inf_of<T>(), T(0), T(0)}; }

/// What a row's max says about the row: 0 normal, 1 NaN row, 2 fully masked row.
template <class T> __device__ __forceinline__ int row_state(T m) {
  if (m != m || m == inf_of<T>()) return 1;
  if (m == -inf_of<T>()) return 2;
  return 0;
}
/// 1 / sum (softmax) or log(sum) (log-softmax) of a normal row (k >= 1 there).
template <class T> __device__ __forceinline__ T row_scale(bool log, const Stats<T>& s) {
  return log ? log1p((s.k - T(1)) + s.r) : T(1) / (s.k + s.r);
}

template <class S, class T>
__device__ __forceinline__ S out_value(int state, bool log, bool masked_zero, T v, T m, T scale, const BlendT<T>& bl,
                                       const S* old) {
  // a NaN row is NaN whatever the blend
  if (state == 1 || (state == 2 && !masked_zero)) return dstore<S>(nan_of<T>());
  if (state == 2) return finish<S>(log ? -inf_of<T>() : T(0), bl, old);
  return finish<S>(log ? (v - m) - scale : exp_sum_term(v - m) * scale, bl, old);
}

/// One element of the backward: r = dy - exp(y) s (log) or y (dy - s); 0 in a flagged masked row.
template <class S, class T>
__device__ __forceinline__ S grad_value(bool log, bool masked, T yv, T g, T s, const BlendT<T>& bl, const S* old) {
  if (masked) return finish<S>(T(0), bl, old);
  return finish<S>(log ? g - exp_sum_term(yv) * s : yv * (g - s), bl, old);
}
template <class T> __device__ __forceinline__ int is_masked_elem(bool log, T yv) { return log ? yv == -inf_of<T>() : yv == T(0); }


// The slice kernels' shape (kernels/softmax_slice.cu); the two-pass kernels keep kSliceUnroll loads
// in flight too.
constexpr int kSliceThreads = 512;  // with at most 64 registers: 2 resident blocks per SM
constexpr int kSliceUnroll = 4;     // loads in flight per thread
constexpr std::int64_t kSliceAlign = 8;  // slice starts are multiples of 8 elements (16 bytes for 16-bit)

// ---- the paths (each instantiated for the four storage types in its own file) -----------------

/// A call's typed pointers and output blend, as every path's launcher takes them:
/// `const auto [in, dy, out, bl] = softmax_args<S>(c);`
template <class S> struct SoftmaxArgs {
  const S* in;
  const S* dy;  // backward only
  S* out;
  BlendT<typename Compute<S>::type> bl;
};
template <class S> SoftmaxArgs<S> softmax_args(const SoftmaxCall& c) {
  using T = typename Compute<S>::type;
  return {static_cast<const S*>(c.in), static_cast<const S*>(c.dy), static_cast<S*>(c.out), {static_cast<T>(c.alpha), static_cast<T>(c.beta)}};
}

/// Rows of the last axis with <= 1024 columns (kernels/softmax_rows.cu).
template <class S> void softmax_short_rows(const SoftmaxCall& c, cudaStream_t s, const char* call);
/// Rows of the last axis cached on chip by a block or a cluster, if the row fits: returns false
/// when it does not (kernels/softmax_slice.cu).
template <class S> bool softmax_slice_rows(const SoftmaxCall& c, cudaStream_t s, const char* call, int dev, int sms);
/// Rows too long for shared memory, and a middle axis ([outer, axis, inner], inner > 1): blocks of
/// columns x lanes along the axis, the axis split across blocks when too few blocks would run
/// (kernels/softmax_long.cu).
template <class S> void softmax_axis(const SoftmaxCall& c, cudaStream_t s, const char* call);

}  // namespace detail
}  // namespace actk
