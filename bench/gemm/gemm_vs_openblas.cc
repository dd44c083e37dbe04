// Benchmark: dgclust's dgc::cpu::sgemm against OpenBLAS cblas_sgemm, same process, interleaved runs.
//
// Usage: gemm_vs_openblas [--threads N] [--reps R] [--json PATH] [--kernel avx512|avx2|generic]
//                         [--settle-ms MS] [--shape MxKxN]...
// Built and run by bench/gemm/run.sh. For each shape (M×K×N: op(A) is M×K, op(B) is K×N) and transpose form
// (NN, TN, NT, TT) it warms both libraries up, then times them alternately R times, and reports median and
// min–max seconds, GFLOP/s (2·M·N·K / median) and the GFLOP/s ratio dgclust / OpenBLAS.
//
// Settling pause: after each call OpenBLAS's worker threads keep spinning (sched_yield loop) for about
// 0.1 s before they sleep (measured: a 2-thread OpenBLAS 0.3.21 process burns ~100 ms of CPU after a call).
// Timed right after, dgclust's pool would share its cores with that spinner and measure at about half speed.
// So every timed call, of either library, is preceded by a pause (--settle-ms, default 200) in which the
// other library's threads go idle: both start from sleeping worker threads.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/gemm.h"
#include "cpu/gemm_kernels.h"

namespace {

struct Shape {
  int64_t m, k, n;
};

struct Stats {
  double median, min, max;
};

Stats summarize(std::vector<double> t) {
  std::sort(t.begin(), t.end());
  const size_t n = t.size();
  const double median = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
  return Stats{median, t.front(), t.back()};
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 9, settleMs = 200;
  std::string jsonPath, kernel;
  std::vector<Shape> shapes;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value after %s\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--threads") threads = std::atoi(next());
    else if (arg == "--reps") reps = std::max(1, std::atoi(next()));
    else if (arg == "--json") jsonPath = next();
    else if (arg == "--kernel") kernel = next();
    else if (arg == "--settle-ms") settleMs = std::max(0, std::atoi(next()));
    else if (arg == "--shape") {
      long long m, k, n;
      if (std::sscanf(next(), "%lldx%lldx%lld", &m, &k, &n) != 3) {
        std::fprintf(stderr, "--shape wants MxKxN\n");
        return 2;
      }
      shapes.push_back(Shape{m, k, n});
    } else {
      std::fprintf(stderr, "unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  if (shapes.empty()) shapes = {{3025, 1870, 500}, {10000, 500, 2000}, {10000, 2000, 10}};
  if (!kernel.empty() && !dgc::cpu::gemm_detail::forceKernelSet(kernel.c_str())) {
    std::fprintf(stderr, "kernel set %s is not available on this CPU\n", kernel.c_str());
    return 2;
  }
  dgc::setNumThreads(threads);
  openblas_set_num_threads(threads);

  std::printf("dgclust sgemm (kernel set %s) vs %s, %d thread(s), %d interleaved repetitions, %d ms settling "
              "pause before each call\n\n",
              dgc::cpu::gemm_detail::activeKernelSet().name, openblas_get_config(), threads, reps, settleMs);
  std::printf("| shape M×K×N | form | dgclust median s (min–max) | OpenBLAS median s (min–max) | dgclust GFLOP/s | "
              "OpenBLAS GFLOP/s | ratio |\n");
  std::printf("|---|---|---|---|---|---|---|\n");

  std::string json = "[\n";
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const char* forms[] = {"NN", "TN", "NT", "TT"};
  bool firstRow = true;
  for (const Shape& s : shapes) {
    std::vector<float> A(size_t(s.m * s.k)), B(size_t(s.k * s.n)), C(size_t(s.m * s.n)), C2(C.size());
    for (float& x : A) x = dist(rng);
    for (float& x : B) x = dist(rng);
    const double flops = 2.0 * double(s.m) * double(s.n) * double(s.k);
    for (int f = 0; f < 4; ++f) {
      const bool ta = f & 1, tb = f & 2;
      const int64_t lda = ta ? s.m : s.k, ldb = tb ? s.k : s.n;
      auto runOurs = [&] {
        dgc::cpu::sgemm(ta, tb, s.m, s.n, s.k, 1.0f, A.data(), lda, B.data(), ldb, 0.0f, C.data(), s.n);
      };
      auto runBlas = [&] {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(s.m),
                    int(s.n), int(s.k), 1.0f, A.data(), int(lda), B.data(), int(ldb), 0.0f, C2.data(), int(s.n));
      };
      for (int w = 0; w < 2; ++w) {
        runOurs();
        runBlas();
      }
      // Sanity: both libraries agree (a wrong fast kernel would make a meaningless benchmark).
      double maxDiff = 0.0;
      for (size_t i = 0; i < C.size(); ++i) maxDiff = std::max(maxDiff, double(std::fabs(C[i] - C2[i])));
      if (maxDiff > 1e-3 * std::sqrt(double(s.k))) {
        std::fprintf(stderr, "results differ from OpenBLAS by %g on %lldx%lldx%lld %s\n", maxDiff,
                     (long long)s.m, (long long)s.k, (long long)s.n, forms[f]);
        return 1;
      }
      auto settle = [&] { std::this_thread::sleep_for(std::chrono::milliseconds(settleMs)); };
      std::vector<double> ours, blas;
      for (int r = 0; r < reps; ++r) {
        settle();
        double t0 = now();
        runOurs();
        ours.push_back(now() - t0);
        settle();
        t0 = now();
        runBlas();
        blas.push_back(now() - t0);
      }
      const Stats so = summarize(ours), sb = summarize(blas);
      const double gOurs = flops / so.median * 1e-9, gBlas = flops / sb.median * 1e-9;
      char shape[64];
      std::snprintf(shape, sizeof shape, "%lldx%lldx%lld", (long long)s.m, (long long)s.k, (long long)s.n);
      std::printf("| %s | %s | %.4f (%.4f–%.4f) | %.4f (%.4f–%.4f) | %.1f | %.1f | %.2f |\n", shape, forms[f],
                  so.median, so.min, so.max, sb.median, sb.min, sb.max, gOurs, gBlas, gOurs / gBlas);
      std::fflush(stdout);
      char row[768];
      std::snprintf(row, sizeof row,
                    "  {\"shape\": \"%s\", \"form\": \"%s\", \"threads\": %d, \"kernel\": \"%s\", "
                    "\"median_s\": {\"dgclust\": %.6g, \"openblas\": %.6g}, "
                    "\"min_s\": {\"dgclust\": %.6g, \"openblas\": %.6g}, "
                    "\"max_s\": {\"dgclust\": %.6g, \"openblas\": %.6g}, "
                    "\"gflops\": {\"dgclust\": %.2f, \"openblas\": %.2f}, \"ratio\": %.3f}",
                    shape, forms[f], threads, dgc::cpu::gemm_detail::activeKernelSet().name, so.median, sb.median,
                    so.min, sb.min, so.max, sb.max, gOurs, gBlas, gOurs / gBlas);
      json += (firstRow ? "" : ",\n") + std::string(row);
      firstRow = false;
    }
  }
  json += "\n]\n";
  if (!jsonPath.empty()) {
    FILE* f = std::fopen(jsonPath.c_str(), "w");
    if (!f) {
      std::fprintf(stderr, "cannot write %s\n", jsonPath.c_str());
      return 1;
    }
    std::fputs(json.c_str(), f);
    std::fclose(f);
    std::printf("\nwrote %s\n", jsonPath.c_str());
  }
  return 0;
}
