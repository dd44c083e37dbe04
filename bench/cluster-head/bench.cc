// Times the CPU clustering-head kernels directly (no Node): studentT, targetDistribution, klStudentT without and
// with gradients, and the fused klStudentTSelf, at the three benchmark shapes (ACM/DFCN, USPS/SDCN, 100k).
// Median of 21 calls after 3 warm-up calls. Build and run from the repository root:
//   g++ -O3 -std=c++17 -pthread -Inative bench/cluster-head/bench.cc native/cpu/cluster.cc \
//       native/core/thread_pool.cc -o /tmp/cluster_head && /tmp/cluster_head 2      (2 = threads)
// For a before/after comparison, build the same file against an older native/cpu/cluster.cc with -DNO_SELF (the
// fused op did not exist before commit 767f151).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/cluster.h"

using namespace dgc;

template <class F>
double medianMs(F f) {
  std::vector<double> t;
  for (int i = 0; i < 3; i++) f();
  for (int i = 0; i < 21; i++) {
    const auto s = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count());
  }
  std::sort(t.begin(), t.end());
  return t[10];
}

int main(int argc, char** argv) {
  setNumThreads(argc > 1 ? std::atoi(argv[1]) : 2);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  const int64_t shapes[3][3] = {{3025, 3, 20}, {9298, 10, 10}, {100000, 10, 20}};
  std::printf("threads %d; median ms of 21 calls\n", numThreads());
  for (const auto& s : shapes) {
    const int64_t n = s[0], k = s[1], d = s[2];
    std::vector<float> Z(n * d), mu(k * d), Q(n * k), P(n * k), dZ(n * d), dMu(k * d);
    for (auto& v : Z) v = u(rng);
    for (auto& v : mu) v = u(rng);
    cpu::studentT(n, k, d, Z.data(), mu.data(), 1.0, Q.data());
    cpu::targetDistribution(n, k, Q.data(), P.data());
    const double a = medianMs([&] { cpu::studentT(n, k, d, Z.data(), mu.data(), 1.0, Q.data()); });
    const double b = medianMs([&] { cpu::targetDistribution(n, k, Q.data(), P.data()); });
    const double c = medianMs([&] { cpu::klStudentT(n, k, d, Z.data(), mu.data(), 1.0, P.data(), 1.0 / n, nullptr, nullptr, nullptr); });
    const double e = medianMs([&] { cpu::klStudentT(n, k, d, Z.data(), mu.data(), 1.0, P.data(), 1.0 / n, nullptr, dZ.data(), dMu.data()); });
    std::printf("N=%lld K=%lld d=%lld: studentT %.4f, targetDistribution %.4f, klStudentT %.4f (with grads %.4f); three-call forward %.4f",
                (long long)n, (long long)k, (long long)d, a, b, c, e, a + b + c);
#ifndef NO_SELF
    const float* zs[1] = {Z.data()};
    float* dzs[1] = {dZ.data()};
    const double f1 = medianMs([&] { cpu::klStudentTSelf(n, k, d, 1, zs, mu.data(), 1.0, 1.0 / n, Q.data(), P.data(), nullptr, nullptr); });
    const double f2 = medianMs([&] { cpu::klStudentTSelf(n, k, d, 1, zs, mu.data(), 1.0, 1.0 / n, Q.data(), P.data(), dzs, dMu.data()); });
    std::printf("; klStudentTSelf %.4f (with grads %.4f)", f1, f2);
#endif
    std::printf("\n");
  }
}
