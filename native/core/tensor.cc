#include "tensor.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace dgc {
namespace {

// 64-byte alignment: a cache line, and what AVX-512 loads like.
//
// A caching allocator: a training step frees and allocates the same sizes every iteration, and a fresh large
// block costs an mmap plus a page fault per 4 KiB page on first touch (measured ~1.6 µs per page on a KVM
// guest: 8 ms for a 20 MB tensor). Freed blocks are kept by exact (64-byte-rounded) size and handed out again,
// up to a limit in all (default kDefaultCacheLimit; setCacheLimit(), which the TypeScript layer calls with
// DGCLUST_CACHE_BYTES); past it, blocks go back to the system. memoryStats() counts live buffers only, not the
// cache. DGCLUST_NO_ALLOC_CACHE=1 turns the cache off (for leak hunting with external tools).
//
// Blocks come from malloc with 64 bytes of slack, aligned by hand (the raw pointer is kept just before the aligned
// address), not from aligned_alloc: glibc's memalign asks its heap for size + alignment + a header, so a freed block
// is never big enough for the next request of the same size. With the small objects a tensor's wrapper allocates
// between its buffers (which stop freed blocks from coalescing), every uncached allocation of a size seen before
// took fresh memory: a 10 MB allocate/free loop grew RSS by 10 MB per iteration, and a DFCN training step on ACM
// by ~0.5 MB (bench/soak). A malloc'd block of n + 64 bytes is reused by the next request of n + 64.
void* alignedMalloc(size_t bytes) {
  void* raw = std::malloc(bytes + 64);
  if (!raw) return nullptr;
  // malloc aligns to at least 8 bytes, so there are 8 to 64 bytes before the aligned address: room for `raw`.
  const uintptr_t aligned = (reinterpret_cast<uintptr_t>(raw) + 64) & ~uintptr_t(63);
  reinterpret_cast<void**>(aligned)[-1] = raw;
  return reinterpret_cast<void*>(aligned);
}

void alignedFree(void* p) {
  if (p) std::free(reinterpret_cast<void**>(p)[-1]);
}

class CpuAllocator : public Allocator {
 public:
  CpuAllocator() : enabled_(std::getenv("DGCLUST_NO_ALLOC_CACHE") == nullptr) {}

  void* allocate(size_t bytes) override {
    const size_t rounded = roundUp(bytes);
    if (enabled_) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(rounded);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cachedBytes_ -= rounded;
        return p;
      }
    }
    void* p = alignedMalloc(rounded);
    if (!p && enabled_) {  // out of memory: give the cache back and try once more
      releaseCached();
      p = alignedMalloc(rounded);
    }
    return p;
  }

  void release(void* p, size_t bytes) override {
    const size_t rounded = roundUp(bytes);
    if (enabled_) {
      std::lock_guard<std::mutex> lock(mu_);
      if (cachedBytes_ + rounded <= limit_) {
        free_[rounded].push_back(p);
        cachedBytes_ += rounded;
        return;
      }
    }
    alignedFree(p);
  }

  void releaseCached() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) alignedFree(p);
    free_.clear();
    cachedBytes_ = 0;
  }

  size_t cachedBytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return cachedBytes_;
  }

  size_t limit() {
    std::lock_guard<std::mutex> lock(mu_);
    return limit_;
  }

  // A new limit applies at once: cached blocks over it go back to the system, largest first.
  void setLimit(size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    limit_ = bytes;
    if (cachedBytes_ <= limit_) return;
    std::vector<size_t> sizes;
    for (auto& [size, blocks] : free_)
      if (!blocks.empty()) sizes.push_back(size);
    std::sort(sizes.rbegin(), sizes.rend());
    for (size_t size : sizes) {
      auto& blocks = free_[size];
      while (!blocks.empty() && cachedBytes_ > limit_) {
        alignedFree(blocks.back());
        blocks.pop_back();
        cachedBytes_ -= size;
      }
      if (cachedBytes_ <= limit_) break;
    }
  }

 private:
  static size_t roundUp(size_t bytes) { return bytes == 0 ? 64 : (bytes + 63) / 64 * 64; }

  const bool enabled_;
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cachedBytes_ = 0;
  size_t limit_ = kDefaultCacheLimit;
};

struct Counters {
  std::atomic<int64_t> buffers{0}, bytes{0}, peak{0};
};

// Never destroyed: a buffer released during static destruction must still find its allocator.
CpuAllocator& cpuAllocator() {
  static CpuAllocator* a = new CpuAllocator();
  return *a;
}
// Registered device allocators. Constant-initialized (all null, the CPU slot meaning "the built-in one"): a backend
// registers its allocator from a static initializer in another translation unit, which may run before this
// file's dynamic initializers, so nothing here may be re-initialized after it.
Allocator* allocators[2] = {nullptr, nullptr};
Counters counters[2];

Allocator* allocatorFor(Device d) {
  Allocator* a = allocators[static_cast<int>(d)];
  return a != nullptr || d != Device::CPU ? a : &cpuAllocator();
}

Counters& countersFor(Device d) { return counters[static_cast<int>(d)]; }

}  // namespace

std::string shapeStr(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

int64_t shapeNumel(const Shape& s) {
  DGC_CHECK(s.size() <= 4, Shape, "tensor rank ", s.size(), " is over the maximum of 4 (shape ", shapeStr(s), ")");
  int64_t n = 1;
  for (int64_t d : s) {
    DGC_CHECK(d >= 0, Shape, "negative dimension in shape ", shapeStr(s));
    DGC_CHECK(d == 0 || n <= (int64_t(1) << 62) / d, Shape, "shape ", shapeStr(s), " has too many elements");
    n *= d;
  }
  return n;
}

void registerAllocator(Device device, Allocator* allocator) { allocators[static_cast<int>(device)] = allocator; }
bool hasAllocator(Device device) { return allocatorFor(device) != nullptr; }

Buffer::Buffer(Device device, size_t bytes) : bytes_(bytes), device_(device) {
  Allocator* a = allocatorFor(device);
  DGC_CHECK(a != nullptr, Device, "no ", deviceName(device), " device is available to allocate ", bytes, " bytes");
  data_ = a->allocate(bytes);
  if (!data_) fail(ErrorCode::OOM, "out of ", deviceName(device), " memory allocating ", bytes, " bytes");
  Counters& c = countersFor(device);
  c.buffers.fetch_add(1);
  int64_t now = c.bytes.fetch_add(static_cast<int64_t>(bytes)) + static_cast<int64_t>(bytes);
  int64_t peak = c.peak.load();
  while (now > peak && !c.peak.compare_exchange_weak(peak, now)) {
  }
}

Buffer::~Buffer() {
  allocatorFor(device_)->release(data_, bytes_);
  Counters& c = countersFor(device_);
  c.buffers.fetch_sub(1);
  c.bytes.fetch_sub(static_cast<int64_t>(bytes_));
}

void releaseCachedMemory() { cpuAllocator().releaseCached(); }
size_t cachedMemoryBytes() { return cpuAllocator().cachedBytes(); }
size_t cacheLimitBytes() { return cpuAllocator().limit(); }
void setCacheLimitBytes(size_t bytes) { cpuAllocator().setLimit(bytes); }

MemoryStats memoryStats(Device device) {
  Counters& c = countersFor(device);
  return MemoryStats{c.buffers.load(), c.bytes.load(), c.peak.load()};
}

void resetPeakBytes(Device device) {
  Counters& c = countersFor(device);
  c.peak.store(c.bytes.load());
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  Tensor t;
  t.numel_ = shapeNumel(shape);
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.buffer_ = std::make_shared<Buffer>(device, t.nbytes());
  return t;
}

Tensor Tensor::reshape(const Shape& shape) const {
  int64_t n = shapeNumel(shape);
  DGC_CHECK(n == numel_, Shape, "reshape: cannot view ", describe(), " (", numel_, " elements) as ",
            shapeStr(shape), " (", n, " elements)");
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

std::string Tensor::describe() const {
  return str(dtypeName(dtype_), shapeStr(shape_), " on ", deviceName(device()));
}

}  // namespace dgc
