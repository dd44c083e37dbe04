// SDCN — Structural Deep Clustering Network (Bo et al., WWW 2020), as the official code (bdy9527/SDCN) runs
// it, and the "AE + k-means" baseline on the same autoencoder. The autoencoder, its pretraining and the input
// preparation here are shared by AGCN and CaEGCN, which are built on SDCN's code.
//
// Forward (SDCN code; paper eq. 2–8): the AE gives H1, H2, H3 and Z; the GCN branch propagates the features
// with the delivery operator (paper eq. 8, σ = 0.5):
//   h1 = ReLU(Â X W1),  h_{l+1} = ReLU(Â ((1−σ) h_l + σ H_l) W_{l+1}) for l = 1, 2, 3 (H4 = Z),
//   O = Â((1−σ) h4 + σ Z) W5 (no activation),  Z_pred = softmax(O) (paper eq. 11);
// Q = Student-t(Z, μ), ν = 1 (eq. 9); P = target(Q) (eq. 10), refreshed every epoch from Q of the same forward.
// Loss (eq. 14): L = 0.1·KL(P‖Q) + 0.01·KL(P‖Z_pred) + MSE(X̂, X), KL with 'batchmean' (÷N), MSE a mean.
// Adam, 200 epochs, lr 1e-3 (Reuters and CiteSeer 1e-4). Prediction: argmax Z_pred (also argmax Q reported).
// Graphs: the natural graph (ACM, DBLP, CiteSeer) or SDCN's heat kNN graph with k = 3 (USPS, Reuters) / 5 (HHAR),
// Â = D⁻¹(A + I) (row-normalized, as the code; the paper writes the symmetric form).
// The autoencoder (d-500-500-2000-10, ReLU) is pretrained as SDCN's data/pretrain.py: Adam 1e-3, batch 256,
// 30 epochs, shuffled, MSE; μ = k-means (20 restarts) on Z of the pretrained AE.
import { Module } from '../nn/module';
import { GraphConv } from '../nn/gcn';
import { Autoencoder } from './ae';
import { StudentTHead, softmaxKl } from './blocks';
import { buildAdjacency, dataKey } from './graph';
import * as ops from '../ops';
import { noGrad } from '../autograd/tape';
import { Generator } from '../random';
import { DgcError, Tensor, keep } from '../tensor';
import type { Device } from '../tensor';
import type { SparseMatrix } from '../sparse';
import type {
  ClusteringData, ClusteringModel, Inference, LossResult, ModelInput, ModelSpec, OptionSpec, PaperRow, PaperTable,
  PretrainStage, ResolvedOptions, TargetContext,
} from './types';

// ---- the input and the shared autoencoder (SDCN, AGCN, CaEGCN, AE + k-means) -----------------------------

export interface SdcnInput extends ModelInput {
  /** Raw features (no PCA). */
  x: Tensor;
  /** Â = D⁻¹(A + I) (or the symmetric form when asked), or null for models that use no graph. */
  adj: SparseMatrix | null;
  /** Names the features alone: the autoencoder's pretraining depends on nothing else. */
  featuresKey: string;
}

export interface SdcnFamilySettings extends ResolvedOptions {
  /** k of the kNN graph when the data has no graph of its own (SDCN's graphs: k = 3, HHAR 5). */
  knnK: number;
  /** The kNN kernel ('heat' as SDCN's calcu_graph.py; 'dot' for its 'ncos' on binarised text). */
  knnMetric: 'heat' | 'cosine' | 'dot';
  normalization: 'row' | 'sym';
  /** Autoencoder pretraining: epochs, learning rate (Adam), batch size. */
  aeEpochs: number;
  aeLr: number;
  aeBatchSize: number;
}

/** The AE pretraining options every model of the family takes. */
export const SDCN_AE_OPTIONS: Record<string, OptionSpec> = {
  aeEpochs: { type: 'integer', min: 0, description: 'autoencoder pretraining epochs (SDCN: 30)' },
  aeLr: { type: 'number', min: 0, exclusiveMin: true, description: 'autoencoder pretraining learning rate (Adam; SDCN: 1e-3)' },
  aeBatchSize: { type: 'integer', min: 1, description: 'autoencoder pretraining batch size (SDCN: 256)' },
};

export const SDCN_GRAPH_OPTIONS: Record<string, OptionSpec> = {
  knnK: { type: 'integer', min: 1, description: 'k of the kNN graph built when the data has no graph' },
  knnMetric: { type: 'string', choices: ['heat', 'cosine', 'dot'], description: 'kernel of that kNN graph' },
  normalization: { type: 'string', choices: ['row', 'sym'], description: "Â: D⁻¹(A+I) as the code, or the paper's D^-½(A+I)D^-½" },
};

/** Raw features on the device and, for graph models, Â from the data's graph or a kNN graph. */
export function prepareSdcnInput(data: ClusteringData, s: SdcnFamilySettings, device: Device, withGraph = true): SdcnInput {
  const x = ops.tensor(data.features.data, [data.features.rows, data.features.cols], { device });
  // Bag-of-words features (ACM 4.5% nonzero, Citeseer < 1%): the first layers' products then skip the zeros, with
  // the same values (ops.attachRowSparse).
  const sparse = ops.attachRowSparse(x);
  const notes = [`features: ${data.features.cols} columns as given (no PCA)` +
    (sparse.attached ? `; ${(100 * sparse.density).toFixed(1)}% nonzero, the products with them read only the nonzeros` : '')];
  const timings: Record<string, number> = {};
  let adj: SparseMatrix | null = null;
  if (withGraph) {
    try {
      const g = buildAdjacency(data, x, { knnK: s.knnK, knnMetric: s.knnMetric, normalization: s.normalization });
      adj = g.adj;
      notes.push(g.note);
      timings.graphMs = g.ms;
    } catch (e) {
      x.dispose();
      throw e;
    }
  }
  const featuresKey = dataKey(data);
  return {
    x,
    adj,
    labels: data.labels,
    nClusters: data.nClusters,
    key: `${featuresKey}${adj ? `-graph${data.edges ? 'own' : `knn${s.knnK}${s.knnMetric}`}-${s.normalization}` : ''}`,
    featuresKey,
    notes,
    timings,
    dispose() {
      x.dispose();
      adj?.dispose();
    },
  };
}

/** Widths of SDCN's autoencoder: d-500-500-2000-10 (other widths only for small tests). */
export interface SdcnWidths {
  hidden: readonly [number, number, number];
  nZ: number;
}
export const SDCN_WIDTHS: SdcnWidths = { hidden: [500, 500, 2000], nZ: 10 };

/**
 * SDCN's autoencoder, drawn from a generator derived for it: SDCN, AGCN, CaEGCN and AE + k-means get the same
 * initial weights and the same pretraining shuffles for a seed, so one pretraining (cached) serves them all.
 */
export function sdcnAutoencoder(nInput: number, gen: Generator, device: Device, widths: SdcnWidths = SDCN_WIDTHS): { ae: Autoencoder; aeGen: Generator } {
  const aeGen = gen.derive('sdcn-ae');
  return { ae: new Autoencoder(nInput, widths.nZ, widths.hidden, { generator: aeGen, device }), aeGen };
}

/** SDCN's data/pretrain.py: the AE alone, MSE(X̂, X), Adam, shuffled mini-batches. */
export function sdcnAePretrainStage<I extends SdcnInput>(ae: Autoencoder, aeGen: Generator, input: I, s: SdcnFamilySettings): PretrainStage<I> {
  return {
    name: 'pretrain-ae',
    epochs: s.aeEpochs,
    params: ae.parameters(),
    optimizer: { kind: 'adam', lr: s.aeLr },
    batchSize: s.aeBatchSize,
    generator: aeGen,
    cacheKey: `sdcn-ae-${input.featuresKey}-e${s.aeEpochs}-lr${s.aeLr}-b${s.aeBatchSize}`,
    cacheModule: ae,
    loss: (inp, rows) => {
      const xb = rows ? ops.gatherRows(inp.x, rows) : inp.x;
      const l = ops.mse(ae.forward(xb).xBar, xb);
      return { total: l, parts: { reconstruction: l } };
    },
  };
}

const SDCN_FAMILY_DEFAULTS = { knnK: 3, knnMetric: 'heat' as const, normalization: 'row' as const, aeEpochs: 30, aeLr: 1e-3, aeBatchSize: 256 };

// ---- SDCN --------------------------------------------------------------------------------------------------

export interface SdcnSettings extends SdcnFamilySettings {
  epochs: number;
  /** σ of the delivery operator (0.5). */
  sigma: number;
  /** Weights of KL(P‖Q) and KL(P‖Z_pred) (0.1, 0.01). */
  klQ: number;
  klZ: number;
}

/**
 * SDCN's network (the official names: ae.enc_1 … ae.x_bar_layer, gnn_1 … gnn_5, head.cluster_layer for μ) and its
 * loss. The trainer uses it through sdcnSpec; bench/steps times its step against tfjs and PyTorch.
 */
export class SdcnModule extends Module {
  readonly ae: Autoencoder;
  readonly gnn: GraphConv[];
  readonly head: StudentTHead;
  readonly aeGen: Generator;
  constructor(nInput: number, nClusters: number, gen: Generator, device: Device, widths: SdcnWidths = SDCN_WIDTHS) {
    super();
    const { ae, aeGen } = sdcnAutoencoder(nInput, gen, device, widths);
    this.ae = this.registerModule('ae', ae);
    this.aeGen = aeGen;
    const dims = [nInput, ...widths.hidden, widths.nZ, nClusters];
    this.gnn = dims.slice(0, 5).map((d, i) => this.registerModule(`gnn_${i + 1}`,
      new GraphConv(d, dims[i + 1], { activation: i < 4 ? ops.relu : null, generator: gen, device })));
    this.head = this.registerModule('head', new StudentTHead(nClusters, widths.nZ, 1, { generator: gen, device }));
  }

  /** With `reconstruct` false (inference), the decoder is not run and xBar is null. */
  forward(x: Tensor, adj: SparseMatrix, sigma: number, reconstruct = true) {
    const enc = this.ae.encode(x);
    const a = { ...enc, xBar: reconstruct ? this.ae.decode(enc.z) : null };
    const mix = (h: Tensor, t: Tensor) => ops.axpby(1 - sigma, h, sigma, t);
    let h = this.gnn[0].forward(x, adj);
    h = this.gnn[1].forward(mix(h, a.hidden[0]), adj);
    h = this.gnn[2].forward(mix(h, a.hidden[1]), adj);
    h = this.gnn[3].forward(mix(h, a.hidden[2]), adj);
    const logits = this.gnn[4].forward(mix(h, a.z), adj);
    return { ...a, logits };
  }

  /**
   * One full-batch step's loss (eq. 14): klQ·KL(P‖Q) + klZ·KL(P‖Z_pred) + MSE(X̂, X). At a refresh (every epoch in
   * SDCN) P = target(Q) of this very forward pass — the official code's extra forward pass computes the same Q at
   * the same weights — and is handed to ctx.setTarget; otherwise ctx.target() is used.
   */
  loss(x: Tensor, adj: SparseMatrix, s: { sigma: number; klQ: number; klZ: number }, ctx: TargetContext): LossResult {
    const f = this.forward(x, adj, s.sigma);
    const kq = this.head.selfTrainingKl(f.z, ctx, s.klQ);
    const p = ctx.target()!;
    const kz = softmaxKl(f.logits, p, s.klZ);
    const re = ops.mse(f.xBar!, x);
    const q = kq.q ?? noGrad(() => this.head.softAssign(f.z));
    return {
      total: ops.add(ops.add(kq.loss, kz), re),
      parts: { klQ: kq.loss.item() / s.klQ, klZ: kz.item() / s.klZ, reconstruction: re },
      inference: { embedding: ops.detach(f.z), assignments: { z: noGrad(() => ops.softmax(f.logits)), q } },
    };
  }
}

class SdcnRun implements ClusteringModel<SdcnInput> {
  readonly module: SdcnModule;
  readonly centres: Tensor;
  constructor(input: SdcnInput, readonly s: SdcnSettings, gen: Generator) {
    this.module = new SdcnModule(input.x.shape[1], input.nClusters, gen, input.x.device);
    this.centres = this.module.head.mu;
  }

  loss(input: SdcnInput, rows: Tensor | null, ctx: TargetContext): LossResult {
    if (rows) throw new DgcError('DGC_INTERNAL', 'SDCN trains full batch');
    return this.module.loss(input.x, input.adj!, this.s, ctx);
  }

  infer(input: SdcnInput): Inference {
    return noGrad(() => {
      const f = this.module.forward(input.x, input.adj!, this.s.sigma, false);
      return { embedding: f.z, assignments: { z: ops.softmax(f.logits), q: this.module.head.softAssign(f.z) } };
    });
  }
}

/** SDCN's Table 2, AE column: k-means on its pretrained autoencoder, mean ± std of 10 runs, percent (AGCN's Table 3
 * cites the same numbers). The `ae` model's paper rows, and what SDCN's and AGCN's runs' initial rows compare with. */
export const SDCN_AE_COLUMN: Record<string, PaperRow> = {
  usps: { acc: [71.04, 0.03], nmi: [67.53, 0.03], ari: [58.83, 0.05], f1: [69.74, 0.03] },
  hhar: { acc: [68.69, 0.31], nmi: [71.42, 0.97], ari: [60.36, 0.88], f1: [66.36, 0.34] },
  reut: { acc: [74.9, 0.21], nmi: [49.69, 0.29], ari: [49.55, 0.37], f1: [60.96, 0.22] },
  acm: { acc: [81.83, 0.08], nmi: [49.3, 0.16], ari: [54.64, 0.16], f1: [82.01, 0.08] },
  dblp: { acc: [51.43, 0.35], nmi: [25.4, 0.16], ari: [12.21, 0.43], f1: [52.53, 0.36] },
  cite: { acc: [57.08, 0.13], nmi: [27.64, 0.08], ari: [29.31, 0.14], f1: [53.8, 0.11] },
};

/** SDCN's rows of its paper's Table 2 (as AGCN's Table 3 cites them), mean ± std of 10 runs, percent. */
export const SDCN_PAPER: PaperTable = {
  source: 'SDCN (Bo et al., WWW 2020), Table 2: mean ± std of 10 runs',
  protocol: 'argmax Z; the maximum over the 200 epochs (SDCN issue #23; taken per metric here, as AGCN\'s code does)',
  rows: {
    usps: { acc: [78.08, 0.19], nmi: [79.51, 0.27], ari: [71.84, 0.24], f1: [76.98, 0.18] },
    hhar: { acc: [84.26, 0.17], nmi: [79.9, 0.09], ari: [72.84, 0.09], f1: [82.58, 0.08] },
    reut: { acc: [77.15, 0.21], nmi: [50.82, 0.21], ari: [55.36, 0.37], f1: [65.48, 0.08] },
    acm: { acc: [90.45, 0.18], nmi: [68.31, 0.25], ari: [73.91, 0.4], f1: [90.42, 0.19] },
    dblp: { acc: [68.05, 1.81], nmi: [39.5, 1.34], ari: [39.15, 2.01], f1: [67.71, 1.51] },
    cite: { acc: [65.96, 0.31], nmi: [38.71, 0.32], ari: [40.17, 0.43], f1: [63.62, 0.24] },
  },
  initial: { name: "AE + k-means (SDCN's Table 2, AE column)", rows: SDCN_AE_COLUMN },
};

const sdcnPreset = (o: Partial<SdcnSettings> = {}): SdcnSettings => ({
  ...SDCN_FAMILY_DEFAULTS, lr: 1e-3, epochs: 200, sigma: 0.5, klQ: 0.1, klZ: 0.01, ...o,
});

export const sdcnSpec: ModelSpec<SdcnInput, SdcnSettings> = {
  name: 'sdcn',
  title: 'SDCN — Structural Deep Clustering Network (Bo et al., WWW 2020): AE + GCN with the delivery operator, dual self-supervision',
  needsGraph: true,
  presets: {
    acm: sdcnPreset(), dblp: sdcnPreset(), cite: sdcnPreset({ lr: 1e-4 }), usps: sdcnPreset(), hhar: sdcnPreset({ knnK: 5 }),
    reut: sdcnPreset({ lr: 1e-4, knnMetric: 'dot' }),
  },
  defaults: sdcnPreset(),
  options: {
    lr: { type: 'number', min: 0, exclusiveMin: true, description: 'learning rate (Adam)' },
    epochs: { type: 'integer', min: 1, description: 'training epochs (200)' },
    sigma: { type: 'number', min: 0, max: 1, description: 'σ of the delivery operator (0.5)' },
    klQ: { type: 'number', min: 0, description: 'weight of KL(P‖Q) (0.1)' },
    klZ: { type: 'number', min: 0, description: 'weight of KL(P‖Z_pred) (0.01)' },
    ...SDCN_GRAPH_OPTIONS,
    ...SDCN_AE_OPTIONS,
  },
  paper: SDCN_PAPER,
  paperProtocol: 'per-metric-max',
  readouts: ['z', 'q'],
  prepare: (data, s, ctx) => prepareSdcnInput(data, s, ctx.device),
  create: (input, s, gen) => new SdcnRun(input, s, gen),
  pretrain: (run, input, s) => [sdcnAePretrainStage((run as SdcnRun).module.ae, (run as SdcnRun).module.aeGen, input, s)],
  schedule: (s) => ({ mode: 'full-batch', epochs: s.epochs, targetEvery: 1 }),
  optimizer: (s) => ({ kind: 'adam', lr: s.lr }),
  initTarget: (run) => (run as SdcnRun).module.ae,
};

// ---- AE + k-means --------------------------------------------------------------------------------------------

/** SDCN's pretrained autoencoder, then k-means (20 restarts) on its embedding: the papers' "AE" baseline. */
class AeRun implements ClusteringModel<SdcnInput> {
  readonly module: Autoencoder;
  readonly aeGen: Generator;
  /** The k-means centres (not trained: set once by the trainer's k-means); argmax of their Student-t Q is the
   * nearest centre, which is how predict() labels new rows. */
  readonly centres: Tensor;
  constructor(input: SdcnInput, gen: Generator) {
    const r = sdcnAutoencoder(input.x.shape[1], gen, input.x.device);
    this.module = r.ae;
    this.aeGen = r.aeGen;
    this.centres = keep(ops.zeros([input.nClusters, 10], { device: input.x.device }));
  }
  dispose(): void {
    this.centres.dispose();
  }
  loss(): LossResult {
    throw new DgcError('DGC_INTERNAL', 'AE + k-means has no clustering training');
  }
  infer(input: SdcnInput): Inference {
    return this.embedRows(input.x);
  }
  embedRows(x: Tensor): Inference {
    return noGrad(() => {
      const z = this.module.embed(x);
      return { embedding: z, assignments: { q: ops.studentT(z, this.centres, 1) } };
    });
  }
}

export interface AeSettings extends SdcnFamilySettings {}

export const aeSpec: ModelSpec<SdcnInput, AeSettings> = {
  name: 'ae',
  title: "AE + k-means: SDCN's autoencoder (d-500-500-2000-10), pretrained as SDCN's code, then k-means on its embedding",
  needsGraph: false,
  presets: {},
  defaults: { ...SDCN_FAMILY_DEFAULTS, lr: 1e-3 },
  options: { ...SDCN_AE_OPTIONS },
  paper: {
    source: 'SDCN (Bo et al., WWW 2020), Table 2, AE column (k-means on the pretrained AE; mean ± std of 10 runs)',
    protocol: 'k-means on the embedding after pretraining',
    rows: SDCN_AE_COLUMN,
  },
  paperProtocol: 'final',
  readouts: ['q'],
  prepare: (data, s, ctx) => prepareSdcnInput(data, s, ctx.device, false),
  create: (input, _s, gen) => new AeRun(input, gen),
  pretrain: (run, input, s) => [sdcnAePretrainStage((run as AeRun).module, (run as AeRun).aeGen, input, s)],
  schedule: () => ({ mode: 'full-batch', epochs: 0, targetEvery: 1 }),
  optimizer: (s) => ({ kind: 'adam', lr: s.lr }),
  trainParams: () => [],
};
