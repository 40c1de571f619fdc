// tests/gpu/test_gpu_elementwise.cpp: the element-wise ops on the CUDA backend against the CPU
// reference. Every test skips, saying why, on a machine without a usable GPU (CI);
// tools/gpu-check runs them on one.
//   - every op x direction x dtype on random data with specials mixed in, within DESIGN.md's
//     ulp bounds of the CPU reference (which rounds the double result once)
//   - element offsets 0..15 of the input and output, odd sizes, poisoned outputs with guard
//     regions (every element written, nothing past either end), on a non-default stream
//   - in place, above 2^31 elements, pointer-kind errors (host pointer to backend cuda, mixed pointers)
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "gpu_test_util.h"

namespace {

using namespace actk_test;
using actk::Backend;
using actk::From;

template <class S>
void compare_all_ops(std::size_t n, std::size_t off_x, std::size_t off_dy, std::size_t off_out, cudaStream_t stream) {
  const std::vector<S> x = mixed_data<S>(n, 11), dy = mixed_data<S>(n, 12);
  DeviceBuffer<S> dx_in = guarded<S>(n + 16), dy_in = guarded<S>(n + 16), ddy = guarded<S>(n + 16), dout = guarded<S>(n + 16);
  CUDA_OK(dx_in.upload(x, off_x));
  CUDA_OK(ddy.upload(dy, off_dy));
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
      CUDA_OK(dy_in.upload(y, off_x));
    }
    for (Dir dir : kAllDirs) {
      if (dir == Dir::from_output && !actk::op_info(op).has_backward_from_output) continue;
      std::vector<S> ref(n), got(n);
      CUDA_OK(dout.fill_bytes(0xA5));
      const auto before = dout.raw();
      if (dir == Dir::forward) {
        actk::forward(op, x.data(), ref.data(), static_cast<std::int64_t>(n), prm, Backend::cpu);
        actk::forward(op, dx_in.at(off_x), dout.at(off_out), static_cast<std::int64_t>(n), prm, Backend::cuda, stream);
      } else {
        const From f = from_of(dir);
        actk::backward(op, f, (dir == Dir::from_input ? x : y).data(), dy.data(), ref.data(), static_cast<std::int64_t>(n), prm,
                       Backend::cpu);
        actk::backward(op, f, (dir == Dir::from_input ? dx_in : dy_in).at(off_x), ddy.at(off_dy), dout.at(off_out),
                       static_cast<std::int64_t>(n), prm, Backend::automatic, stream);
      }
      CUDA_OK(cudaStreamSynchronize(stream));
      CUDA_OK(dout.download_to(got.data(), n, off_out));
      // guards untouched, payload fully written
      const auto after = dout.raw();
      const std::size_t lo = dout.byte_offset(off_out), hi = lo + n * sizeof(S);
      for (std::size_t b = 0; b < after.size(); ++b) {
        if (b < lo || b >= hi) {
          ASSERT_EQ(after[b], before[b]) << op_name(op) << " " << dir_name(dir) << ": wrote byte " << b;
        }
      }
      const double bound = std::is_same_v<S, double> ? bound64 : (sizeof(S) == 2 ? bound16 : (dir == Dir::forward ? fwd32 : bwd32));
      const double abs_bound = sizeof(S) == 2 ? 0x1p-10 : (sizeof(S) == 4 ? 0x1p-22 : 0x1p-50);
      int bad = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const double u = ulps(got[i], ref[i]);
        if (u <= bound) continue;
        const double xd = static_cast<double>(dir == Dir::from_output ? y[i] : x[i]);
        if (dir == Dir::from_input && in_windows(near0, xd) &&
            std::fabs(static_cast<double>(got[i]) - static_cast<double>(ref[i])) <= abs_bound * std::fabs(static_cast<double>(dy[i])))
          continue;
        if (++bad <= 5)
          ADD_FAILURE() << op_name(op) << " " << actk::dtype_name(actk::dtype_of<S>::value) << " " << dir_name(dir) << " n=" << n
                        << " offsets " << off_x << "/" << off_dy << "/" << off_out << " i=" << i << " x=" << xd
                        << " dy=" << static_cast<double>(dy[i]) << ": GPU " << static_cast<double>(got[i]) << " CPU "
                        << static_cast<double>(ref[i]) << " (" << u << " ulp)";
      }
    }
  }
}

// Sizes around the vector widths (2 doubles, 4 floats, 8 halves) and every element offset of each
// pointer on its own, so the aligned path (same offset: scalar head + vectors + tail) and the
// scalar path (different offsets) both run, on a non-default stream.
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

// The typed suite shares its name with the plain tests below: Cuda/float32.EveryOpMatchesTheCpuReference
// next to Cuda.InPlaceEqualsOutOfPlace.
template <class S> class Cuda : public ::testing::Test {};
TYPED_TEST_SUITE(Cuda, GpuDtypes, DtypeName);

TYPED_TEST(Cuda, EveryOpMatchesTheCpuReference) {
  SKIP_WITHOUT_GPU();
  compare_all_ops<TypeParam>(test_n(100003), 0, 0, 0, nullptr);
}

TYPED_TEST(Cuda, SizesAndOffsetsOnAStream) {
  SKIP_WITHOUT_GPU();
  using S = TypeParam;
  on_stream([](cudaStream_t s) {
    sizes_and_offsets<S>(s);
    if constexpr (std::is_same_v<S, float>) compare_all_ops<S>(test_n((1u << 20) + 7), 3, 3, 3, s);  // float32: a large misaligned case too
  });
}

// In place on the GPU: y == x and dx == dy give the out-of-place bits (aligned and scalar paths).
TEST(Cuda, InPlaceEqualsOutOfPlace) {
  SKIP_WITHOUT_GPU();
  for (std::size_t off : {std::size_t{0}, std::size_t{1}}) {
    const std::size_t n = 10007;
    const std::vector<float> x = mixed_data<float>(n, 31), dy = mixed_data<float>(n, 32);
    DeviceBuffer<float> dxb = guarded<float>(n + 2), ddy = guarded<float>(n + 2), dout = guarded<float>(n + 2);
    for (Op op : all_ops()) {
      for (Dir dir : {Dir::forward, Dir::from_input}) {
        CUDA_OK(dxb.upload(x, off));
        CUDA_OK(ddy.upload(dy, off));
        std::vector<float> a(n), b(n);
        if (dir == Dir::forward) {
          actk::forward(op, dxb.at(off), dout.at(off), static_cast<std::int64_t>(n));
          actk::forward(op, dxb.at(off), dxb.at(off), static_cast<std::int64_t>(n));
          CUDA_OK(dxb.download_to(b.data(), n, off));
        } else {
          actk::backward(op, From::input, dxb.at(off), ddy.at(off), dout.at(off), static_cast<std::int64_t>(n));
          actk::backward(op, From::input, dxb.at(off), ddy.at(off), ddy.at(off), static_cast<std::int64_t>(n));
          CUDA_OK(ddy.download_to(b.data(), n, off));
        }
        CUDA_OK(dout.download_to(a.data(), n, off));
        ASSERT_EQ(std::memcmp(a.data(), b.data(), n * 4), 0) << op_name(op) << " " << dir_name(dir) << " offset " << off;
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
  DeviceBuffer<bfloat16> x(static_cast<std::size_t>(n));
  CUDA_OK(x.status());
  DeviceBuffer<bfloat16> dy(static_cast<std::size_t>(n));
  CUDA_OK(dy.status());
  DeviceBuffer<bfloat16> out(static_cast<std::size_t>(n));
  CUDA_OK(out.status());
  // a pattern that differs along the whole range: tile a host block of distinct values
  const std::size_t tile = std::size_t{1} << 20;
  const std::vector<bfloat16> hx = mixed_data<bfloat16>(tile + 1, 21), hdy = mixed_data<bfloat16>(tile + 1, 22);
  for (std::int64_t off = 0; off < n; off += tile) {
    const std::size_t len = std::min<std::size_t>(tile, static_cast<std::size_t>(n - off));
    const std::size_t shift = static_cast<std::size_t>(off / tile) % 2;  // neighbouring tiles differ
    CUDA_OK(x.upload(hx.data() + shift, len, static_cast<std::size_t>(off)));
    CUDA_OK(dy.upload(hdy.data() + shift, len, static_cast<std::size_t>(off)));
  }
  auto host_x = [&](std::int64_t i) { return hx[static_cast<std::size_t>(i % tile) + static_cast<std::size_t>(i / tile) % 2]; };
  auto host_dy = [&](std::int64_t i) { return hdy[static_cast<std::size_t>(i % tile) + static_cast<std::size_t>(i / tile) % 2]; };
  std::vector<std::int64_t> idx = {0, 1, 7, (std::int64_t{1} << 31) - 1, std::int64_t{1} << 31, (std::int64_t{1} << 31) + 1, n - 9, n - 1};
  Rng rng(5);
  for (int k = 0; k < 2000; ++k) idx.push_back(static_cast<std::int64_t>(rng.next() % static_cast<std::uint64_t>(n)));
  for (Dir dir : {Dir::forward, Dir::from_input}) {
    CUDA_OK(out.fill_bytes(0xff));
    if (dir == Dir::forward) actk::forward(Op::gelu, x.get(), out.get(), n);
    else actk::backward(Op::gelu, From::input, x.get(), dy.get(), out.get(), n);
    CUDA_OK(cudaDeviceSynchronize());
    int bad = 0;
    for (std::int64_t i : idx) {
      bfloat16 g, ref, xi = host_x(i), di = host_dy(i);
      CUDA_OK(out.download_to(&g, 1, static_cast<std::size_t>(i)));
      if (dir == Dir::forward) actk::forward(Op::gelu, &xi, &ref, 1);
      else actk::backward(Op::gelu, From::input, &xi, &di, &ref, 1);
      if (ulp_dist(g, ref) > 1 && ++bad < 5)
        ADD_FAILURE() << dir_name(dir) << " i=" << i << " got " << static_cast<double>(g) << " want " << static_cast<double>(ref);
    }
    EXPECT_EQ(bad, 0);
  }
}

TEST(Cuda, PointerKindsAreChecked) {
  SKIP_WITHOUT_GPU();
  std::vector<float> host(16, 1.0f);
  DeviceBuffer<float> dev(16);
  CUDA_OK(dev.status());
  CUDA_OK(dev.fill_bytes(0));  // initcheck: no read of uninitialized memory
  try {
    actk::forward(Op::relu, host.data(), dev.get(), 16);
    ADD_FAILURE() << "mixed pointers accepted";
  } catch (const actk::Error& e) {
    EXPECT_NE(std::string(e.what()).find("mixed host and device"), std::string::npos) << e.what();
  }
  EXPECT_THROW(actk::forward(Op::relu, host.data(), host.data(), 16, {}, Backend::cuda), actk::Error);
  EXPECT_THROW(actk::forward(Op::relu, dev.get(), dev.get(), 16, {}, Backend::cpu), actk::Error);
  EXPECT_NO_THROW(actk::forward(Op::relu, dev.get(), dev.get(), 16));
  CUDA_OK(dev.release());
}

}  // namespace
