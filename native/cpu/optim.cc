// CPU optimizer steps, fused: one pass over param, grad and state.
#include <cmath>

#include "cpu_backend.h"

namespace dgc {
namespace cpu {

// torch.optim.Adam (L2 added to the gradient) or AdamW (decoupled decay), in torch's arithmetic order:
//   g ← g + wd·p (Adam) | p ← p·(1 − lr·wd) (AdamW)
//   m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²
//   p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
void CpuBackend::adamStep(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamParams& p) {
  const double bc1 = 1.0 - std::pow(double(p.beta1), double(p.step));
  const double bc2 = 1.0 - std::pow(double(p.beta2), double(p.step));
  const float stepSize = static_cast<float>(p.lr / bc1);
  const float invSqrtBc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  const float b1 = p.beta1, b2 = p.beta2, eps = p.eps, wd = p.weightDecay, lr = p.lr;
  const bool decoupled = p.decoupled;
  float* pp = param.f32();
  const float* pg = grad.f32();
  float* pm = m.f32();
  float* pv = v.f32();
  forRange(param.numel(), 10, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      float g = pg[i];
      if (decoupled) {
        pp[i] *= 1.0f - lr * wd;
      } else {
        g += wd * pp[i];
      }
      pm[i] = b1 * pm[i] + (1.0f - b1) * g;
      pv[i] = b2 * pv[i] + (1.0f - b2) * g * g;
      pp[i] -= stepSize * pm[i] / (std::sqrt(pv[i]) * invSqrtBc2 + eps);
    }
  });
}

// torch.optim.SGD: g ← g + wd·p; buf ← momentum·buf + g (buf starts at 0, so its first value is g); p ← p − lr·buf.
void CpuBackend::sgdStep(Tensor& param, const Tensor& grad, Tensor* velocity, float lr, float momentum,
                         float weightDecay) {
  float* pp = param.f32();
  const float* pg = grad.f32();
  float* pv = velocity ? velocity->f32() : nullptr;
  forRange(param.numel(), 4, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      float g = pg[i] + weightDecay * pp[i];
      if (pv) {
        pv[i] = momentum * pv[i] + g;
        g = pv[i];
      }
      pp[i] -= lr * g;
    }
  });
}

}  // namespace cpu
}  // namespace dgc
