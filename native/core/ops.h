// The op front: every op's argument checks, output allocation and dispatch to the device's backend.
//
// The N-API layer converts JS values and calls these; C++ tests call them directly. A check that fails
// throws dgc::Error naming the op, the argument and the sizes, before any kernel runs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "backend.h"

namespace dgc {
namespace ops {

// ---- creation and transfer ---------------------------------------------------------------------------
Tensor fromHost(const void* data, const Shape& shape, DType dtype, Device device);
void toHost(const Tensor& t, void* dst);  // t.nbytes() bytes
Tensor full(const Shape& shape, double value, DType dtype, Device device);
Tensor clone(const Tensor& x);

// Marks a constant float32 matrix on the CPU as sparse: when at most maxDensity of its entries are nonzero,
// builds the index of its nonzeros (row_sparse.h) and keeps it with its buffer, so that the CPU products that read
// it (matmul, matmulBiasAct) skip its zeros, with the dense product's values bit for bit. The tensor is constant
// from then on (in-place writes are refused). Denser matrices, and tensors on another device, are left as they
// are. Returns the fraction of nonzero entries (NaN on another device: not measured) and whether an index is
// (now) attached.
struct RowSparseInfo {
  double density = 0.0;
  bool attached = false;
  int64_t indexBytes = 0;
};
RowSparseInfo attachRowSparse(const Tensor& x, double maxDensity);
Tensor to(const Tensor& x, Device device);

// ---- dense linear algebra ------------------------------------------------------------------------------
Tensor matmul(const Tensor& a, const Tensor& b, bool transA, bool transB, float alpha = 1.0f);
Tensor transpose(const Tensor& x);

// ---- sparse --------------------------------------------------------------------------------------------
enum class Normalization { None, Row, Sym };
struct GraphOptions {
  bool symmetrize = true;
  bool selfLoops = true;
  Normalization norm = Normalization::Row;
};
// n×n graph from directed edges src[e] → dst[e] (int32 host arrays, validated here) on `device`.
CsrMatrix csrFromEdges(int64_t n, const int32_t* src, const int32_t* dst, const float* weights, int64_t nEdges,
                       const GraphOptions& opts, Device device);
// A user-given CSR (validated: monotone indptr, indices in range, sorted and unique per row).
CsrMatrix csrFromArrays(int64_t rows, int64_t cols, const int32_t* indptr, const int32_t* indices,
                        const float* values, int64_t nnz, Device device);
CsrMatrix csrTranspose(const CsrMatrix& a);
Tensor spmm(const CsrMatrix& a, const Tensor& h);

// ---- fused layer steps ---------------------------------------------------------------------------------
// act(op(a)·op(b) + bias): a weight product with its bias (rank 1, one value per output column; may be null)
// and activation in one op (Backend::gemmBiasAct). LeakyRelu needs param ≥ 0.
Tensor matmulBiasAct(const Tensor& a, const Tensor& b, bool transA, bool transB, const Tensor* bias, Activation act,
                     float param);
// act(a·h) (Backend::spmmAct).
Tensor spmmAct(const CsrMatrix& a, const Tensor& h, Activation act, float param);
// The backward of the two from their output y (rank 2): {dx, db} with dx = dy·act'(y) and db = colSum(dx)
// (undefined unless wantBias).
std::vector<Tensor> activationGrad(Activation act, float param, const Tensor& y, const Tensor& dy, bool wantBias);

// ---- elementwise ---------------------------------------------------------------------------------------
Tensor unary(Unary op, const Tensor& x, float param = 0.0f);
Tensor unaryGrad(Unary op, const Tensor& xy, const Tensor& dy, float param = 0.0f);
Tensor binary(Binary op, const Tensor& a, const Tensor& b);
Tensor affine(const Tensor& x, float alpha, float beta);
Tensor axpby(float alpha, const Tensor& a, float beta, const Tensor& b);
Tensor mulScalar(const Tensor& x, const Tensor& s);
Tensor addRowVector(const Tensor& x, const Tensor& v);
Tensor mulRowVector(const Tensor& x, const Tensor& v);
Tensor mulColVector(const Tensor& x, const Tensor& v);
Tensor expandRows(const Tensor& v, int64_t rows);
Tensor expandCols(const Tensor& v, int64_t cols);
Tensor expandScalar(const Tensor& s, const Shape& shape);

// ---- reductions ----------------------------------------------------------------------------------------
Tensor rowSum(const Tensor& x);  // [n]
Tensor colSum(const Tensor& x);  // [d]
Tensor sumAll(const Tensor& x);  // []
Tensor argmaxRows(const Tensor& x);  // int32 [n]
Tensor softmaxRows(const Tensor& x, bool log);
Tensor softmaxRowsGrad(const Tensor& y, const Tensor& dy, bool log);

// ---- shape and indexing --------------------------------------------------------------------------------
Tensor concatCols(const std::vector<Tensor>& xs);
Tensor sliceCols(const Tensor& x, int64_t start, int64_t end);
// A zero n×cols matrix with src added into columns [start, start + src.cols): the gradient of sliceCols.
Tensor padCols(const Tensor& src, int64_t start, int64_t cols);
Tensor gatherRows(const Tensor& x, const Tensor& idx);
Tensor scatterAddRows(const Tensor& src, const Tensor& idx, int64_t rows);

// ---- losses --------------------------------------------------------------------------------------------
Tensor mse(const Tensor& a, const Tensor& b);
Tensor mseGrad(const Tensor& a, const Tensor& b, const Tensor& g);
Tensor bceWithLogits(const Tensor& logits, const Tensor& target);
Tensor bceWithLogitsGrad(const Tensor& logits, const Tensor& target, const Tensor& g);

// ---- optimizers ----------------------------------------------------------------------------------------
void adamStep(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamParams& p);
void sgdStep(Tensor& param, const Tensor& grad, Tensor* velocity, float lr, float momentum, float weightDecay);

// A loss and, when asked for, its gradients (scaled like the loss). Gradients not asked for are undefined.
struct LossWithGrads {
  Tensor loss;              // float32 [] (one element)
  std::vector<Tensor> dzs;  // one per embedding
  Tensor dmu;
};

// ---- attention --------------------------------------------------------------------------------------------
// Multi-head attention over all rows (no n×m matrix): returns {out n×(heads·dv), lse n×heads}.
std::vector<Tensor> attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, double scale);
// {dq, dk, dv} given the forward's out and lse.
std::vector<Tensor> attentionBackward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                      const Tensor& lse, const Tensor& dout, int64_t heads, double scale);
// DFCN's self-correlation softmax(z zᵀ) z: returns {out n×d, lse n×1}.
std::vector<Tensor> selfCorrelation(const Tensor& z);
Tensor selfCorrelationBackward(const Tensor& z, const Tensor& out, const Tensor& lse, const Tensor& dout);

// ---- graph reconstruction losses ----------------------------------------------------------------------
// DFCN's L_a = mean over n² of (σ(z1 z1ᵀ) + σ(z2 z2ᵀ) − A)² (z2 may be undefined: one embedding), without N×N.
LossWithGrads gramSigmoidMseLoss(const Tensor& z1, const Tensor& z2, const CsrMatrix& a, bool wantGrads);
// CaEGCN's mean BCE(σ(z zᵀ), T) against the sparse target T, without N×N.
LossWithGrads gramSigmoidBceLoss(const Tensor& z, const CsrMatrix& t, bool wantGrads);

// ---- k-means --------------------------------------------------------------------------------------------------
struct KMeansOutput {
  Tensor centers;  // k×d
  Tensor labels;   // int32 [n]
  double inertia = 0;
  int iterations = 0;
};
KMeansOutput kmeans(const Tensor& x, const KMeansParams& p);

// ---- kNN graph ----------------------------------------------------------------------------------------------
enum class KnnMetric { Heat = 0, Cosine = 1, Dot = 2 };
// int32 n×k neighbour lists (self excluded), tiled: O(n·k) memory.
Tensor knnGraph(const Tensor& x, int64_t k, KnnMetric metric, bool sdcnOrder);

// ---- clustering head ------------------------------------------------------------------------------------
// Q (n×k): Student-t soft assignment of z (n×d) to centres mu (k×d), degrees of freedom nu > 0.
Tensor studentT(const Tensor& z, const Tensor& mu, double nu);
// Gradients of a loss L(Q) given dq = ∂L/∂Q; returns {dz, dmu} (each undefined unless asked for).
std::vector<Tensor> studentTBackward(const Tensor& z, const Tensor& mu, double nu, const Tensor& q, const Tensor& dq,
                                     bool wantZ, bool wantMu);
// P (n×k): the DEC target distribution of Q, p_ij ∝ q_ij² / Σ_i q_ij.
Tensor targetDistribution(const Tensor& q);
// scale · mean over the embeddings t of Σ_ij p_ij log(p_ij / q_ij(z_t, mu)) (1 embedding, or 3 for DFCN).
LossWithGrads klStudentT(const std::vector<Tensor>& zs, const Tensor& mu, double nu, const Tensor& p, double scale,
                         bool wantGrads);
// klStudentT against P = targetDistribution(studentT(zs[0])) computed in the same call (P detached).
struct SelfTargetKl {
  LossWithGrads kl;
  Tensor q;  // studentT(zs[0], mu, nu), n×k
  Tensor p;  // its target distribution, n×k
};
SelfTargetKl klStudentTSelf(const std::vector<Tensor>& zs, const Tensor& mu, double nu, double scale, bool wantGrads);
// scale · Σ_i −(1 − p̂_i)^γ log p̂_i, p̂_i = q_{i, argmax_j p_ij} (DCCF, hard pseudo-labels).
LossWithGrads focalStudentT(const Tensor& z, const Tensor& mu, double nu, const Tensor& p, double gamma, double scale,
                            bool wantGrads);
// CDC: C (b×b) = row-normalized Student-t affinities of the rows of y (b×w), clipped to [1e-10, 1].
Tensor pairAffinity(const Tensor& y, double nu);
Tensor pairAffinityBackward(const Tensor& y, double nu, const Tensor& dc);
// CDC correlation loss RowKL(Sharpen(PairKernel(ya)) ‖ PairKernel(yb)) · scale; dzs = {dya, dyb} when asked.
LossWithGrads cdcCorrelationLoss(const Tensor& ya, const Tensor& yb, double nu, double scale, bool wantA, bool wantB);
// Keras KLDivergence (clip both to [1e-7, 1]) of a ‖ b (rows×cols), times scale; dzs = {da, db} when asked.
LossWithGrads rowKlClipped(const Tensor& a, const Tensor& b, double scale, bool wantA, bool wantB);
// CDC's pairwise KL, scale · KL([Sharpen] C(ya) ‖ C(yb)), with the row (code) or global (paper Eq. 5)
// normalisation; dzs = {dya, dyb} when asked.
LossWithGrads cdcPairLoss(const Tensor& ya, const Tensor& yb, double nu, double scale, bool global, bool sharpen,
                          bool wantA, bool wantB);

// ---- contractive penalty (DCCF Eq. 6) ---------------------------------------------------------------------
// scale · Σ_s ‖J_s‖²_F for the m = rows samples of a batch through a ReLU MLP encoder: weights W_1 … W_L (n_l × n_{l−1}),
// hidden = the L − 1 hidden activations (m × n_l; mask = h > 0). form 0 auto, 1 direct, 2 gram (all exact). With
// wantGrads, dzs holds one gradient per weight (dmu stays undefined). Formulas: native/cpu/contractive.h.
LossWithGrads contractivePenalty(const std::vector<Tensor>& weights, const std::vector<Tensor>& hidden, int64_t rows,
                                 double scale, int form, bool wantGrads);

// ---- attention-weighted fusion (AGCN) ---------------------------------------------------------------------
// u = ℓ2(softmax(LeakyReLU_slope([x_0 ‖ … ‖ x_{m−1}] wᵀ + b))) and the blocks weighted by it, summed (equal
// widths) or concatenated (backend.h). Returns {out, u, t} (t: the pre-activation, kept for the backward).
std::vector<Tensor> attentionFusion(const std::vector<Tensor>& xs, const Tensor& w, const Tensor& b, double slope,
                                    bool concat);
// Returns {dx_0, …, dx_{m−1}, dw, db} given the forward's u and t and dout.
std::vector<Tensor> attentionFusionBackward(const std::vector<Tensor>& xs, const Tensor& w, const Tensor& u,
                                            const Tensor& t, double slope, bool concat, const Tensor& dout);

// ---- random --------------------------------------------------------------------------------------------
Tensor randomUniform(const Shape& shape, float low, float high, uint64_t seed, uint64_t stream, Device device);
Tensor randomNormal(const Shape& shape, float mean, float std, uint64_t seed, uint64_t stream, Device device);

}  // namespace ops
}  // namespace dgc
