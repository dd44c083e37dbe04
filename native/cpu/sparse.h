// Sparse (CSR) matrices for the CPU backend: building a graph's normalized adjacency from an edge list,
// transposing, validating user-given CSR, and SpMM (sparse × dense), the hot op of every GCN layer.
//
// Conventions
//   * CSR with int32 column ids and int32 row pointers, so a matrix holds at most 2^31 - 1 nonzeros;
//     functions that build one throw std::length_error past that.
//   * Column ids are sorted ascending within each row and unique. Every function here that produces a CSR
//     guarantees it; spmm relies only on the ids being in range (its summation order is the stored order).
//   * Dense matrices are row-major float32.
//
// Threading and determinism
//   Everything runs on the project's pool (native/core/thread_pool.h). Each output row (of spmm, of a built
//   or transposed CSR) is produced by exactly one chunk, in an order that does not depend on how the work
//   is split into chunks, so results are bit-identical for any thread count. Chunks are cut by nonzero
//   count, not row count, so graphs with skewed degrees (power-law hubs) still spread evenly over threads.
//
// SIMD
//   The addon is built without -march flags. spmm has AVX-512 and AVX2+FMA kernels (compiled with
//   function-level target attributes) chosen once at run time with __builtin_cpu_supports, and a portable
//   kernel for other CPUs. The kernel depends only on the CPU and d, so the determinism above holds;
//   different kernels may differ in the last bits (FMA vs separate multiply and add).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dgc {
namespace cpu {

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

// out[rows×d] = A · H, where A is rows×cols CSR and H is cols×d row-major (ldh = d), out row-major (d columns).
// Overwrites out (does not read it).
//
// How: each output row is a sum over the row's nonzeros (in stored order) of value · H[col, :]. The d
// columns are cut into tiles held in vector registers (64 floats with AVX-512, 32 with AVX2, 16 in the
// portable kernel); for each tile the row's nonzeros are walked once, accumulating in registers, and the
// tile is stored once. Narrow H (d <= tile) is the same loop with the whole row in one tile; the last,
// partial vector of a row uses masked loads and stores. When H is bigger than ~L2 and a row is one tile, the
// H rows that the next nonzeros will gather are prefetched. Rows are split into chunks of ~equal
// (nnz + rows), found by binary search on indptr. Requires values != nullptr (when nnz > 0) and indices in
// [0, cols); H and out must not overlap.
void spmm(int64_t rows, int64_t cols, const int32_t* indptr, const int32_t* indices, const float* values,
          const float* H, int64_t d, float* out);

// For tests and benchmarks: which SpMM kernel to run. Auto is what spmm() does: AVX-512 if the CPU has it,
// except for 16 < d < 64 where AVX2 measured faster; else AVX2 + FMA if the CPU has them; else Portable.
// Asking for a kernel the CPU lacks falls back to Portable. spmmKernelAvailable says which can run.
enum class SpmmKernel { Auto, Portable, Avx2, Avx512 };
bool spmmKernelAvailable(SpmmKernel kernel);
const char* spmmKernelName(SpmmKernel kernel);  // "auto", "portable", "avx2", "avx512"
void spmmWithKernel(SpmmKernel kernel, int64_t rows, int64_t cols, const int32_t* indptr, const int32_t* indices,
                    const float* values, const float* H, int64_t d, float* out, int act = 0, float slope = 0.0f);

// out = act(A·H): spmm with an activation (activation.h code: kActRelu, or kActLeakyRelu with `slope`) applied
// to each chunk of output rows right after it is computed, while it is in cache. Bit-identical to spmm followed
// by the unary op.
void spmmActivate(int64_t rows, int64_t cols, const int32_t* indptr, const int32_t* indices, const float* values,
                  const float* H, int64_t d, float* out, int act, float slope);

}  // namespace cpu
}  // namespace dgc
