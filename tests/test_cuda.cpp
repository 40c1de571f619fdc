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

#include <cstdlib>
#include <cstring>

#include "common.h"
#include "gpu_required.h"

namespace {

using namespace actk_test;
using actk::Backend;
using actk::DType;
using actk::From;
using actk::detail::Dir;

#define SKIP_WITHOUT_GPU() ACTK_GPU_OR_SKIP()

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
  // specials at a seed-dependent phase, so x and dy (different seeds) are not special together
  const std::size_t phase = static_cast<std::size_t>(seed % 5);
  for (std::size_t i = 0; i < n; ++i) v[i] = to<S>(i % 5 == phase ? sp[(i / 5 + seed) % 17] : rng.uniform(-10, 10));
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

/// Distance in ulps; for float64 (GPU double math vs the CPU's: two libms, neither exactly
/// rounded) the error in units of 2^-40 relative, the golden tests' bound for the double math.
template <class S> double ulps(S got, S ref) {
  if constexpr (std::is_same_v<S, double>) {
    if (std::isnan(got) || std::isnan(ref)) return std::isnan(got) && std::isnan(ref) ? 0 : kHuge;
    if (got == ref) return 0;
    return std::fabs(got - ref) / (std::fabs(ref) * 0x1p-40 + 4 * 0x1p-1074);
  } else {
    return ulp_dist(got, ref);
  }
}

/// Element count for the big comparisons: ACTK_CUDA_TEST_N overrides (tools/gpu-check lowers it
/// under compute-sanitizer, which runs these kernels 10-100x slower).
std::size_t test_n(std::size_t dflt) {
  const char* e = std::getenv("ACTK_CUDA_TEST_N");
  return e ? static_cast<std::size_t>(std::strtoull(e, nullptr, 10)) : dflt;
}

template <class S>
void compare_all_ops(std::size_t n, std::size_t off_x, std::size_t off_dy, std::size_t off_out, cudaStream_t stream) {
  const std::vector<S> x = data<S>(n, 11), dy = data<S>(n, 12);
  DevBuf<S> dx_in(n + 16), dy_in(n + 16), ddy(n + 16), dout(n + 16);
  CUDA_OK(cudaMemcpy(dx_in.at(off_x), x.data(), n * sizeof(S), cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(ddy.at(off_dy), dy.data(), n * sizeof(S), cudaMemcpyHostToDevice));
  std::vector<S> y(n);  // backward from the output takes y = f(x), the values the op can produce
  const double bound16 = 1, fwd32 = 4, bwd32 = 8, bound64 = 1;
  for (Op op : all_ops()) {
    const actk::Params prm = defaults(op);
    std::vector<Window> near0;
    actk::detail::with_op(op, [&](auto tag) {
      near0 = derivative_zero_windows<typename decltype(tag)::fn>(actk::P<double>::make(pa(op, prm), pb(op, prm)));
    });
    if (actk::op_info(op).has_backward_from_output) {
      actk::forward(op, x.data(), y.data(), static_cast<std::int64_t>(n), prm, Backend::cpu);
      CUDA_OK(cudaMemcpy(dy_in.at(off_x), y.data(), n * sizeof(S), cudaMemcpyHostToDevice));
    }
    for (int dir = 0; dir < 3; ++dir) {
      if (dir == 2 && !actk::op_info(op).has_backward_from_output) continue;
      std::vector<S> ref(n), got(n);
      CUDA_OK(cudaMemset(dout.base, 0xA5, (dout.n + 2 * DevBuf<S>::guard) * sizeof(S)));
      const auto before = dout.raw();
      if (dir == 0) {
        actk::forward(op, x.data(), ref.data(), static_cast<std::int64_t>(n), prm, Backend::cpu);
        actk::forward(op, dx_in.at(off_x), dout.at(off_out), static_cast<std::int64_t>(n), prm, Backend::cuda, stream);
      } else {
        const From f = dir == 1 ? From::input : From::output;
        actk::backward(op, f, (dir == 1 ? x : y).data(), dy.data(), ref.data(), static_cast<std::int64_t>(n), prm, Backend::cpu);
        actk::backward(op, f, (dir == 1 ? dx_in : dy_in).at(off_x), ddy.at(off_dy), dout.at(off_out), static_cast<std::int64_t>(n),
                       prm, Backend::automatic, stream);
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
      const double abs_bound = sizeof(S) == 2 ? 0x1p-10 : (sizeof(S) == 4 ? 0x1p-22 : 0x1p-50);
      int bad = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const double u = ulps(got[i], ref[i]);
        if (u <= bound) continue;
        const double xd = static_cast<double>(dir == 2 ? y[i] : x[i]);
        if (dir == 1 && in_windows(near0, xd) &&
            std::fabs(static_cast<double>(got[i]) - static_cast<double>(ref[i])) <= abs_bound * std::fabs(static_cast<double>(dy[i])))
          continue;
        if (++bad <= 5)
          ADD_FAILURE() << op_name(op) << " " << actk::dtype_name(actk::dtype_of<S>::value) << " dir " << dir << " n=" << n
                        << " offsets " << off_x << "/" << off_dy << "/" << off_out << " i=" << i << " x=" << xd << " dy=" << static_cast<double>(dy[i]) << ": GPU "
                        << static_cast<double>(got[i]) << " CPU " << static_cast<double>(ref[i]) << " (" << u << " ulp)";
      }
    }
  }
}

TEST(Cuda, EveryOpMatchesTheCpuReferenceFloat32) { SKIP_WITHOUT_GPU(); compare_all_ops<float>(test_n(100003), 0, 0, 0, nullptr); }
TEST(Cuda, EveryOpMatchesTheCpuReferenceFloat64) { SKIP_WITHOUT_GPU(); compare_all_ops<double>(test_n(100003), 0, 0, 0, nullptr); }
TEST(Cuda, EveryOpMatchesTheCpuReferenceFloat16) { SKIP_WITHOUT_GPU(); compare_all_ops<float16>(test_n(100003), 0, 0, 0, nullptr); }
TEST(Cuda, EveryOpMatchesTheCpuReferenceBFloat16) { SKIP_WITHOUT_GPU(); compare_all_ops<bfloat16>(test_n(100003), 0, 0, 0, nullptr); }

// Sizes around the vector widths (2 doubles, 4 floats, 8 halves) and every element offset of each
// pointer on its own, so the aligned path (same offset: scalar head + vectors + tail) and the
// scalar path (different offsets) both run, on a non-default stream.
/// ACTK_CUDA_TEST_OFFSET_STEP > 1 samples the offsets (tools/gpu-check, under compute-sanitizer).
std::size_t offset_step() {
  const char* e = std::getenv("ACTK_CUDA_TEST_OFFSET_STEP");
  const std::size_t v = e ? static_cast<std::size_t>(std::strtoull(e, nullptr, 10)) : 1;
  return v > 0 ? v : 1;
}

template <class S> void sizes_and_offsets(cudaStream_t s) {
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7}, std::size_t{9},
                        std::size_t{15}, std::size_t{17}, std::size_t{33}})
    compare_all_ops<S>(n, 0, 0, 0, s);
  for (std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{5}})  // head longer than n
    for (std::size_t off : {std::size_t{1}, std::size_t{3}}) compare_all_ops<S>(n, off, off, off, s);
  for (std::size_t off = 0; off < 16; off += offset_step()) {
    compare_all_ops<S>(61, off, 0, 0, s);
    compare_all_ops<S>(61, 0, off, 0, s);
    compare_all_ops<S>(61, 0, 0, off, s);
    compare_all_ops<S>(61, off, off, off, s);
  }
}

/// Runs f(stream) on a fresh non-blocking stream.
template <class F> void on_stream(F&& f) {
  cudaStream_t s;
  CUDA_OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  f(s);
  CUDA_OK(cudaStreamDestroy(s));
}

TEST(Cuda, SizesAndOffsetsOnAStreamFloat32) {
  SKIP_WITHOUT_GPU();
  on_stream([](cudaStream_t s) {
    sizes_and_offsets<float>(s);
    compare_all_ops<float>(test_n((1u << 20) + 7), 3, 3, 3, s);
  });
}
TEST(Cuda, SizesAndOffsetsOnAStreamBFloat16) { SKIP_WITHOUT_GPU(); on_stream(sizes_and_offsets<bfloat16>); }
TEST(Cuda, SizesAndOffsetsOnAStreamFloat64) { SKIP_WITHOUT_GPU(); on_stream(sizes_and_offsets<double>); }
TEST(Cuda, SizesAndOffsetsOnAStreamFloat16) { SKIP_WITHOUT_GPU(); on_stream(sizes_and_offsets<float16>); }

// In place on the GPU: y == x and dx == dy give the out-of-place bits (aligned and scalar paths).
TEST(Cuda, InPlaceEqualsOutOfPlace) {
  SKIP_WITHOUT_GPU();
  for (std::size_t off : {std::size_t{0}, std::size_t{1}}) {
    const std::size_t n = 10007;
    const std::vector<float> x = data<float>(n, 31), dy = data<float>(n, 32);
    DevBuf<float> dxb(n + 2), ddy(n + 2), dout(n + 2);
    for (Op op : all_ops()) {
      for (int dir = 0; dir < 2; ++dir) {
        CUDA_OK(cudaMemcpy(dxb.at(off), x.data(), n * 4, cudaMemcpyHostToDevice));
        CUDA_OK(cudaMemcpy(ddy.at(off), dy.data(), n * 4, cudaMemcpyHostToDevice));
        std::vector<float> a(n), b(n);
        if (dir == 0) {
          actk::forward(op, dxb.at(off), dout.at(off), static_cast<std::int64_t>(n));
          actk::forward(op, dxb.at(off), dxb.at(off), static_cast<std::int64_t>(n));
          CUDA_OK(cudaMemcpy(b.data(), dxb.at(off), n * 4, cudaMemcpyDeviceToHost));
        } else {
          actk::backward(op, From::input, dxb.at(off), ddy.at(off), dout.at(off), static_cast<std::int64_t>(n));
          actk::backward(op, From::input, dxb.at(off), ddy.at(off), ddy.at(off), static_cast<std::int64_t>(n));
          CUDA_OK(cudaMemcpy(b.data(), ddy.at(off), n * 4, cudaMemcpyDeviceToHost));
        }
        CUDA_OK(cudaMemcpy(a.data(), dout.at(off), n * 4, cudaMemcpyDeviceToHost));
        ASSERT_EQ(std::memcmp(a.data(), b.data(), n * 4), 0) << op_name(op) << " dir " << dir << " offset " << off;
      }
    }
  }
}

// Above 2^31 elements: 64-bit indexing end to end (bfloat16, 2^31 + 2^20 elements, ~13 GB for
// x, dy and out). Checked at both ends, around 2^31 and at sampled points against the CPU math.
TEST(Cuda, HugeTensorAbove2To31Elements) {
  SKIP_WITHOUT_GPU();
  if (std::getenv("ACTK_SKIP_HUGE")) GTEST_SKIP() << "ACTK_SKIP_HUGE is set";
  const std::int64_t n = (std::int64_t{1} << 31) + (1 << 20);
  std::size_t free_b = 0, total_b = 0;
  CUDA_OK(cudaMemGetInfo(&free_b, &total_b));
  if (free_b < static_cast<std::size_t>(n) * 2 * 3 + (std::size_t{1} << 30))
    GTEST_SKIP() << "needs about " << (n * 6 >> 30) << " GiB of free device memory, has " << (free_b >> 30);
  bfloat16 *x, *dy, *out;
  CUDA_OK(cudaMalloc(&x, n * 2));
  CUDA_OK(cudaMalloc(&dy, n * 2));
  CUDA_OK(cudaMalloc(&out, n * 2));
  // a pattern that differs along the whole range: tile a host block of distinct values
  const std::size_t tile = std::size_t{1} << 20;
  const std::vector<bfloat16> hx = data<bfloat16>(tile + 1, 21), hdy = data<bfloat16>(tile + 1, 22);
  for (std::int64_t off = 0; off < n; off += tile) {
    const std::size_t len = std::min<std::size_t>(tile, static_cast<std::size_t>(n - off));
    const std::size_t shift = static_cast<std::size_t>(off / tile) % 2;  // neighbouring tiles differ
    CUDA_OK(cudaMemcpy(x + off, hx.data() + shift, len * 2, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(dy + off, hdy.data() + shift, len * 2, cudaMemcpyHostToDevice));
  }
  auto host_x = [&](std::int64_t i) { return hx[static_cast<std::size_t>(i % tile) + static_cast<std::size_t>(i / tile) % 2]; };
  auto host_dy = [&](std::int64_t i) { return hdy[static_cast<std::size_t>(i % tile) + static_cast<std::size_t>(i / tile) % 2]; };
  std::vector<std::int64_t> idx = {0, 1, 7, (std::int64_t{1} << 31) - 1, std::int64_t{1} << 31, (std::int64_t{1} << 31) + 1, n - 9, n - 1};
  Rng rng(5);
  for (int k = 0; k < 2000; ++k) idx.push_back(static_cast<std::int64_t>(rng.next() % static_cast<std::uint64_t>(n)));
  for (int dir = 0; dir < 2; ++dir) {
    CUDA_OK(cudaMemset(out, 0xff, n * 2));
    if (dir == 0) actk::forward(Op::gelu, x, out, n);
    else actk::backward(Op::gelu, From::input, x, dy, out, n);
    CUDA_OK(cudaDeviceSynchronize());
    int bad = 0;
    for (std::int64_t i : idx) {
      bfloat16 g, ref, xi = host_x(i), di = host_dy(i);
      CUDA_OK(cudaMemcpy(&g, out + i, 2, cudaMemcpyDeviceToHost));
      if (dir == 0) actk::forward(Op::gelu, &xi, &ref, 1);
      else actk::backward(Op::gelu, From::input, &xi, &di, &ref, 1);
      if (ulp_dist(g, ref) > 1 && ++bad < 5) ADD_FAILURE() << "dir " << dir << " i=" << i << " got " << static_cast<double>(g) << " want " << static_cast<double>(ref);
    }
    EXPECT_EQ(bad, 0);
  }
  cudaFree(x);
  cudaFree(dy);
  cudaFree(out);
}

TEST(Cuda, PointerKindsAreChecked) {
  SKIP_WITHOUT_GPU();
  std::vector<float> host(16, 1.0f);
  float* dev = nullptr;
  CUDA_OK(cudaMalloc(&dev, 16 * sizeof(float)));
  CUDA_OK(cudaMemset(dev, 0, 16 * sizeof(float)));  // initcheck: no read of uninitialized memory
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

// PReLU on the GPU against the CPU for a shape/dtype, forward and backward, dalpha twice (same
// bits) and once through the advertised workspace. `off` > 0 shifts x, dy and the output by that
// many elements off their 16-byte alignment (the scalar kernel; 0: the vectorized one).
template <class S> void prelu_case(std::int64_t outer, std::int64_t C, std::int64_t inner, std::int64_t off = 0) {
  const std::int64_t n = outer * C * inner;
  const std::int64_t cnt = n > 0 ? n : 1;
  std::vector<S> x = data<S>(static_cast<std::size_t>(cnt), 41), dy = data<S>(static_cast<std::size_t>(cnt), 42), alpha(C);
  for (auto* v : {&x, &dy})
    for (S& e : *v)
      if (!std::isfinite(static_cast<double>(e)) || std::fabs(static_cast<double>(e)) > 1e3) e = to<S>(0.5);
  for (std::int64_t c = 0; c < C; ++c) alpha[c] = to<S>(0.05 * static_cast<double>(c % 9) - 0.2);
  std::vector<S> y_ref(cnt), dx_ref(cnt), da_ref(C), y(cnt), dx(cnt), da1(C), da2(C);
  actk::prelu_forward(actk::dtype_of<S>::value, x.data(), alpha.data(), y_ref.data(), n, C, inner, Backend::cpu);
  actk::prelu_backward(actk::dtype_of<S>::value, x.data(), dy.data(), alpha.data(), dx_ref.data(), da_ref.data(), n, C, inner,
                       Backend::cpu);
  S *dX, *dDY, *dA, *dOUT, *dDA, *base[3];
  for (S** p : {&base[0], &base[1], &base[2]}) CUDA_OK(cudaMalloc(p, (cnt + off) * sizeof(S)));
  dX = base[0] + off, dDY = base[1] + off, dOUT = base[2] + off;
  for (S** p : {&dA, &dDA}) CUDA_OK(cudaMalloc(p, C * sizeof(S)));
  for (S* p : {dX, dDY, dOUT}) CUDA_OK(cudaMemset(p, 0, cnt * sizeof(S)));  // n = 0 copies back one element
  for (S* p : {dA, dDA}) CUDA_OK(cudaMemset(p, 0, C * sizeof(S)));
  CUDA_OK(cudaMemcpy(dX, x.data(), cnt * sizeof(S), cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(dDY, dy.data(), cnt * sizeof(S), cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(dA, alpha.data(), C * sizeof(S), cudaMemcpyHostToDevice));
  const DType dt = actk::dtype_of<S>::value;
  actk::prelu_forward(dt, dX, dA, dOUT, n, C, inner);
  CUDA_OK(cudaMemcpy(y.data(), dOUT, cnt * sizeof(S), cudaMemcpyDeviceToHost));
  actk::prelu_backward(dt, dX, dDY, dA, dOUT, dDA, n, C, inner);
  CUDA_OK(cudaMemcpy(dx.data(), dOUT, cnt * sizeof(S), cudaMemcpyDeviceToHost));
  CUDA_OK(cudaMemcpy(da1.data(), dDA, C * sizeof(S), cudaMemcpyDeviceToHost));
  const std::size_t ws_bytes = actk::prelu_backward_workspace_bytes(dt, n, C, inner);
  void* ws = nullptr;
  CUDA_OK(cudaMalloc(&ws, ws_bytes));
  EXPECT_THROW(actk::prelu_backward(dt, dX, dDY, dA, dOUT, dDA, n, C, inner, Backend::cuda, nullptr, ws, ws_bytes - 1),
               actk::Error);
  actk::prelu_backward(dt, dX, dDY, dA, dOUT, dDA, n, C, inner, Backend::cuda, nullptr, ws, ws_bytes);
  CUDA_OK(cudaMemcpy(da2.data(), dDA, C * sizeof(S), cudaMemcpyDeviceToHost));
  CUDA_OK(cudaFree(ws));
  for (std::int64_t i = 0; i < n; ++i) {
    ASSERT_LE(ulps(y[i], y_ref[i]), 1.0) << "y " << i;
    ASSERT_LE(ulps(dx[i], dx_ref[i]), 1.0) << "dx " << i;
  }
  EXPECT_EQ(std::memcmp(da1.data(), da2.data(), C * sizeof(S)), 0) << "dalpha differs between two runs";
  for (std::int64_t c = 0; c < C; ++c)  // sums in double in another order: equal after rounding, or 1 ulp at a tie
    EXPECT_LE(ulps(da1[c], da_ref[c]), 1.0) << "dalpha[" << c << "] " << static_cast<double>(da1[c]) << " vs "
                                            << static_cast<double>(da_ref[c]);
  for (S* p : {base[0], base[1], base[2], dA, dDA}) cudaFree(p);
}

TEST(Cuda, PreluShapesAndDtypes) {
  SKIP_WITHOUT_GPU();
  prelu_case<float>(2, 3, 70000);     // several blocks per channel in the first dalpha stage
  prelu_case<float>(1, 1, 200000);    // one shared alpha
  prelu_case<bfloat16>(4, 16, 1000);
  prelu_case<float16>(3, 7, 13);
  prelu_case<double>(5, 2, 999);
  prelu_case<float>(0, 4, 1);         // n = 0: dalpha is written as zeros
  prelu_case<float>(1000, 64, 1);     // channels last: every element of a vector a new channel
  prelu_case<bfloat16>(9, 5, 3);      // vectors of 8 across several channels; a 7-element tail
  prelu_case<float>(7, 3, 5, 1);      // misaligned pointers: the scalar kernel
  prelu_case<float16>(5, 64, 1, 3);
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
  // again with a caller-provided workspace (the first call took it from the stream-ordered pool)
  const std::size_t ws_bytes = actk::prelu_backward_workspace_bytes(DType::float32, n, C, inner);
  void* ws = nullptr;
  CUDA_OK(cudaMalloc(&ws, ws_bytes));
  EXPECT_THROW(actk::prelu_backward(DType::float32, dX, dDY, dA, dDX, dDA, n, C, inner, Backend::cuda, nullptr, ws, ws_bytes - 1),
               actk::Error);
  actk::prelu_backward(DType::float32, dX, dDY, dA, dDX, dDA, n, C, inner, Backend::cuda, nullptr, ws, ws_bytes);
  CUDA_OK(cudaMemcpy(da2.data(), dDA, C * 4, cudaMemcpyDeviceToHost));
  CUDA_OK(cudaFree(ws));
  EXPECT_EQ(dx, dx_ref);
  EXPECT_EQ(std::memcmp(da1.data(), da2.data(), C * 4), 0) << "dalpha differs between two runs";
  for (std::int64_t c = 0; c < C; ++c) EXPECT_NEAR(da1[c], da_ref[c], 1e-5 * (1 + std::fabs(da_ref[c]))) << c;
  for (float* p : {dX, dDY, dA, dDX, dDA}) cudaFree(p);
}

}  // namespace

// ---- softmax on the GPU ---------------------------------------------------------------------------
namespace {

/// GPU vs the CPU reference for one shape, forward and backward, softmax and log-softmax, with
/// the input at element offset `off` (misaligned when off > 0) and poisoned outputs.
template <class S> void softmax_case(std::int64_t outer, std::int64_t axis, std::int64_t inner, std::size_t off) {
  const std::size_t n = static_cast<std::size_t>(outer * axis * inner);
  std::vector<S> x = data<S>(n, 51), dy = data<S>(n, 52);
  Rng rng(53);
  for (std::size_t i = 0; i < n; ++i) {  // finite logits, with some -inf masks
    if (!std::isfinite(static_cast<double>(x[i])) || std::fabs(static_cast<double>(x[i])) > 30) x[i] = to<S>(rng.uniform(-12, 12));
    if (i % 97 == 5) x[i] = to<S>(-std::numeric_limits<double>::infinity());
    if (!std::isfinite(static_cast<double>(dy[i])) || std::fabs(static_cast<double>(dy[i])) > 30) dy[i] = to<S>(rng.uniform(-1, 1));
  }
  DevBuf<S> dX(n + 16), dDY(n + 16), dOUT(n + 16);
  CUDA_OK(cudaMemcpy(dX.at(off), x.data(), n * sizeof(S), cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(dDY.at(off), dy.data(), n * sizeof(S), cudaMemcpyHostToDevice));
  const double tol = std::is_same_v<S, double> ? 1e-12 : 1e-5;
  for (unsigned f : {0u, static_cast<unsigned>(actk::softmax_log)}) {
    const DType dt = actk::dtype_of<S>::value;
    std::vector<S> y_ref(n), y(n), dx_ref(n), dx(n);
    actk::softmax_forward(dt, x.data(), y_ref.data(), outer, axis, inner, f, Backend::cpu);
    CUDA_OK(cudaMemset(dOUT.base, 0xFF, (n + 16 + 2 * DevBuf<S>::guard) * sizeof(S)));  // NaN poison
    const auto before = dOUT.raw();
    actk::softmax_forward(dt, dX.at(off), dOUT.at(off), outer, axis, inner, f);
    CUDA_OK(cudaDeviceSynchronize());
    CUDA_OK(cudaMemcpy(y.data(), dOUT.at(off), n * sizeof(S), cudaMemcpyDeviceToHost));
    const auto after = dOUT.raw();
    const std::size_t lo = (DevBuf<S>::guard + off) * sizeof(S), hi = lo + n * sizeof(S);
    for (std::size_t b = 0; b < after.size(); ++b) {
      if (b < lo || b >= hi) {
        ASSERT_EQ(after[b], before[b]) << "softmax wrote outside its output, byte " << b;
      }
    }
    // backward from the GPU's own y (the CPU reference uses the same y)
    actk::softmax_backward(dt, y.data(), dy.data(), dx_ref.data(), outer, axis, inner, f, Backend::cpu);
    CUDA_OK(cudaMemcpy(dX.at(off), y.data(), n * sizeof(S), cudaMemcpyHostToDevice));  // y in place of x
    CUDA_OK(cudaMemset(dOUT.base, 0xFF, (n + 16 + 2 * DevBuf<S>::guard) * sizeof(S)));  // poison again
    const auto before_bwd = dOUT.raw();
    actk::softmax_backward(dt, dX.at(off), dDY.at(off), dOUT.at(off), outer, axis, inner, f);
    CUDA_OK(cudaDeviceSynchronize());
    CUDA_OK(cudaMemcpy(dx.data(), dOUT.at(off), n * sizeof(S), cudaMemcpyDeviceToHost));
    const auto after_bwd = dOUT.raw();
    for (std::size_t b = 0; b < after_bwd.size(); ++b) {
      if (b < lo || b >= hi) {
        ASSERT_EQ(after_bwd[b], before_bwd[b]) << "softmax backward wrote outside its output, byte " << b;
      }
    }
    CUDA_OK(cudaMemcpy(dX.at(off), x.data(), n * sizeof(S), cudaMemcpyHostToDevice));  // restore x
    // Per row (o, i): the sum of the magnitudes of the terms of the backward's reduction, sum |dy|
    // (log) or sum |y dy|. A float sum of a row carries an error relative to that, not to the sum
    // itself, which cancels; dx inherits it times e^y (log) or y.
    std::vector<double> row_abs(static_cast<std::size_t>(outer * inner), 0.0);
    for (std::int64_t o = 0; o < outer; ++o)
      for (std::int64_t a = 0; a < axis; ++a)
        for (std::int64_t in = 0; in < inner; ++in) {
          const std::size_t k = static_cast<std::size_t>((o * axis + a) * inner + in);
          const double g = std::fabs(static_cast<double>(dy[k])), yy = static_cast<double>(y[k]);
          if (std::isfinite(yy)) row_abs[static_cast<std::size_t>(o * inner + in)] += f ? g : std::fabs(yy) * g;
        }
    int bad = 0;
    for (std::size_t i = 0; i < n && bad < 5; ++i) {
      const double yr = static_cast<double>(y_ref[i]), yg = static_cast<double>(y[i]);
      // y: relative (1e-5 float32, 1e-12 float64), log-softmax too: its values near 0 (a dominant
      // logit) come from log1p of the other terms' sum, not from log of a float sum ~ 1; 16-bit
      // within 1 ulp of the rounded reference
      const double ytol = tol * std::fabs(yr) + 1e-300;
      const bool y_ok = std::isnan(yr) ? std::isnan(yg)
                        : sizeof(S) == 2 ? ulp_dist(y[i], y_ref[i]) <= 1
                                         : (yr == yg || std::fabs(yg - yr) <= ytol);
      const double dr = static_cast<double>(dx_ref[i]), dg = static_cast<double>(dx[i]);
      const double yv = std::fabs(static_cast<double>(y[i])), gv = std::fabs(static_cast<double>(dy[i]));
      // the backward's terms: softmax y*dy and y*s; log dy and e^y * s, s carrying an error
      // relative to row_abs (above)
      const std::size_t row = static_cast<std::size_t>((static_cast<std::int64_t>(i) / (axis * inner)) * inner +
                                                       static_cast<std::int64_t>(i) % inner);
      const double yd = static_cast<double>(y[i]);
      const double scale = f ? gv + (std::isfinite(yd) ? std::exp(yd) : 0.0) * row_abs[row] + 1e-30
                             : yv * (gv + row_abs[row]) + 1e-300;
      const bool dx_ok = std::isnan(dr) ? std::isnan(dg)
                         : sizeof(S) == 2 ? (ulp_dist(dx[i], dx_ref[i]) <= 1 || std::fabs(dg - dr) <= 0x1p-10 * scale)
                                          : std::fabs(dg - dr) <= tol * scale;
      if (!y_ok || !dx_ok)
        ADD_FAILURE() << actk::dtype_name(actk::dtype_of<S>::value) << (f ? " log" : "") << " [" << outer << "," << axis << "," << inner
                      << "] off " << off << " i=" << i << ": y " << yg << " vs " << yr << ", dx " << dg << " vs " << dr, ++bad;
    }
  }
}

const std::int64_t kSoftmaxCols[] = {1, 2, 3, 4, 5, 8, 16, 17, 24, 31, 32, 33, 127, 1000, 1023, 1024, 1025, 2047, 2048, 2049, 2176,
                                     4095, 4224, 8191, 16384, 32768, 65537, 262144, 1048576};

template <class S> void softmax_all_cols() {
  for (std::int64_t cols : kSoftmaxCols) {
    const std::int64_t rows = std::max<std::int64_t>(1, std::min<std::int64_t>(37, (std::int64_t{1} << 21) / cols));
    softmax_case<S>(rows, cols, 1, 0);
    if (cols <= 65537) softmax_case<S>(3, cols, 1, 1);      // misaligned (a cluster's scalar path too)
    if (cols <= 2049) softmax_case<S>(2, cols, 5, 0);       // middle axis
    if (cols <= 32) softmax_case<S>(70001, cols, 1, 0);     // several rows per warp, many grid-stride steps
  }
}

}  // namespace

TEST(CudaSoftmax, EveryRowLengthFloat32) { SKIP_WITHOUT_GPU(); softmax_all_cols<float>(); }
TEST(CudaSoftmax, EveryRowLengthBFloat16) { SKIP_WITHOUT_GPU(); softmax_all_cols<bfloat16>(); }
TEST(CudaSoftmax, EveryRowLengthFloat16) { SKIP_WITHOUT_GPU(); softmax_all_cols<float16>(); }
TEST(CudaSoftmax, EveryRowLengthFloat64) { SKIP_WITHOUT_GPU(); softmax_all_cols<double>(); }

TEST(CudaSoftmax, SemanticsMatchTheCpu) {
  SKIP_WITHOUT_GPU();
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  // rows: all -inf, one +inf, one NaN, a length-1 row is covered by cols = 1 above
  // 3 rows, then the same 3 rows 20 times over (60 rows: clusters and blocks take several rows each)
  for (std::int64_t cols : {std::int64_t{4}, std::int64_t{3000}, std::int64_t{100000}}) {
    std::vector<float> x(3 * cols, 0.5f);
    for (std::int64_t c = 0; c < cols; ++c) x[c] = static_cast<float>(-inf);
    x[cols + 1] = static_cast<float>(inf);
    x[2 * cols + 2] = static_cast<float>(nan);
    const std::vector<float> three = x;
    for (int k = 1; k < 20; ++k) x.insert(x.end(), three.begin(), three.end());
    const std::int64_t rows = 60;
    float *dx_, *dy_, *dg_;
    CUDA_OK(cudaMalloc(&dx_, x.size() * 4));
    CUDA_OK(cudaMalloc(&dy_, x.size() * 4));
    CUDA_OK(cudaMalloc(&dg_, x.size() * 4));
    CUDA_OK(cudaMemcpy(dx_, x.data(), x.size() * 4, cudaMemcpyHostToDevice));
    const std::vector<float> g(x.size(), 0.25f);
    CUDA_OK(cudaMemcpy(dg_, g.data(), g.size() * 4, cudaMemcpyHostToDevice));
    for (unsigned f : {0u, 1u, 2u, 3u}) {
      std::vector<float> ref(x.size()), got(x.size()), dref(x.size()), dgot(x.size());
      actk::softmax_forward(DType::float32, x.data(), ref.data(), rows, cols, 1, f, Backend::cpu);
      actk::softmax_forward(DType::float32, dx_, dy_, rows, cols, 1, f);
      CUDA_OK(cudaMemcpy(got.data(), dy_, x.size() * 4, cudaMemcpyDeviceToHost));
      // backward from y, in place over dy (the masked flag's zero gradient included)
      actk::softmax_backward(DType::float32, ref.data(), g.data(), dref.data(), rows, cols, 1, f, Backend::cpu);
      CUDA_OK(cudaMemcpy(dg_, g.data(), g.size() * 4, cudaMemcpyHostToDevice));
      CUDA_OK(cudaMemcpy(dy_, ref.data(), ref.size() * 4, cudaMemcpyHostToDevice));
      actk::softmax_backward(DType::float32, dy_, dg_, dg_, rows, cols, 1, f);
      CUDA_OK(cudaMemcpy(dgot.data(), dg_, x.size() * 4, cudaMemcpyDeviceToHost));
      for (std::size_t i = 0; i < x.size(); ++i) {
        ASSERT_TRUE((std::isnan(ref[i]) && std::isnan(got[i])) || ref[i] == got[i] || std::fabs(ref[i] - got[i]) < 1e-6f)
            << "flags " << f << " cols " << cols << " i " << i << ": " << got[i] << " vs " << ref[i];
        ASSERT_TRUE((std::isnan(dref[i]) && std::isnan(dgot[i])) || dref[i] == dgot[i] || std::fabs(dref[i] - dgot[i]) < 1e-6f)
            << "backward flags " << f << " cols " << cols << " i " << i << ": " << dgot[i] << " vs " << dref[i];
      }
    }
    cudaFree(dx_);
    cudaFree(dy_);
    cudaFree(dg_);
  }
}

namespace {
/// Log-softmax of rows with one dominant logit (0, the rest in [-40, -16]): the outputs near 0
/// (about -e^-16 and below) must be as accurate as any other, on every path (warp, one block,
/// cluster, two passes). log(float sum) would leave them off by a few 2^-24 absolute.
template <class S> void log_softmax_near_zero() {
  for (std::int64_t cols : {std::int64_t{32}, std::int64_t{1000}, std::int64_t{3000}, std::int64_t{100000}, std::int64_t{1} << 20}) {
    const std::int64_t rows = cols >= 100000 ? 2 : 5;
    const std::size_t n = static_cast<std::size_t>(rows * cols);
    std::vector<S> x(n);
    Rng rng(71);
    for (std::size_t i = 0; i < n; ++i) x[i] = to<S>(rng.uniform(-40, -16));
    for (std::int64_t r = 0; r < rows; ++r) x[static_cast<std::size_t>(r * cols + (r * 7919) % cols)] = to<S>(0.0);
    std::vector<S> ref(n), got(n);
    const DType dt = actk::dtype_of<S>::value;
    actk::softmax_forward(dt, x.data(), ref.data(), rows, cols, 1, actk::softmax_log, Backend::cpu);
    DevBuf<S> dX(n), dY(n);
    CUDA_OK(cudaMemcpy(dX.at(0), x.data(), n * sizeof(S), cudaMemcpyHostToDevice));
    actk::softmax_forward(dt, dX.at(0), dY.at(0), rows, cols, 1, actk::softmax_log);
    CUDA_OK(cudaMemcpy(got.data(), dY.at(0), n * sizeof(S), cudaMemcpyDeviceToHost));
    for (std::size_t i = 0; i < n; ++i) {
      const double r = static_cast<double>(ref[i]), g = static_cast<double>(got[i]);
      if constexpr (sizeof(S) == 2) ASSERT_LE(ulp_dist(got[i], ref[i]), 1) << "cols " << cols << " i " << i << ": " << g << " vs " << r;
      else ASSERT_LE(std::fabs(g - r), (sizeof(S) == 8 ? 1e-12 : 1e-5) * std::fabs(r)) << "cols " << cols << " i " << i << ": " << g << " vs " << r;
    }
  }
}
}  // namespace

TEST(CudaSoftmax, LogSoftmaxNearZeroFloat32) { SKIP_WITHOUT_GPU(); log_softmax_near_zero<float>(); }
TEST(CudaSoftmax, LogSoftmaxNearZeroBFloat16) { SKIP_WITHOUT_GPU(); log_softmax_near_zero<bfloat16>(); }
TEST(CudaSoftmax, LogSoftmaxNearZeroFloat16) { SKIP_WITHOUT_GPU(); log_softmax_near_zero<float16>(); }
TEST(CudaSoftmax, LogSoftmaxNearZeroFloat64) { SKIP_WITHOUT_GPU(); log_softmax_near_zero<double>(); }

TEST(CudaSoftmax, MoreThan2To31Elements) {
  SKIP_WITHOUT_GPU();
  if (std::getenv("ACTK_SKIP_HUGE")) GTEST_SKIP() << "ACTK_SKIP_HUGE is set";
  const std::int64_t cols = 1024, rows = (std::int64_t{1} << 21) + 3, n = rows * cols;
  std::size_t free_b = 0, total_b = 0;
  CUDA_OK(cudaMemGetInfo(&free_b, &total_b));
  if (free_b < static_cast<std::size_t>(n) * 4 + (std::size_t{1} << 30)) GTEST_SKIP() << "not enough device memory";
  const std::vector<bfloat16> tile = data<bfloat16>(cols * 64, 61);
  std::vector<bfloat16> clean(tile.size());
  for (std::size_t i = 0; i < tile.size(); ++i)
    clean[i] = std::isfinite(static_cast<double>(tile[i])) && std::fabs(static_cast<double>(tile[i])) < 30 ? tile[i] : to<bfloat16>(0.25);
  bfloat16 *x, *y;
  CUDA_OK(cudaMalloc(&x, n * 2));
  CUDA_OK(cudaMalloc(&y, n * 2));
  for (std::int64_t r = 0; r < rows; r += 64)
    CUDA_OK(cudaMemcpy(x + r * cols, clean.data(), std::min<std::int64_t>(64, rows - r) * cols * 2, cudaMemcpyHostToDevice));
  actk::softmax_forward(DType::bfloat16, x, y, rows, cols);
  CUDA_OK(cudaDeviceSynchronize());
  for (std::int64_t r : {std::int64_t{0}, std::int64_t{1} << 21, rows - 1}) {
    std::vector<bfloat16> got(cols), ref(cols);
    CUDA_OK(cudaMemcpy(got.data(), y + r * cols, cols * 2, cudaMemcpyDeviceToHost));
    actk::softmax_forward(DType::bfloat16, clean.data() + (r % 64) * cols, ref.data(), 1, cols, 1, 0, Backend::cpu);
    for (std::int64_t c = 0; c < cols; ++c) ASSERT_LE(ulp_dist(got[c], ref[c]), 1) << "row " << r << " col " << c;
  }
  cudaFree(x);
  cudaFree(y);
}

// ---- fused ops on the GPU ---------------------------------------------------------------------------
namespace {

template <class S> std::vector<S> finite_data(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<S> v(n);
  for (auto& e : v) e = to<S>(rng.uniform(-4, 4));
  return v;
}

/// A device copy of h starting `off` elements into a fresh allocation (misaligned when off > 0);
/// free it with cudaFree(p - off).
template <class S> S* upload(const std::vector<S>& h, std::size_t off = 0) {
  S* d = nullptr;
  EXPECT_EQ(cudaMalloc(&d, std::max<std::size_t>(1, h.size() + off) * sizeof(S)), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(d + off, h.data(), h.size() * sizeof(S), cudaMemcpyHostToDevice), cudaSuccess);
  return d + off;
}
template <class S> std::vector<S> download(const S* d, std::size_t n) {
  std::vector<S> h(n);
  EXPECT_EQ(cudaMemcpy(h.data(), d, n * sizeof(S), cudaMemcpyDeviceToHost), cudaSuccess);
  return h;
}

/// The spacing of S's values at v (one ulp), as a double.
template <class S> double ulp_size(S v) {
  const double a = std::fabs(static_cast<double>(v));
  if (!std::isfinite(a)) return 0;
  const int digits = std::is_same_v<S, double> ? 53 : std::is_same_v<S, float> ? 24 : std::is_same_v<S, float16> ? 11 : 8;
  const int min_exp = std::is_same_v<S, double> ? -1021 : std::is_same_v<S, float16> ? -13 : -125;
  const int e = a > 0 ? std::max(std::ilogb(a) + 1, min_exp) : min_exp;
  return std::ldexp(1.0, e - digits);
}

template <class S> bool close(S got, S ref, double bound) {
  return ulps(got, ref) <= bound ||
         std::fabs(static_cast<double>(got) - static_cast<double>(ref)) <= (sizeof(S) == 2 ? 0x1p-10 : 0x1p-20) *
                                                                               (1 + std::fabs(static_cast<double>(ref)));
}

/// Every fused op on the GPU against the CPU reference for one shape, every device pointer `off`
/// elements past a 16-byte boundary (off = 0 and cols a multiple of the vector width: the
/// vectorized kernels; otherwise the scalar ones).
/// Returns what the GPU wrote (y, dx, dbias, pre, gated y, gated grads), to compare paths.
template <class S> std::vector<std::vector<S>> fused_case(Op op, std::int64_t rows, std::int64_t cols, std::size_t off = 0) {
  const std::int64_t n = rows * cols;
  const DType dt = actk::dtype_of<S>::value;
  const auto x = finite_data<S>(n, 71), b = finite_data<S>(cols, 72), dy = finite_data<S>(n, 73), y0 = finite_data<S>(n, 74);
  const double bound = std::is_same_v<S, double> ? 1 : (sizeof(S) == 2 ? 1 : 8);
  const actk::Blend blend{0.5, 1.0};
  // bias + activation, blended into y0
  std::vector<S> y_ref = y0, dx_ref = y0, db_ref(cols), pre_ref(n);
  actk::bias_act_forward(op, dt, x.data(), b.data(), y_ref.data(), rows, cols, {}, pre_ref.data(), blend, Backend::cpu);
  actk::bias_act_backward(op, dt, x.data(), b.data(), dy.data(), dx_ref.data(), db_ref.data(), rows, cols, {}, blend, Backend::cpu);
  S *dX = upload(x, off), *dB = upload(b, off), *dDY = upload(dy, off), *dY = upload(y0, off), *dDX = upload(y0, off),
    *dDB = upload(finite_data<S>(cols, 76), off), *dPRE = upload(finite_data<S>(n, 77), off);  // poisoned: must be written
  actk::bias_act_forward(op, dt, dX, dB, dY, rows, cols, {}, dPRE, blend);
  actk::bias_act_backward(op, dt, dX, dB, dDY, dDX, dDB, rows, cols, {}, blend);
  const auto y = download(dY, n), dx = download(dDX, n), db = download(dDB, cols), pre = download(dPRE, n);
  actk::bias_act_backward(op, dt, dX, dB, dDY, dDX, dDB, rows, cols, {}, actk::Blend{0.5, 0.0});
  const auto db2 = download(dDB, cols);
  int bad = 0;
  for (std::int64_t i = 0; i < n && bad < 5; ++i) {
    if (!close(y[i], y_ref[i], bound) || !close(dx[i], dx_ref[i], bound) || !close(pre[i], pre_ref[i], 1))
      ADD_FAILURE() << op_name(op) << " bias_act i=" << i << " y " << static_cast<double>(y[i]) << "/" << static_cast<double>(y_ref[i])
                    << " dx " << static_cast<double>(dx[i]) << "/" << static_cast<double>(dx_ref[i]), ++bad;
  }
  // dbias[c] sums rows terms dy f'(x + b): a sum in the compute type in any order is within
  // (rows - 1) u of the sum of the terms' magnitudes (u = 2^-24 float, 2^-53 double), then rounds once
  std::vector<S> dx_plain(n), db_plain(cols);
  actk::bias_act_backward(op, dt, x.data(), b.data(), dy.data(), dx_plain.data(), db_plain.data(), rows, cols, {}, {}, Backend::cpu);
  std::vector<double> col_abs(cols, 0.0);
  for (std::int64_t i = 0; i < n; ++i) col_abs[i % cols] += std::fabs(static_cast<double>(dx_plain[i]));
  const double u = std::is_same_v<S, double> ? 0x1p-53 : 0x1p-24;
  for (std::int64_t c = 0; c < cols; ++c) {
    const double err = std::fabs(static_cast<double>(db[c]) - static_cast<double>(db_ref[c]));
    const double sum_bound = static_cast<double>(rows) * u * col_abs[c] + ulp_size(db_ref[c]);
    EXPECT_TRUE(close(db[c], db_ref[c], 4) || err <= sum_bound)
        << op_name(op) << " dbias " << c << ": " << static_cast<double>(db[c]) << " vs " << static_cast<double>(db_ref[c])
        << " (error " << err << ", bound " << sum_bound << " from sum |terms| " << col_abs[c] << ")";
    EXPECT_TRUE(std::memcmp(&db[c], &db2[c], sizeof(S)) == 0) << "dbias differs between runs, col " << c;
  }
  // gated, concatenated layout [rows, 2*cols] (gate first): forward blended into y0, backward in place
  const auto cat = finite_data<S>(2 * n, 75);
  std::vector<S> gy_ref = y0, gcat_ref = cat;
  actk::gated_forward(op, dt, cat.data(), cat.data() + cols, 2 * cols, gy_ref.data(), rows, cols, {}, blend, Backend::cpu);
  actk::gated_backward(op, dt, cat.data(), cat.data() + cols, 2 * cols, dy.data(), gcat_ref.data(), gcat_ref.data() + cols, rows,
                       cols, {}, {}, Backend::cpu);
  S *dCAT = upload(cat, off), *dGY = upload(y0, off);
  actk::gated_forward(op, dt, dCAT, dCAT + cols, 2 * cols, dGY, rows, cols, {}, blend);
  actk::gated_backward(op, dt, dCAT, dCAT + cols, 2 * cols, dDY, dCAT, dCAT + cols, rows, cols);
  const auto gy = download(dGY, n), gcat = download(dCAT, 2 * n);
  bad = 0;
  for (std::int64_t i = 0; i < n && bad < 5; ++i)
    if (!close(gy[i], gy_ref[i], bound)) ADD_FAILURE() << op_name(op) << " gated y i=" << i, ++bad;
  for (std::int64_t i = 0; i < 2 * n && bad < 5; ++i)
    if (!close(gcat[i], gcat_ref[i], bound)) ADD_FAILURE() << op_name(op) << " gated grads i=" << i, ++bad;
  // gated backward blended (beta != 0 reads the old gradients, with the inputs) into a separate buffer
  const auto old = finite_data<S>(2 * n, 78);
  std::vector<S> gb_ref = old;
  actk::gated_backward(op, dt, cat.data(), cat.data() + cols, 2 * cols, dy.data(), gb_ref.data(), gb_ref.data() + cols, rows,
                       cols, {}, blend, Backend::cpu);
  S *dCAT2 = upload(cat, off), *dGB = upload(old, off);
  actk::gated_backward(op, dt, dCAT2, dCAT2 + cols, 2 * cols, dDY, dGB, dGB + cols, rows, cols, {}, blend);
  const auto gb = download(dGB, 2 * n);
  bad = 0;
  for (std::int64_t i = 0; i < 2 * n && bad < 5; ++i)
    if (!close(gb[i], gb_ref[i], bound)) ADD_FAILURE() << op_name(op) << " gated grads blended i=" << i, ++bad;
  for (S* p : {dX, dB, dDY, dY, dDX, dDB, dPRE, dCAT, dGY, dCAT2, dGB}) cudaFree(p - off);
  return {y, dx, db, pre, gy, gcat};
}

}  // namespace

TEST(CudaFused, BiasActAndGatedMatchTheCpu) {
  SKIP_WITHOUT_GPU();
  for (Op op : {Op::gelu, Op::gelu_tanh, Op::silu, Op::relu, Op::sigmoid, Op::squared_relu, Op::quick_gelu}) {
    fused_case<float>(op, 300, 257);
    fused_case<bfloat16>(op, 17, 4097);
  }
  for (std::int64_t cols : {1, 3, 1023}) {
    fused_case<float16>(Op::gelu, 9, cols);
    fused_case<double>(Op::silu, 5, cols);
  }
}

// Whole 16-byte vectors per row: the vectorized kernels (bias, gated with a 2*cols row stride,
// blending, in place), and the same shapes misaligned by one element (the scalar kernels).
// Both must give the same bits: the vectorized kernels do the scalar ones' float math.
namespace {
template <class S> void vector_vs_scalar(Op op, std::int64_t rows, std::int64_t cols) {
  const auto vec = fused_case<S>(op, rows, cols, 0), scalar = fused_case<S>(op, rows, cols, 1);
  const char* what[] = {"y", "dx", "dbias", "pre", "gated y", "gated grads"};
  for (std::size_t k = 0; k < vec.size(); ++k)
    EXPECT_TRUE(vec[k].size() == scalar[k].size() && std::memcmp(vec[k].data(), scalar[k].data(), vec[k].size() * sizeof(S)) == 0)
        << op_name(op) << " " << actk::dtype_name(actk::dtype_of<S>::value) << " [" << rows << "," << cols << "]: " << what[k]
        << " differs between the vectorized and the scalar kernels";
}
}  // namespace

TEST(CudaFused, VectorizedKernelsMatchTheCpu) {
  SKIP_WITHOUT_GPU();
  for (Op op : {Op::gelu, Op::silu, Op::relu, Op::gelu_tanh}) {
    vector_vs_scalar<float>(op, 300, 256);
    vector_vs_scalar<bfloat16>(op, 17, 4096);
  }
  vector_vs_scalar<float>(Op::gelu, 3, 4);  // one vector per row
  vector_vs_scalar<float>(Op::silu, 4099, 512);  // several grid-stride passes
  vector_vs_scalar<float>(Op::gelu, 20000, 64);  // dbias: 4 row lanes per column, 1250 row chunks
  vector_vs_scalar<bfloat16>(Op::silu, 1, 1024); // one row: most chunks empty
  vector_vs_scalar<float16>(Op::silu, 9, 8);
  vector_vs_scalar<float16>(Op::gelu, 33, 1024);
  vector_vs_scalar<double>(Op::silu, 5, 2);
  vector_vs_scalar<double>(Op::gelu, 7, 1024);
}

// Output blending on the GPU (vectorized and scalar element-wise paths, every softmax path).
TEST(CudaBlend, ActivationsAndSoftmaxMatchTheCpu) {
  SKIP_WITHOUT_GPU();
  const actk::Blend bl{0.5, -2.0};
  for (std::size_t off : {std::size_t{0}, std::size_t{1}}) {
    const std::size_t n = 10007;
    const std::vector<float> x = finite_data<float>(n + off, 81), y0 = finite_data<float>(n + off, 82);
    std::vector<float> ref(y0.begin() + off, y0.end());
    actk::forward(Op::gelu, x.data(), ref.data(), static_cast<std::int64_t>(n), {}, Backend::cpu, nullptr, bl);
    float* dX = upload(x);
    float* dY = upload(y0);
    actk::forward(Op::gelu, dX, dY + off, static_cast<std::int64_t>(n), {}, Backend::cuda, nullptr, bl);  // x aligned, y not when off = 1
    const auto got = download(dY, n + off);
    for (std::size_t i = 0; i < n; ++i) ASSERT_TRUE(close(got[i + off], ref[i], 8)) << "gelu blend i=" << i << " off " << off;
    // backward blended (the gradient-accumulation form): the old dx is read with x and dy
    const std::vector<float> g = finite_data<float>(n + off, 86);
    std::vector<float> dref(y0.begin() + off, y0.end());
    actk::backward(Op::gelu, From::input, x.data(), g.data(), dref.data(), static_cast<std::int64_t>(n), {}, Backend::cpu, nullptr, bl);
    float* dG = upload(g);
    CUDA_OK(cudaMemcpy(dY, y0.data(), (n + off) * sizeof(float), cudaMemcpyHostToDevice));
    actk::backward(Op::gelu, From::input, dX, dG, dY + off, static_cast<std::int64_t>(n), {}, Backend::cuda, nullptr, bl);
    const auto dgot = download(dY, n + off);
    for (std::size_t i = 0; i < n; ++i) ASSERT_TRUE(close(dgot[i + off], dref[i], 8)) << "gelu backward blend i=" << i << " off " << off;
    cudaFree(dG);
    cudaFree(dX);
    cudaFree(dY);
  }
  for (std::int64_t cols : {std::int64_t{100}, std::int64_t{3000}, std::int64_t{100000}})
    for (std::int64_t inner : {std::int64_t{1}, std::int64_t{3}}) {
      const std::int64_t rows = 4, n = rows * cols * inner;
      const auto x = finite_data<float>(n, 83), y0 = finite_data<float>(n, 84), g = finite_data<float>(n, 85);
      std::vector<float> ref = y0, dref = y0, y(n);
      actk::softmax_forward(DType::float32, x.data(), ref.data(), rows, cols, inner, 0, Backend::cpu, nullptr, bl);
      // the backward takes y = softmax(x) (not x: with |y| up to 4 the row sum cancels, and float's
      // error in it is relative to the sum of |y dy|, not to its value)
      actk::softmax_forward(DType::float32, x.data(), y.data(), rows, cols, inner, 0, Backend::cpu);
      actk::softmax_backward(DType::float32, y.data(), g.data(), dref.data(), rows, cols, inner, 0, Backend::cpu, nullptr, bl);
      float *dX = upload(x), *dYin = upload(y), *dY = upload(y0), *dG = upload(g), *dD = upload(y0);
      actk::softmax_forward(DType::float32, dX, dY, rows, cols, inner, 0, Backend::cuda, nullptr, bl);
      actk::softmax_backward(DType::float32, dYin, dG, dD, rows, cols, inner, 0, Backend::cuda, nullptr, bl);
      const auto got = download(dY, n), dgot = download(dD, n);
      for (std::int64_t i = 0; i < n; ++i) {
        ASSERT_NEAR(got[i], ref[i], 1e-5 * (1 + std::fabs(ref[i]))) << "softmax blend cols " << cols << " inner " << inner;
        ASSERT_NEAR(dgot[i], dref[i], 1e-4 * (1 + std::fabs(dref[i]))) << "softmax backward blend cols " << cols;
      }
      for (float* p : {dX, dYin, dY, dG, dD}) cudaFree(p);
    }
}
