// The non-fused CUDA op families: host entry points in namespace dgc::cuda, one .cu file per family (the same
// families as native/cpu). Each takes tensors that ops.cc has validated and allocated on Device::CUDA,
// enqueues its kernels on dgc::cuda::stream() and returns without synchronizing (unless it says otherwise).
// Semantics: native/core/backend.h; the arithmetic follows native/cpu/*.cc, and where it says "bit-identical"
// below it matches the CPU backend bit for bit (no FMA contraction, the same operation order).
//
// The fused families (cuda/fused.h) may use the raw-pointer GEMM below for their own products.
#pragma once
#include <cstdint>
#include <vector>

#include "../native/core/backend.h"

namespace dgc {
namespace cuda {

// ---- gemm.cu ---------------------------------------------------------------------------------------------
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
void gemm(bool transA, bool transB, float alpha, const Tensor& a, const Tensor& b, float beta, Tensor& c);
void transpose(const Tensor& x, Tensor& out);  // bit-identical

// ---- sparse.cu -------------------------------------------------------------------------------------------
// out = a·h, each output row summed in the stored order of its nonzeros with fused multiply-adds (as the
// CPU's AVX2 / AVX-512 kernels). Deterministic: one thread owns each output element, no atomics.
void spmm(const CsrMatrix& a, const Tensor& h, Tensor& out);

// ---- elementwise.cu --------------------------------------------------------------------------------------
// Bit-identical, except the forward of tanh / sigmoid / exp / log (CUDA's libm differs from glibc's in the last
// bit or two).
void fill(Tensor& out, double value);
void unary(Unary op, const Tensor& x, float param, Tensor& out);
void unaryGrad(Unary op, const Tensor& xy, const Tensor& dy, float param, Tensor& dx);
void binary(Binary op, const Tensor& a, const Tensor& b, Tensor& out);
void affine(const Tensor& x, float alpha, float beta, Tensor& out);
void axpby(float alpha, const Tensor& a, float beta, const Tensor& b, Tensor& out);
void mulScalar(const Tensor& x, const Tensor& s, Tensor& out);
void addRowVector(const Tensor& x, const Tensor& v, Tensor& out);
void mulRowVector(const Tensor& x, const Tensor& v, Tensor& out);
void mulColVector(const Tensor& x, const Tensor& v, Tensor& out);
void expandRows(const Tensor& v, Tensor& out);
void expandCols(const Tensor& v, Tensor& out);
void expandScalar(const Tensor& s, Tensor& out);

// ---- reduce.cu -------------------------------------------------------------------------------------------
// Sums accumulate in double in a fixed tree (independent of the device), so repeated runs are bit-identical;
// they equal the CPU's double sums up to the rounding of the double sum itself (almost always the same float).
void rowSum(const Tensor& x, Tensor& out);
void colSum(const Tensor& x, Tensor& out);
void sumAll(const Tensor& x, Tensor& out);
void argmaxRows(const Tensor& x, Tensor& out);  // identical to the CPU (first index on ties, first NaN wins)
void softmaxRows(const Tensor& x, bool log, Tensor& out);
void softmaxRowsGrad(const Tensor& y, const Tensor& dy, bool log, Tensor& dx);
// Backend::findOutside on the device (synchronizes to read back the index).
int64_t findOutside(const Tensor& t, float lo, float hi, float* value);

// ---- indexing.cu -----------------------------------------------------------------------------------------
void concatCols(const std::vector<Tensor>& xs, Tensor& out);
void sliceCols(const Tensor& x, int64_t start, Tensor& out);
void addIntoCols(const Tensor& src, int64_t start, Tensor& out);
void gatherRows(const Tensor& x, const Tensor& idx, Tensor& out);
// Deterministic and bit-identical to the CPU: each output row adds its source rows in increasing source order.
// Reads idx back to the host to group the sources by target (synchronizes).
void scatterAddRows(const Tensor& src, const Tensor& idx, Tensor& out);

// ---- loss.cu ---------------------------------------------------------------------------------------------
void mse(const Tensor& a, const Tensor& b, Tensor& out);
void mseGrad(const Tensor& a, const Tensor& b, const Tensor& g, Tensor& da);  // bit-identical
void bceWithLogits(const Tensor& logits, const Tensor& target, Tensor& out);
void bceWithLogitsGrad(const Tensor& logits, const Tensor& target, const Tensor& g, Tensor& dl);

// ---- optim.cu (bit-identical to native/cpu/optim.cc) -----------------------------------------------------
void adamStep(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamParams& p);
void sgdStep(Tensor& param, const Tensor& grad, Tensor* velocity, float lr, float momentum, float weightDecay);

// ---- random.cu (bit-identical to native/cpu/random.cc: element i of stream s under seed k) ---------------
void randomUniform(Tensor& out, float low, float high, uint64_t seed, uint64_t stream);
void randomNormal(Tensor& out, float mean, float std, uint64_t seed, uint64_t stream);

}  // namespace cuda
}  // namespace dgc
