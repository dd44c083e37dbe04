// Deterministic reductions shared by the CUDA kernel families (reduce.cu, loss.cu): sums in double over a fixed
// tree whose shape depends on the element count alone (never on the device or on timing), so a sum repeats bit
// for bit. No atomics.
#pragma once
#include <cstdint>

#include "common.cuh"

namespace dgc {
namespace cuda {
namespace detail {

constexpr int kSumThreads = 256;
constexpr int64_t kSumChunk = 16384;  // elements per block in the first pass

// Sum over a warp with a fixed shuffle tree; lane 0 gets the total, then every lane does.
__device__ __forceinline__ double warpSum(double v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  return __shfl_sync(0xffffffffu, v, 0);
}

// Sum over a block of T threads (T a multiple of 32, at most 1024); every thread gets the total.
// shm: at least T/32 doubles of shared memory. Ends with a barrier, so shm can be reused right away.
template <int T>
__device__ __forceinline__ double blockSum(double v, double* shm) {
  v = warpSum(v);
  if constexpr (T == 32) {
    return v;
  } else {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) shm[warp] = v;
    __syncthreads();
    double t = lane < T / 32 ? shm[lane] : 0.0;
    t = warpSum(t);  // every warp computes the same total in the same order
    __syncthreads();
    return t;
  }
}

// Pass 1: block b sums term(i) over its chunk [b·kSumChunk, ...): thread t takes i = start + t + j·kSumThreads in
// order, then the block tree. One block: the result is final (out = total / divisor). Else partial[b].
template <typename Term>
__global__ void sumPass1(int64_t n, Term term, double* __restrict__ partial, float* __restrict__ out, double divisor) {
  __shared__ double shm[kSumThreads / 32];
  const int64_t start = int64_t(blockIdx.x) * kSumChunk;
  const int64_t end = start + kSumChunk < n ? start + kSumChunk : n;
  double s = 0.0;
  for (int64_t i = start + threadIdx.x; i < end; i += kSumThreads) s += term(i);
  s = blockSum<kSumThreads>(s, shm);
  if (threadIdx.x == 0) {
    if (gridDim.x == 1) out[0] = static_cast<float>(s / divisor);
    else partial[blockIdx.x] = s;
  }
}

// Pass 2 (one block): the partials in the same fixed pattern. (A template only so that every translation unit
// that launches it has its own definition: kernels are not shared across files without relocatable device code.)
template <int kUnused = 0>
__global__ void sumPass2(const double* __restrict__ partial, int64_t count, float* __restrict__ out, double divisor) {
  __shared__ double shm[kSumThreads / 32];
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += kSumThreads) s += partial[i];
  s = blockSum<kSumThreads>(s, shm);
  if (threadIdx.x == 0) out[0] = static_cast<float>(s / divisor);
}

}  // namespace detail

// out[0] = (float)((Σ_{i<n} term(i)) / divisor), term(i) a double, summed as described above. Enqueued on stream().
// Term: a copyable functor with `__device__ double operator()(int64_t i) const`.
template <typename Term>
void deterministicSum(int64_t n, Term term, float* out, double divisor, const char* op) {
  const int64_t blocks = n > 0 ? (n + detail::kSumChunk - 1) / detail::kSumChunk : 1;
  Tensor partial;
  if (blocks > 1) partial = Tensor::empty({blocks, 2}, DType::F32, Device::CUDA);  // 8 bytes (a double) per block
  double* p = blocks > 1 ? static_cast<double*>(partial.raw()) : nullptr;
  detail::sumPass1<Term><<<static_cast<unsigned>(blocks), detail::kSumThreads, 0, stream()>>>(n, term, p, out, divisor);
  DGC_CUDA_LAUNCH_CHECK(op);
  if (blocks > 1) {
    detail::sumPass2<><<<1, detail::kSumThreads, 0, stream()>>>(p, blocks, out, divisor);
    DGC_CUDA_LAUNCH_CHECK(op);
  }
}

}  // namespace cuda
}  // namespace dgc
