// kernels/fused.cu: the fused ops on the GPU: bias + activation (forward; backward with dbias
// reduced in two fixed-order stages, no float atomics) and gated activations (forward; both
// gradients in one pass), with cuDNN-style blending (out = alpha * r + beta * out; beta = 0 never
// reads out). One pass over memory each; the element math is the op list's functors, in float
// (double for float64). These are plain grid-stride kernels (no 16-byte vectorization yet).
#include "kernels/elementwise.cuh"

namespace actk {
namespace detail {

namespace {

template <class S, class T> __device__ __forceinline__ S blend_out(T r, T alpha, T beta, const S* out, std::int64_t i) {
  return finish<S>(r, BlendT<T>{alpha, beta}, out + i);
}

template <class Fn, class S>
__global__ void __launch_bounds__(kThreads)
    bias_fwd_kernel(const S* x, const S* bias, S* y, S* pre, std::int64_t n, std::int64_t cols, P<typename Compute<S>::type> p,
                    typename Compute<S>::type alpha, typename Compute<S>::type beta) {
  using T = typename Compute<S>::type;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * kThreads) {
    const T z = dload(x[i]) + (bias ? dload(bias[i % cols]) : T(0));
    const S r = blend_out<S>(Fn::forward(z, p), alpha, beta, y, i);
    if (pre) pre[i] = dstore<S>(z);
    y[i] = r;
  }
}

template <class Fn, class S>
__global__ void __launch_bounds__(kThreads)
    bias_bwd_kernel(const S* x, const S* bias, const S* dy, S* dx, std::int64_t n, std::int64_t cols,
                    P<typename Compute<S>::type> p, typename Compute<S>::type alpha, typename Compute<S>::type beta) {
  using T = typename Compute<S>::type;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * kThreads) {
    const T z = dload(x[i]) + (bias ? dload(bias[i % cols]) : T(0));
    dx[i] = blend_out<S>(Fn::backward_from_input(z, dload(dy[i]), p), alpha, beta, dx, i);
  }
}

// dbias stage 1: block (column block cb, row chunk rc); thread = one column, its rows of the chunk
// in order, in double. Neighbouring threads read neighbouring columns (coalesced).
template <class Fn, class S>
__global__ void __launch_bounds__(kThreads)
    dbias_partial(const S* x, const S* bias, const S* dy, double* partial, std::int64_t rows, std::int64_t cols,
                  std::int64_t chunks, P<typename Compute<S>::type> p) {
  using T = typename Compute<S>::type;
  const std::int64_t col_blocks = (cols + kThreads - 1) / kThreads;
  const std::int64_t cb = blockIdx.x % col_blocks, rc = blockIdx.x / col_blocks;
  const std::int64_t col = cb * kThreads + threadIdx.x;
  if (col >= cols) return;
  const std::int64_t per = (rows + chunks - 1) / chunks, r0 = rc * per, r1 = r0 + per < rows ? r0 + per : rows;
  const T b = bias ? dload(bias[col]) : T(0);
  double s = 0;
  for (std::int64_t r = r0; r < r1; ++r) {
    const std::int64_t i = r * cols + col;
    s += static_cast<double>(Fn::backward_from_input(dload(x[i]) + b, dload(dy[i]), p));
  }
  partial[rc * cols + col] = s;
}

// dbias stage 2: thread = one column, its chunks' partials in order, rounded once.
template <class S>
__global__ void __launch_bounds__(kThreads)
    dbias_final(const double* partial, S* dbias, std::int64_t cols, std::int64_t chunks, double alpha) {
  const std::int64_t col = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (col >= cols) return;
  double s = 0;
  for (std::int64_t k = 0; k < chunks; ++k) s += partial[k * cols + col];
  s *= alpha;
  if constexpr (std::is_same_v<S, double>) dbias[col] = s;
  else if constexpr (std::is_same_v<S, float>) dbias[col] = static_cast<float>(s);
  else dbias[col] = S(s);
}

template <class Fn, class S>
__global__ void __launch_bounds__(kThreads)
    gated_kernel(const S* gate, const S* value, std::int64_t stride, const S* dy, S* out, S* out2, std::int64_t n,
                 std::int64_t cols, bool backward, P<typename Compute<S>::type> p, typename Compute<S>::type alpha,
                 typename Compute<S>::type beta) {
  using T = typename Compute<S>::type;
  for (std::int64_t o = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; o < n;
       o += static_cast<std::int64_t>(gridDim.x) * kThreads) {
    const std::int64_t i = (o / cols) * stride + o % cols;
    const T g = dload(gate[i]), v = dload(value[i]);
    if (!backward) {
      out[o] = blend_out<S>(Fn::forward(g, p) * v, alpha, beta, out, o);
    } else {
      const T d = dload(dy[o]);
      const S dg = blend_out<S>(Fn::backward_from_input(g, d * v, p), alpha, beta, out, i);
      const S dv = blend_out<S>(d * Fn::forward(g, p), alpha, beta, out2, i);
      out[i] = dg;  // after both reads: dgate/dvalue may be gate/value (in place)
      out2[i] = dv;
    }
  }
}

template <class Fn, class S> void fused_typed(const FusedCall& c) {
  using T = typename Compute<S>::type;
  const P<T> p = P<T>::make(c.a, c.b);
  const T alpha = static_cast<T>(c.alpha), beta = static_cast<T>(c.beta);
  const auto* x = static_cast<const S*>(c.x);
  const auto* aux = static_cast<const S*>(c.aux);
  const auto* dy = static_cast<const S*>(c.dy);
  auto* out = static_cast<S*>(c.out);
  auto* out2 = static_cast<S*>(c.out2);
  cudaStream_t s = static_cast<cudaStream_t>(c.stream);
  const std::int64_t n = c.rows * c.cols;
  const char* call = c.kind == FusedKind::bias_fwd ? "bias_act_forward"
                     : c.kind == FusedKind::bias_bwd ? "bias_act_backward"
                     : c.kind == FusedKind::gated_fwd ? "gated_forward" : "gated_backward";
  switch (c.kind) {
    case FusedKind::bias_fwd:
      bias_fwd_kernel<Fn, S><<<grid_for(n), kThreads, 0, s>>>(x, aux, out, out2, n, c.cols, p, alpha, beta);
      break;
    case FusedKind::bias_bwd:
      if (out2 != nullptr) {  // dbias before dx: dx may alias x or dy
        const std::int64_t chunks = dbias_row_chunks(c.rows);
        const std::int64_t col_blocks = (c.cols + kThreads - 1) / kThreads;
        Scratch scratch(c.workspace, static_cast<std::size_t>(chunks * c.cols) * sizeof(double), s, call);
        auto* partial = static_cast<double*>(scratch.ptr);
        if (c.rows > 0)
          dbias_partial<Fn, S><<<static_cast<unsigned>(col_blocks * chunks), kThreads, 0, s>>>(x, aux, dy, partial, c.rows, c.cols, chunks, p);
        else if (cudaMemsetAsync(partial, 0, static_cast<std::size_t>(chunks * c.cols) * sizeof(double), s) != cudaSuccess)
          check_launch("cudaMemsetAsync", call);
        dbias_final<S><<<static_cast<unsigned>(col_blocks), kThreads, 0, s>>>(partial, out2, c.cols, chunks, c.alpha);
        check_launch("dbias kernels", call);
      }
      if (n > 0) bias_bwd_kernel<Fn, S><<<grid_for(n), kThreads, 0, s>>>(x, aux, dy, out, n, c.cols, p, alpha, beta);
      break;
    case FusedKind::gated_fwd:
    case FusedKind::gated_bwd:
      gated_kernel<Fn, S><<<grid_for(n), kThreads, 0, s>>>(x, aux, c.in_stride, dy, out, out2, n, c.cols,
                                                           c.kind == FusedKind::gated_bwd, p, alpha, beta);
      break;
  }
  check_launch("fused kernel", call);
}

template <class S> void fused_dtype(const FusedCall& c) {
  with_op(c.op, [&](auto tag) { fused_typed<typename decltype(tag)::fn, S>(c); });
}

}  // namespace

void cuda_fused(const FusedCall& c) {
  with_storage(c.dtype, "cuda_fused", [&](auto s) { fused_dtype<decltype(s)>(c); });
}

}  // namespace detail
}  // namespace actk
