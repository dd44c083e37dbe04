// k-means (scikit-learn semantics) for the CPU backend. See kmeans.h for the algorithm and its conventions.
#include "kmeans.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "../core/error.h"
#include "../core/philox.h"
#include "../core/thread_pool.h"
#include "gemm.h"

namespace dgc {
namespace cpu {
namespace {

// Rows per block for every row-wise pass. A constant, so block boundaries (and hence the order in which double
// partials are combined, and the shapes of the sgemm calls) never depend on the thread count.
constexpr int64_t kRowBlock = 256;

// ‖a − b‖² in double from exact differences. Element c goes to accumulator c % 8 and the accumulators are combined
// in a fixed tree, so the result is fixed by the inputs; the compiler turns the 8 lanes into SIMD registers.
inline double sqDist(const float* a, const float* b, int64_t d) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t c = 0;
  for (; c + 8 <= d; c += 8) {
    for (int l = 0; l < 8; ++l) {
      const double e = static_cast<double>(a[c + l]) - static_cast<double>(b[c + l]);
      s[l] += e * e;
    }
  }
  for (int l = 0; c < d; ++c, ++l) {
    const double e = static_cast<double>(a[c]) - static_cast<double>(b[c]);
    s[l] += e * e;
  }
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// Same as sqDist (same lanes, same order, hence the same value) on inputs already widened to double.
inline double sqDistD(const double* a, const double* b, int64_t d) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t c = 0;
  for (; c + 8 <= d; c += 8) {
    for (int l = 0; l < 8; ++l) {
      const double e = a[c + l] - b[c + l];
      s[l] += e * e;
    }
  }
  for (int l = 0; c < d; ++c, ++l) {
    const double e = a[c] - b[c];
    s[l] += e * e;
  }
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// 53-bit uniform in (0, 1] from Philox block j of (stream, seed).
inline double uniform53(uint64_t j, uint64_t stream, uint64_t seed) {
  const Philox4 r = philox4x32(j, stream, seed);
  const uint64_t bits = ((static_cast<uint64_t>(r.v[0]) << 32) | r.v[1]) >> 11;
  return (static_cast<double>(bits) + 1.0) * (1.0 / 9007199254740992.0);
}

// Sums per-block partials in block order.
inline double orderedSum(const std::vector<double>& partials) {
  double s = 0;
  for (double p : partials) s += p;
  return s;
}

// Assignment: labels from centres (float32 ‖c‖² − 2x·c, ties → lowest index); rowDist[i] (if non-null) gets the
// exact double ‖x_i − c_{label_i}‖²; returns Σ rowDist in block order.
// XT (d×n, optional) is X transposed: with it the sgemm B operand needs no transposition while packing, which is
// the dominant cost for small k (kmeans() builds it once for all its steps).
// wantInertia = false skips the exact distances (returns 0; rowDist untouched).
double assign(int64_t n, int64_t d, const float* X, const float* XT, int64_t k, const float* centers,
              int32_t* labels, double* rowDist, bool wantInertia = true) {
  std::vector<float> cnorm(static_cast<size_t>(k));
  for (int64_t j = 0; j < k; ++j) {
    double s = 0;
    for (int64_t c = 0; c < d; ++c) s += static_cast<double>(centers[j * d + c]) * centers[j * d + c];
    cnorm[j] = static_cast<float>(s);
  }
  const int64_t blocks = numChunks(n, kRowBlock);
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  parallelFor(n, kRowBlock, [&](int64_t r0, int64_t r1) {
    const int64_t rows = r1 - r0;
    std::vector<float> dots(static_cast<size_t>(rows * k));
    // dots (k×rows) = −2 · centers · X[r0:r1]ᵀ (this orientation is ~2× faster than rows×k for small k).
    if (XT)
      sgemm(false, false, k, rows, d, -2.0f, centers, d, XT + r0, n, 0.0f, dots.data(), rows);
    else
      sgemm(false, true, k, rows, d, -2.0f, centers, d, X + r0 * d, d, 0.0f, dots.data(), rows);
    std::vector<float> bestScore(static_cast<size_t>(rows));
    std::vector<int32_t> bestJ(static_cast<size_t>(rows), 0);
    for (int64_t i = 0; i < rows; ++i) bestScore[i] = cnorm[0] + dots[i];
    for (int64_t j = 1; j < k; ++j) {
      const float* col = dots.data() + j * rows;
      const float cj = cnorm[j];
      for (int64_t i = 0; i < rows; ++i) {
        const float s = cj + col[i];
        if (s < bestScore[i]) {  // strict: ties keep the lowest index
          bestScore[i] = s;
          bestJ[i] = static_cast<int32_t>(j);
        }
      }
    }
    double acc = 0;
    for (int64_t i = 0; i < rows; ++i) {
      const int32_t best = bestJ[i];
      labels[r0 + i] = best;
      if (!wantInertia) continue;
      const double dist = sqDist(X + (r0 + i) * d, centers + best * d, d);
      if (rowDist) rowDist[r0 + i] = dist;
      acc += dist;
    }
    partial[static_cast<size_t>(r0 / kRowBlock)] = acc;
  });
  return orderedSum(partial);
}

// Exact inertia of given labels and centres (double, block order).
double inertiaOf(int64_t n, int64_t d, const float* X, const float* centers, const int32_t* labels) {
  const int64_t blocks = numChunks(n, kRowBlock);
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  parallelFor(n, kRowBlock, [&](int64_t r0, int64_t r1) {
    double acc = 0;
    for (int64_t i = r0; i < r1; ++i) acc += sqDist(X + i * d, centers + static_cast<int64_t>(labels[i]) * d, d);
    partial[static_cast<size_t>(r0 / kRowBlock)] = acc;
  });
  return orderedSum(partial);
}

// Centre update from labels. rowDist = exact distances of the rows to their (old) centres, used only for
// empty-cluster relocation; if null they are computed here when needed (`centers` still holds the old centres then).
void updateCenters(int64_t n, int64_t d, const float* X, int64_t k, float* centers, const int32_t* labels,
                   const double* rowDist) {
  std::vector<double> sums(static_cast<size_t>(k * d), 0.0);
  std::vector<int64_t> counts(static_cast<size_t>(k), 0);
  for (int64_t i = 0; i < n; ++i) ++counts[labels[i]];
  // Each feature column is summed by exactly one task, in row order: deterministic for any thread count, so the
  // grain may depend on it.
  const int64_t nt = std::max(1, numThreads());
  const int64_t colGrain = std::max<int64_t>(1, (d + nt - 1) / nt);
  parallelFor(d, colGrain, [&](int64_t c0, int64_t c1) {
    const int64_t w = c1 - c0;
    for (int64_t i = 0; i < n; ++i) {
      const float* x = X + i * d + c0;
      double* s = sums.data() + static_cast<int64_t>(labels[i]) * d + c0;
      for (int64_t c = 0; c < w; ++c) s[c] += x[c];
    }
  });

  // Empty clusters: sklearn's relocation to the rows farthest from their assigned centre.
  std::vector<int64_t> empty;
  for (int64_t j = 0; j < k; ++j)
    if (counts[j] == 0) empty.push_back(j);
  if (!empty.empty()) {
    const int64_t m = static_cast<int64_t>(empty.size());  // m ≤ k − 1 < n
    std::vector<double> ownDist;
    if (!rowDist) {
      ownDist.resize(static_cast<size_t>(n));
      parallelFor(n, kRowBlock, [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0; i < r1; ++i)
          ownDist[i] = sqDist(X + i * d, centers + static_cast<int64_t>(labels[i]) * d, d);
      });
      rowDist = ownDist.data();
    }
    std::vector<int64_t> idx(static_cast<size_t>(n));
    std::iota(idx.begin(), idx.end(), int64_t{0});
    std::partial_sort(idx.begin(), idx.begin() + m, idx.end(), [&](int64_t a, int64_t b) {
      return rowDist[a] > rowDist[b] || (rowDist[a] == rowDist[b] && a < b);
    });
    for (int64_t f = 0; f < m; ++f) {
      const int64_t far = idx[f], to = empty[f], from = labels[far];
      const float* x = X + far * d;
      for (int64_t c = 0; c < d; ++c) {
        sums[from * d + c] -= x[c];
        sums[to * d + c] = x[c];
      }
      --counts[from];
      counts[to] = 1;
    }
  }
  for (int64_t j = 0; j < k; ++j) {
    if (counts[j] <= 0) continue;  // only a donor emptied by relocation: keeps its previous centre
    const double inv = static_cast<double>(counts[j]);
    for (int64_t c = 0; c < d; ++c) centers[j * d + c] = static_cast<float>(sums[j * d + c] / inv);
  }
}

// Lloyd step; with wantInertia = false the exact distances are skipped (returns 0), which kmeans() uses since it
// needs the inertia only after the last step.
double lloydStepT(int64_t n, int64_t d, const float* X, const float* XT, int64_t k, float* centers,
                  int32_t* labels, bool wantInertia) {
  std::vector<double> rowDist(static_cast<size_t>(wantInertia ? n : 0));
  const double inertia =
      assign(n, d, X, XT, k, centers, labels, wantInertia ? rowDist.data() : nullptr, wantInertia);
  updateCenters(n, d, X, k, centers, labels, wantInertia ? rowDist.data() : nullptr);
  return inertia;
}

// sklearn's _is_same_clustering: labels a map onto labels b through a function of the label (one-directional).
bool sameClustering(const std::vector<int32_t>& a, const std::vector<int32_t>& b, int64_t k) {
  std::vector<int32_t> map(static_cast<size_t>(k), -1);
  for (size_t i = 0; i < a.size(); ++i) {
    int32_t& m = map[static_cast<size_t>(a[i])];
    if (m == -1)
      m = b[i];
    else if (m != b[i])
      return false;
  }
  return true;
}

}  // namespace

double kmeansAssign(int64_t n, int64_t d, const float* X, int64_t k, const float* centers, int32_t* labels) {
  return assign(n, d, X, nullptr, k, centers, labels, nullptr);
}

double lloydStep(int64_t n, int64_t d, const float* X, int64_t k, float* centers, int32_t* labels) {
  return lloydStepT(n, d, X, nullptr, k, centers, labels, true);
}

void kmeansPlusPlus(int64_t n, int64_t d, const float* X, int64_t k, uint64_t seed, uint64_t stream,
                    float* centers) {
  const int64_t trials = 2 + static_cast<int64_t>(std::floor(std::log(static_cast<double>(k))));
  // First centre: uniform row.
  {
    const uint64_t bits = static_cast<uint64_t>(std::ldexp(uniform53(0, stream, seed), 53)) - 1;  // [0, 2^53)
    int64_t id = static_cast<int64_t>(std::ldexp(static_cast<double>(bits), -53) * static_cast<double>(n));
    id = std::min(std::max<int64_t>(id, 0), n - 1);
    std::copy(X + id * d, X + (id + 1) * d, centers);
  }
  if (k == 1) return;
  std::vector<double> closest(static_cast<size_t>(n)), cum(static_cast<size_t>(n));
  parallelFor(n, kRowBlock, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) closest[i] = sqDist(X + i * d, centers, d);
  });
  const int64_t blocks = numChunks(n, kRowBlock);
  std::vector<double> candDist(static_cast<size_t>(trials * n));
  std::vector<double> partial(static_cast<size_t>(blocks * trials));
  std::vector<int64_t> cand(static_cast<size_t>(trials));
  std::vector<double> candD(static_cast<size_t>(trials * d));
  for (int64_t c = 1; c < k; ++c) {
    double total = 0;
    for (int64_t i = 0; i < n; ++i) {
      total += closest[i];
      cum[i] = total;
    }
    for (int64_t t = 0; t < trials; ++t) {
      const double r = uniform53(static_cast<uint64_t>(1 + (c - 1) * trials + t), stream, seed) * total;
      int64_t id = std::lower_bound(cum.begin(), cum.end(), r) - cum.begin();  // np.searchsorted(side='left')
      cand[t] = std::min(id, n - 1);
    }
    for (int64_t t = 0; t < trials; ++t)
      for (int64_t c2 = 0; c2 < d; ++c2) candD[t * d + c2] = X[cand[t] * d + c2];
    parallelFor(n, kRowBlock, [&](int64_t r0, int64_t r1) {
      const int64_t b = r0 / kRowBlock;
      std::vector<double> xd(static_cast<size_t>(d));
      double acc[64];  // trials = 2 + floor(ln k) ≤ 2 + 44 for any int64 k
      for (int64_t t = 0; t < trials; ++t) acc[t] = 0;
      for (int64_t i = r0; i < r1; ++i) {
        for (int64_t c2 = 0; c2 < d; ++c2) xd[c2] = X[i * d + c2];
        for (int64_t t = 0; t < trials; ++t) {
          const double v = std::min(closest[i], sqDistD(xd.data(), candD.data() + t * d, d));
          candDist[t * n + i] = v;
          acc[t] += v;
        }
      }
      for (int64_t t = 0; t < trials; ++t) partial[b * trials + t] = acc[t];
    });
    int64_t best = 0;
    double bestPot = 0;
    for (int64_t t = 0; t < trials; ++t) {
      double pot = 0;
      for (int64_t b = 0; b < blocks; ++b) pot += partial[b * trials + t];
      if (t == 0 || pot < bestPot) {
        bestPot = pot;
        best = t;
      }
    }
    std::copy(candDist.begin() + best * n, candDist.begin() + (best + 1) * n, closest.begin());
    std::copy(X + cand[best] * d, X + (cand[best] + 1) * d, centers + c * d);
  }
}

KMeansResult kmeans(int64_t n, int64_t d, const float* X, const KMeansOptions& opts) {
  const int64_t k = opts.k;
  DGC_CHECK(n >= 1 && d >= 1, Arg, "kmeans: X must be n×d with n, d ≥ 1, got ", n, "x", d);
  DGC_CHECK(k >= 1 && k <= n, Arg, "kmeans: k must be in [1, n = ", n, "], got ", k);
  DGC_CHECK(opts.nInit >= 1, Arg, "kmeans: nInit must be ≥ 1, got ", opts.nInit);
  DGC_CHECK(opts.maxIter >= 1, Arg, "kmeans: maxIter must be ≥ 1, got ", opts.maxIter);
  DGC_CHECK(opts.tol >= 0, Arg, "kmeans: tol must be ≥ 0, got ", opts.tol);

  // Column means and variances (double, one task per column range, row order).
  std::vector<double> mean(static_cast<size_t>(d), 0.0), var(static_cast<size_t>(d), 0.0);
  bool finite = true;
  for (int64_t i = 0; i < n * d && finite; ++i) finite = std::isfinite(X[i]);
  DGC_CHECK(finite, Value, "kmeans: X contains NaN or Inf");
  {
    const int64_t nt = std::max(1, numThreads());
    const int64_t colGrain = std::max<int64_t>(1, (d + nt - 1) / nt);
    parallelFor(d, colGrain, [&](int64_t c0, int64_t c1) {
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = c0; c < c1; ++c) mean[c] += X[i * d + c];
      for (int64_t c = c0; c < c1; ++c) mean[c] /= static_cast<double>(n);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = c0; c < c1; ++c) {
          const double e = X[i * d + c] - mean[c];
          var[c] += e * e;
        }
      for (int64_t c = c0; c < c1; ++c) var[c] /= static_cast<double>(n);
    });
  }
  double meanVar = 0;
  for (int64_t c = 0; c < d; ++c) meanVar += var[c];
  meanVar /= static_cast<double>(d);
  const double tolAbs = meanVar * opts.tol;

  std::vector<float> Xc(static_cast<size_t>(n * d));
  parallelFor(n, kRowBlock, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i)
      for (int64_t c = 0; c < d; ++c) Xc[i * d + c] = static_cast<float>(X[i * d + c] - mean[c]);
  });

  std::vector<float> XcT(static_cast<size_t>(n * d));  // d×n, for the assignment GEMM
  parallelFor(n, kRowBlock, [&](int64_t r0, int64_t r1) {
    for (int64_t c = 0; c < d; ++c)
      for (int64_t i = r0; i < r1; ++i) XcT[c * n + i] = Xc[i * d + c];
  });

  KMeansResult best;
  best.inertia = 0;
  best.iterations = 0;
  best.bestInit = -1;
  std::vector<float> centers(static_cast<size_t>(k * d)), old(static_cast<size_t>(k * d));
  std::vector<int32_t> labels(static_cast<size_t>(n)), labelsOld(static_cast<size_t>(n));
  for (int r = 0; r < opts.nInit; ++r) {
    kmeansPlusPlus(n, d, Xc.data(), k, opts.seed, static_cast<uint64_t>(r), centers.data());
    std::fill(labelsOld.begin(), labelsOld.end(), -1);
    bool strict = false;
    int iters = 0;
    for (int it = 0; it < opts.maxIter; ++it) {
      old = centers;
      lloydStepT(n, d, Xc.data(), XcT.data(), k, centers.data(), labels.data(), false);
      iters = it + 1;
      if (labels == labelsOld) {
        strict = true;
        break;
      }
      double shift = 0;
      for (int64_t q = 0; q < k * d; ++q) {
        const double e = static_cast<double>(centers[q]) - old[q];
        shift += e * e;
      }
      if (shift <= tolAbs) break;
      labelsOld.swap(labels);
    }
    // After a tol break, `labels` holds the last step's labels (the swap is skipped); re-label with final centres.
    const double inertia = strict ? inertiaOf(n, d, Xc.data(), centers.data(), labels.data())
                                  : assign(n, d, Xc.data(), XcT.data(), k, centers.data(), labels.data(), nullptr);
    if (best.bestInit < 0 || (inertia < best.inertia && !sameClustering(labels, best.labels, k))) {
      best.inertia = inertia;
      best.iterations = iters;
      best.bestInit = r;
      best.centers = centers;
      best.labels = labels;
    }
  }
  for (int64_t j = 0; j < k; ++j)
    for (int64_t c = 0; c < d; ++c)
      best.centers[j * d + c] = static_cast<float>(static_cast<double>(best.centers[j * d + c]) + mean[c]);
  return best;
}

}  // namespace cpu
}  // namespace dgc
