// The CUDA backend: the Backend implementation for Device::CUDA, its caching device allocator, its one stream,
// CUDA error conversion, and the start-up probe that decides whether Device::CUDA exists at all.
//
// Start-up: a static initializer asks the CUDA runtime for devices (cudaGetDeviceCount and attributes: no
// context is created, so a process that never touches the GPU pays no context memory or start-up time). When
// there is no driver, no device, or a device this build has no code for, nothing is registered and the reason
// is kept for dgclust.backends(); every 'cuda' request then fails with DGC_DEVICE and the CPU path is unaffected.
// Nothing in the probe can throw past the initializer (it is wrapped in try/catch), and nothing aborts.
//
// Execution model: every op is enqueued on one non-blocking stream (stream()) and returns at once; only reading
// values back (copyToHost, and the few ops that need a value on the host, e.g. the finite-value checks) waits.
// A kernel fault is reported by CUDA at the next synchronizing call; it then becomes a DGC_INTERNAL error naming
// that op (the CUDA context is unusable after such a "sticky" error; the process lives on and the CPU backend
// keeps working).
#include <dlfcn.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "../native/core/backend.h"
#include "../native/core/cuda_status.h"
#include "cdc.h"
#include "common.cuh"
#include "fused.h"
#include "kernels.h"

namespace dgc {
namespace cuda {

[[noreturn]] void throwCudaError(cudaError_t err, const char* op, const char* what) {
  // Clear the error if it is not sticky, so a later call does not report it again (a sticky error stays).
  (void)cudaGetLastError();
  if (err == cudaErrorMemoryAllocation) {
    fail(ErrorCode::OOM, op, ": out of CUDA device memory (", what, ": ", cudaGetErrorString(err), ")");
  }
  fail(ErrorCode::Internal, op, ": CUDA error ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ") in ", what,
       err == cudaErrorIllegalAddress || err == cudaErrorLaunchFailure || err == cudaErrorAssert
           ? "; this may come from an earlier asynchronous op, and the CUDA context is now unusable: restart the "
             "process to use the GPU again"
           : "");
}

namespace {

// ---- the start-up probe ----------------------------------------------------------------------------------

struct Probe {
  bool ok = false;
  std::string reason;
  CudaDeviceInfo info;
};

// Code in this build: sm_80 machine code (runs on every 8.x GPU), sm_90 machine code and compute_90 PTX (9.0
// and newer, the PTX compiled by the driver). Older GPUs have no image to run.
constexpr int kMinComputeMajor = 8;

Probe runProbe() {
  Probe p;
  cudaRuntimeGetVersion(&p.info.runtimeVersion);
  // Without libcuda the runtime's own error ("CUDA driver version is insufficient") is misleading: say so plainly.
  if (void* h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL)) {
    dlclose(h);
  } else {
    p.reason = "no CUDA driver (libcuda.so.1 could not be loaded)";
    return p;
  }
  cudaDriverGetVersion(&p.info.driverVersion);
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    if (err == cudaErrorNoDevice) {
      p.reason = "no CUDA device";
    } else if (err == cudaErrorInsufficientDriver) {
      p.reason = str("the CUDA driver (", p.info.driverVersion / 1000, ".", (p.info.driverVersion % 1000) / 10,
                     ") is older than this build's CUDA runtime (", p.info.runtimeVersion / 1000, ".",
                     (p.info.runtimeVersion % 1000) / 10, ")");
    } else {
      p.reason = str("CUDA is not usable: ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ")");
    }
    return p;
  }
  if (count <= 0) {
    p.reason = "no CUDA device";
    return p;
  }
  int ordinal = 0;
  if (const char* env = std::getenv("DGCLUST_CUDA_DEVICE")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end == env || *end != '\0' || v < 0 || v >= count) {
      p.reason = str("DGCLUST_CUDA_DEVICE='", env, "' is not a device ordinal in [0, ", count, ")");
      return p;
    }
    ordinal = static_cast<int>(v);
  }
  cudaDeviceProp prop;
  err = cudaGetDeviceProperties(&prop, ordinal);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    p.reason = str("CUDA device ", ordinal, " cannot be queried: ", cudaGetErrorString(err));
    return p;
  }
  p.info.ordinal = ordinal;
  p.info.name = prop.name;
  p.info.computeMajor = prop.major;
  p.info.computeMinor = prop.minor;
  p.info.totalBytes = prop.totalGlobalMem;
  p.info.multiprocessors = prop.multiProcessorCount;
  if (prop.major < kMinComputeMajor) {
    p.reason = str("CUDA device ", ordinal, " (", prop.name, ") has compute capability ", prop.major, ".", prop.minor,
                   "; this build has GPU code for 8.0 and newer only");
    return p;
  }
  int computeMode = cudaComputeModeDefault;
  if (cudaDeviceGetAttribute(&computeMode, cudaDevAttrComputeMode, ordinal) != cudaSuccess) (void)cudaGetLastError();
  if (computeMode == cudaComputeModeProhibited) {
    p.reason = str("CUDA device ", ordinal, " (", prop.name, ") is in the 'prohibited' compute mode");
    return p;
  }
  p.ok = true;
  p.info.available = true;
  return p;
}

Probe& probe() {
  // Constructed by the registrar below during static initialization; a function-local static so any other
  // initializer that asks first gets a finished probe, too.
  static Probe p = [] {
    try {
      return runProbe();
    } catch (...) {
      Probe q;
      q.reason = "the CUDA probe failed unexpectedly";
      return q;
    }
  }();
  return p;
}

// ---- device and stream -------------------------------------------------------------------------------------

int deviceOrdinal() { return probe().info.ordinal; }

// cudaSetDevice is per host thread (N-API calls can come from worker threads): set it once per thread.
void ensureDevice() {
  thread_local int current = -1;
  const int want = deviceOrdinal();
  if (current != want) {
    DGC_CUDA_CHECK(cudaSetDevice(want), "cuda");
    current = want;
  }
}

}  // namespace

int multiprocessorCount() {
  const int n = probe().info.multiprocessors;
  return n > 0 ? n : 1;
}

cudaStream_t stream() {
  // Created on first use, which also creates the device's primary context (hundreds of ms, a few hundred MiB).
  static std::once_flag once;
  static cudaStream_t s = nullptr;
  ensureDevice();
  std::call_once(once, [] {
    // Non-blocking: no implicit synchronization with the legacy default stream (which nothing here uses).
    DGC_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cuda");
  });
  return s;
}

namespace {

// ---- the caching allocator ---------------------------------------------------------------------------------
//
// cudaMalloc and cudaFree are slow (cudaFree synchronizes the whole device) and a training step frees and
// allocates the same sizes every iteration, so freed blocks are kept and handed out again. A request takes the
// smallest cached block that fits and wastes at most a quarter of it (sizes are rounded to 512 B below 1 MiB and
// to 128 KiB above, so nearby sizes share blocks). Reusing a block at once is safe because every kernel runs on
// the one stream: work enqueued by the new owner runs after everything the old owner enqueued.
// The cache holds at most half the device memory; past that, freed blocks go back to the driver. When cudaMalloc
// runs out of memory, the whole cache is returned to the driver and the allocation retried once; if it still
// fails, allocate() returns nullptr and Buffer throws DGC_OOM. DGCLUST_NO_ALLOC_CACHE=1 turns caching off.
// Device memory is never managed (unified) memory.
class CudaAllocator final : public Allocator {
 public:
  CudaAllocator() : enabled_(std::getenv("DGCLUST_NO_ALLOC_CACHE") == nullptr) {}

  void* allocate(size_t bytes) override {
    const size_t size = roundUp(bytes);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (enabled_) {
        auto it = free_.lower_bound(size);
        if (it != free_.end() && it->first - size <= it->first / 4) {
          void* p = it->second;
          const size_t blockSize = it->first;
          free_.erase(it);
          cachedBytes_ -= blockSize;
          live_[p] = blockSize;
          return p;
        }
      }
    }
    ensureDevice();
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, size);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      releaseCached();
      err = cudaMalloc(&p, size);
    }
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      return nullptr;  // Buffer turns this into DGC_OOM
    }
    if (err != cudaSuccess) throwCudaError(err, "allocate", "cudaMalloc");
    std::lock_guard<std::mutex> lock(mu_);
    live_[p] = size;
    return p;
  }

  // Called from Buffer's destructor: must not throw. Errors from cudaFree (e.g. at process exit, when the runtime
  // is already shut down) are ignored: the memory goes away with the context.
  void release(void* p, size_t bytes) override {
    if (!p) return;
    size_t size = roundUp(bytes);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = live_.find(p);
      if (it != live_.end()) {
        size = it->second;
        live_.erase(it);
      }
      if (enabled_ && cachedBytes_ + size <= cacheLimit()) {
        free_.emplace(size, p);
        cachedBytes_ += size;
        return;
      }
    }
    // Work already queued may still use the block: let it finish before the memory goes back to the driver.
    try {
      if (cudaStreamSynchronize(stream()) != cudaSuccess) (void)cudaGetLastError();
    } catch (...) {  // no stream (or no device) any more: nothing queued can be using the block
    }
    if (cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
  }

  void releaseCached() {
    std::multimap<size_t, void*> blocks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      blocks.swap(free_);
      cachedBytes_ = 0;
    }
    if (blocks.empty()) return;
    // Pending kernels may still use a block that was released to the cache: wait for them before freeing.
    if (cudaDeviceSynchronize() != cudaSuccess) (void)cudaGetLastError();
    for (auto& b : blocks)
      if (cudaFree(b.second) != cudaSuccess) (void)cudaGetLastError();
  }

  size_t cachedBytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return cachedBytes_;
  }

 private:
  static size_t roundUp(size_t bytes) {
    constexpr size_t kSmall = 512, kLarge = size_t(128) << 10, kBoundary = size_t(1) << 20;
    if (bytes == 0) return kSmall;
    if (bytes <= kBoundary) return (bytes + kSmall - 1) / kSmall * kSmall;
    return (bytes + kLarge - 1) / kLarge * kLarge;
  }
  static size_t cacheLimit() {
    const size_t total = probe().info.totalBytes;
    return total > 0 ? total / 2 : size_t(1) << 30;
  }

  const bool enabled_;
  std::mutex mu_;
  std::multimap<size_t, void*> free_;        // cached blocks by size
  std::unordered_map<void*, size_t> live_;   // block size of every handed-out pointer
  size_t cachedBytes_ = 0;
};

// Never destroyed: buffers released during static destruction must still find their allocator.
CudaAllocator& allocator() {
  static CudaAllocator* a = new CudaAllocator();
  return *a;
}

// ---- the backend -------------------------------------------------------------------------------------------

// Waits for everything queued. A fault in any earlier kernel surfaces here, so the message says so.
void waitForStream(const char* op) {
  const cudaError_t err = cudaStreamSynchronize(stream());
  if (err != cudaSuccess) {
    throwCudaError(err, op, "cudaStreamSynchronize (waiting for the queued GPU work; the op that failed may be an "
                            "earlier one)");
  }
}

class CudaBackend final : public Backend {
 public:
  Device device() const override { return Device::CUDA; }
  const char* name() const override { return "cuda"; }

  // ---- memory
  // The host source is pageable memory the caller may reuse as soon as this returns (a JS typed array), so the
  // copy is complete before returning.
  void copyFromHost(Tensor& dst, const void* src) override {
    DGC_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src, dst.nbytes(), cudaMemcpyHostToDevice, stream()), "fromHost");
    waitForStream("fromHost");
  }
  void copyToHost(void* dst, const Tensor& src) override {
    DGC_CUDA_CHECK(cudaMemcpyAsync(dst, src.raw(), src.nbytes(), cudaMemcpyDeviceToHost, stream()), "toHost");
    waitForStream("toHost");
  }
  void copy(Tensor& dst, const Tensor& src) override {
    DGC_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), src.nbytes(), cudaMemcpyDeviceToDevice, stream()), "copy");
  }
  void fill(Tensor& out, double value) override { cuda::fill(out, value); }
  void synchronize() override { waitForStream("synchronize"); }
  int64_t findOutside(const Tensor& t, float lo, float hi, float* value) override {
    return cuda::findOutside(t, lo, hi, value);
  }

  // ---- dense and sparse products
  void gemm(bool transA, bool transB, float alpha, const Tensor& a, const Tensor& b, float beta, Tensor& c) override {
    cuda::gemm(transA, transB, alpha, a, b, beta, c);
  }
  void transpose(const Tensor& x, Tensor& out) override { cuda::transpose(x, out); }
  void spmm(const CsrMatrix& a, const Tensor& h, Tensor& out) override { cuda::spmm(a, h, out); }

  // ---- elementwise
  void unary(Unary op, const Tensor& x, float param, Tensor& out) override { cuda::unary(op, x, param, out); }
  void unaryGrad(Unary op, const Tensor& xy, const Tensor& dy, float param, Tensor& dx) override {
    cuda::unaryGrad(op, xy, dy, param, dx);
  }
  void binary(Binary op, const Tensor& a, const Tensor& b, Tensor& out) override { cuda::binary(op, a, b, out); }
  void affine(const Tensor& x, float alpha, float beta, Tensor& out) override { cuda::affine(x, alpha, beta, out); }
  void axpby(float alpha, const Tensor& a, float beta, const Tensor& b, Tensor& out) override {
    cuda::axpby(alpha, a, beta, b, out);
  }
  void mulScalar(const Tensor& x, const Tensor& s, Tensor& out) override { cuda::mulScalar(x, s, out); }
  void addRowVector(const Tensor& x, const Tensor& v, Tensor& out) override { cuda::addRowVector(x, v, out); }
  void mulRowVector(const Tensor& x, const Tensor& v, Tensor& out) override { cuda::mulRowVector(x, v, out); }
  void mulColVector(const Tensor& x, const Tensor& v, Tensor& out) override { cuda::mulColVector(x, v, out); }
  void expandRows(const Tensor& v, Tensor& out) override { cuda::expandRows(v, out); }
  void expandCols(const Tensor& v, Tensor& out) override { cuda::expandCols(v, out); }
  void expandScalar(const Tensor& s, Tensor& out) override { cuda::expandScalar(s, out); }

  // ---- reductions and softmax
  void rowSum(const Tensor& x, Tensor& out) override { cuda::rowSum(x, out); }
  void colSum(const Tensor& x, Tensor& out) override { cuda::colSum(x, out); }
  void sumAll(const Tensor& x, Tensor& out) override { cuda::sumAll(x, out); }
  void argmaxRows(const Tensor& x, Tensor& out) override { cuda::argmaxRows(x, out); }
  void softmaxRows(const Tensor& x, bool log, Tensor& out) override { cuda::softmaxRows(x, log, out); }
  void softmaxRowsGrad(const Tensor& y, const Tensor& dy, bool log, Tensor& dx) override {
    cuda::softmaxRowsGrad(y, dy, log, dx);
  }

  // ---- shape and indexing
  void concatCols(const std::vector<Tensor>& xs, Tensor& out) override { cuda::concatCols(xs, out); }
  void sliceCols(const Tensor& x, int64_t start, Tensor& out) override { cuda::sliceCols(x, start, out); }
  void addIntoCols(const Tensor& src, int64_t start, Tensor& out) override { cuda::addIntoCols(src, start, out); }
  void gatherRows(const Tensor& x, const Tensor& idx, Tensor& out) override { cuda::gatherRows(x, idx, out); }
  void scatterAddRows(const Tensor& src, const Tensor& idx, Tensor& out) override {
    cuda::scatterAddRows(src, idx, out);
  }

  // ---- losses
  void mse(const Tensor& a, const Tensor& b, Tensor& out) override { cuda::mse(a, b, out); }
  void mseGrad(const Tensor& a, const Tensor& b, const Tensor& g, Tensor& da) override { cuda::mseGrad(a, b, g, da); }
  void bceWithLogits(const Tensor& logits, const Tensor& target, Tensor& out) override {
    cuda::bceWithLogits(logits, target, out);
  }
  void bceWithLogitsGrad(const Tensor& logits, const Tensor& target, const Tensor& g, Tensor& dl) override {
    cuda::bceWithLogitsGrad(logits, target, g, dl);
  }

  // ---- optimizers
  void adamStep(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamParams& p) override {
    cuda::adamStep(param, grad, m, v, p);
  }
  void sgdStep(Tensor& param, const Tensor& grad, Tensor* velocity, float lr, float momentum,
               float weightDecay) override {
    cuda::sgdStep(param, grad, velocity, lr, momentum, weightDecay);
  }

  // ---- fused families (cuda/fused.h: attention.cu, recon.cu, cluster.cu, kmeans.cu, knn.cu)
  void attentionForward(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, float scale, Tensor& out,
                        Tensor& lse) override {
    cuda::attentionForward(q, k, v, heads, scale, out, lse);
  }
  void attentionBackward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                         const Tensor& dout, int64_t heads, float scale, Tensor& dq, Tensor& dk, Tensor& dv) override {
    cuda::attentionBackward(q, k, v, out, lse, dout, heads, scale, dq, dk, dv);
  }
  void selfCorrelationForward(const Tensor& z, Tensor& out, Tensor& lse) override {
    cuda::selfCorrelationForward(z, out, lse);
  }
  void selfCorrelationBackward(const Tensor& z, const Tensor& out, const Tensor& lse, const Tensor& dout,
                               Tensor& dz) override {
    cuda::selfCorrelationBackward(z, out, lse, dout, dz);
  }
  void gramSigmoidMseLoss(const Tensor& z1, const Tensor* z2, const CsrMatrix& a, float g, Tensor& loss, Tensor* dz1,
                          Tensor* dz2) override {
    cuda::gramSigmoidMseLoss(z1, z2, a, g, loss, dz1, dz2);
  }
  void gramSigmoidBceLoss(const Tensor& z, const CsrMatrix& t, float g, Tensor& loss, Tensor* dz) override {
    cuda::gramSigmoidBceLoss(z, t, g, loss, dz);
  }
  void kmeans(const Tensor& x, const KMeansParams& p, Tensor& centers, Tensor& labels, double& inertia,
              int& iterations) override {
    cuda::kmeans(x, p, centers, labels, inertia, iterations);
  }
  void knnGraph(const Tensor& x, int64_t k, int metric, bool sdcnOrder, Tensor& neighbors) override {
    cuda::knnGraph(x, k, metric, sdcnOrder, neighbors);
  }
  void studentT(const Tensor& z, const Tensor& mu, double nu, Tensor& q) override { cuda::studentT(z, mu, nu, q); }
  void studentTBackward(const Tensor& z, const Tensor& mu, double nu, const Tensor& q, const Tensor& dq, Tensor* dz,
                        Tensor* dmu) override {
    cuda::studentTBackward(z, mu, nu, q, dq, dz, dmu);
  }
  void targetDistribution(const Tensor& q, Tensor& p) override { cuda::targetDistribution(q, p); }
  void klStudentT(const std::vector<Tensor>& zs, const Tensor& mu, double nu, const Tensor& p, double scale,
                  Tensor& loss, const std::vector<Tensor*>& dzs, Tensor* dmu) override {
    cuda::klStudentT(zs, mu, nu, p, scale, loss, dzs, dmu);
  }
  void focalStudentT(const Tensor& z, const Tensor& mu, double nu, const Tensor& p, double gamma, double scale,
                     Tensor& loss, Tensor* dz, Tensor* dmu) override {
    cuda::focalStudentT(z, mu, nu, p, gamma, scale, loss, dz, dmu);
  }
  void pairAffinity(const Tensor& y, double nu, Tensor& c) override { cuda::pairAffinity(y, nu, c); }
  void pairAffinityBackward(const Tensor& y, double nu, const Tensor& dc, Tensor& dy) override {
    cuda::pairAffinityBackward(y, nu, dc, dy);
  }
  void cdcCorrelationLoss(const Tensor& ya, const Tensor& yb, double nu, double scale, Tensor& loss, Tensor* dya,
                          Tensor* dyb) override {
    cuda::cdcCorrelationLoss(ya, yb, nu, scale, loss, dya, dyb);
  }
  void rowKlClipped(const Tensor& a, const Tensor& b, double scale, Tensor& loss, Tensor* da, Tensor* db) override {
    cuda::rowKlClipped(a, b, scale, loss, da, db);
  }
  void cdcPairLoss(const Tensor& ya, const Tensor& yb, double nu, double scale, bool global, bool sharpen, Tensor& loss,
                   Tensor* dya, Tensor* dyb) override {
    cuda::cdcPairLoss(ya, yb, nu, scale, global, sharpen, loss, dya, dyb);
  }

  // ---- random
  void randomUniform(Tensor& out, float low, float high, uint64_t seed, uint64_t streamId) override {
    cuda::randomUniform(out, low, high, seed, streamId);
  }
  void randomNormal(Tensor& out, float mean, float std, uint64_t seed, uint64_t streamId) override {
    cuda::randomNormal(out, mean, std, seed, streamId);
  }
};

// Registers the allocator and the backend at start-up, only when the probe found a usable device.
struct Registrar {
  Registrar() {
    try {
      if (!probe().ok) return;
      static CudaBackend backend;
      registerAllocator(Device::CUDA, &allocator());
      registerBackend(Device::CUDA, &backend);
    } catch (...) {
      // A failure here must not take the process (or the CPU backend) down: CUDA simply stays unavailable.
    }
  }
} registrar;

}  // namespace
}  // namespace cuda

// ---- native/core/cuda_status.h ---------------------------------------------------------------------------------

const char* cudaUnavailableReason() {
  const cuda::Probe& p = cuda::probe();
  if (p.ok && hasBackend(Device::CUDA)) return nullptr;
  return p.reason.empty() ? "the CUDA backend could not be registered" : p.reason.c_str();
}

CudaDeviceInfo cudaDeviceInfo() { return cuda::probe().info; }

size_t cudaCachedBytes() { return cuda::probe().ok ? cuda::allocator().cachedBytes() : 0; }

void cudaReleaseCachedMemory() {
  if (cuda::probe().ok) cuda::allocator().releaseCached();
}

const char* cudaGemmProvider() { return cuda::probe().ok ? cuda::gemmProvider() : ""; }

}  // namespace dgc
