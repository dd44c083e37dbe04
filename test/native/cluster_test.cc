// Standalone tests for native/cpu/cluster.{h,cc} (no Node). Exits non-zero on any failure.
//
// Build and run (from the repository root):
//   mkdir -p /tmp/cluster-work
//   g++ -O2 -std=c++17 -pthread -Inative test/native/cluster_test.cc native/cpu/cluster.cc native/cpu/pair_kernels.cc
//       native/cpu/isa.cc native/core/thread_pool.cc -o /tmp/cluster-work/cluster_test   (one line)
//   /tmp/cluster-work/cluster_test            (add --no-bench to skip the timing section)
// With sanitizers: add -fsanitize=address,undefined -g.
//
// What is checked (references are naive double-precision implementations written from the formulas in cluster.h;
// finite differences are central differences in double of those reference losses):
//   * studentT (rtol 1e-5) and targetDistribution (rtol 1e-5, rows sum to 1) over N ∈ {1, 7, 500},
//     K ∈ {1, 2, 3, 10}, d ∈ {1, 5, 20}, ν ∈ {1, 0.5, 3};
//   * klStudentT: loss (rtol 1e-5), Q, dZ and dMu against DEC's closed form (Eqs. 4–5) and against finite differences;
//   * klStudentTTriplet against the mean of three KLs, finite differences, and bit-identity with its documented
//     composition from three klStudentT calls;
//   * klStudentTSelf (P from the same Q, m = 1 and 3) against studentT, the reference target, the composition of the
//     public kernels, bit-identity of its gradients with klStudentT/klStudentTTriplet, finite differences, the
//     log-space path (ν = 40, far rows) and thread-count independence;
//   * studentTBackward for a random upstream dQ against the written-out chain rule and finite differences of Σ dQ ⊙ Q;
//   * focalStudentT (γ = 2, also γ = 0.5) against the closed-form focal gradient and finite differences, including
//     rows where the 1e-7 clamp is active; klFocalStudentT == KL + focal;
//   * CDC: pairAffinity, pairAffinityBackward, targetDistributionBackward (Sharpen), rowKlClipped against
//     references and finite differences; cdcCorrelationLoss against a double end-to-end reference, finite
//     differences for both inputs, and bit-identity with the composition of the primitives; clipped entries;
//   * degenerate inputs: a point exactly on a centre, identical points and centres, far-away points (1e30 and
//     ±3e38: no NaN, Q against a log-space reference), K = 1, far points in the pairwise kernels;
//   * the pair kernels' instruction sets (AVX-512, AVX2, portable) bit for bit against the scalar definition;
//   * bit-identical outputs for 1, 2 and 4 threads;
//   * timing: N = 100,000, K = 10, d = 20 on 2 threads (must be well under a second), and CDC batches.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/cluster.h"

namespace {

int gFailures = 0;
int gChecks = 0;

#define CHECK(cond, ...)                                                    \
  do {                                                                      \
    ++gChecks;                                                              \
    if (!(cond)) {                                                          \
      ++gFailures;                                                          \
      std::fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                    \
      std::fprintf(stderr, "\n");                                           \
    }                                                                       \
  } while (0)

using Vec = std::vector<double>;
using FVec = std::vector<float>;

Vec toDouble(const FVec& v) { return Vec(v.begin(), v.end()); }

bool allFinite(const float* a, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(a[i])) return false;
  return true;
}

// Elementwise |a − r| ≤ rtol·|r| + atol. Reports the worst element.
void expectClose(const std::string& what, const float* a, const double* r, int64_t n, double rtol, double atol = 1e-30) {
  int64_t worst = -1;
  double worstExcess = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double err = std::fabs(double(a[i]) - r[i]);
    const double allowed = rtol * std::fabs(r[i]) + atol;
    if (!(err <= allowed) && (worst < 0 || err - allowed > worstExcess)) {
      worst = i;
      worstExcess = err - allowed;
    }
  }
  CHECK(worst < 0, "%s: element %lld is %.9g, reference %.9g", what.c_str(), (long long)worst,
        worst < 0 ? 0.0 : double(a[worst]), worst < 0 ? 0.0 : r[worst]);
}

// Normwise: max |a − r| ≤ tol · max |r| (plus a tiny absolute floor for all-zero references).
template <typename T>
void expectNormClose(const std::string& what, const T* a, const double* r, int64_t n, double tol, double floor = 1e-12) {
  double maxErr = 0.0, maxRef = 0.0;
  int64_t worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double err = std::fabs(double(a[i]) - r[i]);
    if (!(err <= maxErr)) {
      maxErr = err;
      worst = i;
    }
    maxRef = std::max(maxRef, std::fabs(r[i]));
  }
  CHECK(maxErr <= tol * maxRef + floor, "%s: max error %.3g (element %lld: %.9g vs %.9g), max |ref| %.3g, tol %.1g",
        what.c_str(), maxErr, (long long)worst, n ? double(a[worst]) : 0.0, n ? r[worst] : 0.0, maxRef, tol);
}

void expectScalarClose(const std::string& what, double a, double r, double rtol, double atol = 1e-12) {
  CHECK(std::fabs(a - r) <= rtol * std::fabs(r) + atol, "%s: %.12g vs reference %.12g", what.c_str(), a, r);
}

bool bitEqual(const FVec& a, const FVec& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::string caseName(const char* op, int64_t n, int64_t k, int64_t d, double nu) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%s(n=%lld k=%lld d=%lld nu=%g)", op, (long long)n, (long long)k, (long long)d, nu);
  return buf;
}

// ---------------------------------------------------------------------------------------------------------------
// Double references (written from the specs, deliberately naive).

double refSqDist(const double* a, const double* b, int64_t d) {
  double s = 0.0;
  for (int64_t c = 0; c < d; ++c) s += (a[c] - b[c]) * (a[c] - b[c]);
  return s;
}

// q_ij = (1 + D/ν)^(−(ν+1)/2) / Σ_l (same)    (DEC Eq. 1)
Vec refStudentT(int64_t n, int64_t k, int64_t d, const Vec& Z, const Vec& Mu, double nu) {
  Vec Q(n * k);
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0.0;
    for (int64_t j = 0; j < k; ++j) {
      Q[i * k + j] = std::pow(1.0 + refSqDist(&Z[i * d], &Mu[j * d], d) / nu, -(nu + 1.0) / 2.0);
      sum += Q[i * k + j];
    }
    for (int64_t j = 0; j < k; ++j) Q[i * k + j] /= sum;
  }
  return Q;
}

// Log-space reference for far-away points (pow underflows there).
Vec refStudentTLogSpace(int64_t n, int64_t k, int64_t d, const FVec& Z, const FVec& Mu, double nu) {
  Vec Q(n * k);
  for (int64_t i = 0; i < n; ++i) {
    Vec logu(k);
    double mx = -1e300;
    for (int64_t j = 0; j < k; ++j) {
      long double D = 0;
      for (int64_t c = 0; c < d; ++c) {
        const long double diff = (long double)Z[i * d + c] - (long double)Mu[j * d + c];
        D += diff * diff;
      }
      logu[j] = -(nu + 1.0) / 2.0 * double(std::log1p(D / nu));
      mx = std::max(mx, logu[j]);
    }
    double sum = 0.0;
    for (int64_t j = 0; j < k; ++j) sum += std::exp(logu[j] - mx);
    for (int64_t j = 0; j < k; ++j) Q[i * k + j] = std::exp(logu[j] - mx) / sum;
  }
  return Q;
}

// p_ij = (q²/f_j) / Σ_l (q_il²/f_l), f_j = Σ_i q_ij    (DEC Eq. 3)
Vec refTarget(int64_t n, int64_t k, const Vec& Q) {
  Vec f(k, 0.0), P(n * k);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) f[j] += Q[i * k + j];
  for (int64_t i = 0; i < n; ++i) {
    double T = 0.0;
    for (int64_t j = 0; j < k; ++j) T += Q[i * k + j] * Q[i * k + j] / f[j];
    for (int64_t j = 0; j < k; ++j) P[i * k + j] = Q[i * k + j] * Q[i * k + j] / f[j] / T;
  }
  return P;
}

// scale · Σ p (log p − log q), 0 log 0 = 0
double refKl(int64_t n, int64_t k, int64_t d, const Vec& Z, const Vec& Mu, double nu, const Vec& P, double scale) {
  const Vec Q = refStudentT(n, k, d, Z, Mu, nu);
  double s = 0.0;
  for (int64_t i = 0; i < n * k; ++i)
    if (P[i] > 0) s += P[i] * (std::log(P[i]) - std::log(Q[i]));
  return scale * s;
}

// DEC's closed form (Eqs. 4–5, general ν): A_ij = scale·c·(p − q)/(1 + D/ν); dz_i = Σ_j A_ij(z_i − μ_j);
// dμ_j = −Σ_i A_ij(z_i − μ_j). The closed form assumes rows of P sum to 1; a float P sums to 1 ± 1e-7, and where
// p ≈ q that matters at the 1e-5 level, so the reference uses the exact p − q·Σ_l p_il (identical when the rows
// sum to 1).
void refKlGrad(int64_t n, int64_t k, int64_t d, const Vec& Z, const Vec& Mu, double nu, const Vec& P, double scale,
               Vec& dZ, Vec& dMu) {
  const Vec Q = refStudentT(n, k, d, Z, Mu, nu);
  dZ.assign(n * d, 0.0);
  dMu.assign(k * d, 0.0);
  const double c = (nu + 1.0) / nu;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) {
      const double D = refSqDist(&Z[i * d], &Mu[j * d], d);
      double rowSum = 0.0;
      for (int64_t l = 0; l < k; ++l) rowSum += P[i * k + l];
      const double A = scale * c * (P[i * k + j] - Q[i * k + j] * rowSum) / (1.0 + D / nu);
      for (int64_t t = 0; t < d; ++t) {
        dZ[i * d + t] += A * (Z[i * d + t] - Mu[j * d + t]);
        dMu[j * d + t] -= A * (Z[i * d + t] - Mu[j * d + t]);
      }
    }
}

// Student-t backward for an upstream G, general α: GK = (G − Σ_l G_il s_il)/R, H = −((ν+1)/(2ν))·K/(1 + D/ν)·GK,
// ∂z_i = 2 Σ_j H_ij (z_i − μ_j), ∂μ_j = −2 Σ_i H_ij (z_i − μ_j).
void refSoftAssignBackward(int64_t n, int64_t k, int64_t d, const Vec& Z, const Vec& Mu, double nu, const Vec& G,
                           Vec& dZ, Vec& dMu) {
  dZ.assign(n * d, 0.0);
  dMu.assign(k * d, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    Vec D(k), Kv(k);
    double R = 0.0;
    for (int64_t j = 0; j < k; ++j) {
      D[j] = refSqDist(&Z[i * d], &Mu[j * d], d);
      Kv[j] = std::pow(1.0 + D[j] / nu, -(nu + 1.0) / 2.0);
      R += Kv[j];
    }
    double dot = 0.0;
    for (int64_t j = 0; j < k; ++j) dot += G[i * k + j] * Kv[j] / R;
    for (int64_t j = 0; j < k; ++j) {
      const double GK = (G[i * k + j] - dot) / R;
      const double H = -((nu + 1.0) / (2.0 * nu)) * Kv[j] / (1.0 + D[j] / nu) * GK;
      for (int64_t t = 0; t < d; ++t) {
        dZ[i * d + t] += 2.0 * H * (Z[i * d + t] - Mu[j * d + t]);
        dMu[j * d + t] -= 2.0 * H * (Z[i * d + t] - Mu[j * d + t]);
      }
    }
  }
}

std::vector<int> refLabels(int64_t n, int64_t k, const Vec& P) {
  std::vector<int> c(n);
  for (int64_t i = 0; i < n; ++i) c[i] = int(std::max_element(&P[i * k], &P[i * k] + k) - &P[i * k]);
  return c;
}

// DCCF focal loss (Eqs. 11–12): scale·Σ_i −(1 − p̂)^γ log p̂, p̂ = clamp(s_{i,c_i}, 1e-7, 1)
double refFocal(int64_t n, int64_t k, int64_t d, const Vec& Z, const Vec& Mu, double nu, const std::vector<int>& c,
                double gamma, double scale) {
  const Vec Q = refStudentT(n, k, d, Z, Mu, nu);
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double p = std::min(1.0, std::max(1e-7, Q[i * k + c[i]]));
    s += -std::pow(1.0 - p, gamma) * std::log(p);
  }
  return scale * s;
}

// Its gradient through p̂: g_i = scale·[γ(1−p)^{γ−1} log p − (1−p)^γ/p], G_ij = g_i 1[j = c_i] (0 where clamped).
void refFocalGrad(int64_t n, int64_t k, int64_t d, const Vec& Z, const Vec& Mu, double nu, const std::vector<int>& c,
                  double gamma, double scale, Vec& dZ, Vec& dMu) {
  const Vec Q = refStudentT(n, k, d, Z, Mu, nu);
  Vec G(n * k, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const double p = Q[i * k + c[i]];
    if (p < 1e-7) continue;
    const double first = p < 1.0 ? gamma * std::pow(1.0 - p, gamma - 1.0) * std::log(p) : 0.0;
    G[i * k + c[i]] = scale * (first - std::pow(1.0 - p, gamma) / p);
  }
  refSoftAssignBackward(n, k, d, Z, Mu, nu, G, dZ, dMu);
}

// Central finite differences of loss(Z, Mu) at a few coordinates of Z and of Mu (all when there are few).
using LossFn = std::function<double(const Vec& Z, const Vec& Mu)>;

void expectGradMatchesFd(const std::string& what, const LossFn& loss, const Vec& Z, const Vec& Mu, const float* dZ,
                         const float* dMu, double tol, std::mt19937_64& rng, int maxCoords = 24) {
  auto pick = [&](int64_t size) {
    std::vector<int64_t> idx;
    if (size <= maxCoords) {
      for (int64_t i = 0; i < size; ++i) idx.push_back(i);
    } else {
      std::uniform_int_distribution<int64_t> u(0, size - 1);
      for (int t = 0; t < maxCoords; ++t) idx.push_back(u(rng));
    }
    return idx;
  };
  for (int which = 0; which < 2; ++which) {
    const Vec& x = which == 0 ? Z : Mu;
    const float* g = which == 0 ? dZ : dMu;
    if (!g || x.empty()) continue;
    const std::vector<int64_t> idx = pick(int64_t(x.size()));
    Vec fd(idx.size()), an(idx.size());
    Vec zc = Z, mc = Mu;
    for (size_t t = 0; t < idx.size(); ++t) {
      Vec& v = which == 0 ? zc : mc;
      const double x0 = v[idx[t]];
      const double h = 1e-5 * std::max(1.0, std::fabs(x0));
      v[idx[t]] = x0 + h;
      const double lp = loss(zc, mc);
      v[idx[t]] = x0 - h;
      const double lm = loss(zc, mc);
      v[idx[t]] = x0;
      fd[t] = (lp - lm) / (2.0 * h);
      an[t] = g[idx[t]];
    }
    expectNormClose(what + (which == 0 ? " dZ vs finite differences" : " dMu vs finite differences"), an.data(),
                    fd.data(), int64_t(fd.size()), tol, 1e-9);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Problem generation.

struct Problem {
  int64_t n, k, d;
  double nu;
  FVec Z, Mu, P;  // P: target distribution of a perturbed embedding (so P ≠ target(Q) exactly), rows sum to 1
};

Problem makeProblem(int64_t n, int64_t k, int64_t d, double nu, std::mt19937_64& rng) {
  Problem pr{n, k, d, nu, FVec(n * d), FVec(k * d), FVec(n * k)};
  std::normal_distribution<double> g(0.0, 1.0);
  std::uniform_int_distribution<int64_t> pickCentre(0, k - 1);
  for (auto& v : pr.Mu) v = float(1.5 * g(rng));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t j = pickCentre(rng);
    for (int64_t c = 0; c < d; ++c) pr.Z[i * d + c] = float(pr.Mu[j * d + c] + 0.8 * g(rng));
  }
  Vec Zp = toDouble(pr.Z);
  for (auto& v : Zp) v += 0.3 * g(rng);
  const Vec P = refTarget(n, k, refStudentT(n, k, d, Zp, toDouble(pr.Mu), nu));
  for (int64_t i = 0; i < n * k; ++i) pr.P[i] = float(P[i]);
  return pr;
}

// ---------------------------------------------------------------------------------------------------------------
// Tests.

void testStudentTFamily(std::mt19937_64& rng) {
  const double nus[] = {1.0, 0.5, 3.0};
  const int64_t ks[] = {1, 2, 3, 10};
  const int64_t ds[] = {1, 5, 20};
  const int64_t ns[] = {1, 7, 500};
  for (double nu : nus)
    for (int64_t k : ks)
      for (int64_t d : ds)
        for (int64_t n : ns) {
          const Problem pr = makeProblem(n, k, d, nu, rng);
          const Vec Zd = toDouble(pr.Z), Mud = toDouble(pr.Mu), Pd = toDouble(pr.P);
          const double scale = 1.7 / double(n);

          // studentT
          FVec Q(n * k);
          dgc::cpu::studentT(n, k, d, pr.Z.data(), pr.Mu.data(), nu, Q.data());
          const Vec Qref = refStudentT(n, k, d, Zd, Mud, nu);
          expectClose(caseName("studentT", n, k, d, nu), Q.data(), Qref.data(), n * k, 1e-5);

          // targetDistribution (reference applied to the same float Q), rows sum to 1
          FVec P(n * k);
          dgc::cpu::targetDistribution(n, k, Q.data(), P.data());
          const Vec Pref = refTarget(n, k, toDouble(Q));
          expectClose(caseName("targetDistribution", n, k, d, nu), P.data(), Pref.data(), n * k, 1e-5);
          double worstRow = 0.0;
          for (int64_t i = 0; i < n; ++i) {
            double s = 0.0;
            for (int64_t j = 0; j < k; ++j) s += P[i * k + j];
            worstRow = std::max(worstRow, std::fabs(s - 1.0));
          }
          CHECK(worstRow <= 1e-6, "%s: a row of P sums to 1 ± %.3g", caseName("targetDistribution", n, k, d, nu).c_str(), worstRow);

          // klStudentT
          FVec Qk(n * k), dZ(n * d), dMu(k * d);
          const double loss = dgc::cpu::klStudentT(n, k, d, pr.Z.data(), pr.Mu.data(), nu, pr.P.data(), scale,
                                                   Qk.data(), dZ.data(), dMu.data());
          const double lossRef = refKl(n, k, d, Zd, Mud, nu, Pd, scale);
          expectScalarClose(caseName("klStudentT loss", n, k, d, nu), loss, lossRef, 1e-5, 1e-12);
          CHECK(bitEqual(Qk, Q), "%s: Q differs from studentT", caseName("klStudentT", n, k, d, nu).c_str());
          Vec dZr, dMur;
          refKlGrad(n, k, d, Zd, Mud, nu, Pd, scale, dZr, dMur);
          expectNormClose(caseName("klStudentT dZ", n, k, d, nu), dZ.data(), dZr.data(), n * d, 1e-5);
          expectNormClose(caseName("klStudentT dMu", n, k, d, nu), dMu.data(), dMur.data(), k * d, 1e-5);
          expectGradMatchesFd(caseName("klStudentT", n, k, d, nu),
                              [&](const Vec& z, const Vec& m) { return refKl(n, k, d, z, m, nu, Pd, scale); }, Zd, Mud,
                              dZ.data(), dMu.data(), 1e-5, rng);
          // Forward-only call gives the same loss.
          const double lossOnly = dgc::cpu::klStudentT(n, k, d, pr.Z.data(), pr.Mu.data(), nu, pr.P.data(), scale,
                                                       nullptr, nullptr, nullptr);
          CHECK(lossOnly == loss, "%s: forward-only loss %.17g vs %.17g", caseName("klStudentT", n, k, d, nu).c_str(), lossOnly, loss);

          // studentTBackward with a random upstream
          FVec G(n * k);
          std::normal_distribution<double> gn(0.0, 1.0);
          for (auto& v : G) v = float(gn(rng));
          const Vec Gd = toDouble(G);
          FVec bdZ(n * d), bdMu(k * d);
          dgc::cpu::studentTBackward(n, k, d, pr.Z.data(), pr.Mu.data(), nu, Q.data(), G.data(), bdZ.data(), bdMu.data());
          refSoftAssignBackward(n, k, d, Zd, Mud, nu, Gd, dZr, dMur);
          expectNormClose(caseName("studentTBackward dZ", n, k, d, nu), bdZ.data(), dZr.data(), n * d, 1e-5, 1e-9);
          expectNormClose(caseName("studentTBackward dMu", n, k, d, nu), bdMu.data(), dMur.data(), k * d, 1e-5, 1e-9);
          auto linearLoss = [&](const Vec& z, const Vec& m) {
            const Vec q = refStudentT(n, k, d, z, m, nu);
            double s = 0.0;
            for (int64_t i = 0; i < n * k; ++i) s += Gd[i] * q[i];
            return s;
          };
          expectGradMatchesFd(caseName("studentTBackward", n, k, d, nu), linearLoss, Zd, Mud, bdZ.data(), bdMu.data(),
                              1e-5, rng);

          // focalStudentT, γ = 2 (and γ = 0.5 on a subset)
          const std::vector<int> labels = refLabels(n, k, Pd);
          std::vector<int32_t> lab(n);
          dgc::cpu::pseudoLabels(n, k, pr.P.data(), lab.data());
          bool labelsOk = true;
          for (int64_t i = 0; i < n; ++i) labelsOk = labelsOk && lab[i] == labels[i];
          CHECK(labelsOk, "%s", caseName("pseudoLabels", n, k, d, nu).c_str());
          for (double gamma : {2.0, 0.5}) {
            if (gamma != 2.0 && d != 5) continue;
            FVec fdZ(n * d), fdMu(k * d);
            const double fl = dgc::cpu::focalStudentT(n, k, d, pr.Z.data(), pr.Mu.data(), nu, pr.P.data(), gamma,
                                                      scale, nullptr, fdZ.data(), fdMu.data());
            const std::string nm = caseName(gamma == 2.0 ? "focalStudentT" : "focalStudentT(gamma=0.5)", n, k, d, nu);
            expectScalarClose(nm + " loss", fl, refFocal(n, k, d, Zd, Mud, nu, labels, gamma, scale), 1e-5, 1e-12);
            refFocalGrad(n, k, d, Zd, Mud, nu, labels, gamma, scale, dZr, dMur);
            expectNormClose(nm + " dZ", fdZ.data(), dZr.data(), n * d, 1e-5, 1e-9);
            expectNormClose(nm + " dMu", fdMu.data(), dMur.data(), k * d, 1e-5, 1e-9);
            expectGradMatchesFd(nm, [&](const Vec& z, const Vec& m) { return refFocal(n, k, d, z, m, nu, labels, gamma, scale); },
                                Zd, Mud, fdZ.data(), fdMu.data(), 1e-5, rng);
          }

          // klFocalStudentT == KL + focal (one backward)
          {
            FVec cdZ(n * d), cdMu(k * d), fdZ(n * d), fdMu(k * d);
            double klPart = 0, focalPart = 0;
            const double total = dgc::cpu::klFocalStudentT(n, k, d, pr.Z.data(), pr.Mu.data(), nu, pr.P.data(), scale,
                                                           0.5 * scale, 2.0, nullptr, cdZ.data(), cdMu.data(), &klPart,
                                                           &focalPart);
            const double fl = dgc::cpu::focalStudentT(n, k, d, pr.Z.data(), pr.Mu.data(), nu, pr.P.data(), 2.0,
                                                      0.5 * scale, nullptr, fdZ.data(), fdMu.data());
            const std::string nm = caseName("klFocalStudentT", n, k, d, nu);
            CHECK(klPart == loss && focalPart == fl && total == loss + fl, "%s: parts %.17g %.17g vs %.17g %.17g",
                  nm.c_str(), klPart, focalPart, loss, fl);
            Vec sumZ(n * d), sumMu(k * d);
            for (int64_t i = 0; i < n * d; ++i) sumZ[i] = double(dZ[i]) + fdZ[i];
            for (int64_t i = 0; i < k * d; ++i) sumMu[i] = double(dMu[i]) + fdMu[i];
            expectNormClose(nm + " dZ", cdZ.data(), sumZ.data(), n * d, 1e-6, 1e-12);
            expectNormClose(nm + " dMu", cdMu.data(), sumMu.data(), k * d, 1e-6, 1e-12);
          }
        }
}

void testTriplet(std::mt19937_64& rng) {
  for (double nu : {1.0, 0.5, 3.0})
    for (int64_t k : {1, 3, 10}) {
      const int64_t n = 60, d = 5;
      const Problem a = makeProblem(n, k, d, nu, rng);
      Problem b = a, c = a;
      std::normal_distribution<double> g(0.0, 0.5);
      for (auto& v : b.Z) v += float(g(rng));
      for (auto& v : c.Z) v += float(g(rng));
      const double scale = 10.0 / double(n);  // DFCN: λ/N
      FVec Q1(n * k), Q2(n * k), Q3(n * k), dZ1(n * d), dZ2(n * d), dZ3(n * d), dMu(k * d);
      const double loss = dgc::cpu::klStudentTTriplet(n, k, d, a.Z.data(), b.Z.data(), c.Z.data(), a.Mu.data(), nu,
                                                      a.P.data(), scale, Q1.data(), Q2.data(), Q3.data(), dZ1.data(),
                                                      dZ2.data(), dZ3.data(), dMu.data());
      const Vec Z1 = toDouble(a.Z), Z2 = toDouble(b.Z), Z3 = toDouble(c.Z), Mu = toDouble(a.Mu), P = toDouble(a.P);
      // Reference: the code's form, (1/N)Σ p [log p − (log q + log q1 + log q2)/3], times λ.
      auto tripletLoss = [&](const Vec& z1, const Vec& z2, const Vec& z3, const Vec& m) {
        const Vec q1 = refStudentT(n, k, d, z1, m, nu), q2 = refStudentT(n, k, d, z2, m, nu),
                  q3 = refStudentT(n, k, d, z3, m, nu);
        double s = 0.0;
        for (int64_t i = 0; i < n * k; ++i)
          if (P[i] > 0) s += P[i] * (std::log(P[i]) - (std::log(q1[i]) + std::log(q2[i]) + std::log(q3[i])) / 3.0);
        return scale * s;
      };
      const std::string nm = caseName("klStudentTTriplet", n, k, d, nu);
      expectScalarClose(nm + " loss", loss, tripletLoss(Z1, Z2, Z3, Mu), 1e-5, 1e-12);
      expectGradMatchesFd(nm + " (Z1, mu)", [&](const Vec& z, const Vec& m) { return tripletLoss(z, Z2, Z3, m); }, Z1, Mu,
                          dZ1.data(), dMu.data(), 1e-5, rng);
      expectGradMatchesFd(nm + " (Z2)", [&](const Vec& z, const Vec& m) { return tripletLoss(Z1, z, Z3, m); }, Z2, Mu,
                          dZ2.data(), nullptr, 1e-5, rng);
      expectGradMatchesFd(nm + " (Z3)", [&](const Vec& z, const Vec& m) { return tripletLoss(Z1, Z2, z, m); }, Z3, Mu,
                          dZ3.data(), nullptr, 1e-5, rng);
      // The documented composition is bit-identical.
      FVec m1(k * d), m2(k * d), m3(k * d), e1(n * d), e2(n * d), e3(n * d), q1(n * k);
      const double l1 = dgc::cpu::klStudentT(n, k, d, a.Z.data(), a.Mu.data(), nu, a.P.data(), scale / 3.0, q1.data(),
                                             e1.data(), m1.data());
      const double l2 = dgc::cpu::klStudentT(n, k, d, b.Z.data(), a.Mu.data(), nu, a.P.data(), scale / 3.0, nullptr,
                                             e2.data(), m2.data());
      const double l3 = dgc::cpu::klStudentT(n, k, d, c.Z.data(), a.Mu.data(), nu, a.P.data(), scale / 3.0, nullptr,
                                             e3.data(), m3.data());
      FVec composed(k * d);
      for (int64_t i = 0; i < k * d; ++i) composed[i] = (m1[i] + m2[i]) + m3[i];
      CHECK(bitEqual(composed, dMu) && bitEqual(e1, dZ1) && bitEqual(e2, dZ2) && bitEqual(e3, dZ3) && bitEqual(q1, Q1) &&
                loss == (l1 + l2) + l3,
            "%s: not bit-identical to three klStudentT calls", nm.c_str());
    }
}

// klStudentTSelf: Q1 bit-identical to studentT; P equal to the double reference target(Q1) (rtol 1e-6: it is computed
// from Q1 in double, then rounded); the loss equal to the reference KL against that P (rtol 1e-9 in double) and to
// the composition klStudentT(target(studentT)) (rtol 1e-6); gradients bit-identical to klStudentT /
// klStudentTTriplet with the P it wrote, and against finite differences of the loss with P held fixed. Row counts
// that are not multiples of the 8-row blocks, ν ≠ 1 (pow path), far-away rows (the log-space path), m = 1 and 3,
// and bit-identical results for 1, 2 and 4 threads.
void testSelfTarget(std::mt19937_64& rng) {
  for (double nu : {1.0, 0.5, 3.0, 40.0})
    for (int64_t k : {1, 3, 10})
      for (int64_t n : {1, 13, 200})
        for (int64_t m : {1, 3}) {
          const int64_t d = 6;
          Problem a = makeProblem(n, k, d, nu, rng);
          const bool logSpace = nu == 40.0 && k >= 2 && m == 3;
          if (logSpace) {
            // Centre 1 far from centre 0 and row 0 of Z1 on centre 1 (so p_01 ≈ 1), while row 0 of Z2 sits on
            // centre 0: there q2_01 = (40/(40 + 6e16))^20.5 underflows past 1e-280 against p_01 > 0, the
            // log-space path.
            for (int64_t c = 0; c < d; ++c) a.Mu[d + c] = a.Mu[c] + 1e8f;
            for (int64_t c = 0; c < d; ++c) a.Z[c] = a.Mu[d + c];
          }
          std::vector<FVec> zs{a.Z};
          std::normal_distribution<double> g(0.0, 0.5);
          for (int64_t t = 1; t < m; ++t) {
            FVec z = a.Z;
            for (auto& v : z) v += float(g(rng));
            if (logSpace && t == 1) {
              for (int64_t c = 0; c < d; ++c) z[c] = a.Mu[c];
            }
            zs.push_back(z);
          }
          const double scale = (m == 3 ? 10.0 : 1.0) / double(n);
          std::vector<const float*> zp;
          for (auto& z : zs) zp.push_back(z.data());
          std::vector<FVec> dZ(m, FVec(n * d));
          std::vector<float*> dzp;
          for (auto& v : dZ) dzp.push_back(v.data());
          FVec Q1(n * k), P(n * k), dMu(k * d);
          const double loss = dgc::cpu::klStudentTSelf(n, k, d, m, zp.data(), a.Mu.data(), nu, scale, Q1.data(), P.data(),
                                                       dzp.data(), dMu.data());
          const std::string nm = caseName(m == 3 ? "klStudentTSelf(triplet)" : "klStudentTSelf", n, k, d, nu);
          FVec Qref(n * k);
          dgc::cpu::studentT(n, k, d, zs[0].data(), a.Mu.data(), nu, Qref.data());
          CHECK(bitEqual(Q1, Qref), "%s: Q1 differs from studentT", nm.c_str());
          CHECK(std::isfinite(loss) && allFinite(P.data(), n * k) && allFinite(dMu.data(), k * d), "%s: non-finite output",
                nm.c_str());
          // P against the double reference of target(Q1) computed from studentT's float Q1 (good to ~1e-7 relative).
          // (Not in the log-space case: there a column of Q1 underflows to 0 in float, where the naive reference
          // divides 0 by 0; the composition below covers it.)
          if (!logSpace) {
            const Vec Pref = refTarget(n, k, toDouble(Qref));
            expectClose(nm + " P", P.data(), Pref.data(), n * k, 2e-6, 1e-30);
          }
          // Loss against the composition of the public kernels (same P up to float rounding).
          FVec Pc(n * k);
          dgc::cpu::targetDistribution(n, k, Qref.data(), Pc.data());
          double composed;
          std::vector<FVec> e(m, FVec(n * d));
          FVec mc(k * d);
          if (m == 1) {
            composed = dgc::cpu::klStudentT(n, k, d, zs[0].data(), a.Mu.data(), nu, P.data(), scale, nullptr, e[0].data(),
                                            mc.data());
          } else {
            composed = dgc::cpu::klStudentTTriplet(n, k, d, zs[0].data(), zs[1].data(), zs[2].data(), a.Mu.data(), nu,
                                                   P.data(), scale, nullptr, nullptr, nullptr, e[0].data(), e[1].data(),
                                                   e[2].data(), mc.data());
          }
          bool same = bitEqual(mc, dMu);
          for (int64_t t = 0; t < m; ++t) same = same && bitEqual(e[t], dZ[t]);
          CHECK(same, "%s: gradients not bit-identical to klStudentT%s with the P written", nm.c_str(),
                m == 3 ? "Triplet" : "");
          double viaComposition;
          if (m == 1) {
            viaComposition = dgc::cpu::klStudentT(n, k, d, zs[0].data(), a.Mu.data(), nu, Pc.data(), scale, nullptr,
                                                  nullptr, nullptr);
          } else {
            viaComposition = dgc::cpu::klStudentTTriplet(n, k, d, zs[0].data(), zs[1].data(), zs[2].data(), a.Mu.data(),
                                                         nu, Pc.data(), scale, nullptr, nullptr, nullptr, nullptr, nullptr,
                                                         nullptr, nullptr);
          }
          // The compositions use a float P: each p_ij is off by up to ~6e-8·p_ij, which moves their loss by up to
          // ~scale·Σ_i Σ_j 6e-8·p_ij·|log(p_ij/q_ij) + 1| — about 1e-7·scale·n here (e.g. n = 1, where P = Q exactly
          // and the fused loss is 0 to 1e-16 while the compositions give ~1e-8).
          const double atol = 2e-7 * scale * double(n);
          expectScalarClose(nm + " loss vs klStudentT(target(studentT))", loss, viaComposition, 1e-5, atol);
          expectScalarClose(nm + " loss vs klStudentT with its own P", loss, composed, 1e-5, atol);
          if (nu != 40.0 && n <= 13) {
            // Finite differences of the loss with P held at the P written (the gradient's definition).
            const Vec Pd = toDouble(P), Mu = toDouble(a.Mu);
            std::vector<Vec> Zd;
            for (auto& z : zs) Zd.push_back(toDouble(z));
            auto lossAt = [&](int64_t which, const Vec& z, const Vec& mu) {
              double s = 0.0;
              for (int64_t t = 0; t < m; ++t) {
                const Vec q = refStudentT(n, k, d, t == which ? z : Zd[t], mu, nu);
                for (int64_t i = 0; i < n * k; ++i)
                  if (Pd[i] > 0) s += Pd[i] * (std::log(Pd[i]) - std::log(q[i]));
              }
              return scale / double(m) * s;
            };
            for (int64_t t = 0; t < m; ++t) {
              expectGradMatchesFd(nm + " grad z[" + std::to_string(t) + "]",
                                  [&](const Vec& z, const Vec& mu) { return lossAt(t, z, mu); }, Zd[t], Mu, dZ[t].data(),
                                  t == 0 && m == 1 ? dMu.data() : nullptr, 1e-5, rng);
            }
          }
        }
  // Thread-count independence on a size with many chunks.
  const int64_t n = 5003, k = 10, d = 20;
  const Problem a = makeProblem(n, k, d, 1.0, rng);
  const float* zp[3] = {a.Z.data(), a.Z.data(), a.Z.data()};
  auto run = [&](FVec& Q, FVec& P, FVec& dZ, FVec& dMu) {
    float* dzp[3] = {dZ.data(), nullptr, nullptr};
    return dgc::cpu::klStudentTSelf(n, k, d, 3, zp, a.Mu.data(), 1.0, 10.0 / n, Q.data(), P.data(), dzp, dMu.data());
  };
  const int before = dgc::numThreads();
  dgc::setNumThreads(1);
  FVec Q0(n * k), P0(n * k), dZ0(n * d), dMu0(k * d);
  const double l0 = run(Q0, P0, dZ0, dMu0);
  for (int threads : {2, 4}) {
    dgc::setNumThreads(threads);
    FVec Q(n * k), P(n * k), dZ(n * d), dMu(k * d);
    const double l = run(Q, P, dZ, dMu);
    CHECK(l == l0 && bitEqual(Q, Q0) && bitEqual(P, P0) && bitEqual(dZ, dZ0) && bitEqual(dMu, dMu0),
          "klStudentTSelf differs at %d threads", threads);
  }
  dgc::setNumThreads(before);
}

void testFocalClamp(std::mt19937_64& rng) {
  // Rows whose labelled centre is so far that q < 1e-7: the clamp is active, the row has no gradient, and the loss
  // uses log(1e-7). Mixed with ordinary rows.
  const int64_t n = 6, k = 3, d = 2;
  const double nu = 1.0;
  FVec Mu = {0, 0, 1, 0, 5000, 5000};
  FVec Z = {0.1f, 0.2f, 0.9f, -0.1f, 0.0f, 0.05f, 4999.f, 5001.f, 0.5f, 0.5f, 1.2f, 0.3f};
  FVec P(n * k, 0.1f);
  const int labelOf[n] = {2, 1, 2, 0, 0, 2};  // rows 0, 2, 5 (near the origin) and 3 (near the far centre) are clamped
  for (int64_t i = 0; i < n; ++i) P[i * k + labelOf[i]] = 0.8f;
  FVec dZ(n * d), dMu(k * d), Q(n * k);
  const double scale = 0.25;
  const double loss = dgc::cpu::focalStudentT(n, k, d, Z.data(), Mu.data(), nu, P.data(), 2.0, scale, Q.data(),
                                              dZ.data(), dMu.data());
  const Vec Zd = toDouble(Z), Mud = toDouble(Mu);
  const std::vector<int> labels(labelOf, labelOf + n);
  CHECK(Q[0 * k + 2] < 1e-7 && Q[3 * k + 0] < 1e-7 && Q[1 * k + 1] > 1e-7 && Q[4 * k + 0] > 1e-7,
        "test setup: clamp not active as intended (%g %g %g %g)", Q[2], Q[9], Q[4], Q[12]);
  expectScalarClose("focal clamp loss", loss, refFocal(n, k, d, Zd, Mud, nu, labels, 2.0, scale), 1e-6);
  CHECK(dZ[0] == 0.0f && dZ[1] == 0.0f && dZ[4] == 0.0f && dZ[5] == 0.0f, "clamped rows have a gradient: %g %g %g %g",
        dZ[0], dZ[1], dZ[4], dZ[5]);
  Vec dZr, dMur;
  refFocalGrad(n, k, d, Zd, Mud, nu, labels, 2.0, scale, dZr, dMur);
  expectNormClose("focal clamp dZ", dZ.data(), dZr.data(), n * d, 1e-5, 1e-12);
  expectNormClose("focal clamp dMu", dMu.data(), dMur.data(), k * d, 1e-5, 1e-12);
  expectGradMatchesFd("focal clamp", [&](const Vec& z, const Vec& m) { return refFocal(n, k, d, z, m, nu, labels, 2.0, scale); },
                      Zd, Mud, dZ.data(), dMu.data(), 1e-5, rng);
}

void testDegenerate(std::mt19937_64& rng) {
  const double nus[] = {1.0, 0.5, 3.0};
  for (double nu : nus) {
    // A point exactly on a centre (D = 0), and one exactly between two centres.
    {
      const int64_t n = 4, k = 3, d = 2;
      FVec Mu = {0, 0, 2, 0, 0, 3};
      FVec Z = {0, 0, 2, 0, 1, 0, 0, 3};
      FVec Q(n * k), P(n * k), dZ(n * d), dMu(k * d);
      dgc::cpu::studentT(n, k, d, Z.data(), Mu.data(), nu, Q.data());
      const Vec Zd = toDouble(Z), Mud = toDouble(Mu);
      const Vec Qr = refStudentT(n, k, d, Zd, Mud, nu);
      expectClose("on-centre studentT", Q.data(), Qr.data(), n * k, 1e-6);
      dgc::cpu::targetDistribution(n, k, Q.data(), P.data());
      const Vec Pd = toDouble(P);
      dgc::cpu::klStudentT(n, k, d, Z.data(), Mu.data(), nu, P.data(), 1.0 / n, nullptr, dZ.data(), dMu.data());
      expectGradMatchesFd("on-centre kl", [&](const Vec& z, const Vec& m) { return refKl(n, k, d, z, m, nu, Pd, 1.0 / n); },
                          Zd, Mud, dZ.data(), dMu.data(), 1e-5, rng);
      dgc::cpu::focalStudentT(n, k, d, Z.data(), Mu.data(), nu, P.data(), 2.0, 1.0 / n, nullptr, dZ.data(), dMu.data());
      const std::vector<int> lab = refLabels(n, k, Pd);
      expectGradMatchesFd("on-centre focal",
                          [&](const Vec& z, const Vec& m) { return refFocal(n, k, d, z, m, nu, lab, 2.0, 1.0 / n); }, Zd,
                          Mud, dZ.data(), dMu.data(), 1e-5, rng);
    }
    // Identical points and identical centres: Q = P = 1/K, KL = 0 and no gradient.
    {
      const int64_t n = 5, k = 4, d = 3;
      FVec Z(n * d), Mu(k * d);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < d; ++c) Z[i * d + c] = float(c) - 0.5f;
      for (int64_t j = 0; j < k; ++j)
        for (int64_t c = 0; c < d; ++c) Mu[j * d + c] = 0.25f * float(c);
      FVec Q(n * k), P(n * k), dZ(n * d), dMu(k * d);
      dgc::cpu::studentT(n, k, d, Z.data(), Mu.data(), nu, Q.data());
      dgc::cpu::targetDistribution(n, k, Q.data(), P.data());
      bool uniform = true;
      for (int64_t i = 0; i < n * k; ++i) uniform = uniform && std::fabs(Q[i] - 0.25f) < 1e-7f && std::fabs(P[i] - 0.25f) < 1e-7f;
      CHECK(uniform, "identical points: Q and P should be uniform (nu=%g)", nu);
      const double loss = dgc::cpu::klStudentT(n, k, d, Z.data(), Mu.data(), nu, P.data(), 1.0 / n, nullptr, dZ.data(), dMu.data());
      double maxG = 0.0;
      for (float v : dZ) maxG = std::max(maxG, double(std::fabs(v)));
      for (float v : dMu) maxG = std::max(maxG, double(std::fabs(v)));
      CHECK(std::fabs(loss) < 1e-7 && maxG < 1e-7, "identical points: loss %g, max |grad| %g", loss, maxG);
    }
    // Far-away points: huge norms. No NaN anywhere; Q matches a log-space reference.
    for (double far : {1e30, 3e38}) {
      const int64_t n = 6, k = 3, d = 4;
      FVec Z(n * d), Mu(k * d);
      std::normal_distribution<double> g(0.0, 1.0);
      for (auto& v : Mu) v = float(g(rng));
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < d; ++c) {
          // rows alternate sign; row 5 is ordinary; the last centre is also far (so one row is close to it)
          Z[i * d + c] = i == 5 ? float(g(rng)) : float((i % 2 ? -far : far) * (1.0 - 0.1 * c - 0.01 * i));
        }
      for (int64_t c = 0; c < d; ++c) Mu[2 * d + c] = float(far * (1.0 - 0.1 * c));
      FVec Q(n * k), P(n * k), dZ(n * d), dMu(k * d), G(n * k, 1.0f);
      dgc::cpu::studentT(n, k, d, Z.data(), Mu.data(), nu, Q.data());
      const Vec Qr = refStudentTLogSpace(n, k, d, Z, Mu, nu);
      expectClose("far studentT vs log-space reference", Q.data(), Qr.data(), n * k, 1e-5, 1e-37);
      dgc::cpu::targetDistribution(n, k, Q.data(), P.data());
      const double kl = dgc::cpu::klStudentT(n, k, d, Z.data(), Mu.data(), nu, P.data(), 1.0 / n, nullptr, dZ.data(), dMu.data());
      CHECK(allFinite(Q.data(), n * k) && allFinite(P.data(), n * k) && std::isfinite(kl) && allFinite(dZ.data(), n * d) &&
                allFinite(dMu.data(), k * d),
            "far points (%g, nu=%g): non-finite KL outputs (loss %g)", far, nu, kl);
      // P with mass where q underflowed to 0: the loss is large but finite.
      FVec Pu(n * k, 1.0f / 3.0f);
      const double klu = dgc::cpu::klStudentT(n, k, d, Z.data(), Mu.data(), nu, Pu.data(), 1.0 / n, nullptr, dZ.data(), dMu.data());
      const double fl = dgc::cpu::focalStudentT(n, k, d, Z.data(), Mu.data(), nu, Pu.data(), 2.0, 1.0 / n, nullptr,
                                                dZ.data(), dMu.data());
      dgc::cpu::studentTBackward(n, k, d, Z.data(), Mu.data(), nu, Q.data(), G.data(), dZ.data(), dMu.data());
      CHECK(std::isfinite(klu) && klu > 0 && std::isfinite(fl) && allFinite(dZ.data(), n * d) && allFinite(dMu.data(), k * d),
            "far points (%g, nu=%g): uniform-P loss %g, focal %g", far, nu, klu, fl);
      double rowErr = 0.0;
      for (int64_t i = 0; i < n; ++i) rowErr = std::max(rowErr, std::fabs(double(P[i * k]) + P[i * k + 1] + P[i * k + 2] - 1.0));
      CHECK(rowErr < 1e-6, "far points: P rows sum to 1 ± %g", rowErr);
    }
    // K = 1: Q ≡ P ≡ 1, no loss, no gradient.
    {
      const int64_t n = 9, k = 1, d = 5;
      const Problem pr = makeProblem(n, k, d, nu, rng);
      FVec Q(n), P(n), dZ(n * d, 7.0f), dMu(d, 7.0f);
      dgc::cpu::studentT(n, k, d, pr.Z.data(), pr.Mu.data(), nu, Q.data());
      dgc::cpu::targetDistribution(n, k, Q.data(), P.data());
      bool ones = true;
      for (int64_t i = 0; i < n; ++i) ones = ones && Q[i] == 1.0f && P[i] == 1.0f;
      CHECK(ones, "K=1: Q and P must be exactly 1");
      const double kl = dgc::cpu::klStudentT(n, k, d, pr.Z.data(), pr.Mu.data(), nu, P.data(), 1.0, nullptr, dZ.data(), dMu.data());
      bool zero = kl == 0.0;
      for (float v : dZ) zero = zero && v == 0.0f;
      for (float v : dMu) zero = zero && v == 0.0f;
      const double fl = dgc::cpu::focalStudentT(n, k, d, pr.Z.data(), pr.Mu.data(), nu, P.data(), 2.0, 1.0, nullptr, dZ.data(), dMu.data());
      zero = zero && fl == 0.0;
      for (float v : dZ) zero = zero && v == 0.0f;
      CHECK(zero, "K=1: KL %g and focal %g must be 0 with zero gradients", kl, fl);
    }
  }
  // Large ν: q underflows even in double (r^e with e = 500.5), so the KL must use the log-space form of log q.
  {
    const int64_t n = 3, k = 3, d = 2;
    const double nu = 1000.0;
    FVec Mu = {0, 0, 300, 0, 0, -2000};
    FVec Z = {1, 1, 299, 2, -5, -1990};
    FVec P(n * k, 1.0f / 3.0f);
    FVec Q(n * k), dZ(n * d), dMu(k * d);
    const double loss = dgc::cpu::klStudentT(n, k, d, Z.data(), Mu.data(), nu, P.data(), 1.0, Q.data(), dZ.data(), dMu.data());
    double ref = 0.0;  // Σ p (log p − log q) with log q from log u − logsumexp(log u), in long double
    for (int64_t i = 0; i < n; ++i) {
      long double logu[3], mx = -1e300L, sum = 0;
      for (int64_t j = 0; j < k; ++j) {
        long double D = 0;
        for (int64_t c = 0; c < d; ++c) D += ((long double)Z[i * d + c] - Mu[j * d + c]) * ((long double)Z[i * d + c] - Mu[j * d + c]);
        logu[j] = -(nu + 1) / 2 * std::log1p(D / nu);
        mx = std::max(mx, logu[j]);
      }
      for (int64_t j = 0; j < k; ++j) sum += std::exp(logu[j] - mx);
      for (int64_t j = 0; j < k; ++j) {
        const long double p = P[i * k + j];
        ref += double(p * (std::log(p) - (logu[j] - mx - std::log(sum))));
      }
    }
    CHECK(Q[2] == 0.0f, "large nu: expected an underflowed q (got %g)", Q[2]);
    expectScalarClose("large-nu KL (log-space fallback)", loss, ref, 1e-9);
    CHECK(allFinite(dZ.data(), n * d) && allFinite(dMu.data(), k * d), "large nu: non-finite gradient");
  }
  // n = 0: dMu zeroed, losses 0.
  {
    FVec Mu(6, 1.0f), dMu(6, 5.0f);
    const double l = dgc::cpu::klStudentT(0, 2, 3, nullptr, Mu.data(), 1.0, nullptr, 1.0, nullptr, nullptr, dMu.data());
    CHECK(l == 0.0 && std::all_of(dMu.begin(), dMu.end(), [](float v) { return v == 0.0f; }), "n=0");
  }
}

// ----- CDC references

struct RefPair {
  Vec D, K, R, Craw, C;
};

RefPair refPairKernel(int64_t b, int64_t w, const Vec& Y, double nu) {
  RefPair r{Vec(b * b), Vec(b * b), Vec(b), Vec(b * b), Vec(b * b)};
  for (int64_t i = 0; i < b; ++i) {
    r.R[i] = 0.0;
    for (int64_t j = 0; j < b; ++j) {
      r.D[i * b + j] = refSqDist(&Y[i * w], &Y[j * w], w);
      r.K[i * b + j] = std::pow(1.0 + r.D[i * b + j] / nu, -(nu + 1.0) / 2.0);
      r.R[i] += r.K[i * b + j];
    }
    for (int64_t j = 0; j < b; ++j) {
      r.Craw[i * b + j] = r.K[i * b + j] / r.R[i];
      r.C[i * b + j] = std::min(1.0, std::max(1e-10, r.Craw[i * b + j]));
    }
  }
  return r;
}

// pairAffinity backward (row normalisation, then the Student-t kernel, then the distances)
Vec refPairBackward(int64_t b, int64_t w, const Vec& Y, double nu, const Vec& G) {
  const RefPair r = refPairKernel(b, w, Y, nu);
  Vec H(b * b), dY(b * w, 0.0);
  for (int64_t i = 0; i < b; ++i) {
    double dot = 0.0;
    for (int64_t l = 0; l < b; ++l) {
      const double gm = (r.Craw[i * b + l] >= 1e-10 && r.Craw[i * b + l] <= 1.0) ? G[i * b + l] : 0.0;
      dot += gm * r.Craw[i * b + l];
    }
    for (int64_t j = 0; j < b; ++j) {
      const double gm = (r.Craw[i * b + j] >= 1e-10 && r.Craw[i * b + j] <= 1.0) ? G[i * b + j] : 0.0;
      const double GK = (gm - dot) / r.R[i];
      H[i * b + j] = -((nu + 1.0) / (2.0 * nu)) * r.K[i * b + j] / (1.0 + r.D[i * b + j] / nu) * GK;
    }
  }
  for (int64_t i = 0; i < b; ++i)
    for (int64_t j = 0; j < b; ++j) {
      const double A = H[i * b + j] + H[j * b + i];
      for (int64_t c = 0; c < w; ++c) dY[i * w + c] += 2.0 * A * (Y[i * w + c] - Y[j * w + c]);
    }
  return dY;
}

// Sharpen (targetDistribution) backward
Vec refSharpenBackward(int64_t n, int64_t k, const Vec& C, const Vec& GS) {
  Vec f(k, 0.0), W(n * k), T(n, 0.0), S(n * k), GW(n * k), GC(n * k);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) f[j] += C[i * k + j];
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < k; ++j) {
      W[i * k + j] = C[i * k + j] * C[i * k + j] / f[j];
      T[i] += W[i * k + j];
    }
    double dot = 0.0;
    for (int64_t j = 0; j < k; ++j) {
      S[i * k + j] = W[i * k + j] / T[i];
      dot += GS[i * k + j] * S[i * k + j];
    }
    for (int64_t j = 0; j < k; ++j) GW[i * k + j] = (GS[i * k + j] - dot) / T[i];
  }
  for (int64_t kk = 0; kk < n; ++kk)
    for (int64_t j = 0; j < k; ++j) {
      double col = 0.0;
      for (int64_t i = 0; i < n; ++i) col += GW[i * k + j] * W[i * k + j];
      GC[kk * k + j] = 2.0 * C[kk * k + j] * GW[kk * k + j] / f[j] - col / f[j];
    }
  return GC;
}

double refRowKl(int64_t m, int64_t k, const Vec& A, const Vec& B, double scale) {
  double s = 0.0;
  for (int64_t i = 0; i < m * k; ++i) {
    const double a = std::min(1.0, std::max(1e-7, A[i])), b = std::min(1.0, std::max(1e-7, B[i]));
    s += a * std::log(a / b);
  }
  return scale * s;
}

double refCdc(int64_t b, int64_t wa, const Vec& Ya, int64_t wb, const Vec& Yb, double nu, double scale) {
  const Vec S = refTarget(b, b, refPairKernel(b, wa, Ya, nu).C);
  return refRowKl(b, b, S, refPairKernel(b, wb, Yb, nu).C, scale);
}

FVec randomMatrix(int64_t rows, int64_t cols, double sd, std::mt19937_64& rng) {
  std::normal_distribution<double> g(0.0, sd);
  FVec m(rows * cols);
  for (auto& v : m) v = float(g(rng));
  return m;
}

void testPairKernels(std::mt19937_64& rng) {
  for (double nu : {1.0, 0.5, 3.0})
    for (int64_t b : {1, 2, 12, 40})
      for (int64_t w : {1, 5, 20}) {
        const FVec Y = randomMatrix(b, w, 1.0, rng);
        const Vec Yd = toDouble(Y);
        const std::string nm = caseName("pairAffinity", b, b, w, nu);
        FVec C(b * b);
        dgc::cpu::pairAffinity(b, w, Y.data(), nu, C.data());
        const RefPair r = refPairKernel(b, w, Yd, nu);
        expectClose(nm, C.data(), r.C.data(), b * b, 1e-5);

        // pairAffinityBackward with a random upstream, vs the reference formula and finite differences of Σ G ⊙ C.
        const FVec G = randomMatrix(b, b, 1.0, rng);
        const Vec Gd = toDouble(G);
        FVec dY(b * w);
        dgc::cpu::pairAffinityBackward(b, w, Y.data(), nu, G.data(), dY.data());
        const Vec dYr = refPairBackward(b, w, Yd, nu, Gd);
        expectNormClose(nm + " backward", dY.data(), dYr.data(), b * w, 1e-5, 1e-9);
        auto linear = [&](const Vec& y, const Vec&) {
          const RefPair rr = refPairKernel(b, w, y, nu);
          double s = 0.0;
          for (int64_t i = 0; i < b * b; ++i) s += Gd[i] * rr.C[i];
          return s;
        };
        expectGradMatchesFd(nm + " backward", linear, Yd, Vec(), dY.data(), nullptr, 1e-5, rng);

        // Sharpen = targetDistribution on b×b, and its backward.
        FVec S(b * b), dC(b * b);
        dgc::cpu::targetDistribution(b, b, C.data(), S.data());
        const Vec Cd = toDouble(C);
        expectClose(nm + " sharpen", S.data(), refTarget(b, b, Cd).data(), b * b, 1e-5);
        const FVec GS = randomMatrix(b, b, 1.0, rng);
        const Vec GSd = toDouble(GS);
        dgc::cpu::targetDistributionBackward(b, b, C.data(), GS.data(), dC.data());
        const Vec dCr = refSharpenBackward(b, b, Cd, GSd);
        expectNormClose(nm + " sharpen backward", dC.data(), dCr.data(), b * b, 1e-5, 1e-9);
        auto sharpenLinear = [&](const Vec& c, const Vec&) {
          const Vec s = refTarget(b, b, c);
          double acc = 0.0;
          for (int64_t i = 0; i < b * b; ++i) acc += GSd[i] * s[i];
          return acc;
        };
        expectGradMatchesFd(nm + " sharpen backward", sharpenLinear, Cd, Vec(), dC.data(), nullptr, 1e-5, rng);

        // cdcCorrelationLoss, both inputs differentiated, against a double end-to-end reference.
        const int64_t wb = w + 3;
        const FVec Yb = randomMatrix(b, wb, 0.7, rng);
        const Vec Ybd = toDouble(Yb);
        const double scale = 0.75 / double(b);
        FVec dYa(b * w), dYb(b * wb);
        const double loss = dgc::cpu::cdcCorrelationLoss(b, w, Y.data(), wb, Yb.data(), nu, scale, dYa.data(), dYb.data());
        const std::string cn = caseName("cdcCorrelationLoss", b, b, w, nu);
        expectScalarClose(cn + " loss", loss, refCdc(b, w, Yd, wb, Ybd, nu, scale), 2e-5, 1e-9);
        expectGradMatchesFd(cn + " Ya", [&](const Vec& y, const Vec&) { return refCdc(b, w, y, wb, Ybd, nu, scale); }, Yd,
                            Vec(), dYa.data(), nullptr, 2e-4, rng);
        expectGradMatchesFd(cn + " Yb", [&](const Vec& y, const Vec&) { return refCdc(b, w, Yd, wb, y, nu, scale); }, Ybd,
                            Vec(), dYb.data(), nullptr, 2e-4, rng);
        // Bit-identical to the documented composition of the primitives.
        FVec Ca(b * b), Sa(b * b), Cb(b * b), dSa(b * b), dCb(b * b), dCa(b * b), pYa(b * w), pYb(b * wb);
        dgc::cpu::pairAffinity(b, w, Y.data(), nu, Ca.data());
        dgc::cpu::targetDistribution(b, b, Ca.data(), Sa.data());
        dgc::cpu::pairAffinity(b, wb, Yb.data(), nu, Cb.data());
        const double pl = dgc::cpu::rowKlClipped(b, b, Sa.data(), Cb.data(), scale, dSa.data(), dCb.data());
        dgc::cpu::targetDistributionBackward(b, b, Ca.data(), dSa.data(), dCa.data());
        dgc::cpu::pairAffinityBackward(b, w, Y.data(), nu, dCa.data(), pYa.data());
        dgc::cpu::pairAffinityBackward(b, wb, Yb.data(), nu, dCb.data(), pYb.data());
        CHECK(pl == loss && bitEqual(pYa, dYa) && bitEqual(pYb, dYb), "%s: not bit-identical to the primitives", cn.c_str());
        // Constant second argument.
        FVec dYa2(b * w);
        const double l2 = dgc::cpu::cdcCorrelationLoss(b, w, Y.data(), wb, Yb.data(), nu, scale, dYa2.data(), nullptr);
        CHECK(l2 == loss && bitEqual(dYa2, dYa), "%s: dYb = null changes the result", cn.c_str());
      }

  // rowKlClipped including clipped entries on both sides.
  {
    const int64_t m = 5, k = 4;
    FVec A = {0.5f, 0.3f, 0.2f, 0.0f, 1e-9f, 0.999f, 1e-3f, 0.0f, 0.25f, 0.25f, 0.25f, 0.25f,
              0.7f, 0.1f, 0.1f, 0.1f, 0.4f, 0.4f, 0.1f, 0.1f};
    FVec B = {0.4f, 0.4f, 0.1f, 0.1f, 0.3f, 0.3f, 1e-12f, 0.4f, 0.1f, 0.2f, 0.3f, 0.4f,
              0.25f, 0.25f, 0.25f, 0.25f, 1e-8f, 0.5f, 0.25f, 0.25f};
    const Vec Ad = toDouble(A), Bd = toDouble(B);
    FVec dA(m * k), dB(m * k);
    const double scale = 1.0 / m;
    const double loss = dgc::cpu::rowKlClipped(m, k, A.data(), B.data(), scale, dA.data(), dB.data());
    expectScalarClose("rowKlClipped loss", loss, refRowKl(m, k, Ad, Bd, scale), 1e-6);
    // Closed-form gradients of the clipped row KL
    Vec dAr(m * k), dBr(m * k);
    for (int64_t i = 0; i < m * k; ++i) {
      const double a = std::min(1.0, std::max(1e-7, Ad[i])), bb = std::min(1.0, std::max(1e-7, Bd[i]));
      dAr[i] = (Ad[i] >= 1e-7 && Ad[i] <= 1.0) ? scale * (std::log(a) - std::log(bb) + 1.0) : 0.0;
      dBr[i] = (Bd[i] >= 1e-7 && Bd[i] <= 1.0) ? -scale * a / bb : 0.0;
    }
    expectNormClose("rowKlClipped dA", dA.data(), dAr.data(), m * k, 1e-6);
    expectNormClose("rowKlClipped dB", dB.data(), dBr.data(), m * k, 1e-6);
    // Finite differences (h is tiny relative to each entry, so no clip boundary is crossed).
    for (int which = 0; which < 2; ++which) {
      Vec fd(m * k), an(m * k);
      for (int64_t i = 0; i < m * k; ++i) {
        Vec a = Ad, bb = Bd;
        Vec& v = which == 0 ? a : bb;
        const double h = 1e-4 * std::max(1e-12, std::fabs(v[i]));
        v[i] += h;
        const double lp = refRowKl(m, k, a, bb, scale);
        v[i] -= 2 * h;
        const double lm = refRowKl(m, k, a, bb, scale);
        fd[i] = (lp - lm) / (2 * h);
        an[i] = which == 0 ? dA[i] : dB[i];
      }
      expectNormClose(which == 0 ? "rowKlClipped dA vs finite differences" : "rowKlClipped dB vs finite differences",
                      an.data(), fd.data(), m * k, 1e-5);
    }
  }

  // Far points: C is clipped at 1e-10, no NaN, gradient finite and matches finite differences.
  for (double nu : {1.0, 0.5, 3.0}) {
    const int64_t b = 8, w = 3;
    FVec Y = randomMatrix(b, w, 1.0, rng);
    for (int64_t c = 0; c < w; ++c) {
      Y[0 * w + c] += 1e8f;   // far: clipped entries (K/R < 1e-12)
      Y[1 * w + c] -= 3e37f;  // very far
    }
    FVec C(b * b), dY(b * w), dYb(b * w);
    dgc::cpu::pairAffinity(b, w, Y.data(), nu, C.data());
    const FVec G = randomMatrix(b, b, 1.0, rng);
    dgc::cpu::pairAffinityBackward(b, w, Y.data(), nu, G.data(), dY.data());
    const FVec Yb = randomMatrix(b, w, 1.0, rng);
    const double loss = dgc::cpu::cdcCorrelationLoss(b, w, Y.data(), w, Yb.data(), nu, 1.0 / b, dYb.data(), nullptr);
    bool clipped = false;
    for (int64_t j = 2; j < b; ++j) clipped = clipped || C[0 * b + j] == 1e-10f;
    CHECK(clipped && C[0] == 1.0f && C[b + 1] == 1.0f, "far pairs: expected clipped entries and C_ii = 1");
    CHECK(allFinite(C.data(), b * b) && allFinite(dY.data(), b * w) && std::isfinite(loss) && allFinite(dYb.data(), b * w),
          "far pairs: non-finite output (nu=%g)", nu);
    const Vec Yd = toDouble(Y);
    const Vec dYr = refPairBackward(b, w, Yd, nu, toDouble(G));
    expectNormClose("far pairs backward", dY.data(), dYr.data(), b * w, 1e-5, 1e-12);
  }
}

// ----- determinism

void testThreadDeterminism(std::mt19937_64& rng) {
  const int64_t n = 20000, k = 7, d = 13;
  const Problem pr = makeProblem(n, k, d, 1.0, rng);
  const FVec G = randomMatrix(n, k, 1.0, rng);
  const int64_t b = 300, wa = 10, wb = 37;
  const FVec Ya = randomMatrix(b, wa, 1.0, rng), Yb = randomMatrix(b, wb, 0.5, rng);
  struct Outputs {
    FVec Q, P, dP, kZ, kMu, bZ, bMu, fZ, fMu, tZ, tMu, cA, cB, C;
    double kl, fl, tl, cl;
  };
  auto runAll = [&]() {
    Outputs o;
    o.Q.resize(n * k);
    o.P.resize(n * k);
    o.dP.resize(n * k);
    o.kZ.resize(n * d);
    o.kMu.resize(k * d);
    o.bZ.resize(n * d);
    o.bMu.resize(k * d);
    o.fZ.resize(n * d);
    o.fMu.resize(k * d);
    o.tZ.resize(n * d);
    o.tMu.resize(k * d);
    o.cA.resize(b * wa);
    o.cB.resize(b * wb);
    o.C.resize(b * b);
    dgc::cpu::studentT(n, k, d, pr.Z.data(), pr.Mu.data(), 1.0, o.Q.data());
    dgc::cpu::targetDistribution(n, k, o.Q.data(), o.P.data());
    dgc::cpu::targetDistributionBackward(n, k, o.Q.data(), G.data(), o.dP.data());
    o.kl = dgc::cpu::klStudentT(n, k, d, pr.Z.data(), pr.Mu.data(), 1.0, pr.P.data(), 1.0 / n, nullptr, o.kZ.data(), o.kMu.data());
    dgc::cpu::studentTBackward(n, k, d, pr.Z.data(), pr.Mu.data(), 1.0, o.Q.data(), G.data(), o.bZ.data(), o.bMu.data());
    o.fl = dgc::cpu::focalStudentT(n, k, d, pr.Z.data(), pr.Mu.data(), 1.0, pr.P.data(), 2.0, 1.0 / n, nullptr, o.fZ.data(), o.fMu.data());
    FVec z2(n * d), z3(n * d);
    o.tl = dgc::cpu::klStudentTTriplet(n, k, d, pr.Z.data(), pr.Z.data(), pr.Z.data(), pr.Mu.data(), 1.0, pr.P.data(), 10.0 / n,
                                       nullptr, nullptr, nullptr, o.tZ.data(), z2.data(), z3.data(), o.tMu.data());
    dgc::cpu::pairAffinity(b, wb, Yb.data(), 1.0, o.C.data());
    o.cl = dgc::cpu::cdcCorrelationLoss(b, wa, Ya.data(), wb, Yb.data(), 1.0, 1.0 / b, o.cA.data(), o.cB.data());
    return o;
  };
  const int before = dgc::numThreads();
  dgc::setNumThreads(1);
  const Outputs ref = runAll();
  for (int threads : {2, 4}) {
    dgc::setNumThreads(threads);
    const Outputs o = runAll();
    CHECK(bitEqual(o.Q, ref.Q) && bitEqual(o.P, ref.P) && bitEqual(o.dP, ref.dP), "studentT/target differ at %d threads", threads);
    CHECK(bitEqual(o.kZ, ref.kZ) && bitEqual(o.kMu, ref.kMu) && o.kl == ref.kl, "klStudentT differs at %d threads", threads);
    CHECK(bitEqual(o.bZ, ref.bZ) && bitEqual(o.bMu, ref.bMu), "studentTBackward differs at %d threads", threads);
    CHECK(bitEqual(o.fZ, ref.fZ) && bitEqual(o.fMu, ref.fMu) && o.fl == ref.fl, "focalStudentT differs at %d threads", threads);
    CHECK(bitEqual(o.tZ, ref.tZ) && bitEqual(o.tMu, ref.tMu) && o.tl == ref.tl, "triplet differs at %d threads", threads);
    CHECK(bitEqual(o.C, ref.C) && bitEqual(o.cA, ref.cA) && bitEqual(o.cB, ref.cB) && o.cl == ref.cl,
          "CDC kernels differ at %d threads", threads);
  }
  dgc::setNumThreads(before);
}

// ----- timing

template <typename Fn>
double bestSeconds(int reps, Fn&& fn) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

void benchmark(std::mt19937_64& rng) {
  const int before = dgc::numThreads();
  dgc::setNumThreads(2);
  const int64_t n = 100000, k = 10, d = 20;
  const Problem pr = makeProblem(n, k, d, 1.0, rng);
  FVec Q(n * k), P(n * k), dZ(n * d), dMu(k * d), dZ2(n * d), dZ3(n * d);
  const double tQ = bestSeconds(3, [&] { dgc::cpu::studentT(n, k, d, pr.Z.data(), pr.Mu.data(), 1.0, Q.data()); });
  const double tP = bestSeconds(3, [&] { dgc::cpu::targetDistribution(n, k, Q.data(), P.data()); });
  const double tKl = bestSeconds(3, [&] {
    dgc::cpu::klStudentT(n, k, d, pr.Z.data(), pr.Mu.data(), 1.0, P.data(), 1.0 / n, Q.data(), dZ.data(), dMu.data());
  });
  const double tB = bestSeconds(3, [&] {
    dgc::cpu::studentTBackward(n, k, d, pr.Z.data(), pr.Mu.data(), 1.0, Q.data(), P.data(), dZ.data(), dMu.data());
  });
  const double tF = bestSeconds(3, [&] {
    dgc::cpu::klFocalStudentT(n, k, d, pr.Z.data(), pr.Mu.data(), 1.0, P.data(), 0.1 / n, 0.1 / n, 2.0, Q.data(),
                              dZ.data(), dMu.data(), nullptr, nullptr);
  });
  const double tT = bestSeconds(2, [&] {
    dgc::cpu::klStudentTTriplet(n, k, d, pr.Z.data(), pr.Z.data(), pr.Z.data(), pr.Mu.data(), 1.0, P.data(), 10.0 / n,
                                nullptr, nullptr, nullptr, dZ.data(), dZ2.data(), dZ3.data(), dMu.data());
  });
  const double fwdBwd = tQ + tP + tKl;
  const float* zs[1] = {pr.Z.data()};
  float* dzs[1] = {dZ.data()};
  const double tSelf = bestSeconds(3, [&] {
    dgc::cpu::klStudentTSelf(n, k, d, 1, zs, pr.Mu.data(), 1.0, 1.0 / n, Q.data(), P.data(), nullptr, nullptr);
  });
  const double tSelfGrad = bestSeconds(3, [&] {
    dgc::cpu::klStudentTSelf(n, k, d, 1, zs, pr.Mu.data(), 1.0, 1.0 / n, Q.data(), P.data(), dzs, dMu.data());
  });
  std::printf("timing (2 threads), N=%lld K=%lld d=%lld:\n", (long long)n, (long long)k, (long long)d);
  std::printf("  studentT %.1f ms, targetDistribution %.1f ms, klStudentT fused (Q+loss+dZ+dMu) %.1f ms\n", tQ * 1e3,
              tP * 1e3, tKl * 1e3);
  std::printf("  studentTBackward %.1f ms, klFocalStudentT %.1f ms, klStudentTTriplet %.1f ms\n", tB * 1e3, tF * 1e3,
              tT * 1e3);
  std::printf("  forward + target + fused KL backward: %.1f ms\n", fwdBwd * 1e3);
  std::printf("  klStudentTSelf (Q, P, loss) %.1f ms; with dZ, dMu %.1f ms\n", tSelf * 1e3, tSelfGrad * 1e3);
  CHECK(fwdBwd < 0.5, "N=100k forward+backward took %.3f s (budget: well under 1 s)", fwdBwd);

  for (auto [b, wa, wb] : {std::tuple<int64_t, int64_t, int64_t>{64, 10, 2048}, {1024, 10, 10}, {256, 10, 2048}}) {
    const FVec Ya = randomMatrix(b, wa, 1.0, rng), Yb = randomMatrix(b, wb, 0.3, rng);
    FVec dYa(b * wa), dYb(b * wb);
    const double t = bestSeconds(2, [&] {
      dgc::cpu::cdcCorrelationLoss(b, wa, Ya.data(), wb, Yb.data(), 1.0, 1.0 / b, dYa.data(), dYb.data());
    });
    std::printf("  cdcCorrelationLoss b=%lld wa=%lld wb=%lld (both gradients): %.1f ms\n", (long long)b, (long long)wa,
                (long long)wb, t * 1e3);
  }
  dgc::setNumThreads(before);
}

}  // namespace

// The pair kernels' instruction sets (pair_kernels.h) all give the bits of the scalar definition, which is what the
// CPU backend computed before they were vectorised: distances by four partial sums over the columns mod 4 (the last
// w mod 4 columns into the first), pairs j > i mirrored; the gradient summed over j in order, zero coefficients
// skipped. Written out here in plain loops, every set must match them bit for bit.
void refPairDistances(int64_t b, int64_t w, const float* Y, std::vector<double>& D) {
  D.assign(b * b, 0.0);
  for (int64_t i = 0; i < b; ++i)
    for (int64_t j = i + 1; j < b; ++j) {
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int64_t c = 0;
      const float* a = Y + i * w;
      const float* e = Y + j * w;
      for (; c + 4 <= w; c += 4) {
        const double d0 = double(a[c]) - double(e[c]), d1 = double(a[c + 1]) - double(e[c + 1]);
        const double d2 = double(a[c + 2]) - double(e[c + 2]), d3 = double(a[c + 3]) - double(e[c + 3]);
        s0 += d0 * d0;
        s1 += d1 * d1;
        s2 += d2 * d2;
        s3 += d3 * d3;
      }
      for (; c < w; ++c) {
        const double d = double(a[c]) - double(e[c]);
        s0 += d * d;
      }
      D[i * b + j] = D[j * b + i] = (s0 + s1) + (s2 + s3);
    }
}
void refPairDistanceGrad(int64_t b, int64_t w, const float* Y, const std::vector<double>& H, FVec& dY) {
  dY.assign(b * w, 0.0f);
  std::vector<double> acc(w);
  for (int64_t i = 0; i < b; ++i) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t j = 0; j < b; ++j) {
      if (j == i) continue;
      const double a = 2.0 * (H[i * b + j] + H[j * b + i]);
      if (a == 0.0) continue;
      for (int64_t c = 0; c < w; ++c) acc[c] += a * (double(Y[i * w + c]) - double(Y[j * w + c]));
    }
    for (int64_t c = 0; c < w; ++c) dY[i * w + c] = static_cast<float>(acc[c]);
  }
}

void testPairKernelSets(std::mt19937_64& rng) {
  const std::string before = dgc::cpu::pair_detail::activeKernelSetName();
  int sets = 0;
  FVec lossesPortable;
  for (const char* set : {"portable", "avx2", "avx512"}) {
    if (!dgc::cpu::pair_detail::forceKernelSet(set)) {
      std::printf("  pair kernels: set %s not available on this CPU or build (skipped)\n", set);
      continue;
    }
    ++sets;
    FVec losses;
    std::mt19937_64 r(777);  // the same inputs for every set (fresh distributions: normal_distribution caches a draw)
    std::normal_distribution<double> nd(0.0, 1.0);
    std::uniform_real_distribution<double> ud(0.0, 1.0);
    for (int64_t b : {1, 2, 5, 8, 63, 64, 67})
      for (int64_t w : {0, 1, 3, 4, 7, 10, 33, 784}) {
        FVec Y(b * w);
        const double scale = ud(r) < 0.3 ? 1e3 : 1.0;
        for (auto& v : Y) v = static_cast<float>(scale * nd(r));
        std::vector<double> H(b * b);
        for (auto& v : H) v = ud(r) < 0.2 ? 0.0 : nd(r);
        for (int64_t i = 0; i + 1 < b; i += 3) H[(i + 1) * b + i] = -H[i * b + i + 1];  // some H_ij + H_ji = 0 exactly
        std::vector<double> Dref, D(b * b, -1.0);
        refPairDistances(b, w, Y.data(), Dref);
        dgc::cpu::pairSquaredDistances(b, w, Y.data(), D.data());
        const std::string nm = std::string("pair kernels (") + set + ") b=" + std::to_string(b) + " w=" + std::to_string(w);
        CHECK(std::memcmp(D.data(), Dref.data(), sizeof(double) * b * b) == 0, "%s: distances differ from the scalar definition", nm.c_str());
        FVec gRef, g(b * w, -1.0f);
        refPairDistanceGrad(b, w, Y.data(), H, gRef);
        dgc::cpu::pairDistanceGrad(b, w, Y.data(), H.data(), g.data());
        CHECK(bitEqual(g, gRef), "%s: gradient differs from the scalar definition", nm.c_str());
        if (w > 0 && b > 1) {
          FVec Yb(b * 10), dA(b * w), dB(b * 10);
          for (auto& v : Yb) v = static_cast<float>(nd(r));
          losses.push_back(static_cast<float>(dgc::cpu::cdcCorrelationLoss(b, w, Y.data(), 10, Yb.data(), 1.0, 1.0 / b, dA.data(), dB.data())));
          losses.insert(losses.end(), dA.begin(), dA.end());
          losses.insert(losses.end(), dB.begin(), dB.end());
        }
      }
    if (lossesPortable.empty()) lossesPortable = losses;
    else CHECK(bitEqual(losses, lossesPortable), "cdcCorrelationLoss (set %s) differs from the portable set", set);
  }
  CHECK(sets >= 1, "no pair kernel set could be forced");
  dgc::cpu::pair_detail::forceKernelSet(before.c_str());
  std::printf("  pair kernels: %d instruction set(s) checked bit for bit against the scalar definition\n", sets);
}

int main(int argc, char** argv) {
  bool bench = true;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--no-bench") bench = false;
  std::mt19937_64 rng(12345);
  testStudentTFamily(rng);
  testTriplet(rng);
  testSelfTarget(rng);
  testFocalClamp(rng);
  testDegenerate(rng);
  testPairKernels(rng);
  testPairKernelSets(rng);
  testThreadDeterminism(rng);
  if (bench) benchmark(rng);
  std::printf("cluster_test: %d checks, %d failures\n", gChecks, gFailures);
  return gFailures ? 1 : 0;
}
