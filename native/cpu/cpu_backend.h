// The multithreaded C++ CPU backend. Its methods are spread over one file per op family
// (elementwise.cc, reduce.cc, indexing.cc, loss.cc, optim.cc, random.cc, cpu_backend.cc for memory,
// GEMM and SpMM); the kernels themselves for GEMM and SpMM live in gemm.cc and sparse.cc.
#pragma once
#include <vector>

#include "../core/backend.h"
#include "../core/thread_pool.h"

namespace dgc {
namespace cpu {

// Runs fn(begin, end) over [0, n) in parallel when the work (n · costPerItem flops) pays for it.
template <typename Fn>
void forRange(int64_t n, int64_t costPerItem, Fn&& fn) {
  parallelFor(n, grainFor(n, costPerItem), fn);
}

// Grain for deterministic reductions: a constant, so the partial sums are the same for any thread count.
constexpr int64_t kReduceGrain = 16384;

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::CPU; }
  const char* name() const override { return "cpu"; }

  void copyFromHost(Tensor& dst, const void* src) override;
  void copyToHost(void* dst, const Tensor& src) override;
  void copy(Tensor& dst, const Tensor& src) override;
  void fill(Tensor& out, double value) override;

  void gemm(bool transA, bool transB, float alpha, const Tensor& a, const Tensor& b, float beta,
            Tensor& c) override;
  void transpose(const Tensor& x, Tensor& out) override;
  void spmm(const CsrMatrix& a, const Tensor& h, Tensor& out) override;

  void gemmBiasAct(bool transA, bool transB, const Tensor& a, const Tensor& b, const Tensor* bias, Activation act,
                   float param, Tensor& c) override;
  void spmmAct(const CsrMatrix& a, const Tensor& h, Activation act, float param, Tensor& out) override;
  void activationGrad(Activation act, float param, const Tensor& y, const Tensor& dy, Tensor& dx,
                      Tensor* db) override;

  void unary(Unary op, const Tensor& x, float param, Tensor& out) override;
  void unaryGrad(Unary op, const Tensor& xy, const Tensor& dy, float param, Tensor& dx) override;
  void binary(Binary op, const Tensor& a, const Tensor& b, Tensor& out) override;
  void affine(const Tensor& x, float alpha, float beta, Tensor& out) override;
  void axpby(float alpha, const Tensor& a, float beta, const Tensor& b, Tensor& out) override;
  void mulScalar(const Tensor& x, const Tensor& s, Tensor& out) override;
  void addRowVector(const Tensor& x, const Tensor& v, Tensor& out) override;
  void mulRowVector(const Tensor& x, const Tensor& v, Tensor& out) override;
  void mulColVector(const Tensor& x, const Tensor& v, Tensor& out) override;
  void expandRows(const Tensor& v, Tensor& out) override;
  void expandCols(const Tensor& v, Tensor& out) override;
  void expandScalar(const Tensor& s, Tensor& out) override;

  void rowSum(const Tensor& x, Tensor& out) override;
  void colSum(const Tensor& x, Tensor& out) override;
  void sumAll(const Tensor& x, Tensor& out) override;
  void argmaxRows(const Tensor& x, Tensor& out) override;
  void softmaxRows(const Tensor& x, bool log, Tensor& out) override;
  void softmaxRowsGrad(const Tensor& y, const Tensor& dy, bool log, Tensor& dx) override;

  void concatCols(const std::vector<Tensor>& xs, Tensor& out) override;
  void sliceCols(const Tensor& x, int64_t start, Tensor& out) override;
  void addIntoCols(const Tensor& src, int64_t start, Tensor& out) override;
  void gatherRows(const Tensor& x, const Tensor& idx, Tensor& out) override;
  void scatterAddRows(const Tensor& src, const Tensor& idx, Tensor& out) override;

  void mse(const Tensor& a, const Tensor& b, Tensor& out) override;
  void mseGrad(const Tensor& a, const Tensor& b, const Tensor& g, Tensor& da) override;
  void bceWithLogits(const Tensor& logits, const Tensor& target, Tensor& out) override;
  void bceWithLogitsGrad(const Tensor& logits, const Tensor& target, const Tensor& g, Tensor& dl) override;

  void adamStep(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamParams& p) override;
  void sgdStep(Tensor& param, const Tensor& grad, Tensor* velocity, float lr, float momentum,
               float weightDecay) override;

  void attentionForward(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, float scale, Tensor& out,
                        Tensor& lse) override;
  void attentionBackward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                         const Tensor& dout, int64_t heads, float scale, Tensor& dq, Tensor& dk, Tensor& dv) override;
  void selfCorrelationForward(const Tensor& z, Tensor& out, Tensor& lse) override;
  void selfCorrelationBackward(const Tensor& z, const Tensor& out, const Tensor& lse, const Tensor& dout,
                               Tensor& dz) override;

  void gramSigmoidMseLoss(const Tensor& z1, const Tensor* z2, const CsrMatrix& a, float g, Tensor& loss, Tensor* dz1,
                          Tensor* dz2) override;
  void gramSigmoidBceLoss(const Tensor& z, const CsrMatrix& t, float g, Tensor& loss, Tensor* dz) override;

  void kmeans(const Tensor& x, const KMeansParams& p, Tensor& centers, Tensor& labels, double& inertia,
              int& iterations) override;
  void knnGraph(const Tensor& x, int64_t k, int metric, bool sdcnOrder, Tensor& neighbors) override;

  void studentT(const Tensor& z, const Tensor& mu, double nu, Tensor& q) override;
  void studentTBackward(const Tensor& z, const Tensor& mu, double nu, const Tensor& q, const Tensor& dq, Tensor* dz,
                        Tensor* dmu) override;
  void targetDistribution(const Tensor& q, Tensor& p) override;
  void klStudentT(const std::vector<Tensor>& zs, const Tensor& mu, double nu, const Tensor& p, double scale,
                  Tensor& loss, const std::vector<Tensor*>& dzs, Tensor* dmu) override;
  void klStudentTSelf(const std::vector<Tensor>& zs, const Tensor& mu, double nu, double scale, Tensor& q, Tensor& p,
                      Tensor& loss, const std::vector<Tensor*>& dzs, Tensor* dmu) override;
  void focalStudentT(const Tensor& z, const Tensor& mu, double nu, const Tensor& p, double gamma, double scale,
                     Tensor& loss, Tensor* dz, Tensor* dmu) override;
  void pairAffinity(const Tensor& y, double nu, Tensor& c) override;
  void pairAffinityBackward(const Tensor& y, double nu, const Tensor& dc, Tensor& dy) override;
  void cdcCorrelationLoss(const Tensor& ya, const Tensor& yb, double nu, double scale, Tensor& loss, Tensor* dya,
                          Tensor* dyb) override;
  void rowKlClipped(const Tensor& a, const Tensor& b, double scale, Tensor& loss, Tensor* da, Tensor* db) override;
  void cdcPairLoss(const Tensor& ya, const Tensor& yb, double nu, double scale, bool global, bool sharpen, Tensor& loss,
                   Tensor* dya, Tensor* dyb) override;

  void contractivePenalty(const std::vector<Tensor>& weights, const std::vector<Tensor>& hidden, int64_t m,
                          double scale, int form, Tensor& loss, const std::vector<Tensor*>& dweights) override;

  void attentionFusionForward(const std::vector<Tensor>& xs, const Tensor& w, const Tensor& b, float slope, bool concat,
                              Tensor& out, Tensor& u, Tensor& t) override;
  void attentionFusionBackward(const std::vector<Tensor>& xs, const Tensor& w, const Tensor& u, const Tensor& t,
                               float slope, bool concat, const Tensor& dout, const std::vector<Tensor*>& dxs, Tensor& dw,
                               Tensor& db) override;

  void randomUniform(Tensor& out, float low, float high, uint64_t seed, uint64_t stream) override;
  void randomNormal(Tensor& out, float mean, float std, uint64_t seed, uint64_t stream) override;
};

// Sums fn(i) for i in [0, n) in double, deterministically (fixed chunks, combined in order).
template <typename Fn>
double deterministicSum(int64_t n, Fn&& term) {
  const int64_t chunks = numChunks(n, kReduceGrain);
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  parallelFor(n, kReduceGrain, [&](int64_t b, int64_t e) {
    double s = 0.0;
    for (int64_t i = b; i < e; ++i) s += term(i);
    partial[static_cast<size_t>(b / kReduceGrain)] = s;
  });
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace cpu
}  // namespace dgc
