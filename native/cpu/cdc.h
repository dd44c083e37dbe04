// CDC (Trinh & Pham, "Learning discriminative representations for deep clustering") pairwise losses in every
// variant the model offers: the official code's form (row-normalised kernels with the self pair, Keras clips)
// and the paper's (one normalisation over all pairs k ≠ l, Eq. 5; KL over the pairs i ≠ j, Eqs. 6 and 11), each
// with or without the DEC sharpening of the first argument. Dense O(b²) memory and O(b²·w) time for a mini-batch
// of b rows (CDC: b = 64); everything is computed in double and rounded once at the end.
//
// The code form with sharpening is also cluster.h's cdcCorrelationLoss (float intermediates, bit-compatible
// with the composition of the separate ops); the tests check that the two agree.
#pragma once
#include <cstdint>

namespace dgc {
namespace cpu {

// loss = scale · KL( A ‖ B ),  A = Sharpen(C(Ya)) or C(Ya),  B = C(Yb),  Ya b×wa, Yb b×wb.
//
// Pair kernel, per pair:   D_ij = ‖y_i − y_j‖²,  K_ij = (1 + D_ij/ν)^(−(ν+1)/2).
//   row    (official code): R_i = Σ_j K_ij (self pair K_ii = 1 included),  C_ij = clip(K_ij/R_i, 1e-10, 1)
//   global (paper Eq. 5):    Z = Σ_{k≠l} K_kl,  C_ij = K_ij/Z for i ≠ j (the diagonal takes no part)
// Sharpen (DEC's target distribution applied to the b×b matrix, paper: "computed like P", Eq. 10):
//   f_j = Σ_i C_ij,  W_ij = C_ij²/f_j,
//   row:    S_ij = W_ij / Σ_l W_il                 (each row sums to 1, as the code)
//   global: S_ij = W_ij / Σ_{k≠l} W_kl (i ≠ j)    (renormalised over all pairs, so S is again one distribution)
// KL:
//   row:    scale · Σ_ij Ā_ij log(Ā_ij/B̄_ij), Ā = clip(A, 1e-7, 1), B̄ = clip(B, 1e-7, 1) (Keras KLDivergence;
//           the model passes scale = weight/b: Keras's mean of the per-row sums)
//   global: scale · Σ_{i≠j} A_ij log(A_ij/B_ij), no clip (a KL between two distributions over the pairs; the
//           model passes scale = weight)
// Gradients (the chain rule through the forms above, for both normalisations):
//   KL:      ∂/∂A = scale·(log Ā − log B̄ + 1)·[A unclipped],  ∂/∂B = −scale·Ā/B̄·[B unclipped]
//   Sharpen: GW_ij = (GS_ij − ⟨GS, S⟩_i)/T_i (row: ⟨·⟩ over row i, T_i = Σ_l W_il; global: over all pairs, T),
//            GC_kj = 2 C_kj GW_kj / f_j − (1/f_j) Σ_i GW_ij W_ij
//   Kernel:  GK_ij = (G'_ij − ⟨G', C̃⟩_i)/R_i  (row; G' = GC masked by the clip, C̃ = K/R unclipped)
//            GK_ij = (GC_ij − ⟨GC, C⟩)/Z      (global, i ≠ j)
//            H_ij = −((ν+1)/(2ν))·K_ij/(1 + D_ij/ν)·GK_ij,  dY_i = 2 Σ_j (H_ij + H_ji)(y_i − y_j)
// Gradients flow through both arguments, the sharpened one included (no stop-gradient, as the official code).
// dYa (b×wa) and dYb (b×wb) are overwritten; either may be null. Deterministic for any thread count.
double cdcPairLoss(int64_t b, int64_t wa, const float* Ya, int64_t wb, const float* Yb, double nu, double scale,
                   bool global, bool sharpen, float* dYa, float* dYb);

}  // namespace cpu
}  // namespace dgc
