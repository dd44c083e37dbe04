// Fused Gram–sigmoid graph-reconstruction losses (interface and semantics in recon.h).
//
// ─── THE DECOMPOSITION ───────────────────────────────────────────────────────────────────────────────────────
// Write s_ij = z_i·z_j (symmetric: s_ij = s_ji) and σ_ij = σ(s_ij). A (or T) is sparse; let nz be its set of
// stored entries. Every dense N×N quantity below is a function of σ_ij alone, hence symmetric, and the
// asymmetric part (A is row-normalized) only lives on nz.
//
// DFCN, two embeddings (σ1 from Z1, σ2 from Z2; one embedding: σ2 ≡ 0), Σ_ij = sum over all ordered pairs:
//   L = (1/N²) Σ_ij (σ1 + σ2 − A)²_ij = (1/N²) [ Σ_ij (σ1+σ2)²_ij + Σ_nz (A²_ij − 2 A_ij (σ1+σ2)_ij) ]
//   ∂L/∂s1_ij = G1_ij = (2/N²) R_ij σ1'_ij   with R = σ1 + σ2 − A and σ' = σ(1−σ).
//   s1_ij = z1_i·z1_j depends on z1_i through both (i, j) and (j, i), so
//   dZ1_i = Σ_j (G1_ij + G1_ji) z1_j = (2/N²) Σ_j C1_ij z1_j,   C1_ij = σ1'_ij (2(σ1+σ2)_ij − A_ij − A_ji).
//   R is NOT symmetric (A is row-normalized: G + Gᵀ, not 2G), but C1 is: C1 = 2σ1'(σ1+σ2) [dense, symmetric] minus,
//   for every (i, j) ∈ nz, σ1'_ij·A_ij at both (i, j) and (j, i) [sparse]. Likewise C2 with σ2'.
//
// CaEGCN, PyTorch BCELoss on a = σ(s) (the official code's F.binary_cross_entropy; ℓ is linear in the target t):
//   ℓ(a, t) = −t·max(ln a, −100) − (1−t)·max(ln(1−a), −100) = ℓ(a, 0) + t·[max(ln(1−a), −100) − max(ln a, −100)]
//   L = (1/N²) [ Σ_ij −max(ln(1−a_ij), −100)  +  Σ_nz t_ij (max(ln(1−a_ij), −100) − max(ln a_ij, −100)) ]
//   ∂L/∂s_ij = (a_ij − t_ij) κ_ij / N²,  κ = a(1−a)/max(a(1−a), 1e−12) (PyTorch's BCE backward times the
//   sigmoid backward: 1, except 0 where a == 1.0f exactly and a(1−a)·1e12 where a < ~1e−12), so
//   dZ_i = (1/N²) Σ_j C_ij z_j,  C_ij = κ_ij (2 a_ij − t_ij − t_ji):  dense 2κa, minus κ·t_ij at (i, j) and at
//   (j, i) for every (i, j) ∈ nz.
//
// So each loss is a dense symmetric part, a function of s_ij only, plus a correction on nz, and each gradient is
// dZ = scale · C Z with a symmetric coefficient matrix C = dense(σ) − sparse corrections. C is built tile by
// tile and used at once; nothing N×N is ever stored.
//
// ─── TILES AND THE SCHEDULE ──────────────────────────────────────────────────────────────────────────────────
// Rows are cut into nb blocks of kBlock = 128. Because s and C are symmetric, only tiles (I, J) with I ≤ J are
// computed. For an off-diagonal tile, the kBlock×kBlock block C_IJ serves twice:
//     dZ_I += C_IJ Z_J   ("row product")      dZ_J += C_IJᵀ Z_I   ("column product")
// and its dense loss counts twice (pairs (i, j) and (j, i)). A diagonal tile (I, I) is computed in full (both
// triangles) and only its row product is used. Once per call, every block of Z is stored transposed
// (k-major, for the Gram's vector side) and the nonzeros of A are bucketed by tile (below). Per tile:
//   1. Gram: S = Z_I Z_Jᵀ, register-blocked FMA (rows of Z_I broadcast from Z itself, columns of Z_Jᵀ in
//      vector lanes), into a per-thread kBlock×kBlock tile (tile sizes rounded up to 32, padding zero);
//   2. elementwise (vectorized): σ, the dense loss, and the dense part of C, written over S and into C;
//   3. sparse corrections: the nonzeros of A that fall in this tile, in either orientation (an entry (p, q)
//      with block(p) > block(q) lands in tile (block(q), block(p)) at local position (q, p)), adjust the loss
//      and C at their position — and, in a diagonal tile, C at the mirrored position too. They were bucketed
//      once per call by (min block, max block), 8 bytes each, in CSR order within a tile; Aᵀ is not needed;
//   4. products (register-blocked FMA, vectors along the embedding width d, entries of C broadcast, rows of Z
//      read in place), added into per-row double accumulators (n × d per embedding).
// Loss sums: the dense terms are summed in float per row and vector lane (at most kBlock / W = 8 terms), then
// in double. A correction replaces the MSE's dense term at its entry by subtracting that term as the dense pass
// formed it (σ1+σ2 and its square rounded to float) and adding (σ1+σ2 − A)² in double, so where σ ≈ A the
// cancellation costs no accuracy beyond the float sums.
//
// Determinism: a row block's accumulator must receive its tile contributions in an order that does not depend
// on the thread count. The off-diagonal tiles are ordered by a round-robin tournament (the "circle method"):
// nb blocks (plus a dummy when nb is odd) are paired so that every pair {I, J} meets exactly once over nb−1
// (or nb) rounds and the pairs of one round touch disjoint blocks; the diagonal tiles come first. Threads claim
// tiles in that global order, and a tile waits until the earlier tiles of its two blocks are done (per-block
// counters, see runAllTiles) — a dataflow version of "one parallel round at a time" without the barriers. Loss
// partials are summed exactly (ExactSum: fixed point, order-independent), so the loss is bit-identical for any
// thread count and between forward-only and gradient calls.
//
// Work per unordered pair for one embedding: 2d flops (Gram) + 4d flops (two products) + the elementwise
// (sigmoid: exp + divide; BCE also a log) — 3d flops per ordered pair instead of 4d without the symmetry,
// and half the transcendental work.
//
// ─── SIMD ─────────────────────────────────────────────────────────────────────────────────────────────────────
// The kernels are written once with GCC/Clang vector extensions (float vectors of W lanes) as always_inline
// templates, and instantiated inside functions that carry __attribute__((target(...))): AVX-512 (W = 16 for
// the Gram and elementwise, W = 8 for the products, whose vectors run along d: 3 ymm cover d = 20 with less
// padding than 2 zmm, and Zen 4 executes 2 ymm FMAs per cycle, the same flops as one zmm), AVX2+FMA (W = 8)
// and a portable set (W = 4: SSE2 on x86-64, NEON elsewhere). The set is chosen once with
// __builtin_cpu_supports; the addon is compiled without -march. a*b + c is contracted to FMA where the target
// has it (GCC's default -ffp-contract=fast in C++).
// exp is Cephes-style (range reduction by a rounded n·ln2 in two parts, degree-6 polynomial, 2^n applied as
// two factors so that results overflow to +inf and underflow to 0 at the right places): within 0.7 ulp over
// the normal range. log is Cephes logf (≈1 ulp). Both were checked against double references.
//
// ─── MEASURED (bench/recon/recon_bench.cc; 2-core AMD EPYC Zen 4 VM, 2 threads, both cores free, d = 20) ──────
//   forward+backward seconds per call (forward only in parentheses); GFLOP/s of the nominal 4·N²·d per embedding
//                     N = 3,025            N = 10,000          N = 50,000
//   MSE, 2 embeddings 0.011 (0.006) 129    0.103 (0.048) 156   2.81 (1.24) 142
//   MSE, 1 embedding  0.0066 (0.0032) 111  0.052 (0.027) 155   1.43 (0.63) 140
//   BCE               0.0079 (0.0046) 92   0.076 (0.045) 105   1.99 (1.09) 101
//   (two Zen 4 cores peak at ~230 GFLOP/s of FMA; the kernels do 3/4 of the nominal flops, see above, plus the
//   sigmoids.) Per 128×128 tile and core: Gram 6.4 µs, each product 7 µs, elementwise 9.6 µs (MSE, one
//   embedding), 17 µs (two), 21 µs (BCE, with its log). BCE at CaEGCN's HHAR width (N = 10,299, d = 561):
//   1.24 s (0.39 s forward). Extra memory at N = 50,000 with two embeddings and both gradients: 31 MiB.
#include "recon.h"

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../core/thread_pool.h"
#include "isa.h"
#include "scratch.h"

#if defined(__GNUC__) && !defined(__clang__)
// The helpers below return vectors by value; they are always inlined, so the ABI warning does not apply.
// (Vector parameters are passed by const reference: GCC's note about their alignment ignores this pragma.)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#define DGC_RECON_INLINE inline __attribute__((always_inline))

namespace dgc {
namespace cpu {
namespace {

constexpr int64_t kBlock = recon_detail::kBlockRows;  // rows per block; tiles are at most kBlock × kBlock
constexpr int64_t kTilePad = 32;   // tile row/column counts are rounded up to this (a multiple of every MR / NV·W)
constexpr int64_t kWidthPad = 8;   // the products read rows of Z as dPad = d rounded up to this many floats
constexpr int64_t kLd = kBlock;    // row stride of the S and C tiles

static_assert(kBlock % kTilePad == 0, "blocks must be whole padded tiles");

inline int64_t roundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// ─── Vector helpers (GCC/Clang vector extensions) ─────────────────────────────────────────────────────────────

template <int W>
struct VecTypes {
  typedef float F __attribute__((vector_size(4 * W)));
};
template <int W> using VecF = typename VecTypes<W>::F;
template <class V> constexpr int lanes() { return static_cast<int>(sizeof(V) / sizeof(float)); }

template <class V> DGC_RECON_INLINE V splat(float x) { return V{} + x; }
template <class V> DGC_RECON_INLINE V loadu(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <class V> DGC_RECON_INLINE void storeu(float* p, const V& v) { std::memcpy(p, &v, sizeof(V)); }
template <class To, class From> DGC_RECON_INLINE To bitCast(const From& x) {
  static_assert(sizeof(To) == sizeof(From), "bitCast between types of different sizes");
  To y;
  std::memcpy(&y, &x, sizeof(To));
  return y;
}
template <class V> DGC_RECON_INLINE V laneIndex() {
  V v{};
  for (int l = 0; l < lanes<V>(); ++l) v[l] = static_cast<float>(l);
  return v;
}
// Sum of the lanes (float or double vectors) in double, in lane order (deterministic).
template <class V> DGC_RECON_INLINE double sumLanes(const V& v) {
  double s = 0.0;
  for (size_t l = 0; l < sizeof(V) / sizeof(v[0]); ++l) s += static_cast<double>(v[l]);
  return s;
}

// e^x, within 0.7 ulp for normal results; +inf above ln(FLT_MAX) ≈ 88.72, gradual underflow to 0 below
// ≈ −103.3, NaN stays NaN. n = round(x·log2 e) via the 1.5·2^23 trick; x − n·ln2 in two parts (Cephes
// C1 + C2); 2^n is applied as 2^(n>>1)·2^(n−(n>>1)) so that n up to 128 (and down to −150) needs no special
// case: the products overflow and underflow like the true result.
template <class V>
DGC_RECON_INLINE V expApprox(const V& xIn) {
  using I = decltype(xIn < xIn);
  V x = xIn;
  x = x > splat<V>(89.0f) ? splat<V>(89.0f) : x;       // exp(89) > FLT_MAX: still overflows to +inf
  x = x < splat<V>(-104.0f) ? splat<V>(-104.0f) : x;   // exp(−104) < smallest denormal: still 0
  const V shifter = splat<V>(12582912.0f);             // 1.5·2^23: adding it rounds to an integer
  const V t = x * 1.44269504088896341f + shifter;
  const V n = t - shifter;
  const I ni = bitCast<I>(t) - 0x4B400000;  // the integer n (bits of t minus those of the shifter)
  V r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  const V r2 = r * r;
  V p = splat<V>(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  const I half = ni >> 1;
  const I bits1 = (half + 127) << 23, bits2 = (ni - half + 127) << 23;
  return p * bitCast<V>(bits1) * bitCast<V>(bits2);
}

// σ(s) = 1 / (1 + e^−s) in float, as PyTorch evaluates it (a true division, so a rounds like torch.sigmoid's:
// exactly 1.0f once e^−s ≤ 2^−24, i.e. s ≳ 16.64; exactly 0 once e^−s overflows, s < −88.72).
template <class V>
DGC_RECON_INLINE V sigmoid(const V& s) {
  const V one = splat<V>(1.0f);
  return one / (one + expApprox(-s));
}

// max(ln x, −100) for x = 1 − a with a a float in [0, 1]: x is 0 (→ −100) or in [2^−24, 1] (1 − a is exact
// for a ≥ 0.5 and ≥ 0.5 otherwise), so no denormal or large input needs handling, and ln x ≥ −16.7 needs no
// clamp. Cephes logf: x = m·2^e with m ∈ [√½, √2), ln x = e·ln2 + ln m with a degree-9 polynomial in m − 1;
// about 1 ulp.
template <class V>
DGC_RECON_INLINE V logOneMinusAClamped(const V& x) {
  using I = decltype(x < x);
  const I bits = bitCast<I>(x);
  I e = (bits >> 23) - 126;  // x ≥ 0: no sign bit
  const I mbits = (bits & 0x007fffff) | 0x3f000000;  // mantissa as a value in [0.5, 1)
  const V m = bitCast<V>(mbits);
  const I small = m < splat<V>(0.707106781186547524f);
  e = e + small;  // the mask is −1 where true
  const V f = small ? m + m - 1.0f : m - 1.0f;
  const V f2 = f * f;
  V p = splat<V>(7.0376836292e-2f);
  p = p * f - 1.1514610310e-1f;
  p = p * f + 1.1676998740e-1f;
  p = p * f - 1.2420140846e-1f;
  p = p * f + 1.4249322787e-1f;
  p = p * f - 1.6668057665e-1f;
  p = p * f + 2.0000714765e-1f;
  p = p * f - 2.4999993993e-1f;
  p = p * f + 3.3333331174e-1f;
  const V ef = __builtin_convertvector(e, V);
  V y = p * f * f2;
  y = y + ef * -2.12194440e-4f;
  y = y - f2 * 0.5f;
  const V result = f + y + ef * 0.693359375f;
  return x == V{} ? splat<V>(-100.0f) : result;  // (a NaN x stays NaN)
}

// ─── Tile kernels (templates; instantiated per instruction set below) ───────────────────────────────────────

// S[r·ldS + c] = Σ_{k<d} zi[r·ldz + k] · zjT[k·ldT + c] for r < MR, c < NV·W: one register tile.
// Every element is the FMA chain over k in order from 0, so S_pq and S_qp come out bit-identical.
template <class V, int MR, int NV>
DGC_RECON_INLINE void gramRegisterTile(int64_t d, const float* zi, int64_t ldz, const float* zjT, int64_t ldT,
                                       float* S, int64_t ldS) {
  constexpr int W = lanes<V>();
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = V{};
  for (int64_t k = 0; k < d; ++k) {
    V b[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) b[v] = loadu<V>(zjT + k * ldT + v * W);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const float a = zi[r * ldz + k];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = acc[r][v] + a * b[v];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) storeu(S + r * ldS + v * W, acc[r][v]);
}

// S (rowsPad × colsPad) = Zi Zjᵀ; rowsPad a multiple of MR, colsPad of NV·W.
template <class V, int MR, int NV>
DGC_RECON_INLINE void gramTile(int64_t rowsPad, int64_t colsPad, int64_t d, const float* zi, int64_t ldz,
                               const float* zjT, int64_t ldT, float* S, int64_t ldS) {
  constexpr int64_t cols = static_cast<int64_t>(NV) * lanes<V>();
  for (int64_t c0 = 0; c0 < colsPad; c0 += cols)
    for (int64_t r0 = 0; r0 < rowsPad; r0 += MR)
      gramRegisterTile<V, MR, NV>(d, zi + r0 * ldz, ldz, zjT + c0, ldT, S + r0 * ldS + c0, ldS);
}

// out[r·ldo + k] = Σ_{s<len} C[r·rsC + s·csC] · z[s·ldz + k] for r < MR, k < KV·W: one register tile.
template <class V, int MR, int KV>
DGC_RECON_INLINE void productRegisterTile(int64_t len, const float* C, int64_t rsC, int64_t csC, const float* z,
                                          int64_t ldz, float* out, int64_t ldo) {
  constexpr int W = lanes<V>();
  V acc[MR][KV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < KV; ++v) acc[r][v] = V{};
  for (int64_t s = 0; s < len; ++s) {
    V b[KV];
#pragma GCC unroll 8
    for (int v = 0; v < KV; ++v) b[v] = loadu<V>(z + s * ldz + v * W);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const float c = C[r * rsC + s * csC];
#pragma GCC unroll 8
      for (int v = 0; v < KV; ++v) acc[r][v] = acc[r][v] + c * b[v];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < KV; ++v) storeu(out + r * ldo + v * W, acc[r][v]);
}

// Runs the register tile with the largest vector count ≤ KV that is ≤ vecs (the last chunk of d).
template <class V, int MR, int KV>
DGC_RECON_INLINE void productChunk(int vecs, int64_t len, const float* C, int64_t rsC, int64_t csC, const float* z,
                                   int64_t ldz, float* out, int64_t ldo) {
  if constexpr (KV > 1) {
    if (vecs < KV) {
      productChunk<V, MR, KV - 1>(vecs, len, C, rsC, csC, z, ldz, out, ldo);
      return;
    }
  }
  productRegisterTile<V, MR, KV>(len, C, rsC, csC, z, ldz, out, ldo);
}

// out (rowsPad × dPad, row stride ldo) = C' Z over s < len, where C'[r][s] = C[r·rsC + s·csC] and Z's rows have
// stride ldz. rowsPad is a multiple of MR, dPad of W.
template <class V, int MR, int KV>
DGC_RECON_INLINE void productTile(int64_t rowsPad, int64_t len, int64_t dPad, const float* C, int64_t rsC,
                                  int64_t csC, const float* z, int64_t ldz, float* out, int64_t ldo) {
  constexpr int W = lanes<V>();
  for (int64_t k0 = 0; k0 < dPad; k0 += static_cast<int64_t>(KV) * W) {
    const int vecs = static_cast<int>(std::min<int64_t>(KV, (dPad - k0) / W));
    for (int64_t r0 = 0; r0 < rowsPad; r0 += MR)
      productChunk<V, MR, KV>(vecs, len, C + r0 * rsC, rsC, csC, z + k0, ldz, out + r0 * ldo + k0, ldo);
  }
}

// Elementwise pass of the MSE loss over one tile (row stride kLd). On entry s1 (and s2) hold the dot products;
// on return they hold σ1 (σ2). c1 / c2 (may be null) get the dense coefficients 2σ'(σ1+σ2) for valid entries
// and 0 in the padding (columns ≥ cols, rows in [rows, rowsPad)). Returns Σ_valid (σ1+σ2)², summed in float
// per row and lane (≤ kBlock / W terms), then in double.
struct MseTileArgs {
  int64_t rows, cols, rowsPad, colsPad;
  float *s1, *s2, *c1, *c2;
};

// One vector of a row: columns [j, j + W). kMasked: only lanes < `remaining` are valid (the last vector).
template <class V, bool kTwo, bool kC1, bool kC2, bool kMasked>
DGC_RECON_INLINE void mseVector(float* s1, float* s2, float* c1, float* c2, const V& lane, const V& remaining,
                                V& lossAcc) {
  const V sig1 = sigmoid(loadu<V>(s1));
  storeu(s1, sig1);
  V sum = sig1;
  V sig2{};
  if (kTwo) {
    sig2 = sigmoid(loadu<V>(s2));
    storeu(s2, sig2);
    sum = sum + sig2;
  }
  if (kMasked) sum = lane < remaining ? sum : V{};
  lossAcc = lossAcc + sum * sum;
  const V twoSum = sum + sum;
  if (kC1) storeu(c1, sig1 * (1.0f - sig1) * twoSum);
  if (kC2) storeu(c2, sig2 * (1.0f - sig2) * twoSum);
}

template <class V, bool kTwo, bool kC1, bool kC2>
DGC_RECON_INLINE double mseTileImpl(const MseTileArgs& t) {
  constexpr int W = lanes<V>();
  const V lane = laneIndex<V>();
  const int64_t fullCols = t.cols / W * W;  // columns in whole unmasked vectors
  double total = 0.0;
  for (int64_t i = 0; i < t.rows; ++i) {
    float* s1 = t.s1 + i * kLd;
    float* s2 = kTwo ? t.s2 + i * kLd : nullptr;
    float* c1 = kC1 ? t.c1 + i * kLd : nullptr;
    float* c2 = kC2 ? t.c2 + i * kLd : nullptr;
    V lossAcc{};  // ≤ kBlock / W terms per lane, then summed in double
    int64_t j = 0;
    for (; j < fullCols; j += W)
      mseVector<V, kTwo, kC1, kC2, false>(s1 + j, s2 + j, c1 + j, c2 + j, lane, lane, lossAcc);
    for (; j < t.colsPad; j += W)  // the partial vector, then padding vectors (all lanes invalid)
      mseVector<V, kTwo, kC1, kC2, true>(s1 + j, s2 + j, c1 + j, c2 + j, lane,
                                         splat<V>(static_cast<float>(t.cols - j)), lossAcc);
    total += sumLanes(lossAcc);
  }
  for (int64_t i = t.rows; i < t.rowsPad; ++i) {
    if (kC1) std::memset(t.c1 + i * kLd, 0, sizeof(float) * t.colsPad);
    if (kC2) std::memset(t.c2 + i * kLd, 0, sizeof(float) * t.colsPad);
  }
  return total;
}

template <class V>
DGC_RECON_INLINE double mseTile(const MseTileArgs& t) {
  if (!t.s2) return t.c1 ? mseTileImpl<V, false, true, false>(t) : mseTileImpl<V, false, false, false>(t);
  if (t.c1) return t.c2 ? mseTileImpl<V, true, true, true>(t) : mseTileImpl<V, true, true, false>(t);
  return t.c2 ? mseTileImpl<V, true, false, true>(t) : mseTileImpl<V, true, false, false>(t);
}

// Elementwise pass of the BCE loss over one tile (row stride kLd). On entry s holds the dot products, on return
// a = σ(s). c (may be null) gets the dense coefficient 2κa for valid entries and 0 in the padding.
// Returns Σ_valid −max(ln(1−a), −100).
struct BceTileArgs {
  int64_t rows, cols, rowsPad, colsPad;
  float *s, *c;
};

template <class V, bool kC, bool kMasked>
DGC_RECON_INLINE void bceVector(float* s, float* c, const V& lane, const V& remaining, V& lossAcc) {
  const V one = splat<V>(1.0f);
  const V a = sigmoid(loadu<V>(s));
  storeu(s, a);
  const V oneMinusA = one - a;
  const V logOneMinusA = logOneMinusAClamped(oneMinusA);
  lossAcc = lossAcc + (kMasked ? (lane < remaining ? logOneMinusA : V{}) : logOneMinusA);  // negated at the end
  if (kC) {
    const V p = oneMinusA * a;
    const V kappa = p >= splat<V>(1e-12f) ? one : p * 1e12f;
    const V coefficient = kappa * (a + a);
    storeu(c, kMasked ? (lane < remaining ? coefficient : V{}) : coefficient);
  }
}

template <class V, bool kC>
DGC_RECON_INLINE double bceTileImpl(const BceTileArgs& t) {
  constexpr int W = lanes<V>();
  const V lane = laneIndex<V>();
  const int64_t fullCols = t.cols / W * W;
  double total = 0.0;
  for (int64_t i = 0; i < t.rows; ++i) {
    float* s = t.s + i * kLd;
    float* c = kC ? t.c + i * kLd : nullptr;
    V lossAcc{};  // ≤ kBlock / W terms per lane, then summed in double
    int64_t j = 0;
    for (; j < fullCols; j += W) bceVector<V, kC, false>(s + j, c + j, lane, lane, lossAcc);
    for (; j < t.colsPad; j += W)
      bceVector<V, kC, true>(s + j, c + j, lane, splat<V>(static_cast<float>(t.cols - j)), lossAcc);
    total -= sumLanes(lossAcc);
  }
  if (kC)
    for (int64_t i = t.rows; i < t.rowsPad; ++i) std::memset(t.c + i * kLd, 0, sizeof(float) * t.colsPad);
  return total;
}

template <class V>
DGC_RECON_INLINE double bceTile(const BceTileArgs& t) {
  return t.c ? bceTileImpl<V, true>(t) : bceTileImpl<V, false>(t);
}

// acc rows [0, rows) (stride d) += out rows (stride dPad), widened to double. A plain loop: instantiated in the
// target functions below, the compiler vectorizes it for their instruction set.
DGC_RECON_INLINE void accumulateRowsImpl(double* acc, int64_t d, int64_t rows, const float* out, int64_t dPad) {
  for (int64_t r = 0; r < rows; ++r) {
    double* a = acc + r * d;
    const float* o = out + r * dPad;
    for (int64_t k = 0; k < d; ++k) a[k] += static_cast<double>(o[k]);
  }
}

// ─── Kernel sets ───────────────────────────────────────────────────────────────────────────────────────────────

struct TileKernels {
  const char* name;
  void (*gram)(int64_t rowsPad, int64_t colsPad, int64_t d, const float* zi, int64_t ldz, const float* zjT,
               int64_t ldT, float* S, int64_t ldS);
  void (*product)(int64_t rowsPad, int64_t len, int64_t dPad, const float* C, int64_t rsC, int64_t csC,
                  const float* z, int64_t ldz, float* out, int64_t ldo);
  double (*mse)(const MseTileArgs& t);
  double (*bce)(const BceTileArgs& t);
  void (*accumulate)(double* acc, int64_t d, int64_t rows, const float* out, int64_t dPad);
};

// Portable: 4-lane vectors (SSE2 on x86-64, NEON on ARM); 4×8 Gram tiles, 4×8 product tiles.
void gramPortable(int64_t rp, int64_t cp, int64_t d, const float* zi, int64_t ldz, const float* zjT, int64_t ldT,
                  float* S, int64_t ldS) {
  gramTile<VecF<4>, 4, 2>(rp, cp, d, zi, ldz, zjT, ldT, S, ldS);
}
void productPortable(int64_t rp, int64_t len, int64_t dPad, const float* C, int64_t rsC, int64_t csC,
                     const float* z, int64_t ldz, float* out, int64_t ldo) {
  productTile<VecF<4>, 4, 2>(rp, len, dPad, C, rsC, csC, z, ldz, out, ldo);
}
double msePortable(const MseTileArgs& t) { return mseTile<VecF<4>>(t); }
double bcePortable(const BceTileArgs& t) { return bceTile<VecF<4>>(t); }
void accumulatePortable(double* acc, int64_t d, int64_t rows, const float* out, int64_t dPad) {
  accumulateRowsImpl(acc, d, rows, out, dPad);
}
const TileKernels kPortable = {"portable", &gramPortable, &productPortable, &msePortable, &bcePortable,
                               &accumulatePortable};

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define DGC_RECON_HAVE_X86 1
#define DGC_RECON_AVX2 __attribute__((target("avx2,fma")))
#define DGC_RECON_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))

// AVX2 + FMA (16 ymm registers): Gram 4 rows × 16 columns (8 accumulators), products 4 rows × 24 of d
// (12 accumulators + 3 vectors of Z + 1 broadcast), elementwise on 8 lanes.
DGC_RECON_AVX2 void gramAvx2(int64_t rp, int64_t cp, int64_t d, const float* zi, int64_t ldz, const float* zjT,
                             int64_t ldT, float* S, int64_t ldS) {
  gramTile<VecF<8>, 4, 2>(rp, cp, d, zi, ldz, zjT, ldT, S, ldS);
}
DGC_RECON_AVX2 void productAvx2(int64_t rp, int64_t len, int64_t dPad, const float* C, int64_t rsC, int64_t csC,
                                const float* z, int64_t ldz, float* out, int64_t ldo) {
  productTile<VecF<8>, 4, 3>(rp, len, dPad, C, rsC, csC, z, ldz, out, ldo);
}
DGC_RECON_AVX2 double mseAvx2(const MseTileArgs& t) { return mseTile<VecF<8>>(t); }
DGC_RECON_AVX2 double bceAvx2(const BceTileArgs& t) { return bceTile<VecF<8>>(t); }
DGC_RECON_AVX2 void accumulateAvx2(double* acc, int64_t d, int64_t rows, const float* out, int64_t dPad) {
  accumulateRowsImpl(acc, d, rows, out, dPad);
}
const TileKernels kAvx2 = {"avx2", &gramAvx2, &productAvx2, &mseAvx2, &bceAvx2, &accumulateAvx2};

// AVX-512 (32 registers): Gram 8 rows × 32 columns of zmm (16 accumulators), products 8 rows × 24 of d in ymm
// (24 accumulators), elementwise on 16 lanes.
DGC_RECON_AVX512 void gramAvx512(int64_t rp, int64_t cp, int64_t d, const float* zi, int64_t ldz,
                                 const float* zjT, int64_t ldT, float* S, int64_t ldS) {
  gramTile<VecF<16>, 8, 2>(rp, cp, d, zi, ldz, zjT, ldT, S, ldS);
}
DGC_RECON_AVX512 void productAvx512(int64_t rp, int64_t len, int64_t dPad, const float* C, int64_t rsC,
                                    int64_t csC, const float* z, int64_t ldz, float* out, int64_t ldo) {
  productTile<VecF<8>, 8, 3>(rp, len, dPad, C, rsC, csC, z, ldz, out, ldo);
}
DGC_RECON_AVX512 double mseAvx512(const MseTileArgs& t) { return mseTile<VecF<16>>(t); }
DGC_RECON_AVX512 double bceAvx512(const BceTileArgs& t) { return bceTile<VecF<16>>(t); }
DGC_RECON_AVX512 void accumulateAvx512(double* acc, int64_t d, int64_t rows, const float* out, int64_t dPad) {
  accumulateRowsImpl(acc, d, rows, out, dPad);
}
const TileKernels kAvx512 = {"avx512", &gramAvx512, &productAvx512, &mseAvx512, &bceAvx512, &accumulateAvx512};

#endif

// The tile kernels in use (isa.h): AVX-512, AVX2 + FMA or portable; DGCLUST_RECON_KERNEL names one.
KernelSetChoice<TileKernels>& choice() {
  static KernelSetChoice<TileKernels> c("DGCLUST_RECON_KERNEL", {
#ifdef DGC_RECON_HAVE_X86
      {"avx512", cpuHasAvx512, &kAvx512},
      {"avx2", cpuHasAvx2Fma, &kAvx2},
#endif
      {"portable", anyCpu, &kPortable},
  });
  return c;
}

const TileKernels& activeKernels() { return choice().active(); }

// ─── Per-thread tile workspace ─────────────────────────────────────────────────────────────────────────────────

// Per thread: the S/σ and C tiles of each embedding (kBlock × kLd) and the two product outputs (kBlock × dPad).
struct TileWorkspace {
  ScratchBuffer s[2], c[2], outI, outJ;
};
TileWorkspace& workspace() {
  thread_local TileWorkspace ws;
  return ws;
}

// ─── The sparse corrections, bucketed by tile ──────────────────────────────────────────────────────────────────

// A stored entry (p, q, value) of A (or T) seen from the canonical tile (min(bp, bq), max(bp, bq)), bp = block
// of p: local position (i, j) = (p, q) − block origins when bp ≤ bq, (q, p) − origins otherwise. Because the
// dense parts are symmetric, the entry's contributions only depend on that position. 8 bytes.
struct Correction {
  uint16_t blockJ;
  uint8_t i, j;
  float value;
};
static_assert(sizeof(Correction) == 8, "Correction should pack into 8 bytes");
static_assert(kBlock <= 256, "local indices are stored as uint8");
constexpr int64_t kMaxBlocks = 65535;  // blockJ is a uint16: n ≤ 65535·kBlock ≈ 8.4M rows

struct CorrectionBuckets {
  std::vector<Correction> entries;  // grouped by min block (bucket), sorted by blockJ within, stable
  std::vector<int64_t> start;       // nb + 1 bucket starts
  // Entries of tile (I, J), I ≤ J.
  std::pair<const Correction*, const Correction*> tile(int64_t I, int64_t J) const {
    const Correction* first = entries.data() + start[I];
    const Correction* last = entries.data() + start[I + 1];
    return std::equal_range(first, last, Correction{static_cast<uint16_t>(J), 0, 0, 0.0f},
                            [](const Correction& a, const Correction& b) { return a.blockJ < b.blockJ; });
  }
};

void checkCsr(int64_t n, const CsrView& a, const char* what) {
  const std::string name(what);
  if (a.rows != n || a.cols != n)
    throw std::invalid_argument(name + " must be " + std::to_string(n) + "x" + std::to_string(n) + ", got " +
                                std::to_string(a.rows) + "x" + std::to_string(a.cols));
  if (n == 0) return;
  if (!a.indptr) throw std::invalid_argument(name + ": indptr is null");
  if (a.indptr[0] != 0) throw std::invalid_argument(name + ": indptr[0] = " + std::to_string(a.indptr[0]) + " != 0");
  for (int64_t r = 0; r < n; ++r)
    if (a.indptr[r + 1] < a.indptr[r])
      throw std::invalid_argument(name + ": indptr[" + std::to_string(r + 1) + "] = " +
                                  std::to_string(a.indptr[r + 1]) + " < indptr[" + std::to_string(r) +
                                  "] = " + std::to_string(a.indptr[r]));
  if (a.indptr[n] > 0 && !a.indices) throw std::invalid_argument(name + ": indices is null");
  // Column ids are checked by bucketCorrections, which reads them anyway.
}

// The nonzeros grouped by tile: a stable counting sort by min block (in CSR order), then, per bucket and in
// parallel, a stable counting sort by max block. Entries come out ordered by (min block, max block) and,
// within a tile, in CSR order, which fixes the order of the floating-point updates (deterministic).
// O(nnz + nb²/2) time; 8 bytes per nonzero plus one bucket of scratch per thread.
CorrectionBuckets bucketCorrections(int64_t n, int64_t nb, const CsrView& a, const char* what) {
  CorrectionBuckets b;
  b.start.assign(static_cast<size_t>(nb) + 1, 0);
  const int64_t nnz = n > 0 ? a.indptr[n] : 0;
  if (nnz == 0) return b;
  for (int64_t p = 0; p < n; ++p) {
    const int64_t bp = p / kBlock;
    for (int64_t e = a.indptr[p]; e < a.indptr[p + 1]; ++e) {
      const int32_t q = a.indices[e];
      if (q < 0 || q >= n)
        throw std::invalid_argument(std::string(what) + ": column id " + std::to_string(q) + " at position " +
                                    std::to_string(e) + " is outside [0, " + std::to_string(n) + ")");
      ++b.start[std::min<int64_t>(bp, q / kBlock) + 1];
    }
  }
  for (int64_t I = 0; I < nb; ++I) b.start[I + 1] += b.start[I];
  b.entries.resize(static_cast<size_t>(nnz));
  {
    std::vector<int64_t> next(b.start.begin(), b.start.end() - 1);
    for (int64_t p = 0; p < n; ++p) {
      const int64_t bp = p / kBlock;
      for (int64_t e = a.indptr[p]; e < a.indptr[p + 1]; ++e) {
        const int64_t q = a.indices[e];
        const int64_t bq = q / kBlock;
        // Local position in the canonical tile (min block, max block): (p, q) if bp <= bq, else (q, p).
        const int64_t lo = bp <= bq ? p : q, hi = bp <= bq ? q : p;
        const int64_t I = std::min(bp, bq), J = std::max(bp, bq);
        b.entries[static_cast<size_t>(next[I]++)] = {static_cast<uint16_t>(J), static_cast<uint8_t>(lo - I * kBlock),
                                                     static_cast<uint8_t>(hi - J * kBlock),
                                                     a.values ? a.values[e] : 1.0f};
      }
    }
  }
  parallelFor(nb, 1, [&](int64_t first, int64_t last) {
    std::vector<Correction> bucket;
    std::vector<int64_t> next;
    for (int64_t I = first; I < last; ++I) {
      Correction* begin = b.entries.data() + b.start[I];
      const int64_t size = b.start[I + 1] - b.start[I];
      if (size < 2) continue;
      bucket.assign(begin, begin + size);
      next.assign(static_cast<size_t>(nb - I) + 1, 0);  // keys J − I ∈ [0, nb − I)
      for (const Correction& c : bucket) ++next[c.blockJ - I + 1];
      for (int64_t k = 0; k < nb - I; ++k) next[k + 1] += next[k];
      for (const Correction& c : bucket) begin[next[c.blockJ - I]++] = c;
    }
  });
  return b;
}

// max(ln x, −100) for x ∈ [0, 1] in double (a NaN x stays NaN).
inline double logClampedScalar(float x) {
  return x == 0.0f ? -100.0 : std::max(std::log(static_cast<double>(x)), -100.0);
}

// ─── One tile ──────────────────────────────────────────────────────────────────────────────────────────────────

enum class LossKind { Mse, Bce };

// One embedding Z (n × d) and what the tiles read of it:
//   * rows of a block straight from Z (row stride d). The products load vectors of kWidthPad floats, i.e. up to
//     dPad − d floats past the end of a row: harmless inside Z (they only reach output columns ≥ d, which are
//     dropped), but past the end of the array for the last rows, so the last block is read from lastBlock, a
//     zero-padded copy (rowsPad rows of stride d plus kWidthPad floats of slack);
//   * Z_Jᵀ for the Gram: blocksT holds every block transposed, [block][k < d][kBlock], zero past row n.
struct Embedding {
  const float* z = nullptr;
  int64_t d = 0, dPad = 0;
  std::vector<float> blocksT, lastBlock;
  double* acc = nullptr;  // n × d gradient accumulator, or null when this gradient is not wanted

  const float* blockRows(int64_t block, int64_t nb) const {
    return block == nb - 1 ? lastBlock.data() : z + block * kBlock * d;
  }
  const float* blockT(int64_t block) const { return blocksT.data() + block * d * kBlock; }
};

// Fills blocksT and lastBlock of an embedding (parallel over blocks).
void prepareEmbedding(Embedding& m, int64_t n, int64_t nb) {
  const int64_t d = m.d;
  m.blocksT.assign(static_cast<size_t>(nb * d * kBlock), 0.0f);
  parallelFor(nb, 8, [&](int64_t first, int64_t last) {
    for (int64_t b = first; b < last; ++b) {
      const int64_t r0 = b * kBlock, rows = std::min(kBlock, n - r0);
      float* dst = m.blocksT.data() + b * d * kBlock;
      for (int64_t r = 0; r < rows; ++r) {
        const float* src = m.z + (r0 + r) * d;
        for (int64_t k = 0; k < d; ++k) dst[k * kBlock + r] = src[k];
      }
    }
  });
  const int64_t r0 = (nb - 1) * kBlock, rows = n - r0;
  m.lastBlock.assign(static_cast<size_t>(roundUp(rows, kTilePad) * d + kWidthPad), 0.0f);
  std::memcpy(m.lastBlock.data(), m.z + r0 * d, sizeof(float) * static_cast<size_t>(rows * d));
}

struct Problem {
  LossKind kind;
  int64_t n, nb;
  int nEmb;
  Embedding emb[2];
  const CorrectionBuckets* corrections;
  const TileKernels* kernels;
};

void prefetchForWrite(const double* p, int64_t count) {
  for (int64_t i = 0; i < count; i += 8) __builtin_prefetch(p + i, 1, 3);  // one 64-byte line per 8 doubles
}
void prefetchForRead(const float* p, int64_t count) {
  for (int64_t i = 0; i < count; i += 16) __builtin_prefetch(p + i, 0, 3);  // one 64-byte line per 16 floats
}

// Computes tile (I, J), I ≤ J: returns its loss partial (not yet divided by n²; an off-diagonal tile counts
// both orientations) and adds its gradient contributions to the accumulators of blocks I and J.
double runTile(const Problem& p, int64_t I, int64_t J) {
  const TileKernels& k = *p.kernels;
  TileWorkspace& ws = workspace();
  const bool diagonal = I == J;
  const int64_t i0 = I * kBlock, j0 = J * kBlock;
  const int64_t rows = std::min(kBlock, p.n - i0), cols = std::min(kBlock, p.n - j0);
  const int64_t rowsPad = roundUp(rows, kTilePad), colsPad = roundUp(cols, kTilePad);

  // Each tile works on a new pair of blocks, whose rows of Z, transposed blocks and accumulator rows (10, 10
  // and 20 KiB per block for d = 20) are out of L2, and for large n out of L3: start fetching them all now.
  for (int e = 0; e < p.nEmb; ++e) {
    const Embedding& m = p.emb[e];
    prefetchForRead(m.blockT(J), m.d * kBlock);
    prefetchForRead(m.blockRows(I, p.nb), rows * m.d);
    if (!diagonal) prefetchForRead(m.blockRows(J, p.nb), cols * m.d);
    if (!m.acc) continue;
    prefetchForWrite(m.acc + i0 * m.d, rows * m.d);
    if (!diagonal) prefetchForWrite(m.acc + j0 * m.d, cols * m.d);
  }

  float* s[2] = {nullptr, nullptr};
  float* c[2] = {nullptr, nullptr};
  for (int e = 0; e < p.nEmb; ++e) {
    const Embedding& m = p.emb[e];
    s[e] = ws.s[e].get(static_cast<size_t>(kBlock * kLd));
    k.gram(rowsPad, colsPad, m.d, m.blockRows(I, p.nb), m.d, m.blockT(J), kBlock, s[e], kLd);
    if (m.acc) c[e] = ws.c[e].get(static_cast<size_t>(kBlock * kLd));
  }

  // Dense part (σ over S, loss, dense C).
  double loss;
  if (p.kind == LossKind::Mse) {
    loss = k.mse(MseTileArgs{rows, cols, rowsPad, colsPad, s[0], s[1], c[0], c[1]});
  } else {
    loss = k.bce(BceTileArgs{rows, cols, rowsPad, colsPad, s[0], c[0]});
  }
  if (!diagonal) loss *= 2.0;

  // Sparse corrections at the stored entries of this tile.
  const auto range = p.corrections->tile(I, J);
  for (const Correction* e = range.first; e != range.second; ++e) {
    const int64_t at = e->i * kLd + e->j, mirror = e->j * kLd + e->i;
    const float v = e->value;
    if (p.kind == LossKind::Mse) {
      const float sig1 = s[0][at];
      const float sig2 = s[1] ? s[1][at] : 0.0f;
      const float sum = s[1] ? sig1 + sig2 : sig1;  // the float sum, as in the dense pass
      // (sum − v)² replaces the dense pass's term, which entered its float sum as sum·sum rounded to float
      // (subtracting exactly that keeps e.g. a single pair exact where σ ≈ A cancels most of it).
      const double exact = static_cast<double>(sum) - static_cast<double>(v);
      loss += exact * exact - static_cast<double>(sum * sum);
      for (int m = 0; m < p.nEmb; ++m) {
        if (!c[m]) continue;
        const float sig = m == 0 ? sig1 : sig2;
        const float delta = sig * (1.0f - sig) * v;
        c[m][at] -= delta;
        if (diagonal) c[m][mirror] -= delta;
      }
    } else {
      const float a = s[0][at];
      const float oneMinusA = 1.0f - a;
      loss += static_cast<double>(v) * (logClampedScalar(oneMinusA) - logClampedScalar(a));
      if (c[0]) {
        const float pa = oneMinusA * a;
        const float kappa = pa >= 1e-12f ? 1.0f : pa * 1e12f;
        c[0][at] -= kappa * v;
        if (diagonal) c[0][mirror] -= kappa * v;
      }
    }
  }

  // Gradient products.
  for (int e = 0; e < p.nEmb; ++e) {
    const Embedding& m = p.emb[e];
    if (!m.acc) continue;
    float* out = ws.outI.get(static_cast<size_t>(kBlock * m.dPad));
    k.product(rowsPad, cols, m.dPad, c[e], kLd, 1, m.blockRows(J, p.nb), m.d, out, m.dPad);  // C_IJ Z_J
    k.accumulate(m.acc + i0 * m.d, m.d, rows, out, m.dPad);
    if (!diagonal) {
      out = ws.outJ.get(static_cast<size_t>(kBlock * m.dPad));
      k.product(colsPad, rows, m.dPad, c[e], 1, kLd, m.blockRows(I, p.nb), m.d, out, m.dPad);  // C_IJᵀ Z_I
      k.accumulate(m.acc + j0 * m.d, m.d, cols, out, m.dPad);
    }
  }
  return loss;
}

// ─── The schedule ──────────────────────────────────────────────────────────────────────────────────────────────

// Round-robin pairing (circle method) of nb blocks: with m = nb rounded up to even, round r ∈ [0, m−1) pairs
// block m−1 with r and (r+q) mod (m−1) with (r−q) mod (m−1) for q = 1 … m/2−1. A pair containing the dummy
// block nb (odd nb) is skipped (returns false). Every unordered pair of distinct blocks occurs exactly once.
bool roundPair(int64_t nb, int64_t round, int64_t q, int64_t* I, int64_t* J) {
  const int64_t m = nb + (nb & 1);
  int64_t a, b;
  if (q == 0) {
    a = m - 1;
    b = round;
  } else {
    a = (round + q) % (m - 1);
    b = (round - q + (m - 1)) % (m - 1);
  }
  if (a >= nb || b >= nb) return false;
  *I = std::min(a, b);
  *J = std::max(a, b);
  return true;
}

// An order-independent sum of doubles: each term is rounded to a multiple of 2^−62 and added as integers
// (whole part, and fraction in units of 2^−62 kept in [0, 2^62)), so the result does not depend on the order in
// which tiles finish or on how they are spread over threads. Finite terms must be below 2^62 in magnitude (a
// tile's loss is at most about 2·128²·(100 + 200·max|t|)); NaN and ±inf (from NaN or inf inputs) propagate.
class ExactSum {
 public:
  void add(double x) {
    if (!std::isfinite(x)) {
      nonFinite_ += x;
      return;
    }
    const double whole = std::trunc(x);
    whole_ += static_cast<int64_t>(whole);
    fraction_ += static_cast<int64_t>(std::ldexp(x - whole, 62));  // x − whole is exact, |·| < 1
    normalize();
  }
  void add(const ExactSum& other) {
    whole_ += other.whole_;
    fraction_ += other.fraction_;
    nonFinite_ += other.nonFinite_;
    normalize();
  }
  double value() const {
    return static_cast<double>(whole_) + std::ldexp(static_cast<double>(fraction_), -62) + nonFinite_;
  }

 private:
  static constexpr int64_t kUnit = int64_t{1} << 62;
  void normalize() {  // fraction_ ∈ (−2^62, 2^63) here; bring it to [0, 2^62), a unique representation
    while (fraction_ >= kUnit) fraction_ -= kUnit, ++whole_;
    while (fraction_ < 0) fraction_ += kUnit, --whole_;
  }
  int64_t whole_ = 0, fraction_ = 0;
  double nonFinite_ = 0.0;  // sum of the NaN / ±inf terms (0 if none)
};

inline void spinPause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Runs every tile and returns the sum of their loss partials (not yet divided by n²).
//
// Tiles are numbered in a fixed global order: the nb diagonal tiles, then the rounds of the round-robin
// schedule, pair by pair. Threads claim tile numbers in increasing order from a shared counter. With
// gradients, a tile of round r touching block B first waits until every earlier tile touching B has finished:
// blockDone[B] counts them, and exactly need(B, r) = 1 + r − [nb odd and B < r] tiles touch B before round r
// (its diagonal tile and one per earlier round, except round B, where an odd nb leaves B paired with the
// dummy). So each accumulator row receives its contributions in the global order whatever the thread count,
// without a barrier per round. Progress is guaranteed: the oldest unfinished claimed tile only depends on older
// tiles, which have all finished. The loss partials go through ExactSum, so their order does not matter, and a
// forward-only call (no waiting at all) gives the same loss bit for bit.
double runAllTiles(const Problem& p) {
  const int64_t nb = p.nb;
  const int64_t rounds = nb >= 2 ? nb + (nb & 1) - 1 : 0;
  const int64_t pairsPerRound = (nb + (nb & 1)) / 2;
  const int64_t tiles = nb + rounds * pairsPerRound;  // including the pairs with the dummy block (skipped)
  bool wantGradient = false;
  for (int e = 0; e < p.nEmb; ++e) wantGradient = wantGradient || p.emb[e].acc != nullptr;

  std::unique_ptr<std::atomic<int64_t>[]> blockDone(new std::atomic<int64_t>[static_cast<size_t>(nb)]);
  for (int64_t b = 0; b < nb; ++b) blockDone[b].store(0, std::memory_order_relaxed);
  auto need = [&](int64_t block, int64_t round) { return 1 + round - ((nb & 1) && block < round ? 1 : 0); };
  std::atomic<int64_t> nextTile{0};
  std::atomic<bool> failed{false};
  std::mutex errorMutex;
  std::exception_ptr error;

  const int slots = std::max(1, numThreads());
  std::vector<ExactSum> slotLoss(static_cast<size_t>(slots));
  parallelFor(slots, 1, [&](int64_t slot, int64_t) {
    ExactSum sum;
    for (;;) {
      const int64_t t = nextTile.fetch_add(1, std::memory_order_relaxed);
      if (t >= tiles || failed.load(std::memory_order_relaxed)) break;
      int64_t I = t, J = t, needI = 0, needJ = 0;
      if (t >= nb) {
        const int64_t round = (t - nb) / pairsPerRound, q = (t - nb) % pairsPerRound;
        if (!roundPair(nb, round, q, &I, &J)) continue;
        needI = need(I, round);
        needJ = need(J, round);
      }
      if (wantGradient) {
        for (int spins = 0; blockDone[I].load(std::memory_order_acquire) < needI ||
                            blockDone[J].load(std::memory_order_acquire) < needJ;
             ++spins) {
          if (failed.load(std::memory_order_relaxed)) return;
          if (spins < 256)
            spinPause();
          else
            std::this_thread::yield();
        }
      }
      try {
        sum.add(runTile(p, I, J));
      } catch (...) {
        std::lock_guard<std::mutex> lock(errorMutex);
        if (!error) error = std::current_exception();
        failed.store(true);
        return;
      }
      if (wantGradient) {
        blockDone[I].fetch_add(1, std::memory_order_release);
        if (J != I) blockDone[J].fetch_add(1, std::memory_order_release);
      }
    }
    slotLoss[static_cast<size_t>(slot)] = sum;
  });
  if (error) std::rethrow_exception(error);
  ExactSum total;
  for (const ExactSum& s : slotLoss) total.add(s);
  return total.value();
}

// Allocates a zeroed n × d double accumulator (zeroed in parallel: first touch spreads the pages).
std::unique_ptr<double[]> zeroAccumulator(int64_t n, int64_t d) {
  std::unique_ptr<double[]> acc(new double[static_cast<size_t>(n * d)]);
  parallelFor(n, 4096, [&](int64_t first, int64_t last) {
    std::memset(acc.get() + first * d, 0, sizeof(double) * static_cast<size_t>((last - first) * d));
  });
  return acc;
}

void writeGradient(int64_t n, int64_t d, const double* acc, double scale, float* dZ) {
  parallelFor(n, 4096, [&](int64_t first, int64_t last) {
    for (int64_t i = first * d; i < last * d; ++i) dZ[i] = static_cast<float>(scale * acc[i]);
  });
}

void checkSize(int64_t n, const char* name) {
  if ((n + kBlock - 1) / kBlock > kMaxBlocks)
    throw std::invalid_argument(std::string(name) + ": n = " + std::to_string(n) + " exceeds the supported " +
                                std::to_string(kMaxBlocks * kBlock));
}

void checkEmbedding(int64_t n, const float* Z, int64_t d, const char* name) {
  if (d < 1) throw std::invalid_argument(std::string(name) + ": width must be >= 1, got " + std::to_string(d));
  if (n > 0 && !Z) throw std::invalid_argument(std::string(name) + " is null");
}

}  // namespace

// ─── Public entry points ───────────────────────────────────────────────────────────────────────────────────────

double gramSigmoidMseLoss(int64_t n, const float* Z1, int64_t d1, const float* Z2, int64_t d2, CsrView A, float g,
                          float* dZ1, float* dZ2) {
  if (n < 0) throw std::invalid_argument("gramSigmoidMseLoss: n must be >= 0, got " + std::to_string(n));
  checkEmbedding(n, Z1, d1, "gramSigmoidMseLoss: Z1");
  const bool two = Z2 != nullptr;
  if (two) checkEmbedding(n, Z2, d2, "gramSigmoidMseLoss: Z2");
  checkCsr(n, A, "gramSigmoidMseLoss: A");
  checkSize(n, "gramSigmoidMseLoss");
  if (n == 0) return 0.0;

  Problem p;
  p.kind = LossKind::Mse;
  p.n = n;
  p.nb = (n + kBlock - 1) / kBlock;
  p.nEmb = two ? 2 : 1;
  const CorrectionBuckets corrections = bucketCorrections(n, p.nb, A, "gramSigmoidMseLoss: A");
  p.corrections = &corrections;
  p.kernels = &activeKernels();
  std::unique_ptr<double[]> acc[2];
  const float* zs[2] = {Z1, Z2};
  const int64_t ds[2] = {d1, d2};
  float* grads[2] = {dZ1, two ? dZ2 : nullptr};
  for (int e = 0; e < p.nEmb; ++e) {
    p.emb[e].z = zs[e];
    p.emb[e].d = ds[e];
    p.emb[e].dPad = roundUp(ds[e], kWidthPad);
    prepareEmbedding(p.emb[e], n, p.nb);
    if (grads[e]) {
      acc[e] = zeroAccumulator(n, ds[e]);
      p.emb[e].acc = acc[e].get();
    }
  }
  const double nn = static_cast<double>(n) * static_cast<double>(n);
  const double loss = runAllTiles(p) / nn;
  for (int e = 0; e < p.nEmb; ++e)
    if (grads[e]) writeGradient(n, ds[e], acc[e].get(), 2.0 * static_cast<double>(g) / nn, grads[e]);
  return loss;
}

double gramSigmoidBceLoss(int64_t n, const float* Z, int64_t d, CsrView T, float g, float* dZ) {
  if (n < 0) throw std::invalid_argument("gramSigmoidBceLoss: n must be >= 0, got " + std::to_string(n));
  checkEmbedding(n, Z, d, "gramSigmoidBceLoss: Z");
  checkCsr(n, T, "gramSigmoidBceLoss: T");
  checkSize(n, "gramSigmoidBceLoss");
  if (n == 0) return 0.0;

  Problem p;
  p.kind = LossKind::Bce;
  p.n = n;
  p.nb = (n + kBlock - 1) / kBlock;
  p.nEmb = 1;
  const CorrectionBuckets corrections = bucketCorrections(n, p.nb, T, "gramSigmoidBceLoss: T");
  p.corrections = &corrections;
  p.kernels = &activeKernels();
  std::unique_ptr<double[]> acc;
  p.emb[0].z = Z;
  p.emb[0].d = d;
  p.emb[0].dPad = roundUp(d, kWidthPad);
  prepareEmbedding(p.emb[0], n, p.nb);
  if (dZ) {
    acc = zeroAccumulator(n, d);
    p.emb[0].acc = acc.get();
  }
  const double nn = static_cast<double>(n) * static_cast<double>(n);
  const double loss = runAllTiles(p) / nn;
  if (dZ) writeGradient(n, d, acc.get(), static_cast<double>(g) / nn, dZ);
  return loss;
}

namespace recon_detail {
const char* activeKernelSetName() { return activeKernels().name; }
bool forceKernelSet(const char* name) { return choice().force(name); }
}  // namespace recon_detail

}  // namespace cpu
}  // namespace dgc
