// nn modules (Linear, GraphConv, Module trees), state files, and the optimizers against reference arithmetic.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as dg from '../lib';
import { prng, settleNativeGarbage } from './helpers/data';

const arr = (t: dg.Tensor | null | undefined): number[] => Array.from(t!.dataF32());

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what = ''): void {
  expect(got.length).toBe(want.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  if (!(worst <= tol)) {
    throw new Error(`${what}: element ${at}: got ${got[at]}, want ${want[at]} (|err| ${worst} > ${tol})`);
  }
}

const randomArray = (rand: () => number, n: number, scale = 1): Float32Array =>
  Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);

let tmp: string;
beforeAll(async () => {
  await settleNativeGarbage();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dgclust-nn-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

// ---- Linear ----------------------------------------------------------------------------------------------

describe('Linear', () => {
  test('forward = x Wᵀ + b (W stored [out, in]) against a TS reference', () => {
    const rand = prng(1);
    const lin = new dg.Linear(5, 3, { generator: new dg.Generator(3) });
    expect(lin.weight.shape).toEqual([3, 5]);
    expect(lin.bias!.shape).toEqual([3]);
    const x = randomArray(rand, 4 * 5, 2);
    const y = dg.tidy(() => lin.forward(dg.tensor(x, [4, 5])));
    expect(y.shape).toEqual([4, 3]);
    const W = arr(lin.weight);
    const b = arr(lin.bias);
    const want: number[] = [];
    for (let i = 0; i < 4; i++) {
      for (let o = 0; o < 3; o++) {
        let s = b[o];
        for (let k = 0; k < 5; k++) s += x[i * 5 + k] * W[o * 5 + k];
        want.push(s);
      }
    }
    expectClose(arr(y), want, 1e-5, 'Linear forward');
    y.dispose();
    lin.dispose();
  });

  test('bias: false has one parameter and forward = x Wᵀ', () => {
    const lin = new dg.Linear(2, 2, { bias: false });
    expect(lin.bias).toBeNull();
    expect(lin.namedParameters().map(([n]) => n)).toEqual(['weight']);
    const y = dg.tidy(() => lin.forward(dg.tensor([[1, 0], [0, 1]])));
    const W = arr(lin.weight); // identity input: row i of y is column... y[i][o] = W[o][i]
    expectClose(arr(y), [W[0], W[2], W[1], W[3]], 1e-7, 'x Wᵀ');
    y.dispose();
    lin.dispose();
  });

  test('default init: weight and bias in ±1/√in (PyTorch nn.Linear), spread over the range', () => {
    const inF = 64;
    const lin = new dg.Linear(inF, 48, { generator: new dg.Generator(11) });
    const bound = 1 / Math.sqrt(inF);
    for (const [name, t] of lin.namedParameters()) {
      const v = arr(t);
      const max = Math.max(...v.map(Math.abs));
      expect({ name, inBounds: max <= bound }).toEqual({ name, inBounds: true });
      expect(max).toBeGreaterThan(0.8 * bound); // not a much narrower distribution
      const mean = v.reduce((s, a) => s + a, 0) / v.length;
      expect(Math.abs(mean)).toBeLessThan(0.25 * bound);
    }
    // The weight is uniform: its variance is bound²/3.
    const w = arr(lin.weight);
    const variance = w.reduce((s, a) => s + a * a, 0) / w.length;
    expect(variance).toBeGreaterThan(0.85 * (bound * bound) / 3);
    expect(variance).toBeLessThan(1.15 * (bound * bound) / 3);
    lin.dispose();
  });

  test('init is reproducible from the generator seed, and different for another seed', () => {
    const a = new dg.Linear(6, 4, { generator: new dg.Generator(5) });
    const b = new dg.Linear(6, 4, { generator: new dg.Generator(5) });
    const c = new dg.Linear(6, 4, { generator: new dg.Generator(6) });
    expect(arr(a.weight)).toEqual(arr(b.weight));
    expect(arr(a.bias)).toEqual(arr(b.bias));
    expect(arr(a.weight)).not.toEqual(arr(c.weight));
    dg.dispose([a.parameters(), b.parameters(), c.parameters()]);
  });

  test("init 'xavier': weight in ±√(6/(in+out)), bias zero", () => {
    const lin = new dg.Linear(30, 20, { init: 'xavier', generator: new dg.Generator(2) });
    const bound = Math.sqrt(6 / 50);
    const w = arr(lin.weight);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.8 * bound);
    expect(arr(lin.bias).every((v) => v === 0)).toBe(true);
    lin.dispose();
  });

  test('xavierUniform / xavierNormal / linearDefault helpers: bounds, gain and spread', () => {
    const gen = new dg.Generator(9);
    const u = dg.xavierUniform(gen, [100, 50], 100, 50, 2);
    const bound = 2 * Math.sqrt(6 / 150);
    const uv = arr(u);
    expect(Math.max(...uv.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...uv.map(Math.abs))).toBeGreaterThan(0.9 * bound);
    const n = dg.xavierNormal(gen, [100, 50], 100, 50);
    const nv = arr(n);
    const std = Math.sqrt(nv.reduce((s, a) => s + a * a, 0) / nv.length);
    expect(std).toBeGreaterThan(0.9 * Math.sqrt(2 / 150));
    expect(std).toBeLessThan(1.1 * Math.sqrt(2 / 150));
    const l = dg.linearDefault(gen, [10], 0);
    expect(arr(l)).toEqual(new Array(10).fill(0)); // fanIn 0 → bound 0
    dg.dispose([u, n, l]);
  });
});

// ---- graphs and GraphConv -------------------------------------------------------------------------------

/** Dense n×n reference of SparseMatrix.fromEdges. */
function denseGraph(
  n: number,
  src: number[],
  dst: number[],
  opts: { weights?: number[]; symmetrize?: boolean; selfLoops?: boolean; normalization?: 'none' | 'row' | 'sym' } = {},
): Float64Array {
  const A = new Float64Array(n * n);
  src.forEach((s, e) => {
    const w = opts.weights ? opts.weights[e] : 1;
    A[s * n + dst[e]] = Math.max(A[s * n + dst[e]], w); // duplicates merge by max
  });
  if (opts.symmetrize ?? true) {
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
      const m = Math.max(A[i * n + j], A[j * n + i]);
      A[i * n + j] = m;
      A[j * n + i] = m;
    }
  }
  if (opts.selfLoops ?? true) for (let i = 0; i < n; i++) A[i * n + i] += 1;
  const norm = opts.normalization ?? 'row';
  const deg = Array.from({ length: n }, (_, i) => A.slice(i * n, (i + 1) * n).reduce((s, v) => s + v, 0));
  if (norm === 'row') {
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (deg[i] > 0) A[i * n + j] /= deg[i];
  } else if (norm === 'sym') {
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      if (A[i * n + j] !== 0) A[i * n + j] /= Math.sqrt(deg[i]) * Math.sqrt(deg[j]);
    }
  }
  return A;
}

function denseMatmul(A: ArrayLike<number>, B: ArrayLike<number>, n: number, k: number, m: number): Float64Array {
  const C = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let p = 0; p < k; p++) {
    const a = A[i * k + p];
    if (a !== 0) for (let j = 0; j < m; j++) C[i * m + j] += a * B[p * m + j];
  }
  return C;
}

// 6 nodes: a path 0–1–2–3–4 with a directed-only edge 0→2, a duplicate 0→1, and node 5 isolated.
const SRC = [0, 1, 2, 3, 0, 0];
const DST = [1, 2, 3, 4, 2, 1];

describe('SparseMatrix.fromEdges vs a dense reference', () => {
  const configs: [string, Parameters<typeof denseGraph>[3]][] = [
    ['defaults (symmetrize, self loops, row)', {}],
    ["normalization 'sym'", { normalization: 'sym' }],
    ["normalization 'none'", { normalization: 'none' }],
    ['no symmetrize, row', { symmetrize: false }],
    ['no self loops, none', { selfLoops: false, normalization: 'none' }],
    ['weighted with duplicate edges (merge by max), sym', { weights: [1, 2, 0.5, 3, 4, 5], normalization: 'sym' }],
  ];
  test.each(configs)('%s', (_name, opts) => {
    const A = dg.SparseMatrix.fromEdges(6, SRC, DST, {
      ...opts,
      weights: opts?.weights ? Float32Array.from(opts.weights) : undefined,
    });
    expect([A.rows, A.cols]).toEqual([6, 6]);
    expectClose(A.toDense(), denseGraph(6, SRC, DST, opts), 1e-6, 'dense adjacency');
    // nnz matches the reference's non-zeros.
    expect(A.nnz).toBe(denseGraph(6, SRC, DST, opts).filter((v) => v !== 0).length);
    A.dispose();
  });

  test('the transpose arrays are the transpose of the matrix', () => {
    const A = dg.SparseMatrix.fromEdges(6, SRC, DST, { symmetrize: false });
    const D = A.toDense();
    const t = A.toArrays(true);
    const DT = new Float32Array(36);
    for (let i = 0; i < 6; i++) for (let e = t.indptr[i]; e < t.indptr[i + 1]; e++) DT[i * 6 + t.indices[e]] = t.values[e];
    for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) expect(DT[i * 6 + j]).toBe(D[j * 6 + i]);
    A.dispose();
  });
});

describe('GraphConv vs a dense reference', () => {
  const orders = ['propagate-activate', 'activate-propagate'] as const;
  const rand = prng(3);
  const H = randomArray(rand, 6 * 4, 1.5);

  test.each(orders.flatMap((o) => [[o, true], [o, false]] as [typeof o, boolean][]))('order %s, bias %s, tanh', (order, bias) => {
    const A = dg.SparseMatrix.fromEdges(6, SRC, DST);
    const Ad = A.toDense();
    const conv = new dg.GraphConv(4, 3, { activation: dg.tanh, order, bias, generator: new dg.Generator(4) });
    expect(conv.weight.shape).toEqual([4, 3]); // [in, out]
    const bvals = [0.3, -0.2, 0.1];
    if (bias) {
      expect(arr(conv.bias)).toEqual([0, 0, 0]); // zero at init
      const b = dg.tensor(bvals);
      dg.native.copyInto(conv.bias!.handle, b.handle);
      b.dispose();
    }
    const out = dg.tidy(() => conv.forward(dg.tensor(H, [6, 4]), A));
    const support = denseMatmul(H, arr(conv.weight), 6, 4, 3);
    if (bias) for (let i = 0; i < 6; i++) for (let j = 0; j < 3; j++) support[i * 3 + j] += bvals[j];
    const want = order === 'propagate-activate'
      ? denseMatmul(Ad, support, 6, 6, 3).map(Math.tanh)
      : denseMatmul(Ad, support.map(Math.tanh), 6, 6, 3);
    expectClose(arr(out), want, 1e-5, `GraphConv ${order}`);
    out.dispose();
    conv.dispose();
    A.dispose();
  });

  test('no activation: both orders give Â H W', () => {
    const A = dg.SparseMatrix.fromEdges(6, SRC, DST, { normalization: 'sym' });
    const c1 = new dg.GraphConv(4, 2, { order: 'propagate-activate', generator: new dg.Generator(8) });
    const c2 = new dg.GraphConv(4, 2, { order: 'activate-propagate', generator: new dg.Generator(8) });
    const [y1, y2] = dg.tidy(() => [c1.forward(dg.tensor(H, [6, 4]), A), c2.forward(dg.tensor(H, [6, 4]), A)]);
    const want = denseMatmul(A.toDense(), denseMatmul(H, arr(c1.weight), 6, 4, 2), 6, 6, 2);
    expectClose(arr(y1), want, 1e-5, 'propagate-activate');
    expectClose(arr(y2), want, 1e-5, 'activate-propagate');
    dg.dispose([y1, y2]);
    c1.dispose();
    c2.dispose();
    A.dispose();
  });

  test('GraphConv xavier init bounds ±√(6/(in+out))', () => {
    const conv = new dg.GraphConv(40, 24, { generator: new dg.Generator(1) });
    const bound = Math.sqrt(6 / 64);
    const w = arr(conv.weight);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.8 * bound);
    conv.dispose();
  });
});

// ---- Module trees and state dicts ------------------------------------------------------------------------

class Block extends dg.Module {
  readonly scale: dg.Tensor;
  readonly fc: dg.Linear;
  constructor(inF: number, outF: number, seed: number) {
    super();
    this.scale = this.registerParameter('scale', dg.ones([outF]));
    this.fc = this.registerModule('fc', new dg.Linear(inF, outF, { generator: new dg.Generator(seed) }));
  }
  forward(x: dg.Tensor): dg.Tensor {
    return dg.mulRowVector(dg.relu(this.fc.forward(x)), this.scale);
  }
}

class Net extends dg.Module {
  readonly encoder: Block;
  readonly decoder: dg.Linear;
  constructor(seed = 0) {
    super();
    this.encoder = this.registerModule('encoder', new Block(4, 3, seed));
    this.decoder = this.registerModule('decoder', new dg.Linear(3, 4, { generator: new dg.Generator(seed + 100) }));
  }
  forward(x: dg.Tensor): dg.Tensor {
    return this.decoder.forward(this.encoder.forward(x));
  }
}

describe('Module', () => {
  test('namedParameters: dotted names for nested modules, own parameters first, in registration order', () => {
    const net = new Net();
    expect(net.namedParameters().map(([n, p]) => [n, p.shape])).toEqual([
      ['encoder.scale', [3]],
      ['encoder.fc.weight', [3, 4]],
      ['encoder.fc.bias', [3]],
      ['decoder.weight', [4, 3]],
      ['decoder.bias', [4]],
    ]);
    expect(net.namedParameters('model.')[0][0]).toBe('model.encoder.scale');
    expect(net.parameterCount()).toBe(3 + 12 + 3 + 12 + 4);
    for (const p of net.parameters()) {
      expect(p.requiresGrad).toBe(true);
      expect(p.kept).toBe(true);
    }
    expect([...net.stateDict().keys()]).toEqual(net.namedParameters().map(([n]) => n));
    expect(net.stateDict().get('decoder.weight')).toBe(net.decoder.weight); // live tensors, not copies
    net.dispose();
    expect(net.parameters().every((p) => p.disposed)).toBe(true);
  });

  test('parameters survive tidy(); a module made inside tidy keeps its parameters', () => {
    const net = dg.tidy(() => new Net());
    expect(net.parameters().every((p) => !p.disposed)).toBe(true);
    net.dispose();
  });

  test('registering a name twice → DGC_ARG naming it', () => {
    class Dup extends dg.Module {
      constructor() {
        super();
        this.registerParameter('w', dg.ones([1]));
        this.registerModule('w', new dg.Linear(1, 1));
      }
    }
    let err: (Error & { code?: string }) | undefined;
    try {
      new Dup();
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).toBe('DGC_ARG');
    expect(err?.message).toMatch(/'w' is already registered/);
  });
});

describe('saveState / loadState / loadStateDict', () => {
  const bytesOf = (t: dg.Tensor): Buffer => {
    const d = t.data();
    return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  };

  test('round trip of a state dict is bit-exact, and loadStateDict copies it into a fresh module', () => {
    const net = new Net(1);
    const file = path.join(tmp, 'net.dgcstate');
    dg.saveState(file, net.stateDict());
    const loaded = dg.loadState(file);
    expect([...loaded.keys()]).toEqual(net.namedParameters().map(([n]) => n));
    for (const [name, p] of net.namedParameters()) {
      const t = loaded.get(name)!;
      expect(t.shape).toEqual(p.shape);
      expect(t.dtype).toBe('float32');
      expect(bytesOf(t).equals(bytesOf(p))).toBe(true);
    }
    const other = new Net(2);
    expect(bytesOf(other.decoder.weight).equals(bytesOf(net.decoder.weight))).toBe(false);
    other.loadStateDict(loaded);
    for (const [name, p] of other.namedParameters()) expect(bytesOf(p).equals(bytesOf(net.stateDict().get(name)!))).toBe(true);
    // The loaded values are copies: changing the source tensors later does not touch the module.
    const zeros = dg.zeros([4]);
    dg.native.copyInto(loaded.get('decoder.bias')!.handle, zeros.handle);
    zeros.dispose();
    expect(arr(other.decoder.bias)).toEqual(arr(net.decoder.bias));
    // Same outputs.
    const [y1, y2] = dg.tidy(() => {
      const x = dg.tensor([[1, 2, 3, 4], [-1, 0.5, 0, 2]]);
      return [net.forward(x), other.forward(x)];
    });
    expect(bytesOf(y1).equals(bytesOf(y2))).toBe(true);
    dg.dispose([y1, y2, [...loaded.values()]]);
    net.dispose();
    other.dispose();
  });

  test('special values (NaN payloads, ±0, ±Infinity, subnormals), int32, rank 0, empty tensors round-trip bit-exactly', () => {
    const f = new Float32Array(8);
    const u = new Uint32Array(f.buffer);
    u[0] = 0x7fc00001; // NaN with a payload
    u[1] = 0xffc12345; // negative NaN with a payload
    f[2] = -0;
    f[3] = Infinity;
    f[4] = -Infinity;
    u[5] = 0x00000001; // smallest subnormal
    f[6] = 3.4028234663852886e38;
    f[7] = -1.5;
    const state = new Map<string, dg.Tensor>([
      ['special', dg.tensor(f, [2, 4])],
      ['ints', dg.tensor(new Int32Array([-2147483648, 2147483647, 0, -1]), [4])],
      ['scalar', dg.scalar(42)],
      ['empty', dg.zeros([0, 3])],
      ['name with spaces/and.dots "quoted" é', dg.tensor([1])],
    ]);
    const file = path.join(tmp, 'special.dgcstate');
    dg.saveState(file, state);
    const back = dg.loadState(file);
    expect([...back.keys()]).toEqual([...state.keys()]);
    for (const [k, t] of state) {
      const b = back.get(k)!;
      expect({ k, shape: b.shape, dtype: b.dtype }).toEqual({ k, shape: t.shape, dtype: t.dtype });
      expect(bytesOf(b).equals(bytesOf(t))).toBe(true);
    }
    dg.dispose([[...state.values()], [...back.values()]]);
  });

  test('saveState leaves no temporary file behind, also when overwriting', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'save-'));
    const file = path.join(dir, 'model.dgcstate');
    const t = dg.tensor([1, 2, 3]);
    dg.saveState(file, [['t', t]]);
    expect(fs.readdirSync(dir)).toEqual(['model.dgcstate']);
    dg.saveState(file, [['t', t], ['u', t]]);
    expect(fs.readdirSync(dir)).toEqual(['model.dgcstate']);
    const back = dg.loadState(file);
    expect([...back.keys()]).toEqual(['t', 'u']);
    dg.dispose([t, [...back.values()]]);
  });

  // Regression (fixed) (lib/io/state.ts saveState): an iterable with the same name twice is written as is, and
  // loadState then refuses the file ("tensor 'w' appears twice"): saveState writes files its own reader rejects.
  test('saveState refuses a name given twice (instead of writing a file loadState rejects)', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'dup-'));
    const file = path.join(dir, 'dup.dgcstate');
    const a = dg.tensor([1]);
    const b = dg.tensor([2]);
    try {
      let err: (Error & { code?: string }) | undefined;
      try {
        dg.saveState(file, [['w', a], ['w', b]]);
      } catch (e) {
        err = e as Error & { code?: string };
      }
      expect(err?.code).toMatch(/^DGC_/);
      expect(err?.message).toMatch(/'w'/);
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      dg.dispose([a, b]);
    }
  });

  test('saveState into a missing folder → DGC_DATA naming the file, and no temporary file', () => {
    const t = dg.tensor([1]);
    const file = path.join(tmp, 'no-such-dir', 'm.dgcstate');
    let err: (Error & { code?: string }) | undefined;
    try {
      dg.saveState(file, [['t', t]]);
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).toBe('DGC_DATA');
    expect(err?.message).toContain(file);
    expect(fs.existsSync(path.dirname(file))).toBe(false);
    t.dispose();
  });

  test('saveState onto an existing folder (rename fails) → DGC_DATA, and the temporary file is removed', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'rename-'));
    const target = path.join(dir, 'model.dgcstate');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'keep.txt'), 'x'); // a non-empty folder cannot be replaced by a file
    const t = dg.tensor([1, 2]);
    let err: (Error & { code?: string }) | undefined;
    try {
      dg.saveState(target, [['t', t]]);
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).toBe('DGC_DATA');
    expect(err?.message).toContain(target);
    expect(fs.readdirSync(dir)).toEqual(['model.dgcstate']);
    expect(fs.readdirSync(target)).toEqual(['keep.txt']);
    t.dispose();
  });

  test('saveState of a disposed tensor → DGC_DISPOSED naming it, and nothing written', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'disposed-'));
    const t = dg.tensor([1]);
    t.dispose();
    expect(() => dg.saveState(path.join(dir, 'm'), [['gone', t]])).toThrow(/'gone' is disposed/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  describe('loadStateDict errors', () => {
    let net: Net;
    let state: Map<string, dg.Tensor>;
    beforeEach(() => {
      net = new Net(3);
      state = new Map([...new Net(4).stateDict()]);
    });
    afterEach(() => {
      net.dispose();
      dg.dispose([...state.values()]);
    });
    const caught = (f: () => void): Error & { code?: string } => {
      try {
        f();
      } catch (e) {
        return e as Error & { code?: string };
      }
      throw new Error('expected an error');
    };

    test('strict: a missing parameter → DGC_DATA naming it, and nothing is copied', () => {
      const before = arr(net.encoder.fc.weight);
      state.get('decoder.bias')!.dispose();
      state.delete('decoder.bias');
      const e = caught(() => net.loadStateDict(state));
      expect(e.code).toBe('DGC_DATA');
      expect(e.message).toMatch(/missing parameters \[decoder\.bias\]/);
      expect(arr(net.encoder.fc.weight)).toEqual(before);
    });

    test('strict: an unexpected parameter → DGC_DATA naming it', () => {
      state.set('encoder.extra', dg.ones([2]));
      const e = caught(() => net.loadStateDict(state));
      expect(e.code).toBe('DGC_DATA');
      expect(e.message).toMatch(/unexpected \[encoder\.extra\]/);
    });

    test('a shape mismatch → DGC_SHAPE naming the parameter and both shapes', () => {
      state.get('encoder.fc.weight')!.dispose();
      state.set('encoder.fc.weight', dg.zeros([4, 3]));
      const e = caught(() => net.loadStateDict(state));
      expect(e.code).toBe('DGC_SHAPE');
      expect(e.message).toMatch(/'encoder\.fc\.weight'/);
      expect(e.message).toMatch(/\[4,3\]/);
      expect(e.message).toMatch(/\[3,4\]/);
    });

    test('non-strict: missing and unexpected names are ignored, present ones are loaded', () => {
      state.get('decoder.bias')!.dispose();
      state.delete('decoder.bias');
      state.set('junk', dg.ones([1]));
      const biasBefore = arr(net.decoder.bias);
      net.loadStateDict(state, { strict: false });
      expect(arr(net.decoder.weight)).toEqual(arr(state.get('decoder.weight')));
      expect(arr(net.decoder.bias)).toEqual(biasBefore);
    });

    // Regression (fixed) (lib/nn/module.ts loadStateDict): only shapes are compared, so an int32 tensor of the right
    // shape reaches native.copyInto, whose error is "copyInto: 'dst' is float32[4] on cpu but 'src' is int32[4]
    // on cpu" (DGC_SHAPE): it does not name the parameter, although loadStateDict promises that "the error
    // names the parameter at fault".
    test('a dtype mismatch (int32 state for a float32 parameter) → an error naming the parameter', () => {
      state.get('decoder.bias')!.dispose();
      state.set('decoder.bias', dg.tensor(new Int32Array([1, 2, 3, 4])));
      const e = caught(() => net.loadStateDict(state));
      expect(e.code).toMatch(/^DGC_(DTYPE|SHAPE|DATA)$/);
      expect(e.message).toMatch(/'decoder\.bias'/);
    });

    test('non-strict: a shape mismatch is still an error', () => {
      state.get('encoder.scale')!.dispose();
      state.set('encoder.scale', dg.ones([5]));
      expect(caught(() => net.loadStateDict(state, { strict: false })).code).toBe('DGC_SHAPE');
    });
  });

  describe('loadState on damaged files → DGC_DATA naming the file, and no leaked tensors', () => {
    let good: Buffer;
    let file: string;
    beforeAll(() => {
      file = path.join(tmp, 'good.dgcstate');
      const a = dg.tensor([1, 2, 3, 4]);
      const b = dg.tensor([[5, 6], [7, 8]]);
      dg.saveState(file, [['a', a], ['b', b]]);
      dg.dispose([a, b]);
      good = fs.readFileSync(file);
    });

    const withHeader = (json: string, dataBytes = 128): Buffer => {
      const h = Buffer.from(json, 'utf8');
      const pre = Buffer.alloc(16);
      pre.write('DGCSTATE', 0, 'ascii');
      pre.writeUInt32LE(1, 8);
      pre.writeUInt32LE(h.length, 12);
      return Buffer.concat([pre, h, Buffer.alloc(dataBytes)]);
    };

    function expectDataError(name: string, bytes: Buffer, why: RegExp): void {
      const p = path.join(tmp, name);
      fs.writeFileSync(p, bytes);
      const before = dg.memory();
      let err: (Error & { code?: string }) | undefined;
      try {
        dg.loadState(p);
      } catch (e) {
        err = e as Error & { code?: string };
      }
      expect({ code: err?.code, namesFile: err?.message.includes(p) }).toEqual({ code: 'DGC_DATA', namesFile: true });
      expect(err!.message).toMatch(why);
      expect(dg.memory().tensors).toBe(before.tensors);
    }

    test('the intact file loads', () => {
      const m = dg.loadState(file);
      expect(m.get('b')!.toArray()).toEqual([[5, 6], [7, 8]]);
      dg.dispose([...m.values()]);
    });
    test('truncated in the middle of the second tensor', () => {
      expectDataError('trunc-data.dgcstate', good.subarray(0, good.length - 4), /truncated|past the end/);
    });
    test('truncated inside the JSON header', () => {
      expectDataError('trunc-header.dgcstate', good.subarray(0, 30), /header|past the end/);
    });
    test('truncated to 10 bytes', () => {
      expectDataError('trunc-10.dgcstate', good.subarray(0, 10), /magic|short|truncated/);
    });
    test('empty file', () => {
      expectDataError('empty.dgcstate', Buffer.alloc(0), /magic|short|truncated|empty/);
    });
    test('bad magic bytes', () => {
      const b = Buffer.from(good);
      b.write('NOTSTATE', 0, 'ascii');
      expectDataError('magic.dgcstate', b, /magic/);
    });
    test('unsupported format version', () => {
      const b = Buffer.from(good);
      b.writeUInt32LE(99, 8);
      expectDataError('version.dgcstate', b, /version 99/);
    });
    test('garbage JSON header', () => {
      expectDataError('garbage.dgcstate', withHeader('{"tensors": [ {"name": "a", '), /JSON/);
    });
    test('JSON header without a tensor list', () => {
      expectDataError('nolist.dgcstate', withHeader('{"things": []}'), /tensor list/);
    });
    test('an entry whose byte count does not match its shape', () => {
      expectDataError('nbytes.dgcstate', withHeader('{"tensors":[{"name":"w","dtype":"float32","shape":[2,2],"offset":0,"nbytes":8}]}'), /'w'/);
    });
    test('an entry with an unknown dtype', () => {
      expectDataError('dtype.dgcstate', withHeader('{"tensors":[{"name":"w","dtype":"float64","shape":[1],"offset":0,"nbytes":8}]}'), /malformed/);
    });
    test('the same name twice', () => {
      const e = '{"name":"w","dtype":"float32","shape":[1],"offset":0,"nbytes":4}';
      expectDataError('twice.dgcstate', withHeader(`{"tensors":[${e},${e}]}`), /'w' appears twice/);
    });
    // Regression (fixed) (lib/io/state.ts loadState): entries are only partly validated. A null entry makes
    // `e.name` throw a TypeError (no code, no file name), and a shape with negative or fractional
    // dimensions whose product still matches nbytes (e.g. [-1, -2] with 8 bytes) reaches
    // native.fromTypedArray, which throws DGC_SHAPE "tensor: argument 'shape'[0] ..." without naming the file.
    test('a null tensor entry (bug: TypeError instead of DGC_DATA)', () => {
      expectDataError('null-entry.dgcstate', withHeader('{"tensors":[null]}'), /malformed/);
    });
    test('an entry with negative dimensions whose product matches nbytes (bug: DGC_SHAPE without the file name)', () => {
      expectDataError('negdims.dgcstate', withHeader('{"tensors":[{"name":"w","dtype":"float32","shape":[-1,-2],"offset":0,"nbytes":8}]}'), /'w'/);
    });
    test('a file that does not exist → DGC_DATA naming it', () => {
      const p = path.join(tmp, 'missing.dgcstate');
      let err: (Error & { code?: string }) | undefined;
      try {
        dg.loadState(p);
      } catch (e) {
        err = e as Error & { code?: string };
      }
      expect(err?.code).toBe('DGC_DATA');
      expect(err?.message).toContain(p);
    });
  });
});

// ---- optimizers vs reference arithmetic ------------------------------------------------------------------

interface AdamRefOpts { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; decoupled: boolean }

/** torch.optim.Adam / AdamW, in double precision. */
function adamReference(p0: number[], grads: number[][], o: AdamRefOpts): number[][] {
  const p = p0.slice();
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  const out: number[][] = [];
  grads.forEach((g0, s) => {
    const t = s + 1;
    for (let i = 0; i < p.length; i++) {
      let g = g0[i];
      if (o.decoupled) p[i] *= 1 - o.lr * o.weightDecay;
      else g += o.weightDecay * p[i];
      m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
      v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
      const bc1 = 1 - Math.pow(o.beta1, t);
      const bc2 = 1 - Math.pow(o.beta2, t);
      p[i] -= (o.lr / bc1) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + o.eps);
    }
    out.push(p.slice());
  });
  return out;
}

/** torch.optim.SGD (no dampening, no Nesterov), in double precision. */
function sgdReference(p0: number[], grads: number[][], lr: number, momentum: number, weightDecay: number): number[][] {
  const p = p0.slice();
  let buf: number[] | null = null;
  const out: number[][] = [];
  for (const g0 of grads) {
    let g = g0.map((gi, i) => gi + weightDecay * p[i]);
    if (momentum > 0) {
      buf = buf ? buf.map((b, i) => momentum * b + g[i]) : g.slice();
      g = buf;
    }
    for (let i = 0; i < p.length; i++) p[i] -= lr * g[i];
    out.push(p.slice());
  }
  return out;
}

const P0 = [0.5, -1.25, 2, 0.125, -0.75, 1];
const GRADS = [
  [0.1, -0.2, 0.3, -0.4, 0.5, -0.6],
  [0.3, 0.1, -0.2, 0.05, -0.5, 0.2],
  [-0.25, 0.4, 0.15, 0.6, 0.2, -0.1],
  [0.05, -0.35, -0.45, 0.1, 0.3, 0.7],
  [0.2, 0.2, 0.2, -0.2, -0.2, -0.2],
];

function setGrad(p: dg.Tensor, g: number[]): void {
  if (p.grad) p.grad.dispose();
  p.grad = dg.keep(dg.tensor(g, p.shape));
}

describe('Adam vs torch.optim.Adam arithmetic (5 steps, fixed gradients, 1e-6)', () => {
  const variants: [string, dg.AdamOptions][] = [
    ['defaults (lr 1e-3)', {}],
    ['lr 0.05', { lr: 0.05 }],
    ['lr 0.05, betas (0.8, 0.99), eps 1e-6', { lr: 0.05, betas: [0.8, 0.99], eps: 1e-6 }],
    ['lr 0.05, weightDecay 0.1 (L2 in the gradient)', { lr: 0.05, weightDecay: 0.1 }],
    ['lr 0.05, weightDecay 0.1, decoupled (AdamW)', { lr: 0.05, weightDecay: 0.1, decoupled: true }],
    ['lr 0.01, weightDecay 0.5, decoupled, betas (0.5, 0.9)', { lr: 0.01, weightDecay: 0.5, decoupled: true, betas: [0.5, 0.9] }],
  ];

  test.each(variants)('%s', (_name, opts) => {
    const p = dg.parameter(dg.tensor(P0, [2, 3]));
    const opt = new dg.Adam([p], opts);
    const want = adamReference(P0, GRADS, {
      lr: opts.lr ?? 1e-3,
      beta1: opts.betas?.[0] ?? 0.9,
      beta2: opts.betas?.[1] ?? 0.999,
      eps: opts.eps ?? 1e-8,
      weightDecay: opts.weightDecay ?? 0,
      decoupled: opts.decoupled ?? false,
    });
    GRADS.forEach((g, s) => {
      setGrad(p, g);
      opt.step();
      expectClose(arr(p), want[s], 1e-6, `after step ${s + 1}`);
    });
    opt.dispose();
    p.dispose();
  });

  test('per-parameter step counts: a parameter without a gradient is skipped and starts its bias correction later', () => {
    const a = dg.parameter(dg.tensor(P0));
    const b = dg.parameter(dg.tensor(P0));
    const opt = new dg.Adam([a, b], { lr: 0.05 });
    const ref = { lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false };
    const wantA = adamReference(P0, GRADS, ref);
    const wantB = adamReference(P0, GRADS.slice(2), ref); // b gets gradients from step 3 on
    GRADS.forEach((g, s) => {
      setGrad(a, g);
      if (s >= 2) setGrad(b, g);
      opt.step();
      expectClose(arr(a), wantA[s], 1e-6, `a after step ${s + 1}`);
      if (s < 2) expect(arr(b)).toEqual(Array.from(Float32Array.from(P0)));
      else expectClose(arr(b), wantB[s - 2], 1e-6, `b after step ${s + 1}`);
    });
    opt.dispose();
    dg.dispose([a, b]);
  });

  test('zeroGrad frees the gradients; step() without gradients changes nothing', () => {
    const p = dg.parameter(dg.tensor(P0));
    const opt = new dg.Adam([p], { lr: 0.1 });
    setGrad(p, GRADS[0]);
    const g = p.grad!;
    opt.zeroGrad();
    expect(g.disposed).toBe(true);
    expect(p.grad).toBeNull();
    opt.step();
    expect(arr(p)).toEqual(Array.from(Float32Array.from(P0)));
    opt.dispose();
    p.dispose();
  });

  test('dispose() frees the optimizer state (m and v per parameter)', () => {
    const p = dg.parameter(dg.tensor(P0));
    const before = dg.memory().tensors;
    const opt = new dg.Adam([p], { lr: 0.1 });
    setGrad(p, GRADS[0]);
    opt.step();
    expect(dg.memory().tensors).toBe(before + 1 + 2); // the grad + m + v
    opt.dispose();
    opt.zeroGrad();
    expect(dg.memory().tensors).toBe(before);
    p.dispose();
  });
});

describe('SGD vs torch.optim.SGD arithmetic (5 steps, fixed gradients, 1e-6)', () => {
  const variants: [string, dg.SgdOptions][] = [
    ['plain, lr 0.1', { lr: 0.1 }],
    ['weightDecay 0.05', { lr: 0.1, weightDecay: 0.05 }],
    ['momentum 0.9', { lr: 0.1, momentum: 0.9 }],
    ['momentum 0.5, weightDecay 0.2', { lr: 0.05, momentum: 0.5, weightDecay: 0.2 }],
  ];
  test.each(variants)('%s', (_name, opts) => {
    const p = dg.parameter(dg.tensor(P0, [3, 2]));
    const opt = new dg.SGD([p], opts);
    const want = sgdReference(P0, GRADS, opts.lr, opts.momentum ?? 0, opts.weightDecay ?? 0);
    GRADS.forEach((g, s) => {
      setGrad(p, g);
      opt.step();
      expectClose(arr(p), want[s], 1e-6, `after step ${s + 1}`);
    });
    opt.dispose();
    p.dispose();
  });

  test('optimizers train end to end: Linear regression loss falls with Adam and with SGD+momentum', () => {
    for (const make of [(ps: dg.Tensor[]) => new dg.Adam(ps, { lr: 0.05 }), (ps: dg.Tensor[]) => new dg.SGD(ps, { lr: 0.05, momentum: 0.9 })]) {
      const gen = new dg.Generator(12);
      const lin = new dg.Linear(3, 1, { generator: gen });
      const x = dg.keep(gen.normal([32, 3]));
      const y = dg.keep(dg.tidy(() => dg.affine(dg.matmul(x, dg.tensor([[1], [-2], [0.5]])), 1, 0.3)));
      const opt = make(lin.parameters());
      const lossAt = (): number =>
        dg.tidy(() => {
          const l = dg.mse(lin.forward(x), y);
          dg.backward(l);
          opt.step();
          opt.zeroGrad();
          return l.item();
        });
      const first = lossAt();
      let last = first;
      for (let i = 0; i < 200; i++) last = lossAt();
      expect(last).toBeLessThan(first * 0.01);
      opt.dispose();
      lin.dispose();
      dg.dispose([x, y]);
    }
  });
});
