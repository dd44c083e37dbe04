// CPU backend: CDC's clipped row KL (cluster.h) and pairwise KL in every variant (cdc.h).
#include "cdc.h"
#include "cluster.h"
#include "cpu_backend.h"

namespace dgc {
namespace cpu {
namespace {
float* ptrOrNull(Tensor* t) { return t ? t->f32() : nullptr; }
}  // namespace

void CpuBackend::rowKlClipped(const Tensor& a, const Tensor& b, double scale, Tensor& loss, Tensor* da, Tensor* db) {
  loss.f32()[0] = static_cast<float>(cpu::rowKlClipped(a.dim(0), a.dim(1), a.f32(), b.f32(), scale, ptrOrNull(da),
                                                       ptrOrNull(db)));
}

void CpuBackend::cdcPairLoss(const Tensor& ya, const Tensor& yb, double nu, double scale, bool global, bool sharpen,
                             Tensor& loss, Tensor* dya, Tensor* dyb) {
  loss.f32()[0] = static_cast<float>(cpu::cdcPairLoss(ya.dim(0), ya.dim(1), ya.f32(), yb.dim(1), yb.f32(), nu, scale,
                                                      global, sharpen, ptrOrNull(dya), ptrOrNull(dyb)));
}

}  // namespace cpu
}  // namespace dgc
