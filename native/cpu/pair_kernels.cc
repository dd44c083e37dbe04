// CDC's pairwise distance loops (definitions: pair_kernels.h), register-blocked on GCC vector types of doubles and
// instantiated per instruction set.
//
// Distances: the definition's four partial sums (columns c mod 4) are the lanes of one 4-double vector, so a pair is
// w/4 vector steps of d = y_i − y_j, d·d and the add, exactly the scalar definition lane by lane; four pairs share
// each load of y_i.
// Gradient: for row i and a block of 4·W columns, four accumulators stay in registers over all j; the coefficients
// a_j = 2 (H_ij + H_ji) are made once per row, in the scalar definition's expression.
// No FMA: the x86 sets are compiled with fp-contract=off, so a·b + c is two roundings in every set, as in the
// portable build (baseline x86-64 has no FMA instruction to contract into).
#include "pair_kernels.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "../core/thread_pool.h"
#include "isa.h"

#if defined(__GNUC__) && !defined(__clang__)
// The helpers below return vectors by value; they are always inlined into the per-set functions, so the ABI warning
// does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#define DGC_PAIR_INLINE inline __attribute__((always_inline))

namespace dgc {
namespace cpu {
namespace {

template <int W>
struct VecTypes {
  typedef double D __attribute__((vector_size(8 * W)));
  typedef float F __attribute__((vector_size(4 * W)));
};

// Unaligned loads through memcpy (the compiler emits one vector move).
template <class V>
DGC_PAIR_INLINE V loadV(const double* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <class V>
DGC_PAIR_INLINE V splat(double x) {
  V v;
  for (int k = 0; k < static_cast<int>(sizeof(V) / sizeof(double)); ++k) v[k] = x;
  return v;
}

// Rows [i0, i1) of D: for each row i the pairs j > i, mirrored to D_ji (each entry written by one row). The four
// partial sums s0..s3 of the definition are the four lanes of one 4-double vector (two SSE2 registers in the portable
// build, one ymm in the x86 sets), four pairs at a time sharing the loads of y_i. Yd: Y as double (b × w).
DGC_PAIR_INLINE void distanceRowsImpl(int64_t b, int64_t w, const double* Yd, int64_t i0, int64_t i1, double* D) {
  using V = typename VecTypes<4>::D;
  const int64_t w4 = w - w % 4;
  auto finish = [&](int64_t i, int64_t j, const V& s, const double* yi, const double* yj) {
    double s0 = s[0];
    for (int64_t c = w4; c < w; ++c) {
      const double d = yi[c] - yj[c];
      s0 += d * d;
    }
    const double dist = (s0 + s[1]) + (s[2] + s[3]);
    D[i * b + j] = dist;
    D[j * b + i] = dist;
  };
  for (int64_t i = i0; i < i1; ++i) {
    const double* yi = Yd + i * w;
    D[i * b + i] = 0.0;
    int64_t j = i + 1;
    for (; j + 4 <= b; j += 4) {
      const double* y0 = Yd + j * w;
      const double* y1 = y0 + w;
      const double* y2 = y1 + w;
      const double* y3 = y2 + w;
      V s0 = {}, s1 = {}, s2 = {}, s3 = {};
      for (int64_t c = 0; c < w4; c += 4) {
        const V x = loadV<V>(yi + c);
        const V d0 = x - loadV<V>(y0 + c), d1 = x - loadV<V>(y1 + c), d2 = x - loadV<V>(y2 + c), d3 = x - loadV<V>(y3 + c);
        s0 += d0 * d0;
        s1 += d1 * d1;
        s2 += d2 * d2;
        s3 += d3 * d3;
      }
      finish(i, j, s0, yi, y0);
      finish(i, j + 1, s1, yi, y1);
      finish(i, j + 2, s2, yi, y2);
      finish(i, j + 3, s3, yi, y3);
    }
    for (; j < b; ++j) {
      const double* yj = Yd + j * w;
      V s = {};
      for (int64_t c = 0; c < w4; c += 4) {
        const V d = loadV<V>(yi + c) - loadV<V>(yj + c);
        s += d * d;
      }
      finish(i, j, s, yi, yj);
    }
  }
}

// Rows [i0, i1) of dY. coef: b doubles of scratch.
template <int W>
DGC_PAIR_INLINE void gradRowsImpl(int64_t b, int64_t w, const double* Yd, const double* H, int64_t i0, int64_t i1, float* dY,
                         double* coef) {
  using V = typename VecTypes<W>::D;
  using F = typename VecTypes<W>::F;
  for (int64_t i = i0; i < i1; ++i) {
    for (int64_t j = 0; j < b; ++j) coef[j] = j == i ? 0.0 : 2.0 * (H[i * b + j] + H[j * b + i]);
    const double* yi = Yd + i * w;
    float* out = dY + i * w;
    int64_t c = 0;
    for (; c + 4 * W <= w; c += 4 * W) {
      const V y0 = loadV<V>(yi + c), y1 = loadV<V>(yi + c + W), y2 = loadV<V>(yi + c + 2 * W), y3 = loadV<V>(yi + c + 3 * W);
      V s0 = {}, s1 = {}, s2 = {}, s3 = {};
      for (int64_t j = 0; j < b; ++j) {
        if (coef[j] == 0.0) continue;
        const V a = splat<V>(coef[j]);
        const double* yj = Yd + j * w + c;
        s0 += a * (y0 - loadV<V>(yj));
        s1 += a * (y1 - loadV<V>(yj + W));
        s2 += a * (y2 - loadV<V>(yj + 2 * W));
        s3 += a * (y3 - loadV<V>(yj + 3 * W));
      }
      const F f0 = __builtin_convertvector(s0, F), f1 = __builtin_convertvector(s1, F);
      const F f2 = __builtin_convertvector(s2, F), f3 = __builtin_convertvector(s3, F);
      std::memcpy(out + c, &f0, sizeof(F));
      std::memcpy(out + c + W, &f1, sizeof(F));
      std::memcpy(out + c + 2 * W, &f2, sizeof(F));
      std::memcpy(out + c + 3 * W, &f3, sizeof(F));
    }
    for (; c + W <= w; c += W) {
      const V y0 = loadV<V>(yi + c);
      V s0 = {};
      for (int64_t j = 0; j < b; ++j) {
        if (coef[j] == 0.0) continue;
        s0 += splat<V>(coef[j]) * (y0 - loadV<V>(Yd + j * w + c));
      }
      const F f0 = __builtin_convertvector(s0, F);
      std::memcpy(out + c, &f0, sizeof(F));
    }
    for (; c < w; ++c) {
      double s = 0.0;
      for (int64_t j = 0; j < b; ++j) {
        if (coef[j] == 0.0) continue;
        s += coef[j] * (yi[c] - Yd[j * w + c]);
      }
      out[c] = static_cast<float>(s);
    }
  }
}

struct PairKernels {
  const char* name;
  void (*distanceRows)(int64_t b, int64_t w, const double* Yd, int64_t i0, int64_t i1, double* D);
  void (*gradRows)(int64_t b, int64_t w, const double* Yd, const double* H, int64_t i0, int64_t i1, float* dY,
                   double* coef);
};

// Portable: 2 doubles (SSE2 on x86-64, NEON on ARM).
void distanceRowsPortable(int64_t b, int64_t w, const double* Yd, int64_t i0, int64_t i1, double* D) {
  distanceRowsImpl(b, w, Yd, i0, i1, D);
}
void gradRowsPortable(int64_t b, int64_t w, const double* Yd, const double* H, int64_t i0, int64_t i1, float* dY,
                      double* coef) {
  gradRowsImpl<2>(b, w, Yd, H, i0, i1, dY, coef);
}
const PairKernels kPortable = {"portable", &distanceRowsPortable, &gradRowsPortable};

// GCC only: clang has no optimize attribute, and would contract a·b + c within an expression by default.
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__)
#define DGC_PAIR_HAVE_X86 1
#define DGC_PAIR_AVX2 __attribute__((target("avx2"), optimize("fp-contract=off")))
#define DGC_PAIR_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2"), optimize("fp-contract=off")))

DGC_PAIR_AVX2 void distanceRowsAvx2(int64_t b, int64_t w, const double* Yd, int64_t i0, int64_t i1, double* D) {
  distanceRowsImpl(b, w, Yd, i0, i1, D);
}
DGC_PAIR_AVX2 void gradRowsAvx2(int64_t b, int64_t w, const double* Yd, const double* H, int64_t i0, int64_t i1,
                                float* dY, double* coef) {
  gradRowsImpl<4>(b, w, Yd, H, i0, i1, dY, coef);
}
const PairKernels kAvx2 = {"avx2", &distanceRowsAvx2, &gradRowsAvx2};

DGC_PAIR_AVX512 void distanceRowsAvx512(int64_t b, int64_t w, const double* Yd, int64_t i0, int64_t i1, double* D) {
  distanceRowsImpl(b, w, Yd, i0, i1, D);  // 4-double vectors: the definition's four partial sums
}
DGC_PAIR_AVX512 void gradRowsAvx512(int64_t b, int64_t w, const double* Yd, const double* H, int64_t i0, int64_t i1,
                                    float* dY, double* coef) {
  gradRowsImpl<8>(b, w, Yd, H, i0, i1, dY, coef);
}
const PairKernels kAvx512 = {"avx512", &distanceRowsAvx512, &gradRowsAvx512};
#endif

KernelSetChoice<PairKernels>& choice() {
  static KernelSetChoice<PairKernels> c("DGCLUST_PAIR_KERNEL", {
#ifdef DGC_PAIR_HAVE_X86
      {"avx512", cpuHasAvx512, &kAvx512},
      {"avx2", cpuHasAvx2Fma, &kAvx2},
#endif
      {"portable", anyCpu, &kPortable},
  });
  return c;
}

// Rows per parallel chunk: about 64k multiply-adds each.
int64_t rowGrainFor(int64_t b, int64_t w) { return std::max<int64_t>(1, 65536 / std::max<int64_t>(1, b * w)); }

std::vector<double> toDouble(int64_t b, int64_t w, const float* Y) {
  std::vector<double> Yd(static_cast<size_t>(b * w));
  for (int64_t e = 0; e < b * w; ++e) Yd[e] = Y[e];
  return Yd;
}

}  // namespace

void pairSquaredDistances(int64_t b, int64_t w, const float* Y, double* D) {
  if (b <= 0) return;
  const PairKernels& k = choice().active();
  const std::vector<double> Yd = toDouble(b, w, Y);
  parallelFor(b, rowGrainFor(b, w), [&](int64_t i0, int64_t i1) { k.distanceRows(b, w, Yd.data(), i0, i1, D); });
}

void pairDistanceGrad(int64_t b, int64_t w, const float* Y, const double* H, float* dY) {
  if (b <= 0) return;
  const PairKernels& k = choice().active();
  const std::vector<double> Yd = toDouble(b, w, Y);
  parallelFor(b, rowGrainFor(b, w), [&](int64_t i0, int64_t i1) {
    std::vector<double> coef(static_cast<size_t>(b));
    k.gradRows(b, w, Yd.data(), H, i0, i1, dY, coef.data());
  });
}

namespace pair_detail {
const char* activeKernelSetName() { return choice().activeName(); }
bool forceKernelSet(const char* name) { return choice().force(name); }
}  // namespace pair_detail

}  // namespace cpu
}  // namespace dgc
