// kernels/elementwise.cuh: the generic vectorized element-wise launcher, instantiated per storage
// type in kernels/elementwise_<type>.cu for every op and direction of the list.
//
// What and why: every activation is memory-bound, so the kernel's only job is to stream x (and
// dy) in and y (or dx) out at the copy bandwidth while the op's functor (actk/functors.h, the same
// math the CPU reference runs in double) computes in float (16-bit and float32 data) or double.
//   - 16-byte loads and stores (4 floats, 8 halves, 2 doubles), coalesced;
//   - kUnroll independent vectors in flight per thread (all loads issued before any math);
//   - when every pointer has the same offset from a 16-byte boundary, a scalar head brings them
//     to it and a scalar tail finishes the remainder; otherwise a scalar path (any offset works);
//   - 64-bit sizes and indices throughout (tensors above 2^31 elements);
//   - a grid-stride loop over one wave of blocks: SM count x the blocks per SM that the kernel's
//     registers allow, both cached per device (and kernel);
//   - the caller's stream; no allocation, no synchronization, no device query per call.
// In-place (out == in or out == dy) is safe: each thread reads its elements before writing them
// and no element is read by another thread. (No __restrict__: the pointers may alias, so the
// compiler must not assume otherwise.)
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "actk/detail/op_switch.h"
#include "actk/half.h"
#include "actk/detail/blend.h"
#include "host/calls.h"
#include "kernels/device.cuh"

namespace actk {
namespace detail {

// ---- storage <-> compute type -----------------------------------------------------------------
template <class S> struct Compute { using type = float; };
template <> struct Compute<double> { using type = double; };

__device__ __forceinline__ float dload(float v) { return v; }
__device__ __forceinline__ double dload(double v) { return v; }
__device__ __forceinline__ float dload(float16 v) { return __half2float(__ushort_as_half(v.bits)); }
__device__ __forceinline__ float dload(bfloat16 v) { return __bfloat162float(__ushort_as_bfloat16(v.bits)); }

template <class S> __device__ __forceinline__ S dstore(typename Compute<S>::type v) { return v; }
template <> __device__ __forceinline__ float16 dstore<float16>(float v) {
  return float16::from_bits(__half_as_ushort(__float2half_rn(v)));
}
template <> __device__ __forceinline__ bfloat16 dstore<bfloat16>(float v) {
  return bfloat16::from_bits(__bfloat16_as_ushort(__float2bfloat16_rn(v)));
}

/// One element through the op: forward, or backward from x / y.
template <class Fn, Dir D, class T> __device__ __forceinline__ T apply(T x, T dy, const P<T>& p) {
  if constexpr (D == Dir::forward) return Fn::forward(x, p);
  else if constexpr (D == Dir::from_input) return Fn::backward_from_input(x, dy, p);
  else return Fn::backward_from_output(x, dy, p);
}

/// cuDNN-style output blending: out = alpha * r + beta * out; beta = 0 never reads out.
template <class T> using BlendT = BlendOf<T>;  // actk/detail/blend.h: the formula the CPU path uses too
template <class S, class T> __device__ __forceinline__ S finish(T r, const BlendT<T>& bl, const S* old) {
  return dstore<S>(bl.reads_old() ? bl.with_old(r, dload(*old)) : bl.scaled(r));
}

// ---- kernels ------------------------------------------------------------------------------------
constexpr int kUnroll = 4;  // independent 16-byte vectors in flight per thread

template <class S> struct alignas(16) Vec {
  static constexpr int N = 16 / static_cast<int>(sizeof(S));
  S v[N];
};

/// U-deep steps over the vectors [0, nvec) of the grid-stride loop. kBlend (beta != 0): the old
/// output is loaded with the inputs, before the step's store (it used to be loaded after the
/// previous vector's store, which the compiler may not reorder across: accumulation, beta = 1, made
/// one serial round trip per vector). The blending path runs one vector deep (U = 1): its three
/// 16-byte loads in flight per thread, at 4+ blocks of 256 per SM, are ~48 KB per SM, more than
/// the ~15 KB that Little's law asks of an H100 (3.35 TB/s x ~600 ns / 132 SMs), and its
/// registers stay below the plain path's (sm_90 ptxas: mean 52.9 registers over the float32
/// kernels, against 56.0 with the old loop; U = 2 took up to 88 and spilled in two kernels).
template <int U, bool kBlend, class Fn, Dir D, class S, class T>
__device__ __forceinline__ void vec_steps(const Vec<S>* vin, const Vec<S>* vdy, Vec<S>* vout, std::int64_t tid,
                                          std::int64_t stride, std::int64_t nvec, const P<T>& p, const BlendT<T>& bl) {
  constexpr int N = Vec<S>::N;
  for (std::int64_t base = tid; base < nvec; base += stride * U) {
    Vec<S> a[U], b[U], o[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const std::int64_t i = base + u * stride;
      if (i < nvec) {
        a[u] = vin[i];
        if constexpr (D != Dir::forward) b[u] = vdy[i];
        if constexpr (kBlend) o[u] = vout[i];
      }
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const std::int64_t i = base + u * stride;
      if (i < nvec) {
#pragma unroll
        for (int k = 0; k < N; ++k) {
          T g = T(0);
          if constexpr (D != Dir::forward) g = dload(b[u].v[k]);
          T r = apply<Fn, D>(dload(a[u].v[k]), g, p);
          if constexpr (kBlend) r = bl.with_old(r, dload(o[u].v[k]));
          else r = bl.scaled(r);
          o[u].v[k] = dstore<S>(r);
        }
        vout[i] = o[u];
      }
    }
  }
}

/// The aligned path. Elements [0, head) and [tail, n) are done one per thread; the vectors cover
/// [head, tail), whose start is 16-byte aligned in every pointer.
template <class Fn, Dir D, class S>
__global__ void __launch_bounds__(kThreads)
    elementwise_vec_kernel(const S* in, const S* dy, S* out, std::int64_t n,
                           std::int64_t head, std::int64_t tail, P<typename Compute<S>::type> p,
                           BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  constexpr int N = Vec<S>::N;
  const std::int64_t tid = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  // scalar head and tail (fewer than N elements each)
  if (tid < head) out[tid] = finish<S>(apply<Fn, D>(dload(in[tid]), D == Dir::forward ? T(0) : dload(dy[tid]), p), bl, out + tid);
  if (tid < n - tail) {
    const std::int64_t i = tail + tid;
    out[i] = finish<S>(apply<Fn, D>(dload(in[i]), D == Dir::forward ? T(0) : dload(dy[i]), p), bl, out + i);
  }
  const Vec<S>* vin = reinterpret_cast<const Vec<S>*>(in + head);
  const Vec<S>* vdy = reinterpret_cast<const Vec<S>*>(dy + (D == Dir::forward ? 0 : head));
  Vec<S>* vout = reinterpret_cast<Vec<S>*>(out + head);
  const std::int64_t nvec = (tail - head) / N;
  if (bl.beta != T(0)) vec_steps<1, true, Fn, D>(vin, vdy, vout, tid, stride, nvec, p, bl);  // uniform branch
  else vec_steps<kUnroll, false, Fn, D>(vin, vdy, vout, tid, stride, nvec, p, bl);
}

/// The scalar path, for pointers whose offsets from a 16-byte boundary differ.
template <class Fn, Dir D, class S>
__global__ void __launch_bounds__(kThreads)
    elementwise_scalar_kernel(const S* in, const S* dy, S* out, std::int64_t n,
                              P<typename Compute<S>::type> p, BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t base = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; base < n;
       base += stride * kUnroll) {
    S a[kUnroll], b[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const std::int64_t i = base + u * stride;
      if (i < n) {
        a[u] = in[i];
        if constexpr (D != Dir::forward) b[u] = dy[i];
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const std::int64_t i = base + u * stride;
      if (i < n) out[i] = finish<S>(apply<Fn, D>(dload(a[u]), D == Dir::forward ? T(0) : dload(b[u]), p), bl, out + i);
    }
  }
}

template <class S> void launch_elementwise_typed(const ElementwiseCall& c) {
  using T = typename Compute<S>::type;
  constexpr int N = Vec<S>::N;
  const auto* in = static_cast<const S*>(c.in);
  const auto* dy = static_cast<const S*>(c.dy);
  auto* out = static_cast<S*>(c.out);
  const P<T> p = P<T>::make(c.a, c.b);
  const BlendT<T> bl{static_cast<T>(c.alpha), static_cast<T>(c.beta)};
  cudaStream_t s = static_cast<cudaStream_t>(c.stream);
  const std::uintptr_t m = misalign(in);
  const bool same = m % sizeof(S) == 0 && misalign(out) == m && (c.dir == Dir::forward || misalign(dy) == m);
  with_op(c.op, [&](auto tag) {
    using Tag = decltype(tag);
    using Fn = typename Tag::fn;
    auto run = [&](auto dir_c) {
      constexpr Dir D = decltype(dir_c)::value;
      if (same) {
        std::int64_t head = m == 0 ? 0 : static_cast<std::int64_t>((16 - m) / sizeof(S));
        if (head > c.n) head = c.n;
        const std::int64_t tail = head + (c.n - head) / N * N;
        const int grid = grid_for<elementwise_vec_kernel<Fn, D, S>>(((tail - head) / N + kUnroll - 1) / kUnroll);
        elementwise_vec_kernel<Fn, D, S><<<grid, kThreads, 0, s>>>(in, dy, out, c.n, head, tail, p, bl);
      } else {
        const int grid = grid_for<elementwise_scalar_kernel<Fn, D, S>>((c.n + kUnroll - 1) / kUnroll);
        elementwise_scalar_kernel<Fn, D, S><<<grid, kThreads, 0, s>>>(in, dy, out, c.n, p, bl);
      }
    };
    switch (c.dir) {
      case Dir::forward: run(std::integral_constant<Dir, Dir::forward>{}); break;
      case Dir::from_input: run(std::integral_constant<Dir, Dir::from_input>{}); break;
      case Dir::from_output:
        if constexpr (Tag::from_output) run(std::integral_constant<Dir, Dir::from_output>{});
        break;
    }
  });
  check_launch("element-wise kernel", c.call);
}

extern template void launch_elementwise_typed<float>(const ElementwiseCall&);
extern template void launch_elementwise_typed<double>(const ElementwiseCall&);
extern template void launch_elementwise_typed<float16>(const ElementwiseCall&);
extern template void launch_elementwise_typed<bfloat16>(const ElementwiseCall&);

}  // namespace detail
}  // namespace actk
