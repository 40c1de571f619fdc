// kernels/softmax.cu: softmax and log-softmax on the GPU, forward and backward, every dtype, over
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
//   beyond that                forward: block per row, online (max, sum) in one pass (Milakov &
//                              Gimelshein 2018), then a write pass: two reads; backward: a sum
//                              pass and a write pass
//   inner > 1                  a thread per (outer, inner) column, online pass + write pass;
//                              neighbouring threads read neighbouring addresses (coalesced)
// Backward: dx = y (dy - sum(dy y)); log: dx = dy - exp(y) sum(dy).
// Row statistics are (m, k, r): the max, how many elements equal it, and the sum of e^(x - m)
// over the others; the softmax denominator is k + r, and log-softmax subtracts log1p((k-1) + r),
// which keeps outputs near 0 (a dominant logit) accurate to a few ulp instead of carrying the
// float sum's ~2^-24 absolute rounding.
// Accumulation in float (double for float64). NaN or +inf in a row gives NaN; an all -inf row
// gives NaN, or zeros (log: -inf) and a zero gradient with the masked-rows flag; as the CPU.
#include <cooperative_groups.h>
#include <cub/block/block_reduce.cuh>
#include <cub/warp/warp_reduce.cuh>

#include <atomic>

#include "kernels/elementwise.cuh"

namespace actk {
namespace detail {

namespace {

namespace cg = cooperative_groups;

template <class T> __device__ __forceinline__ T inf_of();
template <> __device__ __forceinline__ float inf_of<float>() { return __int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double inf_of<double>() { return __longlong_as_double(0x7ff0000000000000ll); }
template <class T> __device__ __forceinline__ T nan_of();
template <> __device__ __forceinline__ float nan_of<float>() { return __int_as_float(0x7fc00000); }
template <> __device__ __forceinline__ double nan_of<double>() { return __longlong_as_double(0x7ff8000000000000ll); }
__device__ __forceinline__ float dexp(float v) { return expf(v); }
__device__ __forceinline__ double dexp(double v) { return exp(v); }
__device__ __forceinline__ float dlog1p(float v) { return log1pf(v); }
__device__ __forceinline__ double dlog1p(double v) { return log1p(v); }

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
    else if (a.m != -inf_of<T>()) s.r += (a.k + a.r) * dexp(a.m - m);  // -inf - m would be fine, -inf - inf not
    if (b.m == m) s.k += b.k, s.r += b.r;
    else if (b.m != -inf_of<T>()) s.r += (b.k + b.r) * dexp(b.m - m);
    return s;
  }
};
/// One element into running statistics (the online pass): one exp per element.
template <class T> __device__ __forceinline__ void push(Stats<T>& s, T v) {
  if (v > s.m) {
    s.r = s.m == -inf_of<T>() ? T(0) : (s.k + s.r) * dexp(s.m - v);
    s.k = T(1);
    s.m = v;
  } else if (v == s.m) {
    s.k += T(1);
  } else if (v != v) {
    s.m = v;  // NaN sticks: nothing compares greater or equal to it afterwards
  } else {
    s.r += dexp(v - s.m);
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
  return log ? dlog1p((s.k - T(1)) + s.r) : T(1) / (s.k + s.r);
}

template <class S, class T>
__device__ __forceinline__ S out_value(int state, bool log, bool masked_zero, T v, T m, T scale, const BlendT<T>& bl,
                                       const S* old) {
  // a NaN row is NaN whatever the blend
  if (state == 1 || (state == 2 && !masked_zero)) return dstore<S>(nan_of<T>());
  if (state == 2) return finish<S>(log ? -inf_of<T>() : T(0), bl, old);
  return finish<S>(log ? (v - m) - scale : dexp(v - m) * scale, bl, old);
}

/// One element of the backward: r = dy - exp(y) s (log) or y (dy - s); 0 in a flagged masked row.
template <class S, class T>
__device__ __forceinline__ S grad_value(bool log, bool masked, T yv, T g, T s, const BlendT<T>& bl, const S* old) {
  if (masked) return finish<S>(T(0), bl, old);
  return finish<S>(log ? g - dexp(yv) * s : yv * (g - s), bl, old);
}
template <class T> __device__ __forceinline__ int is_masked_elem(bool log, T yv) { return log ? yv == -inf_of<T>() : yv == T(0); }

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
                      group_reduce(ok && !(v == m) ? dexp(v - m) : T(0), W, Sum{})};
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
      else st.r += dexp(v[e] - m);
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

// ---- slice kernels: a block (or a cluster of blocks) per row, the row in shared memory ---------

constexpr int kSliceThreads = 512;  // with at most 64 registers: 2 resident blocks per SM
constexpr int kSliceUnroll = 4;     // loads in flight per thread
constexpr std::int64_t kSliceAlign = 8;  // slice starts are multiples of 8 elements (16 bytes for 16-bit)

/// each(v) on the compute-type value(s) of one storage unit (an element, or a 16-byte vector).
template <class S, class F> __device__ __forceinline__ void visit(const Vec<S>& u, F&& each) {
#pragma unroll
  for (int k = 0; k < Vec<S>::N; ++k) each(dload(u.v[k]));
}
template <class S, class F> __device__ __forceinline__ void visit(const S& u, F&& each) { each(dload(u)); }

/// Copies count units from g to shared memory sm, calling each(v) on every value; loads are
/// issued kSliceUnroll at a time before they are used.
template <class U, class F> __device__ __forceinline__ void copy_units(const U* g, U* sm, std::int64_t count, F&& each) {
  for (std::int64_t i = threadIdx.x; i < count; i += kSliceThreads * kSliceUnroll) {
    U a[kSliceUnroll];
#pragma unroll
    for (int u = 0; u < kSliceUnroll; ++u)
      if (i + u * kSliceThreads < count) a[u] = g[i + u * kSliceThreads];
#pragma unroll
    for (int u = 0; u < kSliceUnroll; ++u)
      if (i + u * kSliceThreads < count) {
        sm[i + u * kSliceThreads] = a[u];
        visit(a[u], each);
      }
  }
}

/// Copies g[0, len) to shared memory sm (16-byte units when vec: both aligned, len a multiple of
/// the vector width), calling each(v) on every value.
template <class S, class F>
__device__ __forceinline__ void slice_load(const S* g, S* sm, std::int64_t len, bool vec, F&& each) {
  if (vec) copy_units(reinterpret_cast<const Vec<S>*>(g), reinterpret_cast<Vec<S>*>(sm), len / Vec<S>::N, each);
  else copy_units(g, sm, len, each);
}

/// Writes g[j] = f(j, &old_g[j]) for j in [0, len); 16-byte stores when vec (and 16-byte reads of
/// the old output when blending with beta != 0).
template <class S, class F>
__device__ __forceinline__ void slice_store(S* g, std::int64_t len, bool vec, bool read_old, F&& f) {
  if (vec) {
    constexpr int N = Vec<S>::N;
    auto* gv = reinterpret_cast<Vec<S>*>(g);
    const std::int64_t nv = len / N;
    for (std::int64_t i = threadIdx.x; i < nv; i += kSliceThreads) {
      Vec<S> r, old;
      if (read_old) old = gv[i];
#pragma unroll
      for (int k = 0; k < N; ++k) r.v[k] = f(i * N + k, &old.v[k]);
      gv[i] = r;
    }
  } else {
    for (std::int64_t j = threadIdx.x; j < len; j += kSliceThreads) g[j] = f(j, g + j);
  }
}

/// This block's place in its cluster (rank 0 of 1 without one).
template <bool kCluster> __device__ __forceinline__ void cluster_rank(unsigned& rank, unsigned& nblk) {
  rank = 0;
  nblk = 1;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if constexpr (kCluster) {
    rank = cg::this_cluster().block_rank();
    nblk = cg::this_cluster().num_blocks();
  }
#endif
}
template <bool kCluster> __device__ __forceinline__ void cluster_sync() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if constexpr (kCluster) cg::this_cluster().sync();
  else __syncthreads();
#else
  __syncthreads();
#endif
}
/// Block `rank`'s copy of the shared variable v (the own copy without a cluster).
template <bool kCluster, class V> __device__ __forceinline__ V* cluster_peer(V* v, unsigned rank) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if constexpr (kCluster) return cg::this_cluster().map_shared_rank(v, rank);
#endif
  (void)rank;
  return v;
}

/// Forward. Rows go to clusters (or blocks) grid-stride; block `rank` of a cluster owns columns
/// [rank * chunk, (rank + 1) * chunk) of the row. Each block reduces its slice to Stats, publishes
/// them in its shared memory, and after a cluster barrier thread 0 of every block merges all of
/// them in rank order (the same result in every block). The published statistics alternate
/// between two slots by row parity, so one cluster barrier per row suffices; a last one at exit
/// keeps every block's shared memory alive while peers may still read it.
template <class S, bool kCluster>
__global__ void __launch_bounds__(kSliceThreads, 2)
    softmax_slice_fwd(const S* x, S* y, std::int64_t rows, std::int64_t cols, std::int64_t chunk, bool vec, bool log,
                      bool masked_zero, BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  S* row = reinterpret_cast<S*>(smem_raw);
  using BlockReduce = cub::BlockReduce<T, kSliceThreads>;
  using BlockReduceS = cub::BlockReduce<Stats<T>, kSliceThreads>;
  __shared__ typename BlockReduce::TempStorage tmp;
  __shared__ typename BlockReduceS::TempStorage tmps;
  __shared__ T bmax;
  __shared__ Stats<T> mine[2], all;  // mine: by row parity (see below)
  unsigned rank, nblk;
  cluster_rank<kCluster>(rank, nblk);
  if (static_cast<std::int64_t>(nblk) * chunk < cols) __trap();  // launched without its cluster
  const std::int64_t c0 = rank * chunk < cols ? rank * chunk : cols;
  const std::int64_t len = cols - c0 < chunk ? cols - c0 : chunk;
  int parity = 0;
  for (std::int64_t r = blockIdx.x / nblk; r < rows; r += gridDim.x / nblk, parity ^= 1) {
    T m = -inf_of<T>();
    slice_load(x + r * cols + c0, row, len, vec, [&](T v) { m = MaxNan{}(m, v); });
    m = BlockReduce(tmp).Reduce(m, MaxNan{});
    if (threadIdx.x == 0) bmax = m;
    __syncthreads();  // also: the whole slice is in shared memory
    m = bmax;
    Stats<T> st{m, T(0), T(0)};
    for (std::int64_t j = threadIdx.x; j < len; j += kSliceThreads) {
      const T v = dload(row[j]);
      if (v == m) st.k += T(1);
      else st.r += dexp(v - m);
    }
    st = BlockReduceS(tmps).Reduce(st, MergeStats{});
    if (threadIdx.x == 0) mine[parity] = st;
    cluster_sync<kCluster>();  // every block's mine[parity] is published
    if (threadIdx.x == 0) {
      Stats<T> a = *cluster_peer<kCluster>(&mine[parity], 0);
      for (unsigned q = 1; q < nblk; ++q) a = MergeStats{}(a, *cluster_peer<kCluster>(&mine[parity], q));
      all = a;
    }
    __syncthreads();
    st = all;
    const int state = row_state(st.m);
    const T scale = row_scale(log, st);
    slice_store(y + r * cols + c0, len, vec, bl.beta != T(0), [&](std::int64_t j, const S* old) {
      return out_value<S>(state, log, masked_zero, dload(row[j]), st.m, scale, bl, old);
    });
    // The row cache, bmax and all are this block's own: a block barrier before the next row reuses
    // them. mine[parity] is next written two rows on, after the next row's cluster barrier, which
    // no block passes before every peer has finished reading it here.
    __syncthreads();
  }
  cluster_sync<kCluster>();  // no block leaves (its shared memory) while a peer may still read it
}

/// Backward: the slice of y and of dy cached (dy at row + chunk), sum(dy y) (or sum(dy)) and the
/// count of unmasked elements reduced per block, then across the cluster in rank order.
template <class T> struct GradSum {
  T s;
  int unmasked;
};
struct SumGrad {
  template <class T> __device__ __forceinline__ GradSum<T> operator()(const GradSum<T>& a, const GradSum<T>& b) const {
    return GradSum<T>{a.s + b.s, a.unmasked + b.unmasked};
  }
};

template <class S, bool kCluster>
__global__ void __launch_bounds__(kSliceThreads, 2)
    softmax_slice_bwd(const S* y, const S* dy, S* dx, std::int64_t rows, std::int64_t cols, std::int64_t chunk, bool vec,
                      bool log, bool masked_zero, BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  S* ys = reinterpret_cast<S*>(smem_raw);
  S* gs = ys + chunk;  // chunk is a multiple of 8 elements: 16-byte aligned
  using BlockReduce = cub::BlockReduce<GradSum<T>, kSliceThreads>;
  __shared__ typename BlockReduce::TempStorage tmp;
  __shared__ GradSum<T> mine[2], all;  // mine: by row parity, as the forward
  unsigned rank, nblk;
  cluster_rank<kCluster>(rank, nblk);
  if (static_cast<std::int64_t>(nblk) * chunk < cols) __trap();  // launched without its cluster
  const std::int64_t c0 = rank * chunk < cols ? rank * chunk : cols;
  const std::int64_t len = cols - c0 < chunk ? cols - c0 : chunk;
  int parity = 0;
  for (std::int64_t r = blockIdx.x / nblk; r < rows; r += gridDim.x / nblk, parity ^= 1) {
    slice_load(y + r * cols + c0, ys, len, vec, [](T) {});
    slice_load(dy + r * cols + c0, gs, len, vec, [](T) {});
    __syncthreads();
    GradSum<T> gsum{T(0), 0};
    for (std::int64_t j = threadIdx.x; j < len; j += kSliceThreads) {
      const T yv = dload(ys[j]), g = dload(gs[j]);
      gsum.s += log ? g : g * yv;
      gsum.unmasked += !is_masked_elem(log, yv);
    }
    gsum = BlockReduce(tmp).Reduce(gsum, SumGrad{});
    if (threadIdx.x == 0) mine[parity] = gsum;
    cluster_sync<kCluster>();
    if (threadIdx.x == 0) {
      GradSum<T> a = *cluster_peer<kCluster>(&mine[parity], 0);
      for (unsigned q = 1; q < nblk; ++q) a = SumGrad{}(a, *cluster_peer<kCluster>(&mine[parity], q));
      all = a;
    }
    __syncthreads();
    const T s = all.s;
    const bool masked = masked_zero && all.unmasked == 0;
    slice_store(dx + r * cols + c0, len, vec, bl.beta != T(0), [&](std::int64_t j, const S* old) {
      return grad_value<S>(log, masked, dload(ys[j]), dload(gs[j]), s, bl, old);
    });
    __syncthreads();
  }
  cluster_sync<kCluster>();
}

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

// ---- dispatch --------------------------------------------------------------------------------

/// Shared memory a slice kernel may take per block on device `dev`: the opt-in limit less room for
/// the kernels' static shared memory (the reductions' scratch).
int slice_smem_limit(int dev) { return device_attr<cudaDevAttrMaxSharedMemoryPerBlockOptin>(dev) - 2048; }

/// A launch configuration for a 1-D cluster of `cs` blocks of the slice kernels (at[] must outlive it).
cudaLaunchConfig_t cluster_config(cudaLaunchAttribute (&at)[1], int cs, unsigned grid, std::size_t smem, cudaStream_t s) {
  at[0].id = cudaLaunchAttributeClusterDimension;
  at[0].val.clusterDim.x = static_cast<unsigned>(cs);
  at[0].val.clusterDim.y = 1;
  at[0].val.clusterDim.z = 1;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(grid);
  cfg.blockDim = dim3(kSliceThreads);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = s;
  cfg.attrs = at;
  cfg.numAttrs = 1;
  return cfg;
}

/// What one slice-kernel instantiation can do on a device, found once per device: its dynamic
/// shared-memory limit raised to slice_smem_limit(), and the largest cluster (2, 4, 8; 0 = none)
/// that can be resident with that much shared memory per block (needs sm_90 code and an sm_90
/// device; cudaOccupancyMaxActiveClusters says whether a cluster fits).
struct SliceInfo {
  int max_cluster = 0;
  int active_clusters = 0;  // at max_cluster and the full limit: a lower bound for smaller slices
};
template <auto Kernel> SliceInfo slice_setup(int dev, bool cluster_kernel, const char* call) {
  // per kernel instantiation and device; racing first calls do the same work and store the same
  static std::atomic<bool> ready[kMaxDevices];
  static SliceInfo info[kMaxDevices];
  if (ready[dev].load(std::memory_order_acquire)) return info[dev];
  const int limit = slice_smem_limit(dev);
  cudaFuncAttributes fa{};
  if (cudaFuncGetAttributes(&fa, Kernel) != cudaSuccess) check_launch("cudaFuncGetAttributes", call);
  if (fa.sharedSizeBytes > 2048)  // slice_smem_limit() leaves 2 KiB for it
    throw Error(Status::internal, std::string("actk::") + call + ": softmax slice kernel needs " +
                                      std::to_string(fa.sharedSizeBytes) + " bytes of static shared memory (> 2048)");
  if (cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, limit) != cudaSuccess)
    check_launch("cudaFuncSetAttribute", call);
  SliceInfo found;
  if (cluster_kernel && device_attr<cudaDevAttrComputeCapabilityMajor>(dev) >= 9 && fa.ptxVersion >= 90) {
    const cudaError_t pending = cudaPeekAtLastError();  // someone else's error: leave it for them
    for (int cs : {8, 4, 2}) {
      cudaLaunchAttribute at[1];
      const cudaLaunchConfig_t cfg = cluster_config(at, cs, static_cast<unsigned>(cs), static_cast<std::size_t>(limit), nullptr);
      int n = 0;
      if (cudaOccupancyMaxActiveClusters(&n, Kernel, &cfg) == cudaSuccess && n > 0) {
        found.max_cluster = cs;
        found.active_clusters = n;
        break;
      }
    }
    if (pending == cudaSuccess) (void)cudaGetLastError();  // a refused size is an answer, not an error
  }
  info[dev] = found;
  ready[dev].store(true, std::memory_order_release);
  return found;
}

template <class S, int ELEMS> void launch_warp(const SoftmaxCall& c, cudaStream_t s) {
  using T = typename Compute<S>::type;
  const BlendT<T> bl{static_cast<T>(c.alpha), static_cast<T>(c.beta)};
  const S* in = static_cast<const S*>(c.in);
  S* out = static_cast<S*>(c.out);
  const std::int64_t work = (c.outer + kWarpsPerBlock - 1) / kWarpsPerBlock * kThreads;
  const int cols = static_cast<int>(c.axis);
  if (c.backward)
    softmax_warp_bwd<S, ELEMS><<<grid_for<softmax_warp_bwd<S, ELEMS>>(work), kThreads, 0, s>>>(in, static_cast<const S*>(c.dy), out, c.outer,
                                                                                             cols, c.log, c.masked_zero, bl);
  else softmax_warp_fwd<S, ELEMS><<<grid_for<softmax_warp_fwd<S, ELEMS>>(work), kThreads, 0, s>>>(in, out, c.outer, cols, c.log, c.masked_zero, bl);
}

inline std::int64_t round_up(std::int64_t v, std::int64_t m) { return (v + m - 1) / m * m; }

/// The slice path for rows of the last axis, if the row fits on chip: one block per row when the
/// row's cache fits in half the limit (two rows per SM in flight: the kernels are held to 64
/// registers, two 512-thread blocks per SM), else a cluster of the fewest blocks whose slices fit
/// in half of it, else in all of it; below sm_90, one
/// block with up to the whole limit. Returns false when no slice path fits (the caller then takes
/// the two-pass kernels).
template <class S> bool launch_slice(const SoftmaxCall& c, cudaStream_t s, const char* call, int dev, int sms) {
  using T = typename Compute<S>::type;
  constexpr int N = Vec<S>::N;
  const BlendT<T> bl{static_cast<T>(c.alpha), static_cast<T>(c.beta)};
  const S* in = static_cast<const S*>(c.in);
  const S* dy = static_cast<const S*>(c.dy);
  S* out = static_cast<S*>(c.out);
  const std::int64_t cols = c.axis, rows = c.outer;
  const std::int64_t per_col = static_cast<std::int64_t>(sizeof(S)) * (c.backward ? 2 : 1);  // bytes cached per column
  // two blocks per SM (the kernels are held to 64 registers): each gets half the SM's shared
  // memory less the 1 KiB the hardware reserves per block and the kernels' static share (< 2 KiB)
  const std::int64_t limit = slice_smem_limit(dev);
  const std::int64_t per_sm_half = device_attr<cudaDevAttrMaxSharedMemoryPerMultiprocessor>(dev) / 2 - 3072;
  const std::int64_t half = per_sm_half < limit ? per_sm_half : limit;
  // 16-byte accesses: every row start aligned in every pointer
  const bool vec = cols % N == 0 && misalign(in) == 0 && misalign(out) == 0 && (!c.backward || misalign(dy) == 0);
  SliceInfo info;
  if (c.backward) {
    slice_setup<softmax_slice_bwd<S, false>>(dev, false, call);
    info = slice_setup<softmax_slice_bwd<S, true>>(dev, true, call);
  } else {
    slice_setup<softmax_slice_fwd<S, false>>(dev, false, call);
    info = slice_setup<softmax_slice_fwd<S, true>>(dev, true, call);
  }
  const int max_cluster = info.max_cluster, active = info.active_clusters;

  int cs = 0;  // 0: one block per row
  std::int64_t chunk = round_up(cols, kSliceAlign);
  if (chunk * per_col > half) {
    for (int pass = 0; pass < 2 && cs == 0; ++pass) {
      const std::int64_t budget = pass == 0 ? half : limit;
      for (int k = 2; k <= max_cluster; k *= 2) {
        const std::int64_t ch = round_up((cols + k - 1) / k, kSliceAlign);
        if (ch * per_col <= budget) {
          cs = k;
          chunk = ch;
          break;
        }
      }
    }
    if (cs == 0 && chunk * per_col > limit) return false;  // no cluster fits, nor one block
  }
  const std::size_t smem = static_cast<std::size_t>(chunk * per_col);
  if (cs == 0) {
    const std::int64_t cap = static_cast<std::int64_t>(sms) * 16;
    const int grid = static_cast<int>(rows < cap ? (rows < 1 ? 1 : rows) : cap);
    if (c.backward)
      softmax_slice_bwd<S, false><<<grid, kSliceThreads, smem, s>>>(in, dy, out, rows, cols, chunk, vec, c.log, c.masked_zero, bl);
    else softmax_slice_fwd<S, false><<<grid, kSliceThreads, smem, s>>>(in, out, rows, cols, chunk, vec, c.log, c.masked_zero, bl);
    check_launch("softmax kernel (block per row, shared memory)", call);
    return true;
  }
  // one cluster per row, as many clusters as can be resident (at least one wave's worth of SMs)
  std::int64_t clusters = active > 0 ? active : 1;
  const std::int64_t wave = 2 * static_cast<std::int64_t>(sms) / cs;  // two blocks per SM where the slices fit
  if (clusters < wave) clusters = wave;
  if (clusters > rows) clusters = rows;
  if (clusters < 1) clusters = 1;
  cudaLaunchAttribute at[1];
  const cudaLaunchConfig_t cfg = cluster_config(at, cs, static_cast<unsigned>(clusters * cs), smem, s);
  const bool lg = c.log, mz = c.masked_zero;
  const cudaError_t e = c.backward ? cudaLaunchKernelEx(&cfg, softmax_slice_bwd<S, true>, in, dy, out, rows, cols, chunk, vec, lg, mz, bl)
                                   : cudaLaunchKernelEx(&cfg, softmax_slice_fwd<S, true>, in, out, rows, cols, chunk, vec, lg, mz, bl);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();  // reported here; not left for the next call to find
    throw Error(Status::cuda_error, std::string("actk::") + call + ": softmax kernel (thread-block cluster of " +
                                        std::to_string(cs) + ") failed: " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
  }
  check_launch("softmax kernel (thread-block cluster)", call);
  return true;
}

template <class S> void softmax_typed(const SoftmaxCall& c) {
  using T = typename Compute<S>::type;
  cudaStream_t s = static_cast<cudaStream_t>(c.stream);
  const S* in = static_cast<const S*>(c.in);
  const S* dy = static_cast<const S*>(c.dy);
  S* out = static_cast<S*>(c.out);
  const char* call = c.backward ? "softmax_backward" : "softmax_forward";
  const BlendT<T> bl{static_cast<T>(c.alpha), static_cast<T>(c.beta)};
  const int dev = current_device(), sms = device_attr<cudaDevAttrMultiProcessorCount>(dev);  // once per call
  if (c.inner > 1) {
    const std::int64_t work = c.outer * c.inner;
    if (c.backward)
      softmax_strided_bwd<S><<<grid_for<softmax_strided_bwd<S>>(work), kThreads, 0, s>>>(in, dy, out, c.outer, c.axis, c.inner, c.log,
                                                                                       c.masked_zero, bl);
    else
      softmax_strided_fwd<S><<<grid_for<softmax_strided_fwd<S>>(work), kThreads, 0, s>>>(in, out, c.outer, c.axis, c.inner, c.log,
                                                                                       c.masked_zero, bl);
    check_launch("softmax kernel (strided axis)", call);
    return;
  }
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
  if (cols <= 1024) {
    if (cols <= 64) launch_warp<S, 2>(c, s);
    else if (cols <= 128) launch_warp<S, 4>(c, s);
    else if (cols <= 256) launch_warp<S, 8>(c, s);
    else if (cols <= 512) launch_warp<S, 16>(c, s);
    else launch_warp<S, 32>(c, s);
    check_launch("softmax kernel (warp per row)", call);
    return;
  }
  if (launch_slice<S>(c, s, call, dev, sms)) return;
  const std::int64_t work = c.outer * kThreads;
  if (c.backward)
    softmax_block_bwd<S><<<grid_for<softmax_block_bwd<S>>(work), kThreads, 0, s>>>(in, dy, out, c.outer, cols, c.log, c.masked_zero, bl);
  else
    softmax_block_online_fwd<S><<<grid_for<softmax_block_online_fwd<S>>(work), kThreads, 0, s>>>(in, out, c.outer, cols, c.log,
                                                                                                c.masked_zero, bl);
  check_launch(c.backward ? "softmax kernel (block per row, two passes)" : "softmax kernel (block per row, online)", call);
}

}  // namespace

void cuda_softmax(const SoftmaxCall& c) {
  with_storage(c.dtype, "cuda_softmax", [&](auto s) { softmax_typed<decltype(s)>(c); });
}

}  // namespace detail
}  // namespace actk
