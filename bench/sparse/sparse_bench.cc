// Standalone timing of the sparse kernels in native/cpu/sparse.cc (no Node).
//
// Build (from the repository root; the addon is built with plain -O3 and no -march, so this is too):
//   mkdir -p bench/.build
//   g++ -O3 -std=c++17 -pthread -Inative bench/sparse/sparse_bench.cc native/cpu/sparse.cc
//       native/core/thread_pool.cc -o bench/.build/sparse_bench   (one line)
// Run:  bench/.build/sparse_bench [--quick] [--only=TEXT]   (--only: run the cases whose title contains TEXT:
//       "memory", "uniform random graph", "power-law", "large", "csrFromEdges")
//
// Prints, per case, the median and best time of several runs and the effective bandwidth of SpMM:
//   bytes = indptr (rows + 1) + indices and values (nnz each) + gathered H rows (nnz · d floats) + out (rows · d)
// all 4-byte words, i.e. what a kernel reads and writes if nothing is reused from cache. Gathered H rows that
// hit in cache count too, so small H can exceed the DRAM figure. For reference the run first measures a
// large memcpy and a STREAM-style triad (a = b + s·c) on the same threads, and checks that the second core
// really computes in parallel (on a shared VM it may not; then 2-thread numbers mean little). SpMM variants
// of one case are timed in interleaved rounds so that the machine's slow spells hit them alike.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "core/graph.h"
#include "cpu/sparse.h"

using dgc::graph::CsrHost;
using dgc::graph::GraphOptions;
using dgc::cpu::SpmmKernel;

namespace {

bool gQuick = false;
std::string gOnly;  // run only cases whose title contains this

bool selected(const std::string& title) { return gOnly.empty() || title.find(gOnly) != std::string::npos; }

double nowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median seconds of fn() over repetitions (at least minReps, until about minTotal seconds), after one warm-up.
double medianSeconds(const std::function<void()>& fn, int minReps = 5, double minTotal = 0.5) {
  if (gQuick) minReps = 3, minTotal = 0.1;
  fn();
  std::vector<double> times;
  const double start = nowSeconds();
  while (static_cast<int>(times.size()) < minReps || (nowSeconds() - start < minTotal && times.size() < 200)) {
    const double t0 = nowSeconds();
    fn();
    times.push_back(nowSeconds() - t0);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Several variants of one operation timed in rounds (variant 0, 1, 2, 0, 1, 2, ...), so that a slow spell of
// a shared machine hits all of them alike. setup() (untimed, e.g. setting the thread count) runs before each
// timed run(); each variant gets one untimed warm-up run first.
struct Variant {
  std::function<void()> setup, run;
};
struct Timing {
  double median, best;
};
std::vector<Timing> timeInterleaved(const std::vector<Variant>& variants, int minRounds = 7, double minTotal = 1.0) {
  if (gQuick) minRounds = 3, minTotal = 0.2;
  std::vector<std::vector<double>> times(variants.size());
  for (const Variant& v : variants) v.setup(), v.run();
  const double start = nowSeconds();
  for (int round = 0; round < minRounds || (nowSeconds() - start < minTotal && round < 200); ++round) {
    for (size_t i = 0; i < variants.size(); ++i) {
      variants[i].setup();
      const double t0 = nowSeconds();
      variants[i].run();
      times[i].push_back(nowSeconds() - t0);
    }
  }
  std::vector<Timing> result;
  for (std::vector<double>& t : times) {
    std::sort(t.begin(), t.end());
    result.push_back({t[t.size() / 2], t.front()});
  }
  return result;
}

// Whether the second core is really there: a shared VM can give a thread count that runs no faster.
void computeScalingCheck() {
  auto spin = [](int64_t, int64_t) {
    volatile double x = 1.0;
    for (int i = 0; i < 20000000; ++i) x = x * 1.0000001 + 1e-9;
  };
  std::vector<Variant> variants;
  for (int threads : {1, 2}) {
    variants.push_back({[threads] { dgc::setNumThreads(threads); },
                        [&spin, threads] { dgc::parallelFor(threads, 1, spin); }});
  }
  const std::vector<Timing> t = timeInterleaved(variants, 5, 0.5);
  std::printf("compute check: 2 threads do 2 units of work in %.2fx the time 1 thread does 1 (1.0 = two full cores)\n",
              t[1].median / t[0].median);
}

void memoryReference() {
  const size_t n = size_t(64) << 20;  // 64M floats = 256 MiB per array
  std::vector<float> a(n, 0.0f), b(n, 1.0f), c(n, 2.0f);
  for (int threads : {1, 2}) {
    dgc::setNumThreads(threads);
    const int64_t parts = threads * 4;
    const double tCopy = medianSeconds([&] {
      dgc::parallelFor(parts, 1, [&](int64_t p, int64_t) {
        const size_t begin = n / parts * p, end = (p + 1 == parts) ? n : n / parts * (p + 1);
        std::memcpy(a.data() + begin, b.data() + begin, (end - begin) * sizeof(float));
      });
    });
    const double tTriad = medianSeconds([&] {
      dgc::parallelFor(static_cast<int64_t>(n), static_cast<int64_t>(n / parts), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) a[i] = b[i] + 3.0f * c[i];
      });
    });
    // Gathers: independent reads of random 64-byte lines of the 256 MiB array, the ceiling for SpMM with
    // narrow H too big for cache (each nonzero gathers 1-2 lines of a random row of H).
    const int64_t lines = static_cast<int64_t>(n / 16), nReads = int64_t{1} << 24;
    std::vector<int32_t> lineIds(static_cast<size_t>(nReads));
    std::mt19937 rng(3);
    for (int32_t& id : lineIds) id = static_cast<int32_t>(rng() % static_cast<uint32_t>(lines));
    std::vector<float> partial(static_cast<size_t>(parts));
    const double tGather = medianSeconds([&] {
      dgc::parallelFor(nReads, nReads / parts, [&](int64_t begin, int64_t end) {
        float sum = 0.0f;
        for (int64_t i = begin; i < end; ++i) sum += b[static_cast<size_t>(lineIds[i]) * 16];
        partial[begin / (nReads / parts)] = sum;
      });
    });
    std::printf("memory reference, %d thread(s): memcpy %.1f GB/s (read + write), triad %.1f GB/s (2 reads + write), "
                "random 64 B lines %.1f GB/s\n",
                threads, 2.0 * n * 4 / tCopy / 1e9, 3.0 * n * 4 / tTriad / 1e9, 64.0 * nReads / tGather / 1e9);
  }
}

// ~degree nonzeros per row (symmetrized uniform random edges + self loops), row-normalized like SDCN.
CsrHost uniformGraph(int64_t n, double degree, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> node(0, static_cast<int32_t>(n) - 1);
  const int64_t nEdges = static_cast<int64_t>(n * (degree - 1) / 2);
  std::vector<int32_t> src(nEdges), dst(nEdges);
  for (int64_t e = 0; e < nEdges; ++e) src[e] = node(rng), dst[e] = node(rng);
  return dgc::graph::csrFromEdges(n, src.data(), dst.data(), nullptr, nEdges, GraphOptions{});
}

// Chung–Lu graph with power-law expected degrees (exponent ~2.2): a few hubs with thousands of neighbours.
CsrHost powerLawGraph(int64_t n, double meanDegree, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<double> weight(n);
  for (int64_t i = 0; i < n; ++i) weight[i] = std::pow(static_cast<double>(i + 1), -1.0 / 1.2);
  std::discrete_distribution<int32_t> pick(weight.begin(), weight.end());
  const int64_t nEdges = static_cast<int64_t>(n * (meanDegree - 1) / 2);
  std::vector<int32_t> src(nEdges), dst(nEdges);
  for (int64_t e = 0; e < nEdges; ++e) src[e] = pick(rng), dst[e] = pick(rng);
  return dgc::graph::csrFromEdges(n, src.data(), dst.data(), nullptr, nEdges, GraphOptions{});
}

void benchSpmm(const std::string& name, const CsrHost& a, const std::vector<int64_t>& widths,
               const std::vector<SpmmKernel>& kernels, const std::vector<int>& threadCounts) {
  int64_t maxDegree = 0;
  for (int64_t r = 0; r < a.rows; ++r) maxDegree = std::max<int64_t>(maxDegree, a.indptr[r + 1] - a.indptr[r]);
  std::printf("\n%s: %lld rows, %lld nnz (%.1f per row, max %lld)\n", name.c_str(), (long long)a.rows,
              (long long)a.nnz(), double(a.nnz()) / a.rows, (long long)maxDegree);
  std::printf("  %6s %-9s %7s %10s %9s %10s %9s %9s\n", "d", "kernel", "threads", "median ms", "GB/s", "best ms",
              "GB/s", "GFLOP/s");
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int64_t d : widths) {
    std::vector<float> H(static_cast<size_t>(a.cols * d));
    for (float& x : H) x = u(rng);
    std::vector<float> out(static_cast<size_t>(a.rows * d));
    const double bytes = 4.0 * ((a.rows + 1) + 2.0 * a.nnz() + double(a.nnz()) * d + double(a.rows) * d);
    const double flops = 2.0 * a.nnz() * d;
    std::vector<Variant> variants;
    std::vector<std::pair<SpmmKernel, int>> configs;
    for (SpmmKernel kernel : kernels) {
      if (!dgc::cpu::spmmKernelAvailable(kernel)) continue;
      for (int threads : threadCounts) {
        configs.emplace_back(kernel, threads);
        variants.push_back({[threads] { dgc::setNumThreads(threads); },
                            [&, kernel] {
                              dgc::cpu::spmmWithKernel(kernel, a.rows, a.cols, a.indptr.data(), a.indices.data(),
                                                       a.values.data(), H.data(), d, out.data());
                            }});
      }
    }
    const std::vector<Timing> t = timeInterleaved(variants);
    for (size_t i = 0; i < configs.size(); ++i) {
      std::printf("  %6lld %-9s %7d %10.3f %9.1f %10.3f %9.1f %9.1f\n", (long long)d,
                  dgc::cpu::spmmKernelName(configs[i].first), configs[i].second, t[i].median * 1e3,
                  bytes / t[i].median / 1e9, t[i].best * 1e3, bytes / t[i].best / 1e9, flops / t[i].median / 1e9);
    }
  }
}

void benchBuild(int64_t n, int64_t nEdges) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> node(0, static_cast<int32_t>(n) - 1);
  std::vector<int32_t> src(nEdges), dst(nEdges);
  std::vector<float> weights(nEdges);
  for (int64_t e = 0; e < nEdges; ++e) src[e] = node(rng), dst[e] = node(rng), weights[e] = 0.5f + (e % 7) * 0.1f;
  std::printf("\ncsrFromEdges / csrTranspose / csrValidate: n = %lld, %lld random edges (symmetrize, self loops)\n",
              (long long)n, (long long)nEdges);
  std::printf("  %7s %8s %13s %13s %13s %13s %13s\n", "threads", "nnz", "build Row ms", "build Sym ms",
              "weighted ms", "transpose ms", "validate ms");
  for (int threads : {1, 2}) {
    dgc::setNumThreads(threads);
    CsrHost g;
    GraphOptions opts;  // symmetrize, self loops, Row
    auto build = [&](const float* w) { g = dgc::graph::csrFromEdges(n, src.data(), dst.data(), w, nEdges, opts); };
    const double tRow = medianSeconds([&] { build(nullptr); }, 5, 2.0);
    const double tWeighted = medianSeconds([&] { build(weights.data()); }, 5, 2.0);
    opts.norm = dgc::graph::Normalization::Sym;
    const double tSym = medianSeconds([&] { build(nullptr); }, 5, 2.0);
    CsrHost t;
    const double tTranspose = medianSeconds([&] { t = dgc::graph::csrTranspose(g); }, 5, 2.0);
    std::string msg;
    const double tValidate = medianSeconds(
        [&] { msg = dgc::graph::csrValidate(g.rows, g.cols, g.indptr.data(), g.indices.data(), g.nnz()); }, 5, 0.5);
    std::printf("  %7d %8lld %13.0f %13.0f %13.0f %13.0f %13.1f%s\n", threads, (long long)g.nnz(), tRow * 1e3,
                tSym * 1e3, tWeighted * 1e3, tTranspose * 1e3, tValidate * 1e3, msg.empty() ? "" : "  (INVALID?)");
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") gQuick = true;
    if (arg.rfind("--only=", 0) == 0) gOnly = arg.substr(7);
  }
  const int hardwareThreads = dgc::numThreads();
  std::printf("threads available: %d\n", hardwareThreads);
  std::vector<int> threadCounts = {1};
  if (hardwareThreads > 1) threadCounts.push_back(hardwareThreads);
  const std::vector<SpmmKernel> allKernels = {SpmmKernel::Portable, SpmmKernel::Avx2, SpmmKernel::Avx512};

  if (selected("memory reference")) {
    computeScalingCheck();
    memoryReference();
  }
  if (selected("uniform random graph, 10k")) {
    const CsrHost g = uniformGraph(10000, 10, 11);
    benchSpmm("uniform random graph, 10k", g, {10, 20, 256, 500, 2000}, allKernels, threadCounts);
  }
  if (selected("power-law graph, 10k")) {
    const CsrHost g = powerLawGraph(10000, 10, 12);
    benchSpmm("power-law graph, 10k", g, {20, 256, 2000}, allKernels, threadCounts);
  }
  if (selected("power-law graph, large 1M")) {
    const CsrHost g = powerLawGraph(1000000, 10, 13);
    benchSpmm("power-law graph, large 1M", g, {20}, allKernels, threadCounts);
  }
  if (selected("uniform random graph, large 1M")) {
    const CsrHost g = uniformGraph(1000000, 10, 14);
    benchSpmm("uniform random graph, large 1M", g, {20}, allKernels, threadCounts);
  }
  if (selected("csrFromEdges")) benchBuild(1000000, 10000000);
  dgc::setNumThreads(hardwareThreads);
  return 0;
}
