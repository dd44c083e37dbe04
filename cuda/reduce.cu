// Reductions and row softmax for the CUDA backend (native/cpu/reduce.cc is the reference).
//
// Determinism: sums accumulate in double over fixed trees (common.cuh's reductions); which kernel layout a shape gets depends
// on the shape alone, so a run repeats bit for bit on any GPU. The CPU sums sequentially in double; a different
// order of double additions almost never changes the float the sum is rounded to, so rowSum / colSum / sumAll
// usually match the CPU exactly (they are compared with a tolerance). Maximum and argmax do not depend on order.
//
// Row-wise ops (rowSum, argmax, softmax and its gradient) give each row to one warp, or to one 256-thread block
// when rows are long (>= 1024 columns) and few (< 4096): then a warp per row would leave the GPU idle.
#include <cfloat>
#include <cmath>
#include <cstdint>

#include "common.cuh"
#include "cuda_backend.h"

namespace dgc {
namespace cuda {
namespace {

// Threads per row for row-wise ops (32: a warp; 256: a block), from the shape alone.
int threadsPerRow(int64_t rows, int64_t cols) { return cols >= 1024 && rows < 4096 ? 256 : 32; }

// Rows handled by a group of T threads (T = 32: several rows per 256-thread block; T = 256: one per block),
// grid-stride. All threads of a group see the same rows, so group-wide shuffles and barriers are safe.
template <int T>
struct RowGroup {
  static constexpr int kRowsPerBlock = 256 / T;
  __device__ int lane() const { return threadIdx.x % T; }
  __device__ int64_t first() const { return int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / T; }
  __device__ int64_t step() const { return int64_t(gridDim.x) * kRowsPerBlock; }
};

unsigned rowBlocks(int64_t rows, int t) {
  const int64_t perBlock = 256 / t;
  const int64_t b = (rows + perBlock - 1) / perBlock;
  return static_cast<unsigned>(b < 1 ? 1 : b > (1 << 20) ? (1 << 20) : b);
}

// Sum over a group of T threads (a warp, or the whole 256-thread block); every thread gets it. shm: T/32 doubles.
template <int T>
__device__ __forceinline__ double groupSum(double v, double* shm) {
  if constexpr (T == 32) return warpSum(v);
  else return blockSum(v, shm);
}

// Maximum ignoring NaN, as std::max(m, x) = (m < x ? x : m) ignores it when m is not NaN. (Each thread's running
// maximum starts at −inf and so is never NaN: in the reductions below the operation is a plain maximum.)
struct MaxIgnoringNaN {
  __device__ float operator()(float m, float x) const { return m < x ? x : m; }
};
__device__ __forceinline__ float maxIgnoringNaN(float m, float x) { return MaxIgnoringNaN()(m, x); }

template <int T>
__device__ __forceinline__ float groupMax(float v, float* shm) {
  if constexpr (T == 32) return warpReduce(v, MaxIgnoringNaN());
  else return blockReduce(v, shm, MaxIgnoringNaN(), -INFINITY);
}

// ---- row sums ---------------------------------------------------------------------------------------------

template <int T>
__global__ void rowSumKernel(const float* __restrict__ x, int64_t rows, int64_t cols, float* __restrict__ out) {
  __shared__ double shm[8];
  RowGroup<T> g;
  for (int64_t r = g.first(); r < rows; r += g.step()) {
    const float* row = x + r * cols;
    double s = 0.0;
    for (int64_t j = g.lane(); j < cols; j += T) s += row[j];
    s = groupSum<T>(s, shm);
    if (g.lane() == 0) out[r] = static_cast<float>(s);
  }
}

// ---- column sums: row chunks of kColChunkRows (or more, for very tall x), partials in double --------------
constexpr int kColChunkRows = 256;

// Block (32 columns × 8 row lanes): column bx·32 + tx, rows of chunk by, every 8th from ty. The 8 partial sums
// are added in ty order. One chunk: the float result; else partial[chunk][col].
__global__ void colSumPass1(const float* __restrict__ x, int64_t rows, int64_t cols, int64_t chunkRows,
                            double* __restrict__ partial, float* __restrict__ out) {
  __shared__ double acc[8][33];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t col = int64_t(blockIdx.x) * 32 + tx;
  const int64_t r0 = int64_t(blockIdx.y) * chunkRows;
  const int64_t r1 = r0 + chunkRows < rows ? r0 + chunkRows : rows;
  double s = 0.0;
  if (col < cols)
    for (int64_t r = r0 + ty; r < r1; r += 8) s += x[r * cols + col];
  acc[ty][tx] = s;
  __syncthreads();
  if (ty == 0 && col < cols) {
    double t = 0.0;
#pragma unroll
    for (int k = 0; k < 8; ++k) t += acc[k][tx];
    if (gridDim.y == 1) out[col] = static_cast<float>(t);
    else partial[int64_t(blockIdx.y) * cols + col] = t;
  }
}

__global__ void colSumPass2(const double* __restrict__ partial, int64_t chunks, int64_t cols, float* __restrict__ out) {
  for (int64_t col = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; col < cols; col += int64_t(gridDim.x) * blockDim.x) {
    double s = 0.0;
    for (int64_t c = 0; c < chunks; ++c) s += partial[c * cols + col];
    out[col] = static_cast<float>(s);
  }
}

// ---- argmax: first index of the maximum; the first NaN if there is one -----------------------------------
// "Better" is a total order on (value, index) pairs, so any combination tree gives the CPU's sequential answer.
__device__ __forceinline__ bool better(float a, int ia, float b, int ib) {
  const bool na = isnan(a), nb = isnan(b);
  if (na || nb) return na && (!nb || ia < ib);
  return a > b || (a == b && ia < ib);
}

template <int T>
__global__ void argmaxKernel(const float* __restrict__ x, int64_t rows, int64_t cols, int32_t* __restrict__ out) {
  __shared__ float sv[8];
  __shared__ int si[8];
  RowGroup<T> g;
  for (int64_t r = g.first(); r < rows; r += g.step()) {
    const float* row = x + r * cols;
    float best = -INFINITY;
    int bi = INT32_MAX;
    for (int64_t j = g.lane(); j < cols; j += T) {
      const float v = row[j];
      if (better(v, int(j), best, bi)) {
        best = v;
        bi = int(j);
      }
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
      const float ov = __shfl_down_sync(0xffffffffu, best, off);
      const int oi = __shfl_down_sync(0xffffffffu, bi, off);
      if (better(ov, oi, best, bi)) {
        best = ov;
        bi = oi;
      }
    }
    if constexpr (T > 32) {
      const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
      if (lane == 0) {
        sv[warp] = best;
        si[warp] = bi;
      }
      __syncthreads();
      if (threadIdx.x == 0) {
        for (int w = 1; w < T / 32; ++w)
          if (better(sv[w], si[w], best, bi)) {
            best = sv[w];
            bi = si[w];
          }
      }
      __syncthreads();
    }
    // A row of -inf only: no element is "better" than the start value, and index 0 is the answer.
    if (g.lane() == 0) out[r] = bi == INT32_MAX ? 0 : bi;
  }
}

// ---- softmax ----------------------------------------------------------------------------------------------
// softmax(x)_j = exp(x_j − m) / Σ_k exp(x_k − m), m = max_k x_k (NaN ignored; a row of −inf uses m = 0, as the
// CPU); log_softmax(x)_j = (x_j − m) − log Σ_k exp(x_k − m). The sum is in double, as on the CPU.
template <int T>
__global__ void softmaxKernel(const float* __restrict__ x, int64_t rows, int64_t cols, bool log,
                              float* __restrict__ out) {
  __shared__ double shm[8];
  __shared__ float fshm[8];
  RowGroup<T> g;
  for (int64_t r = g.first(); r < rows; r += g.step()) {
    const float* row = x + r * cols;
    float* o = out + r * cols;
    float m = -INFINITY;
    for (int64_t j = g.lane(); j < cols; j += T) m = maxIgnoringNaN(m, row[j]);
    m = groupMax<T>(m, fshm);
    if (isinf(m) && m < 0) m = 0.0f;
    double s = 0.0;
    if (log) {
      for (int64_t j = g.lane(); j < cols; j += T) s += expf(__fsub_rn(row[j], m));
      s = groupSum<T>(s, shm);
      const float logSum = static_cast<float>(::log(s));
      for (int64_t j = g.lane(); j < cols; j += T) o[j] = __fsub_rn(__fsub_rn(row[j], m), logSum);
    } else {
      for (int64_t j = g.lane(); j < cols; j += T) {
        const float e = expf(__fsub_rn(row[j], m));
        o[j] = e;
        s += e;
      }
      s = groupSum<T>(s, shm);
      const float inv = static_cast<float>(1.0 / s);
      // Each thread rescales the entries it wrote itself: no barrier needed.
      for (int64_t j = g.lane(); j < cols; j += T) o[j] = __fmul_rn(o[j], inv);
    }
  }
}

// softmax:     dx_j = y_j (dy_j − Σ_k dy_k y_k)
// log_softmax: dx_j = dy_j − exp(y_j) Σ_k dy_k
template <int T>
__global__ void softmaxGradKernel(const float* __restrict__ y, const float* __restrict__ dy, int64_t rows,
                                  int64_t cols, bool log, float* __restrict__ dx) {
  __shared__ double shm[8];
  RowGroup<T> g;
  for (int64_t r = g.first(); r < rows; r += g.step()) {
    const float* yr = y + r * cols;
    const float* gr = dy + r * cols;
    float* o = dx + r * cols;
    double s = 0.0;
    if (log) {
      for (int64_t j = g.lane(); j < cols; j += T) s += gr[j];
    } else {
      for (int64_t j = g.lane(); j < cols; j += T) s += double(gr[j]) * yr[j];  // exact product in double
    }
    const float sf = static_cast<float>(groupSum<T>(s, shm));
    if (log) {
      for (int64_t j = g.lane(); j < cols; j += T) o[j] = __fsub_rn(gr[j], __fmul_rn(expf(yr[j]), sf));
    } else {
      for (int64_t j = g.lane(); j < cols; j += T) o[j] = __fmul_rn(yr[j], __fsub_rn(gr[j], sf));
    }
  }
}

// ---- findOutside: the smallest index i with !(lo <= t[i] <= hi) ------------------------------------------
__global__ void findOutsideKernel(const float* __restrict__ t, int64_t n, float lo, float hi,
                                  unsigned long long* __restrict__ first) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float v = t[i];
    // The minimum does not depend on the order of the atomics: the answer is deterministic.
    if (!(v >= lo && v <= hi)) atomicMin(first, static_cast<unsigned long long>(i));
  }
}

struct SumTerm {
  const float* x;
  __device__ double operator()(int64_t i) const { return x[i]; }
};

}  // namespace

void CudaBackend::rowSum(const Tensor& x, Tensor& out) {
  const int64_t rows = x.dim(0), cols = x.dim(1);
  if (threadsPerRow(rows, cols) == 256) rowSumKernel<256><<<rowBlocks(rows, 256), 256, 0, stream()>>>(x.f32(), rows, cols, out.f32());
  else rowSumKernel<32><<<rowBlocks(rows, 32), 256, 0, stream()>>>(x.f32(), rows, cols, out.f32());
  DGC_CUDA_LAUNCH_CHECK("rowSum");
}

void CudaBackend::colSum(const Tensor& x, Tensor& out) {
  const int64_t rows = x.dim(0), cols = x.dim(1);
  if (rows == 0) {  // Σ over no rows
    DGC_CUDA_CHECK(cudaMemsetAsync(out.raw(), 0, out.nbytes(), stream()), "colSum");
    return;
  }
  // Chunks of 256 rows, more for very tall x so the grid's y extent stays within 65535 (shape-determined).
  int64_t chunkRows = kColChunkRows;
  while ((rows + chunkRows - 1) / chunkRows > 65535) chunkRows *= 2;
  const int64_t chunks = (rows + chunkRows - 1) / chunkRows;
  const int64_t colBlocks = (cols + 31) / 32;
  DGC_CHECK(colBlocks <= INT32_MAX, Shape, "colSum: ", cols, " columns is too many for the CUDA kernel's grid");
  Tensor partial;
  if (chunks > 1) partial = scratchF64(chunks * cols);
  double* p = chunks > 1 ? f64(partial) : nullptr;
  colSumPass1<<<dim3(static_cast<unsigned>(colBlocks), static_cast<unsigned>(chunks)), dim3(32, 8), 0, stream()>>>(
      x.f32(), rows, cols, chunkRows, p, out.f32());
  DGC_CUDA_LAUNCH_CHECK("colSum");
  if (chunks > 1) {
    colSumPass2<<<blocksFor(cols, 256), 256, 0, stream()>>>(p, chunks, cols, out.f32());
    DGC_CUDA_LAUNCH_CHECK("colSum");
  }
}

void CudaBackend::sumAll(const Tensor& x, Tensor& out) {
  deterministicSum(x.numel(), SumTerm{x.f32()}, out.f32(), 1.0, "sumAll");
}

void CudaBackend::argmaxRows(const Tensor& x, Tensor& out) {
  const int64_t rows = x.dim(0), cols = x.dim(1);
  DGC_CHECK(cols <= INT32_MAX, Shape, "argmaxRows: 'x' has too many columns for int32 indices");
  if (threadsPerRow(rows, cols) == 256) argmaxKernel<256><<<rowBlocks(rows, 256), 256, 0, stream()>>>(x.f32(), rows, cols, out.i32());
  else argmaxKernel<32><<<rowBlocks(rows, 32), 256, 0, stream()>>>(x.f32(), rows, cols, out.i32());
  DGC_CUDA_LAUNCH_CHECK("argmaxRows");
}

void CudaBackend::softmaxRows(const Tensor& x, bool log, Tensor& out) {
  const int64_t rows = x.dim(0), cols = x.dim(1);
  if (threadsPerRow(rows, cols) == 256) softmaxKernel<256><<<rowBlocks(rows, 256), 256, 0, stream()>>>(x.f32(), rows, cols, log, out.f32());
  else softmaxKernel<32><<<rowBlocks(rows, 32), 256, 0, stream()>>>(x.f32(), rows, cols, log, out.f32());
  DGC_CUDA_LAUNCH_CHECK(log ? "logSoftmaxRows" : "softmaxRows");
}

void CudaBackend::softmaxRowsGrad(const Tensor& y, const Tensor& dy, bool log, Tensor& dx) {
  const int64_t rows = y.dim(0), cols = y.dim(1);
  if (threadsPerRow(rows, cols) == 256) {
    softmaxGradKernel<256><<<rowBlocks(rows, 256), 256, 0, stream()>>>(y.f32(), dy.f32(), rows, cols, log, dx.f32());
  } else {
    softmaxGradKernel<32><<<rowBlocks(rows, 32), 256, 0, stream()>>>(y.f32(), dy.f32(), rows, cols, log, dx.f32());
  }
  DGC_CUDA_LAUNCH_CHECK(log ? "logSoftmaxRowsGrad" : "softmaxRowsGrad");
}

int64_t CudaBackend::findOutside(const Tensor& t, float lo, float hi, float* value) {
  const int64_t n = t.numel();
  if (n == 0) return -1;
  Tensor slot = scratchF64(1);  // one unsigned long long (8 bytes)
  auto* first = static_cast<unsigned long long*>(slot.raw());
  DGC_CUDA_CHECK(cudaMemsetAsync(first, 0xFF, sizeof(unsigned long long), stream()), "findOutside");
  findOutsideKernel<<<blocksFor(n, 256), 256, 0, stream()>>>(t.f32(), n, lo, hi, first);
  DGC_CUDA_LAUNCH_CHECK("findOutside");
  unsigned long long host = 0;
  DGC_CUDA_CHECK(cudaMemcpyAsync(&host, first, sizeof(host), cudaMemcpyDeviceToHost, stream()), "findOutside");
  DGC_CUDA_CHECK(cudaStreamSynchronize(stream()), "findOutside");
  if (host == ~0ULL) return -1;
  const int64_t i = static_cast<int64_t>(host);
  if (value) {
    DGC_CUDA_CHECK(cudaMemcpyAsync(value, t.f32() + i, sizeof(float), cudaMemcpyDeviceToHost, stream()), "findOutside");
    DGC_CUDA_CHECK(cudaStreamSynchronize(stream()), "findOutside");
  }
  return i;
}

}  // namespace cuda
}  // namespace dgc
