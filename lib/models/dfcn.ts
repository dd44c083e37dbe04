// DFCN — Deep Fusion Clustering Network (Tu et al., AAAI 2021), as the official code (WxTu/DFCN) runs it.
// Spec: shared/specs/dfcn.md (section numbers below refer to it); where paper and code differ, the code wins,
// and the paper's variant is an option where it is cheap to offer (learnable fusion weight α).
//
// Parameter names and layouts equal the official checkpoints' (ae.encoder.enc_1.weight, gae.encoder.gnn_1.weight,
// cluster_layer, gamma), so a converted checkpoint loads with loadStateDict as it is.
import { Module } from '../nn/module';
import { Linear } from '../nn/linear';
import { Generator, xavierNormal, xavierUniform } from '../random';
import * as ops from '../ops';
import { Device, Tensor } from '../tensor';
import { SparseMatrix } from '../sparse';

export type IgaeActivation = 'tanh' | 'leakyRelu' | 'none';

/** Per-dataset settings of the official code (dfcn.md §1.0, §1.3, §4.2). */
export interface DfcnPreset {
  /** PCA width n of the input. */
  pcaDim: number;
  /** Main-training learning rate. */
  lr: number;
  /** IGAE activation, and how its weights are stored: [in, out] (H W) or [out, in] (H Wᵀ, same math). */
  igaeActivation: IgaeActivation;
  igaeLayout: 'in-out' | 'out-in';
  /** 'natural': the dataset's graph; 'knn': the heat-kernel k = 5 graph rebuilt on the PCA features (§1.1). */
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

/** λ (weight of the triplet KL) and γ (weight of the adjacency reconstruction), fixed for all datasets (§2). */
export const DFCN_LAMBDA = 10;
export const DFCN_GAMMA = 0.1;

export interface DfcnOptions {
  nInput: number;
  nClusters: number;
  /** Embedding width (20 in the paper). */
  nZ?: number;
  igaeActivation?: IgaeActivation;
  igaeLayout?: 'in-out' | 'out-in';
  /** The paper's learnable scalar α (init 0.5) instead of the code's fixed 0.5 (§1.4). Default false. */
  learnableAlpha?: boolean;
  generator?: Generator;
  device?: Device;
}

const leaky = (x: Tensor): Tensor => ops.leakyRelu(x, 0.2);

/** The attribute branch (§1.2): n → 128 → 256 → 512 → 20 and back, LeakyReLU(0.2), linear Z_AE and X̂. */
export class DfcnAe extends Module {
  readonly encoder: DfcnAeEncoder;
  readonly decoder: DfcnAeDecoder;
  constructor(nInput: number, nZ: number, gen: Generator, device: Device) {
    super();
    this.encoder = this.registerModule('encoder', new DfcnAeEncoder(nInput, nZ, gen, device));
    this.decoder = this.registerModule('decoder', new DfcnAeDecoder(nInput, nZ, gen, device));
  }
}

class DfcnAeEncoder extends Module {
  private readonly layers: Linear[];
  private readonly z: Linear;
  constructor(nInput: number, nZ: number, gen: Generator, device: Device) {
    super();
    const o = { generator: gen, device };
    this.layers = [[nInput, 128], [128, 256], [256, 512]].map(([i, j], l) => this.registerModule(`enc_${l + 1}`, new Linear(i, j, o)));
    this.z = this.registerModule('z_layer', new Linear(512, nZ, o));
  }
  forward(x: Tensor): Tensor {
    let h = x;
    for (const l of this.layers) h = leaky(l.forward(h));
    return this.z.forward(h);
  }
}

class DfcnAeDecoder extends Module {
  private readonly layers: Linear[];
  private readonly out: Linear;
  constructor(nInput: number, nZ: number, gen: Generator, device: Device) {
    super();
    const o = { generator: gen, device };
    this.layers = [[nZ, 512], [512, 256], [256, 128]].map(([i, j], l) => this.registerModule(`dec_${l + 1}`, new Linear(i, j, o)));
    this.out = this.registerModule('x_bar_layer', new Linear(128, nInput, o));
  }
  forward(z: Tensor): Tensor {
    let h = z;
    for (const l of this.layers) h = leaky(l.forward(h));
    return this.out.forward(h);
  }
}

/** One IGAE layer (§1.3): Â · act(H W), activation before propagation, no bias, Xavier-uniform W. */
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

/** The graph branch (§1.3): encoder n → 128 → 256 → 20 (layers 1–2 active), decoder 20 → 256 → 128 → n (all active). */
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
  readonly ae: DfcnAe;
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
    this.ae = this.registerModule('ae', new DfcnAe(this.nInput, this.nZ, gen, device));
    this.gae = this.registerModule('gae', new Igae(this.nInput, this.nZ, options.igaeActivation ?? 'tanh', options.igaeLayout ?? 'in-out', gen, device));
    this.clusterLayer = this.registerParameter('cluster_layer', xavierNormal(gen, [this.nClusters, this.nZ], this.nZ, this.nClusters, 1, device));
    this.gamma = this.registerParameter('gamma', ops.zeros([1], { device }));
    this.alpha = options.learnableAlpha ? this.registerParameter('alpha', ops.full([1], 0.5, { device })) : null;
  }

  /** The full forward pass (§1.2–§1.4) on features x (N×n) and the row-normalized Â. */
  forward(x: Tensor, adj: SparseMatrix): DfcnForward {
    const zAe = this.ae.encoder.forward(x);
    const zIgae = this.gae.encoder.forward(x, adj);
    // SAIF step 1: Z_I = α Z_AE + (1 − α) Z_IGAE (α = 0.5 fixed in the code).
    const zI = this.alpha
      ? ops.add(ops.mulScalar(ops.sub(zAe, zIgae), this.alpha), zIgae)
      : ops.axpby(0.5, zAe, 0.5, zIgae);
    const zL = adj.matmul(zI); // step 2: Z_L = Â Z_I
    // Steps 3–5: Z̃ = β softmax(Z_L Z_Lᵀ) Z_L + Z_L, with the fused, N×N-free self-correlation.
    const zTilde = ops.add(ops.mulScalar(ops.selfCorrelation(zL), this.gamma), zL);
    const xHat = this.ae.decoder.forward(zTilde);
    const zHat = this.gae.decoder.forward(zTilde, adj);
    return { xHat, zHat, zAe, zIgae, zL, zTilde };
  }

  /** Q = Student-t(Z̃, μ), ν = 1 (§1.5). */
  softAssign(zTilde: Tensor): Tensor {
    return ops.studentT(zTilde, this.clusterLayer, 1);
  }

  /**
   * L = L_AE + L_w + γ·L_a (+ λ·L_KL when p is given) (§2). `adjX` is the constant ÂX; p the detached target
   * distribution of Q(Z̃). L_a compares σ(Z_IGAE Z_IGAEᵀ) + σ(ẐẐᵀ) with Â over all N² pairs, tile by tile.
   */
  losses(f: DfcnForward, x: Tensor, adj: SparseMatrix, adjX: Tensor, p: Tensor | null,
         weights: { lambda?: number; gamma?: number } = {}): DfcnLosses {
    const ae = ops.mse(f.xHat, x);
    const igaeW = ops.mse(f.zHat, adjX);
    const igaeA = ops.gramSigmoidMse(adj, f.zIgae, f.zHat);
    let total = ops.add(ops.add(ae, igaeW), ops.scale(igaeA, weights.gamma ?? DFCN_GAMMA));
    let kl: Tensor | null = null;
    if (p) {
      // λ · (KL(P‖Q) + KL(P‖Q1) + KL(P‖Q2)) / 3, the code's geometric-mean form (§2 [DEV]).
      kl = ops.klStudentT([f.zTilde, f.zAe, f.zIgae], this.clusterLayer, p, { weight: weights.lambda ?? DFCN_LAMBDA });
      total = ops.add(total, kl);
    }
    return { total, ae, igaeW, igaeA, kl };
  }
}
