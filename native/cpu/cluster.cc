// Clustering-head kernels: see cluster.h for the formulas, their sources and the output semantics.
//
// Layout of this file
//   1. helpers: reduction chunking, the Student-t row evaluation (relative to the nearest centre) and the row
//      backward.
//   2. runStudentTLoss: one pass over the rows that evaluates Q, asks a per-row "loss rule" for the loss and
//      ∂L/∂log u, and applies the shared chain rule to z_i and μ. Every Student-t loss and studentTBackward use it.
//   3. the public Student-t / target-distribution / loss functions.
//   4. CDC pairwise kernels.
#include "cluster.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

#include "../core/thread_pool.h"
#include "fastlog.h"

namespace dgc {
namespace cpu {
namespace {

// ---------------------------------------------------------------------------------------------------------------
// 1. Helpers

constexpr int64_t kMaxReductionChunks = 256;
constexpr int64_t kMinReductionRows = 64;
constexpr double kPairClipMin = 1e-10;  // CDC pair-kernel clip (the official code's)
constexpr double kKlClipMin = 1e-7;     // Keras KLDivergence clip (CDC's official code)
constexpr double kFocalClipMin = 1e-7;  // DCCF focal loss: clamp s to [1e-7, 1] before the log (a guard; Eq. 12 has none)

// Rows per chunk for passes that reduce over rows. Depends only on the row count, never on the thread count,
// so the partials and the order they are combined in are the same for any number of threads.
int64_t reductionGrain(int64_t rows) {
  return std::max(kMinReductionRows, (rows + kMaxReductionChunks - 1) / kMaxReductionChunks);
}

// Sums per-chunk partials (chunks × width, row-major) in chunk order.
void combinePartials(const std::vector<double>& partials, int64_t chunks, int64_t width, double* out) {
  for (int64_t c = 0; c < width; ++c) out[c] = 0.0;
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const double* p = partials.data() + ch * width;
    for (int64_t c = 0; c < width; ++c) out[c] += p[c];
  }
}

double sumInOrder(const std::vector<double>& partials) {
  double s = 0.0;
  for (double v : partials) s += v;
  return s;
}

// The Student-t kernel u(D) = (1 + D/ν)^(−e), e = (ν+1)/2, evaluated as a power of a ratio in (0, 1] so that
// nothing over- or underflows into NaN: for ν = 1 (every paper's setting) no transcendental function is needed.
struct StudentTKernel {
  double nu;
  double exponent;  // e = (ν+1)/2
  explicit StudentTKernel(double nu_) : nu(nu_), exponent(0.5 * (nu_ + 1.0)) {}
  // ratio^e for a ratio in (0, 1].
  double power(double ratio) const { return exponent == 1.0 ? ratio : std::pow(ratio, exponent); }
  // u(D) = (ν/(ν + D))^e ∈ (0, 1]; may underflow to 0 for astronomically large D (never NaN).
  double value(double dist) const { return power(nu / (nu + dist)); }
  // ∂ log u / ∂D = −e/(ν + D)
  double dLogUdDist(double dist) const { return -exponent / (nu + dist); }
};

// Squared distances of a block of up to kRowBlock consecutive rows of Z to every centre. The block's coordinates
// are transposed into doubles so that the innermost loop runs across the rows (8 doubles: four SSE2, two AVX2 or
// one AVX-512 vector, with no horizontal sums), and the centres are converted to double once per call (muD).
// Each distance is Σ_c (z_c − μ_c)² accumulated in double in coordinate order: the same value whatever block or
// chunk the row falls in.
constexpr int64_t kRowBlock = 8;
// GCC/Clang generic vector of 8 doubles: one zmm, two ymm or four xmm registers, whatever the clone targets.
// Declared with double alignment so that arrays of it may live anywhere (std::vector, the stack).
typedef double Vec8d __attribute__((vector_size(8 * sizeof(double)), aligned(sizeof(double))));

// Per-thread scratch that only grows: the chunks of one call (and of later calls) reuse it instead of allocating
// a handful of small vectors per chunk (which, at N = 3025, cost as much as the arithmetic). slot picks one of a
// few independent buffers; a chunk must not call a function that uses the same slot.
double* threadScratch(int slot, size_t count) {
  thread_local std::vector<double> buffers[6];
  std::vector<double>& b = buffers[slot];
  if (b.size() < count) b.resize(std::max(count, b.size() + b.size() / 2));
  return b.data();
}

// parallelFor, but on the calling thread alone when the whole job is small: below ~400k multiply-adds, waking
// the pool's workers costs about as much as it saves (measured on the clustering-head passes at N = 3025, K = 3,
// d = 20). The chunks, and so every result, are the same either way.
constexpr int64_t kSerialWork = 400000;
void chunkedFor(int64_t n, int64_t grain, int64_t work, const std::function<void(int64_t, int64_t)>& fn) {
  if (work >= kSerialWork) {
    parallelFor(n, grain, fn);
    return;
  }
  for (int64_t begin = 0; begin < n; begin += grain) fn(begin, std::min(n, begin + grain));
}

std::vector<double> centresToDouble(int64_t k, int64_t d, const float* mu) {
  std::vector<double> muD(k * d);
  for (int64_t c = 0; c < k * d; ++c) muD[c] = mu[c];
  return muD;
}

// Loads rows [i0, i0 + rows) of Z (rows ≤ kRowBlock) transposed into zt (d·kRowBlock doubles): zt[c·8 + r] is
// coordinate c of row i0 + r; lanes ≥ rows are zero.
DGC_ALWAYS_INLINE inline void transposeBlock(const float* Z, int64_t i0, int64_t rows, int64_t d, double* zt) {
  if (rows == kRowBlock) {
    for (int64_t r = 0; r < kRowBlock; ++r) {
      const float* z = Z + (i0 + r) * d;
      for (int64_t c = 0; c < d; ++c) zt[c * kRowBlock + r] = z[c];
    }
    return;
  }
  for (int64_t e = 0; e < d * kRowBlock; ++e) zt[e] = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = Z + (i0 + r) * d;
    for (int64_t c = 0; c < d; ++c) zt[c * kRowBlock + r] = z[c];
  }
}

// out[j·8 + r] = Σ_c (zt[c·8 + r] − μ_jc)², summed in coordinate order, for every centre j. Four centres at a time,
// so that four independent add chains hide the add latency (one chain per centre was latency-bound).
template <int G>
DGC_ALWAYS_INLINE inline void centreGroupDistances(const double* zt, int64_t d, const double* m0, double* out) {
  Vec8d acc[G] = {};
  for (int64_t c = 0; c < d; ++c) {
    Vec8d zc;
    std::memcpy(&zc, zt + c * kRowBlock, sizeof zc);
    for (int g = 0; g < G; ++g) {
      const Vec8d t = zc - m0[g * d + c];
      acc[g] += t * t;
    }
  }
  for (int g = 0; g < G; ++g) std::memcpy(out + g * kRowBlock, &acc[g], sizeof acc[g]);
}

// out[j·8 + r] = Σ_c (zt[c·8 + r] − μ_jc)², summed in coordinate order, for every centre j. Up to four centres at
// a time, so that independent add chains hide the add latency (one chain per centre was latency-bound); the
// grouping changes no result, each centre's sum being its own chain.
DGC_ALWAYS_INLINE inline void blockCentreDistances(const double* zt, int64_t k, int64_t d, const double* muD,
                                                   double* out) {
  int64_t j = 0;
  for (; j + 4 <= k; j += 4) centreGroupDistances<4>(zt, d, muD + j * d, out + j * kRowBlock);
  switch (k - j) {
    case 3: centreGroupDistances<3>(zt, d, muD + j * d, out + j * kRowBlock); break;
    case 2: centreGroupDistances<2>(zt, d, muD + j * d, out + j * kRowBlock); break;
    case 1: centreGroupDistances<1>(zt, d, muD + j * d, out + j * kRowBlock); break;
    default: break;
  }
}

// dist[r·k + j] = ‖z_{i0+r} − μ_j‖² for r < rows ≤ kRowBlock; zt (d·kRowBlock) and lanes (k·kRowBlock) are
// scratch.
DGC_SIMD_CLONES void blockDistances(const float* Z, int64_t i0, int64_t rows, int64_t k, int64_t d, const double* muD,
                                    double* zt, double* lanes, double* dist) {
  transposeBlock(Z, i0, rows, d, zt);
  blockCentreDistances(zt, k, d, muD, lanes);
  for (int64_t j = 0; j < k; ++j) {
    for (int64_t r = 0; r < rows; ++r) dist[r * k + j] = lanes[j * kRowBlock + r];
  }
}

class BlockDistances {
 public:
  BlockDistances(int64_t k, int64_t d) : k_(k), d_(d), zt_(d * kRowBlock), lanes_(k * kRowBlock), dist_(kRowBlock * k) {}
  // Rows [i0, i0 + rows) of Z (rows ≤ kRowBlock).
  void compute(const float* Z, int64_t i0, int64_t rows, const double* muD) {
    blockDistances(Z, i0, rows, k_, d_, muD, zt_.data(), lanes_.data(), dist_.data());
  }
  // The k distances of the block's row r.
  const double* row(int64_t r) const { return dist_.data() + r * k_; }

 private:
  int64_t k_, d_;
  std::vector<double> zt_, lanes_, dist_;
};

// Lane-blocked soft assignment of kRowBlock consecutive rows (lane r of every vector is row i0 + r), the same
// arithmetic in the same order as SoftAssignRow::evaluate on blockDistances's distances, so q is bit-identical:
//   D_j (coordinate order), D_min, ratio_j = (ν + D_min)/(ν + D_j), w_j = ratio_j^e, S = Σ_j w_j (j order),
//   q_j = w_j·(1/S).
// Writes q[r·k + j] (double) for r < rows; lanes ≥ rows hold zero rows and are discarded. zt: d·kRowBlock
// doubles of scratch; w: k·kRowBlock doubles of scratch.
DGC_SIMD_CLONES void blockSoftAssign(const float* Z, int64_t i0, int64_t rows, int64_t k, int64_t d,
                                     const double* muD, double nu, double exponent, double* zt, double* w, double* q) {
  transposeBlock(Z, i0, rows, d, zt);
  blockCentreDistances(zt, k, d, muD, w);
  Vec8d minD;
  std::memcpy(&minD, w, sizeof minD);
  for (int64_t j = 1; j < k; ++j) {
    Vec8d dj;
    std::memcpy(&dj, w + j * kRowBlock, sizeof dj);
    minD = dj < minD ? dj : minD;
  }
  const Vec8d near = nu + minD;
  Vec8d sum = {};
  for (int64_t j = 0; j < k; ++j) {
    Vec8d dist;
    std::memcpy(&dist, w + j * kRowBlock, sizeof dist);
    Vec8d ratio = near / (nu + dist);
    if (exponent != 1.0) {
      for (int r = 0; r < kRowBlock; ++r) ratio[r] = std::pow(ratio[r], exponent);
    }
    std::memcpy(w + j * kRowBlock, &ratio, sizeof ratio);
    sum += ratio;
  }
  const Vec8d inv = 1.0 / sum;
  for (int64_t j = 0; j < k; ++j) {
    Vec8d qj;
    std::memcpy(&qj, w + j * kRowBlock, sizeof qj);
    qj *= inv;
    for (int64_t r = 0; r < rows; ++r) q[r * k + j] = qj[r];
  }
}

// Σ_e p_e log(p_e/q_e) over a flat run of entries, vectorized, for the regular terms: p > 0 and p/q a positive
// normal double (always, unless q underflowed for a large ν). The others are flagged in irregular[e] (and *any
// set) when p > 0 (irregular[e] = 1, else 0), and left to the caller. x: count doubles of scratch. The sum is taken in 8 interleaved
// partials (entry e into partial e mod 8), combined in a fixed order: deterministic for a given run.
DGC_SIMD_CLONES double klRegularTerms(const double* p, const double* q, int64_t count, double* x, double* irregular,
                                      bool* any) {
  int anyIrregular = 0;
  for (int64_t e = 0; e < count; ++e) {
    const double ratio = p[e] > 0.0 && q[e] > 0.0 ? p[e] / q[e] : (p[e] > 0.0 ? 0.0 : 1.0);
    const bool ok = ratio >= DBL_MIN && ratio <= DBL_MAX;
    irregular[e] = ok ? 0.0 : 1.0;
    anyIrregular |= !ok;
    x[e] = ok ? ratio : 1.0;
  }
  for (int64_t e = 0; e < count; ++e) x[e] = fastLogNormal(x[e]);
  Vec8d acc = {};
  int64_t e = 0;
  for (; e + kRowBlock <= count; e += kRowBlock) {
    Vec8d pv, xv;
    std::memcpy(&pv, p + e, sizeof pv);
    std::memcpy(&xv, x + e, sizeof xv);
    acc += pv * xv;
  }
  double tail = 0.0;
  for (; e < count; ++e) tail += p[e] * x[e];
  *any = anyIrregular != 0;
  return (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))) + tail;
}

// The arithmetic of SoftAssignRow::evaluate on plain arrays (vectorized; see below for the formulas): copies the
// distances into dist, writes ratio and q, returns D_min and stores S in *sum. Sums run in index order.
inline double softAssignFromDistances(const double* distances, int64_t k, double nu, double exponent,
                                               double* dist, double* ratio, double* q, double* sum) {
  double minDist = std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < k; ++j) {
    dist[j] = distances[j];
    minDist = std::min(minDist, dist[j]);
  }
  const double near = nu + minDist;
  for (int64_t j = 0; j < k; ++j) ratio[j] = near / (nu + dist[j]);
  if (exponent == 1.0) {
    for (int64_t j = 0; j < k; ++j) q[j] = ratio[j];
  } else {
    for (int64_t j = 0; j < k; ++j) q[j] = std::pow(ratio[j], exponent);
  }
  double s = 0.0;
  for (int64_t j = 0; j < k; ++j) s += q[j];
  const double inv = 1.0 / s;
  for (int64_t j = 0; j < k; ++j) q[j] *= inv;
  *sum = s;
  return minDist;
}

// One row of the soft assignment, evaluated relative to the nearest centre (distance D_min):
//   ratio_j = (ν + D_min)/(ν + D_j) ∈ (0, 1],  w_j = ratio_j^e,  S = Σ_j w_j ∈ [1, k],  q_j = w_j / S,
//   log q_j = e·(log(ν + D_min) − log(ν + D_j)) − log S.
// This is u_j/Σu exactly (the common factor u(D_min) cancels) and cannot overflow or give 0/0: the nearest
// centre has w = 1 exactly, so S ≥ 1; other w_j may underflow to 0, but log q_j stays finite. The two row logs
// that log q needs are taken only when a loss asks for log q (the forward itself needs none for ν = 1).
struct SoftAssignRow {
  std::vector<double> dist, ratio, q;
  double sum = 1.0, minDist = 0.0;
  double nu = 1.0, exponent = 1.0;
  explicit SoftAssignRow(int64_t k) : dist(k), ratio(k), q(k) {}

  // From the row's k squared distances.
  void evaluate(const double* distances, int64_t k, const StudentTKernel& kern) {
    nu = kern.nu;
    exponent = kern.exponent;
    logsReady_ = false;
    minDist = softAssignFromDistances(distances, k, kern.nu, kern.exponent, dist.data(), ratio.data(), q.data(),
                                      &sum);
  }
  // log q_j, finite even where q_j (or the ratio) underflowed.
  double logq(int64_t j) const {
    if (!logsReady_) {
      logSum_ = std::log(sum);
      logNearest_ = std::log(nu + minDist);
      logsReady_ = true;
    }
    return exponent * (logNearest_ - std::log(nu + dist[j])) - logSum_;
  }

 private:
  mutable bool logsReady_ = false;
  mutable double logSum_ = 0.0, logNearest_ = 0.0;
};

// Chain rule for row i from gLogU[j] = ∂L/∂log u_ij to z_i and μ:
//   a_j = 2·∂L/∂D_ij = 2·gLogU_j·∂log u/∂D;  dz += a_j (z − μ_j);  dMu_j −= a_j (z − μ_j).
// dz (d doubles) and dMuPartial (k×d doubles) are accumulated; either may be null. zd is z_i in double.
void studentTRowBackward(const double* zd, const float* mu, int64_t k, int64_t d, const StudentTKernel& kern,
                         const double* dist, const double* gLogU, double* __restrict dz,
                         double* __restrict dMuPartial) {
  for (int64_t j = 0; j < k; ++j) {
    const double a = 2.0 * gLogU[j] * kern.dLogUdDist(dist[j]);
    if (a == 0.0) continue;
    const float* m = mu + j * d;
    if (dz && dMuPartial) {
      double* g = dMuPartial + j * d;
      for (int64_t c = 0; c < d; ++c) {
        const double t = a * (zd[c] - double(m[c]));
        dz[c] += t;
        g[c] -= t;
      }
    } else if (dz) {
      for (int64_t c = 0; c < d; ++c) dz[c] += a * (zd[c] - double(m[c]));
    } else {
      double* g = dMuPartial + j * d;
      for (int64_t c = 0; c < d; ++c) g[c] -= a * (zd[c] - double(m[c]));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 2. The shared Student-t loss pass.
//
// rule(i, row, gLogU) returns row i's (scaled) loss as up to two separately reported parts and fills
// gLogU[j] = ∂loss/∂log u_ij (it must always write all k entries; they are ignored when no gradient is
// requested). row holds the soft assignment of row i in double. Returns the two parts summed over rows.
struct LossParts {
  double first = 0.0, second = 0.0;
};

template <typename RowRule>
LossParts runStudentTLoss(int64_t n, int64_t k, int64_t d, const float* Z, const float* mu, double nu, float* Q,
                          float* dZ, float* dMu, const RowRule& rule) {
  const StudentTKernel kern(nu);
  const bool wantGrad = dZ || dMu;
  const int64_t grain = reductionGrain(n);
  const int64_t chunks = numChunks(n, grain);
  std::vector<double> lossPartials(chunks * 2, 0.0);  // (first, second) per chunk
  std::vector<double> muPartials(dMu ? chunks * k * d : 0, 0.0);

  const std::vector<double> muD = centresToDouble(k, d, mu);

  parallelFor(n, grain, [&](int64_t begin, int64_t end) {
    const int64_t chunk = begin / grain;
    SoftAssignRow row(k);
    BlockDistances block(k, d);
    std::vector<double> gLogU(k), dz(d), zd(d);
    double* muPartial = dMu ? muPartials.data() + chunk * k * d : nullptr;
    LossParts loss;
    for (int64_t i = begin; i < end; ++i) {
      const float* z = Z + i * d;
      const int64_t r = (i - begin) % kRowBlock;
      if (r == 0) block.compute(Z, i, std::min(kRowBlock, end - i), muD.data());
      row.evaluate(block.row(r), k, kern);
      if (Q) {
        for (int64_t j = 0; j < k; ++j) Q[i * k + j] = static_cast<float>(row.q[j]);
      }
      const LossParts part = rule(i, row, gLogU.data());
      loss.first += part.first;
      loss.second += part.second;
      if (!wantGrad) continue;
      std::fill(dz.begin(), dz.end(), 0.0);
      for (int64_t c = 0; c < d; ++c) zd[c] = z[c];
      studentTRowBackward(zd.data(), mu, k, d, kern, row.dist.data(), gLogU.data(), dZ ? dz.data() : nullptr, muPartial);
      if (dZ) {
        for (int64_t c = 0; c < d; ++c) dZ[i * d + c] = static_cast<float>(dz[c]);
      }
    }
    lossPartials[2 * chunk] = loss.first;
    lossPartials[2 * chunk + 1] = loss.second;
  });

  if (dMu) {
    std::vector<double> total(k * d);
    combinePartials(muPartials, chunks, k * d, total.data());
    for (int64_t c = 0; c < k * d; ++c) dMu[c] = static_cast<float>(total[c]);
  }
  double sums[2];
  combinePartials(lossPartials, chunks, 2, sums);
  LossParts total;
  total.first = sums[0];
  total.second = sums[1];
  return total;
}

// First index of the row maximum.
int64_t argmaxRow(const float* row, int64_t k) {
  int64_t best = 0;
  for (int64_t j = 1; j < k; ++j) {
    if (row[j] > row[best]) best = j;
  }
  return best;
}

// KL(P‖Q) row rule: loss_i = scale·Σ_j p_ij (log p_ij − log q_ij) (0·log 0 = 0);
// ∂loss/∂log u_ij = −scale·(p_ij − q_ij·Σ_l p_il)  (log q_ij = log u_ij − log Σ_l u_il).
// Adds into gLogU.
double klRow(const float* p, const SoftAssignRow& row, int64_t k, double scale, double* gLogU) {
  // One libm log per entry: in this per-row loop (k of 3 to 10 entries, then a dependent sum) glibc's log is
  // faster than fastlog.h's polynomial, whose long dependency chain only pays off when a whole run of entries
  // is vectorized (klStudentTSelf does that).
  double loss = 0.0, rowSum = 0.0;
  for (int64_t j = 0; j < k; ++j) {
    const double pj = p[j];
    rowSum += pj;
    if (pj > 0.0) {
      // The log-space form where q underflowed (or is too small for p/q to be finite).
      const double qj = row.q[j];
      loss += pj * (qj > 1e-280 ? std::log(pj / qj) : std::log(pj) - row.logq(j));
    }
  }
  for (int64_t j = 0; j < k; ++j) gLogU[j] += -scale * (double(p[j]) - row.q[j] * rowSum);
  return scale * loss;
}

// Focal row rule (hard label c = argmax p): loss_i = −scale·(1 − p̂)^γ log p̂, p̂ = clamp(q_c, 1e-7, 1).
// Where the clamp is inactive, ∂loss/∂q_c = g and ∂log q_c/∂log u_j = 1[j=c] − q_j, so
// ∂loss/∂log u_j = g·q_c·(1[j=c] − q_j) with g·q_c = scale·[γ(1−q_c)^{γ−1} q_c log q_c − (1−q_c)^γ].
// Adds into gLogU.
double focalRow(const float* p, const SoftAssignRow& row, int64_t k, double gamma, double scale, double* gLogU) {
  const int64_t c = argmaxRow(p, k);
  const double s = row.q[c];
  const bool clamped = !(s >= kFocalClipMin && s <= 1.0);
  const double sClamped = std::min(1.0, std::max(kFocalClipMin, s));
  const double oneMinus = 1.0 - sClamped;
  const double logS = clamped ? std::log(sClamped) : std::min(0.0, row.logq(c));
  const double loss = -scale * std::pow(oneMinus, gamma) * logS;
  if (!clamped) {
    const double first = oneMinus > 0.0 ? gamma * std::pow(oneMinus, gamma - 1.0) * s * logS : 0.0;
    const double gTimesS = scale * (first - std::pow(oneMinus, gamma));
    for (int64_t j = 0; j < k; ++j) gLogU[j] += gTimesS * ((j == c ? 1.0 : 0.0) - row.q[j]);
  }
  return loss;
}

double klFocalImpl(int64_t n, int64_t k, int64_t d, const float* Z, const float* mu, double nu, const float* P,
                   double klScale, double focalScale, double gamma, float* Q, float* dZ, float* dMu,
                   double* klLoss, double* focalLoss) {
  const bool withKl = klScale != 0.0, withFocal = focalScale != 0.0;
  const LossParts parts = runStudentTLoss(n, k, d, Z, mu, nu, Q, dZ, dMu,
                                          [&](int64_t i, const SoftAssignRow& row, double* gLogU) {
                                            std::fill(gLogU, gLogU + k, 0.0);
                                            const float* p = P + i * k;
                                            LossParts part;
                                            if (withKl) part.first = klRow(p, row, k, klScale, gLogU);
                                            if (withFocal) part.second = focalRow(p, row, k, gamma, focalScale, gLogU);
                                            return part;
                                          });
  if (klLoss) *klLoss = parts.first;
  if (focalLoss) *focalLoss = parts.second;
  return parts.first + parts.second;
}

// Column sums of an n×k matrix in double, deterministic (fixed row chunks combined in order).
std::vector<double> columnSums(int64_t n, int64_t k, const float* M) {
  const int64_t grain = reductionGrain(n);
  const int64_t chunks = numChunks(n, grain);
  std::vector<double> partials(chunks * k, 0.0);
  parallelFor(n, grain, [&](int64_t begin, int64_t end) {
    double* part = partials.data() + (begin / grain) * k;
    for (int64_t i = begin; i < end; ++i) {
      for (int64_t j = 0; j < k; ++j) part[j] += M[i * k + j];
    }
  });
  std::vector<double> sums(k);
  combinePartials(partials, chunks, k, sums.data());
  return sums;
}

// Row grain for row-wise passes whose rows are independent (any grain gives the same result).
int64_t rowGrain(int64_t n, int64_t costPerRow) { return grainFor(n, std::max<int64_t>(1, costPerRow)); }

// ---------------------------------------------------------------------------------------------------------------
// 4 (helpers). CDC pairwise kernels.

// Full symmetric b×b matrix of squared distances (double), D_ii = 0 (pair_kernels.h: vectorised, the same bits on
// every instruction set).
std::vector<double> pairwiseSquaredDistances(int64_t b, int64_t w, const float* Y) {
  std::vector<double> D(static_cast<size_t>(b * b), 0.0);
  pairSquaredDistances(b, w, Y, D.data());
  return D;
}

// Row i of the pair kernel, K_ij = (1 + D_ij/ν)^(−(ν+1)/2) (K_ii = 1 exactly), and its sum R_i (column order).
double pairKernelRow(const double* Drow, int64_t b, const StudentTKernel& kern, double* Krow) {
  double R = 0.0;
  for (int64_t j = 0; j < b; ++j) {
    Krow[j] = kern.value(Drow[j]);
    R += Krow[j];
  }
  return R;
}

void pairAffinityFromDistances(int64_t b, const std::vector<double>& D, double nu, float* C) {
  const StudentTKernel kern(nu);
  parallelFor(b, rowGrain(b, 40 * b), [&](int64_t begin, int64_t end) {
    std::vector<double> Krow(b);
    for (int64_t i = begin; i < end; ++i) {
      const double R = pairKernelRow(D.data() + i * b, b, kern, Krow.data());
      for (int64_t j = 0; j < b; ++j) {
        const double c = Krow[j] / R;
        C[i * b + j] = static_cast<float>(std::min(1.0, std::max(kPairClipMin, c)));
      }
    }
  });
}

void pairAffinityBackwardFromDistances(int64_t b, int64_t w, const float* Y, const std::vector<double>& D, double nu,
                                       const float* dC, float* dY) {
  const StudentTKernel kern(nu);
  // Pass 1, per row i: H_ij = ∂L/∂D_ij through K_ij only (the K_ji dependence is row j's H_ji).
  std::vector<double> H(b * b);
  parallelFor(b, rowGrain(b, 50 * b), [&](int64_t begin, int64_t end) {
    std::vector<double> Krow(b), gMasked(b);
    for (int64_t i = begin; i < end; ++i) {
      const double* Drow = D.data() + i * b;
      const double R = pairKernelRow(Drow, b, kern, Krow.data());
      double dot = 0.0;  // Σ_l G'_il C̃_il
      for (int64_t j = 0; j < b; ++j) {
        const double c = Krow[j] / R;
        gMasked[j] = (c >= kPairClipMin && c <= 1.0) ? double(dC[i * b + j]) : 0.0;
        dot += gMasked[j] * c;
      }
      for (int64_t j = 0; j < b; ++j) {
        const double gK = (gMasked[j] - dot) / R;
        H[i * b + j] = gK * Krow[j] * kern.dLogUdDist(Drow[j]);  // ∂K/∂D = K·∂log u/∂D
      }
    }
  });
  // Pass 2, per row i: dY_i = 2 Σ_j (H_ij + H_ji)(y_i − y_j).
  pairDistanceGrad(b, w, Y, H.data(), dY);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// 3. Student-t, target distribution and the fused losses.

void studentT(int64_t n, int64_t k, int64_t d, const float* Z, const float* mu, double nu, float* Q) {
  const StudentTKernel kern(nu);
  const std::vector<double> muD = centresToDouble(k, d, mu);
  chunkedFor(n, rowGrain(n, k * (d + 4)), n * k * (d + 4), [&](int64_t begin, int64_t end) {
    double* zt = threadScratch(0, d * kRowBlock);
    double* w = threadScratch(1, k * kRowBlock);
    double* q = threadScratch(2, kRowBlock * k);
    for (int64_t i = begin; i < end; i += kRowBlock) {
      const int64_t rows = std::min(kRowBlock, end - i);
      blockSoftAssign(Z, i, rows, k, d, muD.data(), kern.nu, kern.exponent, zt, w, q);
      for (int64_t e = 0; e < rows * k; ++e) Q[i * k + e] = static_cast<float>(q[e]);
    }
  });
}

void studentTBackward(int64_t n, int64_t k, int64_t d, const float* Z, const float* mu, double nu, const float* Q,
                      const float* dQ, float* dZ, float* dMu) {
  // h = dQ ⊙ Q, ∂log u_ij = h_ij − q_ij Σ_l h_il (with the given Q, as autograd saved it).
  runStudentTLoss(n, k, d, Z, mu, nu, nullptr, dZ, dMu,
                  [&](int64_t i, const SoftAssignRow&, double* gLogU) {
                    const float* q = Q + i * k;
                    const float* g = dQ + i * k;
                    double hSum = 0.0;
                    for (int64_t j = 0; j < k; ++j) {
                      gLogU[j] = double(g[j]) * double(q[j]);
                      hSum += gLogU[j];
                    }
                    for (int64_t j = 0; j < k; ++j) gLogU[j] -= double(q[j]) * hSum;
                    return LossParts();
                  });
}

void targetDistribution(int64_t n, int64_t k, const float* Q, float* P) {
  const std::vector<double> f = columnSums(n, k, Q);
  parallelFor(n, rowGrain(n, 4 * k), [&](int64_t begin, int64_t end) {
    std::vector<double> W(k);
    for (int64_t i = begin; i < end; ++i) {
      double T = 0.0;
      for (int64_t j = 0; j < k; ++j) {
        const double q = Q[i * k + j];
        W[j] = f[j] > 0.0 ? q * q / f[j] : 0.0;
        T += W[j];
      }
      for (int64_t j = 0; j < k; ++j) P[i * k + j] = T > 0.0 ? static_cast<float>(W[j] / T) : 0.0f;
    }
  });
}

void targetDistributionBackward(int64_t n, int64_t k, const float* Q, const float* dP, float* dQ) {
  const std::vector<double> f = columnSums(n, k, Q);
  // Pass 1: colTerm_j = Σ_r GW_rj W_rj (deterministic chunks). Pass 2 recomputes the row's GW.
  auto rowGW = [&](int64_t i, double* W, double* GW) {
    double T = 0.0;
    for (int64_t j = 0; j < k; ++j) {
      const double q = Q[i * k + j];
      W[j] = f[j] > 0.0 ? q * q / f[j] : 0.0;
      T += W[j];
    }
    if (!(T > 0.0)) {
      for (int64_t j = 0; j < k; ++j) GW[j] = 0.0;
      return;
    }
    double dot = 0.0;  // Σ_l dP_il S_il
    for (int64_t j = 0; j < k; ++j) dot += double(dP[i * k + j]) * (W[j] / T);
    for (int64_t j = 0; j < k; ++j) GW[j] = (double(dP[i * k + j]) - dot) / T;
  };
  const int64_t grain = reductionGrain(n);
  const int64_t chunks = numChunks(n, grain);
  std::vector<double> partials(chunks * k, 0.0);
  parallelFor(n, grain, [&](int64_t begin, int64_t end) {
    std::vector<double> W(k), GW(k);
    double* part = partials.data() + (begin / grain) * k;
    for (int64_t i = begin; i < end; ++i) {
      rowGW(i, W.data(), GW.data());
      for (int64_t j = 0; j < k; ++j) part[j] += GW[j] * W[j];
    }
  });
  std::vector<double> colTerm(k);
  combinePartials(partials, chunks, k, colTerm.data());
  parallelFor(n, rowGrain(n, 8 * k), [&](int64_t begin, int64_t end) {
    std::vector<double> W(k), GW(k);
    for (int64_t i = begin; i < end; ++i) {
      rowGW(i, W.data(), GW.data());
      for (int64_t j = 0; j < k; ++j) {
        const double g = f[j] > 0.0 ? (2.0 * double(Q[i * k + j]) * GW[j] - colTerm[j]) / f[j] : 0.0;
        dQ[i * k + j] = static_cast<float>(g);
      }
    }
  });
}

void pseudoLabels(int64_t n, int64_t k, const float* P, int32_t* labels) {
  parallelFor(n, rowGrain(n, k), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) labels[i] = static_cast<int32_t>(argmaxRow(P + i * k, k));
  });
}

double klStudentT(int64_t n, int64_t k, int64_t d, const float* Z, const float* mu, double nu, const float* P,
                  double scale, float* Q, float* dZ, float* dMu) {
  return klFocalImpl(n, k, d, Z, mu, nu, P, scale, 0.0, 0.0, Q, dZ, dMu, nullptr, nullptr);
}

double klStudentTTriplet(int64_t n, int64_t k, int64_t d, const float* Z1, const float* Z2, const float* Z3,
                         const float* mu, double nu, const float* P, double scale, float* Q1, float* Q2, float* Q3,
                         float* dZ1, float* dZ2, float* dZ3, float* dMu) {
  const double third = scale / 3.0;
  std::vector<float> mu2(dMu ? k * d : 0), mu3(dMu ? k * d : 0);
  const double l1 = klStudentT(n, k, d, Z1, mu, nu, P, third, Q1, dZ1, dMu);
  const double l2 = klStudentT(n, k, d, Z2, mu, nu, P, third, Q2, dZ2, dMu ? mu2.data() : nullptr);
  const double l3 = klStudentT(n, k, d, Z3, mu, nu, P, third, Q3, dZ3, dMu ? mu3.data() : nullptr);
  if (dMu) {
    for (int64_t c = 0; c < k * d; ++c) dMu[c] = (dMu[c] + mu2[c]) + mu3[c];
  }
  return (l1 + l2) + l3;
}

double klStudentTSelf(int64_t n, int64_t k, int64_t d, int64_t m, const float* const* Zs, const float* mu, double nu,
                      double scale, float* Q1, float* P, float* const* dZs, float* dMu) {
  const StudentTKernel kern(nu);
  const std::vector<double> muD = centresToDouble(k, d, mu);
  const int64_t grain = reductionGrain(n);  // a multiple of 64 rows, so blocks of 8 never straddle two chunks
  const int64_t chunks = numChunks(n, grain);

  // Pass 1: Q1 (kept in double for pass 2, rounded into the output) and per-chunk column sums of Q1.
  std::vector<double> q1(n * k);
  std::vector<double> colPartials(chunks * k, 0.0);
  const int64_t work = n * k * (d + 8);
  chunkedFor(n, grain, work, [&](int64_t begin, int64_t end) {
    double* zt = threadScratch(0, d * kRowBlock);
    double* w = threadScratch(1, k * kRowBlock);
    double* part = colPartials.data() + (begin / grain) * k;
    for (int64_t i = begin; i < end; i += kRowBlock) {
      const int64_t rows = std::min(kRowBlock, end - i);
      double* q = q1.data() + i * k;
      blockSoftAssign(Zs[0], i, rows, k, d, muD.data(), kern.nu, kern.exponent, zt, w, q);
      for (int64_t e = 0; e < rows * k; ++e) Q1[i * k + e] = static_cast<float>(q[e]);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t j = 0; j < k; ++j) part[j] += q[r * k + j];
      }
    }
  });
  std::vector<double> f(k), invF(k);
  combinePartials(colPartials, chunks, k, f.data());
  // q²·(1/f) where 1/f is finite; a column whose sum is subnormal (every q in it underflowed) has 1/f = ∞ and
  // takes q·(q/f) instead (q ≤ f, so that is ≤ q and finite).
  bool subnormalColumn = false;
  for (int64_t j = 0; j < k; ++j) {
    invF[j] = f[j] >= DBL_MIN ? 1.0 / f[j] : 0.0;
    subnormalColumn |= f[j] > 0.0 && f[j] < DBL_MIN;
  }

  // Pass 2: P (double, then rounded into the output) and Σ_t Σ_ij p_ij log(p_ij/q^t_ij), chunk by chunk.
  std::vector<double> lossPartials(chunks, 0.0);
  chunkedFor(n, grain, work * m, [&](int64_t begin, int64_t end) {
    const int64_t rows = end - begin;
    double* p = threadScratch(0, rows * k);
    double* x = threadScratch(1, rows * k);
    double* qt = threadScratch(2, rows * k);
    double* zt = threadScratch(3, d * kRowBlock);
    double* w = threadScratch(4, k * kRowBlock);
    // Flags of the irregular terms, one per entry, in a double buffer (0 or 1).
    double* irregular = threadScratch(5, rows * k);
    // p_ij = (q_ij²/f_j) / Σ_l (q_il²/f_l); a row whose terms all vanish gets p = 0 (targetDistribution's guard).
    for (int64_t r = 0; r < rows; ++r) {
      const double* q = q1.data() + (begin + r) * k;
      double T = 0.0;
      for (int64_t j = 0; j < k; ++j) {
        p[r * k + j] = q[j] * q[j] * invF[j];
        if (subnormalColumn && f[j] > 0.0 && f[j] < DBL_MIN) p[r * k + j] = q[j] * (q[j] / f[j]);
        T += p[r * k + j];
      }
      const double invT = T > 0.0 ? 1.0 / T : 0.0;
      for (int64_t j = 0; j < k; ++j) {
        p[r * k + j] *= invT;
        P[(begin + r) * k + j] = static_cast<float>(p[r * k + j]);
      }
    }
    double loss = 0.0;
    for (int64_t t = 0; t < m; ++t) {
      const double* q = q1.data() + begin * k;
      if (t > 0) {
        for (int64_t i = begin; i < end; i += kRowBlock) {
          blockSoftAssign(Zs[t], i, std::min(kRowBlock, end - i), k, d, muD.data(), kern.nu, kern.exponent, zt, w,
                          qt + (i - begin) * k);
        }
        q = qt;
      }
      bool anyIrregular = false;
      loss += klRegularTerms(p, q, rows * k, x, irregular, &anyIrregular);
      if (anyIrregular) {
        // Log space for the rare rows where q underflowed: log q from the row's distances (SoftAssignRow).
        SoftAssignRow row(k);
        BlockDistances block(k, d);
        for (int64_t r = 0; r < rows; ++r) {
          bool rowIrregular = false;
          for (int64_t j = 0; j < k; ++j) rowIrregular |= irregular[r * k + j] != 0.0 && p[r * k + j] > 0.0;
          if (!rowIrregular) continue;
          block.compute(Zs[t], begin + r, 1, muD.data());
          row.evaluate(block.row(0), k, kern);
          for (int64_t j = 0; j < k; ++j) {
            if (irregular[r * k + j] != 0.0 && p[r * k + j] > 0.0) {
              loss += p[r * k + j] * (std::log(p[r * k + j]) - row.logq(j));
            }
          }
        }
      }
    }
    lossPartials[begin / grain] = loss;
  });
  const double loss = (scale / double(m)) * sumInOrder(lossPartials);

  // Gradients with P held constant (the float P just written), as klStudentT's: one pass per embedding.
  if (dMu || (dZs && std::any_of(dZs, dZs + m, [](float* g) { return g != nullptr; }))) {
    const double each = scale / double(m);
    std::vector<float> muExtra(dMu && m > 1 ? (m - 1) * k * d : 0);
    for (int64_t t = 0; t < m; ++t) {
      float* dMuT = dMu ? (t == 0 ? dMu : muExtra.data() + (t - 1) * k * d) : nullptr;
      runStudentTLoss(n, k, d, Zs[t], mu, nu, nullptr, dZs ? dZs[t] : nullptr, dMuT,
                      [&](int64_t i, const SoftAssignRow& row, double* gLogU) {
                        const float* pr = P + i * k;
                        double rowSum = 0.0;
                        for (int64_t j = 0; j < k; ++j) rowSum += double(pr[j]);
                        for (int64_t j = 0; j < k; ++j) gLogU[j] = -each * (double(pr[j]) - row.q[j] * rowSum);
                        return LossParts();
                      });
    }
    if (dMu && m > 1) {
      // Summed in embedding order, as klStudentTTriplet: (dMu_1 + dMu_2) + dMu_3.
      for (int64_t c = 0; c < k * d; ++c) {
        float acc = dMu[c];
        for (int64_t t = 1; t < m; ++t) acc += muExtra[(t - 1) * k * d + c];
        dMu[c] = acc;
      }
    }
  }
  return loss;
}

double focalStudentT(int64_t n, int64_t k, int64_t d, const float* Z, const float* mu, double nu, const float* P,
                     double gamma, double scale, float* Q, float* dZ, float* dMu) {
  return klFocalImpl(n, k, d, Z, mu, nu, P, 0.0, scale, gamma, Q, dZ, dMu, nullptr, nullptr);
}

double klFocalStudentT(int64_t n, int64_t k, int64_t d, const float* Z, const float* mu, double nu, const float* P,
                       double klScale, double focalScale, double gamma, float* Q, float* dZ, float* dMu,
                       double* klLoss, double* focalLoss) {
  return klFocalImpl(n, k, d, Z, mu, nu, P, klScale, focalScale, gamma, Q, dZ, dMu, klLoss, focalLoss);
}

// ---------------------------------------------------------------------------------------------------------------
// 4. CDC pairwise kernels.

void pairAffinity(int64_t b, int64_t w, const float* Y, double nu, float* C) {
  pairAffinityFromDistances(b, pairwiseSquaredDistances(b, w, Y), nu, C);
}

void pairAffinityBackward(int64_t b, int64_t w, const float* Y, double nu, const float* dC, float* dY) {
  pairAffinityBackwardFromDistances(b, w, Y, pairwiseSquaredDistances(b, w, Y), nu, dC, dY);
}

double rowKlClipped(int64_t rows, int64_t cols, const float* A, const float* B, double scale, float* dA, float* dB) {
  const int64_t grain = reductionGrain(rows);
  std::vector<double> partials(numChunks(rows, grain), 0.0);
  parallelFor(rows, grain, [&](int64_t begin, int64_t end) {
    double loss = 0.0;
    for (int64_t i = begin; i < end; ++i) {
      for (int64_t j = 0; j < cols; ++j) {
        const double a = A[i * cols + j], bv = B[i * cols + j];
        const double aBar = std::min(1.0, std::max(kKlClipMin, a));
        const double bBar = std::min(1.0, std::max(kKlClipMin, bv));
        const double logRatio = std::log(aBar / bBar);
        loss += aBar * logRatio;
        if (dA) dA[i * cols + j] = (a >= kKlClipMin && a <= 1.0) ? static_cast<float>(scale * (logRatio + 1.0)) : 0.0f;
        if (dB) dB[i * cols + j] = (bv >= kKlClipMin && bv <= 1.0) ? static_cast<float>(-scale * aBar / bBar) : 0.0f;
      }
    }
    partials[begin / grain] = loss;
  });
  return scale * sumInOrder(partials);
}

double cdcCorrelationLoss(int64_t b, int64_t wa, const float* Ya, int64_t wb, const float* Yb, double nu,
                          double scale, float* dYa, float* dYb) {
  const std::vector<double> Da = pairwiseSquaredDistances(b, wa, Ya);
  const std::vector<double> Db = pairwiseSquaredDistances(b, wb, Yb);
  std::vector<float> Ca(b * b), Sa(b * b), Cb(b * b);
  pairAffinityFromDistances(b, Da, nu, Ca.data());
  targetDistribution(b, b, Ca.data(), Sa.data());
  pairAffinityFromDistances(b, Db, nu, Cb.data());
  std::vector<float> dSa(dYa ? b * b : 0), dCb(dYb ? b * b : 0);
  const double loss = rowKlClipped(b, b, Sa.data(), Cb.data(), scale, dYa ? dSa.data() : nullptr,
                                   dYb ? dCb.data() : nullptr);
  if (dYa) {
    std::vector<float> dCa(b * b);
    targetDistributionBackward(b, b, Ca.data(), dSa.data(), dCa.data());
    pairAffinityBackwardFromDistances(b, wa, Ya, Da, nu, dCa.data(), dYa);
  }
  if (dYb) pairAffinityBackwardFromDistances(b, wb, Yb, Db, nu, dCb.data(), dYb);
  return loss;
}

}  // namespace cpu
}  // namespace dgc
