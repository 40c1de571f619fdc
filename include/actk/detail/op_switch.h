// actk/detail/op_switch.h: turns a run-time Op into its functor type, generated from the list.
// Used by the host dispatch, the CPU reference, the kernels' instantiations and the tests.
#pragma once

#include "actk/functors.h"
#include "actk/ops.h"

namespace actk {
namespace detail {

/// A compile-time handle on one list entry.
template <class Fn, bool FromOutput> struct OpTag {
  using fn = Fn;
  static constexpr bool from_output = FromOutput;
};

/// Calls f(OpTag<functor, from_output>{}) for `op`; returns false if op is outside the list.
template <class F> bool with_op(Op op, F&& f) {
  switch (op) {
#define ACTK_X(id, fn, fo, np, n0, d0, n1, d1) \
  case Op::id:                                  \
    f(OpTag<ops::fn, (fo) != 0>{});              \
    return true;
    ACTK_OP_LIST(ACTK_X)
#undef ACTK_X
  }
  return false;
}

/// The three element-wise directions.
enum class Dir : int { forward = 0, from_input = 1, from_output = 2 };

}  // namespace detail
}  // namespace actk
