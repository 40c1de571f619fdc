// host/validate.h: the argument checks every public entry point shares (host/api.cpp,
// host/api_fused.cpp). Each failure throws actk::Error with a message naming the public call and
// the argument ("actk::gated_forward: argument 'in_stride' = 3 is less than cols = 4").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "actk/actk.h"
#include "host/calls.h"

namespace actk {
namespace detail {

[[noreturn]] void fail(Status s, const char* call, const std::string& msg);
/// v with all 17 significant digits.
std::string num(double v);

/// op in the list, dtype and backend valid values; backend cuda refused where there is no CUDA
/// build or device (before any early return for an empty call: the answer must not depend on n).
void check_enums(const char* call, Op op, DType dtype, Backend backend);
/// Fills the op's parameter defaults (NaN = default), refuses extra or non-finite ones and the
/// op's own constraints (and those of its backward from the output). Returns them in a, b.
void resolve_params(const char* call, Op op, const Params& given, bool from_output, double& a, double& b);
/// alpha and beta finite.
void check_blend(const char* call, Blend blend);
/// n >= 0 elements of elem bytes, whose byte count fits in 64 bits.
void check_size(const char* call, const char* what, std::int64_t n, std::size_t elem);

/// One buffer argument: `count` elements (0: not used), read or written; `elem` bytes each (0:
/// the call's element size, the argument the checks below take).
struct Buf {
  const char* name;
  const void* p;
  std::int64_t count;
  bool written;
  std::size_t elem = 0;
  std::size_t size(std::size_t call_elem) const { return elem ? elem : call_elem; }
};
/// Null checks, alignment to the element size, address-range wrap, and overlap: a written buffer
/// may share memory with another only by being equal to an input (in place).
void check_buffers(const char* call, const Buf* bufs, int nb, std::size_t elem);
/// An output that is written before the inputs are all read (a reduction's result): it may not
/// overlap any of `inputs`; `rule` ends the message ("dbias may not alias an input").
void check_disjoint(const char* call, const Buf& out, const Buf* inputs, int ni, std::size_t elem, const char* rule);

/// One [rows, cols] view with its row stride (elements).
struct View {
  const char* name;
  const void* p;
  std::int64_t stride;
  bool written;
};
/// Strided views' aliasing: an output may be an input of the same layout (in place: each element
/// is read and written by one thread); nothing else may share an element with an output.
void check_view_aliasing(const char* call, const View* v, int nv, std::int64_t rows, std::int64_t cols, std::size_t elem);

/// A caller's device workspace (null: actk takes it from the stream-ordered pool): 8-byte aligned
/// and at least `need` bytes, the answer of the public query `query`.
void check_workspace(const char* call, const void* workspace, std::size_t bytes, std::size_t need, const char* query);
/// count * per * sizeof(double), or SIZE_MAX where that overflows (a call of that shape is refused
/// anyway); at least one double.
std::size_t doubles_bytes(std::int64_t count, std::int64_t per);

/// Picks the backend from the pointers' kinds (automatic: all host -> cpu, device or managed ->
/// cuda, host and device mixed -> refused) or checks a requested one against them.
Backend choose_backend(const char* call, Backend requested, const Buf* bufs, int nb);

}  // namespace detail
}  // namespace actk
