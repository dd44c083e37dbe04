// k-means on the GPU with scikit-learn's KMeans semantics (algorithm="lloyd", init="k-means++", n_init restarts),
// the same as native/cpu/kmeans.h, which describes every step. Summary of what runs where:
//
//   1. Column means and variances of X (double, fixed 256-row chunks), finiteness of X (DGC_VALUE), tolAbs =
//      tol · mean variance (read back: the host drives the convergence tests). Xc = X − mean (float), kept on the GPU.
//   2. Per restart r, k-means++ entirely on the device, with the CPU's random draws: Philox4x32-10 under key `seed`,
//      stream r; draw 0 picks the first centre (uniform row), draw 1 + (c−1)·T + t is candidate t of centre c,
//      T = 2 + ⌊ln k⌋, each a 53-bit uniform u from words 0 and 1 of its block, the candidate = the first i with
//      cum_i ≥ u·Σ closest (np.searchsorted on the running sum). The running sum is a deterministic three-phase
//      scan (fixed blocks, fixed trees), not the CPU's sequential sum, so a draw that lands within rounding of a
//      boundary may pick the neighbouring row: the random CHOICES match the CPU's up to that, the result is exact
//      k-means++ either way. The candidate with the lowest potential Σ_i min(D_i², ‖x_i − cand‖²) wins (first on ties).
//   3. Lloyd steps: assignment label_i = argmin_j (‖c_j‖² − 2 x_i·c_j) in float (ties → lowest j; ‖c_j‖² from a
//      double sum, as the CPU; x·c here is one FMA chain, the CPU uses its sgemm, so near-ties may resolve
//      differently), a "labels changed" flag, and the centre sums in double (per fixed row chunk, each feature
//      column summed in row order by one thread, chunks combined in order), centres = sums/counts, shift =
//      Σ‖c_new − c_old‖² (one block, fixed order). The host reads {changed, #empty, shift} back after every step:
//      strict convergence (labels unchanged) or shift ≤ tolAbs stops the restart. Without strict convergence a final
//      assignment relabels with the final centres. Empty clusters (rare) are relocated on the host exactly as the
//      CPU does (sklearn's rule: the rows farthest from their old centre, in decreasing distance, ties → lowest row).
//   4. inertia = Σ_i ‖x_i − c_label‖² from exact differences in double (the CPU's eight-lane sum), block partials
//      summed in a fixed order. The restart with the lowest inertia is kept unless its partition is a relabelling of
//      the best one (sklearn's _is_same_clustering, evaluated on the device). Centres are shifted back by the mean.
//
// Determinism: every reduction has a fixed shape; atomics are only used for integer flags and for the label map of
// the same-clustering test, whose outcome does not depend on their order. A seeded call repeats bit for bit on the
// same GPU model.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "../native/core/philox.h"
#include "common.cuh"
#include "cuda_backend.h"

namespace dgc {
namespace cuda {
namespace {


constexpr int kThreads = 256;
constexpr int64_t kStatRows = 256;     // rows per chunk of the column statistics
constexpr int kScanItems = 4;          // items per thread in the scan (a block scans 1024 values)
constexpr int kMaxTrials = 64;         // 2 + ⌊ln k⌋ ≤ 46 for any int64 k

// ‖a − b‖² in double from exact differences: element c to lane c mod 8 (the tail to lanes 0, 1, …), lanes combined
// ((s0+s1)+(s2+s3))+((s4+s5)+(s6+s7)) — the CPU's sqDist, unfused.
__device__ __forceinline__ double sqDist8(const float* __restrict__ a, const float* __restrict__ b, int64_t d) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t c = 0;
  for (; c + 8 <= d; c += 8) {
#pragma unroll
    for (int l = 0; l < 8; ++l) {
      const double e = dsub(a[c + l], b[c + l]);
      s[l] = dadd(s[l], dmul(e, e));
    }
  }
  for (int l = 0; c < d; ++c, ++l) {
    const double e = dsub(a[c], b[c]);
#pragma unroll
    for (int q = 0; q < 8; ++q)
      if (q == l) s[q] = dadd(s[q], dmul(e, e));
  }
  return dadd(dadd(dadd(s[0], s[1]), dadd(s[2], s[3])), dadd(dadd(s[4], s[5]), dadd(s[6], s[7])));
}

// 53-bit uniform in (0, 1] from Philox block j of (stream, seed) — the CPU's uniform53.
__host__ __device__ __forceinline__ double uniform53(uint64_t j, uint64_t stream, uint64_t seed) {
  const Philox4 r = philox4x32(j, stream, seed);
  const uint64_t bits = ((static_cast<uint64_t>(r.v[0]) << 32) | r.v[1]) >> 11;
  return (static_cast<double>(bits) + 1.0) * (1.0 / 9007199254740992.0);
}

// ---- statistics and centring ---------------------------------------------------------------------------------------

// partial[chunk][c] = Σ_{i in chunk} x_ic (double, row order); bad = 1 if any x is NaN or ±inf.
__global__ void columnSumKernel(int64_t n, int64_t d, const float* __restrict__ X, double* partial, int* bad) {
  const int64_t chunk = blockIdx.x;
  const int64_t i0 = chunk * kStatRows, i1 = min(n, i0 + kStatRows);
  for (int64_t c = blockIdx.y * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < d;
       c += static_cast<int64_t>(gridDim.y) * blockDim.x) {
    double acc = 0.0;
    bool finite = true;
    for (int64_t i = i0; i < i1; ++i) {
      const float v = X[i * d + c];
      finite = finite && isfinite(v);
      acc += static_cast<double>(v);
    }
    partial[chunk * d + c] = acc;
    if (!finite) *bad = 1;
  }
}

// partial[chunk][c] = Σ_{i in chunk} (x_ic − mean_c)².
__global__ void columnVarKernel(int64_t n, int64_t d, const float* __restrict__ X, const double* __restrict__ mean,
                                double* partial) {
  const int64_t chunk = blockIdx.x;
  const int64_t i0 = chunk * kStatRows, i1 = min(n, i0 + kStatRows);
  for (int64_t c = blockIdx.y * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < d;
       c += static_cast<int64_t>(gridDim.y) * blockDim.x) {
    const double m = mean[c];
    double acc = 0.0;
    for (int64_t i = i0; i < i1; ++i) {
      const double e = static_cast<double>(X[i * d + c]) - m;
      acc += e * e;
    }
    partial[chunk * d + c] = acc;
  }
}

// out[c] = (Σ_chunk partial[chunk][c]) / n, chunks in order.
__global__ void chunkMeanKernel(const double* partial, int64_t chunks, int64_t d, double n, double* out) {
  for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < d;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double acc = 0.0;
    for (int64_t ch = 0; ch < chunks; ++ch) acc += partial[ch * d + c];
    out[c] = acc / n;
  }
}

// Xc_ic = float(x_ic − mean_c).
__global__ void centreKernel(int64_t n, int64_t d, const float* __restrict__ X, const double* __restrict__ mean,
                             float* Xc) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n * d;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    Xc[e] = static_cast<float>(static_cast<double>(X[e]) - mean[e % d]);
}

// out_jc = float(double(c_jc) + mean_c) (centres back in the original coordinates).
__global__ void uncentreKernel(int64_t k, int64_t d, const float* __restrict__ C, const double* __restrict__ mean,
                               float* out) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < k * d;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[e] = static_cast<float>(static_cast<double>(C[e]) + mean[e % d]);
}

// ---- k-means++ ----------------------------------------------------------------------------------------------------

// closest_i = ‖x_i − c_0‖² (exact).
__global__ void firstDistanceKernel(int64_t n, int64_t d, const float* __restrict__ Xc, const float* __restrict__ c0,
                                    double* closest) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    closest[i] = sqDist8(Xc + i * d, c0, d);
}

// Block-local inclusive scan of kScanItems·blockDim values (each thread sums its items in order, threads combined by
// a fixed shuffle / shared-memory pattern). Returns this thread's exclusive prefix within the block and the block's
// total (in every thread).
__device__ void blockScan(double threadTotal, double* shared, double* exclusive, double* blockTotal) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  double v = threadTotal;
#pragma unroll
  for (int s = 1; s < 32; s <<= 1) {
    const double o = __shfl_up_sync(kFullMask, v, s);
    if (lane >= s) v += o;
  }
  double ex = __shfl_up_sync(kFullMask, v, 1);  // the exclusive prefix within the warp, computed directly
  if (lane == 0) ex = 0.0;
  if (lane == 31) shared[warp] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    double run = 0.0;
    for (int w = 0; w < warps; ++w) {
      const double t = shared[w];
      shared[w] = run;
      run += t;
    }
    shared[32] = run;
  }
  __syncthreads();
  *exclusive = shared[warp] + ex;
  *blockTotal = shared[32];
}

// Phase 1: blockSums[b] = Σ of block b's 1024 values.
__global__ void scanBlockSumsKernel(int64_t n, const double* __restrict__ x, double* blockSums) {
  __shared__ double shared[33];
  const int64_t base = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * kScanItems;
  double t = 0.0;
  for (int q = 0; q < kScanItems; ++q)
    if (base + q < n) t += x[base + q];
  double excl, total;
  blockScan(t, shared, &excl, &total);
  if (threadIdx.x == 0) blockSums[blockIdx.x] = total;
}

// Phase 2 (one block): offsets[b] = Σ_{b' < b} blockSums[b'] (each thread a contiguous segment, in order).
__global__ void scanOffsetsKernel(int64_t blocks, const double* __restrict__ blockSums, double* offsets) {
  __shared__ double shared[33];
  const int64_t per = (blocks + blockDim.x - 1) / blockDim.x;
  const int64_t b0 = threadIdx.x * per, b1 = min(blocks, b0 + per);
  double t = 0.0;
  for (int64_t b = b0; b < b1; ++b) t += blockSums[b];
  double excl, total;
  blockScan(t, shared, &excl, &total);
  double run = excl;
  for (int64_t b = b0; b < b1; ++b) {
    offsets[b] = run;
    run += blockSums[b];
  }
}

// Phase 3: cum_i = offset[block] + the block-local inclusive prefix (recomputed in the phase-1 order).
__global__ void scanApplyKernel(int64_t n, const double* __restrict__ x, const double* __restrict__ offsets,
                                double* cum) {
  __shared__ double shared[33];
  const int64_t base = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * kScanItems;
  double t = 0.0;
  for (int q = 0; q < kScanItems; ++q)
    if (base + q < n) t += x[base + q];
  double excl, total;
  blockScan(t, shared, &excl, &total);
  double run = offsets[blockIdx.x] + excl;
  for (int q = 0; q < kScanItems; ++q)
    if (base + q < n) {
      run += x[base + q];
      cum[base + q] = run;
    }
}

// Candidates of centre c: cand_t = min(first i with cum_i ≥ u_t·cum_{n−1}, n − 1), u_t = draw 1 + (c−1)·T + t.
__global__ void drawCandidatesKernel(int64_t n, const double* __restrict__ cum, int64_t c, int trials, uint64_t stream,
                                     uint64_t seed, int64_t* cand) {
  const int t = threadIdx.x;
  if (t >= trials) return;
  const double total = cum[n - 1];
  const double r = uniform53(static_cast<uint64_t>(1 + (c - 1) * trials + t), stream, seed) * total;
  int64_t lo = 0, hi = n;  // lower_bound: first i with cum[i] >= r
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (cum[mid] < r) lo = mid + 1; else hi = mid;
  }
  cand[t] = min(lo, n - 1);
}

// candDist[t][i] = min(closest_i, ‖x_i − x_cand_t‖²); partial[block][t] = Σ over the block's rows (fixed tree).
__global__ void candidatePotentialKernel(int64_t n, int64_t d, const float* __restrict__ Xc,
                                         const double* __restrict__ closest, const int64_t* __restrict__ cand,
                                         int trials, double* candDist, double* partial) {
  __shared__ double red[32];
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int t = 0; t < trials; ++t) {
    double v = 0.0;
    if (i < n) {
      v = fmin(closest[i], sqDist8(Xc + i * d, Xc + cand[t] * d, d));
      candDist[t * n + i] = v;
    }
    const double s = blockSum(v, red);
    if (threadIdx.x == 0) partial[static_cast<int64_t>(blockIdx.x) * trials + t] = s;
  }
}

// One block: pot_t = Σ_b partial[b][t] in order; best = the first t with the lowest potential.
__global__ void selectCandidateKernel(int64_t blocks, int trials, const double* __restrict__ partial, int* best) {
  __shared__ double pot[kMaxTrials];
  const int t = threadIdx.x;
  if (t < trials) {
    double s = 0.0;
    for (int64_t b = 0; b < blocks; ++b) s += partial[b * trials + t];
    pot[t] = s;
  }
  __syncthreads();
  if (t == 0) {
    int b = 0;
    for (int q = 1; q < trials; ++q)
      if (pot[q] < pot[b]) b = q;
    *best = b;
  }
}

// closest = candDist[best] (n entries); centre c = x_cand[best] (d entries). One grid-stride loop over max(n, d):
// a wide matrix (d > n) has more centre columns than rows.
__global__ void applyCandidateKernel(int64_t n, int64_t d, const float* __restrict__ Xc,
                                     const double* __restrict__ candDist, const int64_t* __restrict__ cand,
                                     const int* __restrict__ best, double* closest, float* centre) {
  const int b = *best;
  const int64_t len = n > d ? n : d;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < len;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if (i < n) closest[i] = candDist[b * n + i];
    if (i < d) centre[i] = Xc[cand[b] * d + i];
  }
}

// ---- Lloyd ---------------------------------------------------------------------------------------------------------

// cnorm_j = float(Σ_c c_jc² in double).
__global__ void centreNormKernel(int64_t k, int64_t d, const float* __restrict__ C, float* cnorm) {
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < k;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double s = 0.0;
    for (int64_t c = 0; c < d; ++c) s += static_cast<double>(C[j * d + c]) * C[j * d + c];
    cnorm[j] = static_cast<float>(s);
  }
}

// label_i = argmin_j (cnorm_j + (−2·x_i·c_j)) in float, ties → lowest j (centres streamed through shared memory);
// changed = 1 if some label differs from labelsOld; rowDist_i = ‖x_i − c_label‖² exact (when requested).
__global__ void __launch_bounds__(kThreads) assignKernel(int64_t n, int64_t d, int64_t k, const float* __restrict__ Xc,
                                                         const float* __restrict__ C, const float* __restrict__ cnorm,
                                                         const int32_t* __restrict__ labelsOld, int32_t* labels,
                                                         double* rowDist, int* changed) {
  extern __shared__ float smem[];
  const int64_t perChunk = max(static_cast<int64_t>(1), 8192 / d);  // centres per shared chunk (≤ 32 KiB of floats)
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const bool valid = i < n;
  const float* xi = Xc + (valid ? i : 0) * d;
  float best = INFINITY;
  int64_t bestJ = 0;
  for (int64_t j0 = 0; j0 < k; j0 += perChunk) {
    const int64_t cnt = min(perChunk, k - j0);
    __syncthreads();
    for (int64_t e = threadIdx.x; e < cnt * d; e += blockDim.x) smem[e] = C[j0 * d + e];
    __syncthreads();
    if (!valid) continue;
    for (int64_t j = 0; j < cnt; ++j) {
      const float* cj = smem + j * d;
      float dot = 0.0f;
      for (int64_t c = 0; c < d; ++c) dot = fmaf(xi[c], cj[c], dot);
      const float score = cnorm[j0 + j] + (-2.0f * dot);
      if (score < best || j0 + j == 0) {  // strict: ties keep the lowest index
        best = score;
        bestJ = j0 + j;
      }
    }
  }
  if (!valid) return;
  labels[i] = static_cast<int32_t>(bestJ);
  if (labelsOld && labelsOld[i] != bestJ) *changed = 1;
  if (rowDist) rowDist[i] = sqDist8(xi, C + bestJ * d, d);
}

// rowDist_i = ‖x_i − c_{label_i}‖² (exact) for given labels.
__global__ void rowDistanceKernel(int64_t n, int64_t d, const float* __restrict__ Xc, const float* __restrict__ C,
                                  const int32_t* __restrict__ labels, double* rowDist) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    rowDist[i] = sqDist8(Xc + i * d, C + static_cast<int64_t>(labels[i]) * d, d);
}

// Centre sums of one chunk of rows: each thread owns feature columns c and adds the chunk's rows in order into
// sums[label][c] (shared memory when k·d doubles fit, else the chunk's slice of `partial`); thread 0 counts.
template <bool SHARED>
__global__ void centreSumsKernel(int64_t n, int64_t d, int64_t k, int64_t chunkRows, const float* __restrict__ Xc,
                                 const int32_t* __restrict__ labels, double* partial, int32_t* partialCounts) {
  extern __shared__ double sums[];
  const int64_t chunk = blockIdx.x;
  const int64_t i0 = chunk * chunkRows, i1 = min(n, i0 + chunkRows);
  double* out = partial + chunk * k * d;
  double* acc = SHARED ? sums : out;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) {
    for (int64_t j = 0; j < k; ++j) acc[j * d + c] = 0.0;
    for (int64_t i = i0; i < i1; ++i)
      acc[static_cast<int64_t>(labels[i]) * d + c] += static_cast<double>(Xc[i * d + c]);
    if (SHARED)
      for (int64_t j = 0; j < k; ++j) out[j * d + c] = acc[j * d + c];
  }
  if (threadIdx.x == 0) {
    int32_t* counts = partialCounts + chunk * k;
    for (int64_t j = 0; j < k; ++j) counts[j] = 0;
    for (int64_t i = i0; i < i1; ++i) ++counts[labels[i]];
  }
}

// sums[e] = Σ_chunk partial[chunk][e] (in order); counts[j] likewise.
__global__ void centreSumsFinalKernel(int64_t chunks, int64_t k, int64_t d, const double* __restrict__ partial,
                                      const int32_t* __restrict__ partialCounts, double* sums, int64_t* counts) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < k * d;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double acc = 0.0;
    for (int64_t ch = 0; ch < chunks; ++ch) acc += partial[ch * k * d + e];
    sums[e] = acc;
    if (e % d == 0) {
      const int64_t j = e / d;
      int64_t cnt = 0;
      for (int64_t ch = 0; ch < chunks; ++ch) cnt += partialCounts[ch * k + j];
      counts[j] = cnt;
    }
  }
}

struct StepStatus {
  int changed;  // some label differs from the previous step's
  int empty;    // clusters without rows
  double shift; // Σ‖c_new − c_old‖² (valid when empty == 0)
};

// One block: c_j = float(sums_j / count_j) where count_j > 0 (empty clusters keep their centre: relocated on the
// host), shift = Σ (c_new − c_old)² in a fixed order, empty = #clusters without rows.
__global__ void centreUpdateKernel(int64_t k, int64_t d, const double* __restrict__ sums,
                                   const int64_t* __restrict__ counts, float* C, StepStatus* status) {
  __shared__ double red[32];
  double shift = 0.0, empty = 0.0;
  for (int64_t e = threadIdx.x; e < k * d; e += blockDim.x) {
    const int64_t j = e / d;
    const float old = C[e];
    if (counts[j] > 0) {
      const float nv = static_cast<float>(sums[e] / static_cast<double>(counts[j]));
      const double diff = static_cast<double>(nv) - static_cast<double>(old);
      shift += diff * diff;
      C[e] = nv;
    }
  }
  for (int64_t j = threadIdx.x; j < k; j += blockDim.x) empty += counts[j] == 0 ? 1.0 : 0.0;
  const double s = blockSum(shift, red);
  const double m = blockSum(empty, red);
  if (threadIdx.x == 0) {
    status->shift = s;
    status->empty = static_cast<int>(m);
  }
}

// Σ_i x_i in a fixed order (block partials, then one block).
__global__ void blockPartialKernel(int64_t n, const double* __restrict__ x, double* partial) {
  __shared__ double red[32];
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const double s = blockSum(i < n ? x[i] : 0.0, red);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}
__global__ void finalSumKernel(const double* partial, int64_t count, double* out) {
  __shared__ double red[32];
  const double s = blockSumArray(partial, count, red);
  if (threadIdx.x == 0) *out = s;
}

// sklearn's _is_same_clustering(a, b): a maps onto b through a function of the label. map must start at −1.
__global__ void sameMapKernel(int64_t n, const int32_t* __restrict__ a, const int32_t* __restrict__ b, int* map) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    atomicCAS(map + a[i], -1, b[i]);
}
__global__ void sameCheckKernel(int64_t n, const int32_t* __restrict__ a, const int32_t* __restrict__ b,
                                const int* __restrict__ map, int* different) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    if (map[a[i]] != b[i]) *different = 1;
}

__global__ void fillIntKernel(int* x, int value, int64_t count) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    x[e] = value;
}

// ---- host side -----------------------------------------------------------------------------------------------------

const char* const kOp = "kmeans";

template <typename T>
void download(T* dst, const T* src, int64_t count) {
  if (count <= 0) return;
  DGC_CUDA_CHECK(cudaMemcpyAsync(dst, src, sizeof(T) * count, cudaMemcpyDeviceToHost, stream()), kOp);
  DGC_CUDA_CHECK(cudaStreamSynchronize(stream()), kOp);
}
template <typename T>
void upload(T* dst, const T* src, int64_t count) {
  if (count <= 0) return;
  DGC_CUDA_CHECK(cudaMemcpyAsync(dst, src, sizeof(T) * count, cudaMemcpyHostToDevice, stream()), kOp);
  DGC_CUDA_CHECK(cudaStreamSynchronize(stream()), kOp);  // the host buffer goes away after this call
}
void copyDevice(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  DGC_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()), kOp);
}

struct Workspace {
  int64_t n = 0, d = 0, k = 0;
  const float* Xc = nullptr;
  // k-means++
  Tensor closest, cum, blockSums, offsets, candDist, candPartial, cand, best;
  // Lloyd
  Tensor cnorm, rowDist, sumPartial, countPartial, sums, counts, status, reduce, inertia, flags;
  int64_t chunkRows = 0, chunks = 0;
  bool sharedSums = false;
};

// k-means++ into C (k×d) on the centred data, stream = restart index (see the file comment).
void kmeansPlusPlus(Workspace& w, uint64_t seed, uint64_t restart, float* C) {
  const int64_t n = w.n, d = w.d, k = w.k;
  const int trials = 2 + static_cast<int>(std::floor(std::log(static_cast<double>(k))));
  {  // first centre: a uniform row, exactly the CPU's draw
    const uint64_t bits = static_cast<uint64_t>(std::ldexp(uniform53(0, restart, seed), 53)) - 1;
    int64_t id = static_cast<int64_t>(std::ldexp(static_cast<double>(bits), -53) * static_cast<double>(n));
    id = std::min(std::max<int64_t>(id, 0), n - 1);
    copyDevice(C, w.Xc + id * d, sizeof(float) * d);
  }
  if (k == 1) return;
  double* closest = f64(w.closest);
  firstDistanceKernel<<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(n, d, w.Xc, C, closest);
  DGC_CUDA_LAUNCH_CHECK(kOp);
  const int64_t scanBlocks = ceilDiv(n, static_cast<int64_t>(kThreads) * kScanItems);
  const int64_t potBlocks = ceilDiv(n, kThreads);
  for (int64_t c = 1; c < k; ++c) {
    scanBlockSumsKernel<<<static_cast<unsigned>(scanBlocks), kThreads, 0, stream()>>>(n, closest,
                                                                                       f64(w.blockSums));
    DGC_CUDA_LAUNCH_CHECK(kOp);
    scanOffsetsKernel<<<1, 1024, 0, stream()>>>(scanBlocks, f64(w.blockSums), f64(w.offsets));
    DGC_CUDA_LAUNCH_CHECK(kOp);
    scanApplyKernel<<<static_cast<unsigned>(scanBlocks), kThreads, 0, stream()>>>(n, closest, f64(w.offsets),
                                                                                   f64(w.cum));
    DGC_CUDA_LAUNCH_CHECK(kOp);
    drawCandidatesKernel<<<1, kMaxTrials, 0, stream()>>>(n, f64(w.cum), c, trials, restart, seed,
                                                         reinterpret_cast<int64_t*>(w.cand.raw()));
    DGC_CUDA_LAUNCH_CHECK(kOp);
    candidatePotentialKernel<<<static_cast<unsigned>(potBlocks), kThreads, 0, stream()>>>(
        n, d, w.Xc, closest, reinterpret_cast<const int64_t*>(w.cand.raw()), trials, f64(w.candDist),
        f64(w.candPartial));
    DGC_CUDA_LAUNCH_CHECK(kOp);
    selectCandidateKernel<<<1, kMaxTrials, 0, stream()>>>(potBlocks, trials, f64(w.candPartial),
                                                          w.best.i32());
    DGC_CUDA_LAUNCH_CHECK(kOp);
    applyCandidateKernel<<<blocksFor(std::max(n, d), kThreads), kThreads, 0, stream()>>>(
        n, d, w.Xc, f64(w.candDist), reinterpret_cast<const int64_t*>(w.cand.raw()), w.best.i32(), closest,
        C + c * d);
    DGC_CUDA_LAUNCH_CHECK(kOp);
  }
}

size_t assignSmem(int64_t d, int64_t k) {
  const int64_t perChunk = std::max<int64_t>(1, 8192 / d);
  return sizeof(float) * static_cast<size_t>(std::min(perChunk, k) * d);
}

void assign(Workspace& w, const float* C, const int32_t* labelsOld, int32_t* labels, double* rowDist, int* changed) {
  centreNormKernel<<<blocksFor(w.k, 128), 128, 0, stream()>>>(w.k, w.d, C, w.cnorm.f32());
  DGC_CUDA_LAUNCH_CHECK(kOp);
  const size_t smem = assignSmem(w.d, w.k);
  allowDynamicSmem(assignKernel, smem, kOp);
  assignKernel<<<static_cast<unsigned>(ceilDiv(w.n, kThreads)), kThreads, smem, stream()>>>(
      w.n, w.d, w.k, w.Xc, C, w.cnorm.f32(), labelsOld, labels, rowDist, changed);
  DGC_CUDA_LAUNCH_CHECK(kOp);
}

// Σ rowDist in a fixed order, read back.
double sumRows(Workspace& w, const double* rowDist) {
  const int64_t blocks = ceilDiv(w.n, kThreads);
  blockPartialKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(w.n, rowDist, f64(w.reduce));
  DGC_CUDA_LAUNCH_CHECK(kOp);
  finalSumKernel<<<1, 1024, 0, stream()>>>(f64(w.reduce), blocks, f64(w.inertia));
  DGC_CUDA_LAUNCH_CHECK(kOp);
  double v = 0.0;
  download(&v, f64(w.inertia), 1);
  return v;
}

// Centre update after an assignment (labels from the centres C held before the update). Returns the status.
StepStatus updateCentres(Workspace& w, float* C, const int32_t* labels) {
  const int64_t n = w.n, d = w.d, k = w.k;
  const int threads = static_cast<int>(std::min<int64_t>(256, ((d + 31) / 32) * 32));
  const size_t smem = w.sharedSums ? sizeof(double) * k * d : 0;
  if (w.sharedSums) {
    allowDynamicSmem(centreSumsKernel<true>, smem, kOp);
    centreSumsKernel<true><<<static_cast<unsigned>(w.chunks), threads, smem, stream()>>>(
        n, d, k, w.chunkRows, w.Xc, labels, f64(w.sumPartial), w.countPartial.i32());
    DGC_CUDA_LAUNCH_CHECK(kOp);
  } else {
    centreSumsKernel<false><<<static_cast<unsigned>(w.chunks), threads, 0, stream()>>>(
        n, d, k, w.chunkRows, w.Xc, labels, f64(w.sumPartial), w.countPartial.i32());
    DGC_CUDA_LAUNCH_CHECK(kOp);
  }
  DGC_CUDA_LAUNCH_CHECK(kOp);
  int64_t* counts = reinterpret_cast<int64_t*>(w.counts.raw());
  centreSumsFinalKernel<<<blocksFor(k * d, 128), 128, 0, stream()>>>(w.chunks, k, d, f64(w.sumPartial),
                                                                     w.countPartial.i32(), f64(w.sums), counts);
  DGC_CUDA_LAUNCH_CHECK(kOp);
  // Keep the old centres for the relocation path (it needs them, and the shift).
  Tensor old = scratchF32(k * d);
  copyDevice(old.f32(), C, sizeof(float) * k * d);
  StepStatus* status = reinterpret_cast<StepStatus*>(w.status.raw());
  centreUpdateKernel<<<1, 256, 0, stream()>>>(k, d, f64(w.sums), counts, C, status);
  DGC_CUDA_LAUNCH_CHECK(kOp);
  StepStatus s;
  download(&s, status, 1);
  if (s.empty == 0) return s;

  // Empty clusters: sklearn's relocation, on the host (native/cpu/kmeans.h; rare).
  std::vector<double> sums(k * d), rowDist(n);
  std::vector<int64_t> cnt(k);
  std::vector<int32_t> lab(n);
  std::vector<float> oldC(k * d), newC(k * d);
  rowDistanceKernel<<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(n, d, w.Xc, old.f32(), labels,
                                                                       f64(w.rowDist));
  DGC_CUDA_LAUNCH_CHECK(kOp);
  download(sums.data(), f64(w.sums), k * d);
  download(cnt.data(), counts, k);
  download(lab.data(), labels, n);
  download(oldC.data(), old.f32(), k * d);
  download(rowDist.data(), f64(w.rowDist), n);
  std::vector<int64_t> empty;
  for (int64_t j = 0; j < k; ++j)
    if (cnt[j] == 0) empty.push_back(j);
  const int64_t m = static_cast<int64_t>(empty.size());
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), int64_t{0});
  std::partial_sort(idx.begin(), idx.begin() + m, idx.end(), [&](int64_t a, int64_t b) {
    return rowDist[a] > rowDist[b] || (rowDist[a] == rowDist[b] && a < b);
  });
  std::vector<float> x(d);
  for (int64_t f = 0; f < m; ++f) {
    const int64_t far = idx[f], to = empty[f], from = lab[far];
    download(x.data(), w.Xc + far * d, d);
    for (int64_t c = 0; c < d; ++c) {
      sums[from * d + c] -= x[c];
      sums[to * d + c] = x[c];
    }
    --cnt[from];
    cnt[to] = 1;
  }
  double shift = 0.0;
  for (int64_t j = 0; j < k; ++j)
    for (int64_t c = 0; c < d; ++c) {
      // A donor emptied by the relocation keeps its previous centre (kmeans.h).
      const float v = cnt[j] > 0 ? static_cast<float>(sums[j * d + c] / static_cast<double>(cnt[j])) : oldC[j * d + c];
      newC[j * d + c] = v;
      const double e = static_cast<double>(v) - oldC[j * d + c];
      shift += e * e;
    }
  upload(C, newC.data(), k * d);
  s.shift = shift;
  return s;
}

bool sameClustering(Workspace& w, const int32_t* a, const int32_t* b) {
  int* map = w.flags.i32();
  int* different = map + w.k;
  fillIntKernel<<<blocksFor(w.k + 1, 128), 128, 0, stream()>>>(map, -1, w.k);
  DGC_CUDA_LAUNCH_CHECK(kOp);
  DGC_CUDA_CHECK(cudaMemsetAsync(different, 0, sizeof(int), stream()), kOp);
  sameMapKernel<<<blocksFor(w.n, kThreads), kThreads, 0, stream()>>>(w.n, a, b, map);
  DGC_CUDA_LAUNCH_CHECK(kOp);
  sameCheckKernel<<<blocksFor(w.n, kThreads), kThreads, 0, stream()>>>(w.n, a, b, map, different);
  DGC_CUDA_LAUNCH_CHECK(kOp);
  int diff = 0;
  download(&diff, different, 1);
  return diff == 0;
}

}  // namespace

void CudaBackend::kmeans(const Tensor& x, const KMeansParams& p, Tensor& centers, Tensor& labels, double& inertia,
            int& iterations) {
  const int64_t n = x.dim(0), d = x.dim(1), k = p.k;
  DGC_CHECK(n >= 1 && d >= 1, Arg, "kmeans: X must be n×d with n, d ≥ 1, got ", n, "x", d);
  DGC_CHECK(k >= 1 && k <= n, Arg, "kmeans: k must be in [1, n = ", n, "], got ", k);
  DGC_CHECK(n <= std::numeric_limits<int32_t>::max(), Unimplemented, "kmeans: n = ", n, " exceeds int32 labels");

  // 1. Statistics, finiteness, centring.
  const int64_t statChunks = ceilDiv(n, kStatRows);
  Tensor partial = scratchF64(statChunks * d), mean = scratchF64(d), var = scratchF64(d);
  Tensor bad = scratchI32(1);
  DGC_CUDA_CHECK(cudaMemsetAsync(bad.i32(), 0, sizeof(int), stream()), kOp);
  const dim3 statGrid(static_cast<unsigned>(statChunks),
                      static_cast<unsigned>(std::min<int64_t>(ceilDiv(d, 128), 65535)));
  columnSumKernel<<<statGrid, 128, 0, stream()>>>(n, d, x.f32(), f64(partial), bad.i32());
  DGC_CUDA_LAUNCH_CHECK(kOp);
  chunkMeanKernel<<<blocksFor(d, 128), 128, 0, stream()>>>(f64(partial), statChunks, d, static_cast<double>(n),
                                                           f64(mean));
  DGC_CUDA_LAUNCH_CHECK(kOp);
  columnVarKernel<<<statGrid, 128, 0, stream()>>>(n, d, x.f32(), f64(mean), f64(partial));
  DGC_CUDA_LAUNCH_CHECK(kOp);
  chunkMeanKernel<<<blocksFor(d, 128), 128, 0, stream()>>>(f64(partial), statChunks, d, static_cast<double>(n),
                                                           f64(var));
  DGC_CUDA_LAUNCH_CHECK(kOp);
  int isBad = 0;
  download(&isBad, bad.i32(), 1);
  DGC_CHECK(isBad == 0, Value, "kmeans: X contains NaN or Inf");
  std::vector<double> varHost(d);
  download(varHost.data(), f64(var), d);
  double meanVar = 0.0;
  for (int64_t c = 0; c < d; ++c) meanVar += varHost[c];
  meanVar /= static_cast<double>(d);
  const double tolAbs = meanVar * p.tol;

  Tensor Xc = scratchF32(n * d);
  centreKernel<<<blocksFor(n * d, kThreads), kThreads, 0, stream()>>>(n, d, x.f32(), f64(mean), Xc.f32());
  DGC_CUDA_LAUNCH_CHECK(kOp);

  // 2. Workspace.
  Workspace w;
  w.n = n;
  w.d = d;
  w.k = k;
  w.Xc = Xc.f32();
  const int trials = 2 + static_cast<int>(std::floor(std::log(static_cast<double>(k))));
  const int64_t scanBlocks = ceilDiv(n, static_cast<int64_t>(kThreads) * kScanItems);
  w.closest = scratchF64(n);
  w.cum = scratchF64(n);
  w.blockSums = scratchF64(scanBlocks);
  w.offsets = scratchF64(scanBlocks);
  w.candDist = scratchF64(static_cast<int64_t>(trials) * n);
  w.candPartial = scratchF64(ceilDiv(n, kThreads) * trials);
  w.cand = scratchF64(kMaxTrials);  // int64 slots
  w.best = scratchI32(1);
  w.cnorm = scratchF32(k);
  w.rowDist = scratchF64(n);
  // Row chunks for the centre sums: ≥ 1024 rows, and at most 64 MiB of double partials.
  const int64_t maxChunks = std::max<int64_t>(1, (int64_t{64} << 20) / (8 * k * d));
  w.chunkRows = std::max<int64_t>(1024, ceilDiv(n, maxChunks));
  w.chunks = ceilDiv(n, w.chunkRows);
  w.sharedSums = 8 * k * d <= 48 * 1024;
  w.sumPartial = scratchF64(w.chunks * k * d);
  w.countPartial = scratchI32(w.chunks * k);
  w.sums = scratchF64(k * d);
  w.counts = scratchF64(k);  // int64 slots
  w.status = scratchF64(2);  // StepStatus (16 bytes)
  w.reduce = scratchF64(ceilDiv(n, kThreads));
  w.inertia = scratchF64(1);
  w.flags = scratchI32(k + 1);
  StepStatus* status = reinterpret_cast<StepStatus*>(w.status.raw());

  Tensor C = scratchF32(k * d), bestC = scratchF32(k * d);
  Tensor labA = scratchI32(n), labB = scratchI32(n), bestLabels = scratchI32(n);
  double bestInertia = 0.0;
  int bestIters = 0, bestInit = -1;

  // 3. Restarts.
  for (int r = 0; r < p.nInit; ++r) {
    kmeansPlusPlus(w, p.seed, static_cast<uint64_t>(r), C.f32());
    int32_t* lab = labA.i32();
    int32_t* labOld = labB.i32();
    fillIntKernel<<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(labOld, -1, n);
    DGC_CUDA_LAUNCH_CHECK(kOp);
    bool strict = false;
    int iters = 0;
    for (int it = 0; it < p.maxIter; ++it) {
      DGC_CUDA_CHECK(cudaMemsetAsync(status, 0, sizeof(StepStatus), stream()), kOp);
      assign(w, C.f32(), labOld, lab, nullptr, &status->changed);
      const StepStatus s = updateCentres(w, C.f32(), lab);  // reads the status back (changed, empty, shift)
      iters = it + 1;
      if (!s.changed) {
        strict = true;
        break;
      }
      if (s.shift <= tolAbs) break;
      std::swap(lab, labOld);
    }
    // Final labels and inertia: with strict convergence the labels stand (inertia with the final centres), else
    // the points are relabelled with the final centres.
    double* rowDist = f64(w.rowDist);
    if (strict) {
      rowDistanceKernel<<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(n, d, w.Xc, C.f32(), lab, rowDist);
      DGC_CUDA_LAUNCH_CHECK(kOp);
    } else {
      assign(w, C.f32(), nullptr, lab, rowDist, nullptr);
    }
    const double runInertia = sumRows(w, rowDist);
    if (bestInit < 0 || (runInertia < bestInertia && !sameClustering(w, lab, bestLabels.i32()))) {
      bestInertia = runInertia;
      bestIters = iters;
      bestInit = r;
      copyDevice(bestC.f32(), C.f32(), sizeof(float) * k * d);
      copyDevice(bestLabels.i32(), lab, sizeof(int32_t) * n);
    }
  }

  // 4. Outputs (centres back in the original coordinates).
  uncentreKernel<<<blocksFor(k * d, 128), 128, 0, stream()>>>(k, d, bestC.f32(), f64(mean), centers.f32());
  DGC_CUDA_LAUNCH_CHECK(kOp);
  copyDevice(labels.i32(), bestLabels.i32(), sizeof(int32_t) * n);
  inertia = bestInertia;
  iterations = bestIters;
}

}  // namespace cuda
}  // namespace dgc
