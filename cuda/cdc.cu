// CDC's clipped row KL and pairwise KL (every variant) on the GPU. Formulas and gradients: native/cpu/cdc.h (the
// pairwise KL) and native/cpu/cluster.h rowKlClipped; this file follows native/cpu/cdc.cc step for step, in double.
//
// LAYOUT OF THE WORK (b ≤ 8192 rows, dense b×b double scratch by design, as on the CPU; CDC uses b = 64)
//   * Distances: one thread per pair i < j (mirrored), columns summed in order.
//   * Row passes (kernel row sums, sharpening row sums, KL rows, row dots): one warp per row, lanes over the
//     columns, butterfly sums (every lane holds the same bits).
//   * Column sums (the sharpening's f_j and Σ_i GW_ij W_ij): one thread per column, rows in order.
//   * Global sums (Z, Σ W, ⟨GS, S⟩, ⟨GC, C⟩, the loss): one block over the per-row values, in a fixed tree.
//   * dY_ic = Σ_j 2(H_ij + H_ji)(y_ic − y_jc): one thread per (i, c), j in order.
// No atomics: every result repeats bit for bit on the same device.
#include <algorithm>
#include <cmath>
#include <memory>

#include "common.cuh"
#include "cuda_backend.h"

namespace dgc {
namespace cuda {
namespace {

constexpr int kRowThreads = 256;  // 8 warps, one row each
constexpr double kPairClipMin = 1e-10;
constexpr double kKlClipMin = 1e-7;

unsigned rowGrid(int64_t rows) { return blocksFor(rows, kRowThreads / 32); }

struct Kernel {
  double nu, exponent;
  __device__ double value(double dist) const {
    const double ratio = nu / (nu + dist);
    return exponent == 1.0 ? ratio : pow(ratio, exponent);
  }
  // ∂K/∂D = −e·K/(ν + D)
  __device__ double derivative(double dist, double k) const { return -exponent * k / (nu + dist); }
};

#define DGC_ROW_LOOP(b)                                                                                   \
  const int lane = threadIdx.x & 31;                                                                      \
  const int64_t warpsTotal = static_cast<int64_t>(gridDim.x) * (kRowThreads / 32);                       \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kRowThreads / 32) + (threadIdx.x >> 5); i < (b); \
       i += warpsTotal)

__global__ void distanceKernel(int64_t b, int64_t w, const float* __restrict__ Y, double* D) {
  const int64_t total = b * b;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e / b, j = e - i * b;
    if (j < i) continue;
    if (j == i) {
      D[e] = 0.0;
      continue;
    }
    double acc = 0.0;
    for (int64_t c = 0; c < w; ++c) {
      const double d = dsub(Y[i * w + c], Y[j * w + c]);
      acc = dadd(acc, dmul(d, d));
    }
    D[i * b + j] = acc;
    D[j * b + i] = acc;
  }
}

// K_ij and R_i = Σ_j K_ij (global: without the self pair).
__global__ void __launch_bounds__(kRowThreads) kernelRowKernel(int64_t b, const double* __restrict__ D, Kernel kern,
                                                               bool global, double* K, double* R) {
  DGC_ROW_LOOP(b) {
    double s = 0.0;
    for (int64_t j = lane; j < b; j += 32) {
      const double k = kern.value(D[i * b + j]);
      K[i * b + j] = k;
      if (!global || j != i) s += k;
    }
    s = warpSum(s);
    if (lane == 0) R[i] = s;
  }
}

// out[0] = Σ_{i<count} x[i] (one block, fixed tree).
__global__ void sumKernel(const double* __restrict__ x, int64_t count, double* out) {
  __shared__ double red[32];
  const double total = blockSumArray(x, count, red);
  if (threadIdx.x == 0) out[0] = total;
}

// C_ij = clip(K_ij/R_i, 1e-10, 1) (row) or K_ij/Z for i ≠ j, 0 on the diagonal (global).
__global__ void normaliseKernel(int64_t b, const double* __restrict__ K, const double* __restrict__ R,
                                const double* __restrict__ Z, bool global, double* C) {
  const int64_t total = b * b;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e / b, j = e - i * b;
    C[e] = global ? (i == j ? 0.0 : K[e] / Z[0]) : fmin(1.0, fmax(kPairClipMin, K[e] / R[i]));
  }
}

// out_j = Σ_i M_ij, rows in order (one thread per column).
__global__ void columnSumKernel(int64_t b, const double* __restrict__ M, double* out) {
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < b;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double s = 0.0;
    for (int64_t i = 0; i < b; ++i) s += M[i * b + j];
    out[j] = s;
  }
}

// W_ij = C_ij²/f_j (global: 0 on the diagonal) and T_i = Σ_j W_ij.
__global__ void __launch_bounds__(kRowThreads) sharpenRowKernel(int64_t b, const double* __restrict__ C,
                                                                const double* __restrict__ f, bool global, double* W,
                                                                double* T) {
  DGC_ROW_LOOP(b) {
    double s = 0.0;
    for (int64_t j = lane; j < b; j += 32) {
      const double c = C[i * b + j];
      const double w = (global && j == i) ? 0.0 : c * c / f[j];
      W[i * b + j] = w;
      s += w;
    }
    s = warpSum(s);
    if (lane == 0) T[i] = s;
  }
}

// S_ij = W_ij / T_i (row) or W_ij / total (global).
__global__ void divideKernel(int64_t b, const double* __restrict__ W, const double* __restrict__ T,
                             const double* __restrict__ total, bool global, double* S) {
  const int64_t n = b * b;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    S[e] = W[e] / (global ? total[0] : T[e / b]);
  }
}

// The KL's rows and its gradients with respect to A and B (cdc.h "KL"); GA / GB may be null.
__global__ void __launch_bounds__(kRowThreads) klRowKernel(int64_t b, const double* __restrict__ A,
                                                           const double* __restrict__ B, double scale, bool global,
                                                           double* GA, double* GB, double* rowLoss) {
  DGC_ROW_LOOP(b) {
    double loss = 0.0;
    for (int64_t j = lane; j < b; j += 32) {
      const double a = A[i * b + j], bv = B[i * b + j];
      double gA = 0.0, gB = 0.0;
      if (global) {
        if (j != i && a > 0.0) {
          const double logRatio = log(a / bv);
          loss += a * logRatio;
          gA = scale * (logRatio + 1.0);
          gB = -scale * a / bv;
        }
      } else {
        const double aBar = fmin(1.0, fmax(kKlClipMin, a));
        const double bBar = fmin(1.0, fmax(kKlClipMin, bv));
        const double logRatio = log(aBar / bBar);
        loss += aBar * logRatio;
        if (a >= kKlClipMin && a <= 1.0) gA = scale * (logRatio + 1.0);
        if (bv >= kKlClipMin && bv <= 1.0) gB = -scale * aBar / bBar;
      }
      if (GA) GA[i * b + j] = gA;
      if (GB) GB[i * b + j] = gB;
    }
    loss = warpSum(loss);
    if (lane == 0) rowLoss[i] = loss;
  }
}

__global__ void lossKernel(const double* __restrict__ sum, double scale, float* loss) {
  if (threadIdx.x == 0 && blockIdx.x == 0) loss[0] = static_cast<float>(scale * sum[0]);
}

// dots_i = Σ_j X_ij Y_ij.
__global__ void __launch_bounds__(kRowThreads) rowDotKernel(int64_t b, const double* __restrict__ X,
                                                            const double* __restrict__ Y, double* dots) {
  DGC_ROW_LOOP(b) {
    double s = 0.0;
    for (int64_t j = lane; j < b; j += 32) s += X[i * b + j] * Y[i * b + j];
    s = warpSum(s);
    if (lane == 0) dots[i] = s;
  }
}

// Sharpen backward, part 1: GW_ij = (GS_ij − dot)/t with the row's or the global dot and normaliser; GWW = GW ⊙ W.
__global__ void sharpenGradKernel(int64_t b, const double* __restrict__ GS, const double* __restrict__ W,
                                  const double* __restrict__ dots, const double* __restrict__ T,
                                  const double* __restrict__ globalDot, const double* __restrict__ total, bool global,
                                  double* GW, double* GWW) {
  const int64_t n = b * b;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e / b, j = e - i * b;
    const double dot = global ? globalDot[0] : dots[i];
    const double t = global ? total[0] : T[i];
    const double gw = (global && j == i) ? 0.0 : (GS[e] - dot) / t;
    GW[e] = gw;
    GWW[e] = gw * W[e];
  }
}

// Sharpen backward, part 2: GC_kj = (2 C_kj GW_kj − col_j)/f_j (global: 0 on the diagonal).
__global__ void sharpenGradFinishKernel(int64_t b, const double* __restrict__ C, const double* __restrict__ GW,
                                        const double* __restrict__ col, const double* __restrict__ f, bool global,
                                        double* GC) {
  const int64_t n = b * b;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t k = e / b, j = e - k * b;
    GC[e] = (global && j == k) ? 0.0 : (2.0 * C[e] * GW[e] - col[j]) / f[j];
  }
}

// Kernel backward, row form, warp per row: G' = GC masked by the clip, C̃ = K/R_i,
//   H_ij = ((G'_ij − Σ_l G'_il C̃_il)/R_i)·∂K/∂D_ij (0 on the diagonal).
__global__ void __launch_bounds__(kRowThreads) rowKernelGradKernel(int64_t b, const double* __restrict__ D,
                                                                   const double* __restrict__ K,
                                                                   const double* __restrict__ R, Kernel kern,
                                                                   const double* __restrict__ GC, double* H) {
  DGC_ROW_LOOP(b) {
    const double r = R[i];
    double dot = 0.0;
    for (int64_t j = lane; j < b; j += 32) {
      const double c = K[i * b + j] / r;
      const double g = (c >= kPairClipMin && c <= 1.0) ? GC[i * b + j] : 0.0;
      dot += g * c;
    }
    dot = warpSum(dot);
    for (int64_t j = lane; j < b; j += 32) {
      if (j == i) {
        H[i * b + j] = 0.0;
        continue;
      }
      const double c = K[i * b + j] / r;
      const double g = (c >= kPairClipMin && c <= 1.0) ? GC[i * b + j] : 0.0;
      H[i * b + j] = ((g - dot) / r) * kern.derivative(D[i * b + j], K[i * b + j]);
    }
  }
}

// Kernel backward, global form: H_ij = ((GC_ij − ⟨GC, C⟩)/Z)·∂K/∂D_ij for i ≠ j.
__global__ void globalKernelGradKernel(int64_t b, const double* __restrict__ D, const double* __restrict__ K,
                                       const double* __restrict__ Z, Kernel kern, const double* __restrict__ GC,
                                       const double* __restrict__ globalDot, double* H) {
  const int64_t n = b * b;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e / b, j = e - i * b;
    H[e] = i == j ? 0.0 : ((GC[e] - globalDot[0]) / Z[0]) * kern.derivative(D[e], K[e]);
  }
}

// Keras KLDivergence, elementwise with one double per row (warp per row), then one block.
__global__ void __launch_bounds__(kRowThreads) rowKlClippedKernel(int64_t rows, int64_t cols,
                                                                  const float* __restrict__ A,
                                                                  const float* __restrict__ B, double scale, float* dA,
                                                                  float* dB, double* rowLoss) {
  DGC_ROW_LOOP(rows) {
    double loss = 0.0;
    for (int64_t j = lane; j < cols; j += 32) {
      const int64_t e = i * cols + j;
      const double a = A[e], bv = B[e];
      const double aBar = fmin(1.0, fmax(kKlClipMin, a));
      const double bBar = fmin(1.0, fmax(kKlClipMin, bv));
      const double logRatio = log(aBar / bBar);
      loss += aBar * logRatio;
      if (dA) dA[e] = (a >= kKlClipMin && a <= 1.0) ? static_cast<float>(scale * (logRatio + 1.0)) : 0.0f;
      if (dB) dB[e] = (bv >= kKlClipMin && bv <= 1.0) ? static_cast<float>(-scale * aBar / bBar) : 0.0f;
    }
    loss = warpSum(loss);
    if (lane == 0) rowLoss[i] = loss;
  }
}

#undef DGC_ROW_LOOP

unsigned elementGrid(int64_t n) { return blocksFor(n, 256); }

// The kernel of one argument on the device (cdc.h "Pair kernel").
struct PairKernel {
  int64_t b, w;
  const float* Y;
  bool global;
  Kernel kern;
  Tensor D, K, C, R, Z;

  PairKernel(const Tensor& y, double nu, bool global_, const char* op)
      : b(y.dim(0)), w(y.dim(1)), Y(y.f32()), global(global_), kern{nu, 0.5 * (nu + 1.0)} {
    D = scratchF64(b * b);
    K = scratchF64(b * b);
    C = scratchF64(b * b);
    R = scratchF64(b);
    Z = scratchF64(1);
    distanceKernel<<<elementGrid(b * b), 256, 0, stream()>>>(b, w, Y, f64(D));
    DGC_CUDA_LAUNCH_CHECK(op);
    kernelRowKernel<<<rowGrid(b), kRowThreads, 0, stream()>>>(b, f64(D), kern, global, f64(K),
                                                               f64(R));
    DGC_CUDA_LAUNCH_CHECK(op);
    if (global) {
      sumKernel<<<1, 1024, 0, stream()>>>(f64(R), b, f64(Z));
      DGC_CUDA_LAUNCH_CHECK(op);
    }
    normaliseKernel<<<elementGrid(b * b), 256, 0, stream()>>>(b, f64(K), f64(R), f64(Z), global,
                                                              f64(C));
    DGC_CUDA_LAUNCH_CHECK(op);
  }

  void backward(const Tensor& GC, float* dY, const char* op) const {
    Tensor H = scratchF64(b * b);
    if (global) {
      Tensor dots = scratchF64(b), dot = scratchF64(1);
      rowDotKernel<<<rowGrid(b), kRowThreads, 0, stream()>>>(b, f64(GC), f64(C), f64(dots));
      DGC_CUDA_LAUNCH_CHECK(op);
      sumKernel<<<1, 1024, 0, stream()>>>(f64(dots), b, f64(dot));
      DGC_CUDA_LAUNCH_CHECK(op);
      globalKernelGradKernel<<<elementGrid(b * b), 256, 0, stream()>>>(b, f64(D), f64(K), f64(Z),
                                                                       kern, f64(GC), f64(dot),
                                                                       f64(H));
    } else {
      rowKernelGradKernel<<<rowGrid(b), kRowThreads, 0, stream()>>>(b, f64(D), f64(K), f64(R),
                                                                    kern, f64(GC), f64(H));
    }
    DGC_CUDA_LAUNCH_CHECK(op);
    pairDistanceGradKernel<<<elementGrid(b * w), 256, 0, stream()>>>(b, w, Y, f64(H), dY);
    DGC_CUDA_LAUNCH_CHECK(op);
  }
};

// Sharpen(C) on the device (cdc.h "Sharpen") and its backward.
struct Sharpened {
  int64_t b;
  bool global;
  const Tensor& C;
  Tensor f, W, T, total, S;

  Sharpened(int64_t b_, bool global_, const Tensor& C_, const char* op) : b(b_), global(global_), C(C_) {
    f = scratchF64(b);
    W = scratchF64(b * b);
    T = scratchF64(b);
    total = scratchF64(1);
    S = scratchF64(b * b);
    columnSumKernel<<<blocksFor(b, 128), 128, 0, stream()>>>(b, f64(C), f64(f));
    DGC_CUDA_LAUNCH_CHECK(op);
    sharpenRowKernel<<<rowGrid(b), kRowThreads, 0, stream()>>>(b, f64(C), f64(f), global, f64(W),
                                                                f64(T));
    DGC_CUDA_LAUNCH_CHECK(op);
    if (global) {
      sumKernel<<<1, 1024, 0, stream()>>>(f64(T), b, f64(total));
      DGC_CUDA_LAUNCH_CHECK(op);
    }
    divideKernel<<<elementGrid(b * b), 256, 0, stream()>>>(b, f64(W), f64(T), f64(total), global,
                                                           f64(S));
    DGC_CUDA_LAUNCH_CHECK(op);
  }

  Tensor backward(const Tensor& GS, const char* op) const {
    Tensor dots = scratchF64(b), dot = scratchF64(1);
    rowDotKernel<<<rowGrid(b), kRowThreads, 0, stream()>>>(b, f64(GS), f64(S), f64(dots));
    DGC_CUDA_LAUNCH_CHECK(op);
    if (global) {
      sumKernel<<<1, 1024, 0, stream()>>>(f64(dots), b, f64(dot));
      DGC_CUDA_LAUNCH_CHECK(op);
    }
    Tensor GW = scratchF64(b * b), GWW = scratchF64(b * b), col = scratchF64(b);
    sharpenGradKernel<<<elementGrid(b * b), 256, 0, stream()>>>(b, f64(GS), f64(W), f64(dots),
                                                                f64(T), f64(dot), f64(total),
                                                                global, f64(GW), f64(GWW));
    DGC_CUDA_LAUNCH_CHECK(op);
    columnSumKernel<<<blocksFor(b, 128), 128, 0, stream()>>>(b, f64(GWW), f64(col));
    DGC_CUDA_LAUNCH_CHECK(op);
    Tensor GC = scratchF64(b * b);
    sharpenGradFinishKernel<<<elementGrid(b * b), 256, 0, stream()>>>(b, f64(C), f64(GW),
                                                                      f64(col), f64(f), global,
                                                                      f64(GC));
    DGC_CUDA_LAUNCH_CHECK(op);
    return GC;
  }
};

}  // namespace

void CudaBackend::rowKlClipped(const Tensor& a, const Tensor& b, double scale, Tensor& loss, Tensor* da, Tensor* db) {
  const char* op = "rowKlClipped";
  const int64_t rows = a.dim(0), cols = a.dim(1);
  Tensor rowLoss = scratchF64(rows), sum = scratchF64(1);
  rowKlClippedKernel<<<rowGrid(rows), kRowThreads, 0, stream()>>>(rows, cols, a.f32(), b.f32(), scale,
                                                                  da ? da->f32() : nullptr, db ? db->f32() : nullptr,
                                                                  f64(rowLoss));
  DGC_CUDA_LAUNCH_CHECK(op);
  sumKernel<<<1, 1024, 0, stream()>>>(f64(rowLoss), rows, f64(sum));
  DGC_CUDA_LAUNCH_CHECK(op);
  lossKernel<<<1, 32, 0, stream()>>>(f64(sum), scale, loss.f32());
  DGC_CUDA_LAUNCH_CHECK(op);
}

void CudaBackend::cdcPairLoss(const Tensor& ya, const Tensor& yb, double nu, double scale, bool global, bool sharpen,
                              Tensor& loss, Tensor* dya, Tensor* dyb) {
  const char* op = "cdcPairLoss";
  const int64_t b = ya.dim(0);
  const PairKernel ka(ya, nu, global, op);
  const PairKernel kb(yb, nu, global, op);
  std::unique_ptr<Sharpened> sh;
  if (sharpen) sh.reset(new Sharpened(b, global, ka.C, op));
  const Tensor& A = sharpen ? sh->S : ka.C;
  Tensor GA, GB;
  if (dya) GA = scratchF64(b * b);
  if (dyb) GB = scratchF64(b * b);
  Tensor rowLoss = scratchF64(b), sum = scratchF64(1);
  klRowKernel<<<rowGrid(b), kRowThreads, 0, stream()>>>(b, f64(A), f64(kb.C), scale, global,
                                                         dya ? f64(GA) : nullptr, dyb ? f64(GB) : nullptr,
                                                         f64(rowLoss));
  DGC_CUDA_LAUNCH_CHECK(op);
  sumKernel<<<1, 1024, 0, stream()>>>(f64(rowLoss), b, f64(sum));
  DGC_CUDA_LAUNCH_CHECK(op);
  lossKernel<<<1, 32, 0, stream()>>>(f64(sum), scale, loss.f32());
  DGC_CUDA_LAUNCH_CHECK(op);
  if (dya) ka.backward(sharpen ? sh->backward(GA, op) : GA, dya->f32(), op);
  if (dyb) kb.backward(GB, dyb->f32(), op);
}

}  // namespace cuda
}  // namespace dgc
