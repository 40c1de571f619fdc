// actk/config.h: build-wide macros shared by the host code, the kernels and users' own kernels.
// ACTK_HD marks math that runs on both sides: __host__ __device__ under nvcc, plain inline
// otherwise, so the functors compile in a CPU-only build with no CUDA headers.
#pragma once

#define ACTK_VERSION_MAJOR 0
#define ACTK_VERSION_MINOR 1
#define ACTK_VERSION_PATCH 0

#if defined(__CUDACC__)
#define ACTK_HD __host__ __device__ __forceinline__
#define ACTK_HD_CONST __host__ __device__ constexpr
#else
#define ACTK_HD inline
#define ACTK_HD_CONST constexpr
#endif
