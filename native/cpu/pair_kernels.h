// The two O(b²·w) loops of CDC's pairwise losses over a mini-batch of b rows of width w (cluster.h's pairAffinity
// and cdcCorrelationLoss, cdc.h's cdcPairLoss): the squared distances between all pairs of rows, and the gradient
// that flows back through them. Everything in double, from float rows.
//
// Each is compiled for AVX-512, AVX2 and portable vectors and picked at run time (isa.h; DGCLUST_PAIR_KERNEL names
// one). Unlike the GEMM, attention and reconstruction families, every set gives the same bits, so runs need not
// record which one ran: the loops are vectorised across pairs (distances) or columns (gradient), each lane doing the
// scalar definition's operations below in its order, and the sets are compiled without FMA contraction.
#pragma once
#include <cstdint>

namespace dgc {
namespace cpu {

// D (b×b, row-major, overwritten): D_ij = (s0 + s1) + (s2 + s3), where s_q = Σ (y_ic − y_jc)² over the columns
// c ≡ q (mod 4) of the leading multiple of 4 in increasing c, and the last w mod 4 columns are added to s0 after
// them. D is exactly symmetric ((−x)² = x²) and D_ii = 0.
void pairSquaredDistances(int64_t b, int64_t w, const float* Y, double* D);

// Given H = ∂L/∂D (b×b, double) over those distances: dY_i = 2 Σ_{j ≠ i} (H_ij + H_ji)(y_i − y_j), the sum over j in
// increasing order in double (terms with H_ij + H_ji = 0 skipped), rounded to float once. dY (b×w) overwritten.
void pairDistanceGrad(int64_t b, int64_t w, const float* Y, const double* H, float* dY);

namespace pair_detail {
// For tests and benchmarks: the set in use ("avx512", "avx2" or "portable"), and a way to force one (false, changing
// nothing, when this CPU or build cannot run it). Not to be called while a kernel runs.
const char* activeKernelSetName();
bool forceKernelSet(const char* name);
}  // namespace pair_detail

}  // namespace cpu
}  // namespace dgc
