// CPU reductions and row softmax. Sums accumulate in double; every reduction uses fixed chunking and
// combines partials in chunk order, so results do not depend on the thread count.
#include <cmath>
#include <limits>

#include "activation.h"
#include "cpu_backend.h"

namespace dgc {
namespace cpu {

void CpuBackend::rowSum(const Tensor& x, Tensor& out) {
  const int64_t rows = x.dim(0), cols = x.dim(1);
  const float* px = x.f32();
  float* po = out.f32();
  forRange(rows, cols, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      double s = 0.0;
      const float* r = px + i * cols;
      for (int64_t j = 0; j < cols; ++j) s += r[j];
      po[i] = static_cast<float>(s);
    }
  });
}

namespace {
// Column sums of a rows × cols matrix whose row i is `row(i)` (called once per row, in order within a chunk: it
// may compute the row first), with fixed row chunks of a size set by `cols` alone, one partial row of double
// sums per chunk, combined in chunk order: the result does not depend on the thread count.
template <class RowFn>
void columnSums(int64_t rows, int64_t cols, RowFn row, float* out) {
  const int64_t grain = std::max<int64_t>(64, kReduceGrain / std::max<int64_t>(1, cols));
  const int64_t chunks = numChunks(rows, grain);
  std::vector<double> partial(static_cast<size_t>(std::max<int64_t>(1, chunks) * cols), 0.0);
  parallelFor(rows, grain, [&](int64_t b, int64_t e) {
    double* acc = partial.data() + (b / grain) * cols;
    for (int64_t i = b; i < e; ++i) {
      const float* r = row(i);
      for (int64_t j = 0; j < cols; ++j) acc[j] += r[j];
    }
  });
  for (int64_t j = 0; j < cols; ++j) {
    double s = 0.0;
    for (int64_t c = 0; c < chunks; ++c) s += partial[static_cast<size_t>(c * cols + j)];
    out[j] = static_cast<float>(s);
  }
}
}  // namespace

void CpuBackend::colSum(const Tensor& x, Tensor& out) {
  const int64_t cols = x.dim(1);
  const float* px = x.f32();
  columnSums(x.dim(0), cols, [&](int64_t i) { return px + i * cols; }, out.f32());
}

// dx = dy · act'(y) row by row, each row summed into db (colSum's chunks and order) while it is in cache: one
// pass instead of unaryGrad and colSum.
void CpuBackend::activationGrad(Activation act, float param, const Tensor& y, const Tensor& dy, Tensor& dx,
                                Tensor* db) {
  const int64_t cols = y.rank() == 2 ? y.dim(1) : y.numel();
  const int64_t rows = cols > 0 ? y.numel() / cols : 0;
  const float* py = y.f32();
  const float* pg = dy.f32();
  float* po = dx.f32();
  const int code = act == Activation::Relu ? kActRelu : act == Activation::LeakyRelu ? kActLeakyRelu : kActNone;
  withActivation(code, [&](auto tag) {
    constexpr int kAct = decltype(tag)::value;
    auto gradRow = [&](int64_t i) {
      const float* yr = py + i * cols;
      const float* gr = pg + i * cols;
      float* o = po + i * cols;
      const float slope = param;  // a local: `param` behind the reference could alias o[j] and block vectorising
      for (int64_t j = 0; j < cols; ++j) o[j] = activationGradFromOutput<kAct>(yr[j], gr[j], slope);
      return static_cast<const float*>(o);
    };
    if (db) {
      columnSums(rows, cols, gradRow, db->f32());
    } else {
      forRange(rows, cols, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) gradRow(i);
      });
    }
  });
}

void CpuBackend::sumAll(const Tensor& x, Tensor& out) {
  const float* px = x.f32();
  out.f32()[0] = static_cast<float>(deterministicSum(x.numel(), [px](int64_t i) { return double(px[i]); }));
}

void CpuBackend::argmaxRows(const Tensor& x, Tensor& out) {
  const int64_t rows = x.dim(0), cols = x.dim(1);
  const float* px = x.f32();
  int32_t* po = out.i32();
  forRange(rows, cols, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float* r = px + i * cols;
      int64_t best = 0;
      for (int64_t j = 1; j < cols; ++j) {
        if (std::isnan(r[best])) break;  // NaN wins, first NaN kept (as numpy/torch)
        if (r[j] > r[best] || std::isnan(r[j])) best = j;
      }
      po[i] = static_cast<int32_t>(best);
    }
  });
}

// softmax(x)_j = exp(x_j − m) / Σ_k exp(x_k − m) with m = max_k x_k, so no exp overflows;
// log_softmax(x)_j = x_j − m − log Σ_k exp(x_k − m).
void CpuBackend::softmaxRows(const Tensor& x, bool log, Tensor& out) {
  const int64_t rows = x.dim(0), cols = x.dim(1);
  const float* px = x.f32();
  float* po = out.f32();
  forRange(rows, 20 * cols, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float* r = px + i * cols;
      float* o = po + i * cols;
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < cols; ++j) m = std::max(m, r[j]);
      if (std::isinf(m) && m < 0) m = 0.0f;  // a row of -inf: avoid (-inf) - (-inf)
      double s = 0.0;
      if (log) {
        for (int64_t j = 0; j < cols; ++j) s += std::exp(r[j] - m);
        // (x_j − m) − log s, not x_j − (m + log s): for a large m, m + log s rounds log s away.
        const float logSum = static_cast<float>(std::log(s));
        for (int64_t j = 0; j < cols; ++j) o[j] = (r[j] - m) - logSum;
      } else {
        for (int64_t j = 0; j < cols; ++j) {
          o[j] = std::exp(r[j] - m);
          s += o[j];
        }
        const float inv = static_cast<float>(1.0 / s);
        for (int64_t j = 0; j < cols; ++j) o[j] *= inv;
      }
    }
  });
}

// softmax:     dx_j = y_j (dy_j − Σ_k dy_k y_k)
// log_softmax: dx_j = dy_j − exp(y_j) Σ_k dy_k
void CpuBackend::softmaxRowsGrad(const Tensor& y, const Tensor& dy, bool log, Tensor& dx) {
  const int64_t rows = y.dim(0), cols = y.dim(1);
  const float* py = y.f32();
  const float* pg = dy.f32();
  float* po = dx.f32();
  forRange(rows, 4 * cols, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float* yr = py + i * cols;
      const float* gr = pg + i * cols;
      float* o = po + i * cols;
      double s = 0.0;
      if (log) {
        for (int64_t j = 0; j < cols; ++j) s += gr[j];
        const float sf = static_cast<float>(s);
        for (int64_t j = 0; j < cols; ++j) o[j] = gr[j] - std::exp(yr[j]) * sf;
      } else {
        for (int64_t j = 0; j < cols; ++j) s += double(gr[j]) * yr[j];
        const float sf = static_cast<float>(s);
        for (int64_t j = 0; j < cols; ++j) o[j] = yr[j] * (gr[j] - sf);
      }
    }
  });
}

}  // namespace cpu
}  // namespace dgc
