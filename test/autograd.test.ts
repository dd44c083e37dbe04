// The autograd tape: accumulation, shared inputs, pass-through gradients, noGrad, graph cutting and freeing,
// deep graphs, detach, explicit gradOutput; and a finite-difference check of every differentiable op.
import * as dg from '../lib';
import { prng, settleNativeGarbage } from './helpers/data';

beforeAll(async () => {
  await settleNativeGarbage();
});

const live = (): { tensors: number; bytes: number } => {
  const m = dg.memory();
  return { tensors: m.tensors, bytes: m.bytes };
};
const arr = (t: dg.Tensor | null): number[] => Array.from(t!.dataF32());

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-5): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= tol * Math.max(1, Math.abs(want[i])))) {
      throw new Error(`element ${i}: got ${got[i]}, want ${want[i]} (|err| ${err} > tol ${tol})\n got  [${Array.from(got)}]\n want [${Array.from(want)}]`);
    }
  }
}

describe('gradient accumulation', () => {
  test('two backward() calls add their gradients into .grad', () => {
    const p = dg.parameter(dg.tensor([1, 2, 3]));
    dg.tidy(() => dg.backward(dg.sum(dg.scale(p, 3)))); // d/dp = 3
    expect(arr(p.grad)).toEqual([3, 3, 3]);
    const firstGrad = p.grad!;
    dg.tidy(() => dg.backward(dg.sum(dg.mul(p, p)))); // d/dp = 2p
    expect(arr(p.grad)).toEqual([5, 7, 9]);
    expect(firstGrad.disposed).toBe(true); // replaced by the sum, not leaked
    expect(p.grad!.kept).toBe(true);
    dg.zeroGrad([p]);
    expect(p.grad).toBeNull();
    dg.tidy(() => dg.backward(dg.sum(p)));
    expect(arr(p.grad)).toEqual([1, 1, 1]);
    p.dispose();
  });

  test('.grad survives the tidy() that ran backward', () => {
    const p = dg.parameter(dg.tensor([2]));
    dg.tidy(() => dg.backward(dg.sum(dg.square(p))));
    expect(p.grad!.disposed).toBe(false);
    expect(arr(p.grad)).toEqual([4]);
    p.dispose();
  });
});

describe('a tensor used more than once gets the summed gradient', () => {
  test('x*x → 2x', () => {
    const x = dg.parameter(dg.tensor([1, -2, 3]));
    dg.tidy(() => dg.backward(dg.sum(dg.mul(x, x))));
    expect(arr(x.grad)).toEqual([2, -4, 6]);
    x.dispose();
  });

  test('add(x, x) → 2', () => {
    const x = dg.parameter(dg.tensor([1, -2, 3]));
    dg.tidy(() => dg.backward(dg.sum(dg.add(x, x))));
    expect(arr(x.grad)).toEqual([2, 2, 2]);
    x.dispose();
  });

  test('sub(x, x) → 0 and div(x, x) → 0', () => {
    const x = dg.parameter(dg.tensor([1, -2, 3]));
    dg.tidy(() => dg.backward(dg.sum(dg.sub(x, x))));
    expect(arr(x.grad)).toEqual([0, 0, 0]);
    dg.zeroGrad([x]);
    dg.tidy(() => dg.backward(dg.sum(dg.div(x, x))));
    expectClose(arr(x.grad), [0, 0, 0], 1e-6);
    x.dispose();
  });

  test('diamond: a = 2x, b = 3x, loss = Σ a∘b = Σ 6x² → 12x', () => {
    const x = dg.parameter(dg.tensor([1, 2, -1]));
    dg.tidy(() => {
      const a = dg.scale(x, 2);
      const b = dg.scale(x, 3);
      dg.backward(dg.sum(dg.mul(a, b)));
    });
    expect(arr(x.grad)).toEqual([12, 24, -12]);
    x.dispose();
  });

  test('diamond through a shared intermediate: h = tanh(x), loss = Σ (h∘h + h) → (2h + 1)(1 − h²)', () => {
    const xs = [0.3, -0.7, 1.2];
    const x = dg.parameter(dg.tensor(xs));
    dg.tidy(() => {
      const h = dg.tanh(x);
      dg.backward(dg.sum(dg.add(dg.mul(h, h), h)));
    });
    expectClose(arr(x.grad), xs.map((v) => { const h = Math.tanh(v); return (2 * h + 1) * (1 - h * h); }), 1e-5);
    x.dispose();
  });

  test('concatCols([p, p]) and gatherRows with repeated rows sum the pieces', () => {
    const p = dg.parameter(dg.tensor([[1, 2], [3, 4], [5, 6]]));
    dg.tidy(() => {
      const c = dg.concatCols([p, p]); // [3, 4]
      const idx = dg.tensor(new Int32Array([2, 0, 2, 2]));
      const g = dg.gatherRows(c, idx); // rows 2, 0, 2, 2
      dg.backward(dg.sum(g));
    });
    // Row 0 gathered once, row 1 never, row 2 three times; each column appears twice (concat of p with itself).
    expect(p.grad!.toArray()).toEqual([[2, 2], [0, 0], [6, 6]]);
    p.dispose();
  });
});

describe('pass-through gradients shared by several parameters', () => {
  test('add(p1, p2): each parameter gets its own gradient tensor; disposing p1.grad leaves p2.grad valid', () => {
    const p1 = dg.parameter(dg.tensor([1, 2]));
    const p2 = dg.parameter(dg.tensor([3, 4]));
    dg.tidy(() => dg.backward(dg.sum(dg.mul(dg.add(p1, p2), dg.tensor([5, 7])))));
    expect(p1.grad).not.toBe(p2.grad);
    expect(arr(p1.grad)).toEqual([5, 7]);
    expect(arr(p2.grad)).toEqual([5, 7]);
    p1.grad!.dispose();
    expect(p2.grad!.disposed).toBe(false);
    expect(arr(p2.grad)).toEqual([5, 7]);
    dg.dispose([p1, p2]);
  });

  test('add(add(p1, p2), p3) and biasAdd(x, b): distinct gradients that are not views of each other', () => {
    const p1 = dg.parameter(dg.tensor([[1, 2]]));
    const p2 = dg.parameter(dg.tensor([[3, 4]]));
    const p3 = dg.parameter(dg.tensor([[5, 6]]));
    const b = dg.parameter(dg.tensor([0, 0]));
    const before = live();
    dg.tidy(() => dg.backward(dg.sum(dg.biasAdd(dg.add(dg.add(p1, p2), p3), b))));
    const grads = [p1.grad!, p2.grad!, p3.grad!, b.grad!];
    expect(new Set(grads).size).toBe(4);
    // Four new buffers: none of the gradients shares storage with another (or with a freed intermediate).
    expect(live().tensors).toBe(before.tensors + 4);
    for (let i = 0; i < 3; i++) {
      grads[i].dispose();
      for (const g of grads.slice(i + 1)) expect(arr(g)).toEqual([1, 1]);
    }
    dg.dispose([p1, p2, p3, b]);
  });

  test('a later optimizer step on one parameter does not change the other parameter’s gradient', () => {
    const p1 = dg.parameter(dg.tensor([1, 2]));
    const p2 = dg.parameter(dg.tensor([3, 4]));
    dg.tidy(() => dg.backward(dg.sum(dg.add(p1, p2))));
    const sgd = new dg.SGD([p1], { lr: 0.5 });
    sgd.step();
    expect(arr(p1)).toEqual([0.5, 1.5]);
    expect(arr(p2.grad)).toEqual([1, 1]);
    expect(arr(p2)).toEqual([3, 4]);
    sgd.dispose();
    dg.dispose([p1, p2]);
  });
});

describe('noGrad()', () => {
  test('records nothing: outputs do not require grad and have no gradFn', () => {
    const p = dg.parameter(dg.tensor([1, 2]));
    const before = dg.isRecording();
    const outs = dg.noGrad(() => {
      expect(dg.isRecording()).toBe(false);
      const a = dg.mul(p, p);
      const b = dg.relu(a);
      const c = dg.sum(b);
      return [a, b, c];
    });
    expect(dg.isRecording()).toBe(before);
    for (const t of outs) {
      expect(t.requiresGrad).toBe(false);
      expect(t.gradFn).toBeNull();
    }
    dg.dispose([outs, p]);
  });

  test('nests, and restores recording even when the function throws', () => {
    expect(dg.isRecording()).toBe(true);
    dg.noGrad(() => {
      dg.noGrad(() => expect(dg.isRecording()).toBe(false));
      expect(dg.isRecording()).toBe(false);
    });
    expect(() => dg.noGrad(() => { throw new Error('x'); })).toThrow('x');
    expect(dg.isRecording()).toBe(true);
  });

  test('ops outside noGrad record: requiresGrad true and a gradFn named after the op', () => {
    const p = dg.parameter(dg.tensor([1, 2]));
    const y = dg.tidy(() => dg.mul(p, p));
    expect(y.requiresGrad).toBe(true);
    expect(y.gradFn?.name).toBe('mul');
    expect(y.gradFn?.inputs).toEqual([p, p]);
    dg.dispose([y, p]);
  });

  test('ops on tensors that do not require grad record nothing', () => {
    const x = dg.tensor([1, 2]);
    const y = dg.mul(x, x);
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    dg.dispose([x, y]);
  });
});

describe('after backward the graph is cut and freed', () => {
  test('gradFn is null on every recorded tensor; only the new .grad buffers remain', () => {
    const w = dg.parameter(dg.tensor([[0.5, -1], [2, 0.25]]));
    const b = dg.parameter(dg.tensor([0.1, -0.2]));
    const x = dg.tensor([[1, 2], [3, 4], [-1, 0.5]]);
    // Outside tidy on purpose: any intermediate the tape forgot to free would show in the count.
    const h = dg.biasAdd(dg.matmul(x, w), b);
    const a = dg.tanh(h);
    const s = dg.softmax(a);
    const loss = dg.mean(dg.square(s));
    const intermediates = [h, a, s, loss];
    for (const t of intermediates) expect(t.gradFn).not.toBeNull();
    const before = live();
    dg.backward(loss);
    for (const t of intermediates) expect(t.gradFn).toBeNull();
    expect(live().tensors).toBe(before.tensors + 2); // w.grad and b.grad, nothing else
    expect(live().bytes).toBe(before.bytes + 4 * (4 + 2));
    dg.dispose([intermediates, x, w, b]);
  });

  test('with existing gradients, accumulation adds no buffer', () => {
    const p = dg.parameter(dg.tensor([1, 2, 3]));
    dg.tidy(() => dg.backward(dg.sum(dg.mul(p, p))));
    const before = live();
    const loss = dg.sum(dg.exp(p));
    const afterForward = live();
    dg.backward(loss);
    expect(live()).toEqual(afterForward); // the old grad was replaced by the sum, intermediates freed
    loss.dispose();
    // exp output and the sum: both freed now; only p and p.grad remain as before.
    expect(live().tensors).toBeLessThanOrEqual(before.tensors + 1);
    p.dispose();
  });

  test('a backward that fails (an input freed by an inner tidy) throws DGC_DISPOSED and still cuts the graph', () => {
    const p = dg.parameter(dg.tensor([1, 2]));
    const y = dg.tidy(() => {
      const a = dg.exp(p); // freed when this tidy ends, but mul's backward needs it
      return dg.mul(a, a);
    });
    const loss = dg.sum(y);
    let code: unknown;
    try {
      dg.tidy(() => dg.backward(loss)); // tidy: whatever the failed backward left behind is freed here
    } catch (e) {
      code = (e as { code?: unknown }).code;
    }
    expect(code).toBe('DGC_DISPOSED');
    expect(y.gradFn).toBeNull();
    expect(loss.gradFn).toBeNull();
    expect(p.grad).toBeNull();
    dg.dispose([p, y, loss]);
  });

  test('backward with gradOutput leaves gradOutput untouched and alive', () => {
    const p = dg.parameter(dg.tensor([1, 2, 3]));
    const y = dg.scale(p, 3);
    const g = dg.tensor([1, 10, 100]);
    dg.backward(y, g);
    expect(g.disposed).toBe(false);
    expect(arr(g)).toEqual([1, 10, 100]);
    dg.dispose([p, y, g]);
  });
});

describe('backward with freeIntermediates', () => {
  // One graph with the cases that matter: a shared intermediate (h feeds two ops), ops whose backward reads
  // their own output (tanh, sigmoid, softmax) or an input (mul, matmul), a pass-through gradient (biasAdd).
  const build = (w: dg.Tensor, b: dg.Tensor, x: dg.Tensor) => {
    const h = dg.tanh(dg.biasAdd(dg.matmul(x, w), b));
    const s = dg.softmax(dg.mul(h, dg.sigmoid(h)));
    const loss = dg.mean(dg.square(dg.sub(s, h)));
    return { h, s, loss };
  };
  const params = () => [dg.parameter(dg.tensor([[0.5, -1, 0.3], [2, 0.25, -0.7]])), dg.parameter(dg.tensor([0.1, -0.2, 0.05]))];
  const x = () => dg.tensor([[1, 2], [3, 4], [-1, 0.5], [0.2, -0.3]]);

  test('gives bit-identical gradients, frees the intermediates, and leaves the loss, leaves and kept tensors alone', () => {
    const [w0, b0] = params();
    const [w1, b1] = params();
    const x0 = x();
    dg.tidy(() => dg.backward(build(w0, b0, x0).loss));
    const f = build(w1, b1, x0);
    const kept = dg.keep(f.s);
    dg.backward(f.loss, undefined, { freeIntermediates: true });
    expect(arr(w1.grad)).toEqual(arr(w0.grad));
    expect(arr(b1.grad)).toEqual(arr(b0.grad));
    expect(f.h.disposed).toBe(true);
    expect(kept.disposed).toBe(false);
    expect(kept.dataF32().length).toBe(12);
    expect(f.loss.disposed).toBe(false);
    expect(Number.isFinite(f.loss.item())).toBe(true);
    for (const t of [w1, b1, x0]) expect(t.disposed).toBe(false);
    expect(() => f.h.dataF32()).toThrow(/dispos/i);
    dg.dispose([w0, b0, w1, b1, x0, kept, f.loss, f.h]);
  });

  test('lowers the backward peak: late activations are gone before an early layer\'s large gradient is made', () => {
    // p [n, 2048] → h = p W1 [n, 8] → b = h W2 [n, 512] → loss = Σ sigmoid(b). Backward makes p's gradient
    // (n × 2048) last; by then b and sigmoid(b) (two n × 512 tensors) are no longer read.
    const n = 256;
    const rnd = prng(7);
    const mk = (r: number, c: number) => dg.tensor(Array.from({ length: r * c }, () => rnd() - 0.5), [r, c]);
    const p = dg.parameter(mk(n, 2048));
    const w1 = mk(2048, 8);
    const w2 = mk(8, 512);
    const peakOf = (freeIntermediates: boolean): number => {
      dg.zeroGrad([p]);
      return dg.tidy(() => {
        const loss = dg.sum(dg.sigmoid(dg.matmul(dg.matmul(p, w1), w2)));
        dg.resetPeakMemory();
        dg.backward(loss, undefined, { freeIntermediates });
        return dg.memory().peakBytes;
      });
    };
    const keepAll = peakOf(false);
    const gradKeep = arr(p.grad);
    const freeEarly = peakOf(true);
    expect(arr(p.grad)).toEqual(gradKeep);
    expect(keepAll - freeEarly).toBeGreaterThanOrEqual(2 * n * 512 * 4);
    dg.zeroGrad([p]);
    dg.dispose([p, w1, w2]);
  });
});

describe('error path of backward', () => {
  // The buffer this bug leaks becomes garbage; collect it before later tests compare live counts.
  afterAll(async () => {
    await settleNativeGarbage();
  });

  // Regression (fixed) (lib/autograd/tape.ts backward): the gradient being processed is deleted from `grads` before
  // node.backward(g) runs, and the error-path cleanup in `finally` only frees what is still in `grads`; so when a
  // node's backward throws, its incoming gradient (here the [2] tensor from sum's backward) is never freed
  // (outside tidy() it stays alive until GC: one buffer leaks per failed backward).
  test('a backward that fails frees every gradient it made (no leaked buffer outside tidy)', () => {
    const start = live();
    const p = dg.parameter(dg.tensor([1, 2]));
    const y = dg.tidy(() => {
      const a = dg.exp(p);
      return dg.mul(a, a);
    });
    const loss = dg.sum(y);
    expect(() => dg.backward(loss)).toThrow(/disposed/);
    dg.dispose([p, y, loss]);
    expect(live()).toEqual(start);
  });
});

describe('deep graphs', () => {
  test('backward through a chain of 5,000 ops (add with a shared parameter) does not overflow the stack', () => {
    const x = dg.parameter(dg.tensor([1, 2]));
    const p = dg.parameter(dg.tensor([0.5, 0.25]));
    const before = live();
    dg.tidy(() => {
      let y = x;
      for (let i = 0; i < 5000; i++) y = dg.add(y, p);
      dg.backward(dg.sum(y));
    });
    expect(arr(x.grad)).toEqual([1, 1]);
    expect(arr(p.grad)).toEqual([5000, 5000]);
    expect(live().tensors).toBe(before.tensors + 2);
    dg.dispose([x, p]);
  });

  test('a chain of 5,000 mixed unary ops gives the chain-rule product', () => {
    const x = dg.parameter(dg.tensor([0.3]));
    dg.tidy(() => {
      let y: dg.Tensor = x;
      for (let i = 0; i < 2500; i++) y = dg.affine(dg.leakyRelu(y, 0.5), 1.0001, 0);
      dg.backward(dg.sum(y));
    });
    // x > 0 throughout, so each step multiplies the gradient by 1.0001.
    expectClose(arr(x.grad), [Math.pow(1.0001, 2500)], 1e-4);
    x.dispose();
  });
});

describe('detach()', () => {
  test('stops gradients: Σ detach(p∘p)∘p has gradient p² (not 3p²)', () => {
    const p = dg.parameter(dg.tensor([1, 2, 3]));
    dg.tidy(() => {
      const d = dg.detach(dg.mul(p, p));
      expect(d.requiresGrad).toBe(false);
      expect(d.gradFn).toBeNull();
      dg.backward(dg.sum(dg.mul(d, p)));
    });
    expect(arr(p.grad)).toEqual([1, 4, 9]);
    p.dispose();
  });

  test('detach is a copy: later changes to the source do not show', () => {
    const p = dg.parameter(dg.tensor([1, 2]));
    const d = dg.detach(p);
    const sgd = new dg.SGD([p], { lr: 1 });
    dg.tidy(() => dg.backward(dg.sum(p)));
    sgd.step();
    expect(arr(p)).toEqual([0, 1]);
    expect(arr(d)).toEqual([1, 2]);
    sgd.dispose();
    dg.dispose([p, d]);
  });
});

describe('explicit gradOutput for a non-scalar output', () => {
  test('y = 3p with gradOutput g → p.grad = 3g', () => {
    const p = dg.parameter(dg.tensor([1, 2, 3]));
    dg.tidy(() => dg.backward(dg.scale(p, 3), dg.tensor([1, -1, 0.5])));
    expect(arr(p.grad)).toEqual([3, -3, 1.5]);
    p.dispose();
  });

  test('Y = X W with gradOutput G → W.grad = Xᵀ G', () => {
    const X = [[1, 2], [3, 4], [5, 6]];
    const G = [[1, 0, -1], [0.5, 2, 1], [-1, 1, 3]];
    const W = dg.parameter(dg.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]));
    dg.tidy(() => dg.backward(dg.matmul(dg.tensor(X), W), dg.tensor(G)));
    const want: number[] = [];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) want.push(X.reduce((s, row, k) => s + row[i] * G[k][j], 0));
    expectClose(arr(W.grad), want, 1e-6);
    W.dispose();
  });
});

// ---- finite-difference check of every differentiable op ------------------------------------------------

describe('gradients agree with central finite differences', () => {
  const rand = prng(7);
  /** Values in ±[0.2, 1.2] (away from relu's kink) or in [lo, hi] when given. */
  const values = (n: number, lo?: number, hi?: number): Float32Array =>
    Float32Array.from({ length: n }, () =>
      lo !== undefined ? lo + (hi! - lo) * rand() : (rand() < 0.5 ? -1 : 1) * (0.2 + rand()),
    );
  const size = (s: number[]): number => s.reduce((a, b) => a * b, 1);

  /**
   * Checks d(Σ f(xs)∘R)/dxs for a fixed random R against central differences (float32 forward, so tolerances
   * are loose: 2% of max(1, |g|)).
   */
  function gradCheck(inputs: { shape: number[]; data?: Float32Array; grad?: boolean }[], f: (xs: dg.Tensor[]) => dg.Tensor): void {
    const datas = inputs.map((i) => i.data ?? values(size(i.shape)));
    const outShape = dg.tidy(() => dg.noGrad(() => f(datas.map((d, k) => dg.tensor(d, inputs[k].shape))).shape.slice()));
    const R = values(size(outShape));
    const lossOf = (ts: dg.Tensor[]): dg.Tensor => {
      const y = f(ts);
      return y.size === 1 ? dg.sum(dg.mul(dg.reshape(y, [1]), dg.tensor(R.slice(0, 1)))) : dg.sum(dg.mul(y, dg.tensor(R, outShape)));
    };
    const params = datas.map((d, k) => (inputs[k].grad === false ? dg.tensor(d, inputs[k].shape) : dg.parameter(dg.tensor(d, inputs[k].shape))));
    try {
      checkAgainstNumeric(params, datas, inputs, lossOf);
    } finally {
      dg.dispose(params);
    }
  }

  function checkAgainstNumeric(
    params: dg.Tensor[],
    datas: Float32Array[],
    inputs: { shape: number[]; grad?: boolean }[],
    lossOf: (ts: dg.Tensor[]) => dg.Tensor,
  ): void {
    dg.tidy(() => dg.backward(lossOf(params)));
    const evalAt = (k: number, j: number, delta: number): number =>
      dg.tidy(() =>
        dg.noGrad(() => {
          const ts = datas.map((d, i) => {
            const c = Float32Array.from(d);
            if (i === k) c[j] += delta;
            return dg.tensor(c, inputs[i].shape);
          });
          return lossOf(ts).item();
        }),
      );
    const eps = 1e-2;
    for (let k = 0; k < inputs.length; k++) {
      if (inputs[k].grad === false) continue;
      const analytic = arr(params[k].grad);
      const numeric = Array.from(datas[k], (_, j) => (evalAt(k, j, eps) - evalAt(k, j, -eps)) / (2 * eps));
      try {
        expectClose(analytic, numeric, 2e-2);
      } catch (e) {
        throw new Error(`input ${k}: ${(e as Error).message}`);
      }
    }
  }

  const cases: [string, { shape: number[]; data?: Float32Array; grad?: boolean }[], (xs: dg.Tensor[]) => dg.Tensor][] = [
    ['matmul NN', [{ shape: [3, 4] }, { shape: [4, 2] }], ([a, b]) => dg.matmul(a, b)],
    ['matmul TN', [{ shape: [4, 3] }, { shape: [4, 2] }], ([a, b]) => dg.matmul(a, b, { transA: true })],
    ['matmul NT', [{ shape: [3, 4] }, { shape: [2, 4] }], ([a, b]) => dg.matmul(a, b, { transB: true })],
    ['matmul TT', [{ shape: [4, 3] }, { shape: [2, 4] }], ([a, b]) => dg.matmul(a, b, { transA: true, transB: true })],
    ['transpose', [{ shape: [2, 3] }], ([a]) => dg.transpose(a)],
    ['add', [{ shape: [2, 3] }, { shape: [2, 3] }], ([a, b]) => dg.add(a, b)],
    ['sub', [{ shape: [2, 3] }, { shape: [2, 3] }], ([a, b]) => dg.sub(a, b)],
    ['mul', [{ shape: [2, 3] }, { shape: [2, 3] }], ([a, b]) => dg.mul(a, b)],
    ['div', [{ shape: [2, 3] }, { shape: [2, 3] }], ([a, b]) => dg.div(a, b)],
    ['affine', [{ shape: [5] }], ([a]) => dg.affine(a, -1.5, 2)],
    ['axpby', [{ shape: [5] }, { shape: [5] }], ([a, b]) => dg.axpby(0.5, a, -2, b)],
    ['mulScalar', [{ shape: [2, 3] }, { shape: [] }], ([a, s]) => dg.mulScalar(a, s)],
    ['biasAdd', [{ shape: [3, 2] }, { shape: [2] }], ([a, b]) => dg.biasAdd(a, b)],
    ['mulRowVector', [{ shape: [3, 2] }, { shape: [2] }], ([a, v]) => dg.mulRowVector(a, v)],
    ['mulColVector', [{ shape: [3, 2] }, { shape: [3] }], ([a, v]) => dg.mulColVector(a, v)],
    ['relu', [{ shape: [6] }], ([a]) => dg.relu(a)],
    ['leakyRelu(0.2)', [{ shape: [6] }], ([a]) => dg.leakyRelu(a, 0.2)],
    ['tanh', [{ shape: [6] }], ([a]) => dg.tanh(a)],
    ['sigmoid', [{ shape: [6] }], ([a]) => dg.sigmoid(a)],
    ['exp', [{ shape: [6] }], ([a]) => dg.exp(a)],
    ['log', [{ shape: [6], data: values(6, 0.5, 2) }], ([a]) => dg.log(a)],
    ['square', [{ shape: [6] }], ([a]) => dg.square(a)],
    ['rowSum', [{ shape: [3, 4] }], ([a]) => dg.rowSum(a)],
    ['colSum', [{ shape: [3, 4] }], ([a]) => dg.colSum(a)],
    ['sum', [{ shape: [3, 4] }], ([a]) => dg.sum(a)],
    ['mean', [{ shape: [3, 4] }], ([a]) => dg.mean(a)],
    ['softmax', [{ shape: [3, 4] }], ([a]) => dg.softmax(a)],
    ['logSoftmax', [{ shape: [3, 4] }], ([a]) => dg.logSoftmax(a)],
    ['concatCols', [{ shape: [3, 2] }, { shape: [3, 1] }], ([a, b]) => dg.concatCols([a, b])],
    ['sliceCols', [{ shape: [3, 5] }], ([a]) => dg.sliceCols(a, 1, 4)],
    ['gatherRows', [{ shape: [4, 2] }], ([a]) => dg.gatherRows(a, dg.tensor(new Int32Array([3, 0, 3, 1])))],
    ['reshape', [{ shape: [2, 3] }], ([a]) => dg.reshape(a, [3, 2])],
    ['clone', [{ shape: [2, 3] }], ([a]) => dg.clone(a)],
    ['mse (both inputs)', [{ shape: [2, 3] }, { shape: [2, 3] }], ([a, b]) => dg.mse(a, b)],
    ['mse (target only)', [{ shape: [2, 3], grad: false }, { shape: [2, 3] }], ([a, b]) => dg.mse(a, b)],
    ['bceWithLogits (both inputs)', [{ shape: [2, 3] }, { shape: [2, 3], data: values(6, 0, 1) }], ([a, b]) => dg.bceWithLogits(a, b)],
  ];

  // spmm's backward uses the matrix; it must stay alive until backward has run, so the matrix is shared.
  let graph: dg.SparseMatrix;
  beforeAll(() => {
    graph = dg.SparseMatrix.fromEdges(4, [0, 0, 1, 2], [1, 2, 3, 3]);
  });
  afterAll(() => graph.dispose());

  test.each(cases)('%s', (_name, inputs, f) => {
    gradCheck(inputs, f);
  });

  test('the checker itself catches a wrong backward (custom op whose backward is off by 2×)', () => {
    const badIdentity = (x: dg.Tensor): dg.Tensor =>
      dg.record(dg.clone(dg.detach(x)), 'badIdentity', [x], (g) => [dg.scale(g, 2)]);
    expect(() => gradCheck([{ shape: [3] }], ([x]) => badIdentity(x))).toThrow(/input 0/);
  });

  test('spmm (row-normalized Â, not symmetric)', () => {
    gradCheck([{ shape: [4, 2] }], ([h]) => graph.matmul(h));
  });

  test('spmm transposed (Âᵀ H)', () => {
    gradCheck([{ shape: [4, 3] }], ([h]) => graph.matmul(h, true));
  });
});
