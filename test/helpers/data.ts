// Test data: the real ACM feature matrix when the shared data folder is present, and small generated
// datasets (seeded, deterministic) that always are.
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import type { ClusteringData } from '../../lib';

/** The repository root (test/helpers → ../..). */
export const repoRoot = path.resolve(__dirname, '..', '..');

/**
 * Data folders to look in, in order: $DGCLUST_DATA, then <repo>/../shared/data (left out when
 * DGCLUST_NO_SHARED_DATA=1, which lets a run check the fallback path on a machine that has the data).
 */
export function dataRoots(): string[] {
  const roots: string[] = [];
  if (process.env.DGCLUST_DATA) roots.push(path.resolve(process.env.DGCLUST_DATA));
  if (process.env.DGCLUST_NO_SHARED_DATA !== '1') roots.push(path.resolve(repoRoot, '..', 'shared', 'data'));
  return roots;
}

/** The first existing `<root>/<rel>`, or null; `tried` lists every path looked at (for skip notes). */
export function findDataFile(rel: string): { file: string | null; tried: string[] } {
  const tried = dataRoots().map((r) => path.join(r, rel));
  return { file: tried.find((p) => fs.existsSync(p)) ?? null, tried };
}

export interface DenseMatrix {
  rows: number;
  cols: number;
  /** Row-major rows × cols. */
  data: Float32Array;
}

/**
 * Parses SDCN-style text features: one row per line, values separated by single spaces (or any whitespace),
 * optionally gzip-compressed. Every row must have the same number of values.
 */
export function parseFeatureText(text: string, source = 'features'): DenseMatrix {
  const lines = text.split('\n');
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  const rows = lines.length;
  if (rows === 0) throw new Error(`${source}: no rows`);
  const cols = lines[0].trim().split(/\s+/).length;
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const parts = lines[i].trim().split(/\s+/);
    if (parts.length !== cols) throw new Error(`${source}: row ${i} has ${parts.length} values, row 0 has ${cols}`);
    for (let j = 0; j < cols; j++) {
      const v = Number(parts[j]);
      if (!Number.isFinite(v)) throw new Error(`${source}: row ${i} column ${j} is '${parts[j]}'`);
      data[i * cols + j] = v;
    }
  }
  return { rows, cols, data };
}

export function readFeatureFile(file: string): DenseMatrix {
  const raw = fs.readFileSync(file);
  const text = file.endsWith('.gz') ? zlib.gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  return parseFeatureText(text, file);
}

export const ACM_REL = path.join('derived', 'acm.txt.gz');
export const ACM_ROWS = 3025;
export const ACM_COLS = 1870;

/** Where the ACM features are, or null (with the paths tried). */
export function acmPath(): { file: string | null; tried: string[] } {
  return findDataFile(ACM_REL);
}

/** The ACM bag-of-words features (3025 × 1870, 0/1), or null when the file is absent. */
export function loadAcmFeatures(): DenseMatrix | null {
  const { file } = acmPath();
  if (!file) return null;
  const m = readFeatureFile(file);
  if (m.rows !== ACM_ROWS || m.cols !== ACM_COLS) {
    throw new Error(`${file}: expected ${ACM_ROWS}x${ACM_COLS}, got ${m.rows}x${m.cols}`);
  }
  return m;
}

// ---- generated data ------------------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draws from a uniform source (Box–Muller). */
export function gaussian(rand: () => number): () => number {
  return () => {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

export interface ClusteredData extends DenseMatrix {
  labels: Int32Array;
  k: number;
}

/**
 * k Gaussian clusters in `dim` dimensions: centres ~ N(0, centreStd²) per coordinate, points = centre +
 * N(0, noiseStd²). Rows are interleaved (row i belongs to cluster i mod k).
 */
export function gaussianClusters(
  seed: number,
  rows: number,
  dim: number,
  k: number,
  centreStd = 2,
  noiseStd = 0.3,
): ClusteredData {
  const normal = gaussian(prng(seed));
  const centres = new Float32Array(k * dim);
  for (let i = 0; i < centres.length; i++) centres[i] = centreStd * normal();
  const data = new Float32Array(rows * dim);
  const labels = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const c = i % k;
    labels[i] = c;
    for (let j = 0; j < dim; j++) data[i * dim + j] = centres[c * dim + j] + noiseStd * normal();
  }
  return { rows, cols: dim, data, labels, k };
}

/**
 * A sparse 0/1 dataset shaped like bag-of-words features: k topics, each with its own set of likely words.
 * Used in place of ACM when the real file is absent.
 */
export function binaryTopics(seed: number, rows: number, cols: number, k: number, density = 0.05): ClusteredData {
  const rand = prng(seed);
  const prob = new Float32Array(k * cols);
  for (let c = 0; c < k; c++) {
    for (let j = 0; j < cols; j++) prob[c * cols + j] = rand() < 0.15 ? Math.min(1, density * 5) : density / 4;
  }
  const data = new Float32Array(rows * cols);
  const labels = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const c = i % k;
    labels[i] = c;
    for (let j = 0; j < cols; j++) data[i * cols + j] = rand() < prob[c * cols + j] ? 1 : 0;
  }
  return { rows, cols, data, labels, k };
}

/** An attributed graph whose edges carry the clusters (a stochastic block model with noisy node features). */
export interface AttributedSbm {
  name: 'sbm';
  features: DenseMatrix;
  labels: Int32Array;
  nClusters: number;
  /** Both directions of every edge. */
  edges: { src: Int32Array; dst: Int32Array };
}

/**
 * k clusters of n / k nodes (node i in cluster i mod k): features = centre + 2·N(0, 1) with centres ~ N(0, 0.8²) per
 * coordinate (a weak signal under heavy noise: AE + k-means ≈ 0.5 at the defaults); `degree` edges drawn per node,
 * each inside the node's cluster with probability `inside`. `nonNegative`: features max(0, 1 + value) instead (for
 * models whose reconstruction is ReLU'd).
 */
export function attributedSbm(
  seed: number,
  { n = 240, k = 4, d = 20, degree = 8, inside = 0.9, nonNegative = false } = {},
): AttributedSbm {
  const rand = prng(seed);
  const normal = gaussian(rand);
  const labels = Int32Array.from({ length: n }, (_, i) => i % k);
  const centres = Float32Array.from({ length: k * d }, () => 0.8 * normal());
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const c = centres[labels[i] * d + j];
      const noise = 2 * normal();
      x[i * d + j] = nonNegative ? Math.max(0, 1 + c + noise) : c + noise;
    }
  }
  const src: number[] = [];
  const dst: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let e = 0; e < degree; e++) {
      const same = rand() < inside;
      let j = Math.floor(rand() * n);
      while ((labels[j] === labels[i]) !== same || j === i) j = Math.floor(rand() * n);
      src.push(i, j);
      dst.push(j, i);
    }
  }
  return { name: 'sbm', features: { rows: n, cols: d, data: x }, labels, nClusters: k, edges: { src: Int32Array.from(src), dst: Int32Array.from(dst) } };
}

// ---- native garbage ------------------------------------------------------------------------------------

/**
 * Runs the garbage collector a few times and lets finalizers run, so that native tensors some earlier test
 * file (in the same jest worker) dropped without disposing are freed now rather than in the middle of a test
 * that compares live-buffer counts. Returns false if the collector could not be reached.
 */
export async function settleNativeGarbage(rounds = 3): Promise<boolean> {
  let gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      require('v8').setFlagsFromString('--expose-gc');
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      gc = require('vm').runInNewContext('gc') as () => void;
    } catch {
      return false;
    }
  }
  for (let i = 0; i < rounds; i++) {
    gc!();
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

/** Every `step`-th row of a data set (rows 0, step, 2·step, …) with its labels and without its graph: a smaller real
 *  data set for the short runs of the models that use no graph (USPS's 9,298 rows → 3,100 at step 3). */
export function everyNthRow(full: ClusteringData, step: number, name = `${full.name}-every-${step}`): ClusteringData {
  const d = full.features.cols;
  const keep = Array.from({ length: Math.ceil(full.features.rows / step) }, (_, i) => step * i);
  const x = new Float32Array(keep.length * d);
  keep.forEach((r, i) => x.set(full.features.data.subarray(r * d, (r + 1) * d), i * d));
  return {
    name, features: { rows: keep.length, cols: d, data: x }, labels: full.labels ? Int32Array.from(keep.map((r) => full.labels![r])) : null,
    nClusters: full.nClusters, edges: null,
  };
}
