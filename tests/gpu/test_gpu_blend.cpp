// tests/gpu/test_gpu_blend.cpp: output blending (y = alpha f(x) + beta y) on the CUDA backend
// against the CPU: the element-wise forward and backward (vectorized and scalar paths) and every
// softmax path, forward and backward. Skips without a usable GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include "gpu_test_util.h"

namespace {

using namespace actk_test;
using actk::Backend;
using actk::DType;
using actk::From;

// Output blending on the GPU (vectorized and scalar element-wise paths, every softmax path).
TEST(CudaBlend, ActivationsAndSoftmaxMatchTheCpu) {
  SKIP_WITHOUT_GPU();
  const actk::Blend bl{0.5, -2.0};
  for (std::size_t off : {std::size_t{0}, std::size_t{1}}) {
    const std::size_t n = 10007;
    const std::vector<float> x = finite_data<float>(n + off, 81), y0 = finite_data<float>(n + off, 82);
    std::vector<float> ref(y0.begin() + off, y0.end());
    actk::forward(Op::gelu, x.data(), ref.data(), static_cast<std::int64_t>(n), {}, Backend::cpu, nullptr, bl);
    DeviceBuffer<float> dX = device_copy(x), dY = device_copy(y0);
    actk::forward(Op::gelu, dX.get(), dY.at(off), static_cast<std::int64_t>(n), {}, Backend::cuda, nullptr, bl);  // x aligned, y not when off = 1
    const auto got = dY.download(n + off);
    for (std::size_t i = 0; i < n; ++i) ASSERT_TRUE(close_enough(got[i + off], ref[i], 8)) << "gelu blend i=" << i << " off " << off;
    // backward blended (the gradient-accumulation form): the old dx is read with x and dy
    const std::vector<float> g = finite_data<float>(n + off, 86);
    std::vector<float> dref(y0.begin() + off, y0.end());
    actk::backward(Op::gelu, From::input, x.data(), g.data(), dref.data(), static_cast<std::int64_t>(n), {}, Backend::cpu, nullptr, bl);
    DeviceBuffer<float> dG = device_copy(g);
    CUDA_OK(dY.upload(y0));
    actk::backward(Op::gelu, From::input, dX.get(), dG.get(), dY.at(off), static_cast<std::int64_t>(n), {}, Backend::cuda, nullptr, bl);
    const auto dgot = dY.download(n + off);
    for (std::size_t i = 0; i < n; ++i) ASSERT_TRUE(close_enough(dgot[i + off], dref[i], 8)) << "gelu backward blend i=" << i << " off " << off;
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
      DeviceBuffer<float> dX = device_copy(x), dYin = device_copy(y), dY = device_copy(y0), dG = device_copy(g), dD = device_copy(y0);
      actk::softmax_forward(DType::float32, dX.get(), dY.get(), rows, cols, inner, 0, Backend::cuda, nullptr, bl);
      actk::softmax_backward(DType::float32, dYin.get(), dG.get(), dD.get(), rows, cols, inner, 0, Backend::cuda, nullptr, bl);
      const auto got = dY.download(n), dgot = dD.download(n);
      for (std::int64_t i = 0; i < n; ++i) {
        ASSERT_NEAR(got[i], ref[i], 1e-5 * (1 + std::fabs(ref[i]))) << "softmax blend cols " << cols << " inner " << inner;
        ASSERT_NEAR(dgot[i], dref[i], 1e-4 * (1 + std::fabs(dref[i]))) << "softmax backward blend cols " << cols;
      }
    }
}

}  // namespace
