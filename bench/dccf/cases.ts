// The encoders both DCCF penalty benchmarks (run.ts, form-ab.ts) time the contractive penalty on: d-500-500-1000-d′
// for MNIST, USPS and Reuters-10K, with a batch of m uniform rows pushed through once for the hidden activations
// (their ReLU masks are what the penalty reads). Same generator seed, so both scripts see the same weights.
import * as dg from '../../lib';

export const PENALTY_ENCODERS: [name: string, d: number, dz: number][] = [['MNIST', 784, 10], ['USPS', 256, 10], ['Reuters-10K', 2000, 4]];

export interface PenaltyCase {
  ae: dg.MlpAutoencoder;
  /** W_1 … W_L of the encoder, as contractivePenalty takes them. */
  weights: dg.Tensor[];
  /** The encoder's hidden activations for the batch. */
  hidden: dg.Tensor[];
}

/** Builds one encoder's case, runs `fn` on it, frees it. */
export function withPenaltyCase<T>(d: number, dz: number, m: number, fn: (c: PenaltyCase) => T): T {
  const g = new dg.Generator(7);
  const ae = new dg.MlpAutoencoder({ nInput: d, hidden: [500, 500, 1000], nZ: dz, generator: g });
  const x = g.uniform([m, d], 0, 1);
  const weights = [...ae.encoderLayers.map((l) => l.weight), ae.zLayer.weight];
  const hidden = dg.noGrad(() => ae.encode(x).hidden.map((h) => dg.keep(h)));
  try {
    return fn({ ae, weights, hidden });
  } finally {
    for (const h of hidden) h.dispose();
    x.dispose();
    ae.dispose();
  }
}
