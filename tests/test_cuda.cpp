// tests/test_cuda.cpp: the CUDA backend against the CPU reference. Every test skips, saying why,
// on a machine without a usable GPU (CI); tools/gpu-check runs them on one.
//   - every op x direction x dtype on random data with specials mixed in, within DESIGN.md's
//     ulp bounds of the CPU reference (which rounds the double result once)
//   - element offsets 0..15 of the input and output, odd sizes, poisoned outputs with guard
//     regions (every element written, nothing past either end)
//   - a non-default stream, pointer-kind errors (host pointer to backend cuda, mixed pointers)
//   - PReLU forward/backward and a bitwise-reproducible dalpha
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstring>

#include "common.h"

namespace {

using namespace actk_test;
using actk::Backend;
using actk::DType;
using actk::From;
using actk::detail::Dir;

#define SKIP_WITHOUT_GPU() \
  if (!actk::cuda_available()) GTEST_SKIP() << "no usable CUDA device on this machine (the CPU suites cover the math)"

#define CUDA_OK(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

template <class S> S to(double v) {
  if constexpr (std::is_same_v<S, float16> || std::is_same_v<S, bfloat16>) return S(v);
  else return static_cast<S>(v);
}

template <class S> std::vector<S> data(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  const double sp[] = {0.0, -0.0, 1.0, -1.0, 3.0, -3.0, 6.0, 1e-40, -1e-40, 1e-6, 90.0, -90.0, 1e30, -1e30,
                       std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                       std::numeric_limits<double>::quiet_NaN()};
  std::vector<S> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = to<S>(i % 5 == 0 ? sp[(i / 5) % 17] : rng.uniform(-10, 10));
  return v;
}

/// Device buffer with `guard` poisoned elements on each side of the payload.
template <class S> struct DevBuf {
  static constexpr std::size_t guard = 64;
  S* base = nullptr;
  std::size_t n;
  explicit DevBuf(std::size_t n_) : n(n_) {
    EXPECT_EQ(cudaMalloc(&base, (n + 2 * guard) * sizeof(S)), cudaSuccess);
    EXPECT_EQ(cudaMemset(base, 0xA5, (n + 2 * guard) * sizeof(S)), cudaSuccess);
  }
  ~DevBuf() { cudaFree(base); }
  S* at(std::size_t off) { return base + guard + off; }
  std::vector<unsigned char> raw() const {
    std::vector<unsigned char> h((n + 2 * guard) * sizeof(S));
    EXPECT_EQ(cudaMemcpy(h.data(), base, h.size(), cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
  }
};

template <class S> double ulps(S got, S ref) {
  if constexpr (std::is_same_v<S, double>) {
    if (std::isnan(got) || std::isnan(ref)) return std::isnan(got) && std::isnan(ref) ? 0 : kHuge;
    if (got == ref) return 0;
    return std::fabs(got - ref) / (std::fabs(ref) * 0x1p-52 + 0x1p-1074);
  } else {
    return ulp_dist(got, ref);
  }
}

template <class S> void compare_all_ops(std::size_t n, std::size_t off_in, std::size_t off_out, cudaStream_t stream) {
  const std::vector<S> x = data<S>(n, 11), dy = data<S>(n, 12);
  DevBuf<S> dx_in(n + 16), ddy(n + 16), dout(n + 16);
  CUDA_OK(cudaMemcpy(dx_in.at(off_in), x.data(), n * sizeof(S), cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(ddy.at(off_in), dy.data(), n * sizeof(S), cudaMemcpyHostToDevice));
  const double bound16 = 1, fwd32 = 4, bwd32 = 8, bound64 = 64;
  for (Op op : all_ops()) {
    const actk::Params prm = defaults(op);
    std::vector<Window> near0;
    actk::detail::with_op(op, [&](auto tag) {
      near0 = derivative_zero_windows<typename decltype(tag)::fn>(actk::P<double>::make(pa(op, prm), pb(op, prm)));
    });
    for (int dir = 0; dir < 3; ++dir) {
      if (dir == 2 && !actk::op_info(op).has_backward_from_output) continue;
      std::vector<S> ref(n), got(n);
      CUDA_OK(cudaMemset(dout.base, 0xA5, (dout.n + 2 * DevBuf<S>::guard) * sizeof(S)));
      const auto before = dout.raw();
      if (dir == 0) {
        actk::forward(op, x.data(), ref.data(), static_cast<std::int64_t>(n), prm, Backend::cpu);
        actk::forward(op, dx_in.at(off_in), dout.at(off_out), static_cast<std::int64_t>(n), prm, Backend::cuda, stream);
      } else {
        const From f = dir == 1 ? From::input : From::output;
        actk::backward(op, f, x.data(), dy.data(), ref.data(), static_cast<std::int64_t>(n), prm, Backend::cpu);
        actk::backward(op, f, dx_in.at(off_in), ddy.at(off_in), dout.at(off_out), static_cast<std::int64_t>(n), prm,
                       Backend::automatic, stream);
      }
      CUDA_OK(cudaStreamSynchronize(stream));
      CUDA_OK(cudaMemcpy(got.data(), dout.at(off_out), n * sizeof(S), cudaMemcpyDeviceToHost));
      // guards untouched, payload fully written
      const auto after = dout.raw();
      const std::size_t lo = (DevBuf<S>::guard + off_out) * sizeof(S), hi = lo + n * sizeof(S);
      for (std::size_t b = 0; b < after.size(); ++b) {
        if (b < lo || b >= hi) {
          ASSERT_EQ(after[b], before[b]) << op_name(op) << " dir " << dir << ": wrote byte " << b;
        }
      }
      const double bound = std::is_same_v<S, double> ? bound64 : (sizeof(S) == 2 ? bound16 : (dir == 0 ? fwd32 : bwd32));
      const double abs_bound = sizeof(S) == 2 ? 0x1p-10 : 0x1p-22;
      int bad = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const double u = ulps(got[i], ref[i]);
        if (u <= bound) continue;
        const double xd = static_cast<double>(x[i]);
        if (dir == 1 && in_windows(near0, xd) &&
            std::fabs(static_cast<double>(got[i]) - static_cast<double>(ref[i])) <= abs_bound * std::fabs(static_cast<double>(dy[i])))
          continue;
        if (++bad <= 5)
          ADD_FAILURE() << op_name(op) << " " << actk::dtype_name(actk::dtype_of<S>::value) << " dir " << dir << " n=" << n
                        << " i=" << i << " x=" << xd << " dy=" << static_cast<double>(dy[i]) << ": GPU "
                        << static_cast<double>(got[i]) << " CPU " << static_cast<double>(ref[i]) << " (" << u << " ulp)";
      }
    }
  }
}

TEST(Cuda, EveryOpMatchesTheCpuReferenceFloat32) { SKIP_WITHOUT_GPU(); compare_all_ops<float>(100003, 0, 0, nullptr); }
TEST(Cuda, EveryOpMatchesTheCpuReferenceFloat64) { SKIP_WITHOUT_GPU(); compare_all_ops<double>(100003, 0, 0, nullptr); }
TEST(Cuda, EveryOpMatchesTheCpuReferenceFloat16) { SKIP_WITHOUT_GPU(); compare_all_ops<float16>(100003, 0, 0, nullptr); }
TEST(Cuda, EveryOpMatchesTheCpuReferenceBFloat16) { SKIP_WITHOUT_GPU(); compare_all_ops<bfloat16>(100003, 0, 0, nullptr); }

TEST(Cuda, OddSizesOffsetsAndAStream) {
  SKIP_WITHOUT_GPU();
  cudaStream_t s;
  CUDA_OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  for (std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7}, std::size_t{9}, std::size_t{17}})
    for (std::size_t off = 0; off < 16; off += 5) compare_all_ops<bfloat16>(n, off, 15 - off, s);
  compare_all_ops<float>((1u << 20) + 7, 3, 1, s);
  CUDA_OK(cudaStreamDestroy(s));
}

TEST(Cuda, PointerKindsAreChecked) {
  SKIP_WITHOUT_GPU();
  std::vector<float> host(16, 1.0f);
  float* dev = nullptr;
  CUDA_OK(cudaMalloc(&dev, 16 * sizeof(float)));
  try {
    actk::forward(Op::relu, host.data(), dev, 16);
    ADD_FAILURE() << "mixed pointers accepted";
  } catch (const actk::Error& e) {
    EXPECT_NE(std::string(e.what()).find("mixed host and device"), std::string::npos) << e.what();
  }
  EXPECT_THROW(actk::forward(Op::relu, host.data(), host.data(), 16, {}, Backend::cuda), actk::Error);
  EXPECT_THROW(actk::forward(Op::relu, dev, dev, 16, {}, Backend::cpu), actk::Error);
  EXPECT_NO_THROW(actk::forward(Op::relu, dev, dev, 16));
  CUDA_OK(cudaFree(dev));
}

TEST(Cuda, PreluMatchesTheCpuAndDalphaIsReproducible) {
  SKIP_WITHOUT_GPU();
  const std::int64_t C = 5, inner = 333, outer = 7, n = C * inner * outer;
  std::vector<float> x = data<float>(n, 1), dy = data<float>(n, 2), alpha = {0.1f, -0.2f, 0.3f, 2.0f, 0.0f};
  for (auto* v : {&x, &dy})
    for (float& e : *v)
      if (!std::isfinite(e) || std::fabs(e) > 1e3f) e = 0.5f;
  std::vector<float> dx_ref(n), da_ref(C), dx(n), da1(C), da2(C);
  actk::prelu_backward(DType::float32, x.data(), dy.data(), alpha.data(), dx_ref.data(), da_ref.data(), n, C, inner,
                       Backend::cpu);
  float *dX, *dDY, *dA, *dDX, *dDA;
  for (float** p : {&dX, &dDY, &dDX}) CUDA_OK(cudaMalloc(p, n * sizeof(float)));
  for (float** p : {&dA, &dDA}) CUDA_OK(cudaMalloc(p, C * sizeof(float)));
  CUDA_OK(cudaMemcpy(dX, x.data(), n * 4, cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(dDY, dy.data(), n * 4, cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(dA, alpha.data(), C * 4, cudaMemcpyHostToDevice));
  actk::prelu_backward(DType::float32, dX, dDY, dA, dDX, dDA, n, C, inner);
  CUDA_OK(cudaMemcpy(dx.data(), dDX, n * 4, cudaMemcpyDeviceToHost));
  CUDA_OK(cudaMemcpy(da1.data(), dDA, C * 4, cudaMemcpyDeviceToHost));
  actk::prelu_backward(DType::float32, dX, dDY, dA, dDX, dDA, n, C, inner);
  CUDA_OK(cudaMemcpy(da2.data(), dDA, C * 4, cudaMemcpyDeviceToHost));
  EXPECT_EQ(dx, dx_ref);
  EXPECT_EQ(std::memcmp(da1.data(), da2.data(), C * 4), 0) << "dalpha differs between two runs";
  for (std::int64_t c = 0; c < C; ++c) EXPECT_NEAR(da1[c], da_ref[c], 1e-5 * (1 + std::fabs(da_ref[c]))) << c;
  for (float* p : {dX, dDY, dA, dDX, dDA}) cudaFree(p);
}

}  // namespace
