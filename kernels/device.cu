// kernels/device.cu: the CUDA backend's shared runtime (kernels/device.cuh): the current device,
// launch-error checks, and device scratch from the stream-ordered pool.
#include <string>

#include "actk/actk.h"
#include "kernels/device.cuh"

namespace actk {
namespace detail {

int current_device() {
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) check_launch("cudaGetDevice");
  return dev >= 0 && dev < kMaxDevices ? dev : 0;
}

void check_launch(const char* what, const char* call) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw Error(Status::cuda_error, std::string(call ? "actk::" : "actk: ") + (call ? call : "") + (call ? ": " : "") + what +
                                        " failed: " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
}

Scratch::Scratch(void* given, std::size_t bytes, cudaStream_t s, const char* call) : ptr(given), stream(s) {
  if (ptr != nullptr) return;
  int dev = 0, pools = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, dev) != cudaSuccess)
    pools = 0;
  (void)cudaGetLastError();
  pooled = pools != 0;
  const cudaError_t e = pooled ? cudaMallocAsync(&ptr, bytes, s) : cudaMalloc(&ptr, bytes);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    throw Error(Status::cuda_error, std::string("actk::") + call + ": allocating " + std::to_string(bytes) +
                                        " bytes of scratch failed: " + cudaGetErrorName(e));
  }
  owned = true;
}

Scratch::~Scratch() {
  if (owned) {  // stream-ordered: freed after the kernels that use it
    if (pooled) (void)cudaFreeAsync(ptr, stream);
    else (void)cudaFree(ptr);
  }
}

}  // namespace detail
}  // namespace actk
