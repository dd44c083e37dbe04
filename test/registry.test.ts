// The dataset registry: the package's own ACM without any folder, the shared data folder's datasets when present
// (skipped visibly otherwise), and clear errors for unknown names and missing feature files.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as dg from '../lib';

const shared = process.env.DGCLUST_DATA ?? path.resolve(__dirname, '..', '..', 'shared', 'data');
const haveShared = fs.existsSync(path.join(shared, 'derived', 'dblp.txt.gz'));
if (!haveShared) console.warn(`skipped: registry tests on the shared datasets need ${shared} (set DGCLUST_DATA)`);
const withShared = haveShared ? test : test.skip;

const classCounts = (labels: Int32Array, k: number) => {
  const c = new Array(k).fill(0);
  for (const l of labels) c[l]++;
  return c;
};

test('ACM loads from the package itself when no folder is given', () => {
  const saved = process.env.DGCLUST_DATA;
  delete process.env.DGCLUST_DATA;
  try {
    const ds = dg.loadDataset('acm');
    expect([ds.features.rows, ds.features.cols, ds.labels.k, ds.edges!.src.length]).toEqual([3025, 1870, 3, 26256]);
  } finally {
    if (saved !== undefined) process.env.DGCLUST_DATA = saved;
  }
});

withShared.each([
  ['dblp', 4057, 334, [1197, 745, 1109, 1006], 7056],
  ['cite', 3327, 3703, [264, 590, 668, 701, 596, 508], 9104],
])('%s from the shared folder: shape, 0-based labels (CITE is 1-based on disk), natural graph', (name, n, d, counts, lines) => {
  const ds = dg.loadDataset(name as string, { dataDir: shared });
  expect([ds.features.rows, ds.features.cols]).toEqual([n, d]);
  expect(classCounts(ds.labels.labels, ds.labels.k)).toEqual(counts);
  expect(ds.edges!.src.length).toBe(lines);
});

withShared('usps with SDCN\'s k = 5 kNN graph', () => {
  const ds = dg.loadDataset('usps', { dataDir: shared, knnK: 5 });
  expect([ds.features.rows, ds.features.cols, ds.labels.k]).toEqual([9298, 256, 10]);
  expect(ds.edges!.src.length).toBe(9298 * 5);
});

withShared('hhar: the labels and graphs exist but the features do not — the error lists where it looked', () => {
  let err: (Error & { code?: string }) | null = null;
  try {
    dg.loadDataset('hhar', { dataDir: shared });
  } catch (e) {
    err = e as Error & { code?: string };
  }
  expect(err?.code).toBe('DGC_DATA');
  expect(err!.message).toMatch(/features of 'hhar'/);
  expect(err!.message).toContain(path.join(shared, 'derived', 'hhar.txt.gz'));
  expect(err!.message).toMatch(/--data-dir|DGCLUST_DATA/);
});

test('a flat SDCN-layout folder given with dataDir takes precedence', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgc-reg-'));
  try {
    fs.writeFileSync(path.join(dir, 'reut.txt'), '1 0\n0 1\n1 1\n');
    fs.writeFileSync(path.join(dir, 'reut_label.txt'), '2\n1\n2\n');
    fs.writeFileSync(path.join(dir, 'reut3_graph.txt'), '0 1\n1 2\n');
    const ds = dg.loadDataset('reut', { dataDir: dir });
    expect(Array.from(ds.labels.labels)).toEqual([1, 0, 1]);
    expect(ds.edges!.src.length).toBe(2);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('unknown names and bad kNN sizes are refused', () => {
  expect(() => dg.loadDataset('imagenet')).toThrow(/unknown dataset 'imagenet' \(known: acm, dblp/);
  expect(() => dg.loadDataset('usps', { knnK: 4 })).toThrow(/knnK must be 1, 3, 5 or 10/);
});
