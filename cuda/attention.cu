// Fused multi-head attention and DFCN's self-correlation on the GPU (semantics: native/cpu/attention.h).
//
//   per head h:   out_h = softmax_rows(scale · Q_h K_hᵀ) V_h,   lse_ih = log Σ_j exp(scale · q_i·k_j)
//
// Nothing n×m is ever stored: logits live in registers for one key at a time (fast kernels) or in a 32×32 shared
// tile (generic kernels), and the backward recomputes them from the saved lse.
//
// FAST KERNELS (head widths dk, dv ≤ 64; both padded with zeros to one bucket D ∈ {4, 8, 12, 16, 20, 24, 32, 48, 64})
//   A thread OWNS TM rows (query rows in the forward, the backward's query pass and the self-correlation pass; key
//   rows in the backward's key pass) and keeps everything that belongs to them in registers: the row itself, its
//   accumulators, its softmax statistics. The other side (keys and values, or queries and dOut) is streamed through
//   shared memory in tiles of BN rows, and every thread of the block walks the same tile row at the same time, so
//   every shared load is a broadcast (one float4 per 4 columns, no bank conflicts). Per key and row the forward does
//   2·D FMAs, one exp2 and three other instructions: the inner loop is FMA-bound, not memory- or shuffle-bound.
//   No cross-thread reduction happens anywhere inside a sweep.
//
//   Online softmax with LAZY RESCALING: the running maximum m_i (in log2 units: Q is pre-multiplied by
//   scale·log2 e) is only raised when a logit exceeds it by more than 8, so the usual per-tile rescale of the
//   accumulators (D multiplies per row) becomes a rare, warp-divergent branch. The weights exp2(s − m_i) are then
//   ≤ 2^8, and ℓ_i ≥ 1 (the logit that set m_i contributes exp2(0)); out_i = o_i/ℓ_i and lse_i = (m_i + log2 ℓ_i)·ln 2
//   are the same quantities as with the exact maximum, up to float rounding.
//
//   Small n: when there are fewer row blocks than the split target (common.cuh, planSplits: a count computed from the
//   shapes alone, never from the GPU), the other side is split into ranges (split-K / flash-decoding). Forward splits
//   write (m, ℓ, o) partials that a combine kernel merges in split order; backward splits write partial gradients
//   that are summed in split order. Every output element is produced by one thread in an order fixed by the sizes,
//   so results are bit-for-bit repeatable on any GPU (no atomics).
//
// BACKWARD (the softmax-attention backward, with flash-attention 2 recomputation):
//   D_i = Σ_c dOut_ic·out_ic,  p_ij = exp(s_ij − lse_i),  dS_ij = p_ij (dOut_i·v_j − D_i),
//   dQ_i = scale Σ_j dS_ij k_j   (query pass: threads own query rows, sweep keys),
//   dK_j = scale Σ_i dS_ij q_i,  dV_j = Σ_i p_ij dOut_i   (key pass: threads own key rows, sweep queries).
//   dK and dV are accumulated by the thread that owns the key, in query order: deterministic, no atomics.
//
// SELF-CORRELATION (DFCN's SAIF steps ③–④; Q = K = V = Z, one head, scale 1): one fused pass, as on the CPU,
//   dZ_i = Σ_j (dS_ij + dS_ji) z_j + Σ_j p_ji dOut_j,  p_ji = exp(s_ij − lse_j),  dS_ji = p_ji (dOut_j·z_i − D_j)
//   (= dQ + dK + dV): 10·d flops and two exp2 per pair, threads own rows i and sweep j. Widths above 48 (where the
//   fused pass would spill) take dQ + dK + dV from the attention backward instead.
//
// REGISTER BUDGET (ptxas -v, sm_90, d = 20): forward 234 registers (TM = 4 rows per thread), query pass 206, key
//   pass 234, self-correlation pass 219, no spills; 64-thread blocks of 10–11 KiB shared memory. Above 32 columns
//   the key pass runs twice (dV, then dK) to stay in registers. See FastCfg for the rows per thread of each bucket.
//
// EXPECTED SPEED (not measured: written on a machine without a GPU; test/native/cuda_fused_test.cu times it). In the
//   forward's PTX, one key for TM = 4 rows of d = 20 is ~200 instructions of which 160 are FMAs, so the issue-bound
//   ceiling is ~80% of the FP32 FMA peak; the target is ≥ 40% (27 TFLOP/s of the H100's 67) at N = 10^6, counted as
//   4·N²·d flops. The self-correlation backward does 10·N²·d flops (5·d FMAs per pair) and two exp2 per pair.
//
// GENERIC KERNELS (dk or dv > 64): blocks of 32 rows × 32 keys with the logits in shared memory and the row-owned
//   accumulators (out, dQ, or dK/dV) read-modified-written in place in global memory; correct for any width, not
//   tuned.
//
// Numerics vs the CPU: same formulas and the same log2-domain evaluation; exp2 is the hardware ex2.approx (relative
// error ~2^-22, results below 2^-126 flushed to 0, as the CPU's polynomial flushes below 2^-125); dot products are
// sequential FMA chains. Results agree with the CPU to float rounding (see test/native/cuda_fused_test.cu).
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "common.cuh"
#include "cuda_backend.h"

namespace dgc {
namespace cuda {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr float kLazyRescale = 8.0f;  // raise the running max only when a logit exceeds it by more than this
constexpr int kMaxSplits = 32;

__device__ __forceinline__ float fastExp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// Everything a kernel of this file needs. Row strides in floats; column block of head h starts at h·dk (h·dv).
struct AttnParams {
  int64_t n = 0, m = 0;  // query rows, key rows
  int heads = 1, dk = 0, dv = 0;
  float scale = 1.0f;
  const float *q = nullptr, *k = nullptr, *v = nullptr;
  int64_t ldq = 0, ldk = 0, ldv = 0;
  // forward
  float* out = nullptr;
  int64_t ldo = 0;
  float* lse = nullptr;  // n × heads
  float *partM = nullptr, *partL = nullptr, *partO = nullptr;  // split partials, [split][head][n] (·dv for O)
  // backward
  const float* outF = nullptr;  // forward output (for D)
  const float* dOut = nullptr;
  int64_t lddo = 0;
  const float* lse2 = nullptr;   // [head][n] lse·log2 e
  const float* delta = nullptr;  // [head][n] D_i
  float *gradQ = nullptr, *gradK = nullptr, *gradV = nullptr;  // outputs, or split partial bases (dense rows)
  int64_t ldgq = 0, ldgk = 0, ldgv = 0;
  int64_t splitStrideQ = 0, splitStrideK = 0, splitStrideV = 0;  // floats between split partial buffers
  int64_t span = 0;  // keys (or queries, in the key pass) per split
};

// Launch geometry of the fast kernels for one bucket D.
template <int D>
struct FastCfg {
  static constexpr int kThreads = 64;
  static constexpr int kBN = D <= 32 ? 64 : 32;  // tile rows of the streamed side
  // Rows per thread, chosen so that the row state (2·D floats per row in the forward, 3·D in the query and
  // self-correlation passes, 4·D in the key pass) stays in registers without spilling (ptxas -v, sm_80/sm_90).
  static constexpr int tmForward() { return D <= 20 ? 4 : (D <= 24 ? 3 : (D <= 32 ? 2 : 1)); }
  static constexpr int tmQuery() { return D <= 24 ? 2 : 1; }
  static constexpr int tmKey() { return D <= 20 ? 2 : 1; }
  static constexpr int tmSelf() { return D <= 24 ? 2 : 1; }
  // Above 32 columns the key pass runs twice (dV, then dK) so that it needs 2·D and 3·D registers per row
  // instead of 4·D (s and p are recomputed: 2·D more flops per pair).
  static constexpr bool kSplitKeyPass = D > 32;
};

// Unrolling of the streamed-row loops (lets the next row's loads overlap this row's exp2; above 32 columns the
// extra registers would spill).
template <int D>
constexpr int kStreamUnroll = D <= 32 ? 2 : 1;

// What the key pass computes: both gradients, dV only, or dK only.
enum KeyPassMode { kKeyBoth = 0, kKeyDvOnly = 1, kKeyDkOnly = 2 };

// ---- forward (fast) ------------------------------------------------------------------------------------------------
// Per owned query row i (logits in log2 units, s_ij = scale·log2e·q_i·k_j), over the keys j of this split:
//   lazy online softmax:  if s_ij − m_i > 8:  o_i ← o_i·2^(m_i − s_ij), ℓ_i ← ℓ_i·2^(m_i − s_ij), m_i ← s_ij
//                         w = 2^(s_ij − m_i);  ℓ_i += w;  o_i += w·v_j
//   then out_i = o_i/ℓ_i and lse_i = (m_i + log2 ℓ_i)·ln 2 (one split), or (m_i, ℓ_i, o_i) as split partials.
template <int D, int TM, int BN, int THREADS>
__global__ void __launch_bounds__(THREADS) attnForwardKernel(const AttnParams p) {
  __shared__ float4 kTile4[BN * D / 4];
  __shared__ float4 vTile4[BN * D / 4];
  float* kTile = reinterpret_cast<float*>(kTile4);
  float* vTile = reinterpret_cast<float*>(vTile4);
  const int h = blockIdx.z;
  const int split = blockIdx.y;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * (THREADS * TM) + threadIdx.x;
  const int64_t jBegin = static_cast<int64_t>(split) * p.span;
  const int64_t jEnd = min(p.m, jBegin + p.span);
  const float* qh = p.q + static_cast<int64_t>(h) * p.dk;
  const float* kh = p.k + static_cast<int64_t>(h) * p.dk;
  const float* vh = p.v + static_cast<int64_t>(h) * p.dv;

  float q[TM][D], o[TM][D], mx[TM], l[TM];
  const float qScale = p.scale * kLog2e;
#pragma unroll
  for (int u = 0; u < TM; ++u) {
    loadRow<D>(q[u], qh, p.ldq, row0 + u * THREADS, p.n, p.dk, qScale);
#pragma unroll
    for (int c = 0; c < D; ++c) o[u][c] = 0.0f;
    mx[u] = -INFINITY;  // the first key rescales by 2^-inf = 0 (exact, no NaN: logits are finite)
    l[u] = 0.0f;
  }

  for (int64_t j0 = jBegin; j0 < jEnd; j0 += BN) {
    __syncthreads();
    loadTile<D, BN, THREADS>(kTile, kh, p.ldk, j0, jEnd, p.dk);
    loadTile<D, BN, THREADS>(vTile, vh, p.ldv, j0, jEnd, p.dv);
    __syncthreads();
    const int keys = static_cast<int>(min(static_cast<int64_t>(BN), jEnd - j0));
#pragma unroll(kStreamUnroll<D>)
    for (int j = 0; j < keys; ++j) {
      float s[TM], w[TM];
      bool raise = false;
#pragma unroll
      for (int u = 0; u < TM; ++u) {
        s[u] = dotShared<D>(q[u], kTile + j * D);
        raise |= s[u] - mx[u] > kLazyRescale;
      }
      if (raise) {  // rare after the first keys: raise the max of the rows that need it, rescale them
#pragma unroll
        for (int u = 0; u < TM; ++u) {
          const float mNew = s[u] - mx[u] > kLazyRescale ? s[u] : mx[u];
          const float alpha = fastExp2(mx[u] - mNew);  // 1 for rows left alone, 0 for the very first key
          l[u] *= alpha;
#pragma unroll
          for (int c = 0; c < D; ++c) o[u][c] *= alpha;
          mx[u] = mNew;
        }
      }
#pragma unroll
      for (int u = 0; u < TM; ++u) {
        w[u] = fastExp2(s[u] - mx[u]);
        l[u] += w[u];
      }
      axpyShared(w, vTile + j * D, o);
    }
  }

#pragma unroll
  for (int u = 0; u < TM; ++u) {
    const int64_t row = row0 + u * THREADS;
    if (row >= p.n) continue;
    if (!p.partO) {
      storeRow<D>(o[u], p.out + static_cast<int64_t>(h) * p.dv, p.ldo, row, p.n, p.dv, 1.0f / l[u]);
      p.lse[row * p.heads + h] = (mx[u] + log2f(l[u])) * kLn2;
    } else {
      const int64_t at = (static_cast<int64_t>(split) * p.heads + h) * p.n + row;
      p.partM[at] = mx[u];
      p.partL[at] = l[u];
      float* po = p.partO + at * p.dv;
#pragma unroll
      for (int c = 0; c < D; ++c)
        if (c < p.dv) po[c] = o[u][c];
    }
  }
}

// Merges the split partials of row i, head h (in split order):
//   M = max_s m_s,  ℓ = Σ_s ℓ_s·2^(m_s − M),  out_i = Σ_s o_s·2^(m_s − M) / ℓ,  lse_i = (M + log2 ℓ)·ln 2.
__global__ void attnCombineKernel(const AttnParams p, int splits) {
  const int64_t total = p.n * p.heads;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = idx / p.heads;
    const int h = static_cast<int>(idx - row * p.heads);
    float weight[kMaxSplits];
    float M = -INFINITY;
    for (int s = 0; s < splits; ++s) M = fmaxf(M, p.partM[(static_cast<int64_t>(s) * p.heads + h) * p.n + row]);
    float L = 0.0f;
    for (int s = 0; s < splits; ++s) {
      const int64_t at = (static_cast<int64_t>(s) * p.heads + h) * p.n + row;
      weight[s] = fastExp2(p.partM[at] - M);
      L += p.partL[at] * weight[s];
    }
    const float inv = 1.0f / L;
    float* dst = p.out + row * p.ldo + static_cast<int64_t>(h) * p.dv;
    for (int c = 0; c < p.dv; ++c) {
      float acc = 0.0f;
      for (int s = 0; s < splits; ++s)
        acc = fmaf(p.partO[((static_cast<int64_t>(s) * p.heads + h) * p.n + row) * p.dv + c], weight[s], acc);
      dst[c] = acc * inv;
    }
    p.lse[row * p.heads + h] = (M + log2f(L)) * kLn2;
  }
}

// ---- backward (fast) ------------------------------------------------------------------------------------------------

// D_i = Σ_c dOut_ic·out_ic per head, and lse2_i = lse_i·log2 e, both stored head-major ([head][n]).
__global__ void attnPrepKernel(const AttnParams p, float* lse2, float* delta) {
  const int64_t total = p.n * p.heads;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = idx / p.heads;
    const int h = static_cast<int>(idx - row * p.heads);
    const float* o = p.outF + row * p.ldo + static_cast<int64_t>(h) * p.dv;
    const float* g = p.dOut + row * p.lddo + static_cast<int64_t>(h) * p.dv;
    float acc = 0.0f;
    for (int c = 0; c < p.dv; ++c) acc = fmaf(g[c], o[c], acc);
    delta[static_cast<int64_t>(h) * p.n + row] = acc;
    lse2[static_cast<int64_t>(h) * p.n + row] = p.lse[row * p.heads + h] * kLog2e;
  }
}

// Query pass, per owned query row i over the keys j of this split (s in log2 units):
//   p_ij = 2^(s_ij − lse2_i),  dS_ij = p_ij·(dOut_i·v_j − D_i),  dQ_i = scale·Σ_j dS_ij k_j.
template <int D, int TM, int BN, int THREADS>
__global__ void __launch_bounds__(THREADS) attnBackwardQueryKernel(const AttnParams p) {
  __shared__ float4 kTile4[BN * D / 4];
  __shared__ float4 vTile4[BN * D / 4];
  float* kTile = reinterpret_cast<float*>(kTile4);
  float* vTile = reinterpret_cast<float*>(vTile4);
  const int h = blockIdx.z;
  const int split = blockIdx.y;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * (THREADS * TM) + threadIdx.x;
  const int64_t jBegin = static_cast<int64_t>(split) * p.span;
  const int64_t jEnd = min(p.m, jBegin + p.span);
  const float* kh = p.k + static_cast<int64_t>(h) * p.dk;
  const float* vh = p.v + static_cast<int64_t>(h) * p.dv;

  float q[TM][D], g[TM][D], acc[TM][D], lse2[TM], delta[TM];
  const float qScale = p.scale * kLog2e;
#pragma unroll
  for (int u = 0; u < TM; ++u) {
    const int64_t row = row0 + u * THREADS;
    loadRow<D>(q[u], p.q + static_cast<int64_t>(h) * p.dk, p.ldq, row, p.n, p.dk, qScale);
    loadRow<D>(g[u], p.dOut + static_cast<int64_t>(h) * p.dv, p.lddo, row, p.n, p.dv, 1.0f);
#pragma unroll
    for (int c = 0; c < D; ++c) acc[u][c] = 0.0f;
    lse2[u] = row < p.n ? p.lse2[static_cast<int64_t>(h) * p.n + row] : 0.0f;
    delta[u] = row < p.n ? p.delta[static_cast<int64_t>(h) * p.n + row] : 0.0f;
  }

  for (int64_t j0 = jBegin; j0 < jEnd; j0 += BN) {
    __syncthreads();
    loadTile<D, BN, THREADS>(kTile, kh, p.ldk, j0, jEnd, p.dk);
    loadTile<D, BN, THREADS>(vTile, vh, p.ldv, j0, jEnd, p.dv);
    __syncthreads();
    const int keys = static_cast<int>(min(static_cast<int64_t>(BN), jEnd - j0));
#pragma unroll(kStreamUnroll<D>)
    for (int j = 0; j < keys; ++j) {
      float ds[TM];
#pragma unroll
      for (int u = 0; u < TM; ++u) {
        const float pr = fastExp2(dotShared<D>(q[u], kTile + j * D) - lse2[u]);
        ds[u] = pr * (dotShared<D>(g[u], vTile + j * D) - delta[u]);
      }
      axpyShared(ds, kTile + j * D, acc);
    }
  }
  float* dst = p.gradQ + static_cast<int64_t>(split) * p.splitStrideQ + static_cast<int64_t>(h) * p.dk;
#pragma unroll
  for (int u = 0; u < TM; ++u) storeRow<D>(acc[u], dst, p.ldgq, row0 + u * THREADS, p.n, p.dk, p.scale);
}

// Key pass, per owned key row j over the queries i of this split:
//   p_ij = 2^(s_ij − lse2_i),  dS_ij = p_ij·(dOut_i·v_j − D_i),  dV_j = Σ_i p_ij dOut_i,  dK_j = scale·Σ_i dS_ij q_i.
template <int D, int TM, int BN, int THREADS, int MODE>
__global__ void __launch_bounds__(THREADS) attnBackwardKeyKernel(const AttnParams p) {
  constexpr bool kWantDk = MODE != kKeyDvOnly, kWantDv = MODE != kKeyDkOnly;
  __shared__ float4 qTile4[BN * D / 4];
  __shared__ float4 gTile4[BN * D / 4];
  __shared__ float lseTile[BN], deltaTile[BN];
  float* qTile = reinterpret_cast<float*>(qTile4);
  float* gTile = reinterpret_cast<float*>(gTile4);
  const int h = blockIdx.z;
  const int split = blockIdx.y;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * (THREADS * TM) + threadIdx.x;
  const int64_t iBegin = static_cast<int64_t>(split) * p.span;
  const int64_t iEnd = min(p.n, iBegin + p.span);
  const float* qh = p.q + static_cast<int64_t>(h) * p.dk;
  const float* gh = p.dOut + static_cast<int64_t>(h) * p.dv;
  const float* lse2h = p.lse2 + static_cast<int64_t>(h) * p.n;
  const float* deltah = p.delta + static_cast<int64_t>(h) * p.n;

  // (Arrays a mode does not use are never touched and take no registers.)
  float kk[TM][D], vv[TM][D], dK[TM][D], dV[TM][D];
  const float kScale = p.scale * kLog2e;
#pragma unroll
  for (int u = 0; u < TM; ++u) {
    const int64_t row = row0 + u * THREADS;
    loadRow<D>(kk[u], p.k + static_cast<int64_t>(h) * p.dk, p.ldk, row, p.m, p.dk, kScale);
    if (kWantDk) loadRow<D>(vv[u], p.v + static_cast<int64_t>(h) * p.dv, p.ldv, row, p.m, p.dv, 1.0f);
#pragma unroll
    for (int c = 0; c < D; ++c) dK[u][c] = dV[u][c] = 0.0f;
  }

  for (int64_t i0 = iBegin; i0 < iEnd; i0 += BN) {
    __syncthreads();
    loadTile<D, BN, THREADS>(qTile, qh, p.ldq, i0, iEnd, p.dk);
    loadTile<D, BN, THREADS>(gTile, gh, p.lddo, i0, iEnd, p.dv);
    loadScalars<BN, THREADS>(lseTile, lse2h, i0, iEnd, 0.0f);
    loadScalars<BN, THREADS>(deltaTile, deltah, i0, iEnd, 0.0f);
    __syncthreads();
    const int queries = static_cast<int>(min(static_cast<int64_t>(BN), iEnd - i0));
#pragma unroll(kStreamUnroll<D>)
    for (int i = 0; i < queries; ++i) {
      const float lse2 = lseTile[i], delta = deltaTile[i];
      float pr[TM], ds[TM];
#pragma unroll
      for (int u = 0; u < TM; ++u) {
        pr[u] = fastExp2(dotShared<D>(kk[u], qTile + i * D) - lse2);
        if (kWantDk) ds[u] = pr[u] * (dotShared<D>(vv[u], gTile + i * D) - delta);
      }
      if (kWantDk) axpyShared(ds, qTile + i * D, dK);
      if (kWantDv) axpyShared(pr, gTile + i * D, dV);
    }
  }
  float* dstK = p.gradK + static_cast<int64_t>(split) * p.splitStrideK + static_cast<int64_t>(h) * p.dk;
  float* dstV = p.gradV + static_cast<int64_t>(split) * p.splitStrideV + static_cast<int64_t>(h) * p.dv;
#pragma unroll
  for (int u = 0; u < TM; ++u) {
    if (kWantDk) storeRow<D>(dK[u], dstK, p.ldgk, row0 + u * THREADS, p.m, p.dk, p.scale);
    if (kWantDv) storeRow<D>(dV[u], dstV, p.ldgv, row0 + u * THREADS, p.m, p.dv, 1.0f);
  }
}

// Self-correlation backward, per owned row i over the rows j of this split (Z = Q = K = V, scale 1, d = dk = dv):
//   s = z_i·z_j,  p_ij = 2^(s·log2e − lse2_i),  p_ji = 2^(s·log2e − lse2_j),
//   dS_ij = p_ij (dOut_i·z_j − D_i),  dS_ji = p_ji (dOut_j·z_i − D_j),
//   dZ_i = Σ_j (dS_ij + dS_ji) z_j + Σ_j p_ji dOut_j.
template <int D, int TM, int BN, int THREADS>
__global__ void __launch_bounds__(THREADS) selfBackwardKernel(const AttnParams p) {
  __shared__ float4 zTile4[BN * D / 4];
  __shared__ float4 gTile4[BN * D / 4];
  __shared__ float lseTile[BN], deltaTile[BN];
  float* zTile = reinterpret_cast<float*>(zTile4);
  float* gTile = reinterpret_cast<float*>(gTile4);
  const int split = blockIdx.y;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * (THREADS * TM) + threadIdx.x;
  const int64_t jBegin = static_cast<int64_t>(split) * p.span;
  const int64_t jEnd = min(p.n, jBegin + p.span);

  float z[TM][D], g[TM][D], acc[TM][D], lse2[TM], delta[TM];
#pragma unroll
  for (int u = 0; u < TM; ++u) {
    const int64_t row = row0 + u * THREADS;
    loadRow<D>(z[u], p.q, p.ldq, row, p.n, p.dk, 1.0f);
    loadRow<D>(g[u], p.dOut, p.lddo, row, p.n, p.dk, 1.0f);
#pragma unroll
    for (int c = 0; c < D; ++c) acc[u][c] = 0.0f;
    lse2[u] = row < p.n ? p.lse2[row] : 0.0f;
    delta[u] = row < p.n ? p.delta[row] : 0.0f;
  }

  for (int64_t j0 = jBegin; j0 < jEnd; j0 += BN) {
    __syncthreads();
    loadTile<D, BN, THREADS>(zTile, p.q, p.ldq, j0, jEnd, p.dk);
    loadTile<D, BN, THREADS>(gTile, p.dOut, p.lddo, j0, jEnd, p.dk);
    loadScalars<BN, THREADS>(lseTile, p.lse2, j0, jEnd, 0.0f);
    loadScalars<BN, THREADS>(deltaTile, p.delta, j0, jEnd, 0.0f);
    __syncthreads();
    const int keys = static_cast<int>(min(static_cast<int64_t>(BN), jEnd - j0));
#pragma unroll(kStreamUnroll<D>)
    for (int j = 0; j < keys; ++j) {
      const float lse2j = lseTile[j], deltaj = deltaTile[j];
      const float* zj = zTile + j * D;
      const float* gj = gTile + j * D;
      float wz[TM], wg[TM];
#pragma unroll
      for (int u = 0; u < TM; ++u) {
        const float s = dotShared<D>(z[u], zj);
        const float pij = fastExp2(fmaf(s, kLog2e, -lse2[u]));
        const float pji = fastExp2(fmaf(s, kLog2e, -lse2j));
        const float dsij = pij * (dotShared<D>(g[u], zj) - delta[u]);
        const float dsji = pji * (dotShared<D>(z[u], gj) - deltaj);
        wz[u] = dsij + dsji;
        wg[u] = pji;
      }
      const float4* z4 = reinterpret_cast<const float4*>(zj);
      const float4* g4 = reinterpret_cast<const float4*>(gj);
#pragma unroll
      for (int c = 0; c < D / 4; ++c) {
        const float4 x = z4[c], y = g4[c];
#pragma unroll
        for (int u = 0; u < TM; ++u) {
          acc[u][4 * c + 0] = fmaf(wg[u], y.x, fmaf(wz[u], x.x, acc[u][4 * c + 0]));
          acc[u][4 * c + 1] = fmaf(wg[u], y.y, fmaf(wz[u], x.y, acc[u][4 * c + 1]));
          acc[u][4 * c + 2] = fmaf(wg[u], y.z, fmaf(wz[u], x.z, acc[u][4 * c + 2]));
          acc[u][4 * c + 3] = fmaf(wg[u], y.w, fmaf(wz[u], x.w, acc[u][4 * c + 3]));
        }
      }
    }
  }
  float* dst = p.gradQ + static_cast<int64_t>(split) * p.splitStrideQ;
#pragma unroll
  for (int u = 0; u < TM; ++u) storeRow<D>(acc[u], dst, p.ldgq, row0 + u * THREADS, p.n, p.dk, 1.0f);
}

// dst[r·width + c] = Σ_s part[s·stride + r·width + c], s in order (split partial sums; dense rows).
__global__ void sumSplitsKernel(float* dst, const float* part, int64_t stride, int splits, int64_t count) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float acc = part[e];
    for (int s = 1; s < splits; ++s) acc += part[s * stride + e];
    dst[e] = acc;
  }
}

// out = a + b + c elementwise (self-correlation through the generic path: dZ = dQ + dK + dV).
__global__ void add3Kernel(float* out, const float* b, const float* c, int64_t count) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[e] = (out[e] + b[e]) + c[e];
}

// ---- generic kernels (any head width) ------------------------------------------------------------------------------
constexpr int kGenRows = 32, kGenKeys = 32, kGenThreads = 128;

// base[(r0 + r)·ld + c] = 0 for the block's 32 rows r (those with r0 + r < rowEnd) and c < width: the row-owned
// accumulators the generic kernels then update in place.
__device__ __forceinline__ void zeroBlockRows(float* base, int64_t ld, int64_t r0, int64_t rowEnd, int width) {
  for (int e = threadIdx.x; e < 32 * width; e += kGenThreads) {
    const int r = e / width, c = e - r * width;
    if (r0 + r < rowEnd) base[(r0 + r) * ld + c] = 0.0f;
  }
}

// Forward, block = 32 query rows of one head; exact online softmax over 32-key tiles held in shared memory:
//   S = scale·log2e·Q_blk K_tileᵀ;  m' = max(m, max_j S);  P = 2^(S − m');  ℓ = ℓ·2^(m − m') + Σ_j P;
//   o = o·2^(m − m') + P V_tile  (o kept in `out`, row-owned);  finally out = o/ℓ, lse = (m + log2 ℓ)·ln 2.
__global__ void __launch_bounds__(kGenThreads) attnForwardGenericKernel(const AttnParams p) {
  __shared__ float S[kGenRows][kGenKeys + 1];
  __shared__ float rowM[kGenRows], rowL[kGenRows], rowA[kGenRows];
  const int h = blockIdx.z;
  const int64_t i0 = static_cast<int64_t>(blockIdx.x) * kGenRows;
  const float qScale = p.scale * kLog2e;
  const float* qh = p.q + static_cast<int64_t>(h) * p.dk;
  const float* kh = p.k + static_cast<int64_t>(h) * p.dk;
  const float* vh = p.v + static_cast<int64_t>(h) * p.dv;
  float* oh = p.out + static_cast<int64_t>(h) * p.dv;
  if (threadIdx.x < kGenRows) rowM[threadIdx.x] = -INFINITY, rowL[threadIdx.x] = 0.0f;
  zeroBlockRows(oh, p.ldo, i0, p.n, p.dv);
  for (int64_t j0 = 0; j0 < p.m; j0 += kGenKeys) {
    const int keys = static_cast<int>(min(static_cast<int64_t>(kGenKeys), p.m - j0));
    __syncthreads();
    for (int e = threadIdx.x; e < kGenRows * kGenKeys; e += kGenThreads) {
      const int r = e / kGenKeys, c = e % kGenKeys;
      float s = -INFINITY;
      if (i0 + r < p.n && c < keys) {
        const float* qi = qh + (i0 + r) * p.ldq;
        const float* kj = kh + (j0 + c) * p.ldk;
        float acc = 0.0f;
        for (int t = 0; t < p.dk; ++t) acc = fmaf(qi[t] * qScale, kj[t], acc);
        s = acc;
      }
      S[r][c] = s;
    }
    __syncthreads();
    if (threadIdx.x < kGenRows) {
      const int r = threadIdx.x;
      float tileMax = -INFINITY;
      for (int c = 0; c < keys; ++c) tileMax = fmaxf(tileMax, S[r][c]);
      const float mNew = fmaxf(rowM[r], tileMax);
      const bool none = mNew == -INFINITY;  // a padding row
      const float alpha = none ? 1.0f : fastExp2(rowM[r] - mNew);
      float sum = 0.0f;
      for (int c = 0; c < kGenKeys; ++c) {
        const float w = (c < keys && !none) ? fastExp2(S[r][c] - mNew) : 0.0f;
        S[r][c] = w;
        sum += w;
      }
      rowL[r] = rowL[r] * alpha + sum;
      rowM[r] = mNew;
      rowA[r] = alpha;
    }
    __syncthreads();
    for (int e = threadIdx.x; e < kGenRows * p.dv; e += kGenThreads) {
      const int r = e / p.dv, c = e - r * p.dv;
      if (i0 + r >= p.n) continue;
      float* o = oh + (i0 + r) * p.ldo + c;
      float acc = *o * rowA[r];
      for (int j = 0; j < keys; ++j) acc = fmaf(S[r][j], vh[(j0 + j) * p.ldv + c], acc);
      *o = acc;
    }
  }
  __syncthreads();
  for (int e = threadIdx.x; e < kGenRows * p.dv; e += kGenThreads) {
    const int r = e / p.dv, c = e - r * p.dv;
    if (i0 + r < p.n) oh[(i0 + r) * p.ldo + c] /= rowL[r];
  }
  if (threadIdx.x < kGenRows && i0 + threadIdx.x < p.n)
    p.lse[(i0 + threadIdx.x) * p.heads + h] = (rowM[threadIdx.x] + log2f(rowL[threadIdx.x])) * kLn2;
}

// P and dS of a 32×32 (query, key) tile of one head into shared memory (rows/cols outside the matrix give 0):
//   P_rc = 2^(scale·log2e·q_i·k_j − lse2_i),  dS_rc = P_rc·(dOut_i·v_j − D_i),  i = i0 + r, j = j0 + c.
__device__ void genericProbTile(const AttnParams& p, int h, int64_t i0, int64_t j0, float (*P)[kGenKeys + 1],
                                float (*dS)[kGenKeys + 1]) {
  const float qScale = p.scale * kLog2e;
  const float* qh = p.q + static_cast<int64_t>(h) * p.dk;
  const float* kh = p.k + static_cast<int64_t>(h) * p.dk;
  const float* vh = p.v + static_cast<int64_t>(h) * p.dv;
  const float* gh = p.dOut + static_cast<int64_t>(h) * p.dv;
  for (int e = threadIdx.x; e < kGenRows * kGenKeys; e += kGenThreads) {
    const int r = e / kGenKeys, c = e % kGenKeys;
    const int64_t i = i0 + r, j = j0 + c;
    float pr = 0.0f, ds = 0.0f;
    if (i < p.n && j < p.m) {
      const float* qi = qh + i * p.ldq;
      const float* kj = kh + j * p.ldk;
      float s = 0.0f;
      for (int t = 0; t < p.dk; ++t) s = fmaf(qi[t] * qScale, kj[t], s);
      pr = fastExp2(s - p.lse2[static_cast<int64_t>(h) * p.n + i]);
      const float* gi = gh + i * p.lddo;
      const float* vj = vh + j * p.ldv;
      float dp = 0.0f;
      for (int t = 0; t < p.dv; ++t) dp = fmaf(gi[t], vj[t], dp);
      ds = pr * (dp - p.delta[static_cast<int64_t>(h) * p.n + i]);
    }
    P[r][c] = pr;
    dS[r][c] = ds;
  }
}

// Generic query pass: block = 32 query rows of one head; dQ_i = scale·Σ_j dS_ij k_j accumulated in place.
__global__ void __launch_bounds__(kGenThreads) attnBackwardQueryGenericKernel(const AttnParams p) {
  __shared__ float P[kGenRows][kGenKeys + 1], dS[kGenRows][kGenKeys + 1];
  const int h = blockIdx.z;
  const int64_t i0 = static_cast<int64_t>(blockIdx.x) * kGenRows;
  const float* kh = p.k + static_cast<int64_t>(h) * p.dk;
  float* dqh = p.gradQ + static_cast<int64_t>(h) * p.dk;
  zeroBlockRows(dqh, p.ldgq, i0, p.n, p.dk);
  for (int64_t j0 = 0; j0 < p.m; j0 += kGenKeys) {
    const int keys = static_cast<int>(min(static_cast<int64_t>(kGenKeys), p.m - j0));
    __syncthreads();
    genericProbTile(p, h, i0, j0, P, dS);
    __syncthreads();
    for (int e = threadIdx.x; e < kGenRows * p.dk; e += kGenThreads) {
      const int r = e / p.dk, c = e - r * p.dk;
      if (i0 + r >= p.n) continue;
      float acc = 0.0f;
      for (int j = 0; j < keys; ++j) acc = fmaf(dS[r][j], kh[(j0 + j) * p.ldk + c], acc);
      dqh[(i0 + r) * p.ldgq + c] += p.scale * acc;
    }
  }
}

// Generic key pass: block = 32 keys of one head; dV_j = Σ_i p_ij dOut_i, dK_j = scale·Σ_i dS_ij q_i in place.
__global__ void __launch_bounds__(kGenThreads) attnBackwardKeyGenericKernel(const AttnParams p) {
  __shared__ float P[kGenRows][kGenKeys + 1], dS[kGenRows][kGenKeys + 1];
  const int h = blockIdx.z;
  const int64_t j0 = static_cast<int64_t>(blockIdx.x) * kGenKeys;
  const float* qh = p.q + static_cast<int64_t>(h) * p.dk;
  const float* gh = p.dOut + static_cast<int64_t>(h) * p.dv;
  float* dkh = p.gradK + static_cast<int64_t>(h) * p.dk;
  float* dvh = p.gradV + static_cast<int64_t>(h) * p.dv;
  zeroBlockRows(dkh, p.ldgk, j0, p.m, p.dk);
  zeroBlockRows(dvh, p.ldgv, j0, p.m, p.dv);
  for (int64_t i0 = 0; i0 < p.n; i0 += kGenRows) {
    const int queries = static_cast<int>(min(static_cast<int64_t>(kGenRows), p.n - i0));
    __syncthreads();
    genericProbTile(p, h, i0, j0, P, dS);
    __syncthreads();
    for (int e = threadIdx.x; e < kGenKeys * p.dv; e += kGenThreads) {
      const int r = e / p.dv, c = e - r * p.dv;
      if (j0 + r >= p.m) continue;
      float acc = 0.0f;
      for (int i = 0; i < queries; ++i) acc = fmaf(P[i][r], gh[(i0 + i) * p.lddo + c], acc);
      dvh[(j0 + r) * p.ldgv + c] += acc;
    }
    for (int e = threadIdx.x; e < kGenKeys * p.dk; e += kGenThreads) {
      const int r = e / p.dk, c = e - r * p.dk;
      if (j0 + r >= p.m) continue;
      float acc = 0.0f;
      for (int i = 0; i < queries; ++i) acc = fmaf(dS[i][r], qh[(i0 + i) * p.ldq + c], acc);
      dkh[(j0 + r) * p.ldgk + c] += p.scale * acc;
    }
  }
}

// ---- host side ------------------------------------------------------------------------------------------------------

void sumSplits(float* dst, const float* part, int64_t stride, int splits, int64_t count, const char* op) {
  sumSplitsKernel<<<blocksFor(count, 256), 256, 0, stream()>>>(dst, part, stride, splits, count);
  DGC_CUDA_LAUNCH_CHECK(op);
}

void checkHeads(int64_t heads, const char* op) {
  DGC_CHECK(heads >= 1 && heads <= 65535, Unimplemented, op, ": the CUDA kernels take at most 65535 heads, got ",
            heads);
}

AttnParams makeParams(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, float scale) {
  AttnParams p;
  p.n = q.dim(0);
  p.m = k.dim(0);
  p.heads = static_cast<int>(heads);
  p.dk = static_cast<int>(q.dim(1) / heads);
  p.dv = static_cast<int>(v.dim(1) / heads);
  p.scale = scale;
  p.q = q.f32();
  p.k = k.f32();
  p.v = v.f32();
  p.ldq = q.dim(1);
  p.ldk = k.dim(1);
  p.ldv = v.dim(1);
  return p;
}

// Forward on prepared params (p.out, p.ldo, p.lse set); n ≥ 1, m ≥ 1.
void forward(AttnParams p, const char* op) {
  const int width = std::max(p.dk, p.dv);
  const bool fast = withWidthBucket(width, [&](auto bucket) {
    constexpr int D = decltype(bucket)::value;
    using Cfg = FastCfg<D>;
    constexpr int TM = Cfg::tmForward(), BN = Cfg::kBN, T = Cfg::kThreads;
    const int64_t rowBlocks = ceilDiv(p.n, static_cast<int64_t>(T) * TM);
    // Split count from the shapes alone (common.cuh, planSplits): ≥ 2 tiles per range.
    const SplitPlan plan = planSplits(rowBlocks * p.heads, p.m, BN, 2, kMaxSplits);
    const int splits = plan.splits;
    p.span = plan.span;
    Tensor partM, partL, partO;
    if (splits > 1) {
      const int64_t rows = static_cast<int64_t>(splits) * p.heads * p.n;
      partM = scratchF32(rows);
      partL = scratchF32(rows);
      partO = scratchF32(rows * p.dv);
      p.partM = partM.f32();
      p.partL = partL.f32();
      p.partO = partO.f32();
    }
    const dim3 grid(static_cast<unsigned>(rowBlocks), static_cast<unsigned>(splits), static_cast<unsigned>(p.heads));
    attnForwardKernel<D, TM, BN, T><<<grid, T, 0, stream()>>>(p);
    DGC_CUDA_LAUNCH_CHECK(op);
    if (splits > 1) {
      attnCombineKernel<<<blocksFor(p.n * p.heads, 128), 128, 0, stream()>>>(p, splits);
      DGC_CUDA_LAUNCH_CHECK(op);
    }
  });
  if (!fast) {
    const dim3 grid(static_cast<unsigned>(ceilDiv(p.n, kGenRows)), 1, static_cast<unsigned>(p.heads));
    attnForwardGenericKernel<<<grid, kGenThreads, 0, stream()>>>(p);
    DGC_CUDA_LAUNCH_CHECK(op);
  }
}

// lse2 and D for the backward (head-major scratch), into p.lse2 / p.delta.
void prepare(AttnParams& p, Tensor& lse2, Tensor& delta, const char* op) {
  lse2 = scratchF32(p.n * p.heads);
  delta = scratchF32(p.n * p.heads);
  attnPrepKernel<<<blocksFor(p.n * p.heads, 256), 256, 0, stream()>>>(p, lse2.f32(), delta.f32());
  DGC_CUDA_LAUNCH_CHECK(op);
  p.lse2 = lse2.f32();
  p.delta = delta.f32();
}

// dQ, dK, dV on prepared params (p.lse2, p.delta, p.dOut set; p.gradQ/K/V are the dense outputs); n, m ≥ 1.
void backward(AttnParams p, const char* op) {
  const int width = std::max(p.dk, p.dv);
  float* dqOut = p.gradQ;
  float* dkOut = p.gradK;
  float* dvOut = p.gradV;
  const bool fast = withWidthBucket(width, [&](auto bucket) {
    constexpr int D = decltype(bucket)::value;
    using Cfg = FastCfg<D>;
    constexpr int BN = Cfg::kBN, T = Cfg::kThreads;
    {  // query pass
      constexpr int TM = Cfg::tmQuery();
      AttnParams a = p;
      const int64_t rowBlocks = ceilDiv(p.n, static_cast<int64_t>(T) * TM);
      // Split count from the shapes alone (common.cuh, planSplits): ≥ 2 tiles per range.
      const SplitPlan plan = planSplits(rowBlocks * p.heads, p.m, BN, 2, kMaxSplits);
      const int splits = plan.splits;
      a.span = plan.span;
      Tensor part;
      const int64_t count = p.n * p.heads * p.dk;
      if (splits > 1) {
        part = scratchF32(count * splits);
        a.gradQ = part.f32();
        a.splitStrideQ = count;
      }
      const dim3 grid(static_cast<unsigned>(rowBlocks), static_cast<unsigned>(splits),
                      static_cast<unsigned>(p.heads));
      attnBackwardQueryKernel<D, TM, BN, T><<<grid, T, 0, stream()>>>(a);
      DGC_CUDA_LAUNCH_CHECK(op);
      if (splits > 1) sumSplits(dqOut, part.f32(), count, splits, count, op);
    }
    {  // key pass
      constexpr int TM = Cfg::tmKey();
      AttnParams a = p;
      const int64_t rowBlocks = ceilDiv(p.m, static_cast<int64_t>(T) * TM);
      // Split count from the shapes alone (common.cuh, planSplits): ≥ 2 tiles per range.
      const SplitPlan plan = planSplits(rowBlocks * p.heads, p.n, BN, 2, kMaxSplits);
      const int splits = plan.splits;
      a.span = plan.span;
      Tensor partK, partV;
      const int64_t countK = p.m * p.heads * p.dk, countV = p.m * p.heads * p.dv;
      if (splits > 1) {
        partK = scratchF32(countK * splits);
        partV = scratchF32(countV * splits);
        a.gradK = partK.f32();
        a.gradV = partV.f32();
        a.splitStrideK = countK;
        a.splitStrideV = countV;
      }
      const dim3 grid(static_cast<unsigned>(rowBlocks), static_cast<unsigned>(splits),
                      static_cast<unsigned>(p.heads));
      if constexpr (Cfg::kSplitKeyPass) {
        attnBackwardKeyKernel<D, TM, BN, T, kKeyDvOnly><<<grid, T, 0, stream()>>>(a);
        DGC_CUDA_LAUNCH_CHECK(op);
        attnBackwardKeyKernel<D, TM, BN, T, kKeyDkOnly><<<grid, T, 0, stream()>>>(a);
        DGC_CUDA_LAUNCH_CHECK(op);
      } else {
        attnBackwardKeyKernel<D, TM, BN, T, kKeyBoth><<<grid, T, 0, stream()>>>(a);
        DGC_CUDA_LAUNCH_CHECK(op);
      }
      if (splits > 1) {
        sumSplits(dkOut, partK.f32(), countK, splits, countK, op);
        sumSplits(dvOut, partV.f32(), countV, splits, countV, op);
      }
    }
  });
  if (!fast) {
    const dim3 gridQ(static_cast<unsigned>(ceilDiv(p.n, kGenRows)), 1, static_cast<unsigned>(p.heads));
    attnBackwardQueryGenericKernel<<<gridQ, kGenThreads, 0, stream()>>>(p);
    DGC_CUDA_LAUNCH_CHECK(op);
    const dim3 gridK(static_cast<unsigned>(ceilDiv(p.m, kGenKeys)), 1, static_cast<unsigned>(p.heads));
    attnBackwardKeyGenericKernel<<<gridK, kGenThreads, 0, stream()>>>(p);
    DGC_CUDA_LAUNCH_CHECK(op);
  }
}

}  // namespace

void CudaBackend::attentionForward(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, float scale, Tensor& out,
                      Tensor& lse) {
  const char* op = "attentionForward";
  checkHeads(heads, op);
  AttnParams p = makeParams(q, k, v, heads, scale);
  if (p.n == 0) return;
  if (p.m == 0) {  // no keys: out = 0, lse = −inf (attention.h)
    fillF32(out.f32(), 0.0f, out.numel(), op);
    fillF32(lse.f32(), -INFINITY, lse.numel(), op);
    return;
  }
  p.out = out.f32();
  p.ldo = out.dim(1);
  p.lse = lse.f32();
  forward(p, op);
}

void CudaBackend::attentionBackward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                       const Tensor& dout, int64_t heads, float scale, Tensor& dq, Tensor& dk, Tensor& dv) {
  const char* op = "attentionBackward";
  checkHeads(heads, op);
  AttnParams p = makeParams(q, k, v, heads, scale);
  if (p.n == 0 || p.m == 0) {  // dQ = 0 (no keys); dK = dV = 0 (no queries)
    fillF32(dq.f32(), 0.0f, dq.numel(), op);
    fillF32(dk.f32(), 0.0f, dk.numel(), op);
    fillF32(dv.f32(), 0.0f, dv.numel(), op);
    return;
  }
  p.outF = out.f32();
  p.ldo = out.dim(1);
  p.lse = lse.f32();
  p.dOut = dout.f32();
  p.lddo = dout.dim(1);
  p.gradQ = dq.f32();
  p.gradK = dk.f32();
  p.gradV = dv.f32();
  p.ldgq = dq.dim(1);
  p.ldgk = dk.dim(1);
  p.ldgv = dv.dim(1);
  Tensor lse2, delta;
  prepare(p, lse2, delta, op);
  backward(p, op);
}

void CudaBackend::selfCorrelationForward(const Tensor& z, Tensor& out, Tensor& lse) {
  const char* op = "selfCorrelationForward";
  AttnParams p = makeParams(z, z, z, 1, 1.0f);
  if (p.n == 0) return;
  p.out = out.f32();
  p.ldo = out.dim(1);
  p.lse = lse.f32();
  forward(p, op);
}

void CudaBackend::selfCorrelationBackward(const Tensor& z, const Tensor& out, const Tensor& lse, const Tensor& dout, Tensor& dz) {
  const char* op = "selfCorrelationBackward";
  AttnParams p = makeParams(z, z, z, 1, 1.0f);
  if (p.n == 0) return;
  p.outF = out.f32();
  p.ldo = out.dim(1);
  p.lse = lse.f32();
  p.dOut = dout.f32();
  p.lddo = dout.dim(1);
  Tensor lse2, delta;
  prepare(p, lse2, delta, op);
  const int64_t count = p.n * p.dk;
  // Widths up to 48: the fused pass. Wider: dQ + dK + dV (the fused pass would spill at D = 64).
  const bool fast = p.dk <= 48 && withWidthBucket(p.dk, [&](auto bucket) {
    constexpr int D = decltype(bucket)::value;
    if constexpr (D <= 48) {
      using Cfg = FastCfg<D>;
      constexpr int TM = Cfg::tmSelf(), BN = Cfg::kBN, T = Cfg::kThreads;
      const int64_t rowBlocks = ceilDiv(p.n, static_cast<int64_t>(T) * TM);
      // Split count from the shapes alone (common.cuh, planSplits): ≥ 2 tiles per range.
      const SplitPlan plan = planSplits(rowBlocks, p.n, BN, 2, kMaxSplits);
      const int splits = plan.splits;
      p.span = plan.span;
      Tensor part;
      p.gradQ = dz.f32();
      p.ldgq = dz.dim(1);
      if (splits > 1) {
        part = scratchF32(count * splits);
        p.gradQ = part.f32();
        p.splitStrideQ = count;
      }
      const dim3 grid(static_cast<unsigned>(rowBlocks), static_cast<unsigned>(splits), 1);
      selfBackwardKernel<D, TM, BN, T><<<grid, T, 0, stream()>>>(p);
      DGC_CUDA_LAUNCH_CHECK(op);
      if (splits > 1) sumSplits(dz.f32(), part.f32(), count, splits, count, op);
    }
  });
  if (!fast) {  // wide embeddings: the three-gradient path, dZ = dQ + dK + dV
    Tensor dk = scratchF32(count), dv = scratchF32(count);
    p.gradQ = dz.f32();
    p.gradK = dk.f32();
    p.gradV = dv.f32();
    p.ldgq = p.ldgk = p.ldgv = z.dim(1);
    backward(p, op);
    add3Kernel<<<blocksFor(count, 256), 256, 0, stream()>>>(dz.f32(), dk.f32(), dv.f32(), count);
    DGC_CUDA_LAUNCH_CHECK(op);
  }
}

}  // namespace cuda
}  // namespace dgc
