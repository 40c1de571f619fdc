// actk/ops.h: the one list of activations. Everything per-op (the enum, name lookup, the table
// of parameters, host dispatch, kernel instantiations, typed tests, benchmarks) is generated from
// ACTK_OP_LIST. Adding an op = its functor in functors.h + one line here (+ golden rows).
//
// X(id, functor, from_output, n_params, p0_name, p0_default, p1_name, p1_default)
//   id           C++ enumerator and public name ("gelu_tanh")
//   functor      struct in actk::ops holding the math
//   from_output  1 if the derivative is a function of the output (backward from y offered)
//   n_params     0..2; unused names are "" and defaults 0
// Defaults follow PyTorch where peers differ.
#pragma once

#define ACTK_OP_LIST(X)                                                        \
  X(identity, Identity, 1, 0, "", 0.0, "", 0.0)                                \
  X(linear, Linear, 1, 1, "slope", 1.0, "", 0.0)                               \
  X(binary_step, BinaryStep, 1, 0, "", 0.0, "", 0.0)                           \
  X(sigmoid, Sigmoid, 1, 0, "", 0.0, "", 0.0)                                  \
  X(tanh, Tanh, 1, 0, "", 0.0, "", 0.0)                                        \
  X(relu, Relu, 1, 0, "", 0.0, "", 0.0)                                        \
  X(relu6, Relu6, 1, 0, "", 0.0, "", 0.0)                                      \
  X(leaky_relu, LeakyRelu, 1, 1, "negative_slope", 0.01, "", 0.0)              \
  X(prelu, PRelu, 0, 1, "alpha", 0.25, "", 0.0)                                \
  X(elu, Elu, 1, 1, "alpha", 1.0, "", 0.0)                                     \
  X(selu, Selu, 1, 0, "", 0.0, "", 0.0)                                        \
  X(celu, Celu, 1, 1, "alpha", 1.0, "", 0.0)                                   \
  X(gelu, Gelu, 0, 0, "", 0.0, "", 0.0)                                        \
  X(gelu_tanh, GeluTanh, 0, 0, "", 0.0, "", 0.0)                               \
  X(quick_gelu, QuickGelu, 0, 0, "", 0.0, "", 0.0)                             \
  X(silu, Silu, 0, 0, "", 0.0, "", 0.0)                                        \
  X(swish, Swish, 0, 1, "beta", 1.0, "", 0.0)                                  \
  X(mish, Mish, 0, 0, "", 0.0, "", 0.0)                                        \
  X(softplus, Softplus, 1, 2, "beta", 1.0, "threshold", 20.0)                  \
  X(softsign, Softsign, 1, 0, "", 0.0, "", 0.0)                                \
  X(exponential, Exponential, 1, 0, "", 0.0, "", 0.0)                          \
  X(log_sigmoid, LogSigmoid, 1, 0, "", 0.0, "", 0.0)                           \
  X(hardtanh, Hardtanh, 1, 2, "min_val", -1.0, "max_val", 1.0)                 \
  X(hardsigmoid, Hardsigmoid, 1, 0, "", 0.0, "", 0.0)                          \
  X(hardswish, Hardswish, 0, 0, "", 0.0, "", 0.0)                              \
  X(softshrink, Softshrink, 1, 1, "lambda", 0.5, "", 0.0)                      \
  X(hardshrink, Hardshrink, 1, 1, "lambda", 0.5, "", 0.0)                      \
  X(tanhshrink, Tanhshrink, 0, 0, "", 0.0, "", 0.0)                            \
  X(threshold, Threshold, 0, 2, "threshold", 0.0, "value", 0.0)                \
  X(squareplus, Squareplus, 0, 1, "b", 4.0, "", 0.0)                           \
  X(squared_relu, SquaredRelu, 1, 0, "", 0.0, "", 0.0)                         \
  X(sparse_plus, SparsePlus, 0, 0, "", 0.0, "", 0.0)                           \
  X(sine, Sine, 0, 0, "", 0.0, "", 0.0)

namespace actk {

/// Every activation, in list order. Values are stable within a release (the C ABI uses them).
enum class Op : int {
#define ACTK_X(id, fn, fo, np, n0, d0, n1, d1) id,
  ACTK_OP_LIST(ACTK_X)
#undef ACTK_X
};

constexpr int op_count =
#define ACTK_X(id, fn, fo, np, n0, d0, n1, d1) +1
    0 ACTK_OP_LIST(ACTK_X);
#undef ACTK_X

}  // namespace actk
