// tests/test_exhaustive.cu: every one of the 2^32 float32 inputs, for every op, forward and
// backward (dy = 1), on the GPU: the float functor (what the kernels run) against the same functor
// in double on the GPU, rounded once. Prints a table of the max ulp error and the worst input per
// op and direction, and asserts DESIGN.md's bounds (forward 4 ulp; backward 8 ulp, or 2^-22
// absolute inside the near-zero windows of f' computed on the host). Skips without a GPU.
// Run by tools/gpu-check (ctest label "exhaustive"); about 2^38 evaluations in all.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common.h"
#include "gpu_required.h"
#include "kernels/elementwise.cuh"

namespace {

using namespace actk_test;
using actk::P;
using actk::detail::Dir;

constexpr int kMaxWindows = 32;
struct Windows { int count; double lo[kMaxWindows], hi[kMaxWindows]; };

__device__ __forceinline__ long long ord32(float f) {
  const unsigned u = __float_as_uint(f);
  return (u & 0x80000000u) ? -static_cast<long long>(u & 0x7fffffffu) : static_cast<long long>(u);
}

// result[0]: max (ulp << 32 | input bits) outside windows; result[1]: count over the bound;
// result[2]: max (abs error scaled by 2^40, as an integer) inside the windows; result[3]: inputs
// evaluated (must come to 2^32: a sweep that did not run cannot pass).
// With shift > 0 (a sample of 2^(32 - shift) inputs) input k is (k << shift) plus a scrambled low
// part, so every exponent and sign is sampled and the low mantissa bits vary too.
template <class Fn, Dir D>
__global__ void sweep(std::uint64_t start, std::uint64_t count, unsigned shift, P<float> pf, P<double> pd, Windows w,
                      double bound_ulp, double bound_abs, unsigned long long* result) {
  unsigned long long best = 0, over = 0, near_best = 0, evaluated = 0;
  for (std::uint64_t k = blockIdx.x * static_cast<std::uint64_t>(blockDim.x) + threadIdx.x; k < count;
       k += static_cast<std::uint64_t>(gridDim.x) * blockDim.x) {
    const unsigned idx = static_cast<unsigned>(start + k);
    const unsigned bits = shift == 0 ? idx : (idx << shift) | ((idx * 2654435761u >> 7) & ((1u << shift) - 1u));
    const float x = __uint_as_float(bits);
    ++evaluated;
    const float got = actk::detail::apply<Fn, D>(x, 1.0f, pf);
    const double refd = actk::detail::apply<Fn, D>(static_cast<double>(x), 1.0, pd);
    const float ref = static_cast<float>(refd);
    bool inside = false;
    if (D == Dir::from_input)
      for (int i = 0; i < w.count; ++i) inside |= static_cast<double>(x) >= w.lo[i] && static_cast<double>(x) <= w.hi[i];
    if (inside && isfinite(refd)) {
      const double e = fabs(static_cast<double>(got) - refd);
      const unsigned long long q = e != e ? ~0ull : static_cast<unsigned long long>(fmin(e * 0x1p40, 1.8e19));
      near_best = q > near_best ? q : near_best;
      if (!(e <= bound_abs)) ++over;
      continue;
    }
    unsigned long long u;
    if (got != got || ref != ref) u = (got != got && ref != ref) ? 0 : 0xffffffffull;
    else u = static_cast<unsigned long long>(llabs(ord32(got) - ord32(ref)));
    if (static_cast<double>(u) > bound_ulp) ++over;
    const unsigned long long packed = (u << 32) | bits;
    best = packed > best ? packed : best;
  }
  atomicAdd(&result[3], static_cast<unsigned long long>(evaluated));
  atomicMax(&result[0], best);
  atomicAdd(&result[1], over);
  atomicMax(&result[2], near_best);
}

// ACTK_EXHAUSTIVE_SAMPLE_LOG2=L (8..31) evaluates a sample of 2^L inputs per op and direction
// (tools/gpu-check's budget mode: 2^28); unset, all 2^32.
unsigned sample_shift() {
  const char* v = std::getenv("ACTK_EXHAUSTIVE_SAMPLE_LOG2");
  if (v == nullptr || *v == '\0') return 0;
  const int l = std::atoi(v);
  return l >= 8 && l < 32 ? static_cast<unsigned>(32 - l) : 0;
}

struct Row { std::string op, dir; double ulp; float worst; double near; unsigned long long over; };
std::vector<Row> g_rows;

template <class Fn, Dir D> Row run(Op op, const char* dir, double bound_ulp) {
  const actk::Params prm = defaults(op);
  const P<float> pf = P<float>::make(pa(op, prm), pb(op, prm));
  const P<double> pd = P<double>::make(pa(op, prm), pb(op, prm));
  Windows w{};
  if (D == Dir::from_input) {
    const auto v = derivative_zero_windows<Fn>(pd);
    for (const Window& k : v)
      if (w.count < kMaxWindows) w.lo[w.count] = k.lo, w.hi[w.count] = k.hi, ++w.count;
  }
  unsigned long long* d = nullptr;
  EXPECT_EQ(cudaMalloc(&d, 4 * sizeof(unsigned long long)), cudaSuccess);
  EXPECT_EQ(cudaMemset(d, 0, 4 * sizeof(unsigned long long)), cudaSuccess);
  const unsigned shift = sample_shift();
  const std::uint64_t total = std::uint64_t{1} << (32 - shift), step = std::min<std::uint64_t>(total, std::uint64_t{1} << 30);
  for (std::uint64_t s = 0; s < total; s += step)
    sweep<Fn, D><<<4096, 256>>>(s, step, shift, pf, pd, w, bound_ulp, 0x1p-22, d);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess) << op_name(op) << " " << dir << ": launch";
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess) << op_name(op) << " " << dir;
  unsigned long long h[4] = {0, 0, 0, 0};
  EXPECT_EQ(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost), cudaSuccess);
  cudaFree(d);
  EXPECT_EQ(h[3], total) << op_name(op) << " " << dir << ": not every input was evaluated";
  const unsigned wb = static_cast<unsigned>(h[0] & 0xffffffffu);
  float worst;
  std::memcpy(&worst, &wb, 4);
  return Row{op_name(op), dir, static_cast<double>(h[0] >> 32), worst, static_cast<double>(h[2]) * 0x1p-40, h[1]};
}

class Exhaustive : public ::testing::TestWithParam<Op> {};

TEST_P(Exhaustive, AllFloat32InputsOnTheGpu) {
  ACTK_GPU_OR_SKIP();
  const Op op = GetParam();
  actk::detail::with_op(op, [&](auto tag) {
    using Fn = typename decltype(tag)::fn;
    for (const Row& r : {run<Fn, Dir::forward>(op, "forward", 4), run<Fn, Dir::from_input>(op, "backward(x), dy=1", 8)}) {
      EXPECT_EQ(r.over, 0u) << r.op << " " << r.dir << ": max " << r.ulp << " ulp at x = " << r.worst
                            << ", near-zero max abs " << r.near;
      g_rows.push_back(r);
    }
  });
}

INSTANTIATE_TEST_SUITE_P(AllOps, Exhaustive, ::testing::ValuesIn(all_ops()),
                         [](const ::testing::TestParamInfo<Op>& i) { return op_name(i.param); });

class Printer : public ::testing::Environment {
 public:
  void TearDown() override {
    if (g_rows.empty()) return;
    const unsigned shift = sample_shift();
    if (shift == 0) std::printf("\nExhaustive float32 on the GPU (all 2^32 inputs; ulp vs the double functor on the GPU, rounded once)\n");
    else std::printf("\nFloat32 sample on the GPU (2^%u inputs per op and direction, every exponent and sign; ulp vs the double functor on the GPU, rounded once)\n", 32 - shift);
    std::printf("| op | direction | max ulp | worst x | near-zero max abs err | over bound |\n|---|---|---|---|---|---|\n");
    for (const Row& r : g_rows)
      std::printf("| %s | %s | %.0f | %.9g | %.3g | %llu |\n", r.op.c_str(), r.dir.c_str(), r.ulp, static_cast<double>(r.worst),
                  r.near, r.over);
  }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new Printer);

}  // namespace
