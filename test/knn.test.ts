// kNN graph construction: brute-force reference on small data, SDCN's USPS graphs reproduced from the USPS
// features (when the shared data folder is present; skipped visibly otherwise), errors.
import * as fs from 'fs';
import * as path from 'path';
import * as dg from '../lib';
import { parseMatrix, readText } from '../lib/data/text';
import { Rng } from './helpers/reference';

const rng = new Rng(31);

function bruteForce(x: Float32Array, n: number, d: number, k: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const cand: [number, number][] = [];
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += (x[i * d + c] - x[j * d + c]) ** 2;
      cand.push([s, j]);
    }
    cand.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const top = cand.slice(0, k + 1).map((c) => c[1]);
    out.push(top.includes(i) ? top.filter((j) => j !== i) : top.slice(0, k));
  }
  return out;
}

test.each([
  [10, 3, 1],
  [200, 5, 5],
  [1500, 16, 10],
])('heat kNN equals a brute-force ranking (n=%d, d=%d, k=%d), most similar first', (n, d, k) => {
  const x = rng.f32(n * d, -1, 1);
  dg.tidy(() => {
    const nb = dg.knnGraph(dg.tensor(x, [n, d]), k);
    expect(nb.shape).toEqual([n, k]);
    const got = nb.data() as Int32Array;
    const want = bruteForce(x, n, d, k);
    for (let i = 0; i < n; i++) expect(Array.from(got.subarray(i * k, (i + 1) * k))).toEqual(want[i]);
  });
});

test('knnEdges gives SDCN-style directed pairs i → neighbour', () => {
  dg.tidy(() => {
    const nb = dg.tensor(Int32Array.from([1, 2, 0, 2, 1, 0]), [3, 2]);
    const e = dg.knnEdges(nb);
    expect(Array.from(e.src)).toEqual([0, 0, 1, 1, 2, 2]);
    expect(Array.from(e.dst)).toEqual([1, 2, 0, 2, 1, 0]);
  });
});

const dataDir = process.env.DGCLUST_DATA ?? path.resolve(__dirname, '..', '..', 'shared', 'data');
const uspsFile = path.join(dataDir, 'derived', 'usps.txt.gz');
const haveUsps = fs.existsSync(uspsFile);
if (!haveUsps) console.warn(`skipped: USPS kNN reproduction needs ${uspsFile} (set DGCLUST_DATA)`);
(haveUsps ? test : test.skip)("SDCN's usps{1,3,5,10}_graph.txt reproduced from the USPS features (same neighbour set per node)", () => {
  const m = parseMatrix(readText(uspsFile), uspsFile);
  dg.tidy(() => {
    const x = dg.tensor(m.data, [m.rows, m.cols]);
    for (const k of [1, 3, 5, 10]) {
      const got = dg.knnGraph(x, k).data() as Int32Array;
      const lines = fs.readFileSync(path.join(dataDir, 'sdcn', 'graph', `usps${k}_graph.txt`), 'utf8').trim().split(/\r?\n/);
      const file: number[][] = Array.from({ length: m.rows }, () => []);
      for (const l of lines) {
        const [u, v] = l.trim().split(/\s+/).map(Number);
        file[u].push(v);
      }
      let differ = 0;
      for (let i = 0; i < m.rows; i++) {
        const a = Array.from(got.subarray(i * k, (i + 1) * k)).sort((p, q) => p - q).join();
        if (a !== file[i].slice().sort((p, q) => p - q).join()) differ++;
      }
      expect({ k, differ }).toEqual({ k, differ: 0 });
    }
  });
});

test('bad input: k out of range, one row, NaN, unknown metric', () => {
  const code = (fn: () => unknown) => {
    try {
      dg.tidy(() => void fn());
    } catch (e) {
      return `${(e as { code?: string }).code} ${(e as Error).message}`;
    }
    return 'no error';
  };
  expect(code(() => dg.knnGraph(dg.zeros([5, 2]), 5))).toMatch(/^DGC_ARG knnGraph: k = 5 must be in \[1, n - 1\]/);
  expect(code(() => dg.knnGraph(dg.zeros([1, 2]), 1))).toMatch(/^DGC_SHAPE knnGraph/);
  expect(code(() => dg.knnGraph(dg.tensor([[0, 1], [NaN, 0], [1, 1]]), 1))).toMatch(/^DGC_VALUE knnGraph: argument 'x'.*row 1, column 0/);
  expect(code(() => dg.knnGraph(dg.zeros([3, 2]), 1, { metric: 'manhattan' as never }))).toMatch(/^DGC_ARG knnGraph: argument 'metric'/);
  expect(code(() => dg.knnGraph(dg.zeros([3, 2]), 1, { metric: 'dot', sdcnOrder: true }))).toMatch(/^DGC_ARG knnGraph: the SDCN line order/);
});
