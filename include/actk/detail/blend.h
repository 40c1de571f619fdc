// actk/detail/blend.h: the output blend every path applies, once for the CPU loops and the kernels:
// out = alpha * r + beta * old (cuDNN's convention). alpha == 1 skips the product, and a path reads
// the old output only where beta != 0 (reads_old), so beta = 0 works on uninitialized outputs.
#pragma once

#include "actk/config.h"

namespace actk {
namespace detail {

template <class T> struct BlendOf {
  T alpha, beta;
  /// Whether the old output is read (beta != 0).
  ACTK_HD bool reads_old() const { return beta != T(0); }
  /// alpha * r, the whole result where !reads_old().
  ACTK_HD T scaled(T r) const { return alpha == T(1) ? r : r * alpha; }
  /// alpha * r + beta * old; call only where reads_old().
  ACTK_HD T with_old(T r, T old) const { return scaled(r) + beta * old; }
};

}  // namespace detail
}  // namespace actk
