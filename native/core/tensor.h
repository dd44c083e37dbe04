// Tensor: a typed, shaped view of a reference-counted device buffer.
//
// float32 or int32, row-major, contiguous. Rank 0 (scalar) to 4. Tensors made by reshape() share their
// buffer; everything else owns a new one. Buffers are counted (live count, live bytes, peak bytes) so tests
// can prove nothing leaks.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "error.h"

namespace dgc {

enum class DType : uint8_t { F32 = 0, I32 = 1 };
enum class Device : uint8_t { CPU = 0, CUDA = 1 };

inline const char* dtypeName(DType t) { return t == DType::F32 ? "float32" : "int32"; }
inline const char* deviceName(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }
inline size_t dtypeSize(DType) { return 4; }

using Shape = std::vector<int64_t>;
struct RowSparseIndex;  // row_sparse.h
std::string shapeStr(const Shape& s);  // "[3, 4]"
int64_t shapeNumel(const Shape& s);    // validates: dims >= 0, product < 2^62

// A block of device memory. Freed by the allocator of its device when the last Tensor using it goes.
class Buffer {
 public:
  Buffer(Device device, size_t bytes);  // throws DGC_OOM
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  // The nonzeros of a constant matrix held in this buffer (row_sparse.h, ops::attachRowSparse), or null. Set once,
  // before the buffer is shared between threads; a buffer with an index refuses in-place writes (ops::requireWritable).
  const std::shared_ptr<const RowSparseIndex>& rowSparse() const { return rowSparse_; }
  void setRowSparse(std::shared_ptr<const RowSparseIndex> index) { rowSparse_ = std::move(index); }

 private:
  std::shared_ptr<const RowSparseIndex> rowSparse_;
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

struct MemoryStats {
  int64_t buffers = 0;    // live buffers (tensors that own memory)
  int64_t bytes = 0;      // live bytes
  int64_t peakBytes = 0;  // high-water mark since start or the last resetPeak()
};
MemoryStats memoryStats(Device device);
// The CPU allocator keeps freed blocks for reuse, up to a limit (default kDefaultCacheLimit, 256 MiB): how many
// bytes it holds, a way to return them, and the limit (lowering it returns what is over it at once).
constexpr size_t kDefaultCacheLimit = size_t(256) << 20;
size_t cachedMemoryBytes();
void releaseCachedMemory();
size_t cacheLimitBytes();
void setCacheLimitBytes(size_t bytes);
void resetPeakBytes(Device device);

// A device allocator (the CPU one is built in; the CUDA backend registers its own).
struct Allocator {
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes) = 0;  // returns nullptr on failure
  virtual void release(void* p, size_t bytes) = 0;
};
void registerAllocator(Device device, Allocator* allocator);
bool hasAllocator(Device device);

class Tensor {
 public:
  Tensor() = default;
  // Uninitialized contents.
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);

  bool defined() const { return static_cast<bool>(buffer_); }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[static_cast<size_t>(i < 0 ? i + rank() : i)]; }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtypeSize(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return buffer_ ? buffer_->device() : Device::CPU; }
  const std::shared_ptr<Buffer>& buffer() const { return buffer_; }

  void* raw() const { return buffer_ ? buffer_->data() : nullptr; }
  float* f32() const { return static_cast<float*>(raw()); }
  int32_t* i32() const { return static_cast<int32_t*>(raw()); }

  // Same buffer, new shape with the same number of elements (DGC_SHAPE otherwise).
  Tensor reshape(const Shape& shape) const;

  std::string describe() const;  // "float32[3, 4] on cpu"

 private:
  std::shared_ptr<Buffer> buffer_;
  Shape shape_;
  int64_t numel_ = 0;
  DType dtype_ = DType::F32;
};

}  // namespace dgc
