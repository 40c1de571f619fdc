// tests/gpu/test_gpu_cross_entropy.cpp: cross-entropy on the GPU against the CPU reference, every
// dtype, vocab 1 .. 262,144, every reduction, weights, label smoothing, z-loss, the soft cap,
// ignore_index, int32 and int64 targets; the backward from the forward's lse and recomputed, in
// place over the logits and not; reproducible bits; out-of-range targets give NaN without a read
// outside the buffers.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "gpu_test_util.h"

namespace {

using namespace actk_test;
using actk::Backend;
using actk::CrossEntropyOptions;
using actk::DType;
using actk::IndexType;
using actk::Reduction;

/// got within the compute type's accumulation error of ref: relative to the value, plus an
/// absolute part relative to `scale` (the row's largest gradient: p_t - 1 cancels there).
template <class S> bool ce_close(S got, S ref, double scale) {
  const double g = static_cast<double>(got), r = static_cast<double>(ref);
  if (std::isnan(r) || std::isnan(g)) return std::isnan(r) && std::isnan(g);
  if (g == r) return true;
  const double rel = std::is_same_v<S, double> ? 1e-12 : std::is_same_v<S, float> ? 3e-5 : 0x1p-7;
  const double abs = std::is_same_v<S, double> ? 1e-13 : std::is_same_v<S, float> ? 3e-6 : 0x1p-9;
  if (std::fabs(g - r) <= rel * std::fabs(r) + abs * scale) return true;
  if constexpr (sizeof(S) == 2) return ulp_dist(got, ref) <= 2;
  return false;
}

template <class S>
void ce_case(std::int64_t rows, std::int64_t V, const CrossEntropyOptions& base, bool with_weights, bool t64, std::uint64_t seed) {
  const DType dt = actk::dtype_of<S>::value;
  const std::size_t n = static_cast<std::size_t>(rows * V), ur = static_cast<std::size_t>(rows);
  std::vector<S> x(n), w(static_cast<std::size_t>(V));
  Rng rng(seed);
  for (auto& v : x) v = to<S>(rng.uniform(-8, 8));
  for (auto& v : w) v = to<S>(rng.uniform(0.25, 2));
  std::vector<std::int64_t> t(ur);
  for (std::size_t i = 0; i < ur; ++i) t[i] = static_cast<std::int64_t>(rng.next() % static_cast<std::uint64_t>(V));
  if (rows > 1) t[1] = base.ignore_index;
  const std::vector<std::int32_t> t32(t.begin(), t.end());
  const void* th = t64 ? static_cast<const void*>(t.data()) : static_cast<const void*>(t32.data());
  const IndexType tt = t64 ? IndexType::int64 : IndexType::int32;
  CrossEntropyOptions o = base;
  o.weight = with_weights ? w.data() : nullptr;
  const std::size_t nl = o.reduction == Reduction::none ? ur : 1;
  std::vector<S> loss_ref(nl), g_ref(n), dl(nl);
  for (auto& v : dl) v = to<S>(rng.uniform(0.5, 1.5));
  actk::cross_entropy_forward(dt, x.data(), tt, th, loss_ref.data(), nullptr, rows, V, o, Backend::cpu);
  actk::cross_entropy_backward(dt, x.data(), tt, th, dl.data(), nullptr, g_ref.data(), rows, V, o, Backend::cpu);

  DeviceBuffer<S> dX = device_copy(x), dW = device_copy(w), dLoss = guarded<S>(nl), dDL = device_copy(dl), dG = guarded<S>(n);
  DeviceBuffer<std::int64_t> dT64 = device_copy(t);
  DeviceBuffer<std::int32_t> dT32 = device_copy(t32);
  DeviceBuffer<float> dLse = guarded<float>(ur);
  const void* td = t64 ? static_cast<const void*>(dT64.get()) : static_cast<const void*>(dT32.get());
  CrossEntropyOptions od = o;
  od.weight = with_weights ? dW.get() : nullptr;
  actk::cross_entropy_forward(dt, dX.get(), tt, td, dLoss.get(), dLse.get(), rows, V, od);
  actk::cross_entropy_backward(dt, dX.get(), tt, td, dDL.get(), dLse.get(), dG.get(), rows, V, od);
  const auto loss = dLoss.download(nl), g = dG.download(n);
  const char* what = actk::dtype_name(dt);
  for (std::size_t i = 0; i < nl; ++i)
    EXPECT_TRUE(ce_close(loss[i], loss_ref[i], 1.0)) << what << " [" << rows << "," << V << "] loss " << i << ": "
                                                     << static_cast<double>(loss[i]) << " vs " << static_cast<double>(loss_ref[i]);
  int bad = 0;
  for (std::int64_t r = 0; r < rows && bad < 5; ++r) {
    double scale = 0;
    for (std::int64_t j = 0; j < V; ++j) scale = std::max(scale, std::fabs(static_cast<double>(g_ref[r * V + j])));
    for (std::int64_t j = 0; j < V && bad < 5; ++j) {
      const std::size_t k = static_cast<std::size_t>(r * V + j);
      if (!ce_close(g[k], g_ref[k], scale))
        ADD_FAILURE() << what << " [" << rows << "," << V << "] dlogits (" << r << "," << j << "): " << static_cast<double>(g[k])
                      << " vs " << static_cast<double>(g_ref[k]), ++bad;
    }
  }
  // nothing written outside the outputs
  for (const auto* raw : {&dLoss, &dG}) {
    const auto bytes = raw->raw();
    const std::size_t lo = raw->byte_offset(0), hi = raw->byte_offset(raw->size());
    for (std::size_t b = 0; b < bytes.size(); ++b)
      if (b < lo || b >= hi) {
        ASSERT_EQ(bytes[b], 0xA5) << what << ": a write outside an output, byte " << b;
      }
  }
  {
    const auto bytes = dLse.raw();
    const std::size_t lo = dLse.byte_offset(0), hi = dLse.byte_offset(dLse.size());
    for (std::size_t b = 0; b < bytes.size(); ++b)
      if (b < lo || b >= hi) {
        ASSERT_EQ(bytes[b], 0xA5) << what << ": a write outside lse, byte " << b;
      }
  }
  // the backward without lse (recomputed), in place over the logits: the same values; run twice: the same bits
  actk::cross_entropy_backward(dt, dX.get(), tt, td, dDL.get(), nullptr, dX.get(), rows, V, od);
  const auto g2 = dX.download(n);
  for (std::size_t k = 0; k < n && bad < 5; ++k)
    if (!ce_close(g2[k], g_ref[k], 1.0)) ADD_FAILURE() << what << " in place, recomputed lse, " << k, ++bad;
  actk::cross_entropy_forward(dt, dX.get(), tt, td, dLoss.get(), nullptr, rows, V, od);  // dX holds gradients now: any data
  const auto l1 = dLoss.download(nl);
  actk::cross_entropy_forward(dt, dX.get(), tt, td, dLoss.get(), nullptr, rows, V, od);
  const auto l2 = dLoss.download(nl);
  EXPECT_EQ(std::memcmp(l1.data(), l2.data(), nl * sizeof(S)), 0) << what << ": the loss differs between runs";
}

template <class S> class CudaCrossEntropy : public ::testing::Test {};
TYPED_TEST_SUITE(CudaCrossEntropy, GpuDtypes, DtypeName);

TYPED_TEST(CudaCrossEntropy, MatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  CrossEntropyOptions mean;
  CrossEntropyOptions all;
  all.reduction = Reduction::none;
  all.label_smoothing = 0.1;
  all.z_loss = 1e-4;
  all.softcap = 30.0;
  all.ignore_index = 3;  // a valid class index used as the ignore value
  CrossEntropyOptions sum;
  sum.reduction = Reduction::sum;
  sum.label_smoothing = 0.2;
  for (std::int64_t V : {1, 2, 31, 1000, 32000, 128256, 262144}) {
    const std::int64_t rows = std::max<std::int64_t>(1, std::min<std::int64_t>(6, (std::int64_t{1} << 21) / V));
    ce_case<TypeParam>(rows, V, mean, false, true, 1);
    ce_case<TypeParam>(rows, V, all, true, false, 2);
    ce_case<TypeParam>(rows, V, sum, true, true, 3);
  }
  ce_case<TypeParam>(5000, 31, mean, true, false, 4);  // many rows per block (grid-stride), the mean over 5000
}

// Small, every option, many rows per block (the grid-stride reuse of shared memory): the case the
// sanitizers run (tools/gpu-check).
TEST(CudaCrossEntropy, SmallWithEveryOption) {
  SKIP_WITHOUT_GPU();
  CrossEntropyOptions all;
  all.reduction = Reduction::sum;
  all.label_smoothing = 0.1;
  all.z_loss = 1e-3;
  all.softcap = 5.0;
  ce_case<float>(700, 33, all, true, false, 6);
  all.reduction = Reduction::none;
  all.label_smoothing = 0;
  ce_case<float>(300, 33, all, true, true, 7);  // weights without smoothing: W is not computed
  ce_case<bfloat16>(300, 1000, CrossEntropyOptions{}, true, true, 8);
}

// A target outside [0, vocab) (not ignore_index): the GPU cannot refuse it without synchronizing;
// that row's loss and gradient are NaN (and so the mean), and nothing outside the logits is read.
TEST(CudaCrossEntropy, OutOfRangeTargetsGiveNaN) {
  SKIP_WITHOUT_GPU();
  const std::int64_t rows = 3, V = 8;
  std::vector<float> x(static_cast<std::size_t>(rows * V), 0.5f);
  const std::vector<std::int64_t> t = {2, 1000000, -7};
  DeviceBuffer<float> dX = device_copy(x), dLoss(rows), dG(x.size());
  DeviceBuffer<std::int64_t> dT = device_copy(t);
  const std::vector<float> dl(rows, 1.0f);
  DeviceBuffer<float> dDL = device_copy(dl);
  CrossEntropyOptions o;
  o.reduction = Reduction::none;
  actk::cross_entropy_forward(DType::float32, dX.get(), IndexType::int64, dT.get(), dLoss.get(), nullptr, rows, V, o);
  actk::cross_entropy_backward(DType::float32, dX.get(), IndexType::int64, dT.get(), dDL.get(), nullptr, dG.get(), rows, V, o);
  const auto loss = dLoss.download(rows), g = dG.download(x.size());
  EXPECT_NEAR(loss[0], std::log(8.0), 1e-6);
  EXPECT_TRUE(std::isnan(loss[1]) && std::isnan(loss[2]));
  for (std::int64_t j = 0; j < V; ++j) {
    EXPECT_FALSE(std::isnan(g[j]));
    EXPECT_TRUE(std::isnan(g[V + j]) && std::isnan(g[2 * V + j]));
  }
  o.reduction = Reduction::mean;
  actk::cross_entropy_forward(DType::float32, dX.get(), IndexType::int64, dT.get(), dLoss.get(), nullptr, rows, V, o);
  EXPECT_TRUE(std::isnan(dLoss.download(1)[0]));
  CUDA_OK(cudaDeviceSynchronize());
}

}  // namespace
