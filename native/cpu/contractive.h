// The contractive penalty of DCCF (Cai et al., Pattern Recognition 2022, Eq. 6) through a whole ReLU MLP encoder:
// the exact squared Frobenius norm of the Jacobian of the embedding with respect to the input, summed over a
// batch, with its gradients with respect to every weight matrix.
//
// Encoder (PyTorch layout, W_l stored n_l × n_{l−1}, n_0 = d the input width, n_L = d′ the embedding width):
//   u_l = W_l h_{l−1} + b_l,  h_l = relu(u_l) for l < L,  z = u_L  (linear embedding).
// Jacobian of sample s (d′ × d), Φ_l = diag(1[h_l(s) > 0]):
//   J_s = W_L Φ_{L−1} W_{L−1} ⋯ Φ_1 W_1,        loss = scale · Σ_s ‖J_s‖²_F        (DCCF: scale = λ/m).
// ReLU masks have zero derivative almost everywhere, so J is multilinear in the weights and the biases get no
// gradient; the masks come from the ordinary forward pass of the same batch (h_l > 0 ⟺ u_l > 0).
//
// Computation ("transposed encoder" on R = m·d′ rows, one per (sample, embedding unit); never a d×d per-sample
// matrix, never the one-layer CAE formula, never a single vector-Jacobian product):
//   Ã_{L−1} = broadcast(W_L) ⊙ mask_{L−1}                        R × n_{L−1}
//   A_l = Ã_l · W_l,  Ã_{l−1} = A_l ⊙ mask_{l−1}   (l = L−1 … 2)  R × n_{l−1}
//   'direct' form: J = Ã_1 · W_1 (R × d), loss = scale · Σ J²
//   'gram' form:   ‖J_s‖² = trace(J_s J_sᵀ) = Σ_k Ã_1[s,k] · (W_1 W_1ᵀ) · Ã_1[s,k]ᵀ, so with G = W_1 W_1ᵀ (n_1 × n_1,
//                  once per call) Y = Ã_1 · G (R × n_1) and loss = scale · Σ Ã_1 ⊙ Y. Cheaper when n_1 < d
//                  (R·n_1² instead of R·n_1·d multiply-adds): MNIST d = 784 > n_1 = 500. Exact either way.
// Backward (P = loss):
//   direct: dA_1 = 2·scale·J,  dW_1 = Ã_1ᵀ dA_1,  dÃ_1 = dA_1 W_1ᵀ
//   gram:   dG = scale·Ã_1ᵀ Ã_1,  dW_1 = (dG + dGᵀ) W_1 = 2·dG·W_1,  dÃ_1 = 2·scale·Y
//   for l = 2 … L−1:  dA_l = dÃ_{l−1} ⊙ mask_{l−1},  dW_l = Ã_lᵀ dA_l,  dÃ_l = dA_l W_lᵀ
//   dA_L = dÃ_{L−1} ⊙ mask_{L−1},  dW_L[k, :] = Σ_s dA_L[(s, k), :]   (W_L is shared by every sample)
// L = 1 (a linear encoder): J_s = W_1 for every sample, loss = scale·m·‖W_1‖², dW_1 = 2·scale·m·W_1.
// FLOPs (multiply-add = 2): forward 2·R·Σ_{l=2..L−1} n_l n_{l−1} + 2·R·n_1·min(d, n_1) (+ 2·n_1²·d for G);
// backward twice the chain part plus the first layer's two products.
// Memory: R·(n_1 + … + n_{L−1}) floats for the saved Ã_l, plus R·max(d, n_1) and R·max n_l of scratch.
// Deterministic for any thread count (the GEMMs never split k; sums are fixed-chunk double sums).
#pragma once
#include <cstdint>

namespace dgc {
namespace cpu {

enum class JacobianForm { Auto = 0, Direct = 1, Gram = 2 };

// widths: n_0 … n_L (L + 1 entries). W[l] (l = 0 … L−1) is the weight of layer l+1, n_{l+1} × n_l. H[l]
// (l = 0 … L−2) is the m × n_{l+1} activation (or pre-activation) of hidden layer l+1: the mask is H > 0.
// dW[l] (same shapes as W[l]) are overwritten when dW is non-null. Returns the loss.
double contractivePenalty(int64_t m, int64_t L, const int64_t* widths, const float* const* W, const float* const* H,
                          double scale, JacobianForm form, float* const* dW);

// The form 'Auto' resolves to for these widths: Gram when n_1 < d (fewer multiply-adds), else Direct.
JacobianForm resolveJacobianForm(int64_t L, const int64_t* widths, JacobianForm form);

}  // namespace cpu
}  // namespace dgc
