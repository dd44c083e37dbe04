// kNN-graph construction for the CPU backend (the graphs SDCN / DFCN build for non-graph data sets).
//
// What SDCN (bdy9527/SDCN calcu_graph.py) and DFCN (construct_graph in load_data.py) do
//   dist = similarity matrix (n×n);  per row i: ind = np.argpartition(dist[i], -(k+1))[-(k+1):]
//   and for vv in ind: if vv != i: write "i vv".
//   * 'heat': S = exp(-0.5 * pairwise_distances(X)**2)  (t = 2). exp is monotone, so this is Euclidean kNN.
//   * 'cos' : X binarized (X > 0 -> 1), S = X Xᵀ                 (a dot product; binarize before calling).
//   * 'ncos': X binarized, rows L1-normalized, S = X Xᵀ           (a dot product; preprocess before calling).
//   * DAGC-style cosine: S = x·y / (|x| |y|).
//   The top-(k+1) *set* is what np.argpartition fixes; the order of `ind` is whatever numpy's introselect leaves,
//   which depends on all n values of the row (not only the top ones), and which of several tied values at the
//   boundary gets in is also introselect's choice (it is not stable). Self is dropped when it is in the set;
//   when it is not (duplicate points, ties), the original writes all k+1 pairs (reut1/reut3 have such rows).
//
// What knnGraph computes (the rule, exactly)
//   key(i,j) = Σ_t (x_it - x_jt)²                   Heat   (smaller key = more similar)
//            = -Σ_t x_it x_jt                         Dot
//            = -(Σ_t x_it x_jt) / (|x_i| |x_j|)       Cosine (0 when |x_i| or |x_j| is 0, like sklearn)
//   all in float64 from the float32 inputs, summing t = 0..d-1 in order. Rows are ranked by (key, j)
//   lexicographically: ties are broken by the smaller index. C_i = the first k+1 of row i in that order
//   (self included as a candidate). If i ∈ C_i, neighbors[i] = C_i \ {i}; otherwise neighbors[i] = the first
//   k of C_i (the (k+1)-th is dropped so every row has exactly k; the original would write k+1 lines).
//   Output order within a row: ascending rank (most similar first). This is NOT the order of SDCN's files,
//   which is introselect's (see above): compare those as sets per row.
//   On USPS (usps.txt.gz, float32) Heat reproduces sdcn/graph/usps{1,3,5,10}_graph.txt row sets exactly
//   (see test/native/knn_test.cc).
//
// How
//   Row blocks × column blocks. Each tile's dot products come from dgc::cpu::sgemm (float32); an approximate
//   key with a rigorous error bound (from the float rounding bound γ_d) filters candidates against each row's
//   current (k+1)-th best; survivors get their exact float64 key and go into a per-row bounded max-heap of
//   size k+1. The filter never drops a candidate that could enter, so the result is the exact float64 ranking,
//   independent of tiling, the sgemm kernel (AVX-512/AVX2/generic) and the thread count.
//   Memory: O(n·k) for the heaps plus one tile (kRowBlock × kColBlock floats) per thread, plus an n×d float copy
//   for Cosine (normalized rows). Never n×n. Parallel over row blocks (dgc::parallelFor).
//
// Errors (dgc::Error): Arg when n < 2, d < 1, k < 1 or k > n-1; Value when X holds NaN or ±inf.
#pragma once
#include <cstdint>

namespace dgc {
namespace cpu {

enum class KnnMetric { Heat, Cosine, Dot };  // the similarity SDCN/DFCN rank by (largest first)

// X: row-major float32 n×d. neighbors: n×k int32 (written in full).
void knnGraph(int64_t n, int64_t d, const float* X, int64_t k, KnnMetric metric, int32_t* neighbors);

// SDCN-compatible variant of knnGraph(..., Heat, ...) that also reproduces the *line order* of SDCN's files
// (calcu_graph.py with numpy 1.x and scikit-learn 0.22, float32 features). Per row i it rebuilds the float32
// similarity row SDCN had: sklearn's float32 path of euclidean_distances (float64 dot and squared norms,
// d = (-2·x·y + |x|²) + |y|², rounded to float32, max(·, 0), diagonal set to 0, sqrt), then **2, * -0.5, expf,
// and runs numpy 1.x's introselect (np.argpartition(row, -(k+1)), median-of-3 quickselect; the
// median-of-medians fallback is emulated from numpy's source but never hit on USPS) and writes the last k+1
// indices in the order introselect leaves them, skipping self; when self is not among them, the first k.
// Cost O(n²·d) in float64 scalar code and O(n) memory per thread: meant for reproducing published graphs of
// ~10k nodes, not for large n (use knnGraph). Same errors as knnGraph. Deterministic for any thread count.
// Caveat: the values go through the C library's expf, numpy's may differ by an ulp; only the order of
// near-equal values inside introselect could change (not seen on USPS).
void knnGraphSdcnOrder(int64_t n, int64_t d, const float* X, int64_t k, int32_t* neighbors);

}  // namespace cpu
}  // namespace dgc
