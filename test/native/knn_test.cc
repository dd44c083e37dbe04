// Standalone tests for native/cpu/knn.{h,cc} (no Node). Exits non-zero on any failure.
//
// Build and run (from the repository root):
//   mkdir -p /tmp/knn-work
//   g++ -O2 -std=c++17 -pthread -Inative test/native/knn_test.cc native/cpu/knn.cc native/cpu/gemm*.cc
//       native/core/thread_pool.cc -o /tmp/knn-work/knn_test   (one line)
//   /tmp/knn-work/knn_test            (unit tests + the USPS check when /work/shared/data is present)
//   /tmp/knn-work/knn_test --bench    (also times N = 100,000, d = 50, k = 10 with the current thread count;
//                                      DGCLUST_NUM_THREADS=2 to pin it)
//
// What is checked:
//   * knnGraph against a brute-force float64 reference (full sort by (key, index), top k+1, drop self or the
//     (k+1)-th) for Heat, Cosine and Dot, over random data and small-integer data with many exact ties and
//     duplicate rows (self not in the top-(k+1)), zero rows (Cosine), k = 1 .. n-1, n not a multiple of the
//     tiles, n > one column tile;
//   * identical output for 1, 2 and 3 threads;
//   * errors: bad n/d/k, NaN in X;
//   * knnGraphSdcnOrder gives knnGraph's sets on tie-free random data;
//   * USPS (derived/usps.txt.gz, 9298×256, the float32 values of usps.h5 train⊕test): Heat with
//     k = 1, 3, 5, 10 against sdcn/graph/usps{k}_graph.txt, row by row as sets (must be all equal), and how many
//     lines also sit at the same position (SDCN's order is numpy introselect's; reported only); and
//     knnGraphSdcnOrder against the same files line for line (must be all equal). ~10 s per k on 2 threads.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "../../native/core/error.h"
#include "../../native/core/thread_pool.h"
#include "../../native/cpu/knn.h"

namespace {

int g_failures = 0;

#define CHECK(cond, ...)                                        \
  do {                                                          \
    if (!(cond)) {                                              \
      ++g_failures;                                             \
      std::fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      std::fprintf(stderr, __VA_ARGS__);                        \
      std::fprintf(stderr, "\n");                               \
    }                                                           \
  } while (0)

using dgc::cpu::KnnMetric;

const char* metricName(KnnMetric m) {
  return m == KnnMetric::Heat ? "heat" : m == KnnMetric::Cosine ? "cosine" : "dot";
}

// Brute-force reference with the rule stated in knn.h.
std::vector<int32_t> reference(int64_t n, int64_t d, const std::vector<float>& X, int64_t k, KnnMetric m) {
  std::vector<double> nrm(n);
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t t = 0; t < d; ++t) s += double(X[i * d + t]) * double(X[i * d + t]);
    nrm[i] = std::sqrt(s);
  }
  std::vector<int32_t> out(n * k);
  std::vector<std::pair<double, int32_t>> row(n);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      if (m == KnnMetric::Heat) {
        for (int64_t t = 0; t < d; ++t) {
          double df = double(X[i * d + t]) - double(X[j * d + t]);
          acc += df * df;
        }
      } else {
        for (int64_t t = 0; t < d; ++t) acc += double(X[i * d + t]) * double(X[j * d + t]);
        if (m == KnnMetric::Dot) acc = -acc;
        else acc = (nrm[i] == 0 || nrm[j] == 0) ? 0.0 : -(acc * (1.0 / nrm[i]) * (1.0 / nrm[j]));
      }
      row[j] = {acc, int32_t(j)};
    }
    std::sort(row.begin(), row.end());  // (key, index) lexicographic
    int64_t o = 0;
    for (int64_t c = 0; c <= k && o < k; ++c)
      if (row[c].second != i) out[i * k + o++] = row[c].second;
  }
  return out;
}

std::vector<int32_t> run(int64_t n, int64_t d, const std::vector<float>& X, int64_t k, KnnMetric m) {
  std::vector<int32_t> out(n * k, -7);
  dgc::cpu::knnGraph(n, d, X.data(), k, m, out.data());
  return out;
}

void testAgainstReference() {
  std::mt19937 rng(12345);
  struct Case { int64_t n, d, k; int kind; };  // kind 0: gaussian, 1: small ints (ties, duplicates), 2: + zero rows
  const Case cases[] = {{2, 1, 1, 0},   {5, 3, 4, 0},     {37, 7, 3, 1},    {130, 5, 10, 0},  {300, 3, 5, 1},
                        {257, 16, 1, 2}, {1500, 12, 7, 0}, {1100, 2, 10, 1}, {2100, 50, 10, 0}, {600, 4, 30, 1},
                        {129, 9, 128, 2}};
  for (const Case& c : cases) {
    std::vector<float> X(c.n * c.d);
    std::normal_distribution<float> g(0.f, 1.f);
    std::uniform_int_distribution<int> ui(0, 2);
    for (auto& v : X) v = c.kind == 0 ? g(rng) * 3.0f + 1.0f : float(ui(rng));
    if (c.kind == 2)
      for (int64_t i = 0; i < c.n; i += 7)
        for (int64_t t = 0; t < c.d; ++t) X[i * c.d + t] = 0.f;
    for (KnnMetric m : {KnnMetric::Heat, KnnMetric::Cosine, KnnMetric::Dot}) {
      auto ref = reference(c.n, c.d, X, c.k, m);
      std::vector<int32_t> first;
      for (int th : {1, 2, 3}) {
        dgc::setNumThreads(th);
        auto got = run(c.n, c.d, X, c.k, m);
        int64_t bad = 0;
        for (size_t e = 0; e < got.size(); ++e) bad += got[e] != ref[e];
        CHECK(bad == 0, "%s n=%lld d=%lld k=%lld kind=%d threads=%d: %lld entries differ from the reference",
              metricName(m), (long long)c.n, (long long)c.d, (long long)c.k, c.kind, th, (long long)bad);
        if (th == 1) first = got;
        else CHECK(got == first, "%s n=%lld: output differs between 1 and %d threads", metricName(m), (long long)c.n, th);
      }
    }
  }
  dgc::setNumThreads(2);
  std::printf("reference comparison: %zu cases x 3 metrics x {1,2,3} threads done\n", sizeof(cases) / sizeof(cases[0]));
}

void testSdcnOrderSets() {
  // On tie-free random data the SDCN-order variant must give the same sets as knnGraph (Heat).
  std::mt19937 rng(99);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (int64_t n : {2, 7, 50, 701}) {
    const int64_t d = 6;
    std::vector<float> X(n * d);
    for (auto& v : X) v = u(rng);
    for (int64_t k : {int64_t(1), std::min<int64_t>(3, n - 1), n - 1}) {
      auto a = run(n, d, X, k, KnnMetric::Heat);
      std::vector<int32_t> b(n * k, -7);
      dgc::cpu::knnGraphSdcnOrder(n, d, X.data(), k, b.data());
      int64_t bad = 0;
      for (int64_t i = 0; i < n; ++i) {
        std::set<int32_t> sa(a.begin() + i * k, a.begin() + (i + 1) * k), sb(b.begin() + i * k, b.begin() + (i + 1) * k);
        bad += sa != sb;
      }
      CHECK(bad == 0, "sdcn order n=%lld k=%lld: %lld rows with other sets than knnGraph", (long long)n, (long long)k,
            (long long)bad);
    }
  }
}

void testDuplicates() {
  // 6 identical rows, k = 2: for rows 3..5 self is not among the top-3 (rows 0,1,2 win the tie by index),
  // so they keep the first k = 2 = {0, 1}. Rows 0..2: self dropped.
  std::vector<float> X(6 * 2, 1.5f);
  auto got = run(6, 2, X, 2, KnnMetric::Heat);
  const int32_t want[] = {1, 2, 0, 2, 0, 1, 0, 1, 0, 1, 0, 1};
  for (int e = 0; e < 12; ++e) CHECK(got[e] == want[e], "duplicates: entry %d is %d, want %d", e, got[e], want[e]);
}

void testErrors() {
  std::vector<float> X(10 * 2, 1.f);
  std::vector<int32_t> out(100);
  auto expect = [&](dgc::ErrorCode code, int64_t n, int64_t d, int64_t k, const char* what) {
    bool thrown = false;
    try {
      dgc::cpu::knnGraph(n, d, X.data(), k, KnnMetric::Heat, out.data());
    } catch (const dgc::Error& e) {
      thrown = e.code() == code;
    }
    CHECK(thrown, "error case '%s' did not throw the right dgc::Error", what);
  };
  expect(dgc::ErrorCode::Arg, 1, 2, 1, "n = 1");
  expect(dgc::ErrorCode::Arg, 10, 0, 1, "d = 0");
  expect(dgc::ErrorCode::Arg, 10, 2, 0, "k = 0");
  expect(dgc::ErrorCode::Arg, 10, 2, 10, "k = n");
  X[7] = std::nanf("");
  expect(dgc::ErrorCode::Value, 10, 2, 3, "NaN");
}

// The data folder: $DGCLUST_DATA, else shared/data beside the repository (found from this file's path).
std::string dataDir() {
  if (const char* env = std::getenv("DGCLUST_DATA")) return env;
  std::string here = __FILE__;  // <repo>/test/native/knn_test.cc
  for (int up = 0; up < 3; ++up) {
    const size_t slash = here.find_last_of('/');
    here = slash == std::string::npos ? "." : here.substr(0, slash);
  }
  return here + "/../shared/data";
}

bool readUsps(std::vector<float>& X, int64_t& n, int64_t& d) {
  const std::string pathStr = dataDir() + "/derived/usps.txt.gz";
  const char* path = pathStr.c_str();
  FILE* probe = std::fopen(path, "rb");
  if (!probe) return false;
  std::fclose(probe);
  std::string cmd = std::string("gzip -dc ") + path;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return false;
  std::string all;
  char buf[1 << 16];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, p)) > 0) all.append(buf, got);
  pclose(p);
  n = 0;
  d = 0;
  X.clear();
  const char* s = all.c_str();
  const char* end = s + all.size();
  int64_t cols = 0;
  while (s < end) {
    if (*s == '\n') {
      if (n == 0) d = cols;
      if (cols != d) return false;
      ++n;
      cols = 0;
      ++s;
      continue;
    }
    if (*s == ' ') { ++s; continue; }
    char* e;
    X.push_back(std::strtof(s, &e));  // shortest round-trip decimals: exact float32 values
    if (e == s) return false;
    s = e;
    ++cols;
  }
  return n > 0 && int64_t(X.size()) == n * d;
}

void testUsps() {
  std::vector<float> X;
  int64_t n = 0, d = 0;
  if (!readUsps(X, n, d)) {
    std::printf("NOTE: %s/derived/usps.txt.gz absent or unreadable: USPS check skipped\n", dataDir().c_str());
    return;
  }
  CHECK(n == 9298 && d == 256, "usps shape %lldx%lld", (long long)n, (long long)d);
  for (int64_t k : {1, 3, 5, 10}) {
    std::string gpath = dataDir() + "/sdcn/graph/usps" + std::to_string(k) + "_graph.txt";
    FILE* f = std::fopen(gpath.c_str(), "r");
    if (!f) {
      std::printf("NOTE: %s absent: skipped\n", gpath.c_str());
      continue;
    }
    std::vector<std::vector<int32_t>> file(n);
    long a, b;
    int64_t lines = 0;
    bool ok = true;
    while (std::fscanf(f, "%ld %ld", &a, &b) == 2) {
      ++lines;
      if (a < 0 || a >= n || b < 0 || b >= n) { ok = false; break; }
      file[a].push_back(int32_t(b));
    }
    std::fclose(f);
    CHECK(ok && lines == n * k, "%s: %lld lines or bad ids", gpath.c_str(), (long long)lines);
    auto t0 = std::chrono::steady_clock::now();
    auto got = run(n, d, X, k, KnnMetric::Heat);
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int64_t rowsDiffer = 0, pairsMissing = 0, samePos = 0;
    for (int64_t i = 0; i < n; ++i) {
      std::set<int32_t> mine(got.begin() + i * k, got.begin() + (i + 1) * k), theirs(file[i].begin(), file[i].end());
      if (mine != theirs || int64_t(file[i].size()) != k) ++rowsDiffer;
      for (int32_t v : theirs) pairsMissing += mine.count(v) == 0;
      for (int64_t c = 0; c < k && c < int64_t(file[i].size()); ++c) samePos += file[i][c] == got[i * k + c];
    }
    std::printf("usps k=%-2lld heat: %lld/%lld rows with a different neighbour set, %lld/%lld lines missing; "
                "%lld/%lld lines at the same position (file order = numpy introselect's); %.2f s\n",
                (long long)k, (long long)rowsDiffer, (long long)n, (long long)pairsMissing, (long long)(n * k),
                (long long)samePos, (long long)(n * k), sec);
    CHECK(rowsDiffer == 0, "usps k=%lld: %lld rows differ from %s", (long long)k, (long long)rowsDiffer, gpath.c_str());

    // Line for line, with SDCN's order (knnGraphSdcnOrder).
    std::vector<int32_t> ord(n * k, -7);
    t0 = std::chrono::steady_clock::now();
    dgc::cpu::knnGraphSdcnOrder(n, d, X.data(), k, ord.data());
    sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int64_t linesDiffer = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < k; ++c) linesDiffer += c >= int64_t(file[i].size()) || file[i][c] != ord[i * k + c];
    std::printf("usps k=%-2lld knnGraphSdcnOrder: %lld/%lld lines differ from %s (line for line); %.2f s\n",
                (long long)k, (long long)linesDiffer, (long long)(n * k), gpath.c_str(), sec);
    CHECK(linesDiffer == 0, "usps k=%lld: knnGraphSdcnOrder differs in %lld lines", (long long)k, (long long)linesDiffer);
  }
}

void bench() {
  const int64_t n = 100000, d = 50, k = 10;
  std::vector<float> X(n * d);
  std::mt19937 rng(7);
  std::normal_distribution<float> g(0.f, 1.f);
  // Clustered data (20 centres) so neighbour sets are meaningful, like real features.
  std::vector<float> centres(20 * d);
  for (auto& v : centres) v = g(rng) * 4.f;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t t = 0; t < d; ++t) X[i * d + t] = centres[(i % 20) * d + t] + g(rng);
  for (KnnMetric m : {KnnMetric::Heat}) {
    std::vector<int32_t> out(n * k);
    auto t0 = std::chrono::steady_clock::now();
    dgc::cpu::knnGraph(n, d, X.data(), k, m, out.data());
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("bench: n=%lld d=%lld k=%lld %s, %d threads: %.2f s\n", (long long)n, (long long)d, (long long)k,
                metricName(m), dgc::numThreads(), sec);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool doBench = argc > 1 && std::strcmp(argv[1], "--bench") == 0;
  testDuplicates();
  testErrors();
  testAgainstReference();
  testSdcnOrderSets();
  testUsps();
  if (doBench) bench();
  if (g_failures) {
    std::printf("knn_test: %d FAILURES\n", g_failures);
    return 1;
  }
  std::printf("knn_test: all passed\n");
  return 0;
}
