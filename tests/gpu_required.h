// tests/gpu_required.h: whether this machine has a usable GPU, and why not.
// A GPU test skips (saying why) where there is none, as on CI; under ACTK_REQUIRE_GPU=1 (set by
// tools/gpu-check) the same test FAILS instead, so a run on the GPU machine cannot pass by skipping.
#pragma once
#include <cuda_runtime.h>

#include <cstdlib>
#include <string>

#include "actk/actk.h"

namespace actk_test {

inline bool gpu_required() {
  const char* v = std::getenv("ACTK_REQUIRE_GPU");
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

// "" when a GPU is usable, else the reason in words.
inline std::string gpu_unusable_reason() {
  const char* vis = std::getenv("CUDA_VISIBLE_DEVICES");
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e == cudaSuccess && n > 0 && actk::cuda_available()) return "";
  std::string why;
  if (e == cudaErrorInsufficientDriver) {
    int drv = 0, rt = 0;
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    why = "the CUDA driver (" + std::to_string(drv) + ") is older than the runtime (" + std::to_string(rt) + ")";
  } else if (e == cudaErrorNoDevice || (e == cudaSuccess && n == 0)) {
    why = "no CUDA device";
  } else if (e != cudaSuccess) {
    why = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(e);
  } else {
    why = "actk was built without its CUDA kernels";
  }
  if (vis != nullptr && *vis == '\0') why += " (CUDA_VISIBLE_DEVICES is set and empty)";
  else if (vis != nullptr) why += std::string(" (CUDA_VISIBLE_DEVICES=") + vis + ")";
  return why;
}

}  // namespace actk_test

// Skip the test where no GPU is usable; fail it when ACTK_REQUIRE_GPU is set.
#define ACTK_GPU_OR_SKIP()                                                                          \
  do {                                                                                              \
    const std::string actk_why_ = ::actk_test::gpu_unusable_reason();                               \
    if (!actk_why_.empty()) {                                                                       \
      if (::actk_test::gpu_required()) FAIL() << "ACTK_REQUIRE_GPU is set but the GPU is unusable: " << actk_why_; \
      GTEST_SKIP() << actk_why_ << " (the CPU suites cover the math)";                            \
    }                                                                                               \
  } while (0)
