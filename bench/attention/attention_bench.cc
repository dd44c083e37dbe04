// Benchmark of the fused attention kernels (native/cpu/attention.h) against this machine's GEMM rate.
//
// Build and run (from the repository root):
//   g++ -O3 -std=c++17 -pthread -Inative bench/attention/attention_bench.cc native/cpu/attention.cc native/cpu/gemm*.cc native/core/thread_pool.cc -o /tmp/attn-work/attention_bench
//   /tmp/attn-work/attention_bench [--threads N] [--reps R] [--kernel avx512|avx2|portable] [--big] [--wide]
//
// What it prints
//   * GEMM rate: dgc::cpu::sgemm on 2000×2000×2000 (NN), median of R runs, GFLOP/s = 2·M·N·K / time.
//   * Self-correlation (DFCN, d = 20) at N = 3,025 and 10,000 (and 50,000 with --big):
//       forward  4·N²·d flops (Z Zᵀ and P·Z; the exps are not counted);
//       backward 10·N²·d flops: the count of the standard materialised backward (recompute S, dP = Ḡ Zᵀ,
//                SᵀḠ, dS·Z, dSᵀ·Z), for the fused one-pass kernel and for the generic three-gradient path
//                (which really executes 14·N²·d).
//     with GFLOP/s and the ratio to the GEMM rate.
//   * CaEGCN attention (paper Eqs. 5–11, the official code's SelfAttentionWide): N = 3,025, 8 heads of width
//     e = 10, scale 1/√e (with --wide also e = 500). Forward 4·N²·heads·e, backward 10·N²·heads·e (same conventions).
//   Columns: median and min wall time; GFLOP/s from the median time and its ratio to GEMM's median rate;
//   GFLOP/s from the min time and its ratio to GEMM's best rate; GFLOP per CPU-second (flops / least process
//   CPU time of a run, i.e. per core actually used) and its ratio to GEMM's. On a machine shared with other
//   jobs the median ratio is noisy; the best-time and CPU-time ratios much less.
//   * Peak extra memory of each call: every operator new is counted while it runs (this binary replaces the
//     global allocation functions), so the number is what the kernel itself allocates (workspace, row
//     statistics), not the inputs and outputs. Compared with one dense N×N float matrix.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <random>
#include <string>
#include <vector>

#include <time.h>

#include "core/thread_pool.h"
#include "cpu/attention.h"
#include "cpu/gemm.h"

// ---- Allocation tracking -------------------------------------------------------------------------------
namespace {
std::atomic<int64_t> gLiveBytes{0}, gPeakBytes{0};

void* trackedAlloc(size_t size, size_t align) {
  align = std::max<size_t>(align, 16);
  const size_t header = align;  // the block's size lives just before the returned pointer
  const size_t total = (header + size + align - 1) / align * align;
  char* base = static_cast<char*>(std::aligned_alloc(align, total));
  if (!base) throw std::bad_alloc();
  char* user = base + header;
  reinterpret_cast<size_t*>(user)[-1] = size;
  reinterpret_cast<size_t*>(user)[-2] = header;
  const int64_t live = gLiveBytes.fetch_add(int64_t(size)) + int64_t(size);
  int64_t peak = gPeakBytes.load();
  while (live > peak && !gPeakBytes.compare_exchange_weak(peak, live)) {
  }
  return user;
}

void trackedFree(void* p) {
  if (!p) return;
  char* user = static_cast<char*>(p);
  const size_t size = reinterpret_cast<size_t*>(user)[-1];
  const size_t header = reinterpret_cast<size_t*>(user)[-2];
  gLiveBytes.fetch_sub(int64_t(size));
  std::free(user - header);
}
}  // namespace

void* operator new(size_t n) { return trackedAlloc(n, 16); }
void* operator new[](size_t n) { return trackedAlloc(n, 16); }
void* operator new(size_t n, std::align_val_t a) { return trackedAlloc(n, size_t(a)); }
void* operator new[](size_t n, std::align_val_t a) { return trackedAlloc(n, size_t(a)); }
void operator delete(void* p) noexcept { trackedFree(p); }
void operator delete[](void* p) noexcept { trackedFree(p); }
void operator delete(void* p, size_t) noexcept { trackedFree(p); }
void operator delete[](void* p, size_t) noexcept { trackedFree(p); }
void operator delete(void* p, std::align_val_t) noexcept { trackedFree(p); }
void operator delete[](void* p, std::align_val_t) noexcept { trackedFree(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { trackedFree(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { trackedFree(p); }

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// CPU time of the whole process (all threads). The pool's idle workers block, so this counts the time the
// threads actually ran; flops / CPU time is a per-core rate that other jobs on the machine barely disturb.
double cpuTime() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

struct Timing {
  double median, min;
  double cpuMin;  // least process CPU time of a run
  int64_t peakExtraBytes;
};

// Runs fn once to warm up, then `reps` times; reports the median and min wall time and the largest number of
// bytes allocated (and not yet freed) at any moment of a call, above what was live before it.
Timing measure(int reps, const std::function<void()>& fn) {
  fn();
  std::vector<double> t;
  double cpu = 1e30;
  int64_t peak = 0;
  for (int r = 0; r < reps; ++r) {
    const int64_t before = gLiveBytes.load();
    gPeakBytes.store(before);
    const double c0 = cpuTime(), t0 = now();
    fn();
    t.push_back(now() - t0);
    cpu = std::min(cpu, cpuTime() - c0);
    peak = std::max(peak, gPeakBytes.load() - before);
  }
  std::sort(t.begin(), t.end());
  return Timing{t[t.size() / 2], t.front(), cpu, peak};
}

std::vector<float> randomVector(std::mt19937& rng, int64_t count, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> x(count);
  for (auto& e : x) e = dist(rng);
  return x;
}

std::string bytes(int64_t b) {
  char buf[64];
  if (b >= (1 << 20))
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / 1048576.0);
  else
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  return buf;
}

double gGemmRate = 0.0, gGemmBestRate = 0.0, gGemmCpuRate = 0.0;  // GFLOP/s: median, best, per CPU-second

void row(const char* what, double flops, const Timing& t, int64_t denseBytes) {
  const double rate = flops / t.median * 1e-9, best = flops / t.min * 1e-9, cpuRate = flops / t.cpuMin * 1e-9;
  std::printf("%-42s %8.4f %8.4f | %6.1f %4.0f%% | %6.1f %4.0f%% | %6.1f %4.0f%% | %10s  (N×N: %s)\n", what, t.median,
              t.min, rate, 100.0 * rate / gGemmRate, best, 100.0 * best / gGemmBestRate, cpuRate,
              100.0 * cpuRate / gGemmCpuRate, bytes(t.peakExtraBytes).c_str(), bytes(denseBytes).c_str());
}

void benchSelfCorrelation(int64_t n, int reps) {
  const int64_t d = 20;
  std::mt19937 rng(static_cast<uint32_t>(n));
  const std::vector<float> z = randomVector(rng, n * d, -1.0f, 1.0f), dOut = randomVector(rng, n * d, -1.0f, 1.0f);
  std::vector<float> out(n * d), lse(n), dZ(n * d);
  const double pairs = double(n) * double(n);
  char name[96];
  std::snprintf(name, sizeof name, "self-correlation N=%lld d=20 forward", (long long)n);
  row(name, 4 * pairs * d, measure(reps, [&] { dgc::cpu::selfCorrelationForward(n, d, z.data(), out.data(), lse.data()); }),
      n * n * 4);
  std::snprintf(name, sizeof name, "self-correlation N=%lld d=20 backward", (long long)n);
  row(name, 10 * pairs * d, measure(reps, [&] {
        dgc::cpu::selfCorrelationBackward(n, d, z.data(), out.data(), lse.data(), dOut.data(), dZ.data());
      }),
      n * n * 4);
  std::snprintf(name, sizeof name, "  (generic 3-gradient backward, N=%lld)", (long long)n);
  row(name, 10 * pairs * d, measure(reps, [&] {
        dgc::cpu::attention_detail::selfCorrelationBackwardGeneric(n, d, z.data(), out.data(), lse.data(), dOut.data(),
                                                                   dZ.data());
      }),
      n * n * 4);
}

void benchMultiHead(int64_t n, int64_t heads, int64_t e, int reps) {
  std::mt19937 rng(7);
  const int64_t w = heads * e;
  const float scale = 1.0f / std::sqrt(float(e));
  const std::vector<float> q = randomVector(rng, n * w, -1.0f, 1.0f), k = randomVector(rng, n * w, -1.0f, 1.0f),
                           v = randomVector(rng, n * w, -1.0f, 1.0f), dOut = randomVector(rng, n * w, -1.0f, 1.0f);
  std::vector<float> out(n * w), lse(n * heads), dQ(n * w), dK(n * w), dV(n * w);
  const double flopsUnit = double(n) * double(n) * heads * e;
  char name[96];
  std::snprintf(name, sizeof name, "attention N=%lld heads=%lld e=%lld forward", (long long)n, (long long)heads,
                (long long)e);
  row(name, 4 * flopsUnit, measure(reps, [&] {
        dgc::cpu::attentionForward(n, n, heads, e, e, scale, q.data(), k.data(), v.data(), out.data(), lse.data());
      }),
      n * n * 4 * heads);
  std::snprintf(name, sizeof name, "attention N=%lld heads=%lld e=%lld backward", (long long)n, (long long)heads,
                (long long)e);
  row(name, 10 * flopsUnit, measure(reps, [&] {
        dgc::cpu::attentionBackward(n, n, heads, e, e, scale, q.data(), k.data(), v.data(), out.data(), lse.data(),
                                    dOut.data(), dQ.data(), dK.data(), dV.data());
      }),
      n * n * 4 * heads);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 5;
  bool big = false, wide = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--reps" && i + 1 < argc) reps = std::max(1, std::atoi(argv[++i]));
    else if (a == "--kernel" && i + 1 < argc) {
      if (!dgc::cpu::attention_detail::forceKernelSet(argv[++i])) {
        std::fprintf(stderr, "kernel set %s not available\n", argv[i]);
        return 2;
      }
    } else if (a == "--big") big = true;
    else if (a == "--wide") wide = true;
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--reps R] [--kernel avx512|avx2|portable] [--big] [--wide]\n",
                   argv[0]);
      return 2;
    }
  }
  dgc::setNumThreads(threads);
  std::printf("threads %d, attention kernel set %s, median of %d runs after a warm-up\n", threads,
              dgc::cpu::attention_detail::activeKernelSetName(), reps);

  {
    const int64_t s = 2000;
    std::mt19937 rng(1);
    const std::vector<float> a = randomVector(rng, s * s, -1, 1), b = randomVector(rng, s * s, -1, 1);
    std::vector<float> c(s * s);
    const Timing t = measure(reps, [&] {
      dgc::cpu::sgemm(false, false, s, s, s, 1.0f, a.data(), s, b.data(), s, 0.0f, c.data(), s);
    });
    gGemmRate = 2.0 * s * s * s / t.median * 1e-9;
    gGemmBestRate = 2.0 * s * s * s / t.min * 1e-9;
    gGemmCpuRate = 2.0 * s * s * s / t.cpuMin * 1e-9;
    std::printf("%-42s %8s %8s | %-12s | %-12s | %-12s |\n", "", "median s", "min s", "GF/s (median)",
                "GF/s (best)", "GF/CPU-s");
    std::printf("%-42s %8.4f %8.4f | %6.1f       | %6.1f       | %6.1f       |\n", "sgemm 2000x2000x2000", t.median,
                t.min, gGemmRate, gGemmBestRate, gGemmCpuRate);
  }
  benchSelfCorrelation(3025, reps);
  benchSelfCorrelation(10000, reps);
  if (big) benchSelfCorrelation(50000, 1);
  benchMultiHead(3025, 8, 10, reps);
  if (wide) benchMultiHead(3025, 8, 500, 1);
  return 0;
}
