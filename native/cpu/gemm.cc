// Dense SGEMM for the CPU backend: C = alpha·op(A)·op(B) + beta·C, row-major float32 (interface in gemm.h).
//
// BLOCKING SCHEME (GotoBLAS / BLIS)
//   for jc over n in column blocks                  op(B) block, all of k: ≤ 16 MiB, lives in L3 (32 MiB,
//                                                   shared by the cores); usually all of n at once
//     for ic over m in blocks of ≤ MC rows          one parallelFor chunk each
//       for pc over k in slices of ≤ KC             one pass over the chunk's rows of C per slice
//         pack op(A)[ic.., pc..] into mc×kc         panels of MR rows, k-major: the core's L2
//         for jr over the NR-panels of B            panel (pc, jr) packed by the first thread needing it
//           for ir over the MR-panels of A          macro-kernel (gemm_kernel_impl.h): the kc×NR B panel
//             micro-kernel                          stays in L1/L2 while the A panels stream from L2;
//                                                   MR×NR tile of C in registers for the whole kc loop
//   (When n > m the roles of the loops over m and n swap: chunks are column blocks of NC, each packing its
//   own kc×nc B block and the A blocks.)
//   Packing copies each operand once per block into exactly the order the micro-kernel reads it, and absorbs
//   the transposes: op(A) (m×k) and op(B)ᵀ (n×k) are both "rows × k" with arbitrary strides (Operand in
//   gemm_kernels.h), so NN/TN/NT/TT differ only in the pack path taken: a straight copy when the rows are
//   contiguous (op(A) of a transposed A, op(B) of a plain B), 8×8 in-register transposes when k is.
//
// MICRO-KERNEL
//   Per k step: load NR/W vectors of packed B, broadcast MR values of packed A, MR·NR/W FMAs into
//   accumulators that never leave the registers. The last row panel of A keeps its exact height and runs a
//   kernel instance for that height (templates for 1..MR rows), so there is no wasted work along m; along n
//   the last panel is zero-padded to a whole vector and only the valid columns are stored.
//   Each C element is a plain FMA chain over k in order, whatever tile or chunk it falls in, and the k
//   slicing depends on k and the kernel set only: results are bit-identical for any thread count.
//
// KERNEL SETS AND BLOCK SIZES (tuned on a 2-core AMD EPYC Zen 4 VM: 32 KiB L1d and 1 MiB L2 per core,
//   32 MiB L3; measurements with bench/gemm/ and single-core runs timed by thread CPU time, because other
//   jobs shared the machine)
//   avx512 (default where the CPU has AVX-512F/VL/BW/DQ): MR×NR = 8×48, 24 zmm accumulators + 3 B vectors +
//     1 broadcast. Kernel alone on an L2-resident block: 8×48 115 GF/core, 6×64 115, 12×32 110, 14×32 109,
//     AVX2 6×16 108, against 114 GF for a bare chain of zmm FMAs: Zen 4 executes a zmm FMA as two 256-bit
//     halves, so both widths have the same peak, and the zmm kernel wins (~6%) by needing half the
//     instructions and loads per flop. Hence AVX-512 is the default on Zen 4 too.
//     KC = 512: the A block 336×512 (672 KiB) + one B panel 512×48 (96 KiB) fit the 1 MiB L2; KC ∈ {256,
//     384, 512} × MC ∈ {192, 336, 480} were within ~5% of each other, KC = 512 best on 10000×500×2000
//     (one slice of 500 instead of two). MC = 336. NC (n-split path only) = 4032 = 84 panels.
//   avx2 (AVX2+FMA without AVX-512): 6×16 (12 of the 16 ymm registers), KC = 256, MC = 144, NC = 4080,
//     BLIS's values for Zen 2/3. Forced on this Zen 4 (DGCLUST_GEMM_KERNEL=avx2), 2 threads: 156–212 GF/s
//     on the big benchmark shapes, 0.86–1.07× OpenBLAS, where avx512 gets 160–211 GF/s, 1.04–1.2×.
//   generic (no AVX2, or not x86): 4×8 with a portable 4-float vector type the compiler maps to SSE/NEON.
//   k is cut into ceil(k/KC) equal slices (500 → 250 + 250, not 384 + 116).
//
// PARALLELISM (native/core/thread_pool.h)
//   m ≥ n: chunks are blocks of m, each packing its own A block; B is packed once and shared, each panel
//   packed by whichever thread needs it first (LazyPackedB), so a product is one parallelFor (one wake-up of
//   the workers) rather than two per k slice. n > m: chunks are blocks of n, each packing its own B block
//   and all of A. Blocks are sized so that their count is a multiple of the thread count: the pool
//   hands chunks out dynamically, so a thread whose core is briefly taken by another process takes fewer.
//   Products under ~8 MFLOP per thread use fewer threads (waking one costs more than it brings).
//
// SPECIAL PATHS
//   - m·n·k < 32768: direct loops, no packing and no threads.
//   - Skinny n (n ≤ 16 < m, e.g. 10000×2000×10, a layer's output with 10 features): packing would cost as
//     much as the product, and an n-wide tile wastes most of each vector. With A not transposed (rows of A
//     contiguous along k), dot products along k stream A once from memory (gemm_kernel_impl.h, dotTile).
//     With A transposed, Cᵀ = op(B)ᵀ·op(A)ᵀ: the n rows are the broadcast side of one skinnyMr-high tile and
//     m runs along the vectors; A is packed in L2-sized blocks with its rows prefetched.
//   - 16 < n < 64 with m > n: also computed as Cᵀ through the packed path, so that the long side runs
//     along the vectors (C is then stored through the micro-kernel's strided store).
//   - k == 0 or alpha == 0: C = beta·C (C not read when beta == 0).
//   The choice of path depends on the shape and kernel set, never on the thread count.
//
// ROW-SPARSE OPERAND (sgemmSparse, gemm.h): when one operand is a constant with a nonzero index
//   (core/row_sparse.h: bag-of-words features), each element of C is computed as the packed path computes it —
//   per k slice an FMA chain from zero in k order, then the micro-kernel's epilogue — over the nonzero terms
//   only. A zero term is fma(0, b, s) = s for finite b, so the values are the dense product's, bit for bit; where
//   the dense product would take another path (direct, skinny) or the operand holds Inf/NaN, it declines.
//   Rows of the sparse matrix go to the threads; the dense operand is packed by the kernel set's pack routine
//   into column panels of one register block (k × 128 floats with AVX-512) that stay in L2 while the rows
//   select from them.
//
// RESULT (bench/gemm/run.sh, 2 threads, quiet machine): 3025×1870×500 and 10000×500×2000 in all four forms
//   at 157–211 GFLOP/s, 0.99–1.2× Debian's OpenBLAS 0.3.21 (its Cooperlake AVX-512 kernels); 10000×2000×10
//   at 27–62 GFLOP/s, 1.3–4.5× OpenBLAS over three runs (memory-bound: A is 80 MB, read once).
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <thread>
#include <utility>

#include "../core/thread_pool.h"
#include "activation.h"
#include "gemm_kernels.h"
#include "isa.h"
#include "scratch.h"

namespace dgc { namespace cpu {
namespace gemm_detail {

namespace {

// ---- Kernel selection -------------------------------------------------------------------------------

// The kernel set in use (isa.h): AVX-512, AVX2 + FMA or generic; DGCLUST_GEMM_KERNEL names one.
KernelSetChoice<KernelSet>& choice() {
  static KernelSetChoice<KernelSet> c("DGCLUST_GEMM_KERNEL", {
      {"avx512", cpuHasAvx512, avx512KernelSet()},
      {"avx2", cpuHasAvx2Fma, avx2KernelSet()},
      {"generic", anyCpu, &genericKernelSet()},
  });
  return c;
}

// ---- Buffers ----------------------------------------------------------------------------------------

enum BufferSlot { kPackA = 0, kPackB = 1, kSharedB = 2 };
float* scratch(BufferSlot slot, size_t floats) {
  thread_local ScratchBuffer buffers[3];
  return buffers[slot].get(floats);
}

// ---- Epilogue ---------------------------------------------------------------------------------------

// The epilogue (gemm.h) seen from inside a product: C as the driver computes it (element (r, col) of the
// computed problem at c[r * rsC + col * csC]; after the Cᵀ swap rsC = 1 and the bias runs along the rows).
// apply() finishes a block of the computed problem whose values are final.
struct EpilogueView {
  const GemmEpilogue* e = nullptr;
  float* c = nullptr;
  int64_t rsC = 0, csC = 1;
  bool biasAlongRows = false;

  void apply(int64_t r0, int64_t r1, int64_t c0, int64_t c1) const {
    if (!e || r0 >= r1 || c0 >= c1) return;
    withActivation(e->act, [&](auto tag) {
      constexpr int kAct = decltype(tag)::value;
      const float* bias = e->bias;
      if (csC == 1 && !biasAlongRows) {  // rows of C contiguous, bias along them
        for (int64_t r = r0; r < r1; ++r)
          biasActivateRow<kAct>(c + r * rsC + c0, c1 - c0, bias ? bias + c0 : nullptr, e->slope);
      } else if (rsC == 1 && biasAlongRows) {  // Cᵀ computed: the problem's columns are C's rows
        for (int64_t col = c0; col < c1; ++col)
          biasActivateRow<kAct>(c + col * csC + r0, r1 - r0, bias ? bias + r0 : nullptr, e->slope);
      } else {  // not reached by sgemm's paths; kept general
        for (int64_t r = r0; r < r1; ++r) {
          for (int64_t col = c0; col < c1; ++col) {
            float* p = c + r * rsC + col * csC;
            const float* b = bias ? bias + (biasAlongRows ? r : col) : nullptr;
            biasActivateRow<kAct>(p, 1, b, e->slope);
          }
        }
      }
    });
  }
};

// ---- Small products ---------------------------------------------------------------------------------

inline float storeScaled(float acc, float alpha, float beta, float c) {
  return beta == 0.0f ? alpha * acc : alpha * acc + beta * c;
}

// Direct loops for products too small to pay for packing. A is m×k and B is n×k (Operand view).
void directGemm(int64_t m, int64_t n, int64_t k, float alpha, Operand a, Operand b, float beta, float* c,
                int64_t ldc) {
  if (b.rowStride == 1) {
    // op(B) rows contiguous along n: accumulate whole rows of C (a vectorizable axpy per k).
    constexpr int64_t kChunk = 256;
    float acc[kChunk];
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
        const int64_t nj = std::min(kChunk, n - j0);
        std::fill(acc, acc + nj, 0.0f);
        for (int64_t p = 0; p < k; ++p) {
          const float av = a.data[i * a.rowStride + p * a.kStride];
          const float* brow = b.data + p * b.kStride + j0;
          for (int64_t j = 0; j < nj; ++j) acc[j] += av * brow[j];
        }
        float* crow = c + i * ldc + j0;
        for (int64_t j = 0; j < nj; ++j) crow[j] = storeScaled(acc[j], alpha, beta, crow[j]);
      }
    }
    return;
  }
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      float acc = 0.0f;
      for (int64_t p = 0; p < k; ++p)
        acc += a.data[i * a.rowStride + p * a.kStride] * b.data[j * b.rowStride + p * b.kStride];
      c[i * ldc + j] = storeScaled(acc, alpha, beta, c[i * ldc + j]);
    }
  }
}

// C = beta·C (k == 0 or alpha == 0). beta == 0 writes zeros without reading C.
void scaleC(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  if (beta == 1.0f) return;
  for (int64_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    if (beta == 0.0f)
      std::fill(row, row + n, 0.0f);
    else
      for (int64_t j = 0; j < n; ++j) row[j] *= beta;
  }
}

// ---- Packed products --------------------------------------------------------------------------------

inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// View of `rows` rows of an operand starting at row r0 and k index p0.
inline Operand subOperand(Operand x, int64_t r0, int64_t p0) {
  return Operand{x.data + r0 * x.rowStride + p0 * x.kStride, x.rowStride, x.kStride};
}

// Floats that fit a core's L2 (1 MiB on Zen 4, 1–2 MiB on recent Intel cores).
constexpr int64_t kL2Floats = (1 << 20) / sizeof(float);

// Below about this many flops per thread (~80 µs of work), waking another thread costs more than it saves:
// a sleeping worker took from tens of µs to over a ms to start on the VM we tuned on.
constexpr double kMinFlopsPerThread = 8.0e6;

int threadsFor(int64_t m, int64_t n, int64_t k) {
  const double flops = 2.0 * double(m) * double(n) * double(k);
  const int byWork = static_cast<int>(std::max(1.0, flops / kMinFlopsPerThread));
  return std::max(1, std::min(numThreads(), byWork));
}

// Length of the k slices: k cut into ceil(k / KC) slices of equal length (500 → 250 + 250, not 384 + 116:
// a short last slice pays a full pass over C and the packing overheads for little work). It depends on k
// and the kernel set only, never on the thread count, so the summation order is fixed.
int64_t kSliceLength(const KernelSet& ks, int64_t k) { return ceilDiv(k, ceilDiv(k, ks.kc)); }

// Length of the blocks that cut `len` into parallelFor chunks: a whole number of `unit`s, at most
// `maxBlock` (a cache block), and, where possible, a multiple of `threads` chunks of about equal length.
// The pool hands chunks out dynamically, so a thread that started late (its core busy with another process)
// simply takes fewer of them: each thread getting one big range instead ran at one core's speed whenever
// one worker woke up late.
int64_t evenBlock(int64_t len, int64_t unit, int64_t maxBlock, int threads) {
  const int64_t count = ceilDiv(ceilDiv(len, std::max(unit, maxBlock)), threads) * threads;
  return std::max(unit, ceilDiv(ceilDiv(len, count), unit) * unit);
}

// parallelFor, or a plain loop over the same chunks when the product is too small to share (threads == 1).
template <class Fn>
void forChunks(int threads, int64_t len, int64_t block, const Fn& fn) {
  if (threads > 1) {
    parallelFor(len, block, fn);
  } else {
    for (int64_t b = 0; b < len; b += block) fn(b, std::min(len, b + block));
  }
}

// op(B) for one block of columns, packed for all k slices at once, each NR-wide panel of each slice packed
// on first use by whichever thread needs it first (a pure copy: who packs it does not change any result).
// This lets gemmSplitM run one parallelFor per product instead of a pack phase and a compute phase per k
// slice: on the 2-vCPU VM we tuned on, every parallelFor wakes a sleeping worker, and a worker that has just
// gone idle takes up to milliseconds to come back, so 8 wake-ups per 3025×1870×500 product cost ~30%.
class LazyPackedB {
 public:
  LazyPackedB(const KernelSet& ks, Operand b, int64_t nc, int64_t k, int64_t kcMax)
      : ks_(ks), b_(b), nc_(nc), k_(k), kcMax_(kcMax), panels_(ceilDiv(nc, ks.nr)),
        sliceFloats_(ceilDiv(nc, ks.vecWidth) * ks.vecWidth * kcMax),
        states_(new std::atomic<uint8_t>[size_t(ceilDiv(k, kcMax) * panels_)]) {
    for (int64_t i = 0; i < ceilDiv(k, kcMax) * panels_; ++i) states_[i].store(kFree, std::memory_order_relaxed);
    data_ = scratch(kSharedB, size_t(ceilDiv(k, kcMax)) * size_t(sliceFloats_));
  }
  int64_t panels() const { return panels_; }

  // Packed panel q of k slice s (kc × nr, or narrower for the last panel).
  const float* panel(int64_t s, int64_t q) {
    const int64_t pc = s * kcMax_, kc = std::min(kcMax_, k_ - pc);
    float* dst = data_ + s * sliceFloats_ + q * ks_.nr * kc;
    std::atomic<uint8_t>& state = states_[s * panels_ + q];
    uint8_t expected = kFree;
    if (state.load(std::memory_order_acquire) != kReady) {
      if (state.compare_exchange_strong(expected, kPacking, std::memory_order_acq_rel)) {
        ks_.pack(subOperand(b_, q * ks_.nr, pc), std::min<int64_t>(ks_.nr, nc_ - q * ks_.nr), kc, ks_.nr,
                 ks_.vecWidth, dst);
        state.store(kReady, std::memory_order_release);
      } else {
        // Another thread is packing it right now (a few microseconds).
        for (int spins = 0; state.load(std::memory_order_acquire) != kReady; ++spins)
          if (spins > 100) std::this_thread::yield();
      }
    }
    return dst;
  }

 private:
  enum : uint8_t { kFree = 0, kPacking = 1, kReady = 2 };
  const KernelSet& ks_;
  Operand b_;
  int64_t nc_, k_, kcMax_, panels_, sliceFloats_;
  std::unique_ptr<std::atomic<uint8_t>[]> states_;
  float* data_;
};

// Wide m (m ≥ n): chunks are blocks of ≤ MC rows of C; for each k slice a chunk packs its A block into its
// core's L2 and runs it against every B panel of the slice. B is packed once, shared (LazyPackedB), for as
// many columns at a time as keep all its k slices within kSharedBFloats (L3); usually all of n.
void gemmSplitM(const KernelSet& ks, int threads, int64_t m, int64_t n, int64_t k, float alpha, Operand a,
                Operand b, float beta, float* c, int64_t rsC, int64_t csC, const EpilogueView& epi) {
  constexpr int64_t kSharedBFloats = int64_t(4) << 20;  // 16 MiB: half of the 32 MiB L3
  const int64_t kcMax = kSliceLength(ks, k);
  const int64_t slices = ceilDiv(k, kcMax);
  const int64_t ncBlock = std::max<int64_t>(ks.nr, kSharedBFloats / (slices * kcMax) / ks.nr * ks.nr);
  const int64_t mBlock = evenBlock(m, ks.mr, ks.mc, threads);
  for (int64_t jc = 0; jc < n; jc += ncBlock) {
    const int64_t nc = std::min(ncBlock, n - jc);
    LazyPackedB packedB(ks, subOperand(b, jc, 0), nc, k, kcMax);
    forChunks(threads, m, mBlock, [&](int64_t i0, int64_t i1) {
      float* packedA = scratch(kPackA, size_t(mBlock) * size_t(kcMax));
      // Odd chunks walk the panels backwards, so that two threads starting together pack different
      // panels instead of one waiting for the other.
      const bool backwards = (i0 / mBlock) % 2 == 1;
      for (int64_t s = 0; s < slices; ++s) {
        const int64_t pc = s * kcMax, kc = std::min(kcMax, k - pc);
        const float betaNow = s == 0 ? beta : 1.0f;  // later k slices accumulate onto the first
        ks.pack(subOperand(a, i0, pc), i1 - i0, kc, ks.mr, 1, packedA);
        for (int64_t i = 0; i < packedB.panels(); ++i) {
          const int64_t q = backwards ? packedB.panels() - 1 - i : i;
          const int64_t j0 = q * ks.nr, width = std::min<int64_t>(ks.nr, nc - j0);
          ks.macroKernel(i1 - i0, width, kc, packedA, packedB.panel(s, q), alpha, betaNow,
                         c + i0 * rsC + (jc + j0) * csC, rsC, csC);
          // The last k slice has made this mc × nr block final and it is in L1/L2: finish it now.
          if (s == slices - 1) epi.apply(i0, i1, jc + j0, jc + j0 + width);
        }
      }
    });
  }
}

// Wide n: the threads take blocks of n, each packing its own B block and all of A.
void gemmSplitN(const KernelSet& ks, int threads, int64_t m, int64_t n, int64_t k, float alpha, Operand a,
                Operand b, float beta, float* c, int64_t rsC, int64_t csC, const EpilogueView& epi) {
  const int64_t kcMax = kSliceLength(ks, k);
  // With a single A block (m ≤ MC) each packed B panel is used by one pass only: keep the B block small
  // enough (half of L2) to still be in L2 when the macro-kernel reads it back right after packing.
  const int64_t ncMax =
      m <= ks.mc ? std::max<int64_t>(ks.nr, kL2Floats / 2 / kcMax / ks.nr * ks.nr) : int64_t(ks.nc);
  const int64_t nBlock = evenBlock(n, ks.nr, ncMax, threads);
  forChunks(threads, n, nBlock, [&](int64_t j0, int64_t j1) {
    float* packedB = scratch(kPackB, size_t(nBlock) * size_t(kcMax));
    float* packedA = scratch(kPackA, size_t(std::min<int64_t>(ks.mc, m)) * size_t(kcMax));
    for (int64_t pc = 0; pc < k; pc += kcMax) {
      const int64_t kc = std::min<int64_t>(kcMax, k - pc);
      const float betaNow = pc == 0 ? beta : 1.0f;
      ks.pack(subOperand(b, j0, pc), j1 - j0, kc, ks.nr, ks.vecWidth, packedB);
      for (int64_t ic = 0; ic < m; ic += ks.mc) {
        const int64_t mc = std::min<int64_t>(ks.mc, m - ic);
        ks.pack(subOperand(a, ic, pc), mc, kc, ks.mr, 1, packedA);
        ks.macroKernel(mc, j1 - j0, kc, packedA, packedB, alpha, betaNow, c + ic * rsC + j0 * csC, rsC, csC);
        if (pc + kc >= k) epi.apply(ic, ic + mc, j0, j1);
      }
    }
  });
}

// Skinny n (n ≤ ks.skinnyMaxN), op(A) rows contiguous along k (A not transposed): dot products along k
// that stream A once, straight from memory, in blocks of rows.
void gemmSkinnyDot(const KernelSet& ks, int threads, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* A, int64_t lda, Operand b, float beta, float* c, int64_t ldc, const EpilogueView& epi) {
  // op(B)ᵀ (n × k) as rows contiguous along k, zero-padded to whole vectors (A's tail uses masked loads).
  const int64_t ldbt = ceilDiv(k, ks.vecWidth) * ks.vecWidth;
  float* bt = scratch(kSharedB, size_t(n) * size_t(ldbt));
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t p = 0; p < k; ++p) bt[j * ldbt + p] = b.data[j * b.rowStride + p * b.kStride];
    std::fill(bt + j * ldbt + k, bt + (j + 1) * ldbt, 0.0f);
  }
  constexpr int64_t kRowsPerBlock = 128;
  forChunks(threads, m, evenBlock(m, 2, kRowsPerBlock, threads), [&](int64_t i0, int64_t i1) {
    ks.skinnyDot(i1 - i0, n, k, A + i0 * lda, lda, bt, ldbt, alpha, beta, c + i0 * ldc, ldc);
    epi.apply(i0, i1, 0, n);
  });
}

// Skinny n (n ≤ ks.skinnyMaxN), A transposed (stored k × m, contiguous along m): computes Cᵀ (n × m) =
// op(B)ᵀ · Aᵀ, the ≤ 16 rows of op(B)ᵀ being the broadcast side (one skinnyMr-high micro-tile). The stored A
// is packed in blocks of ~512 k rows × 256 columns (512 KiB, half of L2): each row segment (1 KiB) is read
// sequentially, with the rows ahead prefetched, and the block is still in L2 when the micro-kernel reads it
// right after. (Measured on Zen 4, 10000×2000×10, 2 threads: 512×256 ≈ 256×512 ≈ 192×640 > 384×320 >
// 128×1024, all within ~20%; the product is bound by reading A from memory.)
void gemmSkinnyTransposedA(const KernelSet& ks, int threads, int64_t m, int64_t n, int64_t k, float alpha,
                           const float* A, int64_t lda, Operand b, float beta, float* c, int64_t ldc,
                           const EpilogueView& epi) {
  constexpr int64_t kMaxSliceK = 512, kBlockM = 256;
  const int64_t slices = ceilDiv(k, kMaxSliceK);
  const int64_t kcMax = ceilDiv(k, slices);
  // op(B)ᵀ packed once per k slice (n × kc each, tiny), shared by the threads.
  float* packedBt = scratch(kSharedB, size_t(n) * size_t(kcMax) * size_t(slices));
  for (int64_t s = 0; s < slices; ++s) {
    const int64_t pc = s * kcMax;
    ks.pack(subOperand(b, 0, pc), n, std::min(kcMax, k - pc), ks.skinnyMr, 1, packedBt + s * n * kcMax);
  }
  const Operand at{A, 1, lda};  // op(A)ᵀ seen as m × k
  const int64_t mBlock = evenBlock(m, ks.skinnyNr, kBlockM, threads);
  forChunks(threads, m, mBlock, [&](int64_t i0, int64_t i1) {
    float* packedA = scratch(kPackB, size_t(mBlock) * size_t(kcMax));
    for (int64_t s = 0; s < slices; ++s) {
      const int64_t pc = s * kcMax, kc = std::min(kcMax, k - pc);
      ks.pack(subOperand(at, i0, pc), i1 - i0, kc, ks.skinnyNr, ks.vecWidth, packedA);
      ks.skinnyMacroKernel(n, i1 - i0, kc, packedBt + s * n * kcMax, packedA, alpha, s == 0 ? beta : 1.0f,
                           c + i0 * ldc, 1, ldc);
    }
    epi.apply(i0, i1, 0, n);
  });
}

// ---- Products with a row-sparse operand (sgemmSparse) -------------------------------------------------

// Whether n floats are all finite: an integer test of the exponent bits, which the compiler vectorises (a float
// test would not be, without -ffast-math).
bool allFinite(const float* p, int64_t n) {
  uint32_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, p + i, sizeof u);
    bad |= static_cast<uint32_t>((u & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}

// Rows of C = alpha·R·B + beta·C, R sparse in CSR (its column indices are rows of B, k of them), B packed as the
// packed path packs op(B) (KernelSet::pack) in column panels of sparseWidth: panel q at packedB + q·width·k, k-major,
// row stride its width rounded up to whole vectors. The rows a sparse row selects are then 512-byte runs of one
// compact ~1 MiB panel that stays in L2, instead of segments strided over all of B. Each row is cut into the packed path's k slices (kSliceLength: the same slices, hence the same
// sums) and each slice's terms go through the kernel set's sparseRow, one register block of columns at a time.
// Chunks of rows go to the threads (a row's values do not depend on who computes it); within a chunk the column
// panels are the outer loop, so the panel being read stays in L2 across the chunk's rows. (Measured on the Xeon
// VM, one thread, 3025 × 1870 at 5% nonzero times 1870 × 500: 64-row chunks over D as stored ran at ~15 GFLOP/s
// of useful work, L3-bound; packed panels and 512-row chunks, see bench/RESULTS.md.)
void sparseTimesDense(const KernelSet& ks, int threads, const CsrView& r, int64_t n, int64_t k, float alpha,
                      const float* packedB, float beta, float* c, int64_t ldc, const EpilogueView& epi) {
  const int64_t kcMax = kSliceLength(ks, k), slices = ceilDiv(k, kcMax);
  const int64_t width = ks.sparseWidth;
  forChunks(threads, r.rows, evenBlock(r.rows, 1, 512, threads), [&](int64_t i0, int64_t i1) {
    for (int64_t j0 = 0; j0 < n; j0 += width) {
      const int nb = static_cast<int>(std::min(width, n - j0));
      const int64_t ldb = (nb + ks.vecWidth - 1) / ks.vecWidth * ks.vecWidth;
      const float* panel = packedB + j0 * k;
      for (int64_t i = i0; i < i1; ++i) {
        int64_t e = r.start[i];
        const int64_t end = r.start[i + 1];
        for (int64_t sl = 0; sl < slices; ++sl) {
          const int64_t limit = std::min(k, (sl + 1) * kcMax);
          int64_t f = e;
          while (f < end && r.col[f] < limit) ++f;
          // Later slices add onto the first, as in gemmSplitM (beta 1); a slice without terms still adds its
          // zero sum, as the dense product does.
          ks.sparseRow(f - e, r.val + e, r.col + e, panel, ldb, nb, alpha, sl == 0 ? beta : 1.0f, c + i * ldc + j0);
          e = f;
        }
      }
    }
    epi.apply(i0, i1, 0, n);
  });
}

// dst (cols × rows, row stride ldd) = srcᵀ, src rows × cols (row stride lds); in 32 × 32 tiles.
void transposeInto(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst, int64_t ldd) {
  constexpr int64_t kTile = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t r1 = std::min(rows, r0 + kTile), c1 = std::min(cols, c0 + kTile);
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t r = r0; r < r1; ++r) dst[c * ldd + r] = src[r * lds + c];
    }
  }
}

}  // namespace

const KernelSet& activeKernelSet() { return choice().active(); }

bool forceKernelSet(const char* name) { return choice().force(name); }

const char* activeKernelSetName() { return choice().activeName(); }

}  // namespace gemm_detail

using gemm_detail::Operand;

// Products below this many multiply-adds take the direct loops.
constexpr double kDirectMaxMacs = 32768.0;
// Below this n (and with m > n), compute Cᵀ = op(B)ᵀ·op(A)ᵀ so the long side runs along the vectors.
constexpr int64_t kSkinnyN = 64;

void sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  sgemm(transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, nullptr);
}

void sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const GemmEpilogue* epilogue) {
  if (m <= 0 || n <= 0) return;
  if (epilogue && !epilogue->bias && epilogue->act == kActNone) epilogue = nullptr;
  gemm_detail::EpilogueView epi{epilogue, C, ldc, 1, false};
  if (k <= 0 || alpha == 0.0f) {
    gemm_detail::scaleC(m, n, beta, C, ldc);
    epi.apply(0, m, 0, n);
    return;
  }
  // op(A) as m×k and op(B) as n×k: element (row, p) at data[row * rowStride + p * kStride].
  Operand a = transA ? Operand{A, 1, lda} : Operand{A, lda, 1};
  Operand b = transB ? Operand{B, ldb, 1} : Operand{B, 1, ldb};
  if (double(m) * double(n) * double(k) < kDirectMaxMacs) {
    gemm_detail::directGemm(m, n, k, alpha, a, b, beta, C, ldc);
    epi.apply(0, m, 0, n);
    return;
  }
  const gemm_detail::KernelSet& ks = gemm_detail::activeKernelSet();
  const int threads = gemm_detail::threadsFor(m, n, k);
  if (n <= ks.skinnyMaxN && m > n) {
    if (transA)
      gemm_detail::gemmSkinnyTransposedA(ks, threads, m, n, k, alpha, A, lda, b, beta, C, ldc, epi);
    else
      gemm_detail::gemmSkinnyDot(ks, threads, m, n, k, alpha, A, lda, b, beta, C, ldc, epi);
    return;
  }
  int64_t rsC = ldc, csC = 1;
  if (n < kSkinnyN && m > n) {
    std::swap(a, b);
    std::swap(m, n);
    std::swap(rsC, csC);
    epi = gemm_detail::EpilogueView{epilogue, C, rsC, csC, true};
  }
  if (m >= n)
    gemm_detail::gemmSplitM(ks, threads, m, n, k, alpha, a, b, beta, C, rsC, csC, epi);
  else
    gemm_detail::gemmSplitN(ks, threads, m, n, k, alpha, a, b, beta, C, rsC, csC, epi);
}

// The zero terms of S's dense copy contribute fma(0, d, acc) = acc to sgemm's FMA chains (d finite, hence the
// test of D), so computing each chain over the nonzeros only, with sgemm's k slices and epilogue arithmetic,
// reproduces its values. The path conditions mirror sgemm's dispatch above: where sgemm would take its direct
// loops or skinny dot products (other summation orders), this declines.
bool sgemmSparse(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const CsrView& s,
                 const CsrView& st, bool sparseIsA, const float* D, int64_t ldd, float beta, float* C, int64_t ldc,
                 const GemmEpilogue* epilogue) {
  using namespace gemm_detail;
  if (m <= 0 || n <= 0 || k <= 0 || alpha == 0.0f) return false;
  if (double(m) * double(n) * double(k) < kDirectMaxMacs) return false;
  const KernelSet& ks = activeKernelSet();
  if (!ks.sparseRow || ks.sparseWidth <= 0) return false;
  if (n <= ks.skinnyMaxN && m > n) return false;
  if (epilogue && !epilogue->bias && epilogue->act == kActNone) epilogue = nullptr;
  const int threads = threadsFor(m, n, k);
  if (sparseIsA) {
    const CsrView& r = transA ? st : s;  // the rows of op(S)
    if (r.rows != m || r.cols != k) return false;
    // op(D) as sgemm sees its B (n × k rows), packed by the kernel set's own packing routine
    const int64_t padded = ceilDiv(n, ks.vecWidth) * ks.vecWidth;
    float* packed = scratch(kSharedB, size_t(k) * size_t(padded));
    ks.pack(transB ? Operand{D, ldd, 1} : Operand{D, 1, ldd}, n, k, ks.sparseWidth, ks.vecWidth, packed);
    if (!allFinite(packed, k * padded)) return false;
    sparseTimesDense(ks, threads, r, n, k, alpha, packed, beta, C, ldc, EpilogueView{epilogue, C, ldc, 1, false});
    return true;
  }
  // C = Dᵀ·S (D stored k × m): Cᵀ = Sᵀ·D, whose rows are the rows of Sᵀ, into a buffer, then transposed into C.
  if (!transA || transB || beta != 0.0f || epilogue) return false;
  if (st.rows != n || st.cols != k) return false;
  const int64_t padded = ceilDiv(m, ks.vecWidth) * ks.vecWidth;
  float* packed = scratch(kSharedB, size_t(k) * size_t(padded));
  ks.pack(Operand{D, 1, ldd}, m, k, ks.sparseWidth, ks.vecWidth, packed);
  if (!allFinite(packed, k * padded)) return false;
  float* ct = scratch(kPackB, size_t(n) * size_t(m));
  sparseTimesDense(ks, threads, st, m, k, alpha, packed, 0.0f, ct, m, EpilogueView{});
  transposeInto(ct, n, m, m, C, ldc);
  return true;
}

}}  // namespace dgc::cpu
