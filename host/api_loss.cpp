// host/api_loss.cpp: cross-entropy's public entry points: every argument validated (enums, sizes,
// options, buffers with their own element sizes, aliasing), then the call handed to the backend
// the pointers choose (host/cpu_loss.cpp, kernels/cross_entropy.cu).
#include <cmath>
#include <cstdint>
#include <string>

#include "actk/actk.h"
#include "host/calls.h"
#include "host/validate.h"

namespace actk {

using namespace detail;  // the checks of host/validate.h

namespace {

struct LossArgs {
  const void* logits;
  IndexType target_type;
  const void* targets;
  void* loss;         // forward
  float* lse;         // forward (optional)
  const void* dloss;  // backward
  const float* lse_in;  // backward (optional)
  void* dlogits;      // backward
};

void run_cross_entropy(const char* call, bool bwd, DType dtype, const LossArgs& a, std::int64_t rows, std::int64_t vocab,
                       const CrossEntropyOptions& o, Backend backend, Stream stream) {
  check_enums(call, Op::identity, dtype, backend);
  if (a.target_type != IndexType::int32 && a.target_type != IndexType::int64)
    fail(Status::invalid_argument, call, "argument 'target_type' = " + std::to_string(static_cast<int>(a.target_type)) +
                                             " is not int32 (0) or int64 (1)");
  const int red = static_cast<int>(o.reduction);
  if (red < 0 || red > 2)
    fail(Status::invalid_argument, call, "option 'reduction' = " + std::to_string(red) + " is not none (0), sum (1) or mean (2)");
  if (!(o.label_smoothing >= 0.0 && o.label_smoothing <= 1.0))
    fail(Status::invalid_argument, call, "option 'label_smoothing' = " + num(o.label_smoothing) + " is outside [0, 1]");
  if (!(o.z_loss >= 0.0) || !std::isfinite(o.z_loss))
    fail(Status::invalid_argument, call, "option 'z_loss' = " + num(o.z_loss) + " is not a finite value >= 0");
  if (!(o.softcap >= 0.0) || !std::isfinite(o.softcap))
    fail(Status::invalid_argument, call, "option 'softcap' = " + num(o.softcap) + " is not a finite value >= 0 (0: no cap)");
  if (rows < 0) fail(Status::invalid_argument, call, "argument 'rows' = " + std::to_string(rows) + " is negative");
  if (vocab < 1) fail(Status::invalid_argument, call, "argument 'vocab' = " + std::to_string(vocab) + " is less than 1");
  if (rows > INT64_MAX / vocab) fail(Status::invalid_argument, call, "rows * vocab overflows a 64-bit count");
  const std::size_t elem = dtype_size(dtype), tsize = a.target_type == IndexType::int64 ? 8 : 4;
  const std::int64_t n = rows * vocab;
  check_size(call, "rows * vocab", n, elem);
  const std::int64_t per_loss = o.reduction == Reduction::none ? rows : 1;  // sum / mean: written even for rows = 0
  Buf in[5] = {{"logits", a.logits, n, false},
               {"targets", a.targets, rows, false, tsize},
               {"options.weight", o.weight, o.weight ? vocab : 0, false},
               {bwd ? "dloss" : "", a.dloss, bwd ? per_loss : 0, false},
               {bwd ? "lse" : "", a.lse_in, bwd && a.lse_in ? rows : 0, false, 4}};
  if (!bwd) {
    const Buf out[2] = {{"loss", a.loss, per_loss, true}, {"lse", a.lse, a.lse ? rows : 0, true, 4}};
    Buf all[5] = {in[0], in[1], in[2], out[0], out[1]};
    check_buffers(call, all, 5, elem);
    check_disjoint(call, out[0], in, 3, elem, "the loss may not alias an input");
    check_disjoint(call, out[1], in, 3, elem, "lse may not alias an input");
    check_disjoint(call, out[1], out, 1, elem, "lse and the loss must be separate buffers");
    const Backend be = choose_backend(call, backend, all, 5);
    const CrossEntropyCall c{dtype, false, a.logits, tsize == 8, a.targets, o.weight, a.loss, nullptr, a.lse, nullptr, nullptr,
                             rows, vocab, red, o.ignore_index, o.label_smoothing, o.z_loss, o.softcap, stream};
    if (be == Backend::cpu) cpu_cross_entropy(c);
    else cuda_cross_entropy(c);
    return;
  }
  Buf all[6] = {in[0], in[1], in[2], in[3], in[4], {"dlogits", a.dlogits, n, true}};
  check_buffers(call, all, 6, elem);
  check_disjoint(call, all[5], in + 1, 4, elem, "dlogits may be the logits (in place) but no other input");
  const Backend be = choose_backend(call, backend, all, 6);
  if (n == 0) return;
  const CrossEntropyCall c{dtype, true, a.logits, tsize == 8, a.targets, o.weight, nullptr, a.dloss, nullptr, a.lse_in, a.dlogits,
                           rows, vocab, red, o.ignore_index, o.label_smoothing, o.z_loss, o.softcap, stream};
  if (be == Backend::cpu) cpu_cross_entropy(c);
  else cuda_cross_entropy(c);
}

}  // namespace

void cross_entropy_forward(DType dtype, const void* logits, IndexType target_type, const void* targets, void* loss, float* lse,
                           std::int64_t rows, std::int64_t vocab, const CrossEntropyOptions& options, Backend backend,
                           Stream stream) {
  run_cross_entropy("cross_entropy_forward", false, dtype, {logits, target_type, targets, loss, lse, nullptr, nullptr, nullptr},
                    rows, vocab, options, backend, stream);
}

void cross_entropy_backward(DType dtype, const void* logits, IndexType target_type, const void* targets, const void* dloss,
                            const float* lse, void* dlogits, std::int64_t rows, std::int64_t vocab,
                            const CrossEntropyOptions& options, Backend backend, Stream stream) {
  run_cross_entropy("cross_entropy_backward", true, dtype, {logits, target_type, targets, nullptr, nullptr, dloss, lse, dlogits},
                    rows, vocab, options, backend, stream);
}

}  // namespace actk
