#include "ops.h"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "graph.h"
#include "row_sparse.h"

namespace dgc {
namespace ops {
namespace {

// ---- argument checks: each names the op and the argument --------------------------------------------
void requireDefined(const char* op, const char* arg, const Tensor& t) {
  DGC_CHECK(t.defined(), Disposed, op, ": argument '", arg, "' is a disposed tensor");
}

void requireF32(const char* op, const char* arg, const Tensor& t) {
  requireDefined(op, arg, t);
  DGC_CHECK(t.dtype() == DType::F32, DType, op, ": argument '", arg, "' must be float32, got ", t.describe());
}

void requireI32(const char* op, const char* arg, const Tensor& t) {
  requireDefined(op, arg, t);
  DGC_CHECK(t.dtype() == DType::I32, DType, op, ": argument '", arg, "' must be int32, got ", t.describe());
}

void requireRank(const char* op, const char* arg, const Tensor& t, int rank) {
  DGC_CHECK(t.rank() == rank, Shape, op, ": argument '", arg, "' must have rank ", rank, ", got shape ",
            shapeStr(t.shape()));
}

void requireMatrix(const char* op, const char* arg, const Tensor& t) {
  requireF32(op, arg, t);
  requireRank(op, arg, t, 2);
}

void requireScalar(const char* op, const char* arg, const Tensor& t) {
  requireF32(op, arg, t);
  DGC_CHECK(t.numel() == 1, Shape, op, ": argument '", arg, "' must hold exactly one element, got shape ",
            shapeStr(t.shape()));
}

void requireSameDevice(const char* op, const char* argA, const Tensor& a, const char* argB, const Tensor& b) {
  DGC_CHECK(a.device() == b.device(), Device, op, ": '", argA, "' is on ", deviceName(a.device()), " but '", argB,
            "' is on ", deviceName(b.device()));
}

void requireSameShape(const char* op, const char* argA, const Tensor& a, const char* argB, const Tensor& b) {
  requireSameDevice(op, argA, a, argB, b);
  DGC_CHECK(a.shape() == b.shape(), Shape, op, ": '", argA, "' ", shapeStr(a.shape()), " and '", argB, "' ",
            shapeStr(b.shape()), " must have the same shape");
}

void requireFinite(const char* op, const char* arg, double v) {
  DGC_CHECK(std::isfinite(v), Value, op, ": argument '", arg, "' must be finite, got ", v);
}

// A double that must survive the conversion to float32 as a finite number.
void requireFiniteFloat(const char* op, const char* arg, double v) {
  requireFinite(op, arg, v);
  DGC_CHECK(std::fabs(v) <= double(std::numeric_limits<float>::max()), Value, op, ": argument '", arg, "' = ", v,
            " overflows float32 (|value| <= ", std::numeric_limits<float>::max(), ")");
}

Tensor like(const Tensor& x) { return Tensor::empty(x.shape(), x.dtype(), x.device()); }

int32_t checkedInt32(const char* op, const char* what, int64_t v) {
  DGC_CHECK(v >= 0 && v <= std::numeric_limits<int32_t>::max(), Shape, op, ": ", what, " = ", v,
            " does not fit the int32 indices CSR uses (at most 2^31 - 1)");
  return static_cast<int32_t>(v);
}

CsrMatrix upload(const graph::CsrHost& h, Device device) {
  CsrMatrix m;
  m.rows = h.rows;
  m.cols = h.cols;
  m.nnz = h.nnz();
  m.indptr = fromHost(h.indptr.data(), {h.rows + 1}, DType::I32, device);
  m.indices = fromHost(h.indices.data(), {m.nnz}, DType::I32, device);
  m.values = fromHost(h.values.data(), {m.nnz}, DType::F32, device);
  return m;
}

graph::CsrHost download(const CsrMatrix& a) {
  graph::CsrHost h;
  h.rows = a.rows;
  h.cols = a.cols;
  h.indptr.resize(static_cast<size_t>(a.rows + 1));
  h.indices.resize(static_cast<size_t>(a.nnz));
  h.values.resize(static_cast<size_t>(a.nnz));
  toHost(a.indptr, h.indptr.data());
  toHost(a.indices, h.indices.data());
  toHost(a.values, h.values.data());
  return h;
}

}  // namespace

// ---- creation and transfer ---------------------------------------------------------------------------
Tensor fromHost(const void* data, const Shape& shape, DType dtype, Device device) {
  Tensor t = Tensor::empty(shape, dtype, device);
  if (t.numel() > 0) backendFor(device).copyFromHost(t, data);
  return t;
}

void toHost(const Tensor& t, void* dst) {
  requireDefined("toHost", "tensor", t);
  if (t.numel() > 0) backendFor(t.device()).copyToHost(dst, t);
}

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  if (dtype == DType::F32) {
    requireFiniteFloat("full", "value", value);
  } else {
    DGC_CHECK(value == std::floor(value) && value >= std::numeric_limits<int32_t>::min() &&
                  value <= std::numeric_limits<int32_t>::max(),
              Value, "full: argument 'value' = ", value, " is not an int32 (an integer in [-2^31, 2^31 - 1])");
  }
  Tensor t = Tensor::empty(shape, dtype, device);
  if (t.numel() > 0) backendFor(device).fill(t, value);
  return t;
}

Tensor clone(const Tensor& x) {
  requireDefined("clone", "x", x);
  Tensor out = like(x);
  if (x.numel() > 0) backendFor(x.device()).copy(out, x);
  return out;
}

RowSparseInfo attachRowSparse(const Tensor& x, double maxDensity) {
  requireMatrix("attachRowSparse", "x", x);
  requireF32("attachRowSparse", "x", x);
  DGC_CHECK(maxDensity >= 0.0 && maxDensity <= 1.0, Value, "attachRowSparse: 'maxDensity' must be in [0, 1], got ",
            maxDensity);
  RowSparseInfo info;
  if (x.numel() == 0) return info;
  if (x.device() != Device::CPU) {  // the CUDA products are dense: nothing to index, density not measured
    info.density = std::numeric_limits<double>::quiet_NaN();
    return info;
  }
  if (const auto& existing = x.buffer()->rowSparse()) {
    if (existing->rows == x.dim(0) && existing->cols == x.dim(1)) {
      info.density = double(existing->nnz()) / double(x.numel());
      info.attached = true;
      info.indexBytes = int64_t(existing->bytes());
      return info;
    }
    fail(ErrorCode::Shape, "attachRowSparse: the buffer of ", x.describe(), " already has an index for shape [",
         existing->rows, ", ", existing->cols, "] (a reshaped view)");
  }
  info.density = double(countNonzeros(x.f32(), x.dim(0), x.dim(1))) / double(x.numel());
  if (info.density > maxDensity) return info;
  auto index = buildRowSparseIndex(x.f32(), x.dim(0), x.dim(1));
  info.indexBytes = int64_t(index->bytes());
  x.buffer()->setRowSparse(std::move(index));
  info.attached = true;
  return info;
}

Tensor to(const Tensor& x, Device device) {
  requireDefined("to", "x", x);
  if (x.device() == device) return clone(x);
  // One copy, straight into (or out of) the host tensor; between two non-host devices, through the host.
  if (device == Device::CPU) {
    Tensor out = Tensor::empty(x.shape(), x.dtype(), Device::CPU);
    toHost(x, out.raw());
    return out;
  }
  if (x.device() == Device::CPU) return fromHost(x.raw(), x.shape(), x.dtype(), device);
  std::vector<char> host(x.nbytes());
  toHost(x, host.data());
  return fromHost(host.data(), x.shape(), x.dtype(), device);
}

// ---- dense linear algebra ----------------------------------------------------------------------------
Tensor matmul(const Tensor& a, const Tensor& b, bool transA, bool transB, float alpha) {
  requireMatrix("matmul", "a", a);
  requireMatrix("matmul", "b", b);
  requireSameDevice("matmul", "a", a, "b", b);
  requireFinite("matmul", "alpha", alpha);
  const int64_t m = transA ? a.dim(1) : a.dim(0), ka = transA ? a.dim(0) : a.dim(1);
  const int64_t kb = transB ? b.dim(1) : b.dim(0), n = transB ? b.dim(0) : b.dim(1);
  DGC_CHECK(ka == kb, Shape, "matmul: inner dimensions differ: op(a) is ", m, "x", ka, " (a ", shapeStr(a.shape()),
            transA ? ", transposed" : "", ") but op(b) is ", kb, "x", n, " (b ", shapeStr(b.shape()),
            transB ? ", transposed" : "", ")");
  Tensor c = Tensor::empty({m, n}, DType::F32, a.device());
  if (c.numel() > 0) backendFor(a.device()).gemm(transA, transB, alpha, a, b, 0.0f, c);
  return c;
}

Tensor transpose(const Tensor& x) {
  requireMatrix("transpose", "x", x);
  Tensor out = Tensor::empty({x.dim(1), x.dim(0)}, DType::F32, x.device());
  if (x.numel() > 0) backendFor(x.device()).transpose(x, out);
  return out;
}

// ---- sparse ------------------------------------------------------------------------------------------
CsrMatrix csrFromEdges(int64_t n, const int32_t* src, const int32_t* dst, const float* weights, int64_t nEdges,
                       const GraphOptions& opts, Device device) {
  checkedInt32("csrFromEdges", "n", n);
  DGC_CHECK(nEdges >= 0, Arg, "csrFromEdges: negative edge count ", nEdges);
  for (int64_t e = 0; e < nEdges; ++e) {
    DGC_CHECK(src[e] >= 0 && src[e] < n, Index, "csrFromEdges: edge ", e, " has source ", src[e],
              " outside [0, ", n, ")");
    DGC_CHECK(dst[e] >= 0 && dst[e] < n, Index, "csrFromEdges: edge ", e, " has target ", dst[e],
              " outside [0, ", n, ")");
    if (weights) {
      DGC_CHECK(std::isfinite(weights[e]) && weights[e] >= 0, Value, "csrFromEdges: edge ", e, " has weight ",
                weights[e], "; weights must be finite and >= 0");
    }
  }
  // Worst case after symmetrization and self loops: 2 · nEdges + n entries.
  checkedInt32("csrFromEdges", "the number of nonzeros (2 · edges + n, worst case)", 2 * nEdges + n);
  graph::GraphOptions o;
  o.symmetrize = opts.symmetrize;
  o.selfLoops = opts.selfLoops;
  o.norm = opts.norm == Normalization::Row ? graph::Normalization::Row
           : opts.norm == Normalization::Sym ? graph::Normalization::Sym
                                              : graph::Normalization::None;
  return upload(graph::csrFromEdges(n, src, dst, weights, nEdges, o), device);
}

CsrMatrix csrFromArrays(int64_t rows, int64_t cols, const int32_t* indptr, const int32_t* indices,
                        const float* values, int64_t nnz, Device device) {
  checkedInt32("csrFromArrays", "rows", rows);
  checkedInt32("csrFromArrays", "cols", cols);
  checkedInt32("csrFromArrays", "nnz", nnz);
  std::string problem = graph::csrValidate(rows, cols, indptr, indices, nnz);
  DGC_CHECK(problem.empty(), Index, "csrFromArrays: ", problem);
  for (int64_t e = 0; e < nnz; ++e) {
    DGC_CHECK(std::isfinite(values[e]), Value, "csrFromArrays: values[", e, "] = ", values[e], " is not finite");
  }
  CsrMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.nnz = nnz;
  m.indptr = fromHost(indptr, {rows + 1}, DType::I32, device);
  m.indices = fromHost(indices, {nnz}, DType::I32, device);
  m.values = fromHost(values, {nnz}, DType::F32, device);
  return m;
}

CsrMatrix csrTranspose(const CsrMatrix& a) {
  // Built once per graph on the host (O(nnz)), then kept on the device: not a per-step cost.
  return upload(graph::csrTranspose(download(a)), a.device());
}

Tensor spmm(const CsrMatrix& a, const Tensor& h) {
  requireMatrix("spmm", "h", h);
  DGC_CHECK(a.values.defined(), Disposed, "spmm: the sparse matrix was disposed");
  DGC_CHECK(a.device() == h.device(), Device, "spmm: the sparse matrix is on ", deviceName(a.device()),
            " but 'h' is on ", deviceName(h.device()));
  DGC_CHECK(h.dim(0) == a.cols, Shape, "spmm: the sparse matrix is ", a.rows, "x", a.cols, " but 'h' is ",
            shapeStr(h.shape()), " (needs ", a.cols, " rows)");
  Tensor out = Tensor::empty({a.rows, h.dim(1)}, DType::F32, h.device());
  if (out.numel() > 0) backendFor(h.device()).spmm(a, h, out);
  return out;
}

// ---- fused layer steps -------------------------------------------------------------------------------
namespace {
void checkActivation(const char* op, Activation act, float param) {
  requireFinite(op, "param", param);
  // The gradient is taken from the output: that needs the output's sign to be the input's.
  DGC_CHECK(act != Activation::LeakyRelu || param >= 0.0f, Value, op, ": the leaky ReLU slope must be >= 0, got ",
            param);
}
}  // namespace

Tensor matmulBiasAct(const Tensor& a, const Tensor& b, bool transA, bool transB, const Tensor* bias, Activation act,
                     float param) {
  const char* op = "matmulBiasAct";
  requireMatrix(op, "a", a);
  requireMatrix(op, "b", b);
  requireSameDevice(op, "a", a, "b", b);
  checkActivation(op, act, param);
  const int64_t m = transA ? a.dim(1) : a.dim(0), ka = transA ? a.dim(0) : a.dim(1);
  const int64_t kb = transB ? b.dim(1) : b.dim(0), n = transB ? b.dim(0) : b.dim(1);
  DGC_CHECK(ka == kb, Shape, op, ": inner dimensions differ: op(a) is ", m, "x", ka, " (a ", shapeStr(a.shape()),
            transA ? ", transposed" : "", ") but op(b) is ", kb, "x", n, " (b ", shapeStr(b.shape()),
            transB ? ", transposed" : "", ")");
  if (bias) {
    requireF32(op, "bias", *bias);
    requireSameDevice(op, "a", a, "bias", *bias);
    DGC_CHECK(bias->rank() == 1 && bias->dim(0) == n, Shape, op, ": 'bias' must have shape [", n,
              "] (one value per output column), got ", shapeStr(bias->shape()));
  }
  Tensor c = Tensor::empty({m, n}, DType::F32, a.device());
  if (c.numel() > 0) backendFor(a.device()).gemmBiasAct(transA, transB, a, b, bias, act, param, c);
  return c;
}

Tensor spmmAct(const CsrMatrix& a, const Tensor& h, Activation act, float param) {
  checkActivation("spmm", act, param);
  if (act == Activation::None) return spmm(a, h);
  requireMatrix("spmm", "h", h);
  DGC_CHECK(a.values.defined(), Disposed, "spmm: the sparse matrix was disposed");
  DGC_CHECK(a.device() == h.device(), Device, "spmm: the sparse matrix is on ", deviceName(a.device()),
            " but 'h' is on ", deviceName(h.device()));
  DGC_CHECK(h.dim(0) == a.cols, Shape, "spmm: the sparse matrix is ", a.rows, "x", a.cols, " but 'h' is ",
            shapeStr(h.shape()), " (needs ", a.cols, " rows)");
  Tensor out = Tensor::empty({a.rows, h.dim(1)}, DType::F32, h.device());
  if (out.numel() > 0) backendFor(h.device()).spmmAct(a, h, act, param, out);
  return out;
}

std::vector<Tensor> activationGrad(Activation act, float param, const Tensor& y, const Tensor& dy, bool wantBias) {
  const char* op = "activationGrad";
  requireMatrix(op, "y", y);
  requireMatrix(op, "dy", dy);
  requireSameShape(op, "y", y, "dy", dy);
  checkActivation(op, act, param);
  Tensor dx = like(dy);
  Tensor db;
  if (wantBias) db = Tensor::empty({dy.dim(1)}, DType::F32, dy.device());
  if (dy.numel() > 0) {
    backendFor(dy.device()).activationGrad(act, param, y, dy, dx, wantBias ? &db : nullptr);
  } else if (wantBias && db.numel() > 0) {
    backendFor(dy.device()).fill(db, 0.0);  // no rows: the bias gradient is 0
  }
  return {dx, db};
}

// ---- elementwise -------------------------------------------------------------------------------------
Tensor unary(Unary op, const Tensor& x, float param) {
  requireF32("unary", "x", x);
  requireFinite("unary", "param", param);
  Tensor out = like(x);
  if (x.numel() > 0) backendFor(x.device()).unary(op, x, param, out);
  return out;
}

Tensor unaryGrad(Unary op, const Tensor& xy, const Tensor& dy, float param) {
  requireF32("unaryGrad", "xy", xy);
  requireF32("unaryGrad", "dy", dy);
  requireFinite("unaryGrad", "param", param);
  requireSameShape("unaryGrad", "xy", xy, "dy", dy);
  Tensor dx = like(dy);
  if (dy.numel() > 0) backendFor(dy.device()).unaryGrad(op, xy, dy, param, dx);
  return dx;
}

Tensor binary(Binary op, const Tensor& a, const Tensor& b) {
  requireF32("binary", "a", a);
  requireF32("binary", "b", b);
  requireSameShape("binary", "a", a, "b", b);
  Tensor out = like(a);
  if (a.numel() > 0) backendFor(a.device()).binary(op, a, b, out);
  return out;
}

Tensor affine(const Tensor& x, float alpha, float beta) {
  requireF32("affine", "x", x);
  requireFinite("affine", "alpha", alpha);
  requireFinite("affine", "beta", beta);
  Tensor out = like(x);
  if (x.numel() > 0) backendFor(x.device()).affine(x, alpha, beta, out);
  return out;
}

Tensor axpby(float alpha, const Tensor& a, float beta, const Tensor& b) {
  requireF32("axpby", "a", a);
  requireF32("axpby", "b", b);
  requireSameShape("axpby", "a", a, "b", b);
  requireFinite("axpby", "alpha", alpha);
  requireFinite("axpby", "beta", beta);
  Tensor out = like(a);
  if (a.numel() > 0) backendFor(a.device()).axpby(alpha, a, beta, b, out);
  return out;
}

Tensor mulScalar(const Tensor& x, const Tensor& s) {
  requireF32("mulScalar", "x", x);
  requireScalar("mulScalar", "s", s);
  requireSameDevice("mulScalar", "x", x, "s", s);
  Tensor out = like(x);
  if (x.numel() > 0) backendFor(x.device()).mulScalar(x, s, out);
  return out;
}

namespace {
void checkRowVector(const char* op, const Tensor& x, const Tensor& v, bool alongRows) {
  requireMatrix(op, "x", x);
  requireF32(op, "v", v);
  requireRank(op, "v", v, 1);
  requireSameDevice(op, "x", x, "v", v);
  const int64_t want = alongRows ? x.dim(1) : x.dim(0);
  DGC_CHECK(v.dim(0) == want, Shape, op, ": 'v' has ", v.dim(0), " elements but 'x' ", shapeStr(x.shape()),
            " needs ", want, alongRows ? " (one per column)" : " (one per row)");
}
}  // namespace

Tensor addRowVector(const Tensor& x, const Tensor& v) {
  checkRowVector("addRowVector", x, v, true);
  Tensor out = like(x);
  if (x.numel() > 0) backendFor(x.device()).addRowVector(x, v, out);
  return out;
}

Tensor mulRowVector(const Tensor& x, const Tensor& v) {
  checkRowVector("mulRowVector", x, v, true);
  Tensor out = like(x);
  if (x.numel() > 0) backendFor(x.device()).mulRowVector(x, v, out);
  return out;
}

Tensor mulColVector(const Tensor& x, const Tensor& v) {
  checkRowVector("mulColVector", x, v, false);
  Tensor out = like(x);
  if (x.numel() > 0) backendFor(x.device()).mulColVector(x, v, out);
  return out;
}

Tensor expandRows(const Tensor& v, int64_t rows) {
  requireF32("expandRows", "v", v);
  requireRank("expandRows", "v", v, 1);
  DGC_CHECK(rows >= 0, Arg, "expandRows: rows must be >= 0, got ", rows);
  Tensor out = Tensor::empty({rows, v.dim(0)}, DType::F32, v.device());
  if (out.numel() > 0) backendFor(v.device()).expandRows(v, out);
  return out;
}

Tensor expandCols(const Tensor& v, int64_t cols) {
  requireF32("expandCols", "v", v);
  requireRank("expandCols", "v", v, 1);
  DGC_CHECK(cols >= 0, Arg, "expandCols: cols must be >= 0, got ", cols);
  Tensor out = Tensor::empty({v.dim(0), cols}, DType::F32, v.device());
  if (out.numel() > 0) backendFor(v.device()).expandCols(v, out);
  return out;
}

Tensor expandScalar(const Tensor& s, const Shape& shape) {
  requireScalar("expandScalar", "s", s);
  Tensor out = Tensor::empty(shape, DType::F32, s.device());
  if (out.numel() > 0) backendFor(s.device()).expandScalar(s, out);
  return out;
}

// ---- reductions --------------------------------------------------------------------------------------
Tensor rowSum(const Tensor& x) {
  requireMatrix("rowSum", "x", x);
  Tensor out = Tensor::empty({x.dim(0)}, DType::F32, x.device());
  if (out.numel() > 0) backendFor(x.device()).rowSum(x, out);
  return out;
}

Tensor colSum(const Tensor& x) {
  requireMatrix("colSum", "x", x);
  Tensor out = Tensor::empty({x.dim(1)}, DType::F32, x.device());
  if (out.numel() > 0) backendFor(x.device()).colSum(x, out);
  return out;
}

Tensor sumAll(const Tensor& x) {
  requireF32("sumAll", "x", x);
  Tensor out = Tensor::empty({}, DType::F32, x.device());
  backendFor(x.device()).sumAll(x, out);
  return out;
}

Tensor argmaxRows(const Tensor& x) {
  requireMatrix("argmaxRows", "x", x);
  DGC_CHECK(x.dim(1) > 0 || x.dim(0) == 0, Shape, "argmaxRows: 'x' ", shapeStr(x.shape()), " has no columns");
  Tensor out = Tensor::empty({x.dim(0)}, DType::I32, x.device());
  if (out.numel() > 0) backendFor(x.device()).argmaxRows(x, out);
  return out;
}

Tensor softmaxRows(const Tensor& x, bool log) {
  const char* op = log ? "logSoftmaxRows" : "softmaxRows";
  requireMatrix(op, "x", x);
  Tensor out = like(x);
  if (x.numel() > 0) backendFor(x.device()).softmaxRows(x, log, out);
  return out;
}

Tensor softmaxRowsGrad(const Tensor& y, const Tensor& dy, bool log) {
  const char* op = log ? "logSoftmaxRowsGrad" : "softmaxRowsGrad";
  requireMatrix(op, "y", y);
  requireMatrix(op, "dy", dy);
  requireSameShape(op, "y", y, "dy", dy);
  Tensor dx = like(y);
  if (y.numel() > 0) backendFor(y.device()).softmaxRowsGrad(y, dy, log, dx);
  return dx;
}

// ---- shape and indexing ------------------------------------------------------------------------------
Tensor concatCols(const std::vector<Tensor>& xs) {
  DGC_CHECK(!xs.empty(), Arg, "concatCols: needs at least one tensor");
  int64_t cols = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const std::string arg = str("xs[", i, "]");
    requireMatrix("concatCols", arg.c_str(), xs[i]);
    requireSameDevice("concatCols", "xs[0]", xs[0], arg.c_str(), xs[i]);
    DGC_CHECK(xs[i].dim(0) == xs[0].dim(0), Shape, "concatCols: ", arg, " has ", xs[i].dim(0),
              " rows but xs[0] has ", xs[0].dim(0));
    cols += xs[i].dim(1);
  }
  Tensor out = Tensor::empty({xs[0].dim(0), cols}, DType::F32, xs[0].device());
  if (out.numel() > 0) backendFor(out.device()).concatCols(xs, out);
  return out;
}

Tensor sliceCols(const Tensor& x, int64_t start, int64_t end) {
  requireMatrix("sliceCols", "x", x);
  DGC_CHECK(0 <= start && start <= end && end <= x.dim(1), Index, "sliceCols: columns [", start, ", ", end,
            ") are not a range inside the ", x.dim(1), " columns of 'x' ", shapeStr(x.shape()));
  Tensor out = Tensor::empty({x.dim(0), end - start}, DType::F32, x.device());
  if (out.numel() > 0) backendFor(x.device()).sliceCols(x, start, out);
  return out;
}

Tensor padCols(const Tensor& src, int64_t start, int64_t cols) {
  requireMatrix("padCols", "src", src);
  DGC_CHECK(start >= 0 && start + src.dim(1) <= cols, Index, "padCols: 'src' ", shapeStr(src.shape()),
            " placed at column ", start, " does not fit in ", cols, " columns");
  Tensor out = full({src.dim(0), cols}, 0.0, DType::F32, src.device());
  if (src.numel() > 0) backendFor(src.device()).addIntoCols(src, start, out);
  return out;
}

namespace {
void checkIndices(const char* op, const Tensor& idx, int64_t limit) {
  requireI32(op, "idx", idx);
  requireRank(op, "idx", idx, 1);
  Tensor host = idx.device() == Device::CPU ? idx : to(idx, Device::CPU);
  const int32_t* p = host.i32();
  for (int64_t i = 0; i < host.numel(); ++i) {
    DGC_CHECK(p[i] >= 0 && p[i] < limit, Index, op, ": idx[", i, "] = ", p[i], " is outside [0, ", limit, ")");
  }
}
}  // namespace

Tensor gatherRows(const Tensor& x, const Tensor& idx) {
  requireMatrix("gatherRows", "x", x);
  checkIndices("gatherRows", idx, x.dim(0));
  requireSameDevice("gatherRows", "x", x, "idx", idx);
  Tensor out = Tensor::empty({idx.dim(0), x.dim(1)}, DType::F32, x.device());
  if (out.numel() > 0) backendFor(x.device()).gatherRows(x, idx, out);
  return out;
}

Tensor scatterAddRows(const Tensor& src, const Tensor& idx, int64_t rows) {
  requireMatrix("scatterAddRows", "src", src);
  DGC_CHECK(rows >= 0, Arg, "scatterAddRows: rows must be >= 0, got ", rows);
  checkIndices("scatterAddRows", idx, rows);
  requireSameDevice("scatterAddRows", "src", src, "idx", idx);
  DGC_CHECK(idx.dim(0) == src.dim(0), Shape, "scatterAddRows: 'idx' has ", idx.dim(0), " entries but 'src' has ",
            src.dim(0), " rows");
  Tensor out = full({rows, src.dim(1)}, 0.0, DType::F32, src.device());
  if (src.numel() > 0) backendFor(src.device()).scatterAddRows(src, idx, out);
  return out;
}

// ---- losses ------------------------------------------------------------------------------------------
Tensor mse(const Tensor& a, const Tensor& b) {
  requireF32("mse", "a", a);
  requireF32("mse", "b", b);
  requireSameShape("mse", "a", a, "b", b);
  DGC_CHECK(a.numel() > 0, Shape, "mse: the mean of an empty tensor is undefined (a is ", shapeStr(a.shape()), ")");
  Tensor out = Tensor::empty({}, DType::F32, a.device());
  backendFor(a.device()).mse(a, b, out);
  return out;
}

Tensor mseGrad(const Tensor& a, const Tensor& b, const Tensor& g) {
  requireF32("mseGrad", "a", a);
  requireF32("mseGrad", "b", b);
  requireSameShape("mseGrad", "a", a, "b", b);
  requireScalar("mseGrad", "g", g);
  requireSameDevice("mseGrad", "a", a, "g", g);
  Tensor da = like(a);
  if (a.numel() > 0) backendFor(a.device()).mseGrad(a, b, g, da);
  return da;
}

Tensor bceWithLogits(const Tensor& logits, const Tensor& target) {
  requireF32("bceWithLogits", "logits", logits);
  requireF32("bceWithLogits", "target", target);
  requireSameShape("bceWithLogits", "logits", logits, "target", target);
  DGC_CHECK(logits.numel() > 0, Shape, "bceWithLogits: the mean of an empty tensor is undefined");
  Tensor out = Tensor::empty({}, DType::F32, logits.device());
  backendFor(logits.device()).bceWithLogits(logits, target, out);
  return out;
}

Tensor bceWithLogitsGrad(const Tensor& logits, const Tensor& target, const Tensor& g) {
  requireF32("bceWithLogitsGrad", "logits", logits);
  requireF32("bceWithLogitsGrad", "target", target);
  requireSameShape("bceWithLogitsGrad", "logits", logits, "target", target);
  requireScalar("bceWithLogitsGrad", "g", g);
  requireSameDevice("bceWithLogitsGrad", "logits", logits, "g", g);
  Tensor dl = like(logits);
  if (logits.numel() > 0) backendFor(logits.device()).bceWithLogitsGrad(logits, target, g, dl);
  return dl;
}

// ---- optimizers --------------------------------------------------------------------------------------
void adamStep(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamParams& p) {
  requireF32("adamStep", "param", param);
  requireF32("adamStep", "grad", grad);
  requireSameShape("adamStep", "param", param, "grad", grad);
  requireSameShape("adamStep", "param", param, "m", m);
  requireSameShape("adamStep", "param", param, "v", v);
  requireF32("adamStep", "m", m);
  requireF32("adamStep", "v", v);
  DGC_CHECK(std::isfinite(p.lr) && p.lr >= 0, Value, "adamStep: lr must be finite and >= 0, got ", p.lr);
  DGC_CHECK(p.beta1 >= 0 && p.beta1 < 1, Value, "adamStep: beta1 must be in [0, 1), got ", p.beta1);
  DGC_CHECK(p.beta2 >= 0 && p.beta2 < 1, Value, "adamStep: beta2 must be in [0, 1), got ", p.beta2);
  DGC_CHECK(p.eps > 0 && std::isfinite(p.eps), Value, "adamStep: eps must be > 0, got ", p.eps);
  DGC_CHECK(std::isfinite(p.weightDecay) && p.weightDecay >= 0, Value, "adamStep: weightDecay must be >= 0, got ",
            p.weightDecay);
  DGC_CHECK(p.step >= 1, Value, "adamStep: step must be >= 1 (1-based), got ", p.step);
  if (param.numel() > 0) backendFor(param.device()).adamStep(param, grad, m, v, p);
}

void sgdStep(Tensor& param, const Tensor& grad, Tensor* velocity, float lr, float momentum, float weightDecay) {
  requireF32("sgdStep", "param", param);
  requireF32("sgdStep", "grad", grad);
  requireSameShape("sgdStep", "param", param, "grad", grad);
  DGC_CHECK(std::isfinite(lr) && lr >= 0, Value, "sgdStep: lr must be finite and >= 0, got ", lr);
  DGC_CHECK(momentum >= 0 && momentum < 1, Value, "sgdStep: momentum must be in [0, 1), got ", momentum);
  DGC_CHECK(std::isfinite(weightDecay) && weightDecay >= 0, Value, "sgdStep: weightDecay must be >= 0, got ",
            weightDecay);
  if (momentum > 0) {
    DGC_CHECK(velocity != nullptr && velocity->defined(), Arg, "sgdStep: momentum > 0 needs a velocity tensor");
    requireF32("sgdStep", "velocity", *velocity);
    requireSameShape("sgdStep", "param", param, "velocity", *velocity);
  }
  if (param.numel() > 0) backendFor(param.device()).sgdStep(param, grad, momentum > 0 ? velocity : nullptr, lr,
                                                             momentum, weightDecay);
}

// ---- clustering head and attention: shared checks --------------------------------------------------------
namespace {
// NaN / Inf in an embedding would poison every assignment silently: refuse it. Host tensors are scanned here;
// on another device the backend scans (Backend::findOutside: on the GPU, a reduction that reads back one index,
// so these ops synchronize the device's stream).
// Index of the first NaN or ±Inf in p[0, n), or -1. Scans blocks of 4096 with a branch-free test on the exponent
// bits (all ones: Inf or NaN) that the compiler vectorizes; only a block that has one is searched element by
// element. (A plain loop with an early exit ran at ~1 element per cycle: 20 µs for a 3025×20 embedding, as long
// as the Student-t kernel it guarded.)
int64_t firstNonFinite(const float* p, int64_t n) {
  constexpr int64_t kBlock = 4096;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    uint32_t bad = 0;
    for (int64_t i = b; i < e; ++i) {
      uint32_t u;
      std::memcpy(&u, p + i, sizeof u);
      bad |= static_cast<uint32_t>((u & 0x7f800000u) == 0x7f800000u);
    }
    if (bad) {
      for (int64_t i = b; i < e; ++i)
        if (!std::isfinite(p[i])) return i;
    }
  }
  return -1;
}

void requireAllFinite(const char* op, const char* arg, const Tensor& t) {
  if (t.device() != Device::CPU) {
    float v = 0.0f;
    const float big = std::numeric_limits<float>::max();
    const int64_t i = t.numel() > 0 ? backendFor(t.device()).findOutside(t, -big, big, &v) : -1;
    if (i >= 0) {
      const int64_t cols = t.rank() == 2 ? t.dim(1) : t.numel();
      fail(ErrorCode::Value, op, ": argument '", arg, "' has a non-finite value (", v, ") at row ", i / cols,
           ", column ", i % cols, " of ", shapeStr(t.shape()));
    }
    return;
  }
  const float* p = t.f32();
  const int64_t i = firstNonFinite(p, t.numel());
  if (i >= 0) {
    const int64_t cols = t.rank() == 2 ? t.dim(1) : t.numel();
    fail(ErrorCode::Value, op, ": argument '", arg, "' has a non-finite value (", p[i], ") at row ", i / cols,
         ", column ", i % cols, " of ", shapeStr(t.shape()));
  }
}

void requireNu(const char* op, double nu) {
  DGC_CHECK(std::isfinite(nu) && nu > 0, Value, op, ": the degrees of freedom nu must be finite and > 0, got ", nu);
}

void requireScale(const char* op, double scale) {
  DGC_CHECK(std::isfinite(scale), Value, op, ": 'scale' must be finite, got ", scale);
}

// z n×d and mu k×d with k ≥ 1, both finite.
void checkEmbeddingAndCentres(const char* op, const char* zArg, const Tensor& z, const Tensor& mu) {
  requireMatrix(op, zArg, z);
  requireMatrix(op, "mu", mu);
  requireSameDevice(op, zArg, z, "mu", mu);
  DGC_CHECK(mu.dim(0) >= 1, Shape, op, ": 'mu' has K = 0 cluster centres (shape ", shapeStr(mu.shape()),
            "); K must be at least 1");
  DGC_CHECK(mu.dim(1) == z.dim(1), Shape, op, ": '", zArg, "' ", shapeStr(z.shape()), " has ", z.dim(1),
            " columns but the centres 'mu' ", shapeStr(mu.shape()), " have ", mu.dim(1));
  requireAllFinite(op, zArg, z);
  requireAllFinite(op, "mu", mu);
}

// p n×k, finite and >= 0.
void checkTarget(const char* op, const Tensor& p, int64_t n, int64_t k, const Tensor& z) {
  requireMatrix(op, "p", p);
  requireSameDevice(op, "z", z, "p", p);
  DGC_CHECK(p.dim(0) == n && p.dim(1) == k, Shape, op, ": 'p' is ", shapeStr(p.shape()), " but needs ", n, "x", k,
            " (one row per embedding row, one column per centre)");
  requireAllFinite(op, "p", p);
  if (p.device() == Device::CPU) {
    // Branch-free over blocks (vectorizes); a block with a negative entry is then searched for the first one.
    const float* v = p.f32();
    const int64_t total = p.numel();
    for (int64_t b = 0; b < total; b += 4096) {
      const int64_t e = std::min(total, b + 4096);
      int bad = 0;
      for (int64_t i = b; i < e; ++i) bad |= static_cast<int>(v[i] < 0.0f);
      if (!bad) continue;
      for (int64_t i = b; i < e; ++i)
        DGC_CHECK(v[i] >= 0, Value, op, ": 'p' must be non-negative, got ", v[i], " at row ", i / k, ", column ", i % k);
    }
  } else if (p.numel() > 0) {
    float v = 0.0f;
    const int64_t i = backendFor(p.device()).findOutside(p, 0.0f, std::numeric_limits<float>::infinity(), &v);
    DGC_CHECK(i < 0, Value, op, ": 'p' must be non-negative, got ", v, " at row ", i / k, ", column ", i % k);
  }
}
}  // namespace

// ---- attention ---------------------------------------------------------------------------------------
namespace {
void checkAttention(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, double scale) {
  requireMatrix(op, "q", q);
  requireMatrix(op, "k", k);
  requireMatrix(op, "v", v);
  requireSameDevice(op, "q", q, "k", k);
  requireSameDevice(op, "q", q, "v", v);
  DGC_CHECK(heads >= 1, Arg, op, ": heads must be >= 1, got ", heads);
  DGC_CHECK(q.dim(1) == k.dim(1), Shape, op, ": 'q' ", shapeStr(q.shape()), " and 'k' ", shapeStr(k.shape()),
            " must have the same number of columns");
  DGC_CHECK(k.dim(0) == v.dim(0), Shape, op, ": 'k' ", shapeStr(k.shape()), " and 'v' ", shapeStr(v.shape()),
            " must have the same number of rows (one value per key)");
  DGC_CHECK(q.dim(1) % heads == 0 && q.dim(1) >= heads, Shape, op, ": the ", q.dim(1), " columns of 'q' do not split into ",
            heads, " heads");
  DGC_CHECK(v.dim(1) % heads == 0 && v.dim(1) >= heads, Shape, op, ": the ", v.dim(1), " columns of 'v' do not split into ",
            heads, " heads");
  requireFiniteFloat(op, "scale", scale);
  requireAllFinite(op, "q", q);
  requireAllFinite(op, "k", k);
  requireAllFinite(op, "v", v);
}
}  // namespace

std::vector<Tensor> attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, double scale) {
  checkAttention("attention", q, k, v, heads, scale);
  Tensor out = Tensor::empty({q.dim(0), v.dim(1)}, DType::F32, q.device());
  Tensor lse = Tensor::empty({q.dim(0), heads}, DType::F32, q.device());
  if (q.dim(0) > 0) backendFor(q.device()).attentionForward(q, k, v, heads, float(scale), out, lse);
  return {out, lse};
}

std::vector<Tensor> attentionBackward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                      const Tensor& lse, const Tensor& dout, int64_t heads, double scale) {
  const char* op = "attentionBackward";
  checkAttention(op, q, k, v, heads, scale);
  requireMatrix(op, "out", out);
  requireMatrix(op, "lse", lse);
  requireSameDevice(op, "q", q, "out", out);
  requireSameDevice(op, "q", q, "lse", lse);
  requireSameShape(op, "out", out, "dout", dout);
  requireF32(op, "dout", dout);
  DGC_CHECK(out.dim(0) == q.dim(0) && out.dim(1) == v.dim(1), Shape, op, ": 'out' is ", shapeStr(out.shape()),
            " but needs ", q.dim(0), "x", v.dim(1));
  DGC_CHECK(lse.dim(0) == q.dim(0) && lse.dim(1) == heads, Shape, op, ": 'lse' is ", shapeStr(lse.shape()),
            " but needs ", q.dim(0), "x", heads);
  Tensor dq = like(q), dk = like(k), dv = like(v);
  backendFor(q.device()).attentionBackward(q, k, v, out, lse, dout, heads, float(scale), dq, dk, dv);
  return {dq, dk, dv};
}

std::vector<Tensor> selfCorrelation(const Tensor& z) {
  requireMatrix("selfCorrelation", "z", z);
  DGC_CHECK(z.dim(1) >= 1, Shape, "selfCorrelation: 'z' ", shapeStr(z.shape()), " has no columns");
  requireAllFinite("selfCorrelation", "z", z);
  Tensor out = like(z);
  Tensor lse = Tensor::empty({z.dim(0), 1}, DType::F32, z.device());
  if (z.dim(0) > 0) backendFor(z.device()).selfCorrelationForward(z, out, lse);
  return {out, lse};
}

Tensor selfCorrelationBackward(const Tensor& z, const Tensor& out, const Tensor& lse, const Tensor& dout) {
  const char* op = "selfCorrelationBackward";
  requireMatrix(op, "z", z);
  requireSameShape(op, "z", z, "out", out);
  requireSameShape(op, "z", z, "dout", dout);
  requireF32(op, "out", out);
  requireF32(op, "dout", dout);
  requireMatrix(op, "lse", lse);
  requireSameDevice(op, "z", z, "lse", lse);
  DGC_CHECK(lse.dim(0) == z.dim(0) && lse.dim(1) == 1, Shape, op, ": 'lse' is ", shapeStr(lse.shape()),
            " but needs ", z.dim(0), "x1");
  Tensor dz = like(z);
  if (z.dim(0) > 0) backendFor(z.device()).selfCorrelationBackward(z, out, lse, dout, dz);
  return dz;
}

// ---- graph reconstruction losses ----------------------------------------------------------------------
namespace {
void checkReconTarget(const char* op, const char* arg, const CsrMatrix& a, const Tensor& z) {
  DGC_CHECK(a.values.defined(), Disposed, op, ": the sparse matrix '", arg, "' was disposed");
  DGC_CHECK(a.device() == z.device(), Device, op, ": '", arg, "' is on ", deviceName(a.device()), " but 'z' is on ",
            deviceName(z.device()));
  DGC_CHECK(a.rows == z.dim(0) && a.cols == z.dim(0), Shape, op, ": '", arg, "' is ", a.rows, "x", a.cols,
            " but the embedding has ", z.dim(0), " rows (needs ", z.dim(0), "x", z.dim(0), ")");
}
void checkReconEmbedding(const char* op, const char* arg, const Tensor& z) {
  requireMatrix(op, arg, z);
  DGC_CHECK(z.dim(1) >= 1, Shape, op, ": '", arg, "' ", shapeStr(z.shape()), " has no columns");
  requireAllFinite(op, arg, z);
}
}  // namespace

LossWithGrads gramSigmoidMseLoss(const Tensor& z1, const Tensor& z2, const CsrMatrix& a, bool wantGrads) {
  const char* op = "gramSigmoidMseLoss";
  checkReconEmbedding(op, "z1", z1);
  if (z2.defined()) {
    checkReconEmbedding(op, "z2", z2);
    requireSameDevice(op, "z1", z1, "z2", z2);
    DGC_CHECK(z2.dim(0) == z1.dim(0), Shape, op, ": 'z1' has ", z1.dim(0), " rows but 'z2' has ", z2.dim(0));
  }
  checkReconTarget(op, "a", a, z1);
  DGC_CHECK(z1.dim(0) > 0, Shape, op, ": the mean over 0 pairs is undefined ('z1' has no rows)");
  LossWithGrads r;
  r.loss = Tensor::empty({}, DType::F32, z1.device());
  r.dzs.resize(2);
  if (wantGrads) {
    r.dzs[0] = like(z1);
    if (z2.defined()) r.dzs[1] = like(z2);
  }
  backendFor(z1.device()).gramSigmoidMseLoss(z1, z2.defined() ? &z2 : nullptr, a, 1.0f, r.loss,
                                             wantGrads ? &r.dzs[0] : nullptr,
                                             wantGrads && z2.defined() ? &r.dzs[1] : nullptr);
  return r;
}

LossWithGrads gramSigmoidBceLoss(const Tensor& z, const CsrMatrix& t, bool wantGrads) {
  const char* op = "gramSigmoidBceLoss";
  checkReconEmbedding(op, "z", z);
  checkReconTarget(op, "t", t, z);
  DGC_CHECK(z.dim(0) > 0, Shape, op, ": the mean over 0 pairs is undefined ('z' has no rows)");
  if (t.device() == Device::CPU) {
    const float* v = t.values.f32();
    for (int64_t e = 0; e < t.nnz; ++e)
      DGC_CHECK(v[e] >= 0 && v[e] <= 1, Value, op, ": the target 't' must hold values in [0, 1], entry ", e, " is ",
                v[e]);
  } else if (t.nnz > 0) {
    float v = 0.0f;
    const int64_t e = backendFor(t.device()).findOutside(t.values, 0.0f, 1.0f, &v);
    DGC_CHECK(e < 0, Value, op, ": the target 't' must hold values in [0, 1], entry ", e, " is ", v);
  }
  LossWithGrads r;
  r.loss = Tensor::empty({}, DType::F32, z.device());
  if (wantGrads) r.dzs.push_back(like(z));
  backendFor(z.device()).gramSigmoidBceLoss(z, t, 1.0f, r.loss, wantGrads ? &r.dzs[0] : nullptr);
  return r;
}

// ---- k-means -------------------------------------------------------------------------------------------
KMeansOutput kmeans(const Tensor& x, const KMeansParams& p) {
  requireMatrix("kmeans", "x", x);
  const int64_t n = x.dim(0);
  DGC_CHECK(x.dim(1) >= 1, Shape, "kmeans: 'x' ", shapeStr(x.shape()), " has no columns");
  DGC_CHECK(p.k >= 1 && p.k <= n, Arg, "kmeans: k = ", p.k, " must be in [1, n] = [1, ", n, "]");
  DGC_CHECK(p.nInit >= 1, Arg, "kmeans: nInit = ", p.nInit, " must be >= 1");
  DGC_CHECK(p.maxIter >= 1, Arg, "kmeans: maxIter = ", p.maxIter, " must be >= 1");
  DGC_CHECK(std::isfinite(p.tol) && p.tol >= 0, Value, "kmeans: tol must be finite and >= 0, got ", p.tol);
  requireAllFinite("kmeans", "x", x);
  KMeansOutput out;
  out.centers = Tensor::empty({p.k, x.dim(1)}, DType::F32, x.device());
  out.labels = Tensor::empty({n}, DType::I32, x.device());
  backendFor(x.device()).kmeans(x, p, out.centers, out.labels, out.inertia, out.iterations);
  return out;
}

// ---- kNN graph -------------------------------------------------------------------------------------------
Tensor knnGraph(const Tensor& x, int64_t k, KnnMetric metric, bool sdcnOrder) {
  requireMatrix("knnGraph", "x", x);
  const int64_t n = x.dim(0);
  DGC_CHECK(n >= 2, Shape, "knnGraph: 'x' ", shapeStr(x.shape()), " needs at least 2 rows");
  DGC_CHECK(x.dim(1) >= 1, Shape, "knnGraph: 'x' ", shapeStr(x.shape()), " has no columns");
  DGC_CHECK(k >= 1 && k <= n - 1, Arg, "knnGraph: k = ", k, " must be in [1, n - 1] = [1, ", n - 1, "]");
  DGC_CHECK(!sdcnOrder || metric == KnnMetric::Heat, Arg,
            "knnGraph: the SDCN line order is defined for the heat metric only");
  requireAllFinite("knnGraph", "x", x);
  Tensor nb = Tensor::empty({n, k}, DType::I32, x.device());
  backendFor(x.device()).knnGraph(x, k, static_cast<int>(metric), sdcnOrder, nb);
  return nb;
}

// ---- clustering head ----------------------------------------------------------------------------------
Tensor studentT(const Tensor& z, const Tensor& mu, double nu) {
  checkEmbeddingAndCentres("studentT", "z", z, mu);
  requireNu("studentT", nu);
  Tensor q = Tensor::empty({z.dim(0), mu.dim(0)}, DType::F32, z.device());
  if (q.numel() > 0) backendFor(z.device()).studentT(z, mu, nu, q);
  return q;
}

std::vector<Tensor> studentTBackward(const Tensor& z, const Tensor& mu, double nu, const Tensor& q, const Tensor& dq,
                                     bool wantZ, bool wantMu) {
  const char* op = "studentTBackward";
  checkEmbeddingAndCentres(op, "z", z, mu);
  requireNu(op, nu);
  requireMatrix(op, "q", q);
  requireSameDevice(op, "z", z, "q", q);
  requireSameShape(op, "q", q, "dq", dq);
  requireF32(op, "dq", dq);
  DGC_CHECK(q.dim(0) == z.dim(0) && q.dim(1) == mu.dim(0), Shape, op, ": 'q' is ", shapeStr(q.shape()), " but needs ",
            z.dim(0), "x", mu.dim(0));
  Tensor dz, dmu;
  if (wantZ) dz = Tensor::empty(z.shape(), DType::F32, z.device());
  if (wantMu) dmu = Tensor::empty(mu.shape(), DType::F32, z.device());
  backendFor(z.device()).studentTBackward(z, mu, nu, q, dq, wantZ ? &dz : nullptr, wantMu ? &dmu : nullptr);
  return {dz, dmu};
}

Tensor targetDistribution(const Tensor& q) {
  requireMatrix("targetDistribution", "q", q);
  requireAllFinite("targetDistribution", "q", q);
  Tensor p = like(q);
  if (q.numel() > 0) backendFor(q.device()).targetDistribution(q, p);
  return p;
}

namespace {
// klStudentT / klStudentTSelf: 1 or 3 embeddings with the same rows, each matching the centres; ν and scale.
void checkKlArgs(const char* op, const std::vector<Tensor>& zs, const Tensor& mu, double nu, double scale) {
  DGC_CHECK(zs.size() == 1 || zs.size() == 3, Arg, op, ": takes 1 embedding (KL) or 3 (DFCN's triplet KL), got ",
            zs.size());
  for (size_t t = 0; t < zs.size(); ++t) {
    const std::string arg = str("z[", t, "]");
    checkEmbeddingAndCentres(op, arg.c_str(), zs[t], mu);
    DGC_CHECK(zs[t].dim(0) == zs[0].dim(0), Shape, op, ": ", arg, " has ", zs[t].dim(0), " rows but z[0] has ",
              zs[0].dim(0));
  }
  requireNu(op, nu);
  requireScale(op, scale);
}

// The loss tensor and, when wanted, one gradient per embedding and one for the centres; returns the gradient
// pointers the backends take (null entries when no gradient is wanted).
std::vector<Tensor*> allocKlOutputs(const std::vector<Tensor>& zs, const Tensor& mu, bool wantGrads, LossWithGrads& r) {
  r.loss = Tensor::empty({}, DType::F32, mu.device());
  std::vector<Tensor*> dzPtrs(zs.size(), nullptr);
  if (wantGrads) {
    r.dzs.reserve(zs.size());
    for (const Tensor& z : zs) r.dzs.push_back(Tensor::empty(z.shape(), DType::F32, z.device()));
    for (size_t t = 0; t < zs.size(); ++t) dzPtrs[t] = &r.dzs[t];
    r.dmu = Tensor::empty(mu.shape(), DType::F32, mu.device());
  }
  return dzPtrs;
}
}  // namespace

LossWithGrads klStudentT(const std::vector<Tensor>& zs, const Tensor& mu, double nu, const Tensor& p, double scale,
                         bool wantGrads) {
  const char* op = "klStudentT";
  checkKlArgs(op, zs, mu, nu, scale);
  checkTarget(op, p, zs[0].dim(0), mu.dim(0), zs[0]);
  LossWithGrads r;
  const std::vector<Tensor*> dzPtrs = allocKlOutputs(zs, mu, wantGrads, r);
  backendFor(mu.device()).klStudentT(zs, mu, nu, p, scale, r.loss, dzPtrs, wantGrads ? &r.dmu : nullptr);
  return r;
}

SelfTargetKl klStudentTSelf(const std::vector<Tensor>& zs, const Tensor& mu, double nu, double scale, bool wantGrads) {
  const char* op = "klStudentTSelf";
  checkKlArgs(op, zs, mu, nu, scale);
  const int64_t n = zs[0].dim(0), k = mu.dim(0);
  SelfTargetKl r;
  r.q = Tensor::empty({n, k}, DType::F32, mu.device());
  r.p = Tensor::empty({n, k}, DType::F32, mu.device());
  const std::vector<Tensor*> dzPtrs = allocKlOutputs(zs, mu, wantGrads, r.kl);
  if (n == 0) {
    // Nothing to assign: loss 0, empty q and p, zero gradients (as klStudentT on n = 0).
    backendFor(mu.device()).klStudentT(zs, mu, nu, r.p, scale, r.kl.loss, dzPtrs, wantGrads ? &r.kl.dmu : nullptr);
    return r;
  }
  backendFor(mu.device()).klStudentTSelf(zs, mu, nu, scale, r.q, r.p, r.kl.loss, dzPtrs,
                                         wantGrads ? &r.kl.dmu : nullptr);
  return r;
}

LossWithGrads focalStudentT(const Tensor& z, const Tensor& mu, double nu, const Tensor& p, double gamma, double scale,
                            bool wantGrads) {
  const char* op = "focalStudentT";
  checkEmbeddingAndCentres(op, "z", z, mu);
  requireNu(op, nu);
  requireScale(op, scale);
  DGC_CHECK(std::isfinite(gamma) && gamma >= 0, Value, op, ": gamma must be finite and >= 0, got ", gamma);
  checkTarget(op, p, z.dim(0), mu.dim(0), z);
  LossWithGrads r;
  r.loss = Tensor::empty({}, DType::F32, z.device());
  if (wantGrads) {
    r.dzs.push_back(Tensor::empty(z.shape(), DType::F32, z.device()));
    r.dmu = Tensor::empty(mu.shape(), DType::F32, z.device());
  }
  backendFor(z.device()).focalStudentT(z, mu, nu, p, gamma, scale, r.loss, wantGrads ? &r.dzs[0] : nullptr,
                                       wantGrads ? &r.dmu : nullptr);
  return r;
}

namespace {
// CDC works on mini-batches: the b×b scratch is dense by design (its kernels are over the pairs of a batch), so
// b is bounded.
constexpr int64_t kMaxPairBatch = 8192;
void checkPairBatch(const char* op, const char* arg, const Tensor& y) {
  requireMatrix(op, arg, y);
  DGC_CHECK(y.dim(0) <= kMaxPairBatch, Shape, op, ": '", arg, "' has ", y.dim(0), " rows; pairwise kernels are dense ",
            "O(b^2) and take mini-batches of at most ", kMaxPairBatch, " rows");
  requireAllFinite(op, arg, y);
}
}  // namespace

Tensor pairAffinity(const Tensor& y, double nu) {
  checkPairBatch("pairAffinity", "y", y);
  requireNu("pairAffinity", nu);
  Tensor c = Tensor::empty({y.dim(0), y.dim(0)}, DType::F32, y.device());
  if (c.numel() > 0) backendFor(y.device()).pairAffinity(y, nu, c);
  return c;
}

Tensor pairAffinityBackward(const Tensor& y, double nu, const Tensor& dc) {
  checkPairBatch("pairAffinityBackward", "y", y);
  requireNu("pairAffinityBackward", nu);
  requireMatrix("pairAffinityBackward", "dc", dc);
  requireSameDevice("pairAffinityBackward", "y", y, "dc", dc);
  DGC_CHECK(dc.dim(0) == y.dim(0) && dc.dim(1) == y.dim(0), Shape, "pairAffinityBackward: 'dc' is ",
            shapeStr(dc.shape()), " but needs ", y.dim(0), "x", y.dim(0));
  Tensor dy = like(y);
  if (y.numel() > 0) backendFor(y.device()).pairAffinityBackward(y, nu, dc, dy);
  return dy;
}

LossWithGrads cdcCorrelationLoss(const Tensor& ya, const Tensor& yb, double nu, double scale, bool wantA, bool wantB) {
  const char* op = "cdcCorrelationLoss";
  checkPairBatch(op, "ya", ya);
  checkPairBatch(op, "yb", yb);
  requireSameDevice(op, "ya", ya, "yb", yb);
  DGC_CHECK(ya.dim(0) == yb.dim(0), Shape, op, ": 'ya' has ", ya.dim(0), " rows but 'yb' has ", yb.dim(0));
  requireNu(op, nu);
  requireScale(op, scale);
  LossWithGrads r;
  r.loss = Tensor::empty({}, DType::F32, ya.device());
  r.dzs.resize(2);
  if (wantA) r.dzs[0] = like(ya);
  if (wantB) r.dzs[1] = like(yb);
  backendFor(ya.device()).cdcCorrelationLoss(ya, yb, nu, scale, r.loss, wantA ? &r.dzs[0] : nullptr,
                                             wantB ? &r.dzs[1] : nullptr);
  return r;
}

// ---- contractive penalty ----------------------------------------------------------------------------------
LossWithGrads contractivePenalty(const std::vector<Tensor>& weights, const std::vector<Tensor>& hidden, int64_t rows,
                                 double scale, int form, bool wantGrads) {
  const char* op = "contractivePenalty";
  DGC_CHECK(!weights.empty(), Arg, op, ": 'weights' must hold at least one weight matrix, got none");
  DGC_CHECK(hidden.size() + 1 == weights.size(), Arg, op, ": an encoder of ", weights.size(),
            " layers has ", weights.size() - 1, " hidden activations, but 'hidden' holds ", hidden.size());
  DGC_CHECK(rows >= 0, Arg, op, ": 'rows' must be >= 0, got ", rows);
  DGC_CHECK(form >= 0 && form <= 2, Arg, op, ": 'form' must be 0 (auto), 1 (direct) or 2 (gram), got ", form);
  requireScale(op, scale);
  const Device dev = weights[0].device();
  for (size_t l = 0; l < weights.size(); ++l) {
    const std::string arg = "weights[" + std::to_string(l) + "]";
    requireMatrix(op, arg.c_str(), weights[l]);
    requireSameDevice(op, "weights[0]", weights[0], arg.c_str(), weights[l]);
    DGC_CHECK(weights[l].dim(0) >= 1 && weights[l].dim(1) >= 1, Shape, op, ": '", arg, "' is ",
              shapeStr(weights[l].shape()), "; every layer needs at least one input and one output");
    if (l > 0) {
      DGC_CHECK(weights[l].dim(1) == weights[l - 1].dim(0), Shape, op, ": '", arg, "' ", shapeStr(weights[l].shape()),
                " takes ", weights[l].dim(1), " inputs but 'weights[", l - 1, "]' ", shapeStr(weights[l - 1].shape()),
                " has ", weights[l - 1].dim(0), " outputs");
    }
    requireAllFinite(op, arg.c_str(), weights[l]);
  }
  for (size_t l = 0; l < hidden.size(); ++l) {
    const std::string arg = "hidden[" + std::to_string(l) + "]";
    requireMatrix(op, arg.c_str(), hidden[l]);
    requireSameDevice(op, "weights[0]", weights[0], arg.c_str(), hidden[l]);
    DGC_CHECK(hidden[l].dim(0) == rows && hidden[l].dim(1) == weights[l].dim(0), Shape, op, ": '", arg, "' is ",
              shapeStr(hidden[l].shape()), " but must be ", rows, "x", weights[l].dim(0), " (rows x outputs of 'weights[",
              l, "]')");
  }
  LossWithGrads r;
  r.loss = Tensor::empty({}, DType::F32, dev);
  std::vector<Tensor*> dw(weights.size(), nullptr);
  if (wantGrads) {
    r.dzs.reserve(weights.size());
    for (const Tensor& w : weights) r.dzs.push_back(like(w));
    for (size_t l = 0; l < weights.size(); ++l) dw[l] = &r.dzs[l];
  }
  backendFor(dev).contractivePenalty(weights, hidden, rows, scale, form, r.loss, dw);
  return r;
}

// ---- attention-weighted fusion (AGCN) ---------------------------------------------------------------------
namespace {
constexpr size_t kMaxFusionBlocks = 8;  // as native/cpu/fusion.h

// The blocks (1..8 float32 matrices, same rows and device, equal widths unless concat), w (m × Σ widths) and the
// slope; returns Σ widths.
int64_t checkFusionArgs(const char* op, const std::vector<Tensor>& xs, const Tensor& w, double slope, bool concat) {
  DGC_CHECK(!xs.empty() && xs.size() <= kMaxFusionBlocks, Arg, op, ": takes 1 to ", kMaxFusionBlocks,
            " blocks, got ", xs.size());
  int64_t total = 0;
  for (size_t k = 0; k < xs.size(); ++k) {
    const std::string arg = str("xs[", k, "]");
    requireMatrix(op, arg.c_str(), xs[k]);
    requireSameDevice(op, "xs[0]", xs[0], arg.c_str(), xs[k]);
    DGC_CHECK(xs[k].dim(0) == xs[0].dim(0), Shape, op, ": ", arg, " has ", xs[k].dim(0), " rows but xs[0] has ",
              xs[0].dim(0));
    DGC_CHECK(concat || xs[k].dim(1) == xs[0].dim(1), Shape, op, ": mode 'sum' needs blocks of equal width, but ", arg,
              " is ", shapeStr(xs[k].shape()), " and xs[0] is ", shapeStr(xs[0].shape()));
    total += xs[k].dim(1);
  }
  const int64_t m = static_cast<int64_t>(xs.size());
  requireMatrix(op, "w", w);
  requireSameDevice(op, "xs[0]", xs[0], "w", w);
  DGC_CHECK(w.dim(0) == m && w.dim(1) == total, Shape, op, ": 'w' is ", shapeStr(w.shape()), " but ", m,
            " blocks of ", total, " columns in all need ", m, "x", total);
  requireFiniteFloat(op, "slope", slope);
  return total;
}

void requireRowsByBlocks(const char* op, const char* arg, const Tensor& t, const std::vector<Tensor>& xs) {
  requireMatrix(op, arg, t);
  requireSameDevice(op, "xs[0]", xs[0], arg, t);
  DGC_CHECK(t.dim(0) == xs[0].dim(0) && t.dim(1) == static_cast<int64_t>(xs.size()), Shape, op, ": '", arg, "' is ",
            shapeStr(t.shape()), " but needs ", xs[0].dim(0), "x", xs.size());
}
}  // namespace

std::vector<Tensor> attentionFusion(const std::vector<Tensor>& xs, const Tensor& w, const Tensor& b, double slope,
                                    bool concat) {
  const char* op = "attentionFusion";
  const int64_t total = checkFusionArgs(op, xs, w, slope, concat);
  const int64_t n = xs[0].dim(0), m = static_cast<int64_t>(xs.size());
  requireF32(op, "b", b);
  requireRank(op, "b", b, 1);
  requireSameDevice(op, "xs[0]", xs[0], "b", b);
  DGC_CHECK(b.dim(0) == m, Shape, op, ": 'b' is ", shapeStr(b.shape()), " but needs [", m, "]");
  const Device dev = xs[0].device();
  Tensor out = Tensor::empty({n, concat ? total : xs[0].dim(1)}, DType::F32, dev);
  Tensor u = Tensor::empty({n, m}, DType::F32, dev);
  Tensor t = Tensor::empty({n, m}, DType::F32, dev);
  if (n > 0) backendFor(dev).attentionFusionForward(xs, w, b, static_cast<float>(slope), concat, out, u, t);
  return {out, u, t};
}

std::vector<Tensor> attentionFusionBackward(const std::vector<Tensor>& xs, const Tensor& w, const Tensor& u,
                                            const Tensor& t, double slope, bool concat, const Tensor& dout) {
  const char* op = "attentionFusionBackward";
  const int64_t total = checkFusionArgs(op, xs, w, slope, concat);
  const int64_t n = xs[0].dim(0), m = static_cast<int64_t>(xs.size());
  requireRowsByBlocks(op, "u", u, xs);
  requireRowsByBlocks(op, "t", t, xs);
  requireMatrix(op, "dout", dout);
  requireSameDevice(op, "xs[0]", xs[0], "dout", dout);
  const int64_t width = concat ? total : xs[0].dim(1);
  DGC_CHECK(dout.dim(0) == n && dout.dim(1) == width, Shape, op, ": 'dout' is ", shapeStr(dout.shape()),
            " but needs ", n, "x", width);
  const Device dev = xs[0].device();
  std::vector<Tensor> grads;
  grads.reserve(xs.size() + 2);
  for (const Tensor& x : xs) grads.push_back(like(x));
  grads.push_back(Tensor::empty({m, total}, DType::F32, dev));
  grads.push_back(Tensor::empty({m}, DType::F32, dev));
  if (n == 0) {
    backendFor(dev).fill(grads[xs.size()], 0.0);
    backendFor(dev).fill(grads[xs.size() + 1], 0.0);
    return grads;
  }
  std::vector<Tensor*> dxs;
  for (size_t k = 0; k < xs.size(); ++k) dxs.push_back(&grads[k]);
  backendFor(dev).attentionFusionBackward(xs, w, u, t, static_cast<float>(slope), concat, dout, dxs,
                                          grads[xs.size()], grads[xs.size() + 1]);
  return grads;
}

LossWithGrads rowKlClipped(const Tensor& a, const Tensor& b, double scale, bool wantA, bool wantB) {
  const char* op = "rowKlClipped";
  requireMatrix(op, "a", a);
  requireMatrix(op, "b", b);
  requireSameShape(op, "a", a, "b", b);
  requireAllFinite(op, "a", a);
  requireAllFinite(op, "b", b);
  requireScale(op, scale);
  LossWithGrads r;
  r.loss = Tensor::empty({}, DType::F32, a.device());
  r.dzs.resize(2);
  if (wantA) r.dzs[0] = like(a);
  if (wantB) r.dzs[1] = like(b);
  if (a.numel() == 0) {
    backendFor(a.device()).fill(r.loss, 0.0);
    return r;
  }
  backendFor(a.device()).rowKlClipped(a, b, scale, r.loss, wantA ? &r.dzs[0] : nullptr, wantB ? &r.dzs[1] : nullptr);
  return r;
}

LossWithGrads cdcPairLoss(const Tensor& ya, const Tensor& yb, double nu, double scale, bool global, bool sharpen,
                          bool wantA, bool wantB) {
  const char* op = "cdcPairLoss";
  checkPairBatch(op, "ya", ya);
  checkPairBatch(op, "yb", yb);
  requireSameDevice(op, "ya", ya, "yb", yb);
  DGC_CHECK(ya.dim(0) == yb.dim(0), Shape, op, ": 'ya' has ", ya.dim(0), " rows but 'yb' has ", yb.dim(0));
  // Over the pairs i ≠ j a batch of one row has nothing to normalise.
  DGC_CHECK(!global || ya.dim(0) >= 2, Shape, op, ": the global normalisation needs at least 2 rows, got ",
            ya.dim(0));
  requireNu(op, nu);
  requireScale(op, scale);
  LossWithGrads r;
  r.loss = Tensor::empty({}, DType::F32, ya.device());
  r.dzs.resize(2);
  if (wantA) r.dzs[0] = like(ya);
  if (wantB) r.dzs[1] = like(yb);
  if (ya.dim(0) == 0) {
    // Nothing to compare: zero loss, zero-size gradients.
    backendFor(ya.device()).fill(r.loss, 0.0);
    return r;
  }
  backendFor(ya.device()).cdcPairLoss(ya, yb, nu, scale, global, sharpen, r.loss, wantA ? &r.dzs[0] : nullptr,
                                      wantB ? &r.dzs[1] : nullptr);
  return r;
}

// ---- random ------------------------------------------------------------------------------------------
Tensor randomUniform(const Shape& shape, float low, float high, uint64_t seed, uint64_t stream, Device device) {
  requireFinite("randomUniform", "low", low);
  requireFinite("randomUniform", "high", high);
  DGC_CHECK(low <= high, Value, "randomUniform: low ", low, " > high ", high);
  Tensor out = Tensor::empty(shape, DType::F32, device);
  if (out.numel() > 0) backendFor(device).randomUniform(out, low, high, seed, stream);
  return out;
}

Tensor randomNormal(const Shape& shape, float mean, float std, uint64_t seed, uint64_t stream, Device device) {
  requireFinite("randomNormal", "mean", mean);
  DGC_CHECK(std::isfinite(std) && std >= 0, Value, "randomNormal: std must be finite and >= 0, got ", std);
  Tensor out = Tensor::empty(shape, DType::F32, device);
  if (out.numel() > 0) backendFor(device).randomNormal(out, mean, std, seed, stream);
  return out;
}

}  // namespace ops
}  // namespace dgc
