// kernels/fused.cuh: the fused ops on the GPU, instantiated per storage type in
// kernels/fused_<type>.cu: bias + activation (forward; backward with dbias: dx and the dbias
// partial sums in one pass, then the partials summed in a fixed order, no float atomics) and gated
// activations (forward; both gradients in one pass), with cuDNN-style blending (out = alpha * r +
// beta * out; beta = 0 never reads out).
// One pass over memory each; the element math is the op list's functors, in float (double for
// float64).
//   - bias + activation (forward; backward without dbias): x, y, pre and dy are flat [rows, cols]
//     arrays, so as the element-wise launcher, when they share their offset from a 16-byte
//     boundary, a scalar head brings them to it, 16-byte vectors (kUnroll in flight per thread)
//     cover the body and a scalar tail finishes: any cols, any common offset. A vector's bias is
//     one vector when it cannot straddle a row (cols a multiple of the width, no head, bias
//     aligned), else its elements are read one by one (the bias is small: L1/L2 hits);
//   - backward with dbias: column tiles, vectorized when cols is a multiple of the width and x,
//     dy, dx are aligned;
//   - gated: vectorized when every row is made of whole vectors (cols and the inputs' row stride
//     multiples of the width, every pointer aligned; a vector never straddles two rows); the
//     interleaved layout (gate and value alternating, col_step 2) takes the scalar kernel;
//   - grid-stride scalar kernels otherwise (any shape, any element alignment), walking (row,
//     column) by the grid stride (kernels/index_math.h's RowWalk) instead of dividing per element.
// Row/column of a flat index: 32-bit division when the tensor has fewer than 2^32 elements.
#pragma once

#include <cub/block/block_reduce.cuh>

#include "host/fused.h"
#include "kernels/elementwise.cuh"
#include "kernels/index_math.h"

namespace actk {
namespace detail {


/// Bias + activation, any alignment: forward y = f(x + b) (pre = x + b on request), or backward
/// dx = f'(x + b) dy; the bias column walked by the grid stride.
template <class Fn, class S, bool kBackward>
__global__ void __launch_bounds__(kThreads)
    bias_scalar(const S* x, const S* bias, const S* dy, S* out, S* pre, std::int64_t n, std::int64_t cols, bool small,
                P<typename Compute<S>::type> p, BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  const std::int64_t tid = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kThreads;
  const RowWalk by(stride, cols, small);
  RowWalk w(tid, cols, small);
  for (std::int64_t i = tid; i < n; i += stride, w.advance(by, cols)) {
    const T z = dload(x[i]) + (bias ? dload(bias[w.c]) : T(0));
    if constexpr (kBackward) {
      out[i] = finish<S>(Fn::backward_from_input(z, dload(dy[i]), p), bl, out + i);
    } else {
      const S r = finish<S>(Fn::forward(z, p), bl, out + i);
      if (pre) pre[i] = dstore<S>(z);
      out[i] = r;
    }
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
    gated_kernel(const S* gate, const S* value, std::int64_t stride_in, std::int64_t col_step, const S* dy, S* out, S* out2,
                 std::int64_t n, std::int64_t cols, bool small, bool backward, P<typename Compute<S>::type> p,
                 BlendT<typename Compute<S>::type> bl, GatedClamp<typename Compute<S>::type> cl) {
  using T = typename Compute<S>::type;
  const std::int64_t tid = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kThreads;
  const RowWalk by(stride, cols, small);
  RowWalk w(tid, cols, small);
  for (std::int64_t o = tid; o < n; o += stride, w.advance(by, cols)) {
    const std::int64_t i = w.r * stride_in + w.c * col_step;
    const T g0 = dload(gate[i]), v0 = dload(value[i]);
    const T g = cl.gate(g0), v = cl.value(v0);  // identity steps unless clamped SwiGLU
    if (!backward) {
      out[o] = finish<S>(Fn::forward(g, p) * v, bl, out + o);
    } else {
      const T d = dload(dy[o]);
      const S dg = finish<S>(Fn::backward_from_input(g, d * v, p) * cl.gate_pass(g0), bl, out + i);
      const S dv = finish<S>(d * Fn::forward(g, p) * cl.value_pass(v0), bl, out2 + i);
      out[i] = dg;  // after both reads: dgate/dvalue may be gate/value (in place)
      out2[i] = dv;
    }
  }
}

// ---- vectorized kernels (whole vectors per row, every pointer 16-byte aligned) -----------------


/// Bias + activation, vectorized, U vectors deep: forward y = f(x + b) (pre = x + b on request),
/// or backward dx = f'(x + b) dy, over the vectors [0, nvec) that start at flat element `head`.
/// The bias of vector i: the vector at its column when `vec_bias` (it cannot straddle a row),
/// else its N elements one by one, the column wrapping at the row's end. kBlend (beta != 0): the
/// old output is loaded with the inputs, one vector deep (see vec_steps in elementwise.cuh:
/// accumulation no longer waits on one serial round trip per vector, and the kernel's registers
/// are the plain path's).
template <int U, bool kBlend, bool kBackward, class Fn, class S, class T>
__device__ __forceinline__ void bias_steps(const Vec<S>* vx, const S* bias, bool vec_bias, const Vec<S>* vg, Vec<S>* vout,
                                           Vec<S>* vpre, std::int64_t nvec, std::int64_t head, std::int64_t cols, bool small,
                                           const P<T>& p, const BlendT<T>& bl) {
  constexpr int N = Vec<S>::N;
  const auto* vb = reinterpret_cast<const Vec<S>*>(bias);
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
        if (bias) {
          std::int64_t r, c;
          row_col(head + i * N, cols, small, r, c);
          if (vec_bias) {
            b[u] = vb[c / N];
          } else {
#pragma unroll
            for (int k = 0; k < N; ++k) {
              b[u].v[k] = bias[c];
              if (++c == cols) c = 0;
            }
          }
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
          const T zk = dload(a[u].v[k]) + (bias ? dload(b[u].v[k]) : T(0));
          T r;
          if constexpr (kBackward) {
            r = Fn::backward_from_input(zk, dload(g[u].v[k]), p);
          } else {
            z.v[k] = dstore<S>(zk);
            r = Fn::forward(zk, p);
          }
          if constexpr (kBlend) r = bl.with_old(r, dload(o[u].v[k]));
          else r = bl.scaled(r);
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

/// Bias + activation over flat arrays that share their offset from a 16-byte boundary: elements
/// [0, head) and [tail, n) one per thread, the vectors over [head, tail).
template <class Fn, class S, bool kBackward>
__global__ void __launch_bounds__(kThreads)
    bias_vec(const S* x, const S* bias, const S* dy, S* out, S* pre, std::int64_t n, std::int64_t head, std::int64_t tail,
             std::int64_t cols, bool small, bool vec_bias, P<typename Compute<S>::type> p, BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  constexpr int N = Vec<S>::N;
  const std::int64_t tid = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  auto one = [&](std::int64_t e) {  // a head or tail element
    std::int64_t r, c;
    row_col(e, cols, small, r, c);
    const T z = dload(x[e]) + (bias ? dload(bias[c]) : T(0));
    if constexpr (kBackward) {
      out[e] = finish<S>(Fn::backward_from_input(z, dload(dy[e]), p), bl, out + e);
    } else {
      const S y = finish<S>(Fn::forward(z, p), bl, out + e);
      if (pre) pre[e] = dstore<S>(z);
      out[e] = y;
    }
  };
  if (tid < head) one(tid);
  if (tid < n - tail) one(tail + tid);
  const auto* vx = reinterpret_cast<const Vec<S>*>(x + head);
  const auto* vg = reinterpret_cast<const Vec<S>*>(kBackward ? dy + head : dy);
  auto* vout = reinterpret_cast<Vec<S>*>(out + head);
  auto* vpre = reinterpret_cast<Vec<S>*>(pre ? pre + head : nullptr);
  const std::int64_t nvec = (tail - head) / N;
  if (bl.beta != T(0)) bias_steps<1, true, kBackward, Fn>(vx, bias, vec_bias, vg, vout, vpre, nvec, head, cols, small, p, bl);  // uniform
  else bias_steps<kUnroll, false, kBackward, Fn>(vx, bias, vec_bias, vg, vout, vpre, nvec, head, cols, small, p, bl);
}

/// Gated, vectorized, U vectors deep: output vector o covers elements [o N, o N + N) of row r; its
/// gate and value are the vector at r * stride + c of each input (stride and c multiples of N).
/// kBlend: as bias_steps.
template <int U, bool kBlend, bool kBackward, class Fn, class S, class T>
__device__ __forceinline__ void gated_steps(const Vec<S>* vgate, const Vec<S>* vval, std::int64_t stride_in, const Vec<S>* vdy,
                                            Vec<S>* vout, Vec<S>* vout2, std::int64_t nvec, std::int64_t cols, bool small,
                                            const P<T>& p, const BlendT<T>& bl, const GatedClamp<T>& cl) {
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
          T r = Fn::forward(cl.gate(dload(g[u].v[k])), p) * cl.value(dload(v[u].v[k]));
          if constexpr (kBlend) r = bl.with_old(r, dload(o[u].v[k]));
          else r = bl.scaled(r);
          o[u].v[k] = dstore<S>(r);
        }
        vout[e] = o[u];
      } else {
#pragma unroll
        for (int k = 0; k < N; ++k) {
          const T g0 = dload(g[u].v[k]), v0 = dload(v[u].v[k]), dk = dload(d[u].v[k]);
          const T gk = cl.gate(g0), vk = cl.value(v0);
          T dg = Fn::backward_from_input(gk, dk * vk, p) * cl.gate_pass(g0), dv = dk * Fn::forward(gk, p) * cl.value_pass(v0);
          if constexpr (kBlend) dg = bl.with_old(dg, dload(o[u].v[k])), dv = bl.with_old(dv, dload(o2[u].v[k]));
          else dg = bl.scaled(dg), dv = bl.scaled(dv);
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
              std::int64_t cols, bool small, P<typename Compute<S>::type> p, BlendT<typename Compute<S>::type> bl,
              GatedClamp<typename Compute<S>::type> cl) {
  using T = typename Compute<S>::type;
  const auto* vgate = reinterpret_cast<const Vec<S>*>(gate);
  const auto* vval = reinterpret_cast<const Vec<S>*>(value);
  const auto* vdy = reinterpret_cast<const Vec<S>*>(dy);
  auto* vout = reinterpret_cast<Vec<S>*>(out);
  auto* vout2 = reinterpret_cast<Vec<S>*>(out2);
  if (bl.beta != T(0)) gated_steps<1, true, kBackward, Fn>(vgate, vval, stride_in, vdy, vout, vout2, nvec, cols, small, p, bl, cl);
  else gated_steps<kUnroll, false, kBackward, Fn>(vgate, vval, stride_in, vdy, vout, vout2, nvec, cols, small, p, bl, cl);
}

// ---- launchers: one per family (overloads on its call struct) ---------------------------------

/// What every launcher needs from a call: the parameters and blend in the compute type, the stream,
/// and the shape facts that pick the vectorized kernels.
template <class S> struct FusedLaunch {
  using T = typename Compute<S>::type;
  static constexpr int N = Vec<S>::N;
  P<T> p;
  BlendT<T> bl;
  cudaStream_t s;
  std::int64_t n, nvec, vwork;
  bool whole_vectors, small;
  explicit FusedLaunch(const FusedCommon& c)
      : p(P<T>::make(c.a, c.b)),
        bl{static_cast<T>(c.alpha), static_cast<T>(c.beta)},
        s(static_cast<cudaStream_t>(c.stream)),
        n(c.rows * c.cols),
        nvec(n / N),
        vwork((nvec + kUnroll - 1) / kUnroll),
        whole_vectors(c.cols % N == 0),
        small(n < (std::int64_t{1} << 32)) {}  // flat indices and cols fit in 32 bits
  /// Every pointer 16-byte aligned (null: not used).
  template <class... Q> static bool aligned(const Q*... q) { return ((q == nullptr || misalign(q) == 0) && ...); }
  /// Flat arrays that share their offset from a 16-byte boundary (null: not used; the offset a
  /// whole number of elements): the vectors of [head, tail) are aligned in every one.
  struct Body {
    bool ok = false;
    std::int64_t head = 0, tail = 0;
  };
  template <class... Q> Body body(const S* first, const Q*... q) const {
    Body b;
    const std::uintptr_t m = misalign(first);
    b.ok = m % sizeof(S) == 0 && ((q == nullptr || misalign(q) == m) && ...);
    if (!b.ok) return b;
    b.head = m == 0 ? 0 : static_cast<std::int64_t>((16 - m) / sizeof(S));
    if (b.head > n) b.head = n;
    b.tail = b.head + (n - b.head) / N * N;
    return b;
  }
};

template <class Fn, class S> void launch_fused(const BiasActForwardCall& c) {
  const FusedLaunch<S> L(c);
  const auto* x = static_cast<const S*>(c.x);
  const auto* b = static_cast<const S*>(c.bias);
  auto* y = static_cast<S*>(c.y);
  auto* pre = static_cast<S*>(c.pre);
  if (const auto body = L.body(x, y, pre); body.ok) {
    const bool vec_bias = body.head == 0 && L.whole_vectors && L.aligned(b);
    const std::int64_t work = ((body.tail - body.head) / L.N + kUnroll - 1) / kUnroll;
    bias_vec<Fn, S, false><<<grid_for<bias_vec<Fn, S, false>>(work), kThreads, 0, L.s>>>(x, b, nullptr, y, pre, L.n, body.head, body.tail,
                                                                                         c.cols, L.small, vec_bias, L.p, L.bl);
  } else {
    bias_scalar<Fn, S, false><<<grid_for<bias_scalar<Fn, S, false>>(L.n), kThreads, 0, L.s>>>(x, b, nullptr, y, pre, L.n, c.cols, L.small,
                                                                                               L.p, L.bl);
  }
  check_launch("fused kernel", c.call);
}

template <class Fn, class S> void launch_fused(const BiasActBackwardCall& c) {
  const FusedLaunch<S> L(c);
  constexpr int N = Vec<S>::N;
  const auto* x = static_cast<const S*>(c.x);
  const auto* b = static_cast<const S*>(c.bias);
  const auto* dy = static_cast<const S*>(c.dy);
  auto* dx = static_cast<S*>(c.dx);
  if (c.dbias == nullptr) {
    if (L.n == 0) return;
    if (const auto body = L.body(x, dy, dx); body.ok) {
      const bool vec_bias = body.head == 0 && L.whole_vectors && L.aligned(b);
      const std::int64_t work = ((body.tail - body.head) / N + kUnroll - 1) / kUnroll;
      bias_vec<Fn, S, true><<<grid_for<bias_vec<Fn, S, true>>(work), kThreads, 0, L.s>>>(x, b, dy, dx, nullptr, L.n, body.head, body.tail,
                                                                                         c.cols, L.small, vec_bias, L.p, L.bl);
    } else {
      bias_scalar<Fn, S, true><<<grid_for<bias_scalar<Fn, S, true>>(L.n), kThreads, 0, L.s>>>(x, b, dy, dx, nullptr, L.n, c.cols, L.small,
                                                                                             L.p, L.bl);
    }
    check_launch("fused kernel", c.call);
    return;
  }
  // dx and the dbias partials in one pass, then the partials summed per column
  const std::int64_t chunks = dbias_row_chunks(c.rows, c.cols);
  const int lanes = dbias_row_lanes(c.cols);
  const std::size_t bytes = static_cast<std::size_t>(chunks * c.cols) * sizeof(double);
  Scratch scratch(c.workspace, bytes, L.s, c.call);
  auto* partial = static_cast<double*>(scratch.ptr);
  if (L.n > 0) {
    const bool vec = L.whole_vectors && L.aligned(x, dy, dx);
    const std::int64_t tile_cols = static_cast<std::int64_t>(kThreads / lanes) * (vec ? N : 1);
    const auto blocks = static_cast<unsigned>((c.cols + tile_cols - 1) / tile_cols * chunks);
    if (vec)
      bias_bwd_dbias<Fn, S, true><<<blocks, kThreads, 0, L.s>>>(x, b, dy, dx, partial, c.rows, c.cols, chunks, lanes, L.p, L.bl);
    else
      bias_bwd_dbias<Fn, S, false><<<blocks, kThreads, 0, L.s>>>(x, b, dy, dx, partial, c.rows, c.cols, chunks, lanes, L.p, L.bl);
  } else if (cudaMemsetAsync(partial, 0, bytes, L.s) != cudaSuccess) {
    check_launch("cudaMemsetAsync", c.call);
  }
  const std::int64_t fgrid = c.cols < (std::int64_t{1} << 20) ? c.cols : (std::int64_t{1} << 20);
  dbias_final<S><<<static_cast<unsigned>(fgrid > 0 ? fgrid : 1), kThreads, 0, L.s>>>(partial, static_cast<S*>(c.dbias), c.cols,
                                                                                     chunks, c.alpha);
  check_launch("dbias kernels", c.call);
}

template <class Fn, class S> void launch_fused(const GatedForwardCall& c) {
  const FusedLaunch<S> L(c);
  const auto cl = gated_clamp<typename Compute<S>::type>(c);
  const auto* g = static_cast<const S*>(c.gate);
  const auto* v = static_cast<const S*>(c.value);
  auto* y = static_cast<S*>(c.y);
  if (c.col_step == 1 && L.whole_vectors && c.in_stride % Vec<S>::N == 0 && L.aligned(g, v, y))
    gated_vec<Fn, S, false><<<grid_for<gated_vec<Fn, S, false>>(L.vwork), kThreads, 0, L.s>>>(g, v, c.in_stride, nullptr, y, nullptr,
                                                                                             L.nvec, c.cols, L.small, L.p, L.bl, cl);
  else  // any layout, the interleaved one (col_step 2) included
    gated_kernel<Fn, S><<<grid_for<gated_kernel<Fn, S>>(L.n), kThreads, 0, L.s>>>(g, v, c.in_stride, c.col_step, nullptr, y, nullptr,
                                                                                 L.n, c.cols, L.small, false, L.p, L.bl, cl);
  check_launch("fused kernel", c.call);
}

template <class Fn, class S> void launch_fused(const GatedBackwardCall& c) {
  const FusedLaunch<S> L(c);
  const auto cl = gated_clamp<typename Compute<S>::type>(c);
  const auto* g = static_cast<const S*>(c.gate);
  const auto* v = static_cast<const S*>(c.value);
  const auto* dy = static_cast<const S*>(c.dy);
  auto* dg = static_cast<S*>(c.dgate);
  auto* dv = static_cast<S*>(c.dvalue);
  if (c.col_step == 1 && L.whole_vectors && c.in_stride % Vec<S>::N == 0 && L.aligned(g, v, dy, dg, dv))
    gated_vec<Fn, S, true><<<grid_for<gated_vec<Fn, S, true>>(L.vwork), kThreads, 0, L.s>>>(g, v, c.in_stride, dy, dg, dv, L.nvec,
                                                                                           c.cols, L.small, L.p, L.bl, cl);
  else
    gated_kernel<Fn, S><<<grid_for<gated_kernel<Fn, S>>(L.n), kThreads, 0, L.s>>>(g, v, c.in_stride, c.col_step, dy, dg, dv, L.n,
                                                                                 c.cols, L.small, true, L.p, L.bl, cl);
  check_launch("fused kernel", c.call);
}

/// A fused call of any family for storage type S: the op's functor picked once (instantiated per
/// family from host/fused.h's list in kernels/fused_<type>.cu).
template <class S, class Call> void launch_fused_typed(const Call& c) {
  with_op(c.op, [&](auto tag) { launch_fused<typename decltype(tag)::fn, S>(c); });
}

#define ACTK_FUSED_EXTERN(F)                                                  \
  extern template void launch_fused_typed<float, F##Call>(const F##Call&);    \
  extern template void launch_fused_typed<double, F##Call>(const F##Call&);   \
  extern template void launch_fused_typed<float16, F##Call>(const F##Call&);  \
  extern template void launch_fused_typed<bfloat16, F##Call>(const F##Call&);
ACTK_FUSED_FAMILIES(ACTK_FUSED_EXTERN)
#undef ACTK_FUSED_EXTERN

}  // namespace detail
}  // namespace actk
