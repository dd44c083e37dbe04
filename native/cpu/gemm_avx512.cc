// AVX-512 GEMM kernels (see gemm.cc for the blocking scheme). Compiled without -march flags: every function
// carries a target attribute, and gemm.cc only calls them after checking the CPU (__builtin_cpu_supports).
#include "gemm_kernels.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#define DGC_GEMM_TARGET __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#define DGC_GEMM_X86_AVX 1
#include "gemm_kernel_impl.h"

namespace dgc { namespace cpu { namespace gemm_detail {
namespace {

// 512-bit vectors: 16 floats, 32 registers.
struct Zmm {
  using T = __m512;
  static constexpr int W = 16;
  DGC_GEMM_TARGET DGC_GEMM_INLINE static T zero() { return _mm512_setzero_ps(); }
  DGC_GEMM_TARGET DGC_GEMM_INLINE static T load(const float* p) { return _mm512_loadu_ps(p); }
  DGC_GEMM_TARGET DGC_GEMM_INLINE static void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  DGC_GEMM_TARGET DGC_GEMM_INLINE static T set1(float x) { return _mm512_set1_ps(x); }
  DGC_GEMM_TARGET DGC_GEMM_INLINE static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  DGC_GEMM_TARGET DGC_GEMM_INLINE static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  DGC_GEMM_TARGET DGC_GEMM_INLINE static void prefetch(const float* p) {
    _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0);
  }
  DGC_GEMM_TARGET DGC_GEMM_INLINE static T loadPartial(const float* p, int n) { return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p); }
  DGC_GEMM_TARGET DGC_GEMM_INLINE static float reduceAdd(T v) {  // fixed order (pairwise halves)
    // Through memory: GCC 12's _mm512_reduce_add_ps and 512→256 casts trip -Wuninitialized.
    alignas(64) float t[16];
    _mm512_store_ps(t, v);
    for (int half = 8; half >= 1; half /= 2)
      for (int i = 0; i < half; ++i) t[i] += t[i + half];
    return t[0];
  }
  DGC_GEMM_TARGET DGC_GEMM_INLINE static float scalarFma(float a, float b, float c) {
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
  }
  DGC_GEMM_TARGET DGC_GEMM_INLINE static void copy(float* d, const float* s, int n) {
    for (; n >= 16; n -= 16, d += 16, s += 16) _mm512_storeu_ps(d, _mm512_loadu_ps(s));
    if (n > 0) {
      const __mmask16 mask = static_cast<__mmask16>((1u << n) - 1);
      _mm512_mask_storeu_ps(d, mask, _mm512_maskz_loadu_ps(mask, s));
    }
  }
};

// Main kernel 8×48 (24 zmm accumulators, 3 B vectors, 1 broadcast): per k step 3 loads + 8 broadcasts for
// 24 FMAs. Measured on Zen 4 (macro-kernel on an L2-resident 336×384 block, one core, thread CPU time, best
// of 4 runs): 8×48 115 GF, 6×64 115, 12×32 110, 14×32 109; 256-bit kernels: 12×16 using AVX-512VL's 32
// registers 108, AVX2 6×16 (gemm_avx2.cc) 108. A plain chain of independent zmm FMAs peaks at 114 GF on that
// core: Zen 4 splits a zmm FMA into two 256-bit halves, so both widths have the same peak, and the zmm
// kernels win by needing half the instructions and loads per flop.
// (The DGC_GEMM_ZMM_* macros only exist to rerun such tuning with -D flags.)
#ifndef DGC_GEMM_ZMM_MR
#define DGC_GEMM_ZMM_MR 8
#endif
#ifndef DGC_GEMM_ZMM_NV
#define DGC_GEMM_ZMM_NV 3
#endif
#ifndef DGC_GEMM_ZMM_MC
#define DGC_GEMM_ZMM_MC 336
#endif
#ifndef DGC_GEMM_ZMM_KC
#define DGC_GEMM_ZMM_KC 512
#endif
#ifndef DGC_GEMM_ZMM_NC
#define DGC_GEMM_ZMM_NC 4032
#endif
constexpr int kZmmMr = DGC_GEMM_ZMM_MR, kZmmNv = DGC_GEMM_ZMM_NV;
// Skinny (n ≤ 16) products with A transposed: tiles up to 14 rows × 32 (28 accumulators).
constexpr int kZmmSkinnyMr = 14, kZmmSkinnyNv = 2;

const KernelSet kAvx512 = {
    "avx512", kZmmMr, kZmmNv * Zmm::W, Zmm::W, DGC_GEMM_ZMM_MC, DGC_GEMM_ZMM_KC, DGC_GEMM_ZMM_NC,
    &gemm_impl::pack<Zmm>, &gemm_impl::macroKernel<Zmm, kZmmMr, kZmmNv>,
    kZmmSkinnyMr, kZmmSkinnyNv * Zmm::W, &gemm_impl::macroKernel<Zmm, kZmmSkinnyMr, kZmmSkinnyNv>,
    // Skinny dot products: 16 accumulators for one row, 2×14 for a pair of rows (of the 32 registers).
    16, &gemm_impl::skinnyDot<Zmm, 16, 14>,
    // Row-sparse rows: 8 vectors per register block (8 accumulators).
    8 * Zmm::W, &gemm_impl::sparseRow<Zmm, 8>,
};

}  // namespace

const KernelSet* avx512KernelSet() { return &kAvx512; }

}}}  // namespace dgc::cpu::gemm_detail

#else  // not x86 with GCC/Clang

namespace dgc { namespace cpu { namespace gemm_detail {
const KernelSet* avx512KernelSet() { return nullptr; }
}}}

#endif
