// tests/gpu/test_gpu_prelu.cpp: PReLU on the CUDA backend against the CPU reference, forward and
// backward, shapes and dtypes (vectorized and scalar kernels), and a bitwise-reproducible dalpha
// (twice, and once through a caller-provided workspace). Skips without a usable GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstring>

#include "gpu_test_util.h"

namespace {

using namespace actk_test;
using actk::Backend;
using actk::DType;

// PReLU on the GPU against the CPU for a shape/dtype, forward and backward, dalpha twice (same
// bits) and once through the advertised workspace. `off` > 0 shifts x, dy and the output by that
// many elements off their 16-byte alignment (the scalar kernel; 0: the vectorized one).
template <class S> void prelu_case(std::int64_t outer, std::int64_t C, std::int64_t inner, std::int64_t off = 0) {
  const std::int64_t n = outer * C * inner;
  const std::int64_t cnt = n > 0 ? n : 1;
  const std::size_t ucnt = static_cast<std::size_t>(cnt), uC = static_cast<std::size_t>(C);
  std::vector<S> x = mixed_data<S>(ucnt, 41), dy = mixed_data<S>(ucnt, 42), alpha(C);
  for (auto* v : {&x, &dy})
    for (S& e : *v)
      if (!std::isfinite(static_cast<double>(e)) || std::fabs(static_cast<double>(e)) > 1e3) e = to<S>(0.5);
  for (std::int64_t c = 0; c < C; ++c) alpha[c] = to<S>(0.05 * static_cast<double>(c % 9) - 0.2);
  std::vector<S> y_ref(cnt), dx_ref(cnt), da_ref(C), y(cnt), dx(cnt), da1(C), da2(C);
  actk::prelu_forward(actk::dtype_of<S>::value, x.data(), alpha.data(), y_ref.data(), n, C, inner, Backend::cpu);
  actk::prelu_backward(actk::dtype_of<S>::value, x.data(), dy.data(), alpha.data(), dx_ref.data(), da_ref.data(), n, C, inner,
                       Backend::cpu);
  DeviceBuffer<S> dX(ucnt, static_cast<std::size_t>(off)), dDY(ucnt, static_cast<std::size_t>(off)),
      dOUT(ucnt, static_cast<std::size_t>(off));
  for (const DeviceBuffer<S>* p : {&dX, &dDY, &dOUT}) CUDA_OK(p->status());
  DeviceBuffer<S> dA(uC), dDA(uC);
  for (const DeviceBuffer<S>* p : {&dA, &dDA}) CUDA_OK(p->status());
  for (DeviceBuffer<S>* p : {&dX, &dDY, &dOUT, &dA, &dDA}) CUDA_OK(p->fill_bytes(0));  // n = 0 copies back one element
  CUDA_OK(dX.upload(x));
  CUDA_OK(dDY.upload(dy));
  CUDA_OK(dA.upload(alpha));
  const DType dt = actk::dtype_of<S>::value;
  actk::prelu_forward(dt, dX.get(), dA.get(), dOUT.get(), n, C, inner);
  CUDA_OK(dOUT.download_to(y.data(), ucnt));
  actk::prelu_backward(dt, dX.get(), dDY.get(), dA.get(), dOUT.get(), dDA.get(), n, C, inner);
  CUDA_OK(dOUT.download_to(dx.data(), ucnt));
  CUDA_OK(dDA.download_to(da1.data(), uC));
  const std::size_t ws_bytes = actk::prelu_backward_workspace_bytes(dt, n, C, inner);
  DeviceBuffer<unsigned char> ws(ws_bytes);
  CUDA_OK(ws.status());
  EXPECT_THROW(actk::prelu_backward(dt, dX.get(), dDY.get(), dA.get(), dOUT.get(), dDA.get(), n, C, inner, Backend::cuda, nullptr,
                                    ws.get(), ws_bytes - 1),
               actk::Error);
  actk::prelu_backward(dt, dX.get(), dDY.get(), dA.get(), dOUT.get(), dDA.get(), n, C, inner, Backend::cuda, nullptr, ws.get(),
                       ws_bytes);
  CUDA_OK(dDA.download_to(da2.data(), uC));
  CUDA_OK(ws.release());
  for (std::int64_t i = 0; i < n; ++i) {
    ASSERT_LE(ulps(y[i], y_ref[i]), 1.0) << "y " << i;
    ASSERT_LE(ulps(dx[i], dx_ref[i]), 1.0) << "dx " << i;
  }
  EXPECT_EQ(std::memcmp(da1.data(), da2.data(), C * sizeof(S)), 0) << "dalpha differs between two runs";
  for (std::int64_t c = 0; c < C; ++c)  // sums in double in another order: equal after rounding, or 1 ulp at a tie
    EXPECT_LE(ulps(da1[c], da_ref[c]), 1.0) << "dalpha[" << c << "] " << static_cast<double>(da1[c]) << " vs "
                                            << static_cast<double>(da_ref[c]);
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
  prelu_case<bfloat16>(70000, 64, 1); // channels last, dalpha over many row chunks (coalesced column tiles)
  prelu_case<float>(5000, 300, 1);    // channels last, 300 channels: two column tiles, one row lane each
  prelu_case<double>(3001, 7, 1);     // channels last, 7 channels: 32 row lanes per column
  prelu_case<bfloat16>(9, 5, 3);      // vectors of 8 across several channels; a 7-element tail
  prelu_case<float>(7, 3, 5, 1);      // misaligned pointers: the scalar kernel
  prelu_case<float16>(5, 64, 1, 3);
}

TEST(Cuda, PreluMatchesTheCpuAndDalphaIsReproducible) {
  SKIP_WITHOUT_GPU();
  const std::int64_t C = 5, inner = 333, outer = 7, n = C * inner * outer;
  const std::size_t un = static_cast<std::size_t>(n), uC = static_cast<std::size_t>(C);
  std::vector<float> x = mixed_data<float>(un, 1), dy = mixed_data<float>(un, 2), alpha = {0.1f, -0.2f, 0.3f, 2.0f, 0.0f};
  for (auto* v : {&x, &dy})
    for (float& e : *v)
      if (!std::isfinite(e) || std::fabs(e) > 1e3f) e = 0.5f;
  std::vector<float> dx_ref(n), da_ref(C), dx(n), da1(C), da2(C);
  actk::prelu_backward(DType::float32, x.data(), dy.data(), alpha.data(), dx_ref.data(), da_ref.data(), n, C, inner,
                       Backend::cpu);
  DeviceBuffer<float> dX(un), dDY(un), dDX(un);
  for (const DeviceBuffer<float>* p : {&dX, &dDY, &dDX}) CUDA_OK(p->status());
  DeviceBuffer<float> dA(uC), dDA(uC);
  for (const DeviceBuffer<float>* p : {&dA, &dDA}) CUDA_OK(p->status());
  CUDA_OK(dX.upload(x));
  CUDA_OK(dDY.upload(dy));
  CUDA_OK(dA.upload(alpha));
  actk::prelu_backward(DType::float32, dX.get(), dDY.get(), dA.get(), dDX.get(), dDA.get(), n, C, inner);
  CUDA_OK(dDX.download_to(dx.data(), un));
  CUDA_OK(dDA.download_to(da1.data(), uC));
  // again with a caller-provided workspace (the first call took it from the stream-ordered pool)
  const std::size_t ws_bytes = actk::prelu_backward_workspace_bytes(DType::float32, n, C, inner);
  DeviceBuffer<unsigned char> ws(ws_bytes);
  CUDA_OK(ws.status());
  EXPECT_THROW(actk::prelu_backward(DType::float32, dX.get(), dDY.get(), dA.get(), dDX.get(), dDA.get(), n, C, inner, Backend::cuda,
                                    nullptr, ws.get(), ws_bytes - 1),
               actk::Error);
  actk::prelu_backward(DType::float32, dX.get(), dDY.get(), dA.get(), dDX.get(), dDA.get(), n, C, inner, Backend::cuda, nullptr,
                       ws.get(), ws_bytes);
  CUDA_OK(dDA.download_to(da2.data(), uC));
  CUDA_OK(ws.release());
  EXPECT_EQ(dx, dx_ref);
  EXPECT_EQ(std::memcmp(da1.data(), da2.data(), C * 4), 0) << "dalpha differs between two runs";
  for (std::int64_t c = 0; c < C; ++c) EXPECT_NEAR(da1[c], da_ref[c], 1e-5 * (1 + std::fabs(da_ref[c]))) << c;
}

}  // namespace
