// host/cpu_simd_loops.h: every CPU loop (element-wise, fused families, PReLU, softmax, attention
// softmax, cross-entropy) for one storage type through one vectorized instruction-set policy, as
// the overloads host/cpu.h, host/cpu_fused.h, host/cpu_prelu.h, host/cpu_softmax.h and
// host/cpu_loss.h declare. Each host/cpu_avx*.cpp says ACTK_SIMD_LOOPS(policy, storage type) once
// per type it builds: the loops are written once (the portable ones' C++), and only the policy's
// run() is compiled for the set (a target attribute, not a file-wide -mavx2 / -mavx512f), so no
// such code can leak into shared inline functions. cpu_simd() picks the set at run time.
#pragma once

#include "host/simd_math.h"  // first: the vector declarations must precede every use

#include "host/cpu.h"
#include "host/cpu_fused.h"
#include "host/cpu_isa_avx2.h"
#include "host/cpu_loss.h"
#include "host/cpu_prelu.h"
#include "host/cpu_softmax.h"

#define ACTK_SIMD_FUSED_ONE(F, ISA, S) \
  void cpu_fused_simd(const F##Call& c, S, ISA::Tag) { cpu_fused_typed<S, ISA>(c); }
// ACTK_FUSED_FAMILIES passes one argument: the policy and type come from the caller's #defines
#define ACTK_SIMD_FUSED(F) ACTK_SIMD_FUSED_ONE(F, ACTK_SIMD_ISA, ACTK_SIMD_S)

/// The six entry points' loops for storage S through policy ISA (in namespace actk::detail);
/// define ACTK_SIMD_ISA and ACTK_SIMD_S as ISA and S first (for the fused families' list).
#define ACTK_SIMD_LOOPS(ISA, S)                                                                              \
  void cpu_elementwise_simd(const ElementwiseCall& c, S, ISA::Tag) { cpu_elementwise_typed<S, ISA>(c); }     \
  ACTK_FUSED_FAMILIES(ACTK_SIMD_FUSED)                                                                      \
  void cpu_prelu_simd(const PreluCall& c, S, ISA::Tag) { cpu_prelu_typed<S, ISA>(c); }                       \
  void cpu_softmax_simd(const SoftmaxCall& c, S, ISA::Tag) { cpu_softmax_rows<S, ISA>(c); }                  \
  void cpu_attention_simd(const AttentionSoftmaxCall& c, S, ISA::Tag) { cpu_attention_rows<S, ISA>(c); }     \
  void cpu_cross_entropy_simd(const CrossEntropyCall& c, S, ISA::Tag) { cpu_cross_entropy_typed<S, ISA>(c); }
