// Determinism: results must be bit-identical for any thread count (native/core/thread_pool.h promises
// fixed chunking and ordered combines), and a seeded training run must be reproducible bit for bit.
import * as dg from '../lib';
import { firstBitDifference, Rng } from './helpers/reference';

const originalThreads = dg.numThreads();
afterAll(() => {
  dg.setNumThreads(originalThreads);
});
let liveBefore = 0;
beforeEach(() => {
  liveBefore = dg.memory().tensors;
});
afterEach(() => {
  dg.setNumThreads(originalThreads);
  // nothing made by a test outlives it (baseline: other test files may share this worker process)
  expect(dg.memory().tensors).toBeLessThanOrEqual(liveBefore);
});

const rng = new Rng(4242);

/** fn's result (copied to the host) with the pool at each thread count. */
function withThreads<T>(counts: number[], fn: () => T): T[] {
  return counts.map((n) => {
    dg.setNumThreads(n);
    expect(dg.numThreads()).toBe(n);
    return dg.tidy(fn);
  });
}

/** Expects every array to equal the first bit for bit; the message names the case and the first differing index. */
function expectBitIdentical(label: string, results: (Float32Array | Int32Array)[]): void {
  for (let r = 1; r < results.length; r++) {
    const i = firstBitDifference(results[0], results[r]);
    expect({ label, run: r, firstDifferenceAt: i, values: i < 0 ? null : [results[0][i], results[r][i]] }).toEqual({
      label,
      run: r,
      firstDifferenceAt: -1,
      values: null,
    });
  }
}

const THREADS = [1, 2];

describe('bit-identical results with 1 and 2 threads', () => {
  test.each([
    [300, 257, 129, false, false],
    [300, 257, 129, true, true],
    [1000, 64, 16, false, true], // skinny n: the transposed-product path
    [65, 400, 300, true, false], // n > m (n-split) and k > KC (several k slices)
  ])('matmul %ix%ix%i (transA=%s, transB=%s)', (m, k, n, ta, tb) => {
    const a = rng.f32(m * k);
    const b = rng.f32(k * n);
    const res = withThreads(THREADS, () =>
      dg.matmul(dg.tensor(a, ta ? [k, m] : [m, k]), dg.tensor(b, tb ? [n, k] : [k, n]), { transA: ta, transB: tb }).dataF32(),
    );
    expectBitIdentical(`matmul ${m}x${k}x${n}`, res);
  });

  test('spmm and transposed spmm on a 20000-node graph (d = 1, 64, 300), and the CSR build itself', () => {
    const n = 20000;
    const m = 150000;
    const src = new Int32Array(m);
    const dst = new Int32Array(m);
    for (let e = 0; e < m; e++) {
      src[e] = rng.next() < 0.1 ? rng.int(20) : rng.int(n); // hubs
      dst[e] = rng.int(n);
    }
    const w = rng.f32(m, 0.1, 1);
    const graphs = withThreads(THREADS, () => {
      const A = dg.SparseMatrix.fromEdges(n, src, dst, { weights: w, normalization: 'sym' });
      try {
        const arr = A.toArrays();
        const t = A.toArrays(true);
        return { A: arr, T: t };
      } finally {
        A.dispose();
      }
    });
    expectBitIdentical('fromEdges indptr', graphs.map((g) => g.A.indptr));
    expectBitIdentical('fromEdges indices', graphs.map((g) => g.A.indices));
    expectBitIdentical('fromEdges values', graphs.map((g) => g.A.values));
    expectBitIdentical('transpose indices', graphs.map((g) => g.T.indices));
    expectBitIdentical('transpose values', graphs.map((g) => g.T.values));

    const A = dg.SparseMatrix.fromEdges(n, src, dst, { weights: w, symmetrize: false, normalization: 'row' });
    try {
      for (const d of [1, 64, 300]) {
        const H = rng.f32(n * d);
        for (const t of [false, true]) {
          const res = withThreads(THREADS, () => A.matmul(dg.tensor(H, [n, d]), t).dataF32());
          expectBitIdentical(`spmm d=${d} transpose=${t}`, res);
        }
      }
    } finally {
      A.dispose();
    }
  });

  test('rowSum, colSum and sum of 1e6 elements (several shapes), also with 3 threads', () => {
    const x = rng.f32(1_000_000, -1, 1);
    for (const shape of [
      [1000, 1000],
      [250000, 4],
      [4, 250000],
    ]) {
      const res = withThreads([1, 2, 3], () => {
        const t = dg.tensor(x, shape);
        return [dg.rowSum(t).dataF32(), dg.colSum(t).dataF32(), dg.sum(t).dataF32(), dg.mean(t).dataF32()];
      });
      ['rowSum', 'colSum', 'sum', 'mean'].forEach((name, q) => expectBitIdentical(`${name} [${shape}]`, res.map((r) => r[q])));
    }
    const losses = withThreads([1, 2, 3], () => {
      const a = dg.tensor(x, [1000, 1000]);
      const b = dg.tensor(x.map((v) => v * 0.5 + 0.1), [1000, 1000]);
      return Float32Array.of(dg.mse(a, b).item(), dg.bceWithLogits(a, dg.sigmoid(b)).item());
    });
    expectBitIdentical('mse and bceWithLogits of 1e6 elements', losses);
  });

  test('softmax, logSoftmax and their gradients (2000x100)', () => {
    const x = rng.f32(2000 * 100, -5, 5);
    const R = rng.f32(2000 * 100);
    const res = withThreads(THREADS, () => {
      const p = dg.parameter(dg.tensor(x, [2000, 100]));
      try {
        const s = dg.softmax(p);
        const l = dg.logSoftmax(p);
        dg.backward(dg.sum(dg.mul(dg.add(s, l), dg.tensor(R, [2000, 100]))));
        return [s.dataF32(), l.dataF32(), p.grad!.dataF32()];
      } finally {
        p.dispose();
      }
    });
    ['softmax', 'logSoftmax', 'gradient'].forEach((name, q) => expectBitIdentical(name, res.map((r) => r[q])));
  });

  test('gatherRows forward and its scatter-add backward (200k repeated indices into 5000x64)', () => {
    const x = rng.f32(5000 * 64);
    const idx = new Int32Array(200000);
    for (let i = 0; i < idx.length; i++) idx[i] = rng.next() < 0.2 ? rng.int(10) : rng.int(5000);
    const R = rng.f32(200000 * 64);
    const res = withThreads(THREADS, () => {
      const p = dg.parameter(dg.tensor(x, [5000, 64]));
      try {
        const g = dg.gatherRows(p, dg.tensor(idx));
        dg.backward(dg.sum(dg.mul(g, dg.tensor(R, [200000, 64]))));
        return [g.dataF32(), p.grad!.dataF32()];
      } finally {
        p.dispose();
      }
    });
    expectBitIdentical('gatherRows', res.map((r) => r[0]));
    expectBitIdentical('scatterAddRows (gatherRows backward)', res.map((r) => r[1]));
  });

  test('random normal and uniform (1e6 samples)', () => {
    const res = withThreads(THREADS, () => {
      const g = new dg.Generator(99);
      return [g.normal([1000, 1000]).dataF32(), g.uniform([1_000_000], -2, 3).dataF32()];
    });
    expectBitIdentical('normal', res.map((r) => r[0]));
    expectBitIdentical('uniform', res.map((r) => r[1]));
  });
});

// ---------------------------------------------------------------------------------------------------------
// A small GCN + MLP head trained with Adam, sized so GEMM, SpMM and the reductions do use both threads.

interface RunResult {
  params: Float32Array[];
  losses: number[];
}

function train(seed: number, steps: number): RunResult {
  const gen = new dg.Generator(seed);
  const n = 1500;
  const fin = 48;
  // graph and data from the seed
  const perm = gen.permutation(n);
  const src: number[] = [];
  const dst: number[] = [];
  for (let i = 0; i < n; i++) {
    src.push(perm[i]);
    dst.push(perm[(i + 1) % n]);
    src.push(i);
    dst.push(perm[(i * 7) % n]);
  }
  const adj = dg.SparseMatrix.fromEdges(n, src, dst);
  const x = dg.keep(gen.normal([n, fin]));
  const target = dg.keep(gen.uniform([n, 4]));
  const g1 = new dg.GraphConv(fin, 64, { activation: dg.relu, generator: gen, bias: true });
  const g2 = new dg.GraphConv(64, 16, { order: 'activate-propagate', activation: dg.tanh, generator: gen });
  const head = new dg.Linear(16, 4, { generator: gen });
  const params = [...g1.parameters(), ...g2.parameters(), ...head.parameters()];
  const opt = new dg.Adam(params, { lr: 1e-2, weightDecay: 1e-4 });
  const losses: number[] = [];
  try {
    for (let s = 0; s < steps; s++) {
      dg.tidy(() => {
        const h = g2.forward(g1.forward(x, adj), adj);
        const logits = head.forward(h);
        const loss = dg.add(dg.bceWithLogits(logits, target), dg.mse(dg.softmax(logits), target));
        losses.push(loss.item());
        opt.zeroGrad();
        dg.backward(loss);
        dg.noGrad(() => opt.step());
      });
    }
    return { params: params.map((p) => p.dataF32()), losses };
  } finally {
    opt.dispose();
    g1.dispose();
    g2.dispose();
    head.dispose();
    x.dispose();
    target.dispose();
    adj.dispose();
  }
}

describe('training', () => {
  test('a few Adam steps of a GCN model give bit-identical parameters with 1 and 2 threads', () => {
    const runs = withThreads(THREADS, () => train(7, 4));
    runs[0].params.forEach((_, q) => expectBitIdentical(`parameter ${q} after 4 Adam steps`, runs.map((r) => r.params[q])));
    expect(runs[1].losses).toEqual(runs[0].losses);
  });

  test('the same seed gives bit-identical parameters after 20 training steps, run twice; another seed differs', () => {
    const a = dg.tidy(() => train(123, 20));
    const b = dg.tidy(() => train(123, 20));
    a.params.forEach((_, q) => expectBitIdentical(`parameter ${q} after 20 steps`, [a.params[q], b.params[q]]));
    expect(b.losses).toEqual(a.losses);
    // the run did train, and every loss is finite
    expect(a.losses.every(Number.isFinite)).toBe(true);
    expect(a.losses[19]).toBeLessThan(a.losses[0]);
    const c = dg.tidy(() => train(124, 1));
    expect(firstBitDifference(a.params[0], c.params[0])).not.toBe(-1);
  });
});
