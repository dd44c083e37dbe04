// Dense SGEMM for the CUDA backend, and transpose.
//
// Provider: cuBLAS when a libcublas.so can be loaded at run time (dlopen; the few entry points are declared
// below, so there is no link-time dependency on cuBLAS and the binary runs on machines without it), otherwise
// the built-in tiled kernels here. DGCLUST_CUBLAS=0 refuses cuBLAS (to test or benchmark the built-in path).
//
// Built-in kernels: the classic register-blocked SIMT SGEMM. A block computes a BM×BN tile of C; the k loop walks
// BK-deep slices of op(A) and op(B) staged in shared memory (double-buffered: the next slice is fetched from
// global memory into registers while the current one is multiplied, so one barrier per slice suffices); each
// thread owns a TM×TN sub-tile, split into two halves per dimension (rows ty·TM/2 + [0, TM/2) and
// BM/2 + ty·TM/2 + [0, TM/2), likewise for columns) so that its shared-memory fragment reads are 16-byte vectors
// that a warp serves without bank conflicts. op(A) is stored k-major in shared memory (As[k][m]) whatever the
// transpose form, so one kernel body covers NN, NT, TN, TT; only the global→shared load differs (a run-time
// branch, uniform over the grid).
// Global loads are float4 where the row stride and the tile position allow it (16-byte aligned), scalar with
// bounds checks elsewhere; out-of-range elements load as 0.
//
// Determinism: every C element is one thread's chain of fused multiply-adds over k in increasing order, so the
// tile configuration does not change the result. Only split-K (used when C has too few tiles to fill the GPU
// and k is long) changes the summation order; whether and how to split depends on (m, n, k) alone, and the
// partial sums are added in a fixed order (no atomics). So a shape always gives the same bits on a given GPU.
#include <dlfcn.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "common.cuh"
#include "cuda_backend.h"
#include "kernels.h"

namespace dgc {
namespace cuda {
namespace {

// ---- cuBLAS, loaded at run time ----------------------------------------------------------------------------
// The ABI of the four entry points used (cublas_api.h, stable since CUDA 10): opaque handle, int status
// (0 = success), cublasOperation_t as int (N = 0, T = 1), column-major.
struct CublasContext;
using CublasHandle = CublasContext*;
using CublasCreateFn = int (*)(CublasHandle*);
using CublasSetStreamFn = int (*)(CublasHandle, cudaStream_t);
using CublasSgemmFn = int (*)(CublasHandle, int, int, int, int, int, const float*, const float*, int, const float*,
                              int, const float*, float*, int);
constexpr int kCublasOpN = 0, kCublasOpT = 1;

struct Cublas {
  bool ok = false;
  std::string reason;  // why not, when !ok
  CublasHandle handle = nullptr;
  CublasSgemmFn sgemm = nullptr;
  std::mutex mu;  // one handle: calls from several host threads take turns
};

std::once_flag cublasOnce;
Cublas* cublasState = nullptr;

Cublas& cublas() {
  std::call_once(cublasOnce, [] {
    Cublas* c = new Cublas();  // kept for the life of the process (the library stays loaded, too)
    cublasState = c;
    const char* env = std::getenv("DGCLUST_CUBLAS");
    if (env && std::strcmp(env, "0") == 0) {
      c->reason = "cuBLAS disabled by DGCLUST_CUBLAS=0";
      return;
    }
    void* lib = nullptr;
    for (const char* name : {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"}) {
      lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (lib) break;
    }
    if (!lib) {
      c->reason = "libcublas.so.13/.12/.11 not found";
      return;
    }
    auto create = reinterpret_cast<CublasCreateFn>(dlsym(lib, "cublasCreate_v2"));
    auto setStream = reinterpret_cast<CublasSetStreamFn>(dlsym(lib, "cublasSetStream_v2"));
    c->sgemm = reinterpret_cast<CublasSgemmFn>(dlsym(lib, "cublasSgemm_v2"));
    if (!create || !setStream || !c->sgemm) {
      c->reason = "libcublas lacks cublasCreate_v2 / cublasSetStream_v2 / cublasSgemm_v2";
      return;
    }
    cudaStream_t s = stream();  // creates our context first, so cuBLAS binds to the same device and context
    if (create(&c->handle) != 0) {
      c->reason = "cublasCreate failed";
      return;
    }
    if (setStream(c->handle, s) != 0) {
      c->reason = "cublasSetStream failed";
      return;
    }
    // Default math mode: full FP32 (no TF32 for SGEMM unless the user sets NVIDIA_TF32_OVERRIDE themselves).
    c->ok = true;
  });
  return *cublasState;
}

// ---- the built-in kernels -----------------------------------------------------------------------------------

struct GemmParams {
  int m, n, k;
  const float* A;
  int64_t lda;
  const float* B;
  int64_t ldb;
  float* C;
  int64_t ldc;
  float alpha, beta;
  int kChunk;     // split-K: block z multiplies k in [z·kChunk, min(k, (z+1)·kChunk))
  int64_t cSlab;  // split-K: block z writes C + z·cSlab (0 without split)
  bool transA, transB;
  bool vecA, vecB;  // rows of A / B are 16-byte aligned (lda, ldb multiples of 4, aligned base)
};

// Reads n (4, 2 or 1) consecutive floats from shared memory as one vector.
template <int N>
__device__ __forceinline__ void loadFragment(const float* s, float* r) {
  if constexpr (N == 4) {
    const float4 v = *reinterpret_cast<const float4*>(s);
    r[0] = v.x; r[1] = v.y; r[2] = v.z; r[3] = v.w;
  } else if constexpr (N == 2) {
    const float2 v = *reinterpret_cast<const float2*>(s);
    r[0] = v.x; r[1] = v.y;
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i) r[i] = s[i];
  }
}

// Four consecutive elements src[0..3] of one row, of which only the first `valid` exist (valid may be <= 0).
__device__ __forceinline__ float4 loadQuad(const float* src, int valid, bool vec) {
  if (vec && valid >= 4) return *reinterpret_cast<const float4*>(src);
  float4 q;
  q.x = valid > 0 ? src[0] : 0.0f;
  q.y = valid > 1 ? src[1] : 0.0f;
  q.z = valid > 2 ? src[2] : 0.0f;
  q.w = valid > 3 ? src[3] : 0.0f;
  return q;
}

// One BK-deep slice of an operand, global → registers → shared (S[k][i], i along m for A or n for B).
// kMajor: the operand's rows in memory run along k (A not transposed, or B transposed), so a quad is 4
// consecutive k of one m/n index and is stored transposed; otherwise a quad is 4 consecutive m/n indices of one k.
// kMajor is a run-time flag (uniform over the grid, so the branch costs a few instructions per slice): one kernel
// per tile shape serves all four transpose forms, which keeps the compile short.
template <int R, int BK, int T>
struct SliceLoader {
  static constexpr int Q = R * BK / 4 / T;  // quads per thread
  static_assert(Q >= 1 && Q * 4 * T == R * BK, "tile and thread count do not fit");
  float4 reg[Q];

  // rows: the operand's extent along m (or n); base: its pointer; ld: its row stride; r0: tile start along m/n.
  __device__ __forceinline__ void load(bool kMajor, const float* base, int64_t ld, int rows, int r0, int k0, int kEnd,
                                       bool vec, int tid) {
#pragma unroll
    for (int i = 0; i < Q; ++i) {
      const int q = tid + i * T;
      if (kMajor) {
        const int r = q / (BK / 4), kq = (q % (BK / 4)) * 4;
        const int gr = r0 + r, gk = k0 + kq;
        reg[i] = gr < rows ? loadQuad(base + static_cast<int64_t>(gr) * ld + gk, kEnd - gk, vec)
                           : make_float4(0.f, 0.f, 0.f, 0.f);
      } else {
        const int kk = q / (R / 4), rq = (q % (R / 4)) * 4;
        const int gk = k0 + kk, gr = r0 + rq;
        reg[i] = gk < kEnd ? loadQuad(base + static_cast<int64_t>(gk) * ld + gr, rows - gr, vec)
                           : make_float4(0.f, 0.f, 0.f, 0.f);
      }
    }
  }

  template <int S>
  __device__ __forceinline__ void store(bool kMajor, float (*smem)[S], int tid) const {
#pragma unroll
    for (int i = 0; i < Q; ++i) {
      const int q = tid + i * T;
      if (kMajor) {
        const int r = q / (BK / 4), kq = (q % (BK / 4)) * 4;
        smem[kq + 0][r] = reg[i].x;
        smem[kq + 1][r] = reg[i].y;
        smem[kq + 2][r] = reg[i].z;
        smem[kq + 3][r] = reg[i].w;
      } else {
        const int kk = q / (R / 4), rq = (q % (R / 4)) * 4;
        *reinterpret_cast<float4*>(&smem[kk][rq]) = reg[i];
      }
    }
  }
};

// __launch_bounds__: 256-thread blocks get at most 128 registers per thread (two blocks per multiprocessor);
// 64-thread blocks at most 168 (six blocks), which their two prefetched quads per operand need to avoid spills.
template <int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN), (BM / TM) * (BN / TN) >= 256 ? 2 : 6)
    sgemmTiled(GemmParams p) {
  constexpr int TX = BN / TN, TY = BM / TM, T = TX * TY;
  // +4 floats per shared row: keeps 16-byte alignment and spreads the transposed stores over the banks.
  constexpr int SA = BM + 4, SB = BN + 4;
  __shared__ __align__(16) float As[2][BK][SA];
  __shared__ __align__(16) float Bs[2][BK][SB];

  const int tid = threadIdx.x, tx = tid % TX, ty = tid / TX;
  const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
  const int kBegin = blockIdx.z * p.kChunk;
  const int kEnd = min(p.k, kBegin + p.kChunk);
  const int slices = kEnd > kBegin ? (kEnd - kBegin + BK - 1) / BK : 0;

  SliceLoader<BM, BK, T> la;
  SliceLoader<BN, BK, T> lb;
  const bool aMajor = !p.transA, bMajor = p.transB;
  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

  if (slices > 0) {
    la.load(aMajor, p.A, p.lda, p.m, m0, kBegin, kEnd, p.vecA, tid);
    lb.load(bMajor, p.B, p.ldb, p.n, n0, kBegin, kEnd, p.vecB, tid);
    la.store(aMajor, As[0], tid);
    lb.store(bMajor, Bs[0], tid);
  }
  __syncthreads();

  for (int s = 0; s < slices; ++s) {
    const int cur = s & 1;
    const bool more = s + 1 < slices;
    if (more) {  // fetch the next slice while this one is multiplied
      const int k0 = kBegin + (s + 1) * BK;
      la.load(aMajor, p.A, p.lda, p.m, m0, k0, kEnd, p.vecA, tid);
      lb.load(bMajor, p.B, p.ldb, p.n, n0, k0, kEnd, p.vecB, tid);
    }
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float a[TM], b[TN];
      loadFragment<TM / 2>(&As[cur][kk][ty * (TM / 2)], a);
      loadFragment<TM / 2>(&As[cur][kk][BM / 2 + ty * (TM / 2)], a + TM / 2);
      loadFragment<TN / 2>(&Bs[cur][kk][tx * (TN / 2)], b);
      loadFragment<TN / 2>(&Bs[cur][kk][BN / 2 + tx * (TN / 2)], b + TN / 2);
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    if (more) {
      la.store(aMajor, As[cur ^ 1], tid);
      lb.store(bMajor, Bs[cur ^ 1], tid);
    }
    __syncthreads();
  }

  // Epilogue: C = alpha·acc + beta·C (C not read when beta == 0), vector stores where aligned and in range.
  float* C = p.C + blockIdx.z * p.cSlab;
  constexpr int H = TN / 2;
  const bool vecC = (p.ldc % H) == 0 && (reinterpret_cast<uintptr_t>(C) % (4 * H)) == 0;
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int row = m0 + (i < TM / 2 ? ty * (TM / 2) + i : BM / 2 + ty * (TM / 2) + (i - TM / 2));
    if (row >= p.m) continue;
    float* crow = C + static_cast<int64_t>(row) * p.ldc;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int col = n0 + h * (BN / 2) + tx * H;
      float v[H];
#pragma unroll
      for (int j = 0; j < H; ++j) v[j] = p.alpha * acc[i][h * H + j];
      if (vecC && col + H <= p.n && (H == 4 || H == 2)) {
        if (p.beta != 0.0f) {
          float old[H];
          loadFragment<H>(crow + col, old);
#pragma unroll
          for (int j = 0; j < H; ++j) v[j] += p.beta * old[j];
        }
        if constexpr (H == 4) {
          *reinterpret_cast<float4*>(crow + col) = make_float4(v[0], v[1], v[2], v[3]);
        } else if constexpr (H == 2) {
          *reinterpret_cast<float2*>(crow + col) = make_float2(v[0], v[1]);
        }
      } else {
#pragma unroll
        for (int j = 0; j < H; ++j) {
          if (col + j < p.n) crow[col + j] = p.beta != 0.0f ? v[j] + p.beta * crow[col + j] : v[j];
        }
      }
    }
  }
}

// C = alpha · Σ_z W[z] + beta · C, the split-K partials W (splits × m × n) added in order z = 0, 1, ...
__global__ void splitKReduce(const float* __restrict__ w, int splits, int64_t m, int64_t n, float alpha, float beta,
                             float* __restrict__ c, int64_t ldc) {
  const int64_t total = m * n;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    float s = 0.0f;
    for (int z = 0; z < splits; ++z) s += w[z * total + e];
    const int64_t i = e / n, j = e % n;
    float* dst = c + i * ldc + j;
    *dst = beta != 0.0f ? alpha * s + beta * *dst : alpha * s;
  }
}

// C = beta · C (k == 0 or alpha == 0); C = 0 when beta == 0 (whatever C held, NaN included).
__global__ void scaleMatrix(float* __restrict__ c, int64_t m, int64_t n, int64_t ldc, float beta) {
  const int64_t total = m * n;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    float* dst = c + (e / n) * ldc + e % n;
    *dst = beta != 0.0f ? beta * *dst : 0.0f;
  }
}

// The three tile shapes (all with 8×8 or 8×4 per thread): large tiles for large C, small ones when large tiles
// would leave multiprocessors idle, a narrow one for C with at most 32 columns (e.g. the 10-wide cluster layer).
enum class Tile { Large, Small, Narrow };

template <int BM, int BN, int BK, int TM, int TN>
void launchTiled(const GemmParams& p, int splits) {
  constexpr int T = (BM / TM) * (BN / TN);
  const dim3 grid(static_cast<unsigned>((p.m + BM - 1) / BM), static_cast<unsigned>((p.n + BN - 1) / BN),
                  static_cast<unsigned>(splits));
  sgemmTiled<BM, BN, BK, TM, TN><<<grid, T, 0, stream()>>>(p);
  DGC_CUDA_LAUNCH_CHECK("matmul");
}

bool aligned16(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15) == 0; }

void checkGemmSizes(int64_t m, int64_t n, int64_t k) {
  DGC_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX, Shape, "matmul: ", m, "x", k, " times ", k, "x", n,
            " is too large for the CUDA GEMM (each dimension at most 2^31 - 1)");
}

// The grid's y extent (column tiles) is at most 65535: 65535 tiles of the narrowest (32 columns). Wider outputs
// are computed in column slabs of this many columns (a multiple of every tile width, and of 4 so that a slab's B
// and C keep the alignment the vector loads check for).
constexpr int64_t kMaxGridColumns = 65535 / 128 * 128 * 32;

}  // namespace

void sgemmBuiltin(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (m == 0 || n == 0) return;
  checkGemmSizes(m, n, k);
  if (n > kMaxGridColumns) {
    // Column slabs: C[:, c0:c1] = op(A)·op(B)[:, c0:c1]; op(B)'s columns are B's columns, or B's rows when transposed.
    // Each slab is the same computation per element as one launch would make (split-K is 1 at these widths).
    for (int64_t c0 = 0; c0 < n; c0 += kMaxGridColumns) {
      const int64_t w = std::min(kMaxGridColumns, n - c0);
      sgemmBuiltin(transA, transB, m, w, k, alpha, A, lda, transB ? B + c0 * ldb : B + c0, ldb, beta, C + c0, ldc);
    }
    return;
  }
  if (k == 0 || alpha == 0.0f) {
    scaleMatrix<<<blocksFor(m * n, 256), 256, 0, stream()>>>(C, m, n, ldc, beta);
    DGC_CUDA_LAUNCH_CHECK("matmul");
    return;
  }
  const bool narrow = n <= 32;

  // Split-K, decided from the shape alone (see the determinism note at the top): when C has fewer reference tiles
  // (64×64, or 64×32 when narrow) than the target and k is long, k is cut into chunks (multiples of 16, at least
  // 256 long) so that about `target` blocks run. Narrow products (C with <= 32 columns, e.g. 10000×2000·2000×10)
  // are bound by reading A once, so they aim at more blocks: more loads in flight per multiprocessor.
  const int64_t refTiles = ((m + 63) / 64) * ((n + (narrow ? 31 : 63)) / (narrow ? 32 : 64));
  const int64_t target = narrow ? 512 : 256;
  int64_t splits = 1;
  if (refTiles < target && k >= 512) {
    splits = std::min<int64_t>((target + refTiles - 1) / refTiles, k / 256);
    splits = std::max<int64_t>(1, std::min<int64_t>(splits, 64));
  }
  int64_t kChunk = k;
  if (splits > 1) {
    kChunk = ((k + splits - 1) / splits + 15) / 16 * 16;
    splits = (k + kChunk - 1) / kChunk;
  }

  GemmParams p;
  p.m = static_cast<int>(m);
  p.n = static_cast<int>(n);
  p.k = static_cast<int>(k);
  p.A = A;
  p.lda = lda;
  p.B = B;
  p.ldb = ldb;
  p.transA = transA;
  p.transB = transB;
  p.vecA = lda % 4 == 0 && aligned16(A);
  p.vecB = ldb % 4 == 0 && aligned16(B);
  p.kChunk = static_cast<int>(kChunk);

  Tensor work;  // split-K partials
  if (splits > 1) {
    work = scratchF32(splits * m * n);
    p.C = work.f32();
    p.ldc = n;
    p.alpha = 1.0f;
    p.beta = 0.0f;
    p.cSlab = m * n;
  } else {
    p.C = C;
    p.ldc = ldc;
    p.alpha = alpha;
    p.beta = beta;
    p.cSlab = 0;
  }

  Tile tile = Tile::Small;
  if (narrow) {
    tile = Tile::Narrow;
  } else {
    // Large 128×128 tiles (256 threads, two blocks per multiprocessor) when they give at least two blocks per
    // multiprocessor; otherwise 64×64 tiles (64 threads) spread the work over more of the GPU. Same bits either way.
    const int64_t largeBlocks = ((m + 127) / 128) * ((n + 127) / 128) * splits;
    if (largeBlocks >= 2 * int64_t(multiprocessorCount())) tile = Tile::Large;
  }
  const int sp = static_cast<int>(splits);
  switch (tile) {
    case Tile::Large: launchTiled<128, 128, 8, 8, 8>(p, sp); break;
    case Tile::Small: launchTiled<64, 64, 8, 8, 8>(p, sp); break;
    case Tile::Narrow: launchTiled<64, 32, 16, 8, 4>(p, sp); break;
  }
  if (splits > 1) {
    splitKReduce<<<blocksFor(m * n, 256), 256, 0, stream()>>>(work.f32(), sp, m, n, alpha, beta, C, ldc);
    DGC_CUDA_LAUNCH_CHECK("matmul");
  }
}

bool sgemmCublas(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  Cublas& c = cublas();
  if (!c.ok) return false;
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX || lda > INT_MAX || ldb > INT_MAX || ldc > INT_MAX) return false;
  if (m == 0 || n == 0) return true;
  // An empty inner dimension makes a leading dimension 0, which cuBLAS refuses (lda ≥ max(1, ·)): C = β·C is the
  // built-in path's job then (scaleMatrix), as on the CPU.
  if (k == 0) return false;
  // Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the operands, keep the flags.
  std::lock_guard<std::mutex> lock(c.mu);
  const int status = c.sgemm(c.handle, transB ? kCublasOpT : kCublasOpN, transA ? kCublasOpT : kCublasOpN, int(n),
                             int(m), int(k), &alpha, B, int(ldb), A, int(lda), &beta, C, int(ldc));
  DGC_CHECK(status == 0, Internal, "matmul: cublasSgemm failed with status ", status, " (", m, "x", k, " times ", k,
            "x", n, ")");
  return true;
}

void sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (sgemmCublas(transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)) return;
  sgemmBuiltin(transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char* gemmProvider() {
  if (!cublasState) return "";  // not decided yet: no GEMM has run (deciding would create the CUDA context)
  return cublasState->ok ? "cublas" : "dgclust";
}

const char* cublasUnavailableReason() { return cublasState ? cublasState->reason.c_str() : ""; }

void CudaBackend::gemm(bool transA, bool transB, float alpha, const Tensor& a, const Tensor& b, float beta, Tensor& c) {
  const int64_t m = c.dim(0), n = c.dim(1), k = transA ? a.dim(0) : a.dim(1);
  sgemm(transA, transB, m, n, k, alpha, a.f32(), a.dim(1), b.f32(), b.dim(1), beta, c.f32(), n);
}

// ---- transpose ---------------------------------------------------------------------------------------------
namespace {
// 32×32 tiles through shared memory (one padding column against bank conflicts): reads and writes coalesced.
// Column tiles on the grid's x axis; row tiles on y, strided by gridDim.y (at most 65535), so any height works.
__global__ void transposeKernel(const float* __restrict__ x, int64_t rows, int64_t cols, float* __restrict__ out) {
  __shared__ float tile[32][33];
  const int64_t c0 = int64_t(blockIdx.x) * 32;
  for (int64_t r0 = int64_t(blockIdx.y) * 32; r0 < rows; r0 += int64_t(gridDim.y) * 32) {
    for (int i = threadIdx.y; i < 32; i += 8) {
      const int64_t r = r0 + i, c = c0 + threadIdx.x;
      if (r < rows && c < cols) tile[i][threadIdx.x] = x[r * cols + c];
    }
    __syncthreads();
    for (int i = threadIdx.y; i < 32; i += 8) {
      const int64_t c = c0 + i, r = r0 + threadIdx.x;  // out row c, out column r
      if (r < rows && c < cols) out[c * rows + r] = tile[threadIdx.x][i];
    }
    __syncthreads();  // the tile is refilled by the next row tile
  }
}
}  // namespace

void CudaBackend::transpose(const Tensor& x, Tensor& out) {
  const int64_t rows = x.dim(0), cols = x.dim(1);
  if (rows == 0 || cols == 0) return;
  DGC_CHECK((cols + 31) / 32 <= INT_MAX, Shape, "transpose: ", cols, " columns is too many for the CUDA kernel's grid");
  const dim3 grid(static_cast<unsigned>((cols + 31) / 32), static_cast<unsigned>(std::min<int64_t>((rows + 31) / 32, 65535)));
  transposeKernel<<<grid, dim3(32, 8), 0, stream()>>>(x.f32(), rows, cols, out.f32());
  DGC_CUDA_LAUNCH_CHECK("transpose");
}

}  // namespace cuda
}  // namespace dgc
