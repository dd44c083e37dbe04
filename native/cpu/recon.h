// Graph-reconstruction losses through σ(Z Zᵀ), fused with their gradients, never materializing N×N
// (DFCN's L_a and CaEGCN's graph loss, in the forms of the official codes: DFCN's train.py, CaEGCN's CaEGCN.py).
//
//   DFCN   L = (1/N²) Σ_ij (σ(z1_i·z1_j) + σ(z2_i·z2_j) − A_ij)²      (two embeddings: Z_IGAE and Ẑ)
//          L = (1/N²) Σ_ij (σ(z_i·z_j) − A_ij)²                       (one embedding: Z2 == nullptr)
//   CaEGCN L = (1/N²) Σ_ij BCE(σ(z_i·z_j), T_ij)                       (PyTorch BCELoss, logs clamped at −100)
//
// A and T are N×N CSR matrices (native/core/graph.h conventions: int32 indptr/indices, float values, column
// ids sorted and unique within a row); entries absent from the CSR are 0. They need NOT be symmetric (DFCN and
// CaEGCN use the row-normalized D⁻¹(A+I)); Aᵀ is not needed. The loss and gradients are computed tile by tile
// over (i, j) blocks with sparse corrections on the nonzeros; how and why is described at the top of recon.cc.
//
// CONVENTIONS
//   * Row-major float32, raw pointers. Z1 is n×d1, Z2 n×d2, Z n×d; dZ* have the shape of their Z. The row
//     stride of every matrix is its width (contiguous rows).
//   * Returns the loss value (double) — the mean over all n² pairs, NOT multiplied by g.
//   * Each gradient pointer may be nullptr (that gradient is not computed; with all of them null the call is a
//     forward). A non-null dZ is OVERWRITTEN with g·∂L/∂Z: g is the upstream scalar (the loss weight, e.g.
//     DFCN's γ = 0.1 or CaEGCN's 0.01, times the incoming gradient). dZ must not overlap any input.
//   * n == 0 returns 0 and writes nothing. d ≥ 1 is required.
//   * BCE follows PyTorch's float32 semantics (F.binary_cross_entropy, as the official code calls it):
//     a = 1/(1 + exp(−s)) evaluated in float (a true division; exp within 0.7 ulp, so a matches torch.sigmoid's
//     except where 1 + exp(−s) is within an ulp of a rounding boundary);
//     ℓ(a, t) = −[t·max(ln a, −100) + (1−t)·max(ln(1−a), −100)] with 1−a evaluated in float, so a pair whose
//     a rounds to exactly 1 (s ≳ 16.64) adds 100·(1−t) to the loss; the gradient is
//     ∂ℓ/∂s = (a − t)·κ with κ = a(1−a)/max(a(1−a), 1e−12), i.e. 0 where a == 1. T values are expected in [0, 1].
//   * values == nullptr means all stored entries are 1.
//
// ERRORS: std::invalid_argument for n < 0, d < 1, null Z (with n > 0), a CSR that is not n×n, null CSR arrays
//   when needed, an indptr that is not non-decreasing from 0, or a column id outside [0, n) (checked while
//   bucketing the nonzeros; the order within a row is not checked). Nothing is written before the checks pass.
//
// DETERMINISM: bit-identical results for any thread count (dgc::setNumThreads). The blocking depends only on n,
//   every output row and every loss partial is produced in an order fixed by n. Different kernel sets
//   (AVX-512, AVX2, portable) agree to rounding only.
//
// MEMORY: O(n·d + nnz), nothing O(n²). Per call: a double gradient accumulator (8·n·d bytes) per embedding
//   whose gradient is requested, every 128-row block of each Z transposed (4·n·d bytes, n rounded up to 128),
//   the nonzeros bucketed by tile (8 bytes each), one counter per 128-row block. Per thread, kept between calls: two
//   128×128 float tiles per embedding and two 128×d product outputs (~0.3 MiB for d = 20).
//   At n = 50,000, d1 = d2 = 20, nnz ≈ 1M, both gradients: ≈ 31 MiB (an N×N float matrix would be 9.3 GiB).
//
// SPEED: ~3·N²·d flops per embedding plus N²/2 sigmoids (and logs for BCE); at d = 20 on two Zen 4 cores,
//   N = 10,000: 0.05 s (MSE, one embedding), 0.10 s (two), 0.08 s (BCE) forward+backward; N = 50,000: 1.4 s,
//   2.8 s, 2.0 s. Table in recon.cc, benchmark in bench/recon/recon_bench.cc.
//
// NaN inputs give NaN losses and gradients (no error is raised).
#pragma once
#include <cstdint>

namespace dgc {
namespace cpu {

// A borrowed CSR matrix (no ownership). nnz = indptr[rows].
struct CsrView {
  int64_t rows = 0, cols = 0;
  const int32_t* indptr = nullptr;   // rows + 1 entries, indptr[0] == 0
  const int32_t* indices = nullptr;  // nnz column ids
  const float* values = nullptr;     // nnz values, or nullptr for all ones
};

// DFCN's adjacency-reconstruction loss L_a (the official code's form, train.py). Two embeddings when
// Z2 != nullptr (d2 ≥ 1), one when Z2 == nullptr (d2 and dZ2 are then ignored). With R = σ1 + σ2 − A
// (σ2 ≡ 0 for one embedding):
//   dZ1 = g·(G1 + G1ᵀ) Z1,  G1 = (2/N²) R ⊙ σ1 ⊙ (1 − σ1)      (likewise dZ2 with σ2)
double gramSigmoidMseLoss(int64_t n, const float* Z1, int64_t d1, const float* Z2, int64_t d2, CsrView A, float g,
                          float* dZ1, float* dZ2);

// CaEGCN's graph loss as the official code computes it (CaEGCN.py; the paper's Eq. 15 is a Frobenius norm):
// mean over n² of PyTorch BCE(σ(z_i·z_j), T_ij).
//   dZ = g·(G + Gᵀ) Z,  G_ij = (a_ij − T_ij)·κ_ij / N²
double gramSigmoidBceLoss(int64_t n, const float* Z, int64_t d, CsrView T, float g, float* dZ);

namespace recon_detail {
// For tests and benchmarks: the kernel set in use ("avx512", "avx2" or "portable"), and a way to force one
// (returns false, changing nothing, when this CPU cannot run it). Not to be called while a kernel runs.
// The default is the fastest the CPU supports, or DGCLUST_RECON_KERNEL=avx512|avx2|portable.
const char* activeKernelSetName();
bool forceKernelSet(const char* name);
// Rows per block of the tiling (tiles are kBlockRows × kBlockRows), exposed for tests of block boundaries.
constexpr int64_t kBlockRows = 128;
}  // namespace recon_detail

}  // namespace cpu
}  // namespace dgc
