// bench/bench_cudnn.cpp: cuDNN as a peer, in the same process and buffers: the legacy
// cudnnActivationForward/Backward for the modes it has (sigmoid, relu, tanh, clipped relu = relu6,
// elu, swish = silu) and cudnnSoftmaxForward/Backward (accurate and log, instance mode over the
// columns). GB/s counts the bytes the op needs (what actk moves: 2n forward, 3n backward), so the
// numbers compare times; cuDNN's activation backward reads x, y and dy (4n). Without cuDNN at
// configure time the peer is registered as skipped, with the reason.
#include <string>
#include <vector>

#include "bench_util.h"

#if defined(ACTK_BENCH_CUDNN)
#include <cudnn.h>
#endif

namespace actk_bench {

#if defined(ACTK_BENCH_CUDNN)
namespace {

cudnnHandle_t handle() {
  static cudnnHandle_t h = nullptr;
  if (h == nullptr && cudnnCreate(&h) != CUDNN_STATUS_SUCCESS) h = nullptr;
  return h;
}

cudnnDataType_t cudnn_type(DType dt) {
  switch (dt) {
    case DType::float32: return CUDNN_DATA_FLOAT;
    case DType::float64: return CUDNN_DATA_DOUBLE;
    case DType::float16: return CUDNN_DATA_HALF;
    case DType::bfloat16: return CUDNN_DATA_BFLOAT16;
  }
  return CUDNN_DATA_FLOAT;
}

struct Desc {
  cudnnTensorDescriptor_t t = nullptr;
  Desc(DType dt, std::int64_t rows, std::int64_t cols) {
    cudnnCreateTensorDescriptor(&t);
    cudnnSetTensor4dDescriptor(t, CUDNN_TENSOR_NCHW, cudnn_type(dt), static_cast<int>(rows), static_cast<int>(cols), 1, 1);
  }
  ~Desc() { cudnnDestroyTensorDescriptor(t); }
};

/// x and dy filled with test data, y and dx as outputs: n elements each, the shared buffers.
struct Buffers {
  void *x, *dy, *y, *dx;
  Buffers(DType dt, std::int64_t n) {
    const std::size_t sz = static_cast<std::size_t>(n) * actk::dtype_size(dt);
    x = device_buffer(0, sz);
    dy = device_buffer(1, sz);
    y = device_buffer(2, sz);
    dx = device_buffer(3, sz);
    fill(x, dt, n, 1);
    fill(dy, dt, n, 2);
  }
};

void bench_act(benchmark::State& st, cudnnActivationMode_t mode, double coef, DType dt, bool bwd, std::int64_t n) {
  if (!handle()) return st.SkipWithError("cudnnCreate failed");
  const Buffers b(dt, n);
  void *x = b.x, *dy = b.dy, *y = b.y, *dx = b.dx;
  // cuDNN's 4-D descriptors take int dimensions: n as [n / 2^20 or 1, up to 2^20]
  const std::int64_t cols = n < (1 << 20) ? n : (1 << 20), rows = n / cols;
  if (rows * cols != n) return st.SkipWithError("n is not a multiple of 2^20 (cuDNN's int dimensions)");
  Desc d(dt, rows, cols);
  cudnnActivationDescriptor_t a;
  cudnnCreateActivationDescriptor(&a);
  cudnnSetActivationDescriptor(a, mode, CUDNN_NOT_PROPAGATE_NAN, coef);
  if (mode == CUDNN_ACTIVATION_SWISH) cudnnSetActivationDescriptorSwishBeta(a, coef);
  const float one = 1.f, zero = 0.f;
  cudnnStatus_t s = cudnnActivationForward(handle(), a, &one, d.t, x, &zero, d.t, y);
  if (s != CUDNN_STATUS_SUCCESS) {
    cudnnDestroyActivationDescriptor(a);
    return st.SkipWithError((std::string("cuDNN: ") + cudnnGetErrorString(s)).c_str());
  }
  const std::int64_t bytes = n * static_cast<std::int64_t>(actk::dtype_size(dt)) * (bwd ? 3 : 2);
  time_gpu(st, bytes, n, [&] {
    if (bwd) cudnnActivationBackward(handle(), a, &one, d.t, y, d.t, dy, d.t, x, &zero, d.t, dx);
    else cudnnActivationForward(handle(), a, &one, d.t, x, &zero, d.t, y);
  });
  cudnnDestroyActivationDescriptor(a);
}

void bench_softmax(benchmark::State& st, bool log, bool bwd, DType dt, std::int64_t rows, std::int64_t cols) {
  if (!handle()) return st.SkipWithError("cudnnCreate failed");
  const std::int64_t n = rows * cols;
  const Buffers b(dt, n);
  void *x = b.x, *dy = b.dy, *y = b.y, *dx = b.dx;
  Desc d(dt, rows, cols);
  const cudnnSoftmaxAlgorithm_t algo = log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE;
  const float one = 1.f, zero = 0.f;
  const cudnnStatus_t s = cudnnSoftmaxForward(handle(), algo, CUDNN_SOFTMAX_MODE_INSTANCE, &one, d.t, x, &zero, d.t, y);
  if (s != CUDNN_STATUS_SUCCESS) return st.SkipWithError((std::string("cuDNN: ") + cudnnGetErrorString(s)).c_str());
  const std::int64_t bytes = n * static_cast<std::int64_t>(actk::dtype_size(dt)) * (bwd ? 3 : 2);
  time_gpu(st, bytes, n, [&] {
    if (bwd) cudnnSoftmaxBackward(handle(), algo, CUDNN_SOFTMAX_MODE_INSTANCE, &one, d.t, y, d.t, dy, &zero, d.t, dx);
    else cudnnSoftmaxForward(handle(), algo, CUDNN_SOFTMAX_MODE_INSTANCE, &one, d.t, x, &zero, d.t, y);
  });
}

}  // namespace
#endif

void register_cudnn(const std::vector<std::int64_t>& sizes, std::int64_t softmax_total) {
#if defined(ACTK_BENCH_CUDNN)
  struct M { const char* name; cudnnActivationMode_t mode; double coef; };
  const M modes[] = {{"sigmoid", CUDNN_ACTIVATION_SIGMOID, 0}, {"relu", CUDNN_ACTIVATION_RELU, 0},
                     {"tanh", CUDNN_ACTIVATION_TANH, 0},       {"relu6", CUDNN_ACTIVATION_CLIPPED_RELU, 6},
                     {"elu", CUDNN_ACTIVATION_ELU, 1},         {"silu", CUDNN_ACTIVATION_SWISH, 1}};
  for (const M& m : modes)
    for (bool bwd : {false, true})
      for (DType dt : {DType::float32, DType::bfloat16, DType::float16})
        for (std::int64_t n : sizes)
          benchmark::RegisterBenchmark((std::string("gpu-cudnn/") + m.name + (bwd ? "/backward_y/" : "/forward/") +
                                        actk::dtype_name(dt) + "/" + std::to_string(n)).c_str(),
                                       [=](benchmark::State& st) { bench_act(st, m.mode, m.coef, dt, bwd, n); })
              ->UseManualTime()->Unit(benchmark::kMicrosecond);
  for (bool log : {false, true})
    for (bool bwd : {false, true})
      for (DType dt : {DType::float32, DType::bfloat16})
        for (std::int64_t cols = 32; cols <= 262144; cols *= 4)
          benchmark::RegisterBenchmark((std::string("gpu-cudnn/") + (log ? "log_softmax" : "softmax") +
                                        (bwd ? "/backward/" : "/forward/") + actk::dtype_name(dt) + "/cols=" +
                                        std::to_string(cols)).c_str(),
                                       [=](benchmark::State& st) { bench_softmax(st, log, bwd, dt, softmax_total / cols, cols); })
              ->UseManualTime()->Unit(benchmark::kMicrosecond);
#else
  (void)sizes;
  (void)softmax_total;
  benchmark::RegisterBenchmark("gpu-cudnn/skipped", [](benchmark::State& st) {
    st.SkipWithError("cuDNN was not found when actk was configured: the cuDNN peer is not built");
  });
#endif
}

}  // namespace actk_bench
