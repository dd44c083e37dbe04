// The activations that can be fused into the step producing their input (a GEMM's or an SpMM's epilogue) and
// their gradients computed from the activation's output. The expressions are those of the unary ops in
// elementwise.cc (`x > 0 ? x : 0`, `x > 0 ? x : slope·x`), so a fused epilogue gives bit-identical values.
#pragma once
#include <cstdint>
#include <type_traits>

namespace dgc {
namespace cpu {

enum : int { kActNone = 0, kActRelu = 1, kActLeakyRelu = 2 };

template <int Act>
inline float activate(float v, float slope) {
  if constexpr (Act == kActRelu) return v > 0.0f ? v : 0.0f;
  if constexpr (Act == kActLeakyRelu) return v > 0.0f ? v : slope * v;
  return v;
}

// dy · act'(x) read from the output y = act(x): for ReLU and a leaky ReLU with slope ≥ 0, y > 0 exactly when
// x > 0, so this is the unary gradient fed x (which elementwise.cc computes as `x > 0 ? g : 0` / `slope·g`).
template <int Act>
inline float activationGradFromOutput(float y, float g, float slope) {
  if constexpr (Act == kActRelu) return y > 0.0f ? g : 0.0f;
  if constexpr (Act == kActLeakyRelu) return y > 0.0f ? g : slope * g;
  return g;
}

// row[j] = act(row[j] + bias[j]) for j in [0, n) (no add when bias is null: adding 0 would turn −0 into +0).
template <int Act>
inline void biasActivateRow(float* row, int64_t n, const float* bias, float slope) {
  if (bias) {
    for (int64_t j = 0; j < n; ++j) row[j] = activate<Act>(row[j] + bias[j], slope);
  } else if constexpr (Act != kActNone) {
    for (int64_t j = 0; j < n; ++j) row[j] = activate<Act>(row[j], slope);
  }
}

// The same on a strided row: row[j·stride] with bias[j], for j in [0, n).
template <int Act>
inline void biasActivateStrided(float* row, int64_t n, int64_t stride, const float* bias, float slope) {
  if (bias) {
    for (int64_t j = 0; j < n; ++j) row[j * stride] = activate<Act>(row[j * stride] + bias[j], slope);
  } else if constexpr (Act != kActNone) {
    for (int64_t j = 0; j < n; ++j) row[j * stride] = activate<Act>(row[j * stride], slope);
  }
}

// Calls f(std::integral_constant<int, Act>{}) for a run-time activation code, so that the loops above get the
// activation at compile time: withActivation(act, [&](auto tag) { constexpr int A = decltype(tag)::value; ... }).
template <class F>
inline void withActivation(int act, F&& f) {
  switch (act) {
    case kActRelu: f(std::integral_constant<int, kActRelu>{}); break;
    case kActLeakyRelu: f(std::integral_constant<int, kActLeakyRelu>{}); break;
    default: f(std::integral_constant<int, kActNone>{}); break;
  }
}

}  // namespace cpu
}  // namespace dgc
