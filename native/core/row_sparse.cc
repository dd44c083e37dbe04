#include "row_sparse.h"

#include <new>

#include "error.h"

namespace dgc {

size_t RowSparseIndex::bytes() const {
  return (rowStart.size() + colStart.size()) * sizeof(int64_t) + (colIdx.size() + rowIdx.size()) * sizeof(int32_t) +
         (val.size() + valT.size()) * sizeof(float);
}

int64_t countNonzeros(const float* x, int64_t rows, int64_t cols) {
  int64_t total = 0;  // one pass, once per constant input: not worth the threads
  for (int64_t i = 0; i < rows * cols; ++i) total += x[i] != 0.0f;
  return total;
}

std::shared_ptr<const RowSparseIndex> buildRowSparseIndex(const float* x, int64_t rows, int64_t cols) {
  DGC_CHECK(rows < (int64_t(1) << 31) && cols < (int64_t(1) << 31), Shape, "row-sparse index: ", rows, "x", cols,
            " has a dimension of 2^31 or more");
  try {
    auto s = std::make_shared<RowSparseIndex>();
    s->rows = rows;
    s->cols = cols;
    s->rowStart.assign(static_cast<size_t>(rows) + 1, 0);
    s->colStart.assign(static_cast<size_t>(cols) + 1, 0);
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = x + r * cols;
      int64_t count = 0;
      for (int64_t c = 0; c < cols; ++c) {
        if (row[c] != 0.0f) {
          ++count;
          ++s->colStart[static_cast<size_t>(c) + 1];
        }
      }
      s->rowStart[static_cast<size_t>(r) + 1] = s->rowStart[static_cast<size_t>(r)] + count;
    }
    for (int64_t c = 0; c < cols; ++c) s->colStart[static_cast<size_t>(c) + 1] += s->colStart[static_cast<size_t>(c)];
    const size_t nnz = static_cast<size_t>(s->rowStart.back());
    s->colIdx.resize(nnz);
    s->val.resize(nnz);
    s->rowIdx.resize(nnz);
    s->valT.resize(nnz);
    std::vector<int64_t> next(s->colStart.begin(), s->colStart.end() - 1);  // fill position of each column
    size_t e = 0;
    for (int64_t r = 0; r < rows; ++r) {  // rows ascending: each column's list comes out in row order
      const float* row = x + r * cols;
      for (int64_t c = 0; c < cols; ++c) {
        if (row[c] != 0.0f) {
          s->colIdx[e] = static_cast<int32_t>(c);
          s->val[e++] = row[c];
          const size_t t = static_cast<size_t>(next[static_cast<size_t>(c)]++);
          s->rowIdx[t] = static_cast<int32_t>(r);
          s->valT[t] = row[c];
        }
      }
    }
    return s;
  } catch (const std::bad_alloc&) {
    fail(ErrorCode::OOM, "out of host memory building the row-sparse index of a ", rows, "x", cols, " matrix");
  }
}

}  // namespace dgc
