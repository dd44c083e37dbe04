// Elementwise ops for the CUDA backend (native/cpu/elementwise.cc is the reference).
//
// Bit-identical to the CPU: the CPU code is compiled without FMA contraction (no -march), so a·x + b is a rounded
// product plus a rounded sum there. nvcc would fuse such expressions into one FMA (one rounding), so the kernels
// spell them with __fmul_rn / __fadd_rn / __fsub_rn, which are never contracted. Division and square root are
// IEEE-rounded on both sides. Only tanh / sigmoid / exp / log forwards differ, by CUDA's libm (1–2 ulp) versus
// glibc's.
//
// Layout: one thread per element in a grid-stride loop. Broadcast ops need the row and column of an element; their
// index type is 32-bit when the tensor has fewer than 2^32 elements (64-bit division costs ~10× more).
#include <cmath>
#include <cstdint>

#include "common.cuh"
#include "cuda_backend.h"

namespace dgc {
namespace cuda {
namespace {

constexpr int kThreads = 256;

template <typename I, typename F>
__global__ void map1Kernel(const float* __restrict__ x, float* __restrict__ out, I n, F f) {
  for (I i = I(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += I(gridDim.x) * blockDim.x) out[i] = f(x[i]);
}

template <typename I, typename F>
__global__ void map2Kernel(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ out, I n,
                           F f) {
  for (I i = I(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += I(gridDim.x) * blockDim.x) out[i] = f(a[i], b[i]);
}

// out[i, j] = f(x[i, j], v[j]) (alongRows) or f(x[i, j], v[i]).
template <typename I, typename F>
__global__ void broadcastKernel(const float* __restrict__ x, const float* __restrict__ v, float* __restrict__ out,
                                I n, I cols, bool alongRows, F f) {
  for (I e = I(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += I(gridDim.x) * blockDim.x) {
    const I i = e / cols;
    out[e] = f(x[e], alongRows ? v[e - i * cols] : v[i]);
  }
}

// out[i, j] = v[j] (alongRows), v[i] (!alongRows); cols == 0 means the scalar v[0].
template <typename I>
__global__ void expandKernel(const float* __restrict__ v, float* __restrict__ out, I n, I cols, bool alongRows) {
  for (I e = I(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += I(gridDim.x) * blockDim.x) {
    if (cols == 0) {
      out[e] = v[0];
    } else {
      const I i = e / cols;
      out[e] = alongRows ? v[e - i * cols] : v[i];
    }
  }
}

template <typename T>
__global__ void fillKernel(T* __restrict__ out, int64_t n, T value) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = value;
}

template <typename F>
void map1(const Tensor& x, Tensor& out, F f, const char* op) {
  const int64_t n = x.numel();
  map1Kernel<int64_t><<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(x.f32(), out.f32(), n, f);
  DGC_CUDA_LAUNCH_CHECK(op);
}

template <typename F>
void map2(const Tensor& a, const Tensor& b, Tensor& out, F f, const char* op) {
  const int64_t n = a.numel();
  map2Kernel<int64_t><<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(a.f32(), b.f32(), out.f32(), n, f);
  DGC_CUDA_LAUNCH_CHECK(op);
}

template <typename F>
void broadcast(const Tensor& x, const Tensor& v, Tensor& out, bool alongRows, F f, const char* op) {
  const int64_t n = x.numel(), cols = x.dim(1);
  const unsigned blocks = blocksFor(n, kThreads);
  if (indexFitsUint32(n, kThreads)) {
    broadcastKernel<uint32_t><<<blocks, kThreads, 0, stream()>>>(x.f32(), v.f32(), out.f32(), uint32_t(n),
                                                                 uint32_t(cols), alongRows, f);
  } else {
    broadcastKernel<int64_t><<<blocks, kThreads, 0, stream()>>>(x.f32(), v.f32(), out.f32(), n, cols, alongRows, f);
  }
  DGC_CUDA_LAUNCH_CHECK(op);
}

void expand(const Tensor& v, Tensor& out, int64_t cols, bool alongRows, const char* op) {
  const int64_t n = out.numel();
  const unsigned blocks = blocksFor(n, kThreads);
  if (indexFitsUint32(n, kThreads)) {
    expandKernel<uint32_t><<<blocks, kThreads, 0, stream()>>>(v.f32(), out.f32(), uint32_t(n), uint32_t(cols),
                                                              alongRows);
  } else {
    expandKernel<int64_t><<<blocks, kThreads, 0, stream()>>>(v.f32(), out.f32(), n, cols, alongRows);
  }
  DGC_CUDA_LAUNCH_CHECK(op);
}

// ---- functors (device code; the CPU expression each mirrors is in the comment) ----------------------------

struct Relu {  // v > 0 ? v : 0 (NaN → 0)
  __device__ float operator()(float v) const { return v > 0.0f ? v : 0.0f; }
};
struct LeakyRelu {  // v > 0 ? v : param·v
  float p;
  __device__ float operator()(float v) const { return v > 0.0f ? v : __fmul_rn(p, v); }
};
struct TanhF {
  __device__ float operator()(float v) const { return tanhf(v); }
};
struct SigmoidF {  // never exp of a large positive number
  __device__ float operator()(float x) const {
    if (x >= 0.0f) return __fdiv_rn(1.0f, __fadd_rn(1.0f, expf(-x)));
    const float e = expf(x);
    return __fdiv_rn(e, __fadd_rn(1.0f, e));
  }
};
struct ExpF {
  __device__ float operator()(float v) const { return expf(v); }
};
struct LogF {
  __device__ float operator()(float v) const { return logf(v); }
};
struct SquareF {
  __device__ float operator()(float v) const { return __fmul_rn(v, v); }
};

struct ReluGrad {  // x > 0 ? g : 0
  __device__ float operator()(float x, float g) const { return x > 0.0f ? g : 0.0f; }
};
struct LeakyReluGrad {  // x > 0 ? g : param·g
  float p;
  __device__ float operator()(float x, float g) const { return x > 0.0f ? g : __fmul_rn(p, g); }
};
struct TanhGrad {  // g·(1 − y·y)
  __device__ float operator()(float y, float g) const { return __fmul_rn(g, __fsub_rn(1.0f, __fmul_rn(y, y))); }
};
struct SigmoidGrad {  // (g·y)·(1 − y)
  __device__ float operator()(float y, float g) const { return __fmul_rn(__fmul_rn(g, y), __fsub_rn(1.0f, y)); }
};
struct ExpGrad {  // g·y
  __device__ float operator()(float y, float g) const { return __fmul_rn(g, y); }
};
struct LogGrad {  // g / x
  __device__ float operator()(float x, float g) const { return __fdiv_rn(g, x); }
};
struct SquareGrad {  // (2·x)·g
  __device__ float operator()(float x, float g) const { return __fmul_rn(__fmul_rn(2.0f, x), g); }
};

struct AddF {
  __device__ float operator()(float a, float b) const { return __fadd_rn(a, b); }
};
struct SubF {
  __device__ float operator()(float a, float b) const { return __fsub_rn(a, b); }
};
struct MulF {
  __device__ float operator()(float a, float b) const { return __fmul_rn(a, b); }
};
struct DivF {
  __device__ float operator()(float a, float b) const { return __fdiv_rn(a, b); }
};
struct AffineF {  // alpha·v + beta
  float alpha, beta;
  __device__ float operator()(float v) const { return __fadd_rn(__fmul_rn(alpha, v), beta); }
};
struct AxpbyF {  // alpha·x + beta·y
  float alpha, beta;
  __device__ float operator()(float x, float y) const { return __fadd_rn(__fmul_rn(alpha, x), __fmul_rn(beta, y)); }
};
struct MulByDeviceScalar {  // e · s[0], s read on the device (no host round trip)
  const float* s;
  __device__ float operator()(float e) const { return __fmul_rn(e, *s); }
};

}  // namespace

void fillF32(float* x, float value, int64_t count, const char* op) {
  if (count <= 0) return;
  fillKernel<float><<<blocksFor(count, kThreads), kThreads, 0, stream()>>>(x, count, value);
  DGC_CUDA_LAUNCH_CHECK(op);
}

void CudaBackend::fill(Tensor& out, double value) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const bool zeroBits = value == 0.0 && !std::signbit(value);
  if (zeroBits) {  // +0.0f and int 0 are all-zero bytes
    DGC_CUDA_CHECK(cudaMemsetAsync(out.raw(), 0, out.nbytes(), stream()), "full");
    return;
  }
  if (out.dtype() == DType::I32) {
    fillKernel<int32_t><<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(out.i32(), n, static_cast<int32_t>(value));
  } else {
    fillKernel<float><<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(out.f32(), n, static_cast<float>(value));
  }
  DGC_CUDA_LAUNCH_CHECK("full");
}

void CudaBackend::unary(Unary op, const Tensor& x, float param, Tensor& out) {
  switch (op) {
    case Unary::Relu: return map1(x, out, Relu{}, "unary");
    case Unary::LeakyRelu: return map1(x, out, LeakyRelu{param}, "unary");
    case Unary::Tanh: return map1(x, out, TanhF{}, "unary");
    case Unary::Sigmoid: return map1(x, out, SigmoidF{}, "unary");
    case Unary::Exp: return map1(x, out, ExpF{}, "unary");
    case Unary::Log: return map1(x, out, LogF{}, "unary");
    case Unary::Square: return map1(x, out, SquareF{}, "unary");
  }
}

void CudaBackend::unaryGrad(Unary op, const Tensor& xy, const Tensor& dy, float param, Tensor& dx) {
  switch (op) {
    case Unary::Relu: return map2(xy, dy, dx, ReluGrad{}, "unaryGrad");
    case Unary::LeakyRelu: return map2(xy, dy, dx, LeakyReluGrad{param}, "unaryGrad");
    case Unary::Tanh: return map2(xy, dy, dx, TanhGrad{}, "unaryGrad");
    case Unary::Sigmoid: return map2(xy, dy, dx, SigmoidGrad{}, "unaryGrad");
    case Unary::Exp: return map2(xy, dy, dx, ExpGrad{}, "unaryGrad");
    case Unary::Log: return map2(xy, dy, dx, LogGrad{}, "unaryGrad");
    case Unary::Square: return map2(xy, dy, dx, SquareGrad{}, "unaryGrad");
  }
}

void CudaBackend::binary(Binary op, const Tensor& a, const Tensor& b, Tensor& out) {
  switch (op) {
    case Binary::Add: return map2(a, b, out, AddF{}, "binary");
    case Binary::Sub: return map2(a, b, out, SubF{}, "binary");
    case Binary::Mul: return map2(a, b, out, MulF{}, "binary");
    case Binary::Div: return map2(a, b, out, DivF{}, "binary");
  }
}

void CudaBackend::affine(const Tensor& x, float alpha, float beta, Tensor& out) { map1(x, out, AffineF{alpha, beta}, "affine"); }

void CudaBackend::axpby(float alpha, const Tensor& a, float beta, const Tensor& b, Tensor& out) {
  map2(a, b, out, AxpbyF{alpha, beta}, "axpby");
}

void CudaBackend::mulScalar(const Tensor& x, const Tensor& s, Tensor& out) {
  map1(x, out, MulByDeviceScalar{s.f32()}, "mulScalar");
}

void CudaBackend::addRowVector(const Tensor& x, const Tensor& v, Tensor& out) {
  broadcast(x, v, out, true, AddF{}, "addRowVector");
}
void CudaBackend::mulRowVector(const Tensor& x, const Tensor& v, Tensor& out) {
  broadcast(x, v, out, true, MulF{}, "mulRowVector");
}
void CudaBackend::mulColVector(const Tensor& x, const Tensor& v, Tensor& out) {
  broadcast(x, v, out, false, MulF{}, "mulColVector");
}

void CudaBackend::expandRows(const Tensor& v, Tensor& out) { expand(v, out, out.dim(1), true, "expandRows"); }
void CudaBackend::expandCols(const Tensor& v, Tensor& out) { expand(v, out, out.dim(1), false, "expandCols"); }
void CudaBackend::expandScalar(const Tensor& s, Tensor& out) { expand(s, out, 0, true, "expandScalar"); }

}  // namespace cuda
}  // namespace dgc
