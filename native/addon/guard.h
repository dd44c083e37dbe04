// Converts C++ exceptions into JS exceptions at the boundary.
#pragma once
#include <napi.h>

#include <new>
#include <string>

#include "../core/error.h"

namespace dgc {
namespace addon {

// Sets a pending JS Error with `code` and `message`. Does not throw a C++ exception.
void setPendingError(Napi::Env env, const char* code, const std::string& message);

// Call inside a catch block: turns the exception in flight into a pending JS Error.
void convertCurrentException(Napi::Env env);

template <typename F>
Napi::Value guard(Napi::Env env, F&& body) {
  try {
    return body();
  } catch (...) {
    convertCurrentException(env);
    return env.Undefined();
  }
}

}  // namespace addon
}  // namespace dgc
