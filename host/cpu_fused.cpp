// host/cpu_fused.cpp: the CPU entry point of every fused family (host/fused.h's list), every
// storage type: the portable row loops of host/cpu_fused.h, or, for float32 and 16-bit types on
// AVX-512 or AVX2 CPUs, the same loops built for those (host/cpu_simd_loops.h).
#include "host/cpu_fused.h"

namespace actk {
namespace detail {
namespace {

template <class Call> void cpu_fused_any(const Call& c) {
  with_storage_isa(
      c.dtype, c.call, [&](auto s, auto isa) { cpu_fused_simd(c, s, isa); }, [&](auto s) { cpu_fused_typed<decltype(s), IsaPortable>(c); });
}

}  // namespace

#define ACTK_FUSED_CPU(F)                                  \
  void cpu_fused(const F##Call& c) { cpu_fused_any(c); } \
  void cpu_fused_portable(const F##Call& c) {              \
    with_storage(c.dtype, c.call, [&](auto s) { cpu_fused_typed<decltype(s), IsaPortable>(c); }); \
  }
ACTK_FUSED_FAMILIES(ACTK_FUSED_CPU)
#undef ACTK_FUSED_CPU

}  // namespace detail
}  // namespace actk
