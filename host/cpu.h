// host/cpu.h: the CPU reference loops. Every element is computed by the op's functor in double
// and rounded once to the storage type, so this path is the accuracy oracle the GPU is checked
// against. Large inputs are split over threads (OpenMP when available) in fixed chunks.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "actk/detail/blend.h"
#include "actk/half.h"
#include "host/calls.h"
#include "host/cpu_lut.h"

namespace actk {
namespace detail {

inline double load(float v) { return static_cast<double>(v); }
inline double load(double v) { return v; }
inline double load(float16 v) { return static_cast<double>(v); }
inline double load(bfloat16 v) { return static_cast<double>(v); }

template <class S> inline S store(double v) { return static_cast<S>(v); }
template <> inline float16 store<float16>(double v) { return float16(v); }
template <> inline bfloat16 store<bfloat16>(double v) { return bfloat16(v); }

constexpr std::int64_t kCpuChunk = std::int64_t{1} << 14;  // elements per task
constexpr std::int64_t kCpuParallelMin = std::int64_t{1} << 15;

/// Runs body(lo, hi) over [0, n) in chunks of kCpuChunk, on all cores for large n.
template <class Body> void parallel_chunks(std::int64_t n, Body&& body) {
  const std::int64_t chunks = (n + kCpuChunk - 1) / kCpuChunk;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (n >= kCpuParallelMin)
#endif
  for (std::int64_t c = 0; c < chunks; ++c) {
    const std::int64_t lo = c * kCpuChunk;
    const std::int64_t hi = lo + kCpuChunk < n ? lo + kCpuChunk : n;
    body(lo, hi);
  }
}

/// out = alpha * r + beta * out (actk/detail/blend.h); beta = 0 never reads out.
template <class S> inline double blend(double r, const BlendOf<double>& bl, const S* out) {
  return bl.reads_old() ? bl.with_old(r, load(*out)) : bl.scaled(r);
}

/// How a chunk loop converts storage <-> double: load/store above (the portable loops); the AVX2
/// loops swap in conversions that vectorize and give the same bits.
struct ConvertBase {
  /// Whether the loops built with these conversions call libmvec's vector math (host/cpu_softmax.h's
  /// exp_masked keeps its exp off libmvec's slow lanes; scalar glibc has none to avoid).
  static constexpr bool kVectorMath = false;
  template <class S> static double ld(S v) { return load(v); }
  template <class S> static S st(double v) { return store<S>(v); }
  /// float forms, for kExactInFloat ops: stf rounds a float to S (to nearest even; NaN as store()).
  template <class S> static float ldf(S v) { return static_cast<float>(v); }
  template <class S> static S stf(float v) {
    if constexpr (std::is_same_v<S, float>) return v;
    else return S(v);  // float16 / bfloat16 from float, one rounding; NaN as store() makes it
  }
};

/// p with its low parts as the constant 0 they always are in double (P<double>::make: a - double(a)
/// is 0): called where the functor is, inside the loop, it lets the compiler drop the branches and
/// fmas that carry the low parts (mulc's, softshrink's). Same values; 2.3x on a float32
/// leaky_relu forward in cache, 1.4x on bfloat16 (issue #18).
[[gnu::always_inline]] inline P<double> lo_free(const P<double>& p) { return P<double>{p.a, 0.0, p.b, 0.0}; }

/// One element through the op, in double.
template <class Fn, Dir D, class S, class Cv>
[[gnu::always_inline]] inline double elem(const S* in, const S* dy, std::int64_t i, const P<double>& p) {
  const double x = Cv::ld(in[i]);
  if constexpr (D == Dir::forward) return Fn::forward(x, p);
  else if constexpr (D == Dir::from_input) return Fn::backward_from_input(x, Cv::ld(dy[i]), p);
  else return Fn::backward_from_output(x, Cv::ld(dy[i]), p);
}

/// out[j] = st(blend(value(j))) for j in [0, n): the one blended row loop of the CPU path (the
/// element-wise chunks and the fused rows). Two loops, so the vectorizer never has to speculate
/// the blend's read of out; `value` must be always inlined (ACTK_ROW_VALUE) for them to vectorize.
template <class S, class Cv, class Value>
[[gnu::always_inline]] inline void blend_row(S* out, std::int64_t n, const BlendOf<double>& bl, Value&& value) {
  if (!bl.reads_old()) {
#pragma omp simd
    for (std::int64_t j = 0; j < n; ++j) out[j] = Cv::template st<S>(bl.scaled(value(j)));
  } else {
#pragma omp simd
    for (std::int64_t j = 0; j < n; ++j) out[j] = Cv::template st<S>(bl.with_old(value(j), Cv::ld(out[j])));
  }
}
/// The lambda attributes a blend_row value needs: inlined into the loop it feeds.
#define ACTK_ROW_VALUE __attribute__((always_inline))

/// Ops whose every result (in direction D) is exactly one of: an input, an input times 0 or 1, a
/// small integer, or a parameter: identity, binary_step, relu, relu6, hardtanh, hardshrink and
/// threshold, and softshrink's backward. When their parameters are floats (kFloatParams of them,
/// checked per call by params_in_float), the float arithmetic gives the very values the double
/// arithmetic does (every float input is exact in both, every compare is the same compare, and
/// so is every result), so with a plain blend (alpha = 1, beta = 0) the loops compute in float:
/// same bits, but no float -> double -> float round trip, which kept GCC from vectorizing the
/// 16-bit forms (relu's bfloat16 forward ran scalar: issue #18) and costs the others the double
/// conversions and the 16-bit rounding (stf rounds the float to S correctly: a parameter such as
/// hardtanh's 0.1 need not be exact in S; NaN: the same canonical quiet NaN).
template <class Fn> constexpr int kFloatParams = std::is_same_v<Fn, ops::Hardtanh> || std::is_same_v<Fn, ops::Threshold> ? 2
                                                 : std::is_same_v<Fn, ops::Hardshrink> || std::is_same_v<Fn, ops::Softshrink> ? 1
                                                                                                                             : 0;
template <class Fn, Dir D>
constexpr bool kExactInFloat = std::is_same_v<Fn, ops::Identity> || std::is_same_v<Fn, ops::BinaryStep> ||
                               std::is_same_v<Fn, ops::Relu> || std::is_same_v<Fn, ops::Relu6> ||
                               std::is_same_v<Fn, ops::Hardtanh> || std::is_same_v<Fn, ops::Hardshrink> ||
                               std::is_same_v<Fn, ops::Threshold> || (std::is_same_v<Fn, ops::Softshrink> && D != Dir::forward);

/// Whether the parameters an op in kExactInFloat reads are floats (a NaN parameter is not).
template <class Fn> inline bool params_in_float(const P<double>& p) {
  const auto is_float = [](double v) { return static_cast<double>(static_cast<float>(v)) == v; };
  return (kFloatParams<Fn> < 1 || is_float(p.a)) && (kFloatParams<Fn> < 2 || is_float(p.b));
}

/// One element in float (kExactInFloat ops only; pf: the parameters as floats).
template <class Fn, Dir D, class S, class Cv>
[[gnu::always_inline]] inline float elem_f(const S* in, const S* dy, std::int64_t i, const P<float>& pf) {
  const float x = Cv::ldf(in[i]);
  if constexpr (D == Dir::forward) return Fn::forward(x, pf);
  else if constexpr (D == Dir::from_input) return Fn::backward_from_input(x, Cv::ldf(dy[i]), pf);
  else return Fn::backward_from_output(x, Cv::ldf(dy[i]), pf);
}

/// Elements [lo, hi): the op in double, blended (as blend()), rounded once. Always inlined, so
/// each chunk variant compiles it for its own instruction set; `omp simd` lets the compiler
/// vectorize it where the functor's math has vector variants (host/simd_math.h). Each element is
/// read before it is written (in place is fine).
template <class Fn, Dir D, class S, class Cv = ConvertBase>
[[gnu::always_inline]] inline void chunk_body(const S* in, const S* dy, S* out, std::int64_t lo, std::int64_t hi,
                                              const P<double>& p, const BlendOf<double>& bl) {
  const S* x = in + lo;
  const S* g = D == Dir::forward ? dy : dy + lo;  // dy is null for the forward
  if constexpr (kExactInFloat<Fn, D> && !std::is_same_v<S, double>) {
    if (bl.alpha == 1.0 && bl.beta == 0.0 && params_in_float<Fn>(p)) {
      const P<float> pf{static_cast<float>(p.a), 0.0f, static_cast<float>(p.b), 0.0f};
      S* o = out + lo;
#pragma omp simd
      for (std::int64_t j = 0; j < hi - lo; ++j) o[j] = Cv::template stf<S>(elem_f<Fn, D, S, Cv>(x, g, j, pf));
      return;
    }
  }
  blend_row<S, Cv>(out + lo, hi - lo, bl, [&](std::int64_t j) ACTK_ROW_VALUE { return elem<Fn, D, S, Cv>(x, g, j, lo_free(p)); });
}

/// An instruction-set policy: the conversions the loops use (Cv) and the instruction set they are
/// compiled for. run(f) calls f() compiled for that set: IsaPortable here (the baseline, scalar
/// glibc math); IsaAvx2 in host/cpu_avx2.cpp (AVX2 + FMA with libmvec's vector math), whose run
/// inlines f and everything f calls. Every CPU loop (element-wise chunk, fused row) is written once
/// and run through a policy, so a new loop needs no AVX2 code of its own.
struct IsaPortable {
  using Cv = ConvertBase;
  static constexpr int kLutId = 0;  // (host/cpu_lut.h's key)
  template <class F> static void run(F&& f) { f(); }
};

template <class Fn, Dir D, class S, class Isa>
void cpu_loop(const S* in, const S* dy, S* out, std::int64_t n, P<double> p, BlendOf<double> bl) {
  parallel_chunks(n, [&](std::int64_t lo, std::int64_t hi) {
    Isa::run([&] { chunk_body<Fn, D, S, typename Isa::Cv>(in, dy, out, lo, hi, p, bl); });
  });
}

/// A 16-bit forward by table (host/cpu_lut.h): true if it ran, false if the call is not one for a
/// table (a blend other than out = f(x), fewer than kLutMin elements, tables off, or an op the
/// float loop already serves: kExactInFloat with float parameters).
template <class Fn, class S, class Isa>
bool forward_by_table(const ElementwiseCall& c, const S* in, S* out, const P<double>& p, const BlendOf<double>& bl) {
  if constexpr (std::is_same_v<S, float> || std::is_same_v<S, double>) {
    return false;
  } else {
    if (c.n < kLutMin || bl.alpha != 1.0 || bl.beta != 0.0 || !cpu_lut_enabled()) return false;
    if constexpr (kExactInFloat<Fn, Dir::forward>)
      if (params_in_float<Fn>(p)) return false;
    const LutKey key{static_cast<int>(c.op), static_cast<int>(c.dtype), Isa::kLutId, bits_of(c.a), bits_of(c.b)};
    Lut table = lut_find(key);
    if (!table) {
      std::vector<S> every(kLutEntries), results(kLutEntries);
      for (std::size_t i = 0; i < kLutEntries; ++i) every[i] = S::from_bits(static_cast<std::uint16_t>(i));
      cpu_loop<Fn, Dir::forward, S, Isa>(every.data(), nullptr, results.data(), static_cast<std::int64_t>(kLutEntries), p, bl);
      std::vector<std::uint16_t> bits(kLutEntries);
      for (std::size_t i = 0; i < kLutEntries; ++i) bits[i] = results[i].bits;
      table = lut_insert(key, std::move(bits));
    }
    lut_count_read();
    const std::uint16_t* t = table->data();
    static_assert(sizeof(S) == 2 && std::is_trivially_copyable_v<S>, "16-bit storage");
    parallel_chunks(c.n, [&](std::int64_t lo, std::int64_t hi) {
      // eight at a time through locals: every read before any write (in place is fine), and the
      // compiler need not assume a store to out may change the table (1.4x over a plain loop)
      std::int64_t j = lo;
      for (; j + 8 <= hi; j += 8) {
        std::uint16_t x[8], r[8];
        std::memcpy(x, in + j, sizeof x);
        for (int k = 0; k < 8; ++k) r[k] = t[x[k]];
        std::memcpy(out + j, r, sizeof r);
      }
      for (; j < hi; ++j) out[j] = S::from_bits(t[in[j].bits]);
    });
    return true;
  }
}

/// The element-wise CPU path for one storage type and instruction set (instantiated in
/// host/cpu_<type>.cpp with IsaPortable, and for the 32- and 16-bit types with IsaAvx2).
template <class S, class Isa = IsaPortable> void cpu_elementwise_typed(const ElementwiseCall& c) {
  const auto* in = static_cast<const S*>(c.in);
  const auto* dy = static_cast<const S*>(c.dy);
  auto* out = static_cast<S*>(c.out);
  const P<double> p = P<double>::make(c.a, c.b);
  const BlendOf<double> bl{c.alpha, c.beta};
  with_op(c.op, [&](auto tag) {
    using Tag = decltype(tag);
    using Fn = typename Tag::fn;
    switch (c.dir) {
      case Dir::forward:
        if (!forward_by_table<Fn, S, Isa>(c, in, out, p, bl)) cpu_loop<Fn, Dir::forward, S, Isa>(in, dy, out, c.n, p, bl);
        break;
      case Dir::from_input: cpu_loop<Fn, Dir::from_input, S, Isa>(in, dy, out, c.n, p, bl); break;
      case Dir::from_output:
        if constexpr (Tag::from_output) cpu_loop<Fn, Dir::from_output, S, Isa>(in, dy, out, c.n, p, bl);
        break;
    }
  });
}

// Instantiated once each, in host/cpu_<type>.cpp.
extern template void cpu_elementwise_typed<float>(const ElementwiseCall&);
extern template void cpu_elementwise_typed<double>(const ElementwiseCall&);
extern template void cpu_elementwise_typed<float16>(const ElementwiseCall&);
extern template void cpu_elementwise_typed<bfloat16>(const ElementwiseCall&);

/// The vectorized loops' instruction sets, as tags for the overloads that run them (the same loops
/// as the portable ones, compiled for that set: host/cpu_simd_loops.h, host/cpu_isa_avx2.h):
/// - SimdAvx2: AVX2 + FMA with libmvec's 4-wide double math (host/cpu_avx2*.cpp);
/// - SimdAvx512: AVX-512 F/VL/BW/DQ with libmvec's 8-wide double math (host/cpu_avx512*.cpp):
///   its compares make mask registers that any lane width reads, where AVX2 shuffles every mask
///   between the double lanes and the 32-bit ones (1.5-2.5x on this project's loops, issue #18).
/// Built where ACTK_CPU_AVX2 is defined, for float32, bfloat16 and float16 storage (the 16-bit
/// conversions rewritten to vectorize); float64 keeps glibc's scalar math.
struct SimdAvx2 {};
struct SimdAvx512 {};
/// Declares an entry point's vectorized overloads: NAME(const CALL&, S, tag) for each storage
/// type with such loops and each set (defined by host/cpu_simd_loops.h's ACTK_SIMD_LOOPS).
#define ACTK_SIMD_DECLARE(NAME, CALL)              \
  void NAME(const CALL& c, float, SimdAvx2);      \
  void NAME(const CALL& c, bfloat16, SimdAvx2);   \
  void NAME(const CALL& c, float16, SimdAvx2);    \
  void NAME(const CALL& c, float, SimdAvx512);    \
  void NAME(const CALL& c, bfloat16, SimdAvx512); \
  void NAME(const CALL& c, float16, SimdAvx512);
ACTK_SIMD_DECLARE(cpu_elementwise_simd, ElementwiseCall)

/// The loops the CPU path takes (read once): the widest set built in (ACTK_CPU_AVX2) that the CPU
/// and OS support, capped by the environment's ACTK_CPU_SIMD: 0 (portable), avx2, or unset / any
/// other value (the widest).
enum class CpuSimd { portable, avx2, avx512 };
CpuSimd cpu_simd();
/// Whether the CPU path takes vectorized loops (AVX2 or AVX-512) at all.
inline bool cpu_use_avx2() { return cpu_simd() != CpuSimd::portable; }

/// f(tag) with the tag of the vectorized set in use (call only where cpu_use_avx2()).
template <class F> void with_simd(F&& f) {
  if (cpu_simd() == CpuSimd::avx512) f(SimdAvx512{});
  else f(SimdAvx2{});
}

/// The storage types with vectorized loops.
template <class S>
constexpr bool kHasAvx2Loops = std::is_same_v<S, float> || std::is_same_v<S, bfloat16> || std::is_same_v<S, float16>;

/// Every CPU entry point's dispatch: for dtype's storage type S, fast(S{}, tag) where S has
/// vectorized loops and they are in use (with_simd's tag), else portable(S{}). Both are generic
/// lambdas; fast is instantiated only in builds with those loops (ACTK_CPU_AVX2), so it may name
/// them freely.
template <class Fast, class Portable>
void with_storage_isa(DType dtype, const char* who, [[maybe_unused]] Fast&& fast, Portable&& portable) {
  with_storage(dtype, who, [&](auto s) {
#if defined(ACTK_CPU_AVX2)
    if constexpr (kHasAvx2Loops<decltype(s)>) {
      if (cpu_use_avx2()) return with_simd([&](auto tag) { fast(s, tag); });
    }
#endif
    portable(s);
  });
}

}  // namespace detail
}  // namespace actk
