// CPU backend: the attention ops of the op table, on the kernels of attention.cc.
#include "attention.h"
#include "cpu_backend.h"

namespace dgc {
namespace cpu {

void CpuBackend::attentionForward(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, float scale,
                                  Tensor& out, Tensor& lse) {
  cpu::attentionForward(q.dim(0), k.dim(0), heads, q.dim(1) / heads, v.dim(1) / heads, scale, q.f32(), k.f32(),
                        v.f32(), out.f32(), lse.f32());
}

void CpuBackend::attentionBackward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                   const Tensor& lse, const Tensor& dout, int64_t heads, float scale, Tensor& dq,
                                   Tensor& dk, Tensor& dv) {
  cpu::attentionBackward(q.dim(0), k.dim(0), heads, q.dim(1) / heads, v.dim(1) / heads, scale, q.f32(), k.f32(),
                         v.f32(), out.f32(), lse.f32(), dout.f32(), dq.f32(), dk.f32(), dv.f32());
}

void CpuBackend::selfCorrelationForward(const Tensor& z, Tensor& out, Tensor& lse) {
  cpu::selfCorrelationForward(z.dim(0), z.dim(1), z.f32(), out.f32(), lse.f32());
}

void CpuBackend::selfCorrelationBackward(const Tensor& z, const Tensor& out, const Tensor& lse, const Tensor& dout,
                                         Tensor& dz) {
  cpu::selfCorrelationBackward(z.dim(0), z.dim(1), z.f32(), out.f32(), lse.f32(), dout.f32(), dz.f32());
}

}  // namespace cpu
}  // namespace dgc
