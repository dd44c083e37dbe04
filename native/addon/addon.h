// The N-API layer: JS values in, dgc types out, and back. It checks every argument it receives (type,
// range, disposed tensors) and turns every native failure into a JS Error with a `code`; it holds no math.
#pragma once
#include <napi.h>

#include <memory>
#include <optional>
#include <string>

#include "../core/backend.h"
#include "../core/ops.h"

namespace dgc {
namespace addon {

// A JS Tensor: owns (a reference to) a native buffer until dispose() or garbage collection.
//
// dispose() frees the tensor and also detaches the C++ object from its JS object at once (napi_remove_wrap, then
// delete): a wrapped object's finalizer runs only when the event loop turns (Node-API queues finalizers and drains
// them in a SetImmediate), so a synchronous training loop that never yields would otherwise keep a few hundred bytes
// per tensor it ever made (~0.5 MB per DFCN step on ACM; bench/soak). A disposed JS object has no native part: the
// accessors and methods are static callbacks on the prototype that find it gone (disposed → true, nbytes → 0,
// dispose() a no-op, the rest DGC_DISPOSED), and op arguments report DGC_DISPOSED. A tensor that is never disposed
// is freed by its finalizer, as before.
class TensorWrap : public Napi::ObjectWrap<TensorWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object New(Napi::Env env, Tensor t);  // hands t to a new JS object
  static bool Is(const Napi::Value& v);
  // The live TensorWrap of a NativeTensor object, or nullptr once it was disposed.
  static TensorWrap* Find(const Napi::Object& o);

  explicit TensorWrap(const Napi::CallbackInfo& info);
  ~TensorWrap() override;

  // The tensor, or DGC_DISPOSED naming `op` and `arg`.
  const Tensor& get(const char* op, const std::string& arg) const;
  Tensor& getMutable(const char* op, const std::string& arg);

 private:
  static Napi::Value Shape(const Napi::CallbackInfo& info);
  static Napi::Value DType(const Napi::CallbackInfo& info);
  static Napi::Value DeviceName(const Napi::CallbackInfo& info);
  static Napi::Value Disposed(const Napi::CallbackInfo& info);
  static Napi::Value NBytes(const Napi::CallbackInfo& info);
  static Napi::Value ToTypedArray(const Napi::CallbackInfo& info);
  static Napi::Value Dispose(const Napi::CallbackInfo& info);
  // The tensor of `this`, or DGC_DISPOSED naming the accessor.
  static const Tensor& self(const Napi::CallbackInfo& info, const char* what);
  void release();

  std::optional<dgc::Tensor> tensor_;
  int64_t accountedBytes_ = 0;  // reported to V8 with AdjustExternalMemory
};

// A JS sparse matrix (CSR) with its transpose built on first use and kept.
class CsrWrap : public Napi::ObjectWrap<CsrWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object New(Napi::Env env, std::shared_ptr<CsrMatrix> m);
  static bool Is(const Napi::Value& v);
  explicit CsrWrap(const Napi::CallbackInfo& info);
  ~CsrWrap() override;

  const CsrMatrix& get(const char* op, const std::string& arg) const;
  const CsrMatrix& transposed(const char* op, const std::string& arg);

 private:
  Napi::Value Rows(const Napi::CallbackInfo& info);
  Napi::Value Cols(const Napi::CallbackInfo& info);
  Napi::Value Nnz(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Napi::Value DeviceName(const Napi::CallbackInfo& info);
  Napi::Value ToArrays(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  void release();

  std::shared_ptr<CsrMatrix> matrix_, transpose_;
  int64_t accountedBytes_ = 0;
};

// Reads and checks the arguments of one op call; every failure names the op and the argument.
class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* op, size_t minCount, size_t maxCount);
  Napi::Env env() const { return info_.Env(); }
  size_t size() const { return info_.Length(); }
  bool has(size_t i) const { return i < info_.Length() && !info_[i].IsUndefined() && !info_[i].IsNull(); }

  const Tensor& tensor(size_t i, const char* name) const;
  Tensor& mutableTensor(size_t i, const char* name) const;
  std::vector<Tensor> tensorList(size_t i, const char* name) const;
  CsrWrap& csr(size_t i, const char* name) const;
  double number(size_t i, const char* name) const;               // finite
  int64_t integer(size_t i, const char* name, int64_t min, int64_t max) const;
  bool boolean(size_t i, const char* name, bool fallback) const;  // fallback when absent
  std::string string(size_t i, const char* name) const;
  dgc::Shape shape(size_t i, const char* name) const;
  // "cpu" | "cuda"; absent → cpu. DGC_DEVICE for 'cuda' in a build without the CUDA backend, unless
  // !requireAvailable (memory statistics of an absent device are simply zero).
  Device device(size_t i, const char* name, bool requireAvailable = true) const;
  Napi::Object object(size_t i, const char* name) const;
  Napi::TypedArray typedArray(size_t i, const char* name) const;

  // Option `key` of an options object, with the same checks.
  double optionNumber(const Napi::Object& o, const char* key, double fallback) const;
  bool optionBool(const Napi::Object& o, const char* key, bool fallback) const;

  [[noreturn]] void bad(size_t i, const char* name, const std::string& expected) const;

 private:
  const Napi::CallbackInfo& info_;
  const char* op_;
};

std::string describeJs(const Napi::Value& v);  // "number 3", "string", "undefined", "Tensor", ...

// Registers the ops on the module's exports.
void registerOps(Napi::Env env, Napi::Object exports);

}  // namespace addon
}  // namespace dgc
