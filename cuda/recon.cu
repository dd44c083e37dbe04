// Graph-reconstruction losses through σ(Z Zᵀ) on the GPU, fused with their gradients, never materializing N×N
// (semantics and formulas: native/cpu/recon.h and the top of native/cpu/recon.cc; DFCN's L_a and CaEGCN's graph
// loss as the official codes compute them).
//
// DECOMPOSITION (as on the CPU). With s_ij = z_i·z_j and σ_ij = σ(s_ij), each loss is a DENSE part that depends on
// σ_ij only (so it is symmetric) plus a SPARSE correction on the stored entries of A (or T), and each gradient is
// dZ = factor·C Z with C = dense(σ) − sparse corrections:
//   DFCN MSE   L·N² = Σ_ij (σ1+σ2)²_ij + Σ_nz [(σ1+σ2 − a)² − (σ1+σ2)²]
//              C1_ij = 2σ1'(σ1+σ2)_ij − σ1'_ij a_ij [at (i,j) and at (j,i)],  factor = 2g/N²   (likewise C2 with σ2')
//   CaEGCN BCE L·N² = Σ_ij −max(ln(1−a_ij), −100) + Σ_nz t_ij [max(ln(1−a), −100) − max(ln a, −100)]
//              C_ij = 2κ_ij a_ij − κ_ij t_ij [at (i,j) and at (j,i)],  κ = a(1−a)/max(a(1−a), 1e−12),  factor = g/N²
//
// KERNELS
//   1. reconDenseKernel<D> (widths ≤ 64, two embeddings ≤ 32, padded to a bucket D): a thread OWNS one row i and
//      sweeps every j in tiles of 64 rows of Z held in shared memory (broadcast float4 reads): s = z_i·z_j (one FMA
//      chain in column order), σ, the dense loss term and, with gradients, acc_i += C_dense_ij·z_j. Per pair: 2·d
//      FMAs for the Gram, 2·d for the product, one exp and one reciprocal. Accumulation: float within a 64-row tile,
//      then double per row (loss and gradient), so a sum over 10^6 rows keeps float-tile rounding only (the double
//      row sums live in registers for narrow widths, in the row's global accumulator otherwise). Rows are split
//      over the j range when n is small (the split count from the shapes alone: common.cuh, planSplits). Writes,
//      per split, one double loss partial per block (fixed block tree) and the row's dense gradient sums (double) —
//      every value by exactly one thread; both are combined in split order.
//      reconDenseGenericKernel: the same for any width (Gram in 32-column chunks from shared memory, the products
//      read-modify-write the row's double accumulator in global memory); correct, not tuned.
//   2. reconEntryKernel: one thread per stored entry (p, q, v): σ recomputed with the same FMA chain and the same
//      sigmoid as the dense pass (so the MSE correction removes exactly the term the dense pass added), the loss
//      correction (double) and the per-entry coefficient σ'·v (MSE, per embedding) or κ·t (BCE). Block partials.
//   3. The transpose of the sparsity pattern (only with gradients): a stable radix sort of the column ids (CUB,
//      deterministic) gives, for every row q, the entries (p, q) in increasing p.
//   4. reconGradKernel: a warp per row i, lanes over columns: dZ_i = factor·(Σ_splits dense_i − Σ_{(i,q)∈nz} c·z_q
//      − Σ_{(p,i)∈nz} c·z_p) in double, in a fixed order, rounded once to float.
//   5. reconLossKernel: one block sums the dense and entry partials in a fixed order and writes float(L).
//   No floating-point atomics anywhere: the loss and the gradients repeat bit for bit.
//
// MEMORY: O(n·d + nnz): per embedding with a gradient a double n×d accumulator per split (splits > 1 only when
//   there are fewer row blocks than planSplits' target), per entry a float coefficient per embedding, an int row
//   id, and the sort buffers.
//
// Numerics vs the CPU: the same formulas evaluated in float with double accumulation; exp is CUDA's expf (≤ 2 ulp)
// and the division a correctly rounded reciprocal, the CPU uses a 0.7-ulp polynomial and a true division, so σ may
// differ in the last bit and a pair with s ≈ ±16.6 may land on the other side of σ == 1.0f (BCE clamp). The
// CPU folds symmetric pairs (3·d flops per pair) and sums C in float per tile before the product; here every
// ordered pair is visited (4·d flops per pair) and C's dense and sparse parts are summed in double. Agreement is
// to float rounding of the sums (tolerances in test/native/cuda_fused_test.cu).
#include <cub/device/device_radix_sort.cuh>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "common.cuh"
#include "cuda_backend.h"

namespace dgc {
namespace cuda {
namespace {


constexpr int kMaxSplits = 16;
constexpr int kDenseThreads = 128;
constexpr int kTileRows = 64;

struct ReconParams {
  int64_t n = 0;
  int d1 = 0, d2 = 0;
  const float *z1 = nullptr, *z2 = nullptr;
  bool grad1 = false, grad2 = false;
  const int32_t* indptr = nullptr;
  const int32_t* indices = nullptr;
  const float* values = nullptr;
  int64_t nnz = 0;
  double* lossPart = nullptr;  // dense pass: [split][block]
  double *dense1 = nullptr, *dense2 = nullptr;  // [split][n][d]
  int64_t span = 0;  // rows j per split
};

// σ(s) = 1/(1 + e^−s) in float with a correctly rounded reciprocal (the same bits as a true division).
__device__ __forceinline__ float sigmoidF(float s) { return __frcp_rn(1.0f + expf(-s)); }

// max(ln x, −100) for x = 1 − a ∈ [0, 1]: ln 0 = −inf → −100.
__device__ __forceinline__ float logClampedF(float x) { return fmaxf(logf(x), -100.0f); }
__device__ __forceinline__ double logClampedD(float x) {
  return x == 0.0f ? -100.0 : fmax(log(static_cast<double>(x)), -100.0);
}

// BCE's κ = a(1−a)/max(a(1−a), 1e−12) as the CPU evaluates it.
__device__ __forceinline__ float bceKappa(float a, float oneMinusA) {
  const float pa = oneMinusA * a;
  return pa >= 1e-12f ? 1.0f : pa * 1e12f;
}

// Dense pass for one owned row i over the rows j of this split (see the file comment):
//   MSE: loss_i += (σ1+σ2)²_ij;  C1_ij = σ1(1−σ1)·2(σ1+σ2);  acc1_i += C1_ij z1_j  (likewise 2)
//   BCE: loss_i += max(ln(1−a_ij), −100) (negated at the end);  C_ij = 2κ_ij a_ij;  acc_i += C_ij z_j
// Where the per-row double gradient sums live: in registers (2·D registers per embedding) while that fits next to
// the row and its float tile accumulator, else in the row's slot of the (zeroed) global accumulator, updated once
// per 64-row tile (16 flops per byte moved: still compute-bound).
template <int D, bool TWO>
__host__ __device__ constexpr bool denseSumsInGlobal() { return TWO ? D > 20 : D > 32; }
// Two embeddings wider than 32 columns go to the generic kernel (2·D registers per embedding would spill).
template <int D, bool TWO>
__host__ __device__ constexpr bool denseFastPath() { return !TWO || D <= 32; }

template <int D, bool TWO, bool BCE, bool GRAD>
__global__ void __launch_bounds__(kDenseThreads) reconDenseKernel(const ReconParams p) {
  constexpr bool kGlobalSums = denseSumsInGlobal<D, TWO>();
  constexpr int BN = kTileRows;
  __shared__ float4 tile1v[BN * D / 4];
  __shared__ float4 tile2v[TWO ? BN * D / 4 : 1];
  __shared__ double red[32];
  float* tile1 = reinterpret_cast<float*>(tile1v);
  float* tile2 = reinterpret_cast<float*>(tile2v);
  const int split = blockIdx.y;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kDenseThreads + threadIdx.x;
  const int64_t jBegin = static_cast<int64_t>(split) * p.span;
  const int64_t jEnd = min(p.n, jBegin + p.span);
  const bool valid = row < p.n;

  float z1[D], z2[D], acc1[D], acc2[D];
  double sum1[kGlobalSums ? 1 : D], sum2[kGlobalSums ? 1 : D];
#pragma unroll
  for (int c = 0; c < D; ++c) {
    z1[c] = (valid && c < p.d1) ? p.z1[row * p.d1 + c] : 0.0f;
    z2[c] = (TWO && valid && c < p.d2) ? p.z2[row * p.d2 + c] : 0.0f;
    acc1[c] = acc2[c] = 0.0f;
    if constexpr (!kGlobalSums) sum1[c] = sum2[c] = 0.0;
  }
  const bool g1 = GRAD && p.grad1, g2 = GRAD && TWO && p.grad2;
  double* dst1 = g1 ? p.dense1 + (static_cast<int64_t>(split) * p.n + row) * p.d1 : nullptr;
  double* dst2 = g2 ? p.dense2 + (static_cast<int64_t>(split) * p.n + row) * p.d2 : nullptr;
  double loss = 0.0;

  for (int64_t j0 = jBegin; j0 < jEnd; j0 += BN) {
    __syncthreads();
    loadTile<D, BN, kDenseThreads>(tile1, p.z1, p.d1, j0, jEnd, p.d1);
    if (TWO) loadTile<D, BN, kDenseThreads>(tile2, p.z2, p.d2, j0, jEnd, p.d2);
    __syncthreads();
    const int keys = static_cast<int>(min(static_cast<int64_t>(BN), jEnd - j0));
    float tileLoss = 0.0f;
    for (int j = 0; j < keys; ++j) {
      const float sig1 = sigmoidF(dotShared<D>(z1, tile1 + j * D));
      if (!BCE) {
        float sig2 = 0.0f, sum = sig1;
        if (TWO) {
          sig2 = sigmoidF(dotShared<D>(z2, tile2 + j * D));
          sum = sig1 + sig2;
        }
        tileLoss += __fmul_rn(sum, sum);  // the rounded square, as the entry correction subtracts it
        if (GRAD) {
          const float twoSum = sum + sum;
          if (g1) axpyRowShared<D>(sig1 * (1.0f - sig1) * twoSum, tile1 + j * D, acc1);
          if (g2) axpyRowShared<D>(sig2 * (1.0f - sig2) * twoSum, tile2 + j * D, acc2);
        }
      } else {
        const float oneMinusA = 1.0f - sig1;
        tileLoss += logClampedF(oneMinusA);
        if (GRAD && g1) axpyRowShared<D>(bceKappa(sig1, oneMinusA) * (sig1 + sig1), tile1 + j * D, acc1);
      }
    }
    loss += static_cast<double>(tileLoss);
    if constexpr (GRAD) {
      if constexpr (kGlobalSums) {
        if (valid) {
#pragma unroll
          for (int c = 0; c < D; ++c) {
            if (g1 && c < p.d1) dst1[c] += static_cast<double>(acc1[c]);
            if (g2 && c < p.d2) dst2[c] += static_cast<double>(acc2[c]);
          }
        }
      } else {
#pragma unroll
        for (int c = 0; c < D; ++c) {
          sum1[c] += static_cast<double>(acc1[c]);
          sum2[c] += static_cast<double>(acc2[c]);
        }
      }
#pragma unroll
      for (int c = 0; c < D; ++c) acc1[c] = acc2[c] = 0.0f;
    }
  }

  const double blockLoss = blockSum(valid ? loss : 0.0, red);
  if (threadIdx.x == 0) p.lossPart[static_cast<int64_t>(split) * gridDim.x + blockIdx.x] = BCE ? -blockLoss : blockLoss;
  if constexpr (!kGlobalSums) {
    if (!valid) return;
#pragma unroll
    for (int c = 0; c < D; ++c) {
      if (g1 && c < p.d1) dst1[c] = sum1[c];
      if (g2 && c < p.d2) dst2[c] = sum2[c];
    }
  }
}

// ---- generic dense pass (any width) -----------------------------------------------------------------------------
constexpr int kGenThreads = 64, kGenKeys = 32, kGenCols = 32;

// s[j] += Σ_c z_i[c]·z_j[c] over all columns, in column order (32-column chunks of a 32-row tile in shared memory).
__device__ __forceinline__ void genericGram(const float* __restrict__ z, int d, int64_t row, bool valid, int64_t j0,
                                            int keys, float (*tile)[kGenCols + 1], float (&s)[kGenKeys]) {
#pragma unroll
  for (int j = 0; j < kGenKeys; ++j) s[j] = 0.0f;
  for (int c0 = 0; c0 < d; c0 += kGenCols) {
    const int cols = min(kGenCols, d - c0);
    __syncthreads();
    for (int e = threadIdx.x; e < kGenKeys * kGenCols; e += kGenThreads) {
      const int r = e / kGenCols, c = e % kGenCols;
      tile[r][c] = (r < keys && c < cols) ? z[(j0 + r) * d + c0 + c] : 0.0f;
    }
    __syncthreads();
    for (int c = 0; c < cols; ++c) {
      const float zi = valid ? z[row * d + c0 + c] : 0.0f;
#pragma unroll
      for (int j = 0; j < kGenKeys; ++j) s[j] = fmaf(zi, tile[j][c], s[j]);
    }
  }
}

// dense[row·d + c] += Σ_j w[j]·z_j[c] (the row's double accumulator, owned by this thread).
__device__ __forceinline__ void genericProduct(const float* __restrict__ z, int d, int64_t row, bool valid,
                                               int64_t j0, int keys, float (*tile)[kGenCols + 1],
                                               const float (&w)[kGenKeys], double* dense) {
  for (int c0 = 0; c0 < d; c0 += kGenCols) {
    const int cols = min(kGenCols, d - c0);
    __syncthreads();
    for (int e = threadIdx.x; e < kGenKeys * kGenCols; e += kGenThreads) {
      const int r = e / kGenCols, c = e % kGenCols;
      tile[r][c] = (r < keys && c < cols) ? z[(j0 + r) * d + c0 + c] : 0.0f;
    }
    __syncthreads();
    if (!valid) continue;
    for (int c = 0; c < cols; ++c) {
      float acc = 0.0f;
#pragma unroll
      for (int j = 0; j < kGenKeys; ++j) acc = fmaf(w[j], tile[j][c], acc);  // w[j] = 0 for j ≥ keys
      dense[row * d + c0 + c] += static_cast<double>(acc);
    }
  }
}

// Same formulas as reconDenseKernel, any width, no splits; p.dense1/2 must be zeroed.
template <bool TWO, bool BCE, bool GRAD>
__global__ void __launch_bounds__(kGenThreads) reconDenseGenericKernel(const ReconParams p) {
  __shared__ float tile[kGenKeys][kGenCols + 1];
  __shared__ double red[32];
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kGenThreads + threadIdx.x;
  const bool valid = row < p.n;
  const bool g1 = GRAD && p.grad1, g2 = GRAD && TWO && p.grad2;
  double loss = 0.0;
  for (int64_t j0 = 0; j0 < p.n; j0 += kGenKeys) {
    const int keys = static_cast<int>(min(static_cast<int64_t>(kGenKeys), p.n - j0));
    float s1[kGenKeys], s2[kGenKeys];
    genericGram(p.z1, p.d1, row, valid, j0, keys, tile, s1);
    if (TWO) genericGram(p.z2, p.d2, row, valid, j0, keys, tile, s2);
    float tileLoss = 0.0f;
#pragma unroll
    for (int j = 0; j < kGenKeys; ++j) {
      float c1 = 0.0f, c2 = 0.0f;
      if (j < keys) {
        const float sig1 = sigmoidF(s1[j]);
        if (!BCE) {
          float sig2 = 0.0f, sum = sig1;
          if (TWO) {
            sig2 = sigmoidF(s2[j]);
            sum = sig1 + sig2;
          }
          tileLoss += __fmul_rn(sum, sum);
          const float twoSum = sum + sum;
          c1 = sig1 * (1.0f - sig1) * twoSum;
          c2 = sig2 * (1.0f - sig2) * twoSum;
        } else {
          const float oneMinusA = 1.0f - sig1;
          tileLoss += logClampedF(oneMinusA);
          c1 = bceKappa(sig1, oneMinusA) * (sig1 + sig1);
        }
      }
      s1[j] = c1;
      if (TWO) s2[j] = c2;
    }
    loss += static_cast<double>(tileLoss);
    if (g1) genericProduct(p.z1, p.d1, row, valid, j0, keys, tile, s1, p.dense1);
    if (g2) genericProduct(p.z2, p.d2, row, valid, j0, keys, tile, s2, p.dense2);
  }
  const double blockLoss = blockSum(valid ? loss : 0.0, red);
  if (threadIdx.x == 0) p.lossPart[blockIdx.x] = BCE ? -blockLoss : blockLoss;
}

// ---- sparse corrections ------------------------------------------------------------------------------------------

// Σ_c a[c]·b[c] in column order from 0: the same FMA chain as the dense passes (padding columns add exact zeros).
__device__ __forceinline__ float dotRows(const float* __restrict__ a, const float* __restrict__ b, int d) {
  float s = 0.0f;
  for (int c = 0; c < d; ++c) s = fmaf(a[c], b[c], s);
  return s;
}

// One thread per stored entry e = (p, q, v) (p found by binary search in indptr):
//   MSE: loss += (σ1+σ2 − v)² − fl((σ1+σ2)²)  [double];  coef_m[e] = σm(1−σm)·v
//   BCE: loss += v·(max(ln(1−a), −100) − max(ln a, −100))  [double];  coef[e] = κ·v
// and rowOf[e] = p. One double loss partial per block (fixed tree).
template <bool TWO, bool BCE>
__global__ void reconEntryKernel(const ReconParams p, float* coef1, float* coef2, int32_t* rowOf, double* lossPart) {
  __shared__ double red[32];
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  double corr = 0.0;
  if (e < p.nnz) {
    int64_t lo = 0, hi = p.n;  // last row r with indptr[r] ≤ e
    while (hi - lo > 1) {
      const int64_t mid = (lo + hi) / 2;
      if (p.indptr[mid] <= e) lo = mid; else hi = mid;
    }
    const int64_t r = lo;
    const int64_t q = p.indices[e];
    const float v = p.values[e];
    const float sig1 = sigmoidF(dotRows(p.z1 + r * p.d1, p.z1 + q * p.d1, p.d1));
    if (!BCE) {
      float sig2 = 0.0f, sum = sig1;
      if (TWO) {
        sig2 = sigmoidF(dotRows(p.z2 + r * p.d2, p.z2 + q * p.d2, p.d2));
        sum = sig1 + sig2;
      }
      const double exact = static_cast<double>(sum) - static_cast<double>(v);
      corr = exact * exact - static_cast<double>(__fmul_rn(sum, sum));
      if (coef1) coef1[e] = sig1 * (1.0f - sig1) * v;
      if (TWO && coef2) coef2[e] = sig2 * (1.0f - sig2) * v;
    } else {
      const float oneMinusA = 1.0f - sig1;
      corr = static_cast<double>(v) * (logClampedD(oneMinusA) - logClampedD(sig1));
      if (coef1) coef1[e] = bceKappa(sig1, oneMinusA) * v;
    }
    if (rowOf) rowOf[e] = static_cast<int32_t>(r);
  }
  const double total = blockSum(corr, red);
  if (threadIdx.x == 0) lossPart[blockIdx.x] = total;
}

// loss[0] = float((Σ dense partials + Σ entry partials) / n²), both summed in a fixed order by one block.
__global__ void reconLossKernel(const double* densePart, int64_t denseCount, const double* entryPart,
                                int64_t entryCount, double nn, float* loss) {
  __shared__ double red[32];
  const double a = blockSumArray(densePart, denseCount, red);
  const double b = blockSumArray(entryPart, entryCount, red);
  if (threadIdx.x == 0) loss[0] = static_cast<float>((a + b) / nn);
}

__global__ void iotaKernel(int32_t* x, int64_t count) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    x[e] = static_cast<int32_t>(e);
}

// colptr[q] = first position of column q in the sorted column ids (colptr[n] = nnz).
__global__ void columnPointersKernel(const int32_t* sortedCols, int64_t nnz, int64_t n, int32_t* colptr) {
  for (int64_t pos = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; pos <= nnz;
       pos += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t prev = pos == 0 ? -1 : sortedCols[pos - 1];
    const int64_t cur = pos == nnz ? n : sortedCols[pos];
    for (int64_t q = prev + 1; q <= cur && q <= n; ++q) colptr[q] = static_cast<int32_t>(pos);
  }
}

// A warp per row i, lanes over the columns c:
//   dZ_ic = factor·( Σ_s dense[s][i][c] − Σ_{e=(i,q)} coef_e z_qc − Σ_{e=(p,i), p increasing} coef_e z_pc )
// all in double, in this fixed order.
__global__ void reconGradKernel(int64_t n, int d, const float* __restrict__ z, const double* __restrict__ dense,
                                int splits, const int32_t* __restrict__ indptr, const int32_t* __restrict__ indices,
                                const float* __restrict__ coef, const int32_t* __restrict__ colptr,
                                const int32_t* __restrict__ perm, const int32_t* __restrict__ rowOf, double factor,
                                float* dz) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x >> 5) + (threadIdx.x >> 5); i < n; i += warps) {
    for (int c = lane; c < d; c += 32) {
      double acc = 0.0;
      for (int s = 0; s < splits; ++s) acc += dense[(static_cast<int64_t>(s) * n + i) * d + c];
      double corr = 0.0;
      if (coef) {
        for (int64_t e = indptr[i]; e < indptr[i + 1]; ++e)
          corr += static_cast<double>(coef[e]) * static_cast<double>(z[static_cast<int64_t>(indices[e]) * d + c]);
        for (int64_t pos = colptr[i]; pos < colptr[i + 1]; ++pos) {
          const int64_t e = perm[pos];
          corr += static_cast<double>(coef[e]) * static_cast<double>(z[static_cast<int64_t>(rowOf[e]) * d + c]);
        }
      }
      dz[i * d + c] = static_cast<float>(factor * (acc - corr));
    }
  }
}

// ---- host side ----------------------------------------------------------------------------------------------------

template <int D, bool TWO, bool BCE, bool GRAD>
void launchDense(const ReconParams& p, int rowBlocks, int splits, const char* op) {
  if constexpr (denseFastPath<D, TWO>()) {
    if (GRAD && denseSumsInGlobal<D, TWO>()) {  // the kernel adds into the accumulators: start from 0
      if (p.grad1)
        DGC_CUDA_CHECK(cudaMemsetAsync(p.dense1, 0, sizeof(double) * splits * p.n * p.d1, stream()), op);
      if (p.grad2)
        DGC_CUDA_CHECK(cudaMemsetAsync(p.dense2, 0, sizeof(double) * splits * p.n * p.d2, stream()), op);
    }
    const dim3 grid(static_cast<unsigned>(rowBlocks), static_cast<unsigned>(splits), 1);
    reconDenseKernel<D, TWO, BCE, GRAD><<<grid, kDenseThreads, 0, stream()>>>(p);
    DGC_CUDA_LAUNCH_CHECK(op);
  }
}

template <bool TWO, bool BCE, bool GRAD>
void launchDenseGeneric(const ReconParams& p, const char* op) {
  reconDenseGenericKernel<TWO, BCE, GRAD>
      <<<static_cast<unsigned>(ceilDiv(p.n, kGenThreads)), kGenThreads, 0, stream()>>>(p);
  DGC_CUDA_LAUNCH_CHECK(op);
}

// Runs the whole loss (and gradients when dz1 / dz2 are given). z2 only for MSE.
void reconLoss(bool bce, const Tensor& z1, const Tensor* z2, const CsrMatrix& a, float g, Tensor& loss, Tensor* dz1,
               Tensor* dz2, const char* op) {
  const int64_t n = z1.dim(0);
  DGC_CHECK(n <= std::numeric_limits<int32_t>::max(), Unimplemented, op, ": n = ", n,
            " rows exceed the int32 row ids of the CUDA kernels");
  ReconParams p;
  p.n = n;
  p.d1 = static_cast<int>(z1.dim(1));
  p.z1 = z1.f32();
  const bool two = z2 != nullptr;
  if (two) {
    p.d2 = static_cast<int>(z2->dim(1));
    p.z2 = z2->f32();
  }
  p.grad1 = dz1 != nullptr;
  p.grad2 = two && dz2 != nullptr;
  const bool grad = p.grad1 || p.grad2;
  p.indptr = a.indptr.i32();
  p.indices = a.indices.i32();
  p.values = a.values.f32();
  p.nnz = a.nnz;
  if (n == 0) {  // (ops.cc refuses n = 0: the mean over 0 pairs is undefined) the CPU kernel returns 0
    DGC_CUDA_CHECK(cudaMemsetAsync(loss.f32(), 0, sizeof(float), stream()), op);
    return;
  }

  // 1. Dense pass.
  const int width = std::max(p.d1, p.d2);
  int splits = 1;
  int64_t lossParts = 0;
  Tensor lossPart, dense1, dense2;
  auto allocDense = [&](int s) {
    if (p.grad1) {
      dense1 = scratchF64(static_cast<int64_t>(s) * n * p.d1);
      p.dense1 = f64(dense1);
    }
    if (p.grad2) {
      dense2 = scratchF64(static_cast<int64_t>(s) * n * p.d2);
      p.dense2 = f64(dense2);
    }
  };
  const bool fast = (!two || width <= 32) && withWidthBucket(width, [&](auto bucket) {
    constexpr int D = decltype(bucket)::value;
    const int64_t rowBlocks = ceilDiv(n, kDenseThreads);
    // Split count from the shapes alone (common.cuh, planSplits): ≥ 2 tiles per range. The loss partials and the
    // dense gradient sums are then combined in split order, so the result does not depend on the GPU.
    const SplitPlan plan = planSplits(rowBlocks, n, kTileRows, 2, kMaxSplits);
    p.span = plan.span;
    splits = plan.splits;
    lossParts = rowBlocks * splits;
    lossPart = scratchF64(lossParts);
    p.lossPart = f64(lossPart);
    allocDense(splits);
    const int rb = static_cast<int>(rowBlocks);
    if (bce) {
      if (grad) launchDense<D, false, true, true>(p, rb, splits, op);
      else launchDense<D, false, true, false>(p, rb, splits, op);
    } else if (two) {
      if (grad) launchDense<D, true, false, true>(p, rb, splits, op);
      else launchDense<D, true, false, false>(p, rb, splits, op);
    } else {
      if (grad) launchDense<D, false, false, true>(p, rb, splits, op);
      else launchDense<D, false, false, false>(p, rb, splits, op);
    }
  });
  if (!fast) {
    lossParts = ceilDiv(n, kGenThreads);
    lossPart = scratchF64(lossParts);
    p.lossPart = f64(lossPart);
    allocDense(1);
    if (p.grad1) DGC_CUDA_CHECK(cudaMemsetAsync(p.dense1, 0, sizeof(double) * n * p.d1, stream()), op);
    if (p.grad2) DGC_CUDA_CHECK(cudaMemsetAsync(p.dense2, 0, sizeof(double) * n * p.d2, stream()), op);
    if (bce) {
      if (grad) launchDenseGeneric<false, true, true>(p, op);
      else launchDenseGeneric<false, true, false>(p, op);
    } else if (two) {
      if (grad) launchDenseGeneric<true, false, true>(p, op);
      else launchDenseGeneric<true, false, false>(p, op);
    } else {
      if (grad) launchDenseGeneric<false, false, true>(p, op);
      else launchDenseGeneric<false, false, false>(p, op);
    }
  }

  // 2. Sparse corrections.
  const int64_t nnz = p.nnz;
  const int entryThreads = 256;
  const int64_t entryBlocks = std::max<int64_t>(1, ceilDiv(nnz, entryThreads));
  Tensor entryPart = scratchF64(entryBlocks);
  Tensor coef1, coef2, rowOf;
  if (p.grad1) coef1 = scratchF32(nnz);
  if (p.grad2) coef2 = scratchF32(nnz);
  if (grad) rowOf = scratchI32(nnz);
  {
    float* c1 = p.grad1 ? coef1.f32() : nullptr;
    float* c2 = p.grad2 ? coef2.f32() : nullptr;
    int32_t* ro = grad ? rowOf.i32() : nullptr;
    const unsigned blocks = static_cast<unsigned>(entryBlocks);
    double* part = f64(entryPart);
    if (bce) reconEntryKernel<false, true><<<blocks, entryThreads, 0, stream()>>>(p, c1, c2, ro, part);
    else if (two) reconEntryKernel<true, false><<<blocks, entryThreads, 0, stream()>>>(p, c1, c2, ro, part);
    else reconEntryKernel<false, false><<<blocks, entryThreads, 0, stream()>>>(p, c1, c2, ro, part);
    DGC_CUDA_LAUNCH_CHECK(op);
  }

  // 3. The loss.
  const double nn = static_cast<double>(n) * static_cast<double>(n);
  reconLossKernel<<<1, 256, 0, stream()>>>(p.lossPart, lossParts, f64(entryPart), entryBlocks, nn, loss.f32());
  DGC_CUDA_LAUNCH_CHECK(op);
  if (!grad) return;

  // 4. The transposed pattern (entries of each column in increasing row), then the gradients.
  Tensor colptr = scratchI32(n + 1);
  Tensor sortedCols, perm, iota;
  if (nnz > 0) {
    DGC_CHECK(nnz <= std::numeric_limits<int32_t>::max(), Unimplemented, op, ": nnz = ", nnz,
              " exceeds the int32 entry ids of the CUDA kernels");
    sortedCols = scratchI32(nnz);
    perm = scratchI32(nnz);
    iota = scratchI32(nnz);
    iotaKernel<<<blocksFor(nnz, 256), 256, 0, stream()>>>(iota.i32(), nnz);
    DGC_CUDA_LAUNCH_CHECK(op);
    int bits = 1;
    while (bits < 31 && (int64_t{1} << bits) <= n) ++bits;
    size_t tempBytes = 0;
    DGC_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, tempBytes, p.indices, sortedCols.i32(), iota.i32(),
                                                   perm.i32(), static_cast<int>(nnz), 0, bits, stream()),
                   op);
    Tensor temp = scratchF32(static_cast<int64_t>((tempBytes + 3) / 4));
    DGC_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.raw(), tempBytes, p.indices, sortedCols.i32(), iota.i32(),
                                                   perm.i32(), static_cast<int>(nnz), 0, bits, stream()),
                   op);
    columnPointersKernel<<<blocksFor(nnz + 1, 256), 256, 0, stream()>>>(sortedCols.i32(), nnz, n, colptr.i32());
    DGC_CUDA_LAUNCH_CHECK(op);
  } else {
    DGC_CUDA_CHECK(cudaMemsetAsync(colptr.i32(), 0, sizeof(int32_t) * (n + 1), stream()), op);
  }
  const double factor = (bce ? 1.0 : 2.0) * static_cast<double>(g) / nn;
  const int gradThreads = 256;
  const unsigned gradBlocks = blocksFor(n, gradThreads / 32);
  const int32_t* permPtr = nnz > 0 ? perm.i32() : nullptr;
  const int32_t* rowPtr = nnz > 0 ? rowOf.i32() : nullptr;
  if (p.grad1) {
    reconGradKernel<<<gradBlocks, gradThreads, 0, stream()>>>(n, p.d1, p.z1, p.dense1, splits, p.indptr, p.indices,
                                                              nnz > 0 ? coef1.f32() : nullptr, colptr.i32(), permPtr,
                                                              rowPtr, factor, dz1->f32());
    DGC_CUDA_LAUNCH_CHECK(op);
  }
  if (p.grad2) {
    reconGradKernel<<<gradBlocks, gradThreads, 0, stream()>>>(n, p.d2, p.z2, p.dense2, splits, p.indptr, p.indices,
                                                              nnz > 0 ? coef2.f32() : nullptr, colptr.i32(), permPtr,
                                                              rowPtr, factor, dz2->f32());
    DGC_CUDA_LAUNCH_CHECK(op);
  }
}

}  // namespace

void CudaBackend::gramSigmoidMseLoss(const Tensor& z1, const Tensor* z2, const CsrMatrix& a, float g, Tensor& loss, Tensor* dz1,
                        Tensor* dz2) {
  reconLoss(false, z1, z2, a, g, loss, dz1, dz2, "gramSigmoidMseLoss");
}

void CudaBackend::gramSigmoidBceLoss(const Tensor& z, const CsrMatrix& t, float g, Tensor& loss, Tensor* dz) {
  reconLoss(true, z, nullptr, t, g, loss, dz, nullptr, "gramSigmoidBceLoss");
}

}  // namespace cuda
}  // namespace dgc
