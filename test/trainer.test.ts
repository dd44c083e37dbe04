// The shared trainer (lib/train/trainer.ts) and the model layer: DFCN gives the same per-epoch results on it as
// before the move; the mini-batch schedule (refresh interval, order, tolerance stop, final evaluation); the NaN
// guard; the pretraining cache gives the same results as pretraining; settings resolution refuses bad options.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as dg from '../lib';
import { dfcnSpec } from '../lib/models/dfcn';
import { prepareDfcnInput } from '../lib/models/dfcn-input';
import { loadNpyCheckpoint } from '../lib/io/npy-checkpoint';
import { fit } from '../lib/train/trainer';
import { decModelSpec, idecModelSpec, prepareDecInput } from '../lib/models/dec';
import { featureScaleNote } from '../lib/models/blocks';
import type { DecSettings } from '../lib/models/dec';
import { aeSpec, sdcnSpec } from '../lib/models/sdcn';
import { checkOption, getModel, models, resolveSettings } from '../lib/models/registry';
import { gaussianClusters, repoRoot, settleNativeGarbage } from './helpers/data';

dg.setNumThreads(2);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dgc-trainer-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('DFCN on the shared trainer gives the results of the DFCN-only loop it replaced', () => {
  // Recorded with lib/train/dfcn.ts at commit 17bbfe1 (before the move): ACM seed 0 from the official weights,
  // 30 epochs, and a short own-pretraining run; every epoch's metrics and loss terms.
  const golden = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'dfcn-acm-seed0-golden.json'), 'utf8'));
  // Bit-identical results need the same kernels: the CPU kernels pick AVX-512 or AVX2 at run time.
  const avx512 = / avx512f /.test(fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '');
  const sameIsa = avx512 === golden.avx512f;
  if (!sameIsa) console.warn(`skipped: the golden DFCN run was recorded ${golden.avx512f ? 'with' : 'without'} AVX-512; this CPU differs, so bit-identity cannot be checked`);
  const maybe = sameIsa ? test : test.skip;

  const compare = (old: { initial: unknown; events: { phase: string; epoch: number; losses: Record<string, number>; metrics?: unknown }[] },
                   neu: dg.RunResult) => {
    expect(neu.initial!.metrics).toEqual(old.initial);
    expect(neu.events.map((e) => [e.phase, e.epoch])).toEqual(old.events.map((e) => [e.phase, e.epoch]));
    old.events.forEach((e, i) => {
      expect({ i, metrics: neu.events[i].metrics }).toEqual({ i, metrics: e.metrics });
      // Every loss term the old loop reported, to the last bit.
      for (const [k, v] of Object.entries(e.losses)) expect({ i, k, v: neu.events[i].losses[k] }).toEqual({ i, k, v });
    });
  };

  maybe('ACM seed 0 from the official weights, 30 epochs: every epoch identical', () => {
    const s = dfcnSpec.presets.acm;
    const input = prepareDfcnInput(dg.loadDataset('acm'), s);
    const init = loadNpyCheckpoint(path.join(repoRoot, 'data', 'pretrained', 'dfcn', 'acm', 'pretrain'));
    try {
      const r = fit(dfcnSpec, input, { ...s, epochs: 30 }, { seed: 0, init });
      compare(golden.official, r);
      expect(r.final).toMatchObject({ epoch: 30, metrics: golden.official.final.metrics });
      expect(r.best!.metrics).toEqual(golden.official.best.metrics);
    } finally {
      for (const t of init.values()) t.dispose();
      input.dispose();
    }
  });

  maybe('ACM seed 0 with its own short pretraining (2 + 2 + 3 epochs) and 5 epochs: every epoch identical', () => {
    const s = dfcnSpec.presets.acm;
    const input = prepareDfcnInput(dg.loadDataset('acm'), s);
    try {
      compare(golden.own, fit(dfcnSpec, input, { ...s, epochs: 5, aeEpochs: 2, igaeEpochs: 2, jointEpochs: 3 }, { seed: 0 }));
    } finally {
      input.dispose();
    }
  });
});

describe('mini-batch training (DEC / IDEC on Gaussian blobs)', () => {
  const blobs = gaussianClusters(3, 400, 10, 4, 2, 0.6);
  const data: dg.ClusteringData = { name: 'blobs', features: { rows: 400, cols: 10, data: blobs.data }, labels: blobs.labels, nClusters: 4, edges: null };
  const base: DecSettings = { ...decModelSpec.defaults, pretrainEpochs: 5, pretrainBatchSize: 64, batchSize: 64, maxIterations: 60, updateInterval: 20, tol: 0 };

  test('P refreshed every updateInterval iterations from all rows, each refresh evaluated, then a final evaluation', () => {
    const before = dg.memory().tensors;
    const input = prepareDecInput(data, base, 'cpu');
    try {
      const r = fit(decModelSpec, input, base, { seed: 1 });
      const train = r.events.filter((e) => e.phase === 'train');
      // Refreshes at iterations 0, 20, 40, and the final evaluation after iteration 60.
      expect(train.map((e) => e.iteration)).toEqual([0, 20, 40, 60]);
      expect(train.map((e) => e.epoch)).toEqual([0, 1, 2, 3]);
      expect(train[0].losses).toEqual({});
      for (const e of train.slice(1)) expect(e.losses.kl).toBeGreaterThan(0);
      expect(train[1].labelChange).toBeGreaterThanOrEqual(0);
      expect(r.final.iteration).toBe(60);
      expect(r.paperProtocol).toEqual({ rule: 'final', metrics: r.final.metrics });
      // DEC sharpens well-separated blobs: the clustering ends at least as good as k-means on the AE (initial).
      expect(r.final.metrics!.acc).toBeGreaterThanOrEqual(r.initial!.metrics!.acc - 0.01);
      expect(r.final.metrics!.acc).toBeGreaterThan(0.9);
      expect(r.predicted).toHaveLength(400);
      expect(r.embedding).toMatchObject({ rows: 400, cols: 10 });
    } finally {
      input.dispose();
    }
    expect(dg.memory().tensors).toBe(before);
  });

  test("DEC's tolerance rule stops at the first refresh where fewer labels than tol changed", () => {
    const input = prepareDecInput(data, base, 'cpu');
    try {
      const r = fit(decModelSpec, input, { ...base, tol: 0.5, maxIterations: 200 }, { seed: 1 });
      expect(r.stopped).toMatch(/^label change \d+\.\d+% < tol 50\.000% at iteration 20$/);
      const train = r.events.filter((e) => e.phase === 'train');
      // Refreshes at 0 and 20; it stops at 20 with no step after, so no extra final evaluation.
      expect(train.map((e) => e.iteration)).toEqual([0, 20]);
      expect(r.final.iteration).toBe(20);
    } finally {
      input.dispose();
    }
  });

  test('IDEC keeps the reconstruction term; a seed repeats bit for bit; predict() on new rows = the readout', () => {
    const s = { ...idecModelSpec.defaults, ...base, lr: 0.01, momentum: 0.9 };
    const input = prepareDecInput(data, s, 'cpu');
    try {
      const a = fit(idecModelSpec, input, s, { seed: 2, keepModel: true });
      const b = fit(idecModelSpec, input, s, { seed: 2 });
      const train = a.events.filter((e) => e.phase === 'train' && e.iteration! > 0);
      for (const e of train) expect(e.losses.reconstruction).toBeGreaterThan(0);
      for (const e of train) expect(e.losses.total).toBeCloseTo(e.losses.reconstruction + 0.1 * e.losses.kl, 5);
      expect(b.events.map((e) => e.losses)).toEqual(a.events.map((e) => e.losses));
      expect(Array.from(b.predicted)).toEqual(Array.from(a.predicted));
      // The trained model embeds rows it is given: on the training rows it reproduces the final labels.
      const m = a.trained!;
      const labels = dg.tidy(() => dg.argmaxRows(m.embedRows!(input.x).assignments.q).data() as Int32Array);
      expect(Array.from(labels)).toEqual(Array.from(a.predicted));
      m.module.dispose();
      m.dispose?.();
    } finally {
      input.dispose();
    }
  });

  test('features far from unit size get a note before training that names the scale to use; scaled ones do not', () => {
    // Raw pixels: the blobs × 255 (|x| up to ~1,000). The note is in the input's notes (the CLI prints them as
    // "input: …" lines, run files keep them under preprocessing.notes).
    const raw = { ...data, features: { ...data.features, data: data.features.data.map((v) => v * 255) } };
    const maxAbs = raw.features.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const unscaled = prepareDecInput(raw, base, 'cpu');
    const scaled = prepareDecInput(raw, { ...base, inputScale: 1 / 255 }, 'cpu');
    try {
      const note = unscaled.notes.find((n) => n.startsWith('the features reach'));
      // The suggested scale is 1/max to 3 significant digits, rounded down: it never takes |x| past 1.
      const suggest = Number(/--input-scale ([\d.e-]+)\)/.exec(note ?? '')?.[1]);
      expect(suggest * maxAbs).toBeLessThanOrEqual(1);
      expect(suggest * maxAbs).toBeGreaterThan(0.99);
      expect(suggest).toBe(Number(suggest.toPrecision(3)));
      expect(note).toBe(`the features reach |x| = ${Number(maxAbs.toPrecision(4))}; this model's defaults assume features of about unit ` +
        `size (pixels scaled to [0, 1]), and SGD steps on features this large can diverge: inputScale ${suggest} ` +
        `(--input-scale ${suggest}) brings them to [-1, 1]`);
      // Scaled by the user: the note is gone (|x| ≤ ~4 here), and the scale is named where it is given.
      expect(scaled.notes.some((n) => n.startsWith('the features reach'))).toBe(false);
      expect(featureScaleNote(raw.features, 1 / 1024)).toBeNull();
      expect(featureScaleNote(raw.features, 0.5)).toMatch(/^the features reach \|x\| = [\d.]+ after × 0\.5; /);
      // Rounded down, not to nearest: 1/730,000 = 1.3699e-6 is suggested as 0.00000136 (1.37e-6 would give 1.0001).
      expect(featureScaleNote({ rows: 1, cols: 1, data: new Float32Array([730000]) }, 1)).toContain('(--input-scale 0.00000136)');
    } finally {
      unscaled.dispose();
      scaled.dispose();
    }
  });

  test('the estimator hands the notes over before training (onPrepared) and with the outcome', async () => {
    await settleNativeGarbage();
    const before = dg.memory().tensors;
    const raw = { ...data, features: { ...data.features, data: data.features.data.map((v) => v * 255) } };
    // IDEC's default SGD(0.1, 0.99) on these diverges: the note arrived before the failure.
    const seen: string[][] = [];
    const idec = dg.createModel('idec', { seed: 1, pretrainEpochs: 2, maxIterations: 40 });
    await expect(idec.fit(raw, { onPrepared: (p) => seen.push(p.notes) })).rejects.toThrow(/probably diverged/);
    expect(seen).toHaveLength(1);
    expect(seen[0].some((n) => n.startsWith('the features reach |x| = '))).toBe(true);
    idec.dispose();
    // The failed run freed what it held (its last evaluation's embedding and Q included), not left it to a collection.
    expect(dg.memory().tensors).toBe(before);
    // Scaled, it trains; the outcome keeps the notes (no scale note now).
    const dec = dg.createModel('dec', { seed: 1, pretrainEpochs: 2, maxIterations: 20, inputScale: 1 / 255 });
    const out = await dec.fit(raw);
    expect(out.notes).toEqual(['features: 10 columns × 0.00392156862745098']);
    dec.dispose();
    expect(dg.memory().tensors).toBe(before);
  });
});

describe('the trainer stops on NaN and refuses what it cannot run', () => {
  const blobs = gaussianClusters(5, 120, 6, 3, 2, 0.5);
  const data: dg.ClusteringData = { name: 'blobs', features: { rows: 120, cols: 6, data: blobs.data }, labels: blobs.labels, nClusters: 3, edges: null };

  test('a learning rate that makes the loss blow up: DGC_VALUE naming the phase, the epoch and the term', () => {
    const s = { ...aeSpec.defaults, aeEpochs: 30, aeLr: 1e6 };
    const before = dg.memory().tensors;
    const input = aeSpec.prepare(data, s, { device: 'cpu' });
    try {
      let err: (Error & { code?: string }) | null = null;
      try {
        fit(aeSpec, input, s, { seed: 0 });
      } catch (e) {
        err = e as Error & { code?: string };
      }
      expect(err).not.toBeNull();
      expect(err!.code).toBe('DGC_VALUE');
      // With the rate in use and what to try (steps were taken before the loss blew up).
      expect(err!.message).toMatch(new RegExp("^ae pretrain-ae, epoch \\d+: loss term '(reconstruction|total)' is (NaN|Infinity); training stopped " +
        '— the steps \\(Adam at lr 1000000\\) probably diverged: a smaller learning rate, or features scaled to about \\[0, 1\\], usually cures it$'));
    } finally {
      input.dispose();
    }
    expect(dg.memory().tensors).toBe(before);
  });

  test('an aborted signal stops between steps with DGC_ABORTED', () => {
    const s = { ...aeSpec.defaults, aeEpochs: 3 };
    const input = aeSpec.prepare(data, s, { device: 'cpu' });
    const ac = new AbortController();
    ac.abort();
    try {
      expect(() => fit(aeSpec, input, s, { signal: ac.signal })).toThrow(/aborted/);
    } finally {
      input.dispose();
    }
  });
});

describe('the pretraining cache', () => {
  const blobs = gaussianClusters(9, 200, 8, 4, 2, 0.5);
  const data: dg.ClusteringData = { name: 'blobs', features: { rows: 200, cols: 8, data: blobs.data }, labels: blobs.labels, nClusters: 4, edges: null };

  test('a cached pretraining gives the same run as pretraining again, and SDCN and AE + k-means share it', () => {
    const cache = path.join(tmp, 'cache');
    const s = { ...sdcnSpec.defaults, epochs: 3, aeEpochs: 3, knnK: 5 };
    const input = sdcnSpec.prepare(data, s, { device: 'cpu' });
    try {
      const fresh = fit(sdcnSpec, input, s, { seed: 3 });
      const first = fit(sdcnSpec, input, s, { seed: 3, pretrainCache: cache });
      expect(fs.readdirSync(cache)).toHaveLength(1);
      const cached = fit(sdcnSpec, input, s, { seed: 3, pretrainCache: cache });
      expect(cached.events.filter((e) => e.phase === 'pretrain-ae')).toHaveLength(0);
      for (const r of [first, cached]) {
        expect(r.initial!.metrics).toEqual(fresh.initial!.metrics);
        expect(r.events.filter((e) => e.phase === 'train').map((e) => e.losses)).toEqual(fresh.events.filter((e) => e.phase === 'train').map((e) => e.losses));
      }
      // AE + k-means pretrains the same autoencoder for the same seed: it finds SDCN's cache entry.
      const ae = fit(aeSpec, input, { ...aeSpec.defaults, aeEpochs: 3 }, { seed: 3, pretrainCache: cache });
      expect(ae.events.filter((e) => e.phase === 'pretrain-ae')).toHaveLength(0);
      expect(ae.initial!.metrics).toEqual(fresh.initial!.metrics);
      expect(fs.readdirSync(cache)).toHaveLength(1);
    } finally {
      input.dispose();
    }
  });
});

describe('settings resolution', () => {
  test('every model: the defaults and every preset give each option a value its own bounds and choices accept', () => {
    // (A preset missing an option would leave it undefined in the settings; a preset outside an option's bounds
    // could never be set from the command line. `dgclust models MODEL` prints these values.)
    let checked = 0;
    for (const m of models()) {
      const sets: [string, Record<string, unknown>][] = [['defaults', m.defaults], ...Object.entries(m.presets)];
      for (const [where, values] of sets) {
        for (const [name, o] of Object.entries(m.options)) {
          expect([m.name, where, name, values[name] !== undefined]).toEqual([m.name, where, name, true]);
          expect(checkOption(m.name, name, o, values[name])).toEqual(values[name]);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(500);
  });

  test('unknown model lists the known ones', () => {
    expect(() => getModel('frob')).toThrow(/unknown model 'frob' \(known: dfcn, sdcn, ae, dec, idec/);
  });
  test("registerModel: a user's model joins the registry; a name taken, or the reserved 'all', is refused", () => {
    expect(() => dg.registerModel({ ...aeSpec, name: 'sdcn' })).toThrow(/registerModel: a model named 'sdcn' is already registered/);
    expect(() => dg.registerModel({ ...aeSpec, name: 'all' })).toThrow(/registerModel: the name 'all' is reserved \(dgclust reproduce all\)/);
    expect(models().map((m) => m.name)).not.toContain('all');
    dg.registerModel({ ...aeSpec, name: 'my-ae' });
    expect(getModel('my-ae').title).toBe(aeSpec.title);
    expect(dg.modelNames().slice(-1)).toEqual(['my-ae']);
  });
  test("a dataset's preset, or the documented defaults, said in the note", () => {
    const a = resolveSettings(sdcnSpec, 'cite');
    expect(a.preset).toBe('cite');
    expect(a.settings.lr).toBe(1e-4);
    expect(a.note).toBe("sdcn's preset for 'cite'");
    const b = resolveSettings(sdcnSpec, 'cora', { epochs: '50' });
    expect(b.preset).toBeNull();
    expect(b.settings.epochs).toBe(50);
    expect(b.note).toBe("no sdcn preset for 'cora': the documented defaults, with epochs = 50");
  });
  test.each([
    [sdcnSpec, { klQ: -1 }, /sdcn: option 'klQ' must be >= 0, got -1/],
    [sdcnSpec, { sigma: 2 }, /sdcn: option 'sigma' must be <= 1, got 2/],
    [sdcnSpec, { normalization: 'col' }, /sdcn: option 'normalization' must be one of row, sym, got "col"/],
    [decModelSpec, { gamma: 1 }, /dec: no option 'gamma' \(its options: lr, momentum/],
    [idecModelSpec, { updateInterval: 0 }, /idec: option 'updateInterval' must be >= 1, got 0/],
  ])('refuses a bad option by name', (spec, o, msg) => {
    expect(() => resolveSettings(spec as never, 'mnist', o)).toThrow(msg);
  });
});

test('Generator.derive: the same seed and name give the same streams; other names and the parent differ', () => {
  const a = new dg.Generator(7).derive('sdcn-ae');
  const b = new dg.Generator(7).derive('sdcn-ae');
  const c = new dg.Generator(7).derive('dec-ae');
  const p = new dg.Generator(7);
  const draw = (g: dg.Generator) => dg.tidy(() => Array.from(g.uniform([8]).data() as Float32Array));
  const x = draw(a);
  expect(draw(b)).toEqual(x);
  expect(draw(c)).not.toEqual(x);
  expect(draw(p)).not.toEqual(x);
});

describe('the estimator API', () => {
  const blobs = gaussianClusters(13, 300, 8, 3, 2, 0.5);
  const data: dg.ClusteringData = { name: 'blobs', features: { rows: 300, cols: 8, data: blobs.data }, labels: blobs.labels, nClusters: 3, edges: null };
  const opts = { seed: 1, pretrainEpochs: 4, pretrainBatchSize: 32, batchSize: 32, maxIterations: 40, updateInterval: 10 };

  test('createModel → fit resolves labels, embedding and history; predict labels new rows like the training rows', async () => {
    // Earlier tests' unreachable tensors are freed now, not by a collection during the awaits below.
    await settleNativeGarbage();
    const before = dg.memory().tensors;
    const model = dg.createModel('dec', opts);
    const epochs: string[] = [];
    const out = await model.fit(data, { onEpoch: (e) => epochs.push(`${e.phase}:${e.epoch}`) });
    expect(out.labels).toHaveLength(300);
    expect(out.embedding).toMatchObject({ rows: 300, cols: 10 });
    expect(out.history.map((e) => `${e.phase}:${e.epoch}`)).toEqual(epochs);
    // The options given, listed in the order of DEC's option table (not the order they were passed in).
    expect(out.settings.note).toBe("no dec preset for 'blobs': the documented defaults, with batchSize = 32, maxIterations = 40, updateInterval = 10, pretrainEpochs = 4, pretrainBatchSize = 32");
    expect(out.result.final.metrics!.acc).toBeGreaterThan(0.9);
    // The training rows, given again as new rows, get the labels fit() reported.
    expect(Array.from(model.predict(data.features))).toEqual(Array.from(out.labels));
    expect(() => model.predict(new Float32Array(7), 8)).toThrow(/rows must be a DenseMatrix or a Float32Array with its column count/);
    model.dispose();
    expect(dg.memory().tensors).toBe(before);
  });

  // Every model that can embed unseen rows, each through its own embedRows path (CDC and DCCF have their own
  // autoencoder layouts and heads): the training rows given again as new rows get the labels fit() reported.
  test.each([
    ['ae', { seed: 1, aeEpochs: 4, aeBatchSize: 32 }],
    ['idec', { ...opts, lr: 0.01 }], // IDEC's SGD(0.1, 0.99) diverges on these raw-scale blobs (DEC's 0.01 does not)
    // CDC's defaults are Fashion-MNIST's SGD rates, made for pixels in [0, 1]: these blobs (spread ±2) need smaller ones.
    ['cdc', { seed: 1, pretrainEpochs: 3, pretrainLr: 0.01, lr: 0.001, batchSize: 32, iterations: 40, updateInterval: 10 }],
    ['dccf', { seed: 1, pretrainEpochs: 3, pretrainBatchSize: 32, batchSize: 32, epochs: 3 }],
  ] as const)('%s: predict on the training rows gives fit()\'s labels', async (name, o) => {
    await settleNativeGarbage();
    const before = dg.memory().tensors;
    const model = dg.createModel(name, o);
    const out = await model.fit(data);
    expect(out.labels).toHaveLength(300);
    expect(new Set(out.labels).size).toBeGreaterThan(1);
    expect(Array.from(model.predict(data.features))).toEqual(Array.from(out.labels));
    // Rows with the wrong width are refused, not read past.
    expect(() => model.predict({ rows: 2, cols: 5, data: new Float32Array(10) })).toThrow(`${name}.predict: rows have 5 columns; the model was fitted on 8`);
    model.dispose();
    expect(dg.memory().tensors).toBe(before);
  });

  test('a step that diverges inside a fused op (its input check fires before the loss check) is reported with the step and the hint', async () => {
    await settleNativeGarbage();
    const before = dg.memory().tensors;
    const model = dg.createModel('cdc', { seed: 1, pretrainEpochs: 2, pretrainLr: 1e9, iterations: 10, updateInterval: 5 });
    await expect(model.fit(data)).rejects.toThrow(new RegExp(
      "^cdc pretrain-ae, epoch \\d+: \\w+: argument '\\w+' has a non-finite value .*; training stopped " +
      '— the steps \\(SGD at lr 1000000000, momentum 0\\.9\\) probably diverged: a smaller learning rate, or features scaled to about \\[0, 1\\], usually cures it$'));
    model.dispose();
    expect(dg.memory().tensors).toBe(before);
  });

  test('fit yields to the event loop: a timer can abort it, and nothing leaks', async () => {
    // Earlier tests' unreachable tensors are freed now, not by a collection during the awaits below.
    await settleNativeGarbage();
    const before = dg.memory().tensors;
    const model = dg.createModel('dec', { ...opts, pretrainEpochs: 50 });
    const ac = new AbortController();
    let fired = 0;
    setTimeout(() => {
      fired++;
      ac.abort();
    }, 0);
    await expect(model.fit(data, { signal: ac.signal })).rejects.toThrow(/aborted/);
    expect(fired).toBe(1);
    model.dispose();
    expect(dg.memory().tensors).toBe(before);
  });

  test('graph models cannot embed unseen rows; bad options are refused at creation', async () => {
    expect(() => dg.createModel('sdcn', { klQ: -1 })).toThrow(/sdcn: option 'klQ' must be >= 0/);
    expect(() => dg.createModel('frob')).toThrow(/unknown model 'frob'/);
    const m = dg.createModel('sdcn', { epochs: 1, aeEpochs: 1, knnK: 5 });
    await m.fit(data);
    expect(() => m.predict(data.features)).toThrow(/sdcn cannot embed unseen rows/);
    m.dispose();
  });
});

test('a NaN term names the epoch, the term and the last good checkpoint', () => {
  // A toy model whose third loss has a NaN term: the trainer must stop there, not train on.
  class Toy extends dg.Module {
    readonly w: dg.Tensor;
    constructor() {
      super();
      this.w = this.registerParameter('w', dg.tensor([0.5, -0.5], [1, 2]));
    }
  }
  let calls = 0;
  const toy: dg.ModelSpec = {
    name: 'toy', title: 'toy', needsGraph: false, presets: {}, defaults: { lr: 0.1 }, options: {}, paper: null,
    paperProtocol: 'final', readouts: ['q'],
    prepare: (d) => ({ x: dg.tensor(d.features.data, [d.features.rows, d.features.cols]), adj: null, labels: d.labels, nClusters: d.nClusters,
      key: 'toy', notes: [], timings: {}, dispose() { this.x.dispose(); } }),
    create: () => {
      const m = new Toy();
      return {
        module: m, centres: null,
        loss: () => {
          calls++;
          const l = dg.mean(dg.square(m.w));
          return { total: l, parts: { fine: l, weird: calls === 3 ? NaN : 1 }, inference: { embedding: dg.tensor([0, 1, 2, 3], [4, 1]), assignments: { q: dg.tensor([1, 0, 0, 1, 1, 0, 0, 1], [4, 2]) } } };
        },
        infer: () => ({ embedding: dg.tensor([0, 1, 2, 3], [4, 1]), assignments: { q: dg.tensor([1, 0, 0, 1, 1, 0, 0, 1], [4, 2]) } }),
      };
    },
    pretrain: () => [],
    schedule: () => ({ mode: 'full-batch', epochs: 5, targetEvery: 5 }),
    optimizer: (s) => ({ kind: 'sgd', lr: s.lr }),
  };
  const data: dg.ClusteringData = { name: 't', features: { rows: 4, cols: 1, data: Float32Array.from([0, 1, 2, 3]) }, labels: null, nClusters: 2, edges: null };
  const before = dg.memory().tensors;
  const input = toy.prepare(data, toy.defaults, { device: 'cpu' });
  const file = path.join(tmp, 'toy.ckpt');
  const toySpec = { ...toy, create: (i: dg.ModelInput, s: dg.ResolvedOptions, g: dg.Generator) => {
    const m = toy.create(i, s, g);
    // P is refreshed (set) at epoch 1 only: hand the trainer a target on refresh.
    return { ...m, loss: (inp: dg.ModelInput, rows: dg.Tensor | null, ctx: dg.TargetContext) => {
      if (ctx.refresh) ctx.setTarget(dg.tensor([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], [4, 2]));
      return m.loss(inp, rows, ctx);
    } };
  } };
  try {
    expect(() => fit(toySpec, input, toy.defaults, { checkpoint: { file, every: 1 } })).toThrow(
      `toy training, epoch 3: loss term 'weird' is NaN; training stopped — the steps (SGD at lr 0.1) probably diverged: ` +
      `a smaller learning rate, or features scaled to about [0, 1], usually cures it (last good checkpoint: ${file}, training epoch 2)`);
  } finally {
    input.dispose();
  }
  expect(dg.memory().tensors).toBe(before);
});
