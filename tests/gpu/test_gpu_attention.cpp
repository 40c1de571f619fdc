// tests/gpu/test_gpu_attention.cpp: attention-style softmax on the CUDA backend against the CPU
// reference: every dtype, row lengths 1..16384 (every team size; vector and scalar kernels),
// no mask / additive mask broadcast over batch / keep mask broadcast over heads and queries /
// causal top-left and bottom-right, aligned and misaligned, in place, guard bytes around the
// output, many rows per grid-stride step, and the backward equal bit for bit to the GPU softmax
// backward scaled by the blend. Skips without a usable GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstring>

#include "gpu_test_util.h"

namespace {

using namespace actk_test;
using actk::AttentionSoftmaxOptions;
using actk::Backend;
using actk::DType;
using actk::MaskType;

struct AttnCase {
  std::int64_t B, H, Q, K;
  MaskType mask;
  bool causal;
  std::int64_t offset;
  std::size_t off;  // element offset of x, y and the mask (misaligned when > 0)
};

template <class S> void attention_case(const AttnCase& c, unsigned flags) {
  const DType dt = actk::dtype_of<S>::value;
  const std::size_t n = static_cast<std::size_t>(c.B * c.H * c.Q * c.K);
  Rng rng(61);
  std::vector<S> x(n), dy(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = to<S>(rng.uniform(-12, 12)), dy[i] = to<S>(rng.uniform(-1, 1));
  AttentionSoftmaxOptions o;
  o.scale = 0.3;
  o.mask_type = c.mask;
  o.causal = c.causal, o.causal_offset = c.offset;
  o.flags = flags | actk::softmax_masked_rows_zero;
  std::size_t mcount = 0;
  if (c.mask == MaskType::additive) o.mask_batch = 1, mcount = static_cast<std::size_t>(c.H * c.Q * c.K);
  if (c.mask == MaskType::keep) o.mask_heads = 1, o.mask_q = 1, mcount = static_cast<std::size_t>(c.B * c.K);
  std::vector<S> add(c.mask == MaskType::additive ? mcount : 0);
  for (std::size_t i = 0; i < add.size(); ++i) add[i] = to<S>(i % 13 == 4 ? -std::numeric_limits<double>::infinity() : rng.uniform(-3, 3));
  std::vector<unsigned char> keep(c.mask == MaskType::keep ? mcount : 0);
  for (std::size_t i = 0; i < keep.size(); ++i) keep[i] = (i * 5 + 1) % 7 != 0;
  // the reference
  std::vector<S> y_ref(n), y(n);
  o.mask = c.mask == MaskType::additive ? static_cast<const void*>(add.data()) : c.mask == MaskType::keep ? keep.data() : nullptr;
  actk::attention_softmax_forward(dt, x.data(), y_ref.data(), c.B, c.H, c.Q, c.K, o, Backend::cpu);
  // the GPU, poisoned output inside guard regions
  DeviceBuffer<S> dX = guarded<S>(n + 16), dY = guarded<S>(n + 16), dM = guarded<S>(add.size() + 16);
  DeviceBuffer<unsigned char> dK = guarded<unsigned char>(keep.size() + 16);
  CUDA_OK(dX.upload(x, c.off));
  if (!add.empty()) {
    CUDA_OK(dM.upload(add, c.off));
  }
  if (!keep.empty()) {
    CUDA_OK(dK.upload(keep, c.off));
  }
  o.mask = c.mask == MaskType::additive ? static_cast<const void*>(dM.at(c.off)) : c.mask == MaskType::keep ? dK.at(c.off) : nullptr;
  CUDA_OK(dY.fill_bytes(0xFF));
  const auto before = dY.raw();
  actk::attention_softmax_forward(dt, dX.at(c.off), dY.at(c.off), c.B, c.H, c.Q, c.K, o);
  CUDA_OK(cudaDeviceSynchronize());
  CUDA_OK(dY.download_to(y.data(), n, c.off));
  const auto after = dY.raw();
  const std::size_t lo = dY.byte_offset(c.off), hi = lo + n * sizeof(S);
  for (std::size_t b = 0; b < after.size(); ++b) {
    if (b < lo || b >= hi) {
      ASSERT_EQ(after[b], before[b]) << "attention softmax wrote outside its output, byte " << b;
    }
  }
  // z is formed in float on the GPU (|z| <= 0.3 * 12 + 3 here): float32 within 2e-5 relative (log:
  // 1e-5 absolute more), 16-bit within 1 ulp of the rounded reference, float64 1e-12
  const double tol = std::is_same_v<S, double> ? 1e-12 : 2e-5;
  int bad = 0;
  for (std::size_t i = 0; i < n && bad < 5; ++i) {
    const double yr = static_cast<double>(y_ref[i]), yg = static_cast<double>(y[i]);
    const bool ok = std::isnan(yr) ? std::isnan(yg)
                    : std::isinf(yr) ? yg == yr
                    : sizeof(S) == 2 ? ulp_dist(y[i], y_ref[i]) <= 1
                                     : std::fabs(yg - yr) <= tol * std::fabs(yr) + (flags ? tol / 2 : 1e-300);
    if (!ok)
      ADD_FAILURE() << actk::dtype_name(dt) << " [" << c.B << "," << c.H << "," << c.Q << "," << c.K << "] mask "
                    << int(c.mask) << " causal " << c.causal << "/" << c.offset << " off " << c.off << " flags " << flags
                    << " i=" << i << ": " << yg << " vs " << yr,
          ++bad;
  }
  // in place gives the same bits
  DeviceBuffer<S> dIn = guarded<S>(n + 16);
  CUDA_OK(dIn.upload(x, c.off));
  actk::attention_softmax_forward(dt, dIn.at(c.off), dIn.at(c.off), c.B, c.H, c.Q, c.K, o);
  CUDA_OK(cudaDeviceSynchronize());
  std::vector<S> y_in(n);
  CUDA_OK(dIn.download_to(y_in.data(), n, c.off));
  ASSERT_EQ(0, std::memcmp(y.data(), y_in.data(), n * sizeof(S))) << "in place differs";
  // the backward is the softmax backward scaled: the same kernels, the same bits
  DeviceBuffer<S> dDY = guarded<S>(n + 16), dA = guarded<S>(n + 16), dB = guarded<S>(n + 16);
  CUDA_OK(dDY.upload(dy, c.off));
  const std::int64_t rows = c.B * c.H * c.Q;
  actk::attention_softmax_backward(dt, dY.at(c.off), dDY.at(c.off), dA.at(c.off), c.B, c.H, c.Q, c.K, o.scale, o.flags);
  actk::softmax_backward(dt, dY.at(c.off), dDY.at(c.off), dB.at(c.off), rows, c.K, 1, o.flags, Backend::automatic, nullptr,
                         actk::Blend{o.scale, 0.0});
  CUDA_OK(cudaDeviceSynchronize());
  std::vector<S> ga(n), gb(n);
  CUDA_OK(dA.download_to(ga.data(), n, c.off));
  CUDA_OK(dB.download_to(gb.data(), n, c.off));
  ASSERT_EQ(0, std::memcmp(ga.data(), gb.data(), n * sizeof(S))) << "backward differs from the scaled softmax backward";
}

template <class S> class CudaAttention : public ::testing::Test {};
TYPED_TEST_SUITE(CudaAttention, GpuDtypes, DtypeName);

TYPED_TEST(CudaAttention, MatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  for (std::int64_t K : {1, 7, 32, 100, 128, 1000, 1024, 2048, 4096, 8192, 16384}) {
    const std::int64_t Q = K >= 8192 ? 3 : 5;
    for (unsigned flags : {0u, unsigned(actk::softmax_log)}) {
      attention_case<TypeParam>({2, 3, Q, K, MaskType::none, false, 0, 0}, flags);
      attention_case<TypeParam>({2, 3, Q, K, MaskType::additive, true, 0, 0}, flags);
      attention_case<TypeParam>({2, 3, Q, K, MaskType::keep, true, K - Q, 0}, flags);
      attention_case<TypeParam>({2, 3, Q, K, MaskType::additive, false, 0, 1}, flags);  // misaligned: the scalar kernel
      attention_case<TypeParam>({2, 3, Q, K, MaskType::keep, true, -2, 3}, flags);      // rows 0, 1 fully masked
    }
  }
  attention_case<TypeParam>({7, 1, 10001, 32, MaskType::keep, true, 0, 0}, 0);  // many rows per block, grid-stride steps
}

}  // namespace
