// kernels/index_math.h: index arithmetic the kernels share with the CPU tests (host and device, no
// CUDA types), so that the tests check the very code the kernels run (tests/test_index_math.cpp).
#pragma once

#include <cstdint>

#include "actk/config.h"

namespace actk {
namespace detail {

/// Row and column of flat element e of a [rows, cols] tensor: 32-bit division when `small` (the
/// tensor has fewer than 2^32 elements), else 64-bit.
ACTK_HD void row_col(std::int64_t e, std::int64_t cols, bool small, std::int64_t& r, std::int64_t& c) {
  if (small) {
    const unsigned q = static_cast<unsigned>(e) / static_cast<unsigned>(cols);
    r = q;
    c = static_cast<std::int64_t>(static_cast<unsigned>(e) - q * static_cast<unsigned>(cols));
  } else {
    r = e / cols;
    c = e - r * cols;
  }
}

/// Row and column of flat elements e, e + E, e + 2E, ... of a [rows, cols] tensor, as a grid-stride
/// loop visits them: one division pair where the walk starts and one for the stride (row_col's
/// 32-bit form when `small`), none per step.
struct RowWalk {
  std::int64_t r, c;
  ACTK_HD RowWalk(std::int64_t e, std::int64_t cols, bool small) : r(0), c(0) { row_col(e, cols, small, r, c); }
  /// Moves to e + E, given the walk built at E itself.
  ACTK_HD void advance(const RowWalk& by, std::int64_t cols) {
    r += by.r;
    c += by.c;  // both < cols
    if (c >= cols) c -= cols, ++r;
  }
};

/// Walks the channels of consecutive flat elements of an [outer, channels, inner] tensor: built at
/// element e with one division pair (32-bit when `small`: the tensor has fewer than 2^32 elements),
/// then step() moves to e + 1 with no division. c is the channel, r the place in its inner run.
struct ChannelWalk {
  std::int64_t c, r, channels, inner;
  ACTK_HD ChannelWalk(std::int64_t e, std::int64_t channels_, std::int64_t inner_, bool small)
      : c(0), r(0), channels(channels_), inner(inner_) {
    if (channels == 1) return;  // one channel: c stays 0
    std::int64_t q;
    row_col(e, inner, small, q, r);  // q = e / inner, r = e % inner
    c = small ? static_cast<std::int64_t>(static_cast<unsigned>(q) % static_cast<unsigned>(channels)) : q % channels;
  }
  ACTK_HD void step() {
    if (++r == inner) {
      r = 0;
      if (++c == channels) c = 0;
    }
  }
  /// Moves to e + E, given the walk built at E itself (its channel and place are E's quotient
  /// and remainder): no division, so a grid-stride loop builds its walk once and advances it by
  /// the grid's stride.
  ACTK_HD void advance(const ChannelWalk& by) {
    if (channels == 1) return;
    r += by.r;  // both < inner
    std::int64_t carry = 0;
    if (r >= inner) r -= inner, carry = 1;
    c += by.c + carry;  // < 2 channels
    if (c >= channels) c -= channels;
  }
};

}  // namespace detail
}  // namespace actk
