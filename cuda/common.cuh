// Shared by every CUDA translation unit: error checking, launch geometry, the backend's one stream.
//
// Contract between cuda/backend.cu (the Backend implementation, the allocator, the stream) and the kernel
// families (cuda/*.cu): a kernel family exposes host functions in namespace dgc::cuda that take validated,
// already-allocated Tensors (device memory, as ops.cc guarantees) and enqueue work on dgc::cuda::stream().
// Scratch memory comes from Tensor::empty(shape, dtype, Device::CUDA) (the caching allocator), never from
// cudaMalloc directly. Host functions never synchronize unless they must read a value back.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "../native/core/error.h"
#include "../native/core/tensor.h"

namespace dgc {
namespace cuda {

// The stream every op is enqueued on (defined in backend.cu).
cudaStream_t stream();

// Turns a CUDA error into a coded dgc::Error naming the op: DGC_OOM for allocation failures,
// DGC_INTERNAL (with the CUDA error string) otherwise. The process lives on.
[[noreturn]] void throwCudaError(cudaError_t err, const char* op, const char* what);

// Checks a CUDA runtime call; `op` names the dgclust op for the message.
#define DGC_CUDA_CHECK(expr, op)                                        \
  do {                                                                  \
    cudaError_t dgc_cuda_err_ = (expr);                                 \
    if (dgc_cuda_err_ != cudaSuccess) ::dgc::cuda::throwCudaError(dgc_cuda_err_, op, #expr); \
  } while (0)

// Checks the last kernel launch (launch-configuration errors; asynchronous faults surface at the next sync).
#define DGC_CUDA_LAUNCH_CHECK(op) DGC_CUDA_CHECK(cudaGetLastError(), op)

// Blocks of `threads` covering n items, capped so a grid-stride loop does the rest.
inline unsigned int blocksFor(int64_t n, int threads, int64_t cap = 65535LL * 8) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > cap) b = cap;
  return static_cast<unsigned int>(b);
}

// Streaming multiprocessors of the backend's device (queried once; defined in backend.cu). For choosing launch
// shapes only: no result may depend on it (results depend on the shapes of the operands alone).
int multiprocessorCount();

}  // namespace cuda
}  // namespace dgc
