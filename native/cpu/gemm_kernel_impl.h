// Micro-kernel, macro-kernel and packing templates shared by the per-ISA GEMM translation units.
//
// Include this from a gemm_*.cc file after
//   - the standard headers below and <immintrin.h> where DGC_GEMM_X86_AVX is set,
//   - defining DGC_GEMM_TARGET (the function attribute that enables the ISA, or nothing),
//   - defining DGC_GEMM_X86_AVX to 1 if the target has AVX (enables the 8×8 transposing pack),
// and instantiate gemm_impl::macroKernel<V, MR, NV> / gemm_impl::pack<V> with a vector traits type V:
//   struct V { using T = ...; static constexpr int W = floats per vector;
//              static T zero(); static T load(const float*); static void store(float*, T);
//              static T set1(float); static T mul(T, T); static T fma(T a, T b, T c) /* a*b+c, one rounding
//              where the ISA has FMA */; static void prefetch(const float*);
//              static void copy(float* dst, const float* src, int n); /* n floats, no overrun */
//              static T loadPartial(const float*, int n); /* n < W floats, rest zero, no overrun */
//              static float reduceAdd(T); static float scalarFma(float a, float b, float c); };
// Everything here lives in an anonymous namespace: each translation unit gets its own copy, compiled for
// its own ISA, so no function compiled for AVX-512 can be picked by the linker for a caller of another one.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "gemm_kernels.h"

#ifndef DGC_GEMM_TARGET
#error "define DGC_GEMM_TARGET before including gemm_kernel_impl.h"
#endif

#if defined(__GNUC__)
#define DGC_GEMM_INLINE inline __attribute__((always_inline))
#define DGC_GEMM_PRAGMA_UNROLL _Pragma("GCC unroll 32")
#else
#define DGC_GEMM_INLINE inline
#define DGC_GEMM_PRAGMA_UNROLL
#endif

namespace dgc { namespace cpu { namespace gemm_detail { namespace {
namespace gemm_impl {

// One k step of a micro-tile: acc[r][v] += a[r] · b[v·W .. v·W+W).
template <class V, int MR, int NV>
DGC_GEMM_TARGET DGC_GEMM_INLINE void rankOneStep(typename V::T (&acc)[MR][NV], const float* __restrict a,
                                                 const float* __restrict b) {
  typename V::T bv[NV];
  DGC_GEMM_PRAGMA_UNROLL
  for (int v = 0; v < NV; ++v) bv[v] = V::load(b + v * V::W);
  DGC_GEMM_PRAGMA_UNROLL
  for (int r = 0; r < MR; ++r) {
    const typename V::T av = V::set1(a[r]);
    DGC_GEMM_PRAGMA_UNROLL
    for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(av, bv[v], acc[r][v]);
  }
}

// One micro-tile: C[MR × nValid] = alpha · (a · b) + beta · C, with a a packed MR × kc panel of A
// (k-major: MR values per k step) and b a packed kc × (NV·W) panel of B (NV vectors per k step).
//
// The k loop keeps all MR·NV accumulators in registers; per k step it loads NV vectors of B, broadcasts
// MR values of A and issues MR·NV FMAs, so loads per FMA are (NV + MR) / (MR·NV).
// Every element of C is summed in plain k order, whatever MR is: edge tiles (fewer rows) use an instance
// with a smaller MR and produce bit-identical values, so results do not depend on how C is cut into tiles.
template <class V, int MR, int NV>
DGC_GEMM_TARGET void microTile(int64_t kc, const float* __restrict a, const float* __restrict b, float alpha, float beta, float* c, int64_t rsC, int64_t csC, int nValid) {
  using T = typename V::T;
  constexpr int W = V::W;
  constexpr int NR = NV * W;
  const bool direct = csC == 1 && nValid == NR;  // contiguous full-width rows: store straight into C
  if (direct) {
    DGC_GEMM_PRAGMA_UNROLL
    for (int r = 0; r < MR; ++r) {
      V::prefetch(c + r * rsC);
      V::prefetch(c + r * rsC + NR - 1);
    }
  }

  T acc[MR][NV];
  DGC_GEMM_PRAGMA_UNROLL
  for (int r = 0; r < MR; ++r) {
    DGC_GEMM_PRAGMA_UNROLL
    for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
  }
  for (int64_t p = 0; p < kc; ++p, a += MR, b += NR) rankOneStep<V, MR, NV>(acc, a, b);

  // Epilogue: t = alpha·acc, then C = t (beta == 0, C not read) or C = beta·C + t (one FMA). Partial or
  // strided tiles go through a small buffer with exactly the same vector arithmetic, so an element's value
  // does not depend on whether it sits in a full tile.
  const T va = V::set1(alpha);
  const T vb = V::set1(beta);
  if (direct) {
    DGC_GEMM_PRAGMA_UNROLL
    for (int r = 0; r < MR; ++r) {
      float* row = c + r * rsC;
      DGC_GEMM_PRAGMA_UNROLL
      for (int v = 0; v < NV; ++v) {
        const T t = V::mul(acc[r][v], va);
        V::store(row + v * W, beta == 0.0f ? t : V::fma(vb, V::load(row + v * W), t));
      }
    }
    return;
  }
  alignas(64) float tile[MR * NR];
  if (beta != 0.0f) {
    for (int r = 0; r < MR; ++r) {
      for (int j = 0; j < nValid; ++j) tile[r * NR + j] = c[r * rsC + j * csC];
      for (int j = nValid; j < NR; ++j) tile[r * NR + j] = 0.0f;
    }
  }
  DGC_GEMM_PRAGMA_UNROLL
  for (int r = 0; r < MR; ++r) {
    DGC_GEMM_PRAGMA_UNROLL
    for (int v = 0; v < NV; ++v) {
      float* t = tile + r * NR + v * W;
      const T scaled = V::mul(acc[r][v], va);
      V::store(t, beta == 0.0f ? scaled : V::fma(vb, V::load(t), scaled));
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < nValid; ++j) c[r * rsC + j * csC] = tile[r * NR + j];
}

using TileFn = void (*)(int64_t, const float*, const float*, float, float, float*, int64_t, int64_t, int);

// tileTable<V, MR, NV>()[mr - 1][nv - 1] is the micro-tile for mr rows and nv vectors.
template <class V, int NV, size_t... Rows>
constexpr std::array<TileFn, sizeof...(Rows)> tileColumn(std::index_sequence<Rows...>) {
  return {{&microTile<V, int(Rows) + 1, NV>...}};
}
template <class V, int MR, size_t... NVs>
constexpr std::array<std::array<TileFn, MR>, sizeof...(NVs)> tileTableImpl(std::index_sequence<NVs...>) {
  return {{tileColumn<V, int(NVs) + 1>(std::make_index_sequence<MR>())...}};
}

// Macro-kernel: loops over the micro-tiles of an mc × nc block of C (B panels outer, so one kc × nr panel
// of B stays in L1/L2 while the mc × kc block of A streams from L2). See KernelSet::macroKernel.
template <class V, int MR, int NV>
DGC_GEMM_TARGET void macroKernel(int64_t mc, int64_t nc, int64_t kc, const float* Ap, const float* Bp,
                                 float alpha, float beta, float* c, int64_t rsC, int64_t csC) {
  static constexpr auto table = tileTableImpl<V, MR>(std::make_index_sequence<NV>());  // [nv-1][mr-1]
  constexpr int NR = NV * V::W;
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const int nValid = static_cast<int>(std::min<int64_t>(NR, nc - jr));
    const int nv = (nValid + V::W - 1) / V::W;
    const float* bPanel = Bp + jr * kc;  // all earlier panels are full (nr wide)
    for (int64_t ir = 0; ir < mc; ir += MR) {
      const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
      table[nv - 1][mr - 1](kc, Ap + ir * kc, bPanel, alpha, beta, c + ir * rsC + jr * csC, rsC, csC, nValid);
    }
  }
}

// acc[r][j] += a[r] · bt[j·ldbt .. +W), lane by lane.
template <class V, int R, int NJ>
DGC_GEMM_TARGET DGC_GEMM_INLINE void dotStep(typename V::T (&acc)[R][NJ], const typename V::T (&a)[R],
                                             const float* bt, int64_t ldbt) {
  DGC_GEMM_PRAGMA_UNROLL
  for (int j = 0; j < NJ; ++j) {
    const typename V::T bv = V::load(bt + j * ldbt);
    DGC_GEMM_PRAGMA_UNROLL
    for (int r = 0; r < R; ++r) acc[r][j] = V::fma(a[r], bv, acc[r][j]);
  }
}

// Skinny product by dot products along k: C[i][j] = alpha·Σ_p A[i][p]·Bt[j][p] + beta·C[i][j] for R rows
// of A (contiguous along k, row stride lda) and NJ columns, Bt holding the columns as rows (stride ldbt,
// zero-padded to a whole number of vectors). Each accumulator holds W partial sums (lanes = p mod W), summed
// at the end; A is streamed straight from memory once, with no packing.
template <class V, int R, int NJ>
DGC_GEMM_TARGET void dotTile(int64_t k, const float* a, int64_t lda, const float* bt, int64_t ldbt, float alpha,
                             float beta, float* c, int64_t ldc) {
  using T = typename V::T;
  constexpr int W = V::W;
  T acc[R][NJ];
  DGC_GEMM_PRAGMA_UNROLL
  for (int r = 0; r < R; ++r) {
    DGC_GEMM_PRAGMA_UNROLL
    for (int j = 0; j < NJ; ++j) acc[r][j] = V::zero();
  }
  int64_t p = 0;
  for (; p + W <= k; p += W) {
    T av[R];
    DGC_GEMM_PRAGMA_UNROLL
    for (int r = 0; r < R; ++r) {
      // 1 KiB ahead helps the hardware prefetcher keep up (~10%); prefetching past the end is harmless.
      V::prefetch(a + r * lda + p + 256);
      av[r] = V::load(a + r * lda + p);
    }
    dotStep<V, R, NJ>(acc, av, bt + p, ldbt);
  }
  if (p < k) {
    T av[R];
    DGC_GEMM_PRAGMA_UNROLL
    for (int r = 0; r < R; ++r) av[r] = V::loadPartial(a + r * lda + p, static_cast<int>(k - p));
    dotStep<V, R, NJ>(acc, av, bt + p, ldbt);
  }
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < NJ; ++j) {
      const float sum = V::reduceAdd(acc[r][j]);
      float* out = c + r * ldc + j;
      *out = beta == 0.0f ? alpha * sum : V::scalarFma(beta, *out, alpha * sum);
    }
  }
}

using DotFn = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float, float, float*, int64_t);

// dotTable<V, R>()[nj - 1] is the dot tile for R rows and nj columns.
template <class V, int R, size_t... J>
constexpr std::array<DotFn, sizeof...(J)> dotTable(std::index_sequence<J...>) {
  return {{&dotTile<V, R, int(J) + 1>...}};
}

// Rows [0, m) of the skinny product (see KernelSet::skinnyDot), in column chunks of at most MaxNJ (the
// accumulators of one row that fit the registers): pairs of rows (sharing each B load) while the chunk has at
// most MaxPairNJ columns, single rows otherwise. Which instance computes a row changes no result: each
// accumulator is its own chain.
template <class V, int MaxNJ, int MaxPairNJ>
DGC_GEMM_TARGET void skinnyDot(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* bt,
                               int64_t ldbt, float alpha, float beta, float* c, int64_t ldc) {
  static constexpr auto single = dotTable<V, 1>(std::make_index_sequence<MaxNJ>());
  static constexpr auto pair = dotTable<V, 2>(std::make_index_sequence<MaxPairNJ>());
  for (int64_t j0 = 0; j0 < n; j0 += MaxNJ) {
    const int nj = static_cast<int>(std::min<int64_t>(MaxNJ, n - j0));
    int64_t i = 0;
    if (nj <= MaxPairNJ)
      for (; i + 2 <= m; i += 2)
        pair[nj - 1](k, a + i * lda, lda, bt + j0 * ldbt, ldbt, alpha, beta, c + i * ldc + j0, ldc);
    for (; i < m; ++i) single[nj - 1](k, a + i * lda, lda, bt + j0 * ldbt, ldbt, alpha, beta, c + i * ldc + j0, ldc);
  }
}

#if DGC_GEMM_X86_AVX
// In-register transpose of an 8×8 block held in r[0..7].
DGC_GEMM_TARGET DGC_GEMM_INLINE void transpose8x8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}
#endif

// Packs one panel whose source rows are strided and contiguous along k (kStride == 1): a transpose.
// dst holds panelRows values per k step; rows [valid, panelRows) are zero.
template <class V>
DGC_GEMM_TARGET void packPanelTransposed(const float* s, int64_t rs, int valid, int panelRows, int64_t kc,
                                         float* dst) {
  int64_t p = 0;
#if DGC_GEMM_X86_AVX
  // 8 rows × 8 k at a time: 8 loads, 24 shuffles, 8 stores (masked where the panel ends mid-block).
  for (; p + 8 <= kc; p += 8) {
    for (int r0 = 0; r0 < panelRows; r0 += 8) {
      __m256 blk[8];
      for (int i = 0; i < 8; ++i)
        blk[i] = r0 + i < valid ? _mm256_loadu_ps(s + (r0 + i) * rs + p) : _mm256_setzero_ps();
      transpose8x8(blk);
      const int n = std::min(8, panelRows - r0);
      if (n == 8) {
        for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + (p + i) * panelRows + r0, blk[i]);
      } else {
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane);
        for (int i = 0; i < 8; ++i) _mm256_maskstore_ps(dst + (p + i) * panelRows + r0, mask, blk[i]);
      }
    }
  }
#endif
  for (; p < kc; ++p) {
    float* d = dst + p * panelRows;
    for (int r = 0; r < valid; ++r) d[r] = s[r * rs + p];
    for (int r = valid; r < panelRows; ++r) d[r] = 0.0f;
  }
}

// ---- Row-sparse products (KernelSet::sparseRow) --------------------------------------------------------

// NV vectors of one row of C (the last one holding `lastValid` ≤ W columns) from nnz sparse terms: the
// accumulators stay in registers over the terms, as microTile's do over k.
template <class V, int NV>
DGC_GEMM_TARGET DGC_GEMM_INLINE void sparseRowBlock(int64_t nnz, const float* __restrict val,
                                                    const int32_t* __restrict idx, const float* b, int64_t ldb,
                                                    int lastValid, float alpha, float beta, float* c) {
  using T = typename V::T;
  constexpr int W = V::W;
  T acc[NV];
  DGC_GEMM_PRAGMA_UNROLL
  for (int v = 0; v < NV; ++v) acc[v] = V::zero();
  const bool partial = lastValid < W;
  // The rows of B that the terms select are random: the hardware prefetcher cannot see them coming, so each is
  // requested kAhead terms early, one prefetch per 64-byte line.
  constexpr int64_t kAhead = 4;
  constexpr int kVecsPerLine = W * int(sizeof(float)) >= 64 ? 1 : 64 / (W * int(sizeof(float)));
  for (int64_t e = 0; e < nnz; ++e) {
    if (e + kAhead < nnz) {
      const float* ahead = b + int64_t(idx[e + kAhead]) * ldb;
      DGC_GEMM_PRAGMA_UNROLL
      for (int v = 0; v < NV; v += kVecsPerLine) V::prefetch(ahead + v * W);
    }
    const T av = V::set1(val[e]);
    const float* row = b + int64_t(idx[e]) * ldb;
    DGC_GEMM_PRAGMA_UNROLL
    for (int v = 0; v < NV - 1; ++v) acc[v] = V::fma(av, V::load(row + v * W), acc[v]);
    const T last = partial ? V::loadPartial(row + (NV - 1) * W, lastValid) : V::load(row + (NV - 1) * W);
    acc[NV - 1] = V::fma(av, last, acc[NV - 1]);
  }
  // microTile's epilogue: t = alpha·acc, then C = t (beta == 0, C not read) or C = beta·C + t (one FMA).
  const T va = V::set1(alpha);
  const T vb = V::set1(beta);
  DGC_GEMM_PRAGMA_UNROLL
  for (int v = 0; v < NV; ++v) {
    float* p = c + v * W;
    const T t = V::mul(acc[v], va);
    if (v < NV - 1 || !partial) {
      V::store(p, beta == 0.0f ? t : V::fma(vb, V::load(p), t));
    } else {
      alignas(64) float tmp[W];
      V::store(tmp, beta == 0.0f ? t : V::fma(vb, V::loadPartial(p, lastValid), t));
      V::copy(p, tmp, lastValid);
    }
  }
}

template <class V, size_t... NVs>
constexpr auto sparseBlockTable(std::index_sequence<NVs...>) {
  using Fn = void (*)(int64_t, const float*, const int32_t*, const float*, int64_t, int, float, float, float*);
  return std::array<Fn, sizeof...(NVs)>{{&sparseRowBlock<V, int(NVs) + 1>...}};
}

// KernelSet::sparseRow with sparseWidth = NV·W: one register block of up to NV vectors.
template <class V, int NV>
DGC_GEMM_TARGET void sparseRow(int64_t nnz, const float* val, const int32_t* idx, const float* b, int64_t ldb, int n,
                               float alpha, float beta, float* c) {
  static constexpr auto table = sparseBlockTable<V>(std::make_index_sequence<NV>());
  if (n <= 0) return;
  const int nv = (n + V::W - 1) / V::W;
  table[nv - 1](nnz, val, idx, b, ldb, n - (nv - 1) * V::W, alpha, beta, c);
}

// Packs `rows` × kc of src into panels of `width` rows (see KernelSet::pack).
template <class V>
DGC_GEMM_TARGET void pack(Operand src, int64_t rows, int64_t kc, int width, int padTo, float* dst) {
  if (src.rowStride == 1) {
    // Rows contiguous (A transposed, B not): walk the source one k row at a time, reading it sequentially
    // once, and deal its pieces out to the panels. (Panel by panel would re-read every source row once per
    // panel, in short pieces, from all over memory.)
    const int64_t fullPanels = rows / width;
    const int tail = static_cast<int>(rows - fullPanels * width);
    const int tailRows = (tail + padTo - 1) / padTo * padTo;
    // Rows are short (rows·4 bytes, often a couple of KiB) and far apart, too short for the hardware
    // prefetchers to lock on: prefetch the row a few k steps ahead by hand (skinny 10000×2000×10 with A
    // transposed: 10 ms without, 7 ms with 2–16 rows ahead).
    constexpr int64_t kAhead = 8;
    for (int64_t p = 0; p < kc; ++p) {
      const float* sp = src.data + p * src.kStride;
      if (p + kAhead < kc)
        for (int64_t r = 0; r < rows; r += 64 / sizeof(float)) V::prefetch(sp + kAhead * src.kStride + r);
      for (int64_t q = 0; q < fullPanels; ++q) V::copy(dst + q * width * kc + p * width, sp + q * width, width);
      if (tail) {
        float* d = dst + fullPanels * width * kc + p * tailRows;
        V::copy(d, sp + fullPanels * width, tail);
        for (int r = tail; r < tailRows; ++r) d[r] = 0.0f;
      }
    }
    return;
  }
  for (int64_t r0 = 0; r0 < rows; r0 += width) {
    const int valid = static_cast<int>(std::min<int64_t>(width, rows - r0));
    const int panelRows = valid == width ? width : (valid + padTo - 1) / padTo * padTo;
    const float* s = src.data + r0 * src.rowStride;
    float* d = dst + r0 * kc;
    if (src.kStride == 1) {
      packPanelTransposed<V>(s, src.rowStride, valid, panelRows, kc, d);
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        float* dp = d + p * panelRows;
        for (int r = 0; r < valid; ++r) dp[r] = s[r * src.rowStride + p * src.kStride];
        for (int r = valid; r < panelRows; ++r) dp[r] = 0.0f;
      }
    }
  }
}

}  // namespace gemm_impl
}}}}  // namespace dgc::cpu::gemm_detail::(anonymous)
