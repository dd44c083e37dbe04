// The CPU ↔ CUDA parity table and checks, shared by the jest test (test/cuda.parity.test.ts) and the plain-node runner
// of the GPU check (test/parity/runner.ts, compiled into dist/ by scripts/gpu-check.sh --pack): one list of cases, no
// second copy. Nothing here uses jest: a failed check throws an Error saying what differs.
//
// Every op of the native op table, forward and backward: inputs are made on the CPU, copied to the GPU (dg.tensor with
// { device: 'cuda' }), the op runs on both, and outputs and gradients (of Σ out ∘ R, R fixed) are compared element by
// element. Then the ops without gradients (argmax, target distribution, random numbers, optimizer steps, k-means, kNN),
// finite-difference gradient checks computed on the GPU, the device errors, and the determinism checks of
// cuda/common.cuh (no result depends on the SM count; every split count agrees with the CPU).
//
// Tolerances (per case below): |cuda − cpu| ≤ rtol·|cpu| + atol·max|cpu| over the tensor (the second term scales
// with the tensor's magnitude, as gradients of mean-type losses are uniformly small). rtol = atol = 0 means bit for
// bit (NaN = NaN): the CUDA backend matches the CPU exactly for transfers, elementwise arithmetic, gathers and
// scatters, optimizer steps and random numbers (cuda/cuda_backend.h says which ops). Sums, GEMM (a different
// summation order: relative error ~√k·2^-24) and transcendental functions (CUDA's libm vs glibc) get small
// tolerances; the fused kernels (attention, reconstruction, clustering head) a little more (exp2 approximations,
// tiled sums).
import * as dg from '../../lib';
import { expectGradOk, gradcheck, InputSpec } from '../helpers/gradcheck';
import { compareClose, Rng } from '../helpers/reference';

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
export const N_GRAPH = 300;
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
export function graph(device: dg.Device): Graphs {
  const g = graphs[device];
  if (!g) throw new Error(`no test graphs on ${device}`);
  return g;
}
/** Builds the test graphs on the CPU and, with `withCuda`, on the GPU (once per process; call disposeGraphs after). */
export function setupGraphs(withCuda: boolean): void {
  const { src, dst } = graphEdges;
  for (const device of (withCuda ? ['cpu', 'cuda'] : ['cpu']) as dg.Device[]) {
    if (graphs[device]) continue;
    const g: Graphs = {
      // Row-normalized and not symmetrized: Â ≠ Âᵀ, so the backward really uses the transpose.
      row: dg.SparseMatrix.fromEdges(N_GRAPH, src, dst, { symmetrize: false, normalization: 'row', device }),
      sym: dg.SparseMatrix.fromEdges(N_GRAPH, src, dst, { normalization: 'sym', device }),
      // A 0/1 target for the BCE reconstruction loss (values in [0, 1]).
      target: dg.SparseMatrix.fromEdges(N_GRAPH, src, dst, { normalization: 'none', selfLoops: false, device }),
    };
    for (const m of [g.row, g.sym, g.target]) m.toArrays(true); // builds and keeps the transpose
    graphs[device] = g;
  }
}

export function disposeGraphs(): void {
  for (const [device, g] of Object.entries(graphs)) {
    g?.row.dispose();
    g?.sym.dispose();
    g?.target.dispose();
    delete graphs[device as dg.Device];
  }
}

export interface ParityCase {
  name: string;
  inputs: () => InputSpec[];
  /** The op, given tensors on one device (the sparse graphs of that device are passed along). */
  f: (x: dg.Tensor[], device: dg.Device) => dg.Tensor;
  /** Forward tolerance (see the header); [0, 0] = bit for bit. */
  fwd: [number, number];
  /** Gradient tolerance per input; default: fwd. */
  grad?: [number, number];
}

export const EXACT: [number, number] = [0, 0];
export const SUM: [number, number] = [2.5e-7, 1e-7]; // double sums rounded to float, in another order
export const LIBM: [number, number] = [1e-6, 1e-7]; // CUDA libm vs glibc (a few ulp)
export const GEMM: [number, number] = [1e-5, 2e-6];
export const FUSED: [number, number] = [2e-4, 2e-5];

/** k-means on the CPU and the GPU: the same partition (up to the clusters' names) and inertia; k blobs, rows i % k. */
function kmeansParity(n: number, d: number, k: number): void {
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) data[i * d + j] = (i % k) * 10 + rng.uniform(-1, 1);
  const run = (device: dg.Device) =>
    dg.tidy(() => {
      const r = dg.kmeans(dg.tensor(data, [n, d], { device }), k, { seed: 3, nInit: 3 });
      check(r.centers.device === device, `kmeans: centres on ${r.centers.device}, not ${device}`);
      return { labels: r.labels, inertia: r.inertia };
    });
  const cpu = run('cpu');
  const gpu = run('cuda');
  const map = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    if (!map.has(cpu.labels[i])) map.set(cpu.labels[i], gpu.labels[i]);
    check(gpu.labels[i] === map.get(cpu.labels[i]), `kmeans ${n}×${d}: row ${i} is in another cluster on the GPU`);
  }
  check(Math.abs(gpu.inertia - cpu.inertia) <= 1e-4 * cpu.inertia, `kmeans ${n}×${d}: inertia ${gpu.inertia} on the GPU, ${cpu.inertia} on the CPU`);
}

export const parityCases: ParityCase[] = [
  // ---- dense linear algebra
  { name: 'matmul NN', inputs: () => [U([67, 45]), U([45, 39])], f: ([a, b]) => dg.matmul(a, b), fwd: GEMM },
  { name: 'matmul TN', inputs: () => [U([45, 67]), U([45, 39])], f: ([a, b]) => dg.matmul(a, b, { transA: true }), fwd: GEMM },
  { name: 'matmul NT', inputs: () => [U([67, 45]), U([39, 45])], f: ([a, b]) => dg.matmul(a, b, { transB: true }), fwd: GEMM },
  { name: 'matmul TT', inputs: () => [U([45, 67]), U([39, 45])], f: ([a, b]) => dg.matmul(a, b, { transA: true, transB: true }), fwd: GEMM },
  { name: 'matmul narrow (n = 10, k = 700: split-K)', inputs: () => [U([150, 700]), U([700, 10])], f: ([a, b]) => dg.matmul(a, b), fwd: GEMM },
  { name: 'matmul large tiles 300x200x260', inputs: () => [U([300, 200]), U([200, 260])], f: ([a, b]) => dg.matmul(a, b), fwd: GEMM },
  // An empty inner dimension: C = 0 (cuBLAS refuses a 0 leading dimension; the built-in path writes it).
  { name: 'matmul with k = 0 (5×0 · 0×3)', inputs: () => [U([5, 0]), U([0, 3])], f: ([a, b]) => dg.matmul(a, b), fwd: EXACT },
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
  // DCCF's contractive penalty: a 4-layer ReLU encoder 9-6-5-7-3 on 4 samples (random hidden activations give the
  // masks), both exact forms; a chain of GEMMs, so GEMM-order rounding compounds over the layers.
  ...(['direct', 'gram'] as const).map((form): ParityCase => ({
    name: `contractivePenalty (${form})`,
    inputs: () => [U([6, 9]), U([5, 6]), U([7, 5]), U([3, 7]), Const(U([4, 6])), Const(U([4, 5])), Const(U([4, 7]))],
    f: ([w1, w2, w3, w4, h1, h2, h3]) => dg.contractivePenalty([w1, w2, w3, w4], [h1, h2, h3], { scale: 0.25, form }),
    fwd: FUSED,
  })),
  { name: 'pairAffinity', inputs: () => [U([40, 6])], f: ([y]) => dg.pairAffinity(y), fwd: FUSED },
  { name: 'cdcCorrelationLoss', inputs: () => [U([40, 6]), U([40, 6])], f: ([a, b]) => dg.cdcCorrelationLoss(a, b, { weight: 0.5 }), fwd: FUSED },
  // CDC's clipped row KL (L_c) and pairwise KL (L_DC) in every variant
  { name: 'rowKlClipped', inputs: () => [targetP(60, 4), targetP(60, 4)], f: ([a, b]) => dg.rowKlClipped(a, b, { weight: 0.5 }), fwd: FUSED },
  ...(['row', 'global'] as const).flatMap((normalization) => [true, false].map((sharpen): ParityCase => ({
    name: `cdcPairLoss ${normalization}${sharpen ? ' sharpened' : ''}`,
    inputs: () => [U([40, 6]), U([40, 30], -0.3, 0.3)],
    f: ([a, b]: dg.Tensor[]) => dg.cdcPairLoss(a, b, { weight: 0.5, normalization, sharpen }),
    fwd: FUSED,
  }))),
  // ---- fused layer steps (matmulBiasAct / spmm with an activation / activationGrad; CUDA runs the Backend
  // defaults: gemm, addRowVector and unary in place, then unaryGrad and colSum in the backward)
  { name: 'linear NT + bias + relu (nn.Linear)', inputs: () => [U([67, 45]), U([39, 45]), U([39])], f: ([x, w, b]) => dg.linear(x, w, b, { transB: true, activation: 'relu' }), fwd: GEMM },
  { name: 'linear NN + leakyRelu 0.2, no bias', inputs: () => [U([150, 40]), U([40, 10])], f: ([x, w]) => dg.linear(x, w, null, { activation: 'leakyRelu', slope: 0.2 }), fwd: GEMM },
  { name: 'linear TN + bias, no activation', inputs: () => [U([45, 67]), U([45, 39]), U([39])], f: ([x, w, b]) => dg.linear(x, w, b, { transA: true }), fwd: GEMM },
  { name: 'spmm Â·H + relu (d = 33)', inputs: () => [U([N_GRAPH, 33])], f: ([h], dev) => dg.spmm(graph(dev).row, h, false, { activation: 'relu' }), fwd: EXACT, grad: [1e-6, 1e-6] },
  { name: 'spmm Âᵀ·H + leakyRelu (d = 10)', inputs: () => [U([N_GRAPH, 10])], f: ([h], dev) => dg.spmm(graph(dev).row, h, true, { activation: 'leakyRelu', slope: 0.1 }), fwd: [1e-6, 1e-6] },
  // ---- attention-weighted fusion (AGCN)
  {
    name: 'attentionFusion sum (AGCN-H: 2 blocks)',
    inputs: () => [U([50, 20]), U([50, 20]), U([2, 40], -0.5, 0.5), U([2])],
    f: ([z, h, w, b]) => dg.attentionFusion([z, h], w, b, { mode: 'sum' }).out,
    fwd: FUSED,
  },
  {
    name: 'attentionFusion concat (AGCN-S: 5 unequal blocks, several row segments)',
    inputs: () => [U([600, 40]), U([600, 40]), U([600, 150]), U([600, 10]), U([600, 10]), U([5, 250], -0.2, 0.2), U([5])],
    f: ([a, b, c, d, e, w, bias]) => dg.attentionFusion([a, b, c, d, e], w, bias, { mode: 'concat', slope: 0.2 }).out,
    fwd: FUSED,
  },
];

// ---- running a case ------------------------------------------------------------------------------------------------

function check(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

function sameArrays(label: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  expectParity(label, got, want, 0, 0);
}

interface RunResult {
  out: Float32Array | Int32Array;
  grads: (Float32Array | null)[];
}

/** Runs a case on one device: forward, then backward of Σ out ∘ R (R fixed), returning the output and the grads. */
export function runCase(c: ParityCase, specs: InputSpec[], R: Float32Array | null, device: dg.Device): RunResult {
  const inputs = specs.map((s) => {
    const t = dg.tensor(s.data, s.shape, { device });
    return s.grad === false ? dg.keep(t) : dg.parameter(t);
  });
  try {
    return dg.tidy(() => {
      const out = c.f(inputs, device);
      check(out.device === device, `${c.name}: the output is on ${out.device}, not ${device}`);
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

/** The case on the CPU and on the GPU, forward and backward, compared; throws naming what differs. */
export function checkCase(c: ParityCase): void {
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
  const after = dg.memory('cuda').tensors;
  check(after === before, `${c.name}: ${after - before} CUDA tensors leaked`);
}

/** Without a GPU (the GPU check's dry run): the case's forward and backward on the CPU, with finite results and a
 * gradient for every input that wants one. Checks that the table and the runner work, not the numbers. */
export function checkCaseCpuOnly(c: ParityCase): void {
  const specs = c.inputs();
  const r = runCase(c, specs, rng.f32(1 << 20, -1, 1), 'cpu');
  check(r.out.length > 0, `${c.name}: empty output`);
  r.grads.forEach((g, k) => {
    if (specs[k].grad === false) return;
    if (g) check(g.every(Number.isFinite), `${c.name}: the gradient of input ${k} is not finite`);
  });
}

// ---- checks beyond the table ---------------------------------------------------------------------------------------

export interface NamedCheck {
  name: string;
  /** Throws an Error saying what differs. */
  run: () => void;
}

/** Ops without gradients, and the memory ops. */
export const parityChecks: NamedCheck[] = [
  {
    name: 'argmaxRows (ties, NaN) and targetDistribution',
    run: () => {
      const x = Float32Array.from([1, 3, 3, 2, NaN, 1, NaN, 5, -Infinity, -Infinity, -Infinity, -Infinity, 0, -0, 0, 0]);
      const cpu = dg.tidy(() => dg.argmaxRows(dg.tensor(x, [4, 4])).data());
      const gpu = dg.tidy(() => dg.argmaxRows(dg.tensor(x, [4, 4], { device: 'cuda' })).data());
      sameArrays('argmaxRows', gpu, cpu);
      const q = targetP(50, 6).data;
      const pc = dg.tidy(() => dg.targetDistribution(dg.tensor(q, [50, 6])).dataF32());
      const pg = dg.tidy(() => dg.targetDistribution(dg.tensor(q, [50, 6], { device: 'cuda' })).dataF32());
      expectParity('targetDistribution', pg, pc, ...FUSED);
    },
  },
  {
    name: 'random numbers are the same bits on both devices',
    run: () => {
      for (const shape of [[1], [3], [5, 7], [1001, 3]]) {
        const a = new dg.Generator(1234);
        const b = new dg.Generator(1234);
        const [uc, ug, nc, ng] = dg.tidy(() => [
          a.uniform(shape, -2, 3, 'cpu').dataF32(),
          b.uniform(shape, -2, 3, 'cuda').dataF32(),
          a.normal(shape, 0.5, 2, 'cpu').dataF32(),
          b.normal(shape, 0.5, 2, 'cuda').dataF32(),
        ]);
        sameArrays(`uniform ${shape}`, ug, uc);
        sameArrays(`normal ${shape}`, ng, nc);
      }
    },
  },
  {
    name: 'full / zeros / ones / tensor / to round trips',
    run: () => {
      const data = rng.f32(300, -5, 5);
      dg.tidy(() => {
        const g = dg.tensor(data, [30, 10], { device: 'cuda' });
        check(g.device === 'cuda', 'dg.tensor(..., { device: cuda }) is not on cuda');
        sameArrays('tensor → cuda → data', g.dataF32(), data);
        sameArrays('to cpu', dg.to(g, 'cpu').dataF32(), data);
        sameArrays('full', dg.full([4, 5], -1.5, { device: 'cuda' }).dataF32(), new Float32Array(20).fill(-1.5));
        sameArrays('full int32', dg.full([6], 7, { device: 'cuda', dtype: 'int32' }).data(), [7, 7, 7, 7, 7, 7]);
        sameArrays('zeros', dg.zeros([9], { device: 'cuda' }).dataF32(), new Float32Array(9));
      });
    },
  },
  {
    name: 'Adam, AdamW and SGD steps are the same bits on both devices',
    run: () => {
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
        sameArrays('optimizer', result('cuda'), result('cpu'));
      }
    },
  },
  {
    name: 'kmeans finds the same partition and inertia (tall, and wider than tall: k-means++ copies all d columns)',
    run: () => {
      for (const [n, d, k] of [[400, 5, 4], [6, 20, 3]]) kmeansParity(n, d, k);
    },
  },  {
    name: 'knnGraph: the same neighbours (heat, cosine, dot)',
    run: () => {
      const x = rng.f32(150 * 12, -1, 1);
      for (const metric of ['heat', 'cosine', 'dot'] as const) {
        const c = dg.tidy(() => dg.knnGraph(dg.tensor(x, [150, 12]), 6, { metric }).data());
        const g = dg.tidy(() => dg.knnGraph(dg.tensor(x, [150, 12], { device: 'cuda' }), 6, { metric }).data());
        sameArrays(`knnGraph ${metric}`, g, c);
      }
    },
  },
];

// Finite-difference gradient checks of ops computed on the GPU. The inputs live on the CPU (the checker perturbs
// them there); f moves them to the GPU, runs the op there and brings the result back, so the analytic gradient is the
// CUDA backward (through the differentiable dg.to).
const onGpu = (op: (x: dg.Tensor[]) => dg.Tensor) => (xs: dg.Tensor[]) => dg.to(op(xs.map((x) => dg.to(x, 'cuda'))), 'cpu');
const gradCheck = (name: string, f: (x: dg.Tensor[]) => dg.Tensor, inputs: () => InputSpec[], maxChecks?: number): NamedCheck => ({
  name,
  run: () => {
    const r = gradcheck(`${name} on cuda`, f, inputs(), maxChecks ? { maxChecks } : undefined);
    expectGradOk(r);
    check(r.leakedTensors === 0, `${name}: ${r.leakedTensors} tensors leaked`);
  },
});
export const gpuGradChecks: NamedCheck[] = [
  gradCheck('matmul TN', onGpu(([a, b]) => dg.matmul(a, b, { transA: true })), () => [U([6, 4]), U([6, 5])]),
  gradCheck('softmax', onGpu(([x]) => dg.softmax(x)), () => [U([5, 7], -2, 2)]),
  gradCheck('sigmoid ∘ mulRowVector', onGpu(([x, v]) => dg.sigmoid(dg.mulRowVector(x, v))), () => [U([5, 4]), U([4])]),
  gradCheck('mse', onGpu(([a, b]) => dg.mse(a, b)), () => [U([6, 3]), U([6, 3])]),
  gradCheck('gatherRows', onGpu(([x]) => dg.gatherRows(x, dg.tensor(Int32Array.from([1, 1, 0, 3]), [4], { device: 'cuda' }))), () => [U([5, 3])]),
  gradCheck('studentT', onGpu(([z, mu]) => dg.studentT(z, mu)), () => [U([8, 3]), U([3, 3])]),
  gradCheck('klStudentT', onGpu(([z, mu, p]) => dg.klStudentT(z, mu, p)), () => [U([8, 3]), U([3, 3]), targetP(8, 3)]),
  gradCheck('selfCorrelation', onGpu(([z]) => dg.selfCorrelation(z)), () => [U([7, 4], -0.5, 0.5)]),
  gradCheck('spmm (Âᵀ·H through the transpose built on the GPU)', (xs) => onGpu(([h]) => graph('cuda').row.matmul(h, true))(xs), () => [U([N_GRAPH, 3])], 20),
];

function caught(fn: () => unknown): { code?: string; message: string } {
  try {
    fn();
  } catch (e) {
    return { code: (e as { code?: string }).code, message: (e as Error).message };
  }
  return { code: 'none', message: '' };
}

/** Device errors: coded, naming the op and the arguments, with the CPU's messages. */
export const errorChecks: NamedCheck[] = [
  {
    name: 'mixed devices → DGC_DEVICE naming the op and the arguments',
    run: () =>
      dg.tidy(() => {
        const a = dg.tensor(rng.f32(6), [2, 3]);
        const b = dg.tensor(rng.f32(6), [2, 3], { device: 'cuda' });
        const e1 = caught(() => dg.add(a, b));
        check(e1.code === 'DGC_DEVICE' && /binary.*'a'.*cpu.*'b'.*cuda/.test(e1.message), `add: ${e1.code} ${e1.message}`);
        const e2 = caught(() => dg.matmul(a, b, { transB: true }));
        check(e2.code === 'DGC_DEVICE' && /matmul/.test(e2.message), `matmul: ${e2.code} ${e2.message}`);
        const e3 = caught(() => dg.studentT(b, a));
        check(e3.code === 'DGC_DEVICE' && /studentT.*'mu'/.test(e3.message), `studentT: ${e3.code} ${e3.message}`);
      }),
  },
  {
    name: 'a NaN in a CUDA tensor is refused with the CPU message (device-side scan)',
    run: () => {
      const z = rng.f32(40, -1, 1);
      z[13] = NaN;
      const mu = rng.f32(8, -1, 1);
      const message = (device: dg.Device) => {
        const e = caught(() => dg.tidy(() => dg.studentT(dg.tensor(z, [10, 4], { device }), dg.tensor(mu, [2, 4], { device }))));
        check(e.code === 'DGC_VALUE', `studentT with a NaN on ${device}: ${e.code} ${e.message}`);
        return e.message;
      };
      const g = message('cuda');
      const c = message('cpu');
      check(g === c, `the CUDA message '${g}' differs from the CPU's '${c}'`);
    },
  },
  {
    name: 'memory("cuda") counts CUDA tensors; releaseCachedMemory empties the CUDA cache',
    run: () => {
      const before = dg.memory('cuda');
      const t = dg.zeros([1000], { device: 'cuda' });
      check(dg.memory('cuda').tensors === before.tensors + 1, 'the CUDA tensor count did not go up by 1');
      check(dg.memory('cuda').bytes === before.bytes + 4000, 'the CUDA byte count did not go up by 4000');
      t.dispose();
      check(dg.memory('cuda').tensors === before.tensors, 'the CUDA tensor count did not come back');
      dg.releaseCachedMemory();
      check(dg.memory('cuda').cachedBytes === 0, 'the CUDA cache is not empty after releaseCachedMemory');
    },
  },
];

// ---- determinism on the GPU (cuda/common.cuh) ----------------------------------------------------------------------
// Ops whose CUDA kernels split their streamed side when there are few row blocks (attention, self-correlation, graph
// reconstruction, kNN) and GEMM (split-K, and a tile size chosen by the SM count), at sizes where they split. Each
// returns its outputs and gradients, computed on `device`.
const DET_N = 1500;
const detGraph = (() => {
  const g = new Rng(99);
  const src: number[] = [];
  const dst: number[] = [];
  for (let e = 0; e < 6 * DET_N; e++) {
    src.push(g.int(DET_N));
    dst.push(g.int(DET_N));
  }
  return { src, dst };
})();
const detInputs = {
  z: U([DET_N, 20], -0.5, 0.5),
  q: U([900, 32], -0.5, 0.5),
  k: U([700, 32], -0.5, 0.5),
  v: U([700, 24]),
  x: U([DET_N, 12]),
  a: U([300, 2000]),
  b: U([2000, 300]),
};
interface DetOp {
  name: string;
  /** Outputs (and gradients) as plain arrays, computed on the device. */
  run: (device: dg.Device) => ArrayLike<number>[];
  /** Tolerance against the CPU under a forced split count; null: the exact same values (kNN's exact merge). */
  tol: [number, number] | null;
}
function withGrads(device: dg.Device, specs: InputSpec[], f: (x: dg.Tensor[]) => dg.Tensor): ArrayLike<number>[] {
  const xs = specs.map((s) => dg.parameter(dg.tensor(s.data, s.shape, { device })));
  try {
    return dg.tidy(() => {
      const out = f(xs);
      const R = dg.tensor(rng0(out.size), out.shape.slice(), { device });
      dg.backward(dg.sum(dg.mul(out, R)));
      return [out.dataF32(), ...xs.map((x) => (x.grad ? x.grad.dataF32() : new Float32Array(0)))];
    });
  } finally {
    for (const x of xs) x.dispose();
  }
}
// A fixed upstream gradient (the same for every run and device).
function rng0(n: number): Float32Array {
  return new Rng(4242).f32(n, -1, 1);
}
export const determinismOps: DetOp[] = [
  { name: 'selfCorrelation forward + backward (N = 1500, d = 20)', tol: FUSED, run: (d) => withGrads(d, [detInputs.z], ([z]) => dg.selfCorrelation(z)) },
  {
    name: 'attention forward + backward (900 × 700, 2 heads)',
    tol: FUSED,
    run: (d) => withGrads(d, [detInputs.q, detInputs.k, detInputs.v], ([q, k, v]) => dg.attention(q, k, v, { heads: 2 })),
  },
  {
    name: 'gramSigmoidMse + gradients (N = 1500)',
    tol: FUSED,
    run: (device) => {
      const a = dg.SparseMatrix.fromEdges(DET_N, detGraph.src, detGraph.dst, { normalization: 'row', device });
      try {
        return withGrads(device, [detInputs.z], ([z]) => dg.gramSigmoidMse(a, z));
      } finally {
        a.dispose();
      }
    },
  },
  {
    name: 'gramSigmoidBce + gradients (N = 1500)',
    tol: FUSED,
    run: (device) => {
      const t = dg.SparseMatrix.fromEdges(DET_N, detGraph.src, detGraph.dst, { normalization: 'none', selfLoops: true, device });
      try {
        return withGrads(device, [detInputs.z], ([z]) => dg.gramSigmoidBce(t, z));
      } finally {
        t.dispose();
      }
    },
  },
  { name: 'knnGraph heat (N = 1500, k = 10)', tol: null, run: (device) => [dg.tidy(() => dg.knnGraph(dg.tensor(detInputs.x.data, detInputs.x.shape, { device }), 10).data())] },
  {
    name: 'matmul 300×2000×300 (split-K) + gradients',
    tol: GEMM,
    run: (d) => withGrads(d, [detInputs.a, detInputs.b], ([a, b]) => dg.matmul(a, b)),
  },
];

/** Runs fn with environment variables set (the native code reads DGCLUST_CUDA_SM_COUNT / _SPLITS at every call). */
function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(vars)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** The SM counts and split counts the determinism checks force. */
export const FORCED_SM_COUNTS = ['8', '132'];
export const FORCED_SPLITS = ['1', '5'];

export const determinismChecks: NamedCheck[] = determinismOps.flatMap((op): NamedCheck[] => [
  {
    name: `${op.name}: the same bits whatever the SM count (${FORCED_SM_COUNTS.join(' vs ')})`,
    run: () => {
      const [a, b] = FORCED_SM_COUNTS.map((sm) => withEnv({ DGCLUST_CUDA_SM_COUNT: sm, DGCLUST_CUDA_SPLITS: undefined }, () => op.run('cuda')));
      a.forEach((x, i) => sameArrays(`${op.name}, output ${i}, SM count ${FORCED_SM_COUNTS[0]} vs ${FORCED_SM_COUNTS[1]}`, b[i], x));
    },
  },
  {
    name: `${op.name}: forced split counts ${FORCED_SPLITS.join(' and ')} both agree with the CPU${op.tol ? '' : ' exactly'}`,
    run: () => {
      const cpu = op.run('cpu');
      for (const splits of FORCED_SPLITS) {
        const gpu = withEnv({ DGCLUST_CUDA_SPLITS: splits, DGCLUST_CUDA_SM_COUNT: undefined }, () => op.run('cuda'));
        cpu.forEach((want, i) => {
          const label = `${op.name}, output ${i}, ${splits} split(s)`;
          if (op.tol) expectParity(label, gpu[i], want, op.tol[0] * (i === 0 ? 1 : 4), op.tol[1] * (i === 0 ? 1 : 4));
          else sameArrays(label, gpu[i], want);
        });
      }
    },
  },
]);
