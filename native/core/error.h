// Errors that cross into JavaScript.
//
// Every failure the native layer detects is a dgc::Error with a stable code. The N-API layer turns it into a
// JS Error whose `code` property is the code's name (e.g. "DGC_SHAPE") and whose message names the op, the
// argument and the sizes at fault. Nothing in native code aborts the process on bad input.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace dgc {

enum class ErrorCode {
  Arg,       // DGC_ARG: wrong type or value of an argument (not a tensor, negative size, unknown option)
  Shape,     // DGC_SHAPE: shapes that do not fit together, or a rank the op does not take
  DType,     // DGC_DTYPE: float32 given where int32 is needed, or the reverse
  Device,    // DGC_DEVICE: tensors on different devices, or a device that is not available
  Index,     // DGC_INDEX: an index out of range (row gather, edge ids, CSR indices)
  Disposed,  // DGC_DISPOSED: a tensor used after dispose()
  Value,     // DGC_VALUE: a value outside the op's domain (NaN where it is refused, lr < 0, ...)
  OOM,       // DGC_OOM: an allocation failed
  Data,      // DGC_DATA: malformed file or data
  Unimplemented,  // DGC_UNIMPLEMENTED: the op exists in the table but not (yet) on this backend
  Internal,  // DGC_INTERNAL: a bug in dgclust; please report it
};

inline const char* codeName(ErrorCode c) {
  switch (c) {
    case ErrorCode::Arg: return "DGC_ARG";
    case ErrorCode::Shape: return "DGC_SHAPE";
    case ErrorCode::DType: return "DGC_DTYPE";
    case ErrorCode::Device: return "DGC_DEVICE";
    case ErrorCode::Index: return "DGC_INDEX";
    case ErrorCode::Disposed: return "DGC_DISPOSED";
    case ErrorCode::Value: return "DGC_VALUE";
    case ErrorCode::OOM: return "DGC_OOM";
    case ErrorCode::Data: return "DGC_DATA";
    case ErrorCode::Unimplemented: return "DGC_UNIMPLEMENTED";
    case ErrorCode::Internal: return "DGC_INTERNAL";
  }
  return "DGC_INTERNAL";
}

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// Concatenates anything streamable: str("matmul: a is ", 3, "x", 4).
template <typename... Args>
std::string str(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

template <typename... Args>
[[noreturn]] void fail(ErrorCode code, Args&&... args) {
  throw Error(code, str(std::forward<Args>(args)...));
}

// DGC_CHECK(cond, Shape, "matmul: ...", x) throws dgc::Error(ErrorCode::Shape, message) when cond is false.
#define DGC_CHECK(cond, code, ...)                                  \
  do {                                                              \
    if (!(cond)) ::dgc::fail(::dgc::ErrorCode::code, __VA_ARGS__); \
  } while (0)

}  // namespace dgc
