// Parameters, the optimiser step and the graph inputs shared by the tfjs training steps.
import * as ops from '../compare/tfjs-ops';
import { tf } from '../compare/tfjs-ops';
import { transpose2d } from './weights';
import type { StepInputs, StepModel } from './types';
import type { WeightMap } from './weights';

let counter = 0;

/**
 * tf.variables from a weight map. Linear weights ([out, in], names matched by `isLinearWeight`) are kept
 * transposed, [in, out], as tf.layers.dense keeps its kernel, so the forward product is a plain matMul.
 */
export class TfParams {
  readonly vars = new Map<string, tf.Variable>();
  private readonly transposed = new Set<string>();
  readonly optimizer: tf.AdamOptimizer;

  constructor(weights: WeightMap, isLinearWeight: (name: string) => boolean, lr: number) {
    const tag = `p${counter++}`;
    for (const [name, w] of weights) {
      let data = w.data;
      let shape = w.shape;
      if (isLinearWeight(name)) {
        data = transpose2d(w.data, w.shape[0], w.shape[1]);
        shape = [w.shape[1], w.shape[0]];
        this.transposed.add(name);
      }
      this.vars.set(name, tf.variable(tf.tensor(data, shape), true, `${tag}/${name}`));
    }
    this.optimizer = tf.train.adam(lr, 0.9, 0.999, 1e-8);
  }

  v(name: string): tf.Variable {
    const t = this.vars.get(name);
    if (!t) throw new Error(`tfjs model: no parameter '${name}'`);
    return t;
  }

  /** Loss and gradients, by parameter name, gradients in torch layouts. */
  lossAndGrads(loss: () => tf.Scalar): { loss: number; grads: Map<string, Float32Array> } {
    const names = [...this.vars.keys()];
    const { value, grads } = tf.variableGrads(loss, [...this.vars.values()]);
    const out = new Map<string, Float32Array>();
    for (const name of names) {
      const g = grads[this.v(name).name];
      let data = g.dataSync() as Float32Array;
      if (this.transposed.has(name)) data = transpose2d(data, g.shape[0] as number, g.shape[1] as number);
      out.set(name, data);
    }
    const l = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return { loss: l, grads: out };
  }

  /** One optimiser step: variableGrads + Adam (what optimizer.minimize does). Returns the loss. */
  step(loss: () => tf.Scalar): number {
    let value = NaN;
    tf.tidy(() => {
      const r = tf.variableGrads(loss, [...this.vars.values()]);
      this.optimizer.applyGradients(Object.entries(r.grads).map(([name, tensor]) => ({ name, tensor })));
      value = r.value.dataSync()[0];
    });
    return value;
  }

  dispose(): void {
    this.optimizer.dispose();
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}

/**
 * What both tfjs steps build first: the parameters (the autoencoder's `ae.*.weight` stored transposed, see
 * TfParams), X, Â in CSR with its SpMM, and the autoencoder's linear layer. `model` wraps a loss into the
 * StepModel and, on dispose, frees all of it plus the step's own `extra` tensors.
 */
export function tfStepBase(inp: StepInputs) {
  const P = new TfParams(inp.weights, (name) => name.startsWith('ae.') && name.endsWith('.weight'), inp.lr);
  const a = ops.tfCsr(inp.adj);
  const aT = ops.tfCsr(inp.adjT);
  const spmm = ops.makeSpmm(a, aT);
  const x = tf.tensor2d(inp.x, [inp.n, inp.nInput]);
  const lin = (h: tf.Tensor2D, name: string) => tf.add(tf.matMul(h, P.v(`${name}.weight`)), P.v(`${name}.bias`)) as tf.Tensor2D;
  const model = (loss: () => tf.Scalar, extra: tf.Tensor[] = []): StepModel => ({
    step: () => P.step(loss),
    lossAndGrads: () => {
      // tidy returns only tensors, so the plain result leaves it through a variable.
      let r: ReturnType<StepModel['lossAndGrads']> | undefined;
      tf.tidy(() => {
        r = P.lossAndGrads(loss);
      });
      return r!;
    },
    dispose: () => {
      P.dispose();
      ops.disposeCsr(a);
      ops.disposeCsr(aT);
      tf.dispose([x, ...extra]);
    },
  });
  return { P, a, spmm, x, lin, model };
}
