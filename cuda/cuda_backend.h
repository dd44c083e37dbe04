// The CUDA backend: the Backend implementation for Device::CUDA. Its methods are spread over one file per op family,
// as the CPU backend's are (native/cpu/cpu_backend.h):
//
//   backend.cu       memory (copies, synchronize), the allocator, the stream, the start-up probe, registration
//   gemm.cu          gemm, transpose (and the raw-pointer SGEMM of kernels.h)
//   sparse.cu        spmm
//   elementwise.cu   fill, unary, unaryGrad, binary, affine, axpby, mulScalar, the row / column broadcasts, expands
//   reduce.cu        rowSum, colSum, sumAll, argmaxRows, softmaxRows(Grad), findOutside
//   indexing.cu      concatCols, sliceCols, addIntoCols, gatherRows, scatterAddRows
//   loss.cu          mse(Grad), bceWithLogits(Grad)
//   optim.cu         adamStep, sgdStep
//   random.cu        randomUniform, randomNormal
//   attention.cu     attentionForward / Backward, selfCorrelationForward / Backward
//   recon.cu         gramSigmoidMseLoss, gramSigmoidBceLoss
//   cluster.cu       studentT … cdcCorrelationLoss (the clustering head)
//   kmeans.cu        kmeans
//   knn.cu           knnGraph
//   contractive.cu   contractivePenalty (DCCF)
//   fusion.cu        attentionFusionForward / Backward (AGCN)
//   cdc.cu           rowKlClipped, cdcPairLoss (CDC)
//
// Semantics: native/core/backend.h. Tensors are validated and allocated by ops.cc and live in device memory; work is
// enqueued on dgc::cuda::stream(); helpers, scratch and the determinism rules are cuda/common.cuh's.
// Numerics vs the CPU: elementwise ops, gathers and scatters, mseGrad, the optimizer steps and random numbers are
// bit-identical to native/cpu (no FMA contraction, the same operation order); tanh / sigmoid / exp / log forwards
// differ by CUDA's libm (1–2 ulp); sums are double sums in another fixed order; GEMM and the fused kernels agree to
// float rounding (each family file says how).
//
// Synchronisation: nothing synchronizes the stream except reading values back: copyToHost / copyFromHost, findOutside,
// scatterAddRows (it groups the indices on the host), kmeans (its convergence state every Lloyd step) and knnGraph
// (a finiteness flag; with sdcnOrder it runs the CPU routine on a host copy).
//
// Limits specific to the CUDA backend (each a dgc::Error naming the op and the sizes):
//   * attention: at most 65,535 heads (grid z).
//   * gramSigmoid*Loss: n ≤ 2^31 − 1 rows and nnz ≤ 2^31 − 1 (int32 CSR, as everywhere).
//   * kmeans: n ≤ 2^31 − 1 rows (int32 labels). knnGraph: the same bound as the CPU (DGC_ARG).
//   * knnGraph with sdcnOrder = true is computed by the CPU routine on a host copy (it is O(n²·d) scalar code meant
//     to reproduce published ~10k-node graphs, see native/cpu/knn.h), then copied back.
#pragma once
#include <cstdint>
#include <vector>

#include "../native/core/backend.h"

namespace dgc {
namespace cuda {

class CudaBackend final : public Backend {
 public:
  Device device() const override { return Device::CUDA; }
  const char* name() const override { return "cuda"; }

  // backend.cu
  void copyFromHost(Tensor& dst, const void* src) override;
  void copyToHost(void* dst, const Tensor& src) override;
  void copy(Tensor& dst, const Tensor& src) override;
  void synchronize() override;

  // gemm.cu, sparse.cu
  void gemm(bool transA, bool transB, float alpha, const Tensor& a, const Tensor& b, float beta, Tensor& c) override;
  void transpose(const Tensor& x, Tensor& out) override;
  void spmm(const CsrMatrix& a, const Tensor& h, Tensor& out) override;

  // elementwise.cu
  void fill(Tensor& out, double value) override;
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

  // reduce.cu
  void rowSum(const Tensor& x, Tensor& out) override;
  void colSum(const Tensor& x, Tensor& out) override;
  void sumAll(const Tensor& x, Tensor& out) override;
  void argmaxRows(const Tensor& x, Tensor& out) override;
  void softmaxRows(const Tensor& x, bool log, Tensor& out) override;
  void softmaxRowsGrad(const Tensor& y, const Tensor& dy, bool log, Tensor& dx) override;
  int64_t findOutside(const Tensor& t, float lo, float hi, float* value) override;

  // indexing.cu
  void concatCols(const std::vector<Tensor>& xs, Tensor& out) override;
  void sliceCols(const Tensor& x, int64_t start, Tensor& out) override;
  void addIntoCols(const Tensor& src, int64_t start, Tensor& out) override;
  void gatherRows(const Tensor& x, const Tensor& idx, Tensor& out) override;
  void scatterAddRows(const Tensor& src, const Tensor& idx, Tensor& out) override;

  // loss.cu
  void mse(const Tensor& a, const Tensor& b, Tensor& out) override;
  void mseGrad(const Tensor& a, const Tensor& b, const Tensor& g, Tensor& da) override;
  void bceWithLogits(const Tensor& logits, const Tensor& target, Tensor& out) override;
  void bceWithLogitsGrad(const Tensor& logits, const Tensor& target, const Tensor& g, Tensor& dl) override;

  // optim.cu
  void adamStep(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamParams& p) override;
  void sgdStep(Tensor& param, const Tensor& grad, Tensor* velocity, float lr, float momentum,
               float weightDecay) override;

  // random.cu
  void randomUniform(Tensor& out, float low, float high, uint64_t seed, uint64_t streamId) override;
  void randomNormal(Tensor& out, float mean, float std, uint64_t seed, uint64_t streamId) override;

  // attention.cu
  void attentionForward(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, float scale, Tensor& out,
                        Tensor& lse) override;
  void attentionBackward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                         const Tensor& dout, int64_t heads, float scale, Tensor& dq, Tensor& dk, Tensor& dv) override;
  void selfCorrelationForward(const Tensor& z, Tensor& out, Tensor& lse) override;
  void selfCorrelationBackward(const Tensor& z, const Tensor& out, const Tensor& lse, const Tensor& dout,
                               Tensor& dz) override;

  // recon.cu
  void gramSigmoidMseLoss(const Tensor& z1, const Tensor* z2, const CsrMatrix& a, float g, Tensor& loss, Tensor* dz1,
                          Tensor* dz2) override;
  void gramSigmoidBceLoss(const Tensor& z, const CsrMatrix& t, float g, Tensor& loss, Tensor* dz) override;

  // kmeans.cu, knn.cu
  void kmeans(const Tensor& x, const KMeansParams& p, Tensor& centers, Tensor& labels, double& inertia,
              int& iterations) override;
  void knnGraph(const Tensor& x, int64_t k, int metric, bool sdcnOrder, Tensor& neighbors) override;

  // cluster.cu
  void studentT(const Tensor& z, const Tensor& mu, double nu, Tensor& q) override;
  void studentTBackward(const Tensor& z, const Tensor& mu, double nu, const Tensor& q, const Tensor& dq, Tensor* dz,
                        Tensor* dmu) override;
  void targetDistribution(const Tensor& q, Tensor& p) override;
  void klStudentT(const std::vector<Tensor>& zs, const Tensor& mu, double nu, const Tensor& p, double scale,
                  Tensor& loss, const std::vector<Tensor*>& dzs, Tensor* dmu) override;
  void focalStudentT(const Tensor& z, const Tensor& mu, double nu, const Tensor& p, double gamma, double scale,
                     Tensor& loss, Tensor* dz, Tensor* dmu) override;
  void pairAffinity(const Tensor& y, double nu, Tensor& c) override;
  void pairAffinityBackward(const Tensor& y, double nu, const Tensor& dc, Tensor& dy) override;
  void cdcCorrelationLoss(const Tensor& ya, const Tensor& yb, double nu, double scale, Tensor& loss, Tensor* dya,
                          Tensor* dyb) override;

  // contractive.cu
  void contractivePenalty(const std::vector<Tensor>& weights, const std::vector<Tensor>& hidden, int64_t m,
                          double scale, int form, Tensor& loss, const std::vector<Tensor*>& dweights) override;
  // fusion.cu
  void attentionFusionForward(const std::vector<Tensor>& xs, const Tensor& w, const Tensor& b, float slope, bool concat,
                              Tensor& out, Tensor& u, Tensor& t) override;
  void attentionFusionBackward(const std::vector<Tensor>& xs, const Tensor& w, const Tensor& u, const Tensor& t,
                               float slope, bool concat, const Tensor& dout, const std::vector<Tensor*>& dxs, Tensor& dw,
                               Tensor& db) override;
  // cdc.cu
  void rowKlClipped(const Tensor& a, const Tensor& b, double scale, Tensor& loss, Tensor* da, Tensor* db) override;
  void cdcPairLoss(const Tensor& ya, const Tensor& yb, double nu, double scale, bool global, bool sharpen, Tensor& loss,
                   Tensor* dya, Tensor* dyb) override;
};

}  // namespace cuda
}  // namespace dgc
