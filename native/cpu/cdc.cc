// CDC pairwise losses in every variant (formulas and gradients: cdc.h). Everything in double; one pass per step
// of the chain (distances → kernel → normalisation → [sharpen] → KL and back), each over rows in parallel, every
// reduction over a fixed chunking combined in order, so results do not depend on the thread count.
#include "cdc.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "../core/thread_pool.h"
#include "cluster.h"

namespace dgc {
namespace cpu {
namespace {

constexpr double kPairClipMin = 1e-10;  // the official code's clip of the normalised kernel
constexpr double kKlClipMin = 1e-7;     // Keras KLDivergence's clip of both arguments
constexpr int64_t kReduceGrain = 16;    // rows per partial in reductions over rows (a constant: determinism)

// Grain for row passes whose rows are independent (any grain gives the same result).
int64_t rowGrain(int64_t b, int64_t costPerRow) { return grainFor(b, std::max<int64_t>(1, costPerRow)); }

// Column sums of a b×b matrix, deterministic: fixed row chunks, partials combined in chunk order.
std::vector<double> columnSums(int64_t b, const std::vector<double>& M) {
  const int64_t chunks = numChunks(b, kReduceGrain);
  std::vector<double> partials(chunks * b, 0.0);
  parallelFor(b, kReduceGrain, [&](int64_t begin, int64_t end) {
    double* part = partials.data() + (begin / kReduceGrain) * b;
    for (int64_t i = begin; i < end; ++i) {
      const double* row = M.data() + i * b;
      for (int64_t j = 0; j < b; ++j) part[j] += row[j];
    }
  });
  std::vector<double> sums(b, 0.0);
  for (int64_t c = 0; c < chunks; ++c) {
    for (int64_t j = 0; j < b; ++j) sums[j] += partials[c * b + j];
  }
  return sums;
}

// Σ_i v_i in index order.
double sumInOrder(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return s;
}

// The kernel of one argument: distances, Student-t kernel, normalisation (cdc.h "Pair kernel").
struct PairKernel {
  int64_t b = 0, w = 0;
  const float* Y = nullptr;
  bool global = false;
  double nu = 1.0, exponent = 1.0;
  std::vector<double> D, K, C;
  std::vector<double> R;  // row: R_i; global: unused
  double Z = 0.0;         // global: Σ_{k≠l} K_kl

  double kernel(double dist) const {
    const double ratio = nu / (nu + dist);
    return exponent == 1.0 ? ratio : std::pow(ratio, exponent);
  }
  // ∂K/∂D = −((ν+1)/(2ν))·K/(1 + D/ν) = −e·K/(ν + D)
  double dKernel(double dist, double k) const { return -exponent * k / (nu + dist); }
  // The unclipped normalised value K_ij / R_i (row) or K_ij / Z (global).
  double unclipped(int64_t i, int64_t j) const { return global ? K[i * b + j] / Z : K[i * b + j] / R[i]; }

  PairKernel(int64_t b_, int64_t w_, const float* Y_, double nu_, bool global_)
      : b(b_), w(w_), Y(Y_), global(global_), nu(nu_), exponent(0.5 * (nu_ + 1.0)), D(b_ * b_, 0.0), K(b_ * b_),
        C(b_ * b_), R(b_, 0.0) {
    // Distances: row i computes the pairs j > i and mirrors them, so D is exactly symmetric.
    parallelFor(b, rowGrain(b, b * w), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const float* yi = Y + i * w;
        for (int64_t j = i + 1; j < b; ++j) {
          const float* yj = Y + j * w;
          double acc = 0.0;
          for (int64_t c = 0; c < w; ++c) {
            const double d = double(yi[c]) - double(yj[c]);
            acc += d * d;
          }
          D[i * b + j] = acc;
          D[j * b + i] = acc;
        }
      }
    });
    // Kernel and row sums (the self pair included: K_ii = 1; the global sum leaves it out).
    parallelFor(b, rowGrain(b, 20 * b), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        double s = 0.0;
        for (int64_t j = 0; j < b; ++j) {
          const double k = kernel(D[i * b + j]);
          K[i * b + j] = k;
          if (!global || j != i) s += k;
        }
        R[i] = s;
      }
    });
    if (global) Z = sumInOrder(R);
    parallelFor(b, rowGrain(b, 4 * b), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        for (int64_t j = 0; j < b; ++j) {
          double c;
          if (global) c = j == i ? 0.0 : K[i * b + j] / Z;
          else c = std::min(1.0, std::max(kPairClipMin, K[i * b + j] / R[i]));
          C[i * b + j] = c;
        }
      }
    });
  }

  // dY (b×w) from GC = ∂L/∂C (cdc.h "Kernel" backward).
  void backward(const std::vector<double>& GC, float* dY) const {
    std::vector<double> H(b * b, 0.0);
    double globalDot = 0.0;
    if (global) {
      // ⟨GC, C⟩ over the pairs i ≠ j (C_ii = 0), by rows in order.
      std::vector<double> rows(b, 0.0);
      parallelFor(b, rowGrain(b, 2 * b), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          double s = 0.0;
          for (int64_t j = 0; j < b; ++j) s += GC[i * b + j] * C[i * b + j];
          rows[i] = s;
        }
      });
      globalDot = sumInOrder(rows);
    }
    parallelFor(b, rowGrain(b, 10 * b), [&](int64_t begin, int64_t end) {
      std::vector<double> g(b);
      for (int64_t i = begin; i < end; ++i) {
        double dot = globalDot;
        if (global) {
          for (int64_t j = 0; j < b; ++j) g[j] = GC[i * b + j];
        } else {
          // The clip passes the gradient only where it was inactive.
          dot = 0.0;
          for (int64_t j = 0; j < b; ++j) {
            const double c = unclipped(i, j);
            g[j] = (c >= kPairClipMin && c <= 1.0) ? GC[i * b + j] : 0.0;
            dot += g[j] * c;
          }
        }
        const double norm = global ? Z : R[i];
        for (int64_t j = 0; j < b; ++j) {
          if (j == i) continue;  // K_ii = 1 does not depend on Y
          const double gK = (g[j] - dot) / norm;
          H[i * b + j] = gK * dKernel(D[i * b + j], K[i * b + j]);
        }
      }
    });
    pairDistanceGrad(b, w, Y, H.data(), dY);
  }
};

// Sharpen(C) (cdc.h "Sharpen"): f, W, T, S, and its backward.
struct Sharpened {
  int64_t b;
  bool global;
  const std::vector<double>& C;
  std::vector<double> f, W, T, S;  // T: per row (row) or one value (global)

  Sharpened(int64_t b_, bool global_, const std::vector<double>& C_)
      : b(b_), global(global_), C(C_), W(b_ * b_), T(b_, 0.0), S(b_ * b_) {
    f = columnSums(b, C);  // global: C_jj = 0, so this is Σ_{i≠j}
    parallelFor(b, rowGrain(b, 4 * b), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        double s = 0.0;
        for (int64_t j = 0; j < b; ++j) {
          const double c = C[i * b + j];
          const double wv = (global && j == i) ? 0.0 : c * c / f[j];
          W[i * b + j] = wv;
          s += wv;
        }
        T[i] = s;
      }
    });
    const double total = global ? sumInOrder(T) : 0.0;
    parallelFor(b, rowGrain(b, 2 * b), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const double t = global ? total : T[i];
        for (int64_t j = 0; j < b; ++j) S[i * b + j] = W[i * b + j] / t;
      }
    });
    if (global) T.assign(1, total);
  }

  // GC = ∂L/∂C from GS = ∂L/∂S.
  std::vector<double> backward(const std::vector<double>& GS) const {
    std::vector<double> dots(b, 0.0);
    parallelFor(b, rowGrain(b, 2 * b), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        double s = 0.0;
        for (int64_t j = 0; j < b; ++j) s += GS[i * b + j] * S[i * b + j];
        dots[i] = s;
      }
    });
    const double globalDot = global ? sumInOrder(dots) : 0.0;
    std::vector<double> GW(b * b), GWW(b * b);
    parallelFor(b, rowGrain(b, 4 * b), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const double dot = global ? globalDot : dots[i];
        const double t = global ? T[0] : T[i];
        for (int64_t j = 0; j < b; ++j) {
          const double gw = (global && j == i) ? 0.0 : (GS[i * b + j] - dot) / t;
          GW[i * b + j] = gw;
          GWW[i * b + j] = gw * W[i * b + j];
        }
      }
    });
    const std::vector<double> col = columnSums(b, GWW);  // Σ_i GW_ij W_ij
    std::vector<double> GC(b * b);
    parallelFor(b, rowGrain(b, 4 * b), [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        for (int64_t j = 0; j < b; ++j) {
          GC[k * b + j] = (global && j == k) ? 0.0 : (2.0 * C[k * b + j] * GW[k * b + j] - col[j]) / f[j];
        }
      }
    });
    return GC;
  }
};

}  // namespace

double cdcPairLoss(int64_t b, int64_t wa, const float* Ya, int64_t wb, const float* Yb, double nu, double scale,
                   bool global, bool sharpen, float* dYa, float* dYb) {
  if (b == 0) return 0.0;
  const PairKernel ka(b, wa, Ya, nu, global);
  const PairKernel kb(b, wb, Yb, nu, global);
  std::unique_ptr<Sharpened> sh;
  if (sharpen) sh = std::make_unique<Sharpened>(b, global, ka.C);
  const std::vector<double>& A = sharpen ? sh->S : ka.C;
  const std::vector<double>& B = kb.C;

  // KL and its gradients with respect to A and B.
  std::vector<double> GA(dYa ? b * b : 0), GB(dYb ? b * b : 0);
  std::vector<double> rowLoss(b, 0.0);
  parallelFor(b, rowGrain(b, 30 * b), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      double loss = 0.0;
      for (int64_t j = 0; j < b; ++j) {
        const double a = A[i * b + j], bv = B[i * b + j];
        double gA = 0.0, gB = 0.0;
        if (global) {
          if (j != i && a > 0.0) {  // 0·log 0 = 0 (a underflowed to 0: no term, no gradient)
            const double logRatio = std::log(a / bv);
            loss += a * logRatio;
            gA = scale * (logRatio + 1.0);
            gB = -scale * a / bv;
          }
        } else {
          const double aBar = std::min(1.0, std::max(kKlClipMin, a));
          const double bBar = std::min(1.0, std::max(kKlClipMin, bv));
          const double logRatio = std::log(aBar / bBar);
          loss += aBar * logRatio;
          if (a >= kKlClipMin && a <= 1.0) gA = scale * (logRatio + 1.0);
          if (bv >= kKlClipMin && bv <= 1.0) gB = -scale * aBar / bBar;
        }
        if (dYa) GA[i * b + j] = gA;
        if (dYb) GB[i * b + j] = gB;
      }
      rowLoss[i] = loss;
    }
  });
  const double loss = scale * sumInOrder(rowLoss);
  if (dYa) ka.backward(sharpen ? sh->backward(GA) : GA, dYa);
  if (dYb) kb.backward(GB, dYb);
  return loss;
}

}  // namespace cpu
}  // namespace dgc
