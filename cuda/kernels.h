// Raw-pointer entry points shared across the CUDA family files (the op-table methods themselves are CudaBackend's,
// cuda/cuda_backend.h): the SGEMM that gemm.cu implements and the fused families call for their own products.
#pragma once
#include <cstdint>

namespace dgc {
namespace cuda {

// C[m×n] = alpha·op(A)·op(B) + beta·C, row-major, as cpu::sgemm (native/cpu/gemm.h): op(A) is m×k (A stored
// m×k with row stride lda, or k×m when transA), op(B) is k×n (B stored k×n with ldb, or n×k when transB).
// beta == 0: C is written without being read. alpha == 0 or k == 0: C = beta·C (A and B not read).
// Provider: cuBLAS when libcublas.so.{13,12,11} loads at run time (DGCLUST_CUBLAS=0 refuses it), else the
// built-in kernels. Deterministic for a given provider, device model and shape.
void sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
// The built-in kernels alone (tests and benchmarks compare them with cuBLAS).
void sgemmBuiltin(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
// cuBLAS alone; false (nothing enqueued) when cuBLAS is not loaded.
bool sgemmCublas(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
// "cublas" or "dgclust" once the first GEMM has decided ("" before: deciding loads cuBLAS and creates the CUDA
// context); the reason cuBLAS is not used, or "".
const char* gemmProvider();
const char* cublasUnavailableReason();

}  // namespace cuda
}  // namespace dgc
