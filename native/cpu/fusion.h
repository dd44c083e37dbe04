// Attention-weighted fusion (AGCN, Peng et al. ACM MM 2021, eq. 2–3 and 6–7): the attention MLP over the
// concatenated features, its softmax-ℓ2 normalisation and the weighted fusion, forward and backward in row passes
// over the blocks as they lie in memory — the concatenated MLP input [x_0 ‖ … ‖ x_{m−1}] is never formed.
//
// Forward, per row i (x_k[i] ∈ R^{d_k}, W ∈ R^{m×D}, D = Σ d_k, columns of W in block order, b ∈ R^m):
//   t_j   = b_j + Σ_k x_k[i] · W[j, off_k : off_k + d_k]          (the Linear layer, m outputs)
//   ℓ_j   = t_j > 0 ? t_j : slope·t_j                              (LeakyReLU)
//   s     = softmax(ℓ),  u = s / max(‖s‖₂, 1e-12)                  (F.normalize(p = 2, eps = 1e-12))
//   sum:    out[i] = Σ_k u_k x_k[i]                                 (equal widths; AGCN-H, eq. 3)
//   concat: out[i] = [u_0 x_0[i] ‖ … ‖ u_{m−1} x_{m−1}[i]]           (AGCN-S, eq. 7)
// t and u (n×m) are kept for the backward.
//
// Backward, given G = ∂L/∂out (checked against finite differences in test/fusion.test.ts):
//   G_u_k = G[i]_k · x_k[i]                  (G[i]_k = G[i] in 'sum', G's block k in 'concat')
//   G_s   = (G_u − u (G_u · u)) / ‖s‖        (ℓ2 normalisation)
//   G_ℓ   = s ⊙ (G_s − (G_s · s))            (softmax)
//   G_t   = G_ℓ ⊙ (t > 0 ? 1 : slope)        (LeakyReLU; PyTorch's rule at t = 0)
//   dx_k[i] = u_k G[i]_k + Σ_j G_t,j W[j, off_k : off_k + d_k]
//   dW = G_tᵀ [x_0 ‖ … ‖ x_{m−1}],  db = Σ_i G_t[i]
// The row passes are parallel over rows (each row written by one chunk); dW is parallel over column strips with the
// rows summed in order, db a serial double sum: the results do not depend on the thread count.
#pragma once
#include <cstdint>

namespace dgc {
namespace cpu {

// At most this many blocks (= attention weights per row). AGCN uses 2 (AGCN-H) and 5 (AGCN-S).
constexpr int kMaxFusionBlocks = 8;

struct FusionBlocks {
  int m = 0;                                // number of blocks
  int64_t n = 0;                            // rows
  const float* x[kMaxFusionBlocks] = {};    // block k: n × d[k], row-major
  int64_t d[kMaxFusionBlocks] = {};
  int64_t off[kMaxFusionBlocks] = {};       // column offset of block k in W (and in a 'concat' output)
  int64_t total = 0;                        // D = Σ d[k]
};

// out: n × d[0] ('sum') or n × D ('concat'); u, t: n × m.
void attentionFusionForward(const FusionBlocks& xs, const float* W, const float* b, float slope, bool concat,
                            float* out, float* u, float* t);

// dx[k] (n × d[k]; null: not wanted), dW (m × D), db (m); gtScratch: n × m floats of scratch.
void attentionFusionBackward(const FusionBlocks& xs, const float* W, const float* u, const float* t, float slope,
                             bool concat, const float* dout, float* const* dx, float* dW, float* db, float* gtScratch);

}  // namespace cpu
}  // namespace dgc
