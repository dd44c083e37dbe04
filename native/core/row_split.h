// Splitting rows of a CSR-like structure into chunks of about equal cost for the thread pool: shared by the
// host-side graph construction (native/core/graph.cc) and the CPU SpMM (native/cpu/sparse.cc).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "thread_pool.h"

namespace dgc {

// How many chunks to cut `work` units into: a few per thread (so a slow chunk does not hold up the others),
// and none smaller than minWorkPerChunk (below that, handing a chunk to another thread costs more than it saves).
inline int64_t chunkCountFor(int64_t work, int64_t minWorkPerChunk) {
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

}  // namespace dgc
