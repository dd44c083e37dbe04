// SparseMatrix: building a normalized adjacency from edges (every option combination) against the dense
// reference of native/cpu/sparse.h's semantics, the transpose, SpMM in both directions, fromCsr, and edge
// cases (isolated nodes, no edges, empty graphs, invalid input).
import * as dg from '../lib';
import * as ref from './helpers/reference';
import { expectClose, Rng } from './helpers/reference';

const rng = new Rng(31337);
const u = 2 ** -24;

/** The error code a call throws (undefined if it does not throw). */
function codeOf(fn: () => unknown): string | undefined {
  try {
    dg.tidy(() => {
      fn();
    });
  } catch (e) {
    return (e as { code?: string }).code ?? 'NO_CODE';
  }
  return undefined;
}

/** Runs fn with a SparseMatrix that is disposed afterwards (SparseMatrix is not tracked by tidy). */
function withGraph<T>(m: dg.SparseMatrix, fn: (m: dg.SparseMatrix) => T): T {
  try {
    return dg.tidy(() => fn(m));
  } finally {
    m.dispose();
  }
}

interface EdgeList {
  n: number;
  src: number[];
  dst: number[];
  weights: Float32Array;
}

/** Random directed edges, plus explicit duplicates (with different weights), reversed pairs and self edges. */
function randomEdges(n: number, m: number, r: Rng): EdgeList {
  const src: number[] = [];
  const dst: number[] = [];
  for (let e = 0; e < m; e++) {
    src.push(r.int(n));
    dst.push(r.int(n));
  }
  const base = src.length;
  for (let e = 0; e < Math.max(1, m >> 3); e++) {
    const k = r.int(base);
    src.push(src[k]); // duplicate
    dst.push(dst[k]);
    src.push(dst[k]); // reverse
    dst.push(src[k]);
    const s = r.int(n); // self edge
    src.push(s);
    dst.push(s);
  }
  return { n, src, dst, weights: r.f32(src.length, 0.1, 2) };
}

/** CSR invariants: indptr from 0 to nnz, non-decreasing; indices in range, strictly increasing per row. */
function checkCsrStructure(a: { rows: number; cols: number; indptr: Int32Array; indices: Int32Array; values: Float32Array }, label: string): void {
  const { rows, cols, indptr, indices, values } = a;
  expect(indptr.length).toBe(rows + 1);
  expect(indptr[0]).toBe(0);
  expect(indptr[rows]).toBe(indices.length);
  expect(values.length).toBe(indices.length);
  const problems: string[] = [];
  for (let i = 0; i < rows; i++) {
    if (indptr[i + 1] < indptr[i]) problems.push(`${label}: indptr decreases at row ${i}`);
    for (let e = indptr[i]; e < indptr[i + 1]; e++) {
      if (indices[e] < 0 || indices[e] >= cols) problems.push(`${label}: row ${i} column ${indices[e]} out of range`);
      if (e > indptr[i] && indices[e] <= indices[e - 1]) problems.push(`${label}: row ${i} columns not strictly increasing at ${e}`);
    }
    if (problems.length > 3) break;
  }
  for (const v of values) if (!Number.isFinite(v)) problems.push(`${label}: non-finite value ${v}`);
  expect(problems.slice(0, 5)).toEqual([]);
}

// Every test works inside tidy() and disposes its matrices: no native tensor may outlive a test. (The count
// is per process and other test files may share this worker, hence a baseline; the garbage collector can
// only lower it.)
let liveBefore = 0;
beforeEach(() => {
  liveBefore = dg.memory().tensors;
});
afterEach(() => {
  expect(dg.memory().tensors).toBeLessThanOrEqual(liveBefore);
});

// ---------------------------------------------------------------------------------------------------------
describe('fromEdges vs the dense reference', () => {
  const combos: [boolean, boolean, dg.Normalization, boolean][] = [];
  for (const symmetrize of [true, false])
    for (const selfLoops of [true, false])
      for (const normalization of ['none', 'row', 'sym'] as const)
        for (const weighted of [false, true]) combos.push([symmetrize, selfLoops, normalization, weighted]);

  test.each(combos)('symmetrize=%s selfLoops=%s normalization=%s weighted=%s', (symmetrize, selfLoops, normalization, weighted) => {
    for (const [n, m, seed] of [
      [1, 0, 1],
      [1, 3, 2],
      [6, 10, 3],
      [23, 60, 4],
      [40, 25, 5], // sparse enough to leave isolated nodes
    ]) {
      const g = randomEdges(n, m, new Rng(seed * 101 + (weighted ? 7 : 0)));
      if (m === 0) {
        g.src.length = 0;
        g.dst.length = 0;
        g.weights = new Float32Array(0);
      }
      const opts = { symmetrize, selfLoops, normalization, weights: weighted ? g.weights : undefined };
      const label = `n=${n} edges=${g.src.length}`;
      const want = ref.denseGraph(n, g.src, g.dst, opts);
      withGraph(dg.SparseMatrix.fromEdges(n, g.src, g.dst, opts), (A) => {
        expect(A.rows).toBe(n);
        expect(A.cols).toBe(n);
        const arr = A.toArrays();
        checkCsrStructure(arr, label);
        // exactly the reference's stored pattern (explicit entries + diagonal with selfLoops)
        const stored = new Uint8Array(n * n);
        for (let i = 0; i < n; i++) for (let e = arr.indptr[i]; e < arr.indptr[i + 1]; e++) stored[i * n + arr.indices[e]] = 1;
        expect({ label, stored: Array.from(stored) }).toEqual({ label, stored: Array.from(want.stored) });
        expect(A.nnz).toBe(want.stored.reduce((s, v) => s + v, 0));
        expectClose(A.toDense(), want.values, 2e-6, 1e-7, `${label} values`);
      });
    }
  });

  test('defaults are symmetrize=true, selfLoops=true, normalization=row', () => {
    const g = randomEdges(15, 30, new Rng(9));
    const want = ref.denseGraph(15, g.src, g.dst, { symmetrize: true, selfLoops: true, normalization: 'row' });
    withGraph(dg.SparseMatrix.fromEdges(15, g.src, g.dst), (A) => {
      expectClose(A.toDense(), want.values, 2e-6, 1e-7, 'defaults');
    });
  });

  test('duplicate edges merge by max, in either order, and self loops add 1 on top of an existing (i,i) edge', () => {
    // 0→1 twice (0.5 then 2), 1→0 once (0.7); 2→2 with weight 3; node 3 alone
    const src = [0, 0, 1, 2];
    const dst = [1, 1, 0, 2];
    const w = Float32Array.of(0.5, 2, 0.7, 3);
    withGraph(dg.SparseMatrix.fromEdges(4, src, dst, { weights: w, symmetrize: false, selfLoops: true, normalization: 'none' }), (A) => {
      // prettier-ignore
      expect(Array.from(A.toDense())).toEqual([
        1, 2, 0, 0,
        0.7, 1, 0, 0,
        0, 0, 4, 0,
        0, 0, 0, 1,
      ].map(Math.fround));
    });
    withGraph(dg.SparseMatrix.fromEdges(4, [0, 0, 1, 2], [1, 1, 0, 2], { weights: Float32Array.of(2, 0.5, 0.7, 3), symmetrize: true, selfLoops: false, normalization: 'none' }), (A) => {
      // symmetrize: max(A, Aᵀ); (2,2) is not doubled
      // prettier-ignore
      expect(Array.from(A.toDense())).toEqual([
        0, 2, 0, 0,
        2, 0, 0, 0,
        0, 0, 3, 0,
        0, 0, 0, 0,
      ]);
    });
  });

  test('row normalization: each row sums to 1; sym normalization of a symmetric graph is exactly symmetric', () => {
    const g = randomEdges(60, 200, new Rng(21));
    withGraph(dg.SparseMatrix.fromEdges(60, g.src, g.dst, { weights: g.weights, normalization: 'row' }), (A) => {
      expectClose(ref.rowSums(A.toDense(), 60, 60), new Array(60).fill(1), 1e-6, 0, 'row sums');
    });
    withGraph(dg.SparseMatrix.fromEdges(60, g.src, g.dst, { weights: g.weights, normalization: 'sym' }), (A) => {
      const d = A.toDense();
      const asym: string[] = [];
      for (let i = 0; i < 60; i++) for (let j = 0; j < i; j++) if (d[i * 60 + j] !== d[j * 60 + i]) asym.push(`(${i},${j}) ${d[i * 60 + j]} vs ${d[j * 60 + i]}`);
      expect(asym.slice(0, 5)).toEqual([]);
    });
  });

  test('a large edge list (200k edges, parallel chunked build) matches a sparse reference exactly in structure', () => {
    const n = 4000;
    const r = new Rng(555);
    const m = 200000;
    const src = new Int32Array(m);
    const dst = new Int32Array(m);
    for (let e = 0; e < m; e++) {
      // skewed: a quarter of the edges touch the hubs 0..9
      src[e] = r.next() < 0.25 ? r.int(10) : r.int(n);
      dst[e] = r.int(n);
    }
    const w = r.f32(m, 0.1, 2);
    // sparse reference: per row, column → max weight, mirrored; +1 on the diagonal; row normalization
    const rows: Map<number, number>[] = Array.from({ length: n }, () => new Map());
    const put = (i: number, j: number, x: number) => {
      const old = rows[i].get(j);
      rows[i].set(j, old === undefined ? x : Math.max(old, x));
    };
    for (let e = 0; e < m; e++) {
      put(src[e], dst[e], w[e]);
      if (src[e] !== dst[e]) put(dst[e], src[e], w[e]);
    }
    withGraph(dg.SparseMatrix.fromEdges(n, src, dst, { weights: w }), (A) => {
      const arr = A.toArrays();
      checkCsrStructure(arr, 'large');
      const problems: string[] = [];
      for (let i = 0; i < n && problems.length < 5; i++) {
        const row = rows[i];
        row.set(i, (row.get(i) ?? 0) + 1);
        const cols = [...row.keys()].sort((a, b) => a - b);
        let deg = 0;
        for (const c of cols) deg += row.get(c)!;
        const got = Array.from(arr.indices.subarray(arr.indptr[i], arr.indptr[i + 1]));
        if (got.join() !== cols.join()) {
          problems.push(`row ${i}: columns differ`);
          continue;
        }
        cols.forEach((c, q) => {
          const want = row.get(c)! / deg;
          const v = arr.values[arr.indptr[i] + q];
          if (ref.abs(v - want) > 2e-6 * want + 1e-9) problems.push(`row ${i} col ${c}: ${v} vs ${want}`);
        });
      }
      expect(problems).toEqual([]);
    });
  });
});

// ---------------------------------------------------------------------------------------------------------
describe('transpose', () => {
  test('toArrays(true) is the transpose (non-symmetric graph, every option set)', () => {
    for (const normalization of ['none', 'row', 'sym'] as const) {
      for (const selfLoops of [true, false]) {
        const g = randomEdges(30, 70, new Rng(40));
        withGraph(dg.SparseMatrix.fromEdges(30, g.src, g.dst, { weights: g.weights, symmetrize: false, selfLoops, normalization }), (A) => {
          const t = A.toArrays(true);
          expect([t.rows, t.cols]).toEqual([30, 30]);
          checkCsrStructure(t, 'transpose');
          const dense = ref.csrToDense(30, 30, t.indptr, t.indices, t.values);
          expect(Array.from(dense)).toEqual(Array.from(ref.transpose(A.toDense(), 30, 30)));
          // the untransposed arrays are unchanged after the transpose was built
          const a = A.toArrays();
          expect(Array.from(ref.csrToDense(30, 30, a.indptr, a.indices, a.values))).toEqual(Array.from(A.toDense()));
        });
      }
    }
  });

  test('transpose of a rectangular matrix from fromCsr, with empty rows and columns', () => {
    // 4×6: row 1 empty, columns 0 and 5 empty
    const indptr = Int32Array.of(0, 2, 2, 5, 6);
    const indices = Int32Array.of(1, 3, 1, 2, 4, 3);
    const values = Float32Array.of(1, 2, 3, 4, 5, 6);
    withGraph(dg.SparseMatrix.fromCsr(4, 6, indptr, indices, values), (A) => {
      const t = A.toArrays(true);
      expect([t.rows, t.cols]).toEqual([6, 4]);
      checkCsrStructure(t, 'rect transpose');
      expect(Array.from(ref.csrToDense(6, 4, t.indptr, t.indices, t.values))).toEqual(Array.from(ref.transpose(A.toDense(), 4, 6)));
    });
  });
});

// ---------------------------------------------------------------------------------------------------------
describe('spmm', () => {
  /** A·H (or Aᵀ·H) from the CSR arrays in float64, with the error scale Σ|a||h| per element. */
  function spmmRef(arr: ReturnType<dg.SparseMatrix['toArrays']>, H: Float32Array, d: number, transpose: boolean) {
    const dense = ref.csrToDense(arr.rows, arr.cols, arr.indptr, arr.indices, arr.values);
    const [r, c] = transpose ? [arr.cols, arr.rows] : [arr.rows, arr.cols];
    const A = transpose ? ref.transpose(dense, arr.rows, arr.cols) : dense;
    return ref.matmul(A, r, c, H, c, d);
  }

  function check(A: dg.SparseMatrix, d: number, label: string) {
    const arr = A.toArrays();
    let maxRow = 0;
    for (let i = 0; i < arr.rows; i++) maxRow = Math.max(maxRow, arr.indptr[i + 1] - arr.indptr[i]);
    for (const transpose of [false, true]) {
      const inner = transpose ? A.rows : A.cols;
      const H = rng.f32(inner * d);
      const out = A.matmul(dg.tensor(H, [inner, d]), transpose);
      expect(out.shape).toEqual([transpose ? A.cols : A.rows, d]);
      const want = spmmRef(arr, H, d, transpose);
      // float32 sum of at most `inner` products (the longest row/column): |err| ≤ len·u·Σ|a||h|
      const len = transpose ? inner : maxRow;
      expectClose(out.dataF32(), want.c, 1e-5, 1e-6, `${label} d=${d} transpose=${transpose}`, (i) => 1e-6 + 1e-5 * ref.abs(want.c[i]) + len * u * want.abs[i]);
    }
  }

  const widths = [1, 5, 20, 300, 16, 64, 127, 128, 129];
  test(`A·H and Aᵀ·H vs dense products, non-symmetric row-normalized graph, d ∈ {${widths}}`, () => {
    const g = randomEdges(150, 900, new Rng(8));
    withGraph(dg.SparseMatrix.fromEdges(150, g.src, g.dst, { symmetrize: false, normalization: 'row' }), (A) => {
      for (const d of widths) check(A, d, 'graph');
    });
  });

  test('weighted sym-normalized graph and a graph with a hub row (skewed degrees split over threads)', () => {
    const g = randomEdges(100, 400, new Rng(10));
    withGraph(dg.SparseMatrix.fromEdges(100, g.src, g.dst, { weights: g.weights, normalization: 'sym' }), (A) => {
      for (const d of [1, 20, 300]) check(A, d, 'sym');
    });
    const n = 2000;
    const src: number[] = [];
    const dst: number[] = [];
    for (let i = 1; i < n; i++) {
      src.push(0);
      dst.push(i);
    }
    for (let e = 0; e < 4000; e++) {
      src.push(rng.int(n));
      dst.push(rng.int(n));
    }
    withGraph(dg.SparseMatrix.fromEdges(n, src, dst, { normalization: 'row' }), (A) => {
      for (const d of [1, 64]) {
        const H = rng.f32(n * d);
        const arr = A.toArrays();
        const out = A.matmul(dg.tensor(H, [n, d])).dataF32();
        // sparse float64 reference (the dense one would be n² = 4e6 entries per row sweep)
        const problems: string[] = [];
        for (let i = 0; i < n && problems.length < 3; i++) {
          for (let j = 0; j < d; j++) {
            let s = 0;
            let sa = 0;
            for (let e = arr.indptr[i]; e < arr.indptr[i + 1]; e++) {
              const t = arr.values[e] * H[arr.indices[e] * d + j];
              s += t;
              sa += ref.abs(t);
            }
            const len = arr.indptr[i + 1] - arr.indptr[i];
            if (ref.abs(out[i * d + j] - s) > 1e-6 + 1e-5 * ref.abs(s) + len * u * sa) problems.push(`hub graph d=${d} (${i},${j}): ${out[i * d + j]} vs ${s}`);
          }
        }
        expect(problems).toEqual([]);
      }
    });
  });

  test('rectangular CSR (fromCsr) times H, both directions, and shape errors', () => {
    const indptr = Int32Array.of(0, 2, 2, 5, 6);
    const indices = Int32Array.of(1, 3, 1, 2, 4, 3);
    const values = Float32Array.of(1, -2, 3, 0.5, 5, 6);
    withGraph(dg.SparseMatrix.fromCsr(4, 6, indptr, indices, values), (A) => {
      for (const d of [1, 5, 20]) check(A, d, 'rect');
      expect(codeOf(() => A.matmul(dg.ones([4, 3])))).toBe('DGC_SHAPE'); // needs 6 rows
      expect(codeOf(() => A.matmul(dg.ones([6, 3]), true))).toBe('DGC_SHAPE'); // Aᵀ needs 4 rows
      expect(codeOf(() => A.matmul(dg.ones([6])))).toBe('DGC_SHAPE');
      expect(A.matmul(dg.ones([6, 0])).shape).toEqual([4, 0]);
    });
  });

  test('spmm on a disposed matrix throws DGC_DISPOSED', () => {
    const A = dg.SparseMatrix.fromEdges(3, [0], [1]);
    A.dispose();
    expect(A.disposed).toBe(true);
    expect(codeOf(() => A.matmul(dg.ones([3, 2])))).toBe('DGC_DISPOSED');
  });
});

// ---------------------------------------------------------------------------------------------------------
describe('fromCsr', () => {
  test('round trip: toArrays → fromCsr → toArrays is identical, and spmm agrees bit for bit', () => {
    const g = randomEdges(50, 150, new Rng(12));
    withGraph(dg.SparseMatrix.fromEdges(50, g.src, g.dst, { weights: g.weights, symmetrize: false, normalization: 'sym' }), (A) => {
      const a = A.toArrays();
      withGraph(dg.SparseMatrix.fromCsr(a.rows, a.cols, a.indptr, a.indices, a.values), (B) => {
        const b = B.toArrays();
        expect(B.nnz).toBe(A.nnz);
        expect(Array.from(b.indptr)).toEqual(Array.from(a.indptr));
        expect(Array.from(b.indices)).toEqual(Array.from(a.indices));
        expect(ref.firstBitDifference(b.values, a.values)).toBe(-1);
        const bt = B.toArrays(true);
        const at = A.toArrays(true);
        expect(Array.from(bt.indices)).toEqual(Array.from(at.indices));
        expect(ref.firstBitDifference(bt.values, at.values)).toBe(-1);
        const H = dg.tensor(rng.f32(50 * 7), [50, 7]);
        for (const t of [false, true]) expect(ref.firstBitDifference(A.matmul(H, t).dataF32(), B.matmul(H, t).dataF32())).toBe(-1);
      });
    });
  });

  test('invalid CSR input is rejected with a code', () => {
    const ip = (...v: number[]) => Int32Array.from(v);
    const vals = (n: number) => new Float32Array(n).fill(1);
    expect(codeOf(() => dg.SparseMatrix.fromCsr(2, 3, ip(0, 2, 3), ip(2, 1, 0), vals(3)))).toBe('DGC_INDEX'); // unsorted
    expect(codeOf(() => dg.SparseMatrix.fromCsr(2, 3, ip(0, 2, 3), ip(1, 1, 0), vals(3)))).toBe('DGC_INDEX'); // duplicate
    expect(codeOf(() => dg.SparseMatrix.fromCsr(2, 3, ip(0, 1, 2), ip(0, 3), vals(2)))).toBe('DGC_INDEX'); // column out of range
    expect(codeOf(() => dg.SparseMatrix.fromCsr(2, 3, ip(0, 2, 1), ip(0, 1), vals(2)))).toBe('DGC_INDEX'); // indptr decreasing
    expect(codeOf(() => dg.SparseMatrix.fromCsr(2, 3, ip(1, 1, 2), ip(0, 1), vals(2)))).toBe('DGC_INDEX'); // indptr[0] != 0
    expect(codeOf(() => dg.SparseMatrix.fromCsr(2, 3, ip(0, 1), ip(0), vals(1)))).toBe('DGC_SHAPE'); // indptr too short
    expect(codeOf(() => dg.SparseMatrix.fromCsr(1, 3, ip(0, 1), ip(0), Float32Array.of(NaN)))).toBe('DGC_VALUE');
  });
});

// ---------------------------------------------------------------------------------------------------------
describe('edge cases', () => {
  test('isolated nodes without self loops: empty rows, no NaN, zero rows in A·H (row and sym)', () => {
    // nodes 2 and 4 are isolated
    for (const normalization of ['row', 'sym'] as const) {
      withGraph(dg.SparseMatrix.fromEdges(5, [0, 1, 3], [1, 3, 0], { selfLoops: false, normalization }), (A) => {
        const a = A.toArrays();
        expect(a.indptr[3] - a.indptr[2]).toBe(0);
        expect(a.indptr[5] - a.indptr[4]).toBe(0);
        for (const v of a.values) expect(Number.isFinite(v)).toBe(true);
        for (const t of [false, true]) {
          const out = A.matmul(dg.tensor(rng.f32(5 * 3), [5, 3]), t).dataF32();
          for (const v of out) expect(Number.isNaN(v)).toBe(false);
          if (!t) expect(Array.from(out.subarray(6, 9))).toEqual([0, 0, 0]);
          expect(Array.from(out.subarray(12, 15))).toEqual([0, 0, 0]);
        }
      });
    }
    // with self loops an isolated node keeps exactly itself
    withGraph(dg.SparseMatrix.fromEdges(5, [0, 1, 3], [1, 3, 0], { normalization: 'sym' }), (A) => {
      const d = A.toDense();
      expect(d[2 * 5 + 2]).toBe(1);
      expect(d[4 * 5 + 4]).toBe(1);
    });
  });

  test('zero-weight edges give degree-0 rows that normalize to 0 (no NaN); negative weights are refused', () => {
    for (const normalization of ['row', 'sym'] as const) {
      const src = [0, 1];
      const dst = [1, 2];
      const weights = Float32Array.of(0, 0);
      withGraph(dg.SparseMatrix.fromEdges(3, src, dst, { weights, selfLoops: false, normalization }), (A) => {
        const d = A.toDense();
        expect(Array.from(d).filter((v) => !Number.isFinite(v))).toEqual([]);
        expect(Array.from(d)).toEqual(new Array(9).fill(0));
        const out = A.matmul(dg.ones([3, 2])).dataF32();
        expect(Array.from(out)).toEqual([0, 0, 0, 0, 0, 0]);
      });
    }
    // Negative weights have no meaning for an adjacency (and max-symmetrization of them is ill-defined): refused.
    let err: (Error & { code?: string }) | null = null;
    try {
      dg.SparseMatrix.fromEdges(2, [0, 1], [1, 0], { weights: Float32Array.of(1, -1), normalization: 'none' });
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).toBe('DGC_VALUE');
    expect(err?.message).toMatch(/csrFromEdges: edge 1 has weight -1/);
  });

  test('a graph with 0 edges: identity with self loops, all-zero without', () => {
    for (const normalization of ['none', 'row', 'sym'] as const) {
      withGraph(dg.SparseMatrix.fromEdges(4, [], [], { normalization }), (A) => {
        expect(A.nnz).toBe(4);
        expect(Array.from(A.toDense())).toEqual([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
        const H = rng.f32(4 * 3);
        expect(Array.from(A.matmul(dg.tensor(H, [4, 3])).dataF32())).toEqual(Array.from(H));
      });
      withGraph(dg.SparseMatrix.fromEdges(4, [], [], { selfLoops: false, normalization }), (A) => {
        expect(A.nnz).toBe(0);
        expect(A.toArrays(true).indices.length).toBe(0);
        expect(Array.from(A.matmul(dg.ones([4, 3])).dataF32())).toEqual(new Array(12).fill(0));
        expect(Array.from(A.matmul(dg.ones([4, 3]), true).dataF32())).toEqual(new Array(12).fill(0));
      });
    }
  });

  test('an empty graph (n = 0) and an empty H', () => {
    withGraph(dg.SparseMatrix.fromEdges(0, [], []), (A) => {
      expect([A.rows, A.cols, A.nnz]).toEqual([0, 0, 0]);
      expect(A.matmul(dg.zeros([0, 5])).shape).toEqual([0, 5]);
      expect(A.matmul(dg.zeros([0, 5]), true).shape).toEqual([0, 5]);
    });
  });

  test('invalid edge lists are rejected with a code', () => {
    expect(codeOf(() => dg.SparseMatrix.fromEdges(3, [0, 3], [1, 1]))).toBe('DGC_INDEX');
    expect(codeOf(() => dg.SparseMatrix.fromEdges(3, [0, -1], [1, 1]))).toBe('DGC_INDEX');
    expect(codeOf(() => dg.SparseMatrix.fromEdges(3, [0, 1], [1]))).toBe('DGC_SHAPE');
    expect(codeOf(() => dg.SparseMatrix.fromEdges(3, [0], [1], { weights: Float32Array.of(Infinity) }))).toBe('DGC_VALUE');
    expect(codeOf(() => dg.SparseMatrix.fromEdges(3, [0], [1], { weights: Float32Array.of(1, 2) }))).toBe('DGC_SHAPE');
    expect(codeOf(() => dg.SparseMatrix.fromEdges(3, [0], [1], { normalization: 'col' as dg.Normalization }))).toBe('DGC_ARG');
  });
});
