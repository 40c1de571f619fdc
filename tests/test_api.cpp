// tests/test_api.cpp: the public C++ API and the C ABI: the op table, parameter defaults and
// validation, every kind of bad argument (each a clear error that writes nothing), n = 0,
// in-place, the threaded CPU path, PReLU with per-channel alpha, and the C ABI's status codes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <set>
#include <thread>

#include "actk/actk_c.h"
#include "common.h"
#include "host/calls.h"

namespace {

using namespace actk_test;
using actk::Backend;
using actk::DType;
using actk::Error;
using actk::From;
using actk::Params;
using actk::Status;

// ---- the op table -----------------------------------------------------------------------------

TEST(OpTable, EveryOpHasAUniqueNameThatLooksUp) {
  EXPECT_EQ(actk::op_count, 33);
  std::set<std::string> names;
  for (Op op : all_ops()) {
    const actk::OpInfo& i = actk::op_info(op);
    EXPECT_EQ(i.op, op);
    EXPECT_TRUE(names.insert(i.name).second) << i.name;
    EXPECT_EQ(actk::op_from_name(i.name), op);
    for (int k = 0; k < 2; ++k) EXPECT_EQ(std::string(i.param_names[k]).empty(), k >= i.n_params) << i.name;
  }
  for (const char* n : {"identity", "linear", "binary_step", "sigmoid", "tanh", "relu", "relu6", "leaky_relu", "prelu",
                        "elu", "selu", "celu", "gelu", "gelu_tanh", "quick_gelu", "silu", "swish", "mish", "softplus",
                        "softsign", "exponential", "log_sigmoid", "hardtanh", "hardsigmoid", "hardswish", "softshrink",
                        "hardshrink", "tanhshrink", "threshold", "squareplus", "squared_relu", "sparse_plus", "sine"})
    EXPECT_NO_THROW(actk::op_from_name(n)) << n;
}

TEST(OpTable, UnknownNamesAndIdsAreClearErrors) {
  try {
    actk::op_from_name("gelu_tahn");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::unknown_op);
    EXPECT_NE(std::string(e.what()).find("gelu_tahn"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("did you mean 'gelu_tanh'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(actk::op_info(static_cast<Op>(-1)), Error);
  EXPECT_THROW(actk::op_info(static_cast<Op>(actk::op_count)), Error);
}

TEST(OpTable, DefaultsFollowPyTorch) {
  auto def = [](const char* n, int k) { return actk::op_info(actk::op_from_name(n)).param_defaults[k]; };
  EXPECT_EQ(def("leaky_relu", 0), 0.01);
  EXPECT_EQ(def("elu", 0), 1.0);
  EXPECT_EQ(def("celu", 0), 1.0);
  EXPECT_EQ(def("softplus", 0), 1.0);
  EXPECT_EQ(def("softplus", 1), 20.0);
  EXPECT_EQ(def("hardtanh", 0), -1.0);
  EXPECT_EQ(def("hardtanh", 1), 1.0);
  EXPECT_EQ(def("softshrink", 0), 0.5);
  EXPECT_EQ(def("hardshrink", 0), 0.5);
  EXPECT_EQ(def("prelu", 0), 0.25);
  EXPECT_EQ(def("squareplus", 0), 4.0);
  // the defaults are what a call without parameters uses
  const float x = -2.0f;
  float y = 0;
  actk::forward(Op::leaky_relu, &x, &y, 1);
  EXPECT_FLOAT_EQ(y, -0.02f);
  actk::forward(Op::hardsigmoid, &x, &y, 1);
  EXPECT_FLOAT_EQ(y, 1.0f / 6);
  const double one = 1.0;
  double s = 0;
  actk::forward(Op::selu, &one, &s, 1);
  EXPECT_DOUBLE_EQ(s, 1.0507009873554804934);
}

// ---- errors -------------------------------------------------------------------------------------

constexpr float kPoison = -12345.5f;

/// Runs f, expects an actk::Error with `status` whose message contains every fragment, and
/// checks the poisoned output was not touched.
template <class F>
void expect_error(F&& f, Status status, std::initializer_list<const char*> fragments, const std::vector<float>& out) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), status) << e.what();
    for (const char* frag : fragments) EXPECT_NE(std::string(e.what()).find(frag), std::string::npos) << e.what();
  }
  for (float v : out) ASSERT_EQ(v, kPoison) << "an erroring call wrote its output";
}

struct Bufs {
  std::vector<float> x = std::vector<float>(64, 0.5f), dy = std::vector<float>(64, 1.0f),
                     out = std::vector<float>(64, kPoison);
};

TEST(Errors, BadEnumsAndUnknownOps) {
  Bufs b;
  expect_error([&] { actk::forward(static_cast<Op>(999), DType::float32, b.x.data(), b.out.data(), 64); },
               Status::unknown_op, {"actk::forward", "'op'", "999"}, b.out);
  expect_error([&] { actk::forward(Op::relu, static_cast<DType>(7), b.x.data(), b.out.data(), 64); },
               Status::invalid_argument, {"'dtype'"}, b.out);
  expect_error([&] { actk::forward(Op::relu, DType::float32, b.x.data(), b.out.data(), 64, {}, static_cast<Backend>(5)); },
               Status::invalid_argument, {"'backend'"}, b.out);
  expect_error([&] { actk::backward(Op::relu, DType::float32, static_cast<From>(3), b.x.data(), b.dy.data(), b.out.data(), 64); },
               Status::invalid_argument, {"actk::backward", "'from'"}, b.out);
  // even with n == 0 a bad op is an error
  expect_error([&] { actk::forward(static_cast<Op>(-3), DType::float32, nullptr, nullptr, 0); }, Status::unknown_op,
               {"'op'"}, b.out);
}

TEST(Errors, BadParameters) {
  Bufs b;
  auto fwd = [&](Op op, Params p) { return [&, op, p] { actk::forward(op, b.x.data(), b.out.data(), 64, p); }; };
  expect_error(fwd(Op::softshrink, {-1}), Status::invalid_argument, {"softshrink", "lambda must be >= 0", "-1"}, b.out);
  expect_error(fwd(Op::hardshrink, {-0.5}), Status::invalid_argument, {"lambda must be >= 0"}, b.out);
  expect_error(fwd(Op::hardtanh, {2, 1}), Status::invalid_argument, {"min_val must be <= max_val"}, b.out);
  expect_error(fwd(Op::softplus, {0}), Status::invalid_argument, {"beta must be > 0"}, b.out);
  expect_error(fwd(Op::swish, {-1}), Status::invalid_argument, {"beta must be > 0"}, b.out);
  expect_error(fwd(Op::celu, {0}), Status::invalid_argument, {"alpha must be > 0"}, b.out);
  expect_error(fwd(Op::squareplus, {0}), Status::invalid_argument, {"b must be > 0"}, b.out);
  expect_error(fwd(Op::leaky_relu, {std::numeric_limits<double>::infinity()}), Status::invalid_argument,
               {"negative_slope", "must be finite"}, b.out);
  expect_error(fwd(Op::relu, {1.0}), Status::invalid_argument, {"'relu' takes 0 parameter", "params.a"}, b.out);
  expect_error(fwd(Op::elu, {1.0, 2.0}), Status::invalid_argument, {"params.b"}, b.out);
  // constraints that only the backward from the output has
  expect_error([&] { actk::backward(Op::elu, From::output, b.x.data(), b.dy.data(), b.out.data(), 64, {-1}); },
               Status::invalid_argument, {"alpha >= 0"}, b.out);
  expect_error([&] { actk::backward(Op::leaky_relu, From::output, b.x.data(), b.dy.data(), b.out.data(), 64, {-0.1}); },
               Status::invalid_argument, {"negative_slope >= 0"}, b.out);
  EXPECT_NO_THROW(actk::backward(Op::elu, From::input, b.x.data(), b.dy.data(), b.x.data(), 64, {-1}));
  expect_error([&] { actk::backward(Op::gelu, From::output, b.x.data(), b.dy.data(), b.out.data(), 64); },
               Status::invalid_argument, {"'gelu' has no backward from the output"}, b.out);
}

// Every parameter set the forward refuses is refused by both backward forms too, through the C++
// API and the C ABI (the backward from the output used to skip the op's own check: celu with
// alpha = 0 gave -inf, softplus with beta = 0 zeros). Candidates: 0, +-1, +-0.5 and swapped pairs.
TEST(Errors, EveryParameterCheckHoldsInAllThreeForms) {
  Bufs b;
  const double cand[] = {0.0, 1.0, -1.0, 0.5, -0.5, 2.0};
  int refused = 0;
  for (Op op : all_ops()) {
    const actk::OpInfo& info = actk::op_info(op);
    if (info.n_params == 0) continue;
    for (double a : cand)
      for (double bb : cand) {
        const Params p{a, info.n_params > 1 ? bb : std::numeric_limits<double>::quiet_NaN()};
        if (info.n_params == 1 && bb != cand[0]) continue;
        bool fwd_refused = false;
        try {
          actk::forward(op, b.x.data(), b.out.data(), 64, p);
        } catch (const actk::Error& e) {
          fwd_refused = e.status() == Status::invalid_argument;
        }
        if (!fwd_refused) continue;
        ++refused;
        const double cp[2] = {p.a, p.b};
        for (int form = 0; form < (info.has_backward_from_output ? 2 : 1); ++form) {
          const From f = form == 0 ? From::input : From::output;
          EXPECT_THROW(actk::backward(op, f, b.x.data(), b.dy.data(), b.out.data(), 64, p), actk::Error)
              << info.name << " a=" << a << " b=" << bb << (form ? " from the output" : " from the input");
          EXPECT_EQ(actk_backward(static_cast<int>(op), cp, ACTK_FLOAT32, form ? ACTK_FROM_OUTPUT : ACTK_FROM_INPUT,
                                  b.x.data(), b.dy.data(), b.out.data(), 64, ACTK_BACKEND_CPU, nullptr),
                    ACTK_ERROR_INVALID_ARGUMENT)
              << "C ABI: " << info.name << " a=" << a << " b=" << bb << (form ? " from the output" : " from the input");
        }
        EXPECT_EQ(actk_forward(static_cast<int>(op), cp, ACTK_FLOAT32, b.x.data(), b.out.data(), 64, ACTK_BACKEND_CPU, nullptr),
                  ACTK_ERROR_INVALID_ARGUMENT)
            << "C ABI forward: " << info.name;
      }
  }
  EXPECT_GE(refused, 8);  // celu, softplus, swish, squareplus, hardtanh, softshrink, hardshrink, ... were tried
  // the four cases the defect report names, from the output
  const double celu0[1] = {0.0}, softplus0[2] = {0.0, 20.0}, hardtanh_bad[2] = {2.0, 1.0}, softshrink_neg[1] = {-1.0};
  EXPECT_EQ(actk_backward(static_cast<int>(Op::celu), celu0, ACTK_FLOAT32, ACTK_FROM_OUTPUT, b.x.data(), b.dy.data(),
                          b.out.data(), 4, ACTK_BACKEND_CPU, nullptr),
            ACTK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(actk_backward(static_cast<int>(Op::softplus), softplus0, ACTK_FLOAT32, ACTK_FROM_OUTPUT, b.x.data(), b.dy.data(),
                          b.out.data(), 4, ACTK_BACKEND_CPU, nullptr),
            ACTK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(actk_backward(static_cast<int>(Op::hardtanh), hardtanh_bad, ACTK_FLOAT32, ACTK_FROM_OUTPUT, b.x.data(),
                          b.dy.data(), b.out.data(), 4, ACTK_BACKEND_CPU, nullptr),
            ACTK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(actk_backward(static_cast<int>(Op::softshrink), softshrink_neg, ACTK_FLOAT32, ACTK_FROM_OUTPUT, b.x.data(),
                          b.dy.data(), b.out.data(), 4, ACTK_BACKEND_CPU, nullptr),
            ACTK_ERROR_INVALID_ARGUMENT);
}

// A device pointer on another GPU than the current one is refused, naming both devices (the
// rule host/cuda_runtime.cpp's classify applies; this machine has at most one GPU, so the rule
// itself is checked here).
TEST(Errors, DevicePointersMustBeOnTheCurrentDevice) {
  EXPECT_EQ(actk::detail::other_device_message(0, 0), "");
  EXPECT_EQ(actk::detail::other_device_message(3, 3), "");
  const std::string m = actk::detail::other_device_message(1, 0);
  EXPECT_NE(m.find("on GPU 1"), std::string::npos) << m;
  EXPECT_NE(m.find("current device is GPU 0"), std::string::npos) << m;
  EXPECT_NE(m.find("cudaSetDevice(1)"), std::string::npos) << m;
}

// Review defects (issue #15), each through the C ABI as a C caller would meet it.
TEST(Errors, PreluBackwardWithNoElementsWritesZerosAndReadsNoAlpha) {
  // n = 0: alpha counts as 0 elements (null here), dalpha still receives the channels' empty sums
  float dalpha[4] = {kPoison, kPoison, kPoison, kPoison};
  EXPECT_EQ(actk_prelu_backward(ACTK_FLOAT32, nullptr, nullptr, nullptr, nullptr, dalpha, 0, 4, 1, ACTK_BACKEND_CPU, nullptr,
                                nullptr, 0),
            ACTK_OK)
      << actk_last_error();
  for (float v : dalpha) {
    EXPECT_EQ(v, 0.0f);
    EXPECT_FALSE(std::signbit(v));
  }
  const actk::bfloat16 one(1.0);
  actk::bfloat16 da16[3] = {one, one, one};
  EXPECT_EQ(actk_prelu_backward(ACTK_BFLOAT16, nullptr, nullptr, &one, nullptr, da16, 0, 3, 5, ACTK_BACKEND_CPU, nullptr,
                                nullptr, 0),
            ACTK_OK);
  for (const actk::bfloat16& v : da16) EXPECT_EQ(v.bits, 0);
}

TEST(Errors, EverySizeOfAnEmptyFusedCallIsChecked) {
  // rows = 0 still touches dbias (cols elements, summed in double): an overflowing cols is an
  // invalid argument, not an internal error from an impossible allocation
  float dbias[4];
  for (std::int64_t cols : {std::int64_t{1} << 62, std::int64_t{1} << 61, std::int64_t{-1}}) {
    EXPECT_EQ(actk_bias_act_backward(static_cast<int>(Op::gelu), nullptr, ACTK_FLOAT32, nullptr, nullptr, nullptr, nullptr, dbias,
                                     0, cols, 1.0, 0.0, ACTK_BACKEND_CPU, nullptr, nullptr, 0),
              ACTK_ERROR_INVALID_ARGUMENT)
        << "cols = " << cols << ": " << actk_last_error();
    EXPECT_NE(std::string(actk_last_error()).find("cols"), std::string::npos) << actk_last_error();
  }
  EXPECT_EQ(actk_bias_act_backward(static_cast<int>(Op::gelu), nullptr, ACTK_FLOAT32, nullptr, nullptr, nullptr, nullptr, dbias, 0,
                                   4, 1.0, 0.0, ACTK_BACKEND_CPU, nullptr, nullptr, 0),
            ACTK_OK)
      << actk_last_error();
  for (float v : dbias) EXPECT_EQ(v, 0.0f);
}

// Invalid enum values through the C ABI, as a C caller can pass them: refused, and no undefined
// behaviour on the way (CI runs this under -fsanitize=undefined, which checks enum loads).
TEST(Errors, InvalidCEnumValuesAreRefused) {
  Bufs b;
  for (int v : {4, 7, -1, std::numeric_limits<int>::max()}) {
    EXPECT_EQ(actk_forward(0, nullptr, static_cast<actk_dtype>(v), b.x.data(), b.out.data(), 4, ACTK_BACKEND_CPU, nullptr),
              ACTK_ERROR_INVALID_ARGUMENT)
        << "dtype " << v;
    EXPECT_EQ(actk_forward(0, nullptr, ACTK_FLOAT32, b.x.data(), b.out.data(), 4, static_cast<actk_backend>(v), nullptr),
              ACTK_ERROR_INVALID_ARGUMENT)
        << "backend " << v;
    EXPECT_EQ(actk_backward(0, nullptr, ACTK_FLOAT32, static_cast<actk_from>(v), b.x.data(), b.dy.data(), b.out.data(), 4,
                            ACTK_BACKEND_CPU, nullptr),
              ACTK_ERROR_INVALID_ARGUMENT)
        << "from " << v;
    EXPECT_EQ(actk_softmax_forward(static_cast<actk_dtype>(v), b.x.data(), b.out.data(), 2, 2, 1, 0, ACTK_BACKEND_CPU, nullptr),
              ACTK_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(actk_last_error()), "");
  }
  for (float v : b.out) EXPECT_EQ(std::memcmp(&v, &kPoison, 4), 0);  // nothing written
}

// The workspace queries take any sizes (found by the fuzzer: rows + 255 overflowed at INT64_MAX):
// the bytes a valid shape needs, SIZE_MAX where the product overflows, one double for empty shapes.
TEST(Errors, WorkspaceQueriesTakeAnySize) {
  const std::int64_t big = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(actk_bias_act_backward_workspace_bytes(ACTK_FLOAT32, big, 4), std::size_t{2048} * 4 * sizeof(double));
  EXPECT_EQ(actk_bias_act_backward_workspace_bytes(ACTK_FLOAT32, 300, 4), std::size_t{2} * 4 * sizeof(double));
  EXPECT_EQ(actk_bias_act_backward_workspace_bytes(ACTK_FLOAT32, 4, big), SIZE_MAX);
  EXPECT_EQ(actk_bias_act_backward_workspace_bytes(ACTK_FLOAT32, -5, -5), sizeof(double));
  EXPECT_EQ(actk_prelu_backward_workspace_bytes(ACTK_FLOAT32, big, 1, 1), std::size_t{1024} * sizeof(double));
  EXPECT_EQ(actk_prelu_backward_workspace_bytes(ACTK_FLOAT32, big, big, 1), SIZE_MAX);
  EXPECT_EQ(actk_prelu_backward_workspace_bytes(ACTK_FLOAT32, std::numeric_limits<std::int64_t>::min(), 3, 1), 3 * sizeof(double));
}

TEST(Errors, AnEmptyCallGetsTheSameBackendAnswerAsAFullOne) {
  // backend cuda: refused on a machine without CUDA or a GPU, whatever n is; accepted on one
  Bufs b;
  const actk_status full = actk_forward(static_cast<int>(Op::relu), nullptr, ACTK_FLOAT32, b.x.data(), b.out.data(), 1,
                                        ACTK_BACKEND_CUDA, nullptr);
  const actk_status empty = actk_forward(static_cast<int>(Op::relu), nullptr, ACTK_FLOAT32, b.x.data(), b.out.data(), 0,
                                         ACTK_BACKEND_CUDA, nullptr);
  if (!actk::cuda_available()) {
    EXPECT_EQ(full, ACTK_ERROR_UNSUPPORTED);
    EXPECT_EQ(empty, ACTK_ERROR_UNSUPPORTED) << "n = 0 must not skip the backend check";
    const float* none = nullptr;
    EXPECT_EQ(actk_softmax_forward(ACTK_FLOAT32, none, nullptr, 0, 8, 1, 0, ACTK_BACKEND_CUDA, nullptr), ACTK_ERROR_UNSUPPORTED);
    EXPECT_EQ(actk_prelu_forward(ACTK_FLOAT32, nullptr, nullptr, nullptr, 0, 1, 1, ACTK_BACKEND_CUDA, nullptr),
              ACTK_ERROR_UNSUPPORTED);
    EXPECT_EQ(actk_gated_forward(static_cast<int>(Op::silu), nullptr, ACTK_FLOAT32, nullptr, nullptr, 2, nullptr, 0, 1, 1.0, 0.0,
                                 ACTK_BACKEND_CUDA, nullptr),
              ACTK_ERROR_UNSUPPORTED);
  } else {
    EXPECT_EQ(empty, ACTK_OK) << actk_last_error();
  }
}

TEST(Errors, BadPointersAndSizes) {
  Bufs b;
  expect_error([&] { actk::forward(Op::relu, DType::float32, nullptr, b.out.data(), 64); }, Status::invalid_argument,
               {"'x' is null", "64"}, b.out);
  expect_error([&] { actk::forward(Op::relu, DType::float32, b.x.data(), nullptr, 64); }, Status::invalid_argument,
               {"'y' is null"}, b.out);
  expect_error([&] { actk::backward(Op::relu, DType::float32, From::input, b.x.data(), nullptr, b.out.data(), 64); },
               Status::invalid_argument, {"'dy' is null"}, b.out);
  expect_error([&] { actk::backward(Op::relu, DType::float32, From::output, nullptr, b.dy.data(), b.out.data(), 64); },
               Status::invalid_argument, {"'y' is null"}, b.out);
  expect_error([&] { actk::forward(Op::relu, DType::float32, b.x.data(), b.out.data(), -1); }, Status::invalid_argument,
               {"'n' = -1 is negative"}, b.out);
  expect_error([&] { actk::forward(Op::relu, DType::float32, b.x.data(), b.out.data(), INT64_MAX); },
               Status::invalid_argument, {"overflows"}, b.out);
  expect_error([&] { actk::forward(Op::relu, DType::float64, b.x.data(), b.out.data(), INT64_MAX / 4); },
               Status::invalid_argument, {"overflows"}, b.out);
}

TEST(Errors, MisalignedPointersAreRefused) {
  alignas(16) unsigned char raw[64] = {};
  float y[4];
  try {
    actk::forward(Op::relu, DType::float32, raw + 2, y, 4);
    ADD_FAILURE() << "misaligned x accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not aligned to its 4-byte element size"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(actk::forward(Op::relu, DType::float16, raw + 2, raw + 32, 4));  // 2-byte elements: fine
}

TEST(Errors, PartialOverlapIsRefusedInPlaceIsNot) {
  std::vector<float> buf(65, 0.25f);
  const std::vector<float> before = buf;
  try {
    actk::forward(Op::sigmoid, buf.data(), buf.data() + 1, 64);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("overlap partially"), std::string::npos) << e.what();
  }
  EXPECT_EQ(buf, before);
  std::vector<float> x(64, 0.5f), dy(64, 1.0f);
  EXPECT_THROW(actk::backward(Op::sigmoid, From::input, x.data(), dy.data(), dy.data() + 1, 63), Error);
  EXPECT_NO_THROW(actk::backward(Op::sigmoid, From::input, x.data(), dy.data(), dy.data(), 64));
  EXPECT_NO_THROW(actk::backward(Op::sigmoid, From::input, x.data(), dy.data(), x.data(), 64));
}

TEST(Errors, CudaBackendWithoutAGpuIsUnsupported) {
  if (actk::cuda_available()) GTEST_SKIP() << "this machine has a GPU: covered by the GPU suite";
  Bufs b;
  expect_error([&] { actk::forward(Op::relu, b.x.data(), b.out.data(), 64, {}, Backend::cuda); }, Status::unsupported,
               {"backend cuda"}, b.out);
  // automatic falls back to nothing silently only in the sense that host pointers mean the CPU
  EXPECT_NO_THROW(actk::forward(Op::relu, b.x.data(), b.out.data(), 64, {}, Backend::automatic));
  EXPECT_EQ(b.out[0], 0.5f);
}

TEST(Api, ZeroElementsIsANoOp) {
  EXPECT_NO_THROW(actk::forward(Op::gelu, DType::float32, nullptr, nullptr, 0));
  EXPECT_NO_THROW(actk::backward(Op::gelu, DType::bfloat16, From::input, nullptr, nullptr, nullptr, 0));
  EXPECT_NO_THROW(actk::prelu_forward(DType::float32, nullptr, nullptr, nullptr, 0, 1, 1));
}

// ---- in place, threads, dtypes ------------------------------------------------------------------

template <class S> std::vector<S> test_data(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<S> v(n);
  const double specials[] = {0.0, -0.0, 1.0, -1.0, 3.0, -3.0, 6.0, 1e-30, -1e-30, 80.0, -80.0,
                             std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                             std::numeric_limits<double>::quiet_NaN()};
  for (std::size_t i = 0; i < n; ++i) {
    const double d = i % 7 == 0 ? specials[(i / 7) % 14] : rng.uniform(-8, 8);
    v[i] = to<S>(d);
  }
  return v;
}

template <class S> void check_in_place_all_ops() {
  const std::size_t n = (1u << 16) + 37;  // past the parallel threshold, not a chunk multiple
  const std::vector<S> x = test_data<S>(n, 1), dy = test_data<S>(n, 2);
  for (Op op : all_ops()) {
    for (Dir dir : kAllDirs) {
      if (dir == Dir::from_output && !actk::op_info(op).has_backward_from_output) continue;
      std::vector<S> out(n), inplace = dir == Dir::forward ? x : dy;
      if (dir == Dir::forward) {
        actk::forward(op, x.data(), out.data(), static_cast<std::int64_t>(n));
        actk::forward(op, inplace.data(), inplace.data(), static_cast<std::int64_t>(n));
      } else {
        const From f = from_of(dir);
        actk::backward(op, f, x.data(), dy.data(), out.data(), static_cast<std::int64_t>(n));
        actk::backward(op, f, x.data(), inplace.data(), inplace.data(), static_cast<std::int64_t>(n));  // dx == dy
        std::vector<S> xcopy = x;
        actk::backward(op, f, xcopy.data(), dy.data(), xcopy.data(), static_cast<std::int64_t>(n));  // dx == x
        ASSERT_EQ(std::memcmp(xcopy.data(), out.data(), n * sizeof(S)), 0) << op_name(op) << " " << dir_name(dir);
      }
      ASSERT_EQ(std::memcmp(inplace.data(), out.data(), n * sizeof(S)), 0) << op_name(op) << " " << dir_name(dir);
      // every element is the single-element result (chunk edges and the tail included)
      for (std::size_t i : {std::size_t{0}, std::size_t{16383}, std::size_t{16384}, n / 2, n - 1}) {
        S one;
        if (dir == Dir::forward) actk::forward(op, &x[i], &one, 1);
        else actk::backward(op, from_of(dir), &x[i], &dy[i], &one, 1);
        ASSERT_EQ(std::memcmp(&one, &out[i], sizeof(S)), 0) << op_name(op) << " " << dir_name(dir) << " i " << i;
      }
    }
  }
}

TEST(Api, InPlaceEqualsOutOfPlaceFloat32) { check_in_place_all_ops<float>(); }
TEST(Api, InPlaceEqualsOutOfPlaceFloat64) { check_in_place_all_ops<double>(); }
TEST(Api, InPlaceEqualsOutOfPlaceFloat16) { check_in_place_all_ops<float16>(); }
TEST(Api, InPlaceEqualsOutOfPlaceBFloat16) { check_in_place_all_ops<bfloat16>(); }

TEST(Api, CpuReferenceRoundsTheDoubleResultOnce) {
  // sigmoid(x) for bfloat16: the double result rounded directly to bfloat16
  const std::vector<bfloat16> x = test_data<bfloat16>(4096, 9);
  std::vector<bfloat16> y(x.size());
  actk::forward(Op::sigmoid, x.data(), y.data(), static_cast<std::int64_t>(x.size()));
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double r = actk::ops::Sigmoid::forward(static_cast<double>(x[i]), actk::P<double>::make(0, 0));
    ASSERT_EQ(y[i].bits, bfloat16(r).bits) << i;
  }
}

// ---- PReLU --------------------------------------------------------------------------------------

TEST(Prelu, PerChannelForwardAndBackward) {
  const std::int64_t outer = 2, C = 3, inner = 4, n = outer * C * inner;
  std::vector<double> x(n), dy(n), y(n), dx(n), alpha = {0.1, -0.5, 2.0}, dalpha(C, -1);
  Rng rng(3);
  for (std::int64_t i = 0; i < n; ++i) x[i] = rng.uniform(-3, 3), dy[i] = rng.uniform(-2, 2);
  x[5] = 0.0;
  actk::prelu_forward(DType::float64, x.data(), alpha.data(), y.data(), n, C, inner);
  actk::prelu_backward(DType::float64, x.data(), dy.data(), alpha.data(), dx.data(), dalpha.data(), n, C, inner);
  std::vector<double> want_da(C, 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t c = (i / inner) % C;
    EXPECT_DOUBLE_EQ(y[i], x[i] > 0 ? x[i] : alpha[c] * x[i]) << i;
    EXPECT_DOUBLE_EQ(dx[i], x[i] > 0 ? dy[i] : alpha[c] * dy[i]) << i;  // prelu'(0) = alpha
    if (x[i] <= 0) want_da[c] += x[i] * dy[i];
  }
  for (std::int64_t c = 0; c < C; ++c) EXPECT_NEAR(dalpha[c], want_da[c], 1e-14) << c;
}

TEST(Prelu, SharedAlphaLargeTensorIsDeterministic) {
  const std::int64_t n = (1 << 20) + 3;
  std::vector<float> x = test_data<float>(n, 5), dy = test_data<float>(n, 6);
  for (float& v : x)
    if (std::isnan(v) || std::isinf(v)) v = -1.5f;
  for (float& v : dy)
    if (std::isnan(v) || std::isinf(v)) v = 0.5f;
  const float alpha = 0.25f;
  std::vector<float> dx1(n), dx2(n);
  float da1 = 0, da2 = 0;
  actk::prelu_backward(DType::float32, x.data(), dy.data(), &alpha, dx1.data(), &da1, n, 1, 1);
  actk::prelu_backward(DType::float32, x.data(), dy.data(), &alpha, dx2.data(), &da2, n, 1, 1);
  EXPECT_EQ(bits(da1), bits(da2));
  EXPECT_EQ(dx1, dx2);
  double want = 0;
  for (std::int64_t i = 0; i < n; ++i)
    if (x[i] <= 0) want += static_cast<double>(x[i]) * dy[i];
  EXPECT_NEAR(da1, want, std::fabs(want) * 1e-6);
  // multi-channel: same bits twice
  const std::int64_t C = 7, inner = 1000, m = 10 * C * inner;
  std::vector<float> al(C, 0.1f), d1(C), d2(C);
  actk::prelu_backward(DType::float32, x.data(), dy.data(), al.data(), dx1.data(), d1.data(), m, C, inner);
  actk::prelu_backward(DType::float32, x.data(), dy.data(), al.data(), dx2.data(), d2.data(), m, C, inner);
  EXPECT_EQ(std::memcmp(d1.data(), d2.data(), C * sizeof(float)), 0);
}

TEST(Prelu, NanPropagatesAndBadLayoutsAreErrors) {
  std::vector<float> x = {1, std::numeric_limits<float>::quiet_NaN(), -1, -2}, dy = {1, 1, 1, 1}, dx(4), y(4);
  const float alpha = 0.5f;
  float da = 0;
  actk::prelu_backward(DType::float32, x.data(), dy.data(), &alpha, dx.data(), &da, 4, 1, 1);
  EXPECT_TRUE(std::isnan(da));
  EXPECT_TRUE(std::isnan(dx[1]));
  EXPECT_THROW(actk::prelu_forward(DType::float32, x.data(), &alpha, y.data(), 4, 3, 1), Error);  // 4 % 3 != 0
  EXPECT_THROW(actk::prelu_forward(DType::float32, x.data(), &alpha, y.data(), 4, 0, 1), Error);
  EXPECT_THROW(actk::prelu_forward(DType::float32, x.data(), &alpha, y.data(), 4, 1, 0), Error);
  EXPECT_THROW(actk::prelu_forward(DType::float32, x.data(), nullptr, y.data(), 4, 1, 1), Error);
  EXPECT_THROW(actk::prelu_backward(DType::float32, x.data(), dy.data(), &alpha, dx.data(), nullptr, 4, 1, 1), Error);
  EXPECT_THROW(actk::prelu_backward(DType::float32, x.data(), dy.data(), &alpha, dx.data(), dx.data() + 1, 4, 1, 1), Error);
  // dalpha is written first, so it may alias none of the inputs (n == channels makes sizes equal)
  std::vector<float> x4 = {-1, -2, -3, -4}, dy4 = {1, 1, 1, 1}, al4 = {0.1f, 0.2f, 0.3f, 0.4f}, dx4(4);
  EXPECT_THROW(actk::prelu_backward(DType::float32, x4.data(), dy4.data(), al4.data(), dx4.data(), x4.data(), 4, 4, 1), Error);
  EXPECT_THROW(actk::prelu_backward(DType::float32, x4.data(), dy4.data(), al4.data(), dx4.data(), dy4.data(), 4, 4, 1), Error);
  float a2 = 0.5f;
  try {
    actk::prelu_backward(DType::float32, x.data(), dy.data(), &a2, dx.data(), &a2, 4, 1, 1);
    ADD_FAILURE() << "dalpha == alpha accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dalpha may not alias x, dy or alpha"), std::string::npos) << e.what();
  }
  // the GPU scratch size is a function of the shape; the C ABI reports the same
  EXPECT_GE(actk::prelu_backward_workspace_bytes(DType::float32, 1 << 26, 1, 1), 1024 * sizeof(double));
  EXPECT_EQ(actk_prelu_backward_workspace_bytes(ACTK_FLOAT32, 1 << 20, 8, 128),
            actk::prelu_backward_workspace_bytes(DType::float32, 1 << 20, 8, 128));
  EXPECT_EQ(actk_prelu_backward(ACTK_FLOAT32, x.data(), dy.data(), &alpha, dx.data(), &da, 4, 1, 1, ACTK_BACKEND_CPU,
                                nullptr, nullptr, 0),
            ACTK_OK);
}

// ---- the C ABI ----------------------------------------------------------------------------------

TEST(CAbi, ListsEveryOpWithParameters) {
  ASSERT_EQ(actk_op_count(), actk::op_count);
  for (int i = 0; i < actk_op_count(); ++i) {
    actk_op_info info{};
    ASSERT_EQ(actk_op_info_get(i, &info), ACTK_OK);
    int back = -1;
    ASSERT_EQ(actk_op_from_name(info.name, &back), ACTK_OK);
    EXPECT_EQ(back, i);
  }
  actk_op_info info{};
  int op = -1;
  ASSERT_EQ(actk_op_from_name("softplus", &op), ACTK_OK);
  ASSERT_EQ(actk_op_info_get(op, &info), ACTK_OK);
  EXPECT_STREQ(info.param_names[0], "beta");
  EXPECT_STREQ(info.param_names[1], "threshold");
  EXPECT_EQ(info.param_defaults[1], 20.0);
  EXPECT_EQ(info.has_backward_from_output, 1);
  EXPECT_EQ(actk_op_info_get(99, &info), ACTK_ERROR_UNKNOWN_OP);
  EXPECT_EQ(actk_op_info_get(0, nullptr), ACTK_ERROR_INVALID_ARGUMENT);
}

TEST(CAbi, StatusCodesAndThreadLocalMessages) {
  int elu = -1;
  ASSERT_EQ(actk_op_from_name("elu", &elu), ACTK_OK);
  const float x[3] = {-1.0f, 0.0f, 2.0f};
  float y[3] = {0, 0, 0};
  const double alpha = 0.5;
  ASSERT_EQ(actk_forward(elu, &alpha, ACTK_FLOAT32, x, y, 3, ACTK_BACKEND_AUTO, nullptr), ACTK_OK);
  EXPECT_FLOAT_EQ(y[0], static_cast<float>(0.5 * std::expm1(-1.0)));
  EXPECT_EQ(y[2], 2.0f);
  ASSERT_EQ(actk_forward(elu, nullptr, ACTK_FLOAT32, x, y, 3, ACTK_BACKEND_AUTO, nullptr), ACTK_OK);  // defaults
  EXPECT_FLOAT_EQ(y[0], static_cast<float>(std::expm1(-1.0)));
  EXPECT_STREQ(actk_last_error(), "");

  EXPECT_EQ(actk_op_from_name("nope", &elu), ACTK_ERROR_UNKNOWN_OP);
  EXPECT_NE(std::string(actk_last_error()).find("nope"), std::string::npos);
  EXPECT_EQ(actk_forward(0, nullptr, ACTK_FLOAT32, nullptr, y, 3, ACTK_BACKEND_CPU, nullptr), ACTK_ERROR_INVALID_ARGUMENT);
  const std::string msg = actk_last_error();
  EXPECT_NE(msg.find("'x' is null"), std::string::npos) << msg;
  // another thread's failure leaves this thread's message alone
  std::thread([] {
    float v = 0;
    EXPECT_EQ(actk_forward(12345, nullptr, ACTK_FLOAT32, &v, &v, 1, ACTK_BACKEND_CPU, nullptr), ACTK_ERROR_UNKNOWN_OP);
  }).join();
  EXPECT_EQ(msg, actk_last_error());
  EXPECT_EQ(actk_backward(elu, nullptr, ACTK_FLOAT32, ACTK_FROM_OUTPUT, x, x, y, 3, ACTK_BACKEND_CUDA, nullptr),
            actk::cuda_available() ? ACTK_ERROR_INVALID_ARGUMENT : ACTK_ERROR_UNSUPPORTED);
  EXPECT_EQ(actk_cuda_available(), actk::cuda_available() ? 1 : 0);
  EXPECT_STREQ(actk_version(), actk::version());
  EXPECT_STREQ(actk_cpu_simd(), actk::cpu_simd());
  // the environment caps the CPU loops (the portable run of this suite sets ACTK_CPU_SIMD=0)
  const char* simd = std::getenv("ACTK_CPU_SIMD");
  const std::string loops = actk::cpu_simd();
  if (simd != nullptr && std::string(simd) == "0") EXPECT_EQ(loops, "portable");
  else if (simd != nullptr && std::string(simd) == "avx2") EXPECT_NE(loops, "AVX-512");
  else EXPECT_TRUE(loops == "AVX-512" || loops == "AVX2" || loops == "portable") << loops;
}

}  // namespace

namespace {
TEST(Readme, ListsEveryOpWithItsDefaults) {
  std::ifstream f(ACTK_README);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string readme = ss.str();
  ASSERT_FALSE(readme.empty()) << ACTK_README;
  for (Op op : actk_test::all_ops()) {
    const actk::OpInfo& i = actk::op_info(op);
    const std::string row = std::string("| `") + i.name + "` |";
    const std::size_t at = readme.find(row);
    ASSERT_NE(at, std::string::npos) << "README's op table has no row for " << i.name;
    const std::string line = readme.substr(at, readme.find('\n', at) - at);
    for (int k = 0; k < i.n_params; ++k)
      EXPECT_NE(line.find(i.param_names[k]), std::string::npos) << i.name << ": " << line;
    EXPECT_NE(line.find(i.has_backward_from_output ? "x or y |" : "| x |"), std::string::npos) << line;
  }
}
}  // namespace
