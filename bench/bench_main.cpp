// bench/bench_main.cpp: the main job's benchmark table. Every op, forward and backward (from the
// input, and from the output where the op has it), float32 and bfloat16 (float16 too on a GPU),
// at a few sizes, through the public API, with elements/s and bytes/s (bytes each call must move:
// 2n elements forward, 3n backward). On a machine with a GPU it times the CUDA backend with CUDA
// events and also reports % of a device-to-device copy of the same bytes measured in the same
// run; without one it times the CPU reference path and says so.
//
//   actk_bench [--cpu] [--sizes=4096,65536] [--dtypes=float32,bfloat16] [google-benchmark flags, e.g.
//              --benchmark_filter=gelu]
//   actk_bench --env   the GPU's name, SMs, L2, clocks, driver/runtime, and the device-to-device copy
//                      bandwidth at 2^26 float32 elements; exits 1 without a usable GPU
// On a GPU the softmax sweep runs at each total of 2^26 and 2^28 elements that --sizes lists.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <functional>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actk/actk.h"
#include "bench_util.h"
#include "compare_json.h"


using namespace actk_bench;

namespace actk_bench {
void register_gpu_peers(const std::vector<std::int64_t>& sizes);               // bench_peers.cu
void register_cudnn(const std::vector<std::int64_t>& sizes, std::int64_t total);  // bench_cudnn.cpp
}  // namespace actk_bench

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
  time_gpu(st, bytes_moved(c), c.n, [&] { call(c, x, dy, out, Backend::cuda); });
}
#endif

#if defined(ACTK_BENCH_CUDA)
#define GPU_FN(f) f
#else
#define GPU_FN(f) nullptr
#endif

/// Registers one case on the GPU (manual CUDA-event time) or on the CPU.
template <class C> void register_case(const std::string& name, bool gpu, void (*cpu_fn)(benchmark::State&, C),
                                      void (*gpu_fn)(benchmark::State&, C), const C& c) {
#if defined(ACTK_BENCH_CUDA)
  if (gpu) {
    benchmark::RegisterBenchmark(name.c_str(), gpu_fn, c)->UseManualTime()->Unit(benchmark::kMicrosecond);
    return;
  }
#else
  (void)gpu;
  (void)gpu_fn;
#endif
  benchmark::RegisterBenchmark(name.c_str(), cpu_fn, c)->Unit(benchmark::kMicrosecond);
}

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
  time_gpu(st, softmax_bytes(c), n, [&] { softmax_call(c, x, dy, out, Backend::cuda); });
}
#endif

/// Row lengths 32..max_cols (powers of two, plus the neighbours of the path switches) at rows * cols
/// = total; the rows are named "<gpu|cpu>/<op>/<dir>/<dtype>/cols=<cols>/n=2^<log2 total>".
void register_softmax(bool gpu, std::int64_t total, std::int64_t max_cols) {
  int lg = 0;
  while ((std::int64_t{1} << (lg + 1)) <= total) ++lg;
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
                                   (bwd ? "backward/" : "forward/") + actk::dtype_name(dt) + "/cols=" + std::to_string(c) +
                                   "/n=2^" + std::to_string(lg);
          register_case<SoftmaxCase>(name, gpu, bench_softmax_cpu, GPU_FN(bench_softmax_gpu), sc);
        }
}

/// Fused vs unfused: bias + gelu (bias_act_forward vs bias_act_forward(identity) then forward(gelu))
/// and SwiGLU (gated_forward(silu) vs forward(silu) on the gate then gated_forward(identity)), at
/// n elements; GB/s counts the fused op's bytes (2n forward), so the unfused rows show the cost.
void register_fused(bool gpu, std::int64_t n) {
  for (DType dt : {DType::float32, DType::bfloat16})
    for (int variant = 0; variant < 4; ++variant) {
      const bool swiglu = variant >= 2, fused = variant % 2 == 0;
      const std::string name = std::string(gpu ? "gpu/" : "cpu/") + (swiglu ? "swiglu/" : "bias_gelu/") +
                               (fused ? "fused/" : "unfused/") + actk::dtype_name(dt) + "/" + std::to_string(n);
      auto body = [=](benchmark::State& st) {
        const std::int64_t cols = 4096, rows = n / cols;
        const std::size_t es = actk::dtype_size(dt), sz = static_cast<std::size_t>(n) * es;
        // swiglu reads gate and value ([rows, 2*cols], gate first) and writes y
        std::vector<unsigned char> h = host_data(dt, swiglu ? 2 * n : n, 1), hb = host_data(dt, cols, 2), ho(sz), ht(sz);
        void *in = h.data(), *bias = hb.data(), *out = ho.data(), *tmp = ht.data();
        Backend be = Backend::cpu;
#if defined(ACTK_BENCH_CUDA)
        if (gpu) {
          be = Backend::cuda;
          in = device_buffer(0, swiglu ? 2 * sz : sz);
          bias = device_buffer(1, static_cast<std::size_t>(cols) * es);
          out = device_buffer(2, sz);
          tmp = device_buffer(3, sz);
          fill(in, dt, swiglu ? 2 * n : n, 1);
          fill(bias, dt, cols, 2);
        }
#endif
        // swiglu: gate and value as two [rows, cols] tensors (one buffer), so the unfused path can
        // run silu over the gate alone and then multiply
        auto run = [&] {
          char* gate = static_cast<char*>(in);
          char* value = gate + sz;
          if (!swiglu && fused) actk::bias_act_forward(Op::gelu, dt, in, bias, out, rows, cols, {}, nullptr, be);
          if (!swiglu && !fused) {
            actk::bias_act_forward(Op::identity, dt, in, bias, tmp, rows, cols, {}, nullptr, be);
            actk::forward(Op::gelu, dt, tmp, out, n, {}, be);
          }
          if (swiglu && fused) actk::gated_forward(Op::silu, dt, gate, value, cols, out, rows, cols, {}, be);
          if (swiglu && !fused) {
            actk::forward(Op::silu, dt, gate, tmp, n, {}, be);
            actk::gated_forward(Op::identity, dt, tmp, value, cols, out, rows, cols, {}, be);  // tmp * value
          }
        };
        const std::int64_t bytes = static_cast<std::int64_t>(sz) * (swiglu ? 3 : 2);
#if defined(ACTK_BENCH_CUDA)
        if (gpu) {
          time_gpu(st, bytes, n, run);
          return;
        }
#endif
        for (auto _ : st) run();
        st.SetItemsProcessed(st.iterations() * n);
        st.SetBytesProcessed(st.iterations() * bytes);
      };
      auto* b = benchmark::RegisterBenchmark(name.c_str(), body)->Unit(benchmark::kMicrosecond);
      if (gpu) b->UseManualTime();
    }
}

/// Shapes that each stress one path of the kernels (issue #14's list), so that a GPU run measures
/// every one: PReLU channels-last and channels-first, bias + gelu backward with dbias at 8192 x 1024
/// and 65536 x 64, softmax rows of 1..32 columns, softmax over a middle axis ([1, 32768, 8],
/// [64, 4096, 64]), one softmax row of 2^20, accumulation (beta = 1) forward and backward, and a
/// SwiGLU and bias + gelu with odd cols (the value half starts off a 16-byte boundary). n elements per case (one
/// row of 2^20 and the middle-axis shapes are fixed). Named targeted/<backend>/<case>/<dtype>; GB/s
/// counts the bytes each call must move.
void register_targeted(bool gpu, std::int64_t n) {
  struct T {
    std::string name;
    std::int64_t elems;  // largest buffer, elements
    std::int64_t moved;  // elements each call must move
    std::function<void(DType, Backend, void* const*)> run;
  };
  std::vector<T> cases;
  const std::int64_t C = 64;
  cases.push_back({"prelu_fwd_channels_last_C64", n, 2 * n, [=](DType dt, Backend be, void* const* b) {
                     actk::prelu_forward(dt, b[0], b[3], b[2], n, C, 1, be);
                   }});
  cases.push_back({"prelu_bwd_channels_last_C64", n, 3 * n, [=](DType dt, Backend be, void* const* b) {
                     actk::prelu_backward(dt, b[0], b[1], b[3], b[2], b[4], n, C, 1, be);
                   }});
  cases.push_back({"prelu_fwd_channels_first_C64", n, 2 * n, [=](DType dt, Backend be, void* const* b) {
                     actk::prelu_forward(dt, b[0], b[3], b[2], n, C, n / (C * 16), be);  // [16, 64, n/1024]
                   }});
  cases.push_back({"prelu_bwd_channels_first_C64", n, 3 * n, [=](DType dt, Backend be, void* const* b) {
                     actk::prelu_backward(dt, b[0], b[1], b[3], b[2], b[4], n, C, n / (C * 16), be);
                   }});
  for (std::int64_t cols : {std::int64_t{1024}, std::int64_t{64}}) {
    const std::int64_t rows = n / cols;
    cases.push_back({"bias_gelu_bwd_dbias_" + std::to_string(rows) + "x" + std::to_string(cols), n, 3 * n,
                     [=](DType dt, Backend be, void* const* b) {
                       actk::bias_act_backward(Op::gelu, dt, b[0], b[3], b[1], b[2], b[4], rows, cols, {}, be);
                     }});
  }
  {  // odd cols: the vector body with the bias read per element (a vector may span two rows)
    const std::int64_t cols = 4095, rows = n / 4096;
    cases.push_back({"bias_gelu_fwd_odd_cols_4095", rows * cols, 2 * rows * cols, [=](DType dt, Backend be, void* const* b) {
                       actk::bias_act_forward(Op::gelu, dt, b[0], b[3], b[2], rows, cols, {}, nullptr, be);
                     }});
  }
  for (std::int64_t cols : {1, 2, 4, 8, 16, 24, 32})
    for (bool bwd : {false, true})
      cases.push_back({std::string("softmax_") + (bwd ? "bwd" : "fwd") + "_cols" + std::to_string(cols), n, (bwd ? 3 : 2) * (n / cols * cols),
                       [=](DType dt, Backend be, void* const* b) {
                         if (bwd) actk::softmax_backward(dt, b[0], b[1], b[2], n / cols, cols, 1, 0, be);
                         else actk::softmax_forward(dt, b[0], b[2], n / cols, cols, 1, 0, be);
                       }});
  for (auto [o, a, i] : {std::array<std::int64_t, 3>{1, 32768, 8}, std::array<std::int64_t, 3>{64, 4096, 64}})
    cases.push_back({"softmax_fwd_middle_axis_" + std::to_string(o) + "x" + std::to_string(a) + "x" + std::to_string(i), o * a * i,
                     2 * o * a * i, [=](DType dt, Backend be, void* const* b) { actk::softmax_forward(dt, b[0], b[2], o, a, i, 0, be); }});
  const std::int64_t row = std::int64_t{1} << 20;
  cases.push_back({"softmax_fwd_one_row_2^20", row, 2 * row,
                   [=](DType dt, Backend be, void* const* b) { actk::softmax_forward(dt, b[0], b[2], 1, row, 1, 0, be); }});
  cases.push_back({"softmax_bwd_one_row_2^20", row, 3 * row,
                   [=](DType dt, Backend be, void* const* b) { actk::softmax_backward(dt, b[0], b[1], b[2], 1, row, 1, 0, be); }});
  const actk::Blend acc{1.0, 1.0};
  cases.push_back({"gelu_fwd_accumulate_beta1", n, 3 * n,
                   [=](DType dt, Backend be, void* const* b) { actk::forward(Op::gelu, dt, b[0], b[2], n, {}, be, nullptr, acc); }});
  cases.push_back({"gelu_bwd_accumulate_beta1", n, 4 * n, [=](DType dt, Backend be, void* const* b) {
                     actk::backward(Op::gelu, dt, From::input, b[0], b[1], b[2], n, {}, be, nullptr, acc);
                   }});
  {
    const std::int64_t cols = 4095, rows = n / 4096;
    cases.push_back({"swiglu_fwd_odd_cols_4095", 2 * rows * cols, 3 * rows * cols, [=](DType dt, Backend be, void* const* b) {
                       const char* gate = static_cast<const char*>(b[0]);
                       actk::gated_forward(Op::silu, dt, gate, gate + cols * actk::dtype_size(dt), 2 * cols, b[2], rows, cols, {}, be);
                     }});
    cases.push_back({"swiglu_bwd_odd_cols_4095", 2 * rows * cols, 5 * rows * cols, [=](DType dt, Backend be, void* const* b) {
                       const char* gate = static_cast<const char*>(b[0]);
                       char* dgate = static_cast<char*>(b[2]);
                       const std::size_t off = static_cast<std::size_t>(cols) * actk::dtype_size(dt);
                       actk::gated_backward(Op::silu, dt, gate, gate + off, 2 * cols, b[1], dgate, dgate + off, rows, cols, {}, be);
                     }});
  }
  for (DType dt : {DType::float32, DType::bfloat16})
    for (const T& t : cases) {
      const std::string name = std::string("targeted/") + (gpu ? "gpu/" : "cpu/") + t.name + "/" + actk::dtype_name(dt);
      auto body = [=](benchmark::State& st) {
        const std::size_t es = actk::dtype_size(dt), sz = static_cast<std::size_t>(t.elems) * es;
        std::vector<std::vector<unsigned char>> host;
        void* b[5];
        Backend be = Backend::cpu;
        for (int k = 0; k < 5; ++k) {
          const std::int64_t e = k >= 3 ? 4096 : t.elems;  // alpha/bias and dalpha/dbias: small
#if defined(ACTK_BENCH_CUDA)
          if (gpu) {
            be = Backend::cuda;
            b[k] = device_buffer(k, static_cast<std::size_t>(e) * es);
            fill(b[k], dt, e, static_cast<unsigned>(k + 1));
            continue;
          }
#endif
          host.push_back(host_data(dt, e, static_cast<unsigned>(k + 1)));
          b[k] = host.back().data();
        }
        (void)sz;
        const std::int64_t bytes = t.moved * static_cast<std::int64_t>(es);
#if defined(ACTK_BENCH_CUDA)
        if (gpu) {
          time_gpu(st, bytes, t.moved, [&] { t.run(dt, be, b); });
          return;
        }
#endif
        for (auto _ : st) t.run(dt, be, b);
        st.SetItemsProcessed(st.iterations() * t.moved);
        st.SetBytesProcessed(st.iterations() * bytes);
      };
      auto* r = benchmark::RegisterBenchmark(name.c_str(), body)->Unit(benchmark::kMicrosecond);
      if (gpu) r->UseManualTime();
    }
}

/// Times run() for a benchmark that moves `moved` elements of `es` bytes per call: CUDA events on
/// the GPU (manual time), the wall clock on the CPU.
template <class F> void time_call(benchmark::State& st, bool gpu, std::int64_t moved, std::int64_t es, F&& run) {
#if defined(ACTK_BENCH_CUDA)
  if (gpu) {
    time_gpu(st, moved * es, moved, run);
    return;
  }
#else
  (void)gpu;
#endif
  for (auto _ : st) run();
  st.SetItemsProcessed(st.iterations() * moved);
  st.SetBytesProcessed(st.iterations() * moved * es);
}

/// Cross-entropy forward (loss, mean, and lse) and backward (from lse, in place over the logits)
/// at issue #17's shapes on the GPU (4096 x 32000, 4096 x 128256, 1024 x 262144) and at n elements
/// of the same vocabularies on the CPU. Named targeted/<backend>/cross_entropy_<fwd|bwd>_<rows>x<vocab>/<dtype>
/// (they join the summary's targeted table);
/// GB/s counts the logits read (and the gradient written): one transfer forward, two backward.
void register_cross_entropy(bool gpu, std::int64_t n) {
  const std::int64_t shapes[3][2] = {{4096, 32000}, {4096, 128256}, {1024, 262144}};
  for (DType dt : {DType::bfloat16, DType::float32})
    for (const auto& sh : shapes)
      for (bool bwd : {false, true}) {
        const std::int64_t vocab = sh[1], rows = gpu ? sh[0] : std::max<std::int64_t>(1, n / vocab);
        const std::string name = std::string("targeted/") + (gpu ? "gpu/" : "cpu/") + "cross_entropy_" + (bwd ? "bwd_" : "fwd_") +
                                 std::to_string(rows) + "x" + std::to_string(vocab) + "/" + actk::dtype_name(dt);
        auto body = [=](benchmark::State& st) {
          const std::size_t es = actk::dtype_size(dt), nl = static_cast<std::size_t>(rows * vocab);
          std::vector<std::int32_t> t(static_cast<std::size_t>(rows));
          for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<std::int32_t>((i * 7919) % static_cast<std::size_t>(vocab));
          std::vector<unsigned char> hx = host_data(dt, static_cast<std::int64_t>(nl), 1), hl = host_data(dt, 1, 2);
          std::vector<float> hlse(static_cast<std::size_t>(rows));
          void *x = hx.data(), *loss = hl.data(), *tg = t.data();
          float* lse = hlse.data();
          Backend be = Backend::cpu;
#if defined(ACTK_BENCH_CUDA)
          if (gpu) {
            be = Backend::cuda;
            x = device_buffer(0, nl * es);
            fill(x, dt, static_cast<std::int64_t>(nl), 1);
            tg = device_buffer(1, t.size() * 4);
            CK(cudaMemcpy(tg, t.data(), t.size() * 4, cudaMemcpyHostToDevice));
            loss = device_buffer(2, 16);
            fill(loss, dt, 1, 2);
            lse = static_cast<float*>(device_buffer(3, hlse.size() * 4));
          }
#endif
          actk::CrossEntropyOptions o;
          actk::cross_entropy_forward(dt, x, actk::IndexType::int32, tg, loss, lse, rows, vocab, o, be);  // lse for the backward
          const std::int64_t moved = static_cast<std::int64_t>(nl) * (bwd ? 2 : 1);
          auto run = [&] {
            if (bwd) actk::cross_entropy_backward(dt, x, actk::IndexType::int32, tg, loss, lse, x, rows, vocab, o, be);
            else actk::cross_entropy_forward(dt, x, actk::IndexType::int32, tg, loss, lse, rows, vocab, o, be);
          };
          time_call(st, gpu, moved, static_cast<std::int64_t>(es), run);
        };
        auto* r = benchmark::RegisterBenchmark(name.c_str(), body)->Unit(benchmark::kMicrosecond);
        if (gpu) r->UseManualTime();
      }
}

/// Host overhead: calls per second on tiny tensors through the C++ API and the C ABI (relu
/// forward), on the GPU's buffers when there is one (the launch is asynchronous: this is the host
/// cost per call, to set beside overhead/bare_kernel_launch) or on the CPU path.
void register_overhead(bool gpu) {
  for (std::int64_t n : {std::int64_t{1}, std::int64_t{64}, std::int64_t{4096}})
    for (bool c_abi : {false, true}) {
      const std::string name = std::string("overhead/") + (c_abi ? "c_abi" : "cpp") + "/relu/" + (gpu ? "gpu/" : "cpu/") + std::to_string(n);
      benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) {
        void* x;
        void* y;
        std::vector<float> hx(static_cast<std::size_t>(n), 0.5f), hy(static_cast<std::size_t>(n));
        x = hx.data();
        y = hy.data();
#if defined(ACTK_BENCH_CUDA)
        if (gpu) {
          x = device_buffer(0, static_cast<std::size_t>(n) * 4);
          y = device_buffer(1, static_cast<std::size_t>(n) * 4);
        }
#endif
        for (auto _ : st) {
          if (c_abi) actk_forward(static_cast<int>(Op::relu), nullptr, ACTK_FLOAT32, x, y, n, ACTK_BACKEND_AUTO, nullptr);
          else actk::forward(Op::relu, DType::float32, x, y, n);
        }
#if defined(ACTK_BENCH_CUDA)
        if (gpu) CK(cudaDeviceSynchronize());
#endif
        st.SetItemsProcessed(st.iterations());
      })->Unit(benchmark::kMicrosecond);
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

#if defined(ACTK_BENCH_CUDA)
int print_env() {
  if (!actk::cuda_available()) {
    std::printf("actk_bench --env: no usable GPU here\n");
    return 1;
  }
  int dev = 0, drv = 0, rt = 0;
  CK(cudaGetDevice(&dev));
  cudaDeviceProp p{};
  CK(cudaGetDeviceProperties(&p, dev));
  CK(cudaDriverGetVersion(&drv));
  CK(cudaRuntimeGetVersion(&rt));
  int clock_khz = 0, mem_khz = 0, bus = 0;
  cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, dev);
  cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, dev);
  cudaDeviceGetAttribute(&bus, cudaDevAttrGlobalMemoryBusWidth, dev);
  std::printf("gpu: %s (sm_%d%d)\n", p.name, p.major, p.minor);
  std::printf("sms: %d\nl2_bytes: %d\nglobal_mem_gib: %.1f\nsm_clock_mhz: %d\nmem_clock_mhz: %d\nmem_bus_bits: %d\n",
              p.multiProcessorCount, p.l2CacheSize, static_cast<double>(p.totalGlobalMem) / (1u << 30), clock_khz / 1000,
              mem_khz / 1000, bus);
  std::printf("driver_api: %d\nruntime_api: %d\n", drv, rt);
  const std::int64_t bytes = std::int64_t{1} << 29;  // 2^26 float32 elements read + written
  std::printf("copy_GBps_2^26_f32: %.0f (device-to-device cudaMemcpyAsync, best of 20, cold L2, bytes read + written)\n",
              copy_bandwidth(bytes) * 1e-9);
  return 0;
}
#endif

/// The rest of a Markdown table's header: the column names after the first cell, then the rule.
void print_header_columns(const std::vector<std::string>& columns) {
  for (const auto& c : columns) std::printf(" %s |", c.c_str());
  std::printf("\n|---|");
  for (std::size_t i = 0; i < columns.size(); ++i) std::printf("---|");
  std::printf("\n");
}

/// The console output, then a summary: the main job ends like a report, not 600 raw rows. Per op,
/// GB/s (CPU) or % of the device-to-device copy (GPU) for each dtype and direction at the largest
/// size measured; softmax and log-softmax by row length; the fused ops against their unfused pair.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  /// compare_torch.py's results to print PyTorch's ratio from (empty: none found; `why` says).
  void set_compare(std::string path, std::string why) { compare_ = std::move(path), compare_why_ = std::move(why); }

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration || r.error_occurred) continue;
      std::string name = r.benchmark_name();
      const std::size_t mt = name.find("/manual_time");
      if (mt != std::string::npos) name.erase(mt);
      const auto pct = r.counters.find("pct_of_copy");
      const auto gb = r.counters.find("GBps");
      const auto bps = r.counters.find("bytes_per_second");
      if (pct != r.counters.end()) gpu_ = true;
      const double v = pct != r.counters.end() ? pct->second.value
                       : gb != r.counters.end() ? gb->second.value
                       : bps != r.counters.end() ? bps->second.value * 1e-9
                                                 : -1.0;
      if (v >= 0) results_.emplace_back(name, v);
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    // name = backend/op/direction/dtype/n, or backend/op/direction/dtype/cols=C/n=2^k (softmax),
    // or backend/op/fused|unfused/dtype/n
    std::map<std::string, std::map<std::string, std::pair<long long, double>>> table;  // op -> column -> (n, value)
    std::map<std::string, std::map<std::string, double>> sm;                           // cols -> column -> value
    std::map<std::string, std::map<std::string, double>> tg;                           // targeted case -> dtype -> value
    std::vector<std::string> columns, sm_columns, tg_columns, tg_order;
    auto add_col = [](std::vector<std::string>& cols, const std::string& c) {
      if (std::find(cols.begin(), cols.end(), c) == cols.end()) cols.push_back(c);
    };
    for (const auto& [name, v] : results_) {
      std::vector<std::string> f;
      for (std::size_t a = 0, b; a <= name.size(); a = b + 1) {
        b = name.find('/', a);
        if (b == std::string::npos) b = name.size();
        f.push_back(name.substr(a, b - a));
      }
      if (f.size() == 4 && f[0] == "targeted") {
        add_col(tg_columns, f[3]);
        if (tg.find(f[2]) == tg.end()) tg_order.push_back(f[2]);
        tg[f[2]][f[3]] = v;
        continue;
      }
      if (f.size() < 5 || (f[0] != "cpu" && f[0] != "gpu")) continue;  // peers and overhead rows stay above
      const std::string dir = f[2] == "backward_x" ? "bwd(x)"
                              : f[2] == "backward_y" ? "bwd(y)"
                              : f[2] == "backward"   ? "bwd"
                              : f[2] == "forward"    ? "fwd"
                                                     : f[2];
      if (f[4].rfind("cols=", 0) == 0) {
        const std::string col = std::string(f[1] == "log_softmax" ? "log " : "") + f[3] + " " + dir;
        add_col(sm_columns, col);
        sm[f[4].substr(5) + (f.size() > 5 ? " " + f[5] : "")][col] = v;
        continue;
      }
      const std::string col = f[3] + " " + dir;
      add_col(columns, col);
      const long long n = std::atoll(f[4].c_str());
      auto& cell = table[f[1]][col];
      if (n >= cell.first) cell = {n, v};
    }
    if (table.empty() && sm.empty() && tg.empty()) return;
    // columns grouped by dtype, then direction
    auto rank = [](const std::string& c) {
      static const char* order[] = {"float32", "bfloat16", "float16", "float64", "fwd", "bwd", "bwd(x)", "bwd(y)", "fused", "unfused"};
      int r = 0;
      for (int i = 0; i < 10; ++i)
        if (c.find(order[i]) != std::string::npos) r += i < 4 ? 100 * (i + 1) : i;
      return r + (c.rfind("log ", 0) == 0 ? 1000 : 0);
    };
    auto by_rank = [&](const std::string& a, const std::string& b) { return rank(a) < rank(b); };
    std::stable_sort(columns.begin(), columns.end(), by_rank);
    std::stable_sort(sm_columns.begin(), sm_columns.end(), by_rank);
    const char* unit = gpu_ ? "% of the device-to-device copy of the same bytes" : "GB/s of the bytes each call must move";
    std::printf("\nSummary (%s; %s, at the largest size run):\n", gpu_ ? "GPU" : "CPU reference path", unit);
    if (!table.empty()) {
      std::printf("\n| op |");
      print_header_columns(columns);
    }
    for (const auto& [op, cells] : table) {
      std::printf("| %s |", op.c_str());
      for (const auto& c : columns) {
        const auto it = cells.find(c);
        if (it == cells.end()) std::printf(" |");
        else std::printf(" %.1f |", it->second.second);
      }
      std::printf("\n");
    }
    if (!sm.empty()) {
      std::printf("\nSoftmax by row length (%s):\n\n| cols |", gpu_ ? "% of copy" : "GB/s");
      print_header_columns(sm_columns);
      std::vector<std::pair<long long, std::string>> rows;
      for (const auto& kv : sm) rows.emplace_back(std::atoll(kv.first.c_str()), kv.first);
      std::sort(rows.begin(), rows.end());
      for (const auto& [cols, key] : rows) {
        std::printf("| %s |", key.c_str());
        for (const auto& c : sm_columns) {
          const auto it = sm[key].find(c);
          if (it == sm[key].end()) std::printf(" |");
          else std::printf(" %.1f |", it->second);
        }
        std::printf("\n");
      }
    }
    if (!tg.empty()) {
      std::printf("\nTargeted cases (%s):\n\n| case |", gpu_ ? "% of copy" : "GB/s");
      print_header_columns(tg_columns);
      for (const auto& key : tg_order) {
        std::printf("| %s |", key.c_str());
        for (const auto& c : tg_columns) {
          const auto it = tg[key].find(c);
          if (it == tg[key].end()) std::printf(" |");
          else std::printf(" %.1f |", it->second);
        }
        std::printf("\n");
      }
    }
    print_torch_ratio();
  }

 private:
  /// PyTorch's ratio where bench/compare_torch.py has run (issue #18): torch time / actk time for
  /// each of its cases, both measured in that one run (not against this run's GB/s), at the
  /// largest size per case; then the minimum.
  void print_torch_ratio() const {
    if (compare_.empty()) {
      std::printf("\nPyTorch ratio: %s\n", compare_why_.c_str());
      return;
    }
    actk_bench::Json j;
    std::string err;
    if (!actk_bench::read_json(compare_, j, err)) {
      std::printf("\nPyTorch ratio: %s\n", err.c_str());
      return;
    }
    const actk_bench::Json* meta = j.get("meta");
    const actk_bench::Json* results = j.get("results");
    if (!meta || !results || results->kind != actk_bench::Json::Kind::array) {
      std::printf("\nPyTorch ratio: %s is not compare_torch.py's output\n", compare_.c_str());
      return;
    }
    std::map<std::string, std::map<std::string, std::pair<double, double>>> table;  // case -> column -> (n, ratio)
    std::vector<std::string> columns, order;
    double worst = HUGE_VAL;
    std::string worst_case;
    for (const actk_bench::Json& r : results->arr) {
      const double a = r.number("actk_GBps"), t = r.number("torch_GBps"), n = r.number("n"), rows = r.number("rows");
      if (!(a > 0) || !(t > 0)) continue;  // PyTorch has no such kernel (or it failed): no ratio
      const std::string op = r.text("op"), dir = r.text("direction") == "forward" ? "fwd" : "bwd";
      const bool sm = op == "softmax" || op == "log_softmax";
      const std::string key = sm ? op + " " + std::to_string(static_cast<long long>(r.number("cols")))
                              : rows > 1 ? op + " " + std::to_string(static_cast<long long>(rows)) + "x" +
                                               std::to_string(static_cast<long long>(r.number("cols")))
                                         : op;
      const std::string col = r.text("dtype") + " " + dir;
      if (std::find(columns.begin(), columns.end(), col) == columns.end()) columns.push_back(col);
      if (table.find(key) == table.end()) order.push_back(key);
      auto& cell = table[key][col];
      if (n >= cell.first) cell = {n, a / t};  // same bytes: the GB/s ratio is torch time / actk time
    }
    if (table.empty()) {
      std::printf("\nPyTorch ratio: %s has no case both ran\n", compare_.c_str());
      return;
    }
    std::printf("\nPyTorch ratio (torch time / actk time, both measured by bench/compare_torch.py in one run: %s; %s, "
                "PyTorch %s, actk commit %s; largest size per case):\n\n| case |",
                compare_.c_str(), meta->text("date").c_str(), meta->text("torch").c_str(), meta->text("commit").c_str());
    print_header_columns(columns);
    for (const auto& key : order) {
      std::printf("| %s |", key.c_str());
      for (const auto& c : columns) {
        const auto it = table.at(key).find(c);
        if (it == table.at(key).end()) {
          std::printf(" |");
          continue;
        }
        std::printf(" %.2f |", it->second.second);
        if (it->second.second < worst) worst = it->second.second, worst_case = key + " " + c;
      }
      std::printf("\n");
    }
    std::printf("\nminimum %.2fx (%s)\n", worst, worst_case.c_str());
  }

  std::vector<std::pair<std::string, double>> results_;
  bool gpu_ = false;
  std::string compare_, compare_why_;
};

std::vector<DType> parse_dtypes(const char* s) {
  std::vector<DType> v;
  // names separated by commas; "float16" must not match inside "bfloat16"
  const std::string list = std::string(",") + s + ",";
  for (DType d : {DType::float32, DType::bfloat16, DType::float16, DType::float64})
    if (list.find(std::string(",") + actk::dtype_name(d) + ",") != std::string::npos) v.push_back(d);
  return v;
}

/// Attention-style softmax at issue #17's [8, 16, 2048, 2048] in bfloat16 on the GPU ([1, 1, 512,
/// 2048]: 2^20 elements on the CPU): forward causal, forward with an additive [q, k] mask (the
/// x's dtype, broadcast over batch and heads), forward with a keep mask [batch, 1, 1, k] (key
/// padding), and the backward. Named targeted/<backend>/attention_<case>_<b>x<h>x<q>x<k>/bfloat16;
/// GB/s counts x read and y written (forward; a causal row reads only up to its limit, so its
/// figure can pass the copy's), y and dy read and dx written (backward); masks are not counted.
void register_attention(bool gpu) {
  const std::int64_t B = gpu ? 8 : 1, H = gpu ? 16 : 1, Q = gpu ? 2048 : 512, K = 2048;
  const DType dt = DType::bfloat16;
  for (const char* kase : {"fwd_causal", "fwd_additive_qk", "fwd_keep_b11k", "bwd"}) {
    const std::string name = std::string("targeted/") + (gpu ? "gpu/" : "cpu/") + "attention_" + kase + "_" + std::to_string(B) +
                             "x" + std::to_string(H) + "x" + std::to_string(Q) + "x" + std::to_string(K) + "/bfloat16";
    const std::string k(kase);
    auto body = [=](benchmark::State& st) {
      const std::int64_t n = B * H * Q * K;
      const std::size_t es = actk::dtype_size(dt);
      std::vector<unsigned char> hx = host_data(dt, n, 1), hy = host_data(dt, n, 2), hm = host_data(dt, Q * K, 3);
      std::vector<unsigned char> hkeep(static_cast<std::size_t>(B * K));
      for (std::size_t i = 0; i < hkeep.size(); ++i) hkeep[i] = (i % K) < static_cast<std::size_t>(K - K / 8);  // the last eighth padded
      void *x = hx.data(), *y = hy.data(), *mask = hm.data(), *keep = hkeep.data();
      Backend be = Backend::cpu;
#if defined(ACTK_BENCH_CUDA)
      if (gpu) {
        be = Backend::cuda;
        x = device_buffer(0, static_cast<std::size_t>(n) * es);
        fill(x, dt, n, 1);
        y = device_buffer(1, static_cast<std::size_t>(n) * es);
        fill(y, dt, n, 2);
        mask = device_buffer(2, static_cast<std::size_t>(Q * K) * es);
        fill(mask, dt, Q * K, 3);
        keep = device_buffer(3, hkeep.size());
        CK(cudaMemcpy(keep, hkeep.data(), hkeep.size(), cudaMemcpyHostToDevice));
      }
#endif
      actk::AttentionSoftmaxOptions o;
      o.scale = 0.088;  // 1 / sqrt(128)
      if (k == "fwd_causal") o.causal = true;
      if (k == "fwd_additive_qk") o.mask_type = actk::MaskType::additive, o.mask = mask, o.mask_batch = 1, o.mask_heads = 1;
      if (k == "fwd_keep_b11k") o.mask_type = actk::MaskType::keep, o.mask = keep, o.mask_heads = 1, o.mask_q = 1;
      const bool bwd = k == "bwd";
      if (bwd) actk::attention_softmax_forward(dt, x, y, B, H, Q, K, o, be);  // a real softmax output to go back from
      const std::int64_t moved = n * (bwd ? 3 : 2);
      auto run = [&] {
        if (bwd) actk::attention_softmax_backward(dt, y, x, x, B, H, Q, K, o.scale, 0, be);  // dx over dy
        else actk::attention_softmax_forward(dt, x, y, B, H, Q, K, o, be);
      };
      time_call(st, gpu, moved, static_cast<std::int64_t>(es), run);
    };
    auto* r = benchmark::RegisterBenchmark(name.c_str(), body)->Unit(benchmark::kMicrosecond);
    if (gpu) r->UseManualTime();
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool force_cpu = false;
  std::vector<DType> only_dtypes;
  std::vector<std::int64_t> sizes;
  std::vector<char*> rest;
  const char* compare = nullptr;  // --compare=PATH | --compare=none
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--cpu") == 0) force_cpu = true;
    else if (std::strncmp(argv[i], "--compare=", 10) == 0) compare = argv[i] + 10;
    else if (std::strncmp(argv[i], "--sizes=", 8) == 0) sizes = parse_sizes(argv[i] + 8);
    else if (std::strncmp(argv[i], "--dtypes=", 9) == 0) {
      only_dtypes = parse_dtypes(argv[i] + 9);
      if (only_dtypes.empty()) {
        std::fprintf(stderr, "actk_bench: --dtypes= names none of float32,bfloat16,float16,float64\n");
        return 2;
      }
    }
#if defined(ACTK_BENCH_CUDA)
    else if (std::strcmp(argv[i], "--env") == 0) return print_env();
#endif
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
    std::printf("actk %s benchmark: CPU reference path, %s loops (%s); the GPU table needs a machine with an NVIDIA "
                "GPU and a CUDA build\n",
                actk::version(), actk::cpu_simd(), actk::cuda_available() ? "--cpu given" : "no usable GPU here");
  if (sizes.empty()) sizes = gpu ? std::vector<std::int64_t>{1 << 12, 1 << 16, 1 << 20, 1 << 24, 1 << 26, 1 << 28}
                                 : std::vector<std::int64_t>{1 << 12, 1 << 16, 1 << 20};
  const std::vector<DType> dtypes =
      !only_dtypes.empty() ? only_dtypes
      : gpu              ? std::vector<DType>{DType::float32, DType::bfloat16, DType::float16}
                         : std::vector<DType>{DType::float32, DType::bfloat16};
  for (int i = 0; i < actk::op_count; ++i) {
    const actk::OpInfo& info = actk::op_table()[i];
    for (int dir = 0; dir < 3; ++dir) {
      if (dir == 2 && !info.has_backward_from_output) continue;
      for (DType dt : dtypes)
        for (std::int64_t n : sizes) {
          const Case c{info.op, dir, dt, n};
          const std::string name = std::string(gpu ? "gpu/" : "cpu/") + info.name + "/" + dir_name(dir) + "/" +
                                   actk::dtype_name(dt) + "/" + std::to_string(n);
          register_case<Case>(name, gpu, bench_cpu, GPU_FN(bench_gpu), c);
        }
    }
  }
  if (gpu) {
    for (int lg : {26, 28})
      if (std::find(sizes.begin(), sizes.end(), std::int64_t{1} << lg) != sizes.end())
        register_softmax(true, std::int64_t{1} << lg, 262144);
  }
  else register_softmax(false, std::int64_t{1} << 20, 65536);
#if defined(ACTK_BENCH_CUDA)
  if (gpu) {
    register_gpu_peers(sizes);
    register_cudnn(sizes, std::int64_t{1} << 26);
  }
#endif
  register_fused(gpu, gpu ? std::int64_t{1} << 26 : std::int64_t{1} << 20);
  register_targeted(gpu, gpu ? std::int64_t{1} << 26 : std::int64_t{1} << 20);
  register_cross_entropy(gpu, gpu ? std::int64_t{1} << 26 : std::int64_t{1} << 20);
  register_attention(gpu);
  register_overhead(gpu);
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 1;
  SummaryReporter report;
  {
    // PyTorch's ratio: --compare=PATH, or the newest committed compare_torch.py run of this backend
    const std::string results = std::string(ACTK_BENCH_SOURCE_DIR) + "/bench/results";
    const char* device = gpu ? "cuda" : "cpu";
    if (compare && std::strcmp(compare, "none") == 0) report.set_compare("", "not asked for (--compare=none)");
    else if (compare) report.set_compare(compare, "");
    else {
      const std::string found = actk_bench::newest_compare_json(results, device);
      report.set_compare(found, found.empty() ? std::string("no bench/compare_torch.py results for device '") + device +
                                                    "' under " + results + " (run bench/compare_torch.py to add them)"
                                              : "");
    }
  }
  benchmark::RunSpecifiedBenchmarks(&report);
  benchmark::Shutdown();
  return 0;
}
