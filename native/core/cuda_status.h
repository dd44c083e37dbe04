// What the addon knows about the CUDA backend, whether or not this build has one.
//
// A CUDA build (CMakeLists.txt with nvcc: the dgclust_cuda library, DGC_WITH_CUDA defined for its users) defines
// these in cuda/backend.cu; without it (binding.gyp, CMake without nvcc, the CPU-only C++ tests) the weak defaults
// in cuda_status.cc apply, so native/addon compiles and links the same way in both. Nothing here creates a CUDA
// context: the probe at start-up reads the device count and attributes only.
#pragma once
#include <cstddef>
#include <string>

namespace dgc {

// Why Device::CUDA is not available ("no CUDA driver", "no CUDA device", a CUDA error string, or
// "this build of dgclust has no CUDA backend (CPU-only build)"); nullptr when it is available.
const char* cudaUnavailableReason();

struct CudaDeviceInfo {
  bool available = false;
  int ordinal = 0;              // the device the backend uses (DGCLUST_CUDA_DEVICE, default 0)
  std::string name;             // e.g. "NVIDIA H100 80GB HBM3"
  int computeMajor = 0, computeMinor = 0;
  size_t totalBytes = 0;        // device memory
  int multiprocessors = 0;
  int driverVersion = 0;        // e.g. 13000 for CUDA 13.0 (0 when no driver)
  int runtimeVersion = 0;       // the CUDA runtime this build links (static cudart)
};
// Filled only when available (otherwise `available` is false and the rest is empty), except the versions.
CudaDeviceInfo cudaDeviceInfo();

// The CUDA caching allocator: bytes of freed device blocks it keeps for reuse, and a way to return them to the
// driver (synchronizes the device first). 0 / no-op without CUDA.
size_t cudaCachedBytes();
void cudaReleaseCachedMemory();

// Which GEMM the CUDA backend uses: "cublas" (libcublas loaded at run time), "dgclust" (the built-in kernels),
// or "" before the first GEMM has decided / without CUDA.
const char* cudaGemmProvider();

}  // namespace dgc
