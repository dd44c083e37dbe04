// One DFCN training step in TensorFlow.js, written from the paper (DFCN, Tu et al. 2021) as the official
// code computes it, for the ACM preset (IGAE tanh, 'in-out' weights, fixed α = 0.5):
//   Z_AE = AE encoder(X); Z_IGAE = IGAE encoder(X, Â); Z_I = ½Z_AE + ½Z_IGAE; Z_L = Â Z_I;
//   Z̃ = β softmax(Z_L Z_Lᵀ) Z_L + Z_L; X̂ = AE decoder(Z̃); Ẑ = IGAE decoder(Z̃, Â);
//   L = mse(X̂, X) + mse(Ẑ, ÂX) + γ mean((σ(Z_IGAE Z_IGAEᵀ) + σ(ẐẐᵀ) − Â)²) + λ KL_triplet(P ‖ Q, Q1, Q2),
//   P = target(Q(Z̃)) detached; then Adam. The N×N matrices are dense, as tfjs (and the official code) form them.
import * as ops from '../compare/tfjs-ops';
import { tf } from '../compare/tfjs-ops';
import { tfStepBase } from './tfjs-common';
import type { StepInputs, StepModel } from './types';

const LAMBDA = 10;
const GAMMA = 0.1;

export function createTfjsDfcnStep(inp: StepInputs): StepModel {
  const { P, a, spmm, x, lin, model } = tfStepBase(inp);
  const adjX = ops.spmmSegment(a, x); // the constant target ÂX
  const adjDense = ops.denseOf(inp.adj); // L_a's target: Â itself, dense N×N as in the official code

  const leaky = (t: tf.Tensor2D) => tf.leakyRelu(t, 0.2);
  // IGAE layer: Â · act(H W) (activation before propagation, as the official IGAE.py).
  const gnn = (h: tf.Tensor2D, name: string, active: boolean) => {
    const v = tf.matMul(h, P.v(`${name}.weight`)) as tf.Tensor2D;
    return spmm(active ? tf.tanh(v) : v);
  };

  const loss = (): tf.Scalar => {
    let h = leaky(lin(x, 'ae.encoder.enc_1'));
    h = leaky(lin(h, 'ae.encoder.enc_2'));
    h = leaky(lin(h, 'ae.encoder.enc_3'));
    const zAe = lin(h, 'ae.encoder.z_layer');
    let g = gnn(x, 'gae.encoder.gnn_1', true);
    g = gnn(g, 'gae.encoder.gnn_2', true);
    const zIgae = gnn(g, 'gae.encoder.gnn_3', false);
    const zI = tf.add(tf.mul(0.5, zAe), tf.mul(0.5, zIgae)) as tf.Tensor2D;
    const zL = spmm(zI);
    const zG = ops.selfCorrelation(zL);
    const zTilde = tf.add(tf.mul(P.v('gamma'), zG), zL) as tf.Tensor2D;
    let d = leaky(lin(zTilde, 'ae.decoder.dec_1'));
    d = leaky(lin(d, 'ae.decoder.dec_2'));
    d = leaky(lin(d, 'ae.decoder.dec_3'));
    const xHat = lin(d, 'ae.decoder.x_bar_layer');
    let e = gnn(zTilde, 'gae.decoder.gnn_4', true);
    e = gnn(e, 'gae.decoder.gnn_5', true);
    const zHat = gnn(e, 'gae.decoder.gnn_6', true);

    const lAe = ops.mse(xHat, x);
    const lW = ops.mse(zHat, adjX);
    const aHat = tf.add(tf.sigmoid(ops.matMulNT(zIgae, zIgae)), tf.sigmoid(ops.matMulNT(zHat, zHat)));
    const lA = ops.mse(aHat, adjDense);
    const mu = P.v('cluster_layer') as tf.Tensor as tf.Tensor2D;
    const q = ops.studentT(zTilde, mu);
    const q1 = ops.studentT(zAe, mu);
    const q2 = ops.studentT(zIgae, mu);
    const p = ops.detach(ops.targetDistribution(q)); // P from Q(Z̃), detached (as the official train.py)
    const meanLogQ = tf.div(tf.add(tf.add(tf.log(q), tf.log(q1)), tf.log(q2)), 3) as tf.Tensor2D;
    const lKl = ops.klBatchMean(p, meanLogQ);
    return tf.addN([lAe, lW, tf.mul(GAMMA, lA), tf.mul(LAMBDA, lKl)]) as tf.Scalar;
  };

  return model(loss, [adjX, adjDense]);
}
