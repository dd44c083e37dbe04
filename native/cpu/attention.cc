// Fused multi-head attention (interface and semantics in attention.h).
//
// ALGORITHM
//   Per head h, with logits s_ij = scale·q_i·k_j:
//     out_i = Σ_j p_ij v_j,   p_ij = exp(s_ij − lse_i),   lse_i = log Σ_j exp(s_ij).
//   Nothing of size n×m is stored: the logits are produced tile by tile (a block of query rows × a tile of
//   keys), used, and dropped.
//
//   Forward — online softmax (flash attention). For a block of query rows, walk over key tiles keeping per
//   row the running maximum m_i, the running sum ℓ_i = Σ_j exp(s_ij − m_i) and the unnormalised output
//   o_i = Σ_j exp(s_ij − m_i) v_j. For each tile:
//     S = Q_blk K_tileᵀ·scale;  m'_i = max(m_i, max_j S_ij);  α_i = exp(m_i − m'_i)
//     ℓ_i ← α_i ℓ_i + Σ_j exp(S_ij − m'_i);   o_i ← α_i o_i + Σ_j exp(S_ij − m'_i) v_j;   m_i ← m'_i
//   At the end out_i = o_i / ℓ_i and lse_i = m_i + log ℓ_i. Every exponent is ≤ 0, so nothing overflows,
//   and the row maximum contributes exp(0) = 1, so ℓ_i ≥ 1 and the division is safe (identical rows, zero
//   rows, logits of 1e7: all exact up to float rounding of the logits themselves).
//
//   Backward (the softmax-attention backward, with flash-attention 2's recomputation): with D_i = Σ_c dOut_ic·out_ic
//   (= Σ_j p_ij dP_ij, so no row of P is needed to get it) and P recomputed from lse,
//     dP_ij = dOut_i·v_j,   dS_ij = p_ij (dP_ij − D_i),
//     dQ_i = scale Σ_j dS_ij k_j,   dK_j = scale Σ_i dS_ij q_i,   dV_j = Σ_i p_ij dOut_i.
//   dQ sums over keys, dK and dV over queries. A single sweep would have to scatter one of them across
//   threads (atomics, or per-thread copies summed afterwards): atomics make the result depend on timing,
//   per-thread copies cost memory × threads. Instead there are two kinds of work items, run in one
//   parallelFor: a QUERY block recomputes P and dS for its rows against all keys and owns dQ of those rows;
//   a KEY block recomputes P and dS for its keys against all queries and owns dK and dV of those keys.
//   Each output element is written by exactly one item, whose summation order is fixed by the tile loop, so
//   the results are bit-identical for any thread count. The price is recomputing S and dP twice (14·d flops
//   per (i, j) pair instead of 10·d for d = dk = dv).
//
//   Self-correlation backward (DFCN, Q = K = V = Z, scale 1) is fused into one pass over row blocks. Since
//   S = Z Zᵀ is symmetric, the tile a row block computes also holds the logits of the transposed pairs, and
//     dZ_i = Σ_j dS_ij z_j  +  Σ_j dS_ji z_j  +  Σ_j p_ji dOut_j           (dQ + dK + dV)
//   with p_ji = exp(s_ij − lse_j) and dS_ji = p_ji (dOut_j·z_i − D_j): every term is a sum over j for a
//   fixed i, so a row block owns its dZ rows and needs no second pass: 10·d flops per pair and 2 exps.
//
// BLOCKING (how it runs at GEMM-like speed)
//   SIMD lanes run along the rows a work item owns (query rows in the forward, key rows in the backward's
//   key blocks). A block is NV vectors wide (48 rows with AVX-512). The other side is walked in tiles, and
//   every product is the same register-blocked micro-kernel (microTile below) as in a GEMM:
//     C[r][lanes] (MR rows × NV vectors, in registers) = Σ_k a(r, k) · B[k][lanes]
//   with a(r, k) broadcast from the row-major inputs themselves (rows of K or V, columns of V or dOut) and
//   B a small transposed copy of the block's own rows (Q_blkᵀ, dOut_blkᵀ) or the tile just computed.
//     forward: logits   S[j][q]  = Σ_p K[j][p]·Qᵀ[p][q]       (MR keys × block, k = dk)
//              output   Oᵀ[c][q] += Σ_j V[j][c]·P[j][q]       (MR value columns × block, k = keys in tile)
//   Because the lanes are rows, the per-row softmax statistics (max, sum, lse, D) are per-lane vectors: no
//   horizontal reductions. The exponential is a vectorised exp2 (logits are pre-multiplied by log2(e)),
//   degree-5 polynomial, relative error 2.3e-7, exactly 0 below 2^-125. The epilogues of the micro-kernel
//   fuse the elementwise steps: running max (forward), exp (P from lse), dS = P ∘ (dP − D).
//   The tile buffers (e.g. 128 keys × 48 rows = 24 KiB) stay in L1/L2; K, V, dOut rows are read once per
//   block from L2/L3.
//
// MEASURED (bench/attention, 2-core AMD Zen 4 VM, 2 threads, AVX-512 set; sgemm 2000³ ran at 208 GFLOP/s)
//   self-correlation d = 20, N = 10,000: forward 46 ms = 173 GFLOP/s (4·N²·d) = 83% of the GEMM rate;
//   fused backward 108 ms = 185 GFLOP/s counted as 10·N²·d (89%); the generic three-gradient path 141 ms.
//   N = 50,000: forward 1.18 s, backward 2.9 s. CaEGCN (N = 3,025, 8 heads, e = 10): forward 21 ms,
//   backward 61 ms (~65% and ~57% of the GEMM rate: with e = 10 the exps weigh twice as much per flop).
//   The tile sizes (key tile 64/128/256, micro-tiles 8×3, 12×2, 6×4) were within noise of each other.
//
// SIMD SETS
//   The addon is built without -march. The kernels below are written once, as templates over a vector
//   type, and compiled three times by re-including this file (as Highway's foreach_target does): AVX-512
//   (16 floats, 32 registers: 8×3 micro-tiles), AVX2+FMA (8 floats, 16 registers: 6×2) and a portable
//   4-float version. Each copy sits in its own namespace with its own target attribute; the driver picks
//   one at run time with __builtin_cpu_supports.

#ifndef DGC_ATTENTION_KERNEL_PASS
// =====================================================================================================
// Part 1: vector types, the three kernel instantiations, and the drivers.
// =====================================================================================================
#include "attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

#include "../core/thread_pool.h"
#include "isa.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>
#define DGC_ATTN_HAVE_X86_SIMD 1
#else
#define DGC_ATTN_HAVE_X86_SIMD 0
#endif

#if defined(__GNUC__)
#define DGC_ATTN_INLINE inline __attribute__((always_inline))
#define DGC_ATTN_UNROLL _Pragma("GCC unroll 32")
#else
#define DGC_ATTN_INLINE inline
#define DGC_ATTN_UNROLL
#endif

namespace dgc { namespace cpu { namespace attention_detail {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// exp2(f) on f ∈ [−0.5, 0.5]: 1 + f·(c1 + f·(c2 + …)), coefficients fitted for minimal relative error
// (max 2.3e-7 when evaluated in float, including rounding).
constexpr float kExp2C1 = 0.6931465864181519f;
constexpr float kExp2C2 = 0.24022166430950165f;
constexpr float kExp2C3 = 0.055510472506284714f;
constexpr float kExp2C4 = 0.009674952365458012f;
constexpr float kExp2C5 = 0.0013202981790527701f;
// Below 2^-125 the result is flushed to 0 (never a denormal; such terms are < 1e-37 of the row sum).
constexpr float kExp2Min = -125.0f;
constexpr float kExp2Max = 127.0f;

// Everything one call needs, shared by all work items. Row strides in floats.
struct Problem {
  int64_t n = 0, m = 0, heads = 0, dk = 0, dv = 0;
  float scale = 1.0f;
  const float *q = nullptr, *k = nullptr, *v = nullptr;
  int64_t ldq = 0, ldk = 0, ldv = 0;
  // forward outputs
  float* out = nullptr;
  int64_t ldo = 0;
  float* lse = nullptr;  // n × heads
  // backward inputs: dOut and the per-row statistics, stored head-major ([heads][n]) so that a tile of rows
  // of one head is contiguous
  const float* dOut = nullptr;
  int64_t lddo = 0;
  const float* lse2 = nullptr;   // lse · log2(e)
  const float* delta = nullptr;  // D_i = Σ_c dOut_ic·out_ic
  // backward outputs
  float *dQ = nullptr, *dK = nullptr, *dV = nullptr;
  int64_t lddq = 0, lddk = 0, lddv = 0;
};

// ---- Vector types ---------------------------------------------------------------------------------------
// Interface used by the kernels: T, W (floats per vector), zero, load, store, set1, add, sub, mul, max,
// fma(a, b, c) = a·b + c, exp2.

#if defined(__GNUC__) && !defined(DGC_ATTN_NO_VECTOR_EXTENSIONS)  // (the macro: to test the fallback)
// Portable: 4 floats as a GCC/Clang vector type (SSE2 on baseline x86-64, NEON on ARM).
struct Vec4 {
  typedef float T __attribute__((vector_size(16)));
  typedef uint32_t Bits __attribute__((vector_size(16)));  // casts between the two reinterpret the bits
  static constexpr int W = 4;
  static DGC_ATTN_INLINE T zero() { return T{0.0f, 0.0f, 0.0f, 0.0f}; }
  static DGC_ATTN_INLINE T load(const float* p) {
    T r;
    std::memcpy(&r, p, sizeof r);
    return r;
  }
  static DGC_ATTN_INLINE void store(float* p, T x) { std::memcpy(p, &x, sizeof x); }
  static DGC_ATTN_INLINE T set1(float x) { return T{x, x, x, x}; }
  static DGC_ATTN_INLINE T add(T a, T b) { return a + b; }
  static DGC_ATTN_INLINE T sub(T a, T b) { return a - b; }
  static DGC_ATTN_INLINE T mul(T a, T b) { return a * b; }
  static DGC_ATTN_INLINE T select(Bits mask, T a, T b) { return (T)((mask & (Bits)a) | (~mask & (Bits)b)); }
  static DGC_ATTN_INLINE T max(T a, T b) { return select((Bits)(a > b), a, b); }
  static DGC_ATTN_INLINE T fma(T a, T b, T c) { return a * b + c; }
  // Round by adding 1.5·2^23 (t + magic holds round(t) in its low mantissa bits, two's complement), a
  // polynomial on the remainder, and round(t) added to the exponent field as an integer.
  static DGC_ATTN_INLINE T exp2(T t) {
    const Bits keep = (Bits)(t >= set1(kExp2Min));  // all-ones lanes; false for NaN
    t = select((Bits)(t < set1(kExp2Max)), t, set1(kExp2Max));
    const T magic = set1(12582912.0f);
    const T shifted = t + magic;
    const T f = t - (shifted - magic);
    const T p = 1.0f + f * (kExp2C1 + f * (kExp2C2 + f * (kExp2C3 + f * (kExp2C4 + f * kExp2C5))));
    return (T)((((Bits)p) + (((Bits)shifted) << 23)) & keep);
  }
};
#else
// Portable fallback for compilers without vector extensions: 4 floats in a struct.
struct Vec4 {
  struct T {
    float v[4];
  };
  static constexpr int W = 4;
  static DGC_ATTN_INLINE T zero() { return T{{0.0f, 0.0f, 0.0f, 0.0f}}; }
  static DGC_ATTN_INLINE T load(const float* p) {
    T r;
    std::memcpy(r.v, p, sizeof r.v);
    return r;
  }
  static DGC_ATTN_INLINE void store(float* p, T x) { std::memcpy(p, x.v, sizeof x.v); }
  static DGC_ATTN_INLINE T set1(float x) { return T{{x, x, x, x}}; }
#define DGC_ATTN_VEC4_BINARY(name, expr)            \
  static DGC_ATTN_INLINE T name(T a, T b) {         \
    T r;                                            \
    for (int i = 0; i < 4; ++i) r.v[i] = (expr);    \
    return r;                                       \
  }
  DGC_ATTN_VEC4_BINARY(add, a.v[i] + b.v[i])
  DGC_ATTN_VEC4_BINARY(sub, a.v[i] - b.v[i])
  DGC_ATTN_VEC4_BINARY(mul, a.v[i] * b.v[i])
  DGC_ATTN_VEC4_BINARY(max, a.v[i] > b.v[i] ? a.v[i] : b.v[i])
#undef DGC_ATTN_VEC4_BINARY
  static DGC_ATTN_INLINE T fma(T a, T b, T c) {
    T r;
    for (int i = 0; i < 4; ++i) r.v[i] = a.v[i] * b.v[i] + c.v[i];
    return r;
  }
  static DGC_ATTN_INLINE float exp2Scalar(float t) {
    if (!(t >= kExp2Min)) return 0.0f;  // also NaN → 0
    t = std::min(t, kExp2Max);
    const float magic = 12582912.0f;  // 1.5·2^23: t + magic rounds t to an integer in the low mantissa bits
    const float shifted = t + magic;
    const float whole = shifted - magic;
    const float f = t - whole;
    const float p =
        1.0f + f * (kExp2C1 + f * (kExp2C2 + f * (kExp2C3 + f * (kExp2C4 + f * kExp2C5))));
    uint32_t pBits, shiftedBits;
    std::memcpy(&pBits, &p, 4);
    std::memcpy(&shiftedBits, &shifted, 4);
    pBits += shiftedBits << 23;  // the low bits of `shifted` hold whole (two's complement): adds it to the exponent
    float r;
    std::memcpy(&r, &pBits, 4);
    return r;
  }
  static DGC_ATTN_INLINE T exp2(T t) {
    T r;
    for (int i = 0; i < 4; ++i) r.v[i] = exp2Scalar(t.v[i]);
    return r;
  }
};
#endif  // vector extensions

#if DGC_ATTN_HAVE_X86_SIMD
#define DGC_ATTN_AVX2 __attribute__((target("avx2,fma")))
#define DGC_ATTN_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")))

// AVX2 + FMA: 8 floats, 16 registers.
struct Ymm {
  using T = __m256;
  static constexpr int W = 8;
  DGC_ATTN_AVX2 static DGC_ATTN_INLINE T zero() { return _mm256_setzero_ps(); }
  DGC_ATTN_AVX2 static DGC_ATTN_INLINE T load(const float* p) { return _mm256_loadu_ps(p); }
  DGC_ATTN_AVX2 static DGC_ATTN_INLINE void store(float* p, T x) { _mm256_storeu_ps(p, x); }
  DGC_ATTN_AVX2 static DGC_ATTN_INLINE T set1(float x) { return _mm256_set1_ps(x); }
  DGC_ATTN_AVX2 static DGC_ATTN_INLINE T add(T a, T b) { return _mm256_add_ps(a, b); }
  DGC_ATTN_AVX2 static DGC_ATTN_INLINE T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  DGC_ATTN_AVX2 static DGC_ATTN_INLINE T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  DGC_ATTN_AVX2 static DGC_ATTN_INLINE T max(T a, T b) { return _mm256_max_ps(a, b); }
  DGC_ATTN_AVX2 static DGC_ATTN_INLINE T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  // Same method as Vec4::exp2Scalar: round by the 1.5·2^23 trick, polynomial, exponent added as integer.
  DGC_ATTN_AVX2 static DGC_ATTN_INLINE T exp2(T t) {
    const __m256 keep = _mm256_cmp_ps(t, _mm256_set1_ps(kExp2Min), _CMP_GE_OQ);  // false for NaN too
    t = _mm256_min_ps(t, _mm256_set1_ps(kExp2Max));
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    const __m256 shifted = _mm256_add_ps(t, magic);
    const __m256 f = _mm256_sub_ps(t, _mm256_sub_ps(shifted, magic));
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(kExp2C5), f, _mm256_set1_ps(kExp2C4));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2C3));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2C2));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2C1));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    const __m256i exponent = _mm256_slli_epi32(_mm256_castps_si256(shifted), 23);
    const __m256 r = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), exponent));
    return _mm256_and_ps(r, keep);
  }
};

// AVX-512: 16 floats, 32 registers. (On Zen 4 a zmm op runs as two 256-bit halves, so the peak is the same
// as AVX2's, but half the instructions and the 32 registers allow 8×3-vector micro-tiles.)
struct Zmm {
  using T = __m512;
  static constexpr int W = 16;
  DGC_ATTN_AVX512 static DGC_ATTN_INLINE T zero() { return _mm512_setzero_ps(); }
  DGC_ATTN_AVX512 static DGC_ATTN_INLINE T load(const float* p) { return _mm512_loadu_ps(p); }
  DGC_ATTN_AVX512 static DGC_ATTN_INLINE void store(float* p, T x) { _mm512_storeu_ps(p, x); }
  DGC_ATTN_AVX512 static DGC_ATTN_INLINE T set1(float x) { return _mm512_set1_ps(x); }
  DGC_ATTN_AVX512 static DGC_ATTN_INLINE T add(T a, T b) { return _mm512_add_ps(a, b); }
  DGC_ATTN_AVX512 static DGC_ATTN_INLINE T sub(T a, T b) { return _mm512_sub_ps(a, b); }
  DGC_ATTN_AVX512 static DGC_ATTN_INLINE T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  // mask_ form with a full mask: GCC 12's plain _mm512_max_ps trips -Wuninitialized (_mm512_undefined_ps).
  DGC_ATTN_AVX512 static DGC_ATTN_INLINE T max(T a, T b) { return _mm512_mask_max_ps(a, 0xFFFF, a, b); }
  DGC_ATTN_AVX512 static DGC_ATTN_INLINE T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  // Round to nearest, polynomial on the remainder, scale by 2^whole (vscalefps); lanes below 2^-125 (and
  // NaN) are zeroed by the mask.
  DGC_ATTN_AVX512 static DGC_ATTN_INLINE T exp2(T t) {
    const __mmask16 keep = _mm512_cmp_ps_mask(t, _mm512_set1_ps(kExp2Min), _CMP_GE_OQ);
    // (mask_ forms with a full mask, as in max above.)
    t = _mm512_mask_min_ps(t, 0xFFFF, t, _mm512_set1_ps(kExp2Max));
    const __m512 whole = _mm512_mask_roundscale_ps(t, 0xFFFF, t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 f = _mm512_sub_ps(t, whole);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(kExp2C5), f, _mm512_set1_ps(kExp2C4));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExp2C3));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExp2C2));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExp2C1));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_maskz_scalef_ps(keep, p, whole);
  }
};
#endif  // DGC_ATTN_HAVE_X86_SIMD

// One instruction set's work-item functions (defined by the kernel part below).
struct KernelSet {
  const char* name;
  int64_t block;                              // rows per work item (SIMD lanes × vectors)
  int64_t (*scratchFloats)(const Problem&);   // workspace one work item needs (any kind)
  void (*forwardBlock)(const Problem&, int64_t head, int64_t firstRow, float* scratch);
  void (*backwardQueryBlock)(const Problem&, int64_t head, int64_t firstRow, float* scratch);
  void (*backwardKeyBlock)(const Problem&, int64_t head, int64_t firstRow, float* scratch);
  void (*selfBackwardBlock)(const Problem&, int64_t firstRow, float* scratch);  // Q = K = V, heads = 1
};

}  // namespace
}}}  // namespace dgc::cpu::attention_detail

// ---- The kernels, once per instruction set --------------------------------------------------------------
// Each inclusion below compiles Part 2 of this file with a vector type, micro-tile shape and function
// attribute, inside its own namespace.
#define DGC_ATTENTION_KERNEL_PASS 1

#define DGC_ATTN_ISA portable
#define DGC_ATTN_VEC Vec4
#define DGC_ATTN_TARGET
#define DGC_ATTN_MR 4
#define DGC_ATTN_NV 2
#include "attention.cc"
#undef DGC_ATTN_ISA
#undef DGC_ATTN_VEC
#undef DGC_ATTN_TARGET
#undef DGC_ATTN_MR
#undef DGC_ATTN_NV

#if DGC_ATTN_HAVE_X86_SIMD
#define DGC_ATTN_ISA avx2
#define DGC_ATTN_VEC Ymm
#define DGC_ATTN_TARGET DGC_ATTN_AVX2
#define DGC_ATTN_MR 6
#define DGC_ATTN_NV 2
#include "attention.cc"
#undef DGC_ATTN_ISA
#undef DGC_ATTN_VEC
#undef DGC_ATTN_TARGET
#undef DGC_ATTN_MR
#undef DGC_ATTN_NV

#define DGC_ATTN_ISA avx512
#define DGC_ATTN_VEC Zmm
#define DGC_ATTN_TARGET DGC_ATTN_AVX512
#ifdef DGC_ATTN_ZMM_MR  // for tuning experiments
#define DGC_ATTN_MR DGC_ATTN_ZMM_MR
#define DGC_ATTN_NV DGC_ATTN_ZMM_NV
#else
#define DGC_ATTN_MR 8
#define DGC_ATTN_NV 3
#endif
#include "attention.cc"
#undef DGC_ATTN_ISA
#undef DGC_ATTN_VEC
#undef DGC_ATTN_TARGET
#undef DGC_ATTN_MR
#undef DGC_ATTN_NV
#endif

#undef DGC_ATTENTION_KERNEL_PASS

// ---- Drivers -------------------------------------------------------------------------------------------
namespace dgc { namespace cpu {
namespace attention_detail {
namespace {

// The kernel set in use (isa.h): AVX-512, AVX2 + FMA or portable; DGCLUST_ATTENTION_KERNEL names one.
KernelSetChoice<KernelSet>& choice() {
  static KernelSetChoice<KernelSet> c("DGCLUST_ATTENTION_KERNEL", {
#if DGC_ATTN_HAVE_X86_SIMD
      {"avx512", cpuHasAvx512, &avx512::kKernels},
      {"avx2", cpuHasAvx2Fma, &avx2::kKernels},
#endif
      {"portable", anyCpu, &portable::kKernels},
  });
  return c;
}

const KernelSet& kernels() { return choice().active(); }

// A 64-byte aligned float workspace, one per chunk of work items.
class Workspace {
 public:
  explicit Workspace(int64_t floats)
      : data_(static_cast<float*>(::operator new(sizeof(float) * static_cast<size_t>(std::max<int64_t>(floats, 16)),
                                                 std::align_val_t(64)))) {}
  ~Workspace() { ::operator delete(data_, std::align_val_t(64)); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  float* get() const { return data_; }

 private:
  float* data_;
};

void checkSizes(const char* op, int64_t n, int64_t m, int64_t heads, int64_t dk, int64_t dv) {
  if (n < 0 || m < 0 || heads < 1 || dk < 1 || dv < 1)
    throw std::invalid_argument(std::string(op) + ": need n, m >= 0 and heads, dk, dv >= 1 (got n=" +
                                std::to_string(n) + ", m=" + std::to_string(m) + ", heads=" +
                                std::to_string(heads) + ", dk=" + std::to_string(dk) + ", dv=" +
                                std::to_string(dv) + ")");
}

void checkStride(const char* op, const char* what, int64_t ld, int64_t width) {
  if (ld < width)
    throw std::invalid_argument(std::string(op) + ": row stride of " + what + " (" + std::to_string(ld) +
                                ") is smaller than its width (" + std::to_string(width) + ")");
}

void zeroRows(float* x, int64_t rows, int64_t width, int64_t ld) {
  for (int64_t i = 0; i < rows; ++i) std::fill(x + i * ld, x + i * ld + width, 0.0f);
}

// Runs `items` work items (each ~costPerItem flops) in chunks over the pool, each chunk with one workspace.
template <class Fn>
void runItems(int64_t items, int64_t costPerItem, int64_t scratchFloats, const Fn& fn) {
  const int64_t grain = grainFor(items, costPerItem);
  parallelFor(items, grain, [&](int64_t begin, int64_t end) {
    Workspace ws(scratchFloats);
    for (int64_t item = begin; item < end; ++item) fn(item, ws.get());
  });
}

void forward(Problem& p) {
  checkSizes("attentionForward", p.n, p.m, p.heads, p.dk, p.dv);
  checkStride("attentionForward", "Q", p.ldq, p.heads * p.dk);
  checkStride("attentionForward", "K", p.ldk, p.heads * p.dk);
  checkStride("attentionForward", "V", p.ldv, p.heads * p.dv);
  checkStride("attentionForward", "out", p.ldo, p.heads * p.dv);
  if (p.n == 0) return;
  if (p.m == 0) {  // softmax over no keys: define out = 0 and lse = log(0)
    zeroRows(p.out, p.n, p.heads * p.dv, p.ldo);
    std::fill(p.lse, p.lse + p.n * p.heads, -std::numeric_limits<float>::infinity());
    return;
  }
  const KernelSet& ks = kernels();
  const int64_t blocks = (p.n + ks.block - 1) / ks.block;
  runItems(p.heads * blocks, ks.block * p.m * 2 * (p.dk + p.dv), ks.scratchFloats(p),
           [&](int64_t item, float* scratch) {
             ks.forwardBlock(p, item / blocks, (item % blocks) * ks.block, scratch);
           });
}

// The backward's per-row statistics, head-major: lse2[h·n + i] = lse·log2(e), delta[h·n + i] = D_i.
// Also used by the self-correlation path (heads = 1).
void rowStatistics(const Problem& p, const float* out, int64_t ldo, float* lse2, float* delta) {
  parallelFor(p.n, grainFor(p.n, 2 * p.heads * p.dv), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      for (int64_t h = 0; h < p.heads; ++h) {
        const float* o = out + i * ldo + h * p.dv;
        const float* g = p.dOut + i * p.lddo + h * p.dv;
        float d = 0.0f;
        for (int64_t c = 0; c < p.dv; ++c) d += g[c] * o[c];  // D_i = Σ_c dOut_ic·out_ic
        delta[h * p.n + i] = d;
        lse2[h * p.n + i] = p.lse[i * p.heads + h] * kLog2e;
      }
    }
  });
}

void backward(Problem& p, const float* out, int64_t ldo) {
  checkSizes("attentionBackward", p.n, p.m, p.heads, p.dk, p.dv);
  checkStride("attentionBackward", "Q", p.ldq, p.heads * p.dk);
  checkStride("attentionBackward", "K", p.ldk, p.heads * p.dk);
  checkStride("attentionBackward", "V", p.ldv, p.heads * p.dv);
  checkStride("attentionBackward", "out", ldo, p.heads * p.dv);
  checkStride("attentionBackward", "dOut", p.lddo, p.heads * p.dv);
  checkStride("attentionBackward", "dQ", p.lddq, p.heads * p.dk);
  checkStride("attentionBackward", "dK", p.lddk, p.heads * p.dk);
  checkStride("attentionBackward", "dV", p.lddv, p.heads * p.dv);
  if (p.n == 0 || p.m == 0) {  // no pairs: every gradient is zero
    zeroRows(p.dQ, p.n, p.heads * p.dk, p.lddq);
    zeroRows(p.dK, p.m, p.heads * p.dk, p.lddk);
    zeroRows(p.dV, p.m, p.heads * p.dv, p.lddv);
    return;
  }
  const KernelSet& ks = kernels();
  Workspace stats(2 * p.n * p.heads);
  float* lse2 = stats.get();
  float* delta = lse2 + p.n * p.heads;
  rowStatistics(p, out, ldo, lse2, delta);
  p.lse2 = lse2;
  p.delta = delta;
  // Items [0, queryItems) are query blocks (dQ), the rest key blocks (dK, dV); see the header comment.
  const int64_t queryBlocks = (p.n + ks.block - 1) / ks.block;
  const int64_t keyBlocks = (p.m + ks.block - 1) / ks.block;
  const int64_t queryItems = p.heads * queryBlocks;
  const int64_t keyItems = p.heads * keyBlocks;
  const int64_t cost = ks.block * std::max(p.n, p.m) * (4 * p.dk + 4 * p.dv);
  runItems(queryItems + keyItems, cost, ks.scratchFloats(p), [&](int64_t item, float* scratch) {
    if (item < queryItems) {
      ks.backwardQueryBlock(p, item / queryBlocks, (item % queryBlocks) * ks.block, scratch);
    } else {
      item -= queryItems;
      ks.backwardKeyBlock(p, item / keyBlocks, (item % keyBlocks) * ks.block, scratch);
    }
  });
}

}  // namespace

const char* activeKernelSetName() { return kernels().name; }

bool forceKernelSet(const char* name) { return choice().force(name); }

void selfCorrelationBackwardGeneric(int64_t n, int64_t d, const float* Z, const float* out, const float* lse,
                                    const float* dOut, float* dZ) {
  checkSizes("selfCorrelationBackward", n, n, 1, d, d);
  Workspace dKdV(2 * n * d);
  float* dK = dKdV.get();
  float* dV = dK + n * d;
  attentionBackward(n, n, 1, d, d, 1.0f, Z, Z, Z, out, lse, dOut, dZ, dK, dV);
  parallelFor(n * d, grainFor(n * d, 2), [&](int64_t begin, int64_t end) {
    for (int64_t e = begin; e < end; ++e) dZ[e] = (dZ[e] + dK[e]) + dV[e];
  });
}

}  // namespace attention_detail

using attention_detail::Problem;

void attentionForwardStrided(int64_t n, int64_t m, int64_t heads, int64_t dk, int64_t dv, float scale,
                             const float* Q, int64_t ldq, const float* K, int64_t ldk, const float* V,
                             int64_t ldv, float* out, int64_t ldo, float* lse) {
  Problem p;
  p.n = n, p.m = m, p.heads = heads, p.dk = dk, p.dv = dv, p.scale = scale;
  p.q = Q, p.k = K, p.v = V, p.ldq = ldq, p.ldk = ldk, p.ldv = ldv;
  p.out = out, p.ldo = ldo, p.lse = lse;
  attention_detail::forward(p);
}

void attentionForward(int64_t n, int64_t m, int64_t heads, int64_t dk, int64_t dv, float scale,
                      const float* Q, const float* K, const float* V, float* out, float* lse) {
  attentionForwardStrided(n, m, heads, dk, dv, scale, Q, heads * dk, K, heads * dk, V, heads * dv, out,
                          heads * dv, lse);
}

void attentionBackwardStrided(int64_t n, int64_t m, int64_t heads, int64_t dk, int64_t dv, float scale,
                              const float* Q, int64_t ldq, const float* K, int64_t ldk, const float* V,
                              int64_t ldv, const float* out, int64_t ldo, const float* lse,
                              const float* dOut, int64_t lddo, float* dQ, int64_t lddq, float* dK,
                              int64_t lddk, float* dV, int64_t lddv) {
  Problem p;
  p.n = n, p.m = m, p.heads = heads, p.dk = dk, p.dv = dv, p.scale = scale;
  p.q = Q, p.k = K, p.v = V, p.ldq = ldq, p.ldk = ldk, p.ldv = ldv;
  p.lse = const_cast<float*>(lse);  // read only in the backward
  p.dOut = dOut, p.lddo = lddo;
  p.dQ = dQ, p.dK = dK, p.dV = dV, p.lddq = lddq, p.lddk = lddk, p.lddv = lddv;
  attention_detail::backward(p, out, ldo);
}

void attentionBackward(int64_t n, int64_t m, int64_t heads, int64_t dk, int64_t dv, float scale,
                       const float* Q, const float* K, const float* V, const float* out, const float* lse,
                       const float* dOut, float* dQ, float* dK, float* dV) {
  attentionBackwardStrided(n, m, heads, dk, dv, scale, Q, heads * dk, K, heads * dk, V, heads * dv, out,
                           heads * dv, lse, dOut, heads * dv, dQ, heads * dk, dK, heads * dk, dV, heads * dv);
}

void selfCorrelationForward(int64_t n, int64_t d, const float* Z, float* out, float* lse) {
  attentionForward(n, n, 1, d, d, 1.0f, Z, Z, Z, out, lse);
}

void selfCorrelationBackward(int64_t n, int64_t d, const float* Z, const float* out, const float* lse,
                             const float* dOut, float* dZ) {
  using namespace attention_detail;
  checkSizes("selfCorrelationBackward", n, n, 1, d, d);
  if (n == 0) return;
  Problem p;
  p.n = n, p.m = n, p.heads = 1, p.dk = d, p.dv = d, p.scale = 1.0f;
  p.q = p.k = p.v = Z;
  p.ldq = p.ldk = p.ldv = d;
  p.lse = const_cast<float*>(lse);
  p.dOut = dOut, p.lddo = d;
  p.dQ = dZ, p.lddq = d;
  const KernelSet& ks = kernels();
  Workspace stats(2 * n);
  float* lse2 = stats.get();
  float* delta = lse2 + n;
  rowStatistics(p, out, d, lse2, delta);
  p.lse2 = lse2;
  p.delta = delta;
  const int64_t blocks = (n + ks.block - 1) / ks.block;
  runItems(blocks, ks.block * n * 10 * d, ks.scratchFloats(p),
           [&](int64_t item, float* scratch) { ks.selfBackwardBlock(p, item * ks.block, scratch); });
}

}}  // namespace dgc::cpu

#else  // DGC_ATTENTION_KERNEL_PASS
// =====================================================================================================
// Part 2: the kernels for one instruction set (included by Part 1 with DGC_ATTN_ISA, DGC_ATTN_VEC,
// DGC_ATTN_TARGET, DGC_ATTN_MR and DGC_ATTN_NV defined).
// =====================================================================================================
namespace dgc { namespace cpu { namespace attention_detail {
namespace {
namespace DGC_ATTN_ISA {

using V = DGC_ATTN_VEC;
using Vt = typename V::T;
constexpr int W = V::W;
constexpr int MR = DGC_ATTN_MR;  // micro-tile rows (broadcast side)
constexpr int NV = DGC_ATTN_NV;  // micro-tile vectors (lane side)
constexpr int64_t kBlock = int64_t(NV) * W;  // rows a work item owns = lanes of a micro-tile
#ifndef DGC_ATTN_KEY_TILE
#define DGC_ATTN_KEY_TILE 128
#endif
#ifndef DGC_ATTN_QUERY_TILE
#define DGC_ATTN_QUERY_TILE 64
#endif
constexpr int64_t kKeyTile = DGC_ATTN_KEY_TILE;      // keys per tile (forward, backward query blocks, self backward)
constexpr int64_t kQueryTile = DGC_ATTN_QUERY_TILE;  // queries per tile (backward key blocks)

// What a micro-tile does with its MR × NV accumulators after the k loop. "Lane" statistics are vectors
// indexed like the lanes (the rows the work item owns); "row" statistics are one scalar per tile row.
enum class Epilogue {
  StoreMax,      // C = acc; laneMax = max(laneMax, acc over rows)                       (forward logits)
  ExpLaneBias,   // C = exp2(acc − laneBias)                            (P, lanes are queries: bias = lse2)
  ExpRowBias,    // C = exp2(acc − rowBias[r])                          (P, lanes are keys)
  ExpBoth,       // C = exp2(acc − laneBias), C2 = exp2(acc − rowBias[r]) (self backward: p_ij and p_ji)
  DsLaneBias,    // C = P ∘ (acc − laneBias)                            (dS; P may be C itself)
  DsRowBias,     // C = P ∘ (acc − rowBias[r])
  AddDsRowBias,  // C += P ∘ (acc − rowBias[r])
  Accumulate,    // C += acc (C is loaded into the accumulators before the k loop)
};

// How the broadcast operand a(r, k) is stored.
enum class ALayout {
  RowsAlongK,     // a(r, k) = A[r·lda + k]: rows of K, Q, Z (logits, dP)
  ColumnsAlongK,  // a(r, k) = A[k·lda + r]: columns of V, K, Q, Z, dOut (products summed over a tile)
};

struct TileOut {
  float* c = nullptr;  // MR rows of NV·W floats, row stride ldc
  int64_t ldc = kBlock;
  const float* p = nullptr;  // Ds*: the probabilities, same layout as c
  float* c2 = nullptr;       // ExpBoth: the second output, same layout as c
  const float* laneBias = nullptr;
  const float* rowBias = nullptr;  // indexed by tile row
  float* laneMax = nullptr;
};

// The micro-kernel: acc[r][v] = Σ_{k < kLen} a(r, k) · B[k·ldb + v·W ..], then the epilogue. The
// accumulators stay in registers for the whole k loop; per k step it loads NV vectors of B and broadcasts
// MR values of A (GEMM's rank-1 update). The summation over k is a plain FMA chain in k order.
template <int R, Epilogue E, ALayout L>
DGC_ATTN_TARGET void microTile(int64_t kLen, const float* __restrict a, int64_t lda, const float* __restrict b,
                               int64_t ldb, const TileOut& o) {
  Vt acc[R][NV];
  DGC_ATTN_UNROLL
  for (int r = 0; r < R; ++r) {
    DGC_ATTN_UNROLL
    for (int v = 0; v < NV; ++v) acc[r][v] = E == Epilogue::Accumulate ? V::load(o.c + r * o.ldc + v * W) : V::zero();
  }
  for (int64_t k = 0; k < kLen; ++k) {
    Vt bv[NV];
    DGC_ATTN_UNROLL
    for (int v = 0; v < NV; ++v) bv[v] = V::load(b + k * ldb + v * W);
    DGC_ATTN_UNROLL
    for (int r = 0; r < R; ++r) {
      const Vt ar = V::set1(L == ALayout::RowsAlongK ? a[r * lda + k] : a[k * lda + r]);
      DGC_ATTN_UNROLL
      for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(ar, bv[v], acc[r][v]);
    }
  }

  if constexpr (E == Epilogue::StoreMax) {
    Vt mx[NV];
    DGC_ATTN_UNROLL
    for (int v = 0; v < NV; ++v) mx[v] = V::load(o.laneMax + v * W);
    DGC_ATTN_UNROLL
    for (int r = 0; r < R; ++r) {
      DGC_ATTN_UNROLL
      for (int v = 0; v < NV; ++v) {
        V::store(o.c + r * o.ldc + v * W, acc[r][v]);
        mx[v] = V::max(mx[v], acc[r][v]);
      }
    }
    DGC_ATTN_UNROLL
    for (int v = 0; v < NV; ++v) V::store(o.laneMax + v * W, mx[v]);
  } else if constexpr (E == Epilogue::Accumulate) {
    DGC_ATTN_UNROLL
    for (int r = 0; r < R; ++r) {
      DGC_ATTN_UNROLL
      for (int v = 0; v < NV; ++v) V::store(o.c + r * o.ldc + v * W, acc[r][v]);
    }
  } else {
    DGC_ATTN_UNROLL
    for (int r = 0; r < R; ++r) {
      Vt rowBias = V::zero();
      if constexpr (E == Epilogue::ExpRowBias || E == Epilogue::ExpBoth || E == Epilogue::DsRowBias ||
                    E == Epilogue::AddDsRowBias)
        rowBias = V::set1(o.rowBias[r]);
      DGC_ATTN_UNROLL
      for (int v = 0; v < NV; ++v) {
        float* c = o.c + r * o.ldc + v * W;
        const Vt x = acc[r][v];
        if constexpr (E == Epilogue::ExpLaneBias) {
          V::store(c, V::exp2(V::sub(x, V::load(o.laneBias + v * W))));
        } else if constexpr (E == Epilogue::ExpRowBias) {
          V::store(c, V::exp2(V::sub(x, rowBias)));
        } else if constexpr (E == Epilogue::ExpBoth) {
          V::store(c, V::exp2(V::sub(x, V::load(o.laneBias + v * W))));
          V::store(o.c2 + r * o.ldc + v * W, V::exp2(V::sub(x, rowBias)));
        } else if constexpr (E == Epilogue::DsLaneBias) {  // dS = P ∘ (dP − D)
          V::store(c, V::mul(V::load(o.p + r * o.ldc + v * W), V::sub(x, V::load(o.laneBias + v * W))));
        } else if constexpr (E == Epilogue::DsRowBias) {
          V::store(c, V::mul(V::load(o.p + r * o.ldc + v * W), V::sub(x, rowBias)));
        } else if constexpr (E == Epilogue::AddDsRowBias) {
          V::store(c, V::fma(V::load(o.p + r * o.ldc + v * W), V::sub(x, rowBias), V::load(c)));
        }
      }
    }
  }
}

template <Epilogue E, ALayout L, int... Rs>
struct MicroTileTable {
  using Fn = void (*)(int64_t, const float*, int64_t, const float*, int64_t, const TileOut&);
  static constexpr Fn fns[] = {&microTile<Rs, E, L>...};
};

template <Epilogue E, ALayout L, int... Is>
constexpr auto makeTable(std::integer_sequence<int, Is...>) {
  return MicroTileTable<E, L, (Is + 1)...>{};
}

// C[rows × block] (op) Σ_k a(r, k)·B[k][..] for any number of rows: cuts the rows into ⌈rows/MR⌉
// micro-tiles of near-equal height (20 rows → 7 + 7 + 6 rather than 8 + 8 + 4) and calls the
// micro-kernel instance for each height.
template <Epilogue E, ALayout L>
DGC_ATTN_TARGET void tileProduct(int64_t rows, int64_t kLen, const float* a, int64_t lda, const float* b,
                                 int64_t ldb, TileOut o) {
  using Table = decltype(makeTable<E, L>(std::make_integer_sequence<int, MR>{}));
  const int64_t tiles = (rows + MR - 1) / MR;
  const int64_t base = rows / tiles, extra = rows % tiles;
  const int64_t aRowStep = L == ALayout::RowsAlongK ? lda : 1;
  for (int64_t t = 0, r0 = 0; t < tiles; ++t) {
    const int64_t h = base + (t < extra ? 1 : 0);
    if (h == MR)
      microTile<MR, E, L>(kLen, a + r0 * aRowStep, lda, b, ldb, o);
    else
      Table::fns[h - 1](kLen, a + r0 * aRowStep, lda, b, ldb, o);
    r0 += h;
    o.c += h * o.ldc;
    if (o.p) o.p += h * o.ldc;
    if (o.c2) o.c2 += h * o.ldc;
    if (o.rowBias) o.rowBias += h;
  }
}

// dst[p][0..block) = src[(first + q)·ld + p] · factor for q < rows, zero for the padding lanes q ≥ rows.
DGC_ATTN_TARGET void packTransposed(const float* src, int64_t ld, int64_t rows, int64_t width, float factor,
                                    float* dst) {
  for (int64_t p = 0; p < width; ++p) {
    float* d = dst + p * kBlock;
    for (int64_t q = 0; q < rows; ++q) d[q] = src[q * ld + p] * factor;
    for (int64_t q = rows; q < kBlock; ++q) d[q] = 0.0f;
  }
}

// dst[q·ld + p] = src[p][q] · factor for q < rows (the inverse of packTransposed).
DGC_ATTN_TARGET void unpackTransposed(const float* src, int64_t rows, int64_t width, float factor, float* dst,
                                      int64_t ld) {
  for (int64_t q = 0; q < rows; ++q)
    for (int64_t p = 0; p < width; ++p) dst[q * ld + p] = src[p * kBlock + q] * factor;
}

// One vector per lane group: dst[q] = src[q·stride] (q < rows), `pad` beyond.
DGC_ATTN_TARGET void gatherLanes(const float* src, int64_t stride, int64_t rows, float pad, float* dst) {
  for (int64_t q = 0; q < kBlock; ++q) dst[q] = q < rows ? src[q * stride] : pad;
}

DGC_ATTN_TARGET void zeroFloats(float* x, int64_t count) { std::fill(x, x + count, 0.0f); }

constexpr int64_t roundUp16(int64_t x) { return (x + 15) / 16 * 16; }

int64_t scratchFloats(const Problem& p) {
  const int64_t dk = roundUp16(p.dk * kBlock), dv = roundUp16(p.dv * kBlock);
  const int64_t forward = dk + dv + kKeyTile * kBlock + 3 * kBlock;
  const int64_t queryBlock = 2 * dk + dv + kKeyTile * kBlock + 2 * kBlock;
  const int64_t keyBlock = 2 * dk + 2 * dv + 2 * kQueryTile * kBlock;
  const int64_t selfBlock = 4 * dk + 2 * kKeyTile * kBlock + 2 * kBlock;  // dk = dv = d
  return std::max(std::max(forward, queryBlock), std::max(keyBlock, selfBlock));
}

// ---- Forward: one block of query rows of one head -----------------------------------------------------
DGC_ATTN_TARGET void forwardBlock(const Problem& p, int64_t head, int64_t q0, float* scratch) {
  const int64_t rows = std::min(kBlock, p.n - q0);
  const int64_t dk = p.dk, dv = p.dv;
  float* qT = scratch;                                // dk × block: Q_blkᵀ · scale·log2(e)
  float* outT = qT + roundUp16(dk * kBlock);          // dv × block: unnormalised output o, transposed
  float* s = outT + roundUp16(dv * kBlock);           // keyTile × block: logits, then probabilities
  float* rowMax = s + kKeyTile * kBlock;              // m_i (log2 units)
  float* rowSum = rowMax + kBlock;                    // ℓ_i
  float* tileMax = rowSum + kBlock;                   // max over the current tile, then α_i
  const float* kHead = p.k + head * dk;
  const float* vHead = p.v + head * dv;

  // Logits in log2 units (exp(x) = exp2(x·log2 e)): fold scale·log2(e) into the packed queries.
  packTransposed(p.q + q0 * p.ldq + head * dk, p.ldq, rows, dk, p.scale * kLog2e, qT);
  zeroFloats(outT, dv * kBlock);
  // Start from a very negative finite maximum rather than −inf, so that α = exp2(m − m') is 0, not NaN.
  for (int64_t q = 0; q < kBlock; ++q) rowMax[q] = -std::numeric_limits<float>::max(), rowSum[q] = 0.0f;

  for (int64_t j0 = 0; j0 < p.m; j0 += kKeyTile) {
    const int64_t keys = std::min(kKeyTile, p.m - j0);
    // S[j][q] = Σ_p K[j0+j][p] · qT[p][q], and the tile's per-row maximum.
    for (int64_t q = 0; q < kBlock; ++q) tileMax[q] = -std::numeric_limits<float>::max();
    TileOut logits;
    logits.c = s;
    logits.laneMax = tileMax;
    tileProduct<Epilogue::StoreMax, ALayout::RowsAlongK>(keys, dk, kHead + j0 * p.ldk, p.ldk, qT, kBlock, logits);

    // Online softmax: m' = max(m, tile max), α = exp2(m − m'), ℓ ← α ℓ, o ← α o.
    Vt newMax[NV];
    for (int v = 0; v < NV; ++v) {
      const Vt oldMax = V::load(rowMax + v * W);
      newMax[v] = V::max(oldMax, V::load(tileMax + v * W));
      const Vt alpha = V::exp2(V::sub(oldMax, newMax[v]));
      V::store(rowMax + v * W, newMax[v]);
      V::store(rowSum + v * W, V::mul(V::load(rowSum + v * W), alpha));
      V::store(tileMax + v * W, alpha);
    }
    for (int64_t c = 0; c < dv; ++c)
      for (int v = 0; v < NV; ++v)
        V::store(outT + c * kBlock + v * W, V::mul(V::load(outT + c * kBlock + v * W), V::load(tileMax + v * W)));

    // P = exp2(S − m'), ℓ += Σ_j P[j].
    Vt sum[NV];
    for (int v = 0; v < NV; ++v) sum[v] = V::load(rowSum + v * W);
    for (int64_t j = 0; j < keys; ++j) {
      DGC_ATTN_UNROLL
      for (int v = 0; v < NV; ++v) {
        float* x = s + j * kBlock + v * W;
        const Vt e = V::exp2(V::sub(V::load(x), newMax[v]));
        V::store(x, e);
        sum[v] = V::add(sum[v], e);
      }
    }
    for (int v = 0; v < NV; ++v) V::store(rowSum + v * W, sum[v]);

    // oᵀ[c][q] += Σ_j V[j0+j][c] · P[j][q]
    TileOut acc;
    acc.c = outT;
    tileProduct<Epilogue::Accumulate, ALayout::ColumnsAlongK>(dv, keys, vHead + j0 * p.ldv, p.ldv, s, kBlock, acc);
  }

  // out_i = o_i / ℓ_i;  lse_i = (m_i + log2 ℓ_i)·ln 2.
  for (int64_t q = 0; q < rows; ++q) {
    const float invSum = 1.0f / rowSum[q];
    float* o = p.out + (q0 + q) * p.ldo + head * dv;
    for (int64_t c = 0; c < dv; ++c) o[c] = outT[c * kBlock + q] * invSum;
    p.lse[(q0 + q) * p.heads + head] = (rowMax[q] + std::log2(rowSum[q])) * kLn2;
  }
}

// ---- Backward, query block: dQ of one block of query rows of one head --------------------------------
DGC_ATTN_TARGET void backwardQueryBlock(const Problem& p, int64_t head, int64_t q0, float* scratch) {
  const int64_t rows = std::min(kBlock, p.n - q0);
  const int64_t dk = p.dk, dv = p.dv;
  float* qT = scratch;                               // dk × block: Q_blkᵀ · scale·log2(e)
  float* dQT = qT + roundUp16(dk * kBlock);          // dk × block: Σ_j dS_ij k_j, transposed
  float* dOutT = dQT + roundUp16(dk * kBlock);       // dv × block: dOut_blkᵀ
  float* tile = dOutT + roundUp16(dv * kBlock);      // keyTile × block: P, then dS
  float* lse2 = tile + kKeyTile * kBlock;            // per lane
  float* delta = lse2 + kBlock;                      // per lane
  const float* kHead = p.k + head * dk;
  const float* vHead = p.v + head * dv;

  packTransposed(p.q + q0 * p.ldq + head * dk, p.ldq, rows, dk, p.scale * kLog2e, qT);
  packTransposed(p.dOut + q0 * p.lddo + head * dv, p.lddo, rows, dv, 1.0f, dOutT);
  gatherLanes(p.lse2 + head * p.n + q0, 1, rows, 0.0f, lse2);
  gatherLanes(p.delta + head * p.n + q0, 1, rows, 0.0f, delta);
  zeroFloats(dQT, dk * kBlock);

  for (int64_t j0 = 0; j0 < p.m; j0 += kKeyTile) {
    const int64_t keys = std::min(kKeyTile, p.m - j0);
    // P[j][q] = exp2(s_qj·log2e − lse2_q)
    TileOut probs;
    probs.c = tile;
    probs.laneBias = lse2;
    tileProduct<Epilogue::ExpLaneBias, ALayout::RowsAlongK>(keys, dk, kHead + j0 * p.ldk, p.ldk, qT, kBlock, probs);
    // dS[j][q] = P[j][q] · (dOut_q·v_j − D_q), in place
    TileOut ds;
    ds.c = tile;
    ds.p = tile;
    ds.laneBias = delta;
    tileProduct<Epilogue::DsLaneBias, ALayout::RowsAlongK>(keys, dv, vHead + j0 * p.ldv, p.ldv, dOutT, kBlock, ds);
    // dQᵀ[c][q] += Σ_j K[j][c] · dS[j][q]
    TileOut acc;
    acc.c = dQT;
    tileProduct<Epilogue::Accumulate, ALayout::ColumnsAlongK>(dk, keys, kHead + j0 * p.ldk, p.ldk, tile, kBlock, acc);
  }
  unpackTransposed(dQT, rows, dk, p.scale, p.dQ + q0 * p.lddq + head * dk, p.lddq);  // dQ = scale·dS K
}

// ---- Backward, key block: dK and dV of one block of keys of one head ---------------------------------
DGC_ATTN_TARGET void backwardKeyBlock(const Problem& p, int64_t head, int64_t j0, float* scratch) {
  const int64_t keys = std::min(kBlock, p.m - j0);
  const int64_t dk = p.dk, dv = p.dv;
  float* kT = scratch;                               // dk × block: K_blkᵀ · scale·log2(e)
  float* dKT = kT + roundUp16(dk * kBlock);          // dk × block: Σ_i dS_ij q_i, transposed
  float* vT = dKT + roundUp16(dk * kBlock);          // dv × block: V_blkᵀ
  float* dVT = vT + roundUp16(dv * kBlock);          // dv × block: Σ_i p_ij dOut_i, transposed
  float* probs = dVT + roundUp16(dv * kBlock);       // queryTile × block: P[i][j]
  float* ds = probs + kQueryTile * kBlock;           // queryTile × block: dS[i][j]
  const float* qHead = p.q + head * dk;
  const float* dOutHead = p.dOut + head * dv;

  packTransposed(p.k + j0 * p.ldk + head * dk, p.ldk, keys, dk, p.scale * kLog2e, kT);
  packTransposed(p.v + j0 * p.ldv + head * dv, p.ldv, keys, dv, 1.0f, vT);
  zeroFloats(dKT, dk * kBlock);
  zeroFloats(dVT, dv * kBlock);

  for (int64_t i0 = 0; i0 < p.n; i0 += kQueryTile) {
    const int64_t queries = std::min(kQueryTile, p.n - i0);
    // P[i][j] = exp2(s_ij·log2e − lse2_i)
    TileOut pOut;
    pOut.c = probs;
    pOut.rowBias = p.lse2 + head * p.n + i0;
    tileProduct<Epilogue::ExpRowBias, ALayout::RowsAlongK>(queries, dk, qHead + i0 * p.ldq, p.ldq, kT, kBlock, pOut);
    // dS[i][j] = P[i][j] · (dOut_i·v_j − D_i)
    TileOut dsOut;
    dsOut.c = ds;
    dsOut.p = probs;
    dsOut.rowBias = p.delta + head * p.n + i0;
    tileProduct<Epilogue::DsRowBias, ALayout::RowsAlongK>(queries, dv, dOutHead + i0 * p.lddo, p.lddo, vT, kBlock,
                                                          dsOut);
    // dVᵀ[c][j] += Σ_i dOut[i][c] · P[i][j];  dKᵀ[c][j] += Σ_i Q[i][c] · dS[i][j]
    TileOut accV;
    accV.c = dVT;
    tileProduct<Epilogue::Accumulate, ALayout::ColumnsAlongK>(dv, queries, dOutHead + i0 * p.lddo, p.lddo, probs,
                                                              kBlock, accV);
    TileOut accK;
    accK.c = dKT;
    tileProduct<Epilogue::Accumulate, ALayout::ColumnsAlongK>(dk, queries, qHead + i0 * p.ldq, p.ldq, ds, kBlock,
                                                              accK);
  }
  unpackTransposed(dKT, keys, dk, p.scale, p.dK + j0 * p.lddk + head * dk, p.lddk);  // dK = scale·dSᵀ Q
  unpackTransposed(dVT, keys, dv, 1.0f, p.dV + j0 * p.lddv + head * dv, p.lddv);     // dV = Pᵀ dOut
}

// ---- Self-correlation backward: dZ of one block of rows (Q = K = V = Z, one head, scale 1) -----------
// Lanes are the block's rows i, tiles run over j. With s_ij = s_ji (S = Z Zᵀ is symmetric):
//   dZ_i = Σ_j [p_ij (dOut_i·z_j − D_i) + p_ji (dOut_j·z_i − D_j)] z_j + Σ_j p_ji dOut_j
// In selfCorrelationBackward's notation (attention.h): the first bracket is G_E + G_Eᵀ with
// G_E = S ⊙ (Ḡ Z_Lᵀ − r 1ᵀ), the last sum is Sᵀ Ḡ.
DGC_ATTN_TARGET void selfBackwardBlock(const Problem& p, int64_t i0, float* scratch) {
  const int64_t rows = std::min(kBlock, p.n - i0);
  const int64_t d = p.dk;
  const int64_t dBlock = roundUp16(d * kBlock);
  const float* z = p.q;
  float* zT2 = scratch;                   // d × block: Z_blkᵀ · log2(e) (logits in log2 units)
  float* zT = zT2 + dBlock;               // d × block: Z_blkᵀ
  float* dOutT = zT + dBlock;             // d × block: dOut_blkᵀ
  float* dZT = dOutT + dBlock;            // d × block: the result, transposed
  float* dsSum = dZT + dBlock;            // keyTile × block: p_ij, then dS_ij + dS_ji
  float* pT = dsSum + kKeyTile * kBlock;  // keyTile × block: p_ji
  float* lse2 = pT + kKeyTile * kBlock;   // per lane
  float* delta = lse2 + kBlock;           // per lane

  packTransposed(z + i0 * p.ldq, p.ldq, rows, d, kLog2e, zT2);
  packTransposed(z + i0 * p.ldq, p.ldq, rows, d, 1.0f, zT);
  packTransposed(p.dOut + i0 * p.lddo, p.lddo, rows, d, 1.0f, dOutT);
  gatherLanes(p.lse2 + i0, 1, rows, 0.0f, lse2);
  gatherLanes(p.delta + i0, 1, rows, 0.0f, delta);
  zeroFloats(dZT, d * kBlock);

  for (int64_t j0 = 0; j0 < p.n; j0 += kKeyTile) {
    const int64_t keys = std::min(kKeyTile, p.n - j0);
    const float* zTile = z + j0 * p.ldq;
    const float* dOutTile = p.dOut + j0 * p.lddo;
    // s_ij·log2e = Σ_c Z[j][c]·zT2[c][i]; p_ij = exp2(· − lse2_i) → dsSum, p_ji = exp2(· − lse2_j) → pT
    TileOut probs;
    probs.c = dsSum;
    probs.c2 = pT;
    probs.laneBias = lse2;
    probs.rowBias = p.lse2 + j0;
    tileProduct<Epilogue::ExpBoth, ALayout::RowsAlongK>(keys, d, zTile, p.ldq, zT2, kBlock, probs);
    // dS_ij = p_ij (dOut_i·z_j − D_i), in place
    TileOut dsRow;
    dsRow.c = dsSum;
    dsRow.p = dsSum;
    dsRow.laneBias = delta;
    tileProduct<Epilogue::DsLaneBias, ALayout::RowsAlongK>(keys, d, zTile, p.ldq, dOutT, kBlock, dsRow);
    // += dS_ji = p_ji (dOut_j·z_i − D_j)
    TileOut dsCol;
    dsCol.c = dsSum;
    dsCol.p = pT;
    dsCol.rowBias = p.delta + j0;
    tileProduct<Epilogue::AddDsRowBias, ALayout::RowsAlongK>(keys, d, dOutTile, p.lddo, zT, kBlock, dsCol);
    // dZᵀ[c][i] += Σ_j Z[j][c]·(dS_ij + dS_ji) + Σ_j dOut[j][c]·p_ji
    TileOut acc;
    acc.c = dZT;
    tileProduct<Epilogue::Accumulate, ALayout::ColumnsAlongK>(d, keys, zTile, p.ldq, dsSum, kBlock, acc);
    tileProduct<Epilogue::Accumulate, ALayout::ColumnsAlongK>(d, keys, dOutTile, p.lddo, pT, kBlock, acc);
  }
  unpackTransposed(dZT, rows, d, 1.0f, p.dQ + i0 * p.lddq, p.lddq);
}

const KernelSet kKernels = {
#define DGC_ATTN_STRINGIFY2(x) #x
#define DGC_ATTN_STRINGIFY(x) DGC_ATTN_STRINGIFY2(x)
    DGC_ATTN_STRINGIFY(DGC_ATTN_ISA),
#undef DGC_ATTN_STRINGIFY
#undef DGC_ATTN_STRINGIFY2
    DGC_ATTN_ISA::kBlock,
    &DGC_ATTN_ISA::scratchFloats,
    &DGC_ATTN_ISA::forwardBlock,
    &DGC_ATTN_ISA::backwardQueryBlock,
    &DGC_ATTN_ISA::backwardKeyBlock,
    &DGC_ATTN_ISA::selfBackwardBlock,
};

}  // namespace DGC_ATTN_ISA
}  // namespace
}}}  // namespace dgc::cpu::attention_detail
#endif  // DGC_ATTENTION_KERNEL_PASS
