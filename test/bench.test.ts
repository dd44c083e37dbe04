// The comparison bench is honest only if every implementation computes the same numbers. On tiny shapes, the
// tfjs code the bench times (bench/compare/tfjs-ops.ts, bench/steps/tfjs-*.ts) is checked against dgclust on both
// tfjs backends — SpMM by segment sum (and its custom gradient), self-correlation, Student-t / target / KL with
// gradients, whole DFCN and SDCN steps (loss, every parameter's gradient, the loss after an Adam step) — and,
// where /usr/bin/python3 has PyTorch, the torch script's steps. Plus the harness pieces: timing, plan, targets.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as dg from '../lib';
import * as tfo from '../bench/compare/tfjs-ops';
import { tf } from '../bench/compare/tfjs-ops';
import type { CsrArrays } from '../bench/compare/store';
import { ArrayStore, putCsr } from '../bench/compare/store';
import { buildPlan } from '../bench/compare/plan';
import type { Case } from '../bench/compare/plan';
import { timeCalls } from '../bench/compare/measure';
import { collect, verdicts } from '../bench/compare/report';
import type { Measurement } from '../bench/compare/child';
import { dfcnParamSpecs, drawWeights, sdcnParamSpecs } from '../bench/steps/weights';
import type { StepInputs, StepModel } from '../bench/steps/types';
import { settleNativeGarbage } from './helpers/data';
import { createTfjsDfcnStep } from '../bench/steps/tfjs-dfcn';
import { createTfjsSdcnStep } from '../bench/steps/tfjs-sdcn';
import { createDgclustDfcnStep, loadDfcnModel } from '../bench/steps/dgclust-dfcn';
import { createDgclustSdcnStep } from '../bench/steps/dgclust-sdcn';
import { expectClose, Rng } from './helpers/reference';

const rng = new Rng(2026);
const rand = (n: number, lo = -1, hi = 1): Float32Array => {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform(lo, hi);
  return a;
};

/** A random graph's row-normalized Â (and Âᵀ) as dgclust builds it. */
function tinyGraph(n: number, perNode: number): { adj: CsrArrays; adjT: CsrArrays } {
  const src: number[] = [];
  const dst: number[] = [];
  for (let i = 0; i < n; i++) for (let j = 0; j < perNode; j++) {
    src.push(i);
    dst.push(rng.int(n));
  }
  const a = dg.SparseMatrix.fromEdges(n, src, dst, { normalization: 'row' });
  const conv = (t: boolean): CsrArrays => {
    const r = a.toArrays(t);
    return { n, nnz: r.indices.length, indptr: r.indptr, indices: r.indices, values: r.values };
  };
  const out = { adj: conv(false), adjT: conv(true) };
  a.dispose();
  return out;
}

const sparseOf = (c: CsrArrays) => dg.SparseMatrix.fromCsr(c.n, c.n, c.indptr, c.indices, c.values);

/** |a − e| ≤ rtol·|e| + atol·max|e| (gradients: tolerance relative to the array's scale). */
function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string, rtol = 2e-3, atolScale = 2e-4): void {
  let mx = 0;
  for (let i = 0; i < expected.length; i++) mx = Math.max(mx, Math.abs(expected[i]));
  expectClose(actual, expected, rtol, atolScale * mx + 1e-7, label);
}

const G = tinyGraph(37, 3);
const N = 37;

function stepInputs(kind: 'dfcn' | 'sdcn'): StepInputs {
  const nInput = kind === 'dfcn' ? 12 : 10;
  const k = kind === 'dfcn' ? 3 : 4;
  const specs = kind === 'dfcn' ? dfcnParamSpecs(nInput, k) : sdcnParamSpecs(nInput, k, 5, [16, 16, 32]);
  return { x: rand(N * nInput, kind === 'dfcn' ? -1 : 0, 1), n: N, nInput, nClusters: k, adj: G.adj, adjT: G.adjT, weights: drawWeights(specs, kind === 'dfcn' ? 1 : 2), lr: 1e-3 };
}
const DFCN_IN = stepInputs('dfcn');
const SDCN_IN = stepInputs('sdcn');

function compareSteps(a: StepModel, b: StepModel, label: string): void {
  // One Adam step each from the same weights: the same starting loss …
  const l0a = a.step();
  const l0b = b.step();
  expect(Math.abs(l0a - l0b)).toBeLessThanOrEqual(1e-5 * Math.abs(l0b) + 1e-6);
  // … then, at the updated weights (same optimizer arithmetic), the same loss and the same gradient for every parameter.
  const ra = a.lossAndGrads();
  const rb = b.lossAndGrads();
  expect(rb.loss).not.toBe(l0b);
  expect(Math.abs(ra.loss - rb.loss)).toBeLessThanOrEqual(1e-4 * Math.abs(rb.loss) + 1e-6);
  expect([...ra.grads.keys()].sort()).toEqual([...rb.grads.keys()].sort());
  for (const [name, g] of rb.grads) expectNear(ra.grads.get(name)!, g, `${label} d${name}`);
}

describe.each(['cpu', 'wasm'] as tfo.TfBackend[])('tfjs-%s computes what dgclust computes', (backend) => {
  // Live native tensors before these tests: every test must leave the count as it found it. Tensors an earlier test
  // file in this jest worker dropped are collected first, or a collection during these tests would change the count.
  let live = 0;
  beforeAll(async () => {
    await tfo.useBackend(backend);
    await settleNativeGarbage();
    live = dg.memory().tensors;
  });
  afterEach(() => {
    expect(dg.memory().tensors).toBe(live);
  });

  test('SpMM Â·H: gather + segment sum (and unsortedSegmentSum on cpu), dense Â, and the custom gradient Âᵀ·G', () => {
    const d = 5;
    const h = rand(N * d);
    const w = rand(N * d);
    const adj = sparseOf(G.adj);
    const { out, grad } = dg.tidy(() => {
      const ht = dg.parameter(dg.tensor(h, [N, d]));
      const y = adj.matmul(ht);
      dg.backward(dg.sum(dg.mul(y, dg.tensor(w, [N, d]))));
      const r = { out: y.dataF32(), grad: ht.grad!.dataF32() };
      ht.dispose();
      return r;
    });
    adj.dispose();
    const a = tfo.tfCsr(G.adj);
    const aT = tfo.tfCsr(G.adjT);
    tf.tidy(() => {
      const ht = tf.tensor2d(h, [N, d]);
      expectNear(tfo.spmmSegment(a, ht).dataSync(), out, 'segment sum');
      expectNear(tf.matMul(tfo.denseOf(G.adj), ht).dataSync(), out, 'dense');
      if (backend === 'cpu') expectNear(tfo.spmmUnsortedSegment(a, ht).dataSync(), out, 'unsortedSegmentSum');
      const spmm = tfo.makeSpmm(a, aT);
      const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(spmm(x as tf.Tensor2D), tf.tensor2d(w, [N, d]))))(ht);
      expectNear(g.dataSync(), grad, 'custom gradient');
    });
    tfo.disposeCsr(a);
    tfo.disposeCsr(aT);
  });

  test('self-correlation softmax(ZZᵀ)Z and its gradient', () => {
    const d = 6;
    const z = rand(N * d, -0.8, 0.8);
    const w = rand(N * d);
    const ref = dg.tidy(() => {
      const zt = dg.parameter(dg.tensor(z, [N, d]));
      const y = dg.selfCorrelation(zt);
      dg.backward(dg.sum(dg.mul(y, dg.tensor(w, [N, d]))));
      const r = { out: y.dataF32(), grad: zt.grad!.dataF32() };
      zt.dispose();
      return r;
    });
    tf.tidy(() => {
      const zt = tf.tensor2d(z, [N, d]);
      expectNear(tfo.selfCorrelation(zt).dataSync(), ref.out, 'forward');
      const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tfo.selfCorrelation(x as tf.Tensor2D), tf.tensor2d(w, [N, d]))))(zt);
      expectNear(g.dataSync(), ref.grad, 'gradient');
    });
  });

  test('Student-t Q, target P, KL(P‖Q) and its gradients dZ, dμ', () => {
    const [d, k] = [4, 3];
    const z = rand(N * d, -2, 2);
    const mu = rand(k * d, -2, 2);
    const ref = dg.tidy(() => {
      const zt = dg.parameter(dg.tensor(z, [N, d]));
      const mt = dg.parameter(dg.tensor(mu, [k, d]));
      const q = dg.noGrad(() => dg.studentT(zt, mt));
      const p = dg.targetDistribution(q);
      const kl = dg.klStudentT(zt, mt, p);
      const value = kl.item();
      dg.backward(kl);
      const r = { q: q.dataF32(), p: p.dataF32(), kl: value, dz: zt.grad!.dataF32(), dmu: mt.grad!.dataF32() };
      zt.dispose();
      mt.dispose();
      return r;
    });
    tf.tidy(() => {
      const zt = tf.tensor2d(z, [N, d]);
      const mt = tf.tensor2d(mu, [k, d]);
      const q = tfo.studentT(zt, mt);
      const p = tfo.targetDistribution(q);
      expectNear(q.dataSync(), ref.q, 'Q');
      expectNear(p.dataSync(), ref.p, 'P');
      expect(Math.abs(tfo.klBatchMean(p, tf.log(q) as tf.Tensor2D).dataSync()[0] - ref.kl)).toBeLessThan(1e-5 + 1e-4 * Math.abs(ref.kl));
      const [dz, dmu] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tfo.klBatchMean(p, tf.log(tfo.studentT(a as tf.Tensor2D, b as tf.Tensor2D)) as tf.Tensor2D))([zt, mt]);
      expectNear(dz.dataSync(), ref.dz, 'dZ');
      expectNear(dmu.dataSync(), ref.dmu, 'dμ');
    });
  });

  const dfcnAvailable = !('pending' in loadDfcnModel());
  (dfcnAvailable ? test : test.skip)('DFCN step (lib/models/dfcn): loss, every gradient, and Adam', () => {
    const a = createTfjsDfcnStep(DFCN_IN);
    const b = createDgclustDfcnStep(DFCN_IN);
    if ('pending' in b) throw new Error(b.pending);
    try {
      compareSteps(a, b, 'DFCN');
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  test('SDCN step: loss, every gradient, and Adam', () => {
    const a = createTfjsSdcnStep(SDCN_IN);
    const b = createDgclustSdcnStep(SDCN_IN, [16, 16, 32], 5);
    try {
      compareSteps(a, b, 'SDCN');
    } finally {
      a.dispose();
      b.dispose();
    }
  });
});

describe('PyTorch script (bench/torch/bench_torch.py)', () => {
  const python = process.env.DGCLUST_PYTHON ?? '/usr/bin/python3';
  const hasTorch = fs.existsSync(python) && spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
  (hasTorch ? test : test.skip)('its DFCN and SDCN steps start from the same loss as dgclust', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgclust-bench-test-'));
    try {
      const store = new ArrayStore(dir, true);
      for (const [graph, inp, kind] of [['acm', DFCN_IN, 'dfcn'], ['usps', SDCN_IN, 'sdcn']] as const) {
        putCsr(store, `graph/${graph}`, inp.adj);
        store.put(`${kind}/x`, inp.x, [inp.n, inp.nInput]);
        for (const [name, w] of inp.weights) store.put(`${kind}/w/${name}`, w.data, w.shape);
      }
      store.save();
      const plan: Case[] = [
        { id: 'step:dfcn:acm', group: 'steps', kernel: 'dfcn', shape: 'tiny', params: {}, impls: ['torch'], skipped: {}, parts: ['step'] },
        { id: 'step:sdcn:usps', group: 'steps', kernel: 'sdcn', shape: 'tiny', params: {}, impls: ['torch'], skipped: {}, parts: ['step'] },
      ];
      fs.writeFileSync(path.join(dir, 'plan.json'), JSON.stringify(plan));
      const r = spawnSync(python, [path.join(__dirname, '..', 'bench', 'torch', 'bench_torch.py'), '--plan', path.join(dir, 'plan.json'), '--inputs', dir, '--group', 'steps', '--quick', '--threads', '1'], { encoding: 'utf8', timeout: 60000 });
      expect(r.status).toBe(0);
      const results = r.stdout.split('\n').filter((l) => l.startsWith('@@RESULT ')).map((l) => JSON.parse(l.slice(9)) as Measurement);
      expect(results.map((m) => `${m.status}${m.note ? `: ${m.note}` : ''}`)).toEqual(['ok', 'ok']);
      const dfcn = dfcnAvailable() ? createDgclustDfcnStep(DFCN_IN) : null;
      if (dfcn && !('pending' in dfcn)) {
        const l = dfcn.lossAndGrads().loss;
        expect(Math.abs(Number(results[0].info!.loss) - l)).toBeLessThanOrEqual(1e-5 * Math.abs(l) + 1e-6);
        dfcn.dispose();
      }
      const sdcn = createDgclustSdcnStep(SDCN_IN, [16, 16, 32], 5);
      const l = sdcn.lossAndGrads().loss;
      sdcn.dispose();
      expect(Math.abs(Number(results[1].info!.loss) - l)).toBeLessThanOrEqual(1e-5 * Math.abs(l) + 1e-6);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  function dfcnAvailable(): boolean {
    return !('pending' in loadDfcnModel());
  }
});

describe('harness', () => {
  test('timeCalls: median and min–max after warm-up; a slow first call is the only sample', () => {
    let calls = 0;
    const t = timeCalls(() => void calls++, { warmup: 2, maxRuns: 5, budgetMs: 1000 });
    expect(t.runs).toBe(5);
    expect(calls).toBe(7);
    expect(t.minMs).toBeLessThanOrEqual(t.medianMs);
    expect(t.medianMs).toBeLessThanOrEqual(t.maxMs);
    const slow = timeCalls(() => {
      const end = Date.now() + 30;
      while (Date.now() < end) { /* spin */ }
    }, { coldMs: 20 });
    expect(slow).toMatchObject({ runs: 1, cold: true });
  });

  test('the quick plan covers every kernel with unique case ids; skipped implementations say why', () => {
    const plan = buildPlan({ quick: true, impls: ['dgclust', 'tfjs-wasm', 'tfjs-cpu', 'torch'] });
    expect(new Set(plan.map((c) => c.id)).size).toBe(plan.length);
    expect(new Set(plan.map((c) => c.kernel))).toEqual(new Set(['gemm', 'spmm', 'selfcorr', 'cluster', 'dfcn', 'sdcn']));
    for (const form of ['NN', 'TN', 'NT', 'TT']) expect(plan.some((c) => c.id === `gemm:3025x1870x500:${form}` && c.impls.includes('tfjs-wasm'))).toBe(true);
    // (The loop below must see some skipped implementation, or it checks nothing.)
    expect(plan.some((c) => Object.keys(c.skipped).length > 0)).toBe(true);
    for (const c of plan) for (const [impl, why] of Object.entries(c.skipped)) {
      expect(c.impls).not.toContain(impl);
      expect(why).toBeTruthy();
    }
  });

  test('targets: speedup = other / dgclust, met at or above the factor, unmeasured ones say why', () => {
    const plan = buildPlan({ quick: true, impls: ['dgclust', 'tfjs-wasm', 'tfjs-cpu'], only: ['dfcn'] });
    const ok = (impl: Measurement['impl'], ms: number): Measurement => ({ caseId: 'step:dfcn:acm', impl, part: 'step', status: 'ok', medianMs: ms, minMs: ms, maxMs: ms, runs: 3 });
    const vs = verdicts(plan, collect([ok('dgclust', 10), ok('tfjs-wasm', 25)]));
    const wasm = vs.find((v) => v.target.vs === 'tfjs-wasm')!;
    expect(wasm.speedup).toBeCloseTo(2.5);
    expect(wasm.met).toBe(false);
    const cpu = vs.find((v) => v.target.vs === 'tfjs-cpu')!;
    expect(cpu.met).toBeNull();
    expect(cpu.why).toMatch(/skipped: --quick/);
  });
});
