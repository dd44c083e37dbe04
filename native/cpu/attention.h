// Fused multi-head attention for the CPU backend (flash-attention style: no N×M matrix is ever stored).
//
//   for each head h:   out_h = softmax_rows(scale · Q_h K_hᵀ) V_h
//
// Users in the models:
//   * DFCN's self-correlation block (SAIF fusion steps ③–④): Z_G = softmax(Z_L Z_Lᵀ) Z_L is the special case
//     Q = K = V = Z_L, one head, scale 1 (selfCorrelationForward / selfCorrelationBackward below).
//   * CaEGCN's 8-head "cross-attention" fusion (paper Eqs. 5–11; the official code's SelfAttentionWide):
//     Q, K, V = Y·Wq, Y·Wk, Y·Wv, each N×8e with head-major column blocks of width e, scale 1/√e.
//
// LAYOUT (all row-major float32, raw pointers, no aliasing between inputs and outputs)
//   Q   n × (heads·dk)   head h uses columns [h·dk, (h+1)·dk)           (row i = query i)
//   K   m × (heads·dk)   same column blocks                             (row j = key j)
//   V   m × (heads·dv)   head h uses columns [h·dv, (h+1)·dv)
//   out n × (heads·dv)   same column blocks as V
//   lse n × heads        lse[i·heads + h] = log Σ_j exp(scale · q_i·k_j) for head h (natural log)
//   The *Strided variants take a row stride (in floats, ≥ the row width) per matrix, e.g. to read Q, K
//   and V as column blocks of one fused N×(3·heads·dk) projection without copying.
//
// SEMANTICS
//   * m == 0 (no keys): out = 0, lse = −inf, dQ = 0. n == 0: nothing to do in the forward; dK = dV = 0.
//   * Exact softmax with max subtraction (no overflow for any finite logits: ‖q‖·‖k‖ up to ~1e37 works).
//     Inputs with NaN/Inf give unspecified (non-finite) results.
//   * Backward overwrites dQ, dK, dV (no accumulation into them). It needs the forward's out and lse.
//   * Results are bit-identical for any thread count (dgc::setNumThreads); different SIMD kernel sets
//     (AVX-512, AVX2, portable) agree to rounding only.
//   * Extra memory: 2·n·heads floats for the backward's per-row statistics (lse·log2 e and D), plus one
//     tile workspace per running thread of O((dk + dv + tile)·block) floats (65 KiB for d = 20, 0.4 MiB
//     for dk = dv = 500). Nothing is O(n·m): at n = 50,000, d = 20 the forward allocates 127 KiB and the
//     backward 517 KiB in all (2 threads), where one dense n×n float matrix would be 9.3 GiB.
//
// Algorithm, blocking and the reasons for them are described at the top of attention.cc.
#pragma once
#include <cstdint>

namespace dgc { namespace cpu {

// out[n × heads·dv] and lse[n × heads] (see LAYOUT). scale may be any finite value.
void attentionForward(int64_t n, int64_t m, int64_t heads, int64_t dk, int64_t dv, float scale,
                      const float* Q, const float* K, const float* V, float* out, float* lse);

// Given out and lse from attentionForward and dOut = ∂L/∂out (n × heads·dv), writes
// dQ = ∂L/∂Q (n × heads·dk), dK = ∂L/∂K (m × heads·dk) and dV = ∂L/∂V (m × heads·dv) (softmax-attention backward):
//   P = softmax(scale·Q Kᵀ), D_i = Σ_c dOut_ic·out_ic, dS = P ∘ (dOut Vᵀ − D 1ᵀ),
//   dQ = scale·dS K,  dK = scale·dSᵀ Q,  dV = Pᵀ dOut          (per head)
void attentionBackward(int64_t n, int64_t m, int64_t heads, int64_t dk, int64_t dv, float scale,
                       const float* Q, const float* K, const float* V, const float* out, const float* lse,
                       const float* dOut, float* dQ, float* dK, float* dV);

// The same with explicit row strides (floats between consecutive rows) for every matrix; lse is always
// dense n × heads. ldX must be ≥ the row width of X (heads·dk or heads·dv).
void attentionForwardStrided(int64_t n, int64_t m, int64_t heads, int64_t dk, int64_t dv, float scale,
                             const float* Q, int64_t ldq, const float* K, int64_t ldk, const float* V,
                             int64_t ldv, float* out, int64_t ldo, float* lse);
void attentionBackwardStrided(int64_t n, int64_t m, int64_t heads, int64_t dk, int64_t dv, float scale,
                              const float* Q, int64_t ldq, const float* K, int64_t ldk, const float* V,
                              int64_t ldv, const float* out, int64_t ldo, const float* lse,
                              const float* dOut, int64_t lddo, float* dQ, int64_t lddq, float* dK,
                              int64_t lddk, float* dV, int64_t lddv);

// DFCN self-correlation (SAIF steps ③–④): out = softmax(Z Zᵀ) Z for Z n × d (no scaling),
// lse[n] = log Σ_j exp(z_i·z_j). Same as attentionForward(n, n, 1, d, d, 1, Z, Z, Z, out, lse).
void selfCorrelationForward(int64_t n, int64_t d, const float* Z, float* out, float* lse);

// Gradient of the above: dZ = ∂L/∂Z (n × d, overwritten) given dOut = ∂L/∂out. This is dQ + dK + dV of
// attentionBackward with Q = K = V = Z; with Ḡ = dOut, E = Z Zᵀ and S = softmax_rows(E):
//   dZ = Sᵀ Ḡ + (G_E + G_Eᵀ) Z,  G_E = S ⊙ (Ḡ Zᵀ − r 1ᵀ),  r_i = Σ_c Ḡ_ic out_ic
// (in DFCN the residual Z̃ = β Z_G + Z_L of SAIF step ⑤ adds "+ G" to Z_L's gradient; that is not part of this
// op). Computed in one fused pass that uses the symmetry of Z Zᵀ (see attention.cc), not by three separate
// gradients.
void selfCorrelationBackward(int64_t n, int64_t d, const float* Z, const float* out, const float* lse,
                             const float* dOut, float* dZ);

namespace attention_detail {
// For tests and benchmarks: the kernel set in use ("avx512", "avx2" or "portable"), and a way to force
// one (returns false, changing nothing, when this CPU cannot run it). Not to be called while a kernel runs.
// The default is the fastest the CPU supports, or DGCLUST_ATTENTION_KERNEL=avx512|avx2|portable.
const char* activeKernelSetName();
bool forceKernelSet(const char* name);
// The generic three-gradient path for self-correlation (attentionBackward + sums), for tests and benchmarks.
void selfCorrelationBackwardGeneric(int64_t n, int64_t d, const float* Z, const float* out, const float* lse,
                                    const float* dOut, float* dZ);
}  // namespace attention_detail

}}  // namespace dgc::cpu
