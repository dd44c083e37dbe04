// DCCF — Deep Clustering with Contractive representation learning and Focal loss (Cai, Wang, Xu & Guo, "Unsupervised
// deep clustering via contractive feature representation and focal loss", Pattern Recognition 2022). No official
// code was published; every value the paper does not state is an option below, with the default said and why.
//
//   Network (§3.4): autoencoder d-500-500-1000-d′-1000-500-500-d with d′ = K (§4.2: "the dimension of the hidden
//   layer is set to the number of classes"); ReLU on hidden layers, linear embedding and output (not stated:
//   the DEC/IDEC layout the first author's other code uses); PyTorch's default Linear init (not stated).
//   Loss (Eq. 14): L = L_rec + λ·L_J + β·(l_cl + l_fl), on each mini-batch of m rows:
//     L_rec = (1/m) Σ_i ‖x_i − x̂_i‖²                         (Eq. 5/7; the per-feature mean of IDEC's code is an option)
//     L_J   = (1/m) Σ_i ‖∂h_i/∂x_i‖²_F, exact, through the whole ReLU encoder (Eq. 6; ops.contractivePenalty)
//     s_ij  = Student-t soft assignment of h_i to μ_j, ν = 1    (Eq. 9)
//     t_ij  = (s_ij²/F_j) / Σ_l (s_il²/F_l), F_j = Σ_i s_ij over all N rows, refreshed every O epochs (Eq. 10)
//     l_cl  = (1/m) Σ_i Σ_j t_ij log(t_ij/s_ij)               (Eq. 8)
//     l_fl  = (1/m) Σ_i −(1 − s_{i,c_i})^γ log s_{i,c_i},  c_i = argmax_j t_ij, s clamped to [1e-7, 1]  (Eqs. 11–12)
//   λ = 1e-7, β = 0.1 (§4.7.1), γ = 2.
//   Protocol (Alg. 1, §4.2): pretrain the autoencoder 100 epochs (reconstruction; the contractive term is an
//   option); μ = k-means (20 restarts) on H; then 200 epochs of mini-batches (256) at lr 1e-3; every O = 1 epochs
//   T and the labels argmax S are recomputed on all N rows, and training stops once at most δ = 0.1% of the
//   labels changed since the previous update (Eq. 18). Prediction: argmax S on all N rows at the end.
//   Optimizer: the paper writes plain SGD updates (Eqs. 15–17, IDEC's derivation); Adam(1e-3), as the IDEC
//   PyTorch code the network and lr match, is the default and SGD the option.
import { AutoencoderWithHead, prepareFeatureInput, prepareFeatureRows } from './blocks';
import type { FeatureInput } from './blocks';
import * as ops from '../ops';
import { Generator } from '../random';
import { DgcError, Tensor } from '../tensor';
import type { Device } from '../tensor';
import type { LinearOptions } from '../nn/linear';
import type {
  ClusteringModel, Inference, LossResult, ModelSpec, OptionSpec, PaperRow, PaperTable, PretrainStage,
  ResolvedOptions, TargetContext,
} from './types';

/** The features, scaled (blocks.ts). */
export type DccfInput = FeatureInput;

export type ReconReduction = 'sum_features' | 'mean_all';
export type FocalTarget = 'hard_argmax_T' | 'soft_dot' | 'soft_per_class';

export interface DccfSettings extends ResolvedOptions {
  /** Multiplies the features (1/255 for raw pixels). */
  inputScale: number;
  /** Embedding width d′; 0 means K (the paper). */
  embeddingDim: number;
  init: NonNullable<LinearOptions['init']>;
  /** Weights of Eq. 14 and the focal exponent. */
  lambda: number;
  beta: number;
  gamma: number;
  /** Ablation switches (Table 5): the contractive term and the focal term. */
  contractive: boolean;
  focal: boolean;
  reconReduction: ReconReduction;
  klReduction: 'batchmean' | 'mean_all';
  focalTarget: FocalTarget;
  jacobianForm: 'auto' | 'direct' | 'gram';
  pretrainEpochs: number;
  pretrainLr: number;
  pretrainBatchSize: number;
  pretrainContractive: boolean;
  lr: number;
  optimizerKind: 'adam' | 'sgd';
  momentum: number;
  batchSize: number;
  epochs: number;
  /** O: epochs between target updates. */
  updateInterval: number;
  /** δ: stop once at most this fraction of labels changed between two updates. */
  tol: number;
  /** 'recompute': argmax S of the final model on all N rows; 'last_update': the labels C of the last update (Alg. 1). */
  prediction: 'recompute' | 'last_update';
}

export const prepareDccfInput = prepareFeatureInput;

/** The embedding width of a run: the option, or K (DCCF §4.2). */
export function dccfEmbeddingDim(s: DccfSettings, nClusters: number): number {
  return s.embeddingDim > 0 ? s.embeddingDim : nClusters;
}

/** DCCF's network: the d-500-500-1000-d' autoencoder and the clustering head (its AE stream: 'dccf-ae'). */
class DccfModule extends AutoencoderWithHead {
  constructor(nInput: number, nClusters: number, nZ: number, s: DccfSettings, gen: Generator, device: Device) {
    super({ nInput, hidden: [500, 500, 1000], nZ, nClusters, init: s.init }, gen, 'dccf-ae', device);
  }

  /** The encoder's weights W_1 … W_4 ([out, in]), in the order the Jacobian chain takes them. */
  encoderWeights(): Tensor[] {
    return [...this.ae.encoderLayers.map((l) => l.weight), this.ae.zLayer.weight];
  }
}

/** L_rec of a batch: (1/m) Σ_i ‖x_i − x̂_i‖² ('sum_features', Eq. 5) or the mean over all m·d entries ('mean_all'). */
function reconstruction(xBar: Tensor, x: Tensor, reduction: ReconReduction): Tensor {
  const mse = ops.mse(xBar, x);
  return reduction === 'sum_features' ? ops.scale(mse, x.shape[1]) : mse;
}

/**
 * (1 − p)^γ for an integer γ ≥ 0 by repeated products (the soft focal variants, composed on the tape; the hard
 * variant is the fused native op, which takes any γ ≥ 0).
 */
function powInt(base: Tensor, gamma: number): Tensor | null {
  if (gamma === 0) return null;
  let out = base;
  for (let i = 1; i < gamma; i++) out = ops.mul(out, base);
  return out;
}

/**
 * β·l_fl (Eqs. 11–12) for the batch's embedding z, centres μ and target rows t, in one of three readings of the
 * "true label" (the paper's Eq. 11 does not say whether y_true is argmax T or T itself):
 *   hard_argmax_T:  c_i = argmax_j t_ij, l = (β/m) Σ_i −(1 − ŝ_{i,c_i})^γ log ŝ_{i,c_i}   (fused native op, any γ ≥ 0)
 *   soft_dot:       p_i = Σ_j t_ij s_ij,  l = (β/m) Σ_i −(1 − p̂_i)^γ log p̂_i
 *   soft_per_class: l = (β/m) Σ_ij −t_ij (1 − ŝ_ij)^γ log ŝ_ij
 * The soft variants are composed on the tape (m×K is tiny next to a step): their floor at 1e-7 is the affine
 * v·(1 − 1e-7) + 1e-7 (there is no clamp op on the tape; it moves a value by at most 1e-7), and γ must be an
 * integer ((1 − p)^γ as repeated products).
 */
export function dccfFocalLoss(z: Tensor, mu: Tensor, t: Tensor, o: { variant: FocalTarget; gamma: number; weight: number }): Tensor {
  if (o.variant === 'hard_argmax_T') return ops.focalStudentT(z, mu, t, { weight: o.weight, gamma: o.gamma });
  if (!Number.isInteger(o.gamma) || o.gamma < 0) {
    throw new DgcError('DGC_ARG', `dccf: option 'gamma' must be a non-negative integer with focalTarget '${o.variant}', got ${o.gamma}`);
  }
  const m = Math.max(1, z.shape[0]);
  const s = ops.studentT(z, mu, 1);
  const eps = 1e-7;
  const p = o.variant === 'soft_dot' ? ops.rowSum(ops.mul(t, s)) : s;
  const pHat = ops.affine(p, 1 - eps, eps);
  const logP = ops.log(pHat);
  const modulating = powInt(ops.affine(pHat, -1, 1), o.gamma);
  let terms = modulating ? ops.mul(modulating, logP) : logP;
  if (o.variant === 'soft_per_class') terms = ops.mul(t, terms);
  return ops.scale(ops.sum(terms), -o.weight / m);
}

class DccfRun implements ClusteringModel<DccfInput> {
  readonly module: DccfModule;
  readonly centres: Tensor;
  constructor(input: DccfInput, readonly s: DccfSettings, gen: Generator) {
    const nZ = dccfEmbeddingDim(s, input.nClusters);
    this.module = new DccfModule(input.x.shape[1], input.nClusters, nZ, s, gen, input.x.device);
    this.centres = this.module.head.mu;
  }

  /** λ·L_J of a batch (scale λ/m) and L_J itself, through the fused exact Jacobian op. */
  contractive(hidden: Tensor[], lambda: number): { weighted: Tensor; unweighted: () => number } {
    const m = Math.max(1, hidden[0].shape[0]);
    const weighted = ops.contractivePenalty(this.module.encoderWeights(), hidden, { scale: lambda / m, form: this.s.jacobianForm });
    return { weighted, unweighted: () => weighted.item() / lambda };
  }

  loss(input: DccfInput, rows: Tensor | null, ctx: TargetContext): LossResult {
    const s = this.s;
    const t = ctx.target();
    if (!t) throw new DgcError('DGC_INTERNAL', 'dccf: no target distribution yet');
    const xb = rows ? ops.gatherRows(input.x, rows) : input.x;
    const { z, hidden } = this.module.ae.encode(xb);
    const rec = reconstruction(this.module.ae.decode(z), xb, s.reconReduction);
    const mu = this.module.head.mu;
    const k = mu.shape[0];
    // l_cl (Eq. 8), weighted by β: batchmean (per-sample sum over clusters), or IDEC-pytorch's element mean (÷K).
    const kl = ops.klStudentT(z, mu, t, { weight: s.klReduction === 'batchmean' ? s.beta : s.beta / k });
    let total = ops.add(rec, kl);
    const parts: Record<string, Tensor | number> = { reconstruction: rec, kl: kl.item() / s.beta };
    if (s.focal) {
      const fl = dccfFocalLoss(z, mu, t, { variant: s.focalTarget, gamma: s.gamma, weight: s.beta });
      total = ops.add(total, fl);
      parts.focal = fl.item() / s.beta;
    }
    if (s.contractive && s.lambda > 0) {
      const c = this.contractive(hidden, s.lambda);
      total = ops.add(total, c.weighted);
      parts.jacobian = c.unweighted();
    }
    return { total, parts };
  }

  infer(input: DccfInput): Inference {
    return this.embedRows(input.x);
  }

  embedRows(x: Tensor): Inference {
    return this.module.embedAndAssign(x);
  }
}

/** Pretraining (§3.4): the whole autoencoder end to end, shuffled batches, Adam; L_rec (+ λ·L_J when asked). */
function dccfPretrain(run: ClusteringModel<DccfInput>, input: DccfInput, s: DccfSettings): PretrainStage<DccfInput>[] {
  const r = run as DccfRun;
  const m = r.module;
  const withJ = s.pretrainContractive && s.lambda > 0;
  const nZ = dccfEmbeddingDim(s, input.nClusters);
  return [{
    name: 'pretrain-ae',
    epochs: s.pretrainEpochs,
    params: m.ae.parameters(),
    optimizer: { kind: 'adam', lr: s.pretrainLr },
    batchSize: s.pretrainBatchSize,
    generator: m.aeGen,
    cacheModule: m.ae,
    // One pretraining per (data, seed) serves every ablation row: the clustering-phase options are not in the key.
    cacheKey: `dccf-ae-${input.key}-z${nZ}-${s.init}-adam${s.pretrainLr}-e${s.pretrainEpochs}-b${s.pretrainBatchSize}-${s.reconReduction}` +
      (withJ ? `-cae${s.lambda}-${s.jacobianForm}` : ''),
    loss: (inp, rows): { total: Tensor; parts: Record<string, Tensor | number> } => {
      const xb = rows ? ops.gatherRows(inp.x, rows) : inp.x;
      const { z, hidden } = m.ae.encode(xb);
      const rec = reconstruction(m.ae.decode(z), xb, s.reconReduction);
      if (!withJ) return { total: rec, parts: { reconstruction: rec } };
      const c = r.contractive(hidden, s.lambda);
      return { total: ops.add(rec, c.weighted), parts: { reconstruction: rec, jacobian: c.unweighted() } };
    },
  }];
}

const COMMON = {
  embeddingDim: 0, init: 'pytorch' as const,
  lambda: 1e-7, beta: 0.1, gamma: 2, contractive: true, focal: true,
  reconReduction: 'sum_features' as const, klReduction: 'batchmean' as const, focalTarget: 'hard_argmax_T' as const, jacobianForm: 'auto' as const,
  pretrainEpochs: 100, pretrainLr: 1e-3, pretrainBatchSize: 256, pretrainContractive: false,
  lr: 1e-3, optimizerKind: 'adam' as const, momentum: 0, batchSize: 256, epochs: 200, updateInterval: 1, tol: 0.001,
  prediction: 'recompute' as const,
};
/** Raw pixels 0..255 (MNIST, Fashion-MNIST, COIL-20): /255 as DEC-keras's loaders (not stated in the paper). */
const PIXELS: DccfSettings = { ...COMMON, inputScale: 1 / 255 };
/** Features already scaled (USPS in [0, 1], tf-idf, ResNet features). */
const SCALED: DccfSettings = { ...COMMON, inputScale: 1 };

export const DCCF_OPTIONS: Record<string, OptionSpec> = {
  lambda: { type: 'number', min: 0, description: 'weight λ of the contractive penalty L_J (1e-7)' },
  beta: { type: 'number', min: 0, description: 'weight β of the clustering loss l_cl + l_fl (0.1, §4.7.1)' },
  gamma: { type: 'number', min: 0, description: 'focal exponent γ (2)' },
  contractive: { type: 'boolean', description: 'use the contractive penalty in joint training (Table 5 ablation; true)' },
  focal: { type: 'boolean', description: 'use the focal loss (Table 5 ablation; true)' },
  reconReduction: { type: 'string', choices: ['sum_features', 'mean_all'], description: 'L_rec: per-sample sum over features (Eq. 5) or the mean over all entries (IDEC code)' },
  klReduction: { type: 'string', choices: ['batchmean', 'mean_all'], description: 'l_cl: per-sample sum over clusters (Eq. 8) or the element mean (÷K, IDEC-pytorch)' },
  focalTarget: { type: 'string', choices: ['hard_argmax_T', 'soft_dot', 'soft_per_class'], description: 'focal "true label": argmax T (default), p = Σ_j t_ij s_ij, or per-class weights t_ij' },
  jacobianForm: { type: 'string', choices: ['auto', 'direct', 'gram'], description: 'how the exact ‖J‖²_F is computed (same value): J on m·d′ rows, or trace(J Jᵀ) with W_1 W_1ᵀ' },
  embeddingDim: { type: 'integer', min: 0, description: 'embedding width d′ (0 = the number of clusters K, §4.2)' },
  init: { type: 'string', choices: ['pytorch', 'xavier', 'variance-scaling'], description: 'autoencoder weight init (PyTorch Linear default)' },
  inputScale: { type: 'number', min: 0, exclusiveMin: true, description: 'multiplies the features (1/255 for pixels)' },
  pretrainEpochs: { type: 'integer', min: 0, description: 'autoencoder pretraining epochs (100, §3.4)' },
  pretrainLr: { type: 'number', min: 0, exclusiveMin: true, description: 'autoencoder pretraining learning rate (Adam, 1e-3)' },
  pretrainBatchSize: { type: 'integer', min: 1, description: 'autoencoder pretraining batch size (256)' },
  pretrainContractive: { type: 'boolean', description: 'add λ·L_J to the pretraining loss (false)' },
  lr: { type: 'number', min: 0, exclusiveMin: true, description: 'joint-training learning rate ρ (1e-3)' },
  optimizerKind: { type: 'string', choices: ['adam', 'sgd'], description: 'joint-training optimizer (adam; the paper writes SGD updates)' },
  momentum: { type: 'number', min: 0, max: 1, description: 'SGD momentum (0)' },
  batchSize: { type: 'integer', min: 1, description: 'joint-training batch size m (256)' },
  epochs: { type: 'integer', min: 0, description: 'joint-training epochs (200)' },
  updateInterval: { type: 'integer', min: 1, description: 'O: epochs between target / label updates (1)' },
  tol: { type: 'number', min: 0, max: 1, description: 'δ: stop once fewer than this fraction of labels changed between two updates (0.001)' },
  prediction: { type: 'string', choices: ['recompute', 'last_update'], description: 'labels: argmax S of the final model, or C of the last update (Alg. 1)' },
};

/** DCCF's Tables 2, 3 and 4 (ACC / NMI, percent; no std given). CIFAR-100: the 20 super-classes (see docs). */
/** Table 5 of the paper (ACC / NMI): the contribution of each term. */
export const DCCF_ABLATION = {
  neither: { mnist: [84.79, 82.30], usps: [77.16, 79.29], reut: [68.65, 35.24] },
  contractiveOnly: { mnist: [94.30, 88.65], usps: [77.33, 79.67], reut: [77.34, 47.93] },
  focalOnly: { mnist: [91.59, 87.82], usps: [80.44, 80.75], reut: [78.64, 50.19] },
  both: { mnist: [97.41, 93.32], usps: [85.53, 82.51], reut: [83.36, 55.52] },
} as const;

export const DCCF_PAPER: PaperTable = {
  source: 'DCCF (Cai et al., Pattern Recognition 2022), Tables 2–4',
  protocol: 'argmax S at the end of training (the paper does not say final or best, nor how many runs)',
  protocolNotStated: true,
  rows: {
    mnist: { acc: [97.41, null], nmi: [93.32, null] },
    fmnist: { acc: [62.12, null], nmi: [64.58, null] },
    usps: { acc: [85.53, null], nmi: [82.51, null] },
    stl10: { acc: [72.78, null], nmi: [66.84, null] },
    cifar10: { acc: [45.81, null], nmi: [36.19, null] },
    cifar100: { acc: [28.73, null], nmi: [27.62, null] },
    reut: { acc: [83.36, null], nmi: [55.52, null] },
  },
  // Table 5's rows without one or both terms ('both' is the model itself).
  variants: ([
    ['neither', 'neither term, IDEC-like (Table 5)', { contractive: false, focal: false }],
    ['contractiveOnly', 'contractive only (Table 5)', { focal: false }],
    ['focalOnly', 'focal only (Table 5)', { contractive: false }],
  ] as const).map(([key, name, options]) => ({
    name,
    options,
    rows: Object.fromEntries(Object.entries(DCCF_ABLATION[key]).map(([d, [acc, nmi]]) => [d, { acc: [acc, null], nmi: [nmi, null] }])) as Record<string, PaperRow>,
  })),
};

function checkSettings(s: DccfSettings): void {
  if (s.focal && s.focalTarget !== 'hard_argmax_T' && !Number.isInteger(s.gamma)) {
    throw new DgcError('DGC_ARG', `dccf: option 'gamma' must be an integer with focalTarget '${s.focalTarget}' (the soft variants are composed on the tape), got ${s.gamma}`);
  }
}

export const dccfSpec: ModelSpec<DccfInput, DccfSettings> = {
  name: 'dccf',
  title: 'DCCF — deep clustering with a contractive autoencoder and focal loss (Cai et al., Pattern Recognition 2022)',
  needsGraph: false,
  presets: { mnist: PIXELS, fmnist: PIXELS, coil20: PIXELS, usps: SCALED, reut: SCALED },
  defaults: SCALED,
  options: DCCF_OPTIONS,
  paper: DCCF_PAPER,
  paperProtocol: 'final',
  readouts: ['q'],
  prepare: (data, s, ctx) => {
    checkSettings(s);
    return prepareDccfInput(data, s, ctx.device);
  },
  prepareRows: prepareFeatureRows,
  create: (input, s, gen) => {
    checkSettings(s);
    return new DccfRun(input, s, gen);
  },
  pretrain: dccfPretrain,
  schedule: (s) => ({
    mode: 'mini-batch', batchSize: s.batchSize, epochs: s.epochs, targetEvery: { epochs: s.updateInterval },
    order: 'shuffle', stopTol: s.tol, finalEvaluation: s.prediction === 'recompute' ? 'end' : 'last-refresh',
  }),
  optimizer: (s) => (s.optimizerKind === 'adam' ? { kind: 'adam', lr: s.lr } : { kind: 'sgd', lr: s.lr, momentum: s.momentum }),
};
