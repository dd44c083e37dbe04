// Dense single-precision matrix product for the CPU backend (BLIS/GotoBLAS-style packed kernels with
// AVX-512 / AVX2 micro-kernels chosen at run time; see gemm.cc for the blocking scheme and block sizes).
#pragma once
#include <cstdint>
namespace dgc { namespace cpu {
// C[m×n] = alpha * op(A) · op(B) + beta * C, all row-major float32.
// op(A) is m×k: A is stored m×k with row stride lda ≥ k, or when transA, k×m with lda ≥ m.
// op(B) is k×n: B is stored k×n with ldb ≥ n, or when transB, n×k with ldb ≥ k.
// beta == 0 means C is written without being read (it may hold NaN). k == 0 means C = beta*C.
// (As in BLAS, alpha == 0 also means C = beta*C: A and B are then not read.)
// Results are bit-identical for any thread count (dgc::setNumThreads).
void sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// An elementwise step applied to C where its final values are written: each block of C right after its last
// k slice, while the block is still in cache, c[i][j] = act(c[i][j] + bias[j]) — bias (n floats) may be null,
// act is a code of activation.h (kActNone, kActRelu, kActLeakyRelu with `slope`). The float operations are
// those of a separate bias-add pass followed by an activation pass, so the values are bit-identical to those
// (and, as for sgemm, to any thread count); the two passes over C and their temporaries are saved.
struct GemmEpilogue {
  const float* bias = nullptr;
  int act = 0;
  float slope = 0.0f;
};
void sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
           const GemmEpilogue* epilogue);

// A sparse matrix S (rows × cols) in CSR: row r's nonzeros are col / val [start[r], start[r + 1]), columns
// ascending in each row.
struct CsrView {
  int64_t rows = 0, cols = 0;
  const int64_t* start = nullptr;
  const int32_t* col = nullptr;
  const float* val = nullptr;
};

// sgemm with one operand a constant sparse matrix S, computed from S's nonzeros: the same values as sgemm on the
// dense copy of S, bit for bit (every element is summed as sgemm's packed path sums it, with the zero terms left
// out), at a cost proportional to the nonzeros. `s` is S in CSR and `st` is Sᵀ in CSR (row_sparse.h keeps both).
// Forms (D the dense operand, stored as sgemm's A or B would be, row stride ldd):
//   sparseIsA, !transA:          C = alpha·S·op(D) + beta·C        (S is m×k)
//   sparseIsA,  transA:          C = alpha·Sᵀ·op(D) + beta·C       (S is k×m)
//   !sparseIsA, transA, !transB: C = alpha·Dᵀ·S                    (S is k×n; beta must be 0, no epilogue)
// Returns false, having done nothing, where it cannot promise sgemm's values — shapes that sgemm computes on its
// direct or skinny paths, a kernel set without a single-rounding FMA (generic), a non-finite value in D (0·Inf
// is NaN in the dense product), other forms — and the caller then runs sgemm.
bool sgemmSparse(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const CsrView& s,
                 const CsrView& st, bool sparseIsA, const float* D, int64_t ldd, float beta, float* C, int64_t ldc,
                 const GemmEpilogue* epilogue);
}}
