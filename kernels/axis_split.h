// kernels/axis_split.h: how the GPU cuts a softmax over an axis that is not cached on chip (host
// and device, no CUDA types, so tests/test_index_math.cpp checks the cut the kernels use).
#pragma once

#include <cstdint>

#include "actk/config.h"

namespace actk {
namespace detail {

/// The cut of a softmax over a middle axis ([outer, axis, inner], inner > 1) or over rows too long
/// for the block / cluster kernels (inner = 1), kernels/softmax_long.cu. A block of `threads`
/// threads is `w` columns (consecutive inner positions: neighbouring threads read neighbouring
/// addresses) by `lanes` lanes along the axis (no more lanes than the axis has positions, so a
/// short axis widens the block's columns instead of idling lanes); `tiles` tiles of w columns
/// cover inner; each (outer, tile) is cut along the axis into `splits` segments of `seg`
/// positions, one block each. A block reduces its segment's statistics per column (a fixed tree
/// over the lanes); with splits > 1 a first kernel stores them and a second merges a column's
/// segments in a fixed order, then writes its segment. The cut is a function of the shape only
/// (never of the device), so a result has the same bits on every GPU.
struct AxisSplit {
  int w, lanes;
  std::int64_t tiles, splits, seg;
  /// A block's work item b (0 <= b < outer * tiles * splits): its outer index, tile and segment.
  ACTK_HD void item(std::int64_t b, std::int64_t& o, std::int64_t& tile, std::int64_t& sp) const {
    const std::int64_t per_outer = tiles * splits;
    o = b / per_outer;
    const std::int64_t rem = b - o * per_outer;
    tile = rem / splits;
    sp = rem - tile * splits;
  }
};

/// Blocks worth filling an H100 (132 SMs x 8 blocks of 256 threads, rounded down to a power of
/// two): below this many (outer, tile) pairs, the axis is split.
constexpr std::int64_t kAxisTargetBlocks = 1024;
/// The fewest axis positions a lane takes per segment (so a segment's reduction and the merge of
/// the segments stay small beside the reads).
constexpr std::int64_t kAxisMinPerLane = 8;

ACTK_HD AxisSplit axis_split(std::int64_t outer, std::int64_t axis, std::int64_t inner, int threads) {
  AxisSplit a{};
  const int w0 = inner >= 32 ? 32 : static_cast<int>(inner);
  std::int64_t p2 = 1;  // the power of two >= axis
  while (p2 < axis && p2 < threads) p2 *= 2;
  a.lanes = static_cast<int>(threads / w0 < p2 ? threads / w0 : p2);
  const std::int64_t wide = threads / a.lanes;
  a.w = static_cast<int>(inner < wide ? inner : wide);
  a.tiles = (inner + a.w - 1) / a.w;
  const std::int64_t base = outer * a.tiles;
  std::int64_t splits = 1;
  if (base < kAxisTargetBlocks) {
    const std::int64_t want = (kAxisTargetBlocks + base - 1) / base;
    const std::int64_t useful = (axis + a.lanes * kAxisMinPerLane - 1) / (a.lanes * kAxisMinPerLane);
    splits = want < useful ? want : useful;
    if (splits < 1) splits = 1;
  }
  a.seg = (axis + splits - 1) / splits;
  if (a.seg < 1) a.seg = 1;
  a.splits = (axis + a.seg - 1) / a.seg;  // no empty segment
  if (a.splits < 1) a.splits = 1;
  return a;
}

}  // namespace detail
}  // namespace actk
