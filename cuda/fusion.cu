// Attention-weighted fusion (AGCN, Peng et al. ACM MM 2021, eq. 2–3 and 6–7) on the GPU: the contract is
// native/core/backend.h, the formulas and the CPU reference native/cpu/fusion.h.
//
// Forward and the first backward pass: one thread block per row (grid-stride over rows). Each thread accumulates
// its strided share of the m dot products of the row (t = a Wᵀ in the forward, G_u_k = G_k · x_k in the backward);
// the m partials are reduced over the block by a fixed shuffle tree and a fixed-order combine of the warps; thread 0
// turns them into u (forward) or G_t (backward) in double, and every thread then writes its share of the row.
// dW and db: a grid of column tiles × row segments, thread per column, rows summed in order within a segment (float),
// the segments combined in order in double by a second kernel. The number of segments depends on n alone, so the
// results repeat bit for bit; no atomics.
#include <cmath>
#include <cstdint>
#include <vector>

#include "common.cuh"
#include "cuda_backend.h"

namespace dgc {
namespace cuda {
namespace {

constexpr int kMaxBlocks = 8;  // as native/cpu/fusion.h kMaxFusionBlocks
constexpr int kRowThreads = 128;
constexpr int kWarps = kRowThreads / 32;
constexpr int kColThreads = 128;
constexpr int64_t kRowsPerSegment = 256;
constexpr int64_t kMaxSegments = 64;

struct Blocks {
  const float* x[kMaxBlocks];
  int64_t d[kMaxBlocks];
  int64_t off[kMaxBlocks];
  int m;
  int64_t n;
  int64_t total;
};

// The gradient outputs of the blocks (null: not wanted).
struct BlockGrads {
  float* x[kMaxBlocks];
};

Blocks blocksOf(const std::vector<Tensor>& xs) {
  Blocks f{};
  f.m = static_cast<int>(xs.size());
  f.n = xs[0].dim(0);
  for (int k = 0; k < f.m; ++k) {
    f.x[k] = xs[static_cast<size_t>(k)].f32();
    f.d[k] = xs[static_cast<size_t>(k)].dim(1);
    f.off[k] = f.total;
    f.total += f.d[k];
  }
  return f;
}

// Sums acc[0..m) over the block; thread 0 receives the totals in acc. red: kWarps × kMaxBlocks floats of shared
// memory. Ends with a barrier.
__device__ __forceinline__ void blockSums(float (&acc)[kMaxBlocks], int m, float (*red)[kMaxBlocks]) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
  for (int j = 0; j < kMaxBlocks; ++j) {
    if (j >= m) break;
    float v = acc[j];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    if (lane == 0) red[warp][j] = v;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int j = 0; j < m; ++j) {
      float s = red[0][j];
      for (int w = 1; w < kWarps; ++w) s += red[w][j];
      acc[j] = s;
    }
  }
  __syncthreads();
}

// s = softmax(LeakyReLU(t)) and norm = max(‖s‖, 1e-12), in double (as the CPU's rowWeights).
__device__ void rowWeights(const float* t, int m, float slope, double* s, double* norm) {
  double mx = -HUGE_VAL;
  for (int j = 0; j < m; ++j) {
    s[j] = t[j] > 0.0f ? double(t[j]) : double(slope) * double(t[j]);
    mx = fmax(mx, s[j]);
  }
  double z = 0.0;
  for (int j = 0; j < m; ++j) {
    s[j] = exp(s[j] - mx);
    z += s[j];
  }
  double sq = 0.0;
  for (int j = 0; j < m; ++j) {
    s[j] /= z;
    sq += s[j] * s[j];
  }
  *norm = fmax(sqrt(sq), 1e-12);
}

__global__ void __launch_bounds__(kRowThreads) fusionForwardKernel(Blocks xs, const float* __restrict__ W,
                                                                   const float* __restrict__ b, float slope,
                                                                   bool concat, float* __restrict__ out,
                                                                   float* __restrict__ u, float* __restrict__ t) {
  __shared__ float red[kWarps][kMaxBlocks];
  __shared__ float uw[kMaxBlocks];
  const int m = xs.m;
  const int64_t ldo = concat ? xs.total : xs.d[0];
  for (int64_t i = blockIdx.x; i < xs.n; i += gridDim.x) {
    float acc[kMaxBlocks];
#pragma unroll
    for (int j = 0; j < kMaxBlocks; ++j) acc[j] = 0.0f;
    for (int k = 0; k < m; ++k) {
      const float* xr = xs.x[k] + i * xs.d[k];
      const float* wk = W + xs.off[k];
      for (int64_t c = threadIdx.x; c < xs.d[k]; c += kRowThreads) {
        const float v = xr[c];
#pragma unroll
        for (int j = 0; j < kMaxBlocks; ++j)
          if (j < m) acc[j] = fmaf(v, wk[j * xs.total + c], acc[j]);
      }
    }
    blockSums(acc, m, red);
    if (threadIdx.x == 0) {
      float ti[kMaxBlocks];
      double s[kMaxBlocks], norm;
      for (int j = 0; j < m; ++j) ti[j] = acc[j] + b[j];
      rowWeights(ti, m, slope, s, &norm);
      for (int j = 0; j < m; ++j) {
        t[i * m + j] = ti[j];
        uw[j] = static_cast<float>(s[j] / norm);
        u[i * m + j] = uw[j];
      }
    }
    __syncthreads();
    float* oi = out + i * ldo;
    if (concat) {
      for (int k = 0; k < m; ++k) {
        const float* xr = xs.x[k] + i * xs.d[k];
        for (int64_t c = threadIdx.x; c < xs.d[k]; c += kRowThreads) oi[xs.off[k] + c] = uw[k] * xr[c];
      }
    } else {
      for (int64_t c = threadIdx.x; c < ldo; c += kRowThreads) {
        float v = uw[0] * xs.x[0][i * ldo + c];
        for (int k = 1; k < m; ++k) v += uw[k] * xs.x[k][i * ldo + c];
        oi[c] = v;
      }
    }
    __syncthreads();  // uw and red are reused by the next row
  }
}

// Pass 1 of the backward: G_u, G_t (to gt) and every dx_k.
__global__ void __launch_bounds__(kRowThreads) fusionBackwardRowsKernel(
    Blocks xs, const float* __restrict__ W, const float* __restrict__ u, const float* __restrict__ t, float slope,
    bool concat, const float* __restrict__ dout, BlockGrads dx, float* __restrict__ gt) {
  __shared__ float red[kWarps][kMaxBlocks];
  __shared__ float gts[kMaxBlocks];
  const int m = xs.m;
  const int64_t ldo = concat ? xs.total : xs.d[0];
  for (int64_t i = blockIdx.x; i < xs.n; i += gridDim.x) {
    const float* gi = dout + i * ldo;
    float acc[kMaxBlocks];
#pragma unroll
    for (int j = 0; j < kMaxBlocks; ++j) acc[j] = 0.0f;
    for (int k = 0; k < m; ++k) {
      const float* xr = xs.x[k] + i * xs.d[k];
      const float* gk = concat ? gi + xs.off[k] : gi;
      float a = 0.0f;
      for (int64_t c = threadIdx.x; c < xs.d[k]; c += kRowThreads) a = fmaf(gk[c], xr[c], a);
#pragma unroll
      for (int j = 0; j < kMaxBlocks; ++j)
        if (j == k) acc[j] = a;
    }
    blockSums(acc, m, red);
    if (threadIdx.x == 0) {
      double s[kMaxBlocks], gs[kMaxBlocks], norm;
      rowWeights(t + i * m, m, slope, s, &norm);
      double guu = 0.0;
      for (int j = 0; j < m; ++j) guu += double(acc[j]) * double(u[i * m + j]);
      double gss = 0.0;
      for (int j = 0; j < m; ++j) {
        gs[j] = (double(acc[j]) - double(u[i * m + j]) * guu) / norm;
        gss += gs[j] * s[j];
      }
      for (int j = 0; j < m; ++j) {
        const double gl = s[j] * (gs[j] - gss);
        gts[j] = static_cast<float>(t[i * m + j] > 0.0f ? gl : gl * double(slope));
        gt[i * m + j] = gts[j];
      }
    }
    __syncthreads();
    for (int k = 0; k < m; ++k) {
      if (!dx.x[k]) continue;
      float* dxr = dx.x[k] + i * xs.d[k];
      const float* gk = concat ? gi + xs.off[k] : gi;
      const float uk = u[i * m + k];
      const float* wk = W + xs.off[k];
      for (int64_t c = threadIdx.x; c < xs.d[k]; c += kRowThreads) {
        float v = uk * gk[c];
        for (int j = 0; j < m; ++j) v = fmaf(gts[j], wk[j * xs.total + c], v);
        dxr[c] = v;
      }
    }
    __syncthreads();
  }
}

// Pass 2: partial[(seg·m + j)·(D+1) + col] = Σ_{i in segment} gt[i, j]·a[i, col], a = [x_0 ‖ … ‖ 1] (the last
// column gives db).
__global__ void fusionWeightGradKernel(Blocks xs, const float* __restrict__ gt, int64_t rowsPerSegment,
                                       float* __restrict__ partial) {
  const int64_t col = int64_t(blockIdx.x) * kColThreads + threadIdx.x;
  const int64_t width = xs.total + 1;
  if (col >= width) return;
  const int m = xs.m;
  const float* x = nullptr;
  int64_t ld = 0;
  if (col < xs.total) {
    int k = 0;
    while (k + 1 < m && col >= xs.off[k + 1]) ++k;
    x = xs.x[k] + (col - xs.off[k]);
    ld = xs.d[k];
  }
  const int64_t seg = blockIdx.y;
  const int64_t r0 = seg * rowsPerSegment;
  const int64_t r1 = r0 + rowsPerSegment < xs.n ? r0 + rowsPerSegment : xs.n;
  float acc[kMaxBlocks];
#pragma unroll
  for (int j = 0; j < kMaxBlocks; ++j) acc[j] = 0.0f;
  for (int64_t i = r0; i < r1; ++i) {
    const float v = x ? x[i * ld] : 1.0f;
#pragma unroll
    for (int j = 0; j < kMaxBlocks; ++j)
      if (j < m) acc[j] = fmaf(gt[i * m + j], v, acc[j]);
  }
  for (int j = 0; j < m; ++j) partial[(seg * m + j) * width + col] = acc[j];
}

// dW[j, col] (col < D) and db[j] (col = D): the segments' partials summed in order, in double.
__global__ void fusionWeightGradCombineKernel(const float* __restrict__ partial, int64_t segments, int m,
                                              int64_t total, float* __restrict__ dW, float* __restrict__ db) {
  const int64_t width = total + 1;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < int64_t(m) * width;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = e / width, col = e % width;
    double s = 0.0;
    for (int64_t q = 0; q < segments; ++q) s += partial[(q * m + j) * width + col];
    if (col < total) dW[j * total + col] = static_cast<float>(s);
    else db[j] = static_cast<float>(s);
  }
}

unsigned int rowGrid(int64_t n) { return static_cast<unsigned int>(n < (int64_t(1) << 20) ? n : (int64_t(1) << 20)); }

}  // namespace

void CudaBackend::attentionFusionForward(const std::vector<Tensor>& xs, const Tensor& w, const Tensor& b, float slope,
                                         bool concat, Tensor& out, Tensor& u, Tensor& t) {
  const Blocks f = blocksOf(xs);
  fusionForwardKernel<<<rowGrid(f.n), kRowThreads, 0, stream()>>>(f, w.f32(), b.f32(), slope, concat, out.f32(),
                                                                    u.f32(), t.f32());
  DGC_CUDA_LAUNCH_CHECK("attentionFusion");
}

void CudaBackend::attentionFusionBackward(const std::vector<Tensor>& xs, const Tensor& w, const Tensor& u, const Tensor& t,
                                          float slope, bool concat, const Tensor& dout, const std::vector<Tensor*>& dxs, Tensor& dw,
                             Tensor& db) {
  const Blocks f = blocksOf(xs);
  BlockGrads dx{};
  for (int k = 0; k < f.m; ++k) dx.x[k] = dxs[static_cast<size_t>(k)] ? dxs[static_cast<size_t>(k)]->f32() : nullptr;
  Tensor gt = scratchF32(f.n * f.m);
  fusionBackwardRowsKernel<<<rowGrid(f.n), kRowThreads, 0, stream()>>>(f, w.f32(), u.f32(), t.f32(), slope, concat,
                                                                         dout.f32(), dx, gt.f32());
  DGC_CUDA_LAUNCH_CHECK("attentionFusionBackward");
  // Segments of whole kRowsPerSegment-row runs, at most kMaxSegments: a function of n only.
  int64_t segments = (f.n + kRowsPerSegment - 1) / kRowsPerSegment;
  if (segments > kMaxSegments) segments = kMaxSegments;
  const int64_t rowsPerSegment = (f.n + segments - 1) / segments;
  Tensor partial = scratchF32(segments * f.m * (f.total + 1));
  const dim3 grid(static_cast<unsigned int>((f.total + 1 + kColThreads - 1) / kColThreads),
                  static_cast<unsigned int>(segments));
  fusionWeightGradKernel<<<grid, kColThreads, 0, stream()>>>(f, gt.f32(), rowsPerSegment, partial.f32());
  DGC_CUDA_LAUNCH_CHECK("attentionFusionBackward");
  fusionWeightGradCombineKernel<<<blocksFor(int64_t(f.m) * (f.total + 1), 256), 256, 0, stream()>>>(
      partial.f32(), segments, f.m, f.total, dw.f32(), db.f32());
  DGC_CUDA_LAUNCH_CHECK("attentionFusionBackward");
}

}  // namespace cuda
}  // namespace dgc
