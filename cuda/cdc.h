// CDC's ops on the GPU (cuda/cdc.cu): Keras's clipped row KL and the pairwise KL in every variant. Same contract as
// the other fused families (cuda/fused.h): one free function per Backend method, enqueued on dgc::cuda::stream(),
// results in device memory, no synchronisation, no floating-point atomics. Semantics: native/core/backend.h and
// native/cpu/cdc.h; the numerics are the CPU's in double, with warp/block trees instead of sequential sums
// (results differ from the CPU's in rounding only).
#pragma once
#include "../native/core/tensor.h"

namespace dgc {
namespace cuda {

void rowKlClipped(const Tensor& a, const Tensor& b, double scale, Tensor& loss, Tensor* da, Tensor* db);
void cdcPairLoss(const Tensor& ya, const Tensor& yb, double nu, double scale, bool global, bool sharpen, Tensor& loss,
                 Tensor* dya, Tensor* dyb);

}  // namespace cuda
}  // namespace dgc
