// host/cuda_runtime.cpp: the CUDA runtime queries the dispatch needs: is there a device (asked
// once, cached), and where does a pointer live. In a CPU-only build every pointer is host memory.
#include <string>

#include "host/calls.h"

#if defined(ACTK_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace actk {
namespace detail {

#if defined(ACTK_WITH_CUDA)

bool cuda_built() noexcept { return true; }

int cuda_device_count() {
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      (void)cudaGetLastError();  // no driver or no device: not an error for actk, just no GPU
      return 0;
    }
    return n;
  }();
  return count;
}

MemKind classify(const void* p) {
  if (cuda_device_count() == 0 || p == nullptr) return MemKind::host;
  cudaPointerAttributes attr{};
  const cudaError_t e = cudaPointerGetAttributes(&attr, p);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    if (e == cudaErrorInvalidValue) return MemKind::host;  // memory CUDA does not know: the host's
    // anything else (a sticky error from an earlier fault, a dead context) must not send device
    // pointers to the CPU path
    throw Error(Status::cuda_error, std::string("actk: cudaPointerGetAttributes failed: ") + cudaGetErrorName(e) + ": " +
                                        cudaGetErrorString(e));
  }
  switch (attr.type) {
    case cudaMemoryTypeDevice: {
      int current = 0;
      if (cudaGetDevice(&current) != cudaSuccess) {
        (void)cudaGetLastError();
        throw Error(Status::cuda_error, "actk: cudaGetDevice failed");
      }
      const std::string msg = other_device_message(attr.device, current);
      if (!msg.empty()) throw Error(Status::invalid_argument, "actk: " + msg);
      return MemKind::device;
    }
    case cudaMemoryTypeManaged: return MemKind::managed;
    default: return MemKind::host;  // unregistered or pinned host memory
  }
}

#else

bool cuda_built() noexcept { return false; }
int cuda_device_count() { return 0; }
MemKind classify(const void*) { return MemKind::host; }

#endif

}  // namespace detail
}  // namespace actk
