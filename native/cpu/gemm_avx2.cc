// AVX2 + FMA GEMM kernels (see gemm.cc for the blocking scheme). Compiled without -march flags: every
// function carries a target attribute, and gemm.cc only calls them after checking the CPU.
#include "gemm_kernels.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#define DGC_GEMM_TARGET __attribute__((target("avx2,fma")))
#define DGC_GEMM_X86_AVX 1
#include "gemm_kernel_impl.h"

namespace dgc { namespace cpu { namespace gemm_detail {
namespace {

// 256-bit vectors: 8 floats, 16 registers.
struct Ymm {
  using T = __m256;
  static constexpr int W = 8;
  DGC_GEMM_TARGET DGC_GEMM_INLINE static T zero() { return _mm256_setzero_ps(); }
  DGC_GEMM_TARGET DGC_GEMM_INLINE static T load(const float* p) { return _mm256_loadu_ps(p); }
  DGC_GEMM_TARGET DGC_GEMM_INLINE static void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  DGC_GEMM_TARGET DGC_GEMM_INLINE static T set1(float x) { return _mm256_set1_ps(x); }
  DGC_GEMM_TARGET DGC_GEMM_INLINE static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  DGC_GEMM_TARGET DGC_GEMM_INLINE static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  DGC_GEMM_TARGET DGC_GEMM_INLINE static void prefetch(const float* p) {
    _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0);
  }
  DGC_GEMM_TARGET DGC_GEMM_INLINE static T loadPartial(const float* p, int n) {
    return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
  }
  DGC_GEMM_TARGET DGC_GEMM_INLINE static float reduceAdd(T v) {  // fixed order
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  DGC_GEMM_TARGET DGC_GEMM_INLINE static float scalarFma(float a, float b, float c) {
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
  }
  DGC_GEMM_TARGET DGC_GEMM_INLINE static void copy(float* d, const float* s, int n) {
    for (; n >= 8; n -= 8, d += 8, s += 8) _mm256_storeu_ps(d, _mm256_loadu_ps(s));
    if (n > 0) {
      const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      _mm256_maskstore_ps(d, mask, _mm256_maskload_ps(s, mask));
    }
  }
};

// 6×16: 12 accumulators + 2 B vectors + 1 broadcast = 15 of the 16 registers (the Haswell/Zen layout).
constexpr int kMr = 6, kNv = 2;

const KernelSet kAvx2 = {
    "avx2", kMr, kNv * Ymm::W, Ymm::W, 144, 256, 4080,
    &gemm_impl::pack<Ymm>, &gemm_impl::macroKernel<Ymm, kMr, kNv>,
    kMr, kNv * Ymm::W, &gemm_impl::macroKernel<Ymm, kMr, kNv>,  // no room for a taller tile in 16 registers
    // Skinny dot products: 12 accumulators for one row, 2×6 for a pair (+ A and B vectors: 16 registers).
    16, &gemm_impl::skinnyDot<Ymm, 12, 6>,
    // Row-sparse rows: 8 vectors per register block (8 accumulators).
    8 * Ymm::W, &gemm_impl::sparseRow<Ymm, 8>,
};

}  // namespace

const KernelSet* avx2KernelSet() { return &kAvx2; }

}}}  // namespace dgc::cpu::gemm_detail

#else

namespace dgc { namespace cpu { namespace gemm_detail {
const KernelSet* avx2KernelSet() { return nullptr; }
}}}

#endif
