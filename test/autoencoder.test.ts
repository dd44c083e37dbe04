// An MLP autoencoder trained end to end: on the real ACM features when the shared data folder is present
// (visibly skipped otherwise, with a generated bag-of-words stand-in), and on generated Gaussian clusters always.
import * as dg from '../lib';
import {
  ACM_COLS,
  ACM_REL,
  ACM_ROWS,
  DenseMatrix,
  acmPath,
  binaryTopics,
  gaussianClusters,
  loadAcmFeatures,
  parseFeatureText,
  readFeatureFile,
  settleNativeGarbage,
} from './helpers/data';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';

beforeAll(async () => {
  await settleNativeGarbage();
});

/** Linear→relu stack: dims[0] → … → dims[last]; relu between layers, none after the last. */
class MlpAutoencoder extends dg.Module {
  readonly layers: dg.Linear[] = [];
  /** Index of the layer whose output is the code (the narrowest). */
  readonly codeLayer: number;

  constructor(dims: number[], seed: number) {
    super();
    const gen = new dg.Generator(seed);
    for (let i = 0; i + 1 < dims.length; i++) {
      this.layers.push(this.registerModule(`layer${i}`, new dg.Linear(dims[i], dims[i + 1], { generator: gen })));
    }
    this.codeLayer = dims.indexOf(Math.min(...dims.slice(1, -1))) - 1;
  }

  encode(x: dg.Tensor): dg.Tensor {
    let h = x;
    for (let i = 0; i <= this.codeLayer; i++) h = dg.relu(this.layers[i].forward(h));
    return h;
  }

  forward(x: dg.Tensor): dg.Tensor {
    let h = x;
    this.layers.forEach((l, i) => {
      h = l.forward(h);
      if (i < this.layers.length - 1) h = dg.relu(h);
    });
    return h;
  }
}

interface TrainResult {
  initial: number;
  final: number;
  losses: number[];
  epochs: number;
  ms: number;
}

/**
 * Adam (lr 1e-3 unless given) on mini-batches drawn by a seeded Generator.permutation. Runs maxEpochs, or stops
 * early once timeBudgetMs has passed (but never before minEpochs). Checks that the live tensor count does not
 * grow from one epoch to the next.
 */
function train(
  ae: MlpAutoencoder,
  X: dg.Tensor,
  o: { maxEpochs: number; minEpochs: number; batch: number; lr?: number; seed: number; timeBudgetMs: number },
): TrainResult {
  const opt = new dg.Adam(ae.parameters(), { lr: o.lr ?? 1e-3 });
  const gen = new dg.Generator(o.seed);
  const n = X.shape[0];
  const fullLoss = (): number => dg.tidy(() => dg.noGrad(() => dg.mse(ae.forward(X), X).item()));
  const losses = [fullLoss()];
  const start = Date.now();
  let perEpochLive: { tensors: number; bytes: number } | null = null;
  let epochs = 0;
  try {
    while (epochs < o.maxEpochs && (epochs < o.minEpochs || Date.now() - start < o.timeBudgetMs)) {
      const perm = gen.permutation(n);
      for (let s = 0; s < n; s += o.batch) {
        dg.tidy(() => {
          const idx = dg.tensor(perm.subarray(s, Math.min(n, s + o.batch)));
          const xb = dg.gatherRows(X, idx);
          const loss = dg.mse(ae.forward(xb), xb);
          dg.backward(loss);
          opt.step();
          opt.zeroGrad();
        });
      }
      epochs++;
      losses.push(fullLoss());
      const m = dg.memory();
      if (perEpochLive === null) perEpochLive = { tensors: m.tensors, bytes: m.bytes };
      else expect({ epoch: epochs, tensors: m.tensors, bytes: m.bytes }).toEqual({ epoch: epochs, ...perEpochLive });
    }
  } finally {
    opt.dispose();
  }
  return { initial: losses[0], final: losses[losses.length - 1], losses, epochs, ms: Date.now() - start };
}

/** MSE of predicting every row by the column means: the best an autoencoder that learned nothing can do. */
function columnMeanBaseline(m: DenseMatrix): number {
  const mean = new Float64Array(m.cols);
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) mean[j] += m.data[i * m.cols + j];
  for (let j = 0; j < m.cols; j++) mean[j] /= m.rows;
  let s = 0;
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) s += (m.data[i * m.cols + j] - mean[j]) ** 2;
  return s / (m.rows * m.cols);
}

const summary = (name: string, r: TrainResult): string =>
  `${name}: ${r.epochs} epochs in ${(r.ms / 1000).toFixed(1)} s, MSE ${r.initial.toFixed(5)} → ${r.final.toFixed(5)} ` +
  `(×${(r.final / r.initial).toFixed(3)}); per epoch: ${r.losses.map((l) => l.toFixed(4)).join(' ')}`;

// ---- the data loader -------------------------------------------------------------------------------------

describe('test data loader (test/helpers/data.ts)', () => {
  test('parses space-separated rows, gzip or plain, and rejects ragged rows', () => {
    const m = parseFeatureText('0 1 0\r\n1 1 0\r\n\n');
    expect([m.rows, m.cols, Array.from(m.data)]).toEqual([2, 3, [0, 1, 0, 1, 1, 0]]);
    expect(() => parseFeatureText('0 1\n1\n')).toThrow(/row 1 has 1 values/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgclust-ae-'));
    const f = path.join(dir, 'x.txt.gz');
    fs.writeFileSync(f, zlib.gzipSync('1 2\n3 4\n'));
    expect(Array.from(readFeatureFile(f).data)).toEqual([1, 2, 3, 4]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('generated datasets are deterministic in their seed', () => {
    expect(Array.from(gaussianClusters(3, 10, 4, 2).data)).toEqual(Array.from(gaussianClusters(3, 10, 4, 2).data));
    expect(Array.from(gaussianClusters(3, 10, 4, 2).data)).not.toEqual(Array.from(gaussianClusters(4, 10, 4, 2).data));
  });
});

// ---- real data: ACM ----------------------------------------------------------------------------------------

const acm = acmPath();
const withAcm = acm.file ? test : test.skip;
const withoutAcm = acm.file ? test.skip : test;
if (!acm.file) {
  // Visible in the jest output: the real-data tests below show as skipped, and a generated stand-in runs.
  console.warn(
    `skipped real-data part: ${ACM_REL} not found (looked in: ${acm.tried.join(', ') || 'no folder: DGCLUST_DATA unset and DGCLUST_NO_SHARED_DATA=1'}; set DGCLUST_DATA to the data folder). ` +
      'Training on a generated bag-of-words dataset instead.',
  );
}

// Measured on a 2-core machine (30 epochs, ~25 s): 0.0482 → 0.0306 (×0.63), below the column-mean baseline 0.0342
// (×0.90 of it) from epoch 5 on. Epoch 12 (the minimum when time runs short): ×0.66 of initial, ×0.93 of the baseline.
const ACM_FACTOR = 0.72;
const ACM_BASELINE_FACTOR = 0.97;

describe('MLP autoencoder on real data (ACM features, 3025×1870, 0/1)', () => {
  let X: DenseMatrix | null = null;
  beforeAll(() => {
    if (acm.file) X = loadAcmFeatures();
  });

  withAcm('the ACM file loads as 3025×1870 values in {0, 1} with 253,300 ones', () => {
    expect([X!.rows, X!.cols]).toEqual([ACM_ROWS, ACM_COLS]);
    let ones = 0;
    let other = 0;
    for (const v of X!.data) {
      if (v === 1) ones++;
      else if (v !== 0) other++;
    }
    expect({ ones, other }).toEqual({ ones: 253300, other: 0 });
  });

  withAcm(
    `1870→256→32→256→1870 (relu), Adam 1e-3, batches of 256: reconstruction MSE falls to ≤ ${ACM_FACTOR}× its initial value and below ${ACM_BASELINE_FACTOR}× the column-mean baseline; no tensor leaks`,
    () => {
      const before = dg.memory();
      const ae = new MlpAutoencoder([ACM_COLS, 256, 32, 256, ACM_COLS], 0);
      const x = dg.keep(dg.tensor(X!.data, [X!.rows, X!.cols]));
      const r = train(ae, x, { maxEpochs: 30, minEpochs: 12, batch: 256, seed: 1, timeBudgetMs: 40000 });
      // eslint-disable-next-line no-console
      console.log(summary('ACM autoencoder', r));
      const baseline = columnMeanBaseline(X!);
      expect(r.losses.every(Number.isFinite)).toBe(true);
      expect(r.final).toBeLessThanOrEqual(ACM_FACTOR * r.initial);
      expect(r.final).toBeLessThanOrEqual(ACM_BASELINE_FACTOR * baseline);
      x.dispose();
      ae.dispose();
      const after = dg.memory();
      expect({ tensors: after.tensors, bytes: after.bytes }).toEqual({ tensors: before.tensors, bytes: before.bytes });
    },
    110000,
  );

  // Stand-in when ACM is absent: same pipeline on a generated 1200×400 bag-of-words set with 3 topics.
  // Measured: 0.0568 → 0.0359 in 30 epochs (×0.63), column-mean baseline 0.0452.
  withoutAcm(
    `fallback (ACM absent): generated bag-of-words 1200×400, 400→128→16→128→400: MSE falls to ≤ ${ACM_FACTOR}× initial and below the column-mean baseline; no leaks`,
    () => {
      const data = binaryTopics(5, 1200, 400, 3);
      const before = dg.memory();
      const ae = new MlpAutoencoder([400, 128, 16, 128, 400], 0);
      const x = dg.keep(dg.tensor(data.data, [data.rows, data.cols]));
      const r = train(ae, x, { maxEpochs: 30, minEpochs: 30, batch: 256, seed: 1, timeBudgetMs: 40000 });
      // eslint-disable-next-line no-console
      console.log(summary('generated bag-of-words autoencoder', r));
      expect(r.final).toBeLessThanOrEqual(ACM_FACTOR * r.initial);
      expect(r.final).toBeLessThan(columnMeanBaseline(data));
      x.dispose();
      ae.dispose();
      const after = dg.memory();
      expect({ tensors: after.tensors, bytes: after.bytes }).toEqual({ tensors: before.tensors, bytes: before.bytes });
    },
    60000,
  );
});

// ---- generated data: always runs -----------------------------------------------------------------------------

// Measured: 4.09 → 0.086 in 30 epochs (×0.021).
const GAUSS_FACTOR = 0.1;

describe('MLP autoencoder on generated Gaussian clusters (always runs)', () => {
  test(`1000 points, 5 clusters in 50 dims, 50→64→8→64→50: MSE falls to ≤ ${GAUSS_FACTOR}× initial, the 8-d codes separate the clusters (nearest-centroid accuracy ≥ 0.95), no leaks`, () => {
    const data = gaussianClusters(1, 1000, 50, 5);
    const before = dg.memory();
    const ae = new MlpAutoencoder([50, 64, 8, 64, 50], 0);
    const x = dg.keep(dg.tensor(data.data, [data.rows, data.cols]));
    const r = train(ae, x, { maxEpochs: 30, minEpochs: 30, batch: 128, seed: 2, timeBudgetMs: 30000 });
    // eslint-disable-next-line no-console
    console.log(summary('Gaussian-cluster autoencoder', r));
    expect(r.final).toBeLessThanOrEqual(GAUSS_FACTOR * r.initial);

    // Codes: each point should be nearest to the centroid of its own cluster.
    const codes = dg.tidy(() => dg.noGrad(() => ae.encode(x)));
    const d = codes.shape[1];
    const z = codes.dataF32();
    codes.dispose();
    const centroids = new Float64Array(data.k * d);
    const counts = new Float64Array(data.k);
    for (let i = 0; i < data.rows; i++) {
      counts[data.labels[i]]++;
      for (let j = 0; j < d; j++) centroids[data.labels[i] * d + j] += z[i * d + j];
    }
    for (let c = 0; c < data.k; c++) for (let j = 0; j < d; j++) centroids[c * d + j] /= counts[c];
    let correct = 0;
    for (let i = 0; i < data.rows; i++) {
      let best = -1;
      let bestDist = Infinity;
      for (let c = 0; c < data.k; c++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += (z[i * d + j] - centroids[c * d + j]) ** 2;
        if (s < bestDist) {
          bestDist = s;
          best = c;
        }
      }
      if (best === data.labels[i]) correct++;
    }
    expect(correct / data.rows).toBeGreaterThanOrEqual(0.95);

    x.dispose();
    ae.dispose();
    const after = dg.memory();
    expect({ tensors: after.tensors, bytes: after.bytes }).toEqual({ tensors: before.tensors, bytes: before.bytes });
  });
});
