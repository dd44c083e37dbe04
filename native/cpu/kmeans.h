// k-means for the CPU backend, with scikit-learn's KMeans semantics (algorithm="lloyd", init="k-means++").
//
// The official codes call KMeans(K, n_init=20) with scikit-learn's defaults (max_iter 300, tol 1e-4 × mean feature
// variance): DFCN's train.py, SDCN's sdcn.py, AGCN's AGCN.py; CaEGCN's CaEGCN.py sets max_iter=1000, CDC's
// our_HDC.py n_init=20; DCCF (no published code; its Alg. 1 only says "initialize μ") takes DEC/IDEC's k-means.
//
// What kmeans() does, step by step (mirrors sklearn.cluster.KMeans.fit, sklearn ≥ 1.2):
//   1. tolAbs = tol · mean_c var(X[:, c])   (population variance per feature, in double; sklearn's _tolerance).
//   2. The data are centred (X − column mean, as sklearn does for dense input; this keeps the ‖c‖² − 2x·c
//      distance form accurate for data far from the origin). Centres are shifted back at the end.
//   3. For each restart r = 0 .. nInit−1: centres = kmeansPlusPlus(seed, stream = r); then up to maxIter Lloyd
//      steps. After step t (labels computed from the centres before the step, centres then recomputed):
//        * labels identical to the previous step's labels → converged ("strict convergence"), stop;
//        * else Σ_j ‖c_j(new) − c_j(old)‖² ≤ tolAbs → converged, stop.
//      Without strict convergence a final assignment step re-labels the points with the final centres (as sklearn
//      does). inertia = Σ_i ‖x_i − c_{label_i}‖² (double, exact differences) with the final centres and labels.
//   4. The restart with the lowest inertia is kept (ties: the first one). As in sklearn, a later restart with a
//      lower inertia but the same partition (labels of the best so far are a function of its labels, sklearn's
//      _is_same_clustering) does not replace it: such differences are rounding noise.
//   iterations = number of Lloyd steps of the kept restart (sklearn's n_iter_), bestInit = its index.
//
// k-means++ (sklearn's greedy _kmeans_plusplus): first centre uniform among the rows; then for each further centre,
// T = 2 + floor(ln k) candidates are drawn with probability ∝ D(x)² (D = distance to the nearest chosen centre,
// sampled by inverse CDF on the running sum, like np.searchsorted(cumsum, u·total)); the candidate giving the lowest
// potential Σ_i min(D(x_i)², ‖x_i − cand‖²) is kept (ties: the first drawn). Points at distance 0 from a chosen
// centre are never drawn while some point has D > 0, so with at least k distinct rows the k centres are distinct
// rows; with fewer distinct rows than k, duplicates are unavoidable (sklearn behaves the same).
// Randomness: Philox4x32-10 (philox.h) under key `seed`, stream `stream`; draw j uses block j and forms a 53-bit
// uniform from words 0 and 1. Draw 0 picks the first centre; draw 1 + (c−1)·T + t is candidate t of centre c.
// Hence the result is a pure function of (X, k, seed, stream), on any machine and any thread count.
// kmeans() uses stream = restart index, so restart r of kmeans(seed) equals kmeansPlusPlus(seed, r) on the
// centred data.
//
// Lloyd step (lloydStep):
//   * Assignment: label_i = argmin_j (‖c_j‖² − 2 x_i·c_j) in float32 (dgc::cpu::sgemm, C·Xᵀ on blocks of 256 rows),
//     ties → lowest index — the same form and precision sklearn uses for float32 data (‖x_i‖² is constant per row
//     and is dropped, so nothing can go negative and no clamp is needed; near-ties closer than float rounding of
//     ‖c‖², x·c may be resolved differently than exact arithmetic would, as in sklearn).
//   * The returned inertia is Σ_i ‖x_i − c_{label_i}‖² with the centres BEFORE the update, each term computed from
//     exact differences in double (never the expanded form, so it cannot cancel or go negative).
//   * Update: c_j = mean of its rows, summed in double in row order, rounded to float.
//   * Empty clusters (sklearn's _relocate_empty_clusters_dense, matched): if m clusters are empty, the m rows
//     farthest from their assigned (old) centre are taken, in order of decreasing distance (ties: lowest row index;
//     sklearn's argpartition order is unspecified), and the f-th farthest row becomes the new centre of the f-th
//     empty cluster (increasing cluster index); it is removed from its own cluster's sum and count. Labels are NOT
//     changed (as in sklearn). If this leaves the donor cluster with no rows (it had only that row), the donor
//     keeps its previous centre (sklearn would leave it at the origin of its centred data: a degenerate case).
//
// Determinism: row blocks have a fixed size (256 rows, independent of the thread count); inertia and k-means++
// potentials are one double partial per block, combined in block order; centre sums are computed per feature
// column by exactly one task, in row order. Results are bit-identical for any dgc::setNumThreads.
//
// Memory: kmeans() keeps two float copies of X (centred, and centred-transposed d×n so the GEMM packs its operand
// without transposing), plus O(n + k·d) work space. Inside kmeans() the per-step inertia is not computed (only
// the final one is); empty-cluster relocation then computes the distances it needs on demand.
//
// Conventions: X is row-major float32 n×d, centres k×d, labels int32. kmeans() validates its arguments
// (throws dgc::Error: DGC_ARG for n, d < 1, k outside [1, n], nInit < 1, maxIter < 1, tol < 0 or NaN; DGC_VALUE for
// non-finite X). The building blocks do not validate (callers guarantee n ≥ 1, d ≥ 1, 1 ≤ k ≤ n).
#pragma once
#include <cstdint>
#include <vector>

namespace dgc {
namespace cpu {

struct KMeansOptions {
  int64_t k;
  int nInit = 20;
  int maxIter = 300;
  double tol = 1e-4;
  uint64_t seed = 0;
};

struct KMeansResult {
  std::vector<float> centers;   // k×d
  std::vector<int32_t> labels;  // n
  double inertia;               // Σ_i ‖x_i − c_{label_i}‖² (double)
  int iterations;               // Lloyd steps of the kept restart
  int bestInit;                 // index of the kept restart
};

KMeansResult kmeans(int64_t n, int64_t d, const float* X, const KMeansOptions& opts);

// k-means++ initialisation: writes k rows of X into centers (k×d). See above for the draw layout.
void kmeansPlusPlus(int64_t n, int64_t d, const float* X, int64_t k, uint64_t seed, uint64_t stream, float* centers);

// One Lloyd step: assigns labels (n) from centers, returns the inertia w.r.t. those centres, then overwrites centers
// with the cluster means (empty clusters relocated as described above).
double lloydStep(int64_t n, int64_t d, const float* X, int64_t k, float* centers, int32_t* labels);

// Assignment only (no update): labels = nearest centre (same rule as lloydStep), returns the inertia.
double kmeansAssign(int64_t n, int64_t d, const float* X, int64_t k, const float* centers, int32_t* labels);

}  // namespace cpu
}  // namespace dgc
