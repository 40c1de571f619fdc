// kernels/device.cuh: what every kernel launcher shares: the block size, launch-error checks, the
// current device and its attributes (cached per device), one-wave grids from the occupancy
// calculator (cached per device and kernel), device scratch (kernels/device.cu).
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace actk {
namespace detail {

/// Threads per block of every grid-stride kernel.
constexpr int kThreads = 256;

/// Throws Error(cuda_error) naming the call and `what` if the last launch failed (or an earlier
/// asynchronous error is pending: CUDA reports those at the next call).
void check_launch(const char* what, const char* call = nullptr);

/// The per-device caches below hold this many devices; higher ordinals share entry 0.
constexpr int kMaxDevices = 64;
/// The current device's index into those caches (one cudaGetDevice).
int current_device();

/// Attribute A of device `dev` (an index from current_device()), asked once per device and
/// cached; every attribute asked for is positive (a 0 answer is stored as 1).
template <cudaDeviceAttr A> int device_attr(int dev) {
  static std::atomic<int> cache[kMaxDevices];  // 0 = not asked yet; racing first calls store the same value
  int v = cache[dev].load(std::memory_order_relaxed);
  if (v == 0) {
    if (cudaDeviceGetAttribute(&v, A, dev) != cudaSuccess) check_launch("cudaDeviceGetAttribute");
    if (v <= 0) v = 1;
    cache[dev].store(v, std::memory_order_relaxed);
  }
  return v;
}

/// SM count of the current device (cached per device).
inline int sm_count() { return device_attr<cudaDevAttrMultiProcessorCount>(current_device()); }

/// Blocks of kThreads threads that kernel K keeps resident on one SM of device `dev` (an index
/// from current_device()): its registers and shared memory decide. The occupancy calculator is
/// asked once per device and kernel; the answer is cached. At least 1.
template <auto K> int blocks_per_sm(int dev) {
  static std::atomic<int> cache[kMaxDevices];  // 0 = not asked yet; racing first calls store the same value
  int v = cache[dev].load(std::memory_order_relaxed);
  if (v == 0) {
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&v, K, kThreads, 0) != cudaSuccess)
      check_launch("cudaOccupancyMaxActiveBlocksPerMultiprocessor");
    if (v <= 0) v = 1;
    cache[dev].store(v, std::memory_order_relaxed);
  }
  return v;
}

/// Blocks of kThreads for `work` thread-items of kernel K on the current device: one full wave,
/// every SM holding as many blocks of K as its registers allow (a grid-stride loop then gives
/// every resident block the same share; a fixed 8 blocks per SM made kernels above 32 registers
/// run a second, partly empty wave), never more than the work needs, at least 1.
template <auto K> int grid_for(std::int64_t work) {
  const int dev = current_device();
  const std::int64_t need = (work + kThreads - 1) / kThreads;
  const std::int64_t cap = static_cast<std::int64_t>(device_attr<cudaDevAttrMultiProcessorCount>(dev)) * blocks_per_sm<K>(dev);
  return static_cast<int>(need < 1 ? 1 : (need < cap ? need : cap));
}

/// Device scratch for a call: the caller's workspace when given, else taken from the stream-ordered
/// pool (cudaMallocAsync, or cudaMalloc where the device has no pools) and given back after the
/// kernels queued on `stream` (RAII).
struct Scratch {
  void* ptr = nullptr;
  cudaStream_t stream = nullptr;
  bool owned = false, pooled = false;
  Scratch(void* given, std::size_t bytes, cudaStream_t s, const char* call);
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

inline std::uintptr_t misalign(const void* p) { return reinterpret_cast<std::uintptr_t>(p) & 15u; }

}  // namespace detail
}  // namespace actk
