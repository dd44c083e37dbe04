// Mean-reduced losses for the CUDA backend (native/cpu/loss.cc is the reference): mean squared error and binary
// cross-entropy with logits, and their gradients. The sums are deterministic double sums (reduce.cuh); the
// upstream gradient g stays on the device (read by the kernels, no host round trip).
#include <cmath>
#include <cstdint>

#include "common.cuh"
#include "cuda_backend.h"

namespace dgc {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// (a − b)² in double, as the CPU.
struct SquaredDiff {
  const float* a;
  const float* b;
  __device__ double operator()(int64_t i) const {
    const double d = double(a[i]) - b[i];
    return d * d;
  }
};

// max(x, 0) − x·t + log(1 + exp(−|x|)), in double: the overflow-free form of −[t log σ(x) + (1 − t) log(1 − σ(x))].
struct BceTerm {
  const float* x;
  const float* t;
  __device__ double operator()(int64_t i) const {
    const double v = x[i];
    return fmax(v, 0.0) - v * t[i] + log1p(exp(-fabs(v)));
  }
};

// da = scale · (a − b), scale = (float)(2·g/n) formed in double from g on the device, exactly as the CPU forms it.
__global__ void mseGradKernel(const float* __restrict__ a, const float* __restrict__ b, const float* __restrict__ g,
                              int64_t n, float* __restrict__ da) {
  const float scale = static_cast<float>(2.0 * double(g[0]) / static_cast<double>(n));
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    da[i] = __fmul_rn(scale, __fsub_rn(a[i], b[i]));
}

// dl = scale · (σ(x) − t), scale = (float)(g/n).
__global__ void bceGradKernel(const float* __restrict__ x, const float* __restrict__ t, const float* __restrict__ g,
                              int64_t n, float* __restrict__ dl) {
  const float scale = static_cast<float>(double(g[0]) / static_cast<double>(n));
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float v = x[i];
    float sig;
    if (v >= 0.0f) {
      sig = __fdiv_rn(1.0f, __fadd_rn(1.0f, expf(-v)));
    } else {
      const float e = expf(v);
      sig = __fdiv_rn(e, __fadd_rn(1.0f, e));
    }
    dl[i] = __fmul_rn(scale, __fsub_rn(sig, t[i]));
  }
}

}  // namespace

void CudaBackend::mse(const Tensor& a, const Tensor& b, Tensor& out) {
  deterministicSum(a.numel(), SquaredDiff{a.f32(), b.f32()}, out.f32(), static_cast<double>(a.numel()), "mse");
}

void CudaBackend::mseGrad(const Tensor& a, const Tensor& b, const Tensor& g, Tensor& da) {
  const int64_t n = a.numel();
  mseGradKernel<<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(a.f32(), b.f32(), g.f32(), n, da.f32());
  DGC_CUDA_LAUNCH_CHECK("mseGrad");
}

void CudaBackend::bceWithLogits(const Tensor& logits, const Tensor& target, Tensor& out) {
  deterministicSum(logits.numel(), BceTerm{logits.f32(), target.f32()}, out.f32(),
                   static_cast<double>(logits.numel()), "bceWithLogits");
}

void CudaBackend::bceWithLogitsGrad(const Tensor& logits, const Tensor& target, const Tensor& g, Tensor& dl) {
  const int64_t n = logits.numel();
  bceGradKernel<<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(logits.f32(), target.f32(), g.f32(), n, dl.f32());
  DGC_CUDA_LAUNCH_CHECK("bceWithLogitsGrad");
}

}  // namespace cuda
}  // namespace dgc
