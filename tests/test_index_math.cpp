// tests/test_index_math.cpp: the kernels' index arithmetic (kernels/index_math.h), run on the CPU
// against the plain formula. PReLU's vectorized kernel finds the channel of a vector's first
// element with one division pair and steps through the rest (channels may change inside a vector:
// channels-last has inner = 1); a wrong step would give some elements another channel's slope.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kernels/axis_split.h"
#include "kernels/index_math.h"

namespace {

using actk::detail::ChannelWalk;

// every vector of N elements of [outer, channels, inner], walked as the kernel walks it
void walk_all(std::int64_t outer, std::int64_t channels, std::int64_t inner, int N, bool small) {
  const std::int64_t n = outer * channels * inner;
  for (std::int64_t v = 0; v * N < n; ++v) {
    ChannelWalk w(v * N, channels, inner, small);
    for (int k = 0; k < N && v * N + k < n; ++k) {
      const std::int64_t e = v * N + k;
      ASSERT_EQ(w.c, (e / inner) % channels) << "element " << e << " of [" << outer << ", " << channels << ", " << inner
                                             << "], vectors of " << N << (small ? " (32-bit)" : " (64-bit)");
      if (channels > 1) {  // one channel: only c is kept
        ASSERT_EQ(w.r, e % inner) << "element " << e;
      }
      w.step();
    }
  }
}

TEST(IndexMath, ChannelWalkMatchesTheDivisionForEveryElement) {
  for (int N : {2, 4, 8})
    for (std::int64_t C : {1, 2, 3, 7, 64})
      for (std::int64_t inner : {1, 2, 3, 5, 8, 13, 64})
        for (std::int64_t outer : {1, 3, 10})
          for (bool small : {true, false}) walk_all(outer, C, inner, N, small);
}

// 64-bit positions (a tensor of 2^33 elements and more): the 64-bit division, then the same steps
TEST(IndexMath, ChannelWalkBeyondTwoToThe32) {
  const std::int64_t C = 3, inner = 1000003;
  for (std::int64_t e0 : {(std::int64_t{1} << 33) + 5, (std::int64_t{1} << 40) - 17}) {
    ChannelWalk w(e0, C, inner, false);
    for (std::int64_t e = e0; e < e0 + 3 * inner; ++e) {
      ASSERT_EQ(w.c, (e / inner) % C) << e;
      w.step();
    }
  }
}

// the grid-stride form: a walk built at a thread's first element, advanced by the walk built at the stride,
// is at the same channel and place as a walk built at each visited element
TEST(IndexMath, ChannelWalkAdvancesByTheGridStride) {
  for (std::int64_t C : {1, 2, 3, 7, 64})
    for (std::int64_t inner : {1, 2, 3, 5, 13, 64, 1000003})
      for (std::int64_t E : {std::int64_t{2}, std::int64_t{8}, std::int64_t{4096}, std::int64_t{270336} * 8})
        for (bool small : {true, false})
          for (std::int64_t first : {std::int64_t{0}, std::int64_t{6}, std::int64_t{77}}) {
            ChannelWalk w(first, C, inner, small);
            const ChannelWalk step(E, C, inner, small);
            for (std::int64_t e = first; e < first + 50 * E; e += E, w.advance(step)) {
              ASSERT_EQ(w.c, (e / inner) % C) << "element " << e << ", stride " << E << ", C " << C << ", inner " << inner;
              if (C > 1) {
                ASSERT_EQ(w.r, e % inner) << "element " << e;
              }
            }
          }
  // 64-bit positions: the stride and the start beyond 2^32
  const std::int64_t C = 3, inner = 1000003, E = (std::int64_t{1} << 33) + 12345;
  ChannelWalk w((std::int64_t{1} << 34) + 7, C, inner, false);
  const ChannelWalk step(E, C, inner, false);
  for (std::int64_t e = (std::int64_t{1} << 34) + 7, k = 0; k < 100; ++k, e += E, w.advance(step)) {
    ASSERT_EQ(w.c, (e / inner) % C) << e;
    ASSERT_EQ(w.r, e % inner) << e;
  }
}

}  // namespace

// The softmax axis cut (kernels/softmax_long.cu): every (outer, axis position, inner position) is
// read by exactly one (block item, thread, step), segments never empty, and the shapes issue #14
// names fill the GPU: a middle axis of [1, 32768, 8] and one row of 2^20 no longer run on 8 threads
// or one block.
namespace {
void cover_all(std::int64_t outer, std::int64_t axis, std::int64_t inner) {
  const int threads = 256;
  const auto a = actk::detail::axis_split(outer, axis, inner, threads);
  ASSERT_GE(a.w, 1);
  ASSERT_GE(a.lanes, 1);
  ASSERT_LE(a.lanes * a.w, threads);
  // no idle lane beyond the axis, and the block full unless inner or the axis is short
  ASSERT_LT(a.lanes / 2, axis);
  if (inner >= threads / a.lanes) ASSERT_EQ(a.w, threads / a.lanes);
  else ASSERT_EQ(a.w, inner);
  ASSERT_GE(a.splits, 1);
  ASSERT_LE((a.splits - 1) * a.seg, axis - 1) << "an empty segment";
  ASSERT_GE(a.splits * a.seg, axis);
  std::vector<int> seen(static_cast<std::size_t>(outer * axis * inner), 0);
  for (std::int64_t b = 0; b < outer * a.tiles * a.splits; ++b) {
    std::int64_t o, tile, sp;
    a.item(b, o, tile, sp);
    ASSERT_LT(o, outer);
    const std::int64_t k0 = sp * a.seg, k1 = k0 + a.seg < axis ? k0 + a.seg : axis;
    for (int t = 0; t < threads; ++t) {
      const int tx = t % a.w, lane = t / a.w;
      const std::int64_t col = tile * a.w + tx;
      if (lane >= a.lanes || col >= inner) continue;
      for (std::int64_t k = k0 + lane; k < k1; k += a.lanes) ++seen[static_cast<std::size_t>((o * axis + k) * inner + col)];
    }
  }
  for (std::size_t e = 0; e < seen.size(); ++e)
    ASSERT_EQ(seen[e], 1) << "element " << e << " of [" << outer << ", " << axis << ", " << inner << "]";
}
}  // namespace

TEST(IndexMath, SoftmaxAxisCutReadsEveryElementOnce) {
  for (std::int64_t outer : {1, 3, 7})
    for (std::int64_t axis : {1, 2, 3, 17, 300, 5000})
      for (std::int64_t inner : {1, 2, 5, 8, 31, 32, 33, 100, 1000}) cover_all(outer, axis, inner);
}

TEST(IndexMath, SoftmaxAxisCutFillsTheGpu) {
  const auto mid = actk::detail::axis_split(1, 32768, 8, 256);
  EXPECT_GE(mid.tiles * mid.splits, 128) << "[1, 32768, 8]";
  const auto row = actk::detail::axis_split(1, std::int64_t{1} << 20, 1, 256);
  EXPECT_GE(row.splits, 132) << "one row of 2^20: at least one block per H100 SM";
  const auto wide = actk::detail::axis_split(64, 4096, 64, 256);
  EXPECT_GE(64 * wide.tiles * wide.splits, 1024) << "[64, 4096, 64]";
  const auto many = actk::detail::axis_split(4096, 300000, 1, 256);
  EXPECT_EQ(many.splits, 1) << "enough rows: a block per row, one kernel";
  const auto short_axis = actk::detail::axis_split(16, 3, 4096, 256);
  EXPECT_EQ(short_axis.lanes, 4) << "an axis of 3: 4 lanes, 64 columns per block, not 8 lanes with 5 idle";
  EXPECT_EQ(short_axis.w, 64);
  // the cut depends on the shape alone
  const auto again = actk::detail::axis_split(1, 32768, 8, 256);
  EXPECT_EQ(again.splits, mid.splits);
  EXPECT_EQ(again.seg, mid.seg);
}

// The fused kernels' scalar paths walk (row, column) by the grid stride instead of dividing per element.
TEST(IndexMath, RowWalkAdvancesByTheGridStride) {
  for (std::int64_t cols : {1, 2, 3, 7, 64, 4095, 1000003})
    for (std::int64_t E : {std::int64_t{1}, std::int64_t{5}, std::int64_t{256}, std::int64_t{270336}})
      for (bool small : {true, false})
        for (std::int64_t first : {std::int64_t{0}, std::int64_t{6}, std::int64_t{4094}}) {
          actk::detail::RowWalk w(first, cols, small);
          const actk::detail::RowWalk by(E, cols, small);
          for (std::int64_t e = first; e < first + 300 * E; e += E, w.advance(by, cols)) {
            ASSERT_EQ(w.r, e / cols) << "element " << e << ", cols " << cols << ", stride " << E;
            ASSERT_EQ(w.c, e % cols) << "element " << e << ", cols " << cols << ", stride " << E;
          }
        }
  // beyond 2^32 (64-bit division)
  const std::int64_t cols = 1000003, E = 270336;
  actk::detail::RowWalk w((std::int64_t{1} << 33) + 11, cols, false);
  const actk::detail::RowWalk by(E, cols, false);
  for (std::int64_t e = (std::int64_t{1} << 33) + 11, k = 0; k < 1000; ++k, e += E, w.advance(by, cols)) {
    ASSERT_EQ(w.r, e / cols);
    ASSERT_EQ(w.c, e % cols);
  }
}
