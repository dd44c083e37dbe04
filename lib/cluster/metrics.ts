// Clustering metrics: ACC, NMI, ARI and macro-F1 against ground-truth classes, and two graph metrics
// (modularity, conductance) that need no labels.
//
// How these match the papers' evaluation code
// -------------------------------------------
// SDCN, DFCN, AGCN and CaEGCN all evaluate with SDCN's `evaluation.py` (`eva` → `cluster_acc`):
//   * ACC: the contingency table of classes × clusters, a Hungarian (Munkres) matching of clusters to
//     classes maximizing the matched count, predictions relabelled by it, then accuracy_score.
//   * F1: sklearn f1_score(y_true, relabelled, average='macro') after the same matching.
//   * NMI: sklearn normalized_mutual_info_score(average_method='arithmetic').
//   * ARI: sklearn adjusted_rand_score.
// With as many clusters as classes (the case the papers run) the functions here give the same numbers
// (ACC, NMI, ARI exactly as sklearn; F1 too, up to the choice among tied optimal matchings, see f1Macro).
// Where `cluster_acc` has quirks, this module follows the definition instead:
//   * Fewer clusters than classes: `cluster_acc` overwrites y_pred[0], y_pred[1], ... with each missing class
//     label (in place, so `eva`'s NMI and ARI then see the altered prediction too) before matching. Here the
//     prediction is never altered: classes left without a cluster simply score 0 (their samples are wrong).
//     AGCN's copy returns (0, 0) for ACC/F1 if the patched prediction still has too few clusters.
//   * More clusters than classes: `cluster_acc` prints 'error' and returns None, so `eva` raises (unless the
//     patch-up happens to even out the counts). Here the matching is rectangular: each class gets at most
//     one cluster, and unmatched clusters count as wrong.
//   * `cluster_acc` assumes y_pred uses the same label values as y_true − min(y_true) (the patch-up compares
//     them). Here both labelings are remapped independently (any integers are fine).
// When the test values were derived (scikit-learn 1.2.1), SDCN's cluster_acc logic was also re-run verbatim
// (with scipy in place of munkres). With Kp = Kt all four numbers were identical. With Kp < Kt the patch-up
// moved them: for example, yTrue = [0,0,1,1,1] against one cluster (0-based labels) gives ACC 0.6, F1 0.375, NMI 0 and ARI 0 here,
// but SDCN reports 0.8, 0.762, 0.380 and 0.231. On a random N = 500, Kt = 7, Kp = 5 case it is 0.642 vs 0.638.
// Performance: labels are remapped and the contingency table counted in O(N + Kt·Kp); the matching is
// O(K³) on that table. At N = 100,000 and K = 10 the four metrics together take a few milliseconds.
import { isInt32Array } from '../util/typed';
import { DgcError } from '../tensor';
import { solveFlat } from './hungarian';

export type LabelArray = Int32Array | number[];

// Globals used in per-element loops, bound once: under a vm context (jest's test environment) every global
// lookup goes through the context's interceptors and costs ~100 ns, which at N = 10⁵ dominates the run time.
const isSafeInteger = Number.isSafeInteger;
const isInteger = Number.isInteger;
const isFiniteNumber = Number.isFinite;
const floor = Math.floor;
const log = Math.log;

function argError(message: string): DgcError {
  return new DgcError('DGC_ARG', message);
}

// ---- labels and the contingency table -------------------------------------------------------------------

/** A labeling remapped to 0..k−1, in increasing order of the original values (like np.unique). */
interface Encoded {
  idx: Int32Array;
  k: number;
  /** The original label values, increasing: values[id]. */
  values: Float64Array;
}

function encode(labels: LabelArray, fn: string, name: string): Encoded {
  if (!(isInt32Array(labels)) && !Array.isArray(labels)) {
    throw argError(`${fn}: ${name} must be an Int32Array or number[], got ${labels === null ? 'null' : typeof labels}`);
  }
  const n = labels.length;
  const idx = new Int32Array(n);
  if (n === 0) return { idx, k: 0, values: new Float64Array(0) };
  // One pass over the input (a plain array may be holey or in dictionary mode: read it once), into a typed copy.
  let lab: Int32Array | Float64Array;
  let lo = Infinity;
  let hi = -Infinity;
  if (isInt32Array(labels)) {
    lab = labels;
    for (let i = 0; i < n; i++) {
      const v = lab[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  } else {
    lab = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const v = labels[i];
      if (!isSafeInteger(v)) {
        throw argError(`${fn}: ${name}[${i}] = ${String(v)} is not an integer label (labels must be safe integers)`);
      }
      lab[i] = v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  const range = hi - lo + 1;
  if (range <= Math.max(2 * n, 1 << 16)) {
    // Dense lookup table over [lo, hi].
    const table = new Int32Array(range);
    for (let i = 0; i < n; i++) table[lab[i] - lo] = 1;
    let k = 0;
    for (let t = 0; t < range; t++) if (table[t] !== 0) table[t] = ++k; // ids + 1
    const values = new Float64Array(k);
    for (let t = 0; t < range; t++) if (table[t] !== 0) values[table[t] - 1] = lo + t;
    for (let i = 0; i < n; i++) idx[i] = table[lab[i] - lo] - 1;
    return { idx, k, values };
  }
  // Sparse label values: sort the distinct values.
  const sorted = Float64Array.from(lab).sort();
  let k = 0;
  for (let i = 0; i < n; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) sorted[k++] = sorted[i];
  const values = sorted.slice(0, k);
  const id = new Map<number, number>();
  for (let t = 0; t < k; t++) id.set(values[t], t);
  for (let i = 0; i < n; i++) idx[i] = id.get(lab[i])!;
  return { idx, k, values };
}

/** The non-zero cells of the Kt × Kp contingency table n_ij = #{s : yTrue[s] = class i, yPred[s] = cluster j}. */
interface Contingency {
  n: number;
  kt: number;
  kp: number;
  /** a_i = Σ_j n_ij (class sizes) and b_j = Σ_i n_ij (cluster sizes). */
  rowSum: Float64Array;
  colSum: Float64Array;
  /** Non-zero cells, ordered by (row, col). */
  cellRow: Int32Array;
  cellCol: Int32Array;
  cellCount: Float64Array;
}

function contingency(yTrue: LabelArray, yPred: LabelArray, fn: string): Contingency {
  const t = encode(yTrue, fn, 'yTrue');
  const p = encode(yPred, fn, 'yPred');
  const n = t.idx.length;
  if (p.idx.length !== n) {
    throw argError(`${fn}: yTrue and yPred must have the same length, got yTrue.length = ${n} and yPred.length = ${p.idx.length}`);
  }
  if (n === 0) throw argError(`${fn}: yTrue and yPred are empty (length 0); at least one sample is needed`);
  const kt = t.k;
  const kp = p.k;
  const rowSum = new Float64Array(kt);
  const colSum = new Float64Array(kp);
  for (let s = 0; s < n; s++) {
    rowSum[t.idx[s]]++;
    colSum[p.idx[s]]++;
  }
  const cells = kt * kp;
  let cellRow: Int32Array;
  let cellCol: Int32Array;
  let cellCount: Float64Array;
  if (cells <= Math.max(4 * n, 1 << 16)) {
    // Dense counting: O(N + Kt·Kp).
    const table = new Int32Array(cells);
    for (let s = 0; s < n; s++) table[t.idx[s] * kp + p.idx[s]]++;
    let nz = 0;
    for (let c = 0; c < cells; c++) if (table[c] !== 0) nz++;
    cellRow = new Int32Array(nz);
    cellCol = new Int32Array(nz);
    cellCount = new Float64Array(nz);
    let e = 0;
    for (let c = 0; c < cells; c++) {
      if (table[c] !== 0) {
        cellRow[e] = floor(c / kp);
        cellCol[e] = c % kp;
        cellCount[e] = table[c];
        e++;
      }
    }
  } else {
    // Many labels (e.g. singletons): sort the cell codes instead, O(N log N), memory O(N).
    const codes = new Float64Array(n);
    for (let s = 0; s < n; s++) codes[s] = t.idx[s] * kp + p.idx[s];
    codes.sort();
    let nz = 0;
    for (let s = 0; s < n; s++) if (s === 0 || codes[s] !== codes[s - 1]) nz++;
    cellRow = new Int32Array(nz);
    cellCol = new Int32Array(nz);
    cellCount = new Float64Array(nz);
    let e = -1;
    for (let s = 0; s < n; s++) {
      if (s === 0 || codes[s] !== codes[s - 1]) {
        e++;
        cellRow[e] = floor(codes[s] / kp);
        cellCol[e] = codes[s] % kp;
      }
      cellCount[e]++;
    }
  }
  return { n, kt, kp, rowSum, colSum, cellRow, cellCol, cellCount };
}

// ---- the matching (ACC, F1) -----------------------------------------------------------------------------

/** Largest dense block (classes × clusters of one connected component) the matching will build. */
const MAX_MATCH_CELLS = 1 << 24;

/**
 * A one-to-one matching of clusters to classes maximizing Σ n_{i,σ(i)}: matchOfClass[i] = cluster or −1.
 *
 * Exact, via the Hungarian solver. Cells with n_ij = 0 add nothing to the objective, so the problem splits
 * into the connected components of the bipartite graph of non-zero cells, solved one by one (usually one
 * Kt × Kp component; N components of 1 × 1 for singletons against singletons).
 */
function matchClusters(ct: Contingency, fn: string): Int32Array {
  const { kt, kp, cellRow, cellCol, cellCount } = ct;
  // Union-find over kt class nodes and kp cluster nodes (cluster j is node kt + j).
  const parent = new Int32Array(kt + kp);
  for (let i = 0; i < parent.length; i++) parent[i] = i;
  const find = (x: number): number => {
    while (parent[x] !== x) {
      parent[x] = parent[parent[x]];
      x = parent[x];
    }
    return x;
  };
  for (let e = 0; e < cellRow.length; e++) {
    const a = find(cellRow[e]);
    const b = find(kt + cellCol[e]);
    if (a !== b) parent[a] = b;
  }
  // Local indices of each node inside its component.
  const compOf = new Int32Array(kt + kp);
  const local = new Int32Array(kt + kp);
  const compId = new Int32Array(kt + kp).fill(-1);
  const compRows: number[] = [];
  const compCols: number[] = [];
  const rowsOf: number[][] = [];
  const colsOf: number[][] = [];
  for (let x = 0; x < kt + kp; x++) {
    const r = find(x);
    if (compId[r] < 0) {
      compId[r] = compRows.length;
      compRows.push(0);
      compCols.push(0);
      rowsOf.push([]);
      colsOf.push([]);
    }
    const c = compId[r];
    compOf[x] = c;
    if (x < kt) {
      local[x] = compRows[c]++;
      rowsOf[c].push(x);
    } else {
      local[x] = compCols[c]++;
      colsOf[c].push(x - kt);
    }
  }
  const matchOfClass = new Int32Array(kt).fill(-1);
  const blocks: Float64Array[] = compRows.map((r, c) => {
    const size = r * compCols[c];
    if (size > MAX_MATCH_CELLS) {
      throw argError(
        `${fn}: the cluster-to-class matching needs a dense ${r} × ${compCols[c]} table (more than ${MAX_MATCH_CELLS} cells); ` +
          `too many classes and clusters overlap (yTrue has ${kt} labels, yPred has ${kp})`,
      );
    }
    return new Float64Array(size);
  });
  for (let e = 0; e < cellRow.length; e++) {
    const c = compOf[cellRow[e]];
    blocks[c][local[cellRow[e]] * compCols[c] + local[kt + cellCol[e]]] = cellCount[e];
  }
  for (let c = 0; c < blocks.length; c++) {
    if (compRows[c] === 0 || compCols[c] === 0) continue;
    if (compRows[c] === 1 && compCols[c] === 1) {
      matchOfClass[rowsOf[c][0]] = colsOf[c][0]; // e.g. singletons against singletons
      continue;
    }
    const sol = solveFlat(blocks[c], compRows[c], compCols[c], true);
    for (let r = 0; r < compRows[c]; r++) {
      const j = sol.rowToCol[r];
      if (j >= 0) matchOfClass[rowsOf[c][r]] = colsOf[c][j];
    }
  }
  return matchOfClass;
}

/** The count n_{i,σ(i)} of each class's matched cluster (0 if unmatched). */
function matchedCounts(ct: Contingency, matchOfClass: Int32Array): Float64Array {
  const tp = new Float64Array(ct.kt);
  for (let e = 0; e < ct.cellRow.length; e++) {
    if (matchOfClass[ct.cellRow[e]] === ct.cellCol[e]) tp[ct.cellRow[e]] = ct.cellCount[e];
  }
  return tp;
}

function accFrom(ct: Contingency, tp: Float64Array): number {
  let s = 0;
  for (let i = 0; i < ct.kt; i++) s += tp[i];
  return s / ct.n;
}

function f1From(ct: Contingency, matchOfClass: Int32Array, tp: Float64Array): number {
  let s = 0;
  for (let i = 0; i < ct.kt; i++) {
    if (tp[i] === 0) continue; // F1_i = 0 (no true positives; sklearn's zero_division also gives 0)
    const predicted = ct.colSum[matchOfClass[i]];
    s += (2 * tp[i]) / (ct.rowSum[i] + predicted);
  }
  return s / ct.kt;
}

/**
 * Clustering accuracy (ACC), as SDCN's `cluster_acc`:
 *
 *   ACC = max_σ (1/N) Σ_s [yTrue_s = σ(yPred_s)] = max_σ (1/N) Σ_i n_{i,σ⁻¹(i)},
 *
 * the maximum over one-to-one matchings σ of clusters to classes (Hungarian on the Kt × Kp contingency table
 * n_ij). With Kp ≠ Kt the matching is rectangular: min(Kt, Kp) pairs; samples of an unmatched cluster are
 * wrong, and so are the samples of a class that got no cluster.
 */
export function accuracy(yTrue: LabelArray, yPred: LabelArray): number {
  const ct = contingency(yTrue, yPred, 'accuracy');
  return accFrom(ct, matchedCounts(ct, matchClusters(ct, 'accuracy')));
}

/**
 * Macro F1 after the ACC matching, as SDCN's `cluster_acc`: predictions relabelled by the matching, then
 * sklearn f1_score(yTrue, relabelled, labels=classes, average='macro'):
 *
 *   F1_i = 2·P_i·R_i / (P_i + R_i) = 2·TP_i / (a_i + b_σ(i)),   TP_i = n_{i,σ(i)},  a_i = |class i|,  b_j = |cluster j|,
 *   F1   = (1/Kt) Σ_i F1_i   (a class with no matched cluster has F1_i = 0).
 *
 * Subtleties (noted because results can differ by them):
 *   * The average runs over the Kt classes only. Samples of unmatched clusters (Kp > Kt) are false
 *     negatives of their class and false positives of no class. Giving them a fresh label and calling
 *     f1_score without `labels` would also average in that label's F1 (= 0). SDCN never meets this case
 *     (it refuses Kp > Kt).
 *   * If several matchings reach the same maximal ACC, F1 can depend on which one the solver returns
 *     (ACC, NMI and ARI do not). SDCN's munkres, scipy's linear_sum_assignment and this solver may break
 *     such ties differently; with noisy real predictions ties are rare.
 */
export function f1Macro(yTrue: LabelArray, yPred: LabelArray): number {
  const ct = contingency(yTrue, yPred, 'f1Macro');
  const match = matchClusters(ct, 'f1Macro');
  return f1From(ct, match, matchedCounts(ct, match));
}

// ---- NMI ------------------------------------------------------------------------------------------------

const EPS = 2.220446049250313e-16; // np.finfo(float64).eps

/** Entropy of a labeling from its class sizes (natural log), as sklearn's `entropy`. */
function entropyOf(sizes: Float64Array, n: number): number {
  if (sizes.length === 1) return 0;
  const logN = log(n);
  let h = 0;
  for (let i = 0; i < sizes.length; i++) h -= (sizes[i] / n) * (log(sizes[i]) - logN);
  return h;
}

/** Mutual information (natural log), term by term as sklearn's `mutual_info_score`. */
function mutualInfo(ct: Contingency): number {
  if (ct.kt === 1 || ct.kp === 1) return 0;
  const logN = log(ct.n);
  let mi = 0;
  for (let e = 0; e < ct.cellRow.length; e++) {
    const nij = ct.cellCount[e];
    const pnm = nij / ct.n;
    const outer = ct.rowSum[ct.cellRow[e]] * ct.colSum[ct.cellCol[e]];
    const term = pnm * (log(nij) - logN) + pnm * (-log(outer) + logN + logN);
    if (term >= EPS || term <= -EPS) mi += term; // sklearn zeroes terms with |term| < eps
  }
  return Math.max(mi, 0);
}

function nmiFrom(ct: Contingency): number {
  // Both labelings constant: a perfect (if trivial) match.
  if (ct.kt === 1 && ct.kp === 1) return 1;
  const mi = mutualInfo(ct);
  // MI = 0 (e.g. one labeling constant, or independent labelings): NMI = 0 whatever the normalization.
  if (mi === 0) return 0;
  const h = (entropyOf(ct.rowSum, ct.n) + entropyOf(ct.colSum, ct.n)) / 2;
  return mi / h;
}

/**
 * Normalized mutual information with the arithmetic mean (sklearn's normalized_mutual_info_score with its
 * default average_method='arithmetic', which SDCN's `eva` passes explicitly), natural log:
 *
 *   MI  = Σ_ij (n_ij/N) · log(N·n_ij / (a_i·b_j)),
 *   H(U) = −Σ_i (a_i/N) log(a_i/N),  H(V) = −Σ_j (b_j/N) log(b_j/N),
 *   NMI = MI / ((H(U) + H(V)) / 2).
 *
 * Special cases as sklearn: both labelings constant → 1.0; MI = 0 (e.g. exactly one labeling constant) → 0.0.
 * (Before sklearn 0.22 the default was the geometric mean; SDCN pins 0.22.1 and asks for arithmetic.)
 */
export function nmi(yTrue: LabelArray, yPred: LabelArray): number {
  return nmiFrom(contingency(yTrue, yPred, 'nmi'));
}

// ---- ARI ------------------------------------------------------------------------------------------------

function ariFrom(ct: Contingency): number {
  // Pair confusion matrix over ordered pairs of distinct samples (sklearn's pair_confusion_matrix):
  //   tp = Σ n_ij² − N,  fp = Σ_j b_j² − Σ n_ij²,  fn = Σ_i a_i² − Σ n_ij²,  tn = N² − tp − fp − fn − N.
  const n = ct.n;
  let sq = 0;
  let sqA = 0;
  let sqB = 0;
  let tp: bigint, fp: bigint, fn: bigint, tn: bigint;
  if (n * n <= Number.MAX_SAFE_INTEGER) {
    // Every sum is an integer ≤ N² < 2^53: exact in doubles.
    for (let e = 0; e < ct.cellCount.length; e++) sq += ct.cellCount[e] * ct.cellCount[e];
    for (let i = 0; i < ct.kt; i++) sqA += ct.rowSum[i] * ct.rowSum[i];
    for (let j = 0; j < ct.kp; j++) sqB += ct.colSum[j] * ct.colSum[j];
    tp = BigInt(sq - n);
    fp = BigInt(sqB - sq);
    fn = BigInt(sqA - sq);
    tn = BigInt(n * n - sqB - sqA + sq);
  } else {
    let bsq = 0n;
    let bsqA = 0n;
    let bsqB = 0n;
    for (let e = 0; e < ct.cellCount.length; e++) bsq += BigInt(ct.cellCount[e]) ** 2n;
    for (let i = 0; i < ct.kt; i++) bsqA += BigInt(ct.rowSum[i]) ** 2n;
    for (let j = 0; j < ct.kp; j++) bsqB += BigInt(ct.colSum[j]) ** 2n;
    const bn = BigInt(n);
    tp = bsq - bn;
    fp = bsqB - bsq;
    fn = bsqA - bsq;
    tn = bn * bn - bsqB - bsqA + bsq;
  }
  // Full agreement (including all-in-one against all-in-one, singletons against singletons, N = 1).
  if (fn === 0n && fp === 0n) return 1;
  // The products exceed 2^53 for N ≳ 10⁴: form them exactly, round once each (as sklearn does with Python ints).
  const num = tp * tn - fn * fp;
  const den = (tp + fn) * (fn + tn) + (tp + fp) * (fp + tn);
  return (2 * Number(num)) / Number(den);
}

/**
 * Adjusted Rand index, as sklearn's adjusted_rand_score (sklearn ≥ 0.24 form, via the pair confusion matrix
 * of ordered pairs):
 *
 *   ARI = 2·(tp·tn − fn·fp) / ((tp + fn)·(fn + tn) + (tp + fp)·(fp + tn)),
 *
 * which equals the Hubert–Arabie form (Σ C(n_ij,2) − E) / (½(Σ C(a_i,2) + Σ C(b_j,2)) − E),
 * E = Σ C(a_i,2)·Σ C(b_j,2) / C(N,2). Special case as sklearn: fn = fp = 0 (the two partitions are equal, e.g.
 * both a single cluster, or both all singletons) → 1.0. Counts are combined in exact integer arithmetic.
 */
export function ari(yTrue: LabelArray, yPred: LabelArray): number {
  return ariFrom(contingency(yTrue, yPred, 'ari'));
}

// ---- all four -------------------------------------------------------------------------------------------

export interface Evaluation {
  acc: number;
  nmi: number;
  ari: number;
  f1: number;
}

/** ACC, NMI, ARI and macro-F1 (as SDCN's `eva`), sharing one contingency table and one matching. */
export function evaluate(yTrue: LabelArray, yPred: LabelArray): Evaluation {
  const ct = contingency(yTrue, yPred, 'evaluate');
  const match = matchClusters(ct, 'evaluate');
  const tp = matchedCounts(ct, match);
  return { acc: accFrom(ct, tp), nmi: nmiFrom(ct), ari: ariFrom(ct), f1: f1From(ct, match, tp) };
}

// ---- graph metrics --------------------------------------------------------------------------------------

type WeightArray = Float32Array | Float64Array | number[];

/**
 * An undirected graph as directed entries src[e] → dst[e] (0-based node ids), each undirected edge listed in
 * both directions, as in SDCN's `graph/*.txt` files (see parseEdges). Optional non-negative weights.
 */
export interface EdgeListGraph {
  src: Int32Array | number[];
  dst: Int32Array | number[];
  weights?: WeightArray;
}

/** The same graph as CSR arrays: the entries of row i are indices[indptr[i] .. indptr[i+1]). */
export interface CsrGraph {
  indptr: Int32Array | number[];
  indices: Int32Array | number[];
  /** Entry weights (default 1). */
  data?: WeightArray;
}

export type GraphInput = EdgeListGraph | CsrGraph;

/** Per-cluster sums over the graph's entries (the convention is spelled out at modularity()). */
interface GraphSums {
  /** Σ of all entry weights (= 2m for a symmetric list). */
  total: number;
  /** Σ weights of entries with both ends in cluster c. */
  intra: Float64Array;
  /** Σ over nodes of c of the degree k_i = (out_i + in_i) / 2. */
  volume: Float64Array;
  /** Weight leaving c in the symmetrized graph: ½ Σ of entries with exactly one end in c. */
  cut: Float64Array;
  /** Nodes per cluster. */
  size: Float64Array;
}

function checkId(v: number, n: number, fn: string, what: string): void {
  if (!isInteger(v) || v < 0 || v >= n) {
    throw argError(`${fn}: ${what} = ${String(v)} is not a node id in [0, ${n}) (labels.length = ${n})`);
  }
}

function checkWeight(w: number, fn: string, what: string): void {
  if (!isFiniteNumber(w) || w < 0) throw argError(`${fn}: ${what} = ${String(w)} must be finite and >= 0`);
}

function graphSums(graph: GraphInput, cluster: Int32Array, k: number, fn: string): GraphSums {
  const n = cluster.length;
  if (graph === null || typeof graph !== 'object') throw argError(`${fn}: graph must be {src, dst} or {indptr, indices}`);
  const intra = new Float64Array(k);
  const volume = new Float64Array(k);
  const cut = new Float64Array(k);
  const size = new Float64Array(k);
  for (let i = 0; i < n; i++) size[cluster[i]]++;
  let total = 0;
  const add = (i: number, j: number, w: number): void => {
    total += w;
    const ci = cluster[i];
    const cj = cluster[j];
    volume[ci] += w / 2;
    volume[cj] += w / 2;
    if (ci === cj) intra[ci] += w;
    else {
      cut[ci] += w / 2;
      cut[cj] += w / 2;
    }
  };
  if ('src' in graph || 'dst' in graph) {
    const { src, dst, weights } = graph as EdgeListGraph;
    if (src === undefined || dst === undefined) throw argError(`${fn}: an edge-list graph needs both src and dst`);
    if (src.length !== dst.length) {
      throw argError(`${fn}: graph.src and graph.dst must have the same length, got ${src.length} and ${dst.length}`);
    }
    if (weights !== undefined && weights.length !== src.length) {
      throw argError(`${fn}: graph.weights has length ${weights.length} but there are ${src.length} edges (graph.src.length)`);
    }
    for (let e = 0; e < src.length; e++) {
      const i = src[e];
      const j = dst[e];
      checkId(i, n, fn, `graph.src[${e}]`);
      checkId(j, n, fn, `graph.dst[${e}]`);
      let w = 1;
      if (weights !== undefined) {
        w = weights[e];
        checkWeight(w, fn, `graph.weights[${e}]`);
      }
      add(i, j, w);
    }
  } else if ('indptr' in graph || 'indices' in graph) {
    const { indptr, indices, data } = graph as CsrGraph;
    if (indptr === undefined || indices === undefined) throw argError(`${fn}: a CSR graph needs both indptr and indices`);
    if (indptr.length !== n + 1) {
      throw argError(`${fn}: graph.indptr has length ${indptr.length} but labels.length + 1 = ${n + 1}`);
    }
    if (indptr[0] !== 0 || indptr[n] !== indices.length) {
      throw argError(`${fn}: graph.indptr must start at 0 and end at indices.length = ${indices.length}, got ${indptr[0]} .. ${indptr[n]}`);
    }
    if (data !== undefined && data.length !== indices.length) {
      throw argError(`${fn}: graph.data has length ${data.length} but graph.indices has length ${indices.length}`);
    }
    for (let i = 0; i < n; i++) {
      const a = indptr[i];
      const b = indptr[i + 1];
      if (!isInteger(b) || b < a) throw argError(`${fn}: graph.indptr must be non-decreasing integers, got indptr[${i}] = ${a}, indptr[${i + 1}] = ${b}`);
      for (let e = a; e < b; e++) {
        const j = indices[e];
        checkId(j, n, fn, `graph.indices[${e}]`);
        let w = 1;
        if (data !== undefined) {
          w = data[e];
          checkWeight(w, fn, `graph.data[${e}]`);
        }
        add(i, j, w);
      }
    }
  } else {
    throw argError(`${fn}: graph must be {src, dst[, weights]} or {indptr, indices[, data]}`);
  }
  return { total, intra, volume, cut, size };
}

function encodeNodes(labels: LabelArray, fn: string): Encoded {
  const enc = encode(labels, fn, 'labels');
  if (enc.idx.length === 0) throw argError(`${fn}: labels is empty (length 0); the graph needs at least one node`);
  return enc;
}

export interface ModularityOptions {
  /** γ in Q = Σ_c [L_c/2m − γ·(vol_c/2m)²]. Default 1 (Newman–Girvan). */
  resolution?: number;
}

/**
 * Newman's modularity of a partition of an undirected graph (n = labels.length nodes):
 *
 *   Q = (1/2m) Σ_ij [A_ij − γ·k_i·k_j / 2m]·δ(c_i, c_j) = Σ_c [ L_c / 2m − γ·(vol_c / 2m)² ],
 *
 * with A the matrix the entries describe (A_ij = Σ weights of entries i → j), 2m = Σ_ij A_ij, degree
 * k_i = Σ_j A_ij, L_c = Σ_{i,j ∈ c} A_ij (entries inside c, i.e. twice the intra-cluster edge weight) and
 * vol_c = Σ_{i ∈ c} k_i.
 *
 * Conventions:
 *   * A list is read as the symmetrized matrix (A + Aᵀ)/2, i.e. k_i = (out_i + in_i)/2. For the documented
 *     input (every edge in both directions) that is A itself. Since Q is scale-free, a list with every edge
 *     once gives the same Q too. Duplicate entries add up.
 *   * Self loops use the adjacency-matrix convention: an entry (i, i) of weight w adds w to A_ii, to k_i and
 *     to 2m (as DMoN's and other matrix-based implementations do). networkx counts an undirected self loop
 *     twice in the degree; to get its value, list each self loop twice.
 *   * A graph without edges (2m = 0) has Q = 0.
 */
export function modularity(graph: GraphInput, labels: LabelArray, options: ModularityOptions = {}): number {
  const fn = 'modularity';
  const gamma = options.resolution ?? 1;
  if (!isFiniteNumber(gamma)) throw argError(`${fn}: options.resolution must be finite, got ${String(gamma)}`);
  const enc = encodeNodes(labels, fn);
  const s = graphSums(graph, enc.idx, enc.k, fn);
  if (s.total === 0) return 0;
  let q = 0;
  for (let c = 0; c < enc.k; c++) {
    const f = s.volume[c] / s.total;
    q += s.intra[c] / s.total - gamma * f * f;
  }
  return q;
}

export interface ConductanceOptions {
  /**
   * Treat labels as cluster ids 0..numClusters−1 (for example argmax over K columns) and report all of them,
   * empty ones included. Without it, labels are any integers and only the clusters that occur are reported.
   */
  numClusters?: number;
}

export interface ConductanceResult {
  /** The label value of each reported cluster, increasing. */
  clusters: number[];
  /** φ(S) per cluster, in the order of `clusters`. */
  perCluster: Float64Array;
  /** Mean of φ over the non-empty clusters (empty clusters are reported but not averaged). */
  average: number;
  /** cut(S) and vol(S) per cluster. */
  cut: Float64Array;
  volume: Float64Array;
}

/**
 * Conductance of each cluster S of an undirected graph (same input and conventions as modularity()):
 *
 *   φ(S) = cut(S) / min(vol(S), vol(V∖S)),   cut(S) = Σ_{i∈S, j∉S} A_ij,   vol(S) = Σ_{i∈S} k_i,
 *
 * lower is better. Self loops count in vol(S), never in cut(S). Since cut(S) ≤ min(vol(S), vol(V∖S)), φ is in
 * [0, 1]. When min(vol(S), vol(V∖S)) = 0 (an empty cluster, a cluster of isolated nodes, a cluster holding every
 * edge, or a graph without edges) then cut(S) = 0 as well and φ(S) is defined as 0: nothing leaves S.
 * `average` is the mean of φ over the non-empty clusters.
 */
export function conductance(graph: GraphInput, labels: LabelArray, options: ConductanceOptions = {}): ConductanceResult {
  const fn = 'conductance';
  let enc: Encoded;
  if (options.numClusters !== undefined) {
    const k = options.numClusters;
    if (!isInteger(k) || k < 1) throw argError(`${fn}: options.numClusters must be an integer >= 1, got ${String(k)}`);
    if (!(isInt32Array(labels)) && !Array.isArray(labels)) throw argError(`${fn}: labels must be an Int32Array or number[]`);
    if (labels.length === 0) throw argError(`${fn}: labels is empty (length 0); the graph needs at least one node`);
    const idx = new Int32Array(labels.length);
    for (let i = 0; i < labels.length; i++) {
      const v = labels[i];
      if (!isInteger(v) || v < 0 || v >= k) {
        throw argError(`${fn}: labels[${i}] = ${String(v)} is not a cluster id in [0, ${k}) (options.numClusters = ${k})`);
      }
      idx[i] = v;
    }
    enc = { idx, k, values: Float64Array.from({ length: k }, (_, c) => c) };
  } else {
    enc = encodeNodes(labels, fn);
  }
  const s = graphSums(graph, enc.idx, enc.k, fn);
  const perCluster = new Float64Array(enc.k);
  let sum = 0;
  let nonEmpty = 0;
  for (let c = 0; c < enc.k; c++) {
    const denom = Math.min(s.volume[c], s.total - s.volume[c]);
    perCluster[c] = denom > 0 ? s.cut[c] / denom : 0;
    if (s.size[c] > 0) {
      sum += perCluster[c];
      nonEmpty++;
    }
  }
  return {
    clusters: Array.from(enc.values),
    perCluster,
    average: nonEmpty > 0 ? sum / nonEmpty : 0,
    cut: s.cut,
    volume: s.volume,
  };
}
