// kernels/fused.cuh: the fused ops on the GPU, instantiated per storage type in
// kernels/fused_<type>.cu: bias + activation (forward; backward with dbias: dx and the dbias
// partial sums in one pass, then the partials summed in a fixed order, no float atomics) and gated
// activations (forward; both gradients in one pass), with cuDNN-style blending (out = alpha * r +
// beta * out; beta = 0 never reads out).
// One pass over memory each; the element math is the op list's functors, in float (double for
// float64).
//   - vectorized kernels (16-byte loads and stores, kUnroll vectors in flight per thread, as the
//     element-wise launcher) when every row is made of whole vectors: cols (and the gated input's
//     row stride) a multiple of the vector width and every pointer 16-byte aligned; a vector then
//     never straddles two rows, so its bias (or its gate/value position) is one vector too;
//   - grid-stride scalar kernels otherwise (any shape, any element alignment).
// Row/column of a flat index: 32-bit division when the tensor has fewer than 2^32 elements.
#pragma once

#include <cub/block/block_reduce.cuh>

#include "kernels/elementwise.cuh"
#include "kernels/index_math.h"

namespace actk {
namespace detail {


template <class Fn, class S>
__global__ void __launch_bounds__(kThreads)
    bias_fwd_kernel(const S* x, const S* bias, S* y, S* pre, std::int64_t n, std::int64_t cols, P<typename Compute<S>::type> p,
                    BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * kThreads) {
    const T z = dload(x[i]) + (bias ? dload(bias[i % cols]) : T(0));
    const S r = finish<S>(Fn::forward(z, p), bl, y + i);
    if (pre) pre[i] = dstore<S>(z);
    y[i] = r;
  }
}

template <class Fn, class S>
__global__ void __launch_bounds__(kThreads)
    bias_bwd_kernel(const S* x, const S* bias, const S* dy, S* dx, std::int64_t n, std::int64_t cols,
                    P<typename Compute<S>::type> p, BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * kThreads) {
    const T z = dload(x[i]) + (bias ? dload(bias[i % cols]) : T(0));
    dx[i] = finish<S>(Fn::backward_from_input(z, dload(dy[i]), p), bl, dx + i);
  }
}

// Backward with dbias, one pass: dx = f'(x + b) dy (blended) and the dbias partial sums of the same
// terms, read once (x and dy) and written once (dx): 3n element transfers, where a separate dbias
// pass before the dx pass made 5n. Block = (column tile, row chunk); a thread owns W consecutive
// columns (W = the vector width when kVec: cols a multiple of it, x / dy / dx 16-byte aligned;
// else 1) and one of `lanes` row lanes (dbias_row_lanes: the reduction's shape does not depend on
// W, so both kernels give the same bits). Partial sums in double, lanes added in a fixed order.
template <class Fn, class S, bool kVec>
__global__ void __launch_bounds__(kThreads)
    bias_bwd_dbias(const S* x, const S* bias, const S* dy, S* dx, double* partial, std::int64_t rows, std::int64_t cols,
                   std::int64_t chunks, int lanes, P<typename Compute<S>::type> p, BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  constexpr int W = kVec ? Vec<S>::N : 1;
  const int col_lanes = kThreads / lanes;
  const std::int64_t tile_cols = static_cast<std::int64_t>(col_lanes) * W;
  const std::int64_t tiles = (cols + tile_cols - 1) / tile_cols;
  const std::int64_t tile = blockIdx.x % tiles, chunk = blockIdx.x / tiles;
  const int cl = threadIdx.x % col_lanes, rl = threadIdx.x / col_lanes;
  const std::int64_t c0 = tile * tile_cols + static_cast<std::int64_t>(cl) * W;
  const bool active = c0 < cols;  // kVec: c0 + W <= cols then too (cols is a multiple of W)
  const std::int64_t per = (rows + chunks - 1) / chunks, r0 = chunk * per, r1 = r0 + per < rows ? r0 + per : rows;
  double acc[W];
  T b[W];
#pragma unroll
  for (int k = 0; k < W; ++k) {
    acc[k] = 0;
    b[k] = bias && active ? dload(bias[c0 + k]) : T(0);
  }
  struct alignas(kVec ? 16 : alignof(S)) Chunk {  // W elements: one 16-byte vector, or one element
    S v[W];
  };
  if (active) {
    for (std::int64_t r = r0 + rl; r < r1; r += lanes) {
      const std::int64_t i = r * cols + c0;
      const Chunk xv = *reinterpret_cast<const Chunk*>(x + i), gv = *reinterpret_cast<const Chunk*>(dy + i);
      Chunk ov;
      if (bl.beta != T(0)) ov = *reinterpret_cast<const Chunk*>(dx + i);  // with the inputs (uniform branch)
#pragma unroll
      for (int k = 0; k < W; ++k) {
        const T g = Fn::backward_from_input(dload(xv.v[k]) + b[k], dload(gv.v[k]), p);
        acc[k] += static_cast<double>(g);
        ov.v[k] = finish<S>(g, bl, &ov.v[k]);
      }
      *reinterpret_cast<Chunk*>(dx + i) = ov;  // after the reads: dx may be x or dy (in place)
    }
  }
  __shared__ double red[kThreads * W];
#pragma unroll
  for (int k = 0; k < W; ++k) red[threadIdx.x * W + k] = acc[k];
  __syncthreads();
  if (rl == 0 && active) {
#pragma unroll
    for (int k = 0; k < W; ++k) {
      double s = 0;
      for (int l = 0; l < lanes; ++l) s += red[(l * col_lanes + cl) * W + k];
      partial[chunk * cols + c0 + k] = s;
    }
  }
}

// dbias stage 2: a block per column sums its chunks' partials (a fixed-shape block reduction),
// times alpha, rounded once.
template <class S>
__global__ void __launch_bounds__(kThreads)
    dbias_final(const double* partial, S* dbias, std::int64_t cols, std::int64_t chunks, double alpha) {
  using Reduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  for (std::int64_t col = blockIdx.x; col < cols; col += gridDim.x) {
    double s = 0;
    for (std::int64_t k = threadIdx.x; k < chunks; k += kThreads) s += partial[k * cols + col];
    const double total = Reduce(tmp).Sum(s) * alpha;
    if (threadIdx.x == 0) {
      if constexpr (std::is_same_v<S, double>) dbias[col] = total;
      else if constexpr (std::is_same_v<S, float>) dbias[col] = static_cast<float>(total);
      else dbias[col] = S(total);
    }
    __syncthreads();  // tmp is reused by the next column
  }
}

template <class Fn, class S>
__global__ void __launch_bounds__(kThreads)
    gated_kernel(const S* gate, const S* value, std::int64_t stride, const S* dy, S* out, S* out2, std::int64_t n,
                 std::int64_t cols, bool backward, P<typename Compute<S>::type> p, BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  for (std::int64_t o = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; o < n;
       o += static_cast<std::int64_t>(gridDim.x) * kThreads) {
    const std::int64_t i = (o / cols) * stride + o % cols;
    const T g = dload(gate[i]), v = dload(value[i]);
    if (!backward) {
      out[o] = finish<S>(Fn::forward(g, p) * v, bl, out + o);
    } else {
      const T d = dload(dy[o]);
      const S dg = finish<S>(Fn::backward_from_input(g, d * v, p), bl, out + i);
      const S dv = finish<S>(d * Fn::forward(g, p), bl, out2 + i);
      out[i] = dg;  // after both reads: dgate/dvalue may be gate/value (in place)
      out2[i] = dv;
    }
  }
}

// ---- vectorized kernels (whole vectors per row, every pointer 16-byte aligned) -----------------


/// Bias + activation, vectorized, U vectors deep: forward y = f(x + b) (pre = x + b on request),
/// or backward dx = f'(x + b) dy. The bias of vector i is the vector at its column. kBlend (beta
/// != 0): the old output is loaded with the inputs, one vector deep (see vec_steps in
/// elementwise.cuh: accumulation no longer waits on one serial round trip per vector, and the
/// kernel's registers are the plain path's).
template <int U, bool kBlend, bool kBackward, class Fn, class S, class T>
__device__ __forceinline__ void bias_steps(const Vec<S>* vx, const Vec<S>* vb, const Vec<S>* vg, Vec<S>* vout, Vec<S>* vpre,
                                           std::int64_t nvec, std::int64_t cols, bool small, const P<T>& p, const BlendT<T>& bl) {
  constexpr int N = Vec<S>::N;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kThreads;
  for (std::int64_t base = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; base < nvec; base += stride * U) {
    Vec<S> a[U], b[U], g[U], o[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const std::int64_t i = base + u * stride;
      if (i < nvec) {
        a[u] = vx[i];
        if constexpr (kBackward) g[u] = vg[i];
        if constexpr (kBlend) o[u] = vout[i];
        if (vb) {
          std::int64_t r, c;
          row_col(i * N, cols, small, r, c);
          b[u] = vb[c / N];
        }
      }
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const std::int64_t i = base + u * stride;
      if (i < nvec) {
        Vec<S> z;
#pragma unroll
        for (int k = 0; k < N; ++k) {
          const T zk = dload(a[u].v[k]) + (vb ? dload(b[u].v[k]) : T(0));
          T r;
          if constexpr (kBackward) {
            r = Fn::backward_from_input(zk, dload(g[u].v[k]), p);
          } else {
            z.v[k] = dstore<S>(zk);
            r = Fn::forward(zk, p);
          }
          if (bl.alpha != T(1)) r *= bl.alpha;
          if constexpr (kBlend) r += bl.beta * dload(o[u].v[k]);
          o[u].v[k] = dstore<S>(r);
        }
        if constexpr (!kBackward) {
          if (vpre) vpre[i] = z;
        }
        vout[i] = o[u];
      }
    }
  }
}

template <class Fn, class S, bool kBackward>
__global__ void __launch_bounds__(kThreads)
    bias_vec(const S* x, const S* bias, const S* dy, S* out, S* pre, std::int64_t nvec, std::int64_t cols, bool small,
             P<typename Compute<S>::type> p, BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  const auto* vx = reinterpret_cast<const Vec<S>*>(x);
  const auto* vb = reinterpret_cast<const Vec<S>*>(bias);
  const auto* vg = reinterpret_cast<const Vec<S>*>(dy);
  auto* vout = reinterpret_cast<Vec<S>*>(out);
  auto* vpre = reinterpret_cast<Vec<S>*>(pre);
  if (bl.beta != T(0)) bias_steps<1, true, kBackward, Fn>(vx, vb, vg, vout, vpre, nvec, cols, small, p, bl);  // uniform
  else bias_steps<kUnroll, false, kBackward, Fn>(vx, vb, vg, vout, vpre, nvec, cols, small, p, bl);
}

/// Gated, vectorized, U vectors deep: output vector o covers elements [o N, o N + N) of row r; its
/// gate and value are the vector at r * stride + c of each input (stride and c multiples of N).
/// kBlend: as bias_steps.
template <int U, bool kBlend, bool kBackward, class Fn, class S, class T>
__device__ __forceinline__ void gated_steps(const Vec<S>* vgate, const Vec<S>* vval, std::int64_t stride_in, const Vec<S>* vdy,
                                            Vec<S>* vout, Vec<S>* vout2, std::int64_t nvec, std::int64_t cols, bool small,
                                            const P<T>& p, const BlendT<T>& bl) {
  constexpr int N = Vec<S>::N;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kThreads;
  for (std::int64_t base = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; base < nvec; base += stride * U) {
    Vec<S> g[U], v[U], d[U], o[U], o2[U];
    std::int64_t at[U];  // the inputs' vector index
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const std::int64_t e = base + u * stride;
      if (e < nvec) {
        std::int64_t r, c;
        row_col(e * N, cols, small, r, c);
        at[u] = (r * stride_in + c) / N;
        g[u] = vgate[at[u]];
        v[u] = vval[at[u]];
        if constexpr (kBackward) {
          d[u] = vdy[e];
          if constexpr (kBlend) o[u] = vout[at[u]], o2[u] = vout2[at[u]];
        } else if constexpr (kBlend) {
          o[u] = vout[e];
        }
      }
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const std::int64_t e = base + u * stride;
      if (e >= nvec) continue;
      if constexpr (!kBackward) {
#pragma unroll
        for (int k = 0; k < N; ++k) {
          T r = Fn::forward(dload(g[u].v[k]), p) * dload(v[u].v[k]);
          if (bl.alpha != T(1)) r *= bl.alpha;
          if constexpr (kBlend) r += bl.beta * dload(o[u].v[k]);
          o[u].v[k] = dstore<S>(r);
        }
        vout[e] = o[u];
      } else {
#pragma unroll
        for (int k = 0; k < N; ++k) {
          const T gk = dload(g[u].v[k]), vk = dload(v[u].v[k]), dk = dload(d[u].v[k]);
          T dg = Fn::backward_from_input(gk, dk * vk, p), dv = dk * Fn::forward(gk, p);
          if (bl.alpha != T(1)) dg *= bl.alpha, dv *= bl.alpha;
          if constexpr (kBlend) dg += bl.beta * dload(o[u].v[k]), dv += bl.beta * dload(o2[u].v[k]);
          o[u].v[k] = dstore<S>(dg);
          o2[u].v[k] = dstore<S>(dv);
        }
        vout[at[u]] = o[u];  // after both reads: dgate/dvalue may be gate/value (in place)
        vout2[at[u]] = o2[u];
      }
    }
  }
}

template <class Fn, class S, bool kBackward>
__global__ void __launch_bounds__(kThreads)
    gated_vec(const S* gate, const S* value, std::int64_t stride_in, const S* dy, S* out, S* out2, std::int64_t nvec,
              std::int64_t cols, bool small, P<typename Compute<S>::type> p, BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  const auto* vgate = reinterpret_cast<const Vec<S>*>(gate);
  const auto* vval = reinterpret_cast<const Vec<S>*>(value);
  const auto* vdy = reinterpret_cast<const Vec<S>*>(dy);
  auto* vout = reinterpret_cast<Vec<S>*>(out);
  auto* vout2 = reinterpret_cast<Vec<S>*>(out2);
  if (bl.beta != T(0)) gated_steps<1, true, kBackward, Fn>(vgate, vval, stride_in, vdy, vout, vout2, nvec, cols, small, p, bl);
  else gated_steps<kUnroll, false, kBackward, Fn>(vgate, vval, stride_in, vdy, vout, vout2, nvec, cols, small, p, bl);
}

template <class Fn, class S> void fused_typed(const FusedCall& c) {
  using T = typename Compute<S>::type;
  const P<T> p = P<T>::make(c.a, c.b);
  const BlendT<T> bl{static_cast<T>(c.alpha), static_cast<T>(c.beta)};
  const auto* x = static_cast<const S*>(c.x);
  const auto* aux = static_cast<const S*>(c.aux);
  const auto* dy = static_cast<const S*>(c.dy);
  auto* out = static_cast<S*>(c.out);
  auto* out2 = static_cast<S*>(c.out2);
  cudaStream_t s = static_cast<cudaStream_t>(c.stream);
  const std::int64_t n = c.rows * c.cols;
  constexpr int N = Vec<S>::N;
  auto aligned = [](const void* q) { return q == nullptr || misalign(q) == 0; };  // null: not used
  const bool whole_vectors = c.cols % N == 0;
  const std::int64_t nvec = n / N;
  const bool small = n < (std::int64_t{1} << 32);  // flat indices and cols fit in 32 bits
  const std::int64_t vwork = (nvec + kUnroll - 1) / kUnroll;
  const char* call = c.kind == FusedKind::bias_fwd ? "bias_act_forward"
                     : c.kind == FusedKind::bias_bwd ? "bias_act_backward"
                     : c.kind == FusedKind::gated_fwd ? "gated_forward" : "gated_backward";
  switch (c.kind) {
    case FusedKind::bias_fwd:
      if (whole_vectors && aligned(x) && aligned(aux) && aligned(out) && aligned(out2))
        bias_vec<Fn, S, false><<<grid_for<bias_vec<Fn, S, false>>(vwork), kThreads, 0, s>>>(x, aux, nullptr, out, out2, nvec, c.cols, small, p, bl);
      else bias_fwd_kernel<Fn, S><<<grid_for<bias_fwd_kernel<Fn, S>>(n), kThreads, 0, s>>>(x, aux, out, out2, n, c.cols, p, bl);
      break;
    case FusedKind::bias_bwd:
      if (out2 != nullptr) {  // dx and dbias in one pass
        const std::int64_t chunks = dbias_row_chunks(c.rows, c.cols);
        const int lanes = dbias_row_lanes(c.cols);
        Scratch scratch(c.workspace, static_cast<std::size_t>(chunks * c.cols) * sizeof(double), s, call);
        auto* partial = static_cast<double*>(scratch.ptr);
        if (n > 0) {
          const bool vec = whole_vectors && aligned(x) && aligned(dy) && aligned(out);
          const std::int64_t tile_cols = static_cast<std::int64_t>(kThreads / lanes) * (vec ? N : 1);
          const auto blocks = static_cast<unsigned>((c.cols + tile_cols - 1) / tile_cols * chunks);
          if (vec)
            bias_bwd_dbias<Fn, S, true><<<blocks, kThreads, 0, s>>>(x, aux, dy, out, partial, c.rows, c.cols, chunks, lanes, p, bl);
          else
            bias_bwd_dbias<Fn, S, false><<<blocks, kThreads, 0, s>>>(x, aux, dy, out, partial, c.rows, c.cols, chunks, lanes, p, bl);
        } else if (cudaMemsetAsync(partial, 0, static_cast<std::size_t>(chunks * c.cols) * sizeof(double), s) != cudaSuccess) {
          check_launch("cudaMemsetAsync", call);
        }
        const std::int64_t fgrid = c.cols < (std::int64_t{1} << 20) ? c.cols : (std::int64_t{1} << 20);
        dbias_final<S><<<static_cast<unsigned>(fgrid > 0 ? fgrid : 1), kThreads, 0, s>>>(partial, out2, c.cols, chunks, c.alpha);
        check_launch("dbias kernels", call);
        break;
      }
      if (n == 0) break;
      if (whole_vectors && aligned(x) && aligned(aux) && aligned(dy) && aligned(out))
        bias_vec<Fn, S, true><<<grid_for<bias_vec<Fn, S, true>>(vwork), kThreads, 0, s>>>(x, aux, dy, out, nullptr, nvec, c.cols, small, p, bl);
      else bias_bwd_kernel<Fn, S><<<grid_for<bias_bwd_kernel<Fn, S>>(n), kThreads, 0, s>>>(x, aux, dy, out, n, c.cols, p, bl);
      break;
    case FusedKind::gated_fwd:
    case FusedKind::gated_bwd: {
      const bool bwd = c.kind == FusedKind::gated_bwd;
      if (whole_vectors && c.in_stride % N == 0 && aligned(x) && aligned(aux) && aligned(dy) && aligned(out) && aligned(out2)) {
        if (bwd)
          gated_vec<Fn, S, true><<<grid_for<gated_vec<Fn, S, true>>(vwork), kThreads, 0, s>>>(x, aux, c.in_stride, dy, out, out2, nvec,
                                                                                            c.cols, small, p, bl);
        else
          gated_vec<Fn, S, false><<<grid_for<gated_vec<Fn, S, false>>(vwork), kThreads, 0, s>>>(x, aux, c.in_stride, dy, out, out2,
                                                                                              nvec, c.cols, small, p, bl);
      } else {
        gated_kernel<Fn, S><<<grid_for<gated_kernel<Fn, S>>(n), kThreads, 0, s>>>(x, aux, c.in_stride, dy, out, out2, n, c.cols, bwd,
                                                                                   p, bl);
      }
      break;
    }
  }
  check_launch("fused kernel", call);
}

/// Every fused op for storage type S (instantiated in kernels/fused_<type>.cu).
template <class S> void fused_dtype(const FusedCall& c) {
  with_op(c.op, [&](auto tag) { fused_typed<typename decltype(tag)::fn, S>(c); });
}

extern template void fused_dtype<float>(const FusedCall&);
extern template void fused_dtype<double>(const FusedCall&);
extern template void fused_dtype<float16>(const FusedCall&);
extern template void fused_dtype<bfloat16>(const FusedCall&);

}  // namespace detail
}  // namespace actk
