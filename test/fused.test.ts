// The fused layer ops: `linear` (native matmulBiasAct: act(op(x)·op(w) + b) with the bias and activation in the
// GEMM's epilogue, backward through activationGrad) and `spmm` with an activation (act(Â·H) in one pass). They
// must give bit for bit the values of the unfused ops they replace — on every GEMM path (direct loops, packed
// m- and n-split, the skinny dot and skinny transposed-A paths, the Cᵀ swap for 16 < n < 64, k cut into slices)
// and for any thread count — and their gradients must pass finite differences. Plus what they made possible:
// GraphConv frees H·W after the SpMM (freeValues), the tape accepts one gradient tensor for two inputs.
import * as dg from '../lib';
import { SdcnModule } from '../lib/models/sdcn';
import { MlpAutoencoder } from '../lib/models/blocks';
import { expectGradOk, gradcheck, gradcheckParams, InputSpec } from './helpers/gradcheck';
import { Rng } from './helpers/reference';
import { settleNativeGarbage } from './helpers/data';

const rng = new Rng(2026_12_06);
const U = (shape: number[], lo = -1, hi = 1): InputSpec => ({ data: rng.f32(shape.reduce((a, b) => a * b, 1), lo, hi), shape });

const bitsEqual = (a: Float32Array, b: Float32Array, label: string) => {
  expect(a.length).toBe(b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let first = -1;
  for (let i = 0; i < ua.length && first < 0; i++) if (ua[i] !== ub[i]) first = i;
  if (first >= 0) throw new Error(`${label}: element ${first} differs: ${a[first]} vs ${b[first]}`);
};

// Live native tensors before these tests: every test must leave the count as it found it. Tensors an earlier test
// file in this jest worker dropped are collected first, or a collection during these tests would change the count.
let live = 0;
beforeAll(async () => {
  await settleNativeGarbage();
  live = dg.memory().tensors;
});
afterEach(() => {
  dg.setNumThreads(2);
  expect(dg.memory().tensors).toBe(live);
});

// m × k × n with the path sgemm takes for it (native/cpu/gemm.cc).
const SHAPES: [number, number, number, string][] = [
  [3, 4, 5, 'direct loops'],
  [300, 200, 260, 'packed, m-split'],
  [40, 300, 500, 'packed, n-split'],
  [500, 70, 10, 'skinny n'],
  [300, 100, 40, 'Cᵀ swap (16 < n < 64)'],
  [150, 1100, 70, 'k in three slices'],
  [9, 700, 2000, 'small m, wide n'],
];
const ACTS: [dg.ActivationName, number][] = [['none', 0], ['relu', 0], ['leakyRelu', 0.2]];

describe('linear = act(matmul + bias), bit for bit', () => {
  test.each(SHAPES)('%i×%i×%i (%s), every transpose form, activation and bias, 1 and 2 threads', (m, k, n) => {
    for (const threads of [1, 2]) {
      dg.setNumThreads(threads);
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
        dg.tidy(() => {
          const a = dg.tensor(rng.f32(m * k, -1, 1), ta ? [k, m] : [m, k]);
          const b = dg.tensor(rng.f32(k * n, -1, 1), tb ? [n, k] : [k, n]);
          const bias = dg.tensor(rng.f32(n, -1, 1), [n]);
          for (const [act, slope] of ACTS) {
            for (const withBias of [true, false]) {
              let want = dg.matmul(a, b, { transA: ta, transB: tb });
              if (withBias) want = dg.biasAdd(want, bias);
              if (act === 'relu') want = dg.relu(want);
              if (act === 'leakyRelu') want = dg.leakyRelu(want, slope);
              const got = dg.linear(a, b, withBias ? bias : null, { transA: ta, transB: tb, activation: act, slope });
              bitsEqual(got.dataF32(), want.dataF32(), `${m}x${k}x${n} ${ta ? 'T' : 'N'}${tb ? 'T' : 'N'} ${act} bias ${withBias} threads ${threads}`);
            }
          }
        });
      }
    }
  });

  test('the gradients equal those of the unfused ops bit for bit (ReLU and bias)', () => {
    const x = U([120, 70]);
    const w = U([90, 70]);
    const b = U([90]);
    const r = U([120, 90]);
    const grads = (fused: boolean) => dg.tidy(() => {
      const ps = [x, w, b].map((s) => dg.parameter(dg.tensor(s.data, s.shape)));
      const y = fused
        ? dg.linear(ps[0], ps[1], ps[2], { transB: true, activation: 'relu' })
        : dg.relu(dg.biasAdd(dg.matmul(ps[0], ps[1], { transB: true }), ps[2]));
      dg.backward(dg.sum(dg.mul(y, dg.tensor(r.data, r.shape))));
      const out = ps.map((p) => p.grad!.dataF32());
      for (const p of ps) p.dispose();
      return out;
    });
    const [f, u] = [grads(true), grads(false)];
    f.forEach((g, i) => bitsEqual(g, u[i], `d${['x', 'w', 'b'][i]}`));
  });

  test.each([
    ['relu, bias, W [out, in] (nn.Linear)', 'relu', 0, true, true],
    ['leakyRelu 0.2, bias', 'leakyRelu', 0.2, true, false],
    ['no activation, no bias', 'none', 0, false, false],
  ] as [string, dg.ActivationName, number, boolean, boolean][])('finite differences: %s', (_, act, slope, withBias, tb) => {
    const specs = [U([7, 5]), tb ? U([6, 5]) : U([5, 6])];
    if (withBias) specs.push(U([6]));
    const r = gradcheck(`linear ${act}`, (t) => dg.linear(t[0], t[1], withBias ? t[2] : null, { transB: tb, activation: act, slope }), specs,
      { skipKinks: act !== 'none' });
    expectGradOk(r);
    expect(r.leakedTensors).toBe(0);
    expect((r as unknown as { skipped: number }).skipped).toBeLessThan(r.checked / 4);
  });

  test('bad arguments are refused naming the op and the argument', () => {
    dg.tidy(() => {
      const a = dg.zeros([4, 3]);
      const b = dg.zeros([3, 5]);
      expect(() => dg.linear(a, b, dg.zeros([4]))).toThrow(expect.objectContaining({ code: 'DGC_SHAPE', message: expect.stringMatching(/matmulBiasAct: 'bias' must have shape \[5\]/) }));
      expect(() => dg.linear(a, b, null, { activation: 'leakyRelu', slope: -0.1 })).toThrow(expect.objectContaining({ code: 'DGC_VALUE', message: expect.stringMatching(/slope must be >= 0/) }));
      expect(() => dg.linear(a, dg.zeros([4, 5]), null)).toThrow(expect.objectContaining({ code: 'DGC_SHAPE', message: expect.stringMatching(/inner dimensions differ/) }));
      expect(() => dg.native.matmulBiasAct(a.handle, b.handle, false, false, null, 'gelu' as dg.ActivationName)).toThrow(/unknown activation 'gelu'/);
    });
  });
});

describe('spmm with an activation', () => {
  const graph = () => {
    const g = new Rng(5);
    const src: number[] = [];
    const dst: number[] = [];
    for (let e = 0; e < 400; e++) {
      src.push(g.int(60));
      dst.push(g.int(60));
    }
    return dg.SparseMatrix.fromEdges(60, src, dst, { symmetrize: false, normalization: 'row' });
  };

  test('relu / leakyRelu(Â·H) equal the unfused ops bit for bit (widths 1 … 300, both directions)', () => {
    const a = graph();
    try {
      for (const d of [1, 10, 20, 33, 64, 300]) {
        dg.tidy(() => {
          const h = dg.tensor(rng.f32(60 * d, -1, 1), [60, d]);
          for (const t of [false, true]) {
            bitsEqual(dg.spmm(a, h, t, { activation: 'relu' }).dataF32(), dg.relu(dg.spmm(a, h, t)).dataF32(), `relu d ${d}`);
            bitsEqual(dg.spmm(a, h, t, { activation: 'leakyRelu', slope: 0.3 }).dataF32(), dg.leakyRelu(dg.spmm(a, h, t), 0.3).dataF32(), `leaky d ${d}`);
          }
        });
      }
    } finally {
      a.dispose();
    }
  });

  test('finite differences through act(Â·H)', () => {
    const a = graph();
    try {
      const r = gradcheck('spmm relu', ([h]) => dg.spmm(a, h, false, { activation: 'relu' }), [U([60, 4])], { skipKinks: true });
      expectGradOk(r);
      const r2 = gradcheck('spmmᵀ leaky', ([h]) => dg.spmm(a, h, true, { activation: 'leakyRelu', slope: 0.1 }), [U([60, 3])], { skipKinks: true });
      expectGradOk(r2);
    } finally {
      a.dispose();
    }
  });
});

describe('what the fused ops made possible', () => {
  test('GraphConv frees H·W once Â·(H·W) is computed, and gradients still reach W and H', () => {
    const a = dg.SparseMatrix.fromEdges(50, [0, 1, 2, 3], [1, 2, 3, 4], { normalization: 'row' });
    const layer = new dg.GraphConv(30, 20, { activation: dg.relu, generator: new dg.Generator(1) });
    const h = dg.parameter(dg.tensor(rng.f32(50 * 30, -1, 1), [50, 30]));
    try {
      dg.tidy(() => {
        const before = dg.memory().bytes;
        const y = layer.forward(h, a);
        // Only the output is left alive by the layer (50 × 20 floats), not H·W as well.
        expect(dg.memory().bytes - before).toBe(50 * 20 * 4);
        dg.backward(dg.sum(y));
      });
      expect(h.grad).not.toBeNull();
      expect(layer.weight.grad).not.toBeNull();
      dg.zeroGrad([h, layer.weight]);
      // A small step: each weight moves 20 × 50 pre-activations, some of them within ±1e-2 of a ReLU kink.
      const r = gradcheckParams('gcn', [h, layer.weight], () => layer.forward(h, a), { skipKinks: true, stepScale: 1e-3 });
      expectGradOk(r);
      expect(r.skipped).toBeLessThan(r.checked / 4);
    } finally {
      h.dispose();
      layer.dispose();
      a.dispose();
    }
  });

  test('one gradient tensor for two inputs, one of which already holds a gradient (axpby with equal weights)', () => {
    // z feeds both the axpby and a second term: when the axpby's backward runs, z may already hold a gradient,
    // and the shared 0.5·g must not be freed by accumulating into z before it is handed to the other input.
    const r = gradcheck('axpby shared', ([u, v]) => dg.add(dg.axpby(0.5, u, 0.5, dg.tanh(u)), dg.mul(u, v)), [U([6, 4]), U([6, 4])]);
    expectGradOk(r);
    const r2 = gradcheck('axpby same input', ([u]) => dg.axpby(0.5, u, 0.5, u), [U([3, 3])]);
    expectGradOk(r2);
  });

  test('MlpAutoencoder.embed gives encode().z and, under noGrad, keeps at most two layer outputs alive', () => {
    const ae = new MlpAutoencoder({ nInput: 40, hidden: [64, 64, 256], nZ: 8, generator: new dg.Generator(3) });
    try {
      dg.tidy(() => {
        const x = dg.tensor(rng.f32(200 * 40, 0, 1), [200, 40]);
        const want = dg.noGrad(() => ae.encode(x).z).dataF32();
        dg.resetPeakMemory();
        const base = dg.memory().bytes;
        const z = dg.noGrad(() => ae.embed(x));
        bitsEqual(z.dataF32(), want, 'embed');
        // Peak: the widest two consecutive layers (64 + 256 columns), not all of them (64 + 64 + 256 + 8).
        expect(dg.memory().peakBytes - base).toBeLessThanOrEqual(200 * (64 + 256) * 4);
      });
    } finally {
      ae.dispose();
    }
  });

  test('SdcnModule with small widths trains a step (the bench step and the trainer share it)', () => {
    const a = dg.SparseMatrix.fromEdges(30, [0, 1, 2], [1, 2, 3], { normalization: 'row' });
    const m = new SdcnModule(12, 3, new dg.Generator(0), 'cpu', { hidden: [8, 8, 16], nZ: 4 });
    try {
      const x = dg.tensor(rng.f32(30 * 12, 0, 1), [30, 12]);
      const value = dg.tidy(() => {
        let p: dg.Tensor | null = null;
        const l = m.loss(x, a, { sigma: 0.5, klQ: 0.1, klZ: 0.01 }, { refresh: true, target: () => p, setTarget: (t) => (p = t) });
        dg.backward(l.total);
        return l.total.item();
      });
      expect(Number.isFinite(value)).toBe(true);
      expect(m.parameters().every((p) => p.grad !== null)).toBe(true);
      dg.zeroGrad(m.parameters());
      x.dispose();
    } finally {
      m.dispose();
      a.dispose();
    }
  });
});
