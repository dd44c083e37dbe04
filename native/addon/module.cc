// Module entry point: registers the wrapped classes and the ops.
#include "addon.h"

namespace dgc {
namespace addon {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeTensor", TensorWrap::Init(env));
  exports.Set("NativeCsr", CsrWrap::Init(env));
  registerOps(env, exports);
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  return exports;
}

}  // namespace addon
}  // namespace dgc

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return dgc::addon::Init(env, exports); }

NODE_API_MODULE(dgclust, InitModule)
