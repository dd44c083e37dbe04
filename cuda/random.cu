// Random numbers for the CUDA backend: the counter-based Philox4x32-10 of native/core/philox.h, so element i of
// stream s under seed k is the CPU backend's value bit for bit (native/cpu/random.cc), whatever the launch shape.
//
// Uniform: integer Philox, then uniform01 (exact) and uniformInRange (written without FMA contraction in device
// code) — identical arithmetic on both sides.
//
// Normal (Box–Muller: sqrt(−2·logf(u1)) · cosf(2π·u2)): the host's logf and cosf (glibc's) are not correctly
// rounded — over the 2^24 values u1 and u2 can take here, about 0.7% of logf and 1.3% of cosf results are one ulp
// from the correctly rounded value — and CUDA's own logf / cosf differ from glibc's elsewhere. So the device
// computes log and cos in double and rounds to float, which gives the correctly rounded float for every one of
// these inputs (checked exhaustively: each exact value lies at least 9 double ulps from a float rounding boundary,
// more than CUDA's double log / cos error), and then applies a correction table built once, on the host, from the
// host's own logf / cosf: one bit per possible input saying "the host returns the float on the other side of the
// exact value" (a libm with error below one ulp can only be off that way). 2 × 2 MiB of device memory, built in
// parallel on first use (~0.3 s of CPU on one core). sqrtf is correctly rounded on both sides, and the remaining
// products and sums are written without contraction.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

#include "../native/core/philox.h"
#include "../native/core/thread_pool.h"
#include "common.cuh"
#include "cuda_backend.h"

namespace dgc {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr float kTwoPi = 6.28318530717958647692f;  // the float constant philoxNormal multiplies by
constexpr uint32_t kInputs = 1u << 24;              // uniform01 takes the top 24 bits of a Philox word
constexpr uint32_t kWords = kInputs / 32;

// The float on the far side of the exact value d from its correctly rounded float.
inline __host__ __device__ float otherNeighbour(double d) {
  const float f = static_cast<float>(d);
  return static_cast<double>(f) < d ? nextafterf(f, INFINITY) : nextafterf(f, -INFINITY);
}

struct NormalTables {
  uint32_t* logFix = nullptr;  // device: bit k set → the host's logf(u(k)) is otherNeighbour(log(u(k)))
  uint32_t* cosFix = nullptr;  // device: bit k set → the host's cosf(2π·u(k)) is otherNeighbour(cos(2π·u(k)))
  int64_t unrepresentable = 0;  // inputs where the host's result is neither (never seen with glibc)
};

std::once_flag tablesOnce;
NormalTables tables;

const NormalTables& normalTables() {
  std::call_once(tablesOnce, [] {
    (void)stream();  // selects the device (and creates the context) on this thread before cudaMalloc
    std::vector<uint32_t> logBits(kWords, 0), cosBits(kWords, 0);
    std::vector<int64_t> bad((kWords + 1023) / 1024, 0);
    // Each chunk of words is written by one task: the result does not depend on the thread count.
    parallelFor(kWords, 1024, [&](int64_t wb, int64_t we) {
      int64_t badHere = 0;
      for (int64_t w = wb; w < we; ++w) {
        uint32_t lw = 0, cw = 0;
        for (uint32_t bit = 0; bit < 32; ++bit) {
          const uint32_t k = static_cast<uint32_t>(w) * 32 + bit;
          const float u = uniform01(k << 8);  // the same u the generator makes from a word with top bits k
          const float hostLog = logf(u);      // the host libm, as philoxNormal calls it
          const double exactLog = std::log(static_cast<double>(u));
          if (hostLog != static_cast<float>(exactLog)) {
            lw |= 1u << bit;
            badHere += hostLog != otherNeighbour(exactLog);
          }
          const float arg = kTwoPi * u;
          const float hostCos = cosf(arg);
          const double exactCos = std::cos(static_cast<double>(arg));
          if (hostCos != static_cast<float>(exactCos)) {
            cw |= 1u << bit;
            badHere += hostCos != otherNeighbour(exactCos);
          }
        }
        logBits[static_cast<size_t>(w)] = lw;
        cosBits[static_cast<size_t>(w)] = cw;
      }
      bad[static_cast<size_t>(wb / 1024)] = badHere;
    });
    NormalTables t;
    for (int64_t b : bad) t.unrepresentable += b;
    const size_t bytes = size_t(kWords) * sizeof(uint32_t);
    // Kept for the life of the process, outside the tensor allocator (so it does not count as a live tensor).
    DGC_CUDA_CHECK(cudaMalloc(&t.logFix, bytes), "randomNormal");
    DGC_CUDA_CHECK(cudaMalloc(&t.cosFix, bytes), "randomNormal");
    DGC_CUDA_CHECK(cudaMemcpy(t.logFix, logBits.data(), bytes, cudaMemcpyHostToDevice), "randomNormal");
    DGC_CUDA_CHECK(cudaMemcpy(t.cosFix, cosBits.data(), bytes, cudaMemcpyHostToDevice), "randomNormal");
    tables = t;
  });
  return tables;
}

__device__ __forceinline__ bool bitSet(const uint32_t* table, uint32_t k) { return (table[k >> 5] >> (k & 31)) & 1u; }

// The host's logf(u) for u = uniform01(word), word's top 24 bits k.
__device__ __forceinline__ float hostLogf(float u, uint32_t k, const uint32_t* fix) {
  const double d = log(static_cast<double>(u));
  return bitSet(fix, k) ? otherNeighbour(d) : __double2float_rn(d);
}

// The host's cosf(2π·u), u from word top bits k.
__device__ __forceinline__ float hostCosf(float arg, uint32_t k, const uint32_t* fix) {
  const double d = cos(static_cast<double>(arg));
  return bitSet(fix, k) ? otherNeighbour(d) : __double2float_rn(d);
}

// Thread b makes elements 4b .. 4b+3 from Philox block b (one word each), as philoxUniform.
__global__ void uniformKernel(float* __restrict__ out, int64_t n, float low, float high, uint64_t seed,
                              uint64_t streamId) {
  const int64_t blocks = (n + 3) / 4;
  for (int64_t b = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; b < blocks; b += int64_t(gridDim.x) * blockDim.x) {
    const Philox4 r = philox4x32(static_cast<uint64_t>(b), streamId, seed);
    float v[4];
#pragma unroll
    for (int w = 0; w < 4; ++w) v[w] = uniformInRange(uniform01(r.v[w]), low, high);
    const int64_t i = 4 * b;
    if (i + 4 <= n) {
      *reinterpret_cast<float4*>(out + i) = make_float4(v[0], v[1], v[2], v[3]);
    } else {
      for (int w = 0; w < 4 && i + w < n; ++w) out[i + w] = v[w];
    }
  }
}

// Thread b makes elements 2b (words 0, 1) and 2b+1 (words 2, 3) from Philox block b, as philoxNormal:
// mean + std · (sqrt(−2 logf(u1)) · cosf(2π u2)).
__global__ void normalKernel(float* __restrict__ out, int64_t n, float mean, float std, uint64_t seed,
                             uint64_t streamId, const uint32_t* __restrict__ logFix,
                             const uint32_t* __restrict__ cosFix) {
  const int64_t blocks = (n + 1) / 2;
  for (int64_t b = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; b < blocks; b += int64_t(gridDim.x) * blockDim.x) {
    const Philox4 r = philox4x32(static_cast<uint64_t>(b), streamId, seed);
    float v[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const uint32_t w1 = r.v[2 * h], w2 = r.v[2 * h + 1];
      const float u1 = uniform01(w1), u2 = uniform01(w2);
      const float radius = __fsqrt_rn(__fmul_rn(-2.0f, hostLogf(u1, w1 >> 8, logFix)));
      const float z = __fmul_rn(radius, hostCosf(__fmul_rn(kTwoPi, u2), w2 >> 8, cosFix));
      v[h] = __fadd_rn(mean, __fmul_rn(std, z));
    }
    const int64_t i = 2 * b;
    if (i + 2 <= n) {
      *reinterpret_cast<float2*>(out + i) = make_float2(v[0], v[1]);
    } else {
      out[i] = v[0];
    }
  }
}

}  // namespace

void CudaBackend::randomUniform(Tensor& out, float low, float high, uint64_t seed, uint64_t streamId) {
  const int64_t n = out.numel();
  uniformKernel<<<blocksFor((n + 3) / 4, kThreads), kThreads, 0, stream()>>>(out.f32(), n, low, high, seed, streamId);
  DGC_CUDA_LAUNCH_CHECK("randomUniform");
}

void CudaBackend::randomNormal(Tensor& out, float mean, float std, uint64_t seed, uint64_t streamId) {
  const NormalTables& t = normalTables();
  const int64_t n = out.numel();
  normalKernel<<<blocksFor((n + 1) / 2, kThreads), kThreads, 0, stream()>>>(out.f32(), n, mean, std, seed, streamId,
                                                                             t.logFix, t.cosFix);
  DGC_CUDA_LAUNCH_CHECK("randomNormal");
}

}  // namespace cuda
}  // namespace dgc
