// kernels/cross_entropy.cu: cross-entropy over logits [rows, vocab] on the GPU (the formulas are
// actk.h's; the CPU reference is host/cpu_loss.cpp).
//   - totals (one block, when needed): W = sum of the class weights (label smoothing with
//     weights) and D = sum of w_t over the counted rows (the mean's denominator), in double, in a
//     fixed order;
//   - forward: a block per row, one read of the row: the online (max, sum) statistics of
//     kernels/softmax.cuh over the (capped) logits and, with label smoothing, sum_j w_j z_j; the
//     row's loss (and its logsumexp, on request) written by thread 0; sum / mean: the rows' losses
//     in double scratch, then one block adds them in a fixed order;
//   - backward: a block per row, one read and one write when the forward's lse is given (else a
//     statistics pass first); dlogits may be the logits (each element read, then written, by one
//     thread).
// Accumulation in float (double for float64). Targets outside [0, vocab) (other than ignore_index)
// read nothing out of bounds: their row's loss and gradient are NaN.
#include <cub/block/block_reduce.cuh>

#include "kernels/softmax.cuh"

namespace actk {
namespace detail {

namespace {

__device__ __forceinline__ std::int64_t target_of(const void* targets, bool t64, std::int64_t r) {
  return t64 ? static_cast<const std::int64_t*>(targets)[r] : static_cast<const std::int32_t*>(targets)[r];
}

/// A double rounded once to the storage type (actk's 16-bit types convert a double directly).
template <class S> __device__ __forceinline__ S from_double(double v) {
  if constexpr (std::is_same_v<S, double>) return v;
  else if constexpr (std::is_same_v<S, float>) return static_cast<float>(v);
  else return S(v);
}

/// The call's options and shape, as every kernel takes them.
struct CeShape {
  std::int64_t rows, vocab, ignore;
  bool t64;
  double eps, zl, cap;
};

template <class T> __device__ __forceinline__ T capped(T v, T cap) { return cap > T(0) ? cap * math::tanh(v / cap) : v; }

// W (totals[0]) and D (totals[1]); an out-of-range target makes D NaN (so the mean is NaN).
template <class S>
__global__ void __launch_bounds__(kThreads) ce_totals(const S* weight, const void* targets, CeShape sh, double* totals) {
  using Reduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  double w = 0, d = 0;
  for (std::int64_t j = threadIdx.x; j < sh.vocab; j += kThreads) w += weight ? static_cast<double>(dload(weight[j])) : 1.0;
  for (std::int64_t r = threadIdx.x; r < sh.rows; r += kThreads) {
    const std::int64_t t = target_of(targets, sh.t64, r);
    if (t == sh.ignore) continue;
    if (t < 0 || t >= sh.vocab) d += __longlong_as_double(0x7ff8000000000000ll);  // NaN
    else d += weight ? static_cast<double>(dload(weight[t])) : 1.0;
  }
  w = Reduce(tmp).Sum(w);
  __syncthreads();
  d = Reduce(tmp).Sum(d);
  if (threadIdx.x == 0) totals[0] = w, totals[1] = d;
}

/// A row's statistics over its capped logits, in one read: (max, count, rest) and, when `sums`,
/// sum_j w_j z_j. Every thread gets the block's result.
template <class S, class T> struct RowStats {
  Stats<T> st;
  T wz;
};
/// This thread's part: U independent statistics (U loads in flight). With a cap (tanh per element)
/// one at a time: four tanhf inlined beside the statistics made ptxas spill (sm_90).
template <int U, bool kCap, class S, class T>
__device__ __forceinline__ Stats<T> thread_stats(const S* xr, const S* weight, CeShape sh, bool sums, T& wz) {
  const T cap = static_cast<T>(sh.cap);
  Stats<T> acc[U];
#pragma unroll
  for (int u = 0; u < U; ++u) acc[u] = empty_stats<T>();
  for (std::int64_t j = threadIdx.x; j < sh.vocab; j += static_cast<std::int64_t>(kThreads) * U) {
    S a[U];
#pragma unroll
    for (int u = 0; u < U; ++u)
      if (j + u * kThreads < sh.vocab) a[u] = xr[j + u * kThreads];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const std::int64_t k = j + u * kThreads;
      if (k < sh.vocab) {
        const T z = kCap ? cap * math::tanh(dload(a[u]) / cap) : dload(a[u]);
        push(acc[u], z);
        if (sums) wz += (weight ? dload(weight[k]) : T(1)) * z;
      }
    }
  }
#pragma unroll
  for (int u = 1; u < U; ++u) acc[0] = MergeStats{}(acc[0], acc[u]);
  return acc[0];
}
template <class S, class T>
__device__ __forceinline__ RowStats<S, T> row_stats(const S* xr, const S* weight, CeShape sh, bool sums) {
  using BlockStats = cub::BlockReduce<Stats<T>, kThreads>;
  using BlockSum = cub::BlockReduce<T, kThreads>;
  __shared__ typename BlockStats::TempStorage tmp_s;
  __shared__ typename BlockSum::TempStorage tmp_w;
  __shared__ RowStats<S, T> out;
  T wz = 0;
  const Stats<T> mine = sh.cap > 0 ? thread_stats<1, true>(xr, weight, sh, sums, wz) : thread_stats<kSliceUnroll, false>(xr, weight, sh, sums, wz);
  const Stats<T> st = BlockStats(tmp_s).Reduce(mine, MergeStats{});
  const T wzs = sums ? BlockSum(tmp_w).Sum(wz) : T(0);
  if (threadIdx.x == 0) out = RowStats<S, T>{st, wzs};
  __syncthreads();
  const RowStats<S, T> r = out;
  __syncthreads();  // out and the temp storage are reused by the next row
  return r;
}

/// log(sum_j e^(z_j - m)) from the statistics: log1p((k - 1) + r), so that lse - z_t = (m - z_t) +
/// ls keeps its relative accuracy when the target dominates; NaN for a row holding NaN or +inf (as
/// softmax), 0 for an all -inf row (its m = -inf makes the loss NaN, as PyTorch).
template <class T> __device__ __forceinline__ T ls_of(const Stats<T>& s) {
  if (s.m != s.m || s.m == inf_of<T>()) return nan_of<T>();
  if (s.m == -inf_of<T>()) return T(0);
  return math::log1p((s.k - T(1)) + s.r);
}
template <class T> __device__ __forceinline__ T lse_of(const Stats<T>& s) { return s.m + ls_of(s); }

template <class S>
__global__ void __launch_bounds__(kThreads)
    ce_forward(const S* x, const void* targets, const S* weight, CeShape sh, const double* totals, S* loss_none, double* row_loss,
               float* lse_out) {
  using T = typename Compute<S>::type;
  const bool sums = sh.eps > 0;
  for (std::int64_t r = blockIdx.x; r < sh.rows; r += gridDim.x) {
    const S* xr = x + r * sh.vocab;
    const RowStats<S, T> rs = row_stats<S, T>(xr, weight, sh, sums);  // ends with a barrier
    if (threadIdx.x != 0) continue;  // the others go on to the next row's reduction; thread 0 joins at its barriers
    const double m = static_cast<double>(rs.st.m), ls = static_cast<double>(ls_of(rs.st)), l = m + ls;
    const std::int64_t t = target_of(targets, sh.t64, r);
    double loss;
    if (t == sh.ignore) {
      loss = 0;
    } else if (t < 0 || t >= sh.vocab) {
      loss = __longlong_as_double(0x7ff8000000000000ll);  // NaN: no read outside the row
    } else {
      const double wt = weight ? static_cast<double>(dload(weight[t])) : 1.0;
      const double zt = static_cast<double>(capped(dload(xr[t]), static_cast<T>(sh.cap)));
      loss = (1.0 - sh.eps) * wt * ((m - zt) + ls);
      if (sums) {
        const double W = weight ? totals[0] : static_cast<double>(sh.vocab);
        loss += sh.eps / static_cast<double>(sh.vocab) * (W * l - static_cast<double>(rs.wz));
      }
      if (sh.zl > 0) loss += sh.zl * l * l;
    }
    if (loss_none) loss_none[r] = from_double<S>(loss);
    else row_loss[r] = loss;
    if (lse_out) lse_out[r] = static_cast<float>(l);
  }
}

/// The sum or the mean of the rows' losses: one block, a fixed order.
template <class S>
__global__ void __launch_bounds__(kThreads) ce_reduce(const double* row_loss, std::int64_t rows, const double* totals, bool mean, S* loss) {
  using Reduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  double s = 0;
  for (std::int64_t r = threadIdx.x; r < rows; r += kThreads) s += row_loss[r];
  s = Reduce(tmp).Sum(s);
  if (threadIdx.x == 0) {
    loss[0] = from_double<S>(mean ? s / totals[1] : s);  // all ignored: 0 / 0 = NaN, as PyTorch
  }
}

template <class S>
__global__ void __launch_bounds__(kThreads)
    ce_backward(const S* x, const void* targets, const S* weight, CeShape sh, const double* totals, int reduction, const S* dloss,
                const float* lse_in, S* dx) {
  using T = typename Compute<S>::type;
  const T cap = static_cast<T>(sh.cap);
  for (std::int64_t r = blockIdx.x; r < sh.rows; r += gridDim.x) {
    const S* xr = x + r * sh.vocab;
    S* dr = dx + r * sh.vocab;
    const std::int64_t t = target_of(targets, sh.t64, r);
    if (t == sh.ignore) {
      for (std::int64_t j = threadIdx.x; j < sh.vocab; j += kThreads) dr[j] = dstore<S>(T(0));
      continue;
    }
    const bool valid = t >= 0 && t < sh.vocab;
    const T l = lse_in ? static_cast<T>(lse_in[r]) : lse_of(row_stats<S, T>(xr, weight, sh, false).st);
    T g = reduction == 0 ? dload(dloss[r]) : dload(dloss[0]);
    if (reduction == 2) g = static_cast<T>(static_cast<double>(g) / totals[1]);
    if (!valid) g = nan_of<T>();  // the row's gradient is NaN, nothing read outside it
    const T wt = valid ? (weight ? dload(weight[t]) : T(1)) : T(0);
    const T e1 = static_cast<T>(1.0 - sh.eps), ev = static_cast<T>(sh.eps / static_cast<double>(sh.vocab));
    const T W = weight && sh.eps > 0 ? static_cast<T>(totals[0]) : static_cast<T>(sh.vocab), zl2 = static_cast<T>(2.0 * sh.zl) * l;
    auto write = [&](auto cap_c) {  // one loop per cap setting (tanhf beside the rest made ptxas spill)
      constexpr bool kCap = decltype(cap_c)::value;
      for (std::int64_t j = threadIdx.x; j < sh.vocab; j += kThreads) {
        const T z = kCap ? cap * math::tanh(dload(xr[j]) / cap) : dload(xr[j]);
        const T p = exp_sum_term(z - l);
        T d = e1 * wt * (p - (j == t ? T(1) : T(0)));
        if (sh.eps > 0) d += ev * (W * p - (weight ? dload(weight[j]) : T(1)));
        if (sh.zl > 0) d += zl2 * p;
        if constexpr (kCap) d *= T(1) - (z / cap) * (z / cap);
        dr[j] = dstore<S>(g * d);  // after x[j] was read: dlogits may be the logits
      }
    };
    if (sh.cap > 0) write(std::true_type{});
    else write(std::false_type{});
  }
}

template <class S> void cross_entropy_typed(const CrossEntropyCall& c) {
  cudaStream_t s = static_cast<cudaStream_t>(c.stream);
  const char* call = c.backward ? "cross_entropy_backward" : "cross_entropy_forward";
  const CeShape sh{c.rows, c.vocab, c.ignore_index, c.targets64, c.smoothing, c.z_loss, c.softcap};
  const auto* x = static_cast<const S*>(c.logits);
  const auto* w = static_cast<const S*>(c.weight);
  const bool need_totals = c.reduction == 2 || (c.smoothing > 0 && w != nullptr);
  const bool need_rows = !c.backward && c.reduction != 0;
  const std::size_t bytes = (2 + (need_rows ? static_cast<std::size_t>(c.rows) : 0)) * sizeof(double);
  Scratch scratch(nullptr, bytes, s, call);  // from the stream-ordered pool: a few bytes unless sum / mean
  auto* totals = static_cast<double*>(scratch.ptr);
  if (need_totals) ce_totals<S><<<1, kThreads, 0, s>>>(w, c.targets, sh, totals);
  const std::int64_t work = c.rows * kThreads;
  if (!c.backward) {
    if (c.rows > 0)
      ce_forward<S><<<grid_for<ce_forward<S>>(work), kThreads, 0, s>>>(x, c.targets, w, sh, totals,
                                                                      need_rows ? nullptr : static_cast<S*>(c.loss),
                                                                      need_rows ? totals + 2 : nullptr, c.lse);
    if (need_rows) ce_reduce<S><<<1, kThreads, 0, s>>>(totals + 2, c.rows, totals, c.reduction == 2, static_cast<S*>(c.loss));
  } else if (c.rows > 0) {
    ce_backward<S><<<grid_for<ce_backward<S>>(work), kThreads, 0, s>>>(x, c.targets, w, sh, totals, c.reduction,
                                                                       static_cast<const S*>(c.dloss),
                                                                       std::is_same_v<S, double> ? nullptr : c.lse_in,  // float lse: float64 recomputes it
                                                                       static_cast<S*>(c.dlogits));
  }
  check_launch("cross-entropy kernels", call);
}

}  // namespace

void cuda_cross_entropy(const CrossEntropyCall& c) {
  with_storage(c.dtype, "cuda_cross_entropy", [&](auto s) { cross_entropy_typed<decltype(s)>(c); });
}

}  // namespace detail
}  // namespace actk
