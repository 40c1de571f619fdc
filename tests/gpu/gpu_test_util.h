// tests/gpu/gpu_test_util.h: what the GPU suites (tests/gpu/test_gpu_*.cpp, one executable,
// actk_cuda_tests) share: the skip-or-fail rule, RAII device buffers and streams (nothing leaks
// when an assertion returns early or a call throws), data generators, ulp measures, the dtype list
// of the typed tests and the directions.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "common.h"
#include "gpu_required.h"

/// Every GPU test starts with this: skips (saying why) without a usable GPU, FAILS under
/// ACTK_REQUIRE_GPU=1 (tests/gpu_required.h).
#define SKIP_WITHOUT_GPU() ACTK_GPU_OR_SKIP()

/// A fatal check of a CUDA runtime call (or of a cudaError_t the helpers below return).
#define CUDA_OK(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

namespace actk_test {

// ---- the dtypes of the typed tests --------------------------------------------------------------

/// The storage types every typed GPU test runs over.
using GpuDtypes = ::testing::Types<float, double, float16, bfloat16>;

/// Names the typed instances by dtype: Suite/float32.Test, Suite/bfloat16.Test, ...
struct DtypeName {
  template <class S> static std::string GetName(int) {
    if constexpr (std::is_same_v<S, float>) return "float32";
    else if constexpr (std::is_same_v<S, double>) return "float64";
    else if constexpr (std::is_same_v<S, float16>) return "float16";
    else return "bfloat16";
  }
};

// ---- device memory ------------------------------------------------------------------------------

/// A device allocation of `lead + n + trail` elements of S, owned whole (padding included) and
/// freed by the destructor; the payload is the n elements `lead` in (lead > 0: a pointer off its
/// 16-byte alignment). The constructor's allocation is checked non-fatally (EXPECT); a test that
/// must stop there checks CUDA_OK(buf.status()). release() frees early and returns cudaFree's
/// status, for a test that asserts it.
template <class S> class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n, std::size_t lead = 0, std::size_t trail = 0) : n_(n), lead_(lead), trail_(trail) {
    status_ = cudaMalloc(reinterpret_cast<void**>(&base_), std::max<std::size_t>(1, total()) * sizeof(S));
    EXPECT_EQ(status_, cudaSuccess) << "cudaMalloc of " << total() * sizeof(S) << " bytes";
    if (status_ != cudaSuccess) base_ = nullptr;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : base_(std::exchange(o.base_, nullptr)), n_(o.n_), lead_(o.lead_), trail_(o.trail_), status_(o.status_) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      base_ = std::exchange(o.base_, nullptr);
      n_ = o.n_, lead_ = o.lead_, trail_ = o.trail_, status_ = o.status_;
    }
    return *this;
  }
  ~DeviceBuffer() { release(); }

  /// Frees the allocation now (idempotent); cudaFree's status.
  cudaError_t release() {
    if (base_ == nullptr) return cudaSuccess;
    const cudaError_t e = cudaFree(base_);
    base_ = nullptr;
    return e;
  }

  cudaError_t status() const { return status_; }
  std::size_t size() const { return n_; }
  /// The payload (n elements), and element i of it; i may run to the end of the trailing padding.
  S* get() const { return base_ == nullptr ? nullptr : base_ + lead_; }
  S* at(std::size_t i) const { return get() + i; }
  /// Byte offset of payload element i from the start of the allocation (for raw()).
  std::size_t byte_offset(std::size_t i) const { return (lead_ + i) * sizeof(S); }

  /// Every byte of the allocation, padding included, set to `byte`.
  cudaError_t fill_bytes(int byte) { return cudaMemset(base_, byte, total() * sizeof(S)); }
  /// Every byte of the allocation, padding included (to check what a kernel left untouched).
  std::vector<unsigned char> raw() const {
    std::vector<unsigned char> h(total() * sizeof(S));
    EXPECT_EQ(cudaMemcpy(h.data(), base_, h.size(), cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
  }

  /// Host -> device: count elements to payload element `at` onward (may reach into the trailing padding).
  cudaError_t upload(const S* h, std::size_t count, std::size_t at = 0) {
    if (at + count > n_ + trail_) return cudaErrorInvalidValue;
    return cudaMemcpy(get() + at, h, count * sizeof(S), cudaMemcpyHostToDevice);
  }
  cudaError_t upload(const std::vector<S>& h, std::size_t at = 0) { return upload(h.data(), h.size(), at); }
  /// Device -> host: count elements from payload element `at` into h.
  cudaError_t download_to(S* h, std::size_t count, std::size_t at = 0) const {
    if (at + count > n_ + trail_) return cudaErrorInvalidValue;
    return cudaMemcpy(h, get() + at, count * sizeof(S), cudaMemcpyDeviceToHost);
  }
  /// The same into a new vector, checked non-fatally; without arguments the whole payload.
  std::vector<S> download(std::size_t count, std::size_t at = 0) const {
    std::vector<S> h(count);
    EXPECT_EQ(download_to(h.data(), count, at), cudaSuccess);
    return h;
  }
  std::vector<S> download() const { return download(n_); }

 private:
  std::size_t total() const { return lead_ + n_ + trail_; }

  S* base_ = nullptr;
  std::size_t n_ = 0, lead_ = 0, trail_ = 0;
  cudaError_t status_ = cudaSuccess;
};

/// Poisoned guard elements on each side of a guarded buffer's payload.
inline constexpr std::size_t kGuard = 64;

/// n elements with kGuard elements on each side, every byte 0xA5: writes past either end of the
/// payload show in raw().
template <class S> DeviceBuffer<S> guarded(std::size_t n) {
  DeviceBuffer<S> b(n, kGuard, kGuard);
  EXPECT_EQ(b.fill_bytes(0xA5), cudaSuccess);
  return b;
}

/// A device copy of h starting `off` elements into a fresh allocation (misaligned when off > 0).
template <class S> DeviceBuffer<S> device_copy(const std::vector<S>& h, std::size_t off = 0) {
  DeviceBuffer<S> b(h.size(), off);
  EXPECT_EQ(b.upload(h), cudaSuccess);
  return b;
}

/// A non-blocking stream, destroyed with its owner; release() destroys it now and returns the status.
class DeviceStream {
 public:
  DeviceStream() { status_ = cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking); }
  DeviceStream(const DeviceStream&) = delete;
  DeviceStream& operator=(const DeviceStream&) = delete;
  ~DeviceStream() { release(); }
  cudaError_t release() {
    if (status_ != cudaSuccess || s_ == nullptr) return cudaSuccess;
    const cudaError_t e = cudaStreamDestroy(s_);
    s_ = nullptr;
    return e;
  }
  cudaError_t status() const { return status_; }
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
  cudaError_t status_ = cudaSuccess;
};

/// Runs f(stream) on a fresh non-blocking stream.
template <class F> void on_stream(F&& f) {
  DeviceStream s;
  CUDA_OK(s.status());
  f(s.get());
  CUDA_OK(s.release());
}

// ---- test data ----------------------------------------------------------------------------------

/// Uniform in [-10, 10) with specials (zeros, +-1, subnormals, large, +-inf, NaN) at every fifth
/// element, at a seed-dependent phase, so x and dy (different seeds) are not special together.
template <class S> std::vector<S> mixed_data(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  const double sp[] = {0.0, -0.0, 1.0, -1.0, 3.0, -3.0, 6.0, 1e-40, -1e-40, 1e-6, 90.0, -90.0, 1e30, -1e30,
                       std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                       std::numeric_limits<double>::quiet_NaN()};
  std::vector<S> v(n);
  const std::size_t phase = static_cast<std::size_t>(seed % 5);
  for (std::size_t i = 0; i < n; ++i) v[i] = to<S>(i % 5 == phase ? sp[(i / 5 + seed) % 17] : rng.uniform(-10, 10));
  return v;
}

/// Uniform in [-4, 4).
template <class S> std::vector<S> finite_data(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<S> v(n);
  for (auto& e : v) e = to<S>(rng.uniform(-4, 4));
  return v;
}

/// Element count for the big comparisons: ACTK_CUDA_TEST_N overrides (tools/gpu-check lowers it
/// under compute-sanitizer, which runs these kernels 10-100x slower).
inline std::size_t test_n(std::size_t dflt) {
  const char* e = std::getenv("ACTK_CUDA_TEST_N");
  return e ? static_cast<std::size_t>(std::strtoull(e, nullptr, 10)) : dflt;
}

/// ACTK_CUDA_TEST_OFFSET_STEP > 1 samples the element offsets (tools/gpu-check, under compute-sanitizer).
inline std::size_t offset_step() {
  const char* e = std::getenv("ACTK_CUDA_TEST_OFFSET_STEP");
  const std::size_t v = e ? static_cast<std::size_t>(std::strtoull(e, nullptr, 10)) : 1;
  return v > 0 ? v : 1;
}

// ---- error measures -----------------------------------------------------------------------------

/// Distance in ulps; for float64 (GPU double math vs the CPU's: two libms, neither exactly
/// rounded) the error in units of 2^-40 relative, the golden tests' bound for the double math.
template <class S> double ulps(S got, S ref) {
  if constexpr (std::is_same_v<S, double>) {
    if (std::isnan(got) || std::isnan(ref)) return std::isnan(got) && std::isnan(ref) ? 0 : kHuge;
    if (got == ref) return 0;
    return std::fabs(got - ref) / (std::fabs(ref) * 0x1p-40 + 4 * 0x1p-1074);
  } else {
    return ulp_dist(got, ref);
  }
}

/// The spacing of S's values at v (one ulp), as a double.
template <class S> double ulp_size(S v) {
  const double a = std::fabs(static_cast<double>(v));
  if (!std::isfinite(a)) return 0;
  const int digits = std::is_same_v<S, double> ? 53 : std::is_same_v<S, float> ? 24 : std::is_same_v<S, float16> ? 11 : 8;
  const int min_exp = std::is_same_v<S, double> ? -1021 : std::is_same_v<S, float16> ? -13 : -125;
  const int e = a > 0 ? std::max(std::ilogb(a) + 1, min_exp) : min_exp;
  return std::ldexp(1.0, e - digits);
}

/// Within `bound` ulps, or within 2^-10 (16-bit) / 2^-20 relative to 1 + |ref| absolute.
template <class S> bool close_enough(S got, S ref, double bound) {
  return ulps(got, ref) <= bound ||
         std::fabs(static_cast<double>(got) - static_cast<double>(ref)) <= (sizeof(S) == 2 ? 0x1p-10 : 0x1p-20) *
                                                                               (1 + std::fabs(static_cast<double>(ref)));
}

}  // namespace actk_test
