// One SDCN training step in TensorFlow.js, as the official code (bdy9527/SDCN, sdcn.py) computes it:
//   AE: H1..H3 = ReLU layers d-500-500-2000, Z = linear 2000→10, decoder mirrored, X̄ linear;
//   GCN: H = ReLU(Â X W1); H = ReLU(Â((1−σ)H + σH_l) W_l) for l = 2..4; H = Â((1−σ)H + σZ) W5; pred = softmax(H);
//   Q = Student-t(Z, μ); P = target(Q) detached (from this same forward, as DFCN does; SDCN's code takes it from
//   a preceding forward pass); L = 0.1 KL(P‖Q) + 0.01 KL(P‖pred) + mse(X̄, X); Adam.
import * as ops from '../compare/tfjs-ops';
import { tf } from '../compare/tfjs-ops';
import { tfStepBase } from './tfjs-common';
import type { StepInputs, StepModel } from './types';

const SIGMA = 0.5;

export function createTfjsSdcnStep(inp: StepInputs): StepModel {
  const { P, spmm, x, lin, model } = tfStepBase(inp);

  const gnn = (h: tf.Tensor2D, name: string, active: boolean) => {
    const out = spmm(tf.matMul(h, P.v(`${name}.weight`)));
    return active ? tf.relu(out) : out;
  };
  const mix = (h: tf.Tensor2D, t: tf.Tensor2D) => tf.add(tf.mul(1 - SIGMA, h), tf.mul(SIGMA, t)) as tf.Tensor2D;

  const loss = (): tf.Scalar => {
    const h1 = tf.relu(lin(x, 'ae.enc_1'));
    const h2 = tf.relu(lin(h1, 'ae.enc_2'));
    const h3 = tf.relu(lin(h2, 'ae.enc_3'));
    const z = lin(h3, 'ae.z_layer');
    let d = tf.relu(lin(z, 'ae.dec_1'));
    d = tf.relu(lin(d, 'ae.dec_2'));
    d = tf.relu(lin(d, 'ae.dec_3'));
    const xBar = lin(d, 'ae.x_bar_layer');
    let h = gnn(x, 'gnn_1', true);
    h = gnn(mix(h, h1), 'gnn_2', true);
    h = gnn(mix(h, h2), 'gnn_3', true);
    h = gnn(mix(h, h3), 'gnn_4', true);
    h = gnn(mix(h, z), 'gnn_5', false);
    const logPred = tf.logSoftmax(h) as tf.Tensor2D;
    const q = ops.studentT(z, P.v('cluster_layer') as tf.Tensor as tf.Tensor2D);
    const p = ops.detach(ops.targetDistribution(q));
    const kl = ops.klBatchMean(p, tf.log(q) as tf.Tensor2D);
    const ce = ops.klBatchMean(p, logPred);
    return tf.addN([tf.mul(0.1, kl), tf.mul(0.01, ce), ops.mse(xBar, x)]) as tf.Scalar;
  };

  return model(loss);
}
