// k-means (k-means++ init, Lloyd, nInit restarts): blobs recovered, seeded reproducibility, errors, and the
// SDCN paper's K-means row on ACM (ACC 67.3 ± 0.7) from the embedded ACM features.
import * as dg from '../lib';
import { loadEmbeddedAcm } from '../lib/data/embedded';
import { Rng } from './helpers/reference';

function blobs(n: number, k: number, d: number, seed: number): { x: Float32Array; y: Int32Array } {
  const rng = new Rng(seed);
  const centres = rng.f32(k * d, -20, 20);
  const x = new Float32Array(n * d);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % k;
    const noise = rng.f32(d, -1, 1);
    for (let c = 0; c < d; c++) x[i * d + c] = centres[y[i] * d + c] + noise[c];
  }
  return { x, y };
}

test('well-separated blobs are recovered exactly (ACC = NMI = 1), reproducibly from the seed', () => {
  const { x, y } = blobs(3000, 6, 10, 5);
  dg.tidy(() => {
    const t = dg.tensor(x, [3000, 10]);
    const a = dg.kmeans(t, 6, { seed: 1 });
    expect(dg.accuracy(y, a.labels)).toBe(1);
    expect(dg.nmi(y, a.labels)).toBeCloseTo(1, 12);
    expect(a.centers.shape).toEqual([6, 10]);
    const b = dg.kmeans(t, 6, { seed: 1 });
    expect(b.inertia).toBe(a.inertia);
    expect(Array.from(b.labels)).toEqual(Array.from(a.labels));
  });
});

test('k = 1 gives the mean; k = n gives inertia 0', () => {
  dg.tidy(() => {
    const x = dg.tensor([[1, 2], [3, 4], [5, 9]]);
    const one = dg.kmeans(x, 1);
    expect(Array.from(one.centers.dataF32())).toEqual([3, 5]);
    expect(dg.kmeans(x, 3).inertia).toBe(0);
  });
});

test('bad input: k out of range, NaN, bad options', () => {
  const msg = (fn: () => unknown) => {
    try {
      dg.tidy(() => void fn());
    } catch (e) {
      return `${(e as { code?: string }).code} ${(e as Error).message}`;
    }
    return 'no error';
  };
  const x = () => dg.tensor([[0, 1], [1, 0], [2, 2]]);
  expect(msg(() => dg.kmeans(x(), 4))).toMatch(/^DGC_ARG kmeans: k = 4 must be in \[1, n\]/);
  expect(msg(() => dg.kmeans(x(), 0))).toMatch(/^DGC_ARG kmeans: option 'k'/);
  expect(msg(() => dg.kmeans(x(), 2, { nInit: 0 }))).toMatch(/^DGC_ARG kmeans: option 'nInit'/);
  expect(msg(() => dg.kmeans(x(), 2, { tol: -1 }))).toMatch(/^DGC_VALUE kmeans: tol/);
  expect(msg(() => dg.kmeans(dg.tensor([[0, NaN], [1, 0]]), 1))).toMatch(/^DGC_VALUE kmeans: argument 'x'.*row 0, column 1/);
});

test("ACM features: mean ACC over 10 seeds within 2 points of the paper's K-means row (67.3 ± 0.7)", () => {
  const ds = loadEmbeddedAcm();
  const accs: number[] = [];
  dg.tidy(() => {
    const x = dg.tensor(ds.features.data, [ds.features.rows, ds.features.cols]);
    for (let seed = 0; seed < 10; seed++) accs.push(dg.accuracy(ds.labels.labels, dg.kmeans(x, 3, { seed }).labels));
  });
  const mean = (100 * accs.reduce((a, b) => a + b, 0)) / accs.length;
  console.log(`k-means on ACM, 10 seeds: mean ACC ${mean.toFixed(2)} (paper 67.3 ± 0.7), per seed ${accs.map((a) => (100 * a).toFixed(1)).join(' ')}`);
  expect(Math.abs(mean - 67.3)).toBeLessThanOrEqual(2);
});
