// kernels/softmax_attention.cu: attention-style softmax on the GPU, y = softmax(scale x + mask)
// over the last axis of [batch, heads, q, k], k <= 16384 (the semantics: actk.h's
// attention_softmax_forward; the backward is the plain softmax backward scaled, kernels/softmax.cu).
//
// Shape: blocks of kSliceThreads threads split into teams of `team` threads (a power of two,
// 32..512, whole warps), one row per team, kSliceThreads / team rows per block. A thread forms z
// for its elements (16-byte vectors of x when every row start is aligned; the mask's vector of the
// same elements: the x's dtype for an additive mask, bytes for a keep mask), keeps them in its own
// slots of the block's shared memory (float; double for float64), and tracks their max; the team
// reduces the max, then (count of the max, sum of e^(z - max)) from the cached z, and each thread
// writes its own elements. A thread only ever reads back the slots it wrote, so only the team
// reductions synchronize. One read of x, one write of y; past the causal limit x is not read at
// all (a causal [q, k] square reads half of x), and no mask is read there either.
// Team size: the least power of two >= nvec / 4 (4 vectors per thread), clamped to [32, 512]; the
// block's cache is (rows per block) x k values of T: at most 16,384 of them (64 KiB of float,
// 128 KiB of double), above the default 48 KiB: the dynamic limit is raised once per device.
#include "kernels/softmax.cuh"

namespace actk {
namespace detail {

namespace {

template <class S, int V> struct alignas(V * sizeof(S)) Pack {
  S v[V];
};
template <int V> struct alignas(V) Bytes {
  unsigned char b[V];
};

template <class T> struct AttnArgs {
  const void* x;
  void* y;
  const void* mask;
  std::int64_t rows, heads, q;
  std::int64_t mb, mh, mq;  // mask row strides (rows of k) per batch, head and query index
  std::int64_t causal_offset;
  T scale;
  int k, team, mask_type;  // mask_type: 0 none, 1 additive, 2 keep
  bool causal, log, masked_zero;
};

/// Reduces v over this thread's team with op: butterfly shuffles within the warp (every lane ends
/// with the same bits: a + b = b + a), then, for teams of several warps, through `red` (one slot
/// per warp) in the warps' order. `team` is the same for the whole block, so the __syncthreads are
/// reached by every thread.
template <class T, class Op> __device__ __forceinline__ T team_reduce(T v, Op op, T* red, int team) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  if (team > 32) {
    if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
    __syncthreads();
    const int first = static_cast<int>(threadIdx.x) / team * (team / 32);
    v = red[first];
    for (int w = 1; w < team / 32; ++w) v = op(v, red[first + w]);
    __syncthreads();  // red is written again by the next reduction
  }
  return v;
}

template <class S, int V>
__global__ void __launch_bounds__(kSliceThreads) attention_softmax_fwd(const AttnArgs<typename Compute<S>::type> a) {
  using T = typename Compute<S>::type;
  extern __shared__ __align__(16) unsigned char attn_smem[];
  __shared__ T red[kSliceThreads / 32];
  const int per_block = kSliceThreads / a.team, team = static_cast<int>(threadIdx.x) / a.team,
            t = static_cast<int>(threadIdx.x) % a.team, nvec = a.k / V;
  T* const z = reinterpret_cast<T*>(attn_smem) + static_cast<std::int64_t>(team) * a.k;
  for (std::int64_t base = static_cast<std::int64_t>(blockIdx.x) * per_block; base < a.rows;
       base += static_cast<std::int64_t>(gridDim.x) * per_block) {
    const std::int64_t r = base + team;
    const bool active = r < a.rows;
    T m = -inf_of<T>();
    if (active) {
      const std::int64_t i = r % a.q, bh = r / a.q, h = bh % a.heads, b = bh / a.heads;
      const std::int64_t mrow = (b * a.mb + h * a.mh + i * a.mq) * a.k;
      const auto* xr = reinterpret_cast<const Pack<S, V>*>(static_cast<const S*>(a.x) + r * a.k);
      for (int v = t; v < nvec; v += a.team) {
        const int j0 = v * V;
        T zv[V];
        if (a.causal && j0 - i > a.causal_offset) {  // the whole vector past the causal limit: not read
#pragma unroll
          for (int e = 0; e < V; ++e) zv[e] = -inf_of<T>();
        } else {
          const Pack<S, V> xv = xr[v];
#pragma unroll
          for (int e = 0; e < V; ++e) zv[e] = a.scale * dload(xv.v[e]);
          if (a.mask_type == 1) {
            const Pack<S, V> mv = reinterpret_cast<const Pack<S, V>*>(static_cast<const S*>(a.mask) + mrow)[v];
#pragma unroll
            for (int e = 0; e < V; ++e) zv[e] += dload(mv.v[e]);
          } else if (a.mask_type == 2) {
            const Bytes<V> mv = reinterpret_cast<const Bytes<V>*>(static_cast<const unsigned char*>(a.mask) + mrow)[v];
#pragma unroll
            for (int e = 0; e < V; ++e)
              if (mv.b[e] == 0) zv[e] = -inf_of<T>();
          }
          if (a.causal) {
#pragma unroll
            for (int e = 0; e < V; ++e)
              if (j0 + e - i > a.causal_offset) zv[e] = -inf_of<T>();
          }
        }
#pragma unroll
        for (int e = 0; e < V; ++e) {
          z[j0 + e] = zv[e];
          m = MaxNan{}(m, zv[e]);
        }
      }
    }
    m = team_reduce(m, MaxNan{}, red, a.team);
    T cnt = 0, sum = 0;
    if (active) {
      for (int v = t; v < nvec; v += a.team) {
#pragma unroll
        for (int e = 0; e < V; ++e) {
          const T zv = z[v * V + e];
          if (zv == m) cnt += T(1);
          else if (zv != -inf_of<T>()) sum += exp_sum_term(zv - m);
        }
      }
    }
    cnt = team_reduce(cnt, Sum{}, red, a.team);
    sum = team_reduce(sum, Sum{}, red, a.team);
    if (active) {
      const int state = row_state(m);
      const T scale = row_scale(a.log, Stats<T>{m, cnt, sum});
      const BlendT<T> bl{T(1), T(0)};
      auto* yr = reinterpret_cast<Pack<S, V>*>(static_cast<S*>(a.y) + r * a.k);
      for (int v = t; v < nvec; v += a.team) {
        Pack<S, V> out;
#pragma unroll
        for (int e = 0; e < V; ++e)
          out.v[e] = out_value<S>(state, a.log, a.masked_zero, z[v * V + e], m, scale, bl, static_cast<const S*>(nullptr));
        yr[v] = out;
      }
    }
  }
}

/// The dynamic shared-memory limit of one instantiation raised to the device's opt-in maximum less
/// its static share, once per device; returns that limit.
template <auto Kernel> int attention_setup(int dev, const char* call) {
  static std::atomic<int> limit[kMaxDevices];  // 0 = not set yet; racing first calls set the same value
  int v = limit[dev].load(std::memory_order_acquire);
  if (v != 0) return v;
  cudaFuncAttributes fa{};
  if (cudaFuncGetAttributes(&fa, Kernel) != cudaSuccess) check_launch("cudaFuncGetAttributes", call);
  v = device_attr<cudaDevAttrMaxSharedMemoryPerBlockOptin>(dev) - static_cast<int>(fa.sharedSizeBytes);
  if (cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, v) != cudaSuccess)
    check_launch("cudaFuncSetAttribute", call);
  limit[dev].store(v, std::memory_order_release);
  return v;
}

/// Team size for rows of nvec vectors: 4 vectors per thread, whole warps, at most one block.
int attention_team(int nvec) {
  int team = 32;
  while (team < kSliceThreads && team * 4 < nvec) team *= 2;
  return team;
}

template <class S, int V> void launch_attention(const AttentionSoftmaxCall& c, cudaStream_t s, const char* call) {
  using T = typename Compute<S>::type;
  const int k = static_cast<int>(c.k), team = attention_team(k / V), per_block = kSliceThreads / team;
  const std::size_t smem = static_cast<std::size_t>(per_block) * static_cast<std::size_t>(k) * sizeof(T);
  const int dev = current_device();
  const int limit = attention_setup<attention_softmax_fwd<S, V>>(dev, call);
  if (smem > static_cast<std::size_t>(limit))
    throw Error(Status::unsupported, std::string("actk::") + call + ": rows of " + std::to_string(k) + " keys need " +
                                         std::to_string(smem) + " bytes of shared memory per block; this GPU allows " +
                                         std::to_string(limit));
  const AttnArgs<T> a{c.x, c.y, c.mask, c.rows, c.heads, c.q, c.mb, c.mh, c.mq, c.causal_offset, static_cast<T>(c.scale),
                      k, team, c.mask_type, c.causal, c.log, c.masked_zero};
  // a grid-stride loop over row groups; at most 4 blocks of 512 threads are resident per SM anyway
  const std::int64_t need = (c.rows + per_block - 1) / per_block;
  const std::int64_t cap = static_cast<std::int64_t>(device_attr<cudaDevAttrMultiProcessorCount>(dev)) * 4;
  const int grid = static_cast<int>(need < cap ? need : cap);
  attention_softmax_fwd<S, V><<<grid, kSliceThreads, smem, s>>>(a);
  check_launch("attention softmax kernel", call);
}

template <class S> void attention_typed(const AttentionSoftmaxCall& c) {
  constexpr int N = Vec<S>::N;
  cudaStream_t s = static_cast<cudaStream_t>(c.stream);
  const char* call = "attention_softmax_forward";
  // vectors when every row start is aligned in x, y and the mask (bytes: N-byte vectors)
  const bool vec = c.k % N == 0 && misalign(c.x) == 0 && misalign(c.y) == 0 &&
                   (c.mask_type != 1 || misalign(c.mask) == 0) &&
                   (c.mask_type != 2 || reinterpret_cast<std::uintptr_t>(c.mask) % N == 0);
  if (vec) launch_attention<S, N>(c, s, call);
  else launch_attention<S, 1>(c, s, call);
}

}  // namespace

void cuda_attention_softmax(const AttentionSoftmaxCall& c) {
  with_storage(c.dtype, "cuda_attention_softmax", [&](auto s) { attention_typed<decltype(s)>(c); });
}

}  // namespace detail
}  // namespace actk
