// CPU backend: the kNN-graph op of the op table, on the kernels of knn.cc.
#include "cpu_backend.h"
#include "knn.h"

namespace dgc {
namespace cpu {

void CpuBackend::knnGraph(const Tensor& x, int64_t k, int metric, bool sdcnOrder, Tensor& neighbors) {
  if (sdcnOrder) {
    cpu::knnGraphSdcnOrder(x.dim(0), x.dim(1), x.f32(), k, neighbors.i32());
    return;
  }
  const KnnMetric m = metric == 1 ? KnnMetric::Cosine : metric == 2 ? KnnMetric::Dot : KnnMetric::Heat;
  cpu::knnGraph(x.dim(0), x.dim(1), x.f32(), k, m, neighbors.i32());
}

}  // namespace cpu
}  // namespace dgc
