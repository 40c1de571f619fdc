// tests/test_threads.cpp: the C ABI called from 8 threads at once, each on its own buffers, every
// result bitwise equal to a one-thread run, and actk_last_error() per thread. CI runs it in the
// plain builds (sizes above the OpenMP threshold, so the CPU loops' own threads run inside each
// caller's) and under ThreadSanitizer with ACTK_THREADS_TEST_N below that threshold (libgomp is
// not instrumented: above it TSan reports its barriers as races).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "actk/actk_c.h"
#include "common.h"

namespace {

using namespace actk_test;

std::int64_t thread_test_n() {
  const char* v = std::getenv("ACTK_THREADS_TEST_N");
  return v != nullptr ? std::atoll(v) : (std::int64_t{1} << 16) + 3;  // above kCpuParallelMin (2^15)
}

/// One thread's work: for its ops, forward, backward from x, softmax and log-softmax forward and
/// backward, gated forward, into its own buffers; returns every output concatenated.
std::vector<float> work(int t, std::int64_t n) {
  Rng rng(100 + static_cast<std::uint64_t>(t));
  std::vector<float> x(static_cast<std::size_t>(n)), dy(x.size()), out(x.size()), all;
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(rng.uniform(-6, 6)), dy[i] = static_cast<float>(rng.uniform(-1, 1));
  auto keep = [&] { all.insert(all.end(), out.begin(), out.end()); };
  for (int k = 0; k < 4; ++k) {
    const int op = (t * 5 + k * 7) % actk_op_count();
    EXPECT_EQ(actk_forward(op, nullptr, ACTK_FLOAT32, x.data(), out.data(), n, ACTK_BACKEND_CPU, nullptr), ACTK_OK)
        << actk_last_error();
    keep();
    EXPECT_EQ(actk_backward(op, nullptr, ACTK_FLOAT32, ACTK_FROM_INPUT, x.data(), dy.data(), out.data(), n, ACTK_BACKEND_CPU,
                            nullptr),
              ACTK_OK)
        << actk_last_error();
    keep();
  }
  // bfloat16 forwards large enough to build 16-bit tables (host/cpu_lut.h): 8 threads x 4 ops over
  // more ops than the table cache holds, so rounds build, replace and read tables concurrently
  // (TSan's small n keeps to the direct loops: libgomp's barriers inside a table build would be
  // reported as races)
  const std::int64_t n16 = n >= (std::int64_t{1} << 15) ? (std::int64_t{1} << 17) + 3 : n;
  std::vector<std::uint16_t> x16(static_cast<std::size_t>(n16)), out16(x16.size());
  for (std::size_t i = 0; i < x16.size(); ++i) x16[i] = static_cast<std::uint16_t>(rng.next() & 0xffffu);  // every kind of value
  for (int k = 0; k < 4; ++k) {
    const int op = (t * 3 + k * 11) % actk_op_count();
    EXPECT_EQ(actk_forward(op, nullptr, ACTK_BFLOAT16, x16.data(), out16.data(), n16, ACTK_BACKEND_CPU, nullptr), ACTK_OK)
        << actk_last_error();
    for (std::uint16_t b : out16) {
      const std::uint32_t u = static_cast<std::uint32_t>(b) << 16;
      float f;
      std::memcpy(&f, &u, 4);
      all.push_back(f);
    }
  }
  const std::int64_t cols = 256, rows = n / cols;
  for (unsigned flags : {0u, 1u}) {
    EXPECT_EQ(actk_softmax_forward(ACTK_FLOAT32, x.data(), out.data(), rows, cols, 1, flags, ACTK_BACKEND_CPU, nullptr), ACTK_OK);
    keep();
    std::vector<float> y(out);
    EXPECT_EQ(actk_softmax_backward(ACTK_FLOAT32, y.data(), dy.data(), out.data(), rows, cols, 1, flags, ACTK_BACKEND_CPU, nullptr),
              ACTK_OK);
    keep();
  }
  int silu = -1;
  EXPECT_EQ(actk_op_from_name("silu", &silu), ACTK_OK);
  EXPECT_EQ(actk_gated_forward(silu, nullptr, ACTK_FLOAT32, x.data(), x.data() + cols / 2, cols, out.data(), rows, cols / 2, 1.0,
                               0.0, ACTK_BACKEND_CPU, nullptr),
            ACTK_OK)
      << actk_last_error();
  all.insert(all.end(), out.begin(), out.begin() + rows * (cols / 2));
  return all;
}

TEST(Threads, EightThreadsGetTheOneThreadBits) {
  const std::int64_t n = thread_test_n();
  ASSERT_GE(n, 512);
  constexpr int kThreads = 8;
  std::vector<std::vector<float>> ref(kThreads), got(kThreads);
  for (int t = 0; t < kThreads; ++t) ref[t] = work(t, n);
  for (int round = 0; round < 3; ++round) {
    std::vector<std::thread> pool;
    for (int t = 0; t < kThreads; ++t) pool.emplace_back([&, t] { got[t] = work(t, n); });
    for (auto& th : pool) th.join();
    for (int t = 0; t < kThreads; ++t) {
      ASSERT_EQ(got[t].size(), ref[t].size());
      EXPECT_EQ(std::memcmp(got[t].data(), ref[t].data(), ref[t].size() * sizeof(float)), 0)
          << "thread " << t << " round " << round << " differs from its one-thread run";
    }
  }
}

TEST(Threads, LastErrorIsPerThread) {
  constexpr int kThreads = 8;
  std::atomic<int> ready{0};
  std::vector<std::string> seen(kThreads);
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&, t] {
      float v = 0;
      // each thread fails with its own op id, waits until every thread has failed, then reads
      EXPECT_EQ(actk_forward(1000 + t, nullptr, ACTK_FLOAT32, &v, &v, 1, ACTK_BACKEND_CPU, nullptr), ACTK_ERROR_UNKNOWN_OP);
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      seen[t] = actk_last_error();
      // a success clears only this thread's message
      EXPECT_EQ(actk_forward(0, nullptr, ACTK_FLOAT32, &v, &v, 1, ACTK_BACKEND_CPU, nullptr), ACTK_OK);
      EXPECT_STREQ(actk_last_error(), "");
    });
  for (auto& th : pool) th.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_NE(seen[t].find(std::to_string(1000 + t)), std::string::npos) << "thread " << t << " read: " << seen[t];
}

}  // namespace
