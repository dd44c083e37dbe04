// A branch-free natural logarithm in double precision for the clustering losses' inner loops.
//
// Why: KL(P‖Q) takes one log per entry of an n×k matrix. glibc's log costs ~20 cycles and is an opaque call, so
// the loops around it cannot be vectorized; at n = 100,000, k = 10 the logs alone took longer than the rest of
// the Student-t forward. fastLog is inline, uses only +, ×, ÷, bit operations and one select, so a loop over a
// row of k values vectorizes (SSE2 is enough), and it differs from std::log by at most one ulp
// (test/native/fastlog_test.cc checks it against std::log over the whole positive normal range).
//
// Method: x = m·2^e with m ∈ [√½, √2), then log m = 2·atanh(s) = 2s·(1 + s²/3 + s⁴/5 + …), s = (m−1)/(m+1),
// |s| ≤ 0.1716, s² ≤ 0.0295: the series through s²⁰/21 leaves a relative truncation error < 1e-17.
// log x = e·ln2 + log m, with ln2 split into a high part exact in 32 bits so that e·ln2_hi is exact.
// The exponent is read with integer operations and turned into a double with the 2⁵² "magic number" trick
// (no int64→double conversion, which SSE2/AVX2 lack as vector instructions).
//
// Domain: positive normal finite x. Anything else (0, subnormals, ∞, NaN, negatives) goes to std::log, so the
// result is always what std::log would give up to rounding; the branch is never taken in the kernels that
// use it (their arguments are ratios bounded away from 0 and ∞).
#pragma once
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>

// Run-time dispatch for the vectorizable loops that use fastLog and the Student-t distances: GCC compiles an
// AVX-512, an AVX2 and a baseline (SSE2) copy and picks one at load time from the CPU's features. The copies are
// compiled without FMA contraction (the AVX-512 one would otherwise fuse a·b + c where the others cannot), so all
// three give the same bits and a forced-AVX2 run repeats an AVX2 CPU's (test/isa.test.ts).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define DGC_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default"), optimize("fp-contract=off")))
#elif defined(__GNUC__) && !defined(__clang__)
#define DGC_SIMD_CLONES __attribute__((optimize("fp-contract=off")))  // no clones here, the same arithmetic
#else
#define DGC_SIMD_CLONES
#endif
#if defined(__GNUC__)
#define DGC_ALWAYS_INLINE __attribute__((always_inline))
#else
#define DGC_ALWAYS_INLINE
#endif

namespace dgc {
namespace cpu {

inline double fastLogNormal(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  // m ∈ [1, 2) with x's mantissa; biased exponent as a double via 2⁵² + integer.
  const uint64_t mantBits = (bits & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull;
  const uint64_t expBits = (bits >> 52) | 0x4330000000000000ull;
  double m, e;
  std::memcpy(&m, &mantBits, sizeof m);
  std::memcpy(&e, &expBits, sizeof e);
  e -= 4503599627370496.0 + 1023.0;  // 2⁵² + bias
  // Move m into [√½, √2) so that |t| is small on both sides of 1.
  const bool high = m > 1.4142135623730951;
  m = high ? 0.5 * m : m;
  e = high ? e + 1.0 : e;
  // fdlibm's arrangement: with f = m − 1 (exact), s = f/(2 + f) and R = 2s²/3 + 2s⁴/5 + … + 2s²⁰/21,
  // log m = f − (f²/2 − s·(f²/2 + R)); the big terms f and f²/2 are exact or nearly so, which keeps the error
  // under one ulp where a plain 2·atanh(t) evaluation reaches two.
  const double f = m - 1.0;
  const double s = f / (2.0 + f);
  const double z = s * s;
  double r = 2.0 / 21.0;
  r = r * z + 2.0 / 19.0;
  r = r * z + 2.0 / 17.0;
  r = r * z + 2.0 / 15.0;
  r = r * z + 2.0 / 13.0;
  r = r * z + 2.0 / 11.0;
  r = r * z + 2.0 / 9.0;
  r = r * z + 2.0 / 7.0;
  r = r * z + 2.0 / 5.0;
  r = r * z + 2.0 / 3.0;
  r *= z;
  const double hfsq = 0.5 * f * f;
  // ln2 = kLn2Hi + kLn2Lo, kLn2Hi with 32 significant bits so that e·kLn2Hi is exact.
  constexpr double kLn2Hi = 0.693147180369123816490;
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  return e * kLn2Hi - ((hfsq - (s * (hfsq + r) + e * kLn2Lo)) - f);
}

inline double fastLog(double x) {
  if (!(x >= DBL_MIN && x <= DBL_MAX)) return std::log(x);
  return fastLogNormal(x);
}

}  // namespace cpu
}  // namespace dgc
