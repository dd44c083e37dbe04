// A 2-D map of a learned embedding: UMAP (umap-js, PAIR's implementation of McInnes et al. 2018), its k nearest
// neighbours from dgclust's native kNN.
//
// Why a subsample. Measured on the 2-core development machine (shared, loaded), umap-js on 70,000 points of a
// 10-d embedding with the native kNN (5 s) spent 47 s building its fuzzy graph (sparse matrices keyed by strings,
// 1.7 GiB resident) and 0.44 s per layout epoch (200 epochs: ~90 s), about 2.5 minutes in all; at 5,000 points it
// takes a few seconds. A native UMAP would belong in native/; until one is worth it, an embedding of more than
// `maxPoints` rows (default 5,000) is subsampled with the rule in `subsample()` and the page says so. Colours
// and axes of a map do not need every point: 5,000 points show every cluster's shape and overlap.
import { Worker } from 'worker_threads';
import { Generator } from '../random';
import { knnGraph, tensor } from '../ops';
import { DgcError, tidy } from '../tensor';

export interface MapOptions {
  /** At most this many points are laid out (default 5000). */
  maxPoints?: number;
  /** Seed of the subsample and of the layout (default 0). */
  seed?: number;
  /** UMAP's n_neighbors (default 15, as umap-learn). */
  nNeighbors?: number;
  /** Layout epochs (default 200 for any size: umap-learn's choice above 10,000 points, and enough for a picture). */
  nEpochs?: number;
  /** Called with the layout epochs done and their total. */
  onProgress?: (done: number, total: number) => void;
}

export interface EmbeddingMap {
  /** Row of the embedding of each point drawn, increasing. */
  rows: Int32Array;
  x: Float64Array;
  y: Float64Array;
  /** Rows of the embedding. */
  total: number;
  /** How the points were chosen and laid out, for the page. */
  method: string;
  /** Milliseconds: the kNN graph and the layout. */
  knnMs: number;
  layoutMs: number;
}

/**
 * At most m of n rows, chosen reproducibly: stratified by group (each group keeps its share of m, rounded by the
 * largest-remainder rule, and at least one point; groups are the predicted clusters, so a small cluster stays on
 * the map), and within a group the first rows of one seeded permutation of 0..n−1 (dgclust's Philox Generator).
 * With groups null, the first m rows of the permutation. Returns the chosen rows in increasing order.
 */
export function subsample(n: number, m: number, groups: ArrayLike<number> | null, seed: number): Int32Array {
  if (m >= n) return Int32Array.from({ length: n }, (_, i) => i);
  const perm = new Generator(seed).permutation(n);
  let chosen: number[];
  if (!groups) {
    chosen = Array.from(perm.subarray(0, m));
  } else {
    let k = 0;
    for (let i = 0; i < n; i++) if (groups[i] + 1 > k) k = groups[i] + 1;
    const size = new Array<number>(k).fill(0);
    for (let i = 0; i < n; i++) size[groups[i]]++;
    const exact = size.map((s) => (m * s) / n);
    const quota = exact.map(Math.floor);
    let left = m - quota.reduce((a, b) => a + b, 0);
    const byRemainder = exact.map((e, g) => [e - Math.floor(e), g]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    for (let r = 0; left > 0; r++, left--) quota[byRemainder[r][1]]++;
    // Every non-empty group keeps a point, paid for by the largest group.
    for (let g = 0; g < k; g++) {
      if (size[g] > 0 && quota[g] === 0) {
        const largest = quota.indexOf(Math.max(...quota));
        if (quota[largest] > 1) {
          quota[largest]--;
          quota[g] = 1;
        }
      }
    }
    const taken = new Array<number>(k).fill(0);
    chosen = [];
    for (let t = 0; t < n && chosen.length < m; t++) {
      const i = perm[t];
      const g = groups[i];
      if (taken[g] < quota[g]) {
        taken[g]++;
        chosen.push(i);
      }
    }
  }
  return Int32Array.from(chosen).sort();
}

/**
 * The UMAP layout, run in a worker thread: the caller's thread stays free (a progress bar keeps drawing), and the
 * layout runs in a plain Node context (under jest's module sandbox, every global lookup of umap-js's inner loops
 * is intercepted and the layout is ~8× slower). The worker evaluates this function's own compiled source, so it
 * must use nothing but its arguments and the globals (no imports, no outer variables).
 */
function umapLayout(
  UMAP: typeof import('umap-js').UMAP,
  port: { postMessage(message: unknown): void },
  job: { data: Float32Array; m: number; cols: number; knnIndices: Int32Array; knnDistances: Float64Array; nNeighbors: number; nEpochs: number; seed: number },
): void {
  // A small seeded generator (mulberry32) for umap-js's sampling: it asks for ~10⁸ numbers.
  let a = job.seed >>> 0;
  const random = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const { data, m, cols, nNeighbors } = job;
  const points: number[][] = [];
  const indices: number[][] = [];
  const distances: number[][] = [];
  for (let p = 0; p < m; p++) {
    points.push(Array.from(data.subarray(p * cols, (p + 1) * cols)));
    indices.push(Array.from(job.knnIndices.subarray(p * nNeighbors, (p + 1) * nNeighbors)));
    distances.push(Array.from(job.knnDistances.subarray(p * nNeighbors, (p + 1) * nNeighbors)));
  }
  const umap = new UMAP({ nComponents: 2, nNeighbors, nEpochs: job.nEpochs, minDist: 0.1, random });
  umap.setPrecomputedKNN(indices, distances);
  const epochs = umap.initializeFit(points);
  for (let e = 0; e < epochs; e++) {
    umap.step();
    if ((e + 1) % 10 === 0 || e + 1 === epochs) port.postMessage({ done: e + 1, total: epochs });
  }
  const layout = umap.getEmbedding();
  const xy = new Float64Array(2 * m);
  for (let p = 0; p < m; p++) {
    xy[2 * p] = layout[p][0];
    xy[2 * p + 1] = layout[p][1];
  }
  port.postMessage({ xy, epochs });
}

function runLayout(job: Parameters<typeof umapLayout>[2], onProgress?: (done: number, total: number) => void): Promise<{ xy: Float64Array; epochs: number }> {
  const source = `const { parentPort, workerData } = require('worker_threads');
(${umapLayout.toString()})(require(${JSON.stringify(require.resolve('umap-js'))}).UMAP, parentPort, workerData);`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(source, { eval: true, workerData: job });
    let result: { xy: Float64Array; epochs: number } | null = null;
    worker.on('message', (msg: { done?: number; total?: number; xy?: Float64Array; epochs?: number }) => {
      if (msg.xy) result = { xy: msg.xy, epochs: msg.epochs! };
      else onProgress?.(msg.done!, msg.total!);
    });
    worker.on('error', (err) => reject(new DgcError('DGC_INTERNAL', `embedding map: the UMAP layout failed: ${err.message}`)));
    worker.on('exit', (code) => {
      if (result) resolve(result);
      else reject(new DgcError('DGC_INTERNAL', `embedding map: the UMAP worker exited with code ${code} before finishing`));
    });
  });
}

/**
 * Lays out rows × cols points (row-major) in 2-D. groups (optional, one per row) steer the subsample only.
 * A 2-column embedding is drawn as it is; a 1-column one along x.
 */
export async function embeddingMap(data: Float32Array, rows: number, cols: number, groups: ArrayLike<number> | null, options: MapOptions = {}): Promise<EmbeddingMap> {
  const maxPoints = options.maxPoints ?? 5000;
  const seed = options.seed ?? 0;
  const chosen = subsample(rows, maxPoints, groups, seed);
  const m = chosen.length;
  const sub = new Float32Array(m * cols);
  for (let p = 0; p < m; p++) sub.set(data.subarray(chosen[p] * cols, (chosen[p] + 1) * cols), p * cols);
  const sampleText = m < rows
    ? `${m.toLocaleString('en-US')} of ${rows.toLocaleString('en-US')} points, stratified by predicted cluster (each cluster keeps its share, at least one point) and drawn by a seeded permutation (seed ${seed})`
    : `all ${rows.toLocaleString('en-US')} points`;
  const x = new Float64Array(m);
  const y = new Float64Array(m);
  if (cols <= 2 || m < 4) {
    for (let p = 0; p < m; p++) {
      x[p] = sub[p * cols];
      y[p] = cols > 1 ? sub[p * cols + 1] : 0;
    }
    return { rows: chosen, x, y, total: rows, method: `${sampleText}; the embedding has ${cols} dimension${cols > 1 ? 's' : ''} and is drawn as it is`, knnMs: 0, layoutMs: 0 };
  }

  const nNeighbors = Math.min(options.nNeighbors ?? 15, m - 1);
  const nEpochs = options.nEpochs ?? 200;
  // UMAP's kNN includes the point itself at distance 0 (as umap-learn's and umap-js's own search do).
  const t0 = performance.now();
  const neighbors = tidy(() => knnGraph(tensor(sub, [m, cols]), nNeighbors - 1, { metric: 'heat' }).data() as Int32Array);
  const knnIndices = new Int32Array(m * nNeighbors);
  const knnDistances = new Float64Array(m * nNeighbors);
  for (let p = 0; p < m; p++) {
    knnIndices[p * nNeighbors] = p;
    for (let q = 1; q < nNeighbors; q++) {
      const j = neighbors[p * (nNeighbors - 1) + q - 1];
      let s = 0;
      for (let c = 0; c < cols; c++) {
        const u = sub[p * cols + c] - sub[j * cols + c];
        s += u * u;
      }
      knnIndices[p * nNeighbors + q] = j;
      knnDistances[p * nNeighbors + q] = Math.sqrt(s);
    }
  }
  const knnMs = performance.now() - t0;

  const t1 = performance.now();
  const { xy, epochs } = await runLayout({ data: sub, m, cols, knnIndices, knnDistances, nNeighbors, nEpochs, seed }, options.onProgress);
  for (let p = 0; p < m; p++) {
    x[p] = xy[2 * p];
    y[p] = xy[2 * p + 1];
  }
  const layoutMs = performance.now() - t1;
  return {
    rows: chosen,
    x,
    y,
    total: rows,
    method: `${sampleText}; UMAP (umap-js, ${nNeighbors} neighbours from dgclust's exact kNN, min_dist 0.1, ${epochs} epochs, seed ${seed}) of the ${cols}-dimensional embedding`,
    knnMs,
    layoutMs,
  };
}
