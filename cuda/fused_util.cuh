// Device helpers shared by the fused kernel families (attention, recon, cluster, kmeans, knn): scratch tensors,
// the SM count, deterministic warp / block reductions and a few exact arithmetic helpers.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>

#include "common.cuh"

namespace dgc {
namespace cuda {
namespace fused {

// ---- host side ---------------------------------------------------------------------------------------------------

// Multiprocessors of the current device (queried once; used to size split-K grids).
inline int smCount() {
  static const int count = [] {
    int dev = 0, c = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) return 1;
    if (cudaDeviceGetAttribute(&c, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) return 1;
    return c > 0 ? c : 1;
  }();
  return count;
}

// Device scratch (from the backend's caching allocator). The stream is the only one ops run on, so a scratch
// tensor released when the host function returns is only reused by work enqueued after the kernels using it.
inline Tensor scratchF32(int64_t count) { return Tensor::empty({count > 0 ? count : 1}, DType::F32, Device::CUDA); }
inline Tensor scratchI32(int64_t count) { return Tensor::empty({count > 0 ? count : 1}, DType::I32, Device::CUDA); }
// count doubles (two float32 slots each; device allocations are at least 256-byte aligned).
inline Tensor scratchF64(int64_t count) { return scratchF32(2 * (count > 0 ? count : 1)); }
inline double* f64(const Tensor& t) { return reinterpret_cast<double*>(t.raw()); }

inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Allows a kernel more than 48 KiB of dynamic shared memory (no-op below that).
template <typename Kernel>
inline void allowDynamicSmem(Kernel kernel, size_t bytes, const char* op) {
  if (bytes > 48 * 1024)
    DGC_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)),
                   op);
}

// ---- device side -------------------------------------------------------------------------------------------------

constexpr unsigned kFullMask = 0xffffffffu;

// Butterfly (xor) reductions: every step combines v_i with v_{i^s}; since a + b == b + a exactly, both lanes of a
// pair hold the same bits after each step, so all lanes end with the same, launch-independent value.
__device__ __forceinline__ double warpSum(double v) {
#pragma unroll
  for (int s = 16; s > 0; s >>= 1) v += __shfl_xor_sync(kFullMask, v, s);
  return v;
}
__device__ __forceinline__ float warpSumF(float v) {
#pragma unroll
  for (int s = 16; s > 0; s >>= 1) v += __shfl_xor_sync(kFullMask, v, s);
  return v;
}
__device__ __forceinline__ double warpMin(double v) {
#pragma unroll
  for (int s = 16; s > 0; s >>= 1) v = fmin(v, __shfl_xor_sync(kFullMask, v, s));
  return v;
}
__device__ __forceinline__ double warpMax(double v) {
#pragma unroll
  for (int s = 16; s > 0; s >>= 1) v = fmax(v, __shfl_xor_sync(kFullMask, v, s));
  return v;
}

// Sum over the block of one double per thread (blockDim.x a multiple of 32, ≤ 1024), in a fixed tree. The result
// is valid in thread 0. `shared` holds ≥ 32 doubles. Must be called by every thread of the block.
__device__ __forceinline__ double blockSum(double v, double* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warpSum(v);
  __syncthreads();  // `shared` may still be read by a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  double total = 0.0;
  if (threadIdx.x == 0)
    for (int w = 0; w < warps; ++w) total += shared[w];
  return total;
}

// Exactly rounded double products and sums that the compiler may not fuse into an FMA (the CPU code they mirror
// is built for baseline x86-64, which has no FMA).
__device__ __forceinline__ double dmul(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ double dadd(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ double dsub(double a, double b) { return __dsub_rn(a, b); }

// Sums `count` doubles in a fixed order with one block of `blockDim.x` threads: thread t adds t, t + T, … in turn,
// then the block tree. Result in thread 0.
__device__ __forceinline__ double blockSumArray(const double* x, int64_t count, double* shared) {
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) acc += x[i];
  return blockSum(acc, shared);
}

}  // namespace fused
}  // namespace cuda
}  // namespace dgc
