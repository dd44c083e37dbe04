// Portable GEMM kernels: the fallback for CPUs without AVX2/FMA and for non-x86 builds. Same packed layout
// and templates as the SIMD kernels, with a 4-float "vector" the compiler maps to SSE/NEON where it can.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "gemm_kernels.h"

#define DGC_GEMM_TARGET
#define DGC_GEMM_X86_AVX 0
#include "gemm_kernel_impl.h"

namespace dgc { namespace cpu { namespace gemm_detail {
namespace {

struct Vec4 {
  struct T {
    float v[4];
  };
  static constexpr int W = 4;
  static DGC_GEMM_INLINE T zero() { return T{{0.0f, 0.0f, 0.0f, 0.0f}}; }
  static DGC_GEMM_INLINE T load(const float* p) {
    T r;
    std::memcpy(r.v, p, sizeof r.v);
    return r;
  }
  static DGC_GEMM_INLINE void store(float* p, T x) { std::memcpy(p, x.v, sizeof x.v); }
  static DGC_GEMM_INLINE T set1(float x) { return T{{x, x, x, x}}; }
  static DGC_GEMM_INLINE T mul(T a, T b) {
    T r;
    for (int i = 0; i < 4; ++i) r.v[i] = a.v[i] * b.v[i];
    return r;
  }
  static DGC_GEMM_INLINE T fma(T a, T b, T c) {
    T r;
    for (int i = 0; i < 4; ++i) r.v[i] = a.v[i] * b.v[i] + c.v[i];
    return r;
  }
  static DGC_GEMM_INLINE void prefetch(const float*) {}
  static DGC_GEMM_INLINE void copy(float* d, const float* s, int n) { std::memcpy(d, s, sizeof(float) * size_t(n)); }
};

// 4×8: 8 accumulators of 4, which fits the 16 SSE registers of baseline x86-64.
constexpr int kMr = 4, kNv = 2;

const KernelSet kGeneric = {
    "generic", kMr, kNv * Vec4::W, Vec4::W, 128, 256, 2048,
    &gemm_impl::pack<Vec4>, &gemm_impl::macroKernel<Vec4, kMr, kNv>,
    kMr, kNv * Vec4::W, &gemm_impl::macroKernel<Vec4, kMr, kNv>,
    0, nullptr,  // no dot-product path: skinny products take the packed path
    0, nullptr,  // no row-sparse products: the portable fma may round twice (sgemmSparse declines)
};

}  // namespace

const KernelSet& genericKernelSet() { return kGeneric; }

}}}  // namespace dgc::cpu::gemm_detail
