// Forward values of every op in lib/ops.ts against the float64 reference in test/helpers/reference.ts,
// plus edge cases (huge values, ties, rank-0 results, empty tensors) and the random number generators.
import * as dg from '../lib';
import * as ref from './helpers/reference';
import { expectClose, Rng } from './helpers/reference';

const rng = new Rng(987654321);
const RTOL = 1e-5;
const ATOL = 1e-6;

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

const f32 = (shape: number[], lo = -1, hi = 1) => rng.f32(shape.reduce((a, b) => a * b, 1), lo, hi);
const T = (data: ArrayLike<number>, shape: number[]) => dg.tensor(Float32Array.from(data), shape);

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
describe('creation and copies', () => {
  test('tensor() from nested arrays, typed arrays with a shape, and int32 data', () => {
    dg.tidy(() => {
      const a = dg.tensor([[1, 2, 3], [4, 5, 6]]);
      expect(a.shape).toEqual([2, 3]);
      expect(a.dtype).toBe('float32');
      expect(a.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
      const b = dg.tensor(Float32Array.of(1, 2, 3, 4, 5, 6), [3, 2]);
      expect(b.toArray()).toEqual([[1, 2], [3, 4], [5, 6]]);
      const c = dg.tensor(Int32Array.of(7, -8, 9));
      expect(c.dtype).toBe('int32');
      expect(Array.from(c.data())).toEqual([7, -8, 9]);
      expect(codeOf(() => dg.tensor([[1, 2], [3]]))).toBe('DGC_SHAPE');
    });
  });

  test('scalar(), full(), zeros(), ones() including rank 0', () => {
    dg.tidy(() => {
      const s = dg.scalar(-2.5);
      expect(s.shape).toEqual([]);
      expect(s.rank).toBe(0);
      expect(s.size).toBe(1);
      expect(s.item()).toBe(-2.5);
      expect(s.toArray()).toBe(-2.5);
      expect(Array.from(dg.full([2, 3], 1.25).dataF32())).toEqual(new Array(6).fill(1.25));
      expect(Array.from(dg.zeros([4]).dataF32())).toEqual([0, 0, 0, 0]);
      expect(Array.from(dg.ones([2, 2]).dataF32())).toEqual([1, 1, 1, 1]);
      const i = dg.full([3], 7, { dtype: 'int32' });
      expect(i.dtype).toBe('int32');
      expect(Array.from(i.data())).toEqual([7, 7, 7]);
      expect(dg.zeros([0, 5]).size).toBe(0);
    });
  });

  test('clone, detach, reshape and to("cpu") copy values and keep shapes; reshape checks the element count', () => {
    dg.tidy(() => {
      const x = dg.parameter(T(f32([3, 4]), [3, 4]));
      try {
        const data = x.dataF32();
        const c = dg.clone(x);
        expect(c.requiresGrad).toBe(true);
        expect(Array.from(c.dataF32())).toEqual(Array.from(data));
        const d = dg.detach(x);
        expect(d.requiresGrad).toBe(false);
        expect(Array.from(d.dataF32())).toEqual(Array.from(data));
        const r = dg.reshape(x, [2, 6]);
        expect(r.shape).toEqual([2, 6]);
        expect(Array.from(r.dataF32())).toEqual(Array.from(data));
        expect(dg.reshape(x, [12]).shape).toEqual([12]);
        const moved = dg.to(x, 'cpu');
        expect(Array.from(moved.dataF32())).toEqual(Array.from(data));
        expect(codeOf(() => dg.reshape(x, [5, 2]))).toBe('DGC_SHAPE');
        // the copies are independent of the source
        dg.native.copyInto(c.handle, dg.zeros([3, 4]).handle);
        expect(Array.from(x.dataF32())).toEqual(Array.from(data));
      } finally {
        x.dispose();
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------------------
describe('matmul (GEMM)', () => {
  const forms = [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const;
  const formName = (ta: boolean, tb: boolean) => `${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}`;

  /**
   * Checks C = op(A)·op(B) for op(A) m×k and op(B) k×n. Tolerance: the classical bound for a float32 dot
   * product of length k, |error| ≤ k·u·Σ|a||b| (u = 2^-24), plus rtol·|c| + atol. A wrong element, a
   * missed tile or a transposition error is off by the order of Σ|a||b|.
   */
  function checkMatmul(m: number, k: number, n: number, ta: boolean, tb: boolean) {
    dg.tidy(() => {
      const [ar, ac] = ta ? [k, m] : [m, k];
      const [br, bc] = tb ? [n, k] : [k, n];
      const a = f32([ar, ac]);
      const b = f32([br, bc]);
      const c = dg.matmul(T(a, [ar, ac]), T(b, [br, bc]), { transA: ta, transB: tb });
      expect(c.shape).toEqual([m, n]);
      const r = ref.matmul(a, ar, ac, b, br, bc, ta, tb);
      const u = 2 ** -24;
      expectClose(c.dataF32(), r.c, RTOL, ATOL, `matmul ${formName(ta, tb)} ${m}x${k}x${n}`, (i) => ATOL + RTOL * ref.abs(r.c[i]) + k * u * r.abs[i]);
    });
  }

  // Odd sizes hit the edge tiles of the micro-kernel (MR×NR = 14×32 / 6×16 / 4×8) in every dimension.
  const odd = [1, 3, 17, 65, 129];
  for (const [ta, tb] of forms) {
    test(`${formName(ta, tb)}: all m, k, n in {1, 3, 17, 65, 129}`, () => {
      for (const m of odd) for (const k of odd) for (const n of odd) checkMatmul(m, k, n, ta, tb);
    });
  }

  const bigger: [number, number, number][] = [
    [200, 200, 200], // square, packed path, both threads
    [193, 150, 77], // nothing a multiple of a tile
    [64, 150, 200], // n > m: the n-split path
    [200, 120, 10], // skinny n: computed as Cᵀ = op(B)ᵀ op(A)ᵀ
    [150, 500, 40], // k > KC (384): several k slices accumulate onto C
    [1, 200, 1],
    [2, 1, 190],
  ];
  for (const [ta, tb] of forms) {
    test(`${formName(ta, tb)}: larger and special-path shapes ${bigger.map((s) => s.join('x')).join(', ')}`, () => {
      for (const [m, k, n] of bigger) checkMatmul(m, k, n, ta, tb);
    });
  }

  // Every remainder height of the micro-kernel's row panels (MR = 14 with AVX-512, 6 with AVX2, 4 generic)
  // and every remainder width of its column panels (NR = 32 / 16 / 8), on the packed path.
  test.each([
    [false, false],
    [true, true],
  ])('edge-tile sweep (transA=%s, transB=%s): m = 1..30 (k=64, n=600) and n = 64..96 (m=150, k=40)', (ta, tb) => {
    for (let m = 1; m <= 30; m++) checkMatmul(m, 64, 600, ta, tb);
    for (let n = 64; n <= 96; n++) checkMatmul(150, 40, n, ta, tb);
  });

  test('large blocks: m > 2·MC (700x50x100) and n > NC (4200x3x4100, sampled elements incl. the NC boundary)', () => {
    checkMatmul(700, 50, 100, false, false);
    checkMatmul(700, 50, 100, true, false);
    dg.tidy(() => {
      const [m, k, n] = [4200, 3, 4100];
      const a = f32([m, k]);
      const b = f32([k, n]);
      const c = dg.matmul(T(a, [m, k]), T(b, [k, n])).dataF32();
      const problems: string[] = [];
      const cols = [0, 1, 31, 32, 4063, 4064, 4095, 4096, 4097, 4099];
      for (let s = 0; s < 3000; s++) {
        const i = s < 1000 ? rng.int(m) : s < 2000 ? m - 1 - rng.int(20) : rng.int(m);
        const j = s < 2000 ? cols[s % cols.length] : rng.int(n);
        let want = 0;
        let sa = 0;
        for (let p = 0; p < k; p++) {
          want += a[i * k + p] * b[p * n + j];
          sa += ref.abs(a[i * k + p] * b[p * n + j]);
        }
        if (ref.abs(c[i * n + j] - want) > ATOL + k * 2 ** -24 * sa) problems.push(`(${i},${j}): ${c[i * n + j]} vs ${want}`);
        if (problems.length > 4) break;
      }
      expect(problems).toEqual([]);
    });
  });

  test('k = 0 gives a zero matrix; m = 0 or n = 0 gives an empty one', () => {
    dg.tidy(() => {
      const c = dg.matmul(dg.zeros([3, 0]), dg.zeros([0, 4]));
      expect(c.shape).toEqual([3, 4]);
      expect(Array.from(c.dataF32())).toEqual(new Array(12).fill(0));
      const c2 = dg.matmul(dg.ones([0, 5]), dg.ones([4, 0]), { transA: true, transB: true });
      expect(c2.shape).toEqual([5, 4]);
      expect(Array.from(c2.dataF32())).toEqual(new Array(20).fill(0));
      expect(dg.matmul(dg.ones([0, 3]), dg.ones([3, 4])).shape).toEqual([0, 4]);
      expect(dg.matmul(dg.ones([2, 3]), dg.ones([3, 0])).shape).toEqual([2, 0]);
    });
  });

  test('mismatched inner dimensions throw DGC_SHAPE; non-matrices are rejected', () => {
    expect(codeOf(() => dg.matmul(dg.ones([2, 3]), dg.ones([2, 3])))).toBe('DGC_SHAPE');
    expect(codeOf(() => dg.matmul(dg.ones([2, 3]), dg.ones([2, 3]), { transA: true, transB: true }))).toBe('DGC_SHAPE');
    expect(codeOf(() => dg.matmul(dg.ones([3]), dg.ones([3, 2])))).toBe('DGC_SHAPE');
  });

  test('transpose matches the reference for tile-edge shapes and empty matrices', () => {
    dg.tidy(() => {
      for (const [r, c] of [[1, 5], [33, 65], [64, 32], [100, 3], [0, 3], [3, 0]]) {
        const x = f32([r, c]);
        const t = dg.transpose(T(x, [r, c]));
        expect(t.shape).toEqual([c, r]);
        expect(Array.from(t.dataF32())).toEqual(Array.from(ref.transpose(x, r, c)));
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------------------
describe('elementwise', () => {
  const shape = [7, 13];
  test('add, sub, mul, div', () => {
    dg.tidy(() => {
      const a = f32(shape);
      const b = rng.awayFromZero(91, 0.25, 2);
      const ta = T(a, shape);
      const tb = T(b, shape);
      expectClose(dg.add(ta, tb).dataF32(), ref.map2(a, b, (x, y) => x + y), RTOL, ATOL, 'add');
      expectClose(dg.sub(ta, tb).dataF32(), ref.map2(a, b, (x, y) => x - y), RTOL, ATOL, 'sub');
      expectClose(dg.mul(ta, tb).dataF32(), ref.map2(a, b, (x, y) => x * y), RTOL, ATOL, 'mul');
      expectClose(dg.div(ta, tb).dataF32(), ref.map2(a, b, (x, y) => x / y), RTOL, ATOL, 'div');
      expect(codeOf(() => dg.add(ta, dg.ones([13, 7])))).toBe('DGC_SHAPE');
    });
  });

  test('affine, scale, neg, axpby, mulScalar', () => {
    dg.tidy(() => {
      const a = f32(shape);
      const b = f32(shape);
      const ta = T(a, shape);
      const tb = T(b, shape);
      expectClose(dg.affine(ta, 1.5, -0.25).dataF32(), a.map((x) => 1.5 * x - 0.25), RTOL, ATOL, 'affine');
      expectClose(dg.affine(ta, 2).dataF32(), a.map((x) => 2 * x), RTOL, ATOL, 'affine (default beta)');
      expectClose(dg.scale(ta, -3).dataF32(), a.map((x) => -3 * x), RTOL, ATOL, 'scale');
      expectClose(dg.neg(ta).dataF32(), a.map((x) => -x), 0, 0, 'neg');
      expectClose(dg.axpby(0.5, ta, -2, tb).dataF32(), ref.map2(a, b, (x, y) => 0.5 * x - 2 * y), RTOL, ATOL, 'axpby');
      expectClose(dg.mulScalar(ta, dg.scalar(-1.75)).dataF32(), a.map((x) => -1.75 * x), RTOL, ATOL, 'mulScalar rank 0');
      expectClose(dg.mulScalar(ta, T([0.5], [1])).dataF32(), a.map((x) => 0.5 * x), RTOL, ATOL, 'mulScalar [1]');
      expect(codeOf(() => dg.mulScalar(ta, dg.ones([2])))).toBe('DGC_SHAPE');
    });
  });

  test('biasAdd, mulRowVector, mulColVector broadcast along the right axis', () => {
    dg.tidy(() => {
      const [r, c] = shape;
      const x = f32(shape);
      const vc = f32([c]);
      const vr = f32([r]);
      const tx = T(x, shape);
      expectClose(dg.biasAdd(tx, T(vc, [c])).dataF32(), ref.rowVector(x, r, c, vc, (a, v) => a + v), RTOL, ATOL, 'biasAdd');
      expectClose(dg.mulRowVector(tx, T(vc, [c])).dataF32(), ref.rowVector(x, r, c, vc, (a, v) => a * v), RTOL, ATOL, 'mulRowVector');
      expectClose(dg.mulColVector(tx, T(vr, [r])).dataF32(), ref.colVector(x, r, c, vr, (a, v) => a * v), RTOL, ATOL, 'mulColVector');
      expect(codeOf(() => dg.biasAdd(tx, T(vr, [r])))).toBe('DGC_SHAPE');
      expect(codeOf(() => dg.mulColVector(tx, T(vc, [c])))).toBe('DGC_SHAPE');
    });
  });

  const unaries: [ref.UnaryName, (x: dg.Tensor) => dg.Tensor, number, number, number][] = [
    ['relu', dg.relu, 0, -5, 5],
    ['leakyRelu', (x) => dg.leakyRelu(x), 0.01, -5, 5],
    ['leakyRelu', (x) => dg.leakyRelu(x, 0.2), 0.2, -5, 5],
    ['tanh', dg.tanh, 0, -6, 6],
    ['sigmoid', dg.sigmoid, 0, -20, 20],
    ['exp', dg.exp, 0, -20, 20],
    ['log', dg.log, 0, 1e-3, 50],
    ['square', dg.square, 0, -5, 5],
  ];
  test.each(unaries.map((u) => [`${u[0]}${u[2] ? ` (param ${u[2]})` : ''}`, ...u] as const))(
    'unary %s matches the reference',
    (_label, name, fn, param, lo, hi) => {
      dg.tidy(() => {
        const x = f32([9, 31], lo, hi);
        x[0] = 0;
        expectClose(fn(T(x, [9, 31])).dataF32(), ref.unary(name, x, param), RTOL, ATOL, name);
      });
    },
  );

  test('sigmoid and tanh saturate without NaN or Inf at ±100, ±1e4 and ±Infinity', () => {
    dg.tidy(() => {
      const x = [-Infinity, -1e4, -100, -88, 0, 88, 100, 1e4, Infinity];
      const s = dg.sigmoid(T(x, [x.length])).dataF32();
      for (const v of s) expect(Number.isFinite(v)).toBe(true);
      expectClose(s, x.map((v) => ref.unaryScalar('sigmoid', v)), 1e-5, 1e-30, 'sigmoid extremes');
      expect(s[0]).toBe(0);
      expect(s[x.length - 1]).toBe(1);
      const t = dg.tanh(T(x, [x.length])).dataF32();
      expect(Array.from(t)).toEqual([-1, -1, -1, -1, 0, 1, 1, 1, 1]);
    });
  });

  test('log follows IEEE: log(0) = -Infinity, log(<0) = NaN; exp overflows to +Infinity and underflows to 0', () => {
    dg.tidy(() => {
      const l = dg.log(T([0, -1, 1, Math.E], [4])).dataF32();
      expect(l[0]).toBe(-Infinity);
      expect(Number.isNaN(l[1])).toBe(true);
      expect(l[2]).toBe(0);
      expect(l[3]).toBeCloseTo(1, 6);
      const e = dg.exp(T([100, -200, 0], [3])).dataF32();
      expect(Array.from(e)).toEqual([Infinity, 0, 1]);
    });
  });

  test('elementwise ops on empty tensors return empty tensors of the same shape', () => {
    dg.tidy(() => {
      const e = dg.zeros([0, 3]);
      for (const out of [dg.add(e, e), dg.mul(e, e), dg.exp(e), dg.relu(e), dg.affine(e, 2, 1), dg.biasAdd(e, dg.ones([3])), dg.softmax(e), dg.logSoftmax(e)]) {
        expect(out.shape).toEqual([0, 3]);
        expect(out.size).toBe(0);
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------------------
describe('reductions', () => {
  test.each([
    [1, 1],
    [7, 13],
    [5000, 7], // colSum with several fixed-size row blocks
    [3, 20000], // long rows
  ])('rowSum, colSum, sum, mean of a %ix%i matrix', (r, c) => {
    dg.tidy(() => {
      const x = f32([r, c]);
      const t = T(x, [r, c]);
      // Sums accumulate in double, so the float32 result is (nearly) correctly rounded.
      const rs = ref.rowSums(x, r, c);
      expectClose(dg.rowSum(t).dataF32(), rs, 1e-6, 1e-6, 'rowSum');
      expectClose(dg.colSum(t).dataF32(), ref.colSums(x, r, c), 1e-6, 1e-6, 'colSum');
      const s = dg.sum(t);
      expect(s.shape).toEqual([]);
      expectClose([s.item()], [ref.sumAll(x)], 1e-6, 1e-6, 'sum');
      const m = dg.mean(t);
      expect(m.shape).toEqual([]);
      expectClose([m.item()], [ref.sumAll(x) / (r * c)], 1e-6, 1e-7, 'mean');
    });
  });

  test('sum of 1e6 elements is accurate (double accumulation)', () => {
    dg.tidy(() => {
      const x = new Float32Array(1_000_000);
      for (let i = 0; i < x.length; i++) x[i] = 0.1 + (i % 7) * 1e-3;
      expectClose([dg.sum(T(x, [x.length])).item()], [ref.sumAll(x)], 2e-7, 0, 'sum 1e6');
    });
  });

  test('reductions of empty matrices: zero-length or zero results; mean of empty throws', () => {
    dg.tidy(() => {
      const e = dg.zeros([0, 4]);
      expect(dg.rowSum(e).shape).toEqual([0]);
      expect(Array.from(dg.colSum(e).dataF32())).toEqual([0, 0, 0, 0]);
      expect(dg.sum(e).item()).toBe(0);
      expect(Array.from(dg.rowSum(dg.zeros([2, 0])).dataF32())).toEqual([0, 0]);
      expect(codeOf(() => dg.mean(e))).toBe('DGC_SHAPE');
    });
  });

  test('argmaxRows: matches the reference, first index on ties, NaN counts as the max', () => {
    dg.tidy(() => {
      const x = f32([50, 9]);
      const a = dg.argmaxRows(T(x, [50, 9]));
      expect(a.dtype).toBe('int32');
      expect(Array.from(a.data())).toEqual(Array.from(ref.argmaxRows(x, 50, 9)));
      const rows = [
        [1, 3, 3, 2], // tie → first
        [5, 5, 5, 5], // all equal → 0
        [-Infinity, -Infinity, -Infinity, -Infinity],
        [0, NaN, 7, NaN], // NaN wins, first NaN
        [-1, -2, -0.5, -0.5],
        [2, 1, Infinity, Infinity],
      ];
      const flat = rows.flat();
      expect(Array.from(dg.argmaxRows(T(flat, [6, 4])).data())).toEqual([1, 0, 0, 1, 2, 2]);
      expect(Array.from(dg.argmaxRows(T([3, 1, 2], [3, 1])).data())).toEqual([0, 0, 0]);
      expect(dg.argmaxRows(dg.zeros([0, 4])).shape).toEqual([0]);
      expect(codeOf(() => dg.argmaxRows(dg.zeros([2, 0])))).toBe('DGC_SHAPE');
    });
  });
});

// ---------------------------------------------------------------------------------------------------------
describe('softmax and logSoftmax', () => {
  test.each([
    [1, 1],
    [6, 10],
    [40, 257],
  ])('match the reference on random %ix%i rows; softmax rows sum to 1', (r, c) => {
    dg.tidy(() => {
      const x = f32([r, c], -8, 8);
      const t = T(x, [r, c]);
      const s = dg.softmax(t).dataF32();
      expectClose(s, ref.softmaxRows(x, r, c), RTOL, ATOL, 'softmax');
      expectClose(dg.logSoftmax(t).dataF32(), ref.softmaxRows(x, r, c, true), RTOL, ATOL, 'logSoftmax');
      expectClose(ref.rowSums(s, r, c), new Array(r).fill(1), 1e-5, 0, 'softmax row sums');
    });
  });

  // Rows: [1e30, 1e30, -1e30, 0], four × 3e38, four × -1e30, four × 2, [1e30, 0, -1e30, 5].
  const huge = [1e30, 1e30, -1e30, 0, 3e38, 3e38, 3e38, 3e38, -1e30, -1e30, -1e30, -1e30, 2, 2, 2, 2, 1e30, 0, -1e30, 5];
  const ln2 = Math.log(2);
  const ln4 = Math.log(4);

  test('huge values (1e30, 3e38) give no NaN in softmax or logSoftmax; softmax of equal rows is uniform', () => {
    dg.tidy(() => {
      const t = T(huge, [5, 4]);
      const s = dg.softmax(t).dataF32();
      expect(Array.from(s).filter((v) => Number.isNaN(v))).toEqual([]);
      expectClose(s, [0.5, 0.5, 0, 0, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 1, 0, 0, 0], 1e-6, 1e-7, 'softmax huge');
      const l = dg.logSoftmax(t).dataF32();
      expect(Array.from(l).filter((v) => Number.isNaN(v))).toEqual([]);
      // values of the entries far below the row max: only their magnitude is representable
      expectClose([l[2], l[16 + 2]], [-2e30, -2e30], 1e-6, 0, 'logSoftmax of -1e30 next to 1e30');
    });
  });

  test('logSoftmax of moderate rows (|x| ≤ 50) is exact to float32 precision', () => {
    dg.tidy(() => {
      const x = f32([20, 16], -50, 50);
      expectClose(dg.logSoftmax(T(x, [20, 16])).dataF32(), ref.softmaxRows(x, 20, 16, true), RTOL, 1e-5, 'logSoftmax |x| ≤ 50');
    });
  });

  // Regression (fixed; native/cpu/reduce.cc, CpuBackend::softmaxRows, log branch): it computes
  // lse = m + log(Σ exp(x − m)) in float32 and returns x_j − lse, so log Σ is absorbed by the rounding of a
  // large row max m: a row of equal values 1e8 (or 3e38, or -1e30) gives log-probabilities 0 instead of
  // −log(n), and rows around 1e4 are off by ~1e-3. The stable form its own comment states,
  // (x_j − m) − log Σ, is exact here.
  test('logSoftmax keeps log Σ exp when the row max is large (rows of equal values 1e4, 1e8, 3e38, -1e30)', () => {
    dg.tidy(() => {
      const l = dg.logSoftmax(T(huge, [5, 4])).dataF32();
      expectClose(
        l,
        [-ln2, -ln2, -2e30, -1e30 - ln2, -ln4, -ln4, -ln4, -ln4, -ln4, -ln4, -ln4, -ln4, -ln4, -ln4, -ln4, -ln4, 0, -1e30, -2e30, 5 - 1e30],
        1e-6,
        1e-6,
        'logSoftmax huge',
      );
      const rows = [1e4, 1e8].flatMap((v) => [v, v, v, v]);
      expectClose(dg.logSoftmax(T(rows, [2, 4])).dataF32(), new Array(8).fill(-ln4), 1e-6, 1e-6, 'logSoftmax equal rows 1e4, 1e8');
    });
  });

  test('-Infinity entries get probability 0 (and log-probability -Infinity)', () => {
    dg.tidy(() => {
      const t = T([0, -Infinity, 0, Math.log(2)], [1, 4]);
      expectClose(dg.softmax(t).dataF32(), [0.25, 0, 0.25, 0.5], 1e-6, 1e-7, 'softmax -inf');
      const l = dg.logSoftmax(t).dataF32();
      expect(l[1]).toBe(-Infinity);
      expectClose([l[0], l[2], l[3]], [Math.log(0.25), Math.log(0.25), Math.log(0.5)], 1e-6, 1e-6, 'logSoftmax -inf');
    });
  });
});

// ---------------------------------------------------------------------------------------------------------
describe('shape and indexing', () => {
  test('concatCols and sliceCols match the reference, including zero-width parts', () => {
    dg.tidy(() => {
      const r = 6;
      const parts = [2, 0, 5, 1].map((c) => ({ data: f32([r, c]), cols: c }));
      const out = dg.concatCols(parts.map((p) => T(p.data, [r, p.cols])));
      expect(out.shape).toEqual([r, 8]);
      const cat = ref.concatCols(parts, r);
      expect(Array.from(out.dataF32())).toEqual(Array.from(cat));
      for (const [s, e] of [[0, 8], [0, 2], [2, 7], [7, 8], [3, 3]]) {
        const sl = dg.sliceCols(out, s, e);
        expect(sl.shape).toEqual([r, e - s]);
        expect(Array.from(sl.dataF32())).toEqual(Array.from(ref.sliceCols(cat, r, 8, s, e)));
      }
      expect(codeOf(() => dg.sliceCols(out, 5, 9))).toBe('DGC_INDEX');
      expect(codeOf(() => dg.sliceCols(out, 4, 3))).toBe('DGC_INDEX');
      expect(codeOf(() => dg.concatCols([dg.ones([2, 2]), dg.ones([3, 2])]))).toBe('DGC_SHAPE');
      expect(dg.concatCols([dg.zeros([0, 2]), dg.zeros([0, 3])]).shape).toEqual([0, 5]);
    });
  });

  test('gatherRows with repeated indices, empty index lists, and out-of-range indices', () => {
    dg.tidy(() => {
      const x = f32([5, 3]);
      const idx = [4, 0, 0, 2, 4, 1];
      const g = dg.gatherRows(T(x, [5, 3]), dg.tensor(Int32Array.from(idx)));
      expect(g.shape).toEqual([6, 3]);
      expect(Array.from(g.dataF32())).toEqual(Array.from(ref.gatherRows(x, 3, idx)));
      expect(dg.gatherRows(T(x, [5, 3]), dg.tensor(new Int32Array(0))).shape).toEqual([0, 3]);
      expect(codeOf(() => dg.gatherRows(T(x, [5, 3]), dg.tensor(Int32Array.of(5))))).toBe('DGC_INDEX');
      expect(codeOf(() => dg.gatherRows(T(x, [5, 3]), dg.tensor(Int32Array.of(-1))))).toBe('DGC_INDEX');
      expect(codeOf(() => dg.gatherRows(T(x, [5, 3]), T([1], [1])))).toBe('DGC_DTYPE');
    });
  });
});

// ---------------------------------------------------------------------------------------------------------
describe('losses', () => {
  test('mse matches the reference and is a rank-0 tensor; mse of empty tensors throws', () => {
    dg.tidy(() => {
      const a = f32([11, 7], -3, 3);
      const b = f32([11, 7], -3, 3);
      const l = dg.mse(T(a, [11, 7]), T(b, [11, 7]));
      expect(l.shape).toEqual([]);
      expectClose([l.item()], [ref.mse(a, b)], 1e-6, 1e-7, 'mse');
      expect(dg.mse(T(a, [11, 7]), T(a, [11, 7])).item()).toBe(0);
      expect(codeOf(() => dg.mse(dg.zeros([0, 2]), dg.zeros([0, 2])))).toBe('DGC_SHAPE');
    });
  });

  test('bceWithLogits matches the stable reference, with hard and soft targets', () => {
    dg.tidy(() => {
      const x = f32([9, 8], -6, 6);
      const hard = Array.from({ length: 72 }, () => (rng.next() < 0.5 ? 0 : 1));
      const soft = f32([9, 8], 0, 1);
      for (const [name, t] of [['hard', hard], ['soft', soft]] as const) {
        const l = dg.bceWithLogits(T(x, [9, 8]), T(t, [9, 8]));
        expect(l.shape).toEqual([]);
        expectClose([l.item()], [ref.bceWithLogits(x, t)], 1e-6, 1e-7, `bce ${name}`);
      }
    });
  });

  test('bceWithLogits stays finite for logits of ±100 and ±1e4', () => {
    dg.tidy(() => {
      const x = [100, -100, 1e4, -1e4, 100, -1e4];
      const t = [1, 0, 0, 1, 0, 0];
      const l = dg.bceWithLogits(T(x, [6]), T(t, [6])).item();
      expect(Number.isFinite(l)).toBe(true);
      expectClose([l], [ref.bceWithLogits(x, t)], 1e-6, 1e-6, 'bce extremes');
      // confident and right → (nearly) zero loss
      expect(dg.bceWithLogits(T([100, -100], [2]), T([1, 0], [2])).item()).toBeLessThan(1e-30);
    });
  });
});

// ---------------------------------------------------------------------------------------------------------
describe('random numbers', () => {
  test.each([
    [0, 1],
    [-3, 5],
    [1, 2],
    [-1e-3, 1e-3],
  ])('uniform(%d, %d): 1e5 samples all in [low, high), mean and variance as expected', (low, high) => {
    dg.tidy(() => {
      const g = new dg.Generator(17);
      const u = g.uniform([100000], low, high).dataF32();
      let mn = Infinity;
      let mx = -Infinity;
      let s = 0;
      let s2 = 0;
      for (const v of u) {
        mn = Math.min(mn, v);
        mx = Math.max(mx, v);
        s += v;
        s2 += v * v;
      }
      expect(mn).toBeGreaterThanOrEqual(low);
      expect(mx).toBeLessThan(high);
      const n = u.length;
      const mean = s / n;
      const variance = s2 / n - mean * mean;
      const w = high - low;
      // standard error of the mean is w/√(12n); 5 standard errors
      expect(Math.abs(mean - (low + high) / 2)).toBeLessThan((5 * w) / Math.sqrt(12 * n));
      expect(Math.abs(variance / ((w * w) / 12) - 1)).toBeLessThan(0.02);
      // flat histogram: chi-square over 50 bins (49 degrees of freedom; 99.9% quantile ≈ 85.4)
      const bins = new Float64Array(50);
      for (const v of u) bins[Math.min(49, Math.floor(((v - low) / w) * 50))]++;
      let chi2 = 0;
      for (const c of bins) chi2 += (c - n / 50) ** 2 / (n / 50);
      expect(chi2).toBeLessThan(85.4);
    });
  });

  // Regression (fixed; native/cpu/random.cc, CpuBackend::randomUniform): it returns low + (high − low)·(1 − u) in
  // float32, and when low is large compared to the range the sum rounds up to exactly `high` (1 − u can be
  // 1 − 2^-24). Generator(17).uniform([1e6], 1000, 1001) returns 1001 for 29 elements (uniform(100, 101): 4),
  // although the contract (lib/random.ts, backend.h) is the half-open [low, high).
  test('uniform(1000, 1001) never returns high (the interval is half-open)', () => {
    dg.tidy(() => {
      const u = new dg.Generator(17).uniform([1000000], 1000, 1001).dataF32();
      let atHigh = 0;
      for (const v of u) if (v >= 1001) atHigh++;
      expect(atHigh).toBe(0);
    });
  });

  test('uniform with low == high gives exactly low; low > high throws', () => {
    dg.tidy(() => {
      const g = new dg.Generator(1);
      expect(Array.from(g.uniform([5], 2, 2).dataF32())).toEqual([2, 2, 2, 2, 2]);
      expect(codeOf(() => g.uniform([5], 2, 1))).toBe('DGC_VALUE');
    });
  });

  test('normal: mean and std of 1e5 samples within statistical tolerance, for N(0,1) and N(3, 0.5²)', () => {
    dg.tidy(() => {
      const g = new dg.Generator(2024);
      for (const [mu, sd] of [[0, 1], [3, 0.5]]) {
        const x = g.normal([100000], mu, sd).dataF32();
        const n = x.length;
        let s = 0;
        let s2 = 0;
        let s4 = 0;
        let nonFinite = 0;
        for (const v of x) {
          if (!Number.isFinite(v)) nonFinite++;
          s += v;
        }
        expect(nonFinite).toBe(0);
        const mean = s / n;
        for (const v of x) {
          const d = v - mean;
          s2 += d * d;
          s4 += d ** 4;
        }
        const std = Math.sqrt(s2 / n);
        // mean: 5 standard errors (sd/√n); std: relative standard error ≈ 1/√(2n) ≈ 0.0022, allow 0.015
        expect(Math.abs(mean - mu)).toBeLessThan((5 * sd) / Math.sqrt(n));
        expect(Math.abs(std / sd - 1)).toBeLessThan(0.015);
        // kurtosis of a normal is 3 (catches e.g. uniform or badly shaped samples with the right variance)
        expect(Math.abs(s4 / n / (s2 / n) ** 2 - 3)).toBeLessThan(0.1);
      }
    });
  });

  test('same seed and stream → identical numbers; different stream or seed → different numbers', () => {
    dg.tidy(() => {
      const a = new dg.Generator(42);
      const b = new dg.Generator(42);
      const a1 = a.normal([1000]).dataF32();
      const b1 = b.normal([1000]).dataF32();
      expect(ref.firstBitDifference(a1, b1)).toBe(-1);
      const a2 = a.normal([1000]).dataF32(); // next stream
      expect(ref.firstBitDifference(a1, a2)).not.toBe(-1);
      const u1 = new dg.Generator(42).uniform([1000]).dataF32();
      const u2 = new dg.Generator(43).uniform([1000]).dataF32();
      let same = 0;
      for (let i = 0; i < 1000; i++) if (u1[i] === u2[i]) same++;
      expect(same).toBeLessThan(5);
      // seeds that differ only above bit 32 are different seeds
      const h1 = new dg.Generator(1).uniform([64]).dataF32();
      const h2 = new dg.Generator(2 ** 32 + 1).uniform([64]).dataF32();
      expect(ref.firstBitDifference(h1, h2)).not.toBe(-1);
      // the native op is a pure function of (seed, stream, index)
      const n1 = dg.native.randomNormal([10], 0, 1, 42, 0);
      const n2 = dg.native.randomNormal([10], 0, 1, 42, 0);
      expect(ref.firstBitDifference(n1.toTypedArray() as Float32Array, a1.subarray(0, 10))).toBe(-1);
      expect(ref.firstBitDifference(n1.toTypedArray() as Float32Array, n2.toTypedArray() as Float32Array)).toBe(-1);
      n1.dispose();
      n2.dispose();
    });
  });

  test('element i of a stream does not depend on the tensor size or shape', () => {
    dg.tidy(() => {
      const small = dg.native.randomUniform([7], 0, 1, 9, 3);
      const big = dg.native.randomUniform([50, 20], 0, 1, 9, 3);
      const s = small.toTypedArray() as Float32Array;
      const b = big.toTypedArray() as Float32Array;
      expect(ref.firstBitDifference(s, b.subarray(0, 7))).toBe(-1);
      small.dispose();
      big.dispose();
    });
  });

  test('Generator.permutation(n) is a permutation of 0..n-1, seeded and not the identity', () => {
    for (const n of [0, 1, 2, 10, 1000]) {
      const p = new dg.Generator(5).permutation(n);
      expect(p.length).toBe(n);
      expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    }
    const p1 = new dg.Generator(5).permutation(1000);
    const p2 = new dg.Generator(5).permutation(1000);
    expect(Array.from(p1)).toEqual(Array.from(p2));
    let fixed = 0;
    for (let i = 0; i < 1000; i++) if (p1[i] === i) fixed++;
    expect(fixed).toBeLessThan(10); // a random permutation has ~1 fixed point
    const g = new dg.Generator(5);
    expect(Array.from(g.permutation(50))).not.toEqual(Array.from(g.permutation(50)));
  });

  test('Generator.permutation(3) draws each of the 6 orders about equally often', () => {
    const g = new dg.Generator(77);
    const counts = new Map<string, number>();
    const draws = 3000;
    for (let i = 0; i < draws; i++) {
      const key = Array.from(g.permutation(3)).join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(['012', '021', '102', '120', '201', '210']);
    let chi2 = 0;
    for (const c of counts.values()) chi2 += (c - draws / 6) ** 2 / (draws / 6);
    expect(chi2).toBeLessThan(20.5); // 5 degrees of freedom, 99.9% quantile
  });

  test('Generator rejects invalid seeds', () => {
    expect(() => new dg.Generator(-1)).toThrow();
    expect(() => new dg.Generator(1.5)).toThrow();
    expect(() => new dg.Generator(2 ** 53)).toThrow();
  });
});
