// The nonzeros of a constant dense matrix, kept beside its buffer (Buffer::rowSparse) so that the CPU products
// that read it can skip its zeros: bag-of-words node features (ACM: 4.5% nonzero, Citeseer: under 1%) and their
// propagation ÂX (ACM: 20%) are the first layers' inputs of the graph models, and a dense product spends 95% of
// its multiply-adds there on zeros. cpu/gemm.h sgemmSparse uses it and gives the dense product's values bit for
// bit, so attaching an index changes how fast a model trains, never what it computes.
//
// Both orientations are kept: S·B reads S by rows, Sᵀ·B (the weight gradient of a layer fed with S) reads it by
// columns, and each needs its nonzeros in ascending order of the summed index.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

namespace dgc {

struct RowSparseIndex {
  int64_t rows = 0, cols = 0;
  // S in CSR: row r's nonzeros are colIdx / val [rowStart[r], rowStart[r + 1]), columns ascending.
  std::vector<int64_t> rowStart;
  std::vector<int32_t> colIdx;
  std::vector<float> val;
  // Sᵀ in CSR (S in CSC): column c's nonzeros are rowIdx / valT [colStart[c], colStart[c + 1]), rows ascending.
  std::vector<int64_t> colStart;
  std::vector<int32_t> rowIdx;
  std::vector<float> valT;

  int64_t nnz() const { return static_cast<int64_t>(val.size()); }
  size_t bytes() const;
};

// Entries of x (rows × cols, row-major) that are not == 0: NaN and ±Inf count as nonzeros, ±0 do not.
int64_t countNonzeros(const float* x, int64_t rows, int64_t cols);
// The index of x (rows, cols < 2^31). Throws DGC_OOM where the vectors cannot be allocated.
std::shared_ptr<const RowSparseIndex> buildRowSparseIndex(const float* x, int64_t rows, int64_t cols);

}  // namespace dgc
