// kNN-graph construction on the GPU: the exact rule of native/cpu/knn.h (SDCN/DFCN's top-(k+1), drop self).
//
//   key(i, j) = Σ_t (x_it − x_jt)²                     heat (Euclidean)     smaller key = more similar
//             = −Σ_t x_it x_jt                           dot
//             = −(Σ_t x_it x_jt)/(|x_i| |x_j|)           cosine (0 when a norm is 0)
//   in float64 from the float32 inputs, summed over t in order; rows ranked by (key, j); C_i = the first k+1 of row
//   i (self included as a candidate); neighbors_i = C_i \ {i} in rank order, or the first k of C_i when i ∉ C_i.
//
// HOW (the CPU's filter, on the GPU): a thread owns one row i and keeps a bounded max-heap of its k+1 best
// (key, j) so far, in global memory (slot-major, so a warp's accesses to one slot coalesce): O(n·k) memory. The
// other rows stream through shared memory in tiles of 32 rows × 32 columns; the float dot products x_i·x_j (one FMA
// chain each) give an approximate key alpha·dot + colTerm_j with a rigorous bound (knn.cc: C = (2d + 16)·2^-24,
// colTerm_j = a_j − C·s_j rounded down, the row threshold rowT_i = thr_i − a_i + C·s_i rounded up): a candidate is
// skipped only when its exact key is certainly worse than the row's current (k+1)-th best, so the result is the
// exact float64 ranking — the same neighbours in the same order as the CPU, independent of tiling. Survivors of the
// filter get their exact key (double, unfused operations in the CPU's order) and enter the heap.
//   When there are few row blocks (common.cuh, planSplits), the columns are split into ranges with one heap per
//   (range, row); a final pass heap-sorts each range's candidates and merges the ranges (the top k+1 under a total
//   order is unique, so the split does not change the result).
// sdcnOrder = true (the exact line order of SDCN's files: numpy's introselect on float32 similarity rows): computed
//   by the CPU routine cpu::knnGraphSdcnOrder on a host copy of x, then copied back. That routine is O(n²·d) scalar
//   code meant for reproducing published graphs of ~10k nodes (native/cpu/knn.h); porting numpy's introselect to
//   the GPU would buy nothing at that size.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../native/cpu/knn.h"
#include "common.cuh"
#include "cuda_backend.h"

namespace dgc {
namespace cuda {
namespace {


constexpr int kThreads = 128;
constexpr int kTileCols = 32;   // rows j per tile
constexpr int kChunk = 32;      // feature columns per shared chunk
constexpr int kMaxSplits = 32;
constexpr int kHeat = 0, kCosine = 1, kDot = 2;

struct KnnParams {
  int64_t n = 0, d = 0, k1 = 0;  // k1 = k + 1
  int metric = kHeat;
  const float* X = nullptr;      // the rows (exact keys)
  const float* F = nullptr;      // the rows the float filter sees (normalized for cosine)
  const double* a = nullptr;     // approx key = a_i + a_j + alpha·dot (a_i enters through rowT)
  const double* s = nullptr;     // per-row error scale
  const double* invNorm = nullptr;  // cosine: 1/|x_i| (0 for a zero row)
  const float* colTerm = nullptr;   // a_j − C·s_j rounded down
  float alpha = -1.0f;
  double C = 0.0;
  int64_t span = 0;              // columns per split
  double* heapKey = nullptr;     // [split][slot][n]
  int32_t* heapIdx = nullptr;    // [split][slot][n]
  int32_t* heapSize = nullptr;   // [split][n]
  int splits = 1;
  int32_t* neighbors = nullptr;  // n × (k1 − 1)
};

__device__ __forceinline__ bool better(double ka, int32_t ia, double kb, int32_t ib) {
  return ka < kb || (ka == kb && ia < ib);
}

// Smallest float ≥ v (v finite or +inf); largest float ≤ v.
__host__ __device__ inline float roundUpF(double v) {
  float f = static_cast<float>(v);
  if (static_cast<double>(f) < v) f = nextafterf(f, INFINITY);
  return f;
}
__host__ __device__ inline float roundDownF(double v) {
  float f = static_cast<float>(v);
  if (static_cast<double>(f) > v) f = nextafterf(f, -INFINITY);
  return f;
}

// The exact key of (i, j), as knn.cc's exactKey (float64, t in order, no FMA).
__device__ double exactKey(const KnnParams& p, int64_t i, int64_t j) {
  const float* x = p.X + i * p.d;
  const float* y = p.X + j * p.d;
  double acc = 0.0;
  if (p.metric == kHeat) {
    for (int64_t t = 0; t < p.d; ++t) {
      const double df = dsub(x[t], y[t]);
      acc = dadd(acc, dmul(df, df));
    }
    return acc;
  }
  for (int64_t t = 0; t < p.d; ++t) acc = dadd(acc, dmul(x[t], y[t]));
  if (p.metric == kDot) return -acc;
  if (p.invNorm[i] == 0.0 || p.invNorm[j] == 0.0) return 0.0;
  return -dmul(dmul(acc, p.invNorm[i]), p.invNorm[j]);
}

// Per row: sq_i = Σ x² (double, in order), finiteness; cosine: invNorm_i and the normalized float row; the filter's
// a_i, s_i and colTerm_i (knn.cc).
__global__ void knnRowStatsKernel(KnnParams p, double* sq, double* a, double* s, double* invNorm, float* F,
                                  float* colTerm, int* bad) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < p.n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float* x = p.X + i * p.d;
    double acc = 0.0;
    bool finite = true;
    for (int64_t t = 0; t < p.d; ++t) {
      finite = finite && isfinite(x[t]);
      acc = dadd(acc, dmul(x[t], x[t]));
    }
    if (!finite) *bad = 1;
    sq[i] = acc;
    double ai = 0.0, si = 0.0;
    if (p.metric == kHeat) {
      ai = acc;
      si = acc;
    } else if (p.metric == kDot) {
      si = 0.5 * acc;
    } else {
      si = 0.5;
      const double nr = sqrt(acc);
      invNorm[i] = nr > 0 ? 1.0 / nr : 0.0;
      for (int64_t t = 0; t < p.d; ++t)
        F[i * p.d + t] = nr > 0 ? static_cast<float>(static_cast<double>(x[t]) / nr) : 0.0f;
    }
    a[i] = ai;
    s[i] = si;
    colTerm[i] = roundDownF(dsub(ai, dmul(p.C, si)));
  }
}

// Bounded max-heap push under `better` (root = the worst kept entry), slots strided by n — knn.cc's RowHeap.
__device__ void heapPush(double* key, int32_t* idx, int64_t n, int64_t cap, int32_t& size, double k, int32_t id) {
  if (size < cap) {
    int64_t c = size++;
    while (c > 0) {
      const int64_t par = (c - 1) / 2;
      if (!better(key[par * n], idx[par * n], k, id)) break;
      key[c * n] = key[par * n];
      idx[c * n] = idx[par * n];
      c = par;
    }
    key[c * n] = k;
    idx[c * n] = id;
    return;
  }
  if (!better(k, id, key[0], idx[0])) return;
  int64_t c = 0;
  for (;;) {
    const int64_t l = 2 * c + 1;
    if (l >= cap) break;
    int64_t w = l;
    if (l + 1 < cap && better(key[l * n], idx[l * n], key[(l + 1) * n], idx[(l + 1) * n])) w = l + 1;
    if (!better(k, id, key[w * n], idx[w * n])) break;
    key[c * n] = key[w * n];
    idx[c * n] = idx[w * n];
    c = w;
  }
  key[c * n] = k;
  idx[c * n] = id;
}

// Main pass: thread = row i, columns j of this split in 32-row tiles; float dots from 32-column chunks in shared
// memory; filter alpha·dot + colTerm_j ≤ rowT_i, exact key for survivors, heap push, rowT update.
__global__ void __launch_bounds__(kThreads) knnKernel(const KnnParams p) {
  __shared__ float tile[kTileCols][kChunk + 1];
  __shared__ float ct[kTileCols];
  const int split = blockIdx.y;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  const bool valid = i < p.n;
  const int64_t jBegin = static_cast<int64_t>(split) * p.span, jEnd = min(p.n, jBegin + p.span);
  const int64_t base = static_cast<int64_t>(split) * p.k1 * p.n + (valid ? i : 0);
  double* key = p.heapKey + base;
  int32_t* idx = p.heapIdx + base;
  int32_t size = 0;
  float T = INFINITY;
  const double ai = valid ? p.a[i] : 0.0, si = valid ? p.s[i] : 0.0;
  const float* fi = p.F + (valid ? i : 0) * p.d;

  for (int64_t j0 = jBegin; j0 < jEnd; j0 += kTileCols) {
    const int cols = static_cast<int>(min(static_cast<int64_t>(kTileCols), jEnd - j0));
    float dot[kTileCols];
#pragma unroll
    for (int j = 0; j < kTileCols; ++j) dot[j] = 0.0f;
    for (int64_t c0 = 0; c0 < p.d; c0 += kChunk) {
      const int w = static_cast<int>(min(static_cast<int64_t>(kChunk), p.d - c0));
      __syncthreads();
      for (int e = threadIdx.x; e < kTileCols * kChunk; e += kThreads) {
        const int r = e / kChunk, c = e % kChunk;
        tile[r][c] = (r < cols && c < w) ? p.F[(j0 + r) * p.d + c0 + c] : 0.0f;
      }
      if (c0 == 0 && threadIdx.x < kTileCols) ct[threadIdx.x] = threadIdx.x < cols ? p.colTerm[j0 + threadIdx.x] : 0.0f;
      __syncthreads();
      for (int c = 0; c < w; ++c) {
        const float x = fi[c0 + c];
#pragma unroll
        for (int j = 0; j < kTileCols; ++j) dot[j] = fmaf(x, tile[j][c], dot[j]);
      }
    }
    if (!valid) continue;
#pragma unroll
    for (int j = 0; j < kTileCols; ++j) {
      if (j < cols && fmaf(p.alpha, dot[j], ct[j]) <= T) {
        const int64_t col = j0 + j;
        heapPush(key, idx, p.n, p.k1, size, exactKey(p, i, col), static_cast<int32_t>(col));
        if (size == p.k1) T = roundUpF(dadd(dsub(key[0], ai), dmul(p.C, si)));
      }
    }
  }
  if (valid) p.heapSize[static_cast<int64_t>(split) * p.n + i] = size;
}

// Per row: heap-sort every split's candidates into ascending (key, j) order in place, merge the splits, take the
// first k+1 and write them in rank order without self (or the first k when self is not among them).
__global__ void knnFinishKernel(const KnnParams p) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < p.n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int pos[kMaxSplits], len[kMaxSplits];
    for (int s = 0; s < p.splits; ++s) {
      double* key = p.heapKey + static_cast<int64_t>(s) * p.k1 * p.n + i;
      int32_t* idx = p.heapIdx + static_cast<int64_t>(s) * p.k1 * p.n + i;
      const int32_t size = p.heapSize[static_cast<int64_t>(s) * p.n + i];
      // Heap sort: move the root (worst) to the end, sift the rest down.
      for (int32_t end = size - 1; end > 0; --end) {
        const double rk = key[0];
        const int32_t ri = idx[0];
        const double mk = key[end * p.n];
        const int32_t mi = idx[end * p.n];
        key[end * p.n] = rk;
        idx[end * p.n] = ri;
        int64_t c = 0;
        for (;;) {
          const int64_t l = 2 * c + 1;
          if (l >= end) break;
          int64_t w = l;
          if (l + 1 < end && better(key[l * p.n], idx[l * p.n], key[(l + 1) * p.n], idx[(l + 1) * p.n])) w = l + 1;
          if (!better(mk, mi, key[w * p.n], idx[w * p.n])) break;
          key[c * p.n] = key[w * p.n];
          idx[c * p.n] = idx[w * p.n];
          c = w;
        }
        key[c * p.n] = mk;
        idx[c * p.n] = mi;
      }
      pos[s] = 0;
      len[s] = size;
    }
    int32_t* out = p.neighbors + i * (p.k1 - 1);
    int64_t o = 0;
    for (int64_t c = 0; c < p.k1 && o < p.k1 - 1; ++c) {
      int bs = -1;
      double bk = 0.0;
      int32_t bi = 0;
      for (int s = 0; s < p.splits; ++s) {
        if (pos[s] >= len[s]) continue;
        const int64_t at = (static_cast<int64_t>(s) * p.k1 + pos[s]) * p.n + i;
        const double kk = p.heapKey[at];
        const int32_t ii = p.heapIdx[at];
        if (bs < 0 || better(kk, ii, bk, bi)) bs = s, bk = kk, bi = ii;
      }
      if (bs < 0) break;  // (cannot happen: the splits hold ≥ k+1 candidates in all)
      ++pos[bs];
      if (bi != static_cast<int32_t>(i)) out[o++] = bi;
    }
  }
}

}  // namespace

void CudaBackend::knnGraph(const Tensor& x, int64_t k, int metric, bool sdcnOrder, Tensor& neighbors) {
  const char* op = "knnGraph";
  const int64_t n = x.dim(0), d = x.dim(1);
  DGC_CHECK(n >= 2, Arg, "knnGraph: n must be at least 2, got ", n);
  DGC_CHECK(n <= std::numeric_limits<int32_t>::max(), Arg, "knnGraph: n = ", n, " does not fit int32 ids");
  DGC_CHECK(d >= 1, Arg, "knnGraph: d must be at least 1, got ", d);
  DGC_CHECK(k >= 1 && k <= n - 1, Arg, "knnGraph: k must be in [1, n-1] = [1, ", n - 1, "], got ", k);
  DGC_CHECK(metric == kHeat || metric == kCosine || metric == kDot, Arg, "knnGraph: unknown metric ", metric);

  if (sdcnOrder) {  // the CPU routine on a host copy (see the file comment)
    std::vector<float> hx(static_cast<size_t>(n * d));
    std::vector<int32_t> hn(static_cast<size_t>(n * k));
    DGC_CUDA_CHECK(cudaMemcpyAsync(hx.data(), x.f32(), sizeof(float) * n * d, cudaMemcpyDeviceToHost, stream()), op);
    DGC_CUDA_CHECK(cudaStreamSynchronize(stream()), op);
    cpu::knnGraphSdcnOrder(n, d, hx.data(), k, hn.data());
    DGC_CUDA_CHECK(cudaMemcpyAsync(neighbors.i32(), hn.data(), sizeof(int32_t) * n * k, cudaMemcpyHostToDevice,
                                   stream()),
                   op);
    DGC_CUDA_CHECK(cudaStreamSynchronize(stream()), op);  // hn goes away on return
    return;
  }

  KnnParams p;
  p.n = n;
  p.d = d;
  p.k1 = k + 1;
  p.metric = metric;
  p.X = x.f32();
  p.alpha = metric == kHeat ? -2.0f : -1.0f;
  p.C = (2.0 * static_cast<double>(d) + 16.0) * std::ldexp(1.0, -24);
  Tensor sq = scratchF64(n), a = scratchF64(n), s = scratchF64(n), colTerm = scratchF32(n);
  Tensor invNorm, F, bad = scratchI32(1);
  if (metric == kCosine) {
    invNorm = scratchF64(n);
    F = scratchF32(n * d);
  }
  DGC_CUDA_CHECK(cudaMemsetAsync(bad.i32(), 0, sizeof(int), stream()), op);
  knnRowStatsKernel<<<blocksFor(n, 256), 256, 0, stream()>>>(p, f64(sq), f64(a), f64(s),
                                                              metric == kCosine ? f64(invNorm) : nullptr,
                                                              metric == kCosine ? F.f32() : nullptr, colTerm.f32(),
                                                              bad.i32());
  DGC_CUDA_LAUNCH_CHECK(op);
  int isBad = 0;
  DGC_CUDA_CHECK(cudaMemcpyAsync(&isBad, bad.i32(), sizeof(int), cudaMemcpyDeviceToHost, stream()), op);
  DGC_CUDA_CHECK(cudaStreamSynchronize(stream()), op);
  DGC_CHECK(isBad == 0, Value, "knnGraph: X holds NaN or infinity");
  p.F = metric == kCosine ? F.f32() : x.f32();
  p.a = f64(a);
  p.s = f64(s);
  p.invNorm = metric == kCosine ? f64(invNorm) : nullptr;
  p.colTerm = colTerm.f32();

  // Column splits (common.cuh, planSplits: from the shapes alone), ≥ 4 tiles per split, heaps ≤ 256 MiB in all.
  // The merge is exact, so the result is the same for any split count.
  const int64_t rowBlocks = ceilDiv(n, kThreads);
  const int64_t heapBytes = p.k1 * n * 12;
  const int64_t heapBudget = std::max<int64_t>(1, (int64_t{256} << 20) / std::max<int64_t>(1, heapBytes));
  const SplitPlan plan = planSplits(rowBlocks, n, kTileCols, 4, std::min<int64_t>(kMaxSplits, heapBudget));
  p.span = plan.span;
  p.splits = plan.splits;
  Tensor heapKey = scratchF64(p.splits * p.k1 * n), heapIdx = scratchI32(p.splits * p.k1 * n);
  Tensor heapSize = scratchI32(p.splits * n);
  p.heapKey = f64(heapKey);
  p.heapIdx = heapIdx.i32();
  p.heapSize = heapSize.i32();
  p.neighbors = neighbors.i32();
  const dim3 grid(static_cast<unsigned>(rowBlocks), static_cast<unsigned>(p.splits), 1);
  knnKernel<<<grid, kThreads, 0, stream()>>>(p);
  DGC_CUDA_LAUNCH_CHECK(op);
  knnFinishKernel<<<blocksFor(n, 128), 128, 0, stream()>>>(p);
  DGC_CUDA_LAUNCH_CHECK(op);
}

}  // namespace cuda
}  // namespace dgc
