// Correctness test for dgc::cpu::sgemm (native/cpu/gemm.h). Standalone: no Node. Exits non-zero on failure.
//
// Build and run (from the repository root):
//   g++ -O2 -std=c++17 -pthread -Inative test/native/gemm_test.cc native/cpu/gemm*.cc native/core/thread_pool.cc -o /tmp/gemm-work/gemm_test
//   /tmp/gemm-work/gemm_test
//
// Checks, for every kernel set this CPU runs (avx512, avx2, generic):
//   - all four transpose forms against a double-precision reference, over a grid of small sizes
//     {0,1,2,3,5,7,8,15,16,17,31,33,63,65,100,257} and random sizes up to ~600, with row strides larger than
//     the widths, alpha ∈ {1, -0.5}, beta ∈ {0, 1, 0.3}; beta = 0 runs with C prefilled by NaN; k = 0;
//     shapes that cross the cache blocks (k > KC, n > NC, m > MC) and the skinny-n (Cᵀ) path;
//   - bit-identical results with 1 and 2 threads;
//   - bit-identical results across the SIMD kernel sets where k fits in one k block of all of them and the
//     packed path runs (then every set computes an element as the same FMA chain; with several k blocks the
//     block size matters, and the skinny dot-product path sums lanes of each set's vector width).
// Tolerance: |c − ref| ≤ 1e-5·(|alpha|·Σ_k|a||b| + |beta·c0|) + 1e-6.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/gemm.h"
#include "cpu/gemm_kernels.h"

namespace {

struct Case {
  bool transA, transB;
  int64_t m, n, k;
  float alpha, beta;
  int64_t padA, padB, padC;  // extra row-stride beyond the stored width
};

std::string describe(const Case& c) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%c%c m=%lld n=%lld k=%lld alpha=%g beta=%g pads=%lld/%lld/%lld",
                c.transA ? 'T' : 'N', c.transB ? 'T' : 'N', (long long)c.m, (long long)c.n, (long long)c.k,
                c.alpha, c.beta, (long long)c.padA, (long long)c.padB, (long long)c.padC);
  return buf;
}

struct Problem {
  Case cs;
  int64_t lda, ldb, ldc;
  std::vector<float> A, B, C0;
};

Problem makeProblem(const Case& c, std::mt19937& rng) {
  Problem p;
  p.cs = c;
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const int64_t aRows = c.transA ? c.k : c.m, aCols = c.transA ? c.m : c.k;
  const int64_t bRows = c.transB ? c.n : c.k, bCols = c.transB ? c.k : c.n;
  p.lda = aCols + c.padA;
  p.ldb = bCols + c.padB;
  p.ldc = c.n + c.padC;
  // Padding holds huge values: reading outside the logical matrix shows up as a large error.
  p.A.assign(size_t(std::max<int64_t>(1, aRows * p.lda)), 1e30f);
  p.B.assign(size_t(std::max<int64_t>(1, bRows * p.ldb)), 1e30f);
  p.C0.assign(size_t(std::max<int64_t>(1, c.m * p.ldc)), 1e30f);
  for (int64_t i = 0; i < aRows; ++i)
    for (int64_t j = 0; j < aCols; ++j) p.A[i * p.lda + j] = dist(rng);
  for (int64_t i = 0; i < bRows; ++i)
    for (int64_t j = 0; j < bCols; ++j) p.B[i * p.ldb + j] = dist(rng);
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j) p.C0[i * p.ldc + j] = c.beta == 0.0f ? NAN : dist(rng);
  return p;
}

std::vector<float> runSgemm(const Problem& p) {
  std::vector<float> C = p.C0;
  const Case& c = p.cs;
  dgc::cpu::sgemm(c.transA, c.transB, c.m, c.n, c.k, c.alpha, p.A.data(), p.lda, p.B.data(), p.ldb, c.beta,
                  C.data(), p.ldc);
  return C;
}

int gFailures = 0;

void fail(const std::string& what) {
  if (++gFailures <= 20) std::fprintf(stderr, "FAIL: %s\n", what.c_str());
}

// Compares against a double-precision reference; checks that C's padding was left alone.
void checkAgainstReference(const Problem& p, const std::vector<float>& C, const char* kernel) {
  const Case& c = p.cs;
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < c.n; ++j) {
      double dot = 0.0, absDot = 0.0;
      for (int64_t q = 0; q < c.k; ++q) {
        const double a = c.transA ? p.A[q * p.lda + i] : p.A[i * p.lda + q];
        const double b = c.transB ? p.B[j * p.ldb + q] : p.B[q * p.ldb + j];
        dot += a * b;
        absDot += std::fabs(a * b);
      }
      const double c0 = p.C0[i * p.ldc + j];
      const double ref = c.alpha * dot + (c.beta == 0.0f ? 0.0 : c.beta * c0);
      const double tol = 1e-5 * (std::fabs(c.alpha) * absDot + (c.beta == 0.0f ? 0.0 : std::fabs(c.beta * c0))) + 1e-6;
      const double got = C[i * p.ldc + j];
      if (!(std::fabs(got - ref) <= tol)) {  // also catches NaN
        char buf[160];
        std::snprintf(buf, sizeof buf, " [%s] at (%lld,%lld): got %.9g want %.9g tol %.3g", kernel, (long long)i,
                      (long long)j, got, ref, tol);
        fail(describe(c) + buf);
        return;
      }
    }
    for (int64_t j = c.n; j < p.ldc; ++j) {
      if (C[i * p.ldc + j] != 1e30f) {
        fail(describe(c) + " [" + kernel + "] wrote into C's row padding");
        return;
      }
    }
  }
}

// Products that take the skinny path (n ≤ 16 < m, see gemm.cc), whose summation order depends on the set.
bool isSkinny(const Case& c) { return c.n <= 16 && c.m > c.n; }

bool bitEqual(const std::vector<float>& x, const std::vector<float>& y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

std::vector<Case> referenceCases(std::mt19937& rng) {
  std::vector<Case> cases;
  const int64_t sizes[] = {0, 1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33, 63, 65, 100, 257};
  const int64_t ks[] = {0, 1, 3, 8, 17, 65, 257};
  const float alphas[] = {1.0f, -0.5f};
  const float betas[] = {0.0f, 1.0f, 0.3f};
  int counter = 0;
  for (int form = 0; form < 4; ++form)
    for (int64_t m : sizes)
      for (int64_t n : sizes)
        for (int64_t k : ks) {
          if (m * n * k > 600000) continue;  // the big corners are covered below
          ++counter;
          Case c{(form & 1) != 0, (form & 2) != 0, m, n, k, alphas[counter % 2], betas[(counter / 2) % 3],
                 (counter % 3) * 3, (counter % 5), (counter % 4) * 2};
          cases.push_back(c);
        }
  // Random sizes up to ~600, random padding, all forms and scalars.
  std::uniform_int_distribution<int64_t> size(1, 600), pad(0, 19);
  for (int i = 0; i < 48; ++i) {
    const int form = i % 4;
    cases.push_back(Case{(form & 1) != 0, (form & 2) != 0, size(rng), size(rng), size(rng), alphas[i % 2],
                         betas[(i / 2) % 3], pad(rng), pad(rng), pad(rng)});
  }
  // Shapes that cross block boundaries and take the special paths.
  for (int form = 0; form < 4; ++form) {
    const bool ta = (form & 1) != 0, tb = (form & 2) != 0;
    cases.push_back(Case{ta, tb, 37, 45, 1500, 1.0f, 0.3f, 1, 2, 3});   // several KC slices, beta on the first
    cases.push_back(Case{ta, tb, 700, 120, 90, -0.5f, 1.0f, 0, 7, 1});  // m > MC
    cases.push_back(Case{ta, tb, 20, 4300, 30, 1.0f, 0.0f, 3, 0, 5});   // n-split, n > NC
    cases.push_back(Case{ta, tb, 4300, 4200, 3, 1.0f, 0.3f, 0, 1, 0});  // m-split, n > NC
    cases.push_back(Case{ta, tb, 3000, 10, 500, 1.0f, 0.0f, 2, 3, 4});  // skinny n: Cᵀ path
    cases.push_back(Case{ta, tb, 700, 63, 129, -0.5f, 0.3f, 0, 0, 0});  // skinny n, 63 columns
    cases.push_back(Case{ta, tb, 9, 1000, 700, 1.0f, 1.0f, 5, 0, 0});   // short m, n-split
    cases.push_back(Case{ta, tb, 1, 3000, 40, 1.0f, 0.0f, 0, 0, 0});    // a single row
    cases.push_back(Case{ta, tb, 3000, 1, 40, 1.0f, 0.3f, 0, 0, 0});    // a single column
  }
  // k·n beyond the shared packed-B budget (4M floats): op(B) is packed in two column blocks.
  cases.push_back(Case{false, true, 250, 250, 17000, 1.0f, 0.3f, 1, 2, 3});
  return cases;
}

std::vector<Case> threadCases() {
  std::vector<Case> cases;
  for (int form = 0; form < 4; ++form) {
    const bool ta = (form & 1) != 0, tb = (form & 2) != 0;
    cases.push_back(Case{ta, tb, 3025, 187, 500, 1.0f, 0.0f, 0, 0, 0});
    cases.push_back(Case{ta, tb, 1001, 777, 900, -0.5f, 0.3f, 3, 1, 2});
    cases.push_back(Case{ta, tb, 5000, 10, 700, 1.0f, 1.0f, 0, 0, 0});
    cases.push_back(Case{ta, tb, 50, 3001, 800, 1.0f, 0.0f, 0, 0, 0});
    cases.push_back(Case{ta, tb, 333, 4500, 20, 1.0f, 0.3f, 0, 0, 0});
  }
  cases.push_back(Case{true, false, 256, 250, 17000, 1.0f, 0.0f, 0, 0, 0});  // two packed-B column blocks
  return cases;
}

}  // namespace

int main() {
  using namespace dgc::cpu::gemm_detail;
  std::mt19937 rng(12345);
  const char* kernelNames[] = {"avx512", "avx2", "generic"};
  std::vector<std::string> available;
  for (const char* name : kernelNames)
    if (forceKernelSet(name)) available.push_back(name);
  std::printf("kernel sets on this CPU:");
  for (auto& s : available) std::printf(" %s", s.c_str());
  std::printf("\n");

  // 1. Against the reference, every kernel set, 2 threads.
  dgc::setNumThreads(2);
  const std::vector<Case> cases = referenceCases(rng);
  std::vector<Problem> problems;
  for (const Case& c : cases) problems.push_back(makeProblem(c, rng));
  int64_t minKc = INT64_MAX;
  for (const std::string& name : available) {
    forceKernelSet(name.c_str());
    minKc = std::min(minKc, activeKernelSet().kc);
  }
  std::vector<std::vector<float>> firstSimdResults;
  bool haveSimdResults = false;
  for (const std::string& name : available) {
    forceKernelSet(name.c_str());
    const int before = gFailures;
    std::vector<std::vector<float>> results;
    for (const Problem& p : problems) {
      results.push_back(runSgemm(p));
      checkAgainstReference(p, results.back(), name.c_str());
    }
    // SIMD kernel sets must agree bit for bit while k fits in one k block of each (same FMA chain).
    if (name != "generic") {
      if (!haveSimdResults) {
        firstSimdResults = std::move(results);
        haveSimdResults = true;
      } else {
        for (size_t i = 0; i < problems.size(); ++i)
          if (problems[i].cs.k <= minKc && !isSkinny(problems[i].cs) && !bitEqual(results[i], firstSimdResults[i]))
            fail(describe(problems[i].cs) + " [" + name + "] differs bitwise from " + available[0]);
      }
    }
    std::printf("reference check, %-9s: %zu products, %s\n", name.c_str(), problems.size(),
                gFailures == before ? "ok" : "FAILED");
  }

  // 2. Bit-identical for 1 and 2 threads (every kernel set).
  for (const std::string& name : available) {
    forceKernelSet(name.c_str());
    const int before = gFailures;
    for (const Case& c : threadCases()) {
      const Problem p = makeProblem(c, rng);
      dgc::setNumThreads(1);
      const std::vector<float> one = runSgemm(p);
      dgc::setNumThreads(2);
      const std::vector<float> two = runSgemm(p);
      if (!bitEqual(one, two)) fail(describe(c) + " [" + name + "] differs between 1 and 2 threads");
      dgc::setNumThreads(3);  // uneven split
      const std::vector<float> three = runSgemm(p);
      if (!bitEqual(one, three)) fail(describe(c) + " [" + name + "] differs between 1 and 3 threads");
    }
    dgc::setNumThreads(2);
    std::printf("thread determinism, %-9s: %s\n", name.c_str(), gFailures == before ? "ok" : "FAILED");
  }

  if (gFailures) {
    std::printf("%d failure(s)\n", gFailures);
    return 1;
  }
  std::printf("all gemm tests passed\n");
  return 0;
}
