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
}}
