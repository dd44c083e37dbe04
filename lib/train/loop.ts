// The pieces every model's training shares: epoch events, phases, per-epoch evaluation, seeded runs.
import { evaluate } from '../cluster/metrics';
import type { Evaluation } from '../cluster/metrics';
import { kmeans } from '../ops';
import { Tensor, tidy } from '../tensor';

/** What a training run reports after every epoch. */
export interface EpochEvent {
  /** 'pretrain-ae', 'pretrain-igae', 'pretrain-joint', 'train', … */
  phase: string;
  /** 1-based within the phase. */
  epoch: number;
  epochs: number;
  /** Loss terms of this epoch (as plain numbers). */
  losses: Record<string, number>;
  /** Clustering metrics of this epoch's evaluation (the model's primary readout), when labels were given. */
  metrics?: Evaluation;
  /** Metrics of every readout (e.g. argmax Z and argmax Q for SDCN), when labels were given. */
  readouts?: Record<string, Evaluation>;
  /** Mini-batch training: optimizer steps taken before this evaluation. */
  iteration?: number;
  /** Mini-batch training: the fraction of labels that changed since the previous evaluation. */
  labelChange?: number;
  /** Milliseconds of optimisation (forward, backward, step) and of evaluation in this epoch. */
  trainMs: number;
  evalMs: number;
}

export interface TrainCallbacks {
  onEpoch?: (e: EpochEvent) => void;
  /** A phase begins. */
  onPhase?: (phase: string, epochs: number) => void;
}

/** Runs `epochs` epochs of `step`, emitting an event per epoch; returns the events. */
export function runPhase(
  phase: string,
  epochs: number,
  step: (epoch: number) => { losses: Record<string, number>; metrics?: Evaluation; trainMs?: number; evalMs?: number },
  callbacks: TrainCallbacks = {},
): EpochEvent[] {
  callbacks.onPhase?.(phase, epochs);
  const events: EpochEvent[] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const t0 = performance.now();
    const r = step(epoch);
    const total = performance.now() - t0;
    const e: EpochEvent = {
      phase,
      epoch,
      epochs,
      losses: r.losses,
      metrics: r.metrics,
      trainMs: r.trainMs ?? total - (r.evalMs ?? 0),
      evalMs: r.evalMs ?? 0,
    };
    events.push(e);
    callbacks.onEpoch?.(e);
  }
  return events;
}

/** k-means (k-means++, nInit restarts) on an embedding and, with labels, the four metrics. */
export function clusterEmbedding(z: Tensor, k: number, labels: Int32Array | null, options: { nInit?: number; seed?: number } = {}):
  { predicted: Int32Array; metrics?: Evaluation; centers: Float32Array } {
  return tidy(() => {
    const r = kmeans(z, k, { nInit: options.nInit ?? 20, seed: options.seed ?? 0 });
    const centers = r.centers.data() as Float32Array;
    return { predicted: r.labels, metrics: labels ? evaluate(labels, r.labels) : undefined, centers };
  });
}

/** Mean and sample standard deviation (n − 1), as the papers report mean ± std over runs. */
export function meanStd(xs: readonly number[]): { mean: number; std: number } {
  const n = xs.length;
  if (n === 0) return { mean: NaN, std: NaN };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std };
}
