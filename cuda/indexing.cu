// Shape and indexing ops for the CUDA backend (native/cpu/indexing.cc is the reference): column concat / slice as
// strided device copies, column add, row gather, and a deterministic row scatter-add.
#include <cstdint>
#include <vector>

#include "common.cuh"
#include "cuda_backend.h"

namespace dgc {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// out[i, start + j] += src[i, j] for j < w (out has `cols` columns).
template <typename I>
__global__ void addIntoColsKernel(const float* __restrict__ src, I n, I w, I cols, I start, float* __restrict__ out) {
  for (I e = I(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += I(gridDim.x) * blockDim.x) {
    const I i = e / w, j = e - i * w;
    float* o = out + i * cols + start + j;
    *o = __fadd_rn(*o, src[e]);
  }
}

// out[r, j] = x[idx[r], j].
template <typename I>
__global__ void gatherRowsKernel(const float* __restrict__ x, const int32_t* __restrict__ idx, I n, I cols,
                                 float* __restrict__ out) {
  for (I e = I(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += I(gridDim.x) * blockDim.x) {
    const I r = e / cols, j = e - r * cols;
    out[e] = x[int64_t(idx[r]) * cols + j];
  }
}

// For each target segment s (target row targets[s], source rows order[begin[s] .. begin[s+1]) in increasing order)
// and column j: out[t, j] = ((out[t, j] + src[r1, j]) + src[r2, j]) + ..., the CPU's order exactly.
__global__ void scatterSegmentsKernel(const float* __restrict__ src, const int32_t* __restrict__ order,
                                      const int32_t* __restrict__ begin, const int32_t* __restrict__ targets,
                                      int64_t segments, int64_t cols, float* __restrict__ out) {
  const int64_t n = segments * cols;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t s = e / cols, j = e - s * cols;
    float* o = out + int64_t(targets[s]) * cols + j;
    float acc = *o;
    for (int32_t k = begin[s]; k < begin[s + 1]; ++k) acc = __fadd_rn(acc, src[int64_t(order[k]) * cols + j]);
    *o = acc;
  }
}

}  // namespace

void CudaBackend::concatCols(const std::vector<Tensor>& xs, Tensor& out) {
  const int64_t rows = out.dim(0), cols = out.dim(1);
  int64_t offset = 0;
  for (const Tensor& x : xs) {
    const int64_t w = x.dim(1);
    if (w > 0 && rows > 0) {
      DGC_CUDA_CHECK(cudaMemcpy2DAsync(out.f32() + offset, size_t(cols) * sizeof(float), x.f32(),
                                       size_t(w) * sizeof(float), size_t(w) * sizeof(float), size_t(rows),
                                       cudaMemcpyDeviceToDevice, stream()),
                     "concatCols");
    }
    offset += w;
  }
}

void CudaBackend::sliceCols(const Tensor& x, int64_t start, Tensor& out) {
  const int64_t rows = x.dim(0), cols = x.dim(1), w = out.dim(1);
  DGC_CUDA_CHECK(cudaMemcpy2DAsync(out.f32(), size_t(w) * sizeof(float), x.f32() + start, size_t(cols) * sizeof(float),
                                   size_t(w) * sizeof(float), size_t(rows), cudaMemcpyDeviceToDevice, stream()),
                 "sliceCols");
}

void CudaBackend::addIntoCols(const Tensor& src, int64_t start, Tensor& out) {
  const int64_t n = src.numel(), w = src.dim(1), cols = out.dim(1);
  const unsigned blocks = blocksFor(n, kThreads);
  if (indexFitsUint32(out.numel(), kThreads)) {
    addIntoColsKernel<uint32_t><<<blocks, kThreads, 0, stream()>>>(src.f32(), uint32_t(n), uint32_t(w), uint32_t(cols),
                                                                   uint32_t(start), out.f32());
  } else {
    addIntoColsKernel<int64_t><<<blocks, kThreads, 0, stream()>>>(src.f32(), n, w, cols, start, out.f32());
  }
  DGC_CUDA_LAUNCH_CHECK("padCols");
}

void CudaBackend::gatherRows(const Tensor& x, const Tensor& idx, Tensor& out) {
  const int64_t n = out.numel(), cols = out.dim(1);
  const unsigned blocks = blocksFor(n, kThreads);
  if (indexFitsUint32(n, kThreads)) {
    gatherRowsKernel<uint32_t><<<blocks, kThreads, 0, stream()>>>(x.f32(), idx.i32(), uint32_t(n), uint32_t(cols),
                                                                  out.f32());
  } else {
    gatherRowsKernel<int64_t><<<blocks, kThreads, 0, stream()>>>(x.f32(), idx.i32(), n, cols, out.f32());
  }
  DGC_CUDA_LAUNCH_CHECK("gatherRows");
}

// Repeated indices add up, in increasing source order, as on the CPU. The grouping of sources by target is a
// counting sort of idx on the host (idx is small: a batch of row ids; ops.cc has read it back already to
// validate it), then one thread per (target, column) adds its sources in order: no atomics, bit-identical to the
// CPU, and the same every run. Costs one device round trip (the copy of idx).
void CudaBackend::scatterAddRows(const Tensor& src, const Tensor& idx, Tensor& out) {
  const int64_t n = idx.dim(0), cols = src.dim(1), rows = out.dim(0);
  if (n == 0 || cols == 0) return;
  DGC_CHECK(n <= INT32_MAX, Shape, "scatterAddRows: ", n, " source rows is too many for the CUDA kernel");
  std::vector<int32_t> host(static_cast<size_t>(n));
  DGC_CUDA_CHECK(cudaMemcpyAsync(host.data(), idx.raw(), size_t(n) * sizeof(int32_t), cudaMemcpyDeviceToHost,
                                 stream()),
                 "scatterAddRows");
  DGC_CUDA_CHECK(cudaStreamSynchronize(stream()), "scatterAddRows");

  // Counting sort by target, stable (sources stay in increasing order within a target).
  std::vector<int32_t> count(static_cast<size_t>(rows) + 1, 0);
  for (int32_t t : host) ++count[static_cast<size_t>(t) + 1];
  int64_t segments = 0;
  for (int64_t t = 0; t < rows; ++t) segments += count[static_cast<size_t>(t) + 1] > 0;
  for (int64_t t = 0; t < rows; ++t) count[static_cast<size_t>(t) + 1] += count[static_cast<size_t>(t)];
  // One buffer: order[n], begin[segments + 1], targets[segments].
  std::vector<int32_t> packed(static_cast<size_t>(n + 2 * segments + 1));
  int32_t* order = packed.data();
  int32_t* begin = order + n;
  int32_t* targets = begin + segments + 1;
  {
    std::vector<int32_t> next(count.begin(), count.end() - 1);
    for (int64_t r = 0; r < n; ++r) order[next[static_cast<size_t>(host[static_cast<size_t>(r)])]++] = int32_t(r);
    int64_t s = 0;
    for (int64_t t = 0; t < rows; ++t) {
      if (count[static_cast<size_t>(t) + 1] > count[static_cast<size_t>(t)]) {
        begin[s] = count[static_cast<size_t>(t)];
        targets[s] = int32_t(t);
        ++s;
      }
    }
    begin[segments] = int32_t(n);
  }
  Tensor dev = scratchI32(static_cast<int64_t>(packed.size()));
  DGC_CUDA_CHECK(cudaMemcpyAsync(dev.raw(), packed.data(), packed.size() * sizeof(int32_t), cudaMemcpyHostToDevice,
                                 stream()),
                 "scatterAddRows");
  const int32_t* d = dev.i32();
  scatterSegmentsKernel<<<blocksFor(segments * cols, kThreads), kThreads, 0, stream()>>>(
      src.f32(), d, d + n, d + n + segments + 1, segments, cols, out.f32());
  DGC_CUDA_LAUNCH_CHECK("scatterAddRows");
  // `packed` is pageable host memory that the copy above reads: wait for it before the vector goes away.
  DGC_CUDA_CHECK(cudaStreamSynchronize(stream()), "scatterAddRows");
}

}  // namespace cuda
}  // namespace dgc
