// tests/test_index_math.cpp: the kernels' index arithmetic (kernels/index_math.h), run on the CPU
// against the plain formula. PReLU's vectorized kernel finds the channel of a vector's first
// element with one division pair and steps through the rest (channels may change inside a vector:
// channels-last has inner = 1); a wrong step would give some elements another channel's slope.
#include <gtest/gtest.h>

#include <cstdint>

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
