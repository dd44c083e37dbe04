// PCA as DFCN's preprocessing uses it (the official code's main.py, scikit-learn PCA): centre the columns,
// project onto the top-k principal axes, no whitening, scores = U·S of the thin SVD Xc = U S Vᵀ.
//
// Method: subspace iteration with Rayleigh–Ritz (Halko, Martinsson & Tropp 2011, Alg. 4.4 + §5.5) on
// C = Xcᵀ Xc, run until the top-k Ritz pairs converge, so the result is the exact decomposition to float32
// accuracy, not a randomized approximation. The heavy products (N×d by d×b, b ≈ 2k) run on the native GEMM;
// the b×b problems (Gram matrices, Cholesky, the eigensolver in lib/linalg/eigh.ts) run in float64 here.
//
// Signs: an eigenvector's sign is arbitrary. DFCN's checkpoints were trained on scikit-learn 0.21's PCA,
// whose svd_flip(u, v) with u_based_decision=True makes the entry of largest |value| in each column of U (so
// of the scores) positive. Newer scikit-learn decides from V instead. With the official ACM weights the u-rule
// gives ACC 0.909 and the v-rule 0.811 (k-means on the official model's fused embedding), hence the default.
import { DgcError, keep, tidy } from '../tensor';
import * as ops from '../ops';
import type { Tensor } from '../tensor';
import { Generator } from '../random';
import { eigh } from '../linalg/eigh';

export interface PcaOptions {
  /** Number of components k (1 ≤ k ≤ min(N, d)). */
  components: number;
  /** 'u': largest |score| of each component positive (scikit-learn ≤ 0.23, DFCN); 'v': largest |loading| positive. */
  signRule?: 'u' | 'v';
  /** Extra subspace dimensions beyond k (default max(k, 10)): more converge faster. */
  oversample?: number;
  /** Stop when every top-k Ritz pair has ‖C v − λ v‖ ≤ tol·λ (default 1e-5). */
  tol?: number;
  /** Iteration cap (default 200). */
  maxIter?: number;
  /** Seed of the random start (default 0). */
  seed?: number;
}

export interface PcaResult {
  rows: number;
  components: number;
  /** N×k row-major projections of the centred data (scikit-learn's fit_transform). */
  scores: Float32Array;
  /** k×d row-major principal axes (scikit-learn's components_). */
  axes: Float32Array;
  /** Variance along each axis, λ/(N−1) (scikit-learn's explained_variance_). */
  explainedVariance: Float64Array;
  /** Column means that were subtracted. */
  mean: Float64Array;
  /** Subspace iterations run, and the largest relative residual at the end. */
  iterations: number;
  residual: number;
}

/** PCA of the N×d row-major matrix `x`. */
export function pca(x: { rows: number; cols: number; data: Float32Array }, options: PcaOptions): PcaResult {
  const { rows: n, cols: d } = x;
  const k = options.components;
  if (!Number.isInteger(k) || k < 1 || k > Math.min(n, d)) {
    throw new DgcError('DGC_ARG', `pca: components must be an integer in [1, min(N, d)] = [1, ${Math.min(n, d)}] for a ${n}×${d} matrix, got ${k}`);
  }
  if (x.data.length !== n * d) throw new DgcError('DGC_SHAPE', `pca: ${n}×${d} needs ${n * d} values, got ${x.data.length}`);
  const tol = options.tol ?? 1e-5;
  const maxIter = options.maxIter ?? 200;
  const b = Math.min(k + (options.oversample ?? Math.max(k, 10)), n, d);

  // Centre in float64, store float32.
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const row = i * d;
    for (let j = 0; j < d; j++) {
      const v = x.data[row + j];
      if (!Number.isFinite(v)) throw new DgcError('DGC_VALUE', `pca: element (${i}, ${j}) is ${v}`);
      mean[j] += v;
    }
  }
  for (let j = 0; j < d; j++) mean[j] /= n;
  const centred = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const row = i * d;
    for (let j = 0; j < d; j++) {
      centred[row + j] = x.data[row + j] - mean[j];
    }
  }

  const xc = ops.tensor(centred, [n, d]);
  try {
    let v = orthonormalize(new Generator(options.seed ?? 0).normal([d, b]));
    let iterations = 0;
    let residual = Infinity;
    for (;;) {
      iterations++;
      const step = tidy(() => {
        // W = Xc V; T = WᵀW = Vᵀ C V = Y Λ Yᵀ (the Rayleigh–Ritz problem).
        const w = ops.matmul(xc, v);
        const t = toF64(ops.matmul(w, w, { transA: true }));
        const { values: lambda, vectors: y } = eigh(symmetrize(t, b), b);
        // U = W Y Λ^-1/2 has orthonormal columns (its Gram is Λ^-1/2 Yᵀ T Y Λ^-1/2 = I).
        const scale = new Float64Array(b * b);
        for (let r = 0; r < b; r++) for (let c = 0; c < b; c++) scale[r * b + c] = lambda[c] > lambda[0] * 1e-12 ? y[r * b + c] / Math.sqrt(lambda[c]) : 0;
        const u = ops.matmul(w, f32Tensor(scale, b, b));
        // Z = Xcᵀ U = C V Y Λ^-1/2, so C (V Y)_j = √λ_j Z_j: the residual of each Ritz pair costs nothing more.
        const z = ops.matmul(xc, u, { transA: true });
        const vy = ops.matmul(v, f32Tensor(y, b, b));
        const zd = z.data() as Float32Array;
        const vyd = vy.data() as Float32Array;
        let worst = 0;
        for (let j = 0; j < k; j++) {
          if (!(lambda[j] > 0)) continue;
          const sl = Math.sqrt(lambda[j]);
          let r2 = 0;
          for (let i = 0; i < d; i++) {
            const r = sl * zd[i * b + j] - lambda[j] * vyd[i * b + j];
            r2 += r * r;
          }
          worst = Math.max(worst, Math.sqrt(r2) / lambda[j]);
        }
        return { worst, lambda, z: keep(z), u: keep(u), vy: keep(vy) };
      });
      residual = step.worst;
      const done = residual <= tol || iterations >= maxIter;
      if (done) {
        const result = finish(step.u, step.vy, step.lambda, n, d, b, k, options.signRule ?? 'u');
        step.z.dispose();
        step.u.dispose();
        step.vy.dispose();
        v.dispose();
        return { ...result, rows: n, components: k, mean, iterations, residual };
      }
      step.u.dispose();
      step.vy.dispose();
      v.dispose();
      v = orthonormalize(step.z);
      step.z.dispose();
    }
  } finally {
    xc.dispose();
  }
}

function finish(u: Tensor, vy: Tensor, lambda: Float64Array, n: number, d: number, b: number, k: number, signRule: 'u' | 'v') {
  const ud = u.data() as Float32Array;
  const vd = vy.data() as Float32Array;
  const scores = new Float32Array(n * k);
  const axes = new Float32Array(k * d);
  const explainedVariance = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    const s = Math.sqrt(Math.max(lambda[j], 0));
    explainedVariance[j] = Math.max(lambda[j], 0) / Math.max(n - 1, 1);
    // The sign: the largest-|value| entry of the chosen factor becomes positive (first one on ties).
    let best = 0;
    let arg = 0;
    if (signRule === 'u') {
      for (let i = 0; i < n; i++) if (Math.abs(ud[i * b + j]) > best) { best = Math.abs(ud[i * b + j]); arg = ud[i * b + j]; }
    } else {
      for (let i = 0; i < d; i++) if (Math.abs(vd[i * b + j]) > best) { best = Math.abs(vd[i * b + j]); arg = vd[i * b + j]; }
    }
    const sign = arg < 0 ? -1 : 1;
    for (let i = 0; i < n; i++) scores[i * k + j] = sign * s * ud[i * b + j];
    for (let i = 0; i < d; i++) axes[j * d + i] = sign * vd[i * b + j];
  }
  return { scores, axes, explainedVariance };
}

/** Columns of `w` (m×b) made orthonormal: two passes of Cholesky QR (W ← W L⁻ᵀ with WᵀW = L Lᵀ). */
function orthonormalize(w: Tensor): Tensor {
  let cur = w;
  for (let pass = 0; pass < 2; pass++) {
    const next = tidy(() => {
      const b = cur.shape[1];
      const g = symmetrize(toF64(ops.matmul(cur, cur, { transA: true })), b);
      return ops.matmul(cur, f32Tensor(invLowerTransposed(g, b), b, b));
    });
    if (cur !== w) cur.dispose();
    cur = next;
  }
  if (cur !== w) w.dispose();
  return cur;
}

/** L⁻ᵀ (upper triangular) for the Cholesky factor L of the SPD b×b matrix g; a dependent column (pivot ≤
 * 1e-12 of the largest diagonal) gets a zero column, so W L⁻ᵀ has a zero column there instead of garbage. */
function invLowerTransposed(g: Float64Array, b: number): Float64Array {
  const l = new Float64Array(b * b);
  let maxDiag = 0;
  for (let i = 0; i < b; i++) maxDiag = Math.max(maxDiag, g[i * b + i]);
  const dead = new Uint8Array(b);
  for (let j = 0; j < b; j++) {
    let s = g[j * b + j];
    for (let p = 0; p < j; p++) s -= l[j * b + p] * l[j * b + p];
    if (!(s > maxDiag * 1e-12)) {
      dead[j] = 1;
      continue;
    }
    const ljj = Math.sqrt(s);
    l[j * b + j] = ljj;
    for (let i = j + 1; i < b; i++) {
      let t = g[i * b + j];
      for (let p = 0; p < j; p++) t -= l[i * b + p] * l[j * b + p];
      l[i * b + j] = t / ljj;
    }
  }
  // Inverse of L by forward substitution, column by column; then transpose.
  const inv = new Float64Array(b * b);
  for (let c = 0; c < b; c++) {
    if (dead[c]) continue;
    for (let i = c; i < b; i++) {
      if (dead[i]) continue;
      let s = i === c ? 1 : 0;
      for (let p = c; p < i; p++) s -= l[i * b + p] * inv[p * b + c];
      inv[i * b + c] = s / l[i * b + i];
    }
  }
  const out = new Float64Array(b * b);
  for (let i = 0; i < b; i++) for (let j = 0; j < b; j++) out[j * b + i] = inv[i * b + j];
  return out;
}

function toF64(t: Tensor): Float64Array {
  return Float64Array.from(t.data() as Float32Array);
}

function symmetrize(a: Float64Array, b: number): Float64Array {
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < i; j++) {
      const m = 0.5 * (a[i * b + j] + a[j * b + i]);
      a[i * b + j] = m;
      a[j * b + i] = m;
    }
  }
  return a;
}

function f32Tensor(a: Float64Array, r: number, c: number): Tensor {
  return ops.tensor(Float32Array.from(a), [r, c]);
}
