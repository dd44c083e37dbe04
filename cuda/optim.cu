// Fused optimizer steps for the CUDA backend: one pass over param, grad and state, bit-identical to
// native/cpu/optim.cc. The per-step constants (bias corrections) are computed on the host with the CPU's code;
// the per-element arithmetic is spelled with __fmul_rn / __fadd_rn / __fsub_rn / __fdiv_rn / __fsqrt_rn so nvcc
// neither fuses it into FMAs nor reorders it (the CPU build has no FMA contraction), in the CPU's operation order.
#include <cmath>
#include <cstdint>

#include "common.cuh"
#include "cuda_backend.h"

namespace dgc {
namespace cuda {
namespace {

constexpr int kThreads = 256;

struct AdamConsts {
  float stepSize, invSqrtBc2, b1, b2, oneMinusB1, oneMinusB2, eps, wd, decay;  // decay = 1 − lr·wd (AdamW)
  bool decoupled;
};

// torch.optim.Adam / AdamW in torch's order:
//   g ← g + wd·p (Adam) | p ← p·(1 − lr·wd) (AdamW)
//   m ← β1 m + (1 − β1) g;  v ← β2 v + ((1 − β2) g) g
//   p ← p − (stepSize · m) / (√v · invSqrtBc2 + ε),  stepSize = lr / (1 − β1^t), invSqrtBc2 = 1/√(1 − β2^t)
__global__ void adamKernel(float* __restrict__ p, const float* __restrict__ grad, float* __restrict__ m,
                           float* __restrict__ v, int64_t n, AdamConsts c) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float g = grad[i];
    float pi = p[i];
    if (c.decoupled) {
      pi = __fmul_rn(pi, c.decay);
    } else {
      g = __fadd_rn(g, __fmul_rn(c.wd, pi));
    }
    const float mi = __fadd_rn(__fmul_rn(c.b1, m[i]), __fmul_rn(c.oneMinusB1, g));
    const float vi = __fadd_rn(__fmul_rn(c.b2, v[i]), __fmul_rn(__fmul_rn(c.oneMinusB2, g), g));
    m[i] = mi;
    v[i] = vi;
    const float denom = __fadd_rn(__fmul_rn(__fsqrt_rn(vi), c.invSqrtBc2), c.eps);
    p[i] = __fsub_rn(pi, __fdiv_rn(__fmul_rn(c.stepSize, mi), denom));
  }
}

// torch.optim.SGD: g ← g + wd·p; buf ← momentum·buf + g; p ← p − lr·buf (lr·g without momentum).
__global__ void sgdKernel(float* __restrict__ p, const float* __restrict__ grad, float* __restrict__ velocity,
                          int64_t n, float lr, float momentum, float wd) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float pi = p[i];
    float g = __fadd_rn(grad[i], __fmul_rn(wd, pi));
    if (velocity) {
      g = __fadd_rn(__fmul_rn(momentum, velocity[i]), g);
      velocity[i] = g;
    }
    p[i] = __fsub_rn(pi, __fmul_rn(lr, g));
  }
}

}  // namespace

void CudaBackend::adamStep(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamParams& p) {
  // Exactly the CPU's host-side constants (native/cpu/optim.cc).
  const double bc1 = 1.0 - std::pow(double(p.beta1), double(p.step));
  const double bc2 = 1.0 - std::pow(double(p.beta2), double(p.step));
  AdamConsts c;
  c.stepSize = static_cast<float>(p.lr / bc1);
  c.invSqrtBc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  c.b1 = p.beta1;
  c.b2 = p.beta2;
  c.oneMinusB1 = 1.0f - p.beta1;
  c.oneMinusB2 = 1.0f - p.beta2;
  c.eps = p.eps;
  c.wd = p.weightDecay;
  volatile float lrWd = p.lr * p.weightDecay;  // float product then float difference, as the CPU loop does
  c.decay = 1.0f - lrWd;
  c.decoupled = p.decoupled;
  const int64_t n = param.numel();
  adamKernel<<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(param.f32(), grad.f32(), m.f32(), v.f32(), n, c);
  DGC_CUDA_LAUNCH_CHECK("adamStep");
}

void CudaBackend::sgdStep(Tensor& param, const Tensor& grad, Tensor* velocity, float lr, float momentum, float weightDecay) {
  const int64_t n = param.numel();
  sgdKernel<<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(param.f32(), grad.f32(),
                                                               velocity ? velocity->f32() : nullptr, n, lr, momentum,
                                                               weightDecay);
  DGC_CUDA_LAUNCH_CHECK("sgdStep");
}

}  // namespace cuda
}  // namespace dgc
