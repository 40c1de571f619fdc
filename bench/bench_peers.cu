// bench/bench_peers.cu: GPU peers compiled by nvcc: a plain thrust::transform and
// cub::DeviceTransform (CCCL 3, in the toolkit: the generic transform a user reaches for first)
// over the very same functors (what actk's vectorized launcher adds over a generic transform), and
// a bare kernel launch (the floor for actk's host overhead). Registered from bench_main when there
// is a GPU.
#include <cub/device/device_transform.cuh>
#include <thrust/execution_policy.h>
#include <thrust/transform.h>

#include <string>

#include "bench_util.h"
#include "kernels/elementwise.cuh"

namespace actk_bench {

namespace {

using actk::P;
using actk::detail::Compute;
using actk::detail::dload;
using actk::detail::dstore;

template <class Fn, class S> struct Fwd {
  P<typename Compute<S>::type> p;
  __device__ S operator()(S x) const { return dstore<S>(Fn::forward(dload(x), p)); }
};
template <class Fn, class S> struct Bwd {
  P<typename Compute<S>::type> p;
  __device__ S operator()(S x, S g) const { return dstore<S>(Fn::backward_from_input(dload(x), dload(g), p)); }
};

/// A generic transform over the same functor: thrust::transform, or cub::DeviceTransform (cub).
template <class Fn, class S> void bench_transform(benchmark::State& st, bool cub, bool backward, std::int64_t n) {
  const std::size_t sz = static_cast<std::size_t>(n) * sizeof(S);
  S* x = static_cast<S*>(device_buffer(0, sz));
  S* dy = static_cast<S*>(device_buffer(1, sz));
  S* out = static_cast<S*>(device_buffer(2, sz));
  fill(x, actk::dtype_of<S>::value, n, 1);
  fill(dy, actk::dtype_of<S>::value, n, 2);
  const auto p = P<typename Compute<S>::type>::make(0, 0);
  const std::int64_t bytes = n * static_cast<std::int64_t>(sizeof(S)) * (backward ? 3 : 2);
  time_gpu(st, bytes, n, [&] {
    if (cub) {
      if (backward) CK(cub::DeviceTransform::Transform(::cuda::std::make_tuple(x, dy), out, n, Bwd<Fn, S>{p}));
      else CK(cub::DeviceTransform::Transform(::cuda::std::make_tuple(x), out, n, Fwd<Fn, S>{p}));
    } else {
      // par_nosync: thrust::device would block the host until the kernel ends, adding wake-up latency
      if (backward) thrust::transform(thrust::cuda::par_nosync, x, x + n, dy, out, Bwd<Fn, S>{p});
      else thrust::transform(thrust::cuda::par_nosync, x, x + n, out, Fwd<Fn, S>{p});
    }
  });
}

__global__ void empty_kernel() {}

}  // namespace

void register_gpu_peers(const std::vector<std::int64_t>& sizes) {
  using namespace actk::ops;
  // a representative subset (each op costs a thrust and a cub instantiation per dtype and direction)
  auto add = [&](const char* name, auto fn_tag) {
    using Fn = decltype(fn_tag);
    for (bool bwd : {false, true})
      for (std::int64_t n : sizes)
        for (bool cub : {false, true}) {
          const std::string pre = std::string(cub ? "gpu-cub/" : "gpu-thrust/") + name + (bwd ? "/backward_x/" : "/forward/");
          benchmark::RegisterBenchmark((pre + "float32/" + std::to_string(n)).c_str(),
                                       [=](benchmark::State& st) { bench_transform<Fn, float>(st, cub, bwd, n); })
              ->UseManualTime()->Unit(benchmark::kMicrosecond);
          benchmark::RegisterBenchmark((pre + "bfloat16/" + std::to_string(n)).c_str(),
                                       [=](benchmark::State& st) { bench_transform<Fn, actk::bfloat16>(st, cub, bwd, n); })
              ->UseManualTime()->Unit(benchmark::kMicrosecond);
        }
  };
  add("relu", Relu{});
  add("sigmoid", Sigmoid{});
  add("tanh", Tanh{});
  add("gelu", Gelu{});
  add("gelu_tanh", GeluTanh{});
  add("silu", Silu{});
  benchmark::RegisterBenchmark("overhead/bare_kernel_launch", [](benchmark::State& st) {
    for (auto _ : st) empty_kernel<<<1, 32>>>();
    CK(cudaDeviceSynchronize());
    st.SetItemsProcessed(st.iterations());
  })->Unit(benchmark::kMicrosecond);
}

}  // namespace actk_bench
