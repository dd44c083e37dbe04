// Clustering-head kernels for the CPU backend: Student-t soft assignment, the DEC target distribution, KL and
// focal losses fused with their gradients, and CDC's pairwise Student-t affinities.
//
// Formulas: the Student-t soft assignment and target distribution of DEC (Xie et al. 2016, Eqs. 1 and 3) and
// KL(P‖Q) against a fixed P (its Eq. 2), as DFCN, SDCN, AGCN and CaEGCN use them with ν = 1 (scale = λ/N); DCCF's
// focal loss with hard pseudo-labels (Cai et al. 2022, Eqs. 11–12); CDC's pairwise Student-t kernel, sharpening
// and row KL (Trinh & Pham 2025) with their gradients. docs/MODELS.md gives each model's use of them.
//
// Conventions
//   * Row-major float32, raw pointers. Z is n×d (one embedding per row), μ is k×d (one centre per row), Q and P
//     are n×k. Nothing is validated here (the op front checks shapes and ν > 0, k ≥ 1, finite inputs); n = 0 is
//     allowed (outputs untouched except dMu, which is zeroed; losses return 0).
//   * Every output array is OVERWRITTEN (never accumulated). Gradient outputs may be null to skip them.
//   * Scalars (ν, scale, γ) are double; losses are returned as double.
//   * "scale" is the full multiplier of the summed loss: PyTorch's reduction='batchmean' with weight w is
//     scale = w / (rows in the batch). The gradients returned are the gradients of the returned (scaled) value,
//     so an autograd layer with upstream scalar g passes scale = g·w/rows (or rescales the outputs by g).
//
// Student-t soft assignment (DEC Eq. 1; DCCF Eq. 9, CDC Eq. 8, CaEGCN Eq. 17, AGCN Eq. 10)
//   D_ij = ‖z_i − μ_j‖²,  u_ij = (1 + D_ij/ν)^(−(ν+1)/2),  q_ij = u_ij / Σ_l u_il
//   Distances are direct differences, (z_ic − μ_jc) summed in double: k is small, so this costs the same as the
//   ‖z‖² + ‖μ‖² − 2zμ form and never cancels catastrophically (points far from the origin but close to a centre
//   keep full relative accuracy; there is nothing to clamp). Every float32 input gives a finite D in double
//   (‖z − μ‖² ≤ d·(2·FLT_MAX)² ≪ DBL_MAX).
//   Underflow: q is evaluated relative to the row's nearest centre, q_ij = r_ij^e / Σ_l r_il^e with
//   r_ij = (ν + D_min)/(ν + D_ij) ∈ (0, 1] and e = (ν+1)/2 (the factor u(D_min) cancels exactly). The nearest
//   centre has r = 1, so the denominator is in [1, k]: far-away points never give 0/0 or Inf, the nearest
//   centre gets q ≈ 1 and the others may underflow to exactly 0 in the float output. Losses that need log q use
//   log q_ij = e·(log(ν + D_min) − log(ν + D_ij)) − log Σ_l r_il^e where q is tiny, never log of the float q,
//   so they stay finite too. For ν = 1 the forward needs no transcendental function at all.
//
// Determinism
//   Per-row outputs are computed by exactly one chunk. Reductions over rows (column sums f_j, dMu, losses) use
//   chunks whose size depends only on the row count (≤ 256 chunks of ≥ 64 rows), one double partial per chunk,
//   combined in chunk order. Results are therefore bit-identical for any thread count (dgc::setNumThreads).
#pragma once
#include <cstdint>
#include "pair_kernels.h"

namespace dgc {
namespace cpu {

// ---------------------------------------------------------------------------------------------------------------
// Student-t soft assignment (DEC Eq. 1) and its backward for any upstream gradient (the chain rule through it).

// Q (n×k, overwritten) = Student-t soft assignment of the rows of Z (n×d) to the centres μ (k×d), ν > 0.
// Rows of Q sum to 1 (up to float rounding). K = 1 gives Q ≡ 1.
void studentT(int64_t n, int64_t k, int64_t d, const float* Z, const float* mu, double nu, float* Q);

// Backward of studentT for an arbitrary upstream dQ = ∂L/∂Q (n×k), given the forward output Q:
//   h_ij = dQ_ij·q_ij,  ∂logU_ij = h_ij − q_ij Σ_l h_il,  ∂L/∂D_ij = −((ν+1)/(2ν))·∂logU_ij/(1 + D_ij/ν),
//   dZ_i = 2 Σ_j ∂L/∂D_ij (z_i − μ_j)   (n×d, overwritten, may be null)
//   dMu_j = −2 Σ_i ∂L/∂D_ij (z_i − μ_j) (k×d, overwritten, may be null; deterministic reduction over rows).
// D is recomputed from Z and μ. An infinite dQ where q = 0 (e.g. −p/q of a log loss after q underflowed) gives
// NaN: for log-losses use the fused kernels below, which work in log space.
void studentTBackward(int64_t n, int64_t k, int64_t d, const float* Z, const float* mu, double nu, const float* Q,
                      const float* dQ, float* dZ, float* dMu);

// ---------------------------------------------------------------------------------------------------------------
// Target distribution (DEC Eq. 3; DCCF Eq. 10). Also CDC's Sharpen (the same formula on a b×b pair-kernel matrix,
// CDC Eqs. 10–11) with n = k = B.

// P (n×k, overwritten): p_ij = (q_ij²/f_j) / Σ_l (q_il²/f_l), f_j = Σ_i q_ij (column sums over all n rows,
// deterministic). Computed in double from the float Q; rows of P sum to 1. Expects q ≥ 0. Guards (no NaN):
// a column with f_j = 0 contributes 0 to every row; a row whose terms are all 0 becomes all 0 (studentT never
// produces such a row: its largest entry is ≥ 1/k).
void targetDistribution(int64_t n, int64_t k, const float* Q, float* P);

// Backward of targetDistribution (the Sharpen backward), for CDC, whose official code differentiates the sharpened
// matrix too.
// With W_ij = q_ij²/f_j, T_i = Σ_l W_il, S = P:
//   GW_ij = (dP_ij − Σ_l dP_il S_il)/T_i,   dQ_ij = 2 q_ij GW_ij/f_j − (1/f_j) Σ_r GW_rj W_rj
// dQ (n×k) overwritten. Guarded like the forward: columns with f_j = 0 and rows with T_i = 0 get 0.
void targetDistributionBackward(int64_t n, int64_t k, const float* Q, const float* dP, float* dQ);

// labels[i] = argmax_j P_ij (the first index on ties). DCCF's hard pseudo-labels c_i (y_true of Eq. 11); also usable
// for predictions (argmax Q) and label-change fractions.
void pseudoLabels(int64_t n, int64_t k, const float* P, int32_t* labels);

// ---------------------------------------------------------------------------------------------------------------
// Fused Student-t losses against a fixed target P (P is a constant: no gradient to it).

// KL(P‖Q) (DEC Eq. 2, as DFCN, SDCN, AGCN (Eq. 12), CaEGCN (Eq. 19) and DCCF (l_cl, Eq. 8) use it):
//   loss = scale · Σ_ij p_ij (log p_ij − log q_ij),  0·log 0 = 0,  Q = studentT(Z, μ, ν),  P n×k constant.
//   DFCN/AGCN/SDCN/CaEGCN batchmean with weight w: scale = w/n.  DCCF per mini-batch of m rows: scale = β/m
//   (IDEC-pytorch's F.kl_div with the old element-mean reduction: scale = β/(m·k)).
// Gradient (exact for any P ≥ 0; with s_i = Σ_j p_ij = 1 it is DEC's Eqs. 4–5):
//   A_ij = scale·((ν+1)/ν)·(p_ij − q_ij s_i)/(1 + D_ij/ν),
//   dZ_i = Σ_j A_ij (z_i − μ_j) (n×d),  dMu_j = −Σ_i A_ij (z_i − μ_j) (k×d).
// Outputs, all overwritten and each may be null: Q (n×k, bit-identical to studentT's), dZ, dMu.
// Returns the loss. log q is taken in log space (see above), so the loss and gradients stay finite when q
// underflows (a p > 0 against an underflowed q gives a large but finite loss).
double klStudentT(int64_t n, int64_t k, int64_t d, const float* Z, const float* mu, double nu, const float* P,
                  double scale, float* Q, float* dZ, float* dMu);

// DFCN's triplet KL in the official code's geometric-mean form (train.py; the paper averages the three q inside
// the log): L_KL = (KL(P‖Q) + KL(P‖Q1) + KL(P‖Q2))/3,
//   loss = (scale/3)·Σ_t Σ_ij p_ij (log p_ij − log q^t_ij),  q^t = studentT(Z_t, μ, ν), t = 1, 2, 3.
// DFCN: Z1 = Z̃, Z2 = Z_AE, Z3 = Z_IGAE, P = target(Q of Z̃), scale = λ/N = 10/N.
// Outputs (overwritten, each may be null): Q1..Q3 (n×k), dZ1..dZ3 (n×d) and dMu (k×d) = the sum of the three
// centre gradients. Composable equivalent, bit-identical: three klStudentT calls with scale/3 into three
// separate k×d buffers m1, m2, m3, then dMu = (m1 + m2) + m3 elementwise in float; the loss is
// (l1 + l2) + l3 in double.
double klStudentTTriplet(int64_t n, int64_t k, int64_t d, const float* Z1, const float* Z2, const float* Z3,
                         const float* mu, double nu, const float* P, double scale, float* Q1, float* Q2, float* Q3,
                         float* dZ1, float* dZ2, float* dZ3, float* dMu);

// The per-step clustering loss of DEC, SDCN, AGCN, CaEGCN and DFCN in one call: the target distribution of the
// first embedding's own soft assignment, then KL(P‖Q) against it (P detached, as those codes do):
//   Q1 = studentT(Z1, μ, ν),  f_j = Σ_i q1_ij,  p_ij = (q1_ij²/f_j) / Σ_l (q1_il²/f_l),
//   loss = (scale/m)·Σ_t Σ_ij p_ij log(p_ij/q^t_ij),  q^t = studentT(Z_t, μ, ν), t = 1..m, m = 1 or 3.
// m = 1: SDCN/DEC's KL(P‖Q), scale = w/n. m = 3 with Z = (Z̃, Z_AE, Z_IGAE): DFCN's triplet (scale = λ/n).
// P is computed from Q1 in double before rounding (targetDistribution(Q1) rounds Q1 to float first, so the two
// can differ in the last bit of P). Two passes over Z1 (Q1 and the column sums; P and the loss) on lane-blocked
// SIMD with a vectorized log (fastlog.h), one more per embedding when gradients are wanted.
// Outputs: Q1 and P (n×k, required, overwritten); dZs[t] (n×d) and dMu (k×d): the gradients of the loss with P
// held constant (klStudentT's / klStudentTTriplet's with the float P written, bit-identical to them); dZs and
// any of its entries may be null, as may dMu. Deterministic for any thread count.
double klStudentTSelf(int64_t n, int64_t k, int64_t d, int64_t m, const float* const* Zs, const float* mu, double nu,
                      double scale, float* Q1, float* P, float* const* dZs, float* dMu);

// DCCF focal loss with hard pseudo-labels (paper Eqs. 11–12, focal_target = hard_argmax_T, no α factor):
//   c_i = argmax_j p_ij (first on ties),  s_i = q_{i,c_i},  p̂_i = clamp(s_i, 1e-7, 1),
//   loss = scale · Σ_i −(1 − p̂_i)^γ · log p̂_i      (DCCF: γ = 2, scale = β/m for a mini-batch of m rows).
// Gradient (of Eq. 12 through the Student-t of Eq. 9, general ν): where the clamp is inactive (1e-7 ≤ s_i ≤ 1),
//   g_i = ∂loss/∂s_i = scale·[γ(1−s_i)^{γ−1} log s_i − (1−s_i)^γ / s_i],  ∂logU_ij = g_i s_i (1[j=c_i] − q_ij),
// then the Student-t chain rule as in studentTBackward; rows where the clamp is active get no gradient (the
// clamp's derivative is 0 there, as in PyTorch/TF). γ ≥ 0; the (1−s)^{γ−1} factor is taken as 0 when s = 1.
// P is only used through its row argmax (pass the gathered rows of T). Outputs as in klStudentT.
double focalStudentT(int64_t n, int64_t k, int64_t d, const float* Z, const float* mu, double nu, const float* P,
                     double gamma, double scale, float* Q, float* dZ, float* dMu);

// DCCF's clustering objective L_c = l_cl + l_fl (paper Eq. 13) in one pass, the upstream gradients of both terms
// summed before a single Student-t backward: loss = klScale·Σ p log(p/q) + focalScale·Σ_i −(1−p̂_i)^γ log p̂_i, i.e.
// klStudentT(klScale) + focalStudentT(focalScale) with one Student-t evaluation and one backward. DCCF with β
// and batch m: klScale = focalScale = β/m, γ = 2. If klLoss / focalLoss are non-null they receive the two
// scaled parts. A zero scale skips that term entirely.
double klFocalStudentT(int64_t n, int64_t k, int64_t d, const float* Z, const float* mu, double nu, const float* P,
                       double klScale, double focalScale, double gamma, float* Q, float* dZ, float* dMu,
                       double* klLoss, double* focalLoss);

// ---------------------------------------------------------------------------------------------------------------
// CDC pairwise kernels over a mini-batch (paper Eqs. 5, 6, 10 and 11 in the official code's forms, with their
// gradients). Dense O(b²) memory, O(b²·w) time for a batch Y of b rows of width w; meant for b ≤ 1024 (CDC uses
// b = 64). Distances are direct differences in double, as for studentT.

// PairKernel (code form, rows normalised with the self-pair kept), C is b×b (overwritten):
//   D_ij = ‖y_i − y_j‖² (D_ii = 0),  K_ij = (1 + D_ij/ν)^(−(ν+1)/2) (K_ii = 1),  R_i = Σ_j K_ij (≥ 1),
//   C_ij = clip(K_ij/R_i, 1e-10, 1).
// R_i ≥ 1 always, so far-apart points only make K tiny: no NaN for finite inputs.
void pairAffinity(int64_t b, int64_t w, const float* Y, double nu, float* C);

// Backward of pairAffinity for an upstream dC (b×b); dY (b×w) overwritten. The clip passes gradient where
// 1e-10 ≤ K_ij/R_i ≤ 1 and blocks it elsewhere. With G' = dC masked by the clip and C̃ = K/R unclipped:
//   GK_ij = (G'_ij − Σ_l G'_il C̃_il)/R_i,  H_ij = −((ν+1)/(2ν))·K_ij/(1 + D_ij/ν)·GK_ij,
//   dY_i = 2 Σ_j (H_ij + H_ji)(y_i − y_j).
// Recomputes D and K from Y.
void pairAffinityBackward(int64_t b, int64_t w, const float* Y, double nu, const float* dC, float* dY);

// The pairwise losses' distances and their last backward pass (pairAffinityBackward, CDC's cdcPairLoss):
// pairSquaredDistances and pairDistanceGrad, in pair_kernels.h.

// CDC's row KL with Keras clipping (the official code's KLDivergence), A and B are rows×cols:
//   Ā = clip(A, 1e-7, 1), B̄ = clip(B, 1e-7, 1),  loss = scale·Σ_ij Ā_ij log(Ā_ij/B̄_ij)  (Keras mean: scale = w/rows)
//   dA = scale·(log Ā − log B̄ + 1)·[1e-7 ≤ A ≤ 1],  dB = −scale·(Ā/B̄)·[1e-7 ≤ B ≤ 1]   (overwritten; may be null)
// Also CDC's clustering term L_c = Keras 'kld'(P, Q) with A = P, B = Q (then studentTBackward with dQ = dB).
double rowKlClipped(int64_t rows, int64_t cols, const float* A, const float* B, double scale, float* dA, float* dB);

// CDC correlation loss, one call per term (paper Eq. 6 in the official code's form: C_Z sharpened, row kernels):
//   loss = RowKL( Sharpen(PairKernel(Ya)) ‖ PairKernel(Yb) ) with RowKL scaled by `scale` (weight/b for Keras).
//   L_cr(Z, X)  : Ya = Z (b×10), Yb = X (b×D, constant: pass dYb = null)
//   L_cr(Z, X') : Ya = Z, Yb = X' (reconstruction)
//   L_a         : Ya = Q (b×K soft assignments), Yb = Z
// Sharpen = targetDistribution(b, b, ·). Gradients flow through both arguments, including through the sharpened
// "target" (no stop-gradient, as in the reference code). dYa (b×wa), dYb (b×wb) overwritten, may be null.
// Exactly the composition pairAffinity → targetDistribution → rowKlClipped → targetDistributionBackward →
// pairAffinityBackward on float intermediates (bit-identical to calling those in turn), but distances are
// computed once per input. Scratch: about 6·b² floats + 3·b² doubles.
double cdcCorrelationLoss(int64_t b, int64_t wa, const float* Ya, int64_t wb, const float* Yb, double nu,
                          double scale, float* dYa, float* dYb);

}  // namespace cpu
}  // namespace dgc
