// AGCN — Attention-driven Graph Clustering Network (Peng et al., ACM MM 2021), as the official code
// (ZhihaoPENG-CityU/MM21---AGCN, AGCN.py and GNN.py) runs it. Built on SDCN: the same autoencoder, its shared
// pretraining (one cached pretraining per dataset and seed serves SDCN, AGCN, CaEGCN and AE + k-means), the same
// graphs and Â = D⁻¹(A + I), the same Student-t head and dual self-supervision.
//
// Forward (paper §3.1–3.2; the code's layer names in brackets):
//   AE: H1, H2, H3 (ReLU), H = Z_AE (the 10-d embedding), X̂ (paper eq. 1).
//   GCN layer: GCN(Y) = LeakyReLU_0.2(Â (Y W)) — activation after propagation, no bias, Xavier-uniform W (eq. 4).
//   AGCN-H (eq. 2–3): M_i = ℓ2(softmax(LeakyReLU([H_i‖Z_i] W_aᵀ + b_a))) ∈ R^{N×2}, Z′_i = m_i1 ⊙ Z_i + m_i2 ⊙ H_i;
//     Z1 = GCN(X) [agcn_0], Z2 = GCN(Z′_1) [agcn_1, mlp1], Z3 = GCN(Z′_2) [agcn_2, mlp2], Z4 = GCN(Z′_3) [agcn_3, mlp3].
//   AGCN-S (eq. 5–7): U = ℓ2(softmax(LeakyReLU([Z1‖Z2‖Z3‖Z4‖H] W_sᵀ + b_s))) ∈ R^{N×5} [mlp],
//     Z′ = [u1 Z1 ‖ u2 Z2 ‖ u3 Z3 ‖ u4 Z4 ‖ u5 H] (N × 3020).
//   Prediction (eq. 8): O = Â (Z′ W) [agcn_z, no activation], Z_pred = softmax(O); y = argmax Z_pred (eq. 9).
//   Q = Student-t(H, μ), ν = 1 (eq. 10); P = target(Q) (eq. 11), refreshed every epoch, constant.
// Loss (the code; paper eq. 12–13): L = λ1·KL(P‖Q) + λ2·KL(P‖Z_pred) + MSE(X̂, X), KL 'batchmean' (÷N), MSE a mean.
//
// Where the paper and the code differ, dgclust follows the code:
//   - the attention MLPs' LeakyReLU has slope 0.01 (F.leaky_relu's default; the paper says 0.2: option
//     attentionSlope) and a bias;
//   - the H-module MLP reads [H_i‖Z_i] (AE feature first; the paper writes [Z_i‖H_i]), column 0 of M_i weights Z_i;
//   - Â is row-normalized, D⁻¹(A + I) (the paper writes D^-½(A+I)D^-½; option --normalization sym);
//   - the paper's eq. 12 puts λ1 on KL(P‖Z) and λ2 on KL(P‖Q); the code (and the README's per-dataset values) put
//     its first value on the Q term and its second on the Z term. Here `lambda1` weights KL(P‖Q) and `lambda2`
//     KL(P‖Z_pred), so the published values apply as the code applies them;
//   - MSE is a mean (the paper writes ‖X − X̂‖²_F).
//
// Ablation variants (paper Table 4), option `variant`:
//   'full'  AGCN-H + AGCN-S[A] (the model);
//   'h-ss'  AGCN-H + AGCN-S[S]: the multi-scale concatenation with every u = 1;
//   'h'     AGCN-H alone: no scale-wise fusion; the last GCN feature is fused with H by one more AGCN-H block
//           (a Linear(20 → 2) attention MLP, [mlp4]) and predicted from, O = Â(Z′_4 W) — the code has no such
//           variant, so this is dgclust's reading of "AGCN-H only" (the H module at every layer, SDCN's shape);
//   'none'  SDCN: the delivery operator with σ = 0.5 in place of AGCN-H, ReLU GCN layers, a fifth GCN layer to K
//           on (1−σ)Z4 + σH, no scale-wise fusion (the paper's "none" rows are SDCN's published numbers).
// Every variant keeps AGCN's loss, λ and learning rate of the preset.
import { Module } from '../nn/module';
import { GraphConv } from '../nn/gcn';
import { Linear } from '../nn/linear';
import { Autoencoder } from './ae';
import { StudentTHead, softmaxKl } from './blocks';
import { SDCN_AE_COLUMN, SDCN_AE_OPTIONS, SDCN_GRAPH_OPTIONS, prepareSdcnInput, sdcnAePretrainStage, sdcnAutoencoder } from './sdcn';
import type { SdcnFamilySettings, SdcnInput } from './sdcn';
import * as ops from '../ops';
import { noGrad } from '../autograd/tape';
import { Generator } from '../random';
import { DgcError, Tensor } from '../tensor';
import type { Device } from '../tensor';
import type { SparseMatrix } from '../sparse';
import type { ClusteringData, ClusteringModel, Inference, LossResult, ModelSpec, PaperTable, TargetContext } from './types';

export type AgcnVariant = 'full' | 'h-ss' | 'h' | 'none';

/** SDCN's input plus ÂX, the first GCN layer's propagated input: X is constant, so Â(XW) = (ÂX)W is formed once. */
export interface AgcnInput extends SdcnInput {
  ax: Tensor;
}

function prepareAgcnInput(data: ClusteringData, s: AgcnSettings, device: Device): AgcnInput {
  const base = prepareSdcnInput(data, s, device);
  const ax = noGrad(() => base.adj!.matmul(base.x));
  // ÂX of bag-of-words features stays sparse enough to pay (ACM: 20% nonzero): the first GCN layer reads its nonzeros.
  ops.attachRowSparse(ax);
  return { ...base, ax, dispose: () => { ax.dispose(); base.dispose(); } };
}

/**
 * A GCN layer φ(Â Y W) (eq. 4: activation after propagation, so Â(YW) = (ÂY)W). With `ay` = ÂY given (the first
 * layer's constant ÂX), or when the layer widens (500 → 2000), Â is applied to the narrow side: (ÂY)W — the sparse
 * product runs on in ≤ out columns, forward and backward. Otherwise GraphConv's Â(YW).
 */
function gcn(layer: GraphConv, y: Tensor | null, adj: SparseMatrix, ay?: Tensor): Tensor {
  if (!ay && layer.outFeatures <= layer.inFeatures) return layer.forward(y!, adj);
  const pre = ops.matmul(ay ?? adj.matmul(y!), layer.weight);
  return layer.activation ? layer.activation(pre) : pre;
}
export const AGCN_VARIANTS: readonly AgcnVariant[] = ['full', 'h-ss', 'h', 'none'];

export interface AgcnSettings extends SdcnFamilySettings {
  epochs: number;
  /** Weight of KL(P‖Q) (the code's first λ, `ld1`). */
  lambda1: number;
  /** Weight of KL(P‖Z_pred) (the code's second λ, `ld2`). */
  lambda2: number;
  variant: AgcnVariant;
  /** LeakyReLU slope of the attention MLPs (the code's 0.01; the paper says 0.2). */
  attentionSlope: number;
}

/** Slope of the GCN layers' LeakyReLU (GNN.py). */
export const GCN_SLOPE = 0.2;
/** σ of SDCN's delivery operator, for the 'none' variant. */
const SDCN_SIGMA = 0.5;

/**
 * The attention weights of AGCN-H (eq. 2) and AGCN-S (eq. 6) and the fusion they weight (eq. 3 / eq. 7), one fused
 * native op (ops.attentionFusion; the concatenated MLP input is never formed): u = ℓ2(softmax(LeakyReLU_0.01(
 * [blocks] Wᵀ + b))), the output Σ_k u_k ⊙ blocks[k] ('sum', AGCN-H) or [u_1 ⊙ blocks[0] ‖ …] ('concat', AGCN-S).
 */
function attendScales(mlp: Linear, blocks: Tensor[], slope: number): Tensor {
  return ops.attentionFusion(blocks, mlp.weight, mlp.bias!, { mode: 'concat', slope }).out;
}

/**
 * AGCN-H's Z′ = m_1 ⊙ Z + m_2 ⊙ H. The code's MLP reads [H‖Z] (its W's first d columns apply to H) while column 0
 * of M weights Z: the op takes the blocks in weight order [Z, H], so W's two column halves are swapped on the tape
 * (2 × 2d values; the parameter keeps the code's layout, and its gradient comes back to it unswapped).
 */
function attendPair(mlp: Linear, z: Tensor, h: Tensor, slope: number): Tensor {
  const d = z.shape[1];
  const w = ops.concatCols([ops.sliceCols(mlp.weight, d, 2 * d), ops.sliceCols(mlp.weight, 0, d)]);
  return ops.attentionFusion([z, h], w, mlp.bias!, { mode: 'sum', slope }).out;
}

export class AgcnModule extends Module {
  readonly ae: Autoencoder;
  readonly aeGen: Generator;
  /** agcn_0 … agcn_3 (d → 500 → 500 → 2000 → 10) and agcn_z (the prediction layer, → K). */
  readonly gcn: GraphConv[];
  readonly predict: GraphConv;
  /** AGCN-S's attention MLP [mlp.wl]: Linear(3020 → 5) ('full' only). */
  readonly mlpS: Linear | null;
  /** AGCN-H's attention MLPs [mlp1.w1, mlp2.w2, mlp3.w3] (+ [mlp4.w4] for 'h'): Linear(2·d_i → 2). */
  readonly mlpH: Linear[];
  readonly head: StudentTHead;

  constructor(nInput: number, nClusters: number, readonly variant: AgcnVariant, gen: Generator, device: Device,
              readonly attentionSlope = 0.01) {
    super();
    if (!AGCN_VARIANTS.includes(variant)) {
      throw new DgcError('DGC_ARG', `agcn: option 'variant' must be one of ${AGCN_VARIANTS.join(', ')}, got ${JSON.stringify(variant)}`);
    }
    const { ae, aeGen } = sdcnAutoencoder(nInput, gen, device);
    this.ae = this.registerModule('ae', ae);
    this.aeGen = aeGen;
    // The code's creation order: agcn_0 … agcn_3, agcn_z, mlp, mlp1, mlp2, mlp3, cluster_layer.
    const dims = [nInput, 500, 500, 2000, 10];
    const sdcn = variant === 'none';
    const act = sdcn ? ops.relu : (t: Tensor) => ops.leakyRelu(t, GCN_SLOPE);
    this.gcn = dims.slice(0, 4).map((d, i) => this.registerModule(`agcn_${i}`, new GraphConv(d, dims[i + 1], { activation: act, generator: gen, device })));
    const predictIn = variant === 'full' || variant === 'h-ss' ? 500 + 500 + 2000 + 10 + 10 : 10;
    this.predict = this.registerModule('agcn_z', new GraphConv(predictIn, nClusters, { activation: null, generator: gen, device }));
    const lin = (i: number, o: number) => new Linear(i, o, { generator: gen, device });
    this.mlpS = variant === 'full' ? this.registerModule('mlp', new NamedLinear('wl', lin(predictIn, 5))).linear : null;
    this.mlpH = [];
    if (!sdcn) {
      const widths = variant === 'h' ? [500, 500, 2000, 10] : [500, 500, 2000];
      widths.forEach((w, i) => this.mlpH.push(this.registerModule(`mlp${i + 1}`, new NamedLinear(`w${i + 1}`, lin(2 * w, 2))).linear));
    }
    this.head = this.registerModule('head', new StudentTHead(nClusters, 10, 1, { generator: gen, device }));
  }

  /** ax = ÂX (AgcnInput.ax). */
  forward(x: Tensor, adj: SparseMatrix, ax: Tensor): { xBar: Tensor; z: Tensor; logits: Tensor } {
    const a = this.ae.forward(x);
    const hs = [...a.hidden, a.z]; // H1, H2, H3, H
    if (this.variant === 'none') {
      // SDCN (its paper's eq. 8): h_{l+1} = ReLU(Â((1−σ) h_l + σ H_l) W), O = Â((1−σ) Z4 + σ H) W.
      const mix = (h: Tensor, t: Tensor) => ops.axpby(1 - SDCN_SIGMA, h, SDCN_SIGMA, t);
      let h = gcn(this.gcn[0], null, adj, ax);
      for (let i = 1; i < 4; i++) h = gcn(this.gcn[i], mix(h, hs[i - 1]), adj);
      return { xBar: a.xBar, z: a.z, logits: gcn(this.predict, mix(h, a.z), adj) };
    }
    // AGCN-H: Z_{i+1} = GCN(m_i1 ⊙ Z_i + m_i2 ⊙ H_i), the MLP reading [H_i‖Z_i].
    const zs: Tensor[] = [gcn(this.gcn[0], null, adj, ax)];
    for (let i = 1; i < 4; i++) zs.push(gcn(this.gcn[i], attendPair(this.mlpH[i - 1], zs[i - 1], hs[i - 1], this.attentionSlope), adj));
    let fused: Tensor;
    if (this.variant === 'h') fused = attendPair(this.mlpH[3], zs[3], a.z, this.attentionSlope);
    else if (this.variant === 'h-ss') fused = ops.concatCols([...zs, a.z]);
    else fused = attendScales(this.mlpS!, [...zs, a.z], this.attentionSlope);
    return { xBar: a.xBar, z: a.z, logits: gcn(this.predict, fused, adj) };
  }
}

/** One Linear under the code's attribute name (MLP_1's `w1`, MLP_L's `wl`): state-dict names mlp1.w1.weight, … */
class NamedLinear extends Module {
  constructor(name: string, readonly linear: Linear) {
    super();
    this.registerModule(name, linear);
  }
}

class AgcnRun implements ClusteringModel<AgcnInput> {
  readonly module: AgcnModule;
  readonly centres: Tensor;
  constructor(input: AgcnInput, readonly s: AgcnSettings, gen: Generator) {
    if (!input.adj) throw new DgcError('DGC_INTERNAL', 'agcn: the input has no graph');
    this.module = new AgcnModule(input.x.shape[1], input.nClusters, s.variant, gen, input.x.device, s.attentionSlope);
    this.centres = this.module.head.mu;
  }

  loss(input: AgcnInput, rows: Tensor | null, ctx: TargetContext): LossResult {
    if (rows) throw new DgcError('DGC_INTERNAL', 'AGCN trains full batch');
    const f = this.module.forward(input.x, input.adj!, input.ax);
    // The unweighted terms are computed and scaled afterwards, so that λ = 0 is allowed and each part is reported
    // as the paper's L_x. P comes from Q of this same forward pass (the code's extra no-grad pass computes the same
    // Q from the same parameters).
    const kq = this.module.head.selfTrainingKl(f.z, ctx, 1);
    const p = ctx.target();
    if (!p) throw new DgcError('DGC_INTERNAL', 'agcn: no target distribution');
    const kz = softmaxKl(f.logits, p, 1);
    const re = ops.mse(f.xBar, input.x);
    const total = ops.add(ops.add(ops.scale(kq.loss, this.s.lambda1), ops.scale(kz, this.s.lambda2)), re);
    const q = kq.q ?? noGrad(() => this.module.head.softAssign(f.z));
    return {
      total,
      parts: { klQ: kq.loss, klZ: kz, reconstruction: re },
      inference: { embedding: ops.detach(f.z), assignments: { z: noGrad(() => ops.softmax(f.logits)), q } },
    };
  }

  infer(input: AgcnInput): Inference {
    return noGrad(() => {
      const f = this.module.forward(input.x, input.adj!, input.ax);
      return { embedding: f.z, assignments: { z: ops.softmax(f.logits), q: this.module.head.softAssign(f.z) } };
    });
  }
}

/** The paper's Table 4 (ablation), mean ± std of 10 runs, percent, by dataset and variant. */
export const AGCN_ABLATION_PAPER: Record<string, Record<AgcnVariant, Record<'acc' | 'nmi' | 'ari' | 'f1', [number, number]>>> = {
  usps: {
    none: { acc: [78.08, 0.19], nmi: [79.51, 0.27], ari: [71.84, 0.24], f1: [76.98, 0.18] },
    h: { acc: [79.43, 1.1], nmi: [79.13, 0.51], ari: [72.0, 1.16], f1: [76.71, 0.78] },
    'h-ss': { acc: [80.2, 0.75], nmi: [79.38, 0.28], ari: [72.79, 0.74], f1: [77.1, 0.5] },
    full: { acc: [80.98, 0.28], nmi: [79.64, 0.32], ari: [73.61, 0.43], f1: [77.61, 0.38] },
  },
  acm: {
    none: { acc: [90.45, 0.18], nmi: [68.31, 0.25], ari: [73.91, 0.4], f1: [90.42, 0.19] },
    h: { acc: [90.47, 0.24], nmi: [68.42, 0.61], ari: [73.95, 0.6], f1: [90.48, 0.26] },
    'h-ss': { acc: [90.57, 0.11], nmi: [68.43, 0.42], ari: [74.16, 0.3], f1: [90.56, 0.11] },
    full: { acc: [90.59, 0.15], nmi: [68.38, 0.45], ari: [74.2, 0.38], f1: [90.58, 0.17] },
  },
};

/** AGCN's column of its paper's Table 3: mean ± std of 10 runs, percent; Table 4's ablation rows as variants. */
export const AGCN_PAPER: PaperTable = {
  source: 'AGCN (Peng et al., ACM MM 2021), Table 3: mean ± std of 10 runs',
  protocol: 'argmax Z; the maximum of each metric over the 200 epochs, taken separately (the code\'s np.max per metric: selects with the labels and may mix epochs)',
  rows: {
    usps: { acc: [80.98, 0.28], nmi: [79.64, 0.32], ari: [73.61, 0.43], f1: [77.61, 0.38] },
    hhar: { acc: [88.11, 0.43], nmi: [82.44, 0.62], ari: [77.07, 0.66], f1: [88.0, 0.53] },
    reut: { acc: [79.3, 1.07], nmi: [57.83, 1.01], ari: [60.55, 1.78], f1: [66.16, 0.64] },
    acm: { acc: [90.59, 0.15], nmi: [68.38, 0.45], ari: [74.2, 0.38], f1: [90.58, 0.17] },
    dblp: { acc: [73.26, 0.37], nmi: [39.68, 0.42], ari: [42.49, 0.31], f1: [72.8, 0.56] },
    cite: { acc: [68.79, 0.23], nmi: [41.54, 0.3], ari: [43.79, 0.31], f1: [62.37, 0.21] },
  },
  initial: { name: "AE + k-means (AGCN's Table 3, AE column, cited from SDCN)", rows: SDCN_AE_COLUMN },
  // Table 4's rows (ACM and USPS); 'full' is the model itself, the row above.
  variants: (['none', 'h', 'h-ss'] as const).map((v) => ({
    name: `${{ none: 'SDCN (no attention fusion)', h: 'AGCN-H', 'h-ss': 'AGCN-H + S[S]' }[v]} (Table 4)`,
    options: { variant: v },
    rows: Object.fromEntries(Object.entries(AGCN_ABLATION_PAPER).map(([d, byVariant]) => [d, byVariant[v]])),
  })),
};

const agcnPreset = (o: Partial<AgcnSettings> = {}): AgcnSettings => ({
  knnK: 3, knnMetric: 'heat', normalization: 'row', aeEpochs: 30, aeLr: 1e-3, aeBatchSize: 256,
  lr: 1e-3, epochs: 200, lambda1: 0.1, lambda2: 0.01, variant: 'full', attentionSlope: 0.01, ...o,
});

export const agcnSpec: ModelSpec<AgcnInput, AgcnSettings> = {
  name: 'agcn',
  title: 'AGCN — Attention-driven Graph Clustering Network (Peng et al., ACM MM 2021): SDCN with attention-weighted AE/GCN (AGCN-H) and multi-scale (AGCN-S) fusion',
  needsGraph: true,
  // The README's and paper §4.3's λ and learning rates; graphs as SDCN (USPS and Reuters k = 3, HHAR k = 5).
  presets: {
    acm: agcnPreset(),
    dblp: agcnPreset(),
    cite: agcnPreset({ lr: 1e-4 }),
    usps: agcnPreset({ lambda1: 1000, lambda2: 1000 }),
    hhar: agcnPreset({ knnK: 5, lambda1: 1, lambda2: 0.1 }),
    reut: agcnPreset({ lr: 1e-4, knnMetric: 'dot', lambda1: 10, lambda2: 10 }),
  },
  defaults: agcnPreset(),
  options: {
    lr: { type: 'number', min: 0, exclusiveMin: true, description: 'learning rate (Adam; 1e-3, CiteSeer and Reuters 1e-4)' },
    epochs: { type: 'integer', min: 1, description: 'training epochs (200)' },
    lambda1: { type: 'number', min: 0, description: "weight of KL(P‖Q) (the code's first λ: 0.1 graphs, 1000 USPS, 1 HHAR, 10 Reuters)" },
    lambda2: { type: 'number', min: 0, description: "weight of KL(P‖Z_pred) (the code's second λ: 0.01 graphs, 1000 USPS, 0.1 HHAR, 10 Reuters)" },
    variant: {
      type: 'string', choices: AGCN_VARIANTS,
      description: "Table 4 ablation: 'full' (AGCN-H + AGCN-S), 'h-ss' (AGCN-H + unweighted multi-scale concatenation), 'h' (AGCN-H only), 'none' (SDCN's fusion)",
    },
    attentionSlope: { type: 'number', min: 0, description: "LeakyReLU slope of the attention MLPs (the code's 0.01; the paper's text says 0.2)" },
    ...SDCN_GRAPH_OPTIONS,
    ...SDCN_AE_OPTIONS,
  },
  paper: AGCN_PAPER,
  paperProtocol: 'per-metric-max',
  readouts: ['z', 'q'],
  prepare: (data, s, ctx) => prepareAgcnInput(data, s, ctx.device),
  create: (input, s, gen) => new AgcnRun(input, s, gen),
  pretrain: (run, input, s) => [sdcnAePretrainStage((run as AgcnRun).module.ae, (run as AgcnRun).module.aeGen, input, s)],
  schedule: (s) => ({ mode: 'full-batch', epochs: s.epochs, targetEvery: 1 }),
  optimizer: (s) => ({ kind: 'adam', lr: s.lr }),
  initTarget: (run) => (run as AgcnRun).module.ae,
};
