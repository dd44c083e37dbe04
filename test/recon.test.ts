// Graph reconstruction losses through σ(Z Zᵀ) against a sparse target, computed tile by tile: forward against a
// dense float64 reference (N×N exists only here), gradient checks, no N×N memory at N = 50,000, errors.
import * as dg from '../lib';
import { expectCode } from './helpers/errors';
import { expectGradOk, gradcheck, InputSpec } from './helpers/gradcheck';
import { Rng } from './helpers/reference';

const rng = new Rng(99);
const U = (shape: number[], lo = -1, hi = 1): InputSpec => ({ data: rng.f32(shape.reduce((a, b) => a * b, 1), lo, hi), shape });
const sig = (x: number) => 1 / (1 + Math.exp(-x));

/** A random graph on n nodes, row-normalized with self loops (not symmetric: symmetrize false). */
function randomGraph(n: number, edges: number, options: dg.FromEdgesOptions = {}): dg.SparseMatrix {
  const src: number[] = [];
  const dst: number[] = [];
  for (let e = 0; e < edges; e++) {
    src.push(rng.int(n));
    dst.push(rng.int(n));
  }
  return dg.SparseMatrix.fromEdges(n, src, dst, { symmetrize: false, normalization: 'row', ...options });
}

function gram(z: ArrayLike<number>, n: number, d: number, i: number, j: number): number {
  let s = 0;
  for (let c = 0; c < d; c++) s += z[i * d + c] * z[j * d + c];
  return s;
}

describe('forward against a dense float64 reference', () => {
  test.each([
    [1, 3],
    [37, 5],
    [300, 20],
  ])('gramSigmoidMse with two embeddings and with one (n=%d, d=%d)', (n, d) => {
    const a = randomGraph(n, 3 * n);
    const z1 = U([n, d]);
    const z2 = U([n, d + 1]);
    const A = a.toDense();
    let two = 0;
    let one = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const s1 = sig(gram(z1.data, n, d, i, j));
        two += (s1 + sig(gram(z2.data, n, d + 1, i, j)) - A[i * n + j]) ** 2;
        one += (s1 - A[i * n + j]) ** 2;
      }
    }
    dg.tidy(() => {
      const t1 = dg.tensor(z1.data, z1.shape);
      const t2 = dg.tensor(z2.data, z2.shape);
      expect(dg.gramSigmoidMse(a, t1, t2).item()).toBeCloseTo(two / (n * n), 5);
      expect(dg.gramSigmoidMse(a, t1).item()).toBeCloseTo(one / (n * n), 5);
    });
    a.dispose();
  });

  test('gramSigmoidBce with fractional targets, PyTorch BCELoss semantics', () => {
    const n = 60;
    const d = 4;
    const t = randomGraph(n, 200, { normalization: 'row' }); // values in (0, 1]
    const z = U([n, d], -2, 2);
    const T = t.toDense();
    let want = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const a = sig(gram(z.data, n, d, i, j));
        const y = T[i * n + j];
        want += -(y * Math.max(Math.log(a), -100) + (1 - y) * Math.max(Math.log(1 - a), -100));
      }
    }
    dg.tidy(() => expect(dg.gramSigmoidBce(t, dg.tensor(z.data, z.shape)).item()).toBeCloseTo(want / (n * n), 5));
    t.dispose();
  });

  test('saturated dot products stay finite', () => {
    const n = 20;
    const a = randomGraph(n, 40);
    const z = U([n, 3], 30, 40).data; // z·z ≈ 3000: σ = 1 exactly in float
    dg.tidy(() => {
      expect(Number.isFinite(dg.gramSigmoidMse(a, dg.tensor(z, [n, 3])).item())).toBe(true);
      expect(Number.isFinite(dg.gramSigmoidBce(a, dg.tensor(z, [n, 3])).item())).toBe(true);
    });
    a.dispose();
  });
});

describe('gradient checks (finite differences through the tape)', () => {
  let a: dg.SparseMatrix;
  beforeAll(() => (a = randomGraph(11, 30)));
  afterAll(() => a.dispose());
  test('gramSigmoidMse: both embeddings (non-symmetric Â: G + Gᵀ, not 2G)', () => {
    expectGradOk(gradcheck('mse2', ([z1, z2]) => dg.gramSigmoidMse(a, z1, z2), [U([11, 4]), U([11, 3])]));
  });
  test('gramSigmoidMse: one embedding, scaled by γ = 0.1 through the tape', () => {
    expectGradOk(gradcheck('mse1', ([z]) => dg.scale(dg.gramSigmoidMse(a, z), 0.1), [U([11, 4])]));
  });
  test('gramSigmoidBce', () => {
    expectGradOk(gradcheck('bce', ([z]) => dg.gramSigmoidBce(a, z), [U([11, 5])]));
  });
});

test('at N = 50,000, d = 20 the loss and gradients need no N×N tensor (native peak ≪ 100 MB)', () => {
  const n = 50000;
  const gen = new dg.Generator(5);
  const src = new Int32Array(5 * n);
  const dst = new Int32Array(5 * n);
  const perm = gen.permutation(5 * n);
  for (let e = 0; e < 5 * n; e++) {
    src[e] = e % n;
    dst[e] = perm[e] % n;
  }
  const a = dg.SparseMatrix.fromEdges(n, src, dst);
  dg.tidy(() => {
    const z1 = dg.parameter(gen.uniform([n, 20], -0.2, 0.2));
    const z2 = dg.parameter(gen.uniform([n, 20], -0.2, 0.2));
    dg.resetPeakMemory();
    const base = dg.memory().bytes;
    dg.backward(dg.gramSigmoidMse(a, z1, z2));
    expect(dg.memory().peakBytes - base).toBeLessThan(40e6); // a dense N×N float32 matrix: 10 GB
    expect(Number.isFinite(z1.grad!.dataF32()[0])).toBe(true);
    z1.dispose();
    z2.dispose();
  });
  a.dispose();
});

describe('bad input', () => {
  test('a graph whose size differs from the embedding', () => {
    const a = randomGraph(5, 8);
    expectCode(() => dg.gramSigmoidMse(a, dg.zeros([6, 2])), 'DGC_SHAPE', /gramSigmoidMse/, /5x5/, /6 rows/);
    expectCode(() => dg.gramSigmoidMse(a, dg.zeros([5, 2]), dg.zeros([4, 2])), 'DGC_SHAPE', /'z2'/);
    a.dispose();
    expectCode(() => dg.gramSigmoidBce(a, dg.zeros([5, 2])), 'DGC_DISPOSED', /gramSigmoidBce/);
  });
  test('a BCE target outside [0, 1]', () => {
    const t = dg.SparseMatrix.fromEdges(3, [0], [1], { weights: Float32Array.of(2), normalization: 'none', selfLoops: false });
    expectCode(() => dg.gramSigmoidBce(t, dg.zeros([3, 2])), 'DGC_VALUE', /gramSigmoidBce/, /\[0, 1\]/);
    t.dispose();
  });
  test('NaN in Z', () => {
    const a = randomGraph(4, 6);
    expectCode(() => dg.gramSigmoidMse(a, dg.tensor([[1, NaN], [0, 0], [0, 0], [0, 0]])), 'DGC_VALUE', /'z1'/, /row 0, column 1/);
    a.dispose();
  });
});
