// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a counter-based
// generator. Output block b of stream s under key `seed` depends only on (seed, s, b), so any thread (or any
// CUDA thread) computes any element without shared state, and every backend produces the same numbers.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define DGC_HD __host__ __device__ __forceinline__
#else
#define DGC_HD inline
#endif

namespace dgc {

struct Philox4 {
  uint32_t v[4];
};

DGC_HD uint32_t mulhilo32(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

// Counter = (block low, block high, stream low, stream high); key = seed.
DGC_HD Philox4 philox4x32(uint64_t block, uint64_t stream, uint64_t seed) {
  uint32_t c0 = static_cast<uint32_t>(block), c1 = static_cast<uint32_t>(block >> 32);
  uint32_t c2 = static_cast<uint32_t>(stream), c3 = static_cast<uint32_t>(stream >> 32);
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    uint32_t lo0 = mulhilo32(0xD2511F53u, c0, &hi0);
    uint32_t lo1 = mulhilo32(0xCD9E8D57u, c2, &hi1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Uniform in (0, 1]: 24 random bits, never 0 (so log() in Box–Muller is finite).
DGC_HD float uniform01(uint32_t bits) { return (static_cast<float>(bits >> 8) + 1.0f) * (1.0f / 16777216.0f); }

// Element i of a uniform stream: block i/4, word i%4.
DGC_HD float philoxUniform(uint64_t i, uint64_t stream, uint64_t seed) {
  Philox4 r = philox4x32(i >> 2, stream, seed);
  return uniform01(r.v[i & 3]);
}

// Maps a uniform01() draw u ∈ (0, 1] to [low, high). low + (high − low)(1 − u) alone can round up to `high`
// in float32 when |low| is large compared with the range, so the result is clamped below `high`.
// In device code the product and sum are written with __fmul_rn / __fadd_rn: nvcc would otherwise fuse them into
// one FMA, and the GPU must give the host's bits (the host build has no FMA contraction).
DGC_HD float uniformInRange(float u, float low, float high) {
#if defined(__CUDA_ARCH__)
  const float v = __fadd_rn(low, __fmul_rn(__fsub_rn(high, low), __fsub_rn(1.0f, u)));
#else
  const float v = low + (high - low) * (1.0f - u);
#endif
  return (v < high || !(high > low)) ? v : nextafterf(high, low);
}

// Element i of a standard normal stream: Box–Muller on the words of block i/2 (two normals per pair of words).
// (The CUDA backend does not call this in device code: CUDA's logf / cosf differ from the host libm's in the last
// bit, so cuda/random.cu reproduces the host's values with its own exactly-rounded path; see there.)
DGC_HD float philoxNormal(uint64_t i, uint64_t stream, uint64_t seed) {
  Philox4 r = philox4x32(i >> 1, stream, seed);
  uint32_t half = static_cast<uint32_t>(i & 1) * 2;
  float u1 = uniform01(r.v[half]), u2 = uniform01(r.v[half + 1]);
  float radius = sqrtf(-2.0f * logf(u1));
  return radius * cosf(6.28318530717958647692f * u2);
}

}  // namespace dgc
