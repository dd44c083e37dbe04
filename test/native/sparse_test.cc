// Standalone tests for native/cpu/sparse.{h,cc} (no Node). Exits non-zero on any failure.
//
// Build and run (from the repository root):
//   mkdir -p /tmp/sparse-work
//   g++ -O2 -std=c++17 -pthread -Inative test/native/sparse_test.cc native/cpu/sparse.cc
//       native/core/thread_pool.cc -o /tmp/sparse-work/sparse_test   (one line)
//   /tmp/sparse-work/sparse_test
// With sanitizers: add -fsanitize=address,undefined -g.
//
// What is checked:
//   csrFromEdges against a dense reference for every symmetrize × selfLoops × norm combination (random edges
//   with duplicates, self edges, both directions, isolated nodes; with and without weights), row sums of Row,
//   exact symmetry of Sym, no NaN for zero-degree rows, and a large graph (parallel build) against a sorted
//   reference and across thread counts; csrTranspose against dense and twice == original; csrValidate's
//   messages for each kind of error; spmm against a double-precision reference for several widths, every
//   kernel this CPU runs, empty rows, a skewed graph, and bit-identical results for 1, 2 and 5 threads.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "core/thread_pool.h"
#include "core/graph.h"
#include "cpu/sparse.h"

using dgc::graph::CsrHost;
using dgc::graph::GraphOptions;
using dgc::graph::Normalization;
using dgc::cpu::SpmmKernel;

namespace {

int gFailures = 0;

#define CHECK(cond, ...)                                           \
  do {                                                             \
    if (!(cond)) {                                                 \
      ++gFailures;                                                 \
      std::fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                           \
      std::fprintf(stderr, "\n");                                  \
    }                                                              \
  } while (0)

const char* normName(Normalization n) {
  return n == Normalization::None ? "None" : n == Normalization::Row ? "Row" : "Sym";
}

// A dense matrix with an explicit "stored" flag per entry, so structure (including stored zeros) is compared too.
struct Dense {
  int64_t rows = 0, cols = 0;
  std::vector<double> value;
  std::vector<char> stored;
  Dense(int64_t r, int64_t c) : rows(r), cols(c), value(r * c, 0.0), stored(r * c, 0) {}
  double& at(int64_t i, int64_t j) { return value[i * cols + j]; }
  char& has(int64_t i, int64_t j) { return stored[i * cols + j]; }
  double at(int64_t i, int64_t j) const { return value[i * cols + j]; }
  bool has(int64_t i, int64_t j) const { return stored[i * cols + j] != 0; }
};

// The graph csrFromEdges should build, computed the obvious way on a dense matrix (in float where the
// implementation stores floats, so the comparison can be tight).
Dense referenceGraph(int64_t n, const std::vector<int32_t>& src, const std::vector<int32_t>& dst,
                     const std::vector<float>* weights, const GraphOptions& opts) {
  Dense a(n, n);
  std::vector<float> af(n * n, 0.0f);
  for (size_t e = 0; e < src.size(); ++e) {
    const float w = weights ? (*weights)[e] : 1.0f;
    const int64_t i = src[e], j = dst[e];
    af[i * n + j] = a.has(i, j) ? std::max(af[i * n + j], w) : w;
    a.has(i, j) = 1;
  }
  if (opts.symmetrize) {
    std::vector<float> sf(af);
    std::vector<char> sh(a.stored);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        const bool ij = a.has(i, j), ji = a.has(j, i);
        if (ij && ji) sf[i * n + j] = std::max(af[i * n + j], af[j * n + i]);
        else if (ji) sf[i * n + j] = af[j * n + i];
        sh[i * n + j] = ij || ji;
      }
    }
    af = sf;
    a.stored = sh;
  }
  if (opts.selfLoops) {
    for (int64_t i = 0; i < n; ++i) {
      af[i * n + i] = (a.has(i, i) ? af[i * n + i] : 0.0f) + 1.0f;
      a.has(i, i) = 1;
    }
  }
  std::vector<double> degree(n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      if (a.has(i, j)) degree[i] += af[i * n + j];
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      if (!a.has(i, j)) continue;
      double v = af[i * n + j];
      if (opts.norm == Normalization::Row) v = degree[i] > 0 ? v / degree[i] : 0.0;
      if (opts.norm == Normalization::Sym) {
        v = (degree[i] > 0 && degree[j] > 0) ? v / std::sqrt(degree[i] * degree[j]) : 0.0;
      }
      a.at(i, j) = v;
    }
  }
  return a;
}

// Structural checks every CSR we build must pass.
bool wellFormed(const CsrHost& m) {
  return dgc::graph::csrValidate(m.rows, m.cols, m.indptr.data(), m.indices.data(), m.nnz()).empty() &&
         m.values.size() == m.indices.size();
}

void compareToDense(const CsrHost& m, const Dense& ref, const std::string& what) {
  CHECK(m.rows == ref.rows && m.cols == ref.cols, "%s: shape", what.c_str());
  CHECK(wellFormed(m), "%s: not a valid CSR: %s", what.c_str(),
        dgc::graph::csrValidate(m.rows, m.cols, m.indptr.data(), m.indices.data(), m.nnz()).c_str());
  Dense got(ref.rows, ref.cols);
  for (int64_t i = 0; i < m.rows; ++i) {
    for (int64_t k = m.indptr[i]; k < m.indptr[i + 1]; ++k) {
      got.has(i, m.indices[k]) = 1;
      got.at(i, m.indices[k]) = m.values[k];
    }
  }
  int reported = 0;
  for (int64_t i = 0; i < ref.rows; ++i) {
    for (int64_t j = 0; j < ref.cols; ++j) {
      const bool okStructure = got.has(i, j) == ref.has(i, j);
      const double diff = std::fabs(got.at(i, j) - ref.at(i, j));
      const bool okValue = diff <= 1e-6 * std::max(1.0, std::fabs(ref.at(i, j))) && !std::isnan(got.at(i, j));
      if ((!okStructure || !okValue) && reported++ < 5) {
        CHECK(false, "%s: (%lld, %lld) got %s%g, expected %s%g", what.c_str(), (long long)i, (long long)j,
              got.has(i, j) ? "" : "(absent) ", got.at(i, j), ref.has(i, j) ? "" : "(absent) ", ref.at(i, j));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
void testCsrFromEdgesSmall() {
  std::mt19937 rng(12345);
  for (int trial = 0; trial < 4; ++trial) {
    const int64_t n = 5 + trial * 9;  // 5, 14, 23, 32
    std::vector<int32_t> src, dst;
    std::vector<float> w;
    std::uniform_int_distribution<int32_t> node(0, static_cast<int32_t>(n) - 2);  // node n-1 stays isolated
    std::uniform_real_distribution<float> weight(0.1f, 3.0f);
    const int nEdges = static_cast<int>(n * 3);
    for (int e = 0; e < nEdges; ++e) {
      const int32_t s = node(rng), t = node(rng);
      src.push_back(s), dst.push_back(t), w.push_back(weight(rng));
      if (e % 5 == 0) src.push_back(s), dst.push_back(t), w.push_back(weight(rng));  // duplicate pair
      if (e % 7 == 0) src.push_back(t), dst.push_back(s), w.push_back(weight(rng));  // both directions
      if (e % 9 == 0) src.push_back(s), dst.push_back(s), w.push_back(weight(rng));  // self edge
    }
    for (int weighted = 0; weighted < 2; ++weighted) {
      for (int sym = 0; sym < 2; ++sym) {
        for (int loops = 0; loops < 2; ++loops) {
          for (Normalization norm : {Normalization::None, Normalization::Row, Normalization::Sym}) {
            GraphOptions opts;
            opts.symmetrize = sym;
            opts.selfLoops = loops;
            opts.norm = norm;
            const std::vector<float>* wp = weighted ? &w : nullptr;
            const CsrHost g = dgc::graph::csrFromEdges(n, src.data(), dst.data(), wp ? wp->data() : nullptr,
                                                     static_cast<int64_t>(src.size()), opts);
            const std::string what = "csrFromEdges n=" + std::to_string(n) + " weighted=" +
                                     std::to_string(weighted) + " sym=" + std::to_string(sym) +
                                     " loops=" + std::to_string(loops) + " norm=" + normName(norm);
            compareToDense(g, referenceGraph(n, src, dst, wp, opts), what);

            bool anyNan = false;
            for (float v : g.values) anyNan = anyNan || !std::isfinite(v);
            CHECK(!anyNan, "%s: non-finite value", what.c_str());
            if (!loops) {
              CHECK(g.indptr[n] == g.indptr[n - 1], "%s: isolated node's row not empty", what.c_str());
            }
            if (norm == Normalization::Row) {
              for (int64_t i = 0; i < n; ++i) {
                if (g.indptr[i] == g.indptr[i + 1]) continue;
                double sum = 0;
                for (int64_t k = g.indptr[i]; k < g.indptr[i + 1]; ++k) sum += g.values[k];
                CHECK(std::fabs(sum - 1.0) < 1e-5, "%s: row %lld sums to %.9g", what.c_str(), (long long)i, sum);
              }
            }
            if (norm == Normalization::Sym && sym) {
              const CsrHost t = dgc::graph::csrTranspose(g);
              CHECK(t.indptr == g.indptr && t.indices == g.indices, "%s: not structurally symmetric", what.c_str());
              CHECK(std::memcmp(t.values.data(), g.values.data(), g.values.size() * sizeof(float)) == 0,
                    "%s: values not exactly symmetric", what.c_str());
            }
          }
        }
      }
    }
  }
}

void testCsrFromEdgesEdgeCases() {
  GraphOptions opts;
  // No edges at all: with self loops, the identity (normalized: still the identity).
  for (Normalization norm : {Normalization::None, Normalization::Row, Normalization::Sym}) {
    opts.norm = norm;
    opts.selfLoops = true;
    CsrHost g = dgc::graph::csrFromEdges(4, nullptr, nullptr, nullptr, 0, opts);
    CHECK(g.nnz() == 4 && g.indptr == std::vector<int32_t>({0, 1, 2, 3, 4}), "identity structure (%s)", normName(norm));
    for (float v : g.values) CHECK(v == 1.0f, "identity value %g (%s)", v, normName(norm));
    opts.selfLoops = false;
    g = dgc::graph::csrFromEdges(4, nullptr, nullptr, nullptr, 0, opts);
    CHECK(g.nnz() == 0 && g.indptr.size() == 5, "empty graph (%s)", normName(norm));
  }
  // n = 0.
  CsrHost empty = dgc::graph::csrFromEdges(0, nullptr, nullptr, nullptr, 0, GraphOptions{});
  CHECK(empty.rows == 0 && empty.indptr.size() == 1 && empty.indptr[0] == 0, "n = 0");
  // Zero weights: the row's degree is 0; normalization must not produce NaN.
  {
    const int32_t s[] = {0, 1};
    const int32_t t[] = {1, 2};
    const float w[] = {0.0f, 0.0f};
    for (Normalization norm : {Normalization::Row, Normalization::Sym}) {
      GraphOptions o;
      o.selfLoops = false;
      o.norm = norm;
      const CsrHost g = dgc::graph::csrFromEdges(3, s, t, w, 2, o);
      CHECK(g.nnz() == 4, "zero-weight edges are kept as entries (%s): nnz %lld", normName(norm), (long long)g.nnz());
      for (float v : g.values) CHECK(v == 0.0f, "zero-degree row value %g (%s)", v, normName(norm));
    }
  }
  // Bad arguments throw.
  bool threw = false;
  try {
    dgc::graph::csrFromEdges(-1, nullptr, nullptr, nullptr, 0, GraphOptions{});
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw, "n < 0 must throw");
}

// Big enough that every pass runs in several chunks (and blocks), so 1, 2 and 5 threads cut it differently.
void testCsrFromEdgesLarge() {
  const int64_t n = 50000, nEdges = 400000;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> node(0, static_cast<int32_t>(n) - 1);
  std::uniform_real_distribution<float> weight(0.5f, 2.0f);
  std::vector<int32_t> src(nEdges), dst(nEdges);
  std::vector<float> w(nEdges);
  for (int64_t e = 0; e < nEdges; ++e) {
    src[e] = node(rng);
    dst[e] = (e % 3 == 0) ? static_cast<int32_t>(std::min<int64_t>(n - 1, src[e] + e % 5)) : node(rng);  // dups
    w[e] = weight(rng);
  }
  for (Normalization norm : {Normalization::None, Normalization::Row, Normalization::Sym}) {
    GraphOptions opts;
    opts.norm = norm;
    dgc::setNumThreads(1);
    const CsrHost one = dgc::graph::csrFromEdges(n, src.data(), dst.data(), w.data(), nEdges, opts);
    CHECK(wellFormed(one), "csrFromEdges large (%s): invalid CSR", normName(norm));
    for (int threads : {2, 5}) {
      dgc::setNumThreads(threads);
      const CsrHost many = dgc::graph::csrFromEdges(n, src.data(), dst.data(), w.data(), nEdges, opts);
      CHECK(one.indptr == many.indptr && one.indices == many.indices &&
                std::memcmp(one.values.data(), many.values.data(), one.values.size() * sizeof(float)) == 0,
            "csrFromEdges large (%s): 1 vs %d threads differ", normName(norm), threads);
    }

    // Unweighted input takes another code path (no weights stored); all-ones weights must give the same.
    const std::vector<float> ones(nEdges, 1.0f);
    const CsrHost unit = dgc::graph::csrFromEdges(n, src.data(), dst.data(), nullptr, nEdges, opts);
    const CsrHost unitWeights = dgc::graph::csrFromEdges(n, src.data(), dst.data(), ones.data(), nEdges, opts);
    CHECK(unit.indptr == unitWeights.indptr && unit.indices == unitWeights.indices &&
              unit.values == unitWeights.values,
          "csrFromEdges large (%s): weights = nullptr differs from all-ones weights", normName(norm));

    // Reference structure and unnormalized values from a sort of (row, col, weight) triples.
    if (norm == Normalization::None) {
      std::vector<std::tuple<int32_t, int32_t, float>> triples;
      for (int64_t e = 0; e < nEdges; ++e) {
        triples.emplace_back(src[e], dst[e], w[e]);
        triples.emplace_back(dst[e], src[e], w[e]);
      }
      std::sort(triples.begin(), triples.end());
      std::vector<int32_t> indptr(n + 1, 0), indices;
      std::vector<float> values;
      for (size_t i = 0; i < triples.size();) {
        const int32_t r = std::get<0>(triples[i]), c = std::get<1>(triples[i]);
        float v = std::get<2>(triples[i]);
        for (++i; i < triples.size() && std::get<0>(triples[i]) == r && std::get<1>(triples[i]) == c; ++i) {
          v = std::max(v, std::get<2>(triples[i]));
        }
        indices.push_back(c), values.push_back(v), indptr[r + 1]++;
      }
      // Self loops: add 1 to an existing diagonal or insert one.
      std::vector<int32_t> loopPtr(n + 1, 0), loopIdx;
      std::vector<float> loopVal;
      int64_t k = 0;
      for (int64_t r = 0; r < n; ++r) {
        const int64_t end = k + indptr[r + 1];
        bool done = false;
        for (; k < end; ++k) {
          if (!done && indices[k] >= r) {
            done = true;
            if (indices[k] == r) {
              loopIdx.push_back(indices[k]), loopVal.push_back(values[k] + 1.0f);
              continue;
            }
            loopIdx.push_back(static_cast<int32_t>(r)), loopVal.push_back(1.0f);
          }
          loopIdx.push_back(indices[k]), loopVal.push_back(values[k]);
        }
        if (!done) loopIdx.push_back(static_cast<int32_t>(r)), loopVal.push_back(1.0f);
        loopPtr[r + 1] = static_cast<int32_t>(loopIdx.size());
      }
      CHECK(one.indptr == loopPtr && one.indices == loopIdx && one.values == loopVal,
            "csrFromEdges large: differs from the sorted-triples reference");
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
CsrHost randomCsr(int64_t rows, int64_t cols, double density, std::mt19937& rng, bool withEmptyRows) {
  CsrHost m;
  m.rows = rows;
  m.cols = cols;
  m.indptr.push_back(0);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  for (int64_t i = 0; i < rows; ++i) {
    if (!(withEmptyRows && i % 4 == 1)) {
      for (int64_t j = 0; j < cols; ++j) {
        if (u(rng) < density) m.indices.push_back(static_cast<int32_t>(j)), m.values.push_back(value(rng));
      }
    }
    m.indptr.push_back(static_cast<int32_t>(m.indices.size()));
  }
  return m;
}

// rows × cols with about perRow random nonzeros per row (fast for many columns).
CsrHost randomSparseRows(int64_t rows, int64_t cols, int perRow, std::mt19937& rng) {
  CsrHost m;
  m.rows = rows;
  m.cols = cols;
  m.indptr.push_back(0);
  std::uniform_int_distribution<int32_t> col(0, static_cast<int32_t>(cols) - 1);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::vector<int32_t> row;
  for (int64_t i = 0; i < rows; ++i) {
    row.clear();
    for (int k = 0; k < perRow; ++k) row.push_back(col(rng));
    std::sort(row.begin(), row.end());
    row.erase(std::unique(row.begin(), row.end()), row.end());
    for (int32_t c : row) m.indices.push_back(c), m.values.push_back(value(rng));
    m.indptr.push_back(static_cast<int32_t>(m.indices.size()));
  }
  return m;
}

void testCsrTranspose() {
  std::mt19937 rng(99);
  for (auto shape : {std::make_pair(1, 1), std::make_pair(7, 13), std::make_pair(30, 4), std::make_pair(64, 64)}) {
    const CsrHost a = randomCsr(shape.first, shape.second, 0.3, rng, true);
    Dense ref(a.cols, a.rows);
    for (int64_t i = 0; i < a.rows; ++i) {
      for (int64_t k = a.indptr[i]; k < a.indptr[i + 1]; ++k) {
        ref.has(a.indices[k], i) = 1;
        ref.at(a.indices[k], i) = a.values[k];
      }
    }
    const CsrHost t = dgc::graph::csrTranspose(a);
    compareToDense(t, ref, "csrTranspose " + std::to_string(a.rows) + "x" + std::to_string(a.cols));
    const CsrHost tt = dgc::graph::csrTranspose(t);
    CHECK(tt.rows == a.rows && tt.cols == a.cols && tt.indptr == a.indptr && tt.indices == a.indices &&
              tt.values == a.values,
          "transpose of transpose != original (%lldx%lld)", (long long)a.rows, (long long)a.cols);
  }
  // Empty matrices.
  CsrHost e;
  e.rows = 3;
  e.cols = 5;
  e.indptr = {0, 0, 0, 0};
  const CsrHost et = dgc::graph::csrTranspose(e);
  CHECK(et.rows == 5 && et.cols == 3 && et.indptr == std::vector<int32_t>(6, 0) && et.nnz() == 0, "empty transpose");

  // Large: several chunks and blocks; transposing twice must give the original back for any thread count.
  const CsrHost big = randomCsr(3000, 2000, 0.05, rng, true);
  for (int threads : {1, 2, 5}) {
    dgc::setNumThreads(threads);
    const CsrHost bt = dgc::graph::csrTranspose(big);
    CHECK(wellFormed(bt), "large transpose invalid (%d threads)", threads);
    const CsrHost btt = dgc::graph::csrTranspose(bt);
    CHECK(btt.indptr == big.indptr && btt.indices == big.indices && btt.values == big.values,
          "large transpose twice != original (%d threads)", threads);
  }
}

// ---------------------------------------------------------------------------------------------------------
void expectInvalid(int64_t rows, int64_t cols, std::vector<int32_t> indptr, std::vector<int32_t> indices,
                   const std::string& mustContain) {
  const std::string msg = dgc::graph::csrValidate(rows, cols, indptr.data(), indices.data(),
                                                static_cast<int64_t>(indices.size()));
  CHECK(!msg.empty(), "csrValidate accepted a CSR that should fail with '%s'", mustContain.c_str());
  CHECK(msg.find(mustContain) != std::string::npos, "csrValidate message '%s' lacks '%s'", msg.c_str(),
        mustContain.c_str());
}

void testCsrValidate() {
  // Valid, including an empty row and an empty matrix.
  const std::vector<int32_t> ptr = {0, 2, 2, 5}, idx = {0, 3, 1, 2, 3};
  CHECK(dgc::graph::csrValidate(3, 4, ptr.data(), idx.data(), 5).empty(), "valid CSR rejected");
  const int32_t zero = 0;
  CHECK(dgc::graph::csrValidate(0, 0, &zero, nullptr, 0).empty(), "empty CSR rejected");

  expectInvalid(3, 4, {1, 2, 2, 5}, {0, 3, 1, 2, 3}, "indptr[0] = 1");
  expectInvalid(3, 4, {0, 3, 2, 5}, {0, 3, 1, 2, 3}, "indptr[2] = 2 < indptr[1] = 3");
  expectInvalid(3, 4, {0, 2, 2, 4}, {0, 3, 1, 2, 3}, "indptr[3] = 4, expected nnz = 5");
  expectInvalid(3, 4, {0, 2, 2, 5}, {0, 4, 1, 2, 3}, "indices[1] = 4 is out of range [0, 4) (row 0)");
  expectInvalid(3, 4, {0, 2, 2, 5}, {0, 3, 1, -1, 3}, "indices[3] = -1 is out of range");
  expectInvalid(3, 4, {0, 2, 2, 5}, {0, 3, 2, 1, 3}, "indices[3] = 1 < indices[2] = 2 in row 2");
  expectInvalid(3, 4, {0, 2, 2, 5}, {0, 3, 1, 1, 3}, "duplicate");
  expectInvalid(3, 4, {0, 2, 2, 5}, {3, 0, 1, 2, 3}, "sorted");
  // A column may repeat across rows (the check is per row).
  const std::vector<int32_t> ptr2 = {0, 1, 2}, idx2 = {3, 0};
  CHECK(dgc::graph::csrValidate(2, 4, ptr2.data(), idx2.data(), 2).empty(), "decreasing across rows rejected");
  // Negative shape / nnz, null pointers.
  CHECK(!dgc::graph::csrValidate(-1, 4, ptr.data(), idx.data(), 5).empty(), "negative rows accepted");
  CHECK(!dgc::graph::csrValidate(3, 4, nullptr, idx.data(), 5).empty(), "null indptr accepted");
  CHECK(!dgc::graph::csrValidate(3, 4, ptr.data(), nullptr, 5).empty(), "null indices accepted");

  // Large: errors in late chunks must still be found, and the first one reported.
  std::mt19937 rng(3);
  CsrHost big = randomCsr(20000, 500, 0.05, rng, false);
  for (int threads : {1, 2}) {
    dgc::setNumThreads(threads);
    CHECK(dgc::graph::csrValidate(big.rows, big.cols, big.indptr.data(), big.indices.data(), big.nnz()).empty(),
          "large valid CSR rejected");
    std::vector<int32_t> bad = big.indices;
    const int64_t late = big.indptr[19000] + 1, later = big.indptr[19500];
    bad[late] = 500;
    bad[later] = -3;
    const std::string msg = dgc::graph::csrValidate(big.rows, big.cols, big.indptr.data(), bad.data(), big.nnz());
    CHECK(msg.find("indices[" + std::to_string(late) + "] = 500") != std::string::npos,
          "large: first error not reported (%d threads): %s", threads, msg.c_str());
  }
}

// ---------------------------------------------------------------------------------------------------------
// out = A · H in double, plus the sum of |a_ik| |h_kj| for a relative error bound per element.
void spmmReference(const CsrHost& a, const std::vector<float>& H, int64_t d, std::vector<double>& ref,
                   std::vector<double>& magnitude) {
  ref.assign(a.rows * d, 0.0);
  magnitude.assign(a.rows * d, 0.0);
  for (int64_t i = 0; i < a.rows; ++i) {
    for (int64_t k = a.indptr[i]; k < a.indptr[i + 1]; ++k) {
      for (int64_t j = 0; j < d; ++j) {
        const double p = double(a.values[k]) * H[a.indices[k] * d + j];
        ref[i * d + j] += p;
        magnitude[i * d + j] += std::fabs(p);
      }
    }
  }
}

std::vector<float> randomDense(int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> h(n);
  for (float& x : h) x = u(rng);
  return h;
}

void checkSpmm(const CsrHost& a, int64_t d, std::mt19937& rng, const std::string& what) {
  const std::vector<float> H = randomDense(a.cols * d, rng);
  std::vector<double> ref, magnitude;
  spmmReference(a, H, d, ref, magnitude);
  for (SpmmKernel kernel : {SpmmKernel::Auto, SpmmKernel::Portable, SpmmKernel::Avx2, SpmmKernel::Avx512}) {
    if (!dgc::cpu::spmmKernelAvailable(kernel)) continue;
    std::vector<float> out(a.rows * d, std::nanf(""));  // must be overwritten, never read
    dgc::cpu::spmmWithKernel(kernel, a.rows, a.cols, a.indptr.data(), a.indices.data(), a.values.data(), H.data(), d,
                             out.data());
    int reported = 0;
    for (int64_t i = 0; i < a.rows * d; ++i) {
      const double err = std::fabs(out[i] - ref[i]);
      if (!(err <= 1e-5 * magnitude[i] + 1e-30) && reported++ < 3) {
        CHECK(false, "spmm %s d=%lld kernel=%s: out[%lld] = %.9g, expected %.9g", what.c_str(), (long long)d,
              dgc::cpu::spmmKernelName(kernel), (long long)i, out[i], ref[i]);
      }
    }
  }
}

void testSpmm() {
  std::mt19937 rng(2024);
  const int64_t widths[] = {1, 3, 10, 16, 17, 20, 64, 65, 128, 300};
  for (int64_t d : widths) {
    checkSpmm(randomCsr(37, 23, 0.2, rng, true), d, rng, "random 37x23 (empty rows)");
    checkSpmm(randomCsr(5, 40, 0.9, rng, false), d, rng, "dense-ish 5x40");
  }
  // All rows empty; a 0-row matrix; d = 0 (must not touch anything).
  {
    CsrHost e;
    e.rows = 4;
    e.cols = 3;
    e.indptr = {0, 0, 0, 0, 0};
    checkSpmm(e, 10, rng, "all rows empty");
    float sentinel = 42.0f;
    dgc::cpu::spmm(0, 3, e.indptr.data(), nullptr, nullptr, nullptr, 10, &sentinel);
    dgc::cpu::spmm(4, 3, e.indptr.data(), nullptr, nullptr, nullptr, 0, &sentinel);
    CHECK(sentinel == 42.0f, "spmm with no rows or d = 0 wrote to out");
  }
  // Skewed: one hub row holding most nonzeros, plus a graph from csrFromEdges.
  {
    CsrHost hub = randomCsr(200, 1000, 0.002, rng, true);
    CsrHost denseRow = randomCsr(1, 1000, 0.95, rng, false);
    CsrHost s;
    s.rows = 201;
    s.cols = 1000;
    s.indptr = denseRow.indptr;
    s.indices = denseRow.indices;
    s.values = denseRow.values;
    for (int64_t i = 0; i < hub.rows; ++i) s.indptr.push_back(denseRow.indptr[1] + hub.indptr[i + 1]);
    s.indices.insert(s.indices.end(), hub.indices.begin(), hub.indices.end());
    s.values.insert(s.values.end(), hub.values.begin(), hub.values.end());
    for (int64_t d : {3, 20, 130}) checkSpmm(s, d, rng, "hub row");
  }

  // Bit-identical for 1, 2 and 5 threads, on problems big enough to be cut into many chunks.
  const CsrHost big = randomCsr(20000, 3000, 0.004, rng, true);  // ~9 nnz per nonempty row
  for (int64_t d : {1, 10, 17, 64, 300}) {
    const std::vector<float> H = randomDense(big.cols * d, rng);
    for (SpmmKernel kernel : {SpmmKernel::Auto, SpmmKernel::Portable, SpmmKernel::Avx2, SpmmKernel::Avx512}) {
      if (!dgc::cpu::spmmKernelAvailable(kernel)) continue;
      std::vector<float> one(big.rows * d);
      dgc::setNumThreads(1);
      dgc::cpu::spmmWithKernel(kernel, big.rows, big.cols, big.indptr.data(), big.indices.data(), big.values.data(),
                               H.data(), d, one.data());
      for (int threads : {2, 5}) {
        std::vector<float> many(big.rows * d, 1.0f);
        dgc::setNumThreads(threads);
        dgc::cpu::spmmWithKernel(kernel, big.rows, big.cols, big.indptr.data(), big.indices.data(),
                                 big.values.data(), H.data(), d, many.data());
        CHECK(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)) == 0,
              "spmm d=%lld kernel=%s: 1 vs %d threads not bit-identical", (long long)d,
              dgc::cpu::spmmKernelName(kernel), threads);
      }
    }
  }
  // And the large case against the reference.
  checkSpmm(big, 17, rng, "random 20000x3000");
  // H bigger than the prefetch threshold (2 MiB) with one tile per row: the prefetching path.
  const CsrHost tall = randomSparseRows(4000, 40000, 12, rng);
  for (int64_t d : {17, 20, 60}) checkSpmm(tall, d, rng, "random 4000x40000 (prefetching)");
}

}  // namespace

int main() {
  std::printf("spmm kernels available:");
  for (SpmmKernel k : {SpmmKernel::Portable, SpmmKernel::Avx2, SpmmKernel::Avx512}) {
    if (dgc::cpu::spmmKernelAvailable(k)) std::printf(" %s", dgc::cpu::spmmKernelName(k));
  }
  std::printf("; threads: %d\n", dgc::numThreads());
  const int initialThreads = dgc::numThreads();

  struct Test {
    const char* name;
    void (*fn)();
  } tests[] = {
      {"csrFromEdges small vs dense", testCsrFromEdgesSmall},
      {"csrFromEdges edge cases", testCsrFromEdgesEdgeCases},
      {"csrFromEdges large, threads", testCsrFromEdgesLarge},
      {"csrTranspose", testCsrTranspose},
      {"csrValidate", testCsrValidate},
      {"spmm", testSpmm},
  };
  for (const Test& t : tests) {
    const int before = gFailures;
    dgc::setNumThreads(initialThreads);
    t.fn();
    std::printf("%-32s %s\n", t.name, gFailures == before ? "ok" : "FAILED");
  }
  if (gFailures) {
    std::printf("%d check(s) failed\n", gFailures);
    return 1;
  }
  std::printf("all sparse tests passed\n");
  return 0;
}
