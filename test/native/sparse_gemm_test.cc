// Test of dgc::cpu::sgemmSparse (native/cpu/gemm.h): products with a constant row-sparse operand must give the
// dense sgemm's values bit for bit, since attaching a nonzero index to a model's input (ops::attachRowSparse)
// is promised to change its speed and never its results. Standalone: no Node. Exits non-zero on failure.
//
// For every kernel set this CPU runs that has row-sparse kernels (avx512, avx2), and 1 and 2 threads:
//   - the three forms S·op(D), Sᵀ·op(D) (transB both ways) and Dᵀ·S, against sgemm on S's dense copy, compared
//     bit for bit (memcmp), over shapes that cross the k slices of both sets (k up to 1,100: 3 slices of ≤ 512
//     with AVX-512, 5 of ≤ 256 with AVX2), column counts on both sides of the register block and of sgemm's Cᵀ
//     path (17 ≤ n < 64), densities from empty rows to fully dense, S holding -0 entries (zeros, not stored),
//     alpha ∈ {1, -0.5}, beta ∈ {0, 1, 0.3} (C prefilled with NaN when beta = 0), bias + ReLU / LeakyReLU
//     epilogues;
//   - that it declines (returns false, C untouched) where it cannot promise sgemm's values: skinny n ≤ 16 with
//     m > n, products on sgemm's direct path, a non-finite value in D, the generic kernel set, Dᵀ·S with beta ≠ 0.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/row_sparse.h"
#include "core/thread_pool.h"
#include "cpu/activation.h"
#include "cpu/gemm.h"
#include "cpu/gemm_kernels.h"

namespace {

int gFailures = 0;
int gChecks = 0;

void fail(const std::string& what) {
  if (++gFailures <= 20) std::printf("FAIL: %s\n", what.c_str());
}

// A rows × cols matrix with about `density` of its entries nonzero (uniform in [-1, 1], never exactly 0), some
// rows empty, and -0 at a few of the zero positions.
std::vector<float> sparseMatrix(int64_t rows, int64_t cols, double density, std::mt19937& rng) {
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<float> x(size_t(rows * cols), 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    if (r % 7 == 3) continue;  // an empty row
    for (int64_t c = 0; c < cols; ++c) {
      const double t = u(rng);
      if (t < density) {
        float v = value(rng);
        if (v == 0.0f) v = 0.25f;
        x[size_t(r * cols + c)] = v;
      } else if (t > 0.995) {
        x[size_t(r * cols + c)] = -0.0f;
      }
    }
  }
  return x;
}

std::vector<float> denseMatrix(int64_t rows, int64_t cols, std::mt19937& rng) {
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::vector<float> x(size_t(rows * cols));
  for (float& v : x) {
    v = value(rng);
    if (v == 0.0f) v = 0.5f;
  }
  return x;
}

dgc::cpu::CsrView rowsOf(const dgc::RowSparseIndex& s) {
  return {s.rows, s.cols, s.rowStart.data(), s.colIdx.data(), s.val.data()};
}
dgc::cpu::CsrView colsOf(const dgc::RowSparseIndex& s) {
  return {s.cols, s.rows, s.colStart.data(), s.rowIdx.data(), s.valT.data()};
}

enum class Form { SD, StD, DtS };
const char* formName(Form f) { return f == Form::SD ? "S·op(D)" : f == Form::StD ? "Sᵀ·op(D)" : "Dᵀ·S"; }

struct Case {
  Form form;
  bool transB;
  int64_t m, n, k;
  double density;
  float alpha, beta;
  int act;          // kAct* of activation.h
  bool bias;
  bool expectTaken;  // whether sgemmSparse should compute it (else it must decline)
};

std::string describe(const Case& c, const char* set, int threads) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s %s%s m=%lld n=%lld k=%lld density=%g alpha=%g beta=%g act=%d bias=%d threads=%d",
                set, formName(c.form), c.transB ? " (transB)" : "", (long long)c.m, (long long)c.n, (long long)c.k,
                c.density, c.alpha, c.beta, c.act, int(c.bias), threads);
  return buf;
}

// Runs one case: the dense sgemm on S's dense copy, then sgemmSparse, and compares.
void runCase(const Case& c, const char* set, int threads, std::mt19937& rng, bool poisonD = false) {
  using namespace dgc::cpu;
  ++gChecks;
  // Stored shapes. SD: S m×k, D k×n (or n×k with transB). StD: S k×m, D as SD. DtS: D k×m, S k×n.
  const int64_t sRows = c.form == Form::SD ? c.m : c.k;
  const int64_t sCols = c.form == Form::SD ? c.k : c.form == Form::StD ? c.m : c.n;
  const std::vector<float> S = sparseMatrix(sRows, sCols, c.density, rng);
  const auto index = dgc::buildRowSparseIndex(S.data(), sRows, sCols);
  int64_t dRows, dCols;
  if (c.form == Form::DtS) {
    dRows = c.k;
    dCols = c.m;
  } else {
    dRows = c.transB ? c.n : c.k;
    dCols = c.transB ? c.k : c.n;
  }
  std::vector<float> D = denseMatrix(dRows, dCols, rng);
  if (poisonD) D[D.size() / 2] = std::numeric_limits<float>::infinity();
  std::vector<float> bias = denseMatrix(1, c.n, rng);
  GemmEpilogue e;
  e.bias = c.bias ? bias.data() : nullptr;
  e.act = c.act;
  e.slope = 0.2f;
  const GemmEpilogue* epi = (c.bias || c.act != kActNone) ? &e : nullptr;

  const std::vector<float> C0 = c.beta == 0.0f ? std::vector<float>(size_t(c.m * c.n), std::nanf(""))
                                               : denseMatrix(c.m, c.n, rng);
  std::vector<float> dense = C0, sparse = C0;
  const bool transA = c.form != Form::SD;
  if (c.form == Form::DtS) {
    sgemm(true, false, c.m, c.n, c.k, c.alpha, D.data(), dCols, S.data(), sCols, c.beta, dense.data(), c.n, epi);
  } else {
    sgemm(transA, c.transB, c.m, c.n, c.k, c.alpha, S.data(), sCols, D.data(), dCols, c.beta, dense.data(), c.n, epi);
  }
  const bool taken = sgemmSparse(transA, c.form == Form::DtS ? false : c.transB, c.m, c.n, c.k, c.alpha,
                                 rowsOf(*index), colsOf(*index), c.form != Form::DtS, D.data(), dCols, c.beta,
                                 sparse.data(), c.n, epi);
  const bool expect = c.expectTaken && !poisonD;
  if (taken != expect) {
    fail(describe(c, set, threads) + (taken ? ": computed, but should have declined" : ": declined, but should have computed"));
    return;
  }
  if (!taken) {
    if (std::memcmp(sparse.data(), C0.data(), C0.size() * sizeof(float)) != 0)
      fail(describe(c, set, threads) + ": declined but wrote C");
    return;
  }
  if (std::memcmp(dense.data(), sparse.data(), dense.size() * sizeof(float)) != 0) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < dense.size(); ++i) {
      uint32_t a, b;
      std::memcpy(&a, &dense[i], 4);
      std::memcpy(&b, &sparse[i], 4);
      if (a != b && bad++ == 0) first = i;
    }
    char buf[160];
    std::snprintf(buf, sizeof buf, ": %zu of %zu elements differ in their bits, first at %zu: dense %.9g sparse %.9g",
                  bad, dense.size(), first, double(dense[first]), double(sparse[first]));
    fail(describe(c, set, threads) + buf);
  }
}

std::vector<Case> cases() {
  using dgc::cpu::kActLeakyRelu;
  using dgc::cpu::kActNone;
  using dgc::cpu::kActRelu;
  std::vector<Case> out;
  const double densities[] = {0.0, 0.02, 0.2, 1.0};
  const int64_t ks[] = {100, 513, 1100};
  const int64_t ns[] = {17, 40, 129, 300};
  for (Form f : {Form::SD, Form::StD, Form::DtS}) {
    for (int64_t k : ks) {
      for (int64_t n : ns) {
        for (double d : densities) {
          const bool transB = (k + n) % 2 == 0;
          out.push_back({f, f == Form::DtS ? false : transB, 150, n, k, d, 1.0f, 0.0f, kActNone, false, true});
        }
      }
    }
    // alpha, beta and the epilogues on one mid-sized shape with several k slices
    for (float alpha : {1.0f, -0.5f}) {
      for (float beta : {0.0f, 1.0f, 0.3f}) {
        const bool ok = f != Form::DtS || beta == 0.0f;
        out.push_back({f, false, 130, 200, 700, 0.05, alpha, beta, kActNone, false, ok});
        if (f != Form::DtS) out.push_back({f, true, 130, 200, 700, 0.05, alpha, beta, kActNone, false, ok});
      }
    }
    const bool epiOk = f != Form::DtS;
    out.push_back({f, false, 130, 200, 700, 0.05, 1.0f, 0.0f, kActRelu, true, epiOk});
    out.push_back({f, true, 130, 45, 700, 0.05, 1.0f, 0.0f, kActLeakyRelu, true, epiOk});
    out.push_back({f, false, 130, 200, 700, 0.05, 1.0f, 0.0f, kActRelu, false, epiOk});
    // declined: skinny n ≤ 16 with m > n, and products on sgemm's direct path
    out.push_back({f, false, 300, 10, 700, 0.05, 1.0f, 0.0f, kActNone, false, false});
    out.push_back({f, false, 8, 8, 8, 0.5, 1.0f, 0.0f, kActNone, false, false});
  }
  return out;
}

}  // namespace

int main() {
  using namespace dgc::cpu::gemm_detail;
  std::mt19937 rng(2026);
  std::vector<std::string> sets;
  for (const char* name : {"avx512", "avx2", "generic"})
    if (forceKernelSet(name)) sets.push_back(name);
  std::printf("kernel sets on this CPU:");
  for (auto& s : sets) std::printf(" %s", s.c_str());
  std::printf("\n");
  const std::vector<Case> all = cases();
  for (const std::string& set : sets) {
    forceKernelSet(set.c_str());
    const bool hasSparse = activeKernelSet().sparseRow != nullptr;
    for (int threads : {1, 2}) {
      dgc::setNumThreads(threads);
      const int before = gFailures;
      for (Case c : all) {
        if (!hasSparse) c.expectTaken = false;  // generic: always declines
        runCase(c, set.c_str(), threads, rng);
      }
      // a non-finite value in D: declined (the dense product would spread NaN from 0·Inf)
      runCase({Form::SD, false, 150, 129, 513, 0.05, 1.0f, 0.0f, dgc::cpu::kActNone, false, hasSparse}, set.c_str(),
              threads, rng, true);
      std::printf("%s, %d thread(s): %s\n", set.c_str(), threads, gFailures == before ? "ok" : "FAILED");
    }
  }
  std::printf("%d checks, %d failures\n", gChecks, gFailures);
  return gFailures == 0 ? 0 : 1;
}
