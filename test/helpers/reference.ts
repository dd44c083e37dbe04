// Plain-TypeScript float64 reference implementations of the dgclust ops, on flat row-major arrays.
//
// Every function takes its shapes explicitly and returns a fresh Float64Array, so tests can compare a
// float32 native result against a float64 truth. Nothing here touches the native addon.

export type Arr = ArrayLike<number>;

// Math.abs is very slow inside jest's test environment (a global-object lookup per call), so hot loops here
// use this instead.
export const abs = (x: number): number => (x < 0 ? -x : x);

// ---- deterministic host random numbers (test data only) -----------------------------------------------

/**
 * xorshift32 on a seed scrambled once: a tiny seeded PRNG, so test inputs are the same on every run.
 * Only integer shifts and xors in next() (Math.* calls are slow inside jest's environment).
 */
export class Rng {
  private state: number;
  constructor(seed: number) {
    let s = (seed ^ 0x9e3779b9) >>> 0;
    s = Math.imul(s ^ (s >>> 16), 0x85ebca6b) >>> 0;
    s = Math.imul(s ^ (s >>> 13), 0xc2b2ae35) >>> 0;
    this.state = (s ^ (s >>> 16)) >>> 0 || 0x6d2b79f5;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 4294967296;
  }
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }
  /** An integer in [0, n) (n < 2^31). */
  int(n: number): number {
    return (this.next() * n) | 0;
  }
  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  /** A Float32Array of `n` uniforms in [low, high). */
  f32(n: number, low = -1, high = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.uniform(low, high);
    return out;
  }
  /** Uniforms in [lo, hi] with a random sign: values bounded away from 0 (for kinks, div, log). */
  awayFromZero(n: number, lo: number, hi: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = (this.next() < 0.5 ? -1 : 1) * this.uniform(lo, hi);
    return out;
  }
  /** k distinct indices from [0, n), in increasing order. */
  sample(n: number, k: number): number[] {
    if (k >= n) return Array.from({ length: n }, (_, i) => i);
    const chosen = new Set<number>();
    while (chosen.size < k) chosen.add(this.int(n));
    return [...chosen].sort((a, b) => a - b);
  }
}

// ---- comparison ---------------------------------------------------------------------------------------

export interface CloseReport {
  ok: boolean;
  /** Number of elements outside tolerance. */
  bad: number;
  /** The worst element (largest err / tol). */
  worst: { index: number; actual: number; expected: number; tol: number } | null;
  message: string;
}

/**
 * Elementwise |actual − expected| ≤ atol + rtol·|expected| (or ≤ tolAt(i) if given). NaN/Inf must match
 * exactly (NaN where NaN is expected, the same infinity). Returns a report naming the worst element.
 */
export function compareClose(
  actual: Arr,
  expected: Arr,
  rtol: number,
  atol: number,
  label = '',
  tolAt?: (i: number) => number,
): CloseReport {
  if (actual.length !== expected.length) {
    return {
      ok: false,
      bad: Math.max(actual.length, expected.length),
      worst: null,
      message: `${label}: length ${actual.length} != expected ${expected.length}`,
    };
  }
  let bad = 0;
  let worst: CloseReport['worst'] = null;
  let worstRatio = -1;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const tol = tolAt ? tolAt(i) : atol + rtol * abs(e);
    let ratio: number;
    if (Number.isNaN(e) || Number.isNaN(a)) ratio = Number.isNaN(e) && Number.isNaN(a) ? 0 : Infinity;
    else if (!Number.isFinite(e) || !Number.isFinite(a)) ratio = a === e ? 0 : Infinity;
    else ratio = a === e ? 0 : abs(a - e) / tol;
    if (!(ratio <= 1)) bad++;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = { index: i, actual: a, expected: e, tol };
    }
  }
  const ok = bad === 0;
  const message = ok
    ? `${label}: ok`
    : `${label}: ${bad}/${actual.length} elements out of tolerance; worst at [${worst!.index}]: got ${worst!.actual}, expected ${worst!.expected} (tol ${worst!.tol.toExponential(2)})`;
  return { ok, bad, worst, message };
}

/** Throws (a jest-readable message) unless actual ≈ expected. */
export function expectClose(actual: Arr, expected: Arr, rtol: number, atol: number, label = '', tolAt?: (i: number) => number): void {
  const r = compareClose(actual, expected, rtol, atol, label, tolAt);
  if (!r.ok) throw new Error(r.message);
}

/** Index of the first element where two arrays differ bitwise (−1 if identical, including NaN payload-agnostic NaNs). */
export function firstBitDifference(a: Float32Array | Int32Array, b: Float32Array | Int32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

// ---- dense linear algebra -----------------------------------------------------------------------------

/** x[r×c] → xᵀ[c×r]. */
export function transpose(x: Arr, r: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = x[i * c + j];
  return out;
}

export interface MatmulRef {
  /** op(A)·op(B), m×n. */
  c: Float64Array;
  /** |op(A)|·|op(B)|, the scale a floating-point error bound on c is proportional to. */
  abs: Float64Array;
  m: number;
  n: number;
  k: number;
}

/** op(A)·op(B) with A stored aRows×aCols and B stored bRows×bCols (row-major), op = transpose when asked. */
export function matmul(a: Arr, aRows: number, aCols: number, b: Arr, bRows: number, bCols: number, transA = false, transB = false): MatmulRef {
  const m = transA ? aCols : aRows;
  const k = transA ? aRows : aCols;
  const kb = transB ? bCols : bRows;
  const n = transB ? bRows : bCols;
  if (k !== kb) throw new Error(`reference matmul: inner dimensions ${k} != ${kb}`);
  // op(A) as m×k and op(B)ᵀ as n×k, both row-major float64, so the inner loop is two contiguous walks.
  const A = new Float64Array(m * k);
  const Bt = new Float64Array(n * k);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) A[i * k + p] = transA ? a[p * aCols + i] : a[i * aCols + p];
  for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) Bt[j * k + p] = transB ? b[j * bCols + p] : b[p * bCols + j];
  const c = new Float64Array(m * n);
  const absC = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const ai = i * k;
    for (let j = 0; j < n; j++) {
      const bj = j * k;
      let s = 0;
      let sa = 0;
      for (let p = 0; p < k; p++) {
        const t = A[ai + p] * Bt[bj + p];
        s += t;
        sa += abs(t);
      }
      c[i * n + j] = s;
      absC[i * n + j] = sa;
    }
  }
  return { c, abs: absC, m, n, k };
}

// ---- elementwise --------------------------------------------------------------------------------------

export type UnaryName = 'relu' | 'leakyRelu' | 'tanh' | 'sigmoid' | 'exp' | 'log' | 'square';

export function unaryScalar(name: UnaryName, x: number, param = 0): number {
  switch (name) {
    case 'relu':
      return x > 0 ? x : 0;
    case 'leakyRelu':
      return x > 0 ? x : param * x;
    case 'tanh':
      return Math.tanh(x);
    case 'sigmoid':
      return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
    case 'exp':
      return Math.exp(x);
    case 'log':
      return Math.log(x);
    case 'square':
      return x * x;
  }
}

export function unary(name: UnaryName, x: Arr, param = 0): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = unaryScalar(name, x[i], param);
  return out;
}

export function map2(a: Arr, b: Arr, f: (x: number, y: number) => number): Float64Array {
  if (a.length !== b.length) throw new Error('reference map2: lengths differ');
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = f(a[i], b[i]);
  return out;
}

/** out[i,j] = f(x[i,j], v[j]). */
export function rowVector(x: Arr, rows: number, cols: number, v: Arr, f: (x: number, v: number) => number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[i * cols + j] = f(x[i * cols + j], v[j]);
  return out;
}

/** out[i,j] = f(x[i,j], v[i]). */
export function colVector(x: Arr, rows: number, cols: number, v: Arr, f: (x: number, v: number) => number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[i * cols + j] = f(x[i * cols + j], v[i]);
  return out;
}

// ---- reductions ---------------------------------------------------------------------------------------

export function rowSums(x: Arr, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += x[i * cols + j];
    out[i] = s;
  }
  return out;
}

export function colSums(x: Arr, rows: number, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j] += x[i * cols + j];
  return out;
}

export function sumAll(x: Arr): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s;
}

export function sumAbs(x: Arr): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += abs(x[i]);
  return s;
}

/** First index of the maximum of each row; a NaN counts as the maximum (the first NaN wins). */
export function argmaxRows(x: Arr, rows: number, cols: number): Int32Array {
  const out = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    let best = 0;
    for (let j = 1; j < cols; j++) {
      const vb = x[i * cols + best];
      if (Number.isNaN(vb)) break;
      const v = x[i * cols + j];
      if (v > vb || Number.isNaN(v)) best = j;
    }
    out[i] = best;
  }
  return out;
}

/** Row softmax (or log-softmax), computed stably in float64. */
export function softmaxRows(x: Arr, rows: number, cols: number, log = false): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    let m = -Infinity;
    for (let j = 0; j < cols; j++) m = Math.max(m, x[i * cols + j]);
    if (m === -Infinity) m = 0;
    let s = 0;
    for (let j = 0; j < cols; j++) s += Math.exp(x[i * cols + j] - m);
    const lse = m + Math.log(s);
    for (let j = 0; j < cols; j++) {
      const v = x[i * cols + j];
      out[i * cols + j] = log ? v - lse : Math.exp(v - m) / s;
    }
  }
  return out;
}

// ---- losses -------------------------------------------------------------------------------------------

export function mse(a: Arr, b: Arr): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s / a.length;
}

/** mean of max(x,0) − x·t + log(1 + exp(−|x|)), the overflow-free BCE with logits. */
export function bceWithLogits(logits: Arr, target: Arr): number {
  let s = 0;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i];
    s += Math.max(x, 0) - x * target[i] + Math.log1p(Math.exp(-abs(x)));
  }
  return s / logits.length;
}

// ---- shape and indexing -------------------------------------------------------------------------------

export function concatCols(parts: { data: Arr; cols: number }[], rows: number): Float64Array {
  const total = parts.reduce((s, p) => s + p.cols, 0);
  const out = new Float64Array(rows * total);
  for (let i = 0; i < rows; i++) {
    let off = 0;
    for (const p of parts) {
      for (let j = 0; j < p.cols; j++) out[i * total + off + j] = p.data[i * p.cols + j];
      off += p.cols;
    }
  }
  return out;
}

export function sliceCols(x: Arr, rows: number, cols: number, start: number, end: number): Float64Array {
  const w = end - start;
  const out = new Float64Array(rows * w);
  for (let i = 0; i < rows; i++) for (let j = 0; j < w; j++) out[i * w + j] = x[i * cols + start + j];
  return out;
}

export function gatherRows(x: Arr, cols: number, idx: Arr): Float64Array {
  const out = new Float64Array(idx.length * cols);
  for (let r = 0; r < idx.length; r++) for (let j = 0; j < cols; j++) out[r * cols + j] = x[idx[r] * cols + j];
  return out;
}

// ---- graphs (native/cpu/sparse.h semantics) -----------------------------------------------------------

export interface GraphRefOptions {
  weights?: Arr;
  symmetrize?: boolean;
  selfLoops?: boolean;
  normalization?: 'none' | 'row' | 'sym';
}

export interface DenseGraph {
  /** n×n values after symmetrize / self loops / normalization. */
  values: Float64Array;
  /** n×n: 1 where the CSR stores an entry (explicit zeros included). */
  stored: Uint8Array;
  /** Row degrees the normalization divides by (row sums before normalizing). */
  degree: Float64Array;
}

/**
 * The dense matrix csrFromEdges builds:
 *   1. A[s,d] from each edge (weight, default 1); duplicate pairs merge by max of the stored values;
 *   2. symmetrize: A := max(A, Aᵀ) over stored entries (an edge s→d also stores d→s);
 *   3. selfLoops: A[i,i] += 1 (even if an edge (i,i) exists);
 *   4. 'row': D⁻¹A, 'sym': D^-½ A D^-½ with D the row sums of step 3; a row of degree ≤ 0 scales by 0.
 */
export function denseGraph(n: number, src: Arr, dst: Arr, opts: GraphRefOptions = {}): DenseGraph {
  const symmetrize = opts.symmetrize ?? true;
  const selfLoops = opts.selfLoops ?? true;
  const norm = opts.normalization ?? 'row';
  const A = new Float64Array(n * n);
  const stored = new Uint8Array(n * n);
  const put = (i: number, j: number, w: number) => {
    const k = i * n + j;
    A[k] = stored[k] ? Math.max(A[k], w) : w;
    stored[k] = 1;
  };
  for (let e = 0; e < src.length; e++) {
    const w = opts.weights ? opts.weights[e] : 1;
    put(src[e], dst[e], w);
    if (symmetrize && src[e] !== dst[e]) put(dst[e], src[e], w);
  }
  if (selfLoops) {
    for (let i = 0; i < n; i++) {
      A[i * n + i] = (stored[i * n + i] ? A[i * n + i] : 0) + 1;
      stored[i * n + i] = 1;
    }
  }
  const degree = rowSums(A, n, n);
  const values = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const a = A[i * n + j];
      if (norm === 'none') values[i * n + j] = a;
      else if (norm === 'row') values[i * n + j] = degree[i] > 0 ? a / degree[i] : 0;
      else {
        const si = degree[i] > 0 ? 1 / Math.sqrt(degree[i]) : 0;
        const sj = degree[j] > 0 ? 1 / Math.sqrt(degree[j]) : 0;
        values[i * n + j] = a * si * sj;
      }
    }
  }
  return { values, stored, degree };
}

/** Dense rows×cols matrix from CSR arrays. */
export function csrToDense(rows: number, cols: number, indptr: Arr, indices: Arr, values: Arr): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let e = indptr[i]; e < indptr[i + 1]; e++) out[i * cols + indices[e]] += values[e];
  return out;
}
