// CPU ↔ CUDA parity through the TypeScript API: every op of the native op table, forward and backward, run on the
// CPU and on the GPU (inputs moved with dg.to / created with { device: 'cuda' }) and compared element by element;
// finite-difference gradient checks of a few ops computed on the GPU; the CUDA memory counters; device errors.
//
// Skips visibly (one test that logs "skipped: no CUDA device (<reason>)") when dg.backends() says CUDA is not
// available: the node-gyp build is CPU-only, and a CUDA build on a machine without a GPU falls back to the CPU.
// To run on a GPU machine: build with `npx cmake-js compile --out build-cmake`, then
//   DGCLUST_NATIVE_PATH=build-cmake/Release/dgclust.node npx jest test/cuda.parity.test.ts
//
// Tolerances (per case below): |cuda − cpu| ≤ rtol·|cpu| + atol·max|cpu| over the tensor (the second term scales
// with the tensor's magnitude, as gradients of mean-type losses are uniformly small). rtol = atol = 0 means bit for
// bit (NaN = NaN): the CUDA backend matches the CPU exactly for transfers, elementwise arithmetic, gathers and
// scatters, optimizer steps and random numbers (cuda/kernels.h says which ops). Sums, GEMM (a different summation
// order: relative error ~√k·2^-24) and transcendental functions (CUDA's libm vs glibc) get small tolerances; the
// fused kernels (attention, reconstruction, clustering head) a little more (exp2 approximations, tiled sums).
import * as dg from '../lib';
import { expectGradOk, gradcheck, InputSpec } from './helpers/gradcheck';
import { compareClose, Rng } from './helpers/reference';

const cudaInfo = dg.backends().find((b) => b.name === 'cuda');
const hasCuda = cudaInfo?.available === true;
const describeCuda = hasCuda ? describe : describe.skip;

describe('CUDA backend', () => {
  test(hasCuda ? 'is available' : 'skipped: no CUDA device', () => {
    if (!hasCuda) {
      // eslint-disable-next-line no-console
      console.log(`skipped: no CUDA device (${cudaInfo?.reason ?? 'no CUDA entry in backends()'})`);
      expect(cudaInfo?.reason).toBeTruthy();
      return;
    }
    expect(cudaInfo?.available).toBe(true);
  });
});

const rng = new Rng(20251122);
const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const U = (shape: number[], lo = -1, hi = 1): InputSpec => ({ data: rng.f32(numel(shape), lo, hi), shape });
const Const = (s: InputSpec): InputSpec => ({ ...s, grad: false });
const Away = (shape: number[], lo: number, hi: number): InputSpec => ({ data: rng.awayFromZero(numel(shape), lo, hi), shape });

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i]) && Math.abs(a[i]) > m) m = Math.abs(a[i]);
  return m;
}

function expectParity(label: string, got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol: number): void {
  const scale = atol * Math.max(maxAbs(want), 1e-30);
  const r = compareClose(got, want, rtol, scale, label);
  if (!r.ok) throw new Error(r.message);
}

/** A row-stochastic target P (n×k), as DEC's target distribution makes. */
function targetP(n: number, k: number): InputSpec {
  const q = rng.f32(n * k, 0.05, 1);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += q[i * k + j] * q[i * k + j];
    for (let j = 0; j < k; j++) q[i * k + j] = (q[i * k + j] * q[i * k + j]) / s;
  }
  return { data: q, shape: [n, k], grad: false };
}

// ---- sparse graphs (built once per device) ------------------------------------------------------------------
const N_GRAPH = 300;
const graphEdges = (() => {
  const g = new Rng(77);
  const src: number[] = [];
  const dst: number[] = [];
  for (let e = 0; e < 2400; e++) {
    src.push(g.int(N_GRAPH));
    dst.push(e % 5 === 0 ? 0 : g.int(N_GRAPH)); // node 0 is a hub
  }
  return { src, dst };
})();
type Graphs = { row: dg.SparseMatrix; sym: dg.SparseMatrix; target: dg.SparseMatrix };
const graphs: Partial<Record<dg.Device, Graphs>> = {};
function graph(device: dg.Device): Graphs {
  const g = graphs[device];
  if (!g) throw new Error(`no test graphs on ${device}`);
  return g;
}
// Built once for the whole file (their CSR buffers, transposes included, are then not counted as leaks of a test).
beforeAll(() => {
  if (!hasCuda) return;
  const { src, dst } = graphEdges;
  for (const device of ['cpu', 'cuda'] as const) {
    const g: Graphs = {
      // Row-normalized and not symmetrized: Â ≠ Âᵀ, so the backward really uses the transpose.
      row: dg.SparseMatrix.fromEdges(N_GRAPH, src, dst, { symmetrize: false, normalization: 'row', device }),
      sym: dg.SparseMatrix.fromEdges(N_GRAPH, src, dst, { normalization: 'sym', device }),
      // A 0/1 target for the BCE reconstruction loss (values in [0, 1]).
      target: dg.SparseMatrix.fromEdges(N_GRAPH, src, dst, { normalization: 'none', selfLoops: true, device }),
    };
    for (const m of [g.row, g.sym, g.target]) m.toArrays(true); // builds and keeps the transpose
    graphs[device] = g;
  }
});
afterAll(() => {
  for (const g of Object.values(graphs)) {
    g?.row.dispose();
    g?.sym.dispose();
    g?.target.dispose();
  }
});

interface ParityCase {
  name: string;
  inputs: () => InputSpec[];
  /** The op, given tensors on one device (the sparse graphs of that device are passed along). */
  f: (x: dg.Tensor[], device: dg.Device) => dg.Tensor;
  /** Forward tolerance (see the header); [0, 0] = bit for bit. */
  fwd: [number, number];
  /** Gradient tolerance per input; default: fwd. */
  grad?: [number, number];
}

const EXACT: [number, number] = [0, 0];
const SUM: [number, number] = [2.5e-7, 1e-7]; // double sums rounded to float, in another order
const LIBM: [number, number] = [1e-6, 1e-7]; // CUDA libm vs glibc (a few ulp)
const GEMM: [number, number] = [1e-5, 2e-6];
const FUSED: [number, number] = [2e-4, 2e-5];

const cases: ParityCase[] = [
  // ---- dense linear algebra
  { name: 'matmul NN', inputs: () => [U([67, 45]), U([45, 39])], f: ([a, b]) => dg.matmul(a, b), fwd: GEMM },
  { name: 'matmul TN', inputs: () => [U([45, 67]), U([45, 39])], f: ([a, b]) => dg.matmul(a, b, { transA: true }), fwd: GEMM },
  { name: 'matmul NT', inputs: () => [U([67, 45]), U([39, 45])], f: ([a, b]) => dg.matmul(a, b, { transB: true }), fwd: GEMM },
  { name: 'matmul TT', inputs: () => [U([45, 67]), U([39, 45])], f: ([a, b]) => dg.matmul(a, b, { transA: true, transB: true }), fwd: GEMM },
  { name: 'matmul narrow (n = 10, k = 700: split-K)', inputs: () => [U([150, 700]), U([700, 10])], f: ([a, b]) => dg.matmul(a, b), fwd: GEMM },
  { name: 'matmul large tiles 300x200x260', inputs: () => [U([300, 200]), U([200, 260])], f: ([a, b]) => dg.matmul(a, b), fwd: GEMM },
  { name: 'transpose', inputs: () => [U([37, 70])], f: ([x]) => dg.transpose(x), fwd: EXACT },
  // ---- sparse
  { name: 'spmm Â·H narrow (d = 10)', inputs: () => [U([N_GRAPH, 10])], f: ([h], dev) => graph(dev).row.matmul(h), fwd: EXACT, grad: [1e-6, 1e-6] },
  { name: 'spmm Âᵀ·H wide (d = 300)', inputs: () => [U([N_GRAPH, 300])], f: ([h], dev) => graph(dev).row.matmul(h, true), fwd: [1e-6, 1e-6] },
  { name: 'spmm sym d = 33 (scalar wide path)', inputs: () => [U([N_GRAPH, 33])], f: ([h], dev) => dg.spmm(graph(dev).sym, h), fwd: EXACT, grad: [1e-6, 1e-6] },
  // ---- elementwise
  { name: 'add', inputs: () => [U([23, 17]), U([23, 17])], f: ([a, b]) => dg.add(a, b), fwd: EXACT },
  { name: 'sub', inputs: () => [U([23, 17]), U([23, 17])], f: ([a, b]) => dg.sub(a, b), fwd: EXACT },
  { name: 'mul', inputs: () => [U([23, 17]), U([23, 17])], f: ([a, b]) => dg.mul(a, b), fwd: EXACT },
  { name: 'div', inputs: () => [U([23, 17]), Away([23, 17], 0.5, 2)], f: ([a, b]) => dg.div(a, b), fwd: EXACT },
  { name: 'affine', inputs: () => [U([23, 17])], f: ([x]) => dg.affine(x, 1.7, -0.3), fwd: EXACT },
  { name: 'axpby', inputs: () => [U([23, 17]), U([23, 17])], f: ([a, b]) => dg.axpby(0.7, a, -1.3, b), fwd: EXACT },
  { name: 'mulScalar', inputs: () => [U([23, 17]), { data: Float32Array.of(0.8), shape: [] }], f: ([x, s]) => dg.mulScalar(x, s), fwd: EXACT, grad: SUM },
  { name: 'biasAdd', inputs: () => [U([23, 17]), U([17])], f: ([x, b]) => dg.biasAdd(x, b), fwd: EXACT, grad: SUM },
  { name: 'mulRowVector', inputs: () => [U([23, 17]), U([17])], f: ([x, v]) => dg.mulRowVector(x, v), fwd: EXACT, grad: SUM },
  { name: 'mulColVector', inputs: () => [U([23, 17]), U([23])], f: ([x, v]) => dg.mulColVector(x, v), fwd: EXACT, grad: SUM },
  { name: 'relu', inputs: () => [Away([23, 17], 0.05, 2)], f: ([x]) => dg.relu(x), fwd: EXACT },
  { name: 'leakyRelu', inputs: () => [Away([23, 17], 0.05, 2)], f: ([x]) => dg.leakyRelu(x, 0.2), fwd: EXACT },
  { name: 'tanh', inputs: () => [U([23, 17], -3, 3)], f: ([x]) => dg.tanh(x), fwd: LIBM },
  { name: 'sigmoid', inputs: () => [U([23, 17], -6, 6)], f: ([x]) => dg.sigmoid(x), fwd: LIBM },
  { name: 'exp', inputs: () => [U([23, 17], -4, 4)], f: ([x]) => dg.exp(x), fwd: LIBM },
  { name: 'log', inputs: () => [U([23, 17], 0.05, 5)], f: ([x]) => dg.log(x), fwd: LIBM, grad: EXACT },
  { name: 'square', inputs: () => [U([23, 17])], f: ([x]) => dg.square(x), fwd: EXACT },
  // ---- reductions and softmax
  { name: 'rowSum', inputs: () => [U([23, 170])], f: ([x]) => dg.rowSum(x), fwd: SUM },
  { name: 'colSum', inputs: () => [U([700, 17])], f: ([x]) => dg.colSum(x), fwd: SUM },
  { name: 'sum', inputs: () => [U([230, 170])], f: ([x]) => dg.sum(x), fwd: SUM },
  { name: 'mean', inputs: () => [U([23, 17])], f: ([x]) => dg.mean(x), fwd: SUM },
  { name: 'softmax', inputs: () => [U([23, 17], -5, 5)], f: ([x]) => dg.softmax(x), fwd: LIBM, grad: [2e-6, 2e-7] },
  { name: 'logSoftmax', inputs: () => [U([23, 17], -5, 5)], f: ([x]) => dg.logSoftmax(x), fwd: LIBM, grad: [2e-6, 2e-7] },
  { name: 'softmax wide rows (block per row)', inputs: () => [U([3, 5000], -5, 5)], f: ([x]) => dg.softmax(x), fwd: LIBM, grad: [2e-6, 2e-7] },
  // ---- shape and indexing
  { name: 'concatCols', inputs: () => [U([23, 5]), U([23, 11]), U([23, 1])], f: (xs) => dg.concatCols(xs), fwd: EXACT },
  { name: 'sliceCols (padCols backward)', inputs: () => [U([23, 17])], f: ([x]) => dg.sliceCols(x, 3, 12), fwd: EXACT },
  {
    name: 'gatherRows (scatterAddRows backward, repeated rows)',
    inputs: () => [U([40, 13])],
    f: ([x], dev) => dg.gatherRows(x, dg.tensor(Int32Array.from([0, 5, 5, 39, 2, 5, 0, 17, 17]), [9], { device: dev })),
    fwd: EXACT,
  },
  { name: 'clone', inputs: () => [U([7, 5])], f: ([x]) => dg.clone(x), fwd: EXACT },
  { name: 'reshape', inputs: () => [U([6, 5])], f: ([x]) => dg.reshape(x, [3, 10]), fwd: EXACT },
  // ---- losses
  { name: 'mse', inputs: () => [U([23, 17]), U([23, 17])], f: ([a, b]) => dg.mse(a, b), fwd: SUM, grad: EXACT },
  { name: 'bceWithLogits', inputs: () => [U([23, 17], -4, 4), Const(U([23, 17], 0, 1))], f: ([x, t]) => dg.bceWithLogits(x, t), fwd: SUM, grad: LIBM },
  // ---- attention
  { name: 'selfCorrelation', inputs: () => [U([90, 16], -0.5, 0.5)], f: ([z]) => dg.selfCorrelation(z), fwd: FUSED },
  {
    name: 'attention, 2 heads',
    inputs: () => [U([70, 16]), U([50, 16]), U([50, 12])],
    f: ([q, k, v]) => dg.attention(q, k, v, { heads: 2 }),
    fwd: FUSED,
  },
  { name: 'attention, wide head (dk = 80: generic kernels)', inputs: () => [U([40, 80], -0.3, 0.3), U([33, 80], -0.3, 0.3), U([33, 70])], f: ([q, k, v]) => dg.attention(q, k, v), fwd: FUSED },
  // ---- graph reconstruction losses
  { name: 'gramSigmoidMse (z1, z2)', inputs: () => [U([N_GRAPH, 8], -0.5, 0.5), U([N_GRAPH, 8], -0.5, 0.5)], f: ([a, b], dev) => dg.gramSigmoidMse(graph(dev).row, a, b), fwd: FUSED },
  { name: 'gramSigmoidMse (z1 only)', inputs: () => [U([N_GRAPH, 8], -0.5, 0.5)], f: ([a], dev) => dg.gramSigmoidMse(graph(dev).sym, a), fwd: FUSED },
  { name: 'gramSigmoidBce', inputs: () => [U([N_GRAPH, 8], -0.5, 0.5)], f: ([z], dev) => dg.gramSigmoidBce(graph(dev).target, z), fwd: FUSED },
  // ---- clustering head
  { name: 'studentT', inputs: () => [U([60, 10]), U([4, 10])], f: ([z, mu]) => dg.studentT(z, mu, 1), fwd: FUSED },
  { name: 'studentT nu = 2.5', inputs: () => [U([60, 10]), U([4, 10])], f: ([z, mu]) => dg.studentT(z, mu, 2.5), fwd: FUSED },
  { name: 'klStudentT', inputs: () => [U([60, 10]), U([4, 10]), targetP(60, 4)], f: ([z, mu, p]) => dg.klStudentT(z, mu, p, { weight: 0.1 }), fwd: FUSED },
  {
    name: 'klStudentT triplet',
    inputs: () => [U([60, 10]), U([60, 10]), U([60, 10]), U([4, 10]), targetP(60, 4)],
    f: ([a, b, c, mu, p]) => dg.klStudentT([a, b, c], mu, p, { weight: 10 }),
    fwd: FUSED,
  },
  { name: 'klStudentTSelf', inputs: () => [U([60, 10]), U([4, 10])], f: ([z, mu]) => dg.klStudentTSelf(z, mu, { weight: 0.1 }).loss, fwd: FUSED },
  {
    name: 'klStudentTSelf triplet',
    inputs: () => [U([60, 10]), U([60, 10]), U([60, 10]), U([4, 10])],
    f: ([a, b, c, mu]) => dg.klStudentTSelf([a, b, c], mu, { weight: 10 }).loss,
    fwd: FUSED,
  },
  { name: 'focalStudentT', inputs: () => [U([60, 10]), U([4, 10]), targetP(60, 4)], f: ([z, mu, p]) => dg.focalStudentT(z, mu, p, { gamma: 2 }), fwd: FUSED },
  { name: 'pairAffinity', inputs: () => [U([40, 6])], f: ([y]) => dg.pairAffinity(y), fwd: FUSED },
  { name: 'cdcCorrelationLoss', inputs: () => [U([40, 6]), U([40, 6])], f: ([a, b]) => dg.cdcCorrelationLoss(a, b, { weight: 0.5 }), fwd: FUSED },
  // ---- fused layer steps (matmulBiasAct / spmm with an activation / activationGrad; CUDA runs the Backend
  // defaults: gemm, addRowVector and unary in place, then unaryGrad and colSum in the backward)
  { name: 'linear NT + bias + relu (nn.Linear)', inputs: () => [U([67, 45]), U([39, 45]), U([39])], f: ([x, w, b]) => dg.linear(x, w, b, { transB: true, activation: 'relu' }), fwd: GEMM },
  { name: 'linear NN + leakyRelu 0.2, no bias', inputs: () => [U([150, 40]), U([40, 10])], f: ([x, w]) => dg.linear(x, w, null, { activation: 'leakyRelu', slope: 0.2 }), fwd: GEMM },
  { name: 'linear TN + bias, no activation', inputs: () => [U([45, 67]), U([45, 39]), U([39])], f: ([x, w, b]) => dg.linear(x, w, b, { transA: true }), fwd: GEMM },
  { name: 'spmm Â·H + relu (d = 33)', inputs: () => [U([N_GRAPH, 33])], f: ([h], dev) => dg.spmm(graph(dev).row, h, false, { activation: 'relu' }), fwd: EXACT, grad: [1e-6, 1e-6] },
  { name: 'spmm Âᵀ·H + leakyRelu (d = 10)', inputs: () => [U([N_GRAPH, 10])], f: ([h], dev) => dg.spmm(graph(dev).row, h, true, { activation: 'leakyRelu', slope: 0.1 }), fwd: [1e-6, 1e-6] },
];

interface RunResult {
  out: Float32Array | Int32Array;
  grads: (Float32Array | null)[];
}

/** Runs a case on one device: forward, then backward of Σ out ∘ R (R fixed), returning the output and the grads. */
function runCase(c: ParityCase, specs: InputSpec[], R: Float32Array | null, device: dg.Device): RunResult {
  const inputs = specs.map((s) => {
    const t = dg.tensor(s.data, s.shape, { device });
    return s.grad === false ? dg.keep(t) : dg.parameter(t);
  });
  try {
    return dg.tidy(() => {
      const out = c.f(inputs, device);
      expect(out.device).toBe(device);
      const result: RunResult = { out: out.data(), grads: [] };
      if (out.requiresGrad && R) {
        const loss = dg.sum(dg.mul(out, dg.tensor(R.subarray(0, out.size), out.shape.slice(), { device })));
        dg.backward(loss);
        result.grads = inputs.map((x, k) => (specs[k].grad === false ? null : x.grad ? x.grad.dataF32() : null));
      }
      return result;
    });
  } finally {
    for (const t of inputs) t.dispose();
  }
}

describeCuda('CPU ↔ CUDA parity, forward and backward, every op', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const before = dg.memory('cuda').tensors;
    const specs = c.inputs();
    const R = rng.f32(1 << 20, -1, 1);
    const cpu = runCase(c, specs, R, 'cpu');
    const gpu = runCase(c, specs, R, 'cuda');
    const [rtol, atol] = c.fwd;
    expectParity(`${c.name}: forward`, gpu.out, cpu.out, rtol, atol);
    const [grtol, gatol] = c.grad ?? c.fwd;
    cpu.grads.forEach((g, k) => {
      if (!g) return;
      const gg = gpu.grads[k];
      if (!gg) throw new Error(`${c.name}: input ${k} has a CPU gradient but no CUDA gradient`);
      // Gradients of the fused losses and GEMM products accumulate more rounding than their forwards.
      const loose = c.grad ? 1 : c.fwd === FUSED || c.fwd === GEMM ? 4 : c.fwd === EXACT ? 0 : 2;
      expectParity(`${c.name}: gradient of input ${k}`, gg, g, loose === 0 ? 0 : grtol * loose, loose === 0 ? 0 : gatol * loose);
    });
    expect(dg.memory('cuda').tensors).toBe(before);
  });
});

describeCuda('CPU ↔ CUDA parity, ops without gradients', () => {
  test('argmaxRows (ties, NaN) and targetDistribution', () => {
    const x = Float32Array.from([1, 3, 3, 2, NaN, 1, NaN, 5, -Infinity, -Infinity, -Infinity, -Infinity, 0, -0, 0, 0]);
    const cpu = dg.tidy(() => dg.argmaxRows(dg.tensor(x, [4, 4])).data());
    const gpu = dg.tidy(() => dg.argmaxRows(dg.tensor(x, [4, 4], { device: 'cuda' })).data());
    expect(Array.from(gpu)).toEqual(Array.from(cpu));
    const q = targetP(50, 6).data;
    const pc = dg.tidy(() => dg.targetDistribution(dg.tensor(q, [50, 6])).dataF32());
    const pg = dg.tidy(() => dg.targetDistribution(dg.tensor(q, [50, 6], { device: 'cuda' })).dataF32());
    expectParity('targetDistribution', pg, pc, ...FUSED);
  });

  test('random numbers are the same bits on both devices', () => {
    for (const shape of [[1], [3], [5, 7], [1001, 3]]) {
      const a = new dg.Generator(1234);
      const b = new dg.Generator(1234);
      const [uc, ug, nc, ng] = dg.tidy(() => [
        a.uniform(shape, -2, 3, 'cpu').dataF32(),
        b.uniform(shape, -2, 3, 'cuda').dataF32(),
        a.normal(shape, 0.5, 2, 'cpu').dataF32(),
        b.normal(shape, 0.5, 2, 'cuda').dataF32(),
      ]);
      expectParity(`uniform ${shape}`, ug, uc, 0, 0);
      expectParity(`normal ${shape}`, ng, nc, 0, 0);
    }
  });

  test('full / zeros / ones / tensor / to round trips', () => {
    const data = rng.f32(300, -5, 5);
    dg.tidy(() => {
      const g = dg.tensor(data, [30, 10], { device: 'cuda' });
      expect(g.device).toBe('cuda');
      expectParity('tensor → cuda → data', g.dataF32(), data, 0, 0);
      expectParity('to cpu', dg.to(g, 'cpu').dataF32(), data, 0, 0);
      expectParity('full', dg.full([4, 5], -1.5, { device: 'cuda' }).dataF32(), new Float32Array(20).fill(-1.5), 0, 0);
      expect(Array.from(dg.full([6], 7, { device: 'cuda', dtype: 'int32' }).data())).toEqual([7, 7, 7, 7, 7, 7]);
      expectParity('zeros', dg.zeros([9], { device: 'cuda' }).dataF32(), new Float32Array(9), 0, 0);
    });
  });

  test('Adam, AdamW and SGD steps are the same bits on both devices', () => {
    for (const make of [
      (p: dg.Tensor[]) => new dg.Adam(p, { lr: 1e-2, weightDecay: 1e-2 }),
      (p: dg.Tensor[]) => new dg.Adam(p, { lr: 1e-2, weightDecay: 1e-2, decoupled: true }),
      (p: dg.Tensor[]) => new dg.SGD(p, { lr: 0.05, momentum: 0.9, weightDecay: 1e-3 }),
    ]) {
      const init = rng.f32(257, -1, 1);
      const grads = [0, 1, 2].map(() => rng.f32(257, -1, 1));
      const result = (device: dg.Device) => {
        const p = dg.parameter(dg.tensor(init, [257], { device }));
        const opt = make([p]);
        for (const g of grads) {
          dg.tidy(() => dg.backward(dg.sum(dg.mul(p, dg.tensor(g, [257], { device })))));
          opt.step();
          opt.zeroGrad();
        }
        const out = p.dataF32();
        opt.dispose();
        p.dispose();
        return out;
      };
      expectParity('optimizer', result('cuda'), result('cpu'), 0, 0);
    }
  });

  test('kmeans finds the same partition and inertia', () => {
    const k = 4;
    const n = 400;
    const d = 5;
    const data = new Float32Array(n * d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) data[i * d + j] = (i % k) * 10 + rng.uniform(-1, 1);
    const run = (device: dg.Device) =>
      dg.tidy(() => {
        const r = dg.kmeans(dg.tensor(data, [n, d], { device }), k, { seed: 3, nInit: 3 });
        expect(r.centers.device).toBe(device);
        return { labels: r.labels, inertia: r.inertia };
      });
    const cpu = run('cpu');
    const gpu = run('cuda');
    // Same partition up to the naming of the clusters.
    const map = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      if (!map.has(cpu.labels[i])) map.set(cpu.labels[i], gpu.labels[i]);
      expect(gpu.labels[i]).toBe(map.get(cpu.labels[i]));
    }
    expect(Math.abs(gpu.inertia - cpu.inertia)).toBeLessThanOrEqual(1e-4 * cpu.inertia);
  });

  test('knnGraph: the same neighbours (heat, cosine, dot)', () => {
    const x = rng.f32(150 * 12, -1, 1);
    for (const metric of ['heat', 'cosine', 'dot'] as const) {
      const c = dg.tidy(() => dg.knnGraph(dg.tensor(x, [150, 12]), 6, { metric }).data());
      const g = dg.tidy(() => dg.knnGraph(dg.tensor(x, [150, 12], { device: 'cuda' }), 6, { metric }).data());
      expect(Array.from(g)).toEqual(Array.from(c));
    }
  });
});

describeCuda('finite-difference gradient checks computed on the GPU', () => {
  // The inputs live on the CPU (the checker perturbs them there); f moves them to the GPU, runs the op there and
  // brings the result back, so the analytic gradient is the CUDA backward (through the differentiable dg.to).
  const onGpu = (op: (x: dg.Tensor[]) => dg.Tensor) => (xs: dg.Tensor[]) =>
    dg.to(op(xs.map((x) => dg.to(x, 'cuda'))), 'cpu');
  const checks: [string, (x: dg.Tensor[]) => dg.Tensor, () => InputSpec[]][] = [
    ['matmul TN', onGpu(([a, b]) => dg.matmul(a, b, { transA: true })), () => [U([6, 4]), U([6, 5])]],
    ['softmax', onGpu(([x]) => dg.softmax(x)), () => [U([5, 7], -2, 2)]],
    ['sigmoid ∘ mulRowVector', onGpu(([x, v]) => dg.sigmoid(dg.mulRowVector(x, v))), () => [U([5, 4]), U([4])]],
    ['mse', onGpu(([a, b]) => dg.mse(a, b)), () => [U([6, 3]), U([6, 3])]],
    ['gatherRows', onGpu(([x]) => dg.gatherRows(x, dg.tensor(Int32Array.from([1, 1, 0, 3]), [4], { device: 'cuda' }))), () => [U([5, 3])]],
    ['studentT', onGpu(([z, mu]) => dg.studentT(z, mu)), () => [U([8, 3]), U([3, 3])]],
    ['klStudentT', onGpu(([z, mu, p]) => dg.klStudentT(z, mu, p)), () => [U([8, 3]), U([3, 3]), targetP(8, 3)]],
    ['selfCorrelation', onGpu(([z]) => dg.selfCorrelation(z)), () => [U([7, 4], -0.5, 0.5)]],
  ];
  test.each(checks)('%s', (name, f, inputs) => {
    const r = gradcheck(`${name} on cuda`, f, inputs());
    expectGradOk(r);
    expect(r.leakedTensors).toBe(0);
  });

  test('spmm (Âᵀ·H through the transpose built on the GPU)', () => {
    const { row } = graph('cuda');
    const r = gradcheck('spmm on cuda', onGpu(([h]) => row.matmul(h, true)), [U([N_GRAPH, 3])], { maxChecks: 20 });
    expectGradOk(r);
  });
});

describeCuda('CUDA errors', () => {
  test('mixed devices → DGC_DEVICE naming the op and the arguments', () => {
    dg.tidy(() => {
      const a = dg.tensor(rng.f32(6), [2, 3]);
      const b = dg.tensor(rng.f32(6), [2, 3], { device: 'cuda' });
      const codeOf = (fn: () => unknown) => {
        try {
          fn();
        } catch (e) {
          return [(e as { code?: string }).code, (e as Error).message];
        }
        return ['none', ''];
      };
      const [c1, m1] = codeOf(() => dg.add(a, b));
      expect(c1).toBe('DGC_DEVICE');
      expect(m1).toMatch(/binary.*'a'.*cpu.*'b'.*cuda/);
      const [c2, m2] = codeOf(() => dg.matmul(a, b, { transB: true }));
      expect(c2).toBe('DGC_DEVICE');
      expect(m2).toMatch(/matmul/);
      const [c3, m3] = codeOf(() => dg.studentT(b, a));
      expect(c3).toBe('DGC_DEVICE');
      expect(m3).toMatch(/studentT.*'mu'/);
    });
  });

  test('a NaN in a CUDA tensor is refused with the CPU message (device-side scan)', () => {
    const z = rng.f32(40, -1, 1);
    z[13] = NaN;
    const mu = rng.f32(8, -1, 1);
    const message = (device: dg.Device) => {
      try {
        dg.tidy(() => dg.studentT(dg.tensor(z, [10, 4], { device }), dg.tensor(mu, [2, 4], { device })));
      } catch (e) {
        expect((e as { code?: string }).code).toBe('DGC_VALUE');
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(message('cuda')).toBe(message('cpu'));
  });

  test('memory("cuda") counts CUDA tensors; releaseCachedMemory empties the CUDA cache', () => {
    const before = dg.memory('cuda');
    const t = dg.zeros([1000], { device: 'cuda' });
    expect(dg.memory('cuda').tensors).toBe(before.tensors + 1);
    expect(dg.memory('cuda').bytes).toBe(before.bytes + 4000);
    t.dispose();
    expect(dg.memory('cuda').tensors).toBe(before.tensors);
    dg.releaseCachedMemory();
    expect(dg.memory('cuda').cachedBytes).toBe(0);
  });
});
