// Sparse graphs on the host, for every backend: building a graph's normalized adjacency (CSR) from an edge list,
// transposing, and validating user-given CSR. The op front (native/core/ops.cc) builds here and copies the result to
// the tensor's device; the CPU and CUDA backends only multiply (spmm).
//
// Conventions
//   * CSR with int32 column ids and int32 row pointers, so a matrix holds at most 2^31 - 1 nonzeros;
//     functions that build one throw std::length_error past that.
//   * Column ids are sorted ascending within each row and unique. Every function here that produces a CSR
//     guarantees it.
//
// Threading and determinism: everything runs on the project's pool (native/core/thread_pool.h). Each output row is
// produced by exactly one chunk, in an order that does not depend on how the work is split, so results are
// bit-identical for any thread count. Chunks are cut by nonzero count, not row count (native/core/row_split.h), so
// graphs with skewed degrees (power-law hubs) still spread evenly over threads.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dgc {
namespace graph {

enum class Normalization { None, Row, Sym };

// A CSR matrix on the host. indptr has rows+1 entries, indices are column ids sorted ascending within each row,
// no duplicate (row, col) pairs.
struct CsrHost {
  int64_t rows = 0, cols = 0;
  std::vector<int32_t> indptr, indices;
  std::vector<float> values;
  int64_t nnz() const { return static_cast<int64_t>(indices.size()); }
};

struct GraphOptions {
  bool symmetrize = true;   // A := elementwise max(A, Aᵀ)
  bool selfLoops = true;    // A := A + I (adds 1 to the diagonal even if an edge (i,i) exists, as SDCN/DFCN code does: adj + sp.eye)
  Normalization norm = Normalization::Row;  // Row: D⁻¹(A+I); Sym: D^-½(A+I)D^-½; None: as is. D = row sums after the previous steps.
};

// n×n graph from an edge list of nEdges directed pairs src[e] → dst[e] with optional weights (nullptr = all 1).
// Ids are already validated to be in [0, n). Duplicate pairs are merged by max (the papers build a 0/1 matrix).
// Rows with zero degree (possible when selfLoops=false) stay empty under normalization (no division by zero, no NaN).
//
// How: a blocked bucket sort. Entries (row, col[, weight]) — each edge once, and mirrored when
// symmetrizing — are first partitioned into blocks of ~16k entries (consecutive rows), then each block is
// counting-sorted by row in cache, each row's columns sorted (insertion sort: rows are short, and nearly
// sorted when the edge list is), equal columns max-merged, and the row's degree computed (a double sum in
// column order, with the +1 on the diagonal). A last pass writes the CSR with the normalization applied.
// O(nEdges + n) time and memory: 8 bytes per entry in flight (12 with weights), plus the result and a few
// n-sized arrays; every pass is parallel and the result is the same for any thread count. Weights are edge
// strengths and expected finite and >= 0: with a negative weight, symmetrizing takes the max over the stored
// entries only (an implicit 0 does not win).
// Row: value / degree(row). Sym: value · (degree(row)·degree(col))^-½, computed so that the result is exactly
// symmetric when the input to normalization is. A row of degree <= 0 gets scale 0 (no NaN, no Inf).
// Throws std::invalid_argument for n < 0 or nEdges < 0 (or null src/dst with nEdges > 0), std::length_error
// if n or the nonzero count does not fit int32.
CsrHost csrFromEdges(int64_t n, const int32_t* src, const int32_t* dst, const float* weights, int64_t nEdges,
                     const GraphOptions& opts);

// Aᵀ as CSR (cols×rows), sorted indices. O(nnz + rows + cols), parallel where it pays.
//
// How: the same blocked bucket sort as csrFromEdges, by column: entries (col, row, value) are partitioned
// into blocks of consecutive columns (a stable pass over row chunks of ~equal nnz, in row order), then each
// block is counting-sorted by column straight into the result. Both passes are stable, so every output row
// comes out with ascending ids without a sort. 12 bytes per nonzero in flight plus the result.
CsrHost csrTranspose(const CsrHost& a);

// Checks a CSR given by a user: indptr monotone from 0 to nnz, indices in [0, cols), sorted and unique per row.
// Returns an empty string if valid, otherwise a message naming the first bad position (e.g. "indptr[17] = 5 < indptr[16] = 9").
// indptr is checked completely before any index is read (a bad indptr could point outside indices). The
// index checks run in parallel over row chunks; the first bad row over all chunks is reported.
std::string csrValidate(int64_t rows, int64_t cols, const int32_t* indptr, const int32_t* indices, int64_t nnz);

}  // namespace graph
}  // namespace dgc
