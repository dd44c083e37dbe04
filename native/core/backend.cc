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

namespace {
Unary unaryOf(Activation act) { return act == Activation::Relu ? Unary::Relu : Unary::LeakyRelu; }
}  // namespace

// The unfused ops, in place on the output (each elementwise kernel reads an element before writing it).
void Backend::gemmBiasAct(bool transA, bool transB, const Tensor& a, const Tensor& b, const Tensor* bias,
                          Activation act, float param, Tensor& c) {
  gemm(transA, transB, 1.0f, a, b, 0.0f, c);
  if (bias) addRowVector(c, *bias, c);
  if (act != Activation::None) unary(unaryOf(act), c, param, c);
}

void Backend::spmmAct(const CsrMatrix& a, const Tensor& h, Activation act, float param, Tensor& out) {
  spmm(a, h, out);
  if (act != Activation::None) unary(unaryOf(act), out, param, out);
}

void Backend::activationGrad(Activation act, float param, const Tensor& y, const Tensor& dy, Tensor& dx,
                             Tensor* db) {
  if (act == Activation::None)
    copy(dx, dy);
  else
    unaryGrad(unaryOf(act), y, dy, param, dx);
  if (db) colSum(dx, *db);
}

Backend& backendFor(Device device) {
  Backend* b = backends[static_cast<int>(device)];
  DGC_CHECK(b != nullptr, Device, "the ", deviceName(device), " backend is not available in this build");
  return *b;
}

}  // namespace dgc
