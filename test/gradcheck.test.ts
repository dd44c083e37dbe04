// Finite-difference gradient checks for every differentiable op in lib/ops.ts, plus composites
// (a 2-layer MLP loss and GraphConv in both orders). See test/helpers/gradcheck.ts for the method and the
// tolerance.
import * as dg from '../lib';
import { expectGradOk, gradcheck, gradcheckParams, InputSpec } from './helpers/gradcheck';
import * as ref from './helpers/reference';
import { Rng } from './helpers/reference';

const rng = new Rng(20240601);

/** A random input: uniform in [lo, hi). */
const U = (shape: number[], lo = -1, hi = 1): InputSpec => ({ data: rng.f32(shape.reduce((a, b) => a * b, 1), lo, hi), shape });
/** A random input bounded away from 0: |x| in [lo, hi], random sign (for kinks and divisions). */
const Away = (shape: number[], lo: number, hi: number): InputSpec => ({
  data: rng.awayFromZero(shape.reduce((a, b) => a * b, 1), lo, hi),
  shape,
});
/** Overwrites a parameter's values in place. */
const setValues = (p: dg.Tensor, values: Float32Array) => dg.tidy(() => dg.native.copyInto(p.handle, dg.tensor(values, p.shape.slice()).handle));
const Const = (s: InputSpec): InputSpec => ({ ...s, grad: false });

interface Case {
  name: string;
  f: (x: dg.Tensor[]) => dg.Tensor;
  inputs: () => InputSpec[];
}

// A non-symmetric, row-normalized adjacency (symmetrize: false), so that Â ≠ Âᵀ and the backward of
// Â·H must really use the transpose. Built once; disposed in afterAll.
const N_GRAPH = 9;
let adj: dg.SparseMatrix;
beforeAll(() => {
  const g = new Rng(77);
  const src: number[] = [];
  const dst: number[] = [];
  for (let e = 0; e < 20; e++) {
    src.push(g.int(N_GRAPH));
    dst.push(g.int(N_GRAPH));
  }
  adj = dg.SparseMatrix.fromEdges(N_GRAPH, src, dst, { symmetrize: false, selfLoops: true, normalization: 'row' });
});
afterAll(() => adj?.dispose());

const gatherIdx = [0, 2, 2, 4, 0, 2, 3];

const cases: Case[] = [
  // ---- linear algebra
  { name: 'matmul NN', f: ([a, b]) => dg.matmul(a, b), inputs: () => [U([4, 5]), U([5, 3])] },
  { name: 'matmul TN (transA)', f: ([a, b]) => dg.matmul(a, b, { transA: true }), inputs: () => [U([5, 4]), U([5, 3])] },
  { name: 'matmul NT (transB)', f: ([a, b]) => dg.matmul(a, b, { transB: true }), inputs: () => [U([4, 5]), U([3, 5])] },
  { name: 'matmul TT (transA, transB)', f: ([a, b]) => dg.matmul(a, b, { transA: true, transB: true }), inputs: () => [U([5, 4]), U([3, 5])] },
  // Large enough for the packed (blocked) GEMM path in forward and backward (m·n·k ≥ 32768).
  { name: 'matmul NN packed path 40x50x33', f: ([a, b]) => dg.matmul(a, b), inputs: () => [U([40, 50]), U([50, 33])] },
  { name: 'matmul TT packed path', f: ([a, b]) => dg.matmul(a, b, { transA: true, transB: true }), inputs: () => [U([50, 40]), U([33, 50])] },
  { name: 'matmul only B requires grad', f: ([a, b]) => dg.matmul(a, b, { transA: true }), inputs: () => [Const(U([5, 4])), U([5, 3])] },
  { name: 'matmul only A requires grad', f: ([a, b]) => dg.matmul(a, b, { transB: true }), inputs: () => [U([4, 5]), Const(U([3, 5]))] },
  { name: 'transpose', f: ([x]) => dg.transpose(x), inputs: () => [U([3, 5])] },
  { name: 'spmm Â·H (SparseMatrix.matmul, transpose=false)', f: ([h]) => adj.matmul(h), inputs: () => [U([N_GRAPH, 4])] },
  { name: 'spmm Âᵀ·H (SparseMatrix.matmul, transpose=true)', f: ([h]) => adj.matmul(h, true), inputs: () => [U([N_GRAPH, 4])] },
  { name: 'spmm via dg.spmm', f: ([h]) => dg.spmm(adj, h), inputs: () => [U([N_GRAPH, 3])] },

  // ---- elementwise
  { name: 'add', f: ([a, b]) => dg.add(a, b), inputs: () => [U([3, 4]), U([3, 4])] },
  { name: 'add (same tensor twice)', f: ([a]) => dg.add(a, a), inputs: () => [U([3, 4])] },
  { name: 'sub', f: ([a, b]) => dg.sub(a, b), inputs: () => [U([3, 4]), U([3, 4])] },
  { name: 'sub only b requires grad', f: ([a, b]) => dg.sub(a, b), inputs: () => [Const(U([3, 4])), U([3, 4])] },
  { name: 'mul', f: ([a, b]) => dg.mul(a, b), inputs: () => [U([3, 4]), U([3, 4])] },
  { name: 'mul (x∘x)', f: ([a]) => dg.mul(a, a), inputs: () => [U([3, 4])] },
  { name: 'div', f: ([a, b]) => dg.div(a, b), inputs: () => [U([3, 4]), Away([3, 4], 0.5, 2)] },
  { name: 'div only b requires grad', f: ([a, b]) => dg.div(a, b), inputs: () => [Const(U([3, 4])), Away([3, 4], 0.5, 2)] },
  { name: 'affine', f: ([x]) => dg.affine(x, 1.7, -0.3), inputs: () => [U([3, 4])] },
  { name: 'scale', f: ([x]) => dg.scale(x, -2.5), inputs: () => [U([3, 4])] },
  { name: 'neg', f: ([x]) => dg.neg(x), inputs: () => [U([3, 4])] },
  { name: 'axpby', f: ([a, b]) => dg.axpby(0.7, a, -1.3, b), inputs: () => [U([3, 4]), U([3, 4])] },
  { name: 'mulScalar (rank-0 s)', f: ([x, s]) => dg.mulScalar(x, s), inputs: () => [U([3, 4]), { data: Float32Array.of(0.8), shape: [] }] },
  { name: 'mulScalar (s of shape [1])', f: ([x, s]) => dg.mulScalar(x, s), inputs: () => [U([3, 4]), { data: Float32Array.of(-1.3), shape: [1] }] },
  { name: 'mulScalar only s requires grad', f: ([x, s]) => dg.mulScalar(x, s), inputs: () => [Const(U([3, 4])), { data: Float32Array.of(0.6), shape: [] }] },
  { name: 'biasAdd', f: ([x, b]) => dg.biasAdd(x, b), inputs: () => [U([5, 3]), U([3])] },
  { name: 'mulRowVector', f: ([x, v]) => dg.mulRowVector(x, v), inputs: () => [U([4, 3]), U([3])] },
  { name: 'mulColVector', f: ([x, v]) => dg.mulColVector(x, v), inputs: () => [U([4, 3]), U([4])] },

  // ---- unary (inputs kept at least 0.1 away from the relu / leakyRelu kink at 0, step is 1e-2)
  { name: 'relu', f: ([x]) => dg.relu(x), inputs: () => [Away([4, 5], 0.1, 2)] },
  { name: 'leakyRelu (default slope 0.01)', f: ([x]) => dg.leakyRelu(x), inputs: () => [Away([4, 5], 0.1, 2)] },
  { name: 'leakyRelu (slope 0.2)', f: ([x]) => dg.leakyRelu(x, 0.2), inputs: () => [Away([4, 5], 0.1, 2)] },
  { name: 'tanh', f: ([x]) => dg.tanh(x), inputs: () => [U([4, 5], -2, 2)] },
  { name: 'sigmoid', f: ([x]) => dg.sigmoid(x), inputs: () => [U([4, 5], -4, 4)] },
  { name: 'exp', f: ([x]) => dg.exp(x), inputs: () => [U([4, 5], -2, 2)] },
  { name: 'log (positive inputs)', f: ([x]) => dg.log(x), inputs: () => [U([4, 5], 0.5, 3)] },
  { name: 'square', f: ([x]) => dg.square(x), inputs: () => [U([4, 5], -2, 2)] },

  // ---- reductions and softmax
  { name: 'rowSum', f: ([x]) => dg.rowSum(x), inputs: () => [U([4, 5])] },
  { name: 'colSum', f: ([x]) => dg.colSum(x), inputs: () => [U([4, 5])] },
  { name: 'sum', f: ([x]) => dg.sum(x), inputs: () => [U([4, 5])] },
  { name: 'sum of a rank-1 tensor', f: ([x]) => dg.sum(x), inputs: () => [U([7])] },
  { name: 'mean', f: ([x]) => dg.mean(x), inputs: () => [U([4, 5])] },
  { name: 'softmax', f: ([x]) => dg.softmax(x), inputs: () => [U([4, 6], -2, 2)] },
  { name: 'logSoftmax', f: ([x]) => dg.logSoftmax(x), inputs: () => [U([4, 6], -2, 2)] },

  // ---- shape and indexing
  { name: 'concatCols (3 inputs)', f: (xs) => dg.concatCols(xs), inputs: () => [U([3, 2]), U([3, 4]), U([3, 1])] },
  { name: 'concatCols (middle input constant)', f: (xs) => dg.concatCols(xs), inputs: () => [U([3, 2]), Const(U([3, 4])), U([3, 1])] },
  { name: 'sliceCols', f: ([x]) => dg.sliceCols(x, 1, 4), inputs: () => [U([3, 6])] },
  {
    name: 'gatherRows (repeated indices)',
    // idx is made inside f (freed by the checker's tidy scope, after backward has used it)
    f: ([x]) => dg.gatherRows(x, dg.tensor(Int32Array.from(gatherIdx))),
    inputs: () => [U([5, 3])],
  },
  { name: 'reshape [3,4] → [2,6]', f: ([x]) => dg.reshape(x, [2, 6]), inputs: () => [U([3, 4])] },
  { name: 'reshape [3,4] → [12]', f: ([x]) => dg.reshape(x, [12]), inputs: () => [U([3, 4])] },
  { name: 'clone', f: ([x]) => dg.clone(x), inputs: () => [U([3, 4])] },
  { name: 'to("cpu")', f: ([x]) => dg.to(x, 'cpu'), inputs: () => [U([3, 4])] },
  { name: 'concatCols (the same tensor twice)', f: ([x]) => dg.concatCols([x, x]), inputs: () => [U([3, 2])] },

  // ---- losses
  { name: 'mse (both inputs)', f: ([a, b]) => dg.mse(a, b), inputs: () => [U([4, 5]), U([4, 5])] },
  { name: 'mse (only b requires grad)', f: ([a, b]) => dg.mse(a, b), inputs: () => [Const(U([4, 5])), U([4, 5])] },
  { name: 'mse (only a requires grad)', f: ([a, b]) => dg.mse(a, b), inputs: () => [U([4, 5]), Const(U([4, 5]))] },
  { name: 'bceWithLogits (both inputs)', f: ([x, t]) => dg.bceWithLogits(x, t), inputs: () => [U([4, 5], -3, 3), U([4, 5], 0, 1)] },
  { name: 'bceWithLogits (only target requires grad)', f: ([x, t]) => dg.bceWithLogits(x, t), inputs: () => [Const(U([4, 5], -3, 3)), U([4, 5], 0, 1)] },
  { name: 'bceWithLogits (only logits requires grad)', f: ([x, t]) => dg.bceWithLogits(x, t), inputs: () => [U([4, 5], -3, 3), Const(U([4, 5], 0, 1))] },

  // ---- small chains (gradient accumulation through shared subexpressions)
  {
    name: 'chain: softmax(x W) ∘ x W, W used twice',
    f: ([x, w]) => {
      const xw = dg.matmul(x, w);
      return dg.mul(dg.softmax(xw), xw);
    },
    inputs: () => [U([4, 3]), U([3, 5])],
  },
];

describe('gradient check of every differentiable op', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const r = gradcheck(c.name, c.f, c.inputs());
    expectGradOk(r);
  });
});

describe('backward frees what it made', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s: no native tensor outlives a gradient check', (_name, c) => {
    const r = gradcheck(c.name, c.f, c.inputs(), { maxChecks: 2 });
    expect(r.leakedTensors).toBeLessThanOrEqual(0); // (< 0 only if the GC freed someone else's garbage meanwhile)
  });
});

describe('composite models', () => {
  test('2-layer MLP (Linear → tanh → Linear) with an MSE loss: gradients of all parameters and of the input', () => {
    const gen = new dg.Generator(3);
    const l1 = new dg.Linear(6, 5, { generator: gen });
    const l2 = new dg.Linear(5, 3, { generator: gen });
    const x = dg.parameter(dg.tensor(rng.f32(7 * 6), [7, 6]));
    const target = dg.keep(dg.tensor(rng.f32(7 * 3), [7, 3]));
    try {
      const params = [...l1.parameters(), ...l2.parameters(), x];
      const r = gradcheckParams('mlp', params, () => dg.mse(l2.forward(dg.tanh(l1.forward(x))), target));
      expectGradOk(r);
    } finally {
      l1.dispose();
      l2.dispose();
      x.dispose();
      target.dispose();
    }
  });

  test('2-layer MLP with leakyRelu and a BCE-with-logits loss', () => {
    const gen = new dg.Generator(4);
    const l1 = new dg.Linear(4, 6, { generator: gen, init: 'xavier' });
    const l2 = new dg.Linear(6, 2, { generator: gen });
    // xavier init gives a zero bias; give it values so the check is not at a special point
    setValues(l1.bias!, rng.f32(6, -0.5, 0.5));
    // leakyRelu has a kink at 0. A step of 1e-2 in one weight or bias moves a pre-activation by at most
    // 1e-2 (|x| < 1), so pick (deterministically) an input whose pre-activations are all ≥ 0.03 from 0.
    let x: dg.Tensor | null = null;
    for (let seed = 1; seed < 200 && !x; seed++) {
      const cand = dg.keep(dg.tensor(new Rng(seed).f32(8 * 4), [8, 4]));
      const pre = dg.tidy(() => dg.noGrad(() => l1.forward(cand).dataF32()));
      if (Array.from(pre).every((v) => ref.abs(v) >= 0.03)) x = cand;
      else cand.dispose();
    }
    const target = dg.keep(dg.tensor(rng.f32(8 * 2, 0, 1), [8, 2]));
    try {
      expect(x).not.toBeNull();
      const params = [...l1.parameters(), ...l2.parameters()];
      const r = gradcheckParams('mlp-bce', params, () => dg.bceWithLogits(l2.forward(dg.leakyRelu(l1.forward(x!), 0.2)), target));
      expectGradOk(r);
    } finally {
      l1.dispose();
      l2.dispose();
      x?.dispose();
      target.dispose();
    }
  });

  test.each(['propagate-activate', 'activate-propagate'] as const)(
    'GraphConv (order %s, tanh, bias) on a non-symmetric row-normalized graph: weight, bias and input gradients',
    (order) => {
      const gen = new dg.Generator(11);
      const layer = new dg.GraphConv(5, 4, { activation: dg.tanh, order, bias: true, generator: gen });
      const h = dg.parameter(dg.tensor(rng.f32(N_GRAPH * 5), [N_GRAPH, 5]));
      try {
        // the bias starts at zero: move it off that special point
        setValues(layer.bias!, rng.f32(4, -0.5, 0.5));
        const r = gradcheckParams(`gcn ${order}`, [layer.weight, layer.bias!, h], () => layer.forward(h, adj));
        expectGradOk(r);
      } finally {
        layer.dispose();
        h.dispose();
      }
    },
  );

  test('two stacked GraphConv layers (no activation on the second) feeding a log-softmax', () => {
    const gen = new dg.Generator(12);
    const g1 = new dg.GraphConv(5, 6, { activation: dg.tanh, generator: gen });
    const g2 = new dg.GraphConv(6, 3, { order: 'activate-propagate', generator: gen });
    const x = dg.keep(dg.tensor(rng.f32(N_GRAPH * 5), [N_GRAPH, 5]));
    try {
      const r = gradcheckParams('gcn stack', [...g1.parameters(), ...g2.parameters()], () =>
        dg.logSoftmax(g2.forward(g1.forward(x, adj), adj)),
      );
      expectGradOk(r);
    } finally {
      g1.dispose();
      g2.dispose();
      x.dispose();
    }
  });
});

describe('the gradient checker itself', () => {
  // y = 2x with a hand-written backward: the checker must accept the right rule and reject a rule that is
  // off by 3% (above RTOL = 1%), and one that routes the gradients of two inputs to each other.
  const twice = (factor: number) => ([x]: dg.Tensor[]) =>
    dg.record(dg.affine(dg.detach(x), 2), 'twice', [x], (g) => [dg.affine(g, factor)]);

  test('accepts a correct hand-written backward', () => {
    expectGradOk(gradcheck('twice ok', twice(2), [U([3, 4])]));
  });

  test('rejects a backward off by 3%', () => {
    const r = gradcheck('twice wrong', twice(2.06), [U([3, 4])]);
    expect(r.ok).toBe(false);
    expect(r.failures.length).toBeGreaterThan(6); // elements whose R entry is tiny fall under ATOL
  });

  test('rejects gradients routed to the wrong input', () => {
    const swapped = ([a, b]: dg.Tensor[]) =>
      dg.record(dg.axpby(1, dg.detach(a), 3, dg.detach(b)), 'swapped', [a, b], (g) => [dg.affine(g, 3), dg.affine(g, 1)]);
    expect(gradcheck('swapped', swapped, [U([2, 3]), U([2, 3])]).ok).toBe(false);
  });
});

describe('logSoftmax backward at large row values', () => {
  // Regression (fixed; native/cpu/reduce.cc, CpuBackend::softmaxRows, log branch; see ops.forward.test.ts): the
  // forward returns x − (m + log Σ) rounded in float32, so for a row of four equal values 1e8 it returns 0
  // instead of −log 4; the backward dx = g − exp(y)·Σg then uses exp(0) = 1 instead of 1/4, and for
  // g = [1, 0, 0, 0] gives [0, −1, −1, −1] instead of [0.75, −0.25, −0.25, −0.25] (with 1e4: off by 1e-4).
  // The softmax gradient is shift-invariant, so the right answer does not depend on the row value.
  test('d logSoftmax(x) for a row of equal values 1e8 equals the one for a row of zeros', () => {
    dg.tidy(() => {
      const x = dg.parameter(dg.full([1, 4], 1e8));
      try {
        dg.backward(dg.logSoftmax(x), dg.tensor([[1, 0, 0, 0]]));
        ref.expectClose(x.grad!.dataF32(), [0.75, -0.25, -0.25, -0.25], 1e-5, 1e-6, 'logSoftmax grad at 1e8');
      } finally {
        x.dispose();
      }
    });
  });
});

describe('tape behaviour around the ops', () => {
  test('an empty batch (0 rows) backpropagates: parameter gradients are zeros of the right shape', () => {
    dg.tidy(() => {
      const x = dg.parameter(dg.zeros([0, 3]));
      const w = dg.parameter(dg.tensor(rng.f32(6), [3, 2]));
      const b = dg.parameter(dg.tensor(rng.f32(2), [2]));
      try {
        const y = dg.biasAdd(dg.matmul(x, w), b);
        dg.backward(dg.sum(dg.tanh(y)));
        expect(x.grad!.shape).toEqual([0, 3]);
        expect(Array.from(w.grad!.dataF32())).toEqual([0, 0, 0, 0, 0, 0]);
        expect(Array.from(b.grad!.dataF32())).toEqual([0, 0]);
      } finally {
        dg.dispose([x, w, b]);
      }
    });
  });

  test('detach blocks the gradient: d/dx Σ (detach(x) + x∘x) = 2x', () => {
    dg.tidy(() => {
      const x = dg.parameter(dg.tensor([0.5, -1, 2]));
      try {
        const d = dg.detach(x);
        expect(d.requiresGrad).toBe(false);
        dg.backward(dg.sum(dg.add(d, dg.mul(x, x))));
        expect(Array.from(x.grad!.dataF32())).toEqual([1, -2, 4]);
      } finally {
        x.dispose();
      }
    });
  });

  test('backward accumulates into .grad across calls; zeroGrad clears it', () => {
    dg.tidy(() => {
      const x = dg.parameter(dg.tensor([1, 2, 3]));
      try {
        dg.backward(dg.sum(dg.square(x)));
        dg.backward(dg.sum(dg.square(x)));
        expect(Array.from(x.grad!.dataF32())).toEqual([4, 8, 12]);
        dg.zeroGrad([x]);
        expect(x.grad).toBeNull();
        dg.backward(dg.sum(dg.scale(x, 3)));
        expect(Array.from(x.grad!.dataF32())).toEqual([3, 3, 3]);
      } finally {
        x.dispose();
      }
    });
  });

  test('backward of a non-scalar output needs gradOutput, which is used as the seed', () => {
    dg.tidy(() => {
      const x = dg.parameter(dg.tensor([1, 2, 3]));
      try {
        expect(() => dg.backward(dg.square(x))).toThrow(expect.objectContaining({ code: 'DGC_SHAPE' }));
        dg.backward(dg.square(x), dg.tensor([1, 10, 100]));
        expect(Array.from(x.grad!.dataF32())).toEqual([2, 40, 600]);
        expect(() => dg.backward(dg.sum(dg.detach(x)))).toThrow(expect.objectContaining({ code: 'DGC_ARG' }));
        expect(() => dg.backward(dg.noGrad(() => dg.sum(x)))).toThrow(expect.objectContaining({ code: 'DGC_ARG' }));
      } finally {
        x.dispose();
      }
    });
  });
});
