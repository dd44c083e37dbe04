// CSR SpMM for the CUDA backend: out = A·H, A sparse (CSR, int32 indices) rows×cols, H dense cols×d.
//
// Every output element out[r, j] is owned by one thread, which adds val[e]·H[col[e], j] over the stored nonzeros
// e of row r in order with fused multiply-adds, starting from 0: the CPU's AVX2 / AVX-512 kernels do exactly this
// (native/cpu/sparse.cc), so results match them bit for bit, and runs repeat bit for bit (no atomics, no split
// rows). Two layouts, by width:
//   * narrow H (d <= 32, e.g. the 10-wide cluster layer): a group of G lanes (G = d rounded up to a power of 2)
//     per row, one lane per column, several rows per warp. Four nonzeros are fetched before the four dependent
//     multiply-adds so their loads overlap.
//   * wide H (d > 32, e.g. 256–2000 hidden units): TPR threads per row (32, 64 or 128, by width), each walking
//     columns TPR apart, as float4 (four columns per thread) when d is a multiple of 4 so a warp reads 512
//     contiguous bytes of each H row it touches. The row's (col, val) pairs are the same for all its threads
//     (broadcast loads, served from L1 on the second and later column passes).
// Rows are handed out in order to consecutive groups; a grid-stride loop covers any number of rows.
// Hubs (rows with very many nonzeros) are not split, to keep the order fixed: one such row costs one group's time.
#include <algorithm>

#include "common.cuh"
#include "cuda_backend.h"

namespace dgc {
namespace cuda {
namespace {

template <int G>
__global__ void spmmNarrow(int64_t rows, const int32_t* __restrict__ indptr, const int32_t* __restrict__ indices,
                           const float* __restrict__ values, const float* __restrict__ h, int d,
                           float* __restrict__ out) {
  const int lane = threadIdx.x % G;
  const int64_t groups = int64_t(gridDim.x) * blockDim.x / G;
  for (int64_t r = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / G; r < rows; r += groups) {
    if (lane >= d) continue;
    const int begin = indptr[r], end = indptr[r + 1];
    const float* hc = h + lane;
    float acc = 0.0f;
    int e = begin;
    for (; e + 4 <= end; e += 4) {
      const int c0 = indices[e], c1 = indices[e + 1], c2 = indices[e + 2], c3 = indices[e + 3];
      const float v0 = values[e], v1 = values[e + 1], v2 = values[e + 2], v3 = values[e + 3];
      const float h0 = hc[int64_t(c0) * d], h1 = hc[int64_t(c1) * d], h2 = hc[int64_t(c2) * d],
                  h3 = hc[int64_t(c3) * d];
      acc = fmaf(v0, h0, acc);
      acc = fmaf(v1, h1, acc);
      acc = fmaf(v2, h2, acc);
      acc = fmaf(v3, h3, acc);
    }
    for (; e < end; ++e) acc = fmaf(values[e], hc[int64_t(indices[e]) * d], acc);
    out[r * d + lane] = acc;
  }
}

__device__ __forceinline__ void fma4(float v, const float4& x, float4& acc) {
  acc.x = fmaf(v, x.x, acc.x);
  acc.y = fmaf(v, x.y, acc.y);
  acc.z = fmaf(v, x.z, acc.z);
  acc.w = fmaf(v, x.w, acc.w);
}

// d % 4 == 0 and H, out 16-byte aligned: columns in quads.
__global__ void spmmWideVec(int64_t rows, const int32_t* __restrict__ indptr, const int32_t* __restrict__ indices,
                            const float* __restrict__ values, const float* __restrict__ h, int d, int tpr,
                            float* __restrict__ out) {
  const int t = threadIdx.x % tpr;
  const int rowsPerBlock = blockDim.x / tpr;
  const int d4 = d / 4;
  const float4* h4 = reinterpret_cast<const float4*>(h);
  float4* out4 = reinterpret_cast<float4*>(out);
  for (int64_t r = int64_t(blockIdx.x) * rowsPerBlock + threadIdx.x / tpr; r < rows;
       r += int64_t(gridDim.x) * rowsPerBlock) {
    const int begin = indptr[r], end = indptr[r + 1];
    for (int c = t; c < d4; c += tpr) {
      float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
      int e = begin;
      for (; e + 2 <= end; e += 2) {
        const int c0 = indices[e], c1 = indices[e + 1];
        const float v0 = values[e], v1 = values[e + 1];
        const float4 x0 = h4[int64_t(c0) * d4 + c], x1 = h4[int64_t(c1) * d4 + c];
        fma4(v0, x0, acc);
        fma4(v1, x1, acc);
      }
      if (e < end) fma4(values[e], h4[int64_t(indices[e]) * d4 + c], acc);
      out4[r * d4 + c] = acc;
    }
  }
}

// Any d > 32: columns one at a time.
__global__ void spmmWideScalar(int64_t rows, const int32_t* __restrict__ indptr, const int32_t* __restrict__ indices,
                               const float* __restrict__ values, const float* __restrict__ h, int d, int tpr,
                               float* __restrict__ out) {
  const int t = threadIdx.x % tpr;
  const int rowsPerBlock = blockDim.x / tpr;
  for (int64_t r = int64_t(blockIdx.x) * rowsPerBlock + threadIdx.x / tpr; r < rows;
       r += int64_t(gridDim.x) * rowsPerBlock) {
    const int begin = indptr[r], end = indptr[r + 1];
    for (int c = t; c < d; c += tpr) {
      float acc = 0.0f;
      int e = begin;
      for (; e + 2 <= end; e += 2) {
        const int c0 = indices[e], c1 = indices[e + 1];
        const float v0 = values[e], v1 = values[e + 1];
        const float x0 = h[int64_t(c0) * d + c], x1 = h[int64_t(c1) * d + c];
        acc = fmaf(v0, x0, acc);
        acc = fmaf(v1, x1, acc);
      }
      if (e < end) acc = fmaf(values[e], h[int64_t(indices[e]) * d + c], acc);
      out[r * d + c] = acc;
    }
  }
}

template <int G>
void launchNarrow(const CsrMatrix& a, const Tensor& h, Tensor& out, int d) {
  constexpr int kThreads = 256;
  constexpr int64_t kRowsPerBlock = kThreads / G;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((a.rows + kRowsPerBlock - 1) / kRowsPerBlock, 1 << 20));
  spmmNarrow<G><<<blocks, kThreads, 0, stream()>>>(a.rows, a.indptr.i32(), a.indices.i32(), a.values.f32(), h.f32(), d,
                                                   out.f32());
}

}  // namespace

void CudaBackend::spmm(const CsrMatrix& a, const Tensor& h, Tensor& out) {
  const int64_t d = h.dim(1);
  DGC_CHECK(d <= (int64_t(1) << 30), Shape, "spmm: 'h' has ", d, " columns, more than the CUDA kernel takes");
  const int di = static_cast<int>(d);
  if (a.rows == 0 || d == 0) return;
  if (a.nnz == 0) {
    DGC_CUDA_CHECK(cudaMemsetAsync(out.raw(), 0, out.nbytes(), stream()), "spmm");
    return;
  }
  if (d <= 32) {
    if (d <= 1) launchNarrow<1>(a, h, out, di);
    else if (d <= 2) launchNarrow<2>(a, h, out, di);
    else if (d <= 4) launchNarrow<4>(a, h, out, di);
    else if (d <= 8) launchNarrow<8>(a, h, out, di);
    else if (d <= 16) launchNarrow<16>(a, h, out, di);
    else launchNarrow<32>(a, h, out, di);
  } else {
    constexpr int kThreads = 256;
    const bool vec = d % 4 == 0 && (reinterpret_cast<uintptr_t>(h.raw()) & 15) == 0 &&
                     (reinterpret_cast<uintptr_t>(out.raw()) & 15) == 0;
    const int64_t work = vec ? d / 4 : d;  // items per row, one per thread per pass
    const int tpr = work <= 32 ? 32 : work <= 64 ? 64 : 128;
    const int64_t rowsPerBlock = kThreads / tpr;
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((a.rows + rowsPerBlock - 1) / rowsPerBlock, 1 << 20));
    if (vec) {
      spmmWideVec<<<blocks, kThreads, 0, stream()>>>(a.rows, a.indptr.i32(), a.indices.i32(), a.values.f32(), h.f32(),
                                                     di, tpr, out.f32());
    } else {
      spmmWideScalar<<<blocks, kThreads, 0, stream()>>>(a.rows, a.indptr.i32(), a.indices.i32(), a.values.f32(),
                                                        h.f32(), di, tpr, out.f32());
    }
  }
  DGC_CUDA_LAUNCH_CHECK("spmm");
}

}  // namespace cuda
}  // namespace dgc
