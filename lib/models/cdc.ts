// CDC — Correlation losses for Deep Clustering (Trinh & Pham, "Learning discriminative representations for deep
// clustering", Multimedia Tools and Applications 2025), as its official Keras code (fict-labs/Deep-Clustering-CDC,
// our_HDC.py) runs it: that code produced the paper's tables, so it is the default, and the paper's own
// formulation is an option where the two differ.
//
//   Network (DEC's layout): autoencoder d-500-500-2000-10, ReLU on hidden layers, linear embedding Z and
//   reconstruction X'; a Student-t cluster layer Q (paper Eq. 8, α = 1).
//   Pair kernel of a mini-batch Y (paper Eq. 5): K_ij = (1 + ‖y_i − y_j‖²)^-1. The code normalises each row with
//   the self pair kept and clips to [1e-10, 1]; the paper normalises once over all pairs k ≠ l
//   (option normalization: 'global').
//   Correlation loss L_cr(Z, Y) (Eq. 6) = KL(Sharpen(C_Z) ‖ C_Y), Sharpen = DEC's target distribution applied to
//   the m×m matrix (the code sharpens C_Z; the paper does not: option sharpenCorrelation: false), KL with Keras's
//   clipping averaged over rows. Affinity loss L_a (Eq. 11) = KL(Sharpen(C_Q) ‖ C_Z). Clustering loss L_c (Eq. 9)
//   = Keras 'kld'(P, Q) against P (Eq. 10) refreshed from all rows every h iterations. Gradients flow through the
//   sharpened "targets" too (the code has no stop-gradient).
//   Pretraining (Eq. 7): L_AE = L_r + λ[L_cr(Z, X) + L_cr(Z, X')], L_r = Keras 'mse' (mean over m·d), SGD with
//   classic momentum, batches of 64 shuffled every epoch.
//   Fine-tuning (Eq. 13): L_DC = L_c + η·L_a + β·[L_cr(Z, X) + L_cr(Z, X')] — no reconstruction term (the code
//   compiles the fine-tuning model with a loss on the cluster output only; the decoder learns only through
//   β·L_cr(Z, X')). Algorithm 1 line 13 has the decoder also follow L_AE: option finetuneReconstruction adds L_r
//   on the decoder alone. Exactly T = 5000 iterations of 64 shuffled rows, P refreshed (and the model evaluated)
//   at iterations 0, h, 2h, …; no tolerance stop.
//   Prediction: argmax Q; the reported number is the last evaluation (iteration T − h), as the code logs it.
//   Settings per dataset (our_HDC.py, data_cdc.py): λ = β = 1e-3 (CIFAR-10: λ = 1e-6), η = 0.75; Fashion-MNIST:
//   VarianceScaling init, pretraining SGD(0.1, 0.9) × 100 epochs, fine-tuning SGD(0.01, 0.9), h = 100.
import { AutoencoderWithHead, prepareFeatureInput, prepareFeatureRows } from './blocks';
import type { FeatureInput } from './blocks';
import * as ops from '../ops';
import { Generator } from '../random';
import { DgcError, Tensor } from '../tensor';
import type { Device } from '../tensor';
import type {
  ClusteringModel, Inference, LossResult, ModelSpec, OptionSpec, PaperTable, PretrainStage,
  ResolvedOptions, TargetContext,
} from './types';

/** The features, scaled (blocks.ts). */
export type CdcInput = FeatureInput;

export interface CdcSettings extends ResolvedOptions {
  /** Multiplies the features (1/255 for raw pixels). */
  inputScale: number;
  /** Embedding width (10); the hidden widths are DEC's 500, 500, 2000. */
  nZ: number;
  /** Weight init: Keras VarianceScaling(1/3, fan_in, uniform) (Fashion-MNIST, Reuters) or glorot_uniform (STL-10, CIFAR-10). */
  init: 'variance-scaling' | 'xavier' | 'pytorch';
  /** Pretraining: SGD with classic momentum, epochs, batch size, and λ of L_AE (Eq. 7). */
  pretrainEpochs: number;
  pretrainLr: number;
  pretrainMomentum: number;
  pretrainBatchSize: number;
  lambda: number;
  /** Fine-tuning: SGD learning rate and momentum, batch size, iterations T, P refresh interval h. */
  lr: number;
  momentum: number;
  batchSize: number;
  iterations: number;
  updateInterval: number;
  /** Weights of L_a and of the correlation losses in L_DC (Eq. 13). */
  eta: number;
  beta: number;
  /** Pair-kernel normalisation: 'row' (the code: per row, self pair kept) or 'global' (paper Eq. 5). */
  normalization: 'row' | 'global';
  /** Sharpen C_Z in L_cr (the code: true; the paper's Eq. 6: false). C_Q in L_a is sharpened either way. */
  sharpenCorrelation: boolean;
  /** Fine-tuning also trains the decoder on L_r (paper Algorithm 1 line 13; the code: false). */
  finetuneReconstruction: boolean;
}

export const prepareCdcInput = prepareFeatureInput;

/** CDC's network: DEC's autoencoder layout and clustering head (its AE stream: 'cdc-ae'). */
class CdcModule extends AutoencoderWithHead {
  constructor(nInput: number, nClusters: number, s: CdcSettings, gen: Generator, device: Device) {
    super({ nInput, hidden: [500, 500, 2000], nZ: s.nZ, nClusters, init: s.init }, gen, 'cdc-ae', device);
  }
}

/**
 * One pairwise KL term, weight · KL([Sharpen] C(ya) ‖ C(yb)): the code's form (row normalisation, sharpened) by
 * the fused cdcCorrelationLoss, every other variant by cdcPairLoss. No m×m matrix reaches JS.
 */
function pairTerm(ya: Tensor, yb: Tensor, weight: number, s: CdcSettings, sharpen: boolean): Tensor {
  // A batch of one row (a last partial batch) has no pairs: the term is 0 (the row form gives 0 by itself).
  if (s.normalization === 'global' && ya.shape[0] < 2) return ops.scalar(0, { device: ya.device });
  if (s.normalization === 'row' && sharpen) return ops.cdcCorrelationLoss(ya, yb, { weight });
  return ops.cdcPairLoss(ya, yb, { weight, normalization: s.normalization, sharpen });
}

/** L_cr(Z, X) + L_cr(Z, X') weighted (Eq. 7 / Eq. 12); adds the unweighted parts to `parts`. */
function correlationTerms(z: Tensor, xb: Tensor, xBar: Tensor, weight: number, s: CdcSettings,
                          parts: Record<string, Tensor | number>): Tensor {
  const atX = pairTerm(z, xb, weight, s, s.sharpenCorrelation);
  const atOutput = pairTerm(z, xBar, weight, s, s.sharpenCorrelation);
  parts.correlationX = atX.item() / weight;
  parts.correlationOutput = atOutput.item() / weight;
  return ops.add(atX, atOutput);
}

export class CdcRun implements ClusteringModel<CdcInput> {
  readonly module: CdcModule;
  readonly centres: Tensor;
  constructor(input: CdcInput, readonly s: CdcSettings, gen: Generator) {
    this.module = new CdcModule(input.x.shape[1], input.nClusters, s, gen, input.x.device);
    this.centres = this.module.head.mu;
  }

  /** L_AE on a batch (Eq. 7): the pretraining loss. */
  pretrainLoss(xb: Tensor): { total: Tensor; parts: Record<string, Tensor | number> } {
    const { xBar, z } = this.module.ae.forward(xb);
    const reconstruction = ops.mse(xBar, xb);
    const parts: Record<string, Tensor | number> = { reconstruction };
    if (this.s.lambda === 0) return { total: reconstruction, parts };
    const total = ops.add(reconstruction, correlationTerms(z, xb, xBar, this.s.lambda, this.s, parts));
    return { total, parts };
  }

  /** L_DC on a batch (Eq. 13) against the batch's rows of P. */
  loss(input: CdcInput, rows: Tensor | null, ctx: TargetContext): LossResult {
    const s = this.s;
    const xb = rows ? ops.gatherRows(input.x, rows) : input.x;
    const p = ctx.target();
    if (!p) throw new DgcError('DGC_INTERNAL', 'CDC: no target distribution');
    const { z } = this.module.ae.encode(xb);
    const q = this.module.head.softAssign(z);
    // L_c = Keras 'kld'(P, Q) (Eq. 9): P is a constant, the gradient reaches z and μ through Q.
    const clustering = ops.rowKlClipped(p, q);
    const parts: Record<string, Tensor | number> = { clustering };
    let total = clustering;
    if (s.eta > 0) {
      // L_a = KL(Sharpen(C_Q) ‖ C_Z) (Eq. 11): C_Q is always sharpened ("computed like P").
      const affinity = pairTerm(q, z, s.eta, s, true);
      parts.affinity = affinity.item() / s.eta;
      total = ops.add(total, affinity);
    }
    if (s.beta > 0 || s.finetuneReconstruction) {
      const xBar = this.module.ae.decode(z);
      if (s.beta > 0) total = ops.add(total, correlationTerms(z, xb, xBar, s.beta, s, parts));
      if (s.finetuneReconstruction) {
        // Algorithm 1 line 13: the decoder (W') follows L_r; the encoder (W) only L_DC (line 14), so L_r sees a
        // detached Z.
        const reconstruction = ops.mse(this.module.ae.decode(ops.detach(z)), xb);
        parts.reconstruction = reconstruction;
        total = ops.add(total, reconstruction);
      }
    }
    return { total, parts };
  }

  infer(input: CdcInput): Inference {
    return this.embedRows(input.x);
  }

  embedRows(x: Tensor): Inference {
    return this.module.embedAndAssign(x);
  }
}

/** The pretraining stage: L_AE (Eq. 7) on shuffled batches, SGD with momentum; cached per settings and seed. */
function cdcPretrain(run: ClusteringModel<CdcInput>, input: CdcInput, s: CdcSettings): PretrainStage<CdcInput>[] {
  const r = run as CdcRun;
  const m = r.module;
  // Only settings that change the pretrained weights name the cache entry (η, β and the fine-tuning do not).
  const corr = s.lambda === 0 ? 'l0' : `l${s.lambda}-${s.normalization}${s.sharpenCorrelation ? '-sharp' : ''}`;
  return [{
    name: 'pretrain-ae',
    epochs: s.pretrainEpochs,
    params: m.ae.parameters(),
    optimizer: { kind: 'sgd', lr: s.pretrainLr, momentum: s.pretrainMomentum },
    batchSize: s.pretrainBatchSize,
    generator: m.aeGen,
    cacheModule: m.ae,
    cacheKey: `cdc-ae-${input.key}-z${s.nZ}-${s.init}-sgd${s.pretrainLr}m${s.pretrainMomentum}-e${s.pretrainEpochs}-b${s.pretrainBatchSize}-${corr}`,
    loss: (inp, rows) => r.pretrainLoss(rows ? ops.gatherRows(inp.x, rows) : inp.x),
  }];
}

const CDC_COMMON = {
  nZ: 10, pretrainMomentum: 0.9, pretrainBatchSize: 64, lambda: 1e-3, momentum: 0.9, batchSize: 64, iterations: 5000,
  eta: 0.75, beta: 1e-3, normalization: 'row' as const, sharpenCorrelation: true, finetuneReconstruction: false,
};
/** Fashion-MNIST (our_HDC.py): VarianceScaling, pretraining SGD(0.1, 0.9) × 100 epochs, fine-tuning SGD(0.01, 0.9), h = 100. */
const FMNIST = { init: 'variance-scaling' as CdcSettings['init'], pretrainEpochs: 100, pretrainLr: 0.1, lr: 0.01, updateInterval: 100 };

/** A preset from the common settings, a dataset's optimiser settings and its input scale. */
const preset = (o: typeof FMNIST & { inputScale: number; lambda?: number }): CdcSettings => ({ ...CDC_COMMON, ...o });

export const cdcPresets: Record<string, CdcSettings> = {
  // The paper's Fashion-MNIST (raw pixels / 255).
  fmnist: preset({ ...FMNIST, inputScale: 1 / 255 }),
  // Extensions, with Fashion-MNIST's settings: MNIST and COIL-20 (pixels / 255), USPS (already in [0, 1]).
  mnist: preset({ ...FMNIST, inputScale: 1 / 255 }),
  usps: preset({ ...FMNIST, inputScale: 1 }),
  coil20: preset({ ...FMNIST, inputScale: 1 / 255 }),
  // The paper's other datasets, from the user's files (--features FILE --preset NAME; docs/MODELS.md says how
  // the code made them): Reuters-10K tf-idf × √2000; ResNet-50 features of STL-10 / CIFAR-10 scaled to [0, 1].
  reuters10k: preset({ init: 'variance-scaling', pretrainEpochs: 30, pretrainLr: 0.1, lr: 0.01, updateInterval: 50, inputScale: 1 }),
  stl10: preset({ init: 'xavier', pretrainEpochs: 30, pretrainLr: 1, lr: 0.01, updateInterval: 50, inputScale: 1 }),
  cifar10: preset({ init: 'xavier', pretrainEpochs: 60, pretrainLr: 1, lr: 0.1, updateInterval: 80, inputScale: 1, lambda: 1e-6 }),
};

export const cdcOptions: Record<string, OptionSpec> = {
  inputScale: { type: 'number', min: 0, exclusiveMin: true, description: 'multiplies the features (1/255 for pixels)' },
  init: { type: 'string', choices: ['variance-scaling', 'xavier', 'pytorch'], description: "autoencoder weight init (Keras VarianceScaling(1/3) or glorot_uniform ('xavier'))" },
  pretrainEpochs: { type: 'integer', min: 0, description: 'autoencoder pretraining epochs (Fashion-MNIST: 100)' },
  pretrainLr: { type: 'number', min: 0, exclusiveMin: true, description: 'pretraining SGD learning rate (Fashion-MNIST: 0.1)' },
  pretrainMomentum: { type: 'number', min: 0, max: 1, description: 'pretraining SGD momentum (0.9)' },
  pretrainBatchSize: { type: 'integer', min: 2, max: 8192, description: 'pretraining batch size (64)' },
  lambda: { type: 'number', min: 0, description: 'λ: weight of the correlation losses in pretraining, Eq. 7 (1e-3; 0: AE + L_r)' },
  lr: { type: 'number', min: 0, exclusiveMin: true, description: 'fine-tuning SGD learning rate (0.01)' },
  momentum: { type: 'number', min: 0, max: 1, description: 'fine-tuning SGD momentum (0.9)' },
  batchSize: { type: 'integer', min: 2, max: 8192, description: 'fine-tuning batch size (64)' },
  iterations: { type: 'integer', min: 0, description: 'fine-tuning iterations T (5000)' },
  updateInterval: { type: 'integer', min: 1, description: 'h: iterations between target refreshes (Fashion-MNIST: 100)' },
  eta: { type: 'number', min: 0, description: 'η: weight of the affinity loss L_a, Eq. 13 (0.75; 0 drops it)' },
  beta: { type: 'number', min: 0, description: 'β: weight of the correlation losses in fine-tuning, Eq. 13 (1e-3; 0 drops them)' },
  normalization: { type: 'string', choices: ['row', 'global'], description: "pair kernel: 'row' (the code: per row, self pair kept) or 'global' (paper Eq. 5)" },
  sharpenCorrelation: { type: 'boolean', description: 'sharpen C_Z in the correlation losses (the code: true; paper Eq. 6: false)' },
  finetuneReconstruction: { type: 'boolean', description: 'fine-tuning also trains the decoder on L_r (paper Algorithm 1 line 13; the code: false)' },
};

const cdcPaper: PaperTable = {
  source: 'Trinh & Pham, Multimedia Tools and Applications 2025, Table 2 (mean of 10 trials; no std given)',
  protocol: 'argmax Q at the last logged evaluation (iteration T − h) of each trial, mean (and upper median) of 10 trials',
  rows: {
    reuters10k: { acc: [82.6, null], nmi: [60.7, null] },
    fmnist: { acc: [64.9, null], nmi: [64.5, null] },
    stl10: { acc: [96.3, null], nmi: [91.8, null] },
    cifar10: { acc: [79.2, null], nmi: [68.5, null] },
  },
  // Table 2's medians: the upper median (6th of 10 sorted values) of the same trials.
  medians: {
    reuters10k: { acc: [83.9, null], nmi: [61.9, null] },
    fmnist: { acc: [66.0, null], nmi: [64.6, null] },
    stl10: { acc: [96.5, null], nmi: [92.0, null] },
    cifar10: { acc: [79.7, null], nmi: [68.6, null] },
  },
  // Table 3's pretraining columns are k-means after pretraining: AE + L_AE (the preset's L_AE pretraining) and
  // AE + L_r (`--lambda 0`), compared with the runs' initial rows.
  initial: {
    name: 'AE + L_AE (Table 3: k-means after the L_AE pretraining)',
    rows: { reuters10k: { acc: [79.5, null], nmi: [54.9, null] }, fmnist: { acc: [60.1, null], nmi: [58.1, null] },
      stl10: { acc: [86.3, null], nmi: [78.0, null] }, cifar10: { acc: [75.6, null], nmi: [62.7, null] } },
  },
  // Its fine-tuning ablations (mean ACC (NMI) of the trials) from the L_AE-pretrained autoencoder AE*.
  variants: [
    {
      name: 'AE + L_r (Table 3: k-means after a reconstruction-only pretraining)', options: { lambda: 0 }, compare: 'initial',
      rows: { reuters10k: { acc: [75.2, null], nmi: [51.2, null] }, fmnist: { acc: [56.4, null], nmi: [59.0, null] },
        stl10: { acc: [75.4, null], nmi: [68.5, null] }, cifar10: { acc: [75.5, null], nmi: [62.4, null] } },
    },
    {
      name: 'AE* + L_c (Table 3)', options: { eta: 0, beta: 0 },
      rows: { reuters10k: { acc: [77.8, null], nmi: [58.5, null] }, fmnist: { acc: [61.1, null], nmi: [64.0, null] },
        stl10: { acc: [95.0, null], nmi: [90.2, null] }, cifar10: { acc: [78.4, null], nmi: [67.1, null] } },
    },
    {
      name: 'AE* + L_c + L_a (Table 3)', options: { beta: 0 },
      rows: { reuters10k: { acc: [81.5, null], nmi: [60.7, null] }, fmnist: { acc: [63.1, null], nmi: [64.3, null] },
        stl10: { acc: [95.7, null], nmi: [91.3, null] }, cifar10: { acc: [79.1, null], nmi: [68.5, null] } },
    },
  ],
};

export const cdcSpec: ModelSpec<CdcInput, CdcSettings> = {
  name: 'cdc',
  title: 'CDC — Correlation losses for Deep Clustering (Trinh & Pham, MTAP 2025): DEC with pairwise correlation and affinity losses',
  needsGraph: false,
  presets: cdcPresets,
  // Other data: Fashion-MNIST's optimiser settings, the features as given.
  defaults: preset({ ...FMNIST, inputScale: 1 }),
  options: cdcOptions,
  paper: cdcPaper,
  paperProtocol: 'final',
  readouts: ['q'],
  prepare: (data, s, ctx) => prepareCdcInput(data, s, ctx.device),
  prepareRows: prepareFeatureRows,
  create: (input, s, gen) => new CdcRun(input, s, gen),
  pretrain: cdcPretrain,
  schedule: (s) => ({
    mode: 'mini-batch', batchSize: s.batchSize, iterations: s.iterations, targetEvery: { iterations: s.updateInterval },
    order: 'shuffle', finalEvaluation: 'last-refresh',
  }),
  optimizer: (s) => ({ kind: 'sgd', lr: s.lr, momentum: s.momentum }),
};
