// DEC — Deep Embedded Clustering (Xie, Girshick & Farhadi, ICML 2016) and IDEC — Improved DEC (Guo et al.,
// IJCAI 2017), with the protocol of their authors' Keras code (DEC-keras, IDEC by X. Guo), the versions whose
// 10-trial means later papers quote.
//   Network: autoencoder d-500-500-2000-10, ReLU on hidden layers, linear embedding and output (DEC §3.2).
//   Pretraining: the whole autoencoder end to end, MSE, shuffled batches of 256 — MNIST / Fashion-MNIST: 300
//   epochs of SGD(lr 1, momentum 0.9) from VarianceScaling(1/3, fan_in, uniform) weights; USPS: 50 epochs of
//   Adam(1e-3) from glorot-uniform weights (DEC-keras's settings per dataset).
//   Clustering: μ = k-means (20 restarts) on the embedding; Q = Student-t (ν = 1, DEC eq. 1); every
//   `updateInterval` iterations P = target(Q) on all rows (eq. 3), labels = argmax Q, and training stops once
//   fewer than tol = 0.1% of the labels changed since the previous update; batches of 256 rows taken in order
//   (no shuffling), at most 20,000 iterations.
//   DEC: L = KL(P‖Q) (eq. 2) on the batch, SGD(0.01, 0.9), encoder and μ only (the decoder is dropped).
//   IDEC: L = MSE(X̂, X) + γ·KL(P‖Q), γ = 0.1 (IDEC eq. 7), SGD(0.1, 0.99), the whole autoencoder and μ.
//   Prediction: argmax Q of the final model. New rows: embedded and assigned the same way (predict()).
import { AutoencoderWithHead, prepareFeatureInput, prepareFeatureRows } from './blocks';
import type { FeatureInput } from './blocks';
import * as ops from '../ops';
import { Generator } from '../random';
import { DgcError, Tensor } from '../tensor';
import type { Device } from '../tensor';
import type {
  ClusteringModel, Inference, LossResult, ModelSpec, PaperTable, PretrainStage, ResolvedOptions,
  TargetContext,
} from './types';

/** The features, scaled (blocks.ts). */
export type DecInput = FeatureInput;

export interface DecSettings extends ResolvedOptions {
  /** Multiplies the features (1/255 for raw pixels). */
  inputScale: number;
  /** Embedding width (10) and hidden widths (500, 500, 2000). */
  nZ: number;
  init: 'variance-scaling' | 'xavier' | 'pytorch';
  pretrainEpochs: number;
  pretrainOptimizer: 'sgd' | 'adam';
  pretrainLr: number;
  pretrainMomentum: number;
  pretrainBatchSize: number;
  /** Clustering phase: SGD learning rate and momentum, batch size, iterations, P refresh, tolerance. */
  lr: number;
  momentum: number;
  optimizerKind: 'sgd' | 'adam';
  batchSize: number;
  maxIterations: number;
  updateInterval: number;
  tol: number;
  /** IDEC: weight γ of the clustering loss. */
  gamma: number;
}

export const prepareDecInput = prepareFeatureInput;

/** DEC's network: the d-500-500-2000-10 autoencoder and the clustering head (its AE stream: 'dec-ae'). */
class DecModule extends AutoencoderWithHead {
  constructor(nInput: number, nClusters: number, s: DecSettings, gen: Generator, device: Device) {
    super({ nInput, hidden: [500, 500, 2000], nZ: s.nZ, nClusters, init: s.init }, gen, 'dec-ae', device);
  }
}

class DecRun implements ClusteringModel<DecInput> {
  readonly module: DecModule;
  readonly centres: Tensor;
  constructor(input: DecInput, readonly s: DecSettings, gen: Generator, readonly improved: boolean) {
    this.module = new DecModule(input.x.shape[1], input.nClusters, s, gen, input.x.device);
    this.centres = this.module.head.mu;
  }

  loss(input: DecInput, rows: Tensor | null, ctx: TargetContext): LossResult {
    const xb = rows ? ops.gatherRows(input.x, rows) : input.x;
    const p = ctx.target();
    if (!p) throw new DgcError('DGC_INTERNAL', 'DEC: no target distribution');
    const { z } = this.module.ae.encode(xb);
    const kl = ops.klStudentT(z, this.module.head.mu, p, { weight: this.improved ? this.s.gamma : 1 });
    if (!this.improved) return { total: kl, parts: { kl } };
    const re = ops.mse(this.module.ae.decode(z), xb);
    return { total: ops.add(re, kl), parts: { reconstruction: re, kl: kl.item() / this.s.gamma } };
  }

  infer(input: DecInput): Inference {
    return this.embedRows(input.x);
  }

  embedRows(x: Tensor): Inference {
    return this.module.embedAndAssign(x);
  }
}

/** DEC-keras's pretraining: the whole autoencoder, MSE, shuffled batches (Keras fit shuffles every epoch). */
function decPretrain(run: ClusteringModel<DecInput>, input: DecInput, s: DecSettings): PretrainStage<DecInput>[] {
  const m = (run as DecRun).module;
  return [{
    name: 'pretrain-ae',
    epochs: s.pretrainEpochs,
    params: m.ae.parameters(),
    optimizer: s.pretrainOptimizer === 'sgd' ? { kind: 'sgd', lr: s.pretrainLr, momentum: s.pretrainMomentum } : { kind: 'adam', lr: s.pretrainLr },
    batchSize: s.pretrainBatchSize,
    generator: m.aeGen,
    cacheModule: m.ae,
    cacheKey: `dec-ae-${input.key}-z${s.nZ}-${s.init}-${s.pretrainOptimizer}${s.pretrainLr}m${s.pretrainMomentum}-e${s.pretrainEpochs}-b${s.pretrainBatchSize}`,
    loss: (inp, rows) => {
      const xb = rows ? ops.gatherRows(inp.x, rows) : inp.x;
      const l = ops.mse(m.ae.forward(xb).xBar, xb);
      return { total: l, parts: { reconstruction: l } };
    },
  }];
}

const DEC_COMMON = {
  nZ: 10, pretrainBatchSize: 256, pretrainMomentum: 0.9, batchSize: 256, maxIterations: 20000, tol: 0.001, gamma: 0.1,
};
/** MNIST / Fashion-MNIST (DEC-keras): raw pixels / 255, VarianceScaling init, SGD(1, 0.9) × 300 epochs, interval 140. */
const PIXELS = { inputScale: 1 / 255, init: 'variance-scaling' as const, pretrainEpochs: 300, pretrainOptimizer: 'sgd' as const, pretrainLr: 1, updateInterval: 140 };
/** USPS (DEC-keras): glorot init, Adam(1e-3) × 50 epochs, interval 30 (features already in [0, 1]). */
const SMALL = { inputScale: 1, init: 'xavier' as const, pretrainEpochs: 50, pretrainOptimizer: 'adam' as const, pretrainLr: 1e-3, updateInterval: 30 };

const decOptions = (improved: boolean): ModelSpec['options'] => ({
  lr: { type: 'number', min: 0, exclusiveMin: true, description: `clustering-phase learning rate (${improved ? 'IDEC: SGD 0.1' : 'DEC: SGD 0.01'})` },
  momentum: { type: 'number', min: 0, max: 1, description: `clustering-phase momentum (${improved ? '0.99' : '0.9'})` },
  optimizerKind: { type: 'string', choices: ['sgd', 'adam'], description: 'clustering-phase optimizer' },
  batchSize: { type: 'integer', min: 1, description: 'clustering-phase batch size (256)' },
  maxIterations: { type: 'integer', min: 0, description: 'clustering-phase iterations at most (20000)' },
  updateInterval: { type: 'integer', min: 1, description: 'iterations between target refreshes (MNIST 140, USPS 30)' },
  tol: { type: 'number', min: 0, description: 'stop when fewer than this fraction of labels change between refreshes (0.001)' },
  ...(improved ? { gamma: { type: 'number' as const, min: 0, description: 'IDEC: weight γ of the clustering loss (0.1)' } } : {}),
  inputScale: { type: 'number', min: 0, exclusiveMin: true, description: 'multiplies the features (1/255 for pixels)' },
  init: { type: 'string', choices: ['variance-scaling', 'xavier', 'pytorch'], description: 'autoencoder weight init' },
  pretrainEpochs: { type: 'integer', min: 0, description: 'autoencoder pretraining epochs' },
  pretrainOptimizer: { type: 'string', choices: ['sgd', 'adam'], description: 'autoencoder pretraining optimizer' },
  pretrainLr: { type: 'number', min: 0, exclusiveMin: true, description: 'autoencoder pretraining learning rate' },
  pretrainMomentum: { type: 'number', min: 0, max: 1, description: 'autoencoder pretraining momentum (SGD)' },
  pretrainBatchSize: { type: 'integer', min: 1, description: 'autoencoder pretraining batch size (256)' },
});

/**
 * The DEC and IDEC rows of DCCF's Table 2 (the DCCF authors' runs of the public code; ACC / NMI, percent, no std).
 * DEC-keras's README reports 10-trial means of DEC 91 / 87 (MNIST), 76 / 79 (USPS), 62 / 65 (Fashion-MNIST).
 */
const decPaper = (improved: boolean): PaperTable => ({
  source: `${improved ? 'IDEC' : 'DEC'} as reported in DCCF (Cai et al., Pattern Recognition 2022), Table 2`,
  protocol: 'argmax Q at the end of training',
  rows: improved
    ? { mnist: { acc: [84.92, null], nmi: [82.37, null] }, usps: { acc: [77.14, null], nmi: [79.15, null] }, fmnist: { acc: [59.23, null], nmi: [60.42, null] } }
    : { mnist: { acc: [84.46, null], nmi: [80.91, null] }, usps: { acc: [76.56, null], nmi: [78.37, null] }, fmnist: { acc: [58.69, null], nmi: [59.09, null] } },
});

function decSpec(improved: boolean): ModelSpec<DecInput, DecSettings> {
  const clustering = improved ? { lr: 0.1, momentum: 0.99, optimizerKind: 'sgd' as const } : { lr: 0.01, momentum: 0.9, optimizerKind: 'sgd' as const };
  const preset = (data: typeof PIXELS | typeof SMALL): DecSettings => ({ ...DEC_COMMON, ...data, ...clustering });
  return {
    name: improved ? 'idec' : 'dec',
    title: improved
      ? 'IDEC — Improved Deep Embedded Clustering (Guo et al., IJCAI 2017): DEC with the reconstruction loss kept'
      : 'DEC — Deep Embedded Clustering (Xie et al., ICML 2016): a pretrained autoencoder refined by self-training KL(P‖Q)',
    needsGraph: false,
    presets: { mnist: preset(PIXELS), fmnist: preset(PIXELS), usps: preset(SMALL) },
    // Other data: USPS's settings (Adam pretraining, glorot init), features as given.
    defaults: preset(SMALL),
    options: decOptions(improved),
    paper: decPaper(improved),
    paperProtocol: 'final',
    readouts: ['q'],
    prepare: (data, s, ctx) => prepareDecInput(data, s, ctx.device),
    prepareRows: prepareFeatureRows,
    create: (input, s, gen) => new DecRun(input, s, gen, improved),
    pretrain: decPretrain,
    schedule: (s) => ({
      mode: 'mini-batch', batchSize: s.batchSize, iterations: s.maxIterations, targetEvery: { iterations: s.updateInterval },
      order: 'sequential', stopTol: s.tol, finalEvaluation: 'end',
    }),
    optimizer: (s) => (s.optimizerKind === 'adam' ? { kind: 'adam', lr: s.lr } : { kind: 'sgd', lr: s.lr, momentum: s.momentum }),
    // DEC trains the encoder and μ (its model has no decoder); IDEC everything.
    trainParams: (run) => {
      const m = (run as DecRun).module;
      if (improved) return m.parameters();
      return [...m.ae.encoderLayers.flatMap((l) => l.parameters()), ...m.ae.zLayer.parameters(), m.head.mu];
    },
  };
}

export const decModelSpec = decSpec(false);
export const idecModelSpec = decSpec(true);
