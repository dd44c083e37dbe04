// CPU random numbers from the counter-based Philox generator (core/philox.h): element i depends only on
// (seed, stream, i), so results are the same for any thread count and on the CUDA backend.
#include "../core/philox.h"
#include "cpu_backend.h"

namespace dgc {
namespace cpu {

void CpuBackend::randomUniform(Tensor& out, float low, float high, uint64_t seed, uint64_t stream) {
  float* po = out.f32();
  forRange(out.numel(), 40, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) po[i] = uniformInRange(philoxUniform(uint64_t(i), stream, seed), low, high);
  });
}

void CpuBackend::randomNormal(Tensor& out, float mean, float std, uint64_t seed, uint64_t stream) {
  float* po = out.f32();
  forRange(out.numel(), 80, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) po[i] = mean + std * philoxNormal(uint64_t(i), stream, seed);
  });
}

}  // namespace cpu
}  // namespace dgc
