// The CUDA backend's core: the start-up probe that decides whether Device::CUDA exists at all, the caching device
// allocator, the one stream, CUDA error conversion, CudaBackend's memory methods, and registration. The op methods
// of CudaBackend live in their family files (cuda/cuda_backend.h lists them).
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
#include "common.cuh"
#include "cuda_backend.h"
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
  // DGCLUST_CUDA_SM_COUNT pretends another GPU size (read at every call): the determinism tests run the same op
  // under two values and require the same bits (cuda/common.cuh, DETERMINISM).
  if (const char* env = std::getenv("DGCLUST_CUDA_SM_COUNT")) {
    const long forced = std::strtol(env, nullptr, 10);
    if (forced >= 1 && forced <= 100000) return static_cast<int>(forced);
  }
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

}  // namespace

// ---- CudaBackend: memory (the op methods are in the family files) --------------------------------------------------

// The host source is pageable memory the caller may reuse as soon as this returns (a JS typed array), so the copy is
// complete before returning.
void CudaBackend::copyFromHost(Tensor& dst, const void* src) {
  DGC_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src, dst.nbytes(), cudaMemcpyHostToDevice, stream()), "fromHost");
  waitForStream("fromHost");
}
void CudaBackend::copyToHost(void* dst, const Tensor& src) {
  DGC_CUDA_CHECK(cudaMemcpyAsync(dst, src.raw(), src.nbytes(), cudaMemcpyDeviceToHost, stream()), "toHost");
  waitForStream("toHost");
}
void CudaBackend::copy(Tensor& dst, const Tensor& src) {
  DGC_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), src.nbytes(), cudaMemcpyDeviceToDevice, stream()), "copy");
}
void CudaBackend::synchronize() { waitForStream("synchronize"); }

namespace {

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
