// One binding per op: read and check the arguments (Args), call the op front (core/ops.h), wrap the result.
#include <cstring>
#include <cmath>

#include "../core/cuda_status.h"
#include "../core/thread_pool.h"
#include "../cpu/attention.h"
#include "../cpu/gemm_kernels.h"
#include "../cpu/recon.h"
#include "../cpu/sparse.h"
#include "addon.h"
#include "guard.h"

namespace dgc {
namespace addon {
namespace {

using Info = Napi::CallbackInfo;

Napi::Value wrap(Napi::Env env, Tensor t) { return TensorWrap::New(env, std::move(t)); }

Unary unaryByName(const char* op, const std::string& name) {
  if (name == "relu") return Unary::Relu;
  if (name == "leakyRelu") return Unary::LeakyRelu;
  if (name == "tanh") return Unary::Tanh;
  if (name == "sigmoid") return Unary::Sigmoid;
  if (name == "exp") return Unary::Exp;
  if (name == "log") return Unary::Log;
  if (name == "square") return Unary::Square;
  fail(ErrorCode::Arg, op, ": unknown unary op '", name, "' (relu, leakyRelu, tanh, sigmoid, exp, log, square)");
}

Binary binaryByName(const char* op, const std::string& name) {
  if (name == "add") return Binary::Add;
  if (name == "sub") return Binary::Sub;
  if (name == "mul") return Binary::Mul;
  if (name == "div") return Binary::Div;
  fail(ErrorCode::Arg, op, ": unknown binary op '", name, "' (add, sub, mul, div)");
}

// A JS seed: a non-negative integer up to 2^53 − 1 (what a JS number holds exactly).
constexpr int64_t kMaxSafeInteger = (int64_t(1) << 53) - 1;

// ---- creation and transfer ---------------------------------------------------------------------------

// fromTypedArray(data: Float32Array | Int32Array, shape: number[], device?: 'cpu' | 'cuda')
Napi::Value FromTypedArray(const Info& info) {
  Args a(info, "tensor", 2, 3);
  Napi::TypedArray arr = a.typedArray(0, "data");
  DType dtype;
  if (arr.TypedArrayType() == napi_float32_array) dtype = DType::F32;
  else if (arr.TypedArrayType() == napi_int32_array) dtype = DType::I32;
  else a.bad(0, "data", "a Float32Array or Int32Array");
  Shape shape = a.shape(1, "shape");
  DGC_CHECK(shapeNumel(shape) == int64_t(arr.ElementLength()), Shape, "tensor: shape ", shapeStr(shape), " holds ",
            shapeNumel(shape), " elements but the data has ", arr.ElementLength());
  const uint8_t* bytes = static_cast<const uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset();
  return wrap(info.Env(), ops::fromHost(bytes, shape, dtype, a.device(2, "device")));
}

// full(shape, value, dtype: 'float32' | 'int32', device?)
Napi::Value Full(const Info& info) {
  Args a(info, "full", 3, 4);
  Shape shape = a.shape(0, "shape");
  const double value = a.number(1, "value");
  const std::string dt = a.string(2, "dtype");
  DGC_CHECK(dt == "float32" || dt == "int32", Arg, "full: dtype must be 'float32' or 'int32', got '", dt, "'");
  return wrap(info.Env(), ops::full(shape, value, dt == "float32" ? DType::F32 : DType::I32, a.device(3, "device")));
}

Napi::Value Reshape(const Info& info) {
  Args a(info, "reshape", 2, 2);
  return wrap(info.Env(), a.tensor(0, "x").reshape(a.shape(1, "shape")));
}

Napi::Value Clone(const Info& info) {
  Args a(info, "clone", 1, 1);
  return wrap(info.Env(), ops::clone(a.tensor(0, "x")));
}

Napi::Value To(const Info& info) {
  Args a(info, "to", 2, 2);
  return wrap(info.Env(), ops::to(a.tensor(0, "x"), a.device(1, "device")));
}

// copyInto(dst, src): overwrites dst's contents with src's (same shape and dtype). For loading state.
Napi::Value CopyInto(const Info& info) {
  Args a(info, "copyInto", 2, 2);
  Tensor& dst = a.mutableTensor(0, "dst");
  const Tensor& src = a.tensor(1, "src");
  DGC_CHECK(dst.shape() == src.shape() && dst.dtype() == src.dtype(), Shape, "copyInto: 'dst' is ", dst.describe(),
            " but 'src' is ", src.describe());
  DGC_CHECK(dst.device() == src.device(), Device, "copyInto: 'dst' is on ", deviceName(dst.device()),
            " but 'src' on ", deviceName(src.device()));
  if (dst.numel() > 0) backendFor(dst.device()).copy(dst, src);
  return info.Env().Undefined();
}

// attachRowSparse(x, maxDensity) → { density, attached, indexBytes } (ops.h): x becomes a constant whose zeros the
// CPU products skip, when at most maxDensity of it is nonzero.
Napi::Value AttachRowSparse(const Info& info) {
  Args a(info, "attachRowSparse", 2, 2);
  const ops::RowSparseInfo r = ops::attachRowSparse(a.tensor(0, "x"), a.number(1, "maxDensity"));
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("density", Napi::Number::New(info.Env(), r.density));
  o.Set("attached", Napi::Boolean::New(info.Env(), r.attached));
  o.Set("indexBytes", Napi::Number::New(info.Env(), double(r.indexBytes)));
  return o;
}

// ---- linear algebra ----------------------------------------------------------------------------------

// matmul(a, b, transA?, transB?, alpha?)
Napi::Value Matmul(const Info& info) {
  Args a(info, "matmul", 2, 5);
  const float alpha = a.has(4) ? static_cast<float>(a.number(4, "alpha")) : 1.0f;
  return wrap(info.Env(), ops::matmul(a.tensor(0, "a"), a.tensor(1, "b"), a.boolean(2, "transA", false),
                                      a.boolean(3, "transB", false), alpha));
}

Napi::Value Transpose(const Info& info) {
  Args a(info, "transpose", 1, 1);
  return wrap(info.Env(), ops::transpose(a.tensor(0, "x")));
}

// ---- sparse ------------------------------------------------------------------------------------------

const int32_t* int32Data(const Args& a, size_t i, const char* name, Napi::TypedArray arr) {
  if (arr.TypedArrayType() != napi_int32_array) a.bad(i, name, "an Int32Array");
  return reinterpret_cast<const int32_t*>(static_cast<const uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset());
}

const float* float32Data(const Args& a, size_t i, const char* name, Napi::TypedArray arr) {
  if (arr.TypedArrayType() != napi_float32_array) a.bad(i, name, "a Float32Array");
  return reinterpret_cast<const float*>(static_cast<const uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset());
}

// csrFromEdges(n, src: Int32Array, dst: Int32Array, weights: Float32Array | null,
//              { symmetrize?, selfLoops?, normalization?: 'none' | 'row' | 'sym' }, device?)
Napi::Value CsrFromEdges(const Info& info) {
  Args a(info, "csrFromEdges", 5, 6);
  const int64_t n = a.integer(0, "n", 0, INT32_MAX);
  Napi::TypedArray src = a.typedArray(1, "src"), dst = a.typedArray(2, "dst");
  const int32_t* ps = int32Data(a, 1, "src", src);
  const int32_t* pd = int32Data(a, 2, "dst", dst);
  DGC_CHECK(src.ElementLength() == dst.ElementLength(), Shape, "csrFromEdges: 'src' has ", src.ElementLength(),
            " entries but 'dst' has ", dst.ElementLength());
  const float* pw = nullptr;
  if (a.has(3)) {
    Napi::TypedArray w = a.typedArray(3, "weights");
    pw = float32Data(a, 3, "weights", w);
    DGC_CHECK(w.ElementLength() == src.ElementLength(), Shape, "csrFromEdges: 'weights' has ", w.ElementLength(),
              " entries but there are ", src.ElementLength(), " edges");
  }
  Napi::Object o = a.object(4, "options");
  ops::GraphOptions opts;
  opts.symmetrize = a.optionBool(o, "symmetrize", true);
  opts.selfLoops = a.optionBool(o, "selfLoops", true);
  Napi::Value norm = o.Get("normalization");
  if (!norm.IsUndefined()) {
    const std::string s = norm.IsString() ? norm.As<Napi::String>().Utf8Value() : "";
    if (s == "none") opts.norm = ops::Normalization::None;
    else if (s == "row") opts.norm = ops::Normalization::Row;
    else if (s == "sym") opts.norm = ops::Normalization::Sym;
    else fail(ErrorCode::Arg, "csrFromEdges: option 'normalization' must be 'none', 'row' or 'sym', got ",
              describeJs(norm));
  }
  auto m = std::make_shared<CsrMatrix>(ops::csrFromEdges(n, ps, pd, pw, int64_t(src.ElementLength()), opts,
                                                         a.device(5, "device")));
  return CsrWrap::New(info.Env(), std::move(m));
}

// csrFromArrays(rows, cols, indptr: Int32Array, indices: Int32Array, values: Float32Array, device?)
Napi::Value CsrFromArrays(const Info& info) {
  Args a(info, "csrFromArrays", 5, 6);
  const int64_t rows = a.integer(0, "rows", 0, INT32_MAX);
  const int64_t cols = a.integer(1, "cols", 0, INT32_MAX);
  Napi::TypedArray ip = a.typedArray(2, "indptr"), ix = a.typedArray(3, "indices"), v = a.typedArray(4, "values");
  const int32_t* pip = int32Data(a, 2, "indptr", ip);
  const int32_t* pix = int32Data(a, 3, "indices", ix);
  const float* pv = float32Data(a, 4, "values", v);
  DGC_CHECK(int64_t(ip.ElementLength()) == rows + 1, Shape, "csrFromArrays: 'indptr' has ", ip.ElementLength(),
            " entries, needs rows + 1 = ", rows + 1);
  DGC_CHECK(ix.ElementLength() == v.ElementLength(), Shape, "csrFromArrays: 'indices' has ", ix.ElementLength(),
            " entries but 'values' has ", v.ElementLength());
  auto m = std::make_shared<CsrMatrix>(
      ops::csrFromArrays(rows, cols, pip, pix, pv, int64_t(ix.ElementLength()), a.device(5, "device")));
  return CsrWrap::New(info.Env(), std::move(m));
}

Activation activationByName(const char* op, const std::string& name) {
  if (name == "none") return Activation::None;
  if (name == "relu") return Activation::Relu;
  if (name == "leakyRelu") return Activation::LeakyRelu;
  fail(ErrorCode::Arg, op, ": unknown activation '", name, "' (none, relu, leakyRelu)");
}

// spmm(a: sparse, h, transpose?, activation?, param?): a·h, or aᵀ·h with a's transpose (built once, kept with
// a); with an activation ('relu', 'leakyRelu' with slope param), act(a·h) in one pass (ops::spmmAct).
Napi::Value Spmm(const Info& info) {
  Args a(info, "spmm", 2, 5);
  CsrWrap& m = a.csr(0, "a");
  const Tensor& h = a.tensor(1, "h");
  const bool t = a.boolean(2, "transpose", false);
  const CsrMatrix& mat = t ? m.transposed("spmm", "a") : m.get("spmm", "a");
  if (!a.has(3)) return wrap(info.Env(), ops::spmm(mat, h));
  const Activation act = activationByName("spmm", a.string(3, "activation"));
  const float p = a.has(4) ? static_cast<float>(a.number(4, "param")) : 0.0f;
  return wrap(info.Env(), ops::spmmAct(mat, h, act, p));
}

// ---- elementwise -------------------------------------------------------------------------------------

// unary(name, x, param?)
Napi::Value UnaryOp(const Info& info) {
  Args a(info, "unary", 2, 3);
  const Unary op = unaryByName("unary", a.string(0, "name"));
  const float p = a.has(2) ? static_cast<float>(a.number(2, "param")) : 0.0f;
  return wrap(info.Env(), ops::unary(op, a.tensor(1, "x"), p));
}

// unaryGrad(name, xy, dy, param?): xy is x, or y for tanh / sigmoid / exp
Napi::Value UnaryGradOp(const Info& info) {
  Args a(info, "unaryGrad", 3, 4);
  const Unary op = unaryByName("unaryGrad", a.string(0, "name"));
  const float p = a.has(3) ? static_cast<float>(a.number(3, "param")) : 0.0f;
  return wrap(info.Env(), ops::unaryGrad(op, a.tensor(1, "xy"), a.tensor(2, "dy"), p));
}

Napi::Value BinaryOp(const Info& info) {
  Args a(info, "binary", 3, 3);
  const Binary op = binaryByName("binary", a.string(0, "name"));
  return wrap(info.Env(), ops::binary(op, a.tensor(1, "a"), a.tensor(2, "b")));
}

Napi::Value Affine(const Info& info) {
  Args a(info, "affine", 3, 3);
  return wrap(info.Env(), ops::affine(a.tensor(0, "x"), float(a.number(1, "alpha")), float(a.number(2, "beta"))));
}

Napi::Value Axpby(const Info& info) {
  Args a(info, "axpby", 4, 4);
  return wrap(info.Env(), ops::axpby(float(a.number(0, "alpha")), a.tensor(1, "a"), float(a.number(2, "beta")),
                                     a.tensor(3, "b")));
}

Napi::Value MulScalar(const Info& info) {
  Args a(info, "mulScalar", 2, 2);
  return wrap(info.Env(), ops::mulScalar(a.tensor(0, "x"), a.tensor(1, "s")));
}

Napi::Value AddRowVector(const Info& info) {
  Args a(info, "addRowVector", 2, 2);
  return wrap(info.Env(), ops::addRowVector(a.tensor(0, "x"), a.tensor(1, "v")));
}

Napi::Value MulRowVector(const Info& info) {
  Args a(info, "mulRowVector", 2, 2);
  return wrap(info.Env(), ops::mulRowVector(a.tensor(0, "x"), a.tensor(1, "v")));
}

Napi::Value MulColVector(const Info& info) {
  Args a(info, "mulColVector", 2, 2);
  return wrap(info.Env(), ops::mulColVector(a.tensor(0, "x"), a.tensor(1, "v")));
}

Napi::Value ExpandRows(const Info& info) {
  Args a(info, "expandRows", 2, 2);
  return wrap(info.Env(), ops::expandRows(a.tensor(0, "v"), a.integer(1, "rows", 0, kMaxSafeInteger)));
}

Napi::Value ExpandCols(const Info& info) {
  Args a(info, "expandCols", 2, 2);
  return wrap(info.Env(), ops::expandCols(a.tensor(0, "v"), a.integer(1, "cols", 0, kMaxSafeInteger)));
}

Napi::Value ExpandScalar(const Info& info) {
  Args a(info, "expandScalar", 2, 2);
  return wrap(info.Env(), ops::expandScalar(a.tensor(0, "s"), a.shape(1, "shape")));
}

// ---- reductions and softmax --------------------------------------------------------------------------

Napi::Value RowSum(const Info& info) {
  Args a(info, "rowSum", 1, 1);
  return wrap(info.Env(), ops::rowSum(a.tensor(0, "x")));
}

Napi::Value ColSum(const Info& info) {
  Args a(info, "colSum", 1, 1);
  return wrap(info.Env(), ops::colSum(a.tensor(0, "x")));
}

Napi::Value SumAll(const Info& info) {
  Args a(info, "sumAll", 1, 1);
  return wrap(info.Env(), ops::sumAll(a.tensor(0, "x")));
}

Napi::Value ArgmaxRows(const Info& info) {
  Args a(info, "argmaxRows", 1, 1);
  return wrap(info.Env(), ops::argmaxRows(a.tensor(0, "x")));
}

Napi::Value SoftmaxRows(const Info& info) {
  Args a(info, "softmaxRows", 1, 2);
  return wrap(info.Env(), ops::softmaxRows(a.tensor(0, "x"), a.boolean(1, "log", false)));
}

Napi::Value SoftmaxRowsGrad(const Info& info) {
  Args a(info, "softmaxRowsGrad", 2, 3);
  return wrap(info.Env(), ops::softmaxRowsGrad(a.tensor(0, "y"), a.tensor(1, "dy"), a.boolean(2, "log", false)));
}

// ---- shape and indexing ------------------------------------------------------------------------------

Napi::Value ConcatCols(const Info& info) {
  Args a(info, "concatCols", 1, 1);
  return wrap(info.Env(), ops::concatCols(a.tensorList(0, "xs")));
}

Napi::Value SliceCols(const Info& info) {
  Args a(info, "sliceCols", 3, 3);
  const Tensor& x = a.tensor(0, "x");
  return wrap(info.Env(), ops::sliceCols(x, a.integer(1, "start", 0, kMaxSafeInteger),
                                         a.integer(2, "end", 0, kMaxSafeInteger)));
}

Napi::Value PadCols(const Info& info) {
  Args a(info, "padCols", 3, 3);
  return wrap(info.Env(), ops::padCols(a.tensor(0, "src"), a.integer(1, "start", 0, kMaxSafeInteger),
                                       a.integer(2, "cols", 0, kMaxSafeInteger)));
}

Napi::Value GatherRows(const Info& info) {
  Args a(info, "gatherRows", 2, 2);
  return wrap(info.Env(), ops::gatherRows(a.tensor(0, "x"), a.tensor(1, "idx")));
}

Napi::Value ScatterAddRows(const Info& info) {
  Args a(info, "scatterAddRows", 3, 3);
  return wrap(info.Env(), ops::scatterAddRows(a.tensor(0, "src"), a.tensor(1, "idx"),
                                              a.integer(2, "rows", 0, kMaxSafeInteger)));
}

// ---- losses ------------------------------------------------------------------------------------------

Napi::Value Mse(const Info& info) {
  Args a(info, "mse", 2, 2);
  return wrap(info.Env(), ops::mse(a.tensor(0, "a"), a.tensor(1, "b")));
}

Napi::Value MseGrad(const Info& info) {
  Args a(info, "mseGrad", 3, 3);
  return wrap(info.Env(), ops::mseGrad(a.tensor(0, "a"), a.tensor(1, "b"), a.tensor(2, "g")));
}

Napi::Value BceWithLogits(const Info& info) {
  Args a(info, "bceWithLogits", 2, 2);
  return wrap(info.Env(), ops::bceWithLogits(a.tensor(0, "logits"), a.tensor(1, "target")));
}

Napi::Value BceWithLogitsGrad(const Info& info) {
  Args a(info, "bceWithLogitsGrad", 3, 3);
  return wrap(info.Env(), ops::bceWithLogitsGrad(a.tensor(0, "logits"), a.tensor(1, "target"), a.tensor(2, "g")));
}

// ---- optimizers --------------------------------------------------------------------------------------

// adamStep(param, grad, m, v, { lr, beta1, beta2, eps, weightDecay, step, decoupled })
Napi::Value AdamStep(const Info& info) {
  Args a(info, "adamStep", 5, 5);
  Napi::Object o = a.object(4, "options");
  AdamParams p;
  p.lr = float(a.optionNumber(o, "lr", p.lr));
  p.beta1 = float(a.optionNumber(o, "beta1", p.beta1));
  p.beta2 = float(a.optionNumber(o, "beta2", p.beta2));
  p.eps = float(a.optionNumber(o, "eps", p.eps));
  p.weightDecay = float(a.optionNumber(o, "weightDecay", p.weightDecay));
  const double step = a.optionNumber(o, "step", 1);
  DGC_CHECK(step == std::floor(step) && step >= 1 && step <= double(kMaxSafeInteger), Value,
            "adamStep: option 'step' must be an integer >= 1, got ", step);
  p.step = int64_t(step);
  p.decoupled = a.optionBool(o, "decoupled", false);
  ops::adamStep(a.mutableTensor(0, "param"), a.tensor(1, "grad"), a.mutableTensor(2, "m"),
                a.mutableTensor(3, "v"), p);
  return info.Env().Undefined();
}

// sgdStep(param, grad, velocity | null, lr, momentum, weightDecay)
Napi::Value SgdStep(const Info& info) {
  Args a(info, "sgdStep", 6, 6);
  Tensor* velocity = a.has(2) ? &a.mutableTensor(2, "velocity") : nullptr;
  ops::sgdStep(a.mutableTensor(0, "param"), a.tensor(1, "grad"), velocity, float(a.number(3, "lr")),
               float(a.number(4, "momentum")), float(a.number(5, "weightDecay")));
  return info.Env().Undefined();
}

// ---- attention ---------------------------------------------------------------------------------------

Napi::Array wrapList(Napi::Env env, std::vector<Tensor> ts) {
  Napi::Array a = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); ++i) a.Set(uint32_t(i), wrap(env, std::move(ts[i])));
  return a;
}

// attention(q, k, v, heads, scale) → [out, lse]
Napi::Value Attention(const Info& info) {
  Args a(info, "attention", 5, 5);
  return wrapList(info.Env(), ops::attention(a.tensor(0, "q"), a.tensor(1, "k"), a.tensor(2, "v"),
                                             a.integer(3, "heads", 1, 1 << 20), a.number(4, "scale")));
}

// attentionBackward(q, k, v, out, lse, dout, heads, scale) → [dq, dk, dv]
Napi::Value AttentionBackward(const Info& info) {
  Args a(info, "attentionBackward", 8, 8);
  return wrapList(info.Env(), ops::attentionBackward(a.tensor(0, "q"), a.tensor(1, "k"), a.tensor(2, "v"),
                                                     a.tensor(3, "out"), a.tensor(4, "lse"), a.tensor(5, "dout"),
                                                     a.integer(6, "heads", 1, 1 << 20), a.number(7, "scale")));
}

// selfCorrelation(z) → [out, lse]
Napi::Value SelfCorrelation(const Info& info) {
  Args a(info, "selfCorrelation", 1, 1);
  return wrapList(info.Env(), ops::selfCorrelation(a.tensor(0, "z")));
}

// selfCorrelationBackward(z, out, lse, dout) → dz
Napi::Value SelfCorrelationBackward(const Info& info) {
  Args a(info, "selfCorrelationBackward", 4, 4);
  return wrap(info.Env(), ops::selfCorrelationBackward(a.tensor(0, "z"), a.tensor(1, "out"), a.tensor(2, "lse"),
                                                       a.tensor(3, "dout")));
}

// ---- clustering head ---------------------------------------------------------------------------------

Napi::Value wrapOrNull(Napi::Env env, Tensor t) { return t.defined() ? wrap(env, std::move(t)) : env.Null(); }

// { loss, dzs: (Tensor | null)[], dmu: Tensor | null }
Napi::Value wrapLoss(Napi::Env env, ops::LossWithGrads r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", wrap(env, std::move(r.loss)));
  Napi::Array dzs = Napi::Array::New(env, r.dzs.size());
  for (size_t i = 0; i < r.dzs.size(); ++i) dzs.Set(uint32_t(i), wrapOrNull(env, std::move(r.dzs[i])));
  o.Set("dzs", dzs);
  o.Set("dmu", wrapOrNull(env, std::move(r.dmu)));
  return o;
}

// gramSigmoidMseLoss(a: sparse, z1, z2 | null, wantGrads) → { loss, dzs: [dz1, dz2 | null] }
Napi::Value GramSigmoidMseLoss(const Info& info) {
  Args a(info, "gramSigmoidMseLoss", 4, 4);
  CsrWrap& m = a.csr(0, "a");
  Tensor z2;
  if (a.has(2)) z2 = a.tensor(2, "z2");
  return wrapLoss(info.Env(), ops::gramSigmoidMseLoss(a.tensor(1, "z1"), z2, m.get("gramSigmoidMseLoss", "a"),
                                                      a.boolean(3, "wantGrads", true)));
}

// gramSigmoidBceLoss(t: sparse, z, wantGrads) → { loss, dzs: [dz] }
Napi::Value GramSigmoidBceLoss(const Info& info) {
  Args a(info, "gramSigmoidBceLoss", 3, 3);
  CsrWrap& m = a.csr(0, "t");
  return wrapLoss(info.Env(), ops::gramSigmoidBceLoss(a.tensor(1, "z"), m.get("gramSigmoidBceLoss", "t"),
                                                      a.boolean(2, "wantGrads", true)));
}

// kmeans(x, { k, nInit?, maxIter?, tol?, seed? }) → { centers, labels, inertia, iterations }
Napi::Value Kmeans(const Info& info) {
  Args a(info, "kmeans", 2, 2);
  const Tensor& x = a.tensor(0, "x");
  Napi::Object o = a.object(1, "options");
  KMeansParams p;
  auto intOption = [&](const char* key, double fallback, double lo, double hi) {
    const double v = a.optionNumber(o, key, fallback);
    DGC_CHECK(v == std::floor(v) && v >= lo && v <= hi, Arg, "kmeans: option '", key, "' must be an integer in [", lo,
              ", ", hi, "], got ", v);
    return v;
  };
  p.k = int64_t(intOption("k", -1, 1, double(INT32_MAX)));
  p.nInit = int(intOption("nInit", 20, 1, 1e6));
  p.maxIter = int(intOption("maxIter", 300, 1, 1e9));
  p.tol = a.optionNumber(o, "tol", 1e-4);
  p.seed = uint64_t(intOption("seed", 0, 0, double(kMaxSafeInteger)));
  ops::KMeansOutput r = ops::kmeans(x, p);
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("centers", wrap(info.Env(), std::move(r.centers)));
  out.Set("labels", wrap(info.Env(), std::move(r.labels)));
  out.Set("inertia", Napi::Number::New(info.Env(), r.inertia));
  out.Set("iterations", Napi::Number::New(info.Env(), r.iterations));
  return out;
}

// knnGraph(x, k, metric: 'heat' | 'cosine' | 'dot', sdcnOrder) → int32 n×k
Napi::Value KnnGraph(const Info& info) {
  Args a(info, "knnGraph", 4, 4);
  const std::string m = a.string(2, "metric");
  ops::KnnMetric metric;
  if (m == "heat") metric = ops::KnnMetric::Heat;
  else if (m == "cosine") metric = ops::KnnMetric::Cosine;
  else if (m == "dot") metric = ops::KnnMetric::Dot;
  else fail(ErrorCode::Arg, "knnGraph: argument 'metric' must be 'heat', 'cosine' or 'dot', got '", m, "'");
  return wrap(info.Env(), ops::knnGraph(a.tensor(0, "x"), a.integer(1, "k", 1, INT32_MAX), metric,
                                        a.boolean(3, "sdcnOrder", false)));
}

// studentT(z, mu, nu)
Napi::Value StudentT(const Info& info) {
  Args a(info, "studentT", 3, 3);
  return wrap(info.Env(), ops::studentT(a.tensor(0, "z"), a.tensor(1, "mu"), a.number(2, "nu")));
}

// studentTBackward(z, mu, nu, q, dq, wantZ, wantMu) → [dz | null, dmu | null]
Napi::Value StudentTBackward(const Info& info) {
  Args a(info, "studentTBackward", 7, 7);
  std::vector<Tensor> g = ops::studentTBackward(a.tensor(0, "z"), a.tensor(1, "mu"), a.number(2, "nu"),
                                                a.tensor(3, "q"), a.tensor(4, "dq"), a.boolean(5, "wantZ", true),
                                                a.boolean(6, "wantMu", true));
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, wrapOrNull(info.Env(), std::move(g[0])));
  out.Set(1u, wrapOrNull(info.Env(), std::move(g[1])));
  return out;
}

Napi::Value TargetDistribution(const Info& info) {
  Args a(info, "targetDistribution", 1, 1);
  return wrap(info.Env(), ops::targetDistribution(a.tensor(0, "q")));
}

// klStudentT(zs: Tensor[1 or 3], mu, nu, p, scale, wantGrads)
Napi::Value KlStudentT(const Info& info) {
  Args a(info, "klStudentT", 6, 6);
  return wrapLoss(info.Env(), ops::klStudentT(a.tensorList(0, "zs"), a.tensor(1, "mu"), a.number(2, "nu"),
                                              a.tensor(3, "p"), a.number(4, "scale"), a.boolean(5, "wantGrads", true)));
}

// klStudentTSelf(zs: Tensor[1 or 3], mu, nu, scale, wantGrads) → { loss, dzs, dmu, q, p }
Napi::Value KlStudentTSelf(const Info& info) {
  Args a(info, "klStudentTSelf", 5, 5);
  ops::SelfTargetKl r = ops::klStudentTSelf(a.tensorList(0, "zs"), a.tensor(1, "mu"), a.number(2, "nu"),
                                            a.number(3, "scale"), a.boolean(4, "wantGrads", true));
  Napi::Object o = wrapLoss(info.Env(), std::move(r.kl)).As<Napi::Object>();
  o.Set("q", wrap(info.Env(), std::move(r.q)));
  o.Set("p", wrap(info.Env(), std::move(r.p)));
  return o;
}

// focalStudentT(z, mu, nu, p, gamma, scale, wantGrads)
Napi::Value FocalStudentT(const Info& info) {
  Args a(info, "focalStudentT", 7, 7);
  return wrapLoss(info.Env(), ops::focalStudentT(a.tensor(0, "z"), a.tensor(1, "mu"), a.number(2, "nu"),
                                                 a.tensor(3, "p"), a.number(4, "gamma"), a.number(5, "scale"),
                                                 a.boolean(6, "wantGrads", true)));
}

// contractivePenalty(weights: Tensor[], hidden: Tensor[], rows, scale, form, wantGrads) → { loss, dzs: dW[], dmu: null }
Napi::Value ContractivePenalty(const Info& info) {
  Args a(info, "contractivePenalty", 6, 6);
  return wrapLoss(info.Env(), ops::contractivePenalty(a.tensorList(0, "weights"), a.tensorList(1, "hidden"),
                                                      a.integer(2, "rows", 0, int64_t(1) << 40), a.number(3, "scale"),
                                                      static_cast<int>(a.integer(4, "form", 0, 2)),
                                                      a.boolean(5, "wantGrads", true)));
}

Napi::Value PairAffinity(const Info& info) {
  Args a(info, "pairAffinity", 2, 2);
  return wrap(info.Env(), ops::pairAffinity(a.tensor(0, "y"), a.number(1, "nu")));
}

Napi::Value PairAffinityBackward(const Info& info) {
  Args a(info, "pairAffinityBackward", 3, 3);
  return wrap(info.Env(), ops::pairAffinityBackward(a.tensor(0, "y"), a.number(1, "nu"), a.tensor(2, "dc")));
}

// cdcCorrelationLoss(ya, yb, nu, scale, wantA, wantB)
Napi::Value CdcCorrelationLoss(const Info& info) {
  Args a(info, "cdcCorrelationLoss", 6, 6);
  return wrapLoss(info.Env(), ops::cdcCorrelationLoss(a.tensor(0, "ya"), a.tensor(1, "yb"), a.number(2, "nu"),
                                                      a.number(3, "scale"), a.boolean(4, "wantA", true),
                                                      a.boolean(5, "wantB", true)));
}

// attentionFusion(xs, w, b, slope, concat) → [out, u, t]
Napi::Value AttentionFusion(const Info& info) {
  Args a(info, "attentionFusion", 5, 5);
  return wrapList(info.Env(), ops::attentionFusion(a.tensorList(0, "xs"), a.tensor(1, "w"), a.tensor(2, "b"),
                                                   a.number(3, "slope"), a.boolean(4, "concat", false)));
}

// attentionFusionBackward(xs, w, u, t, slope, concat, dout) → [dx_0, …, dx_{m−1}, dw, db]
Napi::Value AttentionFusionBackward(const Info& info) {
  Args a(info, "attentionFusionBackward", 7, 7);
  return wrapList(info.Env(), ops::attentionFusionBackward(a.tensorList(0, "xs"), a.tensor(1, "w"), a.tensor(2, "u"),
                                                           a.tensor(3, "t"), a.number(4, "slope"),
                                                           a.boolean(5, "concat", false), a.tensor(6, "dout")));
}

// rowKlClipped(a, b, scale, wantA, wantB)
Napi::Value RowKlClipped(const Info& info) {
  Args a(info, "rowKlClipped", 5, 5);
  return wrapLoss(info.Env(), ops::rowKlClipped(a.tensor(0, "a"), a.tensor(1, "b"), a.number(2, "scale"),
                                                a.boolean(3, "wantA", true), a.boolean(4, "wantB", true)));
}

// cdcPairLoss(ya, yb, nu, scale, normalization: 'row' | 'global', sharpen, wantA, wantB)
Napi::Value CdcPairLoss(const Info& info) {
  Args a(info, "cdcPairLoss", 8, 8);
  const std::string norm = a.string(4, "normalization");
  if (norm != "row" && norm != "global") {
    fail(ErrorCode::Arg, "cdcPairLoss: argument 'normalization' must be 'row' or 'global', got '", norm, "'");
  }
  return wrapLoss(info.Env(), ops::cdcPairLoss(a.tensor(0, "ya"), a.tensor(1, "yb"), a.number(2, "nu"),
                                               a.number(3, "scale"), norm == "global", a.boolean(5, "sharpen", true),
                                               a.boolean(6, "wantA", true), a.boolean(7, "wantB", true)));
}

// ---- random ------------------------------------------------------------------------------------------

// randomUniform(shape, low, high, seed, stream, device?) and randomNormal(shape, mean, std, seed, stream, device?)
Napi::Value RandomUniform(const Info& info) {
  Args a(info, "randomUniform", 5, 6);
  return wrap(info.Env(), ops::randomUniform(a.shape(0, "shape"), float(a.number(1, "low")), float(a.number(2, "high")),
                                             uint64_t(a.integer(3, "seed", 0, kMaxSafeInteger)),
                                             uint64_t(a.integer(4, "stream", 0, kMaxSafeInteger)), a.device(5, "device")));
}

Napi::Value RandomNormal(const Info& info) {
  Args a(info, "randomNormal", 5, 6);
  return wrap(info.Env(), ops::randomNormal(a.shape(0, "shape"), float(a.number(1, "mean")), float(a.number(2, "std")),
                                            uint64_t(a.integer(3, "seed", 0, kMaxSafeInteger)),
                                            uint64_t(a.integer(4, "stream", 0, kMaxSafeInteger)), a.device(5, "device")));
}

// ---- runtime -----------------------------------------------------------------------------------------

// memory(device?) → { tensors, bytes, peakBytes }: live buffers on that device (all tensors, all owners).
Napi::Value Memory(const Info& info) {
  Args a(info, "memory", 0, 1);
  const MemoryStats s = memoryStats(a.device(0, "device", false));
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("tensors", Napi::Number::New(info.Env(), double(s.buffers)));
  o.Set("bytes", Napi::Number::New(info.Env(), double(s.bytes)));
  o.Set("peakBytes", Napi::Number::New(info.Env(), double(s.peakBytes)));
  // Freed blocks the device's caching allocator keeps for reuse (not live tensors).
  o.Set("cachedBytes", Napi::Number::New(info.Env(), a.device(0, "device", false) == Device::CPU
                                                         ? double(cachedMemoryBytes()) : double(cudaCachedBytes())));
  return o;
}

Napi::Value ResetPeakMemory(const Info& info) {
  Args a(info, "resetPeakMemory", 0, 1);
  resetPeakBytes(a.device(0, "device", false));
  return info.Env().Undefined();
}

// releaseCachedMemory(): returns the CPU allocator's cached blocks to the system, and the CUDA allocator's (if
// any) to the driver.
Napi::Value ReleaseCachedMemory(const Info& info) {
  Args a(info, "releaseCachedMemory", 0, 0);
  releaseCachedMemory();
  cudaReleaseCachedMemory();
  return info.Env().Undefined();
}

// synchronize(device = 'cpu'): waits for the work queued on the device (CUDA: its stream); a fault in any earlier op
// surfaces here. For timing GPU work from JavaScript; reading a tensor synchronizes anyway.
Napi::Value Synchronize(const Info& info) {
  Args a(info, "synchronize", 0, 1);
  backendFor(a.device(0, "device")).synchronize();
  return info.Env().Undefined();
}

// cacheLimit() / setCacheLimit(bytes): the most bytes of freed blocks the CPU caching allocator keeps for reuse.
Napi::Value CacheLimit(const Info& info) {
  Args a(info, "cacheLimit", 0, 0);
  return Napi::Number::New(info.Env(), double(cacheLimitBytes()));
}

Napi::Value SetCacheLimit(const Info& info) {
  Args a(info, "setCacheLimit", 1, 1);
  setCacheLimitBytes(size_t(a.integer(0, "bytes", 0, int64_t(1) << 53)));
  return info.Env().Undefined();
}

Napi::Value NumThreads(const Info& info) {
  Args a(info, "numThreads", 0, 0);
  return Napi::Number::New(info.Env(), numThreads());
}

Napi::Value SetNumThreads(const Info& info) {
  Args a(info, "setNumThreads", 1, 1);
  setNumThreads(int(a.integer(0, "n", 1, 256)));
  return info.Env().Undefined();
}

// "13.0" from the CUDA version number 13000.
std::string cudaVersionString(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

// backends() → [{ name, available, reason?, ... }]. For cpu: `threads`, and `kernels`, the SIMD kernel set each
// family runs ({ gemm, attention, recon, spmm }: "avx512" | "avx2" | "generic"/"portable"; DGCLUST_<FAMILY>_KERNEL
// picks another): results are bit-identical across thread counts, but not across kernel sets (another rounding),
// so run files record them. For cuda: `reason` when unavailable; when a device was found
// (even an unusable one) `device` (its name), `memoryBytes`, `computeCapability`, `multiprocessors`; the CUDA
// `driverVersion` / `runtimeVersion` when known; `gemm` ("cublas" | "dgclust") once a GEMM has run.
Napi::Value Backends(const Info& info) {
  Args a(info, "backends", 0, 0);
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  Napi::Object cpu = Napi::Object::New(info.Env());
  cpu.Set("name", "cpu");
  cpu.Set("available", true);
  cpu.Set("threads", Napi::Number::New(info.Env(), numThreads()));
  Napi::Object kernels = Napi::Object::New(info.Env());
  kernels.Set("gemm", dgc::cpu::gemm_detail::activeKernelSetName());
  kernels.Set("attention", dgc::cpu::attention_detail::activeKernelSetName());
  kernels.Set("recon", dgc::cpu::recon_detail::activeKernelSetName());
  kernels.Set("spmm", dgc::cpu::spmmDefaultKernelName());
  cpu.Set("kernels", kernels);
  out.Set(0u, cpu);
  Napi::Object cuda = Napi::Object::New(info.Env());
  cuda.Set("name", "cuda");
  const bool ok = hasBackend(Device::CUDA);
  cuda.Set("available", ok);
  if (!ok) {
    const char* reason = cudaUnavailableReason();
    cuda.Set("reason", reason ? reason : "the CUDA backend is not registered");
  }
  const CudaDeviceInfo dev = cudaDeviceInfo();
  if (!dev.name.empty()) {
    cuda.Set("device", dev.name);
    cuda.Set("ordinal", Napi::Number::New(info.Env(), dev.ordinal));
    cuda.Set("memoryBytes", Napi::Number::New(info.Env(), double(dev.totalBytes)));
    cuda.Set("computeCapability", std::to_string(dev.computeMajor) + "." + std::to_string(dev.computeMinor));
    cuda.Set("multiprocessors", Napi::Number::New(info.Env(), dev.multiprocessors));
  }
  if (dev.driverVersion > 0) cuda.Set("driverVersion", cudaVersionString(dev.driverVersion));
  if (dev.runtimeVersion > 0) cuda.Set("runtimeVersion", cudaVersionString(dev.runtimeVersion));
  const char* gemm = cudaGemmProvider();
  if (gemm && *gemm) cuda.Set("gemm", gemm);
  out.Set(1u, cuda);
  return out;
}

// ---- fused layer steps -------------------------------------------------------------------------------

// matmulBiasAct(a, b, transA, transB, bias | null, activation, param?): act(op(a)·op(b) + bias)
Napi::Value MatmulBiasAct(const Info& info) {
  Args a(info, "matmulBiasAct", 6, 7);
  const Tensor* bias = a.has(4) ? &a.tensor(4, "bias") : nullptr;
  const Activation act = activationByName("matmulBiasAct", a.string(5, "activation"));
  const float p = a.has(6) ? static_cast<float>(a.number(6, "param")) : 0.0f;
  return wrap(info.Env(), ops::matmulBiasAct(a.tensor(0, "a"), a.tensor(1, "b"), a.boolean(2, "transA", false),
                                             a.boolean(3, "transB", false), bias, act, p));
}

// activationGrad(activation, y, dy, param, wantBias): [dx, db | null]
Napi::Value ActivationGrad(const Info& info) {
  Args a(info, "activationGrad", 5, 5);
  const Activation act = activationByName("activationGrad", a.string(0, "activation"));
  std::vector<Tensor> r = ops::activationGrad(act, static_cast<float>(a.number(3, "param")), a.tensor(1, "y"),
                                              a.tensor(2, "dy"), a.boolean(4, "wantBias", false));
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, wrapOrNull(info.Env(), std::move(r[0])));
  out.Set(1u, wrapOrNull(info.Env(), std::move(r[1])));
  return out;
}

// Every binding runs inside guard (C++ exceptions become JS Errors with a code). An allocation that fails deep
// inside an op (an output, or a backend's scratch) only knows its size: the error then gets the op's name in front,
// as every other error message has it ("matmul: out of cuda memory allocating 400000000000 bytes").
template <Napi::Value (*F)(const Info&)>
Napi::Value Guarded(const Info& info) {
  const char* op = static_cast<const char*>(info.Data());
  return guard(info.Env(), [&] {
    try {
      return F(info);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::OOM && op && std::strncmp(e.what(), op, std::strlen(op)) != 0) {
        throw Error(ErrorCode::OOM, str(op, ": ", e.what()));
      }
      throw;
    }
  });
}

}  // namespace

void registerOps(Napi::Env env, Napi::Object exports) {
#define DGC_OP(jsName, fn) \
  exports.Set(jsName, Napi::Function::New<Guarded<fn>>(env, jsName, const_cast<char*>(jsName)))
  DGC_OP("fromTypedArray", FromTypedArray);
  DGC_OP("full", Full);
  DGC_OP("reshape", Reshape);
  DGC_OP("clone", Clone);
  DGC_OP("to", To);
  DGC_OP("copyInto", CopyInto);
  DGC_OP("attachRowSparse", AttachRowSparse);
  DGC_OP("matmul", Matmul);
  DGC_OP("transpose", Transpose);
  DGC_OP("csrFromEdges", CsrFromEdges);
  DGC_OP("csrFromArrays", CsrFromArrays);
  DGC_OP("spmm", Spmm);
  DGC_OP("unary", UnaryOp);
  DGC_OP("unaryGrad", UnaryGradOp);
  DGC_OP("binary", BinaryOp);
  DGC_OP("affine", Affine);
  DGC_OP("axpby", Axpby);
  DGC_OP("mulScalar", MulScalar);
  DGC_OP("addRowVector", AddRowVector);
  DGC_OP("mulRowVector", MulRowVector);
  DGC_OP("mulColVector", MulColVector);
  DGC_OP("expandRows", ExpandRows);
  DGC_OP("expandCols", ExpandCols);
  DGC_OP("expandScalar", ExpandScalar);
  DGC_OP("rowSum", RowSum);
  DGC_OP("colSum", ColSum);
  DGC_OP("sumAll", SumAll);
  DGC_OP("argmaxRows", ArgmaxRows);
  DGC_OP("softmaxRows", SoftmaxRows);
  DGC_OP("softmaxRowsGrad", SoftmaxRowsGrad);
  DGC_OP("concatCols", ConcatCols);
  DGC_OP("sliceCols", SliceCols);
  DGC_OP("padCols", PadCols);
  DGC_OP("gatherRows", GatherRows);
  DGC_OP("scatterAddRows", ScatterAddRows);
  DGC_OP("mse", Mse);
  DGC_OP("mseGrad", MseGrad);
  DGC_OP("bceWithLogits", BceWithLogits);
  DGC_OP("bceWithLogitsGrad", BceWithLogitsGrad);
  DGC_OP("adamStep", AdamStep);
  DGC_OP("sgdStep", SgdStep);
  DGC_OP("attention", Attention);
  DGC_OP("attentionBackward", AttentionBackward);
  DGC_OP("selfCorrelation", SelfCorrelation);
  DGC_OP("selfCorrelationBackward", SelfCorrelationBackward);
  DGC_OP("gramSigmoidMseLoss", GramSigmoidMseLoss);
  DGC_OP("gramSigmoidBceLoss", GramSigmoidBceLoss);
  DGC_OP("kmeans", Kmeans);
  DGC_OP("knnGraph", KnnGraph);
  DGC_OP("studentT", StudentT);
  DGC_OP("studentTBackward", StudentTBackward);
  DGC_OP("targetDistribution", TargetDistribution);
  DGC_OP("klStudentT", KlStudentT);
  DGC_OP("klStudentTSelf", KlStudentTSelf);
  DGC_OP("focalStudentT", FocalStudentT);
  DGC_OP("contractivePenalty", ContractivePenalty);
  DGC_OP("pairAffinity", PairAffinity);
  DGC_OP("pairAffinityBackward", PairAffinityBackward);
  DGC_OP("cdcCorrelationLoss", CdcCorrelationLoss);
  DGC_OP("attentionFusion", AttentionFusion);
  DGC_OP("attentionFusionBackward", AttentionFusionBackward);

  DGC_OP("rowKlClipped", RowKlClipped);
  DGC_OP("cdcPairLoss", CdcPairLoss);
  DGC_OP("randomUniform", RandomUniform);
  DGC_OP("randomNormal", RandomNormal);
  DGC_OP("memory", Memory);
  DGC_OP("resetPeakMemory", ResetPeakMemory);
  DGC_OP("releaseCachedMemory", ReleaseCachedMemory);
  DGC_OP("synchronize", Synchronize);
  DGC_OP("cacheLimit", CacheLimit);
  DGC_OP("setCacheLimit", SetCacheLimit);
  DGC_OP("matmulBiasAct", MatmulBiasAct);
  DGC_OP("activationGrad", ActivationGrad);
  DGC_OP("numThreads", NumThreads);
  DGC_OP("setNumThreads", SetNumThreads);
  DGC_OP("backends", Backends);
#undef DGC_OP
}

}  // namespace addon
}  // namespace dgc
