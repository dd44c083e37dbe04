// The op table: one interface, one implementation per device (native/cpu now, cuda/ later).
//
// Backends receive tensors that ops.cc has already validated (dtypes, shapes, devices) and outputs it has
// already allocated, so a kernel only computes. Every method has the same semantics on every backend; the
// comments here are the contract the CPU↔CUDA parity tests check.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor.h"

namespace dgc {

// A sparse matrix in CSR form with its buffers on one device. Built once (ops::csrFromEdges) and kept.
struct CsrMatrix {
  int64_t rows = 0, cols = 0, nnz = 0;
  Tensor indptr;   // int32[rows + 1]
  Tensor indices;  // int32[nnz], sorted and unique within each row
  Tensor values;   // float32[nnz]
  Device device() const { return values.defined() ? values.device() : Device::CPU; }
};

enum class Unary {
  Relu,       // max(x, 0)
  LeakyRelu,  // x > 0 ? x : param * x
  Tanh,
  Sigmoid,    // 1 / (1 + exp(-x)), computed without overflow for large |x|
  Exp,
  Log,        // natural log; log(0) = -inf, log(<0) = NaN as in IEEE
  Square,
};
// Which value a unary op's gradient needs: the op's input x or its output y.
inline bool unaryGradUsesOutput(Unary op) { return op == Unary::Tanh || op == Unary::Sigmoid || op == Unary::Exp; }

enum class Binary { Add, Sub, Mul, Div };

// Activations that the fused layer ops (gemmBiasAct, spmmAct) apply to their result, and whose gradient
// (activationGrad) is taken from that result: Relu = max-style x > 0 ? x : 0; LeakyRelu = x > 0 ? x : param·x
// with param ≥ 0 (so the output is > 0 exactly where the input is, and the output alone gives the gradient).
enum class Activation { None, Relu, LeakyRelu };

struct KMeansParams {
  int64_t k = 1;
  int nInit = 20;       // restarts; the lowest inertia is kept (scikit-learn's n_init)
  int maxIter = 300;
  double tol = 1e-4;    // relative to the mean per-feature variance, as scikit-learn
  uint64_t seed = 0;
};

struct AdamParams {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weightDecay = 0.0f;
  int64_t step = 1;   // 1-based step count used for bias correction
  bool decoupled = false;  // false: L2 added to the gradient (torch.optim.Adam); true: AdamW
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual const char* name() const = 0;

  // ---- memory ------------------------------------------------------------------------------------------
  virtual void copyFromHost(Tensor& dst, const void* src) = 0;  // dst.nbytes() bytes
  virtual void copyToHost(void* dst, const Tensor& src) = 0;    // synchronizes with pending work
  virtual void copy(Tensor& dst, const Tensor& src) = 0;        // same numel and dtype
  virtual void fill(Tensor& out, double value) = 0;             // cast to out's dtype
  virtual void synchronize() {}

  // ---- validation helper (not an op: ops.cc uses it to check values on devices it cannot read directly) ----
  // Index (row-major) of the first element x of the float32 tensor t with !(lo <= x <= hi) — NaN always
  // counts — and that element in *value; -1 when there is none. Reads a result back, so it synchronizes.
  // The default copies t to the host and scans it there.
  virtual int64_t findOutside(const Tensor& t, float lo, float hi, float* value);

  // ---- dense linear algebra ----------------------------------------------------------------------------
  // c = alpha · op(a) · op(b) + beta · c, a and b rank 2.
  virtual void gemm(bool transA, bool transB, float alpha, const Tensor& a, const Tensor& b, float beta,
                    Tensor& c) = 0;
  virtual void transpose(const Tensor& x, Tensor& out) = 0;  // rank 2

  // ---- sparse ------------------------------------------------------------------------------------------
  virtual void spmm(const CsrMatrix& a, const Tensor& h, Tensor& out) = 0;  // out = a · h

  // ---- elementwise -------------------------------------------------------------------------------------
  virtual void unary(Unary op, const Tensor& x, float param, Tensor& out) = 0;
  // dx = dy · f'(·); `xy` is x or y as unaryGradUsesOutput(op) says.
  virtual void unaryGrad(Unary op, const Tensor& xy, const Tensor& dy, float param, Tensor& dx) = 0;
  virtual void binary(Binary op, const Tensor& a, const Tensor& b, Tensor& out) = 0;  // same shapes
  virtual void affine(const Tensor& x, float alpha, float beta, Tensor& out) = 0;     // alpha·x + beta
  virtual void axpby(float alpha, const Tensor& a, float beta, const Tensor& b, Tensor& out) = 0;
  virtual void mulScalar(const Tensor& x, const Tensor& s, Tensor& out) = 0;  // x · s, s a 1-element tensor
  // x[n×d] with a vector broadcast over rows (v[d], "bias add" / column scaling) or columns (v[n], row scaling).
  virtual void addRowVector(const Tensor& x, const Tensor& v, Tensor& out) = 0;  // out[i,j] = x[i,j] + v[j]
  virtual void mulRowVector(const Tensor& x, const Tensor& v, Tensor& out) = 0;  // out[i,j] = x[i,j] · v[j]
  virtual void mulColVector(const Tensor& x, const Tensor& v, Tensor& out) = 0;  // out[i,j] = x[i,j] · v[i]
  virtual void expandRows(const Tensor& v, Tensor& out) = 0;  // out[i,j] = v[j]
  virtual void expandCols(const Tensor& v, Tensor& out) = 0;  // out[i,j] = v[i]
  virtual void expandScalar(const Tensor& s, Tensor& out) = 0;  // out[...] = s[0]

  // ---- reductions (deterministic: fixed chunking, ordered combine) ---------------------------------------
  virtual void rowSum(const Tensor& x, Tensor& out) = 0;  // out[i] = Σ_j x[i,j]
  virtual void colSum(const Tensor& x, Tensor& out) = 0;  // out[j] = Σ_i x[i,j]
  virtual void sumAll(const Tensor& x, Tensor& out) = 0;  // out[0] = Σ x, accumulated in double
  virtual void argmaxRows(const Tensor& x, Tensor& out) = 0;  // int32; first index on ties; NaN counts as max

  // ---- row softmax -------------------------------------------------------------------------------------
  virtual void softmaxRows(const Tensor& x, bool log, Tensor& out) = 0;
  // dx for y = softmax(x) (log=false) or y = log_softmax(x) (log=true), given y.
  virtual void softmaxRowsGrad(const Tensor& y, const Tensor& dy, bool log, Tensor& dx) = 0;

  // ---- shape and indexing ------------------------------------------------------------------------------
  virtual void concatCols(const std::vector<Tensor>& xs, Tensor& out) = 0;
  virtual void sliceCols(const Tensor& x, int64_t start, Tensor& out) = 0;  // out = x[:, start:start+w]
  virtual void addIntoCols(const Tensor& src, int64_t start, Tensor& out) = 0;  // out[:, start:+w] += src
  virtual void gatherRows(const Tensor& x, const Tensor& idx, Tensor& out) = 0;  // out[r] = x[idx[r]]
  virtual void scatterAddRows(const Tensor& src, const Tensor& idx, Tensor& out) = 0;  // out[idx[r]] += src[r]

  // ---- losses (mean over all elements; the gradient takes the upstream scalar g on the device) ----------
  virtual void mse(const Tensor& a, const Tensor& b, Tensor& out) = 0;
  virtual void mseGrad(const Tensor& a, const Tensor& b, const Tensor& g, Tensor& da) = 0;  // 2(a−b)g/n
  virtual void bceWithLogits(const Tensor& logits, const Tensor& target, Tensor& out) = 0;
  virtual void bceWithLogitsGrad(const Tensor& logits, const Tensor& target, const Tensor& g, Tensor& dl) = 0;

  // ---- optimizers (in place, fused) --------------------------------------------------------------------
  virtual void adamStep(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamParams& p) = 0;
  // velocity may be undefined when momentum == 0.
  virtual void sgdStep(Tensor& param, const Tensor& grad, Tensor* velocity, float lr, float momentum,
                       float weightDecay) = 0;

  // ---- attention (flash style: no n×m matrix; native/cpu/attention.h) ----------------------------------------
  // Per head h: out_h = softmax_rows(scale · q_h k_hᵀ) v_h. q n×(heads·dk), k m×(heads·dk), v m×(heads·dv),
  // out n×(heads·dv), lse n×heads (row log-sum-exp of the scaled logits, kept for the backward).
  virtual void attentionForward(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, float scale,
                                Tensor& out, Tensor& lse) = 0;
  virtual void attentionBackward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                 const Tensor& lse, const Tensor& dout, int64_t heads, float scale, Tensor& dq,
                                 Tensor& dk, Tensor& dv) = 0;
  // DFCN's self-correlation softmax(z zᵀ) z (q = k = v = z, one head, scale 1); dz = dq + dk + dv.
  virtual void selfCorrelationForward(const Tensor& z, Tensor& out, Tensor& lse) = 0;
  virtual void selfCorrelationBackward(const Tensor& z, const Tensor& out, const Tensor& lse, const Tensor& dout,
                                       Tensor& dz) = 0;

  // ---- graph reconstruction losses (tiled σ(z zᵀ) against a sparse target; native/cpu/recon.h) -------------
  // DFCN: loss = mean over all n² pairs of (σ(z1_i·z1_j) [+ σ(z2_i·z2_j)] − a_ij)²; z2 may be null.
  // CaEGCN: loss = mean over all n² pairs of BCE(σ(z_i·z_j), t_ij) with PyTorch's log clamp at −100.
  // The gradients written (when asked for) are g·∂loss/∂z.
  virtual void gramSigmoidMseLoss(const Tensor& z1, const Tensor* z2, const CsrMatrix& a, float g, Tensor& loss,
                                  Tensor* dz1, Tensor* dz2) = 0;
  virtual void gramSigmoidBceLoss(const Tensor& z, const CsrMatrix& t, float g, Tensor& loss, Tensor* dz) = 0;

  // ---- k-means (k-means++ init, Lloyd, nInit restarts; native/cpu/kmeans.h) ---------------------------------
  // centers k×d, labels int32 [n]; inertia = Σ ‖x_i − c_label‖² of the kept restart.
  virtual void kmeans(const Tensor& x, const KMeansParams& p, Tensor& centers, Tensor& labels, double& inertia,
                      int& iterations) = 0;

  // ---- kNN graph (native/cpu/knn.h) ------------------------------------------------------------------------
  // neighbors (int32 n×k): the k most similar rows of x to each row, self excluded, SDCN/DFCN's rule (top k+1,
  // drop self). metric 0 = heat (Euclidean), 1 = cosine, 2 = dot. sdcnOrder: the exact line order of SDCN's
  // files (heat only, O(n²·d) scalar: for reproducing published graphs).
  virtual void knnGraph(const Tensor& x, int64_t k, int metric, bool sdcnOrder, Tensor& neighbors) = 0;

  // ---- clustering head (Student-t, target distribution, fused KL / focal, CDC pairwise) --------------------
  // Shapes: z n×d, mu k×d, q and p n×k. Losses are written to a 1-element tensor; `scale` multiplies the summed
  // loss (batchmean with weight w: scale = w/n) and the gradients are those of the scaled loss. Gradient outputs
  // may be null. Formulas and their sources: native/cpu/cluster.h.
  virtual void studentT(const Tensor& z, const Tensor& mu, double nu, Tensor& q) = 0;
  virtual void studentTBackward(const Tensor& z, const Tensor& mu, double nu, const Tensor& q, const Tensor& dq,
                                Tensor* dz, Tensor* dmu) = 0;
  virtual void targetDistribution(const Tensor& q, Tensor& p) = 0;
  // KL(P‖Q(z_t, μ)) averaged over the embeddings given (1: plain KL; 3: DFCN's triplet form).
  virtual void klStudentT(const std::vector<Tensor>& zs, const Tensor& mu, double nu, const Tensor& p, double scale,
                          Tensor& loss, const std::vector<Tensor*>& dzs, Tensor* dmu) = 0;
  virtual void focalStudentT(const Tensor& z, const Tensor& mu, double nu, const Tensor& p, double gamma, double scale,
                             Tensor& loss, Tensor* dz, Tensor* dmu) = 0;
  // The per-step clustering loss in one call: q = studentT(zs[0]), p = targetDistribution(q) (detached), then
  // klStudentT(zs, mu, nu, p, scale). The default runs exactly those three ops of this backend; a backend may
  // fuse them (CPU: cluster.h klStudentTSelf, which computes p from q in double before rounding).
  virtual void klStudentTSelf(const std::vector<Tensor>& zs, const Tensor& mu, double nu, double scale, Tensor& q,
                              Tensor& p, Tensor& loss, const std::vector<Tensor*>& dzs, Tensor* dmu);
  virtual void pairAffinity(const Tensor& y, double nu, Tensor& c) = 0;  // y b×w, c b×b
  virtual void pairAffinityBackward(const Tensor& y, double nu, const Tensor& dc, Tensor& dy) = 0;
  virtual void cdcCorrelationLoss(const Tensor& ya, const Tensor& yb, double nu, double scale, Tensor& loss,
                                  Tensor* dya, Tensor* dyb) = 0;
  // Keras's KLDivergence over rows (CDC's L_c = 'kld'(P, Q)): a, b rows×cols, loss = scale · Σ_ij ā log(ā/b̄)
  // with ā, b̄ clipped to [1e-7, 1]; da = scale·(log ā − log b̄ + 1), db = −scale·ā/b̄, each 0 where its argument
  // was clipped (native/cpu/cluster.h rowKlClipped).
  virtual void rowKlClipped(const Tensor& a, const Tensor& b, double scale, Tensor& loss, Tensor* da,
                            Tensor* db) = 0;
  // CDC's pairwise KL in every variant: scale · KL([Sharpen] C(ya) ‖ C(yb)), C row-normalised with the self pair
  // and clipped (the official code) or normalised over all pairs k ≠ l (global: the paper's Eq. 5). Formulas and
  // gradients: native/cpu/cdc.h. cdcPairLoss(row, sharpen) is cdcCorrelationLoss computed in double throughout.
  virtual void cdcPairLoss(const Tensor& ya, const Tensor& yb, double nu, double scale, bool global, bool sharpen,
                           Tensor& loss, Tensor* dya, Tensor* dyb) = 0;

  // ---- contractive penalty (DCCF Eq. 6; formulas, forms and costs: native/cpu/contractive.h) ------------------
  // loss = scale · Σ_s ‖J_s‖²_F over the m samples of a batch, J_s = W_L Φ_{L−1} W_{L−1} ⋯ Φ_1 W_1 the exact Jacobian
  // of a ReLU MLP encoder's (linear) embedding with respect to its input, Φ_l = diag(1[hidden[l−1](s) > 0]).
  // weights[l] is n_{l+1} × n_l (PyTorch layout, L ≥ 1 of them), hidden[l] is m × n_{l+1} (L − 1 of them).
  // form: 0 = auto (gram when n_1 < n_0), 1 = direct (J formed on m·d′ rows), 2 = gram (trace(J Jᵀ) with
  // W_1 W_1ᵀ); every form is exact. dweights: null entries, or one gradient per weight (the biases get none).
  virtual void contractivePenalty(const std::vector<Tensor>& weights, const std::vector<Tensor>& hidden, int64_t m,
                                  double scale, int form, Tensor& loss, const std::vector<Tensor*>& dweights) = 0;

  // ---- attention-weighted fusion (AGCN; native/cpu/fusion.h) -------------------------------------------------
  // xs: m ≤ 8 blocks x_k (n×d_k; equal widths unless concat), w m×D (D = Σ d_k, columns in block order), b [m].
  // t = [x_0 ‖ … ‖ x_{m−1}] wᵀ + b (the concatenation is never formed), u = ℓ2(softmax_row(LeakyReLU_slope(t)))
  // with F.normalize's eps 1e-12; out = Σ_k u_k ⊙ x_k (n×d) or [u_0 ⊙ x_0 ‖ …] (concat, n×D). u and t: n×m.
  virtual void attentionFusionForward(const std::vector<Tensor>& xs, const Tensor& w, const Tensor& b, float slope,
                                      bool concat, Tensor& out, Tensor& u, Tensor& t) = 0;
  // Given dout (like out): dxs[k] (like xs[k]; null entries are not computed), dw (m×D), db [m].
  virtual void attentionFusionBackward(const std::vector<Tensor>& xs, const Tensor& w, const Tensor& u,
                                       const Tensor& t, float slope, bool concat, const Tensor& dout,
                                       const std::vector<Tensor*>& dxs, Tensor& dw, Tensor& db) = 0;

  // ---- fused layer steps (defaults in backend.cc run the unfused ops of this backend; CPU fuses them) ------
  // c = act(op(a)·op(b) + bias) (a Linear or GCN weight product; bias rank 1 with c's column count, or null):
  // the values of gemm (alpha 1, beta 0), addRowVector and unary, without the intermediate tensors.
  virtual void gemmBiasAct(bool transA, bool transB, const Tensor& a, const Tensor& b, const Tensor* bias,
                           Activation act, float param, Tensor& c);
  // out = act(a · h): the values of spmm then unary.
  virtual void spmmAct(const CsrMatrix& a, const Tensor& h, Activation act, float param, Tensor& out);
  // The backward of the two from their output y (rank 2): dx = dy · act'(y), and db = colSum(dx) when db is not
  // null (the bias gradient): the values of unaryGrad (fed y, which gives the same as x for these
  // activations) and colSum. act None: dx = dy.
  virtual void activationGrad(Activation act, float param, const Tensor& y, const Tensor& dy, Tensor& dx,
                              Tensor* db);

  // ---- random (counter-based Philox: element i of stream s under seed k is the same on every backend) ----
  virtual void randomUniform(Tensor& out, float low, float high, uint64_t seed, uint64_t stream) = 0;
  virtual void randomNormal(Tensor& out, float mean, float std, uint64_t seed, uint64_t stream) = 0;
};

// The backend for a device; DGC_DEVICE if that device is not available.
Backend& backendFor(Device device);
// Called by a backend's translation unit at start-up.
void registerBackend(Device device, Backend* backend);
bool hasBackend(Device device);

}  // namespace dgc
