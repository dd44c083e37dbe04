// Standalone timing of the fused Gram–sigmoid reconstruction losses in native/cpu/recon.cc (no Node).
//
// Build (from the repository root; the addon is built with plain -O3 and no -march, so this is too):
//   mkdir -p /tmp/recon-work
//   g++ -O3 -std=c++17 -pthread -Inative bench/recon/recon_bench.cc native/cpu/recon.cc native/core/thread_pool.cc -o /tmp/recon-work/recon_bench
// Run:  /tmp/recon-work/recon_bench [--quick] [--only=TEXT] [--kernel=avx512|avx2|portable] [--wide]
//   --only: run the cases whose title contains TEXT (e.g. "N=10000", "bce", "memory");
//   --wide: also CaEGCN's real width (HHAR: N = 10299, d = 561).
//
// Per case: median and best seconds per call (forward + backward, and forward only), and GFLOP/s of the
// nominal work 4·N²·d per embedding (2N²d for the Gram Z Zᵀ + 2N²d for the product (G + Gᵀ)Z, counted as if
// every ordered pair were computed; the kernel computes each unordered pair once, so its real flop count is
// 3N²d, and on top of that come the sigmoid, log and sparse corrections). Forward: nominal 2N²d.
// The graph is a random kNN-like graph (10 neighbours per node, symmetrized, self loops, row-normalized),
// so nnz ≈ 21·N. Memory: the growth of the peak RSS during the first N = 50,000 call (two embeddings, both
// gradients), which includes the per-thread tile workspaces.
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/recon.h"

using dgc::cpu::CsrView;

namespace {

bool gQuick = false;
std::string gOnly;

bool selected(const std::string& title) { return gOnly.empty() || title.find(gOnly) != std::string::npos; }

double nowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU seconds used by all threads of the process (the pool's workers included).
double processCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Timing {
  double median, best;  // wall seconds per call
  double cpu;           // median process CPU seconds per call (≈ wall × threads when every thread got a core)
};
// Median and best of fn() over at least minReps runs (and until ~minTotal seconds), after one warm-up run.
Timing timeIt(const std::function<void()>& fn, int minReps, double minTotal) {
  if (gQuick) minReps = std::min(minReps, 2), minTotal = 0.0;
  fn();
  std::vector<double> t, cpu;
  const double start = nowSeconds();
  while (static_cast<int>(t.size()) < minReps || (nowSeconds() - start < minTotal && t.size() < 50)) {
    const double c0 = processCpuSeconds(), t0 = nowSeconds();
    fn();
    t.push_back(nowSeconds() - t0);
    cpu.push_back(processCpuSeconds() - c0);
  }
  std::sort(t.begin(), t.end());
  std::sort(cpu.begin(), cpu.end());
  return {t[t.size() / 2], t.front(), cpu[cpu.size() / 2]};
}

struct Graph {
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

// k random neighbours per node, symmetrized, self loops, row-normalized (DFCN/SDCN's D⁻¹(A+I)).
Graph randomGraph(int64_t n, int k, std::mt19937& rng) {
  std::vector<std::vector<int32_t>> adj(n);
  std::uniform_int_distribution<int64_t> node(0, n - 1);
  for (int64_t i = 0; i < n; ++i)
    for (int e = 0; e < k; ++e) {
      const int64_t j = node(rng);
      adj[i].push_back(static_cast<int32_t>(j));
      adj[j].push_back(static_cast<int32_t>(i));
    }
  Graph g;
  g.n = n;
  g.indptr.push_back(0);
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int32_t>& r = adj[i];
    r.push_back(static_cast<int32_t>(i));
    std::sort(r.begin(), r.end());
    r.erase(std::unique(r.begin(), r.end()), r.end());
    for (int32_t j : r) {
      g.indices.push_back(j);
      g.values.push_back(1.0f / static_cast<float>(r.size()));
    }
    g.indptr.push_back(static_cast<int32_t>(g.indices.size()));
  }
  return g;
}

std::vector<float> randomMatrix(int64_t n, int64_t d, float scale, bool nonNegative, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> z(static_cast<size_t>(n * d));
  for (float& x : z) x = nonNegative ? std::fabs(dist(rng)) : dist(rng);
  return z;
}

long peakRssKiB() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// Whether the second core is really there: a shared VM can give a thread count that runs no faster.
void computeScalingCheck() {
  auto spin = [](int64_t, int64_t) {
    volatile double x = 1.0;
    for (int i = 0; i < 20000000; ++i) x = x * 1.0000001 + 1e-9;
  };
  const int original = dgc::numThreads();
  dgc::setNumThreads(1);
  const Timing one = timeIt([&] { dgc::parallelFor(1, 1, spin); }, 5, 0.2);
  dgc::setNumThreads(2);
  const Timing two = timeIt([&] { dgc::parallelFor(2, 1, spin); }, 5, 0.2);
  dgc::setNumThreads(original);
  std::printf("compute check: 2 threads do 2 units of work in %.2fx the time 1 thread does 1 (1.0 = two full cores)\n",
              two.median / one.median);
}

// FMA throughput of this machine right now (one thread): independent chains of 8-wide float FMAs, which the
// compiler maps to the widest vectors it may use (plain -O3: SSE, i.e. this is a lower bound unless built with
// -march=native). Printed as GFLOP/s per core so that the numbers below can be read against it.
__attribute__((target("avx2,fma"))) double fmaPeakGflops() {
  typedef float v8 __attribute__((vector_size(32)));
  volatile long itersV = 20000000;
  const long iters = itersV;
  v8 a[10];
  for (int i = 0; i < 10; ++i) a[i] = v8{} + 0.001f * i;
  const v8 b = v8{} + 0.999f, c = v8{} + 1e-4f;
  const double t0 = nowSeconds();
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < 10; ++i) a[i] = a[i] * b + c;
  const double t = nowSeconds() - t0;
  volatile float sink = 0;
  for (int i = 0; i < 10; ++i) sink = sink + a[i][0];
  return iters * 10.0 * 16.0 / t / 1e9;
}

enum class Loss { MseTwo, MseOne, Bce };
const char* lossName(Loss l) { return l == Loss::MseTwo ? "mse 2 emb" : l == Loss::MseOne ? "mse 1 emb" : "bce"; }

void runCase(Loss loss, int64_t n, int64_t d, int threads) {
  char title[160];
  std::snprintf(title, sizeof title, "%-9s N=%-6lld d=%-4lld threads=%d", lossName(loss), static_cast<long long>(n),
                static_cast<long long>(d), threads);
  if (!selected(title)) return;
  std::mt19937 rng(42);
  const Graph a = randomGraph(n, 10, rng);
  const bool nonNegative = loss == Loss::Bce;  // CaEGCN's Z_L is a ReLU output
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const std::vector<float> z1 = randomMatrix(n, d, scale, nonNegative, rng);
  const std::vector<float> z2 = loss == Loss::MseTwo ? randomMatrix(n, d, scale, false, rng) : std::vector<float>();
  std::vector<float> g1(n * d), g2(z2.size());
  const int original = dgc::numThreads();
  dgc::setNumThreads(threads);
  double value = 0.0;
  auto call = [&](bool backward) {
    switch (loss) {
      case Loss::MseTwo:
        value = dgc::cpu::gramSigmoidMseLoss(n, z1.data(), d, z2.data(), d, a.view(), 0.1f,
                                             backward ? g1.data() : nullptr, backward ? g2.data() : nullptr);
        break;
      case Loss::MseOne:
        value = dgc::cpu::gramSigmoidMseLoss(n, z1.data(), d, nullptr, 0, a.view(), 0.1f,
                                             backward ? g1.data() : nullptr, nullptr);
        break;
      case Loss::Bce:
        value = dgc::cpu::gramSigmoidBceLoss(n, z1.data(), d, a.view(), 0.01f, backward ? g1.data() : nullptr);
        break;
    }
  };
  const int reps = n >= 30000 ? 2 : 5;
  const double minTotal = n >= 30000 ? 0.0 : 1.0;
  const Timing both = timeIt([&] { call(true); }, reps, minTotal);
  const Timing fwd = timeIt([&] { call(false); }, reps, minTotal);
  dgc::setNumThreads(original);
  const double embeddings = loss == Loss::MseTwo ? 2.0 : 1.0;
  const double nominal = 4.0 * static_cast<double>(n) * n * d * embeddings;
  std::printf("%s  nnz %-8lld  fwd+bwd %8.4f s (best %8.4f, %5.1f GFLOP/s; %6.3f cpu-s, %5.1f GFLOP/cpu-s)   "
              "fwd %8.4f s (%5.1f GFLOP/s; %6.3f cpu-s, %5.1f GFLOP/cpu-s)   loss %.6g\n",
              title, static_cast<long long>(a.indices.size()), both.median, both.best, nominal / both.median / 1e9,
              both.cpu, nominal / both.cpu / 1e9, fwd.median, nominal / 2.0 / fwd.median / 1e9, fwd.cpu,
              nominal / 2.0 / fwd.cpu / 1e9, value);
}

void memoryCase() {
  if (!selected("memory")) return;
  const int64_t n = 50000, d = 20;
  std::mt19937 rng(7);
  const Graph a = randomGraph(n, 10, rng);
  const std::vector<float> z1 = randomMatrix(n, d, 0.2f, false, rng), z2 = randomMatrix(n, d, 0.2f, false, rng);
  std::vector<float> g1(n * d, 0.0f), g2(n * d, 0.0f);  // touched: not counted as the kernel's memory
  const long before = peakRssKiB();
  const double t0 = nowSeconds();
  dgc::cpu::gramSigmoidMseLoss(n, z1.data(), d, z2.data(), d, a.view(), 0.1f, g1.data(), g2.data());
  const double t = nowSeconds() - t0;
  const long after = peakRssKiB();
  const double nnz = static_cast<double>(a.indices.size());
  std::printf("memory, mse 2 emb N=50000 d=20 (first call, %.2f s): peak RSS grew by %.1f MiB "
              "(expected: accumulators 2·8·N·d = %.1f MiB + transposed blocks 2·4·N·d = %.1f MiB + corrections "
              "8·nnz = %.1f MiB + per-thread tiles ~0.3 MiB); an N×N float matrix would be %.1f GiB\n",
              t, (after - before) / 1024.0, 2.0 * 8 * n * d / 1048576.0, 2.0 * 4 * n * d / 1048576.0,
              8.0 * nnz / 1048576.0, 4.0 * n * n / 1073741824.0);
}

}  // namespace

int main(int argc, char** argv) {
  bool wide = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") gQuick = true;
    else if (arg == "--wide") wide = true;
    else if (arg.rfind("--only=", 0) == 0) gOnly = arg.substr(7);
    else if (arg.rfind("--kernel=", 0) == 0) {
      if (!dgc::cpu::recon_detail::forceKernelSet(arg.substr(9).c_str())) {
        std::printf("kernel set %s is not available\n", arg.c_str() + 9);
        return 1;
      }
    } else {
      std::printf("unknown argument %s\n", arg.c_str());
      return 1;
    }
  }
  std::printf("recon kernel set: %s, threads: %d\n", dgc::cpu::recon_detail::activeKernelSetName(), dgc::numThreads());
  memoryCase();  // first, so that the peak RSS has not been raised by other cases
  computeScalingCheck();
  std::printf("FMA peak now (one thread, ymm chains): %.1f GFLOP/s per core\n", fmaPeakGflops());
  const int threads = dgc::numThreads();
  for (int64_t n : {3025, 10000, 50000})
    for (Loss loss : {Loss::MseTwo, Loss::MseOne, Loss::Bce}) runCase(loss, n, 20, threads);
  if (threads > 1)
    for (Loss loss : {Loss::MseTwo, Loss::Bce}) runCase(loss, 10000, 20, 1);
  if (wide) runCase(Loss::Bce, 10299, 561, threads);
  return 0;
}
