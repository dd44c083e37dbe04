// TensorFlow.js's side of each comparison case (backend chosen by the child before setup).
import * as ops from './tfjs-ops';
import { tf } from './tfjs-ops';
import type { Case } from './plan';
import type { ArrayStore } from './store';
import { getCsr } from './store';
import type { CaseRunner } from './impl-dgclust';
import { stepInputs } from './impl-dgclust';
import { createTfjsDfcnStep } from '../steps/tfjs-dfcn';
import { createTfjsSdcnStep } from '../steps/tfjs-sdcn';

export function setupTfjs(c: Case, store: ArrayStore): CaseRunner {
  const p = c.params;
  const held: tf.Tensor[] = [];
  const hold = <T extends tf.Tensor>(t: T): T => {
    held.push(t);
    return t;
  };
  const disposeHeld = () => tf.dispose(held);

  if (c.kernel === 'gemm') {
    const [m, k, n] = [Number(p.m), Number(p.k), Number(p.n)];
    const ta = String(p.form)[0] === 'T';
    const tb = String(p.form)[1] === 'T';
    const a = hold(tf.randomUniform(ta ? [k, m] : [m, k], -1, 1));
    const b = hold(tf.randomUniform(tb ? [n, k] : [k, n], -1, 1));
    return { parts: { call: () => tf.tidy(() => void tf.matMul(a, b, ta, tb)) }, dispose: disposeHeld };
  }

  if (c.kernel === 'spmm') {
    const csr = getCsr(store, `graph/${p.graph}`);
    const h = hold(tf.randomUniform([csr.n, Number(p.d)], -1, 1) as tf.Tensor2D);
    if (p.variant === 'dense') {
      const a = hold(ops.denseOf(csr));
      return { parts: { call: () => tf.tidy(() => void tf.matMul(a, h)) }, dispose: disposeHeld };
    }
    const a = ops.tfCsr(csr);
    return {
      parts: { call: () => tf.tidy(() => void ops.spmmSegment(a, h)) },
      dispose: () => {
        disposeHeld();
        ops.disposeCsr(a);
      },
    };
  }

  if (c.kernel === 'selfcorr') {
    const [n, d] = [Number(p.n), Number(p.d)];
    const z = hold(tf.randomUniform([n, d], -0.3, 0.3) as tf.Tensor2D);
    const w = hold(tf.randomUniform([n, d], -1, 1));
    const grad = tf.grad((zz: tf.Tensor) => tf.sum(tf.mul(ops.selfCorrelation(zz as tf.Tensor2D), w)));
    return {
      parts: {
        fwd: () => tf.tidy(() => void ops.selfCorrelation(z)),
        'fwd+bwd': () => tf.tidy(() => void grad(z)),
      },
      dispose: disposeHeld,
    };
  }

  if (c.kernel === 'cluster') {
    const [n, k, d] = [Number(p.n), Number(p.k), Number(p.d)];
    const z = hold(tf.randomNormal([n, d]) as tf.Tensor2D);
    const mu = hold(tf.randomNormal([k, d]) as tf.Tensor2D);
    const grads = tf.grads((zz: tf.Tensor, mm: tf.Tensor) => {
      const q = ops.studentT(zz as tf.Tensor2D, mm as tf.Tensor2D);
      return ops.klBatchMean(pConst!, tf.log(q) as tf.Tensor2D);
    });
    let pConst: tf.Tensor2D | null = null;
    return {
      parts: {
        fwd: () =>
          tf.tidy(() => {
            const q = ops.studentT(z, mu);
            ops.klBatchMean(ops.targetDistribution(q), tf.log(q) as tf.Tensor2D);
          }),
        'fwd+grad': () =>
          tf.tidy(() => {
            pConst = ops.targetDistribution(ops.studentT(z, mu)); // constant target: outside the gradient
            grads([z, mu]);
          }),
      },
      dispose: disposeHeld,
    };
  }

  if (c.kernel === 'dfcn' || c.kernel === 'sdcn') {
    const inp = stepInputs(store, c);
    const m = c.kernel === 'dfcn' ? createTfjsDfcnStep(inp) : createTfjsSdcnStep(inp);
    // The loss of the first call (the starting weights) is reported: it must agree across implementations.
    const info: Record<string, number> = {};
    const step = () => {
      const loss = m.step();
      if (!('loss' in info)) info.loss = loss;
    };
    return { parts: { step }, info, dispose: () => m.dispose() };
  }
  throw new Error(`tfjs: no implementation of case ${c.id}`);
}
