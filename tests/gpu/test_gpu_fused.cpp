// tests/gpu/test_gpu_fused.cpp: the fused ops on the CUDA backend against the CPU reference:
// bias + activation (forward with pre, backward with dbias, blended; dbias bitwise reproducible),
// gated (concatenated layout, forward blended, backward in place and blended), and the vectorized
// kernels against the scalar ones, bit for bit. Skips without a usable GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstring>

#include "gpu_test_util.h"

namespace {

using namespace actk_test;
using actk::Backend;
using actk::DType;

/// Every fused op on the GPU against the CPU reference for one shape, every device input `off`
/// elements past a 16-byte boundary and every output `out_off` (default: off). Bias + act: inputs
/// and outputs at one offset take the vectorized kernel (a scalar head and tail when off != 0;
/// the bias a vector when off = 0 and cols is a multiple of the width, else per element); different
/// offsets take the scalar kernel. Gated: off = 0 and cols a multiple of the width vectorize.
/// Returns what the GPU wrote (y, dx, dbias, pre, gated y, gated grads), to compare paths.
template <class S>
std::vector<std::vector<S>> fused_case(Op op, std::int64_t rows, std::int64_t cols, std::size_t off = 0, std::size_t out_off = ~std::size_t{0}) {
  if (out_off == ~std::size_t{0}) out_off = off;
  const std::int64_t n = rows * cols;
  const std::size_t un = static_cast<std::size_t>(n), ucols = static_cast<std::size_t>(cols);
  const DType dt = actk::dtype_of<S>::value;
  const auto x = finite_data<S>(un, 71), b = finite_data<S>(ucols, 72), dy = finite_data<S>(un, 73), y0 = finite_data<S>(un, 74);
  const double bound = std::is_same_v<S, double> ? 1 : (sizeof(S) == 2 ? 1 : 8);
  const actk::Blend blend{0.5, 1.0};
  // bias + activation, blended into y0
  std::vector<S> y_ref = y0, dx_ref = y0, db_ref(cols), pre_ref(n);
  actk::bias_act_forward(op, dt, x.data(), b.data(), y_ref.data(), rows, cols, {}, pre_ref.data(), Backend::cpu, nullptr, blend);
  actk::bias_act_backward(op, dt, x.data(), b.data(), dy.data(), dx_ref.data(), db_ref.data(), rows, cols, {}, Backend::cpu, nullptr,
                          blend);
  DeviceBuffer<S> dX = device_copy(x, off), dB = device_copy(b, off), dDY = device_copy(dy, off), dY = device_copy(y0, out_off),
                  dDX = device_copy(y0, out_off), dDB = device_copy(finite_data<S>(ucols, 76), out_off),
                  dPRE = device_copy(finite_data<S>(un, 77), out_off);  // poisoned: must be written
  actk::bias_act_forward(op, dt, dX.get(), dB.get(), dY.get(), rows, cols, {}, dPRE.get(), Backend::automatic, nullptr, blend);
  actk::bias_act_backward(op, dt, dX.get(), dB.get(), dDY.get(), dDX.get(), dDB.get(), rows, cols, {}, Backend::automatic, nullptr,
                          blend);
  const auto y = dY.download(un), dx = dDX.download(un), db = dDB.download(ucols), pre = dPRE.download(un);
  actk::bias_act_backward(op, dt, dX.get(), dB.get(), dDY.get(), dDX.get(), dDB.get(), rows, cols, {}, Backend::automatic, nullptr,
                          actk::Blend{0.5, 0.0});
  const auto db2 = dDB.download(ucols);
  int bad = 0;
  for (std::int64_t i = 0; i < n && bad < 5; ++i) {
    if (!close_enough(y[i], y_ref[i], bound) || !close_enough(dx[i], dx_ref[i], bound) || !close_enough(pre[i], pre_ref[i], 1))
      ADD_FAILURE() << op_name(op) << " bias_act i=" << i << " y " << static_cast<double>(y[i]) << "/" << static_cast<double>(y_ref[i])
                    << " dx " << static_cast<double>(dx[i]) << "/" << static_cast<double>(dx_ref[i]), ++bad;
  }
  // dbias[c] sums rows terms dy f'(x + b): a sum in the compute type in any order is within
  // (rows - 1) u of the sum of the terms' magnitudes (u = 2^-24 float, 2^-53 double), then rounds once
  std::vector<S> dx_plain(n), db_plain(cols);
  actk::bias_act_backward(op, dt, x.data(), b.data(), dy.data(), dx_plain.data(), db_plain.data(), rows, cols, {}, Backend::cpu);
  std::vector<double> col_abs(cols, 0.0);
  for (std::int64_t i = 0; i < n; ++i) col_abs[i % cols] += std::fabs(static_cast<double>(dx_plain[i]));
  const double u = std::is_same_v<S, double> ? 0x1p-53 : 0x1p-24;
  for (std::int64_t c = 0; c < cols; ++c) {
    const double err = std::fabs(static_cast<double>(db[c]) - static_cast<double>(db_ref[c]));
    const double sum_bound = static_cast<double>(rows) * u * col_abs[c] + ulp_size(db_ref[c]);
    EXPECT_TRUE(close_enough(db[c], db_ref[c], 4) || err <= sum_bound)
        << op_name(op) << " dbias " << c << ": " << static_cast<double>(db[c]) << " vs " << static_cast<double>(db_ref[c])
        << " (error " << err << ", bound " << sum_bound << " from sum |terms| " << col_abs[c] << ")";
    EXPECT_TRUE(std::memcmp(&db[c], &db2[c], sizeof(S)) == 0) << "dbias differs between runs, col " << c;
  }
  // gated, concatenated layout [rows, 2*cols] (gate first): forward blended into y0, backward in place
  const auto cat = finite_data<S>(2 * un, 75);
  std::vector<S> gy_ref = y0, gcat_ref = cat;
  actk::gated_forward(op, dt, cat.data(), cat.data() + cols, 2 * cols, gy_ref.data(), rows, cols, {}, Backend::cpu, nullptr, blend);
  actk::gated_backward(op, dt, cat.data(), cat.data() + cols, 2 * cols, dy.data(), gcat_ref.data(), gcat_ref.data() + cols, rows,
                       cols, {}, Backend::cpu);
  DeviceBuffer<S> dCAT = device_copy(cat, off), dGY = device_copy(y0, out_off);
  actk::gated_forward(op, dt, dCAT.get(), dCAT.get() + cols, 2 * cols, dGY.get(), rows, cols, {}, Backend::automatic, nullptr, blend);
  actk::gated_backward(op, dt, dCAT.get(), dCAT.get() + cols, 2 * cols, dDY.get(), dCAT.get(), dCAT.get() + cols, rows, cols);
  const auto gy = dGY.download(un), gcat = dCAT.download(2 * un);
  bad = 0;
  for (std::int64_t i = 0; i < n && bad < 5; ++i)
    if (!close_enough(gy[i], gy_ref[i], bound)) ADD_FAILURE() << op_name(op) << " gated y i=" << i, ++bad;
  for (std::int64_t i = 0; i < 2 * n && bad < 5; ++i)
    if (!close_enough(gcat[i], gcat_ref[i], bound)) ADD_FAILURE() << op_name(op) << " gated grads i=" << i, ++bad;
  // gated backward blended (beta != 0 reads the old gradients, with the inputs) into a separate buffer
  const auto old = finite_data<S>(2 * un, 78);
  std::vector<S> gb_ref = old;
  actk::gated_backward(op, dt, cat.data(), cat.data() + cols, 2 * cols, dy.data(), gb_ref.data(), gb_ref.data() + cols, rows,
                       cols, {}, Backend::cpu, nullptr, blend);
  DeviceBuffer<S> dCAT2 = device_copy(cat, off), dGB = device_copy(old, out_off);
  actk::gated_backward(op, dt, dCAT2.get(), dCAT2.get() + cols, 2 * cols, dDY.get(), dGB.get(), dGB.get() + cols, rows, cols, {},
                       Backend::automatic, nullptr, blend);
  const auto gb = dGB.download(2 * un);
  bad = 0;
  for (std::int64_t i = 0; i < 2 * n && bad < 5; ++i)
    if (!close_enough(gb[i], gb_ref[i], bound)) ADD_FAILURE() << op_name(op) << " gated grads blended i=" << i, ++bad;
  return {y, dx, db, pre, gy, gcat};
}

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

// The same shape through each path: whole 16-byte vectors per row (the vectorized kernels: bias,
// gated with a 2*cols row stride, blending, in place), every pointer one element off a boundary
// (bias + act: a scalar head and tail around the vector body, the bias per element; gated: the
// scalar kernel), and the outputs at another offset than the inputs (the scalar kernels).
// All must give the same bits: every path does the same float math per element.
template <class S> void vector_vs_scalar(Op op, std::int64_t rows, std::int64_t cols) {
  const auto vec = fused_case<S>(op, rows, cols, 0), head = fused_case<S>(op, rows, cols, 1), scalar = fused_case<S>(op, rows, cols, 0, 1);
  const char* what[] = {"y", "dx", "dbias", "pre", "gated y", "gated grads"};
  for (const auto* other : {&head, &scalar})
    for (std::size_t k = 0; k < vec.size(); ++k)
      EXPECT_TRUE(vec[k].size() == (*other)[k].size() && std::memcmp(vec[k].data(), (*other)[k].data(), vec[k].size() * sizeof(S)) == 0)
          << op_name(op) << " " << actk::dtype_name(actk::dtype_of<S>::value) << " [" << rows << "," << cols << "]: " << what[k]
          << " differs between the vectorized kernels and the " << (other == &head ? "head/tail" : "scalar") << " ones";
}

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
  // odd cols: the vector body with the bias per element (a vector spans two rows), then head/tail
  vector_vs_scalar<float>(Op::gelu, 300, 257);
  vector_vs_scalar<bfloat16>(Op::silu, 17, 4095);
  vector_vs_scalar<float16>(Op::gelu_tanh, 5, 3);
}

// Clamped SwiGLU (GPT-OSS) on the GPU against the CPU reference: the vectorized kernels (whole
// vectors per row) and the scalar ones (odd cols), forward blended and backward in place; inputs
// on both sides of the clamps.
/// Clamped SwiGLU's test data for [rows, cols] outputs: the [rows, 2 cols] input (both clamps
/// saturate somewhere), dy, and old outputs for the blend.
template <class S> void clamped_data(std::size_t un, std::uint64_t seed, std::vector<S>& in, std::vector<S>& dy, std::vector<S>& y0) {
  in.resize(2 * un), dy.resize(un), y0.resize(un);
  Rng rng(seed);
  for (auto& v : in) v = to<S>(rng.uniform(-10, 10));
  for (auto& v : dy) v = to<S>(rng.uniform(-1, 1));
  for (auto& v : y0) v = to<S>(rng.uniform(-1, 1));
}

template <class S> void clamped_case(std::int64_t rows, std::int64_t cols) {
  const DType dt = actk::dtype_of<S>::value;
  const std::size_t un = static_cast<std::size_t>(rows * cols);
  std::vector<S> cat, dy, y0;
  clamped_data(un, 31, cat, dy, y0);
  const actk::Blend blend{0.5, 1.0};
  std::vector<S> y_ref = y0, g_ref = cat;
  actk::clamped_swiglu_forward(dt, cat.data(), cat.data() + cols, 2 * cols, y_ref.data(), rows, cols, 1.702, 7.0, Backend::cpu, nullptr,
                               blend);
  actk::clamped_swiglu_backward(dt, cat.data(), cat.data() + cols, 2 * cols, dy.data(), g_ref.data(), g_ref.data() + cols, rows, cols,
                                1.702, 7.0, Backend::cpu);
  DeviceBuffer<S> dCat = device_copy(cat), dY = device_copy(y0), dDY = device_copy(dy);
  actk::clamped_swiglu_forward(dt, dCat.get(), dCat.get() + cols, 2 * cols, dY.get(), rows, cols, 1.702, 7.0, Backend::automatic,
                               nullptr, blend);
  actk::clamped_swiglu_backward(dt, dCat.get(), dCat.get() + cols, 2 * cols, dDY.get(), dCat.get(), dCat.get() + cols, rows, cols);
  const auto y = dY.download(un), g = dCat.download(2 * un);
  const double bound = sizeof(S) == 2 ? 1 : 8;
  int bad = 0;
  for (std::size_t i = 0; i < un && bad < 5; ++i)
    if (!close_enough(y[i], y_ref[i], bound)) ADD_FAILURE() << actk::dtype_name(dt) << " clamped swiglu y " << i, ++bad;
  for (std::size_t i = 0; i < 2 * un && bad < 5; ++i)
    if (!close_enough(g[i], g_ref[i], bound)) ADD_FAILURE() << actk::dtype_name(dt) << " clamped swiglu grads " << i, ++bad;
}

/// The interleaved layout (gate and value alternating): the GPU's scalar kernel against the CPU,
/// forward blended and backward in place over the input.
template <class S> void clamped_interleaved_case(std::int64_t rows, std::int64_t cols) {
  const DType dt = actk::dtype_of<S>::value;
  const std::size_t un = static_cast<std::size_t>(rows * cols);
  std::vector<S> in, dy, y0;
  clamped_data(un, 32, in, dy, y0);
  const actk::Blend blend{0.5, 1.0};
  std::vector<S> y_ref = y0, g_ref(2 * un);
  actk::clamped_swiglu_interleaved_forward(dt, in.data(), y_ref.data(), rows, cols, 1.702, 7.0, Backend::cpu, nullptr, blend);
  actk::clamped_swiglu_interleaved_backward(dt, in.data(), dy.data(), g_ref.data(), rows, cols, 1.702, 7.0, Backend::cpu);
  DeviceBuffer<S> dIn = guarded<S>(2 * un), dY = guarded<S>(un), dDY = device_copy(dy);
  CUDA_OK(dIn.upload(in));
  CUDA_OK(dY.upload(y0));
  const auto before = dY.raw();
  actk::clamped_swiglu_interleaved_forward(dt, dIn.at(0), dY.at(0), rows, cols, 1.702, 7.0, Backend::automatic, nullptr, blend);
  actk::clamped_swiglu_interleaved_backward(dt, dIn.at(0), dDY.get(), dIn.at(0), rows, cols);
  CUDA_OK(cudaDeviceSynchronize());
  std::vector<S> y(un), g(2 * un);
  CUDA_OK(dY.download_to(y.data(), un, 0));
  CUDA_OK(dIn.download_to(g.data(), 2 * un, 0));
  const auto after = dY.raw();
  const std::size_t lo = dY.byte_offset(0), hi = lo + un * sizeof(S);
  for (std::size_t b = 0; b < after.size(); ++b) {
    if (b < lo || b >= hi) {
      ASSERT_EQ(after[b], before[b]) << "wrote outside y, byte " << b;
    }
  }
  const double bound = sizeof(S) == 2 ? 1 : 8;
  int bad = 0;
  for (std::size_t i = 0; i < un && bad < 5; ++i)
    if (!close_enough(y[i], y_ref[i], bound)) ADD_FAILURE() << actk::dtype_name(dt) << " interleaved y " << i, ++bad;
  for (std::size_t i = 0; i < 2 * un && bad < 5; ++i)
    if (!close_enough(g[i], g_ref[i], bound)) ADD_FAILURE() << actk::dtype_name(dt) << " interleaved grads " << i, ++bad;
}

TEST(CudaFused, ClampedSwigluInterleavedMatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  clamped_interleaved_case<float>(300, 256);
  clamped_interleaved_case<bfloat16>(17, 4096);
  clamped_interleaved_case<bfloat16>(5, 4095);
  clamped_interleaved_case<double>(9, 64);
  clamped_interleaved_case<float16>(3, 33);
}

TEST(CudaFused, ClampedSwigluMatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  clamped_case<float>(300, 256);
  clamped_case<float>(7, 257);
  clamped_case<bfloat16>(17, 4096);
  clamped_case<bfloat16>(5, 4095);
  clamped_case<double>(9, 64);
  clamped_case<float16>(3, 33);
}

}  // namespace
