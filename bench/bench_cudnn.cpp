// bench/bench_cudnn.cpp: cuDNN as a peer, in the same process and buffers: the legacy
// cudnnActivationForward/Backward for the modes it has (sigmoid, relu, tanh, clipped relu = relu6,
// elu, swish = silu) and cudnnSoftmaxForward/Backward (accurate and log, instance mode over the
// columns). GB/s counts the bytes the op needs (what actk moves: 2n forward, 3n backward), so the
// numbers compare times; cuDNN's activation backward reads x, y and dy (4n). Without cuDNN at
// configure time, or without libcudnn at run time, the peer is registered as skipped, with the reason.
#include <cstdio>
#include <string>
#include <vector>

#include "bench_util.h"

#if defined(ACTK_BENCH_CUDNN)
#include <cudnn.h>
#include <dlfcn.h>
#endif

namespace actk_bench {

#if defined(ACTK_BENCH_CUDNN)
namespace {

// cuDNN is opened at run time (dlopen), not linked: the benchmark runs where cuDNN is absent or is
// another build than the one configured against (the GPU machine's comes with PyTorch), and then
// reports the cuDNN peer as skipped, saying why.
#define ACTK_CUDNN_FNS(X) X(cudnnCreate) X(cudnnGetErrorString) X(cudnnCreateTensorDescriptor) X(cudnnSetTensor4dDescriptor) X(cudnnDestroyTensorDescriptor) X(cudnnCreateActivationDescriptor) X(cudnnSetActivationDescriptor) X(cudnnSetActivationDescriptorSwishBeta) X(cudnnDestroyActivationDescriptor) X(cudnnActivationForward) X(cudnnActivationBackward) X(cudnnSoftmaxForward) X(cudnnSoftmaxBackward)

struct Dnn {
#define ACTK_CUDNN_PTR(f) decltype(&::f) f = nullptr;
  ACTK_CUDNN_FNS(ACTK_CUDNN_PTR)
#undef ACTK_CUDNN_PTR
  std::string why;  // empty when every function was found
};

Dnn load_cudnn() {
  Dnn d;
  void* lib = nullptr;
  for (const char* name : {"libcudnn.so.9", "libcudnn.so"})
    if ((lib = dlopen(name, RTLD_NOW | RTLD_LOCAL)) != nullptr) break;
  if (lib == nullptr) {
    const char* e = dlerror();
    d.why = std::string("cuDNN not found at run time (libcudnn.so.9 / libcudnn.so: ") + (e ? e : "?") + ")";
    return d;
  }
#define ACTK_CUDNN_SYM(f)                                                     \
  d.f = reinterpret_cast<decltype(d.f)>(dlsym(lib, #f));                      \
  if (d.f == nullptr && d.why.empty()) d.why = "cuDNN lacks " #f;
  ACTK_CUDNN_FNS(ACTK_CUDNN_SYM)
#undef ACTK_CUDNN_SYM
  return d;
}

const Dnn& dnn() {
  static const Dnn d = load_cudnn();
  return d;
}

cudnnHandle_t handle() {
  static cudnnHandle_t h = nullptr;
  if (h == nullptr && dnn().cudnnCreate(&h) != CUDNN_STATUS_SUCCESS) h = nullptr;
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
    dnn().cudnnCreateTensorDescriptor(&t);
    dnn().cudnnSetTensor4dDescriptor(t, CUDNN_TENSOR_NCHW, cudnn_type(dt), static_cast<int>(rows), static_cast<int>(cols), 1, 1);
  }
  ~Desc() { dnn().cudnnDestroyTensorDescriptor(t); }
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
  dnn().cudnnCreateActivationDescriptor(&a);
  dnn().cudnnSetActivationDescriptor(a, mode, CUDNN_NOT_PROPAGATE_NAN, coef);
  if (mode == CUDNN_ACTIVATION_SWISH) dnn().cudnnSetActivationDescriptorSwishBeta(a, coef);
  const float one = 1.f, zero = 0.f;
  cudnnStatus_t s = dnn().cudnnActivationForward(handle(), a, &one, d.t, x, &zero, d.t, y);
  if (s != CUDNN_STATUS_SUCCESS) {
    dnn().cudnnDestroyActivationDescriptor(a);
    return st.SkipWithError((std::string("cuDNN: ") + dnn().cudnnGetErrorString(s)).c_str());
  }
  const std::int64_t bytes = n * static_cast<std::int64_t>(actk::dtype_size(dt)) * (bwd ? 3 : 2);
  time_gpu(st, bytes, n, [&] {
    if (bwd) dnn().cudnnActivationBackward(handle(), a, &one, d.t, y, d.t, dy, d.t, x, &zero, d.t, dx);
    else dnn().cudnnActivationForward(handle(), a, &one, d.t, x, &zero, d.t, y);
  });
  dnn().cudnnDestroyActivationDescriptor(a);
}

void bench_softmax(benchmark::State& st, bool log, bool bwd, DType dt, std::int64_t rows, std::int64_t cols) {
  if (!handle()) return st.SkipWithError("cudnnCreate failed");
  const std::int64_t n = rows * cols;
  const Buffers b(dt, n);
  void *x = b.x, *dy = b.dy, *y = b.y, *dx = b.dx;
  Desc d(dt, rows, cols);
  const cudnnSoftmaxAlgorithm_t algo = log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE;
  const float one = 1.f, zero = 0.f;
  const cudnnStatus_t s = dnn().cudnnSoftmaxForward(handle(), algo, CUDNN_SOFTMAX_MODE_INSTANCE, &one, d.t, x, &zero, d.t, y);
  if (s != CUDNN_STATUS_SUCCESS) return st.SkipWithError((std::string("cuDNN: ") + dnn().cudnnGetErrorString(s)).c_str());
  const std::int64_t bytes = n * static_cast<std::int64_t>(actk::dtype_size(dt)) * (bwd ? 3 : 2);
  time_gpu(st, bytes, n, [&] {
    if (bwd) dnn().cudnnSoftmaxBackward(handle(), algo, CUDNN_SOFTMAX_MODE_INSTANCE, &one, d.t, y, d.t, dy, &zero, d.t, dx);
    else dnn().cudnnSoftmaxForward(handle(), algo, CUDNN_SOFTMAX_MODE_INSTANCE, &one, d.t, x, &zero, d.t, y);
  });
}

}  // namespace
#endif

void register_cudnn(const std::vector<std::int64_t>& sizes, std::int64_t softmax_total) {
#if defined(ACTK_BENCH_CUDNN)
  if (!dnn().why.empty()) {
    const std::string why = dnn().why;
    std::fprintf(stderr, "actk_bench: %s: the cuDNN peer is skipped\n", why.c_str());
    benchmark::RegisterBenchmark("gpu-cudnn/skipped", [why](benchmark::State& st) { st.SkipWithError(why.c_str()); });
    return;
  }
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
