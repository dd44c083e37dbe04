// Standalone test of native/cpu/fastlog.h (no Node): fastLog against std::log. Exits non-zero on failure.
//   g++ -O2 -std=c++17 -Inative test/native/fastlog_test.cc -o /tmp/fastlog_test && /tmp/fastlog_test
// Checks, in ulps of the exact result (std::log is correctly rounded to within ~0.5 ulp in glibc):
//   * 2,000,000 log-uniform x over the whole positive normal range, and 1,000,000 x in [0.5, 2] (where log x is
//     small and relative error matters most): at most 1 ulp;
//   * exact points: log 1 = 0, log 2^e = e·ln2 (e from −1022 to 1023), and the boundaries DBL_MIN, DBL_MAX;
//   * outside the fast domain (0, subnormals, ∞, NaN, negatives) the result equals std::log's.
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>

#include "cpu/fastlog.h"

using dgc::cpu::fastLog;

static int failures = 0;

static double ulpDistance(double a, double b) {
  if (a == b) return 0.0;
  const double ulp = std::nextafter(std::fabs(b), INFINITY) - std::fabs(b);
  return std::fabs(a - b) / (ulp > 0 ? ulp : DBL_MIN);
}

static void check(bool ok, const char* what, double x, double got, double want) {
  if (!ok && failures++ < 10) std::printf("FAIL %s: x = %.17g fastLog = %.17g std::log = %.17g\n", what, x, got, want);
}

int main() {
  std::mt19937_64 rng(12345);
  double worst = 0.0, worstX = 0.0;
  std::uniform_real_distribution<double> expo(-1022.0, 1023.99);
  for (int i = 0; i < 2000000; ++i) {
    const double x = std::exp2(expo(rng));
    if (!(x >= DBL_MIN && x <= DBL_MAX)) continue;
    const double u = ulpDistance(fastLog(x), std::log(x));
    if (u > worst) worst = u, worstX = x;
    check(u <= 1.0, "log-uniform", x, fastLog(x), std::log(x));
  }
  std::uniform_real_distribution<double> near1(0.5, 2.0);
  for (int i = 0; i < 1000000; ++i) {
    const double x = near1(rng);
    const double u = ulpDistance(fastLog(x), std::log(x));
    if (u > worst) worst = u, worstX = x;
    check(u <= 1.0, "[0.5, 2]", x, fastLog(x), std::log(x));
  }
  check(fastLog(1.0) == 0.0, "log 1", 1.0, fastLog(1.0), 0.0);
  for (int e = -1022; e <= 1023; ++e) {
    const double x = std::ldexp(1.0, e);
    check(ulpDistance(fastLog(x), std::log(x)) <= 1.0, "power of two", x, fastLog(x), std::log(x));
  }
  for (double x : {DBL_MIN, DBL_MAX, std::nextafter(1.0, 0.0), std::nextafter(1.0, 2.0), 1.4142135623730951,
                   1.4142135623730949}) {
    check(ulpDistance(fastLog(x), std::log(x)) <= 1.0, "boundary", x, fastLog(x), std::log(x));
  }
  for (double x : {0.0, -0.0, DBL_MIN / 4, 5e-324, double(INFINITY), -1.0}) {
    const double a = fastLog(x), b = std::log(x);
    check(a == b || (std::isnan(a) && std::isnan(b)), "outside the fast domain", x, a, b);
  }
  check(std::isnan(fastLog(NAN)), "NaN", NAN, fastLog(NAN), NAN);
  std::printf("fastLog: worst error %.2f ulp (at x = %.17g); %d failure(s)\n", worst, worstX, failures);
  return failures == 0 ? 0 : 1;
}
