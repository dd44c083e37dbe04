// DFCN (lib/models/dfcn.ts, lib/models/dfcn-input.ts, lib/train/dfcn.ts): the official weights reproduce the
// official code's clustering (golden forward), the composed gradient of the whole loss is right (finite
// differences), and training from scratch clusters a dataset.
import * as path from 'path';
import * as dg from '../lib';
import { Dfcn, DFCN_PRESETS } from '../lib/models/dfcn';
import type { DfcnPreset } from '../lib/models/dfcn';
import { prepareDfcnInput } from '../lib/models/dfcn-input';
import { loadNpyCheckpoint } from '../lib/io/npy-checkpoint';
import { fit } from '../lib/train/trainer';
import { dfcnSpec } from '../lib/models/dfcn';
import type { DfcnSettings } from '../lib/models/dfcn';
import { clusterEmbedding } from '../lib/train/loop';
import type { Dataset } from '../lib/data/embedded';
import { dataRoots, findDataFile, gaussianClusters, repoRoot } from './helpers/data';
import { gradcheckParams, expectGradOk } from './helpers/gradcheck';

dg.setNumThreads(2);

/** k-means on Z̃ of a forward pass with the weights in `dir`. */
function forwardAcc(ds: Dataset, preset: DfcnPreset, dir: string) {
  const input = prepareDfcnInput(ds, preset);
  const model = new Dfcn({ nInput: preset.pcaDim, nClusters: input.nClusters, igaeActivation: preset.igaeActivation, igaeLayout: preset.igaeLayout });
  const st = loadNpyCheckpoint(dir);
  try {
    model.loadStateDict(st);
    const z = dg.noGrad(() => dg.tidy(() => dg.keep(model.forward(input.x, input.adj).zTilde)));
    const r = clusterEmbedding(z, input.nClusters, input.labels, { nInit: 20, seed: 0 });
    z.dispose();
    return r.metrics!;
  } finally {
    for (const t of st.values()) t.dispose();
    model.dispose();
    input.dispose();
  }
}

describe('DFCN with the official weights', () => {
  const acm = dg.loadDataset('acm'); // the embedded copy: no data folder needed

  test('the pretrained weights shipped in the package: k-means on Z̃ of ACM', () => {
    // The official code's value for these weights is 88.56 (running the official DFCN code on them).
    const m = forwardAcc(acm, DFCN_PRESETS.acm, path.join(repoRoot, 'data', 'pretrained', 'dfcn', 'acm', 'pretrain'));
    expect(m.acc).toBeGreaterThanOrEqual(0.88);
    expect(m.acc).toBeLessThanOrEqual(0.892);
  });

  const final = findDataFile('pretrained/dfcn/acm/final/manifest.json');
  (final.file ? test : test.skip)('golden forward: the final ACM weights give ACC ≥ 0.905 (official code: 0.909)', () => {
    const m = forwardAcc(acm, DFCN_PRESETS.acm, path.dirname(final.file!));
    expect(m.acc).toBeGreaterThanOrEqual(0.905);
    expect(m.nmi).toBeGreaterThanOrEqual(0.69);
  });
  // Without the weights the test above shows as skipped (a passing stand-in test used to report it as a pass).
  if (!final.file) console.warn(`skipped: golden forward: ${final.tried.join(', ')} not found`);

  // Other datasets exercise the other presets: out×in IGAE weights (DBLP), k = 5 heat graph rebuilt on PCA (USPS).
  const others: [string, number][] = [['dblp', 0.7624], ['cite', 0.6982], ['usps', 0.7945]];
  for (const [name, official] of others) {
    const w = findDataFile(`pretrained/dfcn/${name}/final/manifest.json`);
    const feats = findDataFile(`derived/${name}.txt.gz`);
    (w.file && feats.file ? test : test.skip)(`final ${name} weights: ACC within 1 point of the official forward (${official})`, () => {
      const ds = dg.loadDataset(name, { dataDir: dataRoots().find((r) => feats.file!.startsWith(r)), knnK: 5 });
      const m = forwardAcc(ds, DFCN_PRESETS[name], path.dirname(w.file!));
      expect(Math.abs(m.acc - official)).toBeLessThan(0.01);
    });
  }
});

describe('DFCN gradients', () => {
  // A tiny graph: the whole loss L_AE + L_w + γ L_a + λ L_KL, differentiated by the tape through every
  // branch (AE, IGAE, fusion, self-correlation, β, μ), against central differences.
  test.each([
    ['fixed α = 0.5, tanh, in×out', { igaeActivation: 'tanh', igaeLayout: 'in-out', learnableAlpha: false }],
    ['learnable α, LeakyReLU, out×in', { igaeActivation: 'leakyRelu', igaeLayout: 'out-in', learnableAlpha: true }],
  ] as const)('whole loss (%s)', (_name, opts) => {
    const data = gaussianClusters(5, 18, 6, 3, 1.5, 0.4);
    const x = dg.tensor(data.data, [18, 6]);
    const src: number[] = [];
    const dst: number[] = [];
    for (let i = 0; i < 18; i++) { src.push(i); dst.push((i + 3) % 18); src.push(i); dst.push((i * 7 + 1) % 18); }
    const adj = dg.SparseMatrix.fromEdges(18, src, dst, { normalization: 'row' });
    const adjX = adj.matmul(x);
    const model = new Dfcn({ nInput: 6, nClusters: 3, nZ: 4, generator: new dg.Generator(3), ...opts });
    // β away from 0 so the self-correlation term matters; P a fixed target from the starting Q.
    dg.tidy(() => (dg as any).native.copyInto(model.gamma.handle, dg.tensor([0.3]).handle));
    const p = dg.noGrad(() => dg.tidy(() => dg.keep(dg.targetDistribution(model.softAssign(model.forward(x, adj).zTilde)))));
    const params = model.parameters();
    const r = gradcheckParams('dfcn', params, () => model.losses(model.forward(x, adj), x, adj, adjX, p).total, { maxChecks: 6, stepScale: 1e-3, skipKinks: true });
    expectGradOk(r);
    // LeakyReLU kinks within ±h of a few elements: those are skipped, and must stay few.
    expect(r.skipped).toBeLessThanOrEqual(0.1 * r.checked);
    for (const t of [x, adjX, p]) t.dispose();
    adj.dispose();
    model.dispose();
  });
});

describe('DFCN training', () => {
  // Four separated Gaussian clusters; the kNN graph (heat, k = 5) is rebuilt on the PCA features, as for USPS.
  const blobs = gaussianClusters(11, 240, 12, 4, 2, 0.5);
  const ds: Dataset = {
    name: 'blobs',
    features: { rows: blobs.rows, cols: blobs.cols, data: blobs.data },
    labels: { labels: blobs.labels, k: 4, original: [0, 1, 2, 3] },
    edges: null,
  };
  const preset: DfcnPreset = { pcaDim: 8, lr: 1e-3, igaeActivation: 'tanh', igaeLayout: 'in-out', graph: 'knn' };
  const settings: DfcnSettings = { ...dfcnSpec.defaults, ...preset, epochs: 15, aeEpochs: 10, igaeEpochs: 10, jointEpochs: 10, batchSize: 64 };
  // Fewer k-means restarts than the paper's 20: the blobs are easy.
  const spec = { ...dfcnSpec, kmeansRestarts: 5 };

  test('own pretraining then training clusters the data; a seed repeats bit for bit; nothing leaks', () => {
    const input = prepareDfcnInput(ds, settings);
    dg.tidy(() => input.adj.matmul(input.x, true)); // builds Âᵀ, which the graph caches until disposed
    const before = dg.memory().tensors;
    const events: string[] = [];
    const a = fit(spec, input, settings, { seed: 4, callbacks: { onPhase: (p, n) => events.push(`${p}:${n}`) } });
    expect(events).toEqual(['pretrain-ae:10', 'pretrain-igae:10', 'pretrain-joint:10', 'train:15']);
    expect(dg.memory().tensors).toBe(before);
    expect(a.final.metrics!.acc).toBeGreaterThan(0.95);
    expect(a.best!.metrics!.acc).toBeGreaterThanOrEqual(a.final.metrics!.acc);
    expect(a.final.epoch).toBe(15);
    // Pretraining lowers the reconstruction losses.
    const ae = a.events.filter((e) => e.phase === 'pretrain-ae');
    expect(ae[ae.length - 1].losses.ae).toBeLessThan(ae[0].losses.ae);
    const joint = a.events.filter((e) => e.phase === 'pretrain-joint');
    expect(joint[joint.length - 1].losses.total).toBeLessThan(joint[0].losses.total);
    for (const e of a.events.filter((ev) => ev.phase === 'train')) {
      for (const v of Object.values(e.losses)) expect(Number.isFinite(v)).toBe(true);
      expect(e.metrics).toBeDefined();
      expect(Object.keys(e.readouts!)).toEqual(['kmeans', 'q']);
    }
    const b = fit(spec, input, settings, { seed: 4 });
    expect(b.final.metrics).toEqual(a.final.metrics);
    expect(b.events.map((e) => e.losses)).toEqual(a.events.map((e) => e.losses));
    input.dispose();
  });

  test("stage 2's loss: the demo's L_AE + 0.01·(L_w + L_a + MSE(Z_AE, Z_IGAE)) by default, or the framework's", () => {
    const input = prepareDfcnInput(ds, settings);
    const short: DfcnSettings = { ...settings, epochs: 1, aeEpochs: 2, igaeEpochs: 2, jointEpochs: 3 };
    const joint = (r: { events: { phase: string; losses: Record<string, number> }[] }) => r.events.filter((e) => e.phase === 'pretrain-joint');
    const demo = joint(fit(spec, input, short, { seed: 1 }));
    expect(demo).toHaveLength(3);
    for (const { losses: l } of demo) {
      expect(l.consistency).toBeGreaterThan(0);
      expect(l.total).toBeCloseTo(l.ae + 0.01 * (l.igaeW + l.igaeA + l.consistency), 5);
    }
    const fw = joint(fit(spec, input, { ...short, jointLoss: 'framework' }, { seed: 1 }));
    for (const { losses: l } of fw) {
      expect(l.consistency).toBeUndefined();
      expect(l.total).toBeCloseTo(l.ae + l.igaeW + 0.1 * l.igaeA, 5);
    }
    input.dispose();
  });

  test('bad settings are refused', () => {
    const input = prepareDfcnInput(ds, settings);
    expect(() => dg.resolveSettings(dfcnSpec, 'blobs', { epochs: 0 })).toThrow(/dfcn: option 'epochs' must be >= 1, got 0/);
    expect(() => dg.resolveSettings(dfcnSpec, 'blobs', { lr: -1 })).toThrow(/dfcn: option 'lr' must be > 0, got -1/);
    expect(() => fit(spec, input, { ...settings, lr: -1 })).toThrow(/lr must be > 0, got -1/);
    const st = new Map<string, dg.Tensor>([['gamma', dg.zeros([1])]]);
    expect(() => fit(spec, input, settings, { init: st })).toThrow(/missing parameters \[cluster_layer, ae\.encoder\.enc_1\.weight/);
    st.get('gamma')!.dispose();
    input.dispose();
  });

  test('a natural-graph dataset without its graph file is refused by name', () => {
    const noGraph: Dataset = { ...ds, name: 'nograph' };
    expect(() => prepareDfcnInput(noGraph, { ...preset, graph: 'natural' })).toThrow(/DFCN on 'nograph' needs the dataset's graph file/);
  });
});
