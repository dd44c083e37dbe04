#include <cmath>

#include "../core/cuda_status.h"
#include "../core/row_sparse.h"
#include "addon.h"

namespace dgc {
namespace addon {

std::string describeJs(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsBoolean()) return "boolean";
  if (v.IsNumber()) return str("number ", v.As<Napi::Number>().DoubleValue());
  if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s.size() > 40) s = s.substr(0, 40) + "...";
    return str("string '", s, "'");
  }
  if (v.IsTypedArray()) return "a typed array";
  if (v.IsArray()) return "an array";
  if (v.IsFunction()) return "a function";
  if (TensorWrap::Is(v)) return "a tensor";
  if (CsrWrap::Is(v)) return "a sparse matrix";
  if (v.IsObject()) return "an object";
  return "a value of another type";
}

Args::Args(const Napi::CallbackInfo& info, const char* op, size_t minCount, size_t maxCount)
    : info_(info), op_(op) {
  DGC_CHECK(info.Length() >= minCount && info.Length() <= maxCount, Arg, op, ": expected ", minCount,
            minCount == maxCount ? "" : str(" to ", maxCount), " arguments, got ", info.Length());
}

void Args::bad(size_t i, const char* name, const std::string& expected) const {
  fail(ErrorCode::Arg, op_, ": argument '", name, "' (position ", i, ") must be ", expected, ", got ",
       describeJs(i < info_.Length() ? info_[i] : info_.Env().Undefined()));
}

// The live wrap of a NativeTensor argument, or DGC_DISPOSED (dispose() detaches the C++ object: addon.h).
static TensorWrap& liveWrap(const Napi::Value& v, const char* op, const std::string& arg) {
  TensorWrap* w = TensorWrap::Find(v.As<Napi::Object>());
  DGC_CHECK(w != nullptr, Disposed, op, ": argument '", arg, "' is a disposed tensor");
  return *w;
}

const Tensor& Args::tensor(size_t i, const char* name) const {
  if (i >= info_.Length() || !TensorWrap::Is(info_[i])) bad(i, name, "a tensor");
  return liveWrap(info_[i], op_, name).get(op_, name);
}

Tensor& Args::mutableTensor(size_t i, const char* name) const {
  if (i >= info_.Length() || !TensorWrap::Is(info_[i])) bad(i, name, "a tensor");
  Tensor& t = liveWrap(info_[i], op_, name).getMutable(op_, name);
  // A tensor with a nonzero index (attachRowSparse) is a constant: the CPU products read the index instead of
  // the values, so writing the values would silently desynchronise the two.
  DGC_CHECK(!t.buffer() || !t.buffer()->rowSparse(), Arg, op_, ": '", name,
            "' is a constant input with a nonzero index (attachRowSparse) and cannot be written in place; ",
            "write into a clone of it");
  return t;
}

std::vector<Tensor> Args::tensorList(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsArray()) bad(i, name, "an array of tensors");
  Napi::Array a = info_[i].As<Napi::Array>();
  std::vector<Tensor> out;
  out.reserve(a.Length());
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value v = a.Get(k);
    const std::string arg = str(name, "[", k, "]");
    DGC_CHECK(TensorWrap::Is(v), Arg, op_, ": argument '", arg, "' must be a tensor, got ", describeJs(v));
    out.push_back(liveWrap(v, op_, arg).get(op_, arg));
  }
  return out;
}

CsrWrap& Args::csr(size_t i, const char* name) const {
  if (i >= info_.Length() || !CsrWrap::Is(info_[i])) bad(i, name, "a sparse matrix");
  return *CsrWrap::Unwrap(info_[i].As<Napi::Object>());
}

double Args::number(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsNumber()) bad(i, name, "a number");
  const double v = info_[i].As<Napi::Number>().DoubleValue();
  DGC_CHECK(std::isfinite(v), Value, op_, ": argument '", name, "' must be finite, got ", v);
  return v;
}

int64_t Args::integer(size_t i, const char* name, int64_t min, int64_t max) const {
  const double v = number(i, name);
  DGC_CHECK(v == std::floor(v), Arg, op_, ": argument '", name, "' must be an integer, got ", v);
  DGC_CHECK(v >= double(min) && v <= double(max), Arg, op_, ": argument '", name, "' = ", v, " is outside [", min,
            ", ", max, "]");
  return static_cast<int64_t>(v);
}

bool Args::boolean(size_t i, const char* name, bool fallback) const {
  if (!has(i)) return fallback;
  if (!info_[i].IsBoolean()) bad(i, name, "a boolean");
  return info_[i].As<Napi::Boolean>().Value();
}

std::string Args::string(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsString()) bad(i, name, "a string");
  return info_[i].As<Napi::String>().Utf8Value();
}

dgc::Shape Args::shape(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsArray()) bad(i, name, "an array of non-negative integers");
  Napi::Array a = info_[i].As<Napi::Array>();
  DGC_CHECK(a.Length() <= 4, Shape, op_, ": argument '", name, "' has rank ", a.Length(), ", the maximum is 4");
  dgc::Shape s;
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value v = a.Get(k);
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1.0;
    DGC_CHECK(v.IsNumber() && d >= 0 && d == std::floor(d) && d < 9.0e15, Shape, op_, ": argument '", name, "'[", k,
              "] must be a non-negative integer, got ", describeJs(v));
    s.push_back(static_cast<int64_t>(d));
  }
  shapeNumel(s);  // validates the element count
  return s;
}

Device Args::device(size_t i, const char* name, bool requireAvailable) const {
  if (!has(i)) return Device::CPU;
  const std::string d = string(i, name);
  if (d == "cpu") return Device::CPU;
  if (d == "cuda") {
#ifdef DGC_WITH_CUDA
    // A CUDA build without a usable GPU: say why (no driver, no device, ...).
    if (requireAvailable && !hasBackend(Device::CUDA)) {
      const char* reason = cudaUnavailableReason();
      fail(ErrorCode::Device, op_, ": argument '", name, "' is 'cuda', but CUDA is not available: ",
           reason ? reason : "the CUDA backend is not registered", " (see dgclust.backends())");
    }
#else
    DGC_CHECK(!requireAvailable || hasBackend(Device::CUDA), Device, op_, ": argument '", name,
              "' is 'cuda', but this build of dgclust has no CUDA backend (see dgclust.backends())");
#endif
    return Device::CUDA;
  }
  fail(ErrorCode::Arg, op_, ": argument '", name, "' must be 'cpu' or 'cuda', got '", d, "'");
}

Napi::Object Args::object(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsObject() || info_[i].IsArray()) bad(i, name, "an options object");
  return info_[i].As<Napi::Object>();
}

Napi::TypedArray Args::typedArray(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsTypedArray()) bad(i, name, "a Float32Array or Int32Array");
  return info_[i].As<Napi::TypedArray>();
}

double Args::optionNumber(const Napi::Object& o, const char* key, double fallback) const {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  DGC_CHECK(v.IsNumber(), Arg, op_, ": option '", key, "' must be a number, got ", describeJs(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  DGC_CHECK(std::isfinite(d), Value, op_, ": option '", key, "' must be finite, got ", d);
  return d;
}

bool Args::optionBool(const Napi::Object& o, const char* key, bool fallback) const {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  DGC_CHECK(v.IsBoolean(), Arg, op_, ": option '", key, "' must be a boolean, got ", describeJs(v));
  return v.As<Napi::Boolean>().Value();
}

}  // namespace addon
}  // namespace dgc
