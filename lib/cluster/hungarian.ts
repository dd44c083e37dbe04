// Exact linear assignment (the Hungarian / Kuhn–Munkres method with dual potentials, in the shortest
// augmenting path form of Jonker & Volgenant). Used by the clustering metrics to match clusters to classes.
//
// Problem. Given an R×C cost matrix a, choose min(R, C) cells, no two in the same row or column, with the
// least total cost (or the greatest, with maximize). A rectangular problem is solved as the square one
// padded with zero-cost dummy rows (or columns): with R ≤ C, rows are added until the matrix is C×C; the
// dummy rows take the columns that are left over and add nothing to the cost. The solver below never builds
// the padding: with R ≤ C it assigns the R real rows one at a time, which is exactly the padded problem
// with the dummy rows assigned last. With R > C the matrix is transposed first.
//
// Method (R ≤ C). Keep potentials u (rows) and v (columns) with a[i][j] − u[i] − v[j] ≥ 0 for every cell
// (reduced costs are non-negative) and = 0 on every assigned cell. Such a dual certificate proves the
// assignment optimal (LP duality). Rows are added one by one. For a new row, grow a tree of alternating
// paths from it, Dijkstra-style over the columns: minDist[j] is the least reduced cost of reaching column
// j from the tree. Each step takes the unvisited column with the smallest minDist, shifts the potentials
// by that amount (the tree's rows up, its columns down, so the reduced costs along the tree stay zero and
// all others stay ≥ 0) and visits the column. If the column is free, the path back to the new row (kept in
// `via`) is flipped: every column on it moves to the row before it, and the new row gets a column. Each row
// costs O(R·C) work at most (≤ C steps of O(C)), so the whole solve is O(R²·C) ≤ O(K³) for K = max(R, C).
//
// Exactness. With integer costs (the contingency tables of the metrics) every potential and every minDist
// is an integer below 2^53 in magnitude, so the arithmetic is exact and the optimum is exact. With
// fractional costs the usual floating-point rounding applies.
import { isFloat64Array } from '../util/typed';
import { DgcError } from '../tensor';

export interface Assignment {
  /** Row of each assigned pair, increasing (like scipy's linear_sum_assignment). */
  rowInd: Int32Array;
  /** Column assigned to rowInd[k]. */
  colInd: Int32Array;
  /** For each row, its column, or −1 if the row is unassigned (only when rows > cols). */
  rowToCol: Int32Array;
  /** For each column, its row, or −1 if the column is unassigned (only when cols > rows). */
  colToRow: Int32Array;
  /** Σ cost over the assigned pairs, summed in row order. */
  total: number;
}

export interface AssignmentOptions {
  /** Maximize the total instead of minimizing it. Default false. */
  maximize?: boolean;
}

type CostInput = number[][] | Float64Array | Float32Array | Int32Array;

/**
 * Solve the linear assignment problem exactly.
 *
 * @param cost either an array of rows (number[][]; all rows the same length), or a row-major flat array
 *   with `rows` and `cols` given.
 */
export function linearSumAssignment(cost: number[][], options?: AssignmentOptions): Assignment;
export function linearSumAssignment(cost: Float64Array | Float32Array | Int32Array, rows: number, cols: number, options?: AssignmentOptions): Assignment;
export function linearSumAssignment(cost: CostInput, a?: number | AssignmentOptions, b?: number, c?: AssignmentOptions): Assignment {
  let rows: number;
  let cols: number;
  let flat: Float64Array;
  let options: AssignmentOptions;
  if (Array.isArray(cost)) {
    if (a !== undefined && typeof a !== 'object') {
      throw new DgcError('DGC_ARG', 'linearSumAssignment: with a number[][] cost, the second argument must be the options');
    }
    options = (a as AssignmentOptions | undefined) ?? {};
    rows = cost.length;
    cols = rows > 0 ? cost[0].length : 0;
    flat = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      const row = cost[i];
      if (!Array.isArray(row) && !ArrayBuffer.isView(row)) {
        throw new DgcError('DGC_ARG', `linearSumAssignment: cost row ${i} is not an array`);
      }
      if (row.length !== cols) {
        throw new DgcError('DGC_ARG', `linearSumAssignment: cost row ${i} has length ${row.length} but row 0 has length ${cols}`);
      }
      for (let j = 0; j < cols; j++) flat[i * cols + j] = row[j];
    }
  } else {
    if (typeof a !== 'number' || typeof b !== 'number' || !Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b < 0) {
      throw new DgcError('DGC_ARG', `linearSumAssignment: a flat cost array needs integer rows and cols >= 0, got rows=${String(a)}, cols=${String(b)}`);
    }
    rows = a;
    cols = b;
    options = c ?? {};
    if (cost.length !== rows * cols) {
      throw new DgcError('DGC_ARG', `linearSumAssignment: cost has ${cost.length} entries but rows × cols = ${rows} × ${cols} = ${rows * cols}`);
    }
    flat = isFloat64Array(cost) ? cost : Float64Array.from(cost);
  }
  for (let k = 0; k < flat.length; k++) {
    if (!Number.isFinite(flat[k])) {
      throw new DgcError('DGC_ARG', `linearSumAssignment: cost[${Math.floor(k / cols)}][${k % cols}] = ${flat[k]} is not finite`);
    }
  }
  return solveFlat(flat, rows, cols, options.maximize === true);
}

/** @internal The solver on a row-major Float64Array (not validated; not modified). */
export function solveFlat(cost: Float64Array, rows: number, cols: number, maximize: boolean): Assignment {
  const rowToCol = new Int32Array(rows).fill(-1);
  const colToRow = new Int32Array(cols).fill(-1);
  const n = Math.min(rows, cols);
  if (n > 0) {
    // Work on an n × m matrix w with n ≤ m: the (possibly transposed, possibly negated) cost.
    const transpose = rows > cols;
    const m = transpose ? rows : cols;
    const w = new Float64Array(n * m);
    const sign = maximize ? -1 : 1;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        const x = sign * cost[i * cols + j];
        if (transpose) w[j * m + i] = x;
        else w[i * m + j] = x;
      }
    }
    const match = solveShortSide(w, n, m); // match[r] = column of short-side row r
    for (let r = 0; r < n; r++) {
      const col = match[r];
      if (transpose) {
        rowToCol[col] = r;
        colToRow[r] = col;
      } else {
        rowToCol[r] = col;
        colToRow[col] = r;
      }
    }
  }
  const rowInd = new Int32Array(n);
  const colInd = new Int32Array(n);
  let k = 0;
  let total = 0;
  for (let i = 0; i < rows; i++) {
    if (rowToCol[i] >= 0) {
      rowInd[k] = i;
      colInd[k] = rowToCol[i];
      total += cost[i * cols + rowToCol[i]];
      k++;
    }
  }
  return { rowInd, colInd, rowToCol, colToRow, total };
}

/**
 * Minimum-cost assignment of every one of n rows to distinct columns among m ≥ n (row-major w, n × m).
 * Returns, for each row, its column.
 */
function solveShortSide(w: Float64Array, n: number, m: number): Int32Array {
  // Columns are numbered 1..m; column 0 is a virtual column holding the row being inserted.
  const rowPot = new Float64Array(n + 1); // u, indexed by row + 1 (entry 0 unused)
  const colPot = new Float64Array(m + 1); // v
  const owner = new Int32Array(m + 1); // owner[j] = row + 1 assigned to column j, 0 = free
  const via = new Int32Array(m + 1); // previous column on the alternating path to column j
  const minDist = new Float64Array(m + 1);
  const visited = new Uint8Array(m + 1);

  for (let row = 1; row <= n; row++) {
    owner[0] = row;
    minDist.fill(Infinity);
    visited.fill(0);
    let cur = 0; // the column whose owner is being expanded
    for (;;) {
      visited[cur] = 1;
      const r = owner[cur];
      const base = (r - 1) * m - 1; // w[base + j] is the cost of (r, column j), j ≥ 1
      const ur = rowPot[r];
      let best = Infinity;
      let next = -1;
      for (let j = 1; j <= m; j++) {
        if (visited[j]) continue;
        const reduced = w[base + j] - ur - colPot[j];
        if (reduced < minDist[j]) {
          minDist[j] = reduced;
          via[j] = cur;
        }
        if (minDist[j] < best) {
          best = minDist[j];
          next = j;
        }
      }
      // next ≥ 1 always: n ≤ m, so some column is unvisited while the new row is unassigned.
      for (let j = 0; j <= m; j++) {
        if (visited[j]) {
          rowPot[owner[j]] += best;
          colPot[j] -= best;
        } else {
          minDist[j] -= best;
        }
      }
      cur = next;
      if (owner[cur] === 0) break; // a free column: augment
    }
    // Flip the path: each column on it takes the row of the column before it.
    while (cur !== 0) {
      const prev = via[cur];
      owner[cur] = owner[prev];
      cur = prev;
    }
  }
  const match = new Int32Array(n);
  for (let j = 1; j <= m; j++) if (owner[j] > 0) match[owner[j] - 1] = j - 1;
  return match;
}
