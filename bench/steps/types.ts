// What every implementation of a benchmarked training step offers (dgclust, tfjs; PyTorch mirrors it in Python).
import type { CsrArrays } from '../compare/store';
import type { WeightMap } from './weights';

export interface StepInputs {
  /** N × nInput features. */
  x: Float32Array;
  n: number;
  nInput: number;
  nClusters: number;
  /** Row-normalized Â and its transpose. */
  adj: CsrArrays;
  adjT: CsrArrays;
  /** Initial weights, by the official parameter names (torch layouts). */
  weights: WeightMap;
  lr: number;
}

export interface StepModel {
  /** One full training step: forward, target distribution, loss, backward, Adam update. Returns the loss (before the update). */
  step(): number;
  /** The loss and the gradient of every parameter at the current weights (no update), torch layouts. */
  lossAndGrads(): { loss: number; grads: Map<string, Float32Array> };
  dispose(): void;
}

/** A step that cannot run yet (e.g. the model file is missing): the table prints the reason. */
export interface PendingStep {
  pending: string;
}
