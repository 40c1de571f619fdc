// bench/libmvec_cost.cpp: what the double math the CPU path calls costs by itself (issue #18's
// "the double math's own throughput measured in isolation"): per value, one thread, 2^16 doubles
// in cache, best of 15 passes: glibc's scalar function, libmvec's AVX2 4-wide variant (the one
// the AVX2 loops call), its AVX-512 8-wide variant where the CPU has AVX-512F, and PyTorch's
// kind of float math for scale (glibc's float function, scalar). Not built by CMake (it is a
// measurement, not part of the library); GCC on x86-64 with glibc >= 2.35:
//
//   g++ -O2 -fno-math-errno -fopenmp-simd -std=c++17 bench/libmvec_cost.cpp -o /tmp/libmvec_cost -lm
//   /tmp/libmvec_cost
#include "../host/simd_math.h"  // libmvec's declarations, as the AVX2 loops see them: first

#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#if !defined(ACTK_HAVE_LIBMVEC)
#error "needs GCC on x86-64 with glibc >= 2.35 (host/simd_math.h declares libmvec only there)"
#endif

namespace {

#define VARIANTS(NAME, F)                                                                                         \
  __attribute__((noinline, optimize("no-tree-vectorize"))) void NAME##_scalar(const double* x, double* y, long n) { \
    for (long i = 0; i < n; ++i) y[i] = ::F(x[i]);                                                              \
    asm volatile("" ::: "memory");                                                                                \
  }                                                                                                               \
  __attribute__((target("avx2,fma"), noinline)) void NAME##_avx2(const double* x, double* y, long n) {          \
    _Pragma("omp simd") for (long i = 0; i < n; ++i) y[i] = F(x[i]);                                            \
  }                                                                                                               \
  __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,prefer-vector-width=512"), noinline)) void NAME##_avx512( \
      const double* x, double* y, long n) {                                                                       \
    _Pragma("omp simd") for (long i = 0; i < n; ++i) y[i] = F(x[i]);                                            \
  }                                                                                                               \
  __attribute__((noinline, optimize("no-tree-vectorize"))) void NAME##_float(const float* x, float* y, long n) { \
    for (long i = 0; i < n; ++i) y[i] = ::F##f(x[i]);                                                           \
    asm volatile("" ::: "memory");                                                                                \
  }

VARIANTS(exp_, exp)
VARIANTS(log1p_, log1p)
VARIANTS(expm1_, expm1)
VARIANTS(tanh_, tanh)
VARIANTS(erf_, erf)
VARIANTS(erfc_, erfc)
VARIANTS(sin_, sin)
VARIANTS(log_, log)

template <class Fn> double best_ns(Fn&& f, long n) {
  double best = 1e9;
  for (int r = 0; r < 15; ++r) {
    const auto t = std::chrono::steady_clock::now();
    f();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    if (s < best) best = s;
  }
  return best * 1e9 / static_cast<double>(n);
}

}  // namespace

int main() {
  const long n = 1L << 16;
  std::vector<double> x(n), y(n);
  std::vector<float> xf(n), yf(n);
  for (long i = 0; i < n; ++i) {
    x[i] = -8.0 + 16.0 * static_cast<double>((i * 7919) % n) / static_cast<double>(n);  // [-8, 8), shuffled
    xf[i] = static_cast<float>(x[i]);
  }
  std::vector<double> xp(n);  // log and log1p: positive arguments
  for (long i = 0; i < n; ++i) xp[i] = std::fabs(x[i]) + 0.5;
  std::vector<float> xpf(xp.begin(), xp.end());
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
  std::printf("ns per value, one thread, 2^16 values in cache, best of 15 (x in [-8, 8); log, log1p: |x| + 0.5)\n\n");
  std::printf("| function | glibc scalar double | libmvec AVX2 4-wide | libmvec AVX-512 8-wide | glibc scalar float |\n");
  std::printf("|---|---|---|---|---|\n");
#define ROW(NAME, LABEL, X, XF)                                                                              \
  {                                                                                                            \
    const double a = best_ns([&] { NAME##_scalar(X.data(), y.data(), n); }, n);                              \
    const double b = best_ns([&] { NAME##_avx2(X.data(), y.data(), n); }, n);                                \
    const double c = avx512 ? best_ns([&] { NAME##_avx512(X.data(), y.data(), n); }, n) : -1.0;             \
    const double d = best_ns([&] { NAME##_float(XF.data(), yf.data(), n); }, n);                             \
    if (c >= 0) std::printf("| %s | %.2f | %.2f | %.2f | %.2f |\n", LABEL, a, b, c, d);                      \
    else std::printf("| %s | %.2f | %.2f | - | %.2f |\n", LABEL, a, b, d);                                    \
  }
  ROW(exp_, "exp", x, xf)
  ROW(expm1_, "expm1", x, xf)
  ROW(log_, "log", xp, xpf)
  ROW(log1p_, "log1p", xp, xpf)
  ROW(tanh_, "tanh", x, xf)
  ROW(erf_, "erf", x, xf)
  ROW(erfc_, "erfc", x, xf)
  ROW(sin_, "sin", x, xf)
  return 0;
}
