// CDC (lib/models/cdc.ts; ops cdcCorrelationLoss, cdcPairLoss, rowKlClipped): the pairwise losses against a
// float64 reference written from the formulas (official code: row normalisation with the self pair, clips,
// sharpening; paper: one normalisation over the pairs k ≠ l, Eq. 5), their gradients by finite differences
// (through the sharpening included), the model's L_AE and L_DC gradients for every parameter, its options
// refused by name, and a short real run on USPS that must beat AE + k-means.
import * as path from 'path';
import * as dg from '../lib';
import { cdcSpec, CdcRun } from '../lib/models/cdc';
import type { CdcSettings } from '../lib/models/cdc';
import { resolveSettings } from '../lib/models/registry';
import { fit } from '../lib/train/trainer';
import { findDataFile, gaussian, prng } from './helpers/data';
import { expectGradOk, gradcheck, gradcheckParams } from './helpers/gradcheck';

dg.setNumThreads(2);

// ---- a float64 reference of the pairwise KL, straight from the formulas -----------------------------------

function pairKernelRef(y: Float64Array, b: number, w: number, global: boolean): Float64Array {
  const K = new Float64Array(b * b);
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < b; j++) {
      let d = 0;
      for (let c = 0; c < w; c++) d += (y[i * w + c] - y[j * w + c]) ** 2;
      K[i * b + j] = 1 / (1 + d); // α = 1
    }
  }
  const C = new Float64Array(b * b);
  if (global) {
    let z = 0;
    for (let i = 0; i < b; i++) for (let j = 0; j < b; j++) if (i !== j) z += K[i * b + j];
    for (let i = 0; i < b; i++) for (let j = 0; j < b; j++) C[i * b + j] = i === j ? 0 : K[i * b + j] / z;
  } else {
    for (let i = 0; i < b; i++) {
      let r = 0;
      for (let j = 0; j < b; j++) r += K[i * b + j];
      for (let j = 0; j < b; j++) C[i * b + j] = Math.min(1, Math.max(1e-10, K[i * b + j] / r));
    }
  }
  return C;
}

function sharpenRef(C: Float64Array, b: number, global: boolean): Float64Array {
  const f = new Float64Array(b);
  for (let i = 0; i < b; i++) for (let j = 0; j < b; j++) f[j] += C[i * b + j];
  const W = new Float64Array(b * b);
  for (let i = 0; i < b; i++) for (let j = 0; j < b; j++) W[i * b + j] = global && i === j ? 0 : C[i * b + j] ** 2 / f[j];
  const S = new Float64Array(b * b);
  if (global) {
    let t = 0;
    for (const v of W) t += v;
    for (let e = 0; e < b * b; e++) S[e] = W[e] / t;
  } else {
    for (let i = 0; i < b; i++) {
      let t = 0;
      for (let j = 0; j < b; j++) t += W[i * b + j];
      for (let j = 0; j < b; j++) S[i * b + j] = W[i * b + j] / t;
    }
  }
  return S;
}

/** weight · KL([Sharpen] C(ya) ‖ C(yb)): row form averaged over rows with Keras's clips, global form over i ≠ j. */
function pairLossRef(ya: Float32Array, wa: number, yb: Float32Array, wb: number, b: number, global: boolean, sharpen: boolean, weight: number): number {
  const Ca = pairKernelRef(Float64Array.from(ya), b, wa, global);
  const A = sharpen ? sharpenRef(Ca, b, global) : Ca;
  const B = pairKernelRef(Float64Array.from(yb), b, wb, global);
  let s = 0;
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < b; j++) {
      if (global) {
        if (i !== j) s += A[i * b + j] * Math.log(A[i * b + j] / B[i * b + j]);
      } else {
        const a = Math.min(1, Math.max(1e-7, A[i * b + j]));
        const c = Math.min(1, Math.max(1e-7, B[i * b + j]));
        s += a * Math.log(a / c);
      }
    }
  }
  return global ? weight * s : (weight / b) * s;
}

const normal = gaussian(prng(7));
const U = (shape: number[], s = 1) => ({ data: Float32Array.from({ length: shape[0] * shape[1] }, () => s * normal()), shape });
const VARIANTS = [
  ['row', true],
  ['row', false],
  ['global', true],
  ['global', false],
] as const;

describe('CDC pairwise losses', () => {
  test.each(VARIANTS)('cdcPairLoss (%s, sharpen %s) equals the float64 reference', (normalization, sharpen) => {
    for (const [b, wa, wb, sa, sb] of [[12, 4, 30, 1, 0.3], [7, 10, 3, 2, 1], [2, 3, 3, 1, 1]] as const) {
      const ya = U([b, wa], sa);
      const yb = U([b, wb], sb);
      const ref = pairLossRef(ya.data, wa, yb.data, wb, b, normalization === 'global', sharpen, 0.7);
      const got = dg.tidy(() => dg.cdcPairLoss(dg.tensor(ya.data, ya.shape), dg.tensor(yb.data, yb.shape), { weight: 0.7, normalization, sharpen }).item());
      expect(Math.abs(got - ref)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(ref)));
    }
  });

  test('the code form by cdcCorrelationLoss (float intermediates) and by cdcPairLoss (double) agree, values and gradients', () => {
    const ya = U([20, 10]);
    const yb = U([20, 50], 0.2);
    dg.tidy(() => {
      const a1 = dg.parameter(dg.tensor(ya.data, ya.shape));
      const b1 = dg.parameter(dg.tensor(yb.data, yb.shape));
      const a2 = dg.parameter(dg.tensor(ya.data, ya.shape));
      const b2 = dg.parameter(dg.tensor(yb.data, yb.shape));
      const l1 = dg.cdcCorrelationLoss(a1, b1, { weight: 0.5 });
      const l2 = dg.cdcPairLoss(a2, b2, { weight: 0.5 });
      expect(l2.item()).toBeCloseTo(l1.item(), 6);
      dg.backward(l1);
      dg.backward(l2);
      const close = (x: Float32Array, y: Float32Array) => {
        let m = 0;
        let d = 0;
        for (let i = 0; i < x.length; i++) {
          m = Math.max(m, Math.abs(x[i]));
          d = Math.max(d, Math.abs(x[i] - y[i]));
        }
        expect(d).toBeLessThanOrEqual(1e-4 * m);
      };
      close(a1.grad!.dataF32(), a2.grad!.dataF32());
      close(b1.grad!.dataF32(), b2.grad!.dataF32());
      for (const t of [a1, b1, a2, b2]) t.dispose();
    });
  });

  test('the code form of C_X is almost the identity for far-apart inputs (spec: tf-idf × √2000), so L_cr(Z, X) ≈ KL(S_Z ‖ I)', () => {
    // Rows 40 apart: every off-diagonal K is < 1e-3 of the diagonal.
    const b = 8;
    const x = dg.tensor(Float32Array.from({ length: b * 50 }, () => 40 * normal()), [b, 50]);
    const c = dg.pairAffinity(x).dataF32();
    for (let i = 0; i < b; i++) expect(c[i * b + i]).toBeGreaterThan(0.99);
    x.dispose();
  });

  test('rowKlClipped = (w/rows) Σ clip(a) log(clip(a)/clip(b)), gradient 0 where an argument was clipped', () => {
    const a = Float32Array.from([0.5, 0.5, 1e-9, 0.2, 0.3, 0.5 - 1e-9]);
    const b = Float32Array.from([0.25, 1e-8, 0.75 - 1e-8, 0.6, 0.1, 0.3]);
    let ref = 0;
    for (let i = 0; i < 6; i++) {
      const x = Math.min(1, Math.max(1e-7, a[i]));
      const y = Math.min(1, Math.max(1e-7, b[i]));
      ref += x * Math.log(x / y);
    }
    dg.tidy(() => {
      const at = dg.parameter(dg.tensor(a, [2, 3]));
      const bt = dg.parameter(dg.tensor(b, [2, 3]));
      const l = dg.rowKlClipped(at, bt, { weight: 3 });
      expect(l.item()).toBeCloseTo((3 / 2) * ref, 5);
      dg.backward(l);
      expect(at.grad!.dataF32()[2]).toBe(0); // a = 1e-9 < 1e-7: clipped
      expect(bt.grad!.dataF32()[1]).toBe(0); // b = 1e-8 < 1e-7: clipped
      expect(bt.grad!.dataF32()[0]).toBeCloseTo(-(3 / 2) * (0.5 / 0.25), 5);
      at.dispose();
      bt.dispose();
    });
  });

  describe('gradients by finite differences', () => {
    test('cdcCorrelationLoss (the code form): both arguments, through the sharpening of the first', () => {
      expectGradOk(gradcheck('cdcCorrelationLoss', ([a, b]) => dg.cdcCorrelationLoss(a, b, { weight: 2 }), [U([10, 4]), U([10, 12], 0.5)]));
    });
    test('cdcCorrelationLoss as L_a: sharpened C_Q of soft assignments (rows on the simplex) against C_Z', () => {
      const q = U([10, 3]);
      for (let i = 0; i < 10; i++) {
        let s = 0;
        for (let j = 0; j < 3; j++) s += (q.data[i * 3 + j] = Math.exp(q.data[i * 3 + j]));
        for (let j = 0; j < 3; j++) q.data[i * 3 + j] /= s;
      }
      expectGradOk(gradcheck('L_a', ([a, b]) => dg.cdcCorrelationLoss(a, b, { weight: 0.75 }), [q, U([10, 5])]));
    });
    test.each(VARIANTS)('cdcPairLoss (%s, sharpen %s): both arguments', (normalization, sharpen) => {
      expectGradOk(gradcheck(`cdcPairLoss ${normalization} ${sharpen}`, ([a, b]) => dg.cdcPairLoss(a, b, { weight: 2, normalization, sharpen }), [U([9, 4]), U([9, 7], 0.5)]));
    });
    test('rowKlClipped (L_c = kld(P, Q)): both arguments, away from the clips', () => {
      const pos = (shape: number[]) => ({ data: Float32Array.from({ length: shape[0] * shape[1] }, () => 0.05 + 0.2 * Math.abs(normal())), shape });
      expectGradOk(gradcheck('rowKlClipped', ([a, b]) => dg.rowKlClipped(a, b, { weight: 0.5 }), [pos([6, 4]), pos([6, 4])]));
    });
  });

  test('bad arguments are refused with coded errors naming the op and the argument', () => {
    dg.tidy(() => {
      const a = dg.tensor(new Float32Array(12), [4, 3]);
      const b5 = dg.tensor(new Float32Array(15), [5, 3]);
      expect(() => dg.cdcPairLoss(a, b5)).toThrow(expect.objectContaining({ code: 'DGC_SHAPE', message: expect.stringContaining("cdcPairLoss: 'ya' has 4 rows but 'yb' has 5") }));
      const one = dg.tensor(new Float32Array(3), [1, 3]);
      expect(() => dg.cdcPairLoss(one, one, { normalization: 'global' })).toThrow(expect.objectContaining({ code: 'DGC_SHAPE', message: expect.stringContaining('at least 2 rows') }));
      expect(() => dg.cdcPairLoss(a, a, { normalization: 'rows' as 'row' })).toThrow(expect.objectContaining({ code: 'DGC_ARG', message: expect.stringContaining("'normalization'") }));
      expect(() => dg.cdcPairLoss(a, a, { nu: 0 })).toThrow(expect.objectContaining({ code: 'DGC_VALUE' }));
      expect(() => dg.rowKlClipped(a, b5)).toThrow(expect.objectContaining({ code: 'DGC_SHAPE', message: expect.stringContaining('rowKlClipped') }));
      const nan = dg.tensor(Float32Array.from([1, NaN, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), [4, 3]);
      expect(() => dg.rowKlClipped(nan, a)).toThrow(expect.objectContaining({ code: 'DGC_VALUE', message: expect.stringContaining("'a'") }));
    });
  });
});

// ---- the model -------------------------------------------------------------------------------------------

function tinyData(n: number, d: number, k: number): dg.ClusteringData {
  const x = Float32Array.from({ length: n * d }, () => normal());
  return { name: 'tiny', features: { rows: n, cols: d, data: x }, labels: null, nClusters: k, edges: null };
}

describe('CDC model', () => {
  const variants: [string, Partial<CdcSettings>][] = [
    ['the code form', {}],
    ["the paper's global normalisation, C_Z unsharpened", { normalization: 'global', sharpenCorrelation: false }],
  ];
  test.each(variants)('L_AE and L_DC (%s): gradients of every parameter by finite differences', (_, o) => {
    const n = 10;
    const k = 3;
    // Weights of 1 so that every term is visible next to the others.
    const s: CdcSettings = { ...cdcSpec.defaults, lambda: 1, eta: 1, beta: 1, ...o };
    const input = cdcSpec.prepare(tinyData(n, 6, k), s, { device: 'cpu' });
    const run = cdcSpec.create(input, s, new dg.Generator(3)) as CdcRun;
    const p = dg.tidy(() => dg.keep(dg.softmax(dg.tensor(Float32Array.from({ length: n * k }, () => normal()), [n, k]))));
    const ctx: dg.TargetContext = { refresh: false, target: () => p, setTarget: () => { throw new Error('no refresh'); } };
    try {
      const ae = run.module.ae.parameters();
      const pre = gradcheckParams('L_AE', ae, () => run.pretrainLoss(input.x).total, { maxChecks: 4, stepScale: 1e-3, skipKinks: true });
      expectGradOk(pre);
      expect(pre.skipped).toBeLessThanOrEqual(0.1 * pre.checked);
      const all = run.module.parameters();
      const fine = gradcheckParams('L_DC', all, () => run.loss(input, null, ctx).total, { maxChecks: 4, stepScale: 1e-3, skipKinks: true });
      expectGradOk(fine);
      expect(fine.skipped).toBeLessThanOrEqual(0.1 * fine.checked);
      // The named parts are the unweighted terms.
      const parts = dg.tidy(() => run.loss(input, null, ctx).parts);
      expect(Object.keys(parts).sort()).toEqual(['affinity', 'clustering', 'correlationOutput', 'correlationX']);
    } finally {
      p.dispose();
      run.module.dispose();
      input.dispose();
    }
  }, 300000);

  test('finetuneReconstruction (Algorithm 1 lines 13–14): L_r trains the decoder (finite differences) and leaves the encoder and μ as they were', () => {
    const n = 10;
    const k = 3;
    const s: CdcSettings = { ...cdcSpec.defaults, lambda: 1, eta: 1, beta: 1 };
    const input = cdcSpec.prepare(tinyData(n, 6, k), s, { device: 'cpu' });
    const withLr = cdcSpec.create(input, { ...s, finetuneReconstruction: true }, new dg.Generator(3)) as CdcRun;
    const without = cdcSpec.create(input, s, new dg.Generator(3)) as CdcRun;
    const p = dg.tidy(() => dg.keep(dg.softmax(dg.tensor(Float32Array.from({ length: n * k }, () => normal()), [n, k]))));
    const ctx: dg.TargetContext = { refresh: false, target: () => p, setTarget: () => { throw new Error('no refresh'); } };
    try {
      const ae = withLr.module.ae;
      const decoder = [...ae.decoderLayers.flatMap((l) => l.parameters()), ...ae.xBarLayer.parameters()];
      const r = gradcheckParams('L_DC + L_r (decoder)', decoder, () => withLr.loss(input, null, ctx).total, { maxChecks: 4, stepScale: 1e-3, skipKinks: true });
      expectGradOk(r);
      expect(r.skipped).toBeLessThanOrEqual(0.1 * r.checked);
      const parts = dg.tidy(() => withLr.loss(input, null, ctx).parts);
      expect(Object.keys(parts)).toContain('reconstruction');
      dg.zeroGrad(withLr.module.parameters()); // the check above left its gradients
      dg.tidy(() => {
        dg.backward(withLr.loss(input, null, ctx).total);
        dg.backward(without.loss(input, null, ctx).total);
      });
      const encoder = (m: CdcRun) => [...m.module.ae.encoderLayers.flatMap((l) => l.parameters()), ...m.module.ae.zLayer.parameters(), m.module.head.mu];
      const a = encoder(withLr);
      const b = encoder(without);
      a.forEach((t, i) => expect(Array.from(t.grad!.dataF32())).toEqual(Array.from(b[i].grad!.dataF32())));
    } finally {
      p.dispose();
      withLr.module.dispose();
      without.module.dispose();
      input.dispose();
    }
  }, 300000);

  test('without L_r in fine-tuning (the code) the decoder learns only through β·L_cr(Z, X′); with β = 0 it gets no gradient', () => {
    const n = 8;
    const s: CdcSettings = { ...cdcSpec.defaults, beta: 0 };
    const input = cdcSpec.prepare(tinyData(n, 5, 2), s, { device: 'cpu' });
    const run = cdcSpec.create(input, s, new dg.Generator(1)) as CdcRun;
    const p = dg.tidy(() => dg.keep(dg.softmax(dg.tensor(Float32Array.from({ length: n * 2 }, () => normal()), [n, 2]))));
    const ctx: dg.TargetContext = { refresh: false, target: () => p, setTarget: () => { throw new Error('no refresh'); } };
    try {
      dg.tidy(() => dg.backward(run.loss(input, null, ctx).total));
      expect(run.module.ae.xBarLayer.weight.grad).toBeNull();
      expect(run.module.ae.zLayer.weight.grad).not.toBeNull();
      expect(run.module.head.mu.grad).not.toBeNull();
    } finally {
      p.dispose();
      run.module.dispose();
      input.dispose();
    }
  });

  test('options are validated by name: bad values and unknown options are refused', () => {
    const bad = (o: Record<string, unknown>, text: string) =>
      expect(() => resolveSettings(cdcSpec, 'usps', o)).toThrow(expect.objectContaining({ code: 'DGC_ARG', message: expect.stringContaining(text) }));
    bad({ eta: -1 }, "option 'eta' must be >= 0");
    bad({ beta: 'x' }, "option 'beta' must be a number");
    bad({ lambda: Infinity }, "option 'lambda' must be a number");
    bad({ normalization: 'rows' }, "option 'normalization' must be one of row, global");
    bad({ sharpenCorrelation: 'maybe' }, "option 'sharpenCorrelation' must be true or false");
    bad({ batchSize: 1 }, "option 'batchSize' must be >= 2");
    bad({ iterations: 2.5 }, "option 'iterations' must be an integer");
    bad({ updateInterval: 0 }, "option 'updateInterval' must be >= 1");
    bad({ lr: 0 }, "option 'lr' must be > 0");
    bad({ gamma: 0.1 }, "cdc: no option 'gamma'");
    // CLI strings convert; the preset is the paper's Fashion-MNIST one with the user's change noted.
    const r = resolveSettings(cdcSpec, 'fmnist', { eta: '0', sharpenCorrelation: 'false' });
    expect(r.settings).toMatchObject({ eta: 0, sharpenCorrelation: false, inputScale: 1 / 255, pretrainEpochs: 100, updateInterval: 100, iterations: 5000, lr: 0.01 });
    expect(r.note).toContain("cdc's preset for 'fmnist'");
  });

  test('the schedule is the code\'s: T iterations of shuffled batches, P every h, the last refresh reported; zero iterations still evaluates', () => {
    const n = 40;
    const s: CdcSettings = { ...cdcSpec.defaults, pretrainEpochs: 1, pretrainBatchSize: 16, iterations: 25, updateInterval: 10, batchSize: 16 };
    const data = { ...tinyData(n, 5, 2), labels: Int32Array.from({ length: n }, (_, i) => i % 2) };
    const input = cdcSpec.prepare(data, s, { device: 'cpu' });
    try {
      const r = fit(cdcSpec, input, s, { seed: 2 });
      const train = r.events.filter((e) => e.phase === 'train');
      expect(train.map((e) => e.iteration)).toEqual([0, 10, 20]);
      expect(r.final.iteration).toBe(20);
      expect(r.paperProtocol.metrics).toEqual(r.final.metrics);
      const none = fit(cdcSpec, input, { ...s, iterations: 0 }, { seed: 2 });
      expect(none.final.metrics).toEqual(none.initial!.metrics);
    } finally {
      input.dispose();
    }
  });
});

// ---- a real run ------------------------------------------------------------------------------------------

const usps = findDataFile('derived/usps.txt.gz');
const uspsLabels = findDataFile('sdcn/data/usps_label.txt');
const withUsps = usps.file && uspsLabels.file ? test : test.skip;
if (!usps.file || !uspsLabels.file) console.warn(`skipped: the CDC USPS run needs the shared data (sought ${[...usps.tried, ...uspsLabels.tried].join(', ')})`);

withUsps('USPS, short run: CDC fine-tuning beats AE + k-means (k-means on a plain MSE autoencoder, same epochs)', () => {
  const ds = dg.loadDataset('usps', { dataDir: path.dirname(path.dirname(usps.file!)) });
  const data = dg.fromDataset(ds);
  // The paper's settings but short: 8 pretraining epochs, 1000 fine-tuning iterations, P every 100. (On the
  // development machine: AE + k-means 0.498, AE trained with L_AE + k-means 0.555, CDC 0.631.)
  const s: CdcSettings = { ...cdcSpec.presets.usps, pretrainEpochs: 8, iterations: 1000 };
  const input = cdcSpec.prepare(data, s, { device: 'cpu' });
  try {
    const plain = fit(cdcSpec, input, { ...s, lambda: 0, iterations: 0 }, { seed: 0, keepEmbedding: false });
    const r = fit(cdcSpec, input, s, { seed: 0, keepEmbedding: false });
    const aeKm = plain.final.metrics!;
    const cdc = r.final.metrics!;
    console.log(`USPS short run: AE + k-means ACC ${aeKm.acc.toFixed(3)} NMI ${aeKm.nmi.toFixed(3)}; AE (L_AE) + k-means ACC ${r.initial!.metrics!.acc.toFixed(3)}; CDC final ACC ${cdc.acc.toFixed(3)} NMI ${cdc.nmi.toFixed(3)}`);
    expect(cdc.acc).toBeGreaterThan(aeKm.acc + 0.05);
    expect(cdc.acc).toBeGreaterThan(r.initial!.metrics!.acc);
    expect(cdc.nmi).toBeGreaterThan(aeKm.nmi);
  } finally {
    input.dispose();
  }
}, 600000);
