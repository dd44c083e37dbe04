// CPU elementwise ops. Loops are written plainly over contiguous float arrays so the compiler vectorizes
// them; each chunk of the parallel range is independent (no reductions here).
#include <cmath>

#include "cpu_backend.h"

namespace dgc {
namespace cpu {
namespace {

// Numerically safe logistic: never evaluates exp of a large positive number.
inline float sigmoidf(float x) {
  if (x >= 0) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

// The chunk lambdas copy f (and with it any float it captured, e.g. affine's alpha), so that no captured float is read
// through a reference inside the loop: one that the float stores to `out` might alias, as far as the compiler knows,
// must be reloaded per element, which kept the optimizer loops (optim.cc) scalar. (These maps were vectorised anyway;
// the copies keep it so.)
template <typename F>
void map1(const Tensor& x, Tensor& out, int64_t cost, F f) {
  const float* px = x.f32();
  float* po = out.f32();
  forRange(x.numel(), cost, [px, po, f](int64_t b, int64_t e) {
    const F fn = f;
    for (int64_t i = b; i < e; ++i) po[i] = fn(px[i]);
  });
}

template <typename F>
void map2(const Tensor& a, const Tensor& b, Tensor& out, int64_t cost, F f) {
  const float* pa = a.f32();
  const float* pb = b.f32();
  float* po = out.f32();
  forRange(a.numel(), cost, [pa, pb, po, f](int64_t s, int64_t e) {
    const F fn = f;
    for (int64_t i = s; i < e; ++i) po[i] = fn(pa[i], pb[i]);
  });
}

}  // namespace

void CpuBackend::unary(Unary op, const Tensor& x, float param, Tensor& out) {
  switch (op) {
    case Unary::Relu: return map1(x, out, 1, [](float v) { return v > 0.0f ? v : 0.0f; });
    case Unary::LeakyRelu: return map1(x, out, 1, [param](float v) { return v > 0.0f ? v : param * v; });
    case Unary::Tanh: return map1(x, out, 20, [](float v) { return std::tanh(v); });
    case Unary::Sigmoid: return map1(x, out, 20, sigmoidf);
    case Unary::Exp: return map1(x, out, 20, [](float v) { return std::exp(v); });
    case Unary::Log: return map1(x, out, 20, [](float v) { return std::log(v); });
    case Unary::Square: return map1(x, out, 1, [](float v) { return v * v; });
  }
}

void CpuBackend::unaryGrad(Unary op, const Tensor& xy, const Tensor& dy, float param, Tensor& dx) {
  switch (op) {
    // d relu / dx at 0 is taken as 0, as PyTorch does.
    case Unary::Relu: return map2(xy, dy, dx, 1, [](float x, float g) { return x > 0.0f ? g : 0.0f; });
    case Unary::LeakyRelu:
      return map2(xy, dy, dx, 1, [param](float x, float g) { return x > 0.0f ? g : param * g; });
    case Unary::Tanh: return map2(xy, dy, dx, 1, [](float y, float g) { return g * (1.0f - y * y); });
    case Unary::Sigmoid: return map2(xy, dy, dx, 1, [](float y, float g) { return g * y * (1.0f - y); });
    case Unary::Exp: return map2(xy, dy, dx, 1, [](float y, float g) { return g * y; });
    case Unary::Log: return map2(xy, dy, dx, 1, [](float x, float g) { return g / x; });
    case Unary::Square: return map2(xy, dy, dx, 1, [](float x, float g) { return 2.0f * x * g; });
  }
}

void CpuBackend::binary(Binary op, const Tensor& a, const Tensor& b, Tensor& out) {
  switch (op) {
    case Binary::Add: return map2(a, b, out, 1, [](float x, float y) { return x + y; });
    case Binary::Sub: return map2(a, b, out, 1, [](float x, float y) { return x - y; });
    case Binary::Mul: return map2(a, b, out, 1, [](float x, float y) { return x * y; });
    case Binary::Div: return map2(a, b, out, 1, [](float x, float y) { return x / y; });
  }
}

void CpuBackend::affine(const Tensor& x, float alpha, float beta, Tensor& out) {
  map1(x, out, 1, [alpha, beta](float v) { return alpha * v + beta; });
}

void CpuBackend::axpby(float alpha, const Tensor& a, float beta, const Tensor& b, Tensor& out) {
  map2(a, b, out, 1, [alpha, beta](float x, float y) { return alpha * x + beta * y; });
}

void CpuBackend::mulScalar(const Tensor& x, const Tensor& s, Tensor& out) {
  const float v = s.f32()[0];
  map1(x, out, 1, [v](float e) { return e * v; });
}

namespace {
// out[i, j] = f(x[i, j], v[j]) (alongRows) or f(x[i, j], v[i]).
template <typename F>
void broadcastVector(const Tensor& x, const Tensor& v, Tensor& out, bool alongRows, F f) {
  const int64_t rows = x.dim(0), cols = x.dim(1);
  const float* px = x.f32();
  const float* pv = v.f32();
  float* po = out.f32();
  forRange(rows, cols, [px, pv, po, cols, alongRows, f](int64_t b, int64_t e) {
    const F fn = f;  // a local copy, as in map1
    for (int64_t i = b; i < e; ++i) {
      const float* xr = px + i * cols;
      float* orow = po + i * cols;
      if (alongRows) {
        for (int64_t j = 0; j < cols; ++j) orow[j] = fn(xr[j], pv[j]);
      } else {
        const float vi = pv[i];
        for (int64_t j = 0; j < cols; ++j) orow[j] = fn(xr[j], vi);
      }
    }
  });
}
}  // namespace

void CpuBackend::addRowVector(const Tensor& x, const Tensor& v, Tensor& out) {
  broadcastVector(x, v, out, true, [](float a, float b) { return a + b; });
}
void CpuBackend::mulRowVector(const Tensor& x, const Tensor& v, Tensor& out) {
  broadcastVector(x, v, out, true, [](float a, float b) { return a * b; });
}
void CpuBackend::mulColVector(const Tensor& x, const Tensor& v, Tensor& out) {
  broadcastVector(x, v, out, false, [](float a, float b) { return a * b; });
}

void CpuBackend::expandRows(const Tensor& v, Tensor& out) {
  const int64_t rows = out.dim(0), cols = out.dim(1);
  const float* pv = v.f32();
  float* po = out.f32();
  forRange(rows, cols, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) std::copy(pv, pv + cols, po + i * cols);
  });
}

void CpuBackend::expandCols(const Tensor& v, Tensor& out) {
  const int64_t rows = out.dim(0), cols = out.dim(1);
  const float* pv = v.f32();
  float* po = out.f32();
  forRange(rows, cols, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) std::fill(po + i * cols, po + (i + 1) * cols, pv[i]);
  });
}

void CpuBackend::expandScalar(const Tensor& s, Tensor& out) {
  const float v = s.f32()[0];
  float* po = out.f32();
  forRange(out.numel(), 1, [&](int64_t b, int64_t e) { std::fill(po + b, po + e, v); });
}

}  // namespace cpu
}  // namespace dgc
