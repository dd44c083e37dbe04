// CSR building, transposing, validation and SpMM on the CPU. See sparse.h for what each function does;
// the comments here say how.
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
#include <limits>
#include <memory>
#include <stdexcept>

#include "../core/thread_pool.h"

namespace dgc {
namespace cpu {
namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

// SpMM: the size of H above which gathered rows are prefetched. Measured on 1M × 20 H (80 MB): 5-15% faster
// with prefetching; on 10k × 10 H (in L2) it was ~15% slower, hence the threshold.
constexpr int64_t kSpmmPrefetchAboveBytes = int64_t{2} << 20;

// ---------------------------------------------------------------------------------------------------------
// Work splitting
// ---------------------------------------------------------------------------------------------------------

// How many chunks to cut `work` units into: a few per thread (so a slow chunk does not hold up the others),
// and none smaller than minWorkPerChunk (below that, handing a chunk to another thread costs more than it saves).
int64_t chunkCountFor(int64_t work, int64_t minWorkPerChunk) {
  const int64_t maxChunks = 4 * static_cast<int64_t>(numThreads());
  const int64_t byWork = work / std::max<int64_t>(1, minWorkPerChunk);
  return std::max<int64_t>(1, std::min(maxChunks, byWork));
}

// Row boundaries b[0] = 0 <= b[1] <= ... <= b[parts] = rows that split the rows into `parts` ranges of about
// equal cost, where row r costs (ptr[r+1] - ptr[r]) + rowCost: the cost of rows [0, r) is ptr[r] - ptr[0] +
// r * rowCost, a non-decreasing function of r, so each boundary is a binary search. A single row is never
// split, so one huge row can still make its chunk bigger than the others.
template <typename Ptr>
std::vector<int64_t> splitRowsByCost(const Ptr* ptr, int64_t rows, int64_t parts, int64_t rowCost) {
  auto costBefore = [&](int64_t r) { return static_cast<int64_t>(ptr[r] - ptr[0]) + r * rowCost; };
  const int64_t total = costBefore(rows);
  std::vector<int64_t> bounds(parts + 1, rows);
  bounds[0] = 0;
  for (int64_t c = 1; c < parts; ++c) {
    const int64_t target = total / parts * c + total % parts * c / parts;  // floor(total * c / parts)
    int64_t lo = bounds[c - 1], hi = rows;  // first r in [lo, rows] with costBefore(r) >= target
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (costBefore(mid) < target) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    bounds[c] = lo;
  }
  return bounds;
}

// Calls fn(rowBegin, rowEnd) over row ranges of about equal cost (as in splitRowsByCost), in parallel.
// minWorkPerChunk is in the same units as the cost. Each row is in exactly one range.
template <typename Ptr, typename Fn>
void parallelOverRows(const Ptr* ptr, int64_t rows, int64_t rowCost, int64_t minWorkPerChunk, const Fn& fn) {
  if (rows <= 0) return;
  const int64_t work = static_cast<int64_t>(ptr[rows] - ptr[0]) + rows * rowCost;
  const int64_t parts = chunkCountFor(work, minWorkPerChunk);
  if (parts == 1) {
    fn(int64_t{0}, rows);
    return;
  }
  const std::vector<int64_t> bounds = splitRowsByCost(ptr, rows, parts, rowCost);
  parallelFor(parts, 1, [&](int64_t first, int64_t last) {
    for (int64_t c = first; c < last; ++c) {
      if (bounds[c] < bounds[c + 1]) fn(bounds[c], bounds[c + 1]);
    }
  });
}

// ---------------------------------------------------------------------------------------------------------
// Blocked bucket sort (csrFromEdges, csrTranspose)
//
// Both build a CSR from entries that arrive in no useful order: the edges of a graph, or the entries of a
// matrix seen column-wise. A direct counting-sort scatter writes each entry to a random place among all
// nnz: one cache miss and one TLB miss per entry, ~20-40 ns each on a large matrix. Instead:
//   pass 1 (partitionIntoBlocks): entries go to blocks of 2^blockShift consecutive rows (a few thousand
//     blocks). Each chunk of the input writes one sequential stream per block, so the writes stay in cache
//     and in the TLB. Chunk c's entries of a block land after chunk c-1's, in input order (a stable pass).
//   pass 2 (per block, in parallel): the block's entries, ~kBlockEntries of them, are sorted by row locally,
//     in L2.
// ---------------------------------------------------------------------------------------------------------

// Entries per block to aim for: the block and its sorted copy stay in L2 (16k × 8-12 bytes, twice), and the
// blocks are few enough (nnz / 16k) for pass 1's write streams to stay in the TLB.
constexpr int64_t kBlockEntries = 16384;

// The block shift that gives blocks of about kBlockEntries entries for nEntries spread over nKeys rows
// (at most 2^16 rows a block, so per-block row counters stay small).
int blockShiftFor(int64_t nEntries, int64_t nKeys) {
  const double perKey = std::max(1.0, static_cast<double>(nEntries) / static_cast<double>(std::max<int64_t>(1, nKeys)));
  int shift = 0;
  while (shift < 16 && static_cast<double>(int64_t{2} << shift) * perKey <= static_cast<double>(kBlockEntries)) ++shift;
  return shift;
}

// Pass 1. The input is cut into chunks [chunkStart[c], chunkStart[c + 1]) of items (edges, rows);
// produce(first, last, emit) calls emit(entry) for the entries of items [first, last), always in the same
// order. keyOf(entry) is the row the entry goes to. Fills `staged` with all entries grouped by block and
// returns the blocks' start offsets (nBlocks + 1 of them).
template <typename Entry, typename Produce, typename KeyOf>
std::vector<int64_t> partitionIntoBlocks(const std::vector<int64_t>& chunkStart, int64_t nBlocks, int blockShift,
                                         const Produce& produce, const KeyOf& keyOf, std::unique_ptr<Entry[]>& staged) {
  const int64_t chunks = static_cast<int64_t>(chunkStart.size()) - 1;
  // slot[c * nBlocks + b]: first chunk c's number of entries in block b, then where it writes the next one.
  std::vector<int64_t> slot(static_cast<size_t>(chunks * nBlocks), 0);
  parallelFor(chunks, 1, [&](int64_t first, int64_t last) {
    for (int64_t c = first; c < last; ++c) {
      int64_t* count = slot.data() + c * nBlocks;
      produce(chunkStart[c], chunkStart[c + 1], [&](const Entry& e) { ++count[keyOf(e) >> blockShift]; });
    }
  });
  std::vector<int64_t> blockStart(static_cast<size_t>(nBlocks) + 1);
  int64_t position = 0;
  for (int64_t b = 0; b < nBlocks; ++b) {
    blockStart[b] = position;
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t count = slot[c * nBlocks + b];
      slot[c * nBlocks + b] = position;
      position += count;
    }
  }
  blockStart[nBlocks] = position;
  staged.reset(new Entry[static_cast<size_t>(std::max<int64_t>(1, position))]);  // not initialized: all written below
  Entry* out = staged.get();
  parallelFor(chunks, 1, [&](int64_t first, int64_t last) {
    for (int64_t c = first; c < last; ++c) {
      int64_t* next = slot.data() + c * nBlocks;
      produce(chunkStart[c], chunkStart[c + 1], [&](const Entry& e) { out[next[keyOf(e) >> blockShift]++] = e; });
    }
  });
  return blockStart;
}

// Calls fn(blockBegin, blockEnd) over ranges of blocks of about equal cost (entries + rows), in parallel.
template <typename Fn>
void parallelOverBlocks(const std::vector<int64_t>& blockStart, int blockShift, const Fn& fn) {
  const int64_t nBlocks = static_cast<int64_t>(blockStart.size()) - 1;
  parallelOverRows(blockStart.data(), nBlocks, /*rowCost=*/int64_t{1} << blockShift, /*minWorkPerChunk=*/65536, fn);
}

// ---------------------------------------------------------------------------------------------------------
// csrFromEdges helpers
// ---------------------------------------------------------------------------------------------------------

// An adjacency entry on its way into the CSR. Unweighted graphs (the common case) leave the weight out:
// 8 bytes instead of 12 to write, read and fault in.
struct WeightedEntry {
  int32_t row, col;
  float weight;
  float w() const { return weight; }
};
struct UnitEntry {
  int32_t row, col;
  float w() const { return 1.0f; }
};
inline WeightedEntry makeEntry(WeightedEntry*, int32_t row, int32_t col, float weight) { return {row, col, weight}; }
inline UnitEntry makeEntry(UnitEntry*, int32_t row, int32_t col, float) { return {row, col}; }

// A row's entry while it is sorted: column id in the high 32 bits, the float weight's bits in the low 32.
// Sorting keys sorts by column (ties by weight bits, which does not matter: equal columns are max-merged).
using EntryKey = uint64_t;

inline EntryKey packKey(int32_t col, float weight) {
  uint32_t bits;
  std::memcpy(&bits, &weight, sizeof bits);
  return (static_cast<uint64_t>(static_cast<uint32_t>(col)) << 32) | bits;
}
inline int32_t keyCol(EntryKey key) { return static_cast<int32_t>(key >> 32); }
inline float keyWeight(EntryKey key) {
  const uint32_t bits = static_cast<uint32_t>(key);
  float weight;
  std::memcpy(&weight, &bits, sizeof weight);
  return weight;
}

// Rows of graphs are mostly short (tens of entries), and nearly sorted when the edge list is sorted:
// insertion sort there (whole build ~10% faster than with std::sort on random edges), std::sort for hubs.
void sortKeys(EntryKey* first, EntryKey* last) {
  if (last - first > 32) {
    std::sort(first, last);
    return;
  }
  for (EntryKey* i = first + 1; i < last; ++i) {
    const EntryKey key = *i;
    EntryKey* j = i;
    for (; j > first && *(j - 1) > key; --j) *j = *(j - 1);
    *j = key;
  }
}

// Boundaries cutting n items into `chunks` equal parts.
std::vector<int64_t> evenChunks(int64_t n, int64_t chunks) {
  std::vector<int64_t> start(static_cast<size_t>(chunks) + 1);
  for (int64_t c = 0; c <= chunks; ++c) start[c] = n / chunks * c + n % chunks * c / chunks;
  return start;
}

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
  static const SpmmKernel best = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return SpmmKernel::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SpmmKernel::Avx2;
    return SpmmKernel::Portable;
  }();
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
// csrFromEdges
// -------------------------------------------------------------------------------------------------------------

namespace {

template <typename Entry>
CsrHost buildGraph(int64_t n, const int32_t* src, const int32_t* dst, const float* weights, int64_t nEdges,
                   const GraphOptions& opts) {
  const bool mirror = opts.symmetrize;
  const bool selfLoops = opts.selfLoops;

  // 1. Entries (row, col, weight) grouped by blocks of rows: each edge once, and mirrored (col, row) when
  //    symmetrizing (a self edge only once: its mirror is itself).
  const int blockShift = blockShiftFor(mirror ? 2 * nEdges : nEdges, n);
  const int64_t rowsPerBlock = int64_t{1} << blockShift;
  const int64_t nBlocks = (n + rowsPerBlock - 1) >> blockShift;
  const std::vector<int64_t> edgeChunks = evenChunks(nEdges, chunkCountFor(nEdges, 65536));
  auto produce = [&](int64_t first, int64_t last, const auto& emit) {
    for (int64_t e = first; e < last; ++e) {
      const int32_t s = src[e], t = dst[e];
      const float w = weights ? weights[e] : 1.0f;
      emit(makeEntry(static_cast<Entry*>(nullptr), s, t, w));
      if (mirror && s != t) emit(makeEntry(static_cast<Entry*>(nullptr), t, s, w));
    }
  };
  std::unique_ptr<Entry[]> staged;
  const std::vector<int64_t> blockStart = partitionIntoBlocks<Entry>(
      edgeChunks, nBlocks, blockShift, produce, [](const Entry& e) { return e.row; }, staged);

  // 2. Per block: sort its entries by row (counting sort into a scratch array of keys), then each row by
  //    column; merge equal columns by max and write the row's unique entries back over the block's own
  //    entries, at the row's first position (rowStart). Also compute the degree that normalization divides
  //    by: the sum, in column order, of the values the row will store (the diagonal with its +1 when
  //    selfLoops). Nothing here depends on the order the entries arrived in, so not on the thread count.
  std::vector<int64_t> rowStart(static_cast<size_t>(n) + 1);
  std::vector<int32_t> uniqueCount(static_cast<size_t>(n));
  std::vector<int32_t> outCount(static_cast<size_t>(n));  // uniqueCount + 1 if a self loop must be inserted
  std::vector<double> degree(static_cast<size_t>(n));
  parallelOverBlocks(blockStart, blockShift, [&](int64_t blockBegin, int64_t blockEnd) {
    std::vector<EntryKey> keys;
    std::vector<int64_t> rowFill(static_cast<size_t>(rowsPerBlock) + 1);
    for (int64_t b = blockBegin; b < blockEnd; ++b) {
      const int64_t r0 = b << blockShift, r1 = std::min(n, r0 + rowsPerBlock);
      Entry* entries = staged.get() + blockStart[b];
      const int64_t count = blockStart[b + 1] - blockStart[b];
      keys.resize(static_cast<size_t>(count));
      std::fill(rowFill.begin(), rowFill.end(), 0);
      for (int64_t i = 0; i < count; ++i) ++rowFill[entries[i].row - r0 + 1];
      for (int64_t r = r0; r < r1; ++r) rowFill[r - r0 + 1] += rowFill[r - r0];  // now: local row starts
      for (int64_t r = r0; r < r1; ++r) rowStart[r] = blockStart[b] + rowFill[r - r0];
      for (int64_t i = 0; i < count; ++i) {
        keys[rowFill[entries[i].row - r0]++] = packKey(entries[i].col, entries[i].w());
      }
      // rowFill[r - r0] is now the end of row r in keys.
      for (int64_t r = r0; r < r1; ++r) {
        EntryKey* first = keys.data() + (rowStart[r] - blockStart[b]);
        EntryKey* last = keys.data() + rowFill[r - r0];
        sortKeys(first, last);
        Entry* unique = entries + (rowStart[r] - blockStart[b]);
        int64_t nUnique = 0;
        double sum = 0.0;
        bool selfLoopCounted = !selfLoops;
        bool hasDiagonal = false;
        for (const EntryKey* it = first; it < last;) {
          const int32_t col = keyCol(*it);
          float w = keyWeight(*it);
          for (++it; it < last && keyCol(*it) == col; ++it) w = std::max(w, keyWeight(*it));
          unique[nUnique++] = makeEntry(static_cast<Entry*>(nullptr), static_cast<int32_t>(r), col, w);
          if (!selfLoopCounted && col >= r) {
            selfLoopCounted = true;
            if (col == r) {
              w += 1.0f;  // exactly what step 4 stores
            } else {
              sum += 1.0;  // the self loop step 4 inserts before this column
            }
          }
          hasDiagonal = hasDiagonal || col == r;
          sum += w;
        }
        if (!selfLoopCounted) sum += 1.0;  // self loop inserted at the end of the row
        uniqueCount[r] = static_cast<int32_t>(nUnique);
        outCount[r] = static_cast<int32_t>(nUnique + (selfLoops && !hasDiagonal ? 1 : 0));
        degree[r] = sum;
      }
    }
  });
  rowStart[n] = blockStart[nBlocks];

  // 3. Row pointers of the result.
  CsrHost result;
  result.rows = result.cols = n;
  result.indptr.resize(static_cast<size_t>(n) + 1);
  int64_t nnz = 0;
  for (int64_t r = 0; r < n; ++r) {
    result.indptr[r] = static_cast<int32_t>(nnz);
    nnz += outCount[r];
    if (nnz > kInt32Max) throw std::length_error("csrFromEdges: more than 2^31 - 1 nonzeros");
  }
  result.indptr[n] = static_cast<int32_t>(nnz);
  std::vector<int32_t>().swap(outCount);

  // Sym multiplies by invSqrtDegree[row] * invSqrtDegree[col] (one product of the two, the same for (i, j)
  // and (j, i), so a symmetric input stays exactly symmetric); Row divides by the degree. Degrees <= 0 get
  // scale 0.
  const Normalization norm = opts.norm;
  std::vector<double> invSqrtDegree;
  if (norm == Normalization::Sym) {
    invSqrtDegree.resize(static_cast<size_t>(n));
    parallelFor(n, grainFor(n, 20), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) invSqrtDegree[r] = degree[r] > 0.0 ? 1.0 / std::sqrt(degree[r]) : 0.0;
    });
  }

  // 4. Write the final rows, inserting the self loop at its sorted position and normalizing.
  result.indices.resize(static_cast<size_t>(nnz));
  result.values.resize(static_cast<size_t>(nnz));
  parallelOverRows(result.indptr.data(), n, /*rowCost=*/2, /*minWorkPerChunk=*/32768, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const Entry* entries = staged.get() + rowStart[r];
      const int64_t nUnique = uniqueCount[r];
      int32_t* outCols = result.indices.data() + result.indptr[r];
      float* outVals = result.values.data() + result.indptr[r];
      const double rowDegree = degree[r];
      auto emit = [&](int32_t col, float w) {
        float value = w;
        if (norm == Normalization::Row) {
          value = rowDegree > 0.0 ? static_cast<float>(w / rowDegree) : 0.0f;
        } else if (norm == Normalization::Sym) {
          value = static_cast<float>(w * (invSqrtDegree[r] * invSqrtDegree[col]));
        }
        *outCols++ = col;
        *outVals++ = value;
      };
      bool diagonalDone = !selfLoops;
      for (int64_t i = 0; i < nUnique; ++i) {
        const int32_t col = entries[i].col;
        float w = entries[i].w();
        if (!diagonalDone && col >= r) {
          diagonalDone = true;
          if (col == r) {
            w += 1.0f;
          } else {
            emit(static_cast<int32_t>(r), 1.0f);
          }
        }
        emit(col, w);
      }
      if (!diagonalDone) emit(static_cast<int32_t>(r), 1.0f);
    }
  });
  return result;
}

}  // namespace

CsrHost csrFromEdges(int64_t n, const int32_t* src, const int32_t* dst, const float* weights, int64_t nEdges,
                     const GraphOptions& opts) {
  if (n < 0) throw std::invalid_argument("csrFromEdges: n must be >= 0");
  if (nEdges < 0) throw std::invalid_argument("csrFromEdges: nEdges must be >= 0");
  if (nEdges > 0 && (src == nullptr || dst == nullptr)) {
    throw std::invalid_argument("csrFromEdges: src and dst must not be null");
  }
  if (n > kInt32Max) throw std::length_error("csrFromEdges: n does not fit int32");
  if (n == 0 && nEdges > 0) throw std::invalid_argument("csrFromEdges: edges given for an empty graph");
  if (weights != nullptr) return buildGraph<WeightedEntry>(n, src, dst, weights, nEdges, opts);
  return buildGraph<UnitEntry>(n, src, dst, nullptr, nEdges, opts);
}

// -------------------------------------------------------------------------------------------------------------
// csrTranspose
// -------------------------------------------------------------------------------------------------------------

CsrHost csrTranspose(const CsrHost& a) {
  if (a.rows < 0 || a.cols < 0) throw std::invalid_argument("csrTranspose: negative shape");
  if (a.cols > kInt32Max || a.rows > kInt32Max) throw std::length_error("csrTranspose: shape does not fit int32");
  const int64_t nnz = a.nnz();
  if (nnz > kInt32Max) throw std::length_error("csrTranspose: more than 2^31 - 1 nonzeros");
  if (static_cast<int64_t>(a.indptr.size()) != a.rows + 1 && !(a.rows == 0 && a.indptr.empty())) {
    throw std::invalid_argument("csrTranspose: indptr must have rows + 1 entries");
  }
  if (static_cast<int64_t>(a.values.size()) != nnz) {
    throw std::invalid_argument("csrTranspose: values and indices differ in length");
  }

  CsrHost t;
  t.rows = a.cols;
  t.cols = a.rows;
  t.indptr.assign(static_cast<size_t>(t.rows) + 1, 0);
  t.indices.resize(static_cast<size_t>(nnz));
  t.values.resize(static_cast<size_t>(nnz));
  if (nnz == 0 || a.rows == 0) return t;

  // 1. Entries (col, row, value) grouped by blocks of columns (= rows of the result). Chunks of A's rows
  //    of ~equal nnz are walked in row order, and the pass is stable, so within a block each column's
  //    entries come in ascending row order.
  struct Entry {
    int32_t col, row;
    float value;
  };
  const int blockShift = blockShiftFor(nnz, a.cols);
  const int64_t colsPerBlock = int64_t{1} << blockShift;
  const int64_t nBlocks = (a.cols + colsPerBlock - 1) >> blockShift;
  const std::vector<int64_t> rowChunks =
      splitRowsByCost(a.indptr.data(), a.rows, chunkCountFor(nnz + a.rows, 65536), /*rowCost=*/1);
  auto produce = [&](int64_t firstRow, int64_t lastRow, const auto& emit) {
    for (int64_t r = firstRow; r < lastRow; ++r) {
      for (int64_t k = a.indptr[r]; k < a.indptr[r + 1]; ++k) {
        emit(Entry{a.indices[k], static_cast<int32_t>(r), a.values[k]});
      }
    }
  };
  std::unique_ptr<Entry[]> staged;
  const std::vector<int64_t> blockStart =
      partitionIntoBlocks<Entry>(rowChunks, nBlocks, blockShift, produce, [](const Entry& e) { return e.col; }, staged);

  // 2. Per block: a stable counting sort by column straight into the result (the block's part of it is one
  //    contiguous range, so these writes stay in cache), which keeps row ids ascending in every column.
  parallelOverBlocks(blockStart, blockShift, [&](int64_t blockBegin, int64_t blockEnd) {
    std::vector<int64_t> next(static_cast<size_t>(colsPerBlock) + 1);
    for (int64_t b = blockBegin; b < blockEnd; ++b) {
      const int64_t c0 = b << blockShift, c1 = std::min(a.cols, c0 + colsPerBlock);
      const Entry* entries = staged.get() + blockStart[b];
      const int64_t count = blockStart[b + 1] - blockStart[b];
      std::fill(next.begin(), next.end(), 0);
      for (int64_t i = 0; i < count; ++i) ++next[entries[i].col - c0 + 1];
      next[0] = blockStart[b];
      for (int64_t c = c0; c < c1; ++c) next[c - c0 + 1] += next[c - c0];  // now: global column starts
      for (int64_t c = c0; c < c1; ++c) t.indptr[c] = static_cast<int32_t>(next[c - c0]);
      for (int64_t i = 0; i < count; ++i) {
        const int64_t p = next[entries[i].col - c0]++;
        t.indices[p] = entries[i].row;
        t.values[p] = entries[i].value;
      }
    }
  });
  t.indptr[a.cols] = static_cast<int32_t>(nnz);
  return t;
}

// -------------------------------------------------------------------------------------------------------------
// csrValidate
// -------------------------------------------------------------------------------------------------------------

namespace {

// Checks the indices of row r (indptr already valid). Returns true if fine; otherwise writes a message to
// *message (when not null) and returns false.
bool checkRowIndices(int64_t r, int64_t cols, const int32_t* indptr, const int32_t* indices, std::string* message) {
  for (int64_t k = indptr[r]; k < indptr[r + 1]; ++k) {
    const int32_t col = indices[k];
    if (col < 0 || col >= cols) {
      if (message) {
        *message = "indices[" + std::to_string(k) + "] = " + std::to_string(col) + " is out of range [0, " +
                   std::to_string(cols) + ") (row " + std::to_string(r) + ")";
      }
      return false;
    }
    if (k > indptr[r] && col <= indices[k - 1]) {
      if (message) {
        *message = "indices[" + std::to_string(k) + "] = " + std::to_string(col) +
                   (col == indices[k - 1] ? " == " : " < ") + "indices[" + std::to_string(k - 1) +
                   "] = " + std::to_string(indices[k - 1]) + " in row " + std::to_string(r) +
                   (col == indices[k - 1] ? " (duplicate column)" : " (columns must be sorted ascending)");
      }
      return false;
    }
  }
  return true;
}

}  // namespace

std::string csrValidate(int64_t rows, int64_t cols, const int32_t* indptr, const int32_t* indices, int64_t nnz) {
  if (rows < 0 || cols < 0) {
    return "shape " + std::to_string(rows) + " x " + std::to_string(cols) + " is negative";
  }
  if (nnz < 0) return "nnz = " + std::to_string(nnz) + " is negative";
  if (rows > kInt32Max) return "rows = " + std::to_string(rows) + " does not fit int32";
  if (cols > kInt32Max + int64_t{1}) return "cols = " + std::to_string(cols) + " is more than 2^31";
  if (nnz > kInt32Max) return "nnz = " + std::to_string(nnz) + " does not fit int32 (indptr is int32)";
  if (indptr == nullptr) return "indptr is null";
  if (nnz > 0 && indices == nullptr) return "indices is null but nnz = " + std::to_string(nnz);

  // Row pointers, serially: the first bad one is wanted, and this is O(rows) of cheap compares.
  if (indptr[0] != 0) return "indptr[0] = " + std::to_string(indptr[0]) + ", expected 0";
  for (int64_t r = 1; r <= rows; ++r) {
    if (indptr[r] < indptr[r - 1]) {
      return "indptr[" + std::to_string(r) + "] = " + std::to_string(indptr[r]) + " < indptr[" +
             std::to_string(r - 1) + "] = " + std::to_string(indptr[r - 1]);
    }
  }
  if (indptr[rows] != nnz) {
    return "indptr[" + std::to_string(rows) + "] = " + std::to_string(indptr[rows]) + ", expected nnz = " +
           std::to_string(nnz);
  }

  // Indices, in parallel over row chunks: each chunk records its first bad row (or rows if none); the first
  // over all chunks is then re-checked to build the message.
  const int64_t chunks = rows == 0 ? 0 : chunkCountFor(nnz + rows, 65536);
  if (chunks == 0) return std::string();
  const std::vector<int64_t> bounds = splitRowsByCost(indptr, rows, chunks, 1);
  std::vector<int64_t> firstBadRow(static_cast<size_t>(chunks), rows);
  parallelFor(chunks, 1, [&](int64_t first, int64_t last) {
    for (int64_t c = first; c < last; ++c) {
      for (int64_t r = bounds[c]; r < bounds[c + 1]; ++r) {
        if (!checkRowIndices(r, cols, indptr, indices, nullptr)) {
          firstBadRow[c] = r;
          break;
        }
      }
    }
  });
  for (int64_t c = 0; c < chunks; ++c) {
    if (firstBadRow[c] < rows) {
      std::string message;
      checkRowIndices(firstBadRow[c], cols, indptr, indices, &message);
      return message;
    }
  }
  return std::string();
}

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
