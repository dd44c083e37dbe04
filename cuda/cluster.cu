// Clustering-head kernels on the GPU: Student-t soft assignment, its backward, the DEC target distribution, the fused
// KL / triplet-KL / focal losses, and CDC's pairwise affinities and correlation loss.
// Formulas, guards and output semantics: native/cpu/cluster.h (DEC Eqs. 1–5, DFCN's triplet KL, DCCF Eqs. 8–12,
// CDC Eqs. 5–11, in the official codes' forms). The numerics follow the CPU code step for step: distances by
// direct differences in double, the Student-t row relative to the nearest centre, log q in log space where q
// underflows, guards for empty columns / rows. Not bit for bit: CDC's pair distances use the CPU's four-lane
// summation (squaredDistance below), but the Student-t distances ‖z_i − μ_j‖² are summed in one chain per centre on
// the CPU (and its AVX2 / AVX-512 clones may contract that chain to FMA), so they agree to rounding in double, and
// the parity tests compare q, P and the losses with tolerances.
//
// LAYOUT OF THE WORK
//   * Row passes: one warp per row i, lanes over the centres (or batch columns) j = lane, lane + 32, …. Row-level
//     quantities (nearest distance, Σ_j u_ij, Σ_j p_ij, argmax) are warp butterfly reductions, so every lane holds
//     the same bits. Per-(i, j) intermediates (D_ij, q_ij, the chain-rule coefficient a_ij) go to n×k double scratch:
//     O(n·k), the size of Q itself (twice, in double).
//   * dZ_i = Σ_j a_ij (z_i − μ_j): one thread per (i, c), j in order (the CPU's order).
//   * dμ_j = −Σ_i a_ij (z_i − μ_j): fixed 256-row chunks, one thread per (j, c) per chunk, then the chunks summed in
//     order. Losses: one double per row, summed by one block in a fixed order. No floating-point atomics: every
//     result repeats bit for bit; against the CPU the row sums differ in summation order only (rounding).
//   * CDC (b ≤ 8192 rows, dense b×b by design as on the CPU): pairwise distances, pair kernel rows, Sharpen
//     (= targetDistribution with k = b) and its backward, the clipped row KL, all as separate kernels on b×b
//     double / float scratch.
#include <algorithm>
#include <cmath>
#include <limits>

#include "common.cuh"
#include "cuda_backend.h"

namespace dgc {
namespace cuda {
namespace {


constexpr int kRowThreads = 256;         // 8 warps, one row each
constexpr int64_t kChunkRows = 256;      // rows per partial of a column reduction (independent of the device)
constexpr double kPairClipMin = 1e-10;   // CDC pair-kernel clip (the official code's)
constexpr double kKlClipMin = 1e-7;      // Keras KLDivergence clip
constexpr double kFocalClipMin = 1e-7;   // DCCF focal loss: clamp of s before the log (a guard; Eq. 12 has none)

// ‖a − b‖² over w columns in double from exact differences: element c goes to accumulator c mod 4 (the tail to
// accumulator 0), combined as (a0 + a1) + (a2 + a3). The same operations, unfused, as the CPU's squaredDistance.
__device__ __forceinline__ double squaredDistance(const float* __restrict__ a, const float* __restrict__ b, int64_t w) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t c = 0;
  for (; c + 4 <= w; c += 4) {
    const double d0 = dsub(a[c], b[c]), d1 = dsub(a[c + 1], b[c + 1]);
    const double d2 = dsub(a[c + 2], b[c + 2]), d3 = dsub(a[c + 3], b[c + 3]);
    a0 = dadd(a0, dmul(d0, d0));
    a1 = dadd(a1, dmul(d1, d1));
    a2 = dadd(a2, dmul(d2, d2));
    a3 = dadd(a3, dmul(d3, d3));
  }
  for (; c < w; ++c) {
    const double dc = dsub(a[c], b[c]);
    a0 = dadd(a0, dmul(dc, dc));
  }
  return dadd(dadd(a0, a1), dadd(a2, a3));
}

// u(D) = (ν/(ν + D))^e, e = (ν + 1)/2, and its log-derivative, as StudentTKernel on the CPU.
struct StudentT {
  double nu, exponent;
  __device__ double power(double ratio) const { return exponent == 1.0 ? ratio : pow(ratio, exponent); }
  __device__ double value(double dist) const { return power(nu / (nu + dist)); }
  __device__ double dLogUdDist(double dist) const { return -exponent / (nu + dist); }
};

// ---- Student-t row pass --------------------------------------------------------------------------------------------

enum RowRule { kRuleNone = 0, kRuleBackward = 1, kRuleKl = 2, kRuleFocal = 3 };

struct RowArgs {
  int64_t n = 0, k = 0, d = 0;
  const float* z = nullptr;
  const float* mu = nullptr;
  StudentT kern{1.0, 1.0};
  float* qOut = nullptr;        // float Q (may be null)
  const float* qIn = nullptr;   // backward: the forward's Q
  const float* dq = nullptr;    // backward: ∂L/∂Q
  const float* p = nullptr;     // KL / focal target
  double scale = 1.0, gamma = 0.0;
  double* dist = nullptr;       // n×k scratch: D_ij
  double* work = nullptr;       // n×k scratch: q_ij, then a_ij = 2·∂L/∂D_ij
  double* rowLoss = nullptr;    // n (KL / focal)
  bool wantA = false;           // write a_ij
};

// One warp per row i, lanes over the centres j (rows of Q relative to the nearest centre, cluster.h):
//   D_ij = ‖z_i − μ_j‖²,  r_ij = (ν + D_min)/(ν + D_ij),  w_ij = r_ij^e,  S = Σ_j w_ij,  q_ij = w_ij/S,
//   log q_ij = e·(log(ν + D_min) − log(ν + D_ij)) − log S.
// Then the rule's ∂L/∂log u_ij (g below) and the chain rule a_ij = 2·g_ij·∂log u/∂D = −2e·g_ij/(ν + D_ij):
//   backward: h_ij = dQ_ij·q_ij (given Q), g_ij = h_ij − q_ij Σ_l h_il
//   KL:       loss_i = scale·Σ_{p>0} p_ij (log p_ij − log q_ij),  g_ij = −scale·(p_ij − q_ij Σ_l p_il)
//   focal:    c = argmax_j p_ij, s = q_ic, p̂ = clamp(s, 1e-7, 1),  loss_i = −scale·(1 − p̂)^γ log p̂,
//             g_ij = scale·[γ(1−s)^{γ−1} s log s − (1−s)^γ]·(1[j=c] − q_ij) where the clamp is inactive, else 0.
template <int RULE>
__global__ void __launch_bounds__(kRowThreads) studentTRowKernel(const RowArgs a) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (kRowThreads / 32);
  const StudentT kern = a.kern;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kRowThreads / 32) + (threadIdx.x >> 5); i < a.n; i += warps) {
    const float* zi = a.z + i * a.d;
    double* dist = a.dist + i * a.k;
    double* work = a.work + i * a.k;
    double minDist = INFINITY;
    for (int64_t j = lane; j < a.k; j += 32) {
      const double dij = squaredDistance(zi, a.mu + j * a.d, a.d);
      dist[j] = dij;
      minDist = fmin(minDist, dij);
    }
    minDist = warpMin(minDist);

    if (RULE == kRuleBackward) {
      const float* q = a.qIn + i * a.k;
      const float* g = a.dq + i * a.k;
      double hSum = 0.0;
      for (int64_t j = lane; j < a.k; j += 32) hSum += static_cast<double>(g[j]) * static_cast<double>(q[j]);
      hSum = warpSum(hSum);
      for (int64_t j = lane; j < a.k; j += 32) {
        const double qj = q[j];
        const double gl = static_cast<double>(g[j]) * qj - qj * hSum;
        work[j] = 2.0 * gl * kern.dLogUdDist(dist[j]);
      }
      continue;
    }

    double sum = 0.0;
    for (int64_t j = lane; j < a.k; j += 32) {
      const double w = kern.power((kern.nu + minDist) / (kern.nu + dist[j]));
      work[j] = w;
      sum += w;
    }
    sum = warpSum(sum);
    const double inv = 1.0 / sum;
    for (int64_t j = lane; j < a.k; j += 32) {
      const double q = work[j] * inv;
      work[j] = q;
      if (a.qOut) a.qOut[i * a.k + j] = static_cast<float>(q);
    }
    if (RULE == kRuleNone) continue;
    __syncwarp();  // D_ic and q_ic written by other lanes are read below (focal: the argmax column c)

    const double logSum = log(sum), logNearest = log(kern.nu + minDist);
    auto logq = [&](int64_t j) { return kern.exponent * (logNearest - log(kern.nu + dist[j])) - logSum; };
    const float* p = a.p + i * a.k;
    double loss = 0.0;
    if (RULE == kRuleKl) {
      double rowSum = 0.0, part = 0.0;
      for (int64_t j = lane; j < a.k; j += 32) {
        const double pj = p[j];
        rowSum += pj;
        if (pj > 0.0) {
          const double qj = work[j];
          part += pj * (qj > 1e-280 ? log(pj / qj) : log(pj) - logq(j));
        }
      }
      rowSum = warpSum(rowSum);
      loss = a.scale * warpSum(part);
      if (a.wantA)
        for (int64_t j = lane; j < a.k; j += 32) {
          const double gl = -a.scale * (static_cast<double>(p[j]) - work[j] * rowSum);
          work[j] = 2.0 * gl * kern.dLogUdDist(dist[j]);
        }
    } else {  // focal
      // c = argmax_j p_ij, the first index on ties: (value, index) butterfly.
      float best = -INFINITY;
      int64_t bestJ = a.k;
      for (int64_t j = lane; j < a.k; j += 32)
        if (p[j] > best) best = p[j], bestJ = j;
#pragma unroll
      for (int s = 16; s > 0; s >>= 1) {
        const float ov = __shfl_xor_sync(kFullMask, best, s);
        const int64_t oj = __shfl_xor_sync(kFullMask, bestJ, s);
        if (ov > best || (ov == best && oj < bestJ)) best = ov, bestJ = oj;
      }
      // (bestJ stays k only if no p_ij > -inf, which the input checks exclude; index 0 then, as the CPU's argmax.)
      const int64_t c = bestJ < a.k ? bestJ : 0;
      const double s = work[c];  // written by lane c % 32 (ordered by the __syncwarp above)
      const bool clamped = !(s >= kFocalClipMin && s <= 1.0);
      const double sClamped = fmin(1.0, fmax(kFocalClipMin, s));
      const double oneMinus = 1.0 - sClamped;
      const double logS = clamped ? log(sClamped) : fmin(0.0, logq(c));
      loss = -a.scale * pow(oneMinus, a.gamma) * logS;
      if (a.wantA) {
        double gTimesS = 0.0;
        if (!clamped) {
          const double first = oneMinus > 0.0 ? a.gamma * pow(oneMinus, a.gamma - 1.0) * s * logS : 0.0;
          gTimesS = a.scale * (first - pow(oneMinus, a.gamma));
        }
        __syncwarp();  // every lane has read work[c] before any overwrites it
        for (int64_t j = lane; j < a.k; j += 32) {
          const double gl = gTimesS * ((j == c ? 1.0 : 0.0) - work[j]);
          work[j] = 2.0 * gl * kern.dLogUdDist(dist[j]);
        }
      }
    }
    if (lane == 0) a.rowLoss[i] = loss;
  }
}

// dZ_ic = Σ_j a_ij (z_ic − μ_jc), j in order, in double (the CPU's studentTRowBackward).
__global__ void studentTDzKernel(int64_t n, int64_t k, int64_t d, const float* __restrict__ z,
                                 const float* __restrict__ mu, const double* __restrict__ A, float* dz) {
  const int64_t total = n * d;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e / d, c = e - i * d;
    const double zc = z[e];
    double acc = 0.0;
    for (int64_t j = 0; j < k; ++j) acc += A[i * k + j] * (zc - static_cast<double>(mu[j * d + c]));
    dz[e] = static_cast<float>(acc);
  }
}

// partial[chunk][j][c] = −Σ_{i in chunk, in order} a_ij (z_ic − μ_jc); one block per 256-row chunk.
__global__ void studentTDmuPartialKernel(int64_t n, int64_t k, int64_t d, const float* __restrict__ z,
                                         const float* __restrict__ mu, const double* __restrict__ A, double* partial) {
  const int64_t chunk = blockIdx.x;
  const int64_t i0 = chunk * kChunkRows, i1 = min(n, i0 + kChunkRows);
  for (int64_t e = threadIdx.x; e < k * d; e += blockDim.x) {
    const int64_t j = e / d, c = e - j * d;
    const double m = mu[e];
    double acc = 0.0;
    for (int64_t i = i0; i < i1; ++i) acc -= A[i * k + j] * (static_cast<double>(z[i * d + c]) - m);
    partial[chunk * k * d + e] = acc;
  }
}

// out[e] = float(Σ_chunk partial[chunk][e]) in chunk order.
__global__ void sumChunksKernel(const double* partial, int64_t chunks, int64_t width, float* out) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < width;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double acc = 0.0;
    for (int64_t ch = 0; ch < chunks; ++ch) acc += partial[ch * width + e];
    out[e] = static_cast<float>(acc);
  }
}

// dst[e] = double(Σ_chunk partial[chunk][e]) in chunk order.
__global__ void sumChunksDoubleKernel(const double* partial, int64_t chunks, int64_t width, double* out) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < width;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double acc = 0.0;
    for (int64_t ch = 0; ch < chunks; ++ch) acc += partial[ch * width + e];
    out[e] = acc;
  }
}

// out[0] = Σ_i x[i] in a fixed order (one block).
__global__ void sumToDoubleKernel(const double* x, int64_t count, double* out) {
  __shared__ double red[32];
  const double total = blockSumArray(x, count, red);
  if (threadIdx.x == 0) out[0] = total;
}

// loss = float(scale·x[0]) for one part, float((x[0] + x[1]) + x[2]) for three (the triplet KL).
__global__ void lossToFloatKernel(const double* x, int parts, double scale, float* loss) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  const double v = parts == 3 ? (x[0] + x[1]) + x[2] : x[0];
  loss[0] = static_cast<float>(scale * v);
}

// dMu = (m1 + m2) + m3 elementwise in float (the CPU's triplet combination).
__global__ void add3FloatKernel(float* out, const float* m1, const float* m2, const float* m3, int64_t count) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[e] = (m1[e] + m2[e]) + m3[e];
}

// ---- target distribution and its backward --------------------------------------------------------------------------

// partial[chunk][j] = Σ_{i in chunk, in order} M_ij (M float or double, n×k).
template <typename T>
__global__ void columnChunkSumKernel(int64_t n, int64_t k, const T* __restrict__ M, double* partial) {
  const int64_t chunk = blockIdx.x;
  const int64_t i0 = chunk * kChunkRows, i1 = min(n, i0 + kChunkRows);
  for (int64_t j = blockIdx.y * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < k;
       j += static_cast<int64_t>(gridDim.y) * blockDim.x) {
    double acc = 0.0;
    for (int64_t i = i0; i < i1; ++i) acc += static_cast<double>(M[i * k + j]);
    partial[chunk * k + j] = acc;
  }
}

// Warp per row: W_ij = f_j > 0 ? q_ij²/f_j : 0,  T_i = Σ_j W_ij,  P_ij = T_i > 0 ? W_ij/T_i : 0 (DEC Eq. 3).
__global__ void __launch_bounds__(kRowThreads) targetRowKernel(int64_t n, int64_t k, const float* __restrict__ Q,
                                                               const double* __restrict__ f, float* P) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (kRowThreads / 32);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kRowThreads / 32) + (threadIdx.x >> 5); i < n; i += warps) {
    const float* q = Q + i * k;
    double T = 0.0;
    for (int64_t j = lane; j < k; j += 32) {
      const double qj = q[j];
      T += f[j] > 0.0 ? qj * qj / f[j] : 0.0;
    }
    T = warpSum(T);
    for (int64_t j = lane; j < k; j += 32) {
      const double qj = q[j];
      const double w = f[j] > 0.0 ? qj * qj / f[j] : 0.0;
      P[i * k + j] = T > 0.0 ? static_cast<float>(w / T) : 0.0f;
    }
  }
}

// Backward of the target distribution, pass 1 (warp per row), with W_ij = q_ij²/f_j, T_i = Σ_l W_il, S = W/T:
//   GW_ij = (dP_ij − Σ_l dP_il S_il)/T_i  (0 when T_i = 0);  GWW_ij = GW_ij·W_ij (for the column term).
__global__ void __launch_bounds__(kRowThreads) targetBackwardRowKernel(int64_t n, int64_t k,
                                                                       const float* __restrict__ Q,
                                                                       const float* __restrict__ dP,
                                                                       const double* __restrict__ f, double* GW,
                                                                       double* GWW) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (kRowThreads / 32);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kRowThreads / 32) + (threadIdx.x >> 5); i < n; i += warps) {
    const float* q = Q + i * k;
    const float* g = dP + i * k;
    double T = 0.0;
    for (int64_t j = lane; j < k; j += 32) {
      const double qj = q[j];
      T += f[j] > 0.0 ? qj * qj / f[j] : 0.0;
    }
    T = warpSum(T);
    double dot = 0.0;
    if (T > 0.0) {
      for (int64_t j = lane; j < k; j += 32) {
        const double qj = q[j];
        const double w = f[j] > 0.0 ? qj * qj / f[j] : 0.0;
        dot += static_cast<double>(g[j]) * (w / T);
      }
      dot = warpSum(dot);
    }
    for (int64_t j = lane; j < k; j += 32) {
      const double qj = q[j];
      const double w = f[j] > 0.0 ? qj * qj / f[j] : 0.0;
      const double gw = T > 0.0 ? (static_cast<double>(g[j]) - dot) / T : 0.0;
      GW[i * k + j] = gw;
      GWW[i * k + j] = gw * w;
    }
  }
}

// Pass 2: dQ_ij = f_j > 0 ? (2 q_ij GW_ij − colTerm_j)/f_j : 0,  colTerm_j = Σ_r GW_rj W_rj.
__global__ void targetBackwardKernel(int64_t n, int64_t k, const float* __restrict__ Q, const double* __restrict__ GW,
                                     const double* __restrict__ f, const double* __restrict__ colTerm, float* dQ) {
  const int64_t total = n * k;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = e % k;
    const double g = f[j] > 0.0 ? (2.0 * static_cast<double>(Q[e]) * GW[e] - colTerm[j]) / f[j] : 0.0;
    dQ[e] = static_cast<float>(g);
  }
}

// ---- CDC pairwise kernels -----------------------------------------------------------------------------------------

// D (b×b, double): D_ij = D_ji = ‖y_i − y_j‖² computed once for i < j, D_ii = 0 (exactly symmetric).
__global__ void pairDistanceKernel(int64_t b, int64_t w, const float* __restrict__ Y, double* D) {
  const int64_t total = b * b;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e / b, j = e - i * b;
    if (j < i) continue;
    if (j == i) {
      D[e] = 0.0;
      continue;
    }
    const double dist = squaredDistance(Y + i * w, Y + j * w, w);
    D[i * b + j] = dist;
    D[j * b + i] = dist;
  }
}

// Warp per row: K_ij = (ν/(ν + D_ij))^e (K_ii = 1),  R_i = Σ_j K_ij,  C_ij = clip(K_ij/R_i, 1e-10, 1).
__global__ void __launch_bounds__(kRowThreads) pairAffinityRowKernel(int64_t b, const double* __restrict__ D,
                                                                     StudentT kern, float* C) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (kRowThreads / 32);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kRowThreads / 32) + (threadIdx.x >> 5); i < b; i += warps) {
    const double* Drow = D + i * b;
    double R = 0.0;
    for (int64_t j = lane; j < b; j += 32) R += kern.value(Drow[j]);
    R = warpSum(R);
    for (int64_t j = lane; j < b; j += 32) {
      const double c = kern.value(Drow[j]) / R;
      C[i * b + j] = static_cast<float>(fmin(1.0, fmax(kPairClipMin, c)));
    }
  }
}

// Pair-kernel backward, pass 1 (warp per row), with G' = dC masked where the clip is active and C̃ = K/R:
//   H_ij = ((G'_ij − Σ_l G'_il C̃_il)/R_i)·K_ij·∂log u/∂D_ij   (∂L/∂D_ij through K_ij only).
__global__ void __launch_bounds__(kRowThreads) pairBackwardRowKernel(int64_t b, const double* __restrict__ D,
                                                                     StudentT kern, const float* __restrict__ dC,
                                                                     double* H) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (kRowThreads / 32);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kRowThreads / 32) + (threadIdx.x >> 5); i < b; i += warps) {
    const double* Drow = D + i * b;
    double R = 0.0;
    for (int64_t j = lane; j < b; j += 32) R += kern.value(Drow[j]);
    R = warpSum(R);
    double dot = 0.0;
    for (int64_t j = lane; j < b; j += 32) {
      const double c = kern.value(Drow[j]) / R;
      const double gm = (c >= kPairClipMin && c <= 1.0) ? static_cast<double>(dC[i * b + j]) : 0.0;
      dot += gm * c;
    }
    dot = warpSum(dot);
    for (int64_t j = lane; j < b; j += 32) {
      const double K = kern.value(Drow[j]);
      const double c = K / R;
      const double gm = (c >= kPairClipMin && c <= 1.0) ? static_cast<double>(dC[i * b + j]) : 0.0;
      H[i * b + j] = ((gm - dot) / R) * K * kern.dLogUdDist(Drow[j]);
    }
  }
}

// CDC's row KL with Keras clipping (the official code's KLDivergence) and its gradient, elementwise:
//   Ā = clip(A, 1e-7, 1), B̄ = clip(B, 1e-7, 1),
//   term = Ā log(Ā/B̄);  dA = scale·(log(Ā/B̄) + 1)·[1e-7 ≤ A ≤ 1];  dB = −scale·(Ā/B̄)·[1e-7 ≤ B ≤ 1].
// One double partial per block of the summed terms (fixed tree); the loss is scale·Σ.
__global__ void rowKlClippedKernel(int64_t count, const float* __restrict__ A, const float* __restrict__ B,
                                   double scale, float* dA, float* dB, double* partial) {
  __shared__ double red[32];
  const int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  double term = 0.0;
  if (e < count) {
    const double a = A[e], bv = B[e];
    const double aBar = fmin(1.0, fmax(kKlClipMin, a));
    const double bBar = fmin(1.0, fmax(kKlClipMin, bv));
    const double logRatio = log(aBar / bBar);
    term = aBar * logRatio;
    if (dA) dA[e] = (a >= kKlClipMin && a <= 1.0) ? static_cast<float>(scale * (logRatio + 1.0)) : 0.0f;
    if (dB) dB[e] = (bv >= kKlClipMin && bv <= 1.0) ? static_cast<float>(-scale * aBar / bBar) : 0.0f;
  }
  const double total = blockSum(term, red);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

// ---- host side -----------------------------------------------------------------------------------------------------

unsigned rowGrid(int64_t rows) { return blocksFor(rows, kRowThreads / 32); }

StudentT makeKernel(double nu) { return StudentT{nu, 0.5 * (nu + 1.0)}; }

// Column sums of an n×k matrix in double (fixed 256-row chunks, combined in order) into f (k doubles).
template <typename T>
void columnSums(int64_t n, int64_t k, const T* M, double* f, const char* op) {
  const int64_t chunks = std::max<int64_t>(1, ceilDiv(n, kChunkRows));
  Tensor partial = scratchF64(chunks * k);
  if (n == 0) {
    DGC_CUDA_CHECK(cudaMemsetAsync(f64(partial), 0, sizeof(double) * k, stream()), op);
  } else {
    const dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(std::min<int64_t>(ceilDiv(k, 128), 65535)),
                    1);
    columnChunkSumKernel<T><<<grid, 128, 0, stream()>>>(n, k, M, f64(partial));
    DGC_CUDA_LAUNCH_CHECK(op);
  }
  sumChunksDoubleKernel<<<blocksFor(k, 128), 128, 0, stream()>>>(f64(partial), n == 0 ? 1 : chunks, k, f);
  DGC_CUDA_LAUNCH_CHECK(op);
}

// Runs the row pass and the chain rule. dz / dmu may be null; `lossOut` (one double on the device) gets Σ_i loss_i
// for the KL / focal rules.
template <int RULE>
void studentTPass(RowArgs a, float* dz, float* dmu, double* lossOut, const char* op) {
  const int64_t n = a.n, k = a.k, d = a.d;
  const bool wantA = dz || dmu;
  a.wantA = wantA;
  Tensor dist = scratchF64(n * k), work = scratchF64(n * k), rowLoss;
  a.dist = f64(dist);
  a.work = f64(work);
  if (RULE == kRuleKl || RULE == kRuleFocal) {
    rowLoss = scratchF64(n);
    a.rowLoss = f64(rowLoss);
  }
  if (n > 0) {
    studentTRowKernel<RULE><<<rowGrid(n), kRowThreads, 0, stream()>>>(a);
    DGC_CUDA_LAUNCH_CHECK(op);
  }
  if (lossOut) {
    sumToDoubleKernel<<<1, 1024, 0, stream()>>>(a.rowLoss, n, lossOut);
    DGC_CUDA_LAUNCH_CHECK(op);
  }
  if (dz && n > 0) {
    studentTDzKernel<<<blocksFor(n * d, 256), 256, 0, stream()>>>(n, k, d, a.z, a.mu, a.work, dz);
    DGC_CUDA_LAUNCH_CHECK(op);
  }
  if (dmu && k * d > 0) {  // (d = 0: nothing to write, and a launch of 0 threads would be an invalid configuration)
    const int64_t chunks = ceilDiv(n, kChunkRows);
    if (chunks == 0) {
      DGC_CUDA_CHECK(cudaMemsetAsync(dmu, 0, sizeof(float) * k * d, stream()), op);
    } else {
      Tensor partial = scratchF64(chunks * k * d);
      const int threads = static_cast<int>(std::min<int64_t>(256, ((k * d + 31) / 32) * 32));
      studentTDmuPartialKernel<<<static_cast<unsigned>(chunks), threads, 0, stream()>>>(n, k, d, a.z, a.mu, a.work,
                                                                                         f64(partial));
      DGC_CUDA_LAUNCH_CHECK(op);
      sumChunksKernel<<<blocksFor(k * d, 128), 128, 0, stream()>>>(f64(partial), chunks, k * d, dmu);
      DGC_CUDA_LAUNCH_CHECK(op);
    }
  }
}

float* ptrOrNull(Tensor* t) { return t ? t->f32() : nullptr; }

// Pairwise squared distances of the b rows of y into a b×b double scratch.
Tensor pairDistances(const Tensor& y, const char* op) {
  const int64_t b = y.dim(0), w = y.dim(1);
  Tensor D = scratchF64(b * b);
  if (b > 0) {
    pairDistanceKernel<<<blocksFor(b * b, 256), 256, 0, stream()>>>(b, w, y.f32(), f64(D));
    DGC_CUDA_LAUNCH_CHECK(op);
  }
  return D;
}

void pairAffinityFromDistances(int64_t b, const double* D, double nu, float* C, const char* op) {
  if (b == 0) return;
  pairAffinityRowKernel<<<rowGrid(b), kRowThreads, 0, stream()>>>(b, D, makeKernel(nu), C);
  DGC_CUDA_LAUNCH_CHECK(op);
}

void pairAffinityBackwardFromDistances(int64_t b, int64_t w, const float* Y, const double* D, double nu,
                                       const float* dC, float* dY, const char* op) {
  if (b == 0) return;
  Tensor H = scratchF64(b * b);
  pairBackwardRowKernel<<<rowGrid(b), kRowThreads, 0, stream()>>>(b, D, makeKernel(nu), dC, f64(H));
  DGC_CUDA_LAUNCH_CHECK(op);
  pairDistanceGradKernel<<<blocksFor(b * w, 256), 256, 0, stream()>>>(b, w, Y, f64(H), dY);
  DGC_CUDA_LAUNCH_CHECK(op);
}

void targetDistributionImpl(int64_t n, int64_t k, const float* Q, float* P, const char* op) {
  if (n == 0 || k == 0) return;
  Tensor f = scratchF64(k);
  columnSums<float>(n, k, Q, f64(f), op);
  targetRowKernel<<<rowGrid(n), kRowThreads, 0, stream()>>>(n, k, Q, f64(f), P);
  DGC_CUDA_LAUNCH_CHECK(op);
}

void targetDistributionBackwardImpl(int64_t n, int64_t k, const float* Q, const float* dP, float* dQ,
                                    const char* op) {
  if (n == 0 || k == 0) return;
  Tensor f = scratchF64(k), colTerm = scratchF64(k);
  Tensor GW = scratchF64(n * k), GWW = scratchF64(n * k);
  columnSums<float>(n, k, Q, f64(f), op);
  targetBackwardRowKernel<<<rowGrid(n), kRowThreads, 0, stream()>>>(n, k, Q, dP, f64(f), f64(GW),
                                                                    f64(GWW));
  DGC_CUDA_LAUNCH_CHECK(op);
  columnSums<double>(n, k, f64(GWW), f64(colTerm), op);
  targetBackwardKernel<<<blocksFor(n * k, 256), 256, 0, stream()>>>(n, k, Q, f64(GW), f64(f),
                                                                   f64(colTerm), dQ);
  DGC_CUDA_LAUNCH_CHECK(op);
}

}  // namespace

void CudaBackend::studentT(const Tensor& z, const Tensor& mu, double nu, Tensor& q) {
  const char* op = "studentT";
  RowArgs a;
  a.n = z.dim(0);
  a.k = mu.dim(0);
  a.d = z.dim(1);
  a.z = z.f32();
  a.mu = mu.f32();
  a.kern = makeKernel(nu);
  a.qOut = q.f32();
  studentTPass<kRuleNone>(a, nullptr, nullptr, nullptr, op);
}

void CudaBackend::studentTBackward(const Tensor& z, const Tensor& mu, double nu, const Tensor& q, const Tensor& dq, Tensor* dz,
                      Tensor* dmu) {
  const char* op = "studentTBackward";
  RowArgs a;
  a.n = z.dim(0);
  a.k = mu.dim(0);
  a.d = z.dim(1);
  a.z = z.f32();
  a.mu = mu.f32();
  a.kern = makeKernel(nu);
  a.qIn = q.f32();
  a.dq = dq.f32();
  studentTPass<kRuleBackward>(a, ptrOrNull(dz), ptrOrNull(dmu), nullptr, op);
}

void CudaBackend::targetDistribution(const Tensor& q, Tensor& p) {
  targetDistributionImpl(q.dim(0), q.dim(1), q.f32(), p.f32(), "targetDistribution");
}

void CudaBackend::klStudentT(const std::vector<Tensor>& zs, const Tensor& mu, double nu, const Tensor& p, double scale,
                Tensor& loss, const std::vector<Tensor*>& dzs, Tensor* dmu) {
  const char* op = "klStudentT";
  const int parts = static_cast<int>(zs.size());
  Tensor losses = scratchF64(parts);
  // Triplet (cluster.h): three KLs with scale/3, centre gradients into three buffers combined (m1 + m2) + m3.
  Tensor muParts[3];
  for (int t = 0; t < parts; ++t) {
    RowArgs a;
    a.n = zs[t].dim(0);
    a.k = mu.dim(0);
    a.d = mu.dim(1);
    a.z = zs[t].f32();
    a.mu = mu.f32();
    a.kern = makeKernel(nu);
    a.p = p.f32();
    a.scale = parts == 3 ? scale / 3.0 : scale;
    float* dmuT = nullptr;
    if (dmu) {
      if (parts == 1) {
        dmuT = dmu->f32();
      } else {
        muParts[t] = scratchF32(mu.numel());
        dmuT = muParts[t].f32();
      }
    }
    studentTPass<kRuleKl>(a, t < static_cast<int>(dzs.size()) ? ptrOrNull(dzs[t]) : nullptr, dmuT,
                          f64(losses) + t, op);
  }
  if (dmu && parts == 3) {
    add3FloatKernel<<<blocksFor(mu.numel(), 256), 256, 0, stream()>>>(dmu->f32(), muParts[0].f32(), muParts[1].f32(),
                                                                      muParts[2].f32(), mu.numel());
    DGC_CUDA_LAUNCH_CHECK(op);
  }
  lossToFloatKernel<<<1, 32, 0, stream()>>>(f64(losses), parts, 1.0, loss.f32());
  DGC_CUDA_LAUNCH_CHECK(op);
}

void CudaBackend::focalStudentT(const Tensor& z, const Tensor& mu, double nu, const Tensor& p, double gamma, double scale,
                   Tensor& loss, Tensor* dz, Tensor* dmu) {
  const char* op = "focalStudentT";
  Tensor total = scratchF64(1);
  RowArgs a;
  a.n = z.dim(0);
  a.k = mu.dim(0);
  a.d = z.dim(1);
  a.z = z.f32();
  a.mu = mu.f32();
  a.kern = makeKernel(nu);
  a.p = p.f32();
  a.scale = scale;
  a.gamma = gamma;
  studentTPass<kRuleFocal>(a, ptrOrNull(dz), ptrOrNull(dmu), f64(total), op);
  lossToFloatKernel<<<1, 32, 0, stream()>>>(f64(total), 1, 1.0, loss.f32());
  DGC_CUDA_LAUNCH_CHECK(op);
}

void CudaBackend::pairAffinity(const Tensor& y, double nu, Tensor& c) {
  const char* op = "pairAffinity";
  Tensor D = pairDistances(y, op);
  pairAffinityFromDistances(y.dim(0), f64(D), nu, c.f32(), op);
}

void CudaBackend::pairAffinityBackward(const Tensor& y, double nu, const Tensor& dc, Tensor& dy) {
  const char* op = "pairAffinityBackward";
  Tensor D = pairDistances(y, op);
  pairAffinityBackwardFromDistances(y.dim(0), y.dim(1), y.f32(), f64(D), nu, dc.f32(), dy.f32(), op);
}

// CDC correlation loss (cluster.h): RowKL(Sharpen(PairKernel(Ya)) ‖ PairKernel(Yb)), scaled, with the gradients
// through both arguments, as the composition pairAffinity → targetDistribution → rowKlClipped →
// targetDistributionBackward → pairAffinityBackward on float intermediates.
void CudaBackend::cdcCorrelationLoss(const Tensor& ya, const Tensor& yb, double nu, double scale, Tensor& loss, Tensor* dya,
                        Tensor* dyb) {
  const char* op = "cdcCorrelationLoss";
  const int64_t b = ya.dim(0), bb = b * b;
  if (b == 0) {
    DGC_CUDA_CHECK(cudaMemsetAsync(loss.f32(), 0, sizeof(float), stream()), op);
    return;
  }
  Tensor Da = pairDistances(ya, op), Db = pairDistances(yb, op);
  Tensor Ca = scratchF32(bb), Sa = scratchF32(bb), Cb = scratchF32(bb);
  pairAffinityFromDistances(b, f64(Da), nu, Ca.f32(), op);
  targetDistributionImpl(b, b, Ca.f32(), Sa.f32(), op);
  pairAffinityFromDistances(b, f64(Db), nu, Cb.f32(), op);
  Tensor dSa, dCb;
  if (dya) dSa = scratchF32(bb);
  if (dyb) dCb = scratchF32(bb);
  const int64_t blocks = ceilDiv(bb, 256);
  Tensor partial = scratchF64(blocks), total = scratchF64(1);
  rowKlClippedKernel<<<static_cast<unsigned>(blocks), 256, 0, stream()>>>(
      bb, Sa.f32(), Cb.f32(), scale, dya ? dSa.f32() : nullptr, dyb ? dCb.f32() : nullptr, f64(partial));
  DGC_CUDA_LAUNCH_CHECK(op);
  sumToDoubleKernel<<<1, 1024, 0, stream()>>>(f64(partial), blocks, f64(total));
  DGC_CUDA_LAUNCH_CHECK(op);
  lossToFloatKernel<<<1, 32, 0, stream()>>>(f64(total), 1, scale, loss.f32());
  DGC_CUDA_LAUNCH_CHECK(op);
  if (dya) {
    Tensor dCa = scratchF32(bb);
    targetDistributionBackwardImpl(b, b, Ca.f32(), dSa.f32(), dCa.f32(), op);
    pairAffinityBackwardFromDistances(b, ya.dim(1), ya.f32(), f64(Da), nu, dCa.f32(), dya->f32(), op);
  }
  if (dyb) pairAffinityBackwardFromDistances(b, yb.dim(1), yb.f32(), f64(Db), nu, dCb.f32(), dyb->f32(), op);
}

}  // namespace cuda
}  // namespace dgc
