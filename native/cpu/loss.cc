// CPU losses: mean squared error and binary cross-entropy with logits, with their gradients.
#include <cmath>

#include "cpu_backend.h"

namespace dgc {
namespace cpu {

// L = (1/n) Σ (a − b)²
void CpuBackend::mse(const Tensor& a, const Tensor& b, Tensor& out) {
  const float* pa = a.f32();
  const float* pb = b.f32();
  const double s = deterministicSum(a.numel(), [&](int64_t i) {
    const double d = double(pa[i]) - pb[i];
    return d * d;
  });
  out.f32()[0] = static_cast<float>(s / static_cast<double>(a.numel()));
}

// dL/da = g · 2(a − b)/n
void CpuBackend::mseGrad(const Tensor& a, const Tensor& b, const Tensor& g, Tensor& da) {
  const float scale = static_cast<float>(2.0 * g.f32()[0] / static_cast<double>(a.numel()));
  const float* pa = a.f32();
  const float* pb = b.f32();
  float* po = da.f32();
  forRange(a.numel(), 1, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) po[i] = scale * (pa[i] - pb[i]);
  });
}

// L = (1/n) Σ [max(x, 0) − x·t + log(1 + exp(−|x|))], the overflow-free form of
// −[t log σ(x) + (1 − t) log(1 − σ(x))].
void CpuBackend::bceWithLogits(const Tensor& logits, const Tensor& target, Tensor& out) {
  const float* px = logits.f32();
  const float* pt = target.f32();
  const double s = deterministicSum(logits.numel(), [&](int64_t i) {
    const double x = px[i];
    return std::max(x, 0.0) - x * pt[i] + std::log1p(std::exp(-std::fabs(x)));
  });
  out.f32()[0] = static_cast<float>(s / static_cast<double>(logits.numel()));
}

// dL/dx = g · (σ(x) − t)/n
void CpuBackend::bceWithLogitsGrad(const Tensor& logits, const Tensor& target, const Tensor& g, Tensor& dl) {
  const float scale = static_cast<float>(g.f32()[0] / static_cast<double>(logits.numel()));
  const float* px = logits.f32();
  const float* pt = target.f32();
  float* po = dl.f32();
  forRange(logits.numel(), 20, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      const float x = px[i];
      const float sig = x >= 0 ? 1.0f / (1.0f + std::exp(-x)) : std::exp(x) / (1.0f + std::exp(x));
      po[i] = scale * (sig - pt[i]);
    }
  });
}

}  // namespace cpu
}  // namespace dgc
