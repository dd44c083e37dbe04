// The CUDA helpers every family file shares: error checking, the backend's one stream, launch geometry, scratch
// buffers, the split-count rule, deterministic warp / block reductions and sums, exact arithmetic, and the shared-
// memory tile loaders and dot products of the fused kernels. One copy of each: a family file that needs one of these
// includes this header and does not write its own.
//
// Contract between cuda/backend.cu (the allocator, the stream, the probe, the memory methods of CudaBackend) and the
// family files (cuda/*.cu, each defining its CudaBackend methods, cuda/cuda_backend.h): methods take validated,
// already-allocated Tensors (device memory, as ops.cc guarantees) and enqueue work on dgc::cuda::stream(). Scratch
// memory comes from scratchF32 / scratchI32 / scratchF64 below (the caching allocator), never from cudaMalloc
// directly. Methods never synchronize unless they must read a value back.
//
// DETERMINISM: no result depends on the GPU it runs on. Launch shapes may follow the device (multiprocessorCount(),
// e.g. GEMM's tile size), but only where every output is still computed by the same operations in the same order;
// anything that changes an order of summation — how many ranges the streamed side of a fused kernel is split into
// (planSplits), split-K in GEMM, reduction trees — depends on the operand shapes alone. No floating-point atomics.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <type_traits>

#include "../native/core/error.h"
#include "../native/core/tensor.h"

namespace dgc {
namespace cuda {

// ---- errors and the stream ---------------------------------------------------------------------------------------

// The stream every op is enqueued on (defined in backend.cu).
cudaStream_t stream();

// Turns a CUDA error into a coded dgc::Error naming the op: DGC_OOM for allocation failures,
// DGC_INTERNAL (with the CUDA error string) otherwise. The process lives on.
[[noreturn]] void throwCudaError(cudaError_t err, const char* op, const char* what);

// Checks a CUDA runtime call; `op` names the dgclust op for the message.
#define DGC_CUDA_CHECK(expr, op)                                        \
  do {                                                                  \
    cudaError_t dgc_cuda_err_ = (expr);                                 \
    if (dgc_cuda_err_ != cudaSuccess) ::dgc::cuda::throwCudaError(dgc_cuda_err_, op, #expr); \
  } while (0)

// Checks the last kernel launch (launch-configuration errors; asynchronous faults surface at the next sync).
#define DGC_CUDA_LAUNCH_CHECK(op) DGC_CUDA_CHECK(cudaGetLastError(), op)

// ---- launch geometry -----------------------------------------------------------------------------------------------

inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The most blocks blocksFor hands out; a grid-stride loop does the rest.
constexpr int64_t kMaxGridBlocks = 65535LL * 8;

// Blocks of `threads` covering n items, capped at kMaxGridBlocks.
inline unsigned int blocksFor(int64_t n, int threads, int64_t cap = kMaxGridBlocks) {
  return static_cast<unsigned int>(std::min(std::max<int64_t>(1, ceilDiv(n, threads)), cap));
}

// Whether a grid-stride loop over n items (blocksFor(n, threads) blocks) may index with uint32: every index it forms,
// up to n − 1 plus one grid's stride, stays below 2^32. (64-bit division costs ~10× more than 32-bit.)
inline bool indexFitsUint32(int64_t n, int threads) {
  return n < (int64_t(1) << 32) - int64_t(threads) * kMaxGridBlocks;
}

// Streaming multiprocessors of the backend's device (from the start-up probe; DGCLUST_CUDA_SM_COUNT=N pretends N,
// for the determinism tests). For launch shapes that do not change any result only (see DETERMINISM above).
int multiprocessorCount();

// Allows a kernel more than 48 KiB of dynamic shared memory (no-op below that).
template <typename Kernel>
inline void allowDynamicSmem(Kernel kernel, size_t bytes, const char* op) {
  if (bytes > 48 * 1024)
    DGC_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)),
                   op);
}

// Calls fn(std::integral_constant<int, D>) for the smallest width bucket D ≥ width (rows padded with zeros to D
// columns, a multiple of 4 for float4 loads); false when width > 64 (the fused kernels' generic paths then).
template <typename Fn>
bool withWidthBucket(int width, Fn&& fn) {
  if (width <= 4) return fn(std::integral_constant<int, 4>()), true;
  if (width <= 8) return fn(std::integral_constant<int, 8>()), true;
  if (width <= 12) return fn(std::integral_constant<int, 12>()), true;
  if (width <= 16) return fn(std::integral_constant<int, 16>()), true;
  if (width <= 20) return fn(std::integral_constant<int, 20>()), true;
  if (width <= 24) return fn(std::integral_constant<int, 24>()), true;
  if (width <= 32) return fn(std::integral_constant<int, 32>()), true;
  if (width <= 48) return fn(std::integral_constant<int, 48>()), true;
  if (width <= 64) return fn(std::integral_constant<int, 64>()), true;
  return false;
}

// ---- split counts ----------------------------------------------------------------------------------------------
// The fused kernels (attention, self-correlation, graph reconstruction, kNN) give each thread rows of one side and
// stream the other side past them. When there are too few row blocks to fill a GPU, the streamed side is cut into
// `splits` ranges computed by separate blocks, and the ranges' partial results are combined in range order. A
// different split count rounds differently (except kNN, whose merge is exact), so the count is a function of the
// shapes alone: it aims at kSplitTargetBlocks blocks in flight, sized for a reference GPU (4 blocks on each of the
// H100's 132 multiprocessors), whatever GPU runs it.
constexpr int64_t kSplitTargetBlocks = 4 * 132;

struct SplitPlan {
  int splits;    // ranges of the streamed side (≥ 1, no empty range)
  int64_t span;  // streamed rows per range, a multiple of the tile
};

// rowBlocks: blocks of the owning side; streamed: rows of the streamed side (≥ 1), in tiles of `tile` rows; each
// range keeps at least minTiles tiles, and there are at most maxSplits ranges.
// DGCLUST_CUDA_SPLITS=N forces N ranges (still capped by maxSplits and one tile per range): for tests, which check
// that the split and combine paths agree with the CPU whatever the count. It is read at every call.
inline SplitPlan planSplits(int64_t rowBlocks, int64_t streamed, int tile, int64_t minTiles, int64_t maxSplits) {
  const int64_t tiles = ceilDiv(streamed, tile);
  int64_t s = 1;
  if (rowBlocks < kSplitTargetBlocks)
    s = std::min(ceilDiv(kSplitTargetBlocks, std::max<int64_t>(1, rowBlocks)), std::max<int64_t>(1, tiles / minTiles));
  if (const char* env = std::getenv("DGCLUST_CUDA_SPLITS")) {
    const long forced = std::strtol(env, nullptr, 10);
    if (forced >= 1) s = std::min<int64_t>(forced, tiles);
  }
  s = std::max<int64_t>(1, std::min(s, maxSplits));
  const int64_t span = ceilDiv(tiles, s) * tile;
  return {static_cast<int>(ceilDiv(streamed, span)), span};
}

// ---- scratch buffers -------------------------------------------------------------------------------------------
// Device scratch from the backend's caching allocator. Ops run on one stream, so a scratch tensor released when the
// host function returns is only reused by work enqueued after the kernels that use it.
inline Tensor scratchF32(int64_t count) { return Tensor::empty({count > 0 ? count : 1}, DType::F32, Device::CUDA); }
inline Tensor scratchI32(int64_t count) { return Tensor::empty({count > 0 ? count : 1}, DType::I32, Device::CUDA); }
// count doubles (two float32 slots each; device allocations are at least 256-byte aligned).
inline Tensor scratchF64(int64_t count) { return scratchF32(2 * (count > 0 ? count : 1)); }
inline double* f64(const Tensor& t) { return reinterpret_cast<double*>(t.raw()); }

// x[0 .. count) = value on the stream (elementwise.cu).
void fillF32(float* x, float value, int64_t count, const char* op);

// ---- device: exact arithmetic --------------------------------------------------------------------------------------

constexpr unsigned kFullMask = 0xffffffffu;

// Exactly rounded double products and sums that the compiler may not fuse into an FMA (the CPU code they mirror
// is built for baseline x86-64, which has no FMA).
__device__ __forceinline__ double dmul(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ double dadd(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ double dsub(double a, double b) { return __dsub_rn(a, b); }

// ---- device: reductions ----------------------------------------------------------------------------------------
// One pattern for every warp and block reduction: butterfly (xor) shuffles inside a warp, then the warp results in
// warp order through one more butterfly, and lane 0's value broadcast — so every thread ends with the same bits,
// and the tree depends on the block size alone, never on timing. (Argmax, a reduction over (value, index) pairs,
// keeps its own pair shuffles in reduce.cu.)

struct Plus {
  template <typename T>
  __device__ T operator()(T a, T b) const { return a + b; }
};
struct Min {
  __device__ double operator()(double a, double b) const { return fmin(a, b); }
};
struct Max {
  __device__ double operator()(double a, double b) const { return fmax(a, b); }
};

template <typename T, typename Op>
__device__ __forceinline__ T warpReduce(T v, Op op) {
#pragma unroll
  for (int s = 16; s > 0; s >>= 1) v = op(v, __shfl_xor_sync(kFullMask, v, s));
  return __shfl_sync(kFullMask, v, 0);
}
__device__ __forceinline__ double warpSum(double v) { return warpReduce(v, Plus()); }
__device__ __forceinline__ float warpSum(float v) { return warpReduce(v, Plus()); }
__device__ __forceinline__ double warpMin(double v) { return warpReduce(v, Min()); }
__device__ __forceinline__ double warpMax(double v) { return warpReduce(v, Max()); }

// Over the whole block (blockDim.x a multiple of 32, ≤ 1024), one value per thread; every thread gets the result.
// `shm`: ≥ blockDim.x / 32 slots of shared memory. Must be called by every thread of the block; ends with a barrier,
// so `shm` can be used again at once. `identity` pads the second butterfly (0 for sums, ±inf for min / max).
template <typename T, typename Op>
__device__ __forceinline__ T blockReduce(T v, T* shm, Op op, T identity) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warpReduce(v, op);
  if (warps == 1) return v;
  if (lane == 0) shm[warp] = v;
  __syncthreads();
  T t = lane < warps ? shm[lane] : identity;
  t = warpReduce(t, op);
  __syncthreads();
  return t;
}
__device__ __forceinline__ double blockSum(double v, double* shm) { return blockReduce(v, shm, Plus(), 0.0); }

// Σ of `count` doubles in a fixed order by one block: thread t adds x[t], x[t + T], … in turn, then blockSum.
__device__ __forceinline__ double blockSumArray(const double* x, int64_t count, double* shm) {
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) acc += x[i];
  return blockSum(acc, shm);
}

// ---- deterministic sums of n terms (reduce.cu, loss.cu) ------------------------------------------------------------
// out[0] = (float)((Σ_{i<n} term(i)) / divisor), term(i) a double, over a tree whose shape depends on n alone: block b
// sums its chunk [b·kSumChunk, …) (thread t takes start + t + j·kSumThreads in order, then blockSum), then one block
// sums the block partials (blockSumArray). No atomics: a sum repeats bit for bit.
constexpr int kSumThreads = 256;
constexpr int64_t kSumChunk = 16384;

// (Kernels are templates so that every translation unit that launches one has its own definition: kernels are not
// shared across files without relocatable device code.)
template <typename Term>
__global__ void deterministicSumPass1(int64_t n, Term term, double* __restrict__ partial, float* __restrict__ out,
                                double divisor) {
  __shared__ double shm[kSumThreads / 32];
  const int64_t start = int64_t(blockIdx.x) * kSumChunk;
  const int64_t end = start + kSumChunk < n ? start + kSumChunk : n;
  double s = 0.0;
  for (int64_t i = start + threadIdx.x; i < end; i += kSumThreads) s += term(i);
  s = blockSum(s, shm);
  if (threadIdx.x == 0) {
    if (gridDim.x == 1) out[0] = static_cast<float>(s / divisor);
    else partial[blockIdx.x] = s;
  }
}

template <int kUnused = 0>
__global__ void deterministicSumPass2(const double* __restrict__ partial, int64_t count, float* __restrict__ out,
                                  double divisor) {
  __shared__ double shm[kSumThreads / 32];
  const double s = blockSumArray(partial, count, shm);
  if (threadIdx.x == 0) out[0] = static_cast<float>(s / divisor);
}

// The pairwise losses' last backward pass (CDC's cdcCorrelationLoss and cdcPairLoss): given H = ∂L/∂D over the b×b
// squared distances D_ij = ‖y_i − y_j‖², dY_ic = Σ_{j ≠ i, in order} 2(H_ij + H_ji)(y_ic − y_jc), in double.
template <int kUnused = 0>
__global__ void pairDistanceGradKernel(int64_t b, int64_t w, const float* __restrict__ Y, const double* __restrict__ H,
                                       float* dY) {
  const int64_t total = b * w;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e / w, c = e - i * w;
    const double yi = Y[e];
    double acc = 0.0;
    for (int64_t j = 0; j < b; ++j) {
      if (j == i) continue;
      const double a = 2.0 * (H[i * b + j] + H[j * b + i]);
      if (a == 0.0) continue;
      acc += a * (yi - static_cast<double>(Y[j * w + c]));
    }
    dY[e] = static_cast<float>(acc);
  }
}

// Term: a copyable functor with `__device__ double operator()(int64_t i) const`. Enqueued on stream().
template <typename Term>
void deterministicSum(int64_t n, Term term, float* out, double divisor, const char* op) {
  const int64_t blocks = n > 0 ? ceilDiv(n, kSumChunk) : 1;
  Tensor partial;
  if (blocks > 1) partial = scratchF64(blocks);
  double* p = blocks > 1 ? f64(partial) : nullptr;
  deterministicSumPass1<Term><<<static_cast<unsigned>(blocks), kSumThreads, 0, stream()>>>(n, term, p, out, divisor);
  DGC_CUDA_LAUNCH_CHECK(op);
  if (blocks > 1) {
    deterministicSumPass2<><<<1, kSumThreads, 0, stream()>>>(p, blocks, out, divisor);
    DGC_CUDA_LAUNCH_CHECK(op);
  }
}

// ---- device: shared-memory tiles of the fused kernels --------------------------------------------------------------
// A thread owns rows of D floats in registers (D a width bucket, a multiple of 4); the streamed rows come through
// shared memory as BN × D tiles, read by every thread of the block at the same row at the same time (float4
// broadcasts: no bank conflicts).

// dst[r·D + c] = src[(r0 + r)·ld + c] for r0 + r < rowEnd and c < width, 0 elsewhere (r < BN, c < D).
template <int D, int BN, int THREADS>
__device__ __forceinline__ void loadTile(float* dst, const float* __restrict__ src, int64_t ld, int64_t r0,
                                         int64_t rowEnd, int width) {
  for (int e = threadIdx.x; e < BN * D; e += THREADS) {
    const int r = e / D, c = e - (e / D) * D;
    const int64_t row = r0 + r;
    dst[e] = (row < rowEnd && c < width) ? __ldg(src + row * ld + c) : 0.0f;
  }
}

// dst[r] = src[r0 + r] for r0 + r < rowEnd, `pad` elsewhere (r < BN).
template <int BN, int THREADS>
__device__ __forceinline__ void loadScalars(float* dst, const float* __restrict__ src, int64_t r0, int64_t rowEnd,
                                            float pad) {
  for (int r = threadIdx.x; r < BN; r += THREADS) dst[r] = (r0 + r < rowEnd) ? __ldg(src + r0 + r) : pad;
}

// x[c] = src[row·ld + c]·factor for c < width (row < rows), 0 elsewhere.
template <int D>
__device__ __forceinline__ void loadRow(float (&x)[D], const float* __restrict__ src, int64_t ld, int64_t row,
                                        int64_t rows, int width, float factor) {
#pragma unroll
  for (int c = 0; c < D; ++c) x[c] = (row < rows && c < width) ? src[row * ld + c] * factor : 0.0f;
}

// dst[row·ld + c] = x[c]·factor for c < width (nothing when row ≥ rows).
template <int D>
__device__ __forceinline__ void storeRow(const float (&x)[D], float* dst, int64_t ld, int64_t row, int64_t rows,
                                         int width, float factor) {
  if (row >= rows) return;
#pragma unroll
  for (int c = 0; c < D; ++c)
    if (c < width) dst[row * ld + c] = x[c] * factor;
}

// Σ_c a[c]·b[c] over the D columns of a shared row, one FMA chain in column order.
template <int D>
__device__ __forceinline__ float dotShared(const float (&a)[D], const float* __restrict__ b) {
  const float4* b4 = reinterpret_cast<const float4*>(b);
  float s = 0.0f;
#pragma unroll
  for (int c = 0; c < D / 4; ++c) {
    const float4 x = b4[c];
    s = fmaf(a[4 * c + 0], x.x, s);
    s = fmaf(a[4 * c + 1], x.y, s);
    s = fmaf(a[4 * c + 2], x.z, s);
    s = fmaf(a[4 * c + 3], x.w, s);
  }
  return s;
}

// acc[c] += w·b[c] over the D columns of a shared row.
template <int D>
__device__ __forceinline__ void axpyRowShared(float w, const float* __restrict__ b, float (&acc)[D]) {
  const float4* b4 = reinterpret_cast<const float4*>(b);
#pragma unroll
  for (int c = 0; c < D / 4; ++c) {
    const float4 x = b4[c];
    acc[4 * c + 0] = fmaf(w, x.x, acc[4 * c + 0]);
    acc[4 * c + 1] = fmaf(w, x.y, acc[4 * c + 1]);
    acc[4 * c + 2] = fmaf(w, x.z, acc[4 * c + 2]);
    acc[4 * c + 3] = fmaf(w, x.w, acc[4 * c + 3]);
  }
}

// acc[u][c] += w[u]·b[c] for the TM owned rows u, each shared float4 of b read once for all of them.
template <int TM, int D>
__device__ __forceinline__ void axpyShared(const float (&w)[TM], const float* __restrict__ b, float (&acc)[TM][D]) {
  const float4* b4 = reinterpret_cast<const float4*>(b);
#pragma unroll
  for (int c = 0; c < D / 4; ++c) {
    const float4 x = b4[c];
#pragma unroll
    for (int u = 0; u < TM; ++u) {
      acc[u][4 * c + 0] = fmaf(w[u], x.x, acc[u][4 * c + 0]);
      acc[u][4 * c + 1] = fmaf(w[u], x.y, acc[u][4 * c + 1]);
      acc[u][4 * c + 2] = fmaf(w[u], x.z, acc[u][4 * c + 2]);
      acc[u][4 * c + 3] = fmaf(w[u], x.w, acc[u][4 * c + 3]);
    }
  }
}

}  // namespace cuda
}  // namespace dgc
