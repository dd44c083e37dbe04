#include "backend.h"

#include <vector>

namespace dgc {
namespace {
Backend* backends[2] = {nullptr, nullptr};
}

void registerBackend(Device device, Backend* backend) { backends[static_cast<int>(device)] = backend; }
bool hasBackend(Device device) { return backends[static_cast<int>(device)] != nullptr; }

int64_t Backend::findOutside(const Tensor& t, float lo, float hi, float* value) {
  std::vector<float> host(static_cast<size_t>(t.numel()));
  if (t.numel() > 0) copyToHost(host.data(), t);
  for (size_t i = 0; i < host.size(); ++i) {
    if (!(host[i] >= lo && host[i] <= hi)) {
      if (value) *value = host[i];
      return static_cast<int64_t>(i);
    }
  }
  return -1;
}

void Backend::klStudentTSelf(const std::vector<Tensor>& zs, const Tensor& mu, double nu, double scale, Tensor& q,
                             Tensor& p, Tensor& loss, const std::vector<Tensor*>& dzs, Tensor* dmu) {
  studentT(zs[0], mu, nu, q);
  targetDistribution(q, p);
  klStudentT(zs, mu, nu, p, scale, loss, dzs, dmu);
}

Backend& backendFor(Device device) {
  Backend* b = backends[static_cast<int>(device)];
  DGC_CHECK(b != nullptr, Device, "the ", deviceName(device), " backend is not available in this build");
  return *b;
}

}  // namespace dgc
