// CPU↔CUDA parity test and benchmark for the fused CUDA kernels (cuda/cuda_backend.h). Standalone: no Node.
//
// Build: a test/native/*_test.cu target linked with --whole-archive dgclust_core (which holds the CPU backend and,
// in a CUDA build, cuda/*.cu). Run: cuda_fused_test [--quick] [--no-bench]
//   --quick     smaller benchmark (N = 10,000 and 100,000 only)
//   --no-bench  parity only
// Without a CUDA device it prints "skipped: no CUDA device" and exits 0. Exit status 1 if any check fails.
//
// Every op runs on the same random inputs through backendFor(Device::CPU) and backendFor(Device::CUDA), including
// awkward sizes (n not a multiple of any tile, n = 1, k = 1, d = 1, widths above the fast-kernel buckets). Errors
// are NORMWISE: max_i |gpu_i − cpu_i| / max(max_i |cpu_i|, floor), against a tolerance stated per op below (the
// floor, 1e-30, only matters for all-zero references). Reasons for the tolerances:
//   * attention / self-correlation: float sums over up to ~3000 keys in different orders, exp2 of ~2^-22 relative
//     error on both sides: forward 2e-5, backward 2e-4 (dK, dV sum over all queries, and the backward's
//     D_i − dOut·v cancels), each plus κ = 8·2^-24·max|logit| (the float rounding of the logits themselves, as in
//     test/native/attention_test.cc: ~1e-5 for these inputs, ~1e-2 for the huge-norm case).
//   * graph reconstruction: the loss is a double sum of float terms: 1e-5 relative; gradients: float sums per tile,
//     C split differently (dense + sparse vs one float tile): 2e-4.
//   * clustering head: everything in double on both sides, float outputs: 1e-5 (q, p, losses), 1e-4 (gradients);
//     pairwise CDC kernels (b×b double intermediates, chained clips): 1e-4.
//   * k-means: the random choices may differ at rounding boundaries (kmeans.cu), so the check is on well-separated
//     blobs where both must find the same partition: labels equal up to a permutation, inertia within 1e-4.
//   * kNN: exact (the filter is rigorous and the exact keys are computed with the CPU's operations): identical
//     neighbour lists, in the same order.
// Determinism: the self-correlation backward and the MSE reconstruction gradient are run twice and must be
// bit-identical.
// Benchmark: self-correlation forward (4·N²·d flops) and fused backward (10·N²·d flops, the CPU's count) at
// N = 10,000 / 100,000 / 1,000,000, d = 20, reported in GFLOP/s and as % of 67 TFLOP/s (H100 SXM FP32 peak).
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../../native/core/backend.h"
#include "../../native/core/tensor.h"

namespace dgc {
namespace cuda {
cudaStream_t stream();  // cuda/backend.cu
}
}  // namespace dgc

using dgc::Backend;
using dgc::CsrMatrix;
using dgc::Device;
using dgc::DType;
using dgc::Shape;
using dgc::Tensor;

namespace {

int gFailures = 0, gChecks = 0;

void cudaOk(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "CUDA error in %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

void sync() { cudaOk(cudaStreamSynchronize(dgc::cuda::stream()), "stream synchronize"); }

// The CUDA backend's op methods (cuda/cuda_backend.h), through the op table.
Backend& gpu() { return dgc::backendFor(Device::CUDA); }

Tensor hostF(const Shape& s, const std::vector<float>& v) {
  Tensor t = Tensor::empty(s, DType::F32, Device::CPU);
  if (!v.empty()) std::memcpy(t.raw(), v.data(), v.size() * sizeof(float));
  return t;
}
Tensor hostI(const Shape& s, const std::vector<int32_t>& v) {
  Tensor t = Tensor::empty(s, DType::I32, Device::CPU);
  if (!v.empty()) std::memcpy(t.raw(), v.data(), v.size() * sizeof(int32_t));
  return t;
}
// Uploads go through the legacy default stream, which does not order with the backend's non-blocking stream: wait
// for the backend's pending work first (a block this tensor reuses may still be read by it).
Tensor devF(const Shape& s, const std::vector<float>& v) {
  Tensor t = Tensor::empty(s, DType::F32, Device::CUDA);
  sync();
  if (!v.empty()) cudaOk(cudaMemcpy(t.raw(), v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice), "upload");
  return t;
}
Tensor devI(const Shape& s, const std::vector<int32_t>& v) {
  Tensor t = Tensor::empty(s, DType::I32, Device::CUDA);
  sync();
  if (!v.empty()) cudaOk(cudaMemcpy(t.raw(), v.data(), v.size() * sizeof(int32_t), cudaMemcpyHostToDevice), "upload");
  return t;
}
std::vector<float> getF(const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  if (v.empty()) return v;
  if (t.device() == Device::CUDA) {
    sync();
    cudaOk(cudaMemcpy(v.data(), t.raw(), v.size() * sizeof(float), cudaMemcpyDeviceToHost), "download");
  } else {
    std::memcpy(v.data(), t.raw(), v.size() * sizeof(float));
  }
  return v;
}
std::vector<int32_t> getI(const Tensor& t) {
  std::vector<int32_t> v(static_cast<size_t>(t.numel()));
  if (v.empty()) return v;
  if (t.device() == Device::CUDA) {
    sync();
    cudaOk(cudaMemcpy(v.data(), t.raw(), v.size() * sizeof(int32_t), cudaMemcpyDeviceToHost), "download");
  } else {
    std::memcpy(v.data(), t.raw(), v.size() * sizeof(int32_t));
  }
  return v;
}

std::vector<float> randn(size_t count, float sd, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> dist(0.0f, sd);
  std::vector<float> v(count);
  for (auto& x : v) x = dist(g);
  return v;
}
// Normwise relative error of a against the reference b; `floor` bounds the normalization from below (for outputs
// that are exactly zero in exact arithmetic, where the reference holds only rounding noise).
double normwise(const std::vector<float>& a, const std::vector<float>& b, double floor = 1e-30) {
  double diff = 0.0, ref = 0.0;
  for (size_t i = 0; i < b.size(); ++i)
    if (std::isfinite(b[i])) ref = std::max(ref, std::fabs(static_cast<double>(b[i])));
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i]) continue;  // also equal infinities (lse = −inf without keys)
    const double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    diff = std::isnan(d) ? INFINITY : std::max(diff, d);
  }
  return diff / std::max(ref, floor);
}

void check(const std::string& what, double err, double tol) {
  ++gChecks;
  const bool ok = err <= tol;
  if (!ok) ++gFailures;
  std::printf("  %-4s %-70s err %.2e (tol %.0e)\n", ok ? "ok" : "FAIL", what.c_str(), err, tol);
}
void checkTensor(const std::string& what, const Tensor& gpu, const Tensor& cpu, double tol, double floor = 1e-30) {
  check(what, normwise(getF(gpu), getF(cpu), floor), tol);
}
void checkExact(const std::string& what, bool equal) {
  ++gChecks;
  if (!equal) ++gFailures;
  std::printf("  %-4s %s\n", equal ? "ok" : "FAIL", what.c_str());
}

Backend& cpuB() { return dgc::backendFor(Device::CPU); }

// ---- attention ------------------------------------------------------------------------------------------------------

void testAttention(int64_t n, int64_t m, int64_t heads, int64_t dk, int64_t dv, float scale, uint32_t seed) {
  const std::string tag = "attention n=" + std::to_string(n) + " m=" + std::to_string(m) + " h=" +
                          std::to_string(heads) + " dk=" + std::to_string(dk) + " dv=" + std::to_string(dv);
  const auto q = randn(n * heads * dk, 1.0f, seed), k = randn(m * heads * dk, 1.0f, seed + 1),
             v = randn(m * heads * dv, 1.0f, seed + 2), g = randn(n * heads * dv, 1.0f, seed + 3);
  const Shape sq{n, heads * dk}, sk{m, heads * dk}, sv{m, heads * dv}, so{n, heads * dv}, sl{n, heads};
  Tensor cq = hostF(sq, q), ck = hostF(sk, k), cv = hostF(sv, v), cg = hostF(so, g);
  Tensor gq = devF(sq, q), gk = devF(sk, k), gv = devF(sv, v), gg = devF(so, g);
  Tensor co = hostF(so, {}), cl = hostF(sl, {}), go = devF(so, {}), gl = devF(sl, {});
  cpuB().attentionForward(cq, ck, cv, heads, scale, co, cl);
  gpu().attentionForward(gq, gk, gv, heads, scale, go, gl);
  // κ = 8·2^-24·max|logit| bounds the effect of the logits' own float rounding (see the file comment).
  auto maxRowNorm = [&](const std::vector<float>& x, int64_t rows, int64_t h) {
    double best = 0.0;
    for (int64_t i = 0; i < rows; ++i) {
      double s2 = 0.0;
      for (int64_t c = 0; c < dk; ++c) {
        const double e = x[(i * heads + h) * dk + c];
        s2 += e * e;
      }
      best = std::max(best, std::sqrt(s2));
    }
    return best;
  };
  double maxLogit = 0.0;
  for (int64_t h = 0; h < heads; ++h)
    maxLogit = std::max(maxLogit, std::fabs(scale) * maxRowNorm(q, n, h) * maxRowNorm(k, m, h));
  const double kappa = 8.0 * std::ldexp(1.0, -24) * maxLogit;
  checkTensor(tag + " out", go, co, 2e-5 + kappa);
  checkTensor(tag + " lse", gl, cl, 2e-5 + kappa);
  Tensor cdq = hostF(sq, {}), cdk = hostF(sk, {}), cdv = hostF(sv, {});
  Tensor gdq = devF(sq, {}), gdk = devF(sk, {}), gdv = devF(sv, {});
  cpuB().attentionBackward(cq, ck, cv, co, cl, cg, heads, scale, cdq, cdk, cdv);
  gpu().attentionBackward(gq, gk, gv, go, gl, gg, heads, scale, gdq, gdk, gdv);
  // With one key, dQ and dK are exactly 0 (p = 1, dS = dOut·v − D = 0) and the CPU's values are rounding noise
  // (~1e-6): there the error is taken relative to 1, the size of these O(1) inputs, instead of to the noise.
  const double floor = m == 1 ? 1.0 : 1e-2;
  checkTensor(tag + " dQ", gdq, cdq, 2e-4 + kappa, floor);
  checkTensor(tag + " dK", gdk, cdk, 2e-4 + kappa, floor);
  checkTensor(tag + " dV", gdv, cdv, 2e-4 + kappa, floor);
}

void testSelfCorrelation(int64_t n, int64_t d, float sd, uint32_t seed) {
  const std::string tag = "selfCorrelation n=" + std::to_string(n) + " d=" + std::to_string(d);
  const auto z = randn(n * d, sd, seed), g = randn(n * d, 1.0f, seed + 1);
  Tensor cz = hostF({n, d}, z), cg = hostF({n, d}, g), gz = devF({n, d}, z), gg = devF({n, d}, g);
  Tensor co = hostF({n, d}, {}), cl = hostF({n, 1}, {}), go = devF({n, d}, {}), gl = devF({n, 1}, {});
  cpuB().selfCorrelationForward(cz, co, cl);
  gpu().selfCorrelationForward(gz, go, gl);
  // Logits are only known to their float rounding, 2^-24·|s_ij| (native/cpu's attention test calls it κ): with
  // ‖z‖² ~ 1e4 the softmax weights themselves, on either side, carry relative errors of ~1e-3.
  double maxNorm2 = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    double s2 = 0.0;
    for (int64_t c = 0; c < d; ++c) s2 += static_cast<double>(z[i * d + c]) * z[i * d + c];
    maxNorm2 = std::max(maxNorm2, s2);
  }
  const double kappa = 8.0 * std::ldexp(1.0, -24) * maxNorm2;
  checkTensor(tag + " out", go, co, 2e-5 + kappa);
  checkTensor(tag + " lse", gl, cl, 2e-5 + kappa);
  Tensor cdz = hostF({n, d}, {}), gdz = devF({n, d}, {}), gdz2 = devF({n, d}, {});
  cpuB().selfCorrelationBackward(cz, co, cl, cg, cdz);
  gpu().selfCorrelationBackward(gz, go, gl, gg, gdz);
  checkTensor(tag + " dZ", gdz, cdz, 2e-4 + kappa, 1e-2);
  gpu().selfCorrelationBackward(gz, go, gl, gg, gdz2);
  checkExact(tag + " dZ bit-identical on a second run", getF(gdz) == getF(gdz2));
}

// ---- graph reconstruction -------------------------------------------------------------------------------------------

struct HostCsr {
  int64_t n = 0;
  std::vector<int32_t> indptr, indices;
  std::vector<float> values;
};

// A random graph with self loops, row-normalized (D⁻¹(A+I)), or random values in [0, 1] (BCE targets).
HostCsr randomGraph(int64_t n, int avgDegree, bool unitInterval, uint32_t seed) {
  std::mt19937 g(seed);
  HostCsr h;
  h.n = n;
  h.indptr.push_back(0);
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int32_t> cols{static_cast<int32_t>(i)};
    for (int e = 0; e < avgDegree; ++e) cols.push_back(static_cast<int32_t>(g() % n));
    std::sort(cols.begin(), cols.end());
    cols.erase(std::unique(cols.begin(), cols.end()), cols.end());
    for (int32_t c : cols) {
      h.indices.push_back(c);
      h.values.push_back(unitInterval ? std::uniform_real_distribution<float>(0.0f, 1.0f)(g)
                                      : 1.0f / static_cast<float>(cols.size()));
    }
    h.indptr.push_back(static_cast<int32_t>(h.indices.size()));
  }
  return h;
}

CsrMatrix makeCsr(const HostCsr& h, bool device) {
  CsrMatrix a;
  a.rows = a.cols = h.n;
  a.nnz = static_cast<int64_t>(h.indices.size());
  const Shape sp{h.n + 1}, se{a.nnz};
  a.indptr = device ? devI(sp, h.indptr) : hostI(sp, h.indptr);
  a.indices = device ? devI(se, h.indices) : hostI(se, h.indices);
  a.values = device ? devF(se, h.values) : hostF(se, h.values);
  return a;
}

void testRecon(int64_t n, int64_t d1, int64_t d2, bool bce, float sd, uint32_t seed) {
  const bool two = d2 > 0;
  const std::string tag = std::string(bce ? "gramSigmoidBce" : "gramSigmoidMse") + " n=" + std::to_string(n) +
                          " d1=" + std::to_string(d1) + (two ? " d2=" + std::to_string(d2) : "");
  const HostCsr h = randomGraph(n, 6, bce, seed);
  const CsrMatrix ca = makeCsr(h, false), ga = makeCsr(h, true);
  const auto z1 = randn(n * d1, sd, seed + 1), z2 = randn(n * std::max<int64_t>(d2, 1), sd, seed + 2);
  Tensor cz1 = hostF({n, d1}, z1), gz1 = devF({n, d1}, z1);
  Tensor cz2, gz2;
  if (two) cz2 = hostF({n, d2}, z2), gz2 = devF({n, d2}, z2);
  Tensor cl = hostF({}, {}), gl = devF({}, {}), gl2 = devF({}, {});
  Tensor cd1 = hostF({n, d1}, {}), gd1 = devF({n, d1}, {}), gd1b = devF({n, d1}, {});
  Tensor cd2, gd2;
  if (two) cd2 = hostF({n, d2}, {}), gd2 = devF({n, d2}, {});
  const float g = 0.7f;
  if (bce) {
    cpuB().gramSigmoidBceLoss(cz1, ca, g, cl, &cd1);
    gpu().gramSigmoidBceLoss(gz1, ga, g, gl, &gd1);
    gpu().gramSigmoidBceLoss(gz1, ga, g, gl2, nullptr);
  } else {
    cpuB().gramSigmoidMseLoss(cz1, two ? &cz2 : nullptr, ca, g, cl, &cd1, two ? &cd2 : nullptr);
    gpu().gramSigmoidMseLoss(gz1, two ? &gz2 : nullptr, ga, g, gl, &gd1, two ? &gd2 : nullptr);
    gpu().gramSigmoidMseLoss(gz1, two ? &gz2 : nullptr, ga, g, gl2, &gd1b, nullptr);
    checkExact(tag + " dZ1 bit-identical on a second run", getF(gd1) == getF(gd1b));
  }
  checkTensor(tag + " loss", gl, cl, 1e-5);
  checkExact(tag + " loss identical with and without gradients", getF(gl) == getF(gl2));
  checkTensor(tag + " dZ1", gd1, cd1, 2e-4);
  if (two) checkTensor(tag + " dZ2", gd2, cd2, 2e-4);
}

// ---- clustering head ------------------------------------------------------------------------------------------------

void testStudentT(int64_t n, int64_t k, int64_t d, double nu, uint32_t seed) {
  const std::string tag = "studentT n=" + std::to_string(n) + " k=" + std::to_string(k) + " d=" + std::to_string(d) +
                          " nu=" + std::to_string(nu).substr(0, 4);
  const auto z = randn(n * d, 1.0f, seed), mu = randn(k * d, 1.0f, seed + 1), dq = randn(n * k, 1.0f, seed + 2);
  Tensor cz = hostF({n, d}, z), cmu = hostF({k, d}, mu), gz = devF({n, d}, z), gmu = devF({k, d}, mu);
  Tensor cq = hostF({n, k}, {}), gq = devF({n, k}, {});
  cpuB().studentT(cz, cmu, nu, cq);
  gpu().studentT(gz, gmu, nu, gq);
  checkTensor(tag + " q", gq, cq, 1e-5);
  // Backward with the CPU's q on both sides (the op's contract: the forward's Q is an input).
  const auto qv = getF(cq);
  Tensor gqIn = devF({n, k}, qv), cdq = hostF({n, k}, dq), gdq = devF({n, k}, dq);
  Tensor cdz = hostF({n, d}, {}), cdmu = hostF({k, d}, {}), gdz = devF({n, d}, {}), gdmu = devF({k, d}, {});
  cpuB().studentTBackward(cz, cmu, nu, cq, cdq, &cdz, &cdmu);
  gpu().studentTBackward(gz, gmu, nu, gqIn, gdq, &gdz, &gdmu);
  checkTensor(tag + " backward dZ", gdz, cdz, 1e-4);
  checkTensor(tag + " backward dMu", gdmu, cdmu, 1e-4);
  // Target distribution of q.
  Tensor cp = hostF({n, k}, {}), gp = devF({n, k}, {});
  cpuB().targetDistribution(cq, cp);
  gpu().targetDistribution(gqIn, gp);
  checkTensor(tag + " targetDistribution", gp, cp, 1e-5);
  // KL, one embedding and the triplet.
  const auto pv = getF(cp);
  Tensor gpIn = devF({n, k}, pv);
  const double scale = 10.0 / std::max<int64_t>(n, 1);
  {
    Tensor cl = hostF({}, {}), gl = devF({}, {});
    Tensor cdz1 = hostF({n, d}, {}), gdz1 = devF({n, d}, {}), cm = hostF({k, d}, {}), gm = devF({k, d}, {});
    std::vector<Tensor*> cdzs{&cdz1}, gdzs{&gdz1};
    cpuB().klStudentT({cz}, cmu, nu, cp, scale, cl, cdzs, &cm);
    gpu().klStudentT({gz}, gmu, nu, gpIn, scale, gl, gdzs, &gm);
    checkTensor(tag + " KL loss", gl, cl, 1e-5);
    checkTensor(tag + " KL dZ", gdz1, cdz1, 1e-4);
    checkTensor(tag + " KL dMu", gm, cm, 1e-4);
  }
  {
    const auto z2 = randn(n * d, 1.0f, seed + 3), z3 = randn(n * d, 1.0f, seed + 4);
    Tensor cz2 = hostF({n, d}, z2), cz3 = hostF({n, d}, z3), gz2 = devF({n, d}, z2), gz3 = devF({n, d}, z3);
    Tensor cl = hostF({}, {}), gl = devF({}, {});
    Tensor c1 = hostF({n, d}, {}), c2 = hostF({n, d}, {}), c3 = hostF({n, d}, {});
    Tensor g1 = devF({n, d}, {}), g2 = devF({n, d}, {}), g3 = devF({n, d}, {});
    Tensor cm = hostF({k, d}, {}), gm = devF({k, d}, {});
    std::vector<Tensor*> cdzs{&c1, &c2, &c3}, gdzs{&g1, &g2, &g3};
    cpuB().klStudentT({cz, cz2, cz3}, cmu, nu, cp, scale, cl, cdzs, &cm);
    gpu().klStudentT({gz, gz2, gz3}, gmu, nu, gpIn, scale, gl, gdzs, &gm);
    checkTensor(tag + " triplet KL loss", gl, cl, 1e-5);
    checkTensor(tag + " triplet KL dZ2", g2, c2, 1e-4);
    checkTensor(tag + " triplet KL dZ3", g3, c3, 1e-4);
    checkTensor(tag + " triplet KL dMu", gm, cm, 1e-4);
  }
  for (double gamma : {2.0, 0.0}) {
    Tensor cl = hostF({}, {}), gl = devF({}, {});
    Tensor cdz1 = hostF({n, d}, {}), gdz1 = devF({n, d}, {}), cm = hostF({k, d}, {}), gm = devF({k, d}, {});
    cpuB().focalStudentT(cz, cmu, nu, cp, gamma, scale, cl, &cdz1, &cm);
    gpu().focalStudentT(gz, gmu, nu, gpIn, gamma, scale, gl, &gdz1, &gm);
    const std::string t = tag + " focal gamma=" + std::to_string(static_cast<int>(gamma));
    checkTensor(t + " loss", gl, cl, 1e-5);
    checkTensor(t + " dZ", gdz1, cdz1, 1e-4);
    checkTensor(t + " dMu", gm, cm, 1e-4);
  }
}

void testPairwise(int64_t b, int64_t wa, int64_t wb, double nu, uint32_t seed) {
  const std::string tag = "CDC b=" + std::to_string(b) + " wa=" + std::to_string(wa) + " wb=" + std::to_string(wb);
  const auto ya = randn(b * wa, 0.5f, seed), yb = randn(b * wb, 0.5f, seed + 1), dc = randn(b * b, 1.0f, seed + 2);
  Tensor cya = hostF({b, wa}, ya), gya = devF({b, wa}, ya), cyb = hostF({b, wb}, yb), gyb = devF({b, wb}, yb);
  Tensor cc = hostF({b, b}, {}), gc = devF({b, b}, {});
  cpuB().pairAffinity(cya, nu, cc);
  gpu().pairAffinity(gya, nu, gc);
  checkTensor(tag + " pairAffinity", gc, cc, 1e-5);
  Tensor cdc = hostF({b, b}, dc), gdc = devF({b, b}, dc), cdy = hostF({b, wa}, {}), gdy = devF({b, wa}, {});
  cpuB().pairAffinityBackward(cya, nu, cdc, cdy);
  gpu().pairAffinityBackward(gya, nu, gdc, gdy);
  checkTensor(tag + " pairAffinityBackward", gdy, cdy, 1e-4);
  Tensor cl = hostF({}, {}), gl = devF({}, {});
  Tensor cda = hostF({b, wa}, {}), gda = devF({b, wa}, {}), cdb = hostF({b, wb}, {}), gdb = devF({b, wb}, {});
  const double scale = 1.0 / static_cast<double>(b);
  cpuB().cdcCorrelationLoss(cya, cyb, nu, scale, cl, &cda, &cdb);
  gpu().cdcCorrelationLoss(gya, gyb, nu, scale, gl, &gda, &gdb);
  checkTensor(tag + " cdcCorrelationLoss", gl, cl, 1e-5);
  checkTensor(tag + " cdcCorrelationLoss dYa", gda, cda, 1e-4);
  checkTensor(tag + " cdcCorrelationLoss dYb", gdb, cdb, 1e-4);
}

// ---- k-means and kNN ------------------------------------------------------------------------------------------------

// Labels equal up to a bijection of the cluster ids.
bool samePartition(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  std::map<int32_t, int32_t> ab, ba;
  for (size_t i = 0; i < a.size(); ++i) {
    auto x = ab.emplace(a[i], b[i]);
    auto y = ba.emplace(b[i], a[i]);
    if (x.first->second != b[i] || y.first->second != a[i]) return false;
  }
  return true;
}

void testKmeans(int64_t n, int64_t d, int64_t k, uint32_t seed) {
  const std::string tag = "kmeans n=" + std::to_string(n) + " d=" + std::to_string(d) + " k=" + std::to_string(k);
  std::mt19937 g(seed);
  const auto centres = randn(k * d, 10.0f, seed + 1);
  std::vector<float> x(n * d);
  std::normal_distribution<float> noise(0.0f, 0.3f);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < d; ++c) x[i * d + c] = centres[(i % k) * d + c] + noise(g) + 3.0f;
  dgc::KMeansParams p;
  p.k = k;
  p.nInit = 4;
  p.maxIter = 100;
  p.seed = 42;
  Tensor cx = hostF({n, d}, x), gx = devF({n, d}, x);
  Tensor cc = hostF({k, d}, {}), gc = devF({k, d}, {}), cl = hostI({n}, {}), gl = devI({n}, {});
  double ci = 0, gi = 0;
  int cit = 0, git = 0;
  cpuB().kmeans(cx, p, cc, cl, ci, cit);
  gpu().kmeans(gx, p, gc, gl, gi, git);
  checkExact(tag + " same partition (up to relabelling)", samePartition(getI(gl), getI(cl)));
  check(tag + " inertia", std::fabs(gi - ci) / std::max(ci, 1e-30), 1e-4);
  std::printf("       iterations cpu %d cuda %d\n", cit, git);
}

// Fewer distinct rows than clusters: k-means++ must repeat rows, and Lloyd's steps leave clusters empty, which the
// relocation rule (the rows farthest from their centre) refills.
void testKmeansDuplicates(uint32_t seed) {
  const int64_t n = 40, d = 2, k = 5;
  const float pts[3][2] = {{0.0f, 0.0f}, {5.0f, 1.0f}, {-3.0f, 4.0f}};
  std::vector<float> x(n * d);
  for (int64_t i = 0; i < n; ++i) x[i * d] = pts[i % 3][0], x[i * d + 1] = pts[i % 3][1];
  dgc::KMeansParams p;
  p.k = k;
  p.nInit = 3;
  p.maxIter = 50;
  p.seed = seed;
  Tensor cx = hostF({n, d}, x), gx = devF({n, d}, x);
  Tensor cc = hostF({k, d}, {}), gc = devF({k, d}, {}), cl = hostI({n}, {}), gl = devI({n}, {});
  double ci = 0, gi = 0;
  int cit = 0, git = 0;
  cpuB().kmeans(cx, p, cc, cl, ci, cit);
  gpu().kmeans(gx, p, gc, gl, gi, git);
  check("kmeans with 3 distinct rows, k = 5: inertia (both 0)", std::fabs(gi - ci), 1e-9);
  const auto lab = getI(gl);
  bool inRange = true;
  for (int32_t l : lab) inRange = inRange && l >= 0 && l < k;
  checkExact("kmeans with 3 distinct rows, k = 5: labels in [0, k)", inRange);
}

void testKnn(int64_t n, int64_t d, int64_t k, int metric, bool sdcn, float sd, uint32_t seed) {
  const std::string tag = "knnGraph n=" + std::to_string(n) + " d=" + std::to_string(d) + " k=" + std::to_string(k) +
                          " metric=" + std::to_string(metric) + (sdcn ? " sdcnOrder" : "");
  auto x = randn(n * d, sd, seed);
  if (n > 4) {  // duplicates and a zero row: ties and the cosine zero-norm rule
    for (int64_t c = 0; c < d; ++c) x[1 * d + c] = x[0 * d + c], x[3 * d + c] = 0.0f;
  }
  Tensor cx = hostF({n, d}, x), gx = devF({n, d}, x);
  Tensor cn = hostI({n, k}, {}), gn = devI({n, k}, {});
  cpuB().knnGraph(cx, k, metric, sdcn, cn);
  gpu().knnGraph(gx, k, metric, sdcn, gn);
  checkExact(tag + " identical neighbour lists", getI(gn) == getI(cn));
}

// ---- benchmark ------------------------------------------------------------------------------------------------------

void benchSelfCorrelation(int64_t n, int64_t d) {
  const auto z = randn(n * d, 0.3f, 7), g = randn(n * d, 1.0f, 8);
  Tensor gz = devF({n, d}, z), gg = devF({n, d}, g), go = devF({n, d}, {}), gl = devF({n, 1}, {}),
         gdz = devF({n, d}, {});
  cudaEvent_t a, b;
  cudaOk(cudaEventCreate(&a), "event");
  cudaOk(cudaEventCreate(&b), "event");
  const double peak = 67e12;
  auto timeIt = [&](auto&& fn) {
    fn();  // warm-up (also allocates scratch)
    sync();
    const int reps = n <= 100000 ? 5 : 1;
    cudaOk(cudaEventRecord(a, dgc::cuda::stream()), "event");
    for (int r = 0; r < reps; ++r) fn();
    cudaOk(cudaEventRecord(b, dgc::cuda::stream()), "event");
    cudaOk(cudaEventSynchronize(b), "event");
    float ms = 0;
    cudaOk(cudaEventElapsedTime(&ms, a, b), "event");
    return ms / 1e3 / reps;
  };
  const double tf = timeIt([&] { gpu().selfCorrelationForward(gz, go, gl); });
  const double tb = timeIt([&] { gpu().selfCorrelationBackward(gz, go, gl, gg, gdz); });
  const double nn = static_cast<double>(n) * static_cast<double>(n);
  const double ff = 4.0 * nn * d / tf, fb = 10.0 * nn * d / tb;
  std::printf("  N = %8lld d = %lld  forward %9.4f s  %8.0f GFLOP/s  %5.1f%% of 67 TFLOP/s   |   "
              "backward %9.4f s  %8.0f GFLOP/s  %5.1f%%\n",
              static_cast<long long>(n), static_cast<long long>(d), tf, ff / 1e9, 100.0 * ff / peak, tb, fb / 1e9,
              100.0 * fb / peak);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, bench = true, memory = true;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    if (!std::strcmp(argv[i], "--no-bench")) bench = false;
    if (!std::strcmp(argv[i], "--no-memory")) memory = false;
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("skipped: no CUDA device\n");
    return 0;
  }
  if (!dgc::hasAllocator(Device::CUDA) && !dgc::hasBackend(Device::CUDA)) {
    std::printf("FAIL: a CUDA device exists but the CUDA backend did not register its allocator "
                "(is cuda/backend.cu linked with --whole-archive?)\n");
    return 1;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("device: %s (sm_%d%d, %d SMs)\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount);

  try {
    std::printf("attention\n");
    testAttention(1, 1, 1, 1, 1, 1.0f, 11);
    testAttention(37, 53, 1, 20, 20, 1.0f, 12);
    testAttention(257, 130, 2, 3, 5, 0.4f, 13);
    testAttention(130, 1031, 8, 10, 10, 1.0f / std::sqrt(10.0f), 14);
    testAttention(64, 1, 1, 33, 7, 1.0f, 15);
    testAttention(300, 77, 3, 64, 48, 0.2f, 16);    // the widest fast bucket (split dK / dV key pass)
    testAttention(100, 100, 1, 70, 70, 0.1f, 17);   // generic kernels (width > 64)
    testAttention(1000, 1000, 1, 48, 24, 0.15f, 18);
    testAttention(0, 5, 1, 4, 4, 1.0f, 19);         // no queries: dK = dV = 0
    testAttention(5, 0, 2, 4, 4, 1.0f, 20);         // no keys: out = 0, lse = −inf, dQ = 0

    std::printf("self-correlation\n");
    testSelfCorrelation(1, 1, 1.0f, 21);
    testSelfCorrelation(7, 3, 1.0f, 22);
    testSelfCorrelation(33, 20, 0.5f, 23);
    testSelfCorrelation(1031, 20, 0.5f, 24);
    testSelfCorrelation(3000, 20, 1.0f, 25);
    testSelfCorrelation(500, 50, 0.3f, 26);   // dZ through dQ + dK + dV (width > 48)
    testSelfCorrelation(300, 70, 0.3f, 27);   // generic kernels
    testSelfCorrelation(200, 20, 30.0f, 28);  // logits ~1e4: one-hot rows, many lazy-rescale raises

    std::printf("graph reconstruction\n");
    testRecon(1, 1, 0, false, 1.0f, 31);
    testRecon(130, 20, 0, false, 0.5f, 32);
    testRecon(1000, 20, 20, false, 0.5f, 33);
    testRecon(777, 24, 16, false, 0.5f, 34);
    testRecon(300, 70, 0, false, 0.3f, 35);   // generic dense kernel
    testRecon(300, 20, 40, false, 0.3f, 36);  // two embeddings wider than 32: generic
    testRecon(2500, 20, 0, false, 0.5f, 37);
    testRecon(1, 1, 0, true, 1.0f, 38);
    testRecon(1000, 10, 0, true, 1.0f, 39);
    testRecon(640, 64, 0, true, 0.5f, 40);
    testRecon(200, 100, 0, true, 0.3f, 41);
    testRecon(300, 20, 0, true, 3.0f, 42);    // s ≈ ±60: σ rounds to 1 (BCE's 100 clamp, κ = 0) and to ~0
    testRecon(300, 20, 20, false, 3.0f, 43);

    std::printf("clustering head\n");
    testStudentT(1, 1, 1, 1.0, 51);
    testStudentT(1000, 3, 20, 1.0, 52);
    testStudentT(513, 40, 7, 0.5, 53);
    testStudentT(200, 1, 5, 1.0, 54);
    testStudentT(0, 4, 3, 1.0, 55);
    testStudentT(10, 3, 0, 1.0, 59);  // zero-width embedding: dMu is empty (no 0-thread launch)
    testPairwise(1, 4, 3, 1.0, 56);
    testPairwise(64, 10, 30, 1.0, 57);
    testPairwise(300, 7, 2, 0.7, 58);

    std::printf("k-means\n");
    testKmeans(2000, 5, 4, 61);
    testKmeans(1000, 20, 10, 62);
    testKmeans(50, 1, 1, 63);
    testKmeans(6, 20, 3, 65);  // wider than tall: k-means++ copies all d columns of each centre, not min(n, d)
    testKmeansDuplicates(64);

    std::printf("kNN graph\n");
    testKnn(2, 1, 1, 0, false, 1.0f, 71);
    testKnn(3, 3, 2, 1, false, 1.0f, 72);
    for (int metric = 0; metric < 3; ++metric) {
      testKnn(1000, 20, 10, metric, false, 1.0f, 73 + metric);
      testKnn(3001, 3, 5, metric, false, 1.0f, 76 + metric);
      testKnn(200, 100, 1, metric, false, 1.0f, 79 + metric);
    }
    testKnn(50, 4, 49, 0, false, 1.0f, 82);
    testKnn(300, 16, 10, 0, true, 1.0f, 83);

    if (memory) {
      std::printf("memory: self-correlation at N = 100,000, d = 20 (an N×N float matrix would be 40 GB)\n");
      const int64_t n = 100000, d = 20;
      const auto z = randn(n * d, 0.3f, 91);
      Tensor gz = devF({n, d}, z), go = devF({n, d}, {}), gl = devF({n, 1}, {}), gdz = devF({n, d}, {});
      sync();
      const int64_t before = dgc::memoryStats(Device::CUDA).bytes;
      dgc::resetPeakBytes(Device::CUDA);
      gpu().selfCorrelationForward(gz, go, gl);
      gpu().selfCorrelationBackward(gz, go, gl, go, gdz);
      sync();
      const int64_t extra = dgc::memoryStats(Device::CUDA).peakBytes - before;
      // O(N·d): lse2 and D (2·N floats) and, for small N, split partials (≤ 32·N·(d + 2) floats; 2 splits here on
      // an H100, ~18 MB). The bound, 256 MiB, is far below the 40 GB an N×N matrix would take.
      std::printf("       peak scratch %.1f MB\n", static_cast<double>(extra) / 1e6);
      check("peak scratch bytes / 256 MiB", static_cast<double>(extra) / (256.0 * 1024 * 1024), 1.0);
    }
  } catch (const dgc::Error& e) {
    std::printf("FAIL: dgc::Error %s: %s\n", dgc::codeName(e.code()), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::printf("FAIL: exception: %s\n", e.what());
    return 1;
  }

  if (bench) {
    std::printf("benchmark: self-correlation, d = 20\n");
    for (int64_t n : {int64_t{10000}, int64_t{100000}, int64_t{1000000}}) {
      if (quick && n > 100000) break;
      benchSelfCorrelation(n, 20);
    }
  }
  std::printf("%d checks, %d failures\n", gChecks, gFailures);
  return gFailures == 0 ? 0 : 1;
}
