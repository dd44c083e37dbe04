#include <cstring>

#include "addon.h"
#include "guard.h"

namespace dgc {
namespace addon {

// Per-environment data: the constructors of the wrapped classes (so C++ can make JS objects).
struct AddonData {
  Napi::FunctionReference tensorCtor;
  Napi::FunctionReference csrCtor;
};

static AddonData& data(Napi::Env env) {
  AddonData* d = env.GetInstanceData<AddonData>();
  if (!d) {
    d = new AddonData();
    env.SetInstanceData(d);
  }
  return *d;
}

void setPendingError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  e.ThrowAsJavaScriptException();
}

void convertCurrentException(Napi::Env env) {
  try {
    throw;
  } catch (const dgc::Error& e) {
    setPendingError(env, codeName(e.code()), e.what());
  } catch (const Napi::Error& e) {
    // A JS exception raised inside node-addon-api (e.g. a throwing getter): pass it on unchanged.
    Napi::Error copy = e;
    copy.ThrowAsJavaScriptException();
  } catch (const std::bad_alloc&) {
    setPendingError(env, "DGC_OOM", "out of host memory");
  } catch (const std::exception& e) {
    setPendingError(env, "DGC_INTERNAL", std::string("internal error: ") + e.what());
  } catch (...) {
    setPendingError(env, "DGC_INTERNAL", "internal error: unknown exception");
  }
}

// ---------------------------------------------------------------------------------------------------------
// TensorWrap

namespace {
// The marker that lets C++ construct a TensorWrap around an existing tensor, and refuses `new Tensor()` in JS.
struct Handoff {
  dgc::Tensor tensor;
};
}  // namespace

Napi::Function TensorWrap::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "NativeTensor", {});
  // Static callbacks on the prototype rather than ObjectWrap instance members, whose trampolines throw a bare
  // "Invalid argument" on an object whose wrap dispose() removed (see addon.h).
  Napi::Object proto = ctor.Get("prototype").As<Napi::Object>();
  proto.DefineProperties({
      Napi::PropertyDescriptor::Accessor<&TensorWrap::Shape>("shape"),
      Napi::PropertyDescriptor::Accessor<&TensorWrap::DType>("dtype"),
      Napi::PropertyDescriptor::Accessor<&TensorWrap::DeviceName>("device"),
      Napi::PropertyDescriptor::Accessor<&TensorWrap::Disposed>("disposed"),
      Napi::PropertyDescriptor::Accessor<&TensorWrap::NBytes>("nbytes"),
      Napi::PropertyDescriptor::Function(env, proto, "toTypedArray", &TensorWrap::ToTypedArray),
      Napi::PropertyDescriptor::Function(env, proto, "dispose", &TensorWrap::Dispose),
  });
  data(env).tensorCtor = Napi::Persistent(ctor);
  return ctor;
}

TensorWrap* TensorWrap::Find(const Napi::Object& o) {
  void* p = nullptr;
  // napi_unwrap reports a missing wrap through its status only (no pending exception).
  if (napi_unwrap(o.Env(), o, &p) != napi_ok) return nullptr;
  return static_cast<TensorWrap*>(p);
}

Napi::Object TensorWrap::New(Napi::Env env, dgc::Tensor t) {
  Handoff h{std::move(t)};
  return data(env).tensorCtor.New({Napi::External<Handoff>::New(env, &h)});
}

bool TensorWrap::Is(const Napi::Value& v) {
  if (!v.IsObject()) return false;
  AddonData* d = v.Env().GetInstanceData<AddonData>();
  return d && v.As<Napi::Object>().InstanceOf(d->tensorCtor.Value());
}

TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    setPendingError(info.Env(), "DGC_ARG",
                    "NativeTensor cannot be constructed directly; use dgclust.tensor() or an op");
    return;
  }
  Handoff* h = info[0].As<Napi::External<Handoff>>().Data();
  tensor_ = std::move(h->tensor);
  accountedBytes_ = static_cast<int64_t>(tensor_->nbytes());
  if (accountedBytes_ > 0) Napi::MemoryManagement::AdjustExternalMemory(info.Env(), accountedBytes_);
}

TensorWrap::~TensorWrap() { release(); }

void TensorWrap::release() {
  if (!tensor_) return;
  tensor_.reset();
  if (accountedBytes_ > 0) Napi::MemoryManagement::AdjustExternalMemory(Env(), -accountedBytes_);
  accountedBytes_ = 0;
}

const dgc::Tensor& TensorWrap::get(const char* op, const std::string& arg) const {
  DGC_CHECK(tensor_.has_value(), Disposed, op, ": argument '", arg, "' is a disposed tensor");
  return *tensor_;
}

dgc::Tensor& TensorWrap::getMutable(const char* op, const std::string& arg) {
  DGC_CHECK(tensor_.has_value(), Disposed, op, ": argument '", arg, "' is a disposed tensor");
  return *tensor_;
}

// The live wrap of `this` (nullptr when disposed, or when `this` is not a NativeTensor at all).
static TensorWrap* thisWrap(const Napi::CallbackInfo& info) {
  return TensorWrap::Is(info.This()) ? TensorWrap::Find(info.This().As<Napi::Object>()) : nullptr;
}

const dgc::Tensor& TensorWrap::self(const Napi::CallbackInfo& info, const char* what) {
  DGC_CHECK(TensorWrap::Is(info.This()), Arg, what, ": 'this' is not a tensor");
  TensorWrap* w = thisWrap(info);
  DGC_CHECK(w != nullptr, Disposed, what, ": argument 'this' is a disposed tensor");
  return w->get(what, "this");
}

Napi::Value TensorWrap::Shape(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const dgc::Tensor& t = self(info, "shape");
    Napi::Array a = Napi::Array::New(info.Env(), t.shape().size());
    for (size_t i = 0; i < t.shape().size(); ++i) a.Set(uint32_t(i), Napi::Number::New(info.Env(), double(t.shape()[i])));
    return a;
  });
}

Napi::Value TensorWrap::DType(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), dtypeName(self(info, "dtype").dtype()));
  });
}

Napi::Value TensorWrap::DeviceName(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), deviceName(self(info, "device").device()));
  });
}

Napi::Value TensorWrap::Disposed(const Napi::CallbackInfo& info) {
  TensorWrap* w = thisWrap(info);
  return Napi::Boolean::New(info.Env(), !w || !w->tensor_.has_value());
}

Napi::Value TensorWrap::NBytes(const Napi::CallbackInfo& info) {
  TensorWrap* w = thisWrap(info);
  return Napi::Number::New(info.Env(), w && w->tensor_ ? double(w->tensor_->nbytes()) : 0.0);
}

// A copy of the contents in a new Float32Array or Int32Array (reading synchronizes the device).
Napi::Value TensorWrap::ToTypedArray(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const dgc::Tensor& t = self(info, "toTypedArray");
    const size_t n = static_cast<size_t>(t.numel());
    if (t.dtype() == dgc::DType::F32) {
      Napi::Float32Array out = Napi::Float32Array::New(info.Env(), n);
      ops::toHost(t, out.Data());
      return out;
    }
    Napi::Int32Array out = Napi::Int32Array::New(info.Env(), n);
    ops::toHost(t, out.Data());
    return out;
  });
}

Napi::Value TensorWrap::Dispose(const Napi::CallbackInfo& info) {
  TensorWrap* w = thisWrap(info);
  if (!w) return info.Env().Undefined();  // disposing twice is allowed and does nothing
  w->release();
  // Detach and delete the C++ object now (see addon.h). After napi_remove_wrap no finalizer will run for this
  // object; ~ObjectWrap then deletes the reference napi_wrap made.
  napi_remove_wrap(info.Env(), info.This(), nullptr);
  delete w;
  return info.Env().Undefined();
}

// ---------------------------------------------------------------------------------------------------------
// CsrWrap

namespace {
struct CsrHandoff {
  std::shared_ptr<CsrMatrix> m;
};
int64_t csrBytes(const CsrMatrix& m) {
  return static_cast<int64_t>(m.indptr.nbytes() + m.indices.nbytes() + m.values.nbytes());
}
}  // namespace

Napi::Function CsrWrap::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "NativeCsr",
                                    {
                                        InstanceAccessor<&CsrWrap::Rows>("rows"),
                                        InstanceAccessor<&CsrWrap::Cols>("cols"),
                                        InstanceAccessor<&CsrWrap::Nnz>("nnz"),
                                        InstanceAccessor<&CsrWrap::Disposed>("disposed"),
                                        InstanceAccessor<&CsrWrap::DeviceName>("device"),
                                        InstanceMethod<&CsrWrap::ToArrays>("toArrays"),
                                        InstanceMethod<&CsrWrap::Dispose>("dispose"),
                                    });
  data(env).csrCtor = Napi::Persistent(ctor);
  return ctor;
}

Napi::Object CsrWrap::New(Napi::Env env, std::shared_ptr<CsrMatrix> m) {
  CsrHandoff h{std::move(m)};
  return data(env).csrCtor.New({Napi::External<CsrHandoff>::New(env, &h)});
}

bool CsrWrap::Is(const Napi::Value& v) {
  if (!v.IsObject()) return false;
  AddonData* d = v.Env().GetInstanceData<AddonData>();
  return d && v.As<Napi::Object>().InstanceOf(d->csrCtor.Value());
}

CsrWrap::CsrWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CsrWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    setPendingError(info.Env(), "DGC_ARG",
                    "NativeCsr cannot be constructed directly; use dgclust.SparseMatrix.fromEdges()");
    return;
  }
  matrix_ = std::move(info[0].As<Napi::External<CsrHandoff>>().Data()->m);
  accountedBytes_ = csrBytes(*matrix_);
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), accountedBytes_);
}

CsrWrap::~CsrWrap() { release(); }

void CsrWrap::release() {
  if (!matrix_) return;
  matrix_.reset();
  transpose_.reset();
  Napi::MemoryManagement::AdjustExternalMemory(Env(), -accountedBytes_);
  accountedBytes_ = 0;
}

const CsrMatrix& CsrWrap::get(const char* op, const std::string& arg) const {
  DGC_CHECK(matrix_ != nullptr, Disposed, op, ": argument '", arg, "' is a disposed sparse matrix");
  return *matrix_;
}

const CsrMatrix& CsrWrap::transposed(const char* op, const std::string& arg) {
  const CsrMatrix& m = get(op, arg);
  if (!transpose_) {
    transpose_ = std::make_shared<CsrMatrix>(ops::csrTranspose(m));
    const int64_t extra = csrBytes(*transpose_);
    accountedBytes_ += extra;
    Napi::MemoryManagement::AdjustExternalMemory(Env(), extra);
  }
  return *transpose_;
}

Napi::Value CsrWrap::Rows(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value { return Napi::Number::New(info.Env(), double(get("rows", "this").rows)); });
}
Napi::Value CsrWrap::Cols(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value { return Napi::Number::New(info.Env(), double(get("cols", "this").cols)); });
}
Napi::Value CsrWrap::Nnz(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value { return Napi::Number::New(info.Env(), double(get("nnz", "this").nnz)); });
}
Napi::Value CsrWrap::Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !matrix_); }
Napi::Value CsrWrap::DeviceName(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), deviceName(get("device", "this").device()));
  });
}

// { indptr: Int32Array, indices: Int32Array, values: Float32Array } (copies; transposed when asked).
Napi::Value CsrWrap::ToArrays(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const bool t = info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value();
    const CsrMatrix& m = t ? transposed("toArrays", "this") : get("toArrays", "this");
    Napi::Object o = Napi::Object::New(info.Env());
    Napi::Int32Array indptr = Napi::Int32Array::New(info.Env(), size_t(m.rows + 1));
    Napi::Int32Array indices = Napi::Int32Array::New(info.Env(), size_t(m.nnz));
    Napi::Float32Array values = Napi::Float32Array::New(info.Env(), size_t(m.nnz));
    ops::toHost(m.indptr, indptr.Data());
    ops::toHost(m.indices, indices.Data());
    ops::toHost(m.values, values.Data());
    o.Set("rows", Napi::Number::New(info.Env(), double(m.rows)));
    o.Set("cols", Napi::Number::New(info.Env(), double(m.cols)));
    o.Set("indptr", indptr);
    o.Set("indices", indices);
    o.Set("values", values);
    return o;
  });
}

Napi::Value CsrWrap::Dispose(const Napi::CallbackInfo& info) {
  release();
  return info.Env().Undefined();
}

}  // namespace addon
}  // namespace dgc
