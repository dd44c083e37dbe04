// CPU backend: the k-means op of the op table, on the kernels of kmeans.cc.
#include <algorithm>

#include "cpu_backend.h"
#include "kmeans.h"

namespace dgc {
namespace cpu {

void CpuBackend::kmeans(const Tensor& x, const KMeansParams& p, Tensor& centers, Tensor& labels, double& inertia,
                        int& iterations) {
  KMeansOptions o;
  o.k = p.k;
  o.nInit = p.nInit;
  o.maxIter = p.maxIter;
  o.tol = p.tol;
  o.seed = p.seed;
  KMeansResult r = cpu::kmeans(x.dim(0), x.dim(1), x.f32(), o);
  std::copy(r.centers.begin(), r.centers.end(), centers.f32());
  std::copy(r.labels.begin(), r.labels.end(), labels.i32());
  inertia = r.inertia;
  iterations = r.iterations;
}

}  // namespace cpu
}  // namespace dgc
