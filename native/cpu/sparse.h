// SpMM (sparse × dense) for the CPU backend, the hot op of every GCN layer. The CSR conventions, and building,
// transposing and validating CSR on the host, are native/core/graph.h's.
//
// Conventions: native/core/graph.h (int32 CSR, sorted unique column ids per row); spmm relies only on the ids being
// in range (its summation order is the stored order). Dense matrices are row-major float32.
//
// Threading and determinism: each output row is produced by exactly one chunk of rows (cut by nonzero count,
// native/core/row_split.h), so results are bit-identical for any thread count.
//
// SIMD
//   The addon is built without -march flags. spmm has AVX-512 and AVX2+FMA kernels (compiled with
//   function-level target attributes) chosen once at run time with __builtin_cpu_supports, and a portable
//   kernel for other CPUs. The kernel depends only on the CPU and d, so the determinism above holds;
//   different kernels may differ in the last bits (FMA vs separate multiply and add).
#pragma once
#include <cstdint>

namespace dgc {
namespace cpu {

// out[rows×d] = A · H, where A is rows×cols CSR and H is cols×d row-major (ldh = d), out row-major (d columns).
// Overwrites out (does not read it).
//
// How: each output row is a sum over the row's nonzeros (in stored order) of value · H[col, :]. The d
// columns are cut into tiles held in vector registers (64 floats with AVX-512, 32 with AVX2, 16 in the
// portable kernel); for each tile the row's nonzeros are walked once, accumulating in registers, and the
// tile is stored once. Narrow H (d <= tile) is the same loop with the whole row in one tile; the last,
// partial vector of a row uses masked loads and stores. When H is bigger than ~L2 and a row is one tile, the
// H rows that the next nonzeros will gather are prefetched. Rows are split into chunks of ~equal
// (nnz + rows), found by binary search on indptr. Requires values != nullptr (when nnz > 0) and indices in
// [0, cols); H and out must not overlap.
void spmm(int64_t rows, int64_t cols, const int32_t* indptr, const int32_t* indices, const float* values,
          const float* H, int64_t d, float* out);

// For tests and benchmarks: which SpMM kernel to run. Auto is what spmm() does: AVX-512 if the CPU has it,
// except for 16 < d < 64 where AVX2 measured faster; else AVX2 + FMA if the CPU has them; else Portable.
// Asking for a kernel the CPU lacks falls back to Portable. spmmKernelAvailable says which can run.
enum class SpmmKernel { Auto, Portable, Avx2, Avx512 };
bool spmmKernelAvailable(SpmmKernel kernel);
const char* spmmKernelName(SpmmKernel kernel);  // "auto", "portable", "avx2", "avx512"
// The kernel Auto runs outside 16 < d < 64 (inside it, AVX2 where the CPU has AVX-512): "avx512", "avx2" or "portable".
const char* spmmDefaultKernelName();
void spmmWithKernel(SpmmKernel kernel, int64_t rows, int64_t cols, const int32_t* indptr, const int32_t* indices,
                    const float* values, const float* H, int64_t d, float* out, int act = 0, float slope = 0.0f);

// out = act(A·H): spmm with an activation (activation.h code: kActRelu, or kActLeakyRelu with `slope`) applied
// to each chunk of output rows right after it is computed, while it is in cache. Bit-identical to spmm followed
// by the unary op.
void spmmActivate(int64_t rows, int64_t cols, const int32_t* indptr, const int32_t* indices, const float* values,
                  const float* H, int64_t d, float* out, int act, float slope);

}  // namespace cpu
}  // namespace dgc
