// CPU backend: the graph reconstruction losses of the op table, on the kernels of recon.cc.
#include "cpu_backend.h"
#include "recon.h"

namespace dgc {
namespace cpu {
namespace {
CsrView view(const CsrMatrix& a) { return CsrView{a.rows, a.cols, a.indptr.i32(), a.indices.i32(), a.values.f32()}; }
}  // namespace

void CpuBackend::gramSigmoidMseLoss(const Tensor& z1, const Tensor* z2, const CsrMatrix& a, float g, Tensor& loss,
                                    Tensor* dz1, Tensor* dz2) {
  const double value = cpu::gramSigmoidMseLoss(z1.dim(0), z1.f32(), z1.dim(1), z2 ? z2->f32() : nullptr,
                                               z2 ? z2->dim(1) : 0, view(a), g, dz1 ? dz1->f32() : nullptr,
                                               dz2 ? dz2->f32() : nullptr);
  loss.f32()[0] = static_cast<float>(value);
}

void CpuBackend::gramSigmoidBceLoss(const Tensor& z, const CsrMatrix& t, float g, Tensor& loss, Tensor* dz) {
  const double value =
      cpu::gramSigmoidBceLoss(z.dim(0), z.f32(), z.dim(1), view(t), g, dz ? dz->f32() : nullptr);
  loss.f32()[0] = static_cast<float>(value);
}

}  // namespace cpu
}  // namespace dgc
