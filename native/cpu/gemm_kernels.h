// Internal interface between the GEMM driver (gemm.cc) and its per-ISA kernels (gemm_avx512.cc,
// gemm_avx2.cc, and the portable fallback in gemm_generic.cc). Not part of the addon's API.
#pragma once
#include <cstdint>

namespace dgc { namespace cpu { namespace gemm_detail {

// Operand of the packed product, seen as `rows × k`: element (r, p) is at data[r * rowStride + p * kStride].
// op(A) is m × k as is; op(B) is described transposed (n × k) so that A and B are packed by the same code
// and swapping them computes Cᵀ = op(B)ᵀ · op(A)ᵀ.
struct Operand {
  const float* data;
  int64_t rowStride;
  int64_t kStride;
};

// One instruction set's micro-kernels, packing routines and cache block sizes.
//
// Packed layout (the same for A and B): the operand's rows are cut into panels of `width` rows
// (mr for A, nr for B; the last one may be narrower); panel q starts at dst + q * width * kc and holds its
// rows k-major: element (r, p) of the panel at [p * panelRows + r]. A's last panel keeps its exact row count
// (there is a micro-kernel for every row count 1..mr); B's last panel is rounded up to a whole number of
// vectors and zero-padded, and the kernel stores only the valid columns.
struct KernelSet {
  const char* name;
  int mr;        // rows of a micro-tile (A values broadcast per k step)
  int nr;        // columns of a micro-tile (B vectors per k step × vector width)
  int vecWidth;  // floats per vector register
  int64_t mc, kc, nc;  // cache blocks: A block mc×kc (L2); nc: B block width in the n-split path (gemm.cc)

  // Packs rows [0, rows) × k [0, kc) of `src` into panels of `width` rows, the last padded to `padTo`.
  void (*pack)(Operand src, int64_t rows, int64_t kc, int width, int padTo, float* dst);

  // C block (mc × nc, element (i, j) at c[i * rsC + j * csC]) = alpha · Ap · Bp + beta · C, where Ap is
  // a packed mc × kc block of A (panels of mr) and Bp a packed kc × nc block of B (panels of nr).
  // beta == 0: C is not read.
  void (*macroKernel)(int64_t mc, int64_t nc, int64_t kc, const float* Ap, const float* Bp, float alpha,
                      float beta, float* c, int64_t rsC, int64_t csC);

  // Kernel for skinny products with A transposed (see gemm.cc): Cᵀ = op(B)ᵀ·op(A)ᵀ has only n ≤ 16 rows,
  // which should fit one micro-tile height: this kernel has tiles of up to skinnyMr × skinnyNr.
  int skinnyMr, skinnyNr;
  void (*skinnyMacroKernel)(int64_t mc, int64_t nc, int64_t kc, const float* Ap, const float* Bp, float alpha,
                            float beta, float* c, int64_t rsC, int64_t csC);

  // Skinny products by dot products along k, for n ≤ skinnyMaxN (0: not available): rows [0, m) of
  // C = alpha · A · Btᵀ + beta · C, A m×k with rows contiguous along k (stride lda), Bt n×k with row stride
  // ldbt ≥ k rounded up to vecWidth and zero-filled past k.
  int skinnyMaxN;
  void (*skinnyDot)(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* bt, int64_t ldbt,
                    float alpha, float beta, float* c, int64_t ldc);

  // Products with a row-sparse operand (gemm.cc, sgemmSparse); null in a set whose fma is not one rounding
  // (generic). One k slice of one row of C, at most sparseWidth columns:
  //   c[0, n) = alpha · Σ_e val[e] · b[idx[e] · ldb + (0, n)]  +  beta · c[0, n)  (c not read when beta == 0),
  // each element summed as the micro-kernel sums it over the slice, an FMA chain from zero in k order, the zero
  // terms of the dense row left out (for a finite b, fma(0, b, s) is s), then the micro-kernel's epilogue.
  int sparseWidth;
  void (*sparseRow)(int64_t nnz, const float* val, const int32_t* idx, const float* b, int64_t ldb, int n,
                    float alpha, float beta, float* c);
};

const KernelSet* avx512KernelSet();  // nullptr when not compiled in (non-x86 or compiler without support)
const KernelSet* avx2KernelSet();    // nullptr when not compiled in
const KernelSet& genericKernelSet();

// The kernel set sgemm uses: the fastest the CPU supports (or DGCLUST_GEMM_KERNEL=avx512|avx2|generic).
const KernelSet& activeKernelSet();
// For tests and benchmarks: use the named set ("avx512", "avx2", "generic") if this CPU runs
// it. Returns false (and changes nothing) otherwise. Not to be called while a sgemm runs.
bool forceKernelSet(const char* name);
// The name of the set in use: "avx512", "avx2" or "generic".
const char* activeKernelSetName();

}}}  // namespace dgc::cpu::gemm_detail
