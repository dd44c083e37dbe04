// CPU backend: memory, dense and sparse products, registration.
#include "cpu_backend.h"

#include <cstring>

#include "../core/row_sparse.h"
#include "activation.h"
#include "gemm.h"
#include "sparse.h"

namespace dgc {
namespace cpu {

void CpuBackend::copyFromHost(Tensor& dst, const void* src) { std::memcpy(dst.raw(), src, dst.nbytes()); }
void CpuBackend::copyToHost(void* dst, const Tensor& src) { std::memcpy(dst, src.raw(), src.nbytes()); }
void CpuBackend::copy(Tensor& dst, const Tensor& src) { std::memcpy(dst.raw(), src.raw(), src.nbytes()); }

void CpuBackend::fill(Tensor& out, double value) {
  const int64_t n = out.numel();
  if (out.dtype() == DType::I32) {
    int32_t* p = out.i32();
    const int32_t v = static_cast<int32_t>(value);
    forRange(n, 1, [&](int64_t b, int64_t e) { std::fill(p + b, p + e, v); });
  } else {
    float* p = out.f32();
    const float v = static_cast<float>(value);
    forRange(n, 1, [&](int64_t b, int64_t e) { std::fill(p + b, p + e, v); });
  }
}

namespace {
int activationCode(Activation act) {
  return act == Activation::Relu ? kActRelu : act == Activation::LeakyRelu ? kActLeakyRelu : kActNone;
}

// The nonzero index of t's buffer (ops::attachRowSparse) when it describes t as shaped now (a reshape shares the
// buffer), else null.
const RowSparseIndex* sparseIndexOf(const Tensor& t) {
  const RowSparseIndex* s = t.buffer() ? t.buffer()->rowSparse().get() : nullptr;
  return s && t.rank() == 2 && s->rows == t.dim(0) && s->cols == t.dim(1) ? s : nullptr;
}
CsrView rowsOf(const RowSparseIndex& s) { return {s.rows, s.cols, s.rowStart.data(), s.colIdx.data(), s.val.data()}; }
CsrView colsOf(const RowSparseIndex& s) { return {s.cols, s.rows, s.colStart.data(), s.rowIdx.data(), s.valT.data()}; }

// sgemm, from the nonzeros of an operand that has an index (gemm.h sgemmSparse: the same values, fewer
// multiply-adds) where the form and shape allow it; the dense product otherwise.
void gemmAny(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const Tensor& a,
             const Tensor& b, float beta, Tensor& c, const GemmEpilogue* e) {
  if (const RowSparseIndex* s = sparseIndexOf(a)) {
    if (sgemmSparse(transA, transB, m, n, k, alpha, rowsOf(*s), colsOf(*s), true, b.f32(), b.dim(1), beta, c.f32(),
                    n, e))
      return;
  }
  if (const RowSparseIndex* s = sparseIndexOf(b)) {
    if (sgemmSparse(transA, transB, m, n, k, alpha, rowsOf(*s), colsOf(*s), false, a.f32(), a.dim(1), beta,
                    c.f32(), n, e))
      return;
  }
  sgemm(transA, transB, m, n, k, alpha, a.f32(), a.dim(1), b.f32(), b.dim(1), beta, c.f32(), n, e);
}
}  // namespace

void CpuBackend::gemm(bool transA, bool transB, float alpha, const Tensor& a, const Tensor& b, float beta,
                      Tensor& c) {
  const int64_t m = c.dim(0), n = c.dim(1);
  const int64_t k = transA ? a.dim(0) : a.dim(1);
  gemmAny(transA, transB, m, n, k, alpha, a, b, beta, c, nullptr);
}

// The bias and the activation run in the GEMM's epilogue (gemm.h GemmEpilogue): each finished block of c is
// updated while it is in cache, instead of two more passes over c and two more n×d tensors.
void CpuBackend::gemmBiasAct(bool transA, bool transB, const Tensor& a, const Tensor& b, const Tensor* bias,
                             Activation act, float param, Tensor& c) {
  const int64_t m = c.dim(0), n = c.dim(1);
  const int64_t k = transA ? a.dim(0) : a.dim(1);
  GemmEpilogue e;
  e.bias = bias ? bias->f32() : nullptr;
  e.act = activationCode(act);
  e.slope = param;
  gemmAny(transA, transB, m, n, k, 1.0f, a, b, 0.0f, c, &e);
}

void CpuBackend::spmmAct(const CsrMatrix& a, const Tensor& h, Activation act, float param, Tensor& out) {
  cpu::spmmActivate(a.rows, a.cols, a.indptr.i32(), a.indices.i32(), a.values.f32(), h.f32(), h.dim(1), out.f32(),
                    activationCode(act), param);
}

void CpuBackend::transpose(const Tensor& x, Tensor& out) {
  // Blocked so both the reads and the writes stay within a few cache lines per tile.
  const int64_t rows = x.dim(0), cols = x.dim(1);
  const float* src = x.f32();
  float* dst = out.f32();
  constexpr int64_t kTile = 32;
  const int64_t rowTiles = (rows + kTile - 1) / kTile;
  forRange(rowTiles, kTile * cols, [&](int64_t tb, int64_t te) {
    for (int64_t t = tb; t < te; ++t) {
      const int64_t i0 = t * kTile, i1 = std::min(rows, i0 + kTile);
      for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
        const int64_t j1 = std::min(cols, j0 + kTile);
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = j0; j < j1; ++j) dst[j * rows + i] = src[i * cols + j];
      }
    }
  });
}

void CpuBackend::spmm(const CsrMatrix& a, const Tensor& h, Tensor& out) {
  cpu::spmm(a.rows, a.cols, a.indptr.i32(), a.indices.i32(), a.values.f32(), h.f32(), h.dim(1), out.f32());
}

namespace {
// Registers the CPU backend when the library loads.
struct Registrar {
  Registrar() {
    static CpuBackend backend;
    registerBackend(Device::CPU, &backend);
  }
} registrar;
}  // namespace

}  // namespace cpu
}  // namespace dgc
