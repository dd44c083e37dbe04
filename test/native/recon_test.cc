// Standalone tests for native/cpu/recon.{h,cc} (no Node). Exits non-zero on any failure.
//
// Build and run (from the repository root):
//   mkdir -p /tmp/recon-work
//   g++ -O2 -std=c++17 -pthread -Inative test/native/recon_test.cc native/cpu/recon.cc native/core/thread_pool.cc -o /tmp/recon-work/recon_test
//   /tmp/recon-work/recon_test            (add --quick to skip the N = 1300/1500 cases)
// With sanitizers: add -fsanitize=address,undefined -g.
//
// What is checked, for every kernel set this CPU runs (portable, avx2, avx512), against a dense double
// reference that follows the same formulas with nothing tiled (for BCE it emulates PyTorch's float32
// evaluation of a = 1/(1 + exp(−s)), 1 − a and the gradient guard κ, since that rounding is the semantics):
//   * DFCN MSE with two embeddings (d1 ≠ d2, odd widths) and with one; CaEGCN BCE;
//   * a row-normalized, symmetrized graph with self loops (A not symmetric), a directed graph with empty rows,
//     isolated nodes, targets with values in (0, 1), explicit zeros, an empty CSR;
//   * large dot products (σ saturates: no NaN/Inf; BCE's −100 clamp and zero gradient where a == 1.0f),
//     negative dot products (a underflows), non-negative embeddings as in CaEGCN;
//   * N = 1, 2, 3, odd sizes and block boundaries (127, 128, 129, 257, 300), even and odd block counts
//     (N = 1500: 12 blocks, N = 1300: 11 blocks);
//   * g scaling; forward only (null gradients) with a loss bit-identical to the gradient call; one of two
//     gradients; bit-identical results for 1, 2 and 3 threads; argument errors.
// Tolerance: the loss to rtol 1e-4; each gradient element to |x − ref| ≤ 1e-4·(|ref| + 1e-2·max|ref|), i.e.
// rtol 1e-4 with an absolute floor at 1e-6 of the largest element (float32 sums of n terms of both signs can
// cancel to far below their terms). Worst observed errors are printed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/recon.h"

using dgc::cpu::CsrView;

namespace {

int gFailures = 0;
int gChecks = 0;
double gWorstLossErr = 0.0, gWorstGradErr = 0.0;  // relative to the tolerance (≤ 1 passes)

#define CHECK(cond, ...)                       \
  do {                                         \
    ++gChecks;                                 \
    if (!(cond)) {                             \
      ++gFailures;                             \
      std::printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      std::printf(__VA_ARGS__);                \
      std::printf("\n");                       \
    }                                          \
  } while (0)

// ─── Test data ─────────────────────────────────────────────────────────────────────────────────────────────────

struct Csr {
  int64_t n = 0;
  std::vector<int32_t> indptr, indices;
  std::vector<float> values;
  CsrView view() const {
    CsrView v;
    v.rows = v.cols = n;
    v.indptr = indptr.data();
    v.indices = indices.data();
    v.values = values.data();
    return v;
  }
};

// CSR from per-row maps (sorted, unique by construction).
Csr fromRows(int64_t n, const std::vector<std::vector<std::pair<int32_t, float>>>& rows) {
  Csr c;
  c.n = n;
  c.indptr.push_back(0);
  for (int64_t i = 0; i < n; ++i) {
    std::vector<std::pair<int32_t, float>> r = rows[i];
    std::sort(r.begin(), r.end());
    for (const auto& e : r) {
      c.indices.push_back(e.first);
      c.values.push_back(e.second);
    }
    c.indptr.push_back(static_cast<int32_t>(c.indices.size()));
  }
  return c;
}

// DFCN/SDCN adjacency: random kNN-like edges (each node picks 0..k neighbours, some nodes none: isolated),
// symmetrized, plus self loops, row-normalized D⁻¹(A+I). Values 1/(deg_i + 1): not symmetric.
Csr rowNormalizedGraph(int64_t n, int k, std::mt19937& rng) {
  std::vector<std::set<int32_t>> adj(n);
  std::uniform_int_distribution<int> degree(0, k);
  std::uniform_int_distribution<int64_t> node(0, std::max<int64_t>(0, n - 1));
  for (int64_t i = 0; i < n; ++i) {
    if (i % 7 == 3) continue;  // isolated unless someone picks it
    const int deg = degree(rng);
    for (int e = 0; e < deg; ++e) {
      const int64_t j = node(rng);
      if (j == i || j % 7 == 3) continue;
      adj[i].insert(static_cast<int32_t>(j));
      adj[j].insert(static_cast<int32_t>(i));
    }
  }
  std::vector<std::vector<std::pair<int32_t, float>>> rows(n);
  for (int64_t i = 0; i < n; ++i) {
    adj[i].insert(static_cast<int32_t>(i));
    const float v = 1.0f / static_cast<float>(adj[i].size());
    for (int32_t j : adj[i]) rows[i].push_back({j, v});
  }
  return fromRows(n, rows);
}

// Directed random pattern (not symmetric), values in (0, 1) (or 1 and explicit zeros), every third row empty,
// a few diagonal entries.
Csr directedGraph(int64_t n, int k, std::mt19937& rng, bool withZeros) {
  std::vector<std::vector<std::pair<int32_t, float>>> rows(n);
  std::uniform_int_distribution<int64_t> node(0, std::max<int64_t>(0, n - 1));
  std::uniform_real_distribution<float> value(0.05f, 0.95f);
  for (int64_t i = 0; i < n; ++i) {
    if (i % 3 == 1) continue;
    std::set<int32_t> cols;
    for (int e = 0; e < k; ++e) cols.insert(static_cast<int32_t>(node(rng)));
    if (i % 5 == 0) cols.insert(static_cast<int32_t>(i));
    for (int32_t j : cols) rows[i].push_back({j, withZeros && (j % 4 == 0) ? 0.0f : value(rng)});
  }
  return fromRows(n, rows);
}

Csr emptyGraph(int64_t n) {
  Csr c;
  c.n = n;
  c.indptr.assign(n + 1, 0);
  return c;
}

std::vector<float> randomMatrix(int64_t n, int64_t d, float scale, bool nonNegative, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> z(static_cast<size_t>(n * d));
  for (float& x : z) x = nonNegative ? std::fabs(dist(rng)) : dist(rng);
  return z;
}

// Entries k/4 with k uniform in [−maxK, maxK]: every dot product is exact in float (and double), so kernel and
// reference see the same s even where σ is ill-conditioned (|s| of tens to hundreds); a float Gram of
// unquantized data of that size differs from the double one by ~1e−4 absolute, which saturating regions turn
// into relative gradient errors beyond 1e−4 (PyTorch's float Gram has the same error).
std::vector<float> quantizedMatrix(int64_t n, int64_t d, int maxK, std::mt19937& rng) {
  std::uniform_int_distribution<int> dist(-maxK, maxK);
  std::vector<float> z(static_cast<size_t>(n * d));
  for (float& x : z) x = static_cast<float>(dist(rng)) / 4.0f;
  return z;
}

std::vector<double> denseOf(const Csr& a) {
  std::vector<double> m(static_cast<size_t>(a.n * a.n), 0.0);
  for (int64_t i = 0; i < a.n; ++i)
    for (int32_t e = a.indptr[i]; e < a.indptr[i + 1]; ++e) m[i * a.n + a.indices[e]] = a.values[e];
  return m;
}

std::vector<double> gramDouble(int64_t n, const std::vector<float>& z, int64_t d) {
  std::vector<double> s(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int64_t k = 0; k < d; ++k) acc += static_cast<double>(z[i * d + k]) * z[j * d + k];
      s[i * n + j] = acc;
    }
  return s;
}

// dZ_i = scale · Σ_j (G_ij + G_ji) z_j
std::vector<double> gradFromG(int64_t n, const std::vector<double>& G, const std::vector<float>& z, int64_t d,
                              double scale) {
  std::vector<double> out(static_cast<size_t>(n * d), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const double c = scale * (G[i * n + j] + G[j * n + i]);
      for (int64_t k = 0; k < d; ++k) out[i * d + k] += c * z[j * d + k];
    }
  return out;
}

// ─── References ────────────────────────────────────────────────────────────────────────────────────────────────

struct Reference {
  double loss = 0.0;
  std::vector<double> dZ1, dZ2;
};

double sigmoidDouble(double s) { return 1.0 / (1.0 + std::exp(-s)); }

// DFCN's L_a (the official code's mean) and its gradient: R = σ1 + σ2 − A, L = ΣR²/N²,
// G_e = (2/N²) R σ_e (1 − σ_e), dZ_e = g (G_e + G_eᵀ) Z_e.
Reference referenceMse(int64_t n, const std::vector<float>& z1, int64_t d1, const std::vector<float>* z2, int64_t d2,
                       const Csr& a, double g) {
  const std::vector<double> A = denseOf(a);
  const std::vector<double> s1 = gramDouble(n, z1, d1);
  std::vector<double> s2;
  if (z2) s2 = gramDouble(n, *z2, d2);
  const double nn = static_cast<double>(n) * n;
  std::vector<double> G1(n * n), G2(z2 ? n * n : 0);
  Reference ref;
  for (int64_t p = 0; p < n * n; ++p) {
    const double sig1 = sigmoidDouble(s1[p]);
    const double sig2 = z2 ? sigmoidDouble(s2[p]) : 0.0;
    const double R = sig1 + sig2 - A[p];
    ref.loss += R * R;
    G1[p] = 2.0 / nn * R * sig1 * (1.0 - sig1);
    if (z2) G2[p] = 2.0 / nn * R * sig2 * (1.0 - sig2);
  }
  ref.loss /= nn;
  ref.dZ1 = gradFromG(n, G1, z1, d1, g);
  if (z2) ref.dZ2 = gradFromG(n, G2, *z2, d2, g);
  return ref;
}

// CaEGCN's graph BCE (the official code's F.binary_cross_entropy), emulating PyTorch float32: e = exp(−s) rounded to
// float, a = 1 / (1 + e) in float,
// ℓ = −[t·max(ln a, −100) + (1−t)·max(ln(1−a), −100)] with 1 − a in float,
// ∂ℓ/∂s = (a − t)·κ, κ = p / max(p, 1e−12), p = (1 − a)·a in float.
Reference referenceBce(int64_t n, const std::vector<float>& z, int64_t d, const Csr& t, double g) {
  const std::vector<double> T = denseOf(t);
  const std::vector<double> s = gramDouble(n, z, d);
  const double nn = static_cast<double>(n) * n;
  std::vector<double> G(n * n);
  Reference ref;
  auto clampedLog = [](float x) { return x > 0.0f ? std::max(std::log(static_cast<double>(x)), -100.0) : -100.0; };
  for (int64_t q = 0; q < n * n; ++q) {
    const float e = static_cast<float>(std::exp(-s[q]));
    const float onePlusE = 1.0f + e;
    const float a = 1.0f / onePlusE;
    const float oneMinusA = 1.0f - a;
    const double tq = T[q];
    ref.loss += -(tq * clampedLog(a) + (1.0 - tq) * clampedLog(oneMinusA));
    const float p = oneMinusA * a;
    const double kappa = p >= 1e-12f ? 1.0 : static_cast<double>(p) * 1e12;
    G[q] = (static_cast<double>(a) - tq) * kappa / nn;
  }
  ref.loss /= nn;
  ref.dZ1 = gradFromG(n, G, z, d, g);
  return ref;
}

// ─── Comparisons ───────────────────────────────────────────────────────────────────────────────────────────────

constexpr double kRtol = 1e-4;

bool allFinite(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

void checkLoss(const std::string& what, double got, double want) {
  const double err = std::fabs(got - want);
  const double tol = kRtol * std::fabs(want) + 1e-12;
  gWorstLossErr = std::max(gWorstLossErr, err / tol);
  if (std::getenv("RECON_TEST_VERBOSE") && err / tol > 0.05) std::printf("  %s: loss err/tol %.3g\n", what.c_str(), err / tol);
  CHECK(std::isfinite(got) && err <= tol, "%s: loss %.10g, reference %.10g (rel err %.3g)", what.c_str(), got, want,
        err / std::max(std::fabs(want), 1e-300));
}

void checkGrad(const std::string& what, const std::vector<float>& got, const std::vector<double>& want) {
  double maxRef = 0.0;
  for (double x : want) maxRef = std::max(maxRef, std::fabs(x));
  double worst = 0.0;
  size_t worstAt = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = kRtol * (std::fabs(want[i]) + 1e-2 * maxRef) + 1e-30;
    const double r = std::isfinite(got[i]) ? std::fabs(got[i] - want[i]) / tol : 1e30;
    if (r > worst) worst = r, worstAt = i;
  }
  gWorstGradErr = std::max(gWorstGradErr, worst);
  CHECK(worst <= 1.0, "%s: gradient element %zu = %.9g, reference %.9g (max |ref| %.3g, err/tol %.3g)", what.c_str(),
        worstAt, got.empty() ? 0.0 : got[worstAt], want.empty() ? 0.0 : want[worstAt], maxRef, worst);
}

// ─── Cases ─────────────────────────────────────────────────────────────────────────────────────────────────────

std::string tag(const char* kernel, const std::string& what) { return std::string("[") + kernel + "] " + what; }

// MSE with one or two embeddings against the reference; also forward-only and single-gradient variants.
// scale > 0: normal entries of that standard deviation; scale < 0: quantizedMatrix with maxK = −scale.
std::vector<float> embedding(int64_t n, int64_t d, float scale, bool nonNegative, std::mt19937& rng) {
  return scale > 0.0f ? randomMatrix(n, d, scale, nonNegative, rng) : quantizedMatrix(n, d, static_cast<int>(-scale), rng);
}

void mseCase(const char* kernel, const std::string& name, int64_t n, int64_t d1, int64_t d2, const Csr& a, float scale,
             float g, std::mt19937& rng) {
  const bool two = d2 > 0;
  const std::vector<float> z1 = embedding(n, d1, scale, false, rng);
  const std::vector<float> z2 = two ? embedding(n, d2, scale, false, rng) : std::vector<float>();
  const Reference ref = referenceMse(n, z1, d1, two ? &z2 : nullptr, d2, a, g);
  std::vector<float> g1(n * d1, 7.0f), g2(two ? n * d2 : 0, 7.0f);  // garbage: must be overwritten
  const double loss = dgc::cpu::gramSigmoidMseLoss(n, z1.data(), d1, two ? z2.data() : nullptr, d2, a.view(), g,
                                                   g1.data(), two ? g2.data() : nullptr);
  const std::string what = tag(kernel, name);
  checkLoss(what, loss, ref.loss);
  checkGrad(what + " dZ1", g1, ref.dZ1);
  if (two) checkGrad(what + " dZ2", g2, ref.dZ2);
  CHECK(allFinite(g1) && allFinite(g2), "%s: non-finite gradient", what.c_str());

  // Forward only: the same loss, bit for bit.
  const double forward = dgc::cpu::gramSigmoidMseLoss(n, z1.data(), d1, two ? z2.data() : nullptr, d2, a.view(), g,
                                                      nullptr, nullptr);
  CHECK(forward == loss, "%s: forward-only loss %.17g != %.17g", what.c_str(), forward, loss);
  if (two) {
    // One gradient of two: the other pointer untouched, the computed one identical.
    std::vector<float> only2(n * d2, 5.0f);
    const double l2 = dgc::cpu::gramSigmoidMseLoss(n, z1.data(), d1, z2.data(), d2, a.view(), g, nullptr, only2.data());
    CHECK(l2 == loss && std::memcmp(only2.data(), g2.data(), sizeof(float) * only2.size()) == 0,
          "%s: dZ2 alone differs from dZ2 computed with dZ1", what.c_str());
  }
}

void bceCase(const char* kernel, const std::string& name, int64_t n, int64_t d, const Csr& t, float scale,
             bool nonNegative, float g, std::mt19937& rng) {
  const std::vector<float> z = embedding(n, d, scale, nonNegative, rng);
  const Reference ref = referenceBce(n, z, d, t, g);
  std::vector<float> dz(n * d, 7.0f);
  const double loss = dgc::cpu::gramSigmoidBceLoss(n, z.data(), d, t.view(), g, dz.data());
  const std::string what = tag(kernel, name);
  checkLoss(what, loss, ref.loss);
  checkGrad(what + " dZ", dz, ref.dZ1);
  CHECK(allFinite(dz), "%s: non-finite gradient", what.c_str());
  const double forward = dgc::cpu::gramSigmoidBceLoss(n, z.data(), d, t.view(), g, nullptr);
  CHECK(forward == loss, "%s: forward-only loss %.17g != %.17g", what.c_str(), forward, loss);
}

void testAgainstReference(const char* kernel, bool quick) {
  std::mt19937 rng(1234);
  // Block boundaries, odd sizes, small N.
  for (int64_t n : {1, 2, 3, 5, 31, 127, 128, 129, 257, 300}) {
    const Csr a = rowNormalizedGraph(n, 6, rng);
    mseCase(kernel, "mse two emb n=" + std::to_string(n), n, 20, 7, a, 0.4f, 1.0f, rng);
    mseCase(kernel, "mse one emb n=" + std::to_string(n), n, 20, 0, a, 0.4f, 1.0f, rng);
    const Csr t = directedGraph(n, 5, rng, false);
    bceCase(kernel, "bce n=" + std::to_string(n), n, 13, t, 0.4f, false, 1.0f, rng);
  }
  // Widths: 1, 2, 8, 9, 24, 25, 61 (several product chunks), with one and two embeddings.
  for (int64_t d : {1, 2, 8, 9, 24, 25, 61}) {
    const int64_t n = 150;
    const Csr a = rowNormalizedGraph(n, 4, rng);
    mseCase(kernel, "mse d=" + std::to_string(d), n, d, d % 3 + 1, a, 1.0f / std::sqrt(static_cast<float>(d)), 1.0f, rng);
    const Csr t = rowNormalizedGraph(n, 4, rng);
    bceCase(kernel, "bce d=" + std::to_string(d), n, d, t, 1.0f / std::sqrt(static_cast<float>(d)), false, 1.0f, rng);
  }
  // Directed A with empty rows, explicit zeros; g scaling (γ = 0.1, and a negative g).
  {
    const int64_t n = 270;
    const Csr a = directedGraph(n, 8, rng, true);
    mseCase(kernel, "mse directed g=0.1", n, 20, 20, a, 0.5f, 0.1f, rng);
    mseCase(kernel, "mse directed g=-3", n, 11, 0, a, 0.5f, -3.0f, rng);
    bceCase(kernel, "bce directed g=0.01", n, 20, a, 0.5f, false, 0.01f, rng);
  }
  // Empty CSR.
  {
    const Csr e = emptyGraph(140);
    mseCase(kernel, "mse empty A", 140, 20, 20, e, 0.5f, 1.0f, rng);
    bceCase(kernel, "bce empty T", 140, 20, e, 0.5f, false, 1.0f, rng);
  }
  // CaEGCN regime: non-negative embeddings (ReLU output), row-normalized target with self loops; moderate
  // and large norms (diagonal s_ii = ‖z_i‖² well past 17: a == 1.0f, loss 100(1−t), zero gradient there).
  {
    const int64_t n = 260;
    const Csr t = rowNormalizedGraph(n, 6, rng);
    bceCase(kernel, "bce relu z moderate", n, 20, t, 0.3f, true, 1.0f, rng);
    bceCase(kernel, "bce relu z saturating", n, 20, t, 1.5f, true, 1.0f, rng);
    bceCase(kernel, "bce relu z saturating d=561", n, 561, t, 0.25f, true, 1.0f, rng);
  }
  // Large dot products of both signs (quantized entries, exact dots): σ saturates to 0 and 1, a underflows
  // (s < −88.7 gives a == 0 exactly).
  {
    const int64_t n = 200;
    const Csr a = rowNormalizedGraph(n, 6, rng);
    mseCase(kernel, "mse large dots", n, 20, 20, a, -8.0f, 1.0f, rng);
    mseCase(kernel, "mse huge dots", n, 20, 20, a, -24.0f, 1.0f, rng);
    const Csr t = directedGraph(n, 6, rng, false);
    bceCase(kernel, "bce large dots", n, 20, t, -8.0f, false, 1.0f, rng);
    bceCase(kernel, "bce huge dots", n, 20, t, -24.0f, false, 1.0f, rng);
  }
  if (!quick) {
    // Even (12) and odd (11) block counts of the round-robin schedule.
    for (int64_t n : {1500, 1300}) {
      const Csr a = rowNormalizedGraph(n, 10, rng);
      mseCase(kernel, "mse two emb n=" + std::to_string(n), n, 20, 10, a, 0.4f, 0.1f, rng);
      bceCase(kernel, "bce n=" + std::to_string(n), n, 20, a, 0.3f, true, 0.01f, rng);
    }
  }
}

// Hand-checkable values.
void testExactValues() {
  // n = 1, Z = 0: σ = 0.5; MSE with A = [[1]]: (0.5 − 1)² = 0.25; gradient 0 (Z = 0).
  const float z0[1] = {0.0f};
  Csr a = fromRows(1, {{{0, 1.0f}}});
  float dz[1] = {9.0f};
  double l = dgc::cpu::gramSigmoidMseLoss(1, z0, 1, nullptr, 0, a.view(), 1.0f, dz, nullptr);
  CHECK(std::fabs(l - 0.25) < 1e-7 && dz[0] == 0.0f, "n=1 MSE: loss %.9g (want 0.25), dZ %g", l, dz[0]);
  // Two embeddings at 0 and A empty: (0.5 + 0.5)² = 1.
  const Csr empty = emptyGraph(1);
  l = dgc::cpu::gramSigmoidMseLoss(1, z0, 1, z0, 1, empty.view(), 1.0f, nullptr, nullptr);
  CHECK(std::fabs(l - 1.0) < 1e-7, "n=1 two embeddings: loss %.9g (want 1)", l);
  // BCE, n = 1, z = 0 (a = 0.5), t = 0.3: −ln 0.5 = ln 2 whatever t is.
  Csr t = fromRows(1, {{{0, 0.3f}}});
  l = dgc::cpu::gramSigmoidBceLoss(1, z0, 1, t.view(), 1.0f, nullptr);
  CHECK(std::fabs(l - std::log(2.0)) < 1e-6, "n=1 BCE: loss %.9g (want ln 2)", l);
  // BCE saturated: z = 5 (s = 25, a == 1.0f), t = 0.25: loss 100·(1 − 0.25) = 75, gradient exactly 0.
  const float z5[1] = {5.0f};
  Csr t2 = fromRows(1, {{{0, 0.25f}}});
  dz[0] = 9.0f;
  l = dgc::cpu::gramSigmoidBceLoss(1, z5, 1, t2.view(), 1.0f, dz);
  CHECK(std::fabs(l - 75.0) < 1e-5 && dz[0] == 0.0f, "saturated BCE: loss %.9g (want 75), dZ %g (want 0)", l, dz[0]);
  // BCE, target 0 where a underflows to exactly 0 (s = −100): loss −ln(1 − 0) = 0, and with t = 1 the clamp:
  // −max(ln 0, −100) = 100.
  const float zs[2] = {10.0f, -10.0f};  // s_01 = −100
  Csr t3 = fromRows(2, {{{1, 1.0f}}, {}});
  l = dgc::cpu::gramSigmoidBceLoss(2, zs, 1, t3.view(), 1.0f, nullptr);
  // pairs: (0,0) s=100 → a=1, t=0: 100; (1,1) s=100: 100; (0,1) s=−100, t=1: 100; (1,0) s=−100, t=0: 0.
  CHECK(std::fabs(l - 300.0 / 4.0) < 1e-5, "BCE clamps: loss %.9g (want 75)", l);
  // values == nullptr means ones.
  Csr ones = fromRows(1, {{{0, 1.0f}}});
  CsrView v = ones.view();
  v.values = nullptr;
  l = dgc::cpu::gramSigmoidMseLoss(1, z0, 1, nullptr, 0, v, 1.0f, nullptr, nullptr);
  CHECK(std::fabs(l - 0.25) < 1e-7, "values == nullptr: loss %.9g (want 0.25)", l);
  // A NaN in Z propagates to the loss (and to the gradient rows it touches) instead of being lost in the
  // fixed-point loss sum.
  {
    std::mt19937 rng(11);
    const int64_t n = 300;
    const Csr g = rowNormalizedGraph(n, 4, rng);
    std::vector<float> z = randomMatrix(n, 5, 0.5f, false, rng);
    z[7 * 5 + 2] = NAN;
    std::vector<float> grad(n * 5);
    const double lm = dgc::cpu::gramSigmoidMseLoss(n, z.data(), 5, nullptr, 0, g.view(), 1.0f, grad.data(), nullptr);
    const double lb = dgc::cpu::gramSigmoidBceLoss(n, z.data(), 5, g.view(), 1.0f, grad.data());
    CHECK(std::isnan(lm) && std::isnan(lb) && std::isnan(grad[7 * 5]), "NaN input: losses %g %g, dZ[7][0] %g", lm, lb,
          grad[7 * 5]);
  }
  // n = 0.
  const Csr none = emptyGraph(0);
  CHECK(dgc::cpu::gramSigmoidMseLoss(0, nullptr, 3, nullptr, 0, none.view(), 1.0f, nullptr, nullptr) == 0.0,
        "n=0 MSE");
  CHECK(dgc::cpu::gramSigmoidBceLoss(0, nullptr, 3, none.view(), 1.0f, nullptr) == 0.0, "n=0 BCE");
}

// Bit-identical results for 1, 2 and 3 threads (and across repeated calls).
void testThreadDeterminism(const char* kernel) {
  std::mt19937 rng(99);
  const int64_t n = 1000;  // 8 blocks: 7 rounds of 4 tiles
  const Csr a = rowNormalizedGraph(n, 8, rng);
  const std::vector<float> z1 = randomMatrix(n, 20, 0.5f, false, rng), z2 = randomMatrix(n, 13, 0.5f, false, rng);
  const int64_t n2 = 1100;  // 9 blocks (odd): a dummy block each round
  const Csr t = rowNormalizedGraph(n2, 8, rng);
  const std::vector<float> z3 = randomMatrix(n2, 20, 0.6f, true, rng);
  double mseRef = 0, bceRef = 0;
  std::vector<float> g1Ref, g2Ref, g3Ref;
  const int original = dgc::numThreads();
  for (int threads : {1, 2, 3, 2}) {
    dgc::setNumThreads(threads);
    std::vector<float> g1(n * 20), g2(n * 13), g3(n2 * 20);
    const double mse = dgc::cpu::gramSigmoidMseLoss(n, z1.data(), 20, z2.data(), 13, a.view(), 0.1f, g1.data(), g2.data());
    const double bce = dgc::cpu::gramSigmoidBceLoss(n2, z3.data(), 20, t.view(), 0.01f, g3.data());
    if (threads == 1) {
      mseRef = mse, bceRef = bce, g1Ref = g1, g2Ref = g2, g3Ref = g3;
      continue;
    }
    CHECK(mse == mseRef && std::memcmp(g1.data(), g1Ref.data(), g1.size() * 4) == 0 &&
              std::memcmp(g2.data(), g2Ref.data(), g2.size() * 4) == 0,
          "[%s] MSE differs between 1 and %d threads", kernel, threads);
    CHECK(bce == bceRef && std::memcmp(g3.data(), g3Ref.data(), g3.size() * 4) == 0,
          "[%s] BCE differs between 1 and %d threads", kernel, threads);
  }
  dgc::setNumThreads(original);
}

void testErrors() {
  std::mt19937 rng(5);
  const Csr a = rowNormalizedGraph(10, 3, rng);
  const std::vector<float> z = randomMatrix(10, 4, 1.0f, false, rng);
  std::vector<float> dz(40, 3.0f);
  auto throws = [&](const char* what, auto&& fn) {
    bool thrown = false;
    try {
      fn();
    } catch (const std::invalid_argument&) {
      thrown = true;
    }
    CHECK(thrown, "expected std::invalid_argument: %s", what);
  };
  throws("n < 0", [&] { dgc::cpu::gramSigmoidBceLoss(-1, z.data(), 4, a.view(), 1.0f, nullptr); });
  throws("d = 0", [&] { dgc::cpu::gramSigmoidBceLoss(10, z.data(), 0, a.view(), 1.0f, nullptr); });
  throws("null Z", [&] { dgc::cpu::gramSigmoidMseLoss(10, nullptr, 4, nullptr, 0, a.view(), 1.0f, nullptr, nullptr); });
  throws("d2 = 0 with Z2", [&] { dgc::cpu::gramSigmoidMseLoss(10, z.data(), 4, z.data(), 0, a.view(), 1.0f, nullptr, nullptr); });
  CsrView wrong = a.view();
  wrong.cols = 11;
  throws("A not n×n", [&] { dgc::cpu::gramSigmoidMseLoss(10, z.data(), 4, nullptr, 0, wrong, 1.0f, nullptr, nullptr); });
  Csr bad = a;
  bad.indices[2] = 10;
  throws("column out of range", [&] { dgc::cpu::gramSigmoidBceLoss(10, z.data(), 4, bad.view(), 1.0f, dz.data()); });
  CHECK(dz[0] == 3.0f, "dZ written before the argument checks passed");
  Csr bad2 = a;
  std::swap(bad2.indptr[3], bad2.indptr[4]);
  if (bad2.indptr[3] != bad2.indptr[4])
    throws("indptr decreasing", [&] { dgc::cpu::gramSigmoidBceLoss(10, z.data(), 4, bad2.view(), 1.0f, nullptr); });
  Csr bad3 = a;
  bad3.indptr[0] = 1;
  throws("indptr[0] != 0", [&] { dgc::cpu::gramSigmoidBceLoss(10, z.data(), 4, bad3.view(), 1.0f, nullptr); });
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--quick")) quick = true;
  std::printf("default kernel set: %s\n", dgc::cpu::recon_detail::activeKernelSetName());
  testExactValues();
  testErrors();
  for (const char* kernel : {"portable", "avx2", "avx512"}) {
    if (!dgc::cpu::recon_detail::forceKernelSet(kernel)) {
      std::printf("kernel set %s: not available on this CPU, skipped\n", kernel);
      continue;
    }
    const int failuresBefore = gFailures;
    testAgainstReference(kernel, quick);
    testThreadDeterminism(kernel);
    std::printf("kernel set %s: %s\n", kernel, gFailures == failuresBefore ? "ok" : "FAILED");
  }
  std::printf("%d checks, %d failures; worst loss error %.3g of tolerance, worst gradient error %.3g of tolerance\n",
              gChecks, gFailures, gWorstLossErr, gWorstGradErr);
  return gFailures == 0 ? 0 : 1;
}
