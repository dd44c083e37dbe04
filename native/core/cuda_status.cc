// Defaults for builds without the CUDA backend (binding.gyp, CMake without nvcc, and the CPU-only C++ kernel
// tests). Where the toolchain has weak symbols they are weak, and cuda/backend.cu's definitions replace them when
// the CUDA library is linked in; elsewhere they exist only when DGC_WITH_CUDA is not defined.
#include "cuda_status.h"

#if defined(__GNUC__) || defined(__clang__)
#define DGC_CUDA_DEFAULT __attribute__((weak))
#define DGC_HAVE_CUDA_DEFAULTS 1
#elif !defined(DGC_WITH_CUDA)
#define DGC_CUDA_DEFAULT
#define DGC_HAVE_CUDA_DEFAULTS 1
#endif

#ifdef DGC_HAVE_CUDA_DEFAULTS
namespace dgc {

DGC_CUDA_DEFAULT const char* cudaUnavailableReason() {
  return "this build of dgclust has no CUDA backend (CPU-only build)";
}
DGC_CUDA_DEFAULT CudaDeviceInfo cudaDeviceInfo() { return CudaDeviceInfo{}; }
DGC_CUDA_DEFAULT size_t cudaCachedBytes() { return 0; }
DGC_CUDA_DEFAULT void cudaReleaseCachedMemory() {}
DGC_CUDA_DEFAULT const char* cudaGemmProvider() { return ""; }

}  // namespace dgc
#endif
