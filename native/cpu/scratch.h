// A 64-byte aligned float buffer that only grows, for per-thread scratch of the CPU kernels (gemm's packing buffers,
// recon's tiles): the pool's workers live for the whole process, so keeping the buffer per thread saves a product
// the page faults of fresh multi-MiB allocations. Growth is geometric (×1.5) so that a sequence of slightly larger
// requests does not reallocate every time.
#pragma once
#include <algorithm>
#include <cstddef>
#include <new>

namespace dgc {
namespace cpu {

class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { release(); }

  // At least `floats` floats (contents unspecified).
  float* get(size_t floats) {
    if (floats > capacity_) {
      const size_t grown = std::max(floats, capacity_ + capacity_ / 2);
      release();
      data_ = static_cast<float*>(::operator new(grown * sizeof(float), std::align_val_t(64)));
      capacity_ = grown;
    }
    return data_;
  }

 private:
  void release() {
    if (data_) ::operator delete(data_, std::align_val_t(64));
    data_ = nullptr;
    capacity_ = 0;
  }
  float* data_ = nullptr;
  size_t capacity_ = 0;
};

}  // namespace cpu
}  // namespace dgc
