// host/simd_math.h: declares glibc's vector math (libmvec) variants of the double functions the
// op functors call, so that a loop over them compiled for AVX2 (host/cpu_avx2.cpp) calls
// 4-wide exp, tanh, erfc, ... instead of one element at a time. glibc declares these itself only
// under -ffast-math; declaring them here keeps IEEE semantics everywhere else (no fast-math).
// libmvec's double functions are accurate to a few double ulps (glibc manual, "Known Maximum Errors
// in Math Functions"): invisible once the double result is rounded to float or bfloat16, which is
// all the AVX2 loops serve (float64 data keeps the scalar glibc path).
// Include only from the AVX2 translation units, before any other header.
#pragma once

#include <cmath>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35)) && \
    !defined(ACTK_NO_LIBMVEC)
#define ACTK_HAVE_LIBMVEC 1
extern "C" {
// exp, log, sin, cos: glibc >= 2.22; expm1, log1p, tanh, erf, erfc: glibc >= 2.35
double exp(double) noexcept __attribute__((simd("notinbranch")));
double log(double) noexcept __attribute__((simd("notinbranch")));
double sin(double) noexcept __attribute__((simd("notinbranch")));
double cos(double) noexcept __attribute__((simd("notinbranch")));
double expm1(double) noexcept __attribute__((simd("notinbranch")));
double log1p(double) noexcept __attribute__((simd("notinbranch")));
double tanh(double) noexcept __attribute__((simd("notinbranch")));
double erf(double) noexcept __attribute__((simd("notinbranch")));
double erfc(double) noexcept __attribute__((simd("notinbranch")));
}
#endif
