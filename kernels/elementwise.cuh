// kernels/elementwise.cuh: the element-wise CUDA kernel, instantiated per storage type in
// kernels/elementwise_<type>.cu from the op list.
//
// What and why: every activation is memory-bound, so the kernel's only job is to stream x (and
// dy) in and y (or dx) out while the op's functor (actk/functors.h, the same math the CPU
// reference runs in double) computes in float (16-bit and float32 data) or double (float64).
//
// This first version is a plain grid-stride loop, one element per step; the vectorized launcher
// (16-byte accesses, several vectors in flight, aligned/unaligned paths) is the GPU issue's work.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "actk/detail/op_switch.h"
#include "actk/half.h"
#include "host/internal.h"

namespace actk {
namespace detail {

// ---- storage <-> compute type ----------------------------------------------------------------
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

// ---- kernels ---------------------------------------------------------------------------------
template <class Fn, Dir D, class S>
__global__ void elementwise_kernel(const S* __restrict__ in, const S* __restrict__ dy, S* out, std::int64_t n,
                                   P<typename Compute<S>::type> p) {
  using T = typename Compute<S>::type;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const T x = dload(in[i]);
    T r;
    if constexpr (D == Dir::forward) r = Fn::forward(x, p);
    else if constexpr (D == Dir::from_input) r = Fn::backward_from_input(x, dload(dy[i]), p);
    else r = Fn::backward_from_output(x, dload(dy[i]), p);
    out[i] = dstore<S>(r);
  }
}

// ---- launch helpers --------------------------------------------------------------------------
constexpr int kThreads = 256;

/// Blocks for n elements: enough to fill the device (SM count cached per device), never more
/// than the elements need. The device is asked once per device, not per call.
int grid_for(std::int64_t n);

/// Throws Error(cuda_error) naming `what` if the last launch failed.
void check_launch(const char* what);

template <class S> void launch_elementwise_typed(const ElementwiseCall& c) {
  using T = typename Compute<S>::type;
  const auto* in = static_cast<const S*>(c.in);
  const auto* dy = static_cast<const S*>(c.dy);
  auto* out = static_cast<S*>(c.out);
  const P<T> p = P<T>::make(c.a, c.b);
  const int grid = grid_for(c.n);
  cudaStream_t s = static_cast<cudaStream_t>(c.stream);
  with_op(c.op, [&](auto tag) {
    using Tag = decltype(tag);
    using Fn = typename Tag::fn;
    switch (c.dir) {
      case Dir::forward: elementwise_kernel<Fn, Dir::forward><<<grid, kThreads, 0, s>>>(in, dy, out, c.n, p); break;
      case Dir::from_input: elementwise_kernel<Fn, Dir::from_input><<<grid, kThreads, 0, s>>>(in, dy, out, c.n, p); break;
      case Dir::from_output:
        if constexpr (Tag::from_output)
          elementwise_kernel<Fn, Dir::from_output><<<grid, kThreads, 0, s>>>(in, dy, out, c.n, p);
        break;
    }
  });
  check_launch("element-wise kernel");
}

extern template void launch_elementwise_typed<float>(const ElementwiseCall&);
extern template void launch_elementwise_typed<double>(const ElementwiseCall&);
extern template void launch_elementwise_typed<float16>(const ElementwiseCall&);
extern template void launch_elementwise_typed<bfloat16>(const ElementwiseCall&);

}  // namespace detail
}  // namespace actk
