// The differentiable ops: each runs one native op and, when an input requires grad, records its backward.
// Backward rules are written next to each forward, with the formula they implement.
import { native } from './native';
import { isRecording, record } from './autograd/tape';
import { isFloat32Array, isInt32Array } from './util/typed';
import { DgcError, Device, DType, Tensor, wrap } from './tensor';
import type { ActivationName, NativeCsr, UnaryName } from '../types/native';

export type { ActivationName };

// ---- creation -----------------------------------------------------------------------------------------

export interface TensorOptions {
  dtype?: DType;
  device?: Device;
}

/** A tensor from a typed array or (nested) number array. Shape defaults to the data's own. */
export function tensor(
  data: Float32Array | Int32Array | ArrayLike<number> | ArrayLike<ArrayLike<number>>,
  shape?: readonly number[],
  options: TensorOptions = {},
): Tensor {
  let flat: Float32Array | Int32Array;
  let inferred: number[];
  if (isFloat32Array(data) || isInt32Array(data)) {
    const dtype = options.dtype ?? (isInt32Array(data) ? 'int32' : 'float32');
    flat = isFloat32Array(data) === (dtype === 'float32') ? data : dtype === 'float32' ? Float32Array.from(data) : Int32Array.from(data);
    inferred = [data.length];
  } else {
    const rows = Array.from(data as ArrayLike<number | ArrayLike<number>>);
    const nested = rows.length > 0 && typeof rows[0] === 'object';
    const dtype = options.dtype ?? 'float32';
    const Ctor = dtype === 'float32' ? Float32Array : Int32Array;
    if (nested) {
      const width = (rows[0] as ArrayLike<number>).length;
      flat = new Ctor(rows.length * width);
      rows.forEach((r, i) => {
        const row = r as ArrayLike<number>;
        if (typeof row !== 'object' || row.length !== width) {
          throw new DgcError('DGC_SHAPE', `tensor: row ${i} has ${typeof row === 'object' ? row.length : 'no'} entries, row 0 has ${width}`);
        }
        for (let j = 0; j < width; j++) flat[i * width + j] = row[j];
      });
      inferred = [rows.length, width];
    } else {
      flat = Ctor.from(rows as number[]);
      inferred = [rows.length];
    }
  }
  return wrap(native.fromTypedArray(flat, (shape ?? inferred).slice(), options.device));
}

export function scalar(value: number, options: TensorOptions = {}): Tensor {
  return full([], value, options);
}

export function full(shape: readonly number[], value: number, options: TensorOptions = {}): Tensor {
  return wrap(native.full(shape.slice(), value, options.dtype ?? 'float32', options.device));
}

export function zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return full(shape, 1, options);
}

/** A copy that does not take part in autograd. */
export function detach(x: Tensor): Tensor {
  return wrap(native.clone(x.handle));
}

/** Above this fraction of nonzero entries a product from the nonzeros is no faster than the dense one (bench/sparse-inputs.ts: break-even ~27–30%). */
export const ROW_SPARSE_MAX_DENSITY = 0.25;

/**
 * Declares x a constant input (node features, ÂX) and, when at most `maxDensity` of its entries are nonzero, lets the
 * CPU products that read it skip its zeros: the index of its nonzeros is kept with it, and matmul / linear compute
 * from it, with the dense product's values bit for bit (a bag-of-words first layer then costs its nonzeros, not
 * N·d·h). x must not be written in place afterwards (the native layer refuses it). On other devices, or denser
 * inputs, nothing changes. Returns the density found and whether the index is attached.
 */
export function attachRowSparse(x: Tensor, maxDensity = ROW_SPARSE_MAX_DENSITY): { density: number; attached: boolean } {
  // DGCLUST_SPARSE_INPUTS=0 leaves every input dense (density not measured): for comparisons (bench/sparse-inputs.ts).
  if (process.env.DGCLUST_SPARSE_INPUTS === '0') return { density: Number.NaN, attached: false };
  const r = native.attachRowSparse(x.handle, maxDensity);
  return { density: r.density, attached: r.attached };
}

export function clone(x: Tensor): Tensor {
  return record(wrap(native.clone(x.handle)), 'clone', [x], (g) => [wrap(native.clone(g.handle))]);
}

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const from = x.shape.slice();
  return record(wrap(native.reshape(x.handle, shape.slice())), 'reshape', [x], (g) => [wrap(native.reshape(g.handle, from))]);
}

/** The same values on another device (a copy). */
export function to(x: Tensor, device: Device): Tensor {
  const from = x.device;
  return record(wrap(native.to(x.handle, device)), 'to', [x], (g) => [wrap(native.to(g.handle, from))]);
}

// ---- linear algebra -----------------------------------------------------------------------------------

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/**
 * C = op(A) · op(B). Backward, with G = dC:
 *   NN: dA = G Bᵀ,   dB = Aᵀ G        TN: dA = B Gᵀ,   dB = A G
 *   NT: dA = G B,    dB = Gᵀ A        TT: dA = Bᵀ Gᵀ,  dB = Gᵀ Aᵀ
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const ta = options.transA ?? false;
  const tb = options.transB ?? false;
  const out = wrap(native.matmul(a.handle, b.handle, ta, tb));
  return record(out, 'matmul', [a, b], (g) => {
    const G = g.handle;
    const A = a.handle;
    const B = b.handle;
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (a.requiresGrad) {
      da = wrap(
        !ta ? (!tb ? native.matmul(G, B, false, true) : native.matmul(G, B, false, false))
          : !tb ? native.matmul(B, G, false, true) : native.matmul(B, G, true, true),
      );
    }
    if (b.requiresGrad) {
      db = wrap(
        !tb ? (!ta ? native.matmul(A, G, true, false) : native.matmul(A, G, false, false))
          : !ta ? native.matmul(G, A, true, false) : native.matmul(G, A, true, true),
      );
    }
    return [da, db];
  });
}

export function transpose(x: Tensor): Tensor {
  return record(wrap(native.transpose(x.handle)), 'transpose', [x], (g) => [wrap(native.transpose(g.handle))]);
}

export interface ActivationOptions {
  /** Applied to the result in the same pass ('none' by default). */
  activation?: ActivationName;
  /** Slope of 'leakyRelu' for negative inputs (default 0.01, as leakyRelu); must be ≥ 0. */
  slope?: number;
}

/**
 * Sparse × dense: A·H, or Aᵀ·H with `transpose`; with an activation, act(A·H) computed in one pass (a GCN
 * layer's propagate-then-activate), the same values as `relu(spmm(a, h))` without the pre-activation tensor.
 * Backward: dH = Aᵀ·G (resp. A·G), G = dY·act'(Y) taken from the output Y.
 */
export function spmm(a: { readonly handle: NativeCsr }, h: Tensor, transpose = false, options: ActivationOptions = {}): Tensor {
  const act = options.activation ?? 'none';
  if (act === 'none') {
    const out = wrap(native.spmm(a.handle, h.handle, transpose));
    return record(out, 'spmm', [h], (g) => [wrap(native.spmm(a.handle, g.handle, !transpose))]);
  }
  const slope = options.slope ?? 0.01;
  const out = wrap(native.spmm(a.handle, h.handle, transpose, act, slope));
  return record(out, 'spmm', [h], (g) => {
    const [pre] = native.activationGrad(act, out.handle, g.handle, slope, false);
    try {
      return [wrap(native.spmm(a.handle, pre, !transpose))];
    } finally {
      pre.dispose();
    }
  });
}

export interface LinearOpOptions extends ActivationOptions {
  transA?: boolean;
  transB?: boolean;
}

/**
 * A layer's affine map and activation in one native op: act(op(x)·op(w) + bias), bias (one value per output
 * column) optional — e.g. nn.Linear + ReLU is `linear(x, W, b, { transB: true, activation: 'relu' })`. The bias and
 * the activation run in the product's epilogue (CPU) while each block of the output is in cache: the same values
 * as `relu(biasAdd(matmul(x, w, …), b))` without the two intermediate tensors and their passes. Backward, from the
 * output Y only: P = dY·act'(Y) and db = Σ_rows P in one pass, then matmul's rule with P (dx = P·op(w)ᵀ …).
 */
export function linear(x: Tensor, w: Tensor, bias: Tensor | null, options: LinearOpOptions = {}): Tensor {
  const ta = options.transA ?? false;
  const tb = options.transB ?? false;
  const act = options.activation ?? 'none';
  const slope = options.slope ?? 0.01;
  const out = wrap(native.matmulBiasAct(x.handle, w.handle, ta, tb, bias ? bias.handle : null, act, slope));
  const inputs = bias ? [x, w, bias] : [x, w];
  return record(out, 'linear', inputs, (g) => {
    const wantBias = bias?.requiresGrad ?? false;
    let pre = g.handle;
    let db: Tensor | null = null;
    if (act === 'none') {
      if (wantBias) db = wrap(native.colSum(g.handle));
    } else {
      const [p, dbh] = native.activationGrad(act, out.handle, g.handle, slope, wantBias);
      pre = p;
      db = dbh ? wrap(dbh) : null;
    }
    try {
      const X = x.handle;
      const W = w.handle;
      const dx = !x.requiresGrad ? null : wrap(
        !ta ? (!tb ? native.matmul(pre, W, false, true) : native.matmul(pre, W, false, false))
          : !tb ? native.matmul(W, pre, false, true) : native.matmul(W, pre, true, true),
      );
      const dw = !w.requiresGrad ? null : wrap(
        !tb ? (!ta ? native.matmul(X, pre, true, false) : native.matmul(X, pre, false, false))
          : !ta ? native.matmul(pre, X, true, false) : native.matmul(pre, X, true, true),
      );
      return bias ? [dx, dw, db] : [dx, dw];
    } finally {
      if (pre !== g.handle) pre.dispose();
    }
  });
}

// ---- elementwise --------------------------------------------------------------------------------------

export function add(a: Tensor, b: Tensor): Tensor {
  return record(wrap(native.binary('add', a.handle, b.handle)), 'add', [a, b], (g) => [g, g]);
}

export function sub(a: Tensor, b: Tensor): Tensor {
  return record(wrap(native.binary('sub', a.handle, b.handle)), 'sub', [a, b], (g) => [
    a.requiresGrad ? g : null,
    b.requiresGrad ? wrap(native.affine(g.handle, -1, 0)) : null,
  ]);
}

/** Elementwise product. d(a∘b) = (g∘b, g∘a). */
export function mul(a: Tensor, b: Tensor): Tensor {
  return record(wrap(native.binary('mul', a.handle, b.handle)), 'mul', [a, b], (g) => [
    a.requiresGrad ? wrap(native.binary('mul', g.handle, b.handle)) : null,
    b.requiresGrad ? wrap(native.binary('mul', g.handle, a.handle)) : null,
  ]);
}

/** Elementwise quotient. d(a/b) = (g/b, −g·a/b²). */
export function div(a: Tensor, b: Tensor): Tensor {
  const out = wrap(native.binary('div', a.handle, b.handle));
  return record(out, 'div', [a, b], (g) => {
    const da = a.requiresGrad ? wrap(native.binary('div', g.handle, b.handle)) : null;
    let db: Tensor | null = null;
    if (b.requiresGrad) {
      const q = native.binary('div', out.handle, b.handle); // a/b²
      const t = native.binary('mul', g.handle, q);
      db = wrap(native.affine(t, -1, 0));
      q.dispose();
      t.dispose();
    }
    return [da, db];
  });
}

/** alpha·x + beta. */
export function affine(x: Tensor, alpha: number, beta = 0): Tensor {
  return record(wrap(native.affine(x.handle, alpha, beta)), 'affine', [x], (g) => [wrap(native.affine(g.handle, alpha, 0))]);
}

export function scale(x: Tensor, alpha: number): Tensor {
  return affine(x, alpha, 0);
}

export function neg(x: Tensor): Tensor {
  return affine(x, -1, 0);
}

/** alpha·a + beta·b. Backward: (alpha·g, beta·g); one tensor serves both when alpha = beta (SDCN's σ = 0.5 mix). */
export function axpby(alpha: number, a: Tensor, beta: number, b: Tensor): Tensor {
  return record(wrap(native.axpby(alpha, a.handle, beta, b.handle)), 'axpby', [a, b], (g) => {
    if (alpha === beta && a.requiresGrad && b.requiresGrad) {
      const both = wrap(native.affine(g.handle, alpha, 0));
      return [both, both];
    }
    return [
      a.requiresGrad ? wrap(native.affine(g.handle, alpha, 0)) : null,
      b.requiresGrad ? wrap(native.affine(g.handle, beta, 0)) : null,
    ];
  });
}

/** x · s for a one-element tensor s. ds = Σ x∘g. */
export function mulScalar(x: Tensor, s: Tensor): Tensor {
  return record(wrap(native.mulScalar(x.handle, s.handle)), 'mulScalar', [x, s], (g) => {
    const dx = x.requiresGrad ? wrap(native.mulScalar(g.handle, s.handle)) : null;
    let ds: Tensor | null = null;
    if (s.requiresGrad) {
      const p = native.binary('mul', x.handle, g.handle);
      const total = native.sumAll(p);
      ds = wrap(native.reshape(total, s.shape.slice()));
      p.dispose();
      total.dispose();
    }
    return [dx, ds];
  });
}

/** x[n×d] + b[d] on every row. db = Σ_rows g. */
export function biasAdd(x: Tensor, b: Tensor): Tensor {
  return record(wrap(native.addRowVector(x.handle, b.handle)), 'biasAdd', [x, b], (g) => [
    x.requiresGrad ? g : null,
    b.requiresGrad ? wrap(native.colSum(g.handle)) : null,
  ]);
}

/** x[n×d] ∘ v[d] (column scaling). dx = g∘v, dv = Σ_rows x∘g. */
export function mulRowVector(x: Tensor, v: Tensor): Tensor {
  return record(wrap(native.mulRowVector(x.handle, v.handle)), 'mulRowVector', [x, v], (g) => {
    const dx = x.requiresGrad ? wrap(native.mulRowVector(g.handle, v.handle)) : null;
    let dv: Tensor | null = null;
    if (v.requiresGrad) {
      const p = native.binary('mul', x.handle, g.handle);
      dv = wrap(native.colSum(p));
      p.dispose();
    }
    return [dx, dv];
  });
}

/** x[n×d] ∘ v[n] (row scaling). dx = g∘v, dv = Σ_cols x∘g. */
export function mulColVector(x: Tensor, v: Tensor): Tensor {
  return record(wrap(native.mulColVector(x.handle, v.handle)), 'mulColVector', [x, v], (g) => {
    const dx = x.requiresGrad ? wrap(native.mulColVector(g.handle, v.handle)) : null;
    let dv: Tensor | null = null;
    if (v.requiresGrad) {
      const p = native.binary('mul', x.handle, g.handle);
      dv = wrap(native.rowSum(p));
      p.dispose();
    }
    return [dx, dv];
  });
}

function unary(name: UnaryName, x: Tensor, param = 0): Tensor {
  const out = wrap(native.unary(name, x.handle, param));
  const usesOutput = name === 'tanh' || name === 'sigmoid' || name === 'exp';
  return record(out, name, [x], (g) => [wrap(native.unaryGrad(name, (usesOutput ? out : x).handle, g.handle, param))]);
}

export const relu = (x: Tensor): Tensor => unary('relu', x);
/** x > 0 ? x : slope·x (PyTorch's default slope is 0.01; DFCN uses 0.2). */
export const leakyRelu = (x: Tensor, slope = 0.01): Tensor => unary('leakyRelu', x, slope);
export const tanh = (x: Tensor): Tensor => unary('tanh', x);
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x);
export const exp = (x: Tensor): Tensor => unary('exp', x);
export const log = (x: Tensor): Tensor => unary('log', x);
export const square = (x: Tensor): Tensor => unary('square', x);

// ---- reductions and softmax ---------------------------------------------------------------------------

/** Row sums, shape [n]. dx[i,j] = g[i]. */
export function rowSum(x: Tensor): Tensor {
  const cols = x.shape[1];
  return record(wrap(native.rowSum(x.handle)), 'rowSum', [x], (g) => [wrap(native.expandCols(g.handle, cols))]);
}

/** Column sums, shape [d]. dx[i,j] = g[j]. */
export function colSum(x: Tensor): Tensor {
  const rows = x.shape[0];
  return record(wrap(native.colSum(x.handle)), 'colSum', [x], (g) => [wrap(native.expandRows(g.handle, rows))]);
}

/** Sum of all elements, shape []. */
export function sum(x: Tensor): Tensor {
  const shape = x.shape.slice();
  return record(wrap(native.sumAll(x.handle)), 'sum', [x], (g) => [wrap(native.expandScalar(g.handle, shape))]);
}

/** Mean of all elements, shape []. */
export function mean(x: Tensor): Tensor {
  const n = x.size;
  if (n === 0) throw new DgcError('DGC_SHAPE', 'mean: the tensor is empty');
  const shape = x.shape.slice();
  const s = native.sumAll(x.handle);
  const out = wrap(native.affine(s, 1 / n, 0));
  s.dispose();
  return record(out, 'mean', [x], (g) => {
    const gs = native.affine(g.handle, 1 / n, 0);
    const dx = wrap(native.expandScalar(gs, shape));
    gs.dispose();
    return [dx];
  });
}

/** Index of the largest entry of each row (int32 [n]). Not differentiable. */
export function argmaxRows(x: Tensor): Tensor {
  return wrap(native.argmaxRows(x.handle));
}

/** Row softmax. dx = y∘(g − Σ_j g∘y). */
export function softmax(x: Tensor): Tensor {
  const out = wrap(native.softmaxRows(x.handle, false));
  return record(out, 'softmax', [x], (g) => [wrap(native.softmaxRowsGrad(out.handle, g.handle, false))]);
}

/** Row log-softmax. dx = g − exp(y)·Σ_j g. */
export function logSoftmax(x: Tensor): Tensor {
  const out = wrap(native.softmaxRows(x.handle, true));
  return record(out, 'logSoftmax', [x], (g) => [wrap(native.softmaxRowsGrad(out.handle, g.handle, true))]);
}

// ---- shape and indexing -------------------------------------------------------------------------------

/** [x₁ | x₂ | …] along columns. Backward: the matching column slices of g. */
export function concatCols(xs: readonly Tensor[]): Tensor {
  const out = wrap(native.concatCols(xs.map((x) => x.handle)));
  return record(out, 'concatCols', xs, (g) => {
    let start = 0;
    return xs.map((x) => {
      const w = x.shape[1];
      const s = x.requiresGrad ? wrap(native.sliceCols(g.handle, start, start + w)) : null;
      start += w;
      return s;
    });
  });
}

/** Columns [start, end) of x. Backward: g placed in those columns of a zero matrix. */
export function sliceCols(x: Tensor, start: number, end: number): Tensor {
  const cols = x.shape[1];
  return record(wrap(native.sliceCols(x.handle, start, end)), 'sliceCols', [x], (g) => [wrap(native.padCols(g.handle, start, cols))]);
}

/** Rows idx[0], idx[1], … of x (idx int32 [m]). Backward: scatter-add of g into x's rows. */
export function gatherRows(x: Tensor, idx: Tensor): Tensor {
  const rows = x.shape[0];
  return record(wrap(native.gatherRows(x.handle, idx.handle)), 'gatherRows', [x], (g) => [wrap(native.scatterAddRows(g.handle, idx.handle, rows))]);
}

// ---- losses -------------------------------------------------------------------------------------------

/** mean((a − b)²). da = 2(a − b)·g/n, db = −da. */
export function mse(a: Tensor, b: Tensor): Tensor {
  return record(wrap(native.mse(a.handle, b.handle)), 'mse', [a, b], (g) => {
    const da = native.mseGrad(a.handle, b.handle, g.handle);
    const db = b.requiresGrad ? wrap(native.affine(da, -1, 0)) : null;
    if (a.requiresGrad) return [wrap(da), db];
    da.dispose();
    return [null, db];
  });
}

/** mean(BCE(σ(logits), target)), stable. dlogits = (σ(x) − t)·g/n; dtarget = −x·g/n. */
export function bceWithLogits(logits: Tensor, target: Tensor): Tensor {
  const n = logits.size;
  return record(wrap(native.bceWithLogits(logits.handle, target.handle)), 'bceWithLogits', [logits, target], (g) => {
    const dl = logits.requiresGrad ? wrap(native.bceWithLogitsGrad(logits.handle, target.handle, g.handle)) : null;
    let dt: Tensor | null = null;
    if (target.requiresGrad) {
      const gx = native.mulScalar(logits.handle, g.handle);
      dt = wrap(native.affine(gx, -1 / n, 0));
      gx.dispose();
    }
    return [dl, dt];
  });
}

// ---- attention ----------------------------------------------------------------------------------------
// Flash-style kernels: the n×m attention matrix is never stored, forward or backward (native/cpu/attention.h).

/**
 * DFCN's self-correlation Z_G = softmax_rows(Z Zᵀ) Z (SAIF steps ③–④, no 1/√d scaling). Memory O(n·d).
 * Backward: that of single-head self-attention with q = k = v = z (native/cpu/attention.h).
 */
export function selfCorrelation(z: Tensor): Tensor {
  const [outH, lseH] = native.selfCorrelation(z.handle);
  const out = wrap(outH);
  const lse = wrap(lseH);
  return record(out, 'selfCorrelation', [z], (g) => [wrap(native.selfCorrelationBackward(z.handle, out.handle, lse.handle, g.handle))], [lse]);
}

export interface AttentionOptions {
  /** Number of heads: q and k split into column blocks of width dk, v into blocks of width dv. Default 1. */
  heads?: number;
  /** Multiplies the logits. Default 1/√dk (CaEGCN: 1/√e). */
  scale?: number;
}

/** Multi-head attention over all rows: per head, softmax_rows(scale · Q_h K_hᵀ) V_h. Memory O((n + m)·d). */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const heads = options.heads ?? 1;
  const scale = options.scale ?? 1 / Math.sqrt(Math.max(1, q.shape[1] / heads));
  const [outH, lseH] = native.attention(q.handle, k.handle, v.handle, heads, scale);
  const out = wrap(outH);
  const lse = wrap(lseH);
  return record(out, 'attention', [q, k, v], (g) => native.attentionBackward(q.handle, k.handle, v.handle, out.handle, lse.handle, g.handle, heads, scale).map(wrap), [lse]);
}

// ---- graph reconstruction losses -----------------------------------------------------------------------
// Tiled σ(Z Zᵀ) against a sparse target: the dense n×n reconstruction is never formed (native/cpu/recon.h).

/**
 * DFCN's adjacency reconstruction L_a (the official code's form, train.py): mean over all n² pairs of
 * (σ(z1_i·z1_j) + σ(z2_i·z2_j) − a_ij)², or (σ(z1_i·z1_j) − a_ij)² without z2. `a` is typically the row-normalized
 * Â (not symmetric). Gradients to z1 and z2 fused into the forward pass.
 */
export function gramSigmoidMse(a: { readonly handle: NativeCsr }, z1: Tensor, z2?: Tensor): Tensor {
  const inputs = z2 ? [z1, z2] : [z1];
  return fusedLoss('gramSigmoidMse', inputs, (want) => {
    const r = native.gramSigmoidMseLoss(a.handle, z1.handle, z2 ? z2.handle : null, want);
    const grads = r.dzs.map((d) => (d ? wrap(d) : null));
    return { loss: wrap(r.loss), grads: z2 ? grads : [grads[0]] };
  });
}

/**
 * CaEGCN's graph reconstruction (the official code's F.binary_cross_entropy): mean over all n² pairs of
 * BCE(σ(z_i·z_j), t_ij), t sparse with values in [0, 1] (absent entries are 0), PyTorch's BCELoss semantics (log
 * clamped at −100).
 */
export function gramSigmoidBce(t: { readonly handle: NativeCsr }, z: Tensor): Tensor {
  return fusedLoss('gramSigmoidBce', [z], (want) => {
    const r = native.gramSigmoidBceLoss(t.handle, z.handle, want);
    return { loss: wrap(r.loss), grads: [r.dzs[0] ? wrap(r.dzs[0]) : null] };
  });
}

// ---- clustering head ----------------------------------------------------------------------------------
// Formulas, gradients and their sources (paper equations, official codes): native/cpu/cluster.h.

/**
 * Student-t soft assignment Q (n×k) of the rows of z (n×d) to the centres mu (k×d):
 * q_ij ∝ (1 + ‖z_i − μ_j‖²/ν)^(−(ν+1)/2), rows summing to 1. Differentiable in z and mu.
 */
export function studentT(z: Tensor, mu: Tensor, nu = 1): Tensor {
  const q = wrap(native.studentT(z.handle, mu.handle, nu));
  return record(q, 'studentT', [z, mu], (g) => {
    const [dz, dmu] = native.studentTBackward(z.handle, mu.handle, nu, q.handle, g.handle, z.requiresGrad, mu.requiresGrad);
    return [dz ? wrap(dz) : null, dmu ? wrap(dmu) : null];
  });
}

/** The DEC target distribution P of Q: p_ij ∝ q_ij² / Σ_i q_ij. A constant target: not differentiated. */
export function targetDistribution(q: Tensor): Tensor {
  return wrap(native.targetDistribution(q.handle));
}

export interface ClusterLossOptions {
  /** Student-t degrees of freedom ν (default 1). */
  nu?: number;
  /** Multiplies the loss (λ in the papers). Default 1. */
  weight?: number;
}

/**
 * A fused loss whose native kernel returns the gradients with the value: when recording, they are kept and
 * scaled by the upstream gradient in backward (no second pass).
 */
function fusedLoss(
  name: string,
  inputs: Tensor[],
  run: (wantGrads: boolean) => { loss: Tensor; grads: (Tensor | null)[] },
): Tensor {
  const want = isRecordingFor(inputs);
  const { loss, grads } = run(want);
  const saved = grads.filter((g): g is Tensor => g !== null);
  return record(loss, name, inputs, (g) => grads.map((d) => (d ? wrap(native.mulScalar(d.handle, g.handle)) : null)), saved);
}

function isRecordingFor(inputs: Tensor[]): boolean {
  return isRecording() && inputs.some((t) => t.requiresGrad);
}

/**
 * weight · KL(P‖Q) with batchmean reduction, Q = studentT(z, mu, ν), P constant (rows summing to 1):
 * (weight/n) Σ_ij p_ij log(p_ij/q_ij). With three embeddings [z̃, z_ae, z_igae], DFCN's triplet form: the mean of
 * the three KLs (the official code's L_KL, train.py; λ = 10 as weight). Gradients to every z and to mu are fused
 * into the forward pass.
 */
export function klStudentT(z: Tensor | readonly Tensor[], mu: Tensor, p: Tensor, options: ClusterLossOptions = {}): Tensor {
  const zs = Array.isArray(z) ? (z as readonly Tensor[]) : [z as Tensor];
  const n = zs[0]?.shape[0] ?? 0;
  const scale = (options.weight ?? 1) / Math.max(1, n);
  return fusedLoss('klStudentT', [...zs, mu], (want) => {
    const r = native.klStudentT(zs.map((t) => t.handle), mu.handle, options.nu ?? 1, p.handle, scale, want);
    return { loss: wrap(r.loss), grads: [...r.dzs.map((d) => (d ? wrap(d) : null)), r.dmu ? wrap(r.dmu) : null] };
  });
}

/**
 * The clustering loss of one training step of DEC/SDCN/AGCN/CaEGCN/DFCN in a single native call:
 * Q = studentT(z[0], mu, ν), P = targetDistribution(Q) (a constant: no gradient flows through it), and
 * weight · KL(P‖Q) as `klStudentT` — with three embeddings [z̃, z_ae, z_igae], DFCN's triplet form against the P of
 * z̃. Returns the differentiable loss (gradients to every z and to mu fused) and Q and P themselves (constants),
 * e.g. for the predictions argmax Q. P is computed from Q in double before rounding, so it may differ from
 * `targetDistribution(q)` in the last bit.
 */
export function klStudentTSelf(z: Tensor | readonly Tensor[], mu: Tensor, options: ClusterLossOptions = {}): { loss: Tensor; q: Tensor; p: Tensor } {
  const zs = Array.isArray(z) ? (z as readonly Tensor[]) : [z as Tensor];
  const n = zs[0]?.shape[0] ?? 0;
  const scale = (options.weight ?? 1) / Math.max(1, n);
  const inputs = [...zs, mu];
  const r = native.klStudentTSelf(zs.map((t) => t.handle), mu.handle, options.nu ?? 1, scale, isRecordingFor(inputs));
  const loss = fusedLoss('klStudentTSelf', inputs, () => ({
    loss: wrap(r.loss),
    grads: [...r.dzs.map((d) => (d ? wrap(d) : null)), r.dmu ? wrap(r.dmu) : null],
  }));
  return { loss, q: wrap(r.q), p: wrap(r.p) };
}

/**
 * DCCF's focal loss with hard pseudo-labels c_i = argmax_j p_ij: (weight/n) Σ_i −(1 − q_{i,c_i})^γ log q_{i,c_i},
 * q clamped to [1e-7, 1] (DCCF Eqs. 11–12; the clamp is a guard, not in the paper). Gradients to z and mu fused.
 */
export function focalStudentT(z: Tensor, mu: Tensor, p: Tensor, options: ClusterLossOptions & { gamma?: number } = {}): Tensor {
  const scale = (options.weight ?? 1) / Math.max(1, z.shape[0]);
  return fusedLoss('focalStudentT', [z, mu], (want) => {
    const r = native.focalStudentT(z.handle, mu.handle, options.nu ?? 1, p.handle, options.gamma ?? 2, scale, want);
    return { loss: wrap(r.loss), grads: [r.dzs[0] ? wrap(r.dzs[0]) : null, r.dmu ? wrap(r.dmu) : null] };
  });
}

export interface ContractivePenaltyOptions {
  /** Multiplies Σ_s ‖J_s‖²_F (DCCF: λ/m with λ = 1e-7 and m the batch size). Default 1. */
  scale?: number;
  /**
   * How the exact value is computed: 'direct' forms J on m·d′ rows; 'gram' uses ‖J‖²_F = trace(J Jᵀ) with W_1 W_1ᵀ
   * (cheaper when the first hidden width is below the input width); 'auto' picks the cheaper. Default 'auto'.
   */
  form?: 'auto' | 'direct' | 'gram';
  /** The batch size m when the encoder has no hidden layer (otherwise taken from `hidden`). */
  rows?: number;
}

const JACOBIAN_FORMS = { auto: 0, direct: 1, gram: 2 } as const;

/**
 * DCCF's contractive penalty (Eq. 6) through a whole ReLU MLP encoder: scale · Σ_s ‖J_s‖²_F with
 * J_s = W_L Φ_{L−1} W_{L−1} ⋯ Φ_1 W_1 the exact Jacobian of the (linear) embedding with respect to the input of
 * sample s, Φ_l = diag(1[h_l(s) > 0]). `weights` are the encoder's W_1 … W_L ([out, in], as Linear stores them);
 * `hidden` its L − 1 hidden ReLU activations for the batch (m × n_l; only their signs are used, and they get no
 * gradient: the masks' derivative is zero almost everywhere). One native call computes the value and every
 * weight gradient (the biases get none). Never forms a d × d′ Jacobian per sample in the 'gram' form.
 */
export function contractivePenalty(weights: readonly Tensor[], hidden: readonly Tensor[], options: ContractivePenaltyOptions = {}): Tensor {
  const rows = hidden[0]?.shape[0] ?? options.rows ?? 0;
  const form = options.form ?? 'auto';
  if (!(form in JACOBIAN_FORMS)) throw new DgcError('DGC_ARG', `contractivePenalty: form must be auto, direct or gram, got ${JSON.stringify(form)}`);
  return fusedLoss('contractivePenalty', [...weights], (want) => {
    const r = native.contractivePenalty(weights.map((w) => w.handle), hidden.map((h) => h.handle), rows, options.scale ?? 1,
      JACOBIAN_FORMS[form], want);
    return { loss: wrap(r.loss), grads: r.dzs.map((d) => (d ? wrap(d) : null)) };
  });
}

/** CDC's pairwise affinity of a mini-batch y (b×w): row-normalized Student-t kernel, clipped to [1e-10, 1]. */
export function pairAffinity(y: Tensor, nu = 1): Tensor {
  return record(wrap(native.pairAffinity(y.handle, nu)), 'pairAffinity', [y], (g) => [wrap(native.pairAffinityBackward(y.handle, nu, g.handle))]);
}

/**
 * CDC's correlation loss (paper Eq. 6 in the official code's form):
 * (weight/b) · RowKL(Sharpen(PairKernel(ya)) ‖ PairKernel(yb)), gradients through both arguments (the sharpened
 * target included, as the reference code).
 */
export function cdcCorrelationLoss(ya: Tensor, yb: Tensor, options: ClusterLossOptions = {}): Tensor {
  const scale = (options.weight ?? 1) / Math.max(1, ya.shape[0]);
  return fusedLoss('cdcCorrelationLoss', [ya, yb], (want) => {
    const r = native.cdcCorrelationLoss(ya.handle, yb.handle, options.nu ?? 1, scale, want && ya.requiresGrad, want && yb.requiresGrad);
    return { loss: wrap(r.loss), grads: r.dzs.map((d) => (d ? wrap(d) : null)) };
  });
}

/**
 * Keras's KLDivergence with its clipping, averaged over rows and weighted: (weight/rows) · Σ_ij ā_ij log(ā_ij/b̄_ij),
 * ā = clip(a, 1e-7, 1), b̄ = clip(b, 1e-7, 1) — CDC's clustering loss L_c = 'kld'(P, Q) (paper Eq. 9, as the
 * official code computes it). Gradients to both arguments, zero where an argument was clipped (as TensorFlow's
 * clip_by_value).
 */
export function rowKlClipped(a: Tensor, b: Tensor, options: { weight?: number } = {}): Tensor {
  const scale = (options.weight ?? 1) / Math.max(1, a.shape[0]);
  return fusedLoss('rowKlClipped', [a, b], (want) => {
    const r = native.rowKlClipped(a.handle, b.handle, scale, want && a.requiresGrad, want && b.requiresGrad);
    return { loss: wrap(r.loss), grads: r.dzs.map((d) => (d ? wrap(d) : null)) };
  });
}

export interface CdcPairLossOptions extends ClusterLossOptions {
  /**
   * 'row' (the official code): each row of the pair kernel normalised with the self pair kept, clipped to
   * [1e-10, 1], and the KL averaged over rows with Keras's clipping; 'global' (the paper's Eq. 5): one
   * normalisation over all pairs k ≠ l and one KL over the pairs i ≠ j (no clipping). Default 'row'.
   */
  normalization?: 'row' | 'global';
  /** Sharpen the first argument's kernel as DEC's target distribution (default true, the official code). */
  sharpen?: boolean;
}

/**
 * CDC's pairwise KL in every variant (paper Eqs. 5, 6, 11 and the official code's form):
 * weight · KL([Sharpen] C(ya) ‖ C(yb)) over a mini-batch, gradients through both arguments (the sharpened first
 * one included). With the row normalisation the KL is the mean over rows (weight/b · Σ_ij); with the global one
 * it is the KL between two distributions over pairs (weight · Σ_{i≠j}). row + sharpen equals
 * cdcCorrelationLoss (computed here in double throughout).
 */
export function cdcPairLoss(ya: Tensor, yb: Tensor, options: CdcPairLossOptions = {}): Tensor {
  const normalization = options.normalization ?? 'row';
  const weight = options.weight ?? 1;
  const scale = normalization === 'row' ? weight / Math.max(1, ya.shape[0]) : weight;
  return fusedLoss('cdcPairLoss', [ya, yb], (want) => {
    const r = native.cdcPairLoss(ya.handle, yb.handle, options.nu ?? 1, scale, normalization, options.sharpen ?? true,
      want && ya.requiresGrad, want && yb.requiresGrad);
    return { loss: wrap(r.loss), grads: r.dzs.map((d) => (d ? wrap(d) : null)) };
  });
}

// ---- kNN graph ----------------------------------------------------------------------------------------

export interface KnnOptions {
  /** 'heat' (Euclidean distance, SDCN/DFCN's heat kernel ranks the same), 'cosine' or 'dot'. Default 'heat'. */
  metric?: 'heat' | 'cosine' | 'dot';
  /**
   * Reproduce the exact line order of SDCN's published graph files (heat only; O(n²·d), for ~10k nodes).
   * The neighbour sets are the same either way.
   */
  sdcnOrder?: boolean;
}

/**
 * The k nearest neighbours of every row of x (int32 n×k), self excluded, as SDCN/DFCN build their kNN graphs
 * (top k+1 by similarity, then self dropped; ties to the lower index). Tiled: O(n·k) memory, never n×n.
 * Feed the rows to SparseMatrix.fromEdges with knnEdges().
 */
export function knnGraph(x: Tensor, k: number, options: KnnOptions = {}): Tensor {
  return wrap(native.knnGraph(x.handle, k, options.metric ?? 'heat', options.sdcnOrder ?? false));
}

/** The directed edges i → neighbors[i][j] of a neighbour table (as SDCN's *_graph.txt lines). */
export function knnEdges(neighbors: Tensor): { src: Int32Array; dst: Int32Array } {
  const [n, k] = neighbors.shape;
  const dst = neighbors.data() as Int32Array;
  const src = new Int32Array(n * k);
  for (let i = 0; i < n; i++) src.fill(i, i * k, (i + 1) * k);
  return { src, dst };
}

// ---- k-means ------------------------------------------------------------------------------------------

export interface KMeansOptions {
  /** Restarts from new k-means++ seeds; the lowest inertia is kept. Default 20 (as the papers' code). */
  nInit?: number;
  maxIter?: number;
  /** Relative tolerance on the centre shift, scaled by the mean feature variance (scikit-learn). Default 1e-4. */
  tol?: number;
  seed?: number;
}

export interface KMeansResult {
  /** k×d cluster centres. */
  centers: Tensor;
  labels: Int32Array;
  /** Sum of squared distances to the assigned centres. */
  inertia: number;
  /** Lloyd iterations of the kept restart. */
  iterations: number;
}

/** k-means as scikit-learn's KMeans: greedy k-means++ initialization, Lloyd iterations, nInit restarts, seeded. */
export function kmeans(x: Tensor, k: number, options: KMeansOptions = {}): KMeansResult {
  const r = native.kmeans(x.handle, { k, ...options });
  const labels = wrap(r.labels);
  const out = labels.data() as Int32Array;
  labels.dispose();
  return { centers: wrap(r.centers), labels: out, inertia: r.inertia, iterations: r.iterations };
}

// ---- attention-weighted fusion (AGCN) -------------------------------------------------------------------

export interface AttentionFusionOptions {
  /** 'sum': Σ_k u_k ⊙ blocks[k] (equal widths; AGCN-H); 'concat': [u_0 ⊙ blocks[0] ‖ u_1 ⊙ blocks[1] ‖ …] (AGCN-S). */
  mode: 'sum' | 'concat';
  /** LeakyReLU slope before the softmax (default 0.01, F.leaky_relu's). */
  slope?: number;
}

/**
 * AGCN's attention weights and the fusion they weight (AGCN paper eq. 2–3 and 6–7), one fused native op:
 * u = ℓ2(softmax_row(LeakyReLU([b_0 ‖ … ‖ b_{m−1}] Wᵀ + bias))) ∈ R^{n×m} (W m × Σd as nn.Linear stores it, its
 * columns in block order; the concatenation is never formed), and the blocks weighted row by row by u, summed or
 * concatenated. Returns the fused features (differentiable in the blocks, W and bias) and u (a constant copy).
 * Backward (native/cpu/fusion.h): G_u_k = G_k · x_k; through the ℓ2 normalisation, the softmax and the LeakyReLU to
 * G_t; dx_k = u_k G_k + G_t W_k, dW = G_tᵀ [x_0 ‖ …], dbias = Σ_rows G_t.
 */
export function attentionFusion(blocks: readonly Tensor[], weight: Tensor, bias: Tensor, options: AttentionFusionOptions): { out: Tensor; weights: Tensor } {
  const slope = options.slope ?? 0.01;
  const concat = options.mode === 'concat';
  const handles = blocks.map((b) => b.handle);
  const [outH, uH, tH] = native.attentionFusion(handles, weight.handle, bias.handle, slope, concat);
  const u = wrap(uH);
  const t = wrap(tH);
  const weights = wrap(native.clone(uH));
  const out = record(wrap(outH), 'attentionFusion', [...blocks, weight, bias], (g) => {
    const grads = native.attentionFusionBackward(handles, weight.handle, u.handle, t.handle, slope, concat, g.handle).map(wrap);
    return [...blocks, weight, bias].map((x, k) => {
      if (x.requiresGrad) return grads[k];
      grads[k].dispose();
      return null;
    });
  }, [u, t]);
  return { out, weights };
}
