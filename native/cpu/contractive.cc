// DCCF's contractive penalty (Eq. 6) through a ReLU MLP encoder, forward and weight gradients. The formulas and
// the two exact forms ('direct', 'gram') are in contractive.h; this file runs them as a chain of packed GEMMs on
// R = m·d′ rows with the ReLU masks applied between them.
#include "contractive.h"

#include <algorithm>
#include <vector>

#include "../core/tensor.h"
#include "../core/thread_pool.h"
#include "cpu_backend.h"
#include "gemm.h"

namespace dgc {
namespace cpu {
namespace {

// Scratch from the CPU allocator (which caches freed blocks by size): a training step asks for the same sizes
// every batch, and fresh pages would cost a fault each.
Tensor scratch(int64_t rows, int64_t cols) { return Tensor::empty({rows, cols}, DType::F32, Device::CPU); }

// x[(s, k), j] *= 1[h[s, j] > 0] for the R = m·dz rows of x (R × n); h is m × n.
void applyMask(int64_t m, int64_t dz, int64_t n, const float* h, float* x) {
  forRange(m, dz * n, [&](int64_t b, int64_t e) {
    for (int64_t s = b; s < e; ++s) {
      const float* hs = h + s * n;
      for (int64_t k = 0; k < dz; ++k) {
        float* row = x + (s * dz + k) * n;
        for (int64_t j = 0; j < n; ++j) row[j] = hs[j] > 0.0f ? row[j] : 0.0f;
      }
    }
  });
}

// Ã[(s, k), j] = w[k, j] · 1[h[s, j] > 0]: the top of the chain (W_L is the same for every sample).
void broadcastMasked(int64_t m, int64_t dz, int64_t n, const float* w, const float* h, float* out) {
  forRange(m, dz * n, [&](int64_t b, int64_t e) {
    for (int64_t s = b; s < e; ++s) {
      const float* hs = h + s * n;
      for (int64_t k = 0; k < dz; ++k) {
        const float* wk = w + k * n;
        float* row = out + (s * dz + k) * n;
        for (int64_t j = 0; j < n; ++j) row[j] = hs[j] > 0.0f ? wk[j] : 0.0f;
      }
    }
  });
}

// out[k, j] = Σ_s x[(s, k), j], summed over s in order (each output element by one chunk: deterministic).
void sumOverSamples(int64_t m, int64_t dz, int64_t n, const float* x, float* out) {
  forRange(dz * n, m, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const int64_t k = c / n, j = c % n;
      double acc = 0.0;
      for (int64_t s = 0; s < m; ++s) acc += x[(s * dz + k) * n + j];
      out[c] = static_cast<float>(acc);
    }
  });
}

}  // namespace

JacobianForm resolveJacobianForm(int64_t L, const int64_t* widths, JacobianForm form) {
  if (form != JacobianForm::Auto) return form;
  return L >= 2 && widths[1] < widths[0] ? JacobianForm::Gram : JacobianForm::Direct;
}

double contractivePenalty(int64_t m, int64_t L, const int64_t* widths, const float* const* W, const float* const* H,
                          double scale, JacobianForm form, float* const* dW) {
  const int64_t d = widths[0], dz = widths[L];
  const bool grads = dW != nullptr;
  if (L == 1) {
    // A linear encoder: J_s = W_1 for every sample.
    const float* w = W[0];
    const double sq = deterministicSum(dz * d, [&](int64_t i) { return double(w[i]) * w[i]; });
    if (grads) {
      const float g = static_cast<float>(2.0 * scale * double(m));
      forRange(dz * d, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) dW[0][i] = g * w[i];
      });
    }
    return scale * double(m) * sq;
  }
  const int64_t R = m * dz;
  const JacobianForm f = resolveJacobianForm(L, widths, form);
  if (R == 0) {
    if (grads) {
      for (int64_t l = 0; l < L; ++l) std::fill(dW[l], dW[l] + widths[l + 1] * widths[l], 0.0f);
    }
    return 0.0;
  }

  // ---- forward: the saved Ã_l (index l−1 holds Ã_l, R × n_l) ----
  std::vector<Tensor> At(static_cast<size_t>(L - 1));
  At[L - 2] = scratch(R, widths[L - 1]);
  broadcastMasked(m, dz, widths[L - 1], W[L - 1], H[L - 2], At[L - 2].f32());
  for (int64_t l = L - 1; l >= 2; --l) {
    // A_l = Ã_l · W_l  (R × n_l)(n_l × n_{l−1}), then Ã_{l−1} = A_l ⊙ mask_{l−1}.
    const int64_t nl = widths[l], nprev = widths[l - 1];
    At[l - 2] = scratch(R, nprev);
    sgemm(false, false, R, nprev, nl, 1.0f, At[l - 1].f32(), nl, W[l - 1], nprev, 0.0f, At[l - 2].f32(), nprev);
    applyMask(m, dz, nprev, H[l - 2], At[l - 2].f32());
  }
  const int64_t n1 = widths[1];
  const float* A1 = At[0].f32();
  double loss;
  Tensor first;  // direct: J (R × d); gram: Y = Ã_1 G (R × n1)
  Tensor gram;   // gram: G = W_1 W_1ᵀ (n1 × n1)
  if (f == JacobianForm::Direct) {
    first = scratch(R, d);
    sgemm(false, false, R, d, n1, 1.0f, A1, n1, W[0], d, 0.0f, first.f32(), d);  // J = Ã_1 · W_1
    const float* J = first.f32();
    loss = scale * deterministicSum(R * d, [&](int64_t i) { return double(J[i]) * J[i]; });
  } else {
    gram = scratch(n1, n1);
    sgemm(false, true, n1, n1, d, 1.0f, W[0], d, W[0], d, 0.0f, gram.f32(), n1);  // G = W_1 W_1ᵀ
    first = scratch(R, n1);
    sgemm(false, false, R, n1, n1, 1.0f, A1, n1, gram.f32(), n1, 0.0f, first.f32(), n1);  // Y = Ã_1 G
    const float* Y = first.f32();
    loss = scale * deterministicSum(R * n1, [&](int64_t i) { return double(A1[i]) * Y[i]; });
  }
  if (!grads) return loss;

  // ---- backward ----
  Tensor dAt = scratch(R, n1);  // dÃ_1
  if (f == JacobianForm::Direct) {
    float* G = first.f32();
    const float g = static_cast<float>(2.0 * scale);
    forRange(R * d, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) G[i] *= g;  // dJ = 2·scale·J
    });
    sgemm(true, false, n1, d, R, 1.0f, A1, n1, G, d, 0.0f, dW[0], d);     // dW_1 = Ã_1ᵀ dJ
    sgemm(false, true, R, n1, d, 1.0f, G, d, W[0], d, 0.0f, dAt.f32(), n1);  // dÃ_1 = dJ W_1ᵀ
  } else {
    Tensor dG = scratch(n1, n1);
    sgemm(true, false, n1, n1, R, static_cast<float>(scale), A1, n1, A1, n1, 0.0f, dG.f32(), n1);  // scale·Ã_1ᵀÃ_1
    sgemm(false, false, n1, d, n1, 2.0f, dG.f32(), n1, W[0], d, 0.0f, dW[0], d);                  // 2·dG·W_1
    const float* Y = first.f32();
    float* out = dAt.f32();
    const float g = static_cast<float>(2.0 * scale);
    forRange(R * n1, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) out[i] = g * Y[i];  // dÃ_1 = 2·scale·Y
    });
  }
  first = Tensor();
  // dA_l = dÃ_{l−1} ⊙ mask_{l−1}; dW_l = Ã_lᵀ dA_l; dÃ_l = dA_l W_lᵀ.
  for (int64_t l = 2; l <= L - 1; ++l) {
    const int64_t nl = widths[l], nprev = widths[l - 1];
    applyMask(m, dz, nprev, H[l - 2], dAt.f32());  // now dA_l (R × n_{l−1})
    sgemm(true, false, nl, nprev, R, 1.0f, At[l - 1].f32(), nl, dAt.f32(), nprev, 0.0f, dW[l - 1], nprev);
    Tensor next = scratch(R, nl);
    sgemm(false, true, R, nl, nprev, 1.0f, dAt.f32(), nprev, W[l - 1], nprev, 0.0f, next.f32(), nl);
    dAt = next;
  }
  applyMask(m, dz, widths[L - 1], H[L - 2], dAt.f32());  // dA_L
  sumOverSamples(m, dz, widths[L - 1], dAt.f32(), dW[L - 1]);
  return loss;
}

}  // namespace cpu
}  // namespace dgc

// ---- the op table's entry (contractive.h has the formulas) --------------------------------------------------
namespace dgc {
namespace cpu {

void CpuBackend::contractivePenalty(const std::vector<Tensor>& weights, const std::vector<Tensor>& hidden, int64_t m,
                                    double scale, int form, Tensor& loss, const std::vector<Tensor*>& dweights) {
  const int64_t L = static_cast<int64_t>(weights.size());
  std::vector<int64_t> widths(static_cast<size_t>(L + 1));
  widths[0] = weights[0].dim(1);
  std::vector<const float*> w, h;
  std::vector<float*> dw;
  bool grads = false;
  for (int64_t l = 0; l < L; ++l) {
    widths[l + 1] = weights[l].dim(0);
    w.push_back(weights[l].f32());
    dw.push_back(dweights[l] ? dweights[l]->f32() : nullptr);
    grads = grads || dweights[l] != nullptr;
  }
  for (const Tensor& t : hidden) h.push_back(t.f32());
  loss.f32()[0] = static_cast<float>(cpu::contractivePenalty(m, L, widths.data(), w.data(), h.data(), scale,
                                                             static_cast<JacobianForm>(form),
                                                             grads ? dw.data() : nullptr));
}

}  // namespace cpu
}  // namespace dgc
