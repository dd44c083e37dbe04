// The clustering-head ops (Student-t, target distribution, fused KL / triplet KL / focal, CDC pairwise):
// forward against float64 references written from the spec formulas, finite-difference gradient checks through
// the tape, and the coded errors for bad input (ν ≤ 0, K = 0, NaN in Z, mismatched shapes).
import * as dg from '../lib';
import { expectCode } from './helpers/errors';
import { ATOL, expectGradOk, gradcheck, InputSpec, RTOL } from './helpers/gradcheck';
import { expectClose, Rng } from './helpers/reference';

const rng = new Rng(4242);
const U = (shape: number[], lo = -1, hi = 1): InputSpec => ({ data: rng.f32(shape.reduce((a, b) => a * b, 1), lo, hi), shape });
const Const = (s: InputSpec): InputSpec => ({ ...s, grad: false });

// ---- float64 references (DEC Eqs. 1 and 3) ----------------------------------------------------------------
function refStudentT(z: ArrayLike<number>, mu: ArrayLike<number>, n: number, k: number, d: number, nu: number): Float64Array {
  const q = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) {
      let dist = 0;
      for (let c = 0; c < d; c++) dist += (z[i * d + c] - mu[j * d + c]) ** 2;
      q[i * k + j] = Math.pow(1 + dist / nu, -(nu + 1) / 2);
      s += q[i * k + j];
    }
    for (let j = 0; j < k; j++) q[i * k + j] /= s;
  }
  return q;
}

function refTarget(q: ArrayLike<number>, n: number, k: number): Float64Array {
  const f = new Float64Array(k);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) f[j] += q[i * k + j];
  const p = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += (p[i * k + j] = q[i * k + j] ** 2 / f[j]);
    for (let j = 0; j < k; j++) p[i * k + j] /= s;
  }
  return p;
}

function refKl(p: ArrayLike<number>, q: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) if (p[i] > 0) s += p[i] * Math.log(p[i] / q[i]);
  return s;
}

/** A target P (rows summing to 1) computed from a random Q, as training does. */
function targetFor(n: number, k: number): InputSpec {
  const q = rng.f32(n * k, 0.05, 1);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += q[i * k + j];
    for (let j = 0; j < k; j++) q[i * k + j] /= s;
  }
  return { data: Float32Array.from(refTarget(q, n, k)), shape: [n, k], grad: false };
}

describe('forward against float64 references', () => {
  test.each([
    [1, 7, 3, 5],
    [0.5, 20, 4, 3],
    [3, 50, 10, 20],
  ])('studentT and targetDistribution (ν=%d, n=%d, k=%d, d=%d)', (nu, n, k, d) => {
    const z = U([n, d], -2, 2);
    const mu = U([k, d], -2, 2);
    dg.tidy(() => {
      const q = dg.studentT(dg.tensor(z.data, z.shape), dg.tensor(mu.data, mu.shape), nu);
      const want = refStudentT(z.data, mu.data, n, k, d, nu);
      expectClose(q.dataF32(), want, 1e-5, 1e-7, 'Q');
      const p = dg.targetDistribution(q);
      expectClose(p.dataF32(), refTarget(want, n, k), 1e-5, 1e-7, 'P');
    });
  });

  test('klStudentT = (weight/n) Σ p log(p/q); the triplet form is the mean of three KLs', () => {
    const [n, k, d] = [30, 4, 6];
    const zs = [U([n, d]), U([n, d]), U([n, d])];
    const mu = U([k, d]);
    const p = targetFor(n, k);
    dg.tidy(() => {
      const t = (s: InputSpec) => dg.tensor(s.data, s.shape);
      const kls = zs.map((z) => refKl(p.data, refStudentT(z.data, mu.data, n, k, d, 1)) / n);
      expect(dg.klStudentT(t(zs[0]), t(mu), t(p), { weight: 10 }).item()).toBeCloseTo(10 * kls[0], 5);
      const triplet = dg.klStudentT(zs.map(t), t(mu), t(p), { weight: 10 }).item();
      expect(triplet).toBeCloseTo((10 * (kls[0] + kls[1] + kls[2])) / 3, 5);
    });
  });

  test.each([
    [1, 1, 'plain'],
    [3, 1, 'triplet'],
    [1, 3, 'plain, ν = 3'],
  ])('klStudentTSelf (m = %d, ν = %d, %s) = klStudentT against targetDistribution(studentT(z[0])), in one call', (m, nu) => {
    // n = 37 is not a multiple of the kernel's 8-row blocks.
    const [n, k, d] = [37, 5, 7];
    const zs = Array.from({ length: m }, () => U([n, d], -2, 2));
    const mu = U([k, d], -2, 2);
    dg.tidy(() => {
      const t = (s: InputSpec) => dg.tensor(s.data, s.shape);
      const zt = zs.map(t);
      const mt = t(mu);
      const r = dg.noGrad(() => dg.klStudentTSelf(m === 1 ? zt[0] : zt, mt, { weight: 10, nu }));
      // Q is studentT's, bit for bit; P its target distribution (from Q in double, so up to float rounding).
      const q = dg.studentT(zt[0], mt, nu);
      expect(Array.from(r.q.dataF32())).toEqual(Array.from(q.dataF32()));
      const qRef = refStudentT(zs[0].data, mu.data, n, k, d, nu);
      expectClose(r.p.dataF32(), refTarget(qRef, n, k), 1e-5, 1e-7, 'P');
      // The loss: the reference KL(P‖Q_t) averaged over the embeddings, with the float64 P.
      const pRef = refTarget(qRef, n, k);
      let want = 0;
      for (const z of zs) want += refKl(pRef, refStudentT(z.data, mu.data, n, k, d, nu)) / n;
      expect(r.loss.item()).toBeCloseTo((10 * want) / m, 5);
      // … and the composition of the three public ops.
      const composed = dg.klStudentT(m === 1 ? zt[0] : zt, mt, dg.targetDistribution(q), { weight: 10, nu }).item();
      expect(r.loss.item()).toBeCloseTo(composed, 5);
    });
  });

  test('focalStudentT = (weight/n) Σ −(1 − q_c)^γ log q_c with c = argmax p', () => {
    const [n, k, d] = [25, 3, 4];
    const z = U([n, d]);
    const mu = U([k, d]);
    const p = targetFor(n, k);
    const q = refStudentT(z.data, mu.data, n, k, d, 1);
    let want = 0;
    for (let i = 0; i < n; i++) {
      let c = 0;
      for (let j = 1; j < k; j++) if (p.data[i * k + j] > p.data[i * k + c]) c = j;
      const s = q[i * k + c];
      want += -((1 - s) ** 2) * Math.log(s);
    }
    dg.tidy(() => {
      const got = dg.focalStudentT(dg.tensor(z.data, z.shape), dg.tensor(mu.data, mu.shape), dg.tensor(p.data, p.shape), { weight: 0.5 }).item();
      expect(got).toBeCloseTo((0.5 * want) / n, 6);
    });
  });

  test('pairAffinity rows sum to 1 (before clipping) and the diagonal holds the self pair', () => {
    const y = U([12, 5]);
    dg.tidy(() => {
      const c = dg.pairAffinity(dg.tensor(y.data, y.shape)).dataF32();
      for (let i = 0; i < 12; i++) {
        let s = 0;
        for (let j = 0; j < 12; j++) s += c[i * 12 + j];
        expect(s).toBeCloseTo(1, 5);
        expect(c[i * 12 + i]).toBeGreaterThan(0);
      }
    });
  });

  test('far-away points and points on a centre give finite Q and loss (no NaN)', () => {
    dg.tidy(() => {
      const z = dg.tensor([[1e18, -1e18], [0.5, 0.5], [0, 0]]);
      const mu = dg.tensor([[0, 0], [0.5, 0.5]]);
      const q = dg.studentT(z, mu);
      expect(Array.from(q.dataF32()).every(Number.isFinite)).toBe(true);
      const p = dg.targetDistribution(q);
      expect(Number.isFinite(dg.klStudentT(z, mu, p).item())).toBe(true);
    });
  });
});

describe('gradient checks (finite differences through the tape)', () => {
  const [n, k, d] = [9, 3, 4];
  test('studentT: z and mu (upstream arbitrary)', () => {
    expectGradOk(gradcheck('studentT', ([z, mu]) => dg.studentT(z, mu, 1), [U([n, d]), U([k, d])]));
  });
  test('studentT with ν = 0.5 and ν = 3', () => {
    for (const nu of [0.5, 3]) expectGradOk(gradcheck(`studentT ν=${nu}`, ([z, mu]) => dg.studentT(z, mu, nu), [U([n, d]), U([k, d])]));
  });
  test('klStudentT (fused): z and mu, weight 10', () => {
    expectGradOk(gradcheck('kl', ([z, mu, p]) => dg.klStudentT(z, mu, p, { weight: 10 }), [U([n, d]), U([k, d]), targetFor(n, k)]));
  });
  test('klStudentT triplet (fused): three embeddings and mu', () => {
    expectGradOk(
      gradcheck('triplet', ([z1, z2, z3, mu, p]) => dg.klStudentT([z1, z2, z3], mu, p, { weight: 10 }), [U([n, d]), U([n, d]), U([n, d]), U([k, d]), targetFor(n, k)]),
    );
  });
  test('the fused KL equals KL composed from studentT and log (same gradients)', () => {
    // Composite: (1/n) Σ p (log p − log q) through the generic tape ops.
    expectGradOk(
      gradcheck('kl composed', ([z, mu, p]) => {
        const q = dg.studentT(z, mu);
        const logp = dg.log(dg.affine(p, 1, 1e-30));
        return dg.scale(dg.sum(dg.mul(p, dg.sub(logp, dg.log(q)))), 1 / n);
      }, [U([n, d]), U([k, d]), targetFor(n, k)]),
    );
  });
  test('klStudentTSelf: gradients are those of the KL with its P held constant (klStudentT with that P)', () => {
    for (const m of [1, 3]) {
      dg.tidy(() => {
        const zs = Array.from({ length: m }, () => dg.parameter(dg.tensor(U([n, d]).data, [n, d])));
        const mu = dg.parameter(dg.tensor(U([k, d]).data, [k, d]));
        const r = dg.klStudentTSelf(m === 1 ? zs[0] : zs, mu, { weight: 10 });
        dg.backward(r.loss);
        const self = [...zs, mu].map((x) => Array.from(x.grad!.dataF32()));
        dg.zeroGrad([...zs, mu]);
        // klStudentT's fused gradients are finite-difference checked above; with the same P they are bit-identical.
        dg.backward(dg.klStudentT(m === 1 ? zs[0] : zs, mu, r.p, { weight: 10 }));
        const viaKl = [...zs, mu].map((x) => Array.from(x.grad!.dataF32()));
        expect(self).toEqual(viaKl);
        expect(r.q.requiresGrad).toBe(false);
        expect(r.p.requiresGrad).toBe(false);
        for (const x of [...zs, mu]) x.dispose();
      });
    }
  });
  test.each([
    [1, 1],
    [3, 1],
    [1, 3],
  ])('klStudentTSelf (m = %d, ν = %d): its gradients against finite differences of KL(P₀‖Q(z, μ)), P₀ its own P', (m, nu) => {
    // The op's gradient holds P at its value for the unperturbed inputs (P is a target, detached), so finite
    // differences of the op's own loss (which would move P too) are not its gradient. The numeric side is a float64
    // reference of (weight/m) Σ_t KL(P₀‖Q(z_t, μ))/n with P₀ = the P klStudentTSelf returned, held fixed, and it is
    // differentiated at every element of every z_t and of μ. (Before, a test of this name checked klStudentT.)
    const weight = 10;
    const zs = Array.from({ length: m }, () => U([n, d]));
    const mu = U([k, d]);
    dg.tidy(() => {
      const zt = zs.map((z) => dg.parameter(dg.tensor(z.data, z.shape)));
      const mt = dg.parameter(dg.tensor(mu.data, mu.shape));
      const r = dg.klStudentTSelf(m === 1 ? zt[0] : zt, mt, { weight, nu });
      dg.backward(r.loss);
      const analytic = [...zt, mt].map((x) => x.grad!.dataF32());
      const p0 = r.p.dataF32();
      const x64 = [...zs, mu].map((s) => Float64Array.from(s.data));
      const lossAt = (): number => {
        let total = 0;
        for (let t = 0; t < m; t++) total += refKl(p0, refStudentT(x64[t], x64[m], n, k, d, nu)) / n;
        return (weight * total) / m;
      };
      // The reference agrees with the op's loss at the base point.
      expect(lossAt()).toBeCloseTo(r.loss.item(), 5);
      const failures: string[] = [];
      x64.forEach((x, input) => {
        const numeric = Array.from(x, (v, j) => {
          const h = 1e-4 * Math.max(1, Math.abs(v));
          x[j] = v + h;
          const lp = lossAt();
          x[j] = v - h;
          const lm = lossAt();
          x[j] = v;
          return (lp - lm) / (2 * h);
        });
        const G = Math.max(0.1, ...numeric.map(Math.abs));
        numeric.forEach((nv, j) => {
          const a = analytic[input][j];
          if (!(Math.abs(a - nv) <= RTOL * Math.abs(nv) + ATOL * G)) failures.push(`input ${input} element ${j}: analytic ${a}, numeric ${nv}`);
        });
      });
      expect(failures).toEqual([]);
      for (const x of [...zt, mt]) x.dispose();
    });
  });
  test('focalStudentT (fused, γ = 2 and 0.5)', () => {
    for (const gamma of [2, 0.5]) {
      expectGradOk(gradcheck(`focal γ=${gamma}`, ([z, mu, p]) => dg.focalStudentT(z, mu, p, { gamma }), [U([n, d]), U([k, d]), targetFor(n, k)]));
    }
  });
  test('pairAffinity', () => {
    expectGradOk(gradcheck('pairAffinity', ([y]) => dg.pairAffinity(y), [U([8, 3])]));
  });
  test('cdcCorrelationLoss: both arguments', () => {
    expectGradOk(gradcheck('cdc', ([a, b]) => dg.cdcCorrelationLoss(a, b), [U([8, 3]), U([8, 5])]));
  });
  test('gradients are not computed for a loss evaluated under noGrad', () => {
    const before = dg.memory().tensors;
    dg.tidy(() => {
      const z = dg.parameter(dg.tensor(U([n, d]).data, [n, d]));
      const mu = dg.parameter(dg.tensor(U([k, d]).data, [k, d]));
      const p = dg.tensor(targetFor(n, k).data, [n, k]);
      const loss = dg.noGrad(() => dg.klStudentT(z, mu, p));
      expect(loss.requiresGrad).toBe(false);
      z.dispose();
      mu.dispose();
    });
    expect(dg.memory().tensors).toBe(before);
  });
});

describe('bad input: coded errors naming the op and the argument', () => {
  const z = () => dg.tensor(U([5, 3]).data, [5, 3]);
  const mu = () => dg.tensor(U([2, 3]).data, [2, 3]);
  const p = () => dg.tensor(targetFor(5, 2).data, [5, 2]);

  test('ν ≤ 0 and ν = NaN', () => {
    expectCode(() => dg.studentT(z(), mu(), 0), 'DGC_VALUE', /studentT/, /nu/, /> 0/);
    expectCode(() => dg.studentT(z(), mu(), -1), 'DGC_VALUE', /studentT/);
    expectCode(() => dg.klStudentT(z(), mu(), p(), { nu: NaN }), 'DGC_VALUE', /klStudentT|nu/);
  });
  test('K = 0 centres', () => {
    expectCode(() => dg.studentT(z(), dg.zeros([0, 3])), 'DGC_SHAPE', /studentT/, /K = 0/);
  });
  test('NaN or Inf in Z names the row and column', () => {
    const bad = U([5, 3]).data;
    bad[7] = NaN;
    expectCode(() => dg.studentT(dg.tensor(bad, [5, 3]), mu()), 'DGC_VALUE', /studentT/, /'z'/, /row 2, column 1/);
    bad[7] = Infinity;
    expectCode(() => dg.klStudentT(dg.tensor(bad, [5, 3]), mu(), p()), 'DGC_VALUE', /klStudentT/, /z\[0\]/);
  });
  test('mismatched shapes', () => {
    expectCode(() => dg.studentT(z(), dg.zeros([2, 4])), 'DGC_SHAPE', /studentT/, /3 columns/, /mu/);
    expectCode(() => dg.klStudentT(z(), mu(), dg.zeros([5, 3])), 'DGC_SHAPE', /klStudentT/, /'p'/, /5x2/);
    expectCode(() => dg.klStudentT([z(), z()], mu(), p()), 'DGC_ARG', /klStudentT/, /1 embedding .* or 3/);
    expectCode(() => dg.klStudentTSelf([z(), z()], mu()), 'DGC_ARG', /klStudentTSelf/, /1 embedding .* or 3/);
    expectCode(() => dg.klStudentTSelf([z(), z(), dg.zeros([4, 3])], mu()), 'DGC_SHAPE', /klStudentTSelf/, /z\[2\]/, /4 rows/);
    expectCode(() => dg.klStudentTSelf(z(), dg.zeros([2, 4])), 'DGC_SHAPE', /klStudentTSelf/, /mu/);
    expectCode(() => dg.cdcCorrelationLoss(z(), dg.zeros([4, 2])), 'DGC_SHAPE', /cdcCorrelationLoss/, /rows/);
  });
  test('a negative target', () => {
    const bad = targetFor(5, 2).data;
    bad[3] = -0.5;
    expectCode(() => dg.klStudentT(z(), mu(), dg.tensor(bad, [5, 2])), 'DGC_VALUE', /klStudentT/, /'p'/, /non-negative/);
  });
});
