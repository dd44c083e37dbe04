// CPU ↔ CUDA parity for the non-fused op families (cuda/gemm.cu, sparse.cu, elementwise.cu, reduce.cu,
// indexing.cu, loss.cu, optim.cu, random.cu, and the memory ops of backend.cu), plus GEMM / SpMM timings at the
// model shapes. Standalone: no Node. Built by CMake with -DDGCLUST_NATIVE_TESTS=ON when the CUDA backend is built
// (target cuda_parity_test); exits 0 printing "skipped: no CUDA device" on a machine without a usable GPU.
//
// Every op runs through the op front (dgc::ops, so validation and allocation are the shared ones) on CPU tensors
// and on their copies on the GPU, and the results are compared element by element. Tolerances, per op:
//   exact (bit for bit): transfers, fill, transpose, relu / leakyRelu / square and every unary gradient, binary,
//     affine, axpby, mulScalar, the row/column broadcasts and expands, argmax, concat / slice / pad / gather /
//     scatter-add, mseGrad, Adam, SGD, random uniform and normal (Philox; see cuda/random.cu for the normal).
//   tanh / sigmoid / exp / log (CUDA libm vs glibc, ≤ 2 ulp each):      |Δ| ≤ 4·2^-23·|ref| + 1e-30
//   bceWithLogitsGrad (expf inside):                                    |Δ| ≤ 4·2^-23·|ref| + 2^-23·|g|/n
//   rowSum / colSum / sumAll / mse / bce (double sums in another order, then rounded to float):
//                                                                       |Δ| ≤ 2^-23·|ref| + 2^-40·Σ|terms|
//   softmax / log-softmax and their gradients (expf, double sums):      |Δ| ≤ 8·2^-23·(|ref| + 1) [·max|dy| for grads]
//   GEMM (both sides round k products; different order):                |Δ| ≤ 16·√k·2^-24·Σ_k|a_ik||b_kj| + 1e-30
//   SpMM (the same FMA chain as the CPU's AVX2/AVX-512 kernel; the portable CPU kernel rounds products
//     separately):                                                      |Δ| ≤ 4·2^-24·nnz_row·Σ|v||h|
// The built-in GEMM kernels and cuBLAS (when it loads) are both checked. Determinism: GEMM (split-K shapes
// included), SpMM and the reductions are run twice and must repeat bit for bit.
//
// Timing (reported, not asserted): GEMM GFLOP/s of the built-in kernels and of cuBLAS at the model shapes
// 3025×1870×500, 10000×500×2000, 10000×2000×10 (m×k×n, and the two backward forms of each), and SpMM effective
// GB/s on a 10000-node graph for H widths 10 ... 2000.
//
// DGCLUST_PARITY_QUICK=1 skips the timings and the largest shapes (for a quick check, or a slow emulated device).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/cuda_status.h"
#include "core/ops.h"
#include "cpu/gemm.h"
#include "common.cuh"
#include "kernels.h"

using namespace dgc;

namespace {

int failures = 0;
int checks = 0;
const bool quick = std::getenv("DGCLUST_PARITY_QUICK") != nullptr;
std::mt19937 rng(20251122);

constexpr double kU = 1.0 / 8388608.0;  // 2^-23: one float ulp at 1

// ---- tensors -----------------------------------------------------------------------------------------------

std::vector<float> uniform(int64_t n, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

Tensor cpuTensor(const std::vector<float>& v, const Shape& s) { return ops::fromHost(v.data(), s, DType::F32, Device::CPU); }
Tensor cpuInts(const std::vector<int32_t>& v, const Shape& s) { return ops::fromHost(v.data(), s, DType::I32, Device::CPU); }
Tensor gpu(const Tensor& t) { return ops::to(t, Device::CUDA); }

std::vector<float> readF(const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  ops::toHost(t, v.data());
  return v;
}
std::vector<int32_t> readI(const Tensor& t) {
  std::vector<int32_t> v(static_cast<size_t>(t.numel()));
  ops::toHost(t, v.data());
  return v;
}

// ---- comparison --------------------------------------------------------------------------------------------

void record(bool ok, const std::string& name, const std::string& detail) {
  ++checks;
  if (!ok) {
    ++failures;
    std::printf("FAIL %s: %s\n", name.c_str(), detail.c_str());
  }
}

bool sameBits(float a, float b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  uint32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  return x == y;
}

// Exact (bitwise, NaN = NaN) comparison.
void expectExact(const std::string& name, const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return record(false, name, "sizes differ");
  for (size_t i = 0; i < got.size(); ++i) {
    if (!sameBits(got[i], want[i])) {
      char buf[200];
      std::snprintf(buf, sizeof buf, "element %zu: cuda %.9g, cpu %.9g (bitwise comparison)", i, got[i], want[i]);
      return record(false, name, buf);
    }
  }
  record(true, name, "");
}
void expectExact(const std::string& name, const Tensor& got, const Tensor& want) {
  if (got.dtype() == DType::I32) {
    const auto g = readI(got), w = readI(want);
    for (size_t i = 0; i < g.size(); ++i)
      if (g[i] != w[i]) return record(false, name, "element " + std::to_string(i) + ": " + std::to_string(g[i]) + " vs " + std::to_string(w[i]));
    return record(true, name, "");
  }
  expectExact(name, readF(got), readF(want));
}

// |got − want| ≤ tol(i), NaN / Inf must match.
void expectClose(const std::string& name, const std::vector<float>& got, const std::vector<float>& want,
                 const std::function<double(size_t)>& tol) {
  if (got.size() != want.size()) return record(false, name, "sizes differ");
  double worst = 0.0;
  size_t worstAt = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    double ratio;
    if (std::isnan(g) || std::isnan(w)) ratio = std::isnan(g) && std::isnan(w) ? 0.0 : INFINITY;
    else if (std::isinf(g) || std::isinf(w)) ratio = g == w ? 0.0 : INFINITY;
    else ratio = g == w ? 0.0 : std::fabs(g - w) / tol(i);
    if (!(ratio <= worst)) {
      worst = ratio;
      worstAt = i;
    }
  }
  char buf[240];
  std::snprintf(buf, sizeof buf, "worst at %zu: cuda %.9g, cpu %.9g, |diff|/tol = %.3g", worstAt,
                worstAt < got.size() ? got[worstAt] : 0.0f, worstAt < want.size() ? want[worstAt] : 0.0f, worst);
  record(worst <= 1.0, name, buf);
}
void expectRel(const std::string& name, const Tensor& got, const Tensor& want, double rtol, double atol) {
  const auto g = readF(got), w = readF(want);
  expectClose(name, g, w, [&](size_t i) { return atol + rtol * std::fabs(w[i]); });
}

// ---- GEMM --------------------------------------------------------------------------------------------------

std::vector<float> absOf(const std::vector<float>& v) {
  std::vector<float> a(v.size());
  for (size_t i = 0; i < v.size(); ++i) a[i] = std::fabs(v[i]);
  return a;
}

// C = alpha·op(A)·op(B) + beta·C with explicit strides, on both backends (raw pointers: cpu::sgemm and the CUDA
// provider under test), compared with the bound from Σ|a||b|.
void gemmCase(const char* provider, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, float beta,
              int64_t pad) {
  const int64_t aRows = ta ? k : m, aCols = (ta ? m : k), lda = aCols + pad;
  const int64_t bRows = tb ? n : k, bCols = (tb ? k : n), ldb = bCols + pad;
  const int64_t ldc = n + pad;
  const auto A = uniform(std::max<int64_t>(1, aRows * lda)), B = uniform(std::max<int64_t>(1, bRows * ldb));
  auto C0 = uniform(std::max<int64_t>(1, m * ldc));
  if (beta == 0.0f) std::fill(C0.begin(), C0.end(), NAN);  // beta = 0 must not read C
  std::vector<float> cpuC = C0, absC(C0.size(), 0.0f);
  cpu::sgemm(ta, tb, m, n, k, alpha, A.data(), lda, B.data(), ldb, beta, cpuC.data(), ldc);
  const auto absA = absOf(A), absB = absOf(B);
  cpu::sgemm(ta, tb, m, n, k, 1.0f, absA.data(), lda, absB.data(), ldb, 0.0f, absC.data(), ldc);

  Tensor dA = gpu(cpuTensor(A, {int64_t(A.size())})), dB = gpu(cpuTensor(B, {int64_t(B.size())}));
  Tensor dC = gpu(cpuTensor(C0, {int64_t(C0.size())}));
  bool ran = true;
  if (std::strcmp(provider, "cublas") == 0) {
    ran = cuda::sgemmCublas(ta, tb, m, n, k, alpha, dA.f32(), lda, dB.f32(), ldb, beta, dC.f32(), ldc);
  } else {
    cuda::sgemmBuiltin(ta, tb, m, n, k, alpha, dA.f32(), lda, dB.f32(), ldb, beta, dC.f32(), ldc);
  }
  if (!ran) return;
  const auto got = readF(dC);
  char name[200];
  std::snprintf(name, sizeof name, "gemm[%s] %c%c m=%lld n=%lld k=%lld alpha=%g beta=%g pad=%lld", provider,
                ta ? 'T' : 'N', tb ? 'T' : 'N', (long long)m, (long long)n, (long long)k, alpha, beta, (long long)pad);
  const double bound = 16.0 * std::sqrt(double(std::max<int64_t>(k, 1))) * kU / 2;
  expectClose(name, got, cpuC, [&](size_t i) {
    const size_t row = i / size_t(ldc), col = i % size_t(ldc);
    if (int64_t(col) >= n || int64_t(row) >= m) return 1e-30;  // padding: must be untouched (exact)
    const double c0 = beta == 0.0f ? 0.0 : std::fabs(double(beta) * C0[i]);
    return bound * (std::fabs(alpha) * absC[i] + c0) + 1e-30;
  });
}

void testGemm() {
  const bool haveCublas = cuda::sgemmCublas(false, false, 0, 0, 0, 1.0f, nullptr, 1, nullptr, 1, 0.0f, nullptr, 1);
  std::printf("gemm provider: %s%s%s\n", cuda::gemmProvider(), haveCublas ? "" : " (cuBLAS: ",
              haveCublas ? "" : (std::string(cuda::cublasUnavailableReason()) + ")").c_str());
  std::vector<const char*> providers = {"dgclust"};
  if (haveCublas) providers.push_back("cublas");
  const int64_t sizes[] = {1, 3, 17, 64, 65, 129, 200};
  for (const char* prov : providers) {
    for (int form = 0; form < 4; ++form) {
      const bool ta = form & 1, tb = form & 2;
      for (int64_t m : sizes)
        for (int64_t n : {int64_t(1), int64_t(10), int64_t(33), int64_t(130)})
          for (int64_t k : {int64_t(1), int64_t(7), int64_t(64), int64_t(300)}) gemmCase(prov, ta, tb, m, n, k, 1.0f, 0.0f, 0);
      // strides, alpha / beta, k = 0, alpha = 0, split-K (small C, long k), narrow C with long k
      gemmCase(prov, ta, tb, 37, 45, 29, -0.5f, 0.3f, 3);
      gemmCase(prov, ta, tb, 64, 64, 64, 1.0f, 1.0f, 4);
      gemmCase(prov, ta, tb, 20, 30, 0, 1.0f, 0.5f, 0);
      gemmCase(prov, ta, tb, 20, 30, 40, 0.0f, 0.0f, 1);
      gemmCase(prov, ta, tb, 40, 24, 3000, 1.0f, 0.0f, 0);
      gemmCase(prov, ta, tb, 2000, 10, 3025, 1.0f, 0.0f, 0);
      gemmCase(prov, ta, tb, 257, 300, 1030, 2.0f, 0.0f, 2);
      // More output columns than one launch's grid holds (65535 tiles of 32): column slabs, B offset by rows or
      // columns as it is transposed or not; with a pad, the second slab's B and C are not 16-byte aligned.
      gemmCase(prov, ta, tb, 2, 2100000, 3, 1.0f, 0.5f, 1);
    }
  }
  // Through the op front at a model shape, all four forms (as the autograd backward uses them), with determinism.
  const int64_t m = quick ? 300 : 3025, k = quick ? 187 : 1870, n = quick ? 50 : 500;
  for (int form = 0; form < 4; ++form) {
    const bool ta = form & 1, tb = form & 2;
    Tensor a = cpuTensor(uniform(m * k), ta ? Shape{k, m} : Shape{m, k});
    Tensor b = cpuTensor(uniform(k * n), tb ? Shape{n, k} : Shape{k, n});
    Tensor ref = ops::matmul(a, b, ta, tb, 0.75f);
    Tensor absRef = ops::matmul(cpuTensor(absOf(readF(a)), a.shape()), cpuTensor(absOf(readF(b)), b.shape()), ta, tb);
    Tensor ga = gpu(a), gb = gpu(b);
    Tensor c1 = ops::matmul(ga, gb, ta, tb, 0.75f), c2 = ops::matmul(ga, gb, ta, tb, 0.75f);
    const auto absv = readF(absRef);
    const double bound = 16.0 * std::sqrt(double(k)) * kU / 2;
    expectClose(std::string("matmul 3025x1870x500 form ") + "NTNT"[ta] + "NNTT"[form], readF(c1), readF(ref),
                [&](size_t i) { return bound * 0.75 * absv[i] + 1e-30; });
    expectExact("matmul repeats bit for bit", c1, c2);
  }
  // Split-K path through the op front: deterministic.
  Tensor a = gpu(cpuTensor(uniform(3000 * 40), {3000, 40})), b = gpu(cpuTensor(uniform(3000 * 24), {3000, 24}));
  expectExact("matmul split-K repeats bit for bit", ops::matmul(a, b, true, false), ops::matmul(a, b, true, false));

  Tensor x = cpuTensor(uniform(77 * 130), {77, 130});
  expectExact("transpose", ops::transpose(gpu(x)), ops::transpose(x));
  // Taller than the grid's 65535 row tiles of 32: the kernel strides over row tiles.
  Tensor tall = cpuTensor(uniform(2100003 * 3), {2100003, 3});
  expectExact("transpose 2100003x3", ops::transpose(gpu(tall)), ops::transpose(tall));
  Tensor none = cpuTensor(std::vector<float>{}, {0, 5});
  expectExact("transpose 0x5", ops::transpose(gpu(none)), ops::transpose(none));
}

// ---- SpMM --------------------------------------------------------------------------------------------------

struct Graph {
  int64_t n;
  std::vector<int32_t> src, dst;
};

Graph randomGraph(int64_t n, int64_t edges, bool hub) {
  Graph g{n, {}, {}};
  std::uniform_int_distribution<int32_t> node(0, int32_t(n - 1));
  for (int64_t e = 0; e < edges; ++e) {
    g.src.push_back(node(rng));
    g.dst.push_back(hub && e % 3 == 0 ? 0 : node(rng));  // node 0: a hub with ~edges/3 neighbours
  }
  return g;
}

void testSpmm() {
  for (bool hub : {false, true}) {
    const Graph g = randomGraph(1000, 8000, hub);
    ops::GraphOptions o;
    o.norm = ops::Normalization::Sym;
    CsrMatrix cpuA = ops::csrFromEdges(g.n, g.src.data(), g.dst.data(), nullptr, int64_t(g.src.size()), o, Device::CPU);
    CsrMatrix gpuA = ops::csrFromEdges(g.n, g.src.data(), g.dst.data(), nullptr, int64_t(g.src.size()), o, Device::CUDA);
    CsrMatrix gpuAt = ops::csrTranspose(gpuA), cpuAt = ops::csrTranspose(cpuA);
    for (int64_t d : {1, 2, 3, 10, 16, 31, 32, 33, 64, 100, 256, 500, 1870, 2000}) {
      Tensor h = cpuTensor(uniform(g.n * d), {g.n, d});
      Tensor ref = ops::spmm(cpuA, h);
      Tensor gh = gpu(h);
      Tensor got = ops::spmm(gpuA, gh);
      // |Δ| ≤ 4·2^-24·deg·Σ|v||h| per element (exact when the CPU runs its FMA kernels).
      std::vector<float> absV(cpuA.nnz);
      ops::toHost(cpuA.values, absV.data());
      for (float& v : absV) v = std::fabs(v);
      std::vector<int32_t> ip(cpuA.rows + 1), ix(cpuA.nnz);
      ops::toHost(cpuA.indptr, ip.data());
      ops::toHost(cpuA.indices, ix.data());
      CsrMatrix absA = ops::csrFromArrays(cpuA.rows, cpuA.cols, ip.data(), ix.data(), absV.data(), cpuA.nnz, Device::CPU);
      const auto absRef = readF(ops::spmm(absA, cpuTensor(absOf(readF(h)), h.shape())));
      const auto gv = readF(got), rv = readF(ref);
      expectClose("spmm d=" + std::to_string(d) + (hub ? " (hub)" : ""), gv, rv, [&](size_t i) {
        const int64_t row = int64_t(i) / d;
        return 4.0 * kU / 2 * double(ip[row + 1] - ip[row]) * absRef[i] + 1e-30;
      });
      bool bitIdentical = true;
      for (size_t i = 0; i < gv.size(); ++i) bitIdentical &= sameBits(gv[i], rv[i]);
      if (d == 500) std::printf("spmm d=500: %s the CPU bit for bit\n", bitIdentical ? "matches" : "does not match");
      expectExact("spmm repeats bit for bit d=" + std::to_string(d), ops::spmm(gpuA, gh), got);
      if (d == 10 || d == 256) expectClose("spmm transposed d=" + std::to_string(d), readF(ops::spmm(gpuAt, gh)),
                                           readF(ops::spmm(cpuAt, h)), [&](size_t) { return 1e-5; });
    }
  }
}

// ---- elementwise, reductions, indexing, losses -------------------------------------------------------------

void testElementwise() {
  const Shape s{123, 45};
  const int64_t n = 123 * 45;
  auto xv = uniform(n, -4.0f, 4.0f);
  xv[0] = 0.0f;
  xv[1] = -0.0f;
  xv[2] = NAN;
  xv[3] = INFINITY;
  xv[4] = -INFINITY;
  xv[5] = 1e-39f;  // subnormal
  Tensor x = cpuTensor(xv, s), gx = gpu(x);
  Tensor pos = cpuTensor(uniform(n, 0.01f, 5.0f), s), gpos = gpu(pos);
  Tensor y = cpuTensor(uniform(n), s), gy = gpu(y);
  Tensor dy = cpuTensor(uniform(n), s), gdy = gpu(dy);

  const Unary all[] = {Unary::Relu, Unary::LeakyRelu, Unary::Tanh, Unary::Sigmoid, Unary::Exp, Unary::Log, Unary::Square};
  const char* names[] = {"relu", "leakyRelu", "tanh", "sigmoid", "exp", "log", "square"};
  for (int u = 0; u < 7; ++u) {
    const Unary op = all[u];
    const std::string nm = names[u];
    const Tensor& in = op == Unary::Log ? pos : x;
    const Tensor& gin = op == Unary::Log ? gpos : gx;
    Tensor ref = ops::unary(op, in, 0.2f), got = ops::unary(op, gin, 0.2f);
    if (op == Unary::Tanh || op == Unary::Sigmoid || op == Unary::Exp || op == Unary::Log) {
      expectRel("unary " + nm, got, ref, 4 * kU, 1e-30);
    } else {
      expectExact("unary " + nm, got, ref);
    }
    // Gradients: given the same xy (the CPU's forward output when the gradient uses y), bit-identical.
    const Tensor& xy = unaryGradUsesOutput(op) ? ref : in;
    expectExact("unaryGrad " + nm, ops::unaryGrad(op, gpu(xy), gdy, 0.2f), ops::unaryGrad(op, xy, dy, 0.2f));
  }
  const Binary bins[] = {Binary::Add, Binary::Sub, Binary::Mul, Binary::Div};
  for (int b = 0; b < 4; ++b)
    expectExact(std::string("binary ") + "+-*/"[b], ops::binary(bins[b], gx, gy), ops::binary(bins[b], x, y));
  expectExact("affine", ops::affine(gx, 1.7f, -0.3f), ops::affine(x, 1.7f, -0.3f));
  expectExact("axpby", ops::axpby(0.7f, gx, -1.3f, gy), ops::axpby(0.7f, x, -1.3f, y));
  Tensor sc = cpuTensor({-1.25f}, {});
  expectExact("mulScalar", ops::mulScalar(gx, gpu(sc)), ops::mulScalar(x, sc));
  Tensor rv = cpuTensor(uniform(45), {45}), cv = cpuTensor(uniform(123), {123});
  expectExact("addRowVector", ops::addRowVector(gx, gpu(rv)), ops::addRowVector(x, rv));
  expectExact("mulRowVector", ops::mulRowVector(gx, gpu(rv)), ops::mulRowVector(x, rv));
  expectExact("mulColVector", ops::mulColVector(gx, gpu(cv)), ops::mulColVector(x, cv));
  expectExact("expandRows", ops::expandRows(gpu(rv), 7), ops::expandRows(rv, 7));
  expectExact("expandCols", ops::expandCols(gpu(cv), 9), ops::expandCols(cv, 9));
  expectExact("expandScalar", ops::expandScalar(gpu(sc), {5, 3, 2}), ops::expandScalar(sc, {5, 3, 2}));
  expectExact("full f32", ops::full({1000}, -2.5, DType::F32, Device::CUDA), ops::full({1000}, -2.5, DType::F32, Device::CPU));
  expectExact("full f32 -0", ops::full({10}, -0.0, DType::F32, Device::CUDA), ops::full({10}, -0.0, DType::F32, Device::CPU));
  expectExact("full i32", ops::full({1000}, -7, DType::I32, Device::CUDA), ops::full({1000}, -7, DType::I32, Device::CPU));
  expectExact("clone", ops::clone(gx), x);
  expectExact("to cuda→cpu", ops::to(gx, Device::CPU), x);
}

void testReductions() {
  for (auto shape : {Shape{1, 1}, Shape{300, 7}, Shape{64, 1000}, Shape{20, 5000}, Shape{5000, 3},
                     Shape{quick ? 3000 : 70000, 2}}) {
    const int64_t n = shape[0] * shape[1];
    auto xv = uniform(n, -3.0f, 3.0f);
    Tensor x = cpuTensor(xv, shape), gx = gpu(x);
    const std::string tag = " " + shapeStr(shape);
    double absSum = 0;
    for (float v : xv) absSum += std::fabs(v);
    expectRel("rowSum" + tag, ops::rowSum(gx), ops::rowSum(x), kU, 1e-12 * absSum);
    expectRel("colSum" + tag, ops::colSum(gx), ops::colSum(x), kU, 1e-12 * absSum);
    expectRel("sumAll" + tag, ops::sumAll(gx), ops::sumAll(x), kU, 1e-12 * absSum);
    expectExact("sumAll repeats" + tag, ops::sumAll(gx), ops::sumAll(gx));
    expectExact("colSum repeats" + tag, ops::colSum(gx), ops::colSum(gx));
    expectExact("argmaxRows" + tag, ops::argmaxRows(gx), ops::argmaxRows(x));
    for (bool log : {false, true}) {
      const std::string nm = (log ? "logSoftmaxRows" : "softmaxRows") + tag;
      Tensor ref = ops::softmaxRows(x, log), got = ops::softmaxRows(gx, log);
      expectRel(nm, got, ref, 8 * kU, 8 * kU);
      Tensor dy = cpuTensor(uniform(n), shape);
      // The gradient is compared given the same y (the CPU's).
      expectRel(nm + " grad", ops::softmaxRowsGrad(gpu(ref), gpu(dy), log), ops::softmaxRowsGrad(ref, dy, log),
                8 * kU, 8 * kU * (log ? double(shape[1]) : 1.0));
    }
  }
  // Ties, NaN, infinities: argmax must agree exactly; softmax of a -inf row and of NaN rows as the CPU.
  std::vector<float> special = {1, 3, 3, 2,  NAN, 1, NAN, 5,  -INFINITY, -INFINITY, -INFINITY, -INFINITY,
                                0, -0.0f, 0, 0,  INFINITY, 1, INFINITY, 2,  -1, NAN, -2, -3};
  Tensor sx = cpuTensor(special, {6, 4});
  expectExact("argmaxRows ties / NaN / inf", ops::argmaxRows(gpu(sx)), ops::argmaxRows(sx));
  expectRel("softmaxRows special rows", ops::softmaxRows(gpu(sx), false), ops::softmaxRows(sx, false), 8 * kU, 8 * kU);
  // Wide rows, few of them (the block-per-row layout).
  Tensor wide = cpuTensor(uniform(3 * 20000), {3, 20000});
  expectExact("argmaxRows wide", ops::argmaxRows(gpu(wide)), ops::argmaxRows(wide));
  expectRel("softmaxRows wide", ops::softmaxRows(gpu(wide), false), ops::softmaxRows(wide, false), 8 * kU, 1e-12);
}

void testIndexing() {
  Tensor a = cpuTensor(uniform(50 * 3), {50, 3}), b = cpuTensor(uniform(50 * 17), {50, 17}),
         c = cpuTensor(uniform(50 * 1), {50, 1});
  expectExact("concatCols", ops::concatCols({gpu(a), gpu(b), gpu(c)}), ops::concatCols({a, b, c}));
  expectExact("sliceCols", ops::sliceCols(gpu(b), 4, 13), ops::sliceCols(b, 4, 13));
  expectExact("padCols", ops::padCols(gpu(b), 5, 30), ops::padCols(b, 5, 30));
  std::vector<int32_t> idx = {0, 2, 2, 49, 7, 2, 0, 13, 13, 13, 40};
  Tensor ci = cpuInts(idx, {int64_t(idx.size())}), gi = gpu(ci);
  expectExact("gatherRows", ops::gatherRows(gpu(b), gi), ops::gatherRows(b, ci));
  Tensor src = cpuTensor(uniform(int64_t(idx.size()) * 17), {int64_t(idx.size()), 17});
  expectExact("scatterAddRows (repeated indices)", ops::scatterAddRows(gpu(src), gi, 50), ops::scatterAddRows(src, ci, 50));
  // A larger scatter with many repeats.
  std::vector<int32_t> big(5000);
  std::uniform_int_distribution<int32_t> r(0, 99);
  for (int32_t& v : big) v = r(rng);
  Tensor bi = cpuInts(big, {5000}), bs = cpuTensor(uniform(5000 * 33), {5000, 33});
  expectExact("scatterAddRows 5000 → 100", ops::scatterAddRows(gpu(bs), gpu(bi), 100), ops::scatterAddRows(bs, bi, 100));
}

void testLosses() {
  for (int64_t n : {int64_t(1), int64_t(1000), int64_t(100003)}) {
    Tensor a = cpuTensor(uniform(n, -5, 5), {n}), b = cpuTensor(uniform(n, -5, 5), {n});
    Tensor t = cpuTensor(uniform(n, 0, 1), {n}), g = cpuTensor({0.37f}, {});
    const std::string tag = " n=" + std::to_string(n);
    expectRel("mse" + tag, ops::mse(gpu(a), gpu(b)), ops::mse(a, b), kU, 0);
    expectExact("mseGrad" + tag, ops::mseGrad(gpu(a), gpu(b), gpu(g)), ops::mseGrad(a, b, g));
    expectRel("bceWithLogits" + tag, ops::bceWithLogits(gpu(a), gpu(t)), ops::bceWithLogits(a, t), 2 * kU, 0);
    expectRel("bceWithLogitsGrad" + tag, ops::bceWithLogitsGrad(gpu(a), gpu(t), gpu(g)),
              ops::bceWithLogitsGrad(a, t, g), 4 * kU, 4 * kU * 0.37 / double(n));
  }
}

void testOptimizers() {
  const int64_t n = 10007;
  for (bool decoupled : {false, true}) {
    Tensor p = cpuTensor(uniform(n), {n}), m = ops::full({n}, 0, DType::F32, Device::CPU),
           v = ops::full({n}, 0, DType::F32, Device::CPU);
    Tensor gp = gpu(p), gm = gpu(m), gv = gpu(v);
    AdamParams ap;
    ap.lr = 1e-2f;
    ap.weightDecay = 0.01f;
    ap.decoupled = decoupled;
    for (int step = 1; step <= 5; ++step) {
      ap.step = step;
      Tensor grad = cpuTensor(uniform(n), {n});
      ops::adamStep(p, grad, m, v, ap);
      ops::adamStep(gp, gpu(grad), gm, gv, ap);
    }
    const std::string nm = decoupled ? "adamW" : "adam";
    expectExact(nm + " param", gp, p);
    expectExact(nm + " m", gm, m);
    expectExact(nm + " v", gv, v);
  }
  for (float momentum : {0.0f, 0.9f}) {
    Tensor p = cpuTensor(uniform(n), {n}), vel = ops::full({n}, 0, DType::F32, Device::CPU);
    Tensor gp = gpu(p), gvel = gpu(vel);
    for (int step = 0; step < 4; ++step) {
      Tensor grad = cpuTensor(uniform(n), {n});
      ops::sgdStep(p, grad, &vel, 0.05f, momentum, 1e-3f);
      ops::sgdStep(gp, gpu(grad), &gvel, 0.05f, momentum, 1e-3f);
    }
    expectExact(std::string("sgd momentum=") + (momentum > 0 ? "0.9" : "0"), gp, p);
  }
}

void testRandom() {
  for (int64_t n : {int64_t(1), int64_t(2), int64_t(3), int64_t(5), int64_t(1000), quick ? int64_t(4099) : int64_t(1) << 22}) {
    for (uint64_t seed : {uint64_t(0), uint64_t(42), (uint64_t(1) << 53) - 1}) {
      const std::string tag = " n=" + std::to_string(n) + " seed=" + std::to_string(seed);
      expectExact("randomUniform" + tag, ops::randomUniform({n}, -0.3f, 1.7f, seed, 7, Device::CUDA),
                  ops::randomUniform({n}, -0.3f, 1.7f, seed, 7, Device::CPU));
      expectExact("randomUniform large |low|" + tag, ops::randomUniform({n}, 1e6f, 1e6f + 1.0f, seed, 3, Device::CUDA),
                  ops::randomUniform({n}, 1e6f, 1e6f + 1.0f, seed, 3, Device::CPU));
      expectExact("randomNormal" + tag, ops::randomNormal({n}, 0.5f, 2.0f, seed, 11, Device::CUDA),
                  ops::randomNormal({n}, 0.5f, 2.0f, seed, 11, Device::CPU));
    }
  }
}

// ---- validation on the device ------------------------------------------------------------------------------

std::string errorOf(const std::function<void()>& f, std::string* code = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (code) *code = codeName(e.code());
    return e.what();
  }
  return "(no error)";
}

void testValidation() {
  // Non-finite values are found on the device with the CPU's message.
  std::vector<float> q = uniform(40 * 5, 0.1f, 1.0f);
  q[17] = NAN;
  Tensor cq = cpuTensor(q, {40, 5});
  const std::string cpuMsg = errorOf([&] { ops::targetDistribution(cq); });
  const std::string gpuMsg = errorOf([&] { ops::targetDistribution(gpu(cq)); });
  record(cpuMsg == gpuMsg && cpuMsg.find("non-finite") != std::string::npos, "non-finite check message",
         "cpu: " + cpuMsg + " | cuda: " + gpuMsg);
  // Mixed devices name the op and both arguments.
  Tensor a = cpuTensor(uniform(6), {2, 3});
  std::string code;
  const std::string mixed = errorOf([&] { ops::matmul(a, gpu(a), false, true); }, &code);
  record(code == "DGC_DEVICE" && mixed.find("matmul") != std::string::npos && mixed.find("'b'") != std::string::npos,
         "mixed devices → DGC_DEVICE", mixed);
  const std::string mixed2 = errorOf([&] { ops::binary(Binary::Add, gpu(a), a); }, &code);
  record(code == "DGC_DEVICE" && mixed2.find("binary") != std::string::npos, "mixed devices (binary)", mixed2);
}

// ---- timing ------------------------------------------------------------------------------------------------

template <typename F>
double timeMs(F f, int reps = 20) {
  for (int i = 0; i < 3; ++i) f();
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  cudaEventRecord(a, cuda::stream());
  for (int i = 0; i < reps; ++i) f();
  cudaEventRecord(b, cuda::stream());
  cudaEventSynchronize(b);
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return ms / reps;
}

void timeGemm() {
  const bool haveCublas = std::strcmp(cuda::gemmProvider(), "cublas") == 0;
  std::printf("\nGEMM timings (GFLOP/s; built-in / cuBLAS%s):\n", haveCublas ? "" : " not available");
  struct Shape3 { int64_t m, k, n; };
  for (Shape3 s : {Shape3{3025, 1870, 500}, Shape3{10000, 500, 2000}, Shape3{10000, 2000, 10}}) {
    // Forward C = X·W (NN), and the backward products dX = G·Wᵀ (NT) and dW = Xᵀ·G (TN).
    struct Form { const char* name; bool ta, tb; int64_t m, n, k; };
    const Form forms[] = {{"NN  X·W ", false, false, s.m, s.n, s.k},
                          {"NT  G·Wᵀ", false, true, s.m, s.k, s.n},
                          {"TN  Xᵀ·G", true, false, s.k, s.n, s.m}};
    for (const Form& f : forms) {
      const int64_t aRows = f.ta ? f.k : f.m, aCols = f.ta ? f.m : f.k, bRows = f.tb ? f.n : f.k, bCols = f.tb ? f.k : f.n;
      Tensor A = gpu(cpuTensor(uniform(aRows * aCols), {aRows, aCols}));
      Tensor B = gpu(cpuTensor(uniform(bRows * bCols), {bRows, bCols}));
      Tensor C = Tensor::empty({f.m, f.n}, DType::F32, Device::CUDA);
      const double flops = 2.0 * double(f.m) * double(f.n) * double(f.k);
      const double tOwn = timeMs([&] {
        cuda::sgemmBuiltin(f.ta, f.tb, f.m, f.n, f.k, 1.0f, A.f32(), aCols, B.f32(), bCols, 0.0f, C.f32(), f.n);
      });
      double tBlas = 0;
      if (haveCublas)
        tBlas = timeMs([&] {
          cuda::sgemmCublas(f.ta, f.tb, f.m, f.n, f.k, 1.0f, A.f32(), aCols, B.f32(), bCols, 0.0f, C.f32(), f.n);
        });
      std::printf("  %5lld x %5lld x %5lld %s: built-in %8.1f GFLOP/s (%.3f ms)", (long long)f.m, (long long)f.k,
                  (long long)f.n, f.name, flops / tOwn / 1e6, tOwn);
      if (haveCublas) std::printf("   cuBLAS %8.1f GFLOP/s   built-in/cuBLAS = %.0f%%", flops / tBlas / 1e6, 100.0 * tBlas / tOwn);
      std::printf("\n");
    }
  }
}

void timeSpmm() {
  std::printf("\nSpMM timings (10000 nodes, ~16 neighbours per row, sym-normalized; effective GB/s counts the CSR, "
              "one read of H per nonzero and the output):\n");
  const Graph g = randomGraph(10000, 80000, false);
  ops::GraphOptions o;
  o.norm = ops::Normalization::Sym;
  CsrMatrix a = ops::csrFromEdges(g.n, g.src.data(), g.dst.data(), nullptr, int64_t(g.src.size()), o, Device::CUDA);
  for (int64_t d : {10, 32, 256, 500, 2000}) {
    Tensor h = gpu(cpuTensor(uniform(g.n * d), {g.n, d}));
    Tensor out = Tensor::empty({g.n, d}, DType::F32, Device::CUDA);
    const double ms = timeMs([&] { backendFor(Device::CUDA).spmm(a, h, out); });
    const double bytes = double(a.nnz) * 8 + double(a.rows + 1) * 4 + double(a.nnz) * d * 4 + double(a.rows) * d * 4;
    std::printf("  d = %5lld: %.3f ms, %.0f GB/s effective (nnz %lld)\n", (long long)d, ms, bytes / ms / 1e6,
                (long long)a.nnz);
  }
}

}  // namespace

int main() {
  if (!hasBackend(Device::CUDA)) {
    const char* why = cudaUnavailableReason();
    std::printf("skipped: no CUDA device (%s)\n", why ? why : "unknown");
    return 0;
  }
  const CudaDeviceInfo info = cudaDeviceInfo();
  std::printf("CUDA device %d: %s, compute %d.%d, %d SMs, %.1f GiB\n", info.ordinal, info.name.c_str(),
              info.computeMajor, info.computeMinor, info.multiprocessors, double(info.totalBytes) / (1 << 30));
  try {
    testElementwise();
    testReductions();
    testIndexing();
    testLosses();
    testOptimizers();
    testRandom();
    testValidation();
    testSpmm();
    testGemm();
    if (!quick) {
      timeGemm();
      timeSpmm();
    }
    backendFor(Device::CUDA).synchronize();
  } catch (const std::exception& e) {
    std::printf("FAIL: exception: %s\n", e.what());
    return 1;
  }
  std::printf("\n%d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
