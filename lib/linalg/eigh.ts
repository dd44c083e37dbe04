// A small dense symmetric eigensolver in float64, for the b×b problems of PCA's subspace iteration
// (b ≤ a few hundred). Two classic stages:
//   1. Householder tridiagonalization A = Q T Qᵀ (Golub & Van Loan §8.3.1), Q accumulated explicitly;
//   2. implicit symmetric QR steps with the Wilkinson shift on T (G&VL Algorithm 8.3.2), the Givens
//      rotations accumulated into Q, deflating when an off-diagonal becomes negligible.
// Cost about 9n³ flops; n = 200 takes a few tens of milliseconds.
import { DgcError } from '../tensor';

export interface Eigh {
  /** Eigenvalues, descending. */
  values: Float64Array;
  /** Eigenvectors as the columns of an n×n row-major matrix, in the order of `values`. */
  vectors: Float64Array;
}

/** Eigen-decomposition of the symmetric n×n row-major matrix `a` (only read, not modified). */
export function eigh(a: Float64Array, n: number): Eigh {
  if (a.length !== n * n) throw new DgcError('DGC_SHAPE', `eigh: expected ${n}×${n} = ${n * n} values, got ${a.length}`);
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) throw new DgcError('DGC_VALUE', `eigh: element (${Math.floor(i / n)}, ${i % n}) is ${a[i]}`);
  }
  const t = Float64Array.from(a);
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  const d = new Float64Array(n);
  const e = new Float64Array(Math.max(n - 1, 0));
  tridiagonalize(t, q, n, d, e);
  tridiagonalQr(d, e, q, n);
  // Sort descending.
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[y] - d[x]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    const src = order[c];
    values[c] = d[src];
    for (let r = 0; r < n; r++) vectors[r * n + c] = q[r * n + src];
  }
  return { values, vectors };
}

// Reduces the symmetric t (overwritten) to tridiagonal form: diagonal d, off-diagonal e, and accumulates the
// reflections into q so that A = q·T·qᵀ. Step k zeroes t[k+2.., k] with H = I − 2vvᵀ (‖v‖ = 1) acting on
// indices k+1..n−1: H·A22·H = A22 − 2vwᵀ − 2wvᵀ with p = A22·v, w = p − (vᵀp)·v.
function tridiagonalize(t: Float64Array, q: Float64Array, n: number, d: Float64Array, e: Float64Array): void {
  const v = new Float64Array(n);
  const p = new Float64Array(n);
  for (let k = 0; k + 2 < n; k++) {
    let norm2 = 0;
    for (let i = k + 1; i < n; i++) norm2 += t[i * n + k] * t[i * n + k];
    const norm = Math.sqrt(norm2);
    const x0 = t[(k + 1) * n + k];
    if (norm === 0 || norm2 === x0 * x0) continue; // already tridiagonal in this column
    const alpha = x0 >= 0 ? -norm : norm; // the sign that avoids cancellation in v0 = x0 − alpha
    for (let i = k + 1; i < n; i++) v[i] = t[i * n + k];
    v[k + 1] -= alpha;
    let vn = 0;
    for (let i = k + 1; i < n; i++) vn += v[i] * v[i];
    vn = Math.sqrt(vn);
    for (let i = k + 1; i < n; i++) v[i] /= vn;
    // p = A22 v, K = vᵀp, w = p − K v (stored in p)
    let kk = 0;
    for (let i = k + 1; i < n; i++) {
      let s = 0;
      const row = i * n;
      for (let j = k + 1; j < n; j++) s += t[row + j] * v[j];
      p[i] = s;
      kk += v[i] * s;
    }
    for (let i = k + 1; i < n; i++) p[i] -= kk * v[i];
    for (let i = k + 1; i < n; i++) {
      const row = i * n;
      const vi2 = 2 * v[i];
      const pi2 = 2 * p[i];
      for (let j = k + 1; j < n; j++) t[row + j] -= vi2 * p[j] + pi2 * v[j];
    }
    t[(k + 1) * n + k] = alpha;
    t[k * n + k + 1] = alpha;
    for (let i = k + 2; i < n; i++) {
      t[i * n + k] = 0;
      t[k * n + i] = 0;
    }
    // q ← q·H: each row r of q gets r − 2(r·v)vᵀ.
    for (let r = 0; r < n; r++) {
      const row = r * n;
      let s = 0;
      for (let j = k + 1; j < n; j++) s += q[row + j] * v[j];
      s *= 2;
      for (let j = k + 1; j < n; j++) q[row + j] -= s * v[j];
    }
  }
  for (let i = 0; i < n; i++) d[i] = t[i * n + i];
  for (let i = 0; i + 1 < n; i++) e[i] = t[(i + 1) * n + i];
}

// Diagonalizes the tridiagonal (d, e) in place by implicit QR steps with the Wilkinson shift, applying each
// rotation R (rows k, k+1: [c s; −s c]) as T ← R T Rᵀ and q ← q Rᵀ.
function tridiagonalQr(d: Float64Array, e: Float64Array, q: Float64Array, n: number): void {
  const eps = 2.220446049250313e-16;
  let steps = 0;
  const maxSteps = 60 * Math.max(n, 1);
  let hi = n - 1;
  while (hi > 0) {
    if (Math.abs(e[hi - 1]) <= eps * (Math.abs(d[hi - 1]) + Math.abs(d[hi]))) {
      e[hi - 1] = 0;
      hi--;
      continue;
    }
    if (++steps > maxSteps) throw new DgcError('DGC_INTERNAL', `eigh: the QR iteration did not converge in ${maxSteps} steps (n = ${n})`);
    let lo = hi - 1;
    while (lo > 0 && Math.abs(e[lo - 1]) > eps * (Math.abs(d[lo - 1]) + Math.abs(d[lo]))) lo--;
    // Wilkinson shift: the eigenvalue of the trailing 2×2 block closer to d[hi].
    const delta = (d[hi - 1] - d[hi]) / 2;
    const b = e[hi - 1];
    const mu = d[hi] - (b * b) / (delta + (delta >= 0 ? 1 : -1) * Math.hypot(delta, b));
    let x = d[lo] - mu;
    let z = e[lo];
    for (let k = lo; k < hi; k++) {
      const r = Math.hypot(x, z);
      const c = r === 0 ? 1 : x / r;
      const s = r === 0 ? 0 : z / r;
      if (k > lo) e[k - 1] = r;
      const dk = d[k];
      const dk1 = d[k + 1];
      const ek = e[k];
      d[k] = c * c * dk + 2 * c * s * ek + s * s * dk1;
      d[k + 1] = s * s * dk - 2 * c * s * ek + c * c * dk1;
      e[k] = c * s * (dk1 - dk) + (c * c - s * s) * ek;
      if (k + 1 < hi) {
        x = e[k];
        z = s * e[k + 1]; // the bulge at (k, k+2)
        e[k + 1] *= c;
      }
      for (let i = 0; i < n; i++) {
        const row = i * n;
        const a = q[row + k];
        const bb = q[row + k + 1];
        q[row + k] = c * a + s * bb;
        q[row + k + 1] = -s * a + c * bb;
      }
    }
  }
}
