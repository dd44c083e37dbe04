// CPU backend: the clustering-head ops of the op table, on the kernels of cluster.cc.
#include "cluster.h"
#include "cpu_backend.h"

namespace dgc {
namespace cpu {
namespace {
float* ptrOrNull(Tensor* t) { return t ? t->f32() : nullptr; }
}  // namespace

void CpuBackend::studentT(const Tensor& z, const Tensor& mu, double nu, Tensor& q) {
  cpu::studentT(z.dim(0), mu.dim(0), z.dim(1), z.f32(), mu.f32(), nu, q.f32());
}

void CpuBackend::studentTBackward(const Tensor& z, const Tensor& mu, double nu, const Tensor& q, const Tensor& dq,
                                  Tensor* dz, Tensor* dmu) {
  cpu::studentTBackward(z.dim(0), mu.dim(0), z.dim(1), z.f32(), mu.f32(), nu, q.f32(), dq.f32(), ptrOrNull(dz),
                        ptrOrNull(dmu));
}

void CpuBackend::targetDistribution(const Tensor& q, Tensor& p) {
  cpu::targetDistribution(q.dim(0), q.dim(1), q.f32(), p.f32());
}

void CpuBackend::klStudentT(const std::vector<Tensor>& zs, const Tensor& mu, double nu, const Tensor& p, double scale,
                            Tensor& loss, const std::vector<Tensor*>& dzs, Tensor* dmu) {
  const int64_t n = zs[0].dim(0), k = mu.dim(0), d = mu.dim(1);
  double value;
  if (zs.size() == 3) {
    // cluster.h: the triplet kernel takes the scale of the sum of the three KLs and divides by 3 itself.
    value = cpu::klStudentTTriplet(n, k, d, zs[0].f32(), zs[1].f32(), zs[2].f32(), mu.f32(), nu, p.f32(), scale,
                                   nullptr, nullptr, nullptr, ptrOrNull(dzs[0]), ptrOrNull(dzs[1]), ptrOrNull(dzs[2]),
                                   ptrOrNull(dmu));
  } else {
    value = cpu::klStudentT(n, k, d, zs[0].f32(), mu.f32(), nu, p.f32(), scale, nullptr, ptrOrNull(dzs[0]),
                            ptrOrNull(dmu));
  }
  loss.f32()[0] = static_cast<float>(value);
}

void CpuBackend::klStudentTSelf(const std::vector<Tensor>& zs, const Tensor& mu, double nu, double scale, Tensor& q,
                                Tensor& p, Tensor& loss, const std::vector<Tensor*>& dzs, Tensor* dmu) {
  std::vector<const float*> z;
  std::vector<float*> dz;
  for (size_t t = 0; t < zs.size(); ++t) {
    z.push_back(zs[t].f32());
    dz.push_back(ptrOrNull(dzs[t]));
  }
  loss.f32()[0] = static_cast<float>(cpu::klStudentTSelf(zs[0].dim(0), mu.dim(0), mu.dim(1), int64_t(zs.size()), z.data(),
                                                         mu.f32(), nu, scale, q.f32(), p.f32(), dz.data(),
                                                         ptrOrNull(dmu)));
}

void CpuBackend::focalStudentT(const Tensor& z, const Tensor& mu, double nu, const Tensor& p, double gamma,
                               double scale, Tensor& loss, Tensor* dz, Tensor* dmu) {
  loss.f32()[0] = static_cast<float>(cpu::focalStudentT(z.dim(0), mu.dim(0), z.dim(1), z.f32(), mu.f32(), nu, p.f32(),
                                                        gamma, scale, nullptr, ptrOrNull(dz), ptrOrNull(dmu)));
}

void CpuBackend::pairAffinity(const Tensor& y, double nu, Tensor& c) {
  cpu::pairAffinity(y.dim(0), y.dim(1), y.f32(), nu, c.f32());
}

void CpuBackend::pairAffinityBackward(const Tensor& y, double nu, const Tensor& dc, Tensor& dy) {
  cpu::pairAffinityBackward(y.dim(0), y.dim(1), y.f32(), nu, dc.f32(), dy.f32());
}

void CpuBackend::cdcCorrelationLoss(const Tensor& ya, const Tensor& yb, double nu, double scale, Tensor& loss,
                                    Tensor* dya, Tensor* dyb) {
  loss.f32()[0] = static_cast<float>(cpu::cdcCorrelationLoss(ya.dim(0), ya.dim(1), ya.f32(), yb.dim(1), yb.f32(), nu,
                                                             scale, ptrOrNull(dya), ptrOrNull(dyb)));
}

}  // namespace cpu
}  // namespace dgc
