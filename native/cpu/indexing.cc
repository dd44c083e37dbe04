// CPU shape and indexing ops: column concat/slice, row gather/scatter.
#include <cstring>

#include "cpu_backend.h"

namespace dgc {
namespace cpu {

void CpuBackend::concatCols(const std::vector<Tensor>& xs, Tensor& out) {
  const int64_t rows = out.dim(0), cols = out.dim(1);
  float* po = out.f32();
  forRange(rows, cols, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float* o = po + i * cols;
      for (const Tensor& x : xs) {
        const int64_t w = x.dim(1);
        std::memcpy(o, x.f32() + i * w, static_cast<size_t>(w) * sizeof(float));
        o += w;
      }
    }
  });
}

void CpuBackend::sliceCols(const Tensor& x, int64_t start, Tensor& out) {
  const int64_t rows = x.dim(0), cols = x.dim(1), w = out.dim(1);
  const float* px = x.f32();
  float* po = out.f32();
  forRange(rows, w, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      std::memcpy(po + i * w, px + i * cols + start, static_cast<size_t>(w) * sizeof(float));
  });
}

void CpuBackend::addIntoCols(const Tensor& src, int64_t start, Tensor& out) {
  const int64_t rows = src.dim(0), w = src.dim(1), cols = out.dim(1);
  const float* ps = src.f32();
  float* po = out.f32();
  forRange(rows, w, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      for (int64_t j = 0; j < w; ++j) po[i * cols + start + j] += ps[i * w + j];
  });
}

void CpuBackend::gatherRows(const Tensor& x, const Tensor& idx, Tensor& out) {
  const int64_t n = idx.dim(0), cols = x.dim(1);
  const float* px = x.f32();
  const int32_t* pi = idx.i32();
  float* po = out.f32();
  forRange(n, cols, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r)
      std::memcpy(po + r * cols, px + int64_t(pi[r]) * cols, static_cast<size_t>(cols) * sizeof(float));
  });
}

// Repeated indices add up. To stay deterministic and race-free, threads split the columns, and each walks
// the source rows in order.
void CpuBackend::scatterAddRows(const Tensor& src, const Tensor& idx, Tensor& out) {
  const int64_t n = idx.dim(0), cols = src.dim(1);
  const float* ps = src.f32();
  const int32_t* pi = idx.i32();
  float* po = out.f32();
  forRange(cols, n, [&](int64_t jb, int64_t je) {
    for (int64_t r = 0; r < n; ++r) {
      const float* s = ps + r * cols;
      float* o = po + int64_t(pi[r]) * cols;
      for (int64_t j = jb; j < je; ++j) o[j] += s[j];
    }
  });
}

}  // namespace cpu
}  // namespace dgc
