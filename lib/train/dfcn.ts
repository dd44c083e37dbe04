// Training DFCN: its own three-stage pretraining (dfcn.md §4.1) or the official pretrained weights, then the
// 200-epoch main training of the official train.py (§4.2):
//   μ ← k-means(Z̃) of the initial forward pass; then every epoch: forward; P = target(Q(Z̃)) detached;
//   L = L_AE + L_w + γ L_a + λ L_KL; backward; Adam step; k-means on the pre-step Z̃ → ACC/NMI/ARI/F1.
// Two results are kept: the final epoch (label-free: the headline) and the epoch of best ACC (the paper's
// protocol, which selects with the labels).
import { Dfcn, DFCN_GAMMA, DFCN_LAMBDA } from '../models/dfcn';
import type { DfcnPreset } from '../models/dfcn';
import type { DfcnInput } from '../models/dfcn-input';
import { Adam } from '../optim/adam';
import { backward, noGrad } from '../autograd/tape';
import * as ops from '../ops';
import { Generator } from '../random';
import { DgcError, Tensor, keep, tidy } from '../tensor';
import { native } from '../native';
import { saveState } from '../io/state';
import type { Evaluation } from '../cluster/metrics';
import { clusterEmbedding, runPhase } from './loop';
import type { EpochEvent, TrainCallbacks } from './loop';

export interface DfcnPretrainOptions {
  /** Stage 1a: the AE alone, mini-batches (default 30 epochs, batch 256). */
  aeEpochs?: number;
  batchSize?: number;
  /** Stage 1b: the IGAE alone, full batch (default 30). */
  igaeEpochs?: number;
  /** Stage 2: the whole network without the KL term, β trained from 0 (default 100). */
  jointEpochs?: number;
  /** Learning rate of the three stages (default 1e-3, as the distributed pretraining demo). */
  lr?: number;
  /**
   * Stage 2's loss. 'demo' (default): the distributed pretraining demo's (dfcn.md §4.1), L_AE + 0.01·L_w
   * + 0.01·L_a + 0.01·MSE(Z_AE, Z_IGAE). 'framework': L_AE + L_w + γ·L_a, as A-Unified-Framework's
   * re-implementation. On DBLP (seed 0, k-means on Z̃ right after pretraining) 'demo' gives ACC 73.0 where
   * 'framework' gives 58.1 (the official weights: 71.5); it is also ahead on ACM and CITE (docs/RESULTS.md).
   */
  jointLoss?: 'framework' | 'demo';
}

export interface DfcnTrainOptions {
  seed?: number;
  /** Main-training epochs (default 200). */
  epochs?: number;
  /** Main-training learning rate (default: the dataset preset's). */
  lr?: number;
  /** Weights to start from (a state dict with the official names); when absent, the model pretrains itself. */
  init?: Map<string, Tensor>;
  pretrain?: DfcnPretrainOptions;
  learnableAlpha?: boolean;
  lambda?: number;
  gamma?: number;
  /** k-means restarts of each evaluation (default 20, as the code). */
  evalNInit?: number;
  /** Save the final model's state here (DGCSTATE file). */
  saveFinal?: string;
  /** Save the state at the best-ACC epoch here (after that epoch's step, as the official code saves it). */
  saveBest?: string;
  callbacks?: TrainCallbacks;
}

export interface EpochResult {
  epoch: number;
  metrics: Evaluation;
}

export interface DfcnRunResult {
  seed: number;
  /** The last epoch's evaluation (the label-free result). */
  final: EpochResult;
  /** The epoch with the highest ACC (selected with the labels: the paper's protocol). */
  best: EpochResult;
  /** Metrics right after initialization (k-means on Z̃ of the starting weights). */
  initial: Evaluation;
  events: EpochEvent[];
  timings: {
    pretrainMs: number;
    trainMs: number;
    /** Median milliseconds of one main-training epoch: optimisation only, and its evaluation. */
    epochTrainMs: number;
    epochEvalMs: number;
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
}

/** Trains DFCN on prepared input; returns the final and best-epoch metrics and the per-epoch events. */
export function trainDfcn(input: DfcnInput, preset: DfcnPreset, options: DfcnTrainOptions = {}): DfcnRunResult {
  const seed = options.seed ?? 0;
  const epochs = options.epochs ?? 200;
  const lr = options.lr ?? preset.lr;
  if (!Number.isInteger(epochs) || epochs < 1) throw new DgcError('DGC_ARG', `trainDfcn: epochs must be a positive integer, got ${epochs}`);
  if (!(lr > 0)) throw new DgcError('DGC_ARG', `trainDfcn: lr must be > 0, got ${lr}`);
  const gen = new Generator(seed);
  const device = input.x.device;
  const model = new Dfcn({
    nInput: input.x.shape[1],
    nClusters: input.nClusters,
    igaeActivation: preset.igaeActivation,
    igaeLayout: preset.igaeLayout,
    learnableAlpha: options.learnableAlpha,
    generator: gen,
    device,
  });
  const weights = { lambda: options.lambda ?? DFCN_LAMBDA, gamma: options.gamma ?? DFCN_GAMMA };
  const cb = options.callbacks ?? {};
  const events: EpochEvent[] = [];
  try {
    const t0 = performance.now();
    if (options.init) {
      model.loadStateDict(options.init, { strict: !options.learnableAlpha });
    } else {
      events.push(...pretrainDfcn(model, input, gen, { ...options.pretrain, gamma: weights.gamma }, cb));
    }
    const pretrainMs = performance.now() - t0;

    // μ ← k-means centres of Z̃ from a forward pass of the starting weights (train.py).
    const z0 = noGrad(() => tidy(() => keep(model.forward(input.x, input.adj).zTilde)));
    const init = clusterEmbedding(z0, input.nClusters, input.labels, { nInit: options.evalNInit ?? 20, seed: seed * 1000 + 999 });
    z0.dispose();
    tidy(() => native.copyInto(model.clusterLayer.handle, ops.tensor(init.centers, [input.nClusters, model.nZ], { device }).handle));

    const opt = new Adam(model.parameters(), { lr });
    let best: EpochResult | null = null;
    let final: EpochResult | null = null;
    const t1 = performance.now();
    try {
      events.push(...runPhase('train', epochs, (epoch) => {
        const ta = performance.now();
        const { losses, z } = tidy(() => {
          const f = model.forward(input.x, input.adj);
          // P from the detached Q of this same forward pass, every epoch (§2).
          const p = noGrad(() => ops.targetDistribution(model.softAssign(f.zTilde)));
          const l = model.losses(f, input.x, input.adj, input.adjX, p, weights);
          const z = keep(ops.detach(f.zTilde)); // the pre-step Z̃ that is evaluated
          backward(l.total);
          opt.step();
          opt.zeroGrad();
          return { losses: { total: l.total.item(), ae: l.ae.item(), igaeW: l.igaeW.item(), igaeA: l.igaeA.item(), kl: l.kl!.item() / weights.lambda }, z };
        });
        const trainMs = performance.now() - ta;
        const tb = performance.now();
        const ev = clusterEmbedding(z, input.nClusters, input.labels, { nInit: options.evalNInit ?? 20, seed: seed * 1000 + epoch });
        z.dispose();
        final = { epoch, metrics: ev.metrics! };
        if (!best || final.metrics.acc > best.metrics.acc) {
          best = final;
          // The state that was evaluated is one Adam step behind the model now; the official code saves the
          // stepped state. Saving after the step, as it does, keeps the file consistent with its checkpoints.
          if (options.saveBest) saveState(options.saveBest, model.stateDict());
        }
        return { losses, metrics: ev.metrics, trainMs, evalMs: performance.now() - tb };
      }, cb));
    } finally {
      opt.dispose();
    }
    const trainMs = performance.now() - t1;
    if (options.saveFinal) saveState(options.saveFinal, model.stateDict());
    const main = events.filter((e) => e.phase === 'train');
    return {
      seed,
      final: final!,
      best: best!,
      initial: init.metrics!,
      events,
      timings: { pretrainMs, trainMs, epochTrainMs: median(main.map((e) => e.trainMs)), epochEvalMs: median(main.map((e) => e.evalMs)) },
    };
  } finally {
    for (const p of model.parameters()) p.dispose();
  }
}

/**
 * DFCN's pretraining (§4.1; not in the official repository): 1a the AE alone on mini-batches, 1b the IGAE alone
 * (L_w + γ L_a, its decoder on Z_IGAE), 2 the whole network without the KL term, β trained from 0: by default the
 * distributed demo's loss L_AE + 0.01·(L_w + L_a + MSE(Z_AE, Z_IGAE)) (`jointLoss: 'framework'` for
 * L_AE + L_w + γ L_a, as the re-implementation in A-Unified-Framework). Adam at `lr` (1e-3) in every stage.
 */
export function pretrainDfcn(model: Dfcn, input: DfcnInput, gen: Generator, options: DfcnPretrainOptions & { gamma?: number } = {},
                             cb: TrainCallbacks = {}): EpochEvent[] {
  const lr = options.lr ?? 1e-3;
  const gamma = options.gamma ?? DFCN_GAMMA;
  const batchSize = options.batchSize ?? 256;
  const { x, adj, adjX } = input;
  const n = x.shape[0];
  const events: EpochEvent[] = [];

  const aeParams = model.ae.parameters();
  let opt = new Adam(aeParams, { lr });
  try {
    events.push(...runPhase('pretrain-ae', options.aeEpochs ?? 30, () => {
      const order = gen.permutation(n);
      let sum = 0;
      let batches = 0;
      for (let s = 0; s < n; s += batchSize) {
        sum += tidy(() => {
          const xb = ops.gatherRows(x, ops.tensor(order.subarray(s, Math.min(n, s + batchSize)), undefined, { device: x.device }));
          const l = ops.mse(model.ae.decoder.forward(model.ae.encoder.forward(xb)), xb);
          backward(l);
          opt.step();
          opt.zeroGrad();
          return l.item();
        });
        batches++;
      }
      return { losses: { ae: sum / batches } };
    }, cb));
  } finally {
    opt.dispose();
  }

  opt = new Adam(model.gae.parameters(), { lr });
  try {
    events.push(...runPhase('pretrain-igae', options.igaeEpochs ?? 30, () => tidy(() => {
      const zIgae = model.gae.encoder.forward(x, adj);
      const zHat = model.gae.decoder.forward(zIgae, adj);
      const lw = ops.mse(zHat, adjX);
      const la = ops.gramSigmoidMse(adj, zIgae, zHat);
      const l = ops.add(lw, ops.scale(la, gamma));
      backward(l);
      opt.step();
      opt.zeroGrad();
      return { losses: { total: l.item(), igaeW: lw.item(), igaeA: la.item() } };
    }), cb));
  } finally {
    opt.dispose();
  }

  opt = new Adam(model.parameters().filter((p) => p !== model.clusterLayer), { lr });
  try {
    const demo = (options.jointLoss ?? 'demo') === 'demo';
    events.push(...runPhase('pretrain-joint', options.jointEpochs ?? 100, () => tidy(() => {
      const f = model.forward(x, adj);
      const l = model.losses(f, x, adj, adjX, null, { gamma });
      const consistency = demo ? ops.mse(f.zAe, f.zIgae) : null;
      const total = consistency
        ? ops.add(l.ae, ops.scale(ops.add(ops.add(l.igaeW, l.igaeA), consistency), 0.01))
        : l.total;
      backward(total);
      opt.step();
      opt.zeroGrad();
      return {
        losses: {
          total: total.item(), ae: l.ae.item(), igaeW: l.igaeW.item(), igaeA: l.igaeA.item(),
          ...(consistency ? { consistency: consistency.item() } : {}),
        },
      };
    }), cb));
  } finally {
    opt.dispose();
  }
  return events;
}
