// bench/bench_util.h: what every benchmark of actk and its peers shares: test data, and on a GPU
// reused device buffers, an L2 flush before each timed call (so the cache is not what is
// measured), the device-to-device copy bandwidth of the same bytes in the same run, and one
// timing loop with CUDA events that reports GB/s and % of that copy.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "actk/actk.h"

#if defined(ACTK_BENCH_CUDA)
#include <cuda_runtime.h>
#endif

namespace actk_bench {

using actk::DType;

/// n values uniform in [-4, 4) in dtype `dt`, deterministic per seed.
inline std::vector<unsigned char> host_data(DType dt, std::int64_t n, unsigned seed) {
  std::vector<unsigned char> v(static_cast<std::size_t>(n) * actk::dtype_size(dt));
  std::uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
  for (std::int64_t i = 0; i < n; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const double x = -4.0 + 8.0 * static_cast<double>(s >> 11) * 0x1.0p-53;
    unsigned char* p = v.data() + static_cast<std::size_t>(i) * actk::dtype_size(dt);
    switch (dt) {
      case DType::float32: { const float f = static_cast<float>(x); std::memcpy(p, &f, 4); break; }
      case DType::float64: std::memcpy(p, &x, 8); break;
      case DType::float16: { const actk::float16 h(x); std::memcpy(p, &h, 2); break; }
      case DType::bfloat16: { const actk::bfloat16 h(x); std::memcpy(p, &h, 2); break; }
    }
  }
  return v;
}

#if defined(ACTK_BENCH_CUDA)
#define CK(e)                                                                \
  do {                                                                       \
    cudaError_t err_ = (e);                                                  \
    if (err_ != cudaSuccess) {                                               \
      std::fprintf(stderr, "%s failed: %s\n", #e, cudaGetErrorString(err_)); \
      std::exit(1);                                                          \
    }                                                                        \
  } while (0)

/// Writes a buffer of twice the L2 size, so the next kernel starts with a cold cache.
inline void flush_l2(cudaStream_t s = nullptr) {
  static void* buf = nullptr;
  static std::size_t bytes = 0;
  if (buf == nullptr) {
    int dev = 0, l2 = 0;
    CK(cudaGetDevice(&dev));
    CK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
    bytes = 2 * static_cast<std::size_t>(l2 > 0 ? l2 : (64 << 20));
    CK(cudaMalloc(&buf, bytes));
  }
  CK(cudaMemsetAsync(buf, 0, bytes, s));
}

/// Device buffers reused across benchmarks (grown as needed).
inline void* device_buffer(int which, std::size_t bytes) {
  static void* buf[8] = {};
  static std::size_t cap[8] = {};
  if (cap[which] < bytes) {
    if (buf[which]) CK(cudaFree(buf[which]));
    CK(cudaMalloc(&buf[which], bytes));
    cap[which] = bytes;
  }
  return buf[which];
}

/// Fills n elements by tiling a block of up to 2^20 distinct values: the block is made once per
/// (dtype, seed) on the host and uploaded once, then doubled on the device (device-to-device
/// copies), since a benchmark's body, with its fills, runs several times per case. (Uploading
/// every tile from pageable memory made a 2^26-element case's setup cost more than its timing.)
inline void fill(void* dst, DType dt, std::int64_t n, unsigned seed) {
  if (n <= 0) return;
  static std::map<std::pair<int, unsigned>, std::vector<unsigned char>> blocks;
  const std::pair<int, unsigned> key{static_cast<int>(dt), seed};
  auto it = blocks.find(key);
  if (it == blocks.end()) it = blocks.emplace(key, host_data(dt, std::int64_t{1} << 20, seed)).first;
  const std::vector<unsigned char>& h = it->second;
  const std::int64_t tile = n < (1 << 20) ? n : (1 << 20);  // the first `tile` values of the block
  const std::size_t es = actk::dtype_size(dt);
  char* d = static_cast<char*>(dst);
  CK(cudaMemcpy(d, h.data(), static_cast<std::size_t>(tile) * es, cudaMemcpyHostToDevice));
  for (std::int64_t done = tile; done < n;) {
    const std::int64_t len = n - done < done ? n - done : done;
    CK(cudaMemcpy(d + static_cast<std::size_t>(done) * es, d, static_cast<std::size_t>(len) * es, cudaMemcpyDeviceToDevice));
    done += len;
  }
}

/// Median-free, cold-cache event time of fn() in seconds (one call).
template <class F> double event_seconds(F&& fn) {
  static cudaEvent_t e0 = nullptr, e1 = nullptr;
  if (e0 == nullptr) {
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
  }
  flush_l2();
  CK(cudaEventRecord(e0));
  fn();
  CK(cudaEventRecord(e1));
  CK(cudaEventSynchronize(e1));
  float ms = 0;
  CK(cudaEventElapsedTime(&ms, e0, e1));
  return static_cast<double>(ms) * 1e-3;
}

/// Device-to-device copy bandwidth (bytes read + written per second) for `bytes` moved, the best
/// of 20 cold-cache copies; measured once per size in this process.
inline double copy_bandwidth(std::int64_t bytes) {
  static std::map<std::int64_t, double> cache;
  auto it = cache.find(bytes);
  if (it != cache.end()) return it->second;
  const std::size_t half = static_cast<std::size_t>(bytes / 2);
  void* a = device_buffer(6, half);
  void* b = device_buffer(7, half);
  CK(cudaMemcpy(b, a, half, cudaMemcpyDeviceToDevice));  // warm-up
  double best = 1e30;
  for (int r = 0; r < 20; ++r) {
    const double t = event_seconds([&] { CK(cudaMemcpyAsync(b, a, half, cudaMemcpyDeviceToDevice)); });
    if (t < best) best = t;
  }
  return cache[bytes] = static_cast<double>(bytes) / best;
}

/// The timing loop of every GPU benchmark: warm-up, then per iteration an L2 flush and the
/// call between CUDA events (manual time); counters GBps, copy_GBps and pct_of_copy.
template <class F> void time_gpu(benchmark::State& st, std::int64_t bytes, std::int64_t items, F&& fn) {
  fn();  // warm-up
  CK(cudaDeviceSynchronize());
  double total = 0;
  for (auto _ : st) {
    const double t = event_seconds(fn);
    st.SetIterationTime(t);
    total += t;
  }
  st.SetItemsProcessed(st.iterations() * items);
  st.SetBytesProcessed(st.iterations() * bytes);
  const double copy = copy_bandwidth(bytes);
  const double bw = static_cast<double>(bytes) * static_cast<double>(st.iterations()) / total;
  st.counters["GBps"] = bw * 1e-9;
  st.counters["copy_GBps"] = copy * 1e-9;
  st.counters["pct_of_copy"] = 100.0 * bw / copy;
}
#endif

}  // namespace actk_bench
