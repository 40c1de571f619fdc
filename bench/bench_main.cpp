// bench/bench_main.cpp: the main job's benchmark table. Every op, forward and backward (from the
// input, and from the output where the op has it), float32 and bfloat16 (float16 too on a GPU),
// at a few sizes, through the public API, with elements/s and bytes/s (bytes each call must move:
// 2n elements forward, 3n backward). On a machine with a GPU it times the CUDA backend with CUDA
// events and also reports % of a device-to-device copy of the same bytes measured in the same
// run; without one it times the CPU reference path and says so.
//
//   actk_bench [--cpu] [--sizes=4096,65536] [google-benchmark flags, e.g. --benchmark_filter=gelu]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actk/actk.h"

#if defined(ACTK_BENCH_CUDA)
#include <cuda_runtime.h>
#endif

namespace {

using actk::Backend;
using actk::DType;
using actk::From;
using actk::Op;

struct Case {
  Op op;
  int dir;  // 0 forward, 1 backward from x, 2 backward from y
  DType dtype;
  std::int64_t n;
};

const char* dir_name(int d) { return d == 0 ? "forward" : d == 1 ? "backward_x" : "backward_y"; }

std::vector<unsigned char> host_data(DType dt, std::int64_t n, unsigned seed) {
  std::vector<unsigned char> v(static_cast<std::size_t>(n) * actk::dtype_size(dt));
  std::uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
  for (std::int64_t i = 0; i < n; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const double x = -4.0 + 8.0 * static_cast<double>(s >> 11) * 0x1.0p-53;  // [-4, 4)
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

void call(const Case& c, const void* x, const void* dy, void* out, Backend be) {
  if (c.dir == 0) actk::forward(c.op, c.dtype, x, out, c.n, {}, be);
  else actk::backward(c.op, c.dtype, c.dir == 1 ? From::input : From::output, x, dy, out, c.n, {}, be);
}

std::int64_t bytes_moved(const Case& c) {
  return c.n * static_cast<std::int64_t>(actk::dtype_size(c.dtype)) * (c.dir == 0 ? 2 : 3);
}

void bench_cpu(benchmark::State& st, Case c) {
  const auto x = host_data(c.dtype, c.n, 1), dy = host_data(c.dtype, c.n, 2);
  std::vector<unsigned char> out(x.size());
  if (c.dir == 2) call(Case{c.op, 0, c.dtype, c.n}, x.data(), nullptr, out.data(), Backend::cpu);  // y = f(x)
  const void* in = c.dir == 2 ? static_cast<const void*>(out.data()) : x.data();
  std::vector<unsigned char> res(x.size());
  for (auto _ : st) {
    call(c, in, dy.data(), res.data(), Backend::cpu);
    benchmark::DoNotOptimize(res.data());
    benchmark::ClobberMemory();
  }
  st.SetItemsProcessed(st.iterations() * c.n);
  st.SetBytesProcessed(st.iterations() * bytes_moved(c));
}

#if defined(ACTK_BENCH_CUDA)
#define CK(e)                                                                          \
  do {                                                                                 \
    cudaError_t err_ = (e);                                                            \
    if (err_ != cudaSuccess) {                                                         \
      std::fprintf(stderr, "%s failed: %s\n", #e, cudaGetErrorString(err_));           \
      std::exit(1);                                                                    \
    }                                                                                  \
  } while (0)

std::map<std::int64_t, double> g_copy_bw;  // bytes -> device-to-device copy bytes/s, same run

double copy_bandwidth(std::int64_t bytes) {
  auto it = g_copy_bw.find(bytes);
  if (it != g_copy_bw.end()) return it->second;
  void *a, *b;
  CK(cudaMalloc(&a, static_cast<std::size_t>(bytes / 2)));
  CK(cudaMalloc(&b, static_cast<std::size_t>(bytes / 2)));
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  CK(cudaMemcpy(b, a, static_cast<std::size_t>(bytes / 2), cudaMemcpyDeviceToDevice));  // warm-up
  float best = 1e30f;
  for (int r = 0; r < 20; ++r) {
    CK(cudaEventRecord(e0));
    CK(cudaMemcpyAsync(b, a, static_cast<std::size_t>(bytes / 2), cudaMemcpyDeviceToDevice));
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    if (ms < best) best = ms;
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  cudaFree(a);
  cudaFree(b);
  // a copy of bytes/2 moves bytes (read + write)
  return g_copy_bw[bytes] = static_cast<double>(bytes) / (static_cast<double>(best) * 1e-3);
}

/// Device buffers reused across benchmarks (grown as needed), so a run of ~1,500 cases does
/// not spend its time in cudaMalloc.
void* device_buffer(int which, std::size_t bytes) {
  static void* buf[3] = {nullptr, nullptr, nullptr};
  static std::size_t cap[3] = {0, 0, 0};
  if (cap[which] < bytes) {
    if (buf[which]) CK(cudaFree(buf[which]));
    CK(cudaMalloc(&buf[which], bytes));
    cap[which] = bytes;
  }
  return buf[which];
}

/// Fills n elements of x-like data by tiling a host block of up to 2^20 distinct values.
void fill(void* dst, DType dt, std::int64_t n, unsigned seed) {
  const std::int64_t tile = n < (1 << 20) ? n : (1 << 20);
  const auto h = host_data(dt, tile, seed);
  const std::size_t es = actk::dtype_size(dt);
  for (std::int64_t off = 0; off < n; off += tile) {
    const std::int64_t len = n - off < tile ? n - off : tile;
    CK(cudaMemcpy(static_cast<char*>(dst) + static_cast<std::size_t>(off) * es, h.data(), static_cast<std::size_t>(len) * es,
                  cudaMemcpyHostToDevice));
  }
}

void bench_gpu(benchmark::State& st, Case c) {
  const std::size_t sz = static_cast<std::size_t>(c.n) * actk::dtype_size(c.dtype);
  void* x = device_buffer(0, sz);
  void* dy = device_buffer(1, sz);
  void* out = device_buffer(2, sz);
  fill(x, c.dtype, c.n, 1);
  fill(dy, c.dtype, c.n, 2);
  if (c.dir == 2) {  // backward from y: y = f(x) first
    call(Case{c.op, 0, c.dtype, c.n}, x, nullptr, out, Backend::cuda);
    CK(cudaMemcpy(x, out, sz, cudaMemcpyDeviceToDevice));
  }
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  call(c, x, dy, out, Backend::cuda);  // warm-up
  CK(cudaDeviceSynchronize());
  double total_s = 0;
  for (auto _ : st) {
    CK(cudaEventRecord(e0));
    call(c, x, dy, out, Backend::cuda);
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    st.SetIterationTime(static_cast<double>(ms) * 1e-3);
    total_s += static_cast<double>(ms) * 1e-3;
  }
  st.SetItemsProcessed(st.iterations() * c.n);
  st.SetBytesProcessed(st.iterations() * bytes_moved(c));
  // bandwidth from the CUDA-event times themselves (not the library's rate counters)
  const double copy = copy_bandwidth(bytes_moved(c));
  const double bw = static_cast<double>(bytes_moved(c)) * static_cast<double>(st.iterations()) / total_s;
  st.counters["GBps"] = bw * 1e-9;
  st.counters["copy_GBps"] = copy * 1e-9;
  st.counters["pct_of_copy"] = 100.0 * bw / copy;
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
}
#endif

// ---- softmax: a sweep of row lengths at a fixed total size ----------------------------------------
struct SoftmaxCase {
  DType dtype;
  bool backward, log;
  std::int64_t rows, cols;
};

void softmax_call(const SoftmaxCase& c, const void* in, const void* dy, void* out, Backend be) {
  const unsigned f = c.log ? actk::softmax_log : 0u;
  if (c.backward) actk::softmax_backward(c.dtype, in, dy, out, c.rows, c.cols, 1, f, be);
  else actk::softmax_forward(c.dtype, in, out, c.rows, c.cols, 1, f, be);
}

std::int64_t softmax_bytes(const SoftmaxCase& c) {
  return c.rows * c.cols * static_cast<std::int64_t>(actk::dtype_size(c.dtype)) * (c.backward ? 3 : 2);
}

void bench_softmax_cpu(benchmark::State& st, SoftmaxCase c) {
  const std::int64_t n = c.rows * c.cols;
  const auto x = host_data(c.dtype, n, 1), dy = host_data(c.dtype, n, 2);
  std::vector<unsigned char> y(x.size()), out(x.size());
  softmax_call(SoftmaxCase{c.dtype, false, c.log, c.rows, c.cols}, x.data(), nullptr, y.data(), Backend::cpu);
  for (auto _ : st) {
    softmax_call(c, c.backward ? y.data() : x.data(), dy.data(), out.data(), Backend::cpu);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetItemsProcessed(st.iterations() * n);
  st.SetBytesProcessed(st.iterations() * softmax_bytes(c));
}

#if defined(ACTK_BENCH_CUDA)
void bench_softmax_gpu(benchmark::State& st, SoftmaxCase c) {
  const std::int64_t n = c.rows * c.cols;
  const std::size_t sz = static_cast<std::size_t>(n) * actk::dtype_size(c.dtype);
  void* x = device_buffer(0, sz);
  void* dy = device_buffer(1, sz);
  void* out = device_buffer(2, sz);
  fill(x, c.dtype, n, 1);
  fill(dy, c.dtype, n, 2);
  if (c.backward) {  // the backward reads y = softmax(x)
    softmax_call(SoftmaxCase{c.dtype, false, c.log, c.rows, c.cols}, x, nullptr, out, Backend::cuda);
    CK(cudaMemcpy(x, out, sz, cudaMemcpyDeviceToDevice));
  }
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  softmax_call(c, x, dy, out, Backend::cuda);  // warm-up
  CK(cudaDeviceSynchronize());
  double total_s = 0;
  for (auto _ : st) {
    CK(cudaEventRecord(e0));
    softmax_call(c, x, dy, out, Backend::cuda);
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    st.SetIterationTime(static_cast<double>(ms) * 1e-3);
    total_s += static_cast<double>(ms) * 1e-3;
  }
  st.SetItemsProcessed(st.iterations() * n);
  st.SetBytesProcessed(st.iterations() * softmax_bytes(c));
  const double copy = copy_bandwidth(softmax_bytes(c));
  const double bw = static_cast<double>(softmax_bytes(c)) * static_cast<double>(st.iterations()) / total_s;
  st.counters["GBps"] = bw * 1e-9;
  st.counters["copy_GBps"] = copy * 1e-9;
  st.counters["pct_of_copy"] = 100.0 * bw / copy;
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
}
#endif

/// Row lengths 32..262144 (powers of two, plus the neighbours of the path switches) at rows * cols
/// = total; the rows are named "<dir>/<dtype>/cols=<cols>".
void register_softmax(bool gpu, std::int64_t total, std::int64_t max_cols) {
  std::vector<std::int64_t> cols;
  for (std::int64_t c = 32; c <= max_cols; c *= 2) cols.push_back(c);
  for (std::int64_t c : {1056, 2176, 4224, 49152, 57344})
    if (c <= max_cols) cols.push_back(c);
  std::sort(cols.begin(), cols.end());
  for (bool log : {false, true})
    for (bool bwd : {false, true})
      for (DType dt : {DType::float32, DType::bfloat16})
        for (std::int64_t c : cols) {
          const SoftmaxCase sc{dt, bwd, log, total / c, c};
          const std::string name = std::string(gpu ? "gpu/" : "cpu/") + (log ? "log_softmax/" : "softmax/") +
                                   (bwd ? "backward/" : "forward/") + actk::dtype_name(dt) + "/cols=" + std::to_string(c);
#if defined(ACTK_BENCH_CUDA)
          if (gpu) {
            benchmark::RegisterBenchmark(name.c_str(), bench_softmax_gpu, sc)->UseManualTime()->Unit(benchmark::kMicrosecond);
            continue;
          }
#endif
          benchmark::RegisterBenchmark(name.c_str(), bench_softmax_cpu, sc)->Unit(benchmark::kMicrosecond);
        }
}

std::vector<std::int64_t> parse_sizes(const char* s) {
  std::vector<std::int64_t> v;
  while (s && *s) {
    v.push_back(std::strtoll(s, nullptr, 10));
    s = std::strchr(s, ',');
    if (s) ++s;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  bool force_cpu = false;
  std::vector<std::int64_t> sizes;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--cpu") == 0) force_cpu = true;
    else if (std::strncmp(argv[i], "--sizes=", 8) == 0) sizes = parse_sizes(argv[i] + 8);
    else rest.push_back(argv[i]);
  }
  int rest_argc = static_cast<int>(rest.size());
  const bool gpu = !force_cpu && actk::cuda_available();
#if defined(ACTK_BENCH_CUDA)
  if (gpu) {
    cudaDeviceProp prop{};
    CK(cudaGetDeviceProperties(&prop, 0));
    std::printf("actk %s benchmark: CUDA backend on %s (sm_%d%d), timed with CUDA events; pct_of_copy = %% of a "
                "device-to-device copy of the same bytes in this run\n",
                actk::version(), prop.name, prop.major, prop.minor);
  }
#endif
  if (!gpu)
    std::printf("actk %s benchmark: CPU reference path (%s); the GPU table needs a machine with an NVIDIA GPU and a "
                "CUDA build\n",
                actk::version(), actk::cuda_available() ? "--cpu given" : "no usable GPU here");
  if (sizes.empty()) sizes = gpu ? std::vector<std::int64_t>{1 << 12, 1 << 16, 1 << 20, 1 << 24, 1 << 26, 1 << 28}
                                 : std::vector<std::int64_t>{1 << 12, 1 << 16, 1 << 20};
  const std::vector<DType> dtypes =
      gpu ? std::vector<DType>{DType::float32, DType::bfloat16, DType::float16} : std::vector<DType>{DType::float32, DType::bfloat16};
  for (int i = 0; i < actk::op_count; ++i) {
    const actk::OpInfo& info = actk::op_table()[i];
    for (int dir = 0; dir < 3; ++dir) {
      if (dir == 2 && !info.has_backward_from_output) continue;
      for (DType dt : dtypes)
        for (std::int64_t n : sizes) {
          const Case c{info.op, dir, dt, n};
          const std::string name = std::string(gpu ? "gpu/" : "cpu/") + info.name + "/" + dir_name(dir) + "/" +
                                   actk::dtype_name(dt) + "/" + std::to_string(n);
#if defined(ACTK_BENCH_CUDA)
          if (gpu) {
            benchmark::RegisterBenchmark(name.c_str(), bench_gpu, c)->UseManualTime()->Unit(benchmark::kMicrosecond);
            continue;
          }
#endif
          benchmark::RegisterBenchmark(name.c_str(), bench_cpu, c)->Unit(benchmark::kMicrosecond);
        }
    }
  }
  if (gpu) register_softmax(true, std::int64_t{1} << 26, 262144);
  else register_softmax(false, std::int64_t{1} << 20, 65536);
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
