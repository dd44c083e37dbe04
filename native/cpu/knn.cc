// kNN-graph construction (see knn.h for the exact rule and why it is exact).
//
// Filter bound. Let u = 2^-24. For the float32 dot products of the GEMM (any summation order, FMA or not),
// |dot_f - dot| ≤ γ_d Σ|x_t y_t| ≤ γ_d |x||y| ≤ γ_d (|x|² + |y|²)/2, γ_d = d·u/(1 - d·u). With a per-row
// scale s_i (Heat: |x_i|²; Dot: |x_i|²/2; Cosine on normalized rows: 1/2) every approximate key below is within
// (d + 8)·u·(s_i + s_j) of the exact one, counting the float rounding of the norms, of the normalization and of
// the few float operations of the filter itself. The filter uses M_ij = C·(s_i + s_j) with C = (2d + 16)·u,
// twice that, and only skips j when approx_key - M_ij > thr_i (the row's current (k+1)-th best exact key), so a
// skipped j has exact key > thr_i and can never enter the top-(k+1).
#include "knn.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../core/error.h"
#include "../core/thread_pool.h"
#include "gemm.h"

namespace dgc {
namespace cpu {
namespace {

constexpr int64_t kRowBlock = 128;   // rows per parallelFor chunk (and per GEMM tile)
constexpr int64_t kColBlock = 1024;  // columns per GEMM tile: tile = 128×1024 floats = 512 KiB
constexpr int64_t kScan = 32;        // columns tested at once by the filter's vectorized pre-check

inline bool better(double ka, int32_t ia, double kb, int32_t ib) { return ka < kb || (ka == kb && ia < ib); }

// Bounded max-heap of (key, idx) under `better`: the root is the worst kept entry.
struct RowHeap {
  double* key;
  int32_t* idx;
  int64_t cap;
  int64_t size;

  void push(double k, int32_t i) {
    if (size < cap) {
      int64_t c = size++;
      while (c > 0) {
        int64_t p = (c - 1) / 2;
        if (!better(key[p], idx[p], k, i)) break;  // parent is not better than new: parent is worse, move down
        key[c] = key[p];
        idx[c] = idx[p];
        c = p;
      }
      key[c] = k;
      idx[c] = i;
      return;
    }
    if (!better(k, i, key[0], idx[0])) return;
    int64_t c = 0;
    for (;;) {
      int64_t l = 2 * c + 1;
      if (l >= cap) break;
      int64_t w = l;  // the worse child
      if (l + 1 < cap && better(key[l], idx[l], key[l + 1], idx[l + 1])) w = l + 1;
      if (!better(k, i, key[w], idx[w])) break;  // new is worse than (or equal to) the worse child: stop
      key[c] = key[w];
      idx[c] = idx[w];
      c = w;
    }
    key[c] = k;
    idx[c] = i;
  }
  double threshold() const { return size < cap ? std::numeric_limits<double>::infinity() : key[0]; }
};

// Smallest float ≥ v (v finite or +inf).
inline float roundUp(double v) {
  float f = static_cast<float>(v);
  if (static_cast<double>(f) < v) f = std::nextafter(f, std::numeric_limits<float>::infinity());
  return f;
}

}  // namespace

void knnGraph(int64_t n, int64_t d, const float* X, int64_t k, KnnMetric metric, int32_t* neighbors) {
  DGC_CHECK(n >= 2, Arg, "knnGraph: n must be at least 2, got ", n);
  DGC_CHECK(n <= std::numeric_limits<int32_t>::max(), Arg, "knnGraph: n = ", n, " does not fit int32 ids");
  DGC_CHECK(d >= 1, Arg, "knnGraph: d must be at least 1, got ", d);
  DGC_CHECK(k >= 1 && k <= n - 1, Arg, "knnGraph: k must be in [1, n-1] = [1, ", n - 1, "], got ", k);
  DGC_CHECK(X != nullptr && neighbors != nullptr, Arg, "knnGraph: null pointer");
  DGC_CHECK(metric == KnnMetric::Heat || metric == KnnMetric::Cosine || metric == KnnMetric::Dot, Arg,
            "knnGraph: unknown metric");

  // Per-row squared norms (float64, summed in order), finiteness check.
  std::vector<double> sq(n);
  std::vector<char> bad(numChunks(n, 1024), 0);
  parallelFor(n, 1024, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float* x = X + i * d;
      double s = 0;
      for (int64_t t = 0; t < d; ++t) {
        if (!std::isfinite(x[t])) bad[b / 1024] = 1;
        s += static_cast<double>(x[t]) * static_cast<double>(x[t]);
      }
      sq[i] = s;
    }
  });
  for (char c : bad) DGC_CHECK(!c, Value, "knnGraph: X holds NaN or infinity");

  // Features the GEMM sees (normalized copy for Cosine), and the filter's per-row / per-column terms:
  //   approx_key(i,j) = a_i + b_j + alpha·dot_f(i,j),  margin = C·(s_i + s_j)
  //   skip j  unless  alpha·dot_f + colTerm_j ≤ rowT_i,  colTerm_j = b_j - C·s_j,  rowT_i = thr_i - a_i + C·s_i.
  const double C = (2.0 * static_cast<double>(d) + 16.0) * std::ldexp(1.0, -24);
  const float* F = X;
  std::vector<float> normalized;
  std::vector<double> invNorm;  // Cosine: 1/|x_i| in float64 (0 for a zero row)
  float alpha = -1.0f;
  std::vector<double> a(n), s(n);
  std::vector<float> colTerm(n);
  if (metric == KnnMetric::Cosine) {
    normalized.resize(static_cast<size_t>(n * d));
    invNorm.resize(n);
    parallelFor(n, 1024, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        double nr = std::sqrt(sq[i]);
        invNorm[i] = nr > 0 ? 1.0 / nr : 0.0;
        for (int64_t t = 0; t < d; ++t)
          normalized[i * d + t] = nr > 0 ? static_cast<float>(static_cast<double>(X[i * d + t]) / nr) : 0.0f;
      }
    });
    F = normalized.data();
  }
  for (int64_t i = 0; i < n; ++i) {
    switch (metric) {
      case KnnMetric::Heat: a[i] = sq[i]; s[i] = sq[i]; break;
      case KnnMetric::Dot: a[i] = 0; s[i] = 0.5 * sq[i]; break;
      case KnnMetric::Cosine: a[i] = 0; s[i] = 0.5; break;
    }
    // colTerm rounded down (the filter must not get stricter), a_i enters via rowT.
    double ct = a[i] - C * s[i];
    float f = static_cast<float>(ct);
    if (static_cast<double>(f) > ct) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
    colTerm[i] = f;
  }
  if (metric == KnnMetric::Heat) alpha = -2.0f;

  auto exactKey = [&](int64_t i, int64_t j) -> double {
    const float* x = X + i * d;
    const float* y = X + j * d;
    double acc = 0;
    if (metric == KnnMetric::Heat) {
      for (int64_t t = 0; t < d; ++t) {
        double df = static_cast<double>(x[t]) - static_cast<double>(y[t]);
        acc += df * df;
      }
      return acc;
    }
    for (int64_t t = 0; t < d; ++t) acc += static_cast<double>(x[t]) * static_cast<double>(y[t]);
    if (metric == KnnMetric::Dot) return -acc;
    if (invNorm[i] == 0 || invNorm[j] == 0) return 0.0;
    return -(acc * invNorm[i] * invNorm[j]);
  };

  const int64_t K1 = k + 1;
  parallelFor(n, kRowBlock, [&](int64_t r0, int64_t r1) {
    const int64_t rb = r1 - r0;
    std::vector<float> tile(static_cast<size_t>(rb * kColBlock));
    std::vector<double> hkey(static_cast<size_t>(rb * K1));
    std::vector<int32_t> hidx(static_cast<size_t>(rb * K1));
    std::vector<RowHeap> heaps(rb);
    std::vector<float> rowT(rb);
    for (int64_t r = 0; r < rb; ++r) {
      heaps[r] = RowHeap{hkey.data() + r * K1, hidx.data() + r * K1, K1, 0};
      rowT[r] = std::numeric_limits<float>::infinity();
    }
    auto updateT = [&](int64_t r) {
      const int64_t i = r0 + r;
      double thr = heaps[r].threshold();
      rowT[r] = std::isinf(thr) ? std::numeric_limits<float>::infinity() : roundUp(thr - a[i] + C * s[i]);
    };
    for (int64_t j0 = 0; j0 < n; j0 += kColBlock) {
      const int64_t cb = std::min(kColBlock, n - j0);
      sgemm(false, true, rb, cb, d, 1.0f, F + r0 * d, d, F + j0 * d, d, 0.0f, tile.data(), kColBlock);
      const float* ct = colTerm.data() + j0;
      for (int64_t r = 0; r < rb; ++r) {
        const float* trow = tile.data() + r * kColBlock;
        float T = rowT[r];
        for (int64_t q0 = 0; q0 < cb; q0 += kScan) {
          const int64_t q1 = std::min(cb, q0 + kScan);
          if (q1 - q0 == kScan) {
            // Branch-free test of kScan columns at once (the compiler vectorizes it); almost always all fail.
            int any = 0;
            for (int64_t q = 0; q < kScan; ++q) any |= (alpha * trow[q0 + q] + ct[q0 + q] <= T);
            if (!any) continue;
          }
          for (int64_t jj = q0; jj < q1; ++jj) {
            if (alpha * trow[jj] + ct[jj] <= T) {
              const int64_t j = j0 + jj;
              heaps[r].push(exactKey(r0 + r, j), static_cast<int32_t>(j));
              updateT(r);
              T = rowT[r];
            }
          }
        }
      }
    }
    // Rank each row's k+1 candidates, drop self (or the (k+1)-th when self is not among them).
    std::vector<std::pair<double, int32_t>> cand(K1);
    for (int64_t r = 0; r < rb; ++r) {
      const int64_t i = r0 + r;
      for (int64_t c = 0; c < K1; ++c) cand[c] = {heaps[r].key[c], heaps[r].idx[c]};
      std::sort(cand.begin(), cand.end(), [](const std::pair<double, int32_t>& p, const std::pair<double, int32_t>& q) {
        return better(p.first, p.second, q.first, q.second);
      });
      int32_t* out = neighbors + i * k;
      int64_t o = 0;
      for (int64_t c = 0; c < K1 && o < k; ++c)
        if (cand[c].second != static_cast<int32_t>(i)) out[o++] = cand[c].second;
    }
  });
}

namespace {

// numpy 1.x npysort/selection: argpartition's introselect on float32 values (npy_float less: a < b; no NaN here).
struct NumpyArgSelect {
  const float* v;
  int64_t* t;  // indices being permuted (tosort)

  bool lt(int64_t a, int64_t b) const { return v[t[a]] < v[t[b]]; }
  void sw(int64_t a, int64_t b) { std::swap(t[a], t[b]); }

  // median5_ on t[base .. base+4]; returns the offset of the median.
  int64_t median5(int64_t b) {
    if (lt(b + 1, b + 0)) sw(b + 1, b + 0);
    if (lt(b + 4, b + 3)) sw(b + 4, b + 3);
    if (lt(b + 3, b + 0)) sw(b + 3, b + 0);
    if (lt(b + 4, b + 1)) sw(b + 4, b + 1);
    if (lt(b + 2, b + 1)) sw(b + 2, b + 1);
    if (lt(b + 3, b + 2)) {
      if (lt(b + 3, b + 1)) return 1;
      return 3;
    }
    return 2;
  }
  // median_of_median5_ on t[b .. b+num-1]; returns the offset of the pivot.
  int64_t medianOfMedian5(int64_t b, int64_t num) {
    const int64_t nmed = num / 5;
    for (int64_t i = 0, sub = 0; i < nmed; ++i, sub += 5) {
      int64_t m = median5(b + sub);
      sw(b + sub + m, b + i);
    }
    if (nmed > 2) select(b, nmed, nmed / 2);
    return nmed / 2;
  }
  static int msb(uint64_t u) {
    int r = 0;
    while (u >>= 1) ++r;
    return r;
  }
  // introselect_ on t[b .. b+num-1] with kth relative to b.
  void select(int64_t b, int64_t num, int64_t kth) {
    int64_t low = 0, high = num - 1;
    if (kth - low < 3) {  // dumb_select
      for (int64_t i = 0; i <= kth; ++i) {
        int64_t mi = i;
        float mv = v[t[b + i]];
        for (int64_t q = i + 1; q < num; ++q)
          if (v[t[b + q]] < mv) { mi = q; mv = v[t[b + q]]; }
        sw(b + i, b + mi);
      }
      return;
    }
    if (kth == num - 1) {  // inexact types: plain max scan
      int64_t mi = low;
      float mv = v[t[b + low]];
      for (int64_t q = low + 1; q < num; ++q)
        if (!(v[t[b + q]] < mv)) { mi = q; mv = v[t[b + q]]; }
      sw(b + kth, b + mi);
      return;
    }
    int depth = msb(static_cast<uint64_t>(num)) * 2;
    while (low + 1 < high) {
      int64_t ll = low + 1, hh = high;
      if (depth > 0 || hh - ll < 5) {
        const int64_t mid = low + (high - low) / 2;
        if (lt(b + high, b + mid)) sw(b + high, b + mid);
        if (lt(b + high, b + low)) sw(b + high, b + low);
        if (lt(b + low, b + mid)) sw(b + low, b + mid);
        sw(b + mid, b + low + 1);
      } else {
        const int64_t mid = ll + medianOfMedian5(b + ll, hh - ll);
        sw(b + mid, b + low);
        --ll;
        ++hh;
      }
      --depth;
      const float pivot = v[t[b + low]];
      for (;;) {
        do ++ll; while (v[t[b + ll]] < pivot);
        do --hh; while (pivot < v[t[b + hh]]);
        if (hh < ll) break;
        sw(b + ll, b + hh);
      }
      sw(b + low, b + hh);
      if (hh >= kth) high = hh - 1;
      if (hh <= kth) low = ll;
    }
    if (high == low + 1 && lt(b + high, b + low)) sw(b + high, b + low);
  }
};

}  // namespace

void knnGraphSdcnOrder(int64_t n, int64_t d, const float* X, int64_t k, int32_t* neighbors) {
  DGC_CHECK(n >= 2, Arg, "knnGraphSdcnOrder: n must be at least 2, got ", n);
  DGC_CHECK(n <= std::numeric_limits<int32_t>::max(), Arg, "knnGraphSdcnOrder: n = ", n, " does not fit int32 ids");
  DGC_CHECK(d >= 1, Arg, "knnGraphSdcnOrder: d must be at least 1, got ", d);
  DGC_CHECK(k >= 1 && k <= n - 1, Arg, "knnGraphSdcnOrder: k must be in [1, n-1] = [1, ", n - 1, "], got ", k);
  DGC_CHECK(X != nullptr && neighbors != nullptr, Arg, "knnGraphSdcnOrder: null pointer");
  std::vector<double> xx(n);
  bool finite = true;
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t t = 0; t < d; ++t) {
      finite = finite && std::isfinite(X[i * d + t]);
      s += static_cast<double>(X[i * d + t]) * static_cast<double>(X[i * d + t]);
    }
    xx[i] = s;
  }
  DGC_CHECK(finite, Value, "knnGraphSdcnOrder: X holds NaN or infinity");
  parallelFor(n, 16, [&](int64_t r0, int64_t r1) {
    std::vector<float> row(n);
    std::vector<int64_t> perm(n);
    std::vector<double> dots(n);
    for (int64_t i = r0; i < r1; ++i) {
      const float* x = X + i * d;
      // Dot products summed over t in order, four columns at a time (independent chains, same results).
      int64_t j4 = 0;
      for (; j4 + 4 <= n; j4 += 4) {
        const float* y0 = X + j4 * d;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (int64_t t = 0; t < d; ++t) {
          const double xv = static_cast<double>(x[t]);
          s0 += xv * static_cast<double>(y0[t]);
          s1 += xv * static_cast<double>(y0[d + t]);
          s2 += xv * static_cast<double>(y0[2 * d + t]);
          s3 += xv * static_cast<double>(y0[3 * d + t]);
        }
        dots[j4] = s0;
        dots[j4 + 1] = s1;
        dots[j4 + 2] = s2;
        dots[j4 + 3] = s3;
      }
      for (; j4 < n; ++j4) {
        const float* y = X + j4 * d;
        double s0 = 0;
        for (int64_t t = 0; t < d; ++t) s0 += static_cast<double>(x[t]) * static_cast<double>(y[t]);
        dots[j4] = s0;
      }
      for (int64_t j = 0; j < n; ++j) {
        double dd = -2.0 * dots[j];
        dd += xx[i];
        dd += xx[j];
        float f = static_cast<float>(dd);
        if (f < 0.0f) f = 0.0f;
        if (j == i) f = 0.0f;
        f = std::sqrt(f);
        f = f * f;
        f = -0.5f * f;
        row[j] = std::exp(f);
      }
      for (int64_t j = 0; j < n; ++j) perm[j] = j;
      NumpyArgSelect sel{row.data(), perm.data()};
      sel.select(0, n, n - (k + 1));
      int32_t* out = neighbors + i * k;
      int64_t o = 0;
      for (int64_t c = n - (k + 1); c < n && o < k; ++c)
        if (perm[c] != i) out[o++] = static_cast<int32_t>(perm[c]);
    }
  });
}

}  // namespace cpu
}  // namespace dgc
