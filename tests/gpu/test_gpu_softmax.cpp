// tests/gpu/test_gpu_softmax.cpp: softmax and log-softmax on the CUDA backend against the CPU
// reference: every row-length path (warp groups, warp, block, cluster, two passes) in every dtype,
// aligned and misaligned, a middle axis, poisoned outputs with guard regions, masked/inf/NaN rows,
// log-softmax outputs near 0, and above 2^31 elements. Skips without a usable GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdlib>

#include "gpu_test_util.h"

namespace {

using namespace actk_test;
using actk::Backend;
using actk::DType;

/// GPU vs the CPU reference for one shape, forward and backward, softmax and log-softmax, with
/// the input at element offset `off` (misaligned when off > 0) and poisoned outputs.
template <class S> void softmax_case(std::int64_t outer, std::int64_t axis, std::int64_t inner, std::size_t off) {
  const std::size_t n = static_cast<std::size_t>(outer * axis * inner);
  std::vector<S> x = mixed_data<S>(n, 51), dy = mixed_data<S>(n, 52);
  Rng rng(53);
  for (std::size_t i = 0; i < n; ++i) {  // finite logits, with some -inf masks
    if (!std::isfinite(static_cast<double>(x[i])) || std::fabs(static_cast<double>(x[i])) > 30) x[i] = to<S>(rng.uniform(-12, 12));
    if (i % 97 == 5) x[i] = to<S>(-std::numeric_limits<double>::infinity());
    if (!std::isfinite(static_cast<double>(dy[i])) || std::fabs(static_cast<double>(dy[i])) > 30) dy[i] = to<S>(rng.uniform(-1, 1));
  }
  DeviceBuffer<S> dX = guarded<S>(n + 16), dDY = guarded<S>(n + 16), dOUT = guarded<S>(n + 16);
  CUDA_OK(dX.upload(x, off));
  CUDA_OK(dDY.upload(dy, off));
  const double tol = std::is_same_v<S, double> ? 1e-12 : 1e-5;
  for (unsigned f : {0u, static_cast<unsigned>(actk::softmax_log)}) {
    const DType dt = actk::dtype_of<S>::value;
    std::vector<S> y_ref(n), y(n), dx_ref(n), dx(n);
    actk::softmax_forward(dt, x.data(), y_ref.data(), outer, axis, inner, f, Backend::cpu);
    CUDA_OK(dOUT.fill_bytes(0xFF));  // NaN poison
    const auto before = dOUT.raw();
    actk::softmax_forward(dt, dX.at(off), dOUT.at(off), outer, axis, inner, f);
    CUDA_OK(cudaDeviceSynchronize());
    CUDA_OK(dOUT.download_to(y.data(), n, off));
    const auto after = dOUT.raw();
    const std::size_t lo = dOUT.byte_offset(off), hi = lo + n * sizeof(S);
    for (std::size_t b = 0; b < after.size(); ++b) {
      if (b < lo || b >= hi) {
        ASSERT_EQ(after[b], before[b]) << "softmax wrote outside its output, byte " << b;
      }
    }
    // backward from the GPU's own y (the CPU reference uses the same y)
    actk::softmax_backward(dt, y.data(), dy.data(), dx_ref.data(), outer, axis, inner, f, Backend::cpu);
    CUDA_OK(dX.upload(y, off));  // y in place of x
    CUDA_OK(dOUT.fill_bytes(0xFF));  // poison again
    const auto before_bwd = dOUT.raw();
    actk::softmax_backward(dt, dX.at(off), dDY.at(off), dOUT.at(off), outer, axis, inner, f);
    CUDA_OK(cudaDeviceSynchronize());
    CUDA_OK(dOUT.download_to(dx.data(), n, off));
    const auto after_bwd = dOUT.raw();
    for (std::size_t b = 0; b < after_bwd.size(); ++b) {
      if (b < lo || b >= hi) {
        ASSERT_EQ(after_bwd[b], before_bwd[b]) << "softmax backward wrote outside its output, byte " << b;
      }
    }
    CUDA_OK(dX.upload(x, off));  // restore x
    // Per row (o, i): the sum of the magnitudes of the terms of the backward's reduction, sum |dy|
    // (log) or sum |y dy|. A float sum of a row carries an error relative to that, not to the sum
    // itself, which cancels; dx inherits it times e^y (log) or y. Log-softmax sums dy at masked
    // keys too (y = -inf there; H100, 2026-11-27: a row [-inf, -3.49, -5.06] failed when they were
    // left out); softmax's terms y dy are 0 there.
    std::vector<double> row_abs(static_cast<std::size_t>(outer * inner), 0.0);
    for (std::int64_t o = 0; o < outer; ++o)
      for (std::int64_t a = 0; a < axis; ++a)
        for (std::int64_t in = 0; in < inner; ++in) {
          const std::size_t k = static_cast<std::size_t>((o * axis + a) * inner + in);
          const double g = std::fabs(static_cast<double>(dy[k])), yy = static_cast<double>(y[k]);
          if (f) row_abs[static_cast<std::size_t>(o * inner + in)] += g;
          else if (std::isfinite(yy)) row_abs[static_cast<std::size_t>(o * inner + in)] += std::fabs(yy) * g;
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
  // middle axes cut by axis_split: split across blocks ([1, 32768, 8]; a partial column tile of
  // 33 = 32 + 1), a block per (outer, tile) with no split ([2048, 40, 3]), misaligned
  for (auto [o, a, i] : {std::array<std::int64_t, 3>{1, 32768, 8}, {3, 4096, 33}, {2048, 40, 3}, {5, 777, 64}, {1, 100000, 2}}) {
    softmax_case<S>(o, a, i, 0);
    softmax_case<S>(o, a, i, 1);
  }
}

// The typed suite shares its name with the plain tests below: CudaSoftmax/float32.EveryRowLength
// next to CudaSoftmax.SemanticsMatchTheCpu.
template <class S> class CudaSoftmax : public ::testing::Test {};
TYPED_TEST_SUITE(CudaSoftmax, GpuDtypes, DtypeName);

TYPED_TEST(CudaSoftmax, EveryRowLength) {
  SKIP_WITHOUT_GPU();
  softmax_all_cols<TypeParam>();
}

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
    DeviceBuffer<float> dx_(x.size());
    CUDA_OK(dx_.status());
    DeviceBuffer<float> dy_(x.size());
    CUDA_OK(dy_.status());
    DeviceBuffer<float> dg_(x.size());
    CUDA_OK(dg_.status());
    CUDA_OK(dx_.upload(x));
    const std::vector<float> g(x.size(), 0.25f);
    CUDA_OK(dg_.upload(g));
    for (unsigned f : {0u, 1u, 2u, 3u}) {
      std::vector<float> ref(x.size()), got(x.size()), dref(x.size()), dgot(x.size());
      actk::softmax_forward(DType::float32, x.data(), ref.data(), rows, cols, 1, f, Backend::cpu);
      actk::softmax_forward(DType::float32, dx_.get(), dy_.get(), rows, cols, 1, f);
      CUDA_OK(dy_.download_to(got.data(), x.size()));
      // backward from y, in place over dy (the masked flag's zero gradient included)
      actk::softmax_backward(DType::float32, ref.data(), g.data(), dref.data(), rows, cols, 1, f, Backend::cpu);
      CUDA_OK(dg_.upload(g));
      CUDA_OK(dy_.upload(ref));
      actk::softmax_backward(DType::float32, dy_.get(), dg_.get(), dg_.get(), rows, cols, 1, f);
      CUDA_OK(dg_.download_to(dgot.data(), x.size()));
      for (std::size_t i = 0; i < x.size(); ++i) {
        ASSERT_TRUE((std::isnan(ref[i]) && std::isnan(got[i])) || ref[i] == got[i] || std::fabs(ref[i] - got[i]) < 1e-6f)
            << "flags " << f << " cols " << cols << " i " << i << ": " << got[i] << " vs " << ref[i];
        ASSERT_TRUE((std::isnan(dref[i]) && std::isnan(dgot[i])) || dref[i] == dgot[i] || std::fabs(dref[i] - dgot[i]) < 1e-6f)
            << "backward flags " << f << " cols " << cols << " i " << i << ": " << dgot[i] << " vs " << dref[i];
      }
    }
  }
}

/// The axis path (middle axes, and rows too long for the cluster kernel, split across blocks) on
/// the special rows the other paths are held to: a fully masked row (all -inf), one NaN, one +inf,
/// every flag; forward in place over x, backward in place over dy.
TEST(CudaSoftmax, AxisPathSemanticsMatchTheCpu) {
  SKIP_WITHOUT_GPU();
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (auto [outer, axis, inner] : {std::array<std::int64_t, 3>{2, 5000, 8}, {3, (std::int64_t{1} << 20) + 1, 1}, {40, 300, 33}}) {
    const std::size_t n = static_cast<std::size_t>(outer * axis * inner);
    auto at = [&](std::int64_t o, std::int64_t k, std::int64_t j) { return static_cast<std::size_t>((o * axis + k) * inner + j); };
    Rng rng(5);
    std::vector<float> x(n), g(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>(rng.uniform(-4, 4)), g[i] = static_cast<float>(rng.uniform(-1, 1));
    const std::int64_t j2 = inner > 2 ? 2 : 0;  // inner = 1: the special rows are rows 0, 1, 2
    for (std::int64_t k = 0; k < axis; ++k) x[at(0, k, 0)] = -inf;                   // fully masked
    x[at(inner > 1 ? 0 : 1, axis / 3, inner > 1 ? 1 : 0)] = nan;                      // one NaN
    x[at(inner > 1 ? 1 : 2, axis - 1, j2)] = inf;                                     // one +inf
    DeviceBuffer<float> dX(n), dG(n);
    CUDA_OK(dX.status());
    CUDA_OK(dG.status());
    for (unsigned f : {0u, 1u, 2u, 3u}) {
      std::vector<float> ref(n), got(n), dref(n), dgot(n);
      actk::softmax_forward(DType::float32, x.data(), ref.data(), outer, axis, inner, f, Backend::cpu);
      CUDA_OK(dX.upload(x));
      actk::softmax_forward(DType::float32, dX.get(), dX.get(), outer, axis, inner, f);
      CUDA_OK(dX.download_to(got.data(), n));
      actk::softmax_backward(DType::float32, ref.data(), g.data(), dref.data(), outer, axis, inner, f, Backend::cpu);
      CUDA_OK(dX.upload(ref));
      CUDA_OK(dG.upload(g));
      actk::softmax_backward(DType::float32, dX.get(), dG.get(), dG.get(), outer, axis, inner, f);
      CUDA_OK(dG.download_to(dgot.data(), n));
      int bad = 0;
      for (std::size_t i = 0; i < n && bad < 5; ++i) {
        const bool fwd_ok = (std::isnan(ref[i]) && std::isnan(got[i])) || ref[i] == got[i] ||
                            std::fabs(ref[i] - got[i]) <= 1e-6f + 8e-7f * std::fabs(ref[i]);
        const bool bwd_ok = (std::isnan(dref[i]) && std::isnan(dgot[i])) || dref[i] == dgot[i] ||
                            std::fabs(dref[i] - dgot[i]) <= 1e-6f + 8e-7f * std::fabs(dref[i]);
        if (!fwd_ok || !bwd_ok)
          ADD_FAILURE() << "[" << outer << "," << axis << "," << inner << "] flags " << f << " i " << i << ": y " << got[i] << " vs "
                        << ref[i] << ", dx " << dgot[i] << " vs " << dref[i], ++bad;
      }
    }
  }
}

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
    DeviceBuffer<S> dX = guarded<S>(n), dY = guarded<S>(n);
    CUDA_OK(dX.upload(x));
    actk::softmax_forward(dt, dX.get(), dY.get(), rows, cols, 1, actk::softmax_log);
    CUDA_OK(dY.download_to(got.data(), n));
    for (std::size_t i = 0; i < n; ++i) {
      const double r = static_cast<double>(ref[i]), g = static_cast<double>(got[i]);
      if constexpr (sizeof(S) == 2) ASSERT_LE(ulp_dist(got[i], ref[i]), 1) << "cols " << cols << " i " << i << ": " << g << " vs " << r;
      else ASSERT_LE(std::fabs(g - r), (sizeof(S) == 8 ? 1e-12 : 1e-5) * std::fabs(r)) << "cols " << cols << " i " << i << ": " << g << " vs " << r;
    }
  }
}

TYPED_TEST(CudaSoftmax, LogSoftmaxNearZero) {
  SKIP_WITHOUT_GPU();
  log_softmax_near_zero<TypeParam>();
}

TEST(CudaSoftmax, MoreThan2To31Elements) {
  SKIP_WITHOUT_GPU();
  if (std::getenv("ACTK_SKIP_HUGE")) GTEST_SKIP() << "ACTK_SKIP_HUGE is set";
  const std::int64_t cols = 1024, rows = (std::int64_t{1} << 21) + 3, n = rows * cols;
  std::size_t free_b = 0, total_b = 0;
  CUDA_OK(cudaMemGetInfo(&free_b, &total_b));
  if (free_b < static_cast<std::size_t>(n) * 4 + (std::size_t{1} << 30)) GTEST_SKIP() << "not enough device memory";
  const std::vector<bfloat16> tile = mixed_data<bfloat16>(cols * 64, 61);
  std::vector<bfloat16> clean(tile.size());
  for (std::size_t i = 0; i < tile.size(); ++i)
    clean[i] = std::isfinite(static_cast<double>(tile[i])) && std::fabs(static_cast<double>(tile[i])) < 30 ? tile[i] : to<bfloat16>(0.25);
  DeviceBuffer<bfloat16> x(static_cast<std::size_t>(n));
  CUDA_OK(x.status());
  DeviceBuffer<bfloat16> y(static_cast<std::size_t>(n));
  CUDA_OK(y.status());
  for (std::int64_t r = 0; r < rows; r += 64)
    CUDA_OK(x.upload(clean.data(), static_cast<std::size_t>(std::min<std::int64_t>(64, rows - r) * cols), static_cast<std::size_t>(r * cols)));
  actk::softmax_forward(DType::bfloat16, x.get(), y.get(), rows, cols);
  CUDA_OK(cudaDeviceSynchronize());
  for (std::int64_t r : {std::int64_t{0}, std::int64_t{1} << 21, rows - 1}) {
    std::vector<bfloat16> got(cols), ref(cols);
    CUDA_OK(y.download_to(got.data(), static_cast<std::size_t>(cols), static_cast<std::size_t>(r * cols)));
    actk::softmax_forward(DType::bfloat16, clean.data() + (r % 64) * cols, ref.data(), 1, cols, 1, 0, Backend::cpu);
    for (std::int64_t c = 0; c < cols; ++c) ASSERT_LE(ulp_dist(got[c], ref[c]), 1) << "row " << r << " col " << c;
  }
}

}  // namespace
