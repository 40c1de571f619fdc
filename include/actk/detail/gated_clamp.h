// actk/detail/gated_clamp.h: the clamps of GPT-OSS's clamped SwiGLU, applied by the gated
// families' CPU rows and kernels alike: g = min(gate, limit), v = clamp(value, -limit, limit) + 1,
// y = f(g) v; the gradients pass where the clamp does not saturate (gate <= limit, |value| <=
// limit, as PyTorch's clamp backward; NaN passes, so it propagates). An unclamped gated call uses
// limit = +inf and offset = -0.0: every step is then the identity, bit for bit (x + -0.0 = x for
// every x, -0.0 included), so the plain gated ops keep their exact results with no branch.
#pragma once

#include "actk/config.h"

namespace actk {
namespace detail {

template <class T> struct GatedClamp {
  T limit, offset;  // unclamped: +inf, -0.0; clamped SwiGLU: limit, 1
  ACTK_HD T gate(T g) const { return g > limit ? limit : g; }
  ACTK_HD T value(T v) const { return (v < -limit ? -limit : (v > limit ? limit : v)) + offset; }
  /// 1 where the gradient passes, else 0 (a factor: exact).
  ACTK_HD T gate_pass(T g) const { return g > limit ? T(0) : T(1); }
  ACTK_HD T value_pass(T v) const { return (v < -limit || v > limit) ? T(0) : T(1); }
};

}  // namespace detail
}  // namespace actk
