// Fused attention and DFCN's self-correlation: forward against a dense float64 reference (the n×m matrix exists
// only here), finite-difference gradient checks through the tape, degenerate inputs, no N×N memory, errors.
import * as dg from '../lib';
import { expectCode } from './helpers/errors';
import { expectGradOk, gradcheck, InputSpec } from './helpers/gradcheck';
import { expectClose, Rng } from './helpers/reference';

const rng = new Rng(777);
const U = (shape: number[], lo = -1, hi = 1): InputSpec => ({ data: rng.f32(shape.reduce((a, b) => a * b, 1), lo, hi), shape });

/** Dense reference: per head, softmax(scale·Q_h K_hᵀ) V_h, in float64 with max subtraction. */
function refAttention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, n: number, m: number, heads: number, dk: number, dv: number, scale: number): Float64Array {
  const out = new Float64Array(n * heads * dv);
  const logits = new Float64Array(m);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < n; i++) {
      let mx = -Infinity;
      for (let j = 0; j < m; j++) {
        let s = 0;
        for (let c = 0; c < dk; c++) s += q[i * heads * dk + h * dk + c] * k[j * heads * dk + h * dk + c];
        logits[j] = scale * s;
        if (logits[j] > mx) mx = logits[j];
      }
      let sum = 0;
      for (let j = 0; j < m; j++) sum += (logits[j] = Math.exp(logits[j] - mx));
      for (let j = 0; j < m; j++) {
        const p = logits[j] / sum;
        for (let c = 0; c < dv; c++) out[i * heads * dv + h * dv + c] += p * v[j * heads * dv + h * dv + c];
      }
    }
  }
  return out;
}

describe('forward against a dense float64 reference', () => {
  test.each([
    [1, 1, 4, 4],
    [37, 1, 20, 20],
    [64, 8, 4, 4],
    [129, 2, 3, 5],
  ])('attention n=m=%d, heads=%d, dk=%d, dv=%d, scale 1/√dk', (n, heads, dk, dv) => {
    const q = U([n, heads * dk]);
    const k = U([n, heads * dk]);
    const v = U([n, heads * dv]);
    dg.tidy(() => {
      const out = dg.attention(dg.tensor(q.data, q.shape), dg.tensor(k.data, k.shape), dg.tensor(v.data, v.shape), { heads });
      expectClose(out.dataF32(), refAttention(q.data, k.data, v.data, n, n, heads, dk, dv, 1 / Math.sqrt(dk)), 1e-4, 1e-6, 'out');
    });
  });

  test('cross attention with a different number of keys (n=20 queries, m=53 keys)', () => {
    const q = U([20, 6]);
    const k = U([53, 6]);
    const v = U([53, 4]);
    dg.tidy(() => {
      const out = dg.attention(dg.tensor(q.data, q.shape), dg.tensor(k.data, k.shape), dg.tensor(v.data, v.shape), { heads: 2, scale: 0.7 });
      expectClose(out.dataF32(), refAttention(q.data, k.data, v.data, 20, 53, 2, 3, 2, 0.7), 1e-4, 1e-6, 'out');
    });
  });

  test('selfCorrelation = softmax(Z Zᵀ) Z (no scaling), equal to attention(z, z, z, scale 1)', () => {
    const z = U([300, 20], -1.5, 1.5);
    dg.tidy(() => {
      const t = dg.tensor(z.data, z.shape);
      const sc = dg.selfCorrelation(t);
      expectClose(sc.dataF32(), refAttention(z.data, z.data, z.data, 300, 300, 1, 20, 20, 1), 1e-4, 1e-6, 'Z_G');
      expectClose(sc.dataF32(), dg.attention(t, t, t, { scale: 1 }).dataF32(), 1e-5, 1e-6, 'vs attention');
    });
  });

  test('degenerate inputs: identical rows, huge norms that overflow a plain softmax, a zero row', () => {
    const n = 50;
    const d = 8;
    const z = U([n, d]).data;
    for (let c = 0; c < d; c++) {
      z[3 * d + c] = z[4 * d + c]; // identical rows
      z[10 * d + c] = 0; // a zero row
      z[20 * d + c] = 300 * (c % 2 ? 1 : -1); // ‖z‖² ≈ 7e5: exp overflows float64 without max subtraction
    }
    dg.tidy(() => {
      const out = dg.selfCorrelation(dg.tensor(z, [n, d])).dataF32();
      expect(Array.from(out).every(Number.isFinite)).toBe(true);
      expectClose(out, refAttention(z, z, z, n, n, 1, d, d, 1), 1e-4, 1e-4, 'Z_G');
      // The huge row attends (almost) only to itself.
      for (let c = 0; c < d; c++) expect(out[20 * d + c]).toBeCloseTo(z[20 * d + c], 2);
    });
  });
});

describe('gradient checks (finite differences through the tape)', () => {
  test('selfCorrelation', () => {
    expectGradOk(gradcheck('selfCorrelation', ([z]) => dg.selfCorrelation(z), [U([12, 5])]));
  });
  test('DFCN block: Z̃ = β·softmax(Z Zᵀ)Z + Z with a learnable β (DFCN SAIF step ⑤)', () => {
    expectGradOk(
      gradcheck('dfcn block', ([z, beta]) => dg.add(dg.mulScalar(dg.selfCorrelation(z), beta), z), [U([10, 4]), { data: Float32Array.of(0.3), shape: [] }]),
    );
  });
  test('attention: q, k, v, 2 heads', () => {
    expectGradOk(gradcheck('attention', ([q, k, v]) => dg.attention(q, k, v, { heads: 2 }), [U([7, 6]), U([9, 6]), U([9, 4])]));
  });
  test('attention(z, z, z): the three gradients add up', () => {
    expectGradOk(gradcheck('self attention', ([z]) => dg.attention(z, z, z, { heads: 2, scale: 0.5 }), [U([8, 6])]));
  });
});

test('self-correlation at N = 50,000, d = 20 allocates no N×N tensor (native peak bytes ≪ 100 MB)', () => {
  const n = 50000;
  const d = 20;
  const gen = new dg.Generator(3);
  dg.tidy(() => {
    const z = dg.parameter(gen.uniform([n, d], -0.3, 0.3));
    dg.resetPeakMemory();
    const base = dg.memory().bytes;
    const zg = dg.selfCorrelation(z);
    const loss = dg.mean(zg);
    dg.backward(loss);
    const peak = dg.memory().peakBytes - base;
    // z, Z_G, lse, the loss, dZ and its seed: a few n×d buffers (4 MB each). A dense N×N float matrix is 10 GB.
    expect(peak).toBeLessThan(40e6);
    expect(Array.from(z.grad!.dataF32().subarray(0, 100)).every(Number.isFinite)).toBe(true);
    z.dispose();
  });
});

describe('bad input', () => {
  const t = (r: number, c: number) => dg.tensor(U([r, c]).data, [r, c]);
  test('shapes that do not fit', () => {
    expectCode(() => dg.attention(t(4, 6), t(5, 4), t(5, 2)), 'DGC_SHAPE', /attention/, /'q'/, /'k'/);
    expectCode(() => dg.attention(t(4, 6), t(5, 6), t(6, 2)), 'DGC_SHAPE', /attention/, /one value per key/);
    expectCode(() => dg.attention(t(4, 6), t(5, 6), t(5, 2), { heads: 4 }), 'DGC_SHAPE', /attention/, /heads/);
  });
  test('NaN in Z names the row and column', () => {
    const z = U([6, 3]).data;
    z[10] = NaN;
    expectCode(() => dg.selfCorrelation(dg.tensor(z, [6, 3])), 'DGC_VALUE', /selfCorrelation/, /'z'/, /row 3, column 1/);
  });
  test('a non-finite scale', () => {
    expectCode(() => dg.attention(t(4, 6), t(5, 6), t(5, 2), { scale: Infinity }), 'DGC_VALUE', /attention/, /scale/);
  });
});
