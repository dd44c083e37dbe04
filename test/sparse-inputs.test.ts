// Sparse constant inputs (ops.attachRowSparse, native/core/row_sparse.h, cpu/gemm.h sgemmSparse): the CPU products
// that read a bag-of-words feature matrix skip its zeros, and must give exactly the dense products' values — the
// promise is a faster model, never a different one. The kernels' bit-for-bit check over shapes, forms, kernel sets
// and thread counts is test/native/sparse_gemm_test.cc; here: the ops through the addon (forward and the gradients
// the tape takes through them), the constant's protection against in-place writes, and a real model (AGCN on the
// embedded ACM, whose features are 4.5% nonzero and whose ÂX is 20%) trained with and without the index
// (DGCLUST_SPARSE_INPUTS=0), epoch by epoch the same.
import * as dg from '../lib';
import * as ops from '../lib/ops';
import { native } from '../lib/native';
import { agcnSpec } from '../lib/models/agcn';
import type { AgcnSettings } from '../lib/models/agcn';
import { fit } from '../lib/train/trainer';
import { prng } from './helpers/data';

// rows × cols with about `density` nonzeros (values in [-1, 1], never exactly 0).
function sparseArray(rows: number, cols: number, density: number, seed: number): Float32Array {
  const rand = prng(seed);
  const a = new Float32Array(rows * cols);
  for (let i = 0; i < a.length; i++) if (rand() < density) a[i] = (rand() * 2 - 1) || 0.5;
  return a;
}
function denseArray(n: number, seed: number): Float32Array {
  const rand = prng(seed);
  return Float32Array.from({ length: n }, () => (rand() * 2 - 1) || 0.5);
}
// f must throw a DgcError with this code and a message matching re.
function expectError(f: () => unknown, code: string, re: RegExp): void {
  let err: { code?: string; message?: string } | undefined;
  try {
    f();
  } catch (e) {
    err = e as { code?: string; message?: string };
  }
  expect([err?.code, err?.message]).toEqual([code, expect.stringMatching(re)]);
}
const bits = (t: dg.Tensor) => new Uint32Array(t.dataF32().slice().buffer);

describe('sparse constant inputs (attachRowSparse)', () => {
  const N = 700, K = 900, H = 130;

  test('reports the density, attaches at or under maxDensity only, and is idempotent', () => {
    const xs = dg.tensor(sparseArray(N, K, 0.05, 1), [N, K]);
    const xd = dg.tensor(sparseArray(N, K, 0.6, 2), [N, K]);
    try {
      const a = ops.attachRowSparse(xs);
      expect(a.attached).toBe(true);
      expect(a.density).toBeGreaterThan(0.04);
      expect(a.density).toBeLessThan(0.06);
      expect(ops.attachRowSparse(xs)).toEqual(a);
      const d = ops.attachRowSparse(xd);
      expect(d.attached).toBe(false);
      expect(d.density).toBeGreaterThan(0.55);
      expectError(() => native.attachRowSparse(xs.handle, 1.5), 'DGC_VALUE', /^attachRowSparse: 'maxDensity' must be in \[0, 1\], got 1.5/);
      const v = dg.tensor(new Float32Array(6), [6]);
      try {
        expectError(() => ops.attachRowSparse(v), 'DGC_SHAPE', /^attachRowSparse: argument 'x' must have rank 2, got shape \[6\]/);
      } finally {
        v.dispose();
      }
    } finally {
      xs.dispose();
      xd.dispose();
    }
  });

  test('matmul and linear, forward and backward, give the dense values bit for bit', () => {
    const arr = sparseArray(N, K, 0.05, 3);
    const dense = dg.tensor(arr, [N, K]);
    const sparse = dg.tensor(arr, [N, K]);
    expect(ops.attachRowSparse(sparse).attached).toBe(true);
    const wOutIn = dg.parameter(dg.tensor(denseArray(H * K, 4), [H, K]));
    const wInOut = dg.parameter(dg.tensor(denseArray(K * H, 5), [K, H]));
    const bias = dg.parameter(dg.tensor(denseArray(H, 6), [H]));
    const g = dg.tensor(denseArray(N * H, 7), [N, H]);
    try {
      // forward and the weight gradients of nn.Linear's layout (X·Wᵀ + b, ReLU: dW = Pᵀ·X) and of a GCN weight
      // (X·W: dW = Xᵀ·G), each computed once from the dense input and once from the indexed one
      const run = (x: dg.Tensor) => {
        dg.zeroGrad([wOutIn, wInOut, bias]);
        return dg.tidy(() => {
          const y1 = ops.linear(x, wOutIn, bias, { transB: true, activation: 'relu' });
          const y2 = ops.matmul(x, wInOut);
          dg.backward(ops.add(ops.sum(ops.mul(y1, g)), ops.sum(ops.mul(y2, g))));
          return [y1, y2, wOutIn.grad!, wInOut.grad!, bias.grad!].map((t) => bits(t));
        });
      };
      const a = run(dense);
      const b = run(sparse);
      const names = ['linear forward', 'matmul forward', 'dW (out × in)', 'dW (in × out)', 'db'];
      a.forEach((want, i) => {
        const got = b[i];
        let diff = 0;
        for (let j = 0; j < want.length; j++) diff += want[j] !== got[j] ? 1 : 0;
        if (diff) throw new Error(`${names[i]}: ${diff} of ${want.length} values differ`);
      });
      // the transposed product as an op (Xᵀ·G) and the dense side on the left (Gᵀ·X)
      for (const [f, label] of [[(x: dg.Tensor) => ops.matmul(x, g, { transA: true }), 'Xᵀ·G'],
        [(x: dg.Tensor) => ops.matmul(g, x, { transA: true }), 'Gᵀ·X']] as const) {
        const p = f(dense);
        const q = f(sparse);
        try {
          expect([label, Buffer.from(bits(q).buffer).equals(Buffer.from(bits(p).buffer))]).toEqual([label, true]);
        } finally {
          p.dispose();
          q.dispose();
        }
      }
    } finally {
      for (const t of [dense, sparse, wOutIn, wInOut, bias, g]) t.dispose();
    }
  });

  const cuda = dg.backends().find((b) => b.name === 'cuda');
  if (!cuda?.available) console.warn(`skipped: the CUDA case of the sparse inputs (${cuda?.reason ?? 'no CUDA backend in this build'})`);
  (cuda?.available ? test : test.skip)('on CUDA: nothing is indexed (the CUDA products are dense), density not measured', () => {
    const x = dg.tensor(sparseArray(50, 40, 0.1, 10), [50, 40], { device: 'cuda' });
    try {
      const r = ops.attachRowSparse(x);
      expect(r.attached).toBe(false);
      expect(r.density).toBeNaN();
    } finally {
      x.dispose();
    }
  });

  test('an indexed input is a constant: in-place writes are refused, naming the argument', () => {
    const x = dg.tensor(sparseArray(50, 40, 0.1, 8), [50, 40]);
    const y = dg.tensor(new Float32Array(2000), [50, 40]);
    const m = dg.tensor(new Float32Array(2000), [50, 40]);
    const v = dg.tensor(new Float32Array(2000), [50, 40]);
    try {
      expect(ops.attachRowSparse(x).attached).toBe(true);
      expectError(() => native.copyInto(x.handle, y.handle), 'DGC_ARG', /^copyInto: 'dst' is a constant input with a nonzero index/);
      expectError(() => native.adamStep(x.handle, y.handle, m.handle, v.handle, { lr: 1e-3, step: 1 }), 'DGC_ARG',
        /^adamStep: 'param' is a constant input/);
      expect(() => native.sgdStep(y.handle, x.handle, null, 0.1, 0, 0)).not.toThrow();  // reading it is fine
      // a clone is an ordinary tensor
      const c = ops.detach(x);
      try {
        expect(() => native.copyInto(c.handle, y.handle)).not.toThrow();
      } finally {
        c.dispose();
      }
    } finally {
      for (const t of [x, y, m, v]) t.dispose();
    }
  });

  test('AGCN on ACM trains to the same losses, metrics and labels with and without the index', () => {
    // 3 AE pretraining epochs and 3 AGCN epochs: the features (4.5% nonzero) feed the AE's first layer and ÂX (20%)
    // the first GCN layer, forward and backward; any difference in a single bit would show in the losses.
    const acm = dg.fromDataset(dg.loadDataset('acm'));
    const s: AgcnSettings = { ...agcnSpec.presets.acm, aeEpochs: 3, epochs: 3 };
    const train = () => {
      const input = agcnSpec.prepare(acm, s, { device: 'cpu' });
      try {
        const r = fit(agcnSpec, input, s, { seed: 1, keepEmbedding: true });
        return {
          indexedInputs: [input.x, input.ax].map((t) => native.attachRowSparse(t.handle, 0).attached),
          events: r.events.map((e) => ({ phase: e.phase, epoch: e.epoch, losses: e.losses, readouts: e.readouts })),
          predicted: Array.from(r.predicted),
          embedding: Array.from(new Uint32Array(r.embedding!.data.buffer)),
        };
      } finally {
        input.dispose();
      }
    };
    const indexed = train();
    // DGCLUST_SPARSE_INPUTS=0: the same run with every input dense
    process.env.DGCLUST_SPARSE_INPUTS = '0';
    let plain;
    try {
      const probe = dg.tensor(sparseArray(40, 30, 0.05, 9), [40, 30]);
      expect(ops.attachRowSparse(probe).attached).toBe(false);
      probe.dispose();
      plain = train();
    } finally {
      delete process.env.DGCLUST_SPARSE_INPUTS;
    }
    expect(indexed.indexedInputs).toEqual([true, true]);  // X and ÂX read through their index
    expect(plain.indexedInputs).toEqual([false, false]);
    expect(indexed.events.length).toBeGreaterThan(3);
    expect(indexed.events).toEqual(plain.events);
    expect(indexed.predicted).toEqual(plain.predicted);
    expect(indexed.embedding).toEqual(plain.embedding);
  }, 300000);
});
