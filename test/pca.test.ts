// The symmetric eigensolver and PCA (lib/linalg/eigh.ts, lib/data/pca.ts). PCA is checked against an
// independent route: the eigen-decomposition of the covariance formed here in float64, scores = Xc v, and
// the sign rules applied by hand.
import * as dg from '../lib';
import { eigh } from '../lib/linalg/eigh';
import { pca } from '../lib/data/pca';
import { Rng } from './helpers/reference';
import { gaussianClusters } from './helpers/data';

function randomSymmetric(n: number, seed: number): Float64Array {
  const r = new Rng(seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) { const v = r.uniform(-1, 1); a[i * n + j] = v; a[j * n + i] = v; }
  return a;
}

describe('eigh', () => {
  test.each([1, 2, 3, 7, 40, 120])('A V = V Λ, VᵀV = I, descending (n = %i)', (n) => {
    const a = randomSymmetric(n, n);
    const { values, vectors } = eigh(a, n);
    let res = 0;
    let orth = 0;
    for (let c = 0; c < n; c++) {
      if (c > 0) expect(values[c]).toBeLessThanOrEqual(values[c - 1]);
      for (let i = 0; i < n; i++) {
        let av = 0;
        for (let j = 0; j < n; j++) av += a[i * n + j] * vectors[j * n + c];
        res = Math.max(res, Math.abs(av - values[c] * vectors[i * n + c]));
      }
      for (let c2 = 0; c2 < n; c2++) {
        let d = 0;
        for (let i = 0; i < n; i++) d += vectors[i * n + c] * vectors[i * n + c2];
        orth = Math.max(orth, Math.abs(d - (c === c2 ? 1 : 0)));
      }
    }
    expect(res).toBeLessThan(1e-12 * n);
    expect(orth).toBeLessThan(1e-12 * n);
    // The trace is the sum of the eigenvalues.
    let tr = 0;
    for (let i = 0; i < n; i++) tr += a[i * n + i];
    expect(values.reduce((s, v) => s + v, 0)).toBeCloseTo(tr, 10);
  });

  test('diagonal, repeated and zero eigenvalues', () => {
    const d = eigh(Float64Array.from([2, 0, 0, 0, 5, 0, 0, 0, 2]), 3);
    expect(Array.from(d.values)).toEqual([5, 2, 2]);
    const z = eigh(new Float64Array(16), 4);
    expect(Array.from(z.values)).toEqual([0, 0, 0, 0]);
  });

  test('bad input is refused', () => {
    expect(() => eigh(new Float64Array(5), 2)).toThrow(/eigh: expected 2×2/);
    expect(() => eigh(Float64Array.from([1, NaN, NaN, 1]), 2)).toThrow(/element \(0, 1\) is NaN/);
  });
});

/** Exact PCA by the covariance route, float64. */
function referencePca(x: { rows: number; cols: number; data: Float32Array }, k: number, rule: 'u' | 'v') {
  const { rows: n, cols: d } = x;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x.data[i * d + j] / n;
  const xc = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) xc[i * d + j] = x.data[i * d + j] - mean[j];
  const c = new Float64Array(d * d);
  for (let i = 0; i < n; i++) for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) c[a * d + b] += xc[i * d + a] * xc[i * d + b];
  const { values, vectors } = eigh(c, d);
  const scores = new Float64Array(n * k);
  for (let j = 0; j < k; j++) {
    const col = new Float64Array(n);
    for (let i = 0; i < n; i++) { let s = 0; for (let a = 0; a < d; a++) s += xc[i * d + a] * vectors[a * d + j]; col[i] = s; }
    let arg = 0;
    let best = -1;
    const src = rule === 'u' ? col : Float64Array.from({ length: d }, (_, a) => vectors[a * d + j]);
    for (const v of src) if (Math.abs(v) > best) { best = Math.abs(v); arg = v; }
    const sign = arg < 0 ? -1 : 1;
    for (let i = 0; i < n; i++) scores[i * k + j] = sign * col[i];
  }
  return { scores, values };
}

describe('pca', () => {
  // Distinct variances per direction so every component is well defined (no near-ties to rotate within).
  function anisotropic(seed: number, n: number, d: number) {
    const base = gaussianClusters(seed, n, d, 4, 1, 1);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) base.data[i * d + j] *= 1 + 0.35 * j;
    return base;
  }

  test.each([
    [200, 12, 5, 'u'],
    [150, 30, 10, 'u'],
    [90, 25, 25, 'v'], // k = d: the whole space
    [40, 60, 8, 'u'], // wide: d > N
  ] as const)('matches the exact decomposition (N = %i, d = %i, k = %i, %s-rule)', (n, d, k, rule) => {
    const x = anisotropic(n + d, n, d);
    const before = dg.memory().tensors;
    const r = pca(x, { components: k, signRule: rule });
    expect(dg.memory().tensors).toBe(before);
    const ref = referencePca(x, k, rule);
    for (let j = 0; j < k; j++) {
      let num = 0;
      let den = 0;
      for (let i = 0; i < n; i++) { num += (r.scores[i * k + j] - ref.scores[i * k + j]) ** 2; den += ref.scores[i * k + j] ** 2; }
      expect(Math.sqrt(num / den)).toBeLessThan(1e-4);
      expect(Math.abs(r.explainedVariance[j] - ref.values[j] / (n - 1))).toBeLessThan(1e-5 * ref.values[j] / (n - 1));
    }
    expect(r.residual).toBeLessThanOrEqual(1e-5);
    // scores = Xc · axesᵀ
    for (const i of [0, n - 1]) for (let j = 0; j < k; j++) {
      let s = 0;
      for (let a = 0; a < d; a++) s += (x.data[i * d + a] - r.mean[a]) * r.axes[j * d + a];
      expect(s).toBeCloseTo(r.scores[i * k + j], 3);
    }
  });

  test('u-rule: the largest |score| of every component is positive; v-rule flips by the axes', () => {
    const x = anisotropic(3, 120, 9);
    const u = pca(x, { components: 4, signRule: 'u' });
    const v = pca(x, { components: 4, signRule: 'v' });
    for (let j = 0; j < 4; j++) {
      let arg = 0;
      let best = -1;
      for (let i = 0; i < 120; i++) if (Math.abs(u.scores[i * 4 + j]) > best) { best = Math.abs(u.scores[i * 4 + j]); arg = u.scores[i * 4 + j]; }
      expect(arg).toBeGreaterThan(0);
      let argV = 0;
      best = -1;
      for (let a = 0; a < 9; a++) if (Math.abs(v.axes[j * 9 + a]) > best) { best = Math.abs(v.axes[j * 9 + a]); argV = v.axes[j * 9 + a]; }
      expect(argV).toBeGreaterThan(0);
      // Same component up to sign.
      const same = Math.sign(u.scores[j]) === Math.sign(v.scores[j]);
      for (let i = 0; i < 120; i += 17) expect(Math.abs(u.scores[i * 4 + j] - (same ? 1 : -1) * v.scores[i * 4 + j])).toBeLessThan(1e-3);
    }
  });

  test('bad arguments are refused with the sizes', () => {
    const x = anisotropic(1, 10, 4);
    expect(() => pca(x, { components: 5 })).toThrow(/components must be an integer in \[1, min\(N, d\)\] = \[1, 4\] for a 10×4 matrix, got 5/);
    expect(() => pca(x, { components: 0 })).toThrow(/got 0/);
    const bad = { ...x, data: Float32Array.from(x.data) };
    bad.data[7] = NaN;
    expect(() => pca(bad, { components: 2 })).toThrow(/element \(1, 3\) is NaN/);
    expect(() => pca({ rows: 3, cols: 3, data: new Float32Array(8) }, { components: 1 })).toThrow(/3×3 needs 9 values, got 8/);
  });
});
