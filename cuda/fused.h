// The fused op families of the CUDA backend: attention / self-correlation, graph-reconstruction losses, the
// clustering head, k-means and the kNN graph.
//
// One free function per fused Backend method, with exactly that method's parameter list and return type, so that
// cuda/backend.cu's CudaBackend forwards to them one to one. The contract is native/core/backend.h (semantics) and
// cuda/common.cuh (tensors are validated by ops.cc and live in device memory; work is enqueued on
// dgc::cuda::stream(); scratch comes from Tensor::empty(shape, dtype, Device::CUDA)). The CPU implementations in
// native/cpu/ define the numerics these functions reproduce; where they differ (rounding order, k-means' random
// choices, limits), it is said below and in the comments of the implementing file.
//
// Implementations:
//   cuda/attention.cu  attentionForward / attentionBackward / selfCorrelationForward / selfCorrelationBackward
//   cuda/recon.cu      gramSigmoidMseLoss / gramSigmoidBceLoss
//   cuda/cluster.cu    studentT … cdcCorrelationLoss
//   cuda/kmeans.cu     kmeans
//   cuda/knn.cu        knnGraph
//   cuda/fusion.cu     attentionFusionForward / attentionFusionBackward
//
// Synchronisation: none of these functions synchronizes the stream except kmeans (it reads its convergence state
// and the inertia back every Lloyd step) and knnGraph (it reads a finiteness flag back; with sdcnOrder it runs the
// CPU routine on a host copy). Every result, losses included, is written to device memory.
//
// Determinism: every reduction has a fixed shape (fixed per-thread order, fixed partial layout, ordered combine),
// no floating-point atomics are used, so a call repeats bit for bit on the same GPU model and launch geometry.
//
// Limits specific to the CUDA backend (each throws dgc::Error with DGC_UNIMPLEMENTED naming the op and the sizes):
//   * attention: at most 65,535 heads (grid z).
//   * gramSigmoid*Loss: n ≤ 2^31 − 1 rows and nnz ≤ 2^31 − 1 (int32 CSR, as everywhere).
//   * kmeans: n ≤ 2^31 − 1 rows (int32 labels). knnGraph: the same bound as the CPU (DGC_ARG).
//   * knnGraph with sdcnOrder = true is computed by the CPU routine on a host copy (it is O(n²·d) scalar code meant
//     to reproduce published ~10k-node graphs, see native/cpu/knn.h), then copied back.
#pragma once
#include <cstdint>
#include <vector>

#include "../native/core/backend.h"
#include "../native/core/tensor.h"

namespace dgc {
namespace cuda {

// ---- attention (flash style: no n×m matrix) --------------------------------------------------------------------
void attentionForward(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, float scale, Tensor& out,
                      Tensor& lse);
void attentionBackward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                       const Tensor& dout, int64_t heads, float scale, Tensor& dq, Tensor& dk, Tensor& dv);
void selfCorrelationForward(const Tensor& z, Tensor& out, Tensor& lse);
void selfCorrelationBackward(const Tensor& z, const Tensor& out, const Tensor& lse, const Tensor& dout, Tensor& dz);

// ---- graph reconstruction losses -----------------------------------------------------------------------------------
void gramSigmoidMseLoss(const Tensor& z1, const Tensor* z2, const CsrMatrix& a, float g, Tensor& loss, Tensor* dz1,
                        Tensor* dz2);
void gramSigmoidBceLoss(const Tensor& z, const CsrMatrix& t, float g, Tensor& loss, Tensor* dz);

// ---- k-means -------------------------------------------------------------------------------------------------------
void kmeans(const Tensor& x, const KMeansParams& p, Tensor& centers, Tensor& labels, double& inertia,
            int& iterations);

// ---- kNN graph -----------------------------------------------------------------------------------------------------
void knnGraph(const Tensor& x, int64_t k, int metric, bool sdcnOrder, Tensor& neighbors);

// ---- clustering head ------------------------------------------------------------------------------------------------
void studentT(const Tensor& z, const Tensor& mu, double nu, Tensor& q);
void studentTBackward(const Tensor& z, const Tensor& mu, double nu, const Tensor& q, const Tensor& dq, Tensor* dz,
                      Tensor* dmu);
void targetDistribution(const Tensor& q, Tensor& p);
void klStudentT(const std::vector<Tensor>& zs, const Tensor& mu, double nu, const Tensor& p, double scale,
                Tensor& loss, const std::vector<Tensor*>& dzs, Tensor* dmu);
void focalStudentT(const Tensor& z, const Tensor& mu, double nu, const Tensor& p, double gamma, double scale,
                   Tensor& loss, Tensor* dz, Tensor* dmu);
void pairAffinity(const Tensor& y, double nu, Tensor& c);
void pairAffinityBackward(const Tensor& y, double nu, const Tensor& dc, Tensor& dy);
void cdcCorrelationLoss(const Tensor& ya, const Tensor& yb, double nu, double scale, Tensor& loss, Tensor* dya,
                        Tensor* dyb);

// ---- attention-weighted fusion (AGCN; cuda/fusion.cu) --------------------------------------------------------------
void attentionFusionForward(const std::vector<Tensor>& xs, const Tensor& w, const Tensor& b, float slope, bool concat,
                            Tensor& out, Tensor& u, Tensor& t);
void attentionFusionBackward(const std::vector<Tensor>& xs, const Tensor& w, const Tensor& u, const Tensor& t,
                             float slope, bool concat, const Tensor& dout, const std::vector<Tensor*>& dxs, Tensor& dw,
                             Tensor& db);

}  // namespace cuda
}  // namespace dgc
