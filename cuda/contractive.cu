// DCCF's contractive penalty (Eq. 6) on the GPU: the exact squared Frobenius norm of a ReLU MLP encoder's
// Jacobian, summed over a batch, and its weight gradients. Same algorithm and forms as the CPU
// (native/cpu/contractive.h has the formulas): a chain of GEMMs (cuda::sgemm: cuBLAS when present, else the
// built-in kernels) on R = m·d′ rows with the ReLU masks applied between them, in one of two exact forms:
//   direct: J = Ã_1 W_1 (R × d), loss = scale · Σ J²;
//   gram:   G = W_1 W_1ᵀ, Y = Ã_1 G (R × n_1), loss = scale · Σ Ã_1 ⊙ Y   (cheaper when n_1 < d).
// Elementwise kernels here: the masked broadcast of W_L, the masks, scalings; the per-sample reduction of dW_L
// (one thread per output element, samples in order, in double); the loss via common.cuh's fixed-order double sum (deterministicSum).
// No atomics: a call repeats bit for bit for a given GEMM provider. Against the CPU results differ by float
// rounding (GEMM summation order).
#include <cstdint>
#include <vector>

#include "common.cuh"
#include "cuda_backend.h"
#include "kernels.h"

namespace dgc {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr const char* kOp = "contractivePenalty";

Tensor scratch(int64_t rows, int64_t cols) { return Tensor::empty({rows, cols}, DType::F32, Device::CUDA); }

// out[(s, k), j] = w[k, j] · 1[h[s, j] > 0]  (R = m·dz rows of width n).
__global__ void broadcastMaskedKernel(int64_t m, int64_t dz, int64_t n, const float* __restrict__ w,
                                      const float* __restrict__ h, float* __restrict__ out) {
  const int64_t total = m * dz * n;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = i % n, r = i / n, k = r % dz, s = r / dz;
    out[i] = h[s * n + j] > 0.0f ? w[k * n + j] : 0.0f;
  }
}

// x[(s, k), j] *= 1[h[s, j] > 0] (in place; a masked entry becomes exactly 0).
__global__ void applyMaskKernel(int64_t m, int64_t dz, int64_t n, const float* __restrict__ h, float* __restrict__ x) {
  const int64_t total = m * dz * n;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = i % n, s = i / n / dz;
    if (!(h[s * n + j] > 0.0f)) x[i] = 0.0f;
  }
}

// out[i] = alpha · x[i] (out may be x).
__global__ void scaleKernel(int64_t n, float alpha, const float* x, float* out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = __fmul_rn(alpha, x[i]);
}

// out[k, j] = Σ_s x[(s, k), j], s in order, in double: one thread per output element.
__global__ void sumOverSamplesKernel(int64_t m, int64_t dz, int64_t n, const float* __restrict__ x,
                                     float* __restrict__ out) {
  const int64_t total = dz * n;
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < total; c += int64_t(gridDim.x) * blockDim.x) {
    const int64_t k = c / n, j = c % n;
    double acc = 0.0;
    for (int64_t s = 0; s < m; ++s) acc += x[(s * dz + k) * n + j];
    out[c] = static_cast<float>(acc);
  }
}

// scale · a[i] · b[i] in double (a = b: a sum of squares).
struct ScaledProduct {
  const float* a;
  const float* b;
  double scale;
  __device__ double operator()(int64_t i) const { return scale * (double(a[i]) * double(b[i])); }
};

void launchScale(int64_t n, float alpha, const float* x, float* out) {
  if (n == 0) return;
  scaleKernel<<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(n, alpha, x, out);
  DGC_CUDA_LAUNCH_CHECK(kOp);
}

void launchMask(int64_t m, int64_t dz, int64_t n, const float* h, float* x) {
  const int64_t total = m * dz * n;
  if (total == 0) return;
  applyMaskKernel<<<blocksFor(total, kThreads), kThreads, 0, stream()>>>(m, dz, n, h, x);
  DGC_CUDA_LAUNCH_CHECK(kOp);
}

}  // namespace

void CudaBackend::contractivePenalty(const std::vector<Tensor>& weights, const std::vector<Tensor>& hidden, int64_t m, double scale,
                        int form, Tensor& loss, const std::vector<Tensor*>& dweights) {
  const int64_t L = static_cast<int64_t>(weights.size());
  std::vector<int64_t> n(static_cast<size_t>(L + 1));
  n[0] = weights[0].dim(1);
  for (int64_t l = 0; l < L; ++l) n[l + 1] = weights[l].dim(0);
  const int64_t d = n[0], dz = n[L];
  const bool grads = !dweights.empty() && dweights[0] != nullptr;
  auto W = [&](int64_t l) { return weights[l - 1].f32(); };  // W_l, 1-based as in the formulas
  auto dW = [&](int64_t l) { return dweights[l - 1]->f32(); };
  auto H = [&](int64_t l) { return hidden[l - 1].f32(); };    // h_l, m × n_l

  if (L == 1) {
    // A linear encoder: J_s = W_1 for every sample: loss = scale·m·‖W_1‖², dW_1 = 2·scale·m·W_1.
    const int64_t cnt = dz * d;
    deterministicSum(cnt, ScaledProduct{W(1), W(1), scale * double(m)}, loss.f32(), 1.0, kOp);
    if (grads) launchScale(cnt, static_cast<float>(2.0 * scale * double(m)), W(1), dW(1));
    return;
  }
  const int64_t R = m * dz;
  if (R == 0) {
    fill(loss, 0.0);
    if (grads) {
      for (int64_t l = 1; l <= L; ++l) fill(*dweights[l - 1], 0.0);
    }
    return;
  }
  const bool gram = form == 2 || (form == 0 && n[1] < n[0]);

  // ---- forward: At[l − 1] = Ã_l (R × n_l) ----
  std::vector<Tensor> At(static_cast<size_t>(L - 1));
  At[L - 2] = scratch(R, n[L - 1]);
  {
    const int64_t total = R * n[L - 1];
    broadcastMaskedKernel<<<blocksFor(total, kThreads), kThreads, 0, stream()>>>(m, dz, n[L - 1], W(L), H(L - 1),
                                                                                  At[L - 2].f32());
    DGC_CUDA_LAUNCH_CHECK(kOp);
  }
  for (int64_t l = L - 1; l >= 2; --l) {
    At[l - 2] = scratch(R, n[l - 1]);
    sgemm(false, false, R, n[l - 1], n[l], 1.0f, At[l - 1].f32(), n[l], W(l), n[l - 1], 0.0f, At[l - 2].f32(), n[l - 1]);
    launchMask(m, dz, n[l - 1], H(l - 1), At[l - 2].f32());
  }
  const int64_t n1 = n[1];
  const float* A1 = At[0].f32();
  Tensor first;  // direct: J (R × d); gram: Y (R × n1)
  if (!gram) {
    first = scratch(R, d);
    sgemm(false, false, R, d, n1, 1.0f, A1, n1, W(1), d, 0.0f, first.f32(), d);
    deterministicSum(R * d, ScaledProduct{first.f32(), first.f32(), scale}, loss.f32(), 1.0, kOp);
  } else {
    Tensor G = scratch(n1, n1);
    sgemm(false, true, n1, n1, d, 1.0f, W(1), d, W(1), d, 0.0f, G.f32(), n1);
    first = scratch(R, n1);
    sgemm(false, false, R, n1, n1, 1.0f, A1, n1, G.f32(), n1, 0.0f, first.f32(), n1);
    deterministicSum(R * n1, ScaledProduct{A1, first.f32(), scale}, loss.f32(), 1.0, kOp);
  }
  if (!grads) return;

  // ---- backward ----
  Tensor dAt = scratch(R, n1);  // dÃ_1
  const float twoScale = static_cast<float>(2.0 * scale);
  if (!gram) {
    launchScale(R * d, twoScale, first.f32(), first.f32());                             // dJ = 2·scale·J
    sgemm(true, false, n1, d, R, 1.0f, A1, n1, first.f32(), d, 0.0f, dW(1), d);         // dW_1 = Ã_1ᵀ dJ
    sgemm(false, true, R, n1, d, 1.0f, first.f32(), d, W(1), d, 0.0f, dAt.f32(), n1);   // dÃ_1 = dJ W_1ᵀ
  } else {
    Tensor dG = scratch(n1, n1);
    sgemm(true, false, n1, n1, R, static_cast<float>(scale), A1, n1, A1, n1, 0.0f, dG.f32(), n1);  // scale·Ã_1ᵀÃ_1
    sgemm(false, false, n1, d, n1, 2.0f, dG.f32(), n1, W(1), d, 0.0f, dW(1), d);                  // 2·dG·W_1
    launchScale(R * n1, twoScale, first.f32(), dAt.f32());                                        // 2·scale·Y
  }
  for (int64_t l = 2; l <= L - 1; ++l) {
    launchMask(m, dz, n[l - 1], H(l - 1), dAt.f32());  // dA_l
    sgemm(true, false, n[l], n[l - 1], R, 1.0f, At[l - 1].f32(), n[l], dAt.f32(), n[l - 1], 0.0f, dW(l), n[l - 1]);
    Tensor next = scratch(R, n[l]);
    sgemm(false, true, R, n[l], n[l - 1], 1.0f, dAt.f32(), n[l - 1], W(l), n[l - 1], 0.0f, next.f32(), n[l]);
    dAt = next;
  }
  launchMask(m, dz, n[L - 1], H(L - 1), dAt.f32());  // dA_L
  {
    const int64_t total = dz * n[L - 1];
    sumOverSamplesKernel<<<blocksFor(total, kThreads), kThreads, 0, stream()>>>(m, dz, n[L - 1], dAt.f32(), dW(L));
    DGC_CUDA_LAUNCH_CHECK(kOp);
  }
}

}  // namespace cuda
}  // namespace dgc
