// Attention-weighted fusion (AGCN): kernels (formulas in fusion.h) and the CPU backend's ops on them.
#include "fusion.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu_backend.h"
#include "fastlog.h"  // DGC_SIMD_CLONES

#if defined(__GNUC__) && !defined(__clang__)
// The vector helpers return V8 by value; they are always inlined into the kernels, so the ABI warning does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"
#else
#pragma STDC FP_CONTRACT OFF  // what DGC_SIMD_CLONES's fp-contract=off does under GCC
#endif
#define DGC_FUSION_INLINE inline __attribute__((always_inline))

namespace dgc {
namespace cpu {
namespace {

// Every kernel below is compiled with fp-contract=off (DGC_SIMD_CLONES, fastlog.h): a·b + c is a rounded product and
// a rounded sum in the AVX-512, AVX2 and baseline clones alike, so the op gives the same bits on every x86-64 CPU
// (until 2026-12-07 the AVX-512 clone contracted some of these loops into FMAs and the others did not;
// test/fusion.test.ts checks a digest recorded on AVX-512 that the AVX2 copy also gives).
typedef float V8 __attribute__((vector_size(32)));  // 8 floats: one ymm, or two xmm in the baseline clone

DGC_FUSION_INLINE V8 load8(const float* p) {
  V8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
// The first n < 8 floats at p, zeros after: a zero lane adds +0 · +0 = +0 to a partial sum that started at +0, which
// leaves it unchanged (round to nearest never makes such a sum −0).
DGC_FUSION_INLINE V8 loadHead(const float* p, int64_t n) {
  V8 v = {0, 0, 0, 0, 0, 0, 0, 0};
  std::memcpy(&v, p, static_cast<size_t>(n) * sizeof(float));
  return v;
}
DGC_FUSION_INLINE V8 splat8(float x) { return V8{x, x, x, x, x, x, x, x}; }
// The 8 partial sums of a dot product combined in a fixed order.
DGC_FUSION_INLINE float combine8(V8 a) { return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7])); }

// out[j] = Σ_c x[c]·w[j][c] for j < M: each dot product in 8 interleaved partial sums (lane c mod 8, the lanes of
// one vector), combined by combine8. The M products share each load of x and run as M independent add chains.
// (Written one product at a time with an array of 8 partials, as before, GCC compiled the partial sums into a serial
// chain of scalar adds; the forward pass ran at a third of the memory's speed.)
template <int M>
DGC_FUSION_INLINE void dotsImpl(const float* x, const float* const* w, int64_t n, float* out) {
  V8 acc[M];
  for (int j = 0; j < M; ++j) acc[j] = splat8(0.0f);
  int64_t c = 0;
  for (; c + 8 <= n; c += 8) {
    const V8 xv = load8(x + c);
    for (int j = 0; j < M; ++j) acc[j] += xv * load8(w[j] + c);
  }
  if (c < n) {
    const V8 xv = loadHead(x + c, n - c);
    for (int j = 0; j < M; ++j) acc[j] += xv * loadHead(w[j] + c, n - c);
  }
  for (int j = 0; j < M; ++j) out[j] = combine8(acc[j]);
}

DGC_SIMD_CLONES void dots(const float* x, const float* const* w, int m, int64_t n, float* out) {
  static_assert(kMaxFusionBlocks == 8, "dots() dispatches m = 1..8");
  switch (m) {
    case 1: dotsImpl<1>(x, w, n, out); break;
    case 2: dotsImpl<2>(x, w, n, out); break;
    case 3: dotsImpl<3>(x, w, n, out); break;
    case 4: dotsImpl<4>(x, w, n, out); break;
    case 5: dotsImpl<5>(x, w, n, out); break;
    case 6: dotsImpl<6>(x, w, n, out); break;
    case 7: dotsImpl<7>(x, w, n, out); break;
    default: dotsImpl<8>(x, w, n, out); break;
  }
}

// y[c] = alpha·x[c] (+ y[c] when accumulate).
DGC_SIMD_CLONES void scaleInto(float* y, const float* x, float alpha, int64_t n, bool accumulate) {
  if (accumulate) {
    for (int64_t c = 0; c < n; ++c) y[c] += alpha * x[c];
  } else {
    for (int64_t c = 0; c < n; ++c) y[c] = alpha * x[c];
  }
}

// dx[c] = u·g[c] + Σ_j gt[j]·W[j·ldw + c], for M rows of W, the terms added in that order; 8 columns at a time kept
// in a register over all j.
template <int M>
DGC_FUSION_INLINE void inputGradImpl(float* dx, const float* g, float u, const float* gt, const float* W, int64_t ldw,
                                     int64_t n) {
  V8 a[M];
  for (int j = 0; j < M; ++j) a[j] = splat8(gt[j]);
  const V8 uv = splat8(u);
  int64_t c = 0;
  for (; c + 8 <= n; c += 8) {
    V8 v = uv * load8(g + c);
    for (int j = 0; j < M; ++j) v += a[j] * load8(W + j * ldw + c);
    std::memcpy(dx + c, &v, sizeof v);
  }
  for (; c < n; ++c) {
    float v = u * g[c];
    for (int j = 0; j < M; ++j) v += gt[j] * W[j * ldw + c];
    dx[c] = v;
  }
}

DGC_SIMD_CLONES void inputGrad(float* dx, const float* g, float u, const float* gt, const float* W, int64_t ldw,
                                 int m, int64_t n) {
  switch (m) {
    case 1: inputGradImpl<1>(dx, g, u, gt, W, ldw, n); break;
    case 2: inputGradImpl<2>(dx, g, u, gt, W, ldw, n); break;
    case 3: inputGradImpl<3>(dx, g, u, gt, W, ldw, n); break;
    case 4: inputGradImpl<4>(dx, g, u, gt, W, ldw, n); break;
    case 5: inputGradImpl<5>(dx, g, u, gt, W, ldw, n); break;
    case 6: inputGradImpl<6>(dx, g, u, gt, W, ldw, n); break;
    case 7: inputGradImpl<7>(dx, g, u, gt, W, ldw, n); break;
    default: inputGradImpl<8>(dx, g, u, gt, W, ldw, n); break;
  }
}

// A strip of dW: acc[j·width + l] = Σ_i gt[i·m + j]·x[i·ldx + l] for l < width, the rows summed in order.
DGC_SIMD_CLONES void weightGradStrip(const float* x, int64_t ldx, int64_t rows, const float* gt, int m, int64_t width,
                                       float* acc) {
  std::fill(acc, acc + m * width, 0.0f);
  for (int64_t i = 0; i < rows; ++i) {
    const float* xr = x + i * ldx;
    const float* g = gt + i * m;
    for (int j = 0; j < m; ++j) {
      const float a = g[j];
      float* o = acc + j * width;
      for (int64_t l = 0; l < width; ++l) o[l] += a * xr[l];
    }
  }
}

// The softmax-ℓ2 weights of one row from t (in double): s = softmax(LeakyReLU(t)), norm = max(‖s‖, 1e-12).
void rowWeights(const float* t, int m, float slope, double* s, double* norm) {
  double l[kMaxFusionBlocks];
  double mx = -HUGE_VAL;
  for (int j = 0; j < m; ++j) {
    l[j] = t[j] > 0.0f ? double(t[j]) : double(slope) * double(t[j]);
    mx = std::max(mx, l[j]);
  }
  double z = 0.0;
  for (int j = 0; j < m; ++j) {
    s[j] = std::exp(l[j] - mx);
    z += s[j];
  }
  double sq = 0.0;
  for (int j = 0; j < m; ++j) {
    s[j] /= z;
    sq += s[j] * s[j];
  }
  *norm = std::max(std::sqrt(sq), 1e-12);
}

}  // namespace

void attentionFusionForward(const FusionBlocks& xs, const float* W, const float* b, float slope, bool concat,
                            float* out, float* u, float* t) {
  const int m = xs.m;
  const int64_t ldo = concat ? xs.total : xs.d[0];
  forRange(xs.n, 4 * xs.total * (m + 1), [&](int64_t r0, int64_t r1) {
    double s[kMaxFusionBlocks];
    for (int64_t i = r0; i < r1; ++i) {
      // t = a Wᵀ + b over the blocks in place.
      float* ti = t + i * m;
      float acc[kMaxFusionBlocks] = {}, part[kMaxFusionBlocks];
      for (int k = 0; k < m; ++k) {
        const float* wk[kMaxFusionBlocks];
        for (int j = 0; j < m; ++j) wk[j] = W + j * xs.total + xs.off[k];
        dots(xs.x[k] + i * xs.d[k], wk, m, xs.d[k], part);
        for (int j = 0; j < m; ++j) acc[j] += part[j];
      }
      for (int j = 0; j < m; ++j) ti[j] = acc[j] + b[j];
      double norm;
      rowWeights(ti, m, slope, s, &norm);
      float* ui = u + i * m;
      for (int j = 0; j < m; ++j) ui[j] = static_cast<float>(s[j] / norm);
      float* oi = out + i * ldo;
      for (int k = 0; k < m; ++k) {
        const float* xk = xs.x[k] + i * xs.d[k];
        if (concat) scaleInto(oi + xs.off[k], xk, ui[k], xs.d[k], false);
        else scaleInto(oi, xk, ui[k], xs.d[k], k > 0);
      }
    }
  });
}

void attentionFusionBackward(const FusionBlocks& xs, const float* W, const float* u, const float* t, float slope,
                             bool concat, const float* dout, float* const* dx, float* dW, float* db, float* gt) {
  const int m = xs.m;
  const int64_t n = xs.n;
  const int64_t ldo = concat ? xs.total : xs.d[0];
  // Pass 1 (rows): G_u, then G_t (kept in gt), then every dx_k.
  forRange(n, 4 * xs.total * (m + 1), [&](int64_t r0, int64_t r1) {
    double s[kMaxFusionBlocks], gu[kMaxFusionBlocks], gs[kMaxFusionBlocks];
    for (int64_t i = r0; i < r1; ++i) {
      const float* gi = dout + i * ldo;
      const float* ui = u + i * m;
      float g[kMaxFusionBlocks];
      const float* xi[kMaxFusionBlocks];
      for (int k = 0; k < m; ++k) xi[k] = xs.x[k] + i * xs.d[k];
      if (concat) {
        for (int k = 0; k < m; ++k) dots(gi + xs.off[k], &xi[k], 1, xs.d[k], &g[k]);
      } else {
        dots(gi, xi, m, xs.d[0], g);  // 'sum': every block is G[i]'s width, so the m products share its loads
      }
      for (int k = 0; k < m; ++k) gu[k] = g[k];
      double norm;
      rowWeights(t + i * m, m, slope, s, &norm);
      double guu = 0.0;
      for (int j = 0; j < m; ++j) guu += gu[j] * double(ui[j]);
      double gss = 0.0;
      for (int j = 0; j < m; ++j) {
        gs[j] = (gu[j] - double(ui[j]) * guu) / norm;
        gss += gs[j] * s[j];
      }
      float* gti = gt + i * m;
      for (int j = 0; j < m; ++j) {
        const double gl = s[j] * (gs[j] - gss);
        gti[j] = static_cast<float>(t[i * m + j] > 0.0f ? gl : gl * double(slope));
      }
      for (int k = 0; k < m; ++k) {
        if (!dx[k]) continue;
        inputGrad(dx[k] + i * xs.d[k], concat ? gi + xs.off[k] : gi, ui[k], gti, W + xs.off[k], xs.total, m, xs.d[k]);
      }
    }
  });
  // Pass 2 (column strips of every block): dW = G_tᵀ [x_0 ‖ …], each column summed over the rows in order, whatever
  // strip it falls in, so the strip width may follow the thread count. Strips of 64 columns (256 bytes per row at a
  // stride of the row's length) ran at a third of the memory's speed, so strips are as wide as ~4 per thread allow,
  // up to 1024 columns (the accumulators, m × width floats, stay in L1/L2).
  const int64_t stripWidth =
      std::min<int64_t>(1024, std::max<int64_t>(64, (xs.total + 4 * numThreads() - 1) / (4 * numThreads())));
  struct Strip {
    int k;
    int64_t c0, width;
  };
  std::vector<Strip> strips;
  for (int k = 0; k < m; ++k)
    for (int64_t c0 = 0; c0 < xs.d[k]; c0 += stripWidth) strips.push_back({k, c0, std::min(stripWidth, xs.d[k] - c0)});
  parallelFor(static_cast<int64_t>(strips.size()), 1, [&](int64_t s0, int64_t s1) {
    std::vector<float> acc(static_cast<size_t>(m * stripWidth));
    for (int64_t q = s0; q < s1; ++q) {
      const Strip& st = strips[static_cast<size_t>(q)];
      weightGradStrip(xs.x[st.k] + st.c0, xs.d[st.k], n, gt, m, st.width, acc.data());
      for (int j = 0; j < m; ++j)
        std::copy(acc.begin() + j * st.width, acc.begin() + (j + 1) * st.width, dW + j * xs.total + xs.off[st.k] + st.c0);
    }
  });
  // db = Σ_i G_t[i] (double, in row order).
  for (int j = 0; j < m; ++j) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += gt[i * m + j];
    db[j] = static_cast<float>(sum);
  }
}

namespace {
FusionBlocks blocksOf(const std::vector<Tensor>& xs) {
  FusionBlocks f;
  f.m = static_cast<int>(xs.size());
  f.n = xs[0].dim(0);
  for (int k = 0; k < f.m; ++k) {
    f.x[k] = xs[static_cast<size_t>(k)].f32();
    f.d[k] = xs[static_cast<size_t>(k)].dim(1);
    f.off[k] = f.total;
    f.total += f.d[k];
  }
  return f;
}
}  // namespace

void CpuBackend::attentionFusionForward(const std::vector<Tensor>& xs, const Tensor& w, const Tensor& b, float slope,
                                        bool concat, Tensor& out, Tensor& u, Tensor& t) {
  cpu::attentionFusionForward(blocksOf(xs), w.f32(), b.f32(), slope, concat, out.f32(), u.f32(), t.f32());
}

void CpuBackend::attentionFusionBackward(const std::vector<Tensor>& xs, const Tensor& w, const Tensor& u,
                                         const Tensor& t, float slope, bool concat, const Tensor& dout,
                                         const std::vector<Tensor*>& dxs, Tensor& dw, Tensor& db) {
  const FusionBlocks f = blocksOf(xs);
  float* dx[kMaxFusionBlocks] = {};
  for (int k = 0; k < f.m; ++k) dx[k] = dxs[static_cast<size_t>(k)] ? dxs[static_cast<size_t>(k)]->f32() : nullptr;
  std::vector<float> gt(static_cast<size_t>(f.n * f.m));
  cpu::attentionFusionBackward(f, w.f32(), u.f32(), t.f32(), slope, concat, dout.f32(), dx, dw.f32(), db.f32(),
                               gt.data());
}

}  // namespace cpu
}  // namespace dgc
