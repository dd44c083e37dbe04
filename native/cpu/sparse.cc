// SpMM (sparse × dense) on the CPU. See sparse.h for what it does; the comments here say how. (Building,
// transposing and validating CSR on the host is backend-neutral: native/core/graph.cc.)
#include "sparse.h"

#include "activation.h"

// The AVX2 / AVX-512 kernels need GCC or Clang (function-level target attributes, __builtin_cpu_supports)
// on x86; elsewhere (arm64, MSVC) only the portable kernel is built.
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define DGC_SPMM_X86 1
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../core/row_split.h"
#include "../core/thread_pool.h"
#include "isa.h"

namespace dgc {
namespace cpu {
namespace {

// SpMM: the size of H above which gathered rows are prefetched. Measured on 1M × 20 H (80 MB): 5-15% faster
// with prefetching; on 10k × 10 H (in L2) it was ~15% slower, hence the threshold.
constexpr int64_t kSpmmPrefetchAboveBytes = int64_t{2} << 20;

// ---------------------------------------------------------------------------------------------------------
// SpMM kernels
//
// A kernel computes the rows [rowBegin, rowEnd) of out. For each row, each tile [j0, j0 + w) of the d columns
// is computed as
//   acc = 0; for k over the row's nonzeros, in stored order: acc += values[k] * H[indices[k], j0 : j0 + w]
// with acc in vector registers, and stored once. Every output element is thus the same sequence of
// multiply-adds whatever rows a chunk holds, so the result does not depend on the thread count.
//
// Why tiles of the row and not of the whole matrix: for each row, its ~degree gathered rows of H are read
// front to back, tile after tile, i.e. as a few sequential streams that the hardware prefetcher follows.
// Column panels (all rows for columns [j0, j0 + w), then the next w) would keep a slice of H in cache, but
// the slice is spread over one page per row of H: with 4 KiB pages that thrashes the TLB, and measured slower
// (10k × 2000 H: 46-61 ms with panels vs 42 ms without, one thread).
// ---------------------------------------------------------------------------------------------------------

struct SpmmArgs {
  const int32_t* indptr;
  const int32_t* indices;
  const float* values;
  const float* H;
  int64_t d;
  float* out;
  bool prefetch;  // H is too big for cache: prefetch the rows that the next nonzeros gather
};

// One row's share of a tile: its nonzeros, and where the tile starts in H (row 0) and in the output row.
struct RowTile {
  const int32_t* cols;
  const float* vals;
  int64_t count;
  int64_t aheadLimit;  // entries of cols that may be read ahead for prefetching (0: no prefetching)
  const float* H;      // H + j0
  int64_t ldh;         // = d
  int64_t lastOffset;  // offset of the tile's last column from j0 (for prefetching the tile's last line)
  float* out;          // out row + j0
};

// How far ahead, in nonzeros, prefetching reaches (also across rows of the chunk). 8, 16, 32 and 64 were
// within noise of each other on 1M × 20 H; 16 was best by a few percent.
constexpr int64_t kPrefetchAhead = 16;

// Portable kernel: fixed-width tiles the compiler vectorizes for the baseline ISA (SSE2 on x86-64, NEON on
// arm64), with the accumulators in registers. The last, narrower tile of a row (and all of a narrow H) is
// also a fixed-width tile, of exactly the width left: a loop with a run-time trip count was ~2x slower.
constexpr int64_t kPortableTileWidth = 16;

// Prefetches the line holding p into all cache levels (a no-op where the compiler has no builtin for it).
inline void prefetchLine(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, /*rw=*/0, /*locality=*/3);
#else
  (void)p;
#endif
}

// Prefetches the row of H that the nonzero kPrefetchAhead places after k gathers, if t asks for prefetching
// (t.aheadLimit > 0) and that nonzero is in the chunk.
inline void prefetchAhead(const RowTile& t, int64_t k) {
  if (k + kPrefetchAhead < t.aheadLimit) {
    const float* next = t.H + static_cast<int64_t>(t.cols[k + kPrefetchAhead]) * t.ldh;
    prefetchLine(next);
    prefetchLine(next + t.lastOffset);
  }
}

// Fills the prefetch fields of t when each row is one tile (narrow H): the rows of H that the next
// nonzeros of this chunk gather are then fetched ahead, across row boundaries (a row's own work is too
// short for out-of-order execution to hide the latency of the next rows' gathers).
inline void setPrefetch(RowTile& t, const SpmmArgs& a, int64_t rowEnd, int64_t kBegin) {
  t.aheadLimit = a.indptr[rowEnd] - kBegin;
  t.lastOffset = a.d - 1;
}

template <int64_t kWidth>
inline void tilePortable(const RowTile& t) {
  float acc[kWidth] = {};
  for (int64_t k = 0; k < t.count; ++k) {
    prefetchAhead(t, k);
    const float v = t.vals[k];
    const float* h = t.H + static_cast<int64_t>(t.cols[k]) * t.ldh;
    for (int64_t j = 0; j < kWidth; ++j) acc[j] += v * h[j];
  }
  for (int64_t j = 0; j < kWidth; ++j) t.out[j] = acc[j];
}

// tilePortable<width>(t) for a run-time width in [1, kMaxWidth].
template <int64_t kMaxWidth>
inline void tilePortableOfWidth(const RowTile& t, int64_t width) {
  if constexpr (kMaxWidth > 0) {
    if (width == kMaxWidth) {
      tilePortable<kMaxWidth>(t);
    } else {
      tilePortableOfWidth<kMaxWidth - 1>(t, width);
    }
  }
}

void spmmRowsPortable(const SpmmArgs& a, int64_t rowBegin, int64_t rowEnd) {
  const int64_t width = a.d;
  const int64_t fullTiles = width / kPortableTileWidth;
  const int64_t tailWidth = width - fullTiles * kPortableTileWidth;
  const bool prefetch = a.prefetch && fullTiles + (tailWidth > 0) == 1;
  for (int64_t r = rowBegin; r < rowEnd; ++r) {
    const int64_t kBegin = a.indptr[r];
    RowTile t{a.indices + kBegin, a.values + kBegin, a.indptr[r + 1] - kBegin, 0, a.H, a.d, 0,
              a.out + r * a.d};
    if (prefetch) setPrefetch(t, a, rowEnd, kBegin);
    for (int64_t i = 0; i < fullTiles; ++i, t.H += kPortableTileWidth, t.out += kPortableTileWidth) {
      tilePortable<kPortableTileWidth>(t);
    }
    if (tailWidth > 0) tilePortableOfWidth<kPortableTileWidth - 1>(t, tailWidth);
  }
}

#ifdef DGC_SPMM_X86

// ---- AVX2 + FMA: 8 floats per vector; tiles of up to kAvx2TileVecs vectors.
// 4 vectors per tile (here and for AVX-512) measured as fast as or faster than 2 or 8 vectors for
// d = 10 ... 2000 (within ~10%: wide H is bound by memory, narrow H by the per-nonzero overhead).

constexpr int kAvx2TileVecs = 4;

// One tile of kVecs vectors. With kMaskedTail, the last vector only loads and stores the lanes on in
// tailMask, so nothing past the end of the row of H (or of out) is touched.
template <int kVecs, bool kMaskedTail>
__attribute__((target("avx2,fma"))) inline void tileAvx2(const RowTile& t, __m256i tailMask) {
  __m256 acc[kVecs];
  for (int i = 0; i < kVecs; ++i) acc[i] = _mm256_setzero_ps();
  for (int64_t k = 0; k < t.count; ++k) {
    prefetchAhead(t, k);
    const __m256 v = _mm256_broadcast_ss(t.vals + k);
    const float* h = t.H + static_cast<int64_t>(t.cols[k]) * t.ldh;
    for (int i = 0; i < kVecs; ++i) {
      const __m256 hv = (kMaskedTail && i == kVecs - 1) ? _mm256_maskload_ps(h + 8 * i, tailMask)
                                                        : _mm256_loadu_ps(h + 8 * i);
      acc[i] = _mm256_fmadd_ps(v, hv, acc[i]);
    }
  }
  for (int i = 0; i < kVecs; ++i) {
    if (kMaskedTail && i == kVecs - 1) {
      _mm256_maskstore_ps(t.out + 8 * i, tailMask, acc[i]);
    } else {
      _mm256_storeu_ps(t.out + 8 * i, acc[i]);
    }
  }
}

__attribute__((target("avx2,fma"))) void spmmRowsAvx2(const SpmmArgs& a, int64_t rowBegin, int64_t rowEnd) {
  static_assert(kAvx2TileVecs == 4, "the tail switch below covers 1..4 vectors");
  constexpr int64_t kTileWidth = 8 * kAvx2TileVecs;
  alignas(32) static const int32_t kLaneMasks[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  const int64_t width = a.d;
  const int64_t fullTiles = width / kTileWidth;
  const int64_t tailWidth = width - fullTiles * kTileWidth;
  const int tailVecs = static_cast<int>((tailWidth + 7) / 8);
  const int tailLanes = tailVecs > 0 ? static_cast<int>(tailWidth - 8 * (tailVecs - 1)) : 8;
  const __m256i tailMask = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLaneMasks + 8 - tailLanes));
  const bool prefetch = a.prefetch && fullTiles + (tailVecs > 0) == 1;

  for (int64_t r = rowBegin; r < rowEnd; ++r) {
    const int64_t kBegin = a.indptr[r];
    RowTile t{a.indices + kBegin, a.values + kBegin, a.indptr[r + 1] - kBegin, 0, a.H, a.d, 0,
              a.out + r * a.d};
    if (prefetch) setPrefetch(t, a, rowEnd, kBegin);
    for (int64_t i = 0; i < fullTiles; ++i, t.H += kTileWidth, t.out += kTileWidth) {
      tileAvx2<kAvx2TileVecs, false>(t, tailMask);
    }
    switch (tailVecs) {
      case 0: break;
      case 1: tileAvx2<1, true>(t, tailMask); break;
      case 2: tileAvx2<2, true>(t, tailMask); break;
      case 3: tileAvx2<3, true>(t, tailMask); break;
      default: tileAvx2<4, true>(t, tailMask); break;
    }
  }
}

// ---- AVX-512: 16 floats per vector; tiles of up to kAvx512TileVecs vectors; masks make the tail cheap.

constexpr int kAvx512TileVecs = 4;

template <int kVecs, bool kMaskedTail>
__attribute__((target("avx512f"))) inline void tileAvx512(const RowTile& t, __mmask16 tailMask) {
  __m512 acc[kVecs];
  for (int i = 0; i < kVecs; ++i) acc[i] = _mm512_setzero_ps();
  for (int64_t k = 0; k < t.count; ++k) {
    prefetchAhead(t, k);
    const __m512 v = _mm512_set1_ps(t.vals[k]);
    const float* h = t.H + static_cast<int64_t>(t.cols[k]) * t.ldh;
    for (int i = 0; i < kVecs; ++i) {
      const __m512 hv = (kMaskedTail && i == kVecs - 1) ? _mm512_maskz_loadu_ps(tailMask, h + 16 * i)
                                                        : _mm512_loadu_ps(h + 16 * i);
      acc[i] = _mm512_fmadd_ps(v, hv, acc[i]);
    }
  }
  for (int i = 0; i < kVecs; ++i) {
    if (kMaskedTail && i == kVecs - 1) {
      _mm512_mask_storeu_ps(t.out + 16 * i, tailMask, acc[i]);
    } else {
      _mm512_storeu_ps(t.out + 16 * i, acc[i]);
    }
  }
}

__attribute__((target("avx512f"))) void spmmRowsAvx512(const SpmmArgs& a, int64_t rowBegin, int64_t rowEnd) {
  static_assert(kAvx512TileVecs == 4, "the tail switch below covers 1..4 vectors");
  constexpr int64_t kTileWidth = 16 * kAvx512TileVecs;
  const int64_t width = a.d;
  const int64_t fullTiles = width / kTileWidth;
  const int64_t tailWidth = width - fullTiles * kTileWidth;
  const int tailVecs = static_cast<int>((tailWidth + 15) / 16);
  const int tailLanes = tailVecs > 0 ? static_cast<int>(tailWidth - 16 * (tailVecs - 1)) : 16;
  const __mmask16 tailMask = static_cast<__mmask16>((1u << tailLanes) - 1u);
  const bool prefetch = a.prefetch && fullTiles + (tailVecs > 0) == 1;

  for (int64_t r = rowBegin; r < rowEnd; ++r) {
    const int64_t kBegin = a.indptr[r];
    RowTile t{a.indices + kBegin, a.values + kBegin, a.indptr[r + 1] - kBegin, 0, a.H, a.d, 0,
              a.out + r * a.d};
    if (prefetch) setPrefetch(t, a, rowEnd, kBegin);
    for (int64_t i = 0; i < fullTiles; ++i, t.H += kTileWidth, t.out += kTileWidth) {
      tileAvx512<kAvx512TileVecs, false>(t, tailMask);
    }
    switch (tailVecs) {
      case 0: break;
      case 1: tileAvx512<1, true>(t, tailMask); break;
      case 2: tileAvx512<2, true>(t, tailMask); break;
      case 3: tileAvx512<3, true>(t, tailMask); break;
      default: tileAvx512<4, true>(t, tailMask); break;
    }
  }
}
#endif  // DGC_SPMM_X86

using SpmmRowsFn = void (*)(const SpmmArgs&, int64_t, int64_t);

SpmmKernel bestKernel() {
#ifdef DGC_SPMM_X86
  static const SpmmKernel best =
      cpuHasAvx512F() ? SpmmKernel::Avx512 : cpuHasAvx2Fma() ? SpmmKernel::Avx2 : SpmmKernel::Portable;
  return best;
#else
  return SpmmKernel::Portable;
#endif
}

SpmmRowsFn rowsFnFor(SpmmKernel kernel) {
#ifdef DGC_SPMM_X86
  if (kernel == SpmmKernel::Avx512) return spmmRowsAvx512;
  if (kernel == SpmmKernel::Avx2) return spmmRowsAvx2;
#else
  (void)kernel;
#endif
  return spmmRowsPortable;
}

}  // namespace

// -------------------------------------------------------------------------------------------------------------
// spmm
// -------------------------------------------------------------------------------------------------------------

bool spmmKernelAvailable(SpmmKernel kernel) {
  switch (kernel) {
    case SpmmKernel::Auto:
    case SpmmKernel::Portable: return true;
    case SpmmKernel::Avx2: return bestKernel() == SpmmKernel::Avx2 || bestKernel() == SpmmKernel::Avx512;
    case SpmmKernel::Avx512: return bestKernel() == SpmmKernel::Avx512;
  }
  return false;
}

const char* spmmKernelName(SpmmKernel kernel) {
  switch (kernel) {
    case SpmmKernel::Auto: return "auto";
    case SpmmKernel::Portable: return "portable";
    case SpmmKernel::Avx2: return "avx2";
    case SpmmKernel::Avx512: return "avx512";
  }
  return "?";
}

const char* spmmDefaultKernelName() { return spmmKernelName(bestKernel()); }

void spmmWithKernel(SpmmKernel kernel, int64_t rows, int64_t cols, const int32_t* indptr, const int32_t* indices,
                    const float* values, const float* H, int64_t d, float* out, int act, float slope) {
  if (rows <= 0 || d <= 0) return;
  if (kernel == SpmmKernel::Auto) {
    kernel = bestKernel();
    // For 16 < d < 64 a row of H is 2-4 zmm vectors that mostly straddle cache lines (80 bytes at d = 20),
    // and AVX2 measured 15-20% faster at d = 20 and 40 (equal at 32, 48) on Zen 4; elsewhere AVX-512 was
    // as fast or faster (10% at d = 10, 12-25% at d = 64 and on skewed graphs at d = 256 and 2000).
    if (kernel == SpmmKernel::Avx512 && d > 16 && d < 64) kernel = SpmmKernel::Avx2;
  }
  if (!spmmKernelAvailable(kernel)) kernel = SpmmKernel::Portable;
  const SpmmRowsFn rowsFn = rowsFnFor(kernel);
  const int64_t hBytes = static_cast<int64_t>(sizeof(float)) * cols * d;
  const SpmmArgs args{indptr, indices, values, H, d, out, hBytes > kSpmmPrefetchAboveBytes};
  // Cost unit: one gathered row of H (or one output row written), d multiply-adds. A chunk should be worth
  // at least ~32k multiply-adds.
  const int64_t minUnitsPerChunk = std::max<int64_t>(1, 32768 / d);
  withActivation(act, [&](auto tag) {
    constexpr int kAct = decltype(tag)::value;
    parallelOverRows(indptr, rows, /*rowCost=*/1, minUnitsPerChunk, [&](int64_t rowBegin, int64_t rowEnd) {
      rowsFn(args, rowBegin, rowEnd);
      if constexpr (kAct != kActNone) {
        for (int64_t r = rowBegin; r < rowEnd; ++r) biasActivateRow<kAct>(out + r * d, d, nullptr, slope);
      }
    });
  });
}

void spmmActivate(int64_t rows, int64_t cols, const int32_t* indptr, const int32_t* indices, const float* values,
                  const float* H, int64_t d, float* out, int act, float slope) {
  spmmWithKernel(SpmmKernel::Auto, rows, cols, indptr, indices, values, H, d, out, act, slope);
}

void spmm(int64_t rows, int64_t cols, const int32_t* indptr, const int32_t* indices, const float* values,
          const float* H, int64_t d, float* out) {
  spmmWithKernel(SpmmKernel::Auto, rows, cols, indptr, indices, values, H, d, out);
}

}  // namespace cpu
}  // namespace dgc
