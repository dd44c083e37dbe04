// Correctness test for the fused attention kernels (native/cpu/attention.h). Standalone: no Node. Exits
// non-zero on failure.
//
// Build and run (from the repository root):
//   g++ -O2 -std=c++17 -pthread -Inative test/native/attention_test.cc native/cpu/attention.cc native/core/thread_pool.cc -o /tmp/attn-work/attention_test
//   /tmp/attn-work/attention_test            (--quick: fewer grid cases)
//
// Reference: a dense double-precision implementation that materialises every n×m matrix (softmax, P, dP,
// dS), run on the same float inputs. Its gradient formulas are themselves checked by central finite
// differences in double first.
//
// Tolerance: componentwise, |x − ref| ≤ (1e-4 + κ_i)·bound + 1e-30, where bound is the same sum as ref with
// every term replaced by its absolute value (e.g. Σ_j p_ij|v_jc| for out_ic; Σ_j p_ij(|dP_ij|+|D_i|)|k_jc|
// for dQ_ic), so cancellation in a sum does not make the test meaningless or impossible. κ_i = 8·2^-24·L_i
// with L_i = max_j Σ_p |scale·q_ip·k_jp| is the rounding of the float logits themselves (a float32 logit of
// 1000 is only known to ±6e-5): it is below 5e-6 for logits up to 10, and only matters for the large-norm
// cases (in the huge-norm cases the rows are one-hot, and the outputs then agree far inside the bound).
// lse: |lse − ref| ≤ 1e-4·(1 + |ref|) + 4·2^-24·L_i.
//
// Checks, for every kernel set this CPU runs (avx512, avx2, portable):
//   - forward out and lse, backward dQ, dK, dV: heads ∈ {1, 2, 8} × n, m ∈ {1, 2, 7, 33, 300, 1031}, with
//     dk, dv ∈ {1, 3, 4, 20, 33} and scale ∈ {1, 1/√dk} rotated through the grid; plus every dk × dv × scale
//     × heads at a fixed (n, m); scale 0 and negative; logits ~±100; strided (fused QKV) layout; m = 0 and
//     n = 0; invalid sizes and strides rejected;
//   - self-correlation forward and backward (fused path and the generic three-gradient path), n up to 1031;
//   - degenerate inputs: identical rows, huge norms (values ~1e3: logits ~1e7, a plain exp overflows), a zero
//     row, clustered data (‖z‖² ≈ 50–1000);
//   - finite differences of selfCorrelationBackward (float kernel, h = 1e-2) on a tiny case;
//   - bit-identical results for 1, 2 and 3 threads.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/attention.h"

namespace {

using dgc::cpu::attentionBackward;
using dgc::cpu::attentionBackwardStrided;
using dgc::cpu::attentionForward;
using dgc::cpu::attentionForwardStrided;
using dgc::cpu::selfCorrelationBackward;
using dgc::cpu::selfCorrelationForward;
namespace detail = dgc::cpu::attention_detail;

int gFailures = 0;
int gChecks = 0;
double gWorstRatio = 0.0;  // worst |err| / tol over all passing checks
double gWorstNormwise = 0.0;  // worst max|err| / max(bound) of a matrix (normwise relative error), for the report

constexpr double kRtol = 1e-4;

// ---- Dense double reference ----------------------------------------------------------------------------

struct Inputs {
  int64_t n, m, heads, dk, dv;
  float scale;
  std::vector<float> q, k, v, dOut;  // dense layouts as in attention.h
};

struct Reference {
  std::vector<double> out, lse, dQ, dK, dV;
  std::vector<double> outBound, dQBound, dKBound, dVBound;  // same sums with absolute values
  std::vector<double> kappa;                                // per (row, head): logit rounding term
  std::vector<double> logitMag;                             // per (row, head): L_i
};

Reference reference(const Inputs& in, bool withBackward = true) {
  const int64_t n = in.n, m = in.m, H = in.heads, dk = in.dk, dv = in.dv;
  const int64_t wk = H * dk, wv = H * dv;
  Reference r;
  r.out.assign(n * wv, 0.0), r.outBound.assign(n * wv, 0.0), r.lse.assign(n * H, 0.0);
  r.kappa.assign(n * H, 0.0), r.logitMag.assign(n * H, 0.0);
  if (withBackward) {
    r.dQ.assign(n * wk, 0.0), r.dK.assign(m * wk, 0.0), r.dV.assign(m * wv, 0.0);
    r.dQBound.assign(n * wk, 0.0), r.dKBound.assign(m * wk, 0.0), r.dVBound.assign(m * wv, 0.0);
  }
  std::vector<double> P(n * m), A(n * m);  // probabilities; Σ_c |dO_ic||v_jc|
  std::vector<double> dS(n * m), dSBound(n * m);
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t i = 0; i < n; ++i) {
      double mx = -INFINITY, mag = 0.0;
      for (int64_t j = 0; j < m; ++j) {
        double s = 0.0, sa = 0.0;
        for (int64_t p = 0; p < dk; ++p) {
          const double x = double(in.q[i * wk + h * dk + p]) * in.k[j * wk + h * dk + p];
          s += x;
          sa += std::fabs(x);
        }
        P[i * m + j] = s * in.scale;
        mx = std::max(mx, s * double(in.scale));
        mag = std::max(mag, sa * std::fabs(double(in.scale)));
      }
      double sum = 0.0;
      for (int64_t j = 0; j < m; ++j) sum += std::exp(P[i * m + j] - mx);
      r.lse[i * H + h] = m ? mx + std::log(sum) : -INFINITY;
      for (int64_t j = 0; j < m; ++j) P[i * m + j] = std::exp(P[i * m + j] - mx) / sum;
      r.logitMag[i * H + h] = mag;
      r.kappa[i * H + h] = 8.0 * std::ldexp(1.0, -24) * mag;
      for (int64_t c = 0; c < dv; ++c) {
        double o = 0.0, ob = 0.0;
        for (int64_t j = 0; j < m; ++j) {
          const double x = P[i * m + j] * in.v[j * wv + h * dv + c];
          o += x;
          ob += std::fabs(x);
        }
        r.out[i * wv + h * dv + c] = o;
        r.outBound[i * wv + h * dv + c] = ob;
      }
    }
    if (!withBackward) continue;
    for (int64_t i = 0; i < n; ++i) {
      double D = 0.0, Dabs = 0.0;
      for (int64_t c = 0; c < dv; ++c) {
        D += double(in.dOut[i * wv + h * dv + c]) * r.out[i * wv + h * dv + c];
        Dabs += std::fabs(double(in.dOut[i * wv + h * dv + c]) * r.out[i * wv + h * dv + c]);
      }
      for (int64_t j = 0; j < m; ++j) {
        double dP = 0.0, a = 0.0;
        for (int64_t c = 0; c < dv; ++c) {
          const double x = double(in.dOut[i * wv + h * dv + c]) * in.v[j * wv + h * dv + c];
          dP += x;
          a += std::fabs(x);
        }
        dS[i * m + j] = P[i * m + j] * (dP - D);
        dSBound[i * m + j] = P[i * m + j] * (a + Dabs);
      }
    }
    const double sc = in.scale, asc = std::fabs(double(in.scale));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < dk; ++c) {
        double g = 0.0, b = 0.0;
        for (int64_t j = 0; j < m; ++j) {
          g += dS[i * m + j] * in.k[j * wk + h * dk + c];
          b += dSBound[i * m + j] * std::fabs(double(in.k[j * wk + h * dk + c]));
        }
        r.dQ[i * wk + h * dk + c] = sc * g;
        r.dQBound[i * wk + h * dk + c] = asc * b;
      }
    for (int64_t j = 0; j < m; ++j) {
      for (int64_t c = 0; c < dk; ++c) {
        double g = 0.0, b = 0.0;
        for (int64_t i = 0; i < n; ++i) {
          g += dS[i * m + j] * in.q[i * wk + h * dk + c];
          b += dSBound[i * m + j] * std::fabs(double(in.q[i * wk + h * dk + c]));
        }
        r.dK[j * wk + h * dk + c] = sc * g;
        r.dKBound[j * wk + h * dk + c] = asc * b;
      }
      for (int64_t c = 0; c < dv; ++c) {
        double g = 0.0, b = 0.0;
        for (int64_t i = 0; i < n; ++i) {
          g += P[i * m + j] * in.dOut[i * wv + h * dv + c];
          b += P[i * m + j] * std::fabs(double(in.dOut[i * wv + h * dv + c]));
        }
        r.dV[j * wv + h * dv + c] = g;
        r.dVBound[j * wv + h * dv + c] = b;
      }
    }
  }
  return r;
}

// ---- Comparison ----------------------------------------------------------------------------------------

// |got − ref| ≤ (rtol + kappa(row))·bound + 1e-30 for every element of a rows × width matrix; rowKappa maps a
// (row, column) to the κ of the row(s) involved.
bool checkClose(const std::string& what, const std::vector<float>& got, const std::vector<double>& ref,
                const std::vector<double>& bound, int64_t rows, int64_t width,
                const std::function<double(int64_t, int64_t)>& kappa) {
  ++gChecks;
  double worst = 0.0, boundMax = 0.0, errMax = 0.0;
  int64_t worstAt = -1;
  bool finite = true;
  for (int64_t e = 0; e < rows * width; ++e) boundMax = std::max(boundMax, bound[e]);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t c = 0; c < width; ++c) {
      const int64_t e = i * width + c;
      if (!std::isfinite(got[e])) finite = false;
      const double err = std::fabs(double(got[e]) - ref[e]);
      const double tol = (kRtol + kappa(i, c)) * bound[e] + 1e-30;
      errMax = std::max(errMax, err);
      if (err / tol > worst || !std::isfinite(got[e])) worst = err / tol, worstAt = e;
    }
  if (!finite || worst > 1.0) {
    ++gFailures;
    const int64_t e = worstAt;
    std::printf("FAIL %s: worst err/tol %.3g at (%lld, %lld): got %.9g ref %.9g bound %.3g%s\n", what.c_str(),
                worst, (long long)(e / width), (long long)(e % width), e >= 0 ? got[e] : 0.0f,
                e >= 0 ? ref[e] : 0.0, e >= 0 ? bound[e] : 0.0, finite ? "" : " (non-finite values)");
    return false;
  }
  gWorstRatio = std::max(gWorstRatio, worst);
  if (boundMax > 0) gWorstNormwise = std::max(gWorstNormwise, errMax / boundMax);
  return true;
}

bool checkLse(const std::string& what, const std::vector<float>& got, const Reference& r) {
  ++gChecks;
  for (size_t e = 0; e < got.size(); ++e) {
    const double ref = r.lse[e];
    if (std::isinf(ref) && ref < 0 && std::isinf(got[e]) && got[e] < 0) continue;
    // lse is a logit-sized number: relative to the size of the logits of its row.
    const double tol = kRtol * (1.0 + std::fabs(ref)) + 4 * std::ldexp(1.0, -24) * r.logitMag[e];
    if (!(std::fabs(double(got[e]) - ref) <= tol)) {
      ++gFailures;
      std::printf("FAIL %s: lse[%zu] got %.9g ref %.9g\n", what.c_str(), e, got[e], ref);
      return false;
    }
  }
  return true;
}

// ---- Inputs --------------------------------------------------------------------------------------------

std::vector<float> randomVector(std::mt19937& rng, int64_t count, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> x(count);
  for (auto& e : x) e = dist(rng);
  return x;
}

Inputs randomInputs(std::mt19937& rng, int64_t n, int64_t m, int64_t heads, int64_t dk, int64_t dv, float scale,
                    float amplitude = 1.0f) {
  Inputs in{n, m, heads, dk, dv, scale, {}, {}, {}, {}};
  in.q = randomVector(rng, n * heads * dk, -amplitude, amplitude);
  in.k = randomVector(rng, m * heads * dk, -amplitude, amplitude);
  in.v = randomVector(rng, m * heads * dv, -1.0f, 1.0f);
  in.dOut = randomVector(rng, n * heads * dv, -1.0f, 1.0f);
  return in;
}

std::string describe(const Inputs& in, const char* kernelSet) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "[%s] n=%lld m=%lld heads=%lld dk=%lld dv=%lld scale=%g", kernelSet,
                (long long)in.n, (long long)in.m, (long long)in.heads, (long long)in.dk, (long long)in.dv,
                in.scale);
  return buf;
}

// Runs forward and backward of the general kernels and compares all five outputs with the reference.
void checkGeneral(const Inputs& in, const Reference& r, const char* kernelSet) {
  const int64_t n = in.n, m = in.m, H = in.heads, wk = H * in.dk, wv = H * in.dv;
  const std::string name = describe(in, kernelSet);
  std::vector<float> out(n * wv, NAN), lse(n * H, NAN);
  attentionForward(n, m, H, in.dk, in.dv, in.scale, in.q.data(), in.k.data(), in.v.data(), out.data(), lse.data());
  auto rowKappa = [&](int64_t i, int64_t c) { return r.kappa[i * H + c / in.dv]; };
  checkClose(name + " out", out, r.out, r.outBound, n, wv, rowKappa);
  checkLse(name + " lse", lse, r);
  std::vector<float> dQ(n * wk, NAN), dK(m * wk, NAN), dV(m * wv, NAN);
  attentionBackward(n, m, H, in.dk, in.dv, in.scale, in.q.data(), in.k.data(), in.v.data(), out.data(), lse.data(),
                    in.dOut.data(), dQ.data(), dK.data(), dV.data());
  // dK_j and dV_j sum over all query rows: use the largest κ of the head.
  std::vector<double> headKappa(H, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t h = 0; h < H; ++h) headKappa[h] = std::max(headKappa[h], r.kappa[i * H + h]);
  checkClose(name + " dQ", dQ, r.dQ, r.dQBound, n, wk, [&](int64_t i, int64_t c) {
    return headKappa[c / in.dk];  // dQ_i uses p_ij recomputed from lse_i and logits of row i
  });
  checkClose(name + " dK", dK, r.dK, r.dKBound, m, wk, [&](int64_t, int64_t c) { return headKappa[c / in.dk]; });
  checkClose(name + " dV", dV, r.dV, r.dVBound, m, wv, [&](int64_t, int64_t c) { return headKappa[c / in.dv]; });
}

// Self-correlation: Z n×d. Compares forward and both backward paths with the reference (Q = K = V = Z).
void checkSelf(const std::string& label, int64_t n, int64_t d, const std::vector<float>& z,
               const std::vector<float>& dOut, const char* kernelSet) {
  Inputs in{n, n, 1, d, d, 1.0f, z, z, z, dOut};
  const Reference r = reference(in);
  char buf[160];
  std::snprintf(buf, sizeof buf, "[%s] self-correlation %s n=%lld d=%lld", kernelSet, label.c_str(), (long long)n,
                (long long)d);
  const std::string name = buf;
  std::vector<float> out(n * d, NAN), lse(n, NAN);
  selfCorrelationForward(n, d, z.data(), out.data(), lse.data());
  auto kappaOf = [&](int64_t i, int64_t) { return r.kappa[i]; };
  checkClose(name + " out", out, r.out, r.outBound, n, d, kappaOf);
  checkLse(name + " lse", lse, r);
  std::vector<double> dZ(n * d), dZBound(n * d);
  for (int64_t e = 0; e < n * d; ++e) {
    dZ[e] = r.dQ[e] + r.dK[e] + r.dV[e];
    dZBound[e] = r.dQBound[e] + r.dKBound[e] + r.dVBound[e];
  }
  const double maxKappa = *std::max_element(r.kappa.begin(), r.kappa.end());
  auto allKappa = [&](int64_t, int64_t) { return maxKappa; };
  std::vector<float> g(n * d, NAN);
  selfCorrelationBackward(n, d, z.data(), out.data(), lse.data(), dOut.data(), g.data());
  checkClose(name + " dZ (fused)", g, dZ, dZBound, n, d, allKappa);
  std::fill(g.begin(), g.end(), NAN);
  detail::selfCorrelationBackwardGeneric(n, d, z.data(), out.data(), lse.data(), dOut.data(), g.data());
  checkClose(name + " dZ (generic)", g, dZ, dZBound, n, d, allKappa);
}

// ---- Individual tests ----------------------------------------------------------------------------------

// The reference's gradients against central differences of its own forward, in double: validates the
// formulas the kernels are compared with.
void testReferenceGradients() {
  std::mt19937 rng(7);
  Inputs in = randomInputs(rng, 5, 4, 2, 3, 2, 0.7f);
  const Reference r = reference(in);
  auto loss = [&](const Inputs& x) {
    const Reference rr = reference(x, false);
    double L = 0.0;
    for (size_t e = 0; e < rr.out.size(); ++e) L += rr.out[e] * x.dOut[e];
    return L;
  };
  double worst = 0.0;
  auto fd = [&](std::vector<float> Inputs::*field, const std::vector<double>& grad) {
    for (size_t e = 0; e < (in.*field).size(); ++e) {
      // h = 2^-12: x ± h is exact in float for |x| < 1 (24-bit mantissa), so the difference is exact.
      const float h = 1.0f / 4096;
      Inputs plus = in, minus = in;
      (plus.*field)[e] += h;
      (minus.*field)[e] -= h;
      const double g = (loss(plus) - loss(minus)) / (2.0 * h);
      worst = std::max(worst, std::fabs(g - grad[e]));
    }
  };
  fd(&Inputs::q, r.dQ);
  fd(&Inputs::k, r.dK);
  fd(&Inputs::v, r.dV);
  ++gChecks;
  if (worst > 1e-6) {
    ++gFailures;
    std::printf("FAIL reference gradients vs finite differences: max abs error %.3g\n", worst);
  } else {
    std::printf("reference gradients vs central differences (double): max abs error %.2e\n", worst);
  }
}

void testGrid(const char* kernelSet, bool quick) {
  std::mt19937 rng(1234);
  const int64_t sizes[] = {1, 2, 7, 33, 300, 1031};
  const int64_t dims[] = {1, 3, 4, 20, 33};
  const int64_t headCounts[] = {1, 2, 8};
  int rotation = 0;
  // Every (heads, n, m), with (dk, dv, scale) rotating through all 50 combinations.
  for (int64_t H : headCounts)
    for (int64_t n : sizes)
      for (int64_t m : sizes) {
        const int64_t dk = dims[rotation % 5], dv = dims[(rotation / 5) % 5];
        const float scale = (rotation / 25) % 2 ? 1.0f / std::sqrt(float(dk)) : 1.0f;
        ++rotation;
        if (quick && n * m * H > 300 * 300) continue;
        if (n * m * H * (dk + dv) > 1031LL * 1031 * 2 * 40) continue;  // keep the double reference fast
        const Inputs in = randomInputs(rng, n, m, H, dk, dv, scale);
        checkGeneral(in, reference(in), kernelSet);
      }
  // Every (dk, dv, scale, heads) at fixed odd sizes.
  for (int64_t H : headCounts)
    for (int64_t dk : dims)
      for (int64_t dv : dims)
        for (int s = 0; s < 2; ++s) {
          const float scale = s ? 1.0f / std::sqrt(float(dk)) : 1.0f;
          const Inputs in = randomInputs(rng, quick ? 33 : 61, quick ? 7 : 130, H, dk, dv, scale);
          checkGeneral(in, reference(in), kernelSet);
        }
  // Unusual scales: 0 (uniform softmax) and negative; large logits with a 1/√dk scale.
  for (float scale : {0.0f, -0.5f, -3.0f}) {
    const Inputs in = randomInputs(rng, 45, 50, 2, 5, 3, scale);
    checkGeneral(in, reference(in), kernelSet);
  }
  {
    const Inputs in = randomInputs(rng, 100, 77, 2, 33, 20, 1.0f / std::sqrt(33.0f), 10.0f);  // logits ~ ±100
    checkGeneral(in, reference(in), kernelSet);
  }
}

void testInvalidArguments() {
  std::vector<float> x(64, 0.0f);
  auto throws = [](const std::function<void()>& fn) {
    try {
      fn();
    } catch (const std::invalid_argument&) {
      return true;
    }
    return false;
  };
  ++gChecks;
  const bool ok =
      throws([&] { attentionForward(2, 2, 0, 2, 2, 1.0f, x.data(), x.data(), x.data(), x.data(), x.data()); }) &&
      throws([&] { attentionForward(-1, 2, 1, 2, 2, 1.0f, x.data(), x.data(), x.data(), x.data(), x.data()); }) &&
      throws([&] { selfCorrelationForward(2, 0, x.data(), x.data(), x.data()); }) &&
      throws([&] {
        attentionForwardStrided(2, 2, 1, 4, 2, 1.0f, x.data(), 3, x.data(), 4, x.data(), 2, x.data(), 2, x.data());
      }) &&
      throws([&] {
        attentionBackward(2, 2, 1, 0, 2, 1.0f, x.data(), x.data(), x.data(), x.data(), x.data(), x.data(), x.data(),
                          x.data(), x.data());
      });
  if (!ok) {
    ++gFailures;
    std::printf("FAIL invalid sizes or strides are not rejected with std::invalid_argument\n");
  }
}

// CaEGCN-like: 8 wide heads, scale 1/√e, Q, K, V as column blocks of one fused n × 3·8e projection.
void testStrided(const char* kernelSet) {
  std::mt19937 rng(99);
  const int64_t n = 157, H = 8, e = 10, w = H * e, ld = 3 * w + 5;
  const float scale = 1.0f / std::sqrt(float(e));
  std::vector<float> qkv = randomVector(rng, n * ld, -1.0f, 1.0f);
  Inputs in{n, n, H, e, e, scale, {}, {}, {}, randomVector(rng, n * w, -1.0f, 1.0f)};
  in.q.resize(n * w), in.k.resize(n * w), in.v.resize(n * w);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < w; ++c) {
      in.q[i * w + c] = qkv[i * ld + c];
      in.k[i * w + c] = qkv[i * ld + w + c];
      in.v[i * w + c] = qkv[i * ld + 2 * w + c];
    }
  const Reference r = reference(in);
  const int64_t ldo = w + 3;
  std::vector<float> outPadded(n * ldo, NAN), lse(n * H, NAN);
  attentionForwardStrided(n, n, H, e, e, scale, qkv.data(), ld, qkv.data() + w, ld, qkv.data() + 2 * w, ld,
                          outPadded.data(), ldo, lse.data());
  std::vector<float> out(n * w), dOutPadded(n * ldo, 0.0f);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < w; ++c) out[i * w + c] = outPadded[i * ldo + c], dOutPadded[i * ldo + c] = in.dOut[i * w + c];
  const std::string name = std::string("[") + kernelSet + "] strided CaEGCN-like n=157 heads=8 e=10";
  auto rowKappa = [&](int64_t i, int64_t c) { return r.kappa[i * H + c / e]; };
  checkClose(name + " out", out, r.out, r.outBound, n, w, rowKappa);
  checkLse(name + " lse", lse, r);
  // Gradients into one fused n × 3w buffer, as the op would write dQKV.
  std::vector<float> dQKV(n * ld, NAN);
  attentionBackwardStrided(n, n, H, e, e, scale, qkv.data(), ld, qkv.data() + w, ld, qkv.data() + 2 * w, ld,
                           outPadded.data(), ldo, lse.data(), dOutPadded.data(), ldo, dQKV.data(), ld,
                           dQKV.data() + w, ld, dQKV.data() + 2 * w, ld);
  std::vector<float> dQ(n * w), dK(n * w), dV(n * w);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < w; ++c) {
      dQ[i * w + c] = dQKV[i * ld + c];
      dK[i * w + c] = dQKV[i * ld + w + c];
      dV[i * w + c] = dQKV[i * ld + 2 * w + c];
    }
  auto noKappa = [](int64_t, int64_t) { return 0.0; };
  checkClose(name + " dQ", dQ, r.dQ, r.dQBound, n, w, noKappa);
  checkClose(name + " dK", dK, r.dK, r.dKBound, n, w, noKappa);
  checkClose(name + " dV", dV, r.dV, r.dVBound, n, w, noKappa);
}

void testEmpty() {
  ++gChecks;
  std::vector<float> q(6, 1.0f), out(4, NAN), lse(2, 0.0f), dQ(6, NAN), dK(1, NAN), dV(1, NAN);
  attentionForward(2, 0, 1, 3, 2, 1.0f, q.data(), nullptr, nullptr, out.data(), lse.data());
  bool ok = std::all_of(out.begin(), out.end(), [](float x) { return x == 0.0f; }) &&
            std::all_of(lse.begin(), lse.end(), [](float x) { return std::isinf(x) && x < 0; });
  std::vector<float> dOut(4, 1.0f);
  attentionBackward(2, 0, 1, 3, 2, 1.0f, q.data(), nullptr, nullptr, out.data(), lse.data(), dOut.data(), dQ.data(),
                    nullptr, nullptr);
  ok = ok && std::all_of(dQ.begin(), dQ.end(), [](float x) { return x == 0.0f; });
  std::vector<float> k(3, 1.0f), v(2, 1.0f), dK3(3, NAN), dV2(2, NAN);
  attentionForward(0, 1, 1, 3, 2, 1.0f, nullptr, k.data(), v.data(), nullptr, nullptr);
  attentionBackward(0, 1, 1, 3, 2, 1.0f, nullptr, k.data(), v.data(), nullptr, nullptr, nullptr, nullptr, dK3.data(),
                    dV2.data());
  ok = ok && std::all_of(dK3.begin(), dK3.end(), [](float x) { return x == 0.0f; }) &&
       std::all_of(dV2.begin(), dV2.end(), [](float x) { return x == 0.0f; });
  if (!ok) {
    ++gFailures;
    std::printf("FAIL empty inputs (m = 0 or n = 0)\n");
  }
}

void testSelfCorrelation(const char* kernelSet, bool quick) {
  std::mt19937 rng(555);
  for (int64_t n : {1, 2, 7, 33, 300, 1031}) {
    if (quick && n > 300) continue;
    for (int64_t d : {1, 3, 20, 33}) {
      const std::vector<float> z = randomVector(rng, n * d, -1.0f, 1.0f);
      checkSelf("random", n, d, z, randomVector(rng, n * d, -1.0f, 1.0f), kernelSet);
    }
  }
  const int64_t n = 301, d = 20;
  const std::vector<float> dOut = randomVector(rng, n * d, -1.0f, 1.0f);
  // All rows identical (every logit equal: uniform softmax, out = z), with ‖z‖² ≈ 300.
  {
    std::vector<float> row = randomVector(rng, d, -6.0f, 6.0f), z(n * d);
    for (int64_t i = 0; i < n; ++i) std::copy(row.begin(), row.end(), z.begin() + i * d);
    checkSelf("identical rows", n, d, z, dOut, kernelSet);
  }
  // Huge norms: values ~1e3, logits ~1e7 (exp(1e7) overflows any float): one-hot rows.
  {
    std::vector<float> z = randomVector(rng, n * d, -1000.0f, 1000.0f);
    checkSelf("huge norms", n, d, z, dOut, kernelSet);
  }
  // Huge norms and identical rows: all logits ~1e7 and equal.
  {
    std::vector<float> row = randomVector(rng, d, -1000.0f, 1000.0f), z(n * d);
    for (int64_t i = 0; i < n; ++i) std::copy(row.begin(), row.end(), z.begin() + i * d);
    checkSelf("huge identical rows", n, d, z, dOut, kernelSet);
  }
  // A zero row (its logits are all 0: a uniform row of the softmax) among normal ones.
  {
    std::vector<float> z = randomVector(rng, n * d, -1.0f, 1.0f);
    std::fill(z.begin() + 17 * d, z.begin() + 18 * d, 0.0f);
    checkSelf("zero row", n, d, z, dOut, kernelSet);
  }
  // All rows zero.
  {
    std::vector<float> z(n * d, 0.0f);
    checkSelf("all zero", n, d, z, dOut, kernelSet);
  }
  // Clustered data like DFCN's Z_L late in training: 6 tight clusters, ‖z‖² from ~50 to ~1000.
  for (float spread : {2.0f, 7.0f}) {
    std::normal_distribution<float> centre(0.0f, spread), noise(0.0f, 0.3f);
    std::vector<float> centres(6 * d), z(n * d);
    for (auto& c : centres) c = centre(rng);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < d; ++c) z[i * d + c] = centres[(i % 6) * d + c] + noise(rng);
    checkSelf(spread < 5 ? "clustered |z|^2~80" : "clustered |z|^2~1000", n, d, z, dOut, kernelSet);
  }
}

// Central differences of L(Z) = Σ out(Z)∘R with the float kernel (h = 1e-2), against selfCorrelationBackward.
void testFiniteDifferences(const char* kernelSet) {
  std::mt19937 rng(31);
  const int64_t n = 6, d = 3;
  std::vector<float> z = randomVector(rng, n * d, -1.5f, 1.5f), R = randomVector(rng, n * d, -1.0f, 1.0f);
  std::vector<float> out(n * d), lse(n), g(n * d);
  selfCorrelationForward(n, d, z.data(), out.data(), lse.data());
  selfCorrelationBackward(n, d, z.data(), out.data(), lse.data(), R.data(), g.data());
  auto loss = [&](const std::vector<float>& x) {
    std::vector<float> o(n * d), l(n);
    selfCorrelationForward(n, d, x.data(), o.data(), l.data());
    double L = 0.0;
    for (int64_t e = 0; e < n * d; ++e) L += double(o[e]) * R[e];
    return L;
  };
  const float h = 1e-2f;
  double worst = 0.0, gMax = 0.0;
  for (int64_t e = 0; e < n * d; ++e) gMax = std::max(gMax, std::fabs(double(g[e])));
  for (int64_t e = 0; e < n * d; ++e) {
    std::vector<float> plus = z, minus = z;
    plus[e] += h;
    minus[e] -= h;
    const double fd = (loss(plus) - loss(minus)) / (double(plus[e]) - double(minus[e]));
    worst = std::max(worst, std::fabs(fd - g[e]) / gMax);
  }
  ++gChecks;
  // Truncation error O(h²)·|L'''| ~ 1e-4 and float noise ~ 1e-7/h = 1e-5, relative to max|dZ| ~ 1.
  if (worst > 2e-3) {
    ++gFailures;
    std::printf("FAIL [%s] finite differences of selfCorrelationBackward: max error / max|dZ| = %.3g\n", kernelSet,
                worst);
  } else {
    std::printf("[%s] selfCorrelationBackward vs central differences (float kernel, h=1e-2): max err / max|dZ| = "
                "%.2e (max|dZ| = %.3g)\n",
                kernelSet, worst, gMax);
  }
}

// Bit-identical results for 1, 2 and 3 threads (the pool's chunking differs; every output element must
// still be computed by the same operations in the same order).
void testThreadDeterminism(const char* kernelSet) {
  std::mt19937 rng(4242);
  const Inputs in = randomInputs(rng, 1031, 700, 2, 20, 13, 0.3f);
  const int64_t n = in.n, m = in.m, H = in.heads, wk = H * in.dk, wv = H * in.dv;
  const int64_t nz = 1031, d = 20;
  const std::vector<float> z = randomVector(rng, nz * d, -2.0f, 2.0f), dz = randomVector(rng, nz * d, -1.0f, 1.0f);
  std::vector<std::vector<float>> results[3];
  const int threadCounts[3] = {1, 2, 3};
  for (int t = 0; t < 3; ++t) {
    dgc::setNumThreads(threadCounts[t]);
    std::vector<float> out(n * wv), lse(n * H), dQ(n * wk), dK(m * wk), dV(m * wv);
    attentionForward(n, m, H, in.dk, in.dv, in.scale, in.q.data(), in.k.data(), in.v.data(), out.data(), lse.data());
    attentionBackward(n, m, H, in.dk, in.dv, in.scale, in.q.data(), in.k.data(), in.v.data(), out.data(),
                      lse.data(), in.dOut.data(), dQ.data(), dK.data(), dV.data());
    std::vector<float> zo(nz * d), zl(nz), g(nz * d), gg(nz * d);
    selfCorrelationForward(nz, d, z.data(), zo.data(), zl.data());
    selfCorrelationBackward(nz, d, z.data(), zo.data(), zl.data(), dz.data(), g.data());
    detail::selfCorrelationBackwardGeneric(nz, d, z.data(), zo.data(), zl.data(), dz.data(), gg.data());
    results[t] = {out, lse, dQ, dK, dV, zo, zl, g, gg};
  }
  dgc::setNumThreads(2);
  const char* names[] = {"out", "lse", "dQ", "dK", "dV", "self out", "self lse", "self dZ", "self dZ generic"};
  for (int t = 1; t < 3; ++t)
    for (size_t a = 0; a < results[0].size(); ++a) {
      ++gChecks;
      if (std::memcmp(results[0][a].data(), results[t][a].data(), results[0][a].size() * sizeof(float)) != 0) {
        ++gFailures;
        std::printf("FAIL [%s] %s differs between 1 and %d threads\n", kernelSet, names[a], threadCounts[t]);
      }
    }
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && !std::strcmp(argv[1], "--quick");
  dgc::setNumThreads(2);
  testReferenceGradients();
  testEmpty();
  testInvalidArguments();
  int sets = 0;
  for (const char* set : {"avx512", "avx2", "portable"}) {
    if (!detail::forceKernelSet(set)) {
      std::printf("kernel set %s: not supported by this CPU, skipped\n", set);
      continue;
    }
    ++sets;
    const int before = gFailures, checksBefore = gChecks;
    testGrid(set, quick);
    testStrided(set);
    testSelfCorrelation(set, quick);
    testFiniteDifferences(set);
    testThreadDeterminism(set);
    std::printf("kernel set %s: %d checks, %d failures\n", set, gChecks - checksBefore, gFailures - before);
  }
  std::printf("%d checks over %d kernel sets, %d failures; worst err/tol among passing checks %.3f, worst "
              "normwise error (max|err| / max(bound)) %.2e\n",
              gChecks, sets, gFailures, gWorstRatio, gWorstNormwise);
  if (gFailures) {
    std::printf("FAILED\n");
    return 1;
  }
  std::printf("OK\n");
  return 0;
}
