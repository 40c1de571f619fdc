// host/validate.cpp: the argument checks every public entry point shares (host/validate.h).
#include "host/validate.h"

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>

namespace actk {
namespace detail {

[[noreturn]] void fail(Status s, const char* call, const std::string& msg) {
  throw Error(s, std::string("actk::") + call + ": " + msg);
}

std::string num(double v) {
  std::ostringstream o;
  o.precision(17);
  o << v;
  return o.str();
}

static const char* kind_name(MemKind k) {
  switch (k) {
    case MemKind::host: return "host";
    case MemKind::device: return "device";
    case MemKind::managed: return "managed";
  }
  return "?";
}

void check_enums(const char* call, Op op, DType dtype, Backend backend) {
  if (static_cast<int>(op) < 0 || static_cast<int>(op) >= op_count)
    fail(Status::unknown_op, call, "argument 'op' = " + std::to_string(static_cast<int>(op)) + " is not an op (0.." +
                                        std::to_string(op_count - 1) + ")");
  if (dtype_size(dtype) == 0)
    fail(Status::invalid_argument, call, "argument 'dtype' = " + std::to_string(static_cast<int>(dtype)) + " is not a dtype");
  const int b = static_cast<int>(backend);
  if (b < 0 || b > 2)
    fail(Status::invalid_argument, call, "argument 'backend' = " + std::to_string(b) + " is not a backend");
  // before any early return for an empty call: the answer must not depend on n
  if (backend == Backend::cuda && !cuda_built())
    fail(Status::unsupported, call, "backend cuda requested, but actk was built without CUDA (ACTK_ENABLE_CUDA=OFF or no toolkit)");
  if (backend == Backend::cuda && cuda_device_count() == 0)
    fail(Status::unsupported, call, "backend cuda requested, but no CUDA device is available");
}

/// Fills defaults, checks finiteness and the op's own constraints. Returns {a, b}.
void resolve_params(const char* call, Op op, const Params& given, bool from_output, double& a, double& b) {
  const OpInfo& info = op_info(op);
  const double in[2] = {given.a, given.b};
  double out[2] = {0.0, 0.0};
  for (int i = 0; i < 2; ++i) {
    if (i >= info.n_params) {
      if (!std::isnan(in[i]))
        fail(Status::invalid_argument, call, std::string("op '") + info.name + "' takes " + std::to_string(info.n_params) +
                                                 " parameter(s), but params." + (i ? "b" : "a") + " = " + num(in[i]) +
                                                 " was given");
      continue;
    }
    out[i] = std::isnan(in[i]) ? info.param_defaults[i] : in[i];
    if (!std::isfinite(out[i]))
      fail(Status::invalid_argument, call, std::string("op '") + info.name + "': parameter '" + info.param_names[i] +
                                               "' = " + num(out[i]) + " must be finite");
  }
  const char* msg = nullptr;
  with_op(op, [&](auto tag) {
    using Fn = typename decltype(tag)::fn;
    // every form checks the op's own constraints; the backward from the output adds its own
    msg = Fn::check(out[0], out[1]);
    if (msg == nullptr && from_output) msg = Fn::check_from_output(out[0], out[1]);
  });
  if (msg) {
    std::string vals;
    for (int i = 0; i < info.n_params; ++i) vals += std::string(i ? ", " : "") + info.param_names[i] + " = " + num(out[i]);
    fail(Status::invalid_argument, call, std::string("op '") + info.name + "': " + msg + " (got " + vals + ")");
  }
  a = out[0];
  b = out[1];
}


void check_size(const char* call, const char* what, std::int64_t n, std::size_t elem) {
  if (n < 0) fail(Status::invalid_argument, call, std::string("argument '") + what + "' = " + std::to_string(n) + " is negative");
  if (static_cast<std::uint64_t>(n) > static_cast<std::uint64_t>(INT64_MAX) / elem)
    fail(Status::invalid_argument, call, std::string("argument '") + what + "' = " + std::to_string(n) +
                                             " elements overflows a 64-bit byte count");
}

/// Null checks, alignment to the element size, address-range wrap, partial overlap between a
/// written buffer and any other.
void check_buffers(const char* call, const Buf* bufs, int nb, std::size_t elem) {
  for (int i = 0; i < nb; ++i) {
    const std::size_t e = bufs[i].size(elem);
    if (bufs[i].count > 0 && reinterpret_cast<std::uintptr_t>(bufs[i].p) % e != 0)
      fail(Status::invalid_argument, call, std::string("argument '") + bufs[i].name + "' is not aligned to its " +
                                               std::to_string(e) + "-byte element size");
    if (bufs[i].count > 0 && bufs[i].p == nullptr)
      fail(Status::invalid_argument, call, std::string("argument '") + bufs[i].name + "' is null but " +
                                               std::to_string(bufs[i].count) + " element(s) are to be " +
                                               (bufs[i].written ? "written" : "read"));
    const std::uint64_t start = reinterpret_cast<std::uintptr_t>(bufs[i].p);
    const std::uint64_t bytes = static_cast<std::uint64_t>(bufs[i].count) * e;
    if (start + bytes < start)
      fail(Status::invalid_argument, call, std::string("argument '") + bufs[i].name + "': the buffer wraps the address space");
  }
  for (int i = 0; i < nb; ++i) {
    if (!bufs[i].written || bufs[i].count == 0) continue;
    const std::uint64_t s0 = reinterpret_cast<std::uintptr_t>(bufs[i].p), e0 = s0 + bufs[i].count * bufs[i].size(elem);
    for (int j = 0; j < nb; ++j) {
      if (j == i || bufs[j].count == 0) continue;
      const std::uint64_t s1 = reinterpret_cast<std::uintptr_t>(bufs[j].p), e1 = s1 + bufs[j].count * bufs[j].size(elem);
      const bool overlap = s0 < e1 && s1 < e0;
      const bool same = s0 == s1 && e0 == e1 && bufs[i].size(elem) == bufs[j].size(elem);
      if (overlap && !(same && !bufs[j].written))
        fail(Status::invalid_argument, call, std::string("arguments '") + bufs[i].name + "' and '" + bufs[j].name +
                                                 "' overlap" + (same ? " (two outputs in one buffer)" : " partially") +
                                                 "; only an output equal to an input (in place) is allowed");
    }
  }
}

/// Whether two [rows, cols] views with the same row stride (elements), starting at a and b (both
/// aligned to elem), share an element: b - a = k * stride + (c2 - c1) with |k| < rows, |c2 - c1| < cols.
static bool views_collide(const void* a, const void* b, std::int64_t rows, std::int64_t cols, std::int64_t stride, std::size_t elem) {
  if (rows <= 0 || cols <= 0) return false;
  const std::uint64_t ua = reinterpret_cast<std::uintptr_t>(a), ub = reinterpret_cast<std::uintptr_t>(b);
  const std::uint64_t gap = (ua < ub ? ub - ua : ua - ub) / elem;  // elements apart (symmetric)
  const std::uint64_t k = gap / static_cast<std::uint64_t>(stride);  // rows apart, then the remainder
  const std::uint64_t rem = gap - k * static_cast<std::uint64_t>(stride);
  const std::uint64_t r = static_cast<std::uint64_t>(rows), c = static_cast<std::uint64_t>(cols);
  return (k < r && rem < c) || (k + 1 < r && static_cast<std::uint64_t>(stride) - rem < c);
}

void check_view_aliasing(const char* call, const View* v, int nv, std::int64_t rows, std::int64_t cols, std::size_t elem) {
  for (int i = 0; i < nv; ++i) {
    if (!v[i].written) continue;
    for (int j = 0; j < nv; ++j) {
      if (j == i) continue;
      bool collide;
      if (v[i].stride == v[j].stride) {
        collide = views_collide(v[i].p, v[j].p, rows, cols, v[i].stride, elem);
      } else {  // different layouts: their extents must not overlap
        const std::uint64_t s0 = reinterpret_cast<std::uintptr_t>(v[i].p), s1 = reinterpret_cast<std::uintptr_t>(v[j].p);
        const std::uint64_t e0 = s0 + static_cast<std::uint64_t>((rows - 1) * v[i].stride + cols) * elem;
        const std::uint64_t e1 = s1 + static_cast<std::uint64_t>((rows - 1) * v[j].stride + cols) * elem;
        collide = s0 < e1 && s1 < e0;
      }
      const bool in_place = v[i].p == v[j].p && v[i].stride == v[j].stride && !v[j].written;
      if (collide && !in_place)
        fail(Status::invalid_argument, call, std::string("arguments '") + v[i].name + "' and '" + v[j].name +
                                                 "' share elements; an output may only be an input of the same layout (in place)");
    }
  }
}

/// classify(), with a refusal (a device pointer on another GPU) naming the call and the argument.
static MemKind classify_arg(const char* call, const Buf& b) {
  try {
    return classify(b.p);
  } catch (const Error& e) {
    if (e.status() != Status::invalid_argument) throw;
    const std::string what = e.what();
    fail(Status::invalid_argument, call, std::string("argument '") + b.name + "' is " +
                                             (what.rfind("actk: ", 0) == 0 ? what.substr(6) : what));
  }
}

/// Picks the backend from the pointers (automatic) or checks the requested one against them.
Backend choose_backend(const char* call, Backend requested, const Buf* bufs, int nb) {
  // (backend cuda without CUDA or a device was refused by check_enums)
  if (requested != Backend::automatic && (requested == Backend::cpu || !cuda_built())) {
    if (requested == Backend::cpu && cuda_built() && cuda_device_count() > 0) {
      for (int i = 0; i < nb; ++i)
        if (bufs[i].count > 0 && classify_arg(call, bufs[i]) == MemKind::device)
          fail(Status::invalid_argument, call, std::string("backend cpu requested, but argument '") + bufs[i].name +
                                                   "' is a device pointer");
    }
    return requested;
  }
  if (!cuda_built() || cuda_device_count() == 0) return Backend::cpu;
  // automatic or cuda, with a device: classify every pointer
  int host = -1, dev = -1;
  for (int i = 0; i < nb; ++i) {
    if (bufs[i].count == 0) continue;
    const MemKind k = classify_arg(call, bufs[i]);
    if (k == MemKind::host) host = host < 0 ? i : host;
    else if (k == MemKind::device) dev = dev < 0 ? i : dev;
  }
  if (requested == Backend::cuda) {
    if (host >= 0)
      fail(Status::invalid_argument, call, std::string("backend cuda requested, but argument '") + bufs[host].name +
                                               "' is a host pointer (not device-accessible)");
    return Backend::cuda;
  }
  if (host >= 0 && dev >= 0)
    fail(Status::invalid_argument, call, std::string("mixed host and device pointers: '") + bufs[host].name + "' is " +
                                             kind_name(MemKind::host) + ", '" + bufs[dev].name + "' is " +
                                             kind_name(MemKind::device));
  return host >= 0 ? Backend::cpu : Backend::cuda;  // all managed: the GPU
}


void check_disjoint(const char* call, const Buf& out, const Buf* inputs, int ni, std::size_t elem, const char* rule) {
  if (out.count == 0) return;
  const std::uint64_t d0 = reinterpret_cast<std::uintptr_t>(out.p), d1 = d0 + static_cast<std::uint64_t>(out.count) * out.size(elem);
  for (int i = 0; i < ni; ++i) {
    if (inputs[i].count == 0) continue;
    const std::uint64_t s0 = reinterpret_cast<std::uintptr_t>(inputs[i].p);
    const std::uint64_t s1 = s0 + static_cast<std::uint64_t>(inputs[i].count) * inputs[i].size(elem);
    if (d0 < s1 && s0 < d1)
      fail(Status::invalid_argument, call, std::string("arguments '") + out.name + "' and '" + inputs[i].name + "' overlap; " + rule);
  }
}

void check_workspace(const char* call, const void* workspace, std::size_t bytes, std::size_t need, const char* query) {
  if (workspace == nullptr) return;
  if (reinterpret_cast<std::uintptr_t>(workspace) % 8 != 0)
    fail(Status::invalid_argument, call, "argument 'workspace' must be 8-byte aligned");
  if (bytes < need)
    fail(Status::invalid_argument, call, "argument 'workspace_bytes' = " + std::to_string(bytes) + " is less than the " +
                                             std::to_string(need) + " bytes " + query + "() asks for");
}

/// count * per * sizeof(double), or SIZE_MAX where that overflows (a call of that shape is refused
/// anyway); at least one double.
std::size_t doubles_bytes(std::int64_t count, std::int64_t per) {
  if (count <= 0 || per <= 0) return sizeof(double);
  const std::size_t c = static_cast<std::size_t>(count), p = static_cast<std::size_t>(per);
  if (c > SIZE_MAX / sizeof(double) / p) return SIZE_MAX;
  return c * p * sizeof(double);
}

void check_blend(const char* call, Blend blend) {
  if (!std::isfinite(blend.alpha) || !std::isfinite(blend.beta))
    fail(Status::invalid_argument, call, "blend alpha = " + num(blend.alpha) + ", beta = " + num(blend.beta) + " must be finite");
}


}  // namespace detail
}  // namespace actk
