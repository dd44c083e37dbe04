// Attention-weighted fusion (AGCN): kernels (formulas in fusion.h) and the CPU backend's ops on them.
#include "fusion.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu_backend.h"
#include "fastlog.h"  // DGC_SIMD_CLONES

namespace dgc {
namespace cpu {
namespace {

// Σ_c a[c]·b[c] in 8 interleaved float partials (lane c mod 8), combined in a fixed order: the same result for
// any vector width the compiler picks, so every clone sums in the same order.
DGC_SIMD_CLONES float dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t c = 0;
  for (; c + 8 <= n; c += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[c + l] * b[c + l];
  for (int l = 0; c < n; ++c, ++l) acc[l] += a[c] * b[c];
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

// y[c] = alpha·x[c] (+ y[c] when accumulate).
DGC_SIMD_CLONES void scaleInto(float* y, const float* x, float alpha, int64_t n, bool accumulate) {
  if (accumulate) {
    for (int64_t c = 0; c < n; ++c) y[c] += alpha * x[c];
  } else {
    for (int64_t c = 0; c < n; ++c) y[c] = alpha * x[c];
  }
}

// dx[c] = u·g[c] + Σ_j gt[j]·W[j·ldw + c], for m rows of W.
DGC_SIMD_CLONES void inputGrad(float* dx, const float* g, float u, const float* gt, const float* W, int64_t ldw,
                               int m, int64_t n) {
  for (int64_t c = 0; c < n; ++c) dx[c] = u * g[c];
  for (int j = 0; j < m; ++j) {
    const float a = gt[j];
    const float* w = W + j * ldw;
    for (int64_t c = 0; c < n; ++c) dx[c] += a * w[c];
  }
}

// A strip of dW: acc[j·kStrip + l] = Σ_i gt[i·m + j]·x[i·ldx + l] for l < width ≤ kStrip, rows summed in order.
constexpr int64_t kStrip = 64;
DGC_SIMD_CLONES void weightGradStrip(const float* x, int64_t ldx, int64_t rows, const float* gt, int m, int64_t width,
                                     float* acc) {
  std::fill(acc, acc + m * kStrip, 0.0f);
  for (int64_t i = 0; i < rows; ++i) {
    const float* xr = x + i * ldx;
    const float* g = gt + i * m;
    for (int j = 0; j < m; ++j) {
      const float a = g[j];
      float* o = acc + j * kStrip;
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
      for (int j = 0; j < m; ++j) {
        float acc = 0.0f;
        for (int k = 0; k < m; ++k) acc += dot(xs.x[k] + i * xs.d[k], W + j * xs.total + xs.off[k], xs.d[k]);
        ti[j] = acc + b[j];
      }
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
      for (int k = 0; k < m; ++k) gu[k] = dot(concat ? gi + xs.off[k] : gi, xs.x[k] + i * xs.d[k], xs.d[k]);
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
  // Pass 2 (column strips of every block): dW = G_tᵀ [x_0 ‖ …], each strip's rows summed in order.
  struct Strip {
    int k;
    int64_t c0, width;
  };
  std::vector<Strip> strips;
  for (int k = 0; k < m; ++k)
    for (int64_t c0 = 0; c0 < xs.d[k]; c0 += kStrip) strips.push_back({k, c0, std::min(kStrip, xs.d[k] - c0)});
  parallelFor(static_cast<int64_t>(strips.size()), 1, [&](int64_t s0, int64_t s1) {
    std::vector<float> acc(static_cast<size_t>(m * kStrip));
    for (int64_t q = s0; q < s1; ++q) {
      const Strip& st = strips[static_cast<size_t>(q)];
      weightGradStrip(xs.x[st.k] + st.c0, xs.d[st.k], n, gt, m, st.width, acc.data());
      for (int j = 0; j < m; ++j)
        std::copy(acc.begin() + j * kStrip, acc.begin() + j * kStrip + st.width, dW + j * xs.total + xs.off[st.k] + st.c0);
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
