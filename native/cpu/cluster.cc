// Clustering-head kernels: see cluster.h for the formulas, the spec sections and the output semantics.
//
// Layout of this file
//   1. helpers: reduction chunking, the Student-t row evaluation (relative to the nearest centre) and the row
//      backward.
//   2. runStudentTLoss: one pass over the rows that evaluates Q, asks a per-row "loss rule" for the loss and
//      ∂L/∂log u, and applies the shared chain rule to z_i and μ. Every Student-t loss and studentTBackward use it.
//   3. the public Student-t / target-distribution / loss functions.
//   4. CDC pairwise kernels.
#include "cluster.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../core/thread_pool.h"

namespace dgc {
namespace cpu {
namespace {

// ---------------------------------------------------------------------------------------------------------------
// 1. Helpers

constexpr int64_t kMaxReductionChunks = 256;
constexpr int64_t kMinReductionRows = 64;
constexpr double kPairClipMin = 1e-10;  // dcl-trinh.md §2.1 PairKernel clip
constexpr double kKlClipMin = 1e-7;     // Keras KLDivergence clip (dcl-trinh.md RowKL)
constexpr double kFocalClipMin = 1e-7;  // dccf.md §2: clamp s to [1e-7, 1] before the log

// Rows per chunk for passes that reduce over rows. Depends only on the row count, never on the thread count,
// so the partials and the order they are combined in are the same for any number of threads.
int64_t reductionGrain(int64_t rows) {
  return std::max(kMinReductionRows, (rows + kMaxReductionChunks - 1) / kMaxReductionChunks);
}

// Sums per-chunk partials (chunks × width, row-major) in chunk order.
void combinePartials(const std::vector<double>& partials, int64_t chunks, int64_t width, double* out) {
  for (int64_t c = 0; c < width; ++c) out[c] = 0.0;
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const double* p = partials.data() + ch * width;
    for (int64_t c = 0; c < width; ++c) out[c] += p[c];
  }
}

double sumInOrder(const std::vector<double>& partials) {
  double s = 0.0;
  for (double v : partials) s += v;
  return s;
}

// Squared Euclidean distance of two float rows, by direct differences accumulated in double (four independent
// accumulators, combined in a fixed order).
inline double squaredDistance(const float* a, const float* b, int64_t w) {
  double acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
  int64_t c = 0;
  for (; c + 4 <= w; c += 4) {
    const double d0 = double(a[c]) - double(b[c]);
    const double d1 = double(a[c + 1]) - double(b[c + 1]);
    const double d2 = double(a[c + 2]) - double(b[c + 2]);
    const double d3 = double(a[c + 3]) - double(b[c + 3]);
    acc0 += d0 * d0;
    acc1 += d1 * d1;
    acc2 += d2 * d2;
    acc3 += d3 * d3;
  }
  for (; c < w; ++c) {
    const double dc = double(a[c]) - double(b[c]);
    acc0 += dc * dc;
  }
  return (acc0 + acc1) + (acc2 + acc3);
}

// The Student-t kernel u(D) = (1 + D/ν)^(−e), e = (ν+1)/2, evaluated as a power of a ratio in (0, 1] so that
// nothing over- or underflows into NaN: for ν = 1 (every paper's setting) no transcendental function is needed.
struct StudentTKernel {
  double nu;
  double exponent;  // e = (ν+1)/2
  explicit StudentTKernel(double nu_) : nu(nu_), exponent(0.5 * (nu_ + 1.0)) {}
  // ratio^e for a ratio in (0, 1].
  double power(double ratio) const { return exponent == 1.0 ? ratio : std::pow(ratio, exponent); }
  // u(D) = (ν/(ν + D))^e ∈ (0, 1]; may underflow to 0 for astronomically large D (never NaN).
  double value(double dist) const { return power(nu / (nu + dist)); }
  // ∂ log u / ∂D = −e/(ν + D)
  double dLogUdDist(double dist) const { return -exponent / (nu + dist); }
};

// One row of the soft assignment, evaluated relative to the nearest centre (distance D_min):
//   ratio_j = (ν + D_min)/(ν + D_j) ∈ (0, 1],  w_j = ratio_j^e,  S = Σ_j w_j ∈ [1, k],  q_j = w_j / S,
//   log q_j = e·(log(ν + D_min) − log(ν + D_j)) − log S.
// This is u_j/Σu exactly (the common factor u(D_min) cancels) and cannot overflow or give 0/0: the nearest
// centre has w = 1 exactly, so S ≥ 1; other w_j may underflow to 0, but log q_j stays finite.
struct SoftAssignRow {
  std::vector<double> dist, ratio, q;
  double logSum = 0.0;
  double logNearest = 0.0;  // log(ν + D_min)
  double nu = 1.0, exponent = 1.0;
  explicit SoftAssignRow(int64_t k) : dist(k), ratio(k), q(k) {}

  void evaluate(const float* z, const float* mu, int64_t k, int64_t d, const StudentTKernel& kern) {
    nu = kern.nu;
    exponent = kern.exponent;
    double minDist = std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < k; ++j) {
      dist[j] = squaredDistance(z, mu + j * d, d);
      minDist = std::min(minDist, dist[j]);
    }
    double sum = 0.0;
    for (int64_t j = 0; j < k; ++j) {
      ratio[j] = (kern.nu + minDist) / (kern.nu + dist[j]);
      q[j] = kern.power(ratio[j]);
      sum += q[j];
    }
    const double inv = 1.0 / sum;
    for (int64_t j = 0; j < k; ++j) q[j] *= inv;
    logSum = std::log(sum);
    logNearest = std::log(nu + minDist);
  }
  // log q_j, finite even where q_j (or the ratio) underflowed.
  double logq(int64_t j) const { return exponent * (logNearest - std::log(nu + dist[j])) - logSum; }
};

// Chain rule for row i from gLogU[j] = ∂L/∂log u_ij to z_i and μ:
//   a_j = 2·∂L/∂D_ij = 2·gLogU_j·∂log u/∂D;  dz += a_j (z − μ_j);  dMu_j −= a_j (z − μ_j).
// dz (d doubles) and dMuPartial (k×d doubles) are accumulated; either may be null. zd is z_i in double.
void studentTRowBackward(const double* zd, const float* mu, int64_t k, int64_t d, const StudentTKernel& kern,
                         const double* dist, const double* gLogU, double* __restrict dz,
                         double* __restrict dMuPartial) {
  for (int64_t j = 0; j < k; ++j) {
    const double a = 2.0 * gLogU[j] * kern.dLogUdDist(dist[j]);
    if (a == 0.0) continue;
    const float* m = mu + j * d;
    if (dz && dMuPartial) {
      double* g = dMuPartial + j * d;
      for (int64_t c = 0; c < d; ++c) {
        const double t = a * (zd[c] - double(m[c]));
        dz[c] += t;
        g[c] -= t;
      }
    } else if (dz) {
      for (int64_t c = 0; c < d; ++c) dz[c] += a * (zd[c] - double(m[c]));
    } else {
      double* g = dMuPartial + j * d;
      for (int64_t c = 0; c < d; ++c) g[c] -= a * (zd[c] - double(m[c]));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 2. The shared Student-t loss pass.
//
// rule(i, row, gLogU) returns row i's (scaled) loss as up to two separately reported parts and fills
// gLogU[j] = ∂loss/∂log u_ij (it must always write all k entries; they are ignored when no gradient is
// requested). row holds the soft assignment of row i in double. Returns the two parts summed over rows.
struct LossParts {
  double first = 0.0, second = 0.0;
};

template <typename RowRule>
LossParts runStudentTLoss(int64_t n, int64_t k, int64_t d, const float* Z, const float* mu, double nu, float* Q,
                          float* dZ, float* dMu, const RowRule& rule) {
  const StudentTKernel kern(nu);
  const bool wantGrad = dZ || dMu;
  const int64_t grain = reductionGrain(n);
  const int64_t chunks = numChunks(n, grain);
  std::vector<double> lossPartials(chunks * 2, 0.0);  // (first, second) per chunk
  std::vector<double> muPartials(dMu ? chunks * k * d : 0, 0.0);

  parallelFor(n, grain, [&](int64_t begin, int64_t end) {
    const int64_t chunk = begin / grain;
    SoftAssignRow row(k);
    std::vector<double> gLogU(k), dz(d), zd(d);
    double* muPartial = dMu ? muPartials.data() + chunk * k * d : nullptr;
    LossParts loss;
    for (int64_t i = begin; i < end; ++i) {
      const float* z = Z + i * d;
      row.evaluate(z, mu, k, d, kern);
      if (Q) {
        for (int64_t j = 0; j < k; ++j) Q[i * k + j] = static_cast<float>(row.q[j]);
      }
      const LossParts part = rule(i, row, gLogU.data());
      loss.first += part.first;
      loss.second += part.second;
      if (!wantGrad) continue;
      std::fill(dz.begin(), dz.end(), 0.0);
      for (int64_t c = 0; c < d; ++c) zd[c] = z[c];
      studentTRowBackward(zd.data(), mu, k, d, kern, row.dist.data(), gLogU.data(), dZ ? dz.data() : nullptr, muPartial);
      if (dZ) {
        for (int64_t c = 0; c < d; ++c) dZ[i * d + c] = static_cast<float>(dz[c]);
      }
    }
    lossPartials[2 * chunk] = loss.first;
    lossPartials[2 * chunk + 1] = loss.second;
  });

  if (dMu) {
    std::vector<double> total(k * d);
    combinePartials(muPartials, chunks, k * d, total.data());
    for (int64_t c = 0; c < k * d; ++c) dMu[c] = static_cast<float>(total[c]);
  }
  double sums[2];
  combinePartials(lossPartials, chunks, 2, sums);
  LossParts total;
  total.first = sums[0];
  total.second = sums[1];
  return total;
}

// First index of the row maximum.
int64_t argmaxRow(const float* row, int64_t k) {
  int64_t best = 0;
  for (int64_t j = 1; j < k; ++j) {
    if (row[j] > row[best]) best = j;
  }
  return best;
}

// KL(P‖Q) row rule: loss_i = scale·Σ_j p_ij (log p_ij − log q_ij) (0·log 0 = 0);
// ∂loss/∂log u_ij = −scale·(p_ij − q_ij·Σ_l p_il)  (log q_ij = log u_ij − log Σ_l u_il).
// Adds into gLogU.
double klRow(const float* p, const SoftAssignRow& row, int64_t k, double scale, double* gLogU) {
  double loss = 0.0, rowSum = 0.0;
  for (int64_t j = 0; j < k; ++j) {
    const double pj = p[j];
    rowSum += pj;
    if (pj > 0.0) {
      // One log per entry; the log-space form where q underflowed (or is too small for p/q to be finite).
      const double qj = row.q[j];
      loss += pj * (qj > 1e-280 ? std::log(pj / qj) : std::log(pj) - row.logq(j));
    }
  }
  for (int64_t j = 0; j < k; ++j) gLogU[j] += -scale * (double(p[j]) - row.q[j] * rowSum);
  return scale * loss;
}

// Focal row rule (hard label c = argmax p): loss_i = −scale·(1 − p̂)^γ log p̂, p̂ = clamp(q_c, 1e-7, 1).
// Where the clamp is inactive, ∂loss/∂q_c = g and ∂log q_c/∂log u_j = 1[j=c] − q_j, so
// ∂loss/∂log u_j = g·q_c·(1[j=c] − q_j) with g·q_c = scale·[γ(1−q_c)^{γ−1} q_c log q_c − (1−q_c)^γ].
// Adds into gLogU.
double focalRow(const float* p, const SoftAssignRow& row, int64_t k, double gamma, double scale, double* gLogU) {
  const int64_t c = argmaxRow(p, k);
  const double s = row.q[c];
  const bool clamped = !(s >= kFocalClipMin && s <= 1.0);
  const double sClamped = std::min(1.0, std::max(kFocalClipMin, s));
  const double oneMinus = 1.0 - sClamped;
  const double logS = clamped ? std::log(sClamped) : std::min(0.0, row.logq(c));
  const double loss = -scale * std::pow(oneMinus, gamma) * logS;
  if (!clamped) {
    const double first = oneMinus > 0.0 ? gamma * std::pow(oneMinus, gamma - 1.0) * s * logS : 0.0;
    const double gTimesS = scale * (first - std::pow(oneMinus, gamma));
    for (int64_t j = 0; j < k; ++j) gLogU[j] += gTimesS * ((j == c ? 1.0 : 0.0) - row.q[j]);
  }
  return loss;
}

double klFocalImpl(int64_t n, int64_t k, int64_t d, const float* Z, const float* mu, double nu, const float* P,
                   double klScale, double focalScale, double gamma, float* Q, float* dZ, float* dMu,
                   double* klLoss, double* focalLoss) {
  const bool withKl = klScale != 0.0, withFocal = focalScale != 0.0;
  const LossParts parts = runStudentTLoss(n, k, d, Z, mu, nu, Q, dZ, dMu,
                                          [&](int64_t i, const SoftAssignRow& row, double* gLogU) {
                                            std::fill(gLogU, gLogU + k, 0.0);
                                            const float* p = P + i * k;
                                            LossParts part;
                                            if (withKl) part.first = klRow(p, row, k, klScale, gLogU);
                                            if (withFocal) part.second = focalRow(p, row, k, gamma, focalScale, gLogU);
                                            return part;
                                          });
  if (klLoss) *klLoss = parts.first;
  if (focalLoss) *focalLoss = parts.second;
  return parts.first + parts.second;
}

// Column sums of an n×k matrix in double, deterministic (fixed row chunks combined in order).
std::vector<double> columnSums(int64_t n, int64_t k, const float* M) {
  const int64_t grain = reductionGrain(n);
  const int64_t chunks = numChunks(n, grain);
  std::vector<double> partials(chunks * k, 0.0);
  parallelFor(n, grain, [&](int64_t begin, int64_t end) {
    double* part = partials.data() + (begin / grain) * k;
    for (int64_t i = begin; i < end; ++i) {
      for (int64_t j = 0; j < k; ++j) part[j] += M[i * k + j];
    }
  });
  std::vector<double> sums(k);
  combinePartials(partials, chunks, k, sums.data());
  return sums;
}

// Row grain for row-wise passes whose rows are independent (any grain gives the same result).
int64_t rowGrain(int64_t n, int64_t costPerRow) { return grainFor(n, std::max<int64_t>(1, costPerRow)); }

// ---------------------------------------------------------------------------------------------------------------
// 4 (helpers). CDC pairwise kernels.

// Full symmetric b×b matrix of squared distances (double), D_ii = 0. Row i computes the pairs j > i and mirrors
// them, so every entry is written by exactly one chunk and D is exactly symmetric.
std::vector<double> pairwiseSquaredDistances(int64_t b, int64_t w, const float* Y) {
  std::vector<double> D(b * b, 0.0);
  const int64_t grain = std::max<int64_t>(1, std::min<int64_t>(16, 32768 / std::max<int64_t>(1, b * w)));
  parallelFor(b, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      for (int64_t j = i + 1; j < b; ++j) {
        const double dist = squaredDistance(Y + i * w, Y + j * w, w);
        D[i * b + j] = dist;
        D[j * b + i] = dist;
      }
    }
  });
  return D;
}

// Row i of the pair kernel, K_ij = (1 + D_ij/ν)^(−(ν+1)/2) (K_ii = 1 exactly), and its sum R_i (column order).
double pairKernelRow(const double* Drow, int64_t b, const StudentTKernel& kern, double* Krow) {
  double R = 0.0;
  for (int64_t j = 0; j < b; ++j) {
    Krow[j] = kern.value(Drow[j]);
    R += Krow[j];
  }
  return R;
}

void pairAffinityFromDistances(int64_t b, const std::vector<double>& D, double nu, float* C) {
  const StudentTKernel kern(nu);
  parallelFor(b, rowGrain(b, 40 * b), [&](int64_t begin, int64_t end) {
    std::vector<double> Krow(b);
    for (int64_t i = begin; i < end; ++i) {
      const double R = pairKernelRow(D.data() + i * b, b, kern, Krow.data());
      for (int64_t j = 0; j < b; ++j) {
        const double c = Krow[j] / R;
        C[i * b + j] = static_cast<float>(std::min(1.0, std::max(kPairClipMin, c)));
      }
    }
  });
}

void pairAffinityBackwardFromDistances(int64_t b, int64_t w, const float* Y, const std::vector<double>& D, double nu,
                                       const float* dC, float* dY) {
  const StudentTKernel kern(nu);
  // Pass 1, per row i: H_ij = ∂L/∂D_ij through K_ij only (the K_ji dependence is row j's H_ji).
  std::vector<double> H(b * b);
  parallelFor(b, rowGrain(b, 50 * b), [&](int64_t begin, int64_t end) {
    std::vector<double> Krow(b), gMasked(b);
    for (int64_t i = begin; i < end; ++i) {
      const double* Drow = D.data() + i * b;
      const double R = pairKernelRow(Drow, b, kern, Krow.data());
      double dot = 0.0;  // Σ_l G'_il C̃_il
      for (int64_t j = 0; j < b; ++j) {
        const double c = Krow[j] / R;
        gMasked[j] = (c >= kPairClipMin && c <= 1.0) ? double(dC[i * b + j]) : 0.0;
        dot += gMasked[j] * c;
      }
      for (int64_t j = 0; j < b; ++j) {
        const double gK = (gMasked[j] - dot) / R;
        H[i * b + j] = gK * Krow[j] * kern.dLogUdDist(Drow[j]);  // ∂K/∂D = K·∂log u/∂D
      }
    }
  });
  // Pass 2, per row i: dY_i = 2 Σ_j (H_ij + H_ji)(y_i − y_j).
  parallelFor(b, rowGrain(b, 3 * b * w), [&](int64_t begin, int64_t end) {
    std::vector<double> acc(w);
    for (int64_t i = begin; i < end; ++i) {
      std::fill(acc.begin(), acc.end(), 0.0);
      const float* yi = Y + i * w;
      for (int64_t j = 0; j < b; ++j) {
        if (j == i) continue;
        const double a = 2.0 * (H[i * b + j] + H[j * b + i]);
        if (a == 0.0) continue;
        const float* yj = Y + j * w;
        for (int64_t c = 0; c < w; ++c) acc[c] += a * (double(yi[c]) - double(yj[c]));
      }
      for (int64_t c = 0; c < w; ++c) dY[i * w + c] = static_cast<float>(acc[c]);
    }
  });
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// 3. Student-t, target distribution and the fused losses.

void studentT(int64_t n, int64_t k, int64_t d, const float* Z, const float* mu, double nu, float* Q) {
  const StudentTKernel kern(nu);
  parallelFor(n, rowGrain(n, k * (3 * d + 10)), [&](int64_t begin, int64_t end) {
    SoftAssignRow row(k);
    for (int64_t i = begin; i < end; ++i) {
      row.evaluate(Z + i * d, mu, k, d, kern);
      for (int64_t j = 0; j < k; ++j) Q[i * k + j] = static_cast<float>(row.q[j]);
    }
  });
}

void studentTBackward(int64_t n, int64_t k, int64_t d, const float* Z, const float* mu, double nu, const float* Q,
                      const float* dQ, float* dZ, float* dMu) {
  // h = dQ ⊙ Q, ∂log u_ij = h_ij − q_ij Σ_l h_il (with the given Q, as autograd saved it).
  runStudentTLoss(n, k, d, Z, mu, nu, nullptr, dZ, dMu,
                  [&](int64_t i, const SoftAssignRow&, double* gLogU) {
                    const float* q = Q + i * k;
                    const float* g = dQ + i * k;
                    double hSum = 0.0;
                    for (int64_t j = 0; j < k; ++j) {
                      gLogU[j] = double(g[j]) * double(q[j]);
                      hSum += gLogU[j];
                    }
                    for (int64_t j = 0; j < k; ++j) gLogU[j] -= double(q[j]) * hSum;
                    return LossParts();
                  });
}

void targetDistribution(int64_t n, int64_t k, const float* Q, float* P) {
  const std::vector<double> f = columnSums(n, k, Q);
  parallelFor(n, rowGrain(n, 4 * k), [&](int64_t begin, int64_t end) {
    std::vector<double> W(k);
    for (int64_t i = begin; i < end; ++i) {
      double T = 0.0;
      for (int64_t j = 0; j < k; ++j) {
        const double q = Q[i * k + j];
        W[j] = f[j] > 0.0 ? q * q / f[j] : 0.0;
        T += W[j];
      }
      for (int64_t j = 0; j < k; ++j) P[i * k + j] = T > 0.0 ? static_cast<float>(W[j] / T) : 0.0f;
    }
  });
}

void targetDistributionBackward(int64_t n, int64_t k, const float* Q, const float* dP, float* dQ) {
  const std::vector<double> f = columnSums(n, k, Q);
  // Pass 1: colTerm_j = Σ_r GW_rj W_rj (deterministic chunks). Pass 2 recomputes the row's GW.
  auto rowGW = [&](int64_t i, double* W, double* GW) {
    double T = 0.0;
    for (int64_t j = 0; j < k; ++j) {
      const double q = Q[i * k + j];
      W[j] = f[j] > 0.0 ? q * q / f[j] : 0.0;
      T += W[j];
    }
    if (!(T > 0.0)) {
      for (int64_t j = 0; j < k; ++j) GW[j] = 0.0;
      return;
    }
    double dot = 0.0;  // Σ_l dP_il S_il
    for (int64_t j = 0; j < k; ++j) dot += double(dP[i * k + j]) * (W[j] / T);
    for (int64_t j = 0; j < k; ++j) GW[j] = (double(dP[i * k + j]) - dot) / T;
  };
  const int64_t grain = reductionGrain(n);
  const int64_t chunks = numChunks(n, grain);
  std::vector<double> partials(chunks * k, 0.0);
  parallelFor(n, grain, [&](int64_t begin, int64_t end) {
    std::vector<double> W(k), GW(k);
    double* part = partials.data() + (begin / grain) * k;
    for (int64_t i = begin; i < end; ++i) {
      rowGW(i, W.data(), GW.data());
      for (int64_t j = 0; j < k; ++j) part[j] += GW[j] * W[j];
    }
  });
  std::vector<double> colTerm(k);
  combinePartials(partials, chunks, k, colTerm.data());
  parallelFor(n, rowGrain(n, 8 * k), [&](int64_t begin, int64_t end) {
    std::vector<double> W(k), GW(k);
    for (int64_t i = begin; i < end; ++i) {
      rowGW(i, W.data(), GW.data());
      for (int64_t j = 0; j < k; ++j) {
        const double g = f[j] > 0.0 ? (2.0 * double(Q[i * k + j]) * GW[j] - colTerm[j]) / f[j] : 0.0;
        dQ[i * k + j] = static_cast<float>(g);
      }
    }
  });
}

void pseudoLabels(int64_t n, int64_t k, const float* P, int32_t* labels) {
  parallelFor(n, rowGrain(n, k), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) labels[i] = static_cast<int32_t>(argmaxRow(P + i * k, k));
  });
}

double klStudentT(int64_t n, int64_t k, int64_t d, const float* Z, const float* mu, double nu, const float* P,
                  double scale, float* Q, float* dZ, float* dMu) {
  return klFocalImpl(n, k, d, Z, mu, nu, P, scale, 0.0, 0.0, Q, dZ, dMu, nullptr, nullptr);
}

double klStudentTTriplet(int64_t n, int64_t k, int64_t d, const float* Z1, const float* Z2, const float* Z3,
                         const float* mu, double nu, const float* P, double scale, float* Q1, float* Q2, float* Q3,
                         float* dZ1, float* dZ2, float* dZ3, float* dMu) {
  const double third = scale / 3.0;
  std::vector<float> mu2(dMu ? k * d : 0), mu3(dMu ? k * d : 0);
  const double l1 = klStudentT(n, k, d, Z1, mu, nu, P, third, Q1, dZ1, dMu);
  const double l2 = klStudentT(n, k, d, Z2, mu, nu, P, third, Q2, dZ2, dMu ? mu2.data() : nullptr);
  const double l3 = klStudentT(n, k, d, Z3, mu, nu, P, third, Q3, dZ3, dMu ? mu3.data() : nullptr);
  if (dMu) {
    for (int64_t c = 0; c < k * d; ++c) dMu[c] = (dMu[c] + mu2[c]) + mu3[c];
  }
  return (l1 + l2) + l3;
}

double focalStudentT(int64_t n, int64_t k, int64_t d, const float* Z, const float* mu, double nu, const float* P,
                     double gamma, double scale, float* Q, float* dZ, float* dMu) {
  return klFocalImpl(n, k, d, Z, mu, nu, P, 0.0, scale, gamma, Q, dZ, dMu, nullptr, nullptr);
}

double klFocalStudentT(int64_t n, int64_t k, int64_t d, const float* Z, const float* mu, double nu, const float* P,
                       double klScale, double focalScale, double gamma, float* Q, float* dZ, float* dMu,
                       double* klLoss, double* focalLoss) {
  return klFocalImpl(n, k, d, Z, mu, nu, P, klScale, focalScale, gamma, Q, dZ, dMu, klLoss, focalLoss);
}

// ---------------------------------------------------------------------------------------------------------------
// 4. CDC pairwise kernels.

void pairAffinity(int64_t b, int64_t w, const float* Y, double nu, float* C) {
  pairAffinityFromDistances(b, pairwiseSquaredDistances(b, w, Y), nu, C);
}

void pairAffinityBackward(int64_t b, int64_t w, const float* Y, double nu, const float* dC, float* dY) {
  pairAffinityBackwardFromDistances(b, w, Y, pairwiseSquaredDistances(b, w, Y), nu, dC, dY);
}

double rowKlClipped(int64_t rows, int64_t cols, const float* A, const float* B, double scale, float* dA, float* dB) {
  const int64_t grain = reductionGrain(rows);
  std::vector<double> partials(numChunks(rows, grain), 0.0);
  parallelFor(rows, grain, [&](int64_t begin, int64_t end) {
    double loss = 0.0;
    for (int64_t i = begin; i < end; ++i) {
      for (int64_t j = 0; j < cols; ++j) {
        const double a = A[i * cols + j], bv = B[i * cols + j];
        const double aBar = std::min(1.0, std::max(kKlClipMin, a));
        const double bBar = std::min(1.0, std::max(kKlClipMin, bv));
        const double logRatio = std::log(aBar / bBar);
        loss += aBar * logRatio;
        if (dA) dA[i * cols + j] = (a >= kKlClipMin && a <= 1.0) ? static_cast<float>(scale * (logRatio + 1.0)) : 0.0f;
        if (dB) dB[i * cols + j] = (bv >= kKlClipMin && bv <= 1.0) ? static_cast<float>(-scale * aBar / bBar) : 0.0f;
      }
    }
    partials[begin / grain] = loss;
  });
  return scale * sumInOrder(partials);
}

double cdcCorrelationLoss(int64_t b, int64_t wa, const float* Ya, int64_t wb, const float* Yb, double nu,
                          double scale, float* dYa, float* dYb) {
  const std::vector<double> Da = pairwiseSquaredDistances(b, wa, Ya);
  const std::vector<double> Db = pairwiseSquaredDistances(b, wb, Yb);
  std::vector<float> Ca(b * b), Sa(b * b), Cb(b * b);
  pairAffinityFromDistances(b, Da, nu, Ca.data());
  targetDistribution(b, b, Ca.data(), Sa.data());
  pairAffinityFromDistances(b, Db, nu, Cb.data());
  std::vector<float> dSa(dYa ? b * b : 0), dCb(dYb ? b * b : 0);
  const double loss = rowKlClipped(b, b, Sa.data(), Cb.data(), scale, dYa ? dSa.data() : nullptr,
                                   dYb ? dCb.data() : nullptr);
  if (dYa) {
    std::vector<float> dCa(b * b);
    targetDistributionBackward(b, b, Ca.data(), dSa.data(), dCa.data());
    pairAffinityBackwardFromDistances(b, wa, Ya, Da, nu, dCa.data(), dYa);
  }
  if (dYb) pairAffinityBackwardFromDistances(b, wb, Yb, Db, nu, dCb.data(), dYb);
  return loss;
}

}  // namespace cpu
}  // namespace dgc
