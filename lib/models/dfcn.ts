// DFCN — Deep Fusion Clustering Network (Tu et al., AAAI 2021), as the official code (WxTu/DFCN) runs it.
// Where paper and code differ, the code wins, and the paper's variant is an option where it is cheap to offer
// (learnable fusion weight α). Sources cited below: the SAIF fusion steps ①–⑤ as DFCN's poster numbers them, and
// the official code's files (main.py, load_data.py, AE.py, IGAE.py, DFCN.py, train.py, opt.py); docs/MODELS.md
// (DFCN) describes the whole model.
//
// Parameter names and layouts equal the official checkpoints' (ae.encoder.enc_1.weight, gae.encoder.gnn_1.weight,
// cluster_layer, gamma), so a converted checkpoint loads with loadStateDict as it is.
import { Module } from '../nn/module';
import { MlpAutoencoder } from './blocks';
import { Generator, xavierNormal, xavierUniform } from '../random';
import * as ops from '../ops';
import { Device, Tensor } from '../tensor';
import { SparseMatrix } from '../sparse';
import { DgcError } from '../tensor';
import { noGrad } from '../autograd/tape';
import type { DfcnInput } from './dfcn-input';
import { prepareDfcnInput } from './dfcn-input';
import type {
  ClusteringModel, Inference, LossResult, ModelSpec, PaperTable, PretrainStage, ResolvedOptions, TargetContext,
} from './types';

export type IgaeActivation = 'tanh' | 'leakyRelu' | 'none';

/** Per-dataset settings of the official code (main.py, opt.py, IGAE.py). */
export interface DfcnPreset {
  /** PCA width n of the input. */
  pcaDim: number;
  /** Main-training learning rate. */
  lr: number;
  /** IGAE activation, and how its weights are stored: [in, out] (H W) or [out, in] (H Wᵀ, same math). */
  igaeActivation: IgaeActivation;
  igaeLayout: 'in-out' | 'out-in';
  /**
   * 'natural': the dataset's graph; 'knn': the heat-kernel k = 5 graph rebuilt on the PCA features (main.py,
   * load_data.py).
   */
  graph: 'natural' | 'knn';
}

export const DFCN_PRESETS: Readonly<Record<string, DfcnPreset>> = {
  usps: { pcaDim: 30, lr: 1e-3, igaeActivation: 'tanh', igaeLayout: 'in-out', graph: 'knn' },
  hhar: { pcaDim: 50, lr: 1e-3, igaeActivation: 'none', igaeLayout: 'out-in', graph: 'knn' },
  reut: { pcaDim: 100, lr: 1e-4, igaeActivation: 'leakyRelu', igaeLayout: 'in-out', graph: 'knn' },
  acm: { pcaDim: 100, lr: 5e-5, igaeActivation: 'tanh', igaeLayout: 'in-out', graph: 'natural' },
  dblp: { pcaDim: 50, lr: 1e-4, igaeActivation: 'tanh', igaeLayout: 'out-in', graph: 'natural' },
  cite: { pcaDim: 100, lr: 1e-4, igaeActivation: 'tanh', igaeLayout: 'in-out', graph: 'natural' },
};

/** λ (weight of the triplet KL) and γ (weight of the adjacency reconstruction), fixed for all datasets (opt.py). */
export const DFCN_LAMBDA = 10;
export const DFCN_GAMMA = 0.1;

export interface DfcnOptions {
  nInput: number;
  nClusters: number;
  /** Embedding width (20 in the paper). */
  nZ?: number;
  igaeActivation?: IgaeActivation;
  igaeLayout?: 'in-out' | 'out-in';
  /** The paper's learnable scalar α (init 0.5) instead of the code's fixed 0.5 (SAIF step ①). Default false. */
  learnableAlpha?: boolean;
  generator?: Generator;
  device?: Device;
}

const leaky = (x: Tensor): Tensor => ops.leakyRelu(x, 0.2);

/** The attribute branch (AE.py): n → 128 → 256 → 512 → 20 and back, LeakyReLU(0.2), linear Z_AE and X̂. */
export function dfcnAutoencoder(nInput: number, nZ: number, gen: Generator, device: Device): MlpAutoencoder {
  return new MlpAutoencoder({ nInput, hidden: [128, 256, 512], nZ, activation: 'leakyRelu', slope: 0.2, names: 'nested', generator: gen, device });
}

/** One IGAE layer (IGAE.py's GNNLayer): Â · act(H W), activation before propagation, no bias, Xavier-uniform W. */
class IgaeLayer extends Module {
  readonly weight: Tensor;
  constructor(readonly inFeatures: number, readonly outFeatures: number, private readonly act: IgaeActivation | null,
              private readonly layout: 'in-out' | 'out-in', gen: Generator, device: Device) {
    super();
    const shape = layout === 'in-out' ? [inFeatures, outFeatures] : [outFeatures, inFeatures];
    this.weight = this.registerParameter('weight', xavierUniform(gen, shape, inFeatures, outFeatures, 1, device));
  }
  forward(h: Tensor, adj: SparseMatrix): Tensor {
    const v = ops.matmul(h, this.weight, { transB: this.layout === 'out-in' });
    const u = this.act === 'tanh' ? ops.tanh(v) : this.act === 'leakyRelu' ? leaky(v) : v;
    return adj.matmul(u);
  }
}

/**
 * The graph branch (IGAE.py): encoder n → 128 → 256 → 20 (layers 1–2 active), decoder 20 → 256 → 128 → n (all
 * active).
 */
export class Igae extends Module {
  readonly encoder: IgaeStack;
  readonly decoder: IgaeStack;
  constructor(nInput: number, nZ: number, act: IgaeActivation, layout: 'in-out' | 'out-in', gen: Generator, device: Device) {
    super();
    const a = act === 'none' ? null : act;
    this.encoder = this.registerModule('encoder', new IgaeStack([[nInput, 128, a], [128, 256, a], [256, nZ, null]], 1, layout, gen, device));
    this.decoder = this.registerModule('decoder', new IgaeStack([[nZ, 256, a], [256, 128, a], [128, nInput, a]], 4, layout, gen, device));
  }
}

class IgaeStack extends Module {
  private readonly layers: IgaeLayer[];
  constructor(dims: [number, number, IgaeActivation | null][], firstIndex: number, layout: 'in-out' | 'out-in', gen: Generator, device: Device) {
    super();
    this.layers = dims.map(([i, o, act], l) => this.registerModule(`gnn_${firstIndex + l}`, new IgaeLayer(i, o, act, layout, gen, device)));
  }
  forward(h: Tensor, adj: SparseMatrix): Tensor {
    let x = h;
    for (const l of this.layers) x = l.forward(x, adj);
    return x;
  }
}

export interface DfcnForward {
  /** X̂: the AE's reconstruction of X (from Z̃). */
  xHat: Tensor;
  /** Ẑ: the IGAE's reconstruction (from Z̃), compared with ÂX and, through σ(ẐẐᵀ), with Â. */
  zHat: Tensor;
  zAe: Tensor;
  zIgae: Tensor;
  /** Z_L = Â Z_I, the fused and propagated embedding. */
  zL: Tensor;
  /** Z̃ = β·softmax(Z_L Z_Lᵀ) Z_L + Z_L: what is clustered. */
  zTilde: Tensor;
}

export interface DfcnLosses {
  total: Tensor;
  ae: Tensor;
  igaeW: Tensor;
  igaeA: Tensor;
  kl: Tensor | null;
}

export class Dfcn extends Module {
  readonly ae: MlpAutoencoder;
  readonly gae: Igae;
  /** μ (K × nZ): the Student-t centres. */
  readonly clusterLayer: Tensor;
  /** β (called gamma in the code): weight of the global self-correlation term, initialised at 0. */
  readonly gamma: Tensor;
  /** The paper's learnable α, or null for the code's fixed 0.5. */
  readonly alpha: Tensor | null;
  readonly nInput: number;
  readonly nClusters: number;
  readonly nZ: number;

  constructor(options: DfcnOptions) {
    super();
    const gen = options.generator ?? new Generator(0);
    const device = options.device ?? 'cpu';
    this.nInput = options.nInput;
    this.nClusters = options.nClusters;
    this.nZ = options.nZ ?? 20;
    this.ae = this.registerModule('ae', dfcnAutoencoder(this.nInput, this.nZ, gen, device));
    this.gae = this.registerModule('gae', new Igae(this.nInput, this.nZ, options.igaeActivation ?? 'tanh', options.igaeLayout ?? 'in-out', gen, device));
    this.clusterLayer = this.registerParameter('cluster_layer', xavierNormal(gen, [this.nClusters, this.nZ], this.nZ, this.nClusters, 1, device));
    this.gamma = this.registerParameter('gamma', ops.zeros([1], { device }));
    this.alpha = options.learnableAlpha ? this.registerParameter('alpha', ops.full([1], 0.5, { device })) : null;
  }

  /** The full forward pass (AE, IGAE, SAIF steps ①–⑤; DFCN.py) on features x (N×n) and the row-normalized Â. */
  forward(x: Tensor, adj: SparseMatrix): DfcnForward {
    const zAe = this.ae.encode(x).z;
    const zIgae = this.gae.encoder.forward(x, adj);
    // SAIF step 1: Z_I = α Z_AE + (1 − α) Z_IGAE (α = 0.5 fixed in the code).
    const zI = this.alpha
      ? ops.add(ops.mulScalar(ops.sub(zAe, zIgae), this.alpha), zIgae)
      : ops.axpby(0.5, zAe, 0.5, zIgae);
    const zL = adj.matmul(zI); // step 2: Z_L = Â Z_I
    // Steps 3–5: Z̃ = β softmax(Z_L Z_Lᵀ) Z_L + Z_L, with the fused, N×N-free self-correlation.
    const zTilde = ops.add(ops.mulScalar(ops.selfCorrelation(zL), this.gamma), zL);
    const xHat = this.ae.decode(zTilde);
    const zHat = this.gae.decoder.forward(zTilde, adj);
    return { xHat, zHat, zAe, zIgae, zL, zTilde };
  }

  /** Q = Student-t(Z̃, μ), ν = 1 (DFCN's soft assignment, DEC Eq. 1). */
  softAssign(zTilde: Tensor): Tensor {
    return ops.studentT(zTilde, this.clusterLayer, 1);
  }

  /**
   * L = L_AE + L_w + γ·L_a (+ λ·L_KL when p is given), with train.py's reductions. `adjX` is the constant ÂX;
   * p the detached target distribution of Q(Z̃). L_a compares σ(Z_IGAE Z_IGAEᵀ) + σ(ẐẐᵀ) with Â over all N²
   * pairs, tile by tile.
   */
  losses(f: DfcnForward, x: Tensor, adj: SparseMatrix, adjX: Tensor, p: Tensor | null,
         weights: { lambda?: number; gamma?: number } = {}): DfcnLosses {
    const ae = ops.mse(f.xHat, x);
    const igaeW = ops.mse(f.zHat, adjX);
    const igaeA = ops.gramSigmoidMse(adj, f.zIgae, f.zHat);
    let total = ops.add(ops.add(ae, igaeW), ops.scale(igaeA, weights.gamma ?? DFCN_GAMMA));
    let kl: Tensor | null = null;
    if (p) {
      // λ · (KL(P‖Q) + KL(P‖Q1) + KL(P‖Q2)) / 3, the code's geometric-mean form (train.py; the poster averages
      // the q's inside the log).
      kl = ops.klStudentT([f.zTilde, f.zAe, f.zIgae], this.clusterLayer, p, { weight: weights.lambda ?? DFCN_LAMBDA });
      total = ops.add(total, kl);
    }
    return { total, ae, igaeW, igaeA, kl };
  }
}

// ---- the registry entry ----------------------------------------------------------------------------------

/** Every setting of a DFCN run (a preset merged with the user's options). */
export interface DfcnSettings extends ResolvedOptions, DfcnPreset {
  /** Main-training epochs (200 in the code). */
  epochs: number;
  /** k of the heat-kernel kNN graph rebuilt on the PCA features (5 in the code). */
  knnK: number;
  lambda: number;
  gamma: number;
  learnableAlpha: boolean;
  /** Own pretraining (not in the official code): AE, IGAE and joint epochs (AE on mini-batches), lr, batch size. */
  aeEpochs: number;
  igaeEpochs: number;
  jointEpochs: number;
  pretrainLr: number;
  batchSize: number;
  /**
   * Stage 2's loss. 'demo' (default): the distributed pretraining demo's, L_AE + 0.01·L_w + 0.01·L_a +
   * 0.01·MSE(Z_AE, Z_IGAE). 'framework': L_AE + L_w + γ·L_a, as A-Unified-Framework's re-implementation. On DBLP
   * (seed 0, k-means on Z̃ right after pretraining) 'demo' gives ACC 73.0 where 'framework' gives 58.1 (the
   * official weights: 71.5); it is also ahead on ACM and CITE (docs/RESULTS.md).
   */
  jointLoss: 'demo' | 'framework';
}

const DFCN_COMMON = {
  epochs: 200, knnK: 5, lambda: DFCN_LAMBDA, gamma: DFCN_GAMMA, learnableAlpha: false,
  aeEpochs: 30, igaeEpochs: 30, jointEpochs: 100, pretrainLr: 1e-3, batchSize: 256, jointLoss: 'demo' as const,
};

/** DFCN's reported results (paper Table 2: mean ± std over 10 runs, best epoch by ACC), in percent. */
export const DFCN_PAPER: PaperTable = {
  source: 'DFCN (Tu et al., AAAI 2021), Table 2: mean ± std of 10 runs',
  protocol: 'k-means on Z̃ every epoch; the epoch with the best ACC (selected with the labels)',
  rows: {
    usps: { acc: [79.5, 0.2], nmi: [82.8, 0.3], ari: [75.3, 0.2], f1: [78.3, 0.2] },
    hhar: { acc: [87.1, 0.1], nmi: [82.2, 0.1], ari: [76.4, 0.1], f1: [87.3, 0.1] },
    reut: { acc: [77.7, 0.2], nmi: [59.9, 0.4], ari: [59.8, 0.4], f1: [69.6, 0.1] },
    acm: { acc: [90.9, 0.2], nmi: [69.4, 0.4], ari: [74.9, 0.4], f1: [90.8, 0.2] },
    dblp: { acc: [76.0, 0.8], nmi: [43.7, 1.0], ari: [47.0, 1.5], f1: [75.7, 0.8] },
    cite: { acc: [69.5, 0.2], nmi: [43.9, 0.2], ari: [45.5, 0.3], f1: [64.3, 0.2] },
  },
};

/** DFCN as a registry model: its module, its loss on the trainer's target, and its three pretraining stages. */
class DfcnRun implements ClusteringModel<DfcnInput> {
  readonly module: Dfcn;
  readonly centres: Tensor;
  constructor(input: DfcnInput, readonly settings: DfcnSettings, gen: Generator) {
    this.module = new Dfcn({
      nInput: input.x.shape[1], nClusters: input.nClusters, igaeActivation: settings.igaeActivation, igaeLayout: settings.igaeLayout,
      learnableAlpha: settings.learnableAlpha, generator: gen, device: input.x.device,
    });
    this.centres = this.module.clusterLayer;
  }

  loss(input: DfcnInput, rows: Tensor | null, ctx: TargetContext): LossResult {
    if (rows) throw new DgcError('DGC_INTERNAL', 'DFCN trains full batch');
    const m = this.module;
    const f = m.forward(input.x, input.adj);
    // P from the detached Q of this same forward pass, every epoch (as train.py); Q is also the 'q' readout.
    const q = noGrad(() => m.softAssign(f.zTilde));
    const p = ctx.refresh ? ctx.setTarget(noGrad(() => ops.targetDistribution(q))) : ctx.target();
    const l = m.losses(f, input.x, input.adj, input.adjX, p, { lambda: this.settings.lambda, gamma: this.settings.gamma });
    return {
      total: l.total,
      parts: { ae: l.ae, igaeW: l.igaeW, igaeA: l.igaeA, kl: l.kl!.item() / this.settings.lambda },
      inference: { embedding: ops.detach(f.zTilde), assignments: { q } },
    };
  }

  infer(input: DfcnInput): Inference {
    return noGrad(() => {
      const zTilde = this.module.forward(input.x, input.adj).zTilde;
      return { embedding: zTilde, assignments: { q: this.module.softAssign(zTilde) } };
    });
  }
}

/**
 * DFCN's pretraining (not in the official repository; its issues #1 and #4): 1a the AE alone on mini-batches,
 * 1b the IGAE alone (L_w + γ L_a, its decoder on Z_IGAE), 2 the whole network without the KL term, β trained from
 * 0 (see jointLoss). Adam at pretrainLr (1e-3) in every stage.
 */
function dfcnPretrain(run: ClusteringModel<DfcnInput>, input: DfcnInput, s: DfcnSettings): PretrainStage<DfcnInput>[] {
  const m = (run as DfcnRun).module;
  const opt = { kind: 'adam' as const, lr: s.pretrainLr };
  const key = `${input.key}-${s.igaeActivation}-${s.igaeLayout}-${s.learnableAlpha ? 'alpha' : 'fixed'}-lr${s.pretrainLr}-b${s.batchSize}`;
  return [
    {
      name: 'pretrain-ae', epochs: s.aeEpochs, params: m.ae.parameters(), optimizer: opt, batchSize: s.batchSize,
      loss: (inp, rows) => {
        const xb = rows ? ops.gatherRows(inp.x, rows) : inp.x;
        const l = ops.mse(m.ae.decode(m.ae.encode(xb).z), xb);
        return { total: l, parts: { ae: l } };
      },
    },
    {
      name: 'pretrain-igae', epochs: s.igaeEpochs, params: m.gae.parameters(), optimizer: opt, batchSize: null,
      loss: (inp) => {
        const zIgae = m.gae.encoder.forward(inp.x, inp.adj);
        const zHat = m.gae.decoder.forward(zIgae, inp.adj);
        const lw = ops.mse(zHat, inp.adjX);
        const la = ops.gramSigmoidMse(inp.adj, zIgae, zHat);
        return { total: ops.add(lw, ops.scale(la, s.gamma)), parts: { igaeW: lw, igaeA: la } };
      },
    },
    {
      name: 'pretrain-joint', epochs: s.jointEpochs, params: m.parameters().filter((p) => p !== m.clusterLayer), optimizer: opt, batchSize: null,
      cacheKey: `dfcn-${key}-ae${s.aeEpochs}-igae${s.igaeEpochs}-joint${s.jointEpochs}-${s.jointLoss}-g${s.gamma}`,
      loss: (inp): { total: Tensor; parts: Record<string, Tensor> } => {
        const f = m.forward(inp.x, inp.adj);
        const l = m.losses(f, inp.x, inp.adj, inp.adjX, null, { gamma: s.gamma });
        if (s.jointLoss === 'framework') return { total: l.total, parts: { ae: l.ae, igaeW: l.igaeW, igaeA: l.igaeA } };
        const consistency = ops.mse(f.zAe, f.zIgae);
        const total = ops.add(l.ae, ops.scale(ops.add(ops.add(l.igaeW, l.igaeA), consistency), 0.01));
        return { total, parts: { ae: l.ae, igaeW: l.igaeW, igaeA: l.igaeA, consistency } };
      },
    },
  ];
}

const presetOf = (p: DfcnPreset): DfcnSettings => ({ ...DFCN_COMMON, ...p });

export const dfcnSpec: ModelSpec<DfcnInput, DfcnSettings> = {
  name: 'dfcn',
  title: 'DFCN — Deep Fusion Clustering Network (Tu et al., AAAI 2021): AE + IGAE fused by SAIF, triplet self-supervision',
  needsGraph: true,
  presets: Object.fromEntries(Object.entries(DFCN_PRESETS).map(([k, p]) => [k, presetOf(p)])),
  // Preset-less data: ACM's settings with a kNN graph unless the data has its own.
  defaults: presetOf({ pcaDim: 100, lr: 1e-4, igaeActivation: 'tanh', igaeLayout: 'in-out', graph: 'knn' }),
  options: {
    lr: { type: 'number', min: 0, exclusiveMin: true, description: 'main-training learning rate (Adam)' },
    epochs: { type: 'integer', min: 1, description: 'main-training epochs' },
    pcaDim: { type: 'integer', min: 1, description: 'PCA width of the input' },
    graph: { type: 'string', choices: ['natural', 'knn'], description: "the data's graph, or a heat kNN graph on the PCA features" },
    knnK: { type: 'integer', min: 1, description: 'k of the kNN graph' },
    igaeActivation: { type: 'string', choices: ['tanh', 'leakyRelu', 'none'], description: 'IGAE activation' },
    igaeLayout: { type: 'string', choices: ['in-out', 'out-in'], description: 'IGAE weight layout (checkpoints)' },
    lambda: { type: 'number', min: 0, description: 'weight of the triplet KL' },
    gamma: { type: 'number', min: 0, description: 'weight of the adjacency reconstruction L_a' },
    learnableAlpha: { type: 'boolean', description: "the paper's learnable fusion weight α instead of the code's 0.5" },
    aeEpochs: { type: 'integer', min: 0, description: 'own pretraining: AE epochs' },
    igaeEpochs: { type: 'integer', min: 0, description: 'own pretraining: IGAE epochs' },
    jointEpochs: { type: 'integer', min: 0, description: 'own pretraining: joint epochs' },
    pretrainLr: { type: 'number', min: 0, exclusiveMin: true, description: 'own pretraining: learning rate' },
    batchSize: { type: 'integer', min: 1, description: 'own pretraining: AE batch size' },
    jointLoss: { type: 'string', choices: ['demo', 'framework'], description: "own pretraining: stage 2's loss" },
  },
  paper: DFCN_PAPER,
  paperProtocol: 'best-acc-epoch',
  readouts: ['kmeans', 'q'],
  prepare: (data, s, ctx) => prepareDfcnInput(data, s, ctx),
  create: (input, s, gen) => new DfcnRun(input, s, gen),
  pretrain: dfcnPretrain,
  schedule: (s) => ({ mode: 'full-batch', epochs: s.epochs, targetEvery: 1 }),
  optimizer: (s) => ({ kind: 'adam', lr: s.lr }),
};
