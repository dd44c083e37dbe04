// dgclust's side of each comparison case: inputs built once, then closures the child times.
import * as dg from '../../lib';
import type { Case } from './plan';
import type { ArrayStore } from './store';
import { getCsr } from './store';
import { storedWeights } from './inputs';
import { createDgclustDfcnStep } from '../steps/dgclust-dfcn';
import { createDgclustSdcnStep } from '../steps/dgclust-sdcn';
import type { StepInputs } from '../steps/types';

export interface CaseRunner {
  /** One closure per part of the case ('call', 'fwd', 'fwd+bwd', 'step'). */
  parts: Record<string, () => void>;
  /** A part that cannot run, and why. */
  pending?: string;
  /** Facts reported with the timings (e.g. the loss at the starting weights, which must agree across implementations). */
  info?: Record<string, number | string>;
  dispose(): void;
}

export function stepInputs(store: ArrayStore, c: Case): StepInputs {
  const kind = c.kernel === 'dfcn' ? 'dfcn' : 'sdcn';
  const x = store.getF32(`${kind}/x`);
  const graph = kind === 'dfcn' ? 'acm' : 'usps';
  return {
    x: x.data,
    n: x.shape[0],
    nInput: x.shape[1],
    nClusters: Number(c.params.k),
    adj: getCsr(store, `graph/${graph}`),
    adjT: getCsr(store, `graph/${graph}/T`),
    weights: storedWeights(store, `${kind}/w/`),
    lr: kind === 'dfcn' ? 5e-5 : 1e-3,
  };
}

export function setupDgclust(c: Case, store: ArrayStore): CaseRunner {
  const gen = new dg.Generator(5);
  const kept: dg.Tensor[] = [];
  const keep = (t: dg.Tensor) => {
    kept.push(dg.keep(t));
    return t;
  };
  const disposeKept = () => kept.forEach((t) => t.dispose());
  const p = c.params;

  if (c.kernel === 'gemm') {
    const [m, k, n] = [Number(p.m), Number(p.k), Number(p.n)];
    const transA = String(p.form)[0] === 'T';
    const transB = String(p.form)[1] === 'T';
    const a = keep(gen.uniform(transA ? [k, m] : [m, k], -1, 1));
    const b = keep(gen.uniform(transB ? [n, k] : [k, n], -1, 1));
    return { parts: { call: () => dg.tidy(() => void dg.matmul(a, b, { transA, transB })) }, dispose: disposeKept };
  }

  if (c.kernel === 'spmm') {
    const csr = getCsr(store, `graph/${p.graph}`);
    const adj = dg.SparseMatrix.fromCsr(csr.n, csr.n, csr.indptr, csr.indices, csr.values);
    const h = keep(gen.uniform([csr.n, Number(p.d)], -1, 1));
    return {
      parts: { call: () => dg.tidy(() => void adj.matmul(h)) },
      dispose: () => {
        disposeKept();
        adj.dispose();
      },
    };
  }

  if (c.kernel === 'selfcorr') {
    const [n, d] = [Number(p.n), Number(p.d)];
    const z = dg.parameter(gen.uniform([n, d], -0.3, 0.3));
    const w = keep(gen.uniform([n, d], -1, 1));
    return {
      parts: {
        fwd: () => dg.tidy(() => void dg.noGrad(() => dg.selfCorrelation(z))),
        // d/dZ of Σ (softmax(ZZᵀ)Z ∘ W): the fused backward, no N×N.
        'fwd+bwd': () =>
          dg.tidy(() => {
            dg.backward(dg.sum(dg.mul(dg.selfCorrelation(z), w)));
            dg.zeroGrad([z]);
          }),
      },
      dispose: () => {
        disposeKept();
        z.dispose();
      },
    };
  }

  if (c.kernel === 'cluster') {
    const [n, k, d] = [Number(p.n), Number(p.k), Number(p.d)];
    const z = dg.parameter(gen.normal([n, d]));
    const mu = dg.parameter(gen.normal([k, d]));
    return {
      parts: {
        // Q, P and the KL value: one native call (klStudentTSelf = studentT → targetDistribution → klStudentT).
        fwd: () =>
          dg.tidy(() =>
            dg.noGrad(() => {
              dg.klStudentTSelf(z, mu);
            })),
        // P from Q (no gradient), then KL(P‖Q(Z, μ)) with its gradients dZ and dμ (fused into the same call).
        'fwd+grad': () =>
          dg.tidy(() => {
            dg.backward(dg.klStudentTSelf(z, mu).loss);
            dg.zeroGrad([z, mu]);
          }),
      },
      dispose: () => {
        z.dispose();
        mu.dispose();
      },
    };
  }

  if (c.kernel === 'dfcn' || c.kernel === 'sdcn') {
    const inp = stepInputs(store, c);
    const m = c.kernel === 'dfcn' ? createDgclustDfcnStep(inp) : createDgclustSdcnStep(inp);
    if ('pending' in m) return { parts: {}, pending: m.pending, dispose: () => undefined };
    // The loss of the first call (the starting weights) is reported: it must agree across implementations.
    const info: Record<string, number> = {};
    const step = () => {
      const loss = m.step();
      if (!('loss' in info)) info.loss = loss;
    };
    return { parts: { step }, info, dispose: () => m.dispose() };
  }
  throw new Error(`dgclust: no implementation of case ${c.id}`);
}
