// kernels/softmax_slice.cu: softmax rows of the last axis cached in shared memory
// (kernels/softmax.cuh): a block per row, or on sm_90 a thread-block cluster per row exchanging its
// slices' statistics through distributed shared memory. One read of the row.
#include <atomic>
#include <string>

#include "kernels/softmax.cuh"

namespace actk {
namespace detail {

namespace {

// ---- slice kernels: a block (or a cluster of blocks) per row, the row in shared memory ---------


/// each(v) on the compute-type value(s) of one storage unit (an element, or a 16-byte vector).
template <class S, class F> __device__ __forceinline__ void visit(const Vec<S>& u, F&& each) {
#pragma unroll
  for (int k = 0; k < Vec<S>::N; ++k) each(dload(u.v[k]));
}
template <class S, class F> __device__ __forceinline__ void visit(const S& u, F&& each) { each(dload(u)); }

/// Copies count units from g to shared memory sm, calling each(v) on every value; loads are
/// issued kSliceUnroll at a time before they are used.
template <class U, class F> __device__ __forceinline__ void copy_units(const U* g, U* sm, std::int64_t count, F&& each) {
  for (std::int64_t i = threadIdx.x; i < count; i += kSliceThreads * kSliceUnroll) {
    U a[kSliceUnroll];
#pragma unroll
    for (int u = 0; u < kSliceUnroll; ++u)
      if (i + u * kSliceThreads < count) a[u] = g[i + u * kSliceThreads];
#pragma unroll
    for (int u = 0; u < kSliceUnroll; ++u)
      if (i + u * kSliceThreads < count) {
        sm[i + u * kSliceThreads] = a[u];
        visit(a[u], each);
      }
  }
}

/// Copies g[0, len) to shared memory sm (16-byte units when vec: both aligned, len a multiple of
/// the vector width), calling each(v) on every value.
template <class S, class F>
__device__ __forceinline__ void slice_load(const S* g, S* sm, std::int64_t len, bool vec, F&& each) {
  if (vec) copy_units(reinterpret_cast<const Vec<S>*>(g), reinterpret_cast<Vec<S>*>(sm), len / Vec<S>::N, each);
  else copy_units(g, sm, len, each);
}

/// Writes g[j] = f(j, &old_g[j]) for j in [0, len); 16-byte stores when vec (and 16-byte reads of
/// the old output when blending with beta != 0).
template <class S, class F>
__device__ __forceinline__ void slice_store(S* g, std::int64_t len, bool vec, bool read_old, F&& f) {
  if (vec) {
    constexpr int N = Vec<S>::N;
    auto* gv = reinterpret_cast<Vec<S>*>(g);
    const std::int64_t nv = len / N;
    for (std::int64_t i = threadIdx.x; i < nv; i += kSliceThreads) {
      Vec<S> r, old;
      if (read_old) old = gv[i];
#pragma unroll
      for (int k = 0; k < N; ++k) r.v[k] = f(i * N + k, &old.v[k]);
      gv[i] = r;
    }
  } else {
    for (std::int64_t j = threadIdx.x; j < len; j += kSliceThreads) g[j] = f(j, g + j);
  }
}

/// This block's place in its cluster (rank 0 of 1 without one).
template <bool kCluster> __device__ __forceinline__ void cluster_rank(unsigned& rank, unsigned& nblk) {
  rank = 0;
  nblk = 1;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if constexpr (kCluster) {
    rank = cg::this_cluster().block_rank();
    nblk = cg::this_cluster().num_blocks();
  }
#endif
}
template <bool kCluster> __device__ __forceinline__ void cluster_sync() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if constexpr (kCluster) cg::this_cluster().sync();
  else __syncthreads();
#else
  __syncthreads();
#endif
}
/// Block `rank`'s copy of the shared variable v (the own copy without a cluster).
template <bool kCluster, class V> __device__ __forceinline__ V* cluster_peer(V* v, unsigned rank) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if constexpr (kCluster) return cg::this_cluster().map_shared_rank(v, rank);
#endif
  (void)rank;
  return v;
}

/// Forward. Rows go to clusters (or blocks) grid-stride; block `rank` of a cluster owns columns
/// [rank * chunk, (rank + 1) * chunk) of the row. Each block reduces its slice to Stats, publishes
/// them in its shared memory, and after a cluster barrier thread 0 of every block merges all of
/// them in rank order (the same result in every block). The published statistics alternate
/// between two slots by row parity, so one cluster barrier per row suffices; a last one at exit
/// keeps every block's shared memory alive while peers may still read it.
template <class S, bool kCluster>
__global__ void __launch_bounds__(kSliceThreads, 2)
    softmax_slice_fwd(const S* x, S* y, std::int64_t rows, std::int64_t cols, std::int64_t chunk, bool vec, bool log,
                      bool masked_zero, BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  S* row = reinterpret_cast<S*>(smem_raw);
  using BlockReduce = cub::BlockReduce<T, kSliceThreads>;
  using BlockReduceS = cub::BlockReduce<Stats<T>, kSliceThreads>;
  __shared__ typename BlockReduce::TempStorage tmp;
  __shared__ typename BlockReduceS::TempStorage tmps;
  __shared__ T bmax;
  __shared__ Stats<T> mine[2], all;  // mine: by row parity (see below)
  unsigned rank, nblk;
  cluster_rank<kCluster>(rank, nblk);
  if (static_cast<std::int64_t>(nblk) * chunk < cols) __trap();  // launched without its cluster
  const std::int64_t c0 = rank * chunk < cols ? rank * chunk : cols;
  const std::int64_t len = cols - c0 < chunk ? cols - c0 : chunk;
  int parity = 0;
  for (std::int64_t r = blockIdx.x / nblk; r < rows; r += gridDim.x / nblk, parity ^= 1) {
    T m = -inf_of<T>();
    slice_load(x + r * cols + c0, row, len, vec, [&](T v) { m = MaxNan{}(m, v); });
    m = BlockReduce(tmp).Reduce(m, MaxNan{});
    if (threadIdx.x == 0) bmax = m;
    __syncthreads();  // also: the whole slice is in shared memory
    m = bmax;
    Stats<T> st{m, T(0), T(0)};
    for (std::int64_t j = threadIdx.x; j < len; j += kSliceThreads) {
      const T v = dload(row[j]);
      if (v == m) st.k += T(1);
      else st.r += exp_sum_term(v - m);
    }
    st = BlockReduceS(tmps).Reduce(st, MergeStats{});
    if (threadIdx.x == 0) mine[parity] = st;
    cluster_sync<kCluster>();  // every block's mine[parity] is published
    if (threadIdx.x == 0) {
      Stats<T> a = *cluster_peer<kCluster>(&mine[parity], 0);
      for (unsigned q = 1; q < nblk; ++q) a = MergeStats{}(a, *cluster_peer<kCluster>(&mine[parity], q));
      all = a;
    }
    __syncthreads();
    st = all;
    const int state = row_state(st.m);
    const T scale = row_scale(log, st);
    slice_store(y + r * cols + c0, len, vec, bl.beta != T(0), [&](std::int64_t j, const S* old) {
      return out_value<S>(state, log, masked_zero, dload(row[j]), st.m, scale, bl, old);
    });
    // The row cache, bmax and all are this block's own: a block barrier before the next row reuses
    // them. mine[parity] is next written two rows on, after the next row's cluster barrier, which
    // no block passes before every peer has finished reading it here.
    __syncthreads();
  }
  cluster_sync<kCluster>();  // no block leaves (its shared memory) while a peer may still read it
}

/// Backward: the slice of y and of dy cached (dy at row + chunk), sum(dy y) (or sum(dy)) and the
/// count of unmasked elements reduced per block, then across the cluster in rank order.
template <class T> struct GradSum {
  T s;
  int unmasked;
};
struct SumGrad {
  template <class T> __device__ __forceinline__ GradSum<T> operator()(const GradSum<T>& a, const GradSum<T>& b) const {
    return GradSum<T>{a.s + b.s, a.unmasked + b.unmasked};
  }
};

template <class S, bool kCluster>
__global__ void __launch_bounds__(kSliceThreads, 2)
    softmax_slice_bwd(const S* y, const S* dy, S* dx, std::int64_t rows, std::int64_t cols, std::int64_t chunk, bool vec,
                      bool log, bool masked_zero, BlendT<typename Compute<S>::type> bl) {
  using T = typename Compute<S>::type;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  S* ys = reinterpret_cast<S*>(smem_raw);
  S* gs = ys + chunk;  // chunk is a multiple of 8 elements: 16-byte aligned
  using BlockReduce = cub::BlockReduce<GradSum<T>, kSliceThreads>;
  __shared__ typename BlockReduce::TempStorage tmp;
  __shared__ GradSum<T> mine[2], all;  // mine: by row parity, as the forward
  unsigned rank, nblk;
  cluster_rank<kCluster>(rank, nblk);
  if (static_cast<std::int64_t>(nblk) * chunk < cols) __trap();  // launched without its cluster
  const std::int64_t c0 = rank * chunk < cols ? rank * chunk : cols;
  const std::int64_t len = cols - c0 < chunk ? cols - c0 : chunk;
  int parity = 0;
  for (std::int64_t r = blockIdx.x / nblk; r < rows; r += gridDim.x / nblk, parity ^= 1) {
    slice_load(y + r * cols + c0, ys, len, vec, [](T) {});
    slice_load(dy + r * cols + c0, gs, len, vec, [](T) {});
    __syncthreads();
    GradSum<T> gsum{T(0), 0};
    for (std::int64_t j = threadIdx.x; j < len; j += kSliceThreads) {
      const T yv = dload(ys[j]), g = dload(gs[j]);
      gsum.s += log ? g : g * yv;
      gsum.unmasked += !is_masked_elem(log, yv);
    }
    gsum = BlockReduce(tmp).Reduce(gsum, SumGrad{});
    if (threadIdx.x == 0) mine[parity] = gsum;
    cluster_sync<kCluster>();
    if (threadIdx.x == 0) {
      GradSum<T> a = *cluster_peer<kCluster>(&mine[parity], 0);
      for (unsigned q = 1; q < nblk; ++q) a = SumGrad{}(a, *cluster_peer<kCluster>(&mine[parity], q));
      all = a;
    }
    __syncthreads();
    const T s = all.s;
    const bool masked = masked_zero && all.unmasked == 0;
    slice_store(dx + r * cols + c0, len, vec, bl.beta != T(0), [&](std::int64_t j, const S* old) {
      return grad_value<S>(log, masked, dload(ys[j]), dload(gs[j]), s, bl, old);
    });
    __syncthreads();
  }
  cluster_sync<kCluster>();
}


/// Shared memory a slice kernel may take per block on device `dev`: the opt-in limit less room for
/// the kernels' static shared memory (the reductions' scratch).
int slice_smem_limit(int dev) { return device_attr<cudaDevAttrMaxSharedMemoryPerBlockOptin>(dev) - 2048; }

/// A launch configuration for a 1-D cluster of `cs` blocks of the slice kernels (at[] must outlive it).
cudaLaunchConfig_t cluster_config(cudaLaunchAttribute (&at)[1], int cs, unsigned grid, std::size_t smem, cudaStream_t s) {
  at[0].id = cudaLaunchAttributeClusterDimension;
  at[0].val.clusterDim.x = static_cast<unsigned>(cs);
  at[0].val.clusterDim.y = 1;
  at[0].val.clusterDim.z = 1;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(grid);
  cfg.blockDim = dim3(kSliceThreads);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = s;
  cfg.attrs = at;
  cfg.numAttrs = 1;
  return cfg;
}

/// What one slice-kernel instantiation can do on a device, found once per device: its dynamic
/// shared-memory limit raised to slice_smem_limit(), and the largest cluster (2, 4, 8; 0 = none)
/// that can be resident with that much shared memory per block (needs sm_90 code and an sm_90
/// device; cudaOccupancyMaxActiveClusters says whether a cluster fits).
struct SliceInfo {
  int max_cluster = 0;
  int active_clusters = 0;  // at max_cluster and the full limit: a lower bound for smaller slices
};
template <auto Kernel> SliceInfo slice_setup(int dev, bool cluster_kernel, const char* call) {
  // per kernel instantiation and device; racing first calls do the same work and store the same
  static std::atomic<bool> ready[kMaxDevices];
  static SliceInfo info[kMaxDevices];
  if (ready[dev].load(std::memory_order_acquire)) return info[dev];
  const int limit = slice_smem_limit(dev);
  cudaFuncAttributes fa{};
  if (cudaFuncGetAttributes(&fa, Kernel) != cudaSuccess) check_launch("cudaFuncGetAttributes", call);
  if (fa.sharedSizeBytes > 2048)  // slice_smem_limit() leaves 2 KiB for it
    throw Error(Status::internal, std::string("actk::") + call + ": softmax slice kernel needs " +
                                      std::to_string(fa.sharedSizeBytes) + " bytes of static shared memory (> 2048)");
  if (cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, limit) != cudaSuccess)
    check_launch("cudaFuncSetAttribute", call);
  SliceInfo found;
  if (cluster_kernel && device_attr<cudaDevAttrComputeCapabilityMajor>(dev) >= 9 && fa.ptxVersion >= 90) {
    const cudaError_t pending = cudaPeekAtLastError();  // someone else's error: leave it for them
    for (int cs : {8, 4, 2}) {
      cudaLaunchAttribute at[1];
      const cudaLaunchConfig_t cfg = cluster_config(at, cs, static_cast<unsigned>(cs), static_cast<std::size_t>(limit), nullptr);
      int n = 0;
      if (cudaOccupancyMaxActiveClusters(&n, Kernel, &cfg) == cudaSuccess && n > 0) {
        found.max_cluster = cs;
        found.active_clusters = n;
        break;
      }
    }
    if (pending == cudaSuccess) (void)cudaGetLastError();  // a refused size is an answer, not an error
  }
  info[dev] = found;
  ready[dev].store(true, std::memory_order_release);
  return found;
}

}  // namespace

inline std::int64_t round_up(std::int64_t v, std::int64_t m) { return (v + m - 1) / m * m; }

/// The slice path for rows of the last axis, if the row fits on chip: one block per row when the
/// row's cache fits in half the limit (two rows per SM in flight: the kernels are held to 64
/// registers, two 512-thread blocks per SM), else a cluster of the fewest blocks whose slices fit
/// in half of it, else in all of it; below sm_90, one
/// block with up to the whole limit. Returns false when no slice path fits (the caller then takes
/// the two-pass kernels).
template <class S> bool softmax_slice_rows(const SoftmaxCall& c, cudaStream_t s, const char* call, int dev, int sms) {
  constexpr int N = Vec<S>::N;
  const auto [in, dy, out, bl] = softmax_args<S>(c);
  const std::int64_t cols = c.axis, rows = c.outer;
  const std::int64_t per_col = static_cast<std::int64_t>(sizeof(S)) * (c.backward ? 2 : 1);  // bytes cached per column
  // two blocks per SM (the kernels are held to 64 registers): each gets half the SM's shared
  // memory less the 1 KiB the hardware reserves per block and the kernels' static share (< 2 KiB)
  const std::int64_t limit = slice_smem_limit(dev);
  const std::int64_t per_sm_half = device_attr<cudaDevAttrMaxSharedMemoryPerMultiprocessor>(dev) / 2 - 3072;
  const std::int64_t half = per_sm_half < limit ? per_sm_half : limit;
  // 16-byte accesses: every row start aligned in every pointer
  const bool vec = cols % N == 0 && misalign(in) == 0 && misalign(out) == 0 && (!c.backward || misalign(dy) == 0);
  SliceInfo info;
  if (c.backward) {
    slice_setup<softmax_slice_bwd<S, false>>(dev, false, call);
    info = slice_setup<softmax_slice_bwd<S, true>>(dev, true, call);
  } else {
    slice_setup<softmax_slice_fwd<S, false>>(dev, false, call);
    info = slice_setup<softmax_slice_fwd<S, true>>(dev, true, call);
  }
  const int max_cluster = info.max_cluster, active = info.active_clusters;

  int cs = 0;  // 0: one block per row
  std::int64_t chunk = round_up(cols, kSliceAlign);
  if (chunk * per_col > half) {
    for (int pass = 0; pass < 2 && cs == 0; ++pass) {
      const std::int64_t budget = pass == 0 ? half : limit;
      for (int k = 2; k <= max_cluster; k *= 2) {
        const std::int64_t ch = round_up((cols + k - 1) / k, kSliceAlign);
        if (ch * per_col <= budget) {
          cs = k;
          chunk = ch;
          break;
        }
      }
    }
    if (cs == 0 && chunk * per_col > limit) return false;  // no cluster fits, nor one block
  }
  const std::size_t smem = static_cast<std::size_t>(chunk * per_col);
  if (cs == 0) {
    const std::int64_t cap = static_cast<std::int64_t>(sms) * 16;
    const int grid = static_cast<int>(rows < cap ? (rows < 1 ? 1 : rows) : cap);
    if (c.backward)
      softmax_slice_bwd<S, false><<<grid, kSliceThreads, smem, s>>>(in, dy, out, rows, cols, chunk, vec, c.log, c.masked_zero, bl);
    else softmax_slice_fwd<S, false><<<grid, kSliceThreads, smem, s>>>(in, out, rows, cols, chunk, vec, c.log, c.masked_zero, bl);
    check_launch("softmax kernel (block per row, shared memory)", call);
    return true;
  }
  // one cluster per row, as many clusters as can be resident (at least one wave's worth of SMs)
  std::int64_t clusters = active > 0 ? active : 1;
  const std::int64_t wave = 2 * static_cast<std::int64_t>(sms) / cs;  // two blocks per SM where the slices fit
  if (clusters < wave) clusters = wave;
  if (clusters > rows) clusters = rows;
  if (clusters < 1) clusters = 1;
  cudaLaunchAttribute at[1];
  const cudaLaunchConfig_t cfg = cluster_config(at, cs, static_cast<unsigned>(clusters * cs), smem, s);
  const bool lg = c.log, mz = c.masked_zero;
  const cudaError_t e = c.backward ? cudaLaunchKernelEx(&cfg, softmax_slice_bwd<S, true>, in, dy, out, rows, cols, chunk, vec, lg, mz, bl)
                                   : cudaLaunchKernelEx(&cfg, softmax_slice_fwd<S, true>, in, out, rows, cols, chunk, vec, lg, mz, bl);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();  // reported here; not left for the next call to find
    throw Error(Status::cuda_error, std::string("actk::") + call + ": softmax kernel (thread-block cluster of " +
                                        std::to_string(cs) + ") failed: " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
  }
  check_launch("softmax kernel (thread-block cluster)", call);
  return true;
}


template bool softmax_slice_rows<float>(const SoftmaxCall&, cudaStream_t, const char*, int, int);
template bool softmax_slice_rows<double>(const SoftmaxCall&, cudaStream_t, const char*, int, int);
template bool softmax_slice_rows<float16>(const SoftmaxCall&, cudaStream_t, const char*, int, int);
template bool softmax_slice_rows<bfloat16>(const SoftmaxCall&, cudaStream_t, const char*, int, int);

}  // namespace detail
}  // namespace actk
